//! The C2SP tlog-tiles layout: tile and entry-bundle paths, bundle encoding, and where the log's
//! files are kept ([`TileStore`]).
//!
//! ```text
//! <log>/checkpoint                      signed note: origin, size, root hash, signatures
//! <log>/tile/<L>/<N>[.p/<W>]            hash tiles, N as x001/x234/067
//! <log>/tile/entries/<N>[.p/<W>]        entry bundles: u16 big-endian length, entry, repeated
//! ```
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::merkle::{Hash, TILE_WIDTH};

/// The largest entry a bundle can carry (its length is a u16).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// The `<N>` path element: zero-padded groups of three digits, all but the last prefixed `x`.
pub fn index_path(index: u64) -> String {
    let digits = format!("{index}");
    let padded_len = digits.len().div_ceil(3).saturating_mul(3).max(3);
    let padded = format!("{index:0>padded_len$}");
    let groups: Vec<&str> = padded
        .as_bytes()
        .chunks(3)
        .map(|c| std::str::from_utf8(c).unwrap_or("000"))
        .collect();
    let last = groups.len().saturating_sub(1);
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            if i < last {
                format!("x{g}")
            } else {
                (*g).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The path of a hash tile (`width` 256 for a full tile).
pub fn tile_path(level: u8, index: u64, width: usize) -> String {
    let base = format!("tile/{level}/{}", index_path(index));
    if width == TILE_WIDTH {
        base
    } else {
        format!("{base}.p/{width}")
    }
}

/// The path of an entry bundle (`width` 256 for a full bundle).
pub fn bundle_path(index: u64, width: usize) -> String {
    let base = format!("tile/entries/{}", index_path(index));
    if width == TILE_WIDTH {
        base
    } else {
        format!("{base}.p/{width}")
    }
}

/// Encodes entries as a bundle.
pub fn encode_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e.get(..usize::from(len)).unwrap_or_default());
    }
    out
}

/// Decodes a bundle; `None` when it is malformed (a length past the end).
pub fn decode_bundle(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(2)?;
        let n = usize::from(u16::from_be_bytes([*len.first()?, *len.get(1)?]));
        let (entry, tail) = tail.split_at_checked(n)?;
        out.push(entry.to_vec());
        rest = tail;
    }
    Some(out)
}

/// Encodes hashes as tile bytes.
pub fn encode_tile(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// Decodes tile bytes; `None` when the length is not a whole number of hashes.
pub fn decode_tile(bytes: &[u8]) -> Option<Vec<Hash>> {
    let (hashes, rest) = bytes.as_chunks::<32>();
    rest.is_empty()
        .then(|| hashes.iter().map(|h| Hash(*h)).collect())
}

/// Where the log's files live. The filesystem store is the embedded default; an object store
/// implements the same calls (`write` as an overwrite of a whole object, `read` as a GET).
pub trait TileStore: Send + Sync {
    /// Reads a file; `Ok(None)` when it does not exist.
    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>>;
    /// Writes a file, durable once the next [`TileStore::sync`] (or [`TileStore::publish`])
    /// returns. Until then a crash may leave it absent or incomplete: the log only writes such
    /// files beyond its checkpoint, and removes them on open.
    fn write(&self, path: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// Makes every write so far durable.
    fn sync(&self) -> std::io::Result<()>;
    /// Replaces a file atomically and durably, after every earlier write is durable: a reader,
    /// or a crash, sees the old file or the new one, never a mix, and never the new one before
    /// the files it refers to. The checkpoint is published this way.
    fn publish(&self, path: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// Removes a file if present (stale partial tiles).
    fn remove(&self, path: &str) -> std::io::Result<()>;
    /// Lists files under a directory prefix (for cleaning up after a crash).
    fn list(&self, prefix: &str) -> std::io::Result<Vec<String>>;
}

/// Tiles in a directory. A write goes to a temporary file renamed into place, without an fsync
/// of its own; [`TileStore::sync`] makes everything durable with one `syncfs(2)` of the
/// filesystem (one journal commit for a whole batch of files, where an fsync per file and per
/// directory costs a commit each). The checkpoint is published by writing a temporary file,
/// `syncfs`, rename, and an fsync of the directory. Where `syncfs` is unavailable, every file and
/// directory written since the last sync is fsynced instead.
///
/// `syncfs` also flushes whatever else is dirty on the same filesystem; a deployment with other
/// heavy writers keeps the log on a filesystem of its own.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    /// Sync with `syncfs` (one journal commit for everything) or file by file.
    per_file: bool,
    /// Files and directories written since the last sync (for the fallback).
    unsynced: std::sync::Mutex<std::collections::BTreeSet<PathBuf>>,
}

impl FsStore {
    /// A store rooted at `root` (created if needed).
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        // The log is owner-only like everything sluis writes; publishing it is a deliberate
        // step (ARCHITECTURE.md: serve it read-only, or copy it to a web root).
        sluis_secret::private_dir(&root)?;
        Ok(FsStore {
            root,
            per_file: false,
            unsynced: std::sync::Mutex::new(Default::default()),
        })
    }

    /// A store over an existing log directory that is only read (an auditor's verification):
    /// nothing is created, and the directory's mode is left as it is (a published copy may be
    /// open to all on purpose).
    pub fn reader(root: impl Into<PathBuf>) -> Self {
        FsStore {
            root: root.into(),
            per_file: false,
            unsynced: std::sync::Mutex::new(Default::default()),
        }
    }

    /// A store that fsyncs each file and directory it wrote instead of calling `syncfs`: for a
    /// log that shares its filesystem with heavy writers (a vault's blobs, a link's spool),
    /// whose dirty data `syncfs` would flush with every commit.
    pub fn per_file(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let mut s = Self::new(root)?;
        s.per_file = true;
        Ok(s)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, path: &str) -> std::io::Result<PathBuf> {
        if path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
            || path.starts_with('/')
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad log path {path:?}"),
            ));
        }
        Ok(self.root.join(path))
    }
}

