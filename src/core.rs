//! `sluis core`: the customs side of the lock. It receives the one-way link (every datagram
//! hostile), hands each verified object to a sanitiser worker process under resource limits,
//! stores what the worker rebuilt in the vault and quarantines what it refused, records every
//! gap of the link in the transparency log, and writes an event stream (`events.jsonl`).
//!
//! Threads: the receiver (socket -> sans-I/O receiver -> reassembly directory, ledger) and the
//! pipeline (worker -> vault -> audit -> events). They meet at a channel of events; verified
//! objects wait in `work/link/ready/` until the vault has them, so a crash loses nothing.

use std::io::{Read, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use sluis_audit::Outcome;
use sluis_link::net::{DirWorkspace, buffer_sizes, run_receiver, udp_socket};
use sluis_link::{EdgeVerifier, Event, Ledger, Receiver, ReceiverLimits, ReceiverMetrics};
use sluis_scan::{Limits, Location, Refusal, Rule, StreamError, sanitise, sanitise_stream};
use sluis_vault::Vault;

use crate::Failure;
use crate::service::{self, Check, load_toml, resolve};
use crate::zygote::Zygote;

/// `sluis core`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The core's configuration (TOML).
    #[arg(long, value_name = "FILE", default_value = "core.toml")]
    config: PathBuf,
    /// Where to receive the link, overriding `[link] listen`.
    #[arg(long, value_name = "HOST:PORT")]
    link_listen: Option<SocketAddr>,
    /// Validate the configuration and the host, say what to change, and exit.
    #[arg(long)]
    check: bool,
}

/// The core's configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CoreConfig {
    pub link: LinkSection,
    #[serde(default)]
    pub receiver: ReceiverLimits,
    pub core: CoreSection,
    #[serde(default)]
    pub worker: WorkerLimits,
    /// The analyst workstation, served from this process over the same open vault.
    pub workstation: Option<crate::serve::Workstation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkSection {
    pub listen: SocketAddr,
    /// The edge's public key.
    pub edge_key: PathBuf,
    #[serde(default = "default_rcvbuf")]
    pub receive_buffer: usize,
}

fn default_rcvbuf() -> usize {
    64 << 20
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CoreSection {
    /// The vault (made with `sluis vault init`).
    pub vault: PathBuf,
    /// Working directory: reassembly, ledger, worker output, events.
    pub work: PathBuf,
    /// Where objects are reassembled and wait for the vault (default: `<work>/link`). A tmpfs
    /// keeps them off the vault's disk; what a reboot takes is reported lost by id (the ledger
    /// keeps them pending until the vault has them) and can be replayed from the edge's spool.
    pub reassembly: Option<PathBuf>,
    pub metrics_listen: Option<SocketAddr>,
    /// Objects sanitised and stored at once (each one worker process); the vault's log commits
    /// their records together.
    #[serde(default = "default_pipelines")]
    pub pipelines: usize,
}

fn default_pipelines() -> usize {
    // The pipelines mostly wait for the disk (fsync of the blob, the index and the log), so
    // more of them than cores keeps both the disk and the CPUs busy.
    std::thread::available_parallelism().map_or(4, |n| (n.get() * 3).clamp(4, 16))
}

/// Limits of the sanitiser's worker process.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct WorkerLimits {
    /// Address space, MiB. A worker is forked from its zygote, so this counts the mappings it
    /// inherits (the binary, the zygote's heap) as well as what it allocates.
    pub address_space_mb: u64,
    /// CPU time, seconds.
    pub cpu_seconds: u64,
    /// Open files.
    pub open_files: u64,
    /// Wall-clock time before the worker is killed, seconds.
    pub timeout_s: u64,
    /// Run the worker in an empty network namespace (needs CAP_SYS_ADMIN; without it the
    /// worker says so and runs with the host's network).
    pub isolate_network: bool,
}

