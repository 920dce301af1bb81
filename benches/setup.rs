//! Call setup, engine to engine on 127.0.0.1: creating an endpoint, `process_offer`, and
//! offer -> first media packet back through a Hello-World loopback (ICE, DTLS, SRTP),
//! as medians over a number of calls made one after another.
//!
//! Run: `cargo bench -p mediaflow-benches --bench setup [-- CALLS]`.

use std::time::{Duration, Instant};

use mediaflow::{AppSink, AppSource, MediaPipeline};
use mediaflow_benches::{endpoint, trickle, vp8};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let calls: usize = std::env::args()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(50);
    let (mut create, mut answer, mut first) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..calls {
        let (x, y) = (
            MediaPipeline::new().expect("pipeline"),
            MediaPipeline::new().expect("pipeline"),
        );
        let t = Instant::now();
        let b = endpoint(&y);
        create.push(t.elapsed());
        let a = endpoint(&x);
        b.connect(&b).expect("loopback");
        let source = AppSource::new(&x).expect("source");
        let sink = AppSink::new(&x).expect("sink");
        source.connect(&a).expect("link");
        a.connect(&sink).expect("link");
        trickle(&a, &b);
        let start = Instant::now();
        let offer = a.generate_offer().expect("offer");
        let t = Instant::now();
        let sdp = b.process_offer(&offer).expect("answer");
        answer.push(t.elapsed());
        a.process_answer(&sdp).expect("answer applied");
        a.gather_candidates().expect("gather");
        b.gather_candidates().expect("gather");
        let deadline = start + Duration::from_secs(10);
        let mut seq = n as u16 * 1000;
        loop {
            assert!(Instant::now() < deadline, "no media back within 10 s");
            let _ = source.push(vp8(seq));
            seq = seq.wrapping_add(1);
            if sink.recv_timeout(Duration::from_millis(1)).is_some() {
                first.push(start.elapsed());
                break;
            }
        }
        let _ = x.release();
        let _ = y.release();
    }
    println!(
        "{calls} calls: endpoint created {:.2?}, process_offer {:.2?}, offer -> first packet back {:.2?} (medians)",
        median(create),
        median(answer),
        median(first)
    );
}
