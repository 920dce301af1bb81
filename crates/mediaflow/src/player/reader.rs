//! The player's reader thread: opens and demuxes the file (WebM/Matroska with
//! matroska-demuxer, MP4 in `mp4.rs`: told apart by the file's first bytes) and hands
//! frames to the element over a bounded channel, so the pipeline's worker never waits on
//! the disk. The recorder's writer thread, in reverse.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Select, Sender};
use matroska_demuxer::{DemuxError, Frame as MkvFrame, MatroskaFile, TrackType};
use mediaflow_graph::ErrorType;
use mediaflow_transcoder::rtp::names;

use super::avc::Avc;
use super::mp4::{self, Mp4Demux};

/// Frames larger than this are dropped (counted): no VP8 or Opus frame of a real
/// recording comes near it, so it is a corrupt or hostile file.
pub(crate) const MAX_FRAME: usize = 4 << 20;
/// Bytes of frames in flight between the reader and the element at most.
const MAX_IN_FLIGHT: usize = 8 << 20;
/// Video keyframes remembered for seeking at most (a day at one a second).
const MAX_INDEX: usize = 1 << 17;
/// How long the reader waits for the element to take frames when the byte budget is
/// spent before it looks at its commands again.
const SEND_WAIT: Duration = Duration::from_millis(20);

type Demuxer = MatroskaFile<Masked>;
/// The bytes read from a file's start to find and check its SeekHead.
const HEAD: usize = 16 << 10;

/// The file as the demuxer reads it: as it is, or with its SeekHead shown as a Void.
/// A file cut short (a copy or download that stopped) keeps a SeekHead naming Cues past
/// its end, and matroska-demuxer then refuses it; without the SeekHead it walks the
/// top-level elements that are there instead, so the part that exists plays.
struct Masked {
    inner: BufReader<File>,
    pos: u64,
    /// The file's length when opened: matroska-demuxer asks for the end before every
    /// frame, and a real seek would throw the read buffer away each time.
    len: u64,
    /// (offset, bytes shown there instead of the file's).
    patch: Option<(u64, Vec<u8>)>,
}

