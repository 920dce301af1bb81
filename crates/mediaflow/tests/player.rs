//! PlayerEndpoint: files recorded by our RecorderEndpoint (real VP8 and Opus, each
//! picture stamped with its number) and by Debian's ffmpeg, played into an AppSink and
//! over a WebRtcEndpoint pair: every frame decodes, in order, paced in real time;
//! EndOfStream once; pause, resume, seek to a keyframe; missing, unplayable and
//! damaged files end in Error events or EndOfStream, never a panic or a hang.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::media::{read_stamp, Media};
use common::probe::{ffprobe, summary};
use common::wait_event;
use mediaflow::{
    AppSink, ErrorType, Event, MediaPipeline, MediaProfile, MediaType, PlayerEndpoint, Receiver,
};
use mediaflow_transcoder::rtp::{names, Assembled, FrameAssembler};
use mediaflow_transcoder::Vp8Decoder;
use serde_json::Value;

fn temp_file(name: &str, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "mediaflow-play-{}-{name}.{ext}",
        std::process::id()
    ))
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A file and what ffprobe says of it.
struct Probed {
    path: PathBuf,
    video_packets: u64,
    audio_packets: u64,
    duration: f64,
    /// Times (s) of the video keyframes.
    keyframes: Vec<f64>,
    /// Time (s) of every video packet, in order.
    video_times: Vec<f64>,
}

fn probe(path: PathBuf) -> Probed {
    let (streams, duration) = summary(&ffprobe(&path));
    let count = |kind: &str| {
        streams
            .iter()
            .find(|(t, _, _)| t == kind)
            .map_or(0, |(_, _, n)| *n)
    };
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=pts_time,flags", "-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    let packets: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packets = packets["packets"].as_array().cloned().unwrap_or_default();
    let time = |p: &Value| -> f64 { p["pts_time"].as_str().unwrap().parse().unwrap() };
    let keyframes = packets
        .iter()
        .filter(|p| p["flags"].as_str().is_some_and(|f| f.starts_with('K')))
        .map(time)
        .collect();
    Probed {
        video_packets: count("video"),
        audio_packets: count("audio"),
        duration: duration.expect("a duration"),
        keyframes,
        video_times: packets.iter().map(time).collect(),
        path,
    }
}

/// 5 s of VP8 and Opus recorded into a WebM once for every test of this file.
fn recorded() -> &'static Probed {
    static FILE: OnceLock<Probed> = OnceLock::new();
    FILE.get_or_init(|| record_from_app_source("recorded", "webm", MediaProfile::Webm, false))
}

/// 5 s from an AppSource (VP8 or, with `h264`, H.264, and Opus) recorded by our
/// RecorderEndpoint into `name`.`ext` with `profile`, probed.
fn record_from_app_source(name: &str, ext: &str, profile: MediaProfile, h264: bool) -> Probed {
    let path = temp_file(name, ext);
    let pipeline = MediaPipeline::new().unwrap();
    let (source, recorder) = common::media::into_recorder(&pipeline, &path, profile);
    recorder.record().unwrap();
    Media::new(h264).play(&source, Duration::from_secs(5));
    recorder.stop_and_wait(Duration::from_secs(10)).unwrap();
    pipeline.release().unwrap();
    let p = probe(path);
    eprintln!(
        "recorded {}: {} video, {} audio packets, {:.3} s, keyframes at {:?}",
        profile.as_str(),
        p.video_packets,
        p.audio_packets,
        p.duration,
        p.keyframes
    );
    p
}

/// What came out of a player: VP8 frames (with their arrival) and Opus frames.
#[derive(Default)]
struct Played {
    /// (arrival, frame) of every whole VP8 frame.
    video: Vec<(Instant, Vec<u8>)>,
    audio: usize,
    broken: usize,
    end_of_stream: usize,
    errors: Vec<(ErrorType, String)>,
}

struct Tap {
    sink: AppSink,
    video_codec: &'static str,
    events: Receiver<Event>,
    video: FrameAssembler,
    audio: FrameAssembler,
    played: Played,
}

impl Tap {
    fn new(pipeline: &MediaPipeline, sink: AppSink) -> Tap {
        Tap::of(pipeline, sink, names::VP8)
    }

    fn of(pipeline: &MediaPipeline, sink: AppSink, video_codec: &'static str) -> Tap {
        Tap {
            sink,
            video_codec,
            events: pipeline.events().unwrap(),
            video: FrameAssembler::new(video_codec).unwrap(),
            audio: FrameAssembler::new(names::OPUS).unwrap(),
            played: Played::default(),
        }
    }

