//! A small Matroska / WebM writer: EBML header, a Segment of unknown size, Info, Tracks,
//! whole Clusters of SimpleBlocks, and at the end Cues, the SeekHead, the Duration and
//! the Segment's size.
//!
//! Each cluster is assembled in memory and written with one `write_all`, its size
//! known, so a file whose writer died (killed process, full disk) is readable up to its
//! last complete cluster: the Segment's size stays "unknown", which Matroska allows.

use std::io::{self, Seek, SeekFrom, Write};

/// Element ids (Matroska / WebM specification).
mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const SEEK: u32 = 0x4DBB;
    pub const SEEK_ID: u32 = 0x53AB;
    pub const SEEK_POSITION: u32 = 0x53AC;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMECODE_SCALE: u32 = 0x2A_D7B1;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const DURATION: u32 = 0x4489;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const SEEK_PRE_ROLL: u32 = 0x56BB;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMECODE: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CUE_POINT: u32 = 0xBB;
    pub const CUE_TIME: u32 = 0xB3;
    pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub const CUE_TRACK: u32 = 0xF7;
    pub const CUE_CLUSTER_POSITION: u32 = 0xF1;
    pub const VOID: u32 = 0xEC;
}

/// Bytes kept for the SeekHead written at the end (a Void until then).
const SEEK_HEAD_RESERVE: usize = 96;
/// A Duration element: id (2) + size (1) + an 8-byte float.
const DURATION_LEN: usize = 11;
/// A cluster closes at the next video keyframe past this, or past its hard limit.
const CLUSTER_MS: u64 = 1_000;
const CLUSTER_MAX_MS: u64 = 5_000;
const CLUSTER_MAX_BYTES: usize = 4 << 20;

/// The container flavour: the DocType differs, the structure does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DocType {
    Webm,
    Matroska,
}

/// One track of the file.
#[derive(Clone, Debug)]
pub(crate) enum TrackKind {
    /// VP8 video of these dimensions.
    Vp8 { width: u16, height: u16 },
    /// H.264 video of these dimensions; `record` is its AVCDecoderConfigurationRecord,
    /// and frames are NAL units behind 4-byte lengths.
    H264 {
        width: u16,
        height: u16,
        record: Vec<u8>,
    },
    /// Opus audio at 48 kHz.
    Opus { channels: u8 },
}

fn write_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().position(|&b| b != 0).unwrap_or(3);
    out.extend_from_slice(&bytes[skip..]);
}

/// An EBML size in the shortest form (sizes of 2^56 - 1 and more are not written).
fn write_size(out: &mut Vec<u8>, size: u64) {
    let mut len = 1;
    while len < 8 && size >= (1u64 << (7 * len)) - 1 {
        len += 1;
    }
    let marked = size | (1u64 << (7 * len));
    out.extend_from_slice(&marked.to_be_bytes()[8 - len..]);
}

fn element(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    write_id(out, id);
    write_size(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn uint(out: &mut Vec<u8>, id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    element(out, id, &bytes[skip..]);
}

fn float(out: &mut Vec<u8>, id: u32, value: f64) {
    element(out, id, &value.to_be_bytes());
}

fn master(out: &mut Vec<u8>, id: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    element(out, id, &inner);
}

/// A Void element of exactly `len` (>= 2) bytes.
fn void(out: &mut Vec<u8>, len: usize) {
    write_id(out, id::VOID);
    // One size byte below 127 bytes, else eight.
    if len - 2 < 127 {
        out.push(0x80 | (len - 2) as u8);
        out.resize(out.len() + len - 2, 0);
    } else {
        let body = (len - 9) as u64;
        out.push(0x01);
        out.extend_from_slice(&body.to_be_bytes()[1..]);
        out.resize(out.len() + len - 9, 0);
    }
}

/// The OpusHead identification header (RFC 7845 §5.1), Matroska's CodecPrivate for Opus.
fn opus_head(channels: u8) -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1);
    h.push(channels);
    h.extend_from_slice(&0u16.to_le_bytes()); // pre-skip: unknown for a live stream
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0);
    h
}

struct Cluster {
    start_ms: u64,
    body: Vec<u8>,
    /// The cluster begins with a video keyframe (or the file has no video): a seek point.
    cue: bool,
}

/// Writes one Matroska file incrementally. Times are milliseconds from the start.
pub(crate) struct MkvWriter<W: Write + Seek> {
    out: W,
    /// Offset of the Segment's data (positions in SeekHead and Cues are relative to it).
    segment_data: u64,
    /// Offset of the Segment's size field.
    segment_size_at: u64,
    seek_head_at: u64,
    duration_at: u64,
    info_pos: u64,
    tracks_pos: u64,
    has_video: bool,
    cluster: Option<Cluster>,
    /// (time, cluster position relative to the segment data).
    cues: Vec<(u64, u64)>,
    /// Bytes written so far (the writer's position).
    pos: u64,
    last_ms: u64,
}

