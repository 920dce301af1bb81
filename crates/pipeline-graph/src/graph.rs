//! Elements, links and the pull-based scheduler.

use std::collections::VecDeque;
use std::mem;
use std::time::{Duration, Instant};

use crate::element::{
    Element, ElementEvent, ErrorType, LinkTranscoder, TranscoderFactory, UpstreamEvent, Wake,
};
use crate::types::{Buffer, ElementId, MediaFlowState, MediaTranscodingState, MediaType};

/// Tunables of a graph.
#[derive(Clone, Debug)]
pub struct GraphConfig {
    /// A pad reports `NotFlowing` after this long without a buffer.
    pub flow_idle: Duration,
    /// Buffers a link holds while its sink is busy; beyond this the drop policy applies.
    pub link_capacity: usize,
    /// Scheduler rounds per `run` call. A cycle of elements (a PassThrough connected to
    /// itself) would otherwise keep one call busy forever; leftover work continues on the
    /// next call, after the owner had a chance to serve its commands.
    pub max_rounds: usize,
}

impl Default for GraphConfig {
    fn default() -> GraphConfig {
        GraphConfig {
            flow_idle: Duration::from_secs(2),
            link_capacity: 256,
            max_rounds: 64,
        }
    }
}

/// Why a graph operation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The id names no live element: it was released, or belongs to another graph.
    #[error("element {0} does not exist (released?)")]
    UnknownElement(ElementId),
    /// `disconnect` named a link that does not exist.
    #[error("element {source_id} is not connected to {sink} for {media_type:?}")]
    NotConnected {
        /// The would-be source.
        source_id: ElementId,
        /// The would-be sink.
        sink: ElementId,
        /// The media type asked for, `None` for all.
        media_type: Option<MediaType>,
    },
}

/// One link, as `source_connections` / `sink_connections` report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Connection {
    /// The element whose source pad feeds the link.
    pub source: ElementId,
    /// The element whose sink pad the link feeds.
    pub sink: ElementId,
    /// The pad type.
    pub media_type: MediaType,
}

/// What the graph reports; the owning layer turns these into public events.
#[derive(Debug)]
pub enum GraphEvent {
    /// A link was made (reported for its source element).
    ElementConnected(Connection),
    /// A link was removed (reported for its source element).
    ElementDisconnected(Connection),
    /// Media started or stopped arriving at an element's sink pad.
    MediaFlowIn {
        /// The element.
        element: ElementId,
        /// The pad.
        media_type: MediaType,
        /// The new state.
        state: MediaFlowState,
    },
    /// Media started or stopped leaving an element's source pad into links.
    MediaFlowOut {
        /// The element.
        element: ElementId,
        /// The pad.
        media_type: MediaType,
        /// The new state.
        state: MediaFlowState,
    },
    /// Something an element reported about itself.
    Element {
        /// The element.
        element: ElementId,
        /// What it said.
        event: ElementEvent,
    },
}

#[derive(Clone, Copy, Debug, Default)]
struct Flow {
    flowing: bool,
    last: Option<Instant>,
}

impl Flow {
    /// Records a buffer; true when this turned the pad to Flowing.
    fn pass(&mut self, now: Instant) -> bool {
        self.last = Some(now);
        !mem::replace(&mut self.flowing, true)
    }

    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        match (self.flowing, self.last) {
            (true, Some(last)) => Some(last + idle),
            _ => None,
        }
    }
}

struct Node {
    element: Box<dyn Element>,
    /// The link feeding each sink pad: a sink has one source per media type.
    input: [Option<usize>; 3],
    /// The links fed by each source pad (fan-out).
    outputs: [Vec<usize>; 3],
    flow_in: [Flow; 3],
    flow_out: [Flow; 3],
}

struct Slot {
    generation: u32,
    node: Option<Node>,
}

