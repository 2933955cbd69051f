//! `sluis user`: the workstation's local accounts (the logic is in `sluis-server::accounts`).

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use sluis_server::{AccountError, Accounts, Role};
use zeroize::Zeroizing;

use crate::failure::Failure;

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
    /// Disable an account: it stays for the audit trail and cannot log in; its sessions on a
    /// running workstation end at once.
    Disable {
        /// The login name.
        name: String,
        /// The vault.
        #[arg(long, value_name = "DIR")]
        vault: PathBuf,
    },
    /// Enable an account again (and lift a lock-out).
    Enable {
        /// The login name.
        name: String,
        /// The vault.
        #[arg(long, value_name = "DIR")]
        vault: PathBuf,
    },
    /// Give an account another role; its sessions on a running workstation end at once.
    Role {
        /// The login name.
        name: String,
        /// analyst, supervisor, auditor or administrator.
        #[arg(long)]
        role: String,
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
        | AccountError::Unknown(_)
        | AccountError::LastAdministrator(_) => Failure::Usage(e.to_string()),
        other => Failure::env(other),
    }
}

/// Who ran the command: the operating-system account (only its pseudonym is logged).
fn operator() -> String {
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("os:{who}")
}

/// Sees a change (already in the accounts' outbox, in the same transaction as the change
/// itself) to its audit record: written here when no running service holds the vault; when one
/// does (a workstation or a core), that service writes it within a second, and this waits for
/// it. Either way the change is never without its record: an entry still waiting is written by
/// whoever next holds the vault.
fn see_logged(vault: &Path, accounts: &Accounts, change: i64) -> Result<(), Failure> {
    let record =
        sluis_server::users::record_change(vault, accounts, change).map_err(|e| match e {
            sluis_server::users::ChangeLogError::Vault(v) => crate::vault::vault_failure(v),
            e => Failure::env(e),
        })?;
    match record {
        Some(index) => println!("logged as audit record {index}"),
        None => println!(
            "the running service holding the vault writes its audit record (change {change} waits in the accounts' outbox)"
        ),
    }
    Ok(())
}

fn change(
    vault: &Path,
    name: &str,
    done: &str,
    apply: impl FnOnce(&Accounts, &str, sluis_server::accounts::Seconds) -> Result<i64, AccountError>,
) -> Result<(), Failure> {
    let accounts = open(vault)?;
    let id =
        apply(&accounts, &operator(), sluis_server::http::wall_clock()).map_err(account_failure)?;
    println!("{name}: {done}");
    see_logged(vault, &accounts, id)
}

fn parse_role(role: &str) -> Result<Role, Failure> {
    Role::parse(role).ok_or_else(|| {
        Failure::Usage(format!(
            "unknown role {role:?}; use analyst, supervisor, auditor or administrator"
        ))
    })
}

pub(crate) fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Add {
            name, role, vault, ..
        } => {
            let role = parse_role(&role)?;
            let accounts = open(&vault)?;
            // One line, at most 1 KiB and a newline; the buffer is wiped when dropped.
            let mut input = Zeroizing::new(Vec::new());
            std::io::stdin()
                .take(sluis_server::accounts::MAX_PASSWORD as u64 + 2)
                .read_to_end(&mut input)?;
            let line = input.split(|b| *b == b'\n').next().unwrap_or_default();
            let password = line.strip_suffix(b"\r").unwrap_or(line);
            let change = accounts
                .add(
                    &name,
                    role,
                    password,
                    sluis_server::http::wall_clock(),
                    &operator(),
                )
                .map_err(account_failure)?;
            println!("{name}: {role} account added");
            see_logged(&vault, &accounts, change)
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
        Command::Disable { name, vault } => change(&vault, &name, "disabled", |a, who, now| {
            a.disable(&name, who, now)
        }),
        Command::Enable { name, vault } => change(&vault, &name, "enabled", |a, who, now| {
            a.enable(&name, who, now)
        }),
        Command::Role { name, role, vault } => {
            let role = parse_role(&role)?;
            change(&vault, &name, &format!("now {role}"), |a, who, now| {
                a.set_role(&name, role, who, now)
            })
        }
    }
}
