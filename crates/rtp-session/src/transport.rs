//! The bundled transport of a session: ICE (rtc-ice's sans-IO agent), DTLS (rtc-dtls's
//! sans-IO endpoint) and the SRTP contexts keyed from the DTLS handshake (rtc-srtp).
//!
//! Composed here rather than taken from `RTCPeerConnection` so the media path is ours:
//! SRTP is applied to the bytes the session hands over, with no interceptor chain, no
//! second parse and no copy beyond the cipher's output. It knows nothing of codecs or
//! streams; the session decides what to decrypt and what to send.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use rtc::crypto::{HashAlgorithm, RTCCryptoProvider};
use rtc::dtls::config::{ClientAuthType, ConfigBuilder, ExtendedMasterSecretType, HandshakeConfig};
use rtc::dtls::crypto::Certificate;
use rtc::dtls::endpoint::{Endpoint, EndpointEvent};
use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::ice::agent::agent_config::AgentConfig;
use rtc::ice::agent::{Agent, Event as IceEvent};
use rtc::ice::candidate::{unmarshal_candidate, Candidate, CandidateType};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::state::ConnectionState as IceState;
use rtc::sansio::Protocol;
use rtc::shared::error::Error as ShError;
use rtc::shared::{TransportContext, TransportProtocol};
use rtc::srtp::context::Context as SrtpContext;
use rtc::srtp::protection_profile::ProtectionProfile;

use crate::negotiate::DtlsRole;
use crate::replay::Window64;
use crate::{SessionError, SrtpProfile, Transmit};

/// The DTLS endpoint is "tunnelled" over ICE: one connection, keyed by this placeholder;
/// its datagrams leave on whatever pair ICE selected.
const DTLS_PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(127, 0, 0, 1),
    9,
));

/// Distinct unsignalled SSRCs the session may admit once their packets authenticate;
/// beyond that, packets of new SSRCs are dropped. (The SRTP context keeps an SSRC's
/// state only once a packet of it authenticates: see vendor/rtc-srtp/MEDIAFLOW.md.)
pub(crate) const MAX_UNSIGNALLED_SSRCS: usize = 16;

/// What the transport reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TransportEvent {
    /// Connectivity checks run.
    IceChecking,
    /// ICE works again, or for the first time (a pair is or will be selected).
    IceConnected,
    /// Checks on the selected pair fail for a while.
    IceDisconnected,
    /// ICE gave up.
    IceFailed,
    /// A (new) pair carries the media: our candidate and the peer's, as SDP lines.
    PairSelected {
        /// Our candidate, `candidate:...`.
        local: String,
        /// The peer's candidate, `candidate:...`.
        remote: String,
    },
    /// The DTLS handshake started.
    DtlsConnecting,
    /// Keys are exchanged: SRTP runs.
    DtlsConnected,
    /// The handshake failed.
    DtlsFailed(String),
    /// The peer closed DTLS (close_notify).
    DtlsClosed,
}

/// Our DTLS certificate and its SHA-256 fingerprint: one per process, as Kurento has one
/// per server; generating an ECDSA key per session costs more than the rest of setup.
struct Identity {
    certificate: Certificate,
    fingerprint: String,
}

fn identity(crypto: &Arc<dyn RTCCryptoProvider>) -> Result<&'static Identity, SessionError> {
    static IDENTITY: OnceLock<Result<Identity, String>> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let certificate =
                Certificate::generate_self_signed(vec!["mediaflow".to_owned()], crypto.crypto())
                    .map_err(|e| e.to_string())?;
            let der = certificate
                .certificate
                .first()
                .ok_or("certificate without DER")?;
            let hash = crypto
                .crypto()
                .hash(HashAlgorithm::Sha256, der)
                .map_err(|e| e.to_string())?;
            let fingerprint = hash
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":");
            Ok(Identity {
                certificate,
                fingerprint,
            })
        })
        .as_ref()
        .map_err(|e| SessionError::Stack(format!("DTLS certificate: {e}")))
}

/// The crypto provider every session shares.
pub(crate) fn crypto() -> Result<Arc<dyn RTCCryptoProvider>, SessionError> {
    static PROVIDER: OnceLock<Result<Arc<dyn RTCCryptoProvider>, String>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| rtc::crypto::default_provider().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| SessionError::Stack(format!("crypto provider: {e}")))
}

/// Where media goes: the selected pair.
#[derive(Clone, Debug)]
struct Path {
    local: SocketAddr,
    remote: SocketAddr,
    tcp: bool,
    /// Our candidate's line, as announced.
    local_line: String,
    /// The peer's candidate was peer-reflexive (learned from its checks) when selected.
    remote_prflx: bool,
}

/// The DTLS side: the endpoint until the handshake is done, then the SRTP contexts.
struct Dtls {
    endpoint: Endpoint,
    role: DtlsRole,
    /// The client's handshake config, used once the pair is selected.
    client_config: Option<Arc<HandshakeConfig>>,
    connected: bool,
    closed: bool,
}

pub(crate) struct Srtp {
    local: SrtpContext,
    remote: SrtpContext,
    profile: ProtectionProfile,
    /// Where our SRTP packets are written, each split off as its transmit's bytes: once
    /// the runtime has sent (and dropped) them, the buffer is reused in place, where a
    /// buffer per packet was one allocation per forwarded packet. Allocated at the
    /// first RTP we send.
    out: BytesMut,
}

