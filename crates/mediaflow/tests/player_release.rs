//! Releasing pipelines with PlayerEndpoints (playing, paused, seeking, downloading) ends their reader
//! threads and frees their memory. One test in this binary, so no other test's
//! allocations or threads blur the counts.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    let codecs = ["-c:v", "libvpx", "-g", "15", "-c:a", "libopus"];
    common::ffmpeg::make_clip(&path, "160x120", "2", &codecs);
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

    released_downloads_end();
}

/// A server that sends the head of a 10 MB response, then a byte every 50 ms, until
/// `stop`: a download that never ends on its own.
fn trickle(stop: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut clients = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Ok((mut stream, _)) = listener.accept() {
                stream.set_nonblocking(false).unwrap();
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: video/webm\r\nContent-Length: 10000000\r\n\r\n",
                );
                clients.push(stream);
            }
            for c in &mut clients {
                let _ = c.write_all(&[0x1a]);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    port
}

/// The downloads of http players whose pipeline goes (released, stopped, dropped) end
/// within a second, and their copies go with them.
fn released_downloads_end() {
    let stop = Arc::new(AtomicBool::new(false));
    let port = trickle(stop.clone());
    let url = format!("http://127.0.0.1:{port}/slow.webm");
    let prefix = format!("mediaflow-player-{}-", std::process::id());
    let copies = || {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count()
    };
    std::thread::sleep(Duration::from_millis(100));
    let threads_before = threads();
    for how in ["release", "stop", "drop"] {
        let pipeline = MediaPipeline::new().unwrap();
        let player = PlayerEndpoint::builder(&pipeline, &url).build().unwrap();
        player.play().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while copies() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(copies(), 1, "{how}: the download started");
        std::thread::sleep(Duration::from_millis(200));
        let released = Instant::now();
        match how {
            "release" => pipeline.release().unwrap(),
            "stop" => {
                player.stop().unwrap();
                // The stopped player's download ends though the pipeline stays.
                while copies() > 0 && released.elapsed() < Duration::from_secs(3) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                assert_eq!(copies(), 0, "stop: the copy is gone");
                assert!(released.elapsed() < Duration::from_millis(1500), "stop");
                pipeline.release().unwrap();
            }
            _ => drop(pipeline),
        }
        drop(player);
        let settled = settle(threads_before);
        eprintln!(
            "{how}: {settled} threads ({threads_before} before) {:?} after",
            released.elapsed()
        );
        assert_eq!(settled, threads_before, "{how}: download thread left");
        assert!(
            released.elapsed() < Duration::from_millis(1500),
            "{how}: the download ended within a second or so"
        );
        assert_eq!(copies(), 0, "{how}: the copy is gone");
    }
    stop.store(true, Ordering::Relaxed);
}
