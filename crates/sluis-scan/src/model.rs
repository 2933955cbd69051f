//! The scan model: what sluis knows about a scan, independent of any file format.
//!
//! A [`Scan`] is one image instance from a scanner: who made it ([`Scanner`]), when ([`Times`]),
//! of what ([`Conveyance`]: the truck or wagon and its containers), and its pixels ([`Image`]:
//! one [`Channel`] per energy or derived material quantity, with geometry and presentation).
//! A [`ThreatReport`] is a DICOS threat detection report: a machine's, an operator's or the
//! ground truth of a test scan, listing potential threat objects and where they are.
//!
//! Coded values are enums. Where DICOS allows site- or vendor-defined terms, the enum has an
//! `Other` variant that holds a value checked to be a valid CS (upper-case letters, digits,
//! space and underscore, at most 16 characters), so no free text hides in a coded field.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::datetime::Timestamp;
use crate::syntax::SopClass;

/// Declares an enum for a DICOM coded string (CS) value with its defined terms.
macro_rules! coded {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
        $(other: $(#[$ometa:meta])* $other:ident)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            $( $(#[$ometa])* $other(CodeString), )?
        }

        impl $name {
            /// The coded value as written in DICOS.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )+
                    $( $name::$other(v) => v.as_str(), )?
                }
            }

            /// Parses a coded value; `None` when it is not a defined term (and, for enums with
            /// an `Other` variant, not a valid code string either).
            pub fn parse(value: &str) -> Option<Self> {
                let v = value.trim_matches([' ', '\0']);
                match v {
                    $( $text => Some($name::$variant), )+
                    _ => {
                        $( return CodeString::new(v).map($name::$other); )?
                        #[allow(unreachable_code)]
                        None
                    }
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// A value checked to be a valid DICOM code string: 1 to 16 of `A-Z 0-9 _ space`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodeString(String);

impl CodeString {
    /// Checks and wraps a code string.
    pub fn new(value: &str) -> Option<Self> {
        let v = value.trim_matches([' ', '\0']);
        let ok = !v.is_empty()
            && v.len() <= 16
            && v.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b' ');
        ok.then(|| CodeString(v.to_string()))
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A DICOM unique identifier: digits and dots, at most 64 characters.
///
/// Leading zeros in components are tolerated on input (third-party DICOS writers emit them);
/// sluis itself writes `2.25.` UUID-derived UIDs (ITU-T X.667).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(String);

impl Uid {
    /// Checks and wraps a UID; trailing NUL and space padding is removed.
    pub fn new(value: &str) -> Option<Self> {
        let v = value.trim_end_matches(['\0', ' ']).trim_start_matches(' ');
        let ok = !v.is_empty()
            && v.len() <= 64
            && v.split('.')
                .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()));
        ok.then(|| Uid(v.to_string()))
    }

    /// A UID under the `2.25` arc from a 128-bit value (a UUID, or a seeded random number).
    pub fn from_u128(value: u128) -> Self {
        Uid(format!("2.25.{value}"))
    }

    /// The UID text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Uid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Anything sluis decoded from or will encode into DICOS.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DicosObject {
    /// An image: DX (one or more energy channels) or CT (slices).
    Image(Box<Scan>),
    /// A threat detection report.
    ThreatReport(Box<ThreatReport>),
}

impl DicosObject {
    /// The identity of the instance.
    pub fn instance(&self) -> &Instance {
        match self {
            DicosObject::Image(s) => &s.instance,
            DicosObject::ThreatReport(r) => &r.instance,
        }
    }

    /// The SOP class.
    pub fn sop_class(&self) -> SopClass {
        match self {
            DicosObject::Image(s) => s.sop_class,
            DicosObject::ThreatReport(_) => SopClass::DicosTdr,
        }
    }
}

/// The identity of one instance and the study and series it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// SOP Instance UID (0008,0018).
    pub sop_instance_uid: Uid,
    /// Study Instance UID (0020,000D): in DICOS, one scan of one object of inspection.
    pub study_uid: Uid,
    /// Series Instance UID (0020,000E).
    pub series_uid: Uid,
    /// Frame of Reference UID (0020,0052), linking images and reports in space.
    pub frame_of_reference_uid: Option<Uid>,
    /// Study ID (0020,0010): the scanner's scan identifier.
    pub scan_id: Option<String>,
    /// Instance Number (0020,0013).
    pub instance_number: Option<i32>,
    /// Series Number (0020,0011).
    pub series_number: Option<i32>,
    /// Study Description (0008,1030).
    pub description: Option<String>,
}

/// When things happened, as the scanner recorded them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Times {
    /// Instance Creation Date/Time (0008,0012/0013).
    pub created: Option<Timestamp>,
    /// Study Date/Time (0008,0020/0030).
    pub study: Option<Timestamp>,
    /// Series Date/Time (0008,0021/0031).
    pub series: Option<Timestamp>,
    /// Content Date/Time (0008,0023/0033).
    pub content: Option<Timestamp>,
    /// Acquisition DateTime (0008,002A): when the object passed the beam.
    pub acquired: Option<Timestamp>,
}

