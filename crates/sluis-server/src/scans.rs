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

use std::sync::PoisonError;

use crate::accounts::Role;
use crate::desk::Comment;
use crate::kernel::{ApiError, AppState, Authenticated, need};

/// Vault scan ids are `s-` and 32 lower-case hex digits; anything else (a path, a traversal, a
/// quarantine id) is not one.
pub(crate) fn valid_id(id: &str) -> bool {
    id.strip_prefix("s-").is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A scan id, or 404: a path or traversal gets the same answer as an id that does not exist.
pub(crate) fn scan_id(id: &str) -> Result<(), ApiError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "no such scan"))
    }
}

/// Appends a channel's first frame as little-endian 16-bit samples.
fn push_le(bytes: &mut Vec<u8>, samples: &Samples, frame: usize) {
    match samples {
        Samples::U16(v) => v
            .iter()
            .take(frame)
            .for_each(|s| bytes.extend_from_slice(&s.to_le_bytes())),
        Samples::U8(v) => v
            .iter()
            .take(frame)
            .for_each(|s| bytes.extend_from_slice(&u16::from(*s).to_le_bytes())),
    }
}

/// A channel's rescale, as the viewer takes it.
fn rescale_json(c: &sluis_scan::model::Channel) -> Value {
    json!(
        c.rescale
            .as_ref()
            .map(|r| json!({ "slope": r.slope, "intercept": r.intercept }))
    )
}

/// Who made a scan.
fn scanner_json(scan: &sluis_scan::Scan) -> Value {
    json!({
        "manufacturer": scan.scanner.manufacturer,
        "model": scan.scanner.model,
        "station": scan.scanner.station_name,
    })
}

pub(crate) fn vault_error(e: VaultError) -> ApiError {
    match e {
        VaultError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "no such scan"),
        VaultError::Purpose(p) => ApiError::new(StatusCode::BAD_REQUEST, p),
        e @ VaultError::NotAScan(_) => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
        other => {
            tracing::error!("vault: {other}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the vault could not answer",
            )
        }
    }
}

pub(crate) async fn with_vault<T: Send + 'static>(
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
        f(vault)
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?
}

/// A live scan's index row (no content read, so not an access), or 404.
pub(crate) async fn live_row(
    state: &Arc<AppState>,
    id: &str,
) -> Result<sluis_vault::ObjectRow, ApiError> {
    scan_id(id)?;
    let id = id.to_string();
    with_vault(state, move |v| v.scan_row(&id).map_err(vault_error)).await
}

/// Samples as the viewer takes them: little-endian 16-bit, described by a JSON header.
fn samples(bytes: Vec<u8>, header_name: &'static str, described: &Value) -> Response {
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&described.to_string()) {
        h.insert(header_name, v);
    }
    r
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

/// The limits an object was accepted under: a scan stored under raised limits (`--limits`) must
/// still open. Canonical bytes from the vault are sanitised again on every read, as defence in
/// depth, under those limits.
pub(crate) fn accepted_limits(row: &sluis_vault::ObjectRow) -> Limits {
    row.scan
        .as_ref()
        .and_then(|m| m.limits.as_deref())
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default()
}

