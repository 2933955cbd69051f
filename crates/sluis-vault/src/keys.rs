//! The authority's keys: the key-encryption key (behind [`KeySource`]), the secret that keys
//! pseudonyms and content tags, and the log's signing key. Every secret lives in a file that
//! only its owner may read; a file others can read is refused, not used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use sluis_audit::keys::{read_secret, write_secret};
use zeroize::Zeroizing;

use crate::envelope::{Dek, unwrap_with, wrap_with};

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key file is missing, readable by others, malformed or exists already.
    #[error(transparent)]
    File(#[from] sluis_audit::keys::KeyError),
    /// No key with this id is held.
    #[error(
        "key-encryption key {0} is not held by this key source (was it retired, or is this the wrong key directory?)"
    )]
    Unknown(String),
    /// A wrapped data key did not unwrap.
    #[error(
        "a data key does not unwrap under key-encryption key {0}: the key is wrong or the wrapped key was altered"
    )]
    Unwrap(String),
    /// The key files do not match the vault.
    #[error("{0}")]
    Mismatch(String),
    /// Reading or writing a key failed.
    #[error("{0}")]
    Io(String),
}

/// Where the key-encryption key lives. The key never leaves the source: callers hand it data
/// keys to wrap and wrapped keys to unwrap, which is what a PKCS#11 token offers too
/// (`C_WrapKey`/`C_UnwrapKey`, or `C_Encrypt`/`C_Decrypt` with a non-extractable AES key).
pub trait KeySource: Send + Sync {
    /// The id of the key new data keys are wrapped under.
    fn current(&self) -> String;
    /// The ids of every key held.
    fn ids(&self) -> Vec<String>;
    /// Wraps a data key under the current key; returns the key id and the wrapped bytes.
    fn wrap(&self, dek: &Dek, aad: &[u8]) -> Result<(String, Vec<u8>), KeyError>;
    /// Unwraps a data key wrapped under `kek_id`.
    fn unwrap(&self, kek_id: &str, wrapped: &[u8], aad: &[u8]) -> Result<Dek, KeyError>;
    /// Creates a new key and makes it current; older keys stay until retired.
    fn rotate(&mut self) -> Result<String, KeyError>;
    /// Destroys a key (no data key may be wrapped under it any more).
    fn retire(&mut self, kek_id: &str) -> Result<(), KeyError>;
}

const KEK_TAG: &str = "sluis-kek/1";

/// The id of a key: `kek-` and the first 8 bytes of SHA-256 over a label and the key, in hex.
fn kek_id(key: &[u8; 32]) -> String {
    let d = Sha256::new()
        .chain_update(b"sluis kek id\n")
        .chain_update(key)
        .finalize();
    let hex: String = d.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("kek-{hex}")
}

/// Key-encryption keys in files `kek-<generation>.key` (mode 0600) in one directory; the
/// highest generation is current.
pub struct FileKeySource {
    dir: PathBuf,
    /// generation -> (id, key)
    keys: BTreeMap<u32, (String, Zeroizing<[u8; 32]>)>,
}

impl std::fmt::Debug for FileKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeySource")
            .field("dir", &self.dir)
            .field("ids", &self.ids())
            .finish()
    }
}

fn random_key() -> Result<Zeroizing<[u8; 32]>, KeyError> {
    Ok(Zeroizing::new(sluis_audit::keys::random_32()?))
}

fn parse_tagged(path: &Path, tag: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let text = Zeroizing::new(read_secret(path)?);
    let malformed = || {
        KeyError::File(sluis_audit::keys::KeyError::Malformed(format!(
            "{} is not a {tag} key file",
            path.display()
        )))
    };
    let b64 = text
        .trim()
        .strip_prefix(tag)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(malformed)?;
    let raw = Zeroizing::new(B64.decode(b64).map_err(|_| malformed())?);
    let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| malformed())?;
    Ok(Zeroizing::new(key))
}

fn write_tagged(path: &Path, tag: &str, key: &[u8; 32]) -> Result<(), KeyError> {
    let text = Zeroizing::new(format!("{tag} {}", B64.encode(key)));
    write_secret(path, &text)?;
    Ok(())
}

