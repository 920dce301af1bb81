//! The playout delay we ask the peer's receiver for, in the RTP header extension
//! `http://www.webrtc.org/experiments/rtp-hdrext/playout-delay` (libwebrtc's receivers
//! honour it), when packets we forward reach us late.
//!
//! A packet lost on the way to us and repaired by NACK reaches us a round trip (two or
//! three when the NACK or the resend is lost too) after its neighbours; we forward it at
//! once, but the receiver behind us sized its jitter buffer on its own link and has
//! shown the frame's neighbours by then: the picture freezes until the next keyframe
//! or the repaired frame. On a loopback with 30 ± 10 ms of jitter and 5 % loss each way,
//! repairs took 130-280 ms while Chromium buffered ~60 ms: two freezes a call. The sender
//! of the lost packet cannot help (it did resend) and neither can the receiver (it has
//! no reason to wait); the hop in the middle sees how late what it forwards is, so it
//! asks the receiver to buffer for that: the worst lateness lately, with room for one
//! more resend round and the receiver's own decoding. When the lateness is forgotten
//! (no late packet for one to two windows) the minimum goes back to zero. For a
//! stream's first seconds it asks for a start step whatever came late: the call's
//! first repairs come while the receiver's buffer is still near nothing, and a delay
//! asked for once the loss is seen comes too late for the frame already waiting.

use std::time::{Duration, Instant};

use super::window_max::WindowMax;

/// Packets later than this are what the receiver's own jitter buffer absorbs: they do
/// not make us ask for a delay.
const MIN_LATENESS: Duration = Duration::from_millis(30);
/// Lateness past this is not told apart (a packet a second late is not resent by us
/// either).
const MAX_LATENESS: Duration = Duration::from_secs(1);
/// What we ask for on top of the lateness: the receiver's decoding and rendering and
/// its own link's jitter.
const MARGIN: Duration = Duration::from_millis(40);
/// How long lateness is remembered (one to two of these).
const WINDOW: Duration = Duration::from_secs(10);
/// The maximum we announce with the minimum: libwebrtc's default, so the receiver still
/// adapts upwards on its own.
const MAX_DELAY_MS: u16 = 10_000;
/// How fast the minimum we announce rises, per second. A receiver applies a new minimum
/// to the next frame at once (libwebrtc clamps its render delay to it): raising it by
/// 200 ms in one step holds the picture still for 200 ms — a freeze of our making, seen
/// at the first announcement of every call before the rise was paced. At this pace
/// frames come 10 ms late each at 20 fps (a fifth slower for as long as it rises, far
/// from a freeze: libwebrtc counts one past 150-200 ms); libwebrtc eases its own delay
/// up at half this pace, which left the first seconds of a call unprotected longer.
const RISE_PER_SECOND: Duration = Duration::from_millis(200);
/// Where a rise after the media's start begins (the start itself asks for `START_STEP`,
/// before any frame shows): the first raise asks for this much at once. Below it a
/// step is no freeze (the receiver holds one frame this much longer at most, under the
/// 150 ms past the average frame interval that libwebrtc counts as one), and the
/// receiver buffers ~15-60 ms by itself on a clean or jittery path: starting from zero
/// spent the first half second of the rise under what it had anyway, while the first
/// repairs of a call (the freezes left in the jitter test were all in its first 2.5 s)
/// came in.
const FIRST_STEP: Duration = Duration::from_millis(100);

