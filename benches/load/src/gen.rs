//! The load generator: one thread, one socket per session (a one-socket SUT tells
//! sessions apart by the 5-tuple, so the generator's side of it must differ), str0m
//! clients in RTP mode for the WebRTC SUTs and bare rtc-srtp contexts for the raw loop.
//! It paces 1200-byte VP8-like and 160-byte Opus-like RTP with a probe (session,
//! sequence, send time) in each payload, and measures what comes back.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use quinn_udp::UdpSocketState;
use rtc_srtp::context::Context as SrtpContext;
use serde::{Deserialize, Serialize};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::config::DtlsCert;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use crate::common::{
    host_busy_s, proc_sample, read_probe, rtp_payload, write_probe, LineConn, Probe, ProcSample,
    Request, Response, RAW_KEY_DOWN, RAW_KEY_UP, RAW_SALT_DOWN, RAW_SALT_UP,
};
use crate::serve::Timers;
use crate::udp::{bind_loopback, socket_state, Epoll, Receiver, SendBatch};

/// What one generator run does against one SUT; the runner hands it over as JSON.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Plan {
    pub control: String,
    pub sut_pid: u32,
    /// Pre-keyed SRTP against the raw loop instead of WebRTC sessions.
    pub raw: bool,
    pub sessions: usize,
    pub video_pps: f64,
    pub audio_pps: f64,
    /// Stop sending once a session's first echo came back (connected, idle sessions).
    pub idle: bool,
    /// Offers waiting for an answer at once.
    pub setup_concurrency: usize,
    pub setup_timeout_s: f64,
    pub warmup_s: f64,
    pub measure_s: f64,
    pub drain_s: f64,
}

/// What the generator measured; printed as one JSON line.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Outcome {
    pub requested: usize,
    pub answered: usize,
    /// Sessions whose first packet came back.
    pub echoing: usize,
    pub setup_p50_ms: Option<f64>,
    pub setup_p90_ms: Option<f64>,
    /// Packets sent in the measurement window, and how many of those came back.
    pub sent: u64,
    pub echoed: u64,
    pub loss_pct: Option<f64>,
    pub rtt_p50_ms: Option<f64>,
    pub rtt_p99_ms: Option<f64>,
    /// Echoes that arrived within the window (what the SUT forwarded meanwhile).
    pub forwarded: u64,
    pub window_s: f64,
    pub sut_cpu_s: f64,
    /// The SUT before the first session and at the end of the window.
    pub sut_before: ProcSample,
    /// `sut_before` was sampled with one session already echoing (see `Phase::Prime`).
    #[serde(default)]
    pub primed: bool,
    pub sut_after: ProcSample,
    pub gen_cpu_s: f64,
    /// Busy CPU-seconds of the whole machine over the window (2 cores: at most 2x).
    pub host_busy_s: f64,
    /// Send slots the generator missed because it ran late (it is then a bottleneck).
    pub skipped_slots: u64,
    pub max_late_ms: f64,
    pub send_drops: u64,
    pub misrouted: u64,
    pub errors: Vec<String>,
}

/// Slots later than this are skipped rather than sent in a burst.
const MAX_LATE: Duration = Duration::from_millis(20);
/// Packets of one stream sent per wake-up at most (a 100k packets/s stream needs ~100
/// per millisecond).
const MAX_BURST: usize = 512;
const CONTROL_TOKEN: u64 = u64::MAX;
const VIDEO_LEN: usize = 1200;
const AUDIO_LEN: usize = 160;

#[derive(Default)]
struct Stream {
    ssrc: u32,
    pt: u8,
    mid: Option<Mid>,
    interval: Duration,
    next_at: Option<Instant>,
    seq: u64,
    ts: u32,
    ts_step: u32,
}

enum Client {
    Str0m {
        rtc: Box<Rtc>,
        pending: Option<SdpPendingOffer>,
    },
    Raw {
        up: Box<SrtpContext>,
        down: Box<SrtpContext>,
        to: Option<SocketAddr>,
    },
}

struct Session {
    id: u32,
    socket: UdpSocket,
    state: UdpSocketState,
    local: SocketAddr,
    client: Client,
    offer_at: Instant,
    answered: bool,
    first_echo: Option<Instant>,
    video: Stream,
    audio: Stream,
    dead: bool,
}

#[derive(PartialEq)]
enum Phase {
    /// One session first, echoing for `PRIME` before the SUT's memory is sampled: the
    /// code pages, buffers and queues a SUT touches once are then in the baseline, and
    /// `KB/sess` is what each further session adds.
    Prime(Option<Instant>),
    Setup,
    Warmup(Instant),
    Measure(Instant),
    Drain(Instant),
}

