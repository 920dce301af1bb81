//! A link transcoder for the graph: RTP of one codec in, RTP of another out, with the
//! decode/encode on its own thread so a slow encoder never stalls forwarding. Its input
//! queue is bounded: when it falls behind it drops (and asks for a keyframe to resume).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use mediaflow_graph::{Buffer, LinkTranscoder, MediaType, TranscoderFactory, Wake};

use crate::g711;
use crate::rtp::{names, Assembled, FrameAssembler, RtpPacketizer};
use crate::{
    H264Decoder, H264Encoder, I420Frame, OpusDecoder, OpusEncoder, Vp8Decoder, Vp8Encoder,
    OPUS_FRAME,
};

/// Packets waiting for the transcoder thread before new ones are dropped.
const INPUT_QUEUE: usize = 512;
/// Converted packets waiting for the graph.
const OUTPUT_QUEUE: usize = 1024;
/// Video bitrate of the encoders until the consumer's REMB says otherwise (Kurento's
/// default maxVideoSendBandwidth, 500 kbps).
const VIDEO_KBPS: u32 = 500;

/// Flags shared between the graph side and the thread.
#[derive(Default)]
struct Signals {
    /// The consumer asked for a keyframe: the encoder makes one.
    force_keyframe: AtomicBool,
    /// The decoder needs a keyframe from the source.
    want_keyframe: AtomicBool,
    /// The consumer's bitrate in kbps (0: the default).
    target_kbps: AtomicU32,
    /// Tells the pipeline's runtime there is something to poll.
    wake: OnceLock<Wake>,
}

impl Signals {
    fn wake(&self) {
        if let Some(wake) = self.wake.get() {
            wake();
        }
    }
}

/// The graph side of a transcoder; its thread does the work.
pub struct ThreadedTranscoder {
    from: &'static str,
    to: &'static str,
    input: Option<Sender<Buffer>>,
    output: Receiver<Buffer>,
    errors: Receiver<String>,
    signals: Arc<Signals>,
    thread: Option<JoinHandle<()>>,
}

trait Codec: Send {
    /// One encoded frame in; the encoded frames of the target codec out.
    fn convert(&mut self, frame: &[u8], keyframe: bool) -> Result<Vec<(Vec<u8>, bool)>, String>;
    /// The encoder's target bitrate changed.
    fn set_bitrate(&mut self, _kbps: u32) {}
}

enum VideoDecoder {
    Vp8(Vp8Decoder),
    H264(H264Decoder),
}

/// Boxed: both encoders carry large state.
enum VideoEncoder {
    Vp8(Box<Vp8Encoder>),
    H264(Box<H264Encoder>),
}

struct VideoCodec {
    decoder: VideoDecoder,
    encoder: Option<(u32, u32, VideoEncoder)>,
    target: &'static str,
    kbps: u32,
}

impl Codec for VideoCodec {
    fn set_bitrate(&mut self, kbps: u32) {
        let old = std::mem::replace(&mut self.kbps, kbps);
        match self.encoder.as_mut() {
            Some((_, _, VideoEncoder::Vp8(e))) => {
                let _ = e.set_bitrate(kbps);
            }
            // OpenH264's wrapper has no rate change: a new encoder, when it matters.
            Some((_, _, VideoEncoder::H264(_))) if kbps.abs_diff(old) * 4 > old => {
                self.encoder = None
            }
            _ => {}
        }
    }

    fn convert(&mut self, frame: &[u8], keyframe: bool) -> Result<Vec<(Vec<u8>, bool)>, String> {
        let picture = match &mut self.decoder {
            VideoDecoder::Vp8(d) => d.decode(frame),
            VideoDecoder::H264(d) => d.decode(frame),
        }
        .map_err(|e| e.to_string())?;
        let Some(picture) = picture else {
            return Ok(Vec::new());
        };
        // Resolution follows the source: a new size makes a new encoder.
        let size = (picture.width, picture.height);
        let fresh = self
            .encoder
            .as_ref()
            .is_none_or(|(w, h, _)| (*w, *h) != size);
        if fresh {
            let encoder = match self.target {
                names::VP8 => VideoEncoder::Vp8(Box::new(
                    Vp8Encoder::new(size.0, size.1, self.kbps).map_err(|e| e.to_string())?,
                )),
                _ => VideoEncoder::H264(Box::new(
                    H264Encoder::new(size.0, size.1, self.kbps).map_err(|e| e.to_string())?,
                )),
            };
            self.encoder = Some((size.0, size.1, encoder));
        }
        let Some((_, _, encoder)) = self.encoder.as_mut() else {
            return Ok(Vec::new());
        };
        encode(encoder, &picture, keyframe || fresh)
    }
}

