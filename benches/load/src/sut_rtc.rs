//! SUT: an echo server on webrtc-rs `rtc` 0.21.1 (the sans-IO RTCPeerConnection
//! mediaflow is built on), shaped like rtc's own `reflect` example: one
//! RTCPeerConnection per session with an Opus and a VP8 track, every received RTP
//! packet written back on the track of its kind with our SSRC. One UDP socket, one
//! thread, no graph, no runtime around it.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use bytes::BytesMut;
use rtc::interceptor::Registry;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::{RTCIceConnectionState, RTCPeerConnectionState};
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCDtlsRole, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

use crate::common::{sdp_ufrag, Demux, Request, Response};
use crate::serve::{Echo, Timers};
use crate::udp::SendBatch;

struct Track {
    sender: RTCRtpSenderId,
    ssrc: u32,
}

struct Session {
    pc: RTCPeerConnection,
    audio: Track,
    video: Track,
    /// Remote track id -> is it video.
    remote: HashMap<String, bool>,
    alive: bool,
}

pub struct RtcEcho {
    local: SocketAddr,
    fd: RawFd,
    sessions: Vec<Session>,
    demux: Demux,
    timers: Timers,
    next_ssrc: u32,
}

/// The payload types the generator offers (str0m's defaults, which are Chromium's).
const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 96;

fn codec(mime: &str, clock_rate: u32, channels: u16, pt: u8) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.to_owned(),
            clock_rate,
            channels,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        payload_type: pt,
    }
}

fn track(
    kind: RtpCodecKind,
    name: &str,
    ssrc: u32,
    codec: &RTCRtpCodecParameters,
) -> MediaStreamTrack {
    MediaStreamTrack::new(
        "rtc-echo".to_owned(),
        format!("rtc-echo-{name}"),
        format!("rtc-echo-{name}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: codec.rtp_codec.clone(),
            ..Default::default()
        }],
    )
}

impl RtcEcho {
    pub fn new(socket: &UdpSocket) -> Result<RtcEcho> {
        Ok(RtcEcho {
            local: socket.local_addr()?,
            fd: socket.as_raw_fd(),
            sessions: Vec::new(),
            demux: Demux::default(),
            timers: Timers::default(),
            next_ssrc: 0x5000_0000,
        })
    }

    fn try_open(&mut self, req: &Request, now: Instant) -> Result<Response> {
        let sdp = req.offer.as_deref().context("no offer in the request")?;
        let opus = codec(MIME_TYPE_OPUS, 48000, 2, OPUS_PT);
        let vp8 = codec(MIME_TYPE_VP8, 90000, 0, VP8_PT);
        let mut engine = MediaEngine::default();
        engine.register_codec(opus.clone(), RtpCodecKind::Audio)?;
        engine.register_codec(vp8.clone(), RtpCodecKind::Video)?;
        // The default interceptors (RTCP reports, NACK, TWCC), as in `reflect` and as
        // mediaflow runs them.
        let registry = register_default_interceptors(Registry::new(), &mut engine)?;
        // Answer as the DTLS client, like mediaflow.
        let settings = SettingEngineBuilder::new()
            .with_answering_dtls_role(RTCDtlsRole::Client)
            .build();
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(settings)
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .build(now)?;
        self.next_ssrc = self.next_ssrc.wrapping_add(2);
        let (a_ssrc, v_ssrc) = (self.next_ssrc, self.next_ssrc + 1);
        let audio = pc.add_track(track(RtpCodecKind::Audio, "audio", a_ssrc, &opus))?;
        let video = pc.add_track(track(RtpCodecKind::Video, "video", v_ssrc, &vp8))?;
        let offer = RTCSessionDescription::offer(sdp.to_owned())?;
        pc.set_remote_description(now, offer)?;
        let host = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".to_owned(),
                address: self.local.ip().to_string(),
                port: self.local.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()?;
        let host = RTCIceCandidate::from(&host).to_json()?;
        let host_line = host.candidate.clone();
        pc.add_local_candidate(host)?;
        if !sdp.contains("a=candidate") {
            for c in &req.candidates {
                pc.add_remote_candidate(RTCIceCandidateInit {
                    candidate: c.clone(),
                    sdp_mline_index: Some(0),
                    ..Default::default()
                })?;
            }
        }
        let answer = pc.create_answer(None)?;
        pc.set_local_description(now, answer)?;
        let answer = pc
            .local_description()
            .map(|d| d.sdp.clone())
            .ok_or_else(|| anyhow!("no local description after set_local_description"))?;
        let idx = self.sessions.len();
        if let Some(ufrag) = sdp_ufrag(&answer) {
            self.demux.register(ufrag, idx);
        }
        self.sessions.push(Session {
            pc,
            audio: Track {
                sender: audio,
                ssrc: a_ssrc,
            },
            video: Track {
                sender: video,
                ssrc: v_ssrc,
            },
            remote: HashMap::new(),
            alive: true,
        });
        let mut out = SendBatch::default();
        self.drain(idx, now, &mut out);
        out.flush();
        Ok(Response {
            id: req.id,
            answer: Some(answer),
            candidates: vec![host_line],
            ..Default::default()
        })
    }

