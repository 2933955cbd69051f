//! Benchmark programs: sluis and its peer on the same input, in the same run.
//!
//! `sluis-bench sanitize` times `sluis scan sanitize` against dcmtk's `dcmconv` (parse and
//! rewrite) on uncompressed synthetic 40 ft dual-energy scans, and against `dcmdjpeg` on the
//! same scans compressed with JPEG lossless, at 1x, 4x and 16x the pixel count of a 5 mm scan.
//! Each tool runs as a process, as a user runs it, with a fresh output file on tmpfs so that
//! neither pays for the disk; runs alternate between the tools; the median is reported, with the
//! child's peak resident memory. It then times the library alone (sanitise and encode in memory)
//! per pixel, to show how cost grows with size.

mod audit;
mod gate;
mod intake;
mod link;
mod vault;
mod watch;
mod workstation;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sluis_scan::{DicosObject, Limits, sanitise, to_dicos_vec};
use sluis_synth::{Kind, Spec, generate};

#[derive(Parser)]
#[command(about = "sluis benchmarks: ours and the peer's, same input, same run")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// `sluis scan sanitize` against dcmconv and dcmdjpeg.
    Sanitize {
        /// Repetitions per file and tool (the median is reported).
        #[arg(long, default_value_t = 7)]
        reps: usize,
        /// Only the 1x and 4x scales, fewer repetitions (for CI smoke runs).
        #[arg(long)]
        quick: bool,
        /// The sluis binary to time (default: next to this one).
        #[arg(long)]
        sluis: Option<PathBuf>,
    },
    /// Durable appends per second and time to durable, against one fdatasync per record;
    /// full log verification speed at 10^4, 10^5 and 10^6 entries.
    Audit {
        /// Shorter runs, small sizes only (for CI smoke runs).
        #[arg(long)]
        quick: bool,
        /// Where to put the logs (default: a new directory under the current one; use a real
        /// disk, not tmpfs, or fsync costs nothing).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Vault store throughput against cp + sha256sum + sync of the same files.
    Vault {
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// One small scale only (for CI smoke runs).
        #[arg(long)]
        quick: bool,
        /// Where to work (default: a new directory under the current one, on disk).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Goodput of the one-way link over loopback (sender and receiver as separate processes),
    /// at several object sizes, at 1 % loss and with jumbo frames; CPU seconds per GB each side.
    Link {
        /// 64 MiB per run, one object size (for CI smoke runs).
        #[arg(long)]
        quick: bool,
        /// GiB sent per run.
        #[arg(long, default_value_t = 2.0)]
        gib: f64,
        /// Where to work (default: a new directory under the current one, on disk).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Scans per second end to end (storescu -> edge -> link -> core -> vault) against
    /// Orthanc's C-STORE ingest of the same files, one association each.
    Intake {
        /// Number of scans.
        #[arg(long, default_value_t = 200)]
        count: u32,
        /// 10 scans, no Orthanc if it is not installed (for CI smoke runs).
        #[arg(long)]
        quick: bool,
        /// Where to work (default: a new directory under the current one, on disk).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The sluis binary (default: next to this one).
        #[arg(long)]
        sluis: Option<PathBuf>,
        /// Also run with the edge's spool on this directory (another filesystem: the edge
        /// host's own disk, as in production, where edge and core do not share a disk).
        #[arg(long)]
        edge_disk: Option<PathBuf>,
        /// The link's line rate the edge paces to, Mbit/s: a 10 Gbit/s diode. (At 2000 the
        /// link alone caps 4.5 MB scans near 52/s: 4.5 MB with 3 % repair is 38 Mbit.)
        #[arg(long, default_value_t = 10_000)]
        link_mbit: u64,
    },
    /// The enclave watch against argus and tshark on generated captures (packets and bits per
    /// CPU second, peak memory), then detection quality on a labelled day.
    Watch {
        /// Capture sizes in GB.
        #[arg(long, value_delimiter = ',', default_value = "0.1,1,4")]
        sizes: Vec<f64>,
        /// One 50 MB capture and a 6-hour labelled run (for CI smoke runs).
        #[arg(long)]
        quick: bool,
        /// Where to work (default: a new directory under the current one, on disk).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The sluis binary (default: next to this one).
        #[arg(long)]
        sluis: Option<PathBuf>,
    },
    /// Opening a 40 ft scan in the workstation (API and Chromium) against Orthanc's REST
    /// rendering of the same file.
    Workstation {
        /// Requests per measurement (the median is reported).
        #[arg(long, default_value_t = 9)]
        reps: usize,
        /// Where to work (default: a new directory under the current one, on disk).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The sluis binary (default: next to this one).
        #[arg(long)]
        sluis: Option<PathBuf>,
    },
    /// The depot taking in a bundle from a medium (survey, copy, SHA-256, fsync) against
    /// `sha256sum` of the target and `cp -r` + `sync` + `sha256sum`, 64 MiB to 2 GiB.
    Gate {
        /// Repetitions per size and tool (the median is reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// One 64 MiB target, one run (for CI smoke runs).
        #[arg(long)]
        quick: bool,
        /// Where to work (default: a new directory under the current one, on disk).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Internal: the depot's copy-in of `gate`, as its own process.
    #[command(hide = true)]
    GateCopy { medium: PathBuf, dest: PathBuf },
    /// Internal: the receiving side of `link`.

    #[command(hide = true)]
    LinkRecv {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        objects: u64,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
    },
    /// Internal: the sending side of `link`.
    #[command(hide = true)]
    LinkSend {
        #[arg(long)]
        to: std::net::SocketAddr,
        #[arg(long)]
        objects: u64,
        #[arg(long, default_value_t = 1500)]
        mtu: u16,
        #[arg(long, default_value_t = 3.0)]
        repair_percent: f32,
        #[arg(long, default_value_t = 0)]
        rate_mbit: u64,
        files: Vec<PathBuf>,
    },
    /// Internal: run a command and print its wall time and peak RSS.
    #[command(hide = true)]
    Measure {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        argv: Vec<String>,
    },
}

/// Runs `argv` as the only child of this process and prints its wall seconds, CPU seconds
/// (user and system) and peak RSS in bytes.
fn measure_child(argv: &[String]) -> Result<()> {
    let (cmd, args) = argv.split_first().context("nothing to run")?;
    let start = Instant::now();
    // The child's own output is not the measurement: it goes nowhere.
    let status = Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {cmd}"))?;
    let secs = start.elapsed().as_secs_f64();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    let cpu = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    // ru_maxrss is in kilobytes on Linux.
    println!(
        "{secs} {} {} {}",
        cpu(usage.user_time()) + cpu(usage.system_time()),
        usage.max_rss() * 1024,
        status.code().unwrap_or(-1)
    );
    Ok(())
}

/// One run's wall seconds, CPU seconds and peak RSS.
#[derive(Clone, Copy)]
struct Run {
    wall: f64,
    cpu: f64,
    rss: u64,
}

/// One timed run of a tool, through `sluis-bench measure` so that the figures are the tool's.
fn run_measured(argv: &[String]) -> Result<Run> {
    let me = std::env::current_exe()?;
    let out = Command::new(me)
        .arg("measure")
        .arg("--")
        .args(argv)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.as_slice() {
        [wall, cpu, rss, "0"] => Ok(Run {
            wall: wall.parse()?,
            cpu: cpu.parse()?,
            rss: rss.parse()?,
        }),
        _ => bail!(
            "{argv:?} failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Input {
    scale: u32,
    path: PathBuf,
    jpeg: PathBuf,
    bytes: u64,
    pixels: u64,
}

fn make_inputs(dir: &Path, scales: &[u32]) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for &scale in scales {
        let files = match scale {
            1 => 4,
            4 => 2,
            _ => 1,
        };
        for i in 0..files {
            let pixel_mm = 5.0 / f64::from(scale).sqrt();
            let mut scan = generate(&Spec {
                kind: Kind::Container40,
                seed: 2026,
                index: i,
                pixel_mm,
            })
            .scan;
            scan.reports.clear();
            let pixels = scan.image.frame_len() as u64 * scan.image.channels.len() as u64;
            let bytes = to_dicos_vec(&DicosObject::Image(Box::new(scan)))?;
            let path = dir.join(format!("40ft-{scale}x-{i}.dcs"));
            std::fs::write(&path, &bytes)?;
            let jpeg = dir.join(format!("40ft-{scale}x-{i}-jpegls.dcm"));
            let st = Command::new("dcmcjpeg")
                .arg("+e1")
                .arg(&path)
                .arg(&jpeg)
                .status()
                .context("dcmcjpeg (Debian package dcmtk)")?;
            if !st.success() {
                bail!("dcmcjpeg failed on {}", path.display());
            }
            inputs.push(Input {
                scale,
                path,
                jpeg,
                bytes: bytes.len() as u64,
                pixels,
            });
        }
    }
    Ok(inputs)
}

struct Row {
    label: String,
    mb: f64,
    ours: Run,
    peer: Run,
    peer_name: &'static str,
}

/// Runs both tools `reps` times, alternating; returns each tool's median wall and CPU time and
/// its largest peak RSS.
fn time_pair(
    input: &Path,
    out_dir: &Path,
    sluis: &Path,
    peer: &'static str,
    reps: usize,
) -> Result<(Run, Run)> {
    let out_ours = out_dir.join("ours.dcm");
    let out_peer = out_dir.join("peer.dcm");
    let argv = [
        vec![
            sluis.display().to_string(),
            "scan".into(),
            "sanitize".into(),
            input.display().to_string(),
            out_ours.display().to_string(),
        ],
        vec![
            peer.to_string(),
            input.display().to_string(),
            out_peer.display().to_string(),
        ],
    ];
    let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for rep in 0..reps {
        for which in if rep % 2 == 0 { [0, 1] } else { [1, 0] } {
            let _ = std::fs::remove_file(&out_ours);
            let _ = std::fs::remove_file(&out_peer);
            runs[which].push(run_measured(&argv[which])?);
        }
    }
    let _ = std::fs::remove_file(&out_ours);
    let _ = std::fs::remove_file(&out_peer);
    let summary = |r: &Vec<Run>| Run {
        wall: median(r.iter().map(|x| x.wall).collect()),
        cpu: median(r.iter().map(|x| x.cpu).collect()),
        rss: r.iter().map(|x| x.rss).max().unwrap_or(0),
    };
    Ok((summary(&runs[0]), summary(&runs[1])))
}

fn sanitize_bench(reps: usize, quick: bool, sluis: Option<PathBuf>) -> Result<()> {
    let sluis = match sluis {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("sluis"),
    };
    if !sluis.exists() {
        bail!(
            "{} not found: build it first (cargo build --release)",
            sluis.display()
        );
    }
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("sluis-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let scales: &[u32] = if quick { &[1, 4] } else { &[1, 4, 16] };
    let reps = if quick { reps.min(3) } else { reps };
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    println!(
        "inputs in {} (tmpfs when available); {reps} runs per tool and file, median\n",
        dir.display()
    );
    let inputs = make_inputs(&dir, scales)?;
    let mut rows = Vec::new();
    for input in &inputs {
        let (ours, peer) = time_pair(&input.path, &dir, &sluis, "dcmconv", reps)?;
        rows.push(Row {
            label: format!("{}x uncompressed", input.scale),
            mb: input.bytes as f64 / 1e6,
            ours,
            peer,
            peer_name: "dcmconv",
        });
        let jpeg_bytes = std::fs::metadata(&input.jpeg)?.len();
        let (ours, peer) = time_pair(&input.jpeg, &dir, &sluis, "dcmdjpeg", reps)?;
        rows.push(Row {
            label: format!("{}x JPEG lossless", input.scale),
            mb: jpeg_bytes as f64 / 1e6,
            ours,
            peer,
            peer_name: "dcmdjpeg",
        });
    }
    println!(
        "| input | file MB | sluis s | sluis CPU s | sluis MB/s | peer | peer s | peer CPU s | peer MB/s | speed-up | sluis peak RSS / file | peer peak RSS / file |"
    );
    println!("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let (o, p, mb) = (r.ours, r.peer, r.mb);
        println!(
            "| {} | {mb:.1} | {:.3} | {:.3} | {:.0} | {} | {:.3} | {:.3} | {:.0} | {:.2}x | {:.2} | {:.2} |",
            r.label,
            o.wall,
            o.cpu,
            mb / o.wall,
            r.peer_name,
            p.wall,
            p.cpu,
            mb / p.wall,
            p.wall / o.wall,
            o.rss as f64 / (mb * 1e6),
            p.rss as f64 / (mb * 1e6)
        );
    }
    println!("\nLibrary only (sanitise + encode in memory), cost per pixel:");
    println!("| scale | pixels (all channels) | ms | ns/pixel |");
    println!("|---|---:|---:|---:|");
    for scale in scales {
        let Some(input) = inputs.iter().find(|i| i.scale == *scale) else {
            continue;
        };
        let bytes = std::fs::read(&input.path)?;
        let mut times = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let s = sanitise(&bytes, &Limits::default()).map_err(|r| anyhow::anyhow!("{r}"))?;
            let out = s.scan.to_dicos_vec()?;
            std::hint::black_box(out);
            times.push(t.elapsed().as_secs_f64());
        }
        let t = median(times);
        println!(
            "| {scale}x | {} | {:.1} | {:.2} |",
            input.pixels,
            t * 1e3,
            t * 1e9 / input.pixels as f64
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Runs `f` in `dir`, or in a new directory under the current one that is removed afterwards.
fn with_dir(dir: Option<PathBuf>, f: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    println!(
        "{}; {}",
        cpu_model(),
        filesystem_of(dir.as_deref().unwrap_or(Path::new(".")))
    );
    match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            f(&d)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix(".sluis-bench-")
                .tempdir_in(".")?;
            f(t.path())
        }
    }
}

/// The filesystem type and device a path is on, from /proc/self/mounts.
fn filesystem_of(path: &Path) -> String {
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let best = mounts
        .lines()
        .filter_map(|l| {
            let mut p = l.split(' ');
            let (dev, at, fs) = (p.next()?, p.next()?, p.next()?);
            full.starts_with(at)
                .then(|| (at.len(), format!("{fs} on {dev} at {at}")))
        })
        .max_by_key(|(n, _)| *n);
    best.map(|(_, s)| s)
        .unwrap_or_else(|| "unknown filesystem".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Sanitize { reps, quick, sluis } => sanitize_bench(reps, quick, sluis),
        Cmd::Measure { argv } => measure_child(&argv),
        Cmd::GateCopy { medium, dest } => gate::copy(&medium, &dest),
        Cmd::Gate { reps, quick, dir } => with_dir(dir, |d| {
            if quick {
                gate::run(d, 1, &[64])
            } else {
                gate::run(d, reps, &[64, 256, 1024, 2048])
            }
        }),
        Cmd::Audit { quick, dir } => with_dir(dir, |d| audit::run(d, quick)),
        Cmd::Vault { reps, quick, dir } => with_dir(dir, |d| vault::run(d, reps, quick)),
        Cmd::Link { quick, gib, dir } => {
            with_dir(dir, |d| link::run(quick, gib, Some(d.to_path_buf())))
        }
        Cmd::Intake {
            count,
            quick,
            dir,
            sluis,
            edge_disk,
            link_mbit,
        } => {
            let sluis = match sluis {
                Some(s) => s,
                None => std::env::current_exe()?.with_file_name("sluis"),
            };
            with_dir(dir, |d| {
                intake::run(d, count, quick, &sluis, edge_disk.as_deref(), link_mbit)
            })
        }
        Cmd::Watch {
            sizes,
            quick,
            dir,
            sluis,
        } => {
            let sluis = match sluis {
                Some(s) => s,
                None => std::env::current_exe()?.with_file_name("sluis"),
            };
            with_dir(dir, |d| watch::run(d, quick, &sizes, &sluis))
        }
        Cmd::Workstation { reps, dir, sluis } => {
            let sluis = match sluis {
                Some(s) => s,
                None => std::env::current_exe()?.with_file_name("sluis"),
            };
            with_dir(dir, |d| workstation::run(d, &sluis, reps.max(1)))
        }
        Cmd::LinkRecv {
            port,
            objects,
            dir,
            loss,
        } => link::recv(
            port,
            objects,
            &dir,
            loss,
            std::time::Duration::from_secs(600),
        ),
        Cmd::LinkSend {
            to,
            objects,
            mtu,
            repair_percent,
            rate_mbit,
            files,
        } => link::send(
            to,
            &files,
            objects,
            sluis_link::Coding {
                mtu,
                repair_percent,
                ..sluis_link::Coding::default()
            },
            rate_mbit * 1_000_000 / 8,
        ),
    }
}
