//! What is in the beam: the vehicle, the container, the cargo and what someone hid in it.
//!
//! Dimensions follow ISO 668 containers (20 ft: 6058 mm, 40 ft: 12192 mm long, 2438 mm wide,
//! 2591 mm high) on skeletal trailers, and a rigid box truck with sandwich-panel walls. The scan
//! is taken in cab-avoidance mode, as portal scanners do to spare the driver, so the tractor's
//! cab is not in the image.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use sluis_scan::material::Material;
use sluis_scan::model::{AssessmentFlag, ThreatCategory};

use crate::Kind;
use crate::scene::{Shape, Solid};

const STEEL: f64 = 7.87;
const WIDTH: f64 = 2438.0;
const INNER_WIDTH: f64 = 2330.0;

/// An object hidden on purpose, with the truth about it.
#[derive(Debug, Clone)]
pub struct Concealment {
    /// What it is, in a few words.
    pub description: String,
    /// Its DICOS threat category.
    pub category: ThreatCategory,
    /// How serious.
    pub flag: AssessmentFlag,
    /// The dominant material.
    pub material: Material,
    /// Where it lies in the container, for the report.
    pub location: String,
    /// The solids that make it up.
    pub(crate) solids: Vec<Solid>,
}

impl Concealment {
    /// Bounding box in mm: (x0, x1, y0, y1).
    pub(crate) fn bounds(&self) -> (f64, f64, f64, f64) {
        self.solids.iter().map(Solid::bounds).fold(
            (f64::MAX, f64::MIN, f64::MAX, f64::MIN),
            |(a, b, c, d), (x0, x1, y0, y1)| (a.min(x0), b.max(x1), c.min(y0), d.max(y1)),
        )
    }

    /// Mass in grams.
    pub fn mass_g(&self) -> f64 {
        self.solids.iter().map(|s| s.volume_cm3() * s.density).sum()
    }

    /// Mean density in g/cm³.
    pub fn density(&self) -> f64 {
        let v: f64 = self.solids.iter().map(Solid::volume_cm3).sum();
        if v > 0.0 { self.mass_g() / v } else { 0.0 }
    }
}

/// A scene ready to project.
pub(crate) struct Layout {
    /// Image extent along x, mm.
    pub length: f64,
    /// Image extent along y (from the ground), mm.
    pub height: f64,
    pub solids: Vec<Solid>,
    pub concealments: Vec<Concealment>,
    /// What the cargo looks like, as a declaration would say it.
    pub cargo: Vec<&'static str>,
}

fn slab(x0: f64, x1: f64, y0: f64, y1: f64, depth: f64, m: Material, density: f64) -> Solid {
    Solid::new(
        Shape::Slab {
            x0,
            x1,
            y0,
            y1,
            depth,
        },
        m,
        density,
    )
}

/// The usable cargo space of the conveyance: (x0, x1, floor, ceiling), mm.
type Hold = (f64, f64, f64, f64);

