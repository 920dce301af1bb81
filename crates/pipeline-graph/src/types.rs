//! Vocabulary shared by every layer: media types, pad states, buffers, ids.

use std::fmt;

use bytes::Bytes;

/// Kind of media a pad carries (Kurento's `MediaType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MediaType {
    /// Audio samples or encoded audio frames.
    Audio,
    /// Video frames or encoded video frames.
    Video,
    /// Application data (data channels).
    Data,
}

impl MediaType {
    /// All media types, in pad order. `connect` without a media type connects each of these.
    pub const ALL: [MediaType; 3] = [MediaType::Audio, MediaType::Video, MediaType::Data];

    /// Index of this type's pad in per-type arrays.
    pub const fn index(self) -> usize {
        match self {
            MediaType::Audio => 0,
            MediaType::Video => 1,
            MediaType::Data => 2,
        }
    }

    /// Kurento's spelling: `AUDIO`, `VIDEO`, `DATA`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MediaType::Audio => "AUDIO",
            MediaType::Video => "VIDEO",
            MediaType::Data => "DATA",
        }
    }

    /// Parses Kurento's spelling (case-insensitive); `None` for anything else.
    pub fn parse(s: &str) -> Option<MediaType> {
        MediaType::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// State of media through a pad (Kurento's `MediaFlowState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaFlowState {
    /// Buffers are passing through the pad.
    Flowing,
    /// No buffer passed for the pipeline's idle time.
    NotFlowing,
}

impl MediaFlowState {
    /// Kurento's spelling: `FLOWING`, `NOT_FLOWING`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MediaFlowState::Flowing => "FLOWING",
            MediaFlowState::NotFlowing => "NOT_FLOWING",
        }
    }
}

/// Whether an element converts the media it passes on (Kurento's `MediaTranscodingState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaTranscodingState {
    /// The input is decoded and re-encoded for at least one consumer.
    Transcoding,
    /// The input is forwarded as it came.
    NotTranscoding,
}

impl MediaTranscodingState {
    /// Kurento's spelling: `TRANSCODING`, `NOT_TRANSCODING`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MediaTranscodingState::Transcoding => "TRANSCODING",
            MediaTranscodingState::NotTranscoding => "NOT_TRANSCODING",
        }
    }
}

/// A unit of media moving along a link.
///
/// The payload is reference counted, so fan-out to many sinks copies no bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Which pad the buffer belongs to.
    pub media_type: MediaType,
    /// The payload: an RTP packet, an encoded frame or raw samples, depending on the link.
    pub data: Bytes,
    /// Presentation time in microseconds on the producer's clock; 0 when unknown.
    /// RTP from a peer carries the sender's capture time (NTP, microseconds since
    /// 1900, from its RTCP Sender Reports: 0 until the first), a player the media's
    /// time in its file. Audio and video of one producer share the clock, which is
    /// how a recorder lines them up.
    pub pts_micros: u64,
    /// True when a decoder can start from this buffer; the drop policy keeps these longest.
    pub keyframe: bool,
    /// The codec of the payload as its SDP mime type (`video/VP8`), when it is encoded
    /// media; a sink uses it to pick its payload type, or to know it must transcode.
    pub codec: Option<&'static str>,
    /// On DATA pads, the WebRTC data channel a message arrived on (or is meant for) and
    /// whether it is text; `None` for media and for data of no channel.
    pub data_channel: Option<DataChannelMeta>,
}

/// Which data channel a DATA buffer belongs to, so the endpoint it reaches sends it on
/// the channel of the same label (the loopback echoes on the channel it came from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataChannelMeta {
    /// The SCTP stream id of the channel (Kurento's `channelId`).
    pub stream_id: u16,
    /// The channel's label.
    pub label: std::sync::Arc<str>,
    /// A binary message (PPID 53/57) rather than a string (51/56).
    pub binary: bool,
}

impl Buffer {
    /// A non-keyframe buffer with a zero timestamp.
    pub fn new(media_type: MediaType, data: impl Into<Bytes>) -> Buffer {
        Buffer {
            media_type,
            data: data.into(),
            pts_micros: 0,
            keyframe: false,
            codec: None,
            data_channel: None,
        }
    }
}

/// Identifies an element inside one graph. Slots are reused, so the generation tells
/// a released element's id apart from its successor's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElementId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl fmt::Display for ElementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}v{}", self.index, self.generation)
    }
}