impl FileKeySource {
    /// Creates the directory's first key; refuses if one exists.
    pub fn create(dir: &Path) -> Result<Self, KeyError> {
        sluis_secret::private_dir(dir).map_err(|e| KeyError::Io(e.to_string()))?;
        let mut s = FileKeySource {
            dir: dir.to_path_buf(),
            keys: BTreeMap::new(),
        };
        if std::fs::read_dir(dir)
            .map_err(|e| KeyError::Io(e.to_string()))?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("kek-"))
        {
            return Err(KeyError::Mismatch(format!(
                "{} holds key-encryption keys already",
                dir.display()
            )));
        }
        s.rotate()?;
        Ok(s)
    }

    /// Loads every `kek-<n>.key` in `dir`.
    pub fn open(dir: &Path) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        let entries =
            std::fs::read_dir(dir).map_err(|e| KeyError::Io(format!("{}: {e}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| KeyError::Io(e.to_string()))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(generation) = name
                .strip_prefix("kek-")
                .and_then(|n| n.strip_suffix(".key"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let key = parse_tagged(&entry.path(), KEK_TAG)?;
            keys.insert(generation, (kek_id(&key), key));
        }
        if keys.is_empty() {
            return Err(KeyError::File(sluis_audit::keys::KeyError::Missing(
                dir.join("kek-1.key").display().to_string(),
            )));
        }
        Ok(FileKeySource {
            dir: dir.to_path_buf(),
            keys,
        })
    }

    fn key(&self, id: &str) -> Result<&[u8; 32], KeyError> {
        self.keys
            .values()
            .find(|(i, _)| i == id)
            .map(|(_, k)| &**k)
            .ok_or_else(|| KeyError::Unknown(id.to_string()))
    }
}

impl KeySource for FileKeySource {
    fn current(&self) -> String {
        self.keys
            .last_key_value()
            .map(|(_, (id, _))| id.clone())
            .unwrap_or_default()
    }

    fn ids(&self) -> Vec<String> {
        self.keys.values().map(|(id, _)| id.clone()).collect()
    }

    fn wrap(&self, dek: &Dek, aad: &[u8]) -> Result<(String, Vec<u8>), KeyError> {
        let id = self.current();
        let wrapped =
            wrap_with(self.key(&id)?, dek, aad).map_err(|e| KeyError::Io(e.to_string()))?;
        Ok((id, wrapped))
    }

    fn unwrap(&self, kek_id: &str, wrapped: &[u8], aad: &[u8]) -> Result<Dek, KeyError> {
        unwrap_with(self.key(kek_id)?, wrapped, aad)
            .map_err(|_| KeyError::Unwrap(kek_id.to_string()))
    }

    fn rotate(&mut self) -> Result<String, KeyError> {
        let generation = self
            .keys
            .last_key_value()
            .map(|(g, _)| g.saturating_add(1))
            .unwrap_or(1);
        let key = random_key()?;
        write_tagged(
            &self.dir.join(format!("kek-{generation}.key")),
            KEK_TAG,
            &key,
        )?;
        sluis_audit::tiles::sync_dir(&self.dir).map_err(|e| KeyError::Io(e.to_string()))?;
        let id = kek_id(&key);
        self.keys.insert(generation, (id.clone(), key));
        Ok(id)
    }

    fn retire(&mut self, kek_id: &str) -> Result<(), KeyError> {
        let generation = self
            .keys
            .iter()
            .find(|(_, (i, _))| i == kek_id)
            .map(|(g, _)| *g)
            .ok_or_else(|| KeyError::Unknown(kek_id.to_string()))?;
        if Some(&generation) == self.keys.last_key_value().map(|(g, _)| g) {
            return Err(KeyError::Mismatch(
                "the current key cannot be retired".into(),
            ));
        }
        let path = self.dir.join(format!("kek-{generation}.key"));
        // Overwrite before unlinking. On a copy-on-write or wear-levelled device the old
        // blocks may survive; the key directory belongs on an encrypted volume or an HSM.
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        std::fs::write(&path, vec![0u8; usize::try_from(len).unwrap_or(0)])
            .and_then(|()| std::fs::File::open(&path)?.sync_all())
            .and_then(|()| std::fs::remove_file(&path))
            .and_then(|()| sluis_audit::tiles::sync_dir(&self.dir))
            .map_err(|e| KeyError::Io(format!("{}: {e}", path.display())))?;
        self.keys.remove(&generation);
        Ok(())
    }
}

const SECRET_TAG: &str = "sluis-index-secret/1";

/// The secret that keys actor pseudonyms and content tags. Without it nobody can link a
/// pseudonym in the log to a person, or a content tag in the index to a file.
pub struct IndexSecret(Zeroizing<[u8; 32]>);

impl IndexSecret {
    /// Creates a new secret file.
    pub fn create(path: &Path) -> Result<Self, KeyError> {
        let key = random_key()?;
        write_tagged(path, SECRET_TAG, &key)?;
        Ok(IndexSecret(key))
    }

    /// Reads the secret file.
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        Ok(IndexSecret(parse_tagged(path, SECRET_TAG)?))
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// HMAC-SHA-256 of `data` under the secret with a domain label.
    pub fn tag(&self, label: &str, data: &[u8]) -> [u8; 32] {
        use hmac::Mac;
        hmac::Hmac::<Sha256>::new_from_slice(self.0.as_slice())
            .map(|m| {
                m.chain_update(label.as_bytes())
                    .chain_update(b"\n")
                    .chain_update(data)
                    .finalize()
                    .into_bytes()
                    .into()
            })
            .unwrap_or([0u8; 32])
    }

    /// A value stored in the index so that a different secret file is recognised as wrong.
    pub fn check_value(&self) -> String {
        self.tag("sluis index secret check", b"")
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rotate_wrap_unwrap_retire() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = FileKeySource::create(dir.path()).unwrap();
        let first = src.current();
        let dek = Dek::generate().unwrap();
        let (id, w) = src.wrap(&dek, b"o").unwrap();
        assert_eq!(id, first);
        let second = src.rotate().unwrap();
        assert_ne!(first, second);
        // Reopened from disk, both keys are there and the newest is current.
        let mut again = FileKeySource::open(dir.path()).unwrap();
        assert_eq!((again.current(), again.ids().len()), (second.clone(), 2));
        assert_eq!(
            again.unwrap(&first, &w, b"o").unwrap().as_bytes(),
            dek.as_bytes()
        );
        assert!(again.retire(&second).is_err(), "the current key is kept");
        again.retire(&first).unwrap();
        assert!(matches!(
            again.unwrap(&first, &w, b"o"),
            Err(KeyError::Unknown(_))
        ));
        assert_eq!(FileKeySource::open(dir.path()).unwrap().ids(), vec![second]);
        assert!(FileKeySource::create(dir.path()).is_err());
    }

    #[test]
    fn key_files_are_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            FileKeySource::open(dir.path()),
            Err(KeyError::File(sluis_audit::keys::KeyError::Missing(_)))
        ));
        FileKeySource::create(dir.path()).unwrap();
        let p = dir.path().join("kek-1.key");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = FileKeySource::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&p, "sluis-kek/1 not-base64").unwrap();
        assert!(FileKeySource::open(dir.path()).is_err());
    }
}
