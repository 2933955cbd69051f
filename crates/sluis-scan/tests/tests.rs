//! Integration tests of sluis-scan: real third-party samples, round trips through dcmtk, and a
//! hostile corpus.

mod common;
mod hostile;
mod roundtrip;
mod samples;
