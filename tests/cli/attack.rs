//! The attacks of issue 14, replayed against the CLI as an adversary in the enclave would run
//! them: each test reproduces one attack and fails if the defect it guards against came back.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::link::{Lock, fates, log_records};
use crate::synth_many;

/// A UDP forwarder between the edge and the core that keeps a copy of every heartbeat it
/// passes on, as a tap on the enclave's network would.
struct Tap {
    addr: SocketAddr,
    heartbeats: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tap {
    fn start(to: SocketAddr) -> Tap {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let heartbeats = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, st) = (heartbeats.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let out = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut buf = vec![0u8; 65536];
            while !st.load(Ordering::Relaxed) {
                let Ok(n) = sock.recv(&mut buf) else {
                    continue;
                };
                let d = &buf[..n];
                if d.len() > 4 && d[3] == sluis_link::wire::Kind::Heartbeat as u8 {
                    h.lock().unwrap().push(d.to_vec());
                }
                let _ = out.send_to(d, to);
            }
        });
        Tap {
            addr,
            heartbeats,
            stop,
            thread: Some(thread),
        }
    }

    /// The last heartbeat passed on, and how many there were.
    fn last(&self) -> (Vec<u8>, usize) {
        let h = self.heartbeats.lock().unwrap();
        (h.last().cloned().unwrap(), h.len())
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn epoch_of(datagram: &[u8]) -> u32 {
    u32::from_be_bytes(datagram[4..8].try_into().unwrap())
}

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["event"] == kind).count()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[test]
fn replayed_heartbeats_from_two_earlier_edge_runs_do_not_hide_a_cut_link() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    let _core = lock.core();
    let tap = Tap::start(lock.core_addr());
    // Two edge runs, one after the other, each captured on the wire.
    let mut captured = Vec::new();
    for _ in 0..2 {
        let edge = lock.edge_to(tap.addr);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tap.heartbeats.lock().unwrap().len() < captured.len() * 100 + 5
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(edge);
        std::thread::sleep(Duration::from_millis(300));
        let (last, n) = tap.last();
        captured.push(last);
        tap.heartbeats.lock().unwrap().truncate(0);
        assert!(n >= 5);
    }
    let (e1, e2) = (epoch_of(&captured[0]), epoch_of(&captured[1]));
    assert!(e2 > e1, "an edge run's epoch must grow: {e1} then {e2}");
    // No edge runs. The attacker sends the two heartbeats alternately, ten a second, for
    // longer than the core's tolerance (1 s here) allows silence.
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let replay = |secs: u64| {
        let until = Instant::now() + Duration::from_secs(secs);
        let mut i = 0;
        while Instant::now() < until {
            attacker
                .send_to(&captured[i % 2], lock.core_addr())
                .unwrap();
            i += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    replay(4);
    let m = lock.metrics();
    assert_eq!(metric(&m, "sluis_link_rx_link_up"), 0.0, "{m}");
    assert!(metric(&m, "sluis_link_rx_replayed_total") >= 30.0, "{m}");
    let ev = lock.events();
    assert_eq!(count(&ev, "heartbeat-missed"), 1, "{ev:#?}");
    // Two runs began: both on the record. No resumption after the last real heartbeat.
    assert_eq!(count(&ev, "edge-restarted"), 2, "{ev:#?}");
    let missed_at = ev
        .iter()
        .position(|e| e["event"] == "heartbeat-missed")
        .unwrap();
    assert_eq!(count(&ev[missed_at..], "heartbeat-resumed"), 0, "{ev:#?}");
    assert!(count(&ev, "replayed") >= 1, "{ev:#?}");
    // A restarted core remembers the newest run: the replays still change nothing.
    drop(_core);
    let _core = lock.core();
    std::thread::sleep(Duration::from_millis(800));
    replay(3);
    let m = lock.metrics();
    assert_eq!(metric(&m, "sluis_link_rx_link_up"), 0.0, "{m}");
    assert!(metric(&m, "sluis_link_rx_replayed_total") >= 20.0, "{m}");
    let ev = lock.events();
    assert_eq!(count(&ev[missed_at..], "heartbeat-resumed"), 0, "{ev:#?}");
    assert_eq!(count(&ev, "edge-restarted"), 2, "{ev:#?}");
    // The log says so too: the two runs, the replays, and no false "resumed".
    let records = log_records(&lock.vault);
    let link: Vec<&str> = records
        .iter()
        .filter(|r| r["action"] == "link")
        .map(|r| r["detail"].as_str().unwrap_or_default())
        .collect();
    assert!(
        link.iter().any(|d| d.contains("first edge run heard")),
        "{link:?}"
    );
    assert!(
        link.iter()
            .any(|d| d.contains(&format!("edge restarted: epoch {e1} -> {e2}"))),
        "{link:?}"
    );
    assert!(link.iter().any(|d| d.contains("replayed")), "{link:?}");
    let resumed_after = link
        .iter()
        .skip_while(|d| !d.contains("no heartbeat"))
        .filter(|d| d.contains("resumed"))
        .count();
    assert_eq!(resumed_after, 0, "{link:?}");
}

/// Unsigned data datagrams as an attacker in the enclave makes them (the CRC is no secret).
fn junk(seq: &mut u64, object: u64, block: u32, symbol_id: u32) -> Vec<u8> {
    use sluis_link::wire::{self, Header, Kind, Shape};
    let t = sluis_link::Coding::default().symbol_size();
    *seq += 1;
    let h = Header {
        kind: Kind::Data,
        epoch: 1,
        seq: *seq,
        object,
    };
    let shape = Shape {
        length: 1 << 30,
        symbols_per_block: 1024,
        symbol_size: t,
    };
    let mut d = Vec::new();
    wire::put_data_header(&mut d, &h, &shape, block, symbol_id);
    d.resize(d.len() + usize::from(t), 0x5A);
    wire::seal(&mut d);
    d
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                // Allocated bytes, as `du` counts them: what the disk really holds.
                use std::os::unix::fs::MetadataExt as _;
                std::fs::metadata(&p).map_or(0, |m| m.blocks() * 512)
            }
        })
        .sum()
}