impl Default for WorkerLimits {
    fn default() -> Self {
        WorkerLimits {
            address_space_mb: 4096,
            cpu_seconds: 120,
            open_files: 16,
            timeout_s: 300,
            isolate_network: true,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct PipelineMetrics {
    stored: Counter,
    duplicates: Counter,
    quarantined: Counter,
    worker_failures: Counter,
    vault_errors: Counter,
}

impl PipelineMetrics {
    fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("sluis_core");
        r.register(
            "scans_stored",
            "Scans sanitised and stored",
            self.stored.clone(),
        );
        r.register(
            "scans_duplicate",
            "Scans already in the vault",
            self.duplicates.clone(),
        );
        r.register(
            "inputs_quarantined",
            "Inputs refused and quarantined",
            self.quarantined.clone(),
        );
        r.register(
            "worker_failures",
            "Worker crashes and timeouts",
            self.worker_failures.clone(),
        );
        r.register(
            "vault_errors",
            "Objects the vault could not take (kept for retry)",
            self.vault_errors.clone(),
        );
    }
}

fn load(args: &Args) -> Result<CoreConfig, Failure> {
    let mut cfg: CoreConfig = load_toml(&args.config)?;
    let base = args.config.parent().unwrap_or(Path::new("."));
    cfg.link.edge_key = resolve(base, &cfg.link.edge_key);
    cfg.core.vault = resolve(base, &cfg.core.vault);
    cfg.core.work = resolve(base, &cfg.core.work);
    cfg.core.reassembly = cfg.core.reassembly.map(|r| resolve(base, &r));
    if let Some(l) = args.link_listen {
        cfg.link.listen = l;
    }
    Ok(cfg)
}

pub(crate) fn run(args: &Args, limits: &Limits, limits_file: Option<&Path>) -> Result<(), Failure> {
    if args.check {
        return check(args);
    }
    let cfg = load(args)?;
    let verifier = EdgeVerifier::read(&cfg.link.edge_key).map_err(Failure::env)?;
    let vault =
        std::sync::Arc::new(Vault::open(&cfg.core.vault).map_err(crate::vault::vault_failure)?);
    sluis_secret::private_dir(&cfg.core.work).map_err(|e| Failure::env(anyhow::anyhow!(e)))?;
    let reassembly = cfg
        .core
        .reassembly
        .clone()
        .unwrap_or_else(|| cfg.core.work.join("link"));
    let ledger_path = cfg.core.work.join("ledger.json");
    let mut ledger: Ledger = match std::fs::read(&ledger_path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", ledger_path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ledger::new(),
        Err(e) => return Err(e.into()),
    };
    let workspace = DirWorkspace::open(&reassembly)?;

    let ready = workspace.ready();
    let workspace_spares = workspace.spares();
    let sock = udp_socket(cfg.link.listen, cfg.link.receive_buffer, 0)
        .map_err(|e| Failure::env(anyhow::anyhow!("link listen {}: {e}", cfg.link.listen)))?;
    let stop = service::stop_on_signal();
    let rx_metrics = ReceiverMetrics::default();
    let metrics = PipelineMetrics::default();
    let mut threads = Vec::new();
    if let Some(addr) = cfg.core.metrics_listen {
        let mut registry = Registry::default();
        rx_metrics.register(&mut registry);
        metrics.register(&mut registry);
        threads.push(service::serve_metrics(addr, registry, stop.clone())?);
    }
    let workstation = match &cfg.workstation {
        Some(w) => Some(crate::serve::start(
            vault.clone(),
            &cfg.core.vault,
            w,
            stop.clone(),
        )?),
        None => None,
    };
    let (tx, rxc) = mpsc::channel::<Event<PathBuf>>();
    // Objects verified by an earlier run but not confirmed in the vault: those still whole in
    // ready/ are stored now; the others (a crash or power loss took them before the vault had
    // them) are reported lost so that a replay is accepted.
    let mut leftover: Vec<(u64, PathBuf)> = Vec::new();
    let mut lost_at_start = Vec::new();
    for id in ledger.pending.clone() {
        match workspace.check_ready(id) {
            Some(p) => leftover.push((id, p)),
            None => {
                let l = sluis_link::LostObject {
                    id,
                    length: None,
                    reason: "verified, then lost at the core before the vault had it (crash or power loss)".into(),
                };
                ledger.lose(l.clone());
                lost_at_start.push(l);
            }
        }
    }
    for e in std::fs::read_dir(&ready)?.flatten() {
        let keep = DirWorkspace::ready_id(&e.file_name())
            .is_some_and(|id| leftover.iter().any(|(l, p)| *l == id && *p == e.path()));
        if !keep {
            let _ = std::fs::remove_file(e.path());
        }
    }
    write_json_atomic(&ledger_path, &ledger)?;
    let (confirm_tx, confirm_rx) = mpsc::channel::<u64>();
    let receiver_stop = stop.clone();
    let on_disk: Vec<(u64, u64)> = leftover
        .iter()
        .map(|(id, p)| (*id, std::fs::metadata(p).map_or(0, |m| m.len())))
        .collect();
    let limits_cfg = cfg.receiver;
    let rx_m = rx_metrics.clone();
    let saver = LedgerSaver::spawn(ledger_path.clone());
    let saver_rx = saver.handle();
    let receiver = std::thread::Builder::new()
        .name("sluis-link-rx".into())
        .spawn(move || -> std::io::Result<()> {
            // Ahead of everything else on the host where it may be (CAP_SYS_NICE): what the
            // socket buffer cannot hold while this thread waits for a CPU is lost.
            let _ = rustix::process::setpriority_process(None, RECEIVER_NICE);
            let mut receiver = Receiver::new(
                limits_cfg,
                verifier,
                workspace,
                ledger,
                rx_m,
                Instant::now(),
            );
            for (id, length) in on_disk {
                receiver.committed_on_disk(id, length);
            }
            run_receiver(
                &sock,
                &mut receiver,
                &receiver_stop,
                &confirm_rx,
                &mut |ledger| saver_rx.offer(ledger),
                &mut |ev| {
                    let _ = tx.send(ev);
                },
            )
        })?;
    eprintln!(
        "sluis core: receiving on {}, vault {}, events {}",
        cfg.link.listen,
        cfg.core.vault.display(),
        cfg.core.work.join("events.jsonl").display()
    );
    let pipeline = std::sync::Arc::new(Pipeline {
        vault,
        limits: limits.clone(),
        limits_file: limits_file.map(Path::to_path_buf),
        worker: cfg.worker,

        events: std::sync::Mutex::new(sluis_secret::append_private(
            &cfg.core.work.join("events.jsonl"),
        )?),
        metrics,
        confirm: std::sync::Mutex::new(confirm_tx),
        spares: workspace_spares,
    });
    for l in lost_at_start {
        pipeline.event(Event::Lost(l));
    }
    // Verified objects go to a pool of pipelines (worker process, vault, events); everything
    // else the receiver says is handled here, in order.
    let (jobs_tx, jobs_rx) = mpsc::channel::<(u64, PathBuf, String, Instant)>();
    let jobs_rx = std::sync::Arc::new(std::sync::Mutex::new(jobs_rx));
    let mut pool = Vec::new();
    for _ in 0..cfg.core.pipelines.max(1) {
        let (p, rx) = (pipeline.clone(), jobs_rx.clone());
        pool.push(
            std::thread::Builder::new()
                .name("sluis-pipeline".into())
                .spawn(move || {
                    // The link receiver must never wait behind sanitising and storing: its socket
                    // buffer holds a few milliseconds of the link, and what overflows is lost (reported,
                    // but lost). Pipeline threads, and the workers they start, yield to it.
                    lower_priority();
                    // This pipeline's zygote, started by the first object (so it inherits the
                    // priority), forks the worker of every object.
                    let mut zygote = None;
                    loop {
                        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok((id, path, meta, queued)) = job else {
                            break;
                        };
                        p.object(&mut zygote, id, &path, &meta, queued);
                    }
                })?,
        );
    }
    for (id, p) in leftover {
        let _ = jobs_tx.send((
            id,
            p,
            "{\"source\":\"left by an earlier run\"}".into(),
            Instant::now(),
        ));
    }
    let handle = |ev: Event<PathBuf>| match ev {
        Event::Delivered(o) => {
            let _ = jobs_tx.send((
                o.id(),
                o.location().clone(),
                o.meta().to_string(),
                Instant::now(),
            ));
        }
        other => pipeline.event(other),
    };
    // The core holds the vault: account changes `sluis user` makes meanwhile get their audit
    // records here (the workstation does it where the core serves one).
    let accounts_file = cfg.core.vault.join("accounts.sqlite");
    let mut last_accounts = Instant::now();
    let mut accounts: Option<sluis_server::Accounts> = None;
    loop {
        match rxc.recv_timeout(Duration::from_millis(200)) {
            Ok(ev) => handle(ev),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if workstation.is_none()
            && last_accounts.elapsed() >= Duration::from_secs(1)
            && accounts_file.is_file()
        {
            last_accounts = Instant::now();
            if accounts.is_none() {
                accounts = sluis_server::Accounts::open(&cfg.core.vault)
                    .map_err(|e| tracing::error!("accounts: {e}"))
                    .ok();
            }
            if let Some(a) = &accounts
                && let Err(e) = sluis_server::users::log_account_changes(a, &pipeline.vault)
            {
                tracing::error!("account changes wait for their records: {e}");
            }
        }
    }
    // Drain what the receiver handed over before it stopped, then let the pool finish.
    while let Ok(ev) = rxc.try_recv() {
        handle(ev);
    }

    drop(jobs_tx);
    for t in pool {
        let _ = t.join();
    }
    let receiver_result = receiver.join();
    saver.finish();
    match receiver_result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Failure::env(anyhow::anyhow!("link receiver: {e}"))),
        Err(_) => return Err(Failure::Internal(anyhow::anyhow!("link receiver panicked"))),
    }
    for t in threads {
        let _ = t.join();
    }
    if let Some(w) = workstation {
        match w.join() {
            Ok(r) => r?,
            Err(_) => return Err(Failure::Internal(anyhow::anyhow!("workstation panicked"))),
        }
    }
    Ok(())
}

/// The least time between two writes of the ledger.
const LEDGER_EVERY: Duration = Duration::from_millis(100);

/// The newest ledger not yet written, and whether to stop; with its condition variable.
type SaverSlot = std::sync::Arc<(std::sync::Mutex<(Option<Ledger>, bool)>, std::sync::Condvar)>;

/// Writes the ledger off the receiver's thread: the receiver hands over a copy whenever it
/// changes and goes on receiving; a thread writes the newest copy (fsynced), at most once per
/// [`LEDGER_EVERY`], coalescing those that arrive meanwhile. Each write replaces the file (a new
/// inode, the old one freed): on ext4 without a journal every freed inode is skipped by the
/// next allocations for minutes (`recently_deleted`), so that writing the ledger on every change
/// (about two per scan) made each new blob's inode cost more; the profile of the intake
/// benchmark showed 8 % of the core's CPU there, with the vault's own new files.
///
/// A ledger that lags after a crash is safe: an object delivered but not yet in the saved
/// ledger is reported lost and accepted again on replay (the vault keeps one copy); one marked
/// delivered is pending until the vault confirms it.
struct LedgerSaver {
    slot: SaverSlot,
    path: PathBuf,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LedgerSaver {
    fn spawn(path: PathBuf) -> LedgerSaver {
        let slot = std::sync::Arc::new((
            std::sync::Mutex::new((None::<Ledger>, false)),
            std::sync::Condvar::new(),
        ));
        let (s, p) = (slot.clone(), path.clone());
        let thread = std::thread::spawn(move || {
            let mut last: Option<Instant> = None;
            loop {
                let (next, done) = {
                    let (m, cv) = &*s;
                    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                    // Until stopped, or a copy is waiting and its time has come.
                    while !g.1 {
                        let left = last.map_or(Duration::ZERO, |t| {
                            (t + LEDGER_EVERY).saturating_duration_since(Instant::now())
                        });
                        g = match &g.0 {
                            None => cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                            Some(_) if !left.is_zero() => {
                                cv.wait_timeout(g, left)
                                    .unwrap_or_else(|e| e.into_inner())
                                    .0
                            }
                            Some(_) => break,
                        };
                    }
                    (g.0.take(), g.1)
                };
                if let Some(l) = next {
                    last = Some(Instant::now());
                    if let Err(e) = write_json_atomic(&p, &l) {
                        tracing::error!(error = %e, "ledger not saved");
                    }
                }
                if done {
                    return;
                }
            }
        });
        LedgerSaver {
            slot,
            path,
            thread: Some(thread),
        }
    }

    fn handle(&self) -> LedgerOffer {
        LedgerOffer(self.slot.clone())
    }

    /// Writes the last copy and stops the thread.
    fn finish(mut self) {
        {
            let (m, cv) = &*self.slot;
            let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
            g.1 = true;
            cv.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        tracing::debug!(path = %self.path.display(), "ledger saver stopped");
    }
}

/// The receiver's side of a [`LedgerSaver`].
struct LedgerOffer(SaverSlot);

impl LedgerOffer {
    fn offer(&self, ledger: &Ledger) {
        let (m, cv) = &*self.0;
        let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = Some(ledger.clone());
        cv.notify_all();
    }
}

fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = sluis_secret::create_private(&tmp)?;
    serde_json::to_writer(&mut f, value)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)
}

struct Pipeline {
    vault: std::sync::Arc<Vault>,
    limits: Limits,
    limits_file: Option<PathBuf>,
    worker: WorkerLimits,
    events: std::sync::Mutex<std::fs::File>,
    metrics: PipelineMetrics,
    /// Tells the receiver an object is safe in the vault (it leaves the ledger's pending set).
    confirm: std::sync::Mutex<mpsc::Sender<u64>>,
    /// Where stored objects' files go (kept for reuse).
    spares: std::sync::Arc<sluis_link::net::Spares>,
}

/// What the worker says on stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub(crate) enum WorkerResult {
    /// Canonical DICOS written to the output path.
    Sanitised {
        /// Elements dropped.
        dropped: usize,
        /// Whether the network was isolated.
        network_isolated: bool,
    },
    /// Refused.
    Refused {
        /// Why.
        refusal: Refusal,
    },
}

