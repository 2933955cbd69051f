//! Writes the hostile corpus and a few small synthetic scans into a directory: the seed corpus
//! for the fuzz targets (`./scripts/test` runs it), and a set of files to try `sluis scan
//! inspect` on.
//!
//! ```text
//! cargo run -p sluis-synth --example hostile_corpus -- DIR
//! ```

use std::path::PathBuf;

use sluis_scan::{DicosObject, to_dicos_vec};
use sluis_synth::{Kind, Spec, generate, hostile};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "hostile-corpus".into()),
    );
    std::fs::create_dir_all(&dir)?;
    // The deflate bomb expands to 64 MiB, past the fuzz targets' 16 MiB budget.
    let cases = hostile::corpus(64 << 20);
    for case in &cases {
        std::fs::write(dir.join(format!("{}.dcm", case.name)), &case.bytes)?;
    }
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        let mut scan = generate(&Spec {
            kind,
            seed: 1,
            index: u32::try_from(i).unwrap_or(0),
            pixel_mm: 80.0,
        })
        .scan;
        let reports = std::mem::take(&mut scan.reports);
        if let Ok(bytes) = to_dicos_vec(&DicosObject::Image(Box::new(scan))) {
            std::fs::write(dir.join(format!("synthetic-{kind}.dcs")), bytes)?;
        }
        if let Some(r) = reports.into_iter().next()
            && let Ok(bytes) = to_dicos_vec(&DicosObject::ThreatReport(Box::new(r)))
        {
            std::fs::write(dir.join(format!("synthetic-{kind}-truth.dcs")), bytes)?;
        }
    }
    println!("{} files in {}", cases.len() + 6, dir.display());
    Ok(())
}