/// Reads a scan for `who` (logged), and parses it.
async fn read_scan(
    state: &Arc<AppState>,
    id: String,
    who: &str,
    purpose: &'static str,
) -> Result<(Box<sluis_scan::Scan>, u64), ApiError> {
    scan_id(&id)?;
    let who = who.to_string();
    with_vault(state, move |v| {
        let actor = v.actor(&who);
        let released = v.read(&id, &actor, purpose).map_err(vault_error)?;
        let parsed = sluis_scan::sanitise(&released.bytes, &accepted_limits(&released.row))
            .map_err(|r| {
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
    let (scan, record) = read_scan(&state, id.clone(), &who.session.name, "view-metadata").await?;
    let image = &scan.image;
    let channels: Vec<Value> = image
        .channels
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "index": i,
                "kind": format!("{:?}", c.kind),
                "rescale": rescale_json(c),
            })
        })
        .collect();
    Ok(Json(json!({
        "id": id,
        "rows": image.rows,
        "columns": image.columns,
        "bits_stored": image.bits_stored,
        "channels": channels,
        "scanner": scanner_json(&scan),
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
    let (scan, record) = read_scan(&state, id, &who.session.name, "view-pixels").await?;
    let image = &scan.image;
    let c = image
        .channels
        .get(n)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such channel"))?;
    let frame = usize::from(image.rows) * usize::from(image.columns);
    let mut bytes = Vec::with_capacity(frame * 2);
    push_le(&mut bytes, &c.samples, frame);
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
    comment: Option<String>,
}

/// `POST /api/scans/{id}/decision`: clear, inspect, seize, or refer to a supervisor, with an
/// optional comment (required for a referral). A referred scan is decided by a supervisor only:
/// that is the supervisor's review. The decision is logged (with the comment's SHA-256) before
/// it is kept; the comment is kept on the desk.
pub async fn decide(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path(id): Path<String>,
    Json(body): Json<DecisionBody>,
) -> Result<Json<Value>, ApiError> {
    scan_id(&id)?;
    let decision = Decision::parse(&body.decision).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "decision must be clear, inspect, seize or refer",
        )
    })?;
    let comment = body
        .comment
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if let Some(c) = &comment
        && (c.chars().count() > crate::desk::MAX_COMMENT
            || c.chars().any(|ch| ch.is_control() && ch != '\n'))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a comment is at most 4000 characters, without control characters",
        ));
    }
    let role = who.session.role;
    if decision == Decision::Refer {
        if comment.is_none() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "a referral needs a comment saying what the supervisor should look at",
            ));
        }
        if role == Role::Supervisor {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "a supervisor decides referred scans; there is no one to refer to",
            ));
        }
    }
    let name = who.session.name.clone();
    let now = (state.clock)();
    let st = state.clone();
    let row = with_vault(&state, move |v| {
        // Checked and decided under the decision lock: no decision slips in between.
        let _one = st.decisions.lock().unwrap_or_else(PoisonError::into_inner);
        let current = v.scan_row(&id).map_err(vault_error)?;
        if current.scan.as_ref().is_some_and(|m| m.modality == "TDR") {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "a threat report is not decided on; decide the scan it is about",
            ));
        }
        if current.decision == Some(Decision::Refer) && role != Role::Supervisor {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this scan is referred to a supervisor, who decides it",
            ));
        }
        let by_supervisor = st
            .desk
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .decider(&id)
            .map_err(|e| {
                tracing::error!("desk: {e}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the desk could not answer",
                )
            })?
            .is_some_and(|(r, d)| r == Role::Supervisor.name() && d != Decision::Refer.as_str());
        // A supervisor's review stands unless a supervisor changes it, and says why.
        if by_supervisor {
            if role != Role::Supervisor {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "a supervisor has decided this scan; only a supervisor changes that decision",
                ));
            }
            if comment.is_none() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "changing a supervisor's decision needs a comment saying why",
                ));
            }
        }
        // Changing a decision to one kept for less time is a supervisor's call: it decides how
        // soon the evidence is destroyed.
        if let Some(was) = current.decision.filter(|d| *d != Decision::Refer) {
            let keep = |d| {
                v.config()
                    .retention_of(sluis_vault::config::class_of(
                        sluis_vault::Kind::Scan,
                        Some(d),
                    ))
                    .unwrap_or_default()
            };
            if keep(decision) < keep(was) && role != Role::Supervisor {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "{} is kept for less time than {}: a supervisor makes that change",
                        decision.as_str(),
                        was.as_str()
                    ),
                ));
            }
        }
        let actor = v.actor(&name);
        let row = v
            .decide(&id, decision, comment.as_deref(), &actor)
            .map_err(vault_error)?;
        if let Err(e) = st
            .desk
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set_decider(&id, role.name(), decision.as_str(), now)
        {
            tracing::error!("decision kept, its decider's role not: {e}");
        }
        if let Some(text) = comment {
            let desk = st.desk.lock().unwrap_or_else(PoisonError::into_inner);
            desk.add_comment(&Comment {
                scan: id,
                author: name,
                role: role.name().to_string(),
                at: now,
                decision: decision.as_str().to_string(),
                text,
            })
            .map_err(|e| {
                // The decision stands and its record holds the comment's hash; the text is lost.
                tracing::error!("decision kept, comment not: {e}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the decision was kept and logged, but its comment could not be kept",
                )
            })?;
        }
        Ok(row)
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