impl Pipeline {
    fn emit(&self, value: serde_json::Value) {
        let mut line = value.to_string();
        line.push('\n');
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = events
            .write_all(line.as_bytes())
            .and_then(|()| events.flush())
        {
            tracing::error!(error = %e, "event stream");
        }
    }

    fn audit_link(&self, id: Option<u64>, outcome: Outcome, detail: &str) {
        let actor = self.vault.system_actor();
        if let Err(e) = self.vault.log_link(id, outcome, detail, &actor) {
            tracing::error!(error = %e, "audit record of a link event");
        }
    }

    fn event(&self, ev: Event<PathBuf>) {
        let t = sluis_vault::vault::now();
        match ev {
            Event::Delivered(o) => {
                let meta = o.meta().to_string();
                self.object(&mut None, o.id(), o.location(), &meta, Instant::now());
            }
            Event::Lost(l) => {
                let detail = format!("object {} lost: {}", l.id, l.reason);
                self.audit_link(Some(l.id), Outcome::Failure, &detail);
                self.emit(serde_json::json!({"time": t, "event": "lost", "edge_id": l.id, "length": l.length, "reason": l.reason}));
                eprintln!(
                    "sluis core: LOST object {} ({}); replay it with `sluis edge replay --from {} --to {}`",
                    l.id, l.reason, l.id, l.id
                );
            }
            Event::Rejected { id, reason } => {
                self.audit_link(
                    Some(id),
                    Outcome::Denied,
                    &format!("object {id} rejected: {reason}"),
                );
                self.emit(serde_json::json!({"time": t, "event": "rejected", "edge_id": id, "reason": reason}));
                eprintln!("sluis core: REJECTED object {id}: {reason}");
            }
            Event::Aborted { id, reason } => {
                self.emit(serde_json::json!({"time": t, "event": "aborted", "edge_id": id, "reason": reason}));
            }
            Event::HeartbeatMissed { silent_for } => {
                let detail = format!(
                    "no heartbeat from the edge for {} ms: link cut or edge down",
                    silent_for.as_millis()
                );
                self.audit_link(None, Outcome::Failure, &detail);
                self.emit(serde_json::json!({"time": t, "event": "heartbeat-missed", "silent_ms": silent_for.as_millis() as u64}));
                eprintln!("sluis core: ALERT {detail}");
            }
            Event::HeartbeatResumed => {
                self.audit_link(None, Outcome::Success, "heartbeats from the edge resumed");
                self.emit(serde_json::json!({"time": t, "event": "heartbeat-resumed"}));
            }
            Event::EdgeRestarted { previous, epoch } => {
                let detail = if previous == 0 {
                    format!("first edge run heard: epoch {epoch}")
                } else {
                    format!("edge restarted: epoch {previous} -> {epoch}")
                };
                self.audit_link(None, Outcome::Success, &detail);
                self.emit(serde_json::json!({"time": t, "event": "edge-restarted", "previous": previous, "epoch": epoch}));
                eprintln!("sluis core: {detail}");
            }
            Event::Replayed {
                count,
                epoch,
                current,
            } => {
                let detail = format!(
                    "{count} replayed link record(s), the last from edge run {epoch} (newest heard: {current}): captured traffic sent again"
                );
                self.audit_link(None, Outcome::Denied, &detail);
                self.emit(serde_json::json!({"time": t, "event": "replayed", "count": count, "epoch": epoch, "current": current}));
                eprintln!("sluis core: ALERT {detail}");
            }
            Event::StorageFailed { id, error } => {
                self.audit_link(
                    Some(id),
                    Outcome::Failure,
                    &format!("object {id} could not be kept: {error}"),
                );
                self.emit(serde_json::json!({"time": t, "event": "storage-failed", "edge_id": id, "error": error}));
            }
        }
    }