struct Gen {
    plan: Plan,
    epoch: Instant,
    sessions: Vec<Session>,
    send_heap: BinaryHeap<Reverse<(Instant, usize, bool)>>,
    timers: Timers,
    out: SendBatch,
    window: Option<(Instant, Instant)>,
    rtts_us: Vec<u32>,
    o: Outcome,
    cert: Option<DtlsCert>,
    provider: Option<Arc<dyn rtc_srtp::crypto::RTCCryptoProvider>>,
}

/// How long the first session echoes before the SUT's baseline memory is sampled.
const PRIME: Duration = Duration::from_secs(1);

/// Latency samples kept at most (memory bound; 100k packets/s for 10 s fits).
const MAX_SAMPLES: usize = 4_000_000;

pub fn run(plan: Plan) -> Result<Outcome> {
    crate::udp::raise_fd_limit();
    let mut conn = LineConn::new(
        std::net::TcpStream::connect(&plan.control)
            .with_context(|| format!("connecting to the SUT's control at {}", plan.control))?,
    )?;
    let mut epoll = Epoll::new(1024)?;
    epoll.add(conn.stream.as_raw_fd(), CONTROL_TOKEN)?;
    let gen_pid = std::process::id();
    let gen_start = proc_sample(gen_pid)?;
    let mut g = Gen {
        epoch: Instant::now(),
        sessions: Vec::with_capacity(plan.sessions),
        send_heap: BinaryHeap::new(),
        timers: Timers::default(),
        out: SendBatch::default(),
        window: None,
        rtts_us: Vec::new(),
        o: Outcome {
            requested: plan.sessions,
            sut_before: proc_sample(plan.sut_pid)?,
            ..Default::default()
        },
        // One certificate for every client: generating one per session would make the
        // generator's own setup cost grow with N.
        cert: if plan.raw {
            None
        } else {
            Some(
                str0m::crypto::from_feature_flags()
                    .dtls_provider
                    .generate_certificate()
                    .context("generating the clients' DTLS certificate")?,
            )
        },
        provider: if plan.raw {
            Some(rtc_srtp::crypto::default_provider().map_err(|e| anyhow!("{e}"))?)
        } else {
            None
        },
        plan,
    };
    let mut rx = Receiver::new();
    let mut ready = Vec::new();
    let mut inflight = 0usize;
    let setup_deadline = g.epoch + Duration::from_secs_f64(g.plan.setup_timeout_s);
    let mut phase = if g.plan.sessions > 1 {
        Phase::Prime(None)
    } else {
        Phase::Setup
    };
    let mut gen_window_start = gen_start;
    let mut sut_window_start = g.o.sut_before;
    let mut host_window_start = 0.0;
    loop {
        let now = Instant::now();
        // Phases: setup until every session echoes (or the deadline), warm-up, the
        // measurement window, then a drain for the echoes still in flight.
        match phase {
            Phase::Prime(None) if g.o.echoing > 0 => phase = Phase::Prime(Some(now + PRIME)),
            Phase::Prime(Some(until)) if now >= until => {
                g.o.sut_before = proc_sample(g.plan.sut_pid)?;
                g.o.primed = true;
                phase = Phase::Setup;
            }
            Phase::Prime(_) if now >= setup_deadline => phase = Phase::Setup,
            Phase::Setup if g.o.echoing == g.plan.sessions || now >= setup_deadline => {
                phase = Phase::Warmup(now + Duration::from_secs_f64(g.plan.warmup_s));
            }
            Phase::Warmup(until) if now >= until => {
                let end = now + Duration::from_secs_f64(g.plan.measure_s);
                g.window = Some((now, end));
                gen_window_start = proc_sample(gen_pid)?;
                sut_window_start = proc_sample(g.plan.sut_pid)?;
                host_window_start = host_busy_s()?;
                phase = Phase::Measure(end);
            }
            Phase::Measure(end) if now >= end => {
                let sut = proc_sample(g.plan.sut_pid)?;
                let me = proc_sample(gen_pid)?;
                g.o.sut_cpu_s = sut.cpu_s - sut_window_start.cpu_s;
                g.o.gen_cpu_s = me.cpu_s - gen_window_start.cpu_s;
                g.o.host_busy_s = host_busy_s()? - host_window_start;
                g.o.sut_after = sut;
                g.o.window_s = g.plan.measure_s;
                g.send_heap.clear(); // no new packets: only echoes still on their way
                phase = Phase::Drain(now + Duration::from_secs_f64(g.plan.drain_s));
            }
            Phase::Drain(until) if now >= until => break,
            _ => {}
        }
        // Control: keep `setup_concurrency` offers outstanding, read answers.
        let opening = match phase {
            Phase::Prime(_) => 1,
            Phase::Setup => g.plan.sessions,
            _ => 0,
        };
        while inflight < g.plan.setup_concurrency.max(1) && g.sessions.len() < opening {
            match g.open(&epoll, now) {
                Ok(req) => {
                    conn.send(&req)?;
                    inflight += 1;
                }
                Err(e) => {
                    g.error(format!("opening session {}: {e:#}", g.sessions.len()));
                    break;
                }
            }
        }
        for line in conn.read_lines() {
            inflight = inflight.saturating_sub(1);
            match serde_json::from_str::<Response>(&line) {
                Ok(resp) => g.answer(resp, Instant::now()),
                Err(e) => g.error(format!("bad response: {e}")),
            }
        }
        conn.flush();
        if conn.closed {
            bail!("the SUT closed the control connection");
        }
        // Network: wait until the next send slot or timer, read what is ready.
        let next = [
            g.send_heap.peek().map(|Reverse((t, _, _))| *t),
            g.timers.next(),
        ]
        .into_iter()
        .flatten()
        .min();
        let wait = next.map_or(Duration::from_millis(5), |t| {
            t.saturating_duration_since(Instant::now())
        });
        epoll.wait(wait.min(Duration::from_millis(5)), &mut ready)?;
        for &token in &ready {
            if token == CONTROL_TOKEN {
                continue;
            }
            let idx = token as usize;
            let now = Instant::now();
            let Some(s) = g.sessions.get(idx) else {
                continue;
            };
            // Level-triggered: one batch per socket per round keeps sessions fair.
            rx.recv(&s.state, &s.socket).context("receiving")?;
            for (src, d) in rx.datagrams() {
                g.datagram(idx, now, src, d);
            }
        }
        let now = Instant::now();
        g.due_sends(now);
        for _ in 0..4096 {
            let Some(idx) = g.timers.pop_due(now) else {
                break;
            };
            g.timeout(idx, now);
        }
        g.out.flush();
    }
    g.finish();
    Ok(g.o)
}