    /// Takes what arrives for `wait`, or until `stop` says so.
    fn take(&mut self, wait: Duration, stop: impl Fn(&Played) -> bool) {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline && !stop(&self.played) {
            if let Some(b) = self.sink.recv_timeout(Duration::from_millis(5)) {
                let (assembler, video) = match b.media_type {
                    MediaType::Video => (&mut self.video, true),
                    _ => (&mut self.audio, false),
                };
                let want = if video { self.video_codec } else { names::OPUS };
                assert_eq!(b.codec, Some(want));
                match assembler.push(&b.data) {
                    Assembled::Frame(f) if video => {
                        self.played.video.push((Instant::now(), f.data))
                    }
                    Assembled::Frame(_) => self.played.audio += 1,
                    Assembled::Pending => {}
                    Assembled::Broken => self.played.broken += 1,
                }
            }
            while let Ok(e) = self.events.try_recv() {
                match e {
                    Event::EndOfStream(_) => self.played.end_of_stream += 1,
                    Event::Error(e) => self.played.errors.push((e.error_type, e.description)),
                    _ => {}
                }
            }
        }
    }

    fn until_end(&mut self, wait: Duration) {
        self.take(wait, |p| p.end_of_stream > 0);
        // EndOfStream comes on the event channel, the last frames on the sink's: under
        // load the event can be seen first. Take what is still on its way.
        self.take(Duration::from_millis(300), |_| false);
    }
}

/// Decodes frames in order with one decoder; the stamps of the pictures.
fn decode(frames: &[(Instant, Vec<u8>)]) -> Vec<u32> {
    let mut decoder = Vp8Decoder::new().unwrap();
    frames
        .iter()
        .map(|(_, f)| {
            let picture = decoder
                .decode(f)
                .expect("every frame decodes")
                .expect("a picture per frame");
            read_stamp(&picture)
        })
        .collect()
}

fn is_key(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 1 == 0)
}

fn player_into_sink(path: &Path) -> (MediaPipeline, PlayerEndpoint, Tap) {
    player_into_sink_of(path, names::VP8)
}

/// A player of `path` into an AppSink that takes `video_codec` for its video.
fn player_into_sink_of(
    path: &Path,
    video_codec: &'static str,
) -> (MediaPipeline, PlayerEndpoint, Tap) {
    let pipeline = MediaPipeline::new().unwrap();
    let player = PlayerEndpoint::builder(&pipeline, &uri(path))
        .build()
        .unwrap();
    let sink = AppSink::with_capacity(&pipeline, 8192).unwrap();
    player.connect(&sink).unwrap();
    let tap = Tap::of(&pipeline, sink, video_codec);
    (pipeline, player, tap)
}

#[test]
fn a_recorded_webm_plays_in_real_time_and_ends_once() {
    let file = recorded();
    let (pipeline, player, mut tap) = player_into_sink(&file.path);
    let info = player.get_video_info().unwrap();
    eprintln!("video info: {info:?}");
    assert!(info.is_seekable);
    assert!(
        (info.duration as f64 / 1000.0 - file.duration).abs() < 0.05,
        "{info:?} for {} s",
        file.duration
    );
    let start = Instant::now();
    player.play().unwrap();
    tap.until_end(Duration::from_secs(20));
    let took = start.elapsed();
    // A second more: nothing after the end.
    tap.take(Duration::from_secs(1), |_| false);
    let p = &tap.played;
    assert_eq!(p.end_of_stream, 1, "EndOfStream once");
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.broken, 0);
    let stamps = decode(&p.video);
    eprintln!(
        "played {} video frames ({} in the file), {} audio ({} in the file) in {:.3} s \
         (file {:.3} s); stamps {}..={}",
        p.video.len(),
        file.video_packets,
        p.audio,
        file.audio_packets,
        took.as_secs_f64(),
        file.duration,
        stamps[0],
        stamps[stamps.len() - 1]
    );
    assert_eq!(p.video.len() as u64, file.video_packets);
    assert_eq!(p.audio as u64, file.audio_packets);
    assert!(is_key(&p.video[0].1));
    assert!(
        stamps.windows(2).all(|w| w[1] == w[0] + 1),
        "pictures in order, none missing"
    );
    // Paced: the frames' arrivals span the file's time, within 10 %.
    let span = p.video.last().unwrap().0 - p.video[0].0;
    let file_span = file.video_times.last().unwrap() - file.video_times[0];
    eprintln!(
        "video arrivals span {:.3} s for {file_span:.3} s of file",
        span.as_secs_f64()
    );
    assert!(
        (span.as_secs_f64() - file_span).abs() <= 0.1 * file_span,
        "{span:?} for {file_span} s"
    );
    assert_eq!(player.get_position().unwrap(), 0, "back at the start");

    // play() after the end starts again from the beginning.
    let before = tap.played.video.len();
    player.play().unwrap();
    tap.take(Duration::from_secs(5), |p| p.video.len() >= before + 10);
    let again = decode(&tap.played.video[before..]);
    assert_eq!(again[0], stamps[0], "the second run starts at the top");
    pipeline.release().unwrap();
}

