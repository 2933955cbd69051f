//! `sluis-bench vault`: storing synthetic 40 ft scans in the vault (encrypt with a fresh data
//! key, hash, write, fsync, index, log the store durably) against `cp` + `sha256sum` + `sync`
//! of the same files in the same run, on the same disk.
//!
//! Both sides write each file and make it durable before the next (`sync FILE` fsyncs the
//! copy), and both read their input from memory or the page cache. Runs alternate between the
//! two; the median of each is reported.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sluis_scan::{DicosObject, Limits, SanitisedScan, sanitise, to_dicos_vec};
use sluis_synth::{Kind, Spec, generate};
use sluis_vault::Vault;

struct Scan {
    path: PathBuf,
    sanitised: SanitisedScan,
    canonical: Vec<u8>,
}

fn scans(dir: &Path, scale: u32, count: u32) -> Result<Vec<Scan>> {
    let mut out = Vec::new();
    for i in 0..count {
        let mut s = generate(&Spec {
            kind: Kind::Container40,
            seed: 77,
            index: i,
            pixel_mm: 5.0 / f64::from(scale).sqrt(),
        })
        .scan;
        s.reports.clear();
        let raw = to_dicos_vec(&DicosObject::Image(Box::new(s)))?;
        let sanitised = sanitise(&raw, &Limits::default())
            .map_err(|r| anyhow::anyhow!("{r}"))?
            .scan;
        let canonical = to_dicos_vec(sanitised.object())?;
        let path = dir.join(format!("40ft-{scale}x-{i}.dcm"));
        std::fs::write(&path, &canonical)?;
        out.push(Scan {
            path,
            sanitised,
            canonical,
        });
    }
    Ok(out)
}

fn peer(files: &[Scan], out: &Path) -> Result<f64> {
    std::fs::create_dir_all(out)?;
    let start = Instant::now();
    for (i, f) in files.iter().enumerate() {
        let dst = out.join(format!("{i}.dcm"));
        let script = "cp \"$1\" \"$2\" && sha256sum \"$2\" >/dev/null && sync \"$2\"";
        let st = Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(&f.path)
            .arg(&dst)
            .status()
            .context("sh, cp, sha256sum, sync")?;
        if !st.success() {
            bail!("cp/sha256sum/sync failed");
        }
    }
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_dir_all(out)?;
    Ok(secs)
}

fn ours(files: &[Scan], dir: &Path) -> Result<f64> {
    let v = Vault::init(dir, Some("bench.sluis/vault"))?;
    let actor = v.actor("bench");
    let start = Instant::now();
    for f in files {
        let stored = v.store(&f.sanitised, &actor)?;
        anyhow::ensure!(!stored.duplicate, "a duplicate in the benchmark set");
    }
    let secs = start.elapsed().as_secs_f64();
    drop(v);
    std::fs::remove_dir_all(dir)?;
    Ok(secs)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

pub(crate) fn run(dir: &Path, reps: usize, quick: bool) -> Result<()> {
    println!(
        "vault store (encrypt, hash, write, fsync, index, log) vs cp + sha256sum + sync, same files, same disk"
    );
    println!(
        "  scale  files   MB each   sluis MB/s   peer MB/s   sluis/peer   sluis ms/file   peer ms/file"
    );
    let scales: &[(u32, u32)] = if quick { &[(1, 2)] } else { &[(1, 8), (4, 3)] };
    for &(scale, count) in scales {
        let files = scans(dir, scale, count)?;
        let total: u64 = files.iter().map(|f| f.canonical.len() as u64).sum();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for r in 0..reps.max(1) {
            // Alternate which goes first.
            if r % 2 == 0 {
                a.push(ours(&files, &dir.join("vault"))?);
                b.push(peer(&files, &dir.join("copies"))?);
            } else {
                b.push(peer(&files, &dir.join("copies"))?);
                a.push(ours(&files, &dir.join("vault"))?);
            }
        }
        let (ta, tb) = (median(a), median(b));
        let mb = total as f64 / 1e6;
        println!(
            "  {scale:>4}x {count:>6} {:>9.1} {:>12.0} {:>11.0} {:>11.2}x {:>15.1} {:>14.1}",
            mb / f64::from(count),
            mb / ta,
            mb / tb,
            tb / ta,
            ta * 1e3 / f64::from(count),
            tb * 1e3 / f64::from(count)
        );
        for f in &files {
            std::fs::remove_file(&f.path)?;
        }
    }
    Ok(())
}
