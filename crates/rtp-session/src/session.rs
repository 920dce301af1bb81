//! One WebRTC session (the protocol side of a WebRtcEndpoint), sans-IO: our SDP
//! negotiation, ICE + DTLS + SRTP (`transport`), gathering (`candidates`), the media
//! streams (`media`) and Kurento's states (`states`), composed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::candidates::{Cx, Gathering, Sources};
use crate::datachannel::{
    ChannelEvent, DataChannelError, DataChannelInit, DataChannelStats, DataChannels, DataMessage,
};
use crate::media::{LocalSsrcs, Media, MediaTransport};
use crate::negotiate::{LocalParams, Negotiated, Negotiator};
use crate::states::States;
use crate::transport::{Transport, TransportEvent};
use crate::types::{
    ConnectionState, DtlsConnectionState, IceCandidate, IceCandidatePair, IceComponentState,
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

/// What an offer asks to receive (Kurento's `OfferOptions`): both kinds by default.
/// A kind not asked for is offered `sendonly` (or `inactive` when we do not send it
/// either); the m-line stays, so a later offer can ask for it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfferOptions {
    /// Ask the peer for audio (Kurento's `offerToReceiveAudio`).
    pub offer_to_receive_audio: bool,
    /// Ask the peer for video (Kurento's `offerToReceiveVideo`).
    pub offer_to_receive_video: bool,
}

impl Default for OfferOptions {
    fn default() -> OfferOptions {
        OfferOptions {
            offer_to_receive_audio: true,
            offer_to_receive_video: true,
        }
    }
}

impl OfferOptions {
    /// Whether the offer asks to receive `kind`.
    pub fn receives(&self, kind: MediaKind) -> bool {
        match kind {
            MediaKind::Audio => self.offer_to_receive_audio,
            MediaKind::Video => self.offer_to_receive_video,
        }
    }
}

/// Receive bandwidth limits per kind, in kbps (0: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaxRecvKbps {
    /// Audio (Kurento's `maxAudioRecvBandwidth`).
    pub audio: u32,
    /// Video (Kurento's `maxVideoRecvBandwidth`).
    pub video: u32,
}

