//! The typed errors of the public API.

use std::time::Duration;

use mediaflow_graph::MediaType;

/// Why an API call failed. Every misuse (released handles, elements of different
/// pipelines, bad arguments) is one of these; none is a panic.
///
/// ```
/// use mediaflow::{Error, MediaPipeline, PassThrough, WebRtcEndpoint};
///
/// let pipeline = MediaPipeline::new()?;
/// let endpoint = WebRtcEndpoint::new(&pipeline)?;
/// match endpoint.process_offer("garbled") {
///     Err(Error::InvalidSdp(why)) => println!("bad offer from the browser: {why}"),
///     Err(Error::NoCommonCodec) => println!("no codec in common"),
///     Err(other) => return Err(other),
///     Ok(answer) => println!("answer: {answer}"),
/// }
/// pipeline.release()?;
/// assert_eq!(PassThrough::new(&pipeline).unwrap_err(), Error::PipelineReleased);
/// assert_eq!(Error::PipelineReleased.to_string(), "the media pipeline was released");
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The pipeline was released (explicitly, or when its last handle was dropped).
    #[error("the media pipeline was released")]
    PipelineReleased,
    /// The element was released.
    #[error("the element {0} was released")]
    ElementReleased(String),
    /// `connect`/`disconnect` named elements of two different pipelines.
    #[error("cannot link {source_id} and {sink_id}: they belong to different pipelines")]
    DifferentPipelines {
        /// The source element's id.
        source_id: String,
        /// The sink element's id.
        sink_id: String,
    },
    /// `disconnect` named a link that does not exist.
    #[error("{source_id} is not connected to {sink_id} ({})", media_type.map_or("any media", |m| m.as_str()))]
    NotConnected {
        /// The source element's id.
        source_id: String,
        /// The sink element's id.
        sink_id: String,
        /// The media type asked for; `None` for all.
        media_type: Option<MediaType>,
    },
    /// An argument was out of its domain (an unknown media type name, a zero capacity...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An SDP could not be parsed or applied.
    #[error("invalid SDP: {0}")]
    InvalidSdp(String),
    /// The peer's offer has no codec in common with the engine.
    #[error("the offer has no codec in common with this endpoint")]
    NoCommonCodec,
    /// The call does not fit the negotiation state (e.g. `process_answer` without an offer).
    #[error("wrong state: {0}")]
    WrongState(String),
    /// An ICE candidate string does not parse.
    #[error("invalid ICE candidate {0}")]
    InvalidCandidate(String),
    /// The pipeline's worker did not answer in time.
    #[error("the pipeline did not answer within {0:?}")]
    Timeout(Duration),
    /// The engine could not get a resource from the system (a thread, a socket).
    #[error("system resource unavailable: {0}")]
    Resource(String),
    /// The pipeline's worker stopped unexpectedly; the pipeline is unusable.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result of the public API.
///
/// ```
/// use mediaflow::{MediaPipeline, PassThrough};
///
/// fn two_in_a_row(pipeline: &MediaPipeline) -> mediaflow::Result<(PassThrough, PassThrough)> {
///     let a = PassThrough::new(pipeline)?;
///     let b = PassThrough::new(pipeline)?;
///     a.connect(&b)?;
///     Ok((a, b))
/// }
/// let pipeline = MediaPipeline::new()?;
/// two_in_a_row(&pipeline)?;
/// pipeline.release()?;
/// # Ok::<(), mediaflow::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
