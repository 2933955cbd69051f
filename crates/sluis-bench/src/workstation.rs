//! `sluis-bench workstation`: opening a 40 ft dual-energy scan in the workstation against
//! Orthanc's REST rendering of the same file, in the same run.
//!
//! Peer: Orthanc (Debian package), the scan uploaded by REST, `GET /instances/{id}/preview`
//! (8-bit PNG) and `GET /instances/{id}/frames/0/image-uint16` (16-bit PNG), timed by curl.
//! Ours: `sluis serve` (release build, plain HTTP on loopback) with the scan in its vault; the
//! API cost of opening (metadata and the high-energy channel, each a logged vault read, the
//! bytes decrypted and re-parsed by the sanitiser) timed by curl the same way; then the whole
//! open in Chromium (click to full-resolution pixels on the canvas) and the window/level
//! redraw, measured by the page itself through playwright-core (`tests/browser`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::intake::{Guard, port as free_port, wait_port};

/// Runs curl; returns (status, seconds).
fn curl(args: &[&str]) -> Result<(u16, f64)> {
    let out = Command::new("curl")
        .args(["-s", "-w", "%{http_code} %{time_total}", "--max-time", "30"])
        .args(args)
        .output()
        .context("curl")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().rev();
    let secs: f64 = it.next().unwrap_or("0").parse().unwrap_or(0.0);
    let code: u16 = it.next().unwrap_or("0").parse().unwrap_or(0);
    Ok((code, secs))
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN) * 1000.0
}

fn timed(reps: usize, args: &[&str]) -> Result<f64> {
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let (code, secs) = curl(args)?;
        if code != 200 {
            bail!("{args:?} answered {code}");
        }
        v.push(secs);
    }
    Ok(median_ms(v))
}

