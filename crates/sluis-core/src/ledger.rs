//! The ledger of the link (what was delivered, what was lost, what waits for the vault) and
//! its saver, which writes it off the receiver's thread.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use sluis_link::Ledger;

/// Reads the ledger an earlier run left (a new one if there is none).
pub fn load(path: &Path) -> Result<Ledger, crate::error::CoreError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| crate::error::CoreError::Ledger {
            path: path.to_path_buf(),
            why: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ledger::new()),
        Err(source) => Err(crate::error::CoreError::Io {
            what: "reading the ledger",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The least time between two writes of the ledger.
const LEDGER_EVERY: Duration = Duration::from_millis(100);

/// The newest ledger not yet written, and whether to stop; with its condition variable.
type SaverSlot = std::sync::Arc<(std::sync::Mutex<(Option<Ledger>, bool)>, std::sync::Condvar)>;

/// Writes the ledger off the receiver's thread: the receiver hands over a copy whenever it
/// changes and goes on receiving; a thread writes the newest copy (fsynced), at most once per
/// `LEDGER_EVERY` (100 ms), coalescing those that arrive meanwhile. Each write replaces the file (a new
/// inode, the old one freed): on ext4 without a journal every freed inode is skipped by the
/// next allocations for minutes (`recently_deleted`), so that writing the ledger on every change
/// (about two per scan) made each new blob's inode cost more; the profile of the intake
/// benchmark showed 8 % of the core's CPU there, with the vault's own new files.
///
/// A ledger that lags after a crash is safe: an object delivered but not yet in the saved
/// ledger is reported lost and accepted again on replay (the vault keeps one copy); one marked
/// delivered is pending until the vault confirms it.
pub struct LedgerSaver {
    slot: SaverSlot,
    path: PathBuf,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LedgerSaver {
    /// Starts the saver's thread, writing to `path`.
    pub fn spawn(path: PathBuf) -> LedgerSaver {
        let slot = std::sync::Arc::new((
            std::sync::Mutex::new((None::<Ledger>, false)),
            std::sync::Condvar::new(),
        ));
        let (s, p) = (slot.clone(), path.clone());
        let thread = std::thread::spawn(move || {
            let mut last: Option<Instant> = None;
            loop {
                let (next, done) = {
                    let (m, cv) = &*s;
                    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                    // Until stopped, or a copy is waiting and its time has come.
                    while !g.1 {
                        let left = last.map_or(Duration::ZERO, |t| {
                            (t + LEDGER_EVERY).saturating_duration_since(Instant::now())
                        });
                        g = match &g.0 {
                            None => cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                            Some(_) if !left.is_zero() => {
                                cv.wait_timeout(g, left)
                                    .unwrap_or_else(|e| e.into_inner())
                                    .0
                            }
                            Some(_) => break,
                        };
                    }
                    (g.0.take(), g.1)
                };
                if let Some(l) = next {
                    last = Some(Instant::now());
                    if let Err(e) = write_json_atomic(&p, &l) {
                        tracing::error!(error = %e, "ledger not saved");
                    }
                }
                if done {
                    return;
                }
            }
        });
        LedgerSaver {
            slot,
            path,
            thread: Some(thread),
        }
    }

    /// The receiver's side.
    pub fn handle(&self) -> LedgerOffer {
        LedgerOffer(self.slot.clone())
    }

    /// Writes the last copy and stops the thread.
    pub fn finish(mut self) {
        {
            let (m, cv) = &*self.slot;
            let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
            g.1 = true;
            cv.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        tracing::debug!(path = %self.path.display(), "ledger saver stopped");
    }
}

/// The receiver's side of a [`LedgerSaver`].
pub struct LedgerOffer(SaverSlot);

impl LedgerOffer {
    /// Hands over the newest copy (the saver writes it in its time).
    pub fn offer(&self, ledger: &Ledger) {
        let (m, cv) = &*self.0;
        let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = Some(ledger.clone());
        cv.notify_all();
    }
}

/// Writes `value` as JSON to `path` through a temporary file, fsynced, renamed into place.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = sluis_secret::create_private(&tmp)?;
    serde_json::to_writer(&mut f, value)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)
}
