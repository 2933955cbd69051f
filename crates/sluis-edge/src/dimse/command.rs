//! The DIMSE command-set codec (PS3.7 §9.3, §E): sans-I/O over `&[u8]`.
//!
//! A command set is group 0000 only, implicit VR little endian, each element
//! `tag (4) | length (4) | value`. Written by hand because the untrusted side must not run a
//! general DICOM parser; this one checks every length against what remains and reads the six
//! elements the edge needs, skipping the others. The encoder writes the responses the edge
//! sends and the requests its own scanner (the demo's) sends.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

/// C-STORE-RQ.
pub const C_STORE_RQ: u16 = 0x0001;
/// C-STORE-RSP.
pub const C_STORE_RSP: u16 = 0x8001;
/// C-ECHO-RQ.
pub const C_ECHO_RQ: u16 = 0x0030;
/// C-ECHO-RSP.
pub const C_ECHO_RSP: u16 = 0x8030;
/// The Verification SOP class (C-ECHO).
pub const VERIFICATION: &str = "1.2.840.10008.1.1";
/// Success.
pub const STATUS_SUCCESS: u16 = 0x0000;
/// Refused: out of resources (too large, the spool full).
pub const STATUS_OUT_OF_RESOURCES: u16 = 0xA700;
/// Error: cannot understand (invalid UIDs).
pub const STATUS_CANNOT_UNDERSTAND: u16 = 0xC000;
/// (0000,0800) CommandDataSetType's value for "no data set".
const NO_DATA_SET: u16 = 0x0101;

/// A command set, as far as the edge reads it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Command {
    /// (0000,0100) CommandField.
    pub field: u16,
    /// (0000,0110) MessageID.
    pub message_id: u16,
    /// (0000,0002) AffectedSOPClassUID.
    pub sop_class: String,
    /// (0000,1000) AffectedSOPInstanceUID.
    pub sop_instance: String,
    /// Whether a data set follows ((0000,0800) is not 0101H).
    pub has_data: bool,
    /// (0000,0900) Status.
    pub status: u16,
}

/// Why a command set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Fewer than 8 bytes where an element header should be.
    #[error("command element header truncated")]
    HeaderTruncated,
    /// An element outside group 0000.
    #[error("element ({group:04X},{element:04X}) in a command set")]
    NotCommandGroup {
        /// Its group.
        group: u16,
        /// Its element.
        element: u16,
    },
    /// A length past the end of the command set.
    #[error("command element ({element:04X}) of {length} bytes, {left} left")]
    LengthPastEnd {
        /// The element.
        element: u16,
        /// Its declared length.
        length: u32,
        /// The bytes left.
        left: usize,
    },
    /// A US element shorter than two bytes.
    #[error("command element (0000,{0:04X}) is shorter than a US value")]
    ShortValue(u16),
}

/// Reads a command set.
pub fn parse_command(bytes: &[u8]) -> Result<Command, CommandError> {
    let mut c = Command {
        has_data: true,
        ..Command::default()
    };
    let mut rest = bytes;
    while !rest.is_empty() {
        let (head, tail) = rest
            .split_first_chunk::<8>()
            .ok_or(CommandError::HeaderTruncated)?;
        let [g0, g1, e0, e1, l0, l1, l2, l3] = *head;
        let group = u16::from_le_bytes([g0, g1]);
        let element = u16::from_le_bytes([e0, e1]);
        let length = u32::from_le_bytes([l0, l1, l2, l3]);
        if group != 0 {
            return Err(CommandError::NotCommandGroup { group, element });
        }
        let past = CommandError::LengthPastEnd {
            element,
            length,
            left: tail.len(),
        };
        let len = usize::try_from(length).map_err(|_| past.clone())?;
        let (value, after) = tail.split_at_checked(len).ok_or(past)?;
        let text = || {
            String::from_utf8_lossy(value)
                .trim_end_matches(['\0', ' '])
                .to_string()
        };
        let us = || match value {
            [a, b, ..] => Ok(u16::from_le_bytes([*a, *b])),
            _ => Err(CommandError::ShortValue(element)),
        };
        match element {
            0x0002 => c.sop_class = text(),
            0x0100 => c.field = us()?,
            0x0110 => c.message_id = us()?,
            0x0800 => c.has_data = us()? != NO_DATA_SET,
            0x0900 => c.status = us()?,
            0x1000 => c.sop_instance = text(),
            _ => {}
        }
        rest = after;
    }
    Ok(c)
}

