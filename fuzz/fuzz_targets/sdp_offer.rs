//! Any bytes as a remote offer: a typed error or an answer in the SDP grammar.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut s = common::session(now);
    if let Ok(answer) = s.process_offer(&String::from_utf8_lossy(data), now) {
        common::assert_well_formed(&answer);
        if let Some(local) = s.local_description() {
            common::assert_well_formed(&local);
        }
    }
});
