//! Automatic transcoding between two WebRtcEndpoints: the camera (an AppSource) sends
//! VP8, but the receiving peer offered H.264 only (as a browser restricted with
//! setCodecPreferences would). The pipeline inserts a VP8 -> H.264 transcoder on the
//! link, reports MediaTranscodingStateChanged, and the peer's AppSink gets H.264 that
//! decodes (OpenH264 here). Disconnecting tears the transcoder down: NotTranscoding.
//!
//! `cargo run -p mediaflow --example transcoding` (exits by itself, nonzero on failure)

mod camera;

use std::time::{Duration, Instant};

use camera::{Camera, Result};
use mediaflow::{AppSink, AppSource, Event, MediaPipeline, MediaType, WebRtcEndpoint};
use mediaflow_transcoder::rtp::{names, Assembled, FrameAssembler};
use mediaflow_transcoder::H264Decoder;

fn main() -> Result<()> {
    let pipeline = MediaPipeline::new()?;
    let camera = AppSource::new(&pipeline)?;
    let sender = WebRtcEndpoint::builder(&pipeline)
        .network_interfaces(["lo"])
        .build()?;
    let h264_peer = WebRtcEndpoint::builder(&pipeline)
        .network_interfaces(["lo"])
        .build()?;
    let screen = AppSink::with_capacity(&pipeline, 10_000)?;
    // Transcoding is reported by the element whose output is converted: the camera.
    camera.on_media_transcoding_state_changed(|e| {
        println!(
            "MediaTranscodingStateChanged: {} {} (bin {})",
            e.media_type,
            e.state.as_str(),
            e.bin_name
        );
    })?;
    let transcoding_events = camera.events()?;
    camera.connect_media(&sender, MediaType::Video)?;
    h264_peer.connect_media(&screen, MediaType::Video)?;

    for (from, to) in [(&sender, &h264_peer), (&h264_peer, &sender)] {
        let to = to.clone();
        from.on_ice_candidate_found(move |e| {
            let _ = to.add_ice_candidate(e.candidate.clone());
        })?;
    }
    let offer = h264_only(&h264_peer.generate_offer()?);
    let answer = sender.process_offer(&offer)?;
    h264_peer.process_answer(&answer)?;
    sender.gather_candidates()?;
    h264_peer.gather_candidates()?;

    // Like a real encoder: a keyframe when downstream (the transcoder) asks.
    let mut pattern = Camera::new(320, 240)?;
    let mut assembler = FrameAssembler::new(names::H264).ok_or("no H.264 assembler")?;
    let mut decoder = H264Decoder::new()?;
    let mut pictures = 0;
    let deadline = Instant::now() + Duration::from_secs(8);
    while pictures < 20 {
        if Instant::now() > deadline {
            return Err(format!("only {pictures} H.264 pictures decoded").into());
        }
        pattern.push_frame(&camera)?;
        std::thread::sleep(Duration::from_millis(33));
        while let Some(b) = screen.try_recv() {
            if b.codec != Some("video/H264") {
                return Err(format!("the peer got {:?}, not H.264", b.codec).into());
            }
            if let Assembled::Frame(f) = assembler.push(&b.data) {
                if let Ok(Some(p)) = decoder.decode(&f.data) {
                    if (p.width, p.height) == (320, 240) {
                        pictures += 1;
                    }
                }
            }
        }
    }
    println!("{pictures} H.264 pictures of 320x240 decoded at the peer (sent as VP8)");

    // The consumer leaves: the transcoder goes, NotTranscoding is reported.
    camera.disconnect_media(&sender, MediaType::Video)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut states = Vec::new();
    while states.len() < 2 {
        match transcoding_events.recv_deadline(deadline) {
            Ok(Event::MediaTranscodingStateChanged(t)) if t.media_type == MediaType::Video => {
                states.push(t.state.as_str())
            }
            Ok(_) => {}
            Err(_) => return Err(format!("transcoding states seen: {states:?}").into()),
        }
    }
    pipeline.release()?;
    if states != ["TRANSCODING", "NOT_TRANSCODING"] {
        return Err(format!("unexpected transcoding states {states:?}").into());
    }
    Ok(())
}

/// The payload type of an `a=rtpmap:`/`a=fmtp:`/`a=rtcp-fb:` line.
fn pt_of<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.strip_prefix(prefix)?.split(' ').next()
}

/// The offer with only H.264 (and its RTX) left on the video m-line.
fn h264_only(offer: &str) -> String {
    let lines: Vec<&str> = offer.split("\r\n").collect();
    let mut keep: Vec<String> = lines
        .iter()
        .filter(|l| l.contains(" H264/"))
        .filter_map(|l| pt_of(l, "a=rtpmap:").map(str::to_owned))
        .collect();
    let rtx: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("a=fmtp:")?.split_once(" apt="))
        .filter(|(_, apt)| keep.iter().any(|k| k == apt))
        .map(|(pt, _)| pt.to_owned())
        .collect();
    keep.extend(rtx);
    let mut in_video = false;
    let mut out = Vec::new();
    for l in lines {
        if let Some(m) = l.strip_prefix("m=") {
            in_video = m.starts_with("video");
            if in_video {
                let f: Vec<&str> = m.split(' ').collect();
                let pts = f.iter().skip(3).filter(|pt| keep.iter().any(|k| k == *pt));
                let head = f.iter().take(3);
                out.push(format!(
                    "m={}",
                    head.chain(pts).copied().collect::<Vec<_>>().join(" ")
                ));
                continue;
            }
        }
        let dropped = in_video
            && ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
                .iter()
                .filter_map(|p| pt_of(l, p))
                .any(|pt| !keep.iter().any(|k| k == pt));
        if !dropped {
            out.push(l.to_owned());
        }
    }
    out.join("\r\n")
}
