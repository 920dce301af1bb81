//! MediaPipeline and its runtime: a worker thread that owns the graph, and a dispatcher
//! thread that calls event handlers.
//!
//! API calls from any thread become closures sent to the worker over a channel; calls
//! that return something wait for the reply with a timeout. The worker never waits for
//! anyone: events leave it on a second channel, and the dispatcher calls handlers with no
//! lock held, so a handler may call back into the API.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use mediaflow_graph::{
    Buffer, Connection, Element, ElementEvent, ElementId, Graph, GraphConfig, GraphEvent,
};

use crate::element::{ElementShared, MediaElement};
use crate::elements::AppSourceElement;
use crate::error::{Error, Result};
use crate::events::{
    now_millis, ElementConnectedEvent, ElementDisconnectedEvent, ErrorEvent, Event,
    MediaFlowInStateChangedEvent, MediaFlowOutStateChangedEvent, MediaTranscodingStateChangedEvent,
    DEFAULT_PAD,
};
use crate::webrtc::WebRtcEndpointElement;

static NEXT_OBJECT: AtomicU64 = AtomicU64::new(1);

/// A process-unique object id in Kurento's `<id>_<module>.<Type>` shape.
pub(crate) fn object_id(type_name: &str) -> String {
    format!(
        "{}_mediaflow.{type_name}",
        NEXT_OBJECT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Settings of a pipeline; see [`MediaPipeline::builder`].
#[derive(Clone, Debug)]
pub struct MediaPipelineBuilder {
    graph: GraphConfig,
    call_timeout: Duration,
}

impl MediaPipelineBuilder {
    /// How long a pad stays `Flowing` without buffers before `NotFlowing` is reported
    /// (default 2 s).
    pub fn flow_idle_timeout(mut self, idle: Duration) -> Self {
        self.graph.flow_idle = idle;
        self
    }

    /// Buffers a link holds for a busy consumer before dropping the oldest non-keyframes
    /// (default 256).
    pub fn link_capacity(mut self, buffers: usize) -> Self {
        self.graph.link_capacity = buffers;
        self
    }

    /// How long a synchronous call waits for the pipeline's worker (default 5 s).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Starts the pipeline's threads.
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
        let id: Arc<str> = object_id("MediaPipeline").into();
        let (commands, command_rx) = bounded(COMMAND_QUEUE);
        let (dispatch_tx, dispatch_rx) = unbounded();
        let registry = Arc::new(Mutex::new(Registry::default()));
        let mut graph = Graph::new(self.graph);
        graph.set_transcoder_factory(Box::new(mediaflow_transcoder::CodecTranscoderFactory));
        let worker = Worker {
            graph,
            elements: HashMap::new(),
            dispatch: dispatch_tx,
        };
        let worker = thread::Builder::new()
            .name("mf-pipeline".into())
            .spawn(move || worker.run(command_rx))
            .map_err(|e| Error::Resource(format!("cannot start the pipeline thread: {e}")))?;
        let dispatcher_registry = registry.clone();
        let dispatcher = thread::Builder::new()
            .name("mf-events".into())
            .spawn(move || dispatch(dispatch_rx, &dispatcher_registry));
        let dispatcher = match dispatcher {
            Ok(handle) => handle,
            Err(e) => {
                // The worker exits when its command channel closes.
                drop(commands);
                let _ = worker.join();
                return Err(Error::Resource(format!(
                    "cannot start the event thread: {e}"
                )));
            }
        };
        Ok(MediaPipeline {
            core: Arc::new(PipelineCore {
                id,
                commands,
                registry,
                threads: Mutex::new(Some(Threads {
                    dispatcher_id: dispatcher.thread().id(),
                    worker,
                    dispatcher,
                })),
                released: AtomicBool::new(false),
                call_timeout: self.call_timeout,
            }),
        })
    }
}

/// A graph of media elements, run by its own worker thread (Kurento's `MediaPipeline`).
///
/// Handles are cheap to clone and usable from any thread. The pipeline is released by
/// [`release`](MediaPipeline::release), or when the last handle to it or to one of its
/// elements is dropped. Event handlers that hold handles keep it alive until `release`.
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
    pub fn new() -> Result<MediaPipeline> {
        MediaPipeline::builder().build()
    }

    /// Settings for a new pipeline.
    pub fn builder() -> MediaPipelineBuilder {
        MediaPipelineBuilder {
            graph: GraphConfig::default(),
            call_timeout: Duration::from_secs(5),
        }
    }

    /// The pipeline's object id.
    pub fn id(&self) -> &str {
        &self.core.id
    }

    /// True once released.
    pub fn is_released(&self) -> bool {
        self.core.released.load(Ordering::Acquire)
    }

    /// Every live element of the pipeline (Kurento's `getChildren`).
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

    /// Stops the pipeline: its elements are released, its threads end (this call waits
    /// for them) and its memory is freed. Further calls on it or its elements return
    /// [`Error::PipelineReleased`].
    pub fn release(&self) -> Result<()> {
        self.core.shutdown()
    }

    /// A receiver of every event of the pipeline and its elements. Dropping the receiver
    /// unsubscribes it.
    pub fn events(&self) -> Result<Receiver<Event>> {
        let (tx, rx) = unbounded();
        self.core
            .add_listener(Scope::All, None, move |e| tx.send(e.clone()).is_ok())?;
        Ok(rx)
    }

    /// Calls `handler` for every event of the pipeline and its elements, on the
    /// dispatcher thread.
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
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.core.remove_listener(id)
    }

    pub(crate) fn add_element(&self, element: Box<dyn Element>) -> Result<MediaElement> {
        self.add_element_with(element, |_, _| Ok(()))
    }

    /// Adds an element, then runs `setup` on the worker with its id (to start what needs
    /// the id, such as socket threads); if `setup` fails the element is removed again.
    pub(crate) fn add_element_with(
        &self,
        element: Box<dyn Element>,
        setup: impl FnOnce(&mut Worker, ElementId) -> Result<()> + Send + 'static,
    ) -> Result<MediaElement> {
        let type_name = element.type_name();
        let shared = self.core.call(move |w| {
            let id = w.graph.add(element);
            if let Err(e) = setup(w, id) {
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

impl ListenerId {
    /// The id as a number (for bindings).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// An id from `as_u64`.
    pub fn from_u64(id: u64) -> ListenerId {
        ListenerId(id)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every event of the pipeline.
    All,
    /// Events raised by one element.
    Element(ElementId),
    /// Events raised on the pipeline itself, and unhandled element errors.
    Pipeline,
}

type Handler = Arc<dyn Fn(&Event) -> bool + Send + Sync>;

struct Listener {
    id: u64,
    scope: Scope,
    event_type: Option<&'static str>,
    /// Returns false when it wants to be removed (its receiver was dropped).
    handler: Handler,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    listeners: Vec<Listener>,
}

struct Threads {
    worker: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
    dispatcher_id: ThreadId,
}

/// What every handle of one pipeline shares.
pub(crate) struct PipelineCore {
    id: Arc<str>,
    commands: Sender<Command>,
    registry: Arc<Mutex<Registry>>,
    threads: Mutex<Option<Threads>>,
    released: AtomicBool,
    call_timeout: Duration,
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every critical
/// section here is a plain container update).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PipelineCore {
    /// Runs `f` on the worker and waits for its result.
    pub(crate) fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Worker) -> T + Send + 'static,
    {
        let (tx, rx) = bounded(1);
        self.send(Command::Call(Box::new(move |w| {
            let _ = tx.send(f(w));
        })))?;
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

    /// A sender for threads that feed the worker directly (socket receivers).
    pub(crate) fn command_sender(&self) -> Sender<Command> {
        self.commands.clone()
    }

    pub(crate) fn send(&self, command: Command) -> Result<()> {
        if self.released.load(Ordering::Acquire) {
            return Err(Error::PipelineReleased);
        }
        self.commands
            .send_timeout(command, self.call_timeout)
            .map_err(|e| match e {
                SendTimeoutError::Timeout(_) => Error::Timeout(self.call_timeout),
                SendTimeoutError::Disconnected(_) => Error::PipelineReleased,
            })
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
        let _ = self.commands.send(Command::Shutdown);
        let threads = lock(&self.threads).take();
        if let Some(threads) = threads {
            // The worker never waits on user code, so this join is bounded.
            let _ = threads.worker.join();
            // A handler may release its own pipeline: the dispatcher then ends by itself
            // once the handler returns, and must not wait for itself.
            if thread::current().id() != threads.dispatcher_id {
                let _ = threads.dispatcher.join();
            }
        }
        // Handlers may hold handles to this pipeline; dropping them breaks that cycle.
        let listeners = std::mem::take(&mut lock(&self.registry).listeners);
        drop(listeners);
        Ok(())
    }
}

impl Drop for PipelineCore {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

pub(crate) type Call = Box<dyn FnOnce(&mut Worker) + Send>;

pub(crate) enum Command {
    Call(Call),
    /// Buffers for an AppSource, sent without waiting (the hot path: no boxing).
    Push(ElementId, Buffer),
    /// A datagram for a WebRtcEndpoint, from its socket's receive thread.
    Datagram(ElementId, mediaflow_ice::Datagram),
    Shutdown,
}

pub(crate) struct ElementMeta {
    pub(crate) shared: Arc<ElementShared>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) send_tags_in_events: bool,
}

enum Dispatch {
    Event(Scope, Event),
    /// Drop an element's handlers, after the events raised before its release.
    Forget(ElementId),
}

/// The state owned by the worker thread.
pub(crate) struct Worker {
    pub(crate) graph: Graph,
    pub(crate) elements: HashMap<ElementId, ElementMeta>,
    dispatch: Sender<Dispatch>,
}

/// Commands waiting for the worker before senders block: bounds the memory a producer
/// faster than the pipeline can take.
const COMMAND_QUEUE: usize = 4096;

/// Commands handled before the graph runs again: enough to batch a burst of pushes,
/// few enough that media keeps moving under a flood of commands.
const COMMAND_BATCH: usize = 256;

impl Worker {
    fn run(mut self, commands: Receiver<Command>) {
        loop {
            let first = match self.graph.poll_timeout() {
                Some(deadline) => match commands.recv_deadline(deadline) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match commands.recv() {
                    Ok(c) => Some(c),
                    Err(_) => return,
                },
            };
            if let Some(first) = first {
                let batch = std::iter::once(first).chain(commands.try_iter().take(COMMAND_BATCH));
                for command in batch {
                    if !self.execute(command) {
                        return;
                    }
                }
            }
            let now = Instant::now();
            if self.graph.poll_timeout().is_some_and(|t| t <= now) {
                self.graph.handle_timeout(now);
            }
            self.graph.run(now);
            self.flush_events();
        }
    }

    /// False when the worker must stop.
    fn execute(&mut self, command: Command) -> bool {
        match command {
            Command::Call(f) => {
                // A bug in one call must not take the pipeline down: the caller sees its
                // reply channel close and gets Error::Internal.
                if catch_unwind(AssertUnwindSafe(|| f(self))).is_err() {
                    tracing::error!("a pipeline call panicked; the call was abandoned");
                }
                true
            }
            // Released meanwhile: what was on its way to it is dropped.
            Command::Push(id, buffer) => {
                if let Some(source) = self.graph.element_as::<AppSourceElement>(id) {
                    source.push(buffer);
                }
                true
            }
            Command::Datagram(id, datagram) => {
                if let Some(endpoint) = self.graph.element_as::<WebRtcEndpointElement>(id) {
                    endpoint.handle_datagram(datagram);
                }
                true
            }
            Command::Shutdown => false,
        }
    }

    /// Turns graph events into public events and hands them to the dispatcher.
    pub(crate) fn flush_events(&mut self) {
        while let Some(event) = self.graph.poll_event() {
            if let Some((scope, event)) = self.public_event(event) {
                let _ = self.dispatch.send(Dispatch::Event(scope, event));
            }
        }
    }

    fn object_id(&self, id: ElementId) -> String {
        self.elements
            .get(&id)
            .map_or_else(String::new, |m| m.shared.object_id.clone())
    }

    fn public_event(&self, event: GraphEvent) -> Option<(Scope, Event)> {
        let (element, event) = match event {
            GraphEvent::ElementConnected(c) => (c.source, self.link_event(c, true)),
            GraphEvent::ElementDisconnected(c) => (c.source, self.link_event(c, false)),
            GraphEvent::MediaFlowIn {
                element,
                media_type,
                state,
            } => (
                element,
                Event::MediaFlowInStateChanged(MediaFlowInStateChangedEvent {
                    source: self.object_id(element),
                    timestamp_millis: now_millis(),
                    tags: Vec::new(),
                    state,
                    pad_name: DEFAULT_PAD.into(),
                    media_type,
                }),
            ),
            GraphEvent::MediaFlowOut {
                element,
                media_type,
                state,
            } => (
                element,
                Event::MediaFlowOutStateChanged(MediaFlowOutStateChangedEvent {
                    source: self.object_id(element),
                    timestamp_millis: now_millis(),
                    tags: Vec::new(),
                    state,
                    pad_name: DEFAULT_PAD.into(),
                    media_type,
                }),
            ),
            GraphEvent::Element { element, event } => {
                let source = self.object_id(element);
                let timestamp_millis = now_millis();
                let event = match event {
                    ElementEvent::Error {
                        error_type,
                        error_code,
                        description,
                    } => Event::Error(ErrorEvent {
                        source,
                        timestamp_millis,
                        tags: Vec::new(),
                        description,
                        error_code,
                        error_type,
                    }),
                    ElementEvent::TranscodingStateChanged {
                        media_type,
                        state,
                        bin_name,
                    } => Event::MediaTranscodingStateChanged(MediaTranscodingStateChangedEvent {
                        source,
                        timestamp_millis,
                        tags: Vec::new(),
                        state,
                        bin_name,
                        media_type,
                    }),
                    ElementEvent::Custom(any) => {
                        match any.downcast::<mediaflow_rtp::SessionEvent>() {
                            Ok(e) => crate::webrtc::public_event(*e, source, timestamp_millis)?,
                            Err(_) => {
                                tracing::debug!(%element, "element event with no public form dropped");
                                return None;
                            }
                        }
                    }
                };
                (element, event)
            }
        };
        let mut event = event;
        let meta = self.elements.get(&element)?;
        if meta.send_tags_in_events {
            *event.tags_mut() = meta.tags.clone();
        }
        Some((Scope::Element(element), event))
    }

    fn link_event(&self, c: Connection, connected: bool) -> Event {
        let source = self.object_id(c.source);
        let sink = self.object_id(c.sink);
        let timestamp_millis = now_millis();
        let media_type = c.media_type;
        let pad = || DEFAULT_PAD.to_string();
        if connected {
            Event::ElementConnected(ElementConnectedEvent {
                source,
                timestamp_millis,
                tags: Vec::new(),
                sink,
                media_type,
                source_media_description: pad(),
                sink_media_description: pad(),
            })
        } else {
            Event::ElementDisconnected(ElementDisconnectedEvent {
                source,
                timestamp_millis,
                tags: Vec::new(),
                sink,
                media_type,
                source_media_description: pad(),
                sink_media_description: pad(),
            })
        }
    }

    /// Removes an element: its links go (reported), then its events, then its handlers.
    pub(crate) fn release_element(&mut self, id: ElementId) -> bool {
        if self.graph.remove(id).is_err() {
            return false;
        }
        self.flush_events();
        if let Some(meta) = self.elements.remove(&id) {
            meta.shared.released.store(true, Ordering::Release);
        }
        let _ = self.dispatch.send(Dispatch::Forget(id));
        true
    }
}

/// The dispatcher thread: calls handlers in event order until the worker is gone.
fn dispatch(events: Receiver<Dispatch>, registry: &Mutex<Registry>) {
    let mut handlers: Vec<(u64, Handler)> = Vec::new();
    for message in events {
        let (scope, event) = match message {
            Dispatch::Event(scope, event) => (scope, event),
            Dispatch::Forget(id) => {
                lock(registry)
                    .listeners
                    .retain(|l| l.scope != Scope::Element(id));
                continue;
            }
        };
        let is_error = matches!(event, Event::Error(_));
        {
            let registry = lock(registry);
            let wants = |l: &&Listener| l.event_type.is_none_or(|t| t == event.type_name());
            let mut matching = registry
                .listeners
                .iter()
                .filter(|l| l.scope == Scope::All || l.scope == scope)
                .filter(wants);
            handlers.extend(matching.by_ref().map(|l| (l.id, l.handler.clone())));
            // An element error nobody on the element listens for goes to the pipeline.
            let handled = handlers.iter().any(|(id, _)| {
                registry
                    .listeners
                    .iter()
                    .any(|l| l.id == *id && l.scope == scope)
            });
            if is_error && !handled {
                handlers.extend(
                    registry
                        .listeners
                        .iter()
                        .filter(|l| l.scope == Scope::Pipeline)
                        .filter(wants)
                        .map(|l| (l.id, l.handler.clone())),
                );
            }
        }
        for (id, handler) in handlers.drain(..) {
            let keep = catch_unwind(AssertUnwindSafe(|| handler(&event))).unwrap_or_else(|_| {
                tracing::error!(event = event.type_name(), "an event handler panicked");
                true
            });
            if !keep {
                lock(registry).listeners.retain(|l| l.id != id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::any::Any;

    use mediaflow_graph::{ErrorType, MediaType};

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
