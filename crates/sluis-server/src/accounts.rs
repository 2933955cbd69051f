//! Local accounts: names, roles, Argon2id password hashes, and the login check with throttling
//! and lock-out.
//!
//! Stored in SQLite beside the vault (`accounts.sqlite`, mode 0600). A password is kept only as
//! an Argon2id PHC string (RustCrypto `argon2`, its default parameters: 19 MiB, 2 passes, the
//! OWASP minimum). A failed login counts against the account; five within fifteen minutes lock
//! it for fifteen minutes, during which no password is even checked, so guessing gains nothing.
//! An unknown name, a wrong password and a disabled account give the same answer after the same
//! work (a hash is verified in every case), so the login does not tell which names exist.

use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

/// Seconds since the Unix epoch.
pub type Seconds = i64;

/// Failed logins within [`FAILURE_WINDOW`] that lock an account.
pub const MAX_FAILURES: i64 = 5;
/// The window in which failures are counted, and how long a lock lasts.
pub const FAILURE_WINDOW: Seconds = 15 * 60;
/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;
/// Longest password accepted (Argon2 would take more, the form should not).
pub const MAX_PASSWORD: usize = 1024;

/// What a person may do. Checked in one place in the server, by type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads scans, annotates, decides.
    Analyst,
    /// An analyst who also reviews referred scans.
    Supervisor,
    /// Reads the audit log and its verification; sees no scan.
    Auditor,
    /// Manages users and scanners; sees no scan.
    Administrator,
}

impl Role {
    /// All roles.
    pub const ALL: [Role; 4] = [
        Role::Analyst,
        Role::Supervisor,
        Role::Auditor,
        Role::Administrator,
    ];

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Supervisor => "supervisor",
            Role::Auditor => "auditor",
            Role::Administrator => "administrator",
        }
    }

    /// Parses a role name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An account as listed (never with its hash).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    /// The login name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// Locked until then (seconds), after too many failed logins.
    pub locked_until: Option<Seconds>,
    /// When it was made.
    pub created: Seconds,
    /// The last successful login.
    pub last_login: Option<Seconds>,
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The name is not acceptable.
    #[error("{0:?} is not a valid name: 1-64 characters of a-z, 0-9, '.', '_', '-', '@'")]
    BadName(String),
    /// The password is too short or too long.
    #[error("a password must be {MIN_PASSWORD} to {MAX_PASSWORD} bytes long")]
    BadPassword,
    /// The name is taken.
    #[error("an account named {0:?} exists")]
    Exists(String),
    /// No such account.
    #[error("no account named {0:?}")]
    Unknown(String),
    /// The database.
    #[error("accounts database {path}: {source}")]
    Store {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The stored hash is damaged, or hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
}

/// Why a login was refused. Deliberately coarse: the caller shows the same message for every
/// `Refused`, whatever the reason.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// Unknown name, wrong password or disabled account.
    #[error("name or password not accepted")]
    Refused,
    /// Too many failures: locked until then.
    #[error("too many failed logins; locked until {until}")]
    Locked {
        /// Seconds since the epoch.
        until: Seconds,
    },
}

/// The accounts database.
#[derive(Debug)]
pub struct Accounts {
    conn: Connection,
    path: PathBuf,
    argon: Argon2<'static>,
    /// A hash of a random password, verified when the name is unknown, so that the answer takes
    /// as long as for a known one.
    decoy: String,
}

/// Opens (or creates) one of the server's SQLite files beside the vault: readable by its owner
/// only, write-ahead logged, every commit durable.
pub(crate) fn open_private(path: &Path) -> rusqlite::Result<Connection> {
    // Made owner-only before SQLite opens it: its WAL and shared-memory files take its mode.
    sluis_secret::prepare_private_file(path).map_err(|e| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("{}: {e}", path.display())),
        )
    })?;
    let conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
    Ok(conn)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b))
}

