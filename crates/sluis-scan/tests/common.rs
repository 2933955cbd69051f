//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// `../shared/data/dicos-samples`, found from the workspace root.
pub fn samples_dir() -> PathBuf {
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
pub fn sample_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dcs"))
        .collect();
    v.sort();
    v
}
