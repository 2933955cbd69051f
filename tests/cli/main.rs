//! The `sluis` command line, as a user runs it: exit codes, files written or not, messages,
//! and its real peers (dcmtk, an HTTP server, a witness over HTTP, SIGKILL).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sluis_synth::hostile::corpus;

mod attack;
mod audit;
mod browser;
mod crash;
mod link;
mod scan;
mod user;
mod vault;
mod watch;

pub(crate) fn sluis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluis"))
        .args(args)
        .output()
        .expect("run sluis")
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub(crate) fn synth(dir: &Path, kind: &str) -> PathBuf {
    let out = sluis(&[
        "synth",
        "--out",
        s(dir),
        "--count",
        "1",
        "--seed",
        "5",
        "--kind",
        kind,
        "--pixel-mm",
        "20",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    dir.join("scan-0000.dcs")
}

pub(crate) fn hostile(dir: &Path, name: &str) -> PathBuf {
    let case = corpus(1 << 20)
        .into_iter()
        .find(|c| c.name == name)
        .unwrap();
    let path = dir.join(format!("{name}.dcm"));
    std::fs::write(&path, &case.bytes).unwrap();
    path
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Asserts an exit code, showing what the command said if it differs.
#[track_caller]
pub(crate) fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Small synthetic scans `scan-NNNN.dcs` (and their ground-truth reports) in `dir`.
pub(crate) fn synth_many(dir: &Path, count: u32, seed: u64) -> Vec<PathBuf> {
    let out = sluis(&[
        "synth",
        "--out",
        s(dir),
        "--count",
        &count.to_string(),
        "--seed",
        &seed.to_string(),
        "--kind",
        "20ft",
        "--pixel-mm",
        "20",
    ]);
    assert_exit(&out, 0);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcs"))
        .collect();
    files.sort();
    files
}

/// A new vault in `dir/v`; returns its path.
pub(crate) fn init_vault(dir: &Path) -> PathBuf {
    let v = dir.join("v");
    let out = sluis(&["vault", "init", s(&v), "--origin", "customs.test/sluis"]);
    assert_exit(&out, 0);
    v
}

/// The id printed on a `stored|duplicate|quarantined ID FILE` line for `file`.
pub(crate) fn id_of(put_stdout: &str, file: &Path) -> String {
    put_stdout
        .lines()
        .find(|l| {
            l.split(' ')
                .nth(2)
                .is_some_and(|f| f.trim_end_matches(':') == s(file))
        })
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_else(|| panic!("no line for {} in:\n{put_stdout}", file.display()))
        .to_string()
}

/// Every file under `dir` and its bytes (the vault's lock file aside).
pub(crate) fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != ".lock" {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

/// The path of an object's blob, from `vault list --json`.
pub(crate) fn blob_path(vault: &Path, id: &str, quarantine: bool) -> PathBuf {
    let mut args = vec!["vault", "list", s(vault), "--json", "--limit", "1000"];
    if quarantine {
        args.push("--quarantine");
    }
    let out = sluis(&args);
    assert_exit(&out, 0);
    let row: serde_json::Value = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["id"] == id)
        .unwrap();
    let b = row["blob"].as_str().unwrap().to_string();
    let hex = b.strip_prefix("b3-").unwrap();
    vault
        .join("blobs")
        .join(&hex[..2])
        .join(&hex[2..4])
        .join(&b)
}
