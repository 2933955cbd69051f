//! The scene: solids of known material, projected along the beam into attenuation maps.
//!
//! The scanner is modelled as a parallel beam travelling across the vehicle (the z axis, through
//! its width) onto a vertical detector column, with the vehicle moving along x. A pixel (column,
//! row) therefore measures the line integral of the attenuation coefficient along z at (x, y):
//! for each solid, its mass attenuation coefficient times its density times the length of the
//! beam's path through it. Beer-Lambert then gives the transmission.
//!
//! Units: millimetres for geometry, g/cm³ for density, cm²/g for mass attenuation.

use sluis_scan::material::Material;

/// The shape of a solid, seen from the beam, with the beam's path length through it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// A rectangle in (x, y) with a constant path length (a box, a plate parallel to the image,
    /// or a plate along the beam).
    Slab {
        x0: f64,
        x1: f64,
        y0: f64,
        y1: f64,
        depth: f64,
    },
    /// A cylinder standing upright (axis along y): path length `2 sqrt(r² - (x - cx)²)`.
    Upright { cx: f64, r: f64, y0: f64, y1: f64 },
    /// A hollow cylinder standing upright (a stack of tyres lying flat, a drum's wall).
    UprightTube {
        cx: f64,
        r: f64,
        inner: f64,
        y0: f64,
        y1: f64,
    },
    /// A cylinder lying along x (a pipe, a rolled coil seen from the side).
    Lying { cy: f64, r: f64, x0: f64, x1: f64 },
    /// A disc facing the beam (axis along z): a wheel, a coil seen end-on. `inner` leaves a hole.
    Disc {
        cx: f64,
        cy: f64,
        r: f64,
        inner: f64,
        depth: f64,
    },
    /// An ellipsoid with semi-axes a (x), b (y), c (z).
    Ellipsoid {
        cx: f64,
        cy: f64,
        a: f64,
        b: f64,
        c: f64,
    },
}

/// One solid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Solid {
    pub shape: Shape,
    pub material: Material,
    /// Density in g/cm³ (bulk density for packed goods).
    pub density: f64,
}

impl Solid {
    pub(crate) fn new(shape: Shape, material: Material, density: f64) -> Self {
        Solid {
            shape,
            material,
            density,
        }
    }

    /// Bounding box in mm: (x0, x1, y0, y1).
    pub(crate) fn bounds(&self) -> (f64, f64, f64, f64) {
        match self.shape {
            Shape::Slab { x0, x1, y0, y1, .. } => (x0, x1, y0, y1),
            Shape::Upright { cx, r, y0, y1 } | Shape::UprightTube { cx, r, y0, y1, .. } => {
                (cx - r, cx + r, y0, y1)
            }
            Shape::Lying { cy, r, x0, x1 } => (x0, x1, cy - r, cy + r),
            Shape::Disc { cx, cy, r, .. } => (cx - r, cx + r, cy - r, cy + r),
            Shape::Ellipsoid { cx, cy, a, b, .. } => (cx - a, cx + a, cy - b, cy + b),
        }
    }

    /// Volume in cm³ (for the ground truth's mass).
    pub(crate) fn volume_cm3(&self) -> f64 {
        let mm3 = match self.shape {
            Shape::Slab {
                x0,
                x1,
                y0,
                y1,
                depth,
            } => (x1 - x0) * (y1 - y0) * depth,
            Shape::Upright { r, y0, y1, .. } => std::f64::consts::PI * r * r * (y1 - y0),
            Shape::UprightTube {
                r, inner, y0, y1, ..
            } => std::f64::consts::PI * (r * r - inner * inner) * (y1 - y0),
            Shape::Lying { r, x0, x1, .. } => std::f64::consts::PI * r * r * (x1 - x0),
            Shape::Disc {
                r, inner, depth, ..
            } => std::f64::consts::PI * (r * r - inner * inner) * depth,
            Shape::Ellipsoid { a, b, c, .. } => 4.0 / 3.0 * std::f64::consts::PI * a * b * c,
        };
        mm3 / 1000.0
    }

