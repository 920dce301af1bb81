//! RecorderEndpoint: real VP8 and Opus (encoded here, paced in real time) into files
//! that Debian's `ffprobe` reads: every WebM/MKV profile, over a WebRtcEndpoint pair,
//! H.264 transcoded into WebM, a released pipeline, a copy taken mid-recording (what a
//! killed process leaves), an unwritable path and a full disk.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mediaflow::{
    AppSource, Buffer, ErrorType, Event, MediaPipeline, MediaProfile, MediaType, RecorderEndpoint,
};
use mediaflow_transcoder::rtp::{names, RtpPacketizer};
use mediaflow_transcoder::{H264Encoder, I420Frame, OpusEncoder, Vp8Encoder, OPUS_FRAME};
use serde_json::Value;

/// Encodes a moving picture and a tone, and packetizes them as a sender would.
struct Media {
    vp8: Option<Vp8Encoder>,
    h264: Option<H264Encoder>,
    video: RtpPacketizer,
    opus: OpusEncoder,
    audio: RtpPacketizer,
    video_codec: &'static str,
    frames: u32,
    audio_frames: u32,
    /// Keyframe requests seen at the source so far: a new one makes the next frame a
    /// keyframe, as a browser answers a PLI.
    requests: u64,
    force_key: bool,
}

impl Media {
    fn new(h264: bool) -> Media {
        let video_codec = if h264 { names::H264 } else { names::VP8 };
        Media {
            vp8: (!h264).then(|| Vp8Encoder::new(320, 240, 500).unwrap()),
            h264: h264.then(|| H264Encoder::new(320, 240, 500).unwrap()),
            video: RtpPacketizer::new(video_codec, 0x1234).unwrap(),
            opus: OpusEncoder::new(2).unwrap(),
            audio: RtpPacketizer::new(names::OPUS, 0x5678).unwrap(),
            video_codec,
            frames: 0,
            audio_frames: 0,
            requests: 0,
            force_key: false,
        }
    }

    fn video_packets(&mut self) -> Vec<Buffer> {
        let n = self.frames;
        self.frames += 1;
        let mut picture = I420Frame::filled(320, 240, 0, 128);
        for (i, b) in picture.data[..320 * 240].iter_mut().enumerate() {
            *b = ((i as u32 % 320 + n * 4) % 256) as u8;
        }
        let key = n.is_multiple_of(60) || std::mem::take(&mut self.force_key);
        let encoded = match (&mut self.vp8, &mut self.h264) {
            (Some(e), _) => e.encode(&picture, key).unwrap(),
            (_, Some(e)) => e.encode(&picture, key).unwrap(),
            _ => unreachable!(),
        };
        let mut out = Vec::new();
        for e in encoded {
            for p in self
                .video
                .packetize(&e.data, n.wrapping_mul(3000).wrapping_add(77))
            {
                let mut b = Buffer::new(MediaType::Video, p);
                b.codec = Some(self.video_codec);
                b.keyframe = e.keyframe;
                out.push(b);
            }
        }
        out
    }

    fn audio_packets(&mut self) -> Vec<Buffer> {
        let n = self.audio_frames;
        self.audio_frames += 1;
        let samples: Vec<i16> = (0..OPUS_FRAME * 2)
            .map(|i| {
                let t = (n as usize * OPUS_FRAME + i / 2) as f32 / 48_000.0;
                ((t * 440.0 * std::f32::consts::TAU).sin() * 8000.0) as i16
            })
            .collect();
        let frame = self.opus.encode(&samples).unwrap();
        self.audio
            .packetize(&frame, n.wrapping_mul(960).wrapping_add(999))
            .into_iter()
            .map(|p| {
                let mut b = Buffer::new(MediaType::Audio, p);
                b.codec = Some(names::OPUS);
                b
            })
            .collect()
    }

