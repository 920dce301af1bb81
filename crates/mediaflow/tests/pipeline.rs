//! The public API end to end: real worker and dispatcher threads, bounded waits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver};
use mediaflow::{
    AppSink, AppSource, Buffer, Error, Event, MediaElement, MediaFlowState, MediaPipeline,
    MediaType, PassThrough,
};

const WAIT: Duration = Duration::from_secs(5);

fn numbered(media_type: MediaType, n: u32) -> Buffer {
    Buffer::new(media_type, n.to_be_bytes().to_vec())
}

fn number(b: &Buffer) -> u32 {
    u32::from_be_bytes(b.data[..4].try_into().unwrap())
}

fn take(sink: &AppSink, count: usize) -> Vec<u32> {
    (0..count)
        .map(|i| {
            let b = sink
                .recv_timeout(WAIT)
                .unwrap_or_else(|| panic!("buffer {i} of {count} did not arrive"));
            number(&b)
        })
        .collect()
}

/// Waits for the first event matching `pred`, failing after `WAIT`.
fn wait_for(events: &Receiver<Event>, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + WAIT;
    loop {
        match events.recv_deadline(deadline) {
            Ok(e) if pred(&e) => return e,
            Ok(_) => {}
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

#[test]
fn buffers_pushed_at_a_source_come_out_of_every_connected_sink_in_order() {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let pass = PassThrough::new(&pipeline).unwrap();
    let sinks: Vec<_> = (0..3).map(|_| AppSink::new(&pipeline).unwrap()).collect();
    source.connect(&pass).unwrap();
    for sink in &sinks {
        pass.connect(sink).unwrap();
    }
    for n in 0..500 {
        source.push(numbered(MediaType::Video, n)).unwrap();
    }
    for sink in &sinks {
        assert_eq!(take(sink, 500), (0..500).collect::<Vec<_>>());
        assert_eq!(sink.dropped(), 0);
    }
    let conns = pass.get_sink_connections(Some(MediaType::Video)).unwrap();
    assert_eq!(conns.len(), 3);
    assert!(conns.iter().all(|c| c.source == *pass));
    pipeline.release().unwrap();
}

#[test]
fn connect_media_carries_only_that_media_type() {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::new(&pipeline).unwrap();
    source.connect_media(&sink, MediaType::Audio).unwrap();
    source.push(numbered(MediaType::Video, 1)).unwrap();
    source.push(numbered(MediaType::Audio, 2)).unwrap();
    let b = sink.recv_timeout(WAIT).unwrap();
    assert_eq!((b.media_type, number(&b)), (MediaType::Audio, 2));
    assert!(sink.recv_timeout(Duration::from_millis(100)).is_none());
    let conns = sink.get_source_connections(None).unwrap();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].media_type, MediaType::Audio);
    assert_eq!(conns[0].source, *source);
}

#[test]
fn a_new_connect_replaces_the_previous_source_of_the_sink() {
    let pipeline = MediaPipeline::new().unwrap();
    let a = AppSource::new(&pipeline).unwrap();
    let b = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::new(&pipeline).unwrap();
    let a_events = a.events().unwrap();
    let b_events = b.events().unwrap();
    a.connect(&sink).unwrap();
    b.connect_media(&sink, MediaType::Video).unwrap();

    // A loses only its video link to B; its audio and data links stay.
    let e = wait_for(&a_events, "ElementDisconnected on A", |e| {
        matches!(e, Event::ElementDisconnected(_))
    });
    let Event::ElementDisconnected(e) = e else {
        unreachable!()
    };
    assert_eq!(
        (e.sink.as_str(), e.media_type),
        (sink.id(), MediaType::Video)
    );
    assert_eq!(e.source, a.id());
    let e = wait_for(&b_events, "ElementConnected on B", |e| {
        matches!(e, Event::ElementConnected(_))
    });
    assert_eq!(e.source(), b.id());

    let feeding: Vec<_> = sink
        .get_source_connections(None)
        .unwrap()
        .into_iter()
        .map(|c| (c.source, c.media_type))
        .collect();
    let (a, b): (MediaElement, MediaElement) = (a.clone().into(), b.clone().into());
    assert_eq!(
        feeding,
        vec![
            (a.clone(), MediaType::Audio),
            (b.clone(), MediaType::Video),
            (a.clone(), MediaType::Data)
        ]
    );
}

#[test]
fn disconnect_while_flowing_stops_delivery() {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let pass = PassThrough::new(&pipeline).unwrap();
    let sink = AppSink::with_capacity(&pipeline, 100_000).unwrap();
    source.connect(&pass).unwrap();
    pass.connect(&sink).unwrap();
    let stop = Arc::new(AtomicUsize::new(0));
    let pusher = {
        let (source, stop) = (source.clone(), stop.clone());
        thread::spawn(move || {
            let mut n = 0;
            while stop.load(Ordering::Relaxed) == 0 && n < 1_000_000 {
                source.push(numbered(MediaType::Audio, n)).unwrap();
                n += 1;
                if n % 64 == 0 {
                    thread::sleep(Duration::from_micros(200));
                }
            }
        })
    };
    // Media flows...
    assert!(sink.recv_timeout(WAIT).is_some());
    pass.disconnect(&sink).unwrap();
    // ...and once what was already delivered is drained, nothing more comes.
    while sink.try_recv().is_some() {}
    thread::sleep(Duration::from_millis(200));
    assert!(
        sink.try_recv().is_none(),
        "delivery continued after disconnect"
    );
    stop.store(1, Ordering::Relaxed);
    pusher.join().unwrap();
    assert_eq!(
        pass.disconnect(&sink),
        Err(Error::NotConnected {
            source_id: pass.id().into(),
            sink_id: sink.id().into(),
            media_type: None
        })
    );
}

#[test]
fn media_flow_goes_flowing_then_not_flowing_after_the_idle_time() {
    let idle = Duration::from_millis(300);
    let pipeline = MediaPipeline::builder()
        .flow_idle_timeout(idle)
        .build()
        .unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let pass = PassThrough::new(&pipeline).unwrap();
    let sink = AppSink::new(&pipeline).unwrap();
    source.connect(&pass).unwrap();
    pass.connect(&sink).unwrap();
    let (tx, flow) = bounded(16);
    let tx2 = tx.clone();
    pass.on_media_flow_in_state_changed(move |e| {
        let _ = tx.send((
            "in",
            e.media_type,
            e.state,
            e.pad_name.clone(),
            Instant::now(),
        ));
    })
    .unwrap();
    pass.on_media_flow_out_state_changed(move |e| {
        let _ = tx2.send((
            "out",
            e.media_type,
            e.state,
            e.pad_name.clone(),
            Instant::now(),
        ));
    })
    .unwrap();
    assert!(!pass.is_media_flowing_in(MediaType::Video).unwrap());
    let sent = Instant::now();
    source.push(numbered(MediaType::Video, 7)).unwrap();
    let mut got: Vec<_> = (0..4)
        .map(|_| flow.recv_timeout(WAIT).expect("flow event"))
        .collect();
    let (in_flowing, out_flowing) = (&got[0], &got[1]);
    assert_eq!(
        (
            in_flowing.0,
            in_flowing.1,
            in_flowing.2,
            in_flowing.3.as_str()
        ),
        ("in", MediaType::Video, MediaFlowState::Flowing, "default")
    );
    assert_eq!(
        (out_flowing.0, out_flowing.2),
        ("out", MediaFlowState::Flowing)
    );
    got.sort_by_key(|e| e.0);
    let not_flowing: Vec<_> = got[..]
        .iter()
        .filter(|e| e.2 == MediaFlowState::NotFlowing)
        .collect();
    assert_eq!(not_flowing.len(), 2, "{got:?}");
    for e in not_flowing {
        assert!(e.4 >= sent + idle, "NotFlowing came before the idle time");
    }
    assert!(!pass.is_media_flowing_out(MediaType::Video).unwrap());
    // Only video flowed: no audio events at all.
    assert!(flow.recv_timeout(idle * 2).is_err());
}

#[test]
fn a_handler_that_calls_connect_does_not_deadlock() {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let pass = PassThrough::new(&pipeline).unwrap();
    let sink = AppSink::new(&pipeline).unwrap();
    let (done_tx, done) = bounded(1);
    {
        let (pass, sink) = (pass.clone(), sink.clone());
        source
            .on_element_connected(move |e| {
                if e.media_type == MediaType::Video {
                    // Calls into the pipeline from its own dispatcher thread, and waits
                    // for the answer.
                    let r = pass
                        .connect(&sink)
                        .and_then(|_| pass.get_sink_connections(None));
                    let _ = done_tx.send(r.map(|c| c.len()));
                }
            })
            .unwrap();
    }
    source.connect(&pass).unwrap();
    assert_eq!(done.recv_timeout(WAIT).expect("handler finished"), Ok(3));
    source.push(numbered(MediaType::Audio, 1)).unwrap();
    assert_eq!(take(&sink, 1), vec![1]);
}

#[test]
fn a_handler_may_release_its_own_pipeline() {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::new(&pipeline).unwrap();
    let (tx, rx) = bounded(1);
    let p = pipeline.clone();
    source
        .on_element_connected(move |_| {
            let _ = tx.send(p.release());
        })
        .unwrap();
    source.connect_media(&sink, MediaType::Audio).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Ok(()));
    assert!(pipeline.is_released());
    assert_eq!(
        source.push(numbered(MediaType::Audio, 1)),
        Err(Error::PipelineReleased)
    );
}

