//! `sluis vault init | put | get | export | list | decide | expire | rotate-key | fsck`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use sluis_scan::{Fault, Limits, sanitise};
use sluis_vault::{Decision, Filter, Kind, ObjectRow, State, Vault, VaultError};

use crate::failure::Failure;
use crate::files::{read_bounded, write_bytes, write_json};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a vault in DIR (new or empty): configuration, key-encryption key, index secret,
    /// the log's signing key, the index and the log. Prints the log's public key for auditors.
    Init {
        /// The vault directory.
        dir: PathBuf,
        /// The log's origin line, e.g. customs.example/sluis/rotterdam (default: random).
        #[arg(long)]
        origin: Option<String>,
    },
    /// Sanitise each FILE and store it encrypted; refused files go to the quarantine with their
    /// refusal. Prints one line per file: `stored ID FILE`, `duplicate ID FILE` or
    /// `quarantined ID FILE: RULE`. Exits 1 if any file was quarantined.
    Put {
        /// The vault directory.
        dir: PathBuf,
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Who stores them (an account name; only its pseudonym is logged).
        #[arg(long, env = "USER", default_value = "sluis-cli")]
        actor: String,
    },
    /// Decrypt a scan to FILE after its read is logged (and durable).
    Get {
        /// The vault directory.
        dir: PathBuf,
        /// The scan's id.
        id: String,
        /// Where to write the canonical DICOS.
        #[arg(long)]
        out: PathBuf,
        /// Who reads it (an account name; only its pseudonym is logged).
        #[arg(long)]
        actor: String,
        /// Why: a purpose code from vault.toml (the defaults: analysis, referral-review,
        /// evidence, investigation, court-order, quality-review, training, audit-request,
        /// incident-response, test). Only the code is logged.
        #[arg(long)]
        purpose: String,
        /// Free text (a case number): kept on the desk beside the vault, only its SHA-256 in
        /// the log.
        #[arg(long)]
        note: Option<String>,
    },
    /// Export a scan (or a quarantined input) with its offline receipt: writes ID.dcm (or
    /// ID.bin and ID.refusal.json) and ID.dcm.tlog-proof into DIR.
    Export {
        /// The vault directory.
        dir: PathBuf,
        /// The object's id.
        id: String,
        /// The directory to export into.
        #[arg(long)]
        to: PathBuf,
        /// Who exports it.
        #[arg(long)]
        actor: String,
        /// Why: a purpose code from vault.toml; only the code is logged.
        #[arg(long)]
        purpose: String,
        /// Free text (a case number): kept on the desk beside the vault, only its SHA-256 in
        /// the log.
        #[arg(long)]
        note: Option<String>,
        /// Export from the quarantine.
        #[arg(long)]
        quarantine: bool,
    },
    /// List scans (or quarantined inputs), oldest first, a page at a time.
    List {
        /// The vault directory.
        dir: PathBuf,
        /// A container number or conveyance id.
        #[arg(long)]
        id: Option<String>,
        /// Part of a station name, manufacturer, model or serial number.
        #[arg(long)]
        scanner: Option<String>,
        /// clear, inspect, seize, refer (to a supervisor), or undecided.
        #[arg(long)]
        decision: Option<String>,
        /// Stored at or after (RFC 3339 or a date, UTC).
        #[arg(long)]
        from: Option<String>,
        /// Stored before.
        #[arg(long)]
        until: Option<String>,
        /// List the quarantine instead of scans.
        #[arg(long)]
        quarantine: bool,
        /// Include shredded objects (tombstones).
        #[arg(long)]
        shredded: bool,
        /// Rows per page.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue after this row (the cursor the previous page printed).
        #[arg(long)]
        after: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Record a decision on a scan (which also sets its retention class).
    Decide {
        /// The vault directory.
        dir: PathBuf,
        /// The scan's id.
        id: String,
        /// clear, inspect, seize or refer (to a supervisor).
        #[arg(long)]
        decision: String,
        /// Who decides.
        #[arg(long)]
        actor: String,
    },
    /// Crypto-shred every object whose retention has ended, and log each deletion.
    Expire {
        /// The vault directory.
        dir: PathBuf,
        /// Who runs it.
        #[arg(long, env = "USER", default_value = "sluis-cli")]
        actor: String,
    },
    /// Replace the key-encryption key: rewrap every data key, destroy the old key.
    RotateKey {
        /// The vault directory.
        dir: PathBuf,
        /// Who runs it (a key custodian).
        #[arg(long)]
        actor: String,
    },
    /// Check every object decrypts and matches, the index and the log agree, and the log
    /// verifies. Repairs nothing. Exits 5 if anything is damaged.
    Fsck {
        /// The vault directory.
        dir: PathBuf,
        /// Delete blobs no object refers to (left by interrupted stores), logging each.
        #[arg(long)]
        remove_unreferenced: bool,
    },
}

