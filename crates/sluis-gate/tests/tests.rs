//! The depot's reading of media, through the library's public API, on real directory trees.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub
)]

mod medium;
mod vendor;
