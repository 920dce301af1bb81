//! The demo's WebSocket signaling, end to end against the real binary, with a mediaflow
//! WebRtcEndpoint playing the browser: the full tutorial exchange, media looped back,
//! release on `stop` and on disconnect, and bad input answered with `error`.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mediaflow::{AppSink, AppSource, IceCandidate, MediaPipeline, MediaType, WebRtcEndpoint};
use mediaflow_testkit::{stun_server, vp8, Coturn};
use serde_json::{json, Value};
use support::Demo;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

fn connect(demo: &Demo) -> Ws {
    let (ws, _) = tungstenite::connect(demo.ws_url()).expect("WebSocket upgrade");
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    }
    ws
}

fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

/// The next message that is not a log `event`, or None within `timeout`.
fn recv(ws: &mut Ws, timeout: Duration) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match ws.read() {
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["id"] != "event" {
                    return Some(v);
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("WebSocket error: {e}"),
        }
    }
    None
}

fn expect_error(ws: &mut Ws, contains: &str) {
    let m = recv(ws, Duration::from_secs(5)).expect("an answer");
    assert_eq!(m["id"], "error", "{m}");
    let text = m["message"].as_str().unwrap();
    assert!(text.contains(contains), "{text:?} lacks {contains:?}");
}

/// Runs the tutorial's exchange with an engine-side "browser" until its video comes
/// back looped through the demo. Returns the client pipeline (release it after).
fn call(demo: &Demo, ws: &mut Ws) -> MediaPipeline {
    let pipeline = MediaPipeline::new().unwrap();
    let browser = WebRtcEndpoint::builder(&pipeline)
        .network_interfaces(["lo"])
        .build()
        .unwrap();
    let camera = AppSource::new(&pipeline).unwrap();
    let screen = AppSink::with_capacity(&pipeline, 10_000).unwrap();
    camera.connect_media(&browser, MediaType::Video).unwrap();
    browser.connect_media(&screen, MediaType::Video).unwrap();
    let candidates = browser.events().unwrap();

    send(
        ws,
        json!({"id": "start", "sdpOffer": browser.generate_offer().unwrap()}),
    );
    let response = recv(ws, Duration::from_secs(10)).expect("startResponse");
    assert_eq!(response["id"], "startResponse", "{response}");
    browser
        .process_answer(response["sdpAnswer"].as_str().unwrap())
        .unwrap();
    browser.gather_candidates().unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seq = 0u16;
    let mut looped = 0;
    while looped < 20 {
        assert!(
            Instant::now() < deadline,
            "no looped media; stats {}",
            demo.stats()
        );
        for e in candidates.try_iter() {
            if let mediaflow::Event::IceCandidateFound(c) = e {
                send(
                    ws,
                    json!({"id": "onIceCandidate", "candidate": {
                    "candidate": c.candidate.candidate, "sdpMid": c.candidate.sdp_mid,
                    "sdpMLineIndex": c.candidate.sdp_m_line_index}}),
                );
            }
        }
        if let Some(m) = recv(ws, Duration::from_millis(20)) {
            assert_eq!(m["id"], "iceCandidate", "{m}");
            let c = &m["candidate"];
            browser
                .add_ice_candidate(IceCandidate {
                    candidate: c["candidate"].as_str().unwrap().into(),
                    sdp_mid: c["sdpMid"].as_str().unwrap().into(),
                    sdp_m_line_index: c["sdpMLineIndex"].as_u64().unwrap() as u32,
                })
                .unwrap();
        }
        camera.push(vp8(seq)).unwrap();
        seq = seq.wrapping_add(1);
        while screen.try_recv().is_some() {
            looped += 1;
        }
    }
    pipeline
}