    /// Pushes `duration` of audio (every 20 ms) and video (every 33 ms) in real time.
    fn play(&mut self, source: &AppSource, duration: Duration) {
        let start = Instant::now();
        let (mut audio_at, mut video_at) = (Duration::ZERO, Duration::ZERO);
        while start.elapsed() < duration {
            let requests = source.keyframe_requests();
            if requests > self.requests {
                self.requests = requests;
                self.force_key = true;
            }
            if start.elapsed() >= audio_at {
                for b in self.audio_packets() {
                    source.push(b).unwrap();
                }
                audio_at += Duration::from_millis(20);
            }
            if start.elapsed() >= video_at {
                for b in self.video_packets() {
                    source.push(b).unwrap();
                }
                video_at += Duration::from_micros(33_333);
            }
            let next = audio_at.min(video_at);
            if let Some(wait) = next.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
}

fn temp_file(name: &str, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mediaflow-rec-{}-{name}.{ext}", std::process::id()))
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// `ffprobe -show_streams -show_format` as JSON; panics with its stderr if it fails.
fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs (Debian's ffmpeg package)");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (codec_type, codec_name, packets) per stream, and the format's duration.
fn summary(probe: &Value) -> (Vec<(String, String, u64)>, Option<f64>) {
    let streams = probe["streams"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| {
                    (
                        s["codec_type"].as_str().unwrap_or("").to_owned(),
                        s["codec_name"].as_str().unwrap_or("").to_owned(),
                        s["nb_read_packets"]
                            .as_str()
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let duration = probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok());
    (streams, duration)
}

fn expected_streams(profile: MediaProfile) -> Vec<(&'static str, &'static str)> {
    let name = profile.as_str();
    let mut s = Vec::new();
    if !name.ends_with("AUDIO_ONLY") {
        s.push(("video", "vp8"));
    }
    if !name.ends_with("VIDEO_ONLY") {
        s.push(("audio", "opus"));
    }
    s
}

fn check_file(path: &Path, profile: MediaProfile, recorded: Duration) {
    let probe = ffprobe(path);
    let (streams, duration) = summary(&probe);
    eprintln!(
        "{}: {streams:?}, duration {duration:?} s (recorded {:.3} s), format {}",
        profile.as_str(),
        recorded.as_secs_f64(),
        probe["format"]["format_name"]
    );
    let kinds: Vec<(&str, &str)> = streams
        .iter()
        .map(|(t, c, _)| (t.as_str(), c.as_str()))
        .collect();
    assert_eq!(kinds, expected_streams(profile), "{}", profile.as_str());
    for (kind, _, packets) in &streams {
        // ~30 video frames and 50 audio frames a second.
        let least = (recorded.as_secs_f64() * if kind == "video" { 20.0 } else { 40.0 }) as u64;
        assert!(
            *packets >= least,
            "{kind}: {packets} packets, want >= {least}"
        );
    }
    // Every frame decodes.
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        decode.status.success() && decode.stderr.is_empty(),
        "ffmpeg decoding {}: {}",
        path.display(),
        String::from_utf8_lossy(&decode.stderr)
    );
    // Audio and video start together (each track aligned on its first arrival).
    let starts: Vec<f64> = probe["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["start_time"].as_str()?.parse().ok())
        .collect();
    assert!(
        starts.iter().all(|s| *s < 0.25),
        "tracks start at {starts:?} s"
    );
    let duration = duration.expect("a duration");
    assert!(
        (duration - recorded.as_secs_f64()).abs() <= 0.5,
        "duration {duration} for {:.3} s recorded",
        recorded.as_secs_f64()
    );
}

/// Waits for the first event `pick` accepts.
fn wait_event(
    events: &mediaflow::Receiver<Event>,
    wait: Duration,
    pick: impl Fn(&Event) -> bool,
) -> Option<Event> {
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(e) if pick(&e) => return Some(e),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// AppSource -> RecorderEndpoint for `secs`, stopped with `stop_and_wait`.
fn record_profile(profile: MediaProfile, name: &str, h264: bool) {
    let ext = if profile.as_str().starts_with("MKV") {
        "mkv"
    } else {
        "webm"
    };
    let path = temp_file(name, ext);
    let pipeline = MediaPipeline::new().unwrap();
    let events = pipeline.events().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let recorder = RecorderEndpoint::builder(&pipeline, &uri(&path))
        .media_profile(profile)
        .build()
        .unwrap();
    source.connect(&recorder).unwrap();
    let transcoding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = transcoding.clone();
    source
        .on_media_transcoding_state_changed(move |e| {
            if e.state == mediaflow::MediaTranscodingState::Transcoding {
                seen.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        })
        .unwrap();
    let mut media = Media::new(h264);
    let start = Instant::now();
    recorder.record().unwrap();
    assert!(
        wait_event(&events, Duration::from_secs(5), |e| matches!(
            e,
            Event::Recording(_)
        ))
        .is_some(),
        "Recording"
    );
    media.play(&source, Duration::from_secs(5));
    recorder.stop_and_wait(Duration::from_secs(10)).unwrap();
    let recorded = start.elapsed();
    assert!(
        wait_event(&events, Duration::from_secs(5), |e| matches!(
            e,
            Event::Stopped(_)
        ))
        .is_some(),
        "Stopped"
    );
    assert_eq!(recorder.dropped_frames(), 0);
    // H.264 is transcoded to VP8 on the link; VP8 and Opus are stored as they came.
    assert_eq!(
        transcoding.load(std::sync::atomic::Ordering::Relaxed),
        h264,
        "{name}: transcoding"
    );
    pipeline.release().unwrap();
    check_file(&path, profile, recorded);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn webm() {
    record_profile(MediaProfile::Webm, "webm", false);
}

#[test]
fn mkv() {
    record_profile(MediaProfile::Mkv, "mkv", false);
}

#[test]
fn webm_audio_only() {
    record_profile(MediaProfile::WebmAudioOnly, "webm-audio", false);
}

#[test]
fn webm_video_only() {
    record_profile(MediaProfile::WebmVideoOnly, "webm-video", false);
}

#[test]
fn mkv_audio_only_and_video_only() {
    record_profile(MediaProfile::MkvAudioOnly, "mkv-audio", false);
    record_profile(MediaProfile::MkvVideoOnly, "mkv-video", false);
}

/// H.264 does not fit WebM: the graph transcodes it to VP8 on the way in.
#[test]
fn h264_is_transcoded_into_webm() {
    record_profile(MediaProfile::Webm, "webm-h264", true);
}

/// Engine to engine on 127.0.0.1: AppSource -> WebRtcEndpoint => WebRtcEndpoint ->
/// RecorderEndpoint, so the recorder gets what a session delivers (SRTP-decrypted RTP
/// with the sender's timestamps).
#[test]
fn webrtc_pair_into_webm() {
    let path = temp_file("webrtc", "webm");
    let pipeline = MediaPipeline::new().unwrap();
    let events = pipeline.events().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sender = common::endpoint(&pipeline);
    let receiver = common::endpoint(&pipeline);
    let recorder = RecorderEndpoint::builder(&pipeline, &uri(&path))
        .media_profile(MediaProfile::Webm)
        .build()
        .unwrap();
    source.connect(&sender).unwrap();
    receiver.connect(&recorder).unwrap();
    common::trickle(&sender, &receiver);
    common::negotiate(&sender, &receiver);
    let mut media = Media::new(false);
    // Until media comes out of the receiving endpoint (ICE and DTLS are up).
    let flowing = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(Instant::now() < flowing, "no media through the pair");
        media.play(&source, Duration::from_millis(200));
        if receiver
            .is_media_flowing_out(MediaType::Video)
            .unwrap_or(false)
            && receiver
                .is_media_flowing_out(MediaType::Audio)
                .unwrap_or(false)
        {
            break;
        }
    }
    let start = Instant::now();
    recorder.record().unwrap();
    media.play(&source, Duration::from_secs(5));
    recorder.stop_and_wait(Duration::from_secs(10)).unwrap();
    let recorded = start.elapsed();
    assert!(wait_event(&events, Duration::from_secs(5), |e| matches!(
        e,
        Event::Stopped(_)
    ))
    .is_some());
    pipeline.release().unwrap();
    check_file(&path, MediaProfile::Webm, recorded);
    let _ = std::fs::remove_file(&path);
}

/// Releasing the pipeline instead of stopping finalises the file too; a copy taken
/// while recording (what a killed process leaves behind) is readable up to its last
/// cluster.
#[test]
fn released_pipeline_and_killed_recording_leave_readable_files() {
    let path = temp_file("released", "mkv");
    let copy = temp_file("killed", "mkv");
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let recorder = RecorderEndpoint::builder(&pipeline, &uri(&path))
        .media_profile(MediaProfile::Mkv)
        .build()
        .unwrap();
    source.connect(&recorder).unwrap();
    let mut media = Media::new(false);
    let start = Instant::now();
    recorder.record().unwrap();
    media.play(&source, Duration::from_secs(3));
    std::fs::copy(&path, &copy).unwrap();
    media.play(&source, Duration::from_secs(1));
    pipeline.release().unwrap();
    let recorded = start.elapsed();
    // Released: the handle can still wait for the writer to finish.
    recorder.stop_and_wait(Duration::from_secs(10)).unwrap();
    check_file(&path, MediaProfile::Mkv, recorded);

    let (streams, _) = summary(&ffprobe(&copy));
    eprintln!("mid-recording copy: {streams:?}");
    assert_eq!(streams.len(), 2, "{streams:?}");
    assert!(
        streams.iter().all(|(_, _, packets)| *packets > 40),
        "{streams:?}"
    );
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&copy);
}

#[test]
fn an_unwritable_path_raises_resource_error_open() {
    let pipeline = MediaPipeline::new().unwrap();
    let events = pipeline.events().unwrap();
    let recorder = RecorderEndpoint::builder(&pipeline, "file:///nonexistent-dir/mediaflow/x.webm")
        .build()
        .unwrap();
    recorder.record().unwrap();
    let error = wait_event(&events, Duration::from_secs(5), |e| {
        matches!(e, Event::Error(_))
    });
    let Some(Event::Error(e)) = error else {
        panic!("no Error event");
    };
    assert_eq!(e.error_type, ErrorType::ResourceErrorOpen);
    assert_eq!(e.error_type.as_str(), "RESOURCE_ERROR_OPEN");
    assert!(
        e.description.contains("nonexistent-dir"),
        "{}",
        e.description
    );
    assert_eq!(e.source, recorder.id());
    // Not a URI of a file: refused when built.
    assert!(
        RecorderEndpoint::builder(&pipeline, "http://example.invalid/x.webm")
            .build()
            .is_err()
    );
    pipeline.release().unwrap();
}

/// A 256 KiB tmpfs fills within a second or two: RESOURCE_ERROR_NO_SPACE_LEFT, and
/// the pipeline goes on (the recorder stops cleanly, media still flows to others).
/// Needs root for the mount; skipped (with a message) otherwise.
#[test]
fn a_full_disk_raises_no_space_left_and_the_pipeline_keeps_running() {
    let dir = std::env::temp_dir().join(format!("mediaflow-rec-tmpfs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&dir)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        let _ = std::fs::remove_dir(&dir);
        return;
    }
    let run = std::panic::catch_unwind(|| {
        let pipeline = MediaPipeline::new().unwrap();
        let events = pipeline.events().unwrap();
        let source = AppSource::new(&pipeline).unwrap();
        let recorder = RecorderEndpoint::builder(&pipeline, &uri(&dir.join("full.webm")))
            .build()
            .unwrap();
        let sink = mediaflow::AppSink::new(&pipeline).unwrap();
        source.connect(&recorder).unwrap();
        source.connect(&sink).unwrap();
        let mut media = Media::new(false);
        recorder.record().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut error = None;
        while error.is_none() && Instant::now() < deadline {
            media.play(&source, Duration::from_millis(500));
            while let Ok(e) = events.try_recv() {
                if let Event::Error(e) = e {
                    error = Some(e);
                }
            }
        }
        let e = error.expect("an Error event once the tmpfs is full");
        eprintln!(
            "full tmpfs: {} (code {}): {}",
            e.error_type.as_str(),
            e.error_code,
            e.description
        );
        assert_eq!(e.error_type, ErrorType::ResourceErrorNoSpaceLeft, "{e:?}");
        // The pipeline keeps running: media still reaches the other sink.
        while sink.try_recv().is_some() {}
        media.play(&source, Duration::from_millis(300));
        assert!(sink.recv_timeout(Duration::from_secs(2)).is_some());
        recorder.stop_and_wait(Duration::from_secs(10)).unwrap();
        pipeline.release().unwrap();
    });
    let _ = Command::new("umount").arg(&dir).status();
    let _ = std::fs::remove_dir(&dir);
    if let Err(p) = run {
        std::panic::resume_unwind(p);
    }
}
