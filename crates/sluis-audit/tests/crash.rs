//! Crash tests: a child process appends as fast as it can from several threads and reports
//! every acknowledged entry; it is killed with SIGKILL at a random moment; the log is reopened
//! and every acknowledged entry must be there, at its index, and the whole log must verify.
//!
//! The child is this test binary itself, re-run on the ignored test `crash::child_appender`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sluis_audit::{Batching, FsStore, Log, LogSigner, NoteVerifier, Policy, verify_log};

const DIR_VAR: &str = "SLUIS_CRASH_LOG_DIR";
const KEY_VAR: &str = "SLUIS_CRASH_LOG_KEY";

/// Runs only as the child of `acknowledged_entries_survive_sigkill`.
#[test]
#[ignore = "the child process of the crash test"]
fn child_appender() {
    let (Ok(dir), Ok(skey)) = (std::env::var(DIR_VAR), std::env::var(KEY_VAR)) else {
        return;
    };
    let signer = LogSigner::from_skey(&skey).unwrap();
    let store = Arc::new(FsStore::new(&dir).unwrap());
    let log = if store.root().join("checkpoint").exists() {
        Log::open(store, signer, Batching::default()).unwrap()
    } else {
        Log::create(store, signer, Batching::default()).unwrap()
    };
    let pid = std::process::id();
    std::thread::scope(|s| {
        for t in 0..6 {
            let log = &log;
            s.spawn(move || {
                for n in 0u64.. {
                    let entry = format!("{pid}-{t}-{n}");
                    let a = log.append(entry.clone().into_bytes()).unwrap();
                    // One write per line, so a kill never leaves half a line.
                    let line = format!("ack {} {entry}\n", a.index);
                    std::io::stdout().lock().write_all(line.as_bytes()).unwrap();
                }
            });
        }
    });
}

fn random_below(n: u64) -> u64 {
    let b = sluis_audit::keys::random_32().unwrap();
    u64::from_le_bytes(b[..8].try_into().unwrap()) % n
}

#[test]
fn acknowledged_entries_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let signer = LogSigner::generate("sluis.test/crash").unwrap();
    let mut acked: Vec<(u64, String)> = Vec::new();
    for round in 0..6 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash::child_appender",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .env(KEY_VAR, signer.to_skey())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    let rest = l.strip_prefix("ack ")?;
                    let (i, e) = rest.split_once(' ')?;
                    Some((i.parse::<u64>().ok()?, e.to_string()))
                })
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(150 + random_below(400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let got = reader.join().unwrap();
        assert!(
            !got.is_empty() || round > 0,
            "the child acknowledged nothing"
        );
        acked.extend(got);

        // Reopen as the writer would: recovery must succeed, and every acknowledged entry is
        // there at its index.
        let log = Log::open(
            Arc::new(FsStore::new(dir.path()).unwrap()),
            signer.clone(),
            Batching::default(),
        )
        .unwrap();
        for (index, entry) in &acked {
            assert_eq!(
                log.entry(*index).unwrap(),
                entry.as_bytes(),
                "round {round}: entry {index}"
            );
        }
        let size = log.size();
        assert!(acked.iter().all(|(i, _)| *i < size));
        log.close();
        let policy = Policy {
            log: Some(NoteVerifier::new(&signer.vkey()).unwrap()),
            ..Policy::default()
        };
        let report = verify_log(&FsStore::new(dir.path()).unwrap(), &policy, |_, _| {}).unwrap();
        assert_eq!(report.entries, size);
        // No temporary or beyond-checkpoint file is visible after recovery.
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                assert!(
                    !p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(".tmp-"),
                    "{} left behind",
                    p.display()
                );
                if p.is_dir() {
                    stack.push(p);
                }
            }
        }
    }
    assert!(
        acked.len() > 100,
        "only {} entries acknowledged in all rounds",
        acked.len()
    );
}