impl Times {
    /// The best answer to "when was this scanned": acquisition, then content, study, creation.
    pub fn scanned(&self) -> Option<Timestamp> {
        self.acquired
            .or(self.content)
            .or(self.study)
            .or(self.created)
    }
}

/// The device that produced an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scanner {
    /// Manufacturer (0008,0070).
    pub manufacturer: Option<String>,
    /// Manufacturer's Model Name (0008,1090).
    pub model: Option<String>,
    /// Device Serial Number (0018,1000).
    pub serial_number: Option<String>,
    /// Station Name (0008,1010): the site's name for this scanner.
    pub station_name: Option<String>,
    /// Software Versions (0018,1020).
    pub software_versions: Vec<String>,
    /// Institution Name (0008,0080): the operating authority or site.
    pub institution: Option<String>,
    /// Institution Address (0008,0081).
    pub institution_address: Option<String>,
    /// Institutional Department Name (0008,1040).
    pub department: Option<String>,
    /// Date/Time of Last Calibration (0018,1200/1201).
    pub last_calibration: Option<Timestamp>,
}

coded! {
    /// Object of inspection type (4010,1042).
    OoiType {
        /// Baggage.
        Baggage => "BAGGAGE",
        /// Cargo: containers, pallets, bulk.
        Cargo => "CARGO",
        /// A vehicle: truck, van, car, rail wagon.
        Vehicle => "VEHICLE",
        /// A person.
        Person => "PERSON",
        /// An animal.
        Animal => "ANIMAL",
        /// A plant.
        Plant => "PLANT",
        /// A biological sample.
        BioSample => "BIO_SAMPLE",
        /// Anything else.
        Other => "OTHER",
    }
}

coded! {
    /// How an object identifier was read (Type of Patient ID (0010,0022), the OOI ID type in DICOS).
    IdType {
        /// Typed or printed text.
        Text => "TEXT",
        /// An RFID tag.
        Rfid => "RFID",
        /// A barcode.
        Barcode => "BARCODE",
    }
}

/// An identifier of the object of inspection or of something it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectId {
    /// The identifier.
    pub value: String,
    /// Who assigned it (Issuer of Patient ID (0010,0021)).
    pub issuer: Option<String>,
    /// How it was read.
    pub id_type: Option<IdType>,
}

/// The issuer sluis writes for ISO 6346 container numbers in Other Patient IDs.
pub const ISO_6346_ISSUER: &str = "ISO 6346";

/// An ISO 6346 freight container number with a valid check digit, e.g. `MSCU1234566`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerNumber(String);