/// The size of [`Srtp::out`]: the packets one session sends in one worker turn (a dozen
/// video packets) before a second buffer is needed. Each turn writes from the buffer's
/// front again (see `Srtp::protect`), so only what a turn sends is touched and stays
/// in the cache; without that, 16 KiB each had 100 sessions cycle through 1.6 MB, and
/// 4 KiB (3 video packets) took two allocations whenever a turn sent more (0.5 a packet
/// each at 20,000 packets/s, `perf probe` on `malloc`).
const SRTP_OUT_BUFFER: usize = 16 * 1024;

impl Srtp {
    /// Our context from our master key and salt, the peer's from its.
    pub(crate) fn new(
        local_key: &[u8],
        local_salt: &[u8],
        remote_key: &[u8],
        remote_salt: &[u8],
        profile: ProtectionProfile,
        crypto: &dyn rtc::crypto::RTCCrypto,
    ) -> Result<Srtp, SessionError> {
        let local =
            SrtpContext::new(local_key, local_salt, profile, None, None, crypto).map_err(err)?;
        let remote = remote_context(remote_key, remote_salt, profile, crypto)?;
        Ok(Srtp {
            local,
            remote,
            profile,
            out: BytesMut::new(),
        })
    }

    /// Unprotects an SRTP packet of a signalled (or already admitted) SSRC.
    pub(crate) fn decrypt_rtp(&mut self, data: &[u8]) -> Option<BytesMut> {
        let header = srtp_header(data)?;
        self.remote.decrypt_rtp_with_header(data, &header).ok()
    }

    /// Unprotects an SRTCP compound.
    pub(crate) fn decrypt_rtcp(&mut self, data: &[u8]) -> Option<BytesMut> {
        self.remote.decrypt_rtcp(data).ok()
    }

    /// Protects an RTP packet or an RTCP compound of ours.
    pub(crate) fn protect(&mut self, plain: &[u8], rtcp: bool) -> Option<BytesMut> {
        let protected = if rtcp {
            self.local.encrypt_rtcp(plain)
        } else {
            // Our header, not rtc-rtp's parse (see `srtp_header`): the packets we send
            // carry the extensions we forward.
            let header = srtp_header(plain)?;
            // What was split off before has usually been sent and dropped (the runtime
            // copies each transmit out at the end of a turn): back to the front. While
            // some is still held, packets go after it, and a new 16 KiB buffer is taken
            // only when the rest does not fit.
            if self.out.capacity() == 0 {
                self.out = BytesMut::with_capacity(SRTP_OUT_BUFFER);
            } else {
                let _ = self.out.try_reclaim(SRTP_OUT_BUFFER);
            }
            self.local
                .encrypt_rtp_with_header_into(plain, &header, &mut self.out)
                .map(|()| self.out.split())
        };
        protected
            .map_err(|e| tracing::debug!(rtcp, "not encrypted: {e}"))
            .ok()
    }
}

/// ICE + DTLS + SRTP of one session.
pub(crate) struct Transport {
    agent: Agent,
    crypto: Arc<dyn RTCCryptoProvider>,
    fingerprint: &'static str,
    srtp_profiles: Vec<SrtpProfile>,
    dtls: Option<Dtls>,
    srtp: Option<Srtp>,
    path: Option<Path>,
    events: VecDeque<TransportEvent>,
    transmits: VecDeque<Transmit>,
    started: bool,
    closed: bool,
    /// When the agent's timers last ran: connected, they run at most every
    /// `CONNECTED_ICE_INTERVAL` (see there).
    ice_ticked: Option<Instant>,
    /// The peer's candidates as it signalled them, by address: the selected pair names
    /// them in those words, not re-serialised (extensions such as `generation` kept).
    remote_lines: Vec<(SocketAddr, String)>,
    /// DTLS application data received (SCTP packets), for the data channels.
    application_data: VecDeque<BytesMut>,
    /// Application data records dropped past `MAX_APPLICATION_DATA`.
    pub(crate) application_data_dropped: u64,
    /// The (local, peer, tcp) the agent last found valid for media, and when (see
    /// `is_valid_peer`).
    valid_peer: Option<(SocketAddr, SocketAddr, bool, Instant)>,
}

/// How long a peer address the agent validated is taken for media without asking it
/// again. The agent scans its local and remote candidates for every datagram (1.2 % of
/// a forwarding engine's CPU, `perf`, 100 sessions); what it does besides answering is
/// note when the peer was last heard, for timers of seconds (consent, disconnection).
const VALID_PEER_REFRESH: Duration = Duration::from_millis(100);

/// DTLS application data held for the data channels, at most; past it (the session
/// drains after every datagram, so only a flood gets there) records are dropped.
const MAX_APPLICATION_DATA: usize = 256;

/// rtc-ice's agent asks to run every 200 ms whatever its state (its interval only goes
/// down from the check interval), which was most of an idle session's CPU. Once a pair
/// is selected its work is the consent check (every `KEEPALIVE`) and noticing that the
/// peer went quiet (disconnected after `2 * KEEPALIVE` without a datagram from it): a
/// run every `KEEPALIVE` sends each check on time and notices within `3 * KEEPALIVE`.
/// Each run touches the whole session, so an idle session wakes once per check, and its
/// RTCP goes in the same wake-up (`Media::handle_timeout`). Checks answered and the
/// peer's own checks do not wait for it (they are handled as they arrive), and an agent
/// that lost its pair runs at its own pace again.
const CONNECTED_ICE_INTERVAL: Duration = KEEPALIVE;
/// ICE keepalive / consent check interval on the selected pair.
const KEEPALIVE: Duration = Duration::from_secs(4);

