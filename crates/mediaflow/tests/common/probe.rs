//! Debian's `ffprobe` on a media file: what the recorder and player tests check files with.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// `ffprobe -count_packets -show_streams -show_format` as JSON; panics with its stderr
/// if it fails.
pub fn ffprobe(path: &Path) -> Value {
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

/// (codec_type, codec_name, packets) per stream, and the format's duration in seconds.
pub fn summary(probe: &Value) -> (Vec<(String, String, u64)>, Option<f64>) {
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
