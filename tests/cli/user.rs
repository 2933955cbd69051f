//! `sluis user`: accounts beside the vault, passwords only on standard input.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::{s, sluis, stderr};

/// `sluis serve` on loopback `port` (plain HTTP or HTTPS), once it accepts connections.
pub(crate) fn serve(vault: &std::path::Path, port: u16, plain: bool) -> std::process::Child {
    serve_with(vault, port, if plain { &["--plain-http"] } else { &[] })
}

/// `sluis serve` on loopback `port` with `extra` options, once it accepts connections.
fn serve_with(vault: &std::path::Path, port: u16, extra: &[&str]) -> std::process::Child {
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--vault", s(vault), "--listen", &listen];
    args.extend_from_slice(extra);
    let child = Command::new(env!("CARGO_BIN_EXE_sluis"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed().as_secs() < 20, "sluis serve did not come up");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

pub(crate) fn user_add(
    vault: &std::path::Path,
    name: &str,
    role: &str,
    password: &[u8],
) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluis"))
        .args([
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--vault",
            s(vault),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused role or name is refused before the password is read, and the pipe may be closed
    // by then: the outcome is the exit status, not the write.
    if let Err(e) = child.stdin.take().unwrap().write_all(password) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

#[test]
fn accounts_are_added_listed_and_disabled_and_the_password_is_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    let o = sluis(&["vault", "init", s(&vault)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let password = b"a long enough passphrase\n";
    let o = user_add(&vault, "ana", "analyst", password);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = user_add(&vault, "sam", "supervisor", b"another good passphrase\n");
    assert!(o.status.success(), "{}", stderr(&o));
    // Refused, exit 2: a name taken, a short password, a role that does not exist.
    assert_eq!(
        user_add(&vault, "ana", "auditor", password).status.code(),
        Some(2)
    );
    let o = user_add(&vault, "bob", "analyst", b"short\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("12"), "{}", stderr(&o));
    assert_eq!(
        user_add(&vault, "bob", "janitor", password).status.code(),
        Some(2)
    );
    // Not a vault: exit 3.
    assert_eq!(
        user_add(dir.path(), "bob", "analyst", password)
            .status
            .code(),
        Some(3)
    );
    let o = sluis(&["user", "disable", "sam", "--vault", s(&vault)]);
    assert!(o.status.success(), "{}", stderr(&o));
    // With no service holding the vault, the change is in its transparency log.
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("logged as audit record"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(
        sluis(&["user", "disable", "nobody", "--vault", s(&vault)])
            .status
            .code(),
        Some(2)
    );
    let o = sluis(&["user", "list", "--vault", s(&vault), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            rows[0]["name"].as_str(),
            rows[0]["role"].as_str(),
            rows[0]["disabled"].as_bool()
        ),
        (Some("ana"), Some("analyst"), Some(false))
    );
    assert_eq!(
        (
            rows[1]["name"].as_str(),
            rows[1]["role"].as_str(),
            rows[1]["disabled"].as_bool()
        ),
        (Some("sam"), Some("supervisor"), Some(true))
    );
    let db = vault.join("accounts.sqlite");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let raw = std::fs::read(&db).unwrap();
    assert!(
        !raw.windows(24).any(|w| w == &password[..24]),
        "the password is in the file"
    );
}

/// Logs in over HTTP(S) with curl, keeping the session cookie in `jar`; `opts` go first (`-k`).
pub(crate) fn curl_login(
    opts: &[&str],
    jar: &std::path::Path,
    login_url: &str,
    name: &str,
    password: &str,
) -> (u16, String) {
    let body = serde_json::json!({ "name": name, "password": password }).to_string();
    let mut args = opts.to_vec();
    args.extend([
        "-c",
        s(jar),
        "-H",
        "content-type: application/json",
        "-d",
        &body,
        login_url,
    ]);
    curl(&args)
}

pub(crate) fn curl(args: &[&str]) -> (u16, String) {
    let o = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn serve_logs_in_with_a_cookie_and_enforces_roles_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    assert!(sluis(&["vault", "init", s(&vault)]).status.success());
    assert!(
        user_add(&vault, "ana", "analyst", b"a long enough passphrase\n")
            .status
            .success()
    );
    assert!(
        user_add(&vault, "adm", "administrator", b"another good passphrase\n")
            .status
            .success()
    );
    // Plain HTTP never on a public address.
    let o = sluis(&[
        "serve",
        "--vault",
        s(&vault),
        "--listen",
        "0.0.0.0:0",
        "--plain-http",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let port = crate::link::free_tcp_port();
    let mut server = serve(&vault, port, true);
    let base = format!("http://127.0.0.1:{port}");
    let jar = dir.path().join("jar");
    // The server holds the vault: a command that needs it says so at once instead of waiting,
    // and an account added meanwhile is logged by the server, within a second.
    let o = sluis(&["vault", "list", s(&vault)]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("in use by another process"),
        "{}",
        stderr(&o)
    );
    let o = user_add(&vault, "late", "analyst", b"a long enough passphrase\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("logged as audit record"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let (code, _) = curl(&[&format!("{base}/api/me")]);
    assert_eq!(code, 401);
    let (code, body) = curl_login(
        &[],
        &jar,
        &format!("{base}/api/login"),
        "ana",
        "a long enough passphrase",
    );
    assert_eq!(code, 200, "{body}");
    let csrf = serde_json::from_str::<serde_json::Value>(&body).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        std::fs::read_to_string(&jar)
            .unwrap()
            .contains("#HttpOnly_127.0.0.1")
    );
    let (code, body) = curl(&["-b", s(&jar), &format!("{base}/api/me")]);
    assert_eq!(code, 200);
    assert!(body.contains("\"role\":\"analyst\""), "{body}");
    assert_eq!(curl(&["-b", s(&jar), &format!("{base}/api/users")]).0, 403);
    let (code, body) = curl(&["-b", s(&jar), &format!("{base}/api/scans")]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"scans\":[]"), "{body}");
    assert_eq!(
        curl(&["-b", s(&jar), "-X", "POST", &format!("{base}/api/logout")]).0,
        403,
        "logout without CSRF"
    );
    assert_eq!(
        curl(&[
            "-b",
            s(&jar),
            "-X",
            "POST",
            "-H",
            &format!("x-csrf-token: {csrf}"),
            &format!("{base}/api/logout")
        ])
        .0,
        204
    );
    assert_eq!(curl(&["-b", s(&jar), &format!("{base}/api/me")]).0, 401);
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    assert!(server.wait().unwrap().success());
}

#[test]
fn serve_speaks_https_with_a_certificate_kept_beside_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    assert!(sluis(&["vault", "init", s(&vault)]).status.success());
    assert!(
        user_add(&vault, "ana", "analyst", b"a long enough passphrase\n")
            .status
            .success()
    );
    let port = crate::link::free_tcp_port();
    let mut server = serve(&vault, port, false);
    let cert = vault.join("tls/cert.pem");
    let base = format!("https://127.0.0.1:{port}");
    let t = std::time::Instant::now();
    while curl(&["--cacert", s(&cert), &format!("{base}/api/openapi.json")]).0 != 200 {
        assert!(
            t.elapsed().as_secs() < 20,
            "sluis serve (https) did not come up"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(vault.join("tls/key.pem"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Without trusting the certificate, curl refuses; in clear, the server does not answer HTTP.
    assert_eq!(curl(&[&format!("{base}/api/openapi.json")]).0, 0);
    assert_eq!(
        curl(&[&format!("http://127.0.0.1:{port}/api/openapi.json")]).0,
        0
    );
    let headers = dir.path().join("headers");
    let (code, _) = curl(&[
        "--cacert",
        s(&cert),
        "-D",
        s(&headers),
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"name":"ana","password":"a long enough passphrase"}"#,
        &format!("{base}/api/login"),
    ]);
    assert_eq!(code, 200);
    let h = std::fs::read_to_string(&headers)
        .unwrap()
        .to_ascii_lowercase();
    assert!(h.contains("strict-transport-security: max-age="), "{h}");
    assert!(
        h.contains("set-cookie: sluis_session=") && h.contains("; secure"),
        "{h}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    assert!(server.wait().unwrap().success());
    // The next start keeps the same certificate.
    let before = std::fs::read(&cert).unwrap();
    let mut again = serve(&vault, port, false);
    let t = std::time::Instant::now();
    while curl(&["--cacert", s(&cert), &format!("{base}/api/openapi.json")]).0 != 200 {
        assert!(t.elapsed().as_secs() < 20, "second start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status();
    assert!(again.wait().unwrap().success());
    assert_eq!(before, std::fs::read(&cert).unwrap());
}

#[test]
fn declarations_are_checked_line_by_line_and_imported_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    assert!(sluis(&["vault", "init", s(&vault)]).status.success());
    let good = r#"{"reference":"26NL0000000000001A","containers":["MSKU1234565"],"goods":[{"description":"tyres","hs_code":"4011","packages":400}]}"#;
    let file = dir.path().join("d.jsonl");
    // One good line among bad ones: nothing is imported, and each bad line is named.
    std::fs::write(
        &file,
        format!(
            "{good}\n{{\"reference\":\"X\",\"containers\":[\"A\"],\"goods\":[]}}\nnot json\n\
             {{\"reference\":\"Y\",\"containers\":[\"B\"],\"goods\":[{{\"description\":\"x\",\"hs_code\":\"12ab\"}}]}}\n\
             {{\"reference\":\"Z\",\"goods\":[{{\"description\":\"x\"}}],\"extra\":1}}\n"
        ),
    )
    .unwrap();
    let o = sluis(&["declaration", "import", s(&file), "--vault", s(&vault)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    for want in [
        "line 2: a declaration has 1 to 999 lines of goods",
        "line 3:",
        "line 4: goods 1: an HS code is 4 to 10 digits",
        "line 5: unknown field `extra`",
    ] {
        assert!(e.contains(want), "{want}: {e}");
    }
    assert!(!e.contains("line 1:"), "{e}");
    let o = sluis(&["declaration", "show", "MSKU1234565", "--vault", s(&vault)]);
    assert!(o.status.success());
    assert!(o.stdout.is_empty(), "imported despite bad lines");
    // The good line alone is imported, found by container in any spelling, and replaced by a
    // later import of the same reference.
    std::fs::write(&file, format!("{good}\n\n")).unwrap();
    let o = sluis(&["declaration", "import", s(&file), "--vault", s(&vault)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sluis(&["declaration", "show", "msku 1234565", "--vault", s(&vault)]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"hs_code\":\"4011\""));
    std::fs::write(&file, good.replace("tyres", "retreaded tyres")).unwrap();
    assert!(
        sluis(&["declaration", "import", s(&file), "--vault", s(&vault)])
            .status
            .success()
    );
    let o = sluis(&["declaration", "show", "MSKU1234565", "--vault", s(&vault)]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("retreaded tyres"), "{out}");
}

#[test]
fn an_account_disabled_with_sluis_user_while_serve_runs_loses_its_sessions_and_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    assert!(sluis(&["vault", "init", s(&vault)]).status.success());
    for (name, role) in [("ana", "analyst"), ("adm", "administrator")] {
        let o = user_add(&vault, name, role, b"a long enough passphrase\n");
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let port = crate::link::free_tcp_port();
    let mut server = serve(&vault, port, true);
    let base = format!("http://127.0.0.1:{port}");
    let jar = dir.path().join("jar");
    let (code, body) = curl_login(
        &[],
        &jar,
        &format!("{base}/api/login"),
        "ana",
        "a long enough passphrase",
    );
    assert_eq!(code, 200, "{body}");
    let me = || curl(&["-b", s(&jar), &format!("{base}/api/me")]).0;
    assert_eq!(me(), 200);
    // The attack: the account is disabled from the command line; its session went on.
    let o = sluis(&["user", "disable", "ana", "--vault", s(&vault)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains("logged as audit record"), "{out}");
    assert_eq!(me(), 401, "a disabled account kept its session");
    let (code, _) = curl_login(
        &[],
        &jar,
        &format!("{base}/api/login"),
        "ana",
        "a long enough passphrase",
    );
    assert_eq!(code, 401);
    // `sluis user enable` and `role` exist, and are logged the same way.
    let o = sluis(&["user", "enable", "ana", "--vault", s(&vault)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("logged as audit record"));
    let (code, _) = curl_login(
        &[],
        &jar,
        &format!("{base}/api/login"),
        "ana",
        "a long enough passphrase",
    );
    assert_eq!(code, 200);
    let o = sluis(&[
        "user",
        "role",
        "ana",
        "--role",
        "auditor",
        "--vault",
        s(&vault),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(me(), 401, "a session outlived its role");
    // The only administrator stays one.
    let o = sluis(&["user", "disable", "adm", "--vault", s(&vault)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("last active administrator"),
        "{}",
        stderr(&o)
    );
    let _ = server.kill();
    let _ = server.wait();
    // Every change is in the log.
    let details: Vec<String> = crate::link::log_records(&vault)
        .iter()
        .filter(|r| r["action"] == "configure")
        .filter_map(|r| r["detail"].as_str().map(str::to_string))
        .collect();
    for want in ["account disabled", "account enabled", "role=auditor"] {
        assert!(
            details.iter().any(|d| d.starts_with(want)),
            "{want}: {details:?}"
        );
    }
}

#[test]
fn fifty_slow_clients_are_cut_within_the_timeout_while_another_is_served() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    assert!(sluis(&["vault", "init", s(&vault)]).status.success());
    let port = crate::link::free_tcp_port();
    let mut server = serve_with(&vault, port, &["--plain-http", "--request-timeout-s", "2"]);
    // Fifty slow clients from other addresses (the per-client bound would stop more from one):
    // half send their headers a byte at a time, half send headers and then dribble the body.
    let mut slow = Vec::new();
    for i in 0..50u8 {
        let from = [127, 0, 1 + i / 10, 1 + i % 10];
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&std::net::SocketAddr::from((from, 0)).into())
            .unwrap();
        sock.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
            .unwrap();
        let mut t: std::net::TcpStream = sock.into();
        if i % 2 == 0 {
            t.write_all(b"GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .unwrap();
        } else {
            t.write_all(
                b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
            )
            .unwrap();
        }
        t.set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        slow.push(t);
    }
    let start = std::time::Instant::now();
    let mut cut = vec![None; slow.len()];
    let base = format!("http://127.0.0.1:{port}");
    while start.elapsed() < std::time::Duration::from_secs(8) && cut.iter().any(Option::is_none) {
        for (i, t) in slow.iter_mut().enumerate() {
            if cut[i].is_some() {
                continue;
            }
            // One more byte now and then: a dribbling client.
            let _ = t.write_all(b"x");
            let mut b = [0u8; 512];
            match t.read(&mut b) {
                Ok(0) => cut[i] = Some(start.elapsed()),
                Ok(_) => {
                    // An error answer (408): the server closes after it.
                    if String::from_utf8_lossy(&b).contains("408") {
                        cut[i] = Some(start.elapsed());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => cut[i] = Some(start.elapsed()),
            }
        }
        // Meanwhile another client is served at once.
        let t = std::time::Instant::now();
        let (code, _) = curl(&[&format!("{base}/api/me")]);
        assert_eq!(code, 401);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            t.elapsed()
        );
    }
    let _ = server.kill();
    let _ = server.wait();
    for (i, c) in cut.iter().enumerate() {
        let c = c.unwrap_or_else(|| panic!("slow client {i} was never cut"));
        assert!(
            c < std::time::Duration::from_secs(5),
            "slow client {i} cut after {c:?}"
        );
    }
}
