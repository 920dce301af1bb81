//! MediaElement: the handle every element type derefs to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{unbounded, Receiver};
use mediaflow_graph::{Connection, ElementId, GraphError, MediaFlowState, MediaType};

use crate::error::{Error, Result};
use crate::events::{Event, DEFAULT_PAD};
use crate::pipeline::{ListenerId, MediaPipeline, PipelineCore};
use crate::registry::Scope;
use crate::task::PipelineTask;

/// What all handles of one element share with the worker.
pub(crate) struct ElementShared {
    pub(crate) id: ElementId,
    pub(crate) object_id: String,
    pub(crate) type_name: &'static str,
    /// Set by the worker when the element leaves the graph, so handles fail fast.
    pub(crate) released: AtomicBool,
}

/// A handle to an element of a pipeline (Kurento's `MediaElement`): cheap to clone,
/// usable from any thread. Typed handles (`PassThrough`, ...) deref to it.
#[derive(Clone)]
pub struct MediaElement {
    pub(crate) core: Arc<PipelineCore>,
    pub(crate) shared: Arc<ElementShared>,
}

impl std::fmt::Debug for MediaElement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MediaElement")
            .field(&self.shared.object_id)
            .finish()
    }
}

impl PartialEq for MediaElement {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.core, &other.core) && self.shared.id == other.shared.id
    }
}

impl Eq for MediaElement {}

impl AsRef<MediaElement> for MediaElement {
    fn as_ref(&self) -> &MediaElement {
        self
    }
}

/// One link between two elements (Kurento's `ElementConnectionData`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementConnectionData {
    /// The element whose source pad feeds the link.
    pub source: MediaElement,
    /// The element whose sink pad it feeds.
    pub sink: MediaElement,
    /// The media it carries.
    pub media_type: MediaType,
    /// Description of the source pad.
    pub source_description: String,
    /// Description of the sink pad.
    pub sink_description: String,
}

impl MediaElement {
    pub(crate) fn from_parts(core: Arc<PipelineCore>, shared: Arc<ElementShared>) -> Self {
        MediaElement { core, shared }
    }

    pub(crate) fn element_id(&self) -> ElementId {
        self.shared.id
    }

    /// The element's object id, unique in the process.
    pub fn id(&self) -> &str {
        &self.shared.object_id
    }

