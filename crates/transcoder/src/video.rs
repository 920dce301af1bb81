//! Video codecs: VP8 through libvpx (env-libvpx-sys; vpx-rs would need libvpx >= 1.13,
//! Debian 12 has 1.12) and H.264 through OpenH264. Frames are planar I420.

use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_uint, c_ulong};
use std::ptr;

use openh264::encoder::{BitRate, EncoderConfig, FrameType};
use openh264::formats::{YUVBuffer, YUVSource};
use openh264::OpenH264API;
use vpx_sys as vpx;

/// Why a codec call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The codec library refused to start.
    #[error("codec initialisation failed: {0}")]
    Init(String),
    /// Frame dimensions are not usable (zero, odd, or not matching the encoder).
    #[error("bad frame: {0}")]
    BadFrame(String),
    /// The encoder failed.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// The bitstream could not be decoded (corrupt, or no keyframe yet).
    #[error("decoding failed: {0}")]
    Decode(String),
}

/// A raw picture: I420, the Y plane then U then V, each tightly packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct I420Frame {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// `width * height * 3 / 2` bytes.
    pub data: Vec<u8>,
}

impl I420Frame {
    /// A frame of `width` x `height` filled with one luma and one chroma value.
    pub fn filled(width: u32, height: u32, luma: u8, chroma: u8) -> I420Frame {
        let y = (width * height) as usize;
        let mut data = vec![luma; y];
        data.resize(y + y / 2, chroma);
        I420Frame {
            width,
            height,
            data,
        }
    }

    fn check(&self) -> Result<(), CodecError> {
        let expected = (self.width as usize) * (self.height as usize) * 3 / 2;
        if self.width == 0
            || self.height == 0
            || !self.width.is_multiple_of(2)
            || !self.height.is_multiple_of(2)
        {
            return Err(CodecError::BadFrame(format!(
                "{}x{} is not an even, non-zero size",
                self.width, self.height
            )));
        }
        if self.data.len() != expected {
            return Err(CodecError::BadFrame(format!(
                "{} bytes for {}x{} (want {expected})",
                self.data.len(),
                self.width,
                self.height
            )));
        }
        Ok(())
    }
}

/// An encoded picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedFrame {
    /// The bitstream: a VP8 frame, or H.264 Annex B NAL units.
    pub data: Vec<u8>,
    /// True when a decoder can start here.
    pub keyframe: bool,
}

fn vpx_error(what: &str, err: vpx::vpx_codec_err_t) -> String {
    format!("{what}: {err:?}")
}

/// A VP8 encoder for real-time use (no lag, CBR at the given bitrate).
pub struct Vp8Encoder {
    // Boxed: libvpx keeps pointers into the context between calls.
    ctx: Box<vpx::vpx_codec_ctx_t>,
    cfg: vpx::vpx_codec_enc_cfg_t,
    width: u32,
    height: u32,
    pts: i64,
}

// SAFETY: the context is only used through `&mut self`; libvpx contexts may move
// between threads when not used concurrently.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    /// An encoder of `width` x `height` frames at `bitrate_kbps`.
    pub fn new(width: u32, height: u32, bitrate_kbps: u32) -> Result<Vp8Encoder, CodecError> {
        I420Frame::filled(width, height, 0, 0).check()?;
        // SAFETY: plain C calls on zeroed structures libvpx fills in; errors checked.
        unsafe {
            let iface = vpx::vpx_codec_vp8_cx();
            let mut cfg = MaybeUninit::<vpx::vpx_codec_enc_cfg_t>::zeroed().assume_init();
            let err = vpx::vpx_codec_enc_config_default(iface, &mut cfg, 0);
            if err != vpx::VPX_CODEC_OK {
                return Err(CodecError::Init(vpx_error("config", err)));
            }
            cfg.g_w = width;
            cfg.g_h = height;
            cfg.g_timebase.num = 1;
            cfg.g_timebase.den = 90_000;
            cfg.rc_target_bitrate = bitrate_kbps.max(1);
            cfg.g_lag_in_frames = 0;
            cfg.g_threads = 1;
            cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
            cfg.g_error_resilient = 1;
            cfg.kf_max_dist = 3000;
            let mut ctx = Box::new(MaybeUninit::<vpx::vpx_codec_ctx_t>::zeroed().assume_init());
            let err = vpx::vpx_codec_enc_init_ver(
                &mut *ctx,
                iface,
                &cfg,
                0,
                vpx::VPX_ENCODER_ABI_VERSION as c_int,
            );
            if err != vpx::VPX_CODEC_OK {
                return Err(CodecError::Init(vpx_error("encoder init", err)));
            }
            Ok(Vp8Encoder {
                ctx,
                cfg,
                width,
                height,
                pts: 0,
            })
        }
    }

    /// Changes the target bitrate (follows the receiver's REMB).
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError> {
        self.cfg.rc_target_bitrate = kbps.max(1);
        // SAFETY: a live context and a valid configuration.
        let err = unsafe { vpx::vpx_codec_enc_config_set(&mut *self.ctx, &self.cfg) };
        if err != vpx::VPX_CODEC_OK {
            return Err(CodecError::Encode(vpx_error("bitrate", err)));
        }
        Ok(())
    }

    /// Encodes one frame (a keyframe when asked); returns what the encoder produced.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, CodecError> {
        frame.check()?;
        if (frame.width, frame.height) != (self.width, self.height) {
            return Err(CodecError::BadFrame(format!(
                "{}x{} frame for a {}x{} encoder",
                frame.width, frame.height, self.width, self.height
            )));
        }
        let mut out = Vec::new();
        // SAFETY: `frame.data` holds a whole I420 picture (checked) and outlives the
        // encode call; packets are copied out before the next call.
        unsafe {
            let mut img = MaybeUninit::<vpx::vpx_image_t>::zeroed().assume_init();
            let wrapped = vpx::vpx_img_wrap(
                &mut img,
                vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
                frame.width as c_uint,
                frame.height as c_uint,
                1,
                frame.data.as_ptr() as *mut u8,
            );
            if wrapped.is_null() {
                return Err(CodecError::BadFrame("libvpx refused the picture".into()));
            }
            let flags = if keyframe {
                vpx::VPX_EFLAG_FORCE_KF as _
            } else {
                0
            };
            let err = vpx::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                self.pts,
                3000,
                flags,
                vpx::VPX_DL_REALTIME as c_ulong,
            );
            self.pts += 3000;
            if err != vpx::VPX_CODEC_OK {
                return Err(CodecError::Encode(vpx_error("encode", err)));
            }
            let mut iter: vpx::vpx_codec_iter_t = ptr::null();
            loop {
                let pkt = vpx::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter);
                if pkt.is_null() {
                    break;
                }
                if (*pkt).kind == vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                    let f = (*pkt).data.frame;
                    out.push(EncodedFrame {
                        data: std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize)
                            .to_vec(),
                        keyframe: f.flags & vpx::VPX_FRAME_IS_KEY != 0,
                    });
                }
            }
        }
        Ok(out)
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: a context initialised in `new`, destroyed once.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// A VP8 decoder.
pub struct Vp8Decoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
}

