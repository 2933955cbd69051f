//! Vendor signatures on a release: necessary, never sufficient.
//!
//! A vendor ships each release with a signature in its own scheme. The station checks it
//! against the keys the authority configured for that vendor before anything else happens to
//! the release, and refuses a release that fails. A valid signature proves only that whoever
//! holds the vendor's key signed these bytes, and the adversary may hold that key: what lets a
//! release through is the log's one-digest rule ([`crate::releases`]), the inspection and the
//! officers' approval, never this.
//!
//! [`VendorVerifier`] is one adapter per scheme. Built here: [`OpenPgp`] (detached OpenPGP
//! signatures, RFC 9580 and the v4 signatures of RFC 4880, with the `pgp` crate). The release
//! is streamed through the hash, never held in memory; the signature and the key file are
//! bounded before they are parsed, and parsed inside `catch_unwind` (a parser of outside bytes
//! that is not ours must not take the station down).

use std::io::Read;

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{PublicKey, PublicSubkey, Signature, SignatureType};
use pgp::types::{Fingerprint, KeyDetails, KeyId};

/// The largest signature file accepted.
pub const MAX_SIGNATURE_BYTES: usize = 64 * 1024;
/// The largest key file accepted.
pub const MAX_KEYS_BYTES: usize = 1 << 20;
/// The most keys one vendor's key file may hold.
pub const MAX_KEYS: usize = 32;

/// Who signed a release, as the scheme names the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorSignature {
    /// The scheme (`openpgp`).
    pub scheme: &'static str,
    /// The key that signed, as the scheme names it (an OpenPGP fingerprint in hex).
    pub key: String,
    /// When the signature says it was made (seconds since 1970), if it says.
    pub created: Option<i64>,
}

/// Why a vendor signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VendorError {
    /// A signature or key file over its bound.
    #[error("the {what} is {len} bytes; at most {max}")]
    TooLarge {
        /// Which.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The configured keys could not be used.
    #[error("the vendor's keys: {0}")]
    Keys(String),
    /// The signature file could not be read as one signature.
    #[error("the signature could not be read: {0}")]
    Malformed(String),
    /// Signed by a key the authority did not configure for this vendor.
    #[error("signed by {issuer}, which is not a key configured for this vendor")]
    UnknownSigner {
        /// The issuer the signature names.
        issuer: String,
    },
    /// A hash algorithm too weak to accept.
    #[error("the signature uses {0}; only SHA-256 and stronger are accepted")]
    WeakHash(String),
    /// Not a signature over binary data.
    #[error("the signature is of type {0}, not over a binary document")]
    Type(String),
    /// The signature does not verify over these bytes.
    #[error("the signature does not verify over the release: {0}")]
    Bad(String),
}

impl VendorError {
    /// A short code for the log and the station's refusal.
    pub fn code(&self) -> &'static str {
        match self {
            VendorError::TooLarge { .. } => "vendor.too-large",
            VendorError::Keys(_) => "vendor.keys",
            VendorError::Malformed(_) => "vendor.malformed",
            VendorError::UnknownSigner { .. } => "vendor.unknown-signer",
            VendorError::WeakHash(_) => "vendor.weak-hash",
            VendorError::Type(_) => "vendor.signature-type",
            VendorError::Bad(_) => "vendor.bad-signature",
        }
    }
}

/// One vendor signature scheme.
pub trait VendorVerifier: Send + Sync {
    /// The scheme's code.
    fn scheme(&self) -> &'static str;

    /// Verifies `signature` over the release read to its end from `release`, against the
    /// vendor's configured keys.
    fn verify(
        &self,
        release: &mut dyn Read,
        signature: &[u8],
    ) -> Result<VendorSignature, VendorError>;
}

