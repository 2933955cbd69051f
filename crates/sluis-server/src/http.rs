//! The HTTP API's router and its own handlers: login and logout, the session cookie, the
//! OpenAPI description, the embedded UI, and the layers every request passes (security
//! headers, the body deadline, same origin, the access record). What handlers share (state,
//! errors, authentication by type) is in [`crate::kernel`].

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::accounts::{LoginError, Seconds};
use crate::kernel::route_of;
pub use crate::kernel::{ApiError, AppState, Authenticated, COOKIE, Requirement, need, wall_clock};

fn session_cookie(state: &AppState, token: &str, max_age: Seconds) -> HeaderValue {
    let secure = if state.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("sluis_session=; Path=/; Max-Age=0"))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    name: String,
    password: String,
}

async fn login(State(state): State<Arc<AppState>>, Json(body): Json<LoginBody>) -> Response {
    let now = (state.clock)();
    // Argon2 takes tens of milliseconds: off the async threads, and without the accounts' lock
    // (held only to read the hash and to count the outcome).
    let st = state.clone();
    let name = body.name.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let lock = || {
            st.accounts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let attempt = lock().begin_login(&body.name, body.password.len())?;
        let verified = attempt.verify(body.password.as_bytes());
        lock().finish_login(&attempt, verified, now)
    })
    .await;
    let refused = |what, status| {
        state.refused(Some(&name), what, "/api/login", status);
    };
    let outcome = match outcome {
        Ok(Ok(r)) => {
            if r.locked_now {
                refused(
                    crate::access::Refusal::LockOut,
                    StatusCode::TOO_MANY_REQUESTS,
                );
            }
            Ok(Ok(r.outcome))
        }
        Ok(Err(e)) => Ok(Err(e)),
        Err(e) => Err(e),
    };
    let account = match outcome {
        Ok(Ok(Ok(a))) => a,
        Ok(Ok(Err(LoginError::Refused))) => {
            refused(crate::access::Refusal::Login, StatusCode::UNAUTHORIZED);
            return ApiError::new(StatusCode::UNAUTHORIZED, "name or password not accepted")
                .into_response();
        }
        Ok(Ok(Err(LoginError::Locked { until }))) => {
            refused(
                crate::access::Refusal::LockOut,
                StatusCode::TOO_MANY_REQUESTS,
            );
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins; the account is locked for a while",
            );
            e.retry_after = Some(until.saturating_sub(now));
            return e.into_response();
        }
        Ok(Err(e)) => {
            tracing::error!("login: {e}");
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                .into_response();
        }
        Err(e) => {
            tracing::error!("login task: {e}");
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                .into_response();
        }
    };
    // Always a new session: a token the browser already had is never adopted.
    let Ok((token, session)) = state.sessions.begin(&account.name, account.role, now) else {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no randomness").into_response();
    };
    let st = state.clone();
    let who = account.name.clone();
    let _ = tokio::task::spawn_blocking(move || st.log_session(&who, "login")).await;
    let mut r = Json(json!({ "name": session.name, "role": session.role, "csrf": session.csrf }))
        .into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state, &token, crate::session::ABSOLUTE),
    );
    r
}

async fn logout(State(state): State<Arc<AppState>>, who: Authenticated<need::Anyone>) -> Response {
    state.sessions.end(&who.token);
    let st = state.clone();
    let name = who.session.name.clone();
    let _ = tokio::task::spawn_blocking(move || st.log_session(&name, "logout")).await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    r
}

async fn me(who: Authenticated<need::Anyone>) -> Json<serde_json::Value> {
    let s = who.session;
    Json(json!({ "name": s.name, "role": s.role, "csrf": s.csrf }))
}

async fn scanners(
    State(state): State<Arc<AppState>>,
    _who: Authenticated<need::Administrator>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let list =
        crate::scans::with_vault(&state, |v| v.scanners().map_err(crate::scans::vault_error))
            .await?;
    Ok(Json(json!({ "scanners": list })))
}

