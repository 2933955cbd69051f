//! Inputs the fuzzers found, kept as named regression tests. Each must get a clear answer and,
//! when accepted, survive the fuzz oracle: its canonical encoding sanitises to the same bytes.

use sluis_scan::{Limits, Rule, sanitise};

fn check(name: &str) -> Result<(), sluis_scan::Refusal> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/regressions")
        .join(name);
    let bytes = std::fs::read(&path).unwrap();
    let first = sanitise(&bytes, &Limits::default())?;
    let encoded = first.scan.to_dicos_vec().unwrap();
    let second = sanitise(&encoded, &Limits::default()).unwrap();
    assert_eq!(
        first.scan.object(),
        second.scan.object(),
        "{name}: model round trip"
    );
    assert!(
        second.report.dropped.is_empty(),
        "{name}: {:?}",
        second.report.dropped
    );
    assert_eq!(
        encoded,
        second.scan.to_dicos_vec().unwrap(),
        "{name}: fixed point"
    );
    Ok(())
}

/// A DX without Presentation Intent Type: the class implies it, on input as on output.
#[test]
fn fuzz_missing_presentation_intent() {
    check("fuzz-missing-presentation-intent.dcm").unwrap();
}

/// A CT whose per-frame positions miss one frame: all positions are dropped, not shifted.
#[test]
fn fuzz_partial_frame_positions() {
    check("fuzz-partial-frame-positions.dcm").unwrap();
}

/// An SL of 2 bytes inside a TDR sequence: dicom-rs 0.10 reads no value and then takes the two
/// bytes as the next element's header, declaring 4 GB (it allocated 4 GB). Refused up front.
#[test]
fn fuzz_sl_of_two_bytes_desync() {
    let refusal = check("fuzz-sl-of-two-bytes-desync.dcm").unwrap_err();
    assert_eq!(refusal.rule, Rule::ValueLength);
    assert!(
        refusal
            .location
            .element
            .as_deref()
            .unwrap_or("")
            .ends_with("(4010,1010)"),
        "{refusal}"
    );
}