pub(crate) fn run(dir: &Path, sluis: &Path, reps: usize) -> Result<()> {
    let s = |p: &Path| p.display().to_string();
    // One synthetic 40 ft container scan, 5 mm pixels, dual energy with Z-effective.
    let scans = dir.join("scans");
    let o = Command::new(sluis)
        .args([
            "synth",
            "--out",
            &s(&scans),
            "--count",
            "1",
            "--seed",
            "11",
            "--kind",
            "40ft",
        ])
        .output()?;
    if !o.status.success() {
        bail!("sluis synth: {}", String::from_utf8_lossy(&o.stderr));
    }
    let scan: PathBuf = std::fs::read_dir(&scans)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.extension().is_some_and(|e| e == "dcs") && !p.to_string_lossy().contains("truth")
        })
        .context("no scan written")?;
    let size = std::fs::metadata(&scan)?.len();

    // Orthanc.
    let orthanc = {
        let store = dir.join("orthanc");
        std::fs::create_dir_all(&store)?;
        let http = free_port()?;
        let cfg = store.join("orthanc.json");
        std::fs::write(
            &cfg,
            serde_json::to_vec_pretty(&serde_json::json!({
                "Name": "sluis-bench", "StorageDirectory": store.join("db"), "IndexDirectory": store.join("db"),
                "HttpPort": http, "DicomPort": free_port()?, "RemoteAccessAllowed": false,
                "AuthenticationEnabled": false, "UnknownSopClassAccepted": true, "Plugins": [],
            }))?,
        )?;
        let child = Command::new("Orthanc")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("Orthanc (Debian package orthanc)")?;
        (Guard(child), http)
    };
    let obase = format!("http://127.0.0.1:{}", orthanc.1);
    wait_port(orthanc.1, Duration::from_secs(30))?;
    let up = Command::new("curl")
        .args([
            "-s",
            "--data-binary",
            &format!("@{}", s(&scan)),
            &format!("{obase}/instances"),
        ])
        .output()?;
    let answer: serde_json::Value = serde_json::from_slice(&up.stdout)
        .with_context(|| format!("Orthanc upload: {}", String::from_utf8_lossy(&up.stdout)))?;
    let oid = answer["ID"]
        .as_str()
        .context("Orthanc gave no instance id")?
        .to_string();

    // sluis: a vault with the same scan, an analyst, the server.
    let vault = dir.join("vault");
    for args in [
        vec!["vault".to_string(), "init".into(), s(&vault)],
        vec!["vault".into(), "put".into(), s(&vault), s(&scan)],
    ] {
        let o = Command::new(sluis).args(&args).output()?;
        if !o.status.success() {
            bail!("sluis {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
    let mut add = Command::new(sluis)
        .args([
            "user",
            "add",
            "bench",
            "--role",
            "analyst",
            "--password-stdin",
            "--vault",
            &s(&vault),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    {
        use std::io::Write;
        add.stdin
            .take()
            .context("stdin")?
            .write_all(b"benchmark passphrase\n")?;
    }
    if !add.wait()?.success() {
        bail!("sluis user add failed");
    }
    let port = free_port()?;
    let _server = Guard(
        Command::new(sluis)
            .args([
                "serve",
                "--vault",
                &s(&vault),
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--plain-http",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_port(port, Duration::from_secs(30))?;
    let jar = dir.join("jar");
    let (code, _) = curl(&[
        "-o",
        "/dev/null",
        "-c",
        &s(&jar),
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"name":"bench","password":"benchmark passphrase"}"#,
        &format!("{base}/api/login"),
    ])?;
    if code != 200 {
        bail!("login answered {code}");
    }
    let list = Command::new("curl")
        .args(["-s", "-b", &s(&jar), &format!("{base}/api/scans")])
        .output()?;
    let list: serde_json::Value = serde_json::from_slice(&list.stdout)?;
    let id = list["scans"][0]["id"]
        .as_str()
        .context("no scan listed")?
        .to_string();

    println!(
        "one 40 ft dual-energy scan, {:.1} MB DICOS; median of {reps} requests each (curl, loopback)",
        size as f64 / 1e6
    );
    let preview = timed(
        reps,
        &[
            "-o",
            "/dev/null",
            &format!("{obase}/instances/{oid}/preview"),
        ],
    )?;
    let uint16 = timed(
        reps,
        &[
            "-o",
            "/dev/null",
            &format!("{obase}/instances/{oid}/frames/0/image-uint16"),
        ],
    )?;
    println!("  Orthanc /preview (8-bit PNG)                         {preview:>8.1} ms");
    println!("  Orthanc /frames/0/image-uint16 (16-bit PNG)          {uint16:>8.1} ms");
    let meta = timed(
        reps,
        &[
            "-o",
            "/dev/null",
            "-b",
            &s(&jar),
            &format!("{base}/api/scans/{id}"),
        ],
    )?;
    let pixels = timed(
        reps,
        &[
            "-o",
            "/dev/null",
            "-b",
            &s(&jar),
            &format!("{base}/api/scans/{id}/channels/0"),
        ],
    )?;
    println!("  sluis /api/scans/ID (metadata, logged read)          {meta:>8.1} ms");
    println!("  sluis /api/scans/ID/channels/0 (16-bit, logged read) {pixels:>8.1} ms");
    let whole = timed(
        reps,
        &[
            "-o",
            "/dev/null",
            "-b",
            &s(&jar),
            &format!("{base}/api/scans/{id}/image"),
        ],
    )?;
    println!("  sluis /api/scans/ID/image (all three channels, one logged read) {whole:>8.1} ms");
    let shown = timed(
        reps,
        &[
            "-o",
            "/dev/null",
            "-b",
            &s(&jar),
            &format!("{base}/api/scans/{id}/image?kinds=HighEnergy,ZEffective"),
        ],
    )?;
    println!(
        "  sluis /api/scans/ID/image?kinds=HighEnergy,ZEffective (what the viewer asks) {shown:>6.1} ms"
    );

    // The whole open in Chromium, if the browser test's driver is installed.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    if root.join("node_modules/playwright-core").is_dir() && Path::new("/usr/bin/chromium").exists()
    {
        let shots = dir.join("shots");
        std::fs::create_dir_all(&shots)?;
        // Several runs, each a fresh browser: the median open and the median of the redraws.
        let runs = reps.clamp(1, 5);
        let mut opens = Vec::new();
        let mut parts = Vec::new();
        let mut redraws = Vec::new();
        let mut maxima = Vec::new();
        let mut busy = Vec::new();
        let mut busy_maxima = Vec::new();
        let mut failure = None;
        for _ in 0..runs {
            let out = Command::new("node")
                .arg(root.join("workstation.mjs"))
                .args([
                    &format!("{base}/"),
                    "bench",
                    "benchmark passphrase",
                    &s(&shots),
                ])
                .output()?;
            if !out.status.success() {
                failure = Some(String::from_utf8_lossy(&out.stderr).into_owned());
                break;
            }
            let r: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
            opens.push(f(&r["open_ms"]));
            parts.push([
                f(&r["open_parts_ms"]["fetch"]),
                f(&r["open_parts_ms"]["upload"]),
                f(&r["open_parts_ms"]["first_draw"]),
            ]);
            redraws.push(f(&r["redraw_ms_median"]));
            maxima.push(f(&r["redraw_ms_max"]));
            busy.push(f(&r["back_to_back_ms_median"]));
            busy_maxima.push(f(&r["back_to_back_ms_max"]));
        }
        if let Some(why) = failure {
            println!("  Chromium run failed: {why}");
        } else {
            let mid = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let median_open = mid(&mut opens.clone());
            let at = opens.iter().position(|&o| o == median_open).unwrap_or(0);
            println!(
                "  sluis in Chromium: click to full-resolution pixels  {:>8.1} ms median of {runs} (one logged read, WebGL2 upload and draw; all: {})",
                median_open,
                opens
                    .iter()
                    .map(|o| format!("{o:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "    of which (that run): logged read and transfer {:.1} ms, texture upload {:.1} ms, first draw {:.1} ms",
                parts[at][0], parts[at][1], parts[at][2]
            );
            println!(
                "  sluis in Chromium: window/level redraw             {:>8.1} ms median, {:.1} ms worst of {} redraws (page settled before each)",
                mid(&mut redraws),
                maxima.iter().copied().fold(0.0, f64::max),
                20 * runs
            );
            println!(
                "  sluis in Chromium: window/level redraw, back to back {:>6.1} ms median, {:.1} ms worst of {} (as in a drag)",
                mid(&mut busy),
                busy_maxima.iter().copied().fold(0.0, f64::max),
                20 * runs
            );
            let gpu = Command::new("sh")
                .args(["-c", "ls /dev/dri 2>/dev/null | grep -q render"])
                .status()?;
            if !gpu.success() {
                println!(
                    "  (no GPU on this machine: Chromium renders WebGL2 in software, SwiftShader)"
                );
            }
        }
    } else {
        println!(
            "  (Chromium or playwright-core missing: run ./scripts/test once to install them)"
        );
    }
    Ok(())
}
