//! A fragmented MP4 (ISO BMFF) writer: `ftyp`, a `moov` whose tracks carry no samples
//! (their sample descriptions, and `mvex` announcing fragments), then `moof` + `mdat`
//! fragments. The boxes are encoded by `mp4-atom`.
//!
//! Each fragment is assembled in memory and written with one `write_all`, so a file
//! whose writer died (killed process, full disk) plays up to its last complete
//! fragment: nothing written later is needed to read what is before it. `finish`
//! rewrites the `moov` in place (same size: every box with a duration is written in
//! its 64-bit version from the start) with the recording's duration, which readers
//! otherwise would have to find by scanning every fragment.

use std::io::{self, Seek, SeekFrom, Write};

use mp4_atom::{
    Atom, Audio, Avc1, Avcc, Dinf, Dops, Dref, Encode, FourCC, Ftyp, Hdlr, Mdhd, Mdia, Mehd, Mfhd,
    Minf, Moof, Moov, Mvex, Mvhd, Opus, Smhd, Stbl, Stco, Stsd, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex,
    Trun, TrunEntry, Url, Visual, Vmhd,
};

use super::mkv::TrackKind;

/// A fragment closes at the next video keyframe past this (audio only: past this), or
/// past its hard limits, like a Matroska cluster.
const FRAGMENT_MS: u64 = 1_000;
const FRAGMENT_MAX_MS: u64 = 5_000;
const FRAGMENT_MAX_BYTES: usize = 4 << 20;
/// Movie (mvhd, tkhd, mehd) and video times are the frames' milliseconds as they come.
const MOVIE_TIMESCALE: u32 = 1_000;
/// Opus's own clock, which players expect of its track (48 ticks a millisecond).
const AUDIO_TIMESCALE: u32 = 48_000;
/// Sample flags (ISO 14496-12 §8.8.3.1): depends on no other sample; depends on
/// others and is no sync sample.
const SYNC_SAMPLE: u32 = 0x0200_0000;
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

fn invalid(e: mp4_atom::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn too_large<E>(_: E) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "fragment too large for MP4")
}

/// A sample of the open fragment.
struct Sample {
    ms: u64,
    /// Known once the track's next sample came.
    duration_ms: Option<u64>,
    key: bool,
    size: u32,
}

/// One track's samples waiting for their fragment, and its timeline so far.
struct Track {
    id: u32,
    /// Track ticks a millisecond.
    ticks: u64,
    /// A sample's length before any other gives one (~30 fps video, 20 ms Opus).
    default_ms: u64,
    samples: Vec<Sample>,
    data: Vec<u8>,
    /// The duration of the last sample written, given to a fragment's last sample.
    last_duration_ms: Option<u64>,
    /// Where the last sample written ends.
    end_ms: u64,
    /// A sample came.
    started: bool,
}

/// The `avcC` box of an H.264 track; `None` when the record does not parse.
pub(crate) fn avcc(record: &[u8]) -> Option<Avcc> {
    Avcc::decode_body(&mut &record[..]).ok()
}

/// Whether a track can go into an MP4 file (H.264 with a readable record, Opus).
pub(crate) fn accepts(track: &TrackKind) -> bool {
    match track {
        TrackKind::H264 { record, .. } => avcc(record).is_some(),
        TrackKind::Opus { .. } => true,
        TrackKind::Vp8 { .. } => false,
    }
}

