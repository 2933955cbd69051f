//! Real third-party captures parse; malformed and truncated captures give clear errors.

use std::path::{Path, PathBuf};

use sluis_watch::capture::{self, CaptureError, Record};
use sluis_watch::{Policy, Watch, run};

/// The pcaps shipped inside crates this project depends on (read in place from Cargo's
/// registry): pcap-parser's assets and netflow_parser's IPFIX capture.
fn crate_captures() -> Vec<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let mut found = Vec::new();
    let src = home.join("registry/src");
    for index in std::fs::read_dir(&src).into_iter().flatten().flatten() {
        for krate in ["pcap-parser-0.17.0/assets", "netflow_parser-1.0.6/pcaps"] {
            let dir = index.path().join(krate);
            for f in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                found.push(f.path());
            }
        }
    }
    found.sort();
    found
}

fn empty_policy() -> Policy {
    Policy::parse("accepted = true\n").unwrap()
}

#[test]
fn real_captures_from_crate_sources_parse() {
    let files = crate_captures();
    assert!(
        files.len() >= 10,
        "expected the crates' sample captures, found {files:?}"
    );
    let mut total = 0;
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let mut watch = Watch::new(empty_policy());
        let mut alerts = 0;
        let result = run::capture_file(&f, &mut watch, &mut |_| alerts += 1);
        if name.starts_with("err-") {
            // pcap-parser's own "error" sample: a block larger than its test buffer. We either
            // read it (our buffer is larger) or say exactly what is wrong.
            if let Err(e) = result {
                assert!(
                    matches!(
                        e,
                        CaptureError::BlockTooLarge { .. } | CaptureError::Truncated { .. }
                    ),
                    "{name}: {e}"
                );
            }
            continue;
        }
        let frames = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        total += frames;
        assert_eq!(watch.stats.frames, frames);
        // Every one of these captures is traffic of an unknown network: an empty inventory
        // must call its devices new.
        if watch.stats.undecoded < frames {
            assert!(
                alerts > 0,
                "{name}: {frames} frames and no alert under an empty policy"
            );
        }
    }
    assert!(total > 100, "only {total} frames in all");
}

#[test]
fn truncated_and_malformed_captures_say_what_is_wrong() {
    let files = crate_captures();
    let sample = files
        .iter()
        .find(|f| f.ends_with("ntp.pcap"))
        .expect("pcap-parser's ntp.pcap");
    let bytes = std::fs::read(sample).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, data: &[u8]| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    // Cut inside the last record.
    let cut = write("cut.pcap", &bytes[..bytes.len() - 7]);
    let err = capture::read_file(&cut, |_| {}).unwrap_err();
    assert!(
        matches!(err, CaptureError::Truncated { frames, .. } if frames > 0),
        "{err}"
    );
    assert!(err.to_string().contains("truncated"), "{err}");
    // Cut inside the file header.
    let err = capture::read_file(&write("head.pcap", &bytes[..10]), |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            CaptureError::Truncated { .. } | CaptureError::NotACapture { .. }
        ),
        "{err}"
    );
    // Not a capture.
    let err = capture::read_file(
        &write("text.pcap", b"GET / HTTP/1.1\r\nHost: x\r\n\r\nmore text"),
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, CaptureError::NotACapture { .. }), "{err}");
    // Empty.
    let err = capture::read_file(&write("empty.pcap", b""), |_| {}).unwrap_err();
    assert!(matches!(err, CaptureError::Empty { .. }), "{err}");
    // A record that claims 2 GiB.
    let mut huge = bytes[..24].to_vec();
    huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0x80]);
    huge.extend_from_slice(&[0u8; 64]);
    let err = capture::read_file(&write("huge.pcap", &huge), |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            CaptureError::BlockTooLarge { .. }
                | CaptureError::Truncated { .. }
                | CaptureError::Malformed { .. }
        ),
        "{err}"
    );
    // Flipped bytes anywhere: an error or a result, never a panic.
    for i in (0..bytes.len()).step_by(7) {
        let mut m = bytes.clone();
        m[i] ^= 0xa5;
        let p = write("flip.pcap", &m);
        let mut watch = Watch::new(empty_policy());
        let _ = run::capture_file(&p, &mut watch, &mut |_| {});
    }
    // A missing file names itself.
    let err = capture::read_file(Path::new("/nonexistent/x.pcap"), |_| {}).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/x.pcap"), "{err}");
    let _ = Record::Drops { ts: 0, total: 0 };
}
