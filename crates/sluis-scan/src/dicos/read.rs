//! From checked bytes to the typed model, through dicom-rs.
//!
//! Only allow-listed top-level elements are handed to dicom-rs: their raw bytes, as the
//! structure check delimited them, are concatenated and parsed with
//! `InMemDicomObject::read_dataset_with_ts`. Private tags, overlays, embedded documents and
//! everything else never reach it. The typed model is then read through [`Attrs`], which records
//! what was consumed so that everything else can be reported as dropped.

use dicom_core::Tag;
use dicom_dictionary_std::tags as t;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;

use super::attrs::Attrs;
use crate::limits::Limits;
use crate::model::*;
use crate::pixels::PixelSpec;
use crate::preflight::{Source, Structure};
use crate::refusal::{Location, Refusal, Rule};
use crate::syntax::SopClass;

/// Top-level attributes every canonical instance carries.
pub(crate) const COMMON_TAGS: &[Tag] = &[
    t::SPECIFIC_CHARACTER_SET,
    t::INSTANCE_CREATION_DATE,
    t::INSTANCE_CREATION_TIME,
    t::SOP_CLASS_UID,
    t::SOP_INSTANCE_UID,
    t::STUDY_DATE,
    t::SERIES_DATE,
    t::CONTENT_DATE,
    t::ACQUISITION_DATE_TIME,
    t::STUDY_TIME,
    t::SERIES_TIME,
    t::CONTENT_TIME,
    t::MODALITY,
    t::MANUFACTURER,
    t::INSTITUTION_NAME,
    t::INSTITUTION_ADDRESS,
    t::STATION_NAME,
    t::STUDY_DESCRIPTION,
    t::INSTITUTIONAL_DEPARTMENT_NAME,
    t::MANUFACTURER_MODEL_NAME,
    t::PATIENT_ID,
    t::ISSUER_OF_PATIENT_ID,
    t::TYPE_OF_PATIENT_ID,
    t::OTHER_PATIENT_I_DS_SEQUENCE,
    t::DEVICE_SERIAL_NUMBER,
    t::SOFTWARE_VERSIONS,
    t::DATE_OF_LAST_CALIBRATION,
    t::TIME_OF_LAST_CALIBRATION,
    t::STUDY_INSTANCE_UID,
    t::SERIES_INSTANCE_UID,
    t::STUDY_ID,
    t::SERIES_NUMBER,
    t::INSTANCE_NUMBER,
    t::FRAME_OF_REFERENCE_UID,
    t::DICOS_VERSION,
    t::OOI_TYPE,
];

/// Top-level attributes of image instances (DX and CT).
pub(crate) const IMAGE_TAGS: &[Tag] = &[
    t::IMAGE_TYPE,
    t::PRESENTATION_INTENT_TYPE,
    t::SLICE_THICKNESS,
    t::KVP,
    t::IMAGER_PIXEL_SPACING,
    t::X_RAY_TUBE_CURRENT_INU_A,
    t::IMAGE_POSITION_PATIENT,
    t::IMAGE_ORIENTATION_PATIENT,
    t::SAMPLES_PER_PIXEL,
    t::PHOTOMETRIC_INTERPRETATION,
    t::NUMBER_OF_FRAMES,
    t::ROWS,
    t::COLUMNS,
    t::PIXEL_SPACING,
    t::BITS_ALLOCATED,
    t::BITS_STORED,
    t::HIGH_BIT,
    t::PIXEL_REPRESENTATION,
    t::WINDOW_CENTER,
    t::WINDOW_WIDTH,
    t::RESCALE_INTERCEPT,
    t::RESCALE_SLOPE,
    t::RESCALE_TYPE,
    t::WINDOW_CENTER_WIDTH_EXPLANATION,
    t::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
    t::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
    t::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
    t::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    t::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    t::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    t::LOSSY_IMAGE_COMPRESSION,
    t::VOILUT_SEQUENCE,
    t::PRESENTATION_LUT_SHAPE,
    t::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
    t::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
    t::ACQUISITION_STATUS,
    t::SCAN_TYPE,
];

