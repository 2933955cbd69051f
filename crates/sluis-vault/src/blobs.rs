//! Write-once, content-addressed blob storage.
//!
//! A blob's address is the BLAKE3 of its bytes, named `b3-` and 64 hex digits (blobs stored
//! before carry the SHA-256, 64 hex digits alone). The bytes are the ciphertext, so the
//! address says nothing about the plaintext. [`BlobStore`] is shaped like an object store: an upload is streamed,
//! then committed under its address with put-if-absent semantics (the `object_store` crate's
//! `PutMode::Create`, S3's `If-None-Match: *`), reads stream, and nothing is ever overwritten.
//! [`FsBlobStore`] is the embedded default.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::envelope::{BLAKE3_MARK, HashKind};

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest of a blob, and which digest it is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobAddress {
    /// How the digest was made.
    pub hash: HashKind,
    /// The digest.
    pub digest: [u8; 32],
}

impl BlobAddress {
    /// A BLAKE3 address.
    pub fn blake3(digest: [u8; 32]) -> Self {
        BlobAddress {
            hash: HashKind::Blake3,
            digest,
        }
    }

    /// A SHA-256 address (blobs stored before BLAKE3 addresses).
    pub fn sha256(digest: [u8; 32]) -> Self {
        BlobAddress {
            hash: HashKind::Sha256,
            digest,
        }
    }

    /// Parses `b3-` and 64 lower-case hex digits, or 64 lower-case hex digits (SHA-256).
    pub fn parse(name: &str) -> Option<Self> {
        match name.strip_prefix(BLAKE3_MARK) {
            Some(hex) => Self::parse_hex(hex).map(Self::blake3),
            None => Self::parse_hex(name).map(Self::sha256),
        }
    }

    /// The digest in hex, without the kind.
    pub fn hex(&self) -> String {
        hex(&self.digest)
    }

    fn parse_hex(hex: &str) -> Option<[u8; 32]> {
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    }
}

impl fmt::Display for BlobAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hash == HashKind::Blake3 {
            f.write_str(BLAKE3_MARK)?;
        }
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for BlobAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobAddress({self})")
    }
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The blob does not exist.
    #[error("blob {0} is missing")]
    Missing(BlobAddress),
    /// Storage failed.
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether a commit stored the bytes or found them there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored.
    Created,
    /// A blob with this address existed; the upload was discarded.
    Existed,
}

/// An upload in progress.
pub trait BlobUpload: Write + Send {
    /// Makes the bytes written durable under `address`, unless a blob is there already.
    fn commit(self: Box<Self>, address: &BlobAddress) -> Result<PutOutcome, BlobError>;
}

/// Blob storage.
pub trait BlobStore: Send + Sync {
    /// Starts an upload.
    fn upload(&self) -> Result<Box<dyn BlobUpload + '_>, BlobError>;
    /// Streams a blob.
    fn read(&self, address: &BlobAddress) -> Result<Box<dyn Read + Send + '_>, BlobError>;
    /// The size of a blob, or `None` if it does not exist.
    fn size(&self, address: &BlobAddress) -> Result<Option<u64>, BlobError>;
    /// Deletes a blob, durably (no error if it is absent).
    fn delete(&self, address: &BlobAddress) -> Result<(), BlobError>;
    /// Every blob, with its size.
    fn list(&self) -> Result<Vec<(BlobAddress, u64)>, BlobError>;
}

