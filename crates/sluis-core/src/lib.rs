//! The customs end of the sluis lock.
//!
//! The core receives the one-way link (every datagram hostile) with
//! [`sluis_link::Receiver`], hands each verified object to a sanitiser worker process under
//! resource limits ([`worker`]), parses the worker's output again, stores what passed in the
//! vault and quarantines what was refused ([`pipeline`]), records every gap of the link in the
//! transparency log, and writes a typed event stream ([`events`]).
//!
//! Threads: the receiver (socket -> sans-I/O receiver -> reassembly directory, ledger), a pool
//! of pipelines (worker -> vault -> audit -> events), and the caller's, which hands the
//! receiver's events on. Verified objects wait in the reassembly area's `ready/` until the
//! vault has them, and the [`ledger`] keeps them pending, so a crash loses nothing: what a
//! crash took is reported lost by id, and the edge can replay it.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let cfg: sluis_core::Config = unimplemented!();
//! let vault = std::sync::Arc::new(sluis_vault::Vault::open(&cfg.core.vault)?);
//! // The worker's zygote: a program that calls `sluis_core::worker::zygote::serve`.
//! let zygote: sluis_core::ZygoteCommand =
//!     std::sync::Arc::new(|| std::process::Command::new("/usr/bin/sluis-zygote"));
//! let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
//! let metrics = sluis_core::CoreMetrics::default();
//! sluis_core::run(&cfg, vault, &sluis_scan::Limits::default(), zygote, &metrics, stop, &mut || {})?;
//! # Ok(()) }
//! ```

pub mod config;
pub mod error;
pub mod events;
pub mod ledger;
pub mod pipeline;
pub mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;
use sluis_link::check::{self, Finding};
use sluis_link::net::{DirWorkspace, buffer_sizes, run_receiver, udp_socket};
use sluis_link::{
    EdgeVerifier, Event, Ledger, LostObject, Receiver, ReceiverLimits, ReceiverMetrics,
};
use sluis_scan::Limits;
use sluis_vault::Vault;

pub use config::{Config, CoreSection, LinkSection, WorkerLimits};
pub use error::CoreError;
pub use events::{CoreEvent, EventLine, Source};
use pipeline::{Job, Pipeline, PipelineMetrics};
pub use worker::zygote::ZygoteCommand;

/// The core's metrics, for the caller to register and serve.
#[derive(Debug, Clone, Default)]
pub struct CoreMetrics {
    /// The link receiver's.
    pub receiver: ReceiverMetrics,
    /// The pipelines'.
    pub pipeline: PipelineMetrics,
}

impl CoreMetrics {
    /// Registers both.
    pub fn register(&self, registry: &mut Registry) {
        self.receiver.register(registry);
        self.pipeline.register(registry);
    }
}

/// The niceness the link receiver asks for (granted to a privileged process only).
const RECEIVER_NICE: i32 = -5;

/// How often `idle` is called, at most.
const IDLE_EVERY: Duration = Duration::from_secs(1);

