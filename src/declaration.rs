//! `sluis declaration`: customs declarations for the workstation to show beside the scans of the
//! containers they name (the store is `sluis-server::desk`).
//!
//! The input is JSON Lines, one declaration per line, as the authority's declaration system
//! exports them. Every line is checked; one bad line refuses the whole file, with the line
//! number and the reason of each bad line, and nothing is imported.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use sluis_server::desk::{Declaration, DeclarationsError, Desk, read_declarations};

use crate::failure::Failure;

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

/// Reads and checks every line (see `sluis_server::desk::read_declarations`).
pub(crate) fn read(file: &Path) -> Result<Vec<Declaration>, Failure> {
    read_declarations(file).map_err(|e| match e {
        DeclarationsError::Io(e) => Failure::env(anyhow::anyhow!("{}: {e}", file.display())),
        e => Failure::Usage(format!("{}: {e}", file.display())),
    })
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
