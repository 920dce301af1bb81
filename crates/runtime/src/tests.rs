use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Sender};

use crate::{Context, Runtime, SocketId, Task};

/// Echoes every datagram, counts timer firings, reports to the test.
struct Echo {
    socket: Option<(SocketId, SocketAddr)>,
    report: Sender<String>,
    timer: Option<Instant>,
    period: Duration,
    /// Datagrams received since the last run (echoed from the socket they came on).
    pending: Vec<(SocketId, SocketAddr, Vec<u8>)>,
}

enum Input {
    Bind,
    ListenTcp,
    Tick(Duration),
}

impl Task for Echo {
    type Input = Input;

    fn handle_input(&mut self, input: Input, cx: &mut Context<'_>) {
        match input {
            Input::Bind => {
                let bound = cx.bind_udp([127, 0, 0, 1].into(), None).unwrap();
                self.socket = Some(bound);
                let _ = self.report.send(format!("bound {}", bound.1));
            }
            Input::ListenTcp => {
                let (_, local) = cx.listen_tcp([127, 0, 0, 1].into(), None).unwrap();
                let _ = self.report.send(format!("bound {local}"));
            }
            Input::Tick(period) => {
                self.period = period;
                self.timer = Some(cx.now() + period);
            }
        }
    }

    fn handle_datagram(
        &mut self,
        socket: SocketId,
        peer: SocketAddr,
        data: &[u8],
        _: &mut Context<'_>,
    ) {
        if data == b"pong" {
            let _ = self.report.send("pong".into());
        } else {
            let reply = if data == b"ping" { &b"pong"[..] } else { data };
            self.pending.push((socket, peer, reply.to_vec()));
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.timer
    }

    fn handle_timeout(&mut self, cx: &mut Context<'_>) {
        let _ = self.report.send("tick".into());
        self.timer = Some(cx.now() + self.period);
    }

    fn run(&mut self, cx: &mut Context<'_>) {
        for (socket, peer, data) in self.pending.drain(..) {
            cx.send_to(socket, peer, &data).unwrap();
        }
    }

    fn shutdown(&mut self, _: &mut Context<'_>) {
        let _ = self.report.send("shutdown".into());
    }
}

fn spawn_echo(
    rt: &Runtime<Echo>,
) -> (crate::TaskSender<Echo>, crossbeam_channel::Receiver<String>) {
    let (tx, rx) = unbounded();
    let task = rt
        .spawn(|_, _| Echo {
            socket: None,
            report: tx,
            timer: None,
            period: Duration::ZERO,
            pending: Vec::new(),
        })
        .unwrap();
    (task, rx)
}

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn tasks_share_workers_and_echo_over_real_udp() {
    let rt: Runtime<Echo> = crate::RuntimeBuilder::default()
        .workers(2)
        .dispatchers(1)
        .build()
        .unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (task, reports) = spawn_echo(&rt);
        task.input(Input::Bind, WAIT).unwrap();
        let addr: SocketAddr = reports.recv_timeout(WAIT).unwrap()[6..].parse().unwrap();
        tasks.push((task, reports, addr));
    }
    assert_eq!(
        rt.thread_count(),
        3,
        "workers and dispatchers, whatever the task count"
    );
    for (i, (_, _, addr)) in tasks.iter().enumerate() {
        peer.send_to(&[i as u8; 3], addr).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&[i as u8; 3][..], *addr));
    }
    let (task, reports, addr) = tasks.pop().unwrap();
    task.remove(WAIT).unwrap();
    assert_eq!(reports.recv_timeout(WAIT).unwrap(), "shutdown");
    // Its socket was closed with it.
    UdpSocket::bind(addr).unwrap();
}

/// A turn's sends from one socket to many peers (one `sendmmsg`), mixed with runs to one
/// peer (GSO): every datagram reaches its own peer with its own bytes.
#[test]
fn a_turns_sends_to_many_peers_each_reach_their_peer() {
    let rt: Runtime<Echo> = crate::RuntimeBuilder::default()
        .workers(1)
        .dispatchers(1)
        .min_wake_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let (task, reports) = spawn_echo(&rt);
    task.input(Input::Bind, WAIT).unwrap();
    let addr: SocketAddr = reports.recv_timeout(WAIT).unwrap()[6..].parse().unwrap();
    let peers: Vec<UdpSocket> = (0..40)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for round in 0..5u8 {
        // Within the pacing interval: the worker takes them in one turn.
        for (i, peer) in peers.iter().enumerate() {
            // Every third peer sends two of one size (a GSO run when adjacent).
            let copies = if i % 3 == 0 { 2 } else { 1 };
            for _ in 0..copies {
                peer.send_to(&vec![i as u8 ^ round; 20 + i], addr).unwrap();
            }
        }
        for (i, peer) in peers.iter().enumerate() {
            peer.set_read_timeout(Some(WAIT)).unwrap();
            let copies = if i % 3 == 0 { 2 } else { 1 };
            for _ in 0..copies {
                let mut buf = [0u8; 128];
                let (n, from) = peer.recv_from(&mut buf).unwrap();
                assert_eq!(from, addr);
                assert_eq!(&buf[..n], &vec![i as u8 ^ round; 20 + i][..], "peer {i}");
            }
        }
    }
}

