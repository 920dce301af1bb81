//! A TURN relay (RFC 8656) for one host socket: allocate, announce the relayed address
//! as a candidate, and carry the stack's datagrams for that candidate through the
//! server (permissions on demand, channel bindings by the client).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtc::sansio::Protocol;
use rtc::shared::TransportProtocol;
use rtc::turn::client::{Client, ClientConfig, Event};

use crate::session::Transmit;

/// A TURN server and its long-term credentials (Kurento's `turnUrl`
/// `user:password@host:port`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnServer {
    /// The server's address.
    pub server: SocketAddr,
    /// Long-term credential user name.
    pub username: String,
    /// Long-term credential password.
    pub password: String,
}

/// Datagrams held while a permission for their peer is being created; the stack
/// retransmits anyway, so a few are enough.
const MAX_WAITING: usize = 64;

/// The allocation is abandoned (and gathering goes on without it) after this long.
const ALLOCATE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a datagram from the TURN server meant.
pub(crate) enum TurnOutcome {
    /// The allocation succeeded: announce this relayed address.
    Allocated(SocketAddr),
    /// The allocation failed; gathering goes on without a relay candidate.
    Failed(String),
    /// A peer sent this through the relay.
    Data { from: SocketAddr, data: Vec<u8> },
}

pub(crate) struct TurnRelay {
    client: Client,
    pub(crate) local: SocketAddr,
    server: SocketAddr,
    relayed: Option<SocketAddr>,
    /// Allocation pending since; `None` once it succeeded or failed.
    allocating: Option<Instant>,
    waiting: Vec<(SocketAddr, Vec<u8>)>,
    /// Datagrams carried through the relay, each way.
    pub(crate) relayed_out: u64,
    pub(crate) relayed_in: u64,
}

impl TurnRelay {
    /// Starts an allocation from the host socket `local`.
    pub(crate) fn start(
        turn: &TurnServer,
        local: SocketAddr,
        now: Instant,
    ) -> Result<TurnRelay, String> {
        let config = ClientConfig {
            stun_serv_addr: turn.server.to_string(),
            turn_serv_addr: turn.server.to_string(),
            local_addr: local,
            transport_protocol: TransportProtocol::UDP,
            username: turn.username.clone(),
            password: turn.password.clone(),
            realm: String::new(),
            software: String::new(),
            rto_in_ms: 0,
            allocation_refresh_interval_cap: None,
        };
        let provider = rtc::crypto::default_provider().map_err(|e| e.to_string())?;
        let mut client = Client::new(config, provider).map_err(|e| e.to_string())?;
        client.allocate(now).map_err(|e| e.to_string())?;
        Ok(TurnRelay {
            client,
            local,
            server: turn.server,
            relayed: None,
            allocating: Some(now),
            waiting: Vec::new(),
            relayed_out: 0,
            relayed_in: 0,
        })
    }

    /// The relayed address, once allocated.
    pub(crate) fn relayed(&self) -> Option<SocketAddr> {
        self.relayed
    }

    /// True while the allocation is pending.
    pub(crate) fn allocating(&self) -> bool {
        self.allocating.is_some()
    }

    /// What the client wants to send to the server.
    pub(crate) fn poll_transmits(&mut self, out: &mut impl Extend<Transmit>) {
        while let Some(t) = self.client.poll_write() {
            out.extend([Transmit {
                local: self.local,
                peer: t.transport.peer_addr,
                data: t.message,
                tcp: false,
            }]);
        }
    }

    /// Sends a datagram of the stack from the relayed address to `peer`; the first to a
    /// new peer waits for its permission.
    pub(crate) fn send(&mut self, now: Instant, peer: SocketAddr, data: &[u8]) {
        let Some(relayed) = self.relayed else {
            return;
        };
        let Ok(mut relay) = self.client.relay(relayed) else {
            return;
        };
        match relay.send_to(now, data, peer) {
            Ok(()) => self.relayed_out += 1,
            Err(_) => {
                // No permission yet (or it is being created): ask, and hold the datagram.
                if let Err(e) = relay.create_permission(now, peer) {
                    tracing::debug!(%peer, "TURN permission not requested: {e}");
                }
                if self.waiting.len() < MAX_WAITING {
                    self.waiting.push((peer, data.to_vec()));
                }
            }
        }
    }

    /// Takes a datagram from the TURN server; `None` when it is not from our server.
    pub(crate) fn handle(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) -> Option<Vec<TurnOutcome>> {
        if peer != self.server || local != self.local {
            return None;
        }
        if let Err(e) = self
            .client
            .handle_read(crate::transport::tagged(now, local, peer, data, false))
        {
            tracing::debug!("TURN message refused: {e}");
        }
        Some(self.events(now))
    }

    fn events(&mut self, now: Instant) -> Vec<TurnOutcome> {
        let mut outcomes = Vec::new();
        while let Some(event) = self.client.poll_event() {
            match event {
                Event::AllocateResponse(_, relayed) => {
                    self.allocating = None;
                    self.relayed = Some(relayed);
                    outcomes.push(TurnOutcome::Allocated(relayed));
                }
                Event::AllocateError(_, e) => {
                    self.allocating = None;
                    outcomes.push(TurnOutcome::Failed(e.to_string()));
                }
                Event::CreatePermissionResponse(_, peer) => {
                    let ready: Vec<_> = self
                        .waiting
                        .iter()
                        .filter(|(p, _)| p.ip() == peer.ip())
                        .cloned()
                        .collect();
                    self.waiting.retain(|(p, _)| p.ip() != peer.ip());
                    for (to, data) in ready {
                        self.send(now, to, &data);
                    }
                }
                Event::CreatePermissionError(_, e) => {
                    tracing::debug!("TURN permission refused: {e}");
                }
                Event::DataIndicationOrChannelData(_, from, data) => {
                    self.relayed_in += 1;
                    outcomes.push(TurnOutcome::Data {
                        from,
                        data: data.to_vec(),
                    });
                }
                Event::TransactionTimeout(_) if self.allocating.is_some() => {
                    self.allocating = None;
                    outcomes.push(TurnOutcome::Failed("the TURN server did not answer".into()));
                }
                _ => {}
            }
        }
        outcomes
    }

    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        let give_up = self.allocating.map(|t| t + ALLOCATE_TIMEOUT);
        [self.client.poll_timeout(), give_up]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Vec<TurnOutcome> {
        if let Err(e) = self.client.handle_timeout(now) {
            tracing::debug!("TURN timeout handling: {e}");
        }
        let mut outcomes = self.events(now);
        if self.allocating.is_some_and(|t| t + ALLOCATE_TIMEOUT <= now) {
            self.allocating = None;
            outcomes.push(TurnOutcome::Failed("TURN allocation timed out".into()));
        }
        outcomes
    }
}
