//! The `sluis` command line: argument parsing and wiring over the library crates.
//!
//! Logic lives in the crates (`sluis-scan`, `sluis-synth`, `sluis-vault`, `sluis-audit`,
//! `sluis-link`, `sluis-edge`, `sluis-core`, `sluis-watch`, `sluis-server`); this binary parses
//! arguments and configuration files, reads files within limits, calls the crates, writes
//! results atomically, handles signals, serves `/metrics` and the witness over HTTP, and maps
//! outcomes to exit codes.

mod audit;
mod core;
mod declaration;
mod demo;
mod edge;
mod failure;
mod files;
mod progress;
mod scan;
mod serve;
mod service;
mod synth;
mod user;
mod vault;
mod watch;
mod witness;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluis_scan::Limits;

use crate::failure::Failure;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the input was refused: one line names the rule, where, and whose fault
     (`vault put`: one or more files were quarantined; the others were stored)
  2  the command line was wrong
  3  a file, key or vault could not be used (environment: missing, wrong mode, wrong key)
  4  internal error: a bug in sluis; please report it
  5  verification failed: damage or tampering found (fsck, audit verify, a damaged object)";

#[derive(Debug, Parser)]
#[command(name = "sluis", version, about = "Use X-ray cargo scanners you cannot trust: intake, sanitising, custody.", after_help = EXIT_CODES)]
struct Cli {
    /// Limits for reading hostile input, as TOML (keys of `sluis_scan::Limits`; defaults apply
    /// to keys left out).
    #[arg(long, global = true, value_name = "FILE")]
    limits: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run sluis end to end on synthetic scans and print where to look.
    Demo(demo::Args),
    /// Inspect, sanitise and render single scan files.
    #[command(subcommand, after_help = EXIT_CODES)]
    Scan(scan::Command),
    /// Generate synthetic dual-energy cargo scans with ground-truth threat reports.
    Synth(synth::Args),
    /// The vault: store, read, export, list, decide, expire, rotate keys, check.
    #[command(subcommand, after_help = EXIT_CODES)]
    Vault(vault::Command),
    /// Verify a transparency log or a receipt with public keys alone.
    #[command(subcommand, after_help = EXIT_CODES)]
    Audit(audit::Command),
    /// The enclave side of the one-way link: DICOM C-STORE and drop-folder intake, spool, send.
    #[command(after_help = EXIT_CODES)]
    Edge(edge::Args),
    /// The customs side of the one-way link: receive, sanitise in a capped worker, store, log.
    #[command(after_help = EXIT_CODES)]
    Core(core::Args),
    /// Internal: forks the sanitiser worker process of each object for `sluis core`.
    #[command(hide = true)]
    CoreZygote(core::ZygoteArgs),
    /// The analyst workstation's server (over a vault no core holds; a core serves it itself).
    #[command(after_help = EXIT_CODES)]
    Serve(serve::ServeArgs),
    /// Customs declarations the workstation shows beside the scans: import, show.
    #[command(subcommand, after_help = EXIT_CODES)]
    Declaration(declaration::Command),
    /// The workstation's local accounts: add, list, disable, enable, change of role.
    #[command(subcommand, after_help = EXIT_CODES)]
    User(user::Command),
    /// The enclave watch: traffic against the allow-list policy, alerts as EVE JSON and syslog.
    #[command(subcommand, after_help = EXIT_CODES)]
    Watch(watch::Command),
    /// Run a witness that cosigns a log's checkpoints (C2SP tlog-witness).
    #[command(subcommand, after_help = EXIT_CODES)]
    Witness(witness::Command),
}

fn load_limits(path: Option<&PathBuf>) -> Result<Limits, Failure> {
    let Some(path) = path else {
        return Ok(Limits::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::env(anyhow::anyhow!("reading limits {}: {e}", path.display())))?;
    let limits: Limits = toml::from_str(&text)
        .map_err(|e| Failure::env(anyhow::anyhow!("limits {}: {e}", path.display())))?;
    limits
        .validate()
        .map_err(|r| Failure::env(anyhow::anyhow!("limits {}: {}", path.display(), r.detail)))?;
    Ok(limits)
}

/// jemalloc keeps freed memory mapped for a while (`dirty_decay_ms`, 10 s) and hands it out
/// again; glibc's malloc maps each multi-megabyte buffer afresh and unmaps it when freed. The
/// core handles a scan of megabytes every few tens of milliseconds, and every fresh page is a
/// page fault: measured on the intake benchmark, the core's CPU per scan fell by a fifth.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Before any thread starts (the umask is process-wide): whatever this process creates,
    // through any library, is its owner's only. Scans, keys, indexes and logs are trade data.
    sluis_secret::restrict_umask();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUIS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = load_limits(cli.limits.as_ref()).and_then(|limits| match cli.command {
        Command::Demo(args) => demo::run(&args, &limits),
        Command::Scan(cmd) => scan::run(cmd, &limits),
        Command::Synth(args) => synth::run(&args),
        Command::Vault(cmd) => vault::run(cmd, &limits),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Witness(cmd) => witness::run(cmd),
        Command::Watch(cmd) => watch::run(cmd),
        Command::User(cmd) => user::run(cmd),
        Command::Declaration(cmd) => declaration::run(cmd),
        Command::Serve(args) => serve::run(&args),
        Command::Edge(args) => edge::run(args),
        Command::Core(args) => core::run(&args, &limits, cli.limits.as_deref()),
        Command::CoreZygote(args) => core::zygote(&args, &limits),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused { input, refusal }) => {
            eprintln!("sluis: {input}: {refusal}");
            ExitCode::from(1)
        }
        Err(Failure::Quarantined(n)) => {
            eprintln!("sluis: {n} file(s) refused and quarantined");
            ExitCode::from(1)
        }
        Err(Failure::Usage(e)) => {
            eprintln!("sluis: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Verification(e)) => {
            eprintln!("sluis: verification failed: {e:#}");
            ExitCode::from(5)
        }
        Err(Failure::Environment(e)) => {
            eprintln!("sluis: {e:#}");
            ExitCode::from(3)
        }
        Err(Failure::Internal(e)) => {
            eprintln!("sluis: internal error: {e:#}");
            ExitCode::from(4)
        }
    }
}
