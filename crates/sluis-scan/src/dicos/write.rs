//! From the typed model to canonical DICOS bytes.
//!
//! Canonical DICOS as sluis writes it (documented in `ARCHITECTURE.md`):
//!
//! * Part 10 file, zero preamble, explicit VR little endian, Specific Character Set `ISO_IR 192`;
//! * plain DX classes are written as their DICOS equivalents;
//! * a multi-energy DX is one instance with one frame per channel: Image Type value 2 is
//!   `MULTI ENERGY`, and each item of the Per-Frame Functional Groups Sequence names its channel
//!   in Frame Content Sequence > Frame Label (`HIGH ENERGY`, `LOW ENERGY`, `Z_EFFECTIVE`, …) and
//!   its rescale in Pixel Value Transformation Sequence;
//! * a CT volume keeps its per-frame positions and shared pixel measures in functional groups;
//! * pixel data is native, `OW` (16-bit) or `OB` (8-bit), written as the last element.
//!
//! The attributes are built as a dicom-rs `InMemDicomObject` and written by dicom-rs; the pixel
//! data element is appended after them by streaming the samples (its 12-byte header is encoded
//! with dicom-rs's encoder), so that writing a large scan never holds a second copy of its pixels.

use std::io::{self, Write};

use dicom_core::header::{DataElementHeader, Length};
use dicom_core::value::{C, DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags as t;
use dicom_encoding::encode::Encode;
use dicom_encoding::encode::explicit_le::ExplicitVRLittleEndianEncoder;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;

use crate::model::*;
use crate::syntax::{SopClass, TransferSyntax};

/// sluis's Implementation Class UID, under the `2.25` UUID arc.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.77245280766208882134851624866075767849";
/// sluis's Implementation Version Name (SH, at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("SLUIS_", env!("CARGO_PKG_VERSION"));
/// The DICOS version sluis writes.
pub const DICOS_VERSION: &str = "V03";

/// Why writing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The destination failed.
    #[error("writing DICOS: {0}")]
    Io(#[from] io::Error),
    /// The model is inconsistent (for example a channel with the wrong number of samples).
    #[error("cannot encode this scan: {0}")]
    Invalid(String),
    /// dicom-rs refused to encode an attribute.
    #[error("dicom-rs could not encode the attributes: {0}")]
    Encode(String),
}

/// The DICOS class an instance is written as.
pub fn canonical_class(class: SopClass) -> SopClass {
    match class {
        SopClass::DxForPresentation => SopClass::DicosDxForPresentation,
        SopClass::DxForProcessing => SopClass::DicosDxForProcessing,
        other => other,
    }
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count = self.count.saturating_add(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `object` as a canonical DICOS Part 10 file; returns the number of bytes written.
pub fn write_dicos<W: Write>(object: &DicosObject, out: W) -> Result<u64, WriteError> {
    let mut out = Counting {
        inner: out,
        count: 0,
    };
    match object {
        DicosObject::Image(scan) => {
            check_image(&scan.image)?;
            let samples: usize = scan.image.channels.iter().map(|c| c.samples.len()).sum();
            let bits = scan.image.bits_allocated();
            write_head(
                object,
                Some((bits, samples.saturating_mul(usize::from(bits / 8)))),
                &mut out,
            )?;
            write_samples(&scan.image, &mut out)?;
        }
        DicosObject::ThreatReport(_) => write_head(object, None, &mut out)?,
    }
    out.flush()?;
    Ok(out.count)
}

/// Writes everything before the pixel samples: preamble, `DICM`, file meta group, the data set's
/// attributes, and (for an image) the pixel data element header for `pixels = (bits allocated,
/// sample bytes)`. The caller then writes exactly the sample bytes, and one zero byte when their
/// number is odd. The image's samples are not read, so a scan whose pixels are streamed can
/// have empty channels.
pub(crate) fn write_head<W: Write>(
    object: &DicosObject,
    pixels: Option<(u16, usize)>,
    out: &mut W,
) -> Result<(), WriteError> {
    let (class, dataset) = match object {
        DicosObject::Image(scan) => (
            canonical_class(scan.sop_class),
            image_dataset(scan).finish()?,
        ),
        DicosObject::ThreatReport(report) => (SopClass::DicosTdr, report_dataset(report).finish()?),
    };
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(class.uid())
        .media_storage_sop_instance_uid(object.instance().sop_instance_uid.as_str())
        .transfer_syntax(TransferSyntax::ExplicitVrLittleEndian.uid())
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION_NAME)
        .build()
        .map_err(|e| WriteError::Encode(e.to_string()))?;
    out.write_all(&[0u8; 128])?;
    out.write_all(b"DICM")?;
    meta.write(&mut *out)
        .map_err(|e| WriteError::Encode(e.to_string()))?;
    let ts = dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(TransferSyntax::ExplicitVrLittleEndian.uid())
        .ok_or_else(|| WriteError::Encode("explicit VR little endian is not registered".into()))?;
    dataset
        .write_dataset_with_ts(&mut *out, ts)
        .map_err(|e| WriteError::Encode(e.to_string()))?;
    if let Some((bits, bytes)) = pixels {
        let padded = bytes.saturating_add(bytes % 2);
        let len = u32::try_from(padded).map_err(|_| {
            WriteError::Invalid(format!(
                "{padded} bytes of pixel data exceed a 32-bit length"
            ))
        })?;
        let vr = if bits == 8 { VR::OB } else { VR::OW };
        let header = DataElementHeader::new(Tag(0x7FE0, 0x0010), vr, Length(len));
        ExplicitVRLittleEndianEncoder::default()
            .encode_element_header(&mut *out, header)
            .map_err(|e| WriteError::Encode(e.to_string()))?;
    }
    Ok(())
}

/// Encodes `object` into a byte vector.
pub fn to_dicos_vec(object: &DicosObject) -> Result<Vec<u8>, WriteError> {
    // Sized for the pixels and a generous header at once: growing a multi-megabyte vector by
    // doubling copies it each time and touches fresh pages (each a page fault) every time.
    let pixel_bytes = match object {
        DicosObject::Image(scan) => scan
            .image
            .channels
            .iter()
            .map(|c| {
                c.samples
                    .len()
                    .saturating_mul(usize::from(c.samples.bits_allocated() / 8))
            })
            .fold(0usize, usize::saturating_add),
        DicosObject::ThreatReport(_) => 0,
    };
    let mut v = Vec::new();
    v.try_reserve_exact(pixel_bytes.saturating_add(64 << 10))
        .map_err(|_| WriteError::Io(std::io::ErrorKind::OutOfMemory.into()))?;
    write_dicos(object, &mut v)?;
    Ok(v)
}

fn check_image(image: &Image) -> Result<(), WriteError> {
    let invalid = |s: String| Err(WriteError::Invalid(s));
    if image.channels.is_empty() {
        return invalid("an image needs at least one channel".into());
    }
    if image.rows == 0 || image.columns == 0 || image.frames_per_channel == 0 {
        return invalid("an image needs rows, columns and frames".into());
    }
    let want = image.frame_len() * usize::try_from(image.frames_per_channel).unwrap_or(usize::MAX);
    let bits = image.bits_allocated();
    for c in &image.channels {
        if c.samples.len() != want {
            return invalid(format!(
                "channel {} holds {} samples, {want} expected",
                c.kind,
                c.samples.len()
            ));
        }
        if c.samples.bits_allocated() != bits {
            return invalid("channels differ in bits allocated".into());
        }
    }
    if image.bits_stored == 0 || image.bits_stored > bits {
        return invalid(format!(
            "bits stored {} with {bits} allocated",
            image.bits_stored
        ));
    }
    if image.channels.len() > 1 {
        let mut kinds: Vec<&str> = image.channels.iter().map(|c| c.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        if kinds.len() != image.channels.len() {
            return invalid("two channels of the same kind".into());
        }
    }
    Ok(())
}

/// Writes the samples of every channel as little-endian bytes, and the pad byte if needed.
fn write_samples<W: Write>(image: &Image, out: &mut W) -> Result<(), WriteError> {
    let mut bytes = 0usize;
    // A small buffer, reused: it stays in the cache.
    let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
    for c in &image.channels {
        match &c.samples {
            Samples::U16(v) => {
                for chunk in v.chunks(32 << 10) {
                    buf.clear();
                    buf.extend(chunk.iter().flat_map(|s| s.to_le_bytes()));
                    out.write_all(&buf)?;
                }
                bytes = bytes.saturating_add(v.len().saturating_mul(2));
            }
            Samples::U8(v) => {
                out.write_all(v)?;
                bytes = bytes.saturating_add(v.len());
            }
        }
    }
    if bytes % 2 == 1 {
        out.write_all(&[0])?;
    }
    Ok(())
}

/// Formats a decimal string (DS): at most 16 characters.
fn ds(v: f64) -> String {
    let plain = format!("{v}");
    if plain.len() <= 16 {
        return plain;
    }
    for precision in (0..=10).rev() {
        let s = format!("{v:.precision$e}");
        if s.len() <= 16 {
            return s;
        }
    }
    "0".to_string()
}

/// The most characters a value of a text VR may hold (PS3.5 §6.2).
fn max_chars(vr: VR) -> usize {
    match vr {
        VR::AE | VR::CS | VR::SH | VR::DS => 16,
        VR::IS => 12,
        VR::LO | VR::UI => 64,
        VR::ST => 1024,
        VR::LT => 10_240,
        VR::DA => 8,
        VR::TM => 14,
        VR::DT => 26,
        _ => usize::MAX,
    }
}

/// Builds a data set attribute by attribute, collecting values that would not be valid DICOM
/// (too long for their VR, or holding a backslash inside a single value).
struct Builder {
    obj: InMemDicomObject,
    problems: Vec<String>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            obj: InMemDicomObject::new_empty(),
            problems: Vec::new(),
        }
    }

    fn put(&mut self, tag: Tag, vr: VR, value: PrimitiveValue) {
        self.obj.put(DataElement::new(tag, vr, value));
    }

    fn check(&mut self, tag: Tag, vr: VR, value: &str) {
        let n = value.chars().count();
        let max = max_chars(vr);
        if n > max {
            self.problems.push(format!(
                "({:04X},{:04X}) {vr:?} holds {n} characters, at most {max} allowed",
                tag.group(),
                tag.element()
            ));
        }
        if value.contains('\\') && !matches!(vr, VR::ST | VR::LT | VR::UT) {
            self.problems.push(format!(
                "({:04X},{:04X}) holds a backslash, the value separator",
                tag.group(),
                tag.element()
            ));
        }
    }

    fn text(&mut self, tag: Tag, vr: VR, value: Option<&str>) {
        if let Some(v) = value {
            self.check(tag, vr, v);
            self.put(tag, vr, PrimitiveValue::from(v));
        }
    }

    fn texts(&mut self, tag: Tag, vr: VR, values: &[String]) {
        if !values.is_empty() {
            for v in values {
                self.check(tag, vr, v);
            }
            self.put(
                tag,
                vr,
                PrimitiveValue::Strs(values.iter().cloned().collect()),
            );
        }
    }

    fn uid(&mut self, tag: Tag, value: Option<&Uid>) {
        self.text(tag, VR::UI, value.map(Uid::as_str));
    }

    fn us(&mut self, tag: Tag, values: &[u16]) {
        self.put(tag, VR::US, PrimitiveValue::U16(C::from_slice(values)));
    }

    fn is(&mut self, tag: Tag, value: Option<i32>) {
        if let Some(v) = value {
            self.put(tag, VR::IS, PrimitiveValue::from(v.to_string()));
        }
    }

    fn ds(&mut self, tag: Tag, values: &[f64]) {
        if !values.is_empty() {
            self.put(
                tag,
                VR::DS,
                PrimitiveValue::Strs(values.iter().map(|&v| ds(v)).collect()),
            );
        }
    }

    fn fl(&mut self, tag: Tag, values: &[f32]) {
        if !values.is_empty() {
            self.put(tag, VR::FL, PrimitiveValue::F32(C::from_slice(values)));
        }
    }

    fn fd(&mut self, tag: Tag, value: Option<f64>) {
        if let Some(v) = value {
            self.put(tag, VR::FD, PrimitiveValue::F64(C::from_slice(&[v])));
        }
    }

    fn date_time(&mut self, da: Tag, tm: Tag, value: Option<&crate::datetime::Timestamp>) {
        if let Some(v) = value {
            self.put(da, VR::DA, PrimitiveValue::from(v.to_da()));
            self.put(tm, VR::TM, PrimitiveValue::from(v.to_tm()));
        }
    }

    fn dt(&mut self, tag: Tag, value: Option<&crate::datetime::Timestamp>) {
        if let Some(v) = value {
            self.put(tag, VR::DT, PrimitiveValue::from(v.to_dt()));
        }
    }

    fn seq(&mut self, tag: Tag, items: Vec<Builder>) {
        if !items.is_empty() {
            let mut objects = Vec::with_capacity(items.len());
            for item in items {
                self.problems.extend(item.problems);
                objects.push(item.obj);
            }
            self.obj.put(DataElement::new(
                tag,
                VR::SQ,
                DataSetSequence::new(objects, Length::UNDEFINED),
            ));
        }
    }

    /// The data set, or what makes it invalid.
    fn finish(self) -> Result<InMemDicomObject, WriteError> {
        if self.problems.is_empty() {
            Ok(self.obj)
        } else {
            Err(WriteError::Invalid(self.problems.join("; ")))
        }
    }
}

fn common(
    b: &mut Builder,
    class: SopClass,
    modality: &Modality,
    instance: &Instance,
    times: &Times,
    scanner: &Scanner,
    conveyance: &Conveyance,
) {
    b.text(t::SPECIFIC_CHARACTER_SET, VR::CS, Some("ISO_IR 192"));
    b.date_time(
        t::INSTANCE_CREATION_DATE,
        t::INSTANCE_CREATION_TIME,
        times.created.as_ref(),
    );
    b.text(t::SOP_CLASS_UID, VR::UI, Some(class.uid()));
    b.uid(t::SOP_INSTANCE_UID, Some(&instance.sop_instance_uid));
    b.date_time(t::STUDY_DATE, t::STUDY_TIME, times.study.as_ref());
    b.date_time(t::SERIES_DATE, t::SERIES_TIME, times.series.as_ref());
    b.date_time(t::CONTENT_DATE, t::CONTENT_TIME, times.content.as_ref());
    b.dt(t::ACQUISITION_DATE_TIME, times.acquired.as_ref());
    b.text(t::MODALITY, VR::CS, Some(modality.as_str()));
    b.text(t::MANUFACTURER, VR::LO, scanner.manufacturer.as_deref());
    b.text(t::INSTITUTION_NAME, VR::LO, scanner.institution.as_deref());
    b.text(
        t::INSTITUTION_ADDRESS,
        VR::ST,
        scanner.institution_address.as_deref(),
    );
    b.text(t::STATION_NAME, VR::SH, scanner.station_name.as_deref());
    b.text(
        t::STUDY_DESCRIPTION,
        VR::LO,
        instance.description.as_deref(),
    );
    b.text(
        t::INSTITUTIONAL_DEPARTMENT_NAME,
        VR::LO,
        scanner.department.as_deref(),
    );
    b.text(t::MANUFACTURER_MODEL_NAME, VR::LO, scanner.model.as_deref());
    if let Some(id) = &conveyance.id {
        b.text(t::PATIENT_ID, VR::LO, Some(&id.value));
        b.text(t::ISSUER_OF_PATIENT_ID, VR::LO, id.issuer.as_deref());
        b.text(
            t::TYPE_OF_PATIENT_ID,
            VR::CS,
            id.id_type.as_ref().map(IdType::as_str),
        );
    }
    let mut others = Vec::new();
    for c in &conveyance.containers {
        let mut item = Builder::new();
        item.text(t::PATIENT_ID, VR::LO, Some(c.as_str()));
        item.text(t::ISSUER_OF_PATIENT_ID, VR::LO, Some(ISO_6346_ISSUER));
        item.text(t::TYPE_OF_PATIENT_ID, VR::CS, Some(IdType::Text.as_str()));
        others.push(item);
    }
    for o in &conveyance.other_ids {
        let mut item = Builder::new();
        item.text(t::PATIENT_ID, VR::LO, Some(&o.value));
        item.text(t::ISSUER_OF_PATIENT_ID, VR::LO, o.issuer.as_deref());
        item.text(
            t::TYPE_OF_PATIENT_ID,
            VR::CS,
            o.id_type.as_ref().map(IdType::as_str),
        );
        others.push(item);
    }
    b.seq(t::OTHER_PATIENT_I_DS_SEQUENCE, others);
    b.text(
        t::DEVICE_SERIAL_NUMBER,
        VR::LO,
        scanner.serial_number.as_deref(),
    );
    b.texts(t::SOFTWARE_VERSIONS, VR::LO, &scanner.software_versions);
    b.date_time(
        t::DATE_OF_LAST_CALIBRATION,
        t::TIME_OF_LAST_CALIBRATION,
        scanner.last_calibration.as_ref(),
    );
    b.uid(t::STUDY_INSTANCE_UID, Some(&instance.study_uid));
    b.uid(t::SERIES_INSTANCE_UID, Some(&instance.series_uid));
    b.text(t::STUDY_ID, VR::SH, instance.scan_id.as_deref());
    b.is(t::SERIES_NUMBER, instance.series_number);
    b.is(t::INSTANCE_NUMBER, instance.instance_number);
    b.uid(
        t::FRAME_OF_REFERENCE_UID,
        instance.frame_of_reference_uid.as_ref(),
    );
    b.text(t::DICOS_VERSION, VR::CS, Some(DICOS_VERSION));
    b.text(
        t::OOI_TYPE,
        VR::CS,
        conveyance.kind.as_ref().map(OoiType::as_str),
    );
}

fn rescale_attrs(b: &mut Builder, r: &Rescale) {
    b.ds(t::RESCALE_INTERCEPT, &[r.intercept]);
    b.ds(t::RESCALE_SLOPE, &[r.slope]);
    b.text(t::RESCALE_TYPE, VR::LO, r.unit.as_deref());
}

fn lut_attrs(b: &mut Builder, descriptor_tag: Tag, data_tag: Tag, lut: &Lut) {
    b.us(descriptor_tag, &lut.descriptor);
    b.put(
        data_tag,
        VR::OW,
        PrimitiveValue::U16(C::from_slice(&lut.data)),
    );
}

fn image_dataset(scan: &Scan) -> Builder {
    let image = &scan.image;
    let class = canonical_class(scan.sop_class);
    let mut b = Builder::new();
    common(
        &mut b,
        class,
        &scan.modality,
        &scan.instance,
        &scan.times,
        &scan.scanner,
        &scan.conveyance,
    );
    let total_frames = image
        .frames_per_channel
        .saturating_mul(u32::try_from(image.channels.len()).unwrap_or(u32::MAX));
    let multi_frame = total_frames > 1;

    let mut image_type = vec![
        if image.original {
            "ORIGINAL"
        } else {
            "DERIVED"
        }
        .to_string(),
    ];
    image_type.push(match image.channels.as_slice() {
        [one] => one.kind.as_str().to_string(),
        _ => "MULTI ENERGY".to_string(),
    });
    if let Some(flavor) = &image.flavor {
        image_type.push(flavor.as_str().to_string());
        image_type.push("NONE".to_string());
    }
    b.texts(t::IMAGE_TYPE, VR::CS, &image_type);
    let intent = image.presentation_intent.clone().or(match class {
        SopClass::DicosDxForProcessing => Some(PresentationIntent::ForProcessing),
        SopClass::DicosDxForPresentation => Some(PresentationIntent::ForPresentation),
        _ => None,
    });
    b.text(
        t::PRESENTATION_INTENT_TYPE,
        VR::CS,
        intent.as_ref().map(PresentationIntent::as_str),
    );
    if let Some(kvp) = scan.acquisition.kvp {
        b.ds(t::KVP, &[kvp]);
    }
    if let Some(ua) = scan.acquisition.tube_current_ua {
        b.ds(t::X_RAY_TUBE_CURRENT_INU_A, &[ua]);
    }
    let geometry = &image.geometry;
    if !multi_frame {
        if let Some(th) = geometry.slice_thickness_mm {
            b.ds(t::SLICE_THICKNESS, &[th]);
        }
        if let [p] = geometry.positions.as_slice() {
            b.ds(t::IMAGE_POSITION_PATIENT, p);
        }
        if let Some(o) = &geometry.orientation {
            b.ds(t::IMAGE_ORIENTATION_PATIENT, o);
        }
    }
    b.us(t::SAMPLES_PER_PIXEL, &[1]);
    b.text(
        t::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        Some(image.photometric.as_str()),
    );
    if multi_frame {
        b.is(t::NUMBER_OF_FRAMES, i32::try_from(total_frames).ok());
    }
    b.us(t::ROWS, &[image.rows]);
    b.us(t::COLUMNS, &[image.columns]);
    if let (Some(s), false) = (geometry.pixel_spacing, multi_frame) {
        b.ds(t::PIXEL_SPACING, &[s.row_mm, s.column_mm]);
    }
    let bits = image.bits_allocated();
    b.us(t::BITS_ALLOCATED, &[bits]);
    b.us(t::BITS_STORED, &[image.bits_stored]);
    b.us(t::HIGH_BIT, &[image.bits_stored.saturating_sub(1)]);
    b.us(t::PIXEL_REPRESENTATION, &[u16::from(image.signed)]);
    let p = &image.presentation;
    if !p.windows.is_empty() {
        b.ds(
            t::WINDOW_CENTER,
            &p.windows.iter().map(|w| w.center).collect::<Vec<_>>(),
        );
        b.ds(
            t::WINDOW_WIDTH,
            &p.windows.iter().map(|w| w.width).collect::<Vec<_>>(),
        );
    }
    if !multi_frame && let Some(r) = image.channels.first().and_then(|c| c.rescale.as_ref()) {
        rescale_attrs(&mut b, r);
    }
    b.text(
        t::WINDOW_CENTER_WIDTH_EXPLANATION,
        VR::LO,
        p.window_explanation.as_deref(),
    );
    if let Some(palette) = &p.palette {
        b.us(
            t::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            &palette.red.descriptor,
        );
        b.us(
            t::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            &palette.green.descriptor,
        );
        b.us(
            t::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            &palette.blue.descriptor,
        );
        b.put(
            t::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            VR::OW,
            PrimitiveValue::U16(C::from_slice(&palette.red.data)),
        );
        b.put(
            t::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            VR::OW,
            PrimitiveValue::U16(C::from_slice(&palette.green.data)),
        );
        b.put(
            t::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            VR::OW,
            PrimitiveValue::U16(C::from_slice(&palette.blue.data)),
        );
    }
    b.text(
        t::LOSSY_IMAGE_COMPRESSION,
        VR::CS,
        Some(if image.lossy_history { "01" } else { "00" }),
    );
    if let Some(lut) = &p.voi_lut {
        let mut item = Builder::new();
        lut_attrs(&mut item, t::LUT_DESCRIPTOR, t::LUT_DATA, lut);
        b.seq(t::VOILUT_SEQUENCE, vec![item]);
    }
    b.text(
        t::PRESENTATION_LUT_SHAPE,
        VR::CS,
        p.lut_shape.as_ref().map(LutShape::as_str),
    );
    b.text(
        t::ACQUISITION_STATUS,
        VR::CS,
        scan.acquisition
            .status
            .as_ref()
            .map(AcquisitionStatus::as_str),
    );
    b.text(
        t::SCAN_TYPE,
        VR::CS,
        scan.acquisition.scan_type.as_ref().map(ScanType::as_str),
    );

    if multi_frame {
        let mut shared = Builder::new();
        if geometry.pixel_spacing.is_some() || geometry.slice_thickness_mm.is_some() {
            let mut m = Builder::new();
            if let Some(s) = geometry.pixel_spacing {
                m.ds(t::PIXEL_SPACING, &[s.row_mm, s.column_mm]);
            }
            if let Some(th) = geometry.slice_thickness_mm {
                m.ds(t::SLICE_THICKNESS, &[th]);
            }
            shared.seq(t::PIXEL_MEASURES_SEQUENCE, vec![m]);
        }
        if let Some(o) = &geometry.orientation {
            let mut m = Builder::new();
            m.ds(t::IMAGE_ORIENTATION_PATIENT, o);
            shared.seq(t::PLANE_ORIENTATION_SEQUENCE, vec![m]);
        }
        let single_channel = image.channels.len() == 1;
        if single_channel && let Some(r) = image.channels.first().and_then(|c| c.rescale.as_ref()) {
            let mut m = Builder::new();
            rescale_attrs(&mut m, r);
            shared.seq(t::PIXEL_VALUE_TRANSFORMATION_SEQUENCE, vec![m]);
        }
        b.seq(t::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![shared]);
        let per_channel_positions =
            usize::try_from(image.frames_per_channel).unwrap_or(0) == geometry.positions.len();
        let mut frames = Vec::new();
        for c in &image.channels {
            for f in 0..usize::try_from(image.frames_per_channel).unwrap_or(0) {
                let mut item = Builder::new();
                let mut content = Builder::new();
                content.text(t::FRAME_LABEL, VR::LO, Some(c.kind.as_str()));
                item.seq(t::FRAME_CONTENT_SEQUENCE, vec![content]);
                if per_channel_positions && let Some(pos) = geometry.positions.get(f) {
                    let mut m = Builder::new();
                    m.ds(t::IMAGE_POSITION_PATIENT, pos);
                    item.seq(t::PLANE_POSITION_SEQUENCE, vec![m]);
                }
                if !single_channel && let Some(r) = &c.rescale {
                    let mut m = Builder::new();
                    rescale_attrs(&mut m, r);
                    item.seq(t::PIXEL_VALUE_TRANSFORMATION_SEQUENCE, vec![m]);
                }

                frames.push(item);
            }
        }
        b.seq(t::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, frames);
    }
    b
}

fn reference_item(r: &Reference) -> Builder {
    let mut b = Builder::new();
    b.uid(t::REFERENCED_SOP_CLASS_UID, Some(&r.sop_class_uid));
    b.uid(t::REFERENCED_SOP_INSTANCE_UID, Some(&r.sop_instance_uid));
    b
}

fn report_dataset(r: &ThreatReport) -> Builder {
    let mut b = Builder::new();
    common(
        &mut b,
        SopClass::DicosTdr,
        &Modality::Tdr,
        &r.instance,
        &r.times,
        &r.scanner,
        &r.conveyance,
    );
    b.seq(
        t::REFERENCED_STUDY_SEQUENCE,
        r.references.iter().map(reference_item).collect(),
    );
    let mut threats = Vec::new();
    for threat in &r.threats {
        let mut item = Builder::new();
        item.us(t::POTENTIAL_THREAT_OBJECT_ID, &[threat.id]);
        let mut regions = Vec::new();
        for region in &threat.regions {
            let mut rb = Builder::new();
            rb.seq(
                t::REFERENCED_INSTANCE_SEQUENCE,
                region.references.iter().map(reference_item).collect(),
            );
            if region.base.is_some() || region.extents.is_some() || region.bitmap.is_some() {
                let mut roi = Builder::new();
                if let Some(base) = &region.base {
                    roi.fl(t::THREAT_ROI_BASE, base);
                }
                if let Some(ext) = &region.extents {
                    roi.fl(t::THREAT_ROI_EXTENTS, ext);
                }
                if let Some(bitmap) = &region.bitmap {
                    roi.put(
                        t::THREAT_ROI_BITMAP,
                        VR::OB,
                        PrimitiveValue::U8(C::from_slice(bitmap)),
                    );
                }
                rb.seq(t::THREAT_ROI_VOXEL_SEQUENCE, vec![roi]);
            }
            rb.fl(t::MASS, &region.mass_g.into_iter().collect::<Vec<_>>());
            rb.fl(t::DENSITY, &region.density.into_iter().collect::<Vec<_>>());
            rb.fl(
                t::Z_EFFECTIVE,
                &region.z_effective.into_iter().collect::<Vec<_>>(),
            );
            rb.fl(t::BOUNDING_POLYGON, &region.bounding_polygon);
            rb.text(
                t::PTO_LOCATION_DESCRIPTION,
                VR::ST,
                region.location.as_deref(),
            );
            regions.push(rb);
        }
        item.seq(t::PTO_REPRESENTATION_SEQUENCE, regions);
        let mut assessments = Vec::new();
        for a in &threat.assessments {
            let mut ab = Builder::new();
            ab.text(
                t::THREAT_CATEGORY,
                VR::CS,
                a.category.as_ref().map(ThreatCategory::as_str),
            );
            ab.text(
                t::THREAT_CATEGORY_DESCRIPTION,
                VR::LT,
                a.description.as_deref(),
            );
            ab.text(
                t::ATD_ABILITY_ASSESSMENT,
                VR::CS,
                a.ability.as_ref().map(AbilityAssessment::as_str),
            );
            ab.text(
                t::ATD_ASSESSMENT_FLAG,
                VR::CS,
                a.flag.as_ref().map(AssessmentFlag::as_str),
            );
            ab.fl(
                t::ATD_ASSESSMENT_PROBABILITY,
                &a.probability.into_iter().collect::<Vec<_>>(),
            );
            assessments.push(ab);
        }
        item.seq(t::ATD_ASSESSMENT_SEQUENCE, assessments);
        threats.push(item);
    }
    let alarms = r
        .threats
        .iter()
        .filter(|th| {
            th.assessments.iter().any(|a| {
                matches!(
                    a.flag,
                    Some(AssessmentFlag::Threat | AssessmentFlag::HighThreat)
                )
            })
        })
        .count();
    let total = u16::try_from(r.threats.len()).unwrap_or(u16::MAX);
    b.seq(t::THREAT_SEQUENCE, threats);
    b.text(
        t::ABORT_FLAG,
        VR::CS,
        r.abort.as_ref().map(AbortFlag::as_str),
    );
    b.text(t::TDR_TYPE, VR::CS, Some(r.tdr_type.as_str()));
    b.texts(
        t::THREAT_DETECTION_ALGORITHM_AND_VERSION,
        VR::LO,
        &r.algorithm,
    );
    b.dt(t::ALARM_DECISION_TIME, r.alarm_time.as_ref());
    b.text(
        t::ALARM_DECISION,
        VR::CS,
        r.alarm.as_ref().map(AlarmDecision::as_str),
    );
    b.us(t::NUMBER_OF_TOTAL_OBJECTS, &[total]);
    b.us(
        t::NUMBER_OF_ALARM_OBJECTS,
        &[u16::try_from(alarms).unwrap_or(u16::MAX)],
    );
    b.fl(
        t::TOTAL_PROCESSING_TIME,
        &r.processing_time_ms.into_iter().collect::<Vec<_>>(),
    );
    b.fd(t::IMAGE_SCALE_REPRESENTATION, r.image_scale);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_sixteen_characters() {
        for v in [
            0.0,
            5.0,
            1.25,
            0.01,
            -1234.5678,
            1.0 / 3.0,
            1e-20,
            6.02214076e23,
            -9.87654321e-7,
        ] {
            let s = ds(v);
            assert!(s.len() <= 16, "{v} -> {s}");
            let back: f64 = s.parse().unwrap();
            assert!((back - v).abs() <= v.abs() * 1e-6 + 1e-30, "{v} -> {s}");
        }
    }
}