#[test]
fn unsigned_junk_at_ten_times_the_attack_rate_starves_no_genuine_object_and_stays_off_disk() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    // A reassembly budget small enough to see: 48 MiB.
    let budget: u64 = 48 << 20;
    let cfg = std::fs::read_to_string(&lock.core).unwrap().replace(
        "[receiver]\n",
        &format!("[receiver]\nmax_disk_bytes = {budget}\n"),
    );
    std::fs::write(&lock.core, cfg).unwrap();
    let _core = lock.core();
    std::thread::sleep(Duration::from_millis(500));
    // The attack, 900 datagrams a second (ten times the 90/s that starved intake): 32 junk
    // sessions kept fresh, and whole fake blocks of two declared 1 GiB objects.
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(Mutex::new(0u64));
    let (st, to, reassembly) = (stop.clone(), lock.core_addr(), dir.path().join("work/link"));
    let most_seen = most.clone();
    let attacker = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (mut seq, mut sent) = (0u64, 0u64);
        let start = Instant::now();
        // Bounded in count and time.
        while !st.load(Ordering::Relaxed) && sent < 60_000 && start.elapsed().as_secs() < 60 {
            for _ in 0..90 {
                let d = if sent % 3 == 0 {
                    junk(&mut seq, 90_000 + sent % 32, 0, 0)
                } else {
                    let n = sent / 3;
                    junk(
                        &mut seq,
                        80_000 + (n / 1024) % 2,
                        (n / 2048) as u32,
                        (n % 1024) as u32,
                    )
                };
                let _ = sock.send_to(&d, to);
                sent += 1;
            }
            let b = dir_bytes(&reassembly);
            let mut m = most_seen.lock().unwrap();
            *m = (*m).max(b);
            drop(m);
            std::thread::sleep(Duration::from_millis(100));
        }
        sent
    });
    // Meanwhile the edge sends genuine scans.
    let scans = synth_many(&dir.path().join("scans"), 8, 61);
    let _edge = lock.edge();
    std::thread::sleep(Duration::from_millis(500));
    lock.drop_files(&scans);
    let ev = lock.wait(Duration::from_secs(60), |e| fates(e).len() >= scans.len());
    stop.store(true, Ordering::Relaxed);
    let sent = attacker.join().unwrap();
    let f = fates(&ev);
    assert_eq!(f.len(), scans.len(), "{f:?}");
    assert!(f.values().all(|v| v == "stored"), "{f:?}");
    assert!(sent > 1000, "the attack ran: {sent} datagrams");
    let m = lock.metrics();
    assert!(metric(&m, "sluis_link_rx_junk_sessions_total") > 0.0, "{m}");
    assert!(
        metric(&m, "sluis_link_rx_disk_bytes") <= budget as f64,
        "{m}"
    );
    let most = *most.lock().unwrap();
    assert!(
        most <= budget,
        "the reassembly directory held {most} bytes, past its budget of {budget}"
    );
    // Junk never got a file of its own.
    let parts: Vec<String> = std::fs::read_dir(dir.path().join("work/link/tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        parts
            .iter()
            .all(|p| p.split('.').next().unwrap().parse::<u64>().unwrap() < 80_000),
        "{parts:?}"
    );
}

