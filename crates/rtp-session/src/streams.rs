//! Media streams between SRTP and the application, sans-IO: RTP header parsing, the
//! per-SSRC receive side (extended sequence numbers, loss and jitter statistics, NACK
//! generation, reception report blocks) and send side (retransmission history, RTX,
//! sender reports, round-trip time from the peer's report blocks).
//!
//! Time enters only as `now: Instant` arguments; NTP wall time is derived from an
//! `(Instant, SystemTime)` anchor given at construction. Every table is bounded and
//! nothing a peer sends can make it grow or panic.

use std::collections::VecDeque;
use std::ops::Range;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use history::{Lookup, SendHistory, Sent};
use nack::Nacks;
use playout::{playout_delay_element, PlayoutDelay};
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;

/// Fields of an RTP header, parsed without allocating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Fixed header, CSRCs and header extension: the payload starts here.
    pub header_len: usize,
    /// Payload length, padding excluded.
    pub payload_len: usize,
    pub padding_len: usize,
    /// Extension profile and the range of the extension data (after its 4-byte header).
    pub extension: Option<(u16, Range<usize>)>,
}

impl RtpHeader {
    /// Parses and validates the header of `packet`; `None` when it is not a well-formed
    /// RTP version 2 packet (truncated header, CSRC list, extension or padding).
    pub fn parse(packet: &[u8]) -> Option<RtpHeader> {
        let mut h = RtpHeader::parse_header(packet)?;
        if packet[0] & 0x20 != 0 {
            // The last octet counts the padding, itself included: at least 1.
            let pad = usize::from(packet[packet.len() - 1]);
            if pad == 0 || pad > h.payload_len {
                return None;
            }
            h.padding_len = pad;
            h.payload_len -= pad;
        }
        Some(h)
    }

    /// The header alone (fixed part, CSRCs, extension), with everything after it as
    /// the payload: for an SRTP packet, whose padding count is encrypted.
    pub fn parse_header(packet: &[u8]) -> Option<RtpHeader> {
        if packet.len() < 12 || packet[0] >> 6 != 2 {
            return None;
        }
        let b0 = packet[0];
        let csrc_count = usize::from(b0 & 0x0f);
        let mut header_len = 12 + 4 * csrc_count;
        if packet.len() < header_len {
            return None;
        }
        let extension = if b0 & 0x10 != 0 {
            let ext = packet.get(header_len..header_len + 4)?;
            let profile = u16::from_be_bytes([ext[0], ext[1]]);
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            let start = header_len + 4;
            let end = start + 4 * words;
            if end > packet.len() {
                return None;
            }
            header_len = end;
            Some((profile, start..end))
        } else {
            None
        };
        Some(RtpHeader {
            marker: packet[1] & 0x80 != 0,
            payload_type: packet[1] & 0x7f,
            sequence: u16::from_be_bytes([packet[2], packet[3]]),
            timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
            ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
            header_len,
            payload_len: packet.len() - header_len,
            padding_len: 0,
            extension,
        })
    }

    /// The payload bytes (padding excluded) of the packet this header was parsed from
    /// (empty if `packet` is not that packet).
    pub fn payload<'a>(&self, packet: &'a [u8]) -> &'a [u8] {
        packet
            .get(self.header_len..self.header_len + self.payload_len)
            .unwrap_or(&[])
    }

    /// The CSRC list's bytes (4 per CSRC) of the packet this header was parsed from.
    pub fn csrcs<'a>(&self, packet: &'a [u8]) -> &'a [u8] {
        let count = packet.first().map_or(0, |b| usize::from(b & 0x0f));
        packet.get(12..12 + 4 * count).unwrap_or(&[])
    }
}

/// The fields of an RTP packet we write ourselves: no header extension, no padding.
pub(crate) struct RtpFields<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// CSRC list bytes, 4 per CSRC (at most 15).
    pub csrcs: &'a [u8],
    /// Header extension elements in the one-byte form (RFC 8285), their padding
    /// included: a multiple of 4 bytes, at most 64 (the rest is not written); none when
    /// empty.
    pub extension: &'a [u8],
}

/// Most bytes of header extension elements we write.
const MAX_EXTENSION: usize = 64;

