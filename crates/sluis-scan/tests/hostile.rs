//! The hostile corpus: every case gets its specific outcome, no panic, and no output on refusal.

use sluis_scan::{Limits, sanitise};
use sluis_synth::hostile::{Expect, corpus};

/// Limits for the corpus: the default, with an inflate budget small enough that the deflate bomb
/// (which expands to four times it) is refused quickly.
fn limits() -> Limits {
    Limits {
        max_inflated_bytes: 8 << 20,
        ..Limits::default()
    }
}

#[test]
fn every_case_gets_its_outcome() {
    let limits = limits();
    let cases = corpus(32 << 20);
    assert!(cases.len() >= 40, "corpus too small: {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let result = sanitise(&case.bytes, &limits);
        let ok = match (&case.expect, &result) {
            (Expect::Refused(rules), Err(r)) => rules.contains(&r.rule),
            (Expect::Dropped(reasons), Ok(s)) => {
                reasons.iter().all(|reason| s.report.count(*reason) > 0)
            }
            (Expect::Normalised(names), Ok(s)) => {
                let json = serde_json::to_string(&s.report.normalised).unwrap();
                names.iter().all(|n| json.contains(n))
            }
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name,
                case.expect,
                result
                    .as_ref()
                    .map(|s| &s.report)
                    .map_err(|r| r.to_string())
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dropped_payloads_do_not_reach_the_output() {
    let case = corpus(1 << 20)
        .into_iter()
        .find(|c| c.name == "private-overlay-document")
        .unwrap();
    let out = sanitise(&case.bytes, &limits())
        .unwrap()
        .scan
        .to_dicos_vec()
        .unwrap();
    for needle in [&b"SECRET"[..], b"%PDF", b"VENDOR PRIVATE"] {
        assert!(
            !out.windows(needle.len()).any(|w| w == needle),
            "{:?} survived",
            String::from_utf8_lossy(needle)
        );
    }
    assert!(
        !out.windows(4).any(|w| w == [0x00, 0x60, 0x00, 0x30]),
        "overlay tag survived"
    );
}

#[test]
fn padding_bits_are_cleared_in_the_output() {
    let case = corpus(1 << 20)
        .into_iter()
        .find(|c| c.name == "data-in-padding-bits")
        .unwrap();
    let s = sanitise(&case.bytes, &limits()).unwrap();
    let scan = s.scan.image().unwrap();
    let ch = &scan.image.channels[0];
    assert!((0..ch.samples.len()).all(|i| ch.samples.get(i).unwrap() < 0x1000));
}

#[test]
fn refusals_name_a_location() {
    for case in corpus(32 << 20) {
        if let Err(r) = sanitise(&case.bytes, &limits()) {
            let text = r.to_string();
            assert!(text.contains(r.rule.name()), "{}: {text}", case.name);
            assert!(
                r.location.offset.is_some()
                    || r.location.element.is_some()
                    || r.rule == sluis_scan::Rule::MissingDicmPrefix,
                "{}: {text}",
                case.name
            );
        }
    }
}
