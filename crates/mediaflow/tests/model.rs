//! Random connect / disconnect / release sequences against a model of Kurento's rules.
//! Every call must return what the model says (a deadlock shows as Error::Timeout), and
//! the connections the pipeline reports must be the model's.

use std::collections::BTreeSet;
use std::time::Duration;

use mediaflow::{Error, MediaElement, MediaPipeline, MediaType, PassThrough};
use proptest::prelude::*;

const ELEMENTS: usize = 5;

#[derive(Clone, Debug)]
enum Op {
    Connect(usize, usize, Option<MediaType>),
    Disconnect(usize, usize, Option<MediaType>),
    Release(usize),
}

fn media() -> impl Strategy<Value = Option<MediaType>> {
    prop_oneof![
        Just(None),
        Just(Some(MediaType::Audio)),
        Just(Some(MediaType::Video)),
        Just(Some(MediaType::Data)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let e = 0..ELEMENTS;
    prop_oneof![
        5 => (e.clone(), e.clone(), media()).prop_map(|(a, b, m)| Op::Connect(a, b, m)),
        3 => (e.clone(), e.clone(), media()).prop_map(|(a, b, m)| Op::Disconnect(a, b, m)),
        1 => e.prop_map(Op::Release),
    ]
}

/// (source, sink, media type) by element index.
type Links = BTreeSet<(usize, usize, MediaType)>;

struct Model {
    alive: [bool; ELEMENTS],
    links: Links,
}

impl Model {
    fn apply(&mut self, op: &Op, ids: &[String]) -> Result<(), Error> {
        let released = |i: usize| Error::ElementReleased(ids[i].clone());
        let types = |m: Option<MediaType>| m.map_or(MediaType::ALL.to_vec(), |m| vec![m]);
        match *op {
            Op::Connect(a, b, m) | Op::Disconnect(a, b, m) if !self.alive[a] || !self.alive[b] => {
                let _ = m;
                Err(released(if self.alive[a] { b } else { a }))
            }
            Op::Connect(a, b, m) => {
                for t in types(m) {
                    self.links.retain(|&(_, sink, mt)| !(sink == b && mt == t));
                    self.links.insert((a, b, t));
                }
                Ok(())
            }
            Op::Disconnect(a, b, m) => {
                let gone: Vec<_> = types(m)
                    .into_iter()
                    .map(|t| (a, b, t))
                    .filter(|l| self.links.contains(l))
                    .collect();
                if gone.is_empty() {
                    return Err(Error::NotConnected {
                        source_id: ids[a].clone(),
                        sink_id: ids[b].clone(),
                        media_type: m,
                    });
                }
                for l in gone {
                    self.links.remove(&l);
                }
                Ok(())
            }
            Op::Release(a) if !self.alive[a] => Err(released(a)),
            Op::Release(a) => {
                self.alive[a] = false;
                self.links.retain(|&(s, k, _)| s != a && k != a);
                Ok(())
            }
        }
    }
}

fn index_of(ids: &[String], e: &MediaElement) -> usize {
    ids.iter()
        .position(|id| id == e.id())
        .expect("a known element")
}

fn reported(elements: &[PassThrough], ids: &[String], alive: &[bool]) -> (Links, Links) {
    let (mut by_sink, mut by_source) = (Links::new(), Links::new());
    for (i, e) in elements.iter().enumerate().filter(|(i, _)| alive[*i]) {
        for c in e.get_source_connections(None).unwrap() {
            assert_eq!(index_of(ids, &c.sink), i);
            by_sink.insert((index_of(ids, &c.source), i, c.media_type));
        }
        for c in e.get_sink_connections(None).unwrap() {
            assert_eq!(index_of(ids, &c.source), i);
            by_source.insert((i, index_of(ids, &c.sink), c.media_type));
        }
    }
    (by_sink, by_source)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn connections_follow_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let pipeline = MediaPipeline::builder()
            .call_timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        let elements: Vec<_> = (0..ELEMENTS).map(|_| PassThrough::new(&pipeline).unwrap()).collect();
        let ids: Vec<String> = elements.iter().map(|e| e.id().to_string()).collect();
        let mut model = Model { alive: [true; ELEMENTS], links: Links::new() };
        for op in &ops {
            let got = match *op {
                Op::Connect(a, b, None) => elements[a].connect(&elements[b]),
                Op::Connect(a, b, Some(m)) => elements[a].connect_media(&elements[b], m),
                Op::Disconnect(a, b, None) => elements[a].disconnect(&elements[b]),
                Op::Disconnect(a, b, Some(m)) => elements[a].disconnect_media(&elements[b], m),
                Op::Release(a) => elements[a].release(),
            };
            let want = model.apply(op, &ids);
            prop_assert_eq!(&got, &want, "after {:?}", op);
            let (by_sink, by_source) = reported(&elements, &ids, &model.alive);
            prop_assert_eq!(&by_sink, &model.links);
            prop_assert_eq!(&by_source, &model.links);
        }
        let alive = model.alive.iter().filter(|a| **a).count();
        prop_assert_eq!(pipeline.get_children().unwrap().len(), alive);
        pipeline.release().unwrap();
    }
}
