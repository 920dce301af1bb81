//! MP4 for the player's reader: the boxes are decoded with `mp4-atom`, every sample of
//! the tracks we play (the first H.264 and Opus ones) is indexed when the file opens,
//! then read in decode order. Both layouts: a plain file's sample tables (stts, ctts,
//! stsc, stsz, stco/co64, stss), and fragments (moof + mdat, as our recorder writes
//! them), of which a file cut short keeps the samples that are whole.
//!
//! Nothing in the file is trusted: the `moov` and each `moof` are read only up to
//! `MAX_HEADER_BOX`, samples are indexed up to `MAX_SAMPLES` and visited up to
//! `MAX_VISITS`, a sample past the end of the file is left out, and one larger than
//! `MAX_FRAME` is skipped and counted when it comes.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use mediaflow_graph::ErrorType;
use mediaflow_transcoder::rtp::names;
use mp4_atom::{Codec, Decode, Moof, Moov, Stbl, StszSamples, Traf, Trex};

use super::avc::Avc;
use super::reader::{unpanicked, FileInfo, Media, OpenError, MAX_FRAME};

/// Samples indexed at most, both tracks together (over 9 hours of 30 fps video and
/// 50 fps Opus); 32 bytes each.
const MAX_SAMPLES: usize = 1 << 21;
/// Samples looked at while indexing at most (those past the end of the file too): a
/// hostile run of billions of samples ends there.
const MAX_VISITS: usize = 4 * MAX_SAMPLES;
/// A `moov` or `moof` larger than this is not read (a two-hour file's `moov` is a few
/// MiB).
const MAX_HEADER_BOX: u64 = 32 << 20;
/// Top-level boxes walked at most.
const MAX_BOXES: usize = 1 << 20;
/// `sample_is_non_sync_sample` in sample flags (ISO 14496-12 §8.8.3.1).
const NON_SYNC: u32 = 0x0001_0000;

/// Whether `head` (a file's first bytes) starts with an MP4 `ftyp` box.
pub(crate) fn is_mp4(head: &[u8]) -> bool {
    head.get(4..8) == Some(b"ftyp".as_slice())
}

/// One sample of a track we play.
#[derive(Clone, Copy, Debug)]
struct Sample {
    offset: u64,
    /// Decode time, microseconds.
    dts: u64,
    /// Presentation time, microseconds.
    us: u64,
    size: u32,
    video: bool,
    sync: bool,
}

/// A track we play, as the fragments need it.
#[derive(Clone, Debug)]
struct Track {
    id: u32,
    video: bool,
    timescale: u32,
    /// Defaults for its fragments' samples.
    trex: Trex,
    /// Where its next fragment's samples start when no `tfdt` says (ticks).
    next_dts: u64,
}

/// What the indexing found: the tracks and their samples.
#[derive(Default)]
struct Index {
    tracks: Vec<Track>,
    avc: Option<Avc>,
    samples: Vec<Sample>,
    /// Where the last sample ends (microseconds).
    end_us: u64,
    /// The header's duration (mvhd, else mehd), milliseconds.
    header_ms: Option<u64>,
    visits: usize,
    len: u64,
}

/// An MP4 file being played.
pub(crate) struct Mp4Demux {
    file: BufReader<File>,
    pos: u64,
    avc: Option<Avc>,
    samples: Vec<Sample>,
    /// The next sample to read.
    cursor: usize,
    duration_ms: Option<u64>,
}

/// `ticks` of `timescale` in microseconds.
fn micros(ticks: u64, timescale: u32) -> u64 {
    let us = u128::from(ticks) * 1_000_000 / u128::from(timescale.max(1));
    u64::try_from(us).unwrap_or(u64::MAX)
}

/// A top-level box at `at`: its type and where it ends (past `len` when the file is
/// cut short); `None` at the end of the file.
fn box_at(r: &mut BufReader<File>, at: u64, len: u64) -> io::Result<Option<([u8; 4], u64)>> {
    if at.saturating_add(8) > len {
        return Ok(None);
    }
    r.seek(SeekFrom::Start(at))?;
    let mut head = [0u8; 16];
    r.read_exact(&mut head[..8])?;
    let kind = [head[4], head[5], head[6], head[7]];
    let (size, header) = match u32::from_be_bytes([head[0], head[1], head[2], head[3]]) {
        0 => (len - at, 8),
        1 => {
            r.read_exact(&mut head[8..])?;
            (
                u64::from_be_bytes(head[8..].try_into().expect("8 bytes")),
                16,
            )
        }
        n => (u64::from(n), 8),
    };
    if size < header {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a box of {size} bytes"),
        ));
    }
    Ok(Some((kind, at.saturating_add(size))))
}

