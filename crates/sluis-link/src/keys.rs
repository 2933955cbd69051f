//! The edge's Ed25519 key: the edge signs, the core holds only the verifying key.
//!
//! Files are one line each: `sluis-link-key v1 <base64 seed>` (mode 0600, written and read with
//! the same owner-only checks as the log's keys) and `sluis-link-pub v1 <base64 public key>`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sluis_secret::{KeyError, random_32, read_secret, write_secret};

use crate::wire::SIGNATURE_LEN;

const SECRET_PREFIX: &str = "sluis-link-key v1 ";
const PUBLIC_PREFIX: &str = "sluis-link-pub v1 ";

/// The edge's signing key.
pub struct EdgeKey(SigningKey);

impl std::fmt::Debug for EdgeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EdgeKey({})", self.verifier().to_text())
    }
}

impl EdgeKey {
    /// A new random key.
    pub fn generate() -> Result<EdgeKey, KeyError> {
        Ok(EdgeKey(SigningKey::from_bytes(&random_32()?)))
    }

    /// A key from a seed (tests, benchmarks).
    pub fn from_seed(seed: [u8; 32]) -> EdgeKey {
        EdgeKey(SigningKey::from_bytes(&seed))
    }

    /// Reads a key file (owner-only).
    pub fn read(path: &Path) -> Result<EdgeKey, KeyError> {
        let text = read_secret(path)?;
        let b64 = text.trim().strip_prefix(SECRET_PREFIX).ok_or_else(|| {
            KeyError::Malformed(format!("{} is not a sluis link key", path.display()))
        })?;
        let seed: [u8; 32] = B64
            .decode(b64)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| KeyError::Malformed(format!("{}: bad key encoding", path.display())))?;
        Ok(EdgeKey(SigningKey::from_bytes(&seed)))
    }

    /// Writes the key file (mode 0600, never overwriting).
    pub fn write(&self, path: &Path) -> Result<(), KeyError> {
        write_secret(
            path,
            &format!("{SECRET_PREFIX}{}", B64.encode(self.0.to_bytes())),
        )
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.0.sign(message).to_bytes()
    }

    /// The verifying key.
    pub fn verifier(&self) -> EdgeVerifier {
        EdgeVerifier(self.0.verifying_key())
    }
}

/// The edge's verifying key, all the core holds.
#[derive(Debug, Clone)]
pub struct EdgeVerifier(VerifyingKey);

impl EdgeVerifier {
    /// Parses `sluis-link-pub v1 <base64>`.
    pub fn from_text(text: &str) -> Result<EdgeVerifier, KeyError> {
        let b64 = text
            .trim()
            .strip_prefix(PUBLIC_PREFIX)
            .ok_or_else(|| KeyError::Malformed("not a sluis link public key".into()))?;
        let bytes: [u8; 32] = B64
            .decode(b64)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| KeyError::Malformed("bad public key encoding".into()))?;
        VerifyingKey::from_bytes(&bytes)
            .map(EdgeVerifier)
            .map_err(|e| KeyError::Malformed(format!("bad public key: {e}")))
    }

    /// Reads a public key file.
    pub fn read(path: &Path) -> Result<EdgeVerifier, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                KeyError::Missing(path.display().to_string())
            } else {
                KeyError::Io {
                    path: path.display().to_string(),
                    source,
                }
            }
        })?;
        Self::from_text(&text)
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", B64.encode(self.0.to_bytes()))
    }

    /// Whether `signature` is the edge's over `message` (strict: no malleable signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok() && self.0.verify(message, &sig).is_ok()
    }
}