    /// One verified object: worker, vault, event. The file is removed only once the vault has it.
    fn object(
        &self,
        zygote: &mut Option<Zygote>,
        id: u64,
        path: &Path,
        meta: &str,
        queued: Instant,
    ) {
        let started = Instant::now();
        let source = source_of(id, meta);
        let result = self.run_worker(zygote, path);
        let worker_ms = started.elapsed().as_millis() as u64;
        let actor = self.vault.system_actor();
        let t = sluis_vault::vault::now();
        let outcome = match result {
            Ok((
                WorkerResult::Sanitised {
                    dropped,
                    network_isolated,
                },
                mut canonical,
                worker_pid,
            )) => {
                // The worker's output is parsed again here, as hostile as anything from the
                // enclave: a compromised worker cannot hand the vault anything but a scan that
                // passes the sanitiser. It was read within the limits (see `run_worker`).
                match sanitise(&canonical, &self.limits).map_err(|r| r.to_string()) {
                    Ok(s) => match self.vault.store_encoded(&s.scan, &mut canonical, &actor) {
                        Ok(stored) => {
                            if stored.duplicate {
                                self.metrics.duplicates.inc();
                            } else {
                                self.metrics.stored.inc();
                            }
                            Some(
                                serde_json::json!({"time": t, "event": "stored", "edge_id": id, "scan": stored.id, "log_index": stored.log_index, "duplicate": stored.duplicate, "dropped": dropped, "network_isolated": network_isolated, "worker_pid": worker_pid, "source": source, "ms": started.elapsed().as_millis() as u64, "worker_ms": worker_ms, "queued_ms": started.duration_since(queued).as_millis() as u64}),
                            )
                        }
                        Err(e) => {
                            self.metrics.vault_errors.inc();
                            tracing::error!(id, error = %e, "vault store failed; object kept for the next run");
                            return;
                        }
                    },
                    Err(e) => self.quarantine(
                        id,
                        path,
                        &source,
                        &Refusal {
                            rule: Rule::WorkerCrashed,
                            location: Location::default(),
                            detail: format!("the worker's output did not pass the sanitiser: {e}"),
                            fault: sluis_scan::Fault::Internal,
                        },
                    ),
                }
            }
            Ok((WorkerResult::Refused { refusal }, _, _)) => {
                self.quarantine(id, path, &source, &refusal)
            }
            Err(refusal) => {
                self.metrics.worker_failures.inc();
                self.quarantine(id, path, &source, &refusal)
            }
        };
        let Some(event) = outcome else {
            return;
        };
        self.emit(event);
        let _ = self
            .confirm
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(id);
        self.spares.retire(path);
    }

