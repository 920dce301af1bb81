//! WebRtcEndpoints over real UDP on 127.0.0.1 with real DTLS-SRTP: one offers, one
//! answers, candidates trickle through event handlers, media flows, and the events come
//! in the order of Kurento's "Sample sequence".

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mediaflow::{
    AppSink, AppSource, ConnectionState, Error, Event, IceCandidate, IceComponentState,
    MediaFlowState, MediaPipeline, MediaState, MediaType, WebRtcEndpoint,
};
use mediaflow_testkit::{fd_count, thread_count};
use mediaflow_testkit::{stun_server, Coturn};

mod common;

use common::{endpoint, pump_video, trickle};

const WAIT: Duration = Duration::from_secs(15);

fn collect_until(
    events: &Receiver<Event>,
    what: &str,
    done: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while !done(&seen) {
        match events.recv_deadline(deadline) {
            Ok(e) => seen.push(e),
            Err(_) => panic!("timed out waiting for {what}; saw {seen:#?}"),
        }
    }
    seen
}

fn is_media_connected(e: &Event) -> bool {
    matches!(e, Event::MediaStateChanged(m) if m.new_state == MediaState::Connected)
}

#[test]
fn offer_answer_trickle_and_media_over_udp_in_the_seed_order() {
    let pipeline = MediaPipeline::new().unwrap();
    let offerer = endpoint(&pipeline);
    let answerer = endpoint(&pipeline);
    let source = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::with_capacity(&pipeline, 10_000).unwrap();
    source.connect_media(&offerer, MediaType::Video).unwrap();
    answerer.connect_media(&sink, MediaType::Video).unwrap();
    let events = answerer.events().unwrap();
    trickle(&offerer, &answerer);

    let offer = offerer.generate_offer().unwrap();
    let answer = answerer.process_offer(&offer).unwrap();
    assert!(answer.contains("a=setup:active") && !answer.contains("a=candidate"));
    offerer.process_answer(&answer).unwrap();
    assert_eq!(
        answerer.get_remote_session_descriptor().unwrap().as_deref(),
        Some(offer.as_str())
    );
    assert!(offerer.get_local_session_descriptor().unwrap().is_some());
    answerer.gather_candidates().unwrap();
    offerer.gather_candidates().unwrap();

    // Push video until it comes out of the answerer, checking what arrives.
    let mut seq = 0u16;
    pump_video(&source, &sink, &mut seq, 30, WAIT, || {
        "media did not flow".into()
    });
    let seen = collect_until(&events, "MediaStateChanged(Connected)", |s| {
        s.iter().any(is_media_connected)
    });
    let pos = |what: &str, p: &dyn Fn(&Event) -> bool| {
        seen.iter()
            .position(p)
            .unwrap_or_else(|| panic!("no {what} in {seen:#?}"))
    };
    let ice_state = |state: IceComponentState| move |e: &Event| matches!(e, Event::IceComponentStateChanged(c) if c.state == state);
    let gathering = pos("Gathering", &ice_state(IceComponentState::Gathering));
    let found = pos("IceCandidateFound", &|e| {
        matches!(e, Event::IceCandidateFound(_))
    });
    let connecting = pos("Connecting", &ice_state(IceComponentState::Connecting));
    let selected = pos("NewCandidatePairSelected", &|e| {
        matches!(e, Event::NewCandidatePairSelected(_))
    });
    let connected = pos("Connected", &ice_state(IceComponentState::Connected));
    let gathering_done = pos("IceGatheringDone", &|e| {
        matches!(e, Event::IceGatheringDone(_))
    });
    let ready = pos("Ready", &ice_state(IceComponentState::Ready));
    let flow_out = pos(
        "MediaFlowOut Flowing",
        &|e| matches!(e, Event::MediaFlowOutStateChanged(f) if f.state == MediaFlowState::Flowing),
    );
    let media = pos("MediaStateChanged", &is_media_connected);
    let transport = pos(
        "ConnectionStateChanged",
        &|e| matches!(e, Event::ConnectionStateChanged(c) if c.new_state == ConnectionState::Connected),
    );
    assert!(gathering < connecting, "{seen:#?}");
    assert!(found < gathering_done, "{seen:#?}");
    assert!(
        connecting < selected && selected < connected && connected < ready,
        "{seen:#?}"
    );
    assert!(gathering_done < ready, "{seen:#?}");
    assert!(transport > connected, "{seen:#?}");
    // "MediaStateChanged (Connected) will happen after NewCandidatePairSelected,
    // IceComponentStateChanged (Connected), MediaFlowOutStateChanged (Flowing)".
    assert!(
        media > selected && media > connected && media > flow_out,
        "{seen:#?}"
    );
    let Event::NewCandidatePairSelected(pair) = &seen[selected] else {
        unreachable!()
    };
    assert!(pair.candidate_pair.local_candidate.contains("127.0.0.1"));
    assert!(pair
        .candidate_pair
        .remote_candidate
        .starts_with("candidate:"));
    let Event::IceCandidateFound(c) = &seen[found] else {
        unreachable!()
    };
    assert_eq!(c.source, answerer.id());
    assert_eq!(
        (c.candidate.sdp_mid.as_str(), c.candidate.sdp_m_line_index),
        ("0", 0)
    );

    // Both ends count the same video stream.
    let out = offerer.get_stats().unwrap();
    let inn = answerer.get_stats().unwrap();
    let sent = out
        .outbound
        .iter()
        .find(|s| s.kind == Some(mediaflow::MediaKind::Video))
        .unwrap();
    let got = inn
        .inbound
        .iter()
        .find(|s| s.kind == Some(mediaflow::MediaKind::Video))
        .unwrap();
    assert_eq!(sent.ssrc, got.ssrc);
    assert!(
        got.packets_received >= 30 && sent.packets_sent >= got.packets_received,
        "{out:?} {inn:?}"
    );
    assert!(got.bytes_received > 0 && got.jitter >= 0.0);

    // A keyframe request from the sink side reaches the AppSource through RTCP PLI.
    let before = source.keyframe_requests();
    answerer.request_keyframe().unwrap();
    let deadline = Instant::now() + WAIT;
    while source.keyframe_requests() == before {
        assert!(Instant::now() < deadline, "PLI did not reach the source");
        std::thread::sleep(Duration::from_millis(10));
    }

    // ICE restart: a new offer with new credentials; candidates trickle again through
    // the same handlers and media keeps flowing.
    offerer.restart_ice().unwrap();
    let offer2 = offerer.generate_offer().unwrap();
    let answer2 = answerer.process_offer(&offer2).unwrap();
    offerer.process_answer(&answer2).unwrap();
    let seen = collect_until(&events, "Ready after the restart", |s| {
        s.iter().any(|e| matches!(e, Event::IceComponentStateChanged(c) if c.state == IceComponentState::Ready))
    });
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::IceCandidateFound(_))),
        "{seen:#?}"
    );
    while sink.try_recv().is_some() {}
    pump_video(&source, &sink, &mut seq, 10, WAIT, || {
        "no media after the ICE restart".into()
    });
    pipeline.release().unwrap();
}

