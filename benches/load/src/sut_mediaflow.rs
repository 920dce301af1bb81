//! SUT: mediaflow's Hello World, N times in one process. Each offer gets a
//! MediaPipeline with one WebRtcEndpoint connected to itself, answered the way a
//! Kurento application does it: process_offer, gather_candidates, candidates from
//! on_ice_candidate_found until IceGatheringDone. Everything after that is mediaflow's
//! own threads; this process only keeps the handles alive.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mediaflow::{IceCandidate, MediaPipeline, Runtime, WebRtcEndpoint};
use std::sync::mpsc::{self, RecvTimeoutError};

use crate::common::{Request, Response};

/// Host candidates only, so gathering ends at once; this bounds the wait if it does not.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);

enum Gathered {
    Candidate(String),
    Done,
}

/// Serves the generator's requests; with `shared_port` every endpoint is on one UDP port
/// of the runtime (mediaflow's `shared_udp_port`), else each has its own.
pub fn serve(listener: TcpListener, lifetime: Duration, shared_port: bool) -> Result<()> {
    let started = Instant::now();
    let runtime = runtime(shared_port)?;
    listener.set_nonblocking(false)?;
    let (stream, _) = listener
        .accept()
        .context("accepting the control connection")?;
    stream.set_nodelay(true)?;
    // The generator closes the connection when it is done; the read timeout only bounds
    // a generator that vanished without closing.
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut calls: Vec<(MediaPipeline, WebRtcEndpoint)> = Vec::new();
    let mut line = String::new();
    while started.elapsed() < lifetime {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e).context("reading the control connection"),
        }
        let resp = match serde_json::from_str::<Request>(line.trim()) {
            Ok(req) => match open(&req, &runtime) {
                Ok((resp, call)) => {
                    calls.push(call);
                    resp
                }
                Err(e) => Response::error(req.id, e),
            },
            Err(e) => Response::error(0, format!("bad request: {e}")),
        };
        serde_json::to_writer(&mut writer, &resp)?;
        writer.write_all(b"\n")?;
    }
    // Releasing thousands of pipelines is not what is measured; the process exits and
    // the kernel closes every socket and thread at once.
    eprintln!("mediaflow SUT: {} sessions, exiting", calls.len());
    Ok(())
}

/// The runtime every session goes on: the default one, or one built for a shared port or
/// the settings asked for.
fn runtime(shared: bool) -> Result<Runtime> {
    // LOADBENCH_MIN_WAKE_US=N: the runtime's `min_wake_interval`, for comparing.
    let wake = std::env::var("LOADBENCH_MIN_WAKE_US")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_micros);
    // LOADBENCH_WORKERS=N: the runtime's worker threads (default: the cores).
    let workers = std::env::var("LOADBENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    if !shared && wake.is_none() && workers.is_none() {
        return Ok(Runtime::global()?);
    }
    let mut b = Runtime::builder();
    if let Some(n) = workers {
        b = b.workers(n);
    }
    if shared {
        b = b.shared_udp_port(0)?;
    }
    if let Some(w) = wake {
        b = b.min_wake_interval(w);
    }
    Ok(b.build()?)
}

fn open(req: &Request, runtime: &Runtime) -> Result<(Response, (MediaPipeline, WebRtcEndpoint))> {
    let offer = req.offer.as_deref().context("no offer in the request")?;
    let pipeline = MediaPipeline::builder()
        .runtime(runtime)
        .build()
        .context("MediaPipeline::new")?;
    let built = (|| -> Result<(Response, WebRtcEndpoint)> {
        let endpoint = WebRtcEndpoint::builder(&pipeline)
            .network_interfaces(["lo"])
            .build()
            .context("WebRtcEndpoint")?;
        endpoint.connect(&endpoint).context("connect to itself")?;
        let (tx, rx) = mpsc::channel();
        let found = tx.clone();
        endpoint.on_ice_candidate_found(move |e| {
            let _ = found.send(Gathered::Candidate(e.candidate.candidate.clone()));
        })?;
        endpoint.on_ice_gathering_done(move |_| {
            let _ = tx.send(Gathered::Done);
        })?;
        let answer = endpoint.process_offer(offer).context("process_offer")?;
        if !offer.contains("a=candidate") {
            let mid = offer
                .lines()
                .find_map(|l| l.trim().strip_prefix("a=mid:"))
                .unwrap_or("0")
                .to_owned();
            for c in &req.candidates {
                endpoint.add_ice_candidate(IceCandidate {
                    candidate: c.clone(),
                    sdp_mid: mid.clone(),
                    sdp_m_line_index: 0,
                })?;
            }
        }
        endpoint.gather_candidates().context("gather_candidates")?;
        let deadline = Instant::now() + GATHER_TIMEOUT;
        let mut candidates = Vec::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Gathered::Candidate(c)) => candidates.push(c),
                Ok(Gathered::Done) => break,
                Err(RecvTimeoutError::Timeout) if !candidates.is_empty() => break,
                Err(_) => bail!("no candidate within {GATHER_TIMEOUT:?}"),
            }
        }
        Ok((
            Response {
                id: req.id,
                answer: Some(answer),
                candidates,
                ..Default::default()
            },
            endpoint,
        ))
    })();
    match built {
        Ok((resp, endpoint)) => Ok((resp, (pipeline, endpoint))),
        Err(e) => {
            // Its threads and sockets go now, not at exit.
            let _ = pipeline.release();
            Err(e)
        }
    }
}
