//! The lock end to end: dcmtk's `storescu` as the scanner, `sluis edge`, the one-way link
//! (through a lossy relay of ours: the kernel here has no netem), `sluis core`, the vault.
//! Every object the edge spooled must end stored or quarantined, or be reported lost by id;
//! nothing else, ever.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng as _, RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::{assert_exit, init_vault, s, sluis, stdout, synth_many};

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `sluis edge` or `sluis core`, stopped (SIGTERM, then SIGKILL) when dropped.
pub(crate) struct Daemon(Child);

impl Daemon {
    pub(crate) fn start(args: &[&str]) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_sluis"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sluis");
        Daemon(child)
    }
    pub(crate) fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
    pub(crate) fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
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

/// A vault, an edge key, and configurations for both ends, in one directory.
pub(crate) struct Lock {
    pub dir: PathBuf,
    pub vault: PathBuf,
    pub edge: PathBuf,
    pub core: PathBuf,
    pub core_port: u16,
    pub dicom_port: u16,
    pub metrics_port: u16,
    pub edge_metrics_port: u16,
}

impl Lock {
    pub(crate) fn new(dir: &Path, coding: &str) -> Lock {
        let vault = init_vault(dir);
        let out = sluis(&[
            "edge",
            "keygen",
            "--key",
            s(&dir.join("edge.key")),
            "--public",
            s(&dir.join("edge.pub")),
        ]);
        assert_exit(&out, 0);
        let (core_port, dicom_port, metrics_port) = (free_port(), free_tcp_port(), free_tcp_port());
        let edge_metrics_port = free_tcp_port();
        std::fs::create_dir_all(dir.join("drop")).unwrap();
        let edge = dir.join("edge.toml");
        std::fs::write(
            &edge,
            format!(
                "[link]\nto = \"127.0.0.1:{core_port}\"\nheartbeat_ms = 100\n\
                 [coding]\n{coding}\n\
                 [edge]\nkey = \"edge.key\"\nspool = \"spool\"\nmetrics_listen = \"127.0.0.1:{edge_metrics_port}\"\n\
                 [dicom]\nlisten = \"127.0.0.1:{dicom_port}\"\nallowed_calling = [\"SCANNER1\"]\n\
                 [drop]\ndir = \"drop\"\nsettle_ms = 100\n"
            ),
        )
        .unwrap();
        let core = dir.join("core.toml");
        std::fs::write(
            &core,
            format!(
                "[link]\nlisten = \"127.0.0.1:{core_port}\"\nedge_key = \"edge.pub\"\n\
                 [receiver]\nsession_timeout = 1500\nloss_grace = 2000\nheartbeat_tolerance = 1000\n\
                 [core]\nvault = \"v\"\nwork = \"work\"\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n"
            ),
        )
        .unwrap();
        Lock {
            dir: dir.to_path_buf(),
            vault,
            edge,
            core,
            core_port,
            dicom_port,
            metrics_port,
            edge_metrics_port,
        }
    }

    pub(crate) fn core(&self) -> Daemon {
        Daemon::start(&["core", "--config", s(&self.core)])
    }

    pub(crate) fn edge_to(&self, to: SocketAddr) -> Daemon {
        Daemon::start(&[
            "edge",
            "--config",
            s(&self.edge),
            "--link-to",
            &to.to_string(),
        ])
    }

    pub(crate) fn edge(&self) -> Daemon {
        Daemon::start(&["edge", "--config", s(&self.edge)])
    }

    pub(crate) fn core_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.core_port))
    }

    /// The core's event stream so far.
    pub(crate) fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("work/events.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until `done(events)` or the timeout; returns the events.
    pub(crate) fn wait(&self, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let ev = self.events();
            if done(&ev) || Instant::now() > deadline {
                return ev;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Puts files into the drop folder the way a scanner's writer should: written under a
    /// `.part` name, then renamed.
    pub(crate) fn drop_files(&self, files: &[PathBuf]) {
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let part = self.dir.join("drop").join(format!("{name}.part"));
            std::fs::copy(f, &part).unwrap();
            std::fs::rename(&part, self.dir.join("drop").join(&name)).unwrap();
        }
    }

    /// Runs `sluis edge replay`.
    pub(crate) fn replay(&self, ids: &[u64], to: SocketAddr) {
        for id in ids {
            let out = sluis(&[
                "edge",
                "replay",
                "--config",
                s(&self.edge),
                "--link-to",
                &to.to_string(),
                "--from",
                &id.to_string(),
                "--to",
                &id.to_string(),
            ]);
            assert_exit(&out, 0);
        }
    }

    pub(crate) fn metrics(&self) -> String {
        get_metrics(self.metrics_port)
    }

    pub(crate) fn edge_metrics(&self) -> String {
        get_metrics(self.edge_metrics_port)
    }
}

/// What happened to each edge id, from the event stream: "stored", "quarantined", "lost",
/// "rejected" (the last event of each id wins).
pub(crate) fn fates(events: &[Value]) -> std::collections::BTreeMap<u64, String> {
    let mut m = std::collections::BTreeMap::new();
    for e in events {
        if let Some(id) = e["edge_id"].as_u64() {
            let kind = e["event"].as_str().unwrap().to_string();
            if kind != "aborted" {
                m.insert(id, kind);
            }
        }
    }
    m
}

/// A lossy UDP relay between the edge and the core: seeded random loss with optional bursts,
/// reordering, duplication, single-bit corruption, and a switch that cuts the link.
pub(crate) struct Relay {
    pub addr: SocketAddr,
    pub cut: Arc<AtomicBool>,
    pub loss_ppm: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone, Copy, Default)]
