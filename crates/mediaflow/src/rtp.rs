//! RtpEndpoint: a plain RTP peer inside a pipeline (Kurento's `RtpEndpoint`). SDP with
//! RTP/AVP or RTP/AVPF, no ICE and no DTLS: the `c=` address and the m= ports are
//! where media goes. Its pads carry RTP exactly as a WebRtcEndpoint's do, so the two
//! connect to each other (and to everything else) through the graph's agnostic caps.

use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::time::{Duration, Instant};

use mediaflow_graph::Element;
use mediaflow_ice::NetConfig;
use mediaflow_rtp::{
    ConnectionState, Direction, MediaKind, MediaState, OfferOptions, RtpLocalPorts, RtpSession,
    RtpSessionConfig,
};
use mediaflow_runtime::{Context, SocketId};

use crate::element::MediaElement;
use crate::endpoint::{endpoint_element, send_from, NetEndpoint, Pads};
use crate::error::{Error, Result};
use crate::pipeline::MediaPipeline;

/// The graph side of an [`RtpEndpoint`]: the session and its four sockets (audio RTP,
/// audio RTCP, video RTP, video RTCP), which the runtime owns.
pub(crate) struct RtpEndpointElement {
    session: RtpSession,
    sockets: Vec<(SocketId, SocketAddr)>,
    pads: Pads,
}

impl RtpEndpointElement {
    fn flush(&mut self) {
        self.pads.flush(&mut self.session);
    }
}

impl NetEndpoint for RtpEndpointElement {
    fn handle_datagram(&mut self, socket: SocketId, peer: SocketAddr, data: &[u8], now: Instant) {
        let Some(&(_, local)) = self.sockets.iter().find(|(s, _)| *s == socket) else {
            return;
        };
        self.session.handle_datagram(now, local, peer, data);
        self.flush();
    }

    fn send_transmits(&mut self, cx: &mut Context<'_>) {
        while let Some(t) = self.session.poll_transmit() {
            send_from(cx, &self.sockets, t.local, t.peer, &t.data);
        }
    }

    fn close(&mut self, cx: &mut Context<'_>) {
        self.flush();
        self.send_transmits(cx);
        for (socket, _) in self.sockets.drain(..) {
            cx.close_socket(socket);
        }
    }
}

endpoint_element!(RtpEndpointElement, "RtpEndpoint");

/// Binds an RTP socket on an even port and its RTCP socket on the next one (RFC 3550
/// §11: peers that ignore `a=rtcp` send RTCP to port + 1). Nothing stays open on failure.
fn bind_pair(
    cx: &mut Context<'_>,
    ip: IpAddr,
    range: Option<(u16, u16)>,
) -> Result<((SocketId, SocketAddr), (SocketId, SocketAddr))> {
    let in_range = |p: u16| range.is_none_or(|(min, max)| (min..=max).contains(&p));
    // Ports tried and kept open meanwhile, so the next bind returns another one.
    let mut tried = Vec::new();
    let mut found = None;
    let mut error = None;
    for _ in 0..64 {
        let first = match cx.bind_udp(ip, range) {
            Ok(s) => s,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        let port = first.1.port();
        let even = port.is_multiple_of(2);
        let partner = if even {
            port.checked_add(1)
        } else {
            Some(port - 1)
        };
        if let Some(q) = partner.filter(|q| *q != 0 && in_range(*q)) {
            if let Ok(second) = cx.bind_udp(ip, Some((q, q))) {
                found = Some(if even {
                    (first, second)
                } else {
                    (second, first)
                });
                break;
            }
        }
        tried.push(first.0);
    }
    for socket in tried {
        cx.close_socket(socket);
    }
    found.ok_or_else(|| {
        Error::Resource(match error {
            Some(e) => e.to_string(),
            None => format!("no free pair of UDP ports (even, odd) on {ip}"),
        })
    })
}

/// SDES-SRTP crypto suites (Kurento's `CryptoSuite`).
///
/// ```
/// use mediaflow::{CryptoSuite, MediaPipeline, RtpEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let srtp = RtpEndpoint::builder(&pipeline).crypto(CryptoSuite::AesCm128HmacSha1_80).build()?;
/// let offer = srtp.generate_offer()?;
/// assert!(offer.contains("RTP/SAVPF") && offer.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoSuite {
    /// AES_CM_128_HMAC_SHA1_80 (RFC 4568).
    AesCm128HmacSha1_80,
}