#[test]
fn bad_sdp_and_candidates_are_typed_errors() {
    let pipeline = MediaPipeline::new().unwrap();
    let ep = endpoint(&pipeline);
    assert!(matches!(ep.process_offer(""), Err(Error::InvalidSdp(_))));
    assert!(matches!(
        ep.process_offer("v=0\r\ngarbage\r\n"),
        Err(Error::InvalidSdp(_))
    ));
    assert!(matches!(
        ep.process_offer("\u{0}\u{1}\u{2}"),
        Err(Error::InvalidSdp(_))
    ));
    assert!(matches!(
        ep.process_answer("v=0\r\n"),
        Err(Error::WrongState(_))
    ));
    let bad = IceCandidate {
        candidate: "candidate:not a candidate".into(),
        sdp_mid: "0".into(),
        sdp_m_line_index: 0,
    };
    assert!(matches!(
        ep.add_ice_candidate(bad),
        Err(Error::InvalidCandidate(_))
    ));

    // An offer whose only codec we do not speak.
    let other = endpoint(&pipeline);
    let offer = other.generate_offer().unwrap();
    let unsupported = offer
        .replace("opus/48000/2", "x-unknown/48000/2")
        .replace("PCMU/8000", "x-unknown2/8000")
        .replace("PCMA/8000", "x-unknown3/8000")
        .replace("VP8/90000", "x-vp7/90000")
        .replace("H264/90000", "x-h263/90000");
    let fresh = endpoint(&pipeline);
    assert_eq!(fresh.process_offer(&unsupported), Err(Error::NoCommonCodec));
    // The pipeline and the other endpoints are unaffected.
    assert!(ep.get_local_session_descriptor().is_ok());
    pipeline.release().unwrap();
}