struct Link {
    conn: Connection,
    queue: VecDeque<Buffer>,
    dropped: u64,
    /// A buffer was dropped and no keyframe passed since: the source was asked for one.
    awaiting_keyframe: bool,
    /// Converts the source's codec to one the sink takes, when they differ.
    transcoder: Option<Box<dyn LinkTranscoder>>,
    /// The transcoder wakes the runtime when it has output (no polling needed).
    transcoder_wakes: bool,
    /// The transcoding state last reported for this link (`None`: nothing passed yet).
    transcoding: Option<bool>,
}

impl Link {
    /// Queues a buffer under the real-time drop policy: when full, the oldest
    /// non-keyframe goes first, a keyframe only when nothing else is left.
    /// Returns true when the source should be asked for a keyframe.
    fn push(&mut self, buffer: Buffer, capacity: usize) -> bool {
        if buffer.keyframe {
            self.awaiting_keyframe = false;
        }
        self.queue.push_back(buffer);
        if self.queue.len() <= capacity.max(1) {
            return false;
        }
        let victim = self.queue.iter().position(|b| !b.keyframe).unwrap_or(0);
        self.queue.remove(victim);
        self.dropped += 1;
        !mem::replace(&mut self.awaiting_keyframe, true)
    }
}

/// The media graph of one pipeline: a sans-IO state machine driven by `run` and
/// `handle_timeout`, reporting through `poll_event`.
pub struct Graph {
    config: GraphConfig,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    links: Vec<Option<Link>>,
    free_links: Vec<usize>,
    events: VecDeque<GraphEvent>,
    upstream_scratch: Vec<(ElementId, MediaType, UpstreamEvent)>,
    /// Sources of video links made since the last run: a new consumer cannot decode
    /// until the next keyframe, so each is asked for one.
    new_video_links: Vec<ElementId>,
    /// `run` stopped at `max_rounds` with work left; continue at this instant.
    resume_at: Option<Instant>,
    /// Makes transcoders for links whose sink does not take the source's codec.
    factory: Option<Box<dyn TranscoderFactory>>,
    /// When `run` last ran: transcoders that cannot wake the runtime are polled shortly
    /// after.
    last_run: Option<Instant>,
    /// Given to transcoders so their output wakes the runtime.
    wake: Option<Wake>,
}

impl Default for Graph {
    fn default() -> Graph {
        Graph::new(GraphConfig::default())
    }
}

impl Graph {
    /// An empty graph.
    pub fn new(config: GraphConfig) -> Graph {
        Graph {
            config,
            slots: Vec::new(),
            free_slots: Vec::new(),
            links: Vec::new(),
            free_links: Vec::new(),
            events: VecDeque::new(),
            upstream_scratch: Vec::new(),
            new_video_links: Vec::new(),
            resume_at: None,
            factory: None,
            last_run: None,
            wake: None,
        }
    }

    /// How transcoders of this graph tell its runtime they have output; without it they
    /// are polled every few milliseconds while they exist.
    pub fn set_wake(&mut self, wake: Wake) {
        self.wake = Some(wake);
    }

    /// Installs what makes transcoders; without one, buffers a sink does not take are
    /// dropped.
    pub fn set_transcoder_factory(&mut self, factory: Box<dyn TranscoderFactory>) {
        self.factory = Some(factory);
    }

    /// The configuration in force.
    pub fn config(&self) -> &GraphConfig {
        &self.config
    }

    /// Adds an element with no links.
    pub fn add(&mut self, element: Box<dyn Element>) -> ElementId {
        let node = Node {
            element,
            input: [None; 3],
            outputs: Default::default(),
            flow_in: Default::default(),
            flow_out: Default::default(),
        };
        if let Some(index) = self.free_slots.pop() {
            let slot = &mut self.slots[index as usize];
            slot.node = Some(node);
            return ElementId {
                index,
                generation: slot.generation,
            };
        }
        let index = u32::try_from(self.slots.len()).expect("more than 2^32 elements in a graph");
        self.slots.push(Slot {
            generation: 0,
            node: Some(node),
        });
        ElementId {
            index,
            generation: 0,
        }
    }

