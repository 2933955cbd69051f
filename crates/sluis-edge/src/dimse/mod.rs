//! DICOM at the edge: the service scanners store to, and the scanner sluis itself plays in the
//! demo and the benchmarks.
//!
//! * [`command`]: the DIMSE command-set codec, sans-I/O.
//! * [`pdata`]: an association's inbound state machine over P-DATA PDUs.
//! * [`part10`]: the PS3.10 head the edge writes before a data set.
//! * [`scp`]: the service (connections, associations, the spool).
//! * [`scu`]: a storage client for sluis's own synthetic scanner, apart from the hostile side.

pub mod command;
pub mod part10;
pub mod pdata;
pub mod scp;
pub mod scu;
