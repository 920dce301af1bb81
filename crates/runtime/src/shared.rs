//! One UDP port for every endpoint of a runtime (mediasoup's WebRtcServer, LiveKit's
//! single-port mode): a deployment opens one port per address instead of one per
//! endpoint. Datagrams are told apart first by their sender's address, learned from the
//! first STUN Binding request whose USERNAME names a registered ICE ufrag (RFC 8445
//! §7.2.2: `<receiver ufrag>:<sender ufrag>`).
//!
//! Worker 0 reads the shared sockets; a datagram for a task on another worker is copied
//! to it over its channel. Every worker sends on its own duplicate of each socket.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Mutex, MutexGuard};

use crate::net::SocketId;

/// Where a datagram of a shared socket goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Route {
    pub(crate) worker: usize,
    pub(crate) task: u64,
    pub(crate) socket: SocketId,
}

/// Peer addresses one binding may learn: a peer checks a few candidate pairs, not more.
const PEERS_PER_BINDING: usize = 16;

#[derive(Default)]
struct Table {
    by_ufrag: HashMap<(usize, String), Route>,
    by_peer: HashMap<(usize, SocketAddr), Route>,
    /// Peers learned per binding, so the bound is checked without a scan (checks and
    /// keepalives hit this for every session).
    learned: HashMap<Route, usize>,
}

impl Table {
    /// Datagrams from `peer` on socket `index` go to `route` from now on, within the
    /// per-binding bound.
    fn remember(&mut self, index: usize, peer: SocketAddr, route: Route) {
        if self.by_peer.get(&(index, peer)) == Some(&route) {
            return;
        }
        let count = self.learned.entry(route).or_default();
        if *count >= PEERS_PER_BINDING {
            return;
        }
        *count += 1;
        // The address moved to another binding (a NAT rebinding, a new session).
        if let Some(old) = self.by_peer.insert((index, peer), route) {
            if let Some(n) = self.learned.get_mut(&old) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// The runtime's shared sockets and who listens on them.
pub(crate) struct SharedPorts {
    sockets: Vec<(UdpSocket, SocketAddr)>,
    table: Mutex<Table>,
}

impl SharedPorts {
    /// Binds every address (a port of 0 picks one, the same on each address when it can).
    pub(crate) fn bind(addrs: &[SocketAddr]) -> io::Result<SharedPorts> {
        let mut sockets = Vec::new();
        for addr in addrs {
            let socket = UdpSocket::bind(addr)?;
            let local = socket.local_addr()?;
            sockets.push((socket, local));
        }
        Ok(SharedPorts {
            sockets,
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shared sockets' addresses, by index.
    pub(crate) fn addrs(&self) -> impl Iterator<Item = (usize, SocketAddr)> + '_ {
        self.sockets.iter().map(|(_, a)| *a).enumerate()
    }

    /// A worker's own duplicate of socket `index`.
    pub(crate) fn duplicate(&self, index: usize) -> io::Result<UdpSocket> {
        let (socket, _) = self
            .sockets
            .get(index)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        socket.try_clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.sockets.len()
    }

    /// Datagrams whose STUN USERNAME starts with `ufrag` now reach `route`.
    pub(crate) fn register(&self, index: usize, ufrag: &str, route: Route) {
        let mut table = self.table();
        table.by_ufrag.retain(|_, r| *r != route);
        table.by_ufrag.insert((index, ufrag.to_owned()), route);
    }

    /// Forgets a binding: its ufrag and the peers learned for it.
    pub(crate) fn unregister(&self, route: Route) {
        let mut table = self.table();
        table.by_ufrag.retain(|_, r| *r != route);
        table.by_peer.retain(|_, r| *r != route);
        table.learned.remove(&route);
    }

    /// A binding sends to `peer` (a connectivity check of its own): the peer's answer,
    /// which names no ufrag, must find its way back.
    pub(crate) fn learn(&self, index: usize, peer: SocketAddr, route: Route) {
        self.table().remember(index, peer, route);
    }

    /// Where a datagram from `peer` on socket `index` goes, if anywhere.
    pub(crate) fn route(&self, index: usize, peer: SocketAddr, data: &[u8]) -> Option<Route> {
        let mut table = self.table();
        if let Some(ufrag) = binding_request_ufrag(data) {
            let route = *table.by_ufrag.get(&(index, ufrag.to_owned()))?;
            let learned = table.by_peer.values().filter(|r| **r == route).count();
            if table.by_peer.get(&(index, peer)) != Some(&route) && learned < PEERS_PER_BINDING {
                table.by_peer.insert((index, peer), route);
            }
            return Some(route);
        }
        table.by_peer.get(&(index, peer)).copied()
    }
}

/// The receiver's ufrag of a STUN Binding request (RFC 5389 header, USERNAME attribute
/// 0x0006 = `<receiver>:<sender>`), if `data` is one.
pub(crate) fn binding_request_ufrag(data: &[u8]) -> Option<&str> {
    const MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
    if data.len() < 20 || data[0..2] != [0x00, 0x01] || data[4..8] != MAGIC {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let body = data.get(20..20 + length)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let len = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + len)?;
        if kind == 0x0006 {
            let username = std::str::from_utf8(value).ok()?;
            return username.split(':').next().filter(|u| !u.is_empty());
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(username: &str) -> Vec<u8> {
        let mut attr = vec![0x00, 0x06];
        attr.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attr.extend_from_slice(username.as_bytes());
        attr.resize(attr.len().div_ceil(4) * 4, 0);
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attr.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&[7; 12]);
        m.extend(attr);
        m
    }

    #[test]
    fn the_receivers_ufrag_is_read_and_junk_is_not() {
        assert_eq!(binding_request_ufrag(&binding("abcd:wxyz")), Some("abcd"));
        let mut truncated = binding("abcd:wxyz");
        truncated.truncate(26);
        assert_eq!(binding_request_ufrag(&truncated), None);
        assert_eq!(binding_request_ufrag(&[0u8; 3]), None);
        let mut response = binding("abcd:wxyz");
        response[0..2].copy_from_slice(&[0x01, 0x01]);
        assert_eq!(binding_request_ufrag(&response), None);
        assert_eq!(binding_request_ufrag(&binding(":x")), None);
    }

    #[test]
    fn peers_are_learned_from_checks_and_forgotten_with_the_binding() {
        let ports = SharedPorts::bind(&["127.0.0.1:0".parse().unwrap()]).unwrap();
        let route = Route {
            worker: 0,
            task: 7,
            socket: SocketId {
                index: 1,
                generation: 0,
            },
        };
        ports.register(0, "abcd", route);
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(ports.route(0, peer, b"\x80rtp before any check"), None);
        assert_eq!(ports.route(0, peer, &binding("abcd:peer")), Some(route));
        assert_eq!(ports.route(0, peer, b"\x80rtp"), Some(route));
        assert_eq!(ports.route(0, peer, &binding("other:peer")), None);
        // Our own check to another address: its answer (no USERNAME) finds us.
        let other: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        assert_eq!(ports.route(0, other, b"\x01\x01 a binding response"), None);
        ports.learn(0, other, route);
        assert_eq!(
            ports.route(0, other, b"\x01\x01 a binding response"),
            Some(route)
        );
        ports.unregister(route);
        assert_eq!(ports.route(0, peer, b"\x80rtp"), None);
        assert_eq!(ports.route(0, other, b"\x80rtp"), None);
    }
}
