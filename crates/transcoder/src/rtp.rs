//! RTP to frames and back, per codec, with the rtc crate's (de)payloaders: VP8, H.264
//! (single NAL, STAP-A, FU-A), Opus and G.711 (one frame per packet).

use bytes::Bytes;
use rtc::rtp::codec::h264::{H264Packet, H264Payloader};
use rtc::rtp::codec::opus::{OpusPacket, OpusPayloader};
use rtc::rtp::codec::vp8::{Vp8Packet, Vp8Payloader};
use rtc::rtp::packetizer::{Depacketizer, Payloader};
use rtc::shared::marshal::{Marshal, Unmarshal};

/// Payload size kept under a 1200-byte MTU with SRTP and headers.
const MAX_PAYLOAD: usize = 1100;

/// Codec names (SDP mime types), as buffers carry them.
pub mod names {
    /// Opus.
    pub const OPUS: &str = "audio/opus";
    /// G.711 µ-law.
    pub const PCMU: &str = "audio/PCMU";
    /// G.711 A-law.
    pub const PCMA: &str = "audio/PCMA";
    /// VP8.
    pub const VP8: &str = "video/VP8";
    /// H.264.
    pub const H264: &str = "video/H264";
}

/// A whole encoded frame out of its RTP packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The encoded bytes (VP8 frame, H.264 Annex B, Opus packet, G.711 samples).
    pub data: Vec<u8>,
    /// RTP timestamp of the frame.
    pub timestamp: u32,
}

/// What came of a packet given to the assembler.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled {
    /// The packet completed a frame.
    Frame(Frame),
    /// More packets are needed.
    Pending,
    /// A packet of the frame was lost or malformed: the frame was dropped; a decoder
    /// needs a keyframe to resume.
    Broken,
}

/// Reassembles frames from RTP packets of one stream.
pub struct FrameAssembler {
    depacketizer: Box<dyn Depacketizer + Send>,
    per_packet: bool,
    /// H.264: STAP-A payloads are checked before the depacketizer sees them.
    h264: bool,
    timestamp: Option<u32>,
    next_seq: Option<u16>,
    data: Vec<u8>,
    broken: bool,
}

impl FrameAssembler {
    /// An assembler for `codec`; `None` for codecs we do not carry.
    pub fn new(codec: &str) -> Option<FrameAssembler> {
        let (depacketizer, per_packet): (Box<dyn Depacketizer + Send>, bool) = match codec {
            names::VP8 => (Box::<Vp8Packet>::default(), false),
            names::H264 => (Box::<H264Packet>::default(), false),
            names::OPUS => (Box::new(OpusPacket), true),
            names::PCMU | names::PCMA => (Box::new(OpusPacket), true),
            _ => return None,
        };
        Some(FrameAssembler {
            depacketizer,
            per_packet,
            h264: codec == names::H264,
            timestamp: None,
            next_seq: None,
            data: Vec::new(),
            broken: false,
        })
    }

    /// Takes one RTP packet (serialized).
    pub fn push(&mut self, rtp: &[u8]) -> Assembled {
        let Ok(packet) = rtc::rtp::packet::Packet::unmarshal(&mut &rtp[..]) else {
            return Assembled::Broken;
        };
        let h = &packet.header;
        let lost = self.next_seq.is_some_and(|s| s != h.sequence_number);
        self.next_seq = Some(h.sequence_number.wrapping_add(1));
        if self.timestamp != Some(h.timestamp) {
            // A new frame starts; what was pending without its marker is incomplete, and
            // this one is too unless this packet is its first: the stream's first packet
            // may be mid-frame (joined late, or a recording started), or the new
            // frame's first packet was the one lost.
            let incomplete = !self.data.is_empty();
            self.timestamp = Some(h.timestamp);
            self.data.clear();
            self.broken = incomplete || !self.starts_frame(&packet.payload);
        } else if lost {
            self.broken = true;
        }
        if self.h264 && !stap_a_well_formed(&packet.payload) {
            self.broken = true;
            return Assembled::Broken;
        }
        match self.depacketizer.depacketize(&packet.payload) {
            Ok(part) => self.data.extend_from_slice(&part),
            Err(_) => self.broken = true,
        }
        if !(self.per_packet || h.marker) {
            return Assembled::Pending;
        }
        let data = std::mem::take(&mut self.data);
        if std::mem::take(&mut self.broken) || data.is_empty() {
            return Assembled::Broken;
        }
        Assembled::Frame(Frame {
            data,
            timestamp: h.timestamp,
        })
    }
}

