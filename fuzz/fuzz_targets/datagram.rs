//! Any bytes as datagrams into a connected session, through the real demultiplexer:
//! raw from the peer's own (ICE-validated) address, raw from a stranger, or as RTP the
//! peer encrypts with the real keys (so the media path past SRTP sees them too).
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mediaflow_rtp::{codec, ConnectionState, MediaKind, SessionEvent, WebRtcSession};

#[path = "common.rs"]
mod common;

struct Peer {
    session: WebRtcSession,
    addr: SocketAddr,
}

/// Delivers what `from` has to send to `to`; true when anything moved.
fn shuttle(from: &mut Peer, to: &mut Peer, now: Instant) -> bool {
    let mut moved = false;
    while let Some(t) = from.session.poll_transmit() {
        if t.peer == to.addr {
            to.session.handle_datagram(now, to.addr, t.local, &t.data);
        }
        moved = true;
    }
    moved
}

fn trickle(from: &mut Peer, to: &mut Peer) {
    while let Some(e) = from.session.poll_event() {
        if let SessionEvent::IceCandidateFound(c) = e {
            let _ = to.session.add_ice_candidate(c);
        }
    }
}

/// Two sessions connected on virtual time, or `None` if they did not get there.
fn connected(now: &mut Instant) -> Option<(Peer, Peer)> {
    let mut a = Peer {
        session: common::session(*now),
        addr: SocketAddr::from(([127, 0, 0, 1], 10_000)),
    };
    let mut b = Peer {
        session: common::session(*now),
        addr: SocketAddr::from(([127, 0, 0, 1], 20_000)),
    };
    let offer = a.session.generate_offer(*now).ok()?;
    let answer = b.session.process_offer(&offer, *now).ok()?;
    a.session.process_answer(&answer, *now).ok()?;
    a.session.gather_candidates(&[a.addr], *now).ok()?;
    b.session.gather_candidates(&[b.addr], *now).ok()?;
    trickle(&mut a, &mut b);
    trickle(&mut b, &mut a);
    let end = *now + Duration::from_secs(5);
    while *now < end {
        let moved = shuttle(&mut a, &mut b, *now) | shuttle(&mut b, &mut a, *now);
        let up = |p: &Peer| p.session.states().1 == ConnectionState::Connected;
        if up(&a) && up(&b) {
            return Some((a, b));
        }
        if !moved {
            *now += Duration::from_millis(5);
            a.session.handle_timeout(*now);
            b.session.handle_timeout(*now);
        }
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let Some((mut a, mut b)) = connected(&mut now) else {
        panic!("the pair did not connect");
    };
    let stranger = SocketAddr::from(([127, 0, 0, 1], 10_001));
    // A run of datagrams: a mode byte, a length byte, then that many bytes.
    let mut rest = data;
    while let [mode, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let bytes = &tail[..n];
        match mode % 3 {
            0 => b.session.handle_datagram(now, b.addr, a.addr, bytes),
            1 => b.session.handle_datagram(now, b.addr, stranger, bytes),
            _ => {
                let _ = a.session.send_rtp(now, MediaKind::Video, codec::VP8, bytes.to_vec().into());
                shuttle(&mut a, &mut b, now);
            }
        }
        rest = &tail[n..];
    }
    now += Duration::from_millis(1_100);
    b.session.handle_timeout(now);
    shuttle(&mut b, &mut a, now);
    while b.session.poll_media().is_some() {}
    while b.session.poll_event().is_some() {}
    let _ = b.session.stats(now);
});