#[test]
fn a_panicking_handler_does_not_stop_event_delivery() {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let sink = AppSink::new(&pipeline).unwrap();
    source
        .on_element_connected(|_| panic!("handler bug"))
        .unwrap();
    let events = source.events().unwrap();
    source.connect_media(&sink, MediaType::Audio).unwrap();
    source.disconnect_media(&sink, MediaType::Audio).unwrap();
    wait_for(&events, "ElementDisconnected", |e| {
        matches!(e, Event::ElementDisconnected(_))
    });
}

#[test]
fn released_elements_and_pipelines_give_typed_errors() {
    let pipeline = MediaPipeline::new().unwrap();
    let a = PassThrough::new(&pipeline).unwrap();
    let b = PassThrough::new(&pipeline).unwrap();
    a.connect(&b).unwrap();
    let b_events = b.events().unwrap();
    let a_events = a.events().unwrap();
    b.release().unwrap();
    let released = Err(Error::ElementReleased(b.id().into()));
    assert_eq!(b.release(), released.clone());
    assert_eq!(b.get_tags().map(|_| ()), released.clone());
    assert_eq!(a.connect(&b), released.clone());
    assert_eq!(b.connect(&a), released.clone());
    assert_eq!(
        b.is_media_flowing_in(MediaType::Audio),
        Err(Error::ElementReleased(b.id().into()))
    );
    assert!(b.is_released());
    // Releasing the sink disconnected it: A reports each link, and sees no sinks left.
    for media_type in MediaType::ALL {
        wait_for(
            &a_events,
            "ElementDisconnected",
            |e| matches!(e, Event::ElementDisconnected(d) if d.media_type == media_type),
        );
    }
    assert!(a.get_sink_connections(None).unwrap().is_empty());
    // The released element's own subscriptions ended with it.
    assert!(b_events.recv_timeout(WAIT).is_err());
    assert_eq!(
        pipeline.get_children().unwrap(),
        vec![MediaElement::from(a.clone())]
    );

    pipeline.release().unwrap();
    assert_eq!(pipeline.release(), Err(Error::PipelineReleased));
    assert_eq!(a.connect(&a), Err(Error::PipelineReleased));
    assert_eq!(a.add_tag("k", "v"), Err(Error::PipelineReleased));
    assert_eq!(PassThrough::new(&pipeline), Err(Error::PipelineReleased));
    assert!(pipeline.events().is_err());
}

