//! Issue 10's soak: create → negotiate engine to engine over UDP → media → release, many
//! times. Live heap bytes, threads and file descriptors come back to where they were.
//! One test in this binary, so nothing else blurs the counts. The test command runs a
//! reduced number of cycles; `MEDIAFLOW_SOAK_CYCLES=10000` runs the full soak.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use mediaflow::{codec, AppSink, AppSource, MediaPipeline, MediaType, WebRtcEndpoint};
use mediaflow_testkit::{fd_count, thread_count, vp8};

/// Counts live heap bytes of the whole process.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn endpoint(pipeline: &MediaPipeline) -> WebRtcEndpoint {
    WebRtcEndpoint::builder(pipeline)
        .network_interfaces(["lo"])
        .build()
        .unwrap()
}

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
    for (from, to) in [(&offerer, &answerer), (&answerer, &offerer)] {
        let to = to.clone();
        from.on_ice_candidate_found(move |e| {
            let _ = to.add_ice_candidate(e.candidate.clone());
        })
        .unwrap();
    }
    let answer = answerer
        .process_offer(&offerer.generate_offer().unwrap())
        .unwrap();
    offerer.process_answer(&answer).unwrap();
    offerer.gather_candidates().unwrap();
    answerer.gather_candidates().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut received = 0;
    while received < 3 {
        assert!(Instant::now() < deadline, "no media in this call");
        source.push(vp8(*seq)).unwrap();
        *seq = seq.wrapping_add(1);
        while let Some(b) = sink.recv_timeout(Duration::from_millis(2)) {
            assert_eq!(b.codec, Some(codec::VP8));
            received += 1;
        }
    }
    pipeline.release().unwrap();
}

fn rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
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
    let (live, threads, fds) = (LIVE.load(Ordering::Relaxed), thread_count(), fd_count());
    let rss = rss_kib();
    let started = Instant::now();
    for _ in 0..cycles {
        cycle(&mut seq);
    }
    let per_cycle = started.elapsed() / cycles.max(1) as u32;
    let threads_after = settled(threads, thread_count);
    let fds_after = settled(fds, fd_count);
    std::thread::sleep(Duration::from_millis(200));
    let grown = LIVE.load(Ordering::Relaxed) - live;
    let rss_grown = rss_kib() - rss;
    println!(
        "{cycles} calls ({per_cycle:?} each): live heap {live} bytes at the start, {grown:+} after, RSS {rss_grown:+} KiB, threads \
         {threads} -> {threads_after}, fds {fds} -> {fds_after}"
    );
    assert!(grown < 2 * 1024 * 1024, "live heap grew {grown} bytes");
    assert!(rss_grown < 2 * 1024, "RSS grew {rss_grown} KiB");
    assert_eq!(threads_after, threads);
    assert_eq!(fds_after, fds);
}
