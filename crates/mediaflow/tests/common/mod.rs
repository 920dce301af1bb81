// Each test binary uses a part of these helpers.
#![allow(dead_code)]

//! Helpers the integration tests share: endpoints on loopback, trickle through the
//! event handlers, and video pushed until it comes out.

pub mod ffmpeg;
pub mod media;
pub mod probe;
pub mod raw_peer;

use std::time::{Duration, Instant};

use mediaflow::{codec, AppSink, AppSource, Event, MediaPipeline, WebRtcEndpoint};
use mediaflow_testkit::vp8;

/// A WebRtcEndpoint gathering on loopback only.
pub fn endpoint(pipeline: &MediaPipeline) -> WebRtcEndpoint {
    WebRtcEndpoint::builder(pipeline)
        .network_interfaces(["lo"])
        .build()
        .unwrap()
}

/// Wires trickle ICE both ways through the event handlers, as signaling would.
pub fn trickle(a: &WebRtcEndpoint, b: &WebRtcEndpoint) {
    for (from, to) in [(a, b), (b, a)] {
        let to = to.clone();
        from.on_ice_candidate_found(move |e| {
            // A candidate event still on its way when the test released the call has
            // nowhere to go; any other refusal is a bug.
            match to.add_ice_candidate(e.candidate.clone()) {
                Ok(()) | Err(mediaflow::Error::PipelineReleased) => {}
                Err(mediaflow::Error::ElementReleased(_)) => {}
                Err(other) => panic!("a candidate we gathered was refused: {other}"),
            }
        })
        .unwrap();
    }
}

/// Offer from `offerer`, answer from `answerer`, both gather: the call is set up
/// (trickle must be wired already).
pub fn negotiate(offerer: &WebRtcEndpoint, answerer: &WebRtcEndpoint) {
    let answer = answerer
        .process_offer(&offerer.generate_offer().unwrap())
        .unwrap();
    offerer.process_answer(&answer).unwrap();
    offerer.gather_candidates().unwrap();
    answerer.gather_candidates().unwrap();
}

/// Pushes VP8 packets into `source` until `count` VP8 buffers came out of `sink`,
/// within `wait`.
pub fn pump_video(
    source: &AppSource,
    sink: &AppSink,
    seq: &mut u16,
    count: usize,
    wait: Duration,
    what: impl Fn() -> String,
) {
    let deadline = Instant::now() + wait;
    let mut received = 0;
    while received < count {
        assert!(Instant::now() < deadline, "{}; {received} received", what());
        source.push(vp8(*seq)).unwrap();
        *seq = seq.wrapping_add(1);
        while let Some(b) = sink.recv_timeout(Duration::from_millis(2)) {
            assert_eq!(b.codec, Some(codec::VP8));
            received += 1;
        }
    }
}

/// Waits for the first event `pick` accepts.
pub fn wait_event(
    events: &mediaflow::Receiver<Event>,
    wait: Duration,
    pick: impl Fn(&Event) -> bool,
) -> Option<Event> {
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(e) if pick(&e) => return Some(e),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}
