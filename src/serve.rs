//! `sluis serve`: the workstation's server (the logic is in `sluis-server`), on its own or, with
//! a `[workstation]` section in the core's configuration, inside `sluis core`, sharing the open
//! vault: a vault is held by one process, and this way analysts see scans as the core stores
//! them. HTTPS by default (rustls; a configured certificate, or one generated beside the vault on
//! the first run); plain HTTP only when asked, and only on loopback.

use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::Args;
use sluis_server::Accounts;
use sluis_server::http::{AppState, router, wall_clock};
use sluis_server::session::Sessions;

use crate::failure::Failure;
use crate::service;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The vault whose accounts (and, next, scans) are served.
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

/// How the workstation is served (`sluis serve`'s options; the `[workstation]` section of the
/// core's configuration).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Workstation {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The certificate chain (PEM); without it one is generated in VAULT/tls/ on the first run.
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Plain HTTP instead (loopback only).
    #[serde(default)]
    pub plain_http: bool,
    /// Names requests may carry in `Host`; by default the listening address (and `localhost`
    /// on loopback). Required to check `Host` when listening on every address.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Seconds a request's headers or body may take to arrive (and a kept-alive connection may
    /// wait).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_s: u64,
    /// Connections at most from one client address.
    #[serde(default = "default_per_client")]
    pub max_connections_per_client: usize,
}

fn default_request_timeout() -> u64 {
    10
}

fn default_per_client() -> usize {
    16
}

/// The `Host` names accepted: those configured, else the bound address (and `localhost` on
/// loopback); none (any) when listening on every address with none configured.
fn host_names(configured: &[String], local: SocketAddr) -> Vec<String> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    if local.ip().is_unspecified() {
        return Vec::new();
    }
    let mut names = vec![local.to_string()];
    if local.ip().is_loopback() {
        names.push(format!("localhost:{}", local.port()));
    }
    names
}

/// Starts the workstation over an open vault: checks the options, opens the accounts and the
/// desk beside the vault, binds the address, and serves on a thread of its own until `stop`.
/// The `--check` line of a workstation served from the core's process.
pub(crate) fn check(ws: &Workstation) -> sluis_link::check::Finding {
    use sluis_link::check::Finding;
    if ws.plain_http && !ws.listen.ip().is_loopback() {
        Finding::fail(format!(
            "workstation on {}: plain HTTP is served on loopback only",
            ws.listen
        ))
    } else if ws.tls_cert.is_some() != ws.tls_key.is_some() {
        Finding::fail("workstation: tls_cert and tls_key go together")
    } else {
        Finding::ok(format!(
            "workstation served on {}://{} from this process",
            if ws.plain_http { "http" } else { "https" },
            ws.listen
        ))
    }
}

pub(crate) fn start(
    vault: Arc<sluis_vault::Vault>,
    dir: &Path,
    w: &Workstation,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<Result<(), Failure>>, Failure> {
    if w.plain_http && !w.listen.ip().is_loopback() {
        return Err(Failure::Usage(format!(
            "{}: plain HTTP is served on loopback only; leave out plain HTTP to serve HTTPS",
            w.listen
        )));
    }
    if w.tls_cert.is_some() != w.tls_key.is_some() {
        return Err(Failure::Usage(
            "a TLS certificate needs its key, and a key its certificate".into(),
        ));
    }
    let accounts = Accounts::open(dir).map_err(Failure::env)?;
    // Changes made while nothing held the vault's log are logged now.
    sluis_server::users::log_account_changes(&accounts, &vault).map_err(Failure::env)?;
    let desk = sluis_server::desk::Desk::open(dir).map_err(Failure::env)?;
    // Bound here, so that a taken address is an error of the command, not of a thread.
    let listener = std::net::TcpListener::bind(w.listen)
        .map_err(|e| Failure::env(anyhow::anyhow!("listen {}: {e}", w.listen)))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let timeout = std::time::Duration::from_secs(w.request_timeout_s.max(1));
    let state = Arc::new(AppState {
        accounts: Mutex::new(accounts),
        sessions: Sessions::default(),
        vault: Some(vault),
        desk: Mutex::new(desk),
        decisions: Mutex::new(()),
        secure: !w.plain_http,
        clock: Box::new(wall_clock),
        access: Default::default(),
        hosts: host_names(&w.hosts, local),
        body_timeout: timeout,
    });
    let limits = sluis_server::listen::Limits {
        per_client: w.max_connections_per_client.max(1),
        header_timeout: timeout,
        ..Default::default()
    };
    let tls = if w.plain_http {
        None
    } else {
        let id = match (&w.tls_cert, &w.tls_key) {
            (Some(cert), Some(key)) => sluis_server::tls::Identity {
                cert: cert.clone(),
                key: key.clone(),
                generated: false,
            },
            _ => {
                let mut names = vec!["localhost".to_string(), w.listen.ip().to_string()];
                if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
                    names.push(h.trim().to_string());
                }
                names.retain(|n| !n.is_empty() && n != "0.0.0.0" && n != "::");
                sluis_server::tls::self_signed(dir, &names).map_err(Failure::env)?
            }
        };
        if id.generated {
            println!(
                "sluis serve: generated a self-signed certificate {} (for the demo; configure a certificate in production)",
                id.cert.display()
            );
        }
        Some(sluis_server::tls::server_config(&id).map_err(Failure::env)?)
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("sluis serve: {scheme}://{local}/ (API under /api, description at /api/openapi.json)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Failure::env)?;
    Ok(std::thread::spawn(move || {
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).map_err(Failure::env)?;
            // The record keepers: refusals counted per minute go to the log when their minute
            // is over, and account changes `sluis user` made meanwhile get their records.
            let keeper = {
                let (state, stop) = (state.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut tick = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
                        tick += 1;
                        let st = state.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            if tick.is_multiple_of(5) {
                                st.flush_refusals(false);
                            }
                            log_pending_changes(&st);
                        })
                        .await;
                    }
                })
            };
            let shutdown = async move {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            };
            sluis_server::listen::serve(listener, tls, router(state.clone()), limits, shutdown)
                .await;
            let _ = keeper.await;
            let st = state.clone();
            let _ = tokio::task::spawn_blocking(move || {
                st.flush_refusals(true);
                log_pending_changes(&st);
            })
            .await;
            Ok(())
        })
    }))
}

/// Writes the records of account changes waiting in the outbox (made by `sluis user` while the
/// workstation runs).
fn log_pending_changes(state: &AppState) {
    let Some(v) = &state.vault else { return };
    let accounts = state
        .accounts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match sluis_server::users::log_account_changes(&accounts, v) {
        Ok(done) => {
            for (id, index) in done {
                eprintln!("sluis serve: account change {id} logged as audit record {index}");
            }
        }
        Err(e) => tracing::error!("account changes wait for their records: {e}"),
    }
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