/// LOADBENCH_DEBUG=1 prints each client's connection events with their time since the
/// offer (where setup time goes).
fn debug() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LOADBENCH_DEBUG").is_some())
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(i).copied()
}

impl Gen {
    fn error(&mut self, e: String) {
        if self.o.errors.len() < 10 {
            self.o.errors.push(e);
        }
    }

    /// A new session: its socket, its client, and the request for the SUT.
    fn open(&mut self, epoll: &Epoll, now: Instant) -> Result<Request> {
        let idx = self.sessions.len();
        // Big buffers only for the single-session high-rate runs; thousands of
        // sessions at 150 packets/s each are fine with the default.
        let buffers = if self.plan.sessions == 1 { 4 << 20 } else { 0 };
        let socket = bind_loopback(buffers)?;
        let local = socket.local_addr()?;
        let state = socket_state(&socket)?;
        epoll.add(socket.as_raw_fd(), idx as u64)?;
        let id = idx as u32;
        let (client, req, video, audio) = if self.plan.raw {
            let provider = self.provider.as_deref().context("no SRTP provider")?;
            let up = crate::sut_raw::context(provider, &RAW_KEY_UP, &RAW_SALT_UP)?;
            let down = crate::sut_raw::context(provider, &RAW_KEY_DOWN, &RAW_SALT_DOWN)?;
            (
                Client::Raw {
                    up: Box::new(up),
                    down: Box::new(down),
                    to: None,
                },
                Request {
                    id: idx as u64,
                    raw: true,
                    ..Default::default()
                },
                Stream::default(),
                Stream::default(),
            )
        } else {
            let mut config = Rtc::builder()
                .set_rtp_mode(true)
                .clear_codecs()
                .enable_opus(true, false)
                .enable_vp8(true);
            if let Some(cert) = &self.cert {
                config = config.set_dtls_cert(cert.clone());
            }
            let mut rtc = config.build(now);
            let host = Candidate::host(local, "udp").context("host candidate")?;
            let line = host.to_sdp_string();
            rtc.add_local_candidate(host);
            let mut change = rtc.sdp_api();
            let audio = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
            let video = change.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
            let (offer, pending) = change.apply().context("no offer from str0m")?;
            let stream = |mid: Mid| Stream {
                mid: Some(mid),
                ..Default::default()
            };
            let req = Request {
                id: idx as u64,
                offer: Some(offer.to_sdp_string()),
                candidates: vec![line],
                ..Default::default()
            };
            let client = Client::Str0m {
                rtc: Box::new(rtc),
                pending: Some(pending),
            };
            (client, req, stream(video), stream(audio))
        };
        self.sessions.push(Session {
            id,
            socket,
            state,
            local,
            client,
            offer_at: now,
            answered: false,
            first_echo: None,
            video,
            audio,
            dead: false,
        });
        if !self.plan.raw {
            // The str0m client's first connectivity checks.
            self.drain(idx, now);
        }
        Ok(req)
    }

