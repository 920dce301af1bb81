//! RTP statistics of a session, named after the W3C webrtc-stats fields.

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
    /// Of `packets_received`, those recovered by retransmission (RTX or the original
    /// SSRC resent).
    pub retransmitted_packets_received: u64,
    /// Packets received again after one with the same number was (webrtc-stats'
    /// former `packetsDuplicated`): resends of what was only late, or a looping network.
    pub packets_duplicated: u64,
    /// Sequence numbers asked for by NACK, retries included.
    pub nacked_packets: u64,
    /// Missing packets no longer asked for (tries exhausted, a second old, or past the
    /// receive window).
    pub packets_given_up: u64,
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
    /// Every datagram refused, by reason (the totals above are sums of these).
    pub discarded: crate::Discards,
}
