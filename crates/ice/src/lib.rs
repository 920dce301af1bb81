//! mediaflow's network edge for ICE: which local addresses to offer as host candidates,
//! UDP sockets bound on them within a port range, and a receive thread per socket that
//! hands each datagram to a callback.
//!
//! The protocol work (STUN checks, candidate pairs) is sans-IO elsewhere; this crate is
//! the only place that touches sockets, so it stays small.
#![deny(missing_docs)]

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// Why the network edge could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No local address matched the configuration.
    #[error("no usable local address (interfaces: {0})")]
    NoAddress(String),
    /// Every port of the range is taken on some address.
    #[error("no free UDP port in {min}-{max} on {ip}")]
    PortRangeExhausted {
        /// The address.
        ip: IpAddr,
        /// Range start.
        min: u16,
        /// Range end.
        max: u16,
    },
    /// The system refused a socket or a thread.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Which addresses and ports to use.
#[derive(Clone, Debug, Default)]
pub struct NetConfig {
    /// Interface names to gather on (Kurento's `networkInterfaces`); empty means all.
    pub interfaces: Vec<String>,
    /// Inclusive port range; `None` lets the system choose.
    pub port_range: Option<(u16, u16)>,
    /// Also offer IPv6 addresses.
    pub ipv6: bool,
}

/// Local addresses to offer as host candidates: IPv4 (and IPv6 when asked) of the named
/// interfaces, or of all interfaces. Loopback is offered too, last, since a peer on the
/// same host (or a test in a network namespace) may have nothing else.
pub fn host_addresses(config: &NetConfig) -> Result<Vec<IpAddr>, NetError> {
    let mut found: Vec<(bool, IpAddr)> = if_addrs::get_if_addrs()?
        .into_iter()
        .filter(|i| config.interfaces.is_empty() || config.interfaces.contains(&i.name))
        .map(|i| (i.is_loopback(), i.ip()))
        .filter(|(_, ip)| match ip {
            IpAddr::V4(_) => true,
            // Link-local IPv6 needs scope ids that candidates cannot carry.
            IpAddr::V6(v6) => config.ipv6 && (v6.segments()[0] & 0xffc0) != 0xfe80,
        })
        .collect();
    found.sort_by_key(|(loopback, ip)| (*loopback, ip.is_ipv6()));
    found.dedup_by_key(|(_, ip)| *ip);
    if found.is_empty() {
        return Err(NetError::NoAddress(if config.interfaces.is_empty() {
            "all".into()
        } else {
            config.interfaces.join(",")
        }));
    }
    Ok(found.into_iter().map(|(_, ip)| ip).collect())
}

