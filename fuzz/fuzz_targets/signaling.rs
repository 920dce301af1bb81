//! Any text as the Hello World's WebSocket messages (one per line) into the demo's
//! signaling, which runs a real pipeline for a `start`: every reply must be a JSON
//! object with a known `id`, and an answer must keep the SDP grammar.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::unbounded;
use libfuzzer_sys::fuzz_target;
use mediaflow_demo::signaling::{Counters, EndpointOptions, Session};
use serde_json::Value;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (tx, rx) = unbounded();
    let options = EndpointOptions {
        interfaces: vec!["lo".to_owned()],
        ..EndpointOptions::default()
    };
    let mut session = Session::new(tx, Arc::new(Counters::default()), options);
    for message in text.lines().take(16) {
        session.handle_text(message);
    }
    session.stop();
    drop(session);
    for reply in rx.try_iter() {
        check(&reply);
    }
    demo_threads_gone();
});

/// A call's "demo-events" thread forwards the endpoint's events until its pipeline is
/// gone, so it ends a moment after `stop`. LeakSanitizer checks after each input: a
/// thread still exiting then shows its `Thread` and glibc's thread_local destructor
/// node as leaked (seen twice in 30-minute campaigns). Wait for it, bounded.
fn demo_threads_gone() {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && demo_threads() > 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn demo_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "demo-events")
        .count()
}

fn check(reply: &Value) {
    let id = reply["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {reply}"));
    match id {
        "startResponse" => {
            common::assert_well_formed(reply["sdpAnswer"].as_str().expect("an answer is a string"))
        }
        "error" => assert!(reply["message"].is_string(), "{reply}"),
        "iceCandidate" => assert!(reply["candidate"]["candidate"].is_string(), "{reply}"),
        "event" => assert!(reply["type"].is_string() && reply["detail"].is_string()),
        other => panic!("unknown reply id {other}: {reply}"),
    }
}
