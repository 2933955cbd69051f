//! `sluis edge`: the arguments, the configuration file, signals, the metrics endpoint and exit
//! codes, over `sluis_edge`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args as ClapArgs, Subcommand};
use prometheus_client::registry::Registry;
use sluis_edge::{EdgeConfig, EdgeError};
use sluis_link::{EdgeKey, SenderMetrics};

use crate::failure::Failure;
use crate::service::{self, load_toml};

/// `sluis edge`.
#[derive(Debug, ClapArgs)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct RunArgs {
    /// The edge's configuration (TOML).
    #[arg(long, value_name = "FILE", default_value = "edge.toml")]
    config: PathBuf,
    /// The core's link address, overriding `[link] to`.
    #[arg(long, value_name = "HOST:PORT")]
    link_to: Option<SocketAddr>,
    /// Validate the configuration and the host, say what to change, and exit.
    #[arg(long)]
    check: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Re-send spooled objects `--from` to `--to` (inclusive) after the core reported them lost.
    Replay {
        #[command(flatten)]
        run: RunArgs,
        /// First object id.
        #[arg(long)]
        from: u64,
        /// Last object id.
        #[arg(long)]
        to: u64,
    },
    /// Make the edge's signing key and write the public key the core needs.
    Keygen {
        /// The secret key file (mode 0600; never overwritten).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write the public key.
        #[arg(long, value_name = "FILE")]
        public: PathBuf,
    },
}

fn load(args: &RunArgs) -> Result<EdgeConfig, Failure> {
    let mut cfg: EdgeConfig = load_toml(&args.config)?;
    cfg.resolve(args.config.parent().unwrap_or(Path::new(".")));
    if let Some(to) = args.link_to {
        cfg.link.to = to;
    }
    cfg.validate()
        .map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", args.config.display())))?;
    Ok(cfg)
}

fn edge_failure(e: EdgeError) -> Failure {
    match e {
        EdgeError::Range { .. } => Failure::Usage(e.to_string()),
        e => Failure::env(e),
    }
}

pub(crate) fn run(args: Args) -> Result<(), Failure> {
    match args.command {
        Some(Command::Keygen { key, public }) => {
            let k = EdgeKey::generate().map_err(Failure::env)?;
            k.write(&key).map_err(Failure::env)?;
            crate::files::write_bytes(&public, format!("{}\n", k.verifier().to_text()).as_bytes())?;
            println!(
                "edge key: {}\npublic key for the core: {}",
                key.display(),
                public.display()
            );
            Ok(())
        }
        Some(Command::Replay { run, from, to }) => {
            let cfg = load(&run)?;
            let r = sluis_edge::replay(&cfg, from, to).map_err(edge_failure)?;
            println!(
                "replayed {} object(s) {from}..={to} to {}",
                r.sent, cfg.link.to
            );
            if !r.missing.is_empty() {
                println!(
                    "not in the spool any more (pruned by the budget, or never made): {}",
                    service::ranges(&r.missing)
                );
            }
            Ok(())
        }
        None if args.run.check => {
            let cfg = load(&args.run)?;
            let mut findings = vec![sluis_link::check::Finding::ok(format!(
                "configuration {} parses",
                args.run.config.display()
            ))];
            findings.extend(sluis_edge::check(&cfg));
            service::report(&findings)
        }
        None => {
            let cfg = load(&args.run)?;
            let stop = service::stop_on_signal();
            let metrics = SenderMetrics::default();
            let mut threads = Vec::new();
            if let Some(addr) = cfg.edge.metrics_listen {
                let mut registry = Registry::default();
                metrics.register(&mut registry);
                threads.push(service::serve_metrics(addr, registry, stop.clone())?);
            }
            let result = sluis_edge::run(&cfg, &metrics, stop.clone());
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            for t in threads {
                let _ = t.join();
            }
            result.map_err(edge_failure)
        }
    }
}
