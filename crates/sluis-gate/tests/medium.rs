//! Hostile media: each must give its typed refusal and leave nothing in the depot's store.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sluis_gate::medium::{self, Area, Limits, MediumError, Refusal, Survey};

struct Medium {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    store: PathBuf,
}

impl Medium {
    /// A well-formed bundle tree.
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("medium");
        let store = tmp.path().join("store");
        std::fs::create_dir_all(root.join("metadata")).unwrap();
        std::fs::create_dir_all(root.join("targets/acme/xr-9000")).unwrap();
        std::fs::create_dir_all(root.join("proofs")).unwrap();
        std::fs::create_dir_all(&store).unwrap();
        let m = Self {
            _tmp: tmp,
            root,
            store,
        };
        m.put("bundle.json", b"{}\n");
        m.put("metadata/1.root.json", b"{\"signed\":{}}");
        m.put("metadata/timestamp.json", b"{\"signed\":{}}");
        m.put("targets/acme/xr-9000/4.2.1.pkg", &vec![7u8; 3 << 20]);
        m.put("proofs/checkpoint", b"sluis\n1\nAAAA\n");
        m
    }

    fn put(&self, path: &str, bytes: &[u8]) {
        std::fs::write(self.root.join(path), bytes).unwrap();
    }

    fn dest(&self) -> PathBuf {
        self.store.join("b-1")
    }

    fn copy(&self) -> Result<medium::BundleCopy, MediumError> {
        self.copy_with(&Limits::default())
    }

    fn copy_with(&self, limits: &Limits) -> Result<medium::BundleCopy, MediumError> {
        medium::copy_in(&self.root, &self.dest(), limits)
    }

    /// Copies, expecting a refusal with this code, and checks nothing was left behind.
    fn refused(&self, limits: &Limits, code: &str) -> Refusal {
        let err = self.copy_with(limits).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert!(
            !self.dest().exists(),
            "a refused medium left {}",
            self.dest().display()
        );
        match err {
            MediumError::Refused(r) => r,
            other => panic!("{other}"),
        }
    }
}

fn sha256(path: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(path).unwrap()).into()
}

#[test]
fn a_bundle_is_copied_whole_owner_only_with_its_digests() {
    let m = Medium::new();
    let old = unsafe_umask(0);
    let copy = m.copy().unwrap();
    unsafe_umask(old);
    let paths: Vec<&str> = copy.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "bundle.json",
            "metadata/1.root.json",
            "metadata/timestamp.json",
            "proofs/checkpoint",
            "targets/acme/xr-9000/4.2.1.pkg",
        ]
    );
    for f in &copy.files {
        let p = copy.root.join(&f.path);
        assert_eq!(f.sha256, sha256(&m.root.join(&f.path)), "{}", f.path);
        assert_eq!(f.sha256, sha256(&p));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), f.len);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(
        copy.file("targets/acme/xr-9000/4.2.1.pkg").unwrap().area,
        Area::Targets
    );
    for d in [
        "",
        "metadata",
        "targets",
        "targets/acme",
        "targets/acme/xr-9000",
        "proofs",
    ] {
        let mode = std::fs::metadata(copy.root.join(d))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{d}");
    }
    // The copy is what is verified: a medium changed afterwards does not reach it.
    m.put("targets/acme/xr-9000/4.2.1.pkg", b"evil");
    let f = copy.file("targets/acme/xr-9000/4.2.1.pkg").unwrap();
    assert_eq!(sha256(&copy.root.join(&f.path)), f.sha256);
    // A second medium cannot be copied over the first.
    assert_eq!(m.copy().unwrap_err().code(), "medium.io");
    // A store that does not exist yet is made, owner only.
    let fresh = m.store.with_file_name("fresh");
    medium::copy_in(&m.root, &fresh.join("b-2"), &Limits::default()).unwrap();
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

/// Sets the process umask (tests in this binary do not depend on it otherwise).
fn unsafe_umask(mask: u32) -> u32 {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask)).as_raw_mode()
}

#[test]
fn links_anywhere_are_refused_never_followed() {
    for (at, target) in [
        ("targets/acme/xr-9000/keys", "/etc"),
        ("metadata/2.root.json", "../../outside"),
        ("targets/acme/evil.pkg", "/etc/shadow"),
        ("keys", "/"),
    ] {
        let m = Medium::new();
        symlink(target, m.root.join(at)).unwrap();
        let r = m.refused(&Limits::default(), "medium.symlink");
        assert!(r.to_string().contains(at), "{r}");
    }
    // The manifest itself as a link.
    let m = Medium::new();
    std::fs::remove_file(m.root.join("bundle.json")).unwrap();
    symlink("/etc/passwd", m.root.join("bundle.json")).unwrap();
    m.refused(&Limits::default(), "medium.symlink");
}

#[test]
fn fifos_and_devices_are_refused_without_blocking() {
    let m = Medium::new();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        m.root.join("targets/acme/pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let r = m.refused(&Limits::default(), "medium.special-file");
    assert!(r.to_string().contains("FIFO"), "{r}");
    let m = Medium::new();
    let node = m.root.join("targets/zero");
    match rustix::fs::mknodat(
        rustix::fs::CWD,
        &node,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o600),
        rustix::fs::makedev(1, 5),
    ) {
        Ok(()) => {
            let r = m.refused(&Limits::default(), "medium.special-file");
            assert!(r.to_string().contains("character device"), "{r}");
        }
        // Without CAP_MKNOD (an unprivileged run) no device node can be made to test with.
        Err(e) => assert_eq!(e, rustix::io::Errno::PERM, "{e}"),
    }
}

