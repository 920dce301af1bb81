//! The real worker: one thread, one `mio::Poll` for its sockets and its command channel's
//! waker, batched receive through `quinn-udp` (recvmmsg).

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::{Events, Poll, Token, Waker};
use quinn_udp::{RecvMeta, UdpSockRef, BATCH_SIZE};

use crate::core::{Flow, Message, WorkerCore};
use crate::net::SocketId;
use crate::shared::SharedPorts;
use crate::sockets::{Bound, UdpEntry, UdpNet, SHARED_TOKENS};
use crate::Task;

/// The waker's token; sockets use their slot index, which stays below it.
const WAKER: Token = Token(usize::MAX);

/// A buffer per message of a batch, each large enough for a GRO-coalesced run of
/// datagrams (the kernel's maximum UDP payload).
const RECV_BUFFER: usize = 64 * 1024;

/// Batches read from one socket before the others get a turn.
const READS_PER_TURN: usize = 8;

/// Messages handled before sockets and timers get a turn.
const MESSAGES_PER_TURN: usize = 1024;

/// What the senders of a worker share with it.
pub(crate) struct WorkerShared<T: Task> {
    pub(crate) tx: Sender<Message<T>>,
    waker: Option<Waker>,
    /// True while the worker is (about to be) blocked in `poll`: only then does a sender
    /// pay for a wake-up system call.
    sleeping: AtomicBool,
    /// Tasks placed on this worker, for choosing the least loaded one.
    pub(crate) load: AtomicUsize,
}

impl<T: Task> WorkerShared<T> {
    pub(crate) fn new(tx: Sender<Message<T>>, waker: Option<Waker>) -> WorkerShared<T> {
        WorkerShared {
            tx,
            waker,
            sleeping: AtomicBool::new(false),
            load: AtomicUsize::new(0),
        }
    }

    /// Wakes the worker if it sleeps; call after putting a message on its channel.
    pub(crate) fn wake(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            if let Some(waker) = &self.waker {
                if let Err(e) = waker.wake() {
                    tracing::warn!("cannot wake a worker: {e}");
                }
            }
        }
    }

    /// For the virtual driver, which blocks on the channel itself.
    pub(crate) fn set_sleeping(&self, sleeping: bool) {
        self.sleeping.store(sleeping, Ordering::SeqCst);
    }
}

/// Receive buffers of one worker, reused for every batch.
struct RecvBuffers {
    storage: Vec<u8>,
    meta: [RecvMeta; BATCH_SIZE],
}

impl RecvBuffers {
    fn new() -> RecvBuffers {
        RecvBuffers {
            storage: vec![0; RECV_BUFFER * BATCH_SIZE],
            meta: [RecvMeta::default(); BATCH_SIZE],
        }
    }
}

/// Creates a worker's poll and waker.
pub(crate) fn new_poll() -> io::Result<(Poll, Waker)> {
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKER)?;
    Ok((poll, waker))
}

/// Every worker of a runtime, for handing a shared socket's datagram to its task's worker.
pub(crate) type Peers<T> = Arc<OnceLock<Vec<Arc<WorkerShared<T>>>>>;

/// What a worker thread starts with.
pub(crate) struct WorkerSetup<T: Task> {
    pub(crate) poll: Poll,
    pub(crate) rx: Receiver<Message<T>>,
    pub(crate) shared: Arc<WorkerShared<T>>,
    pub(crate) index: usize,
    pub(crate) ports: Option<Arc<SharedPorts>>,
    pub(crate) peers: Peers<T>,
    pub(crate) timer_slack: Duration,
    pub(crate) min_wake_interval: Duration,
}

/// The worker thread's loop; returns when told to stop.
pub(crate) fn run<T: Task>(setup: WorkerSetup<T>) {
    let net = setup
        .poll
        .registry()
        .try_clone()
        .and_then(|registry| UdpNet::new(registry, setup.index, setup.ports));
    let net = match net {
        Ok(net) => net,
        Err(e) => {
            tracing::error!("a worker cannot start: {e}");
            return;
        }
    };
    let mut worker = UdpWorker {
        poll: setup.poll,
        core: WorkerCore::default(),
        net,
        buffers: RecvBuffers::new(),
        readable: VecDeque::new(),
        peers: setup.peers,
        forward_drops: 0,
        timer_slack: setup.timer_slack,
        min_wake_interval: setup.min_wake_interval,
        woke_for_io: None,
    };
    worker.run(&setup.rx, &setup.shared);
    let now = Instant::now();
    worker.core.remove_all(now, &mut worker.net);
}

