//! Typed refusals: every rejected input names the rule that failed, where, and whose fault it is.
//!
//! A refusal is not a log line. The pipeline turns it into a quarantine entry and an audit event,
//! so it carries a stable machine-readable [`Rule`] name (kebab-case, never renamed once
//! released), the [`Location`] in the input, a human sentence, and a [`Fault`] that tells an
//! operator what to do: fix the sender, fix the configuration, or report a bug in sluis.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The rule an input broke. The kebab-case name (see [`Rule::name`]) is part of the interface:
/// quarantine listings, audit records and tests match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Rule {
    /// The input is larger than the configured maximum file size.
    FileTooLarge,
    /// No 128-byte preamble followed by `DICM`: not a DICOM Part 10 file.
    MissingDicmPrefix,
    /// The file meta information group (0002,xxxx) is missing, malformed or inconsistent.
    FileMeta,
    /// The transfer syntax is not one sluis decodes losslessly.
    UnsupportedTransferSyntax,
    /// An element or item declares a length that runs past the bytes that remain.
    LengthPastEnd,
    /// A binary value's length is not a multiple of its VR's size (an SL of 2 bytes): parsers
    /// that read whole values then disagree about where the next element starts.
    ValueLength,
    /// The input ends inside a structure (an element header, an item, a sequence).
    Truncated,
    /// Sequences are nested deeper than the configured maximum.
    NestingTooDeep,
    /// More data elements than the configured maximum.
    TooManyElements,
    /// Elements are not in strictly ascending tag order, or a tag appears twice.
    ElementOrder,
    /// A value representation code that DICOM does not define.
    InvalidVr,
    /// Undefined length (0xFFFFFFFF) on an element that may not have one.
    UndefinedLength,
    /// An item or delimitation tag where it does not belong, or a delimiter with a length.
    Delimiter,
    /// A deflated data set expands past the configured inflate budget.
    DeflateExpansion,
    /// A deflated data set is not a valid deflate stream.
    DeflateInvalid,
    /// Bytes after the data set that are not a well-formed trailing element.
    TrailingBytes,
    /// The SOP class is neither a DICOS image, a DICOS TDR nor a plain DX image.
    UnsupportedSopClass,
    /// A non-image SOP class (a report, a structured document) carries pixel data.
    NotAnImageSopClass,
    /// The SOP class or instance in the file meta group differs from the data set's.
    SopClassMismatch,
    /// A required attribute is absent.
    MissingAttribute,
    /// An attribute is present but its value is unusable (wrong VR, out of range, malformed).
    InvalidAttribute,
    /// The character set cannot be decoded.
    CharacterSet,
    /// The data set could not be decoded by dicom-rs after the structure check passed.
    DatasetDecode,
    /// Declared rows, columns, frames or pixel count exceed the configured limits or are zero.
    ImageDimensions,
    /// Bits allocated/stored, high bit, samples per pixel or photometric interpretation unsupported.
    PixelFormat,
    /// Native pixel data length differs from rows x columns x frames x bytes per sample.
    PixelDataLength,
    /// Pixel data is encapsulated under a native transfer syntax, or the reverse.
    PixelDataEncapsulation,
    /// An encapsulated fragment or offset table runs past the pixel data or the file.
    FragmentPastEnd,
    /// More encapsulated fragments than the configured maximum.
    TooManyFragments,
    /// Encapsulated fragments cannot be mapped to frames unambiguously.
    FrameFragments,
    /// A JPEG frame is malformed, not lossless, or disagrees with the declared geometry.
    JpegInvalid,
    /// An RLE frame is malformed or does not decode to exactly the declared geometry.
    RleInvalid,
    /// Decoding would need more memory than the configured maximum.
    MemoryLimit,
    /// The sanitiser's limits are themselves invalid.
    InvalidLimits,
    /// Writing the canonical output failed.
    Output,
    /// The sanitiser's worker process died (a resource limit, or a bug): the input is kept.
    WorkerCrashed,
    /// The sanitiser's worker process ran past its time limit and was killed.
    WorkerTimeout,
}