impl ContainerNumber {
    /// Parses and checks an ISO 6346 number: owner code (3 letters), category (U, J or Z),
    /// serial (6 digits), check digit. Spaces are ignored.
    pub fn parse(value: &str) -> Option<Self> {
        let v: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = v.as_bytes();
        if bytes.len() != 11 {
            return None;
        }
        let (prefix, rest) = bytes.split_at(4);
        let (serial, check) = rest.split_at(6);
        let category_ok = matches!(prefix.get(3), Some(b'U' | b'J' | b'Z'));
        if !prefix.iter().all(u8::is_ascii_uppercase)
            || !category_ok
            || !serial.iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        let digit = Self::check_digit(bytes.get(..10)?)?;
        (check == [b'0' + digit]).then_some(ContainerNumber(v))
    }

    /// The ISO 6346 check digit of the first ten characters.
    pub fn check_digit(first_ten: &[u8]) -> Option<u8> {
        if first_ten.len() != 10 {
            return None;
        }
        let mut sum: u32 = 0;
        for (i, &b) in first_ten.iter().enumerate() {
            let value: u32 = match b {
                b'0'..=b'9' => u32::from(b - b'0'),
                b'A'..=b'Z' => {
                    // Letters count from 10, skipping multiples of 11.
                    let mut v = u32::from(b - b'A') + 10;
                    v += (v - 1) / 10;
                    v
                }
                _ => return None,
            };
            sum += value << i;
        }
        Some(((sum % 11) % 10) as u8)
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A container identifier as a scanner reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "check", content = "number", rename_all = "kebab-case")]
pub enum ContainerId {
    /// A number whose ISO 6346 check digit is valid.
    #[serde(serialize_with = "serialize_display")]
    Iso6346(ContainerNumber),
    /// A number that failed the check (misread by OCR, or not ISO 6346); kept as evidence.
    Unverified(String),
}

fn serialize_display<T: fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl ContainerId {
    /// Classifies a reported container number.
    pub fn from_reported(value: &str) -> Self {
        match ContainerNumber::parse(value) {
            Some(n) => ContainerId::Iso6346(n),
            None => ContainerId::Unverified(value.trim().to_string()),
        }
    }

    /// The number as reported.
    pub fn as_str(&self) -> &str {
        match self {
            ContainerId::Iso6346(n) => n.as_str(),
            ContainerId::Unverified(s) => s,
        }
    }
}

/// What was scanned: the conveyance (truck, trailer, wagon) and the containers it carried.
///
/// In DICOS the object of inspection is described with the patient module: Patient ID (0010,0020)
/// holds the conveyance identifier (a licence plate or wagon number), and Other Patient IDs
/// Sequence (0010,1002) lists the container numbers (issuer [`ISO_6346_ISSUER`]) and any other
/// identifiers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Conveyance {
    /// Object of inspection type.
    pub kind: Option<OoiType>,
    /// The conveyance's identifier.
    pub id: Option<ObjectId>,
    /// Container numbers.
    pub containers: Vec<ContainerId>,
    /// Any other identifiers (seal numbers, booking references).
    pub other_ids: Vec<ObjectId>,
}

coded! {
    /// DICOS Acquisition Status (4010,1044).
    AcquisitionStatus {
        /// The scan completed.
        Successful => "SUCCESSFUL",
        /// The scan was cut short.
        Partial => "PARTIAL",
        /// The scan failed.
        Unsuccessful => "UNSUCCESSFUL",
    }
}

coded! {
    /// DICOS Scan Type (4010,1048).
    ScanType {
        /// A real inspection.
        Operational => "OPERATIONAL",
        /// Training.
        Training => "TRAINING",
        /// A test object or phantom.
        Test => "TEST",
    }
    other: /// A site- or vendor-defined scan type.
        Other
}

