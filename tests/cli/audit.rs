//! `sluis audit` and `sluis witness` as an auditor runs them: a log verified from a directory
//! and over HTTP (Python's http.server serving the files as they are), a witness over HTTP
//! cosigning, tampering found and named, the update gate's one-digest rule checked from the
//! log's records.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::{assert_exit, init_vault, s, sluis, stderr, stdout, synth_many};

/// A child process killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Python's static file server on a free loopback port, serving `dir`.
fn http_server(dir: &Path) -> (Server, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
            s(dir),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 (./scripts/test installs it)");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (Server(child), url)
}

/// `sluis witness serve` on a free port; returns it and its URL.
fn witness(dir: &Path, log_pub: &Path) -> (Server, String, String) {
    let key = dir.join("witness.key");
    let init = sluis(&[
        "witness",
        "init",
        "--name",
        "witness.auditor.test",
        "--key-file",
        s(&key),
    ]);
    assert_exit(&init, 0);
    let vkey = stdout(&init).trim().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluis"))
        .args([
            "witness",
            "serve",
            "--key-file",
            s(&key),
            "--log",
            s(log_pub),
            "--state",
            s(&dir.join("witness.json")),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    (Server(child), url, vkey)
}

fn populated(dir: &Path, files: u32) -> std::path::PathBuf {
    let v = init_vault(dir);
    let scans = synth_many(&dir.join("scans"), files, 8);
    let mut args = vec!["vault", "put", s(&v)];
    args.extend(scans.iter().map(|p| s(p)));
    assert_exit(&sluis(&args), 0);
    v
}

#[test]
fn a_log_verifies_from_its_directory_and_over_http_and_keeps_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let v = populated(dir.path(), 3);
    let key = v.join("log.pub");
    let kept = dir.path().join("kept.checkpoint");
    let o = sluis(&[
        "audit",
        "verify",
        "--log",
        s(&v.join("log")),
        "--key",
        s(&key),
        "--save",
        s(&kept),
    ]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("verifies: 7 entries"), "{}", stdout(&o));
    // More happens; the auditor comes back over HTTP with the checkpoint they kept.
    let scans = synth_many(&dir.path().join("more"), 1, 9);
    assert_exit(
        &sluis(&["vault", "put", s(&v), s(&scans[0]), s(&scans[1])]),
        0,
    );
    let (_server, url) = http_server(&v.join("log"));
    let o = sluis(&[
        "audit",
        "verify",
        "--log",
        &url,
        "--key",
        s(&key),
        "--since",
        s(&kept),
        "--save",
        s(&kept),
    ]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("consistent with the checkpoint you kept (size 7)"),
        "{}",
        stdout(&o)
    );
    // The wrong key: exit 5.
    let other = init_vault(&dir.path().join("other"));
    assert_exit(
        &sluis(&[
            "audit",
            "verify",
            "--log",
            &url,
            "--key",
            s(&other.join("log.pub")),
        ]),
        5,
    );
}

#[test]
fn tampering_is_named_by_the_auditor() {
    let dir = tempfile::tempdir().unwrap();
    let v = populated(dir.path(), 3);
    let key = v.join("log.pub");
    let bundle = v.join("log/tile/entries/000.p/7");
    let original = std::fs::read(&bundle).unwrap();
    // A byte inside entry 4's record (entries are u16 length + JSON).
    let mut at = 0;
    for _ in 0..4 {
        at += 2 + usize::from(u16::from_be_bytes([original[at], original[at + 1]]));
    }
    let mut bad = original.clone();
    bad[at + 2 + 30] ^= 0x01;
    std::fs::write(&bundle, &bad).unwrap();
    let o = sluis(&[
        "audit",
        "verify",
        "--log",
        s(&v.join("log")),
        "--key",
        s(&key),
    ]);
    assert_exit(&o, 5);
    let err = crate::stderr(&o);
    assert!(err.contains("entry 4"), "{err}");
    std::fs::write(&bundle, &original).unwrap();
    // A changed checkpoint.
    let cp = v.join("log/checkpoint");
    let text = std::fs::read_to_string(&cp).unwrap();
    std::fs::write(&cp, text.replacen("\n7\n", "\n6\n", 1)).unwrap();
    let o = sluis(&[
        "audit",
        "verify",
        "--log",
        s(&v.join("log")),
        "--key",
        s(&key),
    ]);
    assert_exit(&o, 5);
    assert!(
        crate::stderr(&o).contains("signature"),
        "{}",
        crate::stderr(&o)
    );
}

#[test]
fn a_witness_over_http_cosigns_and_receipts_carry_its_cosignature() {
    let dir = tempfile::tempdir().unwrap();
    let v = populated(dir.path(), 1);
    let key = v.join("log.pub");
    let (_w, url, wkey) = witness(dir.path(), &key);
    let cfg = v.join("vault.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[[witness]]\nurl = \"{url}\"\nkey = \"{wkey}\"\n"
    ));
    std::fs::write(&cfg, text).unwrap();
    // The auditor's workstation account (its creation is logged too, before the cosigning).
    let add = crate::user::user_add(&v, "aud", "auditor", b"the auditor's passphrase\n");
    assert_exit(&add, 0);
    let c = sluis(&["audit", "cosign", s(&v)]);
    assert_exit(&c, 0);
    assert!(stdout(&c).contains("cosigned size 4"), "{}", stdout(&c));
    let list = sluis(&["vault", "list", s(&v), "--json"]);
    let id = stdout(&list)
        .lines()
        .next()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // An export asks the witness first, so its receipt carries the cosignature.
    let ex = dir.path().join("ex");
    assert_exit(
        &sluis(&[
            "vault",
            "export",
            s(&v),
            &id,
            "--to",
            s(&ex),
            "--actor",
            "a",
            "--purpose",
            "court-order",
        ]),
        0,
    );
    let proof = ex.join(format!("{id}.dcm.tlog-proof"));
    let o = sluis(&[
        "audit",
        "verify-proof",
        s(&proof),
        "--key",
        s(&key),
        "--witness",
        &wkey,
    ]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("cosigned by witness.auditor.test"),
        "{}",
        stdout(&o)
    );
    let o = sluis(&[
        "audit",
        "verify",
        "--log",
        s(&v.join("log")),
        "--key",
        s(&key),
        "--witness",
        &wkey,
    ]);
    assert_exit(&o, 0);
    // A witness nobody configured does not count.
    let stranger = sluis(&[
        "witness",
        "init",
        "--name",
        "stranger.test",
        "--key-file",
        s(&dir.path().join("s.key")),
    ]);
    let skey = stdout(&stranger).trim().to_string();
    assert_exit(
        &sluis(&[
            "audit",
            "verify-proof",
            s(&proof),
            "--key",
            s(&key),
            "--witness",
            &skey,
        ]),
        5,
    );
    // The workstation's auditor page names the witness and says it cosigned the latest
    // checkpoint (the export asked it after its record was appended).
    let port = crate::link::free_tcp_port();
    let mut server = crate::user::serve(&v, port, true);
    let base = format!("http://127.0.0.1:{port}");
    let jar = dir.path().join("jar");
    let (code, body) = crate::user::curl_login(
        &[],
        &jar,
        &format!("{base}/api/login"),
        "aud",
        "the auditor's passphrase",
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = crate::user::curl(&["-b", s(&jar), &format!("{base}/api/audit")]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code, 200, "{body}");
    let a: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(a["verification"]["verified"], true, "{body}");
    assert_eq!(a["witness_cosignatures"], 1, "{body}");
    assert_eq!(a["witnesses"][0]["name"], "witness.auditor.test", "{body}");
    assert_eq!(a["witnesses"][0]["cosigned_latest"], true, "{body}");
}

#[test]
fn the_auditor_finds_two_digests_accepted_for_one_release() {
    use sluis_gate::releases::{ReleaseBook, ReleaseName, Seen};
    let dir = tempfile::tempdir().unwrap();
    let v = init_vault(dir.path());
    let station = sluis_audit::ActorId::new("sluis-gate").unwrap();
    let name = |version: &str| ReleaseName::new("acme", "xr-9000", version).unwrap();
    let log = |seen: &Seen| {
        let vault = sluis_vault::Vault::open(&v).unwrap();
        vault
            .log_release(
                &seen.name.object(),
                seen.outcome(),
                &seen.detail(),
                &station,
            )
            .unwrap();
    };
    // A station that keeps the rule: the same digest twice is fine, a second one is refused.
    let mut book = ReleaseBook::default();
    for (version, digest) in [("4.2.1", 1u8), ("4.2.1", 1), ("4.2.1", 2), ("4.2.2", 3)] {
        log(&book.see(name(version), [digest; 32]).1);
    }
    let verify = || {
        sluis(&[
            "audit",
            "verify",
            "--log",
            s(&v.join("log")),
            "--key",
            s(&v.join("log.pub")),
        ])
    };
    let o = verify();
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("releases: 2 named, 1 second digests refused"),
        "{}",
        stdout(&o)
    );
    // A station that accepted a second digest for 4.2.2 (a build made for this authority).
    log(&Seen {
        name: name("4.2.2"),
        digest: [9; 32],
        first: None,
        accepted: true,
    });
    let o = verify();
    assert_exit(&o, 5);
    assert!(
        stderr(&o).contains("release rule broken: acme/xr-9000/4.2.2: accepted with"),
        "{}",
        stderr(&o)
    );
}
