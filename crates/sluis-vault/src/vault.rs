//! The vault: where sanitised scans and quarantined inputs are kept, encrypted under the
//! authority's keys, and where every store, read, export, decision and deletion is logged.
//!
//! ```text
//! <vault>/vault.toml       configuration: log origin, retention per class, witnesses
//! <vault>/keys/            kek-<n>.key (key-encryption keys), index.key, log.key: mode 0600
//! <vault>/log.pub          the log's public key, for auditors
//! <vault>/blobs/           encrypted blobs, named by the SHA-256 of their bytes
//! <vault>/index.sqlite     the index
//! <vault>/log/             the transparency log (C2SP tlog-tiles; serve it read-only as is)
//! <vault>/.lock            held by the process that has the vault open
//! ```
//!
//! The order of every operation is chosen so that a crash leaves nothing visible that is half
//! done and loses nothing that was acknowledged:
//!
//! * **store**: encrypt and commit the blob; insert the row as `pending`; append the store
//!   record and wait until it is durable; mark the row `live`. A crash before the row leaves an
//!   unreferenced blob (reported by fsck, unreadable: its key was never kept); a crash after it
//!   leaves a pending row, which the next open confirms from the log or logs late.
//! * **read / export**: decrypt into memory and verify; append the access record and wait until
//!   it is durable; only then return the plaintext. No access without a record.
//! * **expire**: destroy the wrapped data key (one transaction; the write-ahead log truncated),
//!   delete the blob, then log the deletion; a crash in between is finished by the next open.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use sha2::{Digest, Sha256};
use sluis_audit::keys::{read_secret, write_secret};
use sluis_audit::{
    Action, ActorId, Appended, AuditRecord, Batching, FsStore, Log, LogError, LogSigner,
    NoteVerifier, Outcome,
};
use sluis_scan::{DicosObject, Refusal, SanitisedScan};

use crate::blobs::{BlobAddress, BlobError, BlobStore, FsBlobStore, hex};
use crate::config::{Config, ConfigError, class_of};
use crate::envelope::{self, BLAKE3_MARK, Dek, EnvelopeError, HashKind};
use crate::index::{
    Decision, Filter, Index, IndexError, Kind, ObjectRow, PendingAction, QuarantineMeta, ScanMeta,
    SqliteIndex, State,
};
use crate::keys::{FileKeySource, IndexSecret, KeyError, KeySource};

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key is missing, exposed or wrong.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Blob storage failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The audit log failed; nothing was released.
    #[error("audit log: {0}")]
    Log(#[from] LogError),
    /// No such object (or not one of this kind, or not live).
    #[error("no {kind} {id} in this vault")]
    NotFound {
        /// What was asked for.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// An object failed verification: its blob or key was altered or lost.
    #[error("object {id} is damaged: {reason}")]
    Damaged {
        /// The object.
        id: String,
        /// What failed.
        reason: String,
    },
    /// The audit record could not be made (an actor or purpose that is not acceptable).
    #[error("audit record: {0}")]
    Record(#[from] sluis_audit::record::RecordError),
    /// The directory is not a vault, or is one already, or is in an unexpected state.
    #[error("{0}")]
    State(String),
    /// Reading or writing a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, and to which path.
        what: String,
        /// The filesystem's error.
        #[source]
        source: std::io::Error,
    },
    /// A file or directory could not be made owner-only.
    #[error(transparent)]
    Private(#[from] sluis_secret::PrivateError),
    /// A blob's envelope failed: reading or writing it, its format, its authentication (damage
    /// or a wrong key), or randomness.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The object cannot be decided on: it is a threat report, not a scan.
    #[error("{0} is a threat report; decisions apply to scans")]
    NotAScan(String),
    /// The purpose given is not one the vault accepts (a code from `vault.toml`).
    #[error("{0}")]
    Purpose(String),
    /// Another process holds the vault.
    #[error(
        "the vault {0} is in use by another process (a running `sluis core` or `sluis serve`); stop it, or work through it"
    )]
    InUse(String),
}

impl VaultError {
    /// A filesystem error while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> VaultError {
        let what = what.into();
        move |source| VaultError::Io { what, source }
    }
}

/// The files of a vault.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The vault directory.
    pub root: PathBuf,
}

impl Layout {
    fn join(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }
    /// `vault.toml`.
    pub fn config(&self) -> PathBuf {
        self.join("vault.toml")
    }
    /// The key directory.
    pub fn keys(&self) -> PathBuf {
        self.join("keys")
    }
    /// The log's public key.
    pub fn log_pub(&self) -> PathBuf {
        self.join("log.pub")
    }
    /// The log directory.
    pub fn log(&self) -> PathBuf {
        self.join("log")
    }
}

/// What a store did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The object's id.
    pub id: String,
    /// The log index of its store (or quarantine) record.
    pub log_index: u64,
    /// True if the same content was stored before under this id and nothing new was stored.
    pub duplicate: bool,
}

/// Plaintext released after its access record became durable.
#[derive(Debug)]
pub struct Released {
    /// The object.
    pub row: ObjectRow,
    /// The plaintext.
    pub bytes: Vec<u8>,
    /// Where the access record is in the log.
    pub record: Appended,
}

/// An export: the released plaintext, its receipt, and how the witnesses answered.
#[derive(Debug)]
pub struct Exported {
    /// The plaintext and its record.
    pub released: Released,
    /// The `.tlog-proof` receipt of the export record.
    pub receipt: String,
    /// Each witness's URL and the size it cosigned, or why not.
    pub witnesses: Vec<(String, Result<u64, String>)>,
}

/// What `expire` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    /// (id, class) of each object shredded.
    pub shredded: Vec<(String, String)>,
}

/// What `rotate_kek` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The new key's id.
    pub new_kek: String,
    /// Data keys rewrapped.
    pub rewrapped: u64,
    /// Keys destroyed.
    pub retired: Vec<String>,
}

/// One problem fsck found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The object (or blob address for an unreferenced blob).
    pub id: String,
    /// What is wrong.
    pub problem: String,
}

