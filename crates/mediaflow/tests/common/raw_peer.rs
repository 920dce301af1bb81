//! A peer whose socket the test holds: our sans-IO `WebRtcSession` on a real UDP socket,
//! driven by the test's own thread, so the test can send anything from the address and
//! port ICE validated for the peer.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mediaflow::{IceCandidate, WebRtcEndpoint};
use mediaflow_rtp::{ConnectionState, SessionConfig, SessionEvent, WebRtcSession};

/// The session, its socket, and the engine endpoint it talks to.
pub struct RawPeer {
    /// The sans-IO session.
    pub session: WebRtcSession,
    /// Its socket; anything sent on it comes from the peer's validated address.
    pub socket: UdpSocket,
    /// The socket's address.
    pub addr: SocketAddr,
    remote: WebRtcEndpoint,
    remote_candidates: Receiver<IceCandidate>,
    buf: Vec<u8>,
}

impl RawPeer {
    /// Offers to `remote`, takes its answer, trickles both ways and runs until the
    /// session is connected (DTLS-SRTP up), within `wait`.
    pub fn connect(remote: &WebRtcEndpoint, wait: Duration) -> RawPeer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        let (tx, remote_candidates) = crossbeam_channel::unbounded();
        remote
            .on_ice_candidate_found(move |e| {
                let _ = tx.send(e.candidate.clone());
            })
            .unwrap();
        let now = Instant::now();
        let mut session = WebRtcSession::new(SessionConfig::default(), now).unwrap();
        let offer = session.generate_offer(now).unwrap();
        let answer = remote.process_offer(&offer).unwrap();
        session.process_answer(&answer, now).unwrap();
        session.gather_candidates(&[addr], now).unwrap();
        remote.gather_candidates().unwrap();
        let mut peer = RawPeer {
            session,
            socket,
            addr,
            remote: remote.clone(),
            remote_candidates,
            buf: vec![0; 65_536],
        };
        let deadline = Instant::now() + wait;
        while peer.session.states().1 != ConnectionState::Connected {
            assert!(Instant::now() < deadline, "the raw peer did not connect");
            peer.drive(Duration::from_millis(5));
        }
        peer
    }

    /// Runs the session for `period`: what it sends goes out, what arrives goes in,
    /// candidates cross, timers fire.
    pub fn drive(&mut self, period: Duration) {
        let end = Instant::now() + period;
        loop {
            while let Ok(c) = self.remote_candidates.try_recv() {
                self.session.add_ice_candidate(c).unwrap();
            }
            while let Some(e) = self.session.poll_event() {
                if let SessionEvent::IceCandidateFound(c) = e {
                    self.remote.add_ice_candidate(c).unwrap();
                }
            }
            while let Some(t) = self.session.poll_transmit() {
                // A full send buffer loses the datagram, as a network would.
                let _ = self.socket.send_to(&t.data, t.peer);
            }
            let mut got = false;
            while let Ok((n, from)) = self.socket.recv_from(&mut self.buf) {
                let now = Instant::now();
                self.session
                    .handle_datagram(now, self.addr, from, &self.buf[..n]);
                got = true;
            }
            let now = Instant::now();
            if self.session.poll_timeout().is_some_and(|t| t <= now) {
                self.session.handle_timeout(now);
            }
            // Media from the engine is not what this peer is for: drop it.
            while self.session.poll_media().is_some() {}
            if now >= end {
                return;
            }
            if !got {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
    }
}
