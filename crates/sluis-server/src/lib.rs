//! The analyst workstation's server side.
//!
//! So far: [`accounts`], the local accounts with their roles, Argon2id hashes, login throttling
//! and lock-out, which `sluis user` manages. The HTTPS server, sessions, CSRF protection, the
//! JSON API and the browser UI are built on it next (issue 5).

pub mod accounts;

pub use accounts::{Account, AccountError, Accounts, LoginError, Role};