fn err(e: impl std::fmt::Display) -> SessionError {
    SessionError::Stack(e.to_string())
}

fn protocol(tcp: bool) -> TransportProtocol {
    if tcp {
        TransportProtocol::TCP
    } else {
        TransportProtocol::UDP
    }
}

/// Where a datagram came from or goes, in the stack's terms.
fn context(local: SocketAddr, peer: SocketAddr, tcp: bool) -> TransportContext {
    TransportContext {
        local_addr: local,
        peer_addr: peer,
        ecn: None,
        transport_protocol: protocol(tcp),
    }
}

/// A received datagram (or ICE-TCP frame) in the input form of rtc's sans-IO parts.
pub(crate) fn tagged(
    now: Instant,
    local: SocketAddr,
    peer: SocketAddr,
    data: &[u8],
    tcp: bool,
) -> rtc::shared::TaggedBytesMut {
    rtc::shared::TaggedBytesMut {
        now,
        transport: context(local, peer, tcp),
        message: BytesMut::from(data),
    }
}

/// `candidate:...` as signalled. rtc-ice writes ` raddr  rport 0` for a peer-reflexive
/// candidate learned from a check (it has no related address): left out.
pub(crate) fn candidate_line(c: &Candidate) -> String {
    let line = format!("candidate:{}", c.marshal());
    match line.strip_suffix(" raddr  rport 0") {
        Some(trimmed) => trimmed.to_owned(),
        None => line,
    }
}

impl Transport {
    /// A transport with fresh ICE credentials and nothing started.
    pub(crate) fn new(now: Instant, srtp_profiles: Vec<SrtpProfile>) -> Result<Self, SessionError> {
        if srtp_profiles.is_empty() {
            return Err(SessionError::Stack(
                "no SRTP protection profile configured".into(),
            ));
        }
        let crypto = crypto()?;
        let fingerprint = identity(&crypto)?.fingerprint.as_str();
        let config = AgentConfig {
            // A server has no business multicasting on the LAN; peers' `.local` names
            // cannot be resolved, their checks still arrive (peer-reflexive).
            multicast_dns_mode: MulticastDnsMode::Disabled,
            // A peer-reflexive remote is most often the peer's host candidate whose
            // trickle is still on its way: nominate it at once, as libnice and libwebrtc
            // do (rtc-ice waits 1 s by default). `None` would mean the default.
            host_acceptance_min_wait: Some(Duration::ZERO),
            prflx_acceptance_min_wait: Some(Duration::ZERO),
            // Consent freshness (RFC 7675) every 4 s rather than rtc-ice's 2 s: an idle
            // session's cost is mostly the datagrams it sends. The peer's own checks
            // (Chromium and rtc-ice every 2 s, ours every 4 s) keep arriving well within
            // the disconnection timeout, raised to 8 s to match.
            keepalive_interval: Some(KEEPALIVE),
            disconnected_timeout: Some(2 * KEEPALIVE),
            ..Default::default()
        };
        let agent = Agent::new(now, Arc::new(config), crypto.clone()).map_err(err)?;
        Ok(Transport {
            agent,
            crypto,
            fingerprint,
            srtp_profiles,
            dtls: None,
            srtp: None,
            path: None,
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            started: false,
            closed: false,
            ice_ticked: None,
            remote_lines: Vec::new(),
            application_data: VecDeque::new(),
            application_data_dropped: 0,
            valid_peer: None,
        })
    }

    /// Our ICE ufrag and pwd.
    pub(crate) fn local_credentials(&self) -> (String, String) {
        let c = self.agent.get_local_credentials();
        (c.ufrag.clone(), c.pwd.clone())
    }