    fn answer(&mut self, resp: Response, now: Instant) {
        let idx = resp.id as usize;
        if let Some(e) = resp.error {
            self.error(format!("session {idx}: the SUT said: {e}"));
            return;
        }
        let Some(s) = self.sessions.get_mut(idx) else {
            return;
        };
        let result = match &mut s.client {
            Client::Raw { to, .. } => match resp.addr.as_deref().map(str::parse::<SocketAddr>) {
                Some(Ok(addr)) => {
                    *to = Some(addr);
                    Ok(true)
                }
                _ => Err(anyhow!("no address in the raw answer")),
            },
            Client::Str0m { rtc, pending } => (|| -> Result<bool> {
                let sdp = resp.answer.as_deref().context("no SDP answer")?;
                let answer = SdpAnswer::from_sdp_string(sdp).context("parsing the answer")?;
                let pending = pending.take().context("answer twice")?;
                rtc.sdp_api()
                    .accept_answer(pending, answer)
                    .context("accepting the answer")?;
                if !sdp.contains("a=candidate") {
                    for c in &resp.candidates {
                        rtc.add_remote_candidate(
                            Candidate::from_sdp_string(c).context("SUT candidate")?,
                        );
                    }
                }
                Ok(false)
            })(),
        };
        match result {
            Ok(raw) => {
                s.answered = true;
                self.o.answered += 1;
                if raw {
                    // Nothing to negotiate: media may flow at once.
                    self.start_streams(idx, now);
                } else {
                    self.drain(idx, now);
                }
            }
            Err(e) => {
                s.dead = true;
                self.error(format!("session {idx}: {e:#}"));
            }
        }
    }

    /// Starts pacing both streams of session `idx`, staggered so that sessions do not
    /// all send in the same millisecond.
    fn start_streams(&mut self, idx: usize, now: Instant) {
        let plan = &self.plan;
        let Some(s) = self.sessions.get_mut(idx) else {
            return;
        };
        if let Client::Str0m { rtc, .. } = &mut s.client {
            let config = rtc.codec_config();
            let pt = |codec: Codec| {
                config
                    .find(|p| p.spec().codec == codec)
                    .map(|p| *p.pt())
                    .unwrap_or(0)
            };
            s.video.pt = pt(Codec::Vp8);
            s.audio.pt = pt(Codec::Opus);
            for stream in [&mut s.video, &mut s.audio] {
                let ssrc = stream.mid.and_then(|mid| {
                    rtc.direct_api()
                        .stream_tx_by_mid(mid, None)
                        .map(|t| t.ssrc())
                });
                stream.ssrc = ssrc.map_or(0, |s| *s);
            }
        } else {
            s.video.pt = 96;
            s.audio.pt = 111;
            s.video.ssrc = 0x1000_0000 | s.id;
            s.audio.ssrc = 0x2000_0000 | s.id;
        }
        // In idle runs a session sends a little until its first echo, then nothing.
        let (video_pps, audio_pps) = if plan.idle {
            (10.0, 0.0)
        } else {
            (plan.video_pps, plan.audio_pps)
        };
        // Golden-ratio phases spread the sessions evenly over a packet interval.
        let phase = (f64::from(s.id) * 0.618_034).fract();
        for (stream, pps, step, video) in [
            (&mut s.video, video_pps, 3600u32, true),
            (&mut s.audio, audio_pps, 960u32, false),
        ] {
            if pps <= 0.0 || stream.next_at.is_some() {
                continue;
            }
            stream.interval = Duration::from_secs_f64(1.0 / pps);
            stream.ts_step = step;
            let at = now + stream.interval.mul_f64(phase);
            stream.next_at = Some(at);
            self.send_heap.push(Reverse((at, idx, video)));
        }
    }

