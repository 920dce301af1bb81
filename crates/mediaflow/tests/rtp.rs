//! RtpEndpoint: two of them through the graph on virtual time, and real UDP on
//! 127.0.0.1 against Debian's ffmpeg as the non-mediaflow peer, both directions.
//! Every wait is bounded; every ffmpeg started is killed by its PID.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mediaflow::{
    codec, AppSink, AppSource, Buffer, ConnectionState, CryptoSuite, Event, MediaFlowState,
    MediaPipeline, MediaState, MediaType, RtpEndpoint, Runtime,
};
use mediaflow_testkit::vp8;
use mediaflow_transcoder::rtp::{Assembled, FrameAssembler, RtpPacketizer};
use mediaflow_transcoder::{I420Frame, Vp8Decoder, Vp8Encoder};

mod common;

use common::ffmpeg::{self, free_port_pair, m_port, scratch, Ffmpeg, FFMPEG_KEY};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn rtp_endpoint(pipeline: &MediaPipeline) -> mediaflow::RtpEndpointBuilder {
    RtpEndpoint::builder(pipeline).address(LOCALHOST)
}

#[test]
fn two_rtp_endpoints_carry_media_and_feedback_on_virtual_time() {
    let runtime = Runtime::builder().virtual_time(true).build().unwrap();
    let pipeline = MediaPipeline::builder().runtime(&runtime).build().unwrap();
    let a = rtp_endpoint(&pipeline).build().unwrap();
    let b = rtp_endpoint(&pipeline).build().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::new(&pipeline).unwrap();
    source.connect(&a).unwrap();
    b.connect(&sink).unwrap();
    let (a_events, b_events) = (a.events().unwrap(), b.events().unwrap());

    let offer = a.generate_offer().unwrap();
    assert!(offer.contains(" RTP/AVPF "), "{offer}");
    assert!(!offer.contains("ice-ufrag") && !offer.contains("fingerprint"));
    let answer = b.process_offer(&offer).unwrap();
    a.process_answer(&answer).unwrap();
    assert_eq!(
        a.get_remote_session_descriptor().unwrap(),
        Some(answer.clone())
    );
    assert_eq!(b.get_local_session_descriptor().unwrap(), Some(answer));
    assert_eq!(
        a.get_connection_state().unwrap(),
        ConnectionState::Connected
    );

    // 20 virtual seconds, a VP8 packet every 10 ms.
    let mut received = 0usize;
    let mut seq = 0u16;
    for _ in 0..2000 {
        source.push(vp8(seq)).unwrap();
        seq = seq.wrapping_add(1);
        runtime.advance(Duration::from_millis(10)).unwrap();
        while let Some(buffer) = sink.try_recv() {
            assert_eq!(buffer.codec, Some(codec::VP8));
            received += 1;
        }
    }
    assert_eq!(received, 2000, "every packet arrives");
    for (name, e) in [("a", &a), ("b", &b)] {
        assert_eq!(
            e.get_media_state().unwrap(),
            MediaState::Connected,
            "{name}"
        );
    }
    let video = Some(mediaflow::MediaKind::Video);
    let stats = b.get_stats().unwrap();
    let inbound = stats.inbound.iter().find(|s| s.kind == video).unwrap();
    assert_eq!(inbound.packets_received, 2000);
    let sent = a.get_stats().unwrap();
    let outbound = sent.outbound.iter().find(|s| s.kind == video).unwrap();
    assert_eq!(outbound.packets_sent, 2000);
    assert!(
        outbound.round_trip_time.is_some(),
        "receiver reports came back"
    );

    // A keyframe request from B's side reaches A's source as a PLI, then upstream.
    let before = source.keyframe_requests();
    b.request_keyframe().unwrap();
    runtime.advance(Duration::from_millis(50)).unwrap();
    assert!(
        source.keyframe_requests() > before,
        "PLI travelled upstream"
    );

    let seen = |events: &mediaflow::Receiver<Event>| -> Vec<&'static str> {
        events.try_iter().map(|e| e.type_name()).collect()
    };
    let (a_seen, b_seen) = (seen(&a_events), seen(&b_events));
    for (name, list) in [("a", &a_seen), ("b", &b_seen)] {
        assert!(list.contains(&"ConnectionStateChanged"), "{name}: {list:?}");
        assert!(list.contains(&"MediaStateChanged"), "{name}: {list:?}");
    }
    assert!(
        a_seen.contains(&"MediaFlowInStateChanged") || a_seen.contains(&"MediaFlowOutStateChanged"),
        "{a_seen:?}"
    );
    assert!(b_seen.contains(&"MediaFlowOutStateChanged"), "{b_seen:?}");

    // Garbage and strangers are counted, never fatal.
    assert!(b.process_offer("v=0\r\nm=video x").is_err());
    pipeline.release().unwrap();
}