    /// Number of live elements.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    /// True when the graph holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when `id` names a live element.
    pub fn contains(&self, id: ElementId) -> bool {
        self.node(id).is_ok()
    }

    fn node(&self, id: ElementId) -> Result<&Node, GraphError> {
        match self.slots.get(id.index as usize) {
            Some(Slot {
                generation,
                node: Some(node),
            }) if *generation == id.generation => Ok(node),
            _ => Err(GraphError::UnknownElement(id)),
        }
    }

    fn node_mut(&mut self, id: ElementId) -> Result<&mut Node, GraphError> {
        match self.slots.get_mut(id.index as usize) {
            Some(Slot {
                generation,
                node: Some(node),
            }) if *generation == id.generation => Ok(node),
            _ => Err(GraphError::UnknownElement(id)),
        }
    }

    /// The element itself, for operations only its type knows.
    pub fn element_mut(&mut self, id: ElementId) -> Result<&mut dyn Element, GraphError> {
        Ok(self.node_mut(id)?.element.as_mut())
    }

    /// The element as its concrete type `E`; `None` when it is gone or of another type.
    pub fn element_as<E: Element>(&mut self, id: ElementId) -> Option<&mut E> {
        self.element_mut(id).ok()?.as_any_mut().downcast_mut()
    }

    /// Removes an element and every link touching it (each reported as disconnected).
    pub fn remove(&mut self, id: ElementId) -> Result<Box<dyn Element>, GraphError> {
        let node = self.node(id)?;
        let mut links: Vec<usize> = node.input.iter().flatten().copied().collect();
        links.extend(node.outputs.iter().flatten().copied());
        // A self-link appears as both input and output.
        links.sort_unstable();
        links.dedup();
        for link in links {
            self.remove_link(link);
        }
        let slot = &mut self.slots[id.index as usize];
        let node = slot.node.take().ok_or(GraphError::UnknownElement(id))?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free_slots.push(id.index);
        Ok(node.element)
    }

    /// Links `source`'s pad of `media_type` to `sink`'s. A sink pad has one source: a link
    /// from another element is replaced (reported as disconnected first). Connecting an
    /// existing link again changes nothing.
    pub fn connect(
        &mut self,
        source: ElementId,
        sink: ElementId,
        media_type: MediaType,
    ) -> Result<(), GraphError> {
        self.node(source)?;
        let m = media_type.index();
        if let Some(existing) = self.node(sink)?.input[m] {
            if self.link(existing).conn.source == source {
                return Ok(());
            }
            self.remove_link(existing);
        }
        let conn = Connection {
            source,
            sink,
            media_type,
        };
        let link = Link {
            conn,
            queue: VecDeque::new(),
            dropped: 0,
            awaiting_keyframe: false,
            transcoder: None,
            transcoder_wakes: false,
            transcoding: None,
        };
        let index = match self.free_links.pop() {
            Some(i) => {
                self.links[i] = Some(link);
                i
            }
            None => {
                self.links.push(Some(link));
                self.links.len() - 1
            }
        };
        self.node_mut(source)?.outputs[m].push(index);
        self.node_mut(sink)?.input[m] = Some(index);
        self.events.push_back(GraphEvent::ElementConnected(conn));
        if media_type == MediaType::Video {
            self.new_video_links.push(source);
        }
        Ok(())
    }

    /// Removes the link from `source` to `sink` for `media_type`, or for every type when
    /// `None`. Queued buffers of a removed link are dropped.
    pub fn disconnect(
        &mut self,
        source: ElementId,
        sink: ElementId,
        media_type: Option<MediaType>,
    ) -> Result<(), GraphError> {
        self.node(source)?;
        let sink_node = self.node(sink)?;
        let found: Vec<usize> = sink_node
            .input
            .iter()
            .flatten()
            .copied()
            .filter(|&l| {
                let conn = self.link(l).conn;
                conn.source == source && media_type.is_none_or(|m| m == conn.media_type)
            })
            .collect();
        if found.is_empty() {
            return Err(GraphError::NotConnected {
                source_id: source,
                sink,
                media_type,
            });
        }
        for link in found {
            self.remove_link(link);
        }
        Ok(())
    }