pub(crate) struct Faults {
    pub loss: f64,
    pub burst: usize,
    pub reorder: f64,
    pub duplicate: f64,
    pub corrupt: f64,
}

impl Relay {
    pub(crate) fn start(to: SocketAddr, faults: Faults, seed: u64) -> Relay {
        // A large receive buffer, so that the relay adds no loss of its own when the test
        // machine is busy.
        let sock =
            sluis_link::net::udp_socket(SocketAddr::from(([127, 0, 0, 1], 0)), 8 << 20, 0).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();

        let addr = sock.local_addr().unwrap();
        let out = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (cut, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let loss_ppm = Arc::new(AtomicU64::new((faults.loss * 1e6) as u64));
        let (c, st, lp) = (cut.clone(), stop.clone(), loss_ppm.clone());
        let thread = std::thread::spawn(move || {
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            let mut buf = vec![0u8; 65536];
            let mut held: Vec<Vec<u8>> = Vec::new();
            let mut burst_left = 0usize;
            while !st.load(Ordering::Relaxed) {
                let Ok(n) = sock.recv(&mut buf) else {
                    for d in held.drain(..) {
                        let _ = out.send_to(&d, to);
                    }
                    continue;
                };
                let mut d = buf[..n].to_vec();
                if c.load(Ordering::Relaxed) {
                    continue;
                }
                if burst_left > 0 {
                    burst_left -= 1;
                    continue;
                }
                let loss = lp.load(Ordering::Relaxed) as f64 / 1e6;
                if r.random_bool(loss.min(1.0)) {
                    burst_left = faults.burst.saturating_sub(1);
                    continue;
                }
                if r.random_bool(faults.corrupt) {
                    let i = r.random_range(0..d.len());
                    d[i] ^= 1 << r.random_range(0..8);
                }
                if r.random_bool(faults.duplicate) {
                    let _ = out.send_to(&d, to);
                }
                if r.random_bool(faults.reorder) {
                    held.push(d);
                    continue;
                }
                let _ = out.send_to(&d, to);
                if held.len() > 8 || (!held.is_empty() && r.random_bool(0.2)) {
                    let i = r.random_range(0..held.len());
                    let late = held.swap_remove(i);
                    let _ = out.send_to(&late, to);
                }
            }
        });
        Relay {
            addr,
            cut,
            loss_ppm,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn storescu(lock: &Lock, aet: &str, files: &[PathBuf]) -> std::process::Output {
    let mut args = vec![
        "-R".to_string(),
        "-aet".into(),
        aet.into(),
        "-aec".into(),
        "SLUIS-EDGE".into(),
        "127.0.0.1".into(),
        lock.dicom_port.to_string(),
    ];
    args.extend(files.iter().map(|f| s(f).to_string()));
    Command::new("storescu")
        .args(&args)
        .output()
        .expect("storescu (dcmtk)")
}

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["event"] == kind).count()
}

#[test]
fn storescu_scans_arrive_in_the_vault_sanitised_encrypted_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    let scans = synth_many(&dir.path().join("scans"), 3, 11);
    let core = lock.core();
    let _edge = lock.edge();
    std::thread::sleep(Duration::from_millis(500));
    // C-ECHO, and a scanner not on the allow-list is turned away.
    let echo = Command::new("echoscu")
        .args([
            "-aet",
            "SCANNER1",
            "-aec",
            "SLUIS-EDGE",
            "127.0.0.1",
            &lock.dicom_port.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        echo.status.success(),
        "{}",
        String::from_utf8_lossy(&echo.stderr)
    );
    let evil = storescu(&lock, "INTRUDER", &scans[..1]);
    assert!(!evil.status.success());
    assert!(String::from_utf8_lossy(&evil.stderr).contains("Calling AE Title Not Recognized"));
    let out = storescu(&lock, "SCANNER1", &scans);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = lock.wait(Duration::from_secs(60), |e| {
        count(e, "stored") >= scans.len()
    });
    assert_eq!(count(&ev, "stored"), scans.len(), "{ev:#?}");
    assert_eq!(
        count(&ev, "lost") + count(&ev, "rejected") + count(&ev, "quarantined"),
        0
    );
    for e in ev.iter().filter(|e| e["event"] == "stored") {
        assert_eq!(e["source"]["kind"], "c-store", "{e}");
        assert_eq!(e["source"]["calling_ae"], "SCANNER1", "{e}");
        assert!(
            e["source"]["peer"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
    }
    // The edge run that sent them is on the record.
    assert_eq!(count(&ev, "edge-restarted"), 1, "{ev:#?}");
    let m = lock.metrics();
    assert!(
        m.contains(&format!(
            "sluis_link_rx_objects_delivered_total {}",
            scans.len()
        )),
        "{m}"
    );
    assert!(
        m.contains(&format!("sluis_core_scans_stored_total {}", scans.len())),
        "{m}"
    );
    let em = lock.edge_metrics();
    assert!(
        em.contains(&format!(
            "sluis_link_tx_objects_spooled_total {}",
            scans.len()
        )),
        "{em}"
    );
    assert!(
        em.contains(&format!("sluis_link_tx_objects_sent_total {}", scans.len())),
        "{em}"
    );
    assert!(em.contains("sluis_link_tx_inputs_refused_total 0"), "{em}");
    // The link receiver never waits behind the pipelines: they, and the workers they start,
    // run at a lower priority, and the receiver at a higher one where it may (CAP_SYS_NICE).
    let threads = thread_nice(core.0.id());
    let rx = if has_capability(23) { -5 } else { 0 };
    assert!(
        threads.contains(&("sluis-link-rx".to_string(), rx)),
        "{threads:?}"
    );
    let pipelines: Vec<_> = threads
        .iter()
        .filter(|(n, _)| n == "sluis-pipeline")
        .collect();
    assert!(!pipelines.is_empty(), "{threads:?}");
    assert!(pipelines.iter().all(|(_, nice)| *nice == 10), "{threads:?}");
    // The vault is held by the core while it runs; stop it to look inside.

    drop(core);
    // In the vault: every scan, each reading back as canonical DICOS that re-sanitises to itself.
    let list = sluis(&["vault", "list", s(&lock.vault), "--json", "--limit", "100"]);
    assert_exit(&list, 0);
    assert_eq!(stdout(&list).lines().count(), scans.len());
    let first = ev.iter().find_map(|e| e["scan"].as_str()).unwrap();
    let out_file = dir.path().join("read.dcm");
    let read = sluis(&[
        "vault",
        "get",
        s(&lock.vault),
        first,
        "--actor",
        "analyst-1",
        "--purpose",
        "test",
        "--out",
        s(&out_file),
    ]);
    assert_exit(&read, 0);
    let again = dir.path().join("again.dcm");
    assert_exit(&sluis(&["scan", "sanitize", s(&out_file), s(&again)]), 0);
    assert_eq!(
        std::fs::read(&out_file).unwrap(),
        std::fs::read(&again).unwrap()
    );
    // The log verifies with the public key alone.
    let verify = sluis(&[
        "audit",
        "verify",
        "--log",
        s(&lock.vault.join("log")),
        "--key",
        s(&lock.vault.join("log.pub")),
    ]);
    assert_exit(&verify, 0);
}

/// Whether this process holds capability `bit` (its effective set in /proc).
fn has_capability(bit: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap();
    u64::from_str_radix(caps.trim(), 16).unwrap() & (1 << bit) != 0
}

/// (name, niceness) of every thread of a process, from /proc.
fn thread_nice(pid: u32) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap();
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap();
        // Fields after the name in parentheses: state is field 3, nice field 19.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let nice = rest.split(' ').nth(16).unwrap().parse().unwrap();
        out.push((name.trim().to_string(), nice));
    }
    out
}

/// Sends `n` scans through a relay with `faults`; returns the lock, the fates and the scans.
fn through_relay(
    dir: &Path,
    coding: &str,
    faults: Faults,
    n: u32,
    seed: u64,
) -> (Lock, Vec<PathBuf>, Relay, Daemon, Daemon) {
    let lock = Lock::new(dir, coding);
    // The relay is a test program: pace the edge (as a diode's line rate would) so that the
    // relay's socket does not overflow and add loss of its own.
    let edge_cfg = std::fs::read_to_string(&lock.edge)
        .unwrap()
        .replace("heartbeat_ms = 100", "heartbeat_ms = 100\nrate_mbit = 100");
    std::fs::write(&lock.edge, edge_cfg).unwrap();
    let scans = synth_many(&dir.join("scans"), n, seed);
    let core = lock.core();
    let relay = Relay::start(lock.core_addr(), faults, seed);
    let edge = lock.edge_to(relay.addr);
    lock.drop_files(&scans);
    (lock, scans, relay, core, edge)
}

fn settle(lock: &Lock, expected: usize) -> std::collections::BTreeMap<u64, String> {
    let ev = lock.wait(Duration::from_secs(90), |e| fates(e).len() >= expected);
    fates(&ev)
}

#[test]
fn one_percent_random_loss_with_default_coding_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults {
        loss: 0.01,
        ..Faults::default()
    };
    let (lock, scans, _relay, _core, _edge) = through_relay(dir.path(), "", faults, 4, 21);
    let f = settle(&lock, scans.len());
    assert_eq!(f.len(), scans.len(), "{f:?}");
    assert!(f.values().all(|v| v == "stored"), "{f:?}");
    let m = lock.metrics();
    assert!(
        !m.contains("sluis_link_rx_repairs_used_total 0\n"),
        "1 % loss must have needed repair symbols:\n{m}"
    );
}

#[test]
fn five_percent_loss_with_reordering_duplication_and_corruption_loses_nothing_with_more_repair() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults {
        loss: 0.05,
        reorder: 0.02,
        duplicate: 0.01,
        corrupt: 0.002,
        ..Faults::default()
    };
    let (lock, scans, _relay, _core, _edge) = through_relay(
        dir.path(),
        "repair_percent = 15.0\nrepair_extra = 4",
        faults,
        4,
        22,
    );
    let f = settle(&lock, scans.len());
    assert_eq!(f.len(), scans.len(), "{f:?}");
    assert!(
        f.values().all(|v| v == "stored"),
        "{f:?} {:#?}\n{}",
        lock.events(),
        lock.metrics()
    );
}

