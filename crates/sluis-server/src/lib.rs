//! The analyst workstation's server side, served by `sluis serve` (or from `sluis core`).
//!
//! [`accounts`] (local accounts, roles, Argon2id hashes, login throttling and lock-out) and
//! [`users`] (their administration, each change logged); [`session`] (cookie sessions with CSRF
//! tokens and timeouts); [`http`] (login, logout, roles enforced by type with
//! `Authenticated<need::…>`, security headers, the OpenAPI description, the embedded UI);
//! [`scans`] (worklist, pixels, tiles, threat reports, decisions: every read logged before the
//! bytes leave); [`desk`] and [`annotations`] (comments, annotations, declarations); [`export`]
//! (DICOS with its receipt, optionally age-encrypted); [`audit`] (the auditor's view of the log);
//! [`tls`] (rustls).

// The OpenAPI description is one `json!` literal, deeper than the default limit.
#![recursion_limit = "512"]

pub mod access;
pub mod accounts;
pub mod annotations;
pub mod audit;
pub mod desk;
pub mod export;
pub mod http;
pub mod listen;
pub mod scans;
pub mod session;
pub mod tls;
pub mod users;

pub use accounts::{Account, AccountError, Accounts, LoginError, Role};
