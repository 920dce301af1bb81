//! MediaPipeline: the handles a host holds, and the core they share.
//!
//! A pipeline is a task of a [`Runtime`]: all its elements and sockets live on one
//! worker thread. API calls from any thread become closures sent to that worker; calls
//! that return something wait for the reply with a timeout. The worker never waits for
//! anyone: events leave it for the pipeline's dispatcher lane, which calls handlers with
//! no lock held, so a handler may call back into the API.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError};
use mediaflow_graph::{Element, ElementId, Graph, GraphConfig};
use mediaflow_runtime::{Context, DispatchLane, RuntimeError, TaskSender};

use crate::element::{ElementShared, MediaElement};
use crate::error::{Error, Result};
use crate::events::{ErrorEvent, Event};
use crate::registry::{lock, Listener, Registry, Scope};
use crate::runtime::Runtime;
use crate::task::{ElementMeta, EventSink, Input, PipelineTask};

static NEXT_OBJECT: AtomicU64 = AtomicU64::new(1);

/// A process-unique object id in Kurento's `<id>_<module>.<Type>` shape.
pub(crate) fn object_id(type_name: &str) -> String {
    format!(
        "{}_mediaflow.{type_name}",
        NEXT_OBJECT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Settings of a pipeline; see [`MediaPipeline::builder`].
///
/// ```
/// use mediaflow::MediaPipeline;
/// use std::time::Duration;
///
/// let pipeline = MediaPipeline::builder()
///     .flow_idle_timeout(Duration::from_millis(500))
///     .link_capacity(64)
///     .call_timeout(Duration::from_secs(2))
///     .build()?;
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MediaPipelineBuilder {
    graph: GraphConfig,
    call_timeout: Duration,
    runtime: Option<Runtime>,
}

impl MediaPipelineBuilder {
    /// How long a pad stays `Flowing` without buffers before `NotFlowing` is reported
    /// (default 2 s).
    ///
    /// ```
    /// use mediaflow::MediaPipeline;
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::builder()
    ///     .flow_idle_timeout(Duration::from_millis(300))
    ///     .build()?;
    /// // Zero is refused: a pad could never be Flowing.
    /// assert!(MediaPipeline::builder().flow_idle_timeout(Duration::ZERO).build().is_err());
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn flow_idle_timeout(mut self, idle: Duration) -> Self {
        self.graph.flow_idle = idle;
        self
    }

    /// Buffers a link holds for a busy consumer before dropping the oldest non-keyframes
    /// (default 256).
    ///
    /// ```
    /// use mediaflow::{Error, MediaPipeline};
    ///
    /// let pipeline = MediaPipeline::builder().link_capacity(1024).build()?;
    /// assert!(matches!(
    ///     MediaPipeline::builder().link_capacity(0).build(),
    ///     Err(Error::InvalidArgument(_))
    /// ));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn link_capacity(mut self, buffers: usize) -> Self {
        self.graph.link_capacity = buffers;
        self
    }

    /// How long a synchronous call waits for the pipeline's worker (default 5 s).
    ///
    /// ```
    /// use mediaflow::MediaPipeline;
    /// use std::time::Duration;
    ///
    /// // Calls (connect, process_offer, ...) give up with Error::Timeout after 1 s.
    /// let pipeline = MediaPipeline::builder().call_timeout(Duration::from_secs(1)).build()?;
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The runtime to run on (default: [`Runtime::global`]).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, Runtime};
    ///
    /// let runtime = Runtime::builder().workers(1).dispatchers(1).build()?;
    /// let a = MediaPipeline::builder().runtime(&runtime).build()?;
    /// let b = MediaPipeline::builder().runtime(&runtime).build()?;
    /// assert_eq!(runtime.worker_count(), 1); // both pipelines share the one worker
    /// a.release()?;
    /// b.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn runtime(mut self, runtime: &Runtime) -> Self {
        self.runtime = Some(runtime.clone());
        self
    }

    /// Places the pipeline on a worker of its runtime.
    ///
    /// ```
    /// use mediaflow::MediaPipeline;
    ///
    /// let pipeline = MediaPipeline::builder().build()?;
    /// assert!(!pipeline.is_released());
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn build(self) -> Result<MediaPipeline> {
        if self.graph.link_capacity == 0 {
            return Err(Error::InvalidArgument(
                "link capacity must be at least 1".into(),
            ));
        }
        if self.graph.flow_idle.is_zero() {
            return Err(Error::InvalidArgument(
                "flow idle timeout must be longer than zero".into(),
            ));
        }
        let runtime = match self.runtime {
            Some(r) => r,
            None => Runtime::global()?,
        };
        let id: Arc<str> = object_id("MediaPipeline").into();
        let registry = Arc::new(Mutex::new(Registry::default()));
        let mut lane = None;
        let graph_config = self.graph;
        let task = runtime
            .inner
            .spawn(|me, task_lane| {
                lane = Some(task_lane.clone());
                let mut graph = Graph::new(graph_config);
                graph
                    .set_transcoder_factory(Box::new(mediaflow_transcoder::CodecTranscoderFactory));
                let events = EventSink {
                    lane: task_lane,
                    registry: registry.clone(),
                };
                PipelineTask::new(graph, events, me.clone(), &id)
            })
            .map_err(|e| runtime_error(e, self.call_timeout))?;
        let lane = lane.ok_or_else(|| Error::Internal("no dispatcher lane".into()))?;
        Ok(MediaPipeline {
            core: Arc::new(PipelineCore {
                id,
                task,
                lane,
                registry,
                released: AtomicBool::new(false),
                call_timeout: self.call_timeout,
                _runtime: runtime,
            }),
        })
    }
}

