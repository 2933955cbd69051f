//! `sluis-bench intake`: scans per second end to end, dcmtk's `storescu` sending the same files
//! over one association to Orthanc (Debian package `orthanc`) and to `sluis edge`, whose scans
//! then cross the one-way link to `sluis core`, are sanitised in a capped worker process,
//! encrypted, fsynced and logged. Ours is timed until the last scan is in the vault.
//!
//! The files are synthetic 40 ft container scans at 5 mm, high-energy channel only: 2440 x ~900
//! 16-bit DICOS DX of about 4.3 MB, the size the Orthanc figures were measured with.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sluis_scan::{DicosObject, to_dicos_vec};
use sluis_synth::{Kind, Spec, generate};

/// Kills a child process when dropped.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn udp_port() -> Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn wait_port(port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on port {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn scans(dir: &Path, count: u32) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for i in 0..count {
        let p = dir.join(format!("dx-{i:04}.dcs"));
        if !p.exists() {
            let mut scan = generate(&Spec::new(Kind::Container40, 2026, i)).scan;
            scan.reports.clear();
            scan.image.channels.truncate(1);
            std::fs::write(&p, to_dicos_vec(&DicosObject::Image(Box::new(scan)))?)?;
        }
        out.push(p);
    }
    Ok(out)
}

/// storescu, one association, every file; returns its wall seconds.
fn storescu(
    port: u16,
    aec: &str,
    files: &[PathBuf],
    nodelay: bool,
    pdu: Option<u32>,
) -> Result<f64> {
    let mut cmd = Command::new("storescu");
    cmd.arg("-R").args(["-aet", "SCANNER1", "-aec", aec]);
    if let Some(p) = pdu {
        cmd.args(["-pdu", &p.to_string()]);
    }
    cmd.arg("127.0.0.1").arg(port.to_string()).args(files);
    if nodelay {
        cmd.env("TCP_NODELAY", "1");
    } else {
        cmd.env_remove("TCP_NODELAY");
    }
    let start = Instant::now();
    let out = cmd.output().context("storescu (Debian package dcmtk)")?;
    let wall = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("storescu failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(wall)
}

/// One Orthanc run with a fresh storage directory; returns images per second.
fn orthanc(
    dir: &Path,
    files: &[PathBuf],
    nodelay: bool,
    sync: bool,
    pdu: Option<u32>,
) -> Result<f64> {
    let store = dir.join(format!("orthanc-{nodelay}-{sync}-{}", pdu.unwrap_or(0)));
    let _ = std::fs::remove_dir_all(&store);
    std::fs::create_dir_all(&store)?;
    let dicom = port()?;
    let http = port()?;
    let mut config = serde_json::json!({
        "Name": "sluis-bench",
        "StorageDirectory": store.join("db"),
        "IndexDirectory": store.join("db"),
        "DicomAet": "ORTHANC",
        "DicomPort": dicom,
        "HttpPort": http,
        "HttpServerEnabled": false,
        "RemoteAccessAllowed": false,
        "UnknownSopClassAccepted": true,
        "DicomCheckCalledAet": false,
        "StorageCompression": false,
        "SyncStorageArea": sync,
        "Plugins": [],
    });
    if let Some(p) = pdu {
        config["MaximumPduLength"] = serde_json::json!(p);
    }
    let cfg = store.join("orthanc.json");
    std::fs::write(&cfg, serde_json::to_vec_pretty(&config)?)?;
    let mut cmd = Command::new("Orthanc");
    cmd.arg(&cfg).stdout(Stdio::null()).stderr(Stdio::null());
    if nodelay {
        cmd.env("TCP_NODELAY", "1");
    } else {
        cmd.env_remove("TCP_NODELAY");
    }
    let _g = Guard(cmd.spawn().context("Orthanc (Debian package orthanc)")?);
    wait_port(dicom, Duration::from_secs(30))?;
    settle();
    let wall = storescu(dicom, "ORTHANC", files, nodelay, pdu)?;
    Ok(files.len() as f64 / wall)
}

/// Writes back what the previous run left dirty in the page cache (untimed), so that no
/// receiver's timing includes the disk catching up with the one before it: Orthanc with
/// `SyncStorageArea: false` ends its run with up to a gigabyte not yet on the disk.
fn settle() {
    let _ = Command::new("sync").status();
    std::thread::sleep(Duration::from_millis(500));
}

fn spool_dir_parent(spool: &str) -> Option<PathBuf> {
    (spool != "spool").then(|| PathBuf::from(format!("{spool}-reassembly")))
}

/// The core's event stream, read as it grows: each poll parses only the lines added since the
/// last (the bench shares the machine's CPUs with the ends it measures).
#[derive(Default)]
struct Tail {
    at: u64,
    partial: Vec<u8>,
    settled: usize,
    not_stored: usize,
}

impl Tail {
    /// Reads what was appended; returns how many objects the core has settled (stored,
    /// quarantined, lost or rejected).
    fn poll(&mut self, events: &Path) -> usize {
        use std::io::{Read as _, Seek as _};
        let Ok(mut f) = std::fs::File::open(events) else {
            return self.settled;
        };
        if f.seek(std::io::SeekFrom::Start(self.at)).is_err() {
            return self.settled;
        }
        let mut more = Vec::new();
        let Ok(n) = f.read_to_end(&mut more) else {
            return self.settled;
        };
        self.at += n as u64;
        self.partial.extend_from_slice(&more);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            if let Ok(e) = serde_json::from_slice::<sluis_core::EventLine>(&line)
                && e.event.settles()
            {
                self.settled += 1;
                if !matches!(e.event, sluis_core::CoreEvent::Stored { .. }) {
                    self.not_stored += 1;
                }
            }
        }
        self.settled
    }
}

