//! Keys: the log's Ed25519 signing key (C2SP signed-note), witnesses' Ed25519 cosigning keys
//! (C2SP tlog-cosignature `cosignature/v1`), and key files readable by their owner only.
//!
//! Key encodings follow the signed-note format: a verifier key is
//! `<name>+<key id, 8 hex>+<base64(type || public key)>`, a signer key is
//! `PRIVATE+KEY+<name>+<key id>+<base64(type || seed)>`. The type byte is 0x01 for a note
//! signature and 0x04 for a cosignature; the key id is the first four bytes of
//! `SHA-256(name || "\n" || type || public key)`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

/// Signature type of a signed-note Ed25519 signature.
pub const ALG_ED25519: u8 = 0x01;
/// Signature type of an Ed25519 `cosignature/v1`.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

// The key files' error, randomness and owner-only reading and writing live in `sluis-secret`,
// which every crate that holds a secret shares; re-exported here for the log's own keys.
pub use sluis_secret::{KeyError, random_32, read_secret, write_secret};

fn key_name_ok(name: &str) -> bool {
    signed_note::is_key_name_valid(name)
}

/// A signer key of type `alg` for `name`, from a seed.
fn encode_signer(name: &str, alg: u8, key: &SigningKey) -> String {
    let public = [&[alg][..], key.verifying_key().as_bytes()].concat();
    let id = signed_note::key_id(name, &public);
    let private = [&[alg][..], key.as_bytes()].concat();
    format!("PRIVATE+KEY+{name}+{id:08x}+{}", B64.encode(private))
}

/// The verifier key of type `alg` for `name`.
pub fn encode_verifier(name: &str, alg: u8, key: &VerifyingKey) -> String {
    let public = [&[alg][..], key.as_bytes()].concat();
    let id = signed_note::key_id(name, &public);
    format!("{name}+{id:08x}+{}", B64.encode(public))
}

/// Parses a signer key: (name, key id, type, signing key).
fn decode_signer(skey: &str) -> Result<(String, u32, u8, SigningKey), KeyError> {
    let bad = |why: &str| KeyError::Malformed(format!("not a signer key: {why}"));
    let mut parts = skey.trim().splitn(5, '+');
    let (Some("PRIVATE"), Some("KEY"), Some(name), Some(id), Some(key)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad("expected PRIVATE+KEY+name+id+key"));
    };
    let id = u32::from_str_radix(id, 16).map_err(|_| bad("key id"))?;
    let raw = B64.decode(key).map_err(|_| bad("base64"))?;
    let (alg, seed) = raw.split_first().ok_or_else(|| bad("empty"))?;
    let seed: [u8; 32] = seed.try_into().map_err(|_| bad("not an Ed25519 seed"))?;
    let signing = SigningKey::from_bytes(&seed);
    let public = [&[*alg][..], signing.verifying_key().as_bytes()].concat();
    if !key_name_ok(name) || signed_note::key_id(name, &public) != id {
        return Err(bad("name or key id does not match the key"));
    }
    Ok((name.to_string(), id, *alg, signing))
}

/// Parses a verifier key: (name, key id, type, verifying key).
pub fn decode_verifier(vkey: &str) -> Result<(String, u32, u8, VerifyingKey), KeyError> {
    let bad = |why: &str| KeyError::Malformed(format!("not a verifier key: {why}"));
    let mut parts = vkey.trim().splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected name+id+key"));
    };
    let id = u32::from_str_radix(id, 16).map_err(|_| bad("key id"))?;
    let raw = B64.decode(key).map_err(|_| bad("base64"))?;
    let (alg, public) = raw.split_first().ok_or_else(|| bad("empty"))?;
    let public: [u8; 32] = public.try_into().map_err(|_| bad("not an Ed25519 key"))?;
    let verifying = VerifyingKey::from_bytes(&public).map_err(|_| bad("not an Ed25519 point"))?;
    if !key_name_ok(name) || signed_note::key_id(name, &raw) != id {
        return Err(bad("name or key id does not match the key"));
    }
    Ok((name.to_string(), id, *alg, verifying))
}

/// The log's signing key: signs checkpoints as signed notes.
#[derive(Clone)]
pub struct LogSigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl LogSigner {
    /// A new random key for the log `origin` (the key name is the origin).
    pub fn generate(origin: &str) -> Result<Self, KeyError> {
        if !key_name_ok(origin) {
            return Err(KeyError::Malformed(format!(
                "{origin:?} is not a valid key name"
            )));
        }
        let key = SigningKey::from_bytes(&random_32()?);
        let public = [&[ALG_ED25519][..], key.verifying_key().as_bytes()].concat();
        Ok(LogSigner {
            name: origin.to_string(),
            id: signed_note::key_id(origin, &public),
            key,
        })
    }

    /// Parses a signer key string.
    pub fn from_skey(skey: &str) -> Result<Self, KeyError> {
        let (name, id, alg, key) = decode_signer(skey)?;
        if alg != ALG_ED25519 {
            return Err(KeyError::Malformed("not a log (note) signing key".into()));
        }
        Ok(LogSigner { name, id, key })
    }

    /// The signer key string (secret).
    pub fn to_skey(&self) -> String {
        encode_signer(&self.name, ALG_ED25519, &self.key)
    }

    /// The verifier key string (public): what an auditor is given.
    pub fn vkey(&self) -> String {
        encode_verifier(&self.name, ALG_ED25519, &self.key.verifying_key())
    }

