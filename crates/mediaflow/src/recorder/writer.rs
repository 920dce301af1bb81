//! The recorder's writer thread: takes frames over a bounded channel and writes the
//! file, so the pipeline's worker never waits on the disk.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use mediaflow_graph::ErrorType;
use mediaflow_transcoder::rtp::names;

use super::avc::{self, AvcConfig};
use super::mkv::{DocType, MkvWriter, TrackKind};
use super::mp4::{self, Mp4Writer};

/// What the element hands the writer.
pub(crate) struct Frame {
    /// Video (else audio).
    pub(crate) video: bool,
    /// Its codec (`video/VP8`, `video/H264` as Annex B, `audio/opus`).
    pub(crate) codec: &'static str,
    /// Milliseconds from the start of the recording.
    pub(crate) ms: u64,
    /// A video keyframe (audio: always true).
    pub(crate) key: bool,
    pub(crate) data: Vec<u8>,
}

/// What the writer reports back to the element.
#[derive(Debug)]
pub(crate) enum Status {
    /// Writing failed; what follows is dropped.
    Error(ErrorType, String),
    /// The file is finalised (or given up): the writer is gone.
    Stopped,
}

/// The file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Container {
    Webm,
    Matroska,
    /// Fragmented MP4: H.264 and Opus.
    Mp4,
}

/// The file's shape.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub(crate) container: Container,
    pub(crate) audio: bool,
    pub(crate) video: bool,
}

/// The file's video codec once chosen, shared by the element and its writer: a
/// Matroska file takes VP8 or H.264, but its one video track has one codec, written in
/// the header. The element chooses with the first keyframe it queues; the writer
/// chooses VP8 when it must write the header before any video came. Whoever comes
/// second follows (the element then has the graph convert to the chosen codec).
#[derive(Debug, Default)]
pub(crate) struct VideoCodec(AtomicU8);

impl VideoCodec {
    const CODECS: [&'static str; 2] = [names::VP8, names::H264];

    pub(crate) fn get(&self) -> Option<&'static str> {
        let i = self.0.load(Ordering::Acquire);
        Self::CODECS.get(usize::from(i).checked_sub(1)?).copied()
    }

    /// Chooses `codec` unless one was chosen already; the codec in force.
    pub(crate) fn choose(&self, codec: &'static str) -> &'static str {
        let Some(i) = Self::CODECS.iter().position(|&c| c == codec) else {
            return self.get().unwrap_or(codec);
        };
        match self
            .0
            .compare_exchange(0, i as u8 + 1, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => codec,
            Err(_) => self.get().unwrap_or(codec),
        }
    }
}

/// Audio frames held while the first video keyframe (which gives the track header its
/// dimensions, and H.264's parameter sets) has not come; past this the header is written
/// with a VP8 track of default dimensions, or, when the element already chose H.264 and
/// its keyframe is on the way, the oldest held frames are dropped.
const MAX_HELD: usize = 250;

pub(crate) fn error_type(e: &io::Error) -> ErrorType {
    if e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
        ErrorType::ResourceErrorNoSpaceLeft
    } else {
        ErrorType::ResourceErrorWrite
    }
}

/// VP8 keyframe dimensions (RFC 6386 §9.1), if `frame` is a keyframe.
fn vp8_size(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    (w > 0 && h > 0).then_some((w, h))
}

/// The video track a keyframe can start: VP8's size, H.264's size and parameter sets.
fn video_track(frame: &Frame) -> Option<TrackKind> {
    match frame.codec {
        names::VP8 => vp8_size(&frame.data).map(|(width, height)| TrackKind::Vp8 { width, height }),
        names::H264 => AvcConfig::from_access_unit(&frame.data).map(|c| TrackKind::H264 {
            width: c.width,
            height: c.height,
            record: c.record,
        }),
        _ => None,
    }
}

/// The container writer behind a [`FileWriter`].
enum Sink {
    Mkv(MkvWriter<BufWriter<File>>),
    // Boxed: it keeps its moov (to rewrite at the end), one allocation a recording.
    Mp4(Box<Mp4Writer<BufWriter<File>>>),
}