/// Reads the whole box `at..end` and decodes it.
fn decode_box<T: Decode>(r: &mut BufReader<File>, at: u64, end: u64) -> Result<T, String> {
    let size = end - at;
    if size > MAX_HEADER_BOX {
        return Err(format!("a box of {size} bytes, more than {MAX_HEADER_BOX}"));
    }
    let mut bytes = vec![0u8; size as usize];
    r.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
    r.read_exact(&mut bytes).map_err(|e| e.to_string())?;
    unpanicked(|| T::decode(&mut bytes.as_slice()))?.map_err(|e| e.to_string())
}

/// The tracks of `moov` we play, and the names of the others' codecs.
fn tracks(moov: &Moov, index: &mut Index) -> Vec<String> {
    let mut others = Vec::new();
    for trak in &moov.trak {
        let timescale = trak.mdia.mdhd.timescale;
        let codec = trak.mdia.minf.stbl.stsd.codecs.first();
        let has_video = index.tracks.iter().any(|t| t.video);
        let has_audio = index.tracks.iter().any(|t| !t.video);
        let video = match codec {
            Some(Codec::Avc1(a)) if !has_video => Some(&a.avcc),
            Some(Codec::Avc3(a)) if !has_video => Some(&a.avcc),
            Some(Codec::Opus(_)) if !has_audio => None,
            other => {
                others.push(other.map_or("none".to_owned(), codec_name));
                continue;
            }
        };
        if timescale == 0 {
            others.push("a track of timescale 0".to_owned());
            continue;
        }
        if let Some(avcc) = video {
            index.avc = Some(Avc::from_parts(
                avcc.length_size,
                &avcc.sequence_parameter_sets,
                &avcc.picture_parameter_sets,
            ));
        }
        let id = trak.tkhd.track_id;
        let trex = moov
            .mvex
            .iter()
            .flat_map(|m| &m.trex)
            .find(|t| t.track_id == id)
            .cloned()
            .unwrap_or_default();
        index.tracks.push(Track {
            id,
            video: video.is_some(),
            timescale,
            trex,
            next_dts: 0,
        });
        table_samples(&trak.mdia.minf.stbl, index.tracks.len() - 1, index);
    }
    others
}

