//! Local accounts: names, roles, Argon2id password hashes, the login check with throttling and
//! lock-out, and the outbox of account changes waiting for their audit record.
//!
//! Stored in SQLite beside the vault (`accounts.sqlite`, mode 0600). A password is kept only as
//! an Argon2id PHC string (RustCrypto `argon2`, its default parameters: 19 MiB, 2 passes, the
//! OWASP minimum). A failed login counts against the name; five within fifteen minutes lock it
//! for fifteen minutes, during which even the right password is refused, so guessing gains
//! nothing. The login does not tell which names exist: an unknown name counts and locks like a
//! known one (by its SHA-256, in a bounded table), and every answer, unknown, wrong, locked,
//! disabled or oversize, costs the same work: one Argon2id verification (against the account's
//! hash or a decoy) and one durable write.
//!
//! Every change of an account (added, disabled, enabled, a new role) is written in the same
//! transaction as an entry in `account_change`, the outbox: whoever holds the vault (the
//! workstation, the core, or `sluis user` when no service runs) writes each entry's audit record
//! and marks it logged, so that no change is ever without its record. A running workstation
//! checks the account behind every request, so a change made by any tool takes effect at once.

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
    /// The change would leave no administrator who can log in.
    #[error("{0:?} is the last active administrator; make another administrator first")]
    LastAdministrator(String),
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
    /// A hash of a random password, verified when the name is unknown or the password too
    /// long, so that the answer takes as long as for a known one.
    decoy: String,
}

/// Unknown names whose failures are counted at most (the oldest are forgotten first).
pub const MAX_FAILED_NAMES: i64 = 10_000;

/// What a login needs, read under the accounts' lock; the Argon2id verification
/// ([`LoginAttempt::verify`]) then runs without holding it.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    name: String,
    /// The account's PHC string, or the decoy.
    phc: String,
    account: Option<(Role, bool, Seconds, Option<Seconds>)>,
    oversize: bool,
}

impl LoginAttempt {
    /// Verifies the password: exactly one Argon2id verification whatever the case.
    pub fn verify(&self, password: &[u8]) -> bool {
        let ok = Argon2::default()
            .verify_password(password, self.phc.as_str())
            .is_ok();
        ok && self.account.is_some() && !self.oversize
    }
}

/// A finished login: the answer, and whether this attempt locked the name.
#[derive(Debug, PartialEq, Eq)]
pub struct LoginResult {
    /// The account, or why not.
    pub outcome: Result<Account, LoginError>,
    /// This failure reached the limit and locked the name.
    pub locked_now: bool,
    /// The login named an account that exists (never shown to the client).
    pub known: bool,
}

/// A change of an account, as the outbox keeps it until its audit record is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    /// Its number.
    pub id: i64,
    /// When (seconds).
    pub at: Seconds,
    /// Whose account.
    pub subject: String,
    /// What changed (`account added role=analyst`, `account disabled`, `role=supervisor`, ...).
    pub change: String,
    /// Who made it (an account name, or `os:<user>` for `sluis user`).
    pub actor: String,
    /// The index of its audit record, once written.
    pub record: Option<u64>,
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
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b))
}

