//! The sanitiser: content disarm and reconstruction of one DICOS/DICOM file.
//!
//! ```text
//! bytes ──► structure check (preflight) ──► allow-listed attributes ──► dicom-rs ──► typed model
//!             bounded, sans-I/O               (raw bytes of checked        │
//!             inventory + pixel layout         top-level elements)         ▼
//!                     │                                               pixel decoder
//!                     └──────────── pixel ranges ──────────────────►  (declared geometry)
//!                                                                          │
//!                          SanitisedScan ◄─────────────────────────────────┘
//!                               │
//!                               ▼
//!                     canonical DICOS (dicos::write), report of what was dropped
//! ```
//!
//! Nothing of the input is copied to the output: every output byte is written from the typed
//! model. [`SanitisedScan`] can only be made here, so a function that takes one knows the bytes
//! behind it passed every check.

use std::io::Write;

use dicom_dictionary_std::tags as t;

use crate::dicos::attrs::{Attrs, Tracker};
use crate::dicos::read;
use crate::dicos::write::{self as dicos_write, WriteError};
use crate::limits::Limits;
use crate::model::{DicosObject, Scan, ThreatReport};
use crate::pixels;
use crate::preflight::{self, PIXEL_DATA, Structure, path_string};
use crate::refusal::{Location, Refusal, Rule};
use crate::report::{DropReason, Dropped, Normalisation, SanitiseReport, classify, tag_name};
use crate::syntax::{self, SopClass, TransferSyntax};

/// A scan (or report) rebuilt from input that passed every check. Only [`sanitise`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct SanitisedScan {
    object: DicosObject,
}

impl SanitisedScan {
    /// The sanitised content.
    pub fn object(&self) -> &DicosObject {
        &self.object
    }

    /// The image, if this is one.
    pub fn image(&self) -> Option<&Scan> {
        match &self.object {
            DicosObject::Image(s) => Some(s),
            DicosObject::ThreatReport(_) => None,
        }
    }

    /// The report, if this is one.
    pub fn threat_report(&self) -> Option<&ThreatReport> {
        match &self.object {
            DicosObject::ThreatReport(r) => Some(r),
            DicosObject::Image(_) => None,
        }
    }

    /// Gives up the proof and returns the content.
    pub fn into_object(self) -> DicosObject {
        self.object
    }

    /// Writes canonical DICOS; returns the bytes written.
    pub fn write_dicos<W: Write>(&self, out: W) -> Result<u64, WriteError> {
        dicos_write::write_dicos(&self.object, out)
    }

    /// Encodes canonical DICOS into memory.
    pub fn to_dicos_vec(&self) -> Result<Vec<u8>, WriteError> {
        dicos_write::to_dicos_vec(&self.object)
    }
}

/// The sanitiser's result: the scan and the account of what happened to the input.
#[derive(Debug, Clone)]
pub struct Sanitised {
    /// The rebuilt scan.
    pub scan: SanitisedScan,
    /// What was dropped and changed.
    pub report: SanitiseReport,
}

/// Meta elements that sluis regenerates; any other is reported as dropped.
const REGENERATED_META: [u16; 7] = [0x0000, 0x0001, 0x0002, 0x0003, 0x0010, 0x0012, 0x0013];

/// Sanitises one DICOM Part 10 file.
///
/// Returns the rebuilt scan and a report, or a [`Refusal`] naming the rule that failed. No input
/// makes it panic, and no allocation is sized by the input before the size is checked against
/// `limits`.
pub fn sanitise(input: &[u8], limits: &Limits) -> Result<Sanitised, Refusal> {
    let structure = preflight::check(input, limits)?;
    let class = classify_sop(&structure)?;
    let obj = read::decode_attributes(&structure, class)?;
    let tracker = Tracker::default();
    let a = Attrs::new(&obj, &tracker);
    let (ds_class, ds_instance) = read::sop_uids(&a)?;
    if syntax::trim_uid(&ds_class) != class.uid()
        || ds_instance.as_str() != structure.meta.media_storage_sop_instance_uid
    {
        return Err(Refusal::sender(
            Rule::SopClassMismatch,
            Location::element("(0008,0016)"),
            format!(
                "the data set says {} / {}, the file meta group says {} / {}",
                ds_class.trim(),
                ds_instance,
                structure.meta.media_storage_sop_class_uid,
                structure.meta.media_storage_sop_instance_uid
            ),
        ));
    }
    let charset = a.texts(t::SPECIFIC_CHARACTER_SET, 16);
    let object = if class.is_image() {
        let header = read::image_header(&a, class, limits)?;
        let decoded = pixels::decode(&structure, &header.spec, &header.channel_frames, limits)?;
        let mut scan = header.scan;
        for (channel, samples) in scan.image.channels.iter_mut().zip(decoded.channels) {
            channel.samples = samples;
        }
        let canonical = dicos_write::canonical_class(class);
        scan.sop_class = canonical;
        let mut normalised = base_normalisations(&structure, &charset);
        if decoded.padding_bits_cleared > 0 {
            normalised.push(Normalisation::PixelPaddingBits {
                samples: decoded.padding_bits_cleared,
            });
        }
        if canonical != class {
            normalised.push(Normalisation::SopClass {
                from: class,
                to: canonical,
            });
        }
        (DicosObject::Image(Box::new(scan)), normalised)
    } else {
        if structure.pixel_data.is_some() {
            return Err(not_an_image(&structure, &format!("{class}")));
        }
        let report = read::threat_report(&a)?;
        (
            DicosObject::ThreatReport(Box::new(report)),
            base_normalisations(&structure, &charset),
        )
    };
    let (object, normalised) = object;
    let mut dropped = dropped_elements(&structure, &tracker);
    dropped.extend(tracker.take_invalid());
    let report = SanitiseReport {
        input_bytes: u64::try_from(input.len()).unwrap_or(u64::MAX),
        transfer_syntax: structure.syntax,
        sop_class: class,
        elements_seen: structure.elements.len(),
        dropped,
        normalised,
    };
    Ok(Sanitised {
        scan: SanitisedScan { object },
        report,
    })
}

