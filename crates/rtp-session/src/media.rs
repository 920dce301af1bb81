//! The media of a session between SRTP and the application: which SSRC belongs to
//! which m-section, RTX unwrapping, NACK both ways, sender and receiver reports, REMB,
//! PLI/FIR. Per packet it parses the header once, decrypts once and hands the decrypted
//! buffer on without another copy.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::source_description::{
    SdesType, SourceDescription, SourceDescriptionChunk, SourceDescriptionItem,
};

mod reports;

use reports::Reports;

use crate::negotiate::{NegotiatedCodec, Section};
use crate::remb::{RembConfig, RembEstimator};
use crate::rewrite::Rewriter;
use crate::rtcp::{marshal_compound, parse_rtcp, Feedback};
use crate::states::States;
use crate::stats::{InboundRtpStreamStats, OutboundRtpStreamStats};
use crate::streams::{
    find_extension, rewrite_rtp, write_rtp, RecvStream, RtpFields, RtpHeader, SendStream,
};
use crate::transport::MAX_UNSIGNALLED_SSRCS;
use crate::{codec, MediaKind, MediaPacket, SessionError, SessionEvent};

/// The most packets of a video stream kept for retransmission: a second (what the
/// history keeps) up to ~10 Mbps; a slower stream's ring stays smaller (it grows with
/// the rate).
const VIDEO_HISTORY: usize = 1024;
/// Audio is not retransmitted (no NACK negotiated for it): no history.
const AUDIO_HISTORY: usize = 0;
/// Packets of unsignalled SSRCs tried per second: each try is a decryption (it was a
/// throwaway SRTP context's key setup too), and a flood of random SSRCs gets no more.
const UNSIGNALLED_TRIES_PER_SECOND: u32 = 200;
/// Receivers (SSRCs, RTX included) one session keeps: the signalled ones plus
/// `MAX_UNSIGNALLED_SSRCS`.
const MAX_RECEIVERS: usize = 32;

/// What the media streams need of the layer under them: (de)protection, and the path
/// to the peer. DTLS-SRTP over ICE for a WebRtcSession, plain (or SDES-SRTP) UDP
/// for an RtpSession.
pub(crate) trait MediaTransport {
    /// Keys (or plain RTP) and a path to the peer are there: RTP and RTCP may go out.
    fn is_secure(&self) -> bool;
    /// Unprotects an RTP packet; per-SSRC state is made only for one that authenticates.
    fn decrypt_rtp(&mut self, data: &[u8]) -> Option<BytesMut>;
    /// Unprotects an RTCP compound.
    fn decrypt_rtcp(&mut self, data: &[u8]) -> Option<BytesMut>;
    /// Protects and queues an RTP packet; false when it cannot go out.
    fn send_rtp(&mut self, plain: &[u8]) -> bool;
    /// Protects and queues an RTCP compound; false when it cannot go out.
    fn send_rtcp(&mut self, plain: &[u8]) -> bool;
}

/// Our stream of one kind.
struct Sender {
    kind: MediaKind,
    /// What the peer takes, preferred first (payload types are the peer's).
    codecs: Vec<NegotiatedCodec>,
    stream: SendStream,
    rewriter: Rewriter,
    /// PLI and FIR the peer sent about it.
    pli: u32,
    fir: u32,
}

/// A stream the peer sends us.
struct Receiver {
    kind: MediaKind,
    ssrc: u32,
    section: usize,
    stream: RecvStream,
    remb: Option<RembEstimator>,
    /// Keyframe requests we sent.
    pli: u32,
    fir: u32,
    /// The first packet arrived (a video decoder joining needs a keyframe: ask at once).
    started: bool,
}

/// An RTX stream: `ssrc` repairs `primary`.
struct Rtx {
    ssrc: u32,
    primary: u32,
}

/// Our SSRCs, fixed for the session's life.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalSsrcs {
    pub(crate) audio: u32,
    pub(crate) video: u32,
    pub(crate) video_rtx: u32,
}

/// Counters of media refused, by reason.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MediaDrops {
    /// SRTP that did not authenticate (bad tag, wrong key) or was replayed.
    pub(crate) auth: u64,
    /// SRTP of an SSRC neither signalled nor admitted (past the bound, no section).
    pub(crate) unknown_ssrc: u64,
    /// Of a payload type the section did not negotiate.
    pub(crate) unknown_payload_type: u64,
    /// Already received.
    pub(crate) duplicate: u64,
    /// Padding only: a sender's bandwidth probe.
    pub(crate) padding: u64,
    /// Not a well-formed RTP packet.
    pub(crate) malformed: u64,
    /// SRTCP that did not authenticate or parse.
    pub(crate) rtcp: u64,
}