    /// Kurento's class name, e.g. `PassThrough`.
    pub fn type_name(&self) -> &'static str {
        self.shared.type_name
    }

    /// The pipeline the element belongs to.
    pub fn media_pipeline(&self) -> MediaPipeline {
        MediaPipeline {
            core: self.core.clone(),
        }
    }

    /// True once the element or its pipeline was released.
    pub fn is_released(&self) -> bool {
        self.shared.released.load(Ordering::Acquire) || self.media_pipeline().is_released()
    }

    /// Fails fast on a handle whose element or pipeline is gone.
    pub(crate) fn check(&self) -> Result<()> {
        if self.media_pipeline().is_released() {
            return Err(Error::PipelineReleased);
        }
        if self.shared.released.load(Ordering::Acquire) {
            return Err(Error::ElementReleased(self.shared.object_id.clone()));
        }
        Ok(())
    }

    fn graph_error(&self, other: &MediaElement, e: GraphError) -> Error {
        match e {
            GraphError::UnknownElement(id) if id == other.shared.id => {
                Error::ElementReleased(other.shared.object_id.clone())
            }
            GraphError::UnknownElement(_) => Error::ElementReleased(self.shared.object_id.clone()),
            GraphError::NotConnected { media_type, .. } => Error::NotConnected {
                source_id: self.shared.object_id.clone(),
                sink_id: other.shared.object_id.clone(),
                media_type,
            },
        }
    }

    /// Connects every media type (AUDIO, VIDEO, DATA) of this element to `sink`. The sink
    /// pads' previous sources are disconnected. An element may be connected to itself
    /// (a loopback).
    pub fn connect(&self, sink: &impl AsRef<MediaElement>) -> Result<()> {
        self.link(sink.as_ref(), None, true)
    }

    /// Connects one media type of this element to `sink`.
    pub fn connect_media(
        &self,
        sink: &impl AsRef<MediaElement>,
        media_type: MediaType,
    ) -> Result<()> {
        self.link(sink.as_ref(), Some(media_type), true)
    }

    /// Removes every link from this element to `sink`.
    pub fn disconnect(&self, sink: &impl AsRef<MediaElement>) -> Result<()> {
        self.link(sink.as_ref(), None, false)
    }

    /// Removes the link from this element to `sink` for one media type.
    pub fn disconnect_media(
        &self,
        sink: &impl AsRef<MediaElement>,
        media_type: MediaType,
    ) -> Result<()> {
        self.link(sink.as_ref(), Some(media_type), false)
    }

    fn link(
        &self,
        sink: &MediaElement,
        media_type: Option<MediaType>,
        connect: bool,
    ) -> Result<()> {
        self.check()?;
        if !Arc::ptr_eq(&self.core, &sink.core) {
            return Err(Error::DifferentPipelines {
                source_id: self.id().into(),
                sink_id: sink.id().into(),
            });
        }
        sink.check()?;
        let (source_id, sink_id) = (self.shared.id, sink.shared.id);
        let result = self.core.call(move |w| {
            let result = if connect {
                match media_type {
                    Some(m) => w.graph.connect(source_id, sink_id, m),
                    None => MediaType::ALL
                        .into_iter()
                        .try_for_each(|m| w.graph.connect(source_id, sink_id, m)),
                }
            } else {
                w.graph.disconnect(source_id, sink_id, media_type)
            };
            // Report the link change before the caller returns, in call order.
            w.flush_events();
            result
        })?;
        result.map_err(|e| self.graph_error(sink, e))
    }

    /// Links feeding this element (Kurento's `getSourceConnections`), for one media type or
    /// all.
    pub fn get_source_connections(
        &self,
        media_type: Option<MediaType>,
    ) -> Result<Vec<ElementConnectionData>> {
        self.connections(media_type, true)
    }

    /// Links fed by this element (Kurento's `getSinkConnections`), for one media type or
    /// all.
    pub fn get_sink_connections(
        &self,
        media_type: Option<MediaType>,
    ) -> Result<Vec<ElementConnectionData>> {
        self.connections(media_type, false)
    }

    fn connections(
        &self,
        media_type: Option<MediaType>,
        feeding_me: bool,
    ) -> Result<Vec<ElementConnectionData>> {
        self.check()?;
        let id = self.shared.id;
        let object_id = self.shared.object_id.clone();
        let parts = self.core.call(move |w| {
            let conns = if feeding_me {
                w.graph.source_connections(id, media_type)
            } else {
                w.graph.sink_connections(id, media_type)
            }
            .map_err(|_| Error::ElementReleased(object_id))?;
            let shared = |id: ElementId| w.elements.get(&id).map(|m| m.shared.clone());
            Ok::<_, Error>(
                conns
                    .into_iter()
                    .filter_map(|c: Connection| {
                        Some((shared(c.source)?, shared(c.sink)?, c.media_type))
                    })
                    .collect::<Vec<_>>(),
            )
        })??;
        Ok(parts
            .into_iter()
            .map(|(source, sink, media_type)| ElementConnectionData {
                source: MediaElement::from_parts(self.core.clone(), source),
                sink: MediaElement::from_parts(self.core.clone(), sink),
                media_type,
                source_description: DEFAULT_PAD.into(),
                sink_description: DEFAULT_PAD.into(),
            })
            .collect())
    }

    /// True while media arrives at this element's sink pad of `media_type`.
    pub fn is_media_flowing_in(&self, media_type: MediaType) -> Result<bool> {
        self.flowing(media_type, true)
    }

    /// True while media leaves this element's source pad of `media_type`.
    pub fn is_media_flowing_out(&self, media_type: MediaType) -> Result<bool> {
        self.flowing(media_type, false)
    }

    fn flowing(&self, media_type: MediaType, input: bool) -> Result<bool> {
        let state = self.with_meta(move |w, id| w.graph.flow_state(id, media_type, input).ok())?;
        Ok(state.flatten() == Some(MediaFlowState::Flowing))
    }

    /// Runs `f` on the worker with this element's id; `ElementReleased` when it is gone.
    fn with_meta<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut PipelineTask, ElementId) -> T + Send + 'static,
    ) -> Result<Option<T>> {
        self.check()?;
        let id = self.shared.id;
        let out = self
            .core
            .call(move |w| w.elements.contains_key(&id).then(|| f(w, id)))?;
        match out {
            Some(v) => Ok(Some(v)),
            None => Err(Error::ElementReleased(self.shared.object_id.clone())),
        }
    }

    /// Runs `f` on the worker with the element as its concrete type `E`, and the
    /// worker's time.
    pub(crate) fn with_element<E: mediaflow_graph::Element, T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut E, std::time::Instant) -> T + Send + 'static,
    ) -> Result<T> {
        self.check()?;
        let id = self.shared.id;
        let object_id = self.shared.object_id.clone();
        self.core.call(move |w| {
            let now = w.now;
            let element = w
                .graph
                .element_mut(id)
                .map_err(|_| Error::ElementReleased(object_id.clone()))?;
            let element = element.as_any_mut().downcast_mut::<E>().ok_or_else(|| {
                Error::Internal(format!("{object_id} is not of the expected type"))
            })?;
            Ok(f(element, now))
        })?
    }

    /// Sets a tag (Kurento's `addTag`); an existing tag of that key is replaced.
    pub fn add_tag(&self, key: &str, value: &str) -> Result<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.with_meta(move |w, id| {
            if let Some(meta) = w.elements.get_mut(&id) {
                meta.tags.retain(|(k, _)| *k != key);
                meta.tags.push((key, value));
            }
        })?;
        Ok(())
    }

    /// Removes a tag; removing an absent key is not an error.
    pub fn remove_tag(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.with_meta(move |w, id| {
            if let Some(meta) = w.elements.get_mut(&id) {
                meta.tags.retain(|(k, _)| *k != key);
            }
        })?;
        Ok(())
    }

    /// The value of a tag, if set.
    pub fn get_tag(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_owned();
        let tags = self.get_tags()?;
        Ok(tags.into_iter().find(|(k, _)| *k == key).map(|(_, v)| v))
    }

    /// All tags, in the order they were first set.
    pub fn get_tags(&self) -> Result<Vec<(String, String)>> {
        let tags = self.with_meta(|w, id| w.elements.get(&id).map(|m| m.tags.clone()))?;
        Ok(tags.flatten().unwrap_or_default())
    }

    /// Whether this element's events carry its tags (Kurento's `sendTagsInEvents`).
    pub fn set_send_tags_in_events(&self, send: bool) -> Result<()> {
        self.with_meta(move |w, id| {
            if let Some(meta) = w.elements.get_mut(&id) {
                meta.send_tags_in_events = send;
            }
        })?;
        Ok(())
    }

    /// A receiver of every event this element raises; dropping it unsubscribes.
    pub fn events(&self) -> Result<Receiver<Event>> {
        let (tx, rx) = unbounded();
        self.add_listener(None, move |e| tx.send(e.clone()).is_ok())?;
        Ok(rx)
    }

    /// Calls `handler` for every event this element raises, on the dispatcher thread.
    pub fn on_event<F>(&self, handler: F) -> Result<ListenerId>
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        self.add_listener(None, move |e| {
            handler(e);
            true
        })
    }

    pub(crate) fn add_listener(
        &self,
        event_type: Option<&'static str>,
        handler: impl Fn(&Event) -> bool + Send + Sync + 'static,
    ) -> Result<ListenerId> {
        self.check()?;
        self.core
            .add_listener(Scope::Element(self.shared.id), event_type, handler)
    }

    /// Removes a handler added with an `on_*` method; false if it was not there.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.core.remove_listener(id)
    }

    /// Removes the element from its pipeline: its links are disconnected (each reported
    /// as `ElementDisconnected` on the link's source), its handlers dropped, its memory
    /// freed. Further calls on it return [`Error::ElementReleased`].
    pub fn release(&self) -> Result<()> {
        self.check()?;
        let id = self.shared.id;
        if self.core.call_cx(move |w, cx| w.release_element(id, cx))? {
            Ok(())
        } else {
            Err(Error::ElementReleased(self.shared.object_id.clone()))
        }
    }
}
