//! What a connected, idle session costs: N engine pairs on 127.0.0.1 (an offerer and a
//! Hello-World loopback each, so 2N sessions) connect, then nothing is sent for a few
//! seconds. Prints CPU microseconds per session per second (keepalives, RTCP, timers)
//! and resident memory per session.
//!
//! Run: `cargo bench -p mediaflow-benches --bench idle [-- PAIRS [SECONDS]]`.

use std::time::{Duration, Instant};

use mediaflow::MediaPipeline;
use mediaflow_benches::{connect_pair, cpu_time, endpoint, raise_fd_limit};
use mediaflow_testkit::rss_kib;

/// Voluntary context switches of every thread so far: each is a wake-up after a wait.
fn wakeups() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}

fn main() {
    let numbers: Vec<u64> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let pairs = numbers.first().copied().unwrap_or(200);
    let seconds = numbers.get(1).copied().unwrap_or(5);
    raise_fd_limit(4 * pairs + 1024);
    let rss0 = rss_kib();
    let start = Instant::now();
    let mut held = Vec::new();
    for _ in 0..pairs {
        let (x, y) = (
            MediaPipeline::new().expect("pipeline"),
            MediaPipeline::new().expect("pipeline"),
        );
        let (a, b) = (endpoint(&x), endpoint(&y));
        b.connect(&b).expect("loopback");
        connect_pair(&a, &b);
        held.push((x, y, a, b));
    }
    let setup = start.elapsed();
    // Let the handshakes' retransmit timers and first reports settle.
    std::thread::sleep(Duration::from_secs(2));
    let sessions = 2 * pairs;
    let rss = rss_kib().saturating_sub(rss0);
    let (cpu0, wake0, t0) = (cpu_time(), wakeups(), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu, wakes, wall) = (cpu_time() - cpu0, wakeups() - wake0, t0.elapsed());
    println!(
        "{sessions} idle sessions ({pairs} pairs, connected in {setup:.1?}): {:.1} µs CPU per session per second, {:.0} wake-ups/s, {:.0} KiB RSS per session",
        cpu.as_secs_f64() * 1e6 / wall.as_secs_f64() / sessions as f64,
        wakes as f64 / wall.as_secs_f64(),
        rss as f64 / sessions as f64,
    );
    for (x, y, _, _) in held {
        let _ = x.release();
        let _ = y.release();
    }
}
