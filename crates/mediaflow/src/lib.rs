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
pub use mediaflow_graph::{
    Buffer, DataChannelMeta, ErrorType, MediaFlowState, MediaTranscodingState, MediaType,
};
pub use mediaflow_rtp::{
    codec, ConnectionState, DataChannelStats, Discards, DtlsConnectionState, IceCandidate,
    IceCandidatePair, IceComponentState, InboundRtpStreamStats, MediaKind, MediaState,
    OfferOptions, OutboundRtpStreamStats, SessionStats,
};
pub use pipeline::{ListenerId, MediaPipeline, MediaPipelineBuilder};
pub use player::{PlayerEndpoint, PlayerEndpointBuilder, VideoInfo};
pub use recorder::{MediaProfile, RecorderEndpoint, RecorderEndpointBuilder};
pub use rtp::{CryptoSuite, RtpEndpoint, RtpEndpointBuilder};
pub use runtime::{Runtime, RuntimeBuilder};
pub use webrtc::{WebRtcEndpoint, WebRtcEndpointBuilder};

/// Re-exported so hosts can name the event channel types without depending on it.
pub use crossbeam_channel::Receiver;
