//! What the long-running commands (`sluis edge`, `sluis core`) share: configuration files,
//! host checks, shutdown on SIGINT/SIGTERM, and the Prometheus endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;

use crate::Failure;

/// Reads a TOML file into `T`, naming the file in every error.
pub(crate) fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<T, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::env(anyhow::anyhow!("reading {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", path.display())))
}

/// A path from a configuration file, relative to the file's directory.
pub(crate) fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The findings of `--check`: each line is fine, a warning, or a failure.
#[derive(Debug, Default)]
pub(crate) struct Check {
    failed: usize,
}

impl Check {
    pub(crate) fn ok(&mut self, what: impl AsRef<str>) {
        println!("ok    {}", what.as_ref());
    }
    pub(crate) fn warn(&mut self, what: impl AsRef<str>) {
        println!("warn  {}", what.as_ref());
    }
    pub(crate) fn fail(&mut self, what: impl AsRef<str>) {
        self.failed += 1;
        println!("FAIL  {}", what.as_ref());
    }
    pub(crate) fn finish(self) -> Result<(), Failure> {
        if self.failed == 0 {
            println!("check passed");
            Ok(())
        } else {
            Err(Failure::env(anyhow::anyhow!(
                "{} check(s) failed",
                self.failed
            )))
        }
    }
}

/// Reads a sysctl under /proc/sys.
pub(crate) fn sysctl(name: &str) -> Option<u64> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Compares a granted socket buffer with the one asked for and says which sysctl to raise.
pub(crate) fn check_buffer(
    c: &mut Check,
    which: &str,
    granted: usize,
    wanted: usize,
    sysctl_name: &str,
) {
    // Linux reports twice the size it was given (bookkeeping overhead).
    if granted >= wanted {
        c.ok(format!("UDP {which} buffer {granted} bytes"));
    } else {
        let max = sysctl(sysctl_name).map_or("unknown".to_string(), |v| v.to_string());
        c.warn(format!(
            "UDP {which} buffer is {granted} bytes, {wanted} asked for ({sysctl_name} = {max}); \
             at high link rates datagrams will be dropped in the kernel. As root: \
             sysctl -w {sysctl_name}={wanted}"
        ));
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
