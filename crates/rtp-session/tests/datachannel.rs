//! Data channels between two sessions in memory, on virtual time: SCTP over DTLS over
//! ICE, DCEP both ways, ordered and unordered channels, large messages, close, loss.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mediaflow_rtp::{
    ConnectionState, DataChannelInit, DataMessage, SessionConfig, SessionError, SessionEvent,
    WebRtcSession,
};

struct Peer {
    session: WebRtcSession,
    addr: SocketAddr,
    events: Vec<SessionEvent>,
    received: Vec<DataMessage>,
}

impl Peer {
    fn new(port: u16, data_channels: bool, now: Instant) -> Peer {
        let config = SessionConfig {
            data_channels,
            ..SessionConfig::default()
        };
        Peer {
            session: WebRtcSession::new(config, now).unwrap(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            events: Vec::new(),
            received: Vec::new(),
        }
    }

    fn collect(&mut self) {
        self.events
            .extend(std::iter::from_fn(|| self.session.poll_event()));
        self.received
            .extend(std::iter::from_fn(|| self.session.poll_data()));
    }

    fn opened(&self) -> Vec<(u16, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::DataChannelOpened { channel_id, label } => {
                    Some((*channel_id, label.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn closed(&self) -> Vec<u16> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::DataChannelClosed { channel_id } => Some(*channel_id),
                _ => None,
            })
            .collect()
    }

    fn texts_on(&self, id: u16) -> Vec<String> {
        self.received
            .iter()
            .filter(|m| m.channel_id == id)
            .map(|m| String::from_utf8_lossy(&m.data).into_owned())
            .collect()
    }
}

/// Moves datagrams both ways (each through `keep`: false is lost) and advances virtual
/// time until `done` or `limit`; true when `done`.
fn run(
    a: &mut Peer,
    b: &mut Peer,
    now: &mut Instant,
    limit: Duration,
    keep: &mut dyn FnMut() -> bool,
    done: &dyn Fn(&Peer, &Peer) -> bool,
) -> bool {
    let end = *now + limit;
    while *now < end {
        let mut moved = false;
        for a_to_b in [true, false] {
            let (from, to) = if a_to_b {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            while let Some(t) = from.session.poll_transmit() {
                if t.peer == to.addr && keep() {
                    to.session.handle_datagram(*now, t.peer, t.local, &t.data);
                    moved = true;
                }
            }
        }
        a.collect();
        b.collect();
        if done(a, b) {
            return true;
        }
        if !moved {
            let next = [a.session.poll_timeout(), b.session.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(*now + Duration::from_millis(10));
            *now = next.max(*now + Duration::from_micros(100)).min(end);
            a.session.handle_timeout(*now);
            b.session.handle_timeout(*now);
        }
    }
    done(a, b)
}

fn lossless() -> impl FnMut() -> bool {
    || true
}

/// Negotiated with data channels on both sides, candidates exchanged, connected.
fn connected_pair(now: &mut Instant) -> (Peer, Peer) {
    let mut a = Peer::new(11_000, true, *now);
    let mut b = Peer::new(12_000, true, *now);
    let offer = a.session.generate_offer(*now).unwrap();
    assert!(
        offer.contains("m=application 9 UDP/DTLS/SCTP webrtc-datachannel"),
        "{offer}"
    );
    let answer = b.session.process_offer(&offer, *now).unwrap();
    assert!(answer.contains("a=sctp-port:5000"), "{answer}");
    assert!(answer.contains("a=max-message-size:262144"), "{answer}");
    a.session.process_answer(&answer, *now).unwrap();
    a.session.gather_candidates(&[a.addr], *now).unwrap();
    b.session.gather_candidates(&[b.addr], *now).unwrap();
    a.collect();
    b.collect();
    for (from, to) in [(&a.events, &mut b.session), (&b.events, &mut a.session)] {
        for e in from {
            if let SessionEvent::IceCandidateFound(c) = e {
                to.add_ice_candidate(c.clone()).unwrap();
            }
        }
    }
    let up = |p: &Peer| p.session.states().1 == ConnectionState::Connected;
    assert!(run(
        &mut a,
        &mut b,
        now,
        Duration::from_secs(10),
        &mut lossless(),
        &|a, b| up(a) && up(b)
    ));
    (a, b)
}

/// A channel of `from`'s, open on both sides.
fn open_channel(
    from: &mut Peer,
    to: &mut Peer,
    now: &mut Instant,
    label: &str,
    init: &DataChannelInit,
) -> u16 {
    let id = from.session.create_data_channel(*now, label, init).unwrap();
    let want = (id, label.to_owned());
    let ok = run(
        from,
        to,
        now,
        Duration::from_secs(10),
        &mut lossless(),
        &|f, t| f.opened().contains(&want) && t.opened().contains(&want),
    );
    assert!(ok, "{label} not open: {:?} / {:?}", from.events, to.events);
    id
}

#[test]
fn channels_each_way_ordered_unordered_large_and_closed() {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut now = Instant::now();
    let (mut a, mut b) = connected_pair(&mut now);

    // A offered (actpass) and B answered active: B is the DTLS client (even ids), A
    // the server (odd ids), RFC 8832 §6.
    let chat = open_channel(
        &mut a,
        &mut b,
        &mut now,
        "chat",
        &DataChannelInit::default(),
    );
    assert_eq!(chat % 2, 1);
    let back = open_channel(
        &mut b,
        &mut a,
        &mut now,
        "back",
        &DataChannelInit::default(),
    );
    assert_eq!(back % 2, 0);
    let unordered = DataChannelInit {
        ordered: false,
        ..DataChannelInit::default()
    };
    let loose = open_channel(&mut a, &mut b, &mut now, "loose", &unordered);

    // 1,000 ordered reliable messages: none lost, in order.
    let sent: Vec<String> = (0..1000).map(|i| format!("message {i}")).collect();
    for m in &sent {
        a.session
            .send_data(now, chat, false, &Bytes::from(m.clone()))
            .unwrap();
    }
    let ok = run(
        &mut a,
        &mut b,
        &mut now,
        Duration::from_secs(20),
        &mut lossless(),
        &|_, b| b.texts_on(chat).len() >= 1000,
    );
    assert!(ok, "{} of 1000 arrived", b.texts_on(chat).len());
    assert_eq!(b.texts_on(chat), sent);
    assert!(b.received.iter().all(|m| &*m.label == "chat" && !m.binary));

    // The other way, on B's channel.
    b.session
        .send_data(now, back, false, &Bytes::from_static(b"hello A"))
        .unwrap();
    // Unordered: every message arrives, in whatever order.
    for i in 0..200 {
        a.session
            .send_data(now, loose, true, &Bytes::from(format!("u{i}")))
            .unwrap();
    }
    // A 64 KiB binary message, B -> A, and an empty string.
    let big: Bytes = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    b.session.send_data(now, back, true, &big).unwrap();
    b.session
        .send_data(now, back, false, &Bytes::new())
        .unwrap();
    let ok = run(
        &mut a,
        &mut b,
        &mut now,
        Duration::from_secs(20),
        &mut lossless(),
        &|a, b| b.texts_on(loose).len() >= 200 && a.texts_on(back).len() >= 3,
    );
    assert!(ok);
    let mut got = b.texts_on(loose);
    got.sort();
    let mut want: Vec<String> = (0..200).map(|i| format!("u{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(b
        .received
        .iter()
        .filter(|m| m.channel_id == loose)
        .all(|m| m.binary));
    let on_back: Vec<&DataMessage> = a.received.iter().filter(|m| m.channel_id == back).collect();
    assert_eq!(on_back[0].data, Bytes::from_static(b"hello A"));
    assert_eq!(on_back[1].data, big, "the 64 KiB message arrives intact");
    assert!(on_back[1].binary);
    assert!(on_back[2].data.is_empty() && !on_back[2].binary);

    // Too large for the peer: refused, counted, nothing sent.
    let huge = Bytes::from(vec![0u8; 300 * 1024]);
    assert!(matches!(
        a.session.send_data(now, chat, true, &huge),
        Err(SessionError::DataChannel(_))
    ));
    assert_eq!(a.session.data_channel_stats().messages_dropped_out, 1);

    // Close: both sides see DataChannelClosed for it, the others stay.
    a.session.close_data_channel(now, chat).unwrap();
    let ok = run(
        &mut a,
        &mut b,
        &mut now,
        Duration::from_secs(10),
        &mut lossless(),
        &|a, b| a.closed().contains(&chat) && b.closed().contains(&chat),
    );
    assert!(ok, "not closed: {:?} / {:?}", a.events, b.events);
    assert_eq!(a.closed(), vec![chat]);
    // A closes the channel B opened: both see it close.
    a.session.close_data_channel(now, back).unwrap();
    let ok = run(
        &mut a,
        &mut b,
        &mut now,
        Duration::from_secs(10),
        &mut lossless(),
        &|a, b| a.closed().contains(&back) && b.closed().contains(&back),
    );
    assert!(ok);
    assert!(a
        .session
        .send_data(now, chat, false, &Bytes::from_static(b"late"))
        .is_err());
    let stats = b.session.data_channel_stats();
    assert_eq!(stats.messages_received, 1200);
    println!("B: {stats:?}");
}

#[test]
fn reliable_channel_delivers_everything_in_order_at_10_percent_loss() {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut now = Instant::now();
    let (mut a, mut b) = connected_pair(&mut now);
    let id = open_channel(
        &mut a,
        &mut b,
        &mut now,
        "lossy",
        &DataChannelInit::default(),
    );
    let sent: Vec<String> = (0..1000)
        .map(|i| format!("m{i:04} {}", "x".repeat(i % 300)))
        .collect();
    let start = now;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut lost = 0u32;
    let mut keep = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let keep = state % 100 >= 10;
        lost += u32::from(!keep);
        keep
    };
    // Ten bursts 200 ms apart, so losses at a burst's tail need SCTP's timers too.
    for burst in sent.chunks(100) {
        for m in burst {
            a.session
                .send_data(now, id, false, &Bytes::from(m.clone()))
                .unwrap();
        }
        run(
            &mut a,
            &mut b,
            &mut now,
            Duration::from_millis(200),
            &mut keep,
            &|_, _| false,
        );
    }
    let ok = run(
        &mut a,
        &mut b,
        &mut now,
        Duration::from_secs(300),
        &mut keep,
        &|_, b| b.texts_on(id).len() >= 1000,
    );
    assert!(ok, "{} of 1000 arrived", b.texts_on(id).len());
    assert_eq!(b.texts_on(id), sent);
    println!(
        "1000 messages in order through 10 % loss ({lost} datagrams lost) in {:?} virtual",
        now - start
    );
}

#[test]
fn without_the_option_there_are_no_data_channels() {
    let mut now = Instant::now();
    let mut a = Peer::new(13_000, true, now);
    let mut b = Peer::new(14_000, false, now);
    let offer = a.session.generate_offer(now).unwrap();
    let answer = b.session.process_offer(&offer, now).unwrap();
    assert!(
        answer.contains("m=application 0 UDP/DTLS/SCTP webrtc-datachannel"),
        "{answer}"
    );
    a.session.process_answer(&answer, now).unwrap();
    for p in [&mut a, &mut b] {
        assert!(matches!(
            p.session
                .create_data_channel(now, "x", &DataChannelInit::default()),
            Err(SessionError::DataChannel(_))
        ));
    }
    now += Duration::from_millis(1);
    assert!(a.session.poll_data().is_none());
}

/// Channels past MAX_CHANNELS are refused (their stream reset) and counted, never
/// accepted: A opens 10 and B 64 at the same time; each side holds its own, so each
/// refuses what the other opened past the bound, and the refused channels close.
#[test]
fn channels_past_the_bound_are_refused_and_counted() {
    use mediaflow_rtp::MAX_CHANNELS;
    let mut now = Instant::now();
    let (mut a, mut b) = connected_pair(&mut now);
    // Both associations up before the race.
    open_channel(
        &mut a,
        &mut b,
        &mut now,
        "first",
        &DataChannelInit::default(),
    );
    let first = a.opened()[0].0;
    a.session.close_data_channel(now, first).unwrap();
    assert!(run(
        &mut a,
        &mut b,
        &mut now,
        Duration::from_secs(5),
        &mut lossless(),
        &|a, b| a.closed().contains(&first) && b.closed().contains(&first)
    ));
    let init = DataChannelInit::default();
    let a_ids: Vec<u16> = (0..10)
        .map(|i| {
            a.session
                .create_data_channel(now, &format!("a{i}"), &init)
                .unwrap()
        })
        .collect();
    let b_ids: Vec<u16> = (0..MAX_CHANNELS)
        .map(|i| {
            b.session
                .create_data_channel(now, &format!("b{i}"), &init)
                .unwrap()
        })
        .collect();
    // B's own bound: no 65th.
    assert!(b
        .session
        .create_data_channel(now, "one too many", &init)
        .is_err());
    run(
        &mut a,
        &mut b,
        &mut now,
        Duration::from_secs(5),
        &mut lossless(),
        &|_, _| false,
    );
    let (sa, sb) = (
        a.session.data_channel_stats(),
        b.session.data_channel_stats(),
    );
    println!("A {sa:?}\nB {sb:?}");
    assert_eq!(sa.channels_refused, 10, "A refuses B's past {MAX_CHANNELS}");
    assert_eq!(sb.channels_refused, 10, "B refuses all of A's");
    // A's 10 were refused by B: closed at A. Of B's, 10 were refused by A.
    let closed_a = a.closed();
    assert!(a_ids.iter().all(|id| closed_a.contains(id)), "{closed_a:?}");
    let refused_b: Vec<u16> = b_ids
        .iter()
        .copied()
        .filter(|id| b.closed().contains(id))
        .collect();
    assert_eq!(refused_b.len(), 10, "{:?}", b.closed());
    let open: Vec<u16> = b_ids
        .iter()
        .copied()
        .filter(|id| !refused_b.contains(id))
        .collect();
    assert_eq!(open.len(), MAX_CHANNELS - 10);
    // What stays open works.
    b.session
        .send_data(now, open[0], false, &Bytes::from_static(b"still fine"))
        .unwrap();
    assert!(run(
        &mut a,
        &mut b,
        &mut now,
        Duration::from_secs(2),
        &mut lossless(),
        &|a, _| !a.texts_on(open[0]).is_empty()
    ));
}

/// `sdp` without its m=application section (nor its mid in the BUNDLE group), and that
/// section's mid.
fn without_application(sdp: &str) -> (String, String) {
    let at = sdp.find("m=application").expect("an m=application section");
    let (head, app) = sdp.split_at(at);
    let mid = app
        .lines()
        .find_map(|l| l.strip_prefix("a=mid:"))
        .expect("the section's mid")
        .trim();
    let head = head
        .lines()
        .map(|l| {
            if l.starts_with("a=group:BUNDLE") {
                l.split(' ')
                    .filter(|t| *t != mid)
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                l.to_owned()
            }
        })
        .map(|l| l + "\r\n")
        .collect();
    (head, mid.to_owned())
}

/// A call that is up with media only; the peer re-offers with a data-channel section
/// (a browser's createDataChannel after the call is up), its setup actpass. DTLS stays
/// connected, so no DtlsConnected starts the association: it must start when the
/// section is applied, with the live DTLS roles (A offered first: A is the DTLS
/// server, odd ids; B the client, even ids), whatever the re-offer's setup says.
#[test]
fn a_renegotiation_that_adds_data_channels_starts_them_with_the_live_roles() {
    let mut now = Instant::now();
    let mut a = Peer::new(15_000, true, now);
    let mut b = Peer::new(16_000, true, now);
    // B sees A's offer without its data-channel section, and A sees that section
    // rejected in B's answer: a call with media only.
    let (offer, mid) = without_application(&a.session.generate_offer(now).unwrap());
    assert!(!offer.contains("m=application"), "{offer}");
    let mut answer = b.session.process_offer(&offer, now).unwrap();
    assert!(!answer.contains("m=application"), "{answer}");
    answer.push_str(&format!(
        "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
         a=mid:{mid}\r\na=inactive\r\n"
    ));
    assert!(answer.contains("a=setup:active"), "{answer}");
    a.session.process_answer(&answer, now).unwrap();
    a.session.gather_candidates(&[a.addr], now).unwrap();
    b.session.gather_candidates(&[b.addr], now).unwrap();
    a.collect();
    b.collect();
    for (from, to) in [(&a.events, &mut b.session), (&b.events, &mut a.session)] {
        for e in from {
            if let SessionEvent::IceCandidateFound(c) = e {
                to.add_ice_candidate(c.clone()).unwrap();
            }
        }
    }
    let up = |p: &Peer| p.session.states().1 == ConnectionState::Connected;
    assert!(run(
        &mut a,
        &mut b,
        &mut now,
        Duration::from_secs(10),
        &mut lossless(),
        &|a, b| up(a) && up(b)
    ));
    assert!(matches!(
        a.session
            .create_data_channel(now, "x", &DataChannelInit::default()),
        Err(SessionError::DataChannel(_))
    ));

    // B re-offers, now with m=application, actpass as a browser's re-offer.
    let reoffer = b.session.generate_offer(now).unwrap();
    assert!(
        reoffer.contains("m=application 9 UDP/DTLS/SCTP webrtc-datachannel"),
        "{reoffer}"
    );
    assert!(reoffer.contains("a=setup:actpass"), "{reoffer}");
    let reanswer = a.session.process_offer(&reoffer, now).unwrap();
    assert!(reanswer.contains("m=application 9"), "{reanswer}");
    // A stays the DTLS server: its answer says so (a browser refuses a reversed role).
    assert!(reanswer.contains("a=setup:passive"), "{reanswer}");
    assert!(!reanswer.contains("a=setup:active"), "{reanswer}");
    b.session.process_answer(&reanswer, now).unwrap();

    let from_a = open_channel(
        &mut a,
        &mut b,
        &mut now,
        "from-a",
        &DataChannelInit::default(),
    );
    let from_b = open_channel(
        &mut b,
        &mut a,
        &mut now,
        "from-b",
        &DataChannelInit::default(),
    );
    assert_eq!(from_a % 2, 1, "A is the DTLS server: odd ids");
    assert_eq!(from_b % 2, 0, "B is the DTLS client: even ids");
    a.session
        .send_data(now, from_a, false, &Bytes::from_static(b"hello B"))
        .unwrap();
    b.session
        .send_data(now, from_b, false, &Bytes::from_static(b"hello A"))
        .unwrap();
    assert!(run(
        &mut a,
        &mut b,
        &mut now,
        Duration::from_secs(5),
        &mut lossless(),
        &|a, b| !b.texts_on(from_a).is_empty() && !a.texts_on(from_b).is_empty()
    ));
    assert_eq!(b.texts_on(from_a), ["hello B"]);
    assert_eq!(a.texts_on(from_b), ["hello A"]);
}

/// Runs the pair without loss until both sides saw channel `id` closed, within 4 s:
/// within SCTP's retransmission timeout (1 s at least), well before our own 5 s close
/// timeout would close it without the peer's reset.
fn closes_both_ways_within_4_s(a: &mut Peer, b: &mut Peer, now: &mut Instant, id: u16) {
    let started = *now;
    let ok = run(
        a,
        b,
        now,
        Duration::from_secs(4),
        &mut lossless(),
        &|a, b| a.closed().contains(&id) && b.closed().contains(&id),
    );
    assert!(
        ok,
        "not closed after {:?}: {:?} / {:?}",
        *now - started,
        a.events,
        b.events
    );
}

/// A closes a channel while its message on another channel is lost: B cannot reset the
/// stream before every earlier TSN arrived (RFC 6525 "In progress"), does so when SCTP
/// resends the message, and must then reset its own side too, or A's channel waits
/// for it (until our 5 s close timeout; Chromium has none). rtc-sctp 0.21.1 performed
/// such a deferred reset without sending its own (vendor/rtc-sctp's patch).
#[test]
fn a_close_behind_a_lost_message_completes_both_ways() {
    let mut now = Instant::now();
    let (mut a, mut b) = connected_pair(&mut now);
    let init = DataChannelInit::default();
    let chat = open_channel(&mut a, &mut b, &mut now, "chat", &init);
    let other = open_channel(&mut a, &mut b, &mut now, "other", &init);
    a.session
        .send_data(now, other, false, &Bytes::from_static(b"lost once"))
        .unwrap();
    while a.session.poll_transmit().is_some() {}
    a.session.close_data_channel(now, chat).unwrap();
    closes_both_ways_within_4_s(&mut a, &mut b, &mut now, chat);
    assert_eq!(b.texts_on(other), vec!["lost once".to_owned()]);
}

/// The peer's side of a close is a stream reset of its own, sent with its answer to
/// ours. When that datagram is lost it must be sent again (RFC 6525 §5.1.1): the
/// closing side (Chromium has no timeout of its own) otherwise waits forever. rtc-sctp
/// 0.21.1 stored the request but armed no timer for it (vendor/rtc-sctp's patch).
#[test]
fn a_lost_stream_reset_answering_a_close_is_sent_again() {
    let mut now = Instant::now();
    let (mut a, mut b) = connected_pair(&mut now);
    let chat = open_channel(
        &mut a,
        &mut b,
        &mut now,
        "chat",
        &DataChannelInit::default(),
    );
    a.session.close_data_channel(now, chat).unwrap();
    // A's reset request reaches B; B's reply (its own reset request, then its answer)
    // loses its first datagram.
    while let Some(t) = a.session.poll_transmit() {
        b.session.handle_datagram(now, t.peer, t.local, &t.data);
    }
    let mut replies = std::iter::from_fn(|| b.session.poll_transmit()).collect::<Vec<_>>();
    assert!(!replies.is_empty(), "B answered nothing");
    replies.remove(0);
    for t in replies {
        a.session.handle_datagram(now, t.peer, t.local, &t.data);
    }
    closes_both_ways_within_4_s(&mut a, &mut b, &mut now, chat);
}
