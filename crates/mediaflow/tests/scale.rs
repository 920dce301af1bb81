//! A thousand pipelines on one runtime: the thread count does not move, sockets are
//! the runtime's, and releasing them gives every port and fd back.

use std::time::{Duration, Instant};

use mediaflow::{Event, MediaPipeline, Runtime, WebRtcEndpoint};
use mediaflow_testkit::{fd_count as fds, thread_count as threads};

/// A Hello-World loopback: an endpoint connected to itself.
fn loopback(pipeline: &MediaPipeline) -> WebRtcEndpoint {
    let endpoint = WebRtcEndpoint::builder(pipeline)
        .network_interfaces(["lo"])
        .build()
        .unwrap();
    endpoint.connect(&endpoint).unwrap();
    endpoint
}

/// Offer/answer between two endpoints of the same runtime.
fn answer_from(offerer: &WebRtcEndpoint, answerer: &WebRtcEndpoint) {
    let offer = offerer.generate_offer().unwrap();
    let answer = answerer.process_offer(&offer).unwrap();
    offerer.process_answer(&answer).unwrap();
}

#[test]
fn a_thousand_pipelines_with_endpoints_share_a_fixed_set_of_threads() {
    // Each endpoint holds a socket; a fresh Debian has a soft limit of 1024 fds.
    mediaflow_testkit::raise_fd_limit(4096);
    let runtime = Runtime::builder()
        .workers(2)
        .dispatchers(2)
        .build()
        .unwrap();
    // Warm-up: what libraries open once per process (randomness, netlink) is not ours.
    let warm = MediaPipeline::builder().runtime(&runtime).build().unwrap();
    let (a, b) = (loopback(&warm), loopback(&warm));
    answer_from(&a, &b);
    warm.release().unwrap();
    let (threads_before, fds_before) = (threads(), fds());
    let mut pipelines = Vec::new();
    for _ in 0..1000 {
        let pipeline = MediaPipeline::builder().runtime(&runtime).build().unwrap();
        let endpoint = loopback(&pipeline);
        pipelines.push((pipeline, endpoint));
    }
    assert_eq!(
        threads(),
        threads_before,
        "no thread per pipeline or socket"
    );
    assert!(fds() >= fds_before + 1000, "one socket per endpoint");

    // Pipelines still answer while a thousand others sit on the same two workers: ten
    // pairs negotiate and connect over real UDP.
    let start = Instant::now();
    for pair in pipelines[..20].chunks(2) {
        let (a, b) = (&pair[0].1, &pair[1].1);
        let events = b.events().unwrap();
        for (from, to) in [(a, b), (b, a)] {
            let to = to.clone();
            from.on_ice_candidate_found(move |e| {
                let _ = to.add_ice_candidate(e.candidate.clone());
            })
            .unwrap();
        }
        answer_from(a, b);
        a.gather_candidates().unwrap();
        b.gather_candidates().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = events
                .recv_deadline(deadline)
                .expect("DTLS connected within 10 s");
            if matches!(e, Event::ConnectionStateChanged(ref c) if c.new_state == mediaflow::ConnectionState::Connected)
            {
                break;
            }
        }
    }
    eprintln!(
        "10 pairs connected in {:?} beside 980 idle pipelines",
        start.elapsed()
    );
    assert_eq!(threads(), threads_before);

    for (pipeline, _) in pipelines.drain(..) {
        pipeline.release().unwrap();
    }
    assert_eq!(threads(), threads_before);
    assert_eq!(fds(), fds_before, "every socket closed");
}
