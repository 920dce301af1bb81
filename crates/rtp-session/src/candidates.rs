//! Our candidates: host (UDP sockets and ICE-TCP listeners), server-reflexive (a STUN
//! server, configured external addresses) and relayed (a TURN allocation). Each one goes
//! to the ICE agent and is announced as Kurento's IceCandidateFound.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use rtc::ice::candidate::candidate_host::CandidateHostConfig;
use rtc::ice::candidate::candidate_relay::CandidateRelayConfig;
use rtc::ice::candidate::candidate_server_reflexive::CandidateServerReflexiveConfig;
use rtc::ice::candidate::{Candidate, CandidateConfig};
use rtc::ice::tcp_type::TcpType;

use crate::gather::StunGatherer;
use crate::states::States;
use crate::transport::Transport;
use crate::turn::{TurnOutcome, TurnRelay, TurnServer};
use crate::types::{IceCandidate, IceComponentState};
use crate::{SessionEvent, Transmit};

/// Where candidates come from, as configured.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sources {
    pub(crate) stun_server: Option<SocketAddr>,
    pub(crate) turn_server: Option<TurnServer>,
    pub(crate) relay_only: bool,
    pub(crate) external_addresses: Vec<std::net::IpAddr>,
}

/// What gathering reports to: the ICE agent, Kurento's states, and the mid that bundled
/// candidates are signalled against.
pub(crate) struct Cx<'a> {
    pub(crate) transport: &'a mut Transport,
    pub(crate) states: &'a mut States,
    pub(crate) mid: &'a str,
}

/// Gathering of one session.
pub(crate) struct Gathering {
    sources: Sources,
    /// The sockets gathering announced, announced again after an ICE restart.
    sockets: Vec<SocketAddr>,
    /// ICE-TCP listeners, announced as passive TCP candidates.
    pub(crate) tcp_listeners: Vec<SocketAddr>,
    pub(crate) started: bool,
    pub(crate) done: bool,
    gatherer: Option<StunGatherer>,
    pub(crate) turn: Option<TurnRelay>,
    /// Datagrams of ours (STUN and TURN to the servers).
    pub(crate) transmits: VecDeque<Transmit>,
    /// Every candidate line announced since the last (re)start, for the local SDP.
    pub(crate) announced: Vec<String>,
}

/// A candidate's common fields at `addr`, component 1 (rtcp-mux).
fn base(addr: SocketAddr, network: &str) -> CandidateConfig {
    CandidateConfig {
        network: network.to_owned(),
        address: addr.ip().to_string(),
        port: addr.port(),
        component: 1,
        ..Default::default()
    }
}

impl Gathering {
    pub(crate) fn new(sources: Sources) -> Gathering {
        Gathering {
            sources,
            sockets: Vec::new(),
            tcp_listeners: Vec::new(),
            started: false,
            done: false,
            gatherer: None,
            turn: None,
            transmits: VecDeque::new(),
            announced: Vec::new(),
        }
    }

    /// Announces host candidates for `sockets` and the listeners, the external addresses,
    /// and asks the STUN and TURN servers; `IceGatheringDone` follows the last answer.
    pub(crate) fn start(&mut self, sockets: &[SocketAddr], now: Instant, cx: &mut Cx<'_>) {
        if self.started {
            return;
        }
        self.started = true;
        self.done = false;
        self.announced.clear();
        self.sockets = sockets.to_vec();
        cx.states.set_ice(IceComponentState::Gathering);
        // With a relay-only policy only the relayed candidate goes to the agent (its
        // datagrams reach the TURN server through the host socket the TURN client
        // holds), so no check and no media can take a direct path.
        let announce_direct = !self.sources.relay_only;
        for addr in sockets {
            let c = CandidateHostConfig {
                base_config: base(*addr, "udp"),
                ..Default::default()
            }
            .new_candidate_host();
            self.add(c, announce_direct, cx);
        }
        for addr in self.tcp_listeners.clone() {
            let c = CandidateHostConfig {
                base_config: base(addr, "tcp"),
                tcp_type: TcpType::Passive,
            }
            .new_candidate_host();
            self.add(c, announce_direct, cx);
        }
        let external = self.sources.external_addresses.clone();
        for b in sockets {
            for ip in external.iter().filter(|ip| ip.is_ipv4() == b.is_ipv4()) {
                self.add_derived(false, SocketAddr::new(*ip, b.port()), *b, cx);
            }
        }
        // Checks may start on host candidates while srflx gathering goes on.
        cx.states.maybe_connecting();
        if let Some(server) = self.sources.stun_server {
            let mut gatherer = StunGatherer::start(server, sockets, now);
            gatherer.poll_transmits(now, &mut self.transmits);
            self.gatherer = Some(gatherer);
        }
        if let Some(relayed) = self.turn.as_ref().and_then(|t| t.relayed()) {
            // An ICE restart keeps the allocation: announce it again.
            let outcomes = vec![TurnOutcome::Allocated(relayed)];
            self.apply_turn(outcomes, now, cx);
        } else if let Some(turn) = self
            .sources
            .turn_server
            .clone()
            .filter(|_| self.turn.is_none())
        {
            let b = sockets
                .iter()
                .find(|s| s.is_ipv4() == turn.server.is_ipv4());
            match b.map(|&b| TurnRelay::start(&turn, b, now)) {
                Some(Ok(relay)) => self.turn = Some(relay),
                Some(Err(e)) => tracing::warn!("TURN allocation not started: {e}"),
                None => tracing::warn!("no local address of the TURN server's family"),
            }
            self.pump_turn();
        }
        self.maybe_finish(cx.states);
    }

