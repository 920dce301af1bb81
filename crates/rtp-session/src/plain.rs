//! One plain RTP session (the protocol side of an RtpEndpoint), sans-IO: SDP with
//! RTP/AVP or RTP/AVPF (`negotiate::plain`), no ICE and no DTLS, the same media
//! streams as a WebRTC session (`media`: SSRC routing, SR/RR, NACK, PLI/FIR, REMB) over
//! a transport that sends to the addresses the SDP named.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::media::{LocalSsrcs, Media, MediaTransport};
use crate::negotiate::plain::{PlainLocal, PlainNegotiator, PlainSection};
use crate::states::States;
use crate::types::{ConnectionState, MediaState};
use crate::{
    Direction, Discards, MediaKind, MediaPacket, SessionError, SessionEvent, SessionStats, Transmit,
};

/// Settings of an [`RtpSession`].
#[derive(Clone, Debug)]
pub struct RtpSessionConfig {
    /// Which way media may go.
    pub direction: Direction,
    /// MediaState turns Disconnected after this long without RTCP from the peer.
    pub media_timeout: Duration,
    /// Offer RTP/AVPF (NACK, PLI, FIR, REMB feedback) rather than RTP/AVP. Offers are
    /// answered in the profile they use either way.
    pub avpf: bool,
    /// Bounds of the REMB estimate sent for received video (AVPF only).
    pub remb: crate::remb::RembConfig,
}

impl Default for RtpSessionConfig {
    fn default() -> RtpSessionConfig {
        RtpSessionConfig {
            direction: Direction::SendRecv,
            media_timeout: Duration::from_secs(15),
            avpf: true,
            remb: crate::remb::RembConfig::default(),
        }
    }
}

/// The local sockets of an [`RtpSession`]: an RTP and an RTCP socket per media, on
/// the address written in our `c=` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpLocalPorts {
    /// Audio (RTP, RTCP).
    pub audio: (SocketAddr, SocketAddr),
    /// Video (RTP, RTCP).
    pub video: (SocketAddr, SocketAddr),
}

/// Where one media's RTP and RTCP go, and from which of our sockets.
#[derive(Clone, Copy, Debug)]
struct Path {
    kind: MediaKind,
    local_rtp: SocketAddr,
    local_rtcp: SocketAddr,
    rtp: SocketAddr,
    rtcp: SocketAddr,
}

/// Plain RTP/RTCP over the addresses the SDP named: nothing to decrypt, one copy per
/// packet received (the media path hands owned buffers on).
struct PlainTransport {
    paths: Vec<Path>,
    audio_ssrc: u32,
    transmits: VecDeque<Transmit>,
}

impl PlainTransport {
    fn queue(&mut self, local: SocketAddr, peer: SocketAddr, data: &[u8]) -> bool {
        if peer.ip().is_unspecified() || peer.port() == 0 {
            // c=0.0.0.0: the peer holds the media.
            return false;
        }
        self.transmits.push_back(Transmit {
            local,
            peer,
            data: BytesMut::from(data),
            tcp: false,
        });
        true
    }

    fn path_from(&self, peer: SocketAddr) -> bool {
        self.paths
            .iter()
            .any(|p| p.rtp.ip() == peer.ip() || p.rtcp.ip() == peer.ip())
    }
}

impl MediaTransport for PlainTransport {
    fn is_secure(&self) -> bool {
        !self.paths.is_empty()
    }

    fn decrypt_rtp(&mut self, data: &[u8]) -> Option<BytesMut> {
        Some(BytesMut::from(data))
    }

    fn decrypt_unsignalled_rtp(&mut self, data: &[u8]) -> Option<BytesMut> {
        Some(BytesMut::from(data))
    }

    fn decrypt_rtcp(&mut self, data: &[u8]) -> Option<BytesMut> {
        Some(BytesMut::from(data))
    }

    fn send_rtp(&mut self, plain: &[u8]) -> bool {
        let Some(ssrc) = plain.get(8..12) else {
            return false;
        };
        let ssrc = u32::from_be_bytes([ssrc[0], ssrc[1], ssrc[2], ssrc[3]]);
        let kind = if ssrc == self.audio_ssrc {
            MediaKind::Audio
        } else {
            MediaKind::Video
        };
        match self.paths.iter().find(|p| p.kind == kind).copied() {
            Some(p) => self.queue(p.local_rtp, p.rtp, plain),
            None => false,
        }
    }

