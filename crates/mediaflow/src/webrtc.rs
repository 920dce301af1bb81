//! WebRtcEndpoint: a WebRTC peer inside a pipeline. Media it receives leaves its source
//! pads as RTP buffers; what reaches its sink pads is sent to the peer.

use std::ops::Deref;
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use mediaflow_graph::{Element, ErrorType};
use mediaflow_ice::{NetConfig, NetError};
use mediaflow_rtp::{
    Direction, IceCandidate, MediaKind, OfferOptions, SessionConfig, SessionError, SessionEvent,
    WebRtcSession,
};
use mediaflow_runtime::{Context, SocketId};

use crate::element::MediaElement;
use crate::endpoint::{endpoint_element, send_from, NetEndpoint, Pads};
use crate::error::{Error, Result};
use crate::events::{
    ConnectionStateChangedEvent, DataChannelClosedEvent, DataChannelOpenedEvent,
    DtlsConnectionStateChangeEvent, ErrorEvent, Event, IceCandidateFoundEvent,
    IceComponentStateChangedEvent, IceGatheringDoneEvent, MediaStateChangedEvent,
    NewCandidatePairSelectedEvent,
};
use crate::pipeline::MediaPipeline;

impl From<SessionError> for Error {
    fn from(e: SessionError) -> Error {
        match e {
            SessionError::InvalidSdp(m) => Error::InvalidSdp(m),
            SessionError::NoCommonCodec => Error::NoCommonCodec,
            SessionError::WrongState(m) => Error::WrongState(m),
            SessionError::InvalidCandidate { candidate, reason } => {
                Error::InvalidCandidate(format!("{candidate:?}: {reason}"))
            }
            SessionError::Media(m) | SessionError::Stack(m) => Error::Internal(m),
            SessionError::DataChannel(e) => data_channel_error(e),
        }
    }
}

/// A data-channel refusal in the public error's terms: misuse of the call, the state
/// of the channel or the session, or a bound reached.
fn data_channel_error(e: mediaflow_rtp::DataChannelError) -> Error {
    use mediaflow_rtp::DataChannelError as D;
    let text = format!("data channel: {e}");
    match e {
        D::NoSuchChannel(_) | D::TooLarge { .. } | D::LabelTooLong => Error::InvalidArgument(text),
        D::NotNegotiated | D::NoneOpen | D::NotOpen(_) | D::NotConnected => Error::WrongState(text),
        D::TooManyChannels | D::NoStreamId | D::QueueFull { .. } => Error::Resource(text),
        D::Sctp(_) => Error::Internal(text),
    }
}

impl From<NetError> for Error {
    fn from(e: NetError) -> Error {
        Error::Resource(e.to_string())
    }
}

/// The graph side of a [`WebRtcEndpoint`]: the session, and the ids of its sockets,
/// which the runtime owns. Sans-IO: datagrams come in through `handle_datagram`, and
/// `send_transmits` hands what the session wrote to the runtime.
pub(crate) struct WebRtcEndpointElement {
    session: WebRtcSession,
    /// The UDP sockets (host candidates), by local address.
    sockets: Vec<(SocketId, SocketAddr)>,
    /// Those of them that are bindings on the runtime's shared port, and the ICE ufrag
    /// they were last registered with (the shared port routes checks by it).
    shared: Vec<SocketId>,
    registered_ufrag: Option<String>,
    /// An API call may have changed our ufrag (an offer, an answer, an ICE restart).
    ufrag_changed: bool,
    /// Passive ICE-TCP listeners (the runtime's), by local address, when enabled.
    tcp: Vec<(SocketId, SocketAddr)>,
    pads: Pads,
}

impl WebRtcEndpointElement {
    /// Collects what the session produced (see `Pads::flush`).
    fn flush(&mut self) {
        self.pads.flush(&mut self.session);
    }

    /// Tells the shared port which ufrag is ours now, so the peer's checks reach us.
    fn register_ufrag(&mut self, cx: &mut Context<'_>) {
        self.ufrag_changed = false;
        let ufrag = self.session.local_ufrag();
        if ufrag == self.registered_ufrag {
            return;
        }
        if let Some(u) = &ufrag {
            for socket in &self.shared {
                cx.set_ice_ufrag(*socket, u);
            }
        }
        self.registered_ufrag = ufrag;
    }

    fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(|(_, a)| *a).collect()
    }
}

impl NetEndpoint for WebRtcEndpointElement {
    /// Hands everything the session wrote to the runtime's sockets (or to the ICE-TCP
    /// connection it belongs to).
    fn send_transmits(&mut self, cx: &mut Context<'_>) {
        if self.ufrag_changed && !self.shared.is_empty() {
            self.register_ufrag(cx);
        }
        while let Some(t) = self.session.poll_transmit() {
            // Over ICE-TCP, sending on the listener reaches the peer's connection.
            let from = if t.tcp { &self.tcp } else { &self.sockets };
            send_from(cx, from, t.local, t.peer, &t.data);
        }
        // Sending may have armed a timer (SCTP retransmission of what just left).
        self.pads.forget_timeout();
    }