/// Which channels an image request wants.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageQuery {
    /// Channel kinds, comma-separated (`HighEnergy,ZEffective`); all when absent.
    kinds: Option<String>,
}

/// `GET /api/scans/{id}/image[?kinds=K,K]`: everything the viewer needs in one logged read: the
/// first frame of every channel (or of the kinds asked for; the first channel if none is of
/// them), as little-endian 16-bit samples one channel after another, described by the `X-Image`
/// header (JSON: rows, columns, bits, channels with their place in the body, their index in the
/// scan, kind and rescale, the audit record). One decryption and one parse.
pub async fn image(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path(id): Path<String>,
    Query(q): Query<ImageQuery>,
) -> Result<Response, ApiError> {
    let (scan, record) = read_scan(&state, id.clone(), &who.session.name, "view-image").await?;
    let image = &scan.image;
    let frame = usize::from(image.rows) * usize::from(image.columns);
    let wanted: Vec<usize> = match q.kinds.as_deref() {
        None => (0..image.channels.len()).collect(),
        Some(list) => {
            let kinds: Vec<&str> = list.split(',').map(str::trim).collect();
            let hits: Vec<usize> = image
                .channels
                .iter()
                .enumerate()
                .filter(|(_, c)| kinds.contains(&format!("{:?}", c.kind).as_str()))
                .map(|(i, _)| i)
                .collect();
            if hits.is_empty() { vec![0] } else { hits }
        }
    };
    let mut bytes = Vec::with_capacity(frame * 2 * wanted.len());
    let mut channels = Vec::new();
    for (place, (i, c)) in image
        .channels
        .iter()
        .enumerate()
        .filter(|(i, _)| wanted.contains(i))
        .enumerate()
    {
        let start = bytes.len();
        push_le(&mut bytes, &c.samples, frame);
        // A short channel is padded so that every channel is one whole frame.
        bytes.resize(start + frame * 2, 0);
        channels.push(json!({
            "index": place,
            "channel": i,
            "kind": format!("{:?}", c.kind),
            "rescale": rescale_json(c),
        }));
    }
    let header = json!({
        "id": id,
        "rows": image.rows,
        "columns": image.columns,
        "bits_stored": image.bits_stored,
        "channels": channels,
        "scanner": scanner_json(&scan),
        "audit_record": record,
    });
    Ok(samples(bytes, "x-image", &header))
}

/// Threat reports are looked for among the vault's reports on the same container or conveyance;
/// at most this many are read per request.
const MAX_REPORT_CANDIDATES: usize = 20;

fn report_json(id: &str, record: u64, r: &sluis_scan::ThreatReport) -> Value {
    let threats: Vec<Value> = r
        .threats
        .iter()
        .map(|t| {
            let a = t.assessments.first();
            let region = t.regions.first();
            json!({
                "id": t.id,
                "category": a.and_then(|a| a.category.as_ref()).map(ToString::to_string),
                "description": a.and_then(|a| a.description.clone()),
                "flag": a.and_then(|a| a.flag.as_ref()).map(ToString::to_string),
                "probability": a.and_then(|a| a.probability),
                "mass_g": region.and_then(|g| g.mass_g),
                "density": region.and_then(|g| g.density),
                "z_effective": region.and_then(|g| g.z_effective),
                // The region's base and extents in image pixels, x and y.
                "box": region.and_then(|g| g.base.zip(g.extents)).map(|(b, e)| [b[0], b[1], e[0], e[1]]),
                "polygon": region.map(|g| g.bounding_polygon.clone()).unwrap_or_default(),
                "location": region.and_then(|g| g.location.clone()),
            })
        })
        .collect();
    json!({
        "id": id,
        "tdr_type": r.tdr_type.to_string(),
        "alarm": r.alarm.as_ref().map(ToString::to_string),
        "algorithm": r.algorithm,
        "audit_record": record,
        "threats": threats,
    })
}

