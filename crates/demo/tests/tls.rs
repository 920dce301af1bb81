//! `--tls-cert/--tls-key`: the page over HTTPS and the signaling over WSS.

mod support;

use std::io::{Read, Write};

use mediaflow_testkit::{localhost_certificate, tls_stream};
use support::Demo;
use tungstenite::Message;

#[test]
fn the_page_and_the_signaling_are_served_over_tls() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (cert_path, key_path, cert) = localhost_certificate(&dir, "demo");
    let demo = Demo::start_with(&[
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ]);

    let mut https = tls_stream(demo.port, &cert);
    write!(https, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut page = String::new();
    let _ = https.read_to_string(&mut page);
    assert!(page.starts_with("HTTP/1.1 200"), "{page:.200}");
    assert!(page.contains("Hello World"));

    let wss = tls_stream(demo.port, &cert);
    let (mut ws, _) =
        tungstenite::client::client(format!("wss://localhost:{}/helloworld", demo.port), wss)
            .expect("WSS upgrade");
    ws.send(Message::text(r#"{"id":"hello"}"#)).unwrap();
    let reply = ws.read().unwrap();
    assert!(
        reply
            .to_text()
            .unwrap()
            .contains("Invalid message, ID: hello"),
        "{reply}"
    );

    // A missing key file is a clear startup error, not a panic.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_mediaflow-demo"))
        .args([
            "--port",
            "0",
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            "/nonexistent.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&status.stderr).contains("nonexistent"));
}