/// Binds a UDP socket on `ip`, on a free port of `range` (or any port).
pub fn bind(ip: IpAddr, range: Option<(u16, u16)>) -> Result<UdpSocket, NetError> {
    let Some((min, max)) = range else {
        return Ok(UdpSocket::bind(SocketAddr::new(ip, 0))?);
    };
    for port in min..=max {
        match UdpSocket::bind(SocketAddr::new(ip, port)) {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(NetError::PortRangeExhausted { ip, min, max })
}

/// A datagram that arrived on one of our sockets.
#[derive(Debug)]
pub struct Datagram {
    /// The socket's address (the local candidate).
    pub local: SocketAddr,
    /// The sender.
    pub peer: SocketAddr,
    /// The payload.
    pub data: Vec<u8>,
    /// When it was read.
    pub at: Instant,
    /// True when it came over ICE-TCP (one RFC 4571 frame), false for UDP.
    pub tcp: bool,
}

/// Largest datagram we accept; anything larger is truncated by the kernel and then
/// rejected by the protocol layer.
const MAX_DATAGRAM: usize = 2048;

/// UDP sockets with one receive thread each. Dropping it stops the threads (waiting for
/// them) and closes the sockets.
pub struct UdpTransport {
    sockets: Vec<Arc<UdpSocket>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpTransport {
    /// Binds one socket per host address and starts receiving: each datagram goes to
    /// `deliver`, until it returns false or the transport is dropped.
    pub fn start(
        config: &NetConfig,
        deliver: impl Fn(Datagram) -> bool + Send + Sync + 'static,
    ) -> Result<UdpTransport, NetError> {
        let sockets = host_addresses(config)?
            .into_iter()
            .map(|ip| bind(ip, config.port_range).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let stop = Arc::new(AtomicBool::new(false));
        let deliver = Arc::new(deliver);
        let mut transport = UdpTransport {
            sockets: Vec::new(),
            stop: stop.clone(),
            threads: Vec::new(),
        };
        for socket in sockets {
            let (socket2, stop, deliver) = (socket.clone(), stop.clone(), deliver.clone());
            let local = socket.local_addr()?;
            // On failure `transport` drops here and stops the threads started so far.
            let thread = thread::Builder::new()
                .name("mf-udp".into())
                .spawn(move || receive(&socket2, local, &stop, &*deliver))?;
            transport.sockets.push(socket);
            transport.threads.push(thread);
        }
        Ok(transport)
    }

    /// Addresses of the sockets (the host candidates).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// Sends from the socket bound on `local`. Errors (an unreachable peer, a full
    /// buffer) are the caller's to count; UDP delivery is best effort anyway.
    pub fn send(&self, local: SocketAddr, peer: SocketAddr, data: &[u8]) -> io::Result<usize> {
        let socket = self
            .sockets
            .iter()
            .find(|s| s.local_addr().is_ok_and(|a| a == local))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no socket on that address"))?;
        socket.send_to(data, peer)
    }
}

fn receive(
    socket: &UdpSocket,
    local: SocketAddr,
    stop: &AtomicBool,
    deliver: &(dyn Fn(Datagram) -> bool + Send + Sync),
) {
    let mut buf = [0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::Acquire) {
        match socket.recv_from(&mut buf) {
            Ok((n, peer)) => {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                let datagram = Datagram {
                    local,
                    peer,
                    data: buf[..n].to_vec(),
                    at: Instant::now(),
                    tcp: false,
                };
                if !deliver(datagram) {
                    return;
                }
            }
            // ICMP errors from earlier sends surface here on Linux; they say nothing
            // about this socket's health.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(%local, "UDP receive stopped: {e}");
                return;
            }
        }
    }
}

impl Drop for UdpTransport {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // A blocked recv_from only returns when a datagram arrives: send each socket an
        // empty one from a throwaway socket so its thread sees the stop flag at once.
        for socket in &self.sockets {
            if let Ok(addr) = socket.local_addr() {
                let waker_ip: IpAddr = if addr.is_ipv4() {
                    [127, 0, 0, 1].into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                };
                let target = if addr.ip().is_unspecified() {
                    SocketAddr::new(waker_ip, addr.port())
                } else {
                    addr
                };
                if let Ok(waker) = UdpSocket::bind(SocketAddr::new(waker_ip, 0)) {
                    let _ = waker.send_to(&[], target);
                }
            }
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

mod tcp;
pub use tcp::TcpTransport;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn datagrams_reach_the_callback_and_drop_stops_everything() {
        let config = NetConfig {
            interfaces: vec!["lo".into()],
            ..NetConfig::default()
        };
        let (tx, rx) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let transport = UdpTransport::start(&config, move |d| {
            tx.lock().map(|t| t.send(d).is_ok()).unwrap_or(false)
        })
        .unwrap();
        let local = transport.local_addrs()[0];
        assert!(local.ip().is_loopback());
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"hello", local).unwrap();
        let d = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            (d.data.as_slice(), d.peer),
            (&b"hello"[..], peer.local_addr().unwrap())
        );
        transport
            .send(local, peer.local_addr().unwrap(), b"back")
            .unwrap();
        let mut buf = [0u8; 16];
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"back"[..], local));
        drop(transport);
        // The port is free again.
        UdpSocket::bind(local).unwrap();
    }

    #[test]
    fn a_port_range_is_honoured_and_can_run_out() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        assert!(matches!(
            bind(ip, Some((port, port))),
            Err(NetError::PortRangeExhausted { .. })
        ));
        drop(holder);
        let s = bind(ip, Some((port, port))).unwrap();
        assert_eq!(s.local_addr().unwrap().port(), port);
    }

    #[test]
    fn unknown_interfaces_are_an_error() {
        let config = NetConfig {
            interfaces: vec!["no-such-if0".into()],
            ..NetConfig::default()
        };
        assert!(matches!(
            host_addresses(&config),
            Err(NetError::NoAddress(_))
        ));
    }
}
