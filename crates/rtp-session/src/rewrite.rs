//! Sequence number and timestamp rewriting for one outgoing stream.
//!
//! The peer sees one SSRC from us whatever feeds it; when the feeding stream changes
//! (a new source is connected, or the sender restarted), the sequence continues from
//! where it was and the timestamp jumps by a small step, so the peer's jitter buffer
//! sees a continuous stream instead of a huge gap or a rollback.

/// Timestamp step inserted on a source switch: one 30 fps frame at 90 kHz, or 20 ms of
/// 48 kHz audio (both 3000 ticks order of magnitude, so one value serves both).
const SWITCH_STEP: u32 = 3000;

/// Rewrites (sequence, timestamp) of one outgoing stream.
#[derive(Debug, Default)]
pub struct Rewriter {
    current: Option<Source>,
    last_out: Option<(u16, u32)>,
}

#[derive(Debug)]
struct Source {
    ssrc: u32,
    seq_offset: u16,
    ts_offset: u32,
}

impl Rewriter {
    /// The outgoing (sequence, timestamp) for an incoming packet of `ssrc`.
    pub fn rewrite(&mut self, ssrc: u32, sequence: u16, timestamp: u32) -> (u16, u32) {
        if self.current.as_ref().is_none_or(|s| s.ssrc != ssrc) {
            let (seq_offset, ts_offset) = match self.last_out {
                // Continue right after what the peer saw last.
                Some((seq, ts)) => (
                    seq.wrapping_add(1).wrapping_sub(sequence),
                    ts.wrapping_add(SWITCH_STEP).wrapping_sub(timestamp),
                ),
                // The first source passes through unchanged.
                None => (0, 0),
            };
            self.current = Some(Source {
                ssrc,
                seq_offset,
                ts_offset,
            });
        }
        let source = self
            .current
            .as_ref()
            .map_or((0, 0), |s| (s.seq_offset, s.ts_offset));
        let out = (
            sequence.wrapping_add(source.0),
            timestamp.wrapping_add(source.1),
        );
        // Track the newest packet (retransmissions and reordering go back in sequence).
        let newer = self
            .last_out
            .is_none_or(|(seq, _)| out.0.wrapping_sub(seq) < 0x8000 && out.0 != seq);
        if newer {
            self.last_out = Some(out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_source_passes_through() {
        let mut r = Rewriter::default();
        assert_eq!(r.rewrite(1, 100, 5000), (100, 5000));
        assert_eq!(r.rewrite(1, 101, 8000), (101, 8000));
        assert_eq!(
            r.rewrite(1, 99, 2000),
            (99, 2000),
            "a late packet keeps its place"
        );
    }

    #[test]
    fn a_new_source_continues_the_sequence() {
        let mut r = Rewriter::default();
        r.rewrite(1, 65535, 10);
        assert_eq!(r.rewrite(2, 7, 1_000_000), (0, 3010));
        assert_eq!(r.rewrite(2, 8, 1_003_000), (1, 6010));
    }
}
