//! The scheduler on virtual time: no threads, no sleeps.

use std::any::Any;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mediaflow_graph::{
    Buffer, Connection, Element, ElementId, Graph, GraphConfig, GraphError, GraphEvent,
    MediaFlowState, MediaType, PassThrough, UpstreamEvent,
};

/// Emits what the test queues, and records requests that reach it.
#[derive(Default)]
struct Source {
    queued: VecDeque<Buffer>,
    requests: Vec<(MediaType, UpstreamEvent)>,
}

impl Element for Source {
    fn type_name(&self) -> &'static str {
        "TestSource"
    }
    fn handle_input(&mut self, _buffer: Buffer, _now: Instant) {}
    fn poll_output(&mut self) -> Option<Buffer> {
        self.queued.pop_front()
    }
    fn handle_upstream(&mut self, media_type: MediaType, event: UpstreamEvent, _now: Instant) {
        self.requests.push((media_type, event));
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Records what arrives; refuses input while `blocked`.
#[derive(Default)]
struct Collector {
    received: Vec<Buffer>,
    blocked: bool,
    ask_keyframe: bool,
}

impl Element for Collector {
    fn type_name(&self) -> &'static str {
        "TestCollector"
    }
    fn handle_input(&mut self, buffer: Buffer, _now: Instant) {
        self.received.push(buffer);
    }
    fn poll_output(&mut self) -> Option<Buffer> {
        None
    }
    fn accepts_input(&self, _media_type: MediaType) -> bool {
        !self.blocked
    }
    fn poll_upstream(&mut self) -> Option<(MediaType, UpstreamEvent)> {
        std::mem::take(&mut self.ask_keyframe)
            .then_some((MediaType::Video, UpstreamEvent::KeyframeRequest))
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

fn source(g: &mut Graph, id: ElementId) -> &mut Source {
    g.element_as(id).unwrap()
}

fn collector(g: &mut Graph, id: ElementId) -> &mut Collector {
    g.element_as(id).unwrap()
}

fn numbered(media_type: MediaType, n: u32) -> Buffer {
    Buffer::new(media_type, n.to_be_bytes().to_vec())
}

fn numbers(buffers: &[Buffer]) -> Vec<u32> {
    buffers
        .iter()
        .map(|b| u32::from_be_bytes(b.data[..4].try_into().unwrap()))
        .collect()
}

fn events(g: &mut Graph) -> Vec<GraphEvent> {
    std::iter::from_fn(|| g.poll_event()).collect()
}

#[test]
fn buffers_cross_a_chain_in_order() {
    let mut g = Graph::default();
    let src = g.add(Box::<Source>::default());
    let pts: Vec<_> = (0..4)
        .map(|_| g.add(Box::new(PassThrough::new())))
        .collect();
    let sink = g.add(Box::<Collector>::default());
    let mut prev = src;
    for &p in pts.iter().chain([&sink]) {
        g.connect(prev, p, MediaType::Video).unwrap();
        prev = p;
    }
    let now = Instant::now();
    for n in 0..100 {
        source(&mut g, src)
            .queued
            .push_back(numbered(MediaType::Video, n));
    }
    g.run(now);
    assert_eq!(
        numbers(&collector(&mut g, sink).received),
        (0..100).collect::<Vec<_>>()
    );
    assert_eq!(g.poll_timeout(), Some(now + g.config().flow_idle));
}

#[test]
fn fan_out_reaches_every_sink_and_only_its_media_type() {
    let mut g = Graph::default();
    let src = g.add(Box::<Source>::default());
    let sinks: Vec<_> = (0..3).map(|_| g.add(Box::<Collector>::default())).collect();
    for &s in &sinks {
        g.connect(src, s, MediaType::Audio).unwrap();
    }
    for n in 0..10 {
        source(&mut g, src)
            .queued
            .push_back(numbered(MediaType::Audio, n));
    }
    // No video link exists: these go nowhere and must not count as flowing out.
    source(&mut g, src)
        .queued
        .push_back(numbered(MediaType::Video, 99));
    g.run(Instant::now());
    for &s in &sinks {
        assert_eq!(
            numbers(&collector(&mut g, s).received),
            (0..10).collect::<Vec<_>>()
        );
    }
    assert_eq!(
        g.flow_state(src, MediaType::Video, false).unwrap(),
        MediaFlowState::NotFlowing
    );
    assert_eq!(g.sink_connections(src, None).unwrap().len(), 3);
}

#[test]
fn a_new_connect_replaces_the_sinks_previous_source() {
    let mut g = Graph::default();
    let a = g.add(Box::<Source>::default());
    let b = g.add(Box::<Source>::default());
    let sink = g.add(Box::<Collector>::default());
    g.connect(a, sink, MediaType::Video).unwrap();
    events(&mut g);
    g.connect(b, sink, MediaType::Video).unwrap();
    let evs = events(&mut g);
    let conn = |source| Connection {
        source,
        sink,
        media_type: MediaType::Video,
    };
    assert!(
        matches!(&evs[..], [GraphEvent::ElementDisconnected(d), GraphEvent::ElementConnected(c)] if *d == conn(a) && *c == conn(b)),
        "{evs:?}"
    );
    assert_eq!(g.source_connections(sink, None).unwrap(), vec![conn(b)]);
    assert!(g.sink_connections(a, None).unwrap().is_empty());
    source(&mut g, a)
        .queued
        .push_back(numbered(MediaType::Video, 1));
    source(&mut g, b)
        .queued
        .push_back(numbered(MediaType::Video, 2));
    g.run(Instant::now());
    assert_eq!(numbers(&collector(&mut g, sink).received), vec![2]);
    events(&mut g);
    // Connecting the same link again is a no-op, not a replace.
    g.connect(b, sink, MediaType::Video).unwrap();
    assert!(events(&mut g).is_empty());
}

#[test]
fn disconnect_while_flowing_stops_delivery() {
    let mut g = Graph::default();
    let src = g.add(Box::<Source>::default());
    let sink = g.add(Box::<Collector>::default());
    g.connect(src, sink, MediaType::Audio).unwrap();
    let now = Instant::now();
    source(&mut g, src)
        .queued
        .push_back(numbered(MediaType::Audio, 1));
    g.run(now);
    g.disconnect(src, sink, None).unwrap();
    source(&mut g, src)
        .queued
        .push_back(numbered(MediaType::Audio, 2));
    g.run(now);
    assert_eq!(numbers(&collector(&mut g, sink).received), vec![1]);
    assert_eq!(
        g.disconnect(src, sink, Some(MediaType::Audio)),
        Err(GraphError::NotConnected {
            source_id: src,
            sink,
            media_type: Some(MediaType::Audio)
        })
    );
}

#[test]
fn flow_states_follow_buffers_and_idle_time() {
    let idle = Duration::from_millis(500);
    let mut g = Graph::new(GraphConfig {
        flow_idle: idle,
        ..GraphConfig::default()
    });
    let src = g.add(Box::<Source>::default());
    let pt = g.add(Box::new(PassThrough::new()));
    let sink = g.add(Box::<Collector>::default());
    g.connect(src, pt, MediaType::Video).unwrap();
    g.connect(pt, sink, MediaType::Video).unwrap();
    events(&mut g);
    let t0 = Instant::now();
    source(&mut g, src)
        .queued
        .push_back(numbered(MediaType::Video, 0));
    g.run(t0);
    let flow: Vec<_> = events(&mut g)
        .into_iter()
        .map(|e| match e {
            GraphEvent::MediaFlowIn { element, state, .. } => ("in", element, state),
            GraphEvent::MediaFlowOut { element, state, .. } => ("out", element, state),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    use MediaFlowState::*;
    assert_eq!(
        flow,
        vec![
            ("out", src, Flowing),
            ("in", pt, Flowing),
            ("out", pt, Flowing),
            ("in", sink, Flowing)
        ]
    );
    // Still flowing just before the idle time ends.
    let t1 = t0 + idle - Duration::from_millis(1);
    g.handle_timeout(t1);
    assert!(events(&mut g).is_empty());
    assert_eq!(g.poll_timeout(), Some(t0 + idle));
    g.handle_timeout(t0 + idle);
    let evs = events(&mut g);
    assert_eq!(evs.len(), 4, "{evs:?}");
    assert!(evs.iter().all(|e| matches!(
        e,
        GraphEvent::MediaFlowIn {
            state: NotFlowing,
            ..
        } | GraphEvent::MediaFlowOut {
            state: NotFlowing,
            ..
        }
    )));
    assert_eq!(g.poll_timeout(), None);
    assert_eq!(
        g.flow_state(pt, MediaType::Video, true).unwrap(),
        NotFlowing
    );
}

#[test]
fn a_full_link_drops_oldest_non_keyframes_and_asks_upstream_for_a_keyframe() {
    let mut g = Graph::new(GraphConfig {
        link_capacity: 4,
        ..GraphConfig::default()
    });
    let src = g.add(Box::<Source>::default());
    let pt = g.add(Box::new(PassThrough::new()));
    let sink = g.add(Box::<Collector>::default());
    g.connect(src, pt, MediaType::Video).unwrap();
    g.connect(pt, sink, MediaType::Video).unwrap();
    collector(&mut g, sink).blocked = true;
    g.run(Instant::now());
    // Both new video links asked the sender for a keyframe; tested on their own below.
    assert_eq!(source(&mut g, src).requests.len(), 2);
    source(&mut g, src).requests.clear();
    let mut key = numbered(MediaType::Video, 0);
    key.keyframe = true;
    source(&mut g, src).queued.push_back(key);
    for n in 1..10 {
        source(&mut g, src)
            .queued
            .push_back(numbered(MediaType::Video, n));
    }
    let now = Instant::now();
    g.run(now);
    assert_eq!(g.dropped(pt, sink, MediaType::Video), Some(6));
    // The request went from the PassThrough on to the original sender, once.
    assert_eq!(
        source(&mut g, src).requests,
        vec![(MediaType::Video, UpstreamEvent::KeyframeRequest)]
    );
    collector(&mut g, sink).blocked = false;
    g.run(now);
    assert_eq!(numbers(&collector(&mut g, sink).received), vec![0, 7, 8, 9]);
}

#[test]
fn keyframe_requests_from_a_sink_reach_the_sender() {
    let mut g = Graph::default();
    let src = g.add(Box::<Source>::default());
    let pt = g.add(Box::new(PassThrough::new()));
    let sink = g.add(Box::<Collector>::default());
    g.connect(src, pt, MediaType::Video).unwrap();
    g.connect(pt, sink, MediaType::Video).unwrap();
    g.run(Instant::now());
    source(&mut g, src).requests.clear();
    collector(&mut g, sink).ask_keyframe = true;
    g.run(Instant::now());
    assert_eq!(source(&mut g, src).requests.len(), 1);
    assert!(g
        .send_upstream(
            pt,
            MediaType::Video,
            UpstreamEvent::KeyframeRequest,
            Instant::now()
        )
        .unwrap());
    assert_eq!(source(&mut g, src).requests.len(), 2);
}

/// Emits what the test queues and everything it receives: connected to itself it is a cycle.
#[derive(Default)]
struct Looper(Source);

impl Element for Looper {
    fn type_name(&self) -> &'static str {
        "TestLooper"
    }
    fn handle_input(&mut self, buffer: Buffer, _now: Instant) {
        self.0.queued.push_back(buffer);
    }
    fn poll_output(&mut self) -> Option<Buffer> {
        self.0.poll_output()
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[test]
fn a_new_video_consumer_gets_the_sender_asked_for_a_keyframe() {
    let mut g = Graph::default();
    let src = g.add(Box::<Source>::default());
    let pt = g.add(Box::new(PassThrough::new()));
    let sink = g.add(Box::<Collector>::default());
    g.connect(src, pt, MediaType::Audio).unwrap();
    g.connect(pt, sink, MediaType::Audio).unwrap();
    g.run(Instant::now());
    assert!(
        source(&mut g, src).requests.is_empty(),
        "audio needs no keyframe"
    );
    g.connect(src, pt, MediaType::Video).unwrap();
    g.run(Instant::now());
    assert_eq!(source(&mut g, src).requests.len(), 1);
    // A second consumer further down: the request travels through the PassThrough.
    g.connect(pt, sink, MediaType::Video).unwrap();
    g.run(Instant::now());
    assert_eq!(
        source(&mut g, src).requests,
        vec![(MediaType::Video, UpstreamEvent::KeyframeRequest); 2]
    );
}

#[test]
fn a_cycle_does_not_hang_the_scheduler() {
    let mut g = Graph::default();
    let pt = g.add(Box::<Looper>::default());
    g.connect(pt, pt, MediaType::Data).unwrap();
    let looper: &mut Looper = g.element_as(pt).unwrap();
    looper.0.queued.push_back(numbered(MediaType::Data, 1));
    let now = Instant::now();
    g.run(now);
    assert_eq!(
        g.poll_timeout(),
        Some(now),
        "leftover work is rescheduled at once"
    );
    // Removing the element breaks the cycle; its self-link is reported once.
    events(&mut g);
    g.remove(pt).unwrap();
    let disconnected = events(&mut g)
        .into_iter()
        .filter(|e| matches!(e, GraphEvent::ElementDisconnected(_)))
        .count();
    assert_eq!(disconnected, 1);
    g.run(now);
    assert_eq!(g.poll_timeout(), None);
}

#[test]
fn released_ids_stay_invalid_when_their_slot_is_reused() {
    let mut g = Graph::default();
    let a = g.add(Box::new(PassThrough::new()));
    g.remove(a).unwrap();
    let b = g.add(Box::new(PassThrough::new()));
    assert_ne!(a, b);
    assert!(!g.contains(a));
    assert_eq!(
        g.connect(a, b, MediaType::Audio),
        Err(GraphError::UnknownElement(a))
    );
    assert!(matches!(g.remove(a), Err(GraphError::UnknownElement(_))));
    assert_eq!(g.len(), 1);
}
