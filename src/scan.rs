//! `sluis scan inspect | sanitize | render`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use sluis_scan::render::{self, RenderOptions};
use sluis_scan::{Fault, Limits, Sanitised, StreamError, inspect, sanitise, sanitise_stream};

use crate::failure::Failure;
use crate::files::{read_bounded, write_atomic, write_json};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show what a file is and what the sanitiser would keep, drop or refuse.
    /// Exits 1 when the file would be refused.
    Inspect {
        /// The file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild a file as canonical DICOS. OUT is written only when the input is accepted.
    Sanitize {
        /// The untrusted input.
        input: PathBuf,
        /// Where to write canonical DICOS.
        output: PathBuf,
        /// Also write the report (what was dropped and why, or the refusal) as JSON.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
    /// Sanitise a file and render it to PNG.
    Render {
        /// The input.
        file: PathBuf,
        /// The PNG to write.
        #[arg(long, value_name = "OUT")]
        png: PathBuf,
        /// Window centre and width in output units, e.g. 32000,64000.
        #[arg(long, value_name = "CENTER,WIDTH", value_parser = parse_window)]
        window: Option<sluis_scan::model::Window>,
        /// Colour by material (orange organic, green inorganic, blue metal).
        #[arg(long)]
        material: bool,
        /// Frame (CT slice) to render; default the middle one.
        #[arg(long)]
        frame: Option<u32>,
    },
}

fn parse_window(s: &str) -> Result<sluis_scan::model::Window, String> {
    let (c, w) = s.split_once(',').ok_or("expected CENTER,WIDTH")?;
    let center: f64 = c.trim().parse().map_err(|e| format!("centre: {e}"))?;
    let width: f64 = w.trim().parse().map_err(|e| format!("width: {e}"))?;
    if !center.is_finite() || !width.is_finite() || width < 1.0 {
        return Err("the width must be at least 1".into());
    }
    Ok(sluis_scan::model::Window { center, width })
}

/// Reads and sanitises, mapping a refusal to [`Failure::Refused`].
pub(crate) fn sanitise_file(path: &Path, limits: &Limits) -> Result<Sanitised, Failure> {
    let bytes = read_bounded(path, limits)?;
    sanitise(&bytes, limits).map_err(|refusal| refused(path, refusal))
}

fn refused(path: &Path, refusal: sluis_scan::Refusal) -> Failure {
    if refusal.fault == Fault::Internal {
        return Failure::Internal(anyhow::anyhow!("{}: {refusal}", path.display()));
    }
    Failure::Refused {
        input: path.display().to_string(),
        refusal,
    }
}

pub(crate) fn run(cmd: Command, limits: &Limits) -> Result<(), Failure> {
    match cmd {
        Command::Inspect { file, json } => {
            let bytes = read_bounded(&file, limits)?;
            let inspection = inspect(&bytes, limits);
            drop(bytes);
            if json {
                let text = serde_json::to_string_pretty(&inspection)
                    .map_err(|e| Failure::Internal(e.into()))?;
                println!("{text}");
            } else {
                print!("{}", inspection.to_text());
            }
            match inspection.verdict {
                sluis_scan::inspect::Verdict::Refused { refusal } => Err(refused(&file, refusal)),
                sluis_scan::inspect::Verdict::Accepted { .. } => Ok(()),
            }
        }
        Command::Sanitize {
            input,
            output,
            report,
        } => {
            let file = std::fs::File::open(&input)
                .map_err(|e| Failure::env(anyhow::anyhow!("opening {}: {e}", input.display())))?;
            // Streamed: native pixels pass through a fixed buffer, decoded and re-encoded, and
            // the output is renamed into place only when the whole input was accepted.
            let mut outcome = None;
            let written = write_atomic(&output, |w| {
                let reader = std::io::BufReader::with_capacity(1 << 16, &file);
                match sanitise_stream(reader, w, limits) {
                    Ok(r) => {
                        outcome = Some(Ok(r));
                        Ok(())
                    }
                    Err(StreamError::Refused(refusal)) => {
                        outcome = Some(Err(refusal));
                        Err(Failure::env(anyhow::anyhow!("refused")))
                    }
                    Err(StreamError::Read(e)) => Err(Failure::env(anyhow::anyhow!(
                        "reading {}: {e}",
                        input.display()
                    ))),
                    Err(e) => Err(Failure::env(anyhow::anyhow!("{}: {e}", output.display()))),
                }
            });
            match outcome {
                Some(Ok(r)) => {
                    written?;
                    if let Some(path) = report {
                        write_json(&path, &r)?;
                    }
                    Ok(())
                }
                Some(Err(refusal)) => {
                    if let Some(path) = report {
                        write_json(&path, &serde_json::json!({ "refusal": refusal }))?;
                    }
                    Err(refused(&input, refusal))
                }
                None => written,
            }
        }
        Command::Render {
            file,
            png,
            window,
            material,
            frame,
        } => {
            let sanitised = sanitise_file(&file, limits)?;
            let scan = sanitised.scan.image().ok_or_else(|| {
                Failure::env(anyhow::anyhow!(
                    "{} is a threat detection report, not an image",
                    file.display()
                ))
            })?;
            let picture = render::render(
                scan,
                &RenderOptions {
                    window,
                    material,
                    frame,
                },
            )
            .map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", file.display())))?;
            write_atomic(&png, |w| {
                render::write_png(&picture, w)
                    .map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", png.display())))
            })
        }
    }
}