impl MaxRecvKbps {
    /// The limit for `kind`.
    pub fn of(&self, kind: MediaKind) -> u32 {
        match kind {
            MediaKind::Audio => self.audio,
            MediaKind::Video => self.video,
        }
    }
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
    pub(crate) fn rtc(self) -> rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile {
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
    /// Accept and offer a data-channel section (Kurento's `useDataChannels`); without
    /// it the peer's is rejected.
    pub data_channels: bool,
    /// Most the peer may send us, in kbps, announced as `b=AS` on the m-lines we
    /// receive on (Kurento's `maxAudioRecvBandwidth` / `maxVideoRecvBandwidth`; video is
    /// also capped by REMB); 0 announces nothing.
    pub max_recv_kbps: MaxRecvKbps,
    /// The most playout delay we ask the peer's receiver for when video we forward
    /// reaches us late (repaired upstream), in the playout-delay RTP header extension
    /// when the peer offers it (libwebrtc does); zero: never, and the extension is not
    /// agreed to.
    pub max_playout_delay: Duration,
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            direction: Direction::SendRecv,
            media_timeout: Duration::from_secs(15),
            dtls_timeout: Duration::from_secs(15),
            stun_server: None,
            turn_server: None,
            relay_only: false,
            external_addresses: Vec::new(),
            data_channels: false,
            max_recv_kbps: MaxRecvKbps::default(),
            max_playout_delay: DEFAULT_MAX_PLAYOUT_DELAY,
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
    /// A data-channel call failed (no data channels negotiated, no such channel, a
    /// bound reached).
    #[error("data channel: {0}")]
    DataChannel(#[from] crate::datachannel::DataChannelError),
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
    /// When the sender captured it, on the sender's wall clock (NTP, microseconds since
    /// 1900) as its RTCP Sender Reports map RTP time: one clock for all the sender's
    /// streams, so audio and video can be lined up. `None` until its first report.
    pub sender_time_micros: Option<u64>,
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
    /// A data channel opened (ours acknowledged, or the peer's accepted).
    DataChannelOpened {
        /// Its SCTP stream id.
        channel_id: u16,
        /// Its label.
        label: String,
    },
    /// A data channel closed.
    DataChannelClosed {
        /// Its SCTP stream id.
        channel_id: u16,
    },
    /// The session failed for good; the text says why.
    Failed(String),
}

/// Counters of input the session refused, by reason. Every datagram a session drops
/// is in exactly one of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discards {
    /// Datagrams of no protocol of ours (not STUN, DTLS, TURN or RTP/RTCP by their
    /// first byte, or too short for one).
    pub datagrams: u64,
    /// STUN messages ICE refused (bad integrity, unknown ufrag, not for us).
    pub stun: u64,
    /// DTLS records refused (bad handshake, after close), and application data
    /// records past what one datagram may carry to the data channels.
    pub dtls: u64,
    /// DTLS or SRTP from an address ICE has not validated.
    pub unknown_source: u64,
    /// SRTP packets that yielded no media, all reasons: the sum of the six below.
    pub srtp: u64,
    /// SRTP that did not authenticate or was replayed.
    pub srtp_auth: u64,
    /// SRTP of an SSRC neither signalled nor admitted (past the bound on unsignalled
    /// SSRCs or their rate, or belonging to no section).
    pub srtp_unknown_ssrc: u64,
    /// RTP of a payload type the peer did not negotiate.
    pub rtp_unknown_payload_type: u64,
    /// RTP already received (a duplicate or a late retransmission).
    pub rtp_duplicate: u64,
    /// Padding-only RTP (a sender's bandwidth probe).
    pub rtp_padding: u64,
    /// Not a well-formed RTP packet.
    pub rtp_malformed: u64,
    /// SRTCP that did not authenticate or parse.
    pub rtcp: u64,
    /// Media packets handed to `send_rtp` that could not be sent.
    pub outgoing_media: u64,
}

/// One WebRTC session: SDP negotiation, ICE, DTLS-SRTP and RTP/RTCP, reporting
/// Kurento's events.
///
/// Feed it datagrams (`handle_datagram`) and time (`handle_timeout`); drain
/// `poll_transmit`, `poll_event` and `poll_media`.
pub struct WebRtcSession {
    config: SessionConfig,
    negotiator: Negotiator,
    transport: Transport,
    gathering: Gathering,
    states: States,
    media: Media,
    /// Candidates given before the remote description, applied once it is set.
    pending_remote: Vec<IceCandidate>,
    /// The peer's description is applied: ICE runs against it.
    negotiated: Option<Negotiated>,
    /// `restart_ice()` was called: the next offer carries new credentials.
    restart_requested: bool,
    discards: Discards,
    /// The data channels, once a data-channel section is negotiated.
    data: Option<DataChannels>,
    /// The time of the latest call (the TURN client stamps what it sends with it).
    now: Instant,
}

pub(crate) fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish() as u32
}

/// Candidates a peer may trickle to one session; more are refused.
pub const MAX_REMOTE_CANDIDATES: usize = 64;

/// [`SessionConfig::max_playout_delay`]'s default: past ~600 ms a conversation suffers
/// more from the latency than from a rare frozen picture.
pub const DEFAULT_MAX_PLAYOUT_DELAY: Duration = Duration::from_millis(600);