    /// SHA-256 fingerprint of our certificate, upper-case hex pairs joined by `:`.
    pub(crate) fn fingerprint(&self) -> &'static str {
        self.fingerprint
    }

    /// Adds one of our candidates; returns its line, or `None` when ICE keeps it out.
    pub(crate) fn add_local_candidate(
        &mut self,
        candidate: Candidate,
    ) -> Result<Option<String>, SessionError> {
        let line = candidate_line(&candidate);
        Ok(self
            .agent
            .add_local_candidate(candidate)
            .map_err(err)?
            .then_some(line))
    }

    /// Adds a candidate the peer signalled (`candidate:...`, with or without `a=`).
    pub(crate) fn add_remote_candidate(&mut self, line: &str) -> Result<(), SessionError> {
        let body = line.trim();
        let body = body.strip_prefix("a=").unwrap_or(body);
        let body = body.strip_prefix("candidate:").unwrap_or(body);
        let candidate = unmarshal_candidate(body).map_err(err)?;
        let addr = candidate.addr();
        self.agent.add_remote_candidate(candidate).map_err(err)?;
        let line = format!("candidate:{body}");
        if let Some(path) = self
            .path
            .as_mut()
            .filter(|p| p.remote_prflx && p.remote == addr)
        {
            // The pair in use was learned from the peer's checks before this trickle
            // arrived: it is this candidate, named now as the peer named it.
            path.remote_prflx = false;
            self.events.push_back(TransportEvent::PairSelected {
                local: path.local_line.clone(),
                remote: line.clone(),
            });
        }
        self.remote_lines.push((addr, line));
        Ok(())
    }

    /// Starts (or, after an ICE restart, restarts) the checks against the peer's
    /// credentials, and prepares DTLS in `role` against the peer's fingerprint.
    pub(crate) fn start(
        &mut self,
        now: Instant,
        controlling: bool,
        remote_ufrag: String,
        remote_pwd: String,
        role: DtlsRole,
        remote_fingerprint: (String, String),
    ) -> Result<(), SessionError> {
        if self.started {
            self.agent
                .set_remote_credentials(remote_ufrag, remote_pwd)
                .map_err(err)?;
        } else {
            self.agent
                .start_connectivity_checks(now, controlling, remote_ufrag, remote_pwd)
                .map_err(err)?;
            self.started = true;
        }
        if self.dtls.is_none() {
            self.dtls = Some(self.prepare_dtls(role, remote_fingerprint)?);
        }
        self.pump(now);
        Ok(())
    }

    /// The round trip of the selected pair's last answered check, when there is one.
    pub(crate) fn pair_rtt(&self, now: Instant) -> Option<Duration> {
        let (local, remote) = self.agent.get_selected_candidate_pair()?;
        let (local, remote) = (local.id(), remote.id());
        self.agent
            .get_candidate_pairs_stats(now)
            .into_iter()
            .find(|p| p.local_candidate_id == local && p.remote_candidate_id == remote)
            .filter(|p| p.responses_received > 0)
            .map(|p| Duration::from_secs_f64(p.current_round_trip_time.clamp(0.0, 10.0)))
    }

    /// The DTLS role in use, and whether the handshake is done (None before the first
    /// negotiation). A renegotiation keeps both, whatever its `a=setup` says.
    pub(crate) fn dtls_state(&self) -> Option<(DtlsRole, bool)> {
        self.dtls
            .as_ref()
            .map(|d| (d.role, d.connected && !d.closed))
    }

    /// Fresh credentials (ICE restart): the agent forgets pairs and candidates; DTLS and
    /// SRTP keep running over whatever pair comes next.
    pub(crate) fn restart(&mut self, now: Instant) -> Result<(), SessionError> {
        self.agent
            .restart(now, String::new(), String::new(), false)
            .map_err(err)?;
        self.started = false;
        self.remote_lines.clear();
        self.valid_peer = None;
        Ok(())
    }

    fn prepare_dtls(
        &self,
        role: DtlsRole,
        remote_fingerprint: (String, String),
    ) -> Result<Dtls, SessionError> {
        let (algorithm, expected) = remote_fingerprint;
        if !algorithm.eq_ignore_ascii_case("sha-256") {
            return Err(SessionError::InvalidSdp(format!(
                "fingerprint algorithm {algorithm} is not supported (sha-256 is)"
            )));
        }
        let expected = expected.to_ascii_lowercase();
        let hasher = self.crypto.clone();
        let verify: rtc::dtls::config::VerifyPeerCertificateFn = Arc::new(
            move |certs: &[Vec<u8>], _chains: &[_]| -> Result<(), ShError> {
                let leaf = certs.first().ok_or(ShError::ErrNoCertificates)?;
                let hash = hasher
                    .crypto()
                    .hash(HashAlgorithm::Sha256, leaf)
                    .map_err(|e| ShError::Other(e.to_string()))?;
                let got = hash
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":");
                if got == expected {
                    Ok(())
                } else {
                    Err(ShError::Other(
                        "the peer's certificate does not match the SDP fingerprint".into(),
                    ))
                }
            },
        );
        let profiles: Vec<SrtpProtectionProfile> =
            self.srtp_profiles.iter().map(|p| p.rtc()).collect();
        let identity = identity(&self.crypto)?;
        let config = Arc::new(
            ConfigBuilder::default()
                .with_crypto_provider(self.crypto.clone())
                .with_certificates(vec![identity.certificate.clone()])
                .with_srtp_protection_profiles(profiles)
                .with_client_auth(ClientAuthType::RequireAnyClientCert)
                // The certificate is self-signed: the fingerprint check above is the
                // verification.
                .with_insecure_skip_verify(true)
                .with_verify_peer_certificate(Some(verify))
                .with_extended_master_secret(ExtendedMasterSecretType::Require)
                .build(role == DtlsRole::Client, None)
                .map_err(err)?,
        );
        let (endpoint, client_config) = match role {
            DtlsRole::Client => (
                Endpoint::new(DTLS_PEER, TransportProtocol::UDP, None),
                Some(config),
            ),
            DtlsRole::Server => (
                Endpoint::new(DTLS_PEER, TransportProtocol::UDP, Some(config)),
                None,
            ),
        };
        Ok(Dtls {
            endpoint,
            role,
            client_config,
            connected: false,
            closed: false,
        })
    }

    /// A STUN message from `peer` on our socket (or relayed address) `local`.
    pub(crate) fn handle_stun(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
        tcp: bool,
    ) -> Result<(), SessionError> {
        let result = self
            .agent
            .handle_read(tagged(now, local, peer, data, tcp))
            .map_err(err);
        self.pump(now);
        result
    }

    /// True when `peer` passed ICE checks (media and DTLS are taken only from there).
    pub(crate) fn is_valid_peer(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        tcp: bool,
    ) -> bool {
        if let Some((l, p, t, at)) = self.valid_peer {
            if (l, p, t) == (local, peer, tcp)
                && now.saturating_duration_since(at) < VALID_PEER_REFRESH
            {
                return true;
            }
        }
        let valid = self
            .agent
            .is_valid_non_stun_traffic(now, context(local, peer, tcp));
        if valid {
            self.valid_peer = Some((local, peer, tcp, now));
        }
        valid
    }

    /// A DTLS record from the peer.
    pub(crate) fn handle_dtls(&mut self, now: Instant, data: &[u8]) -> Result<(), SessionError> {
        let Some(dtls) = self.dtls.as_mut().filter(|d| !d.closed) else {
            return Err(SessionError::WrongState("DTLS is not started".into()));
        };
        let events = dtls
            .endpoint
            .read(now, DTLS_PEER, None, BytesMut::from(data));
        let events = match events {
            Ok(events) => events,
            Err(e) => {
                if !dtls.connected {
                    let reason = format!("DTLS handshake failed: {e}");
                    dtls.closed = true;
                    self.events.push_back(TransportEvent::DtlsFailed(reason));
                }
                self.pump(now);
                return Err(err(e));
            }
        };
        for event in events {
            match event {
                EndpointEvent::HandshakeComplete => self.on_handshake(now)?,
                EndpointEvent::PeerClosed => {
                    if let Some(d) = self.dtls.as_mut() {
                        d.closed = true;
                    }
                    self.events.push_back(TransportEvent::DtlsClosed);
                }
                EndpointEvent::ApplicationData(data)
                    if self.application_data.len() < MAX_APPLICATION_DATA =>
                {
                    self.application_data.push_back(data);
                }
                EndpointEvent::ApplicationData(_) => self.application_data_dropped += 1,
                _ => {}
            }
        }
        self.pump(now);
        Ok(())
    }

    fn on_handshake(&mut self, _now: Instant) -> Result<(), SessionError> {
        let Some(dtls) = self.dtls.as_mut() else {
            return Ok(());
        };
        let state = dtls
            .endpoint
            .get_connection_state(DTLS_PEER)
            .ok_or_else(|| SessionError::Stack("DTLS state gone after the handshake".into()))?;
        let profile = match state.srtp_protection_profile() {
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => ProtectionProfile::AeadAes128Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80 => {
                ProtectionProfile::Aes128CmHmacSha1_80
            }
            other => {
                return Err(SessionError::Stack(format!(
                    "the peer chose SRTP profile {other:?}, which we did not offer"
                )))
            }
        };
        let mut config = rtc::srtp::config::Config {
            profile,
            ..Default::default()
        };
        let material = state
            .export_keying_material(
                rtc::srtp::config::LABEL_EXTRACTOR_DTLS_SRTP,
                &[],
                config.keying_material_len(),
            )
            .map_err(err)?;
        config
            .set_session_keys_from_keying_material(material.as_ref(), state.is_client())
            .map_err(err)?;
        let keys = &config.keys;
        let srtp = Srtp::new(
            &keys.local_master_key,
            &keys.local_master_salt,
            &keys.remote_master_key,
            &keys.remote_master_salt,
            profile,
            self.crypto.crypto(),
        )?;
        dtls.connected = true;
        self.srtp = Some(srtp);
        self.events.push_back(TransportEvent::DtlsConnected);
        Ok(())
    }

    /// The next DTLS application data received (an SCTP packet).
    pub(crate) fn poll_application_data(&mut self) -> Option<BytesMut> {
        self.application_data.pop_front()
    }

    /// Sends `data` (an SCTP packet) as DTLS application data on the selected pair.
    pub(crate) fn send_application_data(&mut self, now: Instant, data: &[u8]) -> bool {
        let Some(dtls) = self.dtls.as_mut().filter(|d| d.connected && !d.closed) else {
            return false;
        };
        if let Err(e) = dtls.endpoint.write(now, DTLS_PEER, data) {
            tracing::debug!("DTLS application data not sent: {e}");
            return false;
        }
        self.drain_dtls();
        true
    }

    /// The negotiated SRTP profile, W3C's spelling.
    pub(crate) fn srtp_cipher(&self) -> Option<&'static str> {
        self.srtp.as_ref().map(|s| match s.profile {
            ProtectionProfile::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
            ProtectionProfile::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
            ProtectionProfile::Aes128CmHmacSha1_32 => "SRTP_AES128_CM_HMAC_SHA1_32",
            _ => "SRTP_AES128_CM_HMAC_SHA1_80",
        })
    }

    fn send_protected(&mut self, plain: &[u8], rtcp: bool) -> bool {
        let (Some(srtp), Some(path)) = (self.srtp.as_mut(), self.path.as_ref()) else {
            return false;
        };
        match srtp.protect(plain, rtcp) {
            Some(data) => {
                self.transmits.push_back(transmit(path, data));
                true
            }
            None => false,
        }
    }

    /// How many candidates the peer gave (trickled or learned from its checks).
    pub(crate) fn remote_candidates(&self) -> usize {
        self.agent.get_remote_candidates().len()
    }

    /// The next datagram to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub(crate) fn poll_event(&mut self) -> Option<TransportEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` is due.
    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        let ice = if self.started && !self.closed {
            let at = self.agent.poll_timeout();
            match (at, self.paced_until()) {
                (Some(at), Some(floor)) => Some(at.max(floor)),
                (at, _) => at,
            }
        } else {
            None
        };
        // Connected, rtc-dtls arms no timer again (a lost last flight of ours is resent
        // when the peer repeats its own, on the read path): skip its lookup.
        let dtls = self
            .dtls
            .as_ref()
            .filter(|d| !d.closed && !d.connected)
            .and_then(|d| d.endpoint.poll_timeout(&DTLS_PEER));
        ice.into_iter().chain(dtls).min()
    }

    /// With a pair selected and ICE connected, the agent's next run is not before this.
    fn paced_until(&self) -> Option<Instant> {
        let connected = matches!(
            self.agent.state(),
            IceState::Connected | IceState::Completed
        );
        if self.path.is_some() && connected {
            self.ice_ticked.map(|t| t + CONNECTED_ICE_INTERVAL)
        } else {
            None
        }
    }

    /// Time advanced.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let paced = self.paced_until().is_some_and(|t| now < t);
        if self.started && !self.closed && !paced {
            if let Err(e) = self.agent.handle_timeout(now) {
                tracing::debug!("ICE timeout: {e}");
            }
            self.ice_ticked = Some(now);
        }
        if let Some(dtls) = self.dtls.as_mut().filter(|d| !d.closed && !d.connected) {
            let due = dtls
                .endpoint
                .poll_timeout(&DTLS_PEER)
                .is_some_and(|t| t <= now);
            if due {
                if let Err(e) = dtls.endpoint.handle_timeout(DTLS_PEER, now) {
                    tracing::debug!("DTLS timeout: {e}");
                }
            }
        }
        self.pump(now);
    }

    /// Moves what ICE and DTLS produced into our queues, following the agent's events.
    fn pump(&mut self, now: Instant) {
        loop {
            // ICE's own datagrams first: a binding response that made the peer select
            // must reach it before our ClientHello.
            while let Some(m) = self.agent.poll_write() {
                self.transmits.push_back(Transmit {
                    local: m.transport.local_addr,
                    peer: m.transport.peer_addr,
                    data: m.message,
                    tcp: m.transport.transport_protocol == TransportProtocol::TCP,
                });
            }
            let Some(event) = self.agent.poll_event() else {
                break;
            };
            match event.event {
                IceEvent::ConnectionStateChange(state) => {
                    let e = match state {
                        IceState::Checking => Some(TransportEvent::IceChecking),
                        IceState::Connected | IceState::Completed => {
                            Some(TransportEvent::IceConnected)
                        }
                        IceState::Disconnected => Some(TransportEvent::IceDisconnected),
                        IceState::Failed => Some(TransportEvent::IceFailed),
                        _ => None,
                    };
                    self.events.extend(e);
                }
                IceEvent::SelectedCandidatePairChange(local, remote) => {
                    let remote_line = self
                        .remote_lines
                        .iter()
                        .find(|(a, _)| *a == remote.addr())
                        .map_or_else(|| candidate_line(&remote), |(_, l)| l.clone());
                    let local_line = candidate_line(&local);
                    self.path = Some(Path {
                        local: local.base_addr(),
                        remote: remote.addr(),
                        tcp: local.network_type().is_tcp(),
                        local_line: local_line.clone(),
                        remote_prflx: remote.candidate_type() == CandidateType::PeerReflexive,
                    });
                    self.events.push_back(TransportEvent::PairSelected {
                        local: local_line,
                        remote: remote_line,
                    });
                    self.connect_dtls(now);
                }
                _ => {}
            }
        }
        self.drain_dtls();
    }

    /// DTLS's datagrams leave on the selected pair (before one is selected they wait in
    /// the endpoint).
    fn drain_dtls(&mut self) {
        if let (Some(dtls), Some(path)) = (self.dtls.as_mut(), self.path.as_ref()) {
            let flight = std::iter::from_fn(|| dtls.endpoint.poll_transmit().map(|m| m.message));
            self.transmits.extend(flight.map(|d| transmit(path, d)));
        }
    }

    /// As DTLS client, the handshake starts once a pair is selected (once).
    fn connect_dtls(&mut self, now: Instant) {
        let Some(dtls) = self.dtls.as_mut() else {
            return;
        };
        if dtls.role == DtlsRole::Server {
            return;
        }
        if let Some(config) = dtls.client_config.take() {
            self.events.push_back(TransportEvent::DtlsConnecting);
            if let Err(e) = dtls.endpoint.connect(now, DTLS_PEER, config, None) {
                dtls.closed = true;
                self.events.push_back(TransportEvent::DtlsFailed(format!(
                    "DTLS did not start: {e}"
                )));
            }
        }
    }

    /// Sends close_notify and stops ICE.
    pub(crate) fn close(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.closed = true;
        if let Some(dtls) = self.dtls.as_mut().filter(|d| d.connected && !d.closed) {
            if let Err(e) = dtls.endpoint.close(now) {
                tracing::debug!("DTLS close: {e}");
            }
            dtls.closed = true;
        }
        self.drain_dtls();
        if let Err(e) = self.agent.close() {
            tracing::debug!("ICE close: {e}");
        }
    }
}

