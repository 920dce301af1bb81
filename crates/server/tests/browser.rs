//! Kurento's Hello World end to end: the unchanged npm kurento-client (in its own Node
//! process, tests/kurento-client/hello-world.mjs) drives mediaflow-server exactly as
//! Kurento's tutorial does, and headless Chromium is the browser that sees itself.
//!
//! Also kurento-client's protocol scenarios (tests/kurento-client/protocol.mjs).
//!
//! Runs under `MEDIAFLOW_BROWSER=1 tests/browser/netns-run.sh` (scripts/test.sh).

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{result, Server};

fn enabled() -> bool {
    if std::env::var("MEDIAFLOW_BROWSER").is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!("skipped: set MEDIAFLOW_BROWSER=1 and run under tests/browser/netns-run.sh");
    false
}

/// Runs a Node script with `args`, killed (by its PID) after `limit`; returns its last
/// JSON line and whether it exited with 0.
fn node(script: &str, args: &[&str], limit: Duration) -> (Value, bool) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut child = Command::new("node")
        .arg(root.join(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = reader.join().unwrap_or_default();
    let last = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("ok").is_some())
        .unwrap_or_else(|| panic!("no result line from {script}; output:\n{text}"));
    println!("{last}");
    (last, status.is_some_and(|s| s.success()))
}

#[test]
fn chromium_kurento_client_hello_world_loops_video_and_gets_every_event() {
    if !enabled() {
        return;
    }
    let server = Server::start(&[]);
    let (out, success) = node(
        "tests/kurento-client/hello-world.mjs",
        &[&server.url, "60"],
        Duration::from_secs(120),
    );
    assert!(out["frames"].as_u64().unwrap_or(0) >= 60, "{out}");
    assert_eq!(out["missing"], json!([]), "{out}");
    assert_eq!(out["afterRelease"], 40101, "{out}");
    ended_cleanly(&server, &out, success);
}

/// The script's end: no problem found, it exited well, and the application released its
/// pipelines, so nothing is left on the server.
fn ended_cleanly(server: &Server, out: &Value, success: bool) {
    assert_eq!(out["problems"], json!([]), "{out}");
    assert!(success && out["ok"] == true, "{out}");
    let mut c = server.client();
    let pipelines = c.invoke("manager_ServerManager", "getPipelines", json!({}));
    assert_eq!(result(&pipelines)["value"], json!([]));
}
/// Kurento's data-channel tutorial with the unchanged kurento-client: `useDataChannels`,
/// Chromium's two channels echoed by the loopback, DataChannelOpened/Closed with their
/// channelId, createDataChannel and closeDataChannel through the protocol.
#[test]
fn chromium_kurento_client_data_channels() {
    if !enabled() {
        return;
    }
    let server = Server::start(&[]);
    let (out, success) = node(
        "tests/kurento-client/data-channels.mjs",
        &[&server.url],
        Duration::from_secs(150),
    );
    assert_eq!(out["problems"], json!([]), "{out}");
    assert_eq!(out["data"]["orderedReceived"], 1000, "{out}");
    assert_eq!(out["data"]["inOrder"], true, "{out}");
    // Chromium's two channels, then the one the application created.
    assert_eq!(out["opened"].as_array().map(Vec::len), Some(3), "{out}");
    assert_eq!(out["closed"].as_array().map(Vec::len), Some(2), "{out}");
    assert_eq!(out["closeUnknown"], 40107, "{out}");
    assert!(success && out["ok"] == true, "{out}");
}

/// No browser here, but it needs the npm packages `scripts/ensure-browser.sh` installs,
/// so it runs in the same step: kurento-client's own protocol scenarios (ServerManager,
/// setName, implicit transactions, release cascade → 40101, the pipeline limit → 40009).
#[test]
fn kurento_client_protocol_scenarios() {
    if !enabled() {
        return;
    }
    let server = Server::start(&["--max-pipelines", "3"]);
    let (out, success) = node(
        "tests/kurento-client/protocol.mjs",
        &[&server.url, "3"],
        Duration::from_secs(90),
    );
    assert_eq!(out["problems"], json!([]), "{out}");
    assert_eq!(out["afterRelease"], 40101, "{out}");
    assert_eq!(out["limitCode"], 40009, "{out}");
    assert!(success && out["ok"] == true, "{out}");
}

