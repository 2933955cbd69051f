//! The synthetic scanner: deterministic, physical, and honest about what it hid.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sluis_scan::model::{AlarmDecision, ChannelKind, ContainerId, Samples, TdrType};
use sluis_scan::{DicosObject, Scan, to_dicos_vec};
use sluis_synth::detector::{AIR, Z_SCALE};
use sluis_synth::{Kind, Spec, generate};

fn u16s(scan: &Scan, kind: ChannelKind) -> &[u16] {
    match &scan.image.channel(&kind).unwrap().samples {
        Samples::U16(v) => v,
        Samples::U8(_) => panic!("8-bit channel"),
    }
}

fn bytes(spec: &Spec) -> Vec<u8> {
    let mut scan = generate(spec).scan;
    scan.reports.clear();
    to_dicos_vec(&DicosObject::Image(Box::new(scan))).unwrap()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = Spec {
        kind: Kind::Container20,
        seed: 42,
        index: 3,
        pixel_mm: 10.0,
    };
    assert_eq!(bytes(&a), bytes(&a));
    assert_ne!(bytes(&a), bytes(&Spec { seed: 43, ..a }));
    assert_ne!(bytes(&a), bytes(&Spec { index: 4, ..a }));
}

#[test]
fn geometry_follows_iso_668_and_the_pixel_pitch() {
    let g = generate(&Spec::new(Kind::Container40, 1, 0));
    // 12,192 mm container plus margins and the trailer's front overhang, at 5 mm.
    assert_eq!(g.scan.image.columns, 2698);
    assert_eq!(g.scan.image.rows, 840);
    let fine = generate(&Spec {
        pixel_mm: 2.5,
        ..Spec::new(Kind::Container40, 1, 0)
    });
    let ratio = (fine.scan.image.frame_len() as f64) / (g.scan.image.frame_len() as f64);
    assert!(
        (ratio - 4.0).abs() < 0.01,
        "2.5 mm gives 4x the pixels: {ratio}"
    );
    let spacing = fine.scan.image.geometry.pixel_spacing.unwrap();
    assert_eq!((spacing.row_mm, spacing.column_mm), (2.5, 2.5));
}

#[test]
fn air_reads_full_scale_with_photon_noise() {
    let g = generate(&Spec::new(Kind::Truck, 9, 0));
    let cols = usize::from(g.scan.image.columns);
    for (kind, photons) in [
        (ChannelKind::HighEnergy, 400_000.0),
        (ChannelKind::LowEnergy, 200_000.0),
    ] {
        // The top 40 rows (200 mm) are above any vehicle. Along a row the spread is photon
        // noise; between rows, the residual gain error of each detector (0.3 %).
        let values = u16s(&g.scan, kind.clone());
        let stats = |v: &[f64]| {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            (
                mean,
                (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt(),
            )
        };
        let mut row_means = Vec::new();
        for r in 0..40 {
            let row: Vec<f64> = values[r * cols..(r + 1) * cols]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let (mean, sd) = stats(&row);
            let expected = AIR / f64::sqrt(photons);
            assert!(
                sd > expected * 0.8 && sd < expected * 1.25,
                "{kind}: row {r} noise {sd}, expected about {expected}"
            );
            row_means.push(mean);
        }
        let (mean, spread) = stats(&row_means);
        assert!((mean - AIR).abs() < AIR * 0.01, "{kind}: air mean {mean}");
        assert!(
            spread > AIR * 0.001 && spread < AIR * 0.006,
            "{kind}: detector gain spread {spread}"
        );
    }
}

#[test]
fn low_energy_attenuates_more_and_z_is_physical() {
    for seed in 0..4 {
        let g = generate(&Spec {
            pixel_mm: 10.0,
            ..Spec::new(Kind::mixed(seed, 0), seed, 0)
        });
        let (he, le, z) = (
            u16s(&g.scan, ChannelKind::HighEnergy),
            u16s(&g.scan, ChannelKind::LowEnergy),
            u16s(&g.scan, ChannelKind::ZEffective),
        );
        let mut checked = 0;
        for i in 0..he.len() {
            let ah = -(f64::from(he[i].max(1)) / AIR).ln();
            let al = -(f64::from(le[i].max(1)) / AIR).ln();
            if (0.5..4.0).contains(&ah) && al < 6.0 {
                let ratio = al / ah;
                assert!(
                    (1.2..2.1).contains(&ratio),
                    "seed {seed}: ratio {ratio} at pixel {i}"
                );
                checked += 1;
            }
            if z[i] != 0 {
                let zv = f64::from(z[i]) / Z_SCALE;
                assert!((6.0..=82.0).contains(&zv), "seed {seed}: Z {zv}");
            }
        }
        assert!(
            checked > 1000,
            "seed {seed}: too few attenuating pixels ({checked})"
        );
    }
}

#[test]
fn ground_truth_matches_what_was_hidden() {
    let mut lead_seen = false;
    let mut clean_seen = false;
    for index in 0..24 {
        let g = generate(&Spec {
            pixel_mm: 10.0,
            ..Spec::new(Kind::mixed(5, index), 5, index)
        });
        let truth = &g.scan.reports[0];
        assert_eq!(truth.tdr_type, TdrType::GroundTruth);
        assert_eq!(truth.threats.len(), g.concealments.len());
        assert_eq!(
            truth.alarm,
            Some(if g.concealments.is_empty() {
                AlarmDecision::Clear
            } else {
                AlarmDecision::Alarm
            })
        );
        assert_eq!(
            truth.references[0].sop_instance_uid,
            g.scan.instance.sop_instance_uid
        );
        clean_seen |= g.concealments.is_empty();
        let cols = usize::from(g.scan.image.columns);
        let he = u16s(&g.scan, ChannelKind::HighEnergy);
        for (threat, what) in truth.threats.iter().zip(&g.concealments) {
            let region = &threat.regions[0];
            let [x, y, _] = region.base.unwrap();
            let [w, h, _] = region.extents.unwrap();
            assert!(w >= 1.0 && h >= 1.0);
            assert!(region.mass_g.unwrap() > 0.0);
            let (x, y, w, h) = (x as usize, y as usize, w as usize, h as usize);
            assert!(x + w <= cols && y + h <= usize::from(g.scan.image.rows));
            let min = (y..y + h)
                .flat_map(|r| (x..x + w).map(move |c| r * cols + c))
                .map(|i| he[i])
                .min()
                .unwrap();
            assert!(
                f64::from(min) < AIR * 0.9,
                "{what}: nothing attenuates inside its region"
            );
            if what.starts_with("lead") {
                lead_seen = true;
                assert!(
                    f64::from(min) < AIR * 0.01,
                    "200 mm of lead lets almost nothing through: {min}"
                );
                assert!(region.z_effective.unwrap() > 80.0);
            }
        }
    }
    assert!(
        lead_seen && clean_seen,
        "24 scans should include a lead block and a clean scan"
    );
}

#[test]
fn containers_carry_valid_iso_6346_numbers() {
    for kind in [Kind::Container20, Kind::Container40] {
        let g = generate(&Spec {
            pixel_mm: 20.0,
            ..Spec::new(kind, 77, 0)
        });
        assert!(matches!(
            g.scan.conveyance.containers.as_slice(),
            [ContainerId::Iso6346(_)]
        ));
    }
    assert!(
        generate(&Spec {
            pixel_mm: 20.0,
            ..Spec::new(Kind::Truck, 77, 0)
        })
        .scan
        .conveyance
        .containers
        .is_empty()
    );
}