impl FsStore {
    /// Writes `bytes` to a temporary file next to `full`; returns its path.
    fn write_tmp(&self, full: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let dir = full.parent().unwrap_or(&self.root);
        if !dir.is_dir() {
            sluis_secret::create_dirs(dir)?;
            self.note_dirs(dir);
        }
        // One writer per log (the sequencer), so the name need not be unique.
        let tmp = dir.join(format!(
            ".tmp-{}",
            full.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        ));
        let mut f = sluis_secret::create_private(&tmp)?;
        f.write_all(bytes)?;
        Ok(tmp)
    }

    /// Remembers a file and its directory for the fallback sync.
    fn note(&self, file: &Path) {
        if let Ok(mut u) = self.unsynced.lock() {
            u.insert(file.to_path_buf());
            if let Some(d) = file.parent() {
                u.insert(d.to_path_buf());
            }
        }
    }

    /// Remembers a new directory and its parents up to the root.
    fn note_dirs(&self, dir: &Path) {
        if let Ok(mut u) = self.unsynced.lock() {
            let mut d = dir.to_path_buf();
            while d.starts_with(&self.root) {
                u.insert(d.clone());
                if d == self.root || !d.pop() {
                    break;
                }
            }
        }
    }
}

/// Fsyncs a directory so that renames in it are durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl TileStore for FsStore {
    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.resolve(path)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        let full = self.resolve(path)?;
        let tmp = self.write_tmp(&full, bytes)?;
        std::fs::rename(&tmp, &full)?;
        self.note(&full);
        Ok(())
    }

    fn sync(&self) -> std::io::Result<()> {
        let pending = match self.unsynced.lock() {
            Ok(mut d) => std::mem::take(&mut *d),
            Err(_) => return Err(std::io::Error::other("poisoned")),
        };
        if !self.per_file {
            let root = std::fs::File::open(&self.root)?;
            if rustix::fs::syncfs(&root).is_ok() {
                return Ok(());
            }
        }

        // Deepest first, so a file is durable before the directory entry naming it.
        for p in pending.iter().rev() {
            std::fs::File::open(p)?.sync_all()?;
        }
        Ok(())
    }

    fn publish(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        let full = self.resolve(path)?;
        let tmp = self.write_tmp(&full, bytes)?;
        self.note(&tmp);
        self.sync()?;
        std::fs::rename(&tmp, &full)?;
        sync_dir(full.parent().unwrap_or(&self.root))
    }

    fn remove(&self, path: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.resolve(path)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn list(&self, prefix: &str) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        let base = self.resolve(prefix)?;
        let mut stack = vec![base];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let p = entry.path();
                if entry.file_type()?.is_dir() {
                    stack.push(p);
                } else if let Ok(rel) = p.strip_prefix(&self.root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_tlog_tiles() {
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(5), "005");
        assert_eq!(index_path(1234067), "x001/x234/067");
        assert_eq!(index_path(999), "999");
        assert_eq!(index_path(1000), "x001/000");
        assert_eq!(tile_path(0, 1234067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile_path(1, 3, 17), "tile/1/003.p/17");
        assert_eq!(bundle_path(2, 5), "tile/entries/002.p/5");
    }

    #[test]
    fn bundles_round_trip_and_reject_lies() {
        let entries: Vec<&[u8]> = vec![b"a", b"", b"hello"];
        let b = encode_bundle(entries.iter().copied());
        assert_eq!(
            decode_bundle(&b).unwrap(),
            vec![b"a".to_vec(), vec![], b"hello".to_vec()]
        );
        assert!(decode_bundle(&[0, 9, 1]).is_none());
        assert!(decode_bundle(&[0]).is_none());
    }

    #[test]
    fn store_rejects_escaping_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path()).unwrap();
        assert!(store.write("../x", b"no").is_err());
        assert!(store.write("tile//x", b"no").is_err());
        store.write("tile/0/000", b"ok").unwrap();
        store.sync().unwrap();
        assert_eq!(store.read("tile/0/000").unwrap().unwrap(), b"ok");
        assert_eq!(store.list("tile").unwrap(), vec!["tile/0/000".to_string()]);
    }
}