fn encode(
    encoder: &mut VideoEncoder,
    picture: &I420Frame,
    keyframe: bool,
) -> Result<Vec<(Vec<u8>, bool)>, String> {
    let frames = match encoder {
        VideoEncoder::Vp8(e) => e.encode(picture, keyframe),
        VideoEncoder::H264(e) => e.encode(picture, keyframe),
    }
    .map_err(|e| e.to_string())?;
    Ok(frames.into_iter().map(|f| (f.data, f.keyframe)).collect())
}

/// Opus (48 kHz) to and from G.711 (8 kHz), one 20 ms frame at a time.
struct AudioCodec {
    from: &'static str,
    to: &'static str,
    opus_decoder: Option<OpusDecoder>,
    opus_encoder: Option<OpusEncoder>,
    /// 48 kHz mono samples waiting for a full Opus frame.
    pending: Vec<i16>,
}

impl AudioCodec {
    /// The frame as 8 kHz or 48 kHz mono samples, by source codec.
    fn decode(&mut self, frame: &[u8]) -> Result<Vec<i16>, String> {
        match self.from {
            names::PCMU => Ok(g711::ulaw_decode_all(frame)),
            names::PCMA => Ok(g711::alaw_decode_all(frame)),
            _ => {
                let decoder = match &mut self.opus_decoder {
                    Some(d) => d,
                    None => self
                        .opus_decoder
                        .insert(OpusDecoder::new(2).map_err(|e| e.to_string())?),
                };
                let stereo = decoder.decode(frame).map_err(|e| e.to_string())?;
                Ok(stereo
                    .chunks(2)
                    .map(|c| ((i32::from(c[0]) + i32::from(*c.get(1).unwrap_or(&c[0]))) / 2) as i16)
                    .collect())
            }
        }
    }
}

impl Codec for AudioCodec {
    fn convert(&mut self, frame: &[u8], _keyframe: bool) -> Result<Vec<(Vec<u8>, bool)>, String> {
        let samples = self.decode(frame)?;
        match self.to {
            names::PCMU | names::PCMA => {
                // From Opus, 48 kHz to 8 kHz: the mean of each 6 samples (a crude
                // low-pass first); G.711 to G.711 is already at 8 kHz.
                let narrow: Vec<i16> = if self.from == names::OPUS {
                    samples
                        .chunks(6)
                        .map(|c| {
                            (c.iter().map(|&s| i32::from(s)).sum::<i32>() / c.len() as i32) as i16
                        })
                        .collect()
                } else {
                    samples
                };
                let bytes = if self.to == names::PCMU {
                    g711::ulaw_encode_all(&narrow)
                } else {
                    g711::alaw_encode_all(&narrow)
                };
                Ok(vec![(bytes, false)])
            }
            _ => {
                // 8 kHz to 48 kHz: linear interpolation, then whole Opus frames.
                for (i, &s) in samples.iter().enumerate() {
                    let next = *samples.get(i + 1).unwrap_or(&s);
                    for k in 0..6 {
                        self.pending
                            .push((i32::from(s) + (i32::from(next) - i32::from(s)) * k / 6) as i16);
                    }
                }
                let encoder = match &mut self.opus_encoder {
                    Some(e) => e,
                    None => self
                        .opus_encoder
                        .insert(OpusEncoder::new(2).map_err(|e| e.to_string())?),
                };
                let mut out = Vec::new();
                while self.pending.len() >= OPUS_FRAME {
                    let mono: Vec<i16> = self.pending.drain(..OPUS_FRAME).collect();
                    let stereo: Vec<i16> = mono.iter().flat_map(|&s| [s, s]).collect();
                    out.push((encoder.encode(&stereo).map_err(|e| e.to_string())?, false));
                }
                Ok(out)
            }
        }
    }
}

