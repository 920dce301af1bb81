//! What both binaries do at start: their common command-line options (flattened into
//! their own `clap` parsers), logging, binding the listener and the Ctrl-C handler.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Logs to stderr, filtered by `RUST_LOG`, else by `default_filter`.
pub fn init_logging(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Binds `bind:port` (on failure prints why, naming `program`, and exits with 1) and
/// installs a Ctrl-C handler that sets the returned flag.
pub fn listen(program: &str, bind: &str, port: u16) -> (TcpListener, SocketAddr, Arc<AtomicBool>) {
    let addr = format!("{bind}:{port}");
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("{program}: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");
    let shutdown = Arc::new(AtomicBool::new(false));
    let flag = shutdown.clone();
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        eprintln!("{program}: no Ctrl-C handler: {e}");
    }
    (listener, local, shutdown)
}

/// `--tls-cert` / `--tls-key`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// Certificate chain (PEM) to serve TLS (HTTPS, WSS), for use beyond localhost.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The TLS configuration, when both files were given.
    pub fn load(&self) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::tls_config(cert, key).map(Some),
            _ => Ok(None),
        }
    }
}

/// The media options of the binaries' WebRtcEndpoints.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct MediaArgs {
    /// Network interfaces to gather ICE candidates on (comma separated; default all).
    #[arg(long, value_delimiter = ',')]
    pub interfaces: Vec<String>,
    /// UDP port range for media, as MIN-MAX.
    #[arg(long)]
    pub port_range: Option<String>,
    /// STUN server for server-reflexive candidates (host name or IP).
    #[arg(long)]
    pub stun_address: Option<String>,
    /// Port of the STUN server.
    #[arg(long, default_value_t = 3478)]
    pub stun_port: u16,
    /// TURN server for relayed candidates, as user:password@host:port.
    #[arg(long)]
    pub turn_url: Option<String>,
    /// Largest playout delay, in ms, a WebRtcEndpoint may ask a browser for while the
    /// video it forwards comes late (repairs of lost packets); 0 never asks (default:
    /// mediaflow's, 600).
    #[arg(long)]
    pub max_playout_delay_ms: Option<u32>,
}

impl MediaArgs {
    /// `--port-range`, parsed.
    pub fn port_range(&self) -> Result<Option<(u16, u16)>, String> {
        self.port_range
            .as_deref()
            .map(crate::parse_port_range)
            .transpose()
    }

    /// `--stun-address` with `--stun-port`.
    pub fn stun(&self) -> Option<(String, u16)> {
        self.stun_address.clone().map(|a| (a, self.stun_port))
    }
}