impl FrameAssembler {
    /// Whether `payload` is the first packet of a frame: VP8 the start of partition 0
    /// (RFC 7741 §4.2: S set, PID 0), H.264 anything but an FU continuation, audio
    /// always (one frame per packet).
    fn starts_frame(&self, payload: &Bytes) -> bool {
        if self.per_packet {
            return true;
        }
        if self.h264 {
            return self.depacketizer.is_partition_head(payload);
        }
        payload
            .first()
            .is_some_and(|&b| b & 0x10 != 0 && b & 0x0f == 0)
    }
}

/// False for a STAP-A (RFC 6184 §5.7.1) whose aggregation units do not tile the payload.
/// rtc-rtp 0.21's H.264 depacketizer reads the next unit's 2-byte size without checking
/// that both bytes are there, and panics on a single trailing byte (found by the
/// `depacketize` fuzz target); a peer must not be able to reach that.
fn stap_a_well_formed(payload: &[u8]) -> bool {
    if payload.first().is_none_or(|b| b & 0x1f != 24) {
        return true;
    }
    let mut i = 1;
    while i < payload.len() {
        let Some(size) = payload.get(i..i + 2) else {
            return false;
        };
        i += 2 + usize::from(u16::from_be_bytes([size[0], size[1]]));
        if i > payload.len() {
            return false;
        }
    }
    true
}

/// Splits frames into RTP packets of one outgoing stream (its own SSRC and sequence;
/// the receiving endpoint rewrites SSRC and payload type anyway).
pub struct RtpPacketizer {
    payloader: Box<dyn Payloader>,
    ssrc: u32,
    seq: u16,
    payload_type: u8,
}

impl RtpPacketizer {
    /// A packetizer for `codec`; `None` for codecs we do not carry.
    pub fn new(codec: &str, ssrc: u32) -> Option<RtpPacketizer> {
        let (payloader, payload_type): (Box<dyn Payloader>, u8) = match codec {
            names::VP8 => (Box::<Vp8Payloader>::default(), 96),
            names::H264 => (Box::<H264Payloader>::default(), 102),
            names::OPUS => (Box::new(OpusPayloader), 111),
            names::PCMU => (Box::new(OpusPayloader), 0),
            names::PCMA => (Box::new(OpusPayloader), 8),
            _ => return None,
        };
        Some(RtpPacketizer {
            payloader,
            ssrc,
            seq: 0,
            payload_type,
        })
    }

