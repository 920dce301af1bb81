//! The Kurento Protocol over a real WebSocket, as raw JSON-RPC: transactions with
//! `newref:`, release cascades, calls on released objects, reconnecting to a session,
//! INVALID_SESSION, JSON-RPC errors, the duplicate-request cache, limits and oversized
//! messages.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{error_code, result, Server};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

const MANAGER: &str = "manager_ServerManager";

#[test]
fn transactions_create_with_newrefs_and_release_cascades() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let tx = c.call(
        "transaction",
        json!({"operations": [
            {"jsonrpc": "2.0", "id": 0, "method": "create", "params": {"type": "kurento.MediaPipeline"}},
            {"jsonrpc": "2.0", "id": 1, "method": "create", "params": {"type": "WebRtcEndpoint",
                "constructorParams": {"mediaPipeline": "newref:0"}, "properties": {}}},
            {"jsonrpc": "2.0", "id": 2, "method": "create", "params": {"type": "PassThrough",
                "constructorParams": {"mediaPipeline": "newref:0"}}},
            {"jsonrpc": "2.0", "id": 3, "method": "invoke", "params": {"object": "newref:2",
                "operation": "connect", "operationParams": {"sink": "newref:1"}}},
        ]}),
    );
    let ops = result(&tx)["value"].as_array().unwrap().clone();
    assert_eq!(ops.len(), 4, "{tx}");
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(op["id"], i, "{op}");
        assert!(op.get("error").is_none(), "{op}");
    }
    let pipeline = ops[0]["result"]["value"].as_str().unwrap().to_owned();
    let endpoint = ops[1]["result"]["value"].as_str().unwrap().to_owned();
    let pass = ops[2]["result"]["value"].as_str().unwrap().to_owned();
    assert!(pipeline.ends_with("_kurento.MediaPipeline"));
    assert!(endpoint.starts_with(&format!("{pipeline}/")));
    assert!(endpoint.ends_with("_kurento.WebRtcEndpoint"));
    let sinks = c.invoke(&pass, "getSinkConnections", json!({}));
    assert_eq!(result(&sinks)["value"].as_array().unwrap().len(), 3);

    let pipelines = c.invoke(MANAGER, "getPipelines", json!({}));
    assert_eq!(result(&pipelines)["value"], json!([pipeline]));
    result(&c.call("release", json!({"object": pipeline})));
    for gone in [&pipeline, &endpoint, &pass] {
        let r = c.invoke(gone, "getName", json!({}));
        assert_eq!(error_code(&r), 40101, "{r}");
        assert_eq!(r["error"]["data"]["type"], "MEDIA_OBJECT_NOT_FOUND");
    }
    let r = c.invoke(&endpoint, "processOffer", json!({"offer": "v=0"}));
    assert_eq!(error_code(&r), 40101);
    let pipelines = c.invoke(MANAGER, "getPipelines", json!({}));
    assert_eq!(result(&pipelines)["value"], json!([]));
}

