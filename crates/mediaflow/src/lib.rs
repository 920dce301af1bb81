//! mediaflow: an embeddable WebRTC media engine.
//!
//! A [`MediaPipeline`] holds media elements connected into a graph. Pipelines run on a
//! [`Runtime`]: a fixed pool of worker threads (each runs many pipelines, each pipeline
//! with its elements and sockets on one worker) and a few dispatcher threads that deliver
//! Kurento's events to handlers. Everything is in-process: no media server, no control
//! protocol.
//!
//! ```
//! use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType, PassThrough};
//! use std::time::Duration;
//!
//! let pipeline = MediaPipeline::new()?;
//! let source = AppSource::new(&pipeline)?;
//! let pass = PassThrough::new(&pipeline)?;
//! let sink = AppSink::new(&pipeline)?;
//! source.connect(&pass)?;
//! pass.connect(&sink)?;
//! pass.on_media_flow_in_state_changed(|e| println!("{} {:?}", e.media_type, e.state))?;
//! source.push(Buffer::new(MediaType::Video, &b"frame"[..]))?;
//! let out = sink.recv_timeout(Duration::from_secs(5)).expect("a buffer");
//! assert_eq!(&out.data[..], b"frame");
//! pipeline.release()?;
//! # Ok::<(), mediaflow::Error>(())
//! ```
#![deny(missing_docs)]

mod element;
mod elements;
mod endpoint;
mod error;
mod events;
mod pipeline;
mod player;
mod recorder;
mod registry;
mod rtp;
mod runtime;
mod task;
mod translate;
mod webrtc;

pub use element::{ElementConnectionData, MediaElement};
pub use elements::{AppSink, AppSource, PassThrough};
pub use error::{Error, Result};
pub use events::{
    ConnectionStateChangedEvent, DataChannelClosedEvent, DataChannelOpenedEvent,
    DtlsConnectionStateChangeEvent, ElementConnectedEvent, ElementDisconnectedEvent,
    EndOfStreamEvent, ErrorEvent, Event, IceCandidateFoundEvent, IceComponentStateChangedEvent,
    IceGatheringDoneEvent, MediaFlowInStateChangedEvent, MediaFlowOutStateChangedEvent,
    MediaStateChangedEvent, MediaTranscodingStateChangedEvent, NewCandidatePairSelectedEvent,
    PausedEvent, RecordingEvent, StoppedEvent,
};
// The types below are defined in the crates under this one; each is inlined here with
// an example in this crate's terms (they run as this crate's doc-tests).

/// ```
/// use mediaflow::{Buffer, MediaType};
///
/// // What an AppSource takes and an AppSink gives: media of one pad, bytes shared.
/// let mut frame = Buffer::new(MediaType::Video, vec![0x10, 0x02, 0x00]);
/// frame.keyframe = true;
/// frame.codec = Some(mediaflow::codec::VP8);
/// let copy = frame.clone(); // no bytes copied
/// assert_eq!(copy.data, frame.data);
/// ```
#[doc(inline)]
pub use mediaflow_graph::Buffer;
/// ```
/// use mediaflow::{Buffer, DataChannelMeta, MediaType};
///
/// // A text message for the data channel labelled "chat" (stream 1).
/// let mut message = Buffer::new(MediaType::Data, "hello");
/// message.data_channel = Some(DataChannelMeta { stream_id: 1, label: "chat".into(), binary: false });
/// assert_eq!(&*message.data_channel.unwrap().label, "chat");
/// ```
#[doc(inline)]
pub use mediaflow_graph::DataChannelMeta;
/// ```
/// use mediaflow::ErrorType;
///
/// // The `type` an Error event carries, as Kurento spells it.
/// assert_eq!(ErrorType::ResourceErrorOpen.as_str(), "RESOURCE_ERROR_OPEN");
/// ```
#[doc(inline)]
pub use mediaflow_graph::ErrorType;
/// ```
/// use mediaflow::MediaFlowState;
///
/// assert_eq!(MediaFlowState::NotFlowing.as_str(), "NOT_FLOWING");
/// ```
#[doc(inline)]
pub use mediaflow_graph::MediaFlowState;
/// ```
/// use mediaflow::MediaTranscodingState;
///
/// assert_eq!(MediaTranscodingState::Transcoding.as_str(), "TRANSCODING");
/// ```
#[doc(inline)]
pub use mediaflow_graph::MediaTranscodingState;
/// ```
/// use mediaflow::MediaType;
///
/// assert_eq!(MediaType::parse("VIDEO"), Some(MediaType::Video));
/// assert_eq!(MediaType::Audio.as_str(), "AUDIO");
/// assert_eq!(MediaType::ALL.len(), 3); // AUDIO, VIDEO, DATA
/// ```
#[doc(inline)]
pub use mediaflow_graph::MediaType;