    /// The RTP packets of one frame; the last carries the marker bit.
    pub fn packetize(&mut self, frame: &[u8], timestamp: u32) -> Vec<Vec<u8>> {
        let payloads = self
            .payloader
            .payload(MAX_PAYLOAD, &Bytes::copy_from_slice(frame))
            .unwrap_or_default();
        let count = payloads.len();
        payloads
            .into_iter()
            .enumerate()
            .filter_map(|(i, payload)| {
                let packet = rtc::rtp::packet::Packet {
                    header: rtc::rtp::header::Header {
                        version: 2,
                        marker: i + 1 == count,
                        payload_type: self.payload_type,
                        sequence_number: self.seq,
                        timestamp,
                        ssrc: self.ssrc,
                        ..Default::default()
                    },
                    payload,
                };
                self.seq = self.seq.wrapping_add(1);
                packet.marshal().ok().map(|b| b.to_vec())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{I420Frame, Vp8Decoder, Vp8Encoder};

    #[test]
    fn vp8_frames_survive_packetization_and_a_loss_breaks_the_frame() {
        let mut enc = Vp8Encoder::new(320, 240, 2000).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let mut packetizer = RtpPacketizer::new(names::VP8, 7).unwrap();
        let mut assembler = FrameAssembler::new(names::VP8).unwrap();
        let mut noise = I420Frame::filled(320, 240, 0, 128);
        let mut x = 1u32;
        for b in noise.data.iter_mut() {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (x >> 24) as u8;
        }
        let encoded = enc.encode(&noise, true).unwrap().remove(0);
        let packets = packetizer.packetize(&encoded.data, 3000);
        assert!(packets.len() > 1, "a big keyframe spans packets");
        let mut frames = Vec::new();
        for p in &packets {
            if let Assembled::Frame(f) = assembler.push(p) {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data, encoded.data);
        assert!(dec.decode(&frames[0].data).unwrap().is_some());
        // The same frame again with a packet missing: dropped, reported broken.
        let packets = packetizer.packetize(&encoded.data, 6000);
        let mut results: Vec<_> = packets
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, p)| assembler.push(p))
            .collect();
        assert_eq!(results.pop(), Some(Assembled::Broken));
        // Its first packet missing — the stream's first packet mid-frame (a recording
        // that starts while frames flow), or lost between frames: broken, not a frame
        // without its header (a recorder took one for a keyframe by its first byte).
        for ts in [9000, 12000] {
            let packets = packetizer.packetize(&encoded.data, ts);
            let mut fresh = FrameAssembler::new(names::VP8).unwrap();
            let assembler = if ts == 9000 {
                &mut fresh
            } else {
                &mut assembler
            };
            let mut results: Vec<_> = packets[1..].iter().map(|p| assembler.push(p)).collect();
            assert_eq!(results.pop(), Some(Assembled::Broken), "ts {ts}");
            assert!(results.iter().all(|r| *r == Assembled::Pending));
            // The next whole frame is whole.
            let packets = packetizer.packetize(&encoded.data, ts + 1500);
            let last = packets.iter().map(|p| assembler.push(p)).last();
            assert!(matches!(last, Some(Assembled::Frame(_))), "ts {ts}");
        }
    }

    /// Found by the `depacketize` fuzz target: a STAP-A with one byte after its last
    /// unit made rtc-rtp's depacketizer index past the end and panic.
    #[test]
    fn a_stap_a_with_a_trailing_byte_is_broken_not_a_panic() {
        let mut assembler = FrameAssembler::new(names::H264).unwrap();
        let mut rtp = vec![0x80, 0x80 | 103, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1];
        rtp.extend_from_slice(&[0x78, 0x00, 0x01, 0x65, 0xaa]);
        assert_eq!(assembler.push(&rtp), Assembled::Broken);
        // Well-formed aggregates still pass.
        assert!(stap_a_well_formed(&[
            0x78, 0x00, 0x01, 0x65, 0x00, 0x02, 0x41, 0x9a
        ]));
        assert!(!stap_a_well_formed(&[0x78, 0x00, 0x05, 0x65]));
        assert!(stap_a_well_formed(&[0x65, 0x88]));
    }
}

#[cfg(test)]
mod h264_tests {
    use super::*;
    use crate::{H264Decoder, H264Encoder, I420Frame};

    #[test]
    fn h264_frames_survive_packetization() {
        let mut enc = H264Encoder::new(320, 240, 800).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut packetizer = RtpPacketizer::new(names::H264, 9).unwrap();
        let mut assembler = FrameAssembler::new(names::H264).unwrap();
        let mut pictures = 0;
        for n in 0..10u32 {
            let mut f = I420Frame::filled(320, 240, 0, 128);
            for (i, b) in f.data[..320 * 240].iter_mut().enumerate() {
                *b = ((i as u32 + n * 5) % 256) as u8;
            }
            for e in enc.encode(&f, n == 0).unwrap() {
                for p in packetizer.packetize(&e.data, n * 3000) {
                    match assembler.push(&p) {
                        Assembled::Frame(frame) => {
                            if dec.decode(&frame.data).unwrap().is_some() {
                                pictures += 1;
                            }
                        }
                        Assembled::Pending => {}
                        Assembled::Broken => panic!("frame {n} broken"),
                    }
                }
            }
        }
        assert!(pictures >= 9, "{pictures}");
    }
}