#[test]
fn pause_holds_and_play_resumes() {
    let file = recorded();
    let (pipeline, player, mut tap) = player_into_sink(&file.path);
    player.play().unwrap();
    tap.take(Duration::from_millis(1500), |_| false);
    player.pause().unwrap();
    let at_pause = player.get_position().unwrap();
    // What was in flight when pausing arrives within a few milliseconds.
    tap.take(Duration::from_millis(100), |_| false);
    let held = tap.played.video.len();
    tap.take(Duration::from_secs(1), |_| false);
    assert_eq!(tap.played.video.len(), held, "no video while paused");
    let still = player.get_position().unwrap();
    eprintln!("paused at {at_pause} ms with {held} frames; {still} ms a second later");
    assert!((1300..=1700).contains(&at_pause), "{at_pause} ms");
    assert_eq!(still, at_pause);
    player.play().unwrap();
    tap.take(Duration::from_millis(1000), |_| false);
    let resumed = player.get_position().unwrap();
    eprintln!("{resumed} ms a second after resuming");
    assert!(
        resumed >= at_pause + 800 && resumed <= at_pause + 1200,
        "{resumed} ms"
    );
    let stamps = decode(&tap.played.video);
    assert!(stamps.len() > held + 20, "{} frames", stamps.len());
    assert!(
        stamps.windows(2).all(|w| w[1] == w[0] + 1),
        "the picture goes on where it stopped"
    );
    pipeline.release().unwrap();
}

#[test]
fn set_position_jumps_to_the_keyframe_at_or_before_it() {
    let file = recorded();
    let (pipeline, player, mut tap) = player_into_sink(&file.path);
    player.play().unwrap();
    tap.take(Duration::from_millis(500), |p| !p.video.is_empty());
    tap.take(Duration::from_millis(300), |_| false);
    let first = decode(&tap.played.video[..1])[0];
    // Forwards, backwards, and while paused (nothing plays until play()).
    for (target_ms, paused) in [(3_500u64, false), (1_000, false), (4_500, true)] {
        let target = target_ms as f64 / 1000.0;
        let key_time = file
            .keyframes
            .iter()
            .copied()
            .filter(|k| *k <= target + 1e-6)
            .fold(file.keyframes[0], f64::max);
        let index = file
            .video_times
            .iter()
            .position(|t| (t - key_time).abs() < 1e-6)
            .unwrap();
        if paused {
            player.pause().unwrap();
            tap.take(Duration::from_millis(100), |_| false);
        }
        player.set_position(target_ms).unwrap();
        let before = tap.played.video.len();
        if paused {
            assert_eq!(player.get_position().unwrap(), target_ms);
            tap.take(Duration::from_millis(300), |_| false);
            assert_eq!(tap.played.video.len(), before, "nothing while paused");
            player.play().unwrap();
        }
        tap.take(Duration::from_secs(2), |p| p.video.len() >= before + 20);
        // Frames already packetized before the seek may still come first: the jump is
        // where the stamps stop following on.
        let stamps = decode(&tap.played.video);
        let jump = (before.max(1)..stamps.len())
            .find(|&i| stamps[i] != stamps[i - 1] + 1)
            .expect("a jump");
        let position = player.get_position().unwrap();
        eprintln!(
            "set_position({target_ms}, paused {paused}): keyframe at {key_time} s (packet {index}), landed on \
             picture {} (first {first}), position {position} ms after",
            stamps[jump]
        );
        assert!(is_key(&tap.played.video[jump].1), "a keyframe first");
        // A fresh decoder starts from it.
        decode(&tap.played.video[jump..]);
        assert_eq!(stamps[jump], first + index as u32);
        assert!(
            stamps[jump..].windows(2).all(|w| w[1] == w[0] + 1),
            "then in order"
        );
    }
    pipeline.release().unwrap();
}

/// A WebM made by Debian's ffmpeg (libvpx, libopus, a keyframe a second) plays too,
/// and seeks through its Cues.
#[test]
fn an_ffmpeg_webm_plays_and_seeks() {
    ffmpeg_file_plays_and_seeks("webm");
}

/// ffmpeg's Matroska has CRC-32 elements, CueRelativePosition and Tags besides.
#[test]
fn an_ffmpeg_mkv_plays_and_seeks() {
    ffmpeg_file_plays_and_seeks("mkv");
}

