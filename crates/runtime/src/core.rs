//! The sans-IO heart of a worker: its tasks, their timers and which of them must run.
//! Both drivers (the real thread in `udp.rs`, the virtual one in `virtual_net.rs`) feed
//! it messages, datagrams and time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::net::{Network, SocketId};
use crate::{Context, Task};

/// A closure run on the task's worker.
pub(crate) type Call<T> = Box<dyn FnOnce(&mut T, &mut Context<'_>) + Send>;

pub(crate) enum Message<T: Task> {
    Spawn(u64, Box<T>),
    Call(u64, Call<T>),
    Input(u64, T::Input),
    /// A datagram of a shared socket, read by another worker.
    Datagram {
        task: u64,
        socket: SocketId,
        peer: SocketAddr,
        data: Vec<u8>,
    },
    /// Removes a task; the sender hears when it is gone.
    Remove(u64, Option<Sender<()>>),
    /// Virtual time only: advance the clock, answer with the new time.
    Advance(std::time::Duration, Sender<Instant>),
    Stop,
}

/// Task ids are sequential numbers: mixing them with one multiplication spreads them
/// over the table, at a fraction of SipHash's cost on the per-datagram lookup.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

struct Entry<T> {
    task: Box<T>,
    /// What the task last said its next deadline is.
    deadline: Option<Instant>,
    /// The earliest entry of this task in the timer heap: a later deadline does not add
    /// another, so the heap holds about one entry per task however often it changes.
    queued: Option<Instant>,
    dirty: bool,
}

pub(crate) struct WorkerCore<T: Task> {
    tasks: IdMap<Entry<T>>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    dirty: Vec<u64>,
    /// The list `run_dirty` last walked, kept for its capacity: a fresh one per turn
    /// was an allocation (and regrowth) for most packets a worker forwarded.
    walked: Vec<u64>,
}

impl<T: Task> Default for WorkerCore<T> {
    fn default() -> Self {
        WorkerCore {
            tasks: IdMap::default(),
            timers: BinaryHeap::new(),
            dirty: Vec::new(),
            walked: Vec::new(),
        }
    }
}

/// What a message asks of the driver beyond the core.
pub(crate) enum Flow {
    Continue,
    Stop,
    Advance(std::time::Duration, Sender<Instant>),
}

impl<T: Task> WorkerCore<T> {
    pub(crate) fn handle_message(
        &mut self,
        message: Message<T>,
        now: Instant,
        net: &mut dyn Network,
    ) -> Flow {
        match message {
            Message::Spawn(id, task) => {
                self.tasks.insert(
                    id,
                    Entry {
                        task,
                        deadline: None,
                        queued: None,
                        dirty: false,
                    },
                );
                self.mark(id);
            }
            Message::Call(id, call) => {
                // A call to a task that is gone is dropped: its caller sees the reply
                // channel close.
                self.with_task(id, now, net, true, |task, cx| call(task, cx));
            }
            Message::Input(id, input) => {
                self.with_task(id, now, net, false, |task, cx| task.handle_input(input, cx));
            }
            Message::Datagram {
                task,
                socket,
                peer,
                data,
            } => self.handle_datagram(task, socket, peer, &data, now, net),
            Message::Remove(id, done) => {
                self.remove(id, now, net);
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            Message::Advance(by, reply) => return Flow::Advance(by, reply),
            Message::Stop => return Flow::Stop,
        }
        Flow::Continue
    }

    pub(crate) fn handle_datagram(
        &mut self,
        owner: u64,
        socket: SocketId,
        peer: SocketAddr,
        data: &[u8],
        now: Instant,
        net: &mut dyn Network,
    ) {
        self.with_task(owner, now, net, false, |task, cx| {
            task.handle_datagram(socket, peer, data, cx)
        });
    }

    /// Fires every timer due at `now`.
    pub(crate) fn handle_timers(&mut self, now: Instant, net: &mut dyn Network) {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(entry) = self.tasks.get_mut(&id) else {
                continue;
            };
            if entry.queued != Some(at) {
                continue; // a stale entry: a newer one is queued
            }
            entry.queued = None;
            match entry.deadline {
                Some(deadline) if deadline <= now => {
                    entry.deadline = None;
                    self.with_task(id, now, net, false, |task, cx| task.handle_timeout(cx));
                }
                // The deadline moved later since this entry was queued.
                Some(later) => {
                    entry.queued = Some(later);
                    self.timers.push(Reverse((later, id)));
                }
                None => {}
            }
        }
    }

    /// Lets every task that got something since its last run move it, then asks each for
    /// its next deadline.
    pub(crate) fn run_dirty(&mut self, now: Instant, net: &mut dyn Network) {
        // A task's run may not make others dirty (tasks do not talk to each other on
        // the worker), but it may make itself dirty again through a panic cleanup: loop.
        while !self.dirty.is_empty() {
            let spare = std::mem::take(&mut self.walked);
            let mut dirty = std::mem::replace(&mut self.dirty, spare);
            for id in dirty.drain(..) {
                let Some(entry) = self.tasks.get_mut(&id) else {
                    continue;
                };
                entry.dirty = false;
                let mut cx = Context { now, task: id, net };
                let ran = catch_unwind(AssertUnwindSafe(|| {
                    entry.task.run(&mut cx);
                    entry.task.poll_timeout()
                }));
                match ran {
                    Ok(deadline) => self.set_deadline(id, now, deadline),
                    Err(_) => {
                        tracing::error!(task = id, "a task panicked while running; it is removed");
                        self.remove(id, now, net);
                    }
                }
            }
            self.walked = dirty;
        }
    }

    fn set_deadline(&mut self, id: u64, now: Instant, deadline: Option<Instant>) {
        let Some(entry) = self.tasks.get_mut(&id) else {
            return;
        };
        entry.deadline = deadline;
        if let Some(at) = deadline.map(|d| coalesced(now, d)) {
            if entry.queued.is_none_or(|q| at < q) {
                entry.queued = Some(at);
                self.timers.push(Reverse((at, id)));
            }
        }
    }

    /// The earliest timer of any task (coalesced: see [`coalesced`]).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    pub(crate) fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Removes every task (the worker is stopping).
    pub(crate) fn remove_all(&mut self, now: Instant, net: &mut dyn Network) {
        let ids: Vec<u64> = self.tasks.keys().copied().collect();
        for id in ids {
            self.remove(id, now, net);
        }
    }

    fn remove(&mut self, id: u64, now: Instant, net: &mut dyn Network) {
        if let Some(mut entry) = self.tasks.remove(&id) {
            let mut cx = Context { now, task: id, net };
            if catch_unwind(AssertUnwindSafe(|| entry.task.shutdown(&mut cx))).is_err() {
                tracing::error!(task = id, "a task panicked while shutting down");
            }
            // Dropping the task may run user code (its elements' Drop): keep a panic
            // there inside this task.
            if catch_unwind(AssertUnwindSafe(move || drop(entry))).is_err() {
                tracing::error!(task = id, "a task panicked while being dropped");
            }
        }
        net.close_all(id);
    }

    fn mark(&mut self, id: u64) {
        if let Some(entry) = self.tasks.get_mut(&id) {
            if !entry.dirty {
                entry.dirty = true;
                self.dirty.push(id);
            }
        }
    }

    /// Runs `f` on a task with panics contained. A panicking call is abandoned (its
    /// caller sees the reply channel close) and the task goes on; a panic anywhere else
    /// means the task's state cannot be trusted, and it is removed.
    fn with_task(
        &mut self,
        id: u64,
        now: Instant,
        net: &mut dyn Network,
        is_call: bool,
        f: impl FnOnce(&mut T, &mut Context<'_>),
    ) {
        let Some(entry) = self.tasks.get_mut(&id) else {
            return;
        };
        let mut cx = Context { now, task: id, net };
        let result = catch_unwind(AssertUnwindSafe(|| f(&mut entry.task, &mut cx)));
        if result.is_err() {
            if is_call {
                tracing::error!(task = id, "a call panicked; the call was abandoned");
            } else {
                tracing::error!(task = id, "a task panicked; it is removed");
                self.remove(id, now, net);
                return;
            }
        }
        self.mark(id);
    }
}

/// Most a timer is delayed to share a wake-up with others.
const MAX_SLACK: Duration = Duration::from_millis(16);

/// When to fire a task's timer due at `deadline`, asked for at `now`: never before it,
/// and for a timer far enough ahead up to a sixteenth of its distance later (at most
/// [`MAX_SLACK`]), rounded up to a grid shared by every task of the process. Idle
/// sessions' keepalives, reports and ICE ticks (a second or more ahead) then fire
/// together on 16 ms marks instead of each waking the worker on its own — a worker's
/// wake-ups stop growing with its sessions — while short timers (a NACK retry, a DTLS
/// resend, pacing: tens of ms ahead) keep their precision to a millisecond or two.
pub(crate) fn coalesced(now: Instant, deadline: Instant) -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let slack = (deadline.saturating_duration_since(now) / 16).min(MAX_SLACK);
    let slack_ms = slack.as_millis() as u64;
    if slack_ms == 0 {
        return deadline;
    }
    // The largest power of two milliseconds within the slack.
    let grid_us = (1u64 << (63 - slack_ms.leading_zeros())) * 1000;
    let epoch = *EPOCH.get_or_init(|| now.min(deadline));
    let Some(since) = deadline.checked_duration_since(epoch) else {
        return deadline;
    };
    let since_us = since.as_micros() as u64;
    let rounded = since_us.div_ceil(grid_us) * grid_us;
    deadline + Duration::from_micros(rounded - since_us)
}

#[cfg(test)]
mod coalescing_tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn far_timers_share_16_ms_marks_and_near_ones_keep_their_time() {
        let now = Instant::now();
        // Near: a NACK retry 15 ms ahead fires on time; 40 ms ahead, at most 2 ms late.
        assert_eq!(coalesced(now, now + 15 * MS), now + 15 * MS);
        let near = coalesced(now, now + 40 * MS);
        assert!(
            near >= now + 40 * MS && near <= now + 42 * MS,
            "{:?}",
            near - now
        );
        // Far: never early, at most 16 ms late, and timers a few ms apart fire together.
        let marks: Vec<Instant> = (0..16)
            .map(|i| coalesced(now, now + 1000 * MS + i * MS))
            .collect();
        for (i, m) in marks.iter().enumerate() {
            let due = now + 1000 * MS + i as u32 * MS;
            assert!(*m >= due && *m <= due + MAX_SLACK, "{i}: {:?}", *m - due);
        }
        let mut distinct: Vec<u128> = marks
            .iter()
            .map(|m| m.duration_since(now).as_micros() / 100)
            .collect();
        distinct.dedup();
        assert!(
            distinct.len() <= 2,
            "16 timers over 16 ms on at most two marks: {distinct:?}"
        );
    }
}
