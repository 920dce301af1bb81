//! mediaflow-demo: Kurento's Hello World (a WebRtcEndpoint connected to itself) as a
//! self-contained web app. The page and its WebSocket signaling are served by this
//! binary; mediaflow runs in-process.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use clap::Parser;
use crossbeam_channel::unbounded;
use mediaflow_demo::signaling::{Counters, EndpointOptions, Session};
use serde_json::json;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

const INDEX_HTML: &str = include_str!("../assets/index.html");

/// Largest HTTP request head we read.
const MAX_HEAD: usize = 16 * 1024;
/// Connections served at once; more are refused with 503.
const MAX_CONNECTIONS: usize = 256;

#[derive(Parser, Debug)]
#[command(
    name = "mediaflow-demo",
    about = "Kurento's Hello World (WebRTC loopback) on mediaflow"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 8443)]
    port: u16,
    /// Network interfaces to gather ICE candidates on (comma separated; default all).
    #[arg(long, value_delimiter = ',')]
    interfaces: Vec<String>,
    /// UDP port range for media, as MIN-MAX.
    #[arg(long)]
    port_range: Option<String>,
    /// Certificate chain (PEM) to serve HTTPS and WSS, for use beyond localhost.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// STUN server for server-reflexive candidates (host name or IP).
    #[arg(long)]
    stun_address: Option<String>,
    /// Port of the STUN server.
    #[arg(long, default_value_t = 3478)]
    stun_port: u16,
    /// TURN server for relayed candidates, as user:password@host:port.
    #[arg(long)]
    turn_url: Option<String>,
    /// Connections one client address may hold at once; more are refused with 503, so
    /// one client cannot take every slot.
    #[arg(long, default_value_t = 32)]
    max_connections_per_ip: usize,
    /// A WebSocket that has started no call is closed after this many seconds without a
    /// message (a call in progress is never closed for idleness).
    #[arg(long, default_value_t = 30)]
    idle_timeout_secs: u64,
}

/// Loads the certificate chain and key for HTTPS.
fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
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

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("port range {s:?} is not MIN-MAX"))?;
    let parse = |p: &str| p.trim().parse::<u16>().map_err(|e| format!("{p:?}: {e}"));
    Ok((parse(a)?, parse(b)?))
}

struct Server {
    counters: Arc<Counters>,
    options: EndpointOptions,
    shutdown: Arc<AtomicBool>,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_per_ip: usize,
    idle_timeout: Duration,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error,mediaflow=warn,mediaflow_demo=info".into()),
        )
        .with_writer(io::stderr)
        .init();
    let args = Args::parse();
    let port_range = match args.port_range.as_deref().map(parse_range).transpose() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mediaflow-demo: {e}");
            std::process::exit(2);
        }
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match tls_config(cert, key) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("mediaflow-demo: {e}");
                std::process::exit(2);
            }
        },
        _ => None,
    };
    let addr = format!("{}:{}", args.bind, args.port);
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mediaflow-demo: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");
    let shutdown = Arc::new(AtomicBool::new(false));
    {
        let shutdown = shutdown.clone();
        if let Err(e) = ctrlc::set_handler(move || shutdown.store(true, Ordering::SeqCst)) {
            eprintln!("mediaflow-demo: no Ctrl-C handler: {e}");
        }
    }
    let host = if local.ip().is_loopback() {
        "localhost".to_string()
    } else {
        local.ip().to_string()
    };
    // The line a user (and the tests) wait for.
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "mediaflow Hello World demo: open {scheme}://{host}:{}/ (Ctrl-C to stop)",
        local.port()
    );
    let server = Arc::new(Server {
        counters: Arc::new(Counters::default()),
        options: EndpointOptions {
            interfaces: args.interfaces,
            port_range,
            stun: args.stun_address.map(|a| (a, args.stun_port)),
            turn_url: args.turn_url,
        },
        shutdown: shutdown.clone(),
        max_per_ip: args.max_connections_per_ip.max(1),
        idle_timeout: Duration::from_secs(args.idle_timeout_secs.max(1)),
        tls,
    });
    serve(&listener, &server);
    println!("mediaflow-demo: stopped");
}