fn codec(media: MediaType, from: &'static str, to: &'static str) -> Option<Box<dyn Codec>> {
    match media {
        MediaType::Video => {
            let decoder = match from {
                names::VP8 => VideoDecoder::Vp8(Vp8Decoder::new().ok()?),
                names::H264 => VideoDecoder::H264(H264Decoder::new().ok()?),
                _ => return None,
            };
            if !matches!(to, names::VP8 | names::H264) {
                return None;
            }
            Some(Box::new(VideoCodec {
                decoder,
                encoder: None,
                target: to,
                kbps: VIDEO_KBPS,
            }))
        }
        MediaType::Audio => {
            let ok = |c| matches!(c, names::OPUS | names::PCMU | names::PCMA);
            (ok(from) && ok(to)).then(|| {
                Box::new(AudioCodec {
                    from,
                    to,
                    opus_decoder: None,
                    opus_encoder: None,
                    pending: Vec::new(),
                }) as Box<dyn Codec>
            })
        }
        MediaType::Data => None,
    }
}

/// RTP clock rate of a codec.
fn clock_rate(codec: &str) -> u32 {
    match codec {
        names::OPUS => 48_000,
        names::PCMU | names::PCMA => 8_000,
        _ => 90_000,
    }
}

impl ThreadedTranscoder {
    /// A transcoder from `from` to `to` for `media`; `None` when not supported.
    pub fn new(
        media: MediaType,
        from: &'static str,
        to: &'static str,
    ) -> Option<ThreadedTranscoder> {
        let mut codec = codec(media, from, to)?;
        let mut assembler = FrameAssembler::new(from)?;
        let mut packetizer = RtpPacketizer::new(to, 0x5eed_0001)?;
        let (input, jobs) = bounded::<Buffer>(INPUT_QUEUE);
        let (results, output) = bounded::<Buffer>(OUTPUT_QUEUE);
        let (error_tx, errors) = bounded::<String>(16);
        let signals = Arc::new(Signals::default());
        // A decoder can only start on a keyframe.
        signals.want_keyframe.store(true, Ordering::Relaxed);
        let thread_signals = signals.clone();
        let (from_rate, to_rate) = (u64::from(clock_rate(from)), u64::from(clock_rate(to)));
        let thread = thread::Builder::new()
            .name("mf-transcoder".into())
            .spawn(move || {
                let mut out_ts: Option<u32> = None;
                let mut last_in: Option<u32> = None;
                let mut kbps = 0;
                for buffer in jobs {
                    let wanted = thread_signals.target_kbps.load(Ordering::Relaxed);
                    if wanted != 0 && wanted != kbps {
                        kbps = wanted;
                        codec.set_bitrate(kbps);
                    }
                    let frame = match assembler.push(&buffer.data) {
                        Assembled::Frame(f) => f,
                        Assembled::Pending => continue,
                        Assembled::Broken => {
                            thread_signals.want_keyframe.store(true, Ordering::Relaxed);
                            thread_signals.wake();
                            continue;
                        }
                    };
                    let keyframe = thread_signals.force_keyframe.swap(false, Ordering::Relaxed);
                    let converted = match codec.convert(&frame.data, keyframe) {
                        Ok(c) => c,
                        Err(e) => {
                            thread_signals.want_keyframe.store(true, Ordering::Relaxed);
                            let _ = error_tx.try_send(format!("cannot decode {from}: {e}"));
                            thread_signals.wake();
                            continue;
                        }
                    };
                    // Timing follows the source, rescaled to the target's clock.
                    let step = last_in.map_or(0, |l| u64::from(frame.timestamp.wrapping_sub(l)));
                    last_in = Some(frame.timestamp);
                    for (i, (data, key)) in converted.into_iter().enumerate() {
                        let advance = if i == 0 {
                            step * to_rate / from_rate
                        } else {
                            960
                        };
                        let ts = out_ts.map_or(0, |t| t.wrapping_add(advance as u32));
                        out_ts = Some(ts);
                        // The source's capture time goes along (a recorder lines
                        // tracks up on it); a frame split in several (audio) is later
                        // by what came before it.
                        let pts = match buffer.pts_micros {
                            0 => 0,
                            pts => pts.saturating_add(i as u64 * 960 * 1_000_000 / to_rate),
                        };
                        for packet in packetizer.packetize(&data, ts) {
                            let mut b = Buffer::new(buffer.media_type, packet);
                            b.codec = Some(to);
                            b.keyframe = key;
                            b.pts_micros = pts;
                            if results.try_send(b).is_err() {
                                break;
                            }
                        }
                    }
                    thread_signals.wake();
                }
            })
            .ok()?;
        Some(ThreadedTranscoder {
            from,
            to,
            input: Some(input),
            output,
            errors,
            signals,
            thread: Some(thread),
        })
    }
}

