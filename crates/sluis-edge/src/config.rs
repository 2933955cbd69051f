//! The edge's configuration: the link, the coding, the spool, and the two doors (DICOM and the
//! drop folder). Paths are resolved against the file's directory by [`EdgeConfig::resolve`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sluis_link::Coding;

/// The edge's configuration file (`edge.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// Where the link goes.
    pub link: LinkConfig,
    /// Symbol size, block size and repair overhead of the link's FEC.
    #[serde(default)]
    pub coding: Coding,
    /// The key, the spool and its bounds.
    pub edge: EdgeSection,
    /// The DICOM service, if the edge runs one.
    pub dicom: Option<DicomSection>,
    /// The drop folder, if the edge watches one.
    #[serde(rename = "drop")]
    pub drop_folder: Option<DropSection>,
}

/// `[link]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// The core's address.
    pub to: SocketAddr,
    /// The local address the link is sent from.
    #[serde(default = "any_port")]
    pub bind: SocketAddr,
    /// Send rate in Mbit/s: the link's line rate, or less than what the core can take. There is
    /// no flow control on a one-way link; an edge that outruns the core loses objects (each is
    /// reported by id). 0 sends as fast as the socket takes them.
    #[serde(default = "default_rate")]
    pub rate_mbit: u64,
    /// The socket's send buffer, bytes.
    #[serde(default = "default_sndbuf")]
    pub send_buffer: usize,
    /// Between two heartbeats, milliseconds.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_ms: u64,
}

fn default_rate() -> u64 {
    1000
}
fn any_port() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}
fn default_sndbuf() -> usize {
    8 << 20
}
fn default_heartbeat() -> u64 {
    1000
}

/// `[edge]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSection {
    /// The signing key.
    pub key: PathBuf,
    /// The spool directory.
    pub spool: PathBuf,
    /// The spool's budget, bytes: past it, stores are refused until the link catches up.
    #[serde(default = "default_spool_budget")]
    pub spool_budget: u64,
    /// The largest object accepted, bytes.
    #[serde(default = "default_max_object")]
    pub max_object_bytes: u64,
    /// Sent objects are kept for replay this long (and within `spool_budget`), then deleted:
    /// the spool holds scans, and what the core has confirmed is safe in the vault needs no
    /// copy in the enclave. A day covers an operator replaying what the core reported lost.
    #[serde(default = "default_keep_sent")]
    pub keep_sent_s: u64,
    /// Serve Prometheus metrics here.
    pub metrics_listen: Option<SocketAddr>,
}

fn default_keep_sent() -> u64 {
    24 * 3600
}
fn default_spool_budget() -> u64 {
    20 << 30
}
fn default_max_object() -> u64 {
    1 << 30
}

/// `[dicom]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DicomSection {
    /// Where the DICOM service listens.
    pub listen: SocketAddr,
    /// The edge's AE title (the called AE title scanners must use).
    #[serde(default = "default_ae")]
    pub ae_title: String,
    /// Calling AE titles allowed to store.
    pub allowed_calling: Vec<String>,
    /// The largest PDU accepted, bytes.
    #[serde(default = "default_pdu")]
    pub max_pdu: u32,
    /// Associations at once.
    #[serde(default = "default_assocs")]
    pub max_associations: usize,
    /// The longest wait for an association's next PDU.
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    /// The longest wait for a connection's association request (DICOM's ARTIM timer).
    #[serde(default = "default_artim")]
    pub artim_s: u64,
    /// Connections at most from one peer address.
    #[serde(default = "default_per_peer")]
    pub max_per_peer: usize,
    /// Connections at most waiting for their association request (the oldest gives way).
    #[serde(default = "default_waiting")]
    pub max_waiting: usize,
}

fn default_artim() -> u64 {
    10
}
fn default_per_peer() -> usize {
    4
}
fn default_waiting() -> usize {
    16
}
fn default_ae() -> String {
    "SLUIS-EDGE".into()
}
fn default_pdu() -> u32 {
    128 * 1024
}
fn default_assocs() -> usize {
    8
}
fn default_timeout() -> u64 {
    30
}

/// `[drop]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropSection {
    /// The folder vendors' software writes into.
    pub dir: PathBuf,
    /// A file counts when its size and modification time have not changed for this long.
    #[serde(default = "default_settle")]
    pub settle_ms: u64,
}

fn default_settle() -> u64 {
    1000
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `[coding]` out of range.
    #[error("[coding] {0}")]
    Coding(String),
    /// `[dicom] allowed_calling` is empty.
    #[error("[dicom] allowed_calling is empty: no scanner could store")]
    NoScanners,
}

impl EdgeConfig {
    /// Resolves the configuration's relative paths against `base` (the file's directory).
    pub fn resolve(&mut self, base: &Path) {
        let at = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        self.edge.key = at(&self.edge.key);
        self.edge.spool = at(&self.edge.spool);
        if let Some(d) = self.drop_folder.as_mut() {
            d.dir = at(&d.dir);
        }
    }

    /// Refuses a configuration that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.coding.validate().map_err(ConfigError::Coding)?;
        if let Some(d) = &self.dicom
            && d.allowed_calling.is_empty()
        {
            return Err(ConfigError::NoScanners);
        }
        Ok(())
    }

    /// The DICOM service's settings, if it runs one.
    pub fn dicom_service(&self) -> Option<crate::dimse::scp::DicomConfig> {
        let d = self.dicom.as_ref()?;
        Some(crate::dimse::scp::DicomConfig {
            ae_title: d.ae_title.clone(),
            allowed_calling: d.allowed_calling.clone(),
            max_pdu: d.max_pdu,
            max_associations: d.max_associations,
            max_object_bytes: self.edge.max_object_bytes,
            timeout: Duration::from_secs(d.timeout_s),
            artim: Duration::from_secs(d.artim_s),
            max_per_peer: d.max_per_peer,
            max_waiting: d.max_waiting,
        })
    }
}
