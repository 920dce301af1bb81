//! RecorderEndpoint (Kurento's): stores the media reaching its sink pads in a WebM,
//! Matroska or fragmented MP4 file, as it arrives when the container takes its codec
//! (VP8 and Opus; H.264 too in Matroska; H.264 and Opus in MP4: no re-encoding); other
//! codecs reach it through the graph's transcoders.
//!
//! The element lives on the pipeline's worker and only depacketizes and timestamps;
//! a writer thread per recording owns the file, fed through a bounded channel (frames
//! are dropped and counted when it is full, so a slow disk never stalls media).

mod avc;
pub(crate) mod mkv;
pub(crate) mod mp4;
mod sync;
mod writer;

use std::any::Any;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use mediaflow_graph::{Buffer, Element, ElementEvent, ErrorType, MediaType, UpstreamEvent};
use mediaflow_transcoder::rtp::{names, Assembled, FrameAssembler};

use crate::element::MediaElement;
use crate::error::{Error, Result};
use crate::events::{Event, PausedEvent, RecordingEvent, StoppedEvent};
use crate::pipeline::MediaPipeline;
use sync::SenderSync;
use writer::{Container, Frame, Layout, Shared, Status, VideoCodec};

/// Kurento's `MediaProfileSpecType`: the container and which media it keeps.
///
/// Each profile stores as they arrive the codecs its container takes: Opus audio; VP8
/// video in WebM; VP8 or H.264 video in Matroska (the first video keyframe stored
/// chooses, and a later source of the other codec is converted to it); H.264 video in
/// MP4. Other codecs, H.264 into WebM and VP8 into MP4 among them, are transcoded by the
/// graph on the way in (MediaTranscodingStateChanged TRANSCODING on the link's source).
///
/// MP4 files are fragmented (a `moof` + `mdat` fragment a second or so, at video
/// keyframes), so a recording whose process died plays up to its last fragment. An MP4
/// file with video starts at its first H.264 keyframe (audio is held meanwhile, at most
/// 5 s: older audio is dropped and counted); one that got no video has no video track.
///
/// ```
/// use mediaflow::MediaProfile;
///
/// assert_eq!(MediaProfile::parse("webm_video_only"), Some(MediaProfile::WebmVideoOnly));
/// assert_eq!(MediaProfile::Mkv.as_str(), "MKV");
/// assert_eq!(MediaProfile::parse("mp4"), Some(MediaProfile::Mp4));
/// assert_eq!(MediaProfile::parse("MP3"), None); // not a profile
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaProfile {
    /// WebM with VP8 video and Opus audio (H.264 is transcoded to VP8).
    Webm,
    /// WebM, Opus audio only.
    WebmAudioOnly,
    /// WebM, VP8 video only (H.264 is transcoded to VP8).
    WebmVideoOnly,
    /// Matroska with VP8 or H.264 video, as it comes, and Opus audio.
    Mkv,
    /// Matroska, Opus audio only.
    MkvAudioOnly,
    /// Matroska, VP8 or H.264 video only, as it comes.
    MkvVideoOnly,
    /// Fragmented MP4 with H.264 video and Opus audio (VP8 is transcoded to H.264).
    Mp4,
    /// Fragmented MP4, Opus audio only.
    Mp4AudioOnly,
    /// Fragmented MP4, H.264 video only (VP8 is transcoded to H.264).
    Mp4VideoOnly,
}

impl MediaProfile {
    /// Every profile, for iteration.
    ///
    /// ```
    /// use mediaflow::MediaProfile;
    ///
    /// for p in MediaProfile::ALL {
    ///     assert_eq!(MediaProfile::parse(p.as_str()), Some(p));
    /// }
    /// ```
    pub const ALL: [MediaProfile; 9] = [
        MediaProfile::Webm,
        MediaProfile::WebmAudioOnly,
        MediaProfile::WebmVideoOnly,
        MediaProfile::Mkv,
        MediaProfile::MkvAudioOnly,
        MediaProfile::MkvVideoOnly,
        MediaProfile::Mp4,
        MediaProfile::Mp4AudioOnly,
        MediaProfile::Mp4VideoOnly,
    ];