fn ffmpeg_file_plays_and_seeks(ext: &str) {
    let path = temp_file("ffmpeg", ext);
    let codecs = [
        "-c:v", "libvpx", "-b:v", "500k", "-g", "30", "-c:a", "libopus",
    ];
    common::ffmpeg::make_clip(&path, "320x240", "3", &codecs);
    let file = probe(path);
    eprintln!(
        "ffmpeg {ext}: {} video, {} audio packets, {:.3} s, keyframes at {:?}",
        file.video_packets, file.audio_packets, file.duration, file.keyframes
    );
    let (pipeline, player, mut tap) = player_into_sink(&file.path);
    let start = Instant::now();
    player.play().unwrap();
    tap.until_end(Duration::from_secs(15));
    let took = start.elapsed();
    let p = &tap.played;
    eprintln!(
        "played {} video, {} audio frames in {:.3} s",
        p.video.len(),
        p.audio,
        took.as_secs_f64()
    );
    assert_eq!(p.end_of_stream, 1);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.video.len() as u64, file.video_packets);
    assert_eq!(p.audio as u64, file.audio_packets);
    decode(&p.video);
    assert!(
        (took.as_secs_f64() - file.duration).abs() < 0.1 * file.duration + 0.3,
        "{took:?}"
    );

    // Seek while playing: the keyframe at 2 s, decodable by a fresh decoder.
    player.play().unwrap();
    tap.take(Duration::from_millis(300), |_| false);
    player.set_position(2_500).unwrap();
    let before = tap.played.video.len();
    // The reader seeks off the worker: wait for the first frame after the jump (its time
    // is what the position then follows), then a moment of play.
    tap.take(Duration::from_secs(5), |p| {
        p.video[before..].iter().any(|f| is_key(&f.1))
    });
    tap.take(Duration::from_millis(100), |_| false);
    let position = player.get_position().unwrap();
    eprintln!("ffmpeg {ext}: set_position(2500) -> {position} ms");
    assert!((2_000..=2_400).contains(&position), "{position} ms");
    let keys: Vec<usize> = (before..tap.played.video.len())
        .filter(|&i| is_key(&tap.played.video[i].1))
        .collect();
    assert!(!keys.is_empty(), "the keyframe arrives");
    decode(&tap.played.video[keys[0]..]);
    pipeline.release().unwrap();
    let _ = std::fs::remove_file(&file.path);
}

fn first_error(events: &Receiver<Event>) -> mediaflow::ErrorEvent {
    match wait_event(events, Duration::from_secs(5), |e| {
        matches!(e, Event::Error(_))
    }) {
        Some(Event::Error(e)) => e,
        _ => panic!("no Error event"),
    }
}

#[test]
fn missing_files_and_foreign_uris_raise_error_events() {
    let pipeline = MediaPipeline::new().unwrap();
    let events = pipeline.events().unwrap();
    let text = temp_file("text", "webm");
    std::fs::write(&text, b"not a matroska file at all\n").unwrap();
    let cases = [
        (
            "file:///nonexistent-dir/mediaflow/x.webm".to_owned(),
            ErrorType::ResourceErrorOpen,
        ),
        ("rtsp://127.0.0.1/x.webm".to_owned(), ErrorType::InvalidUri),
        ("garbage".to_owned(), ErrorType::InvalidUri),
        ("file://relative.webm".to_owned(), ErrorType::InvalidUri),
        (uri(&text), ErrorType::InvalidMedia),
    ];
    for (uri, want) in cases {
        let player = PlayerEndpoint::builder(&pipeline, &uri).build().unwrap();
        player.play().unwrap();
        let e = first_error(&events);
        eprintln!("{uri}: {} {}", e.error_type.as_str(), e.description);
        assert_eq!(e.error_type, want, "{uri}");
        assert_eq!(e.source, player.id());
        assert!(player.get_video_info().is_err());
        assert!(player.set_position(10).is_err(), "nothing to seek in");
        assert_eq!(player.get_position().unwrap(), 0);
    }
    pipeline.release().unwrap();
    let _ = std::fs::remove_file(&text);
}