    fn quarantine(
        &self,
        id: u64,
        path: &Path,
        source: &str,
        refusal: &Refusal,
    ) -> Option<serde_json::Value> {
        let input = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "reading a refused object");
                return None;
            }
        };
        let actor = self.vault.system_actor();
        match self.vault.quarantine(&input, source, refusal, &actor) {
            Ok(stored) => {
                self.metrics.quarantined.inc();
                Some(
                    serde_json::json!({"time": sluis_vault::vault::now(), "event": "quarantined", "edge_id": id, "quarantine": stored.id, "log_index": stored.log_index, "rule": refusal.rule.name(), "reason": refusal.to_string(), "source": source}),
                )
            }
            Err(e) => {
                self.metrics.vault_errors.inc();
                tracing::error!(id, error = %e, "quarantine failed; object kept for the next run");
                None
            }
        }
    }

    /// Sanitises one object in a worker forked by this pipeline's zygote (started here on first
    /// use, and again after it failed), within the limits; a crash or timeout becomes a refusal
    /// so that the input goes to quarantine with the reason. The worker opens no file: the
    /// object is its standard input, and it answers on its standard output, a pipe, in frames
    /// (see [`Frames`]): the canonical DICOS, then its result. Also returns the worker's id.
    fn run_worker(
        &self,
        zygote: &mut Option<Zygote>,
        input: &Path,
    ) -> Result<(WorkerResult, Vec<u8>, u32), Refusal> {
        let failed = |rule: Rule, detail: String| Refusal {
            rule,
            location: Location::default(),
            detail,
            fault: sluis_scan::Fault::Internal,
        };
        let object = std::fs::File::open(input).map_err(|e| {
            failed(
                Rule::WorkerCrashed,
                format!("opening the verified object: {e}"),
            )
        })?;
        let size = object.metadata().map_or(0, |m| m.len());
        let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| failed(Rule::WorkerCrashed, format!("no pipe for the worker: {e}")))?;
        let mut z = match zygote.take() {
            Some(z) => z,
            None => Zygote::spawn(self.limits_file.as_deref(), &self.worker).map_err(|e| {
                failed(
                    Rule::WorkerCrashed,
                    format!("the worker zygote did not start: {e}"),
                )
            })?,
        };
        // On any fault of the zygote itself it is dropped (killed) and a new one starts next time.
        let worker = z.start(&object, write_end).map_err(|e| {
            failed(
                Rule::WorkerCrashed,
                format!("the worker did not start: {e}"),
            )
        })?;
        drop(object);
        let deadline = Instant::now() + Duration::from_secs(self.worker.timeout_s);
        let pipe = std::fs::File::from(read_end);
        let hint = usize::try_from(size.min(self.limits.max_file_bytes))
            .unwrap_or(0)
            .saturating_add(1 << 16);
        let timed_out = || {
            failed(
                Rule::WorkerTimeout,
                format!(
                    "the sanitiser ran past {} s and was killed",
                    self.worker.timeout_s
                ),
            )
        };
        let crashed = |status: ExitStatus, why: &str| {
            use std::os::unix::process::ExitStatusExt as _;
            let how = match (status.code(), status.signal()) {
                (_, Some(sig)) => format!("killed by signal {sig}"),
                (Some(c), None) => format!("exit status {c}"),
                (None, None) => "ended".to_string(),
            };
            failed(
                Rule::WorkerCrashed,
                format!(
                    "the sanitiser worker {how}{why} (limits: {} MiB address space, {} s CPU)",
                    self.worker.address_space_mb, self.worker.cpu_seconds
                ),
            )
        };
        // Read within the limits: a compromised worker may write anything, and reading stops
        // at the first frame that breaks them.
        let read = read_worker_output(&pipe, self.limits.max_file_bytes, hint, deadline);
        drop(pipe);
        let (json, canonical) = match read {
            Ok(frames) => frames,
            Err(fault) => {
                let status = z.kill(worker);
                if status.is_ok() {
                    *zygote = Some(z);
                }
                return Err(match (fault, status) {
                    (ReadFault::TimedOut, _) => timed_out(),
                    (ReadFault::Malformed(why), Ok(status)) => {
                        crashed(status, &format!(", its output {why}"))
                    }
                    (ReadFault::Failed(why) | ReadFault::Malformed(why), _) => failed(
                        Rule::WorkerCrashed,
                        format!("reading the worker's output: {why}"),
                    ),
                });
            }
        };
        // Its output ended: the worker has closed it, normally by exiting.
        let status = match z.wait(deadline) {
            Ok(Some(status)) => status,
            Ok(None) => {
                if z.kill(worker).is_ok() {
                    *zygote = Some(z);
                }
                return Err(timed_out());
            }
            Err(e) => {
                return Err(failed(
                    Rule::WorkerCrashed,
                    format!("waiting for the worker: {e}"),
                ));
            }
        };
        *zygote = Some(z);
        match serde_json::from_slice::<WorkerResult>(&json) {
            Ok(r) if status.code().is_some_and(|c| c <= 1) => Ok((r, canonical, worker.pid())),
            Ok(_) => Err(crashed(status, "")),
            Err(_) => Err(crashed(status, ", its result unreadable")),
        }
    }
}