    /// Path length in mm at (x, y), for shapes sampled at pixel centres.
    fn path_at(&self, x: f64, y: f64) -> f64 {
        match self.shape {
            Shape::Slab { depth, .. } => depth,
            Shape::Upright { cx, r, .. } => {
                let d = r * r - (x - cx) * (x - cx);
                if d > 0.0 { 2.0 * d.sqrt() } else { 0.0 }
            }
            Shape::UprightTube { cx, r, inner, .. } => {
                let dx2 = (x - cx) * (x - cx);
                let outer = (r * r - dx2).max(0.0).sqrt();
                let hole = (inner * inner - dx2).max(0.0).sqrt();
                2.0 * (outer - hole)
            }
            Shape::Lying { cy, r, .. } => {
                let d = r * r - (y - cy) * (y - cy);
                if d > 0.0 { 2.0 * d.sqrt() } else { 0.0 }
            }
            Shape::Disc {
                cx,
                cy,
                r,
                inner,
                depth,
            } => {
                let d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                if d2 <= r * r && d2 >= inner * inner {
                    depth
                } else {
                    0.0
                }
            }
            Shape::Ellipsoid { cx, cy, a, b, c } => {
                let u = ((x - cx) / a).powi(2) + ((y - cy) / b).powi(2);
                if u < 1.0 {
                    2.0 * c * (1.0 - u).sqrt()
                } else {
                    0.0
                }
            }
        }
    }
}

/// The image grid: columns along x from `x_origin`, rows downward from `top` (mm).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub columns: usize,
    pub rows: usize,
    pub pixel_mm: f64,
    pub x_origin: f64,
    pub top: f64,
}

impl Grid {
    /// Pixel-index range covering [a, b) along x.
    fn col_range(&self, a: f64, b: f64) -> (usize, usize) {
        let c0 = ((a - self.x_origin) / self.pixel_mm).floor().max(0.0) as usize;
        let c1 = ((b - self.x_origin) / self.pixel_mm).ceil().max(0.0) as usize;
        (c0.min(self.columns), c1.min(self.columns))
    }

    /// Pixel-index range covering [a, b) along y (rows count downward from the top).
    fn row_range(&self, a: f64, b: f64) -> (usize, usize) {
        let r0 = ((self.top - b) / self.pixel_mm).floor().max(0.0) as usize;
        let r1 = ((self.top - a) / self.pixel_mm).ceil().max(0.0) as usize;
        (r0.min(self.rows), r1.min(self.rows))
    }

    fn col_x(&self, c: usize) -> (f64, f64) {
        let x0 = self.x_origin + c as f64 * self.pixel_mm;
        (x0, x0 + self.pixel_mm)
    }

    fn row_y(&self, r: usize) -> (f64, f64) {
        let y1 = self.top - r as f64 * self.pixel_mm;
        (y1 - self.pixel_mm, y1)
    }

    /// Pixel bounds of a box in (x, y) mm: (col0, col1, row0, row1), clipped.
    pub(crate) fn pixel_box(
        &self,
        x0: f64,
        x1: f64,
        y0: f64,
        y1: f64,
    ) -> (usize, usize, usize, usize) {
        let (c0, c1) = self.col_range(x0, x1);
        let (r0, r1) = self.row_range(y0, y1);
        (c0, c1, r0, r1)
    }
}

fn overlap(a0: f64, a1: f64, b0: f64, b1: f64) -> f64 {
    (a1.min(b1) - a0.max(b0)).max(0.0)
}

/// Line integrals of attenuation at the two energies, per pixel (dimensionless, `μ t`).
pub(crate) struct AttenuationMaps {
    pub low: Vec<f32>,
    pub high: Vec<f32>,
}