#[test]
fn loss_beyond_the_fec_budget_is_reported_by_id_and_replay_fills_every_gap() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults {
        loss: 0.15,
        burst: 4,
        ..Faults::default()
    };
    let (lock, scans, relay, _core, _edge) = through_relay(dir.path(), "", faults, 4, 23);
    let f = settle(&lock, scans.len());
    // Every object the edge spooled has a fate; none is silently missing.
    assert_eq!(
        f.keys().copied().collect::<Vec<_>>(),
        (1..=scans.len() as u64).collect::<Vec<_>>(),
        "{f:?}"
    );
    let lost: Vec<u64> = f
        .iter()
        .filter(|(_, v)| *v != "stored")
        .map(|(k, _)| *k)
        .collect();
    assert!(
        !lost.is_empty(),
        "15 % bursty loss with 3 % repair must lose something: {f:?}"
    );
    assert!(lost.iter().all(|id| f[id] == "lost"), "{f:?}");
    // Each loss is in the transparency log, as a link record naming the edge's id.
    let records = log_records(&lock.vault);
    for id in &lost {
        let object = format!("edge-{id}");
        assert!(
            records.iter().any(|r| r["action"] == "link"
                && r["object"] == object.as_str()
                && r["outcome"] == "failure"),
            "no audit record of the loss of {id}"
        );
    }
    // The operator replays the gaps over a clean link.
    relay.loss_ppm.store(0, Ordering::Relaxed);
    lock.replay(&lost, relay.addr);
    let ev = lock.wait(Duration::from_secs(60), |e| {
        fates(e).values().all(|v| v == "stored")
    });
    let f = fates(&ev);
    assert!(f.values().all(|v| v == "stored"), "after replay: {f:?}");
}

