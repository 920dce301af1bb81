//! A pipeline in a few lines: media pushed in by the host goes through a PassThrough
//! and comes back out, while Kurento's events are printed as they fire.
//!
//! `cargo run -p mediaflow --example passthrough`

use std::time::Duration;

use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType, PassThrough};

fn main() -> Result<(), mediaflow::Error> {
    let pipeline = MediaPipeline::builder()
        .flow_idle_timeout(Duration::from_millis(500))
        .build()?;
    let events = pipeline.events()?;
    let printer = std::thread::spawn(move || {
        for e in events {
            println!("event {:<26} from {}  {e:?}", e.type_name(), e.source());
        }
    });

    let source = AppSource::new(&pipeline)?;
    let pass = PassThrough::new(&pipeline)?;
    let sink = AppSink::new(&pipeline)?;
    source.connect(&pass)?;
    pass.connect(&sink)?;

    for n in 0..30u32 {
        source.push(Buffer::new(MediaType::Video, n.to_be_bytes().to_vec()))?;
        std::thread::sleep(Duration::from_millis(33));
    }
    let received = std::iter::from_fn(|| sink.recv_timeout(Duration::from_millis(100))).count();
    println!("pushed 30 buffers, {received} came out of the sink");
    // Wait for the pads to go idle, so NotFlowing shows up too.
    std::thread::sleep(Duration::from_millis(800));
    pipeline.release()?;
    printer.join().expect("printer thread");
    Ok(())
}
