//! The edge's spool: every object the edge accepts is written here (fsynced) before it is sent,
//! under an id that increases by one per object, so that the core can name any gap and an
//! operator can replay it. Sent objects are kept within a byte budget, oldest dropped first;
//! unsent objects are never dropped (the edge refuses new input instead).
//!
//! Layout: `objects/<id, 20 digits>.obj`, each `"SLSP" | meta length u32 BE | meta (UTF-8
//! JSON) | the object's bytes`, so that an object and its meta become durable with one fsync;
//! `sent-below` and `next-id` (decimal, replaced atomically; see [`Spool::mark_sent`] for when
//! they are made durable: on open the next id is above both and above every file); `epoch`, the
//! number of the last edge run (see [`Spool::next_epoch`]). Every file is mode 0600 in 0700
//! directories: the spool holds scans.
//!
//! Sent objects are kept only for replay: within the byte budget, and no longer than the
//! retention the edge is configured with ([`Spool::prune_sent_before`]).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A spooled object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its id.
    pub id: u64,
    /// Its file.
    pub path: PathBuf,
    /// Where its bytes start in the file.
    pub offset: u64,
    /// Its length.
    pub length: u64,
    /// Its meta.
    pub meta: String,
}

/// Why the spool refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// Unsent objects fill the budget: the link is slower than the scanners.
    #[error("spool full: {unsent} unsent bytes; budget {budget}")]
    Full {
        /// Bytes waiting.
        unsent: u64,
        /// The budget.
        budget: u64,
    },
    /// The filesystem failed.
    #[error("spool: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    sent_below: u64,
    objects: BTreeMap<u64, u64>,
    bytes: u64,
    /// Objects still in memory after they were spooled (see [`Spool::put_owned`]).
    hot: BTreeMap<u64, Vec<u8>>,
    hot_bytes: u64,
    /// Emptied buffers of sent objects, for the next objects to be received into.
    pool: Vec<Vec<u8>>,
    pool_bytes: u64,
}

/// At most this many bytes of spooled objects are also kept in memory for the sender, and at
/// most this many bytes of emptied buffers for reuse.
const HOT_BUDGET: u64 = 64 << 20;

/// The spool.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    budget: u64,
    state: Mutex<State>,
    /// Signalled when an object is spooled, for the sender waiting in
    /// [`Spool::wait_unsent`].
    spooled: std::sync::Condvar,
}

const MAGIC: &[u8; 4] = b"SLSP";

/// Reads a spool file's header: where the object starts, and its meta.
fn header(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path)?;
    let mut head = [0u8; 8];
    f.read_exact(&mut head)?;
    if &head[..4] != MAGIC {
        return Err(std::io::Error::other("not a spool file"));
    }
    let n = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if n > 64 * 1024 {
        return Err(std::io::Error::other("meta longer than 64 KiB"));
    }
    let mut meta = vec![0u8; n as usize];
    f.read_exact(&mut meta)?;
    Ok((
        8 + u64::from(n),
        String::from_utf8_lossy(&meta).into_owned(),
    ))
}

