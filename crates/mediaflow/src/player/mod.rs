//! PlayerEndpoint (Kurento's): plays a WebM, Matroska or MP4 file into the pipeline, VP8
//! (or H.264) and Opus as RTP on its VIDEO and AUDIO source pads, in real time (the graph's
//! transcoders convert for sinks that take other codecs).
//!
//! A reader thread per playback demuxes the file (`reader.rs`; MP4 in `mp4.rs`) into a
//! bounded channel; the element on the worker paces the frames by their timestamps
//! against the `now` it is given (its timers, no sleeping), packetizes them and hands
//! them to the graph.

pub(crate) mod avc;
mod mp4;
mod reader;

use std::any::Any;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::TryRecvError;
use mediaflow_graph::{Buffer, Element, ElementEvent, ErrorType, MediaType, UpstreamEvent};
use mediaflow_transcoder::rtp::{names, RtpPacketizer};

use crate::element::MediaElement;
use crate::error::{Error, Result};
use crate::events::{EndOfStreamEvent, Event};
use crate::pipeline::MediaPipeline;
use reader::{Command, FileInfo, Item, Media, OpenError, ReaderLink};

/// The player's own events, carried through the graph as `ElementEvent::Custom`.
#[derive(Debug)]
pub(crate) enum PlayerEvent {
    EndOfStream,
}

/// The public form of a [`PlayerEvent`].
pub(crate) fn public_event(event: PlayerEvent, source: String, timestamp_millis: u64) -> Event {
    match event {
        PlayerEvent::EndOfStream => Event::EndOfStream(EndOfStreamEvent {
            source,
            timestamp_millis,
            tags: Vec::new(),
        }),
    }
}

/// Error codes of the player's Error events.
fn error_code(t: ErrorType) -> i32 {
    match t {
        ErrorType::ResourceErrorOpen => 1,
        ErrorType::InvalidUri => 2,
        ErrorType::InvalidMedia => 3,
        ErrorType::StreamErrorFailed => 4,
        _ => 5,
    }
}

/// How often the element looks for frames while the reader has none ready.
const READER_POLL: Duration = Duration::from_millis(10);
/// A frame further than this (µs) from the time being played, ahead (a gap, not waited
/// out) or behind (a jump back), re-anchors the pacing on it.
const MAX_GAP_US: u64 = 5_000_000;
/// Frames sent at most per timer: a worker that was held up catches up over a few turns.
const MAX_FRAMES_PER_TURN: usize = 64;

/// Kurento's `VideoInfo` of a PlayerEndpoint's file. Times are in milliseconds.
///
/// ```
/// use mediaflow::VideoInfo;
///
/// // What `PlayerEndpoint::get_video_info` gives for a 10 s recording.
/// let info = VideoInfo { is_seekable: true, seekable_init: 0, seekable_end: 10_000, duration: 10_000 };
/// assert!(info.is_seekable && info.seekable_end == info.duration);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoInfo {
    /// Whether `set_position` can jump in the file (true for any file it can play).
    pub is_seekable: bool,
    /// The earliest position `set_position` takes.
    pub seekable_init: u64,
    /// The latest position `set_position` takes (the duration).
    pub seekable_end: u64,
    /// The file's duration, from its header (0 when the header has none, as in a file
    /// whose recorder was killed).
    pub duration: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not started, stopped, or at the end of the file: `play()` starts from the top.
    Stopped,
    Playing,
    Paused,
}

/// The graph side of a [`PlayerEndpoint`].
pub(crate) struct PlayerElement {
    state: State,
    link: Option<ReaderLink>,
    /// Tags the reader's items; a seek or a new start makes older items moot.
    generation: u64,
    /// The next frame, waiting for its time.
    next: Option<Media>,
    /// (instant, file time in µs) the pacing is anchored on; set by the first frame
    /// after a start, a seek or a resume.
    anchor: Option<(Instant, u64)>,
    /// File time (µs) while paused or waiting for the first frame.
    position: u64,
    /// When the element next looks for frames it lacks.
    poll_at: Option<Instant>,
    /// RTP timestamps follow the playout clock from here, so they keep going forward
    /// across pauses, seeks and restarts.
    epoch: Instant,
    rtp_base: u32,
    vp8: Option<RtpPacketizer>,
    h264: Option<RtpPacketizer>,
    audio: Option<RtpPacketizer>,
    out: VecDeque<Buffer>,
    events: VecDeque<ElementEvent>,
    keyframe_requests: Arc<AtomicU64>,
}

