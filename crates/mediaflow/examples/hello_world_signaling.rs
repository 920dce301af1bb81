//! Kurento's Hello World signaling, as a minimal program: a WebSocket server that takes
//! `start {sdpOffer}`, answers with `startResponse {sdpAnswer}` from a WebRtcEndpoint
//! connected to itself (loopback: what you send comes back), and trickles candidates
//! both ways (`iceCandidate` out, `onIceCandidate` in); `stop` or closing the socket
//! releases the pipeline. The full app (page, HTTPS, STUN/TURN flags, limits) is
//! `crates/demo`; this is the part a host writes around mediaflow.
//!
//! `cargo run -p mediaflow --example hello_world_signaling` serves ws://127.0.0.1:8888/.
//! With `--self-test` it listens on a free port, plays the browser with a second
//! mediaflow endpoint (VP8 out, the loopback's frames back) and exits, nonzero on failure.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Sender};
use mediaflow::{IceCandidate, MediaPipeline, WebRtcEndpoint};
use serde_json::{json, Value};
use tungstenite::Message;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Result<()> {
    let self_test = std::env::args().any(|a| a == "--self-test");
    let listener = TcpListener::bind(if self_test {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:8888"
    })?;
    let url = format!("ws://{}/", listener.local_addr()?);
    if self_test {
        std::thread::spawn(move || serve_one(listener.accept()?.0, true));
        return browser(&url);
    }
    println!("listening on {url}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || serve_one(stream, false));
    }
    Ok(())
}

/// One WebSocket session: at most one pipeline with one self-connected endpoint.
fn serve_one(stream: TcpStream, loopback_only: bool) -> Result<()> {
    // Reads time out so replies queued by event handlers go out between messages.
    stream.set_read_timeout(Some(Duration::from_millis(20)))?;
    let mut ws = tungstenite::accept(stream)?;
    let (out, outgoing) = unbounded::<Value>();
    let mut call: Option<(MediaPipeline, WebRtcEndpoint)> = None;
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                let m: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                let reply = match m["id"].as_str() {
                    Some("start") if call.is_none() => {
                        let offer = m["sdpOffer"].as_str().unwrap_or_default();
                        start(offer, out.clone(), loopback_only).map(|c| call = Some(c))
                    }
                    Some("onIceCandidate") => match &call {
                        Some((_, endpoint)) => candidate(&m["candidate"])
                            .and_then(|c| Ok(endpoint.add_ice_candidate(c)?)),
                        None => Err("send `start` first".into()),
                    },
                    Some("stop") => Ok(call.take().map_or(Ok(()), |(p, _)| p.release())?),
                    _ => Err(format!("invalid message: {text}").into()),
                };
                if let Err(e) = reply {
                    let _ = out.send(json!({"id": "error", "message": e.to_string()}));
                }
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        for m in outgoing.try_iter() {
            ws.send(Message::text(m.to_string()))?;
        }
    }
    if let Some((pipeline, _)) = call {
        pipeline.release()?;
    }
    Ok(())
}

/// Kurento's Hello World pipeline: one WebRtcEndpoint connected to itself.
fn start(
    offer: &str,
    out: Sender<Value>,
    loopback_only: bool,
) -> Result<(MediaPipeline, WebRtcEndpoint)> {
    let pipeline = MediaPipeline::new()?;
    let mut builder = WebRtcEndpoint::builder(&pipeline);
    if loopback_only {
        builder = builder.network_interfaces(["lo"]);
    }
    let endpoint = builder.build()?;
    endpoint.connect(&endpoint)?;
    let candidates = out.clone();
    endpoint.on_ice_candidate_found(move |e| {
        let _ = candidates.send(json!({"id": "iceCandidate", "candidate": {
            "candidate": e.candidate.candidate,
            "sdpMid": e.candidate.sdp_mid,
            "sdpMLineIndex": e.candidate.sdp_m_line_index,
        }}));
    })?;
    endpoint.on_media_state_changed(|e| println!("server: media {:?}", e.new_state))?;
    let answer = endpoint.process_offer(offer)?;
    // The answer goes out before any candidate: the browser needs it to add them.
    out.send(json!({"id": "startResponse", "sdpAnswer": answer}))?;
    endpoint.gather_candidates()?;
    Ok((pipeline, endpoint))
}

