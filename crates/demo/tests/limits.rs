//! Issue 10, item 7: one client cannot lock the demo. Its connections are capped per
//! address, WebSockets that start no call are closed when idle, and an oversized
//! message gets an error reply and close code 1009 instead of a silent drop.

mod support;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::Demo;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

type Ws = tungstenite::WebSocket<TcpStream>;

fn websocket(demo: &Demo) -> Result<Ws, String> {
    let tcp = TcpStream::connect(("127.0.0.1", demo.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tungstenite::client::client(demo.ws_url(), tcp)
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

/// Reads until the server's close frame (or the end); returns the close code and the
/// text messages before it.
fn until_close(ws: &mut Ws) -> (Option<CloseCode>, Vec<String>) {
    let mut texts = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => texts.push(t.to_string()),
            Ok(Message::Close(frame)) => return (frame.map(|f| f.code), texts),
            Ok(_) => {}
            Err(_) => return (None, texts),
        }
    }
}

#[test]
fn connections_are_capped_per_address_and_idle_ones_closed() {
    let demo = Demo::start_with(&["--max-connections-per-ip", "4", "--idle-timeout-secs", "1"]);
    let mut idle: Vec<Ws> = (0..4)
        .map(|_| websocket(&demo).expect("within the cap"))
        .collect();
    // A fifth from the same address is refused with 503 (the reply is plain HTTP).
    let mut fifth = TcpStream::connect(("127.0.0.1", demo.port)).unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reply = String::new();
    let _ = fifth.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply:?}");
    // None of them starts a call: closed after the idle timeout, with a policy code.
    let started = Instant::now();
    for ws in &mut idle {
        let (code, _) = until_close(ws);
        assert_eq!(code, Some(CloseCode::Policy));
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // Their slots are free again.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut ws = loop {
        match websocket(&demo) {
            Ok(ws) => break ws,
            Err(e) => {
                assert!(Instant::now() < deadline, "no slot freed: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    ws.send(Message::text(r#"{"id":"stop"}"#)).unwrap();
}

#[test]
fn an_oversized_message_gets_an_error_and_close_code_1009() {
    let demo = Demo::start();
    let mut ws = websocket(&demo).unwrap();
    let big = format!(
        r#"{{"id":"start","sdpOffer":"{}"}}"#,
        "x".repeat(300 * 1024)
    );
    ws.send(Message::text(big)).unwrap();
    let (code, texts) = until_close(&mut ws);
    assert_eq!(code, Some(CloseCode::Size), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t.contains("\"error\"") && t.contains("too large")),
        "{texts:?}"
    );
}
