//! A guard against a stalled DTLS handshake.
//!
//! rtc-dtls 0.21 disarms its retransmission timer whenever a handshake record arrives
//! while it waits for the peer's next flight, and re-arms it only when that flight is
//! complete. A record that does not complete it — the peer repeating its previous
//! flight because ours was lost, or part of a flight whose other datagram was lost —
//! leaves the handshake with no timer at all: neither side resends and the call never
//! connects (seen with Chromium at 5 % loss, and engine to engine). RFC 6347 4.2.4 wants
//! our last flight resent in exactly that case.
//!
//! So the transport keeps the datagrams of our last flight, and when the handshake is
//! incomplete and the endpoint has no timer of its own, resends them itself: when a
//! handshake record of the peer's got no answer (it repeated its flight: ours was lost;
//! at most every [`ANSWER_INTERVAL`]), and on a timer after 1 s, then 2, 4 and 8
//! (doubling, as RFC 6347 4.2.4.1 asks), at most [`MAX_REPLAYS`] times. A verbatim
//! resend is what was lost, so the peer has not seen its record numbers.

use std::time::{Duration, Instant};

use bytes::BytesMut;

/// First wait before a replay; doubled after each.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// Replays of one flight before the guard gives up (the session's DTLS timeout ends it).
pub(crate) const MAX_REPLAYS: u32 = 4;
/// Least time between two replays prompted by the peer's records.
pub(crate) const ANSWER_INTERVAL: Duration = Duration::from_millis(250);
/// Datagrams kept of a flight (a flight is a handful; more is not a handshake).
const MAX_FLIGHT: usize = 16;

/// The last flight we sent, and when to resend it.
#[derive(Debug, Default)]
pub(crate) struct StallGuard {
    flight: Vec<BytesMut>,
    sent_at: Option<Instant>,
    replays: u32,
    /// Flights the endpoint emitted (so a caller can tell whether a record got an answer).
    pub(crate) flights: u64,
    /// Flights resent by the guard, over the whole handshake.
    pub(crate) replayed: u32,
}

impl StallGuard {
    /// The endpoint emitted `datagrams` at `now` in one go: our new (or resent) flight.
    pub(crate) fn sent(&mut self, now: Instant, datagrams: &[BytesMut]) {
        if datagrams.is_empty() {
            return;
        }
        self.flight = datagrams.iter().take(MAX_FLIGHT).cloned().collect();
        self.sent_at = Some(now);
        self.replays = 0;
        self.flights += 1;
    }

    /// A handshake record of the peer's got no answer from an endpoint without a timer:
    /// the flight to resend, unless one went out under [`ANSWER_INTERVAL`] ago.
    pub(crate) fn on_unanswered_record(
        &mut self,
        now: Instant,
        endpoint_timer: Option<Instant>,
    ) -> Option<Vec<BytesMut>> {
        let recent = self
            .sent_at
            .is_some_and(|t| now.saturating_duration_since(t) < ANSWER_INTERVAL);
        if endpoint_timer.is_some() || self.flight.is_empty() || recent {
            return None;
        }
        self.replayed += 1;
        self.sent_at = Some(now);
        Some(self.flight.clone())
    }

    /// When to resend, if the handshake is waiting with no timer of the endpoint's own.
    pub(crate) fn deadline(&self, endpoint_timer: Option<Instant>) -> Option<Instant> {
        if endpoint_timer.is_some() || self.flight.is_empty() || self.replays >= MAX_REPLAYS {
            return None;
        }
        self.sent_at.map(|t| t + FIRST_WAIT * (1 << self.replays))
    }

    /// The flight to resend now, if it is due.
    pub(crate) fn poll_replay(
        &mut self,
        now: Instant,
        endpoint_timer: Option<Instant>,
    ) -> Option<Vec<BytesMut>> {
        if self.deadline(endpoint_timer)? > now {
            return None;
        }
        self.replays += 1;
        self.replayed += 1;
        self.sent_at = Some(now);
        Some(self.flight.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_only_without_a_timer_doubling_the_wait_and_bounded() {
        let t0 = Instant::now();
        let mut g = StallGuard::default();
        assert_eq!(g.deadline(None), None, "nothing sent yet");
        g.sent(t0, &[BytesMut::from(&b"flight"[..])]);
        assert_eq!(g.deadline(Some(t0)), None, "the endpoint's own timer runs");
        assert_eq!(g.deadline(None), Some(t0 + Duration::from_secs(1)));
        assert!(g
            .poll_replay(t0 + Duration::from_millis(999), None)
            .is_none());
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(g.poll_replay(t1, None).unwrap()[0], b"flight"[..]);
        assert_eq!(g.deadline(None), Some(t1 + Duration::from_secs(2)));
        let mut t = t1;
        for _ in 1..MAX_REPLAYS {
            t = g.deadline(None).unwrap();
            assert!(g.poll_replay(t, None).is_some());
        }
        assert_eq!(g.deadline(None), None, "gave up after {MAX_REPLAYS}");
        assert_eq!(g.replayed, MAX_REPLAYS);
        // A record of the peer's with no answer: resent at once, but not twice in 250 ms.
        assert!(
            g.on_unanswered_record(t, Some(t)).is_none(),
            "the endpoint has a timer"
        );
        let t = t + ANSWER_INTERVAL;
        assert!(g.on_unanswered_record(t, None).is_some());
        assert!(g
            .on_unanswered_record(t + Duration::from_millis(100), None)
            .is_none());
        // A new flight from the endpoint starts over.
        g.sent(t, &[BytesMut::from(&b"next"[..])]);
        assert_eq!(g.deadline(None), Some(t + Duration::from_secs(1)));
    }
}
