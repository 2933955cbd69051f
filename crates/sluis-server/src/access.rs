//! The record of who got in and who was turned away: logins and logouts are audit records of
//! their own; refused logins, lock-outs and refused requests (401, 403) are counted per actor,
//! kind, route and minute, and each count becomes one record when its minute is over, so that a
//! flood of denials leaves a trace without flooding the log. Actors are pseudonyms (the name a
//! refused login typed included); a request without a session is `anonymous`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use sluis_audit::{Action, Outcome};

use crate::accounts::Seconds;

/// Counts kept per minute at most; beyond, they are added to one catch-all count.
pub const MAX_KEYS: usize = 4096;

/// What was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// A login refused (unknown name, wrong password, disabled account).
    Login,
    /// A login refused because the name is locked (and the failure that locked it).
    LockOut,
    /// A request refused for want of a session, a role or a CSRF token.
    Request,
}

impl Refusal {
    fn code(self) -> &'static str {
        match self {
            Refusal::Login => "login-refused",
            Refusal::LockOut => "lock-out",
            Refusal::Request => "denied",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    minute: Seconds,
    /// The account name (pseudonymised when logged), or `None` without one.
    who: Option<String>,
    what: Refusal,
    route: String,
    status: u16,
}

/// Refusals counted and not yet logged.
#[derive(Debug, Default)]
pub struct AccessLog {
    counts: Mutex<BTreeMap<Key, u64>>,
}

/// One count, as it is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// The minute (seconds since the epoch, a multiple of 60).
    pub minute: Seconds,
    /// The account name, if any.
    pub who: Option<String>,
    /// The record's detail.
    pub detail: String,
    /// How many.
    pub count: u64,
}

fn minute_text(minute: Seconds) -> String {
    chrono::DateTime::from_timestamp(minute, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string())
        .unwrap_or_default()
}

impl AccessLog {
    /// Counts one refusal at `now`.
    pub fn count(&self, now: Seconds, who: Option<&str>, what: Refusal, route: &str, status: u16) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut key = Key {
            minute: now - now.rem_euclid(60),
            who: who.map(|w| w.chars().take(64).collect()),
            what,
            route: route.chars().take(128).collect(),
            status,
        };
        if !counts.contains_key(&key) && counts.len() >= MAX_KEYS {
            key.who = Some("*".into());
            key.route = "*".into();
        }
        *counts.entry(key).or_insert(0) += 1;
    }

    /// Takes the counts whose minute is over at `now` (all of them with `all`).
    pub fn take(&self, now: Seconds, all: bool) -> Vec<Counted> {
        let current = now - now.rem_euclid(60);
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let keep = if all {
            BTreeMap::new()
        } else {
            counts.split_off(&Key {
                minute: current,
                who: None,
                what: Refusal::Login,
                route: String::new(),
                status: 0,
            })
        };
        let done = std::mem::replace(&mut *counts, keep);
        done.into_iter()
            .map(|(k, count)| Counted {
                minute: k.minute,
                detail: format!(
                    "{} status={} route={} count={count} minute={}",
                    k.what.code(),
                    k.status,
                    k.route,
                    minute_text(k.minute)
                ),
                who: k.who,
                count,
            })
            .collect()
    }

    /// Writes the counts whose minute is over (all with `all`) to the vault's log, one record
    /// each, and says so on standard error. Counts that could not be logged are kept for the
    /// next call. Returns how many records were written.
    pub fn flush(&self, vault: Option<&sluis_vault::Vault>, now: Seconds, all: bool) -> usize {
        let taken = self.take(now, all);
        let mut written = 0;
        for c in taken {
            let Some(v) = vault else {
                eprintln!("sluis serve: refused {}", c.detail);
                continue;
            };
            let actor = match c.who.as_deref() {
                Some("*") => sluis_audit::ActorId::new("many").unwrap_or_else(|_| v.actor("*")),
                Some(name) => v.actor(name),
                None => sluis_audit::ActorId::new("anonymous").unwrap_or_else(|_| v.actor("")),
            };
            // Printed by pseudonym: a refused login's name may be anything a client typed.
            eprintln!("sluis serve: refused {} by {actor}", c.detail);
            let action = if c.detail.starts_with("denied") {
                Action::Deny
            } else {
                Action::Session
            };
            match v.log_access(action, &actor, Outcome::Denied, &c.detail) {
                Ok(_) => written += 1,
                Err(e) => tracing::error!("refusals not logged: {e}"),
            }
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_per_actor_route_and_minute_and_taken_when_the_minute_is_over() {
        let log = AccessLog::default();
        for i in 0..100 {
            log.count(
                6000 + i % 50,
                Some("ana"),
                Refusal::Request,
                "/api/users",
                403,
            );
        }
        log.count(6010, None, Refusal::Request, "/api/scans", 401);
        assert!(log.take(6059, false).is_empty(), "the minute is not over");
        let done = log.take(6060, false);
        assert_eq!(done.len(), 2, "{done:?}");
        let ana = done
            .iter()
            .find(|c| c.who.as_deref() == Some("ana"))
            .unwrap();
        assert_eq!(ana.count, 100);
        assert!(
            ana.detail
                .starts_with("denied status=403 route=/api/users count=100")
        );
        assert!(log.take(7000, true).is_empty());
        // Bounded: a flood of distinct names ends in one catch-all count.
        for i in 0..(MAX_KEYS as i64 + 500) {
            log.count(
                9000,
                Some(&format!("n{i}")),
                Refusal::Login,
                "/api/login",
                401,
            );
        }
        let done = log.take(9999, true);
        assert_eq!(done.len(), MAX_KEYS + 1);
        assert_eq!(
            done.iter().map(|c| c.count).sum::<u64>(),
            MAX_KEYS as u64 + 500
        );
    }
}