fn transmit(path: &Path, data: BytesMut) -> Transmit {
    Transmit {
        local: path.local,
        peer: path.remote,
        data,
        tcp: path.tcp,
    }
}

/// What rtc-srtp needs of an SRTP packet's header to decrypt it — its SSRC, sequence
/// number and length (`marshal_size`: where the encrypted payload starts) — read
/// without allocating. rtc-srtp's own parse (`decrypt_rtp`) builds every header
/// extension as a `Vec` entry with its own `Bytes`: one to six allocations per packet
/// for nothing, since the AEAD reads the header bytes from the packet itself. The
/// extension block's length is carried as `extensions_padding` with no entries, which
/// `marshal_size` adds up the same (`srtp_header_matches_rtc_rtps_parse` holds it to
/// rtc-rtp's). `None` when the header does not fit in `data` (rtc-rtp refuses those too).
fn srtp_header(data: &[u8]) -> Option<rtc::rtp::header::Header> {
    let h = crate::streams::RtpHeader::parse_header(data)?;
    let csrc = h
        .csrcs(data)
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let (extension_profile, extension_len) = h
        .extension
        .as_ref()
        .map_or((0, 0), |(profile, range)| (*profile, range.len()));
    Some(rtc::rtp::header::Header {
        version: 2,
        padding: data[0] & 0x20 != 0,
        extension: h.extension.is_some(),
        marker: h.marker,
        payload_type: h.payload_type,
        sequence_number: h.sequence,
        timestamp: h.timestamp,
        ssrc: h.ssrc,
        csrc,
        extension_profile,
        extensions: Vec::new(),
        extensions_padding: extension_len,
    })
}

