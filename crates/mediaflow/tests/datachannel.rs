//! Data channels through the graph, on virtual time: two WebRtcEndpoints built with
//! `use_data_channels` in one pipeline; A is a Hello World loopback, B is fed by an
//! AppSource and feeds an AppSink on its DATA pads. Messages pushed into B go out on
//! the channel their buffer names (created on demand), A echoes each on the channel it
//! came in on, and they leave B's DATA source pad with their channel.

use std::sync::Arc;
use std::time::Duration;

use mediaflow::{
    AppSink, AppSource, Buffer, DataChannelMeta, Event, IceCandidate, MediaPipeline, MediaType,
    Runtime, WebRtcEndpoint,
};

fn endpoint(pipeline: &MediaPipeline) -> WebRtcEndpoint {
    WebRtcEndpoint::builder(pipeline)
        .network_interfaces(["lo"])
        .use_data_channels(true)
        .build()
        .unwrap()
}

fn candidates(events: &[Event]) -> Vec<IceCandidate> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IceCandidateFound(c) => Some(c.candidate.clone()),
            _ => None,
        })
        .collect()
}

fn message(label: &str, text: &str) -> Buffer {
    let mut b = Buffer::new(MediaType::Data, text.as_bytes().to_vec());
    b.data_channel = Some(DataChannelMeta {
        stream_id: 0,
        label: Arc::from(label),
        binary: false,
    });
    b
}

#[test]
fn loopback_echoes_data_channel_messages_through_the_graph() {
    let runtime = Runtime::builder().virtual_time(true).build().unwrap();
    let pipeline = MediaPipeline::builder().runtime(&runtime).build().unwrap();
    let (a, b) = (endpoint(&pipeline), endpoint(&pipeline));
    a.connect(&a).unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::new(&pipeline).unwrap();
    source.connect_media(&b, MediaType::Data).unwrap();
    b.connect_media(&sink, MediaType::Data).unwrap();
    let (a_events, b_events) = (a.events().unwrap(), b.events().unwrap());
    let (mut a_seen, mut b_seen) = (Vec::new(), Vec::new());

    let answer = a.process_offer(&b.generate_offer().unwrap()).unwrap();
    assert!(answer.contains("a=sctp-port:5000"), "{answer}");
    b.process_answer(&answer).unwrap();
    a.gather_candidates().unwrap();
    b.gather_candidates().unwrap();
    runtime.advance(Duration::ZERO).unwrap();

    // Until B can make a channel: its SCTP association is up once DTLS is.
    let mut api_channel = None;
    for _ in 0..2000 {
        let (na, nb): (Vec<Event>, Vec<Event>) =
            (a_events.try_iter().collect(), b_events.try_iter().collect());
        candidates(&na)
            .into_iter()
            .for_each(|c| b.add_ice_candidate(c).unwrap());
        candidates(&nb)
            .into_iter()
            .for_each(|c| a.add_ice_candidate(c).unwrap());
        a_seen.extend(na);
        b_seen.extend(nb);
        runtime.advance(Duration::from_millis(5)).unwrap();
        if api_channel.is_none() {
            api_channel = b.create_data_channel("api", true, None, None, "").ok();
        }
        let opened = b_seen
            .iter()
            .any(|e| matches!(e, Event::DataChannelOpened(o) if Some(o.channel_id) == api_channel));
        if opened {
            break;
        }
    }
    let api_channel = api_channel.expect("create_data_channel after negotiation");
    assert!(
        a_seen
            .iter()
            .any(|e| matches!(e, Event::DataChannelOpened(o) if o.channel_id == api_channel)),
        "A saw B's channel open: {a_seen:?}"
    );

    // Messages for a label B has no channel of: one is created for them, A accepts it
    // and echoes every message on it, in order.
    for i in 0..100 {
        source.push(message("chat", &format!("hello {i}"))).unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..2000 {
        runtime.advance(Duration::from_millis(5)).unwrap();
        got.extend(std::iter::from_fn(|| sink.try_recv()));
        if got.len() >= 100 {
            break;
        }
    }
    let texts: Vec<String> = got
        .iter()
        .map(|b| String::from_utf8_lossy(&b.data).into_owned())
        .collect();
    let want: Vec<String> = (0..100).map(|i| format!("hello {i}")).collect();
    assert_eq!(texts, want);
    let meta = got[0]
        .data_channel
        .clone()
        .expect("the channel travels with the buffer");
    assert_eq!(&*meta.label, "chat");
    assert!(!meta.binary);
    assert_ne!(meta.stream_id, api_channel);
    assert!(got.iter().all(|b| b.media_type == MediaType::Data));

    // A burst: 3,000 more, 250 per virtual millisecond, none lost between the
    // endpoints' sessions and the graph's bounded links, all in order.
    let mut burst = Vec::new();
    for chunk in 0..12 {
        for i in 0..250 {
            source
                .push(message("chat", &format!("burst {}", chunk * 250 + i)))
                .unwrap();
        }
        runtime.advance(Duration::from_millis(1)).unwrap();
        burst.extend(std::iter::from_fn(|| sink.try_recv()));
    }
    for _ in 0..2000 {
        if burst.len() >= 3000 {
            break;
        }
        runtime.advance(Duration::from_millis(5)).unwrap();
        burst.extend(std::iter::from_fn(|| sink.try_recv()));
    }
    let texts: Vec<String> = burst
        .iter()
        .map(|b| String::from_utf8_lossy(&b.data).into_owned())
        .collect();
    let want: Vec<String> = (0..3000).map(|i| format!("burst {i}")).collect();
    assert_eq!(texts.len(), 3000, "{} of 3000 came back", texts.len());
    assert_eq!(texts, want);

    // Closing B's API channel: DataChannelClosed on both endpoints.
    b.close_data_channel(api_channel).unwrap();
    let closed = |seen: &[Event]| {
        seen.iter()
            .any(|e| matches!(e, Event::DataChannelClosed(c) if c.channel_id == api_channel))
    };
    for _ in 0..1000 {
        runtime.advance(Duration::from_millis(5)).unwrap();
        a_seen.extend(a_events.try_iter());
        b_seen.extend(b_events.try_iter());
        if closed(&a_seen) && closed(&b_seen) {
            break;
        }
    }
    assert!(closed(&a_seen) && closed(&b_seen), "{a_seen:?}\n{b_seen:?}");
    let stats = a.data_channel_stats().unwrap();
    assert_eq!(stats.messages_received, 3100);
    assert_eq!(stats.messages_sent, 3100);
    assert!(b.close_data_channel(999).is_err());
    pipeline.release().unwrap();
}

#[test]
fn without_use_data_channels_the_calls_are_errors() {
    let runtime = Runtime::builder().virtual_time(true).build().unwrap();
    let pipeline = MediaPipeline::builder().runtime(&runtime).build().unwrap();
    let plain = WebRtcEndpoint::builder(&pipeline)
        .network_interfaces(["lo"])
        .build()
        .unwrap();
    let with = endpoint(&pipeline);
    let answer = plain
        .process_offer(&with.generate_offer().unwrap())
        .unwrap();
    assert!(answer.contains("m=application 0 "), "{answer}");
    with.process_answer(&answer).unwrap();
    for e in [&plain, &with] {
        assert!(matches!(
            e.create_data_channel("x", true, None, None, ""),
            Err(mediaflow::Error::WrongState(_))
        ));
    }
    pipeline.release().unwrap();
}