/// Issue 10, items 3-5, through the public API: tokens an answer would echo are
/// validated, sizes are bounded, and H.264 is matched by profile, not by string.
#[test]
fn offers_are_validated_bounded_and_h264_matched_by_profile() {
    let pipeline = MediaPipeline::new().unwrap();
    let offerer = endpoint(&pipeline);
    let offer = offerer.generate_offer().unwrap();
    let invalid = |sdp: &str| match endpoint(&pipeline).process_offer(sdp) {
        Err(Error::InvalidSdp(reason)) => reason,
        other => panic!("accepted or wrong error: {other:?}"),
    };
    // A bare CR smuggling an attribute, a mid with a space, NUL in an fmtp, two equal mids.
    invalid(&offer.replacen("a=mid:0", "a=mid:0\ra=INJECTED:1", 1));
    invalid(&offer.replacen("a=mid:0", "a=mid:0 1", 1));
    invalid(&offer.replacen("a=fmtp:111 ", "a=fmtp:111 \u{0}\u{1}", 1));
    invalid(&offer.replacen("a=mid:1", "a=mid:0", 1));
    // 50 MB is refused on its size, before any parsing.
    let huge = format!("{offer}{}", "a=x-filler:0123456789\r\n".repeat(2_200_000));
    let reason = invalid(&huge);
    assert!(reason.contains("MAX_SDP_BYTES"), "{reason}");
    // A Constrained Baseline spelled 42c01e (not one of our four strings) is accepted,
    // answered with the offer's profile at our level.
    let h264_only = offer
        .replace("VP8/90000", "x-vp7/90000")
        .replace("profile-level-id=42e01f", "profile-level-id=42c01e");
    let answer = endpoint(&pipeline).process_offer(&h264_only).unwrap();
    assert!(answer.contains("profile-level-id=42c01f"), "{answer}");
    pipeline.release().unwrap();
}

#[test]
fn a_dtls_fingerprint_mismatch_fails_the_connection_with_an_error_event() {
    let pipeline = MediaPipeline::new().unwrap();
    let offerer = endpoint(&pipeline);
    let answerer = endpoint(&pipeline);
    trickle(&offerer, &answerer);
    let offerer_events = pipeline.events().unwrap();
    let answer = answerer
        .process_offer(&offerer.generate_offer().unwrap())
        .unwrap();
    // Flip one hex digit of the answerer's certificate fingerprint.
    let at = answer.find("a=fingerprint:sha-256 ").unwrap() + "a=fingerprint:sha-256 ".len();
    let mut tampered = answer.clone().into_bytes();
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    offerer
        .process_answer(std::str::from_utf8(&tampered).unwrap())
        .unwrap();
    offerer.gather_candidates().unwrap();
    answerer.gather_candidates().unwrap();
    let seen = collect_until(&offerer_events, "an Error event", |s| {
        s.iter().any(|e| matches!(e, Event::Error(_)))
    });
    assert!(seen.iter().any(|e| matches!(e, Event::DtlsConnectionStateChange(d) if d.state == mediaflow::DtlsConnectionState::Failed)));
    assert!(!seen.iter().any(|e| matches!(e, Event::ConnectionStateChanged(c) if c.new_state == ConnectionState::Connected)));
    let Some(Event::Error(e)) = seen.iter().find(|e| matches!(e, Event::Error(_))) else {
        unreachable!()
    };
    assert_eq!(e.error_type.as_str(), "UNEXPECTED_ELEMENT_ERROR");
    assert!(e.description.contains("fingerprint"), "{}", e.description);
    pipeline.release().unwrap();
}