fn name_hash(name: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The failure count after one more failure at `now`, and the lock it brings.
fn count_failure(
    failures: i64,
    first_failure: Option<i64>,
    now: Seconds,
) -> (i64, i64, Option<Seconds>) {
    let in_window = first_failure.is_some_and(|f| now.saturating_sub(f) < FAILURE_WINDOW);
    let (failures, first) = if in_window {
        (failures.saturating_add(1), first_failure.unwrap_or(now))
    } else {
        (1, now)
    };
    let locked = (failures >= MAX_FAILURES).then(|| now.saturating_add(FAILURE_WINDOW));
    (failures, first, locked)
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
             ) STRICT;
             CREATE TABLE IF NOT EXISTS failed_name (
                 name_hash TEXT PRIMARY KEY,
                 failures INTEGER NOT NULL,
                 first_failure INTEGER NOT NULL,
                 locked_until INTEGER,
                 last_attempt INTEGER NOT NULL
             ) STRICT;
             CREATE TABLE IF NOT EXISTS account_change (
                 id INTEGER PRIMARY KEY,
                 at INTEGER NOT NULL,
                 subject TEXT NOT NULL,
                 change TEXT NOT NULL,
                 actor TEXT NOT NULL,
                 record INTEGER
             ) STRICT;
             CREATE INDEX IF NOT EXISTS account_change_unlogged ON account_change (record, id);",
        )
        .map_err(store)?;
        // Accounts files from before `last_attempt` get it.
        let has_last_attempt: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('account') WHERE name = 'last_attempt'")
            .and_then(|mut st| st.exists([]))
            .map_err(store)?;
        if !has_last_attempt {
            conn.execute_batch("ALTER TABLE account ADD COLUMN last_attempt INTEGER;")
                .map_err(store)?;
        }
        let mut random = Zeroizing::new([0u8; 32]);
        getrandom::fill(random.as_mut_slice()).map_err(|e| AccountError::Hash(e.to_string()))?;
        let decoy = Argon2::default()
            .hash_password(random.as_slice())
            .map_err(|e| AccountError::Hash(e.to_string()))?
            .to_string();
        Ok(Accounts { conn, path, decoy })
    }

    fn store_err(&self, source: rusqlite::Error) -> AccountError {
        AccountError::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// Records a change in the outbox (inside the caller's transaction).
    fn outbox(
        &self,
        subject: &str,
        change: &str,
        actor: &str,
        now: Seconds,
    ) -> Result<i64, AccountError> {
        self.conn
            .execute(
                "INSERT INTO account_change (at, subject, change, actor) VALUES (?1, ?2, ?3, ?4)",
                params![now, subject, change, actor],
            )
            .map_err(|e| self.store_err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Runs `apply` and records `change` in the outbox, in one transaction. Returns the
    /// change's number.
    fn change(
        &self,
        subject: &str,
        change: &str,
        actor: &str,
        now: Seconds,
        apply: impl FnOnce(&Connection) -> Result<(), AccountError>,
    ) -> Result<i64, AccountError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.store_err(e))?;
        apply(&tx)?;
        let id = self.outbox(subject, change, actor, now)?;
        tx.commit().map_err(|e| self.store_err(e))?;
        Ok(id)
    }

    /// Adds an account, made by `actor`. Returns the change's number in the outbox.
    pub fn add(
        &self,
        name: &str,
        role: Role,
        password: &[u8],
        now: Seconds,
        actor: &str,
    ) -> Result<i64, AccountError> {
        if !valid_name(name) {
            return Err(AccountError::BadName(name.to_string()));
        }
        if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&password.len()) {
            return Err(AccountError::BadPassword);
        }
        let phc = Argon2::default()
            .hash_password(password)
            .map_err(|e| AccountError::Hash(e.to_string()))?
            .to_string();
        self.change(name, &format!("account added role={role}"), actor, now, |c| {
            let inserted = c
                .execute(
                    "INSERT OR IGNORE INTO account (name, role, phc, created) VALUES (?1, ?2, ?3, ?4)",
                    params![name, role.name(), phc, now],
                )
                .map_err(|e| self.store_err(e))?;
            if inserted == 0 {
                return Err(AccountError::Exists(name.to_string()));
            }
            Ok(())
        })
    }

    /// Whether `name` is the only administrator who may still log in.
    fn last_administrator(&self, c: &Connection, name: &str) -> Result<bool, AccountError> {
        let (is_admin, others): (bool, i64) = c
            .query_row(
                "SELECT
                     EXISTS (SELECT 1 FROM account WHERE name = ?1 AND role = 'administrator' AND disabled = 0),
                     (SELECT COUNT(*) FROM account WHERE name != ?1 AND role = 'administrator' AND disabled = 0)",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.store_err(e))?;
        Ok(is_admin && others == 0)
    }

    /// Disables an account (it stays, for the audit trail; it cannot log in). The last active
    /// administrator is not disabled: nobody could manage the accounts after.
    pub fn disable(&self, name: &str, actor: &str, now: Seconds) -> Result<i64, AccountError> {
        self.change(name, "account disabled", actor, now, |c| {
            if self.last_administrator(c, name)? {
                return Err(AccountError::LastAdministrator(name.to_string()));
            }
            let n = c
                .execute(
                    "UPDATE account SET disabled = 1 WHERE name = ?1",
                    params![name],
                )
                .map_err(|e| self.store_err(e))?;
            if n == 0 {
                return Err(AccountError::Unknown(name.to_string()));
            }
            Ok(())
        })
    }

    /// Gives an account another role (not the last active administrator's).
    pub fn set_role(
        &self,
        name: &str,
        role: Role,
        actor: &str,
        now: Seconds,
    ) -> Result<i64, AccountError> {
        self.change(name, &format!("role={role}"), actor, now, |c| {
            if role != Role::Administrator && self.last_administrator(c, name)? {
                return Err(AccountError::LastAdministrator(name.to_string()));
            }
            let n = c
                .execute(
                    "UPDATE account SET role = ?2 WHERE name = ?1",
                    params![name, role.name()],
                )
                .map_err(|e| self.store_err(e))?;
            if n == 0 {
                return Err(AccountError::Unknown(name.to_string()));
            }
            Ok(())
        })
    }

    /// Enables an account again, and lifts any lock-out.
    pub fn enable(&self, name: &str, actor: &str, now: Seconds) -> Result<i64, AccountError> {
        self.change(name, "account enabled", actor, now, |c| {
            let n = c
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
        })
    }

    /// The changes not yet logged, oldest first.
    pub fn unlogged_changes(&self) -> Result<Vec<AccountChange>, AccountError> {
        self.changes("WHERE record IS NULL ORDER BY id LIMIT 1000", params![])
    }

    /// One change.
    pub fn change_by_id(&self, id: i64) -> Result<Option<AccountChange>, AccountError> {
        Ok(self.changes("WHERE id = ?1", params![id])?.pop())
    }

    fn changes(
        &self,
        clause: &str,
        p: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<AccountChange>, AccountError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT id, at, subject, change, actor, record FROM account_change {clause}"
            ))
            .map_err(|e| self.store_err(e))?;
        st.query_map(p, |r| {
            Ok(AccountChange {
                id: r.get(0)?,
                at: r.get(1)?,
                subject: r.get(2)?,
                change: r.get(3)?,
                actor: r.get(4)?,
                record: r
                    .get::<_, Option<i64>>(5)?
                    .and_then(|i| u64::try_from(i).ok()),
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.store_err(e))
    }

    /// Marks a change logged, under its audit record's index.
    pub fn mark_logged(&self, id: i64, record: u64) -> Result<(), AccountError> {
        self.conn
            .execute(
                "UPDATE account_change SET record = ?2 WHERE id = ?1 AND record IS NULL",
                params![id, i64::try_from(record).unwrap_or(i64::MAX)],
            )
            .map_err(|e| self.store_err(e))?;
        Ok(())
    }

    /// An account's role and whether it is disabled, as the database says now (checked behind
    /// every request, so that a change made by any tool ends the sessions it concerns).
    pub fn status(&self, name: &str) -> Result<Option<(Role, bool)>, AccountError> {
        self.conn
            .prepare_cached("SELECT role, disabled FROM account WHERE name = ?1")
            .and_then(|mut st| {
                st.query_row(params![name], |r| {
                    let role: String = r.get(0)?;
                    Ok((
                        Role::parse(&role).unwrap_or(Role::Analyst),
                        r.get::<_, i64>(1)? != 0,
                    ))
                })
                .optional()
            })
            .map_err(|e| self.store_err(e))
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

    /// The first half of a login: what must be verified (the account's hash, or the decoy for an
    /// unknown name or an oversize password). Take it under the lock, verify without.
    pub fn begin_login(
        &self,
        name: &str,
        password_len: usize,
    ) -> Result<LoginAttempt, AccountError> {
        let row: Option<(String, String, i64, i64, Option<i64>)> = self
            .conn
            .prepare_cached(
                "SELECT role, phc, disabled, created, last_login FROM account WHERE name = ?1",
            )
            .and_then(|mut st| {
                st.query_row(params![name], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()
            })
            .map_err(|e| self.store_err(e))?;
        let oversize = password_len > MAX_PASSWORD;
        Ok(match row {
            Some((role, phc, disabled, created, last_login)) => LoginAttempt {
                name: name.to_string(),
                phc: if oversize { self.decoy.clone() } else { phc },
                account: Some((
                    Role::parse(&role).unwrap_or(Role::Analyst),
                    disabled != 0,
                    created,
                    last_login,
                )),
                oversize,
            },
            None => LoginAttempt {
                name: name.to_string(),
                phc: self.decoy.clone(),
                account: None,
                oversize,
            },
        })
    }

    /// The second half: counts the outcome (one durable write in every case) and answers.
    /// A locked name is refused even with the right password.
    pub fn finish_login(
        &self,
        attempt: &LoginAttempt,
        verified: bool,
        now: Seconds,
    ) -> Result<LoginResult, AccountError> {
        let name = attempt.name.as_str();
        let Some((role, disabled, created, _)) = attempt.account else {
            // An unknown name: counted and locked like a known one, by its hash.
            let key = name_hash(name);
            let row: Option<(i64, i64, Option<i64>)> = self
                .conn
                .query_row(
                    "SELECT failures, first_failure, locked_until FROM failed_name WHERE name_hash = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(|e| self.store_err(e))?;
            let locked = row.and_then(|r| r.2).filter(|u| *u > now);
            let (failures, first, lock) = match (locked, row) {
                (Some(until), Some((f, first, _))) => (f, first, Some(until)),
                (_, r) => count_failure(r.map_or(0, |r| r.0), r.map(|r| r.1), now),
            };
            self.conn
                .execute(
                    "INSERT INTO failed_name (name_hash, failures, first_failure, locked_until, last_attempt)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (name_hash) DO UPDATE SET failures = ?2, first_failure = ?3,
                         locked_until = ?4, last_attempt = ?5",
                    params![key, failures, first, lock, now],
                )
                .map_err(|e| self.store_err(e))?;
            if row.is_none() && self.conn.last_insert_rowid() % 64 == 0 {
                // Bounded: the names failed longest ago are forgotten first (checked on every
                // 64th new name, so that the work per answer stays the same).
                self.conn
                    .execute(
                        "DELETE FROM failed_name WHERE name_hash IN (SELECT name_hash FROM failed_name
                         ORDER BY last_attempt DESC LIMIT -1 OFFSET ?1)",
                        params![MAX_FAILED_NAMES],
                    )
                    .map_err(|e| self.store_err(e))?;
            }
            return Ok(LoginResult {
                outcome: Err(match lock {
                    Some(until) => LoginError::Locked { until },
                    None => LoginError::Refused,
                }),
                locked_now: locked.is_none() && lock.is_some(),
                known: false,
            });
        };
        let (failures, first_failure, locked_until): (i64, Option<i64>, Option<i64>) = self
            .conn
            .query_row(
                "SELECT failures, first_failure, locked_until FROM account WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| self.store_err(e))?;
        if let Some(until) = locked_until.filter(|u| *u > now) {
            self.conn
                .execute(
                    "UPDATE account SET last_attempt = ?2 WHERE name = ?1",
                    params![name, now],
                )
                .map_err(|e| self.store_err(e))?;
            return Ok(LoginResult {
                outcome: Err(LoginError::Locked { until }),
                locked_now: false,
                known: true,
            });
        }
        if verified && !disabled {
            self.conn
                .execute(
                    "UPDATE account SET failures = 0, first_failure = NULL, locked_until = NULL,
                     last_login = ?2, last_attempt = ?2 WHERE name = ?1",
                    params![name, now],
                )
                .map_err(|e| self.store_err(e))?;
            return Ok(LoginResult {
                outcome: Ok(Account {
                    name: name.to_string(),
                    role,
                    disabled: false,
                    locked_until: None,
                    created,
                    last_login: Some(now),
                }),
                locked_now: false,
                known: true,
            });
        }
        // A failure (wrong or oversize password, or a disabled account): counted in the window,
        // locking at the limit.
        let (failures, first, locked) = count_failure(failures, first_failure, now);
        self.conn
            .execute(
                "UPDATE account SET failures = ?2, first_failure = ?3, locked_until = ?4,
                 last_attempt = ?5 WHERE name = ?1",
                params![name, failures, first, locked, now],
            )
            .map_err(|e| self.store_err(e))?;
        Ok(LoginResult {
            outcome: Err(match locked {
                Some(until) => LoginError::Locked { until },
                None => LoginError::Refused,
            }),
            locked_now: locked.is_some(),
            known: true,
        })
    }

    /// Checks a login at time `now` (both halves, holding `self` throughout; a server takes the
    /// halves apart so as not to hold its lock while Argon2id runs).
    pub fn login(
        &self,
        name: &str,
        password: &[u8],
        now: Seconds,
    ) -> Result<Result<Account, LoginError>, AccountError> {
        let attempt = self.begin_login(name, password.len())?;
        let verified = attempt.verify(password);
        Ok(self.finish_login(&attempt, verified, now)?.outcome)
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
        a.add("ana", Role::Analyst, PW, 100, "test").unwrap();
        assert!(matches!(
            a.add("ana", Role::Auditor, PW, 100, "test"),
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(
            a.add("Ana Smith", Role::Analyst, PW, 100, "test"),
            Err(AccountError::BadName(_))
        ));
        assert!(matches!(
            a.add("bob", Role::Analyst, b"short", 100, "test"),
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
        a.disable("ana", "test", 300).unwrap();
        assert_eq!(a.login("ana", PW, 300).unwrap(), Err(LoginError::Refused));
        assert!(a.list().unwrap()[0].disabled);
    }

    #[test]
    fn five_failures_lock_the_account_even_against_the_right_password() {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::open(dir.path()).unwrap();
        a.add("ana", Role::Supervisor, PW, 0, "test").unwrap();
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