/// `GET /api/scans/{id}/reports`: the threat detection reports about this scan (machine,
/// operator and ground truth), each with its regions for the viewer's overlay. A report is
/// found among the reports stored for the scan's containers and conveyance and kept only if it
/// refers to this scan's SOP instance; every report read is a logged read.
pub async fn reports(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    scan_id(&id)?;
    let name = who.session.name.clone();
    with_vault(&state, move |v| {
        let row = v.scan_row(&id).map_err(vault_error)?;
        let Some(meta) = row.scan else {
            return Ok(Json(json!({ "reports": [] })));
        };
        let mut candidates: Vec<String> = Vec::new();
        let identifiers = meta.containers.iter().chain(meta.conveyance.iter());
        for ident in identifiers {
            let filter = Filter {
                kind: Some(Kind::Scan),
                identifier: Some(ident.clone()),
                limit: 200,
                ..Filter::default()
            };
            for r in v.list(&filter).map_err(vault_error)? {
                if r.scan.as_ref().is_some_and(|m| m.modality == "TDR")
                    && !candidates.contains(&r.id)
                {
                    candidates.push(r.id);
                }
            }
        }
        let actor = v.actor(&name);
        let mut out = Vec::new();
        for tdr in candidates.iter().take(MAX_REPORT_CANDIDATES) {
            let released = v.read(tdr, &actor, "view-reports").map_err(vault_error)?;
            let Ok(parsed) = sluis_scan::sanitise(&released.bytes, &accepted_limits(&released.row))
            else {
                tracing::error!("stored report {tdr} does not parse");
                continue;
            };
            if let DicosObject::ThreatReport(r) = parsed.scan.object()
                && r.references
                    .iter()
                    .chain(
                        r.threats
                            .iter()
                            .flat_map(|t| t.regions.iter().flat_map(|g| g.references.iter())),
                    )
                    .any(|x| x.sop_instance_uid.as_str() == meta.sop_instance_uid)
            {
                out.push(report_json(tdr, released.record.index, r));
            }
        }
        Ok(Json(
            json!({ "reports": out, "candidates": candidates.len() }),
        ))
    })
    .await
}

/// Tiles are this many pixels square.
pub const TILE: usize = 512;
/// The coarsest pyramid level (each level halves the resolution).
pub const MAX_LEVEL: u32 = 8;

/// Parses a tile name, `X_Y.u16`, strictly: anything else (a path, a traversal, an encoding
/// trick) is not a tile.
fn tile_name(name: &str) -> Option<(usize, usize)> {
    let (x, y) = name.strip_suffix(".u16")?.split_once('_')?;
    let num = |s: &str| {
        (!s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<usize>().ok())
            .flatten()
    };
    Some((num(x)?, num(y)?))
}

