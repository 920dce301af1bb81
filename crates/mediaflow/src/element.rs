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
///
/// ```
/// use mediaflow::{MediaElement, MediaPipeline, PassThrough};
///
/// let pipeline = MediaPipeline::new()?;
/// let pass = PassThrough::new(&pipeline)?;
/// // A typed handle derefs to MediaElement, and converts into one.
/// assert_eq!(pass.type_name(), "PassThrough");
/// let element: MediaElement = pass.clone().into();
/// assert_eq!(element.id(), pass.id());
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
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
///
/// ```
/// use mediaflow::{MediaPipeline, MediaType, PassThrough};
///
/// let pipeline = MediaPipeline::new()?;
/// let a = PassThrough::new(&pipeline)?;
/// let b = PassThrough::new(&pipeline)?;
/// a.connect_media(&b, MediaType::Video)?;
/// let links = b.get_source_connections(None)?;
/// assert_eq!(links.len(), 1);
/// assert_eq!((&links[0].source, &links[0].sink), (&*a, &*b));
/// assert_eq!(links[0].media_type, MediaType::Video);
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
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
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// assert!(pass.id().ends_with("_mediaflow.PassThrough")); // what events name as `source`
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn id(&self) -> &str {
        &self.shared.object_id
    }

    /// Kurento's class name, e.g. `PassThrough`.
    ///
    /// ```
    /// use mediaflow::{AppSink, MediaPipeline};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// assert_eq!(AppSink::new(&pipeline)?.type_name(), "AppSink");
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn type_name(&self) -> &'static str {
        self.shared.type_name
    }

    /// The pipeline the element belongs to.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// assert_eq!(pass.media_pipeline(), pipeline);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn media_pipeline(&self) -> MediaPipeline {
        MediaPipeline {
            core: self.core.clone(),
        }
    }

    /// True once the element or its pipeline was released.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = PassThrough::new(&pipeline)?;
    /// let b = PassThrough::new(&pipeline)?;
    /// a.release()?;
    /// assert!(a.is_released() && !b.is_released());
    /// pipeline.release()?;
    /// assert!(b.is_released()); // released with its pipeline
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = PassThrough::new(&pipeline)?;
    /// let b = PassThrough::new(&pipeline)?;
    /// a.connect(&b)?; // AUDIO, VIDEO and DATA
    /// assert_eq!(a.get_sink_connections(None)?.len(), 3);
    /// // Elements of another pipeline cannot be linked.
    /// let other = MediaPipeline::new()?;
    /// let c = PassThrough::new(&other)?;
    /// assert!(matches!(a.connect(&c), Err(mediaflow::Error::DifferentPipelines { .. })));
    /// pipeline.release()?;
    /// other.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn connect(&self, sink: &impl AsRef<MediaElement>) -> Result<()> {
        self.link(sink.as_ref(), None, true)
    }

    /// Connects one media type of this element to `sink`.
    ///
    /// ```
    /// use mediaflow::{AppSink, AppSource, MediaPipeline, MediaType};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let source = AppSource::new(&pipeline)?;
    /// let sink = AppSink::new(&pipeline)?;
    /// source.connect_media(&sink, MediaType::Audio)?; // audio only
    /// assert_eq!(sink.get_source_connections(Some(MediaType::Video))?.len(), 0);
    /// assert_eq!(sink.get_source_connections(Some(MediaType::Audio))?.len(), 1);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn connect_media(
        &self,
        sink: &impl AsRef<MediaElement>,
        media_type: MediaType,
    ) -> Result<()> {
        self.link(sink.as_ref(), Some(media_type), true)
    }

    /// Removes every link from this element to `sink`.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = PassThrough::new(&pipeline)?;
    /// let b = PassThrough::new(&pipeline)?;
    /// a.connect(&b)?;
    /// a.disconnect(&b)?;
    /// assert!(a.get_sink_connections(None)?.is_empty());
    /// // Nothing left to remove: a typed error, not a panic.
    /// assert!(matches!(a.disconnect(&b), Err(mediaflow::Error::NotConnected { .. })));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn disconnect(&self, sink: &impl AsRef<MediaElement>) -> Result<()> {
        self.link(sink.as_ref(), None, false)
    }

    /// Removes the link from this element to `sink` for one media type.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, MediaType, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = PassThrough::new(&pipeline)?;
    /// let b = PassThrough::new(&pipeline)?;
    /// a.connect(&b)?;
    /// a.disconnect_media(&b, MediaType::Data)?;
    /// let left: Vec<MediaType> = a.get_sink_connections(None)?.iter().map(|c| c.media_type).collect();
    /// assert!(left.contains(&MediaType::Audio) && left.contains(&MediaType::Video));
    /// assert!(!left.contains(&MediaType::Data));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, MediaType, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = PassThrough::new(&pipeline)?;
    /// let b = PassThrough::new(&pipeline)?;
    /// a.connect(&b)?;
    /// let video = b.get_source_connections(Some(MediaType::Video))?;
    /// assert_eq!(video[0].source, *a);
    /// assert_eq!(b.get_source_connections(None)?.len(), 3);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_source_connections(
        &self,
        media_type: Option<MediaType>,
    ) -> Result<Vec<ElementConnectionData>> {
        self.connections(media_type, true)
    }

    /// Links fed by this element (Kurento's `getSinkConnections`), for one media type or
    /// all.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, MediaType, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = PassThrough::new(&pipeline)?;
    /// let (b, c) = (PassThrough::new(&pipeline)?, PassThrough::new(&pipeline)?);
    /// a.connect_media(&b, MediaType::Video)?;
    /// a.connect_media(&c, MediaType::Video)?; // one source may feed many sinks
    /// let sinks: Vec<_> = a.get_sink_connections(Some(MediaType::Video))?.into_iter().map(|l| l.sink).collect();
    /// assert_eq!(sinks, vec![(*b).clone(), (*c).clone()]);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType};
    /// use std::time::{Duration, Instant};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let source = AppSource::new(&pipeline)?;
    /// let sink = AppSink::new(&pipeline)?;
    /// source.connect(&sink)?;
    /// assert!(!sink.is_media_flowing_in(MediaType::Video)?);
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// while !sink.is_media_flowing_in(MediaType::Video)? {
    ///     assert!(Instant::now() < deadline);
    ///     source.push(Buffer::new(MediaType::Video, &b"frame"[..]))?;
    ///     std::thread::sleep(Duration::from_millis(10));
    /// }
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn is_media_flowing_in(&self, media_type: MediaType) -> Result<bool> {
        self.flowing(media_type, true)
    }

    /// True while media leaves this element's source pad of `media_type`.
    ///
    /// ```
    /// use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType};
    /// use std::time::{Duration, Instant};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let source = AppSource::new(&pipeline)?;
    /// let sink = AppSink::new(&pipeline)?;
    /// source.connect(&sink)?;
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// while !source.is_media_flowing_out(MediaType::Audio)? {
    ///     assert!(Instant::now() < deadline);
    ///     source.push(Buffer::new(MediaType::Audio, &b"sample"[..]))?;
    ///     std::thread::sleep(Duration::from_millis(10));
    /// }
    /// assert!(!source.is_media_flowing_out(MediaType::Video)?);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// pass.add_tag("room", "42")?;
    /// pass.add_tag("room", "43")?; // replaces
    /// assert_eq!(pass.get_tag("room")?.as_deref(), Some("43"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// pass.add_tag("user", "ana")?;
    /// pass.remove_tag("user")?;
    /// pass.remove_tag("never-set")?; // not an error
    /// assert_eq!(pass.get_tag("user")?, None);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// assert_eq!(pass.get_tag("user")?, None);
    /// pass.add_tag("user", "ana")?;
    /// assert_eq!(pass.get_tag("user")?.as_deref(), Some("ana"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_tag(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_owned();
        let tags = self.get_tags()?;
        Ok(tags.into_iter().find(|(k, _)| *k == key).map(|(_, v)| v))
    }

    /// All tags, in the order they were first set.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// pass.add_tag("b", "2")?;
    /// pass.add_tag("a", "1")?;
    /// assert_eq!(pass.get_tags()?, vec![("b".into(), "2".into()), ("a".into(), "1".into())]);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_tags(&self) -> Result<Vec<(String, String)>> {
        let tags = self.with_meta(|w, id| w.elements.get(&id).map(|m| m.tags.clone()))?;
        Ok(tags.flatten().unwrap_or_default())
    }

    /// Whether this element's events carry its tags (Kurento's `sendTagsInEvents`).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// pass.add_tag("call", "7")?;
    /// pass.set_send_tags_in_events(true)?;
    /// let events = pass.events()?;
    /// pass.connect(&pass)?;
    /// let e = events.recv_timeout(Duration::from_secs(5)).expect("ElementConnected");
    /// assert_eq!(e.tags(), &[("call".to_string(), "7".to_string())]);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn set_send_tags_in_events(&self, send: bool) -> Result<()> {
        self.with_meta(move |w, id| {
            if let Some(meta) = w.elements.get_mut(&id) {
                meta.send_tags_in_events = send;
            }
        })?;
        Ok(())
    }

    /// A receiver of every event this element raises; dropping it unsubscribes.
    ///
    /// ```
    /// use mediaflow::{Event, MediaPipeline, PassThrough};
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = PassThrough::new(&pipeline)?;
    /// let b = PassThrough::new(&pipeline)?;
    /// let events = a.events()?; // a's events only
    /// a.connect(&b)?;
    /// match events.recv_timeout(Duration::from_secs(5)) {
    ///     Ok(Event::ElementConnected(c)) => assert_eq!(c.sink, b.id()),
    ///     other => panic!("{other:?}"),
    /// }
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn events(&self) -> Result<Receiver<Event>> {
        let (tx, rx) = unbounded();
        self.add_listener(None, move |e| tx.send(e.clone()).is_ok())?;
        Ok(rx)
    }

    /// Calls `handler` for every event this element raises, on the dispatcher thread.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// // Runs on a dispatcher thread of the runtime, in event order; may call the API.
    /// pass.on_event(move |e| {
    ///     let _ = tx.send(e.type_name());
    /// })?;
    /// pass.connect(&pass)?;
    /// assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap(), "ElementConnected");
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let pass = PassThrough::new(&pipeline)?;
    /// let id = pass.on_event(|e| println!("{}", e.type_name()))?;
    /// assert!(pass.remove_listener(id));
    /// assert!(!pass.remove_listener(id));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.core.remove_listener(id)
    }

    /// Removes the element from its pipeline: its links are disconnected (each reported
    /// as `ElementDisconnected` on the link's source), its handlers dropped, its memory
    /// freed. Further calls on it return [`Error::ElementReleased`].
    ///
    /// ```
    /// use mediaflow::{Error, MediaPipeline, PassThrough};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let a = PassThrough::new(&pipeline)?;
    /// let b = PassThrough::new(&pipeline)?;
    /// a.connect(&b)?;
    /// b.release()?; // its links go, reported as ElementDisconnected on `a`
    /// assert!(a.get_sink_connections(None)?.is_empty());
    /// assert!(matches!(b.add_tag("k", "v"), Err(Error::ElementReleased(_))));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
