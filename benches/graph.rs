//! Cost per buffer through a pipeline: AppSource -> N PassThroughs -> AppSink, beside a
//! bare relay thread that forwards buffers from one crossbeam channel to another (the
//! least any threaded engine pays to move a buffer through a worker and back).
//!
//! Run: `cargo bench -p mediaflow-benches --bench graph`. The last lines print the ratio
//! of each chain to the bare relay, from the same run.

use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use crossbeam_channel::bounded;
use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType, PassThrough};
use mediaflow_benches::Tally;

/// Buffers in flight at once: a burst, as packets arrive from a socket in batches.
const BATCH: u64 = 64;
const CHAINS: [usize; 3] = [1, 4, 16];

static TALLY: Tally = Tally::new();

fn packet() -> Buffer {
    // An RTP packet's worth; fan-out and hops copy the handle, not the bytes.
    Buffer::new(MediaType::Video, Bytes::from(vec![0u8; 1200]))
}

/// Sends `iters` buffers through `send`/`recv` in batches and returns the elapsed time.
fn drive(iters: u64, mut send: impl FnMut(Buffer), mut recv: impl FnMut()) -> Duration {
    let buffer = packet();
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        for _ in 0..n {
            send(buffer.clone());
        }
        for _ in 0..n {
            recv();
        }
        left -= n;
    }
    start.elapsed()
}

fn relay(c: &mut Criterion) {
    let (in_tx, in_rx) = bounded::<Buffer>(4096);
    let (out_tx, out_rx) = bounded::<Buffer>(4096);
    let worker = thread::spawn(move || {
        for b in in_rx {
            if out_tx.send(b).is_err() {
                break;
            }
        }
    });
    let mut group = c.benchmark_group("per_buffer");
    group.throughput(Throughput::Elements(1));
    group.bench_function("crossbeam_relay", |b| {
        b.iter_custom(|iters| {
            let elapsed = drive(
                iters,
                |buf| in_tx.send(buf).unwrap(),
                || {
                    out_rx.recv().unwrap();
                },
            );
            TALLY.add("relay", elapsed, iters);
            elapsed
        })
    });
    group.finish();
    drop(in_tx);
    worker.join().unwrap();
}

fn chains(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_buffer");
    group.throughput(Throughput::Elements(1));
    for n in CHAINS {
        let pipeline = MediaPipeline::new().unwrap();
        let source = AppSource::new(&pipeline).unwrap();
        let chain: Vec<_> = (0..n)
            .map(|_| PassThrough::new(&pipeline).unwrap())
            .collect();
        let sink = AppSink::with_capacity(&pipeline, 4096).unwrap();
        source.connect_media(&chain[0], MediaType::Video).unwrap();
        for pair in chain.windows(2) {
            pair[0].connect_media(&pair[1], MediaType::Video).unwrap();
        }
        chain[n - 1].connect_media(&sink, MediaType::Video).unwrap();
        let id = format!("chain{n}");
        group.bench_with_input(BenchmarkId::new("passthrough_chain", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let elapsed = drive(
                    iters,
                    |buf| source.push(buf).unwrap(),
                    || {
                        sink.recv_timeout(Duration::from_secs(5)).expect("buffer");
                    },
                );
                TALLY.add(&id, elapsed, iters);
                elapsed
            })
        });
        assert_eq!(sink.dropped(), 0);
        pipeline.release().unwrap();
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    relay(&mut c);
    chains(&mut c);
    c.final_summary();
    let Some(base) = TALLY.nanos_per_iter("relay") else {
        return;
    };
    println!("\nper buffer, same run (1200-byte buffers, bursts of {BATCH}):");
    println!("  bare crossbeam relay thread   {base:>8.1} ns   1.00x");
    for n in CHAINS {
        if let Some(ns) = TALLY.nanos_per_iter(&format!("chain{n}")) {
            println!(
                "  pipeline, {n:>2} PassThrough(s)  {ns:>8.1} ns   {:.2}x",
                ns / base
            );
        }
    }
}