fn remote_context(
    key: &[u8],
    salt: &[u8],
    profile: ProtectionProfile,
    crypto: &dyn rtc::crypto::RTCCrypto,
) -> Result<SrtpContext, SessionError> {
    SrtpContext::new(
        key,
        salt,
        profile,
        // Replay windows of 64 (RFC 3711 §3.3.2 suggests at least that), in one word.
        Some(Box::new(|| Box::new(Window64::new(0xffff)))),
        Some(Box::new(|| Box::new(Window64::new(0x7fff_ffff)))),
        crypto,
    )
    .map_err(err)
}

impl crate::media::MediaTransport for Transport {
    /// SRTP is up.
    fn is_secure(&self) -> bool {
        self.srtp.is_some()
    }

    /// Decrypts an SRTP packet of a signalled (or already admitted) SSRC.
    fn decrypt_rtp(&mut self, data: &[u8]) -> Option<BytesMut> {
        self.srtp.as_mut()?.decrypt_rtp(data)
    }

    /// Decrypts an SRTCP compound.
    fn decrypt_rtcp(&mut self, data: &[u8]) -> Option<BytesMut> {
        self.srtp.as_mut()?.decrypt_rtcp(data)
    }

    /// Encrypts and queues an RTP packet for the selected pair. False when there is no
    /// pair or no keys yet, or the packet does not parse.
    fn send_rtp(&mut self, plain: &[u8]) -> bool {
        self.send_protected(plain, false)
    }

