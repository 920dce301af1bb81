//! Issue 10, "bounded under attack": a flood of hostile datagrams at a connected
//! endpoint over real UDP (random-SSRC RTP and RTCP, STUN with a foreign ufrag, DTLS
//! with bad lengths, garbage), sent in bursts so the kernel drops none: every datagram
//! is counted under a reason, memory stays flat, and media keeps flowing through the
//! attacked endpoint all along; from a stranger's port, and from the peer's own.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mediaflow::{codec, AppSink, AppSource, Discards, MediaPipeline, MediaType};
use mediaflow_rtp::{ConnectionState, MediaKind};
use mediaflow_testkit::rss_kib;

mod common;

use common::raw_peer::RawPeer;
use common::{endpoint, negotiate, pump_video, trickle};

const WAIT: Duration = Duration::from_secs(30);

/// Every datagram refused, whatever the reason.
fn refused(d: &Discards) -> u64 {
    d.datagrams + d.stun + d.dtls + d.unknown_source + d.srtp + d.rtcp
}

/// The `i`-th hostile datagram: five kinds in turn, each with varying fields.
fn hostile(i: u64, x: u32) -> Vec<u8> {
    let mut p = match i % 5 {
        // RTP, random SSRC and sequence.
        0 => {
            let mut p = vec![0x80, 96];
            p.extend_from_slice(&(x as u16).to_be_bytes());
            p.extend_from_slice(&x.rotate_left(9).to_be_bytes());
            p.extend_from_slice(&x.to_be_bytes());
            p
        }
        // RTCP receiver report from a random SSRC.
        1 => {
            let mut p = vec![0x81, 201, 0, 7];
            p.extend_from_slice(&x.to_be_bytes());
            p
        }
        // A STUN Binding request (magic cookie, random transaction) with junk attributes.
        2 => {
            let mut p = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
            p.extend_from_slice(&[x as u8; 12]);
            p.extend_from_slice(&[0x00, 0x06, 0x00, 0x04]);
            p.extend_from_slice(&x.to_be_bytes());
            p
        }
        // A DTLS handshake record whose length runs past the datagram.
        3 => vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0xff, 0xff, 1, 2, 3],
        // No protocol of ours.
        _ => vec![0x55; 20],
    };
    p.resize(p.len().max(48 + (x % 200) as usize), (x >> 8) as u8);
    p
}

