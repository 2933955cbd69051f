//! `sluis-bench watch`: the enclave watch against argus and tshark on the same captures.
//!
//! Speed: generated enclave captures of about 0.1, 1 and 4 GB (scans to the edge plus one of
//! each injection, so every detection has work), each read once to warm the page cache, then
//! `sluis watch run` (every detection on, EVE output to a file), `argus -r FILE -w FILE` and
//! `tshark -r FILE -q -z conv,ip`, each as a process; packets and bits per CPU second (per core:
//! all three are single-threaded readers here) and peak resident memory, so memory growth with
//! the capture shows.
//!
//! Quality: a labelled day of a busy enclave (8 scanners, over 10 000 benign connections) with
//! beacons at 0 to 40 % jitter and every other injection, run through the engine in process;
//! every label must be found, and beacon alerts on benign pairs are counted per 10 000 benign
//! flows.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use sluis_synth::enclave::{self, Answer, Injection, Spec};
use sluis_watch::{Policy, Watch, run};

use crate::{Run, run_measured};

fn spec_for_bytes(bytes: u64) -> Spec {
    let mut spec = Spec::showcase();
    spec.scanners = 8;
    spec.duration_secs = 6 * 3600;
    spec.scan_bytes = 2_000_000;
    // Scans per scanner per hour that fill `bytes` (the injections add a few percent).
    #[allow(clippy::cast_precision_loss)]
    let per_hour = bytes as f64 / (8.0 * 6.0 * 2_000_000.0 * 1.03);
    spec.scans_per_hour = per_hour.max(0.5);
    spec
}

fn tool_present(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn warm(path: &Path) -> Result<()> {
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut std::io::sink())?;
    Ok(())
}

/// The run with the median CPU time of `n`.
fn best_of(n: usize, argv: &[String]) -> Result<Run> {
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        runs.push(run_measured(argv)?);
    }
    runs.sort_by(|a, b| a.cpu.total_cmp(&b.cpu));
    runs.get(n / 2).copied().context("no run")
}

fn line(name: &str, r: Run, frames: u64, bytes: u64) {
    #[allow(clippy::cast_precision_loss)]
    let (pps, bps) = (frames as f64 / r.cpu, bytes as f64 * 8.0 / r.cpu);
    #[allow(clippy::cast_precision_loss)]
    let rss = r.rss as f64 / (1 << 20) as f64;
    println!(
        "  {name:<44} {:>7.2} s wall {:>7.2} s CPU {:>7.2} Mpkt/s/core {:>7.2} Gbit/s/core {:>8.1} MiB peak",
        r.wall,
        r.cpu,
        pps / 1e6,
        bps / 1e9,
        rss
    );
}

pub(crate) fn run(dir: &Path, quick: bool, sizes_gb: &[f64], sluis: &Path) -> Result<()> {
    if !sluis.exists() {
        bail!(
            "{} not found: build it first (cargo build --release)",
            sluis.display()
        );
    }
    let sizes: Vec<f64> = if quick { vec![0.05] } else { sizes_gb.to_vec() };
    let (argus, tshark) = (tool_present("argus"), tool_present("tshark"));
    println!("speed: packets and bits per CPU second, peak memory; same file, same run");
    if !argus || !tshark {
        println!(
            "  (argus present: {argus}, tshark present: {tshark}; install argus-server and tshark)"
        );
    }
    for gb in sizes {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let target = (gb * 1e9) as u64;
        let spec = spec_for_bytes(target);
        let pcap = dir.join(format!("enclave-{gb}GB.pcap"));
        let policy = dir.join("policy.toml");
        let file = std::fs::File::create(&pcap)?;
        let out = enclave::generate(&spec, std::io::BufWriter::with_capacity(1 << 20, file))?;
        // Baseline: four times a scanner's mean hourly upload, so the 80 MB bulk upload of the
        // showcase stands out at every size but the largest.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let baseline = (spec.scans_per_hour * spec.scan_bytes as f64 * 4.0) as u64;
        std::fs::write(
            &policy,
            enclave::policy_toml(&spec, baseline.max(20_000_000)),
        )?;
        #[allow(clippy::cast_precision_loss)]
        let size = out.bytes as f64 / 1e9;
        println!(
            "{size:.2} GB capture, {} frames, {} benign flows",
            out.frames, out.benign_flows
        );
        warm(&pcap)?;
        let eve = dir.join("eve.json");
        let _ = std::fs::remove_file(&eve);
        let s = |p: &Path| p.display().to_string();
        let argv = |eve: &Path| -> Vec<String> {
            vec![
                s(sluis),
                "watch".into(),
                "run".into(),
                "--policy".into(),
                s(&policy),
                "--pcap".into(),
                s(&pcap),
                "--eve".into(),
                s(eve),
            ]
        };
        // Once to count the alerts, then timed with the EVE output to /dev/null.
        run_measured(&argv(&eve))?;
        let ours = best_of(3, &argv(Path::new("/dev/null")))?;
        let alerts = std::fs::read_to_string(&eve).map_or(0, |t| t.lines().count());
        line(
            &format!("sluis watch run (all detections, {alerts} alerts)"),
            ours,
            out.frames,
            out.bytes,
        );
        if argus {
            let rec = dir.join("out.argus");
            let r = best_of(
                3,
                &["argus".into(), "-r".into(), s(&pcap), "-w".into(), s(&rec)],
            )?;
            line("argus -r (flow records only)", r, out.frames, out.bytes);
            #[allow(clippy::cast_precision_loss)]
            let ratio = r.cpu / ours.cpu;
            println!("  sluis / argus, packets per CPU second: {ratio:.1}x");
            let _ = std::fs::remove_file(rec);
        }
        if tshark {
            let r = run_measured(&[
                "tshark".into(),
                "-r".into(),
                s(&pcap),
                "-q".into(),
                "-z".into(),
                "conv,ip".into(),
            ])?;
            line("tshark -r -q -z conv,ip", r, out.frames, out.bytes);
        }
        std::fs::remove_file(&pcap)?;
    }
    quality(dir, quick)
}

