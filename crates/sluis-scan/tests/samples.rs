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
