//! Beacon scoring in the way RITA's published beacon analysis does it.
//!
//! A beacon is a callback on a timer: the gaps between its connections are nearly equal, its
//! sizes nearly equal and small, and it keeps going for the whole observation. Jitter added by a
//! careful implant widens the gaps' spread but keeps their distribution symmetric, so the scores
//! use robust statistics: Bowley's quartile skew (symmetry) and the median absolute deviation
//! about the median (dispersion) of the gaps and of the sizes, and the spread of connections over
//! an hourly histogram of the observation window (persistence).
//!
//! One change from RITA: RITA scores gap dispersion against a fixed 30 s cut-off, which calls an
//! hourly beacon with 10 % jitter irregular; here the dispersion is scored relative to the median
//! gap (a MAD of half the median scores 0), so the score does not depend on the beacon's period.

/// One pair's scores, each between 0 and 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// Symmetry of the gaps (1 - |Bowley skew|).
    pub ts_skew: f64,
    /// Dispersion of the gaps (1 - MAD / (median / 2)).
    pub ts_madm: f64,
    /// Symmetry of the sizes.
    pub ds_skew: f64,
    /// Dispersion of the sizes (1 - MAD / 32 bytes, as RITA).
    pub ds_madm: f64,
    /// Small sizes score higher (1 - mode / 65535, as RITA).
    pub ds_smallness: f64,
    /// Persistence: the share of hourly buckets with a connection, and their evenness.
    pub histogram: f64,
    /// The median gap in seconds.
    pub median_gap_secs: f64,
    /// Connections scored.
    pub connections: usize,
    /// The overall score: the mean of the gap, size and histogram scores.
    pub score: f64,
}

fn quantile_index(len: usize, q: f64) -> usize {
    // RITA rounds q * (n - 1) to the nearest index.
    let last = len.saturating_sub(1);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = (q * last as f64).round() as usize;
    i.min(last)
}

fn bowley(sorted: &[f64]) -> f64 {
    let at = |q| {
        sorted
            .get(quantile_index(sorted.len(), q))
            .copied()
            .unwrap_or(0.0)
    };
    let (low, mid, high) = (at(0.25), at(0.5), at(0.75));
    let den = high - low;
    // Unreliable when the median meets a quartile: then no skew is claimed (as RITA).
    if den != 0.0 && mid != low && mid != high {
        (low + high - 2.0 * mid) / den
    } else {
        0.0
    }
}

fn median(sorted: &[f64]) -> f64 {
    sorted
        .get(quantile_index(sorted.len(), 0.5))
        .copied()
        .unwrap_or(0.0)
}

fn madm(sorted: &[f64]) -> f64 {
    let mid = median(sorted);
    let mut devs: Vec<f64> = sorted.iter().map(|v| (v - mid).abs()).collect();
    devs.sort_by(f64::total_cmp);
    median(&devs)
}

fn mode(values: &[f64]) -> f64 {
    let mut best = (0.0, 0usize);
    let mut i = 0;
    while i < values.len() {
        let v = values.get(i).copied().unwrap_or(0.0);
        let run = values
            .iter()
            .skip(i)
            .take_while(|x| **x == v)
            .count()
            .max(1);
        if run > best.1 {
            best = (v, run);
        }
        i = i.saturating_add(run);
    }
    best.0
}

/// Scores one pair from its connection times (seconds, any order) and sizes (bytes from the
/// initiator), over an observation window `[window_start, window_end]` in seconds.
/// Returns `None` with fewer than four connections.
pub fn score(times: &[f64], sizes: &[f64], window_start: f64, window_end: f64) -> Option<Score> {
    if times.len() < 4 || sizes.is_empty() {
        return None;
    }
    let mut ts: Vec<f64> = times.to_vec();
    ts.sort_by(f64::total_cmp);
    let mut gaps: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    let mut ds: Vec<f64> = sizes.to_vec();
    ds.sort_by(f64::total_cmp);

    let ts_skew = 1.0 - bowley(&gaps).abs();
    let gap_median = median(&gaps);
    let ts_madm = if gap_median > 0.0 {
        (1.0 - madm(&gaps) / (gap_median / 2.0)).max(0.0)
    } else {
        0.0
    };
    let ds_skew = 1.0 - bowley(&ds).abs();
    let ds_madm = (1.0 - madm(&ds) / 32.0).max(0.0);
    let ds_smallness = (1.0 - mode(&ds) / 65535.0).max(0.0);

    // Persistence: 24 buckets over the window (an hour each for a day's capture).
    let span = (window_end - window_start).max(1.0);
    let mut buckets = [0u32; 24];
    for t in &ts {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let b = (((t - window_start) / span) * 24.0)
            .floor()
            .clamp(0.0, 23.0) as usize;
        if let Some(slot) = buckets.get_mut(b) {
            *slot = slot.saturating_add(1);
        }
    }
    let used: Vec<f64> = buckets
        .iter()
        .filter(|c| **c > 0)
        .map(|c| f64::from(*c))
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let coverage = used.len() as f64 / 24.0;
    #[allow(clippy::cast_precision_loss)]
    let evenness = if used.is_empty() {
        0.0
    } else {
        let n = used.len() as f64;
        let mean = used.iter().sum::<f64>() / n;
        let var = used.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / n;
        (1.0 - var.sqrt() / mean).clamp(0.0, 1.0)
    };
    let histogram = (coverage + evenness) / 2.0;

    let ts_score = (ts_skew + ts_madm) / 2.0;
    let ds_score = (ds_skew + ds_madm + ds_smallness) / 3.0;
    let score = (ts_score + ds_score + histogram) / 3.0;
    Some(Score {
        ts_skew,
        ts_madm,
        ds_skew,
        ds_madm,
        ds_smallness,
        histogram,
        median_gap_secs: gap_median,
        connections: ts.len(),
        score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        #[allow(clippy::cast_precision_loss)]
        let x = (*seed >> 11) as f64 / (1u64 << 53) as f64;
        x
    }

    #[test]
    fn a_jittered_beacon_scores_high_and_random_arrivals_low() {
        let mut seed = 7;
        for jitter in [0.0, 0.1, 0.2, 0.3] {
            let mut t = 0.0;
            let mut times = Vec::new();
            while t < 6.0 * 3600.0 {
                times.push(t);
                t += 60.0 * (1.0 + jitter * (2.0 * lcg(&mut seed) - 1.0));
            }
            let sizes = vec![310.0; times.len()];
            let s = score(&times, &sizes, 0.0, 6.0 * 3600.0).unwrap();
            assert!(s.score > 0.85, "jitter {jitter}: {s:?}");
        }
        let mut t = 0.0;
        let mut times = Vec::new();
        let mut sizes = Vec::new();
        while t < 6.0 * 3600.0 {
            times.push(t);
            sizes.push(20_000.0 + 4_000_000.0 * lcg(&mut seed));
            t += -120.0 * (1.0 - lcg(&mut seed)).ln();
        }
        let s = score(&times, &sizes, 0.0, 6.0 * 3600.0).unwrap();
        assert!(s.score < 0.6, "{s:?}");
    }
}