    /// A datagram arrived on one of the endpoint's UDP sockets, or a frame on an ICE-TCP
    /// connection to one of its listeners.
    fn handle_datagram(&mut self, socket: SocketId, peer: SocketAddr, data: &[u8], now: Instant) {
        if let Some(&(_, local)) = self.sockets.iter().find(|(s, _)| *s == socket) {
            self.session.handle_datagram(now, local, peer, data);
        } else if let Some(&(_, local)) = self.tcp.iter().find(|(s, _)| *s == socket) {
            self.session.handle_tcp_frame(now, local, peer, data);
        } else {
            return;
        }
        self.flush();
    }

    /// Ends the session: tells the peer (DTLS close_notify) while the sockets still
    /// exist, then closes them.
    fn close(&mut self, cx: &mut Context<'_>) {
        self.session.close();
        self.flush();
        self.send_transmits(cx);
        for (socket, _) in self.sockets.drain(..).chain(self.tcp.drain(..)) {
            cx.close_socket(socket);
        }
    }
}

endpoint_element!(WebRtcEndpointElement, "WebRtcEndpoint");

/// Turns a session event into Kurento's public event.
pub(crate) fn public_event(
    event: SessionEvent,
    source: String,
    timestamp_millis: u64,
) -> Option<Event> {
    let tags = Vec::new();
    Some(match event {
        SessionEvent::IceCandidateFound(candidate) => {
            Event::IceCandidateFound(IceCandidateFoundEvent {
                source,
                timestamp_millis,
                tags,
                candidate,
            })
        }
        SessionEvent::IceGatheringDone => Event::IceGatheringDone(IceGatheringDoneEvent {
            source,
            timestamp_millis,
            tags,
        }),
        SessionEvent::IceComponentStateChanged {
            stream_id,
            component_id,
            state,
        } => Event::IceComponentStateChanged(IceComponentStateChangedEvent {
            source,
            timestamp_millis,
            tags,
            stream_id,
            component_id,
            state,
        }),
        SessionEvent::NewCandidatePairSelected(candidate_pair) => {
            Event::NewCandidatePairSelected(NewCandidatePairSelectedEvent {
                source,
                timestamp_millis,
                tags,
                candidate_pair,
            })
        }
        SessionEvent::ConnectionStateChanged { old, new } => {
            Event::ConnectionStateChanged(ConnectionStateChangedEvent {
                source,
                timestamp_millis,
                tags,
                old_state: old,
                new_state: new,
            })
        }
        SessionEvent::MediaStateChanged { old, new } => {
            Event::MediaStateChanged(MediaStateChangedEvent {
                source,
                timestamp_millis,
                tags,
                old_state: old,
                new_state: new,
            })
        }
        SessionEvent::DtlsConnectionStateChange(state) => {
            Event::DtlsConnectionStateChange(DtlsConnectionStateChangeEvent {
                source,
                timestamp_millis,
                tags,
                stream_id: "1".into(),
                component_id: 1,
                connection_id: "1".into(),
                state,
            })
        }
        SessionEvent::Failed(description) => Event::Error(ErrorEvent {
            source,
            timestamp_millis,
            tags,
            description,
            error_code: 0,
            error_type: ErrorType::UnexpectedElementError,
        }),
        SessionEvent::DataChannelOpened { channel_id, .. } => {
            Event::DataChannelOpened(DataChannelOpenedEvent {
                source,
                timestamp_millis,
                tags,
                channel_id,
            })
        }
        SessionEvent::DataChannelClosed { channel_id } => {
            Event::DataChannelClosed(DataChannelClosedEvent {
                source,
                timestamp_millis,
                tags,
                channel_id,
            })
        }
        SessionEvent::KeyframeRequested(_) => return None,
    })
}

/// Options of a new [`WebRtcEndpoint`] (Kurento's `WebRtcEndpoint.Builder`).
///
/// ```
/// use mediaflow::{MediaPipeline, WebRtcEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = WebRtcEndpoint::builder(&pipeline)
///     .network_interfaces(["lo"])
///     .port_range(40000, 40999)
///     .max_video_recv_bandwidth(1500)
///     .build()?;
/// assert!(endpoint.local_addresses()?.iter().all(|a| a.port() >= 40000 && a.port() <= 40999));
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct WebRtcEndpointBuilder {
    pipeline: MediaPipeline,
    direction: Direction,
    net: NetConfig,
    stun_address: Option<String>,
    stun_port: u16,
    turn_url: Option<String>,
    relay_only: bool,
    external: Vec<std::net::IpAddr>,
    remb: mediaflow_rtp::RembConfig,
    max_recv_kbps: mediaflow_rtp::MaxRecvKbps,
    ice_tcp: bool,
    min_send_kbps: u32,
    max_send_kbps: u32,
    data_channels: bool,
    max_playout_delay: Duration,
}

