//! RecorderEndpoint: real VP8 and Opus (encoded here, paced in real time) into files
//! that Debian's `ffprobe` reads: every WebM/MKV/MP4 profile, over a WebRtcEndpoint
//! pair, H.264 stored as it comes into MKV (and played back) and MP4 and transcoded
//! into WebM, VP8 transcoded into MP4, a released pipeline, a copy taken mid-recording
//! (what a killed process leaves), an unwritable path and a full disk.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::media::Media;
use common::probe::{ffprobe, summary};
use common::wait_event;
use mediaflow::{
    AppSink, AppSource, ErrorType, Event, MediaPipeline, MediaProfile, MediaType, PlayerEndpoint,
    RecorderEndpoint,
};
use mediaflow_transcoder::rtp::{names, Assembled, FrameAssembler};
use mediaflow_transcoder::H264Decoder;

fn temp_file(name: &str, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mediaflow-rec-{}-{name}.{ext}", std::process::id()))
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The streams a file of `profile` holds, its video in `video` (ffprobe's codec name).
fn expected_streams(
    profile: MediaProfile,
    video: &'static str,
) -> Vec<(&'static str, &'static str)> {
    let name = profile.as_str();
    let mut s = Vec::new();
    if !name.ends_with("AUDIO_ONLY") {
        s.push(("video", video));
    }
    if !name.ends_with("VIDEO_ONLY") {
        s.push(("audio", "opus"));
    }
    s
}

fn check_file(path: &Path, profile: MediaProfile, recorded: Duration) {
    check_file_of(path, profile, "vp8", recorded);
}

/// `path` holds the streams of `profile` (video in `video`), lasting `recorded` within
/// 0.5 s, ~30 frames and 50 audio packets a second, each decoding without an error.
fn check_file_of(path: &Path, profile: MediaProfile, video: &'static str, recorded: Duration) {
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
    assert_eq!(
        kinds,
        expected_streams(profile, video),
        "{}",
        profile.as_str()
    );
    for (kind, _, packets) in &streams {
        // ~30 video frames and 50 audio frames a second.
        let least = (recorded.as_secs_f64() * if kind == "video" { 20.0 } else { 40.0 }) as u64;
        assert!(
            *packets >= least,
            "{kind}: {packets} packets, want >= {least}"
        );
    }
    // Every frame decodes. Output keeps the file's millisecond ticks: at ffmpeg's
    // default 1/30 s, frames 33 ms apart that start half a tick in round two onto one
    // tick and its null muxer reports a dts error the file does not have.
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-fps_mode", "passthrough", "-enc_time_base:v", "1:1000"])
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

/// AppSource -> RecorderEndpoint for 5 s, stopped with `stop_and_wait`; the file is
/// checked with ffprobe (video stored as `video`) and removed.
fn record_profile(profile: MediaProfile, name: &str, h264: bool, video: &'static str) {
    let (path, recorded) = record(profile, name, h264);
    check_file_of(&path, profile, video, recorded);
    let _ = std::fs::remove_file(&path);
}

/// The file extension of `profile`'s container.
fn extension(profile: MediaProfile) -> &'static str {
    let name = profile.as_str();
    if name.starts_with("MKV") {
        "mkv"
    } else if name.starts_with("MP4") {
        "mp4"
    } else {
        "webm"
    }
}

/// AppSource (VP8 or H.264, and Opus) -> RecorderEndpoint for 5 s, stopped with
/// `stop_and_wait`: the file and how long it recorded. Checks that nothing was dropped
/// or skipped, and that the link transcoded only what the container cannot hold
/// (H.264 into WebM).
fn record(profile: MediaProfile, name: &str, h264: bool) -> (PathBuf, Duration) {
    let ext = extension(profile);
    let path = temp_file(name, ext);
    let pipeline = MediaPipeline::new().unwrap();
    let events = pipeline.events().unwrap();
    let (source, recorder) = common::media::into_recorder(&pipeline, &path, profile);
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
    // The source starts with a keyframe (an H.264 one with its SPS and PPS).
    assert_eq!(recorder.skipped_frames(), 0, "{name}: skipped");
    // H.264 is transcoded to VP8 on the link into WebM, VP8 to H.264 into MP4 (when it
    // keeps video); stored as they came into MKV.
    let keeps_video = !profile.as_str().ends_with("AUDIO_ONLY");
    assert_eq!(
        transcoding.load(std::sync::atomic::Ordering::Relaxed),
        keeps_video && ((h264 && ext == "webm") || (!h264 && ext == "mp4")),
        "{name}: transcoding"
    );
    pipeline.release().unwrap();
    (path, recorded)
}

#[test]
fn webm() {
    record_profile(MediaProfile::Webm, "webm", false, "vp8");
}

#[test]
fn mkv() {
    record_profile(MediaProfile::Mkv, "mkv", false, "vp8");
}

#[test]
fn webm_audio_only() {
    record_profile(MediaProfile::WebmAudioOnly, "webm-audio", false, "vp8");
}

#[test]
fn webm_video_only() {
    record_profile(MediaProfile::WebmVideoOnly, "webm-video", false, "vp8");
}

#[test]
fn mkv_audio_only_and_video_only() {
    record_profile(MediaProfile::MkvAudioOnly, "mkv-audio", false, "vp8");
    record_profile(MediaProfile::MkvVideoOnly, "mkv-video", false, "vp8");
}

/// H.264 does not fit WebM: the graph transcodes it to VP8 on the way in.
#[test]
fn h264_is_transcoded_into_webm() {
    record_profile(MediaProfile::Webm, "webm-h264", true, "vp8");
    record_profile(MediaProfile::WebmVideoOnly, "webm-video-h264", true, "vp8");
}

/// H.264 fits Matroska: stored as it came (no transcoding), beside Opus.
#[test]
fn h264_is_stored_into_mkv() {
    record_profile(MediaProfile::Mkv, "mkv-h264", true, "h264");
}

/// H.264 into MKV_VIDEO_ONLY: ffprobe reads an h264 stream of the sent size, and our
/// PlayerEndpoint plays the file back as H.264 that decodes.
/// H.264 and Opus stored as they come into fragmented MP4 (avc1 + avcC, Opus + dOps).
#[test]
fn h264_is_stored_into_mp4() {
    record_profile(MediaProfile::Mp4, "mp4-h264", true, "h264");
}

/// MP4 takes H.264 only: VP8 reaches it through a transcoder.
#[test]
fn vp8_is_transcoded_into_mp4() {
    record_profile(MediaProfile::Mp4, "mp4-vp8", false, "h264");
}

#[test]
fn mp4_audio_only_and_video_only() {
    record_profile(MediaProfile::Mp4AudioOnly, "mp4-audio", true, "h264");
    record_profile(MediaProfile::Mp4VideoOnly, "mp4-video", true, "h264");
}

#[test]
fn h264_stored_into_mkv_video_only_plays_back() {
    let (path, recorded) = record(MediaProfile::MkvVideoOnly, "mkv-video-h264", true);
    check_file_of(&path, MediaProfile::MkvVideoOnly, "h264", recorded);
    let probe = ffprobe(&path);
    let video = &probe["streams"][0];
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240)),
        "{video}"
    );
    // Length-prefixed NAL units (4-byte lengths) described by an avcC record.
    assert_eq!(video["is_avc"].as_str(), Some("true"), "{video}");
    assert_eq!(video["nal_length_size"].as_str(), Some("4"), "{video}");
    let (streams, _) = summary(&probe);
    let stored = streams[0].2;

    let pipeline = MediaPipeline::new().unwrap();
    let events = pipeline.events().unwrap();
    let player = PlayerEndpoint::builder(&pipeline, &uri(&path))
        .build()
        .unwrap();
    let sink = AppSink::with_capacity(&pipeline, 8192).unwrap();
    player.connect(&sink).unwrap();
    player.play().unwrap();
    let mut assembler = FrameAssembler::new(names::H264).unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let (mut frames, mut pictures, mut ended) = (0u64, 0u64, false);
    let deadline = Instant::now() + recorded + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(b) = sink.recv_timeout(Duration::from_millis(20)) {
            assert_eq!(b.codec, Some(names::H264));
            if let Assembled::Frame(f) = assembler.push(&b.data) {
                frames += 1;
                if decoder
                    .decode(&f.data)
                    .expect("every frame decodes")
                    .is_some()
                {
                    pictures += 1;
                }
            }
        } else if ended {
            break; // the end was seen and nothing is left on the way
        }
        while let Ok(e) = events.try_recv() {
            assert!(!matches!(e, Event::Error(_)), "{e:?}");
            ended |= matches!(e, Event::EndOfStream(_));
        }
    }
    eprintln!("played back: {frames} frames, {pictures} pictures decoded, {stored} stored");
    assert!(ended, "EndOfStream");
    assert!(
        pictures * 10 >= stored * 8,
        "{pictures} pictures of {stored} frames stored"
    );
    pipeline.release().unwrap();
    let _ = std::fs::remove_file(&path);
}