#[test]
fn hostile_datagrams_and_forged_objects_do_not_stop_the_core_or_reach_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    let mut core = lock.core();
    std::thread::sleep(Duration::from_millis(500));
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = lock.core_addr();
    let mut r = ChaCha8Rng::seed_from_u64(66);
    // lidi 2.1.1's receiver aborts on one 3-byte datagram.
    for d in [&b""[..], b"S", b"SL", b"SL\x01"] {
        attacker.send_to(d, to).unwrap();
    }
    for i in 0..5000 {
        let mut d = vec![0u8; r.random_range(0..1500)];
        r.fill_bytes(&mut d);
        if i % 2 == 0 && d.len() > 4 {
            d[..3].copy_from_slice(b"SL\x01");
        }
        attacker.send_to(&d, to).unwrap();
    }
    // A whole object signed by a key that is not the edge's.
    let forger = sluis_link::EdgeKey::from_seed([3; 32]);
    let mut sender = sluis_link::Sender::new(forger, sluis_link::Coding::default(), u32::MAX);
    let payload = std::fs::read(&synth_many(&dir.path().join("forged"), 1, 1)[0]).unwrap();
    let shape = sender.coding().shape(payload.len() as u64);
    let mut grams = vec![sender.start(1, payload.len() as u64, b"{}")];
    for b in 0..shape.blocks() {
        let (a, e) = shape.block_range(b).unwrap();
        sender.block(
            1,
            payload.len() as u64,
            b as u32,
            &payload[a as usize..e as usize],
            &mut |d| grams.push(d.to_vec()),
        );
    }
    let digest = sluis_link::wire::object_digest(&payload);
    grams.push(sender.end(1, payload.len() as u64, &digest, b"{}"));
    grams.push(sender.heartbeat(1, 1000, 0, 100));
    for d in &grams {
        attacker.send_to(d, to).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(core.alive(), "the core must survive hostile datagrams");
    // The real edge's scans arrive afterwards, and the forged one is nowhere.
    let scans = synth_many(&dir.path().join("scans"), 2, 31);
    let _edge = lock.edge();
    lock.drop_files(&scans);
    let f = settle(&lock, scans.len());
    assert!(f.values().all(|v| v == "stored"), "{f:?}");
    let m = lock.metrics();
    assert!(m.contains("sluis_link_rx_forged_total"), "{m}");
    assert!(!m.contains("sluis_link_rx_forged_total 0\n"), "{m}");
    assert!(!m.contains("sluis_link_rx_malformed_total 0\n"), "{m}");
    drop(core);
    let list = sluis(&["vault", "list", s(&lock.vault), "--json", "--limit", "100"]);
    assert_eq!(stdout(&list).lines().count(), scans.len());
}