/// The first seconds of a stream's media, when `START_STEP` is asked for whatever
/// came late. The receiver's jitter buffer starts near nothing (Chromium's target was
/// 11 ms 0.3 s into the media) while the call's first repairs come, before any lateness
/// was seen to answer: the freezes left in the jitter test were all there (1.0-2.9 s
/// into the call), and raising the delay once the loss is seen comes too late for the
/// frame waiting, or, at media start, freezes it by itself (a step from 11 to 111 ms
/// while libwebrtc's frame-interval average is still short). A step before the first
/// frame holds nothing still; a clean path pays its latency for these seconds,
/// then the minimum is lifted (the receiver eases down by itself).
const STARTUP: Duration = Duration::from_secs(3);
/// What a stream asks for from its first packet through `STARTUP`, lateness seen or
/// not: room for a repair of two rounds (175-250 ms late through 30 ± 10 ms of jitter
/// each way), not only one. Asked for before the receiver has shown a frame, the step
/// holds no picture still (unlike `FIRST_STEP` mid-media); with 100 ms here, the
/// freezes left were two-round repairs in a call's first 2.5 s while Chromium held
/// 82-100 ms. The price: 100 ms more latency for those seconds and before the first
/// frame shows.
const START_STEP: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub(super) struct PlayoutDelay {
    /// The most delay we ask for: beyond it, latency costs more than a freeze.
    cap: Duration,
    late: WindowMax,
    /// What we last announced and when; once a delay was asked for, every packet says
    /// what we want now, zero included, so that the receiver hears when it is lifted.
    announced: Option<(Instant, Duration)>,
    /// When the first packet was sent (its limits asked for: the start of `STARTUP`).
    first: Option<Instant>,
}

impl PlayoutDelay {
    pub fn new(cap: Duration) -> PlayoutDelay {
        PlayoutDelay {
            cap,
            late: WindowMax::new(WINDOW, MAX_LATENESS),
            announced: None,
            first: None,
        }
    }

    pub fn set_cap(&mut self, cap: Duration) {
        self.cap = cap;
    }

    /// A packet was forwarded `late` after the one that followed it.
    pub fn observe(&mut self, now: Instant, late: Duration) {
        if late >= MIN_LATENESS {
            self.late.observe(now, late);
            self.announced.get_or_insert((now, Duration::ZERO));
        }
    }

    /// (minimum, maximum) delay in ms to put in the next packet, if any.
    pub fn limits(&mut self, now: Instant) -> Option<(u16, u16)> {
        let first = *self.first.get_or_insert(now);
        let starting = now.saturating_duration_since(first) < STARTUP;
        if starting {
            self.announced.get_or_insert((now, Duration::ZERO));
        }
        let (since, before) = self.announced?;
        self.late.roll(now);
        let late = self.late.max();
        // While the media starts, lateness asks for more than the start step, never
        // less (2.5 × 30 ms + 40 ms is under it), and a rise is paced from it.
        let (floor, step) = if starting {
            (START_STEP.min(self.cap), START_STEP)
        } else {
            (Duration::ZERO, FIRST_STEP)
        };
        let min = if late.is_zero() {
            floor
        } else {
            // Room for repairs worse than the worst seen lately. Measured through a
            // relay of 30 ± 10 ms each way with 5 % loss (the browser test): 92 % of
            // repairs took one round (75-125 ms late), the rest two (175-250 ms), and a
            // window of ten seconds often holds none of the second kind; one of those
            // then froze the picture under 1.5 × the worst lateness seen.
            (late * 5 / 2 + MARGIN).min(self.cap).max(floor)
        };
        // Up at the paced rate from the step, down at once (the receiver eases its
        // delay down itself).
        let rise = RISE_PER_SECOND.mul_f64(now.saturating_duration_since(since).as_secs_f64());
        let min = min.min(before.max(step) + rise);
        self.announced = Some((now, min));
        let min_ms = u16::try_from(min.as_millis()).unwrap_or(u16::MAX);
        Some((min_ms, MAX_DELAY_MS))
    }
}