fn put_element(out: &mut Vec<u8>, element: u16, value: &[u8]) {
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    // Values written here are UIDs (at most 64 bytes) and US/UL numbers.
    out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(value);
}

/// A UID's value: padded with NUL to an even length (PS3.5 §9.1).
pub(crate) fn uid_value(uid: &str) -> Vec<u8> {
    let mut v = uid.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

/// Group length first, then the body.
fn with_group_length(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len().saturating_add(12));
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    put_element(&mut out, 0x0000, &len.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Encodes the response `field` to `to` with `status`.
pub fn response(field: u16, to: &Command, status: u16) -> Vec<u8> {
    let mut body = Vec::new();
    put_element(&mut body, 0x0002, &uid_value(&to.sop_class));
    put_element(&mut body, 0x0100, &field.to_le_bytes());
    put_element(&mut body, 0x0120, &to.message_id.to_le_bytes());
    put_element(&mut body, 0x0800, &NO_DATA_SET.to_le_bytes());
    put_element(&mut body, 0x0900, &status.to_le_bytes());
    if !to.sop_instance.is_empty() {
        put_element(&mut body, 0x1000, &uid_value(&to.sop_instance));
    }
    with_group_length(&body)
}

/// Encodes a C-STORE-RQ (priority medium, a data set follows).
pub fn store_rq(message_id: u16, sop_class: &str, sop_instance: &str) -> Vec<u8> {
    let mut body = Vec::new();
    put_element(&mut body, 0x0002, &uid_value(sop_class));
    put_element(&mut body, 0x0100, &C_STORE_RQ.to_le_bytes());
    put_element(&mut body, 0x0110, &message_id.to_le_bytes());
    put_element(&mut body, 0x0700, &0u16.to_le_bytes());
    put_element(&mut body, 0x0800, &0u16.to_le_bytes());
    put_element(&mut body, 0x1000, &uid_value(sop_instance));
    with_group_length(&body)
}

/// Whether `uid` is a valid UID (PS3.5 §9.1: digits and dots, at most 64, no empty component).
pub fn valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !uid.starts_with('.')
        && !uid.ends_with('.')
        && !uid.contains("..")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_response_reads_back_as_the_command_it_answers() {
        let rq = Command {
            field: C_STORE_RQ,
            message_id: 7,
            sop_class: "1.2.840.10008.5.1.4.1.1.501.2.1".into(),
            sop_instance: "1.2.3".into(),
            has_data: true,
            status: 0,
        };
        let rsp = parse_command(&response(C_STORE_RSP, &rq, STATUS_SUCCESS)).unwrap();
        assert_eq!(rsp.field, C_STORE_RSP);
        assert_eq!(rsp.sop_class, rq.sop_class);
        assert_eq!(rsp.sop_instance, rq.sop_instance);
        assert!(!rsp.has_data);
        let back = parse_command(&store_rq(7, &rq.sop_class, &rq.sop_instance)).unwrap();
        assert_eq!(back, rq);
    }

    #[test]
    fn hostile_command_sets_are_refused_without_panic() {
        assert_eq!(
            parse_command(&[0u8, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(CommandError::LengthPastEnd {
                element: 0x0100,
                length: u32::MAX,
                left: 0
            })
        );
        assert_eq!(
            parse_command(&[8, 0, 0x10, 0, 0, 0, 0, 0]),
            Err(CommandError::NotCommandGroup {
                group: 8,
                element: 0x10
            })
        );
        assert_eq!(
            parse_command(&[0, 0, 0]),
            Err(CommandError::HeaderTruncated)
        );
        assert_eq!(
            parse_command(&[0, 0, 0, 1, 1, 0, 0, 0, 9]),
            Err(CommandError::ShortValue(0x0100))
        );
    }

    #[test]
    fn uids_are_checked() {
        assert!(valid_uid("1.2.840.10008.1.1"));
        for bad in ["", ".1", "1.", "1..2", "1.2a", &"1".repeat(65)] {
            assert!(!valid_uid(bad), "{bad}");
        }
    }
}