    fn link(&self, index: usize) -> &Link {
        self.links[index]
            .as_ref()
            .expect("graph invariant: pads only name live links")
    }

    fn remove_link(&mut self, index: usize) {
        let Some(mut link) = self.links[index].take() else {
            return;
        };
        if link.transcoder.take().is_some() {
            // Kurento leaves TRANSCODING stuck after the consumer leaves; the branch is
            // gone, so say so.
            report_transcoding(&mut self.events, &mut link, false);
        }
        self.free_links.push(index);
        let conn = link.conn;
        let m = conn.media_type.index();
        if let Ok(node) = self.node_mut(conn.source) {
            node.outputs[m].retain(|&l| l != index);
        }
        if let Ok(node) = self.node_mut(conn.sink) {
            if node.input[m] == Some(index) {
                node.input[m] = None;
            }
        }
        self.events.push_back(GraphEvent::ElementDisconnected(conn));
    }

    /// Links feeding `element`'s sink pads (Kurento's `getSourceConnections`).
    pub fn source_connections(
        &self,
        element: ElementId,
        media_type: Option<MediaType>,
    ) -> Result<Vec<Connection>, GraphError> {
        let node = self.node(element)?;
        Ok(node
            .input
            .iter()
            .flatten()
            .map(|&l| self.link(l).conn)
            .filter(|c| media_type.is_none_or(|m| m == c.media_type))
            .collect())
    }

    /// Links fed by `element`'s source pads (Kurento's `getSinkConnections`).
    pub fn sink_connections(
        &self,
        element: ElementId,
        media_type: Option<MediaType>,
    ) -> Result<Vec<Connection>, GraphError> {
        let node = self.node(element)?;
        Ok(node
            .outputs
            .iter()
            .flatten()
            .map(|&l| self.link(l).conn)
            .filter(|c| media_type.is_none_or(|m| m == c.media_type))
            .collect())
    }

    /// Buffers dropped so far on the link from `source` to `sink` for `media_type`.
    pub fn dropped(
        &self,
        source: ElementId,
        sink: ElementId,
        media_type: MediaType,
    ) -> Option<u64> {
        let link = self.node(sink).ok()?.input[media_type.index()]?;
        let link = self.link(link);
        (link.conn.source == source).then_some(link.dropped)
    }

    /// Current state of an element's sink (`input`) or source pad.
    pub fn flow_state(
        &self,
        element: ElementId,
        media_type: MediaType,
        input: bool,
    ) -> Result<MediaFlowState, GraphError> {
        let node = self.node(element)?;
        let flow = if input {
            node.flow_in[media_type.index()]
        } else {
            node.flow_out[media_type.index()]
        };
        Ok(if flow.flowing {
            MediaFlowState::Flowing
        } else {
            MediaFlowState::NotFlowing
        })
    }

    /// Moves media until nothing more comes out, or `max_rounds` ran out (then
    /// `poll_timeout` asks to be called again at once).
    ///
    /// One round visits elements in slot order: it feeds each element what waits on its
    /// input links, then drains the element's output into its output links. A chain built
    /// upstream-first therefore moves a buffer end to end in one round.
    pub fn run(&mut self, now: Instant) {
        self.resume_at = None;
        self.last_run = Some(now);
        for source in std::mem::take(&mut self.new_video_links) {
            if let Ok(node) = self.node_mut(source) {
                node.element
                    .handle_upstream(MediaType::Video, UpstreamEvent::KeyframeRequest, now);
            }
        }
        for _ in 0..self.config.max_rounds {
            if !self.round(now) {
                return;
            }
        }
        self.resume_at = Some(now);
    }

