//! The loop of the one-thread servers (str0m, rtc, raw): one UDP socket and the
//! control connection, served from the same thread; sessions are found by the
//! datagram's source address (learnt from the first STUN request's USERNAME).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::common::{LineConn, Request, Response};
use crate::udp::{poll_readable, socket_state, Receiver, SendBatch};

/// What a one-thread server does; [`serve`] owns the sockets and the loop.
pub trait Echo {
    /// A control request: a new session.
    fn open(&mut self, req: &Request, now: Instant) -> Response;
    /// A datagram from `source`; replies go into `out`.
    fn datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8], out: &mut SendBatch);
    /// Runs the timers that are due.
    fn timeouts(&mut self, now: Instant, out: &mut SendBatch);
    /// When `timeouts` has work next.
    fn next_timeout(&self) -> Option<Instant>;
}

/// Receive rounds (of up to `udp::BATCH` datagrams) before control and timers get a turn.
const RECV_ROUNDS: usize = 16;

pub fn serve(
    listener: TcpListener,
    socket: &UdpSocket,
    echo: &mut dyn Echo,
    lifetime: Duration,
) -> Result<()> {
    let started = Instant::now();
    let mut conn = accept(&listener, Duration::from_secs(60))?;
    let state = socket_state(socket)?;
    let mut rx = Receiver::new();
    let mut out = SendBatch::default();
    let fds: [RawFd; 2] = [socket.as_raw_fd(), conn.stream.as_raw_fd()];
    while started.elapsed() < lifetime {
        for line in conn.read_lines() {
            let resp = match serde_json::from_str::<Request>(&line) {
                Ok(req) => echo.open(&req, Instant::now()),
                Err(e) => Response::error(0, format!("bad request: {e}")),
            };
            conn.send(&resp)?;
        }
        conn.flush();
        if conn.closed {
            // The generator is done: nothing left to serve.
            return Ok(());
        }
        let mut received = 0;
        for _ in 0..RECV_ROUNDS {
            let now = Instant::now();
            let n = rx.recv(&state, socket).context("receiving")?;
            for (src, data) in rx.datagrams() {
                echo.datagram(now, src, data, &mut out);
            }
            out.flush();
            received += n;
            if n == 0 {
                break;
            }
        }
        echo.timeouts(Instant::now(), &mut out);
        out.flush();
        if received == 0 {
            let now = Instant::now();
            let wait = echo
                .next_timeout()
                .map_or(Duration::from_millis(10), |t| {
                    t.saturating_duration_since(now)
                })
                .min(Duration::from_millis(10));
            if !wait.is_zero() {
                poll_readable(&fds, wait);
            }
        }
    }
    Ok(())
}

fn accept(listener: &TcpListener, within: Duration) -> Result<LineConn> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => return LineConn::new(stream),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(e).context("accepting the control connection"),
        }
    }
    bail!("no control connection within {within:?}")
}

/// Timers of many sessions in one heap. Each session keeps the deadline its stack asked
/// for; the heap holds at most the earliest one it was scheduled at, and stale entries
/// are skipped (or moved to the session's current deadline) when they come up.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    slots: Vec<Slot>,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    /// What the stack asked for.
    want: Option<Instant>,
    /// The heap entry that stands for this session, if any.
    scheduled: Option<Instant>,
}

/// No stack needs a timer further out than this to make progress; clamping keeps
/// "never" deadlines out of the heap's ordering.
const MAX_SLEEP: Duration = Duration::from_secs(1);

impl Timers {
    /// Records `want` for session `idx`, scheduling it if it is earlier than its entry.
    pub fn set(&mut self, idx: usize, want: Instant, now: Instant) {
        if self.slots.len() <= idx {
            self.slots.resize(idx + 1, Slot::default());
        }
        let want = want.min(now + MAX_SLEEP);
        let slot = &mut self.slots[idx];
        slot.want = Some(want);
        if slot.scheduled.is_none_or(|s| want < s) {
            slot.scheduled = Some(want);
            self.heap.push(Reverse((want, idx)));
        }
    }

    /// The session has no timer any more (it is gone).
    pub fn clear(&mut self, idx: usize) {
        if let Some(slot) = self.slots.get_mut(idx) {
            slot.want = None;
        }
    }

    /// The next session whose deadline is due.
    pub fn pop_due(&mut self, now: Instant) -> Option<usize> {
        loop {
            let &Reverse((when, idx)) = self.heap.peek()?;
            if when > now {
                return None;
            }
            self.heap.pop();
            let Some(slot) = self.slots.get_mut(idx) else {
                continue;
            };
            if slot.scheduled != Some(when) {
                continue; // superseded by an earlier entry
            }
            slot.scheduled = None;
            match slot.want {
                Some(w) if w <= now => {
                    slot.want = None;
                    return Some(idx);
                }
                Some(w) => {
                    slot.scheduled = Some(w);
                    self.heap.push(Reverse((w, idx)));
                }
                None => {}
            }
        }
    }

    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }
}
