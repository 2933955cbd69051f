//! `sluis core` and `sluis core-zygote`: the arguments, the configuration file, signals, the
//! metrics endpoint, the workstation served from the same process, and exit codes, over
//! `sluis_core`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args as ClapArgs;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use sluis_core::{CoreError, CoreMetrics, CoreSection, LinkSection, WorkerLimits};
use sluis_link::ReceiverLimits;
use sluis_scan::Limits;

use crate::failure::Failure;
use crate::service::{self, load_toml};

/// `sluis core`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The core's configuration (TOML).
    #[arg(long, value_name = "FILE", default_value = "core.toml")]
    config: PathBuf,
    /// Where to receive the link, overriding `[link] listen`.
    #[arg(long, value_name = "HOST:PORT")]
    link_listen: Option<SocketAddr>,
    /// Validate the configuration and the host, say what to change, and exit.
    #[arg(long)]
    check: bool,
}

/// The core's configuration file: the library's sections and the workstation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CoreFile {
    link: LinkSection,
    #[serde(default)]
    receiver: ReceiverLimits,
    core: CoreSection,
    #[serde(default)]
    worker: WorkerLimits,
    /// The analyst workstation, served from this process over the same open vault.
    workstation: Option<sluis_server::workstation::Workstation>,
}

fn load(
    args: &Args,
) -> Result<
    (
        sluis_core::Config,
        Option<sluis_server::workstation::Workstation>,
    ),
    Failure,
> {
    let file: CoreFile = load_toml(&args.config)?;
    let mut cfg = sluis_core::Config {
        link: file.link,
        receiver: file.receiver,
        core: file.core,
        worker: file.worker,
    };
    cfg.resolve(args.config.parent().unwrap_or(Path::new(".")));
    if let Some(l) = args.link_listen {
        cfg.link.listen = l;
    }
    Ok((cfg, file.workstation))
}

fn core_failure(e: CoreError) -> Failure {
    match e {
        CoreError::Panicked(_) => Failure::Internal(e.into()),
        e => Failure::env(e),
    }
}

pub(crate) fn run(args: &Args, limits: &Limits, limits_file: Option<&Path>) -> Result<(), Failure> {
    if args.check {
        return check(args);
    }
    let (cfg, workstation) = load(args)?;
    let vault =
        Arc::new(sluis_vault::Vault::open(&cfg.core.vault).map_err(crate::vault::vault_failure)?);
    let stop = service::stop_on_signal();
    let metrics = CoreMetrics::default();
    let mut threads = Vec::new();
    if let Some(addr) = cfg.core.metrics_listen {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        threads.push(service::serve_metrics(addr, registry, stop.clone())?);
    }
    let workstation = match &workstation {
        Some(w) => Some(crate::serve::start(
            vault.clone(),
            &cfg.core.vault,
            w,
            stop.clone(),
        )?),
        None => None,
    };
    let zygote = zygote_command(limits_file.map(Path::to_path_buf), cfg.worker)?;
    // The core holds the vault: account changes `sluis user` makes meanwhile get their audit
    // records here (the workstation does it where the core serves one).
    let accounts_file = cfg.core.vault.join("accounts.sqlite");
    let mut accounts: Option<sluis_server::Accounts> = None;
    let v = vault.clone();
    let dir = cfg.core.vault.clone();
    let serving = workstation.is_some();
    let mut idle = || {
        if serving || !accounts_file.is_file() {
            return;
        }
        if accounts.is_none() {
            accounts = sluis_server::Accounts::open(&dir)
                .map_err(|e| tracing::error!("accounts: {e}"))
                .ok();
        }
        if let Some(a) = &accounts
            && let Err(e) = sluis_server::users::log_account_changes(a, &v)
        {
            tracing::error!("account changes wait for their records: {e}");
        }
    };
    let result = sluis_core::run(
        &cfg,
        vault,
        limits,
        zygote,
        &metrics,
        stop.clone(),
        &mut idle,
    );
    // Whatever ended the core ends the rest of the process.
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    if let Some(w) = workstation {
        match w.join() {
            Ok(r) => r?,
            Err(_) => return Err(Failure::Internal(anyhow::anyhow!("workstation panicked"))),
        }
    }
    result.map_err(core_failure)
}

/// The command that starts a pipeline's zygote: this binary's hidden `core-zygote`, with the
/// limits file for reading hostile input and the worker's limits.
fn zygote_command(
    limits_file: Option<PathBuf>,
    worker: WorkerLimits,
) -> Result<sluis_core::ZygoteCommand, Failure> {
    let exe = std::env::current_exe()?;
    Ok(Arc::new(move || {
        let mut cmd = std::process::Command::new(&exe);
        if let Some(l) = &limits_file {
            cmd.arg("--limits").arg(l);
        }
        cmd.arg("core-zygote")
            .arg("--address-space-mb")
            .arg(worker.address_space_mb.to_string())
            .arg("--cpu-seconds")
            .arg(worker.cpu_seconds.to_string())
            .arg("--open-files")
            .arg(worker.open_files.to_string());
        if worker.isolate_network {
            cmd.arg("--isolate-network");
        }
        cmd
    }))
}

fn check(args: &Args) -> Result<(), Failure> {
    let (cfg, workstation) = load(args)?;
    let mut findings = vec![sluis_link::check::Finding::ok(format!(
        "configuration {} parses",
        args.config.display()
    ))];
    findings.extend(sluis_core::check(&cfg));
    if let Some(ws) = &workstation {
        findings.push(crate::serve::check(ws));
    }
    service::report(&findings)
}

/// `sluis core-zygote` (internal): forks a worker per object (see `sluis_core::worker`).
#[derive(Debug, ClapArgs)]
pub(crate) struct ZygoteArgs {
    #[arg(long)]
    address_space_mb: u64,
    #[arg(long)]
    cpu_seconds: u64,
    #[arg(long)]
    open_files: u64,
    #[arg(long)]
    isolate_network: bool,
}

pub(crate) fn zygote(args: &ZygoteArgs, limits: &Limits) -> Result<(), Failure> {
    let worker = WorkerLimits {
        address_space_mb: args.address_space_mb,
        cpu_seconds: args.cpu_seconds,
        open_files: args.open_files,
        isolate_network: args.isolate_network,
        ..WorkerLimits::default()
    };
    sluis_core::worker::zygote::serve(&worker, limits).map_err(Failure::env)
}
