//! `sluis user`: accounts beside the vault, passwords only on standard input.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::{s, sluis, stderr};

fn user_add(
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
    child.stdin.take().unwrap().write_all(password).unwrap();
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
