//! Why the core could not run.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the core could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The edge's public key.
    #[error("edge public key: {0}")]
    EdgeKey(#[from] sluis_secret::KeyError),
    /// The work directory could not be made owner-only.
    #[error("work directory: {0}")]
    Private(#[from] sluis_secret::PrivateError),
    /// A file or directory of the work area.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The ledger does not parse.
    #[error("{}: {why}", path.display())]
    Ledger {
        /// Its path.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The link's socket.
    #[error("link listen {addr}: {source}")]
    Socket {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The link receiver failed.
    #[error("link receiver: {0}")]
    Receiver(std::io::Error),
    /// A thread of the core panicked (a bug).
    #[error("{0} panicked")]
    Panicked(&'static str),
}