#[test]
fn edge_and_core_restarts_mid_transfer_lose_nothing_silently() {
    let dir = tempfile::tempdir().unwrap();
    // A slow link, so that the restarts land mid-transfer.
    let lock = Lock::new(dir.path(), "");
    let edge_cfg = std::fs::read_to_string(&lock.edge)
        .unwrap()
        .replace("heartbeat_ms = 100", "heartbeat_ms = 100\nrate_mbit = 8");
    std::fs::write(&lock.edge, edge_cfg).unwrap();
    let scans = synth_many(&dir.path().join("scans"), 5, 41);
    let core = lock.core();
    let edge = lock.edge();
    lock.drop_files(&scans);
    std::thread::sleep(Duration::from_millis(700));
    core.kill();
    std::thread::sleep(Duration::from_millis(700));
    let _core = lock.core();
    std::thread::sleep(Duration::from_millis(400));
    edge.kill();
    std::thread::sleep(Duration::from_millis(300));
    let _edge = lock.edge();
    let f = settle(&lock, scans.len());
    assert_eq!(
        f.keys().copied().collect::<Vec<_>>(),
        (1..=scans.len() as u64).collect::<Vec<_>>(),
        "{f:?}"
    );
    let lost: Vec<u64> = f
        .iter()
        .filter(|(_, v)| *v == "lost")
        .map(|(k, _)| *k)
        .collect();
    assert!(f.values().all(|v| v == "stored" || v == "lost"), "{f:?}");
    assert!(
        !lost.is_empty(),
        "what was sent while the core was down must be reported lost: {f:?}"
    );
    lock.replay(&lost, lock.core_addr());
    let ev = lock.wait(Duration::from_secs(60), |e| {
        fates(e).values().all(|v| v == "stored")
    });
    assert!(
        fates(&ev).values().all(|v| v == "stored"),
        "{:?}",
        fates(&ev)
    );
}

#[test]
fn a_cut_link_raises_an_alert_in_the_events_and_the_log_and_recovery_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let (lock, scans, relay, _core, _edge) =
        through_relay(dir.path(), "", Faults::default(), 1, 51);
    settle(&lock, scans.len());
    relay.cut.store(true, Ordering::Relaxed);
    let ev = lock.wait(Duration::from_secs(20), |e| {
        count(e, "heartbeat-missed") > 0
    });
    assert_eq!(count(&ev, "heartbeat-missed"), 1, "{ev:#?}");
    relay.cut.store(false, Ordering::Relaxed);
    let ev = lock.wait(Duration::from_secs(20), |e| {
        count(e, "heartbeat-resumed") > 0
    });
    assert_eq!(count(&ev, "heartbeat-resumed"), 1, "{ev:#?}");
    let m = lock.metrics();
    assert!(m.contains("sluis_link_rx_link_up 1"), "{m}");
    assert!(m.contains("sluis_link_rx_heartbeats_missed_total 1"), "{m}");
    let records = log_records(&lock.vault);
    assert!(records.iter().any(|r| {
        r["action"] == "link"
            && r["outcome"] == "failure"
            && r["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("no heartbeat")
    }));
    assert!(records.iter().any(|r| r["action"] == "link"
        && r["outcome"] == "success"
        && r["detail"].as_str().unwrap_or_default().contains("resumed")));
}

