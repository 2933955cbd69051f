//! Signed checkpoints (C2SP tlog-checkpoint in C2SP signed-note form) and their verification
//! with the log's key and witnesses' cosignature keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use signed_note::{Note, VerifierList};

use crate::keys::{LogSigner, NoteVerifier};
use crate::merkle::Hash;

/// Why a checkpoint is not acceptable.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a signed note, or not a checkpoint.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// No valid signature of the log's key.
    #[error("the checkpoint is not signed by the log key {0}")]
    Unsigned(String),
    /// A signature from a known key does not verify: the checkpoint was altered.
    #[error("a signature on the checkpoint does not verify: {0}")]
    BadSignature(String),
    /// The origin is not the log's.
    #[error("checkpoint origin {found:?}, expected {expected:?}")]
    Origin {
        /// Found.
        found: String,
        /// Expected.
        expected: String,
    },
}

/// A checkpoint whose log signature verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The log's origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// Names of the witnesses whose cosignatures verified.
    pub cosigners: Vec<String>,
    /// The note text (origin, size, hash lines).
    pub text: Vec<u8>,
}

/// The checkpoint body: origin, size, base64 root hash.
pub fn body(origin: &str, size: u64, root: &Hash) -> Vec<u8> {
    format!("{origin}\n{size}\n{}\n", B64.encode(root.0)).into_bytes()
}

/// Signs a checkpoint with the log key.
pub fn sign(signer: &LogSigner, size: u64, root: &Hash) -> Result<Vec<u8>, CheckpointError> {
    let mut note = Note::new(&body(signer.name(), size, root), &[])
        .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    note.add_sigs(&[signer])
        .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    Ok(note.to_bytes())
}

/// Parses the body of a checkpoint (the first three lines; extension lines are allowed).
pub fn parse_body(text: &[u8]) -> Result<(String, u64, Hash), CheckpointError> {
    let bad = |w: &str| CheckpointError::Malformed(w.to_string());
    let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8"))?;
    let mut lines = text.split('\n');
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| bad("no origin line"))?;
    let size_line = lines.next().ok_or_else(|| bad("no size line"))?;
    if size_line.is_empty()
        || (size_line.len() > 1 && size_line.starts_with('0'))
        || !size_line.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad("the size is not a decimal without leading zeros"));
    }
    let size: u64 = size_line.parse().map_err(|_| bad("size out of range"))?;
    let hash = lines.next().ok_or_else(|| bad("no root hash line"))?;
    let raw = B64
        .decode(hash)
        .map_err(|_| bad("root hash is not base64"))?;
    let root: [u8; 32] = raw
        .try_into()
        .map_err(|_| bad("root hash is not 32 bytes"))?;
    Ok((origin.to_string(), size, Hash(root)))
}

/// Verifies a checkpoint: a valid signature by `log` is required; cosignatures from `witnesses`
/// are checked and their names returned; any signature from a known key that fails is an
/// error; signatures from unknown keys are ignored.
pub fn verify(
    bytes: &[u8],
    log: &NoteVerifier,
    witnesses: &[NoteVerifier],
) -> Result<Verified, CheckpointError> {
    let note = Note::from_bytes(bytes).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    let mut list: Vec<Box<dyn signed_note::Verifier>> = vec![Box::new(log.clone())];
    list.extend(
        witnesses
            .iter()
            .cloned()
            .map(|w| Box::new(w) as Box<dyn signed_note::Verifier>),
    );
    let known = VerifierList::new(list);
    let (verified, _unknown) = note.verify(&known).map_err(|e| match e {
        signed_note::NoteError::UnverifiedNote => {
            CheckpointError::Unsigned(log.key_name().to_string())
        }
        other => CheckpointError::BadSignature(other.to_string()),
    })?;
    if !verified
        .iter()
        .any(|s| s.name() == log.key_name() && s.id() == log.id())
    {
        return Err(CheckpointError::Unsigned(log.key_name().to_string()));
    }
    let (origin, size, root) = parse_body(note.text())?;
    if origin != log.key_name() {
        return Err(CheckpointError::Origin {
            found: origin,
            expected: log.key_name().to_string(),
        });
    }
    let cosigners = verified
        .iter()
        .filter(|s| {
            witnesses
                .iter()
                .any(|w| w.key_name() == s.name() && w.id() == s.id())
        })
        .map(|s| s.name().to_string())
        .collect();
    Ok(Verified {
        origin,
        size,
        root,
        cosigners,
        text: note.text().to_vec(),
    })
}

/// Adds signature lines (from a witness's response) to a signed checkpoint; the lines are kept
/// only if the result still parses as a note.
pub fn add_signature_lines(checkpoint: &[u8], lines: &str) -> Result<Vec<u8>, CheckpointError> {
    let mut out = checkpoint.to_vec();
    for line in lines.lines().filter(|l| !l.is_empty()) {
        let mut l = line.as_bytes().to_vec();
        l.push(b'\n');
        if !out.windows(l.len()).any(|w| w == l.as_slice()) {
            out.extend_from_slice(&l);
        }
    }
    Note::from_bytes(&out).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::keys::Cosigner;

    #[test]
    fn sign_verify_and_tamper() {
        let log = LogSigner::generate("sluis.test/log").unwrap();
        let v = NoteVerifier::new(&log.vkey()).unwrap();
        let root = crate::merkle::leaf_hash(b"x");
        let cp = sign(&log, 1, &root).unwrap();
        let ok = verify(&cp, &v, &[]).unwrap();
        assert_eq!((ok.size, ok.root), (1, root));
        // Change the size: the signature fails.
        let tampered = String::from_utf8(cp.clone())
            .unwrap()
            .replacen("\n1\n", "\n2\n", 1);
        assert!(matches!(
            verify(tampered.as_bytes(), &v, &[]),
            Err(CheckpointError::BadSignature(_))
        ));
        // Another log's key: unsigned.
        let other =
            NoteVerifier::new(&LogSigner::generate("sluis.test/log").unwrap().vkey()).unwrap();
        assert!(matches!(
            verify(&cp, &other, &[]),
            Err(CheckpointError::Unsigned(_))
        ));
        // A witness cosignature is checked.
        let w = Cosigner::generate("witness.test").unwrap();
        let wv = NoteVerifier::new(&w.vkey()).unwrap();
        let line = w.cosignature_line(1_700_000_000, &body("sluis.test/log", 1, &root));
        let cosigned = add_signature_lines(&cp, &line).unwrap();
        assert_eq!(
            verify(&cosigned, &v, std::slice::from_ref(&wv))
                .unwrap()
                .cosigners,
            vec!["witness.test".to_string()]
        );
        let forged = w.cosignature_line(1_700_000_000, &body("sluis.test/log", 2, &root));
        let bad = add_signature_lines(&cp, &forged).unwrap();
        assert!(verify(&bad, &v, &[wv]).is_err());
    }
}