#[test]
fn random_bytes_at_the_port_are_counted_and_harmless() {
    let pipeline = MediaPipeline::new().unwrap();
    let ep = endpoint(&pipeline);
    let other = endpoint(&pipeline);
    ep.process_offer(&other.generate_offer().unwrap()).unwrap();
    let addr = ep.local_addresses().unwrap()[0];
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut x: u32 = 12345;
    for i in 0..500 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let len = (x % 1400) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|j| (x.wrapping_mul(j as u32 + i)) as u8)
            .collect();
        junk.send_to(&bytes, addr).unwrap();
    }
    let deadline = Instant::now() + WAIT;
    while ep.discards().unwrap().datagrams == 0 {
        assert!(Instant::now() < deadline, "junk never counted");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Still answering, still negotiable.
    assert!(ep.get_local_session_descriptor().unwrap().is_some());
    pipeline.release().unwrap();
}

#[test]
fn releasing_an_endpoint_frees_its_port_and_threads() {
    let pipeline = MediaPipeline::new().unwrap();
    // Warm-up, so lazily created process resources are not counted.
    endpoint(&pipeline).release().unwrap();
    let (fds, threads) = (fd_count(), thread_count());
    for i in 0..200 {
        // Every other one with ICE-TCP listeners, whose threads and sockets must go too.
        let ep = WebRtcEndpoint::builder(&pipeline)
            .network_interfaces(["lo"])
            .ice_tcp(i % 2 == 0)
            .build()
            .unwrap();
        ep.connect(&ep).unwrap();
        let addr = ep.local_addresses().unwrap()[0];
        ep.release().unwrap();
        // The port is free again at once.
        std::net::UdpSocket::bind(addr).expect("port still held after release");
    }
    // Other tests of this binary run in parallel: allow their own short-lived sockets
    // and threads, but not 200 of ours.
    assert!(fd_count() <= fds + 20, "fds {} -> {}", fds, fd_count());
    assert!(
        thread_count() <= threads + 12,
        "threads {} -> {}",
        threads,
        thread_count()
    );
    pipeline.release().unwrap();
}

#[test]
fn stun_and_external_addresses_add_server_reflexive_candidates() {
    let stun = stun_server();
    let pipeline = MediaPipeline::new().unwrap();
    let ep = WebRtcEndpoint::builder(&pipeline)
        .network_interfaces(["lo"])
        .external_ipv4([198, 51, 100, 4].into())
        .stun_server_address(stun.ip().to_string())
        .stun_server_port(stun.port())
        .build()
        .unwrap();
    let other = endpoint(&pipeline);
    let events = ep.events().unwrap();
    ep.process_offer(&other.generate_offer().unwrap()).unwrap();
    ep.gather_candidates().unwrap();
    let seen = collect_until(&events, "IceGatheringDone", |s| {
        s.iter().any(|e| matches!(e, Event::IceGatheringDone(_)))
    });
    let port = ep.local_addresses().unwrap()[0].port();
    let lines: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::IceCandidateFound(c) => Some(c.candidate.candidate.clone()),
            _ => None,
        })
        .collect();
    assert!(lines.iter().any(|l| l.contains("typ host")), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains(&format!(
            "203.0.113.7 {port} typ srflx raddr 127.0.0.1 rport {port}"
        ))),
        "{lines:?}"
    );
    assert!(matches!(
        WebRtcEndpoint::builder(&pipeline)
            .stun_server_address("no-such-host.invalid")
            .build(),
        Err(Error::InvalidArgument(_))
    ));
    pipeline.release().unwrap();
}

