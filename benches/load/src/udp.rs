//! Batched UDP I/O shared by every process of the harness: `recvmmsg` through
//! quinn-udp, `sendmmsg` through libc, and a small epoll wrapper for the generator's
//! many sockets. Loopback IPv4 only, which is all the harness ever binds.

use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use quinn_udp::{RecvMeta, UdpSockRef, UdpSocketState};

/// Datagrams per `recvmmsg` (quinn-udp's own batch size on Linux).
pub const BATCH: usize = quinn_udp::BATCH_SIZE;
/// Room per received message. quinn-udp turns UDP_GRO on, and a peer that sends with
/// GSO (mediaflow's runtime does, for runs of same-size packets to one peer) arrives as
/// one coalesced buffer of up to 64 KiB: a smaller slot would truncate all but its
/// first datagram.
const SLOT: usize = 1 << 16;

/// A nonblocking loopback UDP socket with large kernel buffers: a one-thread server
/// takes a whole run's traffic on one socket, and a default 208 KiB receive buffer holds
/// ~1 ms of it at 100k packets/s, so a scheduling hiccup would show up as loss that is
/// the kernel's, not the server's.
pub fn bind_loopback(buffer_bytes: usize) -> Result<UdpSocket> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a UDP socket")?;
    socket.set_nonblocking(true)?;
    if buffer_bytes > 0 {
        set_buffers(socket.as_raw_fd(), buffer_bytes);
    }
    Ok(socket)
}

/// Best effort: the kernel caps the sizes at net.core.{r,w}mem_max.
fn set_buffers(fd: RawFd, bytes: usize) {
    let value = bytes.min(i32::MAX as usize) as libc::c_int;
    for option in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: `fd` is an open socket and `value` outlives the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// Receive side: quinn-udp's per-socket state plus one set of buffers that any number
/// of sockets can share (the generator reads its sockets one after the other).
pub struct Receiver {
    slots: Box<[[u8; SLOT]; BATCH]>,
    metas: Vec<RecvMeta>,
    filled: usize,
}

impl Receiver {
    pub fn new() -> Receiver {
        Receiver {
            slots: vec![[0u8; SLOT]; BATCH]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("BATCH slots were allocated")),
            metas: vec![RecvMeta::default(); BATCH],
            filled: 0,
        }
    }

    /// One `recvmmsg`; returns how many messages it got (0 when the socket had
    /// nothing). [`Receiver::datagrams`] then walks them.
    pub fn recv(&mut self, state: &UdpSocketState, socket: &UdpSocket) -> io::Result<usize> {
        let mut slices: [IoSliceMut<'_>; BATCH] =
            self.slots.each_mut().map(|s| IoSliceMut::new(&mut s[..]));
        self.filled = match state.recv(UdpSockRef::from(socket), &mut slices, &mut self.metas) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => {
                self.filled = 0;
                return Err(e);
            }
        };
        Ok(self.filled)
    }

    /// The datagrams of the last [`Receiver::recv`], with their sources.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.metas[..self.filled]
            .iter()
            .zip(self.slots.iter())
            .flat_map(|(meta, slot)| {
                let data = &slot[..meta.len.min(SLOT)];
                // A GRO buffer holds several datagrams `stride` apart.
                data.chunks(meta.stride.max(1)).map(move |d| (meta.addr, d))
            })
    }
}

pub fn socket_state(socket: &UdpSocket) -> Result<UdpSocketState> {
    UdpSocketState::new(UdpSockRef::from(socket)).context("quinn-udp socket state")
}

/// Datagrams waiting to go out, sent with as few `sendmmsg` calls as possible: one per
/// run of consecutive entries from the same socket.
#[derive(Default)]
pub struct SendBatch {
    data: Vec<u8>,
    entries: Vec<Entry>,
    /// Datagrams the kernel refused (a full socket buffer): the network would drop them.
    pub dropped: u64,
}

struct Entry {
    fd: RawFd,
    to: SocketAddrV4,
    start: usize,
    len: usize,
}

/// Datagrams per `sendmmsg` call.
const SEND_CHUNK: usize = 64;

