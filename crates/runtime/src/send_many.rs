//! Datagrams to many peers on one UDP socket in one system call (`sendmmsg`).
//!
//! quinn-udp sends one destination per call (a run of same-size datagrams to it as one
//! GSO send). A worker's turn on a shared port sends to many peers on the same socket:
//! one `sendmsg` per datagram was the only per-packet system call left there.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use socket2::SockAddr;

/// Datagrams per `sendmmsg` call.
pub(crate) const MAX_BATCH: usize = 64;

/// Sends `count` (at most [`MAX_BATCH`]) datagrams on `fd`, the `k`-th to `datagram(k)`'s
/// peer. Best effort, as UDP is: a datagram the kernel refuses (full buffer, a peer's
/// port gone) is skipped and the others still go. Returns how many were refused.
pub(crate) fn send_many<'a>(
    fd: RawFd,
    count: usize,
    datagram: impl Fn(usize) -> (SocketAddr, &'a [u8]),
) -> u64 {
    let count = count.min(MAX_BATCH);
    // Only the first `count` entries are written and passed to the kernel: zeroing all
    // `MAX_BATCH` of each array was 14 KB of `memset` per call, more than the rest of
    // the call's user-space work (callgrind, one session at 1,000 packets/s).
    let mut addrs: [MaybeUninit<SockAddr>; MAX_BATCH] =
        [const { MaybeUninit::uninit() }; MAX_BATCH];
    let mut iovs: [MaybeUninit<libc::iovec>; MAX_BATCH] =
        [const { MaybeUninit::uninit() }; MAX_BATCH];
    let mut hdrs: [MaybeUninit<libc::mmsghdr>; MAX_BATCH] =
        [const { MaybeUninit::uninit() }; MAX_BATCH];
    for k in 0..count {
        let (peer, bytes) = datagram(k);
        let addr = addrs[k].write(SockAddr::from(peer));
        let iov = iovs[k].write(libc::iovec {
            // The kernel only reads it; `iovec` has no const pointer.
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        });
        // SAFETY: an all-zero `mmsghdr` is valid (null pointers, zero lengths).
        let hdr = hdrs[k].write(unsafe { std::mem::zeroed() });
        hdr.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
        hdr.msg_hdr.msg_namelen = addr.len();
        hdr.msg_hdr.msg_iov = iov;
        hdr.msg_hdr.msg_iovlen = 1;
    }
    let mut done = 0;
    let mut refused = 0;
    while done < count {
        // SAFETY: `hdrs[done..count]` were written above (`MaybeUninit<T>` has `T`'s
        // layout) and point into `addrs`, `iovs` and the callers' byte slices, all alive
        // and unmoved until this function returns.
        let sent = unsafe {
            libc::sendmmsg(
                fd,
                hdrs[done..].as_mut_ptr().cast::<libc::mmsghdr>(),
                (count - done) as libc::c_uint,
                0,
            )
        };
        if sent > 0 {
            done += sent as usize;
            continue;
        }
        let e = io::Error::last_os_error();
        if sent < 0 && e.kind() == io::ErrorKind::Interrupted {
            continue;
        }
        // The datagram at `done` was refused: skip it, send the rest.
        tracing::trace!("send failed: {e}");
        refused += 1;
        done += 1;
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    /// One call carries datagrams to several peers, each its own bytes; one to a port
    /// nobody listens on does not stop the others.
    #[test]
    fn one_call_reaches_every_peer() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let peers: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let closed = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut to: Vec<SocketAddr> = peers.iter().map(|p| p.local_addr().unwrap()).collect();
        to.insert(1, closed);
        let payloads: Vec<Vec<u8>> = (0..to.len()).map(|k| vec![k as u8; 10 + k]).collect();
        let refused = send_many(sender.as_raw_fd(), to.len(), |k| (to[k], &payloads[k]));
        assert!(refused <= 1, "{refused}");
        for (peer, k) in peers.iter().zip([0, 2, 3]) {
            peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 64];
            let (n, from) = peer.recv_from(&mut buf).unwrap();
            assert_eq!(from, sender.local_addr().unwrap());
            assert_eq!(&buf[..n], &payloads[k][..]);
        }
    }
}