fn container(solids: &mut Vec<Solid>, x0: f64, length: f64, base: f64) -> Hold {
    let x1 = x0 + length;
    let top = base + 2591.0;
    let floor = base + 155.0;
    // Corrugated side walls: trapezoidal profile, 278 mm pitch; the sloped parts are crossed at
    // about 28 degrees, so the beam's path through the sheet is longer there.
    let sheet = 1.6;
    let slope_factor = 1.0 / (28f64.to_radians().cos());
    let (wall_y0, wall_y1) = (base + 162.0, top - 60.0);
    let mut x = x0 + 150.0;
    let segments = [
        (72.0, 1.0),
        (68.0, slope_factor),
        (70.0, 1.0),
        (68.0, slope_factor),
    ];
    'walls: loop {
        for (w, f) in segments {
            let xe = (x + w).min(x1 - 150.0);
            solids.push(slab(
                x,
                xe,
                wall_y0,
                wall_y1,
                2.0 * sheet * f,
                Material::Steel,
                STEEL,
            ));
            x = xe;
            if x >= x1 - 150.0 {
                break 'walls;
            }
        }
    }
    // Bottom side rails (C sections) and top side rails (square tubes), along the length.
    solids.push(slab(
        x0,
        x1,
        base,
        base + 162.0,
        2.0 * 2.0 * 4.5,
        Material::Steel,
        STEEL,
    ));
    solids.push(slab(
        x0,
        x1,
        base,
        base + 5.0,
        2.0 * 48.0,
        Material::Steel,
        STEEL,
    ));
    solids.push(slab(
        x0,
        x1,
        base + 157.0,
        base + 162.0,
        2.0 * 48.0,
        Material::Steel,
        STEEL,
    ));
    solids.push(slab(
        x0,
        x1,
        top - 60.0,
        top,
        2.0 * 2.0 * 3.0,
        Material::Steel,
        STEEL,
    ));
    solids.push(slab(
        x0,
        x1,
        top - 60.0,
        top - 57.0,
        2.0 * 60.0,
        Material::Steel,
        STEEL,
    ));
    // Roof: a corrugated sheet seen edge-on along the beam.
    solids.push(slab(
        x0,
        x1,
        top - 22.0,
        top,
        INNER_WIDTH * 4.0 / 22.0,
        Material::Steel,
        STEEL,
    ));
    // Floor: 28 mm plywood on C-section cross members every 300 mm, both seen along the beam.
    solids.push(slab(
        x0 + 150.0,
        x1 - 150.0,
        floor - 28.0,
        floor,
        INNER_WIDTH,
        Material::Organic,
        0.70,
    ));
    let mut cx = x0 + 300.0;
    while cx < x1 - 300.0 {
        solids.push(slab(
            cx,
            cx + 4.5,
            base + 5.0,
            floor - 28.0,
            INNER_WIDTH,
            Material::Steel,
            STEEL,
        ));
        solids.push(slab(
            cx,
            cx + 45.0,
            floor - 32.0,
            floor - 28.0,
            INNER_WIDTH,
            Material::Steel,
            STEEL,
        ));
        cx += 300.0;
    }
    // Front end wall and door end, seen edge-on; corner posts and door locking bars.
    solids.push(slab(
        x0,
        x0 + 45.0,
        base,
        top,
        INNER_WIDTH * 4.0 / 45.0,
        Material::Steel,
        STEEL,
    ));
    solids.push(slab(
        x1 - 60.0,
        x1,
        base,
        top,
        INNER_WIDTH * 4.0 / 60.0,
        Material::Steel,
        STEEL,
    ));
    for (a, b) in [(x0, x0 + 150.0), (x1 - 150.0, x1)] {
        solids.push(slab(
            a,
            b,
            base,
            top,
            2.0 * 2.0 * 6.0,
            Material::Steel,
            STEEL,
        ));
    }
    for k in 0..4 {
        let cx = x1 - 35.0 - f64::from(k) * 4.0;
        solids.push(Solid::new(
            Shape::Upright {
                cx,
                r: 13.5,
                y0: base + 100.0,
                y1: top - 100.0,
            },
            Material::Steel,
            STEEL,
        ));
    }
    for (a, b) in [(x0, x0 + 178.0), (x1 - 178.0, x1)] {
        solids.push(slab(
            a,
            b,
            base,
            base + 118.0,
            2.0 * 162.0 * 0.5,
            Material::Steel,
            STEEL,
        ));
        solids.push(slab(
            a,
            b,
            top - 118.0,
            top,
            2.0 * 162.0 * 0.5,
            Material::Steel,
            STEEL,
        ));
    }
    (x0 + 60.0, x1 - 70.0, floor, top - 25.0)
}

