//! The virtual worker: the same `WorkerCore` on a clock that moves only when a test
//! says so, and an in-memory network where a datagram sent to an address bound by a task
//! of this runtime arrives after a fixed one-way latency. No sockets, no sleeps.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::core::{Flow, Message, WorkerCore};
use crate::net::{not_ours, Network, Slots, SocketId};
use crate::udp::WorkerShared;
use crate::Task;

/// Datagrams in flight at once before the network drops more (a task that sends to
/// itself in a loop must not grow memory without bound).
const IN_FLIGHT: usize = 65_536;

/// Rounds of delivery within one virtual instant before time must move on.
const SETTLE_ROUNDS: usize = 100_000;

struct InFlight {
    due: Instant,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

struct VirtualNet {
    sockets: Slots<SocketAddr>,
    by_addr: HashMap<SocketAddr, SocketId>,
    /// In sending order, which is arrival order since the latency is fixed.
    in_flight: VecDeque<InFlight>,
    latency: Duration,
    now: Instant,
    next_port: u16,
    dropped: u64,
}

impl Network for VirtualNet {
    fn bind(
        &mut self,
        owner: u64,
        ip: IpAddr,
        range: Option<(u16, u16)>,
    ) -> io::Result<(SocketId, SocketAddr)> {
        let (a, b) = range.unwrap_or((20_000, 60_000));
        let (min, max) = (a.min(b), a.max(b));
        let span = u32::from(max - min) + 1;
        let start = u32::from(self.next_port.clamp(min, max) - min);
        let free = (0..span)
            .map(|i| SocketAddr::new(ip, min + ((start + i) % span) as u16))
            .find(|a| !self.by_addr.contains_key(a))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("no free UDP port in {min}-{max} on {ip}"),
                )
            })?;
        self.next_port = free.port().wrapping_add(1).max(min);
        let id = self.sockets.insert(owner, free);
        self.by_addr.insert(free, id);
        Ok((id, free))
    }

    fn listen_tcp(
        &mut self,
        _: u64,
        _: IpAddr,
        _: Option<(u16, u16)>,
    ) -> io::Result<(SocketId, SocketAddr)> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the virtual network carries UDP only",
        ))
    }

    // The in-memory network gives every socket an address of its own already.
    fn bind_shared(&mut self, _: u64, _: IpAddr) -> Option<(SocketId, SocketAddr)> {
        None
    }

    fn set_ice_ufrag(&mut self, _: u64, _: SocketId, _: &str) {}

    fn send_to(
        &mut self,
        owner: u64,
        socket: SocketId,
        peer: SocketAddr,
        data: &[u8],
    ) -> io::Result<()> {
        let from = *self
            .sockets
            .get(owner, socket)
            .ok_or_else(|| not_ours(socket))?;
        if self.in_flight.len() >= IN_FLIGHT {
            self.dropped += 1;
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "virtual network full",
            ));
        }
        self.in_flight.push_back(InFlight {
            due: self.now + self.latency,
            from,
            to: peer,
            data: data.to_vec(),
        });
        Ok(())
    }

    fn close(&mut self, owner: u64, socket: SocketId) {
        if let Some(addr) = self.sockets.remove(owner, socket) {
            self.by_addr.remove(&addr);
        }
    }

    fn close_all(&mut self, owner: u64) {
        for id in self.sockets.owned_by(owner) {
            self.close(owner, id);
        }
    }
}

struct VirtualWorker<T: Task> {
    core: WorkerCore<T>,
    net: VirtualNet,
    now: Instant,
    /// Advances taken from the channel while settling, run once the current one is done.
    advances: VecDeque<(Duration, Sender<Instant>)>,
}

/// The virtual worker's thread: handles messages as they come at the current virtual
/// time, and moves time only on `Advance`.
pub(crate) fn run<T: Task>(
    rx: Receiver<Message<T>>,
    shared: Arc<WorkerShared<T>>,
    start: Instant,
    latency: Duration,
) {
    let mut worker = VirtualWorker {
        core: WorkerCore::default(),
        net: VirtualNet {
            sockets: Slots::default(),
            by_addr: HashMap::new(),
            in_flight: VecDeque::new(),
            latency,
            now: start,
            next_port: 0,
            dropped: 0,
        },
        now: start,
        advances: VecDeque::new(),
    };
    'run: loop {
        shared.set_sleeping(true);
        let Ok(message) = rx.recv() else { break };
        shared.set_sleeping(false);
        if !worker.handle(message, &rx) {
            break;
        }
        while let Some((by, reply)) = worker.advances.pop_front() {
            if !worker.advance(by, &rx) {
                break 'run;
            }
            let _ = reply.send(worker.now);
        }
    }
    worker.core.remove_all(worker.now, &mut worker.net);
}

impl<T: Task> VirtualWorker<T> {
    /// False when told to stop.
    fn handle(&mut self, message: Message<T>, rx: &Receiver<Message<T>>) -> bool {
        match self.core.handle_message(message, self.now, &mut self.net) {
            Flow::Continue => {}
            Flow::Stop => return false,
            Flow::Advance(by, reply) => self.advances.push_back((by, reply)),
        }
        self.settle(rx)
    }

    /// Delivers what is in flight and runs what is dirty until nothing moves; takes
    /// messages that arrive meanwhile. False when told to stop.
    fn settle(&mut self, rx: &Receiver<Message<T>>) -> bool {
        for _ in 0..SETTLE_ROUNDS {
            while let Ok(message) = rx.try_recv() {
                match self.core.handle_message(message, self.now, &mut self.net) {
                    Flow::Continue => {}
                    Flow::Stop => return false,
                    Flow::Advance(by, reply) => self.advances.push_back((by, reply)),
                }
            }
            let mut moved = false;
            self.net.now = self.now;
            while self
                .net
                .in_flight
                .front()
                .is_some_and(|d| d.due <= self.now)
            {
                let Some(InFlight { from, to, data, .. }) = self.net.in_flight.pop_front() else {
                    break;
                };
                moved = true;
                let Some(&id) = self.net.by_addr.get(&to) else {
                    self.net.dropped += 1;
                    continue;
                };
                let Some((_, owner, _)) = self.net.sockets.by_index(id.index as usize) else {
                    continue;
                };
                self.core
                    .handle_datagram(owner, id, from, &data, self.now, &mut self.net);
            }
            if self.core.has_dirty() {
                moved = true;
                self.core.run_dirty(self.now, &mut self.net);
            }
            if !moved && rx.is_empty() {
                return true;
            }
        }
        tracing::warn!("virtual network did not settle; time moves on");
        true
    }

    /// Moves the clock forward by `by`, firing each timer at its own virtual instant.
    fn advance(&mut self, by: Duration, rx: &Receiver<Message<T>>) -> bool {
        let target = self.now + by;
        loop {
            if !self.settle(rx) {
                return false;
            }
            let arrival = self.net.in_flight.front().map(|d| d.due);
            let next = match (self.core.next_deadline(), arrival) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match next {
                Some(at) if at <= target => {
                    self.now = self.now.max(at);
                    self.core.handle_timers(self.now, &mut self.net);
                    self.core.run_dirty(self.now, &mut self.net);
                }
                _ => break,
            }
        }
        self.now = target;
        self.core.handle_timers(self.now, &mut self.net);
        self.settle(rx)
    }
}
