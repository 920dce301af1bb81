//! The recorder's writer thread: takes frames over a bounded channel and writes the
//! file, so the pipeline's worker never waits on the disk.

use std::fs::File;
use std::io::{self, BufWriter};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use mediaflow_graph::ErrorType;

use super::mkv::{DocType, MkvWriter, TrackKind};

/// What the element hands the writer.
pub(crate) struct Frame {
    /// Video (else audio).
    pub(crate) video: bool,
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

/// The file's shape.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub(crate) doc: DocType,
    pub(crate) audio: bool,
    pub(crate) video: bool,
}

/// Audio frames held while the first video keyframe (which gives the dimensions for
/// the track header) has not come; past this the header is written with defaults.
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

/// Runs until the element drops its sender (stop, release), then finalises the file.
/// `done` is dropped last: whoever waits on it knows the file is complete.
pub(crate) fn run(
    file: File,
    layout: Layout,
    frames: Receiver<Frame>,
    status: Sender<Status>,
    done: Sender<()>,
) {
    let mut held: Vec<Frame> = Vec::new();
    let mut mkv: Option<MkvWriter<BufWriter<File>>> = None;
    let mut file = Some(file);
    let mut failed = false;
    let mut end_ms = 0u64;
    let audio_track = if layout.video { 2 } else { 1 };
    let fail = |e: io::Error, failed: &mut bool| {
        tracing::warn!("recorder: writing failed: {e}");
        let _ = status.send(Status::Error(
            error_type(&e),
            format!("writing failed: {e}"),
        ));
        *failed = true;
    };
    let open = |file: File, size: Option<(u16, u16)>| {
        let mut tracks = Vec::new();
        if layout.video {
            let (width, height) = size.unwrap_or((640, 480));
            tracks.push(TrackKind::Vp8 { width, height });
        }
        if layout.audio {
            tracks.push(TrackKind::Opus { channels: 2 });
        }
        MkvWriter::new(
            BufWriter::with_capacity(256 << 10, file),
            layout.doc,
            &tracks,
        )
    };
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
        if mkv.is_none() {
            let size = frame.video.then(|| vp8_size(&frame.data)).flatten();
            let ready = !layout.video || size.is_some() || held.len() >= MAX_HELD;
            if !ready {
                if !frame.video {
                    held.push(frame);
                }
                continue;
            }
            match open(file.take().expect("the file is opened once"), size) {
                Ok(m) => mkv = Some(m),
                Err(e) => {
                    fail(e, &mut failed);
                    continue;
                }
            }
        }
        let m = mkv.as_mut().expect("opened above");
        for f in held.drain(..).chain(std::iter::once(frame)) {
            let track = if f.video { 1 } else { audio_track };
            if let Err(e) = m.add_frame(track, f.ms, f.video, f.key, &f.data) {
                fail(e, &mut failed);
                break;
            }
        }
    }
    if !failed {
        if mkv.is_none() {
            // No video came: the header with default dimensions, the audio held.
            if let Some(file) = file.take() {
                match open(file, None) {
                    Ok(mut m) => {
                        for f in held.drain(..) {
                            if let Err(e) = m.add_frame(audio_track, f.ms, false, true, &f.data) {
                                fail(e, &mut failed);
                                break;
                            }
                        }
                        mkv = Some(m);
                    }
                    Err(e) => fail(e, &mut failed),
                }
            }
        }
        if let Some(m) = mkv.take() {
            // The duration is that of the media written: its last frame plus one
            // frame's length (20 ms audio, ~33 ms video).
            match m
                .finish(end_ms + 20)
                .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            {
                Ok(f) => {
                    if let Err(e) = f.sync_data() {
                        fail(e, &mut failed);
                    }
                }
                Err(e) => fail(e, &mut failed),
            }
        }
    }
    let _ = status.send(Status::Stopped);
    drop(done);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframes_give_their_size() {
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        assert_eq!(vp8_size(&key), Some((640, 480)));
        let mut inter = key;
        inter[0] |= 1;
        assert_eq!(vp8_size(&inter), None);
    }
}