#[test]
fn two_rtp_endpoints_with_sdes_srtp_on_virtual_time() {
    let runtime = Runtime::builder().virtual_time(true).build().unwrap();
    let pipeline = MediaPipeline::builder().runtime(&runtime).build().unwrap();
    let srtp = |p: &MediaPipeline| {
        rtp_endpoint(p)
            .crypto(CryptoSuite::AesCm128HmacSha1_80)
            .build()
            .unwrap()
    };
    let (a, b) = (srtp(&pipeline), srtp(&pipeline));
    let plain = rtp_endpoint(&pipeline).build().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::new(&pipeline).unwrap();
    source.connect(&a).unwrap();
    b.connect(&sink).unwrap();
    let offer = a.generate_offer().unwrap();
    assert!(
        offer.contains(" RTP/SAVPF ")
            && offer.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{offer}"
    );
    // A plain endpoint cannot take it, nor an SDES one a plain offer.
    assert!(plain.process_offer(&offer).is_err());
    assert!(b.process_offer(&plain.generate_offer().unwrap()).is_err());
    let b = srtp(&pipeline);
    b.connect(&sink).unwrap();
    a.process_answer(&b.process_offer(&offer).unwrap()).unwrap();
    for seq in 0..500u16 {
        source.push(vp8(seq)).unwrap();
        runtime.advance(Duration::from_millis(10)).unwrap();
    }
    let mut received = 0;
    while let Some(buffer) = sink.try_recv() {
        assert_eq!(buffer.codec, Some(codec::VP8));
        received += 1;
    }
    assert_eq!(received, 500);
    let stats = b.get_stats().unwrap();
    assert_eq!(
        stats.srtp_cipher.as_deref(),
        Some("SRTP_AES128_CM_HMAC_SHA1_80")
    );
    assert_eq!(stats.discarded.srtp_auth, 0);
    assert_eq!(
        a.get_media_state().unwrap(),
        MediaState::Connected,
        "SRTCP flows"
    );
    pipeline.release().unwrap();
}

#[test]
fn bad_sdp_is_a_typed_error() {
    let pipeline = MediaPipeline::new().unwrap();
    let e = rtp_endpoint(&pipeline).build().unwrap();
    for bad in [
        "",
        "v=0\r\n",
        "v=0\r\nc=IN IP4 nowhere\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n",
        "v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP9/90000\r\n",
        "v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 5000 RTP/AVP 96\0\r\n",
    ] {
        assert!(e.process_offer(bad).is_err(), "{bad:?} accepted");
    }
    assert!(e.process_answer("v=0\r\n").is_err(), "no offer pending");
    assert_eq!(
        e.get_connection_state().unwrap(),
        ConnectionState::Disconnected
    );
    pipeline.release().unwrap();
}

// ---------------------------------------------------------------------------------------
// ffmpeg
// ---------------------------------------------------------------------------------------

/// Counts whole VP8 frames that a decoder accepts.
struct Vp8Check {
    assembler: FrameAssembler,
    decoder: Vp8Decoder,
    decoded: usize,
    packets: usize,
}

impl Vp8Check {
    fn new() -> Vp8Check {
        Vp8Check {
            assembler: FrameAssembler::new(codec::VP8).unwrap(),
            decoder: Vp8Decoder::new().unwrap(),
            decoded: 0,
            packets: 0,
        }
    }

    fn push(&mut self, rtp: &[u8]) {
        self.packets += 1;
        if let Assembled::Frame(frame) = self.assembler.push(rtp) {
            if let Ok(Some(_)) = self.decoder.decode(&frame.data) {
                self.decoded += 1;
            }
        }
    }
}

#[test]
fn ffmpeg_sends_vp8_into_an_rtp_endpoint() {
    ffmpeg_sends(false);
}