impl WebRtcSession {
    /// A session with nothing negotiated yet.
    pub fn new(config: SessionConfig, now: Instant) -> Result<WebRtcSession, SessionError> {
        let transport = Transport::new(now, config.srtp_profiles.clone())?;
        let (ice_ufrag, ice_pwd) = transport.local_credentials();
        let ssrcs = LocalSsrcs {
            audio: random_u32(),
            video: random_u32(),
            video_rtx: random_u32(),
        };
        let cname = format!("mediaflow-{:08x}", random_u32());
        let negotiator = Negotiator::new(LocalParams {
            ice_ufrag,
            ice_pwd,
            fingerprint: transport.fingerprint().to_owned(),
            cname: cname.clone(),
            audio_ssrc: ssrcs.audio,
            video_ssrc: ssrcs.video,
            video_rtx_ssrc: ssrcs.video_rtx,
            direction: config.direction,
            data_channels: config.data_channels,
            max_recv_kbps: config.max_recv_kbps,
            playout_delay: !config.max_playout_delay.is_zero(),
        });
        let gathering = Gathering::new(Sources {
            stun_server: config.stun_server,
            turn_server: config.turn_server.clone(),
            relay_only: config.relay_only,
            external_addresses: config.external_addresses.clone(),
        });
        let media = Media::new(ssrcs, cname, config.remb, config.max_playout_delay, now);
        Ok(WebRtcSession {
            config,
            negotiator,
            transport,
            gathering,
            states: States::new(),
            media,
            pending_remote: Vec::new(),
            negotiated: None,
            restart_requested: false,
            discards: Discards::default(),
            data: None,
            now,
        })
    }

    /// Applies the peer's offer and returns our answer (Kurento's `processOffer`).
    pub fn process_offer(&mut self, sdp: &str, now: Instant) -> Result<String, SessionError> {
        let restart = self.is_ice_restart(sdp);
        if restart {
            self.new_credentials(now)?;
        }
        let (answer, negotiated) = self.negotiator.process_offer(sdp)?;
        // The answerer is controlled, unless the offerer is ice-lite.
        let controlling = negotiated.remote_ice_lite;
        self.apply(negotiated, controlling, now)?;
        if restart {
            self.regather(now);
        }
        self.pump(now);
        Ok(answer)
    }

    /// Creates our offer (Kurento's `generateOffer`), audio and video.
    pub fn generate_offer(&mut self, now: Instant) -> Result<String, SessionError> {
        self.generate_offer_with(OfferOptions::default(), now)
    }

    /// Our offer, asking to receive only what `options` say.
    pub fn generate_offer_with(
        &mut self,
        options: OfferOptions,
        now: Instant,
    ) -> Result<String, SessionError> {
        if std::mem::take(&mut self.restart_requested) && self.negotiated.is_some() {
            self.new_credentials(now)?;
        }
        let offer = self.negotiator.generate_offer_with(options);
        self.pump(now);
        Ok(offer)
    }

    /// Applies the peer's answer to our offer (Kurento's `processAnswer`).
    pub fn process_answer(&mut self, sdp: &str, now: Instant) -> Result<(), SessionError> {
        let restart = self.is_ice_restart(sdp);
        let negotiated = self.negotiator.process_answer(sdp)?;
        // The offerer controls, unless it is lite and the peer is not.
        self.apply(negotiated, true, now)?;
        if restart {
            self.regather(now);
        }
        self.pump(now);
        Ok(())
    }

    /// Starts ICE and prepares DTLS against what was negotiated, sets up the streams.
    fn apply(
        &mut self,
        negotiated: Negotiated,
        controlling: bool,
        now: Instant,
    ) -> Result<(), SessionError> {
        self.transport.start(
            now,
            controlling,
            negotiated.remote_ufrag.clone(),
            negotiated.remote_pwd.clone(),
            negotiated.dtls_role,
            negotiated.remote_fingerprint.clone(),
        )?;
        if let Some((role, _)) = self.transport.dtls_state() {
            self.negotiator.set_dtls_role(role);
        }
        self.media.apply(&negotiated.sections, now);
        if let (Some(app), None) = (&negotiated.application, &self.data) {
            // The live DTLS role decides (a renegotiation keeps the connection, whatever
            // its a=setup says), and a connection that is up already brings no
            // DtlsConnected: the association starts now.
            let (role, connected) = self
                .transport
                .dtls_state()
                .unwrap_or((negotiated.dtls_role, false));
            let client = role == crate::negotiate::DtlsRole::Client;
            let mut data = DataChannels::new(client, app.remote_max_message_size);
            if connected {
                data.start(now);
            }
            self.data = Some(data);
        }
        for (line, mid) in &negotiated.remote_candidates {
            let c = IceCandidate {
                candidate: line.clone(),
                sdp_mid: mid.clone(),
                sdp_m_line_index: 0,
            };
            if let Err(e) = self.apply_candidate(c) {
                tracing::warn!("candidate of the SDP ignored: {e}");
            }
        }
        self.negotiated = Some(negotiated);
        for c in std::mem::take(&mut self.pending_remote) {
            // One bad candidate among many must not stop the rest.
            if let Err(e) = self.apply_candidate(c) {
                tracing::warn!("remote candidate ignored: {e}");
            }
        }
        Ok(())
    }