/// A tiny xorshift: reproducible damage.
fn noise(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Truncated, damaged and random files: each ends (EndOfStream, or an Error event)
/// within its time, the pipeline keeps answering, and nothing panics.
#[test]
fn truncated_and_damaged_files_end_without_a_hang() {
    let file = recorded();
    let bytes = std::fs::read(&file.path).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut variants: Vec<(&str, Vec<u8>)> = vec![
        ("truncated to 60 %", bytes[..bytes.len() * 6 / 10].to_vec()),
        ("truncated to 200 bytes", bytes[..200].to_vec()),
    ];
    for round in 0..3 {
        let mut damaged = bytes.clone();
        for _ in 0..(20 * (round + 1)) {
            let at = 300 + (noise(&mut seed) as usize) % (damaged.len() - 300);
            damaged[at] = noise(&mut seed) as u8;
        }
        variants.push(("damaged", damaged));
    }
    variants.push((
        "random",
        (0..200_000).map(|_| noise(&mut seed) as u8).collect(),
    ));
    // The EBML header of a real file followed by garbage.
    let mut headed = bytes[..64].to_vec();
    headed.extend((0..100_000).map(|_| noise(&mut seed) as u8));
    variants.push(("header then garbage", headed));
    for (i, (what, data)) in variants.into_iter().enumerate() {
        let path = temp_file(&format!("bad{i}"), "webm");
        std::fs::write(&path, &data).unwrap();
        let (pipeline, player, mut tap) = player_into_sink(&path);
        player.play().unwrap();
        tap.take(Duration::from_secs(10), |p| {
            p.end_of_stream > 0 || !p.errors.is_empty()
        });
        // An Error is followed by EndOfStream when playback had started.
        tap.take(Duration::from_millis(200), |p| p.end_of_stream > 0);
        let p = &tap.played;
        eprintln!(
            "{what}: {} video frames, end {}, errors {:?}, dropped {}",
            p.video.len(),
            p.end_of_stream,
            p.errors,
            player.dropped_frames()
        );
        assert!(
            p.end_of_stream == 1 || !p.errors.is_empty(),
            "{what}: neither EndOfStream nor an Error"
        );
        if i == 0 {
            // Cut short, its SeekHead names Cues past the end: what is there plays.
            assert_eq!(p.end_of_stream, 1, "{what}");
            assert!(p.video.len() as u64 >= file.video_packets / 2, "{what}");
            decode(&p.video);
        }
        player.get_position().expect("the pipeline still answers");
        pipeline.release().unwrap();
        let _ = std::fs::remove_file(&path);
    }
}

/// Engine to engine on 127.0.0.1: PlayerEndpoint -> WebRtcEndpoint => WebRtcEndpoint
/// -> AppSink: the recorded file's frames arrive through DTLS-SRTP and decode.
#[test]
fn a_file_plays_through_a_webrtc_pair() {
    let file = recorded();
    let pipeline = MediaPipeline::new().unwrap();
    let player = PlayerEndpoint::builder(&pipeline, &uri(&file.path))
        .build()
        .unwrap();
    let sender = common::endpoint(&pipeline);
    let receiver = common::endpoint(&pipeline);
    let sink = AppSink::with_capacity(&pipeline, 8192).unwrap();
    player.connect(&sender).unwrap();
    receiver.connect(&sink).unwrap();
    let mut tap = Tap::new(&pipeline, sink);
    // Until DTLS is up on both sides, so the first keyframe is not lost to the setup;
    // subscribed before the call starts (set up in about 2 ms, it could be up before a
    // later subscription, which then waits for nothing).
    let connected = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for e in [&sender, &receiver] {
        let c = connected.clone();
        e.on_dtls_connection_state_change(move |e| {
            if e.state == mediaflow::DtlsConnectionState::Connected {
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .unwrap();
    }
    common::trickle(&sender, &receiver);
    common::negotiate(&sender, &receiver);
    let deadline = Instant::now() + Duration::from_secs(15);
    while connected.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "DTLS did not connect");
        std::thread::sleep(Duration::from_millis(20));
    }
    player.play().unwrap();
    tap.take(Duration::from_secs(15), |p| p.end_of_stream > 0);
    tap.take(Duration::from_millis(500), |_| false);
    let p = &tap.played;
    let first_key = p
        .video
        .iter()
        .position(|(_, f)| is_key(f))
        .expect("a keyframe");
    let stamps = decode(&p.video[first_key..]);
    eprintln!(
        "through the pair: {} video frames ({} decoded from the first keyframe, pictures \
         {}..={}), {} audio frames, {} broken, EndOfStream {}; file: {} video, {} audio",
        p.video.len(),
        stamps.len(),
        stamps[0],
        stamps[stamps.len() - 1],
        p.audio,
        p.broken,
        p.end_of_stream,
        file.video_packets,
        file.audio_packets
    );
    assert_eq!(p.end_of_stream, 1);
    assert!(
        stamps.len() as u64 >= file.video_packets * 9 / 10,
        "{} of {} frames",
        stamps.len(),
        file.video_packets
    );
    assert!(p.audio as u64 >= file.audio_packets * 9 / 10);
    pipeline.release().unwrap();
}

/// A sink that takes only H.264 and PCMU: the graph transcodes the file's VP8 and Opus
/// on the link (MediaTranscodingStateChanged on the player).
#[test]
fn a_sink_of_other_codecs_gets_the_file_transcoded() {
    let file = recorded();
    let pipeline = MediaPipeline::new().unwrap();
    let events = pipeline.events().unwrap();
    let player = PlayerEndpoint::builder(&pipeline, &uri(&file.path))
        .build()
        .unwrap();
    let sink = AppSink::with_codecs(&pipeline, 4096, &[names::H264, names::PCMU]).unwrap();
    player.connect(&sink).unwrap();
    player.play().unwrap();
    let (mut h264, mut pcmu) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while (h264 < 30 || pcmu < 30) && Instant::now() < deadline {
        if let Some(b) = sink.recv_timeout(Duration::from_millis(20)) {
            match b.codec {
                Some(names::H264) => h264 += 1,
                Some(names::PCMU) => pcmu += 1,
                other => panic!("{other:?} reached a sink that takes H.264 and PCMU only"),
            }
        }
    }
    eprintln!("transcoded: {h264} H.264 and {pcmu} PCMU packets");
    assert!(
        h264 >= 30 && pcmu >= 30,
        "{h264} H.264, {pcmu} PCMU packets"
    );
    let transcoding = wait_event(&events, Duration::from_secs(1), |e| {
        matches!(e, Event::MediaTranscodingStateChanged(t)
            if t.state == mediaflow::MediaTranscodingState::Transcoding && t.source == player.id())
    });
    assert!(
        transcoding.is_some(),
        "MediaTranscodingStateChanged(Transcoding)"
    );
    pipeline.release().unwrap();
}

/// Serves `body` at `/clip.webm` on 127.0.0.1 (404 elsewhere) for `connections`
/// requests or 30 s, whichever comes first.
fn serve(body: Vec<u8>, connections: usize) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut served = 0;
        while served < connections && Instant::now() < deadline {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            served += 1;
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = stream;
            if request.starts_with("GET /clip.webm ") {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: video/webm\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            } else {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        }
    });
    port
}

