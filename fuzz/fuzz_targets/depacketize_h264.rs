//! Any bytes as a run of RTP packets into the H.264 (RFC 6184) single NAL units, STAP-A and FU-A frame assembler, which the
//! transcoder runs on whatever a peer sends.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| common::assemble("video/H264", data));