/// How the scanner was set, as far as DICOS records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Acquisition {
    /// Acquisition Status.
    pub status: Option<AcquisitionStatus>,
    /// Scan Type.
    pub scan_type: Option<ScanType>,
    /// Peak kilovoltage (0018,0060), in kV.
    pub kvp: Option<f64>,
    /// X-ray tube current (0018,8151), in microampere.
    pub tube_current_ua: Option<f64>,
}

coded! {
    /// DICOM modality (0008,0060).
    Modality {
        /// Digital radiography (transmission image).
        Dx => "DX",
        /// Computed tomography.
        Ct => "CT",
        /// A threat detection report.
        Tdr => "TDR",
        /// DICOS X-ray (as some DICOS writers label DX).
        XRay => "XRAY",
    }
}

coded! {
    /// What a channel's values mean: DICOS OOI image characteristics (value 2 of Image Type or
    /// Frame Type).
    ChannelKind {
        /// High-energy transmission.
        HighEnergy => "HIGH ENERGY",
        /// Low-energy transmission.
        LowEnergy => "LOW ENERGY",
        /// Effective atomic number derived from the two energies.
        ZEffective => "Z_EFFECTIVE",
        /// First basis material decomposition.
        BasisMaterial1 => "BASIS_MATERIAL_1",
        /// Second basis material decomposition.
        BasisMaterial2 => "BASIS_MATERIAL_2",
        /// Compton scatter.
        Compton => "COMPTON",
        /// Photoelectric.
        Photoelectric => "PHOTOELECTRIC",
        /// Density.
        Density => "DENSITY",
        /// Single-energy intensity.
        Intensity => "INTENSITY",
        /// Linear attenuation coefficient.
        Mu => "MU",
    }
}

coded! {
    /// Photometric Interpretation (0028,0004). sluis accepts one sample per pixel only.
    Photometric {
        /// Minimum value is white.
        Monochrome1 => "MONOCHROME1",
        /// Minimum value is black.
        Monochrome2 => "MONOCHROME2",
        /// Values index a colour palette.
        PaletteColor => "PALETTE COLOR",
    }
}

coded! {
    /// Presentation Intent Type (0008,0068) of a DX image.
    PresentationIntent {
        /// Raw detector data for algorithms (and sluis's canonical archive form).
        ForProcessing => "FOR PROCESSING",
        /// Processed for display.
        ForPresentation => "FOR PRESENTATION",
    }
}

coded! {
    /// Image flavour (value 3 of a DICOS CT Image Type).
    ImageFlavor {
        /// A reconstructed volume.
        Volume => "VOLUME",
        /// A projection.
        Projection => "PROJECTION",
    }
}

/// An image's samples, one plane after another.
#[derive(Clone, PartialEq, Eq)]
pub enum Samples {
    /// Bits Allocated 8.
    U8(Vec<u8>),
    /// Bits Allocated 16; signed data is held as its two's-complement bits.
    U16(Vec<u16>),
}

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Samples::U8(v) => v.len(),
            Samples::U16(v) => v.len(),
        }
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bits allocated per sample.
    pub fn bits_allocated(&self) -> u16 {
        match self {
            Samples::U8(_) => 8,
            Samples::U16(_) => 16,
        }
    }

    /// The sample at `index`, widened.
    pub fn get(&self, index: usize) -> Option<u16> {
        match self {
            Samples::U8(v) => v.get(index).map(|&x| u16::from(x)),
            Samples::U16(v) => v.get(index).copied(),
        }
    }
}

impl fmt::Debug for Samples {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Samples::U{}[{}]", self.bits_allocated(), self.len())
    }
}

/// Rescale from stored values to output units: `out = slope * stored + intercept`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rescale {
    /// Rescale Slope (0028,1053).
    pub slope: f64,
    /// Rescale Intercept (0028,1052).
    pub intercept: f64,
    /// Rescale Type (0028,1054): the output unit, e.g. `ZEFF` or `HU`.
    pub unit: Option<String>,
}