    fn due_sends(&mut self, now: Instant) {
        for _ in 0..100_000 {
            let Some(&Reverse((at, idx, video))) = self.send_heap.peek() else {
                return;
            };
            if at > now {
                return;
            }
            self.send_heap.pop();
            let mut sent = 0;
            loop {
                let s = &mut self.sessions[idx];
                let stream = if video { &mut s.video } else { &mut s.audio };
                let Some(slot) = stream.next_at else { break };
                if slot > now || sent >= MAX_BURST {
                    break;
                }
                let late = now - slot;
                if late > MAX_LATE {
                    // Behind: count the missed slots and resume from now.
                    let missed = (late.as_secs_f64() / stream.interval.as_secs_f64()) as u64;
                    self.o.skipped_slots += missed;
                    self.o.max_late_ms = self.o.max_late_ms.max(late.as_secs_f64() * 1e3);
                    stream.next_at = Some(now);
                }
                stream.next_at = stream.next_at.map(|t| t + stream.interval);
                if s.dead || (self.plan.idle && s.first_echo.is_some()) {
                    stream.next_at = None;
                    break;
                }
                self.send_one(idx, video, now);
                sent += 1;
            }
            let s = &self.sessions[idx];
            let stream = if video { &s.video } else { &s.audio };
            if let Some(next) = stream.next_at {
                self.send_heap.push(Reverse((next, idx, video)));
            }
        }
    }

    fn send_one(&mut self, idx: usize, video: bool, now: Instant) {
        let in_window = self.in_window(now);
        let s = &mut self.sessions[idx];
        let fd = s.socket.as_raw_fd();
        let stream = if video { &mut s.video } else { &mut s.audio };
        let seq = stream.seq;
        stream.seq += 1;
        // A video frame is four packets (marker on the last); audio is a frame a packet.
        let marker = !video || seq % 4 == 3;
        let ts = stream.ts;
        if marker {
            stream.ts = stream.ts.wrapping_add(stream.ts_step);
        }
        let mut payload = vec![0u8; if video { VIDEO_LEN } else { AUDIO_LEN }];
        write_probe(
            &mut payload,
            video,
            &Probe {
                session: s.id,
                seq,
                sent_ns: (now - self.epoch).as_nanos() as u64,
            },
        );
        let (pt, ssrc, mid) = (stream.pt, stream.ssrc, stream.mid);
        match &mut s.client {
            Client::Str0m { rtc, .. } => {
                let Some(mid) = mid else { return };
                let mut api = rtc.direct_api();
                let Some(tx) = api.stream_tx_by_mid(mid, None) else {
                    return;
                };
                tx.write_rtp(
                    RtpWrite::new(Pt::from(pt), seq.into(), ts, now, payload).marker(marker),
                );
            }
            Client::Raw { up, to, .. } => {
                let Some(to) = *to else { return };
                let mut packet = Vec::with_capacity(12 + payload.len());
                packet.push(0x80);
                packet.push(pt | if marker { 0x80 } else { 0 });
                packet.extend_from_slice(&(seq as u16).to_be_bytes());
                packet.extend_from_slice(&ts.to_be_bytes());
                packet.extend_from_slice(&ssrc.to_be_bytes());
                packet.extend_from_slice(&payload);
                match up.encrypt_rtp(&packet) {
                    Ok(sealed) => self.out.push(fd, to, &sealed),
                    Err(_) => self.o.send_drops += 1,
                }
            }
        }
        if in_window {
            self.o.sent += 1;
        }
        if matches!(self.sessions[idx].client, Client::Str0m { .. }) {
            self.drain(idx, now);
        }
    }

    fn in_window(&self, t: Instant) -> bool {
        self.window.is_some_and(|(a, b)| t >= a && t < b)
    }

    fn datagram(&mut self, idx: usize, now: Instant, source: SocketAddr, data: &[u8]) {
        let s = &mut self.sessions[idx];
        match &mut s.client {
            Client::Str0m { rtc, .. } => {
                let Ok(r) = Receive::new(Protocol::Udp, source, s.local, data) else {
                    return;
                };
                if rtc.handle_input(Input::Receive(now, r)).is_ok() {
                    self.drain(idx, now);
                }
            }
            Client::Raw { down, .. } => {
                let Ok(plain) = down.decrypt_rtp(data) else {
                    return;
                };
                if let Some(payload) = rtp_payload(&plain) {
                    let payload = payload.to_vec();
                    self.echo(idx, &payload, now);
                }
            }
        }
    }

