//! mediaflow's WebRTC session: the protocol side of a WebRtcEndpoint.
//!
//! [`WebRtcSession`] negotiates SDP (offer/answer, BUNDLE, rtcp-mux; Opus, PCMU, PCMA,
//! VP8, H.264), runs ICE, DTLS-SRTP and RTP/RTCP, and reports Kurento's events
//! (IceComponentStateChanged, NewCandidatePairSelected, MediaStateChanged...). It is
//! sans-IO: it owns no socket, thread or clock. The caller feeds datagrams and time and
//! drains datagrams, events and media.
//!
//! The protocol work is done by webrtc-rs's sans-IO `RTCPeerConnection` (the `rtc`
//! crate, composed of rtc-ice, rtc-dtls, rtc-srtp, rtc-rtp, rtc-rtcp, rtc-sdp and
//! rtc-interceptor); this crate maps it to Kurento's model.
#![deny(missing_docs)]

mod feedback;
mod gather;
mod remb;
mod rewrite;
mod session;
mod stats;
mod turn;
mod types;

pub use remb::RembConfig;
pub use rewrite::Rewriter;
pub use session::{
    Direction, Discards, MediaKind, MediaPacket, SessionConfig, SessionError, SessionEvent,
    SrtpProfile, Transmit, WebRtcSession,
};
pub use stats::{InboundRtpStreamStats, OutboundRtpStreamStats, SessionStats};
pub use turn::TurnServer;
pub use types::{
    codec, ConnectionState, DtlsConnectionState, IceCandidate, IceCandidatePair, IceComponentState,
    MediaState,
};
