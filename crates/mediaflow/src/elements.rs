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
///
/// ```
/// use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType, PassThrough};
/// use std::time::Duration;
///
/// let pipeline = MediaPipeline::new()?;
/// let (source, pass, sink) = (AppSource::new(&pipeline)?, PassThrough::new(&pipeline)?, AppSink::new(&pipeline)?);
/// source.connect(&pass)?;
/// pass.connect(&sink)?;
/// source.push(Buffer::new(MediaType::Audio, &b"unchanged"[..]))?;
/// assert_eq!(&sink.recv_timeout(Duration::from_secs(5)).expect("a buffer").data[..], b"unchanged");
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassThrough {
    element: MediaElement,
}

element_handle!(PassThrough);

impl PassThrough {
    /// Creates a PassThrough in `pipeline`.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// assert_eq!(pass.type_name(), "PassThrough");
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
///
/// ```
/// use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType};
/// use std::time::Duration;
///
/// let pipeline = MediaPipeline::new()?;
/// let source = AppSource::new(&pipeline)?;
/// let sink = AppSink::new(&pipeline)?;
/// source.connect(&sink)?;
/// let mut buffer = Buffer::new(MediaType::Video, vec![0x90, 0x60, 0, 1]);
/// buffer.codec = Some("video/VP8"); // RTP of a negotiated codec, for endpoints downstream
/// buffer.keyframe = true;
/// source.push(buffer)?;
/// let out = sink.recv_timeout(Duration::from_secs(5)).expect("a buffer");
/// assert_eq!((out.media_type, out.codec, out.keyframe), (MediaType::Video, Some("video/VP8"), true));
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AppSource {
    element: MediaElement,
    keyframe_requests: Arc<AtomicU64>,
}

element_handle!(AppSource);

impl AppSource {
    /// Creates an AppSource in `pipeline`.
    ///
    /// ```
    /// use mediaflow::{AppSource, MediaPipeline};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let source = AppSource::new(&pipeline)?;
    /// assert_eq!(source.type_name(), "AppSource");
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::{AppSink, AppSource, Buffer, Error, MediaPipeline, MediaType};
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let source = AppSource::new(&pipeline)?;
    /// let sink = AppSink::new(&pipeline)?;
    /// source.connect(&sink)?;
    /// for n in 0..3u8 {
    ///     source.push(Buffer::new(MediaType::Audio, vec![n]))?;
    /// }
    /// let got: Vec<u8> = (0..3).filter_map(|_| sink.recv_timeout(Duration::from_secs(5))).map(|b| b.data[0]).collect();
    /// assert_eq!(got, [0, 1, 2]); // in order
    /// pipeline.release()?;
    /// assert_eq!(source.push(Buffer::new(MediaType::Audio, vec![9])), Err(Error::PipelineReleased));
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn push(&self, buffer: Buffer) -> Result<()> {
        self.element.check()?;
        self.element
            .core
            .input(Input::Push(self.element.element_id(), buffer))
    }

    /// How many keyframe requests reached this source from its consumers so far.
    ///
    /// ```
    /// use mediaflow::{AppSink, AppSource, MediaPipeline};
    /// use std::time::{Duration, Instant};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let camera = AppSource::new(&pipeline)?;
    /// assert_eq!(camera.keyframe_requests(), 0);
    /// // A new video consumer asks its source for a keyframe (answer it with one).
    /// camera.connect(&AppSink::new(&pipeline)?)?;
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// while camera.keyframe_requests() == 0 {
    ///     assert!(Instant::now() < deadline, "no keyframe request");
    ///     std::thread::sleep(Duration::from_millis(5));
    /// }
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
///
/// ```
/// use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType};
/// use std::time::Duration;
///
/// let pipeline = MediaPipeline::new()?;
/// let source = AppSource::new(&pipeline)?;
/// let sink = AppSink::with_capacity(&pipeline, 16)?;
/// source.connect(&sink)?;
/// source.push(Buffer::new(MediaType::Video, &b"frame"[..]))?;
/// let b = sink.recv_timeout(Duration::from_secs(5)).expect("a buffer");
/// assert_eq!(&b.data[..], b"frame");
/// assert_eq!(sink.dropped(), 0);
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AppSink {
    element: MediaElement,
    buffers: Receiver<Buffer>,
    dropped: Arc<AtomicU64>,
}

element_handle!(AppSink);

impl AppSink {
    /// An AppSink holding up to 1024 buffers for the host.
    ///
    /// ```
    /// use mediaflow::{AppSink, MediaPipeline};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let sink = AppSink::new(&pipeline)?; // holds up to 1024 buffers
    /// assert!(sink.try_recv().is_none());
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn new(pipeline: &MediaPipeline) -> Result<AppSink> {
        AppSink::with_capacity(pipeline, 1024)
    }

