//! What the API's handlers share, apart from the router: the state ([`AppState`]), the error
//! they answer with ([`ApiError`]), and authentication by type: a handler names what it needs in
//! its signature, as `Authenticated<need::Supervisor>`, and the extractor answers 401 (no live
//! session) or 403 (wrong role, a changed account, or a state-changing request without the
//! session's CSRF token) before the handler runs. No handler checks a role by hand.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::accounts::{Accounts, Role, Seconds};
use crate::session::{Session, Sessions, same_secret};

/// The session cookie's name.
pub const COOKIE: &str = "sluis_session";

/// What the handlers share.
pub struct AppState {
    /// The accounts (SQLite; one connection, behind a lock).
    pub accounts: Mutex<Accounts>,
    /// The live sessions.
    pub sessions: Sessions,
    /// The vault whose scans are served (shared with the core when the core serves).
    pub vault: Option<Arc<sluis_vault::Vault>>,
    /// Held while a decision is checked and made, so that no other decision slips in between.
    pub decisions: Mutex<()>,
    /// Decision comments, annotations, declarations.
    pub desk: Mutex<crate::desk::Desk>,
    /// Mark the cookie `Secure` (served over HTTPS).
    pub secure: bool,
    /// The clock (seconds since the epoch); a parameter so tests can move it.
    pub clock: Box<dyn Fn() -> Seconds + Send + Sync>,
    /// Refused logins and requests, counted until their minute is logged.
    pub access: crate::access::AccessLog,
    /// The names (`host` or `host:port`) requests may carry in `Host` (a defence against DNS
    /// rebinding beside the cookies' SameSite); empty accepts any.
    pub hosts: Vec<String>,
    /// The longest a request's body may take to arrive.
    pub body_timeout: std::time::Duration,
}

impl AppState {
    /// Counts a refused request (or login) for the access log.
    pub fn refused(
        &self,
        who: Option<&str>,
        what: crate::access::Refusal,
        route: &str,
        status: StatusCode,
    ) {
        self.access
            .count((self.clock)(), who, what, route, status.as_u16());
    }

    /// Writes the refusals whose minute is over to the log (all of them with `all`).
    pub fn flush_refusals(&self, all: bool) -> usize {
        self.access
            .flush(self.vault.as_deref(), (self.clock)(), all)
    }

    /// Records a login or logout of `name` in the log (when a vault is served).
    pub(crate) fn log_session(&self, name: &str, what: &str) {
        if let Some(v) = &self.vault
            && let Err(e) = v.log_access(
                sluis_audit::Action::Session,
                &v.actor(name),
                sluis_audit::Outcome::Success,
                what,
            )
        {
            tracing::error!("{what} not logged: {e}");
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("secure", &self.secure)
            .finish()
    }
}

/// The wall clock.
pub fn wall_clock() -> Seconds {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Which roles a handler admits.
pub trait Requirement: Send + Sync + 'static {
    /// Whether `role` may call it.
    fn allows(role: Role) -> bool;
}

/// The requirements handlers name.
pub mod need {
    use super::{Requirement, Role};

    /// Any logged-in person.
    #[derive(Debug)]
    pub struct Anyone;
    /// Analysts, and supervisors (who are analysts too).
    #[derive(Debug)]
    pub struct Analyst;
    /// Supervisors only.
    #[derive(Debug)]
    pub struct Supervisor;
    /// Auditors only.
    #[derive(Debug)]
    pub struct Auditor;
    /// Administrators only.
    #[derive(Debug)]
    pub struct Administrator;

    impl Requirement for Anyone {
        fn allows(_: Role) -> bool {
            true
        }
    }
    impl Requirement for Analyst {
        fn allows(role: Role) -> bool {
            matches!(role, Role::Analyst | Role::Supervisor)
        }
    }
    impl Requirement for Supervisor {
        fn allows(role: Role) -> bool {
            role == Role::Supervisor
        }
    }
    impl Requirement for Auditor {
        fn allows(role: Role) -> bool {
            role == Role::Auditor
        }
    }
    impl Requirement for Administrator {
        fn allows(role: Role) -> bool {
            role == Role::Administrator
        }
    }
}

/// Proof that the request comes from a live session whose role meets `R` (and, for a request
/// that changes state, that it carries the session's CSRF token). Only the extractor makes one.
#[derive(Debug)]
pub struct Authenticated<R: Requirement> {
    /// The session.
    pub session: Session,
    pub(crate) token: String,
    _need: PhantomData<R>,
}

/// An API error: a status and a one-line reason, as JSON.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    pub(crate) retry_after: Option<Seconds>,
}

impl ApiError {
    /// An error with this status and reason.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

fn cookie_token(parts: &Parts) -> Option<String> {
    for value in parts.headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == COOKIE
                && !v.is_empty()
                && v.len() <= 64
            {
                return Some(v.to_string());
            }
        }
    }
    None
}

impl<R: Requirement> FromRequestParts<Arc<AppState>> for Authenticated<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let now = (state.clock)();
        let route = route_of(&parts.extensions);
        // Every refusal is counted for the log, by the session's account where there is one.
        let refuse = |who: Option<&str>, status: StatusCode, message: String| {
            state.refused(who, crate::access::Refusal::Request, &route, status);
            ApiError::new(status, message)
        };
        let Some(token) = cookie_token(parts) else {
            return Err(refuse(
                None,
                StatusCode::UNAUTHORIZED,
                "not logged in".into(),
            ));
        };
        let Some(session) = state.sessions.get(&token, now) else {
            return Err(refuse(
                None,
                StatusCode::UNAUTHORIZED,
                "the session has ended; log in again".into(),
            ));
        };
        // The account as it is now, whichever tool changed it: a disabled account, or one whose
        // role changed, has no session any more.
        let status = state
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .status(&session.name);
        match status {
            Ok(Some((role, false))) if role == session.role => {}
            Ok(_) => {
                state.sessions.end_all(&session.name);
                return Err(refuse(
                    Some(&session.name),
                    StatusCode::UNAUTHORIZED,
                    "the account was disabled or its role changed; log in again".into(),
                ));
            }
            Err(e) => {
                tracing::error!("accounts: {e}");
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the accounts could not answer",
                ));
            }
        }
        if !R::allows(session.role) {
            return Err(refuse(
                Some(&session.name),
                StatusCode::FORBIDDEN,
                format!("the {} role may not do this", session.role),
            ));
        }
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same_secret(sent, &session.csrf) {
                return Err(refuse(
                    Some(&session.name),
                    StatusCode::FORBIDDEN,
                    "missing or wrong X-CSRF-Token".into(),
                ));
            }
        }
        Ok(Authenticated {
            session,
            token,
            _need: PhantomData,
        })
    }
}

/// The route a request matched, as its template (`/api/scans/{id}`): what the access record
/// names. Never the request's own path, which the client writes and may fill with an
/// identifier.
pub(crate) fn route_of(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string())
}