impl Read for Masked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some((at, bytes)) = &self.patch {
            for (i, b) in buf[..n].iter_mut().enumerate() {
                let off = self.pos + i as u64;
                if off >= *at && off < at + bytes.len() as u64 {
                    *b = bytes[(off - at) as usize];
                }
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Masked {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(off) => self.len.checked_add_signed(off),
            SeekFrom::Current(off) => self.pos.checked_add_signed(off),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        // Relative, so a target inside the buffer keeps it.
        let delta = i64::try_from(i128::from(target) - i128::from(self.pos))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seek too far"))?;
        self.inner.seek_relative(delta)?;
        self.pos = target;
        Ok(target)
    }
}

/// An EBML variable-size integer at `b[i..]`: (value without its length marker, length).
fn vint(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let first = *b.get(i)?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let bytes = b.get(i..i + len)?;
    let value = bytes[1..]
        .iter()
        .fold(u64::from(first) & (0xff >> len), |v, &x| {
            (v << 8) | u64::from(x)
        });
    Some((value, len))
}

/// An element id at `b[i..]` (marker kept, as ids are written): (id, length).
fn element_id(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let (_, len) = vint(b, i)?;
    let id = b[i..i + len]
        .iter()
        .fold(0u64, |v, &x| (v << 8) | u64::from(x));
    Some((id, len))
}

const SEEK_HEAD: u64 = 0x114D_9B74;

/// Where the demuxer looks for the Segment's SeekHead in `head` (the file's first
/// bytes): (offset of the Segment's data, offset of the SeekHead, its id's length, its
/// size, its size's length). Like matroska-demuxer, CRC-32 elements before it are
/// skipped.
fn locate_seek_head(head: &[u8]) -> Option<(usize, usize, usize, u64, usize)> {
    const EBML: u64 = 0x1A45_DFA3;
    const SEGMENT: u64 = 0x1853_8067;
    const CRC32: u64 = 0xBF;
    let (id, len) = element_id(head, 0)?;
    let (size, size_len) = vint(head, len)?;
    let i = (id == EBML).then_some(len + size_len)?;
    let i = i.checked_add(usize::try_from(size).ok()?)?;
    let (id, len) = element_id(head, i)?;
    let (_, size_len) = vint(head, i + len)?;
    let segment_data = (id == SEGMENT).then_some(i + len + size_len)?;
    let mut i = segment_data;
    loop {
        let (id, len) = element_id(head, i)?;
        let (size, size_len) = vint(head, i + len)?;
        match id {
            SEEK_HEAD => return Some((segment_data, i, len, size, size_len)),
            CRC32 => {
                i = i
                    .checked_add(len + size_len)?
                    .checked_add(usize::try_from(size).ok()?)?
            }
            _ => return None,
        }
    }
}

/// Where the Segment's SeekHead starts in `head` (the file's first bytes), and the
/// header of a Void of the same total size to show there instead.
fn seek_head_as_void(head: &[u8]) -> Option<(u64, Vec<u8>)> {
    const VOID: u8 = 0xEC;
    let (_, i, len, size, size_len) = locate_seek_head(head)?;
    // Same total header length: a one-byte id, so the size takes three more bytes.
    let void_len = size_len + len - 1;
    if void_len > 8 || size >= (1u64 << (7 * void_len)) - 1 {
        return None;
    }
    let marked = (size | (1u64 << (7 * void_len))).to_be_bytes();
    let mut patch = vec![VOID];
    patch.extend_from_slice(&marked[8 - void_len..]);
    Some((i as u64, patch))
}

/// The elements directly inside `b[from..to]`: (id, data range). `None` if one is
/// malformed, of unknown size or runs past `to`.
fn children(b: &[u8], from: usize, to: usize) -> Option<Vec<(u64, usize, usize)>> {
    let mut out = Vec::new();
    let mut i = from;
    while i < to {
        let (id, len) = element_id(b, i)?;
        let (size, size_len) = vint(b, i + len)?;
        if size == (1u64 << (7 * size_len)) - 1 {
            return None;
        }
        let start = i + len + size_len;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        if end > to {
            return None;
        }
        out.push((id, start, end));
        i = end;
    }
    Some(out)
}

/// Whether matroska-demuxer may read the SeekHead found in `head` (none found: nothing
/// to check). It follows an entry naming a SeekHead without looking where it has been
/// (an entry naming the SeekHead itself loops forever, two such entries panic), and
/// adds positions without checking (a huge one overflows): every entry must name
/// another element inside the file, and the whole SeekHead must be in `head` for that
/// to be checked.
fn seek_head_is_safe(head: &[u8], file_len: u64) -> bool {
    const SEEK: u64 = 0x4DBB;
    const SEEK_ID: u64 = 0x53AB;
    const SEEK_POSITION: u64 = 0x53AC;
    let Some((segment_data, at, len, size, size_len)) = locate_seek_head(head) else {
        return true;
    };
    let start = at + len + size_len;
    let Some(end) = usize::try_from(size)
        .ok()
        .and_then(|s| start.checked_add(s))
        .filter(|&end| end <= head.len())
    else {
        return false;
    };
    let Some(entries) = children(head, start, end) else {
        return false;
    };
    let room = file_len.saturating_sub(segment_data as u64);
    let be =
        |b: &[u8]| (b.len() <= 8).then(|| b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x)));
    entries
        .iter()
        .filter(|(id, _, _)| *id == SEEK)
        .all(|&(_, from, to)| {
            let Some(fields) = children(head, from, to) else {
                return false;
            };
            fields.iter().all(|&(id, from, to)| match id {
                SEEK_ID => be(&head[from..to]).is_some_and(|id| id != SEEK_HEAD),
                SEEK_POSITION => be(&head[from..to]).is_some_and(|p| p < room),
                _ => true,
            })
        })
}

/// Runs a demuxer call, its panic (a hostile file can cause some) made an error.
pub(crate) fn unpanicked<T>(call: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).map_err(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::warn!("player: the demuxer panicked: {why}");
        format!("the demuxer failed on it ({why})")
    })
}

/// A frame for the element: its media, its time in the file, whether a decoder can
/// start from it.
#[derive(Debug)]
pub(crate) struct Media {
    pub(crate) video: bool,
    /// Its codec (`video/VP8`, `video/H264`, `audio/opus`).
    pub(crate) codec: &'static str,
    /// Microseconds from the start of the file.
    pub(crate) us: u64,
    pub(crate) key: bool,
    pub(crate) data: Vec<u8>,
}

/// What the reader sends, tagged with the generation of the command it serves.
#[derive(Debug)]
pub(crate) enum Item {
    Frame(Media),
    /// The file ended (or could not be read further).
    End,
    /// Reading failed part way: reported, then the stream ends.
    Error(ErrorType, String),
    /// The resource could not be got or opened (http(s)): reported, nothing plays.
    Failed(ErrorType, String),
}

/// What the element asks of the reader.
#[derive(Debug)]
pub(crate) enum Command {
    /// Go to the video keyframe at or before this many milliseconds (audio-only: there).
    Seek { generation: u64, ms: u64 },
}

/// What the file holds, read from its headers (Kurento's `VideoInfo` comes from it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileInfo {
    pub(crate) duration_ms: Option<u64>,
}

/// Why a file cannot be played.
#[derive(Debug)]
pub(crate) struct OpenError {
    pub(crate) error_type: ErrorType,
    pub(crate) description: String,
}

/// A demuxer on one file, whichever its container.
enum Demux {
    Mkv(Box<MkvDemux>),
    Mp4(Mp4Demux),
}

/// A Matroska demuxer on one file with the tracks we play (the first VP8 and Opus ones).
struct MkvDemux {
    mkv: Demuxer,
    video: Option<u64>,
    /// The video track's H.264 conversion (none: VP8).
    avc: Option<Avc>,
    audio: Option<u64>,
    /// Nanoseconds per timestamp tick.
    scale_ns: u64,
    frame: MkvFrame,
}

