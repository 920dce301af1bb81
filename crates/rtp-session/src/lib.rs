//! mediaflow's WebRTC session: the protocol side of a WebRtcEndpoint.
//!
//! [`WebRtcSession`] negotiates SDP (offer/answer, BUNDLE, rtcp-mux; Opus, PCMU, PCMA,
//! VP8, H.264), runs ICE, DTLS-SRTP and RTP/RTCP, and reports Kurento's events
//! (IceComponentStateChanged, NewCandidatePairSelected, MediaStateChanged...). It is
//! sans-IO: it owns no socket, thread or clock. The caller feeds datagrams and time and
//! drains datagrams, events and media.
//!
//! It composes webrtc-rs's sans-IO protocol crates itself (through the `rtc` umbrella:
//! rtc-ice's agent, rtc-dtls's endpoint, rtc-srtp's contexts, rtc-rtcp's packets) with
//! its own SDP offer/answer (`negotiate`) and media streams (`media`, `streams`: SSRC
//! routing, RTX, NACK both ways, reports, REMB), so the per-packet path is ours.
#![deny(missing_docs)]

mod candidates;
mod datachannel;
mod gather;
mod media;
mod negotiate;
mod plain;
mod remb;
mod replay;
mod rewrite;
mod rtcp;
mod session;
mod states;
mod stats;
mod streams;
mod transport;
mod turn;
mod types;

pub use datachannel::{
    DataChannelError, DataChannelInit, DataChannelStats, DataMessage, MAX_BUFFERED_PER_CHANNEL,
    MAX_CHANNELS, MAX_MESSAGE_SIZE,
};
pub use plain::{RtpLocalPorts, RtpSession, RtpSessionConfig};
pub use remb::RembConfig;
pub use rewrite::Rewriter;
pub use session::{
    Direction, Discards, MaxRecvKbps, MediaKind, MediaPacket, OfferOptions, SessionConfig,
    SessionError, SessionEvent, SrtpProfile, Transmit, WebRtcSession, DEFAULT_MAX_PLAYOUT_DELAY,
};
pub use stats::{InboundRtpStreamStats, OutboundRtpStreamStats, SessionStats};
pub use turn::TurnServer;
pub use types::{
    codec, ConnectionState, DtlsConnectionState, IceCandidate, IceCandidatePair, IceComponentState,
    MediaState,
};