#[test]
fn the_tutorial_exchange_loops_media_and_releases_on_stop_and_on_disconnect() {
    let demo = Demo::start();
    let (status, body) = demo.get("/");
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("<video id=\"videoOutput\"") && body.contains("/helloworld"));
    assert!(demo.get("/nope").0.contains("404"));

    let mut ws = connect(&demo);
    let client = call(&demo, &mut ws);
    assert_eq!(demo.stats()["pipelines"], 1);
    send(&mut ws, json!({"id": "stop"}));
    let s = demo.wait_stats(Duration::from_secs(5), |s| s["pipelines"] == 0);
    assert_eq!(s["pipelines"], 0, "{s}");
    client.release().unwrap();

    // Start again on the same socket, then just close it: released too.
    let client = call(&demo, &mut ws);
    drop(ws);
    let s = demo.wait_stats(Duration::from_secs(5), |s| {
        s["pipelines"] == 0 && s["sessions"] == 0
    });
    assert_eq!(
        (s["pipelines"].as_u64(), s["sessions"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
    assert_eq!(s["pipelinesCreated"], 2);
    client.release().unwrap();
}

#[test]
fn bad_input_gets_an_error_and_the_server_keeps_serving() {
    let demo = Demo::start();
    let mut bad = connect(&demo);
    send(&mut bad, json!("just a string"));
    expect_error(&mut bad, "no `id`");
    bad.send(Message::text("{not json")).unwrap();
    expect_error(&mut bad, "not JSON");
    bad.send(Message::binary(vec![1, 2, 3])).unwrap();
    expect_error(&mut bad, "not JSON");
    send(&mut bad, json!({"id": "start"}));
    expect_error(&mut bad, "sdpOffer");
    send(&mut bad, json!({"id": "dance"}));
    expect_error(&mut bad, "Invalid message, ID: dance");
    for _ in 0..200 {
        send(
            &mut bad,
            json!({"id": "onIceCandidate", "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}}),
        );
    }
    for _ in 0..200 {
        expect_error(&mut bad, "send `start`");
    }
    send(
        &mut bad,
        json!({"id": "start", "sdpOffer": "v=0\r\nthis is not an offer"}),
    );
    expect_error(&mut bad, "Error processing the offer");
    let s = demo.wait_stats(Duration::from_secs(5), |s| s["pipelines"] == 0);
    assert_eq!(s["pipelines"], 0, "a failed start leaves no pipeline: {s}");

    // Another client is served normally meanwhile, and garbage candidates during its
    // call get errors without breaking it.
    let mut good = connect(&demo);
    let client = call(&demo, &mut good);
    send(
        &mut good,
        json!({"id": "onIceCandidate", "candidate": {"candidate": "candidate:garbage"}}),
    );
    expect_error(&mut good, "Invalid candidate");
    send(&mut good, json!({"id": "onIceCandidate"}));
    expect_error(&mut good, "needs a `candidate`");
    send(&mut good, json!({"id": "stop"}));
    client.release().unwrap();
    // And the bad client's socket still works.
    send(&mut bad, json!({"id": "stop"}));
    send(&mut bad, json!({"id": "what"}));
    expect_error(&mut bad, "Invalid message, ID: what");
}

#[test]
fn stun_and_turn_flags_reach_the_endpoints() {
    let stun = stun_server();
    let turn = Coturn::start();
    let demo = Demo::start_with(&[
        "--stun-address",
        &stun.ip().to_string(),
        "--stun-port",
        &stun.port().to_string(),
        "--turn-url",
        &turn.url(),
    ]);
    let pipeline = MediaPipeline::new().unwrap();
    let browser = WebRtcEndpoint::new(&pipeline).unwrap();
    let mut ws = connect(&demo);
    send(
        &mut ws,
        json!({"id": "start", "sdpOffer": browser.generate_offer().unwrap()}),
    );
    let mut kinds = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while kinds.len() < 3 && Instant::now() < deadline {
        let Some(m) = recv(&mut ws, Duration::from_millis(200)) else {
            continue;
        };
        if m["id"] == "iceCandidate" {
            let line = m["candidate"]["candidate"].as_str().unwrap().to_owned();
            for kind in ["typ host", "typ srflx", "typ relay"] {
                if line.contains(kind) {
                    kinds.insert(kind);
                }
            }
        }
    }
    assert_eq!(kinds.len(), 3, "candidate types seen: {kinds:?}");
    send(&mut ws, json!({"id": "stop"}));
    pipeline.release().unwrap();
}

/// libwebrtc's playout-delay RTP header extension, as named in SDP.
const PLAYOUT_DELAY: &str = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";

#[test]
fn the_playout_delay_flag_reaches_the_endpoints() {
    // An engine offers the extension on video, as Chromium does; the demo's endpoint
    // answers it unless told never to ask for a playout delay.
    for (flags, answered) in [
        (&[][..], true),
        (&["--max-playout-delay-ms", "300"][..], true),
        (&["--max-playout-delay-ms", "0"][..], false),
    ] {
        let demo = Demo::start_with(flags);
        let pipeline = MediaPipeline::new().unwrap();
        let browser = WebRtcEndpoint::new(&pipeline).unwrap();
        let offer = browser.generate_offer().unwrap();
        assert!(offer.contains(PLAYOUT_DELAY), "{offer}");
        let mut ws = connect(&demo);
        send(&mut ws, json!({"id": "start", "sdpOffer": offer}));
        let response = recv(&mut ws, Duration::from_secs(10)).expect("startResponse");
        let answer = response["sdpAnswer"].as_str().expect("an answer");
        assert_eq!(
            answer.contains(PLAYOUT_DELAY),
            answered,
            "{flags:?}: {answer}"
        );
        send(&mut ws, json!({"id": "stop"}));
        pipeline.release().unwrap();
    }
}

#[test]
fn ctrl_c_releases_the_calls_and_exits_cleanly() {
    let mut demo = Demo::start();
    let mut ws = connect(&demo);
    let client = call(&demo, &mut ws);
    assert_eq!(demo.stats()["pipelines"], 1);
    let status = demo
        .interrupt(Duration::from_secs(10))
        .expect("the demo exits within 10 s of Ctrl-C");
    assert!(status.success(), "{status:?}");
    // The server closed the WebSocket on its way out.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "the socket stayed open");
        match ws.read() {
            Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed) => break,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
            Ok(_) => {}
        }
    }
    client.release().unwrap();
}

/// A TCP connection to the demo from `from` (any address of 127/8 is this host's).
fn tcp_from(demo: &Demo, from: Ipv4Addr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], demo.port)).into())
        .unwrap();
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tcp
}

