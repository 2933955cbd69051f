//! `sluis scan`, `synth` and `demo`.

use std::process::Command;

use sluis_synth::hostile::{Expect, corpus};

use crate::{hostile, s, sluis, stderr, synth};

#[test]
fn synth_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in [a.path(), b.path()] {
        let out = sluis(&[
            "synth",
            "--out",
            s(d),
            "--count",
            "2",
            "--seed",
            "9",
            "--pixel-mm",
            "20",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("scan-0001.dcs"));
    }
    for f in ["scan-0000.dcs", "scan-0000-truth.dcs", "scan-0001.dcs"] {
        assert_eq!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
            "{f}"
        );
    }
    let bad = sluis(&["synth", "--out", s(a.path()), "--kind", "boat"]);
    assert_eq!(bad.status.code(), Some(3), "{}", stderr(&bad));
}

#[test]
fn sanitize_writes_output_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let input = synth(dir.path(), "40ft");
    let (out, report) = (dir.path().join("clean.dcs"), dir.path().join("report.json"));
    let o = sluis(&[
        "scan",
        "sanitize",
        s(&input),
        s(&out),
        "--report",
        s(&report),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["sop_class"], "dicos-dx-for-processing");
    assert_eq!(json["dropped"].as_array().unwrap().len(), 0);
    // Sanitising canonical output gives the same bytes.
    let again = dir.path().join("again.dcs");
    assert!(
        sluis(&["scan", "sanitize", s(&out), s(&again)])
            .status
            .success()
    );
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn refusal_exits_1_with_one_line_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    for (name, rule) in [
        ("trailing-bytes", "trailing-bytes"),
        ("dimension-bomb", "image-dimensions"),
        ("nesting-20000", "nesting-too-deep"),
        ("sr-with-pixels", "not-an-image-sop-class"),
        ("jpeg2000", "unsupported-transfer-syntax"),
    ] {
        let input = hostile(dir.path(), name);
        let (out, report) = (
            dir.path().join(format!("{name}.out")),
            dir.path().join(format!("{name}.json")),
        );
        let o = sluis(&[
            "scan",
            "sanitize",
            s(&input),
            s(&out),
            "--report",
            s(&report),
        ]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{name}: one line on stderr: {err}");
        assert!(err.contains(rule), "{name}: {err}");
        assert!(!out.exists(), "{name}: no output on refusal");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(json["refusal"]["rule"], rule);
        assert_eq!(json["refusal"]["fault"], "sender");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".sluis-")),
        "no temporary files left"
    );
}