    /// Kurento's spelling (`WEBM`, `MKV_AUDIO_ONLY` ...).
    ///
    /// ```
    /// use mediaflow::MediaProfile;
    ///
    /// assert_eq!(MediaProfile::WebmAudioOnly.as_str(), "WEBM_AUDIO_ONLY");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            MediaProfile::Webm => "WEBM",
            MediaProfile::WebmAudioOnly => "WEBM_AUDIO_ONLY",
            MediaProfile::WebmVideoOnly => "WEBM_VIDEO_ONLY",
            MediaProfile::Mkv => "MKV",
            MediaProfile::MkvAudioOnly => "MKV_AUDIO_ONLY",
            MediaProfile::MkvVideoOnly => "MKV_VIDEO_ONLY",
            MediaProfile::Mp4 => "MP4",
            MediaProfile::Mp4AudioOnly => "MP4_AUDIO_ONLY",
            MediaProfile::Mp4VideoOnly => "MP4_VIDEO_ONLY",
        }
    }

    /// Parses Kurento's spelling (case-insensitive).
    ///
    /// ```
    /// use mediaflow::MediaProfile;
    ///
    /// assert_eq!(MediaProfile::parse("mkv_audio_only"), Some(MediaProfile::MkvAudioOnly));
    /// assert_eq!(MediaProfile::parse(""), None);
    /// ```
    pub fn parse(s: &str) -> Option<MediaProfile> {
        MediaProfile::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    fn layout(self) -> Layout {
        use MediaProfile::*;
        let container = match self {
            Webm | WebmAudioOnly | WebmVideoOnly => Container::Webm,
            Mkv | MkvAudioOnly | MkvVideoOnly => Container::Matroska,
            Mp4 | Mp4AudioOnly | Mp4VideoOnly => Container::Mp4,
        };
        Layout {
            container,
            audio: !matches!(self, WebmVideoOnly | MkvVideoOnly | Mp4VideoOnly),
            video: !matches!(self, WebmAudioOnly | MkvAudioOnly | Mp4AudioOnly),
        }
    }
}

/// The recorder's own events, carried through the graph as `ElementEvent::Custom`.
#[derive(Debug)]
pub(crate) enum RecorderEvent {
    Recording,
    Paused,
    Stopped,
}

/// The public form of a [`RecorderEvent`].
pub(crate) fn public_event(event: RecorderEvent, source: String, timestamp_millis: u64) -> Event {
    let tags = Vec::new();
    match event {
        RecorderEvent::Recording => Event::Recording(RecordingEvent {
            source,
            timestamp_millis,
            tags,
        }),
        RecorderEvent::Paused => Event::Paused(PausedEvent {
            source,
            timestamp_millis,
            tags,
        }),
        RecorderEvent::Stopped => Event::Stopped(StoppedEvent {
            source,
            timestamp_millis,
            tags,
        }),
    }
}

/// Error codes of the recorder's Error events.
const CODE_OPEN: i32 = 1;
const CODE_WRITE: i32 = 2;
const CODE_NO_SPACE: i32 = 3;

fn error_code(t: ErrorType) -> i32 {
    match t {
        ErrorType::ResourceErrorOpen => CODE_OPEN,
        ErrorType::ResourceErrorNoSpaceLeft => CODE_NO_SPACE,
        _ => CODE_WRITE,
    }
}

/// Frames queued for the writer at most (about 10 s of audio and video).
const WRITER_QUEUE: usize = 1024;
/// How often the element looks at its writer's reports while one runs.
const STATUS_POLL: Duration = Duration::from_millis(50);
/// Keyframe requests upstream at most this often.
const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);
/// A track whose RTP time strays this far from the wall clock (a new source, a long
/// gap) is re-anchored to the wall clock.
const MAX_DRIFT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Recording,
    Paused,
    Stopped,
}

/// One track's depacketizer and clock.
#[derive(Default)]
struct Track {
    codec: Option<&'static str>,
    assembler: Option<FrameAssembler>,
    /// Last RTP timestamp, and its extension past 32-bit wraps.
    last_rtp: Option<u32>,
    ext: i64,
    /// (extended RTP time, recording time) of the frame the track is aligned on.
    anchor: Option<(i64, Duration)>,
    /// The previous frame's time.
    last: Option<Duration>,
}

impl Track {
    /// The recording time of a frame with RTP timestamp `ts`; `now` is the recording
    /// time at its arrival. Each track is aligned on its first frame's arrival (so
    /// audio and video share the wall clock) and then follows its own RTP clock.
    fn time(&mut self, ts: u32, clock: i64, now: Duration) -> Duration {
        self.ext = match self.last_rtp {
            Some(last) => self.ext + i64::from(ts.wrapping_sub(last) as i32),
            None => i64::from(ts),
        };
        self.last_rtp = Some(ts);
        // A new anchor never goes before a frame already written: after a resume or a
        // re-anchor, a track that had been moved later (to line up with the other)
        // would otherwise get its next frames 1 ms apart until arrival caught up.
        let fresh = self
            .last
            .map_or(now, |l| now.max(l + Duration::from_millis(1)));
        let (ext, at) = *self.anchor.get_or_insert((self.ext, fresh));
        let micros = at.as_micros() as i64 + (self.ext - ext) * 1_000_000 / clock;
        let mut t = Duration::from_micros(micros.max(0) as u64);
        if t.abs_diff(now) > MAX_DRIFT {
            self.anchor = Some((self.ext, fresh));
            t = fresh;
        }
        // Matroska stamps blocks in milliseconds: a frame at or before the previous one
        // (a transcoder that fell behind and sent two at once, a re-anchor) would give
        // the track two blocks at one time, which ffmpeg's muxers refuse; it goes 1 ms
        // after instead.
        if let Some(last) = self.last {
            if t.as_millis() <= last.as_millis() {
                t = Duration::from_millis(last.as_millis() as u64 + 1);
            }
        }
        self.last = Some(t);
        t
    }

