//! mediaflow-demo: Kurento's Hello World (a WebRtcEndpoint connected to itself) as a
//! self-contained web app. The page and its WebSocket signaling are served by this
//! binary; mediaflow runs in-process.

mod signaling;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use clap::Parser;
use crossbeam_channel::unbounded;
use serde_json::json;
use signaling::{Counters, EndpointOptions, Session};
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
    println!(
        "mediaflow Hello World demo: open http://{host}:{}/ (Ctrl-C to stop)",
        local.port()
    );
    let server = Arc::new(Server {
        counters: Arc::new(Counters::default()),
        options: EndpointOptions {
            interfaces: args.interfaces,
            port_range,
        },
        shutdown: shutdown.clone(),
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
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !server.shutdown.load(Ordering::SeqCst) {
        workers.retain(|w| !w.is_finished());
        match listener.accept() {
            Ok((stream, peer)) => {
                if workers.len() >= MAX_CONNECTIONS {
                    let _ = respond(&stream, "503 Service Unavailable", "text/plain", b"busy\n");
                    continue;
                }
                let server = server.clone();
                match thread::Builder::new()
                    .name("demo-conn".into())
                    .spawn(move || handle_connection(stream, peer, &server))
                {
                    Ok(w) => workers.push(w),
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
    for w in workers {
        while !w.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        if w.is_finished() {
            let _ = w.join();
        }
    }
}

/// Reads the request head without consuming it, so a WebSocket upgrade can be handed
/// to tungstenite untouched.
fn peek_head(stream: &TcpStream) -> io::Result<String> {
    let mut buf = vec![0u8; MAX_HEAD];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = stream.peek(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        if let Some(end) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(String::from_utf8_lossy(&buf[..end]).into_owned());
        }
        if n == MAX_HEAD || Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large or too slow",
            ));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn respond(
    mut stream: &TcpStream,
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
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let head = match peek_head(&stream) {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!(%peer, "bad request: {e}");
            let _ = respond(&stream, "400 Bad Request", "text/plain", b"bad request\n");
            return;
        }
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let upgrade = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("upgrade") && v.trim().eq_ignore_ascii_case("websocket")
        })
    });
    if path == "/helloworld" && upgrade {
        return websocket(stream, peer, server);
    }
    // Consume the head we answered (GET requests carry no body here).
    let mut sink = vec![0u8; head.len() + 4];
    let _ = (&stream).read_exact(&mut sink);
    let result = match (method, path) {
        ("GET", "/") | ("GET", "/index.html") => respond(
            &stream,
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
            respond(&stream, "200 OK", "application/json", body.as_bytes())
        }
        ("GET", "/favicon.ico") => respond(&stream, "204 No Content", "text/plain", b""),
        ("GET", _) => respond(&stream, "404 Not Found", "text/plain", b"not found\n"),
        _ => respond(
            &stream,
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

fn websocket(stream: TcpStream, peer: SocketAddr, server: &Server) {
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut ws = match tungstenite::accept_with_config(stream, Some(config)) {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(%peer, "WebSocket handshake failed: {e}");
            return;
        }
    };
    // Short reads so replies queued by event handlers go out promptly.
    let _ = ws
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(20)));
    server.counters.sessions.fetch_add(1, Ordering::SeqCst);
    tracing::info!(%peer, "session opened");
    let (out, outgoing) = unbounded();
    let mut session = Session::new(out, server.counters.clone(), server.options.clone());
    loop {
        if server.shutdown.load(Ordering::SeqCst) {
            let _ = ws.close(None);
            break;
        }
        match ws.read() {
            Ok(Message::Text(text)) => session.handle_text(text.as_str()),
            Ok(Message::Binary(_)) => session.handle_text("\u{0}binary"),
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
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

/// Sends what the session and its event handlers queued; false when the socket is gone.
fn flush(
    ws: &mut WebSocket<TcpStream>,
    outgoing: &crossbeam_channel::Receiver<serde_json::Value>,
) -> bool {
    for message in outgoing.try_iter() {
        if ws.write(Message::text(message.to_string())).is_err() {
            return false;
        }
    }
    match ws.flush() {
        Ok(()) => true,
        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => true,
        Err(_) => false,
    }
}
