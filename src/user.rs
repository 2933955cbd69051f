//! `sluis user`: the workstation's local accounts (the logic is in `sluis-server::accounts`).

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use sluis_server::{AccountError, Accounts, Role};
use zeroize::Zeroizing;

use crate::Failure;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Add an account; the password is read from standard input (one line).
    Add {
        /// The login name (a-z, 0-9, '.', '_', '-', '@').
        name: String,
        /// analyst, supervisor, auditor or administrator.
        #[arg(long)]
        role: String,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The vault the workstation serves (accounts live beside it).
        #[arg(long, value_name = "DIR")]
        vault: PathBuf,
    },
    /// List the accounts (never their hashes).
    List {
        /// The vault.
        #[arg(long, value_name = "DIR")]
        vault: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: it stays for the audit trail and cannot log in.
    Disable {
        /// The login name.
        name: String,
        /// The vault.
        #[arg(long, value_name = "DIR")]
        vault: PathBuf,
    },
}

fn open(vault: &Path) -> Result<Accounts, Failure> {
    if !vault.join("vault.toml").is_file() {
        return Err(Failure::env(anyhow::anyhow!(
            "{} is not a vault (no vault.toml); create one with `sluis vault init`",
            vault.display()
        )));
    }
    Accounts::open(vault).map_err(account_failure)
}

fn account_failure(e: AccountError) -> Failure {
    match e {
        AccountError::BadName(_)
        | AccountError::BadPassword
        | AccountError::Exists(_)
        | AccountError::Unknown(_) => Failure::Usage(e.to_string()),
        other => Failure::env(other),
    }
}

/// Writes an account change to the vault's transparency log, as the workstation does, when no
/// running service holds the vault; otherwise says that it was not logged and how to have it
/// logged. The actor is the operating-system account that ran the command.
fn log_change(vault: &Path, subject: &str, change: &str) {
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    match sluis_vault::Vault::open(vault) {
        Ok(v) => match v.log_account(
            subject,
            &format!("{change} (sluis user)"),
            &v.actor(&format!("os:{who}")),
        ) {
            Ok(index) => println!("logged as audit record {index}"),
            Err(e) => eprintln!("sluis: the change is made but not logged: {e}"),
        },
        Err(sluis_vault::VaultError::InUse(_)) => eprintln!(
            "sluis: the change is made but not logged: a running service holds the vault; changes made on the workstation's administrator page are logged"
        ),
        Err(e) => eprintln!("sluis: the change is made but not logged: {e}"),
    }
}

pub(crate) fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Add {
            name, role, vault, ..
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                Failure::Usage(format!(
                    "unknown role {role:?}; use analyst, supervisor, auditor or administrator"
                ))
            })?;
            let accounts = open(&vault)?;
            // One line, at most 1 KiB and a newline; the buffer is wiped when dropped.
            let mut input = Zeroizing::new(Vec::new());
            std::io::stdin()
                .take(sluis_server::accounts::MAX_PASSWORD as u64 + 2)
                .read_to_end(&mut input)?;
            let line = input.split(|b| *b == b'\n').next().unwrap_or_default();
            let password = line.strip_suffix(b"\r").unwrap_or(line);
            accounts
                .add(&name, role, password, sluis_server::http::wall_clock())
                .map_err(account_failure)?;
            println!("{name}: {role} account added");
            log_change(&vault, &name, &format!("account added role={role}"));
            Ok(())
        }
        Command::List { vault, json } => {
            for a in open(&vault)?.list().map_err(account_failure)? {
                if json {
                    println!("{}", serde_json::to_string(&a).map_err(Failure::env)?);
                } else {
                    println!(
                        "{:<24} {:<14} {}",
                        a.name,
                        a.role,
                        if a.disabled { "disabled" } else { "active" }
                    );
                }
            }
            Ok(())
        }
        Command::Disable { name, vault } => {
            open(&vault)?.disable(&name).map_err(account_failure)?;
            println!("{name}: disabled");
            log_change(&vault, &name, "account disabled");
            Ok(())
        }
    }
}