/// The extension's value (RFC 8285 one-byte form, id and length included, padded to 4
/// bytes): 12 bits of minimum and 12 of maximum, in 10 ms units, rounded up.
pub(crate) fn playout_delay_element(id: u8, (min_ms, max_ms): (u16, u16)) -> [u8; 4] {
    let units = |ms: u16| ms.div_ceil(10).min(0xfff);
    let (min, max) = (units(min_ms), units(max_ms));
    let max = max.max(min);
    [
        (id & 0x0f) << 4 | 2,
        (min >> 4) as u8,
        ((min & 0x0f) << 4) as u8 | (max >> 8) as u8,
        max as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn asks_for_the_worst_lateness_with_room_then_lifts_it() {
        let start = Instant::now();
        let mut fresh = PlayoutDelay::new(600 * MS);
        assert_eq!(fresh.limits(start), Some((200, 10_000)), "the first packet");
        assert_eq!(fresh.limits(start + 2_900 * MS), Some((200, 10_000)));
        assert_eq!(
            fresh.limits(start + 3_000 * MS),
            Some((0, 10_000)),
            "past the start, nothing late: lifted, and said so"
        );
        let mut capped = PlayoutDelay::new(60 * MS);
        assert_eq!(capped.limits(start), Some((60, 10_000)), "within the cap");
        // A little lateness while the media starts does not lower the start step.
        let mut starting = PlayoutDelay::new(600 * MS);
        assert_eq!(starting.limits(start), Some((200, 10_000)));
        starting.observe(start + 500 * MS, 40 * MS);
        assert_eq!(starting.limits(start + 500 * MS), Some((200, 10_000)));
        assert_eq!(
            starting.limits(start + 3_500 * MS),
            Some((140, 10_000)),
            "past the start, 2.5 × 40 ms + 40 ms"
        );
        // From here on, a stream whose first packet went out long ago.
        let t0 = start + 10_000 * MS;
        let mut p = PlayoutDelay::new(600 * MS);
        p.first = Some(start);
        assert_eq!(p.limits(t0), None, "nothing late: no extension at all");
        p.observe(t0, 12 * MS);
        assert_eq!(p.limits(t0), None, "reordering the receiver absorbs");
        p.observe(t0, 100 * MS);
        p.observe(t0 + 100 * MS, 60 * MS);
        // 2.5 × 100 ms + 40 ms, reached at 200 ms a second from a first step of 100 ms.
        assert_eq!(p.limits(t0), Some((100, 10_000)));
        assert_eq!(p.limits(t0 + 500 * MS), Some((200, 10_000)));
        assert_eq!(p.limits(t0 + 1_000 * MS), Some((290, 10_000)));
        assert_eq!(p.limits(t0 + 5_000 * MS), Some((290, 10_000)));
        // A worse lateness after a steady spell (a packet every 20 ms): up at the same
        // pace, not in one step.
        for i in 0..150u32 {
            assert_eq!(p.limits(t0 + (5_000 + 20 * i) * MS), Some((290, 10_000)));
        }
        p.observe(t0 + 8_000 * MS, 5_000 * MS);
        // 20 ms after the last packet: 4 ms higher.
        assert_eq!(p.limits(t0 + 8_000 * MS), Some((294, 10_000)));
        for i in 1..50u32 {
            p.limits(t0 + (8_000 + 20 * i) * MS);
        }
        assert_eq!(p.limits(t0 + 9_000 * MS), Some((494, 10_000)));
        assert_eq!(p.limits(t0 + 12_000 * MS), Some((600, 10_000)), "capped");
        p.set_cap(200 * MS);
        let lower = p.limits(t0 + 12_000 * MS);
        assert_eq!(lower, Some((200, 10_000)), "down at once");
        // Forgotten after two quiet windows, and said so.
        assert_eq!(p.limits(t0 + 30_000 * MS), Some((0, 10_000)));
    }

    #[test]
    fn the_element_packs_twelve_bit_limits_in_ten_ms_units() {
        assert_eq!(
            playout_delay_element(5, (310, 10_000)),
            [0x52, 0x01, 0xf3, 0xe8]
        );
        assert_eq!(playout_delay_element(1, (0, 0)), [0x12, 0, 0, 0]);
        // Out of range and inverted limits are clamped, never a wrong value.
        assert_eq!(
            playout_delay_element(1, (u16::MAX, 5)),
            [0x12, 0xff, 0xff, 0xff]
        );
    }
}
