//! The demo's signaling as a library, so that it can be fuzzed and tested without the
//! HTTP and WebSocket server of the `mediaflow-demo` binary around it.
#![deny(missing_docs)]

pub mod signaling;
