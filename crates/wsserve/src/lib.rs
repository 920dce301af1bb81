//! mediaflow-wsserve: the small blocking HTTP/WebSocket serving that mediaflow's binaries
//! (`mediaflow-demo`, `mediaflow-server`) share.
//!
//! One thread per connection, as both binaries need only a few hundred connections:
//! [`serve`] accepts until a shutdown flag is set, refuses connections past a total and a
//! per-address cap with `503`, wraps each accepted stream in TLS when configured and
//! hands it to the caller's handler. The helpers read a bounded request head
//! ([`read_head`], [`RequestHead`]), answer plain HTTP ([`respond`]), upgrade to a
//! WebSocket with a message size limit ([`accept_websocket`]) and close one with a code
//! ([`close_with`]). [`cli`] has the command-line options both binaries take.
#![deny(missing_docs)]

pub mod cli;

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::WebSocket;

/// Largest HTTP request head read.
pub const MAX_HEAD: usize = 16 * 1024;

/// A connection as the handler gets it: plain TCP or TLS over TCP.
pub trait Conn: Read + Write + Send {}

impl<T: Read + Write + Send> Conn for T {}

/// How [`serve`] accepts.
#[derive(Clone)]
pub struct ServeConfig {
    /// Serve TLS (https/wss) with this configuration; plain when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Connections served at once; more are refused with 503.
    pub max_connections: usize,
    /// Connections one client address may hold at once; more are refused with 503.
    pub max_per_ip: usize,
    /// Read timeout of accepted sockets: a handler's loop that interleaves reading with
    /// sending gets control back this often.
    pub read_timeout: Duration,
    /// Name of the per-connection threads.
    pub thread_name: String,
    /// Once set, [`serve`] stops accepting and waits (bounded) for its connections.
    pub shutdown: Arc<AtomicBool>,
}

/// Loads a PEM certificate chain and its private key for a TLS server.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map(Arc::new)
        .map_err(|e| format!("TLS: {e}"))
}

/// Parses a UDP port range written `MIN-MAX`.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("port range {s:?} is not MIN-MAX"))?;
    let parse = |p: &str| p.trim().parse::<u16>().map_err(|e| format!("{p:?}: {e}"));
    Ok((parse(a)?, parse(b)?))
}

