//! Exports: a scan leaves the vault as canonical DICOS with its `.tlog-proof` receipt, in one
//! tar archive, optionally encrypted to the recipient's age key (X25519).
//!
//! Only supervisors export. The export record (actor, purpose, the plaintext's SHA-256) is in
//! the log and durable before a byte is sent, and the receipt proves that record's inclusion
//! under the log's signed checkpoint (with any witness cosignatures), offline: `sluis audit
//! verify-proof` checks it with public keys only.

use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::kernel::{ApiError, AppState, Authenticated, need};
use crate::scans::{scan_id, vault_error, with_vault};

/// What an export asks.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// Why: a purpose code the vault accepts (`GET /api/purposes`); only the code is logged.
    purpose: String,
    /// Free text (a case number, a request): kept on the desk, only its SHA-256 in the log.
    note: Option<String>,
    /// An age recipient (`age1…`) to encrypt the archive to.
    recipient: Option<String>,
}

fn bad(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// The archive: `ID.dcm` and `ID.dcm.tlog-proof`.
fn archive(id: &str, dicos: &[u8], receipt: &str) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::with_capacity(dicos.len() + receipt.len() + 4096));
    for (name, bytes) in [
        (format!("{id}.dcm"), dicos),
        (format!("{id}.dcm.tlog-proof"), receipt.as_bytes()),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o600);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, name, bytes)?;
    }
    tar.into_inner()
}

fn encrypt(plain: &[u8], to: &age::x25519::Recipient) -> Result<Vec<u8>, String> {
    let e = age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(plain.len() + 1024);
    let mut w = e.wrap_output(&mut out).map_err(|e| e.to_string())?;
    w.write_all(plain).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// `POST /api/scans/{id}/export`: the scan and its receipt, as a tar archive (or the archive
/// encrypted to an age recipient).
pub async fn export(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Supervisor>,
    Path(id): Path<String>,
    Json(body): Json<ExportBody>,
) -> Result<Response, ApiError> {
    scan_id(&id)?;
    let purpose = body.purpose.trim().to_string();
    if !sluis_vault::config::is_code(&purpose, false) {
        return Err(bad(
            "an export needs a purpose code (GET /api/purposes); free text goes in the note",
        ));
    }
    let note = body
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    if note.as_ref().is_some_and(|n| {
        n.chars().count() > crate::desk::MAX_NOTE || n.chars().any(char::is_control)
    }) {
        return Err(bad(&format!(
            "a note is at most {} characters on one line",
            crate::desk::MAX_NOTE
        )));
    }
    let recipient = match body.recipient.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(
            age::x25519::Recipient::from_str(r)
                .map_err(|_| bad("the recipient is not an age X25519 public key (age1…)"))?,
        ),
    };
    let name = who.session.name.clone();
    let id2 = id.clone();
    let (code, text) = (purpose.clone(), note.clone());
    let exported = with_vault(&state, move |v| {
        let actor = v.actor(&name);
        v.export(&id2, false, &actor, &code, text.as_deref())
            .map_err(vault_error)
    })
    .await?;
    let record = exported.released.record.index;
    if let Some(text) = note {
        let n = crate::desk::PurposeNote {
            record,
            object: id.clone(),
            author: who.session.name.clone(),
            at: (state.clock)(),
            purpose,
            text,
        };
        let st = state.clone();
        tokio::task::spawn_blocking(move || {
            st.desk
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .add_note(&n)
        })
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?
        .map_err(|e| {
            tracing::error!("desk: {e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the export is logged, but its note could not be kept",
            )
        })?;
    }
    let tar = archive(&id, &exported.released.bytes, &exported.receipt)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (bytes, file, kind) = match &recipient {
        Some(r) => (
            encrypt(&tar, r).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?,
            format!("{id}.tar.age"),
            "application/octet-stream",
        ),
        None => (tar, format!("{id}.tar"), "application/x-tar"),
    };
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    for (k, v) in [
        (
            header::CONTENT_DISPOSITION.as_str(),
            format!("attachment; filename=\"{file}\""),
        ),
        ("x-audit-record", record.to_string()),
        (
            "x-witnesses",
            exported
                .witnesses
                .iter()
                .map(|(url, res)| match res {
                    Ok(size) => format!("{url} cosigned {size}"),
                    Err(_) => format!("{url} did not cosign"),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    Ok(r)
}