/// An http:// URI: downloaded, then played like a file; a 404 and a closed port are
/// Error events RESOURCE_ERROR_OPEN; the downloaded copy goes with the playback.
#[test]
fn an_http_uri_is_downloaded_and_played() {
    let file = recorded();
    let port = serve(std::fs::read(&file.path).unwrap(), 2);
    let url = format!("http://127.0.0.1:{port}/clip.webm");
    let pipeline = MediaPipeline::new().unwrap();
    let player = PlayerEndpoint::builder(&pipeline, &url).build().unwrap();
    assert!(player.get_video_info().is_err(), "not downloaded yet");
    let sink = AppSink::with_capacity(&pipeline, 8192).unwrap();
    player.connect(&sink).unwrap();
    let mut tap = Tap::new(&pipeline, sink);
    let start = Instant::now();
    player.play().unwrap();
    tap.until_end(Duration::from_secs(20));
    let p = &tap.played;
    eprintln!(
        "{url}: {} video, {} audio frames in {:.3} s, errors {:?}",
        p.video.len(),
        p.audio,
        start.elapsed().as_secs_f64(),
        p.errors
    );
    assert_eq!(p.end_of_stream, 1);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.video.len() as u64, file.video_packets);
    assert_eq!(p.audio as u64, file.audio_packets);
    decode(&p.video);
    let info = player.get_video_info().unwrap();
    assert!(
        (info.duration as f64 / 1000.0 - file.duration).abs() < 0.05,
        "{info:?}"
    );
    // The copy is deleted once its reader has ended (at the end of the file).
    let prefix = format!("mediaflow-player-{}-", std::process::id());
    let copies = || {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while copies() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(copies(), 0, "downloaded copies left behind");

    let events = pipeline.events().unwrap();
    for bad in [
        format!("http://127.0.0.1:{port}/missing.webm"),
        "http://127.0.0.1:1/closed.webm".to_owned(),
    ] {
        let player = PlayerEndpoint::builder(&pipeline, &bad).build().unwrap();
        player.play().unwrap();
        let e = first_error(&events);
        eprintln!("{bad}: {} {}", e.error_type.as_str(), e.description);
        assert_eq!(e.error_type, ErrorType::ResourceErrorOpen, "{bad}");
        assert_eq!(e.source, player.id());
    }
    pipeline.release().unwrap();
}

/// A download that fails after set_position was called (the server hangs up after
/// 500 ms; a refused port fails before any seek can come): still RESOURCE_ERROR_OPEN,
/// not EndOfStream.
#[test]
fn a_download_failing_after_a_seek_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            std::thread::sleep(Duration::from_millis(500));
            drop(stream);
        }
    });
    let pipeline = MediaPipeline::new().unwrap();
    let events = pipeline.events().unwrap();
    let url = format!("http://127.0.0.1:{port}/hangs-up.webm");
    let player = PlayerEndpoint::builder(&pipeline, &url).build().unwrap();
    player.play().unwrap();
    player.set_position(500).unwrap();
    let e = first_error(&events);
    eprintln!("{url}: {} {}", e.error_type.as_str(), e.description);
    assert_eq!(e.error_type, ErrorType::ResourceErrorOpen);
    assert_eq!(e.source, player.id());
    pipeline.release().unwrap();
}