impl LinkTranscoder for ThreadedTranscoder {
    fn source_codec(&self) -> &'static str {
        self.from
    }

    fn target_codec(&self) -> &'static str {
        self.to
    }

    fn push(&mut self, buffer: Buffer) {
        if let Some(input) = &self.input {
            if let Err(TrySendError::Full(_)) = input.try_send(buffer) {
                // Behind: drop, and resume from a keyframe.
                self.signals.want_keyframe.store(true, Ordering::Relaxed);
            }
        }
    }

    fn poll(&mut self) -> Option<Buffer> {
        self.output.try_recv().ok()
    }

    fn request_keyframe(&mut self) {
        self.signals.force_keyframe.store(true, Ordering::Relaxed);
    }

    fn poll_keyframe_request(&mut self) -> bool {
        self.signals.want_keyframe.swap(false, Ordering::Relaxed)
    }

    fn poll_error(&mut self) -> Option<String> {
        self.errors.try_recv().ok()
    }

    fn set_target_bitrate(&mut self, bps: u32) {
        self.signals
            .target_kbps
            .store((bps / 1000).max(1), Ordering::Relaxed);
    }

    fn set_wake(&mut self, wake: Wake) -> bool {
        // Set once: a later call (there is none in the graph) keeps the first.
        let _ = self.signals.wake.set(wake);
        true
    }
}

impl Drop for ThreadedTranscoder {
    fn drop(&mut self) {
        // Closing the input ends the thread after the frame in hand.
        self.input = None;
        while self.output.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Makes `ThreadedTranscoder`s: VP8 <-> H.264, Opus <-> PCMU/PCMA.
#[derive(Debug, Default)]
pub struct CodecTranscoderFactory;

impl TranscoderFactory for CodecTranscoderFactory {
    fn create(
        &mut self,
        media: MediaType,
        from: &'static str,
        to: &'static str,
    ) -> Option<Box<dyn LinkTranscoder>> {
        ThreadedTranscoder::new(media, from, to).map(|t| Box::new(t) as Box<dyn LinkTranscoder>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcmu_to_pcma_keeps_every_sample() {
        let mut codec = codec(MediaType::Audio, names::PCMU, names::PCMA).unwrap();
        let samples: Vec<i16> = (0..160).map(|i| (i * 100) as i16).collect();
        let out = codec
            .convert(&g711::ulaw_encode_all(&samples), false)
            .unwrap();
        assert_eq!(out.len(), 1);
        let back = g711::alaw_decode_all(&out[0].0);
        assert_eq!(back.len(), 160, "20 ms at 8 kHz stays 160 samples");
        let err = back
            .iter()
            .zip(&samples)
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap();
        assert!(err < 600, "max error {err}");
    }

    #[test]
    fn output_wakes_the_runtime_instead_of_waiting_to_be_polled() {
        let mut t = ThreadedTranscoder::new(MediaType::Audio, names::PCMU, names::PCMA).unwrap();
        let (tx, woken) = crossbeam_channel::unbounded();
        assert!(t.set_wake(Arc::new(move || {
            let _ = tx.send(());
        })));
        let mut rtp = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        rtp.extend(g711::ulaw_encode_all(&[1000; 160]));
        let mut buffer = Buffer::new(MediaType::Audio, rtp);
        buffer.codec = Some(names::PCMU);
        t.push(buffer);
        woken
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("a wake-up once the packet is converted");
        let out = t.poll().expect("the converted packet is there when woken");
        assert_eq!(out.codec, Some(names::PCMA));
    }
}