/// A TCP connection to the edge's DICOM port from `from` (another loopback address: the
/// attacker is another host in the enclave).
fn connect_from(from: [u8; 4], port: u16) -> Option<std::net::TcpStream> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    sock.bind(&SocketAddr::from((from, 0)).into()).ok()?;
    sock.connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)).into(),
        Duration::from_secs(1),
    )
    .ok()?;
    Some(sock.into())
}

#[test]
fn idle_and_dribbling_sockets_from_one_host_never_keep_an_allowed_scanner_out() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::new(dir.path(), "");
    // A short ARTIM time keeps the test short; the defaults (10 s) behave the same, slower.
    let cfg = std::fs::read_to_string(&lock.edge).unwrap().replace(
        "allowed_calling = [\"SCANNER1\"]\n",
        "allowed_calling = [\"SCANNER1\"]\nartim_s = 2\ntimeout_s = 3\n",
    );
    std::fs::write(&lock.edge, cfg).unwrap();
    let _core = lock.core();
    let _edge = lock.edge();
    std::thread::sleep(Duration::from_millis(800));
    // The attacker, from 127.0.0.2: 50 sockets, half idle, half sending one byte every 2 s
    // (of a PDU header that never completes), reopened whenever the edge closes one. Bounded
    // in count and time.
    let stop = Arc::new(AtomicBool::new(false));
    let (st, port) = (stop.clone(), lock.dicom_port);
    let attacker = std::thread::spawn(move || {
        let mut socks: Vec<(std::net::TcpStream, bool)> = Vec::new();
        let (mut opened, start) = (0u32, Instant::now());
        let mut last_drip = Instant::now();
        while !st.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(40) {
            use std::io::{Read as _, Write as _};
            // Drop the ones the edge closed.
            socks.retain_mut(|(s, _)| {
                let _ = s.set_nonblocking(true);
                let mut b = [0u8; 64];
                match s.read(&mut b) {
                    Ok(0) => false,
                    Ok(_) => true,
                    Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
                }
            });
            while socks.len() < 50 && opened < 5000 {
                let Some(s) = connect_from([127, 0, 0, 2], port) else {
                    break;
                };
                opened += 1;
                socks.push((s, opened % 2 == 0));
            }
            if last_drip.elapsed() >= Duration::from_secs(2) {
                for (s, dribble) in &mut socks {
                    if *dribble {
                        let _ = s.write(&[0x01]);
                    }
                }
                last_drip = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        opened
    });
    std::thread::sleep(Duration::from_millis(500));
    // Throughout, the scanner stores: each storescu is served within seconds.
    let scans = synth_many(&dir.path().join("scans"), 6, 71);
    for scan in &scans {
        let started = Instant::now();
        let out = std::process::Command::new("timeout")
            .args([
                "10",
                "storescu",
                "-R",
                "-aet",
                "SCANNER1",
                "-aec",
                "SLUIS-EDGE",
                "127.0.0.1",
            ])
            .arg(lock.dicom_port.to_string())
            .arg(scan)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "storescu refused while the attack ran: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "storescu took {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(1000));
    }
    stop.store(true, Ordering::Relaxed);
    let opened = attacker.join().unwrap();
    assert!(opened > 50, "the attacker kept reopening: {opened} sockets");
    let ev = lock.wait(Duration::from_secs(30), |e| fates(e).len() >= scans.len());
    assert!(
        fates(&ev).values().filter(|v| *v == "stored").count() == scans.len(),
        "{:?}",
        fates(&ev)
    );
    let m = lock.edge_metrics();
    assert!(
        metric(&m, "sluis_link_tx_connections_refused_total") > 0.0,
        "{m}"
    );
    assert!(
        metric(&m, "sluis_link_tx_connections_cut_total") > 0.0,
        "{m}"
    );
}

#[test]
fn every_file_the_demo_leaves_is_owner_only_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    // An existing directory that others can read, as `mkdir` under umask 022 leaves it.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join(".sluis-demo"), b"made by sluis demo\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 022 && exec '{}' demo --no-serve --count 3 --out '{}'",
            env!("CARGO_BIN_EXE_sluis"),
            out.display()
        ))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let open = sluis_secret::open_to_others(&out).unwrap();
    assert!(open.is_empty(), "open to others: {open:#?}");
    // Everything is there to be checked: the vault and its index, blobs, log, keys; the lock's
    // spool, the core's events and ledger; previews, exports, the watch's alerts.
    for p in [
        "vault/index.sqlite",
        "vault/log/checkpoint",
        "vault/vault.toml",
        "vault/accounts.sqlite",
        "lock/core/events.jsonl",
        "lock/core/ledger.json",
        "lock/spool/epoch",
        "watch/eve.json",
    ] {
        assert!(out.join(p).exists(), "{p} missing");
    }
    // `vault init` into an existing directory others can read tightens it.
    let v = dir.path().join("open-vault");
    std::fs::create_dir(&v).unwrap();
    std::fs::set_permissions(&v, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = crate::sluis(&["vault", "init", v.to_str().unwrap()]);
    crate::assert_exit(&o, 0);
    assert!(sluis_secret::open_to_others(&v).unwrap().is_empty());
    // And a vault opened up later is tightened when it is next opened.
    std::fs::set_permissions(&v, std::fs::Permissions::from_mode(0o755)).unwrap();
    crate::assert_exit(&crate::sluis(&["vault", "list", v.to_str().unwrap()]), 0);
    let mode = std::fs::metadata(&v).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn audit_verify_given_the_vault_instead_of_its_log_verifies_the_vaults_log_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let vault = crate::init_vault(dir.path());
    let key = vault.join("log.pub");
    let o = crate::sluis(&[
        "audit",
        "verify",
        "--log",
        vault.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    crate::assert_exit(&o, 0);
    assert!(
        crate::stderr(&o).contains("is a vault; verifying its log"),
        "{}",
        crate::stderr(&o)
    );
    // A directory that is neither says what it is not.
    let o = crate::sluis(&[
        "audit",
        "verify",
        "--log",
        dir.path().to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    crate::assert_exit(&o, 3);
    assert!(
        crate::stderr(&o).contains("is not a log: it has no checkpoint"),
        "{}",
        crate::stderr(&o)
    );
}
