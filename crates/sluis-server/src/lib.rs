//! The analyst workstation's server side, served by `sluis serve` (or from `sluis core`).
//!
//! [`accounts`] (local accounts, roles, Argon2id hashes, login throttling and lock-out) and
//! [`users`] (their administration, each change logged); [`session`] (cookie sessions with CSRF
//! tokens and timeouts); [`kernel`] (the handlers' state and errors, roles enforced by type
//! with `Authenticated<need::…>`); [`http`] (the router: login, logout, security headers, the
//! OpenAPI description, the embedded UI);
//! [`scans`] (worklist, pixels, tiles, threat reports, decisions: every read logged before the
//! bytes leave); [`desk`] and [`annotations`] (comments, annotations, declarations); [`export`]
//! (DICOS with its receipt, optionally age-encrypted); [`audit`] (the auditor's view of the log);
//! [`tls`] (rustls); [`workstation`] (starting it all over an open vault).

// The OpenAPI description is one `json!` literal, deeper than the default limit.
#![recursion_limit = "512"]

pub mod access;
pub mod accounts;
pub mod annotations;
pub mod audit;
pub mod desk;
pub mod export;
pub mod http;
pub mod kernel;
pub mod listen;
pub mod scans;
pub mod session;
pub mod tls;
pub mod users;
pub mod workstation;

pub use accounts::{Account, AccountError, Accounts, LoginError, Role};
