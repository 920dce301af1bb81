//! Automatic transcoding (agnostic caps) over real UDP: VP8 goes into an endpoint whose
//! peer negotiated H.264 only; the graph inserts a transcoder on the link, reports
//! Transcoding, and the peer receives decodable H.264. A same-codec link reports
//! NotTranscoding and forwards bytes unchanged.

use std::time::{Duration, Instant};

use mediaflow::{
    AppSink, AppSource, Buffer, Event, MediaPipeline, MediaTranscodingState, MediaType,
    WebRtcEndpoint,
};
use mediaflow_transcoder::rtp::{names, Assembled, FrameAssembler, RtpPacketizer};
use mediaflow_transcoder::{H264Decoder, I420Frame, Vp8Encoder};

mod common;

use common::endpoint;

const WAIT: Duration = Duration::from_secs(20);

/// The offer with only `keep` (and its RTX) left on the `kind` m-line, as a browser
/// restricted by setCodecPreferences would offer.
fn only_codec(offer: &str, kind: &str, keep: &str) -> String {
    let lines: Vec<&str> = offer.split("\r\n").collect();
    let mut keep_pts: Vec<String> = Vec::new();
    for l in &lines {
        if let Some(map) = l.strip_prefix("a=rtpmap:") {
            let mut p = map.split_whitespace();
            if let (Some(pt), Some(enc)) = (p.next(), p.next()) {
                if enc.starts_with(&format!("{keep}/")) {
                    keep_pts.push(pt.to_owned());
                }
            }
        }
    }
    // RTX payload types that repair a kept codec.
    let rtx: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("a=fmtp:"))
        .filter_map(|f| {
            let (pt, params) = f.split_once(' ')?;
            let apt = params.strip_prefix("apt=")?;
            keep_pts.contains(&apt.to_owned()).then(|| pt.to_owned())
        })
        .collect();
    keep_pts.extend(rtx);
    let mut video = false;
    lines
        .iter()
        .filter_map(|l| {
            if let Some(m) = l.strip_prefix("m=") {
                video = m.starts_with(kind);
                if video {
                    let f: Vec<&str> = m.split(' ').collect();
                    let kept: Vec<&str> = f[..3]
                        .iter()
                        .copied()
                        .chain(
                            f[3..]
                                .iter()
                                .copied()
                                .filter(|pt| keep_pts.iter().any(|k| k == pt)),
                        )
                        .collect();
                    return Some(format!("m={}", kept.join(" ")));
                }
                return Some((*l).to_owned());
            }
            if video {
                for prefix in ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"] {
                    if let Some(rest) = l.strip_prefix(prefix) {
                        let pt = rest.split(' ').next().unwrap_or("");
                        if !keep_pts.iter().any(|k| k == pt) {
                            return None;
                        }
                    }
                }
            }
            Some((*l).to_owned())
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn connect(offerer: &WebRtcEndpoint, answerer: &WebRtcEndpoint, kind: &str, codec: &str) {
    for (from, to) in [(offerer, answerer), (answerer, offerer)] {
        let to = to.clone();
        from.on_ice_candidate_found(move |e| {
            let _ = to.add_ice_candidate(e.candidate.clone());
        })
        .unwrap();
    }
    let offer = only_codec(&offerer.generate_offer().unwrap(), kind, codec);
    let answer = answerer.process_offer(&offer).unwrap();
    assert!(answer.contains(&format!(" {codec}/")), "{answer}");
    offerer.process_answer(&answer).unwrap();
    answerer.gather_candidates().unwrap();
    offerer.gather_candidates().unwrap();
}

/// A moving picture, encoded to VP8 and packetized, as a camera would send it.
struct Camera {
    encoder: Vp8Encoder,
    packetizer: RtpPacketizer,
    n: u32,
}

impl Camera {
    fn new() -> Camera {
        Camera {
            encoder: Vp8Encoder::new(320, 240, 600).unwrap(),
            packetizer: RtpPacketizer::new(names::VP8, 0x1234).unwrap(),
            n: 0,
        }
    }

    fn frame(&mut self, keyframe: bool) -> Vec<Buffer> {
        let mut picture = I420Frame::filled(320, 240, 0, 128);
        for (i, b) in picture.data[..320 * 240].iter_mut().enumerate() {
            *b = ((i as u32 % 320 + i as u32 / 320 + self.n * 3) % 256) as u8;
        }
        self.n += 1;
        let mut out = Vec::new();
        for f in self.encoder.encode(&picture, keyframe).unwrap() {
            for p in self.packetizer.packetize(&f.data, self.n * 3000) {
                let mut b = Buffer::new(MediaType::Video, p);
                b.codec = Some("video/VP8");
                b.keyframe = f.keyframe;
                out.push(b);
            }
        }
        out
    }
}

#[test]
fn vp8_into_an_h264_peer_is_transcoded_and_decodable() {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sender = endpoint(&pipeline);
    let h264_peer = endpoint(&pipeline);
    let screen = AppSink::with_capacity(&pipeline, 10_000).unwrap();
    let source_events = source.events().unwrap();
    source.connect_media(&sender, MediaType::Video).unwrap();
    h264_peer.connect_media(&screen, MediaType::Video).unwrap();
    connect(&h264_peer, &sender, "video", "H264");

    let mut camera = Camera::new();
    let mut assembler = FrameAssembler::new(names::H264).unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let mut pictures = 0;
    let mut received = 0;
    let mut requests_seen = 0;
    let deadline = Instant::now() + WAIT;
    while pictures < 20 {
        assert!(
            Instant::now() < deadline,
            "only {pictures} H.264 pictures came out ({received} buffers); peer flowing out {:?}, screen flowing in {:?}, dropped {}, conns {:?}",
            h264_peer.is_media_flowing_out(MediaType::Video),
            screen.is_media_flowing_in(MediaType::Video),
            screen.dropped(),
            h264_peer.get_sink_connections(None).map(|c| c.len()),
        );
        // Like a real encoder, answer keyframe requests from downstream.
        let requests = source.keyframe_requests();
        let key = requests > requests_seen || camera.n == 0;
        requests_seen = requests;
        for b in camera.frame(key) {
            source.push(b).unwrap();
        }
        std::thread::sleep(Duration::from_millis(33));
        while let Some(b) = screen.try_recv() {
            received += 1;
            assert_eq!(
                b.codec,
                Some("video/H264"),
                "the peer negotiated H.264 only"
            );
            if let Assembled::Frame(f) = assembler.push(&b.data) {
                if let Ok(Some(picture)) = decoder.decode(&f.data) {
                    assert_eq!((picture.width, picture.height), (320, 240));
                    pictures += 1;
                }
            }
        }
    }
    assert!(
        source.keyframe_requests() >= 1,
        "the transcoder's decoder asked for a keyframe"
    );
    let transcoding = source_events.try_iter().find_map(|e| match e {
        Event::MediaTranscodingStateChanged(t) => Some(t),
        _ => None,
    });
    let t = transcoding.expect("a MediaTranscodingStateChanged event on the source");
    assert_eq!(
        (t.state, t.media_type),
        (MediaTranscodingState::Transcoding, MediaType::Video)
    );
    assert!(
        t.bin_name.contains("VP8") && t.bin_name.contains("H264"),
        "{}",
        t.bin_name
    );

    // The consumer leaves: the branch is torn down and NotTranscoding reported.
    source.disconnect_media(&sender, MediaType::Video).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let e = source_events
            .recv_deadline(deadline)
            .expect("NotTranscoding after disconnect");
        if let Event::MediaTranscodingStateChanged(t) = e {
            assert_eq!(t.state, MediaTranscodingState::NotTranscoding);
            break;
        }
    }
    pipeline.release().unwrap();
}

