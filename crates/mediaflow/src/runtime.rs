//! The threads pipelines run on. One default runtime serves every pipeline that names
//! none; a host may build its own (a worker count of its choice, or virtual time in
//! tests) and put pipelines on it with [`MediaPipelineBuilder::runtime`].
//!
//! [`MediaPipelineBuilder::runtime`]: crate::MediaPipelineBuilder::runtime

use std::sync::Mutex;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::task::PipelineTask;

/// A fixed pool of worker threads that run many pipelines each (a pipeline, with all its
/// elements and sockets, lives on one worker), and a small pool of dispatcher threads
/// that call event handlers in order per pipeline. Threads do not grow with pipelines.
///
/// ```
/// use mediaflow::{MediaPipeline, Runtime};
///
/// let runtime = Runtime::builder().workers(1).build()?;
/// let pipelines: Vec<_> = (0..100)
///     .map(|_| MediaPipeline::builder().runtime(&runtime).build())
///     .collect::<Result<_, _>>()?;
/// assert_eq!(runtime.thread_count(), 1 + 2, "one worker, two dispatchers");
/// for p in pipelines {
///     p.release()?;
/// }
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Runtime {
    pub(crate) inner: mediaflow_runtime::Runtime<PipelineTask>,
}

/// Settings of a [`Runtime`].
#[derive(Clone, Debug, Default)]
pub struct RuntimeBuilder {
    inner: mediaflow_runtime::RuntimeBuilder,
}

impl RuntimeBuilder {
    /// Worker threads (default: the available cores).
    pub fn workers(mut self, n: usize) -> Self {
        self.inner = self.inner.workers(n);
        self
    }

    /// Threads that call event handlers (default 2). A handler that blocks delays the
    /// events of the other pipelines on its thread, never any media.
    pub fn dispatchers(mut self, n: usize) -> Self {
        self.inner = self.inner.dispatchers(n);
        self
    }

    /// Least time between two wake-ups of a worker for I/O (default: off). Under many
    /// sessions' steady small packets a worker wakes, and switches tasks, for nearly
    /// every one; waking at most this often (say 200 µs) takes them in batches, adding
    /// at most that much latency.
    pub fn min_wake_interval(mut self, interval: Duration) -> Self {
        self.inner = self.inner.min_wake_interval(interval);
        self
    }

    /// Runs pipelines on a virtual clock and an in-memory network: time moves only
    /// through [`Runtime::advance`], and endpoints' sockets are addresses in memory
    /// that reach each other within the runtime. For tests of whole calls with no
    /// sockets and no sleeps.
    pub fn virtual_time(mut self, enabled: bool) -> Self {
        self.inner = self.inner.virtual_time(enabled);
        self
    }

    /// One UDP port for every endpoint of the runtime, on each host address (Kurento
    /// opens a port per endpoint; mediasoup's WebRtcServer and LiveKit's single-port
    /// mode do this): a deployment opens one port per address to the world. Datagrams
    /// are told apart by the ICE ufrag of the peer's first check, then by its address.
    /// 0 lets the system choose a port per address. Endpoints bind a socket of their own
    /// only on addresses without a shared socket (their `port_range` applies there).
    pub fn shared_udp_port(mut self, port: u16) -> Result<Self> {
        let addrs = mediaflow_ice::host_addresses(&mediaflow_ice::NetConfig::default())?;
        self.inner = self.inner.shared_udp(
            addrs
                .into_iter()
                .map(|ip| std::net::SocketAddr::new(ip, port)),
        );
        Ok(self)
    }

    /// Starts the threads.
    pub fn build(self) -> Result<Runtime> {
        let inner = self
            .inner
            .build()
            .map_err(|e| Error::Resource(e.to_string()))?;
        Ok(Runtime { inner })
    }
}

static DEFAULT: Mutex<Option<Runtime>> = Mutex::new(None);

impl Runtime {
    /// A runtime with default settings.
    pub fn new() -> Result<Runtime> {
        RuntimeBuilder::default().build()
    }

    /// Settings for a new runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The process's default runtime, started on first use; it lives as long as the
    /// process.
    pub fn global() -> Result<Runtime> {
        let mut default = crate::registry::lock(&DEFAULT);
        if let Some(runtime) = default.as_ref() {
            return Ok(runtime.clone());
        }
        let runtime = RuntimeBuilder::default().build()?;
        *default = Some(runtime.clone());
        Ok(runtime)
    }

    /// The addresses of the shared UDP port (empty unless built with
    /// `shared_udp_port`).
    pub fn shared_udp_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.inner.shared_udp_addrs()
    }

    /// Worker threads.
    pub fn worker_count(&self) -> usize {
        self.inner.worker_count()
    }

    /// Every thread of the runtime (workers and dispatchers): fixed for its life.
    pub fn thread_count(&self) -> usize {
        self.inner.thread_count()
    }

    /// Virtual time only: moves the clock forward by `by`, firing every timer on the
    /// way at its own instant and delivering every datagram in memory.
    pub fn advance(&self, by: Duration) -> Result<()> {
        self.inner.advance(by).map(|_| ()).map_err(|e| match e {
            mediaflow_runtime::RuntimeError::NotVirtual => {
                Error::WrongState("advance needs a runtime built with virtual_time(true)".into())
            }
            e => Error::Resource(e.to_string()),
        })
    }
}
