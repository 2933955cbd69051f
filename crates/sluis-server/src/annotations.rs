//! The desk's API: a scan's decision comments (for the supervisor's review and the record), the
//! analysts' annotations, and the declarations the scan is read against. Stored in [`crate::desk`]; a private annotation is visible to its
//! owner only, and to anyone else it does not exist (404, the same as a number never used).

use std::sync::{Arc, PoisonError};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::desk::{Annotation, Desk};
use crate::kernel::{ApiError, AppState, Authenticated, need};
use crate::scans::live_row;

async fn with_desk<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&Desk) -> Result<T, crate::desk::DeskError> + Send + 'static,
) -> Result<T, ApiError> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let desk = st.desk.lock().unwrap_or_else(PoisonError::into_inner);
        f(&desk).map_err(|e| {
            tracing::error!("{e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the desk could not answer",
            )
        })
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?
}

/// `GET /api/scans/{id}/comments`: the comments given with the scan's decisions, oldest first.
pub async fn comments(
    State(state): State<Arc<AppState>>,
    _who: Authenticated<need::Analyst>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    live_row(&state, &id).await?;
    let list = with_desk(&state, move |d| d.comments(&id)).await?;
    Ok(Json(json!({ "comments": list })))
}

/// `GET /api/scans/{id}/annotations`: the caller's own annotations on the scan and the shared
/// ones.
pub async fn list(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    live_row(&state, &id).await?;
    let me = who.session.name.clone();
    let list = with_desk(&state, move |d| d.annotations(&id, &me)).await?;
    Ok(Json(json!({ "annotations": list })))
}

/// What a new annotation says.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAnnotation {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    #[serde(default)]
    label: String,
    #[serde(default)]
    shared: bool,
}

/// `POST /api/scans/{id}/annotations`: keeps a rectangle (image pixels) for the caller.
pub async fn add(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path(id): Path<String>,
    Json(body): Json<NewAnnotation>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut a = Annotation {
        id: 0,
        scan: id.clone(),
        owner: who.session.name.clone(),
        at: (state.clock)(),
        shared: body.shared,
        x: body.x,
        y: body.y,
        w: body.w,
        h: body.h,
        label: body.label.trim().to_string(),
    };
    if let Some(why) = a.invalid() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, why));
    }
    live_row(&state, &id).await?;
    let kept = a.clone();
    let n = with_desk(&state, move |d| d.add_annotation(&kept))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "you keep the most annotations allowed on this scan; delete some first",
            )
        })?;
    a.id = n;
    Ok((StatusCode::CREATED, Json(json!(a))))
}

/// `GET /api/annotations/{n}`: one annotation, if the caller may see it.
pub async fn one(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path(n): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let me = who.session.name.clone();
    with_desk(&state, move |d| d.annotation(n, &me))
        .await?
        .map(|a| Json(json!(a)))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such annotation"))
}

/// `DELETE /api/annotations/{n}`: deletes one of the caller's own annotations.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Analyst>,
    Path(n): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let me = who.session.name.clone();
    if with_desk(&state, move |d| d.delete_annotation(n, &me)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no such annotation of yours",
        ))
    }
}

/// `GET /api/scans/{id}/declarations`: the customs declarations for the scan's containers and
/// conveyance, to read the image against (from the index; no scan content is read).
pub async fn declarations(
    State(state): State<Arc<AppState>>,
    _who: Authenticated<need::Analyst>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let identifiers: Vec<String> = live_row(&state, &id)
        .await?
        .scan
        .map(|m| m.containers.into_iter().chain(m.conveyance).collect())
        .unwrap_or_default();
    let list = with_desk(&state, move |d| d.declarations_for(&identifiers)).await?;
    Ok(Json(json!({ "declarations": list })))
}