/// Top-level attributes of threat detection reports.
pub(crate) const REPORT_TAGS: &[Tag] = &[
    t::REFERENCED_STUDY_SEQUENCE,
    t::THREAT_SEQUENCE,
    t::ABORT_FLAG,
    t::TDR_TYPE,
    t::THREAT_DETECTION_ALGORITHM_AND_VERSION,
    t::ALARM_DECISION_TIME,
    t::ALARM_DECISION,
    t::NUMBER_OF_TOTAL_OBJECTS,
    t::NUMBER_OF_ALARM_OBJECTS,
    t::TOTAL_PROCESSING_TIME,
    t::IMAGE_SCALE_REPRESENTATION,
];

/// True when `tag` may be handed to dicom-rs for an instance of `class`.
pub(crate) fn allowed(tag: Tag, class: SopClass) -> bool {
    COMMON_TAGS.contains(&tag)
        || if class.is_image() {
            IMAGE_TAGS.contains(&tag)
        } else {
            REPORT_TAGS.contains(&tag)
        }
}

/// Hands the allow-listed top-level elements to dicom-rs.
pub(crate) fn decode_attributes(
    structure: &Structure<'_>,
    class: SopClass,
) -> Result<InMemDicomObject, Refusal> {
    let mut bytes = Vec::new();
    for e in structure.top_level() {
        if e.tag != crate::preflight::PIXEL_DATA && allowed(e.tag, class) {
            bytes.extend_from_slice(
                structure
                    .dataset
                    .bytes(e.header_start..e.end)
                    .unwrap_or_default(),
            );
        }
    }
    let uid = structure.syntax.dataset_syntax_uid();
    let ts = dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(uid)
        .ok_or_else(|| {
            Refusal::internal(
                Rule::DatasetDecode,
                Location::default(),
                format!("dicom-rs does not know {uid}"),
            )
        })?;
    // The bytes passed the structure check, so dicom-rs sees bounded lengths and nesting; a panic
    // inside it is still turned into a refusal rather than a crash.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        InMemDicomObject::read_dataset_with_ts(bytes.as_slice(), ts)
    }))
    .map_err(|_| {
        Refusal::internal(
            Rule::DatasetDecode,
            Location::default(),
            "dicom-rs panicked on checked input",
        )
    })?;
    parsed.map_err(|e| {
        Refusal::sender(
            Rule::DatasetDecode,
            Location::default(),
            format!("dicom-rs could not decode the allow-listed attributes: {e}"),
        )
    })
}

pub(crate) fn instance(a: &Attrs<'_>) -> Result<Instance, Refusal> {
    Ok(Instance {
        sop_instance_uid: a.req_uid(t::SOP_INSTANCE_UID, "SOP Instance UID")?,
        study_uid: a.req_uid(t::STUDY_INSTANCE_UID, "Study Instance UID")?,
        series_uid: a.req_uid(t::SERIES_INSTANCE_UID, "Series Instance UID")?,
        frame_of_reference_uid: a.uid(t::FRAME_OF_REFERENCE_UID),
        scan_id: a.text(t::STUDY_ID, 16),
        instance_number: a.int(t::INSTANCE_NUMBER),
        series_number: a.int(t::SERIES_NUMBER),
        description: a.text(t::STUDY_DESCRIPTION, 64),
    })
}

pub(crate) fn times(a: &Attrs<'_>) -> Times {
    Times {
        created: a.date_time(t::INSTANCE_CREATION_DATE, t::INSTANCE_CREATION_TIME),
        study: a.date_time(t::STUDY_DATE, t::STUDY_TIME),
        series: a.date_time(t::SERIES_DATE, t::SERIES_TIME),
        content: a.date_time(t::CONTENT_DATE, t::CONTENT_TIME),
        acquired: a.dt(t::ACQUISITION_DATE_TIME),
    }
}

