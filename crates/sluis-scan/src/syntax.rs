//! Transfer syntaxes and SOP classes that sluis accepts, by UID.
//!
//! Both lists are closed: anything else is refused by name. The transfer syntaxes are the ones
//! whose pixel data sluis can decode *losslessly* (PS3.5 §10, Annexes A.4, G); lossy codecs are
//! refused because a sanitised scan must carry the scanner's pixels bit for bit.

use std::fmt;

use serde::Serialize;

/// How the data set is encoded: VR explicit or implicit, and byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encoding {
    pub explicit_vr: bool,
    pub big_endian: bool,
}

impl Encoding {
    pub(crate) const EXPLICIT_LE: Encoding = Encoding {
        explicit_vr: true,
        big_endian: false,
    };
    pub(crate) const IMPLICIT_LE: Encoding = Encoding {
        explicit_vr: false,
        big_endian: false,
    };
}

/// How pixel data is compressed inside an encapsulated transfer syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    /// RLE Lossless (PS3.5 Annex G).
    Rle,
    /// JPEG Lossless, Non-Hierarchical (ISO 10918-1 process 14, SOF3).
    JpegLossless,
}

/// A transfer syntax that sluis reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TransferSyntax {
    /// Implicit VR Little Endian, `1.2.840.10008.1.2`.
    ImplicitVrLittleEndian,
    /// Explicit VR Little Endian, `1.2.840.10008.1.2.1`. The canonical output syntax.
    ExplicitVrLittleEndian,
    /// Explicit VR Big Endian (retired), `1.2.840.10008.1.2.2`.
    ExplicitVrBigEndian,
    /// Deflated Explicit VR Little Endian, `1.2.840.10008.1.2.1.99`.
    DeflatedExplicitVrLittleEndian,
    /// RLE Lossless, `1.2.840.10008.1.2.5`.
    RleLossless,
    /// JPEG Lossless, Non-Hierarchical (Process 14), `1.2.840.10008.1.2.4.57`.
    JpegLossless,
    /// JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, Selection Value 1),
    /// `1.2.840.10008.1.2.4.70`.
    JpegLosslessSv1,
}

impl TransferSyntax {
    /// Every accepted transfer syntax.
    pub const ALL: [TransferSyntax; 7] = [
        TransferSyntax::ImplicitVrLittleEndian,
        TransferSyntax::ExplicitVrLittleEndian,
        TransferSyntax::ExplicitVrBigEndian,
        TransferSyntax::DeflatedExplicitVrLittleEndian,
        TransferSyntax::RleLossless,
        TransferSyntax::JpegLossless,
        TransferSyntax::JpegLosslessSv1,
    ];

    /// The UID.
    pub fn uid(self) -> &'static str {
        match self {
            TransferSyntax::ImplicitVrLittleEndian => "1.2.840.10008.1.2",
            TransferSyntax::ExplicitVrLittleEndian => "1.2.840.10008.1.2.1",
            TransferSyntax::ExplicitVrBigEndian => "1.2.840.10008.1.2.2",
            TransferSyntax::DeflatedExplicitVrLittleEndian => "1.2.840.10008.1.2.1.99",
            TransferSyntax::RleLossless => "1.2.840.10008.1.2.5",
            TransferSyntax::JpegLossless => "1.2.840.10008.1.2.4.57",
            TransferSyntax::JpegLosslessSv1 => "1.2.840.10008.1.2.4.70",
        }
    }

    /// The name the standard gives it.
    pub fn name(self) -> &'static str {
        match self {
            TransferSyntax::ImplicitVrLittleEndian => "Implicit VR Little Endian",
            TransferSyntax::ExplicitVrLittleEndian => "Explicit VR Little Endian",
            TransferSyntax::ExplicitVrBigEndian => "Explicit VR Big Endian",
            TransferSyntax::DeflatedExplicitVrLittleEndian => "Deflated Explicit VR Little Endian",
            TransferSyntax::RleLossless => "RLE Lossless",
            TransferSyntax::JpegLossless => "JPEG Lossless, Non-Hierarchical (Process 14)",
            TransferSyntax::JpegLosslessSv1 => {
                "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, SV1)"
            }
        }
    }

    /// Looks a UID up among the accepted syntaxes. Trailing NUL padding is ignored.
    pub fn from_uid(uid: &str) -> Option<Self> {
        let uid = trim_uid(uid);
        Self::ALL.into_iter().find(|ts| ts.uid() == uid)
    }

    /// Encoding of the data set as it appears after any deflate step.
    pub(crate) fn encoding(self) -> Encoding {
        match self {
            TransferSyntax::ImplicitVrLittleEndian => Encoding::IMPLICIT_LE,
            TransferSyntax::ExplicitVrBigEndian => Encoding {
                explicit_vr: true,
                big_endian: true,
            },
            _ => Encoding::EXPLICIT_LE,
        }
    }

    /// True when the data set is a raw deflate stream (PS3.5 §A.5).
    pub(crate) fn is_deflated(self) -> bool {
        self == TransferSyntax::DeflatedExplicitVrLittleEndian
    }

    /// The pixel codec, for encapsulated syntaxes.
    pub(crate) fn codec(self) -> Option<Codec> {
        match self {
            TransferSyntax::RleLossless => Some(Codec::Rle),
            TransferSyntax::JpegLossless | TransferSyntax::JpegLosslessSv1 => {
                Some(Codec::JpegLossless)
            }
            _ => None,
        }
    }

    /// The dicom-rs registry entry for the *data set* encoding, used to hand the checked
    /// attributes to dicom-rs. Deflated input has been inflated by then, so it maps to explicit
    /// VR little endian.
    pub(crate) fn dataset_syntax_uid(self) -> &'static str {
        match self {
            TransferSyntax::ImplicitVrLittleEndian => TransferSyntax::ImplicitVrLittleEndian.uid(),
            TransferSyntax::ExplicitVrBigEndian => TransferSyntax::ExplicitVrBigEndian.uid(),
            _ => TransferSyntax::ExplicitVrLittleEndian.uid(),
        }
    }
}

