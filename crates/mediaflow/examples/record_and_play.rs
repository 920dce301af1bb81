//! Record to WebM, then play the file back (RecorderEndpoint, PlayerEndpoint).
//!
//! A test-pattern camera (an AppSource fed by VP8) is recorded for three seconds into
//! a WebM file, without re-encoding: Recording, then Stopped once the file is
//! finalised. A PlayerEndpoint then plays that file in real time into an AppSink, whose
//! VP8 is decoded here; EndOfStream comes at the end of the file. In a real
//! application the camera is a WebRtcEndpoint (a browser) and the player feeds one.
//!
//! `cargo run -p mediaflow --example record_and_play` (exits by itself, nonzero on
//! failure)

mod camera;

use std::time::{Duration, Instant};

use camera::{Camera, Result};
use mediaflow::{
    AppSink, AppSource, Event, MediaPipeline, MediaProfile, MediaType, PlayerEndpoint,
    RecorderEndpoint,
};
use mediaflow_transcoder::rtp::{names, Assembled, FrameAssembler};
use mediaflow_transcoder::Vp8Decoder;

const FRAMES: u32 = 90;

fn main() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("mediaflow-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = record_and_play(&dir.join("call.webm"));
    std::fs::remove_dir_all(&dir).ok();
    result
}

fn record_and_play(path: &std::path::Path) -> Result<()> {
    let uri = format!("file://{}", path.display());
    let pipeline = MediaPipeline::new()?;

    let source = AppSource::new(&pipeline)?;
    let recorder = RecorderEndpoint::builder(&pipeline, &uri)
        .media_profile(MediaProfile::WebmVideoOnly)
        .build()?;
    recorder.on_recording(|_| println!("Recording"))?;
    recorder.on_stopped(|_| println!("Stopped"))?;
    source.connect_media(&recorder, MediaType::Video)?;
    recorder.record()?;
    let mut camera = Camera::new(320, 240)?;
    for _ in 0..FRAMES {
        camera.push_frame(&source)?;
        std::thread::sleep(Duration::from_millis(33));
    }
    // Returns once the file is complete (its cues and duration written).
    recorder.stop_and_wait(Duration::from_secs(5))?;
    let size = std::fs::metadata(path)?.len();
    println!(
        "{FRAMES} frames recorded: {} ({size} bytes)",
        path.display()
    );

    let player = PlayerEndpoint::builder(&pipeline, &uri).build()?;
    let screen = AppSink::with_capacity(&pipeline, 10_000)?;
    player.connect_media(&screen, MediaType::Video)?;
    let events = player.events()?;
    player.play()?;
    let info = player.get_video_info()?;
    println!(
        "playing: {} ms long, seekable {}",
        info.duration, info.is_seekable
    );
    let mut assembler = FrameAssembler::new(names::VP8).ok_or("no VP8 assembler")?;
    let mut decoder = Vp8Decoder::new()?;
    let (mut pictures, mut ended) = (0u32, false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ended {
        if Instant::now() > deadline {
            return Err(format!("no EndOfStream; {pictures} pictures decoded").into());
        }
        while let Some(buffer) = screen.try_recv() {
            if let Assembled::Frame(f) = assembler.push(&buffer.data) {
                if let Ok(Some(p)) = decoder.decode(&f.data) {
                    pictures += u32::from((p.width, p.height) == (320, 240));
                }
            }
        }
        ended = events
            .try_iter()
            .any(|e| matches!(e, Event::EndOfStream(_)));
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("EndOfStream: {pictures} pictures of 320x240 played back");
    pipeline.release()?;
    // A frame or two may still be in the link when the end is announced.
    if pictures + 5 < FRAMES {
        return Err(format!("only {pictures} of {FRAMES} frames played back").into());
    }
    Ok(())
}