fn bounded(what: &'static str, bytes: &[u8], max: usize) -> Result<(), VendorError> {
    if bytes.len() > max {
        return Err(VendorError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

/// Runs a parser of outside bytes that is not ours; a panic in it is a refusal.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("the parser failed on it".into()))
}

fn armored(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes
        .get(start..)
        .is_some_and(|b| b.starts_with(b"-----BEGIN PGP"))
}

/// A key a vendor signs with: a primary key or a signing subkey whose binding verified.
#[derive(Debug, Clone)]
enum SigningKey {
    Primary(PublicKey),
    Sub(PublicSubkey),
}

impl SigningKey {
    fn fingerprint(&self) -> Fingerprint {
        match self {
            SigningKey::Primary(k) => k.fingerprint(),
            SigningKey::Sub(k) => k.fingerprint(),
        }
    }

    fn key_id(&self) -> KeyId {
        match self {
            SigningKey::Primary(k) => k.legacy_key_id(),
            SigningKey::Sub(k) => k.legacy_key_id(),
        }
    }

    fn verify(&self, sig: &Signature, data: &mut dyn Read) -> pgp::errors::Result<()> {
        match self {
            SigningKey::Primary(k) => sig.verify(k, data),
            SigningKey::Sub(k) => sig.verify(k, data),
        }
    }
}

/// Detached OpenPGP signatures against a vendor's certificates.
#[derive(Debug, Clone)]
pub struct OpenPgp {
    keys: Vec<SigningKey>,
}

impl OpenPgp {
    /// The verifier for a vendor's certificates (armored or binary, one or more). Every
    /// certificate's self-signatures must verify; revoked certificates and subkeys, and
    /// subkeys not bound for signing, are left out.
    pub fn from_certificates(bytes: &[u8]) -> Result<Self, VendorError> {
        bounded("key file", bytes, MAX_KEYS_BYTES)?;
        let certs: Vec<SignedPublicKey> = guarded(|| {
            let iter: Box<dyn Iterator<Item = pgp::errors::Result<SignedPublicKey>>> =
                if armored(bytes) {
                    SignedPublicKey::from_armor_many(bytes)
                        .map_err(|e| e.to_string())?
                        .0
                } else {
                    SignedPublicKey::from_bytes_many(bytes).map_err(|e| e.to_string())?
                };
            let mut certs = Vec::new();
            for c in iter.take(MAX_KEYS.saturating_add(1)) {
                certs.push(c.map_err(|e| e.to_string())?);
            }
            Ok(certs)
        })
        .map_err(VendorError::Keys)?;
        if certs.is_empty() {
            return Err(VendorError::Keys("the file holds no certificate".into()));
        }
        if certs.len() > MAX_KEYS {
            return Err(VendorError::Keys(format!(
                "more than {MAX_KEYS} certificates"
            )));
        }
        let mut keys = Vec::new();
        for cert in &certs {
            cert.verify_bindings().map_err(|e| {
                VendorError::Keys(format!(
                    "certificate {:x}: its self-signatures do not verify: {e}",
                    cert.primary_key.fingerprint()
                ))
            })?;
            if !cert.details.revocation_signatures.is_empty() {
                continue;
            }
            keys.push(SigningKey::Primary(cert.primary_key.clone()));
            for sub in &cert.public_subkeys {
                let revoked = sub
                    .signatures
                    .iter()
                    .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation));
                let signs = sub
                    .signatures
                    .iter()
                    .any(|s| s.typ() == Some(SignatureType::SubkeyBinding) && s.key_flags().sign());
                if signs && !revoked {
                    keys.push(SigningKey::Sub(sub.key.clone()));
                }
            }
        }
        Ok(Self { keys })
    }

    /// The fingerprints of the keys it accepts, in hex.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| format!("{:x}", k.fingerprint()))
            .collect()
    }

    fn signer(&self, sig: &Signature) -> Option<&SigningKey> {
        let fingerprints = sig.issuer_fingerprint();
        let ids = sig.issuer_key_id();
        self.keys.iter().find(|k| {
            let fp = k.fingerprint();
            let id = k.key_id();
            fingerprints.iter().any(|f| **f == fp) || ids.iter().any(|i| **i == id)
        })
    }
}

fn strong(hash: Option<HashAlgorithm>) -> Result<(), VendorError> {
    match hash {
        Some(
            HashAlgorithm::Sha256
            | HashAlgorithm::Sha384
            | HashAlgorithm::Sha512
            | HashAlgorithm::Sha3_256
            | HashAlgorithm::Sha3_512,
        ) => Ok(()),
        Some(h) => Err(VendorError::WeakHash(h.to_string())),
        None => Err(VendorError::WeakHash("an unknown algorithm".into())),
    }
}

/// Reads exactly one detached signature.
fn one_signature(bytes: &[u8]) -> Result<Signature, VendorError> {
    bounded("signature", bytes, MAX_SIGNATURE_BYTES)?;
    let sigs: Vec<DetachedSignature> = guarded(|| {
        let iter: Box<dyn Iterator<Item = pgp::errors::Result<DetachedSignature>>> =
            if armored(bytes) {
                DetachedSignature::from_armor_many(bytes)
                    .map_err(|e| e.to_string())?
                    .0
            } else {
                DetachedSignature::from_bytes_many(bytes).map_err(|e| e.to_string())?
            };
        let mut sigs = Vec::new();
        for s in iter.take(2) {
            sigs.push(s.map_err(|e| e.to_string())?);
        }
        Ok(sigs)
    })
    .map_err(VendorError::Malformed)?;
    let mut sigs = sigs.into_iter();
    match (sigs.next(), sigs.next()) {
        (Some(s), None) => Ok(s.signature),
        (None, _) => Err(VendorError::Malformed("no signature in it".into())),
        (Some(_), Some(_)) => Err(VendorError::Malformed(
            "more than one signature in it; give the vendor's one".into(),
        )),
    }
}

impl VendorVerifier for OpenPgp {
    fn scheme(&self) -> &'static str {
        "openpgp"
    }

    fn verify(
        &self,
        release: &mut dyn Read,
        signature: &[u8],
    ) -> Result<VendorSignature, VendorError> {
        let sig = one_signature(signature)?;
        match sig.typ() {
            Some(SignatureType::Binary) => {}
            other => return Err(VendorError::Type(format!("{other:?}"))),
        }
        strong(sig.hash_alg())?;
        let Some(key) = self.signer(&sig) else {
            let issuer = sig
                .issuer_fingerprint()
                .first()
                .map(|f| format!("{f:x}"))
                .or_else(|| {
                    sig.issuer_key_id()
                        .first()
                        .map(|i| i.as_ref().iter().map(|b| format!("{b:02x}")).collect())
                })
                .unwrap_or_else(|| "an unnamed key".into());
            return Err(VendorError::UnknownSigner { issuer });
        };
        guarded(|| key.verify(&sig, release).map_err(|e| e.to_string()))
            .map_err(VendorError::Bad)?;
        Ok(VendorSignature {
            scheme: "openpgp",
            key: format!("{:x}", key.fingerprint()),
            created: sig.created().map(|t| i64::from(t.as_secs())),
        })
    }
}
