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

use crate::{Failure, service};

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
}

/// Starts the workstation over an open vault: checks the options, opens the accounts and the
/// desk beside the vault, binds the address, and serves on a thread of its own until `stop`.
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
    let desk = sluis_server::desk::Desk::open(dir).map_err(Failure::env)?;
    let state = Arc::new(AppState {
        accounts: Mutex::new(accounts),
        sessions: Sessions::default(),
        vault: Some(vault),
        desk: Mutex::new(desk),
        decisions: Mutex::new(()),
        secure: !w.plain_http,
        clock: Box::new(wall_clock),
    });
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
    // Bound here, so that a taken address is an error of the command, not of a thread.
    let listener = std::net::TcpListener::bind(w.listen)
        .map_err(|e| Failure::env(anyhow::anyhow!("listen {}: {e}", w.listen)))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
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
            let shutdown = async move {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            };
            match tls {
                Some(config) => {
                    sluis_server::tls::serve(listener, config, router(state), shutdown).await;
                    Ok(())
                }
                None => axum::serve(listener, router(state))
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(Failure::env),
            }
        })
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
    };
    let stop = service::stop_on_signal();
    start(Arc::new(vault), &args.vault, &w, stop)?
        .join()
        .map_err(|_| Failure::Internal(anyhow::anyhow!("the server thread panicked")))?
}
