//! Shared helpers of mediaflow's benchmarks.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

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
