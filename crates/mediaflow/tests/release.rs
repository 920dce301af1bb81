//! Releasing frees threads and memory. One test in this binary, so no other test's
//! allocations or threads blur the counts.

use std::time::Duration;

use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType, PassThrough};
use mediaflow_testkit::{live_heap_bytes, thread_count as threads, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// A pipeline of 100 elements: a source, a chain of 98 PassThroughs, a sink; media
/// through it; handlers that hold handles (a reference cycle only release breaks).
fn run_pipeline(explicit_release: bool) -> usize {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let chain: Vec<_> = (0..98)
        .map(|_| PassThrough::new(&pipeline).unwrap())
        .collect();
    let sink = AppSink::new(&pipeline).unwrap();
    source.connect(&chain[0]).unwrap();
    for pair in chain.windows(2) {
        pair[0].connect(&pair[1]).unwrap();
    }
    chain[97].connect(&sink).unwrap();
    let events = pipeline.events().unwrap();
    if explicit_release {
        let held = chain[5].clone();
        chain[4]
            .on_media_flow_out_state_changed(move |_| {
                let _ = held.is_media_flowing_in(MediaType::Video);
            })
            .unwrap();
    }
    for n in 0..100u32 {
        source
            .push(Buffer::new(MediaType::Video, n.to_be_bytes().to_vec()))
            .unwrap();
    }
    for _ in 0..100 {
        sink.recv_timeout(Duration::from_secs(5))
            .expect("buffer through the chain");
    }
    let during = threads();
    assert_eq!(pipeline.get_children().unwrap().len(), 100);
    assert!(events.recv_timeout(Duration::from_secs(5)).is_ok());
    if explicit_release {
        pipeline.release().unwrap();
    }
    during
}

#[test]
fn releasing_a_pipeline_with_100_connected_elements_frees_threads_and_memory() {
    // Warm-up: first-use allocations of the runtime (its threads, started with the first
    // pipeline) and of libraries are not ours to free.
    run_pipeline(true);
    run_pipeline(false);
    let (threads_before, live_before) = (threads(), live_heap_bytes());
    for round in 0..6 {
        let explicit = round % 2 == 0;
        let during = run_pipeline(explicit);
        assert_eq!(
            during, threads_before,
            "pipelines run on the shared runtime's threads"
        );
        assert_eq!(
            threads(),
            threads_before,
            "threads left behind (explicit release: {explicit})"
        );
    }
    let growth = live_heap_bytes() - live_before;
    assert!(
        growth.abs() < 1024,
        "live heap grew by {growth} bytes over 6 pipelines of 100 elements"
    );
}