/// What fsck found.
#[derive(Debug, Clone)]
pub struct FsckReport {
    /// Objects checked.
    pub objects: u64,
    /// Of which live and verified.
    pub verified: u64,
    /// Of which shredded (tombstones checked).
    pub shredded: u64,
    /// Plaintext bytes decrypted and verified.
    pub bytes: u64,
    /// Damage found, by object.
    pub damaged: Vec<Damage>,
    /// Blobs no row refers to (left by an interrupted store; their keys were never kept).
    pub unreferenced: Vec<(String, u64)>,
    /// The log's verification: entries verified, or the failure.
    pub log: Result<u64, String>,
    /// Keys held that no data key is wrapped under.
    pub unused_keys: Vec<String>,
}

impl FsckReport {
    /// True when nothing is damaged and the log verifies.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && self.log.is_ok()
    }
}

/// Progress of a long operation: (done, total) objects and plaintext bytes done.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64, u64);

/// An open vault.
pub struct Vault {
    layout: Layout,
    config: Config,
    keys: RwLock<Box<dyn KeySource>>,
    blobs: Box<dyn BlobStore>,
    index: Mutex<Box<dyn Index>>,
    log: Log,
    secret: IndexSecret,
    origin: String,
    _lock: std::fs::File,
    recovered: Vec<String>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("root", &self.layout.root)
            .finish()
    }
}