fn runtime_error(e: RuntimeError, timeout: Duration) -> Error {
    match e {
        RuntimeError::Stopped => Error::PipelineReleased,
        RuntimeError::Full | RuntimeError::Timeout(_) => Error::Timeout(timeout),
        e => Error::Resource(e.to_string()),
    }
}

/// A graph of media elements, run by a worker of its [`Runtime`] (Kurento's
/// `MediaPipeline`).
///
/// Handles are cheap to clone and usable from any thread. The pipeline is released by
/// [`release`](MediaPipeline::release), or when the last handle to it or to one of its
/// elements is dropped. Event handlers that hold handles keep it alive until `release`.
///
/// ```
/// use mediaflow::{MediaPipeline, PassThrough};
///
/// let pipeline = MediaPipeline::new()?;
/// // Handles are Clone + Send + Sync: use them from any thread.
/// let elsewhere = pipeline.clone();
/// let pass = std::thread::spawn(move || PassThrough::new(&elsewhere))
///     .join()
///     .unwrap()?;
/// assert_eq!(pass.media_pipeline(), pipeline);
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone)]
pub struct MediaPipeline {
    pub(crate) core: Arc<PipelineCore>,
}

impl std::fmt::Debug for MediaPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MediaPipeline").field(&self.core.id).finish()
    }
}

impl PartialEq for MediaPipeline {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }
}

impl Eq for MediaPipeline {}

impl MediaPipeline {
    /// A pipeline with default settings.
    ///
    /// ```
    /// use mediaflow::MediaPipeline;
    ///
    /// let pipeline = MediaPipeline::new()?; // on Runtime::global()
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn new() -> Result<MediaPipeline> {
        MediaPipeline::builder().build()
    }

    /// Settings for a new pipeline.
    ///
    /// ```
    /// use mediaflow::MediaPipeline;
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::builder()
    ///     .flow_idle_timeout(Duration::from_secs(1))
    ///     .build()?;
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn builder() -> MediaPipelineBuilder {
        MediaPipelineBuilder {
            graph: GraphConfig::default(),
            call_timeout: Duration::from_secs(5),
            runtime: None,
        }
    }

    /// The pipeline's object id.
    ///
    /// ```
    /// use mediaflow::MediaPipeline;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// assert!(pipeline.id().ends_with("_mediaflow.MediaPipeline")); // Kurento's shape
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn id(&self) -> &str {
        &self.core.id
    }

    /// True once released.
    ///
    /// ```
    /// use mediaflow::MediaPipeline;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// assert!(!pipeline.is_released());
    /// pipeline.release()?;
    /// assert!(pipeline.is_released());
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn is_released(&self) -> bool {
        self.core.released.load(Ordering::Acquire)
    }

