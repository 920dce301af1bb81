//! Framed TCP on the worker's poll: listeners whose accepted connections carry RFC 4571
//! frames (a 16-bit length, then the packet) — ICE-TCP's passive candidates (RFC 6544).
//! No thread per listener or connection: they are sockets of the worker like the UDP
//! ones. A task sees each frame as a datagram of its listener, from the connection's
//! peer, and sends a frame to a peer through the listener that peer connected to.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};

use mio::net::{TcpListener, TcpStream};

use crate::net::SocketId;

/// Connections one listener keeps at once; more are closed at once (a peer needs one
/// per candidate pair it checks).
pub(crate) const MAX_CONNECTIONS: usize = 32;

/// Bytes waiting to be written to one connection before frames are dropped (a peer that
/// stops reading must not grow our memory).
const MAX_PENDING_WRITE: usize = 1 << 20;

pub(crate) struct Listener {
    pub(crate) listener: TcpListener,
    pub(crate) local: SocketAddr,
    /// Its open connections, by peer.
    pub(crate) connections: Vec<(SocketAddr, SocketId)>,
}

pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    /// The listener it was accepted on (the id the task knows).
    pub(crate) listener: SocketId,
    pub(crate) peer: SocketAddr,
    read: Vec<u8>,
    write: Vec<u8>,
}

/// Binds a listener on `ip`, on the first free port of `range` (or any port).
pub(crate) fn listen(ip: IpAddr, range: Option<(u16, u16)>) -> io::Result<Listener> {
    let (min, max) = range.unwrap_or((0, 0));
    for port in min..=max {
        match TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(listener) => {
                let local = listener.local_addr()?;
                return Ok(Listener {
                    listener,
                    local,
                    connections: Vec::new(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && range.is_some() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("no free TCP port in {min}-{max} on {ip}"),
    ))
}

impl Connection {
    pub(crate) fn new(stream: TcpStream, listener: SocketId, peer: SocketAddr) -> Connection {
        Connection {
            stream,
            listener,
            peer,
            read: Vec::new(),
            write: Vec::new(),
        }
    }

    /// Reads what the peer sent and calls `frame` for each complete frame. False when
    /// the connection is over (closed by the peer, or broken).
    pub(crate) fn read_frames(&mut self, mut frame: impl FnMut(&[u8])) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.read.extend_from_slice(&chunk[..n]);
                    let mut at = 0;
                    while let Some(len) = self
                        .read
                        .get(at..at + 2)
                        .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
                    {
                        let Some(body) = self.read.get(at + 2..at + 2 + len) else {
                            break;
                        };
                        frame(body);
                        at += 2 + len;
                    }
                    // At most one partial frame (64 KiB) stays buffered.
                    self.read.drain(..at);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }

    /// Queues one frame and writes what the socket takes. False when the connection is
    /// broken; a frame that does not fit the pending bound is dropped (as UDP would).
    pub(crate) fn send_frame(&mut self, data: &[u8]) -> io::Result<()> {
        let len = u16::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 64 KiB"))?;
        if self.write.len() + data.len() + 2 > MAX_PENDING_WRITE {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "peer not reading: frame dropped",
            ));
        }
        self.write.extend_from_slice(&len.to_be_bytes());
        self.write.extend_from_slice(data);
        self.flush()
    }

    /// Writes what is pending, as far as the socket takes it.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        while !self.write.is_empty() {
            match self.stream.write(&self.write) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.write.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
