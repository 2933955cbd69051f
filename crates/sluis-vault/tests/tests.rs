//! Integration tests of the vault: what its users and its auditors see.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod keys;
mod lifecycle;
mod tamper;