pub(crate) struct Media {
    sections: Vec<Section>,
    ssrcs: LocalSsrcs,
    cname: String,
    remb_config: RembConfig,
    /// The most playout delay our video senders may ask for (zero: never).
    max_playout_delay: Duration,
    anchor: (Instant, SystemTime),
    senders: Vec<Sender>,
    receivers: Vec<Receiver>,
    rtx: Vec<Rtx>,
    unsignalled: Unsignalled,
    pub(crate) out: VecDeque<MediaPacket>,
    reports: Reports,
    pub(crate) remote_remb: Option<u32>,
    /// RTP packets accepted so far, and when the last REMB went out.
    pub(crate) rtp_received: u64,
    rtp_at_last_remb: u64,
    pub(crate) drops: MediaDrops,
    /// Codec names the peer takes, per kind (audio, video).
    accepted: [Vec<&'static str>; 2],
    /// Lists reused from packet to packet.
    scratch: Scratch,
    /// The path's round trip NACK retries are spaced by, and whether RTCP measured it
    /// (ICE's checks only seed it until then).
    rtt: Option<(Duration, bool)>,
}

/// SSRCs nobody signalled: how many were admitted, and the tries in the current second
/// (each costs a decryption), both bounded.
struct Unsignalled {
    admitted: usize,
    second: Instant,
    tries: u32,
}

impl Unsignalled {
    fn new(now: Instant) -> Unsignalled {
        Unsignalled {
            admitted: 0,
            second: now,
            tries: 0,
        }
    }

    fn has_room(&self) -> bool {
        self.admitted < MAX_UNSIGNALLED_SSRCS
    }

    /// Counts a try; false past the second's budget.
    fn try_one(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.second) >= Duration::from_secs(1) {
            self.second = now;
            self.tries = 0;
        }
        self.tries += 1;
        self.tries <= UNSIGNALLED_TRIES_PER_SECOND
    }
}

/// Lists a packet's handling fills and empties, kept to save their allocations.
#[derive(Default)]
struct Scratch {
    feedback: Vec<Feedback>,
    resend: Vec<Bytes>,
}

