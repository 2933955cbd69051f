//! The scan model, DICOS reading and writing, and the sanitiser of sluis.
//!
//! Every scan that enters sluis is hostile until this crate has rebuilt it. [`sanitise()`] takes
//! the bytes of a DICOM Part 10 file (DICOS DX, CT or TDR, or a plain DX image), walks their
//! structure with a bounded parser of its own, hands only allow-listed attributes to dicom-rs,
//! decodes the pixels under the declared geometry, and returns a [`SanitisedScan`] that is
//! re-encoded into canonical DICOS from the typed model. A rejected file gets a [`Refusal`]
//! naming the [`Rule`] that failed, where, and whose fault it is.
//!
//! ```
//! use sluis_scan::{sanitise, Limits, Rule};
//!
//! // Anything that is not a DICOM file is refused by rule, never by panic.
//! let refusal = sanitise(b"not a scan", &Limits::default()).unwrap_err();
//! assert_eq!(refusal.rule, Rule::MissingDicmPrefix);
//! ```
//!
//! The crate does no I/O beyond the readers and writers it is handed.
#![forbid(unsafe_code)]

pub mod datetime;
pub mod dicos;
pub mod inspect;
pub mod limits;
mod ljpeg;
pub mod material;
pub mod model;
mod pixels;
mod preflight;
pub mod refusal;
pub mod render;
pub mod report;
pub mod sanitise;
pub mod syntax;

pub use dicos::write::{WriteError, to_dicos_vec, write_dicos};
pub use inspect::{Inspection, inspect};
pub use limits::Limits;
pub use model::{Channel, ChannelKind, DicosObject, Image, Scan, ThreatReport};
pub use refusal::{Fault, Location, Refusal, Rule};
pub use report::{DropReason, SanitiseReport};
pub use sanitise::{Sanitised, SanitisedScan, StreamError, sanitise, sanitise_stream};
pub use syntax::{SopClass, TransferSyntax};
