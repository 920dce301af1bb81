//! One plain RTP session (the protocol side of an RtpEndpoint), sans-IO: SDP with
//! RTP/AVP or RTP/AVPF (`negotiate::plain`), no ICE and no DTLS, the same media
//! streams as a WebRTC session (`media`: SSRC routing, SR/RR, NACK, PLI/FIR, REMB) over
//! a transport that sends to the addresses the SDP named.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::media::{LocalSsrcs, Media, MediaTransport};
use rtc::srtp::protection_profile::ProtectionProfile;

use crate::negotiate::plain::{PlainLocal, PlainNegotiator, PlainSection, SDES_KEY_LEN};
use crate::states::States;
use crate::transport::Srtp;
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
    /// SDES-SRTP (Kurento's `crypto` option; RFC 4568, AES_CM_128_HMAC_SHA1_80): offer
    /// and accept RTP/SAVP(F) with `a=crypto` keys only.
    pub sdes: bool,
    /// `b=AS` on the m-lines we receive on (see [`crate::SessionConfig::max_recv_kbps`]).
    pub max_recv_kbps: crate::MaxRecvKbps,
}

impl Default for RtpSessionConfig {
    fn default() -> RtpSessionConfig {
        RtpSessionConfig {
            direction: Direction::SendRecv,
            media_timeout: Duration::from_secs(15),
            avpf: true,
            remb: crate::remb::RembConfig::default(),
            sdes: false,
            max_recv_kbps: crate::MaxRecvKbps::default(),
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

/// Where one media's RTP and RTCP go, from which of our sockets, and its SDES-SRTP
/// contexts.
struct Path {
    kind: MediaKind,
    local_rtp: SocketAddr,
    local_rtcp: SocketAddr,
    rtp: SocketAddr,
    rtcp: SocketAddr,
    srtp: Option<Srtp>,
}

/// RTP/RTCP over the addresses the SDP named, plain (one copy per packet received: the
/// media path hands owned buffers on) or SDES-SRTP.
struct PlainTransport {
    paths: Vec<Path>,
    audio_ssrc: u32,
    transmits: VecDeque<Transmit>,
    /// Our SDES master key and salt, when SRTP is on.
    local_key: Option<Vec<u8>>,
    /// The media of the socket the datagram being handled arrived on: its keys.
    current: MediaKind,
}

impl PlainTransport {
    /// Protects (under SDES) and queues a datagram of path `i`.
    fn queue(&mut self, i: usize, rtcp: bool, data: &[u8]) -> bool {
        let p = &mut self.paths[i];
        let (local, peer) = match (rtcp, p.rtcp == p.rtp) {
            (false, _) => (p.local_rtp, p.rtp),
            (true, true) => (p.local_rtp, p.rtcp),
            (true, false) => (p.local_rtcp, p.rtcp),
        };
        if peer.ip().is_unspecified() || peer.port() == 0 {
            // c=0.0.0.0: the peer holds the media.
            return false;
        }
        let data = match &mut p.srtp {
            Some(srtp) => match srtp.protect(data, rtcp) {
                Some(d) => d,
                None => return false,
            },
            None => BytesMut::from(data),
        };
        self.transmits.push_back(Transmit {
            local,
            peer,
            data,
            tcp: false,
        });
        true
    }

    /// The SRTP contexts of the current datagram's media; `None` for plain RTP.
    fn keys(&mut self) -> Option<Option<&mut Srtp>> {
        if self.local_key.is_none() {
            return Some(None);
        }
        let current = self.current;
        let path = self.paths.iter_mut().find(|p| p.kind == current)?;
        Some(Some(path.srtp.as_mut()?))
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
        match self.keys()? {
            Some(srtp) => srtp.decrypt_rtp(data),
            None => Some(BytesMut::from(data)),
        }
    }

    fn decrypt_rtcp(&mut self, data: &[u8]) -> Option<BytesMut> {
        match self.keys()? {
            Some(srtp) => srtp.decrypt_rtcp(data),
            None => Some(BytesMut::from(data)),
        }
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
        match self.paths.iter().position(|p| p.kind == kind) {
            Some(i) => self.queue(i, false, plain),
            None => false,
        }
    }

    /// Reports and feedback go to each media's RTCP address (a compound covers both
    /// streams; a receiver ignores the blocks of SSRCs it does not know).
    fn send_rtcp(&mut self, plain: &[u8]) -> bool {
        let mut sent = false;
        for i in 0..self.paths.len() {
            sent |= self.queue(i, true, plain);
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
    pub fn new(config: RtpSessionConfig, now: Instant) -> Result<RtpSession, SessionError> {
        let ssrcs = LocalSsrcs {
            audio: crate::session::random_u32(),
            video: crate::session::random_u32(),
            video_rtx: crate::session::random_u32(),
        };
        let cname = format!("mediaflow-{:08x}", crate::session::random_u32());
        let local_key = if config.sdes {
            let mut key = vec![0u8; SDES_KEY_LEN];
            crate::transport::crypto()?
                .random()
                .fill(&mut key)
                .map_err(|e| SessionError::Stack(format!("random SDES key: {e}")))?;
            Some(key)
        } else {
            None
        };
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
            max_recv_kbps: config.max_recv_kbps,
            crypto: local_key.as_ref().map(|k| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(k)
            }),
        });
        // A plain RTP peer negotiates no header extension.
        let media = Media::new(ssrcs, cname, config.remb, Duration::ZERO, now);
        Ok(RtpSession {
            transport: PlainTransport {
                paths: Vec::new(),
                audio_ssrc: ssrcs.audio,
                transmits: VecDeque::new(),
                local_key,
                current: MediaKind::Video,
            },
            config,
            negotiator,
            states: States::new(),
            media,
            discards: Discards::default(),
            local: None,
        })
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
        self.apply(&sections, now)?;
        Ok(answer)
    }

    /// Creates our offer (Kurento's `generateOffer`): audio and video.
    pub fn generate_offer(&mut self, now: Instant) -> Result<String, SessionError> {
        self.generate_offer_with(crate::OfferOptions::default(), now)
    }

    /// Our offer, asking to receive only the kinds `options` name.
    pub fn generate_offer_with(
        &mut self,
        options: crate::OfferOptions,
        _now: Instant,
    ) -> Result<String, SessionError> {
        Ok(self.negotiator.generate_offer_with(options))
    }

    /// Applies the peer's answer to our offer (Kurento's `processAnswer`).
    pub fn process_answer(&mut self, sdp: &str, now: Instant) -> Result<(), SessionError> {
        let sections = self.negotiator.process_answer(sdp)?;
        self.apply(&sections, now)
    }

    /// The SRTP cipher in use, W3C's spelling (SDES-SRTP), or `None` for plain RTP.
    pub fn srtp_cipher(&self) -> Option<&'static str> {
        self.transport
            .local_key
            .as_ref()
            .map(|_| "SRTP_AES128_CM_HMAC_SHA1_80")
    }

    fn apply(&mut self, sections: &[PlainSection], now: Instant) -> Result<(), SessionError> {
        let local = self.local.unwrap_or(RtpLocalPorts {
            audio: (unspecified(), unspecified()),
            video: (unspecified(), unspecified()),
        });
        let mut paths = Vec::with_capacity(sections.len());
        for s in sections {
            let (local_rtp, local_rtcp) = match s.section.kind {
                MediaKind::Audio => local.audio,
                MediaKind::Video => local.video,
            };
            let srtp = match (&self.transport.local_key, &s.remote_key) {
                (Some(ours), Some(theirs)) => Some(sdes_srtp(ours, theirs)?),
                _ => None,
            };
            paths.push(Path {
                kind: s.section.kind,
                local_rtp,
                local_rtcp,
                rtp: s.rtp,
                rtcp: s.rtcp,
                srtp,
            });
        }
        self.transport.paths = paths;
        let plain: Vec<_> = sections.iter().map(|s| s.section.clone()).collect();
        self.media.apply(&plain, now);
        // Nothing to handshake: the addresses are the connection.
        self.states.set_connection(ConnectionState::Connected);
        Ok(())
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
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) {
        if let Some(p) = self.local {
            self.transport.current = if local == p.audio.0 || local == p.audio.1 {
                MediaKind::Audio
            } else {
                MediaKind::Video
            };
        }
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
        rtp: Bytes,
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
            srtp_cipher: self.srtp_cipher().map(str::to_owned),
            media_not_sent: d.outgoing_media,
            discarded: d,
            turn_datagrams_sent: 0,
            turn_datagrams_received: 0,
        }
    }
}