impl WebRtcEndpointBuilder {
    /// Accept the peer's data channels and offer them (Kurento's `useDataChannels`):
    /// the SDP's `m=application ... webrtc-datachannel` section is answered (SCTP over
    /// the same DTLS), messages leave the DATA source pad and what reaches the DATA sink
    /// pad is sent on the channel of the same label. Off by default: the section is
    /// rejected.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let chat = WebRtcEndpoint::builder(&pipeline).use_data_channels(true).build()?;
    /// assert!(chat.generate_offer()?.contains("m=application 9 UDP/DTLS/SCTP webrtc-datachannel"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn use_data_channels(mut self, enabled: bool) -> Self {
        self.data_channels = enabled;
        self
    }

    /// Only receive media from the peer.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let viewer_side = WebRtcEndpoint::builder(&pipeline).recvonly().build()?;
    /// assert!(viewer_side.generate_offer()?.contains("a=recvonly"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn recvonly(mut self) -> Self {
        self.direction = Direction::RecvOnly;
        self
    }

    /// Only send media to the peer.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let presenter_side = WebRtcEndpoint::builder(&pipeline).sendonly().build()?;
    /// assert!(presenter_side.generate_offer()?.contains("a=sendonly"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn sendonly(mut self) -> Self {
        self.direction = Direction::SendOnly;
        self
    }

    /// Gather host candidates on these interfaces only (Kurento's `networkInterfaces`).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// assert!(endpoint.local_addresses()?.iter().all(|a| a.ip().is_loopback()));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn network_interfaces<I: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = I>,
    ) -> Self {
        self.net.interfaces = names.into_iter().map(Into::into).collect();
        self
    }

    /// Bind the endpoint's UDP sockets within `min..=max`.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).port_range(42000, 42099).build()?;
    /// assert!(endpoint.local_addresses()?.iter().all(|a| (42000..=42099).contains(&a.port())));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn port_range(mut self, min: u16, max: u16) -> Self {
        self.net.port_range = Some((min.min(max), max.max(min)));
        self
    }

    /// STUN server to learn server-reflexive candidates from (Kurento's
    /// `stunServerAddress`): a host name or an IP address.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // A server-reflexive candidate is learnt from it when gathering.
    /// let endpoint = WebRtcEndpoint::builder(&pipeline)
    ///     .stun_server_address("127.0.0.1")
    ///     .stun_server_port(3478)
    ///     .build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn stun_server_address(mut self, address: impl Into<String>) -> Self {
        self.stun_address = Some(address.into());
        self
    }

    /// Port of the STUN server (Kurento's `stunServerPort`; 3478 by default).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline)
    ///     .stun_server_address("127.0.0.1")
    ///     .stun_server_port(19302)
    ///     .build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn stun_server_port(mut self, port: u16) -> Self {
        self.stun_port = port;
        self
    }

    /// TURN server for a relayed candidate (Kurento's `turnUrl`):
    /// `user:password@host:port`, optionally `?transport=udp` (TURN over TCP/TLS is
    /// not supported yet).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline)
    ///     .turn_url("user:secret@127.0.0.1:3478")
    ///     .build()?;
    /// # drop(endpoint);
    /// assert!(WebRtcEndpoint::builder(&pipeline).turn_url("no-credentials").build().is_err());
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn turn_url(mut self, url: impl Into<String>) -> Self {
        self.turn_url = Some(url.into());
        self
    }

    /// Connect through the relayed candidate only (W3C `iceTransportPolicy: "relay"`),
    /// e.g. to keep host addresses private. Needs a TURN server.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let private = WebRtcEndpoint::builder(&pipeline)
    ///     .turn_url("user:secret@127.0.0.1:3478")
    ///     .relay_only(true)
    ///     .build()?;
    /// # drop(private);
    /// // Without a TURN server there is nothing to relay through.
    /// assert!(matches!(
    ///     WebRtcEndpoint::builder(&pipeline).relay_only(true).build(),
    ///     Err(mediaflow::Error::InvalidArgument(_))
    /// ));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn relay_only(mut self, relay_only: bool) -> Self {
        self.relay_only = relay_only;
        self
    }

    /// This host's public IPv4 address, when it sits behind a 1:1 NAT or a port
    /// forward (Kurento's `externalIPv4`): host sockets are also announced there.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // Behind a 1:1 NAT: host sockets are also announced on the public address.
    /// let endpoint = WebRtcEndpoint::builder(&pipeline)
    ///     .external_ipv4("203.0.113.7".parse().unwrap())
    ///     .build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn external_ipv4(mut self, ip: std::net::Ipv4Addr) -> Self {
        self.external.retain(|a| !a.is_ipv4());
        self.external.push(ip.into());
        self
    }

    /// This host's public IPv6 address (Kurento's `externalIPv6`).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline)
    ///     .external_ipv6("2001:db8::7".parse().unwrap())
    ///     .build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn external_ipv6(mut self, ip: std::net::Ipv6Addr) -> Self {
        self.external.retain(|a| !a.is_ipv6());
        self.external.push(ip.into());
        self
    }

    /// Most video the peer may send us, in kbps (Kurento's `maxVideoRecvBandwidth`;
    /// 0 = the 2 Mbps default). Announced to the sender as `b=AS` on the video m-line
    /// and with REMB.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // REMB tells the sender to stay within 1 Mbps.
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).max_video_recv_bandwidth(1000).build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn max_video_recv_bandwidth(mut self, kbps: u32) -> Self {
        self.remb.max_bps = if kbps == 0 {
            2_000_000
        } else {
            kbps.saturating_mul(1000)
        };
        self.remb.min_bps = self.remb.min_bps.min(self.remb.max_bps);
        self.max_recv_kbps.video = kbps;
        self
    }

    /// Most audio the peer may send us, in kbps (Kurento's `maxAudioRecvBandwidth`; 0 =
    /// no limit), announced as `b=AS` on the audio m-line.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).max_audio_recv_bandwidth(64).build()?;
    /// assert!(endpoint.generate_offer()?.contains("b=AS:64"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn max_audio_recv_bandwidth(mut self, kbps: u32) -> Self {
        self.max_recv_kbps.audio = kbps;
        self
    }

    /// Least video bandwidth announced with REMB, in kbps (Kurento's
    /// `minVideoRecvBandwidth`; default 30).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline)
    ///     .min_video_recv_bandwidth(300)
    ///     .max_video_recv_bandwidth(2000)
    ///     .build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn min_video_recv_bandwidth(mut self, kbps: u32) -> Self {
        self.remb.min_bps = kbps.saturating_mul(1000).min(self.remb.max_bps);
        self
    }

    /// Least video bitrate a transcoder feeding this endpoint encodes at, in kbps
    /// (Kurento's `minVideoSendBandwidth`, 100 by default).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).min_video_send_bandwidth(250).build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn min_video_send_bandwidth(mut self, kbps: u32) -> Self {
        self.min_send_kbps = kbps;
        self
    }

    /// Most video bitrate a transcoder feeding this endpoint encodes at, in kbps
    /// (Kurento's `maxVideoSendBandwidth`, 500 by default); within it, the peer's REMB.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // A transcoder feeding this endpoint encodes at 1.5 Mbps at most.
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).max_video_send_bandwidth(1500).build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn max_video_send_bandwidth(mut self, kbps: u32) -> Self {
        self.max_send_kbps = kbps;
        self
    }

    /// Also offer passive ICE-TCP candidates (Kurento's `iceTcp`; off by default here):
    /// peers that cannot use UDP connect over TCP (RFC 6544, RFC 4571 framing).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).ice_tcp(true).build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn ice_tcp(mut self, enabled: bool) -> Self {
        self.ice_tcp = enabled;
        self
    }

    /// The most playout delay, in ms, this endpoint asks the peer's receiver to add when
    /// video it forwards reached it late (packets lost on the way in and repaired by
    /// NACK): 600 by default; 0 never asks. Without it, a repair that takes longer than
    /// the receiver's own jitter buffer (~60 ms in Chromium) freezes the picture; with
    /// it, the receiver buffers for the repairs seen lately (2.5 × the worst lateness
    /// plus 40 ms, up to this cap) and lets the delay go after 10-20 s without late
    /// packets. Sent in the `playout-delay` RTP header extension, which libwebrtc
    /// browsers offer and honour.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // Latency first: never ask the browser to buffer more.
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).max_playout_delay(0).build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn max_playout_delay(mut self, ms: u32) -> Self {
        self.max_playout_delay = Duration::from_millis(u64::from(ms));
        self
    }

    /// Also gather IPv6 host candidates.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).ipv6(true).build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn ipv6(mut self, enabled: bool) -> Self {
        self.net.ipv6 = enabled;
        self
    }

    /// Creates the endpoint: binds its sockets and starts receiving.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).build()?; // sockets bound here
    /// assert!(!endpoint.local_addresses()?.is_empty());
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn build(self) -> Result<WebRtcEndpoint> {
        let stun_server = match &self.stun_address {
            Some(host) => Some(resolve(host, self.stun_port, self.net.ipv6)?),
            None => None,
        };
        let turn_server = match &self.turn_url {
            Some(url) => Some(parse_turn_url(url, self.net.ipv6)?),
            None => None,
        };
        if self.relay_only && turn_server.is_none() {
            return Err(Error::InvalidArgument(
                "relay_only needs a TURN server (turn_url)".into(),
            ));
        }
        let config = SessionConfig {
            direction: self.direction,
            stun_server,
            turn_server,
            relay_only: self.relay_only,
            external_addresses: self.external.clone(),
            remb: self.remb,
            max_recv_kbps: self.max_recv_kbps,
            data_channels: self.data_channels,
            max_playout_delay: self.max_playout_delay,
            ..SessionConfig::default()
        };
        let (min_send_kbps, max_send_kbps) = (self.min_send_kbps, self.max_send_kbps);
        let make = move |now: Instant| -> Result<Box<dyn Element>> {
            Ok(Box::new(WebRtcEndpointElement {
                session: WebRtcSession::new(config, now)?,
                sockets: Vec::new(),
                shared: Vec::new(),
                registered_ufrag: None,
                ufrag_changed: false,
                tcp: Vec::new(),
                pads: Pads::new(min_send_kbps, max_send_kbps),
            }))
        };
        let (net, ice_tcp) = (self.net, self.ice_tcp);
        let element = self.pipeline.add_element_with(make, move |w, cx, id| {
            let (sockets, shared) = bind_sockets(&net, cx)?;
            let tcp = if ice_tcp {
                match listen_tcp(&net, cx) {
                    Ok(tcp) => tcp,
                    Err(e) => {
                        sockets.iter().for_each(|(s, _)| cx.close_socket(*s));
                        return Err(e);
                    }
                }
            } else {
                Vec::new()
            };
            w.add_endpoint(id, sockets.iter().chain(&tcp));
            let endpoint = w
                .graph
                .element_as::<WebRtcEndpointElement>(id)
                .ok_or_else(|| Error::Internal("new endpoint vanished".into()))?;
            endpoint.sockets = sockets;
            endpoint.shared = shared;
            if !tcp.is_empty() {
                endpoint
                    .session
                    .set_tcp_listeners(tcp.iter().map(|(_, a)| *a).collect());
            }
            endpoint.tcp = tcp;
            Ok(())
        })?;
        Ok(WebRtcEndpoint { element })
    }
}

