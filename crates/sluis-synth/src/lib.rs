//! A synthetic dual-energy cargo scanner, for tests, benchmarks and the demo.
//!
//! Real cargo scans are trade intelligence and cannot be shipped with an open-source project, so
//! sluis makes its own: deterministic, seeded, and physical enough that the sanitiser, the
//! renderer and (later) the analyst workstation see the structures they will see in practice.
//!
//! * **Geometry**: ISO 668 20 ft and 40 ft containers on skeletal trailers, and rigid box trucks,
//!   at about 5 mm per pixel (configurable, so benchmarks can scale the pixel count). The beam
//!   crosses the vehicle's width; the image is its side view (module `scene`).
//! * **Structure**: corrugated side walls (longer path through the sloped parts), roof and floor
//!   seen edge-on, floor cross members every 300 mm, corner posts and castings, door locking
//!   bars, chassis rails, wheels with tyres, rims, hubs and axles (module `layout`).
//! * **Cargo**: palletised cartons, bottled water, machinery in crates, tyres, bulk bags,
//!   aluminium profiles, steel coils.
//! * **Concealments**: lead shielding, a rifle-shaped steel object, narcotics bricks behind a
//!   false front wall, dense cartons among light goods, undeclared pressure cylinders; each is
//!   listed in a ground-truth DICOS threat detection report with its region, mass and density.
//! * **Physics**: Beer-Lambert attenuation with mass attenuation coefficients of organic matter,
//!   water, aluminium, steel and lead at two effective energies
//!   ([`sluis_scan::material`]); photon (Poisson, as its normal approximation) and electronic
//!   noise, residual detector gain errors; 16-bit output; a Z-effective channel derived from the
//!   noisy images ([`detector`]).
//!
//! Not modelled: scatter, beam hardening, the fan-beam geometry and detector afterglow.
//!
//! [`enclave`] generates labelled scanner-enclave network traffic as pcap, for the enclave watch.
//!
//! Nothing in the production paths uses this crate.
//!
//! ```
//! use sluis_synth::{generate, Kind, Spec};
//! let g = generate(&Spec { kind: Kind::Truck, seed: 7, index: 0, pixel_mm: 20.0 });
//! assert_eq!(g.scan.image.channels.len(), 3);
//! assert_eq!(g, generate(&Spec { kind: Kind::Truck, seed: 7, index: 0, pixel_mm: 20.0 }));
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{Duration, NaiveDate};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sluis_scan::SopClass;
use sluis_scan::datetime::Timestamp;
use sluis_scan::model::*;

pub mod detector;
pub mod enclave;
pub mod hostile;
mod layout;
mod scene;

pub use layout::Concealment;

/// What drives through the scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A 20 ft ISO container on a skeletal trailer.
    Container20,
    /// A 40 ft ISO container on a skeletal trailer.
    Container40,
    /// A rigid box truck.
    Truck,
}

impl Kind {
    /// All kinds.
    pub const ALL: [Kind; 3] = [Kind::Container20, Kind::Container40, Kind::Truck];

    /// The kind for scan `index` of a mixed series.
    pub fn mixed(seed: u64, index: u32) -> Kind {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005E_ED0F_4B1D);
        rng.set_stream(u64::from(index));
        Kind::ALL[rng.random_range(0..Kind::ALL.len())]
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Container20 => "20ft",
            Kind::Container40 => "40ft",
            Kind::Truck => "truck",
        })
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "20ft" | "20" => Ok(Kind::Container20),
            "40ft" | "40" => Ok(Kind::Container40),
            "truck" => Ok(Kind::Truck),
            other => Err(format!("unknown kind {other:?}: use 20ft, 40ft or truck")),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// The vehicle.
    pub kind: Kind,
    /// The series seed.
    pub seed: u64,
    /// The scan's index in the series (each index is an independent random stream).
    pub index: u32,
    /// Pixel pitch in millimetres (5 is typical; 2.5 gives 4x the pixels, 1.25 gives 16x).
    pub pixel_mm: f64,
}

impl Spec {
    /// A 5 mm scan.
    pub fn new(kind: Kind, seed: u64, index: u32) -> Self {
        Spec {
            kind,
            seed,
            index,
            pixel_mm: 5.0,
        }
    }
}

