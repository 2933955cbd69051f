//! DICOS (NEMA IIC 1) reading and writing through dicom-rs.
//!
//! Reading starts from bytes the structure check (module `preflight`) has already walked;
//! writing produces canonical DICOS from the typed model ([`mod@write`]).

pub(crate) mod attrs;
pub(crate) mod read;
pub mod write;