/// A sample entry's four-character code, for messages.
fn codec_name(codec: &Codec) -> String {
    if let Codec::Unknown(kind, _) = codec {
        return kind.to_string();
    }
    let debug = format!("{codec:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("unknown")
        .to_owned()
}

impl Index {
    /// Adds a sample of track `t` (ticks) if it is whole in the file; false once no
    /// more may be added.
    fn add(&mut self, t: usize, offset: u64, size: u32, dts: u64, pts: u64, sync: bool) -> bool {
        self.visits += 1;
        if self.visits > MAX_VISITS || self.samples.len() >= MAX_SAMPLES {
            return false;
        }
        if offset.saturating_add(u64::from(size)) > self.len {
            return true;
        }
        let track = &self.tracks[t];
        self.samples.push(Sample {
            offset,
            dts: micros(dts, track.timescale),
            us: micros(pts, track.timescale),
            size,
            video: track.video,
            sync,
        });
        true
    }

    fn ended(&mut self, t: usize, end_ticks: u64) {
        let end = micros(end_ticks, self.tracks[t].timescale);
        self.end_us = self.end_us.max(end);
    }
}

/// The samples of a plain file's sample table (none in a fragmented file's).
fn table_samples(stbl: &Stbl, t: usize, index: &mut Index) {
    let (count, same) = match &stbl.stsz.samples {
        StszSamples::Identical { count, size } => (*count as usize, Some(*size)),
        StszSamples::Different { sizes } => (sizes.len(), None),
    };
    let size_of = |i: usize| match &stbl.stsz.samples {
        StszSamples::Different { sizes } => sizes[i],
        StszSamples::Identical { .. } => same.unwrap_or(0),
    };
    let chunks: Box<dyn Iterator<Item = u64>> = match (&stbl.co64, &stbl.stco) {
        (Some(co64), _) => Box::new(co64.entries.iter().copied()),
        (None, Some(stco)) => Box::new(stco.entries.iter().map(|&o| u64::from(o))),
        (None, None) => Box::new(std::iter::empty()),
    };
    let mut deltas = stbl
        .stts
        .entries
        .iter()
        .flat_map(|e| std::iter::repeat_n(e.sample_delta, e.sample_count as usize));
    let mut offsets = stbl
        .ctts
        .iter()
        .flat_map(|c| &c.entries)
        .flat_map(|e| std::iter::repeat_n(e.sample_offset, e.sample_count as usize));
    let stss = stbl.stss.as_ref().map(|s| s.entries.as_slice());
    let (mut sample, mut dts, mut stsc, mut sync_at) = (0usize, 0u64, 0usize, 0usize);
    let entries = &stbl.stsc.entries;
    for (chunk, chunk_offset) in chunks.enumerate() {
        while entries
            .get(stsc + 1)
            .is_some_and(|e| e.first_chunk as usize <= chunk + 1)
        {
            stsc += 1;
        }
        let per_chunk = entries.get(stsc).map_or(0, |e| e.samples_per_chunk);
        let mut offset = chunk_offset;
        for _ in 0..per_chunk {
            if sample >= count {
                break;
            }
            let size = size_of(sample);
            let pts = dts.saturating_add_signed(offsets.next().unwrap_or(0));
            // stss: 1-based, ascending; none means every sample is a sync sample.
            let sync = stss.is_none_or(|s| {
                while s.get(sync_at).is_some_and(|&n| (n as usize) < sample + 1) {
                    sync_at += 1;
                }
                s.get(sync_at) == Some(&(sample as u32 + 1))
            });
            if !index.add(t, offset, size, dts, pts, sync) {
                return;
            }
            offset = offset.saturating_add(u64::from(size));
            dts = dts.saturating_add(u64::from(deltas.next().unwrap_or(0)));
            sample += 1;
        }
    }
    if sample > 0 {
        index.ended(t, dts);
    }
}

/// The samples of one fragment (`moof` at `moof_at`) of the tracks we play.
fn fragment_samples(moof: &Moof, moof_at: u64, index: &mut Index) -> bool {
    for traf in &moof.traf {
        let Some(t) = index.tracks.iter().position(|t| t.id == traf.tfhd.track_id) else {
            continue;
        };
        if !traf_samples(traf, moof_at, t, index) {
            return false;
        }
    }
    true
}

/// The samples of track `t` in `traf`; false once no more may be added.
fn traf_samples(traf: &Traf, moof_at: u64, t: usize, index: &mut Index) -> bool {
    let tfhd = &traf.tfhd;
    let trex = index.tracks[t].trex.clone();
    let base = tfhd.base_data_offset.unwrap_or(moof_at);
    let mut dts = traf
        .tfdt
        .as_ref()
        .map_or(index.tracks[t].next_dts, |d| d.base_media_decode_time);
    let mut offset = base;
    for trun in &traf.trun {
        if let Some(data_offset) = trun.data_offset {
            offset = base.saturating_add_signed(i64::from(data_offset));
        }
        for e in trun.samples.iter() {
            let size = e
                .size
                .or(tfhd.default_sample_size)
                .unwrap_or(trex.default_sample_size);
            let duration = e
                .duration
                .or(tfhd.default_sample_duration)
                .unwrap_or(trex.default_sample_duration);
            let flags = e
                .flags
                .or(tfhd.default_sample_flags)
                .unwrap_or(trex.default_sample_flags);
            let pts = dts.saturating_add_signed(e.cts.unwrap_or(0));
            // The rest of the run is past the end of the file too.
            if offset > index.len || !index.add(t, offset, size, dts, pts, flags & NON_SYNC == 0) {
                return offset > index.len;
            }
            offset = offset.saturating_add(u64::from(size));
            dts = dts.saturating_add(u64::from(duration));
        }
    }
    index.tracks[t].next_dts = dts;
    index.ended(t, dts);
    true
}

/// The header's duration in milliseconds: mvhd's, else mehd's (a fragmented file's).
fn header_ms(moov: &Moov) -> Option<u64> {
    let scale = moov.mvhd.timescale;
    let ticks = Some(moov.mvhd.duration)
        .filter(|&d| d > 0 && d != u64::from(u32::MAX) && d != u64::MAX)
        .or_else(|| {
            moov.mvex
                .as_ref()?
                .mehd
                .as_ref()
                .map(|m| m.fragment_duration)
        })
        .filter(|&d| d > 0)?;
    (scale > 0).then(|| micros(ticks, scale) / 1000)
}

/// Walks the top-level boxes: the `moov`'s tracks and tables, then every whole `moof`.
/// A box cut short ends the walk (the `moov` must be whole).
fn walk(r: &mut BufReader<File>, index: &mut Index) -> Result<Vec<String>, String> {
    let (mut at, mut others, mut moov_seen) = (0u64, None, false);
    for n in 0..MAX_BOXES {
        let Some((kind, end)) = box_at(r, at, index.len).map_err(|e| e.to_string())? else {
            break;
        };
        let whole = end <= index.len;
        match &kind {
            b"ftyp" if n == 0 => {}
            _ if n == 0 => return Err("it does not start with an ftyp box".into()),
            b"moov" if !whole => return Err("its moov box is cut short".into()),
            b"moov" if !moov_seen => {
                let moov: Moov = decode_box(r, at, end).map_err(|e| format!("moov: {e}"))?;
                index.header_ms = header_ms(&moov);
                others = Some(tracks(&moov, index));
                moov_seen = true;
            }
            b"moof" if whole && moov_seen => match decode_box::<Moof>(r, at, end) {
                Ok(moof) if fragment_samples(&moof, at, index) => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::info!("player: a moof at {at} is unreadable ({e}): the file ends");
                    break;
                }
            },
            _ if !whole => break,
            _ => {}
        }
        at = end;
    }
    others.ok_or_else(|| "it has no moov box".into())
}

