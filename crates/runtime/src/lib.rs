//! mediaflow's runtime: the only place with threads, sockets and the clock.
//!
//! A [`Runtime`] is a fixed pool of worker threads. Each worker runs many [`Task`]s (in
//! mediaflow, one task is one MediaPipeline with all its elements and sockets), so a
//! task's hot path takes no lock, and the thread count depends on the pool, never on the
//! number of tasks. A worker runs one loop:
//!
//! 1. wait on its sockets, its command channel and its earliest timer in one `epoll`
//!    (through `mio`);
//! 2. receive datagrams in batches (`recvmmsg` through `quinn-udp`, into the worker's
//!    buffers: no allocation per datagram) and hand each to the task owning the socket;
//! 3. run the commands sent to its tasks (closures or the task's own unboxed input);
//! 4. fire due timers (one heap per worker, at most a couple of entries per task);
//! 5. let every task that got input run once ([`Task::run`]), which moves media and
//!    sends what is queued.
//!
//! Tasks are sans-IO: they receive time and bytes through a [`Context`] and send through
//! it, so the same task runs on a virtual clock and an in-memory network
//! ([`RuntimeBuilder::virtual_time`]) in tests, with no sockets and no sleeps.
//!
//! Work that must not run on a worker (user callbacks) goes to a small pool of dispatcher
//! threads, in order per [`DispatchLane`].
#![deny(missing_docs)]

mod core;
mod dispatch;
mod net;
mod runtime;
#[cfg(target_os = "linux")]
mod send_many;
mod shared;
mod sockets;
mod tcp;
mod udp;
mod virtual_net;

pub use dispatch::{DispatchLane, Job};
pub use net::{bind_udp, SocketId};
pub use runtime::{Runtime, RuntimeBuilder, RuntimeError, TaskSender, DEFAULT_MIN_WAKE_INTERVAL};

use std::net::SocketAddr;
use std::time::Instant;

/// One unit of work a worker runs: it owns its state and its sockets and is driven only
/// through these calls, always on its worker's thread.
pub trait Task: Send + 'static {
    /// What other threads hand the task without boxing (the hot path: media pushed by
    /// the host, frames from a helper thread).
    type Input: Send + 'static;

    /// An input sent with [`TaskSender::input`] or [`TaskSender::try_input`].
    fn handle_input(&mut self, input: Self::Input, cx: &mut Context<'_>);

    /// A datagram arrived on one of the task's sockets.
    fn handle_datagram(
        &mut self,
        socket: SocketId,
        peer: SocketAddr,
        data: &[u8],
        cx: &mut Context<'_>,
    );

    /// The task's next deadline, if any. Asked after every [`Task::run`].
    fn poll_timeout(&mut self) -> Option<Instant>;

    /// The deadline given by `poll_timeout` has come (or passed).
    fn handle_timeout(&mut self, cx: &mut Context<'_>);

    /// Called once after a batch of input, calls or timeouts reached the task: move
    /// what is queued and send it. Batches many datagrams into one run.
    fn run(&mut self, cx: &mut Context<'_>);

    /// The task is being removed: close what it owns. Its sockets are closed by the
    /// runtime afterwards in any case.
    fn shutdown(&mut self, cx: &mut Context<'_>);
}

/// A task's view of its worker during one call: the time, and its sockets.
pub struct Context<'a> {
    now: Instant,
    task: u64,
    net: &'a mut dyn net::Network,
}

impl Context<'_> {
    /// The current time (the worker's clock: real, or virtual in tests).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Binds a UDP socket for this task on `ip`, on a free port of `range` (or any
    /// port). Datagrams arriving on it reach [`Task::handle_datagram`].
    pub fn bind_udp(
        &mut self,
        ip: std::net::IpAddr,
        range: Option<(u16, u16)>,
    ) -> std::io::Result<(SocketId, SocketAddr)> {
        self.net.bind(self.task, ip, range)
    }

    /// A passive TCP listener for this task (ICE-TCP, RFC 6544) on `ip`, within `range`:
    /// each accepted connection carries RFC 4571 frames, which reach
    /// [`Task::handle_datagram`] as datagrams of the listener from the connection's
    /// peer; [`Context::send_to`] on the listener sends a frame on that peer's connection.
    pub fn listen_tcp(
        &mut self,
        ip: std::net::IpAddr,
        range: Option<(u16, u16)>,
    ) -> std::io::Result<(SocketId, SocketAddr)> {
        self.net.listen_tcp(self.task, ip, range)
    }

    /// A binding on the runtime's shared UDP port for `ip`, when the runtime has one
    /// (`RuntimeBuilder::shared_udp`): the socket's address is the shared port, and its
    /// datagrams reach this task once [`Context::set_ice_ufrag`] names its ICE ufrag.
    pub fn bind_shared_udp(&mut self, ip: std::net::IpAddr) -> Option<(SocketId, SocketAddr)> {
        self.net.bind_shared(self.task, ip)
    }

    /// The local ICE ufrag of a shared binding (again after an ICE restart): STUN
    /// checks naming it, and then every datagram from the peers that sent them, reach
    /// this task. A no-op on sockets of the task's own.
    pub fn set_ice_ufrag(&mut self, socket: SocketId, ufrag: &str) {
        self.net.set_ice_ufrag(self.task, socket, ufrag);
    }

    /// Sends a datagram from one of this task's sockets. Best effort, as UDP is: an
    /// error (a full send buffer, an unreachable peer) is the caller's to count.
    pub fn send_to(
        &mut self,
        socket: SocketId,
        peer: SocketAddr,
        data: &[u8],
    ) -> std::io::Result<()> {
        self.net.send_to(self.task, socket, peer, data)
    }

    /// Closes one of this task's sockets (its port is free again at once).
    pub fn close_socket(&mut self, socket: SocketId) {
        self.net.close(self.task, socket);
    }
}

#[cfg(test)]
mod tests;
