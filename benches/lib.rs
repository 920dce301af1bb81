//! Shared helpers of mediaflow's benchmarks.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mediaflow::{Buffer, Event, MediaPipeline, WebRtcEndpoint};

/// Total measured time and iterations per benchmark id, so ratios can be printed from
/// the very measurements criterion made.
#[derive(Default)]
pub struct Tally(Mutex<BTreeMap<String, (Duration, u64)>>);

impl Tally {
    /// An empty tally.
    pub const fn new() -> Tally {
        Tally(Mutex::new(BTreeMap::new()))
    }

    /// Adds one criterion sample.
    pub fn add(&self, id: &str, elapsed: Duration, iters: u64) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(id.to_string()).or_default();
        entry.0 += elapsed;
        entry.1 += iters;
    }

    /// Mean nanoseconds per iteration of `id`.
    pub fn nanos_per_iter(&self, id: &str) -> Option<f64> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .filter(|(_, iters)| *iters > 0)
            .map(|(d, iters)| d.as_nanos() as f64 / *iters as f64)
    }
}

/// CPU time of this process so far (user + system, all threads).
pub fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let t = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// A 1200-byte VP8 RTP packet (every 30th a keyframe).
pub fn vp8(seq: u16) -> Buffer {
    mediaflow_testkit::vp8_sized(seq, 1200)
}

/// An endpoint on 127.0.0.1 only.
pub fn endpoint(pipeline: &MediaPipeline) -> WebRtcEndpoint {
    WebRtcEndpoint::builder(pipeline)
        .network_interfaces(["lo"])
        .build()
        .expect("an endpoint")
}

/// Trickles each endpoint's candidates to the other, as signaling would.
pub fn trickle(a: &WebRtcEndpoint, b: &WebRtcEndpoint) {
    for (from, to) in [(a, b), (b, a)] {
        let to = to.clone();
        from.on_ice_candidate_found(move |e| {
            let _ = to.add_ice_candidate(e.candidate.clone());
        })
        .expect("handler");
    }
}

/// Offer/answer and trickle between `a` (offers) and `b`; returns once `a` is connected.
pub fn connect_pair(a: &WebRtcEndpoint, b: &WebRtcEndpoint) {
    trickle(a, b);
    let events = a.events().expect("events");
    let offer = a.generate_offer().expect("offer");
    a.process_answer(&b.process_offer(&offer).expect("answer"))
        .expect("answer applied");
    a.gather_candidates().expect("gather");
    b.gather_candidates().expect("gather");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(
        events.recv_deadline(deadline),
        Ok(Event::ConnectionStateChanged(_))
    ) {
        assert!(Instant::now() < deadline, "not connected within 10 s");
    }
}

pub use mediaflow_testkit::raise_fd_limit;
