// Each target uses part of this.
#![allow(dead_code)]
//! What the targets share: sessions on a fixed clock, and the grammar an SDP we write
//! must keep whatever it was given.

use std::time::Instant;

use mediaflow_rtp::{SessionConfig, WebRtcSession};

pub fn session(now: Instant) -> WebRtcSession {
    WebRtcSession::new(SessionConfig::default(), now).expect("a session")
}

/// An SDP of ours: printable ASCII lines ended by CRLF, each `x=value` with a known
/// type letter. Anything else reaching a peer would be our bug (issue 10, item 3).
pub fn assert_well_formed(sdp: &str) {
    assert!(sdp.ends_with("\r\n"), "no final CRLF: {sdp:?}");
    for line in sdp.split_terminator("\r\n") {
        assert!(
            line.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "a control or non-ASCII byte in {line:?}"
        );
        let mut chars = line.chars();
        let (kind, eq) = (chars.next(), chars.next());
        assert!(
            matches!(kind, Some('v' | 'o' | 's' | 't' | 'c' | 'm' | 'a' | 'b')) && eq == Some('='),
            "not an SDP line: {line:?}"
        );
    }
}

/// Feeds `data` to `codec`'s frame assembler as a run of packets: a length byte, then
/// that many bytes, and so on.
pub fn assemble(codec: &str, data: &[u8]) {
    let Some(mut assembler) = mediaflow_transcoder::rtp::FrameAssembler::new(codec) else {
        panic!("{codec} has an assembler");
    };
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let _ = assembler.push(&tail[..n]);
        rest = &tail[n..];
    }
}
