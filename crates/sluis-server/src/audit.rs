//! The auditor's API: the log's latest checkpoint with its witnesses, a verification of the
//! whole log done on request, and a search of the audit records by scan, actor and action.
//!
//! The log is pseudonymous (actors are keyed hashes of account names). An auditor of the
//! authority may search by account name: the server, which holds the pseudonym key, computes the
//! pseudonym, and names the local accounts behind the pseudonyms it shows.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use sluis_audit::record::AuditRecord;

use crate::kernel::{ApiError, AppState, Authenticated, need};
use crate::scans::{vault_error, with_vault};

/// Most log entries one search reads; a search that reads this many without filling its page
/// returns a cursor to continue from.
pub const MAX_SCANNED: u64 = 100_000;
/// Entries read from the log at a time.
const CHUNK: u64 = 256;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// `GET /api/audit`: for auditors, the log's latest signed checkpoint (the configured witnesses
/// asked to cosign it first), each witness and whether its cosignature on that checkpoint
/// verifies, and a verification of the whole log against the log's public key, done now.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    _who: Authenticated<need::Auditor>,
) -> Result<Json<Value>, ApiError> {
    with_vault(&state, |v| {
        // The log grows with every access (this auditor's login among them): the configured
        // witnesses are asked to cosign the latest checkpoint first, so that what is shown is
        // the state of the log now.
        for (url, outcome) in v.cosign() {
            if let Err(e) = outcome {
                tracing::warn!("witness {url} did not cosign: {e}");
            }
        }
        let checkpoint_bytes = v.log().checkpoint();
        let checkpoint = String::from_utf8_lossy(&checkpoint_bytes).into_owned();
        let log_key = v
            .log_verifier_key()
            .map_err(vault_error)
            .and_then(|k| sluis_audit::NoteVerifier::new(&k).map_err(internal))?;
        let mut witnesses = Vec::new();
        let mut verifiers = Vec::new();
        for w in &v.config().witnesses {
            match sluis_audit::NoteVerifier::new(&w.key) {
                Ok(k) => {
                    witnesses.push((w.url.clone(), k.key_name().to_string(), true));
                    verifiers.push(k);
                }
                Err(_) => witnesses.push((w.url.clone(), w.key.clone(), false)),
            }
        }
        let checked = sluis_audit::checkpoint::verify(&checkpoint_bytes, &log_key, &verifiers);
        let cosigners = checked
            .as_ref()
            .map(|c| c.cosigners.clone())
            .unwrap_or_default();
        let witnesses: Vec<Value> = witnesses
            .into_iter()
            .map(|(url, name, key_ok)| {
                json!({
                    "url": url,
                    "name": name,
                    "key_valid": key_ok,
                    "cosigned_latest": key_ok && cosigners.contains(&name),
                })
            })
            .collect();
        // Signature lines of a signed note start with an em dash; the first is the log's own.
        let signatures = checkpoint
            .lines()
            .filter(|l| l.starts_with('\u{2014}'))
            .count();
        let policy = sluis_audit::verify::Policy {
            log: Some(log_key),
            records: true,
            ..sluis_audit::verify::Policy::default()
        };
        let store = sluis_audit::FsStore::reader(v.layout().log());
        let verification = match sluis_audit::verify_log(&store, &policy, |_, _| {}) {
            Ok(r) => json!({ "verified": true, "entries": r.entries, "tiles": r.tiles, "partials": r.partials }),
            Err(e) => json!({ "verified": false, "error": e.to_string() }),
        };
        Ok(Json(json!({
            "size": v.log().size(),
            "origin": v.config().origin,
            "checkpoint": checkpoint,
            "checkpoint_signature": checked.map(|_| "valid").unwrap_or_else(|e| { tracing::error!("checkpoint: {e}"); "INVALID" }),
            "witness_cosignatures": signatures.saturating_sub(1),
            "witnesses": witnesses,
            "verification": verification,
        })))
    })
    .await
}

/// Audit search.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// A vault object id.
    object: Option<String>,
    /// A pseudonym (`p-…`), a component (`sluis-core`), or an account name.
    actor: Option<String>,
    /// An action (`read`, `export`, `decide`, …).
    action: Option<String>,
    /// Search entries before this index (the cursor of the previous page).
    before: Option<u64>,
    /// Records per page.
    limit: Option<usize>,
}

/// `GET /api/audit/records`: the log's records, newest first, filtered by object, actor and
/// action; each with its index, and the local account behind its pseudonym when there is one.
pub async fn records(
    State(state): State<Arc<AppState>>,
    _who: Authenticated<need::Auditor>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let action = match q.action.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(
            serde_json::from_value::<sluis_audit::Action>(json!(a)).map_err(|_| {
                ApiError::new(StatusCode::BAD_REQUEST, format!("unknown action {a:?}"))
            })?,
        ),
    };
    let names: Vec<String> = {
        let accounts = state
            .accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        accounts
            .list()
            .map_err(internal)?
            .into_iter()
            .map(|a| a.name)
            .collect()
    };
    with_vault(&state, move |v| {
        let pseudonyms: HashMap<String, String> = names
            .iter()
            .map(|n| (v.actor(n).to_string(), n.clone()))
            .collect();
        let actor = q
            .actor
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                if sluis_audit::ActorId::new(a).is_ok()
                    && (a.starts_with("p-") || a.starts_with("sluis-"))
                {
                    a.to_string()
                } else {
                    v.actor(a).to_string()
                }
            });
        let object = q
            .object
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty());
        let size = v.log().size();
        let mut hi = q.before.unwrap_or(size).min(size);
        let mut out = Vec::new();
        let mut scanned = 0u64;
        while hi > 0 && out.len() < limit && scanned < MAX_SCANNED {
            let lo = hi.saturating_sub(CHUNK);
            let entries = v
                .log()
                .entries(lo, hi)
                .map_err(|e| internal(e.to_string()))?;
            scanned += hi - lo;
            let mut page = Vec::new();
            for (i, e) in entries.iter().enumerate() {
                let index = lo + i as u64;
                let Ok(r) = serde_json::from_slice::<AuditRecord>(e) else {
                    continue;
                };
                if object
                    .as_deref()
                    .is_some_and(|o| r.object.as_deref() != Some(o))
                    || actor.as_deref().is_some_and(|a| r.actor.as_str() != a)
                    || action.is_some_and(|a| r.action != a)
                {
                    continue;
                }
                page.push((index, r));
            }
            // Newest first; a page may end inside a chunk.
            let mut cut = None;
            for (index, r) in page.into_iter().rev() {
                if out.len() == limit {
                    break;
                }
                cut = Some(index);
                let mut j = serde_json::to_value(&r).map_err(internal)?;
                j["index"] = json!(index);
                if let Some(name) = pseudonyms.get(r.actor.as_str()) {
                    j["account"] = json!(name);
                }
                out.push(j);
            }
            hi = if out.len() == limit {
                cut.unwrap_or(lo)
            } else {
                lo
            };
        }
        Ok(Json(json!({
            "records": out,
            "size": size,
            "next_before": (hi > 0).then_some(hi),
        })))
    })
    .await
}