#[test]
fn a_corrupt_bitstream_raises_stream_error_decode_and_asks_for_a_keyframe() {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sender = endpoint(&pipeline);
    let h264_peer = endpoint(&pipeline);
    let errors = source.events().unwrap();
    source.connect_media(&sender, MediaType::Video).unwrap();
    connect(&h264_peer, &sender, "video", "H264");
    let before = source.keyframe_requests();
    let mut x = 99u32;
    let deadline = Instant::now() + WAIT;
    let mut seq = 0u16;
    let error = loop {
        assert!(Instant::now() < deadline, "no STREAM_ERROR_DECODE");
        // Whole "frames" (marker set) of random bytes claiming to be VP8 keyframes.
        let mut p = vec![0x80, 0x80 | 96];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(&[0x10, 0x00, 0x9d, 0x01, 0x2a]);
        p.extend((0..300).map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        }));
        seq = seq.wrapping_add(1);
        let mut b = Buffer::new(MediaType::Video, p);
        b.codec = Some("video/VP8");
        source.push(b).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        if let Some(e) = errors.try_iter().find_map(|e| match e {
            Event::Error(e) => Some(e),
            _ => None,
        }) {
            break e;
        }
    };
    assert_eq!(error.error_type.as_str(), "STREAM_ERROR_DECODE");
    assert_eq!(error.source, source.id());
    assert!(source.keyframe_requests() > before);
    // The pipeline keeps running.
    assert!(sender.get_stats().is_ok());
    pipeline.release().unwrap();
}