/// Lowers the calling thread's scheduling priority (nice 10; Linux applies it to the thread,
/// and processes it starts inherit it). Lowering needs no privilege; failing leaves it as is.
fn lower_priority() {
    if let Err(e) = rustix::process::setpriority_process(None, PIPELINE_NICE) {
        tracing::warn!(error = %e, "could not lower the pipeline's priority");
    }
}

/// The niceness of pipeline threads and sanitiser workers.
const PIPELINE_NICE: i32 = 10;
/// The niceness the link receiver asks for (granted to a privileged process only).
const RECEIVER_NICE: i32 = -5;

/// Why the worker's output could not be read.
enum ReadFault {
    /// The deadline passed first.
    TimedOut,
    /// The pipe failed.
    Failed(String),
    /// The frames broke their rules (what is wrong, as "its output ..." goes on).
    Malformed(String),
}

/// The kernel buffer asked for the worker's output pipe: a 4.5 MB scan crosses it in a few
/// hand-overs instead of one per 64 KiB (each a pair of context switches).
const PIPE_BYTES: usize = 1 << 20;

/// Reads the worker's output from its pipe until it ends, polling with the deadline (the pipe
/// is non-blocking): no reader thread per worker, and a worker that neither writes nor ends is
/// still stopped on time.
fn read_worker_output(
    pipe: &std::fs::File,
    max_data: u64,
    hint: usize,
    deadline: Instant,
) -> Result<(Vec<u8>, Vec<u8>), ReadFault> {
    let failed = |e: &dyn std::fmt::Display| ReadFault::Failed(e.to_string());
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    // The kernel may grant less (`fs.pipe-max-size`); 64 KiB still works.
    let _ = rustix::pipe::fcntl_setpipe_size(pipe, PIPE_BYTES);
    rustix::io::ioctl_fionbio(pipe, true).map_err(|e| failed(&e))?;
    // Read through a shared reference, so that the wait can poll the same pipe.
    let mut reader: &std::fs::File = pipe;
    let wait = || loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadFault::TimedOut);
        }
        let timeout = Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(pipe, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => {}
            Ok(_) => return Ok(()),
            Err(e) => return Err(failed(&e)),
        }
    };
    read_frames(&mut reader, max_data, hint, wait)
}

/// Reads frames (see [`Frames`]) until the stream ends: `(result JSON, canonical bytes)`. Each
/// `D` payload is read straight onto the end of the canonical bytes, never gathered from a copy
/// of the stream. Refused: a frame cut short or of an unknown kind, data past `max_data`, a
/// result larger than [`MAX_RESULT`], no result, or anything after it. `wait` is called when the
/// stream has nothing yet (a non-blocking pipe).
fn read_frames<R: Read>(
    r: &mut R,
    max_data: u64,
    hint: usize,
    mut wait: impl FnMut() -> Result<(), ReadFault>,
) -> Result<(Vec<u8>, Vec<u8>), ReadFault> {
    let malformed = |why: &str| ReadFault::Malformed(why.to_string());
    let mut data = Vec::new();
    data.try_reserve(hint)
        .map_err(|e| ReadFault::Failed(e.to_string()))?;
    let mut head = Vec::with_capacity(5);
    loop {
        head.clear();
        take_into(r, &mut head, 5, &mut wait)?;
        let (kind, len) = match head.as_slice() {
            [] => return Err(malformed("ended without a result")),
            &[kind, a, b, c, d] => (kind, u32::from_le_bytes([a, b, c, d])),
            _ => return Err(malformed("was cut short in a frame header")),
        };
        let len = usize::try_from(len).map_err(|_| malformed("has a frame too large"))?;
        match kind {
            b'D' => {
                if (data.len() as u64).saturating_add(len as u64) > max_data {
                    return Err(malformed("passed the largest file accepted"));
                }
                let want = data.len().saturating_add(len);
                take_into(r, &mut data, len, &mut wait)?;
                if data.len() < want {
                    return Err(malformed("was cut short in a data frame"));
                }
            }
            b'R' => {
                if len > MAX_RESULT {
                    return Err(malformed("has a result larger than 1 MiB"));
                }
                let mut json = Vec::new();
                take_into(r, &mut json, len, &mut wait)?;
                if json.len() < len {
                    return Err(malformed("was cut short in the result"));
                }
                let mut after = Vec::new();
                take_into(r, &mut after, 1, &mut wait)?;
                if !after.is_empty() {
                    return Err(malformed("went on after the result"));
                }
                return Ok((json, data));
            }
            _ => return Err(malformed("has a frame of an unknown kind")),
        }
    }
}

