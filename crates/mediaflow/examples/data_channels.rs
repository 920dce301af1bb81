//! WebRTC data channels (Kurento's "WebRTC with data channels" tutorial, engine to
//! engine): endpoint A is the Hello World loopback built with `use_data_channels`, so
//! it echoes every message on the channel it came in on. Endpoint B plays the browser:
//! messages pushed into its DATA pad (an AppSource) go out on the channel their buffer
//! names (created on demand), and the echoes leave its DATA pad into an AppSink. B
//! also opens and closes a channel through the API: DataChannelOpened / Closed.
//!
//! `cargo run -p mediaflow --example data_channels` (exits by itself, nonzero on
//! failure)

use std::sync::Arc;
use std::time::{Duration, Instant};

use mediaflow::{
    AppSink, AppSource, Buffer, DataChannelMeta, Event, MediaPipeline, MediaType, WebRtcEndpoint,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let pipeline = MediaPipeline::new()?;
    let endpoint = || {
        WebRtcEndpoint::builder(&pipeline)
            .network_interfaces(["lo"])
            .use_data_channels(true)
            .build()
    };
    let (a, b) = (endpoint()?, endpoint()?);
    a.connect(&a)?;
    let source = AppSource::new(&pipeline)?;
    let sink = AppSink::new(&pipeline)?;
    source.connect_media(&b, MediaType::Data)?;
    b.connect_media(&sink, MediaType::Data)?;
    for (from, to) in [(&a, &b), (&b, &a)] {
        let to = to.clone();
        from.on_ice_candidate_found(move |e| {
            let _ = to.add_ice_candidate(e.candidate.clone());
        })?;
    }
    a.on_data_channel_opened(|e| println!("A: DataChannelOpened {}", e.channel_id))?;
    let b_events = b.events()?;

    let answer = a.process_offer(&b.generate_offer()?)?;
    b.process_answer(&answer)?;
    a.gather_candidates()?;
    b.gather_candidates()?;

    // B's own channel: it can be created once the call is up (SCTP runs over DTLS).
    let deadline = Instant::now() + Duration::from_secs(10);
    let api = loop {
        if let Ok(id) = b.create_data_channel("api", true, None, None, "") {
            break id;
        }
        if Instant::now() > deadline {
            return Err("the data channels never came up".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    wait_for(
        &b_events,
        "B: DataChannelOpened",
        |e| matches!(e, Event::DataChannelOpened(o) if o.channel_id == api),
    )?;

    // Messages for the label "chat": B has no such channel, so one is made for them.
    for i in 0..10 {
        let mut message = Buffer::new(MediaType::Data, format!("hello {i}").into_bytes());
        message.data_channel = Some(DataChannelMeta {
            stream_id: 0,
            label: Arc::from("chat"),
            binary: false,
        });
        source.push(message)?;
    }
    let mut echoes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while echoes.len() < 10 {
        if Instant::now() > deadline {
            return Err(format!("only {} echoes: {echoes:?}", echoes.len()).into());
        }
        while let Some(buffer) = sink.try_recv() {
            let label = buffer.data_channel.map(|c| c.label).unwrap_or_default();
            let text = String::from_utf8_lossy(&buffer.data).into_owned();
            println!("B got back on '{label}': {text}");
            echoes.push(text);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if echoes != (0..10).map(|i| format!("hello {i}")).collect::<Vec<_>>() {
        return Err(format!("echoes out of order: {echoes:?}").into());
    }

    b.close_data_channel(api)?;
    wait_for(
        &b_events,
        "B: DataChannelClosed",
        |e| matches!(e, Event::DataChannelClosed(c) if c.channel_id == api),
    )?;
    pipeline.release()?;
    Ok(())
}

/// Waits (bounded) for the event `want` matches, and prints it after `what`.
fn wait_for(
    events: &mediaflow::Receiver<Event>,
    what: &str,
    want: impl Fn(&Event) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(e) = events.recv_deadline(deadline) {
        if want(&e) {
            println!("{what}: {e:?}");
            return Ok(());
        }
    }
    Err(format!("no {what} within 10 s").into())
}
