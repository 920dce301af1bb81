//! Any bytes as a run of RTP packets into the Opus (RFC 7587) frames frame assembler, which the
//! transcoder runs on whatever a peer sends.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| common::assemble("audio/opus", data));
