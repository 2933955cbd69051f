//! The log: batched, durable appends; the signed checkpoint; proofs and receipts.
//!
//! One sequencer thread owns the tree. Callers send entries and wait; the sequencer takes every
//! entry waiting (up to a batch limit), appends them to the tree, writes the entry bundles and
//! tiles they complete or extend, makes them durable, then signs and writes the checkpoint and
//! makes that durable, and only then answers each caller with its index. A crash before the
//! checkpoint is durable loses only entries nobody was told about; on the next open the files
//! they left beyond the checkpoint are removed, and the tree is rebuilt from the checkpoint's
//! partial tiles and checked against its root.

use std::sync::{Arc, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::checkpoint::{self, CheckpointError};
use crate::keys::{LogSigner, NoteVerifier};
use crate::merkle::{
    Edge, Hash, MerkleError, Prover, TILE_HEIGHT, TILE_WIDTH, TileHashes, leaf_hash, partial_width,
    tile_width,
};
use crate::tiles::{self, MAX_ENTRY_BYTES, TileStore};

/// Why the log could not do something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// Storage failed.
    #[error("log storage: {0}")]
    Io(#[from] std::io::Error),
    /// An entry larger than 65,535 bytes.
    #[error("entry of {0} bytes; at most 65535")]
    EntryTooLarge(usize),
    /// The checkpoint could not be made or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A Merkle computation failed.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// The stored log does not match its checkpoint.
    #[error("the log is corrupt: {0}")]
    Corrupt(String),
    /// A log exists already (create) or does not (open).
    #[error("{0}")]
    State(String),
    /// The sequencer has stopped.
    #[error("the log is closed")]
    Closed,
}

/// Where an entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its index.
    pub index: u64,
    /// The size of the first durable checkpoint that contains it.
    pub size: u64,
}

/// Tuning of the sequencer.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Most entries integrated per checkpoint.
    pub max_entries: usize,
    /// How long the sequencer lingers for more entries after the first, when the previous batch
    /// had more than one (several writers are active). A lone writer never waits; entries that
    /// arrive while a batch is being made durable form the next batch either way.
    pub max_wait: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            max_entries: 8192,
            max_wait: Duration::from_micros(300),
        }
    }
}

enum Job {
    Append(Vec<u8>, mpsc::SyncSender<Result<Appended, String>>),
    Cosignatures(u64, String, mpsc::SyncSender<Result<(), String>>),
}

/// The state every reader sees: the latest durable checkpoint and the tree's right edge.
#[derive(Clone)]
struct Published {
    edge: Edge,
    bundle: Vec<Vec<u8>>,
    checkpoint: Vec<u8>,
}

struct Inner {
    store: Arc<dyn TileStore>,
    published: RwLock<Published>,
}

/// An open log.
pub struct Log {
    inner: Arc<Inner>,
    tx: Option<mpsc::Sender<Job>>,
    worker: Option<JoinHandle<()>>,
    verifier: NoteVerifier,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("size", &self.size()).finish()
    }
}

/// Parsed tile or bundle path: (level, or `None` for entries; index; width).
pub(crate) fn parse_path(path: &str) -> Option<(Option<u8>, u64, usize)> {
    let rest = path.strip_prefix("tile/")?;
    let (level, rest) = rest.split_once('/')?;
    let level = if level == "entries" {
        None
    } else {
        Some(level.parse::<u8>().ok()?)
    };
    let (index_part, width) = match rest.split_once(".p/") {
        Some((i, w)) => (
            i,
            w.parse::<usize>()
                .ok()
                .filter(|w| (1..TILE_WIDTH).contains(w))?,
        ),
        None => (rest, TILE_WIDTH),
    };
    let mut index: u64 = 0;
    for group in index_part.split('/') {
        let digits = group.strip_prefix('x').unwrap_or(group);
        if digits.len() != 3 {
            return None;
        }
        index = index
            .checked_mul(1000)?
            .checked_add(digits.parse::<u64>().ok()?)?;
    }
    Some((level, index, width))
}

