//! 200 Kurento clients at once (issue 11): each opens a WebSocket, creates a
//! MediaPipeline and a WebRtcEndpoint, has it answer a Chromium offer, releases the
//! pipeline and closes. Afterwards the server's threads, file descriptors and resident
//! memory are back where they were after one warm-up client, and it has no sessions or
//! pipelines left.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{error_code, result, Server};

const CLIENTS: usize = 200;
const MANAGER: &str = "manager_ServerManager";
/// Resident memory may stay this much above the baseline: the duplicate-request
/// cache keeps the clients' responses for 20 s (~1.7 MB), glibc keeps the stacks of
/// finished threads for reuse (~1.6 MB), and the heap is left a little fragmented.
/// (The server hands the rest of the freed heap back with `malloc_trim`; without it
/// this is ~50 MB.)
const RSS_SLACK_KIB: u64 = 8 * 1024;

/// Chromium's offer (tests/browser/fixtures), without its candidates: the endpoints
/// answer it and have nobody to check connectivity with.
fn chromium_offer() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/browser/fixtures/chromium-offer.sdp"
    );
    let sdp = std::fs::read_to_string(path).expect("the Chromium offer fixture");
    sdp.split_inclusive('\n')
        .filter(|l| !l.starts_with("a=candidate:") && !l.starts_with("a=end-of-candidates"))
        .collect()
}

/// One client's life: connect, create, negotiate, release, close.
fn one_client(server: &Server, offer: &str) -> Duration {
    let started = Instant::now();
    let mut c = server.client();
    let (pipeline, endpoint) = c.pipeline_with_endpoint();
    let answer = c.invoke(&endpoint, "processOffer", json!({"offer": offer}));
    let answer = result(&answer)["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        answer.starts_with("v=0") && answer.contains("m=video"),
        "{answer}"
    );
    result(&c.call("release", json!({"object": pipeline})));
    assert_eq!(
        error_code(&c.invoke(&endpoint, "getName", json!({}))),
        40101
    );
    let _ = c.ws.close(None);
    // Read until the server's close frame (or the socket ends).
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && c.ws.read().is_ok() {}
    started.elapsed()
}

/// Waits (at most `limit`) until `done`; returns whether it came.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// Sessions (but the checker's own) and pipelines the server has, seen from a
/// short-lived connection that always speaks in the one session `checker` (with
/// request ids of its own: the duplicate-request cache answers a repeated one).
fn sessions_and_pipelines(server: &Server) -> (usize, usize) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let mut c = server.client();
    let mut ask = |operation: &str| {
        let r = c.call_with_id(
            json!(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            "invoke",
            json!({"object": MANAGER, "operation": operation, "sessionId": "checker"}),
        );
        result(&r)["value"].as_array().cloned().unwrap_or_default()
    };
    let sessions = ask("getSessions");
    let counts = (
        sessions.iter().filter(|s| *s != "checker").count(),
        ask("getPipelines").len(),
    );
    let _ = c.ws.close(None);
    while c.ws.read().is_ok() {}
    counts
}

#[test]
fn two_hundred_clients_at_once_then_threads_fds_and_memory_are_back_to_baseline() {
    // 200 WebSockets and 200 endpoints' sockets: more than a default soft limit of
    // 1,024 descriptors leaves room for. The server inherits the raised limit.
    mediaflow_testkit::raise_fd_limit(8192);
    // Sessions of closed connections go 1 s after their connection.
    let server = Arc::new(Server::start(&["--session-grace-secs", "1"]));
    let offer = Arc::new(chromium_offer());

    // A first client starts the engine's runtime (its threads stay): the baseline is after.
    one_client(&server, &offer);
    assert!(
        wait_until(Duration::from_secs(10), || sessions_and_pipelines(&server)
            == (0, 0)),
        "the warm-up client's session outlived its grace period: {:?}",
        sessions_and_pipelines(&server)
    );
    std::thread::sleep(Duration::from_millis(300));
    let (threads, fds, rss) = (server.threads(), server.fds(), server.rss_kib());

    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (server, offer, barrier) = (server.clone(), offer.clone(), barrier.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    barrier.wait();
                    one_client(&server, &offer)
                })
                .expect("a client thread")
        })
        .collect();
    // The server's peak while they run.
    let mut peak = (0, 0, 0);
    while !clients.iter().all(|c| c.is_finished()) && started.elapsed() < Duration::from_secs(60) {
        peak.0 = peak.0.max(server.threads());
        peak.1 = peak.1.max(server.fds());
        peak.2 = peak.2.max(server.rss_kib());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut slowest = Duration::ZERO;
    for c in clients {
        slowest = slowest.max(c.join().expect("a client"));
    }
    let all_done = started.elapsed();

    assert!(
        wait_until(Duration::from_secs(15), || sessions_and_pipelines(&server)
            == (0, 0)),
        "sessions or pipelines left: {:?}",
        sessions_and_pipelines(&server)
    );
    // Up to past the duplicate-request cache's 20 s, whose entries then go (and the
    // housekeeping's malloc_trim hands their pages back): within the slack it is sooner.
    let back = wait_until(Duration::from_secs(25), || {
        server.threads() <= threads
            && server.fds() <= fds
            && server.rss_kib() <= rss + RSS_SLACK_KIB
    });
    let after = (server.threads(), server.fds(), server.rss_kib());
    println!(
        "{CLIENTS} clients in {all_done:?} (slowest {slowest:?}); server threads/fds/RSS KiB: \
         baseline {threads}/{fds}/{rss}, peak {}/{}/{}, after {}/{}/{}",
        peak.0, peak.1, peak.2, after.0, after.1, after.2
    );
    assert!(
        peak.0 > threads + CLIENTS as u64 / 4,
        "the clients did not overlap: peak threads {}",
        peak.0
    );
    assert!(
        back,
        "not back to baseline: threads {} (were {threads}), fds {} (were {fds}), RSS {} KiB (was {rss})",
        after.0, after.1, after.2
    );
    assert!(all_done < Duration::from_secs(30), "{all_done:?}");
}
