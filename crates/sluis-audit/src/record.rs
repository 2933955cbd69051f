//! Audit records: what is written to the log for every access, export, decision and deletion.
//!
//! The fields are those government audit baselines require of an audit record (NIST SP 800-53
//! AU-3: what happened, when, where, the source, the outcome, and the identity of those
//! involved; BIO 8.15.01 asks the same of Dutch government logging): `action`, `time`,
//! `origin`, `object`, `outcome` and `actor`, plus an optional `purpose` for accesses.
//!
//! The log is public to auditors and kept for years, so it holds no personal or trade data:
//! actors are pseudonymous ids ([`ActorId`], derived with a keyed hash that only the authority
//! can recompute), objects are vault ids (random, not container numbers or plates), purposes are
//! codes, and there is no free text (a comment or a note is bound by its SHA-256 and kept
//! elsewhere). An entry is canonical JSON of at most 64 KiB.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The largest encoded record.
pub const MAX_RECORD_BYTES: usize = crate::tiles::MAX_ENTRY_BYTES;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Action {
    /// A scan was sanitised and stored.
    Store,
    /// An input was refused and quarantined.
    Quarantine,
    /// Plaintext was read.
    Read,
    /// A scan (or quarantined input) was exported with its proof.
    Export,
    /// A decision was recorded on a scan.
    Decide,
    /// An object was deleted: data key shredded, blob removed.
    Delete,
    /// The key-encryption key was rotated.
    RotateKey,
    /// The vault was created.
    Create,
    /// A change of configuration.
    Configure,
    /// Records found in the index without their audit record after a crash, logged late.
    Recover,
    /// An event of the one-way link: an object reported lost or rejected by the core, the edge's
    /// heartbeat missed or back. The object id is the edge's spool id (`edge-<id>`).
    Link,
    /// A workstation session: a login, a logout; refused logins and lock-outs, counted per
    /// name (by pseudonym) and minute.
    Session,
    /// Requests the workstation refused (401, 403), counted per actor, route and minute.
    Deny,
    /// The update gate saw a vendor release: its name and SHA-256 digest, accepted the first
    /// time, refused when a second digest comes for the same name (`sluis_gate::releases`).
    Release,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused by policy or by the sanitiser.
    Denied,
    /// Attempted and failed.
    Failure,
}

/// A pseudonymous actor id: `p-` and 16 hex digits, or a role name of a component
/// (`sluis-core`, `sluis-vault`), `[a-z0-9-]`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ActorId(String);

impl ActorId {
    /// Checks an id: lower-case letters, digits and hyphens, 1 to 64, starting with a letter.
    pub fn new(id: &str) -> Result<Self, RecordError> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(ActorId(id.to_string()))
        } else {
            Err(RecordError::Actor(id.chars().take(80).collect()))
        }
    }

    /// The pseudonym of a person or account: `p-` and the first 8 bytes of
    /// HMAC-SHA-256(secret, name), in hex. The authority, which holds the secret, can recompute
    /// it for a name; an auditor reading the log cannot invert it.
    pub fn pseudonym(secret: &[u8; 32], name: &str) -> Self {
        use hmac::Mac;
        let mac = hmac::Hmac::<Sha256>::new_from_slice(secret)
            .map(|m| {
                m.chain_update(name.trim().as_bytes())
                    .finalize()
                    .into_bytes()
            })
            .unwrap_or_default();
        let hex: String = mac.iter().take(8).map(|b| format!("{b:02x}")).collect();
        ActorId(format!("p-{hex}"))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ActorId {
    type Error = RecordError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ActorId::new(&s)
    }
}