/// Appends `n` bytes from `r` to `buf`, fewer only where the stream ends.
fn take_into<R: Read>(
    r: &mut R,
    buf: &mut Vec<u8>,
    n: usize,
    wait: &mut impl FnMut() -> Result<(), ReadFault>,
) -> Result<(), ReadFault> {
    let target = buf.len().saturating_add(n);
    while buf.len() < target {
        let want = (target - buf.len()) as u64;
        match r.take(want).read_to_end(buf) {
            // Either all of it, or the end of the stream.
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => wait()?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadFault::Failed(e.to_string())),
        }
    }
    Ok(())
}

/// The edge's meta as a short source string for the quarantine index (untrusted text: only
/// known keys, bounded).
fn source_of(id: u64, meta: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(meta).unwrap_or_default();
    let field = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .chars()
            .take(80)
            .collect::<String>()
    };
    match field("source").as_str() {
        "dicom" => format!(
            "edge {id}: C-STORE of {} from {} ({})",
            field("sop_instance")
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.')
                .collect::<String>(),
            field("calling_ae"),
            field("peer")
        ),
        "drop" => format!("edge {id}: drop folder file {}", field("name")),
        other => format!("edge {id}: {other}"),
    }
}

fn check(args: &Args) -> Result<(), Failure> {
    let cfg = load(args)?;
    let mut c = Check::default();
    c.ok(format!("configuration {} parses", args.config.display()));
    match EdgeVerifier::read(&cfg.link.edge_key) {
        Ok(_) => c.ok(format!("edge public key {}", cfg.link.edge_key.display())),
        Err(e) => c.fail(format!("edge public key: {e}")),
    }
    match Vault::open(&cfg.core.vault) {
        Ok(_) => c.ok(format!("vault {}", cfg.core.vault.display())),
        Err(e) => c.fail(format!(
            "vault {}: {e} (create it with `sluis vault init`)",
            cfg.core.vault.display()
        )),
    }
    match udp_socket(cfg.link.listen, cfg.link.receive_buffer, 0).and_then(|s| buffer_sizes(&s)) {
        Ok((rcv, _)) => service::check_buffer(
            &mut c,
            "receive",
            rcv,
            cfg.link.receive_buffer,
            "net.core.rmem_max",
        ),
        Err(e) => c.fail(format!("UDP socket on {}: {e}", cfg.link.listen)),
    }
    if let Some(backlog) = service::sysctl("net.core.netdev_max_backlog") {
        if backlog < 5000 {
            c.warn(format!(
                "net.core.netdev_max_backlog = {backlog}; for a link above 1 Gbit/s set it to 5000 or more"
            ));
        } else {
            c.ok(format!("net.core.netdev_max_backlog = {backlog}"));
        }
    }
    if let Some(ws) = &cfg.workstation {
        if ws.plain_http && !ws.listen.ip().is_loopback() {
            c.fail(format!(
                "workstation on {}: plain HTTP is served on loopback only",
                ws.listen
            ));
        } else if ws.tls_cert.is_some() != ws.tls_key.is_some() {
            c.fail("workstation: tls_cert and tls_key go together");
        } else {
            c.ok(format!(
                "workstation served on {}://{} from this process",
                if ws.plain_http { "http" } else { "https" },
                ws.listen
            ));
        }
    }
    let w = cfg.worker;
    c.ok(format!(
        "sanitiser worker: {} MiB address space, {} s CPU, {} open files, killed after {} s",
        w.address_space_mb, w.cpu_seconds, w.open_files, w.timeout_s
    ));
    if w.isolate_network {
        if rustix::process::geteuid().is_root() {
            c.ok("sanitiser worker runs in an empty network namespace");
        } else {
            c.warn("isolate_network is on but sluis core is not root: the worker cannot leave the host's network namespace");
        }
    }
    c.finish()
}

/// `sluis core-zygote` (internal): forks a worker per object (see `crate::zygote`); each
/// sanitises one object, read from standard input (a regular file), under resource limits, and
/// writes the canonical DICOS and the result to standard output in frames.
#[derive(Debug, ClapArgs)]
pub(crate) struct WorkerArgs {
    #[arg(long)]
    address_space_mb: u64,
    #[arg(long)]
    cpu_seconds: u64,
    #[arg(long)]
    open_files: u64,
    #[arg(long)]
    pub isolate_network: bool,
}

/// The body of a forked worker (see `crate::zygote`): the limits apply, then `input`, the
/// object (a regular file; also the worker's standard input), is sanitised to standard output
/// in frames.
pub(crate) fn sanitise_worker(
    input: std::fs::File,
    args: &WorkerArgs,
    limits: &Limits,
    network_isolated: bool,
) -> Result<(), Failure> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let set = |r: Resource, v: u64| {
        setrlimit(
            r,
            Rlimit {
                current: Some(v),
                maximum: Some(v),
            },
        )
        .map_err(|e| Failure::env(anyhow::anyhow!("setrlimit {r:?}: {e}")))
    };
    set(Resource::As, args.address_space_mb << 20)?;
    set(Resource::Cpu, args.cpu_seconds)?;
    set(Resource::Nofile, args.open_files)?;
    // It writes no file; were it made to, none could be larger than the parent accepts.
    set(Resource::Fsize, limits.max_file_bytes)?;

    // Streamed: the pixels pass through fixed buffers, decoded and re-encoded, so the worker
    // holds neither the whole input nor the whole image (every fresh page a short-lived process
    // touches is a page fault, the largest part of its cost). The output is the same canonical
    // DICOS as the in-memory path's (the fuzz target `sanitise` holds them to it); on a refusal
    // the parent ignores whatever part of it was written.
    let reader = std::io::BufReader::with_capacity(1 << 16, input);
    let mut w = std::io::BufWriter::with_capacity(FRAME_DATA, Frames(std::io::stdout().lock()));
    let result = match sanitise_stream(reader, &mut w, limits) {
        Ok(report) => WorkerResult::Sanitised {
            dropped: report.dropped.len(),
            network_isolated,
        },
        Err(StreamError::Refused(refusal)) => WorkerResult::Refused { refusal },
        Err(StreamError::Read(e)) => {
            return Err(Failure::env(anyhow::anyhow!("reading the object: {e}")));
        }
        Err(e) => {
            return Err(Failure::Internal(anyhow::anyhow!(
                "writing canonical DICOS: {e}"
            )));
        }
    };
    let refused = matches!(result, WorkerResult::Refused { .. });
    let json = serde_json::to_vec(&result).map_err(|e| Failure::Internal(e.into()))?;
    w.flush()?;
    let mut out = w
        .into_inner()
        .map_err(|e| Failure::Internal(anyhow::anyhow!("standard output: {e}")))?;
    out.result(&json)?;
    if refused {
        // Exit 1, as every refusing command does; the refusal is in the result frame.
        std::process::exit(1);
    }
    Ok(())
}

