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
///
/// ```
/// use mediaflow::Runtime;
/// use std::time::Duration;
///
/// let runtime = Runtime::builder()
///     .workers(2)
///     .dispatchers(1)
///     .min_wake_interval(Duration::from_micros(200))
///     .build()?;
/// assert_eq!(runtime.thread_count(), 3);
/// # Ok::<(), mediaflow::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct RuntimeBuilder {
    inner: mediaflow_runtime::RuntimeBuilder,
}

impl RuntimeBuilder {
    /// Worker threads (default: the available cores).
    ///
    /// ```
    /// use mediaflow::Runtime;
    ///
    /// let runtime = Runtime::builder().workers(3).build()?;
    /// assert_eq!(runtime.worker_count(), 3);
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.inner = self.inner.workers(n);
        self
    }

    /// Threads that call event handlers (default 2). A handler that blocks delays the
    /// events of the other pipelines on its thread, never any media.
    ///
    /// ```
    /// use mediaflow::Runtime;
    ///
    /// let runtime = Runtime::builder().workers(1).dispatchers(4).build()?;
    /// assert_eq!(runtime.thread_count(), 1 + 4);
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn dispatchers(mut self, n: usize) -> Self {
        self.inner = self.inner.dispatchers(n);
        self
    }

    /// Least time between two wake-ups of a worker for I/O (default: off). Under many
    /// sessions' steady small packets a worker wakes, and switches tasks, for nearly
    /// every one; waking at most this often (say 200 µs) takes them in batches, adding
    /// at most that much latency.
    ///
    /// ```
    /// use mediaflow::Runtime;
    /// use std::time::Duration;
    ///
    /// // Many sessions per worker: take I/O in batches, at most 200 µs later.
    /// let runtime = Runtime::builder().min_wake_interval(Duration::from_micros(200)).build()?;
    /// # drop(runtime);
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn min_wake_interval(mut self, interval: Duration) -> Self {
        self.inner = self.inner.min_wake_interval(interval);
        self
    }

    /// Runs pipelines on a virtual clock and an in-memory network: time moves only
    /// through [`Runtime::advance`], and endpoints' sockets are addresses in memory
    /// that reach each other within the runtime. For tests of whole calls with no
    /// sockets and no sleeps.
    ///
    /// ```
    /// use mediaflow::{AppSink, AppSource, Buffer, MediaPipeline, MediaType, Runtime};
    /// use std::time::Duration;
    ///
    /// let runtime = Runtime::builder().virtual_time(true).build()?;
    /// let pipeline = MediaPipeline::builder()
    ///     .runtime(&runtime)
    ///     .flow_idle_timeout(Duration::from_secs(2))
    ///     .build()?;
    /// let source = AppSource::new(&pipeline)?;
    /// let sink = AppSink::new(&pipeline)?;
    /// source.connect(&sink)?;
    /// source.push(Buffer::new(MediaType::Audio, &b"s"[..]))?;
    /// runtime.advance(Duration::from_millis(1))?;
    /// assert!(sink.recv_timeout(Duration::from_secs(5)).is_some());
    /// assert!(sink.is_media_flowing_in(MediaType::Audio)?);
    /// // Three idle seconds pass at once, with no sleep.
    /// runtime.advance(Duration::from_secs(3))?;
    /// assert!(!sink.is_media_flowing_in(MediaType::Audio)?);
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::Runtime;
    ///
    /// // 0: the system picks the port (one per host address); a deployment names its own.
    /// let runtime = Runtime::builder().shared_udp_port(0)?.build()?;
    /// assert!(runtime.shared_udp_addrs().iter().all(|a| a.port() != 0));
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::Runtime;
    ///
    /// let runtime = Runtime::builder().workers(1).build()?; // threads start here
    /// assert_eq!(runtime.worker_count(), 1);
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, Runtime};
    ///
    /// let runtime = Runtime::new()?; // a worker per core, two dispatchers
    /// let pipeline = MediaPipeline::builder().runtime(&runtime).build()?;
    /// pipeline.release()?;
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn new() -> Result<Runtime> {
        RuntimeBuilder::default().build()
    }

    /// Settings for a new runtime.
    ///
    /// ```
    /// use mediaflow::Runtime;
    ///
    /// let runtime = Runtime::builder().workers(2).build()?;
    /// assert_eq!(runtime.worker_count(), 2);
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The process's default runtime, started on first use; it lives as long as the
    /// process.
    ///
    /// ```
    /// use mediaflow::Runtime;
    ///
    /// // What MediaPipeline::new() uses; the same runtime on every call.
    /// assert_eq!(Runtime::global()?, Runtime::global()?);
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
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
    ///
    /// ```
    /// use mediaflow::Runtime;
    ///
    /// assert!(Runtime::builder().workers(1).build()?.shared_udp_addrs().is_empty());
    /// let shared = Runtime::builder().workers(1).shared_udp_port(0)?.build()?;
    /// for addr in shared.shared_udp_addrs() {
    ///     println!("open UDP {addr} to the world"); // every endpoint of `shared` is there
    /// }
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn shared_udp_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.inner.shared_udp_addrs()
    }

    /// Worker threads.
    ///
    /// ```
    /// use mediaflow::Runtime;
    ///
    /// assert_eq!(Runtime::builder().workers(2).build()?.worker_count(), 2);
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn worker_count(&self) -> usize {
        self.inner.worker_count()
    }

    /// Every thread of the runtime (workers and dispatchers): fixed for its life.
    ///
    /// ```
    /// use mediaflow::{MediaPipeline, Runtime};
    ///
    /// let runtime = Runtime::builder().workers(1).dispatchers(1).build()?;
    /// let before = runtime.thread_count();
    /// let pipelines = (0..10)
    ///     .map(|_| MediaPipeline::builder().runtime(&runtime).build())
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(runtime.thread_count(), before); // threads do not grow with pipelines
    /// for p in pipelines {
    ///     p.release()?;
    /// }
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn thread_count(&self) -> usize {
        self.inner.thread_count()
    }

    /// Virtual time only: moves the clock forward by `by`, firing every timer on the
    /// way at its own instant and delivering every datagram in memory.
    ///
    /// ```
    /// use mediaflow::{Error, Runtime};
    /// use std::time::Duration;
    ///
    /// let virtual_rt = Runtime::builder().virtual_time(true).build()?;
    /// virtual_rt.advance(Duration::from_secs(60))?; // a minute of timers, at once
    /// let real = Runtime::builder().workers(1).build()?;
    /// assert!(matches!(real.advance(Duration::from_secs(1)), Err(Error::WrongState(_))));
    /// # Ok::<(), mediaflow::Error>(())
    /// ```
    pub fn advance(&self, by: Duration) -> Result<()> {
        self.inner.advance(by).map(|_| ()).map_err(|e| match e {
            mediaflow_runtime::RuntimeError::NotVirtual => {
                Error::WrongState("advance needs a runtime built with virtual_time(true)".into())
            }
            e => Error::Resource(e.to_string()),
        })
    }
}