/// Accepts until Ctrl-C, then waits (bounded) for the sessions to release their
/// pipelines.
fn serve(listener: &TcpListener, server: &Arc<Server>) {
    if let Err(e) = listener.set_nonblocking(true) {
        eprintln!("mediaflow-demo: {e}");
        return;
    }
    let mut workers: Vec<(std::net::IpAddr, JoinHandle<()>)> = Vec::new();
    while !server.shutdown.load(Ordering::SeqCst) {
        workers.retain(|(_, w)| !w.is_finished());
        match listener.accept() {
            Ok((stream, peer)) => {
                let from_peer = workers.iter().filter(|(ip, _)| *ip == peer.ip()).count();
                if workers.len() >= MAX_CONNECTIONS || from_peer >= server.max_per_ip {
                    let _ = respond(
                        &mut &stream,
                        "503 Service Unavailable",
                        "text/plain",
                        b"busy\n",
                    );
                    continue;
                }
                let server = server.clone();
                match thread::Builder::new()
                    .name("demo-conn".into())
                    .spawn(move || handle_connection(stream, peer, &server))
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

/// A stream that first replays bytes already read from it (the request head), so a
/// WebSocket upgrade can be handed to tungstenite from its start.
struct Replay<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
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

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads until the end of the request head; returns every byte read.
fn read_head(stream: &mut impl Read) -> io::Result<Vec<u8>> {
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

fn respond(
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

fn handle_connection(stream: TcpStream, peer: SocketAddr, server: &Server) {
    let _ = stream.set_nonblocking(false);
    // Short reads: the WebSocket loop interleaves reading with sending queued replies.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    match &server.tls {
        Some(config) => match rustls::ServerConnection::new(config.clone()) {
            Ok(tls) => serve_stream(rustls::StreamOwned::new(tls, stream), peer, server),
            Err(e) => tracing::warn!(%peer, "TLS: {e}"),
        },
        None => serve_stream(stream, peer, server),
    }
}

fn serve_stream<S: Read + Write>(mut stream: S, peer: SocketAddr, server: &Server) {
    let head = match read_head(&mut stream) {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!(%peer, "bad request: {e}");
            let _ = respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                b"bad request\n",
            );
            return;
        }
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let upgrade = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("upgrade") && v.trim().eq_ignore_ascii_case("websocket")
        })
    });
    if path == "/helloworld" && upgrade {
        let replay = Replay {
            prefix: head,
            pos: 0,
            inner: stream,
        };
        return websocket(replay, peer, server);
    }
    let result = match (method, path) {
        ("GET", "/") | ("GET", "/index.html") => respond(
            &mut stream,
            "200 OK",
            "text/html; charset=utf-8",
            INDEX_HTML.as_bytes(),
        ),
        ("GET", "/stats") => {
            let c = &server.counters;
            let body = json!({
                "sessions": c.sessions.load(Ordering::SeqCst),
                "pipelines": c.pipelines.load(Ordering::SeqCst),
                "pipelinesCreated": c.created.load(Ordering::SeqCst),
                "pipelinesReleased": c.released.load(Ordering::SeqCst),
            })
            .to_string();
            respond(&mut stream, "200 OK", "application/json", body.as_bytes())
        }
        ("GET", "/favicon.ico") => respond(&mut stream, "204 No Content", "text/plain", b""),
        ("GET", _) => respond(&mut stream, "404 Not Found", "text/plain", b"not found\n"),
        _ => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"method not allowed\n",
        ),
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "response: {e}");
    }
}

/// Largest signaling message accepted (an SDP offer is a few KB).
const MAX_MESSAGE: usize = 256 * 1024;

fn websocket<S: Read + Write>(stream: S, peer: SocketAddr, server: &Server) {
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut handshake = tungstenite::accept_with_config(stream, Some(config));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut ws = loop {
        match handshake {
            Ok(ws) => break ws,
            Err(tungstenite::HandshakeError::Interrupted(mid)) if Instant::now() < deadline => {
                handshake = mid.handshake();
            }
            Err(e) => {
                tracing::debug!(%peer, "WebSocket handshake failed: {e}");
                return;
            }
        }
    };
    server.counters.sessions.fetch_add(1, Ordering::SeqCst);
    tracing::info!(%peer, "session opened");
    let (out, outgoing) = unbounded();
    let mut session = Session::new(out, server.counters.clone(), server.options.clone());
    let mut last_message = Instant::now();
    loop {
        if server.shutdown.load(Ordering::SeqCst) {
            let _ = ws.close(None);
            break;
        }
        if !session.in_call() && last_message.elapsed() > server.idle_timeout {
            tracing::debug!(%peer, "idle WebSocket closed");
            close_with(&mut ws, CloseCode::Policy, "idle: no call started");
            break;
        }
        match ws.read() {
            Ok(Message::Text(text)) => {
                last_message = Instant::now();
                session.handle_text(text.as_str());
            }
            Ok(Message::Binary(_)) => session.handle_text("\u{0}binary"),
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
            Err(tungstenite::Error::Capacity(e)) => {
                // Say why before closing (RFC 6455 1009), rather than just drop the socket.
                tracing::debug!(%peer, "oversized WebSocket message: {e}");
                let reply = json!({"id": "error", "message": format!(
                    "message too large: at most {MAX_MESSAGE} bytes"
                )});
                let _ = ws.write(Message::text(reply.to_string()));
                close_with(&mut ws, CloseCode::Size, "message too large");
                break;
            }
            Err(e) => {
                tracing::debug!(%peer, "WebSocket closed: {e}");
                break;
            }
        }
        if !flush(&mut ws, &outgoing) {
            break;
        }
    }
    session.stop();
    drop(session);
    server.counters.sessions.fetch_sub(1, Ordering::SeqCst);
    tracing::info!(%peer, "session closed, pipeline released");
}

/// Sends a close frame and gives it a moment to leave (bounded).
fn close_with<S: Read + Write>(ws: &mut WebSocket<S>, code: CloseCode, reason: &str) {
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

/// Sends what the session and its event handlers queued; false when the socket is gone.
fn flush<S: Read + Write>(
    ws: &mut WebSocket<S>,
    outgoing: &crossbeam_channel::Receiver<serde_json::Value>,
) -> bool {
    for message in outgoing.try_iter() {
        if ws.write(Message::text(message.to_string())).is_err() {
            return false;
        }
    }
    match ws.flush() {
        Ok(()) => true,
        Err(tungstenite::Error::Io(e)) if would_block(&e) => true,
        Err(_) => false,
    }
}