/// Options of a new [`RtpEndpoint`] (Kurento's `RtpEndpoint.Builder`).
///
/// ```
/// use mediaflow::{MediaPipeline, RtpEndpoint};
/// use std::time::Duration;
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = RtpEndpoint::builder(&pipeline)
///     .address("127.0.0.1".parse().unwrap())
///     .port_range(40000, 40100)
///     .avpf(false)
///     .media_timeout(Duration::from_secs(5))
///     .build()?;
/// assert!(endpoint.generate_offer()?.contains(" RTP/AVP "));
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RtpEndpointBuilder {
    pipeline: MediaPipeline,
    config: RtpSessionConfig,
    address: Option<IpAddr>,
    port_range: Option<(u16, u16)>,
    min_send_kbps: u32,
    max_send_kbps: u32,
}

impl RtpEndpointBuilder {
    /// Only receive media from the peer.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = RtpEndpoint::builder(&pipeline).recvonly().build()?;
    /// assert!(endpoint.generate_offer()?.contains("a=recvonly"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn recvonly(mut self) -> Self {
        self.config.direction = Direction::RecvOnly;
        self
    }

    /// Only send media to the peer.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = RtpEndpoint::builder(&pipeline).sendonly().build()?;
    /// assert!(endpoint.generate_offer()?.contains("a=sendonly"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn sendonly(mut self) -> Self {
        self.config.direction = Direction::SendOnly;
        self
    }

    /// The local address to bind and to write in our SDP's `c=` line (default: the
    /// first host address, as WebRtcEndpoint's first candidate).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = RtpEndpoint::builder(&pipeline).address("127.0.0.1".parse().unwrap()).build()?;
    /// assert!(endpoint.generate_offer()?.contains("c=IN IP4 127.0.0.1"));
    /// assert!(endpoint.local_addresses()?.iter().all(|a| a.ip().is_loopback()));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn address(mut self, ip: IpAddr) -> Self {
        self.address = Some(ip);
        self
    }

    /// Bind the endpoint's UDP sockets within `min..=max`.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = RtpEndpoint::builder(&pipeline).port_range(41000, 41999).build()?;
    /// assert!(endpoint.local_addresses()?.iter().all(|a| (41000..=41999).contains(&a.port())));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn port_range(mut self, min: u16, max: u16) -> Self {
        self.port_range = Some((min.min(max), max.max(min)));
        self
    }

    /// Offer RTP/AVPF with NACK, PLI, FIR and REMB (true, the default) or RTP/AVP
    /// without feedback. Offers of either profile are answered in it.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let plain = RtpEndpoint::builder(&pipeline).avpf(false).build()?;
    /// let offer = plain.generate_offer()?;
    /// assert!(offer.contains(" RTP/AVP ") && !offer.contains("a=rtcp-fb"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn avpf(mut self, avpf: bool) -> Self {
        self.config.avpf = avpf;
        self
    }

    /// SDES-SRTP (Kurento's `crypto` option, RFC 4568): offer and accept RTP/SAVP(F)
    /// with an `a=crypto` key of this suite (a random one of ours per endpoint); plain
    /// RTP/AVP(F) offers are then refused.
    ///
    /// ```
    /// use mediaflow::{CryptoSuite, MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let plain = RtpEndpoint::new(&pipeline)?;
    /// let srtp = RtpEndpoint::builder(&pipeline).crypto(CryptoSuite::AesCm128HmacSha1_80).build()?;
    /// // An SDES endpoint refuses a plain RTP offer.
    /// assert!(srtp.process_offer(&plain.generate_offer()?).is_err());
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn crypto(mut self, suite: CryptoSuite) -> Self {
        match suite {
            CryptoSuite::AesCm128HmacSha1_80 => self.config.sdes = true,
        }
        self
    }

    /// MediaState turns Disconnected after this long without RTCP (15 s by default).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // MediaStateChanged(Disconnected) after 3 s without RTCP from the peer.
    /// let endpoint = RtpEndpoint::builder(&pipeline).media_timeout(Duration::from_secs(3)).build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn media_timeout(mut self, timeout: Duration) -> Self {
        self.config.media_timeout = timeout;
        self
    }

    /// Most video the peer may send us, in kbps (Kurento's `maxVideoRecvBandwidth`;
    /// 0 = the 2 Mbps default), announced as `b=AS` on the video m-line and with REMB
    /// under AVPF.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = RtpEndpoint::builder(&pipeline).max_video_recv_bandwidth(800).build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn max_video_recv_bandwidth(mut self, kbps: u32) -> Self {
        let remb = &mut self.config.remb;
        remb.max_bps = if kbps == 0 {
            2_000_000
        } else {
            kbps.saturating_mul(1000)
        };
        remb.min_bps = remb.min_bps.min(remb.max_bps);
        self.config.max_recv_kbps.video = kbps;
        self
    }

    /// Most audio the peer may send us, in kbps (Kurento's `maxAudioRecvBandwidth`; 0 =
    /// no limit), announced as `b=AS` on the audio m-line.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = RtpEndpoint::builder(&pipeline).max_audio_recv_bandwidth(64).build()?;
    /// assert!(endpoint.generate_offer()?.contains("b=AS:64"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn max_audio_recv_bandwidth(mut self, kbps: u32) -> Self {
        self.config.max_recv_kbps.audio = kbps;
        self
    }

    /// Least video bitrate a transcoder feeding this endpoint encodes at, in kbps
    /// (Kurento's `minVideoSendBandwidth`, 100 by default).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = RtpEndpoint::builder(&pipeline)
    ///     .min_video_send_bandwidth(200)
    ///     .max_video_send_bandwidth(1500)
    ///     .build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn min_video_send_bandwidth(mut self, kbps: u32) -> Self {
        self.min_send_kbps = kbps;
        self
    }

    /// Most video bitrate a transcoder feeding this endpoint encodes at, in kbps
    /// (Kurento's `maxVideoSendBandwidth`, 500 by default).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // A transcoder feeding this endpoint encodes video at 1 Mbps at most.
    /// let endpoint = RtpEndpoint::builder(&pipeline).max_video_send_bandwidth(1000).build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn max_video_send_bandwidth(mut self, kbps: u32) -> Self {
        self.max_send_kbps = kbps;
        self
    }

    /// Creates the endpoint: binds its sockets and starts receiving.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = RtpEndpoint::builder(&pipeline).build()?; // sockets bound here
    /// assert_eq!(endpoint.local_addresses()?.len(), 4);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn build(self) -> Result<RtpEndpoint> {
        let ip = match self.address {
            Some(ip) => ip,
            None => *mediaflow_ice::host_addresses(&NetConfig::default())?
                .first()
                .ok_or_else(|| Error::Resource("no host address to bind".into()))?,
        };
        let (config, range) = (self.config, self.port_range);
        let (min_kbps, max_kbps) = (self.min_send_kbps, self.max_send_kbps);
        let make = move |now: Instant| -> Result<Box<dyn Element>> {
            Ok(Box::new(RtpEndpointElement {
                session: RtpSession::new(config, now)?,
                sockets: Vec::new(),
                pads: Pads::new(min_kbps, max_kbps),
            }))
        };
        let element = self.pipeline.add_element_with(make, move |w, cx, id| {
            let audio = bind_pair(cx, ip, range)?;
            let video = match bind_pair(cx, ip, range) {
                Ok(v) => v,
                Err(e) => {
                    cx.close_socket(audio.0 .0);
                    cx.close_socket(audio.1 .0);
                    return Err(e);
                }
            };
            let sockets = vec![audio.0, audio.1, video.0, video.1];
            w.add_endpoint(id, sockets.iter());
            let endpoint = w
                .graph
                .element_as::<RtpEndpointElement>(id)
                .ok_or_else(|| Error::Internal("new endpoint vanished".into()))?;
            endpoint.session.set_local_ports(RtpLocalPorts {
                audio: (audio.0 .1, audio.1 .1),
                video: (video.0 .1, video.1 .1),
            });
            endpoint.sockets = sockets;
            Ok(())
        })?;
        Ok(RtpEndpoint { element })
    }
}

