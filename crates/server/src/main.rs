//! mediaflow-server: a Kurento Protocol server on mediaflow. Point a Kurento
//! application's `kurento-client` at `ws://HOST:8888/kurento`.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use mediaflow_server::transport::{self, TransportConfig};
use mediaflow_server::{Config, Core, EndpointOptions};
use mediaflow_wsserve::cli::{init_logging, listen, MediaArgs, TlsArgs};
use mediaflow_wsserve::ServeConfig;

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
    #[command(flatten)]
    tls: TlsArgs,
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
    #[command(flatten)]
    media: MediaArgs,
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
    init_logging("error,mediaflow=warn,mediaflow_server=info");
    let args = Args::parse();
    let port_range = args.media.port_range().unwrap_or_else(|e| fail(e, 2));
    let tls = args.tls.load().unwrap_or_else(|e| fail(e, 2));
    let (listener, local, shutdown) = listen("mediaflow-server", &args.bind, args.port);
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
            stun: args.media.stun(),
            interfaces: args.media.interfaces,
            port_range,
            turn_url: args.media.turn_url,
            max_playout_delay: args.media.max_playout_delay_ms,
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
