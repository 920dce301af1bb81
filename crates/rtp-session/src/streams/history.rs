//! The retransmission history of one send stream: the packets sent in the last
//! `retain`, by sequence number, for NACKs.
//!
//! A ring indexed by `seq & mask` (a power of two, so it stays contiguous across the
//! 16-bit wrap) that starts small and doubles, up to its limit, when a packet still
//! inside `retain` would be overwritten: a 100 packets/s stream settles at 128 slots,
//! a 1,000 packets/s one at 1,024, and a session that sends nothing keeps 32. With one
//! size for all, every session paid for the fastest stream's ring (256 slots of 88 bytes
//! was a quarter of an idle session's heap) and faster streams kept less than `retain`.

use std::time::{Duration, Instant};

use bytes::Bytes;

/// Slots a new history starts with.
const INITIAL_SLOTS: usize = 32;
/// Slots `expire` looks at per packet sent: more than one, so it catches up after gaps.
const EXPIRE_PER_SEND: usize = 4;
/// `Sent::resent_ms` of a packet never resent.
const NEVER: u16 = u16::MAX;

/// One kept packet. Compact (56 bytes) because a ring holds hundreds.
#[derive(Debug)]
pub(super) struct Sent {
    pub seq: u16,
    /// Header and payload lengths within `packet`, checked when it was kept
    /// (`header_len + payload_len <= packet.len()`, both under 64 KiB: a datagram).
    pub header_len: u16,
    pub payload_len: u16,
    /// When it was last resent, in ms after `sent_at` (saturating), or `NEVER`.
    resent_ms: u16,
    pub packet: Bytes,
    pub sent_at: Instant,
}

impl Sent {
    pub fn header_len(&self) -> usize {
        usize::from(self.header_len)
    }

    pub fn payload_len(&self) -> usize {
        usize::from(self.payload_len)
    }

    /// When it was last resent, to the millisecond below.
    pub fn resent_at(&self) -> Option<Instant> {
        (self.resent_ms != NEVER)
            .then(|| self.sent_at + Duration::from_millis(u64::from(self.resent_ms)))
    }

    pub fn mark_resent(&mut self, now: Instant) {
        let ms = now.saturating_duration_since(self.sent_at).as_millis();
        self.resent_ms = u16::try_from(ms).unwrap_or(NEVER - 1).min(NEVER - 1);
    }
}

/// What the history knows of a sequence number.
pub(super) enum Lookup<'a> {
    Kept(&'a mut Sent),
    /// Newer than anything kept in its slot: not sent yet, as far as we know.
    Ahead,
    /// Older than what is kept, or expired.
    Gone,
}

#[derive(Debug)]
pub(super) struct SendHistory {
    ring: Vec<Option<Sent>>,
    /// The most slots the ring may grow to (a power of two).
    max_slots: usize,
    retain: Duration,
    /// The oldest sequence number that may still hold a packet: packets past `retain`
    /// are dropped from here as new ones are sent.
    oldest: Option<u16>,
}

impl SendHistory {
    /// `max_slots` is rounded up to a power of two, within 16..=32768.
    pub fn new(max_slots: usize, retain: Duration) -> SendHistory {
        let max_slots = max_slots.clamp(16, 32768).next_power_of_two();
        let mut ring = Vec::new();
        ring.resize_with(INITIAL_SLOTS.min(max_slots), || None);
        SendHistory {
            ring,
            max_slots,
            retain,
            oldest: None,
        }
    }

    /// Slots now (grows with the rate, up to the limit).
    #[cfg(test)]
    pub fn slots(&self) -> usize {
        self.ring.len()
    }

    /// Packets held now.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.ring.iter().flatten().count()
    }

    fn mask(&self) -> usize {
        self.ring.len() - 1
    }

    /// Keeps `packet` (sequence `seq`, its header and payload lengths already checked
    /// against it) as sent at `now`, dropping what has expired.
    pub fn insert(
        &mut self,
        now: Instant,
        seq: u16,
        packet: Bytes,
        header_len: u16,
        payload_len: u16,
    ) {
        self.expire(now, seq);
        while self.ring.len() < self.max_slots && self.would_overwrite_young(now, seq) {
            self.grow();
        }
        let index = usize::from(seq) & self.mask();
        self.ring[index] = Some(Sent {
            seq,
            header_len,
            payload_len,
            resent_ms: NEVER,
            packet,
            sent_at: now,
        });
    }

    fn would_overwrite_young(&self, now: Instant, seq: u16) -> bool {
        match &self.ring[usize::from(seq) & self.mask()] {
            Some(sent) => sent.seq != seq && now < sent.sent_at + self.retain,
            None => false,
        }
    }

    /// Doubles the ring, each kept packet to its new slot (no two share one: packets in
    /// different old slots differ modulo the old size, so modulo the new one too).
    fn grow(&mut self) {
        let old = std::mem::take(&mut self.ring);
        self.ring.resize_with(old.len() * 2, || None);
        let mask = self.mask();
        for sent in old.into_iter().flatten() {
            let index = usize::from(sent.seq) & mask;
            self.ring[index] = Some(sent);
        }
    }

    /// Frees packets older than `retain`, a few per call from the oldest on, so the
    /// history holds about `retain` of packets whatever the rate.
    fn expire(&mut self, now: Instant, newest: u16) {
        let mask = self.mask();
        let mut oldest = self.oldest.unwrap_or(newest);
        for _ in 0..EXPIRE_PER_SEND {
            if oldest == newest {
                break;
            }
            let slot = &mut self.ring[usize::from(oldest) & mask];
            match slot {
                Some(sent) if sent.seq == oldest => {
                    if now < sent.sent_at + self.retain {
                        break;
                    }
                    *slot = None;
                }
                // Empty, or already reused by a newer packet: nothing of `oldest` left.
                _ => {}
            }
            oldest = oldest.wrapping_add(1);
        }
        self.oldest = Some(oldest);
    }

    /// The packet `seq`, if kept and not older than `retain` at `now`.
    pub fn lookup(&mut self, now: Instant, seq: u16) -> Lookup<'_> {
        let index = usize::from(seq) & self.mask();
        let retain = self.retain;
        match self.ring[index].as_mut() {
            None => Lookup::Ahead,
            // The slot holds another packet: an older one means `seq` is not sent yet.
            Some(sent) if sent.seq != seq => {
                if seq.wrapping_sub(sent.seq) < 0x8000 {
                    Lookup::Ahead
                } else {
                    Lookup::Gone
                }
            }
            Some(sent) if now.saturating_duration_since(sent.sent_at) > retain => Lookup::Gone,
            Some(sent) => Lookup::Kept(sent),
        }
    }
}
