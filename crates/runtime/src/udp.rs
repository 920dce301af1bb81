//! The real worker: one thread, one `mio::Poll` for its sockets and its command channel's
//! waker, batched receive through `quinn-udp` (recvmmsg).

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use quinn_udp::{RecvMeta, UdpSockRef, UdpSocketState, BATCH_SIZE};

use crate::core::{Flow, Message, WorkerCore};
use crate::net::{bind_udp, not_ours, Network, Slots, SocketId};
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

struct UdpEntry {
    socket: UdpSocket,
    state: UdpSocketState,
}

/// Kernel receive buffer asked for each socket (capped by `net.core.rmem_max`): room for
/// about 800 full-size packets, so a burst that arrives while the worker is busy with
/// other sockets waits rather than being dropped. Memory is used only while queued.
const SOCKET_RECV_BUFFER: usize = 1 << 20;

/// A datagram waiting in the worker's outbox.
struct Outgoing {
    socket: SocketId,
    peer: SocketAddr,
    start: usize,
    len: usize,
}

/// The real sockets of one worker. Sends are queued during a turn and leave together at
/// its end: runs of same-size datagrams to the same peer go out as one GSO send.
struct UdpNet {
    registry: Registry,
    sockets: Slots<UdpEntry>,
    outbox: Vec<Outgoing>,
    out_bytes: Vec<u8>,
    /// Datagrams the kernel refused (full send buffer, unreachable peer).
    send_errors: u64,
}

/// A turn's sends beyond which the outbox is flushed early: bounds its memory.
const OUTBOX_BYTES: usize = 1 << 20;

impl UdpNet {
    /// Sends everything queued.
    fn flush(&mut self) {
        let mut i = 0;
        while i < self.outbox.len() {
            let first = &self.outbox[i];
            let Some(entry) = self
                .sockets
                .by_index(first.socket.index as usize)
                .map(|(_, _, e)| e)
            else {
                i += 1;
                continue;
            };
            // The longest run GSO can carry: same socket, peer and size, contiguous.
            let max = entry
                .state
                .max_gso_segments()
                .max(1)
                .min(64_000 / first.len.max(1))
                .max(1);
            let mut n = 1;
            while n < max
                && self.outbox.get(i + n).is_some_and(|o| {
                    o.socket == first.socket && o.peer == first.peer && o.len == first.len
                })
            {
                n += 1;
            }
            let contents = &self.out_bytes[first.start..first.start + first.len * n];
            let transmit = quinn_udp::Transmit {
                destination: first.peer,
                ecn: None,
                contents,
                segment_size: (n > 1).then_some(first.len),
                src_ip: None,
            };
            // Best effort, as UDP is: a full buffer or an unreachable peer drops these.
            if let Err(e) = entry
                .state
                .try_send(UdpSockRef::from(&entry.socket), &transmit)
            {
                self.send_errors += n as u64;
                tracing::trace!(peer = %first.peer, "send failed: {e}");
            }
            i += n;
        }
        self.outbox.clear();
        self.out_bytes.clear();
    }
}

impl Network for UdpNet {
    fn bind(
        &mut self,
        owner: u64,
        ip: IpAddr,
        range: Option<(u16, u16)>,
    ) -> io::Result<(SocketId, SocketAddr)> {
        let std_socket = bind_udp(ip, range)?;
        std_socket.set_nonblocking(true)?;
        let local = std_socket.local_addr()?;
        let state = UdpSocketState::new(UdpSockRef::from(&std_socket))?;
        if let Err(e) =
            state.set_recv_buffer_size(UdpSockRef::from(&std_socket), SOCKET_RECV_BUFFER)
        {
            tracing::debug!("cannot enlarge a socket's receive buffer: {e}");
        }
        let mut socket = UdpSocket::from_std(std_socket);
        let id = self.sockets.next_id();
        self.registry
            .register(&mut socket, Token(id.index as usize), Interest::READABLE)?;
        let inserted = self.sockets.insert(owner, UdpEntry { socket, state });
        debug_assert_eq!(inserted, id);
        Ok((id, local))
    }

    fn send_to(
        &mut self,
        owner: u64,
        socket: SocketId,
        peer: SocketAddr,
        data: &[u8],
    ) -> io::Result<()> {
        self.sockets
            .get(owner, socket)
            .ok_or_else(|| not_ours(socket))?;
        if data.is_empty() {
            return Ok(()); // nothing to carry
        }
        if self.out_bytes.len() + data.len() > OUTBOX_BYTES {
            self.flush();
        }
        self.outbox.push(Outgoing {
            socket,
            peer,
            start: self.out_bytes.len(),
            len: data.len(),
        });
        self.out_bytes.extend_from_slice(data);
        Ok(())
    }

    fn close(&mut self, owner: u64, socket: SocketId) {
        // What the task sent last (a DTLS close_notify) leaves before the socket closes.
        self.flush();
        if let Some(mut entry) = self.sockets.remove(owner, socket) {
            let _ = self.registry.deregister(&mut entry.socket);
        }
    }

    fn close_all(&mut self, owner: u64) {
        for id in self.sockets.owned_by(owner) {
            self.close(owner, id);
        }
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

/// The worker thread's loop; returns when told to stop or when every sender is gone.
pub(crate) fn run<T: Task>(poll: Poll, rx: Receiver<Message<T>>, shared: Arc<WorkerShared<T>>) {
    let registry = match poll.registry().try_clone() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("a worker cannot start: {e}");
            return;
        }
    };
    let mut worker = UdpWorker {
        poll,
        core: WorkerCore::default(),
        net: UdpNet {
            registry,
            sockets: Slots::default(),
            outbox: Vec::new(),
            out_bytes: Vec::new(),
            send_errors: 0,
        },
        buffers: RecvBuffers::new(),
        readable: VecDeque::new(),
    };
    worker.run(&rx, &shared);
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
            let mut timeout = if busy {
                Some(Duration::ZERO)
            } else {
                self.core
                    .next_deadline()
                    .map(|d| d.saturating_duration_since(Instant::now()))
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
            for event in events.iter() {
                if event.token() != WAKER {
                    self.readable.push_back(event.token().0);
                }
            }
        }
    }

    /// Reads up to a few batches from one socket and hands every datagram to its task;
    /// true when the socket may have more.
    fn read(&mut self, index: usize, now: Instant) -> bool {
        for _ in 0..READS_PER_TURN {
            let Some((id, owner, entry)) = self.net.sockets.by_index(index) else {
                return false;
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
                    tracing::warn!(%id, "UDP receive failed: {e}");
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
                    self.core
                        .handle_datagram(owner, id, meta.addr, datagram, now, &mut self.net);
                }
            }
        }
        true
    }
}