#[test]
fn oversized_input_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let input = synth(dir.path(), "truck");
    let limits = dir.path().join("limits.toml");
    std::fs::write(&limits, "max_file_bytes = 1000\n").unwrap();
    let o = sluis(&[
        "--limits",
        s(&limits),
        "scan",
        "sanitize",
        s(&input),
        s(&dir.path().join("x")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("file-too-large"), "{}", stderr(&o));
    std::fs::write(&limits, "max_depth = 100000\n").unwrap();
    let o = sluis(&["--limits", s(&limits), "scan", "inspect", s(&input)]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "invalid limits are a configuration error: {}",
        stderr(&o)
    );
}

#[test]
fn hostile_inputs_stay_within_a_memory_cap() {
    // With a 512 MiB address-space cap and limits configured below it, every hostile case ends
    // in its refusal (exit 1) or in acceptance (exit 0), never in an allocation failure.
    let dir = tempfile::tempdir().unwrap();
    let limits = dir.path().join("limits.toml");
    std::fs::write(
        &limits,
        "max_inflated_bytes = 33554432\nmax_memory_bytes = 67108864\n",
    )
    .unwrap();
    for case in corpus(128 << 20) {
        let input = dir.path().join(format!("{}.dcm", case.name));
        std::fs::write(&input, &case.bytes).unwrap();
        let out = dir.path().join(format!("{}.out", case.name));
        let o = Command::new("prlimit")
            .args([
                "--as=536870912",
                "--",
                env!("CARGO_BIN_EXE_sluis"),
                "--limits",
                s(&limits),
                "scan",
                "sanitize",
                s(&input),
                s(&out),
            ])
            .output()
            .expect("prlimit (util-linux)");
        let refused = matches!(case.expect, Expect::Refused(_));
        let want = if refused { 1 } else { 0 };
        assert_eq!(o.status.code(), Some(want), "{}: {}", case.name, stderr(&o));
        assert_eq!(
            out.exists(),
            !refused,
            "{}: output written exactly when accepted",
            case.name
        );
    }
}

#[test]
fn inspect_prints_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = synth(dir.path(), "20ft");
    let o = sluis(&["scan", "inspect", s(&input)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "verdict:          accepted",
        "HIGH ENERGY",
        "Z_EFFECTIVE",
        "check digit ok",
        "pixel spacing:    20 x 20 mm",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let o = sluis(&["scan", "inspect", s(&input), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["verdict"], "accepted");
    assert_eq!(json["channels"].as_array().unwrap().len(), 3);
    let bad = hostile(dir.path(), "length-4gb");
    let o = sluis(&["scan", "inspect", s(&bad), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["refusal"]["rule"], "length-past-end");
}

#[test]
fn render_writes_png_in_grey_and_material() {
    let dir = tempfile::tempdir().unwrap();
    let input = synth(dir.path(), "20ft");
    for extra in [&[][..], &["--material"], &["--window", "32000,64000"]] {
        let png = dir.path().join("out.png");
        let mut args = vec!["scan", "render", s(&input), "--png", s(&png)];
        args.extend_from_slice(extra);
        let o = sluis(&args);
        assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
        assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    }
    let o = sluis(&[
        "scan",
        "render",
        s(&input),
        "--png",
        s(&dir.path().join("x.png")),
        "--window",
        "nonsense",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = sluis(&["demo", "--out", s(&out), "--count", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Where to look"), "{text}");
    // Refused files are in the vault's quarantine, not lying around.
    let v = out.join("vault");
    let q = sluis(&["vault", "list", s(&v), "--quarantine", "--json"]);
    assert_eq!(
        String::from_utf8_lossy(&q.stdout).lines().count(),
        3,
        "{}",
        stderr(&q)
    );
    let scans = sluis(&["vault", "list", s(&v), "--json"]);
    assert_eq!(
        String::from_utf8_lossy(&scans.stdout).lines().count(),
        3 * 2 + 1
    );
    assert!(out.join("sanitised/scan-0000.report.json").exists());
    assert!(out.join("previews/scan-0000-material.png").exists());
    // The exported scan's receipt verifies with the public key; so does the whole log.
    let export = std::fs::read_dir(out.join("exports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tlog-proof"))
        .unwrap();
    let key = v.join("log.pub");
    let dcm = export.with_extension("");
    let vp = sluis(&[
        "audit",
        "verify-proof",
        s(&export),
        "--key",
        s(&key),
        "--file",
        s(&dcm),
    ]);
    assert!(vp.status.success(), "{}", stderr(&vp));
    let log = v.join("log");
    assert!(
        sluis(&["audit", "verify", "--log", s(&log), "--key", s(&key)])
            .status
            .success()
    );
    // The workstation's demo accounts are printed, one per role, and exist beside the vault.
    for role in ["analyst", "supervisor", "auditor", "administrator"] {
        assert!(text.contains(&format!("{role}.demo")), "{text}");
    }
    let users = sluis(&["user", "list", "--vault", s(&out.join("vault")), "--json"]);
    assert_eq!(String::from_utf8_lossy(&users.stdout).lines().count(), 4);
    // The enclave watch found every injected attack in its capture, as EVE JSON.
    assert!(text.contains("the enclave watch read"), "{text}");
    let eve = std::fs::read_to_string(out.join("watch/eve.json")).unwrap();
    assert_eq!(eve.lines().count(), 17, "{eve}");
    assert!(eve.contains("\"rule\":\"flow.beacon\""), "{eve}");
    // A second run reuses its own directory; a foreign directory is left alone.
    assert!(
        sluis(&["demo", "--out", s(&out), "--count", "1"])
            .status
            .success()
    );
    let eve = std::fs::read_to_string(out.join("watch/eve.json")).unwrap();
    assert_eq!(
        eve.lines().count(),
        17,
        "the second run starts a fresh EVE file"
    );
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    assert_eq!(
        sluis(&["demo", "--out", s(&foreign)]).status.code(),
        Some(3)
    );
}

#[test]
fn demo_serves_the_workstation_over_its_vault_when_asked() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sluis"))
        .args(["demo", "--out", s(&out), "--count", "2", "--serve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut password) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.trim_start().starts_with("analyst.demo") {
            password = line.split_whitespace().nth(3).map(str::to_string);
        }
        if let Some(u) = line.strip_prefix("sluis serve: ") {
            url = u.split_whitespace().next().map(str::to_string);
        }
        if line.contains("Ctrl-C stops it") {
            break;
        }
    }
    let (url, password) = (url.expect("no URL printed"), password.expect("no account"));
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let jar = dir.path().join("jar");
    let (code, body) = crate::user::curl_login(
        &["-k"],
        &jar,
        &format!("{url}api/login"),
        "analyst.demo",
        &password,
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = crate::user::curl(&["-k", "-b", s(&jar), &format!("{url}api/scans")]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"modality\":\"DX\""), "{body}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}