/// Detection quality on a labelled day.
fn quality(dir: &Path, quick: bool) -> Result<()> {
    let jitters = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4];
    let mut spec = Spec::showcase();
    spec.seed = 2026;
    spec.scanners = 8;
    spec.duration_secs = if quick { 6 * 3600 } else { 24 * 3600 };
    spec.scans_per_hour = 60.0;
    spec.scan_bytes = 20_000;
    spec.injections
        .retain(|i| !matches!(i, Injection::Beacon { .. }));
    for (k, j) in jitters.iter().enumerate() {
        let n = u8::try_from(k).unwrap_or(0);
        spec.injections.push(Injection::Beacon {
            scanner: k % 8,
            dst: Ipv4Addr::new(198, 18, 0, 10 + n),
            port: 443 + u16::from(n),
            interval_secs: [60, 300, 120, 900, 180, 600, 240, 90][k % 8],
            jitter: *j,
        });
    }
    spec.injections.push(Injection::PhoneHome {
        scanner: 5,
        dst: Ipv4Addr::new(198, 18, 1, 1),
        port: 4444,
        at_secs: 7200,
        answer: Answer::Refused,
    });
    let pcap = dir.join("labelled.pcap");
    let file = std::fs::File::create(&pcap)?;
    let out = enclave::generate(&spec, std::io::BufWriter::with_capacity(1 << 20, file))?;
    let policy = Policy::parse(&enclave::policy_toml(&spec, 20_000_000))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut watch = Watch::new(policy);
    let mut alerts = Vec::new();
    run::capture_file(&pcap, &mut watch, &mut |a: &sluis_watch::Alert| {
        alerts.push(a.clone())
    })
    .context("labelled capture")?;
    std::fs::remove_file(&pcap)?;
    println!(
        "quality: {} h, {} frames, {} benign connections, {} labels",
        spec.duration_secs / 3600,
        out.frames,
        out.benign_flows,
        out.labels.len()
    );
    // Every label's rules must be raised about its source.
    let raised: BTreeSet<(String, String)> = alerts
        .iter()
        .map(|a| {
            let src = a
                .src
                .map(|s| s.0.to_string())
                .or_else(|| {
                    a.evidence
                        .get("ip")
                        .and_then(|v| v.as_str().map(str::to_string))
                })
                .unwrap_or_default();
            (a.rule.id().to_string(), src)
        })
        .collect();
    let mut missed = 0;
    for l in &out.labels {
        for r in &l.rules {
            let hit = raised.iter().any(|(rule, src)| {
                rule == r && (l.src.is_unspecified() || *src == l.src.to_string())
            });
            if !hit {
                missed += 1;
                println!("  MISSED {r} for {}", l.what);
            }
        }
    }
    for (k, j) in jitters.iter().enumerate() {
        let dst = Ipv4Addr::new(198, 18, 0, 10 + u8::try_from(k).unwrap_or(0));
        let found = alerts.iter().any(|a| {
            a.rule == sluis_watch::Rule::Beacon
                && a.dst.is_some_and(|d| d.0 == std::net::IpAddr::V4(dst))
        });
        println!(
            "  beacon at {:>3.0} % jitter: {}",
            j * 100.0,
            if found { "found" } else { "not found" }
        );
    }
    let labelled: BTreeSet<std::net::IpAddr> = out
        .labels
        .iter()
        .filter_map(|l| l.dst.map(std::net::IpAddr::V4))
        .collect();
    let false_beacons = alerts
        .iter()
        .filter(|a| {
            a.rule == sluis_watch::Rule::Beacon && a.dst.is_none_or(|d| !labelled.contains(&d.0))
        })
        .count();
    #[allow(clippy::cast_precision_loss)]
    let rate = false_beacons as f64 * 10_000.0 / out.benign_flows.max(1) as f64;
    // Alerts that answer no label: false alerts of any rule.
    let unlabelled: Vec<&sluis_watch::Alert> = alerts
        .iter()
        .filter(|a| {
            let src = a
                .src
                .map(|s| s.0)
                .or_else(|| a.evidence.get("ip").and_then(|v| v.as_str()?.parse().ok()));
            !out.labels.iter().any(|l| {
                l.rules.contains(&a.rule.id())
                    && (l.src.is_unspecified() || src == Some(std::net::IpAddr::V4(l.src)))
            })
        })
        .collect();
    for a in &unlabelled {
        println!("  UNLABELLED {} {}", a.rule.id(), a.message);
    }
    println!(
        "  labels missed: {missed}; alerts in all: {}, answering no label: {}; false beacon alerts: {false_beacons} ({rate:.2} per 10 000 benign connections)",
        alerts.len(),
        unlabelled.len()
    );
    Ok(())
}