/// Blobs as files `<root>/<aa>/<bb>/<address>`; uploads go to `<root>/incoming/` first.
#[derive(Debug)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// A store in `root` (created if needed). Uploads an earlier process left unfinished in
    /// `incoming/` are removed: they were never committed, so nothing refers to them.
    pub fn open(root: &Path) -> Result<Self, BlobError> {
        sluis_secret::private_dir(root).map_err(std::io::Error::from)?;
        sluis_secret::private_dir(&root.join("incoming")).map_err(std::io::Error::from)?;
        for e in std::fs::read_dir(root.join("incoming"))? {
            let e = e?;
            std::fs::remove_file(e.path())?;
        }
        Ok(FsBlobStore {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, a: &BlobAddress) -> PathBuf {
        let hex = a.hex();
        self.root
            .join(hex.get(..2).unwrap_or("00"))
            .join(hex.get(2..4).unwrap_or("00"))
            .join(a.to_string())
    }
}

struct FsUpload {
    file: std::io::BufWriter<std::fs::File>,
    tmp: PathBuf,
    store: PathBuf,
    done: bool,
}

impl Write for FsUpload {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        self.file.write_vectored(bufs)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for FsUpload {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl BlobUpload for FsUpload {
    fn commit(mut self: Box<Self>, address: &BlobAddress) -> Result<PutOutcome, BlobError> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        // Durable; read again only when someone opens the object. Its pages go back to be
        // reused by the next blob instead of growing the page cache with fresh ones (on this
        // machine class a fresh page costs microseconds to touch; a recycled one does not).
        let _ = rustix::fs::fadvise(self.file.get_ref(), 0, None, rustix::fs::Advice::DontNeed);
        let hex = address.hex();
        let dir = self
            .store
            .join(hex.get(..2).unwrap_or("00"))
            .join(hex.get(2..4).unwrap_or("00"));
        sluis_secret::create_dirs(&dir)?;
        let target = dir.join(address.to_string());
        // A hard link fails if the target exists: put-if-absent without a race.
        let outcome = match std::fs::hard_link(&self.tmp, &target) {
            Ok(()) => PutOutcome::Created,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => PutOutcome::Existed,
            Err(e) => return Err(e.into()),
        };
        std::fs::remove_file(&self.tmp)?;
        self.done = true;
        // The new name, and the directories that may be new, durable.
        for d in [
            dir.as_path(),
            dir.parent().unwrap_or(&dir),
            &self.store,
            &self.store.join("incoming"),
        ] {
            sluis_audit::tiles::sync_dir(d)?;
        }
        Ok(outcome)
    }
}

impl BlobStore for FsBlobStore {
    fn upload(&self) -> Result<Box<dyn BlobUpload + '_>, BlobError> {
        let name = format!(
            "{:032x}",
            u128::from_le_bytes(
                sluis_audit::keys::random_32()
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                    .get(..16)
                    .and_then(|b| b.try_into().ok())
                    .unwrap_or([0; 16])
            )
        );
        let tmp = self.root.join("incoming").join(name);
        let file = sluis_secret::create_new_private(&tmp)?;
        Ok(Box::new(FsUpload {
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            tmp,
            store: self.root.clone(),
            done: false,
        }))
    }

    fn read(&self, address: &BlobAddress) -> Result<Box<dyn Read + Send + '_>, BlobError> {
        match std::fs::File::open(self.path(address)) {
            Ok(f) => Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::Missing(*address)),
            Err(e) => Err(e.into()),
        }
    }

    fn size(&self, address: &BlobAddress) -> Result<Option<u64>, BlobError> {
        match std::fs::metadata(self.path(address)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn delete(&self, address: &BlobAddress) -> Result<(), BlobError> {
        let p = self.path(address);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if let Some(d) = p.parent() {
            sluis_audit::tiles::sync_dir(d)?;
        }
        Ok(())
    }

    fn list(&self) -> Result<Vec<(BlobAddress, u64)>, BlobError> {
        let mut out = Vec::new();
        for a in std::fs::read_dir(&self.root)? {
            let a = a?;
            if a.file_name() == "incoming" || !a.file_type()?.is_dir() {
                continue;
            }
            for b in std::fs::read_dir(a.path())? {
                let b = b?;
                if !b.file_type()?.is_dir() {
                    continue;
                }
                for f in std::fs::read_dir(b.path())? {
                    let f = f?;
                    if let Some(addr) = f.file_name().to_str().and_then(BlobAddress::parse) {
                        out.push((addr, f.metadata()?.len()));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn put_if_absent_read_delete_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let a = BlobAddress::blake3([0xab; 32]);
        let mut up = store.upload().unwrap();
        up.write_all(b"first").unwrap();
        assert_eq!(up.commit(&a).unwrap(), PutOutcome::Created);
        let mut up = store.upload().unwrap();
        up.write_all(b"second").unwrap();
        assert_eq!(up.commit(&a).unwrap(), PutOutcome::Existed);
        let mut got = String::new();
        store.read(&a).unwrap().read_to_string(&mut got).unwrap();
        assert_eq!(got, "first", "write-once");
        assert_eq!(store.list().unwrap(), vec![(a, 5)]);
        // An abandoned upload leaves nothing.
        let mut up = store.upload().unwrap();
        up.write_all(b"x").unwrap();
        drop(up);
        assert_eq!(
            std::fs::read_dir(dir.path().join("incoming"))
                .unwrap()
                .count(),
            0
        );
        store.delete(&a).unwrap();
        assert!(matches!(store.read(&a), Err(BlobError::Missing(_))));
        assert_eq!(store.size(&a).unwrap(), None);
        assert_eq!(BlobAddress::parse(&a.to_string()), Some(a));
        assert!(a.to_string().starts_with("b3-abab"));
        let old = BlobAddress::sha256([0xcd; 32]);
        assert_eq!(old.to_string(), "cd".repeat(32));
        assert_eq!(BlobAddress::parse(&old.to_string()), Some(old));
        assert_eq!(BlobAddress::parse("AB"), None);
        assert_eq!(BlobAddress::parse("b3-AB"), None);
        assert_eq!(BlobAddress::parse(&format!("b3-{}", "0".repeat(63))), None);
    }
}
