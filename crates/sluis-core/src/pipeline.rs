//! A pipeline: one verified object at a time through a worker process, the second sanitiser
//! pass, the vault and the event stream. The core runs several at once; each has its own
//! zygote.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use sluis_audit::Outcome;
use sluis_link::Event;
use sluis_scan::{Limits, Location, Refusal, Rule, sanitise};
use sluis_vault::Vault;

use crate::config::WorkerLimits;
use crate::events::{CoreEvent, EventLog, Source};
use crate::worker::zygote::ZygoteCommand;
use crate::worker::{self, ReadFault, WorkerResult, Zygote};

/// The pipelines' counters.
#[derive(Debug, Clone, Default)]
pub struct PipelineMetrics {
    stored: Counter,
    duplicates: Counter,
    quarantined: Counter,
    worker_failures: Counter,
    vault_errors: Counter,
}

impl PipelineMetrics {
    /// Registers them under `sluis_core_`.
    pub fn register(&self, registry: &mut Registry) {
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

/// One verified object waiting for a pipeline.
#[derive(Debug)]
pub struct Job {
    /// The edge's id.
    pub id: u64,
    /// Its file in the reassembly area (`ready/`).
    pub path: PathBuf,
    /// Where the edge says it came from.
    pub source: Source,
    /// When it was queued.
    pub queued: Instant,
}

/// What every pipeline shares.
pub struct Pipeline {
    pub(crate) vault: Arc<Vault>,
    pub(crate) limits: Limits,
    pub(crate) zygote: ZygoteCommand,
    pub(crate) worker: WorkerLimits,
    pub(crate) events: EventLog,
    pub(crate) metrics: PipelineMetrics,
    /// Tells the receiver an object is safe in the vault (it leaves the ledger's pending set).
    pub(crate) confirm: Mutex<mpsc::Sender<u64>>,
    /// Where stored objects' files go (kept for reuse).
    pub(crate) spares: Arc<sluis_link::net::Spares>,
}

impl Pipeline {
    fn audit_link(&self, id: Option<u64>, outcome: Outcome, detail: &str) {
        let actor = self.vault.system_actor();
        if let Err(e) = self.vault.log_link(id, outcome, detail, &actor) {
            tracing::error!(error = %e, "audit record of a link event");
        }
    }

    /// What the receiver said, other than a delivery: a log record (where it is one), an
    /// event, and a line for the operator.
    pub fn link_event(&self, ev: Event<PathBuf>) {
        match ev {
            Event::Delivered(o) => {
                let job = Job {
                    id: o.id(),
                    path: o.location().clone(),
                    source: Source::from_meta(o.meta()),
                    queued: Instant::now(),
                };
                self.object(&mut None, job);
            }
            Event::Lost(l) => {
                let detail = format!("object {} lost: {}", l.id, l.reason);
                self.audit_link(Some(l.id), Outcome::Failure, &detail);
                eprintln!(
                    "sluis core: LOST object {} ({}); replay it with `sluis edge replay --from {} --to {}`",
                    l.id, l.reason, l.id, l.id
                );
                self.events.emit(CoreEvent::Lost {
                    edge_id: l.id,
                    length: l.length,
                    reason: l.reason,
                });
            }
            Event::Rejected { id, reason } => {
                self.audit_link(
                    Some(id),
                    Outcome::Denied,
                    &format!("object {id} rejected: {reason}"),
                );
                eprintln!("sluis core: REJECTED object {id}: {reason}");
                self.events.emit(CoreEvent::Rejected {
                    edge_id: id,
                    code: reason.code().into(),
                    reason: reason.to_string(),
                });
            }
            Event::Aborted { id, reason } => {
                self.events.emit(CoreEvent::Aborted {
                    edge_id: id,
                    reason,
                });
            }
            Event::HeartbeatMissed { silent_for } => {
                let detail = format!(
                    "no heartbeat from the edge for {} ms: link cut or edge down",
                    silent_for.as_millis()
                );
                self.audit_link(None, Outcome::Failure, &detail);
                self.events.emit(CoreEvent::HeartbeatMissed {
                    silent_ms: u64::try_from(silent_for.as_millis()).unwrap_or(u64::MAX),
                });
                eprintln!("sluis core: ALERT {detail}");
            }
            Event::HeartbeatResumed => {
                self.audit_link(None, Outcome::Success, "heartbeats from the edge resumed");
                self.events.emit(CoreEvent::HeartbeatResumed);
            }
            Event::EdgeRestarted { previous, epoch } => {
                let detail = if previous == 0 {
                    format!("first edge run heard: epoch {epoch}")
                } else {
                    format!("edge restarted: epoch {previous} -> {epoch}")
                };
                self.audit_link(None, Outcome::Success, &detail);
                self.events
                    .emit(CoreEvent::EdgeRestarted { previous, epoch });
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
                self.events.emit(CoreEvent::Replayed {
                    count,
                    epoch,
                    current,
                });
                eprintln!("sluis core: ALERT {detail}");
            }
            Event::StorageFailed { id, error } => {
                self.audit_link(
                    Some(id),
                    Outcome::Failure,
                    &format!("object {id} could not be kept: {error}"),
                );
                self.events.emit(CoreEvent::StorageFailed {
                    edge_id: id,
                    kind: error.kind().to_string(),
                    error: error.to_string(),
                });
            }
        }
    }

    /// One verified object: worker, vault, event. The file is removed only once the vault has
    /// it; an object the vault could not take stays for the next run.
    pub fn object(&self, zygote: &mut Option<Zygote>, job: Job) {
        let started = Instant::now();
        let Job {
            id,
            path,
            source,
            queued,
        } = job;
        let result = self.run_worker(zygote, &path);
        let worker_ms = millis(started.elapsed());
        let actor = self.vault.system_actor();
        let refused =
            |source: Source, refusal: &Refusal| self.quarantine(id, &path, source, refusal);
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
                            Some(CoreEvent::Stored {
                                edge_id: id,
                                scan: stored.id,
                                log_index: stored.log_index,
                                duplicate: stored.duplicate,
                                dropped,
                                network_isolated,
                                worker_pid,
                                source,
                                ms: millis(started.elapsed()),
                                worker_ms,
                                queued_ms: millis(started.duration_since(queued)),
                            })
                        }
                        Err(e) => {
                            self.metrics.vault_errors.inc();
                            tracing::error!(id, error = %e, "vault store failed; object kept for the next run");
                            return;
                        }
                    },
                    Err(e) => refused(
                        source,
                        &Refusal {
                            rule: Rule::WorkerCrashed,
                            location: Location::default(),
                            detail: format!("the worker's output did not pass the sanitiser: {e}"),
                            fault: sluis_scan::Fault::Internal,
                        },
                    ),
                }
            }
            Ok((WorkerResult::Refused { refusal }, _, _)) => refused(source, &refusal),
            Err(refusal) => {
                self.metrics.worker_failures.inc();
                refused(source, &refusal)
            }
        };
        let Some(event) = outcome else {
            return;
        };
        self.events.emit(event);
        let _ = self
            .confirm
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(id);
        self.spares.retire(&path);
    }

    fn quarantine(
        &self,
        id: u64,
        path: &Path,
        source: Source,
        refusal: &Refusal,
    ) -> Option<CoreEvent> {
        let input = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "reading a refused object");
                return None;
            }
        };
        let actor = self.vault.system_actor();
        match self
            .vault
            .quarantine(&input, &source.describe(id), refusal, &actor)
        {
            Ok(stored) => {
                self.metrics.quarantined.inc();
                Some(CoreEvent::Quarantined {
                    edge_id: id,
                    quarantine: stored.id,
                    log_index: stored.log_index,
                    rule: refusal.rule.name().into(),
                    reason: refusal.to_string(),
                    source,
                })
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
            None => Zygote::spawn((self.zygote)()).map_err(|e| {
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
        let read = worker::read_output(&pipe, self.limits.max_file_bytes, hint, deadline);
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

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Lowers the calling thread's scheduling priority (nice 10; Linux applies it to the thread,
/// and processes it starts inherit it). Lowering needs no privilege; failing leaves it as is.
pub(crate) fn lower_priority() {
    if let Err(e) = rustix::process::setpriority_process(None, PIPELINE_NICE) {
        tracing::warn!(error = %e, "could not lower the pipeline's priority");
    }
}

/// The niceness of pipeline threads and sanitiser workers.
const PIPELINE_NICE: i32 = 10;