/// Maps a vault error to how the command fails.
pub(crate) fn vault_failure(e: VaultError) -> Failure {
    match e {
        VaultError::Damaged { .. } => Failure::Verification(e.into()),
        VaultError::Purpose(p) => Failure::Usage(p),
        e @ VaultError::NotAScan(_) => Failure::Usage(e.to_string()),
        other => Failure::env(other),
    }
}

fn open(dir: &Path) -> Result<Vault, Failure> {
    let v = Vault::open(dir).map_err(vault_failure)?;
    if !v.recovered().is_empty() {
        eprintln!(
            "sluis: finished {} operation(s) interrupted by a crash: {}",
            v.recovered().len(),
            v.recovered().join(", ")
        );
    }
    Ok(v)
}

/// A note as given: trimmed, one line, bounded; none if empty.
fn checked_note(note: Option<String>) -> Result<Option<String>, Failure> {
    let Some(n) = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if n.chars().count() > sluis_server::desk::MAX_NOTE || n.chars().any(char::is_control) {
        return Err(Failure::Usage(format!(
            "a note is at most {} characters on one line",
            sluis_server::desk::MAX_NOTE
        )));
    }
    Ok(Some(n))
}

/// Keeps a read's or an export's note on the desk beside the vault, by its record's index (the
/// record holds only its SHA-256).
fn keep_note(
    dir: &Path,
    record: u64,
    id: &str,
    actor: &str,
    purpose: &str,
    note: Option<String>,
) -> Result<(), Failure> {
    let Some(text) = note else {
        return Ok(());
    };
    let desk = sluis_server::desk::Desk::open(dir).map_err(Failure::env)?;
    desk.add_note(&sluis_server::desk::PurposeNote {
        record,
        object: id.to_string(),
        author: actor.to_string(),
        at: sluis_server::http::wall_clock(),
        purpose: purpose.to_string(),
        text,
    })
    .map_err(Failure::env)
}

fn warn_witnesses(outcomes: &[(String, Result<u64, String>)]) {
    for (url, r) in outcomes {
        match r {
            Ok(size) => eprintln!("sluis: witness {url} cosigned the checkpoint of size {size}"),
            Err(e) => eprintln!("sluis: warning: witness {url} did not cosign: {e}"),
        }
    }
}

fn parse_decision(s: &str) -> Result<Decision, Failure> {
    Decision::parse(s).ok_or_else(|| {
        Failure::Usage(format!(
            "decision {s:?}: expected clear, inspect, seize or refer"
        ))
    })
}

/// A time bound: RFC 3339, or a date (midnight UTC).
fn parse_bound(s: &str) -> Result<String, Failure> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    sluis_vault::vault::normalise_time(&full).ok_or_else(|| {
        Failure::Usage(format!(
            "{s:?} is not a time (RFC 3339, e.g. 2026-11-28T09:00:00Z, or a date, 2026-11-28)"
        ))
    })
}

fn print_row(r: &ObjectRow) {
    let (what, where_, ids) = match (&r.scan, &r.quarantine) {
        (Some(s), _) => (
            s.modality.clone(),
            s.station.clone().unwrap_or_default(),
            s.containers
                .iter()
                .chain(s.conveyance.iter())
                .cloned()
                .collect::<Vec<_>>()
                .join(","),
        ),
        (None, Some(q)) => ("refused".into(), q.rule.clone(), q.source.clone()),
        (None, None) => (String::new(), String::new(), String::new()),
    };
    println!(
        "{}  {}  {:<7} {:<20} {:<28} {:<9} {:<10} {}",
        r.id,
        r.stored_at.get(..19).unwrap_or(&r.stored_at),
        what,
        where_,
        ids,
        r.decision
            .map(|d| d.to_string())
            .unwrap_or_else(|| "-".into()),
        if r.state == State::Shredded {
            "shredded".to_string()
        } else {
            r.class.clone()
        },
        r.expires_at.get(..10).unwrap_or(&r.expires_at)
    );
}

