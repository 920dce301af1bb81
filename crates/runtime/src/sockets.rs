//! A real worker's sockets: those it owns for its tasks, and its duplicates of the
//! runtime's shared sockets. Sends are queued during a turn and leave together at its
//! end: runs of same-size datagrams to the same peer go out as one GSO send, datagrams
//! to different peers on one socket (a shared port's) in one `sendmmsg`.

use std::io;
use std::net::{IpAddr, SocketAddr};
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use quinn_udp::{UdpSockRef, UdpSocketState};

use crate::net::{bind_udp, not_ours, Network, Slots, SocketId};
#[cfg(target_os = "linux")]
use crate::send_many::{send_many, MAX_BATCH};
use crate::shared::{Route, SharedPorts};
use crate::tcp;

/// Tokens of the shared sockets (worker 0 reads them); task sockets use their slot index,
/// which stays far below.
pub(crate) const SHARED_TOKENS: usize = usize::MAX / 2;

/// Kernel receive buffer asked for each socket (capped by `net.core.rmem_max`): room for
/// about 800 full-size packets, so a burst that arrives while the worker is busy with
/// other sockets waits rather than being dropped. Memory is used only while queued.
const SOCKET_RECV_BUFFER: usize = 1 << 20;

/// The same for a shared port, which carries every endpoint's datagrams: 8 MiB (Linux
/// caps it at `net.core.rmem_max`, 4 MiB on the development machine). With 1 MiB, 500
/// sessions at 150 packets/s on one port lost 2.5 % while the worker was busy.
const SHARED_SOCKET_RECV_BUFFER: usize = 8 << 20;

/// A turn's sends beyond which the outbox is flushed early: bounds its memory.
const OUTBOX_BYTES: usize = 1 << 20;

pub(crate) struct UdpEntry {
    pub(crate) socket: UdpSocket,
    pub(crate) state: UdpSocketState,
    /// Bound to an IPv6 address: a `sendmmsg` of ours takes only peers of the socket's
    /// own family (quinn-udp maps the others).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    ipv6: bool,
}

impl UdpEntry {
    fn new(std_socket: std::net::UdpSocket, recv_buffer: usize) -> io::Result<UdpEntry> {
        std_socket.set_nonblocking(true)?;
        let state = UdpSocketState::new(UdpSockRef::from(&std_socket))?;
        if let Err(e) = state.set_recv_buffer_size(UdpSockRef::from(&std_socket), recv_buffer) {
            tracing::debug!("cannot enlarge a socket's receive buffer: {e}");
        }
        let ipv6 = std_socket.local_addr()?.is_ipv6();
        Ok(UdpEntry {
            socket: UdpSocket::from_std(std_socket),
            state,
            ipv6,
        })
    }
}

/// A task's socket: its own, its binding on shared socket `n`, or framed TCP.
pub(crate) enum Bound {
    Own(UdpEntry),
    Shared(usize),
    Listener(tcp::Listener),
    Connection(tcp::Connection),
}

/// A datagram waiting in the worker's outbox.
struct Outgoing {
    socket: SocketId,
    peer: SocketAddr,
    start: usize,
    len: usize,
}

pub(crate) struct UdpNet {
    registry: Registry,
    pub(crate) sockets: Slots<Bound>,
    /// This worker's index, named in the routes of its shared bindings.
    worker: usize,
    pub(crate) shared: Option<Arc<SharedPorts>>,
    /// This worker's duplicates of the shared sockets, by index.
    pub(crate) shared_local: Vec<UdpEntry>,
    outbox: Vec<Outgoing>,
    out_bytes: Vec<u8>,
    /// Datagrams the kernel refused (full send buffer, unreachable peer).
    send_errors: u64,
}

impl UdpNet {
    /// Worker `worker`'s sockets; worker 0 also reads the shared ones.
    pub(crate) fn new(
        registry: Registry,
        worker: usize,
        shared: Option<Arc<SharedPorts>>,
    ) -> io::Result<UdpNet> {
        let mut shared_local = Vec::new();
        if let Some(ports) = &shared {
            for index in 0..ports.count() {
                let mut entry = UdpEntry::new(ports.duplicate(index)?, SHARED_SOCKET_RECV_BUFFER)?;
                if worker == 0 {
                    registry.register(
                        &mut entry.socket,
                        Token(SHARED_TOKENS + index),
                        Interest::READABLE,
                    )?;
                }
                shared_local.push(entry);
            }
        }
        Ok(UdpNet {
            registry,
            sockets: Slots::default(),
            worker,
            shared,
            shared_local,
            outbox: Vec::new(),
            out_bytes: Vec::new(),
            send_errors: 0,
        })
    }

    fn entry(&self, socket: SocketId) -> Option<&UdpEntry> {
        match self.sockets.by_index(socket.index as usize)? {
            (id, _, _) if id != socket => None,
            (_, _, Bound::Own(entry)) => Some(entry),
            (_, _, Bound::Shared(n)) => self.shared_local.get(*n),
            (_, _, Bound::Listener(_) | Bound::Connection(_)) => None,
        }
    }