/// Runs the core until `stop`: receives the link, sanitises, stores, logs. `zygote` starts the
/// pipelines' worker zygotes; `idle` is called about once a second on the calling thread (the
/// binary drains the accounts' outbox there when no workstation does).
pub fn run(
    cfg: &Config,
    vault: Arc<Vault>,
    limits: &Limits,
    zygote: ZygoteCommand,
    metrics: &CoreMetrics,
    stop: Arc<AtomicBool>,
    idle: &mut dyn FnMut(),
) -> Result<(), CoreError> {
    let verifier = EdgeVerifier::read(&cfg.link.edge_key)?;
    sluis_secret::private_dir(&cfg.core.work)?;
    let reassembly = cfg.core.reassembly();
    let workspace = DirWorkspace::open(&reassembly).map_err(|source| CoreError::Io {
        what: "reassembly directory",
        path: reassembly.clone(),
        source,
    })?;
    let mut ledger = ledger::load(&cfg.core.ledger())?;
    let recovered = recover(&mut ledger, &workspace)?;
    ledger::write_json_atomic(&cfg.core.ledger(), &ledger).map_err(|source| CoreError::Io {
        what: "writing the ledger",
        path: cfg.core.ledger(),
        source,
    })?;
    let sock = udp_socket(cfg.link.listen, cfg.link.receive_buffer, 0).map_err(|source| {
        CoreError::Socket {
            addr: cfg.link.listen,
            source,
        }
    })?;
    let events = events::EventLog::open(&cfg.core.events()).map_err(|source| CoreError::Io {
        what: "event stream",
        path: cfg.core.events(),
        source,
    })?;
    let (confirm_tx, confirm_rx) = mpsc::channel::<u64>();
    let (tx, rxc) = mpsc::channel::<Event<PathBuf>>();
    let spares = workspace.spares();
    let saver = ledger::LedgerSaver::spawn(cfg.core.ledger());
    let receiver = spawn_receiver(ReceiverParts {
        limits: cfg.receiver,
        verifier,
        workspace,
        ledger,
        metrics: metrics.receiver.clone(),
        on_disk: recovered.on_disk(),
        sock,
        stop: stop.clone(),
        confirm: confirm_rx,
        offer: saver.handle(),
        events: tx,
    })?;
    eprintln!(
        "sluis core: receiving on {}, vault {}, events {}",
        cfg.link.listen,
        cfg.core.vault.display(),
        cfg.core.events().display()
    );
    let pipeline = Arc::new(Pipeline {
        vault,
        limits: limits.clone(),
        zygote,
        worker: cfg.worker,
        events,
        metrics: metrics.pipeline.clone(),
        confirm: Mutex::new(confirm_tx),
        spares,
    });
    for l in recovered.lost {
        pipeline.link_event(Event::Lost(l));
    }
    let (jobs, pool) = spawn_pool(&pipeline, cfg.core.pipelines.max(1))?;
    for (id, path) in recovered.leftover {
        let _ = jobs.send(Job {
            id,
            path,
            source: Source::EarlierRun,
            queued: Instant::now(),
        });
    }
    // Verified objects go to the pool; everything else the receiver says is handled here, in
    // order.
    let handle = |ev: Event<PathBuf>| match ev {
        Event::Delivered(o) => {
            let _ = jobs.send(Job {
                id: o.id(),
                path: o.location().clone(),
                source: Source::from_meta(o.meta()),
                queued: Instant::now(),
            });
        }
        other => pipeline.link_event(other),
    };
    let mut last_idle = Instant::now();
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
        if last_idle.elapsed() >= IDLE_EVERY {
            last_idle = Instant::now();
            idle();
        }
    }
    // Drain what the receiver handed over before it stopped, then let the pool finish.
    while let Ok(ev) = rxc.try_recv() {
        handle(ev);
    }
    drop(jobs);
    for t in pool {
        let _ = t.join();
    }
    let receiver_result = receiver.join();
    saver.finish();
    match receiver_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CoreError::Receiver(e)),
        Err(_) => Err(CoreError::Panicked("the link receiver")),
    }
}

/// What an earlier run left: objects verified but not confirmed in the vault.
struct Recovered {
    /// Still whole in `ready/`: stored now.
    leftover: Vec<(u64, PathBuf)>,
    /// Gone (a crash or power loss took them before the vault had them): reported lost, so
    /// that a replay is accepted.
    lost: Vec<LostObject>,
}

impl Recovered {
    /// The leftovers' sizes, which count against the receiver's disk budget.
    fn on_disk(&self) -> Vec<(u64, u64)> {
        self.leftover
            .iter()
            .map(|(id, p)| (*id, std::fs::metadata(p).map_or(0, |m| m.len())))
            .collect()
    }
}