/// The worker's standard output: frames of `kind (1 byte) | length (u32, little-endian) |
/// payload`. `D` frames carry the canonical DICOS in order; one `R` frame, the last, carries the
/// result as JSON. Framed, because a refusal can come after part of the output was written.
#[derive(Debug)]
struct Frames<W: std::io::Write>(W);

/// The canonical DICOS bytes the worker buffers before it writes a frame.
const FRAME_DATA: usize = 64 << 10;
/// The largest result a worker may give (a refusal's detail goes into the quarantine index).
const MAX_RESULT: usize = 1 << 20;

impl<W: std::io::Write> std::io::Write for Frames<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(u32::MAX as usize);
        self.0.write_all(&frame_head(b'D', n))?;
        self.0.write_all(buf.get(..n).unwrap_or_default())?;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<W: std::io::Write> Frames<W> {
    fn result(&mut self, json: &[u8]) -> std::io::Result<()> {
        self.0.write_all(&frame_head(b'R', json.len()))?;
        self.0.write_all(json)?;
        self.0.flush()
    }
}

fn frame_head(kind: u8, len: usize) -> [u8; 5] {
    let l = u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes();
    [kind, l[0], l[1], l[2], l[3]]
}

/// Moves this (single-threaded) process into a new, empty network namespace.
#[allow(deprecated)] // `unshare` is deprecated for multi-threaded callers; the zygote has one thread.
pub(crate) fn isolate_network() -> bool {
    rustix::thread::unshare(rustix::thread::UnshareFlags::NEWNET).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::io::Write as _;

    use super::{FRAME_DATA, Frames};

    fn framed(data: &[u8], json: &[u8]) -> Vec<u8> {
        let mut w = std::io::BufWriter::with_capacity(FRAME_DATA, Frames(Vec::new()));
        for chunk in data.chunks(1000) {
            w.write_all(chunk).unwrap();
        }
        w.flush().unwrap();
        let mut f = w.into_inner().unwrap();
        f.result(json).unwrap();
        f.0
    }

    /// Reads framed bytes as the core reads a worker's pipe, `step` bytes at a time, as if the
    /// pipe had nothing more between them.
    fn read(bytes: &[u8], max: u64, step: usize) -> Result<(Vec<u8>, Vec<u8>), String> {
        struct Trickle<'a>(&'a [u8], usize, bool);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                // Every other call finds the pipe empty.
                self.2 = !self.2;
                if self.2 && !self.0.is_empty() {
                    return Err(std::io::ErrorKind::WouldBlock.into());
                }
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        super::read_frames(&mut Trickle(bytes, step, false), max, 16, || Ok(())).map_err(
            |f| match f {
                super::ReadFault::Malformed(why) => why,
                super::ReadFault::Failed(why) => format!("failed: {why}"),
                super::ReadFault::TimedOut => "timed out".into(),
            },
        )
    }

    #[test]
    fn worker_frames_give_back_the_bytes_and_the_result() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let out = framed(&data, b"{\"result\":\"x\"}");
        for step in [1, 3, 4096, usize::MAX] {
            let (json, back) = read(&out, 1 << 20, step).unwrap();
            assert_eq!(json, b"{\"result\":\"x\"}");
            assert_eq!(back, data, "step {step}");
        }
        // Nothing but a result.
        let empty = framed(&[], b"{}");
        let (json, back) = read(&empty, 0, 7).unwrap();
        assert_eq!((&json[..], back.len()), (&b"{}"[..], 0));
    }

    #[test]
    fn malformed_worker_frames_are_refused() {
        let data = vec![7u8; 5000];
        let out = framed(&data, b"{}");
        let refused = |bytes: &[u8], max: u64| read(bytes, max, 1000).unwrap_err();
        // More data than the limit.
        assert_eq!(refused(&out, 4999), "passed the largest file accepted");
        // Cut anywhere: inside the result, inside a header, before the result.
        for cut in [out.len() - 1, out.len() - 3, out.len() - 7, 3, 0] {
            assert!(read(&out[..cut], 1 << 20, 1000).is_err(), "cut {cut}");
        }
        assert_eq!(refused(&[], 1 << 20), "ended without a result");
        // Something after the result.
        let mut more = out.clone();
        more.push(b'D');
        assert_eq!(refused(&more, 1 << 20), "went on after the result");
        // A result larger than a result may be.
        let big = framed(&[], &vec![b' '; super::MAX_RESULT + 1]);
        assert_eq!(refused(&big, 1 << 20), "has a result larger than 1 MiB");
        // An unknown kind.
        let mut odd = out.clone();
        odd[0] = b'X';
        assert_eq!(refused(&odd, 1 << 20), "has a frame of an unknown kind");
        // A length past the end.
        let mut long = out;
        long[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(refused(&long, u64::MAX), "was cut short in a data frame");
    }
}
