//! The log over HTTP: reading a published log from a URL (C2SP tlog-tiles is plain static
//! files) and submitting checkpoints to witnesses (C2SP tlog-witness `add-checkpoint`).

use std::time::Duration;

use crate::checkpoint;
use crate::keys::NoteVerifier;
use crate::log::Log;
use crate::verify::LogSource;
use crate::witness::{MAX_BODY_BYTES, request_body};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .user_agent(concat!("sluis/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// A published log at a URL prefix.
pub struct HttpSource {
    base: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSource")
            .field("base", &self.base)
            .finish()
    }
}

impl HttpSource {
    /// A log whose files are under `base` (`<base>/checkpoint`, `<base>/tile/...`).
    pub fn new(base: &str) -> Self {
        HttpSource {
            base: base.trim_end_matches('/').to_string(),
            agent: agent(),
        }
    }
}

impl LogSource for HttpSource {
    fn fetch(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, String> {
        let url = format!("{}/{path}", self.base);
        let mut resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| format!("{url}: {e}"))?;
        match resp.status().as_u16() {
            200 => resp
                .body_mut()
                .with_config()
                .limit(u64::try_from(limit).unwrap_or(u64::MAX))
                .read_to_vec()
                .map(Some)
                .map_err(|e| format!("{url}: {e}")),
            404 => Ok(None),
            s => Err(format!("{url}: HTTP {s}")),
        }
    }

    fn describe(&self) -> String {
        self.base.clone()
    }
}

/// Asks the witness at `url` to cosign the log's latest checkpoint and adds its cosignature
/// to the checkpoint. The witness's answer is verified with `witness` before it is kept.
/// Returns the size cosigned.
pub fn cosign(log: &Log, url: &str, witness: &NoteVerifier) -> Result<u64, String> {
    let agent = agent();
    let endpoint = format!("{}/add-checkpoint", url.trim_end_matches('/'));
    let mut old = 0u64;
    for _ in 0..4 {
        let cp = log.checkpoint();
        let v = checkpoint::verify(&cp, log.verifier(), &[]).map_err(|e| e.to_string())?;
        if old > v.size {
            return Err(format!(
                "the witness has cosigned size {old}, larger than the log's {}: the log was rolled back or forked",
                v.size
            ));
        }
        let proof = if old == 0 || old == v.size {
            Vec::new()
        } else {
            log.consistency_proof(old, v.size)
                .map_err(|e| e.to_string())?
        };
        let body = request_body(old, &proof, &cp);
        let mut resp = agent
            .post(&endpoint)
            .send(&body[..])
            .map_err(|e| format!("{endpoint}: {e}"))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp
            .body_mut()
            .with_config()
            .limit(u64::try_from(MAX_BODY_BYTES).unwrap_or(u64::MAX))
            .read_to_string()
            .map_err(|e| format!("{endpoint}: {e}"))?;
        match status {
            200 => {
                let cosigned = checkpoint::add_signature_lines(&cp, &text)
                    .map_err(|e| format!("{endpoint}: {e}"))?;
                let check =
                    checkpoint::verify(&cosigned, log.verifier(), std::slice::from_ref(witness))
                        .map_err(|e| format!("{endpoint}: {e}"))?;
                if !check.cosigners.iter().any(|n| n == witness.key_name()) {
                    return Err(format!(
                        "{endpoint}: the answer holds no valid cosignature of {}",
                        witness.key_name()
                    ));
                }
                match log.add_cosignatures(v.size, &text) {
                    Ok(()) => return Ok(v.size),
                    // The log moved on meanwhile: ask again for the new checkpoint.
                    Err(_) => old = v.size,
                }
            }
            409 if content_type.starts_with("text/x.tlog.size") => {
                old = text
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{endpoint}: 409 without a size"))?;
            }
            s => return Err(format!("{endpoint}: HTTP {s}: {}", text.trim())),
        }
    }
    Err(format!("{endpoint}: no cosignature after four attempts"))
}