pub(crate) fn scanner(a: &Attrs<'_>) -> Scanner {
    Scanner {
        manufacturer: a.text(t::MANUFACTURER, 64),
        model: a.text(t::MANUFACTURER_MODEL_NAME, 64),
        serial_number: a.text(t::DEVICE_SERIAL_NUMBER, 64),
        station_name: a.text(t::STATION_NAME, 16),
        software_versions: a.texts(t::SOFTWARE_VERSIONS, 64),
        institution: a.text(t::INSTITUTION_NAME, 64),
        institution_address: a.long_text(t::INSTITUTION_ADDRESS, 1024),
        department: a.text(t::INSTITUTIONAL_DEPARTMENT_NAME, 64),
        last_calibration: a.date_time(t::DATE_OF_LAST_CALIBRATION, t::TIME_OF_LAST_CALIBRATION),
    }
}

pub(crate) fn conveyance(a: &Attrs<'_>) -> Conveyance {
    let id = a.text(t::PATIENT_ID, 64).map(|value| ObjectId {
        value,
        issuer: a.text(t::ISSUER_OF_PATIENT_ID, 64),
        id_type: a.code(t::TYPE_OF_PATIENT_ID, IdType::parse),
    });
    let mut containers = Vec::new();
    let mut other_ids = Vec::new();
    for item in a.items(t::OTHER_PATIENT_I_DS_SEQUENCE) {
        let Some(value) = item.text(t::PATIENT_ID, 64) else {
            continue;
        };
        let issuer = item.text(t::ISSUER_OF_PATIENT_ID, 64);
        let id_type = item.code(t::TYPE_OF_PATIENT_ID, IdType::parse);
        if issuer.as_deref() == Some(ISO_6346_ISSUER) {
            containers.push(ContainerId::from_reported(&value));
        } else {
            other_ids.push(ObjectId {
                value,
                issuer,
                id_type,
            });
        }
    }
    // The DICOS version is recomputed on output; reading it marks it as handled.
    let _ = a.text(t::DICOS_VERSION, 16);
    Conveyance {
        kind: a.code(t::OOI_TYPE, OoiType::parse),
        id,
        containers,
        other_ids,
    }
}

/// The image header: everything but the pixels, and what the pixel decoder must check.
pub(crate) struct ImageHeader {
    pub scan: Scan,
    pub spec: PixelSpec,
    /// Frames per channel, in storage order.
    pub channel_frames: Vec<u32>,
}