    /// Takes a connection accepted on `listener` (refused past the per-listener bound).
    pub(crate) fn add_connection(
        &mut self,
        owner: u64,
        listener: SocketId,
        mut stream: TcpStream,
        peer: SocketAddr,
    ) {
        let id = self.sockets.next_id();
        let Some(Bound::Listener(l)) = self.sockets.get_mut(owner, listener) else {
            return;
        };
        if l.connections.len() >= tcp::MAX_CONNECTIONS {
            return; // dropping the stream closes it
        }
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .registry
            .register(&mut stream, Token(id.index as usize), interest)
        {
            tracing::debug!(%peer, "cannot watch an ICE-TCP connection: {e}");
            return;
        }
        l.connections.push((peer, id));
        let connection = tcp::Connection::new(stream, listener, peer);
        self.sockets.insert(owner, Bound::Connection(connection));
    }

    /// Closes a connection (its peer went away, it broke, or its listener closed).
    pub(crate) fn drop_connection(&mut self, owner: u64, id: SocketId) {
        let Some(Bound::Connection(mut c)) = self.sockets.remove(owner, id) else {
            return;
        };
        let _ = self.registry.deregister(&mut c.stream);
        if let Some(Bound::Listener(l)) = self.sockets.get_mut(owner, c.listener) {
            l.connections.retain(|(_, conn)| *conn != id);
        }
    }

    /// Sends everything queued.
    pub(crate) fn flush(&mut self) {
        let mut i = 0;
        while i < self.outbox.len() {
            let first = &self.outbox[i];
            let Some(entry) = self.entry(first.socket) else {
                i += 1;
                continue;
            };
            let n = self.gso_run(i, entry);
            #[cfg(target_os = "linux")]
            if n == 1 {
                let singles = self.singles(i, entry);
                if singles > 1 {
                    let (outbox, bytes) = (&self.outbox[i..i + singles], &self.out_bytes);
                    let refused = send_many(entry.socket.as_raw_fd(), singles, |k| {
                        let o = &outbox[k];
                        (o.peer, &bytes[o.start..o.start + o.len])
                    });
                    self.send_errors += refused;
                    i += singles;
                    continue;
                }
            }
            let contents = &self.out_bytes[first.start..first.start + first.len * n];
            let transmit = quinn_udp::Transmit {
                destination: first.peer,
                ecn: None,
                contents,
                segment_size: (n > 1).then_some(first.len),
                src_ip: None,
            };
            // Best effort, as UDP is: a full buffer or an unreachable peer drops these.
            if let Err(e) = entry
                .state
                .try_send(UdpSockRef::from(&entry.socket), &transmit)
            {
                self.send_errors += n as u64;
                tracing::trace!(peer = %first.peer, "send failed: {e}");
            }
            i += n;
        }
        self.outbox.clear();
        self.out_bytes.clear();
    }

    /// The longest run from `outbox[i]` GSO can carry: same socket, peer and size,
    /// contiguous.
    fn gso_run(&self, i: usize, entry: &UdpEntry) -> usize {
        let first = &self.outbox[i];
        let max = entry
            .state
            .max_gso_segments()
            .min(64_000 / first.len.max(1))
            .max(1);
        let mut n = 1;
        while n < max
            && self.outbox.get(i + n).is_some_and(|o| {
                o.socket == first.socket && o.peer == first.peer && o.len == first.len
            })
        {
            n += 1;
        }
        n
    }

    #[cfg(target_os = "linux")]
    /// How many datagrams from `outbox[i]` on, none the start of a GSO run, go out on
    /// `entry`'s socket to peers of its family: one `sendmmsg` for them all. Tasks on
    /// a shared port hold their own socket ids for the same socket.
    fn singles(&self, i: usize, entry: &UdpEntry) -> usize {
        let fd = entry.socket.as_raw_fd();
        let mut n = 0;
        while n < MAX_BATCH && i + n < self.outbox.len() {
            let o = &self.outbox[i + n];
            let same_socket = o.socket == self.outbox[i].socket
                || self
                    .entry(o.socket)
                    .is_some_and(|e| e.socket.as_raw_fd() == fd);
            if !same_socket
                || o.peer.is_ipv6() != entry.ipv6
                || (n > 0 && self.gso_run(i + n, entry) > 1)
            {
                break;
            }
            n += 1;
        }
        n
    }

