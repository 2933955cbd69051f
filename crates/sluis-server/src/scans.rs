//! The scan API: the worklist, a scan's metadata, its pixels, decisions.
//!
//! Every read of a scan's content goes through `Vault::read`, which appends the access record
//! (actor, purpose) to the transparency log and waits until it is durable before the bytes are
//! released; the response carries the record's index. A decision is logged the same way. The
//! released bytes are canonical DICOS; they are parsed by the sanitiser (the one parser that may
//! touch scan bytes), not by a second reader.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sluis_scan::model::Samples;
use sluis_scan::{DicosObject, Limits};
use sluis_vault::{Decision, Filter, Kind, VaultError};

use crate::http::{ApiError, AppState, Authenticated, need};

/// Vault scan ids are `s-` and 32 lower-case hex digits; anything else (a path, a traversal, a
/// quarantine id) is not one.
fn valid_id(id: &str) -> bool {
    id.strip_prefix("s-").is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn vault_error(e: VaultError) -> ApiError {
    match e {
        VaultError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "no such scan"),
        other => {
            tracing::error!("vault: {other}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the vault could not answer",
            )
        }
    }
}

async fn with_vault<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&sluis_vault::Vault) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let Some(vault) = st.vault.as_ref() else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no vault is served",
            ));
        };
        let vault = vault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&vault)
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?
}

/// Worklist filters.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    decision: Option<String>,
    scanner: Option<String>,
    identifier: Option<String>,
    from: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    after_time: Option<String>,
    after_id: Option<String>,
}

/// `GET /api/scans`: the worklist, newest first as the index keeps it, filtered and paged.
pub async fn list(
    State(state): State<Arc<AppState>>,
    _who: Authenticated<need::Analyst>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let decision = match q.decision.as_deref() {
        None => None,
        Some("undecided") => Some(None),
        Some(d) => Some(Some(Decision::parse(d).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("unknown decision {d:?}"))
        })?)),
    };
    let filter = Filter {
        kind: Some(Kind::Scan),
        identifier: q.identifier,
        scanner: q.scanner,
        decision,
        stored_from: q.from,
        stored_until: q.until,
        after: q.after_time.zip(q.after_id),
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
        ..Filter::default()
    };
    let rows = with_vault(&state, move |v| v.list(&filter).map_err(vault_error)).await?;
    // Threat detection reports are stored as objects of their own; the worklist holds images.
    let scans: Vec<Value> = rows
        .iter()
        .filter(|r| r.scan.as_ref().is_none_or(|m| m.modality != "TDR"))
        .map(|r| {
            let meta = r.scan.as_ref();
            json!({
                "id": r.id,
                "modality": meta.map(|m| m.modality.clone()),
                "station": meta.and_then(|m| m.station.clone()),
                "containers": meta.map(|m| m.containers.clone()).unwrap_or_default(),
                "conveyance": meta.and_then(|m| m.conveyance.clone()),
                "scanned_at": meta.and_then(|m| m.scanned_at.clone()),
                "stored_at": r.stored_at,
                "decision": r.decision.map(Decision::as_str),
                "decided_at": r.decided_at,
                "class": r.class,
                "size": r.plain_size,
            })
        })
        .collect();
    let next = rows
        .last()
        .map(|r| json!({ "after_time": r.stored_at, "after_id": r.id }));
    Ok(Json(json!({ "scans": scans, "next": next })))
}

/// Reads a scan for `who` (logged), and parses it.
async fn read_scan(
    state: &Arc<AppState>,
    id: String,
    who: &str,
    purpose: &'static str,
) -> Result<(Box<sluis_scan::Scan>, u64), ApiError> {
    if !valid_id(&id) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such scan"));
    }
    let who = who.to_string();
    with_vault(state, move |v| {
        let actor = v.actor(&who);
        let released = v.read(&id, &actor, purpose).map_err(vault_error)?;
        let parsed = sluis_scan::sanitise(&released.bytes, &Limits::default()).map_err(|r| {
            tracing::error!("stored scan {id} does not parse: {r}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the stored scan does not parse",
            )
        })?;
        match parsed.scan.object() {
            DicosObject::Image(scan) => Ok((scan.clone(), released.record.index)),
            DicosObject::ThreatReport(_) => {
                Err(ApiError::new(StatusCode::NOT_FOUND, "not an image"))
            }
        }
    })
    .await
}

/// `GET /api/scans/{id}`: the scan's metadata (a logged read).
pub async fn metadata(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (scan, record) = read_scan(
        &state,
        id.clone(),
        &who.session.name,
        "workstation: view metadata",
    )
    .await?;
    let image = &scan.image;
    let channels: Vec<Value> = image
        .channels
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "index": i,
                "kind": format!("{:?}", c.kind),
                "rescale": c.rescale.as_ref().map(|r| json!({ "slope": r.slope, "intercept": r.intercept })),
            })
        })
        .collect();
    Ok(Json(json!({
        "id": id,
        "rows": image.rows,
        "columns": image.columns,
        "bits_stored": image.bits_stored,
        "channels": channels,
        "scanner": {
            "manufacturer": scan.scanner.manufacturer,
            "model": scan.scanner.model,
            "station": scan.scanner.station_name,
        },
        "threat_reports": scan.reports.len(),
        "audit_record": record,
    })))
}

