//! Starting the workstation: the options (`sluis serve`'s, or the `[workstation]` section of
//! the core's configuration), the accounts and the desk beside the vault, TLS (a configured
//! certificate, or one generated beside the vault on the first run; plain HTTP only on
//! loopback), the listener with its connection discipline, and the record keepers (refusals
//! per minute, account changes made by `sluis user` meanwhile).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::accounts::{AccountError, Accounts};
use crate::http::router;
use crate::kernel::{AppState, wall_clock};
use crate::session::Sessions;

/// How the workstation is served (`sluis serve`'s options; the `[workstation]` section of the
/// core's configuration).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workstation {
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

/// Connections per client address when none is configured.
pub fn default_per_client() -> usize {
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

/// Why the workstation could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The options cannot work together (a mistake of the command line or the configuration).
    #[error("{0}")]
    Options(&'static str),
    /// The accounts beside the vault.
    #[error("accounts: {0}")]
    Accounts(#[from] AccountError),
    /// Account changes waiting for their records could not be logged.
    #[error("account changes: {0}")]
    Changes(#[from] crate::users::ChangeLogError),
    /// The desk beside the vault.
    #[error("desk: {0}")]
    Desk(#[from] crate::desk::DeskError),
    /// The address could not be bound.
    #[error("listen {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The certificate.
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The runtime or the listener.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Workstation {
    /// Refuses options that cannot work: plain HTTP off loopback, a certificate without its
    /// key or a key without its certificate.
    pub fn validate(&self) -> Result<(), StartError> {
        if self.plain_http && !self.listen.ip().is_loopback() {
            return Err(StartError::Options(
                "plain HTTP is served on loopback only; leave out plain HTTP to serve HTTPS",
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(StartError::Options(
                "a TLS certificate needs its key, and a key its certificate",
            ));
        }
        Ok(())
    }
}

/// Starts the workstation over an open vault: checks the options, opens the accounts and the
/// desk beside the vault (`dir`), binds the address, and serves on a thread of its own until
/// `stop`. It prints where it serves.
pub fn start(
    vault: Arc<sluis_vault::Vault>,
    dir: &Path,
    w: &Workstation,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<Result<(), StartError>>, StartError> {
    w.validate()?;
    let accounts = Accounts::open(dir)?;
    // Changes made while nothing held the vault's log are logged now.
    crate::users::log_account_changes(&accounts, &vault)?;
    let desk = crate::desk::Desk::open(dir)?;
    // Bound here, so that a taken address is an error of the command, not of a thread.
    let listener = std::net::TcpListener::bind(w.listen).map_err(|source| StartError::Listen {
        addr: w.listen,
        source,
    })?;
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
    let limits = crate::listen::Limits {
        per_client: w.max_connections_per_client.max(1),
        header_timeout: timeout,
        ..Default::default()
    };
    let tls = if w.plain_http {
        None
    } else {
        let id = match (&w.tls_cert, &w.tls_key) {
            (Some(cert), Some(key)) => crate::tls::Identity {
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
                crate::tls::self_signed(dir, &names)?
            }
        };
        if id.generated {
            println!(
                "sluis serve: generated a self-signed certificate {} (for the demo; configure a certificate in production)",
                id.cert.display()
            );
        }
        Some(crate::tls::server_config(&id)?)
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("sluis serve: {scheme}://{local}/ (API under /api, description at /api/openapi.json)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(std::thread::spawn(move || {
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
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
            crate::listen::serve(listener, tls, router(state.clone()), limits, shutdown).await;
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
    match crate::users::log_account_changes(&accounts, v) {
        Ok(done) => {
            for (id, index) in done {
                eprintln!("sluis serve: account change {id} logged as audit record {index}");
            }
        }
        Err(e) => tracing::error!("account changes wait for their records: {e}"),
    }
}