/// Issue 10: 200 idle WebSockets (from seven addresses, each under the per-address cap
/// of 32) and a slowloris (request heads a byte at a time, from an eighth) while a
/// normal client makes a call: its media loops as usual. Then the idle sockets are
/// closed at the idle timeout, the slow heads at the head deadline, and the demo's
/// threads and descriptors go back to where they were.
#[test]
fn a_call_works_beside_200_idle_websockets_and_a_slowloris() {
    let demo = Demo::start_with(&["--idle-timeout-secs", "10"]);
    // A first call starts the engine's runtime (its threads stay): the baseline is after.
    let mut ws = connect(&demo);
    call(&demo, &mut ws).release().unwrap();
    send(&mut ws, json!({"id": "stop"}));
    drop(ws);
    demo.wait_stats(Duration::from_secs(10), |s| s["sessions"] == 0);
    let (threads, fds) = (demo.threads(), demo.fds());
    let idle: Vec<_> = (0..200u8)
        .map(|i| {
            let tcp = tcp_from(&demo, Ipv4Addr::new(127, 0, 0, 2 + i / 32));
            tungstenite::client::client(demo.ws_url(), tcp)
                .expect("an idle WebSocket within the caps")
                .0
        })
        .collect();
    let slow: Vec<TcpStream> = (0..20)
        .map(|_| tcp_from(&demo, Ipv4Addr::new(127, 0, 0, 20)))
        .collect();
    let dribble = std::thread::spawn(move || {
        // One byte of "GET / HTTP/1.1\r\nX: ..." per connection every 200 ms; returns
        // how long each took to be cut off (a write fails or the 400 reply arrives).
        let started = Instant::now();
        let mut cut = vec![None; slow.len()];
        let head = b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        for &byte in head.iter().cycle().take(100) {
            for (s, cut) in slow.iter().zip(cut.iter_mut()) {
                if cut.is_none() && (&*s).write_all(&[byte]).is_err() {
                    *cut = Some(started.elapsed());
                }
            }
            if cut.iter().all(Option::is_some) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        for (s, cut) in slow.iter().zip(cut.iter_mut()) {
            let mut reply = String::new();
            let _ = (&*s).read_to_string(&mut reply);
            cut.get_or_insert_with(|| started.elapsed());
            assert!(
                reply.is_empty() || reply.starts_with("HTTP/1.1 400"),
                "{reply:?}"
            );
        }
        cut
    });

    let mut ws = connect(&demo);
    let call_started = Instant::now();
    let pipeline = call(&demo, &mut ws);
    println!(
        "looped media {:.0} ms after the offer, beside 200 idle WebSockets and 20 slow heads",
        call_started.elapsed().as_secs_f64() * 1000.0
    );
    pipeline.release().unwrap();
    send(&mut ws, json!({"id": "stop"}));
    drop(ws);

    let cut = dribble.join().expect("the slowloris thread");
    let slowest = cut.iter().flatten().max().copied().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(12),
        "slow heads held {slowest:?}"
    );
    let idle_started = Instant::now();
    for mut ws in idle {
        loop {
            match ws.read() {
                Ok(tungstenite::Message::Close(frame)) => {
                    let code = frame.map(|f| f.code);
                    assert_eq!(
                        code,
                        Some(tungstenite::protocol::frame::coding::CloseCode::Policy)
                    );
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("an idle WebSocket ended without a close frame: {e}"),
            }
        }
    }
    println!(
        "slow heads cut after at most {slowest:?}; idle WebSockets closed {:?} after the call",
        idle_started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while (demo.threads() > threads || demo.fds() > fds) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        demo.threads() <= threads && demo.fds() <= fds,
        "threads {} (were {threads}), fds {} (were {fds})",
        demo.threads(),
        demo.fds()
    );
}