    /// From now on the track goes `by` later (to line up with the other track).
    fn shift(&mut self, by: Duration) {
        if let Some((_, at)) = self.anchor.as_mut() {
            *at += by;
        }
    }

    /// A new stretch of recording (start, resume): align again on the next frame.
    fn realign(&mut self) {
        self.anchor = None;
        self.last_rtp = None;
    }
}

/// The graph side of a [`RecorderEndpoint`].
pub(crate) struct RecorderElement {
    layout: Layout,
    state: State,
    frames: Option<Sender<Frame>>,
    status: Option<Receiver<Status>>,
    next_status_poll: Option<Instant>,
    audio: Track,
    video: Track,
    sync: SenderSync,
    /// Recording time before the current stretch, and when the stretch began.
    elapsed: Duration,
    since: Option<Instant>,
    /// Video is dropped until a keyframe (start, resume, loss, a full queue).
    want_keyframe: bool,
    last_request: Option<Instant>,
    upstream: VecDeque<(MediaType, UpstreamEvent)>,
    events: VecDeque<ElementEvent>,
    dropped: Arc<AtomicU64>,
    skipped: Arc<AtomicU64>,
    video_codec: Arc<VideoCodec>,
}

impl RecorderElement {
    fn new(layout: Layout, counters: &Counters, video_codec: Arc<VideoCodec>) -> RecorderElement {
        RecorderElement {
            layout,
            state: State::Idle,
            frames: None,
            status: None,
            next_status_poll: None,
            audio: Track::default(),
            video: Track::default(),
            sync: SenderSync::default(),
            elapsed: Duration::ZERO,
            since: None,
            want_keyframe: true,
            last_request: None,
            upstream: VecDeque::new(),
            events: VecDeque::new(),
            dropped: counters.dropped.clone(),
            skipped: counters.skipped.clone(),
            video_codec,
        }
    }

    fn request_keyframe(&mut self, now: Instant) {
        if self
            .last_request
            .is_some_and(|t| now.duration_since(t) < KEYFRAME_INTERVAL)
        {
            return;
        }
        self.last_request = Some(now);
        self.upstream
            .push_back((MediaType::Video, UpstreamEvent::KeyframeRequest));
    }

    fn start_stretch(&mut self, now: Instant) {
        self.since = Some(now);
        self.audio.realign();
        self.video.realign();
        self.sync.reset();
        self.want_keyframe = true;
        self.last_request = None;
        if self.layout.video {
            self.request_keyframe(now);
        }
        self.state = State::Recording;
        self.events
            .push_back(ElementEvent::Custom(Box::new(RecorderEvent::Recording)));
    }

    /// `record()`: a new writer when idle, a new stretch when paused.
    fn record(&mut self, writer: Option<(Sender<Frame>, Receiver<Status>)>, now: Instant) {
        match self.state {
            State::Idle => {
                if let Some((frames, status)) = writer {
                    self.frames = Some(frames);
                    self.status = Some(status);
                    self.next_status_poll = Some(now + STATUS_POLL);
                    self.start_stretch(now);
                }
            }
            State::Paused => self.start_stretch(now),
            State::Recording | State::Stopped => {}
        }
    }

    fn pause(&mut self, now: Instant) {
        if self.state == State::Recording {
            if let Some(since) = self.since.take() {
                self.elapsed += now.duration_since(since);
            }
            self.state = State::Paused;
            self.events
                .push_back(ElementEvent::Custom(Box::new(RecorderEvent::Paused)));
        }
    }

    /// Ends the recording: the writer finalises once it has written what is queued
    /// (dropping the sender is its signal) and then reports Stopped.
    fn stop(&mut self) {
        match self.state {
            State::Recording | State::Paused => {
                self.state = State::Stopped;
                self.frames = None;
            }
            State::Idle => {
                self.state = State::Stopped;
                self.events
                    .push_back(ElementEvent::Custom(Box::new(RecorderEvent::Stopped)));
            }
            State::Stopped => {}
        }
    }

    fn drain_status(&mut self) {
        let Some(status) = &self.status else { return };
        let mut gone = false;
        while let Ok(s) = status.try_recv() {
            match s {
                Status::Error(error_type, description) => {
                    self.events.push_back(ElementEvent::Error {
                        error_type,
                        error_code: error_code(error_type),
                        description,
                    })
                }
                Status::Stopped => gone = true,
            }
        }
        if gone {
            self.status = None;
            self.next_status_poll = None;
            self.frames = None;
            self.state = State::Stopped;
            self.events
                .push_back(ElementEvent::Custom(Box::new(RecorderEvent::Stopped)));
        }
    }