    /// Moves session `idx` forward: events, echoes, datagrams out, next timeout.
    fn drain(&mut self, idx: usize, now: Instant, out: &mut SendBatch) {
        let fd = self.fd;
        let Some(s) = self.sessions.get_mut(idx) else {
            return;
        };
        // Echoing writes through the interceptors, which may queue more to read and
        // write: a few rounds settle it.
        for _ in 0..4 {
            let mut flush_dtls = false;
            while let Some(event) = s.pc.poll_event() {
                match event {
                    RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                        let video =
                            s.pc.rtp_receiver(init.receiver_id)
                                .is_some_and(|r| r.track().kind() == RtpCodecKind::Video);
                        s.remote.insert(init.track_id.clone(), video);
                    }
                    RTCPeerConnectionEvent::OnIceConnectionStateChangeEvent(
                        RTCIceConnectionState::Connected | RTCIceConnectionState::Completed,
                    ) => flush_dtls = true,
                    RTCPeerConnectionEvent::OnConnectionStateChangeEvent(
                        RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed,
                    ) => s.alive = false,
                    _ => {}
                }
            }
            if flush_dtls {
                // ICE selected a pair: the stack's DTLS client has started its handshake
                // but keeps the ClientHello until the next handle_timeout, and its
                // poll_timeout names the next ~200 ms ICE tick, not now. Send what is
                // queued first (the binding response that made us select, or the peer
                // drops the early ClientHello and waits for its retransmission), then
                // let the flight out now. mediaflow does the same around this stack.
                while let Some(m) = s.pc.poll_write() {
                    out.push(fd, m.transport.peer_addr, &m.message);
                }
                let _ = s.pc.handle_timeout(now);
            }
            let mut echoed = false;
            while let Some(msg) = s.pc.poll_read() {
                if let RTCMessage::RtpPacket(track_id, mut packet) = msg.message {
                    let video = match s.remote.get(&track_id) {
                        Some(&v) => v,
                        None => packet.header.payload_type == VP8_PT,
                    };
                    let track = if video { &s.video } else { &s.audio };
                    packet.header.ssrc = track.ssrc;
                    if let Some(mut sender) = s.pc.rtp_sender(track.sender) {
                        if sender.write_rtp(now, packet).is_ok() {
                            echoed = true;
                        }
                    }
                }
            }
            let mut wrote = false;
            while let Some(m) = s.pc.poll_write() {
                out.push(fd, m.transport.peer_addr, &m.message);
                wrote = true;
            }
            if !echoed && !wrote {
                break;
            }
        }
        match s.pc.poll_timeout() {
            Some(t) if s.alive => self.timers.set(idx, t.max(now), now),
            _ => self.timers.clear(idx),
        }
    }
}

impl Echo for RtcEcho {
    fn open(&mut self, req: &Request, now: Instant) -> Response {
        self.try_open(req, now)
            .unwrap_or_else(|e| Response::error(req.id, e))
    }

    fn datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8], out: &mut SendBatch) {
        let Some(idx) = self.demux.session_of(source, data) else {
            return;
        };
        let local = self.local;
        let s = &mut self.sessions[idx];
        if !s.alive {
            return;
        }
        // The stack reports undecryptable or stray datagrams as errors and drops them;
        // so do we.
        let _ = s.pc.handle_read(TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: local,
                peer_addr: source,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(data),
        });
        self.drain(idx, now, out);
    }

    fn timeouts(&mut self, now: Instant, out: &mut SendBatch) {
        for _ in 0..4096 {
            let Some(idx) = self.timers.pop_due(now) else {
                break;
            };
            let s = &mut self.sessions[idx];
            if !s.alive {
                continue;
            }
            let _ = s.pc.handle_timeout(now);
            self.drain(idx, now, out);
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}