impl PlayerElement {
    fn new(now: Instant, keyframe_requests: Arc<AtomicU64>) -> PlayerElement {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        PlayerElement {
            state: State::Stopped,
            link: None,
            generation: 0,
            next: None,
            anchor: None,
            position: 0,
            poll_at: None,
            epoch: now,
            rtp_base: random as u32,
            vp8: RtpPacketizer::new(names::VP8, (random >> 32) as u32),
            h264: RtpPacketizer::new(names::H264, (random >> 32) as u32),
            audio: RtpPacketizer::new(names::OPUS, (random >> 32) as u32 ^ 0x5a5a_5a5a),
            out: VecDeque::new(),
            events: VecDeque::new(),
            keyframe_requests,
        }
    }

    fn error(&mut self, error_type: ErrorType, description: String) {
        tracing::warn!("player: {description}");
        self.events.push_back(ElementEvent::Error {
            error_type,
            error_code: error_code(error_type),
            description,
        });
    }

    /// Plays from the start with a new reader (drops the previous one: its thread ends).
    fn start(&mut self, link: ReaderLink, now: Instant) {
        self.link = Some(link);
        self.generation = 0;
        self.next = None;
        self.anchor = None;
        self.position = 0;
        self.state = State::Playing;
        self.poll_at = Some(now);
    }

    fn resume(&mut self, now: Instant) {
        if self.state == State::Paused {
            self.state = State::Playing;
            self.anchor = None;
            self.poll_at = Some(now);
        }
    }

    fn pause(&mut self, now: Instant) {
        if self.state == State::Playing {
            self.position = self.position_at(now);
            self.anchor = None;
            self.state = State::Paused;
            self.poll_at = None;
        }
    }

    /// Back to the start; the reader goes.
    fn stop(&mut self) {
        self.state = State::Stopped;
        self.link = None;
        self.next = None;
        self.anchor = None;
        self.position = 0;
        self.poll_at = None;
    }

    fn seek(&mut self, ms: u64, now: Instant) -> Result<()> {
        let Some(link) = &self.link else {
            return Err(Error::WrongState(
                "set_position needs a playing or paused player".into(),
            ));
        };
        self.generation += 1;
        link.commands
            .try_send(Command::Seek {
                generation: self.generation,
                ms,
            })
            .map_err(|_| Error::WrongState("too many seeks pending".into()))?;
        self.next = None;
        self.anchor = None;
        self.position = ms.saturating_mul(1000);
        if self.state == State::Playing {
            self.poll_at = Some(now);
        }
        Ok(())
    }

    /// The file time being played at `now`, in µs.
    fn position_at(&self, now: Instant) -> u64 {
        match (self.state, self.anchor) {
            (State::Playing, Some((at, us))) => {
                us.saturating_add(now.saturating_duration_since(at).as_micros() as u64)
            }
            _ => self.position,
        }
    }

    /// The next frame of the current generation, if the reader has one ready. `None`
    /// also when the stream ended (the state says so then).
    fn take_frame(&mut self) -> Option<Media> {
        loop {
            let link = self.link.as_ref()?;
            let (generation, item) = match link.items.try_recv() {
                Ok(i) => i,
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => (self.generation, Item::End),
            };
            if let Item::Frame(m) = &item {
                link.in_flight.fetch_sub(m.data.len(), Ordering::AcqRel);
            }
            // A failed download fails whatever seek came meanwhile (its thread tags it
            // with the generation it started with).
            if generation != self.generation && !matches!(item, Item::Failed(..)) {
                continue;
            }
            match item {
                Item::Frame(m) => return Some(m),
                Item::Error(error_type, description) => {
                    self.error(error_type, description);
                    self.end();
                }
                Item::End => self.end(),
                Item::Failed(error_type, description) => {
                    self.error(error_type, description);
                    self.stop();
                }
            }
            return None;
        }
    }

    /// The file ended: EndOfStream, media stops, the next `play()` starts over.
    fn end(&mut self) {
        self.stop();
        self.events
            .push_back(ElementEvent::Custom(Box::new(PlayerEvent::EndOfStream)));
    }

