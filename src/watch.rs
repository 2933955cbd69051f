//! `sluis watch`: the enclave watch (the logic is in `sluis-watch`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::{Args, Subcommand};
use prometheus_client::registry::Registry;
use sluis_watch::sink::{EveWriter, Metrics, Outputs, Syslog};
use sluis_watch::{Policy, Watch, capture, learn, run};

use crate::failure::Failure;
use crate::service;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Propose a baseline policy from a capture, for a person to review (it starts with
    /// `accepted = false`).
    Learn {
        /// The capture (pcap or pcapng).
        #[arg(long, value_name = "FILE")]
        pcap: PathBuf,
        /// Where to write the proposal (refuses to overwrite).
        #[arg(long, value_name = "POLICY")]
        out: PathBuf,
    },
    /// Watch traffic against a policy and raise alerts.
    Run(RunArgs),
    /// Validate a policy and explain every error by line.
    Check {
        /// The policy file.
        policy: PathBuf,
    },
    /// Write a synthetic, labelled enclave capture and its policy (for trying the watch).
    Synth {
        /// The capture to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The enclave's policy to write beside it.
        #[arg(long, value_name = "FILE")]
        policy_out: PathBuf,
        /// The generator's spec as TOML (fields of `sluis_synth::enclave::Spec`); the default
        /// is three hours of four scanners with one of each injection.
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
        /// Hourly upload baseline written into the policy.
        #[arg(long, default_value_t = 50_000_000)]
        baseline: u64,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["pcap", "interface", "ipfix"])))]
pub(crate) struct RunArgs {
    /// The accepted policy.
    #[arg(long, value_name = "POLICY")]
    policy: PathBuf,
    /// Read a capture file (pcap or pcapng).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Capture live from a receive-only interface (needs CAP_NET_RAW).
    #[arg(long, value_name = "IF")]
    interface: Option<String>,
    /// Collect NetFlow v9 / IPFIX on this UDP address.
    #[arg(long, value_name = "HOST:PORT")]
    ipfix: Option<SocketAddr>,
    /// With --ipfix: stop after this many seconds without a datagram (for replays and tests).
    #[arg(long, value_name = "SECS", requires = "ipfix")]
    idle_exit: Option<u64>,
    /// Append alerts as EVE JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    eve: Option<PathBuf>,
    /// Send alerts as RFC 5424 syslog over TCP (octet-counted) to this collector.
    #[arg(long, value_name = "HOST:PORT")]
    syslog: Option<String>,
    /// With --syslog: use TLS (RFC 5425), trusting the CA certificates in this PEM file.
    #[arg(long, value_name = "PEM", requires = "syslog")]
    syslog_ca: Option<PathBuf>,
    /// With --syslog-ca: the collector's name in its certificate (default: the host part).
    #[arg(long, value_name = "NAME", requires = "syslog_ca")]
    syslog_name: Option<String>,
    /// Serve Prometheus metrics on this address.
    #[arg(long, value_name = "HOST:PORT")]
    metrics: Option<SocketAddr>,
    /// Print each alert on stdout as one line (default when no other output is given).
    #[arg(long)]
    print: bool,
}

pub(crate) fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Check { policy } => check(&policy),
        Command::Learn { pcap, out } => learn_cmd(&pcap, &out),
        Command::Run(args) => watch(&args),
        Command::Synth {
            out,
            policy_out,
            scenario,
            baseline,
        } => synth(&out, &policy_out, scenario.as_deref(), baseline),
    }
}

fn synth(
    out: &Path,
    policy_out: &Path,
    scenario: Option<&Path>,
    baseline: u64,
) -> Result<(), Failure> {
    use sluis_synth::enclave::{self, Spec};
    let spec: Spec = match scenario {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("read {}", p.display()))
                .map_err(Failure::Environment)?;
            toml::from_str(&text).map_err(|e| Failure::Usage(format!("{}: {e}", p.display())))?
        }
        None => enclave::Spec::showcase(),
    };
    let file = std::fs::File::create(out)
        .with_context(|| format!("create {}", out.display()))
        .map_err(Failure::Environment)?;
    let o = enclave::generate(&spec, std::io::BufWriter::new(file))?;
    std::fs::write(policy_out, enclave::policy_toml(&spec, baseline))?;
    println!(
        "{}: {} frames, {} bytes, {} benign flows; policy in {}",
        out.display(),
        o.frames,
        o.bytes,
        o.benign_flows,
        policy_out.display()
    );
    for l in &o.labels {
        println!(
            "  injected: {} ({} -> {:?}:{:?}) => {}",
            l.what,
            l.src,
            l.dst,
            l.port,
            l.rules.join(", ")
        );
    }
    Ok(())
}

