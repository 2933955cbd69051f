//! The sanitiser's worker: one process per object, forked from a zygote, under resource
//! limits and in an empty network namespace, answering in frames on a pipe.
//!
//! * [`zygote`]: the zygote and its request channel (the pipeline's side and its own).
//! * [`body`]: what a worker does once forked: limits, then the sanitiser.
//! * [`frames`]: the worker's output and its bounded reader (a hostile-input parser).

pub mod body;
pub mod frames;
pub mod zygote;

use std::time::Instant;

pub use body::WorkerError;
pub use frames::{ReadFault, WorkerResult};
pub use zygote::{Zygote, ZygoteError};

/// The kernel buffer asked for the worker's output pipe: a 4.5 MB scan crosses it in a few
/// hand-overs instead of one per 64 KiB (each a pair of context switches).
const PIPE_BYTES: usize = 1 << 20;

/// Reads the worker's output from its pipe until it ends, polling with the deadline (the pipe
/// is non-blocking): no reader thread per worker, and a worker that neither writes nor ends is
/// still stopped on time.
pub fn read_output(
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
    frames::read_frames(&mut reader, max_data, hint, wait)
}