#[test]
fn opus_into_a_pcmu_only_peer_is_heard() {
    use mediaflow_transcoder::{g711, OpusEncoder, OPUS_FRAME};
    let pipeline = MediaPipeline::new().unwrap();
    let microphone = AppSource::new(&pipeline).unwrap();
    let sender = endpoint(&pipeline);
    let pcmu_peer = endpoint(&pipeline);
    let speaker = AppSink::with_capacity(&pipeline, 10_000).unwrap();
    microphone.connect_media(&sender, MediaType::Audio).unwrap();
    pcmu_peer.connect_media(&speaker, MediaType::Audio).unwrap();
    connect(&pcmu_peer, &sender, "audio", "PCMU");

    let mut encoder = OpusEncoder::new(2).unwrap();
    let mut packetizer = RtpPacketizer::new(names::OPUS, 0x55).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut frame = 0usize;
    let mut heard = 0usize;
    let mut energy = 0f64;
    while heard < 8000 {
        assert!(Instant::now() < deadline, "only {heard} PCMU samples heard");
        let samples: Vec<i16> = (0..OPUS_FRAME)
            .flat_map(|i| {
                let t = (frame * OPUS_FRAME + i) as f64 / 48_000.0;
                let s = ((t * 440.0 * std::f64::consts::TAU).sin() * 10_000.0) as i16;
                [s, s]
            })
            .collect();
        let packet = encoder.encode(&samples).unwrap();
        for p in packetizer.packetize(&packet, (frame * OPUS_FRAME) as u32) {
            let mut b = Buffer::new(MediaType::Audio, p);
            b.codec = Some("audio/opus");
            microphone.push(b).unwrap();
        }
        frame += 1;
        std::thread::sleep(Duration::from_millis(20));
        while let Some(b) = speaker.try_recv() {
            assert_eq!(b.codec, Some("audio/PCMU"));
            let pcm = g711::ulaw_decode_all(&b.data[12..]);
            heard += pcm.len();
            if frame > 10 {
                energy += pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
            }
        }
    }
    assert!(energy > 0.0, "the tone arrived as silence");
    pipeline.release().unwrap();
}

/// An RTP packet's payload: past its CSRCs and header extension.
fn rtp_payload(packet: &[u8]) -> &[u8] {
    let mut start = 12 + 4 * usize::from(packet[0] & 0x0f);
    if packet[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([packet[start + 2], packet[start + 3]]);
        start += 4 + 4 * usize::from(words);
    }
    &packet[start.min(packet.len())..]
}

#[test]
fn same_codec_links_forward_unchanged_and_report_not_transcoding() {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sender = endpoint(&pipeline);
    let vp8_peer = endpoint(&pipeline);
    let screen = AppSink::with_capacity(&pipeline, 10_000).unwrap();
    let source_events = source.events().unwrap();
    source.connect_media(&sender, MediaType::Video).unwrap();
    vp8_peer.connect_media(&screen, MediaType::Video).unwrap();
    connect(&vp8_peer, &sender, "video", "VP8");

    let mut camera = Camera::new();
    let deadline = Instant::now() + WAIT;
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut matched = 0;
    while matched < 20 {
        assert!(
            Instant::now() < deadline,
            "only {matched} packets came through unchanged"
        );
        for b in camera.frame(camera.n.is_multiple_of(30)) {
            sent.push(b.data[12..].to_vec());
            source.push(b).unwrap();
        }
        std::thread::sleep(Duration::from_millis(33));
        while let Some(b) = screen.try_recv() {
            // Same payload bytes: forwarded, not re-encoded (headers are rewritten, and
            // carry the playout delay's extension in the stream's first seconds).
            if sent.iter().any(|p| p[..] == *rtp_payload(&b.data)) {
                matched += 1;
            }
        }
    }
    let states: Vec<MediaTranscodingState> = source_events
        .try_iter()
        .filter_map(|e| match e {
            Event::MediaTranscodingStateChanged(t) => Some(t.state),
            _ => None,
        })
        .collect();
    assert_eq!(states, vec![MediaTranscodingState::NotTranscoding]);
    pipeline.release().unwrap();
}

