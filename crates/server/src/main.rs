//! mediaflow-server: a Kurento Protocol server on mediaflow. Point a Kurento
//! application's `kurento-client` at `ws://HOST:8888/kurento`.

use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use mediaflow_server::transport::{self, TransportConfig};
use mediaflow_server::{Config, Core, EndpointOptions};
use mediaflow_wsserve::{parse_port_range, tls_config, ServeConfig};

#[derive(Parser, Debug)]
#[command(
    name = "mediaflow-server",
    about = "A Kurento Protocol server (JSON-RPC over WebSocket) on mediaflow"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Port to listen on (Kurento's is 8888; 0 picks a free one).
    #[arg(long, default_value_t = 8888)]
    port: u16,
    /// WebSocket path.
    #[arg(long, default_value = "/kurento")]
    path: String,
    /// Certificate chain (PEM) to serve wss.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Sessions alive at once (40009 past it).
    #[arg(long, default_value_t = 1000)]
    max_sessions: usize,
    /// Pipelines alive at once (40009 past it).
    #[arg(long, default_value_t = 1000)]
    max_pipelines: usize,
    /// Seconds the objects of a session whose connection dropped are kept for a
    /// reconnect before they are released.
    #[arg(long, default_value_t = 60)]
    session_grace_secs: u64,
    /// Largest message accepted, in bytes (a larger one gets an error and close 1009).
    #[arg(long, default_value_t = 1024 * 1024)]
    max_message_bytes: usize,
    /// WebSocket connections served at once.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Connections one client address may hold at once.
    #[arg(long, default_value_t = 256)]
    max_connections_per_ip: usize,
    /// A connection silent for this many seconds is closed (kurento-client pings).
    #[arg(long, default_value_t = 180)]
    idle_timeout_secs: u64,
    /// Network interfaces to gather ICE candidates on (comma separated; default all).
    #[arg(long, value_delimiter = ',')]
    interfaces: Vec<String>,
    /// UDP port range for media, as MIN-MAX.
    #[arg(long)]
    port_range: Option<String>,
    /// STUN server for server-reflexive candidates (host name or IP).
    #[arg(long)]
    stun_address: Option<String>,
    /// Port of the STUN server.
    #[arg(long, default_value_t = 3478)]
    stun_port: u16,
    /// TURN server for relayed candidates, as user:password@host:port.
    #[arg(long)]
    turn_url: Option<String>,
    /// Public IPv4 address to announce for host candidates (1:1 NAT).
    #[arg(long)]
    external_ipv4: Option<std::net::Ipv4Addr>,
    /// Public IPv6 address to announce for host candidates.
    #[arg(long)]
    external_ipv6: Option<std::net::Ipv6Addr>,
}

fn fail(message: impl std::fmt::Display, code: i32) -> ! {
    eprintln!("mediaflow-server: {message}");
    std::process::exit(code)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error,mediaflow=warn,mediaflow_server=info".into()),
        )
        .with_writer(io::stderr)
        .init();
    let args = Args::parse();
    let port_range = args
        .port_range
        .as_deref()
        .map(parse_port_range)
        .transpose()
        .unwrap_or_else(|e| fail(e, 2));
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key).unwrap_or_else(|e| fail(e, 2))),
        _ => None,
    };
    let addr = format!("{}:{}", args.bind, args.port);
    let listener = TcpListener::bind(&addr)
        .unwrap_or_else(|e| fail(format!("cannot listen on {addr}: {e}"), 1));
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");
    let shutdown = Arc::new(AtomicBool::new(false));
    {
        let shutdown = shutdown.clone();
        if let Err(e) = ctrlc::set_handler(move || shutdown.store(true, Ordering::SeqCst)) {
            eprintln!("mediaflow-server: no Ctrl-C handler: {e}");
        }
    }
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    // The line users (and the tests) wait for.
    println!(
        "mediaflow-server: Kurento Protocol at {scheme}://{local}{} (Ctrl-C to stop)",
        args.path
    );
    let core = Arc::new(Core::new(Config {
        max_sessions: args.max_sessions.max(1),
        max_pipelines: args.max_pipelines,
        session_grace: Duration::from_secs(args.session_grace_secs),
        endpoint: EndpointOptions {
            interfaces: args.interfaces,
            port_range,
            stun: args.stun_address.map(|a| (a, args.stun_port)),
            turn_url: args.turn_url,
            external_ipv4: args.external_ipv4,
            external_ipv6: args.external_ipv6,
        },
        runtime: None,
    }));
    let config = TransportConfig {
        path: args.path,
        max_message: args.max_message_bytes.max(1024),
        idle_timeout: Duration::from_secs(args.idle_timeout_secs.max(1)),
        serve: ServeConfig {
            tls,
            max_connections: args.max_connections.max(1),
            max_per_ip: args.max_connections_per_ip.max(1),
            read_timeout: Duration::from_millis(20),
            thread_name: "kurento-conn".into(),
            shutdown,
        },
    };
    transport::run(&listener, core, config);
    println!("mediaflow-server: stopped");
}
