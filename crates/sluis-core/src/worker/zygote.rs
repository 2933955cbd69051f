//! The sanitiser's worker processes, forked from a zygote.
//!
//! Every verified object is sanitised in a process of its own, which ends with it: a worker
//! that a hostile scan has compromised never sees, or alters, the next scan. Those processes are
//! forked from a zygote (the binary's `sluis core-zygote`, whose command line the caller
//! prepares): one per pipeline, started once (exec'd with a clean environment), which moves into an empty network namespace once and then only forks.
//!
//! ```text
//!  pipeline thread                      zygote (single-threaded)          worker (per object)
//!  open object, make a pipe
//!  "S" + SCM_RIGHTS[object, pipe] ───>  fork ──────────────────────────>  stdin = object,
//!                          <─── "P" pid                                   stdout = pipe; rlimits;
//!  read frames from the pipe  <────────────────────────────────────────── sanitise, frames, exit
//!                          <─── "X" wait status  (waitpid)
//! ```
//!
//! Why a zygote: exec'ing the 110 MB binary for every object cost about 2 ms and 450 page faults
//! (loader, relocations, fault-around of the text) plus 0.6 ms for a new network namespace; a
//! fork of the small, idle zygote costs a fraction of that. What it gives up: every worker has
//! the zygote's address-space layout (ASLR is drawn at exec), so a leak from one worker tells
//! the layout of the next. The zygote never reads an object; it holds no key, no vault and no
//! socket but its request channel, which no worker inherits (it is standard input, replaced by
//! the object before the worker's code runs).
//!
//! Each zygote serves one request at a time (one per pipeline), so it needs no threads, which
//! `fork` requires (`safe_fork` checks it).

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::ExitStatusExt as _;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};
use rustix::process::{Pid, Signal, kill_process};

use super::body::{self, EXIT_REFUSED, WorkerError};
use crate::config::WorkerLimits;

/// Makes the command that starts a worker zygote (see this module); called once per
/// pipeline, and again after a zygote failed.
pub type ZygoteCommand = std::sync::Arc<dyn Fn() -> std::process::Command + Send + Sync>;

/// How long the zygote may take to fork (it answers at once unless the host is out of
/// processes or memory).
const FORK_ANSWER: Duration = Duration::from_secs(10);

/// A pipeline's zygote: the process and the request channel (its standard input).
#[derive(Debug)]
pub struct Zygote {
    process: std::process::Child,
    channel: UnixDatagram,
}

/// A worker the zygote has started.
#[derive(Debug, Clone, Copy)]
pub struct Worker {
    pid: Pid,
}

impl Worker {
    /// Its process id.
    pub fn pid(self) -> u32 {
        self.pid.as_raw_nonzero().get().unsigned_abs()
    }
}

impl Zygote {
    /// Starts a zygote: `command` is the program and arguments that run [`serve`] (the
    /// binary's hidden subcommand with the worker's limits); it is started with a clean
    /// environment, the request channel as its standard input, and no standard output.
    pub fn spawn(mut command: std::process::Command) -> std::io::Result<Zygote> {
        let (ours, theirs) = UnixDatagram::pair()?;
        let process = command
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .env_clear()
            .spawn()?;
        Ok(Zygote {
            process,
            channel: ours,
        })
    }

