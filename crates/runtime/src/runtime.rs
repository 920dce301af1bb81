//! The pool: workers, dispatchers, and the handles other threads use to reach a task.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, SendTimeoutError, TrySendError};

use crate::core::Message;
use crate::dispatch::{on_dispatcher, DispatchLane, DispatchPool};
use crate::shared::SharedPorts;
use crate::udp::{self, Peers, WorkerSetup, WorkerShared};
use crate::{virtual_net, Context, Task};

/// Why the runtime could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime (or the worker of this task) has stopped.
    #[error("the runtime has stopped")]
    Stopped,
    /// The worker's queue is full (it is saturated); nothing was queued.
    #[error("the worker's queue is full")]
    Full,
    /// The worker's queue stayed full, or no answer came, for this long.
    #[error("no progress within {0:?}")]
    Timeout(Duration),
    /// The system refused a thread, a poll instance or a waker.
    #[error("cannot start the runtime: {0}")]
    Start(#[source] std::io::Error),
    /// Only a runtime built with `virtual_time(true)` can be advanced.
    #[error("this runtime runs on real time")]
    NotVirtual,
}

thread_local! {
    /// On a worker thread: its shared state's address (0 elsewhere).
    static CURRENT_WORKER: Cell<usize> = const { Cell::new(0) };
}

/// True on any worker thread of any runtime.
pub(crate) fn on_worker() -> bool {
    CURRENT_WORKER.with(Cell::get) != 0
}

/// Settings of a [`Runtime`].
#[derive(Clone, Debug)]
pub struct RuntimeBuilder {
    workers: usize,
    dispatchers: usize,
    queue: usize,
    name: String,
    virtual_time: bool,
    latency: Duration,
    shared_udp: Vec<SocketAddr>,
    timer_slack: Duration,
    min_wake_interval: Duration,
}

/// See [`RuntimeBuilder::min_wake_interval`].
pub const DEFAULT_MIN_WAKE_INTERVAL: Duration = Duration::ZERO;

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            workers: thread::available_parallelism().map_or(1, |n| n.get()),
            dispatchers: 2,
            queue: 16_384,
            name: "mf".into(),
            virtual_time: false,
            latency: Duration::from_millis(1),
            shared_udp: Vec::new(),
            timer_slack: Duration::from_millis(2),
            min_wake_interval: DEFAULT_MIN_WAKE_INTERVAL,
        }
    }
}

impl RuntimeBuilder {
    /// Worker threads (default: the available cores). At least one.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Dispatcher threads for callbacks (default 2). At least one.
    pub fn dispatchers(mut self, n: usize) -> Self {
        self.dispatchers = n.max(1);
        self
    }

    /// Messages a worker's queue holds before senders wait (default 16,384): bounds the
    /// memory a producer faster than the worker can take.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue = n.max(1);
        self
    }

    /// The threads' name prefix (default `mf`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Runs tasks on a virtual clock and an in-memory network (one worker): time moves
    /// only through [`Runtime::advance`], sockets are addresses in memory. For tests.
    pub fn virtual_time(mut self, enabled: bool) -> Self {
        self.virtual_time = enabled;
        self
    }

    /// The one-way latency of the virtual network (default 1 ms).
    pub fn virtual_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// How late a timer may fire so that it shares a wake-up with others (default 2 ms):
    /// idle sessions' keepalives and reports then cost one wake-up per worker every
    /// few milliseconds rather than one each.
    pub fn timer_slack(mut self, slack: Duration) -> Self {
        self.timer_slack = slack;
        self
    }

    /// Least time between two wake-ups of a worker for I/O (default
    /// [`DEFAULT_MIN_WAKE_INTERVAL`]; zero turns it off). Under a steady stream of small
    /// packets a worker would otherwise wake, and switch tasks, for nearly every one;
    /// waking at most this often takes them in batches (as a NIC's interrupt moderation
    /// does), at the price of at most this much added latency. A worker that is busy
    /// longer than this per turn never waits.
    pub fn min_wake_interval(mut self, interval: Duration) -> Self {
        self.min_wake_interval = interval;
        self
    }

    /// One shared UDP socket on each of these addresses for every task of the runtime
    /// ([`Context::bind_shared_udp`]): a deployment opens one port per address instead
    /// of one per endpoint. Port 0 lets the system choose (per address).
    ///
    /// [`Context::bind_shared_udp`]: crate::Context::bind_shared_udp
    pub fn shared_udp(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.shared_udp = addrs.into_iter().collect();
        self
    }

    /// Starts the threads.
    pub fn build<T: Task>(self) -> Result<Runtime<T>, RuntimeError> {
        let ports = if self.shared_udp.is_empty() || self.virtual_time {
            None
        } else {
            Some(Arc::new(
                SharedPorts::bind(&self.shared_udp).map_err(RuntimeError::Start)?,
            ))
        };
        let peers: Peers<T> = Arc::new(OnceLock::new());
        let dispatch =
            DispatchPool::start(self.dispatchers, &self.name).map_err(RuntimeError::Start)?;
        let mut inner = Inner {
            workers: Vec::new(),
            threads: Mutex::new(Vec::new()),
            dispatch: Some(dispatch),
            next_id: AtomicU64::new(1),
            virtual_time: self.virtual_time,
        };
        let workers = if self.virtual_time { 1 } else { self.workers };
        for i in 0..workers {
            let (tx, rx) = bounded(self.queue);
            let spawned = if self.virtual_time {
                let shared = Arc::new(WorkerShared::new(tx, None));
                let worker = shared.clone();
                let (start, latency) = (Instant::now(), self.latency);
                thread::Builder::new()
                    .name(format!("{}-virtual", self.name))
                    .spawn(move || {
                        mark_worker(&worker);
                        virtual_net::run(rx, worker, start, latency)
                    })
                    .map(|h| (shared, h))
            } else {
                udp::new_poll().and_then(|(poll, waker)| {
                    let shared = Arc::new(WorkerShared::new(tx, Some(waker)));
                    let setup = WorkerSetup {
                        poll,
                        rx,
                        shared: shared.clone(),
                        index: i,
                        ports: ports.clone(),
                        peers: peers.clone(),
                        timer_slack: self.timer_slack,
                        min_wake_interval: self.min_wake_interval,
                    };
                    thread::Builder::new()
                        .name(format!("{}-worker-{i}", self.name))
                        .spawn(move || {
                            mark_worker(&setup.shared);
                            udp::run(setup)
                        })
                        .map(|h| (shared, h))
                })
            };
            // On failure `inner` drops and stops the workers started so far.
            let (shared, handle) = spawned.map_err(RuntimeError::Start)?;
            inner.workers.push(shared);
            inner.lock_threads().push(handle);
        }
        let _ = peers.set(inner.workers.clone());
        Ok(Runtime {
            inner: Arc::new(inner),
            ports,
        })
    }
}

