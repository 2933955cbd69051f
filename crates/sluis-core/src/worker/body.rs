//! The body of a forked worker: resource limits, then the sanitiser from standard input to
//! standard output in frames.

use std::io::Write as _;

use sluis_scan::{Limits, StreamError, sanitise_stream};

use super::frames::{FRAME_DATA, Frames, WorkerResult};
use crate::config::WorkerLimits;

/// Why a worker failed (a refusal is not a failure: it is a result).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// A resource limit could not be set.
    #[error("setrlimit {what}: {source}")]
    Limit {
        /// Which.
        what: &'static str,
        /// The error.
        source: rustix::io::Errno,
    },
    /// The process could not be set up (standard input and output, the death signal).
    #[error("{what}: {source}")]
    Setup {
        /// What.
        what: &'static str,
        /// The error.
        source: rustix::io::Errno,
    },
    /// The object could not be read.
    #[error("reading the object: {0}")]
    Read(std::io::Error),
    /// The output could not be written.
    #[error("writing canonical DICOS: {0}")]
    Write(String),
}

impl WorkerError {
    /// The worker's exit status for it, as every `sluis` command exits: 3 for the environment
    /// (limits, reading), 4 for an internal fault (writing its own output).
    pub fn exit_code(&self) -> i32 {
        match self {
            WorkerError::Limit { .. } | WorkerError::Setup { .. } | WorkerError::Read(_) => 3,
            WorkerError::Write(_) => 4,
        }
    }
}

/// The exit status of a worker that refused its object (the refusal is in its result frame).
pub const EXIT_REFUSED: i32 = 1;

/// The limits apply, then `input`, the object (a regular file; also the worker's standard
/// input), is sanitised to standard output in frames. Returns whether it was refused.
pub fn sanitise(
    input: std::fs::File,
    worker: &WorkerLimits,
    limits: &Limits,
    network_isolated: bool,
) -> Result<bool, WorkerError> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let set = |what: &'static str, r: Resource, v: u64| {
        setrlimit(
            r,
            Rlimit {
                current: Some(v),
                maximum: Some(v),
            },
        )
        .map_err(|source| WorkerError::Limit { what, source })
    };
    set(
        "address space",
        Resource::As,
        worker.address_space_mb.saturating_mul(1 << 20),
    )?;
    set("CPU", Resource::Cpu, worker.cpu_seconds)?;
    set("open files", Resource::Nofile, worker.open_files)?;
    // It writes no file; were it made to, none could be larger than the parent accepts.
    set("file size", Resource::Fsize, limits.max_file_bytes)?;

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
        Err(StreamError::Read(e)) => return Err(WorkerError::Read(e)),
        Err(e) => return Err(WorkerError::Write(e.to_string())),
    };
    let refused = matches!(result, WorkerResult::Refused { .. });
    let json = serde_json::to_vec(&result).map_err(|e| WorkerError::Write(e.to_string()))?;
    w.flush().map_err(|e| WorkerError::Write(e.to_string()))?;
    let mut out = w
        .into_inner()
        .map_err(|e| WorkerError::Write(format!("standard output: {e}")))?;
    out.result(&json)
        .map_err(|e| WorkerError::Write(e.to_string()))?;
    Ok(refused)
}

/// Moves this (single-threaded) process into a new, empty network namespace.
#[allow(deprecated)] // `unshare` is deprecated for multi-threaded callers; the zygote has one thread.
pub fn isolate_network() -> bool {
    rustix::thread::unshare(rustix::thread::UnshareFlags::NEWNET).is_ok()
}