    /// A video frame that cannot be stored yet (no keyframe since the start, a loss,
    /// a drop): counted, and a keyframe asked for.
    fn skip(&mut self, now: Instant) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        self.want_keyframe = true;
        self.request_keyframe(now);
    }

    /// Whether a video frame goes to the file: after a keyframe, and in the file's one
    /// video codec, which the first keyframe queued chooses (an H.264 one must carry
    /// the parameter sets the track header is made of).
    fn admit_video(&mut self, codec: &'static str, data: &[u8], now: Instant) -> Option<bool> {
        let (key, starts_track) = if codec == names::H264 {
            let kind = avc::kind(data);
            (kind.idr, kind.idr && kind.parameter_sets)
        } else {
            let key = data.first().is_some_and(|b| b & 1 == 0);
            (key, key)
        };
        if self.want_keyframe && !key {
            self.skip(now);
            return None;
        }
        if self.video_codec.get().is_none()
            && !(starts_track
                && (codec != names::H264 || avc::AvcConfig::from_access_unit(data).is_some()))
        {
            self.skip(now);
            return None;
        }
        if self.video_codec.choose(codec) != codec {
            // The writer chose the other codec (its header went out before any video):
            // from the next buffer on the graph converts to it.
            self.skip(now);
            return None;
        }
        if key {
            self.want_keyframe = false;
        }
        Some(key)
    }

    /// A whole frame of RTP time `ts`, captured at `sender_us` on the sender's clock
    /// (0: not known).
    fn frame(
        &mut self,
        codec: &'static str,
        video: bool,
        ts: u32,
        sender_us: u64,
        data: Vec<u8>,
        now: Instant,
    ) {
        let mut key = true;
        if video {
            match self.admit_video(codec, &data, now) {
                Some(k) => key = k,
                None => return,
            }
        }
        let at = self.elapsed + self.since.map_or(Duration::ZERO, |s| now.duration_since(s));
        let (track, clock) = if video {
            (&mut self.video, 90_000)
        } else {
            (&mut self.audio, 48_000)
        };
        let mut t = track.time(ts, clock, at);
        // A time past i64 (a crafted file's, through a player) is no clock to line up on.
        if let Some(sender) = i64::try_from(sender_us).ok().filter(|s| *s != 0) {
            let both = self.layout.audio && self.layout.video;
            let at = i64::try_from(t.as_micros()).unwrap_or(i64::MAX);
            let by = self.sync.shift(video, at, sender, both).unsigned_abs();
            if by > 0 {
                tracing::debug!(
                    video,
                    shift_micros = by,
                    "recorder: the track goes later to line up with the other on the sender's clock"
                );
                track.shift(Duration::from_micros(by));
                t += Duration::from_micros(by);
                track.last = Some(t);
            }
        }
        let Some(frames) = &self.frames else { return };
        let frame = Frame {
            video,
            codec,
            ms: t.as_millis() as u64,
            key,
            data,
        };
        match frames.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if video {
                    self.want_keyframe = true;
                    self.request_keyframe(now);
                }
            }
            // The writer gave up (a write error it reported): nothing to do.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// The video codecs the file can take now: the one chosen, else what the container
    /// allows (VP8 first: what the graph converts other codecs to).
    fn video_codecs(&self) -> &'static [&'static str] {
        const VP8: &[&str] = &[names::VP8];
        const H264: &[&str] = &[names::H264];
        const EITHER: &[&str] = &[names::VP8, names::H264];
        match (self.video_codec.get(), self.layout.container) {
            (Some(names::H264), _) | (_, Container::Mp4) => H264,
            (Some(_), _) | (None, Container::Webm) => VP8,
            (None, Container::Matroska) => EITHER,
        }
    }
}

