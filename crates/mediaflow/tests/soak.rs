//! Issue 10's soak: create → negotiate engine to engine over UDP → media → release, many
//! times. Live heap bytes, threads and file descriptors come back to where they were.
//! One test in this binary, so nothing else blurs the counts. The test command runs a
//! reduced number of cycles; `MEDIAFLOW_SOAK_CYCLES=10000` runs the full soak.

use std::time::{Duration, Instant};

use mediaflow::{AppSink, AppSource, MediaPipeline, MediaType};
use mediaflow_testkit::{fd_count, live_heap_bytes, rss_kib, thread_count, CountingAllocator};

mod common;

use common::{endpoint, negotiate, pump_video, trickle};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// One call: two endpoints negotiate and connect over UDP, video goes across, the
/// pipeline is released.
fn cycle(seq: &mut u16) {
    let pipeline = MediaPipeline::new().unwrap();
    let offerer = endpoint(&pipeline);
    let answerer = endpoint(&pipeline);
    let source = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::with_capacity(&pipeline, 1_000).unwrap();
    source.connect_media(&offerer, MediaType::Video).unwrap();
    answerer.connect_media(&sink, MediaType::Video).unwrap();
    trickle(&offerer, &answerer);
    negotiate(&offerer, &answerer);
    pump_video(&source, &sink, seq, 3, Duration::from_secs(15), || {
        "no media in this call".into()
    });
    pipeline.release().unwrap();
}

/// Threads and fds settle a moment after a release (dispatcher work, closing sockets).
fn settled<T: PartialEq + Copy + std::fmt::Debug>(want: T, now: impl Fn() -> T) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = now();
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn create_negotiate_media_release_cycles_leave_memory_threads_and_fds_at_baseline() {
    let cycles: usize = std::env::var("MEDIAFLOW_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut seq = 0u16;
    // Warm up: the global runtime, the process's DTLS certificate, lazy statics.
    for _ in 0..20 {
        cycle(&mut seq);
    }
    std::thread::sleep(Duration::from_millis(200));
    let (live, threads, fds) = (live_heap_bytes(), thread_count(), fd_count());
    let rss = rss_kib() as i64;
    let started = Instant::now();
    for _ in 0..cycles {
        cycle(&mut seq);
    }
    let per_cycle = started.elapsed() / cycles.max(1) as u32;
    let threads_after = settled(threads, thread_count);
    let fds_after = settled(fds, fd_count);
    std::thread::sleep(Duration::from_millis(200));
    let grown = live_heap_bytes() - live;
    let rss_grown = rss_kib() as i64 - rss;
    println!(
        "{cycles} calls ({per_cycle:?} each): live heap {live} bytes at the start, {grown:+} after, RSS {rss_grown:+} KiB, threads \
         {threads} -> {threads_after}, fds {fds} -> {fds_after}"
    );
    assert!(grown < 2 * 1024 * 1024, "live heap grew {grown} bytes");
    assert!(rss_grown < 2 * 1024, "RSS grew {rss_grown} KiB");
    assert_eq!(threads_after, threads);
    assert_eq!(fds_after, fds);
}