    /// Reports and feedback go to each media's RTCP address (a compound covers both
    /// streams; a receiver ignores the blocks of SSRCs it does not know).
    fn send_rtcp(&mut self, plain: &[u8]) -> bool {
        let mut sent = false;
        for p in self.paths.clone() {
            let local = if p.rtcp == p.rtp {
                p.local_rtp
            } else {
                p.local_rtcp
            };
            sent |= self.queue(local, p.rtcp, plain);
        }
        sent
    }
}

/// One plain RTP session: SDP offer/answer with RTP/AVP or RTP/AVPF, RTP and RTCP to
/// the addresses the SDP gives, Kurento's ConnectionState and MediaState.
///
/// Feed it datagrams (`handle_datagram`) and time (`handle_timeout`); drain
/// `poll_transmit`, `poll_event` and `poll_media`.
pub struct RtpSession {
    config: RtpSessionConfig,
    negotiator: PlainNegotiator,
    transport: PlainTransport,
    states: States,
    media: Media,
    discards: Discards,
    local: Option<RtpLocalPorts>,
}

impl RtpSession {
    /// A session with nothing negotiated yet, its sockets not known yet
    /// (`set_local_ports`).
    pub fn new(config: RtpSessionConfig, now: Instant) -> RtpSession {
        let ssrcs = LocalSsrcs {
            audio: crate::session::random_u32(),
            video: crate::session::random_u32(),
            video_rtx: crate::session::random_u32(),
        };
        let cname = format!("mediaflow-{:08x}", crate::session::random_u32());
        let negotiator = PlainNegotiator::new(PlainLocal {
            cname: cname.clone(),
            audio_ssrc: ssrcs.audio,
            video_ssrc: ssrcs.video,
            video_rtx_ssrc: ssrcs.video_rtx,
            direction: config.direction,
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            audio_ports: (0, 0),
            video_ports: (0, 0),
            avpf: config.avpf,
        });
        let media = Media::new(ssrcs, cname, config.remb, now);
        RtpSession {
            transport: PlainTransport {
                paths: Vec::new(),
                audio_ssrc: ssrcs.audio,
                transmits: VecDeque::new(),
            },
            config,
            negotiator,
            states: States::new(),
            media,
            discards: Discards::default(),
            local: None,
        }
    }

    /// The sockets the runtime bound for us; our SDP names their address and ports.
    pub fn set_local_ports(&mut self, ports: RtpLocalPorts) {
        let local = self.negotiator.local_mut();
        local.address = ports.video.0.ip();
        local.audio_ports = (ports.audio.0.port(), ports.audio.1.port());
        local.video_ports = (ports.video.0.port(), ports.video.1.port());
        self.local = Some(ports);
    }

    /// Applies the peer's offer and returns our answer (Kurento's `processOffer`).
    pub fn process_offer(&mut self, sdp: &str, now: Instant) -> Result<String, SessionError> {
        let (answer, sections) = self.negotiator.process_offer(sdp)?;
        self.apply(&sections, now);
        Ok(answer)
    }

    /// Creates our offer (Kurento's `generateOffer`): audio and video.
    pub fn generate_offer(&mut self, _now: Instant) -> Result<String, SessionError> {
        Ok(self.negotiator.generate_offer())
    }

    /// Applies the peer's answer to our offer (Kurento's `processAnswer`).
    pub fn process_answer(&mut self, sdp: &str, now: Instant) -> Result<(), SessionError> {
        let sections = self.negotiator.process_answer(sdp)?;
        self.apply(&sections, now);
        Ok(())
    }