/// One socket per host address, each made by `open` on the worker; on failure none of
/// them stays open.
fn per_host_address(
    net: &NetConfig,
    cx: &mut Context<'_>,
    mut open: impl FnMut(&mut Context<'_>, std::net::IpAddr) -> std::io::Result<(SocketId, SocketAddr)>,
) -> Result<Vec<(SocketId, SocketAddr)>> {
    let mut opened = Vec::new();
    for ip in mediaflow_ice::host_addresses(net)? {
        match open(cx, ip) {
            Ok(socket) => opened.push(socket),
            Err(e) => {
                opened.iter().for_each(|(s, _)| cx.close_socket(*s));
                return Err(Error::Resource(e.to_string()));
            }
        }
    }
    Ok(opened)
}

/// Passive ICE-TCP listeners, one per host address.
fn listen_tcp(net: &NetConfig, cx: &mut Context<'_>) -> Result<Vec<(SocketId, SocketAddr)>> {
    per_host_address(net, cx, |cx, ip| cx.listen_tcp(ip, net.port_range))
}

/// An endpoint's sockets, and which of them are bindings on the shared port.
type Bound = (Vec<(SocketId, SocketAddr)>, Vec<SocketId>);

/// One UDP socket per host address (the host candidates) — a binding on the runtime's
/// shared port where it has one for that address. Returns the sockets, and which of
/// them are shared bindings.
fn bind_sockets(net: &NetConfig, cx: &mut Context<'_>) -> Result<Bound> {
    let mut shared = Vec::new();
    let sockets = per_host_address(net, cx, |cx, ip| match cx.bind_shared_udp(ip) {
        Some(binding) => {
            shared.push(binding.0);
            Ok(binding)
        }
        None => cx.bind_udp(ip, net.port_range),
    })?;
    Ok((sockets, shared))
}

/// Parses Kurento's `turnUrl`: `user:password@host:port[?transport=udp]`.
fn parse_turn_url(url: &str, ipv6: bool) -> Result<mediaflow_rtp::TurnServer> {
    let invalid = |why: &str| Error::InvalidArgument(format!("TURN URL {url:?}: {why}"));
    let url = url.strip_prefix("turn:").unwrap_or(url);
    let (rest, query) = url.split_once('?').unwrap_or((url, ""));
    if let Some(transport) = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("transport="))
    {
        if !transport.eq_ignore_ascii_case("udp") {
            return Err(invalid("only transport=udp is supported"));
        }
    }
    let (credentials, host_port) = rest
        .rsplit_once('@')
        .ok_or_else(|| invalid("no `user:password@`"))?;
    let (username, password) = credentials
        .split_once(':')
        .ok_or_else(|| invalid("no `:` between user and password"))?;
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h.trim_start_matches('[').trim_end_matches(']'),
            p.parse::<u16>().map_err(|_| invalid("bad port"))?,
        ),
        _ => (host_port, 3478),
    };
    if host.is_empty() || username.is_empty() {
        return Err(invalid("empty host or user"));
    }
    Ok(mediaflow_rtp::TurnServer {
        server: resolve(host, port, ipv6)?,
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// Resolves a server name once, at build time (IPv4 first unless IPv6 is enabled).
fn resolve(host: &str, port: u16, ipv6: bool) -> Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::InvalidArgument(format!("server {host:?}: {e}")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.iter().find(|_| ipv6))
        .copied()
        .ok_or_else(|| {
            Error::InvalidArgument(format!("STUN server {host:?} has no usable address"))
        })
}

/// A WebRTC peer in a pipeline (Kurento's `WebRtcEndpoint`): negotiates SDP, runs ICE
/// and DTLS-SRTP, and exchanges RTP/RTCP with a browser or another engine. Connected to
/// itself, it sends the peer's media back (the Hello World loopback).
///
/// ```
/// use mediaflow::{ConnectionState, Event};
/// use std::time::Duration;
///
/// use mediaflow::{MediaPipeline, WebRtcEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let a = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
/// let b = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
/// // Trickle ICE through the handlers, as signaling would carry the candidates.
/// for (from, to) in [(&a, &b), (&b, &a)] {
///     let to = to.clone();
///     from.on_ice_candidate_found(move |e| {
///         let _ = to.add_ice_candidate(e.candidate.clone());
///     })?;
/// }
/// let events = b.events()?;
/// let answer = b.process_offer(&a.generate_offer()?)?;
/// a.process_answer(&answer)?;
/// a.gather_candidates()?;
/// b.gather_candidates()?;
/// // ICE, then DTLS: the transport is up.
/// let connected = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(10)).ok())
///     .any(|e| matches!(e, Event::ConnectionStateChanged(c) if c.new_state == ConnectionState::Connected));
/// assert!(connected);
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebRtcEndpoint {
    element: MediaElement,
}

impl Deref for WebRtcEndpoint {
    type Target = MediaElement;
    fn deref(&self) -> &MediaElement {
        &self.element
    }
}

impl AsRef<MediaElement> for WebRtcEndpoint {
    fn as_ref(&self) -> &MediaElement {
        &self.element
    }
}

impl From<WebRtcEndpoint> for MediaElement {
    fn from(e: WebRtcEndpoint) -> MediaElement {
        e.element
    }
}

impl WebRtcEndpoint {
    /// Options for a new endpoint in `pipeline`.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).recvonly().build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn builder(pipeline: &MediaPipeline) -> WebRtcEndpointBuilder {
        WebRtcEndpointBuilder {
            pipeline: pipeline.clone(),
            direction: Direction::SendRecv,
            net: NetConfig::default(),
            stun_address: None,
            stun_port: 3478,
            turn_url: None,
            relay_only: false,
            external: Vec::new(),
            remb: mediaflow_rtp::RembConfig::default(),
            max_recv_kbps: mediaflow_rtp::MaxRecvKbps::default(),
            ice_tcp: false,
            min_send_kbps: 100,
            max_send_kbps: 500,
            data_channels: false,
            max_playout_delay: mediaflow_rtp::DEFAULT_MAX_PLAYOUT_DELAY,
        }
    }

    /// An endpoint with default options.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // Kurento's Hello World: one endpoint connected to itself.
    /// let endpoint = WebRtcEndpoint::new(&pipeline)?;
    /// endpoint.connect(&endpoint)?;
    /// assert_eq!(endpoint.type_name(), "WebRtcEndpoint");
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn new(pipeline: &MediaPipeline) -> Result<WebRtcEndpoint> {
        WebRtcEndpoint::builder(pipeline).build()
    }

    fn with_session<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut WebRtcEndpointElement, Instant) -> T + Send + 'static,
    ) -> Result<T> {
        self.element
            .with_element(move |e: &mut WebRtcEndpointElement, now| {
                let out = f(e, now);
                e.flush();
                out
            })
    }

    /// As `with_session`, for calls that may give us new ICE credentials (an offer, an
    /// answer, an ICE restart): the shared port learns the new ufrag after the call.
    fn negotiate<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut WebRtcEndpointElement, Instant) -> T + Send + 'static,
    ) -> Result<T> {
        self.with_session(move |e, now| {
            e.ufrag_changed = true;
            f(e, now)
        })
    }

    /// Applies the peer's SDP offer and returns the answer (Kurento's `processOffer`).
    /// The answer carries no candidates: call `gather_candidates` and trickle them.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// let b = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// let offer = a.generate_offer()?; // a browser's offer, in a real application
    /// let answer = b.process_offer(&offer)?;
    /// assert!(answer.contains("a=setup:active") && !answer.contains("a=candidate"));
    /// assert!(matches!(b.process_offer("not sdp"), Err(mediaflow::Error::InvalidSdp(_))));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn process_offer(&self, offer: &str) -> Result<String> {
        let offer = offer.to_owned();
        Ok(self.negotiate(move |e, now| e.session.process_offer(&offer, now))??)
    }

    /// Creates an SDP offer for the peer (Kurento's `generateOffer`).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::new(&pipeline)?;
    /// let offer = endpoint.generate_offer()?;
    /// assert!(offer.contains("m=audio") && offer.contains("m=video") && offer.contains("a=fingerprint:"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn generate_offer(&self) -> Result<String> {
        self.generate_offer_with(OfferOptions::default())
    }

    /// Creates an SDP offer that asks to receive only what `options` say (Kurento's
    /// `generateOffer(OfferOptions)`): a kind not asked for is offered `sendonly`.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, OfferOptions, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::new(&pipeline)?;
    /// let options = OfferOptions { offer_to_receive_video: false, ..OfferOptions::default() };
    /// let offer = endpoint.generate_offer_with(options)?;
    /// let video = &offer[offer.find("m=video").unwrap()..];
    /// assert!(video.contains("a=sendonly"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn generate_offer_with(&self, options: OfferOptions) -> Result<String> {
        Ok(self.negotiate(move |e, now| e.session.generate_offer_with(options, now))??)
    }

    /// Applies the peer's answer to our offer (Kurento's `processAnswer`).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// let b = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// assert!(matches!(a.process_answer("v=0"), Err(mediaflow::Error::WrongState(_)))); // no offer yet
    /// let answer = b.process_offer(&a.generate_offer()?)?;
    /// a.process_answer(&answer)?;
    /// assert_eq!(a.get_remote_session_descriptor()?, Some(answer));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn process_answer(&self, answer: &str) -> Result<()> {
        let answer = answer.to_owned();
        Ok(self.negotiate(move |e, now| e.session.process_answer(&answer, now))??)
    }

    /// Our SDP, once negotiated or offered.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// let b = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// assert_eq!(b.get_local_session_descriptor()?, None);
    /// let answer = b.process_offer(&a.generate_offer()?)?;
    /// assert_eq!(b.get_local_session_descriptor()?, Some(answer));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_local_session_descriptor(&self) -> Result<Option<String>> {
        self.with_session(|e, _| e.session.local_description())
    }

    /// The peer's SDP, once given.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// let b = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// let offer = a.generate_offer()?;
    /// b.process_offer(&offer)?;
    /// assert_eq!(b.get_remote_session_descriptor()?, Some(offer));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_remote_session_descriptor(&self) -> Result<Option<String>> {
        self.with_session(|e, _| e.session.remote_description())
    }

    /// Starts ICE gathering: `IceCandidateFound` for each local candidate, then
    /// `IceGatheringDone` (Kurento's `gatherCandidates`).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// endpoint.on_ice_candidate_found(move |e| {
    ///     let _ = tx.send(e.candidate.candidate.clone()); // to the browser, by your signaling
    /// })?;
    /// endpoint.process_offer(&WebRtcEndpoint::new(&pipeline)?.generate_offer()?)?;
    /// endpoint.gather_candidates()?;
    /// let first = rx.recv_timeout(Duration::from_secs(5)).expect("a candidate");
    /// assert!(first.contains("127.0.0.1") && first.contains("typ host"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn gather_candidates(&self) -> Result<()> {
        Ok(self.with_session(|e, now| {
            let addrs = e.local_addrs();
            e.session.gather_candidates(&addrs, now)
        })??)
    }

    /// Adds a candidate of the peer (Kurento's `addIceCandidate`), at any time: before
    /// the remote description it is kept until then.
    ///
    /// ```
    /// use mediaflow::IceCandidate;
    ///
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::new(&pipeline)?;
    /// // From the browser's `onicecandidate`, possibly before its offer arrives.
    /// endpoint.add_ice_candidate(IceCandidate {
    ///     candidate: "candidate:1 1 udp 2122260223 192.0.2.10 50000 typ host".into(),
    ///     sdp_mid: "0".into(),
    ///     sdp_m_line_index: 0,
    /// })?;
    /// let garbled = IceCandidate { candidate: "nonsense".into(), sdp_mid: "0".into(), sdp_m_line_index: 0 };
    /// assert!(matches!(endpoint.add_ice_candidate(garbled), Err(mediaflow::Error::InvalidCandidate(_))));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn add_ice_candidate(&self, candidate: IceCandidate) -> Result<()> {
        Ok(self.with_session(move |e, _| e.session.add_ice_candidate(candidate))??)
    }

    /// RTP statistics: one entry per SSRC received and sent, named after the W3C
    /// webrtc-stats fields (packets, bytes, lost, jitter, NACK/PLI/FIR counts,
    /// round-trip time), plus discard counters.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::new(&pipeline)?;
    /// let stats = endpoint.get_stats()?;
    /// for s in &stats.inbound {
    ///     println!("{:?}: {} packets, {} lost", s.kind, s.packets_received, s.packets_lost);
    /// }
    /// assert_eq!(stats.datagrams_discarded, 0);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_stats(&self) -> Result<mediaflow_rtp::SessionStats> {
        self.with_session(|e, now| e.session.stats(now))
    }

    /// Datagrams refused so far (garbage, not a protocol of ours), and media that could
    /// not be sent (not connected, codec not negotiated).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// // Garbage to the endpoint's port is counted and dropped.
    /// let stranger = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// stranger.send_to(&[0xff; 40], endpoint.local_addresses()?[0]).unwrap();
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// while endpoint.discards()?.datagrams == 0 {
    ///     assert!(Instant::now() < deadline);
    ///     std::thread::sleep(Duration::from_millis(10));
    /// }
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn discards(&self) -> Result<mediaflow_rtp::Discards> {
        self.with_session(|e, _| e.session.discards())
    }

    /// The local addresses of the endpoint's sockets (its host candidates).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// for addr in endpoint.local_addresses()? {
    ///     println!("host candidate on {addr}");
    /// }
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn local_addresses(&self) -> Result<Vec<std::net::SocketAddr>> {
        self.with_session(|e, _| e.local_addrs())
    }

    /// Restarts ICE with the next `generate_offer` (W3C `restartIce`). When the peer's
    /// offer restarts ICE, `process_offer` handles it by itself: new credentials, and
    /// gathering runs again (IceCandidateFound, IceGatheringDone, the states again).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// let b = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// let first = a.generate_offer()?;
    /// a.process_answer(&b.process_offer(&first)?)?;
    /// a.restart_ice()?;
    /// let second = a.generate_offer()?; // new ICE credentials
    /// let ufrag = |sdp: &str| sdp.lines().find(|l| l.starts_with("a=ice-ufrag:")).map(str::to_owned);
    /// assert_ne!(ufrag(&first), ufrag(&second));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn restart_ice(&self) -> Result<()> {
        self.negotiate(|e, _| e.session.restart_ice())
    }

    /// Creates a data channel to the peer (Kurento's `createDataChannel`) and returns
    /// its id; `DataChannelOpened` follows once the peer acknowledged it. `ordered`
    /// false lets messages arrive as they come; `max_packet_life_time` (ms) or
    /// `max_retransmits` make it partially reliable (`None`: reliable). Needs
    /// `use_data_channels` and a negotiated data-channel section; at most
    /// [`mediaflow_rtp::MAX_CHANNELS`] channels.
    ///
    /// ```
    /// use mediaflow::{Event, MediaPipeline, WebRtcEndpoint};
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let peer = || WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).use_data_channels(true).build();
    /// let (a, b) = (peer()?, peer()?);
    /// for (from, to) in [(&a, &b), (&b, &a)] {
    ///     let to = to.clone();
    ///     from.on_ice_candidate_found(move |e| {
    ///         let _ = to.add_ice_candidate(e.candidate.clone());
    ///     })?;
    /// }
    /// let events = b.events()?;
    /// a.process_answer(&b.process_offer(&a.generate_offer()?)?)?;
    /// // Made now, opened once SCTP is up (reliable and ordered here).
    /// let id = a.create_data_channel("chat", true, None, None, "")?;
    /// a.gather_candidates()?;
    /// b.gather_candidates()?;
    /// let opened = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(10)).ok())
    ///     .find_map(|e| match e { Event::DataChannelOpened(o) => Some(o.channel_id), _ => None });
    /// assert_eq!(opened, Some(id));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn create_data_channel(
        &self,
        label: &str,
        ordered: bool,
        max_packet_life_time: Option<u16>,
        max_retransmits: Option<u16>,
        protocol: &str,
    ) -> Result<u16> {
        let label = label.to_owned();
        let init = mediaflow_rtp::DataChannelInit {
            ordered,
            max_packet_life_time,
            max_retransmits,
            protocol: protocol.to_owned(),
        };
        Ok(self.with_session(move |e, now| e.session.create_data_channel(now, &label, &init))??)
    }

    /// Closes data channel `channel_id` (Kurento's `closeDataChannel`);
    /// `DataChannelClosed` follows.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).use_data_channels(true).build()?;
    /// // No such channel: a typed error, nothing closed.
    /// assert!(endpoint.close_data_channel(7).is_err());
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn close_data_channel(&self, channel_id: u16) -> Result<()> {
        Ok(self.with_session(move |e, now| e.session.close_data_channel(now, channel_id))??)
    }

    /// Counters of the endpoint's data channels: opened, closed, refused, messages
    /// received, sent and dropped.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = WebRtcEndpoint::builder(&pipeline).use_data_channels(true).build()?;
    /// let stats = endpoint.data_channel_stats()?;
    /// assert_eq!((stats.channels_opened, stats.messages_dropped_in), (0, 0));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn data_channel_stats(&self) -> Result<mediaflow_rtp::DataChannelStats> {
        self.with_session(|e, _| e.session.data_channel_stats())
    }

    /// Asks the peer for a keyframe of the video it sends (Kurento's `requestKeyframe`).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, WebRtcEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// let b = WebRtcEndpoint::builder(&pipeline).network_interfaces(["lo"]).build()?;
    /// let answer = b.process_offer(&a.generate_offer()?)?;
    /// a.process_answer(&answer)?;
    /// b.request_keyframe()?; // a PLI to the peer once connected
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn request_keyframe(&self) -> Result<()> {
        self.with_session(|e, now| e.session.request_keyframe(now, MediaKind::Video))
    }
}
