//! What the generator and the systems under test share: the control protocol, the
//! probe payload, /proc sampling, and the few bytes of STUN and RTP the one-socket
//! servers read to demultiplex.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// One line of newline-delimited JSON from the generator to a SUT.
///
/// `offer` (with the generator's candidates) asks for a WebRTC session; `raw` asks the
/// raw SRTP loop where to send (it keys its contexts with the fixed keys below).
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Request {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub raw: bool,
}

/// The SUT's answer to a [`Request`]: an SDP answer and candidates, or the raw loop's
/// address, or an error.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Response {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    pub fn error(id: u64, e: impl std::fmt::Display) -> Response {
        Response {
            id,
            error: Some(format!("{e:#}")),
            ..Default::default()
        }
    }
}

/// A nonblocking newline-delimited JSON connection, for loops that also serve UDP.
pub struct LineConn {
    pub stream: TcpStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    pub closed: bool,
}

impl LineConn {
    pub fn new(stream: TcpStream) -> Result<LineConn> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        Ok(LineConn {
            stream,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            closed: false,
        })
    }

    /// Reads what is there and returns the complete lines.
    pub fn read_lines(&mut self) -> Vec<String> {
        let mut chunk = [0u8; 16384];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.closed = true;
                    break;
                }
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
        }
        let mut lines = Vec::new();
        while let Some(pos) = self.rbuf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.rbuf.drain(..=pos).collect();
            lines.push(String::from_utf8_lossy(&line[..pos]).into_owned());
        }
        lines
    }

    pub fn send<T: Serialize>(&mut self, msg: &T) -> Result<()> {
        serde_json::to_writer(&mut self.wbuf, msg)?;
        self.wbuf.push(b'\n');
        self.flush();
        Ok(())
    }

    /// Writes what the socket takes now; the rest waits for the next call.
    pub fn flush(&mut self) {
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(0) => {
                    self.closed = true;
                    return;
                }
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }
}

/// Master keys of the raw SRTP loop (AEAD_AES_128_GCM: 16-byte key, 12-byte salt), one
/// per direction so that the two directions of one SSRC never share a keystream.
pub const RAW_KEY_UP: [u8; 16] = *b"mediaflow-load-u";
pub const RAW_SALT_UP: [u8; 12] = *b"salt-upwards";
pub const RAW_KEY_DOWN: [u8; 16] = *b"mediaflow-load-d";
pub const RAW_SALT_DOWN: [u8; 12] = *b"salt-downwrd";

/// The probe the generator puts at the start of every RTP payload, after two bytes that
/// make it look like its codec (a VP8 payload descriptor and keyframe header byte, or an
/// Opus TOC byte and padding): magic, session, sequence, send time.
pub const MAGIC: u32 = 0x4d46_4c42; // "MFLB"
pub const PROBE_OFFSET: usize = 2;
pub const PROBE_LEN: usize = 4 + 4 + 8 + 8;

pub struct Probe {
    pub session: u32,
    pub seq: u64,
    /// Nanoseconds since the generator's epoch.
    pub sent_ns: u64,
}

