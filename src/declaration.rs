//! `sluis declaration`: customs declarations for the workstation to show beside the scans of the
//! containers they name (the store is `sluis-server::desk`).
//!
//! The input is JSON Lines, one declaration per line, as the authority's declaration system
//! exports them. Every line is checked; one bad line refuses the whole file, with the line
//! number and the reason of each bad line, and nothing is imported.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use sluis_server::desk::{Declaration, Desk};

use crate::failure::Failure;

/// The largest file imported.
const MAX_FILE: u64 = 256 << 20;
/// The longest line.
const MAX_LINE: usize = 1 << 20;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Import declarations (JSON Lines); one with a known reference replaces it.
    Import {
        /// The file.
        file: PathBuf,
        /// The vault the workstation serves (the desk lives beside it).
        #[arg(long, value_name = "DIR")]
        vault: PathBuf,
    },
    /// Show the declarations naming a container number or conveyance id.
    Show {
        /// Container number or plate.
        identifier: String,
        /// The vault.
        #[arg(long, value_name = "DIR")]
        vault: PathBuf,
    },
}

fn desk(vault: &Path) -> Result<Desk, Failure> {
    if !vault.join("vault.toml").is_file() {
        return Err(Failure::env(anyhow::anyhow!(
            "{} is not a vault (no vault.toml)",
            vault.display()
        )));
    }
    Desk::open(vault).map_err(Failure::env)
}

/// Reads and checks every line; all declarations, or every problem with its line number.
pub(crate) fn read(file: &Path) -> Result<Vec<Declaration>, Failure> {
    let f = std::fs::File::open(file)
        .map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", file.display())))?;
    if f.metadata().map(|m| m.len()).unwrap_or(0) > MAX_FILE {
        return Err(Failure::Usage(format!(
            "{}: larger than {} MiB; split it",
            file.display(),
            MAX_FILE >> 20
        )));
    }
    let mut reader = std::io::BufReader::new(f);
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    let mut line = Vec::new();
    for n in 1.. {
        line.clear();
        // Bounded: a line longer than the limit is read no further than the limit.
        let got =
            std::io::Read::take(&mut reader, MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
        if got == 0 {
            break;
        }
        if line.len() > MAX_LINE {
            bad.push(format!("line {n}: longer than {MAX_LINE} bytes"));
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Declaration>(&line) {
            Ok(d) => match d.check() {
                Ok(()) => out.push(d),
                Err(e) => bad.push(format!("line {n}: {e}")),
            },
            Err(e) => bad.push(format!("line {n}: {e}")),
        }
    }
    if !bad.is_empty() {
        return Err(Failure::Usage(format!(
            "{}: nothing imported:\n  {}",
            file.display(),
            bad.join("\n  ")
        )));
    }
    Ok(out)
}

pub(crate) fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Import { file, vault } => {
            let list = read(&file)?;
            desk(&vault)?
                .import_declarations(&list, sluis_server::http::wall_clock())
                .map_err(Failure::env)?;
            println!("{}: {} declarations imported", file.display(), list.len());
            Ok(())
        }
        Command::Show { identifier, vault } => {
            for d in desk(&vault)?
                .declarations_for(&[identifier])
                .map_err(Failure::env)?
            {
                println!("{}", serde_json::to_string(&d).map_err(Failure::env)?);
            }
            Ok(())
        }
    }
}