#[test]
fn a_verified_object_the_core_lost_before_the_vault_had_it_is_reported_and_replay_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    let scans = synth_many(&dir.path().join("scans"), 1, 61);
    // A first run stores both objects.
    {
        let _core = lock.core();
        let _edge = lock.edge();
        lock.drop_files(&scans);
        let f = settle(&lock, scans.len());
        assert!(f.values().all(|v| v == "stored"), "{f:?}");
    }
    // As if the core had crashed after verifying object 2 and before the vault had it: the
    // ledger still says pending, and the reassembled file did not survive.
    let ledger_path = dir.path().join("work/ledger.json");
    let mut ledger: Value = serde_json::from_slice(&std::fs::read(&ledger_path).unwrap()).unwrap();
    ledger["pending"] = serde_json::json!([2]);
    std::fs::write(&ledger_path, serde_json::to_vec(&ledger).unwrap()).unwrap();
    let _core = lock.core();
    let ev = lock.wait(Duration::from_secs(20), |e| count(e, "lost") > 0);
    let lost: Vec<&Value> = ev.iter().filter(|e| e["event"] == "lost").collect();
    assert_eq!(lost.len(), 1, "{ev:#?}");
    assert_eq!(lost[0]["edge_id"], 2);
    assert!(
        lost[0]["reason"]
            .as_str()
            .unwrap()
            .contains("before the vault had it")
    );
    // The replay is accepted (not dropped as a duplicate) and lands in the vault again.
    lock.replay(&[2], lock.core_addr());
    let ev = lock.wait(Duration::from_secs(30), |e| {
        fates(e).get(&2).is_some_and(|v| v == "stored")
    });
    assert_eq!(
        fates(&ev).get(&2).map(String::as_str),
        Some("stored"),
        "{ev:#?}"
    );
}

#[test]
fn check_validates_both_ends_and_names_what_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    let ok = sluis(&["core", "--config", s(&lock.core), "--check"]);
    assert_exit(&ok, 0);
    let out = stdout(&ok);
    assert!(out.contains("ok    edge public key"), "{out}");
    assert!(out.contains("UDP receive buffer"), "{out}");
    assert!(out.contains("check passed"), "{out}");
    assert_exit(&sluis(&["edge", "--config", s(&lock.edge), "--check"]), 0);
    // A missing key and an unknown setting are named; the exit code says "environment".
    std::fs::remove_file(dir.path().join("edge.key")).unwrap();
    let bad = sluis(&["edge", "--config", s(&lock.edge), "--check"]);
    assert_exit(&bad, 3);
    assert!(
        stdout(&bad).contains("FAIL  signing key"),
        "{}",
        stdout(&bad)
    );
    let cfg = std::fs::read_to_string(&lock.core).unwrap() + "[worker]\nmemory = 1\n";
    std::fs::write(&lock.core, cfg).unwrap();
    let bad = sluis(&["core", "--config", s(&lock.core), "--check"]);
    assert_exit(&bad, 3);
    assert!(
        crate::stderr(&bad).contains("unknown field `memory`"),
        "{}",
        crate::stderr(&bad)
    );
}

/// Every audit record in a vault's log (read from the published entry bundles: each entry is a
/// 2-byte big-endian length and a JSON record).
pub(crate) fn log_records(vault: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let mut stack = vec![vault.join("log/tile/entries")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let b = std::fs::read(&p).unwrap();
            let mut at = 0;
            while at + 2 <= b.len() {
                let n = usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
                if let Some(rec) = b.get(at + 2..at + 2 + n)
                    && let Ok(v) = serde_json::from_slice::<Value>(rec)
                {
                    out.push(v);
                }
                at += 2 + n;
            }
        }
    }
    out
}

