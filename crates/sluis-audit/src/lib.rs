//! The sluis transparency log.
//!
//! Every access, export, decision and deletion in the vault is an [`record::AuditRecord`]
//! appended to an append-only Merkle tree (RFC 6962 / RFC 9162 hashing, [`merkle`]), stored as
//! C2SP tlog-tiles ([`tiles`]) and committed to by a checkpoint signed with the log's Ed25519
//! key in C2SP signed-note form ([`checkpoint`], [`keys`]). Appends are batched and
//! acknowledged only once durable ([`log`]). Witnesses run by auditors cosign checkpoints they
//! have seen to be consistent ([`witness`]); an auditor verifies the whole log, or one offline
//! receipt, with public keys alone ([`verify`]).
//!
//! Start reading at [`log::Log`] (the write side) and [`verify::verify_log`] (the read side).

pub mod checkpoint;
pub mod keys;
pub mod log;
pub mod merkle;
pub mod record;
pub mod remote;
pub mod tiles;
pub mod verify;
pub mod witness;

pub use keys::{Cosigner, LogSigner, NoteVerifier};
pub use log::{Appended, Batching, Log, LogError};
pub use merkle::Hash;
pub use record::{Action, ActorId, AuditRecord, Outcome};
pub use tiles::{FsStore, TileStore};
pub use verify::{
    LogSource, Policy, Report, VerifyError, verify_log, verify_log_records, verify_receipt,
};
pub use witness::Witness;
