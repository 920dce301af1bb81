//! The contract between the scheduler and an element: a sans-IO state machine that takes
//! input and time, and is polled for output. An element never calls a neighbour.

use std::any::Any;
use std::collections::VecDeque;
use std::time::Instant;

use crate::types::{Buffer, MediaTranscodingState, MediaType};

/// A request that travels against the media, from a sink towards the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamEvent {
    /// A consumer needs a decodable starting point (PLI/FIR at the RTP edge).
    KeyframeRequest,
}

/// Kurento's error `type` strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Unclassified error (Kurento's default).
    UnexpectedElementError,
    /// An error no element handled, raised on the pipeline.
    UnexpectedPipelineError,
    /// A local file or resource could not be opened.
    ResourceErrorOpen,
    /// A write to storage failed.
    ResourceErrorWrite,
    /// Storage is full.
    ResourceErrorNoSpaceLeft,
    /// A received stream could not be decoded.
    StreamErrorDecode,
    /// A generic media flow failure.
    StreamErrorFailed,
    /// A URI could not be used.
    InvalidUri,
    /// Media of an unusable kind or format.
    InvalidMedia,
}

impl ErrorType {
    /// The exact string Kurento puts in the event's `type` field.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::UnexpectedElementError => "UNEXPECTED_ELEMENT_ERROR",
            ErrorType::UnexpectedPipelineError => "UNEXPECTED_PIPELINE_ERROR",
            ErrorType::ResourceErrorOpen => "RESOURCE_ERROR_OPEN",
            ErrorType::ResourceErrorWrite => "RESOURCE_ERROR_WRITE",
            ErrorType::ResourceErrorNoSpaceLeft => "RESOURCE_ERROR_NO_SPACE_LEFT",
            ErrorType::StreamErrorDecode => "STREAM_ERROR_DECODE",
            ErrorType::StreamErrorFailed => "STREAM_ERROR_FAILED",
            ErrorType::InvalidUri => "INVALID_URI",
            ErrorType::InvalidMedia => "INVALID_MEDIA",
        }
    }
}

/// Something an element reports about itself, turned into a public event by the engine.
#[derive(Debug)]
pub enum ElementEvent {
    /// Kurento's `Error` event.
    Error {
        /// Kurento's `type` string.
        error_type: ErrorType,
        /// Numeric code; elements use their own ranges.
        error_code: i32,
        /// Human-readable cause.
        description: String,
    },
    /// Kurento's `MediaTranscodingStateChanged`.
    TranscodingStateChanged {
        /// Which media is (not) being converted.
        media_type: MediaType,
        /// The new state.
        state: MediaTranscodingState,
        /// Name of the internal branch doing the work.
        bin_name: String,
    },
    /// An event only this element type knows; the owning layer downcasts it.
    Custom(Box<dyn Any + Send>),
}

