//! The streaming sanitiser gives byte for byte what the in-memory one gives, or the same
//! refusal, for every kind of input.

use std::ffi::OsStr;
use std::io::Cursor;

use sluis_scan::{Limits, StreamError, sanitise, sanitise_stream};
use sluis_synth::hostile::corpus;

use crate::common::{dcmtk, sample_files, synthetic_file};

fn same_outcome(name: &str, bytes: &[u8], limits: &Limits) {
    let in_memory = sanitise(bytes, limits).map(|s| (s.scan.to_dicos_vec().unwrap(), s.report));
    let mut out = Vec::new();
    let streamed = sanitise_stream(Cursor::new(bytes), &mut out, limits);
    match (in_memory, streamed) {
        (Ok((expected, report)), Ok(streamed_report)) => {
            assert!(
                out == expected,
                "{name}: streamed output differs from the in-memory output"
            );
            assert_eq!(report, streamed_report, "{name}: reports differ");
        }
        (Err(a), Err(StreamError::Refused(b))) => {
            assert_eq!(a.rule, b.rule, "{name}: different refusals")
        }
        (a, b) => panic!("{name}: in memory {:?}, streamed {:?}", a.map(|x| x.1), b),
    }
}

#[test]
fn samples_and_synthetic_scans() {
    for path in sample_files() {
        same_outcome(
            &path.display().to_string(),
            &std::fs::read(&path).unwrap(),
            &Limits::default(),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = synthetic_file(dir.path(), 21);
    same_outcome(
        "synthetic",
        &std::fs::read(&path).unwrap(),
        &Limits::default(),
    );
    for (i, (tool, args)) in [
        ("dcmconv", &["+tb"][..]),
        ("dcmconv", &["+ti"]),
        ("dcmcrle", &[]),
        ("dcmconv", &["+td"]),
    ]
    .iter()
    .enumerate()
    {
        let converted = dir.path().join(format!("c{i}.dcm"));
        let mut argv: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        argv.push(path.as_os_str());
        argv.push(converted.as_os_str());
        assert!(dcmtk(tool, &argv).status.success());
        same_outcome(
            &format!("{tool} {args:?}"),
            &std::fs::read(&converted).unwrap(),
            &Limits::default(),
        );
    }
}

#[test]
fn hostile_corpus() {
    let limits = Limits {
        max_inflated_bytes: 8 << 20,
        ..Limits::default()
    };
    for case in corpus(32 << 20) {
        same_outcome(&case.name, &case.bytes, &limits);
    }
}

#[test]
fn a_file_that_changes_while_streamed_is_an_error_not_a_short_output() {
    struct Shrinking(Cursor<Vec<u8>>, u64);
    impl std::io::Read for Shrinking {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let left = usize::try_from(self.1.saturating_sub(self.0.position())).unwrap();
            let n = buf.len().min(left);
            self.0.read(&mut buf[..n])
        }
    }
    impl std::io::Seek for Shrinking {
        fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
            self.0.seek(pos)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = synthetic_file(dir.path(), 22);
    let bytes = std::fs::read(&path).unwrap();
    // Reads stop 1000 bytes before the end once the pixels are being streamed.
    let cut = bytes.len() as u64 - 1000;
    let mut out = Vec::new();
    let err = sanitise_stream(
        Shrinking(Cursor::new(bytes), cut),
        &mut out,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, StreamError::Read(_)), "{err}");
}
