//! `sluis serve`: the workstation's server (the logic is in `sluis-server`).
//!
//! What is served so far: login, logout, the session, accounts for administrators, the OpenAPI
//! description. Plain HTTP is served only on a loopback address; HTTPS (rustls, a generated
//! certificate for the demo) comes with the scan API, and until then any other address is
//! refused rather than served in clear.

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
    /// Where to listen (loopback only until HTTPS is built).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    listen: SocketAddr,
}

pub(crate) fn run(args: &ServeArgs) -> Result<(), Failure> {
    if !args.listen.ip().is_loopback() {
        return Err(Failure::Usage(format!(
            "{}: plain HTTP is served on loopback only, and HTTPS is not built yet; \
             listen on 127.0.0.1 or ::1",
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
        secure: false,
        clock: Box::new(wall_clock),
    });
    let stop = service::stop_on_signal();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Failure::env)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Failure::env(anyhow::anyhow!("listen {}: {e}", args.listen)))?;
        let local = listener.local_addr().map_err(Failure::env)?;
        println!("sluis serve: http://{local}/ (API under /api, description at /api/openapi.json)");
        let shutdown = async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        };
        axum::serve(listener, router(state))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(Failure::env)
    })
}
