//! loadbench: mediaflow's Hello World loopback under load, side by side with an echo
//! server on str0m, one on webrtc-rs `rtc`, and a raw SRTP loop, each in its own process,
//! driven by one batched generator process, in one run. See README.md.

mod common;
mod gen;
mod runner;
mod serve;
mod sut_mediaflow;
mod sut_raw;
mod sut_rtc;
mod sut_str0m;
mod udp;

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use gen::Plan;
use runner::{Metric, Scenario, SutKind};

#[derive(Parser)]
#[command(
    name = "loadbench",
    about = "mediaflow vs str0m vs rtc vs a raw SRTP loop, under the same load, in one run"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Internal: serve as a system under test (the runner starts these).
    #[command(hide = true)]
    Sut {
        #[arg(long, value_enum)]
        kind: SutKind,
        /// Exit after this long whatever happens (every process is bounded).
        #[arg(long, default_value_t = 3600)]
        lifetime_secs: u64,
    },
    /// Internal: run the load generator against one SUT with a JSON plan.
    #[command(hide = true)]
    Gen {
        #[arg(long)]
        plan: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ScenarioKind {
    /// One session at each of --rates packets/s.
    Rates,
    /// --sessions sessions each, at 100 video + 50 audio packets/s per session.
    Sessions,
    /// --idle-sessions connected sessions sending nothing.
    Idle,
    /// --setup-sessions sessions opened one at a time, for setup time.
    Setup,
}

#[derive(Args)]
struct RunArgs {
    /// A tiny run (2 sessions, 2 s per SUT) that checks each SUT answers and echoes;
    /// exits non-zero if one does not. Checks no performance figure.
    #[arg(long)]
    smoke: bool,
    /// Systems under test, in table order (ratios are against mediaflow).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "mediaflow,mediaflow-shared,str0m,rtc,raw"
    )]
    suts: Vec<SutKind>,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "rates,sessions,idle,setup"
    )]
    scenarios: Vec<ScenarioKind>,
    /// Total packets/s of the single-session scenario (50 of them audio, the rest video).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,50000,100000")]
    rates: Vec<u32>,
    /// Session counts of the multi-session scenario.
    #[arg(long, value_delimiter = ',', default_value = "100,500,1000,2000")]
    sessions: Vec<usize>,
    #[arg(long, default_value_t = 10000)]
    idle_sessions: usize,
    #[arg(long, default_value_t = 50)]
    setup_sessions: usize,
    /// Video and audio packets/s per session in the multi-session scenario.
    #[arg(long, default_value_t = 100.0)]
    video_pps: f64,
    #[arg(long, default_value_t = 50.0)]
    audio_pps: f64,
    #[arg(long, default_value_t = 10.0)]
    measure_secs: f64,
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,
    /// Offers awaiting an answer at once while sessions are opened.
    #[arg(long, default_value_t = 16)]
    setup_concurrency: usize,
    /// Give up on sessions not echoing after this long plus --setup-secs-per-session x N
    /// (capped at 600 s).
    #[arg(long, default_value_t = 20.0)]
    setup_secs: f64,
    #[arg(long, default_value_t = 0.05)]
    setup_secs_per_session: f64,
    /// Also write every measurement as JSON lines to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("loadbench: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    udp::raise_fd_limit();
    match cli.cmd {
        Some(Cmd::Sut {
            kind,
            lifetime_secs,
        }) => {
            udp::die_with_parent();
            sut_main(kind, Duration::from_secs(lifetime_secs))
        }
        Some(Cmd::Gen { plan }) => {
            udp::die_with_parent();
            let plan: Plan = serde_json::from_str(&plan).context("parsing the plan")?;
            let outcome = gen::run(plan)?;
            println!("{}", serde_json::to_string(&outcome)?);
            Ok(())
        }
        None => run_main(cli.run),
    }
}

fn sut_main(kind: SutKind, lifetime: Duration) -> Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("control listener")?;
    let addr = listener.local_addr()?;
    let report_ready = || -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "READY {addr}")?;
        out.flush()?;
        Ok(())
    };
    match kind {
        SutKind::Mediaflow | SutKind::MediaflowShared => {
            report_ready()?;
            sut_mediaflow::serve(listener, lifetime, kind == SutKind::MediaflowShared)
        }
        SutKind::Str0m | SutKind::Rtc | SutKind::Raw => {
            let socket = udp::bind_loopback(4 << 20)?;
            let mut echo: Box<dyn serve::Echo> = match kind {
                SutKind::Str0m => Box::new(sut_str0m::Str0mEcho::new(&socket)?),
                SutKind::Rtc => Box::new(sut_rtc::RtcEcho::new(&socket)?),
                _ => Box::new(sut_raw::RawEcho::new(&socket)?),
            };
            report_ready()?;
            serve::serve(listener, &socket, echo.as_mut(), lifetime)
        }
    }
}

