//! mediaflow's codecs behind small safe wrappers, for the transcoding branches of the
//! graph: VP8 (libvpx through env-libvpx-sys), H.264 (OpenH264), Opus, G.711.
#![deny(missing_docs)]

mod audio;
pub mod g711;
mod link;
pub mod rtp;
mod video;

pub use audio::{OpusDecoder, OpusEncoder, OPUS_FRAME};
pub use link::{CodecTranscoderFactory, ThreadedTranscoder};
pub use video::{
    CodecError, EncodedFrame, H264Decoder, H264Encoder, I420Frame, Vp8Decoder, Vp8Encoder,
};