    fn timeout(&mut self, idx: usize, now: Instant) {
        if let Client::Str0m { rtc, .. } = &mut self.sessions[idx].client {
            if rtc.handle_input(Input::Timeout(now)).is_ok() {
                self.drain(idx, now);
            }
        }
    }

    /// Polls a str0m client to its next timeout: datagrams out, echoes in.
    fn drain(&mut self, idx: usize, now: Instant) {
        let mut echoes: Vec<std::sync::Arc<[u8]>> = Vec::new();
        let mut connected = false;
        {
            let s = &mut self.sessions[idx];
            let fd = s.socket.as_raw_fd();
            let Client::Str0m { rtc, .. } = &mut s.client else {
                return;
            };
            let mut immediate = 0;
            loop {
                let output = match rtc.poll_output() {
                    Ok(o) => o,
                    Err(_) => {
                        s.dead = true;
                        break;
                    }
                };
                match output {
                    Output::Timeout(t) => {
                        // A written packet waits for a timeout at "now" to be released.
                        if t <= now && immediate < 8 {
                            immediate += 1;
                            if rtc.handle_input(Input::Timeout(now)).is_err() {
                                s.dead = true;
                                break;
                            }
                            continue;
                        }
                        self.timers.set(idx, t.max(now), now);
                        break;
                    }
                    Output::Transmit(t) => self.out.push(fd, t.destination, &t.contents),
                    Output::Event(Event::Connected) => {
                        if debug() {
                            eprintln!(
                                "[gen] session {idx} +{:.1} ms: Connected",
                                (now - s.offer_at).as_secs_f64() * 1e3
                            );
                        }
                        connected = true;
                    }
                    Output::Event(Event::RtpPacket(p)) => echoes.push(p.payload),
                    Output::Event(e) if debug() => {
                        eprintln!(
                            "[gen] session {idx} +{:.1} ms: {e:?}",
                            (now - s.offer_at).as_secs_f64() * 1e3
                        );
                    }
                    Output::Event(Event::IceConnectionStateChange(
                        IceConnectionState::Disconnected,
                    )) => s.dead = true,
                    Output::Event(_) => {}
                }
            }
        }
        if connected {
            self.start_streams(idx, now);
        }
        for payload in echoes {
            self.echo(idx, &payload, now);
        }
    }

    fn echo(&mut self, idx: usize, payload: &[u8], now: Instant) {
        let Some(probe) = read_probe(payload) else {
            return;
        };
        let window = self.window;
        let in_window = self.in_window(now);
        let s = &mut self.sessions[idx];
        if probe.session != s.id {
            self.o.misrouted += 1;
            return;
        }
        if s.first_echo.is_none() {
            if debug() {
                eprintln!(
                    "[gen] session {idx} +{:.1} ms: first echo",
                    (now - s.offer_at).as_secs_f64() * 1e3
                );
            }
            s.first_echo = Some(now);
            self.o.echoing += 1;
        }
        let sent = self.epoch + Duration::from_nanos(probe.sent_ns);
        if let Some((a, b)) = window {
            if sent >= a && sent < b {
                self.o.echoed += 1;
                if self.rtts_us.len() < MAX_SAMPLES {
                    let rtt = now.saturating_duration_since(sent).as_micros();
                    self.rtts_us.push(rtt.min(u128::from(u32::MAX)) as u32);
                }
            }
        }
        if in_window {
            self.o.forwarded += 1;
        }
    }

    fn finish(&mut self) {
        let mut setup: Vec<f64> = self
            .sessions
            .iter()
            .filter_map(|s| s.first_echo.map(|t| (t - s.offer_at).as_secs_f64() * 1e3))
            .collect();
        setup.sort_by(f64::total_cmp);
        self.o.setup_p50_ms = percentile(&setup, 0.5);
        self.o.setup_p90_ms = percentile(&setup, 0.9);
        self.rtts_us.sort_unstable();
        let rtts: Vec<f64> = self.rtts_us.iter().map(|&u| f64::from(u) / 1e3).collect();
        self.o.rtt_p50_ms = percentile(&rtts, 0.5);
        self.o.rtt_p99_ms = percentile(&rtts, 0.99);
        if self.o.sent > 0 {
            let echoed = self.o.echoed.min(self.o.sent);
            self.o.loss_pct = Some(100.0 * (self.o.sent - echoed) as f64 / self.o.sent as f64);
        }
        self.o.send_drops += self.out.dropped;
    }
}
