//! The sluis vault: the authority's store of sanitised scans and quarantined inputs.
//!
//! * Every object is encrypted with a fresh data key ([`envelope`]), wrapped by a
//!   key-encryption key the authority holds ([`keys::KeySource`]; a key file now, an HSM behind
//!   the same trait). Rotating the key-encryption key rewraps data keys and leaves blobs alone.
//! * Blobs are write-once and content-addressed by the SHA-256 of their ciphertext
//!   ([`blobs::BlobStore`]); reading checks every AEAD tag and the address, so a flipped bit is
//!   an error naming the object, never wrong pixels.
//! * An index ([`index::Index`], SQLite by default) keeps what analysts search by.
//! * Retention per class ([`config`]) ends in crypto-shredding: the data key is destroyed, the
//!   blob deleted, the metadata cleared, and the deletion logged.
//! * Every store, read, export, decision and deletion is appended to the transparency log
//!   (`sluis-audit`) and is durable before plaintext is released ([`Vault`]).
//!
//! Start reading at [`vault`].

pub mod blobs;
pub mod config;
pub mod envelope;
pub mod index;
pub mod keys;
pub mod vault;

pub use index::{Decision, Filter, Kind, ObjectRow, ScannerRow, State};
pub use vault::{
    Damage, Expired, Exported, FsckReport, Released, Rotated, Stored, Vault, VaultError, scan_meta,
};