impl<W: Write + Seek> MkvWriter<W> {
    /// Writes the header and the track list; `tracks[i]` is track number `i + 1`.
    pub(crate) fn new(mut out: W, doc: DocType, tracks: &[TrackKind]) -> io::Result<Self> {
        let mut head = Vec::new();
        master(&mut head, id::EBML, |e| {
            uint(e, id::EBML_VERSION, 1);
            uint(e, id::EBML_READ_VERSION, 1);
            uint(e, id::EBML_MAX_ID_LENGTH, 4);
            uint(e, id::EBML_MAX_SIZE_LENGTH, 8);
            let name: &[u8] = match doc {
                DocType::Webm => b"webm",
                DocType::Matroska => b"matroska",
            };
            element(e, id::DOC_TYPE, name);
            uint(e, id::DOC_TYPE_VERSION, 4);
            uint(e, id::DOC_TYPE_READ_VERSION, 2);
        });
        write_id(&mut head, id::SEGMENT);
        let segment_size_at = head.len() as u64;
        // "Unknown" size until the file is finished.
        head.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        let segment_data = head.len() as u64;
        let seek_head_at = head.len() as u64;
        void(&mut head, SEEK_HEAD_RESERVE);
        let info_pos = head.len() as u64 - segment_data;
        let mut info = Vec::new();
        uint(&mut info, id::TIMECODE_SCALE, 1_000_000);
        element(&mut info, id::MUXING_APP, b"mediaflow");
        element(&mut info, id::WRITING_APP, b"mediaflow RecorderEndpoint");
        let duration_in_info = info.len();
        void(&mut info, DURATION_LEN);
        write_id(&mut head, id::INFO);
        write_size(&mut head, info.len() as u64);
        let duration_at = head.len() as u64 + duration_in_info as u64;
        head.extend_from_slice(&info);
        let tracks_pos = head.len() as u64 - segment_data;
        master(&mut head, id::TRACKS, |t| {
            for (i, track) in tracks.iter().enumerate() {
                let number = i as u64 + 1;
                master(t, id::TRACK_ENTRY, |e| {
                    uint(e, id::TRACK_NUMBER, number);
                    uint(e, id::TRACK_UID, number);
                    uint(e, id::FLAG_LACING, 0);
                    match track {
                        TrackKind::Vp8 { width, height } => {
                            uint(e, id::TRACK_TYPE, 1);
                            element(e, id::CODEC_ID, b"V_VP8");
                            master(e, id::VIDEO, |v| {
                                uint(v, id::PIXEL_WIDTH, u64::from(*width));
                                uint(v, id::PIXEL_HEIGHT, u64::from(*height));
                            });
                        }
                        TrackKind::H264 {
                            width,
                            height,
                            record,
                        } => {
                            uint(e, id::TRACK_TYPE, 1);
                            element(e, id::CODEC_ID, b"V_MPEG4/ISO/AVC");
                            element(e, id::CODEC_PRIVATE, record);
                            master(e, id::VIDEO, |v| {
                                uint(v, id::PIXEL_WIDTH, u64::from(*width));
                                uint(v, id::PIXEL_HEIGHT, u64::from(*height));
                            });
                        }
                        TrackKind::Opus { channels } => {
                            uint(e, id::TRACK_TYPE, 2);
                            element(e, id::CODEC_ID, b"A_OPUS");
                            element(e, id::CODEC_PRIVATE, &opus_head(*channels));
                            uint(e, id::SEEK_PRE_ROLL, 80_000_000);
                            master(e, id::AUDIO, |a| {
                                float(a, id::SAMPLING_FREQUENCY, 48_000.0);
                                uint(a, id::CHANNELS, u64::from(*channels));
                            });
                        }
                    }
                });
            }
        });
        out.write_all(&head)?;
        Ok(MkvWriter {
            out,
            segment_data,
            segment_size_at,
            seek_head_at,
            duration_at,
            info_pos,
            tracks_pos,
            has_video: tracks
                .iter()
                .any(|t| matches!(t, TrackKind::Vp8 { .. } | TrackKind::H264 { .. })),
            cluster: None,
            cues: Vec::new(),
            pos: head.len() as u64,
            last_ms: 0,
        })
    }