/// The current UTC time as stored (RFC 3339, microseconds, `Z`).
pub fn now() -> String {
    sluis_audit::record::now()
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// An RFC 3339 time in the index's form (UTC, microseconds), or `None` if it is not one.
pub fn normalise_time(s: &str) -> Option<String> {
    parse_time(s).map(rfc3339)
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn add(at: &str, d: std::time::Duration) -> String {
    let base = parse_time(at).unwrap_or_else(chrono::Utc::now);
    let later = chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| base.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    rfc3339(later)
}

fn random_id(prefix: &str) -> Result<String, VaultError> {
    let r = sluis_audit::keys::random_32().map_err(KeyError::from)?;
    Ok(format!("{prefix}-{}", hex(r.get(..16).unwrap_or_default())))
}

/// An object's content tag: the index secret's HMAC of the plaintext's digest. Equal content
/// gives equal tags (so a scan stored twice is kept once) without the index revealing a digest
/// anyone could match against a scan they hold. Tags made from BLAKE3 are marked, so that each
/// is checked with the digest it was made from; the same content stored once under each kind
/// is kept twice.
fn content_tag(secret: &IndexSecret, kind: HashKind, digest: &[u8; 32]) -> String {
    match kind {
        HashKind::Blake3 => format!(
            "{BLAKE3_MARK}{}",
            hex(&secret.tag("sluis content blake3", digest))
        ),
        HashKind::Sha256 => hex(&secret.tag("sluis content", digest)),
    }
}

/// The associated data a wrapped key is bound to.
fn key_aad(id: &str, blob: &BlobAddress) -> Vec<u8> {
    format!("sluis-dek/1\n{id}\n{blob}").into_bytes()
}

/// What the index keeps of a sanitised object, for search.
pub fn scan_meta(scan: &SanitisedScan) -> ScanMeta {
    let (modality, instance, times, scanner, conveyance) = match scan.object() {
        DicosObject::Image(s) => (
            s.modality.as_str().to_string(),
            &s.instance,
            &s.times,
            &s.scanner,
            &s.conveyance,
        ),
        DicosObject::ThreatReport(r) => (
            "TDR".to_string(),
            &r.instance,
            &r.times,
            &r.scanner,
            &r.conveyance,
        ),
    };
    let sop_class = match scan.object() {
        DicosObject::Image(s) => s.sop_class.uid().to_string(),
        DicosObject::ThreatReport(_) => sluis_scan::SopClass::DicosTdr.uid().to_string(),
    };
    ScanMeta {
        modality,
        sop_class,
        sop_instance_uid: instance.sop_instance_uid.as_str().to_string(),
        scan_id: instance.scan_id.clone(),
        scanned_at: times.scanned().map(|t| t.to_string()),
        manufacturer: scanner.manufacturer.clone(),
        model: scanner.model.clone(),
        serial: scanner.serial_number.clone(),
        station: scanner.station_name.clone(),
        conveyance: conveyance.id.as_ref().map(|i| i.value.clone()),
        containers: conveyance
            .containers
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        limits: (scan.limits() != &sluis_scan::Limits::default())
            .then(|| serde_json::to_string(scan.limits()).ok())
            .flatten(),
    }
}

fn lock_file(path: &Path) -> Result<std::fs::File, VaultError> {
    let f = sluis_secret::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(VaultError::io(path.display().to_string()))?;
    // Not waiting: a vault held by a running core or server is an error to report at once, not
    // a command that hangs until that service stops.
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(VaultError::InUse(
            path.parent().unwrap_or(path).display().to_string(),
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(VaultError::io(format!("locking {}", path.display()))(e))
        }
    }
}

impl Vault {
    /// Creates a vault in `dir` (which must be absent or empty): configuration, keys, index and
    /// log. Returns the open vault; its log's public key is [`Vault::log_verifier_key`].
    pub fn init(dir: &Path, origin: Option<&str>) -> Result<Vault, VaultError> {
        if dir.exists()
            && std::fs::read_dir(dir)
                .map_err(VaultError::io(dir.display().to_string()))?
                .next()
                .is_some()
        {
            return Err(VaultError::State(format!(
                "{} is not empty; a vault is created in a new or empty directory",
                dir.display()
            )));
        }
        let layout = Layout {
            root: dir.to_path_buf(),
        };
        // Owner-only, an existing (empty) directory others could read included: tightened.
        sluis_secret::private_dir(dir)?;
        sluis_secret::private_dir(&layout.keys())?;
        let origin = match origin {
            Some(o) => o.to_string(),
            None => format!("sluis.vault/{}", &random_id("v")?.get(2..18).unwrap_or("0")),
        };
        let signer = LogSigner::generate(&origin).map_err(KeyError::from)?;
        FileKeySource::create(&layout.keys())?;
        let secret = IndexSecret::create(&layout.keys().join("index.key"))?;
        write_secret(&layout.keys().join("log.key"), &signer.to_skey()).map_err(KeyError::from)?;
        sluis_secret::write_private(&layout.log_pub(), format!("{}\n", signer.vkey()).as_bytes())
            .map_err(VaultError::io(layout.log_pub().display().to_string()))?;
        {
            let mut index = SqliteIndex::open(&layout.join("index.sqlite"))?;
            let keys = FileKeySource::open(&layout.keys())?;
            index.set_meta("kek", &keys.current())?;
            index.set_meta("secret-check", &secret.check_value())?;
            index.set_meta("origin", &origin)?;
        }
        let store =
            Arc::new(FsStore::new(layout.log()).map_err(VaultError::io("the log's directory"))?);
        Log::create(store, signer, Batching::default())?.close();
        // The configuration is written last: a directory without it is not a vault.
        sluis_secret::write_private(&layout.config(), Config::template(&origin).as_bytes())
            .map_err(VaultError::io(layout.config().display().to_string()))?;
        sluis_audit::tiles::sync_dir(dir)
            .map_err(VaultError::io(format!("syncing {}", dir.display())))?;
        let vault = Vault::open(dir)?;
        vault.log_event(
            Action::Create,
            &vault.system_actor(),
            None,
            Outcome::Success,
            None,
            Some(format!("kek={}", vault.current_kek())),
        )?;
        Ok(vault)
    }

    /// Opens a vault: takes its lock (refused with [`VaultError::InUse`] at once while another
    /// process holds it: a vault is held by one process), checks every key
    /// against the index and the log, and finishes any operation a crash interrupted.
    pub fn open(dir: &Path) -> Result<Vault, VaultError> {
        let layout = Layout {
            root: dir.to_path_buf(),
        };
        if !layout.config().exists() {
            return Err(VaultError::State(format!(
                "{} is not a sluis vault (no vault.toml); create one with `sluis vault init`",
                dir.display()
            )));
        }
        // A vault made before its directory was owner-only, or one someone opened up: tightened
        // (one that belongs to another account is refused).
        sluis_secret::private_dir(dir)?;
        let lock = lock_file(&layout.join(".lock"))?;
        let config = Config::load(&layout.config())?;
        let keys = FileKeySource::open(&layout.keys())?;
        let secret = IndexSecret::open(&layout.keys().join("index.key"))?;
        let signer = LogSigner::from_skey(
            read_secret(&layout.keys().join("log.key"))
                .map_err(KeyError::from)?
                .trim(),
        )
        .map_err(KeyError::from)?;
        if signer.name() != config.origin {
            return Err(VaultError::Key(KeyError::Mismatch(format!(
                "the log key is for origin {:?}, vault.toml says {:?}",
                signer.name(),
                config.origin
            ))));
        }
        let index = SqliteIndex::open(&layout.join("index.sqlite"))?;
        if index.meta("secret-check")?.as_deref() != Some(secret.check_value().as_str()) {
            return Err(VaultError::Key(KeyError::Mismatch(format!(
                "{} is not this vault's index secret",
                layout.keys().join("index.key").display()
            ))));
        }
        let expected = index.meta("kek")?.unwrap_or_default();
        if !keys.ids().contains(&expected) {
            return Err(VaultError::Key(KeyError::Mismatch(format!(
                "the vault's key-encryption key {expected} is not in {} (found {}): wrong key files",
                layout.keys().display(),
                keys.ids().join(", ")
            ))));
        }
        let store = match config.log_sync {
            crate::config::LogSync::Files => FsStore::per_file(layout.log()),
            crate::config::LogSync::Filesystem => FsStore::new(layout.log()),
        };
        let store = Arc::new(store.map_err(VaultError::io("the log's directory"))?);
        let log = Log::open(store, signer, Batching::default())?;

        let blobs = FsBlobStore::open(&layout.join("blobs"))?;
        let origin = config.component.clone();
        let mut vault = Vault {
            layout,
            config,
            keys: RwLock::new(Box::new(keys)),
            blobs: Box::new(blobs),
            index: Mutex::new(Box::new(index)),
            log,
            secret,
            origin,
            _lock: lock,
            recovered: Vec::new(),
        };
        vault.recovered = vault.recover()?;
        Ok(vault)
    }

    /// Ids of objects whose interrupted operation this open finished.
    pub fn recovered(&self) -> &[String] {
        &self.recovered
    }

    /// The vault's files.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The log.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// The log's public verifier key (what an auditor is given).
    pub fn log_verifier_key(&self) -> Result<String, VaultError> {
        Ok(std::fs::read_to_string(self.layout.log_pub())
            .map_err(VaultError::io(self.layout.log_pub().display().to_string()))?
            .trim()
            .to_string())
    }

    /// The log verifier.
    pub fn log_verifier(&self) -> &NoteVerifier {
        self.log.verifier()
    }

    fn current_kek(&self) -> String {
        self.keys.read().map(|k| k.current()).unwrap_or_default()
    }

    /// The pseudonymous actor id of a person or account, under this vault's secret.
    pub fn actor(&self, name: &str) -> ActorId {
        let key = self.secret.tag("sluis actor pseudonym", b"");
        ActorId::pseudonym(&key, name)
    }

    /// The actor id of the vault itself (recovery, retention).
    pub fn system_actor(&self) -> ActorId {
        ActorId::new("sluis-vault").unwrap_or_else(|_| self.actor("sluis-vault"))
    }

    fn index(&self) -> Result<MutexGuard<'_, Box<dyn Index>>, VaultError> {
        self.index
            .lock()
            .map_err(|_| VaultError::State("index lock poisoned".into()))
    }

    fn record(
        &self,
        action: Action,
        actor: &ActorId,
        object: Option<&str>,
        outcome: Outcome,
        purpose: Option<&str>,
        detail: Option<String>,
    ) -> Result<Vec<u8>, VaultError> {
        let mut r = AuditRecord::new(action, actor.clone(), &self.origin, outcome);
        r.object = object.map(str::to_string);
        r.purpose = purpose.map(str::to_string);
        r.detail = detail;
        Ok(r.encode()?)
    }

    fn log_event(
        &self,
        action: Action,
        actor: &ActorId,
        object: Option<&str>,
        outcome: Outcome,
        purpose: Option<&str>,
        detail: Option<String>,
    ) -> Result<Appended, VaultError> {
        let entry = self.record(action, actor, object, outcome, purpose, detail)?;
        Ok(self.log.append(entry)?)
    }

    /// Encrypts and stores `plaintext` as a new object; returns its row once logged and live,
    /// or the existing object with the same content.
    fn put(
        &self,
        kind: Kind,
        plaintext: Plain<'_>,
        scan: Option<ScanMeta>,
        quarantine: Option<QuarantineMeta>,
        actor: &ActorId,
    ) -> Result<Stored, VaultError> {
        let dek = Dek::generate()?;
        let mut upload = self.blobs.upload()?;
        let sealed = match plaintext {
            Plain::Shared(p) => envelope::seal(&dek, p, &mut upload)?,
            Plain::Spent(p) => envelope::seal_in_place(&dek, p, &mut upload)?,
        };
        let tag = content_tag(&self.secret, HashKind::Blake3, &sealed.plain_blake3);
        let existing = self.index()?.find_tag(kind, &tag)?;
        if let Some(row) = existing {
            drop(upload);
            if kind == Kind::Quarantine {
                // Every refused arrival is logged, even when its bytes are kept already.
                let rule = row
                    .quarantine
                    .as_ref()
                    .map(|q| q.rule.clone())
                    .unwrap_or_default();
                let a = self.log_event(
                    Action::Quarantine,
                    actor,
                    Some(&row.id),
                    Outcome::Denied,
                    None,
                    Some(format!("rule={rule} repeat=true")),
                )?;
                return Ok(Stored {
                    id: row.id,
                    log_index: a.index,
                    duplicate: true,
                });
            }
            return Ok(Stored {
                id: row.id,
                log_index: row.store_log_index.unwrap_or(0),
                duplicate: true,
            });
        }
        let address = BlobAddress::blake3(sealed.blob_blake3);
        upload.commit(&address)?;
        let id = random_id(if kind == Kind::Scan { "s" } else { "q" })?;
        let (kek_id, wrapped) = self
            .keys
            .read()
            .map_err(|_| VaultError::State("key lock poisoned".into()))?
            .wrap(&dek, &key_aad(&id, &address))?;
        let stored_at = now();
        let class = class_of(kind, None);
        let retention = self.config.retention_of(class).map_err(VaultError::State)?;
        let mut row = ObjectRow {
            id: id.clone(),
            kind,
            state: State::Pending,
            pending: Some(PendingAction::Store),
            blob: address,
            blob_size: sealed.blob_len,
            plain_size: sealed.plain_len,
            content_tag: tag,
            kek_id: Some(kek_id),
            wrapped_key: Some(wrapped),
            expires_at: add(&stored_at, retention),
            stored_at,
            store_log_index: None,
            class: class.to_string(),
            decision: None,
            decided_at: None,
            deleted_at: None,
            delete_log_index: None,
            scan,
            quarantine,
        };
        self.index()?.insert(&row)?;
        let (action, outcome, detail) = match &row.quarantine {
            Some(q) => (
                Action::Quarantine,
                Outcome::Denied,
                format!("rule={} fault={}", q.rule, q.fault),
            ),
            None => (
                Action::Store,
                Outcome::Success,
                format!("class={class} bytes={}", sealed.plain_len),
            ),
        };
        let appended = self.log_event(action, actor, Some(&id), outcome, None, Some(detail))?;
        row.state = State::Live;
        row.pending = None;
        row.store_log_index = Some(appended.index);
        self.index()?.update(std::slice::from_ref(&row))?;
        Ok(Stored {
            id,
            log_index: appended.index,
            duplicate: false,
        })
    }

    /// Records an event of the one-way link (an object lost or rejected, the heartbeat missed or
    /// back) in the transparency log, so that a gap in intake is on the record, not only in a
    /// log file. `edge_object` is the edge's spool id, when the event concerns one object.
    pub fn log_link(
        &self,
        edge_object: Option<u64>,
        outcome: Outcome,
        detail: &str,
        actor: &ActorId,
    ) -> Result<u64, VaultError> {
        let object = edge_object.map(|id| format!("edge-{id}"));
        let detail: String = detail.chars().take(512).collect();
        let appended = self.log_event(
            Action::Link,
            actor,
            object.as_deref(),
            outcome,
            None,
            Some(detail),
        )?;
        Ok(appended.index)
    }

    /// Records what the update gate's station saw of a vendor release ([`Action::Release`]):
    /// `object` is the release's name as a code (`release:<vendor>/<product>/<version>`),
    /// `detail` its digests (`sha256=<hex>`), never free text; see `sluis_gate::releases`.
    /// Returns the record's index once it is durable.
    pub fn log_release(
        &self,
        object: &str,
        outcome: Outcome,
        detail: &str,
        actor: &ActorId,
    ) -> Result<u64, VaultError> {
        let appended = self.log_event(
            Action::Release,
            actor,
            Some(object),
            outcome,
            None,
            Some(detail.chars().take(256).collect()),
        )?;
        Ok(appended.index)
    }

    /// Logs a change to a workstation account (a configuration record): whose account (its
    /// pseudonym, never its name), what changed, by whom. Returns the record's index.
    pub fn log_account(
        &self,
        subject: &str,
        change: &str,
        actor: &ActorId,
    ) -> Result<u64, VaultError> {
        let object = format!("account:{}", self.actor(subject));
        let detail: String = change.chars().take(256).collect();
        let appended = self.log_event(
            Action::Configure,
            actor,
            Some(&object),
            Outcome::Success,
            None,
            Some(detail),
        )?;
        Ok(appended.index)
    }

    /// Records a workstation session event or a count of refused requests
    /// ([`Action::Session`], [`Action::Deny`]): `detail` is made of codes (`login`,
    /// `status=403 route=/api/users count=3 minute=...`), never free text.
    pub fn log_access(
        &self,
        action: Action,
        actor: &ActorId,
        outcome: Outcome,
        detail: &str,
    ) -> Result<u64, VaultError> {
        if !matches!(action, Action::Session | Action::Deny) {
            return Err(VaultError::State(format!(
                "{action:?} is not an access-control record"
            )));
        }
        let detail: String = detail.chars().take(512).collect();
        Ok(self
            .log_event(action, actor, None, outcome, None, Some(detail))?
            .index)
    }

    /// Stores a sanitised scan as canonical DICOS.
    pub fn store(&self, scan: &SanitisedScan, actor: &ActorId) -> Result<Stored, VaultError> {
        // Encoded here, from the sanitised model, so that nothing but canonical DICOS can be
        // stored as a scan.
        let canonical = sluis_scan::to_dicos_vec(scan.object())
            .map_err(|e| VaultError::State(format!("encoding the sanitised scan: {e}")))?;
        self.put(
            Kind::Scan,
            Plain::Shared(&canonical),
            Some(scan_meta(scan)),
            None,
            actor,
        )
    }

    /// Like [`Vault::store`], for a caller that already holds the scan's canonical encoding
    /// (the core, from its sanitiser worker): `canonical` is stored when the scan encodes to
    /// exactly those bytes, checked by encoding it again into a comparison rather than into a
    /// second multi-megabyte buffer, and it is encrypted where it lies (so it holds ciphertext
    /// afterwards); otherwise the scan is encoded afresh. Either way only the scan's canonical
    /// DICOS is stored.
    pub fn store_encoded(
        &self,
        scan: &SanitisedScan,
        canonical: &mut [u8],
        actor: &ActorId,
    ) -> Result<Stored, VaultError> {
        let mut same = Compare {
            expected: canonical,
        };
        let encodes_to =
            sluis_scan::write_dicos(scan.object(), &mut same).is_ok() && same.expected.is_empty();
        if !encodes_to {
            return self.store(scan, actor);
        }
        self.put(
            Kind::Scan,
            Plain::Spent(canonical),
            Some(scan_meta(scan)),
            None,
            actor,
        )
    }

    /// Keeps a refused input, encrypted, with its refusal. `source` (a file name, a peer) is
    /// kept in the index only, never in the log.
    pub fn quarantine(
        &self,
        input: &[u8],
        source: &str,
        refusal: &Refusal,
        actor: &ActorId,
    ) -> Result<Stored, VaultError> {
        let meta = QuarantineMeta {
            source: source.chars().take(512).collect(),
            rule: refusal.rule.to_string(),
            reason: refusal.to_string(),
            fault: refusal.fault.to_string(),
        };
        self.put(
            Kind::Quarantine,
            Plain::Shared(input),
            None,
            Some(meta),
            actor,
        )
    }

    /// A live scan's index row: its metadata and decision, no content (so not an access).
    pub fn scan_row(&self, id: &str) -> Result<ObjectRow, VaultError> {
        self.live(id, Kind::Scan)
    }

    fn live(&self, id: &str, kind: Kind) -> Result<ObjectRow, VaultError> {
        let name = if kind == Kind::Scan {
            "scan"
        } else {
            "quarantined input"
        };
        match self.index()?.get(id)? {
            Some(row) if row.kind == kind && row.state == State::Live => Ok(row),
            _ => Err(VaultError::NotFound {
                kind: name,
                id: id.to_string(),
            }),
        }
    }

    /// Decrypts and verifies an object into memory: the data key must unwrap, every chunk must
    /// authenticate, and the blob must hash to its address.
    fn decrypt(&self, row: &ObjectRow) -> Result<Vec<u8>, VaultError> {
        let damaged = |reason: String| VaultError::Damaged {
            id: row.id.clone(),
            reason,
        };
        let (Some(kek), Some(wrapped)) = (&row.kek_id, &row.wrapped_key) else {
            return Err(damaged("its data key is gone".into()));
        };
        let dek = self
            .keys
            .read()
            .map_err(|_| VaultError::State("key lock poisoned".into()))?
            .unwrap(kek, wrapped, &key_aad(&row.id, &row.blob))
            .map_err(|e| damaged(e.to_string()))?;
        let reader = self
            .blobs
            .read(&row.blob)
            .map_err(|e| damaged(e.to_string()))?;
        let mut out = Vec::with_capacity(usize::try_from(row.plain_size).unwrap_or(0).min(1 << 30));
        let digest = if row.content_tag.starts_with(BLAKE3_MARK) {
            HashKind::Blake3
        } else {
            HashKind::Sha256
        };
        let opened = envelope::open(&dek, reader, &mut out, digest, row.blob.hash)
            .map_err(|e| damaged(format!("blob {}: {e}", row.blob)))?;
        if opened.blob_digest != row.blob.digest {
            return Err(damaged(format!(
                "blob {} does not hash to its address",
                row.blob
            )));
        }
        if opened.plain_len != row.plain_size
            || content_tag(&self.secret, digest, &opened.plain_digest) != row.content_tag
        {
            return Err(damaged(
                "the decrypted content is not what was stored".into(),
            ));
        }
        Ok(out)
    }

    /// Releases an object's plaintext after logging the access: decrypts and verifies, appends
    /// the record, waits until it is durable, then returns. A failed verification is logged too.
    fn release(
        &self,
        id: &str,
        kind: Kind,
        action: Action,
        actor: &ActorId,
        purpose: &str,
        note: Option<&str>,
    ) -> Result<Released, VaultError> {
        if purpose.trim().is_empty() {
            return Err(VaultError::State(
                "a purpose is required to read or export".into(),
            ));
        }
        if !self.config.accepts_purpose(purpose) {
            let codes: Vec<&str> = self
                .config
                .purposes
                .iter()
                .map(|p| p.code.as_str())
                .collect();
            return Err(VaultError::Purpose(format!(
                "{:?} is not a purpose this vault accepts; give one of {} (vault.toml [[purpose]]), and any free text as a note",
                purpose.chars().take(64).collect::<String>(),
                codes.join(", ")
            )));
        }
        // The note's text stays with the caller (the workstation's desk); the record binds it
        // by its SHA-256, so that it cannot be changed later unnoticed.
        let note_hash = note
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| format!("note-sha256={}", hex(&Sha256::digest(n.as_bytes()))));
        // Checked before anything is decrypted.
        self.record(
            action,
            actor,
            Some(id),
            Outcome::Success,
            Some(purpose),
            None,
        )?;
        let row = self.live(id, kind)?;
        match self.decrypt(&row) {
            Ok(bytes) => {
                let sha = (action == Action::Export)
                    .then(|| format!("sha256={}", hex(&Sha256::digest(&bytes))));
                let detail = match (sha, note_hash.clone()) {
                    (Some(a), Some(b)) => Some(format!("{a} {b}")),
                    (a, b) => a.or(b),
                };
                let record = self.log_event(
                    action,
                    actor,
                    Some(id),
                    Outcome::Success,
                    Some(purpose),
                    detail,
                )?;
                Ok(Released { row, bytes, record })
            }
            Err(e) => {
                self.log_event(
                    action,
                    actor,
                    Some(id),
                    Outcome::Failure,
                    Some(purpose),
                    Some(match &note_hash {
                        Some(n) => format!("integrity {n}"),
                        None => "integrity".into(),
                    }),
                )?;
                Err(e)
            }
        }
    }

    /// Reads a scan for `actor` with `purpose`, a code the vault accepts
    /// ([`crate::config::Config::accepts_purpose`]).
    pub fn read(&self, id: &str, actor: &ActorId, purpose: &str) -> Result<Released, VaultError> {
        self.release(id, Kind::Scan, Action::Read, actor, purpose, None)
    }

    /// Reads a scan with a purpose code and a free-text note (a case number, a request): the
    /// note's SHA-256 goes into the record, the note itself never; the caller keeps it.
    pub fn read_noted(
        &self,
        id: &str,
        actor: &ActorId,
        purpose: &str,
        note: Option<&str>,
    ) -> Result<Released, VaultError> {
        self.release(id, Kind::Scan, Action::Read, actor, purpose, note)
    }

    /// Exports a scan (or, with `quarantine`, a quarantined input): the plaintext, and a
    /// `.tlog-proof` receipt for the export record (which carries the plaintext's SHA-256).
    /// The configured witnesses are asked to cosign first, so the receipt carries their
    /// cosignatures.
    pub fn export(
        &self,
        id: &str,
        quarantine: bool,
        actor: &ActorId,
        purpose: &str,
        note: Option<&str>,
    ) -> Result<Exported, VaultError> {
        let kind = if quarantine {
            Kind::Quarantine
        } else {
            Kind::Scan
        };
        let released = self.release(id, kind, Action::Export, actor, purpose, note)?;
        let witnesses = self.cosign();
        let receipt = self.log.tlog_proof(released.record.index)?;
        Ok(Exported {
            released,
            receipt,
            witnesses,
        })
    }

    /// Submits the log's latest checkpoint to every configured witness and keeps their
    /// cosignatures; returns each witness's URL and the size it cosigned, or why not.
    pub fn cosign(&self) -> Vec<(String, Result<u64, String>)> {
        self.config
            .witnesses
            .iter()
            .map(|w| {
                let outcome = NoteVerifier::new(&w.key)
                    .map_err(|e| format!("witness key {}: {e}", w.key))
                    .and_then(|k| sluis_audit::remote::cosign(&self.log, &w.url, &k));
                (w.url.clone(), outcome)
            })
            .collect()
    }

    /// Records a decision on a scan, which also sets its retention class. A comment is not
    /// written to the log (which holds no free text); its SHA-256 is, so the comment kept
    /// elsewhere (the workstation's store) is bound to the record and cannot be changed later
    /// unnoticed.
    pub fn decide(
        &self,
        id: &str,
        decision: Decision,
        comment: Option<&str>,
        actor: &ActorId,
    ) -> Result<ObjectRow, VaultError> {
        let mut row = self.live(id, Kind::Scan)?;
        if row.scan.as_ref().is_some_and(|m| m.modality == "TDR") {
            return Err(VaultError::NotAScan(id.to_string()));
        }
        let class = class_of(Kind::Scan, Some(decision));
        let retention = self.config.retention_of(class).map_err(VaultError::State)?;
        let mut detail = format!("decision={decision} class={class}");
        if let Some(c) = comment {
            use sha2::Digest;
            let hex: String = sha2::Sha256::digest(c.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            detail.push_str(&format!(" comment-sha256={hex}"));
        }
        self.log_event(
            Action::Decide,
            actor,
            Some(id),
            Outcome::Success,
            None,
            Some(detail),
        )?;
        row.decision = Some(decision);
        row.decided_at = Some(now());
        row.class = class.to_string();
        row.expires_at = add(&row.stored_at, retention);
        self.index()?.update(std::slice::from_ref(&row))?;
        Ok(row)
    }

    /// Lists objects.
    pub fn list(&self, filter: &Filter) -> Result<Vec<ObjectRow>, VaultError> {
        Ok(self.index()?.list(filter)?)
    }

    /// The scanners that delivered live scans, from the index.
    pub fn scanners(&self) -> Result<Vec<crate::index::ScannerRow>, VaultError> {
        Ok(self.index()?.scanners()?)
    }

    /// Counts of objects by kind and state.
    pub fn counts(&self) -> Result<Vec<(Kind, State, u64)>, VaultError> {
        Ok(self.index()?.counts()?)
    }

    /// Crypto-shreds every live object whose retention ended at or before `now`: its data key
    /// is destroyed, its blob deleted and its metadata cleared, and the deletion is logged.
    pub fn expire(&self, now: &str, actor: &ActorId) -> Result<Expired, VaultError> {
        let mut out = Expired::default();
        loop {
            let filter = Filter {
                expires_by: Some(now.to_string()),
                limit: 1000,
                ..Filter::default()
            };
            let mut rows = self.index()?.list(&filter)?;
            if rows.is_empty() {
                break;
            }
            let at = self::now();
            for row in &mut rows {
                row.state = State::Shredded;
                row.pending = Some(PendingAction::Delete);
                row.kek_id = None;
                row.wrapped_key = None;
                row.deleted_at = Some(at.clone());
            }
            {
                let mut index = self.index()?;
                index.update(&rows)?;
                index.purge()?;
            }
            self.finish_deletions(&mut rows, actor, None)?;
            out.shredded
                .extend(rows.iter().map(|r| (r.id.clone(), r.class.clone())));
        }
        Ok(out)
    }

    /// Deletes the blobs of shredded rows and logs their deletion (or confirms a record found
    /// in the log already), then clears their pending mark.
    fn finish_deletions(
        &self,
        rows: &mut [ObjectRow],
        actor: &ActorId,
        found: Option<&std::collections::HashMap<(String, Action), u64>>,
    ) -> Result<(), VaultError> {
        let mut entries = Vec::new();
        let mut need = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            self.blobs.delete(&row.blob)?;
            match found.and_then(|f| f.get(&(row.id.clone(), Action::Delete))) {
                Some(&index) => need.push((i, Some(index))),
                None => {
                    entries.push(self.record(
                        Action::Delete,
                        actor,
                        Some(&row.id),
                        Outcome::Success,
                        None,
                        Some(format!(
                            "class={} shredded=data-key,blob,metadata",
                            row.class
                        )),
                    )?);
                    need.push((i, None));
                }
            }
        }
        let mut appended = self.log.append_all(entries)?.into_iter();
        for (i, known) in need {
            let index = match known {
                Some(k) => k,
                None => appended
                    .next()
                    .map(|a| a.index)
                    .ok_or_else(|| VaultError::State("log returned too few indices".into()))?,
            };
            if let Some(row) = rows.get_mut(i) {
                row.pending = None;
                row.delete_log_index = Some(index);
            }
        }
        self.index()?.update(rows)?;
        Ok(())
    }

    /// Finishes operations a crash interrupted: a pending store is confirmed from the log, or
    /// logged late; a pending deletion has its blob deleted and is confirmed or logged.
    fn recover(&self) -> Result<Vec<String>, VaultError> {
        let filter = Filter {
            states: Vec::new(),
            pending_only: true,
            limit: 100_000,
            ..Filter::default()
        };
        let pending = self.index()?.list(&filter)?;
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        // The records such an operation may have written before the crash are at the end of
        // the log: at most one batch of concurrent operations beyond what the index confirmed.
        let mut confirmed = 0u64;
        self.index()?.for_each(&mut |r| {
            confirmed = confirmed
                .max(r.store_log_index.unwrap_or(0))
                .max(r.delete_log_index.unwrap_or(0));
            Ok(())
        })?;
        let size = self.log.size();
        let from = confirmed.saturating_sub(16_384).min(size);
        let mut found = std::collections::HashMap::new();
        for (i, entry) in self.log.entries(from, size)?.into_iter().enumerate() {
            if let Ok(r) = AuditRecord::decode(&entry)
                && let Some(object) = r.object
            {
                let action = if r.action == Action::Quarantine {
                    Action::Store
                } else {
                    r.action
                };
                found.insert((object, action), from + i as u64);
            }
        }
        let actor = self.system_actor();
        let mut ids = Vec::new();
        let mut deletions = Vec::new();
        for mut row in pending {
            ids.push(row.id.clone());
            match row.pending {
                Some(PendingAction::Store) => {
                    let index = match found
                        .get(&(row.id.clone(), Action::Store))
                        .or_else(|| found.get(&(row.id.clone(), Action::Recover)))
                    {
                        Some(&i) => i,
                        None => {
                            self.log_event(
                                Action::Recover,
                                &actor,
                                Some(&row.id),
                                Outcome::Success,
                                None,
                                Some(format!("kind={} stored-before-crash", row.kind)),
                            )?
                            .index
                        }
                    };
                    row.state = State::Live;
                    row.pending = None;
                    row.store_log_index = Some(index);
                    self.index()?.update(std::slice::from_ref(&row))?;
                }
                Some(PendingAction::Delete) => deletions.push(row),
                None => {}
            }
        }
        if !deletions.is_empty() {
            self.finish_deletions(&mut deletions, &actor, Some(&found))?;
        }
        Ok(ids)
    }

    /// Replaces the key-encryption key: a new key is made current, every data key is
    /// rewrapped under it in one transaction (blobs are not touched), and the old keys are
    /// destroyed.
    pub fn rotate_kek(&self, actor: &ActorId) -> Result<Rotated, VaultError> {
        let mut keys = self
            .keys
            .write()
            .map_err(|_| VaultError::State("key lock poisoned".into()))?;
        let new_kek = keys.rotate()?;
        let mut rows = Vec::new();
        self.index()?.for_each(&mut |r| {
            if r.wrapped_key.is_some() {
                rows.push(r);
            }
            Ok(())
        })?;
        for row in &mut rows {
            let (Some(kek), Some(wrapped)) = (&row.kek_id, &row.wrapped_key) else {
                continue;
            };
            let aad = key_aad(&row.id, &row.blob);
            let dek = keys
                .unwrap(kek, wrapped, &aad)
                .map_err(|e| VaultError::Damaged {
                    id: row.id.clone(),
                    reason: e.to_string(),
                })?;
            let (id, w) = keys.wrap(&dek, &aad)?;
            row.kek_id = Some(id);
            row.wrapped_key = Some(w);
        }
        {
            let mut index = self.index()?;
            index.update(&rows)?;
            index.set_meta("kek", &new_kek)?;
            index.purge()?;
        }
        let mut retired = Vec::new();
        for id in keys.ids() {
            if id != new_kek {
                keys.retire(&id)?;
                retired.push(id);
            }
        }
        drop(keys);
        self.log_event(
            Action::RotateKey,
            actor,
            Some(&new_kek),
            Outcome::Success,
            None,
            Some(format!(
                "rewrapped={} retired={}",
                rows.len(),
                retired.join(",")
            )),
        )?;
        Ok(Rotated {
            new_kek,
            rewrapped: rows.len() as u64,
            retired,
        })
    }

    /// Checks everything: each live object's data key unwraps, its blob authenticates, hashes to
    /// its address and decrypts to what was stored; each shredded object's key and blob are
    /// gone; each row's store record in the log names it; no blob is unreferenced; the log
    /// verifies. Repairs nothing.
    pub fn fsck(&self, progress: Progress<'_>) -> Result<FsckReport, VaultError> {
        let mut rows = Vec::new();
        self.index()?.for_each(&mut |r| {
            rows.push(r);
            Ok(())
        })?;
        let mut report = FsckReport {
            objects: rows.len() as u64,
            verified: 0,
            shredded: 0,
            bytes: 0,
            damaged: Vec::new(),
            unreferenced: Vec::new(),
            log: Ok(0),
            unused_keys: Vec::new(),
        };
        let total = rows.len() as u64;
        let size = self.log.size();
        let mut used_keys = std::collections::BTreeSet::new();
        let mut referenced = std::collections::HashSet::new();
        for (n, row) in rows.iter().enumerate() {
            let mut problem = |p: String| {
                report.damaged.push(Damage {
                    id: row.id.clone(),
                    problem: p,
                })
            };
            match row.state {
                State::Live | State::Pending => {
                    referenced.insert(row.blob);
                    if let Some(k) = &row.kek_id {
                        used_keys.insert(k.clone());
                    }
                    if row.state == State::Pending {
                        problem(
                            "its store was interrupted and is not yet confirmed in the log".into(),
                        );
                    }
                    match self.blobs.size(&row.blob)? {
                        None => problem(format!("blob {} is missing", row.blob)),
                        Some(s) if s != row.blob_size => problem(format!(
                            "blob {} is {s} bytes, {} expected",
                            row.blob, row.blob_size
                        )),
                        Some(_) => match self.decrypt(row) {
                            Ok(bytes) => {
                                report.verified += 1;
                                report.bytes += bytes.len() as u64;
                            }
                            Err(VaultError::Damaged { reason, .. }) => problem(reason),
                            Err(e) => return Err(e),
                        },
                    }
                    match row.store_log_index {
                        Some(i) if i < size => {
                            let names = self
                                .log
                                .entry(i)
                                .ok()
                                .and_then(|e| AuditRecord::decode(&e).ok())
                                .is_some_and(|r| r.object.as_deref() == Some(row.id.as_str()));
                            if !names {
                                problem(format!(
                                    "log entry {i} is not this object's store record: the index and the log disagree"
                                ));
                            }
                        }
                        Some(i) => problem(format!(
                            "its store record {i} is beyond the log's {size} entries"
                        )),
                        None if row.state == State::Live => {
                            problem("it has no store record in the log".into())
                        }
                        None => {}
                    }
                }
                State::Shredded => {
                    report.shredded += 1;
                    if row.wrapped_key.is_some() {
                        problem(
                            "it is shredded but its wrapped data key is still in the index".into(),
                        );
                    }
                    if self.blobs.size(&row.blob)?.is_some() {
                        problem(format!(
                            "it is shredded but blob {} is still present",
                            row.blob
                        ));
                    }
                }
            }
            progress(n as u64 + 1, total, report.bytes);
        }
        let shredded: std::collections::HashSet<BlobAddress> = rows
            .iter()
            .filter(|r| r.state == State::Shredded)
            .map(|r| r.blob)
            .collect();
        for (addr, len) in self.blobs.list()? {
            if !referenced.contains(&addr) && !shredded.contains(&addr) {
                report.unreferenced.push((addr.to_string(), len));
            }
        }

        let policy = sluis_audit::Policy {
            log: Some(self.log.verifier().clone()),
            records: true,
            ..Default::default()
        };
        let store =
            FsStore::new(self.layout.log()).map_err(VaultError::io("the log's directory"))?;
        report.log = sluis_audit::verify_log(&store, &policy, |_, _| {})
            .map(|r| r.entries)
            .map_err(|e| e.to_string());
        let held = self.keys.read().map(|k| k.ids()).unwrap_or_default();
        report.unused_keys = held
            .into_iter()
            .filter(|k| !used_keys.contains(k) && *k != self.current_kek())
            .collect();
        Ok(report)
    }

    /// Deletes blobs no row refers to (left by interrupted stores; unreadable, their data keys
    /// were never kept), logging each deletion. Returns how many.
    pub fn remove_unreferenced(&self, actor: &ActorId) -> Result<u64, VaultError> {
        let mut referenced = std::collections::HashSet::new();
        self.index()?.for_each(&mut |r| {
            if r.state != State::Shredded {
                referenced.insert(r.blob);
            }
            Ok(())
        })?;
        let mut n = 0;
        for (addr, _) in self.blobs.list()? {
            if !referenced.contains(&addr) {
                self.blobs.delete(&addr)?;
                self.log_event(
                    Action::Delete,
                    actor,
                    Some(&format!(
                        "blob-{}",
                        addr.to_string().get(..16).unwrap_or("")
                    )),
                    Outcome::Success,
                    None,
                    Some("unreferenced blob of an interrupted store".into()),
                )?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// A writer that compares what it is given with the bytes expected next, and fails at the
/// first difference (what it has not been given yet stays in `expected`).
struct Compare<'a> {
    expected: &'a [u8],
}

impl std::io::Write for Compare<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.expected.split_at_checked(buf.len()) {
            Some((head, rest)) if head == buf => {
                self.expected = rest;
                Ok(buf.len())
            }
            _ => Err(std::io::Error::other("differs")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The plaintext of an object being stored.
enum Plain<'a> {
    /// Read only.
    Shared(&'a [u8]),
    /// The caller's to spend: encrypted where it lies.
    Spent(&'a mut [u8]),
}
