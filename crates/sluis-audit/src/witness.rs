//! A witness (C2SP tlog-witness): checks that each checkpoint a log submits is consistent with
//! the last one it cosigned for that log, and cosigns it (C2SP tlog-cosignature, Ed25519
//! `cosignature/v1`).
//!
//! This is the protocol logic, without a network: [`Witness::add_checkpoint`] takes the request
//! body of `POST <prefix>/add-checkpoint` and returns the HTTP status, content type and body the
//! specification requires. The state (the latest cosigned size and root per log) is persisted,
//! atomically and durably, before a cosignature is returned; checking and persisting happen
//! under one lock, so two requests cannot roll the state back.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointError};
use crate::keys::{Cosigner, NoteVerifier};
use crate::merkle::{self, Hash};

/// The most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;
/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content-Type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LogState {
    size: u64,
    root: String,
}

/// A witness: its cosigning key, the logs it follows, and its state file.
pub struct Witness {
    cosigner: Cosigner,
    logs: BTreeMap<String, NoteVerifier>,
    state_path: PathBuf,
    state: Mutex<BTreeMap<String, LogState>>,
}

impl Witness {
    /// A witness that follows the logs whose verifier keys are given, keeping its state in
    /// `state_path` (created if missing).
    pub fn new(
        cosigner: Cosigner,
        log_keys: &[NoteVerifier],
        state_path: PathBuf,
    ) -> Result<Self, String> {
        let state: BTreeMap<String, LogState> = match std::fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: {e}", state_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("{}: {e}", state_path.display())),
        };
        let logs = log_keys
            .iter()
            .map(|k| (k.key_name().to_string(), k.clone()))
            .collect();
        Ok(Witness {
            cosigner,
            logs,
            state_path,
            state: Mutex::new(state),
        })
    }

    /// The latest cosigned size of a log (0 if none).
    pub fn cosigned_size(&self, origin: &str) -> u64 {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.get(origin).map(|l| l.size))
            .unwrap_or(0)
    }

    fn persist(&self, state: &BTreeMap<String, LogState>) -> std::io::Result<()> {
        let tmp = self.state_path.with_extension("tmp");
        {
            let mut f = sluis_secret::create_private(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(state).unwrap_or_default())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.state_path)?;
        if let Some(dir) = self.state_path.parent() {
            std::fs::File::open(if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            })?
            .sync_all()?;
        }
        Ok(())
    }

    /// Handles `POST add-checkpoint` (C2SP tlog-witness) at time `now` (POSIX seconds).
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Response {
        if body.len() > MAX_BODY_BYTES {
            return Response::text(400, "request too large\n");
        }
        let Ok(text) = std::str::from_utf8(body) else {
            return Response::text(400, "not UTF-8\n");
        };
        let Some((head, note)) = text.split_once("\n\n") else {
            return Response::text(400, "no empty line before the checkpoint\n");
        };
        let mut lines = head.split('\n');
        let old = match lines.next().and_then(|l| l.strip_prefix("old ")) {
            Some(n)
                if n == "0"
                    || (!n.starts_with('0')
                        && !n.is_empty()
                        && n.bytes().all(|b| b.is_ascii_digit())) =>
            {
                match n.parse::<u64>() {
                    Ok(v) => v,
                    Err(_) => return Response::text(400, "old size out of range\n"),
                }
            }
            _ => return Response::text(400, "the first line must be \"old <size>\"\n"),
        };
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() >= MAX_PROOF_LINES {
                return Response::text(400, "more than 63 consistency proof lines\n");
            }
            match B64
                .decode(line)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            {
                Some(h) => proof.push(Hash(h)),
                None => {
                    return Response::text(400, "a consistency proof line is not a base64 hash\n");
                }
            }
        }
        let origin = note.split('\n').next().unwrap_or_default();
        let Some(log_key) = self.logs.get(origin) else {
            return Response::text(404, "unknown log origin\n");
        };
        let verified = match checkpoint::verify(note.as_bytes(), log_key, &[]) {
            Ok(v) => v,
            Err(CheckpointError::Malformed(e)) => return Response::text(400, format!("{e}\n")),
            Err(e) => return Response::text(403, format!("{e}\n")),
        };
        if old > verified.size {
            return Response::text(400, "the old size is larger than the checkpoint's\n");
        }
        let Ok(mut state) = self.state.lock() else {
            return Response::text(500, "state lock poisoned\n");
        };
        let current = state.get(origin).cloned().unwrap_or_default();
        if old != current.size {
            return Response {
                status: 409,
                content_type: "text/x.tlog.size",
                body: format!("{}\n", current.size),
            };
        }
        if old == 0 {
            if !proof.is_empty() {
                return Response::text(422, "a consistency proof from size 0 must be empty\n");
            }
        } else {
            let Some(old_root) = B64
                .decode(&current.root)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(Hash)
            else {
                return Response::text(500, "corrupt witness state\n");
            };
            if old == verified.size {
                if old_root != verified.root {
                    return Response {
                        status: 409,
                        content_type: "text/x.tlog.size",
                        body: format!("{}\n", current.size),
                    };
                }
            } else if merkle::verify_consistency(
                &proof,
                verified.size,
                verified.root,
                old,
                old_root,
            )
            .is_err()
            {
                return Response::text(422, "the consistency proof does not verify\n");
            }
        }
        let mut next = state.clone();
        next.insert(
            origin.to_string(),
            LogState {
                size: verified.size,
                root: B64.encode(verified.root.0),
            },
        );
        if let Err(e) = self.persist(&next) {
            return Response::text(500, format!("cannot persist the witness state: {e}\n"));
        }
        *state = next;
        Response {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: self.cosigner.cosignature_line(now, &verified.text),
        }
    }
}