/// Reads the image attributes of `class` and checks its geometry against `limits`.
pub(crate) fn image_header(
    a: &Attrs<'_>,
    class: SopClass,
    limits: &Limits,
) -> Result<ImageHeader, Refusal> {
    let refuse = |rule: Rule, tag: Tag, detail: String| {
        Refusal::sender(rule, Location::element(a.path_of(tag)), detail)
    };
    let rows: u16 = a.req_int(t::ROWS, "Rows")?;
    let columns: u16 = a.req_int(t::COLUMNS, "Columns")?;
    let frames: u32 = if a.has(t::NUMBER_OF_FRAMES) {
        a.req_int(t::NUMBER_OF_FRAMES, "Number of Frames")?
    } else {
        1
    };
    if rows == 0 || columns == 0 || frames == 0 {
        return Err(refuse(
            Rule::ImageDimensions,
            t::ROWS,
            format!("{rows} x {columns} x {frames} frames: no pixels"),
        ));
    }
    let pixels = u64::from(rows) * u64::from(columns) * u64::from(frames);
    if u32::from(rows) > limits.max_rows
        || u32::from(columns) > limits.max_columns
        || frames > limits.max_frames
        || pixels > limits.max_pixels
    {
        return Err(refuse(
            Rule::ImageDimensions,
            t::ROWS,
            format!(
                "{rows} x {columns} x {frames} frames ({pixels} pixels) exceeds the configured limits \
                 ({} rows, {} columns, {} frames, {} pixels)",
                limits.max_rows, limits.max_columns, limits.max_frames, limits.max_pixels
            ),
        ));
    }
    let samples: u16 = a.req_int(t::SAMPLES_PER_PIXEL, "Samples per Pixel")?;
    if samples != 1 {
        return Err(refuse(
            Rule::PixelFormat,
            t::SAMPLES_PER_PIXEL,
            format!("{samples} samples per pixel; DICOS images have 1"),
        ));
    }
    let bits_allocated: u16 = a.req_int(t::BITS_ALLOCATED, "Bits Allocated")?;
    let bits_stored: u16 = a.req_int(t::BITS_STORED, "Bits Stored")?;
    let high_bit: u16 = a.req_int(t::HIGH_BIT, "High Bit")?;
    let representation: u16 = a.req_int(t::PIXEL_REPRESENTATION, "Pixel Representation")?;
    if bits_allocated != 8 && bits_allocated != 16 {
        return Err(refuse(
            Rule::PixelFormat,
            t::BITS_ALLOCATED,
            format!("{bits_allocated} bits allocated; 8 or 16 accepted"),
        ));
    }
    if bits_stored == 0
        || bits_stored > bits_allocated
        || high_bit.checked_add(1) != Some(bits_stored)
    {
        return Err(refuse(
            Rule::PixelFormat,
            t::BITS_STORED,
            format!(
                "bits stored {bits_stored}, high bit {high_bit} with {bits_allocated} allocated: high bit must be bits stored - 1"
            ),
        ));
    }
    if representation > 1 {
        return Err(refuse(
            Rule::PixelFormat,
            t::PIXEL_REPRESENTATION,
            format!("pixel representation {representation}"),
        ));
    }
    let photometric = a
        .code(t::PHOTOMETRIC_INTERPRETATION, Photometric::parse)
        .ok_or_else(|| {
            refuse(
                Rule::PixelFormat,
                t::PHOTOMETRIC_INTERPRETATION,
                "photometric interpretation must be MONOCHROME1, MONOCHROME2 or PALETTE COLOR"
                    .into(),
            )
        })?;

    let image_type = a.codes(t::IMAGE_TYPE);
    let original = image_type.first().is_none_or(|v| v != "DERIVED");
    let single_kind = image_type
        .get(1)
        .and_then(|v| ChannelKind::parse(v))
        .unwrap_or(ChannelKind::Intensity);
    let flavor = image_type.get(2).and_then(|v| ImageFlavor::parse(v));

    let shared = a.item(t::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let per_frame = a.items(t::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    if !per_frame.is_empty() && per_frame.len() != usize::try_from(frames).unwrap_or(usize::MAX) {
        return Err(refuse(
            Rule::InvalidAttribute,
            t::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            format!("{} per-frame items for {frames} frames", per_frame.len()),
        ));
    }
    let top_rescale = rescale(a);
    let shared_rescale = shared
        .as_ref()
        .and_then(|s| s.item(t::PIXEL_VALUE_TRANSFORMATION_SEQUENCE))
        .and_then(|p| rescale(&p));

    // Frame labels name each frame's channel in sluis's multi-energy layout.
    let labels: Vec<Option<ChannelKind>> = per_frame
        .iter()
        .map(|f| {
            f.item(t::FRAME_CONTENT_SEQUENCE)
                .and_then(|c| c.code(t::FRAME_LABEL, ChannelKind::parse))
        })
        .collect();
    let frame_rescales: Vec<Option<Rescale>> = per_frame
        .iter()
        .map(|f| {
            f.item(t::PIXEL_VALUE_TRANSFORMATION_SEQUENCE)
                .and_then(|p| rescale(&p))
        })
        .collect();
    // Per-frame positions count only when every frame has one; a partial set would shift
    // slices against each other.
    let frame_positions: Vec<Option<[f64; 3]>> = per_frame
        .iter()
        .map(|f| {
            f.item(t::PLANE_POSITION_SEQUENCE)
                .and_then(|p| p.f64s(t::IMAGE_POSITION_PATIENT, Some(3)))
                .and_then(|v| <[f64; 3]>::try_from(v).ok())
        })
        .collect();
    let positions: Vec<[f64; 3]> = if frame_positions.iter().all(Option::is_some) {
        frame_positions.into_iter().flatten().collect()
    } else {
        if frame_positions.iter().any(Option::is_some) {
            a.invalid(
                t::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
                "plane positions are missing for some frames; all are dropped".into(),
            );
        }
        Vec::new()
    };

    let mut channels_plan: Vec<(ChannelKind, u32, Option<Rescale>)> = Vec::new();
    if !labels.is_empty() && labels.iter().all(Option::is_some) {
        for (i, label) in labels.iter().enumerate() {
            let kind = label.clone().unwrap_or(ChannelKind::Intensity);
            match channels_plan.last_mut() {
                Some((k, n, _)) if *k == kind => *n = n.saturating_add(1),
                _ => {
                    if channels_plan.iter().any(|(k, _, _)| *k == kind) {
                        return Err(refuse(
                            Rule::InvalidAttribute,
                            t::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
                            format!("frames of channel {kind} are not contiguous"),
                        ));
                    }
                    let r = frame_rescales
                        .get(i)
                        .cloned()
                        .flatten()
                        .or_else(|| shared_rescale.clone())
                        .or_else(|| top_rescale.clone());
                    channels_plan.push((kind, 1, r));
                }
            }
        }
        let first = channels_plan.first().map_or(0, |c| c.1);
        if channels_plan.iter().any(|c| c.1 != first) {
            return Err(refuse(
                Rule::InvalidAttribute,
                t::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
                "channels have different frame counts".into(),
            ));
        }
    } else {
        let r = frame_rescales
            .first()
            .cloned()
            .flatten()
            .or(shared_rescale)
            .or(top_rescale);
        channels_plan.push((single_kind, frames, r));
    }
    let frames_per_channel = channels_plan.first().map_or(frames, |c| c.1);

    let pixel_measures = shared
        .as_ref()
        .and_then(|s| s.item(t::PIXEL_MEASURES_SEQUENCE));
    let spacing = a
        .f64s(t::PIXEL_SPACING, Some(2))
        .or_else(|| a.f64s(t::IMAGER_PIXEL_SPACING, Some(2)))
        .or_else(|| {
            pixel_measures
                .as_ref()
                .and_then(|m| m.f64s(t::PIXEL_SPACING, Some(2)))
        })
        .and_then(|v| match v.as_slice() {
            [r, c] if *r > 0.0 && *c > 0.0 => Some(PixelSpacing {
                row_mm: *r,
                column_mm: *c,
            }),
            _ => None,
        });
    let slice_thickness_mm = a.f64(t::SLICE_THICKNESS).or_else(|| {
        pixel_measures
            .as_ref()
            .and_then(|m| m.f64(t::SLICE_THICKNESS))
    });
    let orientation = a
        .f64s(t::IMAGE_ORIENTATION_PATIENT, Some(6))
        .or_else(|| {
            shared
                .as_ref()
                .and_then(|s| s.item(t::PLANE_ORIENTATION_SEQUENCE))
                .and_then(|o| o.f64s(t::IMAGE_ORIENTATION_PATIENT, Some(6)))
        })
        .and_then(|v| <[f64; 6]>::try_from(v).ok());
    let positions = if positions.is_empty() {
        a.f64s(t::IMAGE_POSITION_PATIENT, Some(3))
            .and_then(|v| <[f64; 3]>::try_from(v).ok())
            .into_iter()
            .collect()
    } else {
        positions
            .into_iter()
            .take(usize::try_from(frames_per_channel).unwrap_or(usize::MAX))
            .collect()
    };

    let presentation = presentation(a, photometric == Photometric::PaletteColor)?;
    if photometric == Photometric::PaletteColor && representation != 0 {
        return Err(refuse(
            Rule::PixelFormat,
            t::PIXEL_REPRESENTATION,
            "a palette colour image must be unsigned".into(),
        ));
    }
    // The DX classes state their intent; an absent attribute takes the class's.
    let intent = a
        .code(t::PRESENTATION_INTENT_TYPE, PresentationIntent::parse)
        .or(match class {
            SopClass::DicosDxForProcessing | SopClass::DxForProcessing => {
                Some(PresentationIntent::ForProcessing)
            }
            SopClass::DicosDxForPresentation | SopClass::DxForPresentation => {
                Some(PresentationIntent::ForPresentation)
            }
            _ => None,
        });

    let lossy_history = a.text(t::LOSSY_IMAGE_COMPRESSION, 2).as_deref() == Some("01");
    let modality = a.code(t::MODALITY, Modality::parse).unwrap_or(match class {
        SopClass::DicosCt => Modality::Ct,
        _ => Modality::Dx,
    });
    let acquisition = Acquisition {
        status: a.code(t::ACQUISITION_STATUS, AcquisitionStatus::parse),
        scan_type: a.code(t::SCAN_TYPE, ScanType::parse),
        kvp: a.f64(t::KVP),
        tube_current_ua: a.f64(t::X_RAY_TUBE_CURRENT_INU_A),
    };
    let scan = Scan {
        sop_class: class,
        modality,
        instance: instance(a)?,
        times: times(a),
        scanner: scanner(a),
        conveyance: conveyance(a),
        acquisition,
        image: Image {
            rows,
            columns,
            frames_per_channel,
            bits_stored,
            signed: representation == 1,
            photometric,
            original,
            flavor,
            presentation_intent: intent,
            lossy_history,
            channels: Vec::new(),
            geometry: Geometry {
                pixel_spacing: spacing,
                slice_thickness_mm,
                orientation,
                positions,
            },
            presentation,
        },
        reports: Vec::new(),
    };
    let channel_frames = channels_plan.iter().map(|c| c.1).collect();
    let mut scan = scan;
    scan.image.channels = channels_plan
        .into_iter()
        .map(|(kind, _, rescale)| Channel {
            kind,
            rescale,
            samples: if bits_allocated == 8 {
                Samples::U8(Vec::new())
            } else {
                Samples::U16(Vec::new())
            },
        })
        .collect();
    Ok(ImageHeader {
        scan,
        spec: PixelSpec {
            rows,
            columns,
            frames,
            bits_allocated,
            bits_stored,
            signed: representation == 1,
        },
        channel_frames,
    })
}

fn rescale(a: &Attrs<'_>) -> Option<Rescale> {
    let slope = a.f64(t::RESCALE_SLOPE);
    let intercept = a.f64(t::RESCALE_INTERCEPT);
    let unit = a.text(t::RESCALE_TYPE, 64);
    let slope = slope.unwrap_or(1.0);
    let intercept = intercept.unwrap_or(0.0);
    if slope == 1.0 && intercept == 0.0 && unit.is_none() {
        return None;
    }
    if slope == 0.0 {
        return None;
    }
    Some(Rescale {
        slope,
        intercept,
        unit,
    })
}

/// The most LUT entries accepted (a 16-bit LUT).
const MAX_LUT_ENTRIES: usize = 65_536;

fn lut_descriptor(a: &Attrs<'_>, tag: Tag) -> Option<[u16; 3]> {
    // The first-mapped value is US or SS; read wide and keep the 16 bits.
    let v = a.ints::<i64>(tag)?;
    let to16 = |x: i64| {
        u16::try_from(x).ok().or_else(|| {
            i16::try_from(x)
                .ok()
                .map(|s| s.to_ne_bytes())
                .map(u16::from_ne_bytes)
        })
    };
    match v.as_slice() {
        [n, first, bits] => Some([to16(*n)?, to16(*first)?, to16(*bits)?]),
        _ => None,
    }
}

fn lut(a: &Attrs<'_>, descriptor_tag: Tag, data_tag: Tag) -> Option<Lut> {
    let descriptor = lut_descriptor(a, descriptor_tag)?;
    let data = a.words(data_tag, MAX_LUT_ENTRIES)?;
    let entries = if descriptor[0] == 0 {
        MAX_LUT_ENTRIES
    } else {
        usize::from(descriptor[0])
    };
    // 8-bit palette entries may be packed two to a word.
    let packed = descriptor[2] == 8 && data.len().saturating_mul(2) == entries;
    (data.len() == entries || packed).then_some(Lut { descriptor, data })
}

fn presentation(a: &Attrs<'_>, palette_required: bool) -> Result<Presentation, Refusal> {
    let centers = a.f64s(t::WINDOW_CENTER, None).unwrap_or_default();
    let widths = a.f64s(t::WINDOW_WIDTH, None).unwrap_or_default();
    let windows = centers
        .iter()
        .zip(widths.iter())
        .filter(|(_, w)| **w >= 1.0)
        .map(|(&center, &width)| Window { center, width })
        .collect();
    let voi_lut = a
        .item(t::VOILUT_SEQUENCE)
        .and_then(|item| lut(&item, t::LUT_DESCRIPTOR, t::LUT_DATA));
    let palette = match (
        lut(
            a,
            t::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            t::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        ),
        lut(
            a,
            t::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            t::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        ),
        lut(
            a,
            t::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            t::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        ),
    ) {
        (Some(red), Some(green), Some(blue)) => Some(Palette { red, green, blue }),
        _ => None,
    };
    if palette_required && palette.is_none() {
        return Err(Refusal::sender(
            Rule::MissingAttribute,
            Location::element("(0028,1101)"),
            "a PALETTE COLOR image needs complete red, green and blue palettes",
        ));
    }
    Ok(Presentation {
        windows,
        window_explanation: a.text(t::WINDOW_CENTER_WIDTH_EXPLANATION, 64),
        voi_lut,
        palette,
        lut_shape: a.code(t::PRESENTATION_LUT_SHAPE, LutShape::parse),
    })
}

fn reference(a: &Attrs<'_>) -> Option<Reference> {
    Some(Reference {
        sop_class_uid: a.uid(t::REFERENCED_SOP_CLASS_UID)?,
        sop_instance_uid: a.uid(t::REFERENCED_SOP_INSTANCE_UID)?,
    })
}

fn array3(v: Option<Vec<f32>>) -> Option<[f32; 3]> {
    v.and_then(|v| <[f32; 3]>::try_from(v).ok())
}

/// The largest ROI bitmap accepted, in bytes.
const MAX_BITMAP_BYTES: usize = 64 * 1024 * 1024;

fn threat(a: &Attrs<'_>) -> Option<Threat> {
    let id = a.int::<u16>(t::POTENTIAL_THREAT_OBJECT_ID)?;
    let regions = a
        .items(t::PTO_REPRESENTATION_SEQUENCE)
        .iter()
        .map(|r| {
            let roi = r.item(t::THREAT_ROI_VOXEL_SEQUENCE);
            ThreatRegion {
                references: r
                    .items(t::REFERENCED_INSTANCE_SEQUENCE)
                    .iter()
                    .filter_map(reference)
                    .collect(),
                base: roi
                    .as_ref()
                    .and_then(|v| array3(v.f32s(t::THREAT_ROI_BASE, Some(3)))),
                extents: roi
                    .as_ref()
                    .and_then(|v| array3(v.f32s(t::THREAT_ROI_EXTENTS, Some(3)))),
                bitmap: roi
                    .as_ref()
                    .and_then(|v| v.bytes(t::THREAT_ROI_BITMAP, MAX_BITMAP_BYTES)),
                mass_g: r.f32(t::MASS),
                density: r.f32(t::DENSITY),
                z_effective: r.f32(t::Z_EFFECTIVE),
                bounding_polygon: r.f32s(t::BOUNDING_POLYGON, None).unwrap_or_default(),
                location: r.long_text(t::PTO_LOCATION_DESCRIPTION, 1024),
            }
        })
        .collect();
    let assessments = a
        .items(t::ATD_ASSESSMENT_SEQUENCE)
        .iter()
        .map(|s| Assessment {
            category: s.code(t::THREAT_CATEGORY, ThreatCategory::parse),
            description: s.long_text(t::THREAT_CATEGORY_DESCRIPTION, 10_240),
            ability: s.code(t::ATD_ABILITY_ASSESSMENT, AbilityAssessment::parse),
            flag: s.code(t::ATD_ASSESSMENT_FLAG, AssessmentFlag::parse),
            probability: s
                .f32(t::ATD_ASSESSMENT_PROBABILITY)
                .filter(|p| (0.0..=1.0).contains(p)),
        })
        .collect();
    Some(Threat {
        id,
        regions,
        assessments,
    })
}

/// Reads a threat detection report.
pub(crate) fn threat_report(a: &Attrs<'_>) -> Result<ThreatReport, Refusal> {
    let tdr_type = a.code(t::TDR_TYPE, TdrType::parse).ok_or_else(|| {
        Refusal::sender(
            Rule::MissingAttribute,
            Location::element(a.path_of(t::TDR_TYPE)),
            "TDR Type must be MACHINE, OPERATOR or GROUND_TRUTH",
        )
    })?;
    let threats: Vec<Threat> = a
        .items(t::THREAT_SEQUENCE)
        .iter()
        .filter_map(threat)
        .collect();
    // A report's modality is always TDR, and its object counts are derived from the threat
    // sequence on output; reading them marks them as handled.
    let _ = a.code(t::MODALITY, Modality::parse);
    let _ = a.int::<u16>(t::NUMBER_OF_TOTAL_OBJECTS);
    let _ = a.int::<u16>(t::NUMBER_OF_ALARM_OBJECTS);
    Ok(ThreatReport {
        instance: instance(a)?,
        times: times(a),
        scanner: scanner(a),
        conveyance: conveyance(a),
        tdr_type,
        alarm: a.code(t::ALARM_DECISION, AlarmDecision::parse),
        alarm_time: a.dt(t::ALARM_DECISION_TIME),
        abort: a.code(t::ABORT_FLAG, AbortFlag::parse),
        algorithm: a.texts(t::THREAT_DETECTION_ALGORITHM_AND_VERSION, 64),
        processing_time_ms: a.f32(t::TOTAL_PROCESSING_TIME),
        image_scale: a.f64(t::IMAGE_SCALE_REPRESENTATION),
        references: a
            .items(t::REFERENCED_STUDY_SEQUENCE)
            .iter()
            .filter_map(reference)
            .collect(),
        threats,
    })
}

/// Reads the common identity used to cross-check the file meta group.
pub(crate) fn sop_uids(a: &Attrs<'_>) -> Result<(String, Uid), Refusal> {
    let class = a.text(t::SOP_CLASS_UID, 64).ok_or_else(|| {
        Refusal::sender(
            Rule::MissingAttribute,
            Location::element("(0008,0016)"),
            "SOP Class UID is required",
        )
    })?;
    let instance = a.req_uid(t::SOP_INSTANCE_UID, "SOP Instance UID")?;
    Ok((class, instance))
}
