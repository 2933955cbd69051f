//! Why the edge could not run.

use std::net::SocketAddr;

use crate::config::ConfigError;

/// Why the edge could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EdgeError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The signing key.
    #[error("signing key: {0}")]
    Key(#[from] sluis_secret::KeyError),
    /// The spool.
    #[error(transparent)]
    Spool(#[from] sluis_link::SpoolError),
    /// A socket could not be opened.
    #[error("{what} {addr}: {source}")]
    Socket {
        /// Which.
        what: &'static str,
        /// Its address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// An object of a replay could not be sent.
    #[error("object {id}: {source}")]
    Send {
        /// The object.
        id: u64,
        /// The error.
        source: std::io::Error,
    },
    /// A replay's range is empty.
    #[error("--to {to} is below --from {from}")]
    Range {
        /// The first id.
        from: u64,
        /// The last id.
        to: u64,
    },
}