/// The request body for `add-checkpoint`: old size, consistency proof, empty line, checkpoint.
pub fn request_body(old: u64, proof: &[Hash], checkpoint: &[u8]) -> Vec<u8> {
    let mut out = format!("old {old}\n").into_bytes();
    for h in proof {
        out.extend_from_slice(B64.encode(h.0).as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(checkpoint);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::keys::LogSigner;
    use crate::merkle::{Edge, MemoryTree, Prover, leaf_hash};

    #[test]
    fn the_witness_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogSigner::generate("sluis.test/log").unwrap();
        let lv = NoteVerifier::new(&log.vkey()).unwrap();
        let w = Witness::new(
            Cosigner::generate("witness.test").unwrap(),
            std::slice::from_ref(&lv),
            dir.path().join("state.json"),
        )
        .unwrap();
        let (mut edge, mut tree) = (Edge::new(), MemoryTree::new());
        let mut grow = |n: u32| {
            for i in 0..n {
                let l = leaf_hash(&i.to_be_bytes());
                edge.append(l);
                tree.push(l);
            }
            (edge.size(), edge.root(), tree.clone())
        };
        let (s1, r1, _) = grow(5);
        let cp1 = checkpoint::sign(&log, s1, &r1).unwrap();
        let ok = w.add_checkpoint(&request_body(0, &[], &cp1), 1_700_000_000);
        assert_eq!(ok.status, 200, "{}", ok.body);
        let cosigned = checkpoint::add_signature_lines(&cp1, &ok.body).unwrap();
        let wv = NoteVerifier::new(&w.cosigner.vkey()).unwrap();
        assert_eq!(
            checkpoint::verify(&cosigned, &lv, &[wv])
                .unwrap()
                .cosigners
                .len(),
            1
        );
        // Stale old size: 409 with the size.
        let again = w.add_checkpoint(&request_body(0, &[], &cp1), 1_700_000_001);
        assert_eq!(
            (again.status, again.body.as_str(), again.content_type),
            (409, "5\n", "text/x.tlog.size")
        );
        // A consistent extension.
        let (s2, r2, t2) = grow(20);
        let cp2 = checkpoint::sign(&log, s2, &r2).unwrap();
        let proof = Prover::new(&t2, s2).consistency(s1).unwrap();
        assert_eq!(
            w.add_checkpoint(&request_body(s1, &proof, &cp2), 1_700_000_002)
                .status,
            200
        );
        // A fork: same size, other root.
        let forked = checkpoint::sign(&log, s2, &leaf_hash(b"fork")).unwrap();
        assert_eq!(
            w.add_checkpoint(&request_body(s2, &[], &forked), 1_700_000_003)
                .status,
            409
        );
        // A bad proof.
        let (s3, r3, _) = grow(3);
        let cp3 = checkpoint::sign(&log, s3, &r3).unwrap();
        assert_eq!(
            w.add_checkpoint(&request_body(s2, &proof, &cp3), 1_700_000_004)
                .status,
            422
        );
        // Unknown log, forged signature, garbage.
        let other = LogSigner::generate("other.test/log").unwrap();
        assert_eq!(
            w.add_checkpoint(
                &request_body(0, &[], &checkpoint::sign(&other, 1, &r1).unwrap()),
                0
            )
            .status,
            404
        );
        let imposter = LogSigner::generate("sluis.test/log").unwrap();
        assert_eq!(
            w.add_checkpoint(
                &request_body(0, &[], &checkpoint::sign(&imposter, 1, &r1).unwrap()),
                0
            )
            .status,
            403
        );
        assert_eq!(w.add_checkpoint(b"hello", 0).status, 400);
        // State survives a restart.
        let w2 = Witness::new(
            Cosigner::generate("witness.test").unwrap(),
            &[lv],
            dir.path().join("state.json"),
        )
        .unwrap();
        assert_eq!(w2.cosigned_size("sluis.test/log"), s2);
    }
}
