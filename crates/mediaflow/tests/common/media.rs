//! Real media for the tests: VP8 (or H.264) pictures and an Opus tone, encoded here and
//! packetized as a sender would, each picture stamped with its number.

use std::time::{Duration, Instant};

use mediaflow::{AppSource, Buffer, MediaPipeline, MediaProfile, MediaType, RecorderEndpoint};
use mediaflow_transcoder::rtp::{names, RtpPacketizer};
use mediaflow_transcoder::{H264Encoder, I420Frame, OpusEncoder, Vp8Encoder, OPUS_FRAME};

/// An AppSource connected to a RecorderEndpoint of `profile` writing `path`, in
/// `pipeline`; not recording yet.
pub fn into_recorder(
    pipeline: &MediaPipeline,
    path: &std::path::Path,
    profile: MediaProfile,
) -> (AppSource, RecorderEndpoint) {
    let source = AppSource::new(pipeline).unwrap();
    let recorder = RecorderEndpoint::builder(pipeline, &format!("file://{}", path.display()))
        .media_profile(profile)
        .build()
        .unwrap();
    source.connect(&recorder).unwrap();
    (source, recorder)
}

/// Digits (base 16) of the picture number, each a flat 16x16 luma block in the top
/// left corner: flat blocks survive lossy coding within a few levels.
const DIGITS: u32 = 3;

/// Writes `n` into the picture's top-left blocks.
pub fn stamp(picture: &mut I420Frame, n: u32) {
    let width = picture.width as usize;
    for d in 0..DIGITS {
        let value = ((n >> (4 * (DIGITS - 1 - d))) & 15) as u8 * 16 + 8;
        for y in 0..16 {
            for x in 0..16 {
                picture.data[y * width + d as usize * 16 + x] = value;
            }
        }
    }
}

/// The number a decoded picture was stamped with.
pub fn read_stamp(picture: &I420Frame) -> u32 {
    let width = picture.width as usize;
    (0..DIGITS).fold(0, |n, d| {
        let luma = picture.data[8 * width + d as usize * 16 + 8];
        (n << 4) | u32::from(luma / 16)
    })
}

/// Encodes a moving picture and a tone, and packetizes them as a sender would.
pub struct Media {
    vp8: Option<Vp8Encoder>,
    h264: Option<H264Encoder>,
    video: RtpPacketizer,
    opus: OpusEncoder,
    audio: RtpPacketizer,
    video_codec: &'static str,
    frames: u32,
    audio_frames: u32,
    /// Keyframe requests seen at the source so far: a new one makes the next frame a
    /// keyframe, as a browser answers a PLI.
    requests: u64,
    force_key: bool,
}

impl Media {
    pub fn new(h264: bool) -> Media {
        let video_codec = if h264 { names::H264 } else { names::VP8 };
        Media {
            vp8: (!h264).then(|| Vp8Encoder::new(320, 240, 500).unwrap()),
            h264: h264.then(|| H264Encoder::new(320, 240, 500).unwrap()),
            video: RtpPacketizer::new(video_codec, 0x1234).unwrap(),
            opus: OpusEncoder::new(2).unwrap(),
            audio: RtpPacketizer::new(names::OPUS, 0x5678).unwrap(),
            video_codec,
            frames: 0,
            audio_frames: 0,
            requests: 0,
            force_key: false,
        }
    }

    pub fn video_packets(&mut self) -> Vec<Buffer> {
        let n = self.frames;
        self.frames += 1;
        let mut picture = I420Frame::filled(320, 240, 0, 128);
        for (i, b) in picture.data[..320 * 240].iter_mut().enumerate() {
            *b = ((i as u32 % 320 + n * 4) % 256) as u8;
        }
        stamp(&mut picture, n);
        let key = n.is_multiple_of(60) || std::mem::take(&mut self.force_key);
        let encoded = match (&mut self.vp8, &mut self.h264) {
            (Some(e), _) => e.encode(&picture, key).unwrap(),
            (_, Some(e)) => e.encode(&picture, key).unwrap(),
            _ => unreachable!(),
        };
        let mut out = Vec::new();
        for e in encoded {
            for p in self
                .video
                .packetize(&e.data, n.wrapping_mul(3000).wrapping_add(77))
            {
                let mut b = Buffer::new(MediaType::Video, p);
                b.codec = Some(self.video_codec);
                b.keyframe = e.keyframe;
                out.push(b);
            }
        }
        out
    }

    pub fn audio_packets(&mut self) -> Vec<Buffer> {
        let n = self.audio_frames;
        self.audio_frames += 1;
        let samples: Vec<i16> = (0..OPUS_FRAME * 2)
            .map(|i| {
                let t = (n as usize * OPUS_FRAME + i / 2) as f32 / 48_000.0;
                ((t * 440.0 * std::f32::consts::TAU).sin() * 8000.0) as i16
            })
            .collect();
        let frame = self.opus.encode(&samples).unwrap();
        self.audio
            .packetize(&frame, n.wrapping_mul(960).wrapping_add(999))
            .into_iter()
            .map(|p| {
                let mut b = Buffer::new(MediaType::Audio, p);
                b.codec = Some(names::OPUS);
                b
            })
            .collect()
    }

    /// Pushes `duration` of audio (every 20 ms) and video (every 33 ms) in real time.
    pub fn play(&mut self, source: &AppSource, duration: Duration) {
        let start = Instant::now();
        let (mut audio_at, mut video_at) = (Duration::ZERO, Duration::ZERO);
        while start.elapsed() < duration {
            let requests = source.keyframe_requests();
            if requests > self.requests {
                self.requests = requests;
                self.force_key = true;
            }
            if start.elapsed() >= audio_at {
                for b in self.audio_packets() {
                    source.push(b).unwrap();
                }
                audio_at += Duration::from_millis(20);
            }
            if start.elapsed() >= video_at {
                for b in self.video_packets() {
                    source.push(b).unwrap();
                }
                video_at += Duration::from_micros(33_333);
            }
            let next = audio_at.min(video_at);
            if let Some(wait) = next.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
}
