//! sluis-link tests: the halves over simulated lossy channels, hostile datagrams, the spool.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub
)]

mod channel;
mod hostile;
mod replay;
mod sockets;
mod spool;
mod workspace;
