//! Kurento's WebRTC vocabulary: candidates, ICE component states, connection states.

use std::fmt;

/// An ICE candidate as signaled (Kurento's `IceCandidate`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IceCandidate {
    /// The SDP attribute value, starting with `candidate:`.
    pub candidate: String,
    /// The media stream identification of the m-line it belongs to.
    pub sdp_mid: String,
    /// The index of that m-line.
    pub sdp_m_line_index: u32,
}

/// State of an ICE component (libnice's NiceComponentState, as Kurento reports it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IceComponentState {
    /// No activity scheduled.
    Disconnected,
    /// Gathering local candidates.
    Gathering,
    /// Establishing connectivity.
    Connecting,
    /// At least one working candidate pair.
    Connected,
    /// ICE concluded, candidate pair selection is now final.
    Ready,
    /// Connectivity checks have been completed, but connectivity was not established.
    Failed,
}

impl IceComponentState {
    /// Kurento's spelling: `DISCONNECTED`, `GATHERING`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            IceComponentState::Disconnected => "DISCONNECTED",
            IceComponentState::Gathering => "GATHERING",
            IceComponentState::Connecting => "CONNECTING",
            IceComponentState::Connected => "CONNECTED",
            IceComponentState::Ready => "READY",
            IceComponentState::Failed => "FAILED",
        }
    }
}

impl fmt::Display for IceComponentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The candidate pair ICE selected (Kurento's `IceCandidatePair`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IceCandidatePair {
    /// The ICE stream (1: every m-line is bundled on one transport).
    pub stream_id: String,
    /// The component (1: RTP and RTCP are multiplexed).
    pub component_id: u32,
    /// The local candidate, as an SDP `candidate:` line.
    pub local_candidate: String,
    /// The remote candidate, as an SDP `candidate:` line.
    pub remote_candidate: String,
}

/// State of the RTP connection (Kurento's `ConnectionState`): the transport is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Not (or no longer) connected.
    Disconnected,
    /// ICE and DTLS are established.
    Connected,
}

/// Liveness of the RTP session (Kurento's `MediaState`): RTCP is being exchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaState {
    /// No RTCP for the media timeout (or never).
    Disconnected,
    /// RTCP sender or receiver reports arrive.
    Connected,
}

/// State of the DTLS transport (Kurento's `DtlsConnectionState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DtlsConnectionState {
    /// Not started.
    New,
    /// Handshaking.
    Connecting,
    /// Keys exchanged; SRTP is running.
    Connected,
    /// Closed by either side.
    Closed,
    /// The handshake or the fingerprint check failed.
    Failed,
}

/// Codecs mediaflow negotiates, named by their SDP mime type. Buffers carry one of these
/// so a sink can map it to its own payload type (or know it must transcode).
pub mod codec {
    /// Opus, 48 kHz stereo.
    pub const OPUS: &str = "audio/opus";
    /// G.711 µ-law.
    pub const PCMU: &str = "audio/PCMU";
    /// G.711 A-law.
    pub const PCMA: &str = "audio/PCMA";
    /// VP8.
    pub const VP8: &str = "video/VP8";
    /// H.264 (packetization-mode 1).
    pub const H264: &str = "video/H264";

    /// The canonical static name of `mime`, case-insensitively; `None` for codecs we do
    /// not carry.
    pub fn canonical(mime: &str) -> Option<&'static str> {
        [OPUS, PCMU, PCMA, VP8, H264]
            .into_iter()
            .find(|c| c.eq_ignore_ascii_case(mime))
    }
}