/// How many hostile datagrams a test sends (`MEDIAFLOW_ATTACK_DATAGRAMS`, 2 M by default).
fn total() -> u64 {
    std::env::var("MEDIAFLOW_ATTACK_DATAGRAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

/// Sends `total` hostile datagrams from `attacker` to `target` in bursts the socket's
/// receive buffer holds, waiting after each until `counted` has seen all of them (what
/// the kernel would drop on overflow is not the engine's to count); `meanwhile` runs
/// while it waits and `every_100k` once per 100,000 datagrams. Returns what the
/// endpoint counted.
fn flood(
    attacker: &UdpSocket,
    target: SocketAddr,
    total: u64,
    counted: impl Fn() -> u64,
    mut meanwhile: impl FnMut(),
    mut every_100k: impl FnMut(),
) -> u64 {
    let start = counted();
    let mut x: u32 = 0x9e37_79b9;
    let mut sent = 0u64;
    while sent < total {
        for _ in 0..512.min(total - sent) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            attacker.send_to(&hostile(sent, x), target).unwrap();
            sent += 1;
        }
        let deadline = Instant::now() + WAIT;
        while counted() - start < sent {
            assert!(Instant::now() < deadline, "{sent} sent, not all counted");
            meanwhile();
        }
        if sent % 100_000 < 512 {
            every_100k();
        }
    }
    counted() - start
}

/// Prints what the flood cost and checks it: every datagram counted, RSS up < 5 MiB.
fn bounded_and_counted(
    what: &str,
    total: u64,
    counted: u64,
    before: &Discards,
    attacked: &mediaflow::WebRtcEndpoint,
    rss_before: u64,
) {
    let after = attacked.discards().unwrap();
    let rss_after = rss_kib();
    println!(
        "{total} hostile datagrams{what}: {}, RSS {rss_before} -> {rss_after} KiB",
        report(before, &after)
    );
    assert_eq!(counted, total, "{after:?}");
    assert!(
        rss_after < rss_before + 5 * 1024,
        "RSS {rss_before} -> {rss_after} KiB"
    );
}

/// What was counted between `before` and `after`, by reason.
fn report(before: &Discards, after: &Discards) -> String {
    format!(
        "counted {} (garbage {}, STUN {}, DTLS {}, unknown source {}, SRTP {}, RTCP {})",
        refused(after) - refused(before),
        after.datagrams - before.datagrams,
        after.stun - before.stun,
        after.dtls - before.dtls,
        after.unknown_source - before.unknown_source,
        after.srtp - before.srtp,
        after.rtcp - before.rtcp,
    )
}

#[test]
fn a_flood_of_hostile_datagrams_is_counted_bounded_and_harmless() {
    let total = total();
    let pipeline = MediaPipeline::new().unwrap();
    let offerer = endpoint(&pipeline);
    let attacked = endpoint(&pipeline);
    let source = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::with_capacity(&pipeline, 100_000).unwrap();
    source.connect_media(&offerer, MediaType::Video).unwrap();
    attacked.connect_media(&sink, MediaType::Video).unwrap();
    trickle(&offerer, &attacked);
    negotiate(&offerer, &attacked);

    // Media flows before the attack, during it and after.
    let mut seq = 0u16;
    let pump = |seq: &mut u16, count: usize| {
        pump_video(&source, &sink, seq, count, WAIT, || "media stopped".into())
    };
    pump(&mut seq, 20);

    let target = attacked.local_addresses().unwrap()[0];
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let before = attacked.discards().unwrap();
    let rss_before = rss_kib();
    let counted = flood(
        &attacker,
        target,
        total,
        || refused(&attacked.discards().unwrap()),
        || std::thread::sleep(Duration::from_millis(1)),
        // The attacked endpoint's media keeps flowing during the flood.
        || pump(&mut seq, 5),
    );
    bounded_and_counted("", total, counted, &before, &attacked, rss_before);
    pump(&mut seq, 20);
    pipeline.release().unwrap();
}

/// The same flood from the peer's own address and port, the one ICE validated: it
/// reaches DTLS and SRTP/SRTCP decryption. Every datagram is counted, memory stays flat,
/// the call stays up and the peer's media keeps coming through.
#[test]
fn a_flood_from_the_peers_own_address_is_counted_bounded_and_harmless() {
    let total = total();
    let pipeline = MediaPipeline::new().unwrap();
    let attacked = endpoint(&pipeline);
    let sink = AppSink::with_capacity(&pipeline, 100_000).unwrap();
    attacked.connect_media(&sink, MediaType::Video).unwrap();
    let peer = std::cell::RefCell::new(RawPeer::connect(&attacked, WAIT));
    let mut seq = 0u16;
    // Sends VP8 from the peer until `count` packets came out of the sink.
    let pump = |seq: &mut u16, count: usize| {
        let deadline = Instant::now() + WAIT;
        let mut received = 0;
        while received < count {
            assert!(
                Instant::now() < deadline,
                "media stopped: {received} received"
            );
            let mut peer = peer.borrow_mut();
            let packet = mediaflow_testkit::vp8(*seq).data;
            *seq = seq.wrapping_add(1);
            peer.session
                .send_rtp(Instant::now(), MediaKind::Video, codec::VP8, packet)
                .unwrap();
            peer.drive(Duration::from_millis(2));
            while sink.recv_timeout(Duration::from_millis(1)).is_some() {
                received += 1;
            }
        }
    };
    pump(&mut seq, 20);

    let target = attacked.local_addresses().unwrap()[0];
    let before = attacked.discards().unwrap();
    let rss_before = rss_kib();
    let socket = peer.borrow().socket.try_clone().unwrap();
    let counted = flood(
        &socket,
        target,
        total,
        || refused(&attacked.discards().unwrap()),
        // The peer keeps its side of the call going (consent, RTCP) while it waits.
        || peer.borrow_mut().drive(Duration::from_millis(1)),
        || pump(&mut seq, 5),
    );
    bounded_and_counted(
        " from the peer's address",
        total,
        counted,
        &before,
        &attacked,
        rss_before,
    );
    pump(&mut seq, 20);
    assert_eq!(peer.borrow().session.states().1, ConnectionState::Connected);
    pipeline.release().unwrap();
}