// SAFETY: as for the encoder.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    /// A decoder.
    pub fn new() -> Result<Vp8Decoder, CodecError> {
        // SAFETY: a zeroed context libvpx initialises; the error is checked.
        unsafe {
            let mut ctx = Box::new(MaybeUninit::<vpx::vpx_codec_ctx_t>::zeroed().assume_init());
            let err = vpx::vpx_codec_dec_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_dx(),
                ptr::null(),
                0,
                vpx::VPX_DECODER_ABI_VERSION as c_int,
            );
            if err != vpx::VPX_CODEC_OK {
                return Err(CodecError::Init(vpx_error("decoder init", err)));
            }
            Ok(Vp8Decoder { ctx })
        }
    }

    /// Decodes one frame; `None` when it produced no picture.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, CodecError> {
        let len = c_uint::try_from(data.len())
            .map_err(|_| CodecError::Decode("frame too large".into()))?;
        // SAFETY: `data` is valid for `len` bytes during the call; the picture is
        // copied plane by plane, row by row, within its declared strides.
        unsafe {
            let err = vpx::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, ptr::null_mut(), 0);
            if err != vpx::VPX_CODEC_OK {
                return Err(CodecError::Decode(vpx_error("decode", err)));
            }
            let mut iter: vpx::vpx_codec_iter_t = ptr::null();
            let img = vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter);
            if img.is_null() {
                return Ok(None);
            }
            let img = &*img;
            let (w, h) = (img.d_w as usize, img.d_h as usize);
            let mut out = Vec::with_capacity(w * h * 3 / 2);
            for (plane, pw, ph) in [(0, w, h), (1, w / 2, h / 2), (2, w / 2, h / 2)] {
                let stride = img.stride[plane] as usize;
                for row in 0..ph {
                    let start = img.planes[plane].add(row * stride);
                    out.extend_from_slice(std::slice::from_raw_parts(start, pw));
                }
            }
            Ok(Some(I420Frame {
                width: img.d_w,
                height: img.d_h,
                data: out,
            }))
        }
    }
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: a context initialised in `new`, destroyed once.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// An H.264 encoder (OpenH264, built from its bundled source).
pub struct H264Encoder {
    inner: openh264::encoder::Encoder,
    width: u32,
    height: u32,
}