fn wheel(solids: &mut Vec<Solid>, cx: f64, tyres_across: f64) {
    let cy = 500.0;
    solids.push(Solid::new(
        Shape::Disc {
            cx,
            cy,
            r: 500.0,
            inner: 290.0,
            depth: tyres_across * 275.0,
        },
        Material::Organic,
        1.10,
    ));
    solids.push(Solid::new(
        Shape::Disc {
            cx,
            cy,
            r: 495.0,
            inner: 420.0,
            depth: tyres_across * 2.0,
        },
        Material::Steel,
        STEEL,
    ));
    solids.push(Solid::new(
        Shape::Disc {
            cx,
            cy,
            r: 290.0,
            inner: 0.0,
            depth: tyres_across * 9.0,
        },
        Material::Steel,
        STEEL,
    ));
    solids.push(Solid::new(
        Shape::Disc {
            cx,
            cy,
            r: 110.0,
            inner: 0.0,
            depth: 2.0 * 220.0,
        },
        Material::Steel,
        STEEL,
    ));
    solids.push(Solid::new(
        Shape::Disc {
            cx,
            cy,
            r: 65.0,
            inner: 50.0,
            depth: 1800.0,
        },
        Material::Steel,
        STEEL,
    ));
}

fn trailer_chassis(solids: &mut Vec<Solid>, x0: f64, x1: f64, deck: f64, axles: &[f64]) {
    // Two I-beam main rails: webs parallel to the image, flanges seen edge-on.
    solids.push(slab(
        x0,
        x1,
        deck - 400.0,
        deck,
        2.0 * 8.0,
        Material::Steel,
        STEEL,
    ));
    solids.push(slab(
        x0,
        x1,
        deck - 400.0,
        deck - 385.0,
        2.0 * 150.0,
        Material::Steel,
        STEEL,
    ));
    solids.push(slab(
        x0,
        x1,
        deck - 15.0,
        deck,
        2.0 * 150.0,
        Material::Steel,
        STEEL,
    ));
    for &ax in axles {
        wheel(solids, ax, 4.0);
        // Suspension hanger and spring.
        solids.push(slab(
            ax - 600.0,
            ax + 600.0,
            560.0,
            640.0,
            2.0 * 90.0,
            Material::Steel,
            STEEL,
        ));
    }
    // Landing legs at the front.
    solids.push(slab(
        x1 - 900.0,
        x1 - 800.0,
        150.0,
        deck - 400.0,
        2.0 * 2.0 * 5.0,
        Material::Steel,
        STEEL,
    ));
}

fn truck_body(solids: &mut Vec<Solid>, x0: f64, length: f64, base: f64) -> Hold {
    let x1 = x0 + length;
    let top = base + 2600.0;
    // Sandwich panels: aluminium skins on polyurethane foam.
    solids.push(slab(
        x0,
        x1,
        base,
        top,
        2.0 * 2.0 * 1.0,
        Material::Aluminium,
        2.70,
    ));
    solids.push(slab(x0, x1, base, top, 2.0 * 40.0, Material::Organic, 0.04));
    solids.push(slab(
        x0,
        x1,
        top - 40.0,
        top,
        WIDTH * 2.0 / 40.0,
        Material::Aluminium,
        2.70,
    ));
    solids.push(slab(
        x0,
        x1,
        base,
        base + 30.0,
        WIDTH - 100.0,
        Material::Organic,
        0.70,
    ));
    solids.push(slab(
        x0,
        x0 + 60.0,
        base,
        top,
        WIDTH * 2.0 / 60.0,
        Material::Aluminium,
        2.70,
    ));
    // Rear door frame: steel posts and a door of the same panels.
    solids.push(slab(
        x1 - 80.0,
        x1,
        base,
        top,
        2.0 * 2.0 * 5.0,
        Material::Steel,
        STEEL,
    ));
    solids.push(slab(
        x1 - 50.0,
        x1,
        base,
        top,
        WIDTH * 2.0 / 50.0,
        Material::Aluminium,
        2.70,
    ));
    // Chassis: two C-channel rails.
    solids.push(slab(
        x0 - 200.0,
        x1 + 2500.0,
        base - 270.0,
        base - 20.0,
        2.0 * 7.0,
        Material::Steel,
        STEEL,
    ));
    solids.push(slab(
        x0 - 200.0,
        x1 + 2500.0,
        base - 270.0,
        base - 262.0,
        2.0 * 80.0,
        Material::Steel,
        STEEL,
    ));
    solids.push(slab(
        x0 - 200.0,
        x1 + 2500.0,
        base - 28.0,
        base - 20.0,
        2.0 * 80.0,
        Material::Steel,
        STEEL,
    ));
    (x0 + 60.0, x1 - 80.0, base + 30.0, top - 40.0)
}