/// One channel: the samples of every frame of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel {
    /// What the values mean.
    pub kind: ChannelKind,
    /// How stored values map to physical ones, when not identity.
    pub rescale: Option<Rescale>,
    /// `rows x columns x frames_per_channel` samples, row-major, frame after frame.
    #[serde(skip)]
    pub samples: Samples,
}

/// Physical spacing between pixel centres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PixelSpacing {
    /// Between rows (vertical), in millimetres.
    pub row_mm: f64,
    /// Between columns (horizontal), in millimetres.
    pub column_mm: f64,
}

/// Where the pixels are in space.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Geometry {
    /// Pixel spacing (0028,0030), or Imager Pixel Spacing (0018,1164) for DX.
    pub pixel_spacing: Option<PixelSpacing>,
    /// Slice thickness (0018,0050) in millimetres, for CT.
    pub slice_thickness_mm: Option<f64>,
    /// Image Orientation (0020,0037): row and column direction cosines.
    pub orientation: Option<[f64; 6]>,
    /// Image Position (0020,0032) of each frame of a channel, or one for the whole image, or none.
    pub positions: Vec<[f64; 3]>,
}

/// A window: centre and width in output units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Window {
    /// Window Center (0028,1050).
    pub center: f64,
    /// Window Width (0028,1051).
    pub width: f64,
}

/// A lookup table: descriptor (entries, first mapped value, bits per entry) and data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lut {
    /// Number of entries (0 means 65536), first input value mapped, bits per entry.
    pub descriptor: [u16; 3],
    /// The entries.
    #[serde(skip)]
    pub data: Vec<u16>,
}

/// A red, green and blue palette for `PALETTE COLOR` images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Palette {
    /// Red table.
    pub red: Lut,
    /// Green table.
    pub green: Lut,
    /// Blue table.
    pub blue: Lut,
}

coded! {
    /// Presentation LUT Shape (2050,0020).
    LutShape {
        /// Output as is.
        Identity => "IDENTITY",
        /// Output inverted.
        Inverse => "INVERSE",
    }
}

/// How the image is meant to be shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Presentation {
    /// Suggested windows.
    pub windows: Vec<Window>,
    /// Window Center & Width Explanation (0028,1055).
    pub window_explanation: Option<String>,
    /// A VOI LUT (0028,3010), first item.
    pub voi_lut: Option<Lut>,
    /// The palette of a `PALETTE COLOR` image.
    pub palette: Option<Palette>,
    /// Presentation LUT Shape.
    pub lut_shape: Option<LutShape>,
}

/// The pixels of a scan and how to read them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Image {
    /// Rows per frame.
    pub rows: u16,
    /// Columns per frame.
    pub columns: u16,
    /// Frames in each channel (1 for DX, the slice count for CT).
    pub frames_per_channel: u32,
    /// Bits stored per sample (1 to bits allocated); the bits above are zero (or the sign).
    pub bits_stored: u16,
    /// Pixel Representation (0028,0103): two's complement when true.
    pub signed: bool,
    /// Photometric interpretation.
    pub photometric: Photometric,
    /// ORIGINAL (true) or DERIVED, value 1 of Image Type.
    pub original: bool,
    /// Value 3 of Image Type, for CT.
    pub flavor: Option<ImageFlavor>,
    /// DX presentation intent.
    pub presentation_intent: Option<PresentationIntent>,
    /// Lossy Image Compression (0028,2110): true when the pixels went through lossy compression
    /// before sluis saw them. sluis never compresses lossily; this records the history.
    pub lossy_history: bool,
    /// The channels, in the order they are stored.
    pub channels: Vec<Channel>,
    /// Geometry.
    pub geometry: Geometry,
    /// Presentation.
    pub presentation: Presentation,
}

