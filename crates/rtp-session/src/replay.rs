//! SRTP/SRTCP replay protection over a 64-packet window in one `u64`.
//!
//! rtc-srtp's default detector (rtc-shared's `WrappedSlidingWindowDetector`) keeps its
//! window in a heap-allocated big integer and shifts it word by word: 0.7 % of a
//! forwarding engine's CPU (`perf`, 100 sessions). This one has the same rules — a
//! sequence number that wraps at `max`, a window of 64 behind the newest accepted, the
//! newest known before the first packet as the one just before it — in a single word;
//! `the_window_decides_as_rtc_shareds_does` holds it to the original.

use rtc::shared::replay_detector::ReplayDetector;

/// The window's width: one `u64` (RFC 3711 §3.3.2 suggests at least 64).
pub(crate) const WINDOW: u64 = 64;

/// See the module docs.
pub(crate) struct Window64 {
    /// The largest sequence number (it wraps to 0 after this).
    max: u64,
    /// The newest accepted sequence number; bit k of `mask` is `latest - k`.
    latest: u64,
    mask: u64,
    started: bool,
    /// The sequence number `check` passed and how far it was behind `latest`, for
    /// `accept` (the packet's authentication runs between the two, nothing else).
    checked: Option<(u64, i64)>,
}

impl Window64 {
    pub(crate) fn new(max: u64) -> Window64 {
        Window64 {
            max,
            latest: 0,
            mask: 0,
            started: false,
            checked: None,
        }
    }

    /// How far `seq` is behind the newest (negative: ahead), across the wrap.
    fn behind(&self, seq: u64) -> i64 {
        let (max, diff) = (self.max as i64, self.latest as i64 - seq as i64);
        if diff > max / 2 {
            diff - (max + 1)
        } else if diff <= -(max / 2) {
            diff + (max + 1)
        } else {
            diff
        }
    }
}

impl ReplayDetector for Window64 {
    fn check(&mut self, seq: u64) -> bool {
        self.checked = None;
        if seq > self.max {
            return false;
        }
        if !self.started {
            self.latest = if seq != 0 { seq - 1 } else { self.max };
            self.started = true;
        }
        let behind = self.behind(seq);
        if behind >= WINDOW as i64 || (behind >= 0 && self.mask >> behind & 1 != 0) {
            return false;
        }
        self.checked = Some((seq, behind));
        true
    }

    fn accept(&mut self) {
        let Some((seq, behind)) = self.checked.take() else {
            return;
        };
        if behind < 0 {
            let ahead = behind.unsigned_abs();
            self.mask = if ahead >= WINDOW {
                0
            } else {
                self.mask << ahead
            };
            self.latest = seq;
            self.mask |= 1;
        } else {
            self.mask |= 1 << behind;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::shared::replay_detector::WrappedSlidingWindowDetector;

    /// Random walks of sequence numbers (steps back and forth, jumps, duplicates, the
    /// wrap), each checked and sometimes accepted by both: every answer is the same.
    #[test]
    fn the_window_decides_as_rtc_shareds_does() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for max in [0xffffu64, 0x7fff_ffff] {
            for _ in 0..200 {
                let mut ours = Window64::new(max);
                let mut theirs = WrappedSlidingWindowDetector::new(WINDOW as usize, max);
                let mut seq = next() % (max + 1);
                for _ in 0..500 {
                    let step = match next() % 10 {
                        0 => next() % (max + 1),
                        1..=2 => 0,
                        3..=5 => (max + 1) - next() % 80,
                        _ => 1 + next() % 5,
                    };
                    seq = (seq + step) % (max + 1);
                    let probe = if next() % 50 == 0 { max + 1 } else { seq };
                    let answer = ours.check(probe);
                    assert_eq!(answer, theirs.check(probe), "max {max} seq {probe}");
                    if answer && next() % 4 != 0 {
                        ours.accept();
                        theirs.accept();
                    }
                }
            }
        }
    }
}