/// Kurento's One-to-many tutorial with kurento-client (tests/kurento-client/one2many.mjs):
/// a presenter's sendonly Chromium and three recvonly Chromium viewers joining at once,
/// each viewer decoding the presenter's camera through the server.
#[test]
fn chromium_kurento_client_one_to_many_three_viewers_decode_the_presenter() {
    if !enabled() {
        return;
    }
    let server = Server::start(&[]);
    let (out, success) = node(
        "tests/kurento-client/one2many.mjs",
        &[&server.url, "3", "60"],
        Duration::from_secs(170),
    );
    let viewers = out["viewers"].as_array().cloned().unwrap_or_default();
    assert_eq!(viewers.len(), 3, "{out}");
    for v in &viewers {
        assert!(v["frames"].as_u64().unwrap_or(0) >= 60, "{v}");
    }
    assert_eq!(out["presenterSinks"], 3, "{out}");
    ended_cleanly(&server, &out, success);
}

/// No browser either (the npm packages of the browser step): kurento-client's own
/// reconnect over a real connection drop (tests/kurento-client/reconnect.mjs cuts the
/// TCP connections of a relay between the client and the server). Within the grace
/// period: `reconnected(true)`, the same objects and subscriptions; after it:
/// INVALID_SESSION, `reconnected(false)`, 40101 on the old objects.
#[test]
fn kurento_client_reconnects_to_its_session_after_a_connection_drop() {
    if !enabled() {
        return;
    }
    let server = Server::start(&["--session-grace-secs", "3"]);
    let (out, success) = node(
        "tests/kurento-client/reconnect.mjs",
        &[&server.url, "3"],
        Duration::from_secs(75),
    );
    assert_eq!(out["sameSession"], true, "{out}");
    assert_eq!(out["nameAfterReconnect"], "kept", "{out}");
    assert_eq!(out["sameSessionAfterGrace"], false, "{out}");
    assert_eq!(out["afterGrace"], 40101, "{out}");
    assert_eq!(out["problems"], json!([]), "{out}");
    assert!(success && out["ok"] == true, "{out}");
}

/// Kurento's Hello World with recording (tests/kurento-client/recorder.mjs): Chromium →
/// WebRtcEndpoint (looped to itself) → RecorderEndpoint (WEBM) for 5 s through the
/// unchanged kurento-client; after stopAndWait ffprobe reads a VP8 and an Opus track
/// lasting the recording's time within 0.5 s. An MP4 recorder is made, a JPEG one refused with 40006.
/// The call's video also crosses a pair of RtpEndpoints negotiated through the client.
#[test]
fn chromium_kurento_client_records_webm_through_a_recorder_endpoint() {
    if !enabled() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mf-server-recording-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let uri = format!("file://{}/hello-world.webm", dir.display());
    let server = Server::start(&[]);
    let (out, success) = node(
        "tests/kurento-client/recorder.mjs",
        &[&server.url, &uri, "5"],
        Duration::from_secs(120),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out["mp4Created"], true, "{out}");
    assert_eq!(out["unsupportedCode"], 40006, "{out}");
    assert_eq!(out["keyedCode"], 40006, "{out}");
    assert_eq!(
        out["rtp"]["videoOut"], true,
        "media crossed the RtpEndpoint pair: {out}"
    );
    let streams = out["probe"]["streams"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(streams.contains(&json!("video/vp8")), "{out}");
    assert!(streams.contains(&json!("audio/opus")), "{out}");
    assert!(out["durationError"].as_f64().unwrap_or(9.0) <= 0.5, "{out}");
    ended_cleanly(&server, &out, success);
}

/// Kurento's Player tutorial (tests/kurento-client/player.mjs): a PlayerEndpoint plays a
/// 6 s VP8 + Opus WebM of Debian's ffmpeg into a WebRtcEndpoint watched by a recvonly
/// Chromium through the unchanged kurento-client: the browser decodes the video, then
/// EndOfStream and UriEndpointStateChanged STOP; getVideoInfo, getPosition, getState;
/// an rtsp:// URI raises Error INVALID_URI after play().
#[test]
fn chromium_kurento_client_watches_a_file_through_a_player_endpoint() {
    if !enabled() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mf-server-player-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("clip.webm");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "6",
        ])
        .args([
            "-c:v",
            "libvpx",
            "-b:v",
            "300k",
            "-g",
            "30",
            "-deadline",
            "realtime",
        ])
        .args(["-c:a", "libopus"])
        .arg(&file)
        .status()
        .expect("ffmpeg (Debian's) makes the clip");
    assert!(made.success());
    let uri = format!("file://{}", file.display());
    let server = Server::start(&[]);
    let (out, success) = node(
        "tests/kurento-client/player.mjs",
        &[&server.url, &uri],
        Duration::from_secs(120),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out["frames"].as_u64().unwrap_or(0) >= 30, "{out}");
    assert_eq!(out["events"]["EndOfStream"], 1, "{out}");
    assert_eq!(out["badType"], "INVALID_URI", "{out}");
    assert_eq!(out["videoInfo"]["isSeekable"], true, "{out}");
    ended_cleanly(&server, &out, success);
}
