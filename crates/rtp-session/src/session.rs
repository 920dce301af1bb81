//! One WebRTC session (the protocol side of a WebRtcEndpoint), sans-IO.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder};
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_PCMA, MIME_TYPE_PCMU, MIME_TYPE_RTX,
    MIME_TYPE_VP8,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::{RTCConfigurationBuilder, RTCIceTransportPolicy};
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::{RTCIceConnectionState, RTCPeerConnectionState};
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, CandidateRelayConfig, CandidateServerReflexiveConfig,
    RTCDtlsRole, RTCIceCandidate, RTCIceCandidateInit, RTCIceServer,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId, RTCRtpTransceiverDirection};
use rtc::sansio::Protocol;
use rtc::shared::marshal::{Marshal, Unmarshal};
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use rtc::statistics::report::RTCStatsReportEntry;
use rtc::statistics::StatsSelector;

use crate::rewrite::Rewriter;
use crate::types::{
    codec, ConnectionState, DtlsConnectionState, IceCandidate, IceCandidatePair, IceComponentState,
    MediaState,
};

/// Kind of media of an m-line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// An audio m-line.
    Audio,
    /// A video m-line.
    Video,
}

impl MediaKind {
    fn rtc(self) -> RtpCodecKind {
        match self {
            MediaKind::Audio => RtpCodecKind::Audio,
            MediaKind::Video => RtpCodecKind::Video,
        }
    }

    fn from_rtc(kind: RtpCodecKind) -> Option<MediaKind> {
        match kind {
            RtpCodecKind::Audio => Some(MediaKind::Audio),
            RtpCodecKind::Video => Some(MediaKind::Video),
            _ => None,
        }
    }
}

/// Which way media may go, from this session's point of view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// Send and receive (the default).
    #[default]
    SendRecv,
    /// Only receive from the peer.
    RecvOnly,
    /// Only send to the peer.
    SendOnly,
}

/// SRTP protection profiles (RFC 5764, RFC 7714).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrtpProfile {
    /// AEAD_AES_128_GCM.
    AeadAes128Gcm,
    /// AES_CM_128_HMAC_SHA1_80.
    AesCm128HmacSha1_80,
}

impl SrtpProfile {
    fn rtc(self) -> rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile {
        use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile as P;
        match self {
            SrtpProfile::AeadAes128Gcm => P::Srtp_Aead_Aes_128_Gcm,
            SrtpProfile::AesCm128HmacSha1_80 => P::Srtp_Aes128_Cm_Hmac_Sha1_80,
        }
    }
}

/// Settings of a session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Which way media may go.
    pub direction: Direction,
    /// MediaState turns Disconnected after this long without RTCP from the peer.
    pub media_timeout: Duration,
    /// The session fails when DTLS is not up this long after ICE connected (a
    /// fingerprint mismatch ends the handshake without a word from the stack).
    pub dtls_timeout: Duration,
    /// STUN server to learn server-reflexive candidates from.
    pub stun_server: Option<SocketAddr>,
    /// TURN server to allocate a relayed candidate on.
    pub turn_server: Option<crate::turn::TurnServer>,
    /// Use relayed candidates only (W3C `iceTransportPolicy: "relay"`).
    pub relay_only: bool,
    /// Bounds of the REMB estimate sent for received video.
    pub remb: crate::remb::RembConfig,
    /// SRTP protection profiles offered in DTLS `use_srtp`, preferred first.
    pub srtp_profiles: Vec<SrtpProfile>,
    /// Public addresses of this host (Kurento's `externalIPv4` / `externalIPv6`): each
    /// host socket is also announced at them, as a server-reflexive candidate.
    pub external_addresses: Vec<std::net::IpAddr>,
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            direction: Direction::SendRecv,
            media_timeout: Duration::from_secs(15),
            dtls_timeout: Duration::from_secs(8),
            stun_server: None,
            turn_server: None,
            relay_only: false,
            external_addresses: Vec::new(),
            remb: crate::remb::RembConfig::default(),
            srtp_profiles: vec![SrtpProfile::AeadAes128Gcm, SrtpProfile::AesCm128HmacSha1_80],
        }
    }
}

/// Why a session call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The SDP could not be parsed or applied.
    #[error("invalid SDP: {0}")]
    InvalidSdp(String),
    /// The offer has no codec this engine supports in any m-line.
    #[error("no codec in common with the offer")]
    NoCommonCodec,
    /// The call is not valid in the current negotiation state.
    #[error("wrong negotiation state: {0}")]
    WrongState(String),
    /// The candidate string does not parse.
    #[error("invalid ICE candidate {candidate:?}: {reason}")]
    InvalidCandidate {
        /// What was given.
        candidate: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A packet given to `send_rtp` was not RTP, or its codec is not negotiated.
    #[error("cannot send media: {0}")]
    Media(String),
    /// The protocol stack refused an operation.
    #[error("WebRTC stack error: {0}")]
    Stack(String),
}

/// A datagram to send.
#[derive(Debug)]
pub struct Transmit {
    /// The local address (a socket of ours) to send from.
    pub local: SocketAddr,
    /// Where to.
    pub peer: SocketAddr,
    /// The bytes.
    pub data: BytesMut,
    /// Over the ICE-TCP connection from `peer` to `local` (one RFC 4571 frame), not
    /// UDP.
    pub tcp: bool,
}

/// RTP received from the peer, decrypted.
#[derive(Clone, Debug)]
pub struct MediaPacket {
    /// Audio or video.
    pub kind: MediaKind,
    /// The codec (canonical mime type).
    pub codec: &'static str,
    /// The RTP packet, serialized.
    pub rtp: bytes::Bytes,
    /// True for the first packet of a VP8 keyframe or an H.264 IDR/SPS.
    pub keyframe: bool,
}

/// What a session reports, in Kurento's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// A local candidate was gathered.
    IceCandidateFound(IceCandidate),
    /// Local gathering finished.
    IceGatheringDone,
    /// The ICE component changed state.
    IceComponentStateChanged {
        /// ICE stream (1).
        stream_id: u32,
        /// Component (1).
        component_id: u32,
        /// New state.
        state: IceComponentState,
    },
    /// ICE selected a (new) candidate pair.
    NewCandidatePairSelected(IceCandidatePair),
    /// The transport came up or went down.
    ConnectionStateChanged {
        /// Previous state.
        old: ConnectionState,
        /// New state.
        new: ConnectionState,
    },
    /// RTCP started or stopped flowing.
    MediaStateChanged {
        /// Previous state.
        old: MediaState,
        /// New state.
        new: MediaState,
    },
    /// The DTLS transport changed state.
    DtlsConnectionStateChange(DtlsConnectionState),
    /// The peer asked for a keyframe (PLI or FIR) of what we send it.
    KeyframeRequested(MediaKind),
    /// The session failed for good; the text says why.
    Failed(String),
}

/// Our sending side of one m-line.
struct LocalTrack {
    sender: RTCRtpSenderId,
    track_id: String,
    ssrc: u32,
    rewriter: Rewriter,
}

struct RemoteTrack {
    receiver: RTCRtpReceiverId,
    kind: MediaKind,
}

/// Counters of input the session refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discards {
    /// Datagrams of no protocol of ours (not STUN, DTLS, TURN or RTP/RTCP).
    pub datagrams: u64,
    /// SRTP packets that yielded no media: bad authentication tag, replayed, for a
    /// stream the session does not know, or padding-only (bandwidth probes).
    pub srtp: u64,
    /// Media packets handed to `send_rtp` that could not be sent.
    pub outgoing_media: u64,
}

