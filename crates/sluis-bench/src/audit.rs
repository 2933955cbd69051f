//! `sluis-bench audit`: durable appends per second with batching, time to durable, and full
//! verification speed.
//!
//! Appends: W writer threads each append audit records in a loop for a fixed time; every
//! `Log::append` returns only once its entry is sequenced and its checkpoint is on disk, so the
//! rate is of durable entries and the latency is time to durable. In the same run, the naive
//! peer: one record written and `fdatasync`ed at a time to a plain file, which is what durable
//! logging costs without batching. Tessera's published POSIX figure (about 10,000 entries/s on
//! NVMe using up to 7 cores) is quoted, not run: it is Go, and Go's module proxy is out of
//! reach here.
//!
//! Verification: logs of 10^4, 10^5 and 10^6 records are built, then `verify_log` reads every
//! bundle, hashes every entry, parses it as an audit record, recomputes every tile and the root.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use sluis_audit::{
    Action, ActorId, AuditRecord, Batching, FsStore, Log, LogSigner, NoteVerifier, Outcome, Policy,
    verify_log,
};

fn record(i: u64) -> Vec<u8> {
    AuditRecord::new(
        if i.is_multiple_of(4) {
            Action::Store
        } else {
            Action::Read
        },
        ActorId::pseudonym(&[7; 32], &format!("analyst-{}", i % 50)),
        "sluis-vault@bench",
        Outcome::Success,
    )
    .object(format!("s-{i:032x}"))
    .purpose("analysis")
    .encode()
    .unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(Duration::ZERO)
}

/// One record at a time, each made durable with fdatasync before the next.
fn naive(dir: &Path, n: u64) -> Result<(f64, Duration)> {
    let mut f = std::fs::File::create(dir.join("naive.log"))?;
    let mut lat = Vec::new();
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        f.write_all(&record(i))?;
        f.sync_data()?;
        lat.push(t.elapsed());
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    Ok((n as f64 / secs, percentile(&lat, 0.99)))
}

struct AppendRun {
    writers: usize,
    entries: u64,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn appends(dir: &Path, writers: usize, secs: f64) -> Result<AppendRun> {
    let root = dir.join(format!("log-{writers}"));
    let store = Arc::new(FsStore::new(&root)?);
    let log = Log::create(
        store,
        LogSigner::generate("bench.sluis/appends")?,
        Batching::default(),
    )?;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut lat: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let log = &log;
                s.spawn(move || {
                    let mut l = Vec::new();
                    let mut i = w as u64;
                    while Instant::now() < deadline {
                        let e = record(i);
                        let t = Instant::now();
                        if log.append(e).is_err() {
                            break;
                        }
                        l.push(t.elapsed());
                        i += writers as u64;
                    }
                    l
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort();
    let entries = lat.len() as u64;
    log.close();
    std::fs::remove_dir_all(&root)?;
    Ok(AppendRun {
        writers,
        entries,
        per_sec: entries as f64 / elapsed,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or_default(),
    })
}

/// Builds a log of `n` records (in batches of 8192) and verifies it in full.
fn verification(dir: &Path, n: u64) -> Result<(f64, f64)> {
    let root = dir.join(format!("verify-{n}"));
    let signer = LogSigner::generate("bench.sluis/verify")?;
    let key = NoteVerifier::new(&signer.vkey())?;
    let log = Log::create(Arc::new(FsStore::new(&root)?), signer, Batching::default())?;
    let build = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<Vec<u8>> = (i..(i + 8192).min(n)).map(record).collect();
        i += batch.len() as u64;
        log.append_all(batch)?;
    }
    let build_rate = n as f64 / build.elapsed().as_secs_f64();
    log.close();
    let policy = Policy {
        log: Some(key),
        records: true,
        ..Policy::default()
    };
    let t = Instant::now();
    let report = verify_log(&FsStore::reader(&root), &policy, |_, _| {})?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(report.entries == n, "verified {} of {n}", report.entries);
    std::fs::remove_dir_all(&root)?;
    Ok((n as f64 / secs, build_rate))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn run(dir: &Path, quick: bool) -> Result<()> {
    println!("durable appends (every entry acknowledged only once its checkpoint is on disk)");
    let naive_n = if quick { 200 } else { 2000 };
    let (naive_rate, naive_p99) = naive(dir, naive_n)?;
    println!(
        "  peer: one fdatasync per record        {naive_rate:>9.0} entries/s   p99 {:>7.2} ms",
        ms(naive_p99)
    );
    println!("  peer: Tessera POSIX (published)        ~10000 entries/s   on NVMe, up to 7 cores");
    let secs = if quick { 0.5 } else { 5.0 };
    let writer_counts: &[usize] = if quick { &[1, 64] } else { &[1, 16, 256, 1024] };
    println!("  sluis:");
    println!("    writers   entries   entries/s    p50 ms    p99 ms    max ms");
    for &w in writer_counts {
        let r = appends(dir, w, secs)?;
        println!(
            "    {:>7} {:>9} {:>11.0} {:>9.2} {:>9.2} {:>9.2}",
            r.writers,
            r.entries,
            r.per_sec,
            ms(r.p50),
            ms(r.p99),
            ms(r.max)
        );
    }
    println!(
        "full verification (read, hash and parse every entry, recompute every tile and the root)"
    );
    println!("    entries    verify entries/s   µs/entry   (bulk append entries/s)");
    let sizes: &[u64] = if quick {
        &[10_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    };
    for &n in sizes {
        let (rate, build) = verification(dir, n)?;
        println!(
            "    {n:>7} {rate:>18.0} {:>10.2}   ({build:.0})",
            1e6 / rate
        );
    }
    Ok(())
}
