//! mediaflow-demo: Kurento's Hello World (a WebRtcEndpoint connected to itself) as a
//! self-contained web app. The page and its WebSocket signaling are served by this
//! binary; mediaflow runs in-process.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use crossbeam_channel::unbounded;
use mediaflow_demo::signaling::{Counters, EndpointOptions, Session};
use mediaflow_wsserve::cli::{init_logging, listen, MediaArgs, TlsArgs};
use mediaflow_wsserve::{
    accept_websocket, close_with, read_request, respond, send_texts, would_block, Replay,
    ServeConfig,
};
use serde_json::json;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

const INDEX_HTML: &str = include_str!("../assets/index.html");

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
    #[command(flatten)]
    media: MediaArgs,
    #[command(flatten)]
    tls: TlsArgs,
    /// Connections one client address may hold at once; more are refused with 503, so
    /// one client cannot take every slot.
    #[arg(long, default_value_t = 32)]
    max_connections_per_ip: usize,
    /// A WebSocket that has started no call is closed after this many seconds without a
    /// message (a call in progress is never closed for idleness).
    #[arg(long, default_value_t = 30)]
    idle_timeout_secs: u64,
}

struct Server {
    counters: Arc<Counters>,
    options: EndpointOptions,
    shutdown: Arc<AtomicBool>,
    idle_timeout: Duration,
}

fn main() {
    init_logging("error,mediaflow=warn,mediaflow_demo=info");
    let args = Args::parse();
    let (port_range, tls) = match (args.media.port_range(), args.tls.load()) {
        (Ok(range), Ok(tls)) => (range, tls),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("mediaflow-demo: {e}");
            std::process::exit(2);
        }
    };
    let (listener, local, shutdown) = listen("mediaflow-demo", &args.bind, args.port);
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
    let config = ServeConfig {
        tls,
        max_connections: MAX_CONNECTIONS,
        max_per_ip: args.max_connections_per_ip.max(1),
        // Short reads: the WebSocket loop interleaves reading with sending queued replies.
        read_timeout: Duration::from_millis(20),
        thread_name: "demo-conn".into(),
        shutdown: shutdown.clone(),
    };
    let server = Arc::new(Server {
        counters: Arc::new(Counters::default()),
        options: EndpointOptions {
            stun: args.media.stun(),
            interfaces: args.media.interfaces,
            port_range,
            turn_url: args.media.turn_url,
            max_playout_delay: args.media.max_playout_delay_ms,
        },
        shutdown,
        idle_timeout: Duration::from_secs(args.idle_timeout_secs.max(1)),
    });
    mediaflow_wsserve::serve(&listener, &config, move |stream, peer| {
        serve_stream(stream, peer, &server)
    });
    println!("mediaflow-demo: stopped");
}

fn serve_stream<S: Read + Write>(mut stream: S, peer: SocketAddr, server: &Server) {
    let Some((request, head)) = read_request(&mut stream, peer) else {
        return;
    };
    if request.target == "/helloworld" && request.upgrade {
        return websocket(Replay::new(head, stream), peer, server);
    }
    let result = match (request.method.as_str(), request.target.as_str()) {
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
    let mut ws = match accept_websocket(stream, MAX_MESSAGE) {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(%peer, "WebSocket handshake failed: {e}");
            return;
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
        if !send_texts(&mut ws, outgoing.try_iter().map(|m| m.to_string())) {
            break;
        }
    }
    session.stop();
    drop(session);
    server.counters.sessions.fetch_sub(1, Ordering::SeqCst);
    tracing::info!(%peer, "session closed, pipeline released");
}
