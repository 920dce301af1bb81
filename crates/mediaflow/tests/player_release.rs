//! Releasing pipelines with PlayerEndpoints (playing, paused, seeking) ends their reader
//! threads and frees their memory. One test in this binary, so no other test's
//! allocations or threads blur the counts.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use mediaflow::{AppSink, MediaPipeline, PlayerEndpoint};
use mediaflow_testkit::{live_heap_bytes, thread_count as threads, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Three players of `uri` into sinks: one plays, one is paused, one has just been told
/// to seek; then the pipeline goes (released, or its last handle dropped).
fn run_pipeline(uri: &str, explicit_release: bool) -> usize {
    let pipeline = MediaPipeline::new().unwrap();
    let mut players = Vec::new();
    for _ in 0..3 {
        let player = PlayerEndpoint::builder(&pipeline, uri).build().unwrap();
        let sink = AppSink::new(&pipeline).unwrap();
        player.connect(&sink).unwrap();
        player.play().unwrap();
        players.push((player, sink));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (_, sink) in &players {
        assert!(
            sink.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_some(),
            "media from each player"
        );
    }
    players[1].0.pause().unwrap();
    players[2].0.set_position(1_500).unwrap();
    let during = threads();
    if explicit_release {
        pipeline.release().unwrap();
    }
    during
}

/// Threads and live heap once the reader threads had time to notice (bounded).
fn settle(threads_before: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(3);
    while threads() != threads_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    threads()
}

#[test]
fn releasing_pipelines_with_players_ends_their_readers_and_frees_memory() {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "mediaflow-player-release-{}.webm",
        std::process::id()
    ));
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "2", "-c:v", "libvpx", "-g", "15", "-c:a", "libopus"])
        .arg(&path)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uri = format!("file://{}", path.display());
    // Warm-up: the runtime's threads and libraries' first-use allocations.
    run_pipeline(&uri, true);
    run_pipeline(&uri, false);
    // The warm-up's reader threads end within milliseconds; give them ample time.
    std::thread::sleep(Duration::from_millis(500));
    let threads_before = threads();
    let live_before = live_heap_bytes();
    for round in 0..4 {
        let explicit = round % 2 == 0;
        let during = run_pipeline(&uri, explicit);
        let released = Instant::now();
        assert!(
            during >= threads_before + 3,
            "a reader thread per player: {during} threads, {threads_before} before"
        );
        assert_eq!(
            settle(threads_before),
            threads_before,
            "reader threads left behind (explicit release: {explicit})"
        );
        eprintln!(
            "round {round}: {during} threads while playing, {threads_before} again {:?} after the release",
            released.elapsed()
        );
    }
    let growth = live_heap_bytes() - live_before;
    eprintln!("live heap growth over 4 rounds of 3 players: {growth} bytes");
    assert!(
        growth.abs() < 4096,
        "live heap grew by {growth} bytes over 4 pipelines of 3 players"
    );
    let _ = std::fs::remove_file(&path);
}