impl RtpFields<'_> {
    /// The extension elements to write: whole words, at most `MAX_EXTENSION` bytes.
    fn extension(&self) -> &[u8] {
        &self.extension[..self.extension.len().min(MAX_EXTENSION) / 4 * 4]
    }

    /// The first byte: version 2, the X bit, the CSRC count.
    fn first_byte(&self, csrcs_len: usize) -> u8 {
        let x = if self.extension().is_empty() { 0 } else { 0x10 };
        0x80 | x | (csrcs_len / 4) as u8
    }

    /// The extension block, its 4-byte header first (`BEDE`, the length in words).
    fn put_extension(&self, b: &mut [u8]) {
        let ext = self.extension();
        if ext.is_empty() {
            return;
        }
        b[..2].copy_from_slice(&[0xbe, 0xde]);
        b[2..4].copy_from_slice(&((ext.len() / 4) as u16).to_be_bytes());
        b[4..4 + ext.len()].copy_from_slice(ext);
    }

    /// The extension block's length, its header included.
    fn extension_block_len(&self) -> usize {
        match self.extension().len() {
            0 => 0,
            n => 4 + n,
        }
    }
}

/// Serialises `fields` followed by the payload `parts`, in one allocation. Every packet
/// we build (rewritten for a peer, RTX-wrapped, unwrapped from RTX) goes through here.
pub(crate) fn write_rtp(fields: &RtpFields<'_>, parts: &[&[u8]]) -> Bytes {
    let csrcs = &fields.csrcs[..fields.csrcs.len().min(60) / 4 * 4];
    let header_len = 12 + csrcs.len() + fields.extension_block_len();
    let len = header_len + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut b = BytesMut::with_capacity(len);
    b.resize(header_len, 0);
    put_header(&mut b, fields, csrcs.len());
    b[12..12 + csrcs.len()].copy_from_slice(csrcs);
    for part in parts {
        b.put_slice(part);
    }
    b.freeze()
}

/// Writes `fields`' fixed header and extension block into `header` (its length: 12,
/// the CSRCs, the block), leaving the CSRC bytes as they are.
fn put_header(header: &mut [u8], fields: &RtpFields<'_>, csrcs_len: usize) {
    header[0] = fields.first_byte(csrcs_len);
    header[1] = u8::from(fields.marker) << 7 | (fields.payload_type & 0x7f);
    header[2..4].copy_from_slice(&fields.sequence.to_be_bytes());
    header[4..8].copy_from_slice(&fields.timestamp.to_be_bytes());
    header[8..12].copy_from_slice(&fields.ssrc.to_be_bytes());
    fields.put_extension(&mut header[12 + csrcs_len..]);
}

/// `packet` (parsed as `header`) with its header replaced by `fields`' (their extension
/// instead of the packet's) and its padding dropped: what [`write_rtp`] builds from the
/// same fields and payload. In place when the buffer is ours alone and the old header is
/// long enough — the new header is written over its end — so forwarding a packet costs
/// no allocation or payload copy; copied otherwise (the graph fans the buffer out to
/// several consumers). `fields.csrcs` is ignored: the packet's own CSRCs are kept.
pub(crate) fn rewrite_rtp(packet: Bytes, header: &RtpHeader, fields: &RtpFields<'_>) -> Bytes {
    let csrcs_len = 4 * usize::from(packet.first().map_or(0, |b| b & 0x0f));
    let new_header_len = 12 + csrcs_len + fields.extension_block_len();
    let end = header.header_len + header.payload_len;
    // A header that is not this packet's (never the case for a parsed one), one too
    // short for ours, or a buffer someone else holds: a copy.
    let fits = header.header_len >= new_header_len && end <= packet.len();
    let packet = if fits {
        packet.try_into_mut()
    } else {
        Err(packet)
    };
    let mut b = match packet {
        Ok(b) => b,
        Err(packet) => {
            let csrcs = header.csrcs(&packet);
            return write_rtp(&RtpFields { csrcs, ..*fields }, &[header.payload(&packet)]);
        }
    };
    b.truncate(end);
    let start = header.header_len - new_header_len;
    b.copy_within(12..12 + csrcs_len, start + 12);
    put_header(&mut b[start..header.header_len], fields, csrcs_len);
    b.advance(start);
    b.freeze()
}

/// One-byte / two-byte header extension lookup (RFC 8285) by id: the value bytes.
/// `None` when absent, malformed, or the profile is neither form.
pub(crate) fn find_extension<'a>(packet: &'a [u8], header: &RtpHeader, id: u8) -> Option<&'a [u8]> {
    let (profile, range) = header.extension.clone()?;
    let data = packet.get(range)?;
    if profile == 0xBEDE {
        // One-byte form: ids 1..=14; 0 is padding, 15 ends the block.
        if id == 0 || id >= 15 {
            return None;
        }
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            if b == 0 {
                i += 1;
                continue;
            }
            let ext_id = b >> 4;
            if ext_id == 15 {
                return None;
            }
            let len = usize::from(b & 0x0f) + 1;
            let value = data.get(i + 1..i + 1 + len)?;
            if ext_id == id {
                return Some(value);
            }
            i += 1 + len;
        }
        None
    } else if profile & 0xfff0 == 0x1000 {
        // Two-byte form: ids 1..=255; an id of 0 is a padding octet.
        if id == 0 {
            return None;
        }
        let mut i = 0;
        while i < data.len() {
            let ext_id = data[i];
            if ext_id == 0 {
                i += 1;
                continue;
            }
            let len = usize::from(*data.get(i + 1)?);
            let value = data.get(i + 2..i + 2 + len)?;
            if ext_id == id {
                return Some(value);
            }
            i += 2 + len;
        }
        None
    } else {
        None
    }
}

