//! Graph events in Kurento's terms: which public event each becomes, on which element,
//! with the element's tags when it sends them.

use rustc_hash::FxHashMap as HashMap;

use mediaflow_graph::{Connection, ElementEvent, ElementId, GraphEvent};

use crate::events::{
    now_millis, ElementConnectedEvent, ElementDisconnectedEvent, ErrorEvent, Event,
    MediaFlowInStateChangedEvent, MediaFlowOutStateChangedEvent, MediaTranscodingStateChangedEvent,
    DEFAULT_PAD,
};
use crate::registry::Scope;
use crate::task::ElementMeta;

/// The pipeline's elements as event translation sees them.
pub(crate) struct Elements<'a>(pub(crate) &'a HashMap<ElementId, ElementMeta>);

impl Elements<'_> {
    fn object_id(&self, id: ElementId) -> String {
        self.0
            .get(&id)
            .map_or_else(String::new, |m| m.shared.object_id.clone())
    }

    pub(crate) fn public_event(&self, event: GraphEvent) -> Option<(Scope, Event)> {
        let (element, event) = match event {
            GraphEvent::ElementConnected(c) => (c.source, self.link_event(c, true)),
            GraphEvent::ElementDisconnected(c) => (c.source, self.link_event(c, false)),
            GraphEvent::MediaFlowIn {
                element,
                media_type,
                state,
            } => (
                element,
                Event::MediaFlowInStateChanged(MediaFlowInStateChangedEvent {
                    source: self.object_id(element),
                    timestamp_millis: now_millis(),
                    tags: Vec::new(),
                    state,
                    pad_name: DEFAULT_PAD.into(),
                    media_type,
                }),
            ),
            GraphEvent::MediaFlowOut {
                element,
                media_type,
                state,
            } => (
                element,
                Event::MediaFlowOutStateChanged(MediaFlowOutStateChangedEvent {
                    source: self.object_id(element),
                    timestamp_millis: now_millis(),
                    tags: Vec::new(),
                    state,
                    pad_name: DEFAULT_PAD.into(),
                    media_type,
                }),
            ),
            GraphEvent::Element { element, event } => {
                let source = self.object_id(element);
                let timestamp_millis = now_millis();
                let event = match event {
                    ElementEvent::Error {
                        error_type,
                        error_code,
                        description,
                    } => Event::Error(ErrorEvent {
                        source,
                        timestamp_millis,
                        tags: Vec::new(),
                        description,
                        error_code,
                        error_type,
                    }),
                    ElementEvent::TranscodingStateChanged {
                        media_type,
                        state,
                        bin_name,
                    } => Event::MediaTranscodingStateChanged(MediaTranscodingStateChangedEvent {
                        source,
                        timestamp_millis,
                        tags: Vec::new(),
                        state,
                        bin_name,
                        media_type,
                    }),
                    ElementEvent::Custom(any) => {
                        match any.downcast::<mediaflow_rtp::SessionEvent>() {
                            Ok(e) => crate::webrtc::public_event(*e, source, timestamp_millis)?,
                            Err(any) => match any.downcast::<crate::recorder::RecorderEvent>() {
                                Ok(e) => {
                                    crate::recorder::public_event(*e, source, timestamp_millis)
                                }
                                Err(any) => match any.downcast::<crate::player::PlayerEvent>() {
                                    Ok(e) => {
                                        crate::player::public_event(*e, source, timestamp_millis)
                                    }
                                    Err(_) => {
                                        tracing::debug!(%element, "element event with no public form dropped");
                                        return None;
                                    }
                                },
                            },
                        }
                    }
                };
                (element, event)
            }
        };
        let mut event = event;
        let meta = self.0.get(&element)?;
        if meta.send_tags_in_events {
            *event.tags_mut() = meta.tags.clone();
        }
        Some((Scope::Element(element), event))
    }

    fn link_event(&self, c: Connection, connected: bool) -> Event {
        let source = self.object_id(c.source);
        let sink = self.object_id(c.sink);
        let timestamp_millis = now_millis();
        let media_type = c.media_type;
        let pad = || DEFAULT_PAD.to_string();
        if connected {
            Event::ElementConnected(ElementConnectedEvent {
                source,
                timestamp_millis,
                tags: Vec::new(),
                sink,
                media_type,
                source_media_description: pad(),
                sink_media_description: pad(),
            })
        } else {
            Event::ElementDisconnected(ElementDisconnectedEvent {
                source,
                timestamp_millis,
                tags: Vec::new(),
                sink,
                media_type,
                source_media_description: pad(),
                sink_media_description: pad(),
            })
        }
    }
}