impl fmt::Display for TransferSyntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.uid())
    }
}

/// Names a transfer syntax that sluis refuses, using the dicom-rs registry when it knows it.
pub(crate) fn describe_refused_syntax(uid: &str) -> String {
    use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
    let uid = trim_uid(uid);
    let registry = dicom_transfer_syntax_registry::TransferSyntaxRegistry;
    match registry.get(uid) {
        Some(ts) => format!("{} ({uid})", ts.name()),
        None => format!("unknown transfer syntax {uid:?}"),
    }
}

/// Removes the trailing NUL or space padding that UI values carry to even length.
pub(crate) fn trim_uid(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' '])
}

/// The SOP classes sluis accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SopClass {
    /// DICOS CT Image Storage, `1.2.840.10008.5.1.4.1.1.501.1`.
    DicosCt,
    /// DICOS Digital X-Ray Image Storage - For Presentation, `1.2.840.10008.5.1.4.1.1.501.2.1`.
    DicosDxForPresentation,
    /// DICOS Digital X-Ray Image Storage - For Processing, `1.2.840.10008.5.1.4.1.1.501.2.2`.
    DicosDxForProcessing,
    /// DICOS Threat Detection Report Storage, `1.2.840.10008.5.1.4.1.1.501.3`.
    DicosTdr,
    /// Digital X-Ray Image Storage - For Presentation, `1.2.840.10008.5.1.4.1.1.1.1`.
    DxForPresentation,
    /// Digital X-Ray Image Storage - For Processing, `1.2.840.10008.5.1.4.1.1.1.1.1`.
    DxForProcessing,
}

impl SopClass {
    /// Every accepted SOP class.
    pub const ALL: [SopClass; 6] = [
        SopClass::DicosCt,
        SopClass::DicosDxForPresentation,
        SopClass::DicosDxForProcessing,
        SopClass::DicosTdr,
        SopClass::DxForPresentation,
        SopClass::DxForProcessing,
    ];

    /// The UID.
    pub fn uid(self) -> &'static str {
        match self {
            SopClass::DicosCt => "1.2.840.10008.5.1.4.1.1.501.1",
            SopClass::DicosDxForPresentation => "1.2.840.10008.5.1.4.1.1.501.2.1",
            SopClass::DicosDxForProcessing => "1.2.840.10008.5.1.4.1.1.501.2.2",
            SopClass::DicosTdr => "1.2.840.10008.5.1.4.1.1.501.3",
            SopClass::DxForPresentation => "1.2.840.10008.5.1.4.1.1.1.1",
            SopClass::DxForProcessing => "1.2.840.10008.5.1.4.1.1.1.1.1",
        }
    }

    /// The name the standard gives it.
    pub fn name(self) -> &'static str {
        match self {
            SopClass::DicosCt => "DICOS CT Image Storage",
            SopClass::DicosDxForPresentation => {
                "DICOS Digital X-Ray Image Storage - For Presentation"
            }
            SopClass::DicosDxForProcessing => "DICOS Digital X-Ray Image Storage - For Processing",
            SopClass::DicosTdr => "DICOS Threat Detection Report Storage",
            SopClass::DxForPresentation => "Digital X-Ray Image Storage - For Presentation",
            SopClass::DxForProcessing => "Digital X-Ray Image Storage - For Processing",
        }
    }

    /// Looks a UID up among the accepted SOP classes.
    pub fn from_uid(uid: &str) -> Option<Self> {
        let uid = trim_uid(uid);
        Self::ALL.into_iter().find(|c| c.uid() == uid)
    }

    /// True for the classes whose instances are images.
    pub fn is_image(self) -> bool {
        !matches!(self, SopClass::DicosTdr)
    }
}

impl fmt::Display for SopClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.uid())
    }
}

/// Names a SOP class UID for a refusal, using the dicom-rs dictionary when it knows it.
pub(crate) fn describe_sop_class(uid: &str) -> String {
    use dicom_core::dictionary::{UidDictionary, UidDictionaryEntry};
    let uid = trim_uid(uid);
    match dicom_dictionary_std::StandardSopClassDictionary.by_uid(uid) {
        Some(entry) => format!("{} ({uid})", entry.name()),
        None => format!("unknown SOP class {uid:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_round_trip_and_padding_is_ignored() {
        for ts in TransferSyntax::ALL {
            assert_eq!(TransferSyntax::from_uid(ts.uid()), Some(ts));
            assert_eq!(
                TransferSyntax::from_uid(&format!("{}\0", ts.uid())),
                Some(ts)
            );
        }
        for c in SopClass::ALL {
            assert_eq!(SopClass::from_uid(c.uid()), Some(c));
        }
    }

    #[test]
    fn refused_syntaxes_are_named() {
        let text = describe_refused_syntax("1.2.840.10008.1.2.4.50");
        assert!(text.contains("JPEG Baseline"), "{text}");
        assert!(describe_refused_syntax("9.9.9").contains("unknown"));
    }

    #[test]
    fn sop_class_names_come_from_the_dictionary() {
        let text = describe_sop_class("1.2.840.10008.5.1.4.1.1.88.22");
        assert!(text.contains("Enhanced SR"), "{text}");
    }
}