/// The number of entries a tile or bundle covers up to (its end index).
fn coverage_end(level: Option<u8>, index: u64, width: usize) -> u64 {
    let shift = u32::from(level.unwrap_or(0)) * TILE_HEIGHT;
    (index * TILE_WIDTH as u64 + width as u64)
        .checked_shl(shift)
        .unwrap_or(u64::MAX)
}

impl Log {
    /// Creates a new, empty log with origin `signer.name()` in `store`.
    pub fn create(
        store: Arc<dyn TileStore>,
        signer: LogSigner,
        batching: Batching,
    ) -> Result<Self, LogError> {
        if store.read("checkpoint")?.is_some() {
            return Err(LogError::State("a log exists here already".into()));
        }
        let edge = Edge::new();
        let cp = checkpoint::sign(&signer, 0, &edge.root())?;
        store.publish("checkpoint", &cp)?;
        Self::start(
            store,
            signer,
            Published {
                edge,
                bundle: Vec::new(),
                checkpoint: cp,
            },
            batching,
        )
    }

    /// Opens an existing log: verifies its checkpoint with `signer`'s key, rebuilds the tree's
    /// right edge from the partial tiles, checks it against the checkpoint's root, and removes
    /// files an interrupted batch left beyond the checkpoint.
    pub fn open(
        store: Arc<dyn TileStore>,
        signer: LogSigner,
        batching: Batching,
    ) -> Result<Self, LogError> {
        let cp = store
            .read("checkpoint")?
            .ok_or_else(|| LogError::State("no log here (no checkpoint)".into()))?;
        let verifier =
            NoteVerifier::new(&signer.vkey()).map_err(|e| LogError::State(e.to_string()))?;
        let v = checkpoint::verify(&cp, &verifier, &[])?;
        let size = v.size;
        let mut levels = Vec::new();
        for level in 0..64usize {
            let shift = u32::try_from(level).unwrap_or(0) * TILE_HEIGHT;
            if size.checked_shr(shift).unwrap_or(0) == 0 {
                break;
            }
            let w = partial_width(size, level);
            if w == 0 {
                levels.push(Vec::new());
                continue;
            }
            let index = (size >> shift) / TILE_WIDTH as u64;
            let path = tiles::tile_path(u8::try_from(level).unwrap_or(0), index, w);
            let bytes = store
                .read(&path)?
                .ok_or_else(|| LogError::Corrupt(format!("{path} is missing")))?;
            let hashes = tiles::decode_tile(&bytes)
                .filter(|h| h.len() == w)
                .ok_or_else(|| LogError::Corrupt(format!("{path} is malformed")))?;
            levels.push(hashes);
        }
        let edge =
            Edge::from_partials(size, levels).map_err(|e| LogError::Corrupt(e.to_string()))?;
        if edge.root() != v.root {
            return Err(LogError::Corrupt(
                "the partial tiles do not hash to the checkpoint's root".into(),
            ));
        }
        let w0 = partial_width(size, 0);
        let bundle = if w0 > 0 {
            let path = tiles::bundle_path(size / TILE_WIDTH as u64, w0);
            let bytes = store
                .read(&path)?
                .ok_or_else(|| LogError::Corrupt(format!("{path} is missing")))?;
            let entries = tiles::decode_bundle(&bytes)
                .filter(|e| e.len() == w0)
                .ok_or_else(|| LogError::Corrupt(format!("{path} is malformed")))?;
            let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
            if edge.levels().first().map(Vec::as_slice) != Some(leaves.as_slice()) {
                return Err(LogError::Corrupt(format!("{path} does not match its tile")));
            }
            entries
        } else {
            Vec::new()
        };
        for path in store.list("tile")? {
            if let Some((level, index, width)) = parse_path(&path) {
                if coverage_end(level, index, width) > size {
                    store.remove(&path)?;
                }
            } else if path
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(".tmp-"))
            {
                store.remove(&path)?;
            }
        }
        store.remove(".tmp-checkpoint")?;
        store.sync()?;
        Self::start(
            store,
            signer,
            Published {
                edge,
                bundle,
                checkpoint: cp,
            },
            batching,
        )
    }

    fn start(
        store: Arc<dyn TileStore>,
        signer: LogSigner,
        published: Published,
        batching: Batching,
    ) -> Result<Self, LogError> {
        let verifier =
            NoteVerifier::new(&signer.vkey()).map_err(|e| LogError::State(e.to_string()))?;
        let inner = Arc::new(Inner {
            store,
            published: RwLock::new(published.clone()),
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let worker_inner = Arc::clone(&inner);
        let worker = std::thread::Builder::new()
            .name("sluis-log-sequencer".into())
            .spawn(move || sequencer(worker_inner, signer, published, rx, batching))?;
        Ok(Log {
            inner,
            tx: Some(tx),
            worker: Some(worker),
            verifier,
        })
    }

    /// Appends an entry and returns once it is sequenced and durable.
    pub fn append(&self, entry: Vec<u8>) -> Result<Appended, LogError> {
        if entry.len() > MAX_ENTRY_BYTES {
            return Err(LogError::EntryTooLarge(entry.len()));
        }
        let (reply, wait) = mpsc::sync_channel(1);
        self.tx
            .as_ref()
            .ok_or(LogError::Closed)?
            .send(Job::Append(entry, reply))
            .map_err(|_| LogError::Closed)?;
        wait.recv()
            .map_err(|_| LogError::Closed)?
            .map_err(|e| LogError::Io(std::io::Error::other(e)))
    }

    /// The latest durable signed checkpoint.
    pub fn checkpoint(&self) -> Vec<u8> {
        self.inner
            .published
            .read()
            .map(|p| p.checkpoint.clone())
            .unwrap_or_default()
    }

    /// The log's verifier (public key).
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The size of the latest durable checkpoint.
    pub fn size(&self) -> u64 {
        self.inner
            .published
            .read()
            .map(|p| p.edge.size())
            .unwrap_or(0)
    }

    /// Adds witness cosignature lines to the checkpoint of `size`, if it is still the latest.
    pub fn add_cosignatures(&self, size: u64, lines: &str) -> Result<(), LogError> {
        let (reply, wait) = mpsc::sync_channel(1);
        self.tx
            .as_ref()
            .ok_or(LogError::Closed)?
            .send(Job::Cosignatures(size, lines.to_string(), reply))
            .map_err(|_| LogError::Closed)?;
        wait.recv()
            .map_err(|_| LogError::Closed)?
            .map_err(LogError::State)
    }

    /// Appends several entries and returns once all are durable, their places in the order
    /// given. The sequencer takes them together, so this costs about one batch, not one each.
    pub fn append_all(&self, entries: Vec<Vec<u8>>) -> Result<Vec<Appended>, LogError> {
        if let Some(e) = entries.iter().find(|e| e.len() > MAX_ENTRY_BYTES) {
            return Err(LogError::EntryTooLarge(e.len()));
        }
        let tx = self.tx.as_ref().ok_or(LogError::Closed)?;
        let mut waits = Vec::with_capacity(entries.len());
        for entry in entries {
            let (reply, wait) = mpsc::sync_channel(1);
            tx.send(Job::Append(entry, reply))
                .map_err(|_| LogError::Closed)?;
            waits.push(wait);
        }
        waits
            .into_iter()
            .map(|w| {
                w.recv()
                    .map_err(|_| LogError::Closed)?
                    .map_err(|e| LogError::Io(std::io::Error::other(e)))
            })
            .collect()
    }

    /// Entries `from..to` of the latest checkpoint's tree, reading each bundle once.
    pub fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, LogError> {
        let p = self
            .inner
            .published
            .read()
            .map_err(|_| LogError::Closed)?
            .clone();
        let size = p.edge.size();
        if from > to || to > size {
            return Err(LogError::State(format!(
                "entries {from}..{to} are not within the log's {size}"
            )));
        }
        let mut out = Vec::new();
        let width = TILE_WIDTH as u64;
        let mut n = from / width;
        while n * width < to {
            let bundle = if (n + 1) * width <= size {
                let path = tiles::bundle_path(n, TILE_WIDTH);
                let bytes = self
                    .inner
                    .store
                    .read(&path)?
                    .ok_or_else(|| LogError::Corrupt(format!("{path} is missing")))?;
                tiles::decode_bundle(&bytes)
                    .filter(|e| e.len() == TILE_WIDTH)
                    .ok_or_else(|| LogError::Corrupt(format!("{path} is malformed")))?
            } else {
                p.bundle.clone()
            };
            let lo = usize::try_from(from.saturating_sub(n * width)).unwrap_or(0);
            let hi = usize::try_from((to - n * width).min(width)).unwrap_or(0);
            out.extend(bundle.into_iter().take(hi).skip(lo));
            n += 1;
        }
        Ok(out)
    }

    /// Entry `index`.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, LogError> {
        let p = self
            .inner
            .published
            .read()
            .map_err(|_| LogError::Closed)?
            .clone();
        let size = p.edge.size();
        if index >= size {
            return Err(LogError::State(format!(
                "entry {index} is beyond the log's {size} entries"
            )));
        }
        let n = index / TILE_WIDTH as u64;
        let at = usize::try_from(index % TILE_WIDTH as u64).unwrap_or(0);
        if (n + 1) * TILE_WIDTH as u64 <= size {
            let path = tiles::bundle_path(n, TILE_WIDTH);
            let bytes = self
                .inner
                .store
                .read(&path)?
                .ok_or_else(|| LogError::Corrupt(format!("{path} is missing")))?;
            let entries = tiles::decode_bundle(&bytes)
                .ok_or_else(|| LogError::Corrupt(format!("{path} is malformed")))?;
            entries
                .get(at)
                .cloned()
                .ok_or_else(|| LogError::Corrupt(format!("{path} is short")))
        } else {
            p.bundle
                .get(at)
                .cloned()
                .ok_or_else(|| LogError::Corrupt("partial bundle is short".into()))
        }
    }

    /// Runs `f` over the stored tiles for a tree of `size` entries, refusing a size beyond the
    /// latest checkpoint. Only the right edge is copied out of the published state.
    fn with_source<T>(
        &self,
        size: u64,
        f: impl FnOnce(&dyn TileHashes) -> Result<T, LogError>,
    ) -> Result<T, LogError> {
        let edge = self
            .inner
            .published
            .read()
            .map_err(|_| LogError::Closed)?
            .edge
            .clone();
        if size > edge.size() {
            return Err(LogError::State(format!(
                "size {size} is beyond the log's {}",
                edge.size()
            )));
        }
        let source = StoredTiles {
            store: self.inner.store.as_ref(),
            edge: &edge,
        };
        f(&source)
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        self.with_source(size, |s| Ok(Prover::new(s, size).inclusion(index)?))
    }

    /// The consistency proof from the tree of `old` entries to the tree of `size` entries.
    pub fn consistency_proof(&self, old: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        self.with_source(size, |s| Ok(Prover::new(s, size).consistency(old)?))
    }

    /// The root of the tree of `size` entries.
    pub fn root(&self, size: u64) -> Result<Hash, LogError> {
        self.with_source(size, |s| Ok(Prover::new(s, size).root()?))
    }

    /// An offline receipt (C2SP tlog-proof) for entry `index` against the latest checkpoint,
    /// with the entry itself as the extra data so that a verifier can rehash it.
    pub fn tlog_proof(&self, index: u64) -> Result<String, LogError> {
        let cp = self.checkpoint();
        let v = checkpoint::verify(&cp, &self.verifier, &[])?;
        let proof = self.inclusion_proof(index, v.size)?;
        let entry = self.entry(index)?;
        Ok(crate::verify::format_receipt(&crate::verify::Receipt {
            extra: Some(entry),
            index,
            proof,
            checkpoint: cp,
        }))
    }

    /// Stops the sequencer after the entries already sent.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.tx.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Tiles as the log has stored them, with the right edge from memory.
struct StoredTiles<'a> {
    store: &'a dyn TileStore,
    edge: &'a Edge,
}

