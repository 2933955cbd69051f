//! `sluis edge`: the scanner enclave's side of the lock. It accepts scans by DICOM C-STORE from
//! an allow-list of scanners and from a drop folder, writes each to its spool (fsynced) under a
//! new id, and sends the spool over the one-way link with heartbeats and manifests. It parses
//! nothing beyond DIMSE command sets and sizes: the untrusted side stays small.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use clap::{Args as ClapArgs, Subcommand};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use sluis_link::net::{LinkOut, buffer_sizes, udp_socket};
use sluis_link::{Coding, EdgeKey, Sender, SenderMetrics, Spool};

use crate::Failure;
use crate::service::{self, Check, load_toml, resolve};

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

/// The edge's configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EdgeConfig {
    pub link: LinkConfig,
    #[serde(default)]
    pub coding: Coding,
    pub edge: EdgeSection,
    pub dicom: Option<DicomSection>,
    #[serde(rename = "drop")]
    pub drop_folder: Option<DropSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkConfig {
    /// The core's address.
    pub to: SocketAddr,
    #[serde(default = "any_port")]
    pub bind: SocketAddr,
    /// Send rate in Mbit/s: the link's line rate, or less than what the core can take. There is
    /// no flow control on a one-way link; an edge that outruns the core loses objects (each is
    /// reported by id). 0 sends as fast as the socket takes them.
    #[serde(default = "default_rate")]
    pub rate_mbit: u64,
    #[serde(default = "default_sndbuf")]
    pub send_buffer: usize,
    #[serde(default = "default_heartbeat")]
    pub heartbeat_ms: u64,
}

