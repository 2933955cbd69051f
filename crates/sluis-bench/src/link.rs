//! `sluis-bench link`: goodput of the one-way link over loopback, with authentication (Ed25519
//! per object), BLAKE3 digests, RaptorQ repair and durable reassembly all on, the sender and the
//! receiver in separate processes so that each one's CPU time is its own.
//!
//! The peer, ANSSI's lidi 2.1.1, is not packaged for Debian, crates.io, PyPI or npm and cannot
//! be fetched here; its figures on this machine class are quoted (and labelled as quoted). What
//! runs in the same run as a reference is the ceiling of this host: plain UDP datagrams of the
//! same size, one `send`/`recv` each, no coding, no hashing, no disk.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sluis_link::net::{DirWorkspace, LinkOut, udp_socket};
use sluis_link::receiver::Event;
use sluis_link::{
    Coding, EdgeKey, Entry, Ledger, Receiver, ReceiverLimits, ReceiverMetrics, Sender,
    SenderMetrics,
};

const KEY_SEED: [u8; 32] = [5; 32];

/// CPU seconds (user + system) of this process so far.
fn cpu_seconds() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
        t(u.user_time()) + t(u.system_time())
    })
}

/// The receiving process: counts objects until `objects` are resolved (or `timeout`), dropping
/// each datagram with probability `loss` before it reaches the receiver (loss on the wire).
pub(crate) fn recv(
    port: u16,
    objects: u64,
    dir: &Path,
    loss: f64,
    timeout: Duration,
) -> Result<()> {
    let sock = udp_socket(SocketAddr::from(([127, 0, 0, 1], port)), 64 << 20, 0)?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    let ws = DirWorkspace::open(dir)?;
    let limits = ReceiverLimits {
        loss_grace: Duration::from_secs(2),
        session_timeout: Duration::from_secs(2),
        ..ReceiverLimits::default()
    };
    let mut rx = Receiver::new(
        limits,
        EdgeKey::from_seed(KEY_SEED).verifier(),
        ws,
        Ledger::new(),
        ReceiverMetrics::default(),
        Instant::now(),
    );
    println!("ready");
    let mut gro = sluis_link::net::Gro::new(&sock);
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let threshold = (loss * u64::MAX as f64) as u64;
    let (mut delivered, mut lost, mut rejected, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut first: Option<Instant> = None;
    let mut last_delivery = Instant::now();
    let deadline = Instant::now() + timeout;
    let mut last_tick = Instant::now();
    while delivered + lost + rejected < objects && Instant::now() < deadline {
        if let Ok(batch) = gro.recv() {
            first.get_or_insert_with(Instant::now);
            let now = Instant::now();
            for d in batch {
                // xorshift: cheap, seeded, and independent of the data.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                if loss == 0.0 || rng >= threshold {
                    rx.handle(d, now);
                }
            }
        }
        if last_tick.elapsed() >= Duration::from_millis(100) {
            rx.tick(Instant::now());
            last_tick = Instant::now();
        }
        while let Some(ev) = rx.poll_event() {
            match ev {
                Event::Delivered(o) => {
                    delivered += 1;
                    bytes += o.length();
                    last_delivery = Instant::now();
                    let _ = std::fs::remove_file(o.location());
                }
                Event::Lost(_) => lost += 1,
                Event::Rejected { .. } => rejected += 1,
                _ => {}
            }
        }
    }
    let wall = first.map_or(0.0, |f| last_delivery.duration_since(f).as_secs_f64());
    let out = serde_json::json!({
        "delivered": delivered, "lost": lost, "rejected": rejected, "bytes": bytes,
        "wall": wall, "cpu": cpu_seconds(),
    });
    println!("{out}");
    Ok(())
}

