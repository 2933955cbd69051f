//! The administrator's API: accounts (list, add, disable, enable, change of role). Every change
//! is written to the transparency log as a configuration record naming the account by its
//! pseudonym, so that who gave whom which role can be audited: the change and its outbox entry
//! are one transaction, and [`log_account_changes`] writes the record (here at once; for changes
//! `sluis user` makes while the workstation runs, within a second). A disabled account's
//! sessions, and the sessions of an account whose role changed, end at once, whichever tool
//! made the change (every request checks the account). Nobody disables their own account, and
//! the last active administrator is neither disabled nor demoted.

use std::sync::{Arc, PoisonError};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::accounts::{AccountError, Accounts, Role};
use crate::kernel::{ApiError, AppState, Authenticated, need, wall_clock};

fn account_error(e: AccountError) -> ApiError {
    match e {
        AccountError::Unknown(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        AccountError::Exists(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        AccountError::BadName(_)
        | AccountError::BadPassword
        | AccountError::LastAdministrator(_) => {
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

/// Why the outbox of account changes could not be written to the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeLogError {
    /// The accounts database.
    #[error(transparent)]
    Accounts(#[from] AccountError),
    /// The vault's log.
    #[error("the transparency log: {0}")]
    Vault(#[from] sluis_vault::VaultError),
}

/// Writes every account change still waiting in the outbox to the transparency log (a
/// configuration record naming the account by its pseudonym, made by its actor's pseudonym),
/// then marks it logged; returns `(change, record)` for each. Whoever holds the vault calls it:
/// the workstation after each change and once a second (for changes `sluis user` made while it
/// runs), the core, and `sluis user` itself when no service holds the vault.
pub fn log_account_changes(
    accounts: &Accounts,
    vault: &sluis_vault::Vault,
) -> Result<Vec<(i64, u64)>, ChangeLogError> {
    let mut done = Vec::new();
    for c in accounts.unlogged_changes()? {
        let index = vault.log_account(&c.subject, &c.change, &vault.actor(&c.actor))?;
        accounts.mark_logged(c.id, index)?;
        done.push((c.id, index));
    }
    Ok(done)
}

/// How long a change made outside the process that holds the vault waits for that process to
/// write its record (it drains the outbox once a second).
pub const HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sees that change `change` (made by a tool that is not serving, such as `sluis user`) gets
/// its record: if no process holds the vault in `vault_dir`, this writes the outbox's records
/// itself; if one does (a core or a workstation), it waits up to [`HOLDER_WAIT`] for that
/// process to. Returns the record's log index, or `None` while it still waits in the outbox
/// (the holder writes it; nothing is lost).
pub fn record_change(
    vault_dir: &std::path::Path,
    accounts: &Accounts,
    change: i64,
) -> Result<Option<u64>, ChangeLogError> {
    match sluis_vault::Vault::open(vault_dir) {
        Ok(v) => {
            log_account_changes(accounts, &v)?;
        }
        Err(sluis_vault::VaultError::InUse(_)) => {
            let deadline = std::time::Instant::now() + HOLDER_WAIT;
            while std::time::Instant::now() < deadline {
                if accounts
                    .change_by_id(change)?
                    .is_some_and(|c| c.record.is_some())
                {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(accounts.change_by_id(change)?.and_then(|c| c.record))
}

/// Applies `change` to the accounts (with its outbox entry, in one transaction), then writes its
/// record to the log (when a vault is served) before answering.
async fn change(
    state: &Arc<AppState>,
    subject: &str,
    what: String,
    apply: impl FnOnce(&Accounts) -> Result<i64, AccountError> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    let st = state.clone();
    let subject = subject.to_string();
    tokio::task::spawn_blocking(move || {
        let accounts = st.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let id = apply(&accounts).map_err(account_error)?;
        let index = match &st.vault {
            Some(v) => log_account_changes(&accounts, v)
                .map_err(|e| {
                    tracing::error!("account change {id} waits for its record: {e}");
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the change is made; its audit record is written as soon as the log takes it",
                    )
                })?
                .into_iter()
                .find(|(c, _)| *c == id)
                .map(|(_, i)| i),
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
    let admin = who.session.name.clone();
    let r = change(
        &state,
        &name,
        format!("account added role={role}"),
        move |a| {
            a.add(
                &body.name,
                role,
                body.password.as_bytes(),
                wall_clock(),
                &admin,
            )
        },
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
    if name == who.session.name {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "an administrator does not disable their own account; another administrator can",
        ));
    }
    let (n, admin) = (name.clone(), who.session.name.clone());
    let r = change(&state, &name, "account disabled".into(), move |a| {
        a.disable(&n, &admin, wall_clock())
    })
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
    let (n, admin) = (name.clone(), who.session.name.clone());
    change(&state, &name, "account enabled".into(), move |a| {
        a.enable(&n, &admin, wall_clock())
    })
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
    let (n, admin) = (name.clone(), who.session.name.clone());
    let r = change(&state, &name, format!("role={role}"), move |a| {
        a.set_role(&n, role, &admin, wall_clock())
    })
    .await?;
    state.sessions.end_all(&name);
    Ok(r)
}
