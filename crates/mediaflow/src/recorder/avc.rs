//! H.264 as the RTP depacketizer gives it (Annex B: a start code before each NAL unit)
//! to what Matroska's `V_MPEG4/ISO/AVC` stores: each NAL unit behind a 4-byte big-endian
//! length, and the parameter sets in the track's AVCDecoderConfigurationRecord (`avcC`,
//! ISO 14496-15 §5.3.3). The inverse is `player::avc`.
//!
//! Everything here reads bytes a peer chose: no index is trusted, nothing panics.

use h264_reader::nal::sps::{ChromaFormat, SeqParameterSet};
use h264_reader::rbsp::{decode_nal, BitReader};

const IDR: u8 = 5;
const SPS: u8 = 7;
const PPS: u8 = 8;
/// The avcC record holds at most 31 SPSs (5 bits) and 255 PPSs, each under 64 KiB.
const MAX_SPS: usize = 31;
const MAX_PPS: usize = 255;

/// Just past the next `00 00 01` at or after `from`.
fn next_start(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 3 <= data.len() {
        // A third byte above 1 cannot end a start code, nor can the two before it begin one.
        if data[i + 2] > 1 {
            i += 3;
        } else if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            return Some(i + 3);
        } else {
            i += 1;
        }
    }
    None
}

/// The NAL units of an Annex B access unit, without start codes or the zero bytes that
/// pad them (a 4-byte start code's first byte, `trailing_zero_8bits`). Bytes before the
/// first start code are not a NAL unit and are skipped.
pub(crate) fn nal_units(au: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut next = next_start(au, 0);
    std::iter::from_fn(move || loop {
        let start = next?;
        next = next_start(au, start);
        let end = next.map_or(au.len(), |n| n - 3);
        let nal = &au[start..end];
        let len = nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        if len > 0 {
            return Some(&nal[..len]);
        }
    })
}

fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// What an access unit is, read from its NAL unit types up to its first slice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Kind {
    /// Its picture is IDR: a decoder can start here (Matroska's keyframe).
    pub(crate) idr: bool,
    /// It carries an SPS and a PPS before that slice: a track can start here.
    pub(crate) parameter_sets: bool,
}

/// Reads only up to the first slice (the slices of one picture share its IDR-ness), so a
/// large frame costs a few bytes of scanning on the worker.
pub(crate) fn kind(au: &[u8]) -> Kind {
    let (mut sps, mut pps) = (false, false);
    for nal in nal_units(au) {
        match nal_type(nal) {
            SPS => sps = true,
            PPS => pps = true,
            t @ 1..=5 => {
                return Kind {
                    idr: t == IDR,
                    parameter_sets: sps && pps,
                }
            }
            _ => {}
        }
    }
    Kind::default()
}

/// The access unit as Matroska stores it: every NAL unit behind its 4-byte length
/// (the parameter sets stay in band, so a change of resolution mid-stream decodes).
/// `None` when it holds no NAL unit.
pub(crate) fn to_avcc(au: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(au.len() + 16);
    for nal in nal_units(au) {
        // A NAL unit is shorter than the frame, which is far under 4 GiB.
        out.extend_from_slice(&u32::try_from(nal.len()).ok()?.to_be_bytes());
        out.extend_from_slice(nal);
    }
    (!out.is_empty()).then_some(out)
}

/// The video track's header data, from an access unit that carries its parameter sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AvcConfig {
    /// Picture size from the SPS (cropping applied).
    pub(crate) width: u16,
    pub(crate) height: u16,
    /// The AVCDecoderConfigurationRecord: Matroska's CodecPrivate.
    pub(crate) record: Vec<u8>,
}

