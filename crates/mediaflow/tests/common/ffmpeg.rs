//! Debian's ffmpeg as the non-mediaflow RTP peer: started with bounded waits, killed by
//! its PID, and as a receiver of what an RtpEndpoint sends.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mediaflow::RtpEndpoint;

/// Makes the file `path` with Debian's ffmpeg: a test pattern of `size` at 30 frames/s
/// and a 440 Hz tone, `seconds` long, encoded with `codecs` (the video and audio
/// codecs and their options; the container follows the extension). Panics with
/// ffmpeg's message if it fails.
pub fn make_clip(path: &Path, size: &str, seconds: &str, codecs: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", &format!("testsrc=size={size}:rate=30")])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", seconds])
        .args(codecs)
        .arg(path)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An SDES key for ffmpeg's side (30 bytes, base64).
pub const FFMPEG_KEY: &str = "afReactzWRZgI5yOzhXSaNfi+khD4eLMUofc9spn";

pub fn available() -> bool {
    let found = Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: ffmpeg not found (apt-get install ffmpeg)");
    }
    found
}

/// An ffmpeg child, killed by its PID when dropped.
pub struct Ffmpeg(pub Child);

impl Ffmpeg {
    pub fn spawn(args: &[&str], log: &Path) -> Ffmpeg {
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-loglevel", "warning"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("ffmpeg starts");
        Ffmpeg(child)
    }

    /// Waits at most `wait` for it to exit by itself.
    pub fn wait(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mediaflow-rtp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An even UDP port whose successor was free a moment ago.
pub fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let a = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
        let port = a.local_addr().unwrap().port();
        if port.is_multiple_of(2) && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no free even/odd UDP port pair");
}

/// Some socket of this host is bound to UDP `port`.
pub fn udp_port_bound(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let needle = format!(":{port:04X} ");
    table.lines().skip(1).any(|l| {
        l.split_whitespace()
            .nth(1)
            .is_some_and(|local| format!("{local} ").ends_with(&needle))
    })
}

/// The port of `sdp`'s m=`media` line.
pub fn m_port(sdp: &str, media: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix(&format!("m={media} ")))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no m={media} port in {sdp}"))
}

/// ffmpeg receiving VP8 from an RtpEndpoint (our answer to its offer) into a framecrc
/// file, until it has `frames` decoded frames.
pub struct Receiver {
    /// Its scratch directory (SDP, log, frames).
    pub dir: PathBuf,
    ffmpeg: Ffmpeg,
    out: PathBuf,
}

impl Receiver {
    /// Offers ffmpeg's side to `rtp` (SDES-SRTP with `srtp`), starts ffmpeg, and
    /// returns once it listens.
    pub fn start(rtp: &RtpEndpoint, name: &str, srtp: bool, frames: usize) -> Receiver {
        let dir = scratch(name);
        // ffmpeg's side: it receives at this port; the same SDP is our offer and the
        // file ffmpeg reads.
        let port = free_port_pair();
        let (proto, crypto) = if srtp {
            (
                "RTP/SAVP",
                format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{FFMPEG_KEY}\r\n"),
            )
        } else {
            ("RTP/AVP", String::new())
        };
        let offer = format!(
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=ffmpeg\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=video {port} {proto} 96\r\na=rtpmap:96 VP8/90000\r\na=recvonly\r\n{crypto}"
        );
        let answer = rtp.process_offer(&offer).unwrap();
        assert!(answer.contains("a=sendonly"), "{answer}");
        // ffmpeg decrypts with the key we send with (our answer's), in its own dialect
        // (a=crypto under RTP/AVP, as its -sdp_file writes).
        let ffmpeg_sdp = match answer.split("inline:").nth(1) {
            Some(rest) if srtp => {
                let ours = rest.lines().next().unwrap_or("").trim();
                offer
                    .replace(FFMPEG_KEY, ours)
                    .replace("RTP/SAVP", "RTP/AVP")
            }
            _ => offer.clone(),
        };
        let sdp_file = dir.join("in.sdp");
        std::fs::write(&sdp_file, &ffmpeg_sdp).unwrap();
        let out = dir.join("frames.txt");
        let frames = frames.to_string();
        let ffmpeg = Ffmpeg::spawn(
            &[
                "-protocol_whitelist",
                "file,udp,rtp,srtp",
                "-i",
                sdp_file.to_str().unwrap(),
                "-frames:v",
                &frames,
                "-f",
                "framecrc",
                out.to_str().unwrap(),
            ],
            &dir.join("ffmpeg.log"),
        );
        // ffmpeg listens once its port shows in /proc/net/udp (binding it ourselves to
        // find out could take it from ffmpeg).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !udp_port_bound(port) {
            assert!(Instant::now() < deadline, "ffmpeg did not bind {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Receiver { dir, ffmpeg, out }
    }

    /// ffmpeg has exited (it had its frames, or failed).
    pub fn exited(&mut self) -> bool {
        self.ffmpeg.0.try_wait().ok().flatten().is_some()
    }

    /// Waits at most `wait` for ffmpeg to end by itself; whether it did with success,
    /// the frames it decoded, and its log. The scratch directory goes.
    pub fn finish(mut self, wait: Duration) -> (bool, usize, String) {
        let status = self.ffmpeg.wait(wait);
        let log = std::fs::read_to_string(self.dir.join("ffmpeg.log")).unwrap_or_default();
        let frames = std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count();
        let _ = std::fs::remove_dir_all(&self.dir);
        (status.is_some_and(|s| s.success()), frames, log)
    }
}
