//! The workstation in real Chromium: Debian's `chromium` driven by `playwright-core` (npm),
//! both installed by `./scripts/test`, against `sluis serve` over a vault of synthetic scans.
//! Screenshots are kept in `target/browser-artifacts/`.

use std::path::Path;
use std::process::Command;

use crate::{s, sluis, stderr};

#[test]
fn an_analyst_logs_in_views_a_scan_in_16_bit_and_decides_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let driver = root.join("tests/browser");
    assert!(
        driver.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: ./scripts/test runs `npm ci` in tests/browser"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is not installed: ./scripts/test installs it"
    );
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    let scans = dir.path().join("scans");
    assert!(sluis(&["vault", "init", s(&vault)]).status.success());
    let o = sluis(&[
        "synth",
        "--out",
        s(&scans),
        "--count",
        "2",
        "--seed",
        "5",
        "--kind",
        "40ft",
        "--revisit",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut files: Vec<String> = std::fs::read_dir(&scans)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".dcs"))
        .collect();
    files.sort();
    let mut args = vec!["vault", "put", s(&vault)];
    args.extend(files.iter().map(String::as_str));
    let o = sluis(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    // The declaration system's word on the container both scans are of.
    let o = sluis(&["vault", "list", s(&vault), "--json"]);
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    let declaration = serde_json::json!({
        "reference": "26NLTEST0000000042",
        "procedure": "import",
        "containers": first["scan"]["containers"],
        "conveyance": first["scan"]["conveyance"],
        "goods": [{ "description": "frozen fish fillets", "hs_code": "0304", "packages": 1200, "gross_kg": 21000.5 }]
    });
    let file = dir.path().join("declarations.jsonl");
    std::fs::write(&file, format!("{declaration}\n")).unwrap();
    let o = sluis(&["declaration", "import", s(&file), "--vault", s(&vault)]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (name, role, password) in [
        ("ana", "analyst", "a long enough passphrase"),
        ("aud", "auditor", "the auditor's passphrase"),
        ("sam", "supervisor", "the supervisor's passphrase"),
        ("adm", "administrator", "the administrator's passphrase"),
    ] {
        let add = crate::user::user_add(&vault, name, role, format!("{password}\n").as_bytes());
        assert!(add.status.success(), "{name}: {}", stderr(&add));
    }
    let port = crate::link::free_tcp_port();
    let mut server = crate::user::serve(&vault, port, true);
    let base = format!("http://127.0.0.1:{port}/");
    let artifacts = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let out = Command::new("node")
        .arg(driver.join("workstation.mjs"))
        .args([
            &base,
            "ana",
            "a long enough passphrase",
            s(&artifacts),
            "aud",
            "the auditor's passphrase",
            "sam",
            "the supervisor's passphrase",
            "adm",
            "the administrator's passphrase",
        ])
        .output()
        .expect("node");
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}\n{}\n(screenshots in {})",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        artifacts.display()
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Full resolution: the texture is the image, pixel for pixel (a 40 ft scan at 5 mm); the
    // canvas is drawn at its size on screen; cut into tiles, it renders the same.
    assert!(
        report["pixels"]["image"]["columns"].as_u64().unwrap() > 2000,
        "{report}"
    );
    assert!(
        report["pixels"]["image"]["rows"].as_u64().unwrap() > 600,
        "{report}"
    );
    assert_eq!(report["tiling"]["tiles"], 3, "{report}");
    assert!(
        report["audit"]
            .as_str()
            .unwrap()
            .contains("read logged as audit record"),
        "{report}"
    );
    assert!(
        report["audit_status"]
            .as_str()
            .unwrap()
            .starts_with("verified"),
        "{report}"
    );
    // The export downloaded in Chromium is a tar of the DICOS and its receipt, and the receipt
    // verifies offline against the log's public key and that very file.
    let export = std::path::PathBuf::from(report["export"].as_str().unwrap());
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = Command::new("tar")
        .arg("-xf")
        .arg(&export)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(tar.success());
    let dcm: Vec<_> = std::fs::read_dir(&unpacked)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    assert_eq!(dcm.len(), 1, "{dcm:?}");
    let proof = dcm[0].with_extension("dcm.tlog-proof");
    let o = sluis(&[
        "audit",
        "verify-proof",
        "--key",
        s(&vault.join("log.pub")),
        "--file",
        s(&dcm[0]),
        s(&proof),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    println!("{report}");
    // The decision is in the vault, and the reads and the decision are in its log.
    let o = sluis(&[
        "vault",
        "list",
        s(&vault),
        "--decision",
        "inspect",
        "--json",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        1,
        "{}",
        stderr(&o)
    );
    // The administrator's changes: the new account exists with its new role.
    let o = sluis(&["user", "list", "--vault", s(&vault), "--json"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(r#""name":"new.analyst","role":"supervisor""#),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let log = vault.join("log");
    let key = vault.join("log.pub");
    assert!(
        sluis(&["audit", "verify", "--log", s(&log), "--key", s(&key)])
            .status
            .success()
    );
}