/// SDES contexts of one media: ours from our key, the peer's from its a=crypto.
fn sdes_srtp(ours: &[u8], theirs: &[u8]) -> Result<Srtp, SessionError> {
    let crypto = crate::transport::crypto()?;
    let (key, salt) = ours.split_at(16);
    let (their_key, their_salt) = theirs.split_at(16);
    Srtp::new(
        key,
        salt,
        their_key,
        their_salt,
        ProtectionProfile::Aes128CmHmacSha1_80,
        crypto.crypto(),
    )
}

fn unspecified() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(sdes: bool) -> RtpSession {
        let now = Instant::now();
        let config = RtpSessionConfig {
            sdes,
            ..RtpSessionConfig::default()
        };
        let mut s = RtpSession::new(config, now).unwrap();
        let a = |p: u16| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p);
        s.set_local_ports(RtpLocalPorts {
            audio: (a(5000), a(5001)),
            video: (a(5002), a(5003)),
        });
        let key = "afReactzWRZgI5yOzhXSaNfi+khD4eLMUofc9spn";
        let (proto, crypto) = if sdes {
            (
                "RTP/SAVPF",
                format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\n"),
            )
        } else {
            ("RTP/AVPF", String::new())
        };
        let offer = format!(
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=video 6000 {proto} 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\n{crypto}"
        );
        s.process_offer(&offer, now).unwrap();
        s
    }

    /// Garbage, truncated and random datagrams from the peer and from strangers: no
    /// panic, each one counted.
    #[test]
    fn any_datagram_is_survived_and_counted() {
        for sdes in [false, true] {
            let mut s = session(sdes);
            let now = Instant::now();
            let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5002);
            let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6000);
            let stranger = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7)), 6000);
            let mut seed = 0x2545_f491_4f6c_dd1du64;
            let mut next = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let mut fixed: Vec<Vec<u8>> = vec![
                vec![],
                vec![0x80],
                vec![0x80, 96, 0, 1],
                vec![0x80, 200, 0, 6, 0, 0, 0, 1],
                vec![0x80, 201, 0xff, 0xff, 0, 0, 0, 1, 1, 2, 3],
                vec![
                    0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff,
                ],
                vec![0xbf, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
            ];
            for _ in 0..2000 {
                let len = (next() % 64) as usize;
                let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if let Some(b) = d.first_mut() {
                    *b = 0x80 | (*b & 0x3f);
                }
                fixed.push(d);
            }
            for (i, d) in fixed.iter().enumerate() {
                let from = if i % 7 == 0 { stranger } else { peer };
                s.handle_datagram(now, local, from, d);
                s.handle_timeout(now + Duration::from_millis(i as u64));
                while s.poll_transmit().is_some() {}
                while s.poll_media().is_some() {}
            }
            let d = s.discards();
            assert!(d.unknown_source > 0 && d.datagrams > 0, "{d:?}");
        }
    }
}
