//! The detector: photon statistics, electronic noise, calibration residue, 16-bit output, and
//! the Z-effective channel a dual-energy scanner derives from its two images.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use sluis_scan::material::z_from_ratio;

use crate::scene::AttenuationMaps;

/// Stored value for unattenuated beam after offset and gain calibration (air is just below full
/// scale, so a thin wall is still distinguishable from air).
pub const AIR: f64 = 64_000.0;
/// Photons per pixel reaching the detector through air, high and low energy. Linac pulses at
/// 4-9 MV deliver fewer photons at the low energy.
const PHOTONS_HIGH: f64 = 400_000.0;
const PHOTONS_LOW: f64 = 200_000.0;
/// Electronic noise, in stored counts.
const READ_NOISE: f64 = 2.0;
/// Residual per-detector gain error after calibration (relative standard deviation).
const ROW_GAIN_SIGMA: f64 = 0.003;
/// Scale of the stored Z-effective channel: stored = Z × 100.
pub const Z_SCALE: f64 = 100.0;

/// A standard normal deviate (Box-Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn expose(
    att: &[f32],
    rows: usize,
    columns: usize,
    photons: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<u16> {
    let gains: Vec<f64> = (0..rows)
        .map(|_| 1.0 + ROW_GAIN_SIGMA * normal(rng))
        .collect();
    let mut out = Vec::with_capacity(att.len());
    for r in 0..rows {
        let gain = gains[r];
        for &a in &att[r * columns..(r + 1) * columns] {
            let t = (-f64::from(a)).exp();
            let mean = photons * t;
            let counts = mean + mean.sqrt() * normal(rng);
            let value = AIR * gain * counts / photons + READ_NOISE * normal(rng);
            out.push(value.round().clamp(0.0, 65_535.0) as u16);
        }
    }
    out
}

/// A 3 x 3 box mean, edges clamped.
fn box3(v: &[f32], rows: usize, columns: usize) -> Vec<f32> {
    let mut horizontal = vec![0f32; v.len()];
    for r in 0..rows {
        let row = &v[r * columns..(r + 1) * columns];
        for c in 0..columns {
            let a = row[c.saturating_sub(1)];
            let b = row[c];
            let d = row[(c + 1).min(columns - 1)];
            horizontal[r * columns + c] = (a + b + d) / 3.0;
        }
    }
    let mut out = vec![0f32; v.len()];
    for r in 0..rows {
        let up = r.saturating_sub(1);
        let down = (r + 1).min(rows - 1);
        for c in 0..columns {
            out[r * columns + c] = (horizontal[up * columns + c]
                + horizontal[r * columns + c]
                + horizontal[down * columns + c])
                / 3.0;
        }
    }
    out
}

/// The two transmission images and the Z-effective image.
pub(crate) struct Exposure {
    pub high: Vec<u16>,
    pub low: Vec<u16>,
    pub z_effective: Vec<u16>,
}

/// Exposes the attenuation maps, then derives Z-effective from the measured (noisy) images, as a
/// scanner does: smoothed log attenuations, their ratio, and the material calibration. Where the
/// attenuation is too small (air) or too large (no signal left) Z is undetermined and stored
/// as 0.
pub(crate) fn expose_dual(
    maps: &AttenuationMaps,
    rows: usize,
    columns: usize,
    rng: &mut ChaCha8Rng,
) -> Exposure {
    let high = expose(&maps.high, rows, columns, PHOTONS_HIGH, rng);
    let low = expose(&maps.low, rows, columns, PHOTONS_LOW, rng);
    let log_att = |v: &[u16]| -> Vec<f32> {
        v.iter()
            .map(|&x| (-(f64::from(x.max(1)) / AIR).ln()) as f32)
            .collect()
    };
    let ah = box3(&log_att(&high), rows, columns);
    let al = box3(&log_att(&low), rows, columns);
    let z_effective = ah
        .iter()
        .zip(al.iter())
        .map(|(&h, &l)| {
            // Below 0.08 there is too little material to tell; above about 7 the low-energy
            // image is starved of photons and the ratio is biased toward organic.
            if !(0.08..=6.0).contains(&h) || l > 7.0 {
                0
            } else {
                (z_from_ratio(f64::from(l) / f64::from(h)) * Z_SCALE)
                    .round()
                    .clamp(0.0, 65_535.0) as u16
            }
        })
        .collect();
    Exposure {
        high,
        low,
        z_effective,
    }
}