/// A plain RTP peer in a pipeline (Kurento's `RtpEndpoint`): SDP offer/answer with
/// RTP/AVP or RTP/AVPF, RTP and RTCP (SR/RR, NACK, PLI/FIR under AVPF) to the addresses
/// the SDP names — for SIP gateways, GStreamer or ffmpeg pipelines, and joining
/// pipelines of different processes. Raises ConnectionStateChanged (Connected once the
/// SDP exchange completed), MediaStateChanged (RTCP from the peer) and the media flow
/// events as a WebRtcEndpoint does.
///
/// ```
/// use mediaflow::{AppSink, AppSource, Buffer, MediaType};
/// use std::time::Duration;
///
/// use mediaflow::{MediaPipeline, RtpEndpoint};
/// use std::net::{IpAddr, Ipv4Addr};
///
/// let pipeline = MediaPipeline::new()?;
/// let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// let a = RtpEndpoint::builder(&pipeline).address(local).build()?;
/// let b = RtpEndpoint::builder(&pipeline).address(local).build()?;
/// // a sends what an AppSource gives it; b hands what it receives to an AppSink.
/// let (source, sink) = (AppSource::new(&pipeline)?, AppSink::new(&pipeline)?);
/// source.connect(&a)?;
/// b.connect(&sink)?;
/// let answer = b.process_offer(&a.generate_offer()?)?;
/// a.process_answer(&answer)?;
/// let mut vp8 = vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0x10, 0x00, 0x9d, 0x01, 0x2a];
/// vp8.resize(100, 0);
/// let mut packet = Buffer::new(MediaType::Video, vp8);
/// packet.codec = Some(mediaflow::codec::VP8);
/// packet.keyframe = true;
/// let mut got = None;
/// for _ in 0..100 {
///     source.push(packet.clone())?;
///     got = sink.recv_timeout(Duration::from_millis(50));
///     if got.is_some() { break; }
/// }
/// assert_eq!(got.expect("RTP over UDP").codec, Some(mediaflow::codec::VP8));
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpEndpoint {
    element: MediaElement,
}

