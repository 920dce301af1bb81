//! The runner: for each scenario and each SUT, a fresh SUT process and a fresh
//! generator process (this binary's hidden `sut` and `gen` subcommands), then one table.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;

use crate::gen::{Outcome, Plan};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SutKind {
    /// mediaflow's Hello World loopback, N pipelines in one process, each endpoint on
    /// its own UDP port (the default, Kurento's).
    Mediaflow,
    /// The same with every endpoint on one shared UDP port of the runtime (as the other
    /// SUTs use one socket).
    MediaflowShared,
    /// An echo server on str0m (RTP mode), one socket, one thread.
    Str0m,
    /// An echo server on webrtc-rs `rtc` 0.21.1, one socket, one thread.
    Rtc,
    /// recvmmsg + SRTP decrypt/encrypt + sendmmsg, pre-keyed, no WebRTC.
    Raw,
}

impl SutKind {
    pub fn name(self) -> &'static str {
        match self {
            SutKind::Mediaflow => "mediaflow",
            SutKind::MediaflowShared => "mediaflow-shared",
            SutKind::Str0m => "str0m",
            SutKind::Rtc => "rtc",
            SutKind::Raw => "raw",
        }
    }
}

/// What a scenario's ratio column compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Packets forwarded per SUT CPU-second (higher is better).
    Efficiency,
    /// CPU per idle session (lower is better).
    IdleCpu,
    /// Median setup time (lower is better).
    Setup,
}

pub struct Scenario {
    pub name: String,
    pub metric: Metric,
    pub plan: Plan,
}

pub struct Row {
    pub scenario: String,
    pub metric: Metric,
    pub sut: SutKind,
    pub outcome: Result<Outcome, String>,
}

/// Kills the child by its PID and reaps it, whatever happens to the runner (error,
/// panic, early return).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn exe() -> Result<std::path::PathBuf> {
    std::env::current_exe().context("finding our own executable")
}

/// One SUT and one generator for `scenario`.
pub fn run_one(sut: SutKind, scenario: &Scenario) -> Result<Outcome> {
    let mut child = Command::new(exe()?)
        .args(["sut", "--kind", sut.name()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the SUT")?;
    let stdout = child.stdout.take().context("SUT stdout")?;
    let sut_guard = Guard(child);
    let control = read_ready(stdout, Duration::from_secs(30))
        .with_context(|| format!("{} did not report its control address", sut.name()))?;
    let mut plan = scenario.plan.clone();
    plan.control = control;
    plan.sut_pid = sut_guard.0.id();
    plan.raw = sut == SutKind::Raw;
    let budget = Duration::from_secs_f64(
        plan.setup_timeout_s + plan.warmup_s + plan.measure_s + plan.drain_s + 60.0,
    );
    let mut gen = Command::new(exe()?)
        .args(["gen", "--plan", &serde_json::to_string(&plan)?])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the generator")?;
    let gen_out = gen.stdout.take().context("generator stdout")?;
    let mut gen_guard = Guard(gen);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut last = String::new();
        for line in BufReader::new(gen_out).lines().map_while(Result::ok) {
            last = line;
        }
        let _ = tx.send(last);
    });
    let line = rx
        .recv_timeout(budget)
        .with_context(|| format!("the generator did not finish within {budget:?}"))?;
    let status = gen_guard.0.wait()?;
    if !status.success() {
        bail!("the generator failed ({status})");
    }
    drop(sut_guard);
    serde_json::from_str(&line).with_context(|| format!("generator output {line:?}"))
}

fn read_ready(stdout: std::process::ChildStdout, within: Duration) -> Result<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let r = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
        // Keep reading so the SUT never blocks on a full pipe.
        let mut sink = String::new();
        while matches!(reader.read_line(&mut sink), Ok(n) if n > 0) {
            sink.clear();
        }
    });
    let line = rx.recv_timeout(within).context("timed out")??;
    line.trim()
        .strip_prefix("READY ")
        .map(str::to_owned)
        .with_context(|| format!("unexpected first line {line:?}"))
}

pub fn run_all(suts: &[SutKind], scenarios: &[Scenario]) -> Vec<Row> {
    let mut rows = Vec::new();
    for scenario in scenarios {
        for &sut in suts {
            let started = Instant::now();
            eprintln!("[loadbench] {} / {} ...", scenario.name, sut.name());
            let outcome = run_one(sut, scenario).map_err(|e| format!("{e:#}"));
            match &outcome {
                Ok(o) => eprintln!(
                    "[loadbench] {} / {}: {}/{} echoing, {:.1}s{}",
                    scenario.name,
                    sut.name(),
                    o.echoing,
                    o.requested,
                    started.elapsed().as_secs_f64(),
                    o.errors
                        .first()
                        .map(|e| format!(", first error: {e}"))
                        .unwrap_or_default()
                ),
                Err(e) => eprintln!(
                    "[loadbench] {} / {}: FAILED: {e}",
                    scenario.name,
                    sut.name()
                ),
            }
            rows.push(Row {
                scenario: scenario.name.clone(),
                metric: scenario.metric,
                sut,
                outcome,
            });
        }
    }
    rows
}