    /// Sends one frame on the connection `peer` opened to `listener`.
    fn send_frame(
        &mut self,
        owner: u64,
        listener: SocketId,
        peer: SocketAddr,
        data: &[u8],
    ) -> io::Result<()> {
        let id = match self.sockets.get(owner, listener) {
            Some(Bound::Listener(l)) => l
                .connections
                .iter()
                .find(|(p, _)| *p == peer)
                .map(|(_, id)| *id),
            _ => None,
        }
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "no connection from that peer")
        })?;
        let Some(Bound::Connection(c)) = self.sockets.get_mut(owner, id) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let sent = c.send_frame(data);
        if matches!(&sent, Err(e) if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::InvalidInput)
        {
            self.drop_connection(owner, id);
        }
        sent
    }

    pub(crate) fn worker(&self) -> usize {
        self.worker
    }

    fn route_of(&self, owner: u64, socket: SocketId) -> Route {
        Route {
            worker: self.worker,
            task: owner,
            socket,
        }
    }
}

impl Network for UdpNet {
    fn bind(
        &mut self,
        owner: u64,
        ip: IpAddr,
        range: Option<(u16, u16)>,
    ) -> io::Result<(SocketId, SocketAddr)> {
        let std_socket = bind_udp(ip, range)?;
        let local = std_socket.local_addr()?;
        let mut entry = UdpEntry::new(std_socket, SOCKET_RECV_BUFFER)?;
        let id = self.sockets.next_id();
        self.registry.register(
            &mut entry.socket,
            Token(id.index as usize),
            Interest::READABLE,
        )?;
        let inserted = self.sockets.insert(owner, Bound::Own(entry));
        debug_assert_eq!(inserted, id);
        Ok((id, local))
    }

    fn listen_tcp(
        &mut self,
        owner: u64,
        ip: IpAddr,
        range: Option<(u16, u16)>,
    ) -> io::Result<(SocketId, SocketAddr)> {
        let mut listener = tcp::listen(ip, range)?;
        let local = listener.local;
        let id = self.sockets.next_id();
        self.registry.register(
            &mut listener.listener,
            Token(id.index as usize),
            Interest::READABLE,
        )?;
        self.sockets.insert(owner, Bound::Listener(listener));
        Ok((id, local))
    }

    fn bind_shared(&mut self, owner: u64, ip: IpAddr) -> Option<(SocketId, SocketAddr)> {
        let (index, local) = self.shared.as_ref()?.addrs().find(|(_, a)| a.ip() == ip)?;
        Some((self.sockets.insert(owner, Bound::Shared(index)), local))
    }

    fn set_ice_ufrag(&mut self, owner: u64, socket: SocketId, ufrag: &str) {
        let Some(Bound::Shared(index)) = self.sockets.get(owner, socket) else {
            return;
        };
        let (index, route) = (*index, self.route_of(owner, socket));
        if let Some(ports) = &self.shared {
            ports.register(index, ufrag, route);
        }
    }

    fn send_to(
        &mut self,
        owner: u64,
        socket: SocketId,
        peer: SocketAddr,
        data: &[u8],
    ) -> io::Result<()> {
        match self.sockets.get(owner, socket) {
            None => return Err(not_ours(socket)),
            Some(Bound::Listener(_)) => return self.send_frame(owner, socket, peer, data),
            // A STUN message of ours (RFC 7983: first byte 0-3) expects an answer that
            // names no ufrag: route it back by the peer's address.
            Some(Bound::Shared(index)) if data.first().is_some_and(|b| *b < 4) => {
                if let Some(ports) = &self.shared {
                    ports.learn(*index, peer, self.route_of(owner, socket));
                }
            }
            Some(_) => {}
        }
        if data.is_empty() {
            return Ok(()); // nothing to carry
        }
        if self.out_bytes.len() + data.len() > OUTBOX_BYTES {
            self.flush();
        }
        self.outbox.push(Outgoing {
            socket,
            peer,
            start: self.out_bytes.len(),
            len: data.len(),
        });
        self.out_bytes.extend_from_slice(data);
        Ok(())
    }

    fn close(&mut self, owner: u64, socket: SocketId) {
        // What the task sent last (a DTLS close_notify) leaves before the socket closes.
        self.flush();
        match self.sockets.remove(owner, socket) {
            Some(Bound::Own(mut entry)) => {
                let _ = self.registry.deregister(&mut entry.socket);
            }
            Some(Bound::Shared(_)) => {
                if let Some(ports) = &self.shared {
                    ports.unregister(self.route_of(owner, socket));
                }
            }
            Some(Bound::Listener(mut l)) => {
                let _ = self.registry.deregister(&mut l.listener);
                // Its connections go with it.
                for (_, id) in l.connections {
                    if let Some(Bound::Connection(mut c)) = self.sockets.remove(owner, id) {
                        let _ = self.registry.deregister(&mut c.stream);
                    }
                }
            }
            Some(Bound::Connection(mut c)) => {
                let _ = self.registry.deregister(&mut c.stream);
                if let Some(Bound::Listener(l)) = self.sockets.get_mut(owner, c.listener) {
                    l.connections.retain(|(_, conn)| *conn != socket);
                }
            }
            None => {}
        }
    }

    fn close_all(&mut self, owner: u64) {
        for id in self.sockets.owned_by(owner) {
            self.close(owner, id);
        }
    }
}
