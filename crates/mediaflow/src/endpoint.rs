//! What WebRtcEndpoint and RtpEndpoint share as graph elements: the media side of a
//! session on the graph's pads (RTP buffers out, RTP in, keyframe requests both ways,
//! the target bitrate for encoders feeding it), and their sockets in the runtime.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use mediaflow_graph::{Buffer, DataChannelMeta, ElementEvent, MediaType, UpstreamEvent};
use mediaflow_rtp::{
    DataMessage, MediaKind, MediaPacket, RtpSession, SessionError, SessionEvent, WebRtcSession,
};
use mediaflow_runtime::{Context, SocketId};

pub(crate) fn kind_of(media_type: MediaType) -> Option<MediaKind> {
    match media_type {
        MediaType::Audio => Some(MediaKind::Audio),
        MediaType::Video => Some(MediaKind::Video),
        MediaType::Data => None,
    }
}

pub(crate) fn media_type_of(kind: MediaKind) -> MediaType {
    match kind {
        MediaKind::Audio => MediaType::Audio,
        MediaKind::Video => MediaType::Video,
    }
}

/// The data-channel calls of a session, as the DATA pads use them; a session without
/// data channels (plain RTP) has none to poll and sends nothing.
pub(crate) trait DataSession {
    fn poll_data(&mut self) -> Option<DataMessage> {
        None
    }
    fn send_data(&mut self, _now: Instant, _buffer: &Buffer) -> Result<(), SessionError> {
        Err(mediaflow_rtp::DataChannelError::NotNegotiated.into())
    }
}

impl DataSession for RtpSession {}

impl DataSession for WebRtcSession {
    fn poll_data(&mut self) -> Option<DataMessage> {
        WebRtcSession::poll_data(self)
    }

    /// On the channel the buffer names by label (the loopback: the channel it came in
    /// on), binary or text as it came; a buffer of no channel goes as binary on the
    /// first open channel.
    fn send_data(&mut self, now: Instant, buffer: &Buffer) -> Result<(), SessionError> {
        match &buffer.data_channel {
            Some(meta) => self.send_data_on(
                now,
                Some(meta.stream_id),
                Some(&meta.label),
                meta.binary,
                &buffer.data,
            ),
            None => self.send_data_on(now, None, None, true, &buffer.data),
        }
    }
}

/// Data-channel messages taken from a session at a time (the graph's link capacity).
const DATA_BATCH: usize = 256;