#[test]
fn a_turn_relay_carries_the_call_when_relay_only() {
    let turn = Coturn::start();
    let pipeline = MediaPipeline::new().unwrap();
    let offerer = endpoint(&pipeline);
    let relayed = WebRtcEndpoint::builder(&pipeline)
        .network_interfaces(["lo"])
        .turn_url(format!(
            "mediaflow:secret@127.0.0.1:{}?transport=udp",
            turn.port
        ))
        .relay_only(true)
        .build()
        .unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::with_capacity(&pipeline, 10_000).unwrap();
    source.connect_media(&offerer, MediaType::Video).unwrap();
    relayed.connect_media(&sink, MediaType::Video).unwrap();
    let events = relayed.events().unwrap();
    trickle(&offerer, &relayed);
    let answer = relayed
        .process_offer(&offerer.generate_offer().unwrap())
        .unwrap();
    offerer.process_answer(&answer).unwrap();
    relayed.gather_candidates().unwrap();
    offerer.gather_candidates().unwrap();

    let mut seq = 0u16;
    pump_video(&source, &sink, &mut seq, 30, WAIT, || {
        format!(
            "no media through the relay: {:?}",
            relayed.get_stats().unwrap()
        )
    });
    let seen = collect_until(&events, "NewCandidatePairSelected", |s| {
        s.iter()
            .any(|e| matches!(e, Event::NewCandidatePairSelected(_)))
    });
    let relay_found = seen.iter().any(
        |e| matches!(e, Event::IceCandidateFound(c) if c.candidate.candidate.contains("typ relay")),
    );
    assert!(relay_found, "{seen:#?}");
    let pair = seen
        .iter()
        .find_map(|e| match e {
            Event::NewCandidatePairSelected(p) => Some(p.candidate_pair.clone()),
            _ => None,
        })
        .unwrap();
    assert!(pair.local_candidate.contains("typ relay"), "{pair:?}");
    let stats = relayed.get_stats().unwrap();
    assert!(stats.turn_datagrams_received >= 30, "{stats:?}");
    assert!(stats.turn_datagrams_sent > 0, "{stats:?}");
    pipeline.release().unwrap();

    // Bad TURN URLs are typed errors.
    let p2 = MediaPipeline::new().unwrap();
    for bad in [
        "127.0.0.1:3478",
        "user@127.0.0.1",
        "u:p@127.0.0.1:x",
        "u:p@127.0.0.1?transport=tcp",
    ] {
        assert!(
            matches!(
                WebRtcEndpoint::builder(&p2).turn_url(bad).build(),
                Err(Error::InvalidArgument(_))
            ),
            "{bad} accepted"
        );
    }
    assert!(matches!(
        WebRtcEndpoint::builder(&p2).relay_only(true).build(),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn recvonly_and_sendonly_are_honoured_in_the_answer_and_the_offer() {
    let pipeline = MediaPipeline::new().unwrap();
    let directions = |sdp: &str| -> Vec<String> {
        sdp.lines()
            .filter(|l| {
                matches!(
                    *l,
                    "a=sendrecv" | "a=recvonly" | "a=sendonly" | "a=inactive"
                )
            })
            .map(str::to_owned)
            .collect()
    };
    for (build, want) in [
        (WebRtcEndpoint::builder(&pipeline).recvonly(), "a=recvonly"),
        (WebRtcEndpoint::builder(&pipeline).sendonly(), "a=sendonly"),
    ] {
        let peer = endpoint(&pipeline);
        let ep = build.network_interfaces(["lo"]).build().unwrap();
        let answer = ep.process_offer(&peer.generate_offer().unwrap()).unwrap();
        assert_eq!(directions(&answer), vec![want; 2], "{answer}");
        let offerer = WebRtcEndpoint::builder(&pipeline);
        let offerer = if want == "a=recvonly" {
            offerer.recvonly()
        } else {
            offerer.sendonly()
        };
        let offer = offerer.build().unwrap().generate_offer().unwrap();
        assert!(
            directions(&offer).iter().all(|d| d == want) && !directions(&offer).is_empty(),
            "{offer}"
        );
    }
    pipeline.release().unwrap();
}