impl Sink {
    fn add_frame(
        &mut self,
        track: u8,
        ms: u64,
        video: bool,
        key: bool,
        data: &[u8],
    ) -> io::Result<()> {
        match self {
            Sink::Mkv(w) => w.add_frame(track, ms, video, key, data),
            Sink::Mp4(w) => w.add_frame(track, ms, video, key, data),
        }
    }

    /// Ends the file; `end_ms` is the last frame's time.
    fn finish(self, end_ms: u64) -> io::Result<BufWriter<File>> {
        match self {
            // The duration is that of the media written: its last frame plus one
            // frame's length (20 ms audio, ~33 ms video).
            Sink::Mkv(w) => w.finish(end_ms + 20),
            // MP4 samples have durations: the file's is where its last sample ends.
            Sink::Mp4(w) => w.finish(),
        }
    }
}

/// The file's writer: opens the container's header once the video track is known,
/// then writes frames in order.
struct FileWriter {
    layout: Layout,
    file: Option<File>,
    sink: Option<Sink>,
    /// The codec of the video track written in the header.
    video_codec: Option<&'static str>,
    /// The audio track's number (1-based; 2 behind a video track).
    audio_track: u8,
    held: VecDeque<Frame>,
    chosen: Arc<VideoCodec>,
    dropped: Arc<AtomicU64>,
}

impl FileWriter {
    /// Writes the header; a missing video track is VP8 of default dimensions in
    /// Matroska, and no video track in MP4 (which has no codec to take what may come).
    fn open(&mut self, video: Option<TrackKind>) -> io::Result<()> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let mp4 = self.layout.container == Container::Mp4;
        let mut tracks = Vec::new();
        let video = match video {
            Some(v) => Some(v),
            None if mp4 => None,
            None => Some(TrackKind::Vp8 {
                width: 640,
                height: 480,
            }),
        };
        if let Some(video) = video.filter(|_| self.layout.video) {
            self.video_codec = Some(match video {
                TrackKind::H264 { .. } => names::H264,
                _ => names::VP8,
            });
            tracks.push(video);
        }
        self.audio_track = tracks.len() as u8 + 1;
        if self.layout.audio {
            tracks.push(TrackKind::Opus { channels: 2 });
        }
        let out = BufWriter::with_capacity(256 << 10, file);
        let mut sink = match self.layout.container {
            Container::Webm => Sink::Mkv(MkvWriter::new(out, DocType::Webm, &tracks)?),
            Container::Matroska => Sink::Mkv(MkvWriter::new(out, DocType::Matroska, &tracks)?),
            Container::Mp4 => Sink::Mp4(Box::new(Mp4Writer::new(out, &tracks)?)),
        };
        for f in self.held.drain(..) {
            sink.add_frame(self.audio_track, f.ms, false, true, &f.data)?;
        }
        self.sink = Some(sink);
        Ok(())
    }

    /// Whether the container can start a video track of this kind (MP4: H.264 whose
    /// record `mp4-atom` reads).
    fn can_start(&self, track: &TrackKind) -> bool {
        self.layout.container != Container::Mp4 || mp4::accepts(track)
    }

    fn drop_frame(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Before the header: holds audio, opens on the first video keyframe that can start
    /// the track (or on too much audio held without one).
    fn before_header(&mut self, frame: Frame) -> io::Result<()> {
        if !self.layout.video {
            self.held.push_back(frame);
            return self.open(None);
        }
        if frame.video {
            match video_track(&frame).filter(|t| self.can_start(t)) {
                Some(track) => {
                    self.open(Some(track))?;
                    self.write(frame)
                }
                // The element queues only frames that start a track first: a frame
                // that cannot is not stored.
                None => {
                    self.drop_frame();
                    Ok(())
                }
            }
        } else {
            self.held.push_back(frame);
            if self.held.len() < MAX_HELD {
                return Ok(());
            }
            // MP4 waits for its H.264 keyframe: it has no other video codec.
            if self.layout.container != Container::Mp4
                && self.chosen.choose(names::VP8) == names::VP8
            {
                return self.open(None);
            }
            // H.264 was chosen (or MP4's, the only one) and its keyframe is on the way
            // (or asked for again).
            self.held.pop_front();
            self.drop_frame();
            Ok(())
        }
    }

    fn write(&mut self, frame: Frame) -> io::Result<()> {
        let audio_track = self.audio_track;
        let Some(sink) = self.sink.as_mut() else {
            return self.before_header(frame);
        };
        if !frame.video {
            return sink.add_frame(audio_track, frame.ms, false, true, &frame.data);
        }
        if Some(frame.codec) != self.video_codec {
            self.drop_frame();
            return Ok(());
        }
        if frame.codec == names::H264 {
            match avc::to_avcc(&frame.data) {
                Some(avcc) => sink.add_frame(1, frame.ms, true, frame.key, &avcc),
                None => {
                    self.drop_frame();
                    Ok(())
                }
            }
        } else {
            sink.add_frame(1, frame.ms, true, frame.key, &frame.data)
        }
    }

    /// The header if none was written (no video came), then the end of the file.
    fn finish(mut self, end_ms: u64) -> io::Result<()> {
        if self.sink.is_none() {
            if self.layout.container != Container::Mp4 {
                self.chosen.choose(names::VP8);
            }
            self.open(None)?;
        }
        let Some(sink) = self.sink.take() else {
            return Ok(());
        };
        let file = sink
            .finish(end_ms)?
            .into_inner()
            .map_err(|e| e.into_error())?;
        file.sync_data()
    }
}

