// Each test binary uses a part of these helpers.
#![allow(dead_code)]

//! Starts the mediaflow-server binary on a free port and speaks raw JSON-RPC to it.

use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::Message;

/// The running server; killed (by its PID) on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub port: u16,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        let mut args = vec!["--port", "0", "--bind", "127.0.0.1", "--interfaces", "lo"];
        args.extend_from_slice(extra);
        let (child, line) =
            mediaflow_testkit::spawn_with_banner(env!("CARGO_BIN_EXE_mediaflow-server"), &args);
        // "mediaflow-server: Kurento Protocol at ws://127.0.0.1:PORT/kurento (Ctrl-C to stop)"
        let url = line
            .split(" at ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no URL in the startup line {line:?}"))
            .to_owned();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {url:?}"));
        Server { child, url, port }
    }

    pub fn client(&self) -> Client {
        Client::connect(self)
    }

    fn proc_status(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(field))
                    .and_then(|n| n.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// The server process's threads now.
    pub fn threads(&self) -> u64 {
        self.proc_status("Threads:")
    }

    /// The server process's open file descriptors now.
    pub fn fds(&self) -> u64 {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count() as u64)
    }

    /// The server process's resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.proc_status("VmRSS:")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw JSON-RPC client over a WebSocket.
pub struct Client {
    pub ws: tungstenite::WebSocket<TcpStream>,
    next_id: u64,
    /// Notifications received while waiting for responses.
    pub notifications: Vec<Value>,
}

impl Client {
    pub fn connect(server: &Server) -> Client {
        let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (ws, _) = tungstenite::client::client(server.url.as_str(), tcp).expect("handshake");
        Client {
            ws,
            next_id: 1,
            notifications: Vec::new(),
        }
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send");
    }

    /// The next message that is not a notification (bounded by the read timeout).
    pub fn response(&mut self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            match self.ws.read().expect("a message") {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
                    if v.get("method").is_some() {
                        self.notifications.push(v);
                    } else {
                        return v;
                    }
                }
                Message::Close(f) => panic!("closed by the server: {f:?}"),
                _ => {}
            }
        }
        panic!("no response within 15 s");
    }

    /// Sends a request with a fresh id; returns its response.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.call_with_id(json!(id), method, params)
    }

    pub fn call_with_id(&mut self, id: Value, method: &str, params: Value) -> Value {
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_text(&req.to_string());
        let r = self.response();
        assert_eq!(r["id"], id, "{r}");
        r
    }

    pub fn invoke(&mut self, object: &str, operation: &str, args: Value) -> Value {
        self.call(
            "invoke",
            json!({"object": object, "operation": operation, "operationParams": args}),
        )
    }

    /// Creates a MediaPipeline and a WebRtcEndpoint in it: their ids.
    pub fn pipeline_with_endpoint(&mut self) -> (String, String) {
        let p = self.call("create", json!({"type": "MediaPipeline"}));
        let pipeline = result(&p)["value"].as_str().unwrap().to_owned();
        let e = self.call(
            "create",
            json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": pipeline}}),
        );
        let endpoint = result(&e)["value"].as_str().unwrap().to_owned();
        (pipeline, endpoint)
    }
}

pub fn result(r: &Value) -> &Value {
    assert!(r.get("error").is_none(), "unexpected error: {r}");
    &r["result"]
}

pub fn error_code(r: &Value) -> i64 {
    r["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error in {r}"))
}
