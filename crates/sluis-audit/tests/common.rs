//! Helpers: a log in a temporary directory, and reading it back as the auditor does.

use std::sync::Arc;

use sluis_audit::{
    Action, ActorId, AuditRecord, Batching, FsStore, Log, LogSigner, NoteVerifier, Outcome, Policy,
};

pub(crate) const ORIGIN: &str = "sluis.test/audit";

pub(crate) struct TestLog {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) signer: LogSigner,
    pub(crate) log: Option<Log>,
}

impl TestLog {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let signer = LogSigner::generate(ORIGIN).unwrap();
        let log = Log::create(
            Arc::new(FsStore::new(dir.path()).unwrap()),
            signer.clone(),
            Batching::default(),
        )
        .unwrap();
        TestLog {
            dir,
            signer,
            log: Some(log),
        }
    }

    pub(crate) fn log(&self) -> &Log {
        self.log.as_ref().unwrap()
    }

    /// Closes the log (so the files are at rest) and returns the store for the auditor.
    pub(crate) fn close(&mut self) -> FsStore {
        if let Some(l) = self.log.take() {
            l.close();
        }
        FsStore::new(self.dir.path()).unwrap()
    }

    pub(crate) fn reopen(&mut self) {
        self.close();
        self.log = Some(
            Log::open(
                Arc::new(FsStore::new(self.dir.path()).unwrap()),
                self.signer.clone(),
                Batching::default(),
            )
            .unwrap(),
        );
    }

    pub(crate) fn policy(&self) -> Policy {
        Policy {
            log: Some(NoteVerifier::new(&self.signer.vkey()).unwrap()),
            records: true,
            ..Policy::default()
        }
    }

    pub(crate) fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }
}

/// A realistic record number `i`.
pub(crate) fn record(i: u64) -> Vec<u8> {
    let actor = ActorId::pseudonym(&[3u8; 32], &format!("analyst {}", i % 7));
    AuditRecord::new(
        if i.is_multiple_of(3) {
            Action::Read
        } else {
            Action::Store
        },
        actor,
        "sluis-vault@test",
        Outcome::Success,
    )
    .object(format!("v-{i:016x}"))
    .purpose("test")
    .encode()
    .unwrap()
}

/// Appends `n` records from `threads` threads at once; returns the indices acknowledged.
pub(crate) fn append_records(log: &Log, first: u64, n: u64, threads: u64) -> Vec<u64> {
    let mut out: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (first..first + n)
                        .filter(|i| i % threads == t)
                        .map(|i| log.append(record(i)).unwrap().index)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    out.sort_unstable();
    out
}