impl TileHashes for StoredTiles<'_> {
    fn tile(&self, level: u8, index: u64, size: u64) -> Result<Vec<Hash>, MerkleError> {
        let shift = u32::from(level) * TILE_HEIGHT;
        let width = tile_width(level, index, size);
        let err = |reason: String| MerkleError::Tile {
            level,
            index,
            reason,
        };
        if width == 0 {
            return Err(err("beyond the tree".into()));
        }
        let full_now = (self.edge.size() >> shift) / TILE_WIDTH as u64;
        let hashes = if index < full_now {
            let path = tiles::tile_path(level, index, TILE_WIDTH);
            let bytes = self
                .store
                .read(&path)
                .map_err(|e| err(e.to_string()))?
                .ok_or_else(|| err("missing".into()))?;
            tiles::decode_tile(&bytes).ok_or_else(|| err("malformed".into()))?
        } else if index == full_now {
            self.edge
                .levels()
                .get(usize::from(level))
                .cloned()
                .unwrap_or_default()
        } else {
            return Err(err("beyond the log".into()));
        };
        hashes
            .get(..width)
            .map(<[Hash]>::to_vec)
            .ok_or_else(|| err(format!("holds {}, {width} needed", hashes.len())))
    }
}

fn sequencer(
    inner: Arc<Inner>,
    signer: LogSigner,
    mut state: Published,
    rx: mpsc::Receiver<Job>,
    batching: Batching,
) {
    // Entries in the last batch: more than one means several writers are active, and it pays
    // to linger a moment for the ones still preparing their next entry.
    let mut last_batch = 0usize;
    while let Ok(first) = rx.recv() {
        let mut appends = Vec::new();
        let mut others = Vec::new();
        match first {
            Job::Append(e, r) => appends.push((e, r)),
            other => others.push(other),
        }
        let linger = if last_batch > 1 {
            batching.max_wait
        } else {
            Duration::ZERO
        };
        let deadline = Instant::now() + linger;
        while appends.len() < batching.max_entries {
            let next = match rx.try_recv() {
                Ok(j) => Some(j),
                Err(mpsc::TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline || !others.is_empty() {
                        None
                    } else {
                        rx.recv_timeout(deadline - now).ok()
                    }
                }
                Err(mpsc::TryRecvError::Disconnected) => None,
            };
            match next {
                Some(Job::Append(e, r)) => appends.push((e, r)),
                Some(other) => others.push(other),
                None => break,
            }
        }
        last_batch = appends.len();
        if !appends.is_empty() {
            let before = state.clone();
            let entries: Vec<Vec<u8>> = appends.iter().map(|(e, _)| e.clone()).collect();
            match integrate(inner.store.as_ref(), &signer, &mut state, &entries) {
                Ok((first_index, size, completed)) => {
                    if let Ok(mut p) = inner.published.write() {
                        *p = state.clone();
                    }
                    for (i, (_, reply)) in appends.into_iter().enumerate() {
                        let _ = reply.send(Ok(Appended {
                            index: first_index + i as u64,
                            size,
                        }));
                    }
                    // Partial tiles of a completed tile are no longer needed by anyone.
                    for (level, index) in completed {
                        let dir = match level {
                            Some(l) => format!("tile/{l}/{}.p", tiles::index_path(index)),
                            None => format!("tile/entries/{}.p", tiles::index_path(index)),
                        };
                        if let Ok(paths) = inner.store.list(&dir) {
                            for p in paths {
                                let _ = inner.store.remove(&p);
                            }
                        }
                    }
                }
                Err(e) => {
                    state = before;
                    let msg = e.to_string();
                    for (_, reply) in appends {
                        let _ = reply.send(Err(msg.clone()));
                    }
                }
            }
        }
        for job in others {
            if let Job::Cosignatures(size, lines, reply) = job {
                let _ = reply.send(add_cosignatures(inner.as_ref(), &mut state, size, &lines));
            }
        }
    }
}