/// With a minimum wake-up interval, a burst of datagrams to many tasks is still echoed
/// whole, and each echo comes back within the interval plus scheduling.
#[test]
fn paced_wake_ups_still_echo_everything() {
    let rt: Runtime<Echo> = crate::RuntimeBuilder::default()
        .workers(1)
        .min_wake_interval(Duration::from_millis(2))
        .build()
        .unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    let mut addrs = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (task, reports) = spawn_echo(&rt);
        task.input(Input::Bind, WAIT).unwrap();
        let addr: SocketAddr = reports.recv_timeout(WAIT).unwrap()[6..].parse().unwrap();
        addrs.push(addr);
        tasks.push((task, reports));
    }
    for round in 0..10u8 {
        for (i, addr) in addrs.iter().enumerate() {
            peer.send_to(&[round, i as u8], addr).unwrap();
        }
        let started = Instant::now();
        let mut seen = std::collections::HashSet::new();
        let mut buf = [0u8; 16];
        while seen.len() < addrs.len() {
            let (n, _) = peer.recv_from(&mut buf).expect("every datagram echoed");
            assert_eq!((n, buf[0]), (2, round));
            seen.insert(buf[1]);
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn timers_fire_on_real_time() {
    let rt: Runtime<Echo> = crate::RuntimeBuilder::default().workers(1).build().unwrap();
    let (task, reports) = spawn_echo(&rt);
    let start = Instant::now();
    task.input(Input::Tick(Duration::from_millis(20)), WAIT)
        .unwrap();
    for _ in 0..3 {
        assert_eq!(reports.recv_timeout(WAIT).unwrap(), "tick");
    }
    assert!(start.elapsed() >= Duration::from_millis(60));
}

#[test]
fn virtual_time_moves_only_when_advanced_and_delivers_in_memory() {
    let rt: Runtime<Echo> = crate::RuntimeBuilder::default()
        .virtual_time(true)
        .build()
        .unwrap();
    let (a, a_reports) = spawn_echo(&rt);
    a.input(Input::Tick(Duration::from_secs(10)), WAIT).unwrap();
    rt.advance(Duration::from_secs(35)).unwrap();
    let ticks: Vec<_> = a_reports.try_iter().collect();
    assert_eq!(
        ticks,
        ["tick", "tick", "tick"],
        "one per 10 virtual seconds"
    );
    // Two tasks on the in-memory network: b sends to a through a call; a echoes.
    a.input(Input::Bind, WAIT).unwrap();
    let (b, b_reports) = spawn_echo(&rt);
    b.input(Input::Bind, WAIT).unwrap();
    rt.advance(Duration::ZERO).unwrap();
    let a_addr: SocketAddr = a_reports.recv_timeout(WAIT).unwrap()[6..].parse().unwrap();
    b.call(
        move |b: &mut Echo, cx| {
            let (socket, _) = b.socket.unwrap();
            cx.send_to(socket, a_addr, b"ping").unwrap();
        },
        WAIT,
    )
    .unwrap();
    rt.advance(Duration::ZERO).unwrap();
    assert!(b_reports.recv_timeout(WAIT).unwrap().starts_with("bound"));
    // Nothing arrives before the network's latency (1 ms each way) has passed.
    assert!(b_reports.try_recv().is_err());
    rt.advance(Duration::from_millis(2)).unwrap();
    assert_eq!(b_reports.recv_timeout(WAIT).unwrap(), "pong");
    a.remove(WAIT).unwrap();
    assert_eq!(a_reports.recv_timeout(WAIT).unwrap(), "shutdown");
}

#[test]
fn a_panicking_call_leaves_the_task_running() {
    let rt: Runtime<Echo> = crate::RuntimeBuilder::default().workers(1).build().unwrap();
    let (task, reports) = spawn_echo(&rt);
    task.call(|_, _| panic!("a bug in a call"), WAIT).unwrap();
    task.input(Input::Bind, WAIT).unwrap();
    assert!(reports.recv_timeout(WAIT).unwrap().starts_with("bound"));
}

#[test]
fn a_port_range_is_honoured_and_can_run_out() {
    let ip = [127, 0, 0, 1].into();
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let err = crate::bind_udp(ip, Some((port, port))).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&format!("{port}-{port}")), "{err}");
    drop(holder);
    let s = crate::bind_udp(ip, Some((port, port))).unwrap();
    assert_eq!(s.local_addr().unwrap().port(), port);
}

#[test]
fn framed_tcp_connections_carry_frames_both_ways_and_close_with_the_task() {
    use std::io::{Read, Write};
    let rt: Runtime<Echo> = crate::RuntimeBuilder::default().workers(1).build().unwrap();
    let (task, reports) = spawn_echo(&rt);
    task.input(Input::ListenTcp, WAIT).unwrap();
    let addr: SocketAddr = reports.recv_timeout(WAIT).unwrap()[6..].parse().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    // Two frames in one write, and one split over two writes: echoed frame by frame.
    client
        .write_all(&[0, 2, b'h', b'i', 0, 3, b'y', b'o'])
        .unwrap();
    client.write_all(b"u").unwrap();
    let mut echoed = [0u8; 9];
    client.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, &[0, 2, b'h', b'i', 0, 3, b'y', b'o', b'u']);
    assert_eq!(rt.thread_count(), 3, "no thread per listener or connection");
    task.remove(WAIT).unwrap();
    let mut rest = [0u8; 1];
    assert!(
        matches!(client.read(&mut rest), Ok(0) | Err(_)),
        "closed with the task"
    );
    std::net::TcpListener::bind(addr).unwrap();
}
