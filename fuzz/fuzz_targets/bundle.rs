//! Fuzzes the depot's reading of a medium. The first byte picks what the rest is:
//!
//! * even: a `bundle.json`; whatever parses must check against a clock and a chain without
//!   panicking and read back the same after writing it again;
//! * odd: a directory tree (a tiny language of records: enter a directory, a file with its
//!   bytes, leave, a symbolic link) built on disk and taken in with small limits; a copy that
//!   is accepted must hold exactly the medium's files, byte for byte, and nothing else.
#![no_main]

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use sluis_gate::bundle::Manifest;
use sluis_gate::medium::{self, Limits};

fn manifest(bytes: &[u8]) {
    let Ok(m) = Manifest::parse(bytes) else {
        return;
    };
    let again = Manifest::parse(&m.to_bytes()).expect("our own manifest reads back");
    assert_eq!(again, m);
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let _ = m.check_time(now);
    let _ = m.follows(&m.station, Some(&m));
    let _ = m.follows(&m.station, None);
}

/// Builds the tree the records describe under `root`; false where the file system refuses a
/// name (which then is not the depot's to judge).
fn build(root: &Path, mut input: &[u8]) -> bool {
    let mut at: PathBuf = root.to_path_buf();
    let mut depth = 0usize;
    let mut made = 0;
    while let [op, len, rest @ ..] = input {
        let n = usize::from(*len % 16).min(rest.len());
        let (name, rest) = rest.split_at(n);
        input = rest;
        made += 1;
        if made > 96 {
            return false;
        }
        if matches!(op % 4, 0 | 1 | 3) && (name.is_empty() || name.contains(&b'/') || name.contains(&0) || name == b"." || name == b"..") {
            continue;
        }
        let p = at.join(std::ffi::OsStr::from_bytes(name));
        let ok = match op % 4 {
            0 if depth < 12 => {
                let ok = std::fs::create_dir(&p).is_ok();
                if ok {
                    at = p;
                    depth += 1;
                }
                ok
            }
            1 => {
                let [size, body @ ..] = input else {
                    return true;
                };
                let k = usize::from(*size).min(body.len());
                let (content, body) = body.split_at(k);
                input = body;
                std::fs::write(&p, content).is_ok()
            }
            2 if depth > 0 => {
                at.pop();
                depth -= 1;
                true
            }
            3 => std::os::unix::fs::symlink("../..", &p).is_ok(),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn files(root: &Path, under: &Path, out: &mut Vec<(PathBuf, [u8; 32])>) {
    for e in std::fs::read_dir(under).unwrap() {
        let p = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            files(root, &p, out);
        } else {
            assert!(meta.is_file(), "{} in the copy is not a file", p.display());
            let digest = Sha256::digest(std::fs::read(&p).unwrap()).into();
            out.push((p.strip_prefix(root).unwrap().to_path_buf(), digest));
        }
    }
}

fn tree(bytes: &[u8]) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("m");
    std::fs::create_dir(&root).unwrap();
    if !build(&root, bytes) {
        return;
    }
    let limits = Limits {
        max_entries: 48,
        max_depth: 4,
        max_metadata_bytes: 64,
        max_target_bytes: 200,
        max_total_bytes: 1000,
    };
    let dest = tmp.path().join("store").join("b");
    std::fs::create_dir(tmp.path().join("store")).unwrap();
    match medium::copy_in(&root, &dest, &limits) {
        Ok(copy) => {
            let mut theirs = Vec::new();
            files(&root, &root, &mut theirs);
            let mut ours = Vec::new();
            files(&dest, &dest, &mut ours);
            theirs.sort();
            ours.sort();
            assert_eq!(ours, theirs);
            assert_eq!(copy.files.len(), ours.len());
            for f in &copy.files {
                let digest: [u8; 32] = Sha256::digest(std::fs::read(dest.join(&f.path)).unwrap()).into();
                assert_eq!(digest, f.sha256);
            }
        }
        Err(_) => assert!(!dest.exists(), "a refused medium left its copy"),
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, rest)) = input.split_first() else {
        return;
    };
    if first % 2 == 0 {
        manifest(rest);
    } else {
        tree(rest);
    }
});