impl From<ActorId> for String {
    fn from(a: ActorId) -> String {
        a.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// When, UTC, RFC 3339 with microseconds.
    pub time: String,
    /// What happened.
    pub action: Action,
    /// Who (pseudonymous).
    pub actor: ActorId,
    /// Where: the configured component that acted (`vault.toml` `component`), never a host name.
    pub origin: String,
    /// On what: a vault object id, a key id, or a configuration name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub object: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why (for reads and exports): one line, at most 200 characters.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub purpose: Option<String>,
    /// A machine-readable detail (a refusal rule, a retention class, a decision).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// Why a record is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The actor is not a valid pseudonymous id.
    #[error(
        "actor {0:?} is not a pseudonymous id ([a-z][a-z0-9-]{{0,63}}); use a pseudonym, never a name"
    )]
    Actor(String),
    /// A text field holds control characters or is too long.
    #[error("field {field}: {reason}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The encoded record is larger than 64 KiB.
    #[error("the record is {0} bytes; at most 65535")]
    TooLarge(usize),
    /// The bytes are not a record.
    #[error("not an audit record: {0}")]
    Malformed(String),
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), RecordError> {
    if value.chars().any(char::is_control) {
        return Err(RecordError::Field {
            field,
            reason: "holds control characters".into(),
        });
    }
    if value.chars().count() > max {
        return Err(RecordError::Field {
            field,
            reason: format!("longer than {max} characters"),
        });
    }
    Ok(())
}

/// The current time as the log writes it.
pub fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    chrono::DateTime::from_timestamp(i64::try_from(d.as_secs()).unwrap_or(0), d.subsec_nanos())
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default()
}

impl AuditRecord {
    /// A record of `action` by `actor` at the current time.
    pub fn new(action: Action, actor: ActorId, origin: &str, outcome: Outcome) -> Self {
        AuditRecord {
            time: now(),
            action,
            actor,
            origin: origin.to_string(),
            object: None,
            outcome,
            purpose: None,
            detail: None,
        }
    }

    /// With an object.
    pub fn object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    /// With a purpose.
    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = Some(purpose.into());
        self
    }

    /// With a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Checks and encodes the record as the log entry (canonical JSON: fields in declaration
    /// order, no whitespace).
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        check_text("origin", &self.origin, 128)?;
        if let Some(o) = &self.object {
            check_text("object", o, 128)?;
        }
        if let Some(p) = &self.purpose {
            // A code, never free text: the log is public to auditors and kept for years, and a
            // purpose typed by a person can hold a name, a plate or a container number.
            let code = (1..=64).contains(&p.len())
                && p.starts_with(|c: char| c.is_ascii_lowercase())
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !code {
                return Err(RecordError::Field {
                    field: "purpose",
                    reason: "must be a code ([a-z][a-z0-9-], at most 64); free text belongs in a note kept off the log".into(),
                });
            }
        }
        if let Some(d) = &self.detail {
            check_text("detail", d, 1024)?;
        }
        let bytes = serde_json::to_vec(self).map_err(|e| RecordError::Malformed(e.to_string()))?;
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Decodes an entry.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        serde_json::from_slice(bytes).map_err(|e| RecordError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_refuse_names() {
        let actor = ActorId::pseudonym(&[7u8; 32], "Jan de Vries");
        assert!(actor.as_str().starts_with("p-") && actor.as_str().len() == 18);
        assert_eq!(actor, ActorId::pseudonym(&[7u8; 32], " Jan de Vries "));
        assert_ne!(actor, ActorId::pseudonym(&[8u8; 32], "Jan de Vries"));
        assert!(ActorId::new("Jan de Vries").is_err());
        let r = AuditRecord::new(Action::Read, actor, "sluis-vault@test", Outcome::Success)
            .object("v-0123")
            .purpose("analysis");
        let bytes = r.encode().unwrap();
        assert_eq!(AuditRecord::decode(&bytes).unwrap(), r);
        assert!(
            AuditRecord::decode(
                br#"{"time":"x","action":"read","actor":"Jan","origin":"o","outcome":"success"}"#
            )
            .is_err()
        );
        let bad = r.clone().purpose("line\nbreak");
        assert!(bad.encode().is_err());
        // Free text, which may hold a container number or a name, is no purpose.
        assert!(r.clone().purpose("case MSCU1234565").encode().is_err());
    }
}
