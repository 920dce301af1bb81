//! G.711 µ-law (PCMU) and A-law (PCMA), ITU-T G.711: 8-bit logarithmic samples at
//! 8 kHz, one byte per sample.

/// Added before the µ-law segment search so the smallest segment is as wide as the others.
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude µ-law represents before the bias.
const ULAW_CLIP: i32 = 32635;

/// The segment (exponent) of a biased magnitude: the position of its highest bit above
/// bit 7, 0..=7.
fn segment(magnitude: i32) -> i32 {
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && magnitude & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    exponent
}

/// One 16-bit linear sample to a µ-law byte.
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s;
    }
    let s = s.min(ULAW_CLIP) + ULAW_BIAS;
    let exponent = segment(s);
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// A µ-law byte to a 16-bit linear sample.
pub fn ulaw_decode(byte: u8) -> i16 {
    let b = i32::from(!byte);
    let exponent = (b >> 4) & 0x07;
    let mantissa = b & 0x0f;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    (if b & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// One 16-bit linear sample to an A-law byte (even bits inverted, as sent on the wire).
pub fn alaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample);
    let (magnitude, mask) = if s >= 0 { (s, 0xd5) } else { (-s - 1, 0x55) };
    let magnitude = magnitude.min(0x7fff);
    let byte = if magnitude < 256 {
        magnitude >> 4
    } else {
        // Segments 1..=7 cover magnitudes 256..32767, doubling each time.
        let exponent = (31 - magnitude.leading_zeros() as i32) - 7;
        (exponent << 4) | ((magnitude >> (exponent + 3)) & 0x0f)
    };
    (byte ^ mask) as u8
}

/// An A-law byte to a 16-bit linear sample.
pub fn alaw_decode(byte: u8) -> i16 {
    let b = i32::from(byte ^ 0x55);
    let exponent = (b >> 4) & 0x07;
    let mantissa = b & 0x0f;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if b & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

/// Encodes samples to µ-law bytes.
pub fn ulaw_encode_all(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| ulaw_encode(s)).collect()
}

/// Decodes µ-law bytes to samples.
pub fn ulaw_decode_all(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| ulaw_decode(b)).collect()
}

/// Encodes samples to A-law bytes.
pub fn alaw_encode_all(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| alaw_encode(s)).collect()
}

/// Decodes A-law bytes to samples.
pub fn alaw_decode_all(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| alaw_decode(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logarithmic quantization: the error grows with the magnitude (about 1/16 of it,
    /// plus the smallest step).
    fn close(x: i16, y: i16) -> bool {
        let (x, y) = (i32::from(x), i32::from(y));
        (x - y).abs() <= 16 + x.abs() / 16
    }

    #[test]
    fn every_sample_round_trips_within_a_quantization_step() {
        for s in i16::MIN..=i16::MAX {
            let u = ulaw_decode(ulaw_encode(s));
            let a = alaw_decode(alaw_encode(s));
            assert!(close(s.max(-32635), u), "µ-law {s} -> {u}");
            assert!(close(s, a), "A-law {s} -> {a}");
        }
    }

    #[test]
    fn known_codes() {
        // Silence.
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(ulaw_decode(0xff), 0);
        // Full scale.
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN + 1), 0x00);
        assert_eq!(alaw_encode(i16::MAX), 0xaa);
        assert_eq!(alaw_encode(i16::MIN), 0x2a);
        // Decoding is monotonic over the codes of one sign.
        let positive: Vec<i16> = (0..128u8).map(|c| ulaw_decode(0xff - c)).collect();
        assert!(positive.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn buffers_keep_their_length() {
        let tone: Vec<i16> = (0..160)
            .map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)
            .collect();
        assert_eq!(ulaw_decode_all(&ulaw_encode_all(&tone)).len(), 160);
        assert_eq!(alaw_decode_all(&alaw_encode_all(&tone)).len(), 160);
    }
}
