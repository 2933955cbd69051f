//! What the long-running commands (`sluis edge`, `sluis core`) share: configuration files,
//! host checks, shutdown on SIGINT/SIGTERM, and the Prometheus endpoint.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;

use crate::failure::Failure;

/// Reads a TOML file into `T`, naming the file in every error.
pub(crate) fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<T, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::env(anyhow::anyhow!("reading {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", path.display())))
}

/// Prints the findings of a `--check`, one per line, and fails if any failed.
pub(crate) fn report(findings: &[sluis_link::check::Finding]) -> Result<(), Failure> {
    for f in findings {
        println!("{f}");
    }
    let failed = findings
        .iter()
        .filter(|f| f.level == sluis_link::check::Level::Fail)
        .count();
    if failed == 0 {
        println!("check passed");
        Ok(())
    } else {
        Err(Failure::env(anyhow::anyhow!("{failed} check(s) failed")))
    }
}

/// A flag set on SIGINT or SIGTERM.
pub(crate) fn stop_on_signal() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        flag.store(true, Ordering::SeqCst);
    });
    stop
}

/// Serves `GET /metrics` (OpenMetrics text) on `addr` until `stop`.
pub(crate) fn serve_metrics(
    addr: SocketAddr,
    registry: Registry,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, Failure> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| Failure::env(anyhow::anyhow!("metrics listen {addr}: {e}")))?;
    listener.set_nonblocking(true)?;
    let registry = Arc::new(registry);
    Ok(std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let registry = registry.clone();
                    async move {
                        (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            sluis_link::metrics::render(&registry),
                        )
                    }
                }),
            );
            let shutdown = async move {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await;
        });
    }))
}

/// `1-3, 7, 9-10`.
pub(crate) fn ranges(ids: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let start = ids[i];
        let mut end = start;
        while i + 1 < ids.len() && ids[i + 1] == end + 1 {
            i += 1;
            end = ids[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(", ")
}