/// A node of the media graph.
///
/// The scheduler feeds `handle_input` with buffers arriving on the element's sink pads and
/// drains `poll_output` into the links of its source pads; time only enters through the
/// `now` arguments, so an element is testable on virtual time.
pub trait Element: Send + 'static {
    /// Kurento's class name, e.g. `PassThrough`.
    fn type_name(&self) -> &'static str;

    /// A buffer arrived on the sink pad of `buffer.media_type`.
    fn handle_input(&mut self, buffer: Buffer, now: Instant);

    /// The next buffer leaving through the source pad of its `media_type`.
    fn poll_output(&mut self) -> Option<Buffer>;

    /// False while the element cannot take more input on `media_type`; buffers then wait in
    /// the link's bounded queue.
    fn accepts_input(&self, _media_type: MediaType) -> bool {
        true
    }

    /// A consumer of this element's `media_type` source pad asks for something.
    fn handle_upstream(&mut self, _media_type: MediaType, _event: UpstreamEvent, _now: Instant) {}

    /// A request this element sends to whatever feeds its sink pad of that media type.
    fn poll_upstream(&mut self) -> Option<(MediaType, UpstreamEvent)> {
        None
    }

    /// The next instant this element wants `handle_timeout` called. `&mut` so that an
    /// element may work it out only when the graph asks (after `run`, and in
    /// `handle_timeout`), rather than after every buffer it took.
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }

    /// Time advanced to `now`.
    fn handle_timeout(&mut self, _now: Instant) {}

    /// Something to report as an event.
    fn poll_event(&mut self) -> Option<ElementEvent> {
        None
    }

    /// The codecs this element can take on its sink pad of `media_type` (SDP mime
    /// types, preferred first), or `None` when it takes anything. Buffers of another
    /// codec reach it through a transcoder the graph inserts on the link.
    fn accepted_codecs(&self, _media_type: MediaType) -> Option<&[&'static str]> {
        None
    }

    /// The bitrate this element's peer can take for `media_type`, in bits per second
    /// (its REMB), for encoders that feed it.
    fn target_bitrate(&self, _media_type: MediaType) -> Option<u32> {
        None
    }

    /// Access to the concrete type, for element-specific operations of the owning layer.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Converts the media of one link from one codec to another, off the forwarding path
/// (its work runs on its own thread; `push` never blocks and drops when behind).
pub trait LinkTranscoder: Send {
    /// The codec it converts from.
    fn source_codec(&self) -> &'static str;
    /// The codec it produces.
    fn target_codec(&self) -> &'static str;
    /// A buffer of the source codec.
    fn push(&mut self, buffer: Buffer);
    /// The next converted buffer, if one is ready.
    fn poll(&mut self) -> Option<Buffer>;
    /// The consumer needs a keyframe: the encoder makes the next frame one.
    fn request_keyframe(&mut self);
    /// True (once) when the decoder needs a keyframe from the source (start, loss).
    fn poll_keyframe_request(&mut self) -> bool;
    /// A decoding failure to report (Kurento's STREAM_ERROR_DECODE).
    fn poll_error(&mut self) -> Option<String>;
    /// The bitrate the consumer can take, in bits per second (from its receiver's REMB).
    fn set_target_bitrate(&mut self, _bps: u32) {}
    /// Asks the transcoder to call `wake` whenever it has something to poll (output, a
    /// keyframe request, an error). True when it will; a transcoder that cannot is
    /// polled every few milliseconds instead.
    fn set_wake(&mut self, _wake: Wake) -> bool {
        false
    }
}

/// Tells a pipeline's runtime that something made off its worker (a transcoder's
/// output) is ready to be polled.
pub type Wake = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Makes transcoders for links whose sink does not take the source's codec.
pub trait TranscoderFactory: Send {
    /// A transcoder from `from` to `to`, or `None` when that conversion is not supported.
    fn create(
        &mut self,
        media_type: MediaType,
        from: &'static str,
        to: &'static str,
    ) -> Option<Box<dyn LinkTranscoder>>;
}

/// Forwards every buffer unchanged, and keyframe requests upstream (Kurento's `PassThrough`).
#[derive(Debug, Default)]
pub struct PassThrough {
    pending: VecDeque<Buffer>,
    upstream: VecDeque<(MediaType, UpstreamEvent)>,
}

impl PassThrough {
    /// An empty PassThrough.
    pub fn new() -> PassThrough {
        PassThrough::default()
    }
}

impl Element for PassThrough {
    fn type_name(&self) -> &'static str {
        "PassThrough"
    }

    fn handle_input(&mut self, buffer: Buffer, _now: Instant) {
        self.pending.push_back(buffer);
    }

    fn poll_output(&mut self) -> Option<Buffer> {
        self.pending.pop_front()
    }

    fn handle_upstream(&mut self, media_type: MediaType, event: UpstreamEvent, _now: Instant) {
        self.upstream.push_back((media_type, event));
    }

    fn poll_upstream(&mut self) -> Option<(MediaType, UpstreamEvent)> {
        self.upstream.pop_front()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
