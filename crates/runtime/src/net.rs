//! What a worker's network looks like to its tasks: sockets named by [`SocketId`], owned
//! by one task each. Two implementations: real UDP sockets (`udp.rs`) and an in-memory
//! network on virtual time (`virtual_net.rs`).

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

/// A socket of a task, valid until the task closes it or is removed. Ids are not
/// reused while the worker runs, so a stale id names nothing rather than another socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl std::fmt::Display for SocketId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "socket {}.{}", self.index, self.generation)
    }
}

/// A worker's sockets. Every call names the task making it: a task can only use and
/// close its own sockets.
pub(crate) trait Network {
    fn bind(
        &mut self,
        owner: u64,
        ip: IpAddr,
        range: Option<(u16, u16)>,
    ) -> io::Result<(SocketId, SocketAddr)>;
    /// A TCP listener whose connections carry RFC 4571 frames; frames arrive as
    /// datagrams of the listener, and `send_to` the listener reaches the peer's
    /// connection.
    fn listen_tcp(
        &mut self,
        owner: u64,
        ip: IpAddr,
        range: Option<(u16, u16)>,
    ) -> io::Result<(SocketId, SocketAddr)>;
    /// A binding of `owner` on the runtime's shared socket for `ip`, if there is one.
    fn bind_shared(&mut self, owner: u64, ip: IpAddr) -> Option<(SocketId, SocketAddr)>;
    /// Datagrams of a shared socket whose STUN USERNAME names `ufrag` go to this binding.
    fn set_ice_ufrag(&mut self, owner: u64, socket: SocketId, ufrag: &str);
    fn send_to(
        &mut self,
        owner: u64,
        socket: SocketId,
        peer: SocketAddr,
        data: &[u8],
    ) -> io::Result<()>;
    fn close(&mut self, owner: u64, socket: SocketId);
    /// Closes every socket of a task that is going away.
    fn close_all(&mut self, owner: u64);
}

/// Binds a UDP socket on `ip`, on the first free port of `range` (inclusive), or on any
/// port when `range` is `None`.
pub fn bind_udp(ip: IpAddr, range: Option<(u16, u16)>) -> io::Result<UdpSocket> {
    let Some((min, max)) = range else {
        return UdpSocket::bind(SocketAddr::new(ip, 0));
    };
    for port in min..=max {
        match UdpSocket::bind(SocketAddr::new(ip, port)) {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("no free UDP port in {min}-{max} on {ip}"),
    ))
}

pub(crate) fn not_ours(socket: SocketId) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{socket} is not a socket of this task"),
    )
}

/// Slots of a socket table with generation-checked ids, shared by both networks.
pub(crate) struct Slots<S> {
    slots: Vec<Slot<S>>,
    free: Vec<u32>,
}

struct Slot<S> {
    generation: u32,
    entry: Option<(u64, S)>,
}

impl<S> Default for Slots<S> {
    fn default() -> Self {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<S> Slots<S> {
    /// The id the next `insert` will return.
    pub(crate) fn next_id(&self) -> SocketId {
        match self.free.last() {
            Some(&index) => SocketId {
                index,
                generation: self.slots[index as usize].generation,
            },
            None => SocketId {
                index: u32::try_from(self.slots.len()).unwrap_or(u32::MAX),
                generation: 0,
            },
        }
    }

    pub(crate) fn insert(&mut self, owner: u64, socket: S) -> SocketId {
        let id = self.next_id();
        match self.free.pop() {
            Some(index) => self.slots[index as usize].entry = Some((owner, socket)),
            None => self.slots.push(Slot {
                generation: 0,
                entry: Some((owner, socket)),
            }),
        }
        id
    }

    /// The socket at `index` whatever its generation (readiness events carry indexes).
    pub(crate) fn by_index(&self, index: usize) -> Option<(SocketId, u64, &S)> {
        let slot = self.slots.get(index)?;
        let (owner, socket) = slot.entry.as_ref()?;
        let id = SocketId {
            index: index as u32,
            generation: slot.generation,
        };
        Some((id, *owner, socket))
    }

    pub(crate) fn get(&self, owner: u64, id: SocketId) -> Option<&S> {
        let slot = self.slots.get(id.index as usize)?;
        match &slot.entry {
            Some((o, s)) if *o == owner && slot.generation == id.generation => Some(s),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, owner: u64, id: SocketId) -> Option<&mut S> {
        let slot = self.slots.get_mut(id.index as usize)?;
        match &mut slot.entry {
            Some((o, s)) if *o == owner && slot.generation == id.generation => Some(s),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, owner: u64, id: SocketId) -> Option<S> {
        self.get(owner, id)?;
        let slot = &mut self.slots[id.index as usize];
        let (_, socket) = slot.entry.take()?;
        // A new generation: a stale id held somewhere names nothing.
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        Some(socket)
    }

    pub(crate) fn owned_by(&self, owner: u64) -> Vec<SocketId> {
        (0..self.slots.len())
            .filter_map(|i| self.by_index(i))
            .filter(|(_, o, _)| *o == owner)
            .map(|(id, _, _)| id)
            .collect()
    }
}