fn kind_index(kind: MediaKind) -> u8 {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

impl Media {
    pub(crate) fn new(
        ssrcs: LocalSsrcs,
        cname: String,
        remb_config: RembConfig,
        max_playout_delay: Duration,
        now: Instant,
    ) -> Media {
        Media {
            max_playout_delay,
            sections: Vec::new(),
            ssrcs,
            cname,
            remb_config,
            anchor: (now, SystemTime::now()),
            senders: Vec::new(),
            receivers: Vec::new(),
            rtx: Vec::new(),
            unsignalled: Unsignalled::new(now),
            out: VecDeque::new(),
            reports: Reports::default(),
            remote_remb: None,
            rtp_received: 0,
            rtp_at_last_remb: 0,
            drops: MediaDrops::default(),
            accepted: [Vec::new(), Vec::new()],
            scratch: Scratch::default(),
            rtt: None,
        }
    }

    /// The round trip ICE measured on the selected pair: until RTCP measures one (a
    /// second or more into the call), NACK retries are spaced by it rather than by a
    /// 100 ms guess, which at 10 % loss each way is what froze the video at the start.
    pub(crate) fn seed_rtt(&mut self, rtt: Duration) {
        if self.rtt.is_none_or(|(_, from_rtcp)| !from_rtcp) {
            self.set_rtt(rtt, false);
        }
    }

    fn set_rtt(&mut self, rtt: Duration, from_rtcp: bool) {
        self.rtt = Some((rtt, from_rtcp));
        for r in &mut self.receivers {
            r.stream.set_rtt(rtt);
        }
    }

    /// Applies a (re)negotiation: our senders take the peer's codecs, the peer's
    /// signalled SSRCs get receivers.
    pub(crate) fn apply(&mut self, sections: &[Section], now: Instant) {
        self.sections = sections.to_vec();
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let names = self
                .sections
                .iter()
                .find(|s| s.kind == kind && s.send)
                .map(|s| s.codecs.iter().map(|c| c.name).collect())
                .unwrap_or_default();
            self.accepted[usize::from(kind_index(kind))] = names;
        }
        for section in sections.iter().filter(|s| s.send) {
            self.ensure_sender(
                section.kind,
                &section.codecs,
                section.playout_delay_extension,
            );
        }
        for (index, section) in self.sections.iter().enumerate() {
            if !section.recv {
                continue;
            }
            for &(primary, rtx) in &section.remote_rtx {
                if !self.rtx.iter().any(|r| r.ssrc == rtx) {
                    self.rtx.push(Rtx { ssrc: rtx, primary });
                }
            }
            for &ssrc in &section.remote_ssrcs {
                let is_rtx = section.remote_rtx.iter().any(|&(_, r)| r == ssrc);
                if !is_rtx && self.receiver(ssrc).is_none() && self.receivers.len() < MAX_RECEIVERS
                {
                    let rtt = self.rtt.map(|(rtt, _)| rtt);
                    let r = new_receiver(section, index, ssrc, self.remb_config, rtt, now);
                    add_receiver(now, &mut self.receivers, &mut self.reports, r);
                }
            }
        }
        self.reports.start(now);
    }

    fn ensure_sender(
        &mut self,
        kind: MediaKind,
        codecs: &[NegotiatedCodec],
        playout_ext: Option<u8>,
    ) {
        let cap = Some(self.max_playout_delay).filter(|d| !d.is_zero());
        if let Some(s) = self.senders.iter_mut().find(|s| s.kind == kind) {
            s.codecs = codecs.to_vec();
            s.stream.set_playout_delay(playout_ext.zip(cap));
            return;
        }
        let Some(first) = codecs.first() else {
            return;
        };
        let (ssrc, history) = match kind {
            MediaKind::Audio => (self.ssrcs.audio, AUDIO_HISTORY),
            MediaKind::Video => (self.ssrcs.video, VIDEO_HISTORY),
        };
        let rtx = match kind {
            MediaKind::Video => first
                .rtx_payload_type
                .filter(|_| first.nack)
                .map(|pt| (self.ssrcs.video_rtx, pt)),
            MediaKind::Audio => None,
        };
        let history = if first.nack { history } else { 0 };
        let mut stream = SendStream::new(ssrc, first.clock_rate, rtx, history, self.anchor);
        stream.set_playout_delay(playout_ext.zip(cap));
        self.senders.push(Sender {
            kind,
            codecs: codecs.to_vec(),
            stream,
            rewriter: Rewriter::default(),
            pli: 0,
            fir: 0,
        });
        self.senders.sort_by_key(|s| kind_index(s.kind));
    }

    fn receiver(&self, ssrc: u32) -> Option<usize> {
        self.receivers.iter().position(|r| r.ssrc == ssrc)
    }

    /// Codecs the peer takes from us for `kind`, preferred first.
    pub(crate) fn accepted_codecs(&self, kind: MediaKind) -> &[&'static str] {
        &self.accepted[usize::from(kind_index(kind))]
    }

    /// The section a packet of an unknown SSRC belongs to: by its MID header extension,
    /// else by a payload type only one section uses.
    fn section_of(&self, packet: &[u8], header: &RtpHeader) -> Option<(usize, bool)> {
        for (i, s) in self.sections.iter().enumerate().filter(|(_, s)| s.recv) {
            if let Some(id) = s.mid_extension {
                if find_extension(packet, header, id).is_some_and(|m| m == s.mid.as_bytes()) {
                    let rtx = s
                        .codecs
                        .iter()
                        .any(|c| c.rtx_payload_type == Some(header.payload_type));
                    return Some((i, rtx));
                }
            }
        }
        let mut found = None;
        for (i, s) in self.sections.iter().enumerate().filter(|(_, s)| s.recv) {
            for c in &s.codecs {
                let hit = if c.payload_type == header.payload_type {
                    Some(false)
                } else if c.rtx_payload_type == Some(header.payload_type) {
                    Some(true)
                } else {
                    None
                };
                if let Some(rtx) = hit {
                    if found.is_some_and(|(j, _)| j != i) {
                        return None;
                    }
                    found = Some((i, rtx));
                }
            }
        }
        found
    }

    /// An SRTP packet from the peer.
    pub(crate) fn handle_rtp(
        &mut self,
        now: Instant,
        data: &[u8],
        transport: &mut dyn MediaTransport,
    ) {
        let Some(header) = RtpHeader::parse(data) else {
            self.drops.malformed += 1;
            return;
        };
        if let Some(i) = self.receiver(header.ssrc) {
            let Some(plain) = transport.decrypt_rtp(data) else {
                self.drops.auth += 1;
                return;
            };
            self.deliver(now, i, plain.freeze(), false, transport);
            return;
        }
        if let Some(primary) = self
            .rtx
            .iter()
            .find(|r| r.ssrc == header.ssrc)
            .map(|r| r.primary)
        {
            let Some(plain) = transport.decrypt_rtp(data) else {
                self.drops.auth += 1;
                return;
            };
            self.on_rtx(now, primary, &plain, transport);
            return;
        }
        self.on_unsignalled(now, data, &header, transport);
    }

    /// A packet of an SSRC the SDP did not name (peers that signal none, or a new
    /// one): admitted, within the bound, once it authenticates.
    fn on_unsignalled(
        &mut self,
        now: Instant,
        data: &[u8],
        header: &RtpHeader,
        transport: &mut dyn MediaTransport,
    ) {
        let section = self.section_of(data, header);
        let room = self.unsignalled.has_room() && self.receivers.len() < MAX_RECEIVERS;
        let budget = self.unsignalled.try_one(now);
        let (Some((index, rtx)), true, true) = (section, room, budget) else {
            self.drops.unknown_ssrc += 1;
            return;
        };
        let Some(plain) = transport.decrypt_rtp(data) else {
            self.drops.auth += 1;
            return;
        };
        self.unsignalled.admitted += 1;
        if rtx {
            // Repairs the section's primary stream (the first one it has).
            let primary = self
                .receivers
                .iter()
                .find(|r| r.section == index)
                .map(|r| r.ssrc);
            if let Some(primary) = primary {
                self.rtx.push(Rtx {
                    ssrc: header.ssrc,
                    primary,
                });
                self.on_rtx(now, primary, &plain, transport);
            } else {
                self.drops.unknown_ssrc += 1;
            }
            return;
        }
        let receiver = new_receiver(
            &self.sections[index],
            index,
            header.ssrc,
            self.remb_config,
            self.rtt.map(|(rtt, _)| rtt),
            now,
        );
        add_receiver(now, &mut self.receivers, &mut self.reports, receiver);
        let i = self.receivers.len() - 1;
        self.deliver(now, i, plain.freeze(), false, transport);
    }

    /// A retransmission (RFC 4588): the original packet is rebuilt and goes the primary
    /// stream's way, counted as recovered.
    fn on_rtx(
        &mut self,
        now: Instant,
        primary: u32,
        plain: &[u8],
        transport: &mut dyn MediaTransport,
    ) {
        let Some(h) = RtpHeader::parse(plain) else {
            self.drops.malformed += 1;
            return;
        };
        let Some(i) = self.receiver(primary) else {
            self.drops.unknown_ssrc += 1;
            return;
        };
        let payload = h.payload(plain);
        if payload.len() < 2 {
            // Padding-only RTX: a bandwidth probe.
            self.drops.padding += 1;
            return;
        }
        let section = &self.sections[self.receivers[i].section];
        let Some(apt) = section
            .codecs
            .iter()
            .find(|c| c.rtx_payload_type == Some(h.payload_type))
            .map(|c| c.payload_type)
        else {
            self.drops.unknown_payload_type += 1;
            return;
        };
        let original = RtpFields {
            marker: h.marker,
            payload_type: apt,
            sequence: u16::from_be_bytes([payload[0], payload[1]]),
            timestamp: h.timestamp,
            ssrc: primary,
            csrcs: h.csrcs(plain),
            extension: &[],
        };
        let packet = write_rtp(&original, &[&payload[2..]]);
        self.deliver(now, i, packet, true, transport);
    }

    fn deliver(
        &mut self,
        now: Instant,
        i: usize,
        packet: Bytes,
        retransmitted: bool,
        transport: &mut dyn MediaTransport,
    ) {
        let Some(h) = RtpHeader::parse(&packet) else {
            self.drops.malformed += 1;
            return;
        };
        let receiver = &mut self.receivers[i];
        let fresh =
            receiver
                .stream
                .on_packet(now, h.sequence, h.timestamp, h.payload_len, retransmitted);
        if receiver.stream.next_nack().is_some_and(|t| t <= now) {
            self.send_nacks(now, transport);
        }
        if !fresh || h.payload_len == 0 {
            // A duplicate, or padding only (a bandwidth probe).
            if fresh {
                self.drops.padding += 1;
            } else {
                self.drops.duplicate += 1;
            }
            return;
        }
        let receiver = &mut self.receivers[i];
        let section = &self.sections[receiver.section];
        let Some((codec, clock_rate)) = section
            .codecs
            .iter()
            .find(|c| c.payload_type == h.payload_type)
            .map(|c| (c.name, c.clock_rate))
        else {
            self.drops.unknown_payload_type += 1;
            return;
        };
        let kind = receiver.kind;
        let first = !std::mem::replace(&mut receiver.started, true);
        self.rtp_received += 1;
        self.reports.media_active(now);
        let payload = h.payload(&packet);
        let keyframe = is_keyframe(codec, payload);
        let sender_time_micros = self.receivers[i]
            .stream
            .sender_time_micros(h.timestamp, clock_rate);
        self.out.push_back(MediaPacket {
            kind,
            codec,
            rtp: packet,
            keyframe,
            sender_time_micros,
        });
        // A stream that starts mid-picture (its keyframe's first packet lost, or joined
        // late) needs one; one that starts with a keyframe does not, and asking anyway
        // makes the sender encode a second one at once, whose overshoot its rate control
        // pays for by dropping the next frames (a freeze at the start of the call).
        if first && kind == MediaKind::Video && !keyframe {
            self.request_keyframe(now, MediaKind::Video, transport);
        }
    }

    /// An SRTCP compound from the peer.
    pub(crate) fn handle_rtcp(
        &mut self,
        now: Instant,
        data: &[u8],
        transport: &mut dyn MediaTransport,
        states: &mut States,
    ) {
        let Some(plain) = transport.decrypt_rtcp(data) else {
            self.drops.rtcp += 1;
            return;
        };
        let mut feedback = std::mem::take(&mut self.scratch.feedback);
        feedback.clear();
        if let Err(e) = parse_rtcp(&plain, &mut feedback) {
            tracing::debug!("RTCP refused: {e}");
            self.drops.rtcp += 1;
        }
        for f in feedback.drain(..) {
            self.on_feedback(now, f, transport, states);
        }
        self.scratch.feedback = feedback;
    }

    fn on_feedback(
        &mut self,
        now: Instant,
        f: Feedback,
        transport: &mut dyn MediaTransport,
        states: &mut States,
    ) {
        match f {
            Feedback::SenderReport {
                ssrc,
                ntp_time,
                rtp_time,
                reports,
            } => {
                states.rtcp_report_seen(now);
                if let Some(i) = self.receiver(ssrc) {
                    let first = self.receivers[i]
                        .stream
                        .on_sender_report(now, ntp_time, rtp_time);
                    if first {
                        self.reports.answer_first_sender_report(now);
                    }
                } else {
                    self.reports.keep_early(ssrc, (now, ntp_time, rtp_time));
                }
                self.on_report_blocks(now, &reports);
            }
            Feedback::ReceiverReport { reports, .. } => {
                states.rtcp_report_seen(now);
                self.on_report_blocks(now, &reports);
            }
            Feedback::Nack(nack) => {
                let mut resend = std::mem::take(&mut self.scratch.resend);
                if let Some(s) = self
                    .senders
                    .iter_mut()
                    .find(|s| s.stream.ssrc() == nack.media_ssrc)
                {
                    s.stream.on_nack(now, &nack, &mut resend);
                }
                for packet in resend.drain(..) {
                    transport.send_rtp(&packet);
                }
                self.scratch.resend = resend;
            }
            Feedback::Pli { media_ssrc } => self.keyframe_asked(media_ssrc, false, states),
            Feedback::Fir { media_ssrcs } => {
                for ssrc in media_ssrcs {
                    self.keyframe_asked(ssrc, true, states);
                }
            }
            Feedback::Remb { bitrate, .. } => {
                self.remote_remb = Some(u32::try_from(bitrate).unwrap_or(u32::MAX));
            }
            Feedback::Bye { .. } => {}
        }
    }

    fn on_report_blocks(
        &mut self,
        now: Instant,
        reports: &[rtc::rtcp::reception_report::ReceptionReport],
    ) {
        for block in reports {
            if let Some(s) = self
                .senders
                .iter_mut()
                .find(|s| s.stream.ssrc() == block.ssrc)
            {
                s.stream.on_report_block(now, block);
                // The path is the same both ways: our NACKs are spaced by it.
                if let Some(rtt) = s.stream.stats().round_trip_time {
                    self.set_rtt(Duration::from_secs_f64(rtt.clamp(0.0, 10.0)), true);
                }
            }
        }
    }

    fn keyframe_asked(&mut self, ssrc: u32, fir: bool, states: &mut States) {
        // A request naming none of our SSRCs (some peers send 0) is about video.
        let sender = self.senders.iter_mut().find(|s| s.stream.ssrc() == ssrc);
        let kind = match sender {
            Some(s) => {
                if fir {
                    s.fir += 1;
                } else {
                    s.pli += 1;
                }
                s.kind
            }
            None => MediaKind::Video,
        };
        states.push(SessionEvent::KeyframeRequested(kind));
    }

    /// Sends an RTP packet of `codec` on our `kind` stream: our SSRC, the payload type
    /// the peer gave that codec, a continuous sequence and timestamp; none of its header
    /// extensions (they were negotiated with whoever sent it, not with our peer), the
    /// playout delay we ask for when it is agreed and we ask for one.
    pub(crate) fn send(
        &mut self,
        now: Instant,
        kind: MediaKind,
        codec_name: &str,
        rtp: Bytes,
        transport: &mut dyn MediaTransport,
    ) -> Result<(), SessionError> {
        let h = RtpHeader::parse(&rtp)
            .ok_or_else(|| SessionError::Media("not an RTP packet".into()))?;
        let sender = self
            .senders
            .iter_mut()
            .find(|s| s.kind == kind)
            .ok_or_else(|| SessionError::Media(format!("no {kind:?} track to send on")))?;
        let pt = sender
            .codecs
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(codec_name))
            .map(|c| c.payload_type)
            .ok_or_else(|| {
                SessionError::Media(format!("{codec_name} is not negotiated with the peer"))
            })?;
        let (sequence, timestamp) = sender.rewriter.rewrite(h.ssrc, h.sequence, h.timestamp);
        let playout = sender.stream.playout_extension(now);
        let ours = RtpFields {
            marker: h.marker,
            payload_type: pt,
            sequence,
            timestamp,
            ssrc: sender.stream.ssrc(),
            // `rewrite_rtp` keeps the packet's own.
            csrcs: &[],
            extension: playout.as_ref().map_or(&[], |e| &e[..]),
        };
        let packet = rewrite_rtp(rtp, &h, &ours);
        let header = RtpHeader::parse(&packet)
            .ok_or_else(|| SessionError::Media("rewritten packet does not parse".into()))?;
        if !transport.send_rtp(&packet) {
            return Err(SessionError::Media(
                "no SRTP keys or candidate pair yet".into(),
            ));
        }
        let mut again = std::mem::take(&mut self.scratch.resend);
        sender.stream.on_sent(now, packet, &header, &mut again);
        for packet in again.drain(..) {
            transport.send_rtp(&packet);
        }
        self.scratch.resend = again;
        self.reports.media_active(now);
        Ok(())
    }

    /// Asks the peer for a keyframe of what it sends us of `kind` (PLI).
    pub(crate) fn request_keyframe(
        &mut self,
        _now: Instant,
        kind: MediaKind,
        transport: &mut dyn MediaTransport,
    ) {
        let sender_ssrc = self.ssrcs.video;
        let Some(r) = self.receivers.iter_mut().find(|r| r.kind == kind) else {
            return;
        };
        let pli = PictureLossIndication {
            sender_ssrc,
            media_ssrc: r.ssrc,
        };
        if let Ok(bytes) = marshal_compound(&[&pli]) {
            if transport.send_rtcp(&bytes) {
                r.pli += 1;
            }
        }
    }

    fn send_nacks(&mut self, now: Instant, transport: &mut dyn MediaTransport) {
        let sender_ssrc = self.ssrcs.video;
        for r in &mut self.receivers {
            if r.stream.next_nack().is_some_and(|t| t <= now) {
                if let Some(nack) = r.stream.poll_nack(now, sender_ssrc) {
                    if let Ok(bytes) = marshal_compound(&[&nack]) {
                        transport.send_rtcp(&bytes);
                    }
                }
            }
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let nack = self
            .receivers
            .iter()
            .filter_map(|r| r.stream.next_nack())
            .min();
        nack.into_iter().chain(self.reports.next()).min()
    }

    /// Reports, REMB and NACKs that are due.
    pub(crate) fn handle_timeout(&mut self, now: Instant, transport: &mut dyn MediaTransport) {
        self.send_nacks(now, transport);
        if transport.is_secure() && self.reports.due(now) {
            self.send_reports(now, transport);
        }
    }

    /// One compound: our SRs (the first carries the report blocks) or an RR, SDES, and
    /// the REMB when due.
    fn send_reports(&mut self, now: Instant, transport: &mut dyn MediaTransport) {
        let mut blocks: Vec<_> = self
            .receivers
            .iter_mut()
            .filter(|r| r.started)
            .map(|r| r.stream.report_block(now))
            .collect();
        blocks.truncate(31);
        let mut packets: Vec<Box<dyn rtc::rtcp::packet::Packet>> = Vec::new();
        for s in &self.senders {
            if let Some(mut sr) = s.stream.sender_report(now) {
                sr.reports = std::mem::take(&mut blocks);
                packets.push(Box::new(sr));
            }
        }
        let reporter = self.ssrcs.video;
        if packets.is_empty() {
            packets.push(Box::new(ReceiverReport {
                ssrc: reporter,
                reports: blocks,
                ..Default::default()
            }));
        }
        packets.push(Box::new(SourceDescription {
            chunks: vec![SourceDescriptionChunk {
                source: packets_ssrc(&self.senders, reporter),
                items: vec![SourceDescriptionItem {
                    sdes_type: SdesType::SdesCname,
                    text: Bytes::copy_from_slice(self.cname.as_bytes()),
                }],
            }],
        }));
        if let Some(remb) = self.remb(now) {
            packets.push(Box::new(remb));
        }
        let refs: Vec<&dyn rtc::rtcp::packet::Packet> = packets.iter().map(|p| &**p).collect();
        match marshal_compound(&refs) {
            Ok(bytes) => {
                transport.send_rtcp(&bytes);
            }
            Err(e) => tracing::debug!("RTCP report not built: {e}"),
        }
    }

    /// The REMB for received video when due and RTP arrived since the last one.
    fn remb(&mut self, now: Instant) -> Option<ReceiverEstimatedMaximumBitrate> {
        if self.rtp_received == self.rtp_at_last_remb {
            return None;
        }
        self.rtp_at_last_remb = self.rtp_received;
        let r = self
            .receivers
            .iter_mut()
            .find(|r| r.remb.as_ref().is_some_and(|e| e.next <= now))?;
        let stats = r.stream.stats();
        let estimator = r.remb.as_mut()?;
        let bitrate = estimator.update(
            now,
            stats.bytes_received,
            stats.packets_lost,
            stats.packets_received,
        );
        Some(ReceiverEstimatedMaximumBitrate {
            sender_ssrc: self.ssrcs.video,
            bitrate: bitrate as f32,
            ssrcs: vec![r.ssrc],
        })
    }

    pub(crate) fn inbound_stats(&self) -> Vec<InboundRtpStreamStats> {
        self.receivers
            .iter()
            .map(|r| {
                let s = r.stream.stats();
                InboundRtpStreamStats {
                    ssrc: r.ssrc,
                    kind: Some(r.kind),
                    packets_received: s.packets_received,
                    bytes_received: s.bytes_received,
                    packets_lost: s.packets_lost,
                    jitter: s.jitter_seconds,
                    nack_count: s.nacks_sent,
                    pli_count: r.pli,
                    fir_count: r.fir,
                    retransmitted_packets_received: s.retransmitted_packets_received,
                    packets_duplicated: s.duplicates,
                    nacked_packets: s.nacked_sequences,
                    packets_given_up: s.packets_given_up,
                }
            })
            .collect()
    }

    pub(crate) fn outbound_stats(&self) -> Vec<OutboundRtpStreamStats> {
        self.senders
            .iter()
            .map(|s| {
                let st = s.stream.stats();
                OutboundRtpStreamStats {
                    ssrc: s.stream.ssrc(),
                    kind: Some(s.kind),
                    packets_sent: st.packets_sent,
                    bytes_sent: st.bytes_sent,
                    retransmitted_packets_sent: st.retransmitted_packets_sent,
                    nack_count: u32::try_from(st.nacks_received).unwrap_or(u32::MAX),
                    pli_count: s.pli,
                    fir_count: s.fir,
                    round_trip_time: st.round_trip_time,
                    fraction_lost: st.fraction_lost,
                }
            })
            .collect()
    }
}