/// `GET /api/purposes`: the purposes this vault accepts for an export, with what each means.
async fn purposes(
    State(state): State<Arc<AppState>>,
    _who: Authenticated<need::Anyone>,
) -> Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = state
        .vault
        .as_ref()
        .map(|v| {
            v.config()
                .purposes
                .iter()
                .map(|p| json!({ "code": p.code, "description": p.description }))
                .collect()
        })
        .unwrap_or_default();
    Json(json!({ "purposes": list }))
}

async fn openapi() -> Json<serde_json::Value> {
    Json(openapi_document())
}

/// The OpenAPI 3.1 description of what is served so far.
pub fn openapi_document() -> serde_json::Value {
    let err = json!({ "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let id =
        json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } });
    let n = json!({ "name": "n", "in": "path", "required": true, "schema": { "type": "integer" } });
    let name =
        json!({ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "sluis workstation API", "version": env!("CARGO_PKG_VERSION"), "license": { "name": "EUPL-1.2", "identifier": "EUPL-1.2" } },
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": COOKIE },
                "csrf": { "type": "apiKey", "in": "header", "name": "X-CSRF-Token" }
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "Me": { "type": "object", "required": ["name", "role", "csrf"], "properties": {
                    "name": { "type": "string" },
                    "role": { "type": "string", "enum": ["analyst", "supervisor", "auditor", "administrator"] },
                    "csrf": { "type": "string" } } }
            }
        },
        "paths": {
            "/api/login": { "post": {
                "summary": "Log in; sets the session cookie (HttpOnly, SameSite=Strict)",
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["name", "password"], "additionalProperties": false,
                    "properties": { "name": { "type": "string" }, "password": { "type": "string" } } } } } },
                "responses": { "200": { "description": "logged in", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Me" } } } },
                               "401": err, "429": err } } },
            "/api/logout": { "post": { "summary": "End the session", "security": [{ "session": [], "csrf": [] }],
                "responses": { "204": { "description": "logged out" }, "401": err, "403": err } } },
            "/api/me": { "get": { "summary": "Who is logged in", "security": [{ "session": [] }],
                "responses": { "200": { "description": "the session", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Me" } } } }, "401": err } } },
            "/api/scans": { "get": { "summary": "The worklist (analysts, supervisors)", "security": [{ "session": [] }],
                "parameters": [
                    { "name": "decision", "in": "query", "schema": { "type": "string", "enum": ["undecided", "clear", "inspect", "seize", "refer"] } },
                    { "name": "scanner", "in": "query", "schema": { "type": "string" } },
                    { "name": "identifier", "in": "query", "schema": { "type": "string" } },
                    { "name": "from", "in": "query", "schema": { "type": "string" } },
                    { "name": "until", "in": "query", "schema": { "type": "string" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } },
                    { "name": "after_time", "in": "query", "schema": { "type": "string" } },
                    { "name": "after_id", "in": "query", "schema": { "type": "string" } }],
                "responses": { "200": { "description": "scans and the cursor of the next page" }, "400": err, "401": err, "403": err } } },
            "/api/scans/{id}": { "get": { "summary": "A scan's metadata; the read is logged before the answer", "security": [{ "session": [] }],
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": { "200": { "description": "metadata and the audit record's index" }, "401": err, "403": err, "404": err } } },
            "/api/scans/{id}/channels/{n}": { "get": { "summary": "One channel's pixels, 16-bit little endian; the read is logged before the answer",
                "security": [{ "session": [] }],
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } },
                               { "name": "n", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 0 } }],
                "responses": { "200": { "description": "the samples", "content": { "application/octet-stream": {} } }, "401": err, "403": err, "404": err } } },
            "/api/scans/{id}/image": { "get": { "summary": "Every channel's first frame (or those of the kinds asked for), 16-bit little endian, one after another, described by the X-Image header; one logged read",
                "security": [{ "session": [] }],
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } },
                               { "name": "kinds", "in": "query", "schema": { "type": "string", "example": "HighEnergy,ZEffective" } }],
                "responses": { "200": { "description": "the samples", "content": { "application/octet-stream": {} } }, "401": err, "403": err, "404": err } } },
            "/api/scans/{id}/decision": { "post": { "summary": "Decide: clear, inspect, seize, or refer to a supervisor (a comment is required); a referred scan is decided by a supervisor only. Logged with the comment's SHA-256 before it is kept",
                "security": [{ "session": [], "csrf": [] }],
                "parameters": [id.clone()],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["decision"],
                    "additionalProperties": false, "properties": { "decision": { "type": "string", "enum": ["clear", "inspect", "seize", "refer"] },
                    "comment": { "type": "string", "maxLength": 4000 } } } } } },
                "responses": { "200": { "description": "the decision as kept" }, "400": err, "401": err, "403": err, "404": err } } },
            "/api/scans/{id}/declarations": { "get": { "summary": "The customs declarations for the scan's containers and conveyance (imported with sluis declaration import)", "security": [{ "session": [] }],
                "parameters": [id.clone()], "responses": { "200": { "description": "declarations" }, "401": err, "403": err, "404": err } } },
            "/api/scans/{id}/comments": { "get": { "summary": "The comments given with the scan's decisions, oldest first", "security": [{ "session": [] }],
                "parameters": [id.clone()], "responses": { "200": { "description": "comments" }, "401": err, "403": err, "404": err } } },
            "/api/scans/{id}/annotations": {
                "get": { "summary": "The caller's own annotations on the scan and the shared ones", "security": [{ "session": [] }],
                    "parameters": [id.clone()], "responses": { "200": { "description": "annotations" }, "401": err, "403": err, "404": err } },
                "post": { "summary": "Keep a rectangle (image pixels) with a label; private unless shared", "security": [{ "session": [], "csrf": [] }],
                    "parameters": [id.clone()],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["x", "y", "w", "h"],
                        "additionalProperties": false, "properties": { "x": { "type": "number" }, "y": { "type": "number" }, "w": { "type": "number" }, "h": { "type": "number" },
                        "label": { "type": "string", "maxLength": 200 }, "shared": { "type": "boolean" } } } } } },
                    "responses": { "201": { "description": "kept" }, "400": err, "401": err, "403": err, "404": err, "409": err } } },
            "/api/annotations/{n}": {
                "get": { "summary": "One annotation, if the caller may see it (another analyst's private one does not exist for them)", "security": [{ "session": [] }],
                    "parameters": [n.clone()], "responses": { "200": { "description": "the annotation" }, "401": err, "403": err, "404": err } },
                "delete": { "summary": "Delete one of the caller's own annotations", "security": [{ "session": [], "csrf": [] }],
                    "parameters": [n.clone()], "responses": { "204": { "description": "deleted" }, "401": err, "403": err, "404": err } } },
            "/api/scans/{id}/reports": { "get": { "summary": "The threat detection reports about the scan (machine, operator, ground truth) with their regions; each read is logged",
                "security": [{ "session": [] }], "parameters": [id.clone()],
                "responses": { "200": { "description": "reports" }, "401": err, "403": err, "404": err } } },
            "/api/scans/{id}/related": { "get": { "summary": "Other scans of the same containers or conveyance, newest first (index only)",
                "security": [{ "session": [] }], "parameters": [id.clone()],
                "responses": { "200": { "description": "scans" }, "401": err, "403": err, "404": err } } },
            "/api/scans/{id}/tiles/{level}/{tile}": { "get": { "summary": "One 512 x 512 tile (X_Y.u16) of every channel at a pyramid level (2^level reduction), 16-bit little endian, described by X-Tile; a logged read",
                "security": [{ "session": [] }],
                "parameters": [id.clone(), { "name": "level", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 0, "maximum": 8 } },
                               { "name": "tile", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9]{1,5}_[0-9]{1,5}[.]u16$" } }],
                "responses": { "200": { "description": "the samples", "content": { "application/octet-stream": {} } }, "401": err, "403": err, "404": err } } },
            "/api/scans/{id}/export": { "post": { "summary": "Export (supervisors): a tar of ID.dcm and its ID.dcm.tlog-proof receipt, or that tar encrypted to an age recipient; the export record is durable first",
                "security": [{ "session": [], "csrf": [] }], "parameters": [id.clone()],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["purpose"],
                    "additionalProperties": false, "properties": { "purpose": { "type": "string", "pattern": "^[a-z][a-z0-9-]{0,63}$", "description": "a code from /api/purposes; the only part that is logged" },
                    "note": { "type": "string", "maxLength": 500, "description": "free text (a case number): kept on the desk, its SHA-256 in the log" },
                    "recipient": { "type": "string", "description": "age1…" } } } } } },
                "responses": { "200": { "description": "the archive", "content": { "application/x-tar": {}, "application/octet-stream": {} } }, "400": err, "401": err, "403": err, "404": err } } },
            "/api/purposes": { "get": { "summary": "The purposes this vault accepts for an export (codes and what they mean)", "security": [{ "session": [] }],
                "responses": { "200": { "description": "purposes" }, "401": err } } },
            "/api/audit/records": { "get": { "summary": "Audit records, newest first, by object, actor (pseudonym or account name) and action (auditors)",
                "security": [{ "session": [] }],
                "parameters": [
                    { "name": "object", "in": "query", "schema": { "type": "string" } },
                    { "name": "actor", "in": "query", "schema": { "type": "string" } },
                    { "name": "action", "in": "query", "schema": { "type": "string" } },
                    { "name": "before", "in": "query", "schema": { "type": "integer" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500 } }],
                "responses": { "200": { "description": "records and the cursor of the next page" }, "400": err, "401": err, "403": err } } },
            "/api/scanners": { "get": { "summary": "The scanners that delivered live scans, with counts (administrators)", "security": [{ "session": [] }],
                "responses": { "200": { "description": "scanners" }, "401": err, "403": err } } },
            "/api/audit": { "get": { "summary": "The log's latest checkpoint and a verification of the whole log (auditors)",
                "security": [{ "session": [] }],
                "responses": { "200": { "description": "checkpoint, witness cosignatures, verification" }, "401": err, "403": err } } },
            "/api/users": {
                "get": { "summary": "Accounts (administrators)", "security": [{ "session": [] }],
                    "responses": { "200": { "description": "the accounts" }, "401": err, "403": err } },
                "post": { "summary": "Add an account (administrators); logged as a configuration record", "security": [{ "session": [], "csrf": [] }],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["name", "role", "password"],
                        "additionalProperties": false, "properties": { "name": { "type": "string" },
                        "role": { "type": "string", "enum": ["analyst", "supervisor", "auditor", "administrator"] }, "password": { "type": "string", "minLength": 12 } } } } } },
                    "responses": { "201": { "description": "added" }, "400": err, "401": err, "403": err, "409": err } } },
            "/api/users/{name}/disable": { "post": { "summary": "Disable an account and end its sessions (administrators); logged",
                "security": [{ "session": [], "csrf": [] }], "parameters": [name.clone()],
                "responses": { "200": { "description": "disabled" }, "401": err, "403": err, "404": err } } },
            "/api/users/{name}/enable": { "post": { "summary": "Enable an account and lift a lock-out (administrators); logged",
                "security": [{ "session": [], "csrf": [] }], "parameters": [name.clone()],
                "responses": { "200": { "description": "enabled" }, "401": err, "403": err, "404": err } } },
            "/api/users/{name}/role": { "post": { "summary": "Change an account's role and end its sessions (administrators); logged",
                "security": [{ "session": [], "csrf": [] }], "parameters": [name.clone()],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["role"], "additionalProperties": false,
                    "properties": { "role": { "type": "string", "enum": ["analyst", "supervisor", "auditor", "administrator"] } } } } } },
                "responses": { "200": { "description": "changed" }, "400": err, "401": err, "403": err, "404": err } } }
        }
    })
}