fn read_policy(path: &Path) -> Result<Policy, Failure> {
    // A policy is a few kilobytes; one far larger is not a policy.
    let file = std::fs::File::open(path)
        .with_context(|| format!("open policy {}", path.display()))
        .map_err(Failure::Environment)?;
    const MAX_POLICY: u64 = 16 << 20;
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_POLICY + 1), &mut text)?;
    if text.len() as u64 > MAX_POLICY {
        return Err(Failure::Usage(format!(
            "{}: larger than {MAX_POLICY} bytes; that is not a policy",
            path.display()
        )));
    }
    let text = String::from_utf8(text)
        .map_err(|_| Failure::Usage(format!("{}: the policy is not UTF-8", path.display())))?;
    Policy::parse(&text).map_err(|errs| {
        let lines: Vec<String> = errs
            .0
            .iter()
            .map(|e| format!("{}:{e}", path.display()))
            .collect();
        Failure::Usage(format!("the policy has errors:\n{}", lines.join("\n")))
    })
}

fn check(path: &Path) -> Result<(), Failure> {
    let p = read_policy(path)?;
    println!(
        "{}: {} devices, {} flow rules, {} DNS rules; {}",
        path.display(),
        p.devices.len(),
        p.flows.len(),
        p.dns.len(),
        if p.accepted {
            "accepted"
        } else {
            "NOT accepted: review it and set `accepted = true` before `sluis watch run`"
        }
    );
    Ok(())
}

fn learn_cmd(pcap: &Path, out: &Path) -> Result<(), Failure> {
    let mut learner = learn::Learner::new();
    let frames = capture::read_file(pcap, |r| {
        if let capture::Record::Frame { ts, link, data, .. } = r {
            learner.frame(ts, link, data);
        }
    })
    .map_err(|e| Failure::Usage(e.to_string()))?;
    let text = learner.proposal(&pcap.display().to_string());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| format!("create {} (it must not exist)", out.display()))
        .map_err(Failure::Environment)?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    f.sync_all()?;
    println!(
        "{}: proposal from {frames} frames; review it, then set `accepted = true`",
        out.display()
    );
    Ok(())
}

fn watch(args: &RunArgs) -> Result<(), Failure> {
    let policy = read_policy(&args.policy)?;
    policy
        .require_accepted()
        .map_err(|e| Failure::Usage(format!("{} is {e}", args.policy.display())))?;
    let sensor = policy.sensor.clone();
    let capture_name = args.pcap.as_ref().map(|p| p.display().to_string());
    let eve = match &args.eve {
        Some(p) => Some(
            EveWriter::create(p, &sensor, capture_name.as_deref())
                .with_context(|| format!("open {}", p.display()))
                .map_err(Failure::Environment)?,
        ),
        None => None,
    };
    let syslog = match (&args.syslog, &args.syslog_ca) {
        (Some(addr), None) => Some(Syslog::tcp(addr, &sensor).map_err(Failure::env)?),
        (Some(addr), Some(ca)) => {
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            let name = args.syslog_name.as_deref().unwrap_or(host);
            Some(Syslog::tls(addr, name, ca, &sensor).map_err(Failure::env)?)
        }
        _ => None,
    };
    let print = args.print || (eve.is_none() && syslog.is_none());
    let stop: Arc<AtomicBool> = service::stop_on_signal();
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let _server = match args.metrics {
        Some(addr) => Some(service::serve_metrics(addr, registry, stop.clone())?),
        None => None,
    };
    let mut out = Outputs::new(eve, syslog, Some(metrics), print);
    let mut watch = Watch::new(policy);
    if let Some(pcap) = &args.pcap {
        run::capture_file(pcap, &mut watch, &mut out).map_err(|e| Failure::Usage(e.to_string()))?;
    } else if let Some(iface) = &args.interface {
        run::live(iface, &mut watch, &stop, &mut out)
            .with_context(|| format!("capture on {iface}"))
            .map_err(Failure::Environment)?;
    } else if let Some(addr) = args.ipfix {
        let socket = std::net::UdpSocket::bind(addr)
            .with_context(|| format!("bind {addr}"))
            .map_err(Failure::Environment)?;
        let idle = args.idle_exit.map(std::time::Duration::from_secs);
        let c = run::collect(&socket, &mut watch, &stop, idle, &mut out)?;
        eprintln!(
            "sluis watch: {} flow records ({} datagrams unparsed, {} records skipped, exporter table reset {} times)",
            watch.stats.flow_records, c.errors, c.skipped, c.exporter_resets
        );
    }
    out.finish()
        .map_err(|e| Failure::Environment(anyhow::anyhow!("writing alerts: {e}")))?;
    let s = &watch.stats;
    eprintln!(
        "sluis watch: {} frames, {} flows ({} evicted), {} alerts, {} undecoded",
        s.frames, s.flows, s.flows_evicted, out.count, s.undecoded
    );
    Ok(())
}
