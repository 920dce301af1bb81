//! The forwarding path end to end in one process: an AppSource feeds endpoint A, which
//! sends to endpoint B over real UDP on 127.0.0.1 (DTLS-SRTP); B is a Hello-World
//! loopback (connected to itself) and sends every packet back; A hands what it receives
//! to an AppSink. Each packet is encrypted twice, decrypted twice and crosses the graph
//! twice. Prints packets per second and CPU microseconds per looped packet, at a few
//! offered rates; a profiling target too (`perf record -g` on the bench binary).
//!
//! Run: `cargo bench -p mediaflow-benches --bench forward [-- SECONDS]`.

use std::time::{Duration, Instant};

use mediaflow::{AppSink, AppSource, MediaPipeline};
use mediaflow_benches::{connect_pair, cpu_time, endpoint, vp8};

fn main() {
    let seconds: u64 = std::env::args()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(3);
    let sender = MediaPipeline::new().expect("pipeline");
    let looper = MediaPipeline::new().expect("pipeline");
    let (a, b) = (endpoint(&sender), endpoint(&looper));
    b.connect(&b).expect("loopback");
    let source = AppSource::new(&sender).expect("source");
    let sink = AppSink::with_capacity(&sender, 65_536).expect("sink");
    source.connect(&a).expect("link");
    a.connect(&sink).expect("link");
    connect_pair(&a, &b);

    println!("offered pkt/s | looped pkt/s | loss % | CPU µs per looped packet");
    let mut seq = 0u16;
    for rate in [1_000u64, 10_000, 30_000, 60_000, 100_000] {
        let total = rate * seconds;
        let (cpu0, start) = (cpu_time(), Instant::now());
        let mut received = 0u64;
        for n in 0..total {
            // Paced in bursts of 32 (a socket batch) on the offered rate.
            if n % 32 == 0 {
                let due = start + Duration::from_nanos(n * 1_000_000_000 / rate);
                received += sink.receiver().try_iter().count() as u64;
                // Sleep, not spin: the CPU measured is the engine's.
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            let _ = source.push(vp8(seq));
            seq = seq.wrapping_add(1);
        }
        let drain = Instant::now() + Duration::from_millis(500);
        while Instant::now() < drain && received < total {
            received += sink.receiver().try_iter().count() as u64;
            std::thread::sleep(Duration::from_millis(5));
        }
        let (cpu, wall) = (cpu_time() - cpu0, start.elapsed());
        println!(
            "{rate:>13} | {:>12.0} | {:>6.2} | {:.1}",
            received as f64 / wall.as_secs_f64(),
            100.0 * (total.saturating_sub(received)) as f64 / total as f64,
            cpu.as_secs_f64() * 1e6 / received.max(1) as f64,
        );
    }
    sender.release().expect("release");
    looper.release().expect("release");
}