    /// Packetizes a frame due at `due` into the output queue.
    fn send(&mut self, m: Media, due: Instant) {
        let (packetizer, clock, media_type) = match m.codec {
            names::VP8 => (&mut self.vp8, 90_000u128, MediaType::Video),
            names::H264 => (&mut self.h264, 90_000, MediaType::Video),
            _ => (&mut self.audio, 48_000, MediaType::Audio),
        };
        let codec = m.codec;
        let Some(packetizer) = packetizer.as_mut() else {
            return;
        };
        let ticks = due.saturating_duration_since(self.epoch).as_micros() * clock / 1_000_000;
        let timestamp = self.rtp_base.wrapping_add(ticks as u32);
        for packet in packetizer.packetize(&m.data, timestamp) {
            let mut b = Buffer::new(media_type, packet);
            b.codec = Some(codec);
            b.keyframe = m.video && m.key;
            b.pts_micros = m.us;
            self.out.push_back(b);
        }
    }

    /// Sends every frame that is due; arranges the next wake-up.
    fn pace(&mut self, now: Instant) {
        self.poll_at = None;
        for _ in 0..MAX_FRAMES_PER_TURN {
            if self.state != State::Playing {
                return;
            }
            if self.next.is_none() {
                self.next = self.take_frame();
            }
            let Some(us) = self.next.as_ref().map(|m| m.us) else {
                if self.state == State::Playing {
                    self.poll_at = Some(now + READER_POLL);
                }
                return;
            };
            // A frame far from the time being played, either way (a damaged timestamp,
            // a hole in the file, recordings joined end to end): the pacing starts
            // again from it, so it plays next and the frames after it keep their pace.
            if let Some((at, base)) = self.anchor {
                let playing =
                    base.saturating_add(now.saturating_duration_since(at).as_micros() as u64);
                if us.abs_diff(playing) > MAX_GAP_US {
                    tracing::debug!(
                        "player: the file's time jumps from {} ms to {} ms; paced from there",
                        playing / 1000,
                        us / 1000
                    );
                    self.anchor = None;
                }
            }
            let (at, base) = *self.anchor.get_or_insert((now, us));
            let due = at + Duration::from_micros(us.saturating_sub(base));
            if due > now {
                self.poll_at = Some(due);
                return;
            }
            self.position = us;
            let m = self.next.take().expect("checked above");
            self.send(m, due);
        }
        self.poll_at = Some(now);
    }
}

impl Element for PlayerElement {
    fn type_name(&self) -> &'static str {
        "PlayerEndpoint"
    }

    fn handle_input(&mut self, _buffer: Buffer, _now: Instant) {}

    fn poll_output(&mut self) -> Option<Buffer> {
        self.out.pop_front()
    }

    fn handle_upstream(&mut self, media_type: MediaType, event: UpstreamEvent, _now: Instant) {
        match event {
            // A file cannot make a keyframe: the consumer waits for the file's next one.
            UpstreamEvent::KeyframeRequest if media_type == MediaType::Video => {
                if self.keyframe_requests.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::debug!("player: keyframe requested; the file's next one will do");
                }
            }
            UpstreamEvent::KeyframeRequest => {}
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.poll_at
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.pace(now);
    }

    fn poll_event(&mut self) -> Option<ElementEvent> {
        self.events.pop_front()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The local path of a `file://` URI, or why it is not one we take.
fn file_path(uri: &str) -> std::result::Result<PathBuf, String> {
    crate::recorder::file_path(uri).map_err(|e| match e {
        Error::InvalidArgument(why) => why,
        e => e.to_string(),
    })
}

/// Builds a [`PlayerEndpoint`] (Kurento's constructor parameters).
///
/// ```
/// use mediaflow::{MediaPipeline, PlayerEndpoint, PlayerEndpointBuilder};
///
/// let pipeline = MediaPipeline::new()?;
/// let builder: PlayerEndpointBuilder<'_> = PlayerEndpoint::builder(&pipeline, "file:///var/media/intro.webm");
/// let player = builder.build()?;
/// assert_eq!(player.uri(), "file:///var/media/intro.webm");
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Debug)]
pub struct PlayerEndpointBuilder<'a> {
    pipeline: &'a MediaPipeline,
    uri: String,
}

