//! H.264 as Matroska and MP4 store it (`V_MPEG4/ISO/AVC`, `avc1`/`avc3`:
//! length-prefixed NAL units, the parameter sets in the track's `avcC` record, ISO
//! 14496-15 §5.2.4) to the Annex B byte stream our RTP packetizer and decoders take.

/// The start code before every NAL unit in Annex B.
const START: [u8; 4] = [0, 0, 0, 1];
/// NAL unit type of an IDR slice (a keyframe).
const IDR: u8 = 5;

/// One track's conversion: the NAL length size and its parameter sets in Annex B.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Avc {
    length_size: usize,
    parameter_sets: Vec<u8>,
}

impl Avc {
    /// Reads an `avcC` record; `None` when it is malformed.
    pub(crate) fn from_record(record: &[u8]) -> Option<Avc> {
        let length_size = usize::from(*record.get(4)? & 3) + 1;
        let mut parameter_sets = Vec::new();
        let mut i = 5;
        // SPS count (5 bits), then PPS count (a byte) after the SPSs.
        for mask in [0x1f, 0xff] {
            let count = record.get(i)? & mask;
            i += 1;
            for _ in 0..count {
                let len = usize::from(u16::from_be_bytes([*record.get(i)?, *record.get(i + 1)?]));
                let nal = record.get(i + 2..i + 2 + len)?;
                parameter_sets.extend_from_slice(&START);
                parameter_sets.extend_from_slice(nal);
                i += 2 + len;
            }
        }
        Some(Avc {
            length_size,
            parameter_sets,
        })
    }

    /// The conversion for a decoded `avcC` (MP4's): NAL lengths of `length_size` bytes
    /// (1 to 4; other values are taken as 4), these parameter sets.
    pub(crate) fn from_parts(length_size: u8, sps: &[Vec<u8>], pps: &[Vec<u8>]) -> Avc {
        let mut parameter_sets = Vec::new();
        for nal in sps.iter().chain(pps) {
            parameter_sets.extend_from_slice(&START);
            parameter_sets.extend_from_slice(nal);
        }
        Avc {
            length_size: match length_size {
                1..=4 => usize::from(length_size),
                _ => 4,
            },
            parameter_sets,
        }
    }

    /// A frame in Annex B, with the parameter sets before an IDR frame (so a decoder
    /// can start at any keyframe), and whether it is one; `None` when a length runs
    /// past the frame.
    pub(crate) fn to_annex_b(&self, frame: &[u8]) -> Option<(Vec<u8>, bool)> {
        let mut nals = Vec::new();
        let mut i = 0;
        while i < frame.len() {
            let len_bytes = frame.get(i..i + self.length_size)?;
            let len = len_bytes
                .iter()
                .fold(0usize, |n, &b| (n << 8) | usize::from(b));
            i += self.length_size;
            nals.push(frame.get(i..i.checked_add(len)?)?);
            i += len;
        }
        let idr = nals
            .iter()
            .any(|n| n.first().is_some_and(|b| b & 0x1f == IDR));
        let mut out = Vec::with_capacity(frame.len() + 4 * nals.len() + 64);
        if idr {
            out.extend_from_slice(&self.parameter_sets);
        }
        for nal in nals {
            out.extend_from_slice(&START);
            out.extend_from_slice(nal);
        }
        Some((out, idr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_frames_become_annex_b_with_parameter_sets_before_idr() {
        // avcC: version 1, profile 66, compat 0xc0, level 30, 4-byte lengths,
        // one SPS (67 42 c0 1e), one PPS (68 ce 3c 80).
        let record = [
            1, 66, 0xc0, 30, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x1e, 1, 0, 4, 0x68, 0xce, 0x3c,
            0x80,
        ];
        let avc = Avc::from_record(&record).unwrap();
        let idr = [0, 0, 0, 3, 0x65, 0x88, 0x84];
        let (out, key) = avc.to_annex_b(&idr).unwrap();
        assert!(key);
        assert_eq!(
            out,
            [
                0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1,
                0x65, 0x88, 0x84
            ]
        );
        let (out, key) = avc.to_annex_b(&[0, 0, 0, 2, 0x41, 0x9a]).unwrap();
        assert!(!key);
        assert_eq!(out, [0, 0, 0, 1, 0x41, 0x9a]);
        // A length past the end, a truncated record: refused, no panic.
        assert_eq!(avc.to_annex_b(&[0, 0, 0, 9, 0x41]), None);
        assert_eq!(avc.to_annex_b(&[0, 0]), None);
        assert_eq!(Avc::from_record(&record[..10]), None);
        assert_eq!(avc.to_annex_b(&[0xff, 0xff, 0xff, 0xff, 1]), None);
        // The same record decoded (MP4's avcC) converts the same.
        let parts = Avc::from_parts(
            4,
            &[vec![0x67, 0x42, 0xc0, 0x1e]],
            &[vec![0x68, 0xce, 0x3c, 0x80]],
        );
        assert_eq!(parts, avc);
    }
}
