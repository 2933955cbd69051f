//! What the edge says about each object it sends: one typed value, built by the edge, carried
//! as JSON in the signed start and end records, and read by the core.
//!
//! The signature proves only that the edge wrote it. The edge sits in the scanner enclave and
//! copies these values from what a scanner sent (its AE title, its UIDs, a file's name), so the
//! core reads them as untrusted text: [`ObjectMeta::parse`] bounds the input and every field,
//! and keeps only the characters each field can hold.

use serde::{Deserialize, Serialize};

/// The largest meta the core parses (the edge's are a few hundred bytes).
pub const MAX_META: usize = 4096;
/// The longest free-text field kept (AE titles are 16 characters, peers and names shorter than
/// this in practice).
const MAX_FIELD: usize = 80;
/// The longest UID (PS3.5 §9.1).
const MAX_UID: usize = 64;

/// Where an object came from, as the edge saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ObjectMeta {
    /// A DICOM C-STORE the edge accepted.
    Dicom {
        /// The scanner's calling AE title (on the edge's allow-list).
        calling_ae: String,
        /// The scanner's address and port.
        peer: String,
        /// The SOP class UID of the command set.
        sop_class: String,
        /// The SOP instance UID of the command set.
        sop_instance: String,
        /// The negotiated transfer syntax UID.
        transfer_syntax: String,
        /// When the edge received it (RFC 3339, UTC, by the edge's clock).
        received: String,
    },
    /// A file from the edge's drop folder.
    Drop {
        /// The file's name in the drop folder.
        name: String,
        /// When the edge spooled it.
        received: String,
    },
}

/// Why a meta could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// Longer than [`MAX_META`].
    #[error("object meta of {0} bytes, past {MAX_META}")]
    TooLong(usize),
    /// Not one of the forms the edge writes.
    #[error("object meta unreadable: {0}")]
    Malformed(String),
}

impl ObjectMeta {
    /// The JSON the edge spools and signs.
    pub fn to_json(&self) -> String {
        // A value of this type is always representable: strings and nothing else.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a meta from the link, bounded, with each field cut to what it can hold: UIDs keep
    /// digits and dots (at most 64), free text keeps printable characters (at most 80).
    pub fn parse(meta: &str) -> Result<ObjectMeta, MetaError> {
        if meta.len() > MAX_META {
            return Err(MetaError::TooLong(meta.len()));
        }
        let m: ObjectMeta =
            serde_json::from_str(meta).map_err(|e| MetaError::Malformed(e.to_string()))?;
        Ok(match m {
            ObjectMeta::Dicom {
                calling_ae,
                peer,
                sop_class,
                sop_instance,
                transfer_syntax,
                received,
            } => ObjectMeta::Dicom {
                calling_ae: text(&calling_ae),
                peer: text(&peer),
                sop_class: uid(&sop_class),
                sop_instance: uid(&sop_instance),
                transfer_syntax: uid(&transfer_syntax),
                received: text(&received),
            },
            ObjectMeta::Drop { name, received } => ObjectMeta::Drop {
                name: text(&name),
                received: text(&received),
            },
        })
    }
}

fn text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD)
        .collect()
}

fn uid(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .take(MAX_UID)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_meta_reads_back_as_written() {
        let m = ObjectMeta::Dicom {
            calling_ae: "SCANNER1".into(),
            peer: "10.0.0.7:40112".into(),
            sop_class: "1.2.840.10008.5.1.4.1.1.501.2.1".into(),
            sop_instance: "1.2.3.4".into(),
            transfer_syntax: "1.2.840.10008.1.2.1".into(),
            received: "2026-12-07T10:00:00.000000Z".into(),
        };
        assert_eq!(ObjectMeta::parse(&m.to_json()).unwrap(), m);
        let d = ObjectMeta::Drop {
            name: "scan.dcm".into(),
            received: "2026-12-07T10:00:00.000000Z".into(),
        };
        assert!(d.to_json().contains("\"source\":\"drop\""));
        assert_eq!(ObjectMeta::parse(&d.to_json()).unwrap(), d);
    }

    #[test]
    fn hostile_metas_are_bounded_or_refused() {
        assert!(matches!(
            ObjectMeta::parse(&"x".repeat(MAX_META + 1)),
            Err(MetaError::TooLong(_))
        ));
        assert!(matches!(
            ObjectMeta::parse("{\"source\":\"ftp\"}"),
            Err(MetaError::Malformed(_))
        ));
        let long = format!(
            "{{\"source\":\"dicom\",\"calling_ae\":\"{}\\u0007\",\"peer\":\"p\",\"sop_class\":\"1.2<script>\",\"sop_instance\":\"{}\",\"transfer_syntax\":\"\",\"received\":\"\"}}",
            "A".repeat(200),
            "9".repeat(100)
        );
        let ObjectMeta::Dicom {
            calling_ae,
            sop_class,
            sop_instance,
            ..
        } = ObjectMeta::parse(&long).unwrap()
        else {
            panic!("not dicom")
        };
        assert_eq!(calling_ae.len(), 80);
        assert_eq!(sop_class, "1.2");
        assert_eq!(sop_instance.len(), 64);
    }
}