impl AvcConfig {
    /// `None` without an SPS and a PPS, or when the first SPS does not parse.
    pub(crate) fn from_access_unit(au: &[u8]) -> Option<AvcConfig> {
        let (mut spss, mut ppss): (Vec<&[u8]>, Vec<&[u8]>) = (Vec::new(), Vec::new());
        for nal in nal_units(au) {
            let list = match nal_type(nal) {
                SPS => &mut spss,
                PPS => &mut ppss,
                _ => continue,
            };
            if !list.contains(&nal) {
                list.push(nal);
            }
        }
        let sps = *spss.first()?;
        ppss.first()?;
        if spss.len() > MAX_SPS
            || ppss.len() > MAX_PPS
            || spss
                .iter()
                .chain(&ppss)
                .any(|n| n.len() > usize::from(u16::MAX))
        {
            return None;
        }
        let parsed = SeqParameterSet::from_bits(BitReader::new(&*decode_nal(sps).ok()?)).ok()?;
        let (width, height) = parsed.pixel_dimensions().ok()?;
        let (width, height) = (u16::try_from(width).ok()?, u16::try_from(height).ok()?);
        // profile_idc, the constraint flags and level_idc, as the SPS's first bytes.
        let [profile, compatibility, level] = *sps.get(1..4)? else {
            return None;
        };
        let mut record = vec![1, profile, compatibility, level, 0xfc | 3];
        record.push(0xe0 | spss.len() as u8);
        for nal in &spss {
            record.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            record.extend_from_slice(nal);
        }
        record.push(ppss.len() as u8);
        for nal in &ppss {
            record.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            record.extend_from_slice(nal);
        }
        // The profiles that can carry chroma format and bit depth have them in the
        // record too (ISO 14496-15 §5.3.3.1.1).
        if matches!(profile, 100 | 110 | 122 | 144) {
            let chroma = &parsed.chroma_info;
            let format = match chroma.chroma_format {
                ChromaFormat::Monochrome => 0,
                ChromaFormat::YUV420 => 1,
                ChromaFormat::YUV422 => 2,
                ChromaFormat::YUV444 => 3,
                ChromaFormat::Invalid(_) => return None,
            };
            record.push(0xfc | format);
            record.push(0xf8 | (chroma.bit_depth_luma_minus8 & 7));
            record.push(0xf8 | (chroma.bit_depth_chroma_minus8 & 7));
            record.push(0); // no SPS extensions
        }
        Some(AvcConfig {
            width,
            height,
            record,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::avc::Avc;
    use mediaflow_transcoder::{H264Encoder, I420Frame};

    #[test]
    fn annex_b_splits_on_three_and_four_byte_start_codes() {
        let au = [
            9, 9, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 0, 0,
        ];
        let nals: Vec<&[u8]> = nal_units(&au).collect();
        assert_eq!(nals, [&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4]]);
        assert_eq!(
            kind(&au),
            Kind {
                idr: true,
                parameter_sets: true
            }
        );
        assert_eq!(
            to_avcc(&au).unwrap(),
            [0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x68, 3, 0, 0, 0, 2, 0x65, 4]
        );
        // No start code, only start codes, a slice without parameter sets: no panic.
        assert_eq!(to_avcc(&[1, 2, 3]), None);
        assert_eq!(to_avcc(&[0, 0, 1, 0, 0, 1]), None);
        assert_eq!(nal_units(&[0, 0]).count(), 0);
        assert_eq!(
            kind(&[0, 0, 1, 0x41, 7]),
            Kind {
                idr: false,
                parameter_sets: false
            }
        );
        assert_eq!(AvcConfig::from_access_unit(&[0, 0, 1, 0x65, 1]), None);
        // An SPS that does not parse is no configuration.
        assert_eq!(
            AvcConfig::from_access_unit(&[0, 0, 1, 0x67, 0xff, 0, 1, 0, 0, 1, 0x68, 1]),
            None
        );
    }

    proptest::proptest! {
        /// Whatever a peer sends: no panic, and the AVCC form is the NAL units found,
        /// each behind its length.
        #[test]
        fn any_bytes_are_read_without_a_panic(
            au in proptest::collection::vec(
                proptest::prop_oneof![0u8..4, proptest::prelude::any::<u8>()],
                0..512,
            )
        ) {
            let _ = kind(&au);
            let _ = AvcConfig::from_access_unit(&au);
            let nals: Vec<&[u8]> = nal_units(&au).collect();
            let avcc = to_avcc(&au);
            proptest::prop_assert_eq!(avcc.is_some(), !nals.is_empty());
            let mut rest = &avcc.unwrap_or_default()[..];
            for nal in nals {
                let (len, tail) = rest.split_at(4);
                proptest::prop_assert_eq!(u32::from_be_bytes(len.try_into().unwrap()) as usize, nal.len());
                proptest::prop_assert_eq!(&tail[..nal.len()], nal);
                rest = &tail[nal.len()..];
            }
            proptest::prop_assert!(rest.is_empty());
        }
    }

    proptest::proptest! {
        /// A random SPS (behind a valid profile byte) next to a PPS and an IDR slice:
        /// the SPS parser meets every shape of field, and a record made is well formed.
        #[test]
        fn any_sps_is_parsed_without_a_panic(
            profile in proptest::prop_oneof![proptest::strategy::Just(66u8), proptest::strategy::Just(100u8), proptest::prelude::any::<u8>()],
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let mut au = vec![0, 0, 0, 1, 0x67, profile];
            au.extend_from_slice(&body);
            au.extend_from_slice(&[0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 1, 0x65, 0x88]);
            if let Some(config) = AvcConfig::from_access_unit(&au) {
                proptest::prop_assert!(Avc::from_record(&config.record).is_some());
            }
        }
    }

    /// An encoder's keyframe gives a record the player reads back, with the picture size.
    #[test]
    fn an_encoded_keyframe_gives_its_size_and_a_record_the_player_reads() {
        let mut enc = H264Encoder::new(320, 240, 500).unwrap();
        let picture = I420Frame::filled(320, 240, 60, 128);
        let au = enc.encode(&picture, true).unwrap().remove(0).data;
        assert!(kind(&au).idr && kind(&au).parameter_sets);
        let config = AvcConfig::from_access_unit(&au).unwrap();
        assert_eq!((config.width, config.height), (320, 240));
        assert_eq!(config.record[0], 1);
        assert_eq!(config.record[4], 0xff, "4-byte NAL lengths");
        let avcc = to_avcc(&au).unwrap();
        let avc = Avc::from_record(&config.record).unwrap();
        let (annex_b, idr) = avc.to_annex_b(&avcc).unwrap();
        assert!(idr);
        assert_eq!(
            nal_units(&annex_b).count(),
            nal_units(&au).count() + 2,
            "the record's SPS and PPS, then the frame's NAL units"
        );
    }
}