impl Accounts {
    /// Opens (or creates) `accounts.sqlite` in `dir`.
    pub fn open(dir: &Path) -> Result<Accounts, AccountError> {
        let path = dir.join("accounts.sqlite");
        let store = |source| AccountError::Store {
            path: path.clone(),
            source,
        };
        let conn = open_private(&path).map_err(store)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS account (
                 name TEXT PRIMARY KEY,
                 role TEXT NOT NULL,
                 phc TEXT NOT NULL,
                 disabled INTEGER NOT NULL DEFAULT 0,
                 failures INTEGER NOT NULL DEFAULT 0,
                 first_failure INTEGER,
                 locked_until INTEGER,
                 created INTEGER NOT NULL,
                 last_login INTEGER
             ) STRICT;",
        )
        .map_err(store)?;
        let argon = Argon2::default();
        let mut random = Zeroizing::new([0u8; 32]);
        getrandom::fill(random.as_mut_slice()).map_err(|e| AccountError::Hash(e.to_string()))?;
        let decoy = argon
            .hash_password(random.as_slice())
            .map_err(|e| AccountError::Hash(e.to_string()))?
            .to_string();
        Ok(Accounts {
            conn,
            path,
            argon,
            decoy,
        })
    }

    fn store_err(&self, source: rusqlite::Error) -> AccountError {
        AccountError::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// Adds an account.
    pub fn add(
        &self,
        name: &str,
        role: Role,
        password: &[u8],
        now: Seconds,
    ) -> Result<(), AccountError> {
        if !valid_name(name) {
            return Err(AccountError::BadName(name.to_string()));
        }
        if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&password.len()) {
            return Err(AccountError::BadPassword);
        }
        let phc = self
            .argon
            .hash_password(password)
            .map_err(|e| AccountError::Hash(e.to_string()))?
            .to_string();
        let inserted = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO account (name, role, phc, created) VALUES (?1, ?2, ?3, ?4)",
                params![name, role.name(), phc, now],
            )
            .map_err(|e| self.store_err(e))?;
        if inserted == 0 {
            return Err(AccountError::Exists(name.to_string()));
        }
        Ok(())
    }

    /// Disables an account (it stays, for the audit trail; it cannot log in).
    pub fn disable(&self, name: &str) -> Result<(), AccountError> {
        let n = self
            .conn
            .execute(
                "UPDATE account SET disabled = 1 WHERE name = ?1",
                params![name],
            )
            .map_err(|e| self.store_err(e))?;
        if n == 0 {
            return Err(AccountError::Unknown(name.to_string()));
        }
        Ok(())
    }

    /// Gives an account another role.
    pub fn set_role(&self, name: &str, role: Role) -> Result<(), AccountError> {
        let n = self
            .conn
            .execute(
                "UPDATE account SET role = ?2 WHERE name = ?1",
                params![name, role.name()],
            )
            .map_err(|e| self.store_err(e))?;
        if n == 0 {
            return Err(AccountError::Unknown(name.to_string()));
        }
        Ok(())
    }

    /// Enables an account again, and lifts any lock-out.
    pub fn enable(&self, name: &str) -> Result<(), AccountError> {
        let n = self
            .conn
            .execute(
                "UPDATE account SET disabled = 0, failures = 0, first_failure = NULL,
                 locked_until = NULL WHERE name = ?1",
                params![name],
            )
            .map_err(|e| self.store_err(e))?;
        if n == 0 {
            return Err(AccountError::Unknown(name.to_string()));
        }
        Ok(())
    }

    /// Every account, by name.
    pub fn list(&self) -> Result<Vec<Account>, AccountError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, role, disabled, locked_until, created, last_login
                 FROM account ORDER BY name",
            )
            .map_err(|e| self.store_err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let role: String = r.get(1)?;
                Ok(Account {
                    name: r.get(0)?,
                    role: Role::parse(&role).unwrap_or(Role::Analyst),
                    disabled: r.get::<_, i64>(2)? != 0,
                    locked_until: r.get(3)?,
                    created: r.get(4)?,
                    last_login: r.get(5)?,
                })
            })
            .map_err(|e| self.store_err(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.store_err(e))
    }

    /// Checks a login at time `now`. Every outcome is recorded before it is returned.
    pub fn login(
        &self,
        name: &str,
        password: &[u8],
        now: Seconds,
    ) -> Result<Result<Account, LoginError>, AccountError> {
        type Row = (
            String,
            String,
            i64,
            i64,
            Option<i64>,
            Option<i64>,
            i64,
            Option<i64>,
        );
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT role, phc, disabled, failures, first_failure, locked_until, created, last_login
                 FROM account WHERE name = ?1",
                params![name],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.store_err(e))?;
        let oversize = password.len() > MAX_PASSWORD;
        let Some((role, phc, disabled, failures, first_failure, locked_until, created, last_login)) =
            row
        else {
            let _ = self.argon.verify_password(password, self.decoy.as_str());
            return Ok(Err(LoginError::Refused));
        };
        if let Some(until) = locked_until.filter(|u| *u > now) {
            return Ok(Err(LoginError::Locked { until }));
        }
        let good = !oversize && self.argon.verify_password(password, phc.as_str()).is_ok();
        if good && disabled == 0 {
            self.conn
                .execute(
                    "UPDATE account SET failures = 0, first_failure = NULL, locked_until = NULL,
                     last_login = ?2 WHERE name = ?1",
                    params![name, now],
                )
                .map_err(|e| self.store_err(e))?;
            let _ = last_login;
            return Ok(Ok(Account {
                name: name.to_string(),
                role: Role::parse(&role).unwrap_or(Role::Analyst),
                disabled: false,
                locked_until: None,
                created,
                last_login: Some(now),
            }));
        }
        if disabled != 0 {
            return Ok(Err(LoginError::Refused));
        }
        // A failure: count it in the window, lock at the limit.
        let in_window = first_failure.is_some_and(|f| now.saturating_sub(f) < FAILURE_WINDOW);
        let (failures, first) = if in_window {
            (failures.saturating_add(1), first_failure.unwrap_or(now))
        } else {
            (1, now)
        };
        let locked = (failures >= MAX_FAILURES).then(|| now.saturating_add(FAILURE_WINDOW));
        self.conn
            .execute(
                "UPDATE account SET failures = ?2, first_failure = ?3, locked_until = ?4
                 WHERE name = ?1",
                params![name, failures, first, locked],
            )
            .map_err(|e| self.store_err(e))?;
        Ok(Err(match locked {
            Some(until) => LoginError::Locked { until },
            None => LoginError::Refused,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &[u8] = b"correct horse battery";

    #[test]
    fn accounts_are_added_listed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::open(dir.path()).unwrap();
        a.add("ana", Role::Analyst, PW, 100).unwrap();
        assert!(matches!(
            a.add("ana", Role::Auditor, PW, 100),
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(
            a.add("Ana Smith", Role::Analyst, PW, 100),
            Err(AccountError::BadName(_))
        ));
        assert!(matches!(
            a.add("bob", Role::Analyst, b"short", 100),
            Err(AccountError::BadPassword)
        ));
        let ok = a.login("ana", PW, 200).unwrap().unwrap();
        assert_eq!(ok.role, Role::Analyst);
        assert_eq!(
            a.login("ana", b"wrong password!", 201).unwrap(),
            Err(LoginError::Refused)
        );
        assert_eq!(
            a.login("nobody", PW, 202).unwrap(),
            Err(LoginError::Refused)
        );
        // The hash is Argon2id, and the password is nowhere in the file.
        let phc: String = a
            .conn
            .query_row("SELECT phc FROM account WHERE name = 'ana'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        drop(a);
        let raw = std::fs::read(dir.path().join("accounts.sqlite")).unwrap();
        assert!(!raw.windows(PW.len()).any(|w| w == PW));
        let a = Accounts::open(dir.path()).unwrap();
        a.disable("ana").unwrap();
        assert_eq!(a.login("ana", PW, 300).unwrap(), Err(LoginError::Refused));
        assert!(a.list().unwrap()[0].disabled);
    }

    #[test]
    fn five_failures_lock_the_account_even_against_the_right_password() {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::open(dir.path()).unwrap();
        a.add("ana", Role::Supervisor, PW, 0).unwrap();
        for i in 0..4 {
            assert_eq!(
                a.login("ana", b"guess number x", 1000 + i).unwrap(),
                Err(LoginError::Refused)
            );
        }
        let until = 1004 + FAILURE_WINDOW;
        assert_eq!(
            a.login("ana", b"guess number 5", 1004).unwrap(),
            Err(LoginError::Locked { until })
        );
        assert_eq!(
            a.login("ana", PW, 1005).unwrap(),
            Err(LoginError::Locked { until })
        );
        assert!(a.login("ana", PW, until + 1).unwrap().is_ok());
        // Failures far apart never add up to a lock.
        for i in 0..10 {
            assert_eq!(
                a.login("ana", b"slow guess xxxx", 10_000 + i * FAILURE_WINDOW)
                    .unwrap(),
                Err(LoginError::Refused)
            );
        }
    }
}