fn mark_worker<T: Task>(shared: &Arc<WorkerShared<T>>) {
    CURRENT_WORKER.with(|c| c.set(Arc::as_ptr(shared) as usize));
}

/// A fixed pool of worker threads running many [`Task`]s each, and a small pool of
/// dispatcher threads for callbacks. Cheap to clone; the threads stop when the last
/// clone is dropped (tasks still on them are shut down).
pub struct Runtime<T: Task> {
    inner: Arc<Inner<T>>,
    ports: Option<Arc<SharedPorts>>,
}

impl<T: Task> Clone for Runtime<T> {
    fn clone(&self) -> Self {
        Runtime {
            inner: self.inner.clone(),
            ports: self.ports.clone(),
        }
    }
}

impl<T: Task> std::fmt::Debug for Runtime<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.inner.workers.len())
            .field("virtual_time", &self.inner.virtual_time)
            .finish()
    }
}

impl<T: Task> PartialEq for Runtime<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

struct Inner<T: Task> {
    workers: Vec<Arc<WorkerShared<T>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    dispatch: Option<DispatchPool>,
    next_id: AtomicU64,
    virtual_time: bool,
}

impl<T: Task> Inner<T> {
    fn lock_threads(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: Task> Drop for Inner<T> {
    fn drop(&mut self) {
        // A worker or dispatcher thread dropping the runtime cannot wait for itself (and
        // a dispatcher's lane is held by tasks until their worker ends): such threads
        // finish on their own. A worker must not block on a full queue either.
        let me = thread::current().id();
        let inside = on_worker() || on_dispatcher();
        for worker in &self.workers {
            if inside {
                let _ = worker.tx.try_send(Message::Stop);
            } else {
                let _ = worker.tx.send(Message::Stop);
            }
            worker.wake();
        }
        for handle in self.lock_threads().drain(..) {
            if handle.thread().id() != me && !inside {
                let _ = handle.join();
            }
        }
        if inside {
            if let Some(pool) = self.dispatch.take() {
                pool.detach();
            }
        }
    }
}

impl<T: Task> Runtime<T> {
    /// Settings for a new runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Places a new task on the least loaded worker. `make` gets the task's own sender
    /// (for helper threads that feed it) and its dispatcher lane.
    pub fn spawn(
        &self,
        make: impl FnOnce(&TaskSender<T>, DispatchLane) -> T,
    ) -> Result<TaskSender<T>, RuntimeError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let worker = self
            .inner
            .workers
            .iter()
            .min_by_key(|w| w.load.load(Ordering::Relaxed))
            .ok_or(RuntimeError::Stopped)?
            .clone();
        let lane = self
            .inner
            .dispatch
            .as_ref()
            .ok_or(RuntimeError::Stopped)?
            .lane(id);
        let sender = TaskSender { id, worker };
        let task = make(&sender, lane);
        sender.send(Message::Spawn(id, Box::new(task)), None)?;
        sender.worker.load.fetch_add(1, Ordering::Relaxed);
        Ok(sender)
    }

    /// Worker threads.
    pub fn worker_count(&self) -> usize {
        self.inner.workers.len()
    }

    /// Every thread the runtime runs (workers and dispatchers): fixed for its life.
    pub fn thread_count(&self) -> usize {
        self.inner.workers.len() + self.inner.dispatch.as_ref().map_or(0, |d| d.thread_count())
    }

    /// The shared UDP sockets' addresses (empty without `shared_udp`).
    pub fn shared_udp_addrs(&self) -> Vec<SocketAddr> {
        self.ports
            .as_ref()
            .map(|p| p.addrs().map(|(_, a)| a).collect())
            .unwrap_or_default()
    }

    /// True when built with `virtual_time(true)`.
    pub fn is_virtual(&self) -> bool {
        self.inner.virtual_time
    }

    /// Virtual time only: moves the clock forward by `by`, firing every timer due on the
    /// way at its own instant and delivering every datagram, and returns the new time
    /// once the dispatchers have run every job raised until then (so a test sees every
    /// event of that time span when this returns).
    pub fn advance(&self, by: Duration) -> Result<Instant, RuntimeError> {
        if !self.inner.virtual_time {
            return Err(RuntimeError::NotVirtual);
        }
        let worker = self.inner.workers.first().ok_or(RuntimeError::Stopped)?;
        let (tx, rx) = bounded(1);
        worker
            .tx
            .send(Message::Advance(by, tx))
            .map_err(|_| RuntimeError::Stopped)?;
        worker.wake();
        // Generous: a virtual minute of two full sessions takes well under this.
        let limit = Duration::from_secs(120);
        let now = rx
            .recv_timeout(limit)
            .map_err(|_| RuntimeError::Timeout(limit))?;
        if let Some(dispatch) = &self.inner.dispatch {
            dispatch.flush_all(limit);
        }
        Ok(now)
    }
}

/// Reaches one task from any thread. Cheap to clone.
pub struct TaskSender<T: Task> {
    id: u64,
    worker: Arc<WorkerShared<T>>,
}

impl<T: Task> Clone for TaskSender<T> {
    fn clone(&self) -> Self {
        TaskSender {
            id: self.id,
            worker: self.worker.clone(),
        }
    }
}

impl<T: Task> std::fmt::Debug for TaskSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TaskSender").field(&self.id).finish()
    }
}