fn minf(video: bool, codec: mp4_atom::Codec) -> Minf {
    Minf {
        vmhd: video.then(Vmhd::default),
        smhd: (!video).then(Smhd::default),
        dinf: Dinf {
            dref: Dref {
                entries: vec![Url::default().into()],
            },
        },
        stbl: Stbl {
            stsd: Stsd {
                codecs: vec![codec],
            },
            stco: Some(Stco::default()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// An H.264 track's sample entry and header.
fn avc1(width: u16, height: u16, record: &[u8]) -> io::Result<(mp4_atom::Codec, Tkhd)> {
    let avcc = avcc(record)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unreadable avcC record"))?;
    let visual = Visual {
        data_reference_index: 1,
        width,
        height,
        ..Default::default()
    };
    let avc1 = Avc1 {
        visual,
        avcc,
        btrt: None,
        colr: None,
        pasp: None,
        taic: None,
        fiel: None,
        spatial: None,
    };
    let tkhd = Tkhd {
        width: width.into(),
        height: height.into(),
        ..Default::default()
    };
    Ok((avc1.into(), tkhd))
}

/// An Opus track's sample entry and header.
fn opus(channels: u8) -> (mp4_atom::Codec, Tkhd) {
    let opus = Opus {
        audio: Audio {
            data_reference_index: 1,
            channel_count: u16::from(channels),
            sample_size: 16,
            sample_rate: 48_000u16.into(),
        },
        dops: Dops {
            output_channel_count: channels,
            // As in Matroska's OpusHead: unknown for a live stream.
            pre_skip: 0,
            input_sample_rate: 48_000,
            output_gain: 0,
            channel_mapping: None,
        },
        btrt: None,
    };
    let tkhd = Tkhd {
        volume: 1.into(),
        alternate_group: 1,
        ..Default::default()
    };
    (opus.into(), tkhd)
}

/// A track's `trak`: its sample description, no samples (they come in fragments).
fn trak(id: u32, kind: &TrackKind) -> io::Result<Trak> {
    let (video, (codec, tkhd)) = match kind {
        TrackKind::H264 {
            width,
            height,
            record,
        } => (true, avc1(*width, *height, record)?),
        TrackKind::Opus { channels } => (false, opus(*channels)),
        TrackKind::Vp8 { .. } => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "VP8 is not stored in MP4",
            ))
        }
    };
    let (handler, name, timescale) = if video {
        (b"vide", "VideoHandler", MOVIE_TIMESCALE)
    } else {
        (b"soun", "SoundHandler", AUDIO_TIMESCALE)
    };
    Ok(Trak {
        tkhd: Tkhd {
            track_id: id,
            enabled: true,
            in_movie: true,
            ..tkhd
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(handler),
                name: name.into(),
            },
            minf: minf(video, codec),
        },
        ..Default::default()
    })
}

/// The `moov` of `tracks` (ids from 1), durations zero until `finish`.
fn moov(tracks: &[TrackKind]) -> io::Result<Moov> {
    let trak = tracks
        .iter()
        .zip(1u32..)
        .map(|(kind, id)| trak(id, kind))
        .collect::<io::Result<Vec<_>>>()?;
    let trex = (1..=trak.len() as u32)
        .map(|track_id| Trex {
            track_id,
            default_sample_description_index: 1,
            ..Default::default()
        })
        .collect();
    Ok(Moov {
        mvhd: Mvhd {
            timescale: MOVIE_TIMESCALE,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: trak.len() as u32 + 1,
            ..Default::default()
        },
        mvex: Some(Mvex {
            mehd: Some(Mehd {
                fragment_duration: 0,
            }),
            trex,
        }),
        trak,
        ..Default::default()
    })
}

/// Writes a fragmented MP4 file: tracks are numbered from 1 in the order given.
pub(crate) struct Mp4Writer<W: Write + Seek> {
    out: W,
    moov: Moov,
    moov_pos: u64,
    moov_len: usize,
    tracks: Vec<Track>,
    has_video: bool,
    /// The open fragment's first sample time and size so far.
    fragment: Option<(u64, usize)>,
    sequence: u32,
}

impl<W: Write + Seek> Mp4Writer<W> {
    /// Writes `ftyp` and `moov`; H.264 and Opus tracks only.
    pub(crate) fn new(mut out: W, tracks: &[TrackKind]) -> io::Result<Self> {
        let has_video = tracks.iter().any(|t| matches!(t, TrackKind::H264 { .. }));
        let mut brands = vec![b"iso6".into(), b"isom".into(), b"mp41".into()];
        if has_video {
            brands.push(b"avc1".into());
        }
        let ftyp = Ftyp {
            major_brand: b"iso6".into(),
            minor_version: 0,
            compatible_brands: brands,
        };
        let moov = moov(tracks)?;
        let mut head = Vec::new();
        ftyp.encode(&mut head).map_err(invalid)?;
        let moov_pos = head.len() as u64;
        moov.encode(&mut head).map_err(invalid)?;
        let moov_len = head.len() - moov_pos as usize;
        let start = out.stream_position()?;
        out.write_all(&head)?;
        out.flush()?;
        let tracks = tracks
            .iter()
            .zip(1u32..)
            .map(|(kind, id)| {
                let video = !matches!(kind, TrackKind::Opus { .. });
                let timescale = if video {
                    MOVIE_TIMESCALE
                } else {
                    AUDIO_TIMESCALE
                };
                Track {
                    id,
                    ticks: u64::from(timescale / 1_000),
                    default_ms: if video { 33 } else { 20 },
                    samples: Vec::new(),
                    data: Vec::new(),
                    last_duration_ms: None,
                    end_ms: 0,
                    started: false,
                }
            })
            .collect();
        Ok(Mp4Writer {
            out,
            moov,
            moov_pos: start + moov_pos,
            moov_len,
            tracks,
            has_video,
            fragment: None,
            sequence: 0,
        })
    }
}