impl H264Encoder {
    /// An encoder at `bitrate_kbps`.
    pub fn new(width: u32, height: u32, bitrate_kbps: u32) -> Result<H264Encoder, CodecError> {
        I420Frame::filled(width, height, 0, 0).check()?;
        let config = EncoderConfig::new().bitrate(BitRate::from_bps(bitrate_kbps.max(1) * 1000));
        let inner = openh264::encoder::Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| CodecError::Init(e.to_string()))?;
        Ok(H264Encoder {
            inner,
            width,
            height,
        })
    }

    /// Encodes one frame (an IDR when asked) into Annex B NAL units.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, CodecError> {
        frame.check()?;
        if (frame.width, frame.height) != (self.width, self.height) {
            return Err(CodecError::BadFrame(
                "frame size differs from the encoder's".into(),
            ));
        }
        if keyframe {
            self.inner.force_intra_frame();
        }
        let yuv = YUVBuffer::from_vec(
            frame.data.clone(),
            frame.width as usize,
            frame.height as usize,
        );
        let stream = self
            .inner
            .encode(&yuv)
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        let key = matches!(stream.frame_type(), FrameType::IDR | FrameType::I);
        let data = stream.to_vec();
        Ok(if data.is_empty() {
            Vec::new()
        } else {
            vec![EncodedFrame {
                data,
                keyframe: key,
            }]
        })
    }
}

/// An H.264 decoder (OpenH264).
pub struct H264Decoder {
    inner: openh264::decoder::Decoder,
}

impl H264Decoder {
    /// A decoder.
    pub fn new() -> Result<H264Decoder, CodecError> {
        let inner =
            openh264::decoder::Decoder::new().map_err(|e| CodecError::Init(e.to_string()))?;
        Ok(H264Decoder { inner })
    }

    /// Decodes Annex B NAL units; `None` when they completed no picture.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, CodecError> {
        let Some(yuv) = self
            .inner
            .decode(data)
            .map_err(|e| CodecError::Decode(e.to_string()))?
        else {
            return Ok(None);
        };
        let (w, h) = yuv.dimensions();
        let (sy, su, sv) = yuv.strides();
        let mut out = Vec::with_capacity(w * h * 3 / 2);
        for (plane, stride, pw, ph) in [
            (yuv.y(), sy, w, h),
            (yuv.u(), su, w / 2, h / 2),
            (yuv.v(), sv, w / 2, h / 2),
        ] {
            for row in 0..ph {
                out.extend_from_slice(&plane[row * stride..row * stride + pw]);
            }
        }
        Ok(Some(I420Frame {
            width: w as u32,
            height: h as u32,
            data: out,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A moving gradient, so frames differ and the encoder has work to do.
    fn frame(width: u32, height: u32, n: u32) -> I420Frame {
        let mut f = I420Frame::filled(width, height, 0, 128);
        for y in 0..height {
            for x in 0..width {
                f.data[(y * width + x) as usize] = ((x + y + n * 4) % 256) as u8;
            }
        }
        f
    }

    fn mean_abs_diff(a: &I420Frame, b: &I420Frame) -> f64 {
        let n = (a.width * a.height) as usize;
        a.data[..n]
            .iter()
            .zip(&b.data[..n])
            .map(|(x, y)| (i32::from(*x) - i32::from(*y)).unsigned_abs() as f64)
            .sum::<f64>()
            / n as f64
    }

    #[test]
    fn vp8_round_trip_keeps_size_and_picture() {
        let mut enc = Vp8Encoder::new(320, 240, 800).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let mut decoded = 0;
        for n in 0..10 {
            let input = frame(320, 240, n);
            for out in enc.encode(&input, n == 0).unwrap() {
                assert_eq!(out.keyframe, n == 0, "frame {n}");
                let picture = dec.decode(&out.data).unwrap().expect("a picture");
                assert_eq!((picture.width, picture.height), (320, 240));
                assert_eq!(picture.data.len(), 320 * 240 * 3 / 2);
                assert!(mean_abs_diff(&input, &picture) < 12.0);
                decoded += 1;
            }
        }
        assert_eq!(decoded, 10);
        enc.set_bitrate(200).unwrap();
        assert!(!enc.encode(&frame(320, 240, 11), true).unwrap().is_empty());
    }

    #[test]
    fn h264_round_trip_keeps_size_and_picture() {
        let mut enc = H264Encoder::new(320, 240, 800).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut decoded = 0;
        for n in 0..10 {
            let input = frame(320, 240, n);
            for out in enc.encode(&input, n == 0).unwrap() {
                if n == 0 {
                    assert!(out.keyframe);
                }
                if let Some(picture) = dec.decode(&out.data).unwrap() {
                    assert_eq!((picture.width, picture.height), (320, 240));
                    assert!(mean_abs_diff(&input, &picture) < 12.0);
                    decoded += 1;
                }
            }
        }
        assert!(decoded >= 9, "{decoded} pictures");
    }

    #[test]
    fn corrupt_bitstreams_are_errors_not_crashes() {
        let mut vp8 = Vp8Decoder::new().unwrap();
        let mut h264 = H264Decoder::new().unwrap();
        let mut x = 7u32;
        for _ in 0..50 {
            let junk: Vec<u8> = (0..200)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            let _ = vp8.decode(&junk);
            let _ = h264.decode(&junk);
        }
        assert!(matches!(
            Vp8Encoder::new(321, 240, 100),
            Err(CodecError::BadFrame(_))
        ));
        let mut enc = Vp8Encoder::new(64, 64, 100).unwrap();
        assert!(matches!(
            enc.encode(&I420Frame::filled(32, 32, 0, 0), false),
            Err(CodecError::BadFrame(_))
        ));
    }
}