impl Mp4Demux {
    /// Opens `path` (an MP4 file) and indexes its samples.
    pub(crate) fn open(path: &Path) -> Result<Mp4Demux, OpenError> {
        let cannot = |e: io::Error| OpenError {
            error_type: ErrorType::ResourceErrorOpen,
            description: format!("cannot open {}: {e}", path.display()),
        };
        let bad = |e: String| OpenError {
            error_type: ErrorType::InvalidMedia,
            description: format!("{} is not a readable MP4 file: {e}", path.display()),
        };
        let file = File::open(path).map_err(cannot)?;
        let len = file.metadata().map_err(cannot)?.len();
        let mut file = BufReader::with_capacity(64 << 10, file);
        let mut index = Index {
            len,
            ..Index::default()
        };
        let others = walk(&mut file, &mut index).map_err(bad)?;
        if index.tracks.is_empty() {
            return Err(OpenError {
                error_type: ErrorType::InvalidMedia,
                description: format!(
                    "{}: no H.264 or Opus track to play (tracks: {others:?})",
                    path.display()
                ),
            });
        }
        index.samples.sort_by_key(|s| (s.dts, s.offset));
        let duration_ms = match index.samples.is_empty() {
            true => index.header_ms,
            false => Some(index.end_us / 1000),
        };
        file.seek(SeekFrom::Start(0)).map_err(cannot)?;
        Ok(Mp4Demux {
            file,
            pos: 0,
            avc: index.avc,
            samples: index.samples,
            cursor: 0,
            duration_ms,
        })
    }

    pub(crate) fn info(&self) -> FileInfo {
        FileInfo {
            duration_ms: self.duration_ms,
        }
    }

    /// Reads `size` bytes at `offset`, keeping the read buffer when it is near.
    fn read_at(&mut self, offset: u64, size: usize) -> io::Result<Vec<u8>> {
        let delta = i64::try_from(i128::from(offset) - i128::from(self.pos))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seek too far"))?;
        self.file.seek_relative(delta)?;
        self.pos = offset;
        let mut data = vec![0u8; size];
        let read = self.file.read_exact(&mut data);
        // Where the file is after a failed read is unknown: seek from the start next.
        match read {
            Ok(()) => self.pos += size as u64,
            Err(_) => self.pos = self.file.seek(SeekFrom::Start(0))?,
        }
        read.map(|()| data)
    }