impl Track {
    /// The fragment's `traf` for this track's samples (taken), whose data starts
    /// `offset` bytes into the fragment's `mdat` payload.
    fn traf(&mut self, offset: usize) -> io::Result<Traf> {
        let first_ms = self.samples.first().map_or(0, |s| s.ms);
        let mut entries = Vec::with_capacity(self.samples.len());
        for s in self.samples.drain(..) {
            // The last sample's successor has not come: it lasts as long as the one
            // before it (the next fragment's tfdt keeps the timeline exact anyway).
            let duration = s
                .duration_ms
                .or(self.last_duration_ms)
                .unwrap_or(self.default_ms);
            self.last_duration_ms = Some(duration);
            self.end_ms = s.ms.saturating_add(duration);
            entries.push(TrunEntry {
                duration: Some(
                    u32::try_from(duration.saturating_mul(self.ticks)).unwrap_or(u32::MAX),
                ),
                size: Some(s.size),
                flags: Some(if s.key { SYNC_SAMPLE } else { NON_SYNC_SAMPLE }),
                cts: None,
            });
        }
        Ok(Traf {
            tfhd: Tfhd {
                track_id: self.id,
                default_base_is_moof: true,
                ..Default::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: first_ms.saturating_mul(self.ticks),
            }),
            trun: vec![Trun {
                data_offset: Some(i32::try_from(offset).map_err(too_large)?),
                samples: entries.into(),
            }],
            ..Default::default()
        })
    }
}

