//! A pipeline as the runtime runs it: the graph, its elements' metadata and the sockets
//! of its endpoints, on one worker thread. Nothing here takes a lock on the media path.

use rustc_hash::FxHashMap as HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mediaflow_graph::{Buffer, ElementId, Graph};
use mediaflow_runtime::{Context, DispatchLane, SocketId, Task, TaskSender};

use crate::element::ElementShared;
use crate::elements::AppSourceElement;
use crate::endpoint::NetEndpoint;
use crate::registry::{self, Registry};
use crate::rtp::RtpEndpointElement;
use crate::translate::Elements;
use crate::webrtc::WebRtcEndpointElement;

pub(crate) struct ElementMeta {
    pub(crate) shared: Arc<ElementShared>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) send_tags_in_events: bool,
}

/// What other threads hand a pipeline without boxing.
pub(crate) enum Input {
    /// Buffers for an AppSource (the host's hot path).
    Push(ElementId, Buffer),
    /// A transcoder of the graph has output: run.
    Wake,
}

/// Where a pipeline's events go: its lane of the runtime's dispatchers, and the
/// handlers registered on it.
pub(crate) struct EventSink {
    pub(crate) lane: DispatchLane,
    pub(crate) registry: Arc<Mutex<Registry>>,
}

/// Where a socket's datagrams go: its endpoint, and the endpoint's span once made.
struct Route {
    id: ElementId,
    span: Option<tracing::Span>,
}

/// One pipeline on its worker.
pub(crate) struct PipelineTask {
    pub(crate) graph: Graph,
    pub(crate) elements: HashMap<ElementId, ElementMeta>,
    /// Which endpoint each socket belongs to (one lookup per datagram).
    sockets: HashMap<SocketId, Route>,
    /// Endpoints, whose transmits are sent after each run.
    endpoints: Vec<ElementId>,
    events: EventSink,
    /// The worker's time at the current call.
    pub(crate) now: Instant,
    /// A `Wake` is on its way: transcoders do not send another.
    wake_pending: Arc<AtomicBool>,
    /// `pipeline{id=..}`: entered whenever the worker runs this pipeline, so whatever is
    /// logged meanwhile names the pipeline (ERROR level: enabled whenever any of our
    /// logs are, since a span only gives context).
    pub(crate) span: tracing::Span,
    /// `endpoint{id=..}` inside the pipeline's span, per endpoint, made on first use.
    endpoint_spans: HashMap<ElementId, tracing::Span>,
}

impl PipelineTask {
    pub(crate) fn new(
        mut graph: Graph,
        events: EventSink,
        me: TaskSender<PipelineTask>,
        id: &str,
    ) -> Self {
        let wake_pending = Arc::new(AtomicBool::new(false));
        let (pending, sender) = (wake_pending.clone(), me);
        graph.set_wake(Arc::new(move || {
            // One wake-up in flight at most, however many packets a transcoder makes.
            if !pending.swap(true, Ordering::AcqRel) && sender.try_input(Input::Wake).is_err() {
                pending.store(false, Ordering::Release);
            }
        }));
        PipelineTask {
            graph,
            elements: HashMap::default(),
            sockets: HashMap::default(),
            endpoints: Vec::new(),
            events,
            now: Instant::now(),
            wake_pending,
            span: tracing::error_span!("pipeline", id),
            endpoint_spans: HashMap::default(),
        }
    }

    /// Makes the span of endpoint `id` once its object id is known (a map lookup once
    /// it exists: this runs per endpoint per run).
    fn ensure_endpoint_span(&mut self, id: ElementId) {
        if !self.endpoint_spans.contains_key(&id) {
            endpoint_span(&self.span, &self.elements, &mut self.endpoint_spans, id);
        }
    }

    /// Turns graph events into public events and hands them to the dispatcher.
    pub(crate) fn flush_events(&mut self) {
        while let Some(event) = self.graph.poll_event() {
            let Some((scope, event)) = Elements(&self.elements).public_event(event) else {
                continue;
            };
            tracing::debug!(source = event.source(), "{}", event.type_name());
            let registry = self.events.registry.clone();
            self.events.lane.submit(Box::new(move || {
                registry::deliver(&registry, scope, &event)
            }));
        }
    }