    /// The next sample in decode order: `Ok(None)` at the end. Samples past `MAX_FRAME`
    /// and H.264 samples that are not NAL units are skipped and counted in `dropped`.
    pub(crate) fn next(&mut self, dropped: &AtomicU64) -> Result<Option<Media>, String> {
        loop {
            let Some(s) = self.samples.get(self.cursor).copied() else {
                return Ok(None);
            };
            self.cursor += 1;
            if s.size as usize > MAX_FRAME {
                dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let data = match self.read_at(s.offset, s.size as usize) {
                Ok(data) => data,
                // The file got shorter since it was opened: it ends there.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e.to_string()),
            };
            let (codec, key, data) = match (&self.avc, s.video) {
                (Some(avc), true) => match avc.to_annex_b(&data) {
                    Some((annex_b, idr)) => (names::H264, idr, annex_b),
                    None => {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                },
                _ => (names::OPUS, true, data),
            };
            return Ok(Some(Media {
                video: s.video,
                codec,
                us: s.us,
                key,
                data,
            }));
        }
    }

    /// Goes to the video sync sample at or before `us` (the first one if none is;
    /// audio only: to `us`). Returns the time playback goes on from: what is before it
    /// is to be skipped.
    pub(crate) fn seek(&mut self, us: u64) -> u64 {
        let syncs = || {
            self.samples
                .iter()
                .enumerate()
                .filter(|(_, s)| s.video && s.sync)
        };
        let key = syncs()
            .filter(|(_, s)| s.us <= us)
            .max_by_key(|(i, s)| (s.us, *i))
            .or_else(|| syncs().next())
            .map(|(_, s)| *s);
        let (dts, at) = key.map_or((us, us), |k| (k.dts, k.us));
        self.cursor = self.samples.partition_point(|s| s.dts < dts);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::mkv::TrackKind;
    use crate::recorder::mp4::Mp4Writer;
    use std::io::Cursor;

    /// An avcC record: profile 66, 4-byte lengths, one SPS and one PPS.
    const RECORD: [u8; 19] = [
        1, 66, 0xc0, 30, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x1e, 1, 0, 4, 0x68, 0xce, 0x3c, 0x80,
    ];

    /// A fragmented MP4 as our recorder writes it: 3 s of video at 25 fps (an IDR
    /// every second) and Opus every 20 ms.
    fn recorded() -> Vec<u8> {
        let tracks = [
            TrackKind::H264 {
                width: 320,
                height: 240,
                record: RECORD.to_vec(),
            },
            TrackKind::Opus { channels: 2 },
        ];
        let mut w = Mp4Writer::new(Cursor::new(Vec::new()), &tracks).unwrap();
        for ms in (0..3000).step_by(20) {
            if ms % 40 == 0 {
                let key = ms % 1000 == 0;
                let frame: &[u8] = if key {
                    &[0, 0, 0, 3, 0x65, 0x88, 0x84]
                } else {
                    &[0, 0, 0, 2, 0x41, 0x9a]
                };
                w.add_frame(1, ms, true, key, frame).unwrap();
            }
            w.add_frame(2, ms, false, true, &[0xfc, 1, 2, 3]).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// The same media as a plain MP4 (`moov` first, then one `mdat`; sample tables with
    /// chunks of 5 samples, all video then all audio), built from the fragmented file's
    /// `moov` and samples.
    fn plain() -> Vec<u8> {
        use mp4_atom::{Any, Encode};
        let frag = recorded();
        let path = temp("to-plain", &frag);
        let samples = Mp4Demux::open(&path).unwrap().samples;
        let _ = std::fs::remove_file(&path);
        let ftyp_len = u32::from_be_bytes(frag[..4].try_into().unwrap()) as usize;
        let Any::Moov(mut moov) = Any::decode(&mut &frag[ftyp_len..]).unwrap() else {
            panic!("the moov second");
        };
        moov.mvex = None;
        let tracks = [true, false]
            .map(|v| -> Vec<Sample> { samples.iter().filter(|s| s.video == v).copied().collect() });
        let (mut data, mut chunks) = (Vec::new(), [Vec::new(), Vec::new()]);
        for (t, starts) in tracks.iter().zip(&mut chunks) {
            for (i, s) in t.iter().enumerate() {
                if i % 5 == 0 {
                    starts.push(data.len() as u64);
                }
                data.extend_from_slice(&frag[s.offset as usize..][..s.size as usize]);
            }
        }
        let fill = |moov: &mut Moov, base: u64| {
            for (trak, (t, starts)) in moov.trak.iter_mut().zip(tracks.iter().zip(&chunks)) {
                sample_tables(trak, t, starts, base);
            }
        };
        fill(&mut moov, 0);
        let mut encoded = Vec::new();
        moov.encode(&mut encoded).unwrap();
        fill(&mut moov, (ftyp_len + encoded.len() + 8) as u64);
        let mut out = frag[..ftyp_len].to_vec();
        moov.encode(&mut out).unwrap();
        out.extend_from_slice(&(data.len() as u32 + 8).to_be_bytes());
        out.extend_from_slice(b"mdat");
        out.extend_from_slice(&data);
        out
    }

    /// Fills `trak`'s sample tables with `t`, in chunks of 5 starting at `starts` (from
    /// `base`).
    fn sample_tables(trak: &mut mp4_atom::Trak, t: &[Sample], starts: &[u64], base: u64) {
        use mp4_atom::{Ctts, CttsEntry, Stco, Stsc, StscEntry, Stss, Stsz, Stts};
        let scale = u64::from(trak.mdia.mdhd.timescale);
        let ticks = |us: u64| us * scale / 1_000_000;
        let stbl = &mut trak.mdia.minf.stbl;
        let ends = t
            .iter()
            .skip(1)
            .map(|s| s.dts)
            .chain([t[t.len() - 1].dts + 20_000]);
        stbl.stts = Stts {
            entries: t
                .iter()
                .zip(ends)
                .map(|(s, end)| mp4_atom::SttsEntry {
                    sample_count: 1,
                    sample_delta: (ticks(end) - ticks(s.dts)) as u32,
                })
                .collect(),
        };
        stbl.ctts = Some(Ctts {
            entries: vec![CttsEntry {
                sample_count: t.len() as u32,
                sample_offset: 0,
            }],
        });
        stbl.stsz = Stsz {
            samples: StszSamples::Different {
                sizes: t.iter().map(|s| s.size).collect(),
            },
        };
        let entry = |first_chunk: usize, per: usize| StscEntry {
            first_chunk: first_chunk as u32,
            samples_per_chunk: per as u32,
            sample_description_index: 1,
        };
        stbl.stsc = Stsc {
            entries: vec![entry(1, 5), entry(starts.len(), (t.len() - 1) % 5 + 1)],
        };
        stbl.stco = Some(Stco {
            entries: starts.iter().map(|&o| (base + o) as u32).collect(),
        });
        stbl.stss = t[0].video.then(|| Stss {
            entries: (1..=t.len() as u32)
                .filter(|&n| t[n as usize - 1].sync)
                .collect(),
        });
    }

    /// `bytes` in a file of its own: tests run in parallel and several build the same
    /// fixture (`plain()`), so each call gets a new name.
    fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "mediaflow-player-mp4-{}-{call}-{name}.mp4",
            std::process::id()
        ));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Every frame of the file: (video, ms, key, size).
    fn frames(demux: &mut Mp4Demux) -> Vec<(bool, u64, bool, usize)> {
        let dropped = AtomicU64::new(0);
        std::iter::from_fn(|| demux.next(&dropped).unwrap())
            .map(|m| (m.video, m.us / 1000, m.key, m.data.len()))
            .collect()
    }

    #[test]
    fn ftyp_is_recognised() {
        assert!(is_mp4(b"\0\0\0\x18ftypisom"));
        assert!(!is_mp4(b"\x1a\x45\xdf\xa3"));
        assert!(!is_mp4(b""));
    }

    /// Our recorder's fragments read back in time order, H.264 in Annex B with the
    /// parameter sets before each IDR; the duration is where the samples end; a seek
    /// lands on the IDR at or before.
    #[test]
    fn recorded_fragments_read_back_and_seek() {
        let path = temp("fragments", &recorded());
        let mut demux = Mp4Demux::open(&path).unwrap();
        assert_eq!(demux.info().duration_ms, Some(3000));
        let got = frames(&mut demux);
        assert_eq!(got.iter().filter(|f| f.0).count(), 75);
        assert_eq!(got.iter().filter(|f| !f.0).count(), 150);
        assert!(got.windows(2).all(|w| w[0].1 <= w[1].1), "in time order");
        let keys: Vec<u64> = got.iter().filter(|f| f.0 && f.2).map(|f| f.1).collect();
        assert_eq!(keys, [0, 1000, 2000]);
        // 4 + SPS, 4 + PPS, 4 + the IDR's NAL unit.
        assert_eq!(got[0], (true, 0, true, 8 + 8 + 7));
        assert_eq!(demux.seek(2_500_000), 2_000_000);
        let dropped = AtomicU64::new(0);
        let next = demux.next(&dropped).unwrap().unwrap();
        assert_eq!((next.video, next.us, next.key), (true, 2_000_000, true));
        assert_eq!(demux.seek(500_000), 0);
        assert_eq!(frames(&mut demux).len(), got.len());
        let _ = std::fs::remove_file(&path);
    }

    /// The plain file's sample tables give what the fragments gave.
    #[test]
    fn plain_sample_tables_read_back_and_seek() {
        let frag = temp("same-fragments", &recorded());
        let path = temp("plain", &plain());
        let want = frames(&mut Mp4Demux::open(&frag).unwrap());
        let mut demux = Mp4Demux::open(&path).unwrap();
        assert_eq!(demux.info().duration_ms, Some(3000));
        assert_eq!(frames(&mut demux), want);
        assert_eq!(demux.seek(1_999_000), 1_000_000);
        let dropped = AtomicU64::new(0);
        let next = demux.next(&dropped).unwrap().unwrap();
        assert_eq!((next.video, next.us, next.key), (true, 1_000_000, true));
        let _ = std::fs::remove_file(&frag);
        let _ = std::fs::remove_file(&path);
    }

    /// Cut anywhere, a file opens with the whole samples before the cut (or is refused
    /// when the moov is cut), and never panics.
    #[test]
    fn a_file_cut_anywhere_plays_what_is_whole() {
        cut_anywhere("fragments", &recorded());
        cut_anywhere("plain", &plain());
    }

    fn cut_anywhere(name: &str, bytes: &[u8]) {
        let whole = {
            let path = temp(&format!("whole-{name}"), bytes);
            let n = frames(&mut Mp4Demux::open(&path).unwrap()).len();
            let _ = std::fs::remove_file(&path);
            n
        };
        let path = temp(&format!("cut-{name}"), bytes);
        let mut last = 0;
        for cut in (0..bytes.len()).step_by(97) {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            match Mp4Demux::open(&path) {
                Ok(mut d) => {
                    let n = frames(&mut d).len();
                    assert!(n >= last && n <= whole, "{name} cut at {cut}: {n} frames");
                    last = n;
                }
                Err(e) => {
                    assert_eq!(e.error_type, ErrorType::InvalidMedia);
                    assert_eq!(last, 0, "{name} cut at {cut}: refused after playing");
                }
            }
        }
        // The last cut is inside the last fragment (a second of three), or the audio.
        assert!(last >= whole / 2, "{name}: {last} of {whole}");
        let _ = std::fs::remove_file(&path);
    }

    /// Random damage: the file is refused or read, never a panic; samples stay within
    /// the caps.
    #[test]
    fn damaged_files_do_not_panic() {
        damage("fragments", &recorded());
        damage("plain", &plain());
    }

    fn damage(name: &str, bytes: &[u8]) {
        let path = temp(&format!("damaged-{name}"), bytes);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut noise = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut opened, mut refused) = (0, 0);
        for round in 0..400 {
            let mut damaged = bytes.to_vec();
            for _ in 0..1 + round % 8 {
                let at = noise() as usize % damaged.len();
                damaged[at] = match noise() % 3 {
                    0 => 0xff,
                    1 => 0,
                    _ => noise() as u8,
                };
            }
            std::fs::write(&path, &damaged).unwrap();
            match Mp4Demux::open(&path) {
                Ok(mut d) => {
                    opened += 1;
                    assert!(d.samples.len() <= MAX_SAMPLES);
                    let _ = d.seek(noise() % 4_000_000);
                    let dropped = AtomicU64::new(0);
                    while let Ok(Some(_)) = d.next(&dropped) {}
                }
                Err(_) => refused += 1,
            }
        }
        eprintln!("damaged {name}: {opened} opened, {refused} refused");
        assert!(opened > 0);
        let _ = std::fs::remove_file(&path);
    }

    /// A moov claiming billions of samples (stsz, stts, stsc), all past the end of the
    /// file: the index stops at the cap of samples looked at.
    #[test]
    fn huge_sample_tables_stop_at_the_cap() {
        use mp4_atom::{Any, Encode, Stsc, StscEntry, Stsz, Stts, SttsEntry};
        let bytes = plain();
        let ftyp_len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        let Any::Moov(mut moov) = Any::decode(&mut &bytes[ftyp_len..]).unwrap() else {
            panic!("the moov second");
        };
        for trak in &mut moov.trak {
            let stbl = &mut trak.mdia.minf.stbl;
            stbl.stsz = Stsz {
                samples: StszSamples::Identical {
                    count: u32::MAX,
                    size: u32::MAX,
                },
            };
            stbl.stts = Stts {
                entries: vec![SttsEntry {
                    sample_count: u32::MAX,
                    sample_delta: 1,
                }],
            };
            stbl.stsc = Stsc {
                entries: vec![StscEntry {
                    first_chunk: 1,
                    samples_per_chunk: u32::MAX,
                    sample_description_index: 1,
                }],
            };
        }
        let mut out = bytes[..ftyp_len].to_vec();
        moov.encode(&mut out).unwrap();
        let path = temp("huge-tables", &out);
        let start = std::time::Instant::now();
        let demux = Mp4Demux::open(&path).unwrap();
        eprintln!("huge tables: indexed in {:?}", start.elapsed());
        assert!(demux.samples.is_empty());
        let _ = std::fs::remove_file(&path);
    }

    /// A trun of u32::MAX samples of 0 bytes (tfhd's default): the index stops at its cap
    /// of samples kept.
    #[test]
    fn a_huge_run_stops_at_the_cap() {
        use mp4_atom::{Any, Encode, Free, TrunSamples};
        let bytes = recorded();
        let mut rest = &bytes[..];
        let (mut out, mut moof) = (Vec::new(), None);
        while moof.is_none() {
            let before = rest;
            match Any::decode(&mut rest).unwrap() {
                Any::Moof(m) => moof = Some(m),
                _ => out.extend_from_slice(&before[..before.len() - rest.len()]),
            }
        }
        let mut moof = moof.unwrap();
        let traf = &mut moof.traf[0];
        traf.tfhd.default_sample_size = Some(0);
        traf.trun.truncate(1);
        traf.trun[0].samples = TrunSamples::Inherited {
            count: u32::MAX,
            first_flags: None,
        };
        moof.encode(&mut out).unwrap();
        // Room for the run's data offset.
        let zeroed = mp4_atom::Zeroed { size: 64 << 10 };
        Free { zeroed }.encode(&mut out).unwrap();
        let path = temp("huge-run", &out);
        let start = std::time::Instant::now();
        let demux = Mp4Demux::open(&path).unwrap();
        eprintln!("huge run: indexed in {:?}", start.elapsed());
        assert_eq!(demux.samples.len(), MAX_SAMPLES);
        let _ = std::fs::remove_file(&path);
    }

    /// Hostile sizes: a box claiming more than the file, a huge moov, a zero-sized box
    /// mid-file.
    #[test]
    fn hostile_boxes_are_refused() {
        let mut bytes = recorded();
        let moov_at = u32::from_be_bytes(bytes[0..4].try_into().unwrap()) as usize;
        let path = temp("hostile", &bytes);
        let set = |at: usize, size: u32| {
            let mut b = bytes.clone();
            b[at..at + 4].copy_from_slice(&size.to_be_bytes());
            std::fs::write(&path, &b).unwrap();
            Mp4Demux::open(&path).map(|d| d.samples.len())
        };
        assert!(set(moov_at, u32::MAX).is_err(), "moov past the end");
        assert!(set(moov_at, 4).is_err(), "a box smaller than its header");
        // A moov said to run to the end of the file holds the fragments then.
        let _ = set(moov_at, 0);
        // A huge moov (larger than the cap) in a file that has it all.
        bytes.resize(moov_at + (MAX_HEADER_BOX as usize) + 16, 0);
        let mut b = bytes.clone();
        b[moov_at..moov_at + 4].copy_from_slice(&(MAX_HEADER_BOX as u32 + 8).to_be_bytes());
        std::fs::write(&path, &b).unwrap();
        assert!(Mp4Demux::open(&path).is_err(), "a moov past the cap");
        let _ = std::fs::remove_file(&path);
    }
}