#[test]
fn a_session_survives_a_reconnect_and_unknown_sessions_are_invalid() {
    let server = Server::start(&["--session-grace-secs", "2"]);
    let mut first = server.client();
    let created = first.call("create", json!({"type": "MediaPipeline"}));
    let session = result(&created)["sessionId"].as_str().unwrap().to_owned();
    let pipeline = result(&created)["value"].as_str().unwrap().to_owned();
    drop(first);

    let mut second = server.client();
    let r = second.call("connect", json!({"sessionId": session}));
    assert_eq!(result(&r)["sessionId"], session.as_str());
    assert!(result(&r)["serverId"].is_string());
    let name = second.invoke(&pipeline, "getName", json!({}));
    assert_eq!(result(&name)["value"], pipeline.as_str());
    assert_eq!(result(&name)["sessionId"], session.as_str());

    let mut third = server.client();
    let r = third.call("connect", json!({"sessionId": "no-such-session"}));
    assert_eq!(error_code(&r), 40007, "{r}");
    assert_eq!(r["error"]["data"]["type"], "INVALID_SESSION");

    // Gone for longer than the grace period: the session and its pipeline are released.
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sessions = third.invoke(MANAGER, "getSessions", json!({}));
        let alive = result(&sessions)["value"].as_array().unwrap().clone();
        if !alive.contains(&json!(session)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the session outlived its grace period"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = third.call("connect", json!({"sessionId": session}));
    assert_eq!(error_code(&r), 40007, "{r}");
    let pipelines = third.invoke(MANAGER, "getPipelines", json!({}));
    assert_eq!(result(&pipelines)["value"], json!([]));
}

#[test]
fn json_rpc_errors_and_the_duplicate_request_cache() {
    let server = Server::start(&["--max-pipelines", "2"]);
    let mut c = server.client();
    c.send_text("{this is not json");
    let r = c.response();
    assert_eq!((error_code(&r), r["id"].clone()), (-32700, Value::Null));
    c.send_text(r#"{"jsonrpc":"1","id":11,"method":"ping"}"#);
    let r = c.response();
    assert_eq!((error_code(&r), r["id"].clone()), (-32600, json!(11)));
    assert_eq!(error_code(&c.call("fly", json!({}))), -32601);
    assert_eq!(
        error_code(&c.call("invoke", json!({"object": MANAGER}))),
        -32602
    );
    assert_eq!(
        error_code(&c.call("create", json!({"type": "Teleporter"}))),
        40100
    );
    assert_eq!(
        error_code(&c.invoke(MANAGER, "selfDestruct", json!({}))),
        40105
    );

    // The same id twice: the second gets the first's response, nothing is created again.
    let first = c.call_with_id(json!(500), "create", json!({"type": "MediaPipeline"}));
    let session = result(&first)["sessionId"].as_str().unwrap().to_owned();
    let again = c.call_with_id(
        json!(500),
        "create",
        json!({"type": "MediaPipeline", "sessionId": session}),
    );
    assert_eq!(first, again);
    let pipelines = c.invoke(MANAGER, "getPipelines", json!({}));
    assert_eq!(result(&pipelines)["value"].as_array().unwrap().len(), 1);
    // The same id with another request is not a retry: it runs.
    let other = c.call_with_id(json!(500), "ping", json!({}));
    assert_eq!(result(&other)["value"], "pong");

    result(&c.call("create", json!({"type": "MediaPipeline"})));
    let over = c.call("create", json!({"type": "MediaPipeline"}));
    assert_eq!(error_code(&over), 40009, "{over}");
    let pong = c.call("ping", json!({"interval": 5000}));
    assert_eq!(result(&pong)["value"], "pong");
}

#[test]
fn oversized_messages_get_an_error_and_the_server_keeps_serving() {
    let server = Server::start(&["--max-message-bytes", "4096"]);
    let mut c = server.client();
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "ping",
        "params": {"pad": "x".repeat(10_000)}});
    c.send_text(&big.to_string());
    let mut error = None;
    let mut close = None;
    while close.is_none() {
        match c.ws.read() {
            Ok(Message::Text(t)) => {
                error = Some(serde_json::from_str::<Value>(t.as_str()).unwrap())
            }
            Ok(Message::Close(f)) => close = Some(f.map(|f| f.code)),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
    assert_eq!(error_code(&error.expect("an error reply")), -32600);
    assert_eq!(close, Some(Some(CloseCode::Size)));
    let mut next = server.client();
    assert_eq!(result(&next.call("ping", json!({})))["value"], "pong");
}

#[test]
fn tls_serves_wss_and_a_bad_key_is_a_startup_error() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (cert_path, key_path, cert) = mediaflow_testkit::localhost_certificate(&dir, "server");
    let (cert_arg, key_arg) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let server = Server::start(&["--tls-cert", cert_arg, "--tls-key", key_arg]);
    assert!(server.url.starts_with("wss://"), "{}", server.url);
    let stream = mediaflow_testkit::tls_stream(server.port, &cert);
    let url = format!("wss://localhost:{}/kurento", server.port);
    let (mut ws, _) = tungstenite::client::client(url, stream).expect("WSS upgrade");
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"interval": 5000}});
    ws.send(Message::text(ping.to_string())).unwrap();
    let reply: Value = serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(result(&reply)["value"], "pong");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mediaflow-server"))
        .args([
            "--port",
            "0",
            "--tls-cert",
            cert_arg,
            "--tls-key",
            "/nonexistent.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonexistent"));
}

#[test]
fn ctrl_c_releases_everything_and_exits_cleanly() {
    let mut server = Server::start(&[]);
    let mut c = server.client();
    let created = c.call("create", json!({"type": "MediaPipeline"}));
    let pipeline = result(&created)["value"].as_str().unwrap().to_owned();
    result(&c.call(
        "create",
        json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": pipeline}}),
    ));
    let pid = server.child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit within 15 s of SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn concurrent_clients_create_use_and_release_without_interference() {
    let server = Server::start(&[]);
    let started = Instant::now();
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let mut c = server.client();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let (p, e) = c.pipeline_with_endpoint();
                    result(&c.invoke(&e, "connect", json!({"sink": e})));
                    let offer = c.invoke(&e, "generateOffer", json!({}));
                    assert!(result(&offer)["value"].as_str().unwrap().starts_with("v=0"));
                    result(&c.call("release", json!({"object": p})));
                    assert_eq!(error_code(&c.invoke(&e, "getName", json!({}))), 40101);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a client thread");
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    let mut c = server.client();
    let pipelines = c.invoke(MANAGER, "getPipelines", json!({}));
    assert_eq!(result(&pipelines)["value"], json!([]));
}

#[test]
fn the_playout_delay_flag_reaches_the_endpoints() {
    // A WebRtcEndpoint offers libwebrtc's playout-delay extension on video unless the
    // server was told never to ask for a playout delay.
    const PLAYOUT_DELAY: &str = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";
    for (flags, offered) in [
        (&[][..], true),
        (&["--max-playout-delay-ms", "0"][..], false),
    ] {
        let server = Server::start(flags);
        let mut c = server.client();
        let (p, e) = c.pipeline_with_endpoint();
        let offer = c.invoke(&e, "generateOffer", json!({}));
        let offer = result(&offer)["value"].as_str().unwrap().to_owned();
        assert_eq!(offer.contains(PLAYOUT_DELAY), offered, "{flags:?}: {offer}");
        result(&c.call("release", json!({"object": p})));
    }
}