/// Opens `path` for matroska-demuxer: as it is, else (a file cut short) with its
/// SeekHead masked.
fn open_matroska(path: &Path) -> Result<Demuxer, OpenError> {
    let file = File::open(path).map_err(|e| OpenError {
        error_type: ErrorType::ResourceErrorOpen,
        description: format!("cannot open {}: {e}", path.display()),
    })?;
    let len = file.metadata().map(|m| m.len()).map_err(|e| OpenError {
        error_type: ErrorType::ResourceErrorOpen,
        description: format!("cannot read {}: {e}", path.display()),
    })?;
    let mut inner = BufReader::with_capacity(64 << 10, file);
    let mut head = Vec::with_capacity(HEAD);
    let read_head = (&mut inner).take(HEAD as u64).read_to_end(&mut head);
    let patch = read_head
        .as_ref()
        .ok()
        .and_then(|_| seek_head_as_void(&head));
    // A SeekHead the demuxer must not read (hostile, or naming what a cut-short file
    // lacks) is shown as a Void from the start: the demuxer walks the elements instead.
    let unsafe_head = read_head.is_ok() && patch.is_some() && !seek_head_is_safe(&head, len);
    let open = |inner: BufReader<File>, patch| {
        unpanicked(|| {
            MatroskaFile::open(Masked {
                inner,
                pos: 0,
                len,
                patch,
            })
        })
        .and_then(|r| r.map_err(|e| e.to_string()))
    };
    let bad = |e: String| OpenError {
        error_type: ErrorType::InvalidMedia,
        description: format!(
            "{} is not a readable WebM/Matroska file: {e}",
            path.display()
        ),
    };
    inner.seek(SeekFrom::Start(0)).map_err(|e| OpenError {
        error_type: ErrorType::ResourceErrorOpen,
        description: format!("cannot read {}: {e}", path.display()),
    })?;
    if unsafe_head {
        tracing::info!(
            "player: {} read without its SeekHead (it names a SeekHead or a place outside the file)",
            path.display()
        );
        return open(inner, patch).map_err(bad);
    }
    let mkv = match open(inner, None) {
        Ok(mkv) => mkv,
        Err(e) => {
            let Some(patch) = patch else {
                return Err(bad(e));
            };
            let retry = File::open(path)
                .ok()
                .and_then(|f| open(BufReader::with_capacity(64 << 10, f), Some(patch)).ok());
            match retry {
                Some(mkv) => {
                    tracing::info!("player: {} read without its SeekHead ({e})", path.display());
                    mkv
                }
                None => return Err(bad(e)),
            }
        }
    };
    Ok(mkv)
}

/// Opens `path` (MP4 when it starts with an `ftyp` box, else WebM/Matroska) and finds
/// the tracks we play.
fn open_demux(path: &Path) -> Result<Demux, OpenError> {
    let mut head = [0u8; 8];
    let read = File::open(path).and_then(|f| f.take(8).read(&mut head));
    if read.is_ok_and(|n| mp4::is_mp4(&head[..n])) {
        return Mp4Demux::open(path).map(Demux::Mp4);
    }
    open_mkv(path).map(|d| Demux::Mkv(Box::new(d)))
}

impl Demux {
    fn info(&self) -> FileInfo {
        match self {
            Demux::Mkv(d) => d.info(),
            Demux::Mp4(d) => d.info(),
        }
    }

    /// The next frame of a track we play: `Ok(None)` at the end of the file.
    fn next(&mut self, dropped: &AtomicU64) -> Result<Option<Media>, String> {
        match self {
            Demux::Mkv(d) => d.next(dropped),
            Demux::Mp4(d) => d.next(dropped),
        }
    }
}

/// Opens `path` as WebM/Matroska and finds the tracks we play.
fn open_mkv(path: &Path) -> Result<MkvDemux, OpenError> {
    let mkv = open_matroska(path)?;
    let find = |kind: TrackType, codec: &str| {
        mkv.tracks()
            .iter()
            .find(|t| t.track_type() == kind && t.codec_id() == codec)
            .map(|t| t.track_number().get())
    };
    // VP8 first (what our recorder writes); else H.264, whose NAL units are converted.
    let (video, avc) = match find(TrackType::Video, "V_VP8") {
        Some(track) => (Some(track), None),
        None => {
            let h264 = mkv
                .tracks()
                .iter()
                .find(|t| t.track_type() == TrackType::Video && t.codec_id() == "V_MPEG4/ISO/AVC");
            let avc = h264.and_then(|t| t.codec_private().and_then(Avc::from_record));
            match (h264, avc) {
                (Some(t), Some(avc)) => (Some(t.track_number().get()), Some(avc)),
                _ => (None, None),
            }
        }
    };
    let audio = find(TrackType::Audio, "A_OPUS");
    if video.is_none() && audio.is_none() {
        let codecs: Vec<&str> = mkv.tracks().iter().map(|t| t.codec_id()).collect();
        return Err(OpenError {
            error_type: ErrorType::InvalidMedia,
            description: format!(
                "{}: no VP8, H.264 or Opus track to play (tracks: {codecs:?})",
                path.display()
            ),
        });
    }
    let scale_ns = mkv.info().timestamp_scale().get();
    Ok(MkvDemux {
        mkv,
        video,
        avc,
        audio,
        scale_ns,
        frame: MkvFrame::default(),
    })
}

