//! The sluis update gate: no vendor update reaches a scanner unverified, unapproved or unlogged.
//!
//! Nothing enters the scanner enclave over the network. The customs-side station writes a
//! **release bundle** (a directory: `bundle.json`, `metadata/` as a TUF repository, `targets/`,
//! `proofs/`) to removable media; a person carries it in; the enclave-side depot takes it in from
//! a read-only mount and serves scanners only bytes that passed every check.
//!
//! Built so far, the depot's first line:
//!
//! * [`medium`]: the medium read as hostile input and copied into the depot's own store before
//!   anything reads it (descriptor-relative walk that never follows a link, fixed layout, bounded
//!   names, depth, counts and sizes, a file that changes while read refused), each refusal typed.
//! * [`bundle`]: the manifest, its fields and validity, the depot's clock, and the chain of
//!   bundles (replayed, forked and skipped media).
//!
//! Both are under the hostile-parser lints and fuzzed (`fuzz/fuzz_targets/bundle.rs`).
//!
//! And the station's first checks:
//!
//! * [`vendor`]: the vendor's own signature on a release, necessary and never sufficient: a
//!   [`vendor::VendorVerifier`] per scheme, built for detached OpenPGP signatures (the `pgp`
//!   crate), the release streamed through the hash, signatures and key files bounded and
//!   fuzzed (`fuzz/fuzz_targets/vendor.rs`).
//! * [`releases`]: one digest per (vendor, product, version), applied from the transparency
//!   log's own records and checked by an auditor from the same records.

pub mod bundle;
pub mod medium;
pub mod releases;
pub mod vendor;

pub use bundle::{Follows, Manifest, ManifestError};
pub use medium::{BundleCopy, Limits, MediumError, Refusal, copy_in};
pub use releases::{ReleaseBook, ReleaseName, RuleCheck, Verdict};
