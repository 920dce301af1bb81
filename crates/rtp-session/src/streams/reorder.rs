//! How long a gap waits for a reordered packet before its first NACK.
//!
//! The longest lateness of an original packet after its gap was seen, over the last
//! one to two windows of `REORDER_WINDOW`. An earlier version decayed the wait by 1/16
//! at every reordered packet: on a link that reorders a third of its packets (30 ± 10 ms
//! of jitter per packet) the many packets a few ms late pulled it down between the rare
//! ones 15-20 ms late, and each of those was NACKed and resent for nothing — 4 % of
//! Chromium's packets resent on a link that lost none. A maximum over a window holds
//! the worst lateness seen lately, and lets it go when the link calms down.

use std::time::{Duration, Instant};

/// Longest a gap waits for a reordered packet before its first NACK: a link that
/// reorders by more than this is answered with NACKs (and the resends are duplicates).
const MAX_REORDER_WAIT: Duration = Duration::from_millis(100);
/// Lateness is remembered for one to two of these: reordering not seen for two is
/// forgotten, and gaps are NACKed at once again.
const REORDER_WINDOW: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(super) struct ReorderWait {
    /// The longest lateness in the window that started at `started`, and in the one
    /// before it.
    current: Duration,
    previous: Duration,
    started: Option<Instant>,
}

impl ReorderWait {
    /// How long a new gap waits now.
    pub fn wait(&self) -> Duration {
        self.current.max(self.previous)
    }

    /// An original packet filled its gap `late` after the gap was seen.
    pub fn observe(&mut self, now: Instant, late: Duration) {
        self.roll(now);
        self.started.get_or_insert(now);
        self.current = self.current.max(late.min(MAX_REORDER_WAIT));
    }

    /// Moves the windows on to `now`; true when the wait became shorter.
    pub fn roll(&mut self, now: Instant) -> bool {
        let Some(started) = self.started else {
            return false;
        };
        let elapsed = now.saturating_duration_since(started);
        if elapsed < REORDER_WINDOW {
            return false;
        }
        let before = self.wait();
        if elapsed < 2 * REORDER_WINDOW {
            self.previous = self.current;
            self.current = Duration::ZERO;
            self.started = Some(started + REORDER_WINDOW);
        } else {
            *self = ReorderWait::default();
        }
        self.wait() < before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_worst_lateness_holds_through_many_smaller_ones_then_expires() {
        let t0 = Instant::now();
        let mut r = ReorderWait::default();
        assert_eq!(r.wait(), Duration::ZERO);
        r.observe(t0, 18 * MS);
        // A thousand packets 2 ms late do not wear it down.
        for i in 0..1000u32 {
            r.observe(t0 + i * 4 * MS, 2 * MS);
        }
        assert_eq!(r.wait(), 18 * MS);
        // Into the next window it still holds; a window later it is gone.
        assert!(!r.roll(t0 + 6_000 * MS));
        assert_eq!(r.wait(), 18 * MS);
        r.observe(t0 + 6_000 * MS, 5 * MS);
        assert!(r.roll(t0 + 10_500 * MS), "shorter");
        assert_eq!(r.wait(), 5 * MS);
        assert!(r.roll(t0 + 20_000 * MS));
        assert_eq!(r.wait(), Duration::ZERO, "forgotten");
        // Capped.
        r.observe(t0 + 20_000 * MS, 900 * MS);
        assert_eq!(r.wait(), MAX_REORDER_WAIT);
    }
}