    /// An AppSink holding up to `capacity` buffers for the host.
    ///
    /// ```
    /// use mediaflow::{AppSink, Error, MediaPipeline};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let sink = AppSink::with_capacity(&pipeline, 10_000)?;
    /// assert!(matches!(AppSink::with_capacity(&pipeline, 0), Err(Error::InvalidArgument(_))));
    /// # drop(sink);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn with_capacity(pipeline: &MediaPipeline, capacity: usize) -> Result<AppSink> {
        AppSink::with_codecs(pipeline, capacity, &[])
    }

    /// An AppSink that takes only `codecs` (SDP mime types such as `"video/H264"` or
    /// `"audio/PCMU"`, preferred first; a media type not named takes anything): media of
    /// another codec reaches it through a transcoder the pipeline inserts, as it would
    /// for a WebRtcEndpoint whose peer negotiated only those codecs.
    ///
    /// ```
    /// use mediaflow::{codec, AppSink, MediaPipeline};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // Video reaches this sink as H.264 whatever its source sends (transcoded if needed);
    /// // audio, not named, comes as it is.
    /// let sink = AppSink::with_codecs(&pipeline, 1024, &[codec::H264])?;
    /// # drop(sink);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::{AppSink, MediaPipeline};
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let sink = AppSink::new(&pipeline)?;
    /// assert!(sink.recv_timeout(Duration::from_millis(10)).is_none()); // nothing connected
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Buffer> {
        self.buffers.recv_timeout(timeout).ok()
    }

    /// The next buffer if one is waiting.
    ///
    /// ```
    /// use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType};
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let source = AppSource::new(&pipeline)?;
    /// let sink = AppSink::new(&pipeline)?;
    /// source.connect(&sink)?;
    /// source.push(Buffer::new(MediaType::Data, &b"x"[..]))?;
    /// std::thread::sleep(Duration::from_millis(200));
    /// let drained: Vec<_> = std::iter::from_fn(|| sink.try_recv()).collect(); // never blocks
    /// assert!(drained.len() <= 1);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn try_recv(&self) -> Option<Buffer> {
        self.buffers.try_recv().ok()
    }

    /// The queue itself, for `select!` with other channels.
    ///
    /// ```
    /// use mediaflow::{AppSink, MediaPipeline};
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let sink = AppSink::new(&pipeline)?;
    /// let events = pipeline.events()?;
    /// crossbeam_channel::select! {
    ///     recv(sink.receiver()) -> buffer => println!("media: {buffer:?}"),
    ///     recv(events) -> event => println!("event: {event:?}"),
    ///     default(Duration::from_millis(10)) => println!("nothing yet"),
    /// }
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn receiver(&self) -> &Receiver<Buffer> {
        &self.buffers
    }

    /// Buffers dropped because the host did not take them in time.
    ///
    /// ```
    /// use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType};
    /// use std::time::{Duration, Instant};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let source = AppSource::new(&pipeline)?;
    /// let sink = AppSink::with_capacity(&pipeline, 2)?; // a host that does not read
    /// source.connect(&sink)?;
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// while sink.dropped() == 0 {
    ///     assert!(Instant::now() < deadline);
    ///     source.push(Buffer::new(MediaType::Audio, &b"s"[..]))?;
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