    fn apply(&mut self, sections: &[PlainSection], now: Instant) {
        let local = self.local.unwrap_or(RtpLocalPorts {
            audio: (unspecified(), unspecified()),
            video: (unspecified(), unspecified()),
        });
        self.transport.paths = sections
            .iter()
            .map(|s| {
                let (local_rtp, local_rtcp) = match s.section.kind {
                    MediaKind::Audio => local.audio,
                    MediaKind::Video => local.video,
                };
                Path {
                    kind: s.section.kind,
                    local_rtp,
                    local_rtcp,
                    rtp: s.rtp,
                    rtcp: s.rtcp,
                }
            })
            .collect();
        let plain: Vec<_> = sections.iter().map(|s| s.section.clone()).collect();
        self.media.apply(&plain, now);
        // Nothing to handshake: the addresses are the connection.
        self.states.set_connection(ConnectionState::Connected);
    }

    /// Our SDP, once offered or answered.
    pub fn local_description(&self) -> Option<String> {
        self.negotiator.local_description()
    }

    /// The peer's SDP, once applied.
    pub fn remote_description(&self) -> Option<String> {
        self.negotiator.remote_description().map(str::to_owned)
    }

    /// Codecs the peer takes from us for `kind`, preferred first.
    pub fn accepted_codecs(&self, kind: MediaKind) -> &[&'static str] {
        self.media.accepted_codecs(kind)
    }

    /// The peer's latest REMB about what we send, in bits per second.
    pub fn remote_estimated_bitrate(&self) -> Option<u32> {
        self.media.remote_remb
    }

    /// A datagram arrived on one of our sockets (`local`) from `peer`. RTP and RTCP
    /// are told apart by the packet type (RFC 5761 §4), on either socket; only the
    /// peer's addresses (any port: peers often send from another port than the one
    /// they receive on) are heard.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        _local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) {
        if data.len() < 8 || !(128..=191).contains(&data[0]) {
            self.discards.datagrams += 1;
            return;
        }
        if !self.transport.path_from(peer) {
            self.discards.unknown_source += 1;
            return;
        }
        if (192..=223).contains(&data[1]) {
            self.media
                .handle_rtcp(now, data, &mut self.transport, &mut self.states);
        } else {
            self.media.handle_rtp(now, data, &mut self.transport);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transport.transmits.pop_front()
    }

    /// When `handle_timeout` should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let media_timeout = self.states.media_deadline(self.config.media_timeout);
        self.media
            .poll_timeout()
            .into_iter()
            .chain(media_timeout)
            .min()
    }

    /// Time advanced: reports and NACKs that are due, MediaState.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.media.handle_timeout(now, &mut self.transport);
        self.states
            .check_media_timeout(now, self.config.media_timeout);
    }

    /// The next event (ConnectionStateChanged, MediaStateChanged, KeyframeRequested).
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.states.events.pop_front()
    }

    /// The next RTP packet received from the peer.
    pub fn poll_media(&mut self) -> Option<MediaPacket> {
        self.media.out.pop_front()
    }

    /// Current states: connection, media.
    pub fn states(&self) -> (ConnectionState, MediaState) {
        (self.states.connection, self.states.media)
    }

    /// Sends an RTP packet of `codec` to the peer on our `kind` stream, rewritten to our
    /// SSRC, the payload type negotiated for that codec and a continuous sequence.
    pub fn send_rtp(
        &mut self,
        now: Instant,
        kind: MediaKind,
        codec_name: &str,
        rtp: &[u8],
    ) -> Result<(), SessionError> {
        let result = if self.transport.paths.is_empty() {
            Err(SessionError::Media("not negotiated yet".into()))
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

    /// What the session refused so far.
    pub fn discards(&self) -> Discards {
        let mut d = self.discards;
        self.media.fill_discards(&mut d);
        d
    }

    /// RTP statistics (W3C webrtc-stats names) and discard counters.
    pub fn stats(&self) -> SessionStats {
        let d = self.discards();
        SessionStats {
            inbound: self.media.inbound_stats(),
            outbound: self.media.outbound_stats(),
            datagrams_discarded: d.datagrams + d.unknown_source + d.rtcp,
            srtp_packets_discarded: d.srtp,
            remote_estimated_bitrate: self.media.remote_remb,
            srtp_cipher: None,
            media_not_sent: d.outgoing_media,
            discarded: d,
            turn_datagrams_sent: 0,
            turn_datagrams_received: 0,
        }
    }
}

fn unspecified() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
}
