//! The WebSocket transport: a thread per connection (mediaflow-wsserve's accept loop),
//! each reading text messages into the [`Core`] and writing back its responses and the
//! session's notifications. A housekeeping thread drives [`Core::tick`].

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mediaflow_wsserve::{
    accept_websocket, close_with, read_request, respond, send_texts, would_block, Conn, Replay,
    ServeConfig,
};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

use crate::core::{Connection, Core};

/// How the transport serves.
#[derive(Clone)]
pub struct TransportConfig {
    /// The WebSocket path (`/kurento`); the query string is ignored.
    pub path: String,
    /// Largest message accepted; a larger one gets a -32600 error and close code 1009.
    pub max_message: usize,
    /// A connection without any message for this long is closed (kurento-client pings
    /// every 60 s at most, so keep it above that).
    pub idle_timeout: Duration,
    /// Accept loop settings (TLS, connection caps, shutdown flag).
    pub serve: ServeConfig,
}

/// Set when memory was freed in bulk (a connection ended); the housekeeping thread
/// then returns what the allocator keeps of it to the system.
static FREED: AtomicBool = AtomicBool::new(false);

/// Returns the allocator's free memory to the system. glibc keeps freed heap (and
/// raises its trim threshold after large frees), so after 200 clients came and went
/// the process would stay ~50 MB above where it was; `malloc_trim` gives it back.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Serves `core` on `listener` until the shutdown flag is set; then releases every
/// object.
pub fn run(listener: &TcpListener, core: Arc<Core>, config: TransportConfig) {
    let shutdown = config.serve.shutdown.clone();
    let ticker = {
        let core = core.clone();
        let shutdown = shutdown.clone();
        thread::Builder::new()
            .name("server-tick".into())
            .spawn(move || {
                let mut live = core.live();
                let mut trimmed = Instant::now();
                while !shutdown.load(Ordering::SeqCst) {
                    core.tick(Instant::now());
                    // Objects, sessions or cached responses went, or connections closed: hand what the
                    // allocator keeps of the freed memory back to the system (at most
                    // once a second).
                    let now = core.live();
                    if now.iter().zip(&live).any(|(n, l)| n < l) {
                        FREED.store(true, Ordering::Relaxed);
                    }
                    live = now;
                    if trimmed.elapsed() >= Duration::from_secs(1)
                        && FREED.swap(false, Ordering::Relaxed)
                    {
                        release_free_memory();
                        trimmed = Instant::now();
                    }
                    thread::sleep(Duration::from_millis(250));
                }
            })
    };
    let serve = config.serve.clone();
    let per_connection = {
        let core = core.clone();
        move |stream: Box<dyn Conn>, peer: SocketAddr| serve_stream(stream, peer, &core, &config)
    };
    mediaflow_wsserve::serve(listener, &serve, per_connection);
    if let Ok(t) = ticker {
        let _ = t.join();
    }
    core.shutdown();
}

fn serve_stream(
    mut stream: Box<dyn Conn>,
    peer: SocketAddr,
    core: &Core,
    config: &TransportConfig,
) {
    let Some((request, head)) = read_request(&mut stream, peer) else {
        return;
    };
    if !request.upgrade || request.path() != config.path {
        let _ = respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            format!(
                "the Kurento Protocol is served as a WebSocket at {}\n",
                config.path
            )
            .as_bytes(),
        );
        return;
    }
    let mut ws = match accept_websocket(Replay::new(head, stream), config.max_message) {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(%peer, "WebSocket handshake failed: {e}");
            return;
        }
    };
    tracing::info!(%peer, "connection opened");
    let mut conn = Connection::default();
    let mut last_message = Instant::now();
    let shutdown: &AtomicBool = &config.serve.shutdown;
    loop {
        if shutdown.load(Ordering::SeqCst) {
            close_with(&mut ws, CloseCode::Away, "server shutting down");
            break;
        }
        if last_message.elapsed() > config.idle_timeout {
            tracing::debug!(%peer, "idle connection closed");
            close_with(&mut ws, CloseCode::Policy, "idle");
            break;
        }
        let mut out = Vec::new();
        match ws.read() {
            Ok(Message::Text(text)) => {
                last_message = Instant::now();
                tracing::trace!(%peer, "<- {}", text.as_str());
                out.extend(core.handle(&mut conn, text.as_str(), Instant::now()));
            }
            // kurento-client (websocket-stream) sends its requests as binary frames of
            // UTF-8 JSON; KMS takes both kinds.
            Ok(Message::Binary(data)) => {
                last_message = Instant::now();
                match std::str::from_utf8(&data) {
                    Ok(text) => {
                        tracing::trace!(%peer, "<- {text}");
                        out.extend(core.handle(&mut conn, text, Instant::now()));
                    }
                    Err(_) => out.push(Core::not_utf8()),
                }
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => last_message = Instant::now(),
            Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
            Err(tungstenite::Error::Capacity(e)) => {
                // Say why before closing (RFC 6455 1009), rather than just drop the socket.
                tracing::debug!(%peer, "oversized message: {e}");
                let _ = send_texts(&mut ws, [Core::too_large(config.max_message)]);
                close_with(&mut ws, CloseCode::Size, "message too large");
                break;
            }
            Err(e) => {
                tracing::debug!(%peer, "connection closed: {e}");
                break;
            }
        }
        out.extend(conn.take_notifications());
        for text in &out {
            tracing::trace!(%peer, "-> {text}");
        }
        if !send_texts(&mut ws, out) {
            break;
        }
    }
    let session = conn.session_id().unwrap_or("-").to_owned();
    core.disconnected(&mut conn, Instant::now());
    FREED.store(true, Ordering::Relaxed);
    tracing::info!(%peer, %session, "connection closed");
}