    /// Every live element of the pipeline (Kurento's `getChildren`).
    ///
    /// ```
    /// use mediaflow::{AppSink, MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// let sink = AppSink::new(&pipeline)?;
    /// let children = pipeline.get_children()?;
    /// assert_eq!(children, vec![(*pass).clone(), (*sink).clone()]); // in creation order
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_children(&self) -> Result<Vec<MediaElement>> {
        let mut shared = self.core.call(|w| {
            w.elements
                .values()
                .map(|meta| meta.shared.clone())
                .collect::<Vec<_>>()
        })?;
        shared.sort_by_key(|s| s.id);
        Ok(shared
            .into_iter()
            .map(|shared| MediaElement::from_parts(self.core.clone(), shared))
            .collect())
    }

    /// Stops the pipeline: its elements are released, its sockets closed and its memory
    /// freed (this call waits for its worker, and for the handlers of events raised
    /// before it, except when called from a handler). Further calls on it or its elements return
    /// [`Error::PipelineReleased`].
    ///
    /// ```
    /// use mediaflow::{Error, MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// pipeline.release()?; // elements released, sockets closed, worker freed
    /// assert_eq!(PassThrough::new(&pipeline).unwrap_err(), Error::PipelineReleased);
    /// assert!(pass.add_tag("k", "v").is_err());
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn release(&self) -> Result<()> {
        self.core.shutdown()
    }

    /// A receiver of every event of the pipeline and its elements. Dropping the receiver
    /// unsubscribes it.
    ///
    /// ```
    /// use mediaflow::{Event, MediaPipeline, PassThrough};
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let events = pipeline.events()?;
    /// let a = PassThrough::new(&pipeline)?;
    /// let b = PassThrough::new(&pipeline)?;
    /// a.connect(&b)?;
    /// let e = events.recv_timeout(Duration::from_secs(5)).expect("an event");
    /// assert!(matches!(e, Event::ElementConnected(_)));
    /// assert_eq!(e.source(), a.id());
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn events(&self) -> Result<Receiver<Event>> {
        let (tx, rx) = unbounded();
        self.core
            .add_listener(Scope::All, None, move |e| tx.send(e.clone()).is_ok())?;
        Ok(rx)
    }

    /// Calls `handler` for every event of the pipeline and its elements, on the
    /// pipeline's dispatcher thread (one of its runtime's, in event order).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pipeline.on_event(move |e| {
    ///     let _ = tx.send(format!("{} from {}", e.type_name(), e.source()));
    /// })?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// pass.connect(&pass)?;
    /// let line = rx.recv_timeout(std::time::Duration::from_secs(5)).expect("an event");
    /// assert!(line.starts_with("ElementConnected"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn on_event<F>(&self, handler: F) -> Result<ListenerId>
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        self.core.add_listener(Scope::All, None, move |e| {
            handler(e);
            true
        })
    }

    /// Calls `handler` for errors no element handled: `Error` events of elements that have
    /// no error handler of their own (Kurento's pipeline error handler).
    ///
    /// ```
    /// use mediaflow::MediaPipeline;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // Errors of elements without an error handler of their own land here.
    /// pipeline.on_error(|e| eprintln!("{}: {} ({})", e.source, e.description, e.error_type.as_str()))?;
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn on_error<F>(&self, handler: F) -> Result<ListenerId>
    where
        F: Fn(&ErrorEvent) + Send + Sync + 'static,
    {
        self.core
            .add_listener(Scope::Pipeline, Some(ErrorEvent::TYPE), move |e| {
                if let Event::Error(e) = e {
                    handler(e);
                }
                true
            })
    }

    /// Removes a handler added with any `on_*` method; false if it was not there.
    ///
    /// ```
    /// use mediaflow::MediaPipeline;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let id = pipeline.on_event(|e| println!("{e:?}"))?;
    /// assert!(pipeline.remove_listener(id));
    /// assert!(!pipeline.remove_listener(id)); // already gone
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.core.remove_listener(id)
    }

    pub(crate) fn add_element(&self, element: Box<dyn Element>) -> Result<MediaElement> {
        self.add_element_with(move |_| Ok(element), |_, _, _| Ok(()))
    }

    /// Adds an element made on the worker by `make` (given the worker's time), then runs
    /// `setup` there with its id (to bind what needs the id, such as sockets); if
    /// `setup` fails the element is removed again.
    pub(crate) fn add_element_with(
        &self,
        make: impl FnOnce(std::time::Instant) -> Result<Box<dyn Element>> + Send + 'static,
        setup: impl FnOnce(&mut PipelineTask, &mut Context<'_>, ElementId) -> Result<()>
            + Send
            + 'static,
    ) -> Result<MediaElement> {
        let shared = self.core.call_cx(move |w, cx| {
            let element = make(cx.now())?;
            let type_name = element.type_name();
            let id = w.graph.add(element);
            if let Err(e) = setup(w, cx, id) {
                let _ = w.graph.remove(id);
                return Err(e);
            }
            let shared = Arc::new(ElementShared {
                id,
                object_id: object_id(type_name),
                type_name,
                released: AtomicBool::new(false),
            });
            w.elements.insert(
                id,
                ElementMeta {
                    shared: shared.clone(),
                    tags: Vec::new(),
                    send_tags_in_events: false,
                },
            );
            Ok(shared)
        })??;
        Ok(MediaElement::from_parts(self.core.clone(), shared))
    }
}

