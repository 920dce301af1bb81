//! VP8 → H.264 at 720p: frames per second through a pipeline (AppSource → AppSink that
//! takes only H.264, so the graph inserts its transcoder) beside the raw codec loop
//! (the same libvpx decoder and openh264 encoder called directly, no graph) in the same
//! run. The ratio graph/raw is the figure; the goal is ≥ 0.95.
//!
//! Run: `cargo bench -p mediaflow-benches --bench transcode` (ROUNDS=n to repeat).
//! Timing is hand-rolled rather than criterion: one round is seconds of codec work.

use std::time::{Duration, Instant};

use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType};
use mediaflow_transcoder::rtp::{names, RtpPacketizer};
use mediaflow_transcoder::{H264Encoder, I420Frame, Vp8Decoder, Vp8Encoder};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
/// Frames per round: the whole clip fits the transcoder's input queue (512 packets), so
/// the graph round measures the transcoder's throughput, not drops.
const FRAMES: usize = 90;
/// Source bitrate of the clip, and the H.264 bitrate both sides encode at (the graph's
/// default when the consumer sends no REMB).
const SOURCE_KBPS: u32 = 800;
const TARGET_KBPS: u32 = 500;

/// A moving gradient, so every frame has motion to encode.
fn picture(n: u32) -> I420Frame {
    let mut p = I420Frame::filled(WIDTH, HEIGHT, 0, 128);
    for (i, b) in p.data[..(WIDTH * HEIGHT) as usize].iter_mut().enumerate() {
        let (x, y) = (i as u32 % WIDTH, i as u32 / WIDTH);
        *b = ((x + y + n * 4) % 256) as u8;
    }
    p
}

/// The clip as VP8 frames, each also as the RTP packets a browser would send.
fn clip() -> Vec<(Vec<u8>, Vec<Buffer>)> {
    let mut encoder = Vp8Encoder::new(WIDTH, HEIGHT, SOURCE_KBPS).expect("vp8 encoder");
    let mut packetizer = RtpPacketizer::new(names::VP8, 0x5eed).expect("vp8 packetizer");
    let mut out = Vec::new();
    for n in 0..FRAMES as u32 {
        for f in encoder.encode(&picture(n), n == 0).expect("encode") {
            let packets = packetizer
                .packetize(&f.data, n * 3000)
                .into_iter()
                .map(|p| {
                    let mut b = Buffer::new(MediaType::Video, p);
                    b.codec = Some(names::VP8);
                    b.keyframe = f.keyframe;
                    b
                })
                .collect();
            out.push((f.data, packets));
        }
    }
    out
}

/// Decode + encode with the libraries alone; returns (seconds, H.264 frames out).
fn raw(clip: &[(Vec<u8>, Vec<Buffer>)]) -> (f64, usize) {
    let mut decoder = Vp8Decoder::new().expect("vp8 decoder");
    let mut encoder: Option<H264Encoder> = None;
    let mut frames = 0;
    let start = Instant::now();
    for (i, (vp8, _)) in clip.iter().enumerate() {
        if let Some(picture) = decoder.decode(vp8).expect("decode") {
            let encoder = encoder.get_or_insert_with(|| {
                H264Encoder::new(picture.width, picture.height, TARGET_KBPS).expect("h264")
            });
            frames += encoder.encode(&picture, i == 0).expect("encode").len();
        }
    }
    (start.elapsed().as_secs_f64(), frames)
}

/// The same clip pushed as RTP into a pipeline whose sink takes only H.264; returns
/// (seconds from the first push to the last H.264 frame out, H.264 frames out).
fn graph(clip: &[(Vec<u8>, Vec<Buffer>)]) -> (f64, usize) {
    let pipeline = MediaPipeline::new().expect("pipeline");
    let source = AppSource::new(&pipeline).expect("source");
    let sink = AppSink::with_codecs(&pipeline, 1 << 16, &[names::H264]).expect("sink");
    source.connect(&sink).expect("connect");
    let start = Instant::now();
    for (_, packets) in clip {
        for b in packets {
            source.push(b.clone()).expect("push");
        }
    }
    let (mut frames, mut last) = (0, start);
    // A frame ends with the RTP marker bit; the round ends when output stops.
    while let Some(b) = sink.recv_timeout(Duration::from_secs(2)) {
        if b.data.get(1).is_some_and(|m| m & 0x80 != 0) {
            frames += 1;
            last = Instant::now();
        }
    }
    pipeline.release().expect("release");
    (last.duration_since(start).as_secs_f64(), frames)
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let clip = clip();
    println!(
        "VP8 -> H.264 {WIDTH}x{HEIGHT}, {} frames per round, {rounds} rounds",
        clip.len()
    );
    let (mut raw_s, mut raw_n, mut graph_s, mut graph_n) = (0.0, 0, 0.0, 0);
    for round in 0..rounds {
        let (s, n) = raw(&clip);
        let (gs, gn) = graph(&clip);
        println!(
            "round {round}: raw {:.1} fps ({n} frames), graph {:.1} fps ({gn} frames)",
            n as f64 / s,
            gn as f64 / gs
        );
        (raw_s, raw_n, graph_s, graph_n) = (raw_s + s, raw_n + n, graph_s + gs, graph_n + gn);
    }
    let (raw_fps, graph_fps) = (raw_n as f64 / raw_s, graph_n as f64 / graph_s);
    println!(
        "raw codec loop {raw_fps:.1} fps, through the graph {graph_fps:.1} fps: ratio {:.3} (goal >= 0.95)",
        graph_fps / raw_fps
    );
}
