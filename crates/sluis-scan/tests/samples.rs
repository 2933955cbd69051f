//! Every third-party sample in `../shared/data/dicos-samples/` is read and sanitised.

use sluis_scan::{DicosObject, Limits, sanitise};

use crate::common::sample_files;

#[test]
fn every_sample_sanitises_and_rereads() {
    let files = sample_files();
    assert_eq!(files.len(), 8, "expected the eight pyDICOS samples");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let first = sanitise(&bytes, &Limits::default()).unwrap_or_else(|r| panic!("{name}: {r}"));
        eprintln!(
            "{name}: dropped {:?}",
            first
                .report
                .dropped
                .iter()
                .map(|d| (&d.element, d.reason))
                .collect::<Vec<_>>()
        );
        let out = first.scan.to_dicos_vec().unwrap();
        let second =
            sanitise(&out, &Limits::default()).unwrap_or_else(|r| panic!("{name} re-read: {r}"));
        assert_eq!(
            first.scan.object(),
            second.scan.object(),
            "{name}: the model survives a round trip"
        );
        assert!(
            second.report.dropped.is_empty(),
            "{name}: canonical output drops nothing: {:?}",
            second.report.dropped
        );
        assert_eq!(
            second.scan.to_dicos_vec().unwrap(),
            out,
            "{name}: canonical output is a fixed point"
        );
        match first.scan.object() {
            DicosObject::Image(scan) => assert!(!scan.image.channels.is_empty()),
            DicosObject::ThreatReport(_) => assert!(name.contains("TDR")),
        }
    }
}

/// The plain DICOM DX classes that scanners also emit are read and stored as DICOS DX.
#[test]
fn plain_dx_is_read_and_stored_as_dicos() {
    use sluis_scan::SopClass;
    use sluis_scan::report::Normalisation;
    use sluis_synth::hostile::{EXPLICIT_LE, Enc, dx_attributes, element, part10, ramp};
    for (plain, dicos) in [
        (SopClass::DxForProcessing, SopClass::DicosDxForProcessing),
        (
            SopClass::DxForPresentation,
            SopClass::DicosDxForPresentation,
        ),
    ] {
        let mut dataset = Vec::new();
        for (g, e, vr, value) in dx_attributes(16, 24, 16, plain.uid()) {
            dataset.extend(element(Enc::ExplicitLe, g, e, &vr, &value));
        }
        dataset.extend(element(
            Enc::ExplicitLe,
            0x7FE0,
            0x0010,
            b"OW",
            &ramp(16, 24),
        ));
        let file = part10(plain.uid(), "2.25.1001", EXPLICIT_LE, &dataset);
        let s = sanitise(&file, &Limits::default()).unwrap();
        assert_eq!(s.report.sop_class, plain);
        assert_eq!(s.scan.object().sop_class(), dicos);
        assert!(s.report.normalised.contains(&Normalisation::SopClass {
            from: plain,
            to: dicos
        }));
        let out = s.scan.to_dicos_vec().unwrap();
        assert!(
            out.windows(dicos.uid().len())
                .any(|w| w == dicos.uid().as_bytes())
        );
    }
}
