//! The sanitiser's worker processes, forked from a zygote.
//!
//! Every verified object is sanitised in a process of its own, which ends with it: a worker
//! that a hostile scan has compromised never sees, or alters, the next scan. Those processes are
//! forked from a zygote, `sluis core-zygote`: one per pipeline, started once (exec'd with a
//! clean environment), which moves into an empty network namespace once and then only forks.
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
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};
use rustix::process::{Pid, Signal, kill_process};

use crate::core::{WorkerArgs, WorkerLimits};

/// How long the zygote may take to fork (it answers at once unless the host is out of
/// processes or memory).
const FORK_ANSWER: Duration = Duration::from_secs(10);

/// A pipeline's zygote: the process and the request channel (its standard input).
#[derive(Debug)]
pub(crate) struct Zygote {
    process: std::process::Child,
    channel: UnixDatagram,
}

/// A worker the zygote has started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Worker {
    pid: Pid,
}

impl Worker {
    /// Its process id.
    pub(crate) fn pid(self) -> u32 {
        self.pid.as_raw_nonzero().get().unsigned_abs()
    }
}

impl Zygote {
    /// Starts `sluis core-zygote` with the worker limits (and the limits file for reading hostile
    /// input), with a clean environment.
    pub(crate) fn spawn(
        limits_file: Option<&Path>,
        worker: &WorkerLimits,
    ) -> std::io::Result<Zygote> {
        let exe = std::env::current_exe()?;
        let (ours, theirs) = UnixDatagram::pair()?;
        let mut cmd = std::process::Command::new(exe);
        if let Some(l) = limits_file {
            cmd.arg("--limits").arg(l);
        }
        cmd.arg("core-zygote")
            .arg("--address-space-mb")
            .arg(worker.address_space_mb.to_string())
            .arg("--cpu-seconds")
            .arg(worker.cpu_seconds.to_string())
            .arg("--open-files")
            .arg(worker.open_files.to_string());
        if worker.isolate_network {
            cmd.arg("--isolate-network");
        }
        let process = cmd
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
    pub(crate) fn start(
        &mut self,
        object: &std::fs::File,
        output: OwnedFd,
    ) -> std::io::Result<Worker> {
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
    pub(crate) fn wait(&mut self, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
        match self.answer(deadline) {
            Ok((b'X', status)) => Ok(Some(ExitStatus::from_raw(status))),
            Ok(_) => Err(std::io::Error::other("the zygote answered out of turn")),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Kills a worker (it is the zygote's child: the zygote has not reaped it before it answers
    /// with its status, so the id still names it) and waits for its status.
    pub(crate) fn kill(&mut self, worker: Worker) -> std::io::Result<ExitStatus> {
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

/// `sluis core-zygote` (internal): serves fork requests on standard input until it closes.
pub(crate) fn serve(args: &WorkerArgs, limits: &sluis_scan::Limits) -> Result<(), crate::Failure> {
    // Ends with the pipeline thread that started it (and with it the core).
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    let network_isolated = args.isolate_network && crate::core::isolate_network();
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
            Err(e) => return Err(crate::Failure::env(anyhow::anyhow!("request channel: {e}"))),
        }
        let (Some(output), Some(object), None) = (fds.pop(), fds.pop(), fds.pop()) else {
            // Not a request the core sends: say so and wait for the next.
            reply(channel, b'E', rustix::io::Errno::INVAL.raw_os_error())?;
            continue;
        };
        match safe_fork::fork() {
            Ok(None) => {
                // The worker: the object replaces the request channel as standard input.
                let code = match worker(object, output, args, limits, network_isolated) {
                    Ok(()) => 0,
                    Err(crate::Failure::Refused { .. }) => 1,
                    Err(crate::Failure::Environment(e)) => {
                        eprintln!("sluis core-zygote: worker: {e:#}");
                        3
                    }
                    Err(e) => {
                        eprintln!("sluis core-zygote: worker: {e:?}");
                        4
                    }
                };
                std::process::exit(code);
            }
            Ok(Some(child)) => {
                drop((object, output));
                let pid = i32::try_from(child.pid()).unwrap_or(i32::MAX);
                reply(channel, b'P', pid)?;
                let status = child
                    .join()
                    .map_err(|e| crate::Failure::env(anyhow::anyhow!("waitpid: {e}")))?;
                reply(channel, b'X', status.into_raw())?;
            }
            Err(e) => reply(channel, b'E', e.raw_os_error().unwrap_or(0))?,
        }
    }
}

fn reply(channel: std::os::fd::BorrowedFd<'_>, kind: u8, value: i32) -> Result<(), crate::Failure> {
    let v = value.to_le_bytes();
    rustix::io::write(channel, &[kind, v[0], v[1], v[2], v[3]])
        .map(drop)
        .map_err(|e| crate::Failure::env(anyhow::anyhow!("request channel: {e}")))
}

/// The forked worker: standard input and output become the object and the pipe, then the
/// limits apply and the sanitiser runs.
fn worker(
    object: OwnedFd,
    output: OwnedFd,
    args: &WorkerArgs,
    limits: &sluis_scan::Limits,
    network_isolated: bool,
) -> Result<(), crate::Failure> {
    let env =
        |what: &str, e: rustix::io::Errno| crate::Failure::env(anyhow::anyhow!("{what}: {e}"));
    // Dies with the zygote.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| env("parent death signal", e))?;
    // The object replaces the request channel as standard input, so no worker holds the channel.
    rustix::stdio::dup2_stdin(&object).map_err(|e| env("standard input", e))?;
    rustix::stdio::dup2_stdout(&output).map_err(|e| env("standard output", e))?;
    drop(output);
    crate::core::sanitise_worker(object.into(), args, limits, network_isolated)
}
