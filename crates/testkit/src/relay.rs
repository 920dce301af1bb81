//! A userspace UDP relay that delays every datagram by `delay ± jitter`, drawn per
//! datagram, so that datagrams closer together than the jitter arrive reordered: the
//! kernel here has no `sch_netem`, and nftables can drop but not delay.
//!
//! Two sockets on 127.0.0.1: a client sends to [`JitterRelay::front`]; the relay sends
//! that on from [`JitterRelay::back`] to the target; what arrives at `back` goes to the
//! last client address seen at `front`. Each peer then sees one stable address for the
//! other, as through a NAT with a slow link, and there is no path around the relay if
//! the signaling names only the relay's addresses.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Datagrams held at once per direction; beyond it a datagram is dropped (counted).
const MAX_QUEUED: usize = 20_000;

/// What one direction of the relay did.
#[derive(Debug, Default)]
pub struct RelayCounts {
    /// Datagrams sent on.
    pub forwarded: AtomicU64,
    /// Datagrams sent before one that arrived earlier (their delay was shorter).
    pub reordered: AtomicU64,
    /// Datagrams dropped: no target known yet, or the queue was full.
    pub dropped: AtomicU64,
}

/// The relay; its threads stop on drop.
pub struct JitterRelay {
    /// Where the client sends (it stands in for the target).
    pub front: SocketAddr,
    /// Where the target sends (it stands in for the client).
    pub back: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    /// Client → target.
    pub inbound: Arc<RelayCounts>,
    /// Target → client.
    pub outbound: Arc<RelayCounts>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl JitterRelay {
    /// Starts a relay delaying each datagram by a uniform draw from
    /// `delay - jitter ..= delay + jitter`; the target is set later ([`Self::set_target`]).
    pub fn start(delay: Duration, jitter: Duration) -> JitterRelay {
        let front = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        let back = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        let stop = Arc::new(AtomicBool::new(false));
        let target = Arc::new(Mutex::new(None));
        let client = Arc::new(Mutex::new(None));
        let (inbound, outbound) = (Arc::default(), Arc::default());
        let delays = Delays::new(delay, jitter);
        let threads = vec![
            Direction {
                from: front.try_clone().expect("clone"),
                to: back.try_clone().expect("clone"),
                learn: Some(client.clone()),
                dest: target.clone(),
                counts: Arc::clone(&inbound),
                delays,
            }
            .spawn(stop.clone()),
            Direction {
                from: back.try_clone().expect("clone"),
                to: front.try_clone().expect("clone"),
                learn: None,
                dest: client,
                counts: Arc::clone(&outbound),
                delays: Delays {
                    seed: !delays.seed,
                    ..delays
                },
            }
            .spawn(stop.clone()),
        ];
        JitterRelay {
            front: front.local_addr().expect("bound"),
            back: back.local_addr().expect("bound"),
            target,
            inbound,
            outbound,
            stop,
            threads,
        }
    }

    /// Where what arrives at `front` goes.
    pub fn set_target(&self, target: SocketAddr) {
        *self.target.lock().expect("not poisoned") = Some(target);
    }

    /// The target, once set.
    pub fn target(&self) -> Option<SocketAddr> {
        *self.target.lock().expect("not poisoned")
    }
}

impl Drop for JitterRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Per-datagram delays: a xorshift generator (reproducible enough, no dependency).
#[derive(Clone, Copy)]
struct Delays {
    low: Duration,
    span_us: u64,
    seed: u64,
}

impl Delays {
    fn new(delay: Duration, jitter: Duration) -> Delays {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1;
        Delays {
            low: delay.saturating_sub(jitter),
            span_us: (jitter.as_micros() as u64) * 2 + 1,
            seed,
        }
    }

    fn next(&mut self) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.low + Duration::from_micros(self.seed % self.span_us)
    }
}

struct Direction {
    from: UdpSocket,
    to: UdpSocket,
    /// Where the sender's address is remembered (the client's, for the way back).
    learn: Option<Arc<Mutex<Option<SocketAddr>>>>,
    dest: Arc<Mutex<Option<SocketAddr>>>,
    counts: Arc<RelayCounts>,
    delays: Delays,
}

impl Direction {
    fn spawn(mut self, stop: Arc<AtomicBool>) -> JoinHandle<()> {
        std::thread::spawn(move || {
            // (due, arrival order, bytes): a min-heap on the due time.
            let mut queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>> = BinaryHeap::new();
            let mut arrivals = 0u64;
            let mut latest_due = Instant::now();
            let mut buf = vec![0u8; 65_536];
            while !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                self.send_due(&mut queue, now);
                let wait = queue
                    .peek()
                    .map_or(Duration::from_millis(10), |Reverse(q)| {
                        q.0.saturating_duration_since(now)
                    });
                let wait = wait.clamp(Duration::from_micros(200), Duration::from_millis(10));
                let _ = self.from.set_read_timeout(Some(wait));
                let Ok((n, sender)) = self.from.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(learn) = &self.learn {
                    *learn.lock().expect("not poisoned") = Some(sender);
                }
                if queue.len() >= MAX_QUEUED {
                    self.counts.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let due = Instant::now() + self.delays.next();
                if due < latest_due {
                    self.counts.reordered.fetch_add(1, Ordering::Relaxed);
                }
                latest_due = latest_due.max(due);
                arrivals += 1;
                queue.push(Reverse((due, arrivals, buf[..n].to_vec())));
            }
        })
    }

    fn send_due(&self, queue: &mut BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>, now: Instant) {
        while queue.peek().is_some_and(|Reverse(q)| q.0 <= now) {
            let Some(Reverse((_, _, bytes))) = queue.pop() else {
                break;
            };
            let dest = *self.dest.lock().expect("not poisoned");
            match dest {
                Some(to) if self.to.send_to(&bytes, to).is_ok() => {
                    self.counts.forwarded.fetch_add(1, Ordering::Relaxed)
                }
                _ => self.counts.dropped.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Datagrams 1 ms apart through 30 ± 10 ms: all arrive, late by 20-40 ms, and many
    /// out of order; the replies find their way back to the client.
    #[test]
    fn delays_reorders_and_relays_both_ways() {
        let relay = JitterRelay::start(Duration::from_millis(30), Duration::from_millis(10));
        let target = UdpSocket::bind("127.0.0.1:0").unwrap();
        relay.set_target(target.local_addr().unwrap());
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent = Instant::now();
        for i in 0..100u8 {
            client.send_to(&[i], relay.front).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        target
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut order = Vec::new();
        let mut buf = [0u8; 16];
        let mut first = None;
        for _ in 0..100 {
            let (_, from) = target.recv_from(&mut buf).unwrap();
            assert_eq!(from, relay.back);
            first.get_or_insert_with(|| sent.elapsed());
            order.push(buf[0]);
        }
        assert!(first.unwrap() >= Duration::from_millis(19), "{first:?}");
        let out_of_order = order.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(out_of_order > 5, "{order:?}");
        assert!(relay.inbound.reordered.load(Ordering::Relaxed) > 5);
        target.send_to(b"back", relay.back).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"back"[..], relay.front));
    }
}