#[test]
fn ffmpeg_sends_vp8_with_sdes_srtp_into_an_rtp_endpoint() {
    ffmpeg_sends(true);
}

fn ffmpeg_sends(srtp: bool) {
    if !ffmpeg::available() {
        return;
    }
    let dir = scratch(if srtp { "in-srtp" } else { "in" });
    let pipeline = MediaPipeline::new().unwrap();
    let mut builder = rtp_endpoint(&pipeline).recvonly();
    if srtp {
        builder = builder.crypto(CryptoSuite::AesCm128HmacSha1_80);
    }
    let rtp = builder.build().unwrap();
    let sink = AppSink::new(&pipeline).unwrap();
    rtp.connect(&sink).unwrap();
    let events = rtp.events().unwrap();

    let offer = rtp.generate_offer().unwrap();
    let port = m_port(&offer, "video");
    let ffmpeg_port = free_port_pair();
    let sdp_file = dir.join("ffmpeg.sdp");
    let url = format!(
        "{}://127.0.0.1:{port}?localrtpport={ffmpeg_port}&localrtcpport={}&pkt_size=1200",
        if srtp { "srtp" } else { "rtp" },
        ffmpeg_port + 1
    );
    let srtp_args: &[&str] = if srtp {
        &[
            "-srtp_out_suite",
            "AES_CM_128_HMAC_SHA1_80",
            "-srtp_out_params",
            FFMPEG_KEY,
        ]
    } else {
        &[]
    };
    let ffmpeg = Ffmpeg::spawn(
        &[
            &[
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=320x240:rate=30",
                "-t",
                "8",
                "-an",
                "-c:v",
                "libvpx",
                "-deadline",
                "realtime",
                "-g",
                "30",
                "-b:v",
                "400k",
                "-payload_type",
                "96",
                "-strict",
                "experimental",
            ][..],
            srtp_args,
            &["-f", "rtp", "-sdp_file", sdp_file.to_str().unwrap(), &url],
        ]
        .concat(),
        &dir.join("ffmpeg.log"),
    );
    // ffmpeg writes its SDP once it starts; it is our answer, with the port ffmpeg
    // listens on for our RTCP (its SDP names the destination, ours).
    let deadline = Instant::now() + Duration::from_secs(10);
    let ffmpeg_sdp = loop {
        assert!(Instant::now() < deadline, "ffmpeg wrote no SDP");
        if let Ok(s) = std::fs::read_to_string(&sdp_file) {
            if s.contains("m=video") {
                break s;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let answer = ffmpeg_sdp.replace(
        &format!("m=video {port} "),
        &format!("m=video {ffmpeg_port} "),
    );
    rtp.process_answer(&answer).unwrap();

    let mut check = Vp8Check::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while check.decoded < 60 && Instant::now() < deadline {
        if let Some(b) = sink.recv_timeout(Duration::from_millis(100)) {
            assert_eq!(b.codec, Some(codec::VP8));
            assert_eq!(b.media_type, MediaType::Video);
            check.push(&b.data);
        }
    }
    let log = std::fs::read_to_string(dir.join("ffmpeg.log")).unwrap_or_default();
    eprintln!(
        "ffmpeg -> RtpEndpoint (SRTP {srtp}): {} packets, {} VP8 frames decoded",
        check.packets, check.decoded
    );
    if srtp {
        let stats = rtp.get_stats().unwrap();
        assert_eq!(
            stats.srtp_cipher.as_deref(),
            Some("SRTP_AES128_CM_HMAC_SHA1_80")
        );
    }
    assert!(
        check.decoded >= 60,
        "{} frames decoded; ffmpeg: {log}",
        check.decoded
    );

    // ffmpeg sends an SR with its first packet: MediaState is Connected.
    let deadline = Instant::now() + Duration::from_secs(8);
    while rtp.get_media_state().unwrap() != MediaState::Connected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rtp.get_media_state().unwrap(), MediaState::Connected);
    let names: Vec<_> = events.try_iter().collect();
    assert!(names.iter().any(|e| matches!(e,
        Event::MediaFlowOutStateChanged(f) if f.state == MediaFlowState::Flowing)));
    assert!(names.iter().any(|e| matches!(e,
        Event::ConnectionStateChanged(c) if c.new_state == ConnectionState::Connected)));
    drop(ffmpeg);
    pipeline.release().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// VP8 frames of a moving picture, as RTP buffers for an AppSource.
fn vp8_stream(frames: usize) -> Vec<Vec<Buffer>> {
    let (w, h) = (320, 240);
    let mut encoder = Vp8Encoder::new(w, h, 400).unwrap();
    let mut packetizer = RtpPacketizer::new(codec::VP8, 0x1234_5678).unwrap();
    (0..frames)
        .map(|i| {
            let mut picture = I420Frame::filled(w, h, (i * 7 % 200) as u8 + 16, 128);
            // A bar that moves, so frames differ.
            let x = (i * 4) % (w as usize - 16);
            for row in 0..h as usize {
                for px in x..x + 16 {
                    picture.data[row * w as usize + px] = 235;
                }
            }
            let encoded = encoder.encode(&picture, i % 30 == 0).unwrap();
            encoded
                .iter()
                .flat_map(|f| {
                    let key = f.keyframe;
                    packetizer
                        .packetize(&f.data, (i as u32) * 3000)
                        .into_iter()
                        .enumerate()
                        .map(move |(n, p)| Buffer {
                            media_type: MediaType::Video,
                            data: Bytes::from(p),
                            pts_micros: 0,
                            keyframe: key && n == 0,
                            codec: Some(codec::VP8),
                            data_channel: None,
                        })
                })
                .collect()
        })
        .collect()
}

#[test]
fn an_rtp_endpoint_sends_vp8_to_ffmpeg() {
    if !ffmpeg::available() {
        return;
    }
    let pipeline = MediaPipeline::new().unwrap();
    let rtp = rtp_endpoint(&pipeline).sendonly().build().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    source.connect(&rtp).unwrap();
    let (sent, frames) = ffmpeg_receives(&rtp, &source, "out", false);
    eprintln!(
        "AppSource -> RtpEndpoint -> ffmpeg: {sent} packets sent, ffmpeg decoded {frames} frames"
    );
    pipeline.release().unwrap();
}

#[test]
fn an_rtp_endpoint_sends_vp8_with_sdes_srtp_to_ffmpeg() {
    if !ffmpeg::available() {
        return;
    }
    let pipeline = MediaPipeline::new().unwrap();
    let rtp = rtp_endpoint(&pipeline)
        .sendonly()
        .crypto(CryptoSuite::AesCm128HmacSha1_80)
        .build()
        .unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    source.connect(&rtp).unwrap();
    let (sent, frames) = ffmpeg_receives(&rtp, &source, "out-srtp", true);
    eprintln!(
        "AppSource -> RtpEndpoint (SDES-SRTP) -> ffmpeg: {sent} packets sent, ffmpeg decoded {frames} frames"
    );
    pipeline.release().unwrap();
}

/// Media from a WebRTC peer (a second WebRtcEndpoint over ICE/DTLS-SRTP on loopback)
/// forwarded by `webrtc.connect(&rtp)` to ffmpeg.
#[test]
fn a_webrtc_endpoint_feeds_ffmpeg_through_an_rtp_endpoint() {
    if !ffmpeg::available() {
        return;
    }
    let pipeline = MediaPipeline::new().unwrap();
    let (browser, webrtc) = (common::endpoint(&pipeline), common::endpoint(&pipeline));
    let rtp = rtp_endpoint(&pipeline).sendonly().build().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    source.connect(&browser).unwrap();
    webrtc.connect(&rtp).unwrap();
    let events = webrtc.events().unwrap();
    common::trickle(&browser, &webrtc);
    common::negotiate(&browser, &webrtc);
    let connected = |e: &Event| {
        matches!(e,
        Event::ConnectionStateChanged(c) if c.new_state == ConnectionState::Connected)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !events.try_iter().any(|e| connected(&e)) {
        assert!(Instant::now() < deadline, "the WebRTC leg did not connect");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (sent, frames) = ffmpeg_receives(&rtp, &source, "webrtc", false);
    eprintln!("AppSource -> WebRtcEndpoint -> WebRtcEndpoint -> RtpEndpoint -> ffmpeg: {sent} packets sent, ffmpeg decoded {frames} frames");
    pipeline.release().unwrap();
}

/// ffmpeg receives from `rtp` (fed by `source` through whatever is between them)
/// and decodes until 90 frames; returns the packets `rtp` sent and the frames decoded.
fn ffmpeg_receives(rtp: &RtpEndpoint, source: &AppSource, name: &str, srtp: bool) -> (u64, usize) {
    let mut ffmpeg = ffmpeg::Receiver::start(rtp, name, srtp, 90);
    let stream = vp8_stream(240);
    let start = Instant::now();
    for (i, frame) in stream.into_iter().enumerate() {
        for b in frame {
            source.push(b).unwrap();
        }
        // Real time at 30 frames/s.
        let due = start + Duration::from_micros(33_333 * (i as u64 + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        if ffmpeg.exited() {
            break;
        }
    }
    let (finished, frames, log) = ffmpeg.finish(Duration::from_secs(5));
    let sent = rtp.get_stats().unwrap();
    let sent = sent
        .outbound
        .iter()
        .find(|s| s.kind == Some(mediaflow::MediaKind::Video))
        .map_or(0, |s| s.packets_sent);
    assert!(finished, "ffmpeg did not finish: {log}");
    assert!(frames >= 60, "ffmpeg decoded {frames} frames: {log}");
    (sent, frames)
}

/// The payload type `offer` gives `codec` (`VP8/90000`) in its m=`media` section.
fn offer_pt(offer: &str, media: &str, codec: &str) -> u8 {
    offer
        .split("\r\nm=")
        .find(|s| s.starts_with(media))
        .and_then(|s| {
            s.lines().find_map(|l| {
                let rest = l.strip_prefix("a=rtpmap:")?;
                let (pt, name) = rest.split_once(' ')?;
                name.starts_with(codec).then(|| pt.parse().ok()).flatten()
            })
        })
        .unwrap_or_else(|| panic!("no {codec} in m={media} of {offer}"))
}

/// Where the white flashes start in a file's video and the beeps in its audio
/// (seconds), as Debian's ffmpeg decodes them.
fn flashes_and_beeps(file: &Path) -> (Vec<f64>, Vec<f64>) {
    let luma = file.with_extension("yavg.txt");
    let run = |args: &[&str]| {
        let out = Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-i", file.to_str().unwrap()])
            .args(args)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    run(&[
        "-an",
        "-vf",
        &format!(
            "signalstats,metadata=mode=print:key=lavfi.signalstats.YAVG:file={}",
            luma.display()
        ),
    ]);
    let mut flashes = Vec::new();
    let (mut t, mut was_bright) = (None, true);
    for line in std::fs::read_to_string(&luma).unwrap_or_default().lines() {
        if let Some(pts) = line.split("pts_time:").nth(1) {
            t = pts.trim().parse::<f64>().ok();
        } else if let Some(v) = line.strip_prefix("lavfi.signalstats.YAVG=") {
            let bright = v.trim().parse::<f64>().unwrap_or(0.0) > 128.0;
            if bright && !was_bright {
                flashes.extend(t);
            }
            was_bright = bright;
        }
    }
    let log = run(&["-vn", "-af", "silencedetect=noise=-40dB:duration=0.05"]);
    let beeps = log
        .lines()
        .filter_map(|l| l.split("silence_end: ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    (flashes, beeps)
}

/// Issue 12, A/V sync: ffmpeg sends a white flash and a beep at the start of every
/// second, captured together (the beep's volume switches per 10 ms audio frame, so it
/// starts on the second too), audio straight to an RtpEndpoint and video through a
/// relay that holds it 300 ms (a slower path, an encoder's latency). Placed by arrival
/// the file's flashes would come 300 ms after their beeps; the recorder lines the
/// tracks up by ffmpeg's Sender Reports (one NTP clock for both streams), so they
/// coincide within a frame.
#[test]
fn ffmpeg_audio_and_video_are_recorded_in_sync_by_their_sender_reports() {
    if !ffmpeg::available() {
        return;
    }
    let dir = scratch("av-sync");
    let file = dir.join("sync.mkv");
    let pipeline = MediaPipeline::new().unwrap();
    let rtp = rtp_endpoint(&pipeline).recvonly().build().unwrap();
    let recorder =
        mediaflow::RecorderEndpoint::builder(&pipeline, &format!("file://{}", file.display()))
            .media_profile(mediaflow::MediaProfile::Mkv)
            .build()
            .unwrap();
    rtp.connect(&recorder).unwrap();
    let offer = rtp.generate_offer().unwrap();
    let (aport, vport) = (m_port(&offer, "audio"), m_port(&offer, "video"));
    let (apt, vpt) = (
        offer_pt(&offer, "audio", "opus/48000"),
        offer_pt(&offer, "video", "VP8/90000"),
    );
    let relay =
        mediaflow_testkit::relay::JitterRelay::start(Duration::from_millis(300), Duration::ZERO);
    relay.set_target((LOCALHOST, vport).into());
    let ffmpeg_a = free_port_pair();
    let ffmpeg_v = loop {
        let p = free_port_pair();
        if p != ffmpeg_a {
            break p;
        }
    };
    // Our answer, m-sections in the offer's order (ffmpeg sends; it is where our
    // RTCP goes).
    let section = |media: &str| match media {
        "audio" => {
            format!(
                "m=audio {ffmpeg_a} RTP/AVP {apt}\r\na=rtpmap:{apt} opus/48000/2\r\na=sendonly\r\n"
            )
        }
        _ => format!(
            "m=video {ffmpeg_v} RTP/AVP {vpt}\r\na=rtpmap:{vpt} VP8/90000\r\na=sendonly\r\n"
        ),
    };
    let mut answer =
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=ffmpeg\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n".to_owned();
    for m in offer.split("\r\nm=").skip(1) {
        answer += &section(if m.starts_with("audio") {
            "audio"
        } else {
            "video"
        });
    }
    rtp.process_answer(&answer)
        .unwrap_or_else(|e| panic!("{e}: {offer}\n{answer}"));
    recorder.record().unwrap();

    // Both streams claim the same wall-clock start, so their SRs share one clock.
    let start_realtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros()
        .to_string();
    let video_url = format!(
        "rtp://127.0.0.1:{}?localrtpport={ffmpeg_v}&localrtcpport={}&rtcpport={}&pkt_size=1200",
        relay.front.port(),
        ffmpeg_v + 1,
        vport + 1
    );
    let audio_url = format!(
        "rtp://127.0.0.1:{aport}?localrtpport={ffmpeg_a}&localrtcpport={}",
        ffmpeg_a + 1
    );
    let (vpt, apt) = (vpt.to_string(), apt.to_string());
    let mut ffmpeg = Ffmpeg::spawn(
        &[
            "-re",
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=320x240:r=30,drawbox=color=white:t=fill:enable='lt(mod(t,1),0.1)'",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=48000:samples_per_frame=480,volume=volume=0:enable='gte(mod(t,1),0.1)'",
            "-t",
            "6",
            "-map",
            "0:v",
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-g",
            "30",
            "-b:v",
            "300k",
            "-payload_type",
            &vpt,
            "-start_time_realtime",
            &start_realtime,
            "-f",
            "rtp",
            &video_url,
            "-map",
            "1:a",
            "-t",
            "6",
            "-c:a",
            "libopus",
            "-b:a",
            "64k",
            "-payload_type",
            &apt,
            "-start_time_realtime",
            &start_realtime,
            "-f",
            "rtp",
            &audio_url,
        ],
        &dir.join("ffmpeg.log"),
    );
    let status = ffmpeg.wait(Duration::from_secs(20));
    let log = std::fs::read_to_string(dir.join("ffmpeg.log")).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "ffmpeg: {status:?} {log}"
    );
    std::thread::sleep(Duration::from_millis(500));
    recorder.stop_and_wait(Duration::from_secs(10)).unwrap();
    pipeline.release().unwrap();

    let (flashes, beeps) = flashes_and_beeps(&file);
    // Each flash after the first second against the beep nearest to it.
    let offsets: Vec<f64> = flashes
        .iter()
        .filter_map(|f| {
            beeps
                .iter()
                .map(|b| f - b)
                .min_by(|x, y| x.abs().total_cmp(&y.abs()))
        })
        .collect();
    eprintln!(
        "A/V sync through a 300 ms video path: flashes {flashes:?}, beeps {beeps:?}, \
         flash - beep {offsets:?}"
    );
    assert!(
        offsets.len() >= 3,
        "too few flashes and beeps to compare: {flashes:?} {beeps:?}; ffmpeg: {log}"
    );
    for o in &offsets {
        assert!(
            o.abs() < 0.05,
            "a flash {o:.3} s from its beep: {offsets:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