/// H.264 in Matroska (ffmpeg's libx264): the NAL units are turned into Annex B with the
/// parameter sets before each IDR, packetized as H.264, and every frame decodes.
#[test]
fn an_h264_mkv_plays() {
    let path = temp_file("h264", "mkv");
    let codecs = [
        "-c:v",
        "libx264",
        "-profile:v",
        "baseline",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "30",
        "-c:a",
        "libopus",
    ];
    common::ffmpeg::make_clip(&path, "320x240", "2", &codecs);
    let file = probe(path);
    let pipeline = MediaPipeline::new().unwrap();
    let player = PlayerEndpoint::builder(&pipeline, &uri(&file.path))
        .build()
        .unwrap();
    let sink = AppSink::with_capacity(&pipeline, 8192).unwrap();
    player.connect(&sink).unwrap();
    let mut tap = Tap::of(&pipeline, sink, names::H264);
    player.play().unwrap();
    tap.until_end(Duration::from_secs(10));
    let p = &tap.played;
    let mut decoder = mediaflow_transcoder::H264Decoder::new().unwrap();
    let pictures = p
        .video
        .iter()
        .filter(|(_, f)| decoder.decode(f).expect("every frame decodes").is_some())
        .count();
    eprintln!(
        "H.264 MKV: {} video frames ({pictures} pictures decoded), {} audio; file {} and {}",
        p.video.len(),
        p.audio,
        file.video_packets,
        file.audio_packets
    );
    assert_eq!(p.end_of_stream, 1);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.video.len() as u64, file.video_packets);
    assert_eq!(pictures as u64, file.video_packets);
    assert_eq!(p.audio as u64, file.audio_packets);
    pipeline.release().unwrap();
    let _ = std::fs::remove_file(&file.path);
}

/// 5 s of H.264 and Opus from an AppSource recorded into fragmented MP4 by our
/// RecorderEndpoint, once for every test of this file.
fn recorded_mp4() -> &'static Probed {
    static FILE: OnceLock<Probed> = OnceLock::new();
    FILE.get_or_init(|| record_from_app_source("recorded", "mp4", MediaProfile::Mp4, true))
}

/// 3 s of libx264 (baseline, a keyframe a second) and libopus in a plain MP4 made by
/// Debian's ffmpeg, with `extra` arguments (`-movflags +faststart`).
fn ffmpeg_mp4(name: &str, extra: &[&str]) -> Probed {
    let path = temp_file(name, "mp4");
    let codecs = [
        &["-c:v", "libx264", "-profile:v", "baseline"][..],
        &["-pix_fmt", "yuv420p", "-g", "30", "-c:a", "libopus"],
        extra,
    ]
    .concat();
    common::ffmpeg::make_clip(&path, "320x240", "3", &codecs);
    probe(path)
}

/// A player of `path` into an AppSink that takes H.264.
fn h264_player_into_sink(path: &Path) -> (MediaPipeline, PlayerEndpoint, Tap) {
    player_into_sink_of(path, names::H264)
}

/// Decodes H.264 frames in order with one decoder: how many gave a picture.
fn decode_h264(frames: &[(Instant, Vec<u8>)]) -> usize {
    let mut decoder = mediaflow_transcoder::H264Decoder::new().unwrap();
    frames
        .iter()
        .filter(|(_, f)| decoder.decode(f).expect("every frame decodes").is_some())
        .count()
}

/// Whether an Annex B frame holds an IDR slice.
fn is_idr(frame: &[u8]) -> bool {
    frame
        .windows(4)
        .any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5)
}

/// Plays an MP4 to its end: every frame arrives, every H.264 frame decodes, in real
/// time (within 0.5 s of the file's duration), EndOfStream once.
fn an_mp4_plays(file: &Probed, what: &str) {
    let (pipeline, player, mut tap) = h264_player_into_sink(&file.path);
    let info = player.get_video_info().unwrap();
    let start = Instant::now();
    player.play().unwrap();
    tap.take(Duration::from_secs_f64(file.duration + 10.0), |p| {
        p.end_of_stream > 0
    });
    let took = start.elapsed().as_secs_f64();
    tap.take(Duration::from_millis(300), |_| false);
    let p = &tap.played;
    let pictures = decode_h264(&p.video);
    eprintln!(
        "{what}: {} video frames ({pictures} pictures), {} audio in {took:.3} s; file {} and {}, \
         {:.3} s; video info {info:?}",
        p.video.len(),
        p.audio,
        file.video_packets,
        file.audio_packets,
        file.duration
    );
    assert_eq!(p.end_of_stream, 1, "{what}");
    assert!(p.errors.is_empty(), "{what}: {:?}", p.errors);
    assert_eq!(p.video.len() as u64, file.video_packets, "{what}");
    assert_eq!(pictures, p.video.len(), "{what}");
    assert_eq!(p.audio as u64, file.audio_packets, "{what}");
    assert!(is_idr(&p.video[0].1), "{what}: an IDR first");
    assert!((took - file.duration).abs() < 0.5, "{what}: {took} s");
    assert!(info.is_seekable);
    assert!(
        (info.duration as f64 / 1000.0 - file.duration).abs() < 0.1,
        "{what}: {info:?}"
    );
    pipeline.release().unwrap();
}

/// H.264 and Opus recorded into fragmented MP4 by our RecorderEndpoint play back.
#[test]
fn a_recorded_mp4_plays_in_real_time() {
    an_mp4_plays(recorded_mp4(), "recorded MP4");
}