impl MkvDemux {
    fn info(&self) -> FileInfo {
        let duration_ms = self
            .mkv
            .info()
            .duration()
            .filter(|d| d.is_finite() && *d >= 0.0)
            .map(|d| (d * self.scale_ns as f64 / 1e6) as u64);
        FileInfo { duration_ms }
    }

    fn micros(&self, ticks: u64) -> u64 {
        let us = u128::from(ticks) * u128::from(self.scale_ns) / 1000;
        u64::try_from(us).unwrap_or(u64::MAX)
    }

    /// The next frame of a track we play: `Ok(None)` at the end of the file. Frames past
    /// `MAX_FRAME` are skipped and counted in `dropped`.
    fn next(&mut self, dropped: &AtomicU64) -> Result<Option<Media>, String> {
        loop {
            let (mkv, frame) = (&mut self.mkv, &mut self.frame);
            match unpanicked(|| mkv.next_frame(frame))? {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                // A block running past the end of the file: a file cut short (a copy or
                // download that stopped) simply ends there.
                Err(e @ DemuxError::ElementSizeExceedsStream { .. }) => {
                    tracing::info!("player: the file ends inside a block ({e})");
                    return Ok(None);
                }
                Err(e) => return Err(e.to_string()),
            }
            let data = &mut self.frame.data;
            if data.len() > MAX_FRAME {
                dropped.fetch_add(1, Ordering::Relaxed);
                // Do not keep a huge buffer for the frames that follow.
                *data = Vec::new();
                continue;
            }
            let track = Some(self.frame.track);
            let video = track == self.video;
            if !video && track != self.audio {
                continue;
            }
            let (codec, key, data) = match (&self.avc, video) {
                (_, false) => (names::OPUS, true, data.clone()),
                (Some(avc), true) => match avc.to_annex_b(data) {
                    Some((annex_b, idr)) => (names::H264, idr, annex_b),
                    None => {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                },
                // VP8's own flag (RFC 6386 §9.1): BlockGroups carry no keyframe flag.
                (None, true) => (
                    names::VP8,
                    data.first().is_some_and(|b| b & 1 == 0),
                    data.clone(),
                ),
            };
            return Ok(Some(Media {
                video,
                codec,
                us: self.micros(self.frame.timestamp),
                key,
                data,
            }));
        }
    }
}

/// Reads the headers of `path`: what `get_video_info` and `play` need to know first.
pub(crate) fn probe(path: &Path) -> Result<FileInfo, OpenError> {
    open_demux(path).map(|d| d.info())
}

/// The video keyframes of the file, learnt by a scan from its start (matroska-demuxer
/// does not expose the Cues): on a second demuxer so playback keeps its place.
struct KeyframeIndex {
    path: PathBuf,
    scanner: Option<Demux>,
    keyframes: Vec<u64>,
    /// Every keyframe before this time (microseconds) is known.
    known_to: u64,
    done: bool,
    /// False once the element let go of the reader: a long scan stops then.
    alive: Arc<AtomicBool>,
}

impl KeyframeIndex {
    /// The last keyframe at or before `us` (the first one if none is).
    fn at_or_before(&mut self, us: u64, dropped: &AtomicU64) -> u64 {
        while !self.done && self.known_to <= us && self.alive.load(Ordering::Relaxed) {
            if self.scanner.is_none() {
                match open_demux(&self.path) {
                    Ok(d) => self.scanner = Some(d),
                    Err(_) => self.done = true,
                }
                continue;
            }
            let scanner = self.scanner.as_mut().expect("opened above");
            match scanner.next(dropped) {
                Ok(Some(m)) => {
                    self.known_to = self.known_to.max(m.us);
                    if m.video
                        && m.key
                        && self.keyframes.len() < MAX_INDEX
                        && self.keyframes.last().is_none_or(|&k| k < m.us)
                    {
                        self.keyframes.push(m.us);
                    }
                }
                Ok(None) | Err(_) => self.done = true,
            }
        }
        match self.keyframes.partition_point(|&k| k <= us) {
            0 => self.keyframes.first().copied().unwrap_or(0),
            n => self.keyframes[n - 1],
        }
    }
}

/// The element's end of a running reader.
pub(crate) struct ReaderLink {
    pub(crate) commands: Sender<Command>,
    pub(crate) items: Receiver<(u64, Item)>,
    /// Bytes sent and not yet taken by the element.
    pub(crate) in_flight: Arc<AtomicUsize>,
    alive: Arc<AtomicBool>,
}

impl Drop for ReaderLink {
    fn drop(&mut self) {
        // The channels tell the reader too, but not while it scans for keyframes.
        self.alive.store(false, Ordering::Relaxed);
    }
}

/// The reader's ends of the channels to its element.
struct ReaderEnds {
    commands: Receiver<Command>,
    items: Sender<(u64, Item)>,
    in_flight: Arc<AtomicUsize>,
    alive: Arc<AtomicBool>,
}

/// Starts a reader thread running `body` with its ends of a new link.
fn spawn(body: impl FnOnce(ReaderEnds) + Send + 'static) -> Result<ReaderLink, OpenError> {
    let (commands_tx, commands_rx) = crossbeam_channel::bounded(16);
    let (items_tx, items_rx) = crossbeam_channel::bounded(256);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let alive = Arc::new(AtomicBool::new(true));
    let ends = ReaderEnds {
        commands: commands_rx,
        items: items_tx,
        in_flight: in_flight.clone(),
        alive: alive.clone(),
    };
    std::thread::Builder::new()
        .name("mf-player".into())
        .spawn(move || body(ends))
        .map_err(|e| OpenError {
            error_type: ErrorType::UnexpectedElementError,
            description: format!("player thread: {e}"),
        })?;
    Ok(ReaderLink {
        commands: commands_tx,
        items: items_rx,
        in_flight,
        alive,
    })
}

/// Opens `path` (on the caller's thread, so a missing file is known at once) and starts
/// its reader thread. The thread ends when the element drops its [`ReaderLink`].
pub(crate) fn start(path: &Path, dropped: Arc<AtomicU64>) -> Result<ReaderLink, OpenError> {
    let demux = open_demux(path)?;
    let path = path.to_owned();
    spawn(move |ends| Reader::new(demux, path, None, ends, dropped).run())
}

/// The largest file an http(s) URI may bring.
const MAX_DOWNLOAD: u64 = 2 << 30;
/// The longest a download may take, all of it.
const DOWNLOAD_DEADLINE: Duration = Duration::from_secs(600);

/// The body of a download as it is copied: fails once the player let go of the reader
/// (`alive` false) or past the deadline, so a slow or trickling server cannot keep the
/// thread (and the copy) for ever. A read already waiting on the network ends within
/// the per-read timeout.
struct Cancellable<R> {
    inner: R,
    alive: Arc<AtomicBool>,
    deadline: std::time::Instant,
}

impl<R: Read> Read for Cancellable<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.alive.load(Ordering::Relaxed) {
            return Err(io::Error::other("the player let go of the download"));
        }
        if std::time::Instant::now() >= self.deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("not downloaded within {} s", DOWNLOAD_DEADLINE.as_secs()),
            ));
        }
        self.inner.read(buf)
    }
}