pub fn write_probe(payload: &mut [u8], video: bool, probe: &Probe) {
    if payload.len() < PROBE_OFFSET + PROBE_LEN {
        return;
    }
    // VP8: descriptor with S=1 (start of partition), then a keyframe's first byte.
    // Opus: TOC of a 20 ms SILK frame.
    payload[0] = if video { 0x10 } else { 0x78 };
    payload[1] = 0;
    let p = &mut payload[PROBE_OFFSET..PROBE_OFFSET + PROBE_LEN];
    p[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    p[4..8].copy_from_slice(&probe.session.to_be_bytes());
    p[8..16].copy_from_slice(&probe.seq.to_be_bytes());
    p[16..24].copy_from_slice(&probe.sent_ns.to_be_bytes());
}

pub fn read_probe(payload: &[u8]) -> Option<Probe> {
    let p = payload.get(PROBE_OFFSET..PROBE_OFFSET + PROBE_LEN)?;
    let word = |r: std::ops::Range<usize>| -> u64 {
        p[r].iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    };
    if word(0..4) as u32 != MAGIC {
        return None;
    }
    Some(Probe {
        session: word(4..8) as u32,
        seq: word(8..16),
        sent_ns: word(16..24),
    })
}

/// The payload of a plain RTP packet (past CSRCs and header extension), if it is one.
pub fn rtp_payload(packet: &[u8]) -> Option<&[u8]> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(packet[0] & 0x0f);
    let mut offset = 12 + 4 * cc;
    if packet[0] & 0x10 != 0 {
        let ext = packet.get(offset..offset + 4)?;
        offset += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
    }
    let mut end = packet.len();
    if packet[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*packet.last()?))?;
    }
    packet.get(offset..end)
}

/// The server's ufrag in a STUN Binding request's USERNAME ("server:client"): how a
/// one-socket server finds the session of a datagram from an address it has not seen.
/// Which session of a one-socket echo server a datagram belongs to: by sender address,
/// learned from the first STUN check naming the session's ufrag.
#[derive(Default)]
pub struct Demux {
    by_addr: std::collections::HashMap<std::net::SocketAddr, usize>,
    by_ufrag: std::collections::HashMap<String, usize>,
}

impl Demux {
    /// Checks naming `ufrag` (and then their senders) belong to session `idx`.
    pub fn register(&mut self, ufrag: String, idx: usize) {
        self.by_ufrag.insert(ufrag, idx);
    }

    /// The session of a datagram from `source`, if any.
    pub fn session_of(&mut self, source: std::net::SocketAddr, data: &[u8]) -> Option<usize> {
        if let Some(&idx) = self.by_addr.get(&source) {
            return Some(idx);
        }
        let idx = *self.by_ufrag.get(stun_server_ufrag(data)?)?;
        self.by_addr.insert(source, idx);
        Some(idx)
    }
}

pub fn stun_server_ufrag(datagram: &[u8]) -> Option<&str> {
    if datagram.len() < 20 || datagram[0] > 3 || datagram[4..8] != [0x21, 0x12, 0xa4, 0x42] {
        return None;
    }
    let mut rest = &datagram[20..];
    while rest.len() >= 4 {
        let typ = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let value = rest.get(4..4 + len)?;
        if typ == 0x0006 {
            let username = std::str::from_utf8(value).ok()?;
            return username.split(':').next();
        }
        rest = rest.get(4 + len.div_ceil(4) * 4..)?;
    }
    None
}

/// `a=ice-ufrag:` of an SDP (the first one; BUNDLE makes them all equal).
pub fn sdp_ufrag(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
        .map(str::to_owned)
}

/// CPU time, memory and threads of a process, from /proc.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct ProcSample {
    /// utime + stime, seconds.
    pub cpu_s: f64,
    pub rss_kb: u64,
    pub threads: u64,
}

pub fn proc_sample(pid: u32) -> Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc/<pid>/stat format")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) else {
        bail!("short /proc/{pid}/stat");
    };
    let ticks: u64 = utime.parse::<u64>()? + stime.parse::<u64>()?;
    // SAFETY: plain sysconf.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(ProcSample {
        cpu_s: ticks as f64 / hz,
        rss_kb: field("VmRSS:"),
        threads: field("Threads:"),
    })
}

/// Busy CPU-seconds of the whole machine since boot (all cores, /proc/stat), to tell
/// when the host itself is saturated: loopback traffic also costs softirq time that
/// neither process is charged for.
pub fn host_busy_s() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("no cpu line in /proc/stat")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy: u64 = v.iter().take(8).sum::<u64>()
        - v.get(3).copied().unwrap_or(0)
        - v.get(4).copied().unwrap_or(0);
    // SAFETY: plain sysconf.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(busy as f64 / hz)
}
