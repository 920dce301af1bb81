//! RTP statistics of a session, named after the W3C webrtc-stats fields.

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::statistics::report::{RTCStatsReport, RTCStatsReportEntry};

use crate::session::MediaKind;

/// What we receive from the peer on one SSRC (W3C `RTCInboundRtpStreamStats`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InboundRtpStreamStats {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Audio or video; `None` for kinds we do not carry.
    pub kind: Option<MediaKind>,
    /// RTP packets received.
    pub packets_received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Packets lost (expected minus received; may be negative with duplicates).
    pub packets_lost: i64,
    /// Interarrival jitter, in seconds.
    pub jitter: f64,
    /// NACK packets we sent for this stream.
    pub nack_count: u32,
    /// PLI packets we sent for this stream.
    pub pli_count: u32,
    /// FIR packets we sent for this stream.
    pub fir_count: u32,
}

/// What we send to the peer on one SSRC (W3C `RTCOutboundRtpStreamStats`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutboundRtpStreamStats {
    /// Our SSRC.
    pub ssrc: u32,
    /// Audio or video; `None` for kinds we do not carry.
    pub kind: Option<MediaKind>,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Packets sent again in answer to NACKs.
    pub retransmitted_packets_sent: u64,
    /// NACK packets the peer sent us about this stream.
    pub nack_count: u32,
    /// PLI packets the peer sent us about this stream.
    pub pli_count: u32,
    /// FIR packets the peer sent us about this stream.
    pub fir_count: u32,
    /// Latest round-trip time from the peer's receiver reports, in seconds.
    pub round_trip_time: Option<f64>,
    /// Fraction of our packets the peer reports lost (0..1).
    pub fraction_lost: Option<f64>,
}

/// Statistics of a session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionStats {
    /// One entry per SSRC received.
    pub inbound: Vec<InboundRtpStreamStats>,
    /// One entry per SSRC sent.
    pub outbound: Vec<OutboundRtpStreamStats>,
    /// Datagrams refused before the protocol stack (not STUN, DTLS or RTP/RTCP).
    pub datagrams_discarded: u64,
    /// SRTP packets that yielded no media: bad authentication tag, replayed, of an
    /// unknown stream, or padding-only (a browser's bandwidth probes).
    pub srtp_packets_discarded: u64,
    /// Media handed to the session that could not be sent (not connected yet, codec not
    /// negotiated with the peer).
    pub media_not_sent: u64,
    /// The SRTP profile DTLS negotiated (`SRTP_AEAD_AES_128_GCM`,
    /// `SRTP_AES128_CM_HMAC_SHA1_80`).
    pub srtp_cipher: Option<String>,
    /// The peer's latest REMB: how many bits per second it can take from us.
    pub remote_estimated_bitrate: Option<u32>,
    /// Datagrams sent through the TURN relay.
    pub turn_datagrams_sent: u64,
    /// Datagrams received through the TURN relay.
    pub turn_datagrams_received: u64,
}

fn kind(k: RtpCodecKind) -> Option<MediaKind> {
    match k {
        RtpCodecKind::Audio => Some(MediaKind::Audio),
        RtpCodecKind::Video => Some(MediaKind::Video),
        _ => None,
    }
}

/// The clock rate of a stream's codec, from the report (or the usual one of its kind).
fn clock_rate(report: &RTCStatsReport, codec_id: &str, k: RtpCodecKind) -> f64 {
    let rate = match report.get(codec_id) {
        Some(RTCStatsReportEntry::Codec(c)) if c.clock_rate > 0 => c.clock_rate,
        _ if k == RtpCodecKind::Audio => 48_000,
        _ => 90_000,
    };
    f64::from(rate)
}

pub(crate) fn from_report(
    report: &RTCStatsReport,
) -> (Vec<InboundRtpStreamStats>, Vec<OutboundRtpStreamStats>) {
    let inbound = report
        .inbound_rtp_streams()
        .map(|s| {
            let r = &s.received_rtp_stream_stats;
            InboundRtpStreamStats {
                ssrc: r.rtp_stream_stats.ssrc,
                kind: kind(r.rtp_stream_stats.kind),
                packets_received: r.packets_received,
                bytes_received: s.bytes_received,
                packets_lost: r.packets_lost,
                // The stack reports RFC 3550 jitter in timestamp units; W3C wants seconds.
                jitter: r.jitter
                    / clock_rate(
                        report,
                        &r.rtp_stream_stats.codec_id,
                        r.rtp_stream_stats.kind,
                    ),
                nack_count: s.nack_count,
                pli_count: s.pli_count,
                fir_count: s.fir_count,
            }
        })
        .collect();
    let outbound = report
        .outbound_rtp_streams()
        .map(|s| {
            let sent = &s.sent_rtp_stream_stats;
            let id = &sent.rtp_stream_stats.stats.id;
            let remote = report.iter().find_map(|e| match e {
                RTCStatsReportEntry::RemoteInboundRtp(r) if &r.local_id == id => Some(r),
                _ => None,
            });
            OutboundRtpStreamStats {
                ssrc: sent.rtp_stream_stats.ssrc,
                kind: kind(sent.rtp_stream_stats.kind),
                packets_sent: sent.packets_sent,
                bytes_sent: sent.bytes_sent,
                retransmitted_packets_sent: s.retransmitted_packets_sent,
                nack_count: s.nack_count,
                pli_count: s.pli_count,
                fir_count: s.fir_count,
                round_trip_time: remote
                    .filter(|r| r.round_trip_time_measurements > 0)
                    .map(|r| r.round_trip_time),
                fraction_lost: remote.map(|r| r.fraction_lost),
            }
        })
        .collect();
    (inbound, outbound)
}
