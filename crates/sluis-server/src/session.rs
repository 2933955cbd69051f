//! Sessions: random tokens in an HttpOnly cookie, a CSRF token per session, idle and absolute
//! timeouts, a bounded table.
//!
//! A token is 32 bytes from the operating system's generator; the table keys on its SHA-256, so
//! a memory dump of the server does not hand out live cookies. A new session is made at every
//! login and never from a token the browser presents (no session fixation).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::accounts::{Role, Seconds};

/// Idle time after which a session ends.
pub const IDLE: Seconds = 15 * 60;
/// Age after which a session ends, however busy.
pub const ABSOLUTE: Seconds = 8 * 3600;
/// Live sessions at most; beyond, the oldest is ended.
pub const MAX_SESSIONS: usize = 10_000;

/// Who a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The account.
    pub name: String,
    /// Its role at login.
    pub role: Role,
    /// The token a state-changing request must echo in `X-CSRF-Token`.
    pub csrf: String,
    /// When it began.
    pub created: Seconds,
    /// When it was last used.
    pub last_seen: Seconds,
}

/// The live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    table: Mutex<HashMap<[u8; 32], Session>>,
}

fn random_token() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    /// Begins a session; returns its cookie token and the session.
    pub fn begin(
        &self,
        name: &str,
        role: Role,
        now: Seconds,
    ) -> Result<(String, Session), getrandom::Error> {
        let token = random_token()?;
        let session = Session {
            name: name.to_string(),
            role,
            csrf: random_token()?,
            created: now,
            last_seen: now,
        };
        let mut t = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        t.retain(|_, s| live(s, now));
        if t.len() >= MAX_SESSIONS
            && let Some(oldest) = t.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k)
        {
            t.remove(&oldest);
        }
        t.insert(key(&token), session.clone());
        Ok((token, session))
    }

    /// The session of a token, if it is live; touching it.
    pub fn get(&self, token: &str, now: Seconds) -> Option<Session> {
        let mut t = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let k = key(token);
        let s = t.get_mut(&k)?;
        if !live(s, now) {
            t.remove(&k);
            return None;
        }
        s.last_seen = now;
        Some(s.clone())
    }

    /// Ends a session.
    pub fn end(&self, token: &str) {
        let mut t = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        t.remove(&key(token));
    }

    /// Ends every session of an account (when it is disabled).
    pub fn end_all(&self, name: &str) {
        let mut t = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        t.retain(|_, s| s.name != name);
    }
}

fn live(s: &Session, now: Seconds) -> bool {
    now.saturating_sub(s.last_seen) < IDLE && now.saturating_sub(s.created) < ABSOLUTE
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_or_old() {
        let s = Sessions::default();
        let (tok, sess) = s.begin("ana", Role::Analyst, 1000).unwrap();
        assert_eq!(tok.len(), 43);
        assert_ne!(tok, sess.csrf);
        assert!(s.get(&tok, 1000 + IDLE - 1).is_some());
        // Kept alive by use until the absolute limit.
        let mut t = 1000 + IDLE - 1;
        while t < 1000 + ABSOLUTE - IDLE {
            t += IDLE - 1;
            assert!(s.get(&tok, t).is_some(), "at {t}");
        }
        assert!(s.get(&tok, 1000 + ABSOLUTE).is_none());
        let (tok, _) = s.begin("ana", Role::Analyst, 5000).unwrap();
        assert!(s.get(&tok, 5000 + IDLE).is_none());
        assert!(s.get("not a token", 5000).is_none());
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}
