//! `sluis synth`: write synthetic scans and their ground truth as DICOS files.

use std::path::{Path, PathBuf};

use clap::Args as ClapArgs;
use sluis_scan::{DicosObject, write_dicos};
use sluis_synth::{Generated, Kind, Spec, generate};

use crate::failure::Failure;
use crate::files::write_atomic;

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// Directory to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of scans.
    #[arg(long, default_value_t = 10)]
    pub count: u32,
    /// Seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// 20ft, 40ft, truck, or mixed.
    #[arg(long, default_value = "mixed")]
    pub kind: String,
    /// Pixel pitch in millimetres (5 is typical).
    #[arg(long, default_value_t = 5.0)]
    pub pixel_mm: f64,
    /// Make every Nth scan a later scan of the previous scan's container and conveyance (a
    /// revisit, as when a container passes the scanner again); 0 for none.
    #[arg(long, default_value_t = 0)]
    pub revisit: u32,
}

/// One written scan.
pub(crate) struct Written {
    pub image: PathBuf,
    pub generated: Generated,
}

fn write_object(path: &Path, object: &DicosObject) -> Result<(), Failure> {
    write_atomic(path, |w| {
        write_dicos(object, w)
            .map(|_| ())
            .map_err(|e| Failure::Internal(anyhow::anyhow!("{}: {e}", path.display())))
    })
}

/// Generates `count` scans into `out`.
pub(crate) fn write_series(
    out: &Path,
    count: u32,
    seed: u64,
    kind: Option<Kind>,
    pixel_mm: f64,
    revisit: u32,
) -> Result<Vec<Written>, Failure> {
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::env(anyhow::anyhow!("creating {}: {e}", out.display())))?;
    let mut written: Vec<Written> = Vec::new();
    for index in 0..count {
        let mut generated = generate(&Spec {
            kind: kind.unwrap_or_else(|| Kind::mixed(seed, index)),
            seed,
            index,
            pixel_mm,
        });
        if revisit > 0
            && index % revisit == revisit - 1
            && let Some(before) = written.last()
        {
            // The same container and conveyance as the scan before: the report says so too.
            let conveyance = before.generated.scan.conveyance.clone();
            for r in &mut generated.scan.reports {
                r.conveyance = conveyance.clone();
            }
            generated.scan.conveyance = conveyance;
        }
        let image = out.join(format!("scan-{index:04}.dcs"));
        let truth = out.join(format!("scan-{index:04}-truth.dcs"));
        let mut scan = generated.scan.clone();
        let reports = std::mem::take(&mut scan.reports);
        write_object(&image, &DicosObject::Image(Box::new(scan)))?;
        if let Some(report) = reports.into_iter().next() {
            write_object(&truth, &DicosObject::ThreatReport(Box::new(report)))?;
        }
        written.push(Written { image, generated });
    }
    Ok(written)
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let kind = match args.kind.as_str() {
        "mixed" => None,
        k => Some(
            k.parse::<Kind>()
                .map_err(|e| Failure::env(anyhow::anyhow!(e)))?,
        ),
    };
    if !(0.5..=50.0).contains(&args.pixel_mm) {
        return Err(Failure::env(anyhow::anyhow!(
            "--pixel-mm must be between 0.5 and 50"
        )));
    }
    for w in write_series(
        &args.out,
        args.count,
        args.seed,
        kind,
        args.pixel_mm,
        args.revisit,
    )? {
        let img = &w.generated.scan.image;
        println!(
            "{}  {} x {}  {:<34} hidden: {}",
            w.image.display(),
            img.columns,
            img.rows,
            w.generated.cargo.join(", "),
            if w.generated.concealments.is_empty() {
                "nothing".to_string()
            } else {
                w.generated.concealments.join("; ")
            }
        );
    }
    Ok(())
}