/// One sluis run; returns (images/s accepted by the edge, images/s in the vault).
fn ours(
    sluis: &Path,
    dir: &Path,
    files: &[PathBuf],
    spool: Option<&Path>,
    link_mbit: u64,
) -> Result<(f64, f64, usize)> {
    let d = dir.join("sluis");
    let spool = match spool {
        Some(s) => {
            let s = s.join(format!("sluis-bench-spool-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&s);
            s.display().to_string()
        }
        None => "spool".to_string(),
    };
    // With the spool elsewhere, the core's transient reassembly area goes there too (a tmpfs:
    // what a reboot takes is reported lost and replayed).
    let tmp_reassembly = spool_dir_parent(&spool);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("drop"))?;
    let st = Command::new(sluis)
        .arg("vault")
        .arg("init")
        .arg(d.join("v"))
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("vault init failed");
    }
    let st = Command::new(sluis)
        .args(["edge", "keygen", "--key"])
        .arg(d.join("edge.key"))
        .arg("--public")
        .arg(d.join("edge.pub"))
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("edge keygen failed");
    }
    let reassembly = match &tmp_reassembly {
        Some(r) => format!("reassembly = \"{}\"\n", r.display()),
        None => String::new(),
    };
    let (link, dicom) = (udp_port()?, port()?);
    std::fs::write(
        d.join("edge.toml"),
        format!(
            "[link]\nto = \"127.0.0.1:{link}\"\nrate_mbit = {link_mbit}\n[edge]\nkey = \"edge.key\"\nspool = \"{spool}\"\n\
             [dicom]\nlisten = \"127.0.0.1:{dicom}\"\nallowed_calling = [\"SCANNER1\"]\nmax_pdu = 131072\n"
        ),
    )?;
    std::fs::write(
        d.join("core.toml"),
        format!(
            "[link]\nlisten = \"127.0.0.1:{link}\"\nedge_key = \"edge.pub\"\n[core]\nvault = \"v\"\nwork = \"work\"\n{reassembly}"
        ),
    )?;
    let _core = Guard(
        Command::new(sluis)
            .arg("core")
            .arg("--config")
            .arg(d.join("core.toml"))
            .stderr(Stdio::null())
            .spawn()?,
    );
    let _edge = Guard(
        Command::new(sluis)
            .arg("edge")
            .arg("--config")
            .arg(d.join("edge.toml"))
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_port(dicom, Duration::from_secs(30))?;
    settle();
    let events = d.join("work/events.jsonl");
    let start = Instant::now();
    let accepted = storescu(dicom, "SLUIS-EDGE", files, true, Some(131_072))?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut tail = Tail::default();
    while tail.poll(&events) < files.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let end_to_end = start.elapsed().as_secs_f64();
    let n = tail.poll(&events);
    let lost = tail.not_stored;
    if lost > 0 {
        bail!(
            "{lost} of {} scans were not stored (see {})",
            files.len(),
            events.display()
        );
    }
    if let Some(r) = &tmp_reassembly {
        let _ = std::fs::remove_dir_all(r);
        let _ = std::fs::remove_dir_all(&spool);
    }
    Ok((files.len() as f64 / accepted, n as f64 / end_to_end, n))
}

