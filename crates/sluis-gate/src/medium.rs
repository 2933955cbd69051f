//! Reading a release bundle off removable media into the depot's own store.
//!
//! The medium is hostile input. Whoever carried it, or the drive itself, may present names that
//! climb out of the tree, symbolic links to the depot's keys, device files and FIFOs that block
//! or never end, a hundred thousand files, a tree a thousand levels deep, metadata of a hundred
//! megabytes, or bytes that change between two reads. So the depot never verifies anything *on*
//! the medium: it copies the bundle into a directory of its own first, and every later check
//! reads that copy. There is no gap between check and use for the medium to exploit.
//!
//! The copy is made in two passes over the same tree:
//!
//! 1. **Survey** ([`Survey::of`]): every directory is opened relative to its parent's descriptor
//!    with `O_DIRECTORY | O_NOFOLLOW`, every entry is examined with `fstatat(AT_SYMLINK_NOFOLLOW)`,
//!    so no symbolic link is ever followed and no name can lead outside the tree. Names, kinds,
//!    depth, the number of files and every size are checked against [`Limits`] before a byte is
//!    written; a refusal here leaves nothing behind.
//! 2. **Copy** ([`Survey::copy_to`]): each surveyed file is opened again the same way (and with
//!    `O_NONBLOCK`, so a FIFO put in its place cannot block), its device, inode and size must be
//!    those the survey saw, and at most its surveyed length plus one byte is read: a file that
//!    grew or shrank is refused as changed. Each copy is hashed (SHA-256) as it is written, owner
//!    only, fsynced. On any refusal the partial copy is removed.
//!
//! The layout is fixed: `bundle.json`, and the directories `metadata/` and `proofs/` (flat) and
//! `targets/` (nested). Nothing else may lie on the medium's bundle directory.
//!
//! Written by hand over `rustix` because the walk must hold directory descriptors (`openat`
//! relative to the parent, `O_NOFOLLOW` at every step); `walkdir` and `std::fs::read_dir` work
//! on path strings and would follow a directory swapped for a link between two calls.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use sha2::{Digest, Sha256};

/// The manifest at the top of a bundle.
pub const MANIFEST: &str = "bundle.json";
/// The largest `bundle.json`.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// The longest name of one entry.
pub const MAX_NAME_BYTES: usize = 200;
/// The longest path of a file inside the bundle.
pub const MAX_PATH_BYTES: usize = 1024;

/// What a medium may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Files and directories in all.
    pub max_entries: usize,
    /// Directories below the bundle's top (`targets/a/b` is depth 3).
    pub max_depth: usize,
    /// One metadata or proof file.
    pub max_metadata_bytes: u64,
    /// One target.
    pub max_target_bytes: u64,
    /// Everything together.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_depth: 8,
            max_metadata_bytes: 16 << 20,
            max_target_bytes: 16 << 30,
            max_total_bytes: 64 << 30,
        }
    }
}

/// The part of a bundle a file lies in; each has its own size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// `bundle.json`.
    Manifest,
    /// `metadata/`: the TUF repository's roles.
    Metadata,
    /// `targets/`: the approved packages.
    Targets,
    /// `proofs/`: the log checkpoint and inclusion proofs.
    Proofs,
}

impl Area {
    fn of_top(name: &str) -> Option<Self> {
        match name {
            "metadata" => Some(Area::Metadata),
            "targets" => Some(Area::Targets),
            "proofs" => Some(Area::Proofs),
            _ => None,
        }
    }

    /// The area's name, as in the bundle.
    pub fn name(self) -> &'static str {
        match self {
            Area::Manifest => MANIFEST,
            Area::Metadata => "metadata",
            Area::Targets => "targets",
            Area::Proofs => "proofs",
        }
    }

    fn limit(self, limits: &Limits) -> u64 {
        match self {
            Area::Manifest => MAX_MANIFEST_BYTES,
            Area::Metadata | Area::Proofs => limits.max_metadata_bytes,
            Area::Targets => limits.max_target_bytes,
        }
    }
}