#[test]
fn elements_of_different_pipelines_cannot_be_connected() {
    let p1 = MediaPipeline::new().unwrap();
    let p2 = MediaPipeline::new().unwrap();
    let a = PassThrough::new(&p1).unwrap();
    let b = PassThrough::new(&p2).unwrap();
    assert_eq!(
        a.connect(&b),
        Err(Error::DifferentPipelines {
            source_id: a.id().into(),
            sink_id: b.id().into()
        })
    );
    assert!(a.get_sink_connections(None).unwrap().is_empty());
}

#[test]
fn events_carry_tags_when_asked_to() {
    let pipeline = MediaPipeline::new().unwrap();
    let a = PassThrough::new(&pipeline).unwrap();
    let b = PassThrough::new(&pipeline).unwrap();
    a.add_tag("room", "1").unwrap();
    a.add_tag("room", "2").unwrap();
    a.add_tag("user", "ana").unwrap();
    assert_eq!(a.get_tag("room").unwrap().as_deref(), Some("2"));
    a.remove_tag("user").unwrap();
    assert_eq!(a.get_tags().unwrap(), vec![("room".into(), "2".into())]);
    let events = pipeline.events().unwrap();
    a.connect_media(&b, MediaType::Data).unwrap();
    let e = wait_for(&events, "ElementConnected", |e| {
        e.type_name() == "ElementConnected"
    });
    assert!(e.tags().is_empty());
    a.set_send_tags_in_events(true).unwrap();
    a.disconnect(&b).unwrap();
    let e = wait_for(&events, "ElementDisconnected", |e| {
        e.type_name() == "ElementDisconnected"
    });
    assert_eq!(e.tags(), &[("room".to_string(), "2".to_string())]);
    assert!(e.timestamp_millis() > 1_600_000_000_000);
}

#[test]
fn an_element_connected_to_itself_is_a_loopback() {
    let pipeline = MediaPipeline::new().unwrap();
    let source = AppSource::new(&pipeline).unwrap();
    let pass = PassThrough::new(&pipeline).unwrap();
    let sink = AppSink::new(&pipeline).unwrap();
    source.connect_media(&pass, MediaType::Audio).unwrap();
    pass.connect_media(&sink, MediaType::Audio).unwrap();
    // The video pad loops into itself, as a WebRtcEndpoint does in the Hello World.
    pass.connect_media(&pass, MediaType::Video).unwrap();
    source.push(numbered(MediaType::Audio, 5)).unwrap();
    assert_eq!(take(&sink, 1), vec![5]);
    let into_pass = pass.get_source_connections(None).unwrap();
    assert_eq!(into_pass.len(), 2);
    assert!(into_pass
        .iter()
        .any(|c| c.source == *pass && c.sink == *pass && c.media_type == MediaType::Video));
    pipeline.release().unwrap();
}

#[test]
fn media_type_names_parse_like_kurentos() {
    assert_eq!(MediaType::parse("VIDEO"), Some(MediaType::Video));
    assert_eq!(MediaType::parse("audio"), Some(MediaType::Audio));
    assert_eq!(MediaType::parse("SCREEN"), None);
}
