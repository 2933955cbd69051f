//! `sluis demo`: the pipeline end to end on synthetic scans, on the embedded defaults.
//!
//! Today: a synthetic scanner writes scans (and a few hostile files, as a compromised scanner
//! might), every file is sanitised, refusals go to quarantine with their reason, accepted scans
//! are written as canonical DICOS with a report of what was dropped, and previews are rendered.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args as ClapArgs;
use sluis_scan::render::{self, RenderOptions};
use sluis_scan::{DicosObject, Limits, sanitise};

use crate::Failure;
use crate::files::{read_bounded, write_atomic, write_bytes, write_json};
use crate::synth::write_series;

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// Where to put the demo's files.
    #[arg(long, default_value = "sluis-demo")]
    pub out: PathBuf,
    /// Number of synthetic scans.
    #[arg(long, default_value_t = 6)]
    pub count: u32,
    /// Seed of the synthetic scanner.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

const MARKER: &str = ".sluis-demo";

fn prepare(out: &Path) -> Result<(), Failure> {
    if out.exists() && !out.join(MARKER).exists() {
        return Err(Failure::env(anyhow::anyhow!(
            "{} exists and was not made by `sluis demo`; choose another --out",
            out.display()
        )));
    }
    for sub in ["scanner", "sanitised", "quarantine", "previews"] {
        let dir = out.join(sub);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
    }
    write_bytes(&out.join(MARKER), b"made by sluis demo\n")
}

/// The hostile files a compromised scanner drops among the real ones.
const HOSTILE: [&str; 4] = [
    "private-overlay-document",
    "trailing-bytes",
    "dimension-bomb",
    "nesting-20000",
];

pub(crate) fn run(args: &Args, limits: &Limits) -> Result<(), Failure> {
    let out = &args.out;
    prepare(out)?;
    let scanner = out.join("scanner");
    println!(
        "sluis demo: synthetic scanner -> sanitiser -> canonical DICOS, quarantine, previews\n"
    );
    let started = Instant::now();
    let written = write_series(&scanner, args.count, args.seed, None, 5.0)?;
    for case in sluis_synth::hostile::corpus(1 << 20) {
        if HOSTILE.contains(&case.name.as_str()) {
            write_bytes(
                &scanner.join(format!("hostile-{}.dcs", case.name)),
                &case.bytes,
            )?;
        }
    }
    println!(
        "  scanner wrote {} scans (with ground truth) and {} hostile files in {:.1} s",
        written.len(),
        HOSTILE.len(),
        started.elapsed().as_secs_f64()
    );

    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&scanner)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    inputs.sort();
    let (mut accepted, mut refused, mut dropped_total) = (0usize, 0usize, 0usize);
    let mut bytes_in = 0u64;
    let sanitise_started = Instant::now();
    println!("\n  {:<40} {:<10} details", "file", "verdict");
    for input in &inputs {
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let bytes = read_bounded(input, limits)?;
        bytes_in += bytes.len() as u64;
        match sanitise(&bytes, limits) {
            Ok(s) => {
                accepted += 1;
                dropped_total += s.report.dropped.len();
                let stem = name.trim_end_matches(".dcs");
                let dest = out.join("sanitised").join(&name);
                write_atomic(&dest, |w| {
                    s.scan
                        .write_dicos(w)
                        .map(|_| ())
                        .map_err(|e| Failure::Internal(e.into()))
                })?;
                write_json(
                    &out.join("sanitised").join(format!("{stem}.report.json")),
                    &s.report,
                )?;
                let details = match s.scan.object() {
                    DicosObject::Image(scan) => {
                        for (material, suffix) in [(false, ""), (true, "-material")] {
                            let picture = match render::render(
                                scan,
                                &RenderOptions {
                                    material,
                                    ..RenderOptions::default()
                                },
                            ) {
                                Ok(p) => p,
                                // Single-energy images have no material colouring.
                                Err(render::RenderError::NoDualEnergy(_)) => continue,
                                Err(e) => return Err(Failure::Internal(e.into())),
                            };
                            let png = out.join("previews").join(format!("{stem}{suffix}.png"));
                            write_atomic(&png, |w| {
                                render::write_png(&picture, w)
                                    .map_err(|e| Failure::Internal(e.into()))
                            })?;
                        }
                        format!(
                            "{} x {}, {} channels, dropped {}",
                            scan.image.columns,
                            scan.image.rows,
                            scan.image.channels.len(),
                            s.report.dropped.len()
                        )
                    }
                    DicosObject::ThreatReport(r) => format!(
                        "{} report: {} threat(s), decision {}",
                        r.tdr_type,
                        r.threats.len(),
                        r.alarm
                            .as_ref()
                            .map_or("-".to_string(), ToString::to_string)
                    ),
                };
                println!("  {name:<40} {:<10} {details}", "accepted");
            }
            Err(refusal) => {
                refused += 1;
                let dir = out.join("quarantine");
                write_bytes(&dir.join(&name), &bytes)?;
                write_json(&dir.join(format!("{name}.refusal.json")), &refusal)?;
                println!(
                    "  {name:<40} {:<10} {}: {}",
                    "REFUSED", refusal.rule, refusal.detail
                );
            }
        }
    }
    let secs = sanitise_started.elapsed().as_secs_f64();
    println!(
        "\n  {} files, {:.1} MB: {accepted} accepted ({dropped_total} elements dropped), {refused} refused, in {:.2} s\n",
        inputs.len(),
        bytes_in as f64 / 1e6,
        secs
    );
    for w in &written {
        if !w.generated.concealments.is_empty() {
            println!(
                "  hidden in {}: {}",
                w.image
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                w.generated.concealments.join("; ")
            );
        }
    }
    println!("\nWhere to look:");
    println!(
        "  {}/scanner/      what the scanner sent (synthetic DICOS, ground-truth TDRs, hostile files)",
        out.display()
    );
    println!(
        "  {}/sanitised/    canonical DICOS rebuilt by sluis, and each file's report of what was dropped",
        out.display()
    );
    println!(
        "  {}/quarantine/   refused files, kept with the rule they broke",
        out.display()
    );
    println!(
        "  {}/previews/     PNG previews: greyscale and material colour",
        out.display()
    );
    println!(
        "\nTry: sluis scan inspect {}/scanner/hostile-private-overlay-document.dcs",
        out.display()
    );
    Ok(())
}
