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

use std::io::{Read, Seek, SeekFrom, Write};

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
    /// The limits it was accepted under (a scan stored under raised limits is read under them).
    limits: Limits,
}

impl SanitisedScan {
    /// The limits this scan passed.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

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

/// Everything the sanitiser learns before it touches the pixels.
struct Analysis {
    class: SopClass,
    /// The rebuilt object; an image's channels are still empty.
    object: DicosObject,
    /// For an image: the geometry the pixels must match and the frames of each channel.
    pixels: Option<(pixels::PixelSpec, Vec<u32>)>,
    /// Normalisations known before decoding.
    normalised: Vec<Normalisation>,
    dropped: Vec<Dropped>,
}

impl Analysis {
    /// The report, once the pixels are done.
    fn report(
        self,
        input_bytes: usize,
        structure: &Structure<'_>,
        padding_bits_cleared: u64,
    ) -> (DicosObject, SanitiseReport) {
        let mut normalised = self.normalised;
        if padding_bits_cleared > 0 {
            normalised.push(Normalisation::PixelPaddingBits {
                samples: padding_bits_cleared,
            });
        }
        let canonical = dicos_write::canonical_class(self.class);
        if self.object.sop_class() != SopClass::DicosTdr && canonical != self.class {
            normalised.push(Normalisation::SopClass {
                from: self.class,
                to: canonical,
            });
        }
        let report = SanitiseReport {
            input_bytes: u64::try_from(input_bytes).unwrap_or(u64::MAX),
            transfer_syntax: structure.syntax,
            sop_class: self.class,
            elements_seen: structure.elements.len(),
            dropped: self.dropped,
            normalised,
        };
        (self.object, report)
    }
}

/// Classifies, decodes the allow-listed attributes and builds the typed model without pixels.
fn analyse(structure: &Structure<'_>, limits: &Limits) -> Result<Analysis, Refusal> {
    let class = classify_sop(structure)?;
    let obj = read::decode_attributes(structure, class)?;
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
    let (object, pixels) = if class.is_image() {
        let header = read::image_header(&a, class, limits)?;
        let mut scan = header.scan;
        scan.sop_class = dicos_write::canonical_class(class);
        (
            DicosObject::Image(Box::new(scan)),
            Some((header.spec, header.channel_frames)),
        )
    } else {
        if structure.pixel_data.is_some() {
            return Err(not_an_image(structure, &format!("{class}")));
        }
        (
            DicosObject::ThreatReport(Box::new(read::threat_report(&a)?)),
            None,
        )
    };
    let mut dropped = dropped_elements(structure, &tracker);
    dropped.extend(tracker.take_invalid());
    Ok(Analysis {
        class,
        object,
        pixels,
        normalised: base_normalisations(structure, &charset),
        dropped,
    })
}

/// Sanitises one DICOM Part 10 file held in memory.
///
/// Returns the rebuilt scan and a report, or a [`Refusal`] naming the rule that failed. No input
/// makes it panic, and no allocation is sized by the input before the size is checked against
/// `limits`.
pub fn sanitise(input: &[u8], limits: &Limits) -> Result<Sanitised, Refusal> {
    let structure = preflight::check(input, limits)?;
    let mut analysis = analyse(&structure, limits)?;
    let mut padding = 0;
    if let (DicosObject::Image(scan), Some((spec, channel_frames))) =
        (&mut analysis.object, &analysis.pixels)
    {
        let decoded = pixels::decode(&structure, spec, channel_frames, limits)?;
        for (channel, samples) in scan.image.channels.iter_mut().zip(decoded.channels) {
            channel.samples = samples;
        }
        padding = decoded.padding_bits_cleared;
    }
    let (object, report) = analysis.report(input.len(), &structure, padding);
    Ok(Sanitised {
        scan: SanitisedScan {
            object,
            limits: limits.clone(),
        },
        report,
    })
}

/// Why a streamed sanitisation stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The input was refused; nothing useful was written.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The input could not be read (or changed while it was read).
    #[error("reading the input: {0}")]
    Read(#[source] std::io::Error),
    /// The output could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The first bytes read to find the pixel data; doubled while needed (a scan's attributes
/// before its pixels are a few KiB).
const HEAD_START: usize = 64 << 10;
/// The most bytes before the pixel data, or after it, that the streaming path holds; a file
/// with more is sanitised in memory instead.
const HEAD_MAX: usize = 32 << 20;
const TAIL_MAX: usize = 4 << 20;

fn read_at<R: Read + Seek>(
    input: &mut R,
    offset: usize,
    len: usize,
) -> Result<Vec<u8>, StreamError> {
    input
        .seek(SeekFrom::Start(offset as u64))
        .map_err(StreamError::Read)?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len)
        .map_err(|_| StreamError::Read(std::io::ErrorKind::OutOfMemory.into()))?;
    input
        .take(len as u64)
        .read_to_end(&mut buf)
        .map_err(StreamError::Read)?;
    if buf.len() != len {
        return Err(StreamError::Read(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(buf)
}

/// Sanitises a file from a reader into canonical DICOS on a writer, and returns the report.
///
/// The result is byte for byte what [`sanitise`] followed by [`SanitisedScan::write_dicos`]
/// gives. For native (uncompressed) pixel data, the attributes before and after the pixel data
/// are read and checked first, and the pixels are then streamed through a fixed buffer, each
/// sample decoded, checked and re-encoded: memory stays at a few megabytes whatever the scan's
/// size, and nothing is written before every check that does not need the pixels has passed.
/// Compressed, deflated and non-image files are sanitised in memory.
///
/// On an error the writer may hold part of an output: write to a temporary file and keep it
/// only on success.
pub fn sanitise_stream<R: Read + Seek, W: Write>(
    mut input: R,
    mut out: W,
    limits: &Limits,
) -> Result<SanitiseReport, StreamError> {
    limits.validate()?;
    let file_len = input.seek(SeekFrom::End(0)).map_err(StreamError::Read)?;
    limits.check_file_size(file_len)?;
    let len = usize::try_from(file_len)
        .map_err(|_| StreamError::Read(std::io::ErrorKind::FileTooLarge.into()))?;
    let mut head_len = HEAD_START.min(len);
    let located = loop {
        let head = read_at(&mut input, 0, head_len)?;
        match preflight::locate_pixel_data(&head, len, limits) {
            preflight::Located::Found(v) if len.saturating_sub(v.end) <= TAIL_MAX => {
                break Some((head, v, Vec::new()));
            }
            preflight::Located::Encapsulated(at) => {
                match scan_items(&mut input, at, len, limits)? {
                    Some((end, islands)) if len.saturating_sub(end) <= TAIL_MAX => {
                        break Some((head, at..end, islands));
                    }
                    _ => break None,
                }
            }
            preflight::Located::NeedMore if head_len < len.min(HEAD_MAX) => {
                head_len = head_len.saturating_mul(2).min(len).min(HEAD_MAX);
            }
            _ => break None,
        }
    };
    let Some((mut head, value, islands)) = located else {
        let bytes = read_at(&mut input, 0, len)?;
        let sanitised = sanitise(&bytes, limits)?;
        drop(bytes);
        sanitised.scan.write_dicos(&mut out)?;
        return Ok(sanitised.report);
    };
    head.truncate(value.start);
    let tail = read_at(&mut input, value.end, len.saturating_sub(value.end))?;
    let structure = preflight::check_split(&head, value.clone(), islands, &tail, limits)?;
    let analysis = analyse(&structure, limits)?;
    let Some((spec, _)) = &analysis.pixels else {
        return Err(not_an_image(&structure, &format!("{}", analysis.class)).into());
    };
    let frame_bytes = spec
        .frame_samples()
        .saturating_mul(usize::from(spec.bits_allocated / 8));
    let stream_fault = |f| match f {
        pixels::StreamFault::Refused(r) => StreamError::Refused(r),
        pixels::StreamFault::Read(e) => StreamError::Read(e),
        pixels::StreamFault::Write(e) => StreamError::Write(WriteError::Io(e)),
    };
    let (total, padding) = match &structure.pixel_data {
        Some(preflight::PixelLayout::Native { value: ds_value }) => {
            let total = pixels::check_native_length(&structure, ds_value, spec)?;
            dicos_write::write_head(
                &analysis.object,
                Some((spec.bits_allocated, total)),
                &mut out,
            )?;
            input
                .seek(SeekFrom::Start(value.start as u64))
                .map_err(StreamError::Read)?;
            let big_endian = structure.syntax.encoding().big_endian;
            let padding =
                pixels::stream_native(&mut input, total, value.len(), spec, big_endian, &mut out)
                    .map_err(stream_fault)?;
            (total, padding)
        }
        Some(preflight::PixelLayout::Encapsulated { .. }) => {
            // Every structural check, and the mapping of fragments to frames, happens before
            // the first byte is written.
            let (codec, plan) = pixels::frame_plan(&structure, spec)?;
            let total = frame_bytes.saturating_mul(plan.len());
            dicos_write::write_head(
                &analysis.object,
                Some((spec.bits_allocated, total)),
                &mut out,
            )?;
            let padding = pixels::stream_encapsulated(
                &mut input,
                &structure,
                structure.dataset_base,
                &plan,
                codec,
                spec,
                &mut out,
            )
            .map_err(stream_fault)?;
            (total, padding)
        }
        None => {
            return Err(Refusal::sender(
                Rule::MissingAttribute,
                Location::element("(7FE0,0010)"),
                "an image without Pixel Data",
            )
            .into());
        }
    };
    if total % 2 == 1 {
        out.write_all(&[0])
            .map_err(|e| StreamError::Write(WriteError::Io(e)))?;
    }
    out.flush()
        .map_err(|e| StreamError::Write(WriteError::Io(e)))?;
    let (_, report) = analysis.report(len, &structure, padding);
    Ok(report)
}

/// Where encapsulated pixel data ends, and the bytes of it that are held (offset, bytes).
type ItemScan = (usize, Vec<(usize, Vec<u8>)>);

/// The most bytes of basic offset table held while streaming (enough for 64k frames).
const MAX_OFFSET_TABLE: usize = 256 << 10;

/// Reads the item headers of encapsulated pixel data starting at file offset `at`: returns the
/// offset just past the sequence delimiter, and the bytes to hold (every item header, the basic
/// offset table, the first two bytes of each fragment). `None` when the items are not well
/// formed: the in-memory path then gives the precise refusal.
fn scan_items<R: Read + Seek>(
    input: &mut R,
    at: usize,
    len: usize,
    limits: &Limits,
) -> Result<Option<ItemScan>, StreamError> {
    let max_items = usize::try_from(limits.max_fragments)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let mut islands = Vec::new();
    let mut pos = at;
    for item in 0..=max_items {
        if pos.saturating_add(8) > len {
            return Ok(None);
        }
        let header = read_at(input, pos, 8)?;
        let word = |i: usize| {
            u16::from_le_bytes([
                header.get(i).copied().unwrap_or(0),
                header.get(i.saturating_add(1)).copied().unwrap_or(0),
            ])
        };
        let (group, element) = (word(0), word(2));
        let length = u32::from_le_bytes([
            header.get(4).copied().unwrap_or(0),
            header.get(5).copied().unwrap_or(0),
            header.get(6).copied().unwrap_or(0),
            header.get(7).copied().unwrap_or(0),
        ]);
        islands.push((pos, header));
        let body = pos.saturating_add(8);
        if (group, element) == (0xFFFE, 0xE0DD) {
            return Ok(Some((body, islands)));
        }
        let Ok(length) = usize::try_from(length) else {
            return Ok(None);
        };
        if (group, element) != (0xFFFE, 0xE000)
            || length == 0xFFFF_FFFF
            || body.saturating_add(length) > len
        {
            return Ok(None);
        }
        if item == 0 {
            if length > MAX_OFFSET_TABLE {
                return Ok(None);
            }
            islands.push((body, read_at(input, body, length)?));
        } else if length > 0 {
            islands.push((body, read_at(input, body, length.min(2))?));
        }
        pos = body.saturating_add(length);
    }
    Ok(None)
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
