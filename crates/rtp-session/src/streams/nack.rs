//! The receive side's NACK generator (RFC 4585 generic NACK): the sequence numbers a
//! stream is missing and when to ask for each — after the link's recent reordering,
//! again every half round trip, until it comes, ages out or was asked for too often.
//! The stream's sequence tracking tells it of gaps and fills; it owns the timing.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};

use super::window_max::WindowMax;
use super::{RecvStats, WINDOW};

/// Tries per missing packet: at half a round trip apart, ten round trips' worth.
const NACK_MAX_TRIES: u8 = 20;
const NACK_MAX_AGE: Duration = Duration::from_secs(1);
const NACK_MIN_INTERVAL: Duration = Duration::from_millis(20);
const NACK_MAX_SEQS: usize = 100;
const DEFAULT_RTT: Duration = Duration::from_millis(100);

/// A sequence number we are asking for.
#[derive(Clone, Copy, Debug)]
pub(super) struct Missing {
    pub(super) ext: u64,
    since: Instant,
    last_asked: Option<Instant>,
    tries: u8,
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct Nacks {
    enabled: bool,
    /// Missing extended sequence numbers in the window, ascending; at most `WINDOW`
    /// long.
    pub(super) missing: VecDeque<Missing>,
    rtt: Duration,
    /// How late reordered originals arrived after their gap was seen, lately: a gap
    /// waits that long before its first NACK, so that a reordering link does not make
    /// the sender resend what is only late.
    reorder: WindowMax,
    /// When `poll` next has work, or earlier (never later): lowered as gaps appear and
    /// when the reordering wait shortens, made exact whenever `poll` runs or the round
    /// trip changes. The deadline is asked for after every packet, and walking every
    /// missing sequence number for it was 30 % of the CPU of a stream with heavy loss
    /// (up to 1,024 entries per packet).
    due: Option<Instant>,
}

impl Nacks {
    pub(super) fn new(enabled: bool) -> Nacks {
        Nacks {
            enabled,
            missing: VecDeque::new(),
            rtt: DEFAULT_RTT,
            reorder: WindowMax::reorder_wait(),
            due: None,
        }
    }

    /// The round-trip estimate retries are spaced by (half of it, at least 20 ms).
    pub(super) fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
        self.refresh_due();
    }

    /// The window moved from `old` to `new` (extended numbers): what fell out of it is
    /// given up, what it skipped is missing. Returns how many were given up.
    pub(super) fn on_advance(&mut self, now: Instant, old: u64, new: u64) -> u64 {
        let mut given_up = 0;
        while let Some(front) = self.missing.front() {
            if front.ext + WINDOW > new {
                break;
            }
            self.missing.pop_front();
            given_up += 1;
        }
        if self.missing.is_empty() {
            self.due = None;
        }
        if self.enabled {
            self.forget_old_reordering(now);
            for ext in old + 1..new {
                self.missing.push_back(Missing {
                    ext,
                    since: now,
                    last_asked: None,
                    tries: 0,
                });
            }
            if new - old > 1 {
                self.lower_due(now + self.reorder.max());
            }
        }
        given_up
    }

    /// The numbering started afresh: nothing is missing. Returns how many were.
    pub(super) fn clear(&mut self) -> u64 {
        let given_up = self.missing.len() as u64;
        self.missing.clear();
        self.due = None;
        given_up
    }

    /// Extended number `ext` (sequence `seq`) arrived behind the newest: when it was
    /// missing it is no longer, and an original that came before a resend could have
    /// is reordering (late, not lost), which the next gaps wait out.
    pub(super) fn on_filled(&mut self, now: Instant, ext: u64, retransmitted: bool, ssrc: u32) {
        let Ok(i) = self.missing.binary_search_by_key(&ext, |m| m.ext) else {
            return;
        };
        let Some(m) = self.missing.remove(i) else {
            return;
        };
        if self.missing.is_empty() {
            self.due = None;
        }
        let took = now.saturating_duration_since(m.since);
        if took >= Duration::from_millis(60) {
            tracing::debug!(
                ssrc,
                seq = ext as u16,
                ?took,
                tries = m.tries,
                "gap filled late"
            );
        }
        // A peer without RTX resends on this SSRC, a round trip after we ask.
        let early = m
            .last_asked
            .is_none_or(|t| now.saturating_duration_since(t) < self.rtt / 2);
        if !retransmitted && early {
            self.forget_old_reordering(now);
            self.reorder.observe(now, took);
        }
    }