/// Fills `hold` with cargo and returns what it is.
fn cargo(rng: &mut ChaCha8Rng, solids: &mut Vec<Solid>, hold: Hold, names: &mut Vec<&'static str>) {
    let (mut x, x_end, floor, ceiling) = hold;
    let headroom = ceiling - floor;
    while x < x_end - 600.0 {
        let kind = rng.random_range(0..100);
        let remaining = x_end - x;
        let width = match kind {
            0..=44 => {
                names.push("palletised cartons");
                pallet_of_cartons(rng, solids, x, floor, headroom)
            }
            45..=57 => {
                names.push("bottled water");
                pallet_of_bottles(rng, solids, x, floor, headroom)
            }
            58..=67 => {
                names.push("machinery");
                machinery(rng, solids, x, floor, remaining)
            }
            68..=77 => {
                names.push("tyres");
                tyres(rng, solids, x, floor, headroom)
            }
            78..=85 => {
                names.push("bulk bags");
                bulk_bag(rng, solids, x, floor)
            }
            86..=92 => {
                names.push("aluminium profiles");
                profiles(rng, solids, x, floor, remaining)
            }
            _ => {
                names.push("steel coil");
                coil(rng, solids, x, floor)
            }
        };
        x += width + rng.random_range(20.0..150.0);
    }
    names.sort_unstable();
    names.dedup();
}

fn pallet(solids: &mut Vec<Solid>, x: f64, floor: f64, across: f64) -> f64 {
    // EUR pallet, 144 mm high; about a third of its volume is wood.
    solids.push(slab(
        x,
        x + 1200.0,
        floor,
        floor + 144.0,
        across * 1000.0,
        Material::Organic,
        0.55 * 0.35,
    ));
    floor + 144.0
}

fn pallet_of_cartons(
    rng: &mut ChaCha8Rng,
    solids: &mut Vec<Solid>,
    x: f64,
    floor: f64,
    headroom: f64,
) -> f64 {
    let across = 2.0;
    let top = pallet(solids, x, floor, across);
    let height = rng.random_range(900.0..(headroom - 250.0).max(1000.0));
    let (cw, ch) = (
        rng.random_range(280.0..420.0),
        rng.random_range(220.0..380.0),
    );
    let density = rng.random_range(0.10..0.35);
    let mut cy = top;
    while cy + ch <= top + height {
        let mut cx = x;
        while cx + cw <= x + 1200.0 {
            let fill = rng.random_range(0.85..1.0);
            solids.push(slab(
                cx + 5.0,
                cx + cw - 5.0,
                cy + 5.0,
                cy + ch - 5.0,
                across * 1000.0 * fill,
                Material::Organic,
                density,
            ));
            cx += cw;
        }
        cy += ch;
    }
    1200.0
}

fn pallet_of_bottles(
    rng: &mut ChaCha8Rng,
    solids: &mut Vec<Solid>,
    x: f64,
    floor: f64,
    headroom: f64,
) -> f64 {
    // One pallet across the width: two metres of water would let almost nothing through.
    let across = 1.0;
    let top = pallet(solids, x, floor, across);
    let layers = rng.random_range(3..6);
    let layer_h = 330.0;
    for l in 0..layers {
        let y0 = top + f64::from(l) * (layer_h + 10.0);
        if y0 + layer_h > floor + headroom {
            break;
        }
        // Rows of 1.5 l bottles, 90 mm across at a 92 mm pitch, standing upright; the beam
        // crosses one bottle per 92 mm of pallet depth, so the row's density is scaled by that
        // count (0.9 for the head space).
        let bottles_along_beam = across * 1000.0 / 92.0;
        let mut cx = x + 45.0;
        while cx < x + 1200.0 - 45.0 {
            solids.push(Solid::new(
                Shape::Upright {
                    cx,
                    r: 45.0,
                    y0,
                    y1: y0 + layer_h - 30.0,
                },
                Material::Water,
                0.9 * bottles_along_beam,
            ));
            cx += 92.0;
        }
        // Shrink film and cardboard trays.
        solids.push(slab(
            x,
            x + 1200.0,
            y0,
            y0 + 4.0,
            across * 1000.0,
            Material::Organic,
            0.7,
        ));
    }
    1200.0
}