fn get_metrics(port: u16) -> String {
    let out = Command::new("curl")
        .args(["-s", &format!("http://127.0.0.1:{port}/metrics")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_drop_folder_takes_only_complete_files_and_refuses_oversized_ones_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    let cfg = std::fs::read_to_string(&lock.edge).unwrap().replace(
        "spool = \"spool\"\n",
        "spool = \"spool\"\nmax_object_bytes = 100000\n",
    );
    std::fs::write(&lock.edge, cfg).unwrap();
    let scans = synth_many(&dir.path().join("scans"), 1, 71);
    let small = scans
        .iter()
        .find(|p| p.to_string_lossy().contains("truth"))
        .unwrap();
    let _core = lock.core();
    let _edge = lock.edge();
    let drop_dir = dir.path().join("drop");
    // Being written: ignored, however long it sits there.
    std::fs::write(drop_dir.join("half.dcs.part"), b"not yet").unwrap();
    std::fs::write(drop_dir.join("big.dcs"), vec![7u8; 200_000]).unwrap();
    lock.drop_files(std::slice::from_ref(small));
    let ev = lock.wait(Duration::from_secs(20), |e| count(e, "stored") >= 1);
    assert_eq!(count(&ev, "stored"), 1, "{ev:#?}");
    let refused = drop_dir.join("refused");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !refused.join("big.dcs.reason").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let reason = std::fs::read_to_string(refused.join("big.dcs.reason")).unwrap();
    assert!(reason.contains("max_object_bytes"), "{reason}");
    assert!(refused.join("big.dcs").exists());
    assert!(
        drop_dir.join("half.dcs.part").exists(),
        "a file being written is left alone"
    );
    assert!(
        lock.edge_metrics()
            .contains("sluis_link_tx_inputs_refused_total 1")
    );
}

#[test]
fn the_core_serves_the_workstation_over_the_vault_it_fills() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    let port = free_tcp_port();
    let mut cfg = std::fs::read_to_string(&lock.core).unwrap();
    cfg.push_str(&format!(
        "[workstation]\nlisten = \"127.0.0.1:{port}\"\nplain_http = true\n"
    ));
    std::fs::write(&lock.core, cfg).unwrap();
    let add = crate::user::user_add(&lock.vault, "ana", "analyst", b"a long enough passphrase\n");
    assert!(add.status.success(), "{}", crate::stderr(&add));
    let check = sluis(&["core", "--check", "--config", s(&lock.core)]);
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("workstation served on http://127.0.0.1:"),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let _core = lock.core();
    let _edge = lock.edge();
    let base = format!("http://127.0.0.1:{port}");
    let jar = dir.path().join("jar");
    let login = || {
        crate::user::curl_login(
            &[],
            &jar,
            &format!("{base}/api/login"),
            "ana",
            "a long enough passphrase",
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while login().0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the core's workstation never answered"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, body) = crate::user::curl(&["-b", s(&jar), &format!("{base}/api/scans")]);
    assert_eq!((code, body.contains("\"scans\":[]")), (200, true), "{body}");
    // Scans the core stores while it serves are on the analyst's worklist at once.
    let scans = synth_many(&dir.path().join("scans"), 2, 21);
    lock.drop_files(&scans);
    // Each scan with its ground-truth report, which is not on the worklist itself.
    let ev = lock.wait(Duration::from_secs(60), |e| {
        count(e, "stored") >= scans.len()
    });
    assert_eq!(count(&ev, "stored"), scans.len(), "{ev:#?}");
    let (code, body) = crate::user::curl(&["-b", s(&jar), &format!("{base}/api/scans")]);
    assert_eq!(code, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = list["scans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{body}");
    let (code, _) = crate::user::curl(&[
        "-b",
        s(&jar),
        "-o",
        "/dev/null",
        &format!("{base}/api/scans/{}/image", ids[0]),
    ]);
    assert_eq!(code, 200);
}

#[test]
fn a_scan_the_sanitiser_refuses_is_quarantined_with_its_reason_and_the_next_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    let scans = synth_many(&dir.path().join("scans"), 1, 72);
    let good = scans
        .iter()
        .find(|p| !p.to_string_lossy().contains("truth"))
        .unwrap();
    // The same scan cut short: its pixel data runs past the end of the file.
    let bytes = std::fs::read(good).unwrap();
    let cut = dir.path().join("cut.dcs");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 5]).unwrap();
    let _core = lock.core();
    let _edge = lock.edge();
    lock.drop_files(std::slice::from_ref(&cut));
    let ev = lock.wait(Duration::from_secs(30), |e| count(e, "quarantined") >= 1);
    lock.drop_files(std::slice::from_ref(good));
    let ev2 = lock.wait(Duration::from_secs(30), |e| count(e, "stored") >= 1);
    assert_eq!(count(&ev, "quarantined"), 1, "{ev:#?}");
    let q = ev.iter().find(|e| e["event"] == "quarantined").unwrap();
    assert!(q["rule"].as_str().is_some_and(|r| !r.is_empty()), "{q}");
    assert_eq!(q["source"]["name"], "cut.dcs", "{q}");
    assert!(q["quarantine"].as_str().unwrap().starts_with('q'), "{q}");
    assert_eq!(count(&ev2, "stored"), 1, "{ev2:#?}");
    // Nothing is left waiting in the reassembly area.
    let ready = dir.path().join("work/link/ready");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_dir(&ready).unwrap().count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = std::fs::read_dir(&ready)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn every_scan_is_sanitised_in_a_fresh_worker_and_one_killed_on_time_quarantines_its_scan() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    let scans: Vec<PathBuf> = synth_many(&dir.path().join("scans"), 3, 73)
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("truth"))
        .collect();
    let core = lock.core();
    let _edge = lock.edge();
    lock.drop_files(&scans);
    let ev = lock.wait(Duration::from_secs(60), |e| {
        count(e, "stored") >= scans.len()
    });
    let stored: Vec<&Value> = ev.iter().filter(|e| e["event"] == "stored").collect();
    assert_eq!(stored.len(), scans.len(), "{ev:#?}");
    // Each in a process of its own (forked by the pipeline's zygote), none the core itself.
    let pids: std::collections::BTreeSet<u64> = stored
        .iter()
        .map(|e| e["worker_pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), scans.len(), "{stored:#?}");
    assert!(!pids.contains(&u64::from(core.0.id())));
    // No worker outlives its scan.
    for pid in &pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} still runs"
        );
    }
    drop(core);
    // A worker that outlives its time is killed (through its zygote); its scan is quarantined
    // with the reason.
    let cfg = std::fs::read_to_string(&lock.core).unwrap() + "[worker]\ntimeout_s = 0\n";
    std::fs::write(&lock.core, cfg).unwrap();
    let _core = lock.core();
    let again = dir.path().join("again.dcs");
    let mut bytes = std::fs::read(&scans[0]).unwrap();
    // A different object (one byte of the preamble), so that it is not a duplicate.
    bytes[0] ^= 1;
    std::fs::write(&again, bytes).unwrap();
    lock.drop_files(std::slice::from_ref(&again));
    let ev = lock.wait(Duration::from_secs(60), |e| count(e, "quarantined") >= 1);
    let q = ev.iter().find(|e| e["event"] == "quarantined").unwrap();
    assert_eq!(q["rule"], "worker-timeout", "{q}");
    assert!(q["reason"].as_str().unwrap().contains("killed"), "{q}");
}