/// `GET /api/scans/{id}/tiles/{level}/{X_Y.u16}`: one 512 x 512 tile of every channel at a
/// pyramid level (level L is reduced 2^L times: energy channels by the mean of each block, the
/// Z-effective channel by its first sample, since a mean of atomic numbers is no material), as
/// little-endian 16-bit samples, channel after channel, described by `X-Tile`. A logged read.
pub async fn tile(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path((id, level, name)): Path<(String, u32, String)>,
) -> Result<Response, ApiError> {
    let (tx, ty) =
        tile_name(&name).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such tile"))?;
    if level > MAX_LEVEL {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such level"));
    }
    let (scan, record) = read_scan(&state, id.clone(), &who.session.name, "view-pixels").await?;
    let image = &scan.image;
    let (cols, rows) = (usize::from(image.columns), usize::from(image.rows));
    let k = 1usize << level;
    let (lcols, lrows) = (cols.div_ceil(k), rows.div_ceil(k));
    let (x0, y0) = (tx * TILE, ty * TILE);
    if x0 >= lcols || y0 >= lrows {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such tile"));
    }
    let (w, h) = ((lcols - x0).min(TILE), (lrows - y0).min(TILE));
    let mut bytes = Vec::with_capacity(w * h * 2 * image.channels.len());
    let mut channels = Vec::new();
    for (i, c) in image.channels.iter().enumerate() {
        let sample = |x: usize, y: usize| -> u32 {
            let at = y * cols + x;
            match &c.samples {
                Samples::U16(v) => v.get(at).copied().map_or(0, u32::from),
                Samples::U8(v) => v.get(at).copied().map_or(0, u32::from),
            }
        };
        let nearest = matches!(c.kind, sluis_scan::model::ChannelKind::ZEffective);
        for ly in y0..y0 + h {
            for lx in x0..x0 + w {
                let (sx, sy) = (lx * k, ly * k);
                let v = if k == 1 || nearest {
                    sample(sx, sy)
                } else {
                    let (ex, ey) = ((sx + k).min(cols), (sy + k).min(rows));
                    let mut sum = 0u64;
                    for yy in sy..ey {
                        for xx in sx..ex {
                            sum += u64::from(sample(xx, yy));
                        }
                    }
                    let n = ((ex - sx) * (ey - sy)).max(1) as u64;
                    u32::try_from(sum / n).unwrap_or(u32::MAX)
                };
                bytes.extend_from_slice(&u16::try_from(v).unwrap_or(u16::MAX).to_le_bytes());
            }
        }
        channels.push(json!({ "index": i, "kind": format!("{:?}", c.kind) }));
    }
    let header = json!({
        "level": level, "x": tx, "y": ty, "columns": w, "rows": h,
        "level_columns": lcols, "level_rows": lrows, "tile": TILE,
        "channels": channels, "audit_record": record,
    });
    Ok(samples(bytes, "x-tile", &header))
}

/// `GET /api/scans/{id}/related`: other scans of the same containers or conveyance, newest
/// first (from the index; no content is read), for a side-by-side comparison.
pub async fn related(
    State(state): State<Arc<AppState>>,
    _who: Authenticated<need::Analyst>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    scan_id(&id)?;
    with_vault(&state, move |v| {
        let row = v.scan_row(&id).map_err(vault_error)?;
        let mut out: Vec<sluis_vault::ObjectRow> = Vec::new();
        if let Some(meta) = &row.scan {
            for ident in meta.containers.iter().chain(meta.conveyance.iter()) {
                let filter = Filter {
                    kind: Some(Kind::Scan),
                    identifier: Some(ident.clone()),
                    limit: 100,
                    ..Filter::default()
                };
                for r in v.list(&filter).map_err(vault_error)? {
                    let image = r.scan.as_ref().is_some_and(|m| m.modality != "TDR");
                    if image && r.id != id && !out.iter().any(|o| o.id == r.id) {
                        out.push(r);
                    }
                }
            }
        }
        out.sort_by(|a, b| (&b.stored_at, &b.id).cmp(&(&a.stored_at, &a.id)));
        let scans: Vec<Value> = out
            .iter()
            .take(50)
            .map(|r| {
                let meta = r.scan.as_ref();
                json!({
                    "id": r.id,
                    "stored_at": r.stored_at,
                    "scanned_at": meta.and_then(|m| m.scanned_at.clone()),
                    "station": meta.and_then(|m| m.station.clone()),
                    "containers": meta.map(|m| m.containers.clone()).unwrap_or_default(),
                    "conveyance": meta.and_then(|m| m.conveyance.clone()),
                    "decision": r.decision.map(Decision::as_str),
                    "earlier": r.stored_at < row.stored_at,
                })
            })
            .collect();
        Ok(Json(json!({ "related": scans })))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::tile_name;

    #[test]
    fn tile_names_are_parsed_strictly() {
        assert_eq!(tile_name("0_0.u16"), Some((0, 0)));
        assert_eq!(tile_name("12_3.u16"), Some((12, 3)));
        for bad in [
            "",
            "0_0",
            "0_0.png",
            "_0.u16",
            "0_.u16",
            "-1_0.u16",
            "0_0.u16/..",
            "../0_0.u16",
            "..%2F0_0.u16",
            "0__0.u16",
            "+1_0.u16",
            "123456_0.u16",
            "0 _0.u16",
        ] {
            assert_eq!(tile_name(bad), None, "{bad:?}");
        }
    }
}