    /// One scheduler round; true when anything moved.
    fn round(&mut self, now: Instant) -> bool {
        let mut progress = false;
        let mut upstream = mem::take(&mut self.upstream_scratch);
        let mut turn = Turn {
            events: &mut self.events,
            upstream: &mut upstream,
            factory: &mut self.factory,
            wake: &self.wake,
            capacity: self.config.link_capacity.max(1),
            now,
        };
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(node) = slot.node.as_mut() else {
                continue;
            };
            let id = ElementId {
                index: index as u32,
                generation: slot.generation,
            };
            for media_type in MediaType::ALL {
                let Some(l) = node.input[media_type.index()] else {
                    continue;
                };
                if let Some(link) = self.links[l].as_mut() {
                    progress |= turn.take_input(node, id, media_type, link);
                }
            }
            progress |= turn.push_outputs(node, id, &mut self.links);
            turn.route_upstream(node, &mut self.links);
            while let Some(event) = node.element.poll_event() {
                turn.events
                    .push_back(GraphEvent::Element { element: id, event });
            }
        }
        for (target, media_type, event) in upstream.drain(..) {
            if let Ok(node) = self.node_mut(target) {
                node.element.handle_upstream(media_type, event, now);
                progress = true;
            }
        }
        self.upstream_scratch = upstream;
        progress
    }

    /// Delivers `event` to the element feeding `element`'s sink pad of `media_type`, as
    /// if `element` had sent it. Ok(false) when nothing feeds that pad.
    pub fn send_upstream(
        &mut self,
        element: ElementId,
        media_type: MediaType,
        event: UpstreamEvent,
        now: Instant,
    ) -> Result<bool, GraphError> {
        let Some(link) = self.node(element)?.input[media_type.index()] else {
            return Ok(false);
        };
        let feeder = self.link(link).conn.source;
        self.node_mut(feeder)?
            .element
            .handle_upstream(media_type, event, now);
        Ok(true)
    }

    /// The earliest instant `handle_timeout` has work: an element's own timer, a pad going
    /// idle, or work `run` left over.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let idle = self.config.flow_idle;
        let mut earliest = self.resume_at;
        if let Some(last) = self.last_run {
            let polled = |l: &Link| l.transcoder.is_some() && !l.transcoder_wakes;
            if self.links.iter().flatten().any(polled) {
                // Transcoders work on their own threads: look at their output soon.
                earliest = Some(last + TRANSCODER_POLL);
            }
        }
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
        };
        for node in self.slots.iter_mut().filter_map(|s| s.node.as_mut()) {
            consider(node.element.poll_timeout());
            for flow in node.flow_in.iter().chain(node.flow_out.iter()) {
                consider(flow.idle_deadline(idle));
            }
        }
        earliest
    }

    /// Advances time: fires due element timers and turns idle pads to NotFlowing.
    /// Call `run` afterwards to move whatever the timers produced.
    pub fn handle_timeout(&mut self, now: Instant) {
        let idle = self.config.flow_idle;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(node) = slot.node.as_mut() else {
                continue;
            };
            let id = ElementId {
                index: index as u32,
                generation: slot.generation,
            };
            if node.element.poll_timeout().is_some_and(|t| t <= now) {
                node.element.handle_timeout(now);
            }
            for media_type in MediaType::ALL {
                let m = media_type.index();
                if expire(&mut node.flow_in[m], idle, now) {
                    self.events.push_back(GraphEvent::MediaFlowIn {
                        element: id,
                        media_type,
                        state: MediaFlowState::NotFlowing,
                    });
                }
                if expire(&mut node.flow_out[m], idle, now) {
                    self.events.push_back(GraphEvent::MediaFlowOut {
                        element: id,
                        media_type,
                        state: MediaFlowState::NotFlowing,
                    });
                }
            }
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<GraphEvent> {
        self.events.pop_front()
    }
}

/// How often links with a transcoder are polled for its output.
const TRANSCODER_POLL: Duration = Duration::from_millis(5);