#[test]
fn names_that_climb_hide_or_mis_encode_are_refused() {
    use std::os::unix::ffi::OsStrExt;
    for name in [
        &b"..."[..],
        b".hidden",
        b"%2e%2e",
        b"a\\..\\b",
        b"caf\xc3\xa9.pkg",
        b"\xc0\xae\xc0\xae",
        b"\xff\xfe",
        b"tab\there",
        b"new\nline",
    ] {
        let m = Medium::new();
        let p = m
            .root
            .join("targets")
            .join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(&p, b"x").unwrap();
        let r = m.refused(&Limits::default(), "medium.name");
        assert!(r.to_string().starts_with("targets/"), "{r}");
    }
}

#[test]
fn only_the_bundle_layout_is_accepted() {
    let m = Medium::new();
    m.put("autorun.inf", b"[autorun]");
    m.refused(&Limits::default(), "medium.unexpected");
    let m = Medium::new();
    std::fs::create_dir(m.root.join("extra")).unwrap();
    m.refused(&Limits::default(), "medium.unexpected");
    let m = Medium::new();
    std::fs::create_dir(m.root.join("metadata/nested")).unwrap();
    m.refused(&Limits::default(), "medium.unexpected");
    let m = Medium::new();
    std::fs::remove_file(m.root.join("bundle.json")).unwrap();
    m.refused(&Limits::default(), "medium.no-manifest");
}

#[test]
fn a_hundred_thousand_files_are_refused_before_anything_is_written() {
    let m = Medium::new();
    let dir = m.root.join("targets/many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..100_000 {
        std::fs::File::create(dir.join(format!("f{i}"))).unwrap();
    }
    let started = std::time::Instant::now();
    let r = m.refused(&Limits::default(), "medium.too-many-entries");
    assert_eq!(r, Refusal::TooManyEntries { limit: 10_000 });
    // The survey stops at the limit instead of listing everything.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn too_deep_trees_are_refused() {
    let m = Medium::new();
    let mut p = m.root.join("targets");
    for i in 0..9 {
        p = p.join(format!("d{i}"));
    }
    std::fs::create_dir_all(&p).unwrap();
    let r = m.refused(&Limits::default(), "medium.too-deep");
    assert!(matches!(r, Refusal::TooDeep { limit: 8, .. }), "{r}");
    // Eight is allowed.
    let m = Medium::new();
    let mut p = m.root.join("targets");
    for i in 0..7 {
        p = p.join(format!("d{i}"));
    }
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("leaf"), b"x").unwrap();
    m.copy().unwrap();
}

#[test]
fn oversized_metadata_targets_and_totals_are_refused_unread() {
    // Sparse: the refusal comes from the size, not from reading 100 MB or 10 GB.
    let m = Medium::new();
    std::fs::File::create(m.root.join("metadata/targets.json"))
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    let r = m.refused(&Limits::default(), "medium.too-large");
    assert!(
        matches!(r, Refusal::TooLarge { len, limit, area: "metadata", .. } if len == 100 << 20 && limit == 16 << 20),
        "{r}"
    );
    let m = Medium::new();
    std::fs::File::create(m.root.join("targets/big.pkg"))
        .unwrap()
        .set_len(10 << 30)
        .unwrap();
    let limits = Limits {
        max_target_bytes: 1 << 30,
        ..Limits::default()
    };
    m.refused(&limits, "medium.too-large");
    let m = Medium::new();
    m.put("bundle.json", &vec![b' '; 70_000]);
    m.refused(&Limits::default(), "medium.too-large");
    let m = Medium::new();
    let limits = Limits {
        max_total_bytes: 2 << 20,
        ..Limits::default()
    };
    m.refused(&limits, "medium.total-too-large");
}

#[test]
fn a_file_that_changes_between_survey_and_copy_is_refused() {
    let pkg = "targets/acme/xr-9000/4.2.1.pkg";
    // Grown.
    let m = Medium::new();
    let survey = Survey::of(&m.root, &Limits::default()).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(m.root.join(pkg))
        .unwrap()
        .write_all(b"!")
        .unwrap();
    let err = survey.copy_to(&m.dest()).unwrap_err();
    assert_eq!(err.code(), "medium.changed", "{err}");
    assert!(!m.dest().exists());
    // Shrunk.
    let m = Medium::new();
    let survey = Survey::of(&m.root, &Limits::default()).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(m.root.join(pkg))
        .unwrap()
        .set_len(10)
        .unwrap();
    assert_eq!(
        survey.copy_to(&m.dest()).unwrap_err().code(),
        "medium.changed"
    );
    // Replaced by another file of the same size.
    let m = Medium::new();
    let survey = Survey::of(&m.root, &Limits::default()).unwrap();
    let before = std::fs::metadata(m.root.join(pkg)).unwrap().ino();
    std::fs::write(m.root.join("targets/other"), vec![1u8; 3 << 20]).unwrap();
    std::fs::rename(m.root.join("targets/other"), m.root.join(pkg)).unwrap();
    assert_ne!(std::fs::metadata(m.root.join(pkg)).unwrap().ino(), before);
    assert_eq!(
        survey.copy_to(&m.dest()).unwrap_err().code(),
        "medium.changed"
    );
    // A directory swapped for a link to elsewhere.
    let m = Medium::new();
    let survey = Survey::of(&m.root, &Limits::default()).unwrap();
    std::fs::rename(m.root.join("targets/acme"), m.root.join("acme-moved")).unwrap();
    symlink(m.root.join("acme-moved"), m.root.join("targets/acme")).unwrap();
    assert_eq!(
        survey.copy_to(&m.dest()).unwrap_err().code(),
        "medium.changed"
    );
    assert!(!m.dest().exists());
}
