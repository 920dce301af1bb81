//! Receiver-side bandwidth estimate sent as REMB (Kurento's behaviour: start at 300
//! kbps, stay within 30 kbps – 2 Mbps, or the configured maximum receive bandwidth).
//!
//! Loss-based AIMD once a second: grow 8% while loss stays under 2%, shrink 15% when
//! it exceeds 10%, hold in between; never more than twice what actually arrives, so an
//! idle sender does not earn an unbounded allowance.

use std::time::{Duration, Instant};

/// How often the estimate is updated and sent.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// Bounds of the estimate, in bits per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RembConfig {
    /// Lower bound (Kurento: 30 kbps).
    pub min_bps: u32,
    /// Upper bound (Kurento: 2 Mbps; `max_video_recv_bandwidth` lowers it).
    pub max_bps: u32,
    /// First estimate (Kurento: 300 kbps).
    pub start_bps: u32,
}

impl Default for RembConfig {
    fn default() -> RembConfig {
        RembConfig {
            min_bps: 30_000,
            max_bps: 2_000_000,
            start_bps: 300_000,
        }
    }
}

/// The estimate for one received video stream.
#[derive(Debug)]
pub(crate) struct RembEstimator {
    config: RembConfig,
    estimate: f64,
    last: Option<(Instant, u64, i64, u64)>,
    pub(crate) next: Instant,
}

impl RembEstimator {
    pub(crate) fn new(config: RembConfig, now: Instant) -> RembEstimator {
        let start = f64::from(config.start_bps.clamp(config.min_bps, config.max_bps));
        RembEstimator {
            config,
            estimate: start,
            last: None,
            next: now + INTERVAL,
        }
    }

    /// Updates from cumulative counters (payload bytes, packets lost, packets received)
    /// and returns the bitrate to announce.
    pub(crate) fn update(&mut self, now: Instant, bytes: u64, lost: i64, received: u64) -> u32 {
        self.next = now + INTERVAL;
        if let Some((t, b, l, r)) = self.last {
            let secs = now.saturating_duration_since(t).as_secs_f64().max(0.001);
            let incoming = (bytes.saturating_sub(b)) as f64 * 8.0 / secs;
            let lost = (lost - l).max(0) as f64;
            let got = received.saturating_sub(r) as f64;
            let loss = if lost + got > 0.0 {
                lost / (lost + got)
            } else {
                0.0
            };
            if loss > 0.10 {
                self.estimate *= 0.85;
            } else if loss < 0.02 {
                self.estimate = (self.estimate * 1.08)
                    .min((incoming * 2.0).max(f64::from(self.config.start_bps)));
            }
        }
        self.last = Some((now, bytes, lost, received));
        self.estimate = self.estimate.clamp(
            f64::from(self.config.min_bps),
            f64::from(self.config.max_bps),
        );
        self.estimate as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_without_loss_shrinks_with_it_and_stays_in_bounds() {
        let t0 = Instant::now();
        let config = RembConfig {
            max_bps: 1_000_000,
            ..RembConfig::default()
        };
        let mut e = RembEstimator::new(config, t0);
        let second = |n: u32| t0 + INTERVAL * n;
        assert_eq!(e.update(second(0), 0, 0, 0), 300_000);
        // 600 kbps arriving, no loss: +8% per second, up to the maximum.
        let mut bytes = 0;
        let mut last = 0;
        for n in 1..40 {
            bytes += 75_000;
            last = e.update(second(n), bytes, 0, u64::from(n) * 100);
        }
        assert_eq!(last, 1_000_000);
        // 30% loss: shrinks, never below the minimum.
        let mut lost = 0;
        for n in 40..100 {
            bytes += 75_000;
            lost += 30;
            last = e.update(second(n), bytes, lost, u64::from(n) * 100);
        }
        assert_eq!(last, 30_000);
    }
}