/// Sorts the ledger's pending objects into those still whole and those lost, and clears
/// `ready/` of everything else.
fn recover(ledger: &mut Ledger, workspace: &DirWorkspace) -> Result<Recovered, CoreError> {
    let mut leftover: Vec<(u64, PathBuf)> = Vec::new();
    let mut lost = Vec::new();
    for id in ledger.pending.clone() {
        match workspace.check_ready(id) {
            Some(p) => leftover.push((id, p)),
            None => {
                let l = LostObject {
                    id,
                    length: None,
                    reason: "verified, then lost at the core before the vault had it (crash or power loss)".into(),
                };
                ledger.lose(l.clone());
                lost.push(l);
            }
        }
    }
    let ready = workspace.ready();
    let entries = std::fs::read_dir(&ready).map_err(|source| CoreError::Io {
        what: "reading",
        path: ready.clone(),
        source,
    })?;
    for e in entries.flatten() {
        let keep = DirWorkspace::ready_id(&e.file_name())
            .is_some_and(|id| leftover.iter().any(|(l, p)| *l == id && *p == e.path()));
        if !keep {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(Recovered { leftover, lost })
}

/// What the receiver's thread takes.
struct ReceiverParts {
    limits: ReceiverLimits,
    verifier: EdgeVerifier,
    workspace: DirWorkspace,
    ledger: Ledger,
    metrics: ReceiverMetrics,
    on_disk: Vec<(u64, u64)>,
    sock: std::net::UdpSocket,
    stop: Arc<AtomicBool>,
    confirm: mpsc::Receiver<u64>,
    offer: ledger::LedgerOffer,
    events: mpsc::Sender<Event<PathBuf>>,
}

fn spawn_receiver(
    p: ReceiverParts,
) -> Result<std::thread::JoinHandle<std::io::Result<()>>, CoreError> {
    std::thread::Builder::new()
        .name("sluis-link-rx".into())
        .spawn(move || -> std::io::Result<()> {
            // Ahead of everything else on the host where it may be (CAP_SYS_NICE): what the
            // socket buffer cannot hold while this thread waits for a CPU is lost.
            let _ = rustix::process::setpriority_process(None, RECEIVER_NICE);
            let mut receiver = Receiver::new(
                p.limits,
                p.verifier,
                p.workspace,
                p.ledger,
                p.metrics,
                Instant::now(),
            );
            for (id, length) in p.on_disk {
                receiver.committed_on_disk(id, length);
            }
            run_receiver(
                &p.sock,
                &mut receiver,
                &p.stop,
                &p.confirm,
                &mut |ledger| p.offer.offer(ledger),
                &mut |ev| {
                    let _ = p.events.send(ev);
                },
            )
        })
        .map_err(CoreError::Receiver)
}

type Pool = (mpsc::Sender<Job>, Vec<std::thread::JoinHandle<()>>);

/// Starts `n` pipelines sharing one queue of jobs.
fn spawn_pool(pipeline: &Arc<Pipeline>, n: usize) -> Result<Pool, CoreError> {
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let mut pool = Vec::new();
    for _ in 0..n {
        let (p, rx) = (pipeline.clone(), jobs_rx.clone());
        let t = std::thread::Builder::new()
            .name("sluis-pipeline".into())
            .spawn(move || {
                // The link receiver must never wait behind sanitising and storing: its socket
                // buffer holds a few milliseconds of the link, and what overflows is lost
                // (reported, but lost). Pipeline threads, and the workers they start, yield.
                pipeline::lower_priority();
                // This pipeline's zygote, started by the first object (so it inherits the
                // priority), forks the worker of every object.
                let mut zygote = None;
                loop {
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(job) = job else {
                        break;
                    };
                    p.object(&mut zygote, job);
                }
            })
            .map_err(CoreError::Receiver)?;
        pool.push(t);
    }
    Ok((jobs_tx, pool))
}

/// Checks the configuration and the host: the edge's key, the vault, the link's socket and
/// its buffers, the worker's limits and isolation. Says what to change.
pub fn check(cfg: &Config) -> Vec<Finding> {
    let mut c = Vec::new();
    match EdgeVerifier::read(&cfg.link.edge_key) {
        Ok(_) => c.push(Finding::ok(format!(
            "edge public key {}",
            cfg.link.edge_key.display()
        ))),
        Err(e) => c.push(Finding::fail(format!("edge public key: {e}"))),
    }
    match Vault::open(&cfg.core.vault) {
        Ok(_) => c.push(Finding::ok(format!("vault {}", cfg.core.vault.display()))),
        Err(e) => c.push(Finding::fail(format!(
            "vault {}: {e} (create it with `sluis vault init`)",
            cfg.core.vault.display()
        ))),
    }
    match udp_socket(cfg.link.listen, cfg.link.receive_buffer, 0).and_then(|s| buffer_sizes(&s)) {
        Ok((rcv, _)) => c.push(check::buffer(
            "receive",
            rcv,
            cfg.link.receive_buffer,
            "net.core.rmem_max",
        )),
        Err(e) => c.push(Finding::fail(format!(
            "UDP socket on {}: {e}",
            cfg.link.listen
        ))),
    }
    if let Some(backlog) = check::sysctl("net.core.netdev_max_backlog") {
        if backlog < 5000 {
            c.push(Finding::warn(format!(
                "net.core.netdev_max_backlog = {backlog}; for a link above 1 Gbit/s set it to 5000 or more"
            )));
        } else {
            c.push(Finding::ok(format!(
                "net.core.netdev_max_backlog = {backlog}"
            )));
        }
    }
    let w = cfg.worker;
    c.push(Finding::ok(format!(
        "sanitiser worker: {} MiB address space, {} s CPU, {} open files, killed after {} s",
        w.address_space_mb, w.cpu_seconds, w.open_files, w.timeout_s
    )));
    if w.isolate_network {
        if rustix::process::geteuid().is_root() {
            c.push(Finding::ok(
                "sanitiser worker runs in an empty network namespace",
            ));
        } else {
            c.push(Finding::warn("isolate_network is on but sluis core is not root: the worker cannot leave the host's network namespace"));
        }
    }
    c
}