/// Identifies a handler, for removal.
///
/// ```
/// use mediaflow::{MediaPipeline, PassThrough};
///
/// let pipeline = MediaPipeline::new()?;
/// let pass = PassThrough::new(&pipeline)?;
/// let id = pass.on_element_connected(|e| println!("connected to {}", e.sink))?;
/// assert!(pass.remove_listener(id));
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

impl ListenerId {
    /// The id as a number (for bindings).
    ///
    /// ```
    /// use mediaflow::{ListenerId, MediaPipeline};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let id = pipeline.on_event(|_| {})?;
    /// let n: u64 = id.as_u64(); // e.g. kept by a C or Python binding
    /// assert_eq!(ListenerId::from_u64(n), id);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// An id from `as_u64`.
    ///
    /// ```
    /// use mediaflow::{ListenerId, MediaPipeline};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let n = pipeline.on_event(|_| {})?.as_u64();
    /// assert!(pipeline.remove_listener(ListenerId::from_u64(n)));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn from_u64(id: u64) -> ListenerId {
        ListenerId(id)
    }
}

/// What every handle of one pipeline shares.
pub(crate) struct PipelineCore {
    id: Arc<str>,
    task: TaskSender<PipelineTask>,
    lane: DispatchLane,
    registry: Arc<Mutex<Registry>>,
    released: AtomicBool,
    call_timeout: Duration,
    /// Keeps the pool running while the pipeline exists.
    _runtime: Runtime,
}