impl SendBatch {
    pub fn push(&mut self, fd: RawFd, to: SocketAddr, datagram: &[u8]) {
        let SocketAddr::V4(to) = to else {
            // Everything is bound on 127.0.0.1: an IPv6 peer cannot be ours.
            self.dropped += 1;
            return;
        };
        let start = self.data.len();
        self.data.extend_from_slice(datagram);
        self.entries.push(Entry {
            fd,
            to,
            start,
            len: datagram.len(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sends everything queued; returns how many datagrams went out.
    pub fn flush(&mut self) -> u64 {
        let mut sent = 0u64;
        let mut i = 0;
        while i < self.entries.len() {
            let fd = self.entries[i].fd;
            let mut j = i;
            while j < self.entries.len() && self.entries[j].fd == fd && j - i < SEND_CHUNK {
                j += 1;
            }
            let (ok, failed) = self.send_run(i, j);
            sent += ok;
            self.dropped += failed;
            i = j;
        }
        self.entries.clear();
        self.data.clear();
        sent
    }

    /// `sendmmsg` of entries `from..to` (same socket); returns (sent, dropped).
    fn send_run(&mut self, from: usize, to: usize) -> (u64, u64) {
        let n = to - from;
        let mut addrs: [MaybeUninit<libc::sockaddr_in>; SEND_CHUNK] =
            [MaybeUninit::uninit(); SEND_CHUNK];
        let mut iovs: [MaybeUninit<libc::iovec>; SEND_CHUNK] = [MaybeUninit::uninit(); SEND_CHUNK];
        // SAFETY: an all-zero mmsghdr is a valid empty header.
        let mut hdrs: [libc::mmsghdr; SEND_CHUNK] = unsafe { std::mem::zeroed() };
        for (k, e) in self.entries[from..to].iter().enumerate() {
            addrs[k].write(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: e.to.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*e.to.ip()).to_be(),
                },
                sin_zero: [0; 8],
            });
            iovs[k].write(libc::iovec {
                // sendmmsg only reads the buffer; iovec just has no const pointer.
                iov_base: self.data.as_ptr().wrapping_add(e.start) as *mut libc::c_void,
                iov_len: e.len,
            });
            hdrs[k].msg_hdr.msg_name = addrs[k].as_mut_ptr().cast();
            hdrs[k].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            hdrs[k].msg_hdr.msg_iov = iovs[k].as_mut_ptr();
            hdrs[k].msg_hdr.msg_iovlen = 1;
        }
        let fd = self.entries[from].fd;
        let mut done = 0usize;
        // A few retries for a partial send; a full buffer (EAGAIN) drops the rest, as a
        // congested network would.
        for _ in 0..4 {
            if done == n {
                break;
            }
            // SAFETY: hdrs[done..n] point into `addrs`, `iovs` and `self.data`, all alive
            // and initialised for those entries.
            let r = unsafe { libc::sendmmsg(fd, hdrs[done..].as_mut_ptr(), (n - done) as u32, 0) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // EAGAIN, or the peer's port is gone (ECONNREFUSED from an ICMP error):
                // skip one datagram and go on with the others.
                done += 1;
                continue;
            }
            done += r as usize;
        }
        let sent = done.min(n);
        (sent as u64, (n - sent) as u64)
    }
}

/// Level-triggered epoll over the generator's sockets, each registered with a token.
pub struct Epoll {
    fd: RawFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new(capacity: usize) -> Result<Epoll> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            bail!("epoll_create1: {}", io::Error::last_os_error());
        }
        Ok(Epoll {
            fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
        })
    }

    pub fn add(&self, fd: RawFd, token: u64) -> Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both fds are open; `ev` outlives the call.
        let r = unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            bail!("epoll_ctl ADD: {}", io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` (rounded up to whole milliseconds, at most 100 ms) and
    /// returns the tokens of the ready fds.
    pub fn wait(&mut self, timeout: Duration, ready: &mut Vec<u64>) -> Result<()> {
        ready.clear();
        let ms = timeout.as_micros().div_ceil(1000).min(100) as i32;
        // SAFETY: `events` has `len` writable entries.
        let n = unsafe {
            libc::epoll_wait(
                self.fd,
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            bail!("epoll_wait: {e}");
        }
        ready.extend(self.events[..n as usize].iter().map(|e| e.u64));
        Ok(())
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.fd) };
    }
}

/// Waits until one of `fds` is readable or `timeout` passes (the servers' two fds).
pub fn poll_readable(fds: &[RawFd], timeout: Duration) {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_micros().div_ceil(1000).min(100) as i32;
    // SAFETY: `pfds` is a valid array of its length.
    unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
}

/// Raises RLIMIT_NOFILE's soft limit to the hard limit: thousands of sessions are
/// thousands of sockets, in the generator and in mediaflow (one socket per endpoint).
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

/// A child dies with its parent (the runner), however the parent ends.
pub fn die_with_parent() {
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
}
