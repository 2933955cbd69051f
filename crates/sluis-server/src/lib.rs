//! The analyst workstation's server side.
//!
//! So far: [`accounts`] (local accounts, roles, Argon2id hashes, login throttling and lock-out,
//! which `sluis user` manages), [`session`] (cookie sessions with CSRF tokens and timeouts) and
//! [`http`] (login, logout, roles enforced by type with `Authenticated<need::…>`, security
//! headers, the OpenAPI description), served by `sluis serve`. The scan API, HTTPS and the
//! browser UI are built on it next (issue 5).

// The OpenAPI description is one `json!` literal, deeper than the default limit.
#![recursion_limit = "512"]

pub mod accounts;
pub mod annotations;
pub mod audit;
pub mod desk;
pub mod export;
pub mod http;
pub mod scans;
pub mod session;
pub mod tls;
pub mod users;

pub use accounts::{Account, AccountError, Accounts, LoginError, Role};
