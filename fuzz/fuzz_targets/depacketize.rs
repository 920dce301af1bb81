//! Any bytes as RTP packets into the VP8, H.264 and Opus frame assemblers, which the
//! transcoder runs on whatever a peer sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediaflow_transcoder::rtp::FrameAssembler;

fuzz_target!(|data: &[u8]| {
    for codec in ["video/VP8", "video/H264", "audio/opus"] {
        let Some(mut assembler) = FrameAssembler::new(codec) else {
            continue;
        };
        // The input is a run of packets: a length byte, then that many bytes.
        let mut rest = data;
        while let Some((&len, tail)) = rest.split_first() {
            let n = usize::from(len).min(tail.len());
            let _ = assembler.push(&tail[..n]);
            rest = &tail[n..];
        }
    }
});