impl Image {
    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        usize::from(self.rows) * usize::from(self.columns)
    }

    /// The first channel of a kind.
    pub fn channel(&self, kind: &ChannelKind) -> Option<&Channel> {
        self.channels.iter().find(|c| &c.kind == kind)
    }

    /// Bits allocated (8 or 16), from the samples.
    pub fn bits_allocated(&self) -> u16 {
        self.channels
            .first()
            .map_or(16, |c| c.samples.bits_allocated())
    }
}

/// One image instance: a DX with its energy channels, or a CT volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scan {
    /// The SOP class it is stored as.
    pub sop_class: SopClass,
    /// Modality.
    pub modality: Modality,
    /// Identity.
    pub instance: Instance,
    /// Times.
    pub times: Times,
    /// The scanner.
    pub scanner: Scanner,
    /// What was scanned.
    pub conveyance: Conveyance,
    /// How it was scanned.
    pub acquisition: Acquisition,
    /// The pixels.
    pub image: Image,
    /// Threat and decision reports about this scan. Not part of the image instance: each is its
    /// own DICOS TDR instance referring to this one.
    pub reports: Vec<ThreatReport>,
}

coded! {
    /// Who made a threat detection report (TDR Type (4010,1027)).
    TdrType {
        /// An automatic threat detection algorithm.
        Machine => "MACHINE",
        /// An image analyst.
        Operator => "OPERATOR",
        /// The known truth of a test or synthetic scan.
        GroundTruth => "GROUND_TRUTH",
    }
}

coded! {
    /// Alarm Decision (4010,1031).
    AlarmDecision {
        /// The object needs attention.
        Alarm => "ALARM",
        /// The object is cleared.
        Clear => "CLEAR",
        /// No decision.
        Unknown => "UNKNOWN",
    }
}

coded! {
    /// Abort Flag (4010,1024).
    AbortFlag {
        /// Processing completed.
        Success => "SUCCESS",
        /// Processing was aborted.
        Abort => "ABORT",
    }
}

coded! {
    /// Threat Category (4010,1012).
    ThreatCategory {
        /// An anomaly: something that does not match the declaration or the expected image.
        Anomaly => "ANOMALY",
        /// A prohibited item.
        ProhibitedItem => "PI",
        /// An explosive.
        Explosive => "EXPLOSIVE",
        /// Contraband (drugs, cigarettes, undeclared goods).
        Contraband => "CONTRABAND",
    }
    other: /// A site-defined category.
        Other
}

coded! {
    /// ATD Assessment Flag (4010,1015).
    AssessmentFlag {
        /// High threat.
        HighThreat => "HIGH_THREAT",
        /// Threat.
        Threat => "THREAT",
        /// No threat.
        NoThreat => "NO_THREAT",
        /// Unknown.
        Unknown => "UNKNOWN",
    }
}

coded! {
    /// ATD Ability Assessment (4010,1014).
    AbilityAssessment {
        /// Detection was not hindered.
        NoInterference => "NO_INTERFERENCE",
        /// Dense material shielded the region.
        Shield => "SHIELD",
    }
    other: /// Another defined term.
        Other
}

/// A reference to another instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// Referenced SOP Class UID (0008,1150).
    pub sop_class_uid: Uid,
    /// Referenced SOP Instance UID (0008,1155).
    pub sop_instance_uid: Uid,
}

/// One assessment of a potential threat object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// Category.
    pub category: Option<ThreatCategory>,
    /// Threat Category Description (4010,1013).
    pub description: Option<String>,
    /// Ability assessment.
    pub ability: Option<AbilityAssessment>,
    /// Flag.
    pub flag: Option<AssessmentFlag>,
    /// ATD Assessment Probability (4010,1016), 0 to 1.
    pub probability: Option<f32>,
}

