//! The administrator's API: accounts (list, add, disable, enable, change of role). Every change
//! is written to the transparency log as a configuration record naming the account by its
//! pseudonym, so that who gave whom which role can be audited; a disabled account's sessions,
//! and the sessions of an account whose role changed, end at once.

use std::sync::{Arc, PoisonError};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::accounts::{AccountError, Accounts, Role};
use crate::http::{ApiError, AppState, Authenticated, need, wall_clock};
use crate::scans::vault_error;

fn account_error(e: AccountError) -> ApiError {
    match e {
        AccountError::Unknown(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        AccountError::Exists(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        AccountError::BadName(_) | AccountError::BadPassword => {
            ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
        }
        other => {
            tracing::error!("accounts: {other}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the accounts could not answer",
            )
        }
    }
}

/// Applies `change` to the accounts, then logs it (when a vault is served) as done by `admin`.
async fn change(
    state: &Arc<AppState>,
    admin: &str,
    subject: &str,
    what: String,
    apply: impl FnOnce(&Accounts) -> Result<(), AccountError> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    let st = state.clone();
    let (admin, subject) = (admin.to_string(), subject.to_string());
    tokio::task::spawn_blocking(move || {
        {
            let accounts = st.accounts.lock().unwrap_or_else(PoisonError::into_inner);
            apply(&accounts).map_err(account_error)?;
        }
        let index = match &st.vault {
            Some(v) => Some(
                v.log_account(&subject, &what, &v.actor(&admin))
                    .map_err(vault_error)?,
            ),
            None => None,
        };
        Ok(Json(
            json!({ "name": subject, "change": what, "audit_record": index }),
        ))
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?
}

fn parse_role(role: &str) -> Result<Role, ApiError> {
    Role::parse(role).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "role must be analyst, supervisor, auditor or administrator",
        )
    })
}

/// `GET /api/users`: every account (never a hash).
pub async fn list(
    State(state): State<Arc<AppState>>,
    _who: Authenticated<need::Administrator>,
) -> Result<Json<Value>, ApiError> {
    let accounts = state
        .accounts
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let list = accounts.list().map_err(account_error)?;
    Ok(Json(json!({ "users": list })))
}

/// A new account.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    role: String,
    password: String,
}

/// `POST /api/users`: adds an account (the password is hashed with Argon2id, never kept).
pub async fn add(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Administrator>,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let role = parse_role(&body.role)?;
    let name = body.name.clone();
    let r = change(
        &state,
        &who.session.name,
        &name,
        format!("account added role={role}"),
        move |a| a.add(&body.name, role, body.password.as_bytes(), wall_clock()),
    )
    .await?;
    Ok((StatusCode::CREATED, r))
}

/// `POST /api/users/{name}/disable`: the account cannot log in; its sessions end.
pub async fn disable(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Administrator>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let n = name.clone();
    let r = change(
        &state,
        &who.session.name,
        &name,
        "account disabled".into(),
        move |a| a.disable(&n),
    )
    .await?;
    state.sessions.end_all(&name);
    Ok(r)
}

/// `POST /api/users/{name}/enable`: the account may log in again (a lock-out is lifted too).
pub async fn enable(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Administrator>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let n = name.clone();
    change(
        &state,
        &who.session.name,
        &name,
        "account enabled".into(),
        move |a| a.enable(&n),
    )
    .await
}

/// A change of role.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    role: String,
}

/// `POST /api/users/{name}/role`: another role; the account's sessions end, so the new role
/// applies from its next login.
pub async fn role(
    State(state): State<Arc<AppState>>,
    who: Authenticated<need::Administrator>,
    Path(name): Path<String>,
    Json(body): Json<NewRole>,
) -> Result<Json<Value>, ApiError> {
    let role = parse_role(&body.role)?;
    if name == who.session.name && role != Role::Administrator {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "an administrator does not take away their own role; another administrator can",
        ));
    }
    let n = name.clone();
    let r = change(
        &state,
        &who.session.name,
        &name,
        format!("role={role}"),
        move |a| a.set_role(&n, role),
    )
    .await?;
    state.sessions.end_all(&name);
    Ok(r)
}