/// Projects the solids onto the grid.
pub(crate) fn project(grid: &Grid, solids: &[Solid]) -> AttenuationMaps {
    let n = grid.columns * grid.rows;
    let mut low = vec![0f32; n];
    let mut high = vec![0f32; n];
    for s in solids {
        let (mu_l, mu_h) = s.material.mass_attenuation();
        // μ/ρ [cm²/g] × ρ [g/cm³] × path [mm] / 10 = dimensionless μ t.
        let (kl, kh) = (mu_l * s.density / 10.0, mu_h * s.density / 10.0);
        let (x0, x1, y0, y1) = s.bounds();
        let (c0, c1, r0, r1) = grid.pixel_box(x0, x1, y0, y1);
        match s.shape {
            Shape::Slab { depth, .. } => {
                // Area-weighted coverage, so plates thinner than a pixel still show.
                for r in r0..r1 {
                    let (py0, py1) = grid.row_y(r);
                    let fy = overlap(py0, py1, y0, y1) / grid.pixel_mm;
                    if fy <= 0.0 {
                        continue;
                    }
                    for c in c0..c1 {
                        let (px0, px1) = grid.col_x(c);
                        let f = fy * overlap(px0, px1, x0, x1) / grid.pixel_mm;
                        let i = r * grid.columns + c;
                        low[i] += (kl * depth * f) as f32;
                        high[i] += (kh * depth * f) as f32;
                    }
                }
            }
            _ => {
                // Two by two samples per pixel soften the edges of curved shapes.
                let q = grid.pixel_mm / 4.0;
                for r in r0..r1 {
                    let (py0, _) = grid.row_y(r);
                    for c in c0..c1 {
                        let (px0, _) = grid.col_x(c);
                        let mut path = 0.0;
                        for (dx, dy) in [(q, q), (3.0 * q, q), (q, 3.0 * q), (3.0 * q, 3.0 * q)] {
                            let (x, y) = (px0 + dx, py0 + dy);
                            if x >= x0 && x < x1 && y >= y0 && y < y1 {
                                path += s.path_at(x, y);
                            }
                        }
                        path /= 4.0;
                        if path > 0.0 {
                            let i = r * grid.columns + c;
                            low[i] += (kl * path) as f32;
                            high[i] += (kh * path) as f32;
                        }
                    }
                }
            }
        }
    }
    AttenuationMaps { low, high }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plate_attenuates_by_beer_lambert() {
        let grid = Grid {
            columns: 10,
            rows: 10,
            pixel_mm: 5.0,
            x_origin: 0.0,
            top: 50.0,
        };
        // 10 cm of steel across the whole image.
        let steel = Solid::new(
            Shape::Slab {
                x0: 0.0,
                x1: 50.0,
                y0: 0.0,
                y1: 50.0,
                depth: 100.0,
            },
            Material::Steel,
            7.87,
        );
        let maps = project(&grid, &[steel]);
        let (mu_l, mu_h) = Material::Steel.mass_attenuation();
        assert!((f64::from(maps.low[55]) - mu_l * 7.87 * 10.0).abs() < 1e-4);
        assert!((f64::from(maps.high[55]) - mu_h * 7.87 * 10.0).abs() < 1e-4);
    }

    #[test]
    fn thin_plates_are_area_weighted() {
        let grid = Grid {
            columns: 4,
            rows: 1,
            pixel_mm: 5.0,
            x_origin: 0.0,
            top: 5.0,
        };
        // A 2 mm wide web, 1000 mm along the beam, inside column 1.
        let web = Solid::new(
            Shape::Slab {
                x0: 6.0,
                x1: 8.0,
                y0: 0.0,
                y1: 5.0,
                depth: 1000.0,
            },
            Material::Steel,
            7.87,
        );
        let maps = project(&grid, &[web]);
        assert_eq!(maps.low[0], 0.0);
        assert!(maps.low[1] > 0.0);
        let full = Material::Steel.mass_attenuation().0 * 7.87 * 100.0;
        assert!((f64::from(maps.low[1]) - full * 0.4).abs() < 1e-3);
    }

    #[test]
    fn a_cylinder_is_thickest_on_its_axis() {
        let grid = Grid {
            columns: 20,
            rows: 1,
            pixel_mm: 5.0,
            x_origin: 0.0,
            top: 5.0,
        };
        let drum = Solid::new(
            Shape::Upright {
                cx: 50.0,
                r: 40.0,
                y0: 0.0,
                y1: 5.0,
            },
            Material::Water,
            1.0,
        );
        let maps = project(&grid, &[drum]);
        assert!(maps.low[9] > maps.low[3]);
        assert_eq!(maps.low[0], 0.0);
    }
}
