//! `sluis-bench gate`: the depot taking a bundle in from a medium (survey, copy into its own
//! store with a SHA-256 of every file, fsync) against the floor, `sha256sum` of the target
//! alone, and against `cp -r` of the bundle followed by `sync` and `sha256sum` of the copy (the
//! same work done with the shell's tools). Each runs as its own process, through `measure`, so
//! CPU seconds and peak RSS are the tool's. One target per size, 64 MiB to 2 GiB, alternating
//! tools; the medium's files are in the page cache for all three (a real medium is slower to
//! read than any of them, and that cost is the same for all).
//!
//! TUF verification and publishing (the rest of the ingest) are not built yet; when
//! they are, they join "ours" and `tuftool download` joins the peers.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::{Run, median, run_measured};

const MIB: u64 = 1 << 20;

/// Writes a bundle whose one target has `bytes` bytes (not sparse: every block written).
fn medium(root: &Path, bytes: u64) -> Result<()> {
    std::fs::create_dir_all(root.join("metadata"))?;
    std::fs::create_dir_all(root.join("targets/acme/xr-9000"))?;
    std::fs::create_dir_all(root.join("proofs"))?;
    std::fs::write(root.join("bundle.json"), b"{}\n")?;
    std::fs::write(root.join("metadata/1.root.json"), vec![b'r'; 4096])?;
    std::fs::write(root.join("metadata/timestamp.json"), vec![b't'; 1024])?;
    std::fs::write(root.join("proofs/checkpoint"), vec![b'c'; 512])?;
    let mut f = std::io::BufWriter::with_capacity(
        MIB as usize,
        std::fs::File::create(root.join("targets/acme/xr-9000/4.2.1.pkg"))?,
    );
    let mut block = vec![0u8; MIB as usize];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..bytes / MIB {
        for b in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block)?;
    }
    f.flush()?;
    f.into_inner()?.sync_all()?;
    Ok(())
}

/// The internal `gate-copy` subcommand: what the depot does with a medium.
pub(crate) fn copy(medium: &Path, dest: &Path) -> Result<()> {
    let copy = sluis_gate::medium::copy_in(medium, dest, &sluis_gate::Limits::default())?;
    let bytes: u64 = copy.files.iter().map(|f| f.len).sum();
    println!("{} files, {bytes} bytes", copy.files.len());
    Ok(())
}

fn row(name: &str, mb: f64, runs: &[Run]) {
    let wall = median(runs.iter().map(|r| r.wall).collect());
    let cpu = median(runs.iter().map(|r| r.cpu).collect());
    let rss = runs.iter().map(|r| r.rss).max().unwrap_or(0);
    println!(
        "| {name} | {wall:.3} | {cpu:.3} | {:.0} | {:.1} |",
        mb / wall,
        rss as f64 / MIB as f64
    );
}

pub(crate) fn run(dir: &Path, reps: usize, sizes_mib: &[u64]) -> Result<()> {
    let me = std::env::current_exe()?.display().to_string();
    println!("depot intake of a bundle with one target, {reps} runs per tool, median shown\n");
    for &size in sizes_mib {
        let root = dir.join(format!("medium-{size}"));
        medium(&root, size * MIB).context("writing the medium")?;
        let target = root
            .join("targets/acme/xr-9000/4.2.1.pkg")
            .display()
            .to_string();
        let store = dir.join("store");
        let mb = (size * MIB) as f64 / 1e6;
        let (mut ours, mut floor, mut shell) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..reps {
            let dest = store.join(format!("b-{size}-{i}"));
            std::fs::create_dir_all(&store)?;
            ours.push(run_measured(&[
                me.clone(),
                "gate-copy".into(),
                root.display().to_string(),
                dest.display().to_string(),
            ])?);
            std::fs::remove_dir_all(&dest)?;
            floor.push(run_measured(&["sha256sum".into(), target.clone()])?);
            let script = format!(
                "cp -r '{}' '{}' && sync -f '{}' && sha256sum '{}/targets/acme/xr-9000/4.2.1.pkg' >/dev/null",
                root.display(),
                dest.display(),
                dest.display(),
                dest.display()
            );
            shell.push(run_measured(&["sh".into(), "-c".into(), script])?);
            std::fs::remove_dir_all(&dest)?;
        }
        println!("{size} MiB target ({mb:.0} MB):\n");
        println!("| tool | wall s | CPU s | MB/s | peak RSS MiB |");
        println!("|---|---:|---:|---:|---:|");
        row(
            "sluis depot copy-in (survey, copy, SHA-256, fsync)",
            mb,
            &ours,
        );
        row("sha256sum of the target (floor)", mb, &floor);
        row("cp -r + sync + sha256sum of the copy", mb, &shell);
        let o = median(ours.iter().map(|r| r.wall).collect());
        let f = median(floor.iter().map(|r| r.wall).collect());
        println!("\nours / sha256sum: {:.2}x the time\n", o / f);
        std::fs::remove_dir_all(&root)?;
    }
    Ok(())
}
