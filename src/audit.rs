//! `sluis audit verify | verify-proof | cosign`: what an auditor runs, with public keys only.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use sha2::Digest as _;
use sluis_audit::remote::HttpSource;
use sluis_audit::verify::LogSource;
use sluis_audit::{FsStore, NoteVerifier, Policy, verify_log_records, verify_receipt};

use crate::failure::Failure;
use crate::files::write_bytes;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Verify a whole log: recompute the tree from every entry, compare every published tile,
    /// check the checkpoint's signature and cosignatures, and its consistency with the
    /// checkpoint you kept last time. Names the first entry, bundle or tile that does not
    /// match. Exits 5 if the log does not verify.
    Verify {
        /// The log: a directory (a vault's `log/`) or an http(s) URL where its files are served.
        #[arg(long)]
        log: String,
        /// The log's public key, or a file holding it (a vault's `log.pub`).
        #[arg(long)]
        key: String,
        /// A witness's public key (or a file holding it); repeat for each.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// How many of the witnesses must have cosigned (default: all given).
        #[arg(long)]
        quorum: Option<usize>,
        /// The checkpoint you kept from your last verification: the log must extend it.
        #[arg(long, value_name = "FILE")]
        since: Option<PathBuf>,
        /// Where to keep this checkpoint for next time (written only if the log verifies).
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
    /// Verify an offline receipt (`.tlog-proof`): the checkpoint's signatures, and that the
    /// audit record it carries is in the log. With --file, also that the record is of that
    /// file. Exits 5 if it does not verify.
    VerifyProof {
        /// The receipt.
        proof: PathBuf,
        /// The log's public key, or a file holding it.
        #[arg(long)]
        key: String,
        /// A witness's public key (or a file holding it); repeat for each.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// How many of the witnesses must have cosigned (default: all given).
        #[arg(long)]
        quorum: Option<usize>,
        /// The exported file the receipt is for.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Ask the witnesses in a vault's vault.toml to cosign its log's latest checkpoint.
    Cosign {
        /// The vault directory.
        dir: PathBuf,
    },
}

/// A key given inline or as a file.
pub(crate) fn key_arg(arg: &str) -> Result<NoteVerifier, Failure> {
    let text = if Path::new(arg).is_file() {
        std::fs::read_to_string(arg)
            .map_err(|e| Failure::env(anyhow::anyhow!("{arg}: {e}")))?
            .trim()
            .to_string()
    } else {
        arg.trim().to_string()
    };
    NoteVerifier::new(&text).map_err(|e| Failure::Usage(format!("key {arg:?}: {e}")))
}

fn policy(key: &str, witnesses: &[String], quorum: Option<usize>) -> Result<Policy, Failure> {
    let witnesses = witnesses
        .iter()
        .map(|w| key_arg(w))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(w) = witnesses.iter().find(|w| !w.is_cosigner()) {
        return Err(Failure::Usage(format!(
            "{} is not a witness (cosignature/v1) key",
            w.key_name()
        )));
    }
    let quorum = quorum.unwrap_or(witnesses.len());
    if quorum > witnesses.len() {
        return Err(Failure::Usage(format!(
            "a quorum of {quorum} needs at least {quorum} --witness keys"
        )));
    }
    Ok(Policy {
        log: Some(key_arg(key)?),
        witnesses,
        quorum,
        since: None,
        records: true,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The log directory to verify: `path` itself, or, given a vault's directory (as
/// `--log VAULT` is easily typed for `--log VAULT/log`), the vault's log, saying so.
fn local_log(path: &str) -> Result<std::path::PathBuf, Failure> {
    let p = std::path::Path::new(path);
    if p.join("checkpoint").is_file() {
        return Ok(p.to_path_buf());
    }
    if p.join("vault.toml").is_file() && p.join("log").join("checkpoint").is_file() {
        eprintln!(
            "sluis: {path} is a vault; verifying its log, {}",
            p.join("log").display()
        );
        return Ok(p.join("log"));
    }
    if !p.is_dir() {
        return Err(Failure::env(anyhow::anyhow!(
            "{path}: no such directory (give a log directory, such as VAULT/log, or its URL)"
        )));
    }
    Err(Failure::env(anyhow::anyhow!(
        "{path} is not a log: it has no checkpoint (a vault's log is VAULT/log)"
    )))
}

pub(crate) fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Verify {
            log,
            key,
            witnesses,
            quorum,
            since,
            save,
        } => {
            let mut policy = policy(&key, &witnesses, quorum)?;
            if let Some(p) = &since {
                policy.since = Some(
                    std::fs::read(p)
                        .map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", p.display())))?,
                );
            }
            let source: Box<dyn LogSource> =
                if log.starts_with("http://") || log.starts_with("https://") {
                    Box::new(HttpSource::new(&log))
                } else {
                    Box::new(FsStore::reader(local_log(&log)?))
                };
            let bar = crate::progress::progress_bar(0, "verifying");
            let mut releases = sluis_gate::RuleCheck::default();
            let report = verify_log_records(
                source.as_ref(),
                &policy,
                |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                },
                |at, record| releases.record(at, record),
            );
            bar.finish_and_clear();
            let report = report.map_err(|e| {
                Failure::Verification(anyhow::anyhow!("{}: {e}", source.describe()))
            })?;
            let cp = &report.checkpoint;
            println!(
                "log {} verifies: {} entries, {} tiles recomputed, {} earlier partial tiles and bundles checked",
                cp.origin, report.entries, report.tiles, report.partials
            );
            println!("checkpoint: size {}, root {}", cp.size, hex(&cp.root.0));
            if !policy.witnesses.is_empty() {
                println!(
                    "cosigned by {} of {} witnesses{}",
                    cp.cosigners.len(),
                    policy.witnesses.len(),
                    if cp.cosigners.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", cp.cosigners.join(", "))
                    }
                );
            }
            if let Some(k) = report.consistent_with {
                println!("consistent with the checkpoint you kept (size {k})");
            }
            // The update gate's rule, from the verified records: one digest per release.
            println!(
                "releases: {} named, {} second digests refused",
                releases.releases(),
                releases.refused()
            );
            if let Some(first) = releases.breaches().first() {
                for b in releases.breaches() {
                    eprintln!("sluis audit: release rule broken: {b}");
                }
                return Err(Failure::Verification(anyhow::anyhow!(
                    "the log verifies, but its release records break the one-digest rule ({} breaches; the first: {first})",
                    releases.breaches().len()
                )));
            }
            if let Some(p) = save {
                write_bytes(&p, &report.checkpoint_bytes)?;
                println!(
                    "kept this checkpoint in {} (pass it as --since next time)",
                    p.display()
                );
            }
            Ok(())
        }
        Command::VerifyProof {
            proof,
            key,
            witnesses,
            quorum,
            file,
        } => {
            let policy = policy(&key, &witnesses, quorum)?;
            let bytes = std::fs::read(&proof)
                .map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", proof.display())))?;
            let proven = verify_receipt(&bytes, &policy)
                .map_err(|e| Failure::Verification(anyhow::anyhow!("{}: {e}", proof.display())))?;
            let r = &proven.record;
            println!(
                "entry {} of {} (checkpoint size {}){}",
                proven.index,
                proven.checkpoint.origin,
                proven.checkpoint.size,
                if proven.checkpoint.cosigners.is_empty() {
                    String::new()
                } else {
                    format!(", cosigned by {}", proven.checkpoint.cosigners.join(", "))
                }
            );
            println!(
                "{} {} {} by {} at {}{}",
                serde_json::to_value(r.action)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                r.object.as_deref().unwrap_or("-"),
                serde_json::to_value(r.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                r.actor,
                r.time,
                r.purpose
                    .as_ref()
                    .map(|p| format!(", purpose: {p}"))
                    .unwrap_or_default()
            );
            if let Some(f) = file {
                let data = std::fs::read(&f)
                    .map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", f.display())))?;
                let digest = hex(&sha2::Sha256::digest(&data));
                let claimed = r
                    .detail
                    .as_deref()
                    .and_then(|d| d.split(' ').find_map(|w| w.strip_prefix("sha256=")));
                match claimed {
                    Some(c) if c == digest => {
                        println!("{} is the exported file (sha256 {digest})", f.display())
                    }
                    Some(c) => {
                        return Err(Failure::Verification(anyhow::anyhow!(
                            "{} has sha256 {digest}; the logged export was of {c}",
                            f.display()
                        )));
                    }
                    None => {
                        return Err(Failure::Verification(anyhow::anyhow!(
                            "the record names no file digest; it is not an export record"
                        )));
                    }
                }
            }
            Ok(())
        }
        Command::Cosign { dir } => {
            let v = sluis_vault::Vault::open(&dir).map_err(crate::vault::vault_failure)?;
            let outcomes = v.cosign();
            if outcomes.is_empty() {
                return Err(Failure::Usage(format!(
                    "no [[witness]] in {}",
                    v.layout().config().display()
                )));
            }
            let mut failed = 0;
            for (url, r) in outcomes {
                match r {
                    Ok(size) => println!("{url}: cosigned size {size}"),
                    Err(e) => {
                        println!("{url}: FAILED: {e}");
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                return Err(Failure::env(anyhow::anyhow!(
                    "{failed} witness(es) did not cosign"
                )));
            }
            Ok(())
        }
    }
}