fn machinery(
    rng: &mut ChaCha8Rng,
    solids: &mut Vec<Solid>,
    x: f64,
    floor: f64,
    remaining: f64,
) -> f64 {
    let len = rng
        .random_range(900.0..2200.0f64)
        .min(remaining - 100.0)
        .max(600.0);
    // A wooden crate with a cast iron body inside (castings are about half solid).
    let h = rng.random_range(700.0..1500.0);
    solids.push(slab(
        x,
        x + len,
        floor,
        floor + h,
        2.0 * 25.0,
        Material::Organic,
        0.55,
    ));
    solids.push(slab(
        x,
        x + 25.0,
        floor,
        floor + h,
        1800.0,
        Material::Organic,
        0.55,
    ));
    solids.push(slab(
        x + len - 25.0,
        x + len,
        floor,
        floor + h,
        1800.0,
        Material::Organic,
        0.55,
    ));
    let (bx0, bx1) = (x + 120.0, x + len - 120.0);
    solids.push(slab(
        bx0,
        bx1,
        floor + 150.0,
        floor + h * 0.7,
        800.0,
        Material::Steel,
        STEEL * rng.random_range(0.25..0.5),
    ));
    // A shaft and a flywheel.
    solids.push(Solid::new(
        Shape::Lying {
            cy: floor + h * 0.5,
            r: 60.0,
            x0: bx0 - 80.0,
            x1: bx1 + 80.0,
        },
        Material::Steel,
        STEEL,
    ));
    solids.push(Solid::new(
        Shape::Disc {
            cx: bx1 - 150.0,
            cy: floor + h * 0.5,
            r: 250.0,
            inner: 60.0,
            depth: 80.0,
        },
        Material::Steel,
        STEEL,
    ));
    len
}

fn tyres(rng: &mut ChaCha8Rng, solids: &mut Vec<Solid>, x: f64, floor: f64, headroom: f64) -> f64 {
    // Stacks of car tyres lying flat, three stacks across the width.
    let (r, inner, tread) = (320.0, 210.0, 205.0);
    let count = ((headroom - 100.0) / tread).floor().max(1.0);
    let stacks = rng.random_range(2..5);
    for s in 0..stacks {
        let cx = x + r + f64::from(s) * (2.0 * r + 20.0);
        solids.push(Solid::new(
            Shape::UprightTube {
                cx,
                r,
                inner,
                y0: floor,
                y1: floor + count * tread,
            },
            Material::Organic,
            1.10 * 0.35 * 3.0,
        ));
        solids.push(Solid::new(
            Shape::UprightTube {
                cx,
                r: r - 40.0,
                inner: r - 45.0,
                y0: floor,
                y1: floor + count * tread,
            },
            Material::Steel,
            STEEL * 0.2 * 3.0,
        ));
    }
    f64::from(stacks) * (2.0 * r + 20.0)
}

fn bulk_bag(rng: &mut ChaCha8Rng, solids: &mut Vec<Solid>, x: f64, floor: f64) -> f64 {
    let h = rng.random_range(900.0..1400.0);
    let density = rng.random_range(0.6..0.85);
    solids.push(Solid::new(
        Shape::Ellipsoid {
            cx: x + 550.0,
            cy: floor + h / 2.0,
            a: 560.0,
            b: h / 2.0,
            c: 1050.0,
        },
        Material::Organic,
        density,
    ));
    1100.0
}