    /// The key name (the log origin).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl signed_note::Signer for LogSigner {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// The message a `cosignature/v1` signs: header, timestamp line, then the checkpoint text.
pub fn cosigned_message(timestamp: u64, checkpoint_text: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(checkpoint_text);
    m
}

/// A witness's cosigning key (C2SP tlog-cosignature, Ed25519 `cosignature/v1`).
#[derive(Clone)]
pub struct Cosigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl Cosigner {
    /// A new random cosigning key named `name`.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        if !key_name_ok(name) {
            return Err(KeyError::Malformed(format!(
                "{name:?} is not a valid key name"
            )));
        }
        let key = SigningKey::from_bytes(&random_32()?);
        let public = [&[ALG_COSIGNATURE_V1][..], key.verifying_key().as_bytes()].concat();
        Ok(Cosigner {
            name: name.to_string(),
            id: signed_note::key_id(name, &public),
            key,
        })
    }

    /// Parses a signer key string of type 0x04.
    pub fn from_skey(skey: &str) -> Result<Self, KeyError> {
        let (name, id, alg, key) = decode_signer(skey)?;
        if alg != ALG_COSIGNATURE_V1 {
            return Err(KeyError::Malformed(
                "not a cosignature/v1 signing key".into(),
            ));
        }
        Ok(Cosigner { name, id, key })
    }

    /// The signer key string (secret).
    pub fn to_skey(&self) -> String {
        encode_signer(&self.name, ALG_COSIGNATURE_V1, &self.key)
    }

    /// The verifier key string (public).
    pub fn vkey(&self) -> String {
        encode_verifier(&self.name, ALG_COSIGNATURE_V1, &self.key.verifying_key())
    }

    /// The cosignature of `checkpoint_text` at `timestamp`: timestamp (big endian) || signature.
    pub fn cosign(&self, timestamp: u64, checkpoint_text: &[u8]) -> Vec<u8> {
        let sig = self.key.sign(&cosigned_message(timestamp, checkpoint_text));
        [&timestamp.to_be_bytes()[..], &sig.to_bytes()[..]].concat()
    }

    /// The note signature line `— name base64(id || timestamp || signature)`.
    pub fn cosignature_line(&self, timestamp: u64, checkpoint_text: &[u8]) -> String {
        let body = [
            &self.id.to_be_bytes()[..],
            &self.cosign(timestamp, checkpoint_text)[..],
        ]
        .concat();
        format!("\u{2014} {} {}\n", self.name, B64.encode(body))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Verifies signatures of one key, of either type, for signed_note.
#[derive(Clone)]
pub struct NoteVerifier {
    name: String,
    id: u32,
    alg: u8,
    key: VerifyingKey,
}

impl std::fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteVerifier")
            .field("name", &self.name)
            .field("id", &format_args!("{:08x}", self.id))
            .field("alg", &self.alg)
            .finish()
    }
}

impl NoteVerifier {
    /// From a verifier key string (type 0x01 or 0x04).
    pub fn new(vkey: &str) -> Result<Self, KeyError> {
        let (name, id, alg, key) = decode_verifier(vkey)?;
        if alg != ALG_ED25519 && alg != ALG_COSIGNATURE_V1 {
            return Err(KeyError::Malformed(format!(
                "unknown signature type 0x{alg:02x}"
            )));
        }
        Ok(NoteVerifier { name, id, alg, key })
    }

    /// True for a witness (cosignature) key.
    pub fn is_cosigner(&self) -> bool {
        self.alg == ALG_COSIGNATURE_V1
    }

    /// The key name.
    pub fn key_name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl signed_note::Verifier for NoteVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self.alg {
            ALG_ED25519 => <[u8; 64]>::try_from(sig)
                .map(|s| {
                    self.key
                        .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&s))
                        .is_ok()
                })
                .unwrap_or(false),
            _ => {
                let Some((ts, s)) = sig.split_at_checked(8) else {
                    return false;
                };
                let (Ok(ts), Ok(s)) = (<[u8; 8]>::try_from(ts), <[u8; 64]>::try_from(s)) else {
                    return false;
                };
                let timestamp = u64::from_be_bytes(ts);
                timestamp < (1 << 63)
                    && self
                        .key
                        .verify_strict(
                            &cosigned_message(timestamp, msg),
                            &ed25519_dalek::Signature::from_bytes(&s),
                        )
                        .is_ok()
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use signed_note::Verifier as _;

    #[test]
    fn keys_round_trip_and_interoperate_with_signed_note() {
        let s = LogSigner::generate("sluis.example/log").unwrap();
        let again = LogSigner::from_skey(&s.to_skey()).unwrap();
        assert_eq!(again.vkey(), s.vkey());
        // signed_note's own parsers accept our encodings.
        assert!(signed_note::StandardVerifier::new(&s.vkey()).is_ok());
        assert!(signed_note::StandardSigner::new(&s.to_skey()).is_ok());
        let c = Cosigner::generate("witness.example/w1").unwrap();
        assert!(Cosigner::from_skey(&c.to_skey()).is_ok());
        assert!(LogSigner::from_skey(&c.to_skey()).is_err());
        let v = NoteVerifier::new(&c.vkey()).unwrap();
        let sig = c.cosign(1_679_315_147, b"origin\n1\nhash\n");
        assert!(v.verify(b"origin\n1\nhash\n", &sig));
        assert!(!v.verify(b"origin\n2\nhash\n", &sig));
    }

    #[test]
    fn secret_files_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        write_secret(&p, "secret").unwrap();
        assert!(matches!(
            write_secret(&p, "again"),
            Err(KeyError::Exists(_))
        ));
        assert_eq!(read_secret(&p).unwrap().trim(), "secret");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secret(&p).unwrap_err();
        assert!(err.to_string().contains("0644"), "{err}");
        assert!(matches!(
            read_secret(&dir.path().join("none")),
            Err(KeyError::Missing(_))
        ));
    }
}
