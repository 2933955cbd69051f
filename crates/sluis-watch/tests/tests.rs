//! Integration tests of the enclave watch: the labelled case suite, real third-party captures,
//! hostile captures, the EVE schema, the flow collector.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub
)]

mod captures;
mod cases;
mod eve_schema;
mod support;
