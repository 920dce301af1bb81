//! mediaflow-server: the Kurento Protocol (JSON-RPC 2.0 over WebSocket) in front of
//! mediaflow, so applications written for Kurento Media Server with the unchanged
//! `kurento-client` run against it.
//!
//! Two parts:
//! - [`core`]: the protocol with no I/O. It takes a request's text with its
//!   connection's context and returns the response text; notifications queue on the
//!   session. It holds the object registry, sessions, subscriptions, the
//!   duplicate-request cache and transactions (`newref:`).
//! - [`transport`]: a thin WebSocket server (`ws://host:8888/kurento`, or `wss` with a
//!   certificate) that feeds the core, on mediaflow-wsserve's thread-per-connection
//!   accept loop.
#![deny(missing_docs)]

pub mod core;
mod elements;
mod invoke;
pub mod kurento;
pub mod rpc;
pub mod transport;

pub use crate::core::{Config, Connection, Core, Counts, EndpointOptions};