impl Media {
    /// The media counters of `d`, filled in from what the streams refused.
    pub(crate) fn fill_discards(&self, d: &mut crate::Discards) {
        let m = self.drops;
        d.srtp_auth = m.auth;
        d.srtp_unknown_ssrc = m.unknown_ssrc;
        d.rtp_unknown_payload_type = m.unknown_payload_type;
        d.rtp_duplicate = m.duplicate;
        d.rtp_padding = m.padding;
        d.rtp_malformed = m.malformed;
        d.srtp = m.auth
            + m.unknown_ssrc
            + m.unknown_payload_type
            + m.duplicate
            + m.padding
            + m.malformed;
        d.rtcp = m.rtcp;
    }
}

fn packets_ssrc(senders: &[Sender], reporter: u32) -> u32 {
    senders.first().map_or(reporter, |s| s.stream.ssrc())
}

/// Adds `receiver`, with the Sender Report its sender sent before its RTP.
fn add_receiver(
    now: Instant,
    receivers: &mut Vec<Receiver>,
    reports: &mut Reports,
    mut receiver: Receiver,
) {
    if let Some((at, ntp, rtp)) = reports.take_early(receiver.ssrc, now) {
        receiver.stream.on_sender_report(at, ntp, rtp);
    }
    receivers.push(receiver);
}