/// Plain MP4 from ffmpeg (sample tables), the moov after the mdat and before it.
#[test]
fn an_ffmpeg_mp4_plays_with_and_without_faststart() {
    for (name, extra) in [
        ("plain", &[][..]),
        ("faststart", &["-movflags", "+faststart"][..]),
    ] {
        let file = ffmpeg_mp4(name, extra);
        an_mp4_plays(&file, &format!("ffmpeg MP4 ({name})"));
        let _ = std::fs::remove_file(&file.path);
    }
}

/// get_video_info and set_position on an MP4: the keyframe at or before, decodable by a
/// fresh decoder, backwards too.
#[test]
fn set_position_on_an_mp4_lands_on_the_keyframe_before() {
    let file = ffmpeg_mp4("seek", &[]);
    let (pipeline, player, mut tap) = h264_player_into_sink(&file.path);
    let info = player.get_video_info().unwrap();
    assert!(info.is_seekable && info.seekable_end == info.duration);
    assert!((2_950..=3_050).contains(&info.duration), "{info:?}");
    player.play().unwrap();
    tap.take(Duration::from_millis(300), |_| false);
    for target in [2_500u64, 1_200] {
        player.set_position(target).unwrap();
        let before = tap.played.video.len();
        tap.take(Duration::from_secs(5), |p| {
            p.video[before..].iter().any(|f| is_idr(&f.1))
        });
        tap.take(Duration::from_millis(100), |_| false);
        let position = player.get_position().unwrap();
        let key = (target / 1000) * 1000;
        eprintln!("MP4: set_position({target}) -> {position} ms");
        assert!((key..key + 400).contains(&position), "{position} ms");
        let first = (before..tap.played.video.len())
            .find(|&i| is_idr(&tap.played.video[i].1))
            .expect("the keyframe arrives");
        assert_eq!(
            decode_h264(&tap.played.video[first..]),
            tap.played.video.len() - first
        );
    }
    pipeline.release().unwrap();
    let _ = std::fs::remove_file(&file.path);
}

/// A recording cut mid-fragment (killed before its end): what is whole plays, then
/// EndOfStream.
#[test]
fn a_cut_fragmented_mp4_plays_what_is_whole() {
    let file = recorded_mp4();
    let bytes = std::fs::read(&file.path).unwrap();
    let path = temp_file("cut", "mp4");
    std::fs::write(&path, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let (pipeline, player, mut tap) = h264_player_into_sink(&path);
    let info = player.get_video_info().unwrap();
    player.play().unwrap();
    tap.until_end(Duration::from_secs(15));
    let p = &tap.played;
    eprintln!(
        "cut MP4: {} of {} video frames, {} audio, info {info:?}",
        p.video.len(),
        file.video_packets,
        p.audio
    );
    assert_eq!(p.end_of_stream, 1);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert!(p.video.len() as u64 >= file.video_packets / 3);
    assert!((p.video.len() as u64) < file.video_packets);
    assert_eq!(decode_h264(&p.video), p.video.len());
    assert!(info.duration < (file.duration * 1000.0) as u64);
    pipeline.release().unwrap();
    let _ = std::fs::remove_file(&path);
}

/// Garbage after an ftyp box, a moov cut short, a file with only AAC: INVALID_MEDIA,
/// no panic.
#[test]
fn broken_mp4s_are_invalid_media() {
    let faststart = ffmpeg_mp4("broken", &["-movflags", "+faststart"]);
    let bytes = std::fs::read(&faststart.path).unwrap();
    let ftyp = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert_eq!(&bytes[ftyp + 4..ftyp + 8], b"moov");
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut garbage = bytes[..ftyp].to_vec();
    garbage.extend((0..50_000).map(|_| noise(&mut seed) as u8));
    let aac = temp_file("aac", "mp4");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine", "-t", "1"])
        .args(["-c:a", "aac"])
        .arg(&aac)
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success());
    let cases = [
        ("garbage after ftyp", garbage),
        ("moov cut short", bytes[..ftyp + 200].to_vec()),
        ("AAC only", std::fs::read(&aac).unwrap()),
    ];
    let pipeline = MediaPipeline::new().unwrap();
    let events = pipeline.events().unwrap();
    for (i, (what, data)) in cases.into_iter().enumerate() {
        let path = temp_file(&format!("broken{i}"), "mp4");
        std::fs::write(&path, &data).unwrap();
        let player = PlayerEndpoint::builder(&pipeline, &uri(&path))
            .build()
            .unwrap();
        assert!(player.get_video_info().is_err(), "{what}");
        player.play().unwrap();
        let e = first_error(&events);
        eprintln!("{what}: {} {}", e.error_type.as_str(), e.description);
        assert_eq!(e.error_type, ErrorType::InvalidMedia, "{what}");
        let _ = std::fs::remove_file(&path);
    }
    pipeline.release().unwrap();
    let _ = std::fs::remove_file(&aac);
    let _ = std::fs::remove_file(&faststart.path);
}
