//! Test helpers shared by mediaflow's crates. Not part of the product.
#![deny(missing_docs)]

pub mod relay;
pub use relay::JitterRelay;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mediaflow_graph::{Buffer, MediaType};

/// A VP8 RTP packet (payload type 96, SSRC 0x0badcafe); every 30th is a keyframe.
pub fn vp8(seq: u16) -> Buffer {
    vp8_sized(seq, 117)
}

/// A VP8 RTP packet of `len` bytes (at least the 17 of its headers), as [`vp8`].
pub fn vp8_sized(seq: u16, len: usize) -> Buffer {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    let key = seq.is_multiple_of(30);
    p.extend_from_slice(&[0x10, if key { 0x00 } else { 0x01 }, 0x9d, 0x01, 0x2a]);
    p.resize(len.max(p.len()), 0xab);
    let mut b = Buffer::new(MediaType::Video, p);
    b.codec = Some("video/VP8");
    b.keyframe = key;
    b
}

/// A numeric field of /proc/self/status (`Threads:`, `VmRSS:` ...), units dropped.
fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let value = status.lines().find_map(|l| l.strip_prefix(name))?;
    value.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Threads of this process now.
pub fn thread_count() -> usize {
    status_field("Threads:").map_or(0, |n| n as usize)
}

/// Resident memory of this process now, in KiB.
pub fn rss_kib() -> u64 {
    status_field("VmRSS:").unwrap_or(0)
}

/// A global allocator that counts the process's live heap bytes, for leak tests:
/// `#[global_allocator] static A: CountingAllocator = CountingAllocator;` in a test
/// binary of its own, then [`live_heap_bytes`]; or, in a binary whose tests run side by
/// side, [`thread_heap_bytes`] for what the calling thread's work holds.
pub struct CountingAllocator;

static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

thread_local! {
    static THREAD_LIVE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
    static THREAD_ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Heap bytes allocated and not yet freed, when [`CountingAllocator`] is the global
/// allocator (0 otherwise).
pub fn live_heap_bytes() -> isize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Heap bytes the calling thread allocated and has not freed (what other threads free
/// of it is not seen), when [`CountingAllocator`] is the global allocator (0 otherwise).
pub fn thread_heap_bytes() -> isize {
    THREAD_LIVE.with(|h| h.get())
}

/// Allocations (and reallocations) the calling thread made so far, when
/// [`CountingAllocator`] is the global allocator (0 otherwise): for "no allocation per
/// packet" checks.
pub fn thread_allocations() -> u64 {
    THREAD_ALLOCATIONS.with(|n| n.get())
}

fn count_allocation() {
    let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn count(delta: isize) {
    LIVE.fetch_add(delta, std::sync::atomic::Ordering::Relaxed);
    // `try_with`: the allocator is also called while a thread's locals are torn down.
    let _ = THREAD_LIVE.try_with(|h| h.set(h.get() + delta));
}

// SAFETY: every call is passed on to the system allocator unchanged; only counters are
// updated beside it.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
            count_allocation();
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
            count_allocation();
        }
        p
    }
}

/// Raises this process's open-file limit to `want` (or the hard limit): a thousand
/// endpoints hold a thousand sockets, and a fresh system's soft limit is 1,024.
pub fn raise_fd_limit(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Open file descriptors of this process now.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// A free UDP port on 127.0.0.1 (free when returned; racy, as such helpers are).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The address a [`stun_server`] reports for everyone.
pub const STUN_MAPPED_IP: [u8; 4] = [203, 0, 113, 7];

/// A STUN server on 127.0.0.1 answering every Binding request with 203.0.113.7 and the
/// sender's port, as a server behind a NAT would see us. It stops after 30 s idle.
pub fn stun_server() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let addr = socket.local_addr().expect("bound");
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let _ = socket.set_read_timeout(Some(Duration::from_secs(30)));
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if n < 20 || buf[0..2] != [0x00, 0x01] {
                continue;
            }
            // Binding success: header, the request's transaction id, XOR-MAPPED-ADDRESS.
            let mut r = vec![0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
            r.extend_from_slice(&buf[8..20]);
            r.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
            r.extend_from_slice(&(from.port() ^ 0x2112).to_be_bytes());
            r.extend_from_slice(&(u32::from_be_bytes(STUN_MAPPED_IP) ^ 0x2112_a442).to_be_bytes());
            let _ = socket.send_to(&r, from);
        }
    });
    addr
}

/// A real TURN server (Debian's coturn) on 127.0.0.1 with user `mediaflow:secret`,
/// killed on drop.
pub struct Coturn {
    child: Child,
    /// Its UDP port.
    pub port: u16,
}

impl Coturn {
    /// Starts `turnserver` and waits until it answers STUN (on a new port if a start
    /// fails, as a port found free may be taken meanwhile).
    pub fn start() -> Coturn {
        for _ in 0..3 {
            if let Some(server) = Coturn::try_start() {
                return server;
            }
        }
        panic!("turnserver did not start (3 tries)");
    }

    fn try_start() -> Option<Coturn> {
        let port = free_udp_port();
        let relay_min = free_udp_port().clamp(20_000, 60_000);
        let child = Command::new("turnserver")
            .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--lt-cred-mech"])
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
            .args(["--listening-port", &port.to_string()])
            .args(["--min-port", &relay_min.to_string()])
            .args(["--max-port", &(relay_min + 50).to_string()])
            .args(["--user", "mediaflow:secret", "--realm", "mediaflow.test"])
            .args([
                "--allow-loopback-peers",
                "--no-stdout-log",
                "--log-file",
                "/dev/null",
            ])
            .args(["--pidfile", &format!("/tmp/mediaflow-turn-{port}.pid")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("coturn's turnserver is installed (scripts/test.sh installs it)");
        let mut server = Coturn { child, port };
        let probe = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        let _ = probe.set_read_timeout(Some(Duration::from_millis(100)));
        let request = [
            0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ];
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 512];
        while Instant::now() < deadline {
            if matches!(server.child.try_wait(), Ok(Some(_))) {
                return None; // it exited: its port was taken meanwhile
            }
            let _ = probe.send_to(&request, ("127.0.0.1", port));
            if probe.recv_from(&mut buf).is_ok() {
                return Some(server);
            }
        }
        None
    }

    /// Kurento's `turnUrl` for this server.
    pub fn url(&self) -> String {
        format!("mediaflow:secret@127.0.0.1:{}?transport=udp", self.port)
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for `localhost`, written as `NAME-cert.pem` and
/// `NAME-key.pem` under `dir`: (certificate path, key path, the certificate to trust).
pub fn localhost_certificate(
    dir: &std::path::Path,
    name: &str,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    rustls::pki_types::CertificateDer<'static>,
) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}-cert.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&cert_path, key.cert.pem()).unwrap();
    std::fs::write(&key_path, key.signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, key.cert.der().clone())
}

/// A TLS client connection to `127.0.0.1:port` for server name `localhost`, trusting
/// only `cert`, with a 5 s read timeout.
pub fn tls_stream(
    port: u16,
    cert: &rustls::pki_types::CertificateDer<'static>,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Starts `program` with `args` (stdout piped, stderr inherited), waits for the first
/// line it prints (a server's banner with its address) and keeps draining the rest so
/// the program never blocks on a full pipe. Returns the child and that line.
pub fn spawn_with_banner(program: &str, args: &[&str]) -> (Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let banner = lines
        .next()
        .expect("a startup line")
        .expect("readable stdout");
    std::thread::spawn(move || for _ in lines {});
    (child, banner)
}
