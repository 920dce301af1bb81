//! Dispatcher threads: where user callbacks run, off the workers. Each task is given a
//! lane; jobs of one lane run in order on one thread, so events of a pipeline reach its
//! handlers in the order they were raised, and a handler may block or call back into
//! the API without stalling any worker.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

/// Work for a dispatcher thread.
pub type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    static ON_DISPATCHER: Cell<bool> = const { Cell::new(false) };
}

/// True on any dispatcher thread of any runtime.
pub(crate) fn on_dispatcher() -> bool {
    ON_DISPATCHER.with(Cell::get)
}

/// One ordered queue of jobs, run by one dispatcher thread.
#[derive(Clone, Debug)]
pub struct DispatchLane {
    tx: Sender<Job>,
    thread: ThreadId,
}

impl DispatchLane {
    /// Queues a job; false when the runtime is gone.
    pub fn submit(&self, job: Job) -> bool {
        self.tx.send(job).is_ok()
    }

    /// Waits until every job queued before this call has run, at most `timeout`. Returns
    /// false without waiting when called from a dispatcher thread (a job waiting for its
    /// own queue, or for a lane whose thread waits for this one, would never finish) or
    /// from a worker (which must never wait on user code).
    pub fn flush(&self, timeout: Duration) -> bool {
        if on_dispatcher() || crate::runtime::on_worker() {
            return false;
        }
        let (tx, rx) = bounded(1);
        if !self.submit(Box::new(move || {
            let _ = tx.send(());
        })) {
            return true; // nothing left to wait for
        }
        rx.recv_timeout(timeout).is_ok()
    }

    /// True when the calling thread is this lane's thread.
    pub fn is_current(&self) -> bool {
        thread::current().id() == self.thread
    }
}

pub(crate) struct DispatchPool {
    lanes: Vec<DispatchLane>,
    threads: Vec<JoinHandle<()>>,
}

impl DispatchPool {
    pub(crate) fn start(count: usize, name: &str) -> std::io::Result<DispatchPool> {
        let mut pool = DispatchPool {
            lanes: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..count.max(1) {
            let (tx, rx) = unbounded();
            // On failure the pool drops: its lanes close and the threads started end.
            let handle = thread::Builder::new()
                .name(format!("{name}-events-{i}"))
                .spawn(move || run(&rx))?;
            pool.lanes.push(DispatchLane {
                tx,
                thread: handle.thread().id(),
            });
            pool.threads.push(handle);
        }
        Ok(pool)
    }

    pub(crate) fn lane(&self, n: u64) -> DispatchLane {
        let i = (n % self.lanes.len() as u64) as usize;
        self.lanes[i].clone()
    }

    /// Waits until every lane ran what was queued before this call (see
    /// [`DispatchLane::flush`]).
    pub(crate) fn flush_all(&self, timeout: Duration) {
        for lane in &self.lanes {
            lane.flush(timeout);
        }
    }

    /// Lets the threads end on their own (when every lane is dropped), not waiting.
    pub(crate) fn detach(mut self) {
        self.threads.clear();
    }

    pub(crate) fn thread_count(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for DispatchPool {
    fn drop(&mut self) {
        // Lanes held elsewhere keep their thread alive until dropped too; the threads
        // joined here are those whose every sender is gone.
        self.lanes.clear();
        let me = thread::current().id();
        for handle in self.threads.drain(..) {
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}

fn run(jobs: &Receiver<Job>) {
    ON_DISPATCHER.with(|d| d.set(true));
    for job in jobs {
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a dispatched job (an event handler) panicked");
        }
    }
}