/// One WebRTC session: SDP negotiation, ICE, DTLS-SRTP and RTP/RTCP over webrtc-rs's
/// sans-IO `RTCPeerConnection`, reporting Kurento's events.
///
/// Feed it datagrams (`handle_datagram`) and time (`handle_timeout`); drain
/// `poll_transmit`, `poll_event` and `poll_media`.
pub struct WebRtcSession {
    pc: RTCPeerConnection,
    config: SessionConfig,
    events: VecDeque<SessionEvent>,
    media: VecDeque<MediaPacket>,
    local_tracks: HashMap<MediaKind, LocalTrack>,
    /// Track id of each of our senders, to tell which kind a peer's PLI is about.
    sender_kinds: HashMap<String, MediaKind>,
    remote_tracks: HashMap<String, RemoteTrack>,
    /// Candidates given before the remote description, applied once it is set.
    pending_remote: Vec<IceCandidate>,
    remote_set: bool,
    local_set: bool,
    /// An offer of ours awaits its answer.
    offer_pending: bool,
    /// The sockets gathering announced, re-announced after an ICE restart.
    gather_sockets: Vec<SocketAddr>,
    /// ICE-TCP listeners, announced as passive TCP candidates.
    tcp_listeners: Vec<SocketAddr>,
    /// Codecs the peer takes from us per kind, preferred first (from its SDP).
    accepted: HashMap<MediaKind, Vec<&'static str>>,
    ice: IceComponentState,
    /// The stack runs connectivity checks (or has remote candidates to check).
    checking: bool,
    /// ICE connected; the selected pair is yet to be read from the stack.
    pair_pending: bool,
    /// ICE selected a pair: the stack's DTLS client may have a flight to send.
    flush_dtls: bool,
    /// A new video track opened: send it a PLI.
    pli_on_new_track: bool,
    /// Where the last datagram the stack accepted came from.
    last_peer: Option<SocketAddr>,
    /// RTP packets the stack handed us so far (decrypted and accepted).
    rtp_surfaced: u64,
    /// When the session was created (REMB timers start from the first drain after it).
    created: Instant,
    /// REMB estimate per received video track.
    remb: HashMap<String, crate::remb::RembEstimator>,
    /// The peer's latest REMB about what we send, in bits per second.
    remote_remb: Option<u32>,
    /// When ICE connected while DTLS was not yet up: the handshake deadline runs.
    ice_connected_at: Option<Instant>,
    /// Binding requests to the STUN server while gathering srflx candidates.
    gatherer: Option<crate::gather::StunGatherer>,
    /// The TURN allocation, once gathering started with a TURN server.
    turn: Option<crate::turn::TurnRelay>,
    gathering_started: bool,
    /// Datagrams of ours (STUN to the server), sent before the stack's.
    own_transmits: VecDeque<Transmit>,
    /// The stack's datagrams taken out ahead of time, sent before what it writes next.
    stack_transmits: VecDeque<TaggedBytesMut>,
    /// (PLI, FIR) the peer sent about what we send, per kind. The stack's statistics
    /// do not count feedback it hands to the application.
    keyframe_requests_received: HashMap<MediaKind, (u32, u32)>,
    gathering_done: bool,
    connection: ConnectionState,
    media_state: MediaState,
    dtls: DtlsConnectionState,
    last_rtcp: Option<Instant>,
    discards: Discards,
    /// Idle pacing of the stack (see `IDLE_TICKS`): when its timers last ran, and how
    /// many runs in a row saw no RTP in or out.
    stack_ticked: Option<Instant>,
    idle_ticks: u32,
    /// RTP received when the last REMB went out.
    rtp_at_last_remb: u64,
}

/// Stack timer runs in a row without RTP after which a connected session counts as idle.
/// The stack's ICE agent ticks every 200 ms whatever its state (rtc-ice's interval only
/// goes down from its 200 ms check interval), which is most of what an idle session
/// costs; idle, the stack runs at most once a second: keepalives (every 2 s), consent
/// and RTCP reports (every 1 s) stay on time, and media wakes it at once.
const IDLE_TICKS: u32 = 5;
const IDLE_STACK_INTERVAL: Duration = Duration::from_secs(1);

fn random_u32() -> u32 {
    let mut h = RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish() as u32
}

fn stack(e: impl std::fmt::Display) -> SessionError {
    SessionError::Stack(e.to_string())
}

/// The codecs mediaflow negotiates, with the payload types Chromium uses.
fn media_engine() -> Result<MediaEngine, SessionError> {
    let mut engine = MediaEngine::default();
    let codec = |mime: &str, clock_rate, channels, fmtp: &str, fb: &[(&str, &str)], pt| {
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: mime.to_owned(),
                clock_rate,
                channels,
                sdp_fmtp_line: fmtp.to_owned(),
                rtcp_feedback: fb
                    .iter()
                    .map(|(typ, parameter)| RTCPFeedback {
                        typ: (*typ).to_owned(),
                        parameter: (*parameter).to_owned(),
                    })
                    .collect(),
            },
            payload_type: pt,
        }
    };
    let audio_fb: &[(&str, &str)] = &[];
    for c in [
        codec(
            MIME_TYPE_OPUS,
            48000,
            2,
            "minptime=10;useinbandfec=1",
            audio_fb,
            111,
        ),
        codec(MIME_TYPE_PCMU, 8000, 0, "", audio_fb, 0),
        codec(MIME_TYPE_PCMA, 8000, 0, "", audio_fb, 8),
    ] {
        engine
            .register_codec(c, RtpCodecKind::Audio)
            .map_err(stack)?;
    }
    let video_fb: &[(&str, &str)] = &[
        ("goog-remb", ""),
        ("ccm", "fir"),
        ("nack", ""),
        ("nack", "pli"),
    ];
    let h264 = |profile: &str| {
        debug_assert!(H264_PROFILES.contains(&profile));
        format!("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={profile}")
    };
    let video = [
        (codec(MIME_TYPE_VP8, 90000, 0, "", video_fb, 96), 97),
        (
            codec(MIME_TYPE_H264, 90000, 0, &h264("42001f"), video_fb, 103),
            104,
        ),
        (
            codec(MIME_TYPE_H264, 90000, 0, &h264("42e01f"), video_fb, 109),
            114,
        ),
        (
            codec(MIME_TYPE_H264, 90000, 0, &h264("4d001f"), video_fb, 115),
            116,
        ),
        (
            codec(MIME_TYPE_H264, 90000, 0, &h264("64001f"), video_fb, 119),
            120,
        ),
    ];
    for (c, rtx_pt) in video {
        let apt = c.payload_type;
        engine
            .register_codec(c, RtpCodecKind::Video)
            .map_err(stack)?;
        let rtx = codec(MIME_TYPE_RTX, 90000, 0, &format!("apt={apt}"), &[], rtx_pt);
        engine
            .register_codec(rtx, RtpCodecKind::Video)
            .map_err(stack)?;
    }
    Ok(engine)
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    }
}

/// Our sending track of `kind`, one encoding with `ssrc` sending `codec`.
fn local_track(kind: MediaKind, track_id: &str, ssrc: u32, codec: RTCRtpCodec) -> MediaStreamTrack {
    MediaStreamTrack::new(
        "mediaflow".to_owned(),
        track_id.to_owned(),
        kind_name(kind).to_owned(),
        kind.rtc(),
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )
}

/// H.264 profiles the media engine registers (profile-level-id, lower case).
const H264_PROFILES: [&str; 4] = ["42001f", "42e01f", "4d001f", "64001f"];

/// Every codec of `sdp`'s m-line of `kind` that we support, in its order, once each.
fn supported_codecs(sdp: &str, kind: MediaKind) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut rest = sdp.to_owned();
    while let Some(codec) = first_supported_codec(&rest, kind) {
        if let Some(name) = codec::canonical(&codec.mime_type) {
            if !out.contains(&name) {
                out.push(name);
            }
        }
        // Drop that codec's payload types and look again.
        let Some(next) = without_codec(&rest, kind, &codec.mime_type) else {
            break;
        };
        rest = next;
    }
    out
}

/// `sdp` with the payload types of `mime` removed from its m-line of `kind`; `None`
/// when nothing was removed.
fn without_codec(sdp: &str, kind: MediaKind, mime: &str) -> Option<String> {
    let name = mime.split('/').nth(1)?;
    let mut in_section = false;
    let mut pts: Vec<String> = Vec::new();
    for l in sdp.lines() {
        if let Some(m) = l.strip_prefix("m=") {
            in_section = m.starts_with(kind_name(kind));
        } else if in_section {
            if let Some(map) = l.strip_prefix("a=rtpmap:") {
                let mut parts = map.split_whitespace();
                if let (Some(pt), Some(enc)) = (parts.next(), parts.next()) {
                    if enc
                        .split('/')
                        .next()
                        .is_some_and(|e| e.eq_ignore_ascii_case(name))
                    {
                        pts.push(pt.to_owned());
                    }
                }
            }
        }
    }
    if pts.is_empty() {
        return None;
    }
    let out: Vec<String> = sdp
        .lines()
        .map(|l| match l.strip_prefix("m=") {
            Some(m) if m.starts_with(kind_name(kind)) => {
                let f: Vec<&str> = m.split_whitespace().collect();
                let kept: Vec<&str> = f
                    .iter()
                    .enumerate()
                    .filter(|(i, t)| *i < 3 || !pts.iter().any(|p| p == *t))
                    .map(|(_, t)| *t)
                    .collect();
                format!("m={}", kept.join(" "))
            }
            _ => l.to_owned(),
        })
        .collect();
    Some(out.join("\r\n"))
}