struct UdpWorker<T: Task> {
    poll: Poll,
    core: WorkerCore<T>,
    net: UdpNet,
    buffers: RecvBuffers,
    /// Sockets that were readable and have not been read to the end yet.
    readable: VecDeque<usize>,
    peers: Peers<T>,
    /// Shared-socket datagrams dropped because their task's worker was saturated.
    forward_drops: u64,
    timer_slack: Duration,
    min_wake_interval: Duration,
    /// When the last poll returned with sockets to read.
    woke_for_io: Option<Instant>,
}

/// Whose datagrams a socket carries.
#[derive(Clone, Copy)]
enum Source {
    Own(u64, SocketId),
    Shared(usize),
}

impl<T: Task> UdpWorker<T> {
    fn run(&mut self, rx: &Receiver<Message<T>>, shared: &WorkerShared<T>) {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            for _ in 0..MESSAGES_PER_TURN {
                // The worker's shared state holds a sender, so the channel never
                // disconnects: `Stop` is the only way out.
                let Ok(message) = rx.try_recv() else { break };
                match self.core.handle_message(message, now, &mut self.net) {
                    Flow::Continue => {}
                    Flow::Stop => {
                        self.net.flush();
                        return;
                    }
                    Flow::Advance(_, reply) => drop(reply), // real time is not advanced
                }
            }
            for _ in 0..self.readable.len() {
                let Some(index) = self.readable.pop_front() else {
                    break;
                };
                if self.read(index, now) {
                    self.readable.push_back(index);
                }
            }
            self.core.handle_timers(now, &mut self.net);
            self.core.run_dirty(now, &mut self.net);
            self.net.flush();

            let busy = !self.readable.is_empty() || self.core.has_dirty();
            if !busy {
                self.pace_wake_ups(rx);
            }
            // Timers due within the slack of the earliest fire together on one wake-up:
            // idle sessions' keepalives and reports cost one wake-up per few
            // milliseconds per worker, not one each.
            let mut timeout = if busy {
                Some(Duration::ZERO)
            } else {
                let now = Instant::now();
                // A deadline already due (a task asking to run again at once) gets no
                // slack.
                self.core.next_deadline().map(|d| {
                    if d <= now {
                        Duration::ZERO
                    } else {
                        (d + self.timer_slack).saturating_duration_since(now)
                    }
                })
            };
            shared.sleeping.store(true, Ordering::SeqCst);
            if !rx.is_empty() {
                timeout = Some(Duration::ZERO);
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!("a worker's poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            shared.sleeping.store(false, Ordering::SeqCst);
            let mut io = false;
            for event in events.iter() {
                if event.token() != WAKER {
                    self.readable.push_back(event.token().0);
                    io = true;
                }
            }
            self.woke_for_io = io.then(Instant::now);
        }
    }

    /// Interrupt moderation: when the last wake-up was for I/O and came less than
    /// `min_wake_interval` ago, wait out the rest before polling again, so a steady
    /// stream of packets is taken in batches instead of one wake-up (and two task
    /// switches) per packet. Timers are not held back past their time, and a message
    /// from another thread ends the wait at its next check.
    fn pace_wake_ups(&mut self, rx: &Receiver<Message<T>>) {
        let Some(woke) = self.woke_for_io else {
            return;
        };
        let until = woke + self.min_wake_interval;
        let until = self.core.next_deadline().map_or(until, |d| until.min(d));
        let now = Instant::now();
        if until > now && rx.is_empty() {
            std::thread::sleep(until - now);
        }
    }

    /// Reads up to a few batches from one socket and hands every datagram to its task;
    /// true when the socket may have more.
    fn read(&mut self, index: usize, now: Instant) -> bool {
        for _ in 0..READS_PER_TURN {
            let (entry, source): (&UdpEntry, Source) = if index >= SHARED_TOKENS {
                let n = index - SHARED_TOKENS;
                match self.net.shared_local.get(n) {
                    Some(entry) => (entry, Source::Shared(n)),
                    None => return false,
                }
            } else {
                match self.net.sockets.by_index(index) {
                    Some((id, owner, Bound::Own(entry))) => (entry, Source::Own(owner, id)),
                    Some((id, owner, Bound::Listener(_))) => {
                        self.accept(owner, id);
                        return false;
                    }
                    Some((id, owner, Bound::Connection(_))) => {
                        self.read_connection(owner, id, now);
                        return false;
                    }
                    _ => return false,
                }
            };
            let mut chunks = self.buffers.storage.chunks_mut(RECV_BUFFER);
            let mut slices: [IoSliceMut<'_>; BATCH_SIZE] =
                std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or(&mut [])));
            let received = entry.state.recv(
                UdpSockRef::from(&entry.socket),
                &mut slices,
                &mut self.buffers.meta,
            );
            let count = match received {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                // ICMP errors of earlier sends surface here on Linux; they say nothing
                // about this socket's health.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    tracing::warn!(index, "UDP receive failed: {e}");
                    return false;
                }
            };
            for i in 0..count {
                let meta = self.buffers.meta[i];
                let start = i * RECV_BUFFER;
                let data = &self.buffers.storage[start..start + meta.len.min(RECV_BUFFER)];
                let stride = if meta.stride == 0 {
                    data.len().max(1)
                } else {
                    meta.stride
                };
                for datagram in data.chunks(stride) {
                    match source {
                        Source::Own(owner, id) => self.core.handle_datagram(
                            owner,
                            id,
                            meta.addr,
                            datagram,
                            now,
                            &mut self.net,
                        ),
                        Source::Shared(n) => route_shared(
                            &mut self.core,
                            &mut self.net,
                            &self.peers,
                            &mut self.forward_drops,
                            (n, meta.addr, datagram),
                            now,
                        ),
                    }
                }
            }
            if count < BATCH_SIZE {
                // A short batch drained the queue. The poll is edge-triggered, and a UDP
                // socket signals every datagram queued after this read, so asking again
                // would only cost a recvmmsg that returns WouldBlock (it was 40% of an
                // idle worker's receive calls).
                return false;
            }
        }
        true
    }
}

