//! SUT: an echo server on str0m in RTP mode. One UDP socket, one thread; each
//! received RTP packet is written back on the session's send stream of the same m-line
//! (same payload, sequence and timestamp), which is the least str0m can do per packet.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use anyhow::{Context, Result};
use str0m::change::SdpOffer;
use str0m::media::Mid;
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use crate::common::{sdp_ufrag, Demux, Request, Response};
use crate::serve::{Echo, Timers};
use crate::udp::SendBatch;

struct Session {
    rtc: Rtc,
    /// Incoming SSRC -> m-line, so the echo needs no lookup in str0m per packet.
    mids: Vec<(Ssrc, Mid)>,
    alive: bool,
}

pub struct Str0mEcho {
    local: SocketAddr,
    fd: RawFd,
    sessions: Vec<Session>,
    demux: Demux,
    timers: Timers,
}

impl Str0mEcho {
    pub fn new(socket: &UdpSocket) -> Result<Str0mEcho> {
        Ok(Str0mEcho {
            local: socket.local_addr()?,
            fd: socket.as_raw_fd(),
            sessions: Vec::new(),
            demux: Demux::default(),
            timers: Timers::default(),
        })
    }

    fn try_open(&mut self, req: &Request, now: Instant) -> Result<Response> {
        let sdp = req.offer.as_deref().context("no offer in the request")?;
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(now);
        let host = Candidate::host(self.local, "udp").context("host candidate")?;
        let host_line = host.to_sdp_string();
        rtc.add_local_candidate(host);
        let offer = SdpOffer::from_sdp_string(sdp).context("parsing the offer")?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .context("accepting the offer")?;
        if !sdp.contains("a=candidate") {
            for c in &req.candidates {
                rtc.add_remote_candidate(Candidate::from_sdp_string(c).context("candidate")?);
            }
        }
        let answer = answer.to_sdp_string();
        let idx = self.sessions.len();
        if let Some(ufrag) = sdp_ufrag(&answer) {
            self.demux.register(ufrag, idx);
        }
        self.sessions.push(Session {
            rtc,
            mids: Vec::new(),
            alive: true,
        });
        self.drain(idx, now, None);
        Ok(Response {
            id: req.id,
            answer: Some(answer),
            candidates: vec![host_line],
            ..Default::default()
        })
    }

    /// Polls session `idx` until it has nothing but a future timeout, sending and
    /// echoing on the way.
    fn drain(&mut self, idx: usize, now: Instant, out: Option<&mut SendBatch>) {
        let fd = self.fd;
        let Some(s) = self.sessions.get_mut(idx) else {
            return;
        };
        // A write leaves the packet waiting for the next timeout ("now") to be stamped
        // and released: a few immediate timeouts per drain let it out in the same pass.
        let mut immediate = 0;
        let mut scratch = SendBatch::default();
        let out: &mut SendBatch = match out {
            Some(o) => o,
            None => &mut scratch,
        };
        loop {
            let output = match s.rtc.poll_output() {
                Ok(o) => o,
                Err(_) => {
                    s.alive = false;
                    break;
                }
            };
            match output {
                Output::Timeout(t) => {
                    if t <= now && immediate < 8 {
                        immediate += 1;
                        if s.rtc.handle_input(Input::Timeout(now)).is_err() {
                            s.alive = false;
                            break;
                        }
                        continue;
                    }
                    self.timers.set(idx, t.max(now), now);
                    break;
                }
                Output::Transmit(t) => out.push(fd, t.destination, &t.contents),
                Output::Event(Event::RtpPacket(p)) => {
                    let ssrc = p.header.ssrc;
                    let mid = match s.mids.iter().find(|(x, _)| *x == ssrc) {
                        Some((_, mid)) => Some(*mid),
                        None => {
                            let mid = s.rtc.direct_api().stream_rx(&ssrc).map(|r| r.mid());
                            if let Some(mid) = mid {
                                s.mids.push((ssrc, mid));
                            }
                            mid
                        }
                    };
                    let Some(mid) = mid else { continue };
                    let mut api = s.rtc.direct_api();
                    if let Some(tx) = api.stream_tx_by_mid(mid, None) {
                        tx.write_rtp(
                            RtpWrite::new(
                                p.header.payload_type,
                                p.seq_no,
                                p.header.timestamp,
                                p.timestamp,
                                p.payload,
                            )
                            .marker(p.header.marker),
                        );
                    }
                }
                Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                )) => {
                    s.alive = false;
                }
                Output::Event(_) => {}
            }
        }
        if !scratch.is_empty() {
            scratch.flush();
        }
        if !self.sessions[idx].alive {
            self.timers.clear(idx);
        }
    }
}

impl Echo for Str0mEcho {
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
        let Ok(receive) = Receive::new(Protocol::Udp, source, local, data) else {
            return;
        };
        if s.rtc.handle_input(Input::Receive(now, receive)).is_err() {
            return;
        }
        self.drain(idx, now, Some(out));
    }

    fn timeouts(&mut self, now: Instant, out: &mut SendBatch) {
        // Bounded per call so a burst of due timers cannot starve the socket.
        for _ in 0..4096 {
            let Some(idx) = self.timers.pop_due(now) else {
                break;
            };
            let s = &mut self.sessions[idx];
            if !s.alive || s.rtc.handle_input(Input::Timeout(now)).is_err() {
                continue;
            }
            self.drain(idx, now, Some(out));
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}