/// The NTP timestamp (RFC 3550 §4: seconds since 1900 in the high word, fraction in the
/// low word) of `now`, from the wall-clock anchor.
pub(crate) fn ntp_time(anchor: (Instant, SystemTime), now: Instant) -> u64 {
    let wall = if now >= anchor.0 {
        anchor.1.checked_add(now - anchor.0)
    } else {
        anchor.1.checked_sub(anchor.0 - now)
    }
    .unwrap_or(anchor.1);
    let since_unix = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_unix.as_secs().wrapping_add(2_208_988_800);
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// `d` in 1/65536 s, saturating.
fn to_units_65536(d: Duration) -> u32 {
    u32::try_from(d.as_nanos() * 65536 / 1_000_000_000).unwrap_or(u32::MAX)
}

/// `d` in RTP timestamp units at `clock_rate`, modulo 2^32 (u64 arithmetic only: this
/// runs per received packet).
fn ticks(d: Duration, clock_rate: u32) -> u32 {
    let rate = u64::from(clock_rate);
    let whole = d.as_secs().wrapping_mul(rate);
    let part = u64::from(d.subsec_nanos()) * rate / 1_000_000_000;
    whole.wrapping_add(part) as u32
}

/// Sequence numbers the receive window covers (and the bitmap ring's size).
const WINDOW: u64 = 1024;
/// A forward jump beyond this is a sequence-number reset (RFC 3550 A.1's MAX_DROPOUT),
/// not loss.
const MAX_DROPOUT: u64 = 3000;
/// Extended sequence numbers start in cycle 1 so that packets reordered before the
/// first one still have a (smaller) extended number; reports subtract it.
const ROLL: u64 = 1 << 16;

/// Counters of a [`RecvStream`].
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RecvStats {
    /// Distinct packets received (original or recovered), duplicates excluded.
    pub packets_received: u64,
    /// Payload bytes of those packets.
    pub bytes_received: u64,
    /// Of those, recovered by retransmission.
    pub retransmitted_packets_received: u64,
    /// Expected − received (RFC 3550 A.3).
    pub packets_lost: i64,
    pub jitter_seconds: f64,
    /// Packets dropped as duplicates, and as too old to tell.
    pub duplicates: u64,
    pub too_old: u64,
    /// NACK packets produced, and the sequence numbers they asked for (retries included).
    pub nacks_sent: u32,
    pub nacked_sequences: u64,
    /// Missing sequence numbers we stopped asking for (tries exhausted, 1 s old, out of
    /// the window, or a sequence reset).
    pub packets_given_up: u64,
    pub last_received: Option<Instant>,
    /// Highest extended sequence number (cycles in the high bits, from 0).
    pub highest_ext_seq: u64,
}

/// What we receive on one SSRC.
#[derive(Debug)]
pub(crate) struct RecvStream {
    ssrc: u32,
    clock_rate: u32,
    started: bool,
    max_seq: u16,
    max_ext: u64,
    base_ext: u64,
    /// Lowest extended sequence number the bitmap is valid for (raised on a reset).
    window_floor: u64,
    /// Bit `ext % WINDOW`: received, for ext in the window.
    window: [u64; (WINDOW / 64) as usize],
    nacks: Nacks,
    /// A far-behind sequence number seen once: the next one confirms a reset.
    probation: Option<u16>,
    /// After a reset: the old highest sequence, whose late stragglers are dropped
    /// (rather than read as another reset) until the new one has moved on a window.
    stale: Option<(u16, u64)>,
    first_arrival: Option<Instant>,
    last_transit: Option<u32>,
    jitter: f64,
    expected_prior: u64,
    received_prior: u64,
    last_sr: Option<(Instant, u64, u32)>,
    stats: RecvStats,
}

impl RecvStream {
    pub fn new(ssrc: u32, clock_rate: u32, nack_enabled: bool) -> RecvStream {
        RecvStream {
            ssrc,
            clock_rate: clock_rate.max(1),
            started: false,
            max_seq: 0,
            max_ext: 0,
            base_ext: 0,
            window_floor: 0,
            window: [0; (WINDOW / 64) as usize],
            nacks: Nacks::new(nack_enabled),
            probation: None,
            stale: None,
            first_arrival: None,
            last_transit: None,
            jitter: 0.0,
            expected_prior: 0,
            received_prior: 0,
            last_sr: None,
            stats: RecvStats::default(),
        }
    }

    /// The round-trip estimate NACK retries are spaced by (half of it, at least 20 ms).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.nacks.set_rtt(rtt);
    }

    fn bit(&self, ext: u64) -> bool {
        let i = (ext % WINDOW) as usize;
        self.window[i / 64] & (1 << (i % 64)) != 0
    }

    fn set_bit(&mut self, ext: u64, on: bool) {
        let i = (ext % WINDOW) as usize;
        if on {
            self.window[i / 64] |= 1 << (i % 64);
        } else {
            self.window[i / 64] &= !(1 << (i % 64));
        }
    }

    /// A media packet arrived (on its own SSRC, or recovered from RTX with its original
    /// sequence: `retransmitted`). Returns false when it is a duplicate of one already
    /// received (the caller drops it) or too old to tell.
    pub fn on_packet(
        &mut self,
        now: Instant,
        sequence: u16,
        rtp_timestamp: u32,
        payload_len: usize,
        retransmitted: bool,
    ) -> bool {
        if !self.started {
            self.started = true;
            self.max_seq = sequence;
            self.max_ext = ROLL + u64::from(sequence);
            self.base_ext = self.max_ext;
            self.window_floor = self.max_ext + 1 - WINDOW;
            self.set_bit(self.max_ext, true);
            self.first_arrival = Some(now);
            if !retransmitted {
                self.last_transit = Some(self.transit(now, rtp_timestamp));
            }
            self.count(now, payload_len, retransmitted);
            return true;
        }
        if let Some((old_max, until)) = self.stale {
            if self.max_ext >= until {
                self.stale = None;
            } else if u64::from(old_max.wrapping_sub(sequence)) < WINDOW {
                self.stats.too_old += 1;
                return false;
            }
        }
        let delta = sequence.wrapping_sub(self.max_seq) as i16;
        if delta > 0 {
            let d = delta as u64;
            self.probation = None;
            if d <= WINDOW {
                self.advance(now, d);
            } else {
                self.reset(d, d > MAX_DROPOUT);
            }
            self.max_seq = sequence;
            if !retransmitted {
                if d > MAX_DROPOUT {
                    self.last_transit = None;
                }
                self.update_jitter(now, rtp_timestamp);
            }
            self.count(now, payload_len, retransmitted);
            return true;
        }
        if delta == 0 {
            self.stats.duplicates += 1;
            return false;
        }
        let back = u64::from(delta.unsigned_abs());
        let ext = self.max_ext - back;
        if back < WINDOW && ext >= self.window_floor {
            if self.bit(ext) {
                self.stats.duplicates += 1;
                return false;
            }
            self.set_bit(ext, true);
            self.base_ext = self.base_ext.min(ext);
            self.nacks.on_filled(now, ext, retransmitted, self.ssrc);
            self.count(now, payload_len, retransmitted);
            return true;
        }
        if back > MAX_DROPOUT {
            // Far behind: either a stray packet or the sender restarted its numbering.
            // Two consecutive ones confirm a restart (RFC 3550 A.1).
            if self.probation == Some(sequence) {
                self.probation = None;
                let d = u64::from(sequence.wrapping_sub(self.max_seq));
                self.reset(d, true);
                self.max_seq = sequence;
                self.last_transit = None;
                if !retransmitted {
                    self.update_jitter(now, rtp_timestamp);
                }
                self.count(now, payload_len, retransmitted);
                return true;
            }
            self.probation = Some(sequence.wrapping_add(1));
        }
        self.stats.too_old += 1;
        false
    }

    fn count(&mut self, now: Instant, payload_len: usize, retransmitted: bool) {
        self.stats.packets_received += 1;
        self.stats.bytes_received += payload_len as u64;
        if retransmitted {
            self.stats.retransmitted_packets_received += 1;
        }
        self.stats.last_received = Some(now);
    }

    /// In-window forward step by `d` (1..=WINDOW): the skipped ones become missing.
    fn advance(&mut self, now: Instant, d: u64) {
        let old = self.max_ext;
        let new = old + d;
        for ext in old + 1..=new {
            self.set_bit(ext, false);
        }
        self.set_bit(new, true);
        self.max_ext = new;
        self.stats.packets_given_up += self.nacks.on_advance(now, old, new);
    }

    /// A jump by `d` past the window: start the window afresh at the new sequence.
    /// With `restart` the gap is a sequence-number reset, not counted as lost.
    fn reset(&mut self, d: u64, restart: bool) {
        self.max_ext += d;
        if restart {
            self.base_ext += d - 1;
            self.stale = Some((self.max_seq, self.max_ext + WINDOW));
        }
        self.window = [0; (WINDOW / 64) as usize];
        self.set_bit(self.max_ext, true);
        self.window_floor = self.max_ext;
        self.stats.packets_given_up += self.nacks.clear();
    }

    /// Arrival time in timestamp units minus the RTP timestamp (RFC 3550 A.8).
    fn transit(&self, now: Instant, rtp_timestamp: u32) -> u32 {
        let since = self
            .first_arrival
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        let arrival = ticks(since, self.clock_rate);
        arrival.wrapping_sub(rtp_timestamp)
    }

    fn update_jitter(&mut self, now: Instant, rtp_timestamp: u32) {
        let transit = self.transit(now, rtp_timestamp);
        if let Some(last) = self.last_transit {
            let d = f64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// The NACK to send now, if any (see [`Nacks::poll`]).
    pub fn poll_nack(&mut self, now: Instant, sender_ssrc: u32) -> Option<TransportLayerNack> {
        self.nacks
            .poll(now, sender_ssrc, self.ssrc, &mut self.stats)
    }

    /// When [`poll_nack`](Self::poll_nack) has something to do (ask, or give up).
    pub fn next_nack(&self) -> Option<Instant> {
        self.nacks.next()
    }

    #[cfg(test)]
    /// Number of sequence numbers currently being asked for.
    pub fn missing_count(&self) -> usize {
        self.nacks.missing.len()
    }

    #[cfg(test)]
    /// `next_nack` computed the slow way, from every missing number.
    pub fn exact_next_nack(&self) -> Option<Instant> {
        self.nacks.exact_next()
    }

    /// The peer's SR about this stream; true when it is the first.
    pub fn on_sender_report(&mut self, now: Instant, ntp_time: u64, rtp_time: u32) -> bool {
        self.last_sr.replace((now, ntp_time, rtp_time)).is_none()
    }

    /// When the sender captured the media of RTP timestamp `rtp_time` (a codec of
    /// `clock_rate`: the packet's, not necessarily the stream's first), on its own
    /// wall clock (NTP, microseconds since 1900), from its latest Sender Report. The
    /// sender gives all its streams one NTP clock: this is what lines up its audio and
    /// video (RFC 3550 §6.4.1). `None` before its first report, or for a report whose
    /// NTP time is zero (a sender with no wall clock).
    pub fn sender_time_micros(&self, rtp_time: u32, clock_rate: u32) -> Option<u64> {
        let (_, ntp, sr_rtp) = self.last_sr?;
        if ntp == 0 {
            return None;
        }
        let secs = ntp >> 32;
        let frac = ((ntp & 0xffff_ffff) * 1_000_000) >> 32;
        let at_report = secs.checked_mul(1_000_000)?.checked_add(frac)?;
        // Signed: media just before the report (reordering) is earlier than it.
        let ticks = i64::from(rtp_time.wrapping_sub(sr_rtp) as i32);
        let delta = ticks * 1_000_000 / i64::from(clock_rate.max(1));
        at_report.checked_add_signed(delta)
    }

    /// A reception report block for our next RR/SR: fraction lost since the last block,
    /// cumulative lost, extended highest sequence, jitter in timestamp units, LSR and
    /// DLSR (1/65536 s).
    pub fn report_block(&mut self, now: Instant) -> ReceptionReport {
        let mut block = ReceptionReport {
            ssrc: self.ssrc,
            ..Default::default()
        };
        if let Some((at, ntp, _)) = self.last_sr {
            block.last_sender_report = (ntp >> 16) as u32;
            block.delay = to_units_65536(now.saturating_duration_since(at));
        }
        if !self.started {
            return block;
        }
        let expected = self.max_ext - self.base_ext + 1;
        let received = self.stats.packets_received;
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        block.fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let lost = (expected as i64 - received as i64).clamp(-0x80_0000, 0x7f_ffff);
        block.total_lost = (lost as i32 as u32) & 0x00ff_ffff;
        block.last_sequence_number = (self.max_ext - ROLL) as u32;
        block.jitter = self.jitter as u32;
        block
    }

    pub fn stats(&self) -> RecvStats {
        let mut s = self.stats.clone();
        if self.started {
            s.packets_lost = (self.max_ext - self.base_ext + 1) as i64 - s.packets_received as i64;
            s.highest_ext_seq = self.max_ext - ROLL;
        }
        s.jitter_seconds = self.jitter / f64::from(self.clock_rate);
        s
    }
}

/// Most packets resent for one NACK.
const MAX_RESEND_PER_NACK: usize = 64;
/// A sequence number is resent at most once in this window.
const RESEND_SUPPRESS: Duration = Duration::from_millis(10);
/// How long a sent packet is kept for retransmission: the NACK generator on the other
/// side gives up after about a second too (ours does), and a later resend would arrive
/// after the receiver's jitter buffer stopped waiting.
const HISTORY_RETAIN: Duration = Duration::from_secs(1);
/// Sequence numbers NACKed before they were sent that are remembered.
const MAX_AWAITED: usize = 64;
/// How many newer sequence numbers a late packet's lateness is measured against (the
/// first of them that was sent): a burst lost upstream is repaired late as a whole.
const LATE_LOOKAHEAD: u16 = 16;

/// What became of one NACKed sequence number.
enum Resend {
    Sent,
    /// Resent under `RESEND_SUPPRESS` ago.
    Suppressed,
    /// Newer than anything sent: the peer saw a gap we have not filled yet.
    NotSentYet,
    /// Too old, or never kept.
    Unknown,
}

#[derive(Clone, Copy, Debug)]
struct Rtx {
    ssrc: u32,
    payload_type: u8,
    next_seq: u16,
}

/// Counters of a [`SendStream`].
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SendStats {
    pub packets_sent: u64,
    /// Payload bytes.
    pub bytes_sent: u64,
    pub retransmitted_packets_sent: u64,
    /// Payload bytes of the original packets resent.
    pub retransmitted_bytes_sent: u64,
    pub nacks_received: u64,
    /// NACKed sequence numbers not in the history (never sent, evicted, too old).
    pub nack_unknown: u64,
    /// NACKed sequence numbers ignored: resent under 10 ms ago, or over the per-NACK cap.
    pub nack_suppressed: u64,
    /// Packets the peer NACKed before we sent them, resent right after sending.
    pub awaited_resent: u64,
    /// Seconds.
    pub round_trip_time: Option<f64>,
    pub fraction_lost: Option<f64>,
    pub remote_packets_lost: Option<i64>,
    /// Seconds.
    pub remote_jitter: Option<f64>,
}

/// What we send on one SSRC.
#[derive(Debug)]
pub(crate) struct SendStream {
    ssrc: u32,
    clock_rate: u32,
    rtx: Option<Rtx>,
    history: SendHistory,
    /// Sequence numbers the peer NACKed before we had them, and when.
    awaited: VecDeque<(u16, Instant)>,
    anchor: (Instant, SystemTime),
    last_sent: Option<(Instant, u32)>,
    /// The highest sequence number sent while the playout delay is on (the packets in
    /// between may come later).
    newest_seq: Option<u16>,
    /// When the peer takes the playout-delay extension: its id, and what we ask its
    /// receiver for.
    playout: Option<(u8, PlayoutDelay)>,
    stats: SendStats,
}

impl SendStream {
    /// `history`: the most packets kept for retransmission (rounded up to a power of
    /// two, within 16..=32768); fewer are kept while fewer are sent in a second.
    pub fn new(
        ssrc: u32,
        clock_rate: u32,
        rtx: Option<(u32, u8)>,
        history: usize,
        anchor: (Instant, SystemTime),
    ) -> SendStream {
        SendStream {
            ssrc,
            clock_rate: clock_rate.max(1),
            rtx: rtx.map(|(ssrc, payload_type)| Rtx {
                ssrc,
                payload_type: payload_type & 0x7f,
                // A start that is not 0 but needs no random source.
                next_seq: (ssrc >> 16) as u16 ^ ssrc as u16,
            }),
            history: SendHistory::new(history, HISTORY_RETAIN),
            awaited: VecDeque::new(),
            anchor,
            last_sent: None,
            newest_seq: None,
            playout: None,
            stats: SendStats::default(),
        }
    }

    /// Whether the peer's receiver takes the playout-delay extension from us (the id it
    /// gave it), and the most delay we may ask for.
    pub fn set_playout_delay(&mut self, agreed: Option<(u8, Duration)>) {
        match (agreed, self.playout.as_mut()) {
            (Some((id, cap)), Some((ours, playout))) => {
                *ours = id;
                playout.set_cap(cap);
            }
            (agreed, _) => {
                self.playout = agreed.map(|(id, cap)| (id, PlayoutDelay::new(cap)));
            }
        }
    }

    /// The playout delay limits (min, max, in ms) to put in the next packet, if any.
    pub fn playout_delay(&mut self, now: Instant) -> Option<(u16, u16)> {
        self.playout.as_mut()?.1.limits(now)
    }

    /// The playout-delay extension element for the next packet, if any.
    pub fn playout_extension(&mut self, now: Instant) -> Option<[u8; 4]> {
        let id = self.playout.as_ref()?.0;
        self.playout_delay(now)
            .map(|limits| playout_delay_element(id, limits))
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    #[cfg(test)]
    pub fn rtx_ssrc(&self) -> Option<u32> {
        self.rtx.map(|r| r.ssrc)
    }

    /// We are sending this RTP packet (plaintext, final header): keep it for
    /// retransmission (a `Bytes` clone, no copy) and count it.
    ///
    /// A packet the peer already asked for before we had it (a loopback forwarding one
    /// it got late, repaired upstream) goes out a second time at once, as RTX, into
    /// `out`: the peer has been waiting for it, and losing it again would cost another
    /// round trip, often a frozen picture.
    pub fn on_sent(
        &mut self,
        now: Instant,
        packet: Bytes,
        header: &RtpHeader,
        out: &mut Vec<Bytes>,
    ) {
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += header.payload_len as u64;
        // A packet forwarded late (recovered upstream by NACK) must not pull our SRs'
        // RTP/NTP mapping back by its lateness: the peer's A/V sync rests on it.
        let newer = self
            .last_sent
            .is_none_or(|(_, ts)| header.timestamp.wrapping_sub(ts) < 0x8000_0000);
        if newer {
            self.last_sent = Some((now, header.timestamp));
        }
        // Not the header of this packet: count it, but do not keep it.
        if packet.len() < 12
            || header.header_len < 12 + 4 * usize::from(packet[0] & 0x0f)
            || header.header_len + header.payload_len > packet.len()
        {
            return;
        }
        let (Ok(header_len), Ok(payload_len)) = (
            u16::try_from(header.header_len),
            u16::try_from(header.payload_len),
        ) else {
            return;
        };
        self.note_order(now, header.sequence);
        self.history
            .insert(now, header.sequence, packet, header_len, payload_len);
        if !self.awaited.is_empty() && self.was_awaited(now, header.sequence) {
            tracing::debug!(
                ssrc = self.ssrc,
                seq = header.sequence,
                "awaited packet sent twice"
            );
            self.stats.awaited_resent += 1;
            self.resend(now, header.sequence, out);
        }
    }

    /// The peer NACKed these sequence numbers: push the packets to resend into `out`
    /// (RTX-wrapped per RFC 4588 when configured, else the original bytes). At most 64
    /// per call; a sequence is resent at most once per 10 ms; unknown ones are skipped,
    /// and those not sent yet are remembered (see [`on_sent`](Self::on_sent)).
    /// A NACK for another media SSRC is ignored.
    pub fn on_nack(&mut self, now: Instant, nack: &TransportLayerNack, out: &mut Vec<Bytes>) {
        if nack.media_ssrc != self.ssrc {
            return;
        }
        self.stats.nacks_received += 1;
        let mut resent = 0usize;
        for pair in &nack.nacks {
            for seq in *pair {
                if resent >= MAX_RESEND_PER_NACK {
                    self.stats.nack_suppressed += 1;
                    continue;
                }
                match self.resend(now, seq, out) {
                    Resend::Sent => resent += 1,
                    Resend::Suppressed => self.stats.nack_suppressed += 1,
                    Resend::NotSentYet => {
                        self.stats.nack_unknown += 1;
                        tracing::debug!(ssrc = self.ssrc, seq, "NACKed before we had it");
                        self.await_packet(now, seq);
                    }
                    Resend::Unknown => self.stats.nack_unknown += 1,
                }
            }
        }
    }

    /// Resends `seq` from the history into `out`, unless it was resent under 10 ms ago.
    fn resend(&mut self, now: Instant, seq: u16, out: &mut Vec<Bytes>) -> Resend {
        let sent = match self.history.lookup(now, seq) {
            Lookup::Kept(sent) => sent,
            Lookup::Ahead => return Resend::NotSentYet,
            Lookup::Gone => return Resend::Unknown,
        };
        if let Some(last) = sent.resent_at() {
            let since = now.saturating_duration_since(last);
            if since < RESEND_SUPPRESS {
                return Resend::Suppressed;
            }
            tracing::debug!(ssrc = self.ssrc, seq, ?since, "resent again");
        }
        sent.mark_resent(now);
        let payload_len = sent.payload_len();
        let packet = match self.rtx.as_mut() {
            None => sent.packet.clone(),
            Some(rtx) => {
                let p = rtx_packet(rtx, sent);
                rtx.next_seq = rtx.next_seq.wrapping_add(1);
                p
            }
        };
        out.push(packet);
        self.stats.retransmitted_packets_sent += 1;
        self.stats.retransmitted_bytes_sent += payload_len as u64;
        Resend::Sent
    }

    /// Keeps the newest sequence sent and, for the playout delay, how late a packet
    /// sent after a newer one is: since the first of the next few that was sent.
    fn note_order(&mut self, now: Instant, seq: u16) {
        let Some((_, playout)) = self.playout.as_mut() else {
            return;
        };
        let Some(newest) = self.newest_seq else {
            self.newest_seq = Some(seq);
            return;
        };
        let ahead = newest.wrapping_sub(seq);
        if ahead == 0 || ahead >= 0x8000 {
            self.newest_seq = Some(seq);
            return;
        }
        let next = (1..=ahead.min(LATE_LOOKAHEAD)).find_map(|k| {
            match self.history.lookup(now, seq.wrapping_add(k)) {
                Lookup::Kept(sent) => Some(sent.sent_at),
                _ => None,
            }
        });
        if let Some(sent_at) = next {
            playout.observe(now, now.saturating_duration_since(sent_at));
        }
    }

    /// Remembers that the peer asked for `seq` before we had it (bounded, oldest out).
    fn await_packet(&mut self, now: Instant, seq: u16) {
        if self.awaited.iter().any(|&(s, _)| s == seq) {
            return;
        }
        if self.awaited.len() >= MAX_AWAITED {
            self.awaited.pop_front();
        }
        self.awaited.push_back((seq, now));
    }

    /// Whether the peer asked for `seq` before it was sent (and not too long ago); it is
    /// forgotten either way.
    fn was_awaited(&mut self, now: Instant, seq: u16) -> bool {
        self.awaited
            .retain(|&(_, at)| now.saturating_duration_since(at) <= HISTORY_RETAIN);
        match self.awaited.iter().position(|&(s, _)| s == seq) {
            Some(i) => {
                self.awaited.remove(i);
                true
            }
            None => false,
        }
    }

    /// Our sender report: NTP from the anchor, RTP timestamp extrapolated from the last
    /// sent packet by the clock rate, packet and payload octet counts (original packets
    /// only). `None` before the first packet.
    pub fn sender_report(&self, now: Instant) -> Option<SenderReport> {
        let (at, ts) = self.last_sent?;
        let elapsed = now.saturating_duration_since(at);
        Some(SenderReport {
            ssrc: self.ssrc,
            ntp_time: ntp_time(self.anchor, now),
            rtp_time: ts.wrapping_add(ticks(elapsed, self.clock_rate)),
            packet_count: self.stats.packets_sent as u32,
            octet_count: self.stats.bytes_sent as u32,
            reports: Vec::new(),
            profile_extensions: Bytes::new(),
        })
    }

    /// The peer's report block about this stream (ignored when about another SSRC):
    /// round-trip time from LSR/DLSR (RFC 3550 §6.4.1), fraction lost, cumulative lost,
    /// jitter.
    pub fn on_report_block(&mut self, now: Instant, block: &ReceptionReport) {
        if block.ssrc != self.ssrc {
            return;
        }
        if block.last_sender_report != 0 {
            let arrival = (ntp_time(self.anchor, now) >> 16) as u32;
            let rtt = arrival
                .wrapping_sub(block.last_sender_report)
                .wrapping_sub(block.delay);
            // Negative from rounding: 0. Over a minute: not an SR of ours; ignore.
            let rtt = if (rtt as i32) < 0 { 0 } else { rtt };
            if rtt <= 60 * 65536 {
                self.stats.round_trip_time = Some(f64::from(rtt) / 65536.0);
            }
        }
        self.stats.fraction_lost = Some(f64::from(block.fraction_lost) / 256.0);
        // 24-bit two's complement.
        let lost = ((block.total_lost << 8) as i32) >> 8;
        self.stats.remote_packets_lost = Some(i64::from(lost));
        self.stats.remote_jitter = Some(f64::from(block.jitter) / f64::from(self.clock_rate));
    }

    pub fn stats(&self) -> SendStats {
        self.stats.clone()
    }
}

/// RFC 4588: the RTX packet for `sent`: RTX SSRC, sequence and payload type; original
/// marker, timestamp and CSRCs; no extension or padding; payload = OSN + original.
fn rtx_packet(rtx: &Rtx, sent: &Sent) -> Bytes {
    let p = &sent.packet[..];
    let fields = RtpFields {
        marker: p[1] & 0x80 != 0,
        payload_type: rtx.payload_type,
        sequence: rtx.next_seq,
        timestamp: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        ssrc: rtx.ssrc,
        csrcs: &p[12..12 + 4 * usize::from(p[0] & 0x0f)],
        extension: &[],
    };
    let payload = &p[sent.header_len()..sent.header_len() + sent.payload_len()];
    write_rtp(&fields, &[&sent.seq.to_be_bytes(), payload])
}

mod history;
mod nack;
mod playout;
#[cfg(test)]
mod tests;
mod window_max;
