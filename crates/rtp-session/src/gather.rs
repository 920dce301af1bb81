//! Server-reflexive candidate gathering: a STUN Binding request from each of our host
//! sockets to the STUN server; the XOR-MAPPED-ADDRESS of the answer is the srflx
//! candidate. Retransmitted (RFC 8489 §6.2.1, shortened) until answered or given up.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::stun::message::{Getter, Message, BINDING_REQUEST, BINDING_SUCCESS};
use rtc::stun::xoraddr::XorMappedAddress;

use crate::session::Transmit;

/// When each try is sent, from the first; the request is abandoned at the last entry.
const SCHEDULE: [Duration; 4] = [
    Duration::from_millis(0),
    Duration::from_millis(500),
    Duration::from_millis(1500),
    Duration::from_millis(3500),
];

struct Pending {
    local: SocketAddr,
    request: Message,
    started: Instant,
    tries: usize,
}

/// Binding requests in flight to one STUN server.
pub(crate) struct StunGatherer {
    server: SocketAddr,
    pending: Vec<Pending>,
}

impl StunGatherer {
    /// Requests for each local address of the server's family.
    pub(crate) fn start(server: SocketAddr, locals: &[SocketAddr], now: Instant) -> StunGatherer {
        let pending = locals
            .iter()
            .filter(|l| l.is_ipv4() == server.is_ipv4())
            .filter_map(|&local| {
                let mut request = Message::new();
                request.set_type(BINDING_REQUEST);
                request.new_transaction_id().ok()?;
                request.encode();
                Some(Pending {
                    local,
                    request,
                    started: now,
                    tries: 0,
                })
            })
            .collect();
        StunGatherer { server, pending }
    }

    /// True when every request was answered or given up.
    pub(crate) fn done(&self) -> bool {
        self.pending.is_empty()
    }

    /// The requests due at `now` (first sends and retransmissions); abandons the ones
    /// past the schedule.
    pub(crate) fn poll_transmits(&mut self, now: Instant, out: &mut impl Extend<Transmit>) {
        let server = self.server;
        self.pending.retain_mut(|p| {
            while p.tries < SCHEDULE.len() - 1 && p.started + SCHEDULE[p.tries] <= now {
                p.tries += 1;
                out.extend([Transmit {
                    local: p.local,
                    peer: server,
                    data: BytesMut::from(&p.request.raw[..]),
                    tcp: false,
                }]);
            }
            let expired = p.started + SCHEDULE[SCHEDULE.len() - 1] <= now;
            if expired {
                tracing::debug!(local = %p.local, %server, "STUN server did not answer");
            }
            !expired
        });
    }

    /// When the next request is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .iter()
            .map(|p| p.started + SCHEDULE[p.tries.min(SCHEDULE.len() - 1)])
            .min()
    }

    /// Takes a datagram if it answers one of our requests: `Some(Some((local,
    /// mapped)))` for a success, `Some(None)` for another answer to a request of ours
    /// (an error response), `None` when it is not ours.
    pub(crate) fn handle(
        &mut self,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) -> Option<Option<(SocketAddr, SocketAddr)>> {
        if peer != self.server {
            return None;
        }
        let mut response = Message::new();
        response.unmarshal_binary(data).ok()?;
        let index = self.pending.iter().position(|p| {
            p.local == local && p.request.transaction_id == response.transaction_id
        })?;
        let pending = self.pending.swap_remove(index);
        if response.typ != BINDING_SUCCESS {
            tracing::debug!(local = %pending.local, "STUN server refused the binding request");
            return Some(None);
        }
        let mut mapped = XorMappedAddress::default();
        match mapped.get_from(&response) {
            Ok(()) => Some(Some((
                pending.local,
                SocketAddr::new(mapped.ip, mapped.port),
            ))),
            Err(e) => {
                tracing::debug!("STUN answer without XOR-MAPPED-ADDRESS: {e}");
                Some(None)
            }
        }
    }
}
