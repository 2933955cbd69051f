//! The one-way link from the scanner enclave to the customs network.
//!
//! Nothing flows back: there are no acknowledgements, so the edge protects each object with
//! RaptorQ forward error correction ([`sender`]), signs what it sent, and says so in heartbeats
//! and manifests; the core ([`receiver`]) treats every datagram as hostile, reassembles objects
//! within fixed memory, hands out only objects whose digest and Ed25519 signature verify, and
//! reports every object it should have had but did not get, by id.
//!
//! * [`wire`]: the datagram layout (drawn there) and its codec, sans-I/O.
//! * [`sender`] / [`receiver`]: the two halves, sans-I/O (bytes and clock in, datagrams or events
//!   out), so that loss, reordering and hostile input are tested without sockets.
//! * [`spool`]: the edge's durable queue with ids, budget and replay ranges.
//! * [`net`]: sockets, pacing, the receive loop, the reassembly directory.
//! * [`keys`]: the edge's signing key; the core holds only the verifying key.
//! * [`metrics`]: Prometheus metrics of both ends.

pub mod check;
pub mod keys;
pub mod meta;
pub mod metrics;
pub mod net;
pub mod receiver;
pub mod sender;
pub mod spool;
pub mod wire;

pub use keys::{EdgeKey, EdgeVerifier};
pub use meta::{MetaError, ObjectMeta};
pub use metrics::{ReceiverMetrics, SenderMetrics};
pub use receiver::{
    Event, Ledger, LostObject, MemWorkspace, Receiver, ReceiverLimits, RejectReason,
    VerifiedObject, Workspace,
};
pub use sender::{Coding, Sender};
pub use spool::{Entry, Spool, SpoolError};