    /// The NACK to send now, if any: every missing sequence number not asked for yet, or
    /// asked for at least one retry interval ago (at most 100 per packet).
    pub(super) fn poll(
        &mut self,
        now: Instant,
        sender_ssrc: u32,
        media_ssrc: u32,
        stats: &mut RecvStats,
    ) -> Option<TransportLayerNack> {
        if !self.enabled || self.missing.is_empty() {
            return None;
        }
        let interval = self.retry_interval();
        let wait = self.reorder.max();
        let mut nacks: Vec<NackPair> = Vec::new();
        let mut asked = 0usize;
        let mut given_up = 0u64;
        self.missing.retain_mut(|m| {
            let due = match m.last_asked {
                None => now >= m.since + wait,
                Some(t) => now >= t + interval,
            };
            if now.saturating_duration_since(m.since) >= NACK_MAX_AGE
                || (due && m.tries >= NACK_MAX_TRIES)
            {
                tracing::debug!(seq = m.ext as u16, tries = m.tries, "NACK given up");
                given_up += 1;
                return false;
            }
            if !due || asked >= NACK_MAX_SEQS {
                return true;
            }
            let seq = m.ext as u16;
            match nacks.last_mut() {
                Some(pair) if (1..=16).contains(&seq.wrapping_sub(pair.packet_id)) => {
                    pair.lost_packets |= 1 << (seq.wrapping_sub(pair.packet_id) - 1);
                }
                _ => nacks.push(NackPair::new(seq)),
            }
            asked += 1;
            m.tries += 1;
            m.last_asked = Some(now);
            true
        });
        self.refresh_due();
        stats.packets_given_up += given_up;
        if nacks.is_empty() {
            return None;
        }
        stats.nacks_sent = stats.nacks_sent.wrapping_add(1);
        stats.nacked_sequences += asked as u64;
        Some(TransportLayerNack {
            sender_ssrc,
            media_ssrc,
            nacks,
        })
    }

    /// When [`poll`](Self::poll) has something to do (ask, or give up).
    pub(super) fn next(&self) -> Option<Instant> {
        self.due.filter(|_| self.enabled)
    }

    /// `next` computed the slow way, from every missing number.
    #[cfg(test)]
    pub(super) fn exact_next(&self) -> Option<Instant> {
        self.exact_due().filter(|_| self.enabled)
    }

    /// `due` made exact (a walk over every missing number: not per packet).
    fn refresh_due(&mut self) {
        self.due = self.exact_due();
    }

    /// The earliest ask or give-up of any missing number.
    fn exact_due(&self) -> Option<Instant> {
        self.missing
            .iter()
            .map(|m| self.due_of(m).min(m.since + NACK_MAX_AGE))
            .min()
    }

    fn due_of(&self, m: &Missing) -> Instant {
        match m.last_asked {
            None => m.since + self.reorder.max(),
            Some(t) => t + self.retry_interval(),
        }
    }

    /// `due` no later than `at`.
    fn lower_due(&mut self, at: Instant) {
        self.due = Some(self.due.map_or(at, |t| t.min(at)));
    }

    /// The reordering wait shortens as old lateness is forgotten: numbers not asked for
    /// yet fall due sooner. The oldest missing number gives a bound for all of them in
    /// O(1); the next `poll` makes it exact.
    fn forget_old_reordering(&mut self, now: Instant) {
        if self.reorder.roll(now) {
            if let Some(oldest) = self.missing.front() {
                self.lower_due(oldest.since + self.reorder.max());
            }
        }
    }

    /// Half a round trip: a NACK lost on the way costs half a round trip instead of a
    /// whole one (with the link's loss, the NACK is lost as often as the resend), and a
    /// repeat that reaches the sender while its resend is still on the way is ignored
    /// by libwebrtc's sender (it resends a packet at most once per round trip). On a
    /// 60 ms path with 5 % loss each way Chromium's looped video froze less, with about
    /// as many resends.
    fn retry_interval(&self) -> Duration {
        (self.rtt / 2).max(NACK_MIN_INTERVAL)
    }
}