impl<W: Write + Seek> Mp4Writer<W> {
    /// Adds a sample of track `track` (1-based) at `ms`; `key` marks a video keyframe
    /// (audio samples are all sync samples). `data` is the sample as MP4 stores it
    /// (H.264: NAL units behind 4-byte lengths).
    pub(crate) fn add_frame(
        &mut self,
        track: u8,
        ms: u64,
        video: bool,
        key: bool,
        data: &[u8],
    ) -> io::Result<()> {
        let index = usize::from(track)
            .checked_sub(1)
            .filter(|&i| i < self.tracks.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no such track"))?;
        let size = u32::try_from(data.len()).map_err(too_large)?;
        // The track's previous sample lasts until this one.
        if let Some(prev) = self.tracks[index].samples.last_mut() {
            prev.duration_ms = Some(ms.saturating_sub(prev.ms).max(1));
        }
        let split = self.fragment.is_some_and(|(start, bytes)| {
            let age = ms.saturating_sub(start);
            (video && key && age >= FRAGMENT_MS)
                || (!self.has_video && age >= FRAGMENT_MS)
                || age >= FRAGMENT_MAX_MS
                || bytes >= FRAGMENT_MAX_BYTES
        });
        if split {
            self.flush_fragment()?;
        }
        let (_, bytes) = self.fragment.get_or_insert((ms, 0));
        *bytes += data.len();
        let t = &mut self.tracks[index];
        // A track's first sample is presented from the recording's start (video that
        // waited for its keyframe shows it from 0): ffmpeg takes a fragmented track's
        // duration as where it ends and adds where it starts, so a track starting at
        // 0.6 s made the file 0.6 s too long. Later samples keep their times (and sync).
        let at = if t.started { ms } else { 0 };
        t.started = true;
        t.samples.push(Sample {
            ms: at,
            duration_ms: None,
            key: key || !video,
            size,
        });
        t.data.extend_from_slice(data);
        Ok(())
    }

    /// Writes the open fragment, `moof` and `mdat` at once.
    pub(crate) fn flush_fragment(&mut self) -> io::Result<()> {
        if self.fragment.take().is_none() {
            return Ok(());
        }
        self.sequence = self.sequence.wrapping_add(1);
        let mut traf = Vec::new();
        let mut payload = 0usize;
        for t in self.tracks.iter_mut().filter(|t| !t.samples.is_empty()) {
            traf.push(t.traf(payload)?);
            payload += t.data.len();
        }
        let mut moof = Moof {
            mfhd: Mfhd {
                sequence_number: self.sequence,
            },
            traf,
        };
        let mut bytes = Vec::new();
        moof.encode(&mut bytes).map_err(invalid)?;
        // Data offsets count from the moof's first byte (default-base-is-moof): past
        // the moof (whose size they do not change) and the mdat's header.
        let shift = i32::try_from(bytes.len() + 8).map_err(too_large)?;
        for trun in moof.traf.iter_mut().flat_map(|t| t.trun.iter_mut()) {
            if let Some(offset) = trun.data_offset.as_mut() {
                *offset = offset.checked_add(shift).ok_or_else(|| too_large(()))?;
            }
        }
        bytes.clear();
        moof.encode(&mut bytes).map_err(invalid)?;
        let mdat_len = u32::try_from(payload + 8).map_err(too_large)?;
        bytes.reserve(payload + 8);
        bytes.extend_from_slice(&mdat_len.to_be_bytes());
        bytes.extend_from_slice(b"mdat");
        for t in &mut self.tracks {
            bytes.extend_from_slice(&t.data);
            t.data.clear();
        }
        self.out.write_all(&bytes)?;
        // On disk whole and at once: a reader of a file whose writer died finds every
        // fragment written so far.
        self.out.flush()
    }

    /// The last fragment, then the durations in the `moov` (rewritten in place).
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.flush_fragment()?;
        let end_ms = self.tracks.iter().map(|t| t.end_ms).max().unwrap_or(0);
        self.moov.mvhd.duration = end_ms;
        if let Some(mehd) = self.moov.mvex.as_mut().and_then(|m| m.mehd.as_mut()) {
            mehd.fragment_duration = end_ms;
        }
        for (trak, t) in self.moov.trak.iter_mut().zip(&self.tracks) {
            trak.tkhd.duration = t.end_ms;
            trak.mdia.mdhd.duration = t.end_ms.saturating_mul(t.ticks);
        }
        let mut bytes = Vec::new();
        self.moov.encode(&mut bytes).map_err(invalid)?;
        // Same size by construction; were it not, the file is left as it is (it plays,
        // without a duration) rather than overwritten past the moov.
        if bytes.len() == self.moov_len {
            let end = self.out.stream_position()?;
            self.out.seek(SeekFrom::Start(self.moov_pos))?;
            self.out.write_all(&bytes)?;
            self.out.seek(SeekFrom::Start(end))?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::avc::{self, AvcConfig};
    use mp4_atom::{Any, Decode, Ftyp as FtypBox};
    use std::io::Cursor;

    fn h264_track() -> (TrackKind, Vec<u8>) {
        let mut enc = mediaflow_transcoder::H264Encoder::new(160, 120, 300).unwrap();
        let picture = mediaflow_transcoder::I420Frame::filled(160, 120, 90, 128);
        let idr = enc.encode(&picture, true).unwrap().remove(0).data;
        let c = AvcConfig::from_access_unit(&idr).unwrap();
        let track = TrackKind::H264 {
            width: c.width,
            height: c.height,
            record: c.record,
        };
        (track, avc::to_avcc(&idr).unwrap())
    }

    /// Every top-level box of `file`.
    fn boxes(file: &[u8]) -> Vec<Any> {
        let mut buf = file;
        let mut out = Vec::new();
        while !buf.is_empty() {
            out.push(Any::decode(&mut buf).unwrap());
        }
        out
    }

    /// Video at 0, 40, 80 ... ms with a keyframe every 1.2 s, audio every 20 ms from
    /// 5 ms: fragments start at the keyframes past a second, each sample's data where
    /// its trun says, durations from the next sample (the first one of a track from
    /// 0), and the moov's durations where the last samples end.
    #[test]
    fn fragments_parse_back_with_their_samples_and_durations() {
        let (video, key) = h264_track();
        let tracks = [video, TrackKind::Opus { channels: 2 }];
        let mut w = Mp4Writer::new(Cursor::new(Vec::new()), &tracks).unwrap();
        let mut expected = Vec::new(); // (track, ms, data)
        for ms in 0..3_000u64 {
            if ms % 40 == 0 {
                let k = ms % 1_200 == 0;
                let data = if k {
                    key.clone()
                } else {
                    vec![0, 0, 0, 2, 0x41, ms as u8]
                };
                w.add_frame(1, ms, true, k, &data).unwrap();
                expected.push((1u32, ms, data));
            }
            if ms % 20 == 5 {
                let data = vec![0xfc, ms as u8, (ms >> 8) as u8];
                w.add_frame(2, ms, false, true, &data).unwrap();
                expected.push((2u32, if ms == 5 { 0 } else { ms }, data));
            }
        }
        let file = w.finish().unwrap().into_inner();
        let all = boxes(&file);
        let Any::Ftyp(FtypBox { major_brand, .. }) = &all[0] else {
            panic!("{:?}", all[0])
        };
        assert_eq!(major_brand, &FourCC::new(b"iso6"));
        let Any::Moov(moov) = &all[1] else {
            panic!("no moov")
        };
        assert_eq!(moov.mvhd.duration, 2_985 + 20);
        assert_eq!(
            moov.mvex
                .as_ref()
                .unwrap()
                .mehd
                .as_ref()
                .unwrap()
                .fragment_duration,
            3_005
        );
        assert_eq!(moov.trak.len(), 2);
        assert_eq!(moov.trak[0].mdia.mdhd.duration, 2_960 + 40);
        assert_eq!(moov.trak[1].mdia.mdhd.duration, (2_985 + 20) * 48);
        assert!(matches!(
            moov.trak[1].mdia.minf.stbl.stsd.codecs[0],
            mp4_atom::Codec::Opus(_)
        ));

        // Fragments: moof + mdat pairs, video ones starting at 0, 1200, 2400 ms.
        let (mut got, video_starts) = samples(&file, &all);
        assert_eq!(video_starts, [0, 1_200, 2_400]);
        got.sort_by_key(|(track, ms, _)| (*ms, *track));
        expected.sort_by_key(|(track, ms, _)| (*ms, *track));
        assert_eq!(got, expected);
    }

    /// Each sample of the fragments (track, ms, data) as their truns give them, and the
    /// video fragments' start times; the fragments end the file.
    #[allow(clippy::type_complexity)]
    fn samples(file: &[u8], all: &[Any]) -> (Vec<(u32, u64, Vec<u8>)>, Vec<u64>) {
        let mut offset = all[..2].iter().map(encoded_len).sum::<usize>();
        let mut got = Vec::new();
        let mut video_starts = Vec::new();
        for pair in all[2..].chunks(2) {
            let [Any::Moof(moof), Any::Mdat(_)] = pair else {
                panic!("{pair:?}")
            };
            for traf in &moof.traf {
                let ticks = if traf.tfhd.track_id == 1 { 1 } else { 48 };
                assert!(traf.tfhd.default_base_is_moof);
                let mut t = traf.tfdt.as_ref().unwrap().base_media_decode_time;
                if traf.tfhd.track_id == 1 {
                    video_starts.push(t);
                }
                let trun = &traf.trun[0];
                let mut at = offset + trun.data_offset.unwrap() as usize;
                for s in trun.samples.iter() {
                    let size = s.size.unwrap() as usize;
                    got.push((traf.tfhd.track_id, t / ticks, file[at..at + size].to_vec()));
                    at += size;
                    t += u64::from(s.duration.unwrap());
                }
            }
            offset += pair.iter().map(encoded_len).sum::<usize>();
        }
        assert_eq!(offset, file.len());
        (got, video_starts)
    }

    fn encoded_len(b: &Any) -> usize {
        let mut v = Vec::new();
        b.encode(&mut v).unwrap();
        v.len()
    }

    /// A file cut after any fragment (a killed writer) parses: the moov and every whole
    /// fragment before the cut.
    #[test]
    fn a_file_is_whole_after_each_fragment() {
        let mut w =
            Mp4Writer::new(Cursor::new(Vec::new()), &[TrackKind::Opus { channels: 2 }]).unwrap();
        let mut ends = Vec::new();
        for i in 0..200u64 {
            w.add_frame(1, i * 20, false, true, &[0xfc, 1, 2]).unwrap();
            ends.push(w.out.get_ref().len());
        }
        ends.dedup();
        assert!(ends.len() >= 4, "a fragment a second: {ends:?}");
        for end in ends {
            let all = boxes(&w.out.get_ref()[..end]);
            assert!(matches!(all[1], Any::Moov(_)));
            assert_eq!(all.len() % 2, 0);
        }
    }

    #[test]
    fn vp8_and_unreadable_records_are_refused_and_unknown_tracks_are_errors() {
        let vp8 = TrackKind::Vp8 {
            width: 640,
            height: 480,
        };
        assert!(!accepts(&vp8));
        assert!(Mp4Writer::new(Cursor::new(Vec::new()), &[vp8]).is_err());
        let bad = TrackKind::H264 {
            width: 16,
            height: 16,
            record: vec![1, 2],
        };
        assert!(!accepts(&bad));
        let mut w = Mp4Writer::new(Cursor::new(Vec::new()), &[]).unwrap();
        assert!(w.add_frame(1, 0, false, true, &[1]).is_err());
        assert!(w.add_frame(0, 0, false, true, &[1]).is_err());
        let file = w.finish().unwrap().into_inner();
        assert_eq!(boxes(&file).len(), 2);
    }
}