/// Where a potential threat object is in one referenced image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreatRegion {
    /// The images the region is in.
    pub references: Vec<Reference>,
    /// Threat ROI Base (4010,1004): x, y, z of the region's corner, in pixels.
    pub base: Option<[f32; 3]>,
    /// Threat ROI Extents (4010,1005): width, height, depth, in pixels.
    pub extents: Option<[f32; 3]>,
    /// Threat ROI Bitmap (4010,1006), one bit per voxel of the extents.
    #[serde(skip)]
    pub bitmap: Option<Vec<u8>>,
    /// Mass (4010,1017) in grams.
    pub mass_g: Option<f32>,
    /// Density (4010,1018) in g/cm3.
    pub density: Option<f32>,
    /// Z Effective (4010,1019).
    pub z_effective: Option<f32>,
    /// Bounding Polygon (4010,101D): x, y (and z) triples.
    pub bounding_polygon: Vec<f32>,
    /// PTO Location Description (4010,1078).
    pub location: Option<String>,
}

/// A potential threat object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threat {
    /// Potential Threat Object ID (4010,1010).
    pub id: u16,
    /// Where it is.
    pub regions: Vec<ThreatRegion>,
    /// What it is judged to be.
    pub assessments: Vec<Assessment>,
}

/// A DICOS threat detection report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreatReport {
    /// Identity.
    pub instance: Instance,
    /// Times.
    pub times: Times,
    /// The device or workstation that made it.
    pub scanner: Scanner,
    /// The object of inspection.
    pub conveyance: Conveyance,
    /// Who made it.
    pub tdr_type: TdrType,
    /// The overall decision.
    pub alarm: Option<AlarmDecision>,
    /// When the decision was made.
    pub alarm_time: Option<crate::datetime::Timestamp>,
    /// Whether processing completed.
    pub abort: Option<AbortFlag>,
    /// Threat Detection Algorithm and Version (4010,1029).
    pub algorithm: Vec<String>,
    /// Total Processing Time (4010,1069), milliseconds.
    pub processing_time_ms: Option<f32>,
    /// Image Scale Representation (4010,1075).
    pub image_scale: Option<f64>,
    /// The images this report is about (Referenced Study Sequence (0008,1110) in DICOS).
    pub references: Vec<Reference>,
    /// The potential threat objects.
    pub threats: Vec<Threat>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso6346_check_digit() {
        // Worked example from the standard's annex: CSQU 305438, check digit 3.
        assert_eq!(ContainerNumber::check_digit(b"CSQU305438"), Some(3));
        assert!(ContainerNumber::parse("CSQU3054383").is_some());
        assert!(ContainerNumber::parse("CSQU 305438 3").is_some());
        assert!(ContainerNumber::parse("CSQU3054384").is_none());
        assert!(ContainerNumber::parse("CSQX3054383").is_none());
        assert!(matches!(
            ContainerId::from_reported("CSQU3054384"),
            ContainerId::Unverified(_)
        ));
    }

    #[test]
    fn coded_values_parse_and_reject() {
        assert_eq!(
            ChannelKind::parse("HIGH ENERGY"),
            Some(ChannelKind::HighEnergy)
        );
        assert_eq!(
            ChannelKind::parse("HIGH ENERGY "),
            Some(ChannelKind::HighEnergy)
        );
        assert_eq!(ChannelKind::parse("high energy"), None);
        assert_eq!(
            ThreatCategory::parse("PI"),
            Some(ThreatCategory::ProhibitedItem)
        );
        assert!(matches!(
            ThreatCategory::parse("WEAPON"),
            Some(ThreatCategory::Other(_))
        ));
        assert_eq!(ThreatCategory::parse("not a <cs>"), None);
        assert_eq!(ThreatCategory::parse("THIS_IS_LONGER_THAN_16"), None);
    }

    #[test]
    fn uids() {
        assert!(Uid::new("0637502127.28835.16693").is_some());
        assert!(Uid::new("1.2.3\0").is_some());
        assert!(Uid::new("1..2").is_none());
        assert!(Uid::new("1.2.a").is_none());
        assert!(Uid::new(&"1.".repeat(40)).is_none());
    }
}