impl<T: Task> TaskSender<T> {
    /// The task's id (unique within its runtime).
    pub fn id(&self) -> u64 {
        self.id
    }

    fn send(&self, message: Message<T>, timeout: Option<Duration>) -> Result<(), RuntimeError> {
        let sent = match timeout {
            Some(t) => self
                .worker
                .tx
                .send_timeout(message, t)
                .map_err(|e| match e {
                    SendTimeoutError::Timeout(_) => RuntimeError::Timeout(t),
                    SendTimeoutError::Disconnected(_) => RuntimeError::Stopped,
                }),
            None => self
                .worker
                .tx
                .send(message)
                .map_err(|_| RuntimeError::Stopped),
        };
        sent?;
        self.worker.wake();
        Ok(())
    }

    /// Runs `f` on the task's worker (not waiting for it). Waits at most `timeout` while
    /// the worker's queue is full.
    pub fn call(
        &self,
        f: impl FnOnce(&mut T, &mut Context<'_>) + Send + 'static,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        self.send(Message::Call(self.id, Box::new(f)), Some(timeout))
    }

    /// Hands the task an input, waiting at most `timeout` while the queue is full.
    pub fn input(&self, input: T::Input, timeout: Duration) -> Result<(), RuntimeError> {
        self.send(Message::Input(self.id, input), Some(timeout))
    }

    /// Hands the task an input, or fails at once with [`RuntimeError::Full`] when the
    /// worker is saturated (for media, where late is as bad as lost).
    pub fn try_input(&self, input: T::Input) -> Result<(), RuntimeError> {
        match self.worker.tx.try_send(Message::Input(self.id, input)) {
            Ok(()) => {
                self.worker.wake();
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(RuntimeError::Full),
            Err(TrySendError::Disconnected(_)) => Err(RuntimeError::Stopped),
        }
    }

    /// Removes the task: it is shut down, its sockets closed, and it is dropped. Waits
    /// for that at most `timeout`, except on a worker thread, where it cannot wait (the
    /// removal then happens after the current call).
    pub fn remove(&self, timeout: Duration) -> Result<(), RuntimeError> {
        self.worker.load.fetch_sub(1, Ordering::Relaxed);
        if on_worker() {
            // A worker must not block on a queue, possibly its own: if it is full, the
            // task stays until the runtime stops.
            return match self.worker.tx.try_send(Message::Remove(self.id, None)) {
                Ok(()) => {
                    self.worker.wake();
                    Ok(())
                }
                Err(TrySendError::Full(_)) => Err(RuntimeError::Full),
                Err(TrySendError::Disconnected(_)) => Err(RuntimeError::Stopped),
            };
        }
        let (tx, rx) = bounded(1);
        self.send(Message::Remove(self.id, Some(tx)), Some(timeout))?;
        rx.recv_timeout(timeout).map_err(|e| match e {
            crossbeam_channel::RecvTimeoutError::Timeout => RuntimeError::Timeout(timeout),
            crossbeam_channel::RecvTimeoutError::Disconnected => RuntimeError::Stopped,
        })
    }
}
