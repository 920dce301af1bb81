//! The demo page in headless Chromium, clicked like a person: Start, the remote video
//! plays (>= 60 decoded frames), the event log shows the ICE and media events, Stop,
//! and the server releases the pipeline. Then ten sessions in a row and two at once,
//! with the demo's threads and file descriptors back where they were.
//!
//! Runs under `MEDIAFLOW_BROWSER=1 tests/browser/netns-run.sh` (scripts/test.sh).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::Demo;

fn enabled() -> bool {
    if std::env::var("MEDIAFLOW_BROWSER").is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!("skipped: set MEDIAFLOW_BROWSER=1 and run under tests/browser/netns-run.sh");
    false
}

/// Runs the page driver; returns its per-session JSON lines.
fn drive(
    demo: &Demo,
    rounds: u32,
    parallel: u32,
    screenshot: Option<&PathBuf>,
) -> Vec<serde_json::Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = Command::new("node");
    cmd.arg(root.join("tests/browser/demo.mjs"))
        .arg(demo.url())
        .arg(rounds.to_string())
        .arg(parallel.to_string());
    if let Some(path) = screenshot {
        cmd.arg(path);
    }
    let out = cmd.output().expect("node runs");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for l in &lines {
        println!("{l}");
    }
    assert!(
        out.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines.len() as u32, rounds * parallel);
    lines
}

#[test]
fn chromium_clicks_start_sees_itself_and_stop_releases() {
    if !enabled() {
        return;
    }
    let demo = Demo::start();
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("demo-screenshot.png");
    let first = drive(&demo, 1, 1, Some(&shot));
    assert!(first[0]["frames"].as_u64().unwrap() >= 60);
    assert!(shot.exists());
    let s = demo.wait_stats(Duration::from_secs(5), |s| s["pipelines"] == 0);
    assert_eq!(
        (s["pipelines"].as_u64(), s["pipelinesReleased"].as_u64()),
        (Some(0), Some(1)),
        "{s}"
    );

    // Baseline after one full session (lazily created resources exist by now).
    std::thread::sleep(Duration::from_millis(300));
    let (threads, fds) = (demo.threads(), demo.fds());
    drive(&demo, 10, 1, None);
    drive(&demo, 1, 2, None);
    let s = demo.wait_stats(Duration::from_secs(5), |s| {
        s["pipelines"] == 0 && s["sessions"] == 0
    });
    assert_eq!(s["pipelinesCreated"], 13, "{s}");
    assert_eq!(s["pipelines"], 0, "{s}");
    std::thread::sleep(Duration::from_millis(300));
    println!(
        "demo threads {threads} -> {}, fds {fds} -> {}",
        demo.threads(),
        demo.fds()
    );
    assert!(
        demo.threads() <= threads,
        "threads grew: {threads} -> {}",
        demo.threads()
    );
    assert!(demo.fds() <= fds, "fds grew: {fds} -> {}", demo.fds());
}