/// What the writer shares with its element.
pub(crate) struct Shared {
    /// Frames dropped (counted for `dropped_frames()`).
    pub(crate) dropped: Arc<AtomicU64>,
    pub(crate) video_codec: Arc<VideoCodec>,
}

/// Runs until the element drops its sender (stop, release), then finalises the file.
/// `done` is dropped last: whoever waits on it knows the file is complete.
pub(crate) fn run(
    file: File,
    layout: Layout,
    shared: Shared,
    frames: Receiver<Frame>,
    status: Sender<Status>,
    done: Sender<()>,
) {
    let mut writer = FileWriter {
        layout,
        file: Some(file),
        sink: None,
        audio_track: 1,
        video_codec: None,
        held: VecDeque::new(),
        chosen: shared.video_codec,
        dropped: shared.dropped,
    };
    let fail = |e: io::Error| {
        tracing::warn!("recorder: writing failed: {e}");
        let _ = status.send(Status::Error(
            error_type(&e),
            format!("writing failed: {e}"),
        ));
    };
    let mut failed = false;
    let mut end_ms = 0u64;
    loop {
        let frame = match frames.recv_timeout(Duration::from_secs(1)) {
            Ok(f) => f,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        if failed {
            continue;
        }
        end_ms = end_ms.max(frame.ms);
        if let Err(e) = writer.write(frame) {
            fail(e);
            failed = true;
        }
    }
    if !failed {
        if let Err(e) = writer.finish(end_ms) {
            fail(e);
        }
    }
    let _ = status.send(Status::Stopped);
    drop(done);
}

#[cfg(test)]
mod tests {
    use super::*;
    use mp4_atom::Decode;

    fn writer(layout: Layout) -> (FileWriter, tempfile::NamedTempFile) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let writer = FileWriter {
            layout,
            file: Some(tmp.reopen().unwrap()),
            sink: None,
            audio_track: 1,
            video_codec: None,
            held: VecDeque::new(),
            chosen: Arc::new(VideoCodec::default()),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (writer, tmp)
    }

    fn frame(codec: &'static str, ms: u64, data: Vec<u8>) -> Frame {
        Frame {
            video: codec != names::OPUS,
            codec,
            ms,
            key: true,
            data,
        }
    }

    const MKV: Layout = Layout {
        container: Container::Matroska,
        audio: true,
        video: true,
    };

    fn h264_keyframe() -> Vec<u8> {
        let mut enc = mediaflow_transcoder::H264Encoder::new(160, 120, 300).unwrap();
        let picture = mediaflow_transcoder::I420Frame::filled(160, 120, 90, 128);
        enc.encode(&picture, true).unwrap().remove(0).data
    }

    fn codec_ids(file: &tempfile::NamedTempFile) -> Vec<String> {
        let mkv = matroska_demuxer::MatroskaFile::open(file.reopen().unwrap()).unwrap();
        mkv.tracks()
            .iter()
            .map(|t| t.codec_id().to_owned())
            .collect()
    }

    /// Audio with no video for too long: the header goes out with a VP8 track, VP8 is
    /// chosen for the element, and an H.264 frame that still comes is dropped, counted.
    #[test]
    fn a_header_without_video_chooses_vp8_and_other_video_is_dropped() {
        let (mut w, tmp) = writer(MKV);
        for i in 0..MAX_HELD as u64 {
            w.write(frame(names::OPUS, i * 20, vec![0xfc, 1])).unwrap();
        }
        assert_eq!(w.chosen.get(), Some(names::VP8));
        assert_eq!(
            w.chosen.choose(names::H264),
            names::VP8,
            "the first choice holds"
        );
        w.write(frame(names::H264, 5_000, h264_keyframe())).unwrap();
        assert_eq!(w.dropped.load(Ordering::Relaxed), 1);
        w.finish(5_000).unwrap();
        assert_eq!(codec_ids(&tmp), ["V_VP8", "A_OPUS"]);
    }

    /// H.264 chosen by the element before its keyframe reached the writer: the audio
    /// held meanwhile stays bounded (the oldest dropped, counted), and the keyframe
    /// then starts an H.264 track.
    #[test]
    fn audio_held_for_an_h264_keyframe_is_bounded() {
        let (mut w, tmp) = writer(MKV);
        w.chosen.choose(names::H264);
        for i in 0..(MAX_HELD + 50) as u64 {
            w.write(frame(names::OPUS, i * 20, vec![0xfc, 1])).unwrap();
        }
        assert!(w.sink.is_none());
        assert_eq!(w.held.len(), MAX_HELD - 1);
        assert_eq!(w.dropped.load(Ordering::Relaxed), 51);
        // A frame without a NAL unit cannot start the track either.
        w.write(frame(names::H264, 6_000, vec![1, 2, 3])).unwrap();
        assert_eq!(w.dropped.load(Ordering::Relaxed), 52);
        w.write(frame(names::H264, 6_000, h264_keyframe())).unwrap();
        assert_eq!(w.video_codec, Some(names::H264));
        assert!(w.held.is_empty());
        w.finish(6_000).unwrap();
        assert_eq!(codec_ids(&tmp), ["V_MPEG4/ISO/AVC", "A_OPUS"]);
    }

    /// MP4 has no VP8: a VP8 keyframe cannot start its video track (dropped, counted);
    /// audio held past the limit drops its oldest rather than giving up on video; a
    /// recording with no video at all has an audio track only.
    #[test]
    fn mp4_waits_for_h264_and_without_video_keeps_audio_only() {
        let mp4 = Layout {
            container: Container::Mp4,
            audio: true,
            video: true,
        };
        let (mut w, tmp) = writer(mp4);
        let vp8_key = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        w.write(frame(names::VP8, 0, vp8_key)).unwrap();
        for i in 0..(MAX_HELD + 10) as u64 {
            w.write(frame(names::OPUS, i * 20, vec![0xfc, 1])).unwrap();
        }
        assert!(w.sink.is_none());
        assert_eq!(w.chosen.get(), None, "no VP8 chosen for MP4");
        assert_eq!(w.dropped.load(Ordering::Relaxed), 1 + 11);
        w.finish(6_000).unwrap();
        let file = std::fs::read(tmp.path()).unwrap();
        let mut buf = &file[..];
        let mut moov = None;
        while !buf.is_empty() {
            if let mp4_atom::Any::Moov(m) = mp4_atom::Any::decode(&mut buf).unwrap() {
                moov = Some(m);
            }
        }
        let moov = moov.expect("a moov");
        assert_eq!(moov.trak.len(), 1);
        assert_eq!(
            moov.trak[0].mdia.hdlr.handler,
            mp4_atom::FourCC::new(b"soun")
        );
    }

    #[test]
    fn vp8_keyframes_give_their_size() {
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        assert_eq!(vp8_size(&key), Some((640, 480)));
        let mut inter = key;
        inter[0] |= 1;
        assert_eq!(vp8_size(&inter), None);
    }
}