pub(crate) fn run(
    dir: &Path,
    count: u32,
    quick: bool,
    sluis: &Path,
    edge_disk: Option<&Path>,
    link_mbit: u64,
) -> Result<()> {
    let count = if quick { count.min(10) } else { count };
    let files = scans(&dir.join("scans"), count)?;
    let size = std::fs::metadata(&files[0])?.len();
    println!(
        "intake: {count} synthetic 40 ft DX scans (high-energy channel, {:.1} MB each), storescu -R, one association",
        size as f64 / 1e6
    );
    let have_orthanc = Command::new("Orthanc")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    println!("| receiver | settings | images/s | scans/hour |");
    println!("|---|---|---|---|");
    let row = |who: &str, how: &str, rate: f64| {
        println!("| {who} | {how} | {rate:.1} | {:.0} |", rate * 3600.0);
    };
    if have_orthanc {
        row(
            "Orthanc (as packaged)",
            "defaults",
            orthanc(dir, &files, false, true, None)?,
        );
        row(
            "Orthanc",
            "TCP_NODELAY=1 both ends",
            orthanc(dir, &files, true, true, None)?,
        );
        row(
            "Orthanc (best)",
            "TCP_NODELAY=1, SyncStorageArea false, 128 KiB PDU",
            orthanc(dir, &files, true, false, Some(131_072))?,
        );
    } else if quick {
        println!("| Orthanc | not installed (quick run: skipped) | - | - |");
    } else {
        bail!("Orthanc is not installed (apt-get install orthanc)");
    }
    let (accepted, vault, n) = ours(sluis, dir, &files, None, link_mbit)?;
    if n < files.len() {
        bail!("only {n} of {} scans reached the vault", files.len());
    }
    row(
        "sluis edge (accepted, spooled, fsynced)",
        "TCP_NODELAY on its sockets, 128 KiB PDU",
        accepted,
    );
    row(
        "sluis end to end (in the vault)",
        &format!(
            "edge -> link ({link_mbit} Mbit/s) -> core: sanitised in a capped worker, encrypted, fsynced, logged"
        ),
        vault,
    );
    if let Some(other) = edge_disk {
        // In production the edge and the core are different hosts with their own disks; here
        // they share one. With the spool on another filesystem the core's disk carries only
        // the core's writes.
        let (accepted, vault, n) = ours(sluis, dir, &files, Some(other), link_mbit)?;
        if n < files.len() {
            bail!("only {n} of {} scans reached the vault", files.len());
        }
        let how = format!(
            "edge spool on {} (standing in for the edge host's own disk)",
            other.display()
        );
        row("sluis edge (accepted, spooled, fsynced)", &how, accepted);
        row("sluis end to end (in the vault)", &how, vault);
    }
    Ok(())
}