impl Deref for RtpEndpoint {
    type Target = MediaElement;
    fn deref(&self) -> &MediaElement {
        &self.element
    }
}

impl AsRef<MediaElement> for RtpEndpoint {
    fn as_ref(&self) -> &MediaElement {
        &self.element
    }
}

impl From<RtpEndpoint> for MediaElement {
    fn from(e: RtpEndpoint) -> MediaElement {
        e.element
    }
}

impl RtpEndpoint {
    /// Options for a new endpoint in `pipeline`.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = RtpEndpoint::builder(&pipeline).recvonly().avpf(true).build()?;
    /// # drop(endpoint);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn builder(pipeline: &MediaPipeline) -> RtpEndpointBuilder {
        RtpEndpointBuilder {
            pipeline: pipeline.clone(),
            config: RtpSessionConfig::default(),
            address: None,
            port_range: None,
            min_send_kbps: 100,
            max_send_kbps: 500,
        }
    }

    /// An endpoint with default options.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let endpoint = RtpEndpoint::new(&pipeline)?;
    /// assert_eq!(endpoint.type_name(), "RtpEndpoint");
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn new(pipeline: &MediaPipeline) -> Result<RtpEndpoint> {
        RtpEndpoint::builder(pipeline).build()
    }

    fn with_session<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut RtpSession, Instant) -> T + Send + 'static,
    ) -> Result<T> {
        self.element
            .with_element(move |e: &mut RtpEndpointElement, now| {
                let out = f(&mut e.session, now);
                e.flush();
                out
            })
    }

    /// Applies the peer's SDP offer and returns the answer (Kurento's `processOffer`).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let a = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let b = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let answer = b.process_offer(&a.generate_offer()?)?;
    /// assert!(answer.starts_with("v=0"));
    /// assert!(matches!(b.process_offer("garbage"), Err(mediaflow::Error::InvalidSdp(_))));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn process_offer(&self, offer: &str) -> Result<String> {
        let offer = offer.to_owned();
        Ok(self.with_session(move |s, now| s.process_offer(&offer, now))??)
    }

    /// Creates an SDP offer for the peer (Kurento's `generateOffer`): audio and video.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let offer = RtpEndpoint::new(&pipeline)?.generate_offer()?;
    /// assert!(offer.contains("m=audio") && offer.contains("m=video"));
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
    /// use mediaflow::{MediaPipeline, OfferOptions, RtpEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let options = OfferOptions { offer_to_receive_audio: false, ..OfferOptions::default() };
    /// let offer = RtpEndpoint::new(&pipeline)?.generate_offer_with(options)?;
    /// let (audio, video) = offer.split_at(offer.find("m=video").unwrap());
    /// assert!(audio.contains("a=sendonly") && video.contains("a=sendrecv"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn generate_offer_with(&self, options: OfferOptions) -> Result<String> {
        Ok(self.with_session(move |s, now| s.generate_offer_with(options, now))??)
    }

    /// Applies the peer's answer to our offer (Kurento's `processAnswer`).
    ///
    /// ```
    /// use mediaflow::ConnectionState;
    ///
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let a = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let b = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// // An answer without an offer is a state error.
    /// assert!(matches!(a.process_answer("v=0"), Err(mediaflow::Error::WrongState(_))));
    /// let answer = b.process_offer(&a.generate_offer()?)?;
    /// a.process_answer(&answer)?;
    /// assert_eq!(a.get_connection_state()?, ConnectionState::Connected);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn process_answer(&self, answer: &str) -> Result<()> {
        let answer = answer.to_owned();
        Ok(self.with_session(move |s, now| s.process_answer(&answer, now))??)
    }

    /// Our SDP, once offered or answered.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let a = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let b = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// assert_eq!(a.get_local_session_descriptor()?, None);
    /// let offer = a.generate_offer()?;
    /// assert_eq!(a.get_local_session_descriptor()?, Some(offer));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_local_session_descriptor(&self) -> Result<Option<String>> {
        self.with_session(|s, _| s.local_description())
    }

    /// The peer's SDP, once given.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let a = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let b = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let offer = a.generate_offer()?;
    /// b.process_offer(&offer)?;
    /// assert_eq!(b.get_remote_session_descriptor()?, Some(offer));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_remote_session_descriptor(&self) -> Result<Option<String>> {
        self.with_session(|s, _| s.remote_description())
    }

    /// Kurento's `connectionState`: Connected once the SDP exchange completed.
    ///
    /// ```
    /// use mediaflow::ConnectionState;
    ///
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let a = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let b = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// assert_eq!(b.get_connection_state()?, ConnectionState::Disconnected);
    /// b.process_offer(&a.generate_offer()?)?;
    /// assert_eq!(b.get_connection_state()?, ConnectionState::Connected);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_connection_state(&self) -> Result<ConnectionState> {
        self.with_session(|s, _| s.states().0)
    }

    /// Kurento's `mediaState`: Connected while RTCP arrives from the peer.
    ///
    /// ```
    /// use mediaflow::MediaState;
    ///
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let a = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let b = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// // Connected only once RTCP arrives from the peer.
    /// assert_eq!(a.get_media_state()?, MediaState::Disconnected);
    /// # drop(b);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_media_state(&self) -> Result<MediaState> {
        self.with_session(|s, _| s.states().1)
    }

    /// RTP statistics: one entry per SSRC received and sent, plus discard counters.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let a = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let b = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let stats = a.get_stats()?;
    /// assert!(stats.inbound.is_empty() && stats.outbound.is_empty()); // nothing sent yet
    /// # drop(b);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_stats(&self) -> Result<mediaflow_rtp::SessionStats> {
        self.with_session(|s, _| s.stats())
    }

    /// Datagrams refused so far, and media that could not be sent.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let a = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let b = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// b.process_offer(&a.generate_offer()?)?;
    /// // A stranger's datagram to b's RTP port is refused and counted, not processed.
    /// let stranger = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// stranger.send_to(b"junk", b.local_addresses()?[2]).unwrap();
    /// std::thread::sleep(std::time::Duration::from_millis(200));
    /// println!("refused: {:?}", b.discards()?);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn discards(&self) -> Result<mediaflow_rtp::Discards> {
        self.with_session(|s, _| s.discards())
    }

    /// The local addresses of the endpoint's sockets: audio RTP, audio RTCP, video
    /// RTP, video RTCP.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let a = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let b = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let [audio_rtp, audio_rtcp, video_rtp, video_rtcp] = a.local_addresses()?[..] else { panic!() };
    /// println!("audio {audio_rtp}/{audio_rtcp}, video {video_rtp}/{video_rtcp}");
    /// # drop(b);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn local_addresses(&self) -> Result<Vec<SocketAddr>> {
        self.element.with_element(|e: &mut RtpEndpointElement, _| {
            e.sockets.iter().map(|(_, a)| *a).collect()
        })
    }

    /// Asks the peer for a keyframe of the video it sends (Kurento's `requestKeyframe`;
    /// a PLI, which needs RTP/AVPF to be heard).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RtpEndpoint};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let a = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let b = RtpEndpoint::builder(&pipeline).address(local).build()?;
    /// let answer = b.process_offer(&a.generate_offer()?)?;
    /// a.process_answer(&answer)?;
    /// b.request_keyframe()?; // a PLI to a: an AppSource behind it would count it
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn request_keyframe(&self) -> Result<()> {
        self.with_session(|s, now| s.request_keyframe(now, MediaKind::Video))
    }
}