fn write_small(path: &Path, text: &str, durable: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = sluis_secret::create_private(&tmp)?;
    f.write_all(text.as_bytes())?;
    if durable {
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn read_number(path: &Path) -> std::io::Result<Option<u64>> {
    match std::fs::read_to_string(path) {
        Ok(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Drops a durable file's pages from the page cache.
fn release(f: &std::fs::File) {
    let _ = rustix::fs::fadvise(f, 0, None, rustix::fs::Advice::DontNeed);
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl Spool {
    /// Opens (or creates) a spool keeping at most `budget` bytes of sent objects.
    pub fn open(dir: &Path, budget: u64) -> Result<Spool, SpoolError> {
        sluis_secret::private_dir(dir).map_err(std::io::Error::from)?;
        sluis_secret::private_dir(&dir.join("objects")).map_err(std::io::Error::from)?;
        let mut state = State {
            next_id: read_number(&dir.join("next-id"))?.unwrap_or(1).max(1),
            sent_below: read_number(&dir.join("sent-below"))?.unwrap_or(1).max(1),
            ..State::default()
        };
        for e in std::fs::read_dir(dir.join("objects"))? {
            let e = e?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name
                .strip_suffix(".obj")
                .and_then(|s| s.parse::<u64>().ok())
            {
                let len = match header(&e.path()) {
                    Ok((offset, _)) => e.metadata()?.len().saturating_sub(offset),
                    Err(err) => {
                        tracing::error!(path = %e.path().display(), error = %err, "spool file unreadable; skipped");
                        continue;
                    }
                };
                state.objects.insert(id, len);

                state.bytes += len;
                state.next_id = state.next_id.max(id + 1);
            } else if name.ends_with(".tmp") {
                // A put that did not finish: it never got an id that anyone saw.
                let _ = std::fs::remove_file(e.path());
            }
        }
        state.next_id = state.next_id.max(state.sent_below);
        Ok(Spool {
            dir: dir.to_path_buf(),
            budget,
            state: Mutex::new(state),
            spooled: std::sync::Condvar::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn obj(&self, id: u64) -> PathBuf {
        self.dir.join("objects").join(format!("{id:020}.obj"))
    }

    /// Writes an object durably and returns its id.
    pub fn put(&self, bytes: &[u8], meta: &str) -> Result<u64, SpoolError> {
        self.write_object(bytes, meta, false)
    }

    /// Writes an object durably; with `drop_pages`, its pages leave the page cache once it is
    /// on the disk (its sender has the bytes in memory).
    fn write_object(&self, bytes: &[u8], meta: &str, drop_pages: bool) -> Result<u64, SpoolError> {
        let length = bytes.len() as u64;
        {
            let st = self.lock();
            let unsent: u64 = st.objects.range(st.sent_below..).map(|(_, l)| *l).sum();
            if unsent + length > self.budget {
                return Err(SpoolError::Full {
                    unsent,
                    budget: self.budget,
                });
            }
        }
        let tmp = self.dir.join("objects").join(format!(
            "put-{}-{:?}.tmp",
            std::process::id(),
            std::thread::current().id()
        ));
        {
            let mut f = std::io::BufWriter::new(sluis_secret::create_private(&tmp)?);
            f.write_all(MAGIC)?;
            f.write_all(&(meta.len() as u32).to_be_bytes())?;
            f.write_all(meta.as_bytes())?;
            f.write_all(bytes)?;
            let f = f.into_inner().map_err(|e| e.into_error())?;
            f.sync_data()?;
            if drop_pages {
                release(&f);
            }
        }
        let mut st = self.lock();
        let id = st.next_id;
        std::fs::rename(&tmp, self.obj(id))?;
        sync_dir(&self.dir.join("objects"))?;
        st.next_id = id + 1;
        // A hint only (see the module docs); not fsynced.
        let _ = sluis_secret::write_private(
            &self.dir.join("next-id"),
            st.next_id.to_string().as_bytes(),
        );
        st.objects.insert(id, length);
        st.bytes += length;
        drop(st);
        self.spooled.notify_all();
        Ok(id)
    }

    /// Waits until an object is waiting to be sent, at most `timeout`; returns whether one is.
    pub fn wait_unsent(&self, timeout: std::time::Duration) -> bool {
        let st = self.lock();
        let (st, _) = self
            .spooled
            .wait_timeout_while(st, timeout, |st| {
                st.objects.range(st.sent_below..).next().is_none()
            })
            .unwrap_or_else(|p| p.into_inner());
        st.objects.range(st.sent_below..).next().is_some()
    }

    /// Writes an object durably like [`Spool::put`], and keeps its bytes in memory for the
    /// sender (within a budget): the sender then reads no file back. `bytes` is swapped for an
    /// emptied buffer of an object already sent, if there is one, so that receiving the next
    /// object touches no fresh memory; on an error it is left as it was.
    pub fn put_owned(&self, bytes: &mut Vec<u8>, meta: &str) -> Result<u64, SpoolError> {
        let length = bytes.len() as u64;
        // Room in memory is taken before writing, so that a second association cannot take it
        // meanwhile.
        let hot = {
            let mut st = self.lock();
            let room = st.hot_bytes + length <= HOT_BUDGET;
            if room {
                st.hot_bytes += length;
            }
            room
        };
        let put = self.write_object(bytes, meta, hot);
        let mut st = self.lock();
        let id = match put {
            Ok(id) => id,
            Err(e) => {
                if hot {
                    st.hot_bytes = st.hot_bytes.saturating_sub(length);
                }
                return Err(e);
            }
        };
        if hot {
            let spare = st.pool.pop().unwrap_or_default();
            st.pool_bytes = st.pool_bytes.saturating_sub(spare.capacity() as u64);
            st.hot.insert(id, std::mem::replace(bytes, spare));
        }
        Ok(id)
    }

    /// Gives object `id`'s pages back to the kernel once it has been sent from its file: it is
    /// read again only for a replay. (An object handed over in memory gave them back when it
    /// was written.) Without this the page cache grows by fresh pages, which on this machine
    /// class cost microseconds each to touch, while recycled ones do not.
    pub fn release_pages(&self, id: u64) {
        if let Ok(f) = std::fs::File::open(self.obj(id)) {
            release(&f);
        }
    }

    /// The bytes of object `id` if they are still in memory (taken out: they are given once).
    pub fn take_hot(&self, id: u64) -> Option<Vec<u8>> {
        let mut st = self.lock();
        let bytes = st.hot.remove(&id)?;
        st.hot_bytes = st.hot_bytes.saturating_sub(bytes.len() as u64);
        Some(bytes)
    }

    /// Gives back a buffer from [`Spool::take_hot`] once its object is sent.
    pub fn recycle(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        let mut st = self.lock();
        let capacity = buffer.capacity() as u64;
        if st.pool_bytes + capacity <= HOT_BUDGET {
            st.pool_bytes += capacity;
            st.pool.push(buffer);
        }
    }

    fn entry(&self, id: u64, length: u64) -> Entry {
        let path = self.obj(id);
        let (offset, meta) = header(&path).unwrap_or((0, String::new()));
        Entry {
            id,
            path,
            offset,
            length,
            meta,
        }
    }

    /// The oldest object not yet sent.
    pub fn next_unsent(&self) -> Option<Entry> {
        let st = self.lock();
        let (id, len) = st.objects.range(st.sent_below..).next()?;
        Some(self.entry(*id, *len))
    }

    /// Every id below this has been sent.
    pub fn sent_below(&self) -> u64 {
        self.lock().sent_below
    }

    /// Records that `id` was sent, then drops the oldest sent objects beyond the budget (down
    /// to nine tenths of it, so that pruning is occasional).
    ///
    /// `sent-below` is written without an fsync: after a crash the edge may send a few objects
    /// again, which the core drops as duplicates. Before any object is deleted, `next-id` is
    /// made durable, so that ids never go back even when every spooled object has been pruned.
    pub fn mark_sent(&self, id: u64) -> Result<(), SpoolError> {
        let mut st = self.lock();
        // Sent (or replayed) without them: no longer needed in memory.
        let keep = st.hot.split_off(&(id + 1));
        let gone = std::mem::replace(&mut st.hot, keep);
        for (_, b) in gone {
            st.hot_bytes = st.hot_bytes.saturating_sub(b.len() as u64);
        }
        if id + 1 > st.sent_below {
            st.sent_below = id + 1;
            write_small(
                &self.dir.join("sent-below"),
                &st.sent_below.to_string(),
                false,
            )?;
        }
        if st.bytes <= self.budget {
            return Ok(());
        }
        write_small(&self.dir.join("next-id"), &st.next_id.to_string(), true)?;
        sync_dir(&self.dir)?;
        let target = self.budget / 10 * 9;
        while st.bytes > target {
            let Some((&old, &len)) = st.objects.iter().next() else {
                break;
            };
            if old >= st.sent_below {
                break;
            }
            let _ = std::fs::remove_file(self.obj(old));
            st.objects.remove(&old);
            st.bytes = st.bytes.saturating_sub(len);
        }
        Ok(())
    }

    /// Drops sent objects written before `before` (the edge's retention: a sent object is kept
    /// only so that an object the core reports lost can be replayed). Returns how many went.
    pub fn prune_sent_before(&self, before: std::time::SystemTime) -> u64 {
        let mut st = self.lock();
        let mut gone = 0;
        while let Some((&old, &len)) = st.objects.iter().next() {
            if old >= st.sent_below {
                break;
            }
            let path = self.obj(old);
            // Ids grow with time: the first one young enough ends the walk.
            match std::fs::metadata(&path).and_then(|m| m.modified()) {
                Ok(t) if t >= before => break,
                _ => {}
            }
            if std::fs::remove_file(&path).is_err() && path.exists() {
                break;
            }
            st.objects.remove(&old);
            st.bytes = st.bytes.saturating_sub(len);
            gone += 1;
        }
        gone
    }

    /// The number of this edge run, higher than every earlier run's (kept durably in `epoch`,
    /// taken under a lock so that `sluis edge` and `sluis edge replay` never share one): the
    /// larger of the last one plus one and the Unix time in seconds, so that epochs keep
    /// growing even if the spool is lost. The core treats a signed record from an epoch older
    /// than the newest it has heard as a replay.
    pub fn next_epoch(&self) -> Result<u32, SpoolError> {
        let lock = sluis_secret::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.dir.join("epoch.lock"))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(std::io::Error::from)?;
        let path = self.dir.join("epoch");
        let last = read_number(&path)?.unwrap_or(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let next = last.saturating_add(1).max(now);
        let epoch = u32::try_from(next).map_err(|_| {
            std::io::Error::other(format!(
                "{}: epoch {next} does not fit the wire's 32 bits",
                path.display()
            ))
        })?;
        write_small(&path, &epoch.to_string(), true)?;
        sync_dir(&self.dir)?;
        Ok(epoch)
    }

    /// The spooled objects with ids in `from..=to` (those still kept).
    pub fn range(&self, from: u64, to: u64) -> Vec<Entry> {
        let st = self.lock();
        st.objects
            .range(from..=to.max(from))
            .map(|(id, len)| self.entry(*id, *len))
            .collect()
    }

    /// `(objects, bytes, unsent objects)`.
    pub fn depth(&self) -> (u64, u64, u64) {
        let st = self.lock();
        (
            st.objects.len() as u64,
            st.bytes,
            st.objects.range(st.sent_below..).count() as u64,
        )
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