/// The media calls of a session, as the pads use them.
pub(crate) trait MediaSession: DataSession {
    fn poll_event(&mut self) -> Option<SessionEvent>;
    fn poll_media(&mut self) -> Option<MediaPacket>;
    fn poll_timeout(&mut self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn remote_estimated_bitrate(&self) -> Option<u32>;
    fn send_rtp(
        &mut self,
        now: Instant,
        kind: MediaKind,
        codec: &str,
        rtp: Bytes,
    ) -> Result<(), SessionError>;
    fn request_keyframe(&mut self, now: Instant, kind: MediaKind);
    fn accepted_codecs(&self, kind: MediaKind) -> &[&'static str];
}

macro_rules! media_session {
    ($t:ty) => {
        impl MediaSession for $t {
            fn poll_event(&mut self) -> Option<SessionEvent> {
                <$t>::poll_event(self)
            }
            fn poll_media(&mut self) -> Option<MediaPacket> {
                <$t>::poll_media(self)
            }
            fn poll_timeout(&mut self) -> Option<Instant> {
                <$t>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$t>::handle_timeout(self, now)
            }
            fn remote_estimated_bitrate(&self) -> Option<u32> {
                <$t>::remote_estimated_bitrate(self)
            }
            fn send_rtp(
                &mut self,
                now: Instant,
                kind: MediaKind,
                codec: &str,
                rtp: Bytes,
            ) -> Result<(), SessionError> {
                <$t>::send_rtp(self, now, kind, codec, rtp)
            }
            fn request_keyframe(&mut self, now: Instant, kind: MediaKind) {
                <$t>::request_keyframe(self, now, kind)
            }
            fn accepted_codecs(&self, kind: MediaKind) -> &[&'static str] {
                <$t>::accepted_codecs(self, kind)
            }
        }
    };
}
media_session!(WebRtcSession);
media_session!(RtpSession);

/// An endpoint's pads: what its session produced for the graph, and its bitrate bounds.
pub(crate) struct Pads {
    outputs: VecDeque<Buffer>,
    upstream: VecDeque<(MediaType, UpstreamEvent)>,
    events: VecDeque<ElementEvent>,
    /// The session's next timer once the graph asked for it; `None` when the session
    /// changed since. Worked out when asked, not per `flush`: a WebRtcSession's takes a
    /// few hundred instructions (ICE, DTLS, every stream's RTCP and NACK timers), and
    /// `flush` runs twice per forwarded packet while the graph asks once per turn.
    timeout: Option<Option<Instant>>,
    /// The peer's REMB, cached for encoders that feed this endpoint.
    remote_remb: Option<u32>,
    /// Bounds of what encoders feeding this endpoint may send, in bits per second
    /// (Kurento's min/maxVideoSendBandwidth).
    min_send_bps: u32,
    max_send_bps: u32,
}

impl Pads {
    pub(crate) fn new(min_send_kbps: u32, max_send_kbps: u32) -> Pads {
        let min_send_bps = min_send_kbps.saturating_mul(1000);
        Pads {
            outputs: VecDeque::new(),
            upstream: VecDeque::new(),
            events: VecDeque::new(),
            timeout: None,
            remote_remb: None,
            min_send_bps,
            max_send_bps: max_send_kbps.saturating_mul(1000).max(min_send_bps),
        }
    }

    /// Collects what the session produced: events, media; its next timer is asked for
    /// again when the graph wants it.
    pub(crate) fn flush(&mut self, session: &mut impl MediaSession) {
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::KeyframeRequested(kind) => self
                    .upstream
                    .push_back((media_type_of(kind), UpstreamEvent::KeyframeRequest)),
                other => self.events.push_back(ElementEvent::Custom(Box::new(other))),
            }
        }
        while let Some(m) = session.poll_media() {
            self.outputs.push_back(Buffer {
                media_type: media_type_of(m.kind),
                data: m.rtp,
                pts_micros: m.sender_time_micros.unwrap_or(0),
                keyframe: m.keyframe,
                codec: Some(m.codec),
                data_channel: None,
            });
        }
        self.pull_data(session);
        self.forget_timeout();
        self.remote_remb = session.remote_estimated_bitrate();
    }

    /// RTP reached a sink pad: to the peer.
    pub(crate) fn input(&mut self, session: &mut impl MediaSession, buffer: Buffer, now: Instant) {
        if buffer.media_type == MediaType::Data {
            // Refusals (no channel, too large, queue full) are counted by the session.
            if let Err(e) = session.send_data(now, &buffer) {
                tracing::trace!("data not sent: {e}");
            }
            self.flush(session);
            return;
        }
        let (Some(kind), Some(codec)) = (kind_of(buffer.media_type), buffer.codec) else {
            return;
        };
        // Refusals (not connected yet, codec not negotiated) are counted by the session.
        if let Err(e) = session.send_rtp(now, kind, codec, buffer.data) {
            tracing::trace!("media not sent: {e}");
        }
        self.flush(session);
    }

    /// A keyframe request reached a source pad: a PLI to the peer.
    pub(crate) fn upstream_in(
        &mut self,
        session: &mut impl MediaSession,
        media_type: MediaType,
        event: UpstreamEvent,
        now: Instant,
    ) {
        match (event, kind_of(media_type)) {
            (UpstreamEvent::KeyframeRequest, Some(kind)) => {
                session.request_keyframe(now, kind);
                self.flush(session);
            }
            (UpstreamEvent::KeyframeRequest, None) => {}
        }
    }

    pub(crate) fn timeout_in(&mut self, session: &mut impl MediaSession, now: Instant) {
        session.handle_timeout(now);
        self.flush(session);
    }

    /// Data-channel messages, while fewer than `DATA_BATCH` buffers wait: the rest stays
    /// in SCTP's receive buffer (whose window slows the peer) until `poll_output` has
    /// room, so a burst of small messages cannot pile up here.
    fn pull_data(&mut self, session: &mut impl MediaSession) {
        while self.outputs.len() < DATA_BATCH {
            let Some(m) = session.poll_data() else {
                return;
            };
            self.outputs.push_back(Buffer {
                media_type: MediaType::Data,
                data: m.data,
                pts_micros: 0,
                keyframe: false,
                codec: None,
                data_channel: Some(DataChannelMeta {
                    stream_id: m.channel_id,
                    label: m.label,
                    binary: m.binary,
                }),
            });
        }
    }