pub(crate) fn run(cmd: Command, limits: &Limits) -> Result<(), Failure> {
    match cmd {
        Command::Init { dir, origin } => {
            let v = Vault::init(&dir, origin.as_deref()).map_err(vault_failure)?;
            let key = v.log_verifier_key().map_err(vault_failure)?;
            println!("created vault {}", dir.display());
            println!("  log origin:      {}", v.config().origin);
            println!("  log public key:  {key}");
            println!(
                "                   (in {}; give it to auditors)",
                v.layout().log_pub().display()
            );
            println!(
                "  secret keys:     {} (mode 0600: back them up offline; an HSM replaces kek-*.key)",
                v.layout().keys().display()
            );
            println!(
                "  configuration:   {} (retention, witnesses)",
                v.layout().config().display()
            );
            Ok(())
        }
        Command::Put { dir, files, actor } => {
            let v = open(&dir)?;
            let who = v.actor(&actor);
            let mut quarantined = 0usize;
            for file in &files {
                let bytes = read_bounded(file, limits)?;
                match sanitise(&bytes, limits) {
                    Ok(s) => {
                        let stored = v.store(&s.scan, &who).map_err(vault_failure)?;
                        let word = if stored.duplicate {
                            "duplicate"
                        } else {
                            "stored"
                        };
                        println!("{word} {} {}", stored.id, file.display());
                    }
                    Err(refusal) if refusal.fault == Fault::Internal => {
                        return Err(Failure::Internal(anyhow::anyhow!(
                            "{}: {refusal}",
                            file.display()
                        )));
                    }
                    Err(refusal) => {
                        let q = v
                            .quarantine(&bytes, &file.display().to_string(), &refusal, &who)
                            .map_err(vault_failure)?;
                        println!("quarantined {} {}: {}", q.id, file.display(), refusal);
                        quarantined += 1;
                    }
                }
            }
            warn_witnesses(&v.cosign());
            if quarantined > 0 {
                return Err(Failure::Quarantined(quarantined));
            }
            Ok(())
        }
        Command::Get {
            dir,
            id,
            out,
            actor,
            purpose,
            note,
        } => {
            let v = open(&dir)?;
            let note = checked_note(note)?;
            let released = v
                .read_noted(&id, &v.actor(&actor), &purpose, note.as_deref())
                .map_err(vault_failure)?;
            keep_note(&dir, released.record.index, &id, &actor, &purpose, note)?;
            write_bytes(&out, &released.bytes)?;
            println!(
                "wrote {} ({} bytes); read logged as entry {} of {}",
                out.display(),
                released.bytes.len(),
                released.record.index,
                v.log_verifier().key_name()
            );
            Ok(())
        }
        Command::Export {
            dir,
            id,
            to,
            actor,
            purpose,
            note,
            quarantine,
        } => {
            let v = open(&dir)?;
            let note = checked_note(note)?;
            let exported = v
                .export(&id, quarantine, &v.actor(&actor), &purpose, note.as_deref())
                .map_err(vault_failure)?;
            let record = exported.released.record.index;
            keep_note(&dir, record, &id, &actor, &purpose, note)?;
            warn_witnesses(&exported.witnesses);
            std::fs::create_dir_all(&to)
                .map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", to.display())))?;
            let name = if quarantine {
                format!("{id}.bin")
            } else {
                format!("{id}.dcm")
            };
            let data = to.join(&name);
            write_bytes(&data, &exported.released.bytes)?;
            if let Some(q) = &exported.released.row.quarantine {
                write_json(&to.join(format!("{id}.refusal.json")), q)?;
            }
            let proof = to.join(format!("{name}.tlog-proof"));
            write_bytes(&proof, exported.receipt.as_bytes())?;
            println!("wrote {}", data.display());
            println!(
                "wrote {} (export logged as entry {})",
                proof.display(),
                exported.released.record.index
            );
            Ok(())
        }
        Command::List {
            dir,
            id,
            scanner,
            decision,
            from,
            until,
            quarantine,
            shredded,
            limit,
            after,
            json,
        } => {
            let v = open(&dir)?;
            let decision = match decision.as_deref() {
                None => None,
                Some("undecided") => Some(None),
                Some(d) => Some(Some(parse_decision(d)?)),
            };
            let after = match after {
                None => None,
                Some(c) => {
                    let (at, id) = c.split_once('/').ok_or_else(|| {
                        Failure::Usage(format!("cursor {c:?}: expected TIME/ID as printed"))
                    })?;
                    Some((at.to_string(), id.to_string()))
                }
            };
            let filter = Filter {
                kind: Some(if quarantine {
                    Kind::Quarantine
                } else {
                    Kind::Scan
                }),
                states: if shredded {
                    vec![State::Live, State::Shredded]
                } else {
                    vec![State::Live]
                },
                identifier: id,
                scanner,
                decision,
                stored_from: from.as_deref().map(parse_bound).transpose()?,
                stored_until: until.as_deref().map(parse_bound).transpose()?,
                after,
                limit: limit.clamp(1, 10_000),
                ..Filter::default()
            };
            let rows = v.list(&filter).map_err(vault_failure)?;
            if !json && !rows.is_empty() {
                println!(
                    "{:<34}  {:<19}  {:<7} {:<20} {:<28} {:<9} {:<10} EXPIRES",
                    "ID",
                    "STORED (UTC)",
                    "WHAT",
                    "STATION / RULE",
                    "CONTAINERS, CONVEYANCE",
                    "DECISION",
                    "CLASS"
                );
            }
            for r in &rows {
                if json {
                    let line = serde_json::to_string(r).map_err(|e| Failure::Internal(e.into()))?;
                    println!("{line}");
                } else {
                    print_row(r);
                }
            }
            if let (Some(last), true) = (rows.last(), rows.len() == filter.limit) {
                eprintln!("more: --after {}/{}", last.stored_at, last.id);
            }
            Ok(())
        }
        Command::Decide {
            dir,
            id,
            decision,
            actor,
        } => {
            let d = parse_decision(&decision)?;
            let v = open(&dir)?;
            let row = v
                .decide(&id, d, None, &v.actor(&actor))
                .map_err(vault_failure)?;
            println!(
                "{} decided {}: retention class {} until {}",
                row.id, d, row.class, row.expires_at
            );
            warn_witnesses(&v.cosign());
            Ok(())
        }
        Command::Expire { dir, actor } => {
            let v = open(&dir)?;
            let expired = v
                .expire(&sluis_vault::vault::now(), &v.actor(&actor))
                .map_err(vault_failure)?;
            for (id, class) in &expired.shredded {
                println!("shredded {id} (retention class {class} ended)");
            }
            println!("{} object(s) crypto-shredded", expired.shredded.len());
            warn_witnesses(&v.cosign());
            Ok(())
        }
        Command::RotateKey { dir, actor } => {
            let v = open(&dir)?;
            let r = v.rotate_kek(&v.actor(&actor)).map_err(vault_failure)?;
            println!(
                "new key-encryption key {}; {} data key(s) rewrapped; destroyed {}",
                r.new_kek,
                r.rewrapped,
                if r.retired.is_empty() {
                    "none".to_string()
                } else {
                    r.retired.join(", ")
                }
            );
            Ok(())
        }
        Command::Fsck {
            dir,
            remove_unreferenced,
        } => {
            let v = open(&dir)?;
            let total: u64 = v
                .counts()
                .map_err(vault_failure)?
                .iter()
                .map(|(_, _, n)| n)
                .sum();
            let bar = crate::progress::progress_bar(total, "checking");
            let report = v
                .fsck(&mut |done, _, bytes| {
                    bar.set_position(done);
                    bar.set_message(format!("{} MiB verified", bytes >> 20));
                })
                .map_err(vault_failure)?;
            bar.finish_and_clear();
            println!(
                "{} object(s): {} verified ({} MiB), {} shredded, {} damaged",
                report.objects,
                report.verified,
                report.bytes >> 20,
                report.shredded,
                report.damaged.len()
            );
            for d in &report.damaged {
                println!("DAMAGED {}: {}", d.id, d.problem);
            }
            match &report.log {
                Ok(n) => println!("log: {n} entries verified against the signed checkpoint"),
                Err(e) => println!("LOG DAMAGED: {e}"),
            }
            for (addr, len) in &report.unreferenced {
                println!("unreferenced blob {addr} ({len} bytes): left by an interrupted store");
            }
            for k in &report.unused_keys {
                println!("key {k} wraps no data key (rotate-key destroys it)");
            }
            if remove_unreferenced && !report.unreferenced.is_empty() {
                let n = v
                    .remove_unreferenced(&v.system_actor())
                    .map_err(vault_failure)?;
                println!("removed {n} unreferenced blob(s); each removal is logged");
            }
            if report.is_clean() {
                Ok(())
            } else {
                Err(Failure::Verification(anyhow::anyhow!(
                    "{} damaged object(s){}",
                    report.damaged.len(),
                    if report.log.is_err() {
                        ", and the log does not verify"
                    } else {
                        ""
                    }
                )))
            }
        }
    }
}
