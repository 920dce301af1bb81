//! `--tls-cert/--tls-key`: the page over HTTPS and the signaling over WSS.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use support::Demo;
use tungstenite::Message;

fn tls_stream(
    port: u16,
    cert: &rustls::pki_types::CertificateDer<'static>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

#[test]
fn the_page_and_the_signaling_are_served_over_tls() {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (cert_path, key_path) = (dir.join("demo-cert.pem"), dir.join("demo-key.pem"));
    std::fs::write(&cert_path, key.cert.pem()).unwrap();
    std::fs::write(&key_path, key.signing_key.serialize_pem()).unwrap();
    let demo = Demo::start_with(&[
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ]);
    let cert = key.cert.der().clone();

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
