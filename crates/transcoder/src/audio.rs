//! Opus (through the `opus` crate, bundled libopus) at 48 kHz.

use crate::video::CodecError;

/// Samples per channel in a 20 ms frame at 48 kHz.
pub const OPUS_FRAME: usize = 960;

/// An Opus encoder for 20 ms frames of interleaved 48 kHz samples.
pub struct OpusEncoder {
    inner: opus::Encoder,
    channels: usize,
}

impl OpusEncoder {
    /// A VoIP encoder of `channels` (1 or 2) channels.
    pub fn new(channels: usize) -> Result<OpusEncoder, CodecError> {
        let layout = match channels {
            1 => opus::Channels::Mono,
            2 => opus::Channels::Stereo,
            n => return Err(CodecError::Init(format!("{n} channels"))),
        };
        let inner = opus::Encoder::new(48_000, layout, opus::Application::Voip)
            .map_err(|e| CodecError::Init(e.to_string()))?;
        Ok(OpusEncoder { inner, channels })
    }

    /// Encodes one 20 ms frame (`OPUS_FRAME * channels` samples).
    pub fn encode(&mut self, samples: &[i16]) -> Result<Vec<u8>, CodecError> {
        if samples.len() != OPUS_FRAME * self.channels {
            return Err(CodecError::BadFrame(format!("{} samples", samples.len())));
        }
        let mut out = vec![0u8; 4000];
        let n = self
            .inner
            .encode(samples, &mut out)
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        out.truncate(n);
        Ok(out)
    }
}

/// An Opus decoder to interleaved 48 kHz samples.
pub struct OpusDecoder {
    inner: opus::Decoder,
    channels: usize,
}

impl OpusDecoder {
    /// A decoder of `channels` (1 or 2) channels.
    pub fn new(channels: usize) -> Result<OpusDecoder, CodecError> {
        let layout = match channels {
            1 => opus::Channels::Mono,
            2 => opus::Channels::Stereo,
            n => return Err(CodecError::Init(format!("{n} channels"))),
        };
        let inner =
            opus::Decoder::new(48_000, layout).map_err(|e| CodecError::Init(e.to_string()))?;
        Ok(OpusDecoder { inner, channels })
    }

    /// Decodes one packet.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, CodecError> {
        let mut out = vec![0i16; 5760 * self.channels];
        let n = self
            .inner
            .decode(packet, &mut out, false)
            .map_err(|e| CodecError::Decode(e.to_string()))?;
        out.truncate(n * self.channels);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_round_trip_keeps_frame_size_and_energy() {
        let mut enc = OpusEncoder::new(2).unwrap();
        let mut dec = OpusDecoder::new(2).unwrap();
        let mut energy_in = 0f64;
        let mut energy_out = 0f64;
        for frame in 0..20 {
            let samples: Vec<i16> = (0..OPUS_FRAME)
                .flat_map(|i| {
                    let t = (frame * OPUS_FRAME + i) as f64 / 48_000.0;
                    let s = ((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16;
                    [s, s]
                })
                .collect();
            let packet = enc.encode(&samples).unwrap();
            assert!(!packet.is_empty() && packet.len() < 1500);
            let out = dec.decode(&packet).unwrap();
            assert_eq!(out.len(), OPUS_FRAME * 2);
            if frame >= 5 {
                energy_in += samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
                energy_out += out.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
            }
        }
        let ratio = energy_out / energy_in;
        assert!((0.5..2.0).contains(&ratio), "energy ratio {ratio}");
        assert!(matches!(enc.encode(&[0; 10]), Err(CodecError::BadFrame(_))));
        // Garbage decodes to an error or to concealment, never a panic.
        let _ = dec.decode(&[0xff; 3]);
    }
}
