//! `sluis serve`: the workstation's server (the logic is in `sluis-server`), on its own or, with
//! a `[workstation]` section in the core's configuration, inside `sluis core`, sharing the open
//! vault: a vault is held by one process, and this way analysts see scans as the core stores
//! them. HTTPS by default (rustls; a configured certificate, or one generated beside the vault on
//! the first run); plain HTTP only when asked, and only on loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Args;
use sluis_server::workstation::{StartError, Workstation, default_per_client};

use crate::failure::Failure;
use crate::service;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The vault whose scans, accounts and desk are served.
    #[arg(long, value_name = "DIR")]
    vault: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// The certificate chain (PEM); without it one is generated in VAULT/tls/ on the first run.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP instead (loopback addresses only).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    plain_http: bool,
    /// A name requests may carry in `Host` (`name` or `name:port`; repeat for more). Without
    /// one, the listening address (and `localhost` on loopback) is accepted.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// Seconds a request's headers, or its body, may take to arrive; also how long a kept-alive
    /// connection may wait for its next request.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    request_timeout_s: u64,
}

/// The `--check` line of a workstation served from the core's process.
pub(crate) fn check(ws: &Workstation) -> sluis_link::check::Finding {
    use sluis_link::check::Finding;
    match ws.validate() {
        Err(e) => Finding::fail(format!("workstation on {}: {e}", ws.listen)),
        Ok(()) => Finding::ok(format!(
            "workstation served on {}://{} from this process",
            if ws.plain_http { "http" } else { "https" },
            ws.listen
        )),
    }
}

fn start_failure(e: StartError) -> Failure {
    match e {
        StartError::Options(why) => Failure::Usage(why.into()),
        e => Failure::env(e),
    }
}

/// Starts the workstation (see `sluis_server::workstation::start`), failing as a command does.
pub(crate) fn start(
    vault: Arc<sluis_vault::Vault>,
    dir: &Path,
    w: &Workstation,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<Result<(), Failure>>, Failure> {
    let t = sluis_server::workstation::start(vault, dir, w, stop).map_err(start_failure)?;
    Ok(std::thread::spawn(move || match t.join() {
        Ok(r) => r.map_err(start_failure),
        Err(_) => Err(Failure::Internal(anyhow::anyhow!(
            "the workstation thread panicked"
        ))),
    }))
}

pub(crate) fn run(args: &ServeArgs) -> Result<(), Failure> {
    if !args.vault.join("vault.toml").is_file() {
        return Err(Failure::env(anyhow::anyhow!(
            "{} is not a vault (no vault.toml)",
            args.vault.display()
        )));
    }
    // The vault is held by one process: this one, while it serves.
    let vault = sluis_vault::Vault::open(&args.vault).map_err(|e| {
        Failure::env(anyhow::anyhow!(
            "open vault {}: {e} (is `sluis core` running on it? Give the core a [workstation] section to serve from there)",
            args.vault.display()
        ))
    })?;
    let w = Workstation {
        listen: args.listen,
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        plain_http: args.plain_http,
        hosts: args.hosts.clone(),
        request_timeout_s: args.request_timeout_s,
        max_connections_per_client: default_per_client(),
    };
    let stop = service::stop_on_signal();
    start(Arc::new(vault), &args.vault, &w, stop)?
        .join()
        .map_err(|_| Failure::Internal(anyhow::anyhow!("the server thread panicked")))?
}