/// Accepts on `listener` until `config.shutdown` is set, running `handler` on a thread
/// per connection; then waits up to 5 s for the handlers to return.
pub fn serve<F>(listener: &TcpListener, config: &ServeConfig, handler: F)
where
    F: Fn(Box<dyn Conn>, SocketAddr) + Send + Sync + 'static,
{
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!("listener: {e}");
        return;
    }
    let handler = Arc::new(handler);
    let mut workers: Vec<(IpAddr, JoinHandle<()>)> = Vec::new();
    while !config.shutdown.load(Ordering::SeqCst) {
        workers.retain(|(_, w)| !w.is_finished());
        match listener.accept() {
            Ok((stream, peer)) => {
                let from_peer = workers.iter().filter(|(ip, _)| *ip == peer.ip()).count();
                if workers.len() >= config.max_connections || from_peer >= config.max_per_ip {
                    let _ = respond(
                        &mut &stream,
                        "503 Service Unavailable",
                        "text/plain",
                        b"busy\n",
                    );
                    continue;
                }
                let handler = handler.clone();
                let tls = config.tls.clone();
                let read_timeout = config.read_timeout;
                match thread::Builder::new()
                    .name(config.thread_name.clone())
                    .spawn(move || connection(stream, peer, tls, read_timeout, &*handler))
                {
                    Ok(w) => workers.push((peer.ip(), w)),
                    Err(e) => tracing::warn!("no thread for {peer}: {e}"),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => tracing::warn!("accept: {e}"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (_, w) in workers {
        while !w.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        if w.is_finished() {
            let _ = w.join();
        }
    }
}

fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    read_timeout: Duration,
    handler: &(dyn Fn(Box<dyn Conn>, SocketAddr) + Send + Sync),
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(read_timeout));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    match tls {
        Some(config) => match rustls::ServerConnection::new(config) {
            Ok(tls) => handler(Box::new(rustls::StreamOwned::new(tls, stream)), peer),
            Err(e) => tracing::warn!(%peer, "TLS: {e}"),
        },
        None => handler(Box::new(stream), peer),
    }
}

/// A stream that first replays bytes already read from it (the request head), so a
/// WebSocket upgrade can be handed to tungstenite from its start.
pub struct Replay<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Replay<S> {
    /// `inner`, with `prefix` read first.
    pub fn new(prefix: Vec<u8>, inner: S) -> Replay<S> {
        Replay {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: Read> Read for Replay<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.prefix.len() {
            let n = buf.len().min(self.prefix.len() - self.pos);
            buf[..n].copy_from_slice(&self.prefix[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Replay<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// True for the errors a socket with a read timeout returns when nothing arrived.
pub fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads until the end of the request head (at most [`MAX_HEAD`] bytes, 5 s); returns
/// every byte read.
pub fn read_head(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEAD || Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large or too slow",
            ));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if would_block(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(buf)
}

/// Reads a request head (see [`read_head`]); a bad or slow one is answered with 400
/// and gives `None`. Returns the parsed head and the bytes read (to replay them).
pub fn read_request<S: Read + Write>(
    stream: &mut S,
    peer: SocketAddr,
) -> Option<(RequestHead, Vec<u8>)> {
    match read_head(stream) {
        Ok(head) => Some((RequestHead::parse(&head), head)),
        Err(e) => {
            tracing::debug!(%peer, "bad request: {e}");
            let _ = respond(stream, "400 Bad Request", "text/plain", b"bad request\n");
            None
        }
    }
}

/// The parts of a request head the binaries route on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, `POST`...
    pub method: String,
    /// The request target, query included.
    pub target: String,
    /// True when the request asks for a WebSocket upgrade.
    pub upgrade: bool,
}

impl RequestHead {
    /// Parses a head read by [`read_head`] (leniently: missing parts are empty).
    pub fn parse(head: &[u8]) -> RequestHead {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.lines();
        let mut parts = lines.next().unwrap_or_default().split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let upgrade = lines.any(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("upgrade")
                    && v.trim().eq_ignore_ascii_case("websocket")
            })
        });
        RequestHead {
            method,
            target,
            upgrade,
        }
    }

    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// Writes a complete HTTP/1.1 response and asks to close the connection.
pub fn respond(
    stream: &mut impl Write,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

/// Completes a WebSocket handshake on `stream` (bounded to 5 s), with messages and
/// frames limited to `max_message` bytes.
pub fn accept_websocket<S: Read + Write>(
    stream: S,
    max_message: usize,
) -> Result<WebSocket<S>, String> {
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let mut handshake = tungstenite::accept_with_config(stream, Some(config));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match handshake {
            Ok(ws) => return Ok(ws),
            Err(tungstenite::HandshakeError::Interrupted(mid)) if Instant::now() < deadline => {
                handshake = mid.handshake();
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Sends a close frame and gives it a moment to leave (bounded).
pub fn close_with<S: Read + Write>(ws: &mut WebSocket<S>, code: CloseCode, reason: &str) {
    let frame = tungstenite::protocol::CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = ws.close(Some(frame));
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        match ws.flush() {
            Ok(()) => break,
            Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
            Err(_) => break,
        }
    }
}

/// Writes `texts` as text messages and flushes; false when the socket is gone.
pub fn send_texts<S: Read + Write>(
    ws: &mut WebSocket<S>,
    texts: impl IntoIterator<Item = String>,
) -> bool {
    for text in texts {
        if ws.write(tungstenite::Message::text(text)).is_err() {
            return false;
        }
    }
    match ws.flush() {
        Ok(()) => true,
        Err(tungstenite::Error::Io(e)) if would_block(&e) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_ranges_parse() {
        let head = RequestHead::parse(
            b"GET /kurento?access_token=x HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\n\r\n",
        );
        assert_eq!(head.method, "GET");
        assert_eq!(head.path(), "/kurento");
        assert!(head.upgrade);
        assert!(!RequestHead::parse(b"GET / HTTP/1.1\r\n\r\n").upgrade);
        assert_eq!(parse_port_range("5000-5100"), Ok((5000, 5100)));
        assert!(parse_port_range("5000").is_err());
    }

    #[test]
    fn replay_reads_the_prefix_first() {
        let mut r = Replay::new(b"ab".to_vec(), &b"cd"[..]);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "abcd");
    }
}
