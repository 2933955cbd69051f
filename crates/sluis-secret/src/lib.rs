//! Owner-only files and directories: everything sluis writes is trade data or a key, so every
//! file is mode 0600 and every directory 0700, whatever the umask of whoever started it. And the
//! key files every crate that holds a secret shares ([`read_secret`], [`write_secret`],
//! [`random_32`]), so that the enclave's side (the link) need not link the transparency log for
//! three functions. This crate does not know what the secrets are for.
//!
//! Two layers, because either alone leaves a gap:
//!
//! * [`restrict_umask`]: a sluis process sets its umask to 077 before it starts a thread, so
//!   that whatever it creates (SQLite's `-wal` and `-shm` files, temporary files, the files of
//!   any library) is born owner-only.
//! * The functions below create files and directories with explicit modes (a library used by
//!   another program does not inherit sluis's umask), and [`private_dir`] tightens a directory
//!   that exists already and is open to others, or refuses it when it belongs to someone else.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let vault = dir.path().join("vault");
//! sluis_secret::private_dir(&vault).unwrap();
//! sluis_secret::write_private(&vault.join("vault.toml"), b"origin = \"x\"\n").unwrap();
//! # use std::os::unix::fs::PermissionsExt;
//! assert_eq!(std::fs::metadata(&vault).unwrap().permissions().mode() & 0o777, 0o700);
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt,
};
use std::path::{Path, PathBuf};

/// The mode of every file sluis writes.
pub const FILE_MODE: u32 = 0o600;
/// The mode of every directory sluis makes.
pub const DIR_MODE: u32 = 0o700;

/// Why a path could not be made private.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivateError {
    /// It belongs to another account: sluis does not take it over.
    #[error(
        "{path} is open to others (mode {mode:o}) and belongs to uid {owner}, not to this account; \
         make it owner-only (chmod 700) or choose another directory"
    )]
    NotOurs {
        /// The path.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
        /// Its owner.
        owner: u32,
    },
    /// It exists and is not a directory.
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    /// The filesystem refused.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<PrivateError> for std::io::Error {
    fn from(e: PrivateError) -> Self {
        match e {
            PrivateError::Io { source, .. } => source,
            other => std::io::Error::new(std::io::ErrorKind::PermissionDenied, other.to_string()),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PrivateError + '_ {
    move |source| PrivateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Sets this process's umask to 077, so that everything it creates from here on is readable by
/// its owner only. Call it first thing in `main`, before any thread starts (the umask is
/// process-wide). Returns the umask it replaced.
pub fn restrict_umask() -> u32 {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077)).as_raw_mode()
}

/// Makes `dir` (and any missing parents) with mode 0700. A directory that exists already is
/// tightened to 0700 if it is open to others and this account owns it; one that another
/// account owns and others can read is refused (the caller says so and stops). Returns whether
/// an existing directory was tightened.
pub fn private_dir(dir: &Path) -> Result<bool, PrivateError> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => tighten(dir, &m),
        Ok(m) if m.file_type().is_symlink() => {
            let m = std::fs::metadata(dir).map_err(io(dir))?;
            if !m.is_dir() {
                return Err(PrivateError::NotADirectory(dir.to_path_buf()));
            }
            tighten(dir, &m)
        }
        Ok(_) => Err(PrivateError::NotADirectory(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(io(dir))?;
            // The umask may have taken bits from DIR_MODE, never added any; set it exactly.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
                .map_err(io(dir))?;
            Ok(false)
        }
        Err(e) => Err(io(dir)(e)),
    }
}

/// Makes `dir` and any missing parents with mode 0700, leaving existing ones as they are: for
/// paths inside a directory [`private_dir`] already made private (a blob's fan-out
/// directories, a log's tile directories), on hot paths.
pub fn create_dirs(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

fn tighten(dir: &Path, m: &std::fs::Metadata) -> Result<bool, PrivateError> {
    let mode = m.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    let me = rustix::process::geteuid().as_raw();
    if m.uid() != me && me != 0 {
        return Err(PrivateError::NotOurs {
            path: dir.to_path_buf(),
            mode,
            owner: m.uid(),
        });
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE)).map_err(io(dir))?;
    Ok(true)
}