fn profiles(
    rng: &mut ChaCha8Rng,
    solids: &mut Vec<Solid>,
    x: f64,
    floor: f64,
    remaining: f64,
) -> f64 {
    let len = rng
        .random_range(2000.0..6000.0f64)
        .min(remaining - 100.0)
        .max(600.0);
    let bundles = rng.random_range(2..6);
    for b in 0..bundles {
        let y0 = floor + 80.0 + f64::from(b) * 260.0;
        // Bundles of extrusions: mostly air, thin aluminium walls.
        solids.push(slab(
            x,
            x + len,
            y0,
            y0 + 220.0,
            2000.0,
            Material::Aluminium,
            2.70 * 0.08,
        ));
        solids.push(slab(
            x + 300.0,
            x + 340.0,
            y0 - 80.0,
            y0,
            2000.0,
            Material::Organic,
            0.55,
        ));
    }
    len
}

fn coil(rng: &mut ChaCha8Rng, solids: &mut Vec<Solid>, x: f64, floor: f64) -> f64 {
    let r = rng.random_range(600.0..850.0);
    // A steel coil eye-to-side on a timber cradle.
    solids.push(Solid::new(
        Shape::Disc {
            cx: x + r,
            cy: floor + 150.0 + r,
            r,
            inner: 305.0,
            depth: rng.random_range(900.0..1500.0),
        },
        Material::Steel,
        STEEL,
    ));
    solids.push(slab(
        x,
        x + 2.0 * r,
        floor,
        floor + 150.0,
        1500.0,
        Material::Organic,
        0.6,
    ));
    2.0 * r
}

/// Hides something, or nothing, in the hold. Returns the concealments and adds their solids.
fn conceal(rng: &mut ChaCha8Rng, solids: &mut Vec<Solid>, hold: Hold) -> Vec<Concealment> {
    let (x0, x1, floor, ceiling) = hold;
    let mut out = Vec::new();
    let count = match rng.random_range(0..100) {
        0..=34 => 0,
        35..=79 => 1,
        _ => 2,
    };
    for _ in 0..count {
        let x = rng.random_range(x0 + 800.0..(x1 - 1200.0).max(x0 + 900.0));
        let y = rng.random_range(floor + 200.0..(ceiling - 900.0).max(floor + 300.0));
        let c = match rng.random_range(0..5) {
            0 => Concealment {
                description: "lead block, possible shielded radioactive source".into(),
                category: ThreatCategory::Anomaly,
                flag: AssessmentFlag::HighThreat,
                material: Material::Lead,
                location: "inside the cargo".into(),
                solids: vec![slab(
                    x,
                    x + 220.0,
                    y,
                    y + 180.0,
                    200.0,
                    Material::Lead,
                    11.35,
                )],
            },
            1 => {
                // A rifle-shaped steel object: barrel, receiver, magazine, stock.
                let parts = vec![
                    Solid::new(
                        Shape::Lying {
                            cy: y + 60.0,
                            r: 11.0,
                            x0: x + 300.0,
                            x1: x + 820.0,
                        },
                        Material::Steel,
                        STEEL,
                    ),
                    slab(
                        x + 120.0,
                        x + 320.0,
                        y + 30.0,
                        y + 90.0,
                        40.0,
                        Material::Steel,
                        STEEL,
                    ),
                    slab(
                        x + 230.0,
                        x + 270.0,
                        y - 120.0,
                        y + 30.0,
                        25.0,
                        Material::Steel,
                        STEEL,
                    ),
                    slab(
                        x - 200.0,
                        x + 120.0,
                        y - 10.0,
                        y + 80.0,
                        40.0,
                        Material::Organic,
                        0.9,
                    ),
                ];
                Concealment {
                    description: "rifle-shaped steel object".into(),
                    category: ThreatCategory::ProhibitedItem,
                    flag: AssessmentFlag::HighThreat,
                    material: Material::Steel,
                    location: "inside a carton".into(),
                    solids: parts,
                }
            }
            2 => {
                // Narcotics bricks behind a false front wall.
                let wall = x0 + rng.random_range(350.0..600.0);
                solids.push(slab(
                    wall,
                    wall + 40.0,
                    floor,
                    ceiling,
                    INNER_WIDTH * 4.0 / 40.0 * 0.8,
                    Material::Steel,
                    STEEL,
                ));
                let mut bricks = Vec::new();
                let mut by = floor + 20.0;
                while by + 110.0 < ceiling - 300.0 {
                    bricks.push(slab(
                        x0 + 40.0,
                        wall - 20.0,
                        by,
                        by + 100.0,
                        600.0,
                        Material::Organic,
                        1.15,
                    ));
                    by += 115.0;
                }
                Concealment {
                    description: "organic bricks behind a false front wall".into(),
                    category: ThreatCategory::Contraband,
                    flag: AssessmentFlag::Threat,
                    material: Material::Organic,
                    location: "hidden compartment at the front wall".into(),
                    solids: bricks,
                }
            }
            3 => Concealment {
                description: "dense organic cartons among light goods (possible cigarettes)".into(),
                category: ThreatCategory::Contraband,
                flag: AssessmentFlag::Threat,
                material: Material::Organic,
                location: "inside the cargo".into(),
                solids: vec![slab(
                    x,
                    x + 800.0,
                    y,
                    y + 600.0,
                    1500.0,
                    Material::Organic,
                    0.45,
                )],
            },
            _ => {
                // Steel cylinders (gas or liquid) in a pallet of cartons.
                let mut parts = Vec::new();
                for k in 0..3 {
                    let cx = x + 120.0 + f64::from(k) * 230.0;
                    parts.push(Solid::new(
                        Shape::UprightTube {
                            cx,
                            r: 110.0,
                            inner: 100.0,
                            y0: y,
                            y1: y + 800.0,
                        },
                        Material::Steel,
                        STEEL,
                    ));
                    parts.push(Solid::new(
                        Shape::Upright {
                            cx,
                            r: 100.0,
                            y0: y,
                            y1: y + 700.0,
                        },
                        Material::Water,
                        0.9,
                    ));
                }
                Concealment {
                    description: "undeclared pressure cylinders".into(),
                    category: ThreatCategory::Anomaly,
                    flag: AssessmentFlag::Threat,
                    material: Material::Steel,
                    location: "inside the cargo".into(),
                    solids: parts,
                }
            }
        };
        solids.extend(c.solids.iter().copied());
        out.push(c);
    }
    out
}

