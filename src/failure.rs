//! How a command failed, which decides its exit code (the table in `sluis --help`).

use sluis_scan::Refusal;

/// How a command failed, which decides the exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The input was refused by the sanitiser.
    Refused { input: String, refusal: Refusal },
    /// Some inputs were refused and quarantined (the rest were stored).
    Quarantined(usize),
    /// The command line was wrong in a way clap could not tell.
    Usage(String),
    /// Verification found damage or tampering.
    Verification(anyhow::Error),
    /// Reading or writing failed.
    Environment(anyhow::Error),
    /// A bug.
    Internal(anyhow::Error),
}

impl Failure {
    pub(crate) fn env(e: impl Into<anyhow::Error>) -> Self {
        Failure::Environment(e.into())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Environment(e.into())
    }
}