fn ratio_basis(metric: Metric, o: &Outcome) -> Option<f64> {
    match metric {
        Metric::Efficiency => (o.sut_cpu_s > 0.0).then(|| o.forwarded as f64 / o.sut_cpu_s),
        Metric::IdleCpu => idle_us(o),
        Metric::Setup => o.setup_p50_ms,
    }
}

/// SUT CPU per echoing session per second of the window, in microseconds.
fn idle_us(o: &Outcome) -> Option<f64> {
    (o.echoing > 0 && o.window_s > 0.0).then(|| o.sut_cpu_s / o.window_s / o.echoing as f64 * 1e6)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// The one table: a row per scenario and SUT; `x mf` compares each SUT with mediaflow
/// in the same scenario so that >1 always means "better than mediaflow".
pub fn print_table(rows: &[Row]) {
    let header = [
        "scenario",
        "SUT",
        "ok/N",
        "loss%",
        "rtt p50",
        "rtt p99",
        "CPU%",
        "fwd/CPU-s",
        "x mf",
        "RSS MB",
        "KB/sess",
        "thr",
        "us/sess/s",
        "setup p50",
        "gen CPU%",
        "host CPU%",
        "gen late",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for row in rows {
        let mut cells = vec![row.scenario.clone(), row.sut.name().to_string()];
        match &row.outcome {
            Err(e) => {
                cells.push(format!(
                    "FAILED: {}",
                    e.chars().take(80).collect::<String>()
                ));
            }
            Ok(o) => {
                let base = rows
                    .iter()
                    .find(|r| r.scenario == row.scenario && r.sut == SutKind::Mediaflow)
                    .and_then(|r| r.outcome.as_ref().ok())
                    .and_then(|m| ratio_basis(row.metric, m));
                let mine = ratio_basis(row.metric, o);
                let ratio = match (row.metric, base, mine) {
                    (Metric::Efficiency, Some(b), Some(m)) if b > 0.0 => Some(m / b),
                    (_, Some(b), Some(m)) if m > 0.0 => Some(b / m),
                    _ => None,
                };
                let cpu_pct = (o.window_s > 0.0).then(|| 100.0 * o.sut_cpu_s / o.window_s);
                let gen_pct = (o.window_s > 0.0).then(|| 100.0 * o.gen_cpu_s / o.window_s);
                let host_pct = (o.window_s > 0.0).then(|| 100.0 * o.host_busy_s / o.window_s);
                // Sampled after a first session had echoed (primed): what each further
                // session adds.
                let added = o.echoing.saturating_sub(usize::from(o.primed));
                let kb_per = (added > 0).then(|| {
                    o.sut_after.rss_kb.saturating_sub(o.sut_before.rss_kb) as f64 / added as f64
                });
                let idle = row.metric == Metric::IdleCpu;
                cells.extend([
                    format!("{}/{}", o.echoing, o.requested),
                    if idle { "-".into() } else { opt(o.loss_pct, 2) },
                    opt(o.rtt_p50_ms, 2),
                    opt(o.rtt_p99_ms, 2),
                    opt(cpu_pct, 1),
                    if idle {
                        "-".into()
                    } else {
                        opt(ratio_basis(Metric::Efficiency, o), 0)
                    },
                    opt(ratio, 2),
                    format!("{:.0}", o.sut_after.rss_kb as f64 / 1024.0),
                    opt(kb_per, 0),
                    o.sut_after.threads.to_string(),
                    opt(idle_us(o), 1),
                    opt(o.setup_p50_ms, 1),
                    opt(gen_pct, 1),
                    opt(host_pct, 0),
                    if o.skipped_slots > 0 {
                        format!("{} ({:.0}ms)", o.skipped_slots, o.max_late_ms)
                    } else {
                        "0".into()
                    },
                ]);
            }
        }
        lines.push(cells);
    }
    let columns = header.len();
    let mut widths = vec![0usize; columns];
    for line in &lines {
        // A FAILED row's message spans the remaining columns.
        if line.len() == columns {
            for (w, c) in widths.iter_mut().zip(line) {
                *w = (*w).max(c.len());
            }
        }
    }
    for (i, line) in lines.iter().enumerate() {
        let text: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let w = widths.get(k).copied().unwrap_or(0);
                if k < 2 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        println!("| {} |", text.join(" | "));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("|-{}-|", rule.join("-|-"));
        }
    }
    println!();
    println!(
        "rtt: generator -> SUT -> generator, ms. CPU%: SUT utime+stime over the window \
         (100% = one core). fwd/CPU-s: echoed packets per SUT CPU-second. x mf: vs \
         mediaflow in the same scenario, >1 = better (fwd/CPU-s for load rows, CPU per \
         session for idle rows, setup time for setup rows). KB/sess: RSS each \
         further session adds (sampled once a first session has echoed for 1 s, so \
         one-time code pages and buffers are not charged to sessions). us/sess/s: SUT CPU per session per second. host CPU%: the \
         whole machine (200% = both cores; loopback softirq work is charged to neither \
         process). gen late: send slots the generator missed (its worst lateness)."
    );
}