    /// After an ICE restart: gathering runs again on the same sockets.
    pub(crate) fn restart(&mut self, now: Instant, cx: &mut Cx<'_>) {
        if !self.started {
            return;
        }
        self.started = false;
        self.gatherer = None;
        let sockets = std::mem::take(&mut self.sockets);
        self.start(&sockets, now, cx);
    }

    fn add(
        &mut self,
        candidate: Result<Candidate, rtc::shared::error::Error>,
        announce: bool,
        cx: &mut Cx<'_>,
    ) {
        if !announce {
            return;
        }
        let added = candidate.map_err(|e| e.to_string()).and_then(|c| {
            cx.transport
                .add_local_candidate(c)
                .map_err(|e| e.to_string())
        });
        match added {
            Ok(Some(line)) => {
                self.announced.push(line.clone());
                cx.states
                    .push(SessionEvent::IceCandidateFound(IceCandidate {
                        candidate: line,
                        sdp_mid: cx.mid.to_owned(),
                        sdp_m_line_index: 0,
                    }));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("local candidate not added: {e}"),
        }
    }

    /// A candidate derived from the host socket `b`: server-reflexive (STUN, external
    /// address) or relayed (TURN) at `addr`.
    fn add_derived(&mut self, relayed: bool, addr: SocketAddr, b: SocketAddr, cx: &mut Cx<'_>) {
        let (rel_addr, rel_port) = (b.ip().to_string(), b.port());
        let candidate = if relayed {
            CandidateRelayConfig {
                base_config: base(addr, "udp"),
                rel_addr,
                rel_port,
                ..Default::default()
            }
            .new_candidate_relay()
        } else {
            CandidateServerReflexiveConfig {
                base_config: base(addr, "udp"),
                rel_addr,
                rel_port,
                ..Default::default()
            }
            .new_candidate_server_reflexive()
        };
        let announce = relayed || !self.sources.relay_only;
        self.add(candidate, announce, cx);
    }

    /// A datagram for the STUN gatherer or the TURN client; `None` when it is for neither.
    /// TURN data from peers comes back as `(relayed address, from, bytes)`.
    pub(crate) fn handle(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
        cx: &mut Cx<'_>,
    ) -> Option<Vec<(SocketAddr, SocketAddr, Vec<u8>)>> {
        if let Some(turn) = &mut self.turn {
            if let Some(outcomes) = turn.handle(now, local, peer, data) {
                return Some(self.apply_turn(outcomes, now, cx));
            }
        }
        if let Some(gatherer) = &mut self.gatherer {
            if let Some(answer) = gatherer.handle(local, peer, data) {
                if let Some((b, mapped)) = answer {
                    self.add_derived(false, mapped, b, cx);
                }
                self.maybe_finish(cx.states);
                return Some(Vec::new());
            }
        }
        None
    }

    /// Acts on what the TURN client reported; returns the peers' relayed datagrams.
    fn apply_turn(
        &mut self,
        outcomes: Vec<TurnOutcome>,
        _now: Instant,
        cx: &mut Cx<'_>,
    ) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        let mut data = Vec::new();
        for outcome in outcomes {
            match outcome {
                TurnOutcome::Allocated(relayed) => {
                    if let Some(b) = self.turn.as_ref().map(|t| t.local) {
                        self.add_derived(true, relayed, b, cx);
                    }
                }
                TurnOutcome::Failed(reason) => tracing::warn!("TURN allocation failed: {reason}"),
                TurnOutcome::Data { from, data: bytes } => {
                    if let Some(relayed) = self.turn.as_ref().and_then(|t| t.relayed()) {
                        data.push((relayed, from, bytes));
                    }
                }
            }
        }
        self.pump_turn();
        self.maybe_finish(cx.states);
        data
    }

    fn pump_turn(&mut self) {
        if let Some(turn) = &mut self.turn {
            turn.poll_transmits(&mut self.transmits);
        }
    }

    /// Sends `data` from our relayed address through the TURN server; false when
    /// `local` is not our relayed address.
    pub(crate) fn relay(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) -> bool {
        let Some(turn) = self.turn.as_mut().filter(|t| t.relayed() == Some(local)) else {
            return false;
        };
        turn.send(now, peer, data);
        self.pump_turn();
        true
    }

    /// Gathering ends when the STUN answers and the TURN allocation are all settled.
    fn maybe_finish(&mut self, states: &mut States) {
        if self.done || !self.started {
            return;
        }
        if self.gatherer.as_ref().is_some_and(|g| !g.done()) {
            return;
        }
        if self.turn.as_ref().is_some_and(|t| t.allocating()) {
            return;
        }
        self.gatherer = None;
        self.done = true;
        states.push(SessionEvent::IceGatheringDone);
        states.maybe_connecting();
        if states.ice == IceComponentState::Connected {
            states.set_ice(IceComponentState::Ready);
        }
    }

    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        let stun = self.gatherer.as_ref().and_then(|g| g.poll_timeout());
        let turn = self.turn.as_mut().and_then(|t| t.poll_timeout());
        stun.into_iter().chain(turn).min()
    }

    /// Retransmissions and give-ups; returns the peers' relayed datagrams.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_>,
    ) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        if let Some(gatherer) = &mut self.gatherer {
            gatherer.poll_transmits(now, &mut self.transmits);
            self.maybe_finish(cx.states);
        }
        match self.turn.as_mut() {
            Some(turn) => {
                let outcomes = turn.handle_timeout(now);
                self.apply_turn(outcomes, now, cx)
            }
            None => Vec::new(),
        }
    }
}