fn default_rate() -> u64 {
    1000
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}
fn default_sndbuf() -> usize {
    8 << 20
}
fn default_heartbeat() -> u64 {
    1000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EdgeSection {
    /// The signing key.
    pub key: PathBuf,
    /// The spool directory.
    pub spool: PathBuf,
    #[serde(default = "default_spool_budget")]
    pub spool_budget: u64,
    #[serde(default = "default_max_object")]
    pub max_object_bytes: u64,
    /// Sent objects are kept for replay this long (and within `spool_budget`), then deleted:
    /// the spool holds scans, and what the core has confirmed is safe in the vault needs no
    /// copy in the enclave. A day covers an operator replaying what the core reported lost.
    #[serde(default = "default_keep_sent")]
    pub keep_sent_s: u64,
    /// Serve Prometheus metrics here.
    pub metrics_listen: Option<SocketAddr>,
}

fn default_keep_sent() -> u64 {
    24 * 3600
}

fn default_spool_budget() -> u64 {
    20 << 30
}
fn default_max_object() -> u64 {
    1 << 30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DicomSection {
    pub listen: SocketAddr,
    #[serde(default = "default_ae")]
    pub ae_title: String,
    /// Calling AE titles allowed to store.
    pub allowed_calling: Vec<String>,
    #[serde(default = "default_pdu")]
    pub max_pdu: u32,
    #[serde(default = "default_assocs")]
    pub max_associations: usize,
    /// The longest wait for an association's next PDU.
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    /// The longest wait for a connection's association request (DICOM's ARTIM timer).
    #[serde(default = "default_artim")]
    pub artim_s: u64,
    /// Connections at most from one peer address.
    #[serde(default = "default_per_peer")]
    pub max_per_peer: usize,
    /// Connections at most waiting for their association request (the oldest gives way).
    #[serde(default = "default_waiting")]
    pub max_waiting: usize,
}

fn default_artim() -> u64 {
    10
}
fn default_per_peer() -> usize {
    4
}
fn default_waiting() -> usize {
    16
}

fn default_ae() -> String {
    "SLUIS-EDGE".into()
}
fn default_pdu() -> u32 {
    128 * 1024
}
fn default_assocs() -> usize {
    8
}
fn default_timeout() -> u64 {
    30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DropSection {
    pub dir: PathBuf,
    /// A file counts when its size and modification time have not changed for this long.
    #[serde(default = "default_settle")]
    pub settle_ms: u64,
}

fn default_settle() -> u64 {
    1000
}

fn load(args: &RunArgs) -> Result<EdgeConfig, Failure> {
    let mut cfg: EdgeConfig = load_toml(&args.config)?;
    let base = args.config.parent().unwrap_or(Path::new("."));
    cfg.edge.key = resolve(base, &cfg.edge.key);
    cfg.edge.spool = resolve(base, &cfg.edge.spool);
    if let Some(d) = cfg.drop_folder.as_mut() {
        d.dir = resolve(base, &d.dir);
    }
    if let Some(to) = args.link_to {
        cfg.link.to = to;
    }
    cfg.coding
        .validate()
        .map_err(|e| Failure::env(anyhow::anyhow!("{}: [coding] {e}", args.config.display())))?;
    if let Some(d) = &cfg.dicom
        && d.allowed_calling.is_empty()
    {
        return Err(Failure::env(anyhow::anyhow!(
            "{}: [dicom] allowed_calling is empty: no scanner could store",
            args.config.display()
        )));
    }
    Ok(cfg)
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
        Some(Command::Replay { run, from, to }) => replay(&run, from, to),
        None if args.run.check => check(&args.run),
        None => serve(&args.run),
    }
}

fn check(args: &RunArgs) -> Result<(), Failure> {
    let cfg = load(args)?;
    let mut c = Check::default();
    c.ok(format!("configuration {} parses", args.config.display()));
    match EdgeKey::read(&cfg.edge.key) {
        Ok(_) => c.ok(format!("signing key {}", cfg.edge.key.display())),
        Err(e) => c.fail(format!("signing key: {e}")),
    }
    match Spool::open(&cfg.edge.spool, cfg.edge.spool_budget) {
        Ok(s) => {
            let (n, bytes, unsent) = s.depth();
            c.ok(format!(
                "spool {}: {n} objects, {bytes} bytes, {unsent} unsent",
                cfg.edge.spool.display()
            ));
        }
        Err(e) => c.fail(format!("spool: {e}")),
    }
    let rate = cfg.link.rate_mbit;
    c.ok(format!(
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
    ));
    match udp_socket(cfg.link.bind, 0, cfg.link.send_buffer).and_then(|s| buffer_sizes(&s)) {
        Ok((_, snd)) => service::check_buffer(
            &mut c,
            "send",
            snd,
            cfg.link.send_buffer,
            "net.core.wmem_max",
        ),
        Err(e) => c.fail(format!("UDP socket on {}: {e}", cfg.link.bind)),
    }
    if let Some(d) = &cfg.dicom {
        c.ok(format!(
            "DICOM {} on {}, calling AE titles allowed: {}",
            d.ae_title,
            d.listen,
            d.allowed_calling.join(", ")
        ));
    }
    if let Some(d) = &cfg.drop_folder {
        if d.dir.is_dir() {
            c.ok(format!("drop folder {}", d.dir.display()));
        } else {
            c.fail(format!(
                "drop folder {} is not a directory",
                d.dir.display()
            ));
        }
    }
    c.finish()
}

/// The link's sending end for a new edge run, numbered by the spool's next epoch (higher than
/// every earlier run's, `sluis edge replay` included).
fn link_out(cfg: &EdgeConfig, spool: &Spool, metrics: &SenderMetrics) -> Result<LinkOut, Failure> {
    let key = EdgeKey::read(&cfg.edge.key).map_err(Failure::env)?;
    let epoch = spool.next_epoch().map_err(Failure::env)?;
    let sock = udp_socket(cfg.link.bind, 0, cfg.link.send_buffer)
        .and_then(|s: UdpSocket| s.connect(cfg.link.to).map(|()| s))
        .map_err(|e| Failure::env(anyhow::anyhow!("link socket to {}: {e}", cfg.link.to)))?;
    let sender = Sender::new(key, cfg.coding, epoch);
    Ok(LinkOut::new(
        sock,
        sender,
        cfg.link.rate_mbit * 1_000_000 / 8,
        metrics.clone(),
    ))
}

fn replay(args: &RunArgs, from: u64, to: u64) -> Result<(), Failure> {
    let cfg = load(args)?;
    if to < from {
        return Err(Failure::Usage("--to is below --from".into()));
    }
    let spool = Spool::open(&cfg.edge.spool, cfg.edge.spool_budget).map_err(Failure::env)?;
    let metrics = SenderMetrics::default();
    let mut out = link_out(&cfg, &spool, &metrics)?;
    let entries = spool.range(from, to);
    let sent_below = spool.sent_below();
    let mut missing = Vec::new();
    let mut have = entries.iter().map(|e| e.id).peekable();
    for id in from..=to {
        if have.peek() == Some(&id) {
            have.next();
        } else {
            missing.push(id);
        }
    }
    let mut n = 0;
    for e in entries.iter().filter(|e| e.id < sent_below) {
        out.send_object(e, None, &mut |_| {})
            .map_err(|err| Failure::env(anyhow::anyhow!("object {}: {err}", e.id)))?;
        n += 1;
    }
    out.flush();
    println!("replayed {n} object(s) {from}..={to} to {}", cfg.link.to);
    if !missing.is_empty() {
        println!(
            "not in the spool any more (pruned by the budget, or never made): {}",
            service::ranges(&missing)
        );
    }
    Ok(())
}

fn serve(args: &RunArgs) -> Result<(), Failure> {
    let cfg = load(args)?;
    let stop = service::stop_on_signal();
    let spool =
        Arc::new(Spool::open(&cfg.edge.spool, cfg.edge.spool_budget).map_err(Failure::env)?);
    let metrics = SenderMetrics::default();
    let mut out = link_out(&cfg, &spool, &metrics)?;
    let mut threads = Vec::new();
    if let Some(addr) = cfg.edge.metrics_listen {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        threads.push(service::serve_metrics(addr, registry, stop.clone())?);
    }
    if let Some(d) = &cfg.dicom {
        let listener = TcpListener::bind(d.listen)
            .map_err(|e| Failure::env(anyhow::anyhow!("DICOM listen {}: {e}", d.listen)))?;
        let dc = crate::dimse::DicomConfig {
            ae_title: d.ae_title.clone(),
            allowed_calling: d.allowed_calling.clone(),
            max_pdu: d.max_pdu,
            max_associations: d.max_associations,
            max_object_bytes: cfg.edge.max_object_bytes,
            timeout: Duration::from_secs(d.timeout_s),
            artim: Duration::from_secs(d.artim_s),
            max_per_peer: d.max_per_peer,
            max_waiting: d.max_waiting,
        };
        let (spool, metrics, stop) = (spool.clone(), metrics.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            crate::dimse::serve(listener, dc, spool, metrics, stop);
        }));
        eprintln!("sluis edge: DICOM {} listening on {}", d.ae_title, d.listen);
    }
    if let Some(d) = cfg.drop_folder.clone() {
        let (spool, metrics, stop) = (spool.clone(), metrics.clone(), stop.clone());
        let max = cfg.edge.max_object_bytes;
        eprintln!("sluis edge: watching drop folder {}", d.dir.display());
        threads.push(std::thread::spawn(move || {
            watch_drop(&d, max, &spool, &metrics, &stop);
        }));
    }
    eprintln!(
        "sluis edge: sending to {} (epoch {:08x}); spool {}",
        cfg.link.to,
        out.epoch(),
        cfg.edge.spool.display()
    );
    let interval = Duration::from_millis(cfg.link.heartbeat_ms.max(50));
    let mut last_beat = Instant::now() - interval;
    let keep = Duration::from_secs(cfg.edge.keep_sent_s);
    let beat = |out: &mut LinkOut, last: &mut Instant, spool: &Spool, metrics: &SenderMetrics| {
        if last.elapsed() >= interval {
            if let Some(before) = SystemTime::now().checked_sub(keep) {
                let pruned = spool.prune_sent_before(before);
                if pruned > 0 {
                    tracing::info!(pruned, "sent objects past their retention deleted");
                }
            }
            let (n, bytes, unsent) = spool.depth();
            metrics.spool_depth.set(n as i64);
            metrics.spool_bytes.set(bytes as i64);
            metrics.backlog.set(unsent as i64);
            out.heartbeat(spool.sent_below(), n, interval);
            *last = Instant::now();
        }
    };
    while !stop.load(Ordering::Relaxed) {
        beat(&mut out, &mut last_beat, &spool, &metrics);
        let Some(entry) = spool.next_unsent() else {
            spool.wait_unsent(interval.min(Duration::from_millis(200)));
            continue;
        };
        let sp = spool.clone();
        let m = metrics.clone();
        let hot = spool.take_hot(entry.id);
        let result = out.send_object(&entry, hot.as_deref(), &mut |o| {
            beat(o, &mut last_beat, &sp, &m)
        });
        match hot {
            Some(buffer) => spool.recycle(buffer),
            None => spool.release_pages(entry.id),
        }
        match result {
            Ok(()) => {
                metrics.objects_sent.inc();
            }
            Err(e) => {
                tracing::error!(id = entry.id, error = %e, "object could not be sent; aborted")
            }
        }
        if let Err(e) = spool.mark_sent(entry.id) {
            tracing::error!(error = %e, "spool");
        }
    }
    // Say goodbye with the final high-water mark.
    out.heartbeat(spool.sent_below(), spool.depth().0, interval);
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Spools files from the drop folder once they are complete: names starting with `.` or ending
/// in `.part`/`.tmp` are being written; any other file counts once its size and modification
/// time have held still for `settle_ms`. Spooled files are removed; refused ones are moved to
/// `refused/` beside a `.reason` file.
fn watch_drop(
    d: &DropSection,
    max: u64,
    spool: &Spool,
    metrics: &SenderMetrics,
    stop: &AtomicBool,
) {
    let settle = Duration::from_millis(d.settle_ms);
    let mut seen: std::collections::HashMap<PathBuf, (u64, SystemTime, Instant)> =
        std::collections::HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        let Ok(rd) = std::fs::read_dir(&d.dir) else {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        };
        let mut present = std::collections::HashSet::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.ends_with(".part") || name.ends_with(".tmp") {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let path = e.path();
            present.insert(path.clone());
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let now = Instant::now();
            let entry = seen.entry(path.clone()).or_insert((meta.len(), mtime, now));
            if entry.0 != meta.len() || entry.1 != mtime {
                *entry = (meta.len(), mtime, now);
                continue;
            }
            if now.duration_since(entry.2) < settle {
                continue;
            }
            seen.remove(&path);
            if meta.len() > max {
                refuse(
                    &d.dir,
                    &path,
                    &format!("{} bytes is more than max_object_bytes {max}", meta.len()),
                    metrics,
                );
                continue;
            }
            // Read at most `max` + 1 bytes: the file may have grown since its size was read.
            let read = std::fs::File::open(&path).and_then(|f| {
                use std::io::Read as _;
                let mut bytes = Vec::new();
                f.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
                Ok(bytes)
            });
            if read.as_ref().is_ok_and(|b| b.len() as u64 > max) {
                refuse(
                    &d.dir,
                    &path,
                    &format!("grew past max_object_bytes {max} while being read"),
                    metrics,
                );
                continue;
            }
            match read {
                Ok(mut bytes) => {
                    let m = serde_json::json!({
                        "source": "drop",
                        "name": name,
                        "received": sluis_vault::vault::now(),
                    })
                    .to_string();
                    match spool.put_owned(&mut bytes, &m) {
                        Ok(id) => {
                            metrics.objects_spooled.inc();
                            let _ = std::fs::remove_file(&path);
                            tracing::info!(id, name, "drop file spooled");
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, name, "drop file not spooled; will retry")
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, name, "drop file unreadable"),
            }
        }
        seen.retain(|p, _| present.contains(p));
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn refuse(dir: &Path, path: &Path, reason: &str, metrics: &SenderMetrics) {
    metrics.inputs_refused.inc();
    let refused = dir.join("refused");
    let _ = sluis_secret::private_dir(&refused);
    if let Some(name) = path.file_name() {
        let to = refused.join(name);
        let _ = std::fs::rename(path, &to);
        let _ = sluis_secret::tighten_file(&to);
        let _ = sluis_secret::write_private(
            &refused.join(format!("{}.reason", name.to_string_lossy())),
            reason.as_bytes(),
        );
    }
    tracing::warn!(path = %path.display(), reason, "drop file refused");
}
