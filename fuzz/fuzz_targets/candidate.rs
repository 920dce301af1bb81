//! Any bytes as trickled candidates, before and after the remote description.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use mediaflow_rtp::IceCandidate;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let text = String::from_utf8_lossy(data);
    let candidate = |line: &str| IceCandidate {
        candidate: line.to_owned(),
        sdp_mid: "0".to_owned(),
        sdp_m_line_index: 0,
    };
    let mut early = common::session(now);
    let mut offerer = common::session(now);
    for line in text.lines() {
        let _ = early.add_ice_candidate(candidate(line));
    }
    let offer = offerer.generate_offer(now).expect("an offer");
    let _ = early.process_offer(&offer, now);
    for line in text.lines() {
        let _ = early.add_ice_candidate(candidate(line));
    }
    early.handle_timeout(now);
    while early.poll_transmit().is_some() {}
});
