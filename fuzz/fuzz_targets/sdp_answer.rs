//! Any bytes as the answer to our offer; then, on success, a re-offer stays well formed.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut s = common::session(now);
    let offer = s.generate_offer(now).expect("an offer");
    common::assert_well_formed(&offer);
    if s.process_answer(&String::from_utf8_lossy(data), now)
        .is_ok()
    {
        let again = s.generate_offer(now).expect("a re-offer");
        common::assert_well_formed(&again);
    }
});