#[test]
fn hostile_pdus_end_only_their_own_association_and_the_next_scan_is_stored() {
    use std::io::{Read as _, Write as _};

    use dicom_ul::association::client::ClientAssociationOptions;

    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    let scans: Vec<PathBuf> = synth_many(&dir.path().join("scans"), 1, 74)
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("truth"))
        .collect();
    let _core = lock.core();
    let mut edge = lock.edge();
    let pdu = |kind: u8, len: u32, body: &[u8]| {
        let mut b = vec![kind, 0];
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(body);
        b
    };
    // A PDV item: length, presentation context 1, control header, value.
    let item = |len: u32, control: u8, value: &[u8]| {
        let mut b = len.to_be_bytes().to_vec();
        b.extend_from_slice(&[1, control]);
        b.extend_from_slice(value);
        b
    };
    let past_its_pdu = item(100, 0x03, &[0; 10]);
    let below_two = item(1, 0x03, &[0; 10]);
    let data_first = item(12, 0x02, &[0; 10]);
    let hostile = [
        // A P-DATA-TF far longer than the PDU length the edge negotiated.
        pdu(0x04, 0x7FFF_FFFF, &[0; 64]),
        // A PDV item longer than the PDU it is in.
        pdu(0x04, past_its_pdu.len() as u32, &past_its_pdu),
        // A PDV item too short for its own header.
        pdu(0x04, below_two.len() as u32, &below_two),
        // A data set before any command.
        pdu(0x04, data_first.len() as u32, &data_first),
        // A PDU of a type that has no place in an association.
        pdu(0x09, 4, &[0; 4]),
    ];
    let addr = format!("127.0.0.1:{}", lock.dicom_port);
    for (i, bytes) in hostile.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut assoc = loop {
            match ClientAssociationOptions::new()
                .calling_ae_title("SCANNER1")
                .called_ae_title("SLUIS-EDGE")
                .with_presentation_context("1.2.840.10008.1.1", vec!["1.2.840.10008.1.2.1"])
                .establish(addr.as_str())
            {
                Ok(a) => break a,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("association: {e}"),
            }
        };
        let stream = assoc.inner_stream();
        stream.write_all(bytes).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The edge ends the association (an A-ABORT at most) instead of waiting for more.
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        let waiting = matches!(&read, Err(e) if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ));
        assert!(!waiting, "case {i}: the edge kept the association open");
        assert!(answer.len() <= 10, "case {i}: the edge answered {answer:?}");
        assert!(edge.alive(), "case {i}: the edge died");
    }
    // The edge still takes scans, and nothing hostile reached the core.
    let out = storescu(&lock, "SCANNER1", &scans);
    assert!(out.status.success(), "{out:?}");
    let ev = lock.wait(Duration::from_secs(30), |e| count(e, "stored") >= 1);
    assert_eq!(count(&ev, "stored"), 1, "{ev:#?}");
    assert_eq!(count(&ev, "quarantined"), 0, "{ev:#?}");
}
