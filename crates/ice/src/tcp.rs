//! ICE-TCP, passive side (RFC 6544): a listener per host address; each accepted
//! connection carries RFC 4571 frames (a 16-bit length, then the packet), handed to the
//! callback one by one as datagrams.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crate::{host_addresses, Datagram, NetConfig, NetError};

/// Connections accepted at once per endpoint; more are closed at once (a peer needs
/// one per candidate pair it checks).
const MAX_CONNECTIONS: usize = 32;

type Deliver = dyn Fn(Datagram) -> bool + Send + Sync;

#[derive(Default)]
struct Shared {
    /// Writable halves by (local, peer).
    connections: HashMap<(SocketAddr, SocketAddr), TcpStream>,
    readers: Vec<JoinHandle<()>>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// TCP listeners for passive ICE-TCP candidates. Dropping it closes every connection
/// and joins every thread.
pub struct TcpTransport {
    local: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
    acceptors: Vec<JoinHandle<()>>,
}

impl TcpTransport {
    /// Listens on each host address (within the port range) and delivers every frame
    /// received on an accepted connection.
    pub fn start(
        config: &NetConfig,
        deliver: impl Fn(Datagram) -> bool + Send + Sync + 'static,
    ) -> Result<TcpTransport, NetError> {
        let deliver: Arc<Deliver> = Arc::new(deliver);
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut transport = TcpTransport {
            local: Vec::new(),
            stop: stop.clone(),
            shared: shared.clone(),
            acceptors: Vec::new(),
        };
        for ip in host_addresses(config)? {
            let listener = bind(ip, config.port_range)?;
            let local = listener.local_addr()?;
            let (stop, shared, deliver) = (stop.clone(), shared.clone(), deliver.clone());
            // On failure `transport` drops here and stops what started so far.
            let acceptor = thread::Builder::new()
                .name("mf-tcp-accept".into())
                .spawn(move || accept(&listener, local, &stop, &shared, &deliver))?;
            transport.local.push(local);
            transport.acceptors.push(acceptor);
        }
        Ok(transport)
    }

    /// The listening addresses (the passive candidates).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.local.clone()
    }

    /// Sends one frame to `peer` on the connection it opened to `local`.
    pub fn send(&self, local: SocketAddr, peer: SocketAddr, data: &[u8]) -> io::Result<()> {
        let len = u16::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet over 64 KiB"))?;
        let mut frame = Vec::with_capacity(data.len() + 2);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(data);
        let mut shared = lock(&self.shared);
        let stream = shared.connections.get_mut(&(local, peer)).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "no connection from that peer")
        })?;
        stream.write_all(&frame)
    }
}

fn bind(ip: std::net::IpAddr, range: Option<(u16, u16)>) -> Result<TcpListener, NetError> {
    let Some((min, max)) = range else {
        return Ok(TcpListener::bind(SocketAddr::new(ip, 0))?);
    };
    for port in min..=max {
        match TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(NetError::PortRangeExhausted { ip, min, max })
}

fn accept(
    listener: &TcpListener,
    local: SocketAddr,
    stop: &AtomicBool,
    shared: &Arc<Mutex<Shared>>,
    deliver: &Arc<Deliver>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        let mut guard = lock(shared);
        guard.readers.retain(|r| !r.is_finished());
        if guard.connections.len() >= MAX_CONNECTIONS {
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(writer) = stream.try_clone() else {
            continue;
        };
        guard.connections.insert((local, peer), writer);
        let (shared2, deliver) = (shared.clone(), deliver.clone());
        let reader = thread::Builder::new()
            .name("mf-tcp-read".into())
            .spawn(move || {
                read_frames(stream, local, peer, &*deliver);
                lock(&shared2).connections.remove(&(local, peer));
            });
        match reader {
            Ok(r) => guard.readers.push(r),
            Err(_) => {
                guard.connections.remove(&(local, peer));
            }
        }
    }
}

/// Reads RFC 4571 frames until the connection closes or the callback refuses.
fn read_frames(mut stream: TcpStream, local: SocketAddr, peer: SocketAddr, deliver: &Deliver) {
    let mut len = [0u8; 2];
    loop {
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut data = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut data).is_err() {
            return;
        }
        let datagram = Datagram {
            local,
            peer,
            data,
            at: Instant::now(),
            tcp: true,
        };
        if !deliver(datagram) {
            return;
        }
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake each blocked accept with a connection of our own.
        for local in &self.local {
            let _ = TcpStream::connect(local);
        }
        for a in self.acceptors.drain(..) {
            let _ = a.join();
        }
        let readers = {
            let mut shared = lock(&self.shared);
            for stream in shared.connections.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
            shared.connections.clear();
            std::mem::take(&mut shared.readers)
        };
        for r in readers {
            let _ = r.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn frames_in_and_out_and_drop_closes_everything() {
        let config = NetConfig {
            interfaces: vec!["lo".into()],
            ..NetConfig::default()
        };
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let transport = TcpTransport::start(&config, move |d| {
            tx.lock().map(|t| t.send(d).is_ok()).unwrap_or(false)
        })
        .unwrap();
        let local = transport.local_addrs()[0];
        let mut client = TcpStream::connect(local).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // Two frames in one write, and one split over two writes.
        client
            .write_all(&[0, 2, b'h', b'i', 0, 3, b'y', b'o'])
            .unwrap();
        client.write_all(b"u").unwrap();
        let a = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let b = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            (a.data.as_slice(), b.data.as_slice(), a.tcp),
            (&b"hi"[..], &b"you"[..], true)
        );
        transport.send(local, a.peer, b"back").unwrap();
        let mut buf = [0u8; 6];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, &[0, 4, b'b', b'a', b'c', b'k']);
        drop(transport);
        // The connection was closed and the port released.
        let mut rest = [0u8; 1];
        assert!(matches!(client.read(&mut rest), Ok(0) | Err(_)));
        TcpListener::bind(local).unwrap();
    }
}
