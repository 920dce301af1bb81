//! When a session's RTCP reports go (RFC 3550's interval, slower while no RTP flows,
//! at once to answer the peer's first Sender Report), and the Sender Reports that came
//! before their stream's RTP.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How often reports go out while media flows (libwebrtc sends video RTCP ~1/s).
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// How often when no RTP went either way for `IDLE_AFTER`: RFC 3550's 5 s minimum. It
/// keeps the peer's MediaState (15 s timeout) up; most of an idle session's cost is
/// the datagrams it sends.
const IDLE_REPORT_INTERVAL: Duration = Duration::from_secs(5);
const IDLE_AFTER: Duration = Duration::from_secs(2);
/// Sender Reports kept for SSRCs not received yet, and for how long.
const EARLY_REPORTS: usize = 4;
const EARLY_REPORT_AGE: Duration = Duration::from_secs(10);

/// A Sender Report's (when it came, NTP time, RTP time).
pub(super) type SenderReportTimes = (Instant, u64, u32);

/// See the module docs.
#[derive(Default)]
pub(super) struct Reports {
    /// When the next compound goes; none before the first negotiation.
    next: Option<Instant>,
    /// When RTP last went either way.
    last_rtp: Option<Instant>,
    /// Sender Reports about SSRCs whose RTP has not come yet (ffmpeg sends its first
    /// before its first packet, and the next 5 s later): kept for when it comes, since
    /// a recorder lines audio and video up with them. At most [`EARLY_REPORTS`].
    early: VecDeque<(u32, SenderReportTimes)>,
}

impl Reports {
    /// Reports begin (a negotiation made streams); later calls change nothing.
    pub(super) fn start(&mut self, now: Instant) {
        self.next.get_or_insert(now + REPORT_INTERVAL);
    }

    /// RTP went one way or the other: after an idle spell, reports at the media rate.
    pub(super) fn media_active(&mut self, now: Instant) {
        self.last_rtp = Some(now);
        if self.next.is_some_and(|t| t > now + REPORT_INTERVAL) {
            self.next = Some(now + REPORT_INTERVAL);
        }
    }

    /// Our answer to the peer's first SR is how it learns the round trip (its NACK
    /// retries wait 100 ms until then): it goes now, not up to a second later.
    pub(super) fn answer_first_sender_report(&mut self, now: Instant) {
        if self.next.is_some_and(|t| t > now) {
            self.next = Some(now);
        }
    }

    pub(super) fn next(&self) -> Option<Instant> {
        self.next
    }

    /// Whether a report goes now; when it does, the next one is scheduled.
    pub(super) fn due(&mut self, now: Instant) -> bool {
        let active = self.last_rtp.is_some_and(|t| now < t + IDLE_AFTER);
        // Idle, a report due within half its interval goes now (RFC 3550 §6.3.5 spreads
        // reports over 0.5–1.5 of the interval anyway): the session woke for its ICE
        // check, and one wake-up for both is most of what an idle session saves.
        let (interval, early) = if active {
            (REPORT_INTERVAL, Duration::ZERO)
        } else {
            (IDLE_REPORT_INTERVAL, IDLE_REPORT_INTERVAL / 2)
        };
        if self.next.is_some_and(|t| t <= now + early) {
            self.next = Some(now + interval);
            return true;
        }
        false
    }

    /// Keeps a Sender Report about `ssrc`, whose RTP has not come yet.
    pub(super) fn keep_early(&mut self, ssrc: u32, times: SenderReportTimes) {
        self.early.retain(|r| r.0 != ssrc);
        if self.early.len() == EARLY_REPORTS {
            self.early.pop_front();
        }
        self.early.push_back((ssrc, times));
    }

    /// The Sender Report kept for `ssrc`, whose RTP now comes, unless it is so old
    /// that it was about media long gone.
    pub(super) fn take_early(&mut self, ssrc: u32, now: Instant) -> Option<SenderReportTimes> {
        let i = self.early.iter().position(|r| r.0 == ssrc)?;
        let (_, times) = self.early.remove(i)?;
        (now.saturating_duration_since(times.0) < EARLY_REPORT_AGE).then_some(times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn reports_slow_down_when_idle_and_speed_up_with_media() {
        let t0 = Instant::now();
        let mut r = Reports::default();
        assert!(!r.due(t0 + 10 * S), "nothing before the first negotiation");
        r.start(t0);
        r.media_active(t0);
        assert!(!r.due(t0 + S / 2));
        assert!(r.due(t0 + S));
        assert_eq!(r.next(), Some(t0 + 2 * S));
        // No RTP for 2 s: the next report waits 5 s, and goes early when asked within
        // half of that.
        assert!(r.due(t0 + 3 * S));
        assert_eq!(r.next(), Some(t0 + 8 * S));
        assert!(r.due(t0 + 6 * S), "2 s early while idle");
        // Media again: back to 1 s at once.
        r.media_active(t0 + 7 * S);
        assert_eq!(r.next(), Some(t0 + 8 * S));
        r.answer_first_sender_report(t0 + 7 * S);
        assert_eq!(r.next(), Some(t0 + 7 * S));
    }

    #[test]
    fn early_sender_reports_are_few_and_age_out() {
        let t0 = Instant::now();
        let mut r = Reports::default();
        for ssrc in 1..=6 {
            r.keep_early(ssrc, (t0, u64::from(ssrc), ssrc));
        }
        assert_eq!(r.take_early(1, t0), None, "only the last four are kept");
        assert_eq!(r.take_early(6, t0 + S), Some((t0, 6, 6)));
        assert_eq!(r.take_early(6, t0 + S), None, "taken once");
        assert_eq!(r.take_early(5, t0 + 10 * S), None, "too old");
    }
}