impl PipelineCore {
    /// Runs `f` on the worker and waits for its result.
    pub(crate) fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut PipelineTask) -> T + Send + 'static,
    {
        self.call_cx(move |w, _| f(w))
    }

    /// Runs `f` on the worker with the worker's context (time, sockets) and waits for
    /// its result.
    pub(crate) fn call_cx<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut PipelineTask, &mut Context<'_>) -> T + Send + 'static,
    {
        if self.released.load(Ordering::Acquire) {
            return Err(Error::PipelineReleased);
        }
        let (tx, rx) = bounded(1);
        self.task
            .call(
                move |w: &mut PipelineTask, cx: &mut Context<'_>| {
                    let _pipeline = w.span.clone().entered();
                    w.now = cx.now();
                    let _ = tx.send(f(w, cx));
                },
                self.call_timeout,
            )
            .map_err(|e| runtime_error(e, self.call_timeout))?;
        rx.recv_timeout(self.call_timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => Error::Timeout(self.call_timeout),
            RecvTimeoutError::Disconnected if self.released.load(Ordering::Acquire) => {
                Error::PipelineReleased
            }
            RecvTimeoutError::Disconnected => {
                Error::Internal("the pipeline worker dropped a call".into())
            }
        })
    }

    /// Hands the pipeline an input without waiting for it to be processed; waits only
    /// while the worker's queue is full, at most the call timeout.
    pub(crate) fn input(&self, input: Input) -> Result<()> {
        if self.released.load(Ordering::Acquire) {
            return Err(Error::PipelineReleased);
        }
        self.task
            .input(input, self.call_timeout)
            .map_err(|e| runtime_error(e, self.call_timeout))
    }

    pub(crate) fn add_listener(
        &self,
        scope: Scope,
        event_type: Option<&'static str>,
        handler: impl Fn(&Event) -> bool + Send + Sync + 'static,
    ) -> Result<ListenerId> {
        if self.released.load(Ordering::Acquire) {
            return Err(Error::PipelineReleased);
        }
        let mut registry = lock(&self.registry);
        registry.next_id += 1;
        let id = registry.next_id;
        registry.listeners.push(Listener {
            id,
            scope,
            event_type,
            handler: Arc::new(handler),
        });
        Ok(ListenerId(id))
    }

    pub(crate) fn remove_listener(&self, id: ListenerId) -> bool {
        let mut registry = lock(&self.registry);
        let before = registry.listeners.len();
        registry.listeners.retain(|l| l.id != id.0);
        registry.listeners.len() != before
    }

    fn shutdown(&self) -> Result<()> {
        if self.released.swap(true, Ordering::AcqRel) {
            return Err(Error::PipelineReleased);
        }
        // The worker never waits on user code, so this wait is bounded.
        if let Err(e) = self.task.remove(self.call_timeout) {
            tracing::warn!(pipeline = %self.id, "release did not complete: {e}");
        }
        // Handlers may hold handles to this pipeline; dropping them breaks that cycle.
        // It happens on the lane, after the events raised before the release; from a
        // handler (which cannot wait for its own lane) it happens once it returns.
        let registry = self.registry.clone();
        self.lane.submit(Box::new(move || {
            let listeners = std::mem::take(&mut lock(&registry).listeners);
            drop(listeners);
        }));
        self.lane.flush(self.call_timeout);
        Ok(())
    }
}

impl Drop for PipelineCore {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use std::any::Any;

    use std::time::Instant;

    use mediaflow_graph::{Buffer, ElementEvent, ErrorType, MediaType};

    use super::*;
    use crate::elements::AppSource;

    /// Raises a decode error for every buffer it gets.
    struct Failing(Vec<ElementEvent>);

    impl Element for Failing {
        fn type_name(&self) -> &'static str {
            "Failing"
        }
        fn handle_input(&mut self, _buffer: Buffer, _now: Instant) {
            self.0.push(ElementEvent::Error {
                error_type: ErrorType::StreamErrorDecode,
                error_code: 7,
                description: "bad bitstream".into(),
            });
        }
        fn poll_output(&mut self) -> Option<Buffer> {
            None
        }
        fn poll_event(&mut self) -> Option<ElementEvent> {
            self.0.pop()
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
    }

    #[test]
    fn element_errors_reach_the_element_and_unhandled_ones_the_pipeline() {
        let wait = Duration::from_secs(5);
        let pipeline = MediaPipeline::new().unwrap();
        let source = AppSource::new(&pipeline).unwrap();
        let failing = pipeline.add_element(Box::new(Failing(Vec::new()))).unwrap();
        source.connect(&failing).unwrap();
        let (tx, pipeline_errors) = unbounded();
        pipeline
            .on_error(move |e| {
                let _ = tx.send(e.clone());
            })
            .unwrap();

        source
            .push(Buffer::new(MediaType::Video, &b"x"[..]))
            .unwrap();
        let e = pipeline_errors.recv_timeout(wait).expect("unhandled error");
        assert_eq!(e.source, failing.id());
        assert_eq!(e.error_type.as_str(), "STREAM_ERROR_DECODE");
        assert_eq!((e.error_code, e.description.as_str()), (7, "bad bitstream"));

        let (tx, element_errors) = unbounded();
        failing
            .on_error(move |e| {
                let _ = tx.send(e.clone());
            })
            .unwrap();
        source
            .push(Buffer::new(MediaType::Video, &b"y"[..]))
            .unwrap();
        assert!(element_errors.recv_timeout(wait).is_ok());
        assert!(pipeline_errors
            .recv_timeout(Duration::from_millis(200))
            .is_err());
    }
}
