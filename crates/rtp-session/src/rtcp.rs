//! RTCP compounds: parsed into what the session acts on, and serialised, with rtc-rtcp's
//! packet types. The compound is walked here (each sub-packet's header and length
//! validated) and only the types the session uses are decoded; the rest are skipped.

use bytes::Bytes;
use rtc::rtcp::goodbye::Goodbye;
use rtc::rtcp::packet::Packet;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::shared::marshal::Unmarshal;

/// Most sub-packets read from one compound.
pub(crate) const MAX_PACKETS: usize = 64;
/// Most NACK pairs kept from one NACK packet (each names up to 17 sequence numbers).
pub(crate) const MAX_NACK_PAIRS: usize = 64;
/// Most SSRCs kept from one FIR or REMB.
pub(crate) const MAX_SSRCS: usize = 16;

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_BYE: u8 = 203;
const PT_RTPFB: u8 = 205;
const PT_PSFB: u8 = 206;

/// One RTCP sub-packet the session acts on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Feedback {
    SenderReport {
        ssrc: u32,
        ntp_time: u64,
        rtp_time: u32,
        reports: Vec<ReceptionReport>,
    },
    ReceiverReport {
        ssrc: u32,
        reports: Vec<ReceptionReport>,
    },
    Nack(TransportLayerNack),
    Pli {
        media_ssrc: u32,
    },
    Fir {
        media_ssrcs: Vec<u32>,
    },
    Remb {
        bitrate: u64,
        ssrcs: Vec<u32>,
    },
    Bye {
        ssrcs: Vec<u32>,
    },
}

/// Why an RTCP compound could not be (fully) read or written.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub(crate) enum RtcpError {
    #[error("RTCP packet truncated at offset {offset}")]
    Truncated { offset: usize },
    #[error("RTCP packet at offset {offset} is not version 2")]
    BadVersion { offset: usize },
    #[error("RTCP compound has more than {MAX_PACKETS} packets; the rest were ignored")]
    TooManyPackets,
    #[error("malformed RTCP packet (type {packet_type}, format {format}): {reason}")]
    Malformed {
        packet_type: u8,
        format: u8,
        reason: String,
    },
    #[error("nothing to serialise")]
    Empty,
    #[error("cannot serialise RTCP: {0}")]
    Marshal(String),
}