    /// Adds a frame of track `track` (1-based) at `ms`; `video_key` marks a video
    /// keyframe (audio frames are all "key" for Matroska).
    pub(crate) fn add_frame(
        &mut self,
        track: u8,
        ms: u64,
        video: bool,
        key: bool,
        data: &[u8],
    ) -> io::Result<()> {
        let split = match &self.cluster {
            None => true,
            Some(c) => {
                let age = ms.saturating_sub(c.start_ms);
                (video && key && age >= CLUSTER_MS)
                    || (!self.has_video && age >= CLUSTER_MS)
                    || age >= CLUSTER_MAX_MS
                    || c.body.len() >= CLUSTER_MAX_BYTES
                    || ms + 30_000 < c.start_ms
            }
        };
        if split {
            self.flush_cluster()?;
            self.cluster = Some(Cluster {
                start_ms: ms,
                body: Vec::with_capacity(64 << 10),
                cue: !self.has_video || (video && key),
            });
        }
        let cluster = self.cluster.as_mut().expect("a cluster is open");
        if cluster.body.is_empty() {
            uint(&mut cluster.body, id::TIMECODE, cluster.start_ms);
        }
        let relative = (ms as i64 - cluster.start_ms as i64).clamp(-32_768, 32_767) as i16;
        let mut block = Vec::with_capacity(data.len() + 4);
        block.push(0x80 | track);
        block.extend_from_slice(&relative.to_be_bytes());
        block.push(if key { 0x80 } else { 0x00 });
        block.extend_from_slice(data);
        element(&mut cluster.body, id::SIMPLE_BLOCK, &block);
        self.last_ms = self.last_ms.max(ms);
        Ok(())
    }

    /// Writes the open cluster, whole.
    pub(crate) fn flush_cluster(&mut self) -> io::Result<()> {
        let Some(cluster) = self.cluster.take() else {
            return Ok(());
        };
        if cluster.cue {
            self.cues
                .push((cluster.start_ms, self.pos - self.segment_data));
        }
        let mut bytes = Vec::with_capacity(cluster.body.len() + 12);
        element(&mut bytes, id::CLUSTER, &cluster.body);
        self.out.write_all(&bytes)?;
        // On disk whole and at once: a reader of a file whose writer died finds every
        // cluster written so far.
        self.out.flush()?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// The last cluster, the Cues, then the SeekHead, Duration and Segment size in
    /// their reserved places. `duration_ms` is the recording's length.
    pub(crate) fn finish(mut self, duration_ms: u64) -> io::Result<W> {
        self.flush_cluster()?;
        let cues_pos = self.pos - self.segment_data;
        let mut cues = Vec::new();
        master(&mut cues, id::CUES, |c| {
            for &(time, position) in &self.cues {
                master(c, id::CUE_POINT, |p| {
                    uint(p, id::CUE_TIME, time);
                    master(p, id::CUE_TRACK_POSITIONS, |t| {
                        uint(t, id::CUE_TRACK, 1);
                        uint(t, id::CUE_CLUSTER_POSITION, position);
                    });
                });
            }
        });
        if !self.cues.is_empty() {
            self.out.write_all(&cues)?;
            self.pos += cues.len() as u64;
        }
        let end = self.pos;
        let mut seek = Vec::new();
        master(&mut seek, id::SEEK_HEAD, |s| {
            let mut entry = |target: u32, position: u64| {
                master(s, id::SEEK, |e| {
                    let mut target_id = Vec::new();
                    write_id(&mut target_id, target);
                    element(e, id::SEEK_ID, &target_id);
                    uint(e, id::SEEK_POSITION, position);
                });
            };
            entry(id::INFO, self.info_pos);
            entry(id::TRACKS, self.tracks_pos);
            if !self.cues.is_empty() {
                entry(id::CUES, cues_pos);
            }
        });
        let pad = SEEK_HEAD_RESERVE - seek.len();
        void(&mut seek, pad);
        self.out.seek(SeekFrom::Start(self.seek_head_at))?;
        self.out.write_all(&seek)?;
        let mut duration = Vec::new();
        float(
            &mut duration,
            id::DURATION,
            duration_ms.max(self.last_ms) as f64,
        );
        self.out.seek(SeekFrom::Start(self.duration_at))?;
        self.out.write_all(&duration)?;
        let size = (end - self.segment_data) | (1u64 << 56);
        self.out.seek(SeekFrom::Start(self.segment_size_at))?;
        self.out.write_all(&size.to_be_bytes())?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_the_shortest_form() {
        let mut v = Vec::new();
        write_size(&mut v, 5);
        assert_eq!(v, [0x85]);
        v.clear();
        write_size(&mut v, 127); // 0xFF would mean "unknown"
        assert_eq!(v, [0x40, 0x7F]);
        v.clear();
        void(&mut v, 11);
        assert_eq!(v.len(), 11);
        v.clear();
        void(&mut v, 300);
        assert_eq!(v.len(), 300);
    }

    #[test]
    fn a_finished_file_has_its_size_and_duration() {
        let mut w = MkvWriter::new(
            io::Cursor::new(Vec::new()),
            DocType::Webm,
            &[TrackKind::Opus { channels: 2 }],
        )
        .unwrap();
        for i in 0..200 {
            w.add_frame(1, i * 20, false, true, &[0xfc, 0xff, 0xfe])
                .unwrap();
        }
        let bytes = w.finish(4_000).unwrap().into_inner();
        assert_eq!(&bytes[..4], &[0x1A, 0x45, 0xDF, 0xA3]);
        assert!(
            bytes.windows(4).any(|w| w == [0x1C, 0x53, 0xBB, 0x6B]),
            "cues"
        );
        assert!(bytes.windows(2).any(|w| w == [0x44, 0x89]), "duration");
    }
}
