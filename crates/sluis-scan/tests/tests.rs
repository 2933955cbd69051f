//! Integration tests of sluis-scan: real third-party samples, round trips through dcmtk, and a
//! hostile corpus.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod hostile;
mod regressions;
mod roundtrip;
mod samples;
mod stream;