/// The first codec of `sdp`'s first m-line of `kind` that we support, in the m-line's
/// order of preference.
fn first_supported_codec(sdp: &str, kind: MediaKind) -> Option<RTCRtpCodec> {
    let mut lines = sdp.lines().map(str::trim);
    let formats: Vec<&str> = lines
        .by_ref()
        .filter_map(|l| l.strip_prefix("m="))
        .find(|m| m.starts_with(kind_name(kind)))?
        .split_ascii_whitespace()
        .skip(3)
        .collect();
    let section: Vec<&str> = lines.take_while(|l| !l.starts_with("m=")).collect();
    let attr = |name: &str, pt: &str| {
        let prefix = format!("a={name}:{pt} ");
        section
            .iter()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(str::trim)
    };
    formats.into_iter().find_map(|pt| {
        let rtpmap = attr("rtpmap", pt)?;
        let mut parts = rtpmap.split('/');
        let mime = codec::canonical(&format!("{}/{}", kind_name(kind), parts.next()?))?;
        let clock_rate = parts.next()?.parse().ok()?;
        let channels = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let fmtp = attr("fmtp", pt).unwrap_or("").to_owned();
        if mime == codec::H264 {
            let fmtp_l = fmtp.to_ascii_lowercase();
            let pm1 = fmtp_l.contains("packetization-mode=1");
            let known = H264_PROFILES
                .iter()
                .any(|p| fmtp_l.contains(&format!("profile-level-id={p}")));
            if !(pm1 && known) {
                return None;
            }
        }
        Some(RTCRtpCodec {
            mime_type: mime.to_owned(),
            clock_rate,
            channels,
            sdp_fmtp_line: fmtp,
            rtcp_feedback: vec![],
        })
    })
}

/// Kinds of the m-lines of an SDP, in order.
fn media_kinds(sdp: &str) -> Vec<MediaKind> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("m="))
        .filter_map(|m| match m.split(' ').next() {
            Some("audio") => Some(MediaKind::Audio),
            Some("video") => Some(MediaKind::Video),
            _ => None,
        })
        .collect()
}

/// Checks the shape of a `candidate:` line (RFC 8839 §5.1) before the stack sees it.
fn check_candidate(c: &IceCandidate) -> Result<(), SessionError> {
    let invalid = |reason: &str| SessionError::InvalidCandidate {
        candidate: c.candidate.clone(),
        reason: reason.to_owned(),
    };
    let body = c.candidate.trim();
    let body = body.strip_prefix("a=").unwrap_or(body);
    let body = body
        .strip_prefix("candidate:")
        .ok_or_else(|| invalid("does not start with `candidate:`"))?;
    let f: Vec<&str> = body.split_ascii_whitespace().collect();
    if f.len() < 8 {
        return Err(invalid("fewer than 8 fields"));
    }
    if f[1].parse::<u8>().is_err() {
        return Err(invalid("component is not a number"));
    }
    if !f[2].eq_ignore_ascii_case("udp") && !f[2].eq_ignore_ascii_case("tcp") {
        return Err(invalid("transport is neither udp nor tcp"));
    }
    if f[3].parse::<u32>().is_err() {
        return Err(invalid("priority is not a number"));
    }
    if f[5].parse::<u16>().is_err() {
        return Err(invalid("port is not a number"));
    }
    if f[6] != "typ" || !matches!(f[7], "host" | "srflx" | "prflx" | "relay") {
        return Err(invalid("no valid `typ`"));
    }
    Ok(())
}

/// True when an RTP payload starts a decodable picture.
fn is_keyframe(codec: &str, payload: &[u8]) -> bool {
    match codec {
        codec::VP8 => vp8_keyframe(payload),
        codec::H264 => h264_keyframe(payload),
        _ => false,
    }
}