/// Hands `buffer`, arrived on the `media_type` link, to the sink element `node` (`id`),
/// reporting MediaFlowIn when that flow starts; direct and transcoded deliveries both
/// come here.
fn deliver(
    node: &mut Node,
    id: ElementId,
    media_type: MediaType,
    buffer: Buffer,
    now: Instant,
    events: &mut VecDeque<GraphEvent>,
) {
    node.element.handle_input(buffer, now);
    if node.flow_in[media_type.index()].pass(now) {
        events.push_back(GraphEvent::MediaFlowIn {
            element: id,
            media_type,
            state: MediaFlowState::Flowing,
        });
    }
}

/// Reports a link's transcoding state on its source element, when it changed.
fn report_transcoding(events: &mut VecDeque<GraphEvent>, link: &mut Link, transcoding: bool) {
    if link.transcoding == Some(transcoding) {
        return;
    }
    link.transcoding = Some(transcoding);
    let state = if transcoding {
        MediaTranscodingState::Transcoding
    } else {
        MediaTranscodingState::NotTranscoding
    };
    let bin_name = match &link.transcoder {
        Some(t) => format!("transcoder_{}_to_{}", t.source_codec(), t.target_codec()),
        None => "passthrough".to_owned(),
    };
    events.push_back(GraphEvent::Element {
        element: link.conn.source,
        event: ElementEvent::TranscodingStateChanged {
            media_type: link.conn.media_type,
            state,
            bin_name,
        },
    });
}

/// What a node's turn in a round reaches besides the node and the links: events out,
/// requests for sources (handled after the round), the transcoder factory.
struct Turn<'a> {
    events: &'a mut VecDeque<GraphEvent>,
    upstream: &'a mut Vec<(ElementId, MediaType, UpstreamEvent)>,
    factory: &'a mut Option<Box<dyn TranscoderFactory>>,
    wake: &'a Option<Wake>,
    /// Buffers a link holds, at least one.
    capacity: usize,
    now: Instant,
}

