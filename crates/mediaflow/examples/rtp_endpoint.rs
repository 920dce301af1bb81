//! Plain RTP with SDP offer/answer (RtpEndpoint), as a SIP gateway or a GStreamer /
//! ffmpeg pipeline would use it: two RtpEndpoints on 127.0.0.1, one offering (RTP/AVPF,
//! with SDES-SRTP keys in `a=crypto`), the other answering. A test-pattern camera sends
//! VP8 through the first; the second hands what arrives to an AppSink. No ICE, no DTLS:
//! the addresses in the SDP are where the media goes.
//!
//! `cargo run -p mediaflow --example rtp_endpoint` (exits by itself, nonzero on failure)

mod camera;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use camera::{Camera, Result};
use mediaflow::{AppSink, AppSource, CryptoSuite, MediaPipeline, MediaType, RtpEndpoint};

fn main() -> Result<()> {
    let pipeline = MediaPipeline::new()?;
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let endpoint = || {
        RtpEndpoint::builder(&pipeline)
            .address(localhost)
            .crypto(CryptoSuite::AesCm128HmacSha1_80)
            .build()
    };
    let (sender, receiver) = (endpoint()?, endpoint()?);
    let source = AppSource::new(&pipeline)?;
    let sink = AppSink::with_capacity(&pipeline, 10_000)?;
    source.connect_media(&sender, MediaType::Video)?;
    receiver.connect_media(&sink, MediaType::Video)?;
    receiver
        .on_media_state_changed(|e| println!("receiver MediaStateChanged: {:?}", e.new_state))?;

    let offer = sender.generate_offer()?;
    let video_line = offer.lines().find(|l| l.starts_with("m=video"));
    println!("offer: {}", video_line.unwrap_or("(no video)"));
    let answer = receiver.process_offer(&offer)?;
    sender.process_answer(&answer)?;

    let mut camera = Camera::new(320, 240)?;
    let (mut packets, mut frames) = (0usize, 0u32);
    let deadline = Instant::now() + Duration::from_secs(10);
    while frames < 60 || packets == 0 {
        if Instant::now() > deadline {
            return Err(format!("{packets} packets arrived after {frames} frames").into());
        }
        camera.push_frame(&source)?;
        frames += 1;
        std::thread::sleep(Duration::from_millis(33));
        while let Some(buffer) = sink.try_recv() {
            if buffer.codec != Some("video/VP8") {
                return Err(format!("the receiver got {:?}", buffer.codec).into());
            }
            packets += 1;
        }
    }
    let stats = receiver.get_stats()?;
    let cipher = stats.srtp_cipher.clone().unwrap_or_default();
    for s in &stats.inbound {
        println!(
            "receiver: {:?} ssrc {:#x}: {} packets, {} lost",
            s.kind, s.ssrc, s.packets_received, s.packets_lost
        );
    }
    println!("{packets} VP8 packets of {frames} frames arrived over SRTP ({cipher})");
    pipeline.release()?;
    Ok(())
}
