//! Integration tests of the enclave watch.