/// A downloaded copy of an http(s) resource, deleted when its reader ends.
struct Download(tempfile::TempPath);

/// A new file for a download in the temporary directory: a random name, created anew
/// (never an existing file or link someone put there), readable by this user only.
fn temp_copy() -> io::Result<(File, Download)> {
    let (file, path) = tempfile::Builder::new()
        .prefix(&format!("mediaflow-player-{}-", std::process::id()))
        .suffix(".download")
        .tempfile()?
        .into_parts();
    Ok((file, Download(path)))
}

/// Downloads `url` into a temporary file (at most `MAX_DOWNLOAD` bytes; every network
/// wait bounded). matroska-demuxer reads the Cues at the end of a file when it opens
/// it, so playing starts once the whole file is there.
fn download(url: &str, alive: &Arc<AtomicBool>) -> Result<Download, OpenError> {
    let fail = |description: String| OpenError {
        error_type: ErrorType::ResourceErrorOpen,
        description,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(15)))
        .timeout_per_read(Some(Duration::from_secs(15)))
        .timeout_global(Some(DOWNLOAD_DEADLINE))
        .http_status_as_error(true)
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| fail(format!("{url}: {e}")))?;
    if let Some(len) = response.body().content_length() {
        if len > MAX_DOWNLOAD {
            return Err(fail(format!(
                "{url}: {len} bytes, more than {MAX_DOWNLOAD}"
            )));
        }
    }
    let (mut file, copy) = temp_copy().map_err(|e| {
        fail(format!(
            "{url}: cannot store it in {}: {e}",
            std::env::temp_dir().display()
        ))
    })?;
    let mut body = Cancellable {
        inner: response
            .body_mut()
            .with_config()
            .limit(MAX_DOWNLOAD)
            .reader(),
        alive: alive.clone(),
        deadline: std::time::Instant::now() + DOWNLOAD_DEADLINE,
    };
    io::copy(&mut body, &mut file).map_err(|e| fail(format!("{url}: {e}")))?;
    Ok(copy)
}

