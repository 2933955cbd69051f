//! The enclave watch: every attempt of a scanner to talk to anything it should not, seen.
//!
//! The enclave is small and closed, so the policy is an allow-list ([`policy`]): every device and
//! every legitimate flow is written down, and anything else is an alert. Traffic comes from pcap
//! and pcapng files or a receive-only interface ([`capture`]), or as flow records exported by a
//! switch ([`ipfix`]); frames are decoded by `etherparse` ([`packet`]); the engine ([`detect`])
//! keeps bounded tables of devices, flows, names and connection series and raises [`alert`]s;
//! [`eve`] writes them as Suricata EVE JSON and RFC 5424 syslog; [`learn`] proposes a baseline
//! policy from a capture for a person to review.
//!
//! * [`beacon`]: RITA-style beacon scoring (Bowley skew, MAD, hourly histogram).
//! * [`dns`]: name-service queries and DNS-tunnelling statistics.
//! * [`sink`]: where alerts go (EVE file, syslog over TCP or TLS, metrics) and the counters
//!   are exported; the engine only counts.

pub mod alert;
pub mod beacon;
pub mod capture;
pub mod detect;
pub mod dns;
pub mod eve;
pub mod ipfix;
pub mod learn;
pub mod packet;
pub mod policy;
pub mod run;
pub mod sink;

pub use alert::{Alert, Rule};
pub use detect::{FlowRecord, Stats, Watch};
pub use policy::{NotAccepted, Policy, PolicyError, PolicyErrors};
