//! `sluis demo`: the pipeline end to end on synthetic scans, on the embedded defaults.
//!
//! A synthetic scanner writes scans (and a few hostile files, as a compromised scanner might);
//! every file is sanitised; accepted scans are stored encrypted in a new vault and refusals go
//! to its quarantine with their reason, every step in the transparency log; previews are
//! rendered; an analyst reads, decides on and exports a scan with its receipt; and an auditor
//! verifies the whole log and the receipt with the log's public key alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args as ClapArgs;
use sluis_audit::{Policy, verify_log, verify_receipt};
use sluis_scan::render::{self, RenderOptions};
use sluis_scan::{DicosObject, Limits, sanitise};
use sluis_vault::{Decision, Vault};

use crate::Failure;
use crate::files::{read_bounded, write_atomic, write_bytes, write_json};
use crate::synth::write_series;
use crate::vault::vault_failure;

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
    for sub in [
        "scanner",
        "sanitised",
        "quarantine",
        "previews",
        "vault",
        "exports",
    ] {
        let dir = out.join(sub);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        if sub != "vault" && sub != "quarantine" {
            std::fs::create_dir_all(&dir)?;
        }
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
        "sluis demo: synthetic scanner -> sanitiser -> encrypted vault + transparency log -> analyst -> auditor\n"
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
    let vault = Vault::init(&out.join("vault"), Some("sluis.demo/vault")).map_err(vault_failure)?;
    let core = vault.actor("sluis-core");
    let mut stored = Vec::new();
    let (mut accepted, mut refused, mut dropped_total) = (0usize, 0usize, 0usize);
    let mut bytes_in = 0u64;
    let sanitise_started = Instant::now();
    println!(
        "\n  {:<40} {:<10} {:<34}  details",
        "file", "verdict", "vault id"
    );
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
                let id = vault.store(&s.scan, &core).map_err(vault_failure)?.id;
                if matches!(s.scan.object(), DicosObject::Image(_)) {
                    stored.push((id.clone(), name.clone()));
                }
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
                println!("  {name:<40} {:<10} {id}  {details}", "stored");
            }
            Err(refusal) => {
                refused += 1;
                let q = vault
                    .quarantine(&bytes, &name, &refusal, &core)
                    .map_err(vault_failure)?;
                println!(
                    "  {name:<40} {:<10} {}  {}: {}",
                    "REFUSED", q.id, refusal.rule, refusal.detail
                );
            }
        }
    }
    let secs = sanitise_started.elapsed().as_secs_f64();
    println!(
        "\n  {} files, {:.1} MB: {accepted} stored in the vault ({dropped_total} elements dropped), {refused} refused and quarantined, in {:.2} s\n",
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
    custody(out, &vault, &stored)?;
    println!("\nWhere to look:");
    println!(
        "  {}/scanner/      what the scanner sent (synthetic DICOS, ground-truth TDRs, hostile files)",
        out.display()
    );
    println!(
        "  {}/vault/        the vault: encrypted blobs, index, keys (0600), log/ (the transparency log), log.pub",
        out.display()
    );
    println!(
        "  {}/exports/      an exported scan and its .tlog-proof receipt",
        out.display()
    );
    println!(
        "  {}/sanitised/    each file's report of what the sanitiser dropped and why",
        out.display()
    );
    println!(
        "  {}/previews/     PNG previews: greyscale and material colour",
        out.display()
    );
    let v = out.join("vault");
    println!("\nTry:");
    println!("  sluis vault list {}", v.display());
    println!("  sluis vault list {} --quarantine", v.display());
    println!("  sluis vault fsck {}", v.display());
    println!(
        "  sluis audit verify --log {}/log --key {}/log.pub",
        v.display(),
        v.display()
    );
    println!(
        "  sluis scan inspect {}/scanner/hostile-private-overlay-document.dcs",
        out.display()
    );
    Ok(())
}

/// An analyst reads, decides on and exports a scan; an auditor verifies the log and the receipt.
fn custody(out: &Path, vault: &Vault, stored: &[(String, String)]) -> Result<(), Failure> {
    // A real scan, not the hostile file that was accepted once its payload was dropped.
    let Some((id, name)) = stored
        .iter()
        .find(|(_, n)| n.starts_with("scan-"))
        .or(stored.first())
    else {
        return Ok(());
    };
    let analyst = vault.actor("analyst.demo@customs.example");
    let read = vault
        .read(id, &analyst, "alarm review")
        .map_err(vault_failure)?;
    vault
        .decide(id, Decision::Inspect, &analyst)
        .map_err(vault_failure)?;
    let exported = vault
        .export(id, false, &analyst, "case file for the inspection team")
        .map_err(vault_failure)?;
    let dcm = out.join("exports").join(format!("{id}.dcm"));
    write_bytes(&dcm, &exported.released.bytes)?;
    write_bytes(
        &out.join("exports").join(format!("{id}.dcm.tlog-proof")),
        exported.receipt.as_bytes(),
    )?;
    println!(
        "  an analyst read {name} ({} bytes; logged as entry {} before release), ordered an inspection, and exported it with a receipt",
        read.bytes.len(),
        read.record.index
    );
    // The auditor's side: only the public key.
    let key = sluis_audit::NoteVerifier::new(&vault.log_verifier_key().map_err(vault_failure)?)
        .map_err(|e| Failure::Internal(e.into()))?;
    let policy = Policy {
        log: Some(key),
        records: true,
        ..Policy::default()
    };
    let store = sluis_audit::FsStore::new(vault.layout().log()).map_err(Failure::env)?;
    let report =
        verify_log(&store, &policy, |_, _| {}).map_err(|e| Failure::Verification(e.into()))?;
    let proven = verify_receipt(exported.receipt.as_bytes(), &policy)
        .map_err(|e| Failure::Verification(e.into()))?;
    println!(
        "  an auditor verified the whole log ({} entries, every tile recomputed) and the receipt (entry {}) with the public key alone",
        report.entries, proven.index
    );
    let fsck = vault.fsck(&mut |_, _, _| {}).map_err(vault_failure)?;
    println!(
        "  fsck: {} objects verified, {} damaged",
        fsck.verified,
        fsck.damaged.len()
    );
    Ok(())
}
