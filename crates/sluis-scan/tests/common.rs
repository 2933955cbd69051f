//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// `../shared/data/dicos-samples`, found from the workspace root.
pub(crate) fn samples_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        root.join("../shared/data/dicos-samples"),
        root.join("shared/data/dicos-samples"),
    ];
    candidates
        .iter()
        .find(|p| p.is_dir())
        .cloned()
        .unwrap_or_else(|| panic!("the shared DICOS samples are missing: looked in {candidates:?}"))
}

/// Every `.dcs` sample, sorted.
pub(crate) fn sample_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dcs"))
        .collect();
    v.sort();
    v
}

/// Runs a dcmtk tool; dcmtk (Debian package `dcmtk`) is the independent peer these tests check
/// sluis against, and `./scripts/test` installs it.
pub(crate) fn dcmtk(tool: &str, args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run dcmtk's {tool} ({e}); install the Debian package dcmtk (./scripts/test does)"))
}

/// Writes a synthetic scan (small: 20 mm pixels) to a file and returns its path and the scan.
pub(crate) fn synthetic_file(dir: &std::path::Path, seed: u64) -> (PathBuf, sluis_scan::Scan) {
    let generated = sluis_synth::generate(&sluis_synth::Spec {
        kind: sluis_synth::Kind::Container20,
        seed,
        index: 0,
        pixel_mm: 20.0,
    });
    let mut scan = generated.scan;
    scan.reports.clear();
    let path = dir.join(format!("synthetic-{seed}.dcs"));
    let bytes =
        sluis_scan::to_dicos_vec(&sluis_scan::DicosObject::Image(Box::new(scan.clone()))).unwrap();
    std::fs::write(&path, bytes).unwrap();
    (path, scan)
}
