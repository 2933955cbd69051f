//! The drop folder: vendors' software that cannot speak DICOM writes files here, and the edge
//! spools each one once it is complete. The edge reads only its size; the sanitiser on the
//! customs side parses it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use sluis_link::{ObjectMeta, SenderMetrics, Spool};

use crate::config::DropSection;

/// Spools files from the drop folder once they are complete: names starting with `.` or ending
/// in `.part`/`.tmp` are being written; any other file counts once its size and modification
/// time have held still for `settle_ms`. Spooled files are removed; refused ones are moved to
/// `refused/` beside a `.reason` file.
pub fn watch(d: &DropSection, max: u64, spool: &Spool, metrics: &SenderMetrics, stop: &AtomicBool) {
    let settle = Duration::from_millis(d.settle_ms);
    let mut seen: std::collections::HashMap<PathBuf, (u64, SystemTime, Instant)> =
        std::collections::HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        let Ok(rd) = std::fs::read_dir(&d.dir) else {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        };
        let mut present = std::collections::HashSet::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.ends_with(".part") || name.ends_with(".tmp") {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let path = e.path();
            present.insert(path.clone());
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let now = Instant::now();
            let entry = seen.entry(path.clone()).or_insert((meta.len(), mtime, now));
            if entry.0 != meta.len() || entry.1 != mtime {
                *entry = (meta.len(), mtime, now);
                continue;
            }
            if now.duration_since(entry.2) < settle {
                continue;
            }
            seen.remove(&path);
            if meta.len() > max {
                refuse(
                    &d.dir,
                    &path,
                    &format!("{} bytes is more than max_object_bytes {max}", meta.len()),
                    metrics,
                );
                continue;
            }
            // Read at most `max` + 1 bytes: the file may have grown since its size was read.
            let read = std::fs::File::open(&path).and_then(|f| {
                use std::io::Read as _;
                let mut bytes = Vec::new();
                f.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
                Ok(bytes)
            });
            if read.as_ref().is_ok_and(|b| b.len() as u64 > max) {
                refuse(
                    &d.dir,
                    &path,
                    &format!("grew past max_object_bytes {max} while being read"),
                    metrics,
                );
                continue;
            }
            match read {
                Ok(mut bytes) => {
                    let m = ObjectMeta::Drop {
                        name: name.clone(),
                        received: crate::clock::now(),
                    };
                    match spool.put_owned(&mut bytes, &m.to_json()) {
                        Ok(id) => {
                            metrics.objects_spooled.inc();
                            let _ = std::fs::remove_file(&path);
                            tracing::info!(id, name, "drop file spooled");
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, name, "drop file not spooled; will retry")
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, name, "drop file unreadable"),
            }
        }
        seen.retain(|p, _| present.contains(p));
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn refuse(dir: &Path, path: &Path, reason: &str, metrics: &SenderMetrics) {
    metrics.inputs_refused.inc();
    let refused = dir.join("refused");
    let _ = sluis_secret::private_dir(&refused);
    if let Some(name) = path.file_name() {
        let to = refused.join(name);
        let _ = std::fs::rename(path, &to);
        let _ = sluis_secret::tighten_file(&to);
        let _ = sluis_secret::write_private(
            &refused.join(format!("{}.reason", name.to_string_lossy())),
            reason.as_bytes(),
        );
    }
    tracing::warn!(path = %path.display(), reason, "drop file refused");
}