/// A browser's RTCIceCandidate as JSON, to ours.
fn candidate(c: &Value) -> Result<IceCandidate> {
    Ok(IceCandidate {
        candidate: c["candidate"].as_str().ok_or("no `candidate`")?.to_owned(),
        sdp_mid: c["sdpMid"].as_str().unwrap_or("0").to_owned(),
        sdp_m_line_index: c["sdpMLineIndex"].as_u64().unwrap_or(0).try_into()?,
    })
}

/// `--self-test`: a second mediaflow endpoint plays the browser over the WebSocket and
/// checks that its video comes back.
fn browser(url: &str) -> Result<()> {
    use mediaflow::{AppSink, AppSource, Buffer, MediaType};
    use mediaflow_transcoder::rtp::{names, RtpPacketizer};
    use mediaflow_transcoder::{I420Frame, Vp8Encoder};

    let pipeline = MediaPipeline::new()?;
    let me = WebRtcEndpoint::builder(&pipeline)
        .network_interfaces(["lo"])
        .build()?;
    let camera = AppSource::new(&pipeline)?;
    let screen = AppSink::with_capacity(&pipeline, 10_000)?;
    camera.connect_media(&me, MediaType::Video)?;
    me.connect_media(&screen, MediaType::Video)?;
    let tcp = TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/'))?;
    let (mut ws, _) = tungstenite::client::client(url, tcp).map_err(|e| e.to_string())?;
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(20)))?;
    let (found_tx, found) = unbounded();
    me.on_ice_candidate_found(move |e| {
        let _ = found_tx.send(e.candidate.clone());
    })?;
    let start = json!({"id": "start", "sdpOffer": me.generate_offer()?});
    ws.send(Message::text(start.to_string()))?;
    let mut encoder = Vp8Encoder::new(160, 120, 200)?;
    let mut packetizer = RtpPacketizer::new(names::VP8, 7).ok_or("no VP8 packetizer")?;
    let (mut n, mut echoed) = (0u32, 0usize);
    let begun = Instant::now();
    let deadline = begun + Duration::from_secs(8);
    while echoed < 30 {
        if Instant::now() > deadline {
            return Err(format!("{echoed} packets came back through the loopback").into());
        }
        for c in found.try_iter() {
            let c = json!({"id": "onIceCandidate", "candidate": {
                "candidate": c.candidate, "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_m_line_index}});
            ws.send(Message::text(c.to_string()))?;
        }
        match ws.read() {
            Ok(Message::Text(text)) => {
                let m: Value = serde_json::from_str(text.as_str())?;
                println!("browser got {}", m["id"]);
                match m["id"].as_str() {
                    Some("startResponse") => {
                        me.process_answer(m["sdpAnswer"].as_str().unwrap_or_default())?;
                        me.gather_candidates()?;
                    }
                    Some("iceCandidate") => me.add_ice_candidate(candidate(&m["candidate"])?)?,
                    _ => return Err(format!("server said {m}").into()),
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(_)) => {}
            Err(e) => return Err(e.into()),
        }
        // A camera at about 30 fps, a keyframe each second.
        if n < begun.elapsed().as_millis() as u32 / 33 {
            let picture = I420Frame::filled(160, 120, (n % 200) as u8, 128);
            n += 1;
            for f in encoder.encode(&picture, n % 30 == 1)? {
                for p in packetizer.packetize(&f.data, n * 3000) {
                    let mut b = Buffer::new(MediaType::Video, p);
                    b.codec = Some("video/VP8");
                    b.keyframe = f.keyframe;
                    camera.push(b)?;
                }
            }
        }
        echoed += screen.receiver().try_iter().count();
    }
    println!("{echoed} video packets came back through the Hello World loopback");
    ws.send(Message::text(json!({"id": "stop"}).to_string()))?;
    ws.close(None)?;
    pipeline.release()?;
    Ok(())
}
