//! PS3.10 files: the head the edge writes before a received data set, and the reader of the
//! head of files sluis wrote itself (the demo's and the benchmark's scanner sends them).
//!
//! The edge never parses a data set: an object in the spool is this head, built from the
//! negotiated values, followed by the data set's bytes exactly as received. The sanitiser on
//! the customs side parses it.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use super::command::uid_value;

/// Our implementation class UID (under the UUID-derived root 2.25) and version name.
const IMPLEMENTATION_UID: &str = "2.25.171350532887437214946536930917563491027";
const IMPLEMENTATION_NAME: &str = "SLUIS_EDGE";
/// Preamble and `DICM`.
const PREFIX: usize = 132;

/// The head of a PS3.10 file: preamble, `DICM`, and a file meta group (explicit VR little
/// endian) written from the negotiated values. The UIDs must be valid
/// ([`super::command::valid_uid`]), so each is at most 64 bytes.
pub fn part10_header(sop_class: &str, sop_instance: &str, transfer_syntax: &str) -> Vec<u8> {
    fn meta_element(out: &mut Vec<u8>, element: u16, vr: &[u8; 2], value: &[u8]) {
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&element.to_le_bytes());
        out.extend_from_slice(vr);
        if vr == b"OB" {
            out.extend_from_slice(&[0, 0]);
            let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
        } else {
            let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_le_bytes());
        }
        out.extend_from_slice(value);
    }
    let mut name = IMPLEMENTATION_NAME.as_bytes().to_vec();
    if name.len() % 2 == 1 {
        name.push(b' ');
    }
    let mut group = Vec::new();
    meta_element(&mut group, 0x0001, b"OB", &[0, 1]);
    meta_element(&mut group, 0x0002, b"UI", &uid_value(sop_class));
    meta_element(&mut group, 0x0003, b"UI", &uid_value(sop_instance));
    meta_element(&mut group, 0x0010, b"UI", &uid_value(transfer_syntax));
    meta_element(&mut group, 0x0012, b"UI", &uid_value(IMPLEMENTATION_UID));
    meta_element(&mut group, 0x0013, b"SH", &name);
    let mut out = Vec::with_capacity(PREFIX.saturating_add(12).saturating_add(group.len()));
    out.resize(128, 0);
    out.extend_from_slice(b"DICM");
    let len = u32::try_from(group.len()).unwrap_or(u32::MAX);
    meta_element(&mut out, 0x0000, b"UL", &len.to_le_bytes());
    out.extend_from_slice(&group);
    out
}

/// What a PS3.10 file's meta group says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// (0002,0002) MediaStorageSOPClassUID.
    pub sop_class: String,
    /// (0002,0003) MediaStorageSOPInstanceUID.
    pub sop_instance: String,
    /// (0002,0010) TransferSyntaxUID.
    pub transfer_syntax: String,
    /// Where the data set starts.
    pub data_start: usize,
}

/// Why a file's head could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Part10Error {
    /// No `DICM` at byte 128.
    #[error("not a PS3.10 file")]
    NotPart10,
    /// An element runs past the end.
    #[error("file meta group truncated")]
    Truncated,
}

/// Reads a PS3.10 file's meta group (explicit VR little endian, as sluis writes it).
pub fn file_meta(file: &[u8]) -> Result<FileMeta, Part10Error> {
    if file.get(128..PREFIX) != Some(b"DICM") {
        return Err(Part10Error::NotPart10);
    }
    let mut m = FileMeta {
        sop_class: String::new(),
        sop_instance: String::new(),
        transfer_syntax: String::new(),
        data_start: PREFIX,
    };
    let mut rest = file.get(PREFIX..).unwrap_or_default();
    // The group ends where (0002,0000) says, not at the first element of another group: a
    // data set may itself begin with group 0002 elements (which PS3.10 forbids, and a hostile
    // scanner sends), and those are the data set's, not the head's.
    let mut group_end: Option<usize> = None;
    while let Some((head, tail)) = rest.split_first_chunk::<8>() {
        if group_end == Some(m.data_start) {
            break;
        }
        let [g0, g1, e0, e1, v0, v1, s0, s1] = *head;
        if u16::from_le_bytes([g0, g1]) != 2 {
            break;
        }
        let element = u16::from_le_bytes([e0, e1]);
        let (len, tail) = if matches!(&[v0, v1], b"OB" | b"OW" | b"UN" | b"SQ" | b"UT") {
            let (l, tail) = tail
                .split_first_chunk::<4>()
                .ok_or(Part10Error::Truncated)?;
            let len =
                usize::try_from(u32::from_le_bytes(*l)).map_err(|_| Part10Error::Truncated)?;
            (len, tail)
        } else {
            (usize::from(u16::from_le_bytes([s0, s1])), tail)
        };
        let (value, after) = tail.split_at_checked(len).ok_or(Part10Error::Truncated)?;
        let text = String::from_utf8_lossy(value)
            .trim_end_matches(['\0', ' '])
            .to_string();
        match element {
            0x0000 if m.data_start == PREFIX => {
                let len = value
                    .first_chunk::<4>()
                    .map(|l| u32::from_le_bytes(*l))
                    .and_then(|l| usize::try_from(l).ok())
                    .ok_or(Part10Error::Truncated)?;
                let end = file
                    .len()
                    .saturating_sub(after.len())
                    .checked_add(len)
                    .filter(|&e| e <= file.len())
                    .ok_or(Part10Error::Truncated)?;
                group_end = Some(end);
            }
            0x0002 => m.sop_class = text,
            0x0003 => m.sop_instance = text,
            0x0010 => m.transfer_syntax = text,
            _ => {}
        }
        rest = after;
        m.data_start = file.len().saturating_sub(rest.len());
    }
    Ok(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_head_reads_back() {
        let mut f = part10_header(
            "1.2.840.10008.5.1.4.1.1.501.1",
            "1.2.3",
            "1.2.840.10008.1.2.1",
        );
        let at = f.len();
        f.extend_from_slice(b"\x08\x00\x16\x00");
        let m = file_meta(&f).unwrap();
        assert_eq!(m.sop_class, "1.2.840.10008.5.1.4.1.1.501.1");
        assert_eq!(m.sop_instance, "1.2.3");
        assert_eq!(m.transfer_syntax, "1.2.840.10008.1.2.1");
        assert_eq!(m.data_start, at);
        // A data set that begins with group 0002 elements of its own (a hostile scanner's)
        // is the data set's: the head ends where its group length says.
        let mut g = part10_header("1.2.3", "1.2.4", "1.2.840.10008.1.2.1");
        let head = g.len();
        g.extend_from_slice(b"\x02\x00\x10\x00UI\x06\x001.2.5\0\x08\x00\x16\x00");
        let m = file_meta(&g).unwrap();
        assert_eq!(
            (m.data_start, m.transfer_syntax.as_str()),
            (head, "1.2.840.10008.1.2.1")
        );
        for cut in [0, 100, 140, at - 3] {
            assert!(file_meta(&f[..cut]).is_err() || cut >= 132, "cut {cut}");
        }
        assert_eq!(file_meta(&f[..at - 3]), Err(Part10Error::Truncated));
    }
}