impl Element for RecorderElement {
    fn type_name(&self) -> &'static str {
        "RecorderEndpoint"
    }

    fn accepted_codecs(&self, media_type: MediaType) -> Option<&[&'static str]> {
        const AUDIO: &[&str] = &[names::OPUS];
        match media_type {
            MediaType::Video if self.layout.video => Some(self.video_codecs()),
            MediaType::Audio if self.layout.audio => Some(AUDIO),
            // Media the profile does not keep is dropped as it is: nothing to convert.
            _ => None,
        }
    }

    fn handle_input(&mut self, buffer: Buffer, now: Instant) {
        if self.state != State::Recording {
            return;
        }
        let (video, codec) = match (buffer.media_type, buffer.codec) {
            (MediaType::Video, Some(c))
                if self.layout.video && self.video_codecs().contains(&c) =>
            {
                (true, c)
            }
            (MediaType::Audio, Some(c)) if self.layout.audio && c == names::OPUS => (false, c),
            _ => return,
        };
        let track = if video {
            &mut self.video
        } else {
            &mut self.audio
        };
        if track.codec != Some(codec) {
            track.codec = Some(codec);
            track.assembler = FrameAssembler::new(codec);
        }
        let Some(assembler) = track.assembler.as_mut() else {
            return;
        };
        match assembler.push(&buffer.data) {
            Assembled::Frame(f) => {
                self.frame(codec, video, f.timestamp, buffer.pts_micros, f.data, now)
            }
            Assembled::Pending => {}
            // A lost packet: video waits for the next keyframe (asked for at once);
            // audio just has a gap.
            Assembled::Broken if video => {
                self.want_keyframe = true;
                self.request_keyframe(now);
            }
            Assembled::Broken => {}
        }
    }

    fn poll_output(&mut self) -> Option<Buffer> {
        None
    }

    fn poll_upstream(&mut self) -> Option<(MediaType, UpstreamEvent)> {
        self.upstream.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next_status_poll
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.drain_status();
        if self.status.is_some() {
            self.next_status_poll = Some(now + STATUS_POLL);
        }
    }

    fn poll_event(&mut self) -> Option<ElementEvent> {
        self.events.pop_front()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The local path of a `file://` URI (`file:///abs/path`; `%XX` escapes decoded).
pub(crate) fn file_path(uri: &str) -> Result<PathBuf> {
    let rest = uri
        .strip_prefix("file://")
        .filter(|r| r.starts_with('/'))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "URI {uri:?}: only file:///absolute/path is supported"
            ))
        })?;
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    Ok(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// Builds a [`RecorderEndpoint`] (Kurento's constructor parameters).
///
/// ```
/// use mediaflow::{MediaPipeline, MediaProfile, RecorderEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let recorder = RecorderEndpoint::builder(&pipeline, "file:///tmp/never-written.mkv")
///     .media_profile(MediaProfile::Mkv)
///     .build()?; // the file is not touched before record()
/// assert_eq!(recorder.media_profile(), MediaProfile::Mkv);
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Debug)]
pub struct RecorderEndpointBuilder<'a> {
    pipeline: &'a MediaPipeline,
    uri: String,
    profile: MediaProfile,
}

impl RecorderEndpointBuilder<'_> {
    /// The container and media kept (Kurento's `mediaProfile`; default WEBM).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, MediaProfile, RecorderEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let audio_only = RecorderEndpoint::builder(&pipeline, "file:///tmp/voice.webm")
    ///     .media_profile(MediaProfile::WebmAudioOnly)
    ///     .build()?;
    /// # drop(audio_only);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn media_profile(mut self, profile: MediaProfile) -> Self {
        self.profile = profile;
        self
    }

    /// Creates the endpoint. The file is not touched before `record()`.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RecorderEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let recorder = RecorderEndpoint::builder(&pipeline, "file:///tmp/call.webm").build()?;
    /// assert_eq!(recorder.type_name(), "RecorderEndpoint");
    /// // Only file:// URIs are recorded to.
    /// assert!(RecorderEndpoint::builder(&pipeline, "http://example.com/x.webm").build().is_err());
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn build(self) -> Result<RecorderEndpoint> {
        let path = file_path(&self.uri)?;
        let counters = Counters::default();
        let video_codec = Arc::new(VideoCodec::default());
        let layout = self.profile.layout();
        let element = self.pipeline.add_element(Box::new(RecorderElement::new(
            layout,
            &counters,
            video_codec.clone(),
        )))?;
        Ok(RecorderEndpoint {
            element,
            inner: Arc::new(Inner {
                uri: self.uri,
                path,
                profile: self.profile,
                counters,
                video_codec,
                done: Mutex::new(None),
            }),
        })
    }
}

