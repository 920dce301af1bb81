//! The forwarding path end to end in one process: an AppSource feeds endpoint A, which
//! sends to endpoint B over real UDP on 127.0.0.1 (DTLS-SRTP); B is a Hello-World
//! loopback (connected to itself) and sends every packet back; A hands what it receives
//! to an AppSink. Each packet is encrypted twice, decrypted twice and crosses the graph
//! twice. Prints packets per second and CPU microseconds per looped packet, at a few
//! offered rates; a profiling target too (`perf record -g` on the bench binary).
//!
//! Run: `cargo bench -p mediaflow-benches --bench forward [-- SECONDS]`.

use std::time::{Duration, Instant};

use mediaflow::{AppSink, AppSource, Buffer, Event, MediaPipeline, MediaType, WebRtcEndpoint};

fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let t = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// A 1200-byte VP8 RTP packet (every 30th a keyframe).
fn vp8(seq: u16) -> Buffer {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    let key = seq.is_multiple_of(30);
    p.extend_from_slice(&[0x10, if key { 0x00 } else { 0x01 }, 0x9d, 0x01, 0x2a]);
    p.resize(1200, 0xab);
    let mut b = Buffer::new(MediaType::Video, p);
    b.codec = Some("video/VP8");
    b.keyframe = key;
    b
}

fn endpoint(pipeline: &MediaPipeline) -> WebRtcEndpoint {
    WebRtcEndpoint::builder(pipeline)
        .network_interfaces(["lo"])
        .build()
        .expect("an endpoint")
}

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
    for (from, to) in [(&a, &b), (&b, &a)] {
        let to = to.clone();
        from.on_ice_candidate_found(move |e| {
            let _ = to.add_ice_candidate(e.candidate.clone());
        })
        .expect("handler");
    }
    let events = a.events().expect("events");
    let offer = a.generate_offer().expect("offer");
    a.process_answer(&b.process_offer(&offer).expect("answer"))
        .expect("answer applied");
    a.gather_candidates().expect("gather");
    b.gather_candidates().expect("gather");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(
        events.recv_deadline(deadline),
        Ok(Event::ConnectionStateChanged(_))
    ) {
        assert!(Instant::now() < deadline, "not connected within 10 s");
    }

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