    /// Asks for an ICE restart: the next `generate_offer` carries new credentials
    /// (W3C `restartIce`).
    pub fn restart_ice(&mut self) {
        self.restart_requested = true;
    }

    /// New local ICE credentials; the SDP we write next carries them.
    fn new_credentials(&mut self, now: Instant) -> Result<(), SessionError> {
        self.transport.restart(now)?;
        let (ufrag, pwd) = self.transport.local_credentials();
        self.negotiator.set_ice_credentials(ufrag, pwd);
        Ok(())
    }

    /// Our ICE ufrag (it changes with an ICE restart).
    pub fn local_ufrag(&self) -> Option<String> {
        Some(self.transport.local_credentials().0)
    }

    /// True when `sdp` changes the peer's ICE credentials of an established session.
    fn is_ice_restart(&self, sdp: &str) -> bool {
        let Some(old) = &self.negotiated else {
            return false;
        };
        sdp.lines()
            .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
            .is_some_and(|new| new != old.remote_ufrag)
    }

    /// After an ICE restart: gathering runs again on the same sockets (new credentials
    /// make new candidates), and the states go round again as in libnice.
    fn regather(&mut self, now: Instant) {
        self.states.checking = false;
        self.with_gathering(|g, cx| g.restart(now, cx));
    }

    /// The peer's latest REMB about what we send, in bits per second.
    pub fn remote_estimated_bitrate(&self) -> Option<u32> {
        self.media.remote_remb
    }

    /// The codecs the peer takes from us for `kind`, preferred first; empty before
    /// negotiation. Media of another codec needs transcoding before `send_rtp`.
    pub fn accepted_codecs(&self, kind: MediaKind) -> &[&'static str] {
        self.media.accepted_codecs(kind)
    }

    /// Our current SDP, with the candidates gathered so far, if any.
    pub fn local_description(&self) -> Option<String> {
        self.negotiator.local_description(&self.gathering.announced)
    }

    /// The peer's SDP, if any.
    pub fn remote_description(&self) -> Option<String> {
        self.negotiator.remote_description().map(str::to_owned)
    }