/// ```
/// // The codecs mediaflow negotiates, by SDP mime type.
/// assert_eq!(mediaflow::codec::canonical("video/vp8"), Some(mediaflow::codec::VP8));
/// assert_eq!(mediaflow::codec::canonical("video/AV1"), None);
/// ```
#[doc(inline)]
pub use mediaflow_rtp::codec;
/// ```
/// use mediaflow::{ConnectionState, Event, MediaPipeline, RtpEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = RtpEndpoint::builder(&pipeline).build()?;
/// assert_eq!(endpoint.get_connection_state()?, ConnectionState::Disconnected); // no peer yet
/// // WebRtcEndpoint reports it in ConnectionStateChanged events.
/// let up = |e: &Event| matches!(e, Event::ConnectionStateChanged(c) if c.new_state == ConnectionState::Connected);
/// # let _ = up;
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[doc(inline)]
pub use mediaflow_rtp::ConnectionState;
/// ```
/// use mediaflow::{MediaPipeline, WebRtcEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = WebRtcEndpoint::builder(&pipeline).use_data_channels(true).build()?;
/// let stats: mediaflow::DataChannelStats = endpoint.data_channel_stats()?;
/// assert_eq!(stats.messages_sent, 0);
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[doc(inline)]
pub use mediaflow_rtp::DataChannelStats;
/// ```
/// use mediaflow::{MediaPipeline, WebRtcEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = WebRtcEndpoint::builder(&pipeline).build()?;
/// // Every datagram the endpoint dropped, by reason.
/// let discarded: mediaflow::Discards = endpoint.get_stats()?.discarded;
/// assert_eq!(discarded.datagrams, 0);
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[doc(inline)]
pub use mediaflow_rtp::Discards;
/// ```
/// use mediaflow::{DtlsConnectionState, Event};
///
/// // Carried by DtlsConnectionStateChange events.
/// let done = |e: &Event| matches!(e, Event::DtlsConnectionStateChange(d) if d.state == DtlsConnectionState::Connected);
/// # let _ = done;
/// ```
#[doc(inline)]
pub use mediaflow_rtp::DtlsConnectionState;
/// ```
/// use mediaflow::{IceCandidate, MediaPipeline, WebRtcEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = WebRtcEndpoint::builder(&pipeline).build()?;
/// // A candidate trickled by the browser (its `RTCIceCandidate` fields).
/// endpoint.add_ice_candidate(IceCandidate {
///     candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host".into(),
///     sdp_mid: "0".into(),
///     sdp_m_line_index: 0,
/// })?;
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[doc(inline)]
pub use mediaflow_rtp::IceCandidate;
/// ```
/// use mediaflow::Event;
///
/// // Carried by NewCandidatePairSelected events: the pair ICE chose.
/// let pair_of = |e: &Event| match e {
///     Event::NewCandidatePairSelected(p) => Some(p.candidate_pair.clone()),
///     _ => None,
/// };
/// # let _ = pair_of;
/// ```
#[doc(inline)]
pub use mediaflow_rtp::IceCandidatePair;
/// ```
/// use mediaflow::IceComponentState;
///
/// assert_eq!(IceComponentState::Connected.as_str(), "CONNECTED");
/// assert_eq!(IceComponentState::Ready.to_string(), "READY");
/// ```
#[doc(inline)]
pub use mediaflow_rtp::IceComponentState;
/// ```
/// use mediaflow::{MediaKind, MediaPipeline, WebRtcEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = WebRtcEndpoint::builder(&pipeline).build()?;
/// // One entry per stream received (none before a peer sends).
/// let video_in = endpoint.get_stats()?.inbound.iter().filter(|s| s.kind == Some(MediaKind::Video)).count();
/// assert_eq!(video_in, 0);
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[doc(inline)]
pub use mediaflow_rtp::InboundRtpStreamStats;
/// ```
/// use mediaflow::MediaKind;
///
/// // Which kind an RTP stream in the stats is.
/// assert_ne!(MediaKind::Audio, MediaKind::Video);
/// ```
#[doc(inline)]
pub use mediaflow_rtp::MediaKind;
/// ```
/// use mediaflow::{MediaPipeline, MediaState, RtpEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = RtpEndpoint::builder(&pipeline).build()?;
/// assert_eq!(endpoint.get_media_state()?, MediaState::Disconnected); // no RTCP from a peer yet
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[doc(inline)]
pub use mediaflow_rtp::MediaState;
/// ```
/// use mediaflow::{MediaPipeline, OfferOptions, WebRtcEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = WebRtcEndpoint::builder(&pipeline).build()?;
/// // Kurento's OfferOptions: an offer that only sends video, receives nothing.
/// let options = OfferOptions { offer_to_receive_audio: false, offer_to_receive_video: false };
/// let offer = endpoint.generate_offer_with(options)?;
/// assert!(offer.contains("a=sendonly"));
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[doc(inline)]
pub use mediaflow_rtp::OfferOptions;
/// ```
/// use mediaflow::{MediaPipeline, WebRtcEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = WebRtcEndpoint::builder(&pipeline).build()?;
/// // One entry per stream sent, with the peer's reports (RTT, loss) once it sends them.
/// assert!(endpoint.get_stats()?.outbound.iter().all(|s| s.packets_sent == 0));
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[doc(inline)]
pub use mediaflow_rtp::OutboundRtpStreamStats;
/// ```
/// use mediaflow::{MediaPipeline, WebRtcEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = WebRtcEndpoint::builder(&pipeline).build()?;
/// let stats: mediaflow::SessionStats = endpoint.get_stats()?;
/// assert_eq!(stats.datagrams_discarded, 0);
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[doc(inline)]
pub use mediaflow_rtp::SessionStats;
pub use pipeline::{ListenerId, MediaPipeline, MediaPipelineBuilder};
pub use player::{PlayerEndpoint, PlayerEndpointBuilder, VideoInfo};
pub use recorder::{MediaProfile, RecorderEndpoint, RecorderEndpointBuilder};
pub use rtp::{CryptoSuite, RtpEndpoint, RtpEndpointBuilder};
pub use runtime::{Runtime, RuntimeBuilder};
pub use webrtc::{WebRtcEndpoint, WebRtcEndpointBuilder};

/// Re-exported so hosts can name the event channel types without depending on it.
pub use crossbeam_channel::Receiver;