/// The UI, embedded in the binary: `cargo run` serves it with no build step and no CDN.
const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn index_html() -> Response {
    asset(INDEX_HTML, "text/html; charset=utf-8")
}

async fn app_js() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

async fn app_css() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// Security headers on every response: a strict CSP (no inline script, no other origin), frame
/// denial, no sniffing, no referrer, no caching of API answers; HSTS when served over HTTPS.
async fn security_headers(
    State(state): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if state.secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    r
}

/// The largest request body (the API takes small JSON; a password is at most 1 KiB).
pub const BODY_LIMIT: usize = 16 * 1024;

/// Request bodies arrive whole within the state's `body_timeout`, or the connection is cut
/// (408): a client that dribbles its body holds nothing for long.
async fn body_deadline(
    State(state): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(state.body_timeout, axum::body::to_bytes(body, BODY_LIMIT)).await {
        Ok(Ok(bytes)) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
        Ok(Err(_)) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a request body is at most {BODY_LIMIT} bytes"),
        )
        .into_response(),
        Err(_) => {
            let mut r = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            )
            .into_response();
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

/// Defence in depth beside SameSite cookies and CSRF tokens: a request must name this server in
/// `Host` (when names are configured: DNS rebinding), and a state-changing one must come from
/// this origin (`Origin`, where the browser sends one; `Sec-Fetch-Site` not `cross-site`).
async fn same_origin(
    State(state): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !state.hosts.is_empty() && !state.hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        state.refused(
            None,
            crate::access::Refusal::Request,
            "host",
            StatusCode::MISDIRECTED_REQUEST,
        );
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not answer to that Host",
        )
        .into_response();
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let scheme = if state.secure { "https" } else { "http" };
        let origin_ok = req
            .headers()
            .get(header::ORIGIN)
            .is_none_or(|o| o.to_str().is_ok_and(|o| o == format!("{scheme}://{host}")));
        let site_ok = req
            .headers()
            .get("sec-fetch-site")
            .is_none_or(|s| s != "cross-site");
        if !origin_ok || !site_ok {
            let route = route_of(req.extensions());
            state.refused(
                None,
                crate::access::Refusal::Request,
                &route,
                StatusCode::FORBIDDEN,
            );
            return ApiError::new(StatusCode::FORBIDDEN, "a request from another origin")
                .into_response();
        }
    }
    next.run(req).await
}

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index_html))
        .route("/app.js", get(app_js))
        .route("/app.css", get(app_css))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route(
            "/api/users",
            get(crate::users::list).post(crate::users::add),
        )
        .route("/api/users/{name}/disable", post(crate::users::disable))
        .route("/api/users/{name}/enable", post(crate::users::enable))
        .route("/api/users/{name}/role", post(crate::users::role))
        .route("/api/scanners", get(scanners))
        .route("/api/openapi.json", get(openapi))
        .route("/api/purposes", get(purposes))
        .route("/api/scans", get(crate::scans::list))
        .route("/api/scans/{id}", get(crate::scans::metadata))
        .route("/api/scans/{id}/channels/{n}", get(crate::scans::channel))
        .route("/api/scans/{id}/image", get(crate::scans::image))
        .route("/api/audit", get(crate::audit::audit))
        .route("/api/audit/records", get(crate::audit::records))
        .route("/api/scans/{id}/decision", post(crate::scans::decide))
        .route(
            "/api/scans/{id}/comments",
            get(crate::annotations::comments),
        )
        .route(
            "/api/scans/{id}/declarations",
            get(crate::annotations::declarations),
        )
        .route("/api/scans/{id}/reports", get(crate::scans::reports))
        .route("/api/scans/{id}/related", get(crate::scans::related))
        .route(
            "/api/scans/{id}/tiles/{level}/{tile}",
            get(crate::scans::tile),
        )
        .route("/api/scans/{id}/export", post(crate::export::export))
        .route(
            "/api/scans/{id}/annotations",
            get(crate::annotations::list).post(crate::annotations::add),
        )
        .route(
            "/api/annotations/{n}",
            get(crate::annotations::one).delete(crate::annotations::delete),
        )
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            same_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}