fn add_cosignatures(
    inner: &Inner,
    state: &mut Published,
    size: u64,
    lines: &str,
) -> Result<(), String> {
    if state.edge.size() != size {
        return Err(format!("the checkpoint has moved on from size {size}"));
    }
    let cp =
        checkpoint::add_signature_lines(&state.checkpoint, lines).map_err(|e| e.to_string())?;
    inner
        .store
        .publish("checkpoint", &cp)
        .map_err(|e| e.to_string())?;
    state.checkpoint = cp;
    if let Ok(mut p) = inner.published.write() {
        p.checkpoint = state.checkpoint.clone();
    }
    Ok(())
}

type Completed = Vec<(Option<u8>, u64)>;

/// Appends `entries` and makes them durable with a new checkpoint; returns the first index,
/// the new size, and the tiles and bundles completed.
fn integrate(
    store: &dyn TileStore,
    signer: &LogSigner,
    state: &mut Published,
    entries: &[Vec<u8>],
) -> Result<(u64, u64, Completed), LogError> {
    let first = state.edge.size();
    let mut completed = Vec::new();
    for entry in entries {
        let index = state.edge.size();
        state.bundle.push(entry.clone());
        for tile in state.edge.append(leaf_hash(entry)) {
            store.write(
                &tiles::tile_path(tile.level, tile.index, TILE_WIDTH),
                &tiles::encode_tile(&tile.hashes),
            )?;
            completed.push((Some(tile.level), tile.index));
        }
        if state.bundle.len() == TILE_WIDTH {
            let n = index / TILE_WIDTH as u64;
            store.write(
                &tiles::bundle_path(n, TILE_WIDTH),
                &tiles::encode_bundle(state.bundle.iter().map(Vec::as_slice)),
            )?;
            state.bundle.clear();
            completed.push((None, n));
        }
    }
    let size = state.edge.size();
    if !state.bundle.is_empty() {
        store.write(
            &tiles::bundle_path(size / TILE_WIDTH as u64, state.bundle.len()),
            &tiles::encode_bundle(state.bundle.iter().map(Vec::as_slice)),
        )?;
    }
    for (level, hashes) in state.edge.levels().iter().enumerate() {
        if !hashes.is_empty() {
            let shift = u32::try_from(level).unwrap_or(0) * TILE_HEIGHT;
            let index = (size >> shift) / TILE_WIDTH as u64;
            store.write(
                &tiles::tile_path(u8::try_from(level).unwrap_or(0), index, hashes.len()),
                &tiles::encode_tile(hashes),
            )?;
        }
    }
    // The tiles and bundles become durable before the checkpoint that refers to them.
    let cp = checkpoint::sign(signer, size, &state.edge.root())?;
    store.publish("checkpoint", &cp)?;
    state.checkpoint = cp;

    Ok((first, size, completed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_parse_back() {
        assert_eq!(
            parse_path("tile/0/x001/x234/067"),
            Some((Some(0), 1_234_067, 256))
        );
        assert_eq!(parse_path("tile/entries/005.p/17"), Some((None, 5, 17)));
        assert_eq!(parse_path("tile/2/000.p/1"), Some((Some(2), 0, 1)));
        assert_eq!(parse_path("tile/0/5"), None);
        assert_eq!(parse_path("checkpoint"), None);
        assert_eq!(coverage_end(Some(1), 0, 1), 256);
        assert_eq!(coverage_end(None, 2, 256), 768);
    }
}
