// Each test binary uses a part of these helpers.
#![allow(dead_code)]

//! Starts the demo binary on a free port and talks to it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::Duration;

/// The running demo; killed on drop.
pub struct Demo {
    pub child: Child,
    pub port: u16,
}

impl Demo {
    pub fn start() -> Demo {
        Demo::start_with(&[])
    }

    /// Starts the demo with extra command-line arguments.
    pub fn start_with(extra: &[&str]) -> Demo {
        let mut args = vec!["--port", "0", "--bind", "127.0.0.1"];
        args.extend_from_slice(extra);
        let (child, line) =
            mediaflow_testkit::spawn_with_banner(env!("CARGO_BIN_EXE_mediaflow-demo"), &args);
        // "mediaflow Hello World demo: open http://localhost:PORT/ (Ctrl-C to stop)"
        let port = line
            .split("localhost:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no URL in the startup line {line:?}"));
        Demo { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://localhost:{}/", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/helloworld", self.port)
    }

    /// A plain HTTP GET; returns (status line, body).
    pub fn get(&self, path: &str) -> (String, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        (
            head.lines().next().unwrap_or("").to_string(),
            body.to_string(),
        )
    }

    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/stats").1).expect("JSON stats")
    }

    fn proc_status(&self, field: &str) -> usize {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(field))
                    .and_then(|n| n.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    pub fn threads(&self) -> usize {
        self.proc_status("Threads:")
    }

    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count())
    }

    /// Sends SIGINT (Ctrl-C) and waits, at most `timeout`, for the exit status.
    pub fn interrupt(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits until `pred(stats)` holds, at most `timeout`.
    pub fn wait_stats(
        &self,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let s = self.stats();
            if pred(&s) || std::time::Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