/// A host that wants H.264 (say, to record it) gets it from a VP8 source through the
/// same automatic transcoder; audio, not named, passes as it came.
#[test]
fn an_app_sink_taking_only_h264_gets_h264_from_a_vp8_source() {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::with_codecs(&pipeline, 10_000, &["video/H264"]).unwrap();
    source.connect(&sink).unwrap();
    let mut camera = Camera::new();
    let mut assembler = FrameAssembler::new(names::H264).unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let mut pictures = 0;
    let deadline = Instant::now() + WAIT;
    while pictures < 10 {
        assert!(Instant::now() < deadline, "only {pictures} H.264 pictures");
        for b in camera.frame(camera.n == 0 || source.keyframe_requests() > 0) {
            source.push(b).unwrap();
        }
        let mut audio = Buffer::new(MediaType::Audio, vec![0x80, 111, 0, 1, 0, 0, 0, 0]);
        audio.codec = Some("audio/opus");
        source.push(audio).unwrap();
        std::thread::sleep(Duration::from_millis(33));
        while let Some(b) = sink.try_recv() {
            if b.media_type == MediaType::Audio {
                assert_eq!(b.codec, Some("audio/opus"), "audio is not converted");
                continue;
            }
            assert_eq!(b.codec, Some("video/H264"));
            if let Assembled::Frame(f) = assembler.push(&b.data) {
                if let Ok(Some(picture)) = decoder.decode(&f.data) {
                    assert_eq!((picture.width, picture.height), (320, 240));
                    pictures += 1;
                }
            }
        }
    }
    pipeline.release().unwrap();
}

/// The other way: a PCMU-only talker reaches a peer that negotiated Opus only.
#[test]
fn pcmu_into_an_opus_only_peer_is_heard() {
    use mediaflow_transcoder::{g711, OpusDecoder};
    let pipeline = MediaPipeline::new().unwrap();
    let microphone = AppSource::new(&pipeline).unwrap();
    let sender = endpoint(&pipeline);
    let opus_peer = endpoint(&pipeline);
    let speaker = AppSink::with_capacity(&pipeline, 10_000).unwrap();
    microphone.connect_media(&sender, MediaType::Audio).unwrap();
    opus_peer.connect_media(&speaker, MediaType::Audio).unwrap();
    connect(&opus_peer, &sender, "audio", "opus");

    let mut packetizer = RtpPacketizer::new(names::PCMU, 0x66).unwrap();
    let mut decoder = OpusDecoder::new(2).unwrap();
    let deadline = Instant::now() + WAIT;
    let (mut frame, mut heard, mut energy) = (0usize, 0usize, 0f64);
    while heard < 48_000 {
        assert!(Instant::now() < deadline, "only {heard} Opus samples heard");
        let samples: Vec<i16> = (0..160)
            .map(|i| {
                let t = (frame * 160 + i) as f64 / 8_000.0;
                ((t * 440.0 * std::f64::consts::TAU).sin() * 10_000.0) as i16
            })
            .collect();
        for p in packetizer.packetize(&g711::ulaw_encode_all(&samples), (frame * 160) as u32) {
            let mut b = Buffer::new(MediaType::Audio, p);
            b.codec = Some("audio/PCMU");
            microphone.push(b).unwrap();
        }
        frame += 1;
        std::thread::sleep(Duration::from_millis(20));
        while let Some(b) = speaker.try_recv() {
            assert_eq!(b.codec, Some("audio/opus"));
            let pcm = decoder.decode(&b.data[12..]).expect("decodable Opus");
            heard += pcm.len();
            if frame > 10 {
                energy += pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
            }
        }
    }
    assert!(energy > 0.0, "the tone arrived as silence");
    pipeline.release().unwrap();
}
