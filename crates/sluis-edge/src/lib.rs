//! The scanner enclave's end of the sluis lock.
//!
//! The edge accepts scans by DICOM C-STORE from an allow-list of scanners ([`dimse::scp`]) and
//! from a drop folder ([`drop_folder`]), writes each to its spool (fsynced) under a new id with a
//! typed [`sluis_link::ObjectMeta`], and sends the spool over the one-way link with heartbeats
//! and manifests ([`send`]). It parses nothing beyond DIMSE command sets and sizes: the
//! untrusted side stays small, and it depends on neither the vault nor the transparency log.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut cfg: sluis_edge::EdgeConfig = toml::from_str(&std::fs::read_to_string("edge.toml")?)?;
//! cfg.resolve(std::path::Path::new("."));
//! for finding in sluis_edge::check(&cfg) {
//!     println!("{finding}");
//! }
//! let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
//! sluis_edge::run(&cfg, &sluis_link::SenderMetrics::default(), stop)?;
//! # Ok(()) }
//! ```

pub mod clock;
pub mod config;
pub mod dimse;
pub mod drop_folder;
pub mod error;
pub mod send;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sluis_link::check::{self, Finding};
use sluis_link::net::{buffer_sizes, udp_socket};
use sluis_link::{EdgeKey, SenderMetrics, Spool};

pub use config::{ConfigError, EdgeConfig};
pub use error::EdgeError;
pub use send::{Replayed, replay};

/// Runs the edge until `stop`: the DICOM service and the drop folder (where configured) on
/// threads of their own, the send loop on this one. Metrics go to `metrics`, which the caller
/// may serve.
pub fn run(
    cfg: &EdgeConfig,
    metrics: &SenderMetrics,
    stop: Arc<AtomicBool>,
) -> Result<(), EdgeError> {
    cfg.validate()?;
    let spool = Arc::new(Spool::open(&cfg.edge.spool, cfg.edge.spool_budget)?);
    let mut out = send::link_out(cfg, &spool, metrics)?;
    let mut threads = Vec::new();
    if let (Some(d), Some(dc)) = (&cfg.dicom, cfg.dicom_service()) {
        let listener = TcpListener::bind(d.listen).map_err(|source| EdgeError::Socket {
            what: "DICOM listen",
            addr: d.listen,
            source,
        })?;
        let (spool, metrics, stop) = (spool.clone(), metrics.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            dimse::scp::serve(listener, dc, spool, metrics, stop);
        }));
        eprintln!("sluis edge: DICOM {} listening on {}", d.ae_title, d.listen);
    }
    if let Some(d) = cfg.drop_folder.clone() {
        let (spool, metrics, stop) = (spool.clone(), metrics.clone(), stop.clone());
        let max = cfg.edge.max_object_bytes;
        eprintln!("sluis edge: watching drop folder {}", d.dir.display());
        threads.push(std::thread::spawn(move || {
            drop_folder::watch(&d, max, &spool, &metrics, &stop);
        }));
    }
    eprintln!(
        "sluis edge: sending to {} (epoch {:08x}); spool {}",
        cfg.link.to,
        out.epoch(),
        cfg.edge.spool.display()
    );
    send::send_loop(cfg, &mut out, &spool, metrics, &stop);
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Checks the configuration and the host: the key, the spool, the link's socket and its
/// buffer, the doors. Says what to change.
pub fn check(cfg: &EdgeConfig) -> Vec<Finding> {
    let mut c = Vec::new();
    if let Err(e) = cfg.validate() {
        c.push(Finding::fail(e.to_string()));
    }
    match EdgeKey::read(&cfg.edge.key) {
        Ok(_) => c.push(Finding::ok(format!(
            "signing key {}",
            cfg.edge.key.display()
        ))),
        Err(e) => c.push(Finding::fail(format!("signing key: {e}"))),
    }
    match Spool::open(&cfg.edge.spool, cfg.edge.spool_budget) {
        Ok(s) => {
            let (n, bytes, unsent) = s.depth();
            c.push(Finding::ok(format!(
                "spool {}: {n} objects, {bytes} bytes, {unsent} unsent",
                cfg.edge.spool.display()
            )));
        }
        Err(e) => c.push(Finding::fail(format!("spool: {e}"))),
    }
    let rate = cfg.link.rate_mbit;
    c.push(Finding::ok(format!(
        "link to {} at {}, MTU {} ({} bytes/symbol), {} symbols/block, {}% + {} repair",
        cfg.link.to,
        if rate == 0 {
            "full speed".to_string()
        } else {
            format!("{rate} Mbit/s")
        },
        cfg.coding.mtu,
        cfg.coding.symbol_size(),
        cfg.coding.symbols_per_block,
        cfg.coding.repair_percent,
        cfg.coding.repair_extra
    )));
    match udp_socket(cfg.link.bind, 0, cfg.link.send_buffer).and_then(|s| buffer_sizes(&s)) {
        Ok((_, snd)) => c.push(check::buffer(
            "send",
            snd,
            cfg.link.send_buffer,
            "net.core.wmem_max",
        )),
        Err(e) => c.push(Finding::fail(format!(
            "UDP socket on {}: {e}",
            cfg.link.bind
        ))),
    }
    if let Some(d) = &cfg.dicom {
        c.push(Finding::ok(format!(
            "DICOM {} on {}, calling AE titles allowed: {}",
            d.ae_title,
            d.listen,
            d.allowed_calling.join(", ")
        )));
    }
    if let Some(d) = &cfg.drop_folder {
        if d.dir.is_dir() {
            c.push(Finding::ok(format!("drop folder {}", d.dir.display())));
        } else {
            c.push(Finding::fail(format!(
                "drop folder {} is not a directory",
                d.dir.display()
            )));
        }
    }
    c
}
