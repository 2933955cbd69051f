//! `sluis vault`: a scan's life as an operator, an analyst and a key custodian see it.

use std::os::unix::fs::PermissionsExt;

use crate::{
    assert_exit, blob_path, hostile, id_of, init_vault, s, sluis, snapshot, stderr, stdout,
    synth_many,
};

#[test]
fn init_put_get_export_list_and_fsck() {
    let dir = tempfile::tempdir().unwrap();
    let scans = synth_many(&dir.path().join("scans"), 2, 3);
    let bad = hostile(dir.path(), "trailing-bytes");
    let out = sluis(&[
        "vault",
        "init",
        s(&dir.path().join("v")),
        "--origin",
        "customs.test/sluis",
    ]);
    assert_exit(&out, 0);
    let v = dir.path().join("v");
    let printed = stdout(&out);
    let vkey = std::fs::read_to_string(v.join("log.pub")).unwrap();
    assert!(
        printed.contains(vkey.trim()),
        "init prints the log's public key:\n{printed}"
    );
    for key in ["kek-1.key", "index.key", "log.key"] {
        let mode = std::fs::metadata(v.join("keys").join(key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    assert_eq!(
        std::fs::metadata(v.join("keys"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // A second init in the same place is refused.
    assert_exit(&sluis(&["vault", "init", s(&v)]), 3);

    // Put: scans stored, the hostile file quarantined (exit 1), both printed.
    let mut args = vec!["vault", "put", s(&v), "--actor", "operator.one"];
    args.extend(scans.iter().map(|p| s(p)));
    args.push(s(&bad));
    let put = sluis(&args);
    assert_exit(&put, 1);
    let text = stdout(&put);
    let scan_id = id_of(&text, &scans[1]);
    let q_id = id_of(&text, &bad);
    assert!(
        scan_id.starts_with("s-") && q_id.starts_with("q-"),
        "{text}"
    );
    assert!(
        text.contains("quarantined") && text.contains("trailing"),
        "{text}"
    );
    // Put again: duplicates, nothing stored twice.
    let again = sluis(&["vault", "put", s(&v), s(&scans[1])]);
    assert_exit(&again, 0);
    assert!(
        stdout(&again).starts_with(&format!("duplicate {scan_id}")),
        "{}",
        stdout(&again)
    );

    // List: scans only; the quarantine apart.
    let list = sluis(&["vault", "list", s(&v)]);
    assert_exit(&list, 0);
    assert_eq!(
        stdout(&list).lines().count(),
        scans.len() + 1,
        "{}",
        stdout(&list)
    );
    assert!(!stdout(&list).contains(&q_id));
    let ql = sluis(&["vault", "list", s(&v), "--quarantine"]);
    assert!(stdout(&ql).contains(&q_id), "{}", stdout(&ql));

    // Get: the canonical DICOS the sanitiser makes of the file, byte for byte.
    let got = dir.path().join("got.dcm");
    let g = sluis(&[
        "vault",
        "get",
        s(&v),
        &scan_id,
        "--out",
        s(&got),
        "--actor",
        "analyst.one",
        "--purpose",
        "analysis",
    ]);
    assert_exit(&g, 0);
    let direct = dir.path().join("direct.dcm");
    assert_exit(&sluis(&["scan", "sanitize", s(&scans[1]), s(&direct)]), 0);
    assert_eq!(
        std::fs::read(&got).unwrap(),
        std::fs::read(&direct).unwrap()
    );
    // Without a purpose: refused by the command line. An unknown id: exit 3, nothing written.
    assert_exit(
        &sluis(&[
            "vault",
            "get",
            s(&v),
            &scan_id,
            "--out",
            s(&got),
            "--actor",
            "a",
        ]),
        2,
    );
    let none = dir.path().join("none.dcm");
    let o = sluis(&[
        "vault",
        "get",
        s(&v),
        "s-00000000000000000000000000000000",
        "--out",
        s(&none),
        "--actor",
        "a",
        "--purpose",
        "analysis",
    ]);
    assert_exit(&o, 3);
    assert!(!none.exists());

    // Export with a receipt that verifies against the file, and not against another file.
    let ex = dir.path().join("export");
    assert_exit(
        &sluis(&[
            "vault",
            "export",
            s(&v),
            &scan_id,
            "--to",
            s(&ex),
            "--actor",
            "analyst.one",
            "--purpose",
            "evidence",
        ]),
        0,
    );
    let dcm = ex.join(format!("{scan_id}.dcm"));
    let proof = ex.join(format!("{scan_id}.dcm.tlog-proof"));
    let vp = sluis(&[
        "audit",
        "verify-proof",
        s(&proof),
        "--key",
        s(&v.join("log.pub")),
        "--file",
        s(&dcm),
    ]);
    assert_exit(&vp, 0);
    assert!(
        stdout(&vp).contains("is the exported file"),
        "{}",
        stdout(&vp)
    );
    assert_exit(
        &sluis(&[
            "audit",
            "verify-proof",
            s(&proof),
            "--key",
            s(&v.join("log.pub")),
            "--file",
            s(&scans[0]),
        ]),
        5,
    );
    // The quarantined input, exported as it came, with its refusal.
    assert_exit(
        &sluis(&[
            "vault",
            "export",
            s(&v),
            &q_id,
            "--quarantine",
            "--to",
            s(&ex),
            "--actor",
            "forensics",
            "--purpose",
            "incident-response",
        ]),
        0,
    );
    assert_eq!(
        std::fs::read(ex.join(format!("{q_id}.bin"))).unwrap(),
        std::fs::read(&bad).unwrap()
    );
    assert!(
        std::fs::read_to_string(ex.join(format!("{q_id}.refusal.json")))
            .unwrap()
            .contains("trailing")
    );

    let f = sluis(&["vault", "fsck", s(&v)]);
    assert_exit(&f, 0);
    assert!(stdout(&f).contains("5 verified"), "{}", stdout(&f));

    // A flipped bit in the scan's blob: get exits 5 naming the object; fsck too.
    let blob = blob_path(&v, &scan_id, false);
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x04;
    std::fs::write(&blob, &bytes).unwrap();
    let o = sluis(&[
        "vault",
        "get",
        s(&v),
        &scan_id,
        "--out",
        s(&dir.path().join("x.dcm")),
        "--actor",
        "a",
        "--purpose",
        "analysis",
    ]);
    assert_exit(&o, 5);
    assert!(stderr(&o).contains(&scan_id), "{}", stderr(&o));
    assert!(!dir.path().join("x.dcm").exists());
    let f = sluis(&["vault", "fsck", s(&v)]);
    assert_exit(&f, 5);
    assert!(
        stdout(&f).contains(&format!("DAMAGED {scan_id}")),
        "{}",
        stdout(&f)
    );
}

#[test]
fn exposed_or_missing_keys_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let v = init_vault(dir.path());
    let scans = synth_many(&dir.path().join("scans"), 1, 4);
    let kek = v.join("keys/kek-1.key");
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = snapshot(&v);
    let o = sluis(&["vault", "put", s(&v), s(&scans[0])]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    assert_eq!(snapshot(&v), before);
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    let saved = std::fs::read(&kek).unwrap();
    std::fs::remove_file(&kek).unwrap();
    let before = snapshot(&v);
    let o = sluis(&["vault", "list", s(&v)]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    assert_eq!(snapshot(&v), before);
    // Another vault's key: refused as the wrong key.
    let other = init_vault(&dir.path().join("other"));
    std::fs::copy(other.join("keys/kek-1.key"), &kek).unwrap();
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = sluis(&["vault", "put", s(&v), s(&scans[0])]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("wrong key files"), "{}", stderr(&o));
    std::fs::write(&kek, saved).unwrap();
    assert_exit(&sluis(&["vault", "put", s(&v), s(&scans[0])]), 0);
}

#[test]
fn decide_expire_and_rotate_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let v = init_vault(dir.path());
    let scans = synth_many(&dir.path().join("scans"), 2, 6);
    let mut args = vec!["vault", "put", s(&v)];
    args.extend(scans.iter().map(|p| s(p)));
    let put = sluis(&args);
    assert_exit(&put, 0);
    // Decisions are on scans, not on their ground-truth reports (a threat report is refused).
    let images: Vec<&std::path::PathBuf> = scans
        .iter()
        .filter(|p| !p.to_string_lossy().contains("truth"))
        .collect();
    let (a, b) = (
        id_of(&stdout(&put), images[0]),
        id_of(&stdout(&put), images[1]),
    );
    let report = scans
        .iter()
        .find(|p| p.to_string_lossy().contains("truth"))
        .unwrap();
    let tdr = id_of(&stdout(&put), report);
    assert_exit(
        &sluis(&[
            "vault",
            "decide",
            s(&v),
            &tdr,
            "--decision",
            "clear",
            "--actor",
            "ana",
        ]),
        2,
    );
    let cfg = v.join("vault.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("cleared = \"90d\"", "cleared = \"0s\"");
    std::fs::write(&cfg, text).unwrap();
    assert_exit(
        &sluis(&[
            "vault",
            "decide",
            s(&v),
            &a,
            "--decision",
            "clear",
            "--actor",
            "analyst",
        ]),
        0,
    );
    assert_exit(
        &sluis(&[
            "vault",
            "decide",
            s(&v),
            &b,
            "--decision",
            "maybe",
            "--actor",
            "analyst",
        ]),
        2,
    );
    let list = sluis(&["vault", "list", s(&v), "--decision", "clear"]);
    assert!(
        stdout(&list).contains(&a) && !stdout(&list).contains(&b),
        "{}",
        stdout(&list)
    );

    let blobs_before = snapshot(&v.join("blobs"));
    let r = sluis(&["vault", "rotate-key", s(&v), "--actor", "custodian"]);
    assert_exit(&r, 0);
    assert!(
        stdout(&r).contains("data key(s) rewrapped"),
        "{}",
        stdout(&r)
    );
    assert_eq!(
        snapshot(&v.join("blobs")),
        blobs_before,
        "rotation does not touch blobs"
    );
    assert!(!v.join("keys/kek-1.key").exists());

    let e = sluis(&["vault", "expire", s(&v)]);
    assert_exit(&e, 0);
    assert!(
        stdout(&e).contains(&format!("shredded {a}")),
        "{}",
        stdout(&e)
    );
    let o = sluis(&[
        "vault",
        "get",
        s(&v),
        &a,
        "--out",
        s(&dir.path().join("a.dcm")),
        "--actor",
        "x",
        "--purpose",
        "analysis",
    ]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("no scan"), "{}", stderr(&o));
    assert_exit(
        &sluis(&[
            "vault",
            "get",
            s(&v),
            &b,
            "--out",
            s(&dir.path().join("b.dcm")),
            "--actor",
            "x",
            "--purpose",
            "analysis",
        ]),
        0,
    );
    let tomb = sluis(&["vault", "list", s(&v), "--shredded"]);
    assert!(stdout(&tomb).contains("shredded"), "{}", stdout(&tomb));
    assert_exit(&sluis(&["vault", "fsck", s(&v)]), 0);
}
