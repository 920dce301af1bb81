//! The element types a user creates: PassThrough, and AppSource / AppSink for a host
//! that feeds media into a pipeline or takes it out in-process.

use std::any::Any;
use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use mediaflow_graph::{Buffer, Element, MediaType, UpstreamEvent};

use crate::element::MediaElement;
use crate::error::{Error, Result};
use crate::pipeline::MediaPipeline;
use crate::task::Input;

/// Gives a typed handle the MediaElement API.
macro_rules! element_handle {
    ($name:ident) => {
        impl Deref for $name {
            type Target = MediaElement;
            fn deref(&self) -> &MediaElement {
                &self.element
            }
        }

        impl AsRef<MediaElement> for $name {
            fn as_ref(&self) -> &MediaElement {
                &self.element
            }
        }

        impl From<$name> for MediaElement {
            fn from(handle: $name) -> MediaElement {
                handle.element
            }
        }
    };
}

/// Forwards its input unchanged (Kurento's `PassThrough`); keyframe requests from its
/// consumers go on to its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassThrough {
    element: MediaElement,
}

element_handle!(PassThrough);

impl PassThrough {
    /// Creates a PassThrough in `pipeline`.
    pub fn new(pipeline: &MediaPipeline) -> Result<PassThrough> {
        let element = pipeline.add_element(Box::new(mediaflow_graph::PassThrough::new()))?;
        Ok(PassThrough { element })
    }
}

/// The graph side of an [`AppSource`].
pub(crate) struct AppSourceElement {
    queue: VecDeque<Buffer>,
    keyframe_requests: Arc<AtomicU64>,
}

impl AppSourceElement {
    pub(crate) fn push(&mut self, buffer: Buffer) {
        self.queue.push_back(buffer);
    }
}

impl Element for AppSourceElement {
    fn type_name(&self) -> &'static str {
        "AppSource"
    }

    fn handle_input(&mut self, _buffer: Buffer, _now: Instant) {}

    fn poll_output(&mut self) -> Option<Buffer> {
        self.queue.pop_front()
    }

    fn handle_upstream(&mut self, _media_type: MediaType, event: UpstreamEvent, _now: Instant) {
        match event {
            UpstreamEvent::KeyframeRequest => {
                self.keyframe_requests.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Feeds buffers from the host program into a pipeline: what it is given leaves its
/// source pad of the buffer's media type.
#[derive(Clone, Debug)]
pub struct AppSource {
    element: MediaElement,
    keyframe_requests: Arc<AtomicU64>,
}

element_handle!(AppSource);

impl AppSource {
    /// Creates an AppSource in `pipeline`.
    pub fn new(pipeline: &MediaPipeline) -> Result<AppSource> {
        let keyframe_requests = Arc::new(AtomicU64::new(0));
        let element = pipeline.add_element(Box::new(AppSourceElement {
            queue: VecDeque::new(),
            keyframe_requests: keyframe_requests.clone(),
        }))?;
        Ok(AppSource {
            element,
            keyframe_requests,
        })
    }

    /// Sends a buffer into the pipeline without waiting for it to be processed. Blocks
    /// only while the pipeline's command queue is full (backpressure), at most the
    /// pipeline's call timeout.
    pub fn push(&self, buffer: Buffer) -> Result<()> {
        self.element.check()?;
        self.element
            .core
            .input(Input::Push(self.element.element_id(), buffer))
    }

    /// How many keyframe requests reached this source from its consumers so far.
    pub fn keyframe_requests(&self) -> u64 {
        self.keyframe_requests.load(Ordering::Relaxed)
    }
}

/// The graph side of an [`AppSink`].
struct AppSinkElement {
    buffers: Sender<Buffer>,
    dropped: Arc<AtomicU64>,
    want_keyframe: bool,
    /// Codecs the host takes per media type (empty: anything).
    video_codecs: Vec<&'static str>,
    audio_codecs: Vec<&'static str>,
}

impl Element for AppSinkElement {
    fn type_name(&self) -> &'static str {
        "AppSink"
    }

    fn accepted_codecs(&self, media_type: MediaType) -> Option<&[&'static str]> {
        let list = match media_type {
            MediaType::Video => &self.video_codecs,
            MediaType::Audio => &self.audio_codecs,
            _ => return None,
        };
        (!list.is_empty()).then_some(list.as_slice())
    }

    fn handle_input(&mut self, buffer: Buffer, _now: Instant) {
        let video = buffer.media_type == MediaType::Video;
        match self.buffers.try_send(buffer) {
            Ok(()) => {}
            // A real-time consumer that falls behind loses media rather than stalling
            // the pipeline; video then needs a fresh keyframe to decode again.
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.want_keyframe |= video;
            }
        }
    }

    fn poll_output(&mut self) -> Option<Buffer> {
        None
    }

    fn poll_upstream(&mut self) -> Option<(MediaType, UpstreamEvent)> {
        std::mem::take(&mut self.want_keyframe)
            .then_some((MediaType::Video, UpstreamEvent::KeyframeRequest))
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

fn of_kind(codecs: &[&'static str], prefix: &str) -> Vec<&'static str> {
    codecs
        .iter()
        .copied()
        .filter(|c| c.len() > prefix.len() && c[..prefix.len()].eq_ignore_ascii_case(prefix))
        .collect()
}

/// Hands buffers reaching its sink pads to the host program through a bounded queue.
/// When the host does not keep up, new buffers are dropped (counted) and a keyframe is
/// requested upstream.
#[derive(Clone, Debug)]
pub struct AppSink {
    element: MediaElement,
    buffers: Receiver<Buffer>,
    dropped: Arc<AtomicU64>,
}

element_handle!(AppSink);

impl AppSink {
    /// An AppSink holding up to 1024 buffers for the host.
    pub fn new(pipeline: &MediaPipeline) -> Result<AppSink> {
        AppSink::with_capacity(pipeline, 1024)
    }

    /// An AppSink holding up to `capacity` buffers for the host.
    pub fn with_capacity(pipeline: &MediaPipeline, capacity: usize) -> Result<AppSink> {
        AppSink::with_codecs(pipeline, capacity, &[])
    }

    /// An AppSink that takes only `codecs` (SDP mime types such as `"video/H264"` or
    /// `"audio/PCMU"`, preferred first; a media type not named takes anything): media of
    /// another codec reaches it through a transcoder the pipeline inserts, as it would
    /// for a WebRtcEndpoint whose peer negotiated only those codecs.
    pub fn with_codecs(
        pipeline: &MediaPipeline,
        capacity: usize,
        codecs: &[&'static str],
    ) -> Result<AppSink> {
        if capacity == 0 {
            return Err(Error::InvalidArgument(
                "AppSink capacity must be at least 1".into(),
            ));
        }
        let (tx, buffers) = bounded(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let element = pipeline.add_element(Box::new(AppSinkElement {
            buffers: tx,
            dropped: dropped.clone(),
            want_keyframe: false,
            video_codecs: of_kind(codecs, "video/"),
            audio_codecs: of_kind(codecs, "audio/"),
        }))?;
        Ok(AppSink {
            element,
            buffers,
            dropped,
        })
    }

    /// The next buffer, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Buffer> {
        self.buffers.recv_timeout(timeout).ok()
    }

    /// The next buffer if one is waiting.
    pub fn try_recv(&self) -> Option<Buffer> {
        self.buffers.try_recv().ok()
    }

    /// The queue itself, for `select!` with other channels.
    pub fn receiver(&self) -> &Receiver<Buffer> {
        &self.buffers
    }

    /// Buffers dropped because the host did not take them in time.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