/// Parses one (decrypted) RTCP compound into `out`, at most [`MAX_PACKETS`] entries.
/// Unknown packet types (SDES, XR, TWCC, APP...) are skipped. A framing error (bad
/// version, a length past the end) stops the walk: what came before it is kept in
/// `out` and the error returned. A known type that does not decode is skipped and the
/// walk goes on; the first such error is returned at the end.
pub(crate) fn parse_rtcp(plain: &[u8], out: &mut Vec<Feedback>) -> Result<(), RtcpError> {
    if plain.len() < 4 {
        return Err(RtcpError::Truncated { offset: 0 });
    }
    let mut offset = 0;
    let mut packets = 0;
    let mut first_error = None;
    while offset < plain.len() {
        if packets == MAX_PACKETS {
            return Err(RtcpError::TooManyPackets);
        }
        let Some(head) = plain.get(offset..offset + 4) else {
            return Err(RtcpError::Truncated { offset });
        };
        if head[0] >> 6 != 2 {
            return Err(RtcpError::BadVersion { offset });
        }
        let len = 4 + 4 * usize::from(u16::from_be_bytes([head[2], head[3]]));
        let Some(packet) = plain.get(offset..offset + len) else {
            return Err(RtcpError::Truncated { offset });
        };
        offset += len;
        packets += 1;
        match decode(packet) {
            Ok(Some(feedback)) => out.push(feedback),
            Ok(None) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Padding octets at the end of `packet` (its P bit and last octet), validated.
fn padding(packet: &[u8]) -> Result<usize, String> {
    if packet[0] & 0x20 == 0 {
        return Ok(0);
    }
    let pad = usize::from(packet[packet.len() - 1]);
    if pad == 0 || pad > packet.len() - 4 {
        return Err(format!("bad padding length {pad}"));
    }
    Ok(pad)
}

/// Decodes one sub-packet (exactly its bytes: header length already checked).
fn decode(packet: &[u8]) -> Result<Option<Feedback>, RtcpError> {
    let packet_type = packet[1];
    let format = packet[0] & 0x1f;
    let malformed = |reason: String| RtcpError::Malformed {
        packet_type,
        format,
        reason,
    };
    let pad = padding(packet).map_err(malformed)?;
    let mut buf = packet;
    let feedback = match (packet_type, format) {
        (PT_SR, _) => {
            let sr = SenderReport::unmarshal(&mut buf).map_err(|e| malformed(e.to_string()))?;
            Feedback::SenderReport {
                ssrc: sr.ssrc,
                ntp_time: sr.ntp_time,
                rtp_time: sr.rtp_time,
                reports: sr.reports,
            }
        }
        (PT_RR, _) => {
            let rr = ReceiverReport::unmarshal(&mut buf).map_err(|e| malformed(e.to_string()))?;
            Feedback::ReceiverReport {
                ssrc: rr.ssrc,
                reports: rr.reports,
            }
        }
        (PT_BYE, _) => {
            let bye = Goodbye::unmarshal(&mut buf).map_err(|e| malformed(e.to_string()))?;
            Feedback::Bye { ssrcs: bye.sources }
        }
        (PT_RTPFB, 1) => {
            let mut nack =
                TransportLayerNack::unmarshal(&mut buf).map_err(|e| malformed(e.to_string()))?;
            // Padding words would read as pairs.
            let pairs = nack.nacks.len().saturating_sub(pad / 4);
            nack.nacks.truncate(pairs.min(MAX_NACK_PAIRS));
            if nack.nacks.is_empty() {
                return Ok(None);
            }
            Feedback::Nack(nack)
        }
        (PT_PSFB, 1) => {
            let pli =
                PictureLossIndication::unmarshal(&mut buf).map_err(|e| malformed(e.to_string()))?;
            Feedback::Pli {
                media_ssrc: pli.media_ssrc,
            }
        }
        (PT_PSFB, 4) => {
            // rtc-rtcp computes the length in 16 bits: keep it from overflowing.
            if packet.len() > 0xffff {
                return Err(malformed("too long".into()));
            }
            let fir =
                FullIntraRequest::unmarshal(&mut buf).map_err(|e| malformed(e.to_string()))?;
            let entries = fir.fir.len().saturating_sub(pad / 8).min(MAX_SSRCS);
            Feedback::Fir {
                media_ssrcs: fir.fir[..entries].iter().map(|e| e.ssrc).collect(),
            }
        }
        (PT_PSFB, 15) => {
            if packet.get(12..16) != Some(b"REMB") {
                return Ok(None); // another application-layer feedback
            }
            let remb = ReceiverEstimatedMaximumBitrate::unmarshal(&mut buf)
                .map_err(|e| malformed(e.to_string()))?;
            let mut ssrcs = remb.ssrcs;
            ssrcs.truncate(MAX_SSRCS);
            Feedback::Remb {
                // Saturating; NaN (not producible from the wire format) would give 0.
                bitrate: remb.bitrate as u64,
                ssrcs,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(feedback))
}

/// Serialises `packets` as one compound (the caller encrypts it), in one allocation.
/// Takes `&dyn Packet` so the caller can mix concrete rtc-rtcp types without boxing.
pub(crate) fn marshal_compound(packets: &[&dyn Packet]) -> Result<Bytes, RtcpError> {
    if packets.is_empty() {
        return Err(RtcpError::Empty);
    }
    let total: usize = packets.iter().map(|p| p.marshal_size()).sum();
    let mut out = vec![0u8; total];
    let mut offset = 0;
    for p in packets {
        let n = p
            .marshal_to(&mut out[offset..])
            .map_err(|e| RtcpError::Marshal(e.to_string()))?;
        offset += n;
    }
    out.truncate(offset);
    Ok(Bytes::from(out))
}
