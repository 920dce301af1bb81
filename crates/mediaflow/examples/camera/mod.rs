//! A test-pattern camera the examples share: VP8 frames, packetized as RTP, pushed into
//! an AppSource, with a keyframe whenever downstream asked for one (as a real encoder
//! behind a WebRtcEndpoint would).

use mediaflow::{AppSource, Buffer, MediaType};
use mediaflow_transcoder::rtp::{names, RtpPacketizer};
use mediaflow_transcoder::{I420Frame, Vp8Encoder};

/// The examples' error type.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// 30 frames per second at 90 kHz.
pub const FRAME_TICKS: u32 = 3000;

/// Encodes a moving gradient and pushes it into an AppSource.
pub struct Camera {
    encoder: Vp8Encoder,
    packetizer: RtpPacketizer,
    width: u32,
    height: u32,
    frames: u32,
    requests_seen: u64,
}

impl Camera {
    /// A camera of `width` x `height` at 500 kbps.
    pub fn new(width: u32, height: u32) -> Result<Camera> {
        Ok(Camera {
            encoder: Vp8Encoder::new(width, height, 500)?,
            packetizer: RtpPacketizer::new(names::VP8, 0x00ca_3e2a).ok_or("no VP8 packetizer")?,
            width,
            height,
            frames: 0,
            requests_seen: 0,
        })
    }

    /// Encodes the next picture and pushes its packets into `source`.
    pub fn push_frame(&mut self, source: &AppSource) -> Result<()> {
        let requests = source.keyframe_requests();
        let keyframe = self.frames == 0 || requests > self.requests_seen;
        self.requests_seen = requests;
        let (w, h, n) = (self.width, self.height, self.frames);
        let mut picture = I420Frame::filled(w, h, 0, 128);
        for (i, y) in picture.data[..(w * h) as usize].iter_mut().enumerate() {
            let i = i as u32;
            *y = ((i % w + i / w + n * 3) % 256) as u8;
        }
        self.frames += 1;
        for frame in self.encoder.encode(&picture, keyframe)? {
            for packet in self.packetizer.packetize(&frame.data, n * FRAME_TICKS) {
                let mut buffer = Buffer::new(MediaType::Video, packet);
                buffer.codec = Some("video/VP8");
                buffer.keyframe = frame.keyframe;
                source.push(buffer)?;
            }
        }
        Ok(())
    }
}