impl<T: Task> UdpWorker<T> {
    /// Takes every connection waiting on a listener.
    fn accept(&mut self, owner: u64, listener: SocketId) {
        loop {
            let accepted = match self.net.sockets.get(owner, listener) {
                Some(Bound::Listener(l)) => l.listener.accept(),
                _ => return,
            };
            match accepted {
                Ok((stream, peer)) => self.net.add_connection(owner, listener, stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(%listener, "accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Reads a connection's frames and hands each to its task as a datagram of the
    /// listener; writes what waited for room; closes it when the peer is gone.
    fn read_connection(&mut self, owner: u64, id: SocketId, now: Instant) {
        let Some(Bound::Connection(c)) = self.net.sockets.get_mut(owner, id) else {
            return;
        };
        let (listener, peer) = (c.listener, c.peer);
        // Frames are copied out: the task may send on this very connection. ICE-TCP is
        // the fallback path, so an allocation per frame is acceptable here.
        let mut frames = Vec::new();
        let open = c.read_frames(|f| frames.push(f.to_vec())) && c.flush().is_ok();
        for frame in frames {
            self.core
                .handle_datagram(owner, listener, peer, &frame, now, &mut self.net);
        }
        if !open {
            self.net.drop_connection(owner, id);
        }
    }
}

/// A datagram of shared socket `n`: to its task here, or to its task's worker.
fn route_shared<T: Task>(
    core: &mut WorkerCore<T>,
    net: &mut UdpNet,
    peers: &Peers<T>,
    forward_drops: &mut u64,
    (n, peer, data): (usize, SocketAddr, &[u8]),
    now: Instant,
) {
    let Some(route) = net
        .shared
        .as_ref()
        .and_then(|ports| ports.route(n, peer, data))
    else {
        return; // nobody's: a stray or hostile datagram
    };
    if route.worker == net.worker() {
        core.handle_datagram(route.task, route.socket, peer, data, now, net);
        return;
    }
    let Some(worker) = peers.get().and_then(|p| p.get(route.worker)) else {
        return;
    };
    let message = Message::Datagram {
        task: route.task,
        socket: route.socket,
        peer,
        data: data.to_vec(),
    };
    if worker.tx.try_send(message).is_ok() {
        worker.wake();
    } else {
        *forward_drops += 1;
    }
}