/// Starts a reader thread that downloads `url`, then plays it as a file. Failing to get
/// or open it sends `Item::Failed`. `info` gets the file's headers once it is there.
pub(crate) fn start_download(
    url: String,
    dropped: Arc<AtomicU64>,
    info: Arc<std::sync::Mutex<Option<FileInfo>>>,
) -> Result<ReaderLink, OpenError> {
    spawn(move |ends| {
        let opened = download(&url, &ends.alive).and_then(|copy| Ok((open_demux(&copy.0)?, copy)));
        match opened {
            Ok((demux, copy)) => {
                *info.lock().unwrap_or_else(|p| p.into_inner()) = Some(demux.info());
                let path = copy.0.to_path_buf();
                Reader::new(demux, path, Some(copy), ends, dropped).run();
            }
            Err(e) => {
                tracing::warn!("player: {}", e.description);
                let _ = ends
                    .items
                    .send((0, Item::Failed(e.error_type, e.description)));
            }
        }
    })
}

/// A link with no reader behind it: the test plays the reader's part.
#[cfg(test)]
pub(crate) fn link_for_test() -> (ReaderLink, Sender<(u64, Item)>, Receiver<Command>) {
    let (commands_tx, commands_rx) = crossbeam_channel::bounded(16);
    let (items_tx, items_rx) = crossbeam_channel::bounded(256);
    let link = ReaderLink {
        commands: commands_tx,
        items: items_rx,
        in_flight: Arc::new(AtomicUsize::new(0)),
        alive: Arc::new(AtomicBool::new(true)),
    };
    (link, items_tx, commands_rx)
}

struct Reader {
    demux: Demux,
    path: PathBuf,
    /// The downloaded copy `path` names, for an http(s) URI: deleted with the reader.
    _download: Option<Download>,
    index: KeyframeIndex,
    generation: u64,
    commands: Receiver<Command>,
    items: Sender<(u64, Item)>,
    in_flight: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
    /// After a seek: frames before this time (microseconds) are skipped.
    skip_before: Option<u64>,
    /// After a seek on the demuxer: the keyframe time the first video frame must have
    /// (else the seek went wrong and the file is read again from its start).
    expect_key: Option<u64>,
}

/// What became of a send.
enum Sent {
    Done,
    /// A command came first (the item was dropped).
    Commanded,
    Quit,
}

impl Reader {
    fn new(
        demux: Demux,
        path: PathBuf,
        download: Option<Download>,
        ends: ReaderEnds,
        dropped: Arc<AtomicU64>,
    ) -> Reader {
        Reader {
            demux,
            index: KeyframeIndex {
                path: path.clone(),
                scanner: None,
                keyframes: Vec::new(),
                known_to: 0,
                done: false,
                alive: ends.alive,
            },
            path,
            _download: download,
            generation: 0,
            commands: ends.commands,
            items: ends.items,
            in_flight: ends.in_flight,
            dropped,
            skip_before: None,
            expect_key: None,
        }
    }

    fn run(&mut self) {
        let mut ended = false;
        loop {
            // Commands first: a seek makes whatever is being read moot.
            loop {
                match self.commands.try_recv() {
                    Ok(c) => {
                        self.command(c);
                        ended = false;
                    }
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => return,
                }
            }
            if ended {
                // Nothing left to read: wait for a seek or the element's end.
                match self.commands.recv() {
                    Ok(c) => {
                        self.command(c);
                        ended = false;
                        continue;
                    }
                    Err(_) => return,
                }
            }
            let item = match self.demux.next(&self.dropped) {
                Ok(Some(m)) if self.skip_before.is_some_and(|t| m.us < t) => continue,
                Ok(Some(m)) if m.video && self.expect_key.is_some() => {
                    if self.expect_key.take() != Some(m.us) || !m.key {
                        self.reopen();
                        continue;
                    }
                    Item::Frame(m)
                }
                Ok(Some(m)) => Item::Frame(m),
                Ok(None) | Err(_) if self.expect_key.is_some() => {
                    self.reopen();
                    continue;
                }
                Ok(None) => Item::End,
                Err(e) => Item::Error(
                    ErrorType::StreamErrorFailed,
                    format!("{}: demuxing failed: {e}", self.path.display()),
                ),
            };
            ended = !matches!(item, Item::Frame(_));
            match self.send(item) {
                Sent::Done => {}
                Sent::Commanded => ended = false,
                Sent::Quit => return,
            }
        }
    }

    /// Jumps to the keyframe at or before the position. matroska-demuxer's seek (Cues
    /// when the file has them, else a scan of the clusters) lands on the first block
    /// at or after the keyframe's time; if it fails, the file is read again from the
    /// start and everything before the keyframe skipped.
    fn command(&mut self, command: Command) {
        let Command::Seek { generation, ms } = command;
        self.generation = generation;
        let target = ms.saturating_mul(1000);
        self.expect_key = None;
        let demux = match &mut self.demux {
            // MP4: its samples are indexed, the sync samples among them.
            Demux::Mp4(mp4) => {
                self.skip_before = Some(mp4.seek(target));
                return;
            }
            Demux::Mkv(mkv) => mkv,
        };
        let video = demux.video.is_some();
        let at = if video {
            self.index.at_or_before(target, &self.dropped)
        } else {
            target
        };
        let ticks = u128::from(at) * 1000 / u128::from(demux.scale_ns);
        self.skip_before = Some(at);
        let mkv = &mut demux.mkv;
        match unpanicked(|| mkv.seek(u64::try_from(ticks).unwrap_or(u64::MAX))) {
            Ok(Ok(())) if video => self.expect_key = Some(at),
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => self.reopen(),
        }
    }