/// Lays out a vehicle of `kind` with cargo and concealments.
pub(crate) fn layout(kind: Kind, rng: &mut ChaCha8Rng) -> Layout {
    let margin = 400.0;
    let mut solids = Vec::new();
    let mut cargo_names = Vec::new();
    let (length, hold) = match kind {
        Kind::Container20 | Kind::Container40 => {
            let (len, axles): (f64, &[f64]) = match kind {
                Kind::Container20 => (6058.0, &[1300.0, 2610.0]),
                _ => (12192.0, &[1500.0, 2810.0, 4120.0]),
            };
            let deck = 1250.0;
            let axles: Vec<f64> = axles.iter().map(|a| margin + a).collect();
            trailer_chassis(
                &mut solids,
                margin - 100.0,
                margin + len + 500.0,
                deck,
                &axles,
            );
            let hold = container(&mut solids, margin, len, deck);
            (len + 2.0 * margin + 500.0, hold)
        }
        Kind::Truck => {
            let len = 7200.0;
            let hold = truck_body(&mut solids, margin, len, 1150.0);
            for a in [margin + 900.0, margin + 2250.0] {
                wheel(&mut solids, a, 4.0);
            }
            (len + 2.0 * margin, hold)
        }
    };
    let empty = rng.random_range(0..100) < 8;
    if empty {
        cargo_names.push("empty");
    } else {
        cargo(rng, &mut solids, hold, &mut cargo_names);
    }
    let concealments = conceal(rng, &mut solids, hold);
    Layout {
        length,
        height: 4200.0,
        solids,
        concealments,
        cargo: cargo_names,
    }
}