fn not_an_image(structure: &Structure<'_>, class: &str) -> Refusal {
    let offset = structure
        .top_level()
        .find(|e| e.tag == PIXEL_DATA)
        .map_or(0, |e| e.header_start);
    Refusal::sender(
        Rule::NotAnImageSopClass,
        structure.location(offset).with_element("(7FE0,0010)"),
        format!("{class} is not an image class, yet the instance carries Pixel Data"),
    )
}

/// Decides the SOP class from the file meta group, and refuses unknown ones by name.
fn classify_sop(structure: &Structure<'_>) -> Result<SopClass, Refusal> {
    let uid = &structure.meta.media_storage_sop_class_uid;
    if let Some(class) = SopClass::from_uid(uid) {
        return Ok(class);
    }
    let described = syntax::describe_sop_class(uid);
    let is_image_class = described.contains("Image Storage");
    if structure.pixel_data.is_some() && !is_image_class {
        return Err(not_an_image(structure, &described));
    }
    Err(Refusal::sender(
        Rule::UnsupportedSopClass,
        Location::element("(0002,0002)"),
        format!(
            "{described} is not accepted; sluis takes DICOS CT, DICOS DX, DICOS TDR and DX \
             images"
        ),
    ))
}

fn base_normalisations(structure: &Structure<'_>, charset: &[String]) -> Vec<Normalisation> {
    let mut n = Vec::new();
    if structure.preamble_nonzero {
        n.push(Normalisation::PreambleCleared);
    }
    if structure.syntax != TransferSyntax::ExplicitVrLittleEndian {
        n.push(Normalisation::TransferSyntax {
            from: structure.syntax,
        });
    }
    let declared = charset.join("\\");
    if !declared.is_empty() && declared != "ISO_IR 192" {
        n.push(Normalisation::CharacterSet { from: declared });
    }
    n
}

/// Everything the structure check saw that extraction did not consume: outermost only.
fn dropped_elements(structure: &Structure<'_>, tracker: &Tracker) -> Vec<Dropped> {
    let mut out = Vec::new();
    for (tag, length) in &structure.meta.elements {
        if !REGENERATED_META.contains(&tag.element()) {
            out.push(Dropped {
                element: path_string(&[], *tag),
                name: tag_name(*tag),
                vr: String::new(),
                length: u64::from(*length),
                reason: DropReason::NotInAllowList,
                detail: Some("file meta element; the file meta group is regenerated".into()),
            });
        }
    }
    let pixel_end = structure
        .top_level()
        .find(|e| e.tag == PIXEL_DATA)
        .map(|e| e.end);
    for e in &structure.elements {
        if e.path.is_empty() && e.tag == PIXEL_DATA {
            continue;
        }
        if tracker.is_consumed(&e.path, e.tag) {
            continue;
        }
        // Report an element only when its enclosing sequence survived; the contents of a dropped
        // sequence go with it.
        if let Some((last, parents)) = e.path.split_last()
            && !tracker.is_consumed(parents, last.tag)
        {
            continue;
        }

        let after_pixels = e.path.is_empty() && pixel_end.is_some_and(|end| e.header_start >= end);
        out.push(Dropped {
            element: path_string(&e.path, e.tag),
            name: tag_name(e.tag),
            vr: e.vr.to_string().to_string(),
            length: e.value_len,
            reason: classify(e.tag, after_pixels),
            detail: None,
        });
    }
    out
}