fn plan(a: &RunArgs, sessions: usize, video_pps: f64, audio_pps: f64) -> Plan {
    Plan {
        control: String::new(),
        sut_pid: 0,
        raw: false,
        sessions,
        video_pps,
        audio_pps,
        idle: false,
        setup_concurrency: a.setup_concurrency,
        setup_timeout_s: (a.setup_secs + a.setup_secs_per_session * sessions as f64).min(600.0),
        warmup_s: a.warmup_secs,
        measure_s: a.measure_secs,
        drain_s: 1.0,
    }
}

fn scenarios(a: &RunArgs) -> Vec<Scenario> {
    if a.smoke {
        let mut p = plan(a, 2, 100.0, 50.0);
        p.warmup_s = 0.5;
        p.measure_s = 2.0;
        p.drain_s = 0.5;
        p.setup_timeout_s = 20.0;
        return vec![Scenario {
            name: "smoke 2x(100+50)/s".into(),
            metric: Metric::Efficiency,
            plan: p,
        }];
    }
    let mut out = Vec::new();
    for kind in &a.scenarios {
        match kind {
            ScenarioKind::Rates => {
                for &rate in &a.rates {
                    let rate = f64::from(rate.max(100));
                    let audio = 50.0;
                    out.push(Scenario {
                        name: format!("1 sess @ {}/s", rate as u64),
                        metric: Metric::Efficiency,
                        plan: plan(a, 1, rate - audio, audio),
                    });
                }
            }
            ScenarioKind::Sessions => {
                for &n in &a.sessions {
                    out.push(Scenario {
                        name: format!("{n} x ({}+{})/s", a.video_pps, a.audio_pps),
                        metric: Metric::Efficiency,
                        plan: plan(a, n, a.video_pps, a.audio_pps),
                    });
                }
            }
            ScenarioKind::Idle => {
                let mut p = plan(a, a.idle_sessions, a.video_pps, a.audio_pps);
                p.idle = true;
                out.push(Scenario {
                    name: format!("idle {}", a.idle_sessions),
                    metric: Metric::IdleCpu,
                    plan: p,
                });
            }
            ScenarioKind::Setup => {
                let mut p = plan(a, a.setup_sessions, a.video_pps, a.audio_pps);
                // One offer at a time: the setup time of an unloaded SUT.
                p.setup_concurrency = 1;
                p.setup_timeout_s = a.setup_secs + 2.0 * a.setup_sessions as f64;
                p.warmup_s = 0.0;
                p.measure_s = 1.0;
                out.push(Scenario {
                    name: format!("setup {} (serial)", a.setup_sessions),
                    metric: Metric::Setup,
                    plan: p,
                });
            }
        }
    }
    out
}

fn run_main(a: RunArgs) -> Result<()> {
    if a.suts.is_empty() {
        bail!("no SUT selected");
    }
    let list = scenarios(&a);
    let rows = runner::run_all(&a.suts, &list);
    if let Some(path) = &a.json {
        let mut f =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        for r in &rows {
            let line = serde_json::json!({
                "scenario": r.scenario,
                "sut": r.sut.name(),
                "outcome": r.outcome.as_ref().ok(),
                "error": r.outcome.as_ref().err(),
            });
            writeln!(f, "{line}")?;
        }
    }
    runner::print_table(&rows);
    if a.smoke {
        let mut bad = Vec::new();
        for r in &rows {
            match &r.outcome {
                Ok(o) if o.answered == o.requested && o.echoing == o.requested && o.echoed > 0 => {}
                Ok(o) => bad.push(format!(
                    "{}: {}/{} answered, {}/{} echoing, {} echoed{}",
                    r.sut.name(),
                    o.answered,
                    o.requested,
                    o.echoing,
                    o.requested,
                    o.echoed,
                    o.errors
                        .first()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                )),
                Err(e) => bad.push(format!("{}: {e}", r.sut.name())),
            }
        }
        if !bad.is_empty() {
            bail!("smoke check failed: {}", bad.join("; "));
        }
        println!("smoke: every SUT answered and echoed");
    }
    Ok(())
}
