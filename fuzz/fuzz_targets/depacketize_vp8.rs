//! Any bytes as a run of RTP packets into the VP8 (RFC 7741) payload descriptors and partitions frame assembler, which the
//! transcoder runs on whatever a peer sends.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| common::assemble("video/VP8", data));