    /// Reads the file again from its start (the frames before `skip_before` are
    /// skipped): the fallback when the demuxer's seek did not land where it should.
    fn reopen(&mut self) {
        self.expect_key = None;
        match open_demux(&self.path) {
            Ok(d) => self.demux = d,
            // The file went away meanwhile: what follows ends the stream.
            Err(e) => tracing::warn!("player: {}", e.description),
        }
    }

    /// Sends an item. While the channel is full it waits on the channel and the
    /// commands together (no polling); while the byte budget is spent (large frames) it
    /// looks again every 20 ms. A command arriving meanwhile drops the item.
    fn send(&mut self, item: Item) -> Sent {
        let size = match &item {
            Item::Frame(m) => m.data.len(),
            _ => 0,
        };
        loop {
            let in_flight = self.in_flight.load(Ordering::Acquire);
            if in_flight == 0 || in_flight + size <= MAX_IN_FLIGHT {
                break;
            }
            match self.commands.recv_timeout(SEND_WAIT) {
                Ok(c) => {
                    self.command(c);
                    return Sent::Commanded;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Sent::Quit,
            }
        }
        self.in_flight.fetch_add(size, Ordering::AcqRel);
        let (items, commands) = (self.items.clone(), self.commands.clone());
        let mut select = Select::new();
        let send = select.send(&items);
        select.recv(&commands);
        let op = select.select();
        if op.index() == send {
            return match op.send(&items, (self.generation, item)) {
                Ok(()) => Sent::Done,
                Err(_) => Sent::Quit,
            };
        }
        self.in_flight.fetch_sub(size, Ordering::AcqRel);
        match op.recv(&commands) {
            Ok(c) => {
                self.command(c);
                Sent::Commanded
            }
            Err(_) => Sent::Quit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::mkv::{DocType, MkvWriter, TrackKind};

    /// A VP8 keyframe header of 320x240 (RFC 6386 §9.1) and some bytes.
    fn keyframe() -> Vec<u8> {
        let mut f = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
        f.resize(500, 7);
        f
    }

    #[test]
    fn frames_past_the_cap_are_skipped_and_counted() {
        let path = std::env::temp_dir().join(format!(
            "mediaflow-player-unit-{}-huge.webm",
            std::process::id()
        ));
        let tracks = [TrackKind::Vp8 {
            width: 320,
            height: 240,
        }];
        let mut w = MkvWriter::new(File::create(&path).unwrap(), DocType::Webm, &tracks).unwrap();
        w.add_frame(1, 0, true, true, &keyframe()).unwrap();
        w.add_frame(1, 33, true, false, &vec![1u8; MAX_FRAME + 1])
            .unwrap();
        w.add_frame(1, 67, true, false, &[1, 2, 3]).unwrap();
        w.add_frame(1, 100, true, true, &keyframe()).unwrap();
        w.finish(133).unwrap();
        let dropped = AtomicU64::new(0);
        let Demux::Mkv(mut demux) = open_demux(&path).unwrap() else {
            panic!("a WebM file is read as one");
        };
        let mut got = Vec::new();
        while let Some(m) = demux.next(&dropped).unwrap() {
            got.push((m.us / 1000, m.key, m.data.len()));
        }
        assert_eq!(got, [(0, true, 500), (67, false, 3), (100, true, 500)]);
        assert_eq!(dropped.load(Ordering::Relaxed), 1);
        assert!(demux.frame.data.capacity() <= MAX_FRAME);
        // The keyframe index finds the keyframe at or before a position.
        let mut index = KeyframeIndex {
            path: path.clone(),
            scanner: None,
            keyframes: Vec::new(),
            known_to: 0,
            done: false,
            alive: Arc::new(AtomicBool::new(true)),
        };
        assert_eq!(index.at_or_before(90_000, &dropped), 0);
        assert_eq!(index.at_or_before(100_000, &dropped), 100_000);
        assert_eq!(index.at_or_before(10_000_000, &dropped), 100_000);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_seek_head_of_a_finished_file_is_found() {
        let path = std::env::temp_dir().join(format!(
            "mediaflow-player-unit-{}-head.webm",
            std::process::id()
        ));
        let tracks = [TrackKind::Opus { channels: 2 }];
        let mut w = MkvWriter::new(File::create(&path).unwrap(), DocType::Webm, &tracks).unwrap();
        w.add_frame(1, 0, false, true, &[1, 2, 3]).unwrap();
        w.finish(20).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (at, patch) = seek_head_as_void(&bytes).expect("a SeekHead");
        let at = at as usize;
        assert_eq!(&bytes[at..at + 4], &[0x11, 0x4d, 0x9b, 0x74]);
        assert_eq!(patch[0], 0xEC);
        // The Void's size is the SeekHead's, over the same number of bytes.
        let (size, len) = vint(&bytes, at + 4).unwrap();
        assert_eq!(vint(&patch, 1), Some((size, len + 3)));
        // Garbage has none.
        assert_eq!(seek_head_as_void(&[0xff; 64]), None);
        assert_eq!(seek_head_as_void(&[]), None);
        let _ = std::fs::remove_file(&path);
    }

    /// A recorded file whose SeekHead is replaced (in place, padded with a Void) by one
    /// with these (element id, position) entries.
    fn with_seek_head(name: &str, entries: &[(u32, u64)]) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "mediaflow-player-unit-{}-seek-head-{name}.webm",
            std::process::id()
        ));
        let tracks = [TrackKind::Vp8 {
            width: 320,
            height: 240,
        }];
        let mut w = MkvWriter::new(File::create(&path).unwrap(), DocType::Webm, &tracks).unwrap();
        for i in 0..10 {
            w.add_frame(1, i * 33, true, i % 5 == 0, &keyframe())
                .unwrap();
        }
        w.finish(330).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let (at, _) = seek_head_as_void(&bytes).expect("a SeekHead");
        let at = at as usize;
        let mut body = Vec::new();
        for &(id, position) in entries {
            body.extend_from_slice(&[0x4d, 0xbb, 0x80 | 18, 0x53, 0xab, 0x84]);
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&[0x53, 0xac, 0x88]);
            body.extend_from_slice(&position.to_be_bytes());
        }
        let mut head = vec![0x11, 0x4d, 0x9b, 0x74, 0x80 | body.len() as u8];
        head.extend_from_slice(&body);
        // The writer keeps 96 bytes for its SeekHead: the rest is a Void.
        let rest = 96 - head.len();
        head.extend_from_slice(&[0xec, 0x80 | (rest - 2) as u8]);
        head.resize(96, 0);
        bytes[at..at + 96].copy_from_slice(&head);
        std::fs::write(&path, &bytes).unwrap();
        path
    }