    /// Runs `f` on the gathering with what it reports to (the agent, the states, and the
    /// mid bundled candidates are signalled against), borrowed, not copied: it runs for
    /// every datagram.
    fn with_gathering<R>(&mut self, f: impl FnOnce(&mut Gathering, &mut Cx<'_>) -> R) -> R {
        let mid = self
            .negotiated
            .as_ref()
            .and_then(|n| n.sections.first())
            .map_or("0", |s| s.mid.as_str());
        let mut cx = Cx {
            transport: &mut self.transport,
            states: &mut self.states,
            mid,
        };
        f(&mut self.gathering, &mut cx)
    }

    /// Announces host candidates for the sockets the caller owns and, with a STUN
    /// server, asks it for their server-reflexive addresses; `IceGatheringDone` follows
    /// the last answer (or the give-up) (Kurento's `gatherCandidates`).
    pub fn gather_candidates(
        &mut self,
        sockets: &[SocketAddr],
        now: Instant,
    ) -> Result<(), SessionError> {
        self.with_gathering(|g, cx| g.start(sockets, now, cx));
        self.pump(now);
        Ok(())
    }

    /// Listeners for ICE-TCP (RFC 6544 passive candidates), announced by
    /// `gather_candidates`.
    pub fn set_tcp_listeners(&mut self, listeners: Vec<SocketAddr>) {
        self.gathering.tcp_listeners = listeners;
    }

    /// Adds a candidate of the peer (Kurento's `addIceCandidate`); before the remote
    /// description it is kept and applied with it.
    pub fn add_ice_candidate(&mut self, candidate: IceCandidate) -> Result<(), SessionError> {
        check_candidate(&candidate)?;
        if self.negotiated.is_none() {
            if self.pending_remote.len() >= MAX_REMOTE_CANDIDATES {
                return Err(too_many(&candidate));
            }
            self.pending_remote.push(candidate);
            return Ok(());
        }
        self.apply_candidate(candidate)
    }

    fn apply_candidate(&mut self, c: IceCandidate) -> Result<(), SessionError> {
        if self.transport.remote_candidates() >= MAX_REMOTE_CANDIDATES {
            return Err(too_many(&c));
        }
        if c.candidate
            .split_ascii_whitespace()
            .nth(4)
            .is_some_and(|a| a.ends_with(".local"))
        {
            // An mDNS name: we do not resolve them; the peer's checks still reach us
            // (peer-reflexive), as with browsers that hide their addresses.
            tracing::debug!("mDNS candidate not resolved: {}", c.candidate);
            return Ok(());
        }
        self.transport
            .add_remote_candidate(&c.candidate)
            .map_err(|e| SessionError::InvalidCandidate {
                candidate: c.candidate.clone(),
                reason: e.to_string(),
            })?;
        self.states.checking = true;
        self.states.maybe_connecting();
        Ok(())
    }

    /// A datagram arrived on one of our sockets.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) {
        self.handle_input(now, local, peer, data, false);
    }

    /// A frame arrived on an ICE-TCP connection from `peer` to our listener `local`.
    pub fn handle_tcp_frame(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) {
        self.handle_input(now, local, peer, data, true);
    }

    fn handle_input(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
        tcp: bool,
    ) {
        if !plausible_datagram(data) {
            self.discards.datagrams += 1;
            tracing::debug!(%peer, len = data.len(), "datagram of no known protocol dropped");
            return;
        }
        if !tcp {
            let handled = self.with_gathering(|g, cx| g.handle(now, local, peer, data, cx));
            if let Some(relayed) = handled {
                for (relayed_local, from, bytes) in relayed {
                    self.demux(now, relayed_local, from, &bytes, false);
                }
                self.pump(now);
                return;
            }
        }
        self.demux(now, local, peer, data, tcp);
        self.pump(now);
    }

