//! mediaflow's media graph: elements with pads per media type, links with bounded
//! queues, and the pull-based scheduler that moves buffers between them.
//!
//! Everything here is sans-IO: no threads, no sockets, no clock. The owner (the
//! `mediaflow` crate's pipeline worker) feeds commands and time, calls [`Graph::run`],
//! and drains [`Graph::poll_event`]. Tests drive it on virtual time.
#![deny(missing_docs)]

mod element;
mod graph;
mod types;

pub use element::{
    Element, ElementEvent, ErrorType, LinkTranscoder, PassThrough, TranscoderFactory,
    UpstreamEvent, Wake,
};
pub use graph::{Connection, Graph, GraphConfig, GraphError, GraphEvent};
pub use types::{
    Buffer, DataChannelMeta, ElementId, MediaFlowState, MediaTranscodingState, MediaType,
};