impl Turn<'_> {
    /// Takes what waits on `link` (node `id`'s `media_type` sink) while the node accepts
    /// it, through the link's transcoder when the codecs differ; then what the
    /// transcoder made. True when anything moved.
    fn take_input(
        &mut self,
        node: &mut Node,
        id: ElementId,
        media_type: MediaType,
        link: &mut Link,
    ) -> bool {
        let mut progress = false;
        while !link.queue.is_empty() && node.element.accepts_input(media_type) {
            let Some(buffer) = link.queue.pop_front() else {
                break;
            };
            progress = true;
            self.pass_on(node, id, media_type, link, buffer);
        }
        progress | self.drain_transcoder(node, id, media_type, link)
    }

    /// One buffer off `link`: to the node as it is when it takes the codec, else into a
    /// transcoder to the node's first codec (made, or remade, for this conversion).
    fn pass_on(
        &mut self,
        node: &mut Node,
        id: ElementId,
        media_type: MediaType,
        link: &mut Link,
        buffer: Buffer,
    ) {
        let wanted = buffer.codec.and_then(|codec| {
            let list = node.element.accepted_codecs(media_type)?;
            if list.contains(&codec) {
                return None;
            }
            list.first().map(|&to| (codec, to))
        });
        let Some((from, to)) = wanted else {
            if link.transcoder.take().is_some()
                || (buffer.codec.is_some() && link.transcoding.is_none())
            {
                report_transcoding(self.events, link, false);
            }
            deliver(node, id, media_type, buffer, self.now, self.events);
            return;
        };
        let fits = link
            .transcoder
            .as_ref()
            .is_some_and(|t| t.source_codec() == from && t.target_codec() == to);
        if !fits {
            link.transcoder = self
                .factory
                .as_mut()
                .and_then(|f| f.create(media_type, from, to));
            link.transcoder_wakes = match (link.transcoder.as_mut(), self.wake) {
                (Some(t), Some(wake)) => t.set_wake(wake.clone()),
                _ => false,
            };
            if link.transcoder.is_some() {
                report_transcoding(self.events, link, true);
            } else {
                tracing::debug!(from, to, "no transcoder for this conversion");
            }
        }
        match link.transcoder.as_mut() {
            Some(t) => t.push(buffer),
            None => link.dropped += 1,
        }
    }

    /// What the link's transcoder produced goes to the sink as if it came on the link;
    /// its requests go to the source. True when anything came out.
    fn drain_transcoder(
        &mut self,
        node: &mut Node,
        id: ElementId,
        media_type: MediaType,
        link: &mut Link,
    ) -> bool {
        let Some(t) = link.transcoder.as_mut() else {
            return false;
        };
        let mut progress = false;
        if let Some(bps) = node.element.target_bitrate(media_type) {
            t.set_target_bitrate(bps);
        }
        while let Some(buffer) = t.poll() {
            progress = true;
            if !node.element.accepts_input(media_type) {
                link.dropped += 1;
                continue;
            }
            deliver(node, id, media_type, buffer, self.now, self.events);
        }
        if t.poll_keyframe_request() {
            self.upstream
                .push((link.conn.source, media_type, UpstreamEvent::KeyframeRequest));
        }
        while let Some(description) = t.poll_error() {
            self.events.push_back(GraphEvent::Element {
                element: link.conn.source,
                event: ElementEvent::Error {
                    error_type: ErrorType::StreamErrorDecode,
                    error_code: 0,
                    description,
                },
            });
        }
        progress
    }

    /// The node's output onto its links (fan-out clones all but the last). At most a
    /// link's worth per round, so a burst from a source is carried along the chain by
    /// later rounds instead of overflowing the first link. True when anything moved.
    fn push_outputs(&mut self, node: &mut Node, id: ElementId, links: &mut [Option<Link>]) -> bool {
        let mut progress = false;
        for _ in 0..self.capacity {
            let Some(buffer) = node.element.poll_output() else {
                break;
            };
            progress = true;
            let media_type = buffer.media_type;
            let m = media_type.index();
            let Some((&last, rest)) = node.outputs[m].split_last() else {
                continue;
            };
            if node.flow_out[m].pass(self.now) {
                self.events.push_back(GraphEvent::MediaFlowOut {
                    element: id,
                    media_type,
                    state: MediaFlowState::Flowing,
                });
            }
            let mut want_keyframe = false;
            for &l in rest {
                if let Some(link) = links[l].as_mut() {
                    want_keyframe |= link.push(buffer.clone(), self.capacity);
                }
            }
            if let Some(link) = links[last].as_mut() {
                want_keyframe |= link.push(buffer, self.capacity);
            }
            if want_keyframe {
                node.element
                    .handle_upstream(media_type, UpstreamEvent::KeyframeRequest, self.now);
            }
        }
        progress
    }

    /// The node's requests for its sources: a link's transcoder answers a keyframe
    /// request itself (a keyframe from the source would not help a consumer of the
    /// re-encoded stream); the others are gathered for after the round.
    fn route_upstream(&mut self, node: &mut Node, links: &mut [Option<Link>]) {
        while let Some((media_type, event)) = node.element.poll_upstream() {
            let Some(link) = node.input[media_type.index()].and_then(|l| links[l].as_mut()) else {
                continue;
            };
            match (link.transcoder.as_mut(), event) {
                (Some(t), UpstreamEvent::KeyframeRequest) => t.request_keyframe(),
                (None, _) => self.upstream.push((link.conn.source, media_type, event)),
            }
        }
    }
}

/// Turns a pad idle past its deadline to NotFlowing; true when it changed.
fn expire(flow: &mut Flow, idle: Duration, now: Instant) -> bool {
    if flow.idle_deadline(idle).is_some_and(|d| d <= now) {
        flow.flowing = false;
        return true;
    }
    false
}