impl Rule {
    /// The stable kebab-case name of the rule, as printed and logged.
    pub fn name(self) -> &'static str {
        match self {
            Rule::FileTooLarge => "file-too-large",
            Rule::MissingDicmPrefix => "missing-dicm-prefix",
            Rule::FileMeta => "file-meta",
            Rule::UnsupportedTransferSyntax => "unsupported-transfer-syntax",
            Rule::LengthPastEnd => "length-past-end",
            Rule::ValueLength => "value-length",

            Rule::Truncated => "truncated",
            Rule::NestingTooDeep => "nesting-too-deep",
            Rule::TooManyElements => "too-many-elements",
            Rule::ElementOrder => "element-order",
            Rule::InvalidVr => "invalid-vr",
            Rule::UndefinedLength => "undefined-length",
            Rule::Delimiter => "delimiter",
            Rule::DeflateExpansion => "deflate-expansion",
            Rule::DeflateInvalid => "deflate-invalid",
            Rule::TrailingBytes => "trailing-bytes",
            Rule::UnsupportedSopClass => "unsupported-sop-class",
            Rule::NotAnImageSopClass => "not-an-image-sop-class",
            Rule::SopClassMismatch => "sop-class-mismatch",
            Rule::MissingAttribute => "missing-attribute",
            Rule::InvalidAttribute => "invalid-attribute",
            Rule::CharacterSet => "character-set",
            Rule::DatasetDecode => "dataset-decode",
            Rule::ImageDimensions => "image-dimensions",
            Rule::PixelFormat => "pixel-format",
            Rule::PixelDataLength => "pixel-data-length",
            Rule::PixelDataEncapsulation => "pixel-data-encapsulation",
            Rule::FragmentPastEnd => "fragment-past-end",
            Rule::TooManyFragments => "too-many-fragments",
            Rule::FrameFragments => "frame-fragments",
            Rule::JpegInvalid => "jpeg-invalid",
            Rule::RleInvalid => "rle-invalid",
            Rule::MemoryLimit => "memory-limit",
            Rule::InvalidLimits => "invalid-limits",
            Rule::Output => "output",
            Rule::WorkerCrashed => "worker-crashed",
            Rule::WorkerTimeout => "worker-timeout",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whose fault a refusal is, so an operator knows where to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Fault {
    /// The bytes as sent: the scanner, its vendor software, or whoever produced the file.
    /// Retrying the same bytes gives the same answer.
    Sender,
    /// sluis's own configuration (limits too small or inconsistent); an administrator can act.
    Configuration,
    /// The local system (disk full, permission denied while writing output); may succeed later.
    Environment,
    /// A bug in sluis: the input passed every check and still could not be handled.
    Internal,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::Sender => "sender",
            Fault::Configuration => "configuration",
            Fault::Environment => "environment",
            Fault::Internal => "internal",
        })
    }
}

/// Where in the input a rule failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Byte offset of the failing element header or structure. For deflated data sets this is an
    /// offset into the inflated stream, and `inflated` is set.
    pub offset: Option<u64>,
    /// True when `offset` counts bytes of the inflated data set rather than of the file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inflated: bool,
    /// The element path, outermost first, e.g. `(4010,1011)[0]/(4010,1037)[0]/(0008,114A)`.
    pub element: Option<String>,
}

impl Location {
    /// A location at a byte offset of the file.
    pub fn at(offset: usize) -> Self {
        Location {
            offset: u64::try_from(offset).ok(),
            inflated: false,
            element: None,
        }
    }

    /// A location naming an element path, without an offset.
    pub fn element(path: impl Into<String>) -> Self {
        Location {
            offset: None,
            inflated: false,
            element: Some(path.into()),
        }
    }

    /// The same location with an element path attached.
    pub fn with_element(mut self, path: impl Into<String>) -> Self {
        self.element = Some(path.into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(offset) = self.offset {
            let stream = if self.inflated {
                " of the inflated data set"
            } else {
                ""
            };
            write!(f, "offset {offset} (0x{offset:X}){stream}")?;
            sep = ", ";
        }
        if let Some(element) = &self.element {
            write!(f, "{sep}element {element}")?;
            sep = ", ";
        }
        if sep.is_empty() {
            f.write_str("the input as a whole")?;
        }
        Ok(())
    }
}

/// Why an input was refused: the rule, where, a sentence, and whose fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("refused by rule {rule} at {location}: {detail} (fault: {fault})")]
pub struct Refusal {
    /// The rule that failed.
    pub rule: Rule,
    /// Where it failed.
    pub location: Location,
    /// One sentence for a person: what was found and what was expected.
    pub detail: String,
    /// Who can fix it.
    pub fault: Fault,
}

impl Refusal {
    /// A refusal caused by the sender's bytes.
    pub fn sender(rule: Rule, location: Location, detail: impl Into<String>) -> Self {
        Refusal {
            rule,
            location,
            detail: detail.into(),
            fault: Fault::Sender,
        }
    }

    /// A refusal caused by sluis's configuration.
    pub fn configuration(rule: Rule, detail: impl Into<String>) -> Self {
        Refusal {
            rule,
            location: Location::default(),
            detail: detail.into(),
            fault: Fault::Configuration,
        }
    }

    /// A refusal that should not happen: the input passed every check.
    pub fn internal(rule: Rule, location: Location, detail: impl Into<String>) -> Self {
        Refusal {
            rule,
            location,
            detail: detail.into(),
            fault: Fault::Internal,
        }
    }

    /// Marks the offset as counting bytes of an inflated data set.
    pub(crate) fn in_inflated_stream(mut self) -> Self {
        self.location.inflated = true;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_rule_location_and_fault() {
        let r = Refusal::sender(
            Rule::PixelDataLength,
            Location::at(0x120).with_element("(7FE0,0010)"),
            "declared 4 x 4 x 16 bit needs 32 bytes, element has 30",
        );
        let text = r.to_string();
        assert!(text.contains("pixel-data-length"), "{text}");
        assert!(text.contains("offset 288 (0x120)"), "{text}");
        assert!(text.contains("(7FE0,0010)"), "{text}");
        assert!(text.contains("fault: sender"), "{text}");
    }

    #[test]
    fn rule_names_are_kebab_case_and_match_serde() {
        for rule in [
            Rule::NotAnImageSopClass,
            Rule::NestingTooDeep,
            Rule::UnsupportedTransferSyntax,
        ] {
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(json, format!("\"{}\"", rule.name()));
        }
    }
}