/// Why a medium is refused. Paths are inside the bundle, with odd bytes escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// A symbolic link anywhere in the tree.
    #[error("{path}: a symbolic link")]
    Symlink {
        /// Where.
        path: String,
    },
    /// A device file, FIFO or socket.
    #[error("{path}: a {kind}, not a regular file or a directory")]
    Special {
        /// Where.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// A name outside the bundle's alphabet (which also rules out `..`, absolute paths and odd
    /// encodings).
    #[error("{path}: the name {reason}")]
    Name {
        /// Where (escaped).
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Something that is not part of a bundle's layout.
    #[error("{path}: not part of a bundle (bundle.json, metadata/, targets/ and proofs/ only)")]
    Unexpected {
        /// Where.
        path: String,
    },
    /// `bundle.json` is not there.
    #[error("no bundle.json at the top of the medium")]
    NoManifest,
    /// Too many files and directories.
    #[error("more than {limit} files and directories")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// Directories nested too deep.
    #[error("{path}: more than {limit} directories deep")]
    TooDeep {
        /// Where.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// One file too large for its area.
    #[error("{path}: {len} bytes, more than the {limit} allowed in {area}")]
    TooLarge {
        /// Where.
        path: String,
        /// Its size.
        len: u64,
        /// The limit.
        limit: u64,
        /// Its area.
        area: &'static str,
    },
    /// Everything together too large.
    #[error("more than {limit} bytes in all")]
    TotalTooLarge {
        /// The limit.
        limit: u64,
    },
    /// A file differs between the survey and the copy.
    #[error("{path}: changed while it was read ({what})")]
    Changed {
        /// Where.
        path: String,
        /// What changed.
        what: &'static str,
    },
}

impl Refusal {
    /// A short code for the log and the outward report.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Symlink { .. } => "medium.symlink",
            Refusal::Special { .. } => "medium.special-file",
            Refusal::Name { .. } => "medium.name",
            Refusal::Unexpected { .. } => "medium.unexpected",
            Refusal::NoManifest => "medium.no-manifest",
            Refusal::TooManyEntries { .. } => "medium.too-many-entries",
            Refusal::TooDeep { .. } => "medium.too-deep",
            Refusal::TooLarge { .. } => "medium.too-large",
            Refusal::TotalTooLarge { .. } => "medium.total-too-large",
            Refusal::Changed { .. } => "medium.changed",
        }
    }
}

/// Why a medium could not be copied in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediumError {
    /// The medium is refused.
    #[error("medium refused: {0}")]
    Refused(#[from] Refusal),
    /// The depot's own disk would not hold it (with a margin).
    #[error("the store has {free} bytes free; the bundle needs {need} and a margin")]
    NoSpace {
        /// Bytes the bundle needs.
        need: u64,
        /// Bytes free.
        free: u64,
    },
    /// Reading the medium or writing the copy failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl MediumError {
    /// A short code for the log and the outward report.
    pub fn code(&self) -> &'static str {
        match self {
            MediumError::Refused(r) => r.code(),
            MediumError::NoSpace { .. } => "medium.no-space",
            MediumError::Io { .. } => "medium.io",
        }
    }
}

fn io(what: impl fmt::Display, e: impl Into<std::io::Error>) -> MediumError {
    MediumError::Io {
        what: what.to_string(),
        source: e.into(),
    }
}

/// One regular file found by the survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surveyed {
    /// Its path inside the bundle, `/`-separated (`targets/acme/x.bin`).
    pub path: String,
    /// Its area.
    pub area: Area,
    /// Its size.
    pub len: u64,
    dev: u64,
    ino: u64,
}

/// A medium's tree, checked against the limits, nothing copied yet.
#[derive(Debug)]
pub struct Survey {
    root: PathBuf,
    dev_ino: (u64, u64),
    files: Vec<Surveyed>,
    dirs: Vec<String>,
    total: u64,
}

/// One file of the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedFile {
    /// Its path inside the bundle.
    pub path: String,
    /// Its area.
    pub area: Area,
    /// Its size.
    pub len: u64,
    /// SHA-256 of the bytes written.
    pub sha256: [u8; 32],
}

/// The depot's copy of a bundle: where it lies and what it holds.
#[derive(Debug)]
pub struct BundleCopy {
    /// The copy's directory (owner only).
    pub root: PathBuf,
    /// Its files, in survey order (directories before what they hold, names sorted).
    pub files: Vec<CopiedFile>,
}

impl BundleCopy {
    /// The file at `path` inside the bundle, if the copy holds it.
    pub fn file(&self, path: &str) -> Option<&CopiedFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Checks one name from the medium: 1 to [`MAX_NAME_BYTES`] bytes of `A-Z a-z 0-9 . _ - +`, not
/// starting with a dot. This alphabet rules out `..`, separators, NUL, control and
/// percent-escapes, every non-ASCII byte (so no overlong UTF-8 or look-alike letters), and
/// hidden files.
pub fn check_name(name: &[u8]) -> Result<&str, &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("is longer than 200 bytes");
    }
    if name.first() == Some(&b'.') {
        return Err("starts with a dot");
    }
    if !name
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
    {
        return Err("holds a byte outside A-Z a-z 0-9 . _ - +");
    }
    std::str::from_utf8(name).map_err(|_| "is not ASCII")
}