/// The sending process: `objects` objects cycling over `files`, at most `rate` bytes/s (0: as
/// fast as the socket takes them), then heartbeats for two seconds.
pub(crate) fn send(
    to: SocketAddr,
    files: &[PathBuf],
    objects: u64,
    coding: Coding,
    rate: u64,
) -> Result<()> {
    let sock = udp_socket(SocketAddr::from(([127, 0, 0, 1], 0)), 0, 8 << 20)?;
    sock.connect(to)?;
    let sender = Sender::new(EdgeKey::from_seed(KEY_SEED), coding, 1);
    let mut out = LinkOut::new(sock, sender, rate, SenderMetrics::default());
    let start = Instant::now();
    for i in 0..objects {
        let path = &files[(i as usize) % files.len()];
        let entry = Entry {
            id: i + 1,
            path: path.clone(),
            offset: 0,
            length: std::fs::metadata(path)?.len(),
            meta: "{\"source\":\"bench\"}".into(),
        };
        out.send_object(&entry, None, &mut |_| {})?;
        if i % 16 == 15 {
            out.heartbeat(i + 2, 0, Duration::from_millis(100));
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds();
    for _ in 0..20 {
        out.heartbeat(objects + 1, 0, Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("{}", serde_json::json!({"wall": wall, "cpu": cpu}));
    Ok(())
}

/// Plain UDP: `total` bytes in datagrams of `size`, counted on the other side (the host's
/// ceiling for one socket pair with one syscall per datagram).
fn raw_udp(total: u64, size: usize) -> Result<(f64, f64)> {
    let rx = udp_socket(SocketAddr::from(([127, 0, 0, 1], 0)), 64 << 20, 0)?;
    rx.set_read_timeout(Some(Duration::from_millis(300)))?;
    let addr = rx.local_addr()?;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let count = (total / size as u64).max(1);
    let t = std::thread::spawn(move || -> std::io::Result<()> {
        let tx = UdpSocket::bind("127.0.0.1:0")?;
        tx.connect(addr)?;
        let d = vec![0xA5u8; size];
        for _ in 0..count {
            while tx.send(&d).is_err() {}
        }
        Ok(())
    });

    let mut buf = vec![0u8; 65536];
    let mut got = 0u64;
    let mut first = None;
    let mut last = Instant::now();
    while let Ok(n) = rx.recv(&mut buf) {
        first.get_or_insert_with(Instant::now);
        got += n as u64;
        last = Instant::now();
    }
    let _ = t.join();
    drop(stop);
    let wall = first.map_or(1.0, |f: Instant| last.duration_since(f).as_secs_f64());
    Ok((
        got as f64 / wall / 1e6,
        got as f64 / (count * size as u64) as f64,
    ))
}

fn child(exe: &Path, args: &[String]) -> Result<std::process::Child> {
    Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawning a link role")
}

fn last_json(out: &[u8]) -> Result<Value> {
    let text = String::from_utf8_lossy(out);
    let line = text.lines().last().context("no output")?;
    Ok(serde_json::from_str(line)?)
}

struct Run {
    goodput: f64,
    delivered: u64,
    lost: u64,
    rejected: u64,
    send_cpu_per_gb: f64,
    recv_cpu_per_gb: f64,
}

#[allow(clippy::too_many_arguments)]
fn one(
    exe: &Path,
    dir: &Path,
    files: &[PathBuf],
    objects: u64,
    coding: Coding,
    loss: f64,
    rate_mbit: u64,
) -> Result<Run> {
    let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let rdir = dir.join("recv");
    let mut r = child(
        exe,
        &[
            "link-recv".into(),
            "--port".into(),
            port.to_string(),
            "--objects".into(),
            objects.to_string(),
            "--dir".into(),
            rdir.display().to_string(),
            "--loss".into(),
            loss.to_string(),
        ],
    )?;
    // Wait for "ready".
    {
        use std::io::BufRead as _;
        let stdout = r.stdout.as_mut().context("stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        if line.trim() != "ready" {
            bail!("receiver did not start: {line}");
        }
    }
    let mut args = vec![
        "link-send".to_string(),
        "--to".into(),
        format!("127.0.0.1:{port}"),
        "--objects".into(),
        objects.to_string(),
        "--mtu".into(),
        coding.mtu.to_string(),
        "--repair-percent".into(),
        coding.repair_percent.to_string(),
        "--rate-mbit".into(),
        rate_mbit.to_string(),
    ];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let s = child(exe, &args)?.wait_with_output()?;
    let rout = r.wait_with_output()?;
    let sj = last_json(&s.stdout)?;
    let rj = last_json(&rout.stdout)?;
    let bytes = rj["bytes"].as_f64().unwrap_or(0.0);
    let gb = bytes / 1e9;
    Ok(Run {
        goodput: bytes / rj["wall"].as_f64().unwrap_or(1.0).max(1e-9) / 1e6,
        delivered: rj["delivered"].as_u64().unwrap_or(0),
        lost: rj["lost"].as_u64().unwrap_or(0),
        rejected: rj["rejected"].as_u64().unwrap_or(0),
        send_cpu_per_gb: sj["cpu"].as_f64().unwrap_or(0.0) / gb.max(1e-9),
        recv_cpu_per_gb: rj["cpu"].as_f64().unwrap_or(0.0) / gb.max(1e-9),
    })
}

/// Writes `n` files of `size` bytes of synthetic scan data (real scans cut to size, so the
/// content is what the link will carry, not zeros).
fn corpus(dir: &Path, n: usize, size: usize) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let scan = sluis_synth::generate(&sluis_synth::Spec::new(
        sluis_synth::Kind::Container40,
        7,
        0,
    ))
    .scan;
    let bytes = sluis_scan::to_dicos_vec(&sluis_scan::DicosObject::Image(Box::new(scan)))?;
    let mut out = Vec::new();
    for i in 0..n {
        let p = dir.join(format!("object-{size}-{i}.dcs"));
        let mut b: Vec<u8> = bytes
            .iter()
            .cycle()
            .skip(i * 4099)
            .take(size)
            .copied()
            .collect();
        if let Some(x) = b.first_mut() {
            *x ^= i as u8;
        }
        std::fs::write(&p, b)?;
        out.push(p);
    }
    Ok(out)
}

pub(crate) fn run(quick: bool, gib: f64, dir: Option<PathBuf>) -> Result<()> {
    let exe = std::env::current_exe()?;
    let work = match dir {
        Some(d) => d,
        None => std::env::current_dir()?.join(format!("sluis-bench-link-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work)?;
    let total = if quick {
        64u64 << 20
    } else {
        (gib * (1u64 << 30) as f64) as u64
    };
    println!(
        "link goodput over loopback, {} MiB per run, sender and receiver in separate processes; \
         Ed25519 per object, BLAKE3, RaptorQ, reassembly on disk all on; net.core.rmem_max = {}",
        total >> 20,
        std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .unwrap_or_default()
            .trim()
    );
    let (raw, raw_frac) = raw_udp(total.min(1 << 30), 1472)?;
    println!(
        "reference, same run: plain UDP, 1472-byte datagrams, no coding: {raw:.0} MB/s ({:.1} % arrived)",
        raw_frac * 100.0
    );
    println!(
        "peer, quoted (not runnable here): lidi 2.1.1 on this machine class: 198 MB/s default, 249 MB/s --batch 512; 0 of 3 transfers intact at 1 % loss"
    );
    println!();
    println!(
        "| object | MTU | loss | repair | rate limit | goodput MB/s | delivered | lost | rejected | sender CPU s/GB | receiver CPU s/GB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let sizes: &[usize] = if quick {
        &[4 << 20]
    } else {
        &[256 << 10, 4 << 20, 16 << 20]
    };
    // A one-way link has no flow control: the edge must send at a rate the core can take (in
    // production, the diode's line rate). 2400 Mbit/s is 300 MB/s; at 1 % loss the core also
    // decodes RaptorQ for nearly every block, so the rate is lower there. The last row sends
    // unpaced, to show what the core reports when the edge outruns it.
    let mut cases: Vec<(usize, u16, f64, u64)> = Vec::new();
    for &s in sizes {
        // Small objects cost the core more per byte (a signature check, a file, a digest
        // each), so they are paced lower.
        cases.push((s, 1500, 0.0, if s < (1 << 20) { 1200 } else { 2400 }));
    }

    let main_size = if quick { 4 << 20 } else { 16 << 20 };
    cases.push((main_size, 1500, 0.01, 1000));
    cases.push((main_size, 9000, 0.0, 2400));
    cases.push((main_size, 1500, 0.0, 0));

    for (size, mtu, loss, rate) in cases {
        let files = corpus(&work.join("src"), 4, size)?;
        let objects = (total / size as u64).max(1);
        let coding = Coding {
            mtu,
            ..Coding::default()
        };
        let r = one(&exe, &work, &files, objects, coding, loss, rate)?;
        println!(
            "| {} KiB | {mtu} | {:.0} % | {}% + {} | {} | {:.0} | {} | {} | {} | {:.2} | {:.2} |",
            size >> 10,
            loss * 100.0,
            coding.repair_percent,
            coding.repair_extra,
            if rate == 0 {
                "none".to_string()
            } else {
                format!("{rate} Mbit/s")
            },
            r.goodput,
            r.delivered,
            r.lost,
            r.rejected,
            r.send_cpu_per_gb,
            r.recv_cpu_per_gb
        );
        for f in files {
            let _ = std::fs::remove_file(f);
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