    /// RFC 7983: STUN to ICE; DTLS and SRTP only from addresses ICE validated.
    fn demux(&mut self, now: Instant, local: SocketAddr, peer: SocketAddr, data: &[u8], tcp: bool) {
        match data[0] {
            0..=3 => {
                if let Err(e) = self.transport.handle_stun(now, local, peer, data, tcp) {
                    self.discards.stun += 1;
                    tracing::debug!(%peer, "STUN refused: {e}");
                }
            }
            _ if !self.transport.is_valid_peer(now, local, peer, tcp) => {
                self.discards.unknown_source += 1;
                tracing::trace!(%peer, "datagram from an address ICE did not validate");
            }
            20..=63 => {
                if self.states.dtls == DtlsConnectionState::New {
                    self.states.set_dtls(DtlsConnectionState::Connecting);
                }
                if let Err(e) = self.transport.handle_dtls(now, data) {
                    self.discards.dtls += 1;
                    tracing::debug!(%peer, "DTLS refused: {e}");
                }
            }
            128..=191 if self.transport.is_secure() => {
                if (192..=223).contains(&data[1]) {
                    self.media
                        .handle_rtcp(now, data, &mut self.transport, &mut self.states);
                } else {
                    self.media.handle_rtp(now, data, &mut self.transport);
                }
            }
            _ => {
                self.discards.datagrams += 1;
            }
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(data) = self.data.as_mut() {
            // Data-channel messages sent since the last call, bundled.
            data.flush_pending(self.now);
            self.drive_data(self.now);
        }
        loop {
            if let Some(t) = self.gathering.transmits.pop_front() {
                return Some(t);
            }
            let t = self.transport.poll_transmit()?;
            if t.tcp {
                return Some(t);
            }
            // From our relayed candidate: through the TURN server.
            if self.gathering.relay(self.now, t.local, t.peer, &t.data) {
                continue;
            }
            return Some(t);
        }
    }

    /// When `handle_timeout` should be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let media_timeout = self.states.media_deadline(self.config.media_timeout);
        let dtls = self
            .states
            .ice_connected_at
            .map(|t| t + self.config.dtls_timeout);
        [
            self.transport.poll_timeout(),
            self.gathering.poll_timeout(),
            self.media.poll_timeout(),
            self.data.as_ref().and_then(DataChannels::poll_timeout),
            media_timeout,
            dtls,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Time advanced.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.transport.handle_timeout(now);
        let relayed = self.with_gathering(|g, cx| g.handle_timeout(now, cx));
        for (local, from, bytes) in relayed {
            self.demux(now, local, from, &bytes, false);
        }
        self.media.handle_timeout(now, &mut self.transport);
        if let Some(data) = self.data.as_mut() {
            data.handle_timeout(now);
        }
        self.states
            .check_media_timeout(now, self.config.media_timeout);
        if self
            .states
            .ice_connected_at
            .is_some_and(|t| t + self.config.dtls_timeout <= now)
        {
            self.states.fail(
                "DTLS handshake did not complete after ICE connected: the peer's \
                 certificate does not match the SDP fingerprint, or DTLS is blocked",
            );
        }
        self.pump(now);
    }

    /// Turns what the transport reported into Kurento's states.
    fn pump(&mut self, now: Instant) {
        self.now = now;
        while let Some(event) = self.transport.poll_event() {
            self.on_transport_event(event, now);
        }
        self.drive_data(now);
    }

    /// Moves SCTP packets between DTLS and the data channels, and their events out.
    fn drive_data(&mut self, now: Instant) {
        let Some(data) = self.data.as_mut() else {
            // Application data with no data channels negotiated: nowhere to go.
            while self.transport.poll_application_data().is_some() {
                self.discards.dtls += 1;
            }
            return;
        };
        while let Some(packet) = self.transport.poll_application_data() {
            data.handle_packet(now, packet);
        }
        while let Some(packet) = data.poll_transmit() {
            if !self.transport.send_application_data(now, &packet) {
                tracing::trace!("SCTP packet not sent: DTLS is not up");
            }
        }
        while let Some(event) = data.poll_event() {
            self.states.push(match event {
                ChannelEvent::Opened { id, label } => SessionEvent::DataChannelOpened {
                    channel_id: id,
                    label: label.to_string(),
                },
                ChannelEvent::Closed { id } => SessionEvent::DataChannelClosed { channel_id: id },
            });
        }
    }

    fn data_channels(&mut self) -> Result<&mut DataChannels, SessionError> {
        self.data
            .as_mut()
            .ok_or(SessionError::DataChannel(DataChannelError::NotNegotiated))
    }

    /// Creates a data channel to the peer (Kurento's `createDataChannel`) and returns
    /// its id; DataChannelOpened follows the peer's acknowledgement. Needs a negotiated
    /// data-channel section.
    pub fn create_data_channel(
        &mut self,
        now: Instant,
        label: &str,
        init: &DataChannelInit,
    ) -> Result<u16, SessionError> {
        let id = self.data_channels()?.create(now, label, init)?;
        self.pump(now);
        Ok(id)
    }

    /// Closes data channel `id` (Kurento's `closeDataChannel`); DataChannelClosed
    /// follows.
    pub fn close_data_channel(&mut self, now: Instant, id: u16) -> Result<(), SessionError> {
        self.data_channels()?.close(now, id)?;
        self.pump(now);
        Ok(())
    }

    /// Sends a message on data channel `id`.
    pub fn send_data(
        &mut self,
        now: Instant,
        id: u16,
        binary: bool,
        data: &bytes::Bytes,
    ) -> Result<(), SessionError> {
        let result = self.data_channels()?.send(now, id, binary, data);
        self.pump(now);
        result
    }

    /// Sends a message on the channel labelled `label` — channel `id` when it has that
    /// label, else the first such; one is created (ordered, reliable) when none has it.
    /// Without a label: channel `id`, else the first open one.
    pub fn send_data_on(
        &mut self,
        now: Instant,
        id: Option<u16>,
        label: Option<&str>,
        binary: bool,
        data: &bytes::Bytes,
    ) -> Result<(), SessionError> {
        let channels = self.data_channels()?;
        let id = match (channels.channel_for(id, label), label) {
            (Some(id), _) => id,
            (None, Some(label)) => channels.create(now, label, &DataChannelInit::default())?,
            (None, None) => return Err(DataChannelError::NoneOpen.into()),
        };
        self.send_data(now, id, binary, data)
    }

    /// The next data-channel message received.
    pub fn poll_data(&mut self) -> Option<DataMessage> {
        let now = self.now;
        let message = self.data.as_mut()?.poll_message(now);
        // Reading may have freed receive window: the SACK saying so goes out.
        self.drive_data(now);
        message
    }

    /// Counters of the data channels (zero without them).
    pub fn data_channel_stats(&self) -> DataChannelStats {
        self.data
            .as_ref()
            .map_or_else(DataChannelStats::default, DataChannels::stats)
    }

    fn on_transport_event(&mut self, event: TransportEvent, now: Instant) {
        if matches!(event, TransportEvent::DtlsConnected) {
            if let Some(rtt) = self.transport.pair_rtt(now) {
                self.media.seed_rtt(rtt);
            }
        }
        let s = &mut self.states;
        match event {
            TransportEvent::IceChecking => {
                s.checking = true;
                s.maybe_connecting();
            }
            TransportEvent::IceConnected => {
                // Only after a disconnection: the first time, Connected waits for
                // NewCandidatePairSelected, which Kurento announces first.
                if s.pair_announced && s.ice == IceComponentState::Connecting {
                    s.set_ice(IceComponentState::Connected);
                    if self.gathering.done {
                        s.set_ice(IceComponentState::Ready);
                    }
                }
            }
            TransportEvent::PairSelected { local, remote } => {
                if s.dtls != DtlsConnectionState::Connected {
                    s.ice_connected_at.get_or_insert(now);
                }
                s.pair_announced = true;
                s.push(SessionEvent::NewCandidatePairSelected(IceCandidatePair {
                    stream_id: "1".to_owned(),
                    component_id: 1,
                    local_candidate: local,
                    remote_candidate: remote,
                }));
                if matches!(
                    s.ice,
                    IceComponentState::Connecting | IceComponentState::Gathering
                ) {
                    s.set_ice(IceComponentState::Connected);
                }
                if self.gathering.done && s.ice == IceComponentState::Connected {
                    s.set_ice(IceComponentState::Ready);
                }
            }
            TransportEvent::IceDisconnected => s.set_ice(IceComponentState::Connecting),
            TransportEvent::IceFailed => {
                s.set_ice(IceComponentState::Failed);
                s.set_connection(ConnectionState::Disconnected);
                s.fail(if s.connection_seen {
                    "the connection failed: ICE consent lost (the peer stopped answering)"
                } else {
                    "ICE failed: no candidate pair works"
                });
            }
            TransportEvent::DtlsConnecting => s.set_dtls(DtlsConnectionState::Connecting),
            TransportEvent::DtlsConnected => {
                s.ice_connected_at = None;
                s.set_dtls(DtlsConnectionState::Connecting);
                s.set_dtls(DtlsConnectionState::Connected);
                s.set_connection(ConnectionState::Connected);
                s.connection_seen = true;
                if let Some(data) = self.data.as_mut() {
                    data.start(now);
                }
            }
            TransportEvent::DtlsFailed(reason) => s.fail(&reason),
            TransportEvent::DtlsClosed => {
                s.set_dtls(DtlsConnectionState::Closed);
                s.set_connection(ConnectionState::Disconnected);
                if let Some(data) = self.data.as_mut() {
                    data.shutdown(now);
                }
            }
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.states.events.pop_front()
    }

    /// The next RTP packet received from the peer.
    pub fn poll_media(&mut self) -> Option<MediaPacket> {
        self.media.out.pop_front()
    }

    /// What the session refused so far.
    pub fn discards(&self) -> Discards {
        let mut d = self.discards;
        self.media.fill_discards(&mut d);
        d.dtls += self.transport.application_data_dropped;
        d
    }

    /// Current states: ICE component, connection, media.
    pub fn states(&self) -> (IceComponentState, ConnectionState, MediaState) {
        (self.states.ice, self.states.connection, self.states.media)
    }

    /// Sends an RTP packet of `codec` to the peer on our `kind` track, rewritten to our
    /// SSRC, the payload type negotiated for that codec and a continuous sequence. The
    /// header is rewritten in the buffer itself when no one else holds it (no copy).
    pub fn send_rtp(
        &mut self,
        now: Instant,
        kind: MediaKind,
        codec_name: &str,
        rtp: Bytes,
    ) -> Result<(), SessionError> {
        let result = if self.states.connection != ConnectionState::Connected {
            Err(SessionError::Media("not connected yet".into()))
        } else {
            self.media
                .send(now, kind, codec_name, rtp, &mut self.transport)
        };
        if result.is_err() {
            self.discards.outgoing_media += 1;
        }
        result
    }

    /// Asks the peer for a keyframe of the `kind` it sends us (PLI).
    pub fn request_keyframe(&mut self, now: Instant, kind: MediaKind) {
        self.media.request_keyframe(now, kind, &mut self.transport);
    }

    /// RTP statistics (W3C webrtc-stats names) and discard counters.
    pub fn stats(&mut self, _now: Instant) -> crate::stats::SessionStats {
        let d = self.discards();
        crate::stats::SessionStats {
            inbound: self.media.inbound_stats(),
            outbound: self.media.outbound_stats(),
            datagrams_discarded: d.datagrams + d.stun + d.dtls + d.unknown_source + d.rtcp,
            srtp_packets_discarded: d.srtp,
            remote_estimated_bitrate: self.media.remote_remb,
            srtp_cipher: self.transport.srtp_cipher().map(str::to_owned),
            media_not_sent: d.outgoing_media,
            discarded: d,
            turn_datagrams_sent: self.gathering.turn.as_ref().map_or(0, |t| t.relayed_out),
            turn_datagrams_received: self.gathering.turn.as_ref().map_or(0, |t| t.relayed_in),
        }
    }

    /// Closes the session (DTLS close_notify, ICE stops).
    pub fn close(&mut self) {
        let now = self.now;
        if let Some(data) = self.data.as_mut() {
            data.shutdown(now);
        }
        self.drive_data(now);
        self.transport.close(self.now);
    }
}

fn too_many(c: &IceCandidate) -> SessionError {
    SessionError::InvalidCandidate {
        candidate: c.candidate.clone(),
        reason: format!("more than {MAX_REMOTE_CANDIDATES} remote candidates"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_are_recognized() {
        use crate::media::is_keyframe;
        let vp8_keyframe = |p: &[u8]| is_keyframe(crate::codec::VP8, p);
        let h264_keyframe = |p: &[u8]| is_keyframe(crate::codec::H264, p);
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