    /// Records an endpoint's sockets (UDP and ICE-TCP listeners) so their datagrams
    /// reach it and its transmits leave through them.
    pub(crate) fn add_endpoint<'a>(
        &mut self,
        id: ElementId,
        sockets: impl IntoIterator<Item = &'a (SocketId, SocketAddr)>,
    ) {
        for (socket, _) in sockets {
            self.sockets.insert(*socket, Route { id, span: None });
        }
        self.endpoints.push(id);
    }

    fn endpoint(&mut self, id: ElementId) -> Option<&mut dyn NetEndpoint> {
        net_endpoint(&mut self.graph, id)
    }

    /// Removes an element: its links go (reported), then its events, then its handlers.
    pub(crate) fn release_element(&mut self, id: ElementId, cx: &mut Context<'_>) -> bool {
        if let Some(endpoint) = self.endpoint(id) {
            endpoint.close(cx);
            self.sockets.retain(|_, route| route.id != id);
            self.endpoints.retain(|e| *e != id);
        }
        self.endpoint_spans.remove(&id);
        if self.graph.remove(id).is_err() {
            return false;
        }
        self.flush_events();
        if let Some(meta) = self.elements.remove(&id) {
            meta.shared.released.store(true, Ordering::Release);
        }
        let registry = self.events.registry.clone();
        self.events
            .lane
            .submit(Box::new(move || registry::forget(&registry, id)));
        true
    }
}

/// The span of endpoint `id` (made, inside the pipeline's, the first time its object id
/// is known); `None` while it is not.
fn endpoint_span(
    pipeline: &tracing::Span,
    elements: &HashMap<ElementId, ElementMeta>,
    spans: &mut HashMap<ElementId, tracing::Span>,
    id: ElementId,
) -> Option<tracing::Span> {
    if let Some(span) = spans.get(&id) {
        return Some(span.clone());
    }
    let meta = elements.get(&id)?;
    let span = tracing::error_span!(parent: pipeline, "endpoint", id = %meta.shared.object_id);
    spans.insert(id, span.clone());
    Some(span)
}

/// The endpoint (WebRtcEndpoint or RtpEndpoint) with sockets that `id` is, if any: one
/// element lookup (this runs per datagram).
fn net_endpoint(graph: &mut Graph, id: ElementId) -> Option<&mut dyn NetEndpoint> {
    let element = graph.element_mut(id).ok()?.as_any_mut();
    if element.is::<WebRtcEndpointElement>() {
        return element
            .downcast_mut::<WebRtcEndpointElement>()
            .map(|e| e as &mut dyn NetEndpoint);
    }
    element
        .downcast_mut::<RtpEndpointElement>()
        .map(|e| e as &mut dyn NetEndpoint)
}

impl Task for PipelineTask {
    type Input = Input;

    fn handle_input(&mut self, input: Input, cx: &mut Context<'_>) {
        let _pipeline = self.span.clone().entered();
        self.now = cx.now();
        match input {
            // Released meanwhile: what was on its way to it is dropped.
            Input::Push(id, buffer) => {
                if let Some(source) = self.graph.element_as::<AppSourceElement>(id) {
                    source.push(buffer);
                }
            }
            // Cleared before the run that polls, so output made meanwhile wakes again.
            Input::Wake => self.wake_pending.store(false, Ordering::Release),
        }
    }

    fn handle_datagram(
        &mut self,
        socket: SocketId,
        peer: SocketAddr,
        data: &[u8],
        cx: &mut Context<'_>,
    ) {
        let Some(route) = self.sockets.get_mut(&socket) else {
            return;
        };
        let id = route.id;
        if route.span.is_none() {
            route.span = endpoint_span(&self.span, &self.elements, &mut self.endpoint_spans, id);
        }
        // Borrowed, not cloned: this runs per datagram.
        let _pipeline = self.span.enter();
        let _endpoint = route.span.as_ref().map(tracing::Span::enter);
        let now = cx.now();
        if let Some(endpoint) = net_endpoint(&mut self.graph, id) {
            endpoint.handle_datagram(socket, peer, data, now);
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.graph.poll_timeout()
    }

    fn handle_timeout(&mut self, cx: &mut Context<'_>) {
        let _pipeline = self.span.clone().entered();
        self.now = cx.now();
        self.graph.handle_timeout(self.now);
    }

    fn run(&mut self, cx: &mut Context<'_>) {
        let _pipeline = self.span.clone().entered();
        self.now = cx.now();
        self.graph.run(self.now);
        for i in 0..self.endpoints.len() {
            let id = self.endpoints[i];
            self.ensure_endpoint_span(id);
            let _endpoint = self.endpoint_spans.get(&id).map(tracing::Span::enter);
            if let Some(endpoint) = net_endpoint(&mut self.graph, id) {
                endpoint.send_transmits(cx);
            }
        }
        self.flush_events();
    }

    fn shutdown(&mut self, cx: &mut Context<'_>) {
        let _pipeline = self.span.clone().entered();
        self.endpoint_spans.clear();
        // Tell each peer (DTLS close_notify) while the sockets still exist.
        for id in std::mem::take(&mut self.endpoints) {
            if let Some(endpoint) = self.endpoint(id) {
                endpoint.close(cx);
            }
        }
        self.sockets.clear();
        for meta in self.elements.values() {
            meta.shared.released.store(true, Ordering::Release);
        }
    }
}
