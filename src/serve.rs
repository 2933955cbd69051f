//! `sluis serve`: the workstation's server (the logic is in `sluis-server`).
//!
//! What is served so far: login, logout, the session, the scan API, accounts for administrators,
//! the OpenAPI description. HTTPS by default (rustls; a configured certificate, or one generated
//! beside the vault on the first run); plain HTTP only with `--plain-http`, and only on loopback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
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

pub(crate) fn run(args: &ServeArgs) -> Result<(), Failure> {
    if args.plain_http && !args.listen.ip().is_loopback() {
        return Err(Failure::Usage(format!(
            "{}: plain HTTP is served on loopback only; leave out --plain-http to serve HTTPS",
            args.listen
        )));
    }
    if !args.vault.join("vault.toml").is_file() {
        return Err(Failure::env(anyhow::anyhow!(
            "{} is not a vault (no vault.toml)",
            args.vault.display()
        )));
    }
    let accounts = Accounts::open(&args.vault).map_err(Failure::env)?;
    let desk = sluis_server::desk::Desk::open(&args.vault).map_err(Failure::env)?;
    // The vault is held by one process: this one, while it serves.
    let vault = sluis_vault::Vault::open(&args.vault).map_err(|e| {
        Failure::env(anyhow::anyhow!(
            "open vault {}: {e} (is `sluis core` running on it?)",
            args.vault.display()
        ))
    })?;
    let state = Arc::new(AppState {
        accounts: Mutex::new(accounts),
        sessions: Sessions::default(),
        vault: Some(Mutex::new(vault)),
        desk: Mutex::new(desk),
        secure: !args.plain_http,
        clock: Box::new(wall_clock),
    });
    let stop = service::stop_on_signal();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Failure::env)?;
    let tls = if args.plain_http {
        None
    } else {
        let id = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => sluis_server::tls::Identity {
                cert: cert.clone(),
                key: key.clone(),
                generated: false,
            },
            _ => {
                let mut names = vec!["localhost".to_string(), args.listen.ip().to_string()];
                if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
                    names.push(h.trim().to_string());
                }
                names.retain(|n| !n.is_empty() && n != "0.0.0.0" && n != "::");
                sluis_server::tls::self_signed(&args.vault, &names).map_err(Failure::env)?
            }
        };
        if id.generated {
            println!(
                "sluis serve: generated a self-signed certificate {} (for the demo; configure --tls-cert in production)",
                id.cert.display()
            );
        }
        Some(sluis_server::tls::server_config(&id).map_err(Failure::env)?)
    };
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Failure::env(anyhow::anyhow!("listen {}: {e}", args.listen)))?;
        let local = listener.local_addr().map_err(Failure::env)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!(
            "sluis serve: {scheme}://{local}/ (API under /api, description at /api/openapi.json)"
        );
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
}
