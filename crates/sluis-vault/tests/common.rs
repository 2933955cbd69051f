//! Helpers: a vault in a temporary directory and small synthetic scans.

use sluis_scan::{DicosObject, Limits, SanitisedScan, sanitise, to_dicos_vec};
use sluis_vault::Vault;

/// A sanitised synthetic scan (20 mm pixels, so small) and its canonical bytes.
pub(crate) fn scan(seed: u64) -> (SanitisedScan, Vec<u8>) {
    let generated = sluis_synth::generate(&sluis_synth::Spec {
        kind: sluis_synth::Kind::Container20,
        seed,
        index: 0,
        pixel_mm: 20.0,
    });
    let mut s = generated.scan;
    s.reports.clear();
    let raw = to_dicos_vec(&DicosObject::Image(Box::new(s))).unwrap();
    let sanitised = sanitise(&raw, &Limits::default()).unwrap().scan;
    let canonical = to_dicos_vec(sanitised.object()).unwrap();
    (sanitised, canonical)
}

pub(crate) struct TestVault {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) vault: Option<Vault>,
}

impl TestVault {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::init(&dir.path().join("v"), Some("sluis.test/vault")).unwrap();
        TestVault {
            dir,
            vault: Some(vault),
        }
    }

    pub(crate) fn v(&self) -> &Vault {
        self.vault.as_ref().unwrap()
    }

    pub(crate) fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("v")
    }

    pub(crate) fn close(&mut self) {
        self.vault = None;
    }

    pub(crate) fn reopen(&mut self) {
        self.close();
        self.vault = Some(Vault::open(&self.root()).unwrap());
    }

    /// Every audit record in the log, decoded.
    pub(crate) fn records(&self) -> Vec<sluis_audit::AuditRecord> {
        let log = self.v().log();
        log.entries(0, log.size())
            .unwrap()
            .iter()
            .map(|e| sluis_audit::AuditRecord::decode(e).unwrap())
            .collect()
    }

    /// Sets a retention class in vault.toml (takes effect on reopen).
    pub(crate) fn set_retention(&mut self, class: &str, value: &str) {
        let p = self.root().join("vault.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{class} = ")))
            .unwrap()
            .to_string();
        std::fs::write(&p, text.replace(&line, &format!("{class} = \"{value}\""))).unwrap();
        self.reopen();
    }
}

/// Every file under `dir` with its contents (the lock file aside).
pub(crate) fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != ".lock" {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}