/// A file has one video track of one codec: the first keyframe stored chose H.264, so a
/// VP8 source connected later is converted to H.264 on its link, and the file stays
/// one decodable h264 stream.
#[test]
fn a_later_source_of_another_codec_is_converted_to_the_files() {
    let path = temp_file("switch", "mkv");
    let pipeline = MediaPipeline::new().unwrap();
    let events = pipeline.events().unwrap();
    let first = AppSource::new(&pipeline).unwrap();
    let second = AppSource::new(&pipeline).unwrap();
    let recorder = RecorderEndpoint::builder(&pipeline, &uri(&path))
        .media_profile(MediaProfile::MkvVideoOnly)
        .build()
        .unwrap();
    let transcoded = |source: &AppSource| {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = flag.clone();
        source
            .on_media_transcoding_state_changed(move |e| {
                if e.state == mediaflow::MediaTranscodingState::Transcoding {
                    seen.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            })
            .unwrap();
        flag
    };
    let (first_transcoded, second_transcoded) = (transcoded(&first), transcoded(&second));
    first.connect(&recorder).unwrap();
    let start = Instant::now();
    recorder.record().unwrap();
    assert!(wait_event(&events, Duration::from_secs(5), |e| matches!(
        e,
        Event::Recording(_)
    ))
    .is_some());
    Media::new(true).play(&first, Duration::from_secs(2));
    // Connecting another source replaces the first on the recorder's video pad.
    second.connect(&recorder).unwrap();
    Media::new(false).play(&second, Duration::from_secs(2));
    recorder.stop_and_wait(Duration::from_secs(10)).unwrap();
    let recorded = start.elapsed();
    eprintln!(
        "switch: {} skipped, {} dropped",
        recorder.skipped_frames(),
        recorder.dropped_frames()
    );
    assert!(!first_transcoded.load(std::sync::atomic::Ordering::Relaxed));
    assert!(second_transcoded.load(std::sync::atomic::Ordering::Relaxed));
    pipeline.release().unwrap();
    check_file_of(&path, MediaProfile::MkvVideoOnly, "h264", recorded);
    let _ = std::fs::remove_file(&path);
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
    released_and_killed(MediaProfile::Mkv, false, "vp8");
}

/// The same for fragmented MP4: readable up to its last fragment.
#[test]
fn released_pipeline_and_killed_mp4_recording_leave_readable_files() {
    released_and_killed(MediaProfile::Mp4, true, "h264");
}

/// Records `profile` from VP8 or H.264 for 4 s, copying the file at 3 s, then releases
/// the pipeline: the file is whole, the copy readable with more than 40 packets a track.
fn released_and_killed(profile: MediaProfile, h264: bool, video: &'static str) {
    let ext = extension(profile);
    let path = temp_file(&format!("released-{ext}"), ext);
    let copy = temp_file(&format!("killed-{ext}"), ext);
    let pipeline = MediaPipeline::new().unwrap();
    let (source, recorder) = common::media::into_recorder(&pipeline, &path, profile);
    let mut media = Media::new(h264);
    let start = Instant::now();
    recorder.record().unwrap();
    media.play(&source, Duration::from_secs(3));
    std::fs::copy(&path, &copy).unwrap();
    media.play(&source, Duration::from_secs(1));
    pipeline.release().unwrap();
    let recorded = start.elapsed();
    // Released: the handle can still wait for the writer to finish.
    recorder.stop_and_wait(Duration::from_secs(10)).unwrap();
    check_file_of(&path, profile, video, recorded);

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

/// The child half of `a_killed_process_leaves_a_readable_file`: records from an
/// AppSource into the file `MEDIAFLOW_RECORD_UNTIL_KILLED` names, in the profile
/// `MEDIAFLOW_RECORD_PROFILE` names, until its process is killed (60 s at most). Run
/// alone it does nothing.
#[test]
fn records_until_killed() {
    let (Some(path), Some(profile)) = (
        std::env::var_os("MEDIAFLOW_RECORD_UNTIL_KILLED"),
        std::env::var("MEDIAFLOW_RECORD_PROFILE")
            .ok()
            .and_then(|p| MediaProfile::parse(&p)),
    ) else {
        return;
    };
    let pipeline = MediaPipeline::new().unwrap();
    let (source, recorder) = common::media::into_recorder(&pipeline, Path::new(&path), profile);
    recorder.record().unwrap();
    Media::new(profile.as_str().starts_with("MP4")).play(&source, Duration::from_secs(60));
}

/// Issue 12: a process recording MKV, WebM or MP4 killed with SIGKILL mid-way (no
/// stop, no release, no destructor) leaves a file ffprobe reads up to its last
/// complete cluster or fragment: both tracks, seconds of each.
#[test]
fn a_killed_process_leaves_a_readable_file() {
    for (profile, video) in [
        (MediaProfile::Mkv, "vp8"),
        (MediaProfile::Webm, "vp8"),
        (MediaProfile::Mp4, "h264"),
    ] {
        let ext = extension(profile);
        let path = temp_file(&format!("killed-process-{ext}"), ext);
        let _ = std::fs::remove_file(&path);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["records_until_killed", "--exact", "--test-threads=1"])
            .env("MEDIAFLOW_RECORD_UNTIL_KILLED", &path)
            .env("MEDIAFLOW_RECORD_PROFILE", profile.as_str())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Seconds of both tracks on disk (what ffprobe reads of the file as it is), or
        // the child gave up: then killed, mid-cluster or mid-fragment most likely.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "nothing recorded in 30 s");
            assert!(
                child.try_wait().unwrap().is_none(),
                "the recording process ended by itself"
            );
            let on_disk = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0)
                && summary(&ffprobe(&path))
                    .0
                    .iter()
                    .filter(|s| s.2 > 40)
                    .count()
                    == 2;
            if on_disk {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        std::thread::sleep(Duration::from_millis(700));
        child.kill().unwrap();
        child.wait().unwrap();
        let (streams, duration) = summary(&ffprobe(&path));
        eprintln!(
            "{} killed: {streams:?}, duration {duration:?}",
            profile.as_str()
        );
        let kinds: Vec<(&str, &str)> = streams
            .iter()
            .map(|(k, c, _)| (k.as_str(), c.as_str()))
            .collect();
        assert_eq!(kinds, expected_streams(profile, video), "{streams:?}");
        assert!(
            streams.iter().all(|(_, _, packets)| *packets > 40),
            "{}: {streams:?}",
            profile.as_str()
        );
        let _ = std::fs::remove_file(&path);
    }
}
