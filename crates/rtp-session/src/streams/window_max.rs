//! The worst value of something seen lately: the largest observation over the last one
//! to two windows, capped. Two users:
//!
//! - how long a gap waits for a reordered packet before its first NACK (the longest
//!   lateness of an original packet after its gap was seen). An earlier version decayed
//!   the wait by 1/16 at every reordered packet: on a link that reorders a third of its
//!   packets (30 ± 10 ms of jitter per packet) the many packets a few ms late pulled it
//!   down between the rare ones 15-20 ms late, and each of those was NACKed and resent
//!   for nothing — 4 % of Chromium's packets resent on a link that lost none. A maximum
//!   over a window holds the worst lateness seen lately, and lets it go when the link
//!   calms down;
//! - how late packets we forward reach us (see `playout`).

use std::time::{Duration, Instant};

/// Longest a gap waits for a reordered packet before its first NACK: a link that
/// reorders by more than this is answered with NACKs (and the resends are duplicates).
const MAX_REORDER_WAIT: Duration = Duration::from_millis(100);
/// Lateness is remembered for one to two of these: reordering not seen for two is
/// forgotten, and gaps are NACKed at once again.
const REORDER_WINDOW: Duration = Duration::from_secs(5);

/// The largest observation over the current window and the one before it, at most `cap`.
#[derive(Debug)]
pub(super) struct WindowMax {
    window: Duration,
    cap: Duration,
    current: Duration,
    previous: Duration,
    /// When the current window started; `None` before the first observation and after
    /// everything was forgotten.
    started: Option<Instant>,
}

impl WindowMax {
    pub const fn new(window: Duration, cap: Duration) -> WindowMax {
        WindowMax {
            window,
            cap,
            current: Duration::ZERO,
            previous: Duration::ZERO,
            started: None,
        }
    }

    /// The wait before a gap's first NACK: `MAX_REORDER_WAIT` at most, lateness over
    /// `REORDER_WINDOW`s.
    pub const fn reorder_wait() -> WindowMax {
        WindowMax::new(REORDER_WINDOW, MAX_REORDER_WAIT)
    }

    /// The largest observation lately (zero when none).
    pub fn max(&self) -> Duration {
        self.current.max(self.previous)
    }

    pub fn observe(&mut self, now: Instant, value: Duration) {
        self.roll(now);
        self.started.get_or_insert(now);
        self.current = self.current.max(value.min(self.cap));
    }

    /// Moves the windows on to `now`; true when the maximum became smaller.
    pub fn roll(&mut self, now: Instant) -> bool {
        let Some(started) = self.started else {
            return false;
        };
        let elapsed = now.saturating_duration_since(started);
        if elapsed < self.window {
            return false;
        }
        let before = self.max();
        if elapsed < 2 * self.window {
            self.previous = self.current;
            self.current = Duration::ZERO;
            self.started = Some(started + self.window);
        } else {
            *self = WindowMax::new(self.window, self.cap);
        }
        self.max() < before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_worst_lateness_holds_through_many_smaller_ones_then_expires() {
        let t0 = Instant::now();
        let mut r = WindowMax::reorder_wait();
        assert_eq!(r.max(), Duration::ZERO);
        r.observe(t0, 18 * MS);
        // A thousand packets 2 ms late do not wear it down.
        for i in 0..1000u32 {
            r.observe(t0 + i * 4 * MS, 2 * MS);
        }
        assert_eq!(r.max(), 18 * MS);
        // Into the next window it still holds; a window later it is gone.
        assert!(!r.roll(t0 + 6_000 * MS));
        assert_eq!(r.max(), 18 * MS);
        r.observe(t0 + 6_000 * MS, 5 * MS);
        assert!(r.roll(t0 + 10_500 * MS), "shorter");
        assert_eq!(r.max(), 5 * MS);
        assert!(r.roll(t0 + 20_000 * MS));
        assert_eq!(r.max(), Duration::ZERO, "forgotten");
        // Capped.
        r.observe(t0 + 20_000 * MS, 900 * MS);
        assert_eq!(r.max(), MAX_REORDER_WAIT);
    }
}