/// A generated scan, with the truth about what was hidden in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The scan: high energy, low energy and Z-effective channels; its `reports` hold the
    /// ground-truth threat detection report.
    pub scan: Scan,
    /// What was hidden, in scene terms.
    pub concealments: Vec<String>,
    /// What the cargo is.
    pub cargo: Vec<&'static str>,
}

fn uid(rng: &mut ChaCha8Rng) -> Uid {
    Uid::from_u128(rng.random::<u128>() >> 2)
}

/// A valid ISO 6346 number with a synthetic owner code.
fn container_number(rng: &mut ChaCha8Rng) -> Option<ContainerNumber> {
    const OWNERS: [&str; 6] = ["SLS", "TST", "DMY", "SYN", "XMP", "QQQ"];
    let owner = OWNERS[rng.random_range(0..OWNERS.len())];
    let serial: u32 = rng.random_range(0..1_000_000);
    let first = format!("{owner}U{serial:06}");
    let check = ContainerNumber::check_digit(first.as_bytes())?;
    ContainerNumber::parse(&format!("{first}{check}"))
}

fn plate(rng: &mut ChaCha8Rng) -> String {
    let l = |rng: &mut ChaCha8Rng| char::from(b'A' + rng.random_range(0..26u8));
    format!(
        "{}{}-{:03}-{}",
        l(rng),
        l(rng),
        rng.random_range(0..1000),
        l(rng)
    )
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Generates one scan.
pub fn generate(spec: &Spec) -> Generated {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    rng.set_stream(u64::from(spec.index));
    let layout = layout::layout(spec.kind, &mut rng);
    let grid = scene::Grid {
        columns: (layout.length / spec.pixel_mm).round().max(1.0) as usize,
        rows: (layout.height / spec.pixel_mm).round().max(1.0) as usize,
        pixel_mm: spec.pixel_mm,
        x_origin: 0.0,
        top: layout.height,
    };
    let maps = scene::project(&grid, &layout.solids);
    let exposure = detector::expose_dual(&maps, grid.rows, grid.columns, &mut rng);

    let base = NaiveDate::from_ymd_opt(2026, 3, 2)
        .and_then(|d| d.and_hms_opt(6, 0, 0))
        .unwrap_or_default();
    let when = Timestamp::local(
        base + Duration::seconds(i64::from(spec.index) * 413 + (spec.seed % 86_400) as i64),
    );
    let study_uid = uid(&mut rng);
    let series_uid = uid(&mut rng);
    let image_uid = uid(&mut rng);
    let frame_uid = uid(&mut rng);
    let report_uid = uid(&mut rng);
    let scan_id = format!("S{:06}-{:04}", spec.seed % 1_000_000, spec.index);
    let containers = match spec.kind {
        Kind::Container20 | Kind::Container40 => container_number(&mut rng)
            .map(ContainerId::Iso6346)
            .into_iter()
            .collect(),
        Kind::Truck => Vec::new(),
    };
    let conveyance = Conveyance {
        kind: Some(OoiType::Cargo),
        id: Some(ObjectId {
            value: plate(&mut rng),
            issuer: Some("licence plate".into()),
            id_type: Some(IdType::Text),
        }),
        containers,
        other_ids: Vec::new(),
    };
    let scanner = Scanner {
        manufacturer: Some("sluis-synth".into()),
        model: Some("synthetic dual-energy 6/4 MV".into()),
        serial_number: Some(format!("SYN-{:08X}", (spec.seed as u32) ^ 0xA5A5_5A5A)),
        station_name: Some("SYNTH-LANE-1".into()),
        software_versions: vec![env!("CARGO_PKG_VERSION").into()],
        institution: Some("sluis test site".into()),
        institution_address: None,
        department: None,
        last_calibration: Some(Timestamp::local(base)),
    };
    let times = Times {
        created: Some(when),
        study: Some(when),
        series: Some(when),
        content: Some(when),
        acquired: Some(when),
    };
    let instance = Instance {
        sop_instance_uid: image_uid.clone(),
        study_uid: study_uid.clone(),
        series_uid: series_uid.clone(),
        frame_of_reference_uid: Some(frame_uid.clone()),
        scan_id: Some(scan_id.clone()),
        instance_number: Some(1),
        series_number: Some(1),
        description: Some(truncate_chars(
            &format!("{} scan: {}", spec.kind, layout.cargo.join(", ")),
            64,
        )),
    };
    let image = Image {
        rows: u16::try_from(grid.rows).unwrap_or(u16::MAX),
        columns: u16::try_from(grid.columns).unwrap_or(u16::MAX),
        frames_per_channel: 1,
        bits_stored: 16,
        signed: false,
        photometric: Photometric::Monochrome2,
        original: true,
        flavor: None,
        presentation_intent: Some(PresentationIntent::ForProcessing),
        lossy_history: false,
        channels: vec![
            Channel {
                kind: ChannelKind::HighEnergy,
                rescale: None,
                samples: Samples::U16(exposure.high),
            },
            Channel {
                kind: ChannelKind::LowEnergy,
                rescale: None,
                samples: Samples::U16(exposure.low),
            },
            Channel {
                kind: ChannelKind::ZEffective,
                rescale: Some(Rescale {
                    slope: 1.0 / detector::Z_SCALE,
                    intercept: 0.0,
                    unit: Some("ZEFF".into()),
                }),
                samples: Samples::U16(exposure.z_effective),
            },
        ],
        geometry: Geometry {
            pixel_spacing: Some(PixelSpacing {
                row_mm: spec.pixel_mm,
                column_mm: spec.pixel_mm,
            }),
            slice_thickness_mm: None,
            orientation: None,
            positions: Vec::new(),
        },
        presentation: Presentation {
            windows: vec![Window {
                center: 32_000.0,
                width: 64_000.0,
            }],
            window_explanation: Some("full transmission range".into()),
            ..Presentation::default()
        },
    };
    let image_ref = Reference {
        sop_class_uid: Uid::new(SopClass::DicosDxForProcessing.uid())
            .unwrap_or_else(|| image_uid.clone()),
        sop_instance_uid: image_uid,
    };
    let threats: Vec<Threat> = layout
        .concealments
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (x0, x1, y0, y1) = c.bounds();
            let (c0, c1, r0, r1) = grid.pixel_box(x0, x1, y0, y1);
            Threat {
                id: u16::try_from(i).unwrap_or(u16::MAX),
                regions: vec![ThreatRegion {
                    references: vec![image_ref.clone()],
                    base: Some([c0 as f32, r0 as f32, 0.0]),
                    extents: Some([(c1 - c0) as f32, (r1 - r0) as f32, 1.0]),
                    bitmap: None,
                    mass_g: Some(c.mass_g() as f32),
                    density: Some(c.density() as f32),
                    z_effective: Some(c.material.z_effective() as f32),
                    bounding_polygon: Vec::new(),
                    location: Some(c.location.clone()),
                }],
                assessments: vec![Assessment {
                    category: Some(c.category.clone()),
                    description: Some(c.description.clone()),
                    ability: Some(AbilityAssessment::NoInterference),
                    flag: Some(c.flag.clone()),
                    probability: Some(1.0),
                }],
            }
        })
        .collect();
    let truth = ThreatReport {
        instance: Instance {
            sop_instance_uid: report_uid,
            study_uid,
            series_uid,
            frame_of_reference_uid: Some(frame_uid),
            scan_id: Some(scan_id),
            instance_number: Some(2),
            series_number: Some(1),
            description: Some("ground truth".into()),
        },
        times: times.clone(),
        scanner: scanner.clone(),
        conveyance: conveyance.clone(),
        tdr_type: TdrType::GroundTruth,
        alarm: Some(if threats.is_empty() {
            AlarmDecision::Clear
        } else {
            AlarmDecision::Alarm
        }),
        alarm_time: Some(when),
        abort: Some(AbortFlag::Success),
        algorithm: vec!["sluis-synth".into(), env!("CARGO_PKG_VERSION").into()],
        processing_time_ms: None,
        image_scale: None,
        references: vec![image_ref],
        threats,
    };
    let scan = Scan {
        sop_class: SopClass::DicosDxForProcessing,
        modality: Modality::Dx,
        instance,
        times,
        scanner,
        conveyance,
        acquisition: Acquisition {
            status: Some(AcquisitionStatus::Successful),
            scan_type: Some(ScanType::Test),
            kvp: Some(6000.0),
            tube_current_ua: None,
        },
        image,
        reports: vec![truth],
    };
    Generated {
        scan,
        concealments: layout
            .concealments
            .iter()
            .map(|c| c.description.clone())
            .collect(),
        cargo: layout.cargo,
    }
}
