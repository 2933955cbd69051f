//! Integration tests of the transparency log: known answers, proofs checked by independent
//! implementations, tampering located, and crashes survived.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod crash;
mod kat;
mod log;
mod tamper;