/// `GET /api/scans/{id}/channels/{n}`: one channel's first frame as little-endian 16-bit
/// samples (a logged read). `X-Rows`, `X-Columns` and `X-Audit-Record` say what it is.
pub async fn channel(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path((id, n)): Path<(String, usize)>,
) -> Result<Response, ApiError> {
    let (scan, record) =
        read_scan(&state, id, &who.session.name, "workstation: view pixels").await?;
    let image = &scan.image;
    let c = image
        .channels
        .get(n)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such channel"))?;
    let frame = usize::from(image.rows) * usize::from(image.columns);
    let mut bytes = Vec::with_capacity(frame * 2);
    match &c.samples {
        Samples::U16(v) => {
            for s in v.iter().take(frame) {
                bytes.extend_from_slice(&s.to_le_bytes());
            }
        }
        Samples::U8(v) => {
            for s in v.iter().take(frame) {
                bytes.extend_from_slice(&u16::from(*s).to_le_bytes());
            }
        }
    }
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    for (name, value) in [
        ("x-rows", image.rows.to_string()),
        ("x-columns", image.columns.to_string()),
        ("x-audit-record", record.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    Ok(r)
}

/// A decision.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    decision: String,
}

/// `POST /api/scans/{id}/decision`: clear, inspect or seize (logged before it is kept).
pub async fn decide(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path(id): Path<String>,
    Json(body): Json<DecisionBody>,
) -> Result<Json<Value>, ApiError> {
    if !valid_id(&id) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such scan"));
    }
    let decision = Decision::parse(&body.decision).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "decision must be clear, inspect or seize",
        )
    })?;
    let name = who.session.name.clone();
    let row = with_vault(&state, move |v| {
        let actor = v.actor(&name);
        v.decide(&id, decision, &actor).map_err(vault_error)
    })
    .await?;
    Ok(Json(json!({
        "id": row.id,
        "decision": row.decision.map(Decision::as_str),
        "decided_at": row.decided_at,
        "class": row.class,
        "expires_at": row.expires_at,
    })))
}

/// `GET /api/scans/{id}/image`: everything the viewer needs in one logged read: the first frame
/// of every channel, as little-endian 16-bit samples one channel after another, described by
/// the `X-Image` header (JSON: rows, columns, bits, channels with kind and rescale, the audit
/// record). One decryption and one parse instead of one per channel.
pub async fn image(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (scan, record) =
        read_scan(&state, id.clone(), &who.session.name, "workstation: view").await?;
    let image = &scan.image;
    let frame = usize::from(image.rows) * usize::from(image.columns);
    let mut bytes = Vec::with_capacity(frame * 2 * image.channels.len());
    let mut channels = Vec::new();
    for (i, c) in image.channels.iter().enumerate() {
        let start = bytes.len();
        match &c.samples {
            Samples::U16(v) => v
                .iter()
                .take(frame)
                .for_each(|s| bytes.extend_from_slice(&s.to_le_bytes())),
            Samples::U8(v) => v
                .iter()
                .take(frame)
                .for_each(|s| bytes.extend_from_slice(&u16::from(*s).to_le_bytes())),
        }
        // A short channel is padded so that every channel is one whole frame.
        bytes.resize(start + frame * 2, 0);
        channels.push(json!({
            "index": i,
            "kind": format!("{:?}", c.kind),
            "rescale": c.rescale.as_ref().map(|r| json!({ "slope": r.slope, "intercept": r.intercept })),
        }));
    }
    let header = json!({
        "id": id,
        "rows": image.rows,
        "columns": image.columns,
        "bits_stored": image.bits_stored,
        "channels": channels,
        "audit_record": record,
    });
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&header.to_string()) {
        h.insert("x-image", v);
    }
    Ok(r)
}

/// `GET /api/audit`: for auditors, the log's latest signed checkpoint (with any witness
/// cosignatures) and a verification of the whole log against the log's public key, done now.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    _who: Authenticated<need::Auditor>,
) -> Result<Json<Value>, ApiError> {
    with_vault(&state, |v| {
        let checkpoint = String::from_utf8_lossy(&v.log().checkpoint()).into_owned();
        // Signature lines of a signed note start with an em dash; the first is the log's own.
        let signatures = checkpoint
            .lines()
            .filter(|l| l.starts_with('\u{2014}'))
            .count();
        let key = v.log_verifier_key().map_err(vault_error).and_then(|k| {
            sluis_audit::NoteVerifier::new(&k)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        })?;
        let policy = sluis_audit::verify::Policy {
            log: Some(key),
            records: true,
            ..sluis_audit::verify::Policy::default()
        };
        let verification = match sluis_audit::FsStore::new(v.layout().log()) {
            Ok(store) => match sluis_audit::verify_log(&store, &policy, |_, _| {}) {
                Ok(r) => json!({ "verified": true, "entries": r.entries, "tiles": r.tiles }),
                Err(e) => json!({ "verified": false, "error": e.to_string() }),
            },
            Err(e) => json!({ "verified": false, "error": e.to_string() }),
        };
        Ok(Json(json!({
            "size": v.log().size(),
            "checkpoint": checkpoint,
            "witness_cosignatures": signatures.saturating_sub(1),
            "verification": verification,
        })))
    })
    .await
}
