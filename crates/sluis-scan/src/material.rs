//! Dual-energy material discrimination: reference attenuation data and effective atomic number.
//!
//! A high-energy cargo scanner (a 4-9 MV linear accelerator) sees materials differently at its
//! two energies because pair production grows with atomic number Z: the ratio of low-energy to
//! high-energy attenuation falls as Z rises. sluis uses that ratio for material colouring when a
//! scan carries transmission channels but no Z-effective channel, and the synthetic scanner uses
//! the same table to generate its channels.
//!
//! The coefficients are total mass attenuation coefficients (with coherent scattering) from the
//! NIST XCOM photon cross-section database, taken at 1.25 MeV and 4 MeV as effective energies of
//! the low- and high-energy beams. A real scanner's calibration differs with its spectra and
//! filtration; the classification thresholds below are broad enough for the usual display
//! convention (organic / inorganic / metal) and not meant as a measurement.

use serde::Serialize;

/// Effective low energy, MeV.
pub const LOW_ENERGY_MEV: f64 = 1.25;
/// Effective high energy, MeV.
pub const HIGH_ENERGY_MEV: f64 = 4.0;

/// A reference material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Material {
    /// Hydrocarbon-like organic matter (polyethylene, textiles, paper, food, drugs).
    Organic,
    /// Water and aqueous liquids.
    Water,
    /// Aluminium.
    Aluminium,
    /// Iron and steel.
    Steel,
    /// Lead.
    Lead,
}

impl Material {
    /// All reference materials, from lowest to highest Z.
    pub const ALL: [Material; 5] = [
        Material::Organic,
        Material::Water,
        Material::Aluminium,
        Material::Steel,
        Material::Lead,
    ];

    /// Mass attenuation coefficient (cm²/g) at the low and high effective energies.
    pub fn mass_attenuation(self) -> (f64, f64) {
        match self {
            Material::Organic => (0.0652, 0.0349),
            Material::Water => (0.06323, 0.03403),
            Material::Aluminium => (0.05496, 0.03106),
            Material::Steel => (0.05350, 0.03312),
            Material::Lead => (0.05876, 0.04197),
        }
    }

    /// Typical density, g/cm³.
    pub fn density(self) -> f64 {
        match self {
            Material::Organic => 0.95,
            Material::Water => 1.0,
            Material::Aluminium => 2.70,
            Material::Steel => 7.87,
            Material::Lead => 11.35,
        }
    }

    /// Effective atomic number.
    pub fn z_effective(self) -> f64 {
        match self {
            Material::Organic => 6.0,
            Material::Water => 7.4,
            Material::Aluminium => 13.0,
            Material::Steel => 26.0,
            Material::Lead => 82.0,
        }
    }

    /// Ratio of low- to high-energy attenuation.
    pub fn ratio(self) -> f64 {
        let (lo, hi) = self.mass_attenuation();
        lo / hi
    }
}

/// The material class shown to an analyst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaterialClass {
    /// Too little attenuation to tell (air, thin walls).
    Unknown,
    /// Z below 10: organic matter, shown orange.
    Organic,
    /// Z from 10 to 20: light metals and inorganic compounds, shown green.
    Inorganic,
    /// Z of 20 and above: metals, shown blue.
    Metal,
    /// Too much attenuation to see through.
    Impenetrable,
}

impl MaterialClass {
    /// Classifies an effective atomic number.
    pub fn from_z(z: f64) -> Self {
        if !z.is_finite() || z <= 0.0 {
            MaterialClass::Unknown
        } else if z < 10.0 {
            MaterialClass::Organic
        } else if z < 20.0 {
            MaterialClass::Inorganic
        } else {
            MaterialClass::Metal
        }
    }
}

/// Effective Z from the ratio of low- to high-energy attenuation (`ln(I0/I)` at each energy),
/// by piecewise-linear interpolation between the reference materials; clamped at the ends.
pub fn z_from_ratio(ratio: f64) -> f64 {
    if !ratio.is_finite() {
        return 0.0;
    }
    // Reference points, ratio descending as Z rises.
    let mut points: Vec<(f64, f64)> = Material::ALL
        .iter()
        .map(|m| (m.ratio(), m.z_effective()))
        .collect();
    points.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (first, last) = match (points.first(), points.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => return 0.0,
    };
    if ratio >= first.0 {
        return first.1;
    }
    if ratio <= last.0 {
        return last.1;
    }
    for pair in points.windows(2) {
        if let [(r0, z0), (r1, z1)] = pair
            && ratio <= *r0
            && ratio >= *r1
        {
            let f = (r0 - ratio) / (r0 - r1);
            return z0 + f * (z1 - z0);
        }
    }
    last.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_falls_as_z_rises_except_organic_and_water() {
        assert!(Material::Water.ratio() > Material::Aluminium.ratio());
        assert!(Material::Aluminium.ratio() > Material::Steel.ratio());
        assert!(Material::Steel.ratio() > Material::Lead.ratio());
    }

    #[test]
    fn reference_materials_classify_as_expected() {
        for (m, class) in [
            (Material::Organic, MaterialClass::Organic),
            (Material::Water, MaterialClass::Organic),
            (Material::Aluminium, MaterialClass::Inorganic),
            (Material::Steel, MaterialClass::Metal),
            (Material::Lead, MaterialClass::Metal),
        ] {
            let z = z_from_ratio(m.ratio());
            assert!((z - m.z_effective()).abs() < 1e-9, "{m:?}: {z}");
            assert_eq!(MaterialClass::from_z(z), class, "{m:?}");
        }
    }
}
