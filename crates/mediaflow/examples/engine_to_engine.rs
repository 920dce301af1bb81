//! Two WebRtcEndpoints in one process, talking over real UDP on 127.0.0.1: one offers,
//! the other answers, candidates trickle through the event handlers (as signaling
//! would carry them), an AppSource pushes real VP8 (encoded here with libvpx) into the
//! offerer and an AppSink behind the answerer counts the frames that come out. The
//! answerer's events are printed as they fire; at the end the program checks they came
//! in the order of Kurento's "Sample sequence of events: WebRtcEndpoint".
//!
//! `cargo run -p mediaflow --example engine_to_engine` (exits by itself, nonzero on failure).
//! Logs follow `RUST_LOG` (e.g. `RUST_LOG=mediaflow=debug`): each line carries the
//! `pipeline{id=..}` and `endpoint{id=..}` it happened in.

mod camera;

use std::time::{Duration, Instant};

use camera::{Camera, Result};
use mediaflow::{
    AppSink, AppSource, Event, IceComponentState, MediaPipeline, MediaState, MediaType,
    WebRtcEndpoint,
};
use mediaflow_transcoder::rtp::{names, Assembled, FrameAssembler};

const FRAMES: usize = 60;
const WAIT: Duration = Duration::from_secs(8);

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let pipeline = MediaPipeline::new()?;
    // Loopback only, so the example needs no network.
    let offerer = WebRtcEndpoint::builder(&pipeline)
        .network_interfaces(["lo"])
        .build()?;
    let answerer = WebRtcEndpoint::builder(&pipeline)
        .network_interfaces(["lo"])
        .build()?;
    let source = AppSource::new(&pipeline)?;
    let sink = AppSink::with_capacity(&pipeline, 10_000)?;
    source.connect_media(&offerer, MediaType::Video)?;
    answerer.connect_media(&sink, MediaType::Video)?;

    // Every event of the answerer, printed as it fires and kept for the order check.
    let (seen_tx, seen) = crossbeam_channel::unbounded();
    answerer.on_event(move |e| {
        println!("answerer: {:<28} {}", e.type_name(), summary(e));
        let _ = seen_tx.send(e.clone());
    })?;

    // Trickle ICE: each side's candidates go to the other as they are found.
    for (from, to) in [(&offerer, &answerer), (&answerer, &offerer)] {
        let to = to.clone();
        from.on_ice_candidate_found(move |e| {
            if let Err(err) = to.add_ice_candidate(e.candidate.clone()) {
                eprintln!("candidate refused: {err}");
            }
        })?;
    }

    // Offer/answer, then both gather.
    let offer = offerer.generate_offer()?;
    let answer = answerer.process_offer(&offer)?;
    offerer.process_answer(&answer)?;
    answerer.gather_candidates()?;
    offerer.gather_candidates()?;

    // A moving picture at 30 fps, as a camera would send it; keyframes on request.
    let mut camera = Camera::new(320, 240)?;
    // What comes out of the sink is RTP: whole frames are counted by reassembling them.
    let mut assembler = FrameAssembler::new(names::VP8).ok_or("no VP8 assembler")?;
    let mut frames = 0usize;
    let deadline = Instant::now() + WAIT;
    while frames < FRAMES {
        if Instant::now() > deadline {
            return Err(format!("only {frames} of {FRAMES} frames arrived in {WAIT:?}").into());
        }
        camera.push_frame(&source)?;
        std::thread::sleep(Duration::from_millis(33));
        while let Some(b) = sink.try_recv() {
            if let Assembled::Frame(_) = assembler.push(&b.data) {
                frames += 1;
            }
        }
    }
    println!("{frames} VP8 frames came out of the answerer's AppSink");

    // MediaStateChanged(Connected) follows the first RTCP; wait for it briefly.
    let mut events: Vec<Event> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !events.iter().any(media_connected) {
        match seen.recv_deadline(deadline) {
            Ok(e) => events.push(e),
            Err(_) => return Err("no MediaStateChanged(Connected)".into()),
        }
    }
    pipeline.release()?;
    check_order(&events)?;
    println!("events came in the order of Kurento's sample sequence");
    Ok(())
}

fn media_connected(e: &Event) -> bool {
    matches!(e, Event::MediaStateChanged(m) if m.new_state == MediaState::Connected)
}

/// The seed's order: Gathering, candidates, Connecting, NewCandidatePairSelected,
/// Connected, (gathering done), Ready; then the media: MediaStateChanged(Connected).
fn check_order(events: &[Event]) -> Result<()> {
    let position = |what: &str, p: &dyn Fn(&Event) -> bool| {
        events
            .iter()
            .position(p)
            .ok_or_else(|| format!("no {what} event"))
    };
    let ice = |s: IceComponentState| move |e: &Event| matches!(e, Event::IceComponentStateChanged(c) if c.state == s);
    let order = [
        position("Gathering", &ice(IceComponentState::Gathering))?,
        position("Connecting", &ice(IceComponentState::Connecting))?,
        position("NewCandidatePairSelected", &|e| {
            matches!(e, Event::NewCandidatePairSelected(_))
        })?,
        position("Connected", &ice(IceComponentState::Connected))?,
        position("Ready", &ice(IceComponentState::Ready))?,
        position("MediaStateChanged(Connected)", &media_connected)?,
    ];
    if !order.windows(2).all(|w| w[0] < w[1]) {
        return Err(format!("events out of the seed's order (positions {order:?})").into());
    }
    let found = position("IceCandidateFound", &|e| {
        matches!(e, Event::IceCandidateFound(_))
    })?;
    let done = position("IceGatheringDone", &|e| {
        matches!(e, Event::IceGatheringDone(_))
    })?;
    if found > done {
        return Err("IceGatheringDone before any IceCandidateFound".into());
    }
    Ok(())
}

/// One line of an event's own fields.
fn summary(e: &Event) -> String {
    match e {
        Event::IceCandidateFound(c) => c.candidate.candidate.clone(),
        Event::IceComponentStateChanged(c) => format!("{}", c.state),
        Event::NewCandidatePairSelected(p) => format!(
            "{} <-> {}",
            p.candidate_pair.local_candidate, p.candidate_pair.remote_candidate
        ),
        Event::DtlsConnectionStateChange(d) => format!("{:?}", d.state),
        Event::ConnectionStateChanged(c) => format!("{:?} -> {:?}", c.old_state, c.new_state),
        Event::MediaStateChanged(m) => format!("{:?} -> {:?}", m.old_state, m.new_state),
        Event::MediaFlowInStateChanged(f) => format!("{} {}", f.media_type, f.state.as_str()),
        Event::MediaFlowOutStateChanged(f) => format!("{} {}", f.media_type, f.state.as_str()),
        Event::MediaTranscodingStateChanged(t) => format!("{} {}", t.media_type, t.state.as_str()),
        Event::Error(e) => format!("{}: {}", e.error_type.as_str(), e.description),
        _ => String::new(),
    }
}