impl PlayerEndpointBuilder<'_> {
    /// Creates the endpoint. The URI is looked at by `play()` (as in Kurento, a bad
    /// one is an `Error` event then, INVALID_URI or RESOURCE_ERROR_OPEN).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PlayerEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // Not opened yet: building succeeds whatever the URI.
    /// let player = PlayerEndpoint::builder(&pipeline, "file:///no/such/file.webm").build()?;
    /// assert_eq!(player.uri(), "file:///no/such/file.webm");
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn build(self) -> Result<PlayerEndpoint> {
        let keyframe_requests = Arc::new(AtomicU64::new(0));
        let requests = keyframe_requests.clone();
        let element = self.pipeline.add_element_with(
            move |now| Ok(Box::new(PlayerElement::new(now, requests))),
            |_, _, _| Ok(()),
        )?;
        Ok(PlayerEndpoint {
            element,
            inner: Arc::new(Inner {
                uri: self.uri,
                dropped: Arc::new(AtomicU64::new(0)),
                keyframe_requests,
                play: Mutex::new(()),
                downloaded: Arc::new(Mutex::new(None)),
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    uri: String,
    dropped: Arc<AtomicU64>,
    keyframe_requests: Arc<AtomicU64>,
    /// Serialises `play()` so two callers cannot start two readers.
    play: Mutex<()>,
    /// The headers of the last http(s) download.
    downloaded: Arc<Mutex<Option<FileInfo>>>,
}

/// Whether `uri` is one the player downloads.
fn is_http(uri: &str) -> bool {
    let scheme = uri.split_once("://").map_or("", |(s, _)| s);
    scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
}

/// Plays a WebM, Matroska or MP4 file into the pipeline (Kurento's `PlayerEndpoint`): VP8
/// (or H.264) and Opus leave its VIDEO and AUDIO source pads as RTP, in real time. MP4 is
/// told by its content (an `ftyp` box first), fragmented (as RecorderEndpoint writes it;
/// a recording cut short plays up to its last whole sample) or plain, with H.264 and
/// Opus tracks (others are skipped). Events:
/// `EndOfStream`, and `Error` (INVALID_URI, RESOURCE_ERROR_OPEN, INVALID_MEDIA,
/// STREAM_ERROR_FAILED). URIs: `file:///absolute/path`, and `http://` / `https://`
/// (downloaded whole first, at most 2 GiB, then played).
///
/// ```
/// use mediaflow::{AppSink, Event, MediaPipeline, PlayerEndpoint};
/// use std::time::Duration;
///
/// let pipeline = MediaPipeline::new()?;
/// let player = PlayerEndpoint::builder(&pipeline, "file:///no/such/file.webm").build()?;
/// let screen = AppSink::new(&pipeline)?; // or a WebRtcEndpoint, a RecorderEndpoint...
/// player.connect(&screen)?;
/// let events = player.events()?;
/// player.play()?; // a file that cannot be opened is an Error event, as in Kurento
/// let error = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(5)).ok())
///     .find_map(|e| match e { Event::Error(e) => Some(e), _ => None })
///     .expect("an Error event");
/// assert_eq!(error.error_type.as_str(), "RESOURCE_ERROR_OPEN");
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct PlayerEndpoint {
    element: MediaElement,
    inner: Arc<Inner>,
}

impl std::ops::Deref for PlayerEndpoint {
    type Target = MediaElement;
    fn deref(&self) -> &MediaElement {
        &self.element
    }
}

impl AsRef<MediaElement> for PlayerEndpoint {
    fn as_ref(&self) -> &MediaElement {
        &self.element
    }
}

impl From<PlayerEndpoint> for MediaElement {
    fn from(handle: PlayerEndpoint) -> MediaElement {
        handle.element
    }
}

impl PlayerEndpoint {
    /// A builder for a player of `uri` (`file:///path/name.webm`).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PlayerEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let player = PlayerEndpoint::builder(&pipeline, "https://example.com/talk.webm").build()?;
    /// assert!(player.uri().starts_with("https://"));
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn builder<'a>(pipeline: &'a MediaPipeline, uri: &str) -> PlayerEndpointBuilder<'a> {
        PlayerEndpointBuilder {
            pipeline,
            uri: uri.to_owned(),
        }
    }

    /// The URI it plays.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PlayerEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let player = PlayerEndpoint::builder(&pipeline, "file:///var/media/intro.mkv").build()?;
    /// assert_eq!(player.uri(), "file:///var/media/intro.mkv");
    /// # pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn uri(&self) -> &str {
        &self.inner.uri
    }

    /// Frames skipped because they were larger than a frame can be (4 MiB): a corrupt
    /// or hostile file.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PlayerEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let player = PlayerEndpoint::builder(&pipeline, "file:///var/media/intro.mkv").build()?;
    /// assert_eq!(player.dropped_frames(), 0);
    /// # pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn dropped_frames(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Keyframe requests from consumers so far. A file cannot make a keyframe: they
    /// are counted and the consumer decodes from the file's next keyframe.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PlayerEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let player = PlayerEndpoint::builder(&pipeline, "file:///var/media/intro.mkv").build()?;
    /// assert_eq!(player.keyframe_requests(), 0); // nothing has asked yet
    /// # pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn keyframe_requests(&self) -> u64 {
        self.inner.keyframe_requests.load(Ordering::Relaxed)
    }

    fn raise(&self, e: OpenError) -> Result<()> {
        let OpenError {
            error_type,
            description,
        } = e;
        self.element
            .with_element(move |el: &mut PlayerElement, _| el.error(error_type, description))
    }

    /// Starts playing: from the beginning when stopped or at the end of the file, from
    /// where it was when paused. A local file is opened here, on the caller's thread: a
    /// URI that is neither `file:///...` nor http(s) raises an `Error` event INVALID_URI,
    /// a file that cannot be opened RESOURCE_ERROR_OPEN, one with nothing playable
    /// INVALID_MEDIA; the call itself then returns `Ok` (as Kurento's does) and nothing
    /// plays. An http(s) URI is downloaded by the player's thread (a failure is an
    /// `Error` RESOURCE_ERROR_OPEN then).
    ///
    /// ```
    /// use mediaflow::{Event, MediaPipeline, PlayerEndpoint};
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let player = PlayerEndpoint::builder(&pipeline, "ftp://example.com/a.webm").build()?;
    /// let events = player.events()?;
    /// player.play()?; // Ok: the URI's fault is reported as an event
    /// let error = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(5)).ok())
    ///     .find_map(|e| match e { Event::Error(e) => Some(e), _ => None })
    ///     .expect("an Error event");
    /// assert_eq!(error.error_type.as_str(), "INVALID_URI");
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn play(&self) -> Result<()> {
        let _serial = self
            .inner
            .play
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = self.element.with_element(|e: &mut PlayerElement, now| {
            e.resume(now);
            e.state
        })?;
        if state != State::Stopped {
            return Ok(());
        }
        if is_http(&self.inner.uri) {
            let link = reader::start_download(
                self.inner.uri.clone(),
                self.inner.dropped.clone(),
                self.inner.downloaded.clone(),
            );
            return match link {
                Ok(link) => self
                    .element
                    .with_element(move |e: &mut PlayerElement, now| e.start(link, now)),
                Err(e) => self.raise(e),
            };
        }
        let path = match file_path(&self.inner.uri) {
            Ok(p) => p,
            Err(description) => {
                return self.raise(OpenError {
                    error_type: ErrorType::InvalidUri,
                    description,
                })
            }
        };
        match reader::start(&path, self.inner.dropped.clone()) {
            Ok(link) => self
                .element
                .with_element(move |e: &mut PlayerElement, now| e.start(link, now)),
            Err(e) => self.raise(e),
        }
    }

    /// Pauses: media stops and the position holds; `play()` resumes from it.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PlayerEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let player = PlayerEndpoint::builder(&pipeline, "file:///var/media/intro.mkv").build()?;
    /// player.pause()?; // nothing playing: nothing to pause, and no error
    /// assert_eq!(player.get_position()?, 0);
    /// # pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn pause(&self) -> Result<()> {
        self.element
            .with_element(|e: &mut PlayerElement, now| e.pause(now))
    }

    /// Stops: media stops and the position goes back to the start.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PlayerEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let player = PlayerEndpoint::builder(&pipeline, "file:///var/media/intro.mkv").build()?;
    /// player.stop()?;
    /// assert_eq!(player.get_position()?, 0);
    /// # pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn stop(&self) -> Result<()> {
        self.element
            .with_element(|e: &mut PlayerElement, _| e.stop())
    }

    /// The position in the file, in milliseconds (Kurento's `position`).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PlayerEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let player = PlayerEndpoint::builder(&pipeline, "file:///var/media/intro.mkv").build()?;
    /// assert_eq!(player.get_position()?, 0); // not started
    /// # pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_position(&self) -> Result<u64> {
        self.element
            .with_element(|e: &mut PlayerElement, now| e.position_at(now) / 1000)
    }

    /// Jumps to `ms` milliseconds into the file while playing or paused. Playback
    /// resumes at the video keyframe at or before it (a decoder needs one to start).
    ///
    /// ```
    /// use mediaflow::{Error, MediaPipeline, PlayerEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let player = PlayerEndpoint::builder(&pipeline, "file:///var/media/intro.mkv").build()?;
    /// // A stopped player has no file open to jump in.
    /// assert!(matches!(player.set_position(5_000), Err(Error::WrongState(_))));
    /// # pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn set_position(&self, ms: u64) -> Result<()> {
        self.element
            .with_element(move |e: &mut PlayerElement, now| e.seek(ms, now))?
    }

    /// What the file holds (Kurento's `videoInfo`), read from its headers on the
    /// caller's thread (for an http(s) URI: from the last download). A URI or file it
    /// cannot play is a typed error here.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, PlayerEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let player = PlayerEndpoint::builder(&pipeline, "file:///no/such/file.webm").build()?;
    /// assert!(player.get_video_info().is_err());
    /// # pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn get_video_info(&self) -> Result<VideoInfo> {
        let info = if is_http(&self.inner.uri) {
            let downloaded = *self
                .inner
                .downloaded
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            downloaded.ok_or_else(|| {
                Error::WrongState("an http(s) file is known once play() downloaded it".into())
            })?
        } else {
            let path = file_path(&self.inner.uri).map_err(Error::InvalidArgument)?;
            reader::probe(&path).map_err(|e| match e.error_type {
                ErrorType::ResourceErrorOpen => Error::Resource(e.description),
                _ => Error::InvalidArgument(e.description),
            })?
        };
        let duration = info.duration_ms.unwrap_or(0);
        Ok(VideoInfo {
            is_seekable: true,
            seekable_init: 0,
            seekable_end: duration,
            duration,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(us: u64, video: bool) -> Item {
        let data = if video {
            vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]
        } else {
            vec![0xfc, 1, 2, 3]
        };
        Item::Frame(Media {
            video,
            codec: if video { names::VP8 } else { names::OPUS },
            us,
            key: true,
            data,
        })
    }

    fn drain(e: &mut PlayerElement) -> Vec<Buffer> {
        std::iter::from_fn(|| e.poll_output()).collect()
    }

    /// On virtual instants: each frame leaves at its time, stale generations are
    /// ignored, a long gap is not waited out, the end raises EndOfStream once.
    #[test]
    fn frames_leave_at_their_time() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut e = PlayerElement::new(t0, Arc::new(AtomicU64::new(0)));
        let (link, items, _commands) = reader::link_for_test();
        e.start(link, t0);
        for item in [
            (7, frame(0, true)),
            (0, frame(5_000, true)),
            (0, frame(15_000, false)),
            (0, frame(38_000, true)),
            (0, frame(60_000_000, true)),
            (0, Item::End),
        ] {
            items.send(item).unwrap();
        }
        assert_eq!(e.poll_timeout(), Some(t0));
        e.handle_timeout(t0);
        let out = drain(&mut e);
        assert_eq!(
            out.len(),
            1,
            "the first frame at once (a stale one skipped)"
        );
        assert_eq!(out[0].codec, Some(names::VP8));
        assert!(out[0].keyframe);
        assert_eq!(e.poll_timeout(), Some(ms(10)));
        e.handle_timeout(ms(10));
        let audio = drain(&mut e);
        assert_eq!(audio[0].codec, Some(names::OPUS));
        assert_eq!(e.poll_timeout(), Some(ms(33)));
        // Anchored on the first frame played (5 ms into the file).
        assert_eq!(e.position_at(ms(20)), 25_000);
        e.handle_timeout(ms(33));
        // The frame a minute later goes at once, then the end.
        assert_eq!(drain(&mut e).len(), 2);
        assert!(matches!(
            e.poll_event(),
            Some(ElementEvent::Custom(c)) if c.is::<PlayerEvent>()
        ));
        assert!(e.poll_event().is_none());
        assert_eq!(e.state, State::Stopped);
        assert_eq!(e.poll_timeout(), None);
    }

    /// On virtual instants: one damaged timestamp far ahead, or a jump back (recordings
    /// joined end to end), plays at once, and the frames after it keep their pace
    /// instead of all being due at once.
    #[test]
    fn frames_after_a_time_jump_keep_their_pace() {
        for (what, jump) in [("ahead", 60_000_000), ("back", 0)] {
            let t0 = Instant::now();
            let ms = |n| t0 + Duration::from_millis(n);
            let mut e = PlayerElement::new(t0, Arc::new(AtomicU64::new(0)));
            let (link, items, _commands) = reader::link_for_test();
            e.start(link, t0);
            // 30 fps from 30 s, with the third frame at `jump`, then on from there (back)
            // or from where it was (ahead).
            let after = if jump == 0 { 0 } else { 30_066_000 };
            let mut times = vec![30_000_000, 30_033_000, jump];
            times.extend((1..=20).map(|i| after + i * 33_000));
            for us in times {
                items.send((0, frame(us, true))).unwrap();
            }
            e.handle_timeout(t0);
            assert_eq!(drain(&mut e).len(), 1, "{what}");
            assert_eq!(e.poll_timeout(), Some(ms(33)), "{what}");
            e.handle_timeout(ms(33));
            // 30.033, the jump, and (ahead) the damaged frame's successor, which is
            // back on the file's time: each re-anchors and plays at once.
            let sent = drain(&mut e).len();
            let want = if jump == 0 { 2 } else { 3 };
            assert_eq!(sent, want, "{what}: the rest is not a burst");
            assert_eq!(
                e.poll_timeout(),
                Some(ms(66)),
                "{what}: the next frame 33 ms on"
            );
            e.handle_timeout(ms(66));
            assert_eq!(drain(&mut e).len(), 1, "{what}");
            assert_eq!(e.poll_timeout(), Some(ms(99)), "{what}");
        }
    }

    /// A download failing after a seek: the failure is reported (not dropped as stale
    /// and turned into EndOfStream by the disconnect).
    #[test]
    fn a_failed_download_after_a_seek_is_an_error() {
        let t0 = Instant::now();
        let mut e = PlayerElement::new(t0, Arc::new(AtomicU64::new(0)));
        let (link, items, _commands) = reader::link_for_test();
        e.start(link, t0);
        e.handle_timeout(t0);
        e.seek(500, t0).unwrap();
        items
            .send((
                0,
                Item::Failed(ErrorType::ResourceErrorOpen, "connection refused".into()),
            ))
            .unwrap();
        drop(items);
        e.handle_timeout(t0 + Duration::from_millis(10));
        assert!(matches!(
            e.poll_event(),
            Some(ElementEvent::Error {
                error_type: ErrorType::ResourceErrorOpen,
                ..
            })
        ));
        assert!(e.poll_event().is_none(), "no EndOfStream");
        assert_eq!(e.state, State::Stopped);
    }

    #[test]
    fn rtp_timestamps_follow_the_playout_clock_across_a_pause() {
        let t0 = Instant::now();
        let mut e = PlayerElement::new(t0, Arc::new(AtomicU64::new(0)));
        let (link, items, _commands) = reader::link_for_test();
        e.start(link, t0);
        items.send((0, frame(0, true))).unwrap();
        items.send((0, frame(100_000, true))).unwrap();
        e.handle_timeout(t0);
        let first = drain(&mut e);
        e.pause(t0 + Duration::from_millis(50));
        assert_eq!(e.poll_timeout(), None, "paused: no timer");
        e.resume(t0 + Duration::from_millis(1050));
        e.handle_timeout(t0 + Duration::from_millis(1050));
        let second = drain(&mut e);
        let ts = |b: &Buffer| u32::from_be_bytes([b.data[4], b.data[5], b.data[6], b.data[7]]);
        // A second and 50 ms of playout clock at 90 kHz.
        assert_eq!(ts(&second[0]).wrapping_sub(ts(&first[0])), 94_500);
    }

    #[test]
    fn only_absolute_file_uris_are_taken() {
        assert_eq!(
            file_path("file:///tmp/a%20b.webm").unwrap(),
            PathBuf::from("/tmp/a b.webm")
        );
        assert!(file_path("http://x/y.webm").is_err());
        assert!(file_path("file://relative.webm").is_err());
        assert!(file_path("garbage").is_err());
    }
}