    /// The next buffer for the graph; when none waits, more data-channel messages are
    /// taken from the session (the graph keeps polling while it gets some).
    pub(crate) fn poll_output(&mut self, session: &mut impl MediaSession) -> Option<Buffer> {
        if self.outputs.is_empty() {
            self.pull_data(session);
        }
        self.outputs.pop_front()
    }

    pub(crate) fn poll_upstream(&mut self) -> Option<(MediaType, UpstreamEvent)> {
        self.upstream.pop_front()
    }

    pub(crate) fn poll_event(&mut self) -> Option<ElementEvent> {
        self.events.pop_front()
    }

    pub(crate) fn timeout(&mut self, session: &mut impl MediaSession) -> Option<Instant> {
        *self.timeout.get_or_insert_with(|| session.poll_timeout())
    }

    /// The session's next timer may have changed (its datagrams were taken).
    pub(crate) fn forget_timeout(&mut self) {
        self.timeout = None;
    }

    pub(crate) fn target_bitrate(&self, media_type: MediaType) -> Option<u32> {
        (media_type == MediaType::Video)
            .then_some(self.remote_remb)
            .flatten()
            .map(|bps| bps.clamp(self.min_send_bps, self.max_send_bps))
    }
}

/// The codecs a session's peer takes for `media_type`, when it negotiated any.
pub(crate) fn accepted(
    session: &impl MediaSession,
    media_type: MediaType,
) -> Option<&[&'static str]> {
    let list = session.accepted_codecs(kind_of(media_type)?);
    (!list.is_empty()).then_some(list)
}

/// The graph `Element` of an endpoint type with `session` and `pads` fields.
macro_rules! endpoint_element {
    ($t:ty, $name:literal) => {
        impl mediaflow_graph::Element for $t {
            fn type_name(&self) -> &'static str {
                $name
            }
            fn handle_input(&mut self, buffer: mediaflow_graph::Buffer, now: std::time::Instant) {
                self.pads.input(&mut self.session, buffer, now);
            }
            fn poll_output(&mut self) -> Option<mediaflow_graph::Buffer> {
                self.pads.poll_output(&mut self.session)
            }
            fn handle_upstream(
                &mut self,
                media_type: mediaflow_graph::MediaType,
                event: mediaflow_graph::UpstreamEvent,
                now: std::time::Instant,
            ) {
                self.pads
                    .upstream_in(&mut self.session, media_type, event, now);
            }
            fn poll_upstream(
                &mut self,
            ) -> Option<(mediaflow_graph::MediaType, mediaflow_graph::UpstreamEvent)> {
                self.pads.poll_upstream()
            }
            fn poll_timeout(&mut self) -> Option<std::time::Instant> {
                self.pads.timeout(&mut self.session)
            }
            fn target_bitrate(&self, media_type: mediaflow_graph::MediaType) -> Option<u32> {
                self.pads.target_bitrate(media_type)
            }
            fn accepted_codecs(
                &self,
                media_type: mediaflow_graph::MediaType,
            ) -> Option<&[&'static str]> {
                crate::endpoint::accepted(&self.session, media_type)
            }
            fn handle_timeout(&mut self, now: std::time::Instant) {
                self.pads.timeout_in(&mut self.session, now);
            }
            fn poll_event(&mut self) -> Option<mediaflow_graph::ElementEvent> {
                self.pads.poll_event()
            }
            fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
                self
            }
        }
    };
}
pub(crate) use endpoint_element;

/// An endpoint with sockets in the runtime: the pipeline task hands it their datagrams
/// and sends what it wrote after each run.
pub(crate) trait NetEndpoint {
    /// A datagram arrived on one of the endpoint's sockets.
    fn handle_datagram(&mut self, socket: SocketId, peer: SocketAddr, data: &[u8], now: Instant);
    /// Hands what the session wrote to the runtime's sockets.
    fn send_transmits(&mut self, cx: &mut Context<'_>);
    /// Ends the session (telling the peer while the sockets exist), closes the sockets.
    fn close(&mut self, cx: &mut Context<'_>);
}

/// Sends a transmit from the socket bound to `local`, logging a failure (UDP is best
/// effort).
pub(crate) fn send_from(
    cx: &mut Context<'_>,
    sockets: &[(SocketId, SocketAddr)],
    local: SocketAddr,
    peer: SocketAddr,
    data: &[u8],
) {
    let sent = match sockets.iter().find(|(_, a)| *a == local) {
        Some((socket, _)) => cx.send_to(*socket, peer, data),
        None => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
    };
    if let Err(e) = sent {
        tracing::debug!(%local, %peer, "send failed: {e}");
    }
}
