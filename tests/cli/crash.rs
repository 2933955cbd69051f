//! Crash test: `sluis vault put` killed with SIGKILL at random moments during a stream of
//! stores; after each kill every object it acknowledged is present and reads back exactly,
//! fsck is clean (an unreferenced blob of the interrupted store is allowed and reported), and
//! the log verifies. Nothing half-written is visible.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{assert_exit, init_vault, s, sluis, stdout, synth_many};

fn random_below(n: u64) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (u64::from(t.subsec_nanos()) ^ (t.as_secs() << 7)) % n
}

#[test]
fn acknowledged_stores_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let v = init_vault(dir.path());
    let files = synth_many(&dir.path().join("scans"), 12, 21);
    // Expected canonical bytes of each file.
    let mut canonical = BTreeMap::new();
    for f in &files {
        let out = dir.path().join("canonical.dcm");
        assert_exit(&sluis(&["scan", "sanitize", s(f), s(&out)]), 0);
        canonical.insert(s(f).to_string(), std::fs::read(&out).unwrap());
    }
    // How long one uninterrupted stream of these stores takes here (into a scratch vault), so
    // that the kills land inside a stream however fast storing is.
    let scratch = init_vault(&dir.path().join("scratch"));
    let started = std::time::Instant::now();
    let mut all = vec!["vault", "put", s(&scratch), "--actor", "timing"];
    all.extend(files.iter().map(|p| s(p)));
    assert_exit(&sluis(&all), 0);
    let stream_ms = u64::try_from(started.elapsed().as_millis()).unwrap().max(2);
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    let mut killed_mid_stream = 0;
    for round in 0..8u64 {
        // Each round stores the files not acknowledged yet, in a rotated order.
        let mut todo: Vec<&std::path::PathBuf> = files
            .iter()
            .filter(|f| !acked.values().any(|a| a == s(f)))
            .collect();
        if todo.is_empty() {
            break;
        }
        let rot = usize::try_from(round).unwrap() % todo.len();
        todo.rotate_left(rot);
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluis"))
            .args(["vault", "put", s(&v), "--actor", "crash-test"])
            .args(todo.iter().map(|p| s(p)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(1 + random_below(stream_ms * 3 / 4)));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed_mid_stream += 1;
        }
        for line in reader.join().unwrap() {
            let mut parts = line.splitn(3, ' ');
            if let (Some("stored" | "duplicate"), Some(id), Some(file)) =
                (parts.next(), parts.next(), parts.next())
            {
                acked.insert(id.to_string(), file.to_string());
            }
        }
        // After the crash: every acknowledged object is there and reads back exactly.
        for (id, file) in &acked {
            let got = dir.path().join("got.dcm");
            let o = sluis(&[
                "vault",
                "get",
                s(&v),
                id,
                "--out",
                s(&got),
                "--actor",
                "checker",
                "--purpose",
                "test",
            ]);
            assert_exit(&o, 0);
            assert_eq!(
                &std::fs::read(&got).unwrap(),
                &canonical[file],
                "round {round}: {id} ({file})"
            );
        }
        let f = sluis(&["vault", "fsck", s(&v)]);
        assert_exit(&f, 0);
        // Every listed scan is one of ours: nothing half-written is visible.
        let list = sluis(&["vault", "list", s(&v), "--json", "--limit", "1000"]);
        let listed: Vec<serde_json::Value> = stdout(&list)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            listed.len() >= acked.len() && listed.len() <= files.len(),
            "round {round}: {} listed",
            listed.len()
        );
        assert!(listed.iter().all(|r| r["state"] == "live"));
        assert_exit(
            &sluis(&[
                "audit",
                "verify",
                "--log",
                s(&v.join("log")),
                "--key",
                s(&v.join("log.pub")),
            ]),
            0,
        );
    }
    assert!(killed_mid_stream > 0, "no round was killed while storing");
    // Finally everything goes in; each file is stored once.
    let mut args = vec!["vault", "put", s(&v)];
    args.extend(files.iter().map(|p| s(p)));
    assert_exit(&sluis(&args), 0);
    let list = sluis(&["vault", "list", s(&v), "--json", "--limit", "1000"]);
    assert_eq!(stdout(&list).lines().count(), files.len());
}
