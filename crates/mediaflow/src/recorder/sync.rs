//! Lines a recording's audio and video up on the sender's clock.
//!
//! Each track is first placed by its own arrival (its first frame at the recording time
//! it arrived, then its RTP clock), which leaves them apart by whatever delayed one
//! more than the other on the way: the sender's capture and encoding, the network, a
//! transcoder. RTP from a peer carries the sender's capture time (its RTCP Sender
//! Reports map RTP time to one NTP clock for all its streams), so once both tracks
//! have one, each track's offset (recording time minus sender time) must be the same.
//! A track behind the other is moved later to match, never earlier: a file's track
//! may have a gap, but a frame must never go before one already written.

/// Offsets closer than this are in sync already (RTP clocks, rounding to ms).
const TOLERANCE_MICROS: i64 = 15_000;
/// A larger correction is not believed (a sender whose clocks disagree): the tracks
/// stay as they arrived. It also bounds the shifts of a whole stretch together, so
/// that steps of the sender's clock (a player's seek, a wall clock set) cannot add up.
const MAX_SHIFT_MICROS: i64 = 1_500_000;

/// The offsets of a recording's two tracks.
#[derive(Debug, Default)]
pub(crate) struct SenderSync {
    /// The offset (recording minus sender time, µs) both tracks keep, once both had one.
    target: Option<i64>,
    /// The first target of the stretch: the target never passes it by more than
    /// [`MAX_SHIFT_MICROS`].
    first_target: i64,
    /// Each track's offset as last seen: audio, video.
    seen: [Option<i64>; 2],
}

impl SenderSync {
    /// A frame of one track (`video` or audio) placed at recording time `at` (µs) was
    /// captured at `sender` (µs) on the sender's clock: how much later (µs, ≥ 0) that
    /// track must go from now on to be in sync with the other. `both` is false for a
    /// recording of one track, which has nothing to line up with.
    pub(crate) fn shift(&mut self, video: bool, at: i64, sender: i64, both: bool) -> i64 {
        let offset = at.saturating_sub(sender);
        let k = usize::from(video);
        self.seen[k] = Some(offset);
        if !both {
            return 0;
        }
        let target = match (self.target, self.seen) {
            (Some(t), _) => t,
            (None, [Some(a), Some(v)]) => {
                self.first_target = a.max(v);
                *self.target.insert(self.first_target)
            }
            _ => return 0,
        };
        if offset > target.saturating_add(TOLERANCE_MICROS) {
            // This track is the later one now (it was re-anchored): the other follows.
            if offset.saturating_sub(self.first_target) <= MAX_SHIFT_MICROS {
                self.target = Some(offset);
            }
            return 0;
        }
        let shift = target.saturating_sub(offset);
        if shift <= TOLERANCE_MICROS || shift > MAX_SHIFT_MICROS {
            return 0;
        }
        self.seen[k] = Some(target);
        shift
    }

    /// A new stretch of recording: the tracks are placed by arrival again.
    pub(crate) fn reset(&mut self) {
        *self = SenderSync::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_track_that_arrived_early_moves_later_once_both_have_sender_times() {
        let mut s = SenderSync::default();
        // Audio placed at 0 for sender time 1,000,000: offset -1,000,000.
        assert_eq!(s.shift(false, 0, 1_000_000, true), 0, "alone so far");
        // Video captured at the same instant but placed 300 ms later (it was delayed).
        assert_eq!(
            s.shift(true, 300_000, 1_000_000, true),
            0,
            "the later one stays"
        );
        // Audio's next frame moves 300 ms later; the ones after stay in sync.
        assert_eq!(s.shift(false, 20_000, 1_020_000, true), 300_000);
        assert_eq!(s.shift(false, 340_000, 1_040_000, true), 0);
        assert_eq!(s.shift(true, 333_000, 1_033_000, true), 0);
        // Within the tolerance: nothing.
        assert_eq!(s.shift(true, 366_000 - 10_000, 1_066_000, true), 0);
    }

    #[test]
    fn a_track_that_falls_behind_later_pulls_the_other_along() {
        let mut s = SenderSync::default();
        s.shift(false, 0, 0, true);
        s.shift(true, 0, 0, true);
        // Video re-anchored 200 ms later: the target follows it, audio moves.
        assert_eq!(s.shift(true, 1_200_000, 1_000_000, true), 0);
        assert_eq!(s.shift(false, 1_000_000, 1_000_000, true), 200_000);
    }

    #[test]
    fn one_track_or_an_implausible_offset_changes_nothing() {
        let mut s = SenderSync::default();
        assert_eq!(s.shift(false, 0, 1_000_000, false), 0);
        assert_eq!(s.shift(false, 20_000, 1_020_000, false), 0);
        let mut s = SenderSync::default();
        s.shift(false, 0, 0, true);
        s.shift(true, 5_000_000, 0, true);
        assert_eq!(
            s.shift(false, 20_000, 20_000, true),
            0,
            "5 s apart: not believed"
        );
        // Steps of the sender's clock do not add up past the bound.
        let mut s = SenderSync::default();
        s.shift(false, 0, 0, true);
        s.shift(true, 0, 0, true);
        for step in 1..=4 {
            s.shift(true, 0, -800_000 * step, true);
        }
        assert!(s.target.unwrap() <= MAX_SHIFT_MICROS, "{s:?}");
        assert_eq!(s.shift(false, 0, i64::MIN, true), 0, "no overflow");
        assert_eq!(s.shift(false, i64::MAX, i64::MIN, true), 0);
        s.reset();
        assert_eq!(s.shift(false, 0, 0, true), 0);
    }
}