fn new_receiver(
    section: &Section,
    index: usize,
    ssrc: u32,
    remb: RembConfig,
    rtt: Option<Duration>,
    now: Instant,
) -> Receiver {
    let first = section.codecs.first();
    let clock_rate = first.map_or(90_000, |c| c.clock_rate);
    let nack = first.is_some_and(|c| c.nack);
    let video = section.kind == MediaKind::Video;
    let mut stream = RecvStream::new(ssrc, clock_rate, nack);
    if let Some(rtt) = rtt {
        stream.set_rtt(rtt);
    }
    Receiver {
        kind: section.kind,
        ssrc,
        section: index,
        stream,
        remb: (video && first.is_some_and(|c| c.remb)).then(|| RembEstimator::new(remb, now)),
        pli: 0,
        fir: 0,
        started: false,
    }
}

/// True when an RTP payload starts a decodable picture.
pub(crate) fn is_keyframe(codec_name: &str, payload: &[u8]) -> bool {
    match codec_name {
        codec::VP8 => vp8_keyframe(payload),
        codec::H264 => h264_keyframe(payload),
        _ => false,
    }
}

/// VP8 payload descriptor (RFC 7741 §4.2), then the frame tag's inverse key bit.
fn vp8_keyframe(p: &[u8]) -> bool {
    let Some(&first) = p.first() else {
        return false;
    };
    // Only the start of a partition 0 carries the frame header.
    if first & 0x10 == 0 || first & 0x0f != 0 {
        return false;
    }
    let mut i = 1;
    if first & 0x80 != 0 {
        let Some(&x) = p.get(i) else { return false };
        i += 1;
        if x & 0x80 != 0 {
            let long = p.get(i).is_some_and(|b| b & 0x80 != 0);
            i += if long { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    p.get(i).is_some_and(|b| b & 0x01 == 0)
}

/// An IDR or SPS NAL unit, alone, in a STAP-A, or at the start of an FU-A.
fn h264_keyframe(p: &[u8]) -> bool {
    let key = |nal_type: u8| nal_type == 5 || nal_type == 7;
    let Some(&first) = p.first() else {
        return false;
    };
    match first & 0x1f {
        24 => {
            let mut i = 1;
            while i + 2 < p.len() {
                let size = usize::from(u16::from_be_bytes([p[i], p[i + 1]]));
                if key(p[i + 2] & 0x1f) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        28 => p.get(1).is_some_and(|h| h & 0x80 != 0 && key(h & 0x1f)),
        t => key(t),
    }
}