/// What the element and its writer count, read by the handle.
#[derive(Debug, Default)]
struct Counters {
    /// Frames dropped: the writer fell behind, or a frame it could not store.
    dropped: Arc<AtomicU64>,
    /// Video frames not stored while waiting for a keyframe.
    skipped: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Inner {
    uri: String,
    path: PathBuf,
    profile: MediaProfile,
    counters: Counters,
    /// The file's video codec once chosen (VP8 or H.264 in Matroska; H.264 in MP4).
    video_codec: Arc<VideoCodec>,
    /// Disconnects when the writer thread has finalised the file; also serialises
    /// `record()` so two callers cannot start two writers.
    done: Mutex<Option<Receiver<()>>>,
}

/// Stores the media it receives in a file (Kurento's `RecorderEndpoint`): WebM with VP8
/// and Opus, Matroska with VP8 or H.264 and Opus, or fragmented MP4 with H.264 and Opus,
/// as they arrive (no re-encoding; other codecs are transcoded by the graph, see
/// [`MediaProfile`]). H.264 is stored (Matroska's `V_MPEG4/ISO/AVC`, MP4's `avc1`) from
/// its first IDR frame that carries the SPS and PPS. Events: `Recording`, `Paused`,
/// `Stopped`, and `Error` (RESOURCE_ERROR_OPEN / _WRITE / _NO_SPACE_LEFT). The file is
/// finalised on `stop()`, and when the element or its pipeline is released.
///
/// ```
/// use mediaflow::{AppSource, MediaPipeline, RecorderEndpoint};
/// use std::time::Duration;
///
/// let path = std::env::temp_dir().join(format!("mediaflow-doc-recorder-{}.webm", std::process::id()));
/// let uri = format!("file://{}", path.display());
/// let pipeline = MediaPipeline::new()?;
/// let camera = AppSource::new(&pipeline)?; // or a WebRtcEndpoint, an RtpEndpoint...
/// let recorder = RecorderEndpoint::builder(&pipeline, &uri).build()?;
/// let events = recorder.events()?;
/// camera.connect(&recorder)?;
/// recorder.record()?;
/// recorder.stop_and_wait(Duration::from_secs(5))?;
/// // Events reach handlers on a dispatcher thread: wait for them, bounded.
/// let kinds: Vec<&str> = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(5)).ok())
///     .map(|e| e.type_name())
///     .take_while(|&k| k != "Stopped")
///     .collect();
/// assert_eq!(kinds, ["Recording"]);
/// assert!(path.exists());
/// # std::fs::remove_file(&path).ok();
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RecorderEndpoint {
    element: MediaElement,
    inner: Arc<Inner>,
}

impl std::ops::Deref for RecorderEndpoint {
    type Target = MediaElement;
    fn deref(&self) -> &MediaElement {
        &self.element
    }
}

impl AsRef<MediaElement> for RecorderEndpoint {
    fn as_ref(&self) -> &MediaElement {
        &self.element
    }
}

impl From<RecorderEndpoint> for MediaElement {
    fn from(handle: RecorderEndpoint) -> MediaElement {
        handle.element
    }
}

impl RecorderEndpoint {
    /// A builder for a recorder writing to `uri` (`file:///path/name.webm`).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RecorderEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let recorder = RecorderEndpoint::builder(&pipeline, "file:///tmp/room-1.webm").build()?;
    /// # drop(recorder);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn builder<'a>(pipeline: &'a MediaPipeline, uri: &str) -> RecorderEndpointBuilder<'a> {
        RecorderEndpointBuilder {
            pipeline,
            uri: uri.to_owned(),
            profile: MediaProfile::Webm,
        }
    }

    /// The URI it records to.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RecorderEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let recorder = RecorderEndpoint::builder(&pipeline, "file:///tmp/a.webm").build()?;
    /// assert_eq!(recorder.uri(), "file:///tmp/a.webm");
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn uri(&self) -> &str {
        &self.inner.uri
    }

    /// Its media profile.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, MediaProfile, RecorderEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let recorder = RecorderEndpoint::builder(&pipeline, "file:///tmp/a.webm").build()?;
    /// assert_eq!(recorder.media_profile(), MediaProfile::Webm); // the default
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn media_profile(&self) -> MediaProfile {
        self.inner.profile
    }

