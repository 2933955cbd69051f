//! The access matrix over every endpoint, through the router as a browser reaches it: no
//! session, the wrong role, CSRF missing or wrong, session fixation, an ended session, brute
//! force and lock-out, security headers, unknown paths.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub
)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sluis_server::http::{AppState, router};
use sluis_server::session::{ABSOLUTE, IDLE, Sessions};
use sluis_server::{Accounts, Role};
use tower::ServiceExt;

const PW: &str = "a long enough passphrase";

struct Server {
    app: axum::Router,
    now: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

fn server() -> Server {
    server_with(false).0
}

/// A server over a fresh vault holding one synthetic scan (its id is returned) when `vault`.
fn server_with(vault: bool) -> (Server, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (vault, scan_id) = if vault {
        let v = sluis_vault::Vault::init(&dir.path().join("vault"), None).unwrap();
        let g = sluis_synth::generate(&sluis_synth::Spec {
            kind: sluis_synth::Kind::Truck,
            seed: 3,
            index: 0,
            pixel_mm: 20.0,
        });
        let bytes =
            sluis_scan::to_dicos_vec(&sluis_scan::DicosObject::Image(Box::new(g.scan))).unwrap();
        let s = sluis_scan::sanitise(&bytes, &sluis_scan::Limits::default()).unwrap();
        let stored = v.store(&s.scan, &v.system_actor()).unwrap();
        (Some(Mutex::new(v)), Some(stored.id))
    } else {
        (None, None)
    };
    let accounts = Accounts::open(dir.path()).unwrap();
    for (name, role) in [
        ("ana", Role::Analyst),
        ("sam", Role::Supervisor),
        ("aud", Role::Auditor),
        ("adm", Role::Administrator),
    ] {
        accounts.add(name, role, PW.as_bytes(), 0).unwrap();
    }
    let now = Arc::new(AtomicI64::new(1_800_000_000));
    let clock = now.clone();
    let state = Arc::new(AppState {
        accounts: Mutex::new(accounts),
        sessions: Sessions::default(),
        vault,
        secure: true,
        clock: Box::new(move || clock.load(Ordering::SeqCst)),
    });
    (
        Server {
            app: router(state),
            now,
            _dir: dir,
        },
        scan_id,
    )
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

impl Server {
    async fn call(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, format!("sluis_session={c}"));
        }
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Logs in; returns the cookie token and the CSRF token.
    async fn login(&self, name: &str) -> (String, String) {
        let r = self
            .call(
                "POST",
                "/api/login",
                None,
                None,
                Some(json!({ "name": name, "password": PW })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let cookie = r
            .headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(cookie.contains(attr), "{cookie}");
        }
        let token = cookie
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("sluis_session=")
            .unwrap()
            .to_string();
        (token, r.body["csrf"].as_str().unwrap().to_string())
    }
}

/// Every endpoint, its method, and who may call it.
const MATRIX: &[(&str, &str, &[&str])] = &[
    ("GET", "/api/me", &["ana", "sam", "aud", "adm"]),
    ("GET", "/api/users", &["adm"]),
    ("GET", "/api/audit", &["aud"]),
    ("GET", "/api/scans", &["ana", "sam"]),
    (
        "GET",
        "/api/scans/s-000000000000000000000000deadbeef",
        &["ana", "sam"],
    ),
    (
        "GET",
        "/api/scans/s-000000000000000000000000deadbeef/channels/0",
        &["ana", "sam"],
    ),
    (
        "POST",
        "/api/scans/s-000000000000000000000000deadbeef/decision",
        &["ana", "sam"],
    ),
    ("POST", "/api/users/nobody-here/disable", &["adm"]),
    ("POST", "/api/logout", &["ana", "sam", "aud", "adm"]),
];

#[tokio::test]
async fn every_endpoint_answers_401_without_a_session_and_403_to_the_wrong_role() {
    let s = server_with(true).0;
    for (method, path, allowed) in MATRIX {
        let r = s.call(method, path, None, None, None).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a session"
        );
        let r = s
            .call(method, path, Some("forged-token-value"), None, None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a forged cookie"
        );
        for who in ["ana", "sam", "aud", "adm"] {
            let (cookie, csrf) = s.login(who).await;
            let r = s.call(method, path, Some(&cookie), Some(&csrf), None).await;
            if allowed.contains(&who) {
                // Past the gate: whatever the handler makes of an empty request, not 401/403.
                assert!(
                    r.status != StatusCode::UNAUTHORIZED && r.status != StatusCode::FORBIDDEN,
                    "{who}: {method} {path} -> {} {}",
                    r.status,
                    r.body
                );
            } else {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {method} {path}");
            }
        }
    }
    // The openapi document is public and describes every endpoint of the matrix.
    let r = s.call("GET", "/api/openapi.json", None, None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    for (method, path, _) in MATRIX {
        let templ = path
            .replace("nobody-here", "{name}")
            .replace("s-000000000000000000000000deadbeef", "{id}")
            .replace("channels/0", "channels/{n}");
        assert!(
            r.body["paths"][&templ][method.to_lowercase()].is_object(),
            "{method} {templ} undocumented"
        );
    }
}

#[tokio::test]
async fn state_changes_need_the_sessions_csrf_token() {
    let s = server();
    let (adm, csrf) = s.login("adm").await;
    let (_, other_csrf) = s.login("ana").await;
    for token in [None, Some("wrong"), Some(other_csrf.as_str())] {
        let r = s
            .call("POST", "/api/users/ana/disable", Some(&adm), token, None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "csrf {token:?}");
    }
    let r = s
        .call(
            "POST",
            "/api/users/ana/disable",
            Some(&adm),
            Some(&csrf),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Disabling ends the account's sessions and its logins.
    let r = s
        .call(
            "POST",
            "/api/login",
            None,
            None,
            Some(json!({ "name": "ana", "password": PW })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_login_never_adopts_a_presented_session_and_logout_ends_it() {
    let s = server();
    let (first, csrf) = s.login("ana").await;
    // Logging in again (even presenting the old cookie) makes a new session.
    let r = s
        .call(
            "POST",
            "/api/login",
            Some(&first),
            None,
            Some(json!({ "name": "ana", "password": PW })),
        )
        .await;
    let second = r
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(!second.contains(&first));
    let r = s
        .call("POST", "/api/logout", Some(&first), Some(&csrf), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        r.headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        s.call("GET", "/api/me", Some(&first), None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sessions_end_after_idle_and_absolute_timeouts() {
    let s = server();
    let (c, _) = s.login("aud").await;
    s.now.fetch_add(IDLE - 1, Ordering::SeqCst);
    assert_eq!(
        s.call("GET", "/api/me", Some(&c), None, None).await.status,
        StatusCode::OK
    );
    s.now.fetch_add(IDLE, Ordering::SeqCst);
    assert_eq!(
        s.call("GET", "/api/me", Some(&c), None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (c, _) = s.login("aud").await;
    let end = s.now.load(Ordering::SeqCst) + ABSOLUTE;
    while s.now.load(Ordering::SeqCst) + IDLE < end {
        s.now.fetch_add(IDLE - 1, Ordering::SeqCst);
        assert_eq!(
            s.call("GET", "/api/me", Some(&c), None, None).await.status,
            StatusCode::OK
        );
    }
    s.now.store(end, Ordering::SeqCst);
    assert_eq!(
        s.call("GET", "/api/me", Some(&c), None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn brute_force_locks_the_account_and_unknown_names_look_the_same() {
    let s = server();
    let bad = |name: &str| json!({ "name": name, "password": "not the password at all" });
    let unknown = s
        .call("POST", "/api/login", None, None, Some(bad("nobody")))
        .await;
    let wrong = s
        .call("POST", "/api/login", None, None, Some(bad("sam")))
        .await;
    assert_eq!((unknown.status, &unknown.body), (wrong.status, &wrong.body));
    for _ in 0..3 {
        assert_eq!(
            s.call("POST", "/api/login", None, None, Some(bad("sam")))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = s
        .call("POST", "/api/login", None, None, Some(bad("sam")))
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.headers.get(header::RETRY_AFTER).is_some());
    // The right password is refused while locked.
    let r = s
        .call(
            "POST",
            "/api/login",
            None,
            None,
            Some(json!({ "name": "sam", "password": PW })),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Malformed bodies are refused before any work.
    let r = s
        .call(
            "POST",
            "/api/login",
            None,
            None,
            Some(json!({ "name": "sam", "password": PW, "admin": true })),
        )
        .await;
    assert!(r.status.is_client_error());
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let s = server();
    for (method, path) in [
        ("GET", "/api/me"),
        ("GET", "/nowhere/../../etc/passwd"),
        ("GET", "/api/openapi.json"),
    ] {
        let r = s.call(method, path, None, None, None).await;
        let csp = r
            .headers
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline")
                && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(r.headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
        assert_eq!(
            r.headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
            "nosniff"
        );
        assert!(r.headers.get(header::STRICT_TRANSPORT_SECURITY).is_some());
    }
    let r = s.call("GET", "/nowhere", None, None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_analyst_reads_and_decides_and_every_read_is_logged_first() {
    let (s, id) = server_with(true);
    let id = id.unwrap();
    let (ana, csrf) = s.login("ana").await;
    let r = s
        .call(
            "GET",
            "/api/scans?decision=undecided",
            Some(&ana),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["scans"][0]["id"], id.as_str());
    let r = s
        .call("GET", &format!("/api/scans/{id}"), Some(&ana), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (rows, cols) = (
        r.body["rows"].as_u64().unwrap(),
        r.body["columns"].as_u64().unwrap(),
    );
    let first = r.body["audit_record"].as_u64().unwrap();
    // The pixels: 16-bit little endian, rows x columns, after another logged read.
    let req = Request::builder()
        .uri(format!("/api/scans/{id}/channels/0"))
        .header(header::COOKIE, format!("sluis_session={ana}"))
        .body(Body::empty())
        .unwrap();
    let res = s.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let record: u64 = res.headers()["x-audit-record"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(record > first);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes.len() as u64, rows * cols * 2);
    assert!(bytes.chunks(2).any(|p| p != [0, 0]), "all-zero pixels");
    // The whole image in one logged read: every channel, one frame each, described by X-Image.
    let req = Request::builder()
        .uri(format!("/api/scans/{id}/image"))
        .header(header::COOKIE, format!("sluis_session={ana}"))
        .body(Body::empty())
        .unwrap();
    let res = s.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let described: Value =
        serde_json::from_str(res.headers()["x-image"].to_str().unwrap()).unwrap();
    assert!(described["audit_record"].as_u64().unwrap() > record);
    let n = described["channels"].as_array().unwrap().len() as u64;
    assert!(n >= 2, "{described}");
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes.len() as u64, rows * cols * 2 * n);
    // A decision needs the CSRF token, then is kept.
    let body = json!({ "decision": "inspect" });
    let r = s
        .call(
            "POST",
            &format!("/api/scans/{id}/decision"),
            Some(&ana),
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .call(
            "POST",
            &format!("/api/scans/{id}/decision"),
            Some(&ana),
            Some(&csrf),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["decision"], "inspect");
    let r = s
        .call(
            "GET",
            "/api/scans?decision=undecided",
            Some(&ana),
            None,
            None,
        )
        .await;
    assert_eq!(r.body["scans"].as_array().unwrap().len(), 0);
    // Ids that are not ids, and ids that do not exist, are 404 alike.
    for bad in [
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "s-000000000000000000000000deadbeef",
        "ZZZZZZZZ",
        "q-000000000000000000000000deadbeef",
    ] {
        let r = s
            .call("GET", &format!("/api/scans/{bad}"), Some(&ana), None, None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}");
    }
    // The auditor sees the log: a signed checkpoint covering these reads and the decision, and a
    // verification of every entry done now.
    let (aud, _) = s.login("aud").await;
    let r = s.call("GET", "/api/audit", Some(&aud), None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["verification"]["verified"], true, "{}", r.body);
    assert!(r.body["size"].as_u64().unwrap() > record, "{}", r.body);
    assert!(
        r.body["checkpoint"].as_str().unwrap().contains('\u{2014}'),
        "{}",
        r.body
    );
    // The auditor and the administrator see no scan.
    for who in ["aud", "adm"] {
        let (c, _) = s.login(who).await;
        let r = s
            .call("GET", &format!("/api/scans/{id}"), Some(&c), None, None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}");
    }
}