    /// Forks a worker that reads `object` and writes its frames to `output`.
    pub fn start(&mut self, object: &std::fs::File, output: OwnedFd) -> std::io::Result<Worker> {
        let fds = [object.as_fd(), output.as_fd()];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(std::io::Error::other("no room for the descriptors"));
        }
        sendmsg(
            &self.channel,
            &[IoSlice::new(b"S")],
            &mut control,
            SendFlags::empty(),
        )?;
        // The zygote holds its own copies now; the pipe ends when the worker's copy closes.
        drop(output);
        let (kind, value) = self.answer(Instant::now() + FORK_ANSWER)?;
        match kind {
            b'P' => Pid::from_raw(value)
                .map(|pid| Worker { pid })
                .ok_or_else(|| std::io::Error::other("the zygote named no process")),
            b'E' => Err(std::io::Error::from_raw_os_error(value)),
            _ => Err(std::io::Error::other("the zygote answered out of turn")),
        }
    }

    /// The worker's wait status, once it has ended; `None` when the deadline passes first.
    pub fn wait(&mut self, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
        match self.answer(deadline) {
            Ok((b'X', status)) => Ok(Some(ExitStatus::from_raw(status))),
            Ok(_) => Err(std::io::Error::other("the zygote answered out of turn")),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Kills a worker (it is the zygote's child: the zygote has not reaped it before it answers
    /// with its status, so the id still names it) and waits for its status.
    pub fn kill(&mut self, worker: Worker) -> std::io::Result<ExitStatus> {
        let _ = kill_process(worker.pid, Signal::KILL);
        match self.answer(Instant::now() + FORK_ANSWER)? {
            (b'X', status) => Ok(ExitStatus::from_raw(status)),
            _ => Err(std::io::Error::other("the zygote answered out of turn")),
        }
    }

    /// One answer: a kind byte and an i32, little-endian.
    fn answer(&mut self, deadline: Instant) -> std::io::Result<(u8, i32)> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.channel.set_read_timeout(Some(left))?;
        let mut buf = [0u8; 5];
        let n = match self.channel.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock) => {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            Err(e) => return Err(e),
        };
        match buf.get(..n) {
            Some(&[kind, a, b, c, d]) => Ok((kind, i32::from_le_bytes([a, b, c, d]))),
            _ => Err(std::io::Error::other("the zygote has ended")),
        }
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Why a zygote stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZygoteError {
    /// The request channel failed.
    #[error("request channel: {0}")]
    Channel(rustix::io::Errno),
    /// A worker could not be waited for.
    #[error("waitpid: {0}")]
    Wait(std::io::Error),
}

/// The zygote (the binary's `sluis core-zygote`): serves fork requests on standard input until
/// it closes. Each worker sanitises one object under `worker`'s limits and exits: 0 sanitised,
/// [`EXIT_REFUSED`] refused, otherwise [`WorkerError::exit_code`].
pub fn serve(worker: &WorkerLimits, limits: &sluis_scan::Limits) -> Result<(), ZygoteError> {
    // Ends with the pipeline thread that started it (and with it the core).
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    let network_isolated = worker.isolate_network && body::isolate_network();
    // The channel is standard input itself, so that the worker's standard input replaces it.
    let stdin = std::io::stdin();
    let channel = stdin.as_fd();
    loop {
        let mut byte = [0u8; 1];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = recvmsg(
            channel,
            &mut [IoSliceMut::new(&mut byte)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        );
        let mut fds: Vec<OwnedFd> = Vec::new();
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(it) = m {
                fds.extend(it);
            }
        }
        match got {
            Ok(r) if r.bytes == 0 => return Ok(()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(ZygoteError::Channel(e)),
        }
        let (Some(output), Some(object), None) = (fds.pop(), fds.pop(), fds.pop()) else {
            // Not a request the core sends: say so and wait for the next.
            reply(channel, b'E', rustix::io::Errno::INVAL.raw_os_error())?;
            continue;
        };
        match safe_fork::fork() {
            Ok(None) => {
                // The worker: the object replaces the request channel as standard input.
                let code = match run_worker(object, output, worker, limits, network_isolated) {
                    Ok(false) => 0,
                    Ok(true) => EXIT_REFUSED,
                    Err(e) => {
                        eprintln!("sluis core-zygote: worker: {e}");
                        e.exit_code()
                    }
                };
                std::process::exit(code);
            }
            Ok(Some(child)) => {
                drop((object, output));
                let pid = i32::try_from(child.pid()).unwrap_or(i32::MAX);
                reply(channel, b'P', pid)?;
                let status = child.join().map_err(ZygoteError::Wait)?;
                reply(channel, b'X', status.into_raw())?;
            }
            Err(e) => reply(channel, b'E', e.raw_os_error().unwrap_or(0))?,
        }
    }
}

fn reply(channel: std::os::fd::BorrowedFd<'_>, kind: u8, value: i32) -> Result<(), ZygoteError> {
    let v = value.to_le_bytes();
    rustix::io::write(channel, &[kind, v[0], v[1], v[2], v[3]])
        .map(drop)
        .map_err(ZygoteError::Channel)
}

/// The forked worker: standard input and output become the object and the pipe, then the
/// limits apply and the sanitiser runs. Returns whether it refused the object.
fn run_worker(
    object: OwnedFd,
    output: OwnedFd,
    worker: &WorkerLimits,
    limits: &sluis_scan::Limits,
    network_isolated: bool,
) -> Result<bool, WorkerError> {
    let setup = |what: &'static str| move |source| WorkerError::Setup { what, source };
    // Dies with the zygote.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(setup("parent death signal"))?;
    // The object replaces the request channel as standard input, so no worker holds the channel.
    rustix::stdio::dup2_stdin(&object).map_err(setup("standard input"))?;
    rustix::stdio::dup2_stdout(&output).map_err(setup("standard output"))?;
    drop(output);
    body::sanitise(object.into(), worker, limits, network_isolated)
}
