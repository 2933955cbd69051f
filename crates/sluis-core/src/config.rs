//! The core's sections of its configuration file: `[link]`, `[receiver]`, `[core]` and
//! `[worker]`. The file itself (with the optional `[workstation]` the binary serves from the
//! same process) is the binary's; it composes these.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluis_link::ReceiverLimits;

/// What the core needs of its configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the link arrives.
    pub link: LinkSection,
    /// The receiver's bounds.
    pub receiver: ReceiverLimits,
    /// The vault, the work area, the pipelines.
    pub core: CoreSection,
    /// The sanitiser worker's limits.
    pub worker: WorkerLimits,
}

/// `[link]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSection {
    /// The address the link arrives on.
    pub listen: SocketAddr,
    /// The edge's public key.
    pub edge_key: PathBuf,
    /// The socket's receive buffer, bytes.
    #[serde(default = "default_rcvbuf")]
    pub receive_buffer: usize,
}

fn default_rcvbuf() -> usize {
    64 << 20
}

/// `[core]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreSection {
    /// The vault (made with `sluis vault init`).
    pub vault: PathBuf,
    /// Working directory: reassembly, ledger, events.
    pub work: PathBuf,
    /// Where objects are reassembled and wait for the vault (default: `<work>/link`). A tmpfs
    /// keeps them off the vault's disk; what a reboot takes is reported lost by id (the ledger
    /// keeps them pending until the vault has them) and can be replayed from the edge's spool.
    pub reassembly: Option<PathBuf>,
    /// Serve Prometheus metrics here.
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

impl CoreSection {
    /// Where objects are reassembled.
    pub fn reassembly(&self) -> PathBuf {
        self.reassembly
            .clone()
            .unwrap_or_else(|| self.work.join("link"))
    }

    /// The event stream.
    pub fn events(&self) -> PathBuf {
        self.work.join("events.jsonl")
    }

    /// The ledger of what the link delivered and lost.
    pub fn ledger(&self) -> PathBuf {
        self.work.join("ledger.json")
    }
}

/// Limits of the sanitiser's worker process.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerLimits {
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

impl Config {
    /// Resolves the relative paths against `base` (the file's directory).
    pub fn resolve(&mut self, base: &Path) {
        let at = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        self.link.edge_key = at(&self.link.edge_key);
        self.core.vault = at(&self.core.vault);
        self.core.work = at(&self.core.work);
        self.core.reassembly = self.core.reassembly.as_deref().map(at);
    }
}