/// VP8 payload descriptor (RFC 7741 §4.2), then the frame tag's inverse key bit.
fn vp8_keyframe(p: &[u8]) -> bool {
    let Some(&first) = p.first() else {
        return false;
    };
    // Only the start of a partition 0 carries the frame header.
    if first & 0x10 == 0 || first & 0x0f != 0 {
        return false;
    }
    let mut i = 1;
    if first & 0x80 != 0 {
        let Some(&x) = p.get(i) else { return false };
        i += 1;
        if x & 0x80 != 0 {
            let long = p.get(i).is_some_and(|b| b & 0x80 != 0);
            i += if long { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    p.get(i).is_some_and(|b| b & 0x01 == 0)
}

/// An IDR or SPS NAL unit, alone, in a STAP-A, or at the start of an FU-A.
fn h264_keyframe(p: &[u8]) -> bool {
    let key = |nal_type: u8| nal_type == 5 || nal_type == 7;
    let Some(&first) = p.first() else {
        return false;
    };
    match first & 0x1f {
        24 => {
            let mut i = 1;
            while i + 2 < p.len() {
                let size = usize::from(u16::from_be_bytes([p[i], p[i + 1]]));
                if key(p[i + 2] & 0x1f) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        28 => p.get(1).is_some_and(|h| h & 0x80 != 0 && key(h & 0x1f)),
        t => key(t),
    }
}

/// Packets of each video stream kept for retransmission: 256 is 2.5 s at 100 packets/s
/// (1 Mbps) and ~0.8 s at 3 Mbps, past any round trip a NACK can still help within
/// (libwebrtc keeps about 1 s). Full, it holds ~320 KiB of packets; the stack's default
/// (1,024) held four times that, and ~110 KiB even empty.
const NACK_HISTORY: u16 = 256;

/// The stack's default interceptors (NACK generator and responder, TWCC receiver, RTCP
/// reports, simulcast header extensions), with a smaller retransmission history.
fn interceptors(registry: Registry, engine: &mut MediaEngine) -> Result<Registry, SessionError> {
    for parameter in ["", "pli"] {
        engine.register_feedback(
            RTCPFeedback {
                typ: "nack".to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    let registry = registry
        .with(
            Slot::NackResponder,
            NackResponderBuilder::new().with_size(NACK_HISTORY).build(),
        )
        .with(Slot::NackGenerator, NackGeneratorBuilder::new().build());
    configure_simulcast_extension_headers(engine).map_err(stack)?;
    let registry = configure_twcc_receiver_only(registry, engine).map_err(stack)?;
    Ok(configure_rtcp_reports(registry))
}

impl WebRtcSession {
    /// A session with nothing negotiated yet.
    pub fn new(config: SessionConfig, now: Instant) -> Result<WebRtcSession, SessionError> {
        let mut engine = media_engine()?;
        let registry = Registry::new().with(
            Slot::Custom(crate::feedback::SLOT),
            crate::feedback::FeedbackTap::default(),
        );
        let registry = interceptors(registry, &mut engine)?;
        // We answer with `setup:active`: as the DTLS client we start the handshake as
        // soon as ICE connects, with no race against an early ClientHello.
        if config.srtp_profiles.is_empty() {
            return Err(SessionError::Stack(
                "no SRTP protection profile configured".into(),
            ));
        }
        let settings = SettingEngineBuilder::new()
            .with_answering_dtls_role(RTCDtlsRole::Client)
            // A peer-reflexive remote is an address that already sent us an authenticated
            // check, most often the peer's host candidate whose trickle is still on its
            // way through signaling. The stack's default makes the controlling side wait
            // 1 s after the checks start before nominating such a pair (rtc-ice
            // DEFAULT_PRFLX_ACCEPTANCE_MIN_WAIT), and it never swaps in the host candidate
            // when it arrives (it looks remotes up by address and finds the prflx one
            // first): every session whose peer's checks outran its candidates connected a
            // second late. Nominate it as soon as it is valid, as libnice and libwebrtc
            // do. (`None` means the stack's default here, not "no wait".)
            .with_host_acceptance_min_wait(Some(Duration::ZERO))
            .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
            .with_srtp_protection_profiles(config.srtp_profiles.iter().map(|p| p.rtc()).collect())
            .build();
        let mut configuration = RTCConfigurationBuilder::new();
        if let Some(turn) = &config.turn_server {
            // We allocate and relay ourselves; the stack needs the server named for its
            // relay-only policy check.
            configuration = configuration.with_ice_servers(vec![RTCIceServer {
                urls: vec![format!("turn:{}", turn.server)],
                username: turn.username.clone(),
                credential: turn.password.clone(),
            }]);
        }
        if config.relay_only {
            configuration = configuration.with_ice_transport_policy(RTCIceTransportPolicy::Relay);
        }
        let pc = RTCPeerConnectionBuilder::new()
            .with_configuration(configuration.build())
            .with_setting_engine(settings)
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .build(now)
            .map_err(stack)?;
        Ok(WebRtcSession {
            pc,
            config,
            events: VecDeque::new(),
            media: VecDeque::new(),
            local_tracks: HashMap::new(),
            sender_kinds: HashMap::new(),
            remote_tracks: HashMap::new(),
            pending_remote: Vec::new(),
            remote_set: false,
            local_set: false,
            offer_pending: false,
            gather_sockets: Vec::new(),
            tcp_listeners: Vec::new(),
            accepted: HashMap::new(),
            ice: IceComponentState::Disconnected,
            checking: false,
            pair_pending: false,
            flush_dtls: false,
            pli_on_new_track: false,
            last_peer: None,
            rtp_surfaced: 0,
            remb: HashMap::new(),
            remote_remb: None,
            created: now,
            ice_connected_at: None,
            keyframe_requests_received: HashMap::new(),
            gatherer: None,
            turn: None,
            gathering_started: false,
            own_transmits: VecDeque::new(),
            stack_transmits: VecDeque::new(),
            gathering_done: false,
            connection: ConnectionState::Disconnected,
            media_state: MediaState::Disconnected,
            dtls: DtlsConnectionState::New,
            last_rtcp: None,
            stack_ticked: None,
            idle_ticks: 0,
            rtp_at_last_remb: 0,
            discards: Discards::default(),
        })
    }

    /// Adds our sending track for `kind` (once), as the configured direction allows.
    fn ensure_local_track(&mut self, kind: MediaKind) -> Result<(), SessionError> {
        if self.local_tracks.contains_key(&kind) || self.config.direction == Direction::RecvOnly {
            return Ok(());
        }
        let ssrc = random_u32();
        let name = kind_name(kind);
        let track_id = format!("mediaflow-{name}-{ssrc:08x}");
        // No codec yet: the transceiver offers (and accepts) every codec of the media
        // engine. `pin_codecs` names the negotiated one before the senders start.
        let track = local_track(kind, &track_id, ssrc, RTCRtpCodec::default());
        let sender = self.pc.add_track(track).map_err(stack)?;
        self.sender_kinds.insert(track_id.clone(), kind);
        self.local_tracks.insert(
            kind,
            LocalTrack {
                sender,
                track_id,
                ssrc,
                rewriter: Rewriter::default(),
            },
        );
        Ok(())
    }

    /// Names the codec each of our tracks sends: the first of `remote_sdp`'s m-line of
    /// that kind that we support. The stack binds its RTCP reports, NACK responder and
    /// congestion feedback to a sender only when its track names a codec.
    fn pin_codecs(&mut self, remote_sdp: &str) -> Result<(), SessionError> {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            self.accepted
                .insert(kind, supported_codecs(remote_sdp, kind));
        }
        let pins: Vec<_> = self
            .local_tracks
            .iter()
            .filter_map(|(kind, t)| {
                let codec = first_supported_codec(remote_sdp, *kind)?;
                Some((
                    *kind,
                    t.sender,
                    local_track(*kind, &t.track_id, t.ssrc, codec),
                ))
            })
            .collect();
        for (kind, sender, track) in pins {
            if let Some(mut sender) = self.pc.rtp_sender(sender) {
                sender.replace_track(track).map_err(stack)?;
            } else {
                tracing::debug!(?kind, "no sender to pin a codec on");
            }
        }
        Ok(())
    }

    fn restrict_directions(&mut self) {
        if self.config.direction != Direction::SendOnly {
            return;
        }
        let ids: Vec<_> = self.pc.get_transceivers().collect();
        for id in ids {
            if let Some(mut t) = self.pc.rtp_transceiver(id) {
                t.set_direction(RTCRtpTransceiverDirection::Sendonly);
            }
        }
    }

    /// Applies the peer's offer and returns our answer (Kurento's `processOffer`).
    pub fn process_offer(&mut self, sdp: &str, now: Instant) -> Result<String, SessionError> {
        let kinds = media_kinds(sdp);
        let offer = RTCSessionDescription::offer(sdp.to_owned())
            .map_err(|e| SessionError::InvalidSdp(e.to_string()))?;
        if kinds.is_empty() {
            return Err(SessionError::InvalidSdp(
                "the offer has no audio or video m-line".into(),
            ));
        }
        if !kinds
            .iter()
            .any(|k| first_supported_codec(sdp, *k).is_some())
        {
            return Err(SessionError::NoCommonCodec);
        }
        for kind in kinds {
            self.ensure_local_track(kind)?;
        }
        let restart = self.is_ice_restart(sdp);
        self.pc
            .set_remote_description(now, offer)
            .map_err(|e| SessionError::InvalidSdp(e.to_string()))?;
        self.remote_set = true;
        self.restrict_directions();
        let answer = self.pc.create_answer(None).map_err(stack)?;
        let answer_sdp = answer.sdp.clone();
        if !has_common_codec(&answer_sdp) {
            return Err(SessionError::NoCommonCodec);
        }
        self.pin_codecs(sdp)?;
        self.pc.set_local_description(now, answer).map_err(stack)?;
        self.local_set = true;
        self.apply_pending_candidates()?;
        if restart {
            self.regather(now)?;
        }
        self.drain(now);
        Ok(self.local_description().unwrap_or(answer_sdp))
    }

    /// Creates our offer (Kurento's `generateOffer`), audio and video.
    pub fn generate_offer(&mut self, now: Instant) -> Result<String, SessionError> {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            self.ensure_local_track(kind)?;
        }
        if self.config.direction == Direction::RecvOnly {
            for kind in [MediaKind::Audio, MediaKind::Video] {
                self.pc
                    .add_transceiver_from_kind(
                        kind.rtc(),
                        Some(rtc::rtp_transceiver::RTCRtpTransceiverInit {
                            direction: RTCRtpTransceiverDirection::Recvonly,
                            streams: vec![],
                            send_encodings: vec![],
                        }),
                    )
                    .map_err(stack)?;
            }
        }
        self.restrict_directions();
        let offer = self.pc.create_offer(None).map_err(stack)?;
        let sdp = offer.sdp.clone();
        self.pc.set_local_description(now, offer).map_err(stack)?;
        self.local_set = true;
        self.offer_pending = true;
        self.drain(now);
        Ok(self.local_description().unwrap_or(sdp))
    }

    /// Applies the peer's answer to our offer (Kurento's `processAnswer`).
    pub fn process_answer(&mut self, sdp: &str, now: Instant) -> Result<(), SessionError> {
        if !self.offer_pending {
            return Err(SessionError::WrongState(
                "process_answer needs a pending offer from generate_offer".into(),
            ));
        }
        let answer = RTCSessionDescription::answer(sdp.to_owned())
            .map_err(|e| SessionError::InvalidSdp(e.to_string()))?;
        self.pin_codecs(sdp)?;
        let restart = self.is_ice_restart(sdp);
        self.pc
            .set_remote_description(now, answer)
            .map_err(|e| SessionError::InvalidSdp(e.to_string()))?;
        self.remote_set = true;
        self.offer_pending = false;
        self.apply_pending_candidates()?;
        if restart {
            self.regather(now)?;
        }
        self.drain(now);
        Ok(())
    }

    /// Asks for an ICE restart: the next `generate_offer` carries new credentials
    /// (W3C `restartIce`).
    pub fn restart_ice(&mut self) {
        self.pc.restart_ice();
    }

    /// Our ICE ufrag, once we have a local description (it changes with an ICE restart).
    pub fn local_ufrag(&self) -> Option<String> {
        self.local_description().and_then(|sdp| ice_ufrag(&sdp))
    }

    /// True when `sdp` changes the peer's ICE credentials of an established session.
    fn is_ice_restart(&self, sdp: &str) -> bool {
        match (
            self.remote_description().and_then(|old| ice_ufrag(&old)),
            ice_ufrag(sdp),
        ) {
            (Some(old), Some(new)) => old != new,
            _ => false,
        }
    }

    /// After an ICE restart: gathering runs again on the same sockets (new credentials
    /// make new candidates), and the states go round again as in libnice.
    fn regather(&mut self, now: Instant) -> Result<(), SessionError> {
        if !self.gathering_started {
            return Ok(());
        }
        self.gathering_started = false;
        self.gathering_done = false;
        self.pair_pending = false;
        self.gatherer = None;
        let sockets = std::mem::take(&mut self.gather_sockets);
        self.gather_candidates(&sockets, now)
    }

    /// The peer's latest REMB about what we send, in bits per second.
    pub fn remote_estimated_bitrate(&self) -> Option<u32> {
        self.remote_remb
    }

    /// The codecs the peer takes from us for `kind`, preferred first; empty before
    /// negotiation. Media of another codec needs transcoding before `send_rtp`.
    pub fn accepted_codecs(&self, kind: MediaKind) -> &[&'static str] {
        self.accepted.get(&kind).map_or(&[], Vec::as_slice)
    }

    /// Our current SDP, if any.
    pub fn local_description(&self) -> Option<String> {
        self.pc.local_description().map(|d| d.sdp)
    }

    /// The peer's SDP, if any.
    pub fn remote_description(&self) -> Option<String> {
        self.pc.remote_description().map(|d| d.sdp.clone())
    }

    /// The mid of our first m-line, which bundled candidates are signaled against.
    fn first_mid(&self) -> String {
        self.local_description()
            .and_then(|sdp| {
                sdp.lines()
                    .find_map(|l| l.strip_prefix("a=mid:").map(|m| m.trim().to_owned()))
            })
            .unwrap_or_else(|| "0".to_owned())
    }

    /// Announces host candidates for the sockets the caller owns and, with a STUN
    /// server, asks it for their server-reflexive addresses; `IceGatheringDone` follows
    /// the last answer (or the give-up) (Kurento's `gatherCandidates`).
    pub fn gather_candidates(
        &mut self,
        sockets: &[SocketAddr],
        now: Instant,
    ) -> Result<(), SessionError> {
        if self.gathering_started {
            return Ok(());
        }
        self.gathering_started = true;
        self.gather_sockets = sockets.to_vec();
        self.set_ice(IceComponentState::Gathering);
        for addr in sockets {
            let candidate = CandidateHostConfig {
                base_config: udp_candidate(*addr),
                ..Default::default()
            }
            .new_candidate_host()
            .map_err(stack)?;
            self.announce(&RTCIceCandidate::from(&candidate))?;
        }
        for addr in self.tcp_listeners.clone() {
            let mut base_config = udp_candidate(addr);
            base_config.network = "tcp".to_owned();
            let candidate = CandidateHostConfig {
                base_config,
                tcp_type: rtc::ice::tcp_type::TcpType::Passive,
            }
            .new_candidate_host()
            .map_err(stack)?;
            self.announce(&RTCIceCandidate::from(&candidate))?;
        }
        let external = self.config.external_addresses.clone();
        for base in sockets {
            for ip in external.iter().filter(|ip| ip.is_ipv4() == base.is_ipv4()) {
                self.announce_derived(false, SocketAddr::new(*ip, base.port()), *base);
            }
        }
        // Checks may start on host candidates while srflx gathering goes on.
        self.maybe_connecting();
        if let Some(server) = self.config.stun_server {
            let mut gatherer = crate::gather::StunGatherer::start(server, sockets, now);
            gatherer.poll_transmits(now, &mut self.own_transmits);
            self.gatherer = Some(gatherer);
        }
        if let Some(relayed) = self.turn.as_ref().and_then(|t| t.relayed()) {
            // An ICE restart keeps the allocation: announce it again.
            self.apply_turn(vec![crate::turn::TurnOutcome::Allocated(relayed)], now);
        } else if let Some(turn) = self
            .config
            .turn_server
            .clone()
            .filter(|_| self.turn.is_none())
        {
            let base = sockets
                .iter()
                .find(|s| s.is_ipv4() == turn.server.is_ipv4());
            match base.map(|&b| crate::turn::TurnRelay::start(&turn, b, now)) {
                Some(Ok(relay)) => self.turn = Some(relay),
                Some(Err(e)) => tracing::warn!("TURN allocation not started: {e}"),
                None => tracing::warn!("no local address of the TURN server's family"),
            }
            self.pump_turn();
        }
        self.maybe_finish_gathering();
        Ok(())
    }

    /// Listeners for ICE-TCP (RFC 6544 passive candidates), announced by
    /// `gather_candidates`.
    pub fn set_tcp_listeners(&mut self, listeners: Vec<SocketAddr>) {
        self.tcp_listeners = listeners;
    }

    /// Adds a local candidate to the stack and reports it.
    fn announce(&mut self, candidate: &RTCIceCandidate) -> Result<(), SessionError> {
        let mid = self.first_mid();
        let mut init = candidate.to_json().map_err(stack)?;
        init.sdp_mid = Some(mid.clone());
        init.sdp_mline_index = Some(0);
        let line = init.candidate.clone();
        self.pc.add_local_candidate(init).map_err(stack)?;
        self.events
            .push_back(SessionEvent::IceCandidateFound(IceCandidate {
                candidate: line,
                sdp_mid: mid,
                sdp_m_line_index: 0,
            }));
        Ok(())
    }

    /// Announces a candidate derived from the host socket `base`: a server-reflexive
    /// (STUN, external address) or a relayed (TURN) one at `addr`.
    fn announce_derived(&mut self, relayed: bool, addr: SocketAddr, base: SocketAddr) {
        let (rel_addr, rel_port) = (base.ip().to_string(), base.port());
        let candidate = if relayed {
            CandidateRelayConfig {
                base_config: udp_candidate(addr),
                rel_addr,
                rel_port,
                ..Default::default()
            }
            .new_candidate_relay()
        } else {
            CandidateServerReflexiveConfig {
                base_config: udp_candidate(addr),
                rel_addr,
                rel_port,
                ..Default::default()
            }
            .new_candidate_server_reflexive()
        };
        let result = candidate
            .map_err(stack)
            .and_then(|c| self.announce(&RTCIceCandidate::from(&c)));
        if let Err(e) = result {
            tracing::warn!(%addr, relayed, "candidate not added: {e}");
        }
    }

    /// Gathering ends when the STUN answers and the TURN allocation are all settled.
    fn maybe_finish_gathering(&mut self) {
        if self.gathering_done || !self.gathering_started {
            return;
        }
        if self.gatherer.as_ref().is_some_and(|g| !g.done()) {
            return;
        }
        if self.turn.as_ref().is_some_and(|t| t.allocating()) {
            return;
        }
        self.gatherer = None;
        self.finish_gathering();
    }

    /// Moves the TURN client's datagrams to our send queue.
    fn pump_turn(&mut self) {
        if let Some(turn) = &mut self.turn {
            turn.poll_transmits(&mut self.own_transmits);
        }
    }

    fn apply_turn(&mut self, outcomes: Vec<crate::turn::TurnOutcome>, now: Instant) {
        use crate::turn::TurnOutcome;
        for outcome in outcomes {
            match outcome {
                TurnOutcome::Allocated(relayed) => {
                    if let Some(base) = self.turn.as_ref().map(|t| t.local) {
                        self.announce_derived(true, relayed, base);
                    }
                }
                TurnOutcome::Failed(reason) => {
                    tracing::warn!("TURN allocation failed: {reason}");
                }
                TurnOutcome::Data { from, data } => {
                    let Some(relayed) = self.turn.as_ref().and_then(|t| t.relayed()) else {
                        continue;
                    };
                    let msg = inbound(now, relayed, from, &data, TransportProtocol::UDP);
                    if let Err(e) = self.pc.handle_read(msg) {
                        tracing::debug!(%from, "relayed datagram discarded: {e}");
                    }
                }
            }
        }
        self.pump_turn();
        self.maybe_finish_gathering();
    }

    fn finish_gathering(&mut self) {
        self.gathering_done = true;
        self.events.push_back(SessionEvent::IceGatheringDone);
        self.maybe_connecting();
        if self.ice == IceComponentState::Connected {
            self.set_ice(IceComponentState::Ready);
        }
    }

    /// Adds a candidate of the peer (Kurento's `addIceCandidate`); before the remote
    /// description it is kept and applied with it.
    pub fn add_ice_candidate(&mut self, candidate: IceCandidate) -> Result<(), SessionError> {
        check_candidate(&candidate)?;
        if !self.remote_set {
            self.pending_remote.push(candidate);
            return Ok(());
        }
        self.apply_candidate(candidate)
    }

    fn apply_candidate(&mut self, c: IceCandidate) -> Result<(), SessionError> {
        let init = RTCIceCandidateInit {
            candidate: c.candidate.clone(),
            sdp_mid: Some(c.sdp_mid.clone()),
            sdp_mline_index: u16::try_from(c.sdp_m_line_index).ok(),
            ..Default::default()
        };
        self.pc
            .add_remote_candidate(init)
            .map_err(|e| SessionError::InvalidCandidate {
                candidate: c.candidate,
                reason: e.to_string(),
            })?;
        self.checking = true;
        self.maybe_connecting();
        Ok(())
    }

    /// libnice's order: GATHERING, then CONNECTING once checks run. The stack starts
    /// checking as soon as both descriptions are set, possibly before our gathering;
    /// Connecting is reported when both happened.
    fn maybe_connecting(&mut self) {
        if self.checking && self.ice == IceComponentState::Gathering {
            self.set_ice(IceComponentState::Connecting);
        }
    }

    fn apply_pending_candidates(&mut self) -> Result<(), SessionError> {
        for c in std::mem::take(&mut self.pending_remote) {
            // One bad candidate among many must not stop the rest.
            if let Err(e) = self.apply_candidate(c) {
                tracing::warn!("remote candidate ignored: {e}");
            }
        }
        Ok(())
    }

    fn set_ice(&mut self, state: IceComponentState) {
        if self.ice != state {
            self.ice = state;
            self.events
                .push_back(SessionEvent::IceComponentStateChanged {
                    stream_id: 1,
                    component_id: 1,
                    state,
                });
        }
    }

    fn fail(&mut self, reason: &str) {
        if self.dtls == DtlsConnectionState::Failed {
            return;
        }
        self.ice_connected_at = None;
        self.set_dtls(DtlsConnectionState::Failed);
        self.set_connection(ConnectionState::Disconnected);
        self.events
            .push_back(SessionEvent::Failed(reason.to_owned()));
    }

    fn set_connection(&mut self, new: ConnectionState) {
        let old = std::mem::replace(&mut self.connection, new);
        if old != new {
            self.events
                .push_back(SessionEvent::ConnectionStateChanged { old, new });
        }
    }

    fn set_media_state(&mut self, new: MediaState) {
        let old = std::mem::replace(&mut self.media_state, new);
        if old != new {
            self.events
                .push_back(SessionEvent::MediaStateChanged { old, new });
        }
    }

    fn set_dtls(&mut self, state: DtlsConnectionState) {
        if self.dtls != state {
            self.dtls = state;
            self.events
                .push_back(SessionEvent::DtlsConnectionStateChange(state));
        }
    }

    /// A datagram arrived on one of our sockets.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) {
        self.handle_input(now, local, peer, data, TransportProtocol::UDP);
    }

    /// A frame arrived on an ICE-TCP connection from `peer` to our listener `local`.
    pub fn handle_tcp_frame(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) {
        self.handle_input(now, local, peer, data, TransportProtocol::TCP);
    }

    fn handle_input(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
        protocol: TransportProtocol,
    ) {
        if !plausible_datagram(data) {
            self.discards.datagrams += 1;
            tracing::debug!(%peer, len = data.len(), "datagram of no known protocol dropped");
            return;
        }
        if let Some(turn) = &mut self.turn {
            if let Some(outcomes) = turn.handle(now, local, peer, data) {
                self.apply_turn(outcomes, now);
                self.drain(now);
                return;
            }
        }
        if let Some(gatherer) = &mut self.gatherer {
            if let Some(answer) = gatherer.handle(local, peer, data) {
                if let Some((base, mapped)) = answer {
                    self.announce_derived(false, mapped, base);
                }
                self.maybe_finish_gathering();
                return;
            }
        }
        // The stack drops SRTP it cannot authenticate (or replays) without a word: a
        // media packet that goes in and no RTP that comes out is such a drop.
        let srtp = self.dtls == DtlsConnectionState::Connected && is_rtp(data);
        let surfaced = self.rtp_surfaced;
        if let Err(e) = self
            .pc
            .handle_read(inbound(now, local, peer, data, protocol))
        {
            self.discards.datagrams += 1;
            tracing::debug!(%peer, "datagram discarded: {e}");
        } else {
            self.last_peer = Some(peer);
        }
        self.drain(now);
        if srtp && self.rtp_surfaced == surfaced {
            self.discards.srtp += 1;
        }
    }

    fn rtcp_report_seen(&mut self, now: Instant) {
        self.last_rtcp = Some(now);
        self.set_media_state(MediaState::Connected);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        loop {
            if let Some(t) = self.own_transmits.pop_front() {
                return Some(t);
            }
            let m = match self.stack_transmits.pop_front() {
                Some(m) => m,
                None => self.pc.poll_write()?,
            };
            let relayed = self.turn.as_ref().and_then(|t| t.relayed());
            if relayed == Some(m.transport.local_addr) {
                // From our relayed candidate: through the TURN server.
                if let Some(turn) = &mut self.turn {
                    turn.send(m.now, m.transport.peer_addr, &m.message);
                }
                self.pump_turn();
                continue;
            }
            return Some(Transmit {
                local: m.transport.local_addr,
                peer: m.transport.peer_addr,
                data: m.message,
                tcp: m.transport.transport_protocol == TransportProtocol::TCP,
            });
        }
    }

    /// When `handle_timeout` should be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let media = match (self.media_state, self.last_rtcp) {
            (MediaState::Connected, Some(t)) => Some(t + self.config.media_timeout),
            _ => None,
        };
        let dtls = self.ice_connected_at.map(|t| t + self.config.dtls_timeout);
        let stun = self.gatherer.as_ref().and_then(|g| g.poll_timeout());
        let turn = self.turn.as_mut().and_then(|t| t.poll_timeout());
        let remb = self.remb.values().map(|e| e.next).min();
        let mut stack = self.pc.poll_timeout();
        if let (Some(at), Some(ticked)) = (stack, self.stack_ticked) {
            if self.is_idle() {
                stack = Some(at.max(ticked + IDLE_STACK_INTERVAL));
            }
        }
        [stack, media, dtls, stun, turn, remb]
            .into_iter()
            .flatten()
            .min()
    }

    /// Connected, ICE settled, and no RTP for a while: the stack's timers are paced.
    fn is_idle(&self) -> bool {
        self.idle_ticks >= IDLE_TICKS
            && self.connection == ConnectionState::Connected
            && self.ice == IceComponentState::Ready
    }

    /// Time advanced.
    pub fn handle_timeout(&mut self, now: Instant) {
        let paced = self.is_idle()
            && self
                .stack_ticked
                .is_some_and(|t| now < t + IDLE_STACK_INTERVAL);
        if !paced {
            if let Err(e) = self.pc.handle_timeout(now) {
                tracing::debug!("timeout handling: {e}");
            }
            self.stack_ticked = Some(now);
            self.idle_ticks = self.idle_ticks.saturating_add(1);
        }
        if let Some(gatherer) = &mut self.gatherer {
            gatherer.poll_transmits(now, &mut self.own_transmits);
            self.maybe_finish_gathering();
        }
        if let Some(turn) = &mut self.turn {
            let outcomes = turn.handle_timeout(now);
            self.apply_turn(outcomes, now);
        }
        self.send_remb(now);
        if self.media_state == MediaState::Connected
            && self
                .last_rtcp
                .is_some_and(|t| t + self.config.media_timeout <= now)
        {
            self.set_media_state(MediaState::Disconnected);
        }
        if self
            .ice_connected_at
            .is_some_and(|t| t + self.config.dtls_timeout <= now)
        {
            self.fail(
                "DTLS handshake did not complete after ICE connected: the peer's \
                 certificate does not match the SDP fingerprint, or DTLS is blocked",
            );
        }
        self.drain(now);
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// The next RTP packet received from the peer.
    pub fn poll_media(&mut self) -> Option<MediaPacket> {
        self.media.pop_front()
    }

    /// What the session refused so far.
    pub fn discards(&self) -> Discards {
        self.discards
    }

    /// Current states: ICE component, connection, media.
    pub fn states(&self) -> (IceComponentState, ConnectionState, MediaState) {
        (self.ice, self.connection, self.media_state)
    }

    /// Sends an RTP packet of `codec` to the peer on our `kind` track, rewritten to our
    /// SSRC, the payload type negotiated for that codec and a continuous sequence.
    pub fn send_rtp(
        &mut self,
        now: Instant,
        kind: MediaKind,
        codec_name: &str,
        rtp: &[u8],
    ) -> Result<(), SessionError> {
        let result = self.try_send_rtp(now, kind, codec_name, rtp);
        if result.is_err() {
            self.discards.outgoing_media += 1;
        }
        result
    }

    fn try_send_rtp(
        &mut self,
        now: Instant,
        kind: MediaKind,
        codec_name: &str,
        rtp: &[u8],
    ) -> Result<(), SessionError> {
        if self.connection != ConnectionState::Connected {
            return Err(SessionError::Media("not connected yet".into()));
        }
        let mut packet = rtc::rtp::packet::Packet::unmarshal(&mut &rtp[..])
            .map_err(|e| SessionError::Media(format!("not an RTP packet: {e}")))?;
        let track = self
            .local_tracks
            .get_mut(&kind)
            .ok_or_else(|| SessionError::Media(format!("no {kind:?} track to send on")))?;
        let mut sender = self
            .pc
            .rtp_sender(track.sender)
            .ok_or_else(|| SessionError::Media("sender gone".into()))?;
        let payload_type = sender
            .get_parameters()
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(codec_name))
            .map(|c| c.payload_type)
            .ok_or_else(|| {
                SessionError::Media(format!("{codec_name} is not negotiated with the peer"))
            })?;
        // Header extensions were negotiated with whoever sent this packet, not with
        // our peer: drop them rather than send ids the peer maps to something else.
        packet.header.extension = false;
        packet.header.extensions.clear();
        packet.header.payload_type = payload_type;
        let (sequence, timestamp) = track.rewriter.rewrite(
            packet.header.ssrc,
            packet.header.sequence_number,
            packet.header.timestamp,
        );
        packet.header.ssrc = track.ssrc;
        packet.header.sequence_number = sequence;
        packet.header.timestamp = timestamp;
        sender.write_rtp(now, packet).map_err(stack)?;
        self.idle_ticks = 0;
        self.drain(now);
        Ok(())
    }

    /// Sends the due REMB estimates for received video (once a second per stream).
    fn send_remb(&mut self, now: Instant) {
        if !self.remb.values().any(|e| e.next <= now)
            || self.connection != ConnectionState::Connected
        {
            return;
        }
        if self.rtp_surfaced == self.rtp_at_last_remb {
            // Nothing received since the last estimate: nothing to estimate, and the
            // stack's statistics this needs are not cheap.
            for estimator in self.remb.values_mut().filter(|e| e.next <= now) {
                estimator.next = now + crate::remb::INTERVAL;
            }
            return;
        }
        self.rtp_at_last_remb = self.rtp_surfaced;
        let report = self.pc.get_stats(now, StatsSelector::None);
        let (inbound, _) = crate::stats::from_report(&report);
        let due: Vec<String> = self
            .remb
            .iter()
            .filter(|(_, e)| e.next <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for track_id in due {
            let Some(receiver_id) = self.remote_tracks.get(&track_id).map(|t| t.receiver) else {
                continue;
            };
            let Some(ssrc) = self
                .pc
                .rtp_receiver(receiver_id)
                .and_then(|r| r.track().ssrcs().last())
            else {
                continue;
            };
            let Some(stream) = inbound.iter().find(|s| s.ssrc == ssrc) else {
                continue;
            };
            let Some(estimator) = self.remb.get_mut(&track_id) else {
                continue;
            };
            let bitrate = estimator.update(
                now,
                stream.bytes_received,
                stream.packets_lost,
                stream.packets_received,
            );
            let remb = ReceiverEstimatedMaximumBitrate {
                sender_ssrc: 0,
                bitrate: bitrate as f32,
                ssrcs: vec![ssrc],
            };
            if let Some(mut receiver) = self.pc.rtp_receiver(receiver_id) {
                if let Err(e) = receiver.write_rtcp(now, vec![Box::new(remb)]) {
                    tracing::debug!("REMB not sent: {e}");
                }
            }
        }
        self.drain(now);
    }

    /// Asks the peer for a keyframe of the `kind` it sends us (PLI).
    pub fn request_keyframe(&mut self, now: Instant, kind: MediaKind) {
        let remote = self
            .remote_tracks
            .values()
            .find(|t| t.kind == kind)
            .map(|t| t.receiver);
        let Some(receiver_id) = remote else {
            return;
        };
        let Some(mut receiver) = self.pc.rtp_receiver(receiver_id) else {
            return;
        };
        let Some(media_ssrc) = receiver.track().ssrcs().last() else {
            return;
        };
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        if let Err(e) = receiver.write_rtcp(now, vec![Box::new(pli)]) {
            tracing::debug!("PLI not sent: {e}");
        }
        self.drain(now);
    }

    /// Moves what the stack produced into our queues, translating events.
    fn drain(&mut self, now: Instant) {
        loop {
            while let Some(event) = self.pc.poll_event() {
                self.on_stack_event(event);
            }
            if !std::mem::take(&mut self.flush_dtls) {
                break;
            }
            // What the stack wrote so far goes first: the binding response that made
            // us select (controlled side) must reach the peer before our ClientHello,
            // or the peer's stack, not selected yet, drops the ClientHello and the
            // handshake waits for its 1 s retransmission. (The stack itself would
            // queue the DTLS flight ahead of the ICE agent's pending response.)
            while let Some(m) = self.pc.poll_write() {
                self.stack_transmits.push_back(m);
            }
            // On the selection event the stack's DTLS client starts its handshake
            // (`DtlsHandler::handle_event` calls `connect`), but the ClientHello stays in
            // the DTLS endpoint: only `handle_read`/`handle_timeout` move its transmits to
            // the stack's output, and its `poll_timeout` names the 1 s retransmission, not
            // "now". Left alone, it went out at the ICE agent's next 200 ms tick. Time has
            // not moved: this only hands out what is already due.
            if let Err(e) = self.pc.handle_timeout(now) {
                tracing::debug!("timeout handling: {e}");
            }
        }
        if self.pair_pending {
            if let Some(pair) = self.selected_pair(now) {
                self.pair_pending = false;
                if self.dtls != DtlsConnectionState::Connected {
                    self.ice_connected_at.get_or_insert(now);
                }
                self.events
                    .push_back(SessionEvent::NewCandidatePairSelected(pair));
                self.set_ice(IceComponentState::Connected);
                if self.gathering_done {
                    self.set_ice(IceComponentState::Ready);
                }
            }
        }
        if std::mem::take(&mut self.pli_on_new_track) {
            self.request_keyframe(now, MediaKind::Video);
        }
        while let Some(message) = self.pc.poll_read() {
            match message.message {
                RTCMessage::RtpPacket(track_id, packet) => {
                    self.rtp_surfaced += 1;
                    self.idle_ticks = 0;
                    self.on_rtp(&track_id, packet)
                }
                RTCMessage::RtcpPacket(track_id, packets) => self.on_rtcp(&track_id, &packets, now),
                _ => {}
            }
        }
    }

    fn on_stack_event(&mut self, event: RTCPeerConnectionEvent) {
        match event {
            RTCPeerConnectionEvent::OnIceConnectionStateChangeEvent(state) => match state {
                RTCIceConnectionState::Checking => {
                    self.checking = true;
                    self.maybe_connecting();
                }
                RTCIceConnectionState::Connected | RTCIceConnectionState::Completed => {
                    // Reported once the stack's statistics name the pair: Kurento
                    // announces NewCandidatePairSelected before Connected.
                    self.pair_pending = true;
                    self.flush_dtls = true;
                }
                RTCIceConnectionState::Disconnected => self.set_ice(IceComponentState::Connecting),
                RTCIceConnectionState::Failed => {
                    self.set_ice(IceComponentState::Failed);
                    self.set_connection(ConnectionState::Disconnected);
                }
                RTCIceConnectionState::Closed => self.set_ice(IceComponentState::Disconnected),
                _ => {}
            },
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => match state {
                RTCPeerConnectionState::Connecting => {
                    self.set_dtls(DtlsConnectionState::Connecting)
                }
                RTCPeerConnectionState::Connected => {
                    self.ice_connected_at = None;
                    self.set_dtls(DtlsConnectionState::Connected);
                    self.set_connection(ConnectionState::Connected);
                }
                RTCPeerConnectionState::Failed => {
                    let reason = if self.dtls == DtlsConnectionState::Connected {
                        "the connection failed (ICE consent lost or DTLS closed with an error)"
                    } else {
                        "DTLS handshake failed: the peer's certificate does not match the \
                         SDP fingerprint, or the handshake timed out"
                    };
                    self.set_dtls(DtlsConnectionState::Failed);
                    self.set_connection(ConnectionState::Disconnected);
                    self.events
                        .push_back(SessionEvent::Failed(reason.to_owned()));
                }
                RTCPeerConnectionState::Disconnected => {
                    self.set_connection(ConnectionState::Disconnected)
                }
                RTCPeerConnectionState::Closed => {
                    self.set_dtls(DtlsConnectionState::Closed);
                    self.set_connection(ConnectionState::Disconnected);
                }
                _ => {}
            },
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                let kind = self
                    .pc
                    .rtp_receiver(init.receiver_id)
                    .and_then(|r| MediaKind::from_rtc(r.track().kind()));
                if kind == Some(MediaKind::Video) {
                    // A decoder joining a stream needs a keyframe: ask at once, as
                    // receivers do, rather than wait for the sender's next one.
                    self.pli_on_new_track = true;
                    self.remb.insert(
                        init.track_id.to_string(),
                        crate::remb::RembEstimator::new(self.config.remb, self.created),
                    );
                }
                if let Some(kind) = kind {
                    self.remote_tracks.insert(
                        init.track_id.to_string(),
                        RemoteTrack {
                            receiver: init.receiver_id,
                            kind,
                        },
                    );
                }
            }
            _ => {}
        }
    }

    fn on_rtp(&mut self, track_id: &str, packet: rtc::rtp::packet::Packet) {
        let Some(track) = self.remote_tracks.get(track_id) else {
            return;
        };
        let (kind, receiver_id) = (track.kind, track.receiver);
        let pt = packet.header.payload_type;
        let codec_name = self.pc.rtp_receiver(receiver_id).and_then(|mut r| {
            r.get_parameters()
                .rtp_parameters
                .codecs
                .iter()
                .find(|c| c.payload_type == pt)
                .and_then(|c| codec::canonical(&c.rtp_codec.mime_type))
        });
        let Some(codec_name) = codec_name else {
            return;
        };
        let keyframe = is_keyframe(codec_name, &packet.payload);
        match packet.marshal() {
            Ok(rtp) => self.media.push_back(MediaPacket {
                kind,
                codec: codec_name,
                rtp: rtp.into(),
                keyframe,
            }),
            Err(e) => tracing::debug!("RTP packet not re-serialized: {e}"),
        }
    }

    fn on_rtcp(&mut self, track_id: &str, packets: &[Box<dyn rtc::rtcp::Packet>], now: Instant) {
        for p in packets {
            let any = (**p).as_any();
            if any.is::<SenderReport>() || any.is::<ReceiverReport>() {
                self.rtcp_report_seen(now);
            } else if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
                self.remote_remb = Some(remb.bitrate as u32);
            } else if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                let kind = self
                    .sender_kinds
                    .get(track_id)
                    .copied()
                    .unwrap_or(MediaKind::Video);
                let counts = self.keyframe_requests_received.entry(kind).or_default();
                if any.is::<PictureLossIndication>() {
                    counts.0 += 1;
                } else {
                    counts.1 += 1;
                }
                self.events.push_back(SessionEvent::KeyframeRequested(kind));
            }
        }
    }

    /// The selected candidate pair, from the stack's statistics.
    fn selected_pair(&mut self, now: Instant) -> Option<IceCandidatePair> {
        let report = self.pc.get_stats(now, StatsSelector::None);
        let transport = report.transport()?;
        let pair = match report.get(&transport.selected_candidate_pair_id)? {
            RTCStatsReportEntry::IceCandidatePair(p) => p,
            _ => return None,
        };
        // Pair entries name candidates by their own id, which the report's keys prefix
        // (`RTCLocalIceCandidate_<id>`).
        let line = |id: &str| {
            report.iter().find_map(|entry| match entry {
                RTCStatsReportEntry::LocalCandidate(c)
                | RTCStatsReportEntry::RemoteCandidate(c)
                    if entry.id() == id || entry.id().ends_with(&format!("_{id}")) =>
                {
                    Some(format!(
                        "candidate:{} 1 {} {} {} {} typ {}",
                        if c.foundation.is_empty() {
                            "0"
                        } else {
                            &c.foundation
                        },
                        c.protocol,
                        c.priority,
                        c.address.as_deref().unwrap_or("0.0.0.0"),
                        c.port,
                        c.candidate_type
                    ))
                }
                _ => None,
            })
        };
        // A remote learned from an incoming check (peer-reflexive) may have no entry of
        // its own yet; the address media comes from is that candidate.
        let remote = line(&pair.remote_candidate_id).or_else(|| {
            self.last_peer
                .map(|a| format!("candidate:0 1 udp 0 {} {} typ prflx", a.ip(), a.port()))
        })?;
        Some(IceCandidatePair {
            stream_id: "1".to_owned(),
            component_id: 1,
            local_candidate: line(&pair.local_candidate_id)?,
            remote_candidate: remote,
        })
    }

    /// RTP statistics (W3C webrtc-stats names) and discard counters.
    pub fn stats(&mut self, now: Instant) -> crate::stats::SessionStats {
        let report = self.pc.get_stats(now, StatsSelector::None);
        let (inbound, mut outbound) = crate::stats::from_report(&report);
        for out in &mut outbound {
            if let Some((pli, fir)) = out
                .kind
                .and_then(|k| self.keyframe_requests_received.get(&k))
            {
                out.pli_count = out.pli_count.max(*pli);
                out.fir_count = out.fir_count.max(*fir);
            }
        }
        crate::stats::SessionStats {
            inbound,
            outbound,
            datagrams_discarded: self.discards.datagrams,
            srtp_packets_discarded: self.discards.srtp,
            remote_estimated_bitrate: self.remote_remb,
            srtp_cipher: report
                .transport()
                .map(|t| t.srtp_cipher.clone())
                .filter(|c| !c.is_empty()),
            media_not_sent: self.discards.outgoing_media,
            turn_datagrams_sent: self.turn.as_ref().map_or(0, |t| t.relayed_out),
            turn_datagrams_received: self.turn.as_ref().map_or(0, |t| t.relayed_in),
        }
    }

    /// Closes the session (DTLS close_notify, ICE stops).
    pub fn close(&mut self) {
        if let Err(e) = self.pc.close() {
            tracing::debug!("close: {e}");
        }
    }
}

/// An RTP packet, not RTCP (RFC 5761: RTCP packet types 192-223 in the second byte).
fn is_rtp(data: &[u8]) -> bool {
    data.len() >= 12 && (128..=191).contains(&data[0]) && !(192..=223).contains(&data[1])
}

/// A UDP candidate's common fields at `addr`, component 1 (rtcp-mux).
fn udp_candidate(addr: SocketAddr) -> CandidateConfig {
    CandidateConfig {
        network: "udp".to_owned(),
        address: addr.ip().to_string(),
        port: addr.port(),
        component: 1,
        ..Default::default()
    }
}

/// The first `a=ice-ufrag` of an SDP (BUNDLE: one for every m-section).
fn ice_ufrag(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:").map(str::to_owned))
}

/// A received datagram (or ICE-TCP frame) in the stack's input form.
pub(crate) fn inbound(
    now: Instant,
    local: SocketAddr,
    peer: SocketAddr,
    data: &[u8],
    protocol: TransportProtocol,
) -> TaggedBytesMut {
    TaggedBytesMut {
        now,
        transport: TransportContext {
            local_addr: local,
            peer_addr: peer,
            ecn: None,
            transport_protocol: protocol,
        },
        message: BytesMut::from(data),
    }
}

/// RFC 7983 demultiplexing on the first byte: STUN (0-3), DTLS (20-63), TURN
/// ChannelData (64-79), RTP/RTCP (128-191, at least a minimal header). Anything else cannot be ours.
fn plausible_datagram(data: &[u8]) -> bool {
    match data.first() {
        Some(0..=3) => data.len() >= 20,
        Some(20..=63) => data.len() >= 13,
        // TURN ChannelData (channel numbers 0x4000-0x4FFF).
        Some(64..=79) => data.len() >= 4,
        Some(128..=191) => data.len() >= 12,
        _ => false,
    }
}

/// True when some m-line of an answer accepted a codec (non-zero port, a payload type).
fn has_common_codec(answer: &str) -> bool {
    answer
        .lines()
        .filter_map(|l| l.strip_prefix("m="))
        .any(|m| {
            let mut f = m.split_ascii_whitespace();
            let _kind = f.next();
            let port = f.next().unwrap_or("0");
            let _proto = f.next();
            port != "0" && f.next().is_some()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_are_recognized() {
        // VP8: S bit, PID 0, then a frame tag with the key bit clear.
        assert!(vp8_keyframe(&[0x10, 0x00]));
        assert!(!vp8_keyframe(&[0x10, 0x01]));
        assert!(!vp8_keyframe(&[0x00, 0x00]));
        // With X, I (two-byte PictureID): descriptor of 4 bytes.
        assert!(vp8_keyframe(&[0x90, 0x80, 0x81, 0x02, 0x00]));
        assert!(!vp8_keyframe(&[]));
        // H.264: IDR alone, STAP-A holding an SPS, FU-A start of an IDR.
        assert!(h264_keyframe(&[0x65]));
        assert!(h264_keyframe(&[0x78, 0x00, 0x02, 0x67, 0x42]));
        assert!(h264_keyframe(&[0x7c, 0x85]));
        assert!(!h264_keyframe(&[0x7c, 0x05]));
        assert!(!h264_keyframe(&[0x41]));
        assert!(!h264_keyframe(&[0x78, 0xff]));
    }

    #[test]
    fn candidate_lines_are_checked() {
        let c = |s: &str| IceCandidate {
            candidate: s.into(),
            sdp_mid: "0".into(),
            sdp_m_line_index: 0,
        };
        assert!(
            check_candidate(&c("candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host")).is_ok()
        );
        assert!(check_candidate(&c(
            "candidate:1 1 UDP 2122260223 ::1 50000 typ host generation 0"
        ))
        .is_ok());
        for bad in [
            "",
            "garbage",
            "candidate:1 1 udp",
            "candidate:1 x udp 1 127.0.0.1 5 typ host",
            "candidate:1 1 sctp 1 127.0.0.1 5 typ host",
            "candidate:1 1 udp 1 127.0.0.1 99999 typ host",
            "candidate:1 1 udp 1 127.0.0.1 5 type host",
        ] {
            assert!(check_candidate(&c(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn garbage_sdp_is_a_typed_error() {
        let now = Instant::now();
        let mut s = WebRtcSession::new(SessionConfig::default(), now).unwrap();
        assert!(matches!(
            s.process_offer("", now),
            Err(SessionError::InvalidSdp(_))
        ));
        assert!(matches!(
            s.process_offer("v=0\r\nthis is not sdp", now),
            Err(SessionError::InvalidSdp(_))
        ));
        assert!(matches!(
            s.process_answer("v=0\r\n", now),
            Err(SessionError::WrongState(_))
        ));
    }
}
