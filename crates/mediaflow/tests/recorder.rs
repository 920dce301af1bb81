//! RecorderEndpoint: real VP8 and Opus (encoded here, paced in real time) into files
//! that Debian's `ffprobe` reads: every WebM/MKV profile, over a WebRtcEndpoint pair,
//! H.264 transcoded into WebM, a released pipeline, a copy taken mid-recording (what a
//! killed process leaves), an unwritable path and a full disk.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::media::Media;
use common::probe::{ffprobe, summary};
use common::wait_event;
use mediaflow::{
    AppSource, ErrorType, Event, MediaPipeline, MediaProfile, MediaType, RecorderEndpoint,
};

fn temp_file(name: &str, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mediaflow-rec-{}-{name}.{ext}", std::process::id()))
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
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