fn shown(parent: &str, name: &[u8]) -> String {
    let name: String = name.escape_ascii().take(240).map(char::from).collect();
    join(parent, &name)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
const FILE_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);

fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::Fifo => "FIFO",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Socket => "socket",
        _ => "file of an unknown kind",
    }
}

struct Walk<'a> {
    limits: &'a Limits,
    entries: usize,
    total: u64,
    files: Vec<Surveyed>,
    dirs: Vec<String>,
}

impl Walk<'_> {
    fn count(&mut self) -> Result<(), MediumError> {
        self.entries = self.entries.saturating_add(1);
        if self.entries > self.limits.max_entries {
            return Err(Refusal::TooManyEntries {
                limit: self.limits.max_entries,
            }
            .into());
        }
        Ok(())
    }

    /// Reads one directory's names, sorted, at most the entry limit.
    fn names(&mut self, dir: &OwnedFd, at: &str) -> Result<Vec<Vec<u8>>, MediumError> {
        let mut names = Vec::new();
        let entries = rustix::fs::Dir::read_from(dir).map_err(|e| io(format!("read {at}/"), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(format!("read {at}/"), e))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            self.count()?;
            names.push(name.to_vec());
        }
        names.sort();
        Ok(names)
    }

    fn dir(
        &mut self,
        fd: &OwnedFd,
        path: &str,
        area: Area,
        depth: usize,
    ) -> Result<(), MediumError> {
        if depth > self.limits.max_depth {
            return Err(Refusal::TooDeep {
                path: path.to_string(),
                limit: self.limits.max_depth,
            }
            .into());
        }
        for raw in self.names(fd, path)? {
            let name = check_name(&raw).map_err(|reason| Refusal::Name {
                path: shown(path, &raw),
                reason,
            })?;
            let child = join(path, name);
            if child.len() > MAX_PATH_BYTES {
                return Err(Refusal::Name {
                    path: child.chars().take(240).collect(),
                    reason: "makes a path longer than 1024 bytes",
                }
                .into());
            }
            let st = rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| io(format!("examine {child}"), e))?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Symlink => return Err(Refusal::Symlink { path: child }.into()),
                FileType::Directory => {
                    if area != Area::Targets {
                        return Err(Refusal::Unexpected { path: child }.into());
                    }
                    let sub = rustix::fs::openat(fd, name, DIR_FLAGS, Mode::empty())
                        .map_err(|e| io(format!("open {child}/"), e))?;
                    self.dirs.push(child.clone());
                    self.dir(&sub, &child, area, depth.saturating_add(1))?;
                }
                FileType::RegularFile => self.file(child, area, &st)?,
                other => {
                    return Err(Refusal::Special {
                        path: child,
                        kind: kind_name(other),
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    fn file(&mut self, path: String, area: Area, st: &rustix::fs::Stat) -> Result<(), MediumError> {
        let len = u64::try_from(st.st_size).unwrap_or(u64::MAX);
        let limit = area.limit(self.limits);
        if len > limit {
            return Err(Refusal::TooLarge {
                path,
                len,
                limit,
                area: area.name(),
            }
            .into());
        }
        self.total = self.total.saturating_add(len);
        if self.total > self.limits.max_total_bytes {
            return Err(Refusal::TotalTooLarge {
                limit: self.limits.max_total_bytes,
            }
            .into());
        }
        self.files.push(Surveyed {
            path,
            area,
            len,
            dev: st.st_dev,
            ino: st.st_ino,
        });
        Ok(())
    }
}

fn dev_ino(st: &rustix::fs::Stat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

impl Survey {
    /// Surveys the bundle directory `root` on a medium.
    pub fn of(root: &Path, limits: &Limits) -> Result<Self, MediumError> {
        let top = rustix::fs::open(root, DIR_FLAGS, Mode::empty())
            .map_err(|e| io(format!("open the medium at {}", root.display()), e))?;
        let top_stat = rustix::fs::fstat(&top).map_err(|e| io("examine the medium", e))?;
        let mut walk = Walk {
            limits,
            entries: 0,
            total: 0,
            files: Vec::new(),
            dirs: Vec::new(),
        };
        let mut manifest = false;
        for raw in walk.names(&top, "")? {
            let name = check_name(&raw).map_err(|reason| Refusal::Name {
                path: shown("", &raw),
                reason,
            })?;
            let st = rustix::fs::statat(&top, name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| io(format!("examine {name}"), e))?;
            let kind = FileType::from_raw_mode(st.st_mode);
            if kind == FileType::Symlink {
                return Err(Refusal::Symlink { path: name.into() }.into());
            }
            match (name, kind) {
                (MANIFEST, FileType::RegularFile) => {
                    manifest = true;
                    walk.file(name.to_string(), Area::Manifest, &st)?;
                }
                (_, FileType::Directory) => {
                    let area = Area::of_top(name).ok_or_else(|| Refusal::Unexpected {
                        path: name.to_string(),
                    })?;
                    let sub = rustix::fs::openat(&top, name, DIR_FLAGS, Mode::empty())
                        .map_err(|e| io(format!("open {name}/"), e))?;
                    walk.dirs.push(name.to_string());
                    walk.dir(&sub, name, area, 1)?;
                }
                (_, FileType::RegularFile) => {
                    return Err(Refusal::Unexpected { path: name.into() }.into());
                }
                (_, other) => {
                    return Err(Refusal::Special {
                        path: name.into(),
                        kind: kind_name(other),
                    }
                    .into());
                }
            }
        }
        if !manifest {
            return Err(Refusal::NoManifest.into());
        }
        Ok(Self {
            root: root.to_path_buf(),
            dev_ino: dev_ino(&top_stat),
            files: walk.files,
            dirs: walk.dirs,
            total: walk.total,
        })
    }

    /// The files found, directories before what they hold.
    pub fn files(&self) -> &[Surveyed] {
        &self.files
    }

    /// Bytes in all.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Copies the surveyed files into `dest`, a directory that must not exist yet (its parent
    /// must). On any error the partial copy is removed.
    pub fn copy_to(&self, dest: &Path) -> Result<BundleCopy, MediumError> {
        let parent = dest.parent().unwrap_or(Path::new("."));
        sluis_secret::create_dirs(parent)
            .map_err(|e| io(format!("create {}", parent.display()), e))?;
        let vfs = rustix::fs::statvfs(parent)
            .map_err(|e| io(format!("examine {}", parent.display()), e))?;
        let free = vfs.f_bavail.saturating_mul(vfs.f_frsize);
        // A margin for the files' own blocks and for everything else the depot writes.
        let need = self
            .total
            .saturating_add(self.total / 64)
            .saturating_add(64 << 20);
        if need > free {
            return Err(MediumError::NoSpace {
                need: self.total,
                free,
            });
        }
        std::fs::DirBuilder::new()
            .mode_private()
            .create(dest)
            .map_err(|e| io(format!("create {}", dest.display()), e))?;
        match self.copy_into(dest) {
            Ok(files) => Ok(BundleCopy {
                root: dest.to_path_buf(),
                files,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(dest);
                Err(e)
            }
        }
    }

    fn copy_into(&self, dest: &Path) -> Result<Vec<CopiedFile>, MediumError> {
        let top = rustix::fs::open(&self.root, DIR_FLAGS, Mode::empty())
            .map_err(|e| io(format!("open the medium at {}", self.root.display()), e))?;
        let st = rustix::fs::fstat(&top).map_err(|e| io("examine the medium", e))?;
        if dev_ino(&st) != self.dev_ino {
            return Err(Refusal::Changed {
                path: ".".into(),
                what: "another directory is mounted there",
            }
            .into());
        }
        for d in &self.dirs {
            std::fs::DirBuilder::new()
                .mode_private()
                .create(dest.join(d))
                .map_err(|e| io(format!("create {d}/ in the copy"), e))?;
        }
        let mut buf = vec![0u8; 1 << 20];
        let mut out = Vec::with_capacity(self.files.len());
        for f in &self.files {
            let src = open_in(&top, &f.path)?;
            let st = rustix::fs::fstat(&src).map_err(|e| io(format!("examine {}", f.path), e))?;
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
                || (st.st_dev, st.st_ino) != (f.dev, f.ino)
            {
                return Err(Refusal::Changed {
                    path: f.path.clone(),
                    what: "another file is there now",
                }
                .into());
            }
            let sha256 = copy_file(File::from(src), f, &dest.join(&f.path), &mut buf)?;
            out.push(CopiedFile {
                path: f.path.clone(),
                area: f.area,
                len: f.len,
                sha256,
            });
        }
        for d in self.dirs.iter().rev() {
            sync_dir(&dest.join(d))?;
        }
        sync_dir(dest)?;
        Ok(out)
    }
}

trait PrivateDir {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateDir for std::fs::DirBuilder {
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(sluis_secret::DIR_MODE)
    }
}

/// Opens `path` (inside the bundle) below `top`, one component at a time, never following a
/// link.
fn open_in(top: &OwnedFd, path: &str) -> Result<OwnedFd, MediumError> {
    let mut parts = path.split('/').peekable();
    let mut dir: Option<OwnedFd> = None;
    while let Some(part) = parts.next() {
        let at = dir.as_ref().map_or(top.as_fd(), AsFd::as_fd);
        if parts.peek().is_none() {
            return rustix::fs::openat(at, part, FILE_FLAGS, Mode::empty())
                .map_err(|e| changed_or_io(path, e));
        }
        let next = rustix::fs::openat(at, part, DIR_FLAGS, Mode::empty())
            .map_err(|e| changed_or_io(path, e))?;
        dir = Some(next);
    }
    Err(Refusal::Name {
        path: path.to_string(),
        reason: "is empty",
    }
    .into())
}

fn changed_or_io(path: &str, e: rustix::io::Errno) -> MediumError {
    // ELOOP: a link where the survey saw a file or directory; ENOTDIR: a file where it saw a
    // directory; ENOENT: gone.
    if matches!(
        e,
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR | rustix::io::Errno::NOENT
    ) {
        Refusal::Changed {
            path: path.to_string(),
            what: "it was replaced or removed",
        }
        .into()
    } else {
        io(format!("open {path}"), e)
    }
}

/// Copies exactly `f.len` bytes, refusing a file that yields more or fewer.
fn copy_file(
    mut src: File,
    f: &Surveyed,
    to: &Path,
    buf: &mut [u8],
) -> Result<[u8; 32], MediumError> {
    let mut out = sluis_secret::create_new_private(to)
        .map_err(|e| io(format!("create the copy of {}", f.path), e))?;
    let mut hash = Sha256::new();
    let mut left = f.len;
    loop {
        // One byte more than is left, to see a file that grew.
        let want = usize::try_from(left.saturating_add(1))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = match src.read(chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(format!("read {}", f.path), e)),
        };
        if n == 0 {
            break;
        }
        let got = u64::try_from(n).unwrap_or(u64::MAX);
        if got > left {
            return Err(Refusal::Changed {
                path: f.path.clone(),
                what: "it grew",
            }
            .into());
        }
        left = left.saturating_sub(got);
        let bytes = chunk.get(..n).unwrap_or_default();
        hash.update(bytes);
        out.write_all(bytes)
            .map_err(|e| io(format!("write the copy of {}", f.path), e))?;
    }
    if left != 0 {
        return Err(Refusal::Changed {
            path: f.path.clone(),
            what: "it shrank",
        }
        .into());
    }
    out.sync_all()
        .map_err(|e| io(format!("sync the copy of {}", f.path), e))?;
    Ok(hash.finalize().into())
}

fn sync_dir(dir: &Path) -> Result<(), MediumError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(format!("sync {}", dir.display()), e))
}

/// Surveys `medium` and copies it into `dest`: the one call the depot makes.
pub fn copy_in(medium: &Path, dest: &Path, limits: &Limits) -> Result<BundleCopy, MediumError> {
    Survey::of(medium, limits)?.copy_to(dest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_the_alphabet_are_refused() {
        for bad in [
            &b""[..],
            b".",
            b"..",
            b".hidden",
            b"a/b",
            b"a\\b",
            b"%2e%2e",
            b"caf\xc3\xa9",
            b"\xc0\xae\xc0\xae",
            b"a\0b",
            b"a\nb",
            b"a b",
        ] {
            assert!(
                check_name(bad).is_err(),
                "{:?}",
                bad.escape_ascii().to_string()
            );
        }
        for good in [
            &b"1.root.json"[..],
            b"acme-scanner_4.2+b7.tar",
            b"timestamp.json",
        ] {
            assert!(check_name(good).is_ok());
        }
        assert!(check_name(&[b'a'; 201]).is_err());
        assert!(check_name(&[b'a'; 200]).is_ok());
    }

    #[test]
    fn escaped_paths_show_odd_bytes() {
        assert_eq!(shown("targets", b"a\xffb"), "targets/a\\xffb");
    }
}