    /// Encrypts and queues an RTCP compound for the selected pair.
    fn send_rtcp(&mut self, plain: &[u8]) -> bool {
        self.send_protected(plain, true)
    }
}

#[cfg(test)]
mod srtp_tests {
    use super::*;
    use rtc::shared::marshal::{MarshalSize, Unmarshal};

    /// A little deterministic generator (xorshift), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }
    }

    /// An RTP packet with `csrcs` CSRCs and, when `ext` is given, an extension block of
    /// that profile holding `words` 32-bit words of well-formed one- or two-byte
    /// elements (opaque bytes for other profiles), then `payload` bytes. Well-formed:
    /// rtc-rtp reads elements past the end of a malformed block (and stops at id 15),
    /// so for those its length is wrong and ours, from the block's length field, right.
    fn packet(rng: &mut Rng, csrcs: usize, ext: Option<(u16, usize)>, payload: usize) -> Vec<u8> {
        let mut p = vec![0x80 | csrcs as u8, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p[2..4].copy_from_slice(&(rng.next() as u16).to_be_bytes());
        p[8..12].copy_from_slice(&(rng.next() as u32).to_be_bytes());
        for _ in 0..4 * csrcs {
            p.push(rng.next() as u8);
        }
        if let Some((profile, words)) = ext {
            p[0] |= 0x10;
            p.extend_from_slice(&profile.to_be_bytes());
            p.extend_from_slice(&(words as u16).to_be_bytes());
            let start = p.len();
            p.resize(start + 4 * words, 0);
            let end = p.len();
            if profile == 0xBEDE {
                // Elements of 1-3 bytes (id 1-14) within the block, then zero padding.
                let mut at = start;
                while at + 4 <= end {
                    let len = 1 + rng.below(3);
                    p[at] = ((1 + rng.below(14)) as u8) << 4 | (len - 1) as u8;
                    at += 1 + len;
                }
            } else if profile == 0x1000 {
                // Elements of 0-3 bytes (id 1-255) within the block, then zero padding.
                let mut at = start;
                while at + 5 <= end {
                    let len = rng.below(4);
                    p[at] = (1 + rng.below(255)) as u8;
                    p[at + 1] = len as u8;
                    at += 2 + len;
                }
            } else {
                for b in &mut p[start..] {
                    *b = rng.next() as u8;
                }
            }
        }
        for _ in 0..payload {
            p.push(rng.next() as u8);
        }
        p
    }

    fn random_packet(rng: &mut Rng) -> Vec<u8> {
        let ext = match rng.below(4) {
            0 => None,
            1 => Some((0xBEDE, rng.below(6))),
            2 => Some((0x1000, rng.below(6))),
            _ => Some((0x1234, rng.below(6))),
        };
        let (csrcs, payload) = (rng.below(3), rng.below(200));
        packet(rng, csrcs, ext, payload)
    }

    /// Our allocation-free header gives rtc-srtp what rtc-rtp's parse gives it: the same
    /// SSRC, sequence number and length, whatever the CSRCs and extension; and it
    /// refuses a header that does not fit.
    #[test]
    fn srtp_header_matches_rtc_rtps_parse() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..5_000 {
            let mut p = random_packet(&mut rng);
            let truncate = rng.below(3) == 0;
            if truncate {
                p.truncate(rng.below(p.len() as u64 + 1));
            }
            let theirs = rtc::rtp::header::Header::unmarshal(&mut &p[..]);
            let ours = srtp_header(&p);
            match (theirs, ours) {
                (Ok(t), Some(o)) => {
                    assert_eq!(o.marshal_size(), t.marshal_size(), "{p:02x?}");
                    assert_eq!((o.ssrc, o.sequence_number), (t.ssrc, t.sequence_number));
                    assert_eq!(o.csrc, t.csrc);
                }
                (Err(_), None) => {}
                (Ok(t), None) => panic!("refused what rtc-rtp reads ({t:?}): {p:02x?}"),
                // rtc-rtp also refuses malformed one-byte elements the AEAD does not care
                // about; the authentication tag decides those.
                (Err(_), Some(o)) => assert!(o.marshal_size() <= p.len(), "{p:02x?}"),
            }
        }
    }

    /// Packets of every shape protected by one side (through our allocation-free header)
    /// come back intact through the allocation-free path and through rtc-srtp's own
    /// parse, under both protection profiles; a tampered one does not.
    #[test]
    fn decrypting_with_our_header_round_trips_both_profiles() {
        let crypto = crypto().unwrap();
        let mut rng = Rng(0x0bad_cafe_f00d_d00d);
        for profile in [
            ProtectionProfile::AeadAes128Gcm,
            ProtectionProfile::Aes128CmHmacSha1_80,
        ] {
            let key: Vec<u8> = (0..profile.key_len()).map(|i| i as u8).collect();
            let salt: Vec<u8> = (0..profile.salt_len()).map(|i| 100 + i as u8).collect();
            let (key2, salt2) = (vec![7u8; key.len()], vec![9u8; salt.len()]);
            let mut a = Srtp::new(&key, &salt, &key2, &salt2, profile, crypto.crypto()).unwrap();
            let mut b = Srtp::new(&key2, &salt2, &key, &salt, profile, crypto.crypto()).unwrap();
            let mut c = remote_context(&key, &salt, profile, crypto.crypto()).unwrap();
            for i in 0..500u16 {
                let mut plain = random_packet(&mut rng);
                plain[2..4].copy_from_slice(&i.to_be_bytes());
                plain[8..12].copy_from_slice(&0x0102_0304u32.to_be_bytes());
                let protected = a.protect(&plain, false).unwrap();
                if i % 50 == 7 {
                    let mut bad = protected.to_vec();
                    let last = bad.len() - 1;
                    bad[last] ^= 1;
                    assert!(
                        b.decrypt_rtp(&bad).is_none(),
                        "a tampered packet is refused"
                    );
                }
                let clear = b.decrypt_rtp(&protected).unwrap();
                assert_eq!(&clear[..], &plain[..], "{profile:?} #{i}");
                // And through rtc-srtp's own parse, as another peer would.
                let theirs = c.decrypt_rtp(&protected).unwrap();
                assert_eq!(
                    &theirs[..],
                    &plain[..],
                    "{profile:?} #{i}, rtc-srtp's parse"
                );
            }
        }
    }

    /// A forged packet of a new SSRC leaves no state in the remote context (2,000 of
    /// them, RTP and RTCP, and still room for the peer's own), and an authenticated one
    /// makes it, up to the vendored rtc-srtp's `MAX_REMOTE_SSRCS`.
    #[test]
    fn only_authenticated_packets_make_ssrc_state_and_only_so_many() {
        use rtc::srtp::context::MAX_REMOTE_SSRCS;
        let crypto = crypto().unwrap();
        let profile = ProtectionProfile::AeadAes128Gcm;
        let (key, salt) = (vec![3u8; profile.key_len()], vec![4u8; profile.salt_len()]);
        let (key2, salt2) = (vec![7u8; key.len()], vec![9u8; salt.len()]);
        let mut a = Srtp::new(&key, &salt, &key2, &salt2, profile, crypto.crypto()).unwrap();
        let mut b = Srtp::new(&key2, &salt2, &key, &salt, profile, crypto.crypto()).unwrap();
        let rtp = |ssrc: u32| {
            let mut p = vec![0x80, 96, 0, 1, 0, 0, 0, 9];
            p.extend_from_slice(&ssrc.to_be_bytes());
            p.extend_from_slice(&[0x55; 100]);
            p
        };
        // A receiver report with no blocks.
        let rtcp = |ssrc: u32| {
            let mut p = vec![0x80, 201, 0, 1];
            p.extend_from_slice(&ssrc.to_be_bytes());
            p
        };
        for ssrc in 0..2_000u32 {
            for (packet, is_rtcp) in [(rtp(ssrc), false), (rtcp(ssrc), true)] {
                let mut forged = a.protect(&packet, is_rtcp).unwrap().to_vec();
                let at = forged.len() - 1;
                forged[at] ^= 0x80;
                let refused = if is_rtcp {
                    b.decrypt_rtcp(&forged)
                } else {
                    b.decrypt_rtp(&forged)
                };
                assert!(refused.is_none(), "forged #{ssrc}");
            }
        }
        for ssrc in 10_000..10_000 + MAX_REMOTE_SSRCS as u32 + 10 {
            let admitted = ssrc < 10_000 + MAX_REMOTE_SSRCS as u32;
            let protected = a.protect(&rtp(ssrc), false).unwrap();
            assert_eq!(b.decrypt_rtp(&protected).is_some(), admitted, "RTP {ssrc}");
            let protected = a.protect(&rtcp(ssrc), true).unwrap();
            assert_eq!(
                b.decrypt_rtcp(&protected).is_some(),
                admitted,
                "RTCP {ssrc}"
            );
        }
    }
}
