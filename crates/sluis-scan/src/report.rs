//! What the sanitiser dropped and changed, and why.
//!
//! The report is part of the chain of custody: it is stored beside the sanitised scan, and it is
//! what an auditor reads to see that a vendor's private tags or a polyglot preamble never reached
//! an analyst.

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;
use serde::Serialize;

use crate::syntax::{SopClass, TransferSyntax};

/// Why an element did not survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DropReason {
    /// A private (odd group) element or private creator: vendor data nobody can vouch for.
    PrivateTag,
    /// An overlay plane (60xx): bits drawn over the image, or data hidden in them.
    Overlay,
    /// A curve (50xx, retired).
    Curve,
    /// An encapsulated document (0042,xxxx): a PDF or other file riding along.
    EmbeddedDocument,
    /// An icon image sequence (0088,0200): a second, unchecked image.
    IconImage,
    /// A group length (gggg,0000): derived, and recomputed on output.
    GroupLength,
    /// Digital signatures or MAC parameters: they sign the original bytes, which are not kept.
    DigitalSignature,
    /// Data set trailing padding (FFFC,FFFC).
    Padding,
    /// A file meta element (0002,xxxx) inside the data set.
    FileMetaInDataset,
    /// A standard element that sluis does not carry into canonical DICOS.
    NotInAllowList,
    /// An element the DICOM dictionary does not know.
    UnknownElement,
    /// An allowed element whose value was unusable (wrong VR, malformed, out of range).
    InvalidValue,
}

/// One dropped element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// Element path, e.g. `(0009,1001)` or `(4010,1011)[0]/(4010,1080)`.
    pub element: String,
    /// The dictionary keyword, when the element is standard.
    pub name: Option<&'static str>,
    /// The VR as encoded (or the dictionary VR for implicit VR).
    pub vr: String,
    /// Value length in bytes.
    pub length: u64,
    /// Why.
    pub reason: DropReason,
    /// More detail, for invalid values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Something the sanitiser changed rather than dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "what")]
#[non_exhaustive]
pub enum Normalisation {
    /// The 128-byte preamble held data (a polyglot file, for example); it is written as zeros.
    PreambleCleared,
    /// Bits above Bits Stored were set in this many samples; they are cleared (or sign-filled).
    PixelPaddingBits {
        /// Samples changed.
        samples: u64,
    },
    /// Pixel data was decompressed and the data set re-encoded in explicit VR little endian.
    TransferSyntax {
        /// The input syntax.
        from: TransferSyntax,
    },
    /// A plain DICOM DX instance was stored as its DICOS equivalent.
    SopClass {
        /// The input class.
        from: SopClass,
        /// The output class.
        to: SopClass,
    },
    /// Text was decoded from the input character set and is written as UTF-8 (ISO_IR 192).
    CharacterSet {
        /// The input's Specific Character Set.
        from: String,
    },
}

/// The sanitiser's account of one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SanitiseReport {
    /// Input size in bytes.
    pub input_bytes: u64,
    /// Input transfer syntax.
    pub transfer_syntax: TransferSyntax,
    /// Input SOP class.
    pub sop_class: SopClass,
    /// Elements the structure check walked, at every depth.
    pub elements_seen: usize,
    /// Elements that did not survive, outermost only (the contents of a dropped sequence are
    /// not listed one by one).
    pub dropped: Vec<Dropped>,
    /// Changes made.
    pub normalised: Vec<Normalisation>,
}

impl SanitiseReport {
    /// Number of dropped elements for a reason.
    pub fn count(&self, reason: DropReason) -> usize {
        self.dropped.iter().filter(|d| d.reason == reason).count()
    }
}

/// The dictionary keyword of a standard tag.
pub(crate) fn tag_name(tag: Tag) -> Option<&'static str> {
    if tag.group() % 2 == 1 {
        return None;
    }
    StandardDataDictionary.by_tag(tag).map(|e| e.alias())
}

/// Classifies an element that extraction did not consume.
pub(crate) fn classify(tag: Tag, top_level_after_pixels: bool) -> DropReason {
    let (g, e) = (tag.group(), tag.element());
    if g % 2 == 1 {
        DropReason::PrivateTag
    } else if e == 0x0000 {
        DropReason::GroupLength
    } else if (0x6000..=0x601E).contains(&g) {
        DropReason::Overlay
    } else if (0x5000..=0x501E).contains(&g) {
        DropReason::Curve
    } else if g == 0x0042 {
        DropReason::EmbeddedDocument
    } else if tag == Tag(0x0088, 0x0200) {
        DropReason::IconImage
    } else if tag == Tag(0xFFFA, 0xFFFA) || tag == Tag(0x4FFE, 0x0001) || tag == Tag(0x0400, 0x0561)
    {
        DropReason::DigitalSignature
    } else if tag == Tag(0xFFFC, 0xFFFC) {
        DropReason::Padding
    } else if g == 0x0002 {
        DropReason::FileMetaInDataset
    } else if tag_name(tag).is_none() || top_level_after_pixels {
        DropReason::UnknownElement
    } else {
        DropReason::NotInAllowList
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(Tag(0x0009, 0x1001), false), DropReason::PrivateTag);
        assert_eq!(classify(Tag(0x6000, 0x3000), false), DropReason::Overlay);
        assert_eq!(classify(Tag(0x5000, 0x3000), false), DropReason::Curve);
        assert_eq!(
            classify(Tag(0x0042, 0x0011), false),
            DropReason::EmbeddedDocument
        );
        assert_eq!(classify(Tag(0x0088, 0x0200), false), DropReason::IconImage);
        assert_eq!(
            classify(Tag(0x0008, 0x0000), false),
            DropReason::GroupLength
        );
        assert_eq!(classify(Tag(0xFFFC, 0xFFFC), true), DropReason::Padding);
        assert_eq!(
            classify(Tag(0x0010, 0x0040), false),
            DropReason::NotInAllowList
        );
        assert_eq!(tag_name(Tag(0x0010, 0x0040)), Some("PatientSex"));
    }
}
