//! Any text as the Hello World's WebSocket messages (one per line) into the demo's
//! signaling, which runs a real pipeline for a `start`: every reply must be a JSON
//! object with a known `id`, and an answer must keep the SDP grammar.
#![no_main]

use std::sync::Arc;

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
});

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