    /// Hostile SeekHeads (one naming itself: matroska-demuxer 0.8.1 loops forever; two
    /// such entries: it panics; a huge position: it overflows) open without it, on a
    /// thread given 10 s, and their frames are read.
    #[test]
    fn hostile_seek_heads_are_not_followed() {
        const SELF: u32 = SEEK_HEAD as u32;
        const INFO: u32 = 0x1549_A966;
        let cases: [(&str, &[(u32, u64)]); 4] = [
            ("self", &[(SELF, 0)]),
            ("twice", &[(SELF, 0), (SELF, 0)]),
            ("huge", &[(INFO, u64::MAX - 3)]),
            ("outside", &[(INFO, 1 << 30)]),
        ];
        for (name, entries) in cases {
            let path = with_seek_head(name, entries);
            let (done_tx, done) = crossbeam_channel::bounded(1);
            let probed = path.clone();
            std::thread::spawn(move || {
                let dropped = AtomicU64::new(0);
                let frames = open_demux(&probed).map(|mut d| {
                    let mut n = 0;
                    while let Ok(Some(_)) = d.next(&dropped) {
                        n += 1;
                    }
                    (d.info().duration_ms, n)
                });
                let _ = done_tx.send(frames.map_err(|e| e.error_type));
            });
            let got = done
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("{name}: the open hangs or panicked"));
            assert_eq!(got.ok(), Some((Some(330), 10)), "{name}");
            let _ = std::fs::remove_file(&path);
        }
        // A file's own SeekHead is safe.
        let path = with_seek_head("plain", &[]);
        let bytes = std::fs::read(&path).unwrap();
        assert!(seek_head_is_safe(&bytes, bytes.len() as u64));
        let _ = std::fs::remove_file(&path);
    }

    /// A download's copy: a new file of a random name, private to this user, deleted
    /// with its `Download`.
    #[cfg(unix)]
    #[test]
    fn download_copies_are_private_and_unpredictable() {
        use std::os::unix::fs::PermissionsExt;
        let (_a, first) = temp_copy().unwrap();
        let (_b, second) = temp_copy().unwrap();
        assert_ne!(first.0.to_path_buf(), second.0.to_path_buf());
        let mode = std::fs::metadata(&first.0).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Not the old guessable `<pid>-<counter>` name.
        let name = first.0.file_name().unwrap().to_string_lossy().into_owned();
        let pid = std::process::id();
        assert!(
            name.starts_with(&format!("mediaflow-player-{pid}-")),
            "{name}"
        );
        assert!((0..16).all(|n| name != format!("mediaflow-player-{pid}-{n}.download")));
        let path = first.0.to_path_buf();
        drop(first);
        assert!(!path.exists(), "deleted with its Download");
    }
}