    /// Frames dropped because the writer fell behind the media (or could not store
    /// them: an H.264 frame without a NAL unit).
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RecorderEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let recorder = RecorderEndpoint::builder(&pipeline, "file:///tmp/a.webm").build()?;
    /// assert_eq!(recorder.dropped_frames(), 0);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn dropped_frames(&self) -> u64 {
        self.inner.counters.dropped.load(Ordering::Relaxed)
    }

    /// Video frames not stored because no keyframe had come since the recording
    /// started or resumed, a packet was lost or a frame dropped (a decoder could not
    /// use them); a keyframe is asked for from the source meanwhile. An H.264 file's
    /// first keyframe must also carry the SPS and PPS its track header is made of.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RecorderEndpoint};
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// let recorder = RecorderEndpoint::builder(&pipeline, "file:///tmp/a.mkv").build()?;
    /// assert_eq!(recorder.skipped_frames(), 0);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn skipped_frames(&self) -> u64 {
        self.inner.counters.skipped.load(Ordering::Relaxed)
    }

    /// Starts recording (or resumes after `pause()`); a keyframe is requested from the
    /// source. The file is created (truncated) by the first call, on the caller's
    /// thread; if it cannot be, an `Error` event RESOURCE_ERROR_OPEN follows and
    /// nothing is recorded. `Recording` is raised once it records.
    ///
    /// ```
    /// use mediaflow::{Event, MediaPipeline, RecorderEndpoint};
    /// use std::time::Duration;
    ///
    /// let pipeline = MediaPipeline::new()?;
    /// // A file that cannot be created: an Error event, not a failed call.
    /// let recorder = RecorderEndpoint::builder(&pipeline, "file:///nonexistent-dir/x.webm").build()?;
    /// let events = recorder.events()?;
    /// recorder.record()?;
    /// let error = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(5)).ok())
    ///     .find_map(|e| match e { Event::Error(e) => Some(e), _ => None })
    ///     .expect("an Error event");
    /// assert_eq!(error.error_type.as_str(), "RESOURCE_ERROR_OPEN");
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn record(&self) -> Result<()> {
        let mut done = self
            .inner
            .done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = self
            .element
            .with_element(|e: &mut RecorderElement, _| e.state)?;
        if state == State::Stopped {
            return Err(Error::WrongState(
                "a stopped recorder does not record again".into(),
            ));
        }
        if state != State::Idle {
            return self
                .element
                .with_element(|e: &mut RecorderElement, now| e.record(None, now));
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.inner.path);
        let file: File = match file {
            Ok(f) => f,
            Err(e) => {
                let description = format!("cannot open {}: {e}", self.inner.path.display());
                tracing::warn!("recorder: {description}");
                return self
                    .element
                    .with_element(move |el: &mut RecorderElement, _| {
                        el.events.push_back(ElementEvent::Error {
                            error_type: ErrorType::ResourceErrorOpen,
                            error_code: CODE_OPEN,
                            description,
                        });
                    });
            }
        };
        let (frames_tx, frames_rx) = bounded(WRITER_QUEUE);
        let (status_tx, status_rx) = bounded(16);
        let (done_tx, done_rx) = bounded::<()>(0);
        let layout = self.inner.profile.layout();
        let shared = Shared {
            dropped: self.inner.counters.dropped.clone(),
            video_codec: self.inner.video_codec.clone(),
        };
        std::thread::Builder::new()
            .name("mf-recorder".into())
            .spawn(move || writer::run(file, layout, shared, frames_rx, status_tx, done_tx))
            .map_err(|e| Error::Resource(format!("recorder thread: {e}")))?;
        *done = Some(done_rx);
        self.element
            .with_element(move |e: &mut RecorderElement, now| {
                e.record(Some((frames_tx, status_rx)), now)
            })
    }

    /// Pauses: media arriving meanwhile is not stored, and the file's timeline goes on
    /// without the pause. `Paused` is raised.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RecorderEndpoint};
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("mediaflow-doc-pause-{}.webm", std::process::id()));
    /// let uri = format!("file://{}", path.display());
    /// let pipeline = MediaPipeline::new()?;
    /// let recorder = RecorderEndpoint::builder(&pipeline, &uri).build()?;
    /// let events = recorder.events()?;
    /// recorder.record()?;
    /// recorder.pause()?; // media arriving now is not stored
    /// recorder.record()?; // resumes
    /// recorder.stop_and_wait(Duration::from_secs(5))?;
    /// let mut events = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(5)).ok());
    /// assert!(events.any(|e| e.type_name() == "Paused"));
    /// # std::fs::remove_file(&path).ok();
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn pause(&self) -> Result<()> {
        self.element
            .with_element(|e: &mut RecorderElement, now| e.pause(now))
    }

    /// Stops recording; the file is finalised in the background (`Stopped` when it
    /// is). A stopped recorder does not record again.
    ///
    /// ```
    /// use mediaflow::{Event, MediaPipeline, RecorderEndpoint};
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("mediaflow-doc-stop-{}.webm", std::process::id()));
    /// let uri = format!("file://{}", path.display());
    /// let pipeline = MediaPipeline::new()?;
    /// let recorder = RecorderEndpoint::builder(&pipeline, &uri).build()?;
    /// let events = recorder.events()?;
    /// recorder.record()?;
    /// recorder.stop()?; // returns at once; Stopped follows when the file is finalised
    /// let stopped = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(5)).ok())
    ///     .find(|e| matches!(e, Event::Stopped(_)));
    /// assert!(stopped.is_some());
    /// # std::fs::remove_file(&path).ok();
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn stop(&self) -> Result<()> {
        self.element
            .with_element(|e: &mut RecorderElement, _| e.stop())
    }

    /// Stops and waits until the file is finalised, at most `timeout` (Kurento's
    /// `stopAndWait`). After the element or its pipeline was released it only waits.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, RecorderEndpoint};
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("mediaflow-doc-stop-and-wait-{}.webm", std::process::id()));
    /// let uri = format!("file://{}", path.display());
    /// let pipeline = MediaPipeline::new()?;
    /// let recorder = RecorderEndpoint::builder(&pipeline, &uri).build()?;
    /// recorder.record()?;
    /// recorder.stop_and_wait(Duration::from_secs(5))?;
    /// assert!(std::fs::metadata(&path).is_ok()); // finalised: safe to move or upload
    /// # std::fs::remove_file(&path).ok();
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn stop_and_wait(&self, timeout: Duration) -> Result<()> {
        match self.stop() {
            Ok(()) | Err(Error::PipelineReleased) | Err(Error::ElementReleased(_)) => {}
            Err(e) => return Err(e),
        }
        let done = self
            .inner
            .done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let Some(done) = done else { return Ok(()) };
        match done.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_become_paths() {
        assert_eq!(
            file_path("file:///tmp/a%20b.webm").unwrap(),
            PathBuf::from("/tmp/a b.webm")
        );
        assert!(file_path("http://x/y.webm").is_err());
        assert!(file_path("file://relative.webm").is_err());
        assert_eq!(
            MediaProfile::parse("mkv_audio_only"),
            Some(MediaProfile::MkvAudioOnly)
        );
    }

    /// An H.264 file starts at an IDR that brings its SPS and PPS: an IDR without them,
    /// or a frame that is no IDR, is skipped and counted, and a keyframe asked for.
    #[test]
    fn h264_starts_at_an_idr_with_its_parameter_sets() {
        let layout = MediaProfile::MkvVideoOnly.layout();
        let counters = Counters::default();
        let chosen = Arc::new(VideoCodec::default());
        let mut el = RecorderElement::new(layout, &counters, chosen.clone());
        let (tx, rx) = bounded(16);
        let (_status_tx, status_rx) = bounded(1);
        let now = Instant::now();
        el.record(Some((tx, status_rx)), now);
        assert_eq!(
            el.accepted_codecs(MediaType::Video),
            Some(&[names::VP8, names::H264][..])
        );
        el.upstream.clear();
        let mut enc = mediaflow_transcoder::H264Encoder::new(160, 120, 300).unwrap();
        let picture = mediaflow_transcoder::I420Frame::filled(160, 120, 90, 128);
        let idr = enc.encode(&picture, true).unwrap().remove(0).data;
        let slices: Vec<u8> = avc::nal_units(&idr)
            .filter(|n| n[0] & 0x1f == 5)
            .flat_map(|n| [&[0, 0, 0, 1][..], n].concat())
            .collect();
        let later = now + KEYFRAME_INTERVAL;
        el.frame(names::H264, true, 0, 0, slices, later);
        el.frame(
            names::H264,
            true,
            3000,
            0,
            vec![0, 0, 0, 1, 0x41, 0x9a],
            later,
        );
        assert_eq!(counters.skipped.load(Ordering::Relaxed), 2);
        assert_eq!(el.upstream.len(), 1, "one keyframe request (rate-limited)");
        assert!(rx.try_recv().is_err());
        assert_eq!(chosen.get(), None);
        el.frame(names::H264, true, 6000, 0, idr, later);
        let stored = rx.try_recv().expect("the IDR with SPS and PPS is queued");
        assert!(stored.key && stored.codec == names::H264);
        assert_eq!(chosen.get(), Some(names::H264));
        assert_eq!(
            el.accepted_codecs(MediaType::Video),
            Some(&[names::H264][..])
        );
        // WebM takes VP8 only: H.264 reaches it through a transcoder.
        let webm = RecorderElement::new(
            MediaProfile::Webm.layout(),
            &Counters::default(),
            Arc::default(),
        );
        assert_eq!(
            webm.accepted_codecs(MediaType::Video),
            Some(&[names::VP8][..])
        );
    }

    #[test]
    fn tracks_follow_rtp_from_their_first_arrival_and_realign_after_a_jump() {
        let mut t = Track::default();
        let at = Duration::from_millis(300);
        assert_eq!(t.time(1000, 90_000, at), at);
        assert_eq!(
            t.time(1000 + 9000, 90_000, at),
            at + Duration::from_millis(100)
        );
        // Wrap-around.
        let mut w = Track::default();
        w.time(u32::MAX - 899, 90_000, Duration::ZERO);
        assert_eq!(
            w.time(8100, 90_000, Duration::ZERO),
            Duration::from_millis(100)
        );
        // A jump far from the wall clock re-anchors.
        let now = Duration::from_secs(1);
        assert_eq!(t.time(90_000 * 100, 90_000, now), now);
        // Two frames with one RTP time, or one in the same millisecond: each block of
        // the track gets a later millisecond than the one before.
        let mut s = Track::default();
        assert_eq!(s.time(500, 90_000, at), at);
        assert_eq!(s.time(500, 90_000, at), at + Duration::from_millis(1));
        assert_eq!(s.time(545, 90_000, at), at + Duration::from_millis(2));
        assert_eq!(
            s.time(500 + 900, 90_000, at),
            at + Duration::from_millis(10)
        );
    }
}