/// Options that create files with mode 0600 (and leave an existing file's mode alone: use
/// [`create_private`] to replace one).
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

/// Creates (or truncates) `path` for writing, mode 0600 even if it existed with another mode.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let f = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Creates `path` for writing, mode 0600; fails if it exists.
pub fn create_new_private(path: &Path) -> std::io::Result<File> {
    options().write(true).create_new(true).open(path)
}

/// Opens `path` for appending, creating it with mode 0600 (and tightening an existing file).
pub fn append_private(path: &Path) -> std::io::Result<File> {
    let f = options().create(true).append(true).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Writes `bytes` to `path` (created or replaced in place), mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    create_private(path)?.write_all(bytes)
}

/// Makes sure `path` exists as an owner-only file before another library opens it (SQLite
/// gives a database's `-wal` and `-shm` files the database file's mode): created empty with
/// mode 0600 if absent, tightened to 0600 if present.
pub fn prepare_private_file(path: &Path) -> std::io::Result<()> {
    let f = options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
}

/// Sets an existing file to mode 0600 (a file another library created, such as SQLite's).
pub fn tighten_file(path: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))
}

/// Every file and directory under `root` (itself included) whose mode is not owner-only, with
/// its mode: what `sluis ... --check` and the tests report. Symbolic links are not followed.
pub fn open_to_others(root: &Path) -> std::io::Result<Vec<(PathBuf, u32)>> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p)?;
        if m.file_type().is_symlink() {
            continue;
        }
        let mode = m.permissions().mode() & 0o7777;
        let want = if m.is_dir() { DIR_MODE } else { FILE_MODE };
        if mode & !want != 0 {
            found.push((p.clone(), mode));
        }
        if m.is_dir() {
            for e in std::fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

// ---- Key files and randomness ----

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file is readable by others than its owner.
    #[error(
        "key file {path} has mode {mode:04o}; it must be readable by its owner only (chmod 600)"
    )]
    Mode {
        /// The file.
        path: String,
        /// Its mode bits.
        mode: u32,
    },
    /// The key file does not exist.
    #[error("key file {0} does not exist")]
    Missing(String),
    /// The key is malformed or of the wrong type.
    #[error("{0}")]
    Malformed(String),
    /// The key file exists already.
    #[error("key file {0} exists; refusing to overwrite a key")]
    Exists(String),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// 32 random bytes from the operating system.
pub fn random_32() -> Result<[u8; 32], KeyError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| KeyError::Malformed(format!("no randomness: {e}")))?;
    Ok(b)
}

/// Reads a secret key file, refusing one that others can read.
pub fn read_secret(path: &Path) -> Result<String, KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let display = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Missing(display));
        }
        Err(source) => {
            return Err(KeyError::Io {
                path: display,
                source,
            });
        }
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 || !meta.is_file() {
        return Err(KeyError::Mode {
            path: display,
            mode,
        });
    }
    std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: display,
        source,
    })
}

/// Writes a secret key file with mode 0600, refusing to overwrite an existing one; fsynced.
pub fn write_secret(path: &Path, contents: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let display = path.display().to_string();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists(display.clone())
            } else {
                KeyError::Io {
                    path: display.clone(),
                    source,
                }
            }
        })?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(|source| KeyError::Io {
            path: display,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn directories_and_files_are_owner_only_and_open_ones_are_tightened() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("a/b/c");
        assert!(!private_dir(&deep).unwrap());
        assert_eq!(mode(&deep), 0o700);
        assert_eq!(mode(&d.path().join("a")), 0o700);
        let open = d.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            private_dir(&open).unwrap(),
            "an open directory is tightened"
        );
        assert_eq!(mode(&open), 0o700);
        let f = open.join("f");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(open_to_others(&open).unwrap(), vec![(f.clone(), 0o644)]);
        write_private(&f, b"y").unwrap();
        assert_eq!(mode(&f), 0o600);
        assert!(open_to_others(&open).unwrap().is_empty());
        let g = open.join("g");
        append_private(&g).unwrap();
        assert_eq!(mode(&g), 0o600);
        assert!(create_new_private(&g).is_err());
        assert!(matches!(
            private_dir(&g),
            Err(PrivateError::NotADirectory(_))
        ));
    }
}
