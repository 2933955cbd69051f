//! The index: one row per stored object (scan or quarantined input) with what analysts search
//! by, the wrapped data key, and where the object stands in its life (pending its audit record,
//! live, shredded).
//!
//! [`Index`] is shaped for a transactional SQL database: single-row reads, filtered keyset
//! paging, and multi-row updates that commit together (key rotation rewraps every row in one
//! transaction). [`SqliteIndex`] is the embedded default (rusqlite with its bundled SQLite,
//! WAL, `synchronous=FULL`, `secure_delete=ON`); PostgreSQL implements the same calls with the
//! same schema.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};
use serde::Serialize;

use crate::blobs::BlobAddress;

/// Why the index failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The database failed.
    #[error("index: {0}")]
    Db(#[from] rusqlite::Error),
    /// A row holds a value this version does not understand.
    #[error("index row {id}: {reason}")]
    Corrupt {
        /// The object.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// An object with this id exists already.
    #[error("object {0} exists already")]
    Duplicate(String),
    /// The index file could not be made owner-only.
    #[error("index file {0}")]
    Io(String),
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl $name {
            /// The stored text.
            pub fn as_str(self) -> &'static str { match self { $(Self::$v => $s),+ } }
            /// Parses the stored text.
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some(Self::$v),)+ _ => None } }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

text_enum! {
    /// What an object is.
    Kind { /// A sanitised scan (canonical DICOS).
        Scan => "scan", /// A refused input, kept as it came for forensics.
        Quarantine => "quarantine" }
}

text_enum! {
    /// Where an object stands.
    State { /// Stored; its audit record is not yet confirmed. Invisible to readers.
        Pending => "pending", /// Stored and logged.
        Live => "live", /// Its data key destroyed and its blob deleted.
        Shredded => "shredded" }
}

text_enum! {
    /// An audit record an interrupted operation still owes.
    PendingAction { /// The store record.
        Store => "store", /// The deletion record.
        Delete => "delete" }
}

text_enum! {
    /// An analyst's decision on a scan.
    Decision { /// Nothing of concern: release.
        Clear => "clear", /// Physical inspection ordered.
        Inspect => "inspect", /// Goods seized after inspection.
        Seize => "seize", /// Referred to a supervisor, who decides. Not final.
        Refer => "refer" }
}

/// What is known of a scan, for search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanMeta {
    /// DX or CT.
    pub modality: String,
    /// The SOP Class UID.
    pub sop_class: String,
    /// The SOP Instance UID.
    pub sop_instance_uid: String,
    /// The scanner's scan id.
    pub scan_id: Option<String>,
    /// When the scan was made, as the scanner says (local time, ISO 8601).
    pub scanned_at: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Station name.
    pub station: Option<String>,
    /// Conveyance id (truck plate, wagon number).
    pub conveyance: Option<String>,
    /// Container numbers.
    pub containers: Vec<String>,
    /// The limits the scan was accepted under, as TOML field names in JSON, when they are not
    /// the defaults (`sluis_scan::Limits`): reads re-sanitise under the same limits.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limits: Option<String>,
}

/// A scanner as the index knows it: from the scans it delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScannerRow {
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Station name.
    pub station: Option<String>,
    /// Live scans from it.
    pub scans: u64,
    /// When its oldest live scan was stored.
    pub first: String,
    /// When its newest was.
    pub last: String,
    /// Of those, not yet decided (or referred).
    pub waiting: u64,
}

/// Why an input is in quarantine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QuarantineMeta {
    /// Where it came from (file name, peer).
    pub source: String,
    /// The refusal rule.
    pub rule: String,
    /// The refusal in full.
    pub reason: String,
    /// Whose fault.
    pub fault: String,
}

/// One object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRow {
    /// `s-` or `q-` and 32 hex digits; random.
    pub id: String,
    /// Scan or quarantine.
    pub kind: Kind,
    /// Pending, live, shredded.
    pub state: State,
    /// An audit record still owed.
    pub pending: Option<PendingAction>,
    /// The blob.
    #[serde(serialize_with = "ser_display")]
    pub blob: BlobAddress,
    /// Blob bytes.
    pub blob_size: u64,
    /// Plaintext bytes.
    pub plain_size: u64,
    /// HMAC of the plaintext's SHA-256 under the index secret (finds duplicates, reveals nothing).
    #[serde(skip)]
    pub content_tag: String,
    /// The key-encryption key the data key is wrapped under; `None` once shredded.
    #[serde(skip)]
    pub kek_id: Option<String>,
    /// The wrapped data key; `None` once shredded.
    #[serde(skip)]
    pub wrapped_key: Option<Vec<u8>>,
    /// When stored (UTC, RFC 3339).
    pub stored_at: String,
    /// The log index of the store record.
    pub store_log_index: Option<u64>,
    /// Retention class.
    pub class: String,
    /// When retention ends (UTC, RFC 3339).
    pub expires_at: String,
    /// Decision.
    pub decision: Option<Decision>,
    /// When decided.
    pub decided_at: Option<String>,
    /// When shredded.
    pub deleted_at: Option<String>,
    /// The log index of the deletion record.
    pub delete_log_index: Option<u64>,
    /// For a scan.
    pub scan: Option<ScanMeta>,
    /// For a quarantined input.
    pub quarantine: Option<QuarantineMeta>,
}

fn ser_display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// What to list. Results are in storage order (`stored_at`, then id); `after` continues from a
/// row (keyset paging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only these states (empty: any).
    pub states: Vec<State>,
    /// Only rows owing an audit record.
    pub pending_only: bool,
    /// A container number or conveyance id, exactly (case-insensitive).
    pub identifier: Option<String>,
    /// Station name, manufacturer, model or serial containing this (case-insensitive).
    pub scanner: Option<String>,
    /// Only with this decision; `Some(None)` for undecided.
    pub decision: Option<Option<Decision>>,
    /// Stored at or after (RFC 3339 prefix).
    pub stored_from: Option<String>,
    /// Stored before.
    pub stored_until: Option<String>,
    /// Retention ended at or before.
    pub expires_by: Option<String>,
    /// Continue after this (stored_at, id).
    pub after: Option<(String, String)>,
    /// At most this many rows.
    pub limit: usize,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            kind: None,
            states: vec![State::Live],
            pending_only: false,
            identifier: None,
            scanner: None,
            decision: None,
            stored_from: None,
            stored_until: None,
            expires_by: None,
            after: None,
            limit: 100,
        }
    }
}

/// The index of a vault.
pub trait Index: Send {
    /// A vault-wide setting.
    fn meta(&self, key: &str) -> Result<Option<String>, IndexError>;
    /// Sets a vault-wide setting.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), IndexError>;
    /// Inserts a new object (durable on return).
    fn insert(&mut self, row: &ObjectRow) -> Result<(), IndexError>;
    /// One object.
    fn get(&self, id: &str) -> Result<Option<ObjectRow>, IndexError>;
    /// A live or pending object of `kind` with this content tag.
    fn find_tag(&self, kind: Kind, tag: &str) -> Result<Option<ObjectRow>, IndexError>;
    /// Objects matching a filter.
    fn list(&self, filter: &Filter) -> Result<Vec<ObjectRow>, IndexError>;
    /// Writes the mutable fields of these rows, all in one transaction (durable on return).
    fn update(&mut self, rows: &[ObjectRow]) -> Result<(), IndexError>;
    /// Visits every row in storage order.
    fn for_each(
        &self,
        visit: &mut dyn FnMut(ObjectRow) -> Result<(), IndexError>,
    ) -> Result<(), IndexError>;
    /// Number of rows in each state.
    fn counts(&self) -> Result<Vec<(Kind, State, u64)>, IndexError>;
    /// The scanners that delivered live scans (threat reports not counted), most recent first.
    fn scanners(&self) -> Result<Vec<ScannerRow>, IndexError>;
    /// Makes the contents of deleted rows and overwritten keys unrecoverable from the index's
    /// own files (for SQLite: checkpoint and truncate the write-ahead log; `secure_delete` has
    /// zeroed the freed pages).
    fn purge(&mut self) -> Result<(), IndexError>;
}

/// The SQLite index.
pub struct SqliteIndex {
    conn: Connection,
}

impl std::fmt::Debug for SqliteIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteIndex")
    }
}

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE objects (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  pending TEXT,
  blob TEXT NOT NULL,
  blob_size INTEGER NOT NULL,
  plain_size INTEGER NOT NULL,
  content_tag TEXT NOT NULL,
  kek_id TEXT,
  wrapped_key BLOB,
  stored_at TEXT NOT NULL,
  store_log_index INTEGER,
  class TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  decision TEXT,
  decided_at TEXT,
  deleted_at TEXT,
  delete_log_index INTEGER,
  modality TEXT, sop_class TEXT, sop_instance_uid TEXT, scan_id TEXT, scanned_at TEXT,
  manufacturer TEXT, model TEXT, serial TEXT, station TEXT, conveyance TEXT, containers TEXT,
  source TEXT, rule TEXT, reason TEXT, fault TEXT, limits TEXT
);
CREATE INDEX objects_order ON objects (stored_at, id);
CREATE INDEX objects_tag ON objects (content_tag);
CREATE INDEX objects_expiry ON objects (state, expires_at);
CREATE TABLE identifiers (object TEXT NOT NULL REFERENCES objects (id), value TEXT NOT NULL);
CREATE INDEX identifiers_value ON identifiers (value);
";

const COLUMNS: &str = "id, kind, state, pending, blob, blob_size, plain_size, content_tag, kek_id, wrapped_key, stored_at, store_log_index, class, expires_at, decision, decided_at, deleted_at, delete_log_index, modality, sop_class, sop_instance_uid, scan_id, scanned_at, manufacturer, model, serial, station, conveyance, containers, source, rule, reason, fault, limits";

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn corrupt(id: &str, reason: impl Into<String>) -> IndexError {
    IndexError::Corrupt {
        id: id.to_string(),
        reason: reason.into(),
    }
}

fn from_row(r: &Row<'_>) -> Result<ObjectRow, IndexError> {
    let id: String = r.get(0)?;
    let kind = Kind::parse(&r.get::<_, String>(1)?).ok_or_else(|| corrupt(&id, "unknown kind"))?;
    let state =
        State::parse(&r.get::<_, String>(2)?).ok_or_else(|| corrupt(&id, "unknown state"))?;
    let pending = match r.get::<_, Option<String>>(3)? {
        Some(p) => {
            Some(PendingAction::parse(&p).ok_or_else(|| corrupt(&id, "unknown pending action"))?)
        }
        None => None,
    };
    let blob = BlobAddress::parse(&r.get::<_, String>(4)?)
        .ok_or_else(|| corrupt(&id, "malformed blob address"))?;
    let u = |i: usize| -> Result<u64, IndexError> {
        u64::try_from(r.get::<_, i64>(i)?).map_err(|_| corrupt(&id, "negative size"))
    };
    let ou = |i: usize| -> Result<Option<u64>, IndexError> {
        r.get::<_, Option<i64>>(i)?
            .map(|v| u64::try_from(v).map_err(|_| corrupt(&id, "negative log index")))
            .transpose()
    };
    let decision = match r.get::<_, Option<String>>(14)? {
        Some(d) => Some(Decision::parse(&d).ok_or_else(|| corrupt(&id, "unknown decision"))?),
        None => None,
    };
    let scan = if kind == Kind::Scan {
        Some(ScanMeta {
            modality: r.get::<_, Option<String>>(18)?.unwrap_or_default(),
            sop_class: r.get::<_, Option<String>>(19)?.unwrap_or_default(),
            sop_instance_uid: r.get::<_, Option<String>>(20)?.unwrap_or_default(),
            scan_id: r.get(21)?,
            scanned_at: r.get(22)?,
            manufacturer: r.get(23)?,
            model: r.get(24)?,
            serial: r.get(25)?,
            station: r.get(26)?,
            conveyance: r.get(27)?,
            containers: r
                .get::<_, Option<String>>(28)?
                .map(|c| {
                    c.split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            limits: r.get(33)?,
        })
    } else {
        None
    };
    let quarantine = if kind == Kind::Quarantine {
        Some(QuarantineMeta {
            source: r.get::<_, Option<String>>(29)?.unwrap_or_default(),
            rule: r.get::<_, Option<String>>(30)?.unwrap_or_default(),
            reason: r.get::<_, Option<String>>(31)?.unwrap_or_default(),
            fault: r.get::<_, Option<String>>(32)?.unwrap_or_default(),
        })
    } else {
        None
    };
    Ok(ObjectRow {
        blob_size: u(5)?,
        plain_size: u(6)?,
        content_tag: r.get(7)?,
        kek_id: r.get(8)?,
        wrapped_key: r.get(9)?,
        stored_at: r.get(10)?,
        store_log_index: ou(11)?,
        class: r.get(12)?,
        expires_at: r.get(13)?,
        decision,
        decided_at: r.get(15)?,
        deleted_at: r.get(16)?,
        delete_log_index: ou(17)?,
        scan,
        quarantine,
        id,
        kind,
        state,
        pending,
        blob,
    })
}

impl SqliteIndex {
    /// Opens (creating if needed) the index at `path`.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        // Owner-only (container numbers and plates are in it), its WAL and shared memory too.
        sluis_secret::prepare_private_file(path)
            .map_err(|e| IndexError::Io(format!("{}: {e}", path.display())))?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        match version {
            0 => {
                conn.execute_batch(&format!("BEGIN; {SCHEMA} PRAGMA user_version = 2; COMMIT;"))?;
            }
            // Version 2 keeps the limits a scan was accepted under.
            1 => {
                conn.execute_batch(
                    "BEGIN; ALTER TABLE objects ADD COLUMN limits TEXT; PRAGMA user_version = 2; COMMIT;",
                )?;
            }
            2 => {}
            v => {
                return Err(corrupt(
                    "(schema)",
                    format!("schema version {v} is newer than this sluis"),
                ));
            }
        }
        Ok(SqliteIndex { conn })
    }

    fn query(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<ObjectRow>, IndexError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(from_row(r)?);
        }
        Ok(out)
    }
}

fn identifiers(row: &ObjectRow) -> Vec<String> {
    let Some(s) = &row.scan else {
        return Vec::new();
    };
    let mut ids: Vec<String> = s
        .containers
        .iter()
        .chain(s.conveyance.iter())
        .map(|v| v.trim().to_uppercase())
        .filter(|v| !v.is_empty())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

impl Index for SqliteIndex {
    fn meta(&self, key: &str) -> Result<Option<String>, IndexError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), IndexError> {
        self.conn.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])?;
        Ok(())
    }

    fn insert(&mut self, row: &ObjectRow) -> Result<(), IndexError> {
        let tx = self.conn.transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM objects WHERE id = ?1)",
            [&row.id],
            |r| r.get(0),
        )?;
        if exists {
            return Err(IndexError::Duplicate(row.id.clone()));
        }
        let s = row.scan.clone().unwrap_or_default();
        let q = row.quarantine.clone();
        let is_scan = row.scan.is_some();
        let opt = |v: &str| if is_scan { Some(v.to_string()) } else { None };
        tx.execute(
            &format!("INSERT INTO objects ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34)"),
            params![
                row.id,
                row.kind.as_str(),
                row.state.as_str(),
                row.pending.map(PendingAction::as_str),
                row.blob.to_string(),
                as_i64(row.blob_size),
                as_i64(row.plain_size),
                row.content_tag,
                row.kek_id,
                row.wrapped_key,
                row.stored_at,
                row.store_log_index.map(as_i64),
                row.class,
                row.expires_at,
                row.decision.map(Decision::as_str),
                row.decided_at,
                row.deleted_at,
                row.delete_log_index.map(as_i64),
                opt(&s.modality),
                opt(&s.sop_class),
                opt(&s.sop_instance_uid),
                s.scan_id,
                s.scanned_at,
                s.manufacturer,
                s.model,
                s.serial,
                s.station,
                s.conveyance,
                if is_scan { Some(s.containers.join(" ")) } else { None },
                q.as_ref().map(|q| q.source.clone()),
                q.as_ref().map(|q| q.rule.clone()),
                q.as_ref().map(|q| q.reason.clone()),
                q.as_ref().map(|q| q.fault.clone()),
                s.limits,
            ],
        )?;
        for v in identifiers(row) {
            tx.execute(
                "INSERT INTO identifiers (object, value) VALUES (?1, ?2)",
                [&row.id, &v],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<ObjectRow>, IndexError> {
        Ok(self
            .query(
                &format!("SELECT {COLUMNS} FROM objects WHERE id = ?1"),
                &[&id],
            )?
            .into_iter()
            .next())
    }

    fn find_tag(&self, kind: Kind, tag: &str) -> Result<Option<ObjectRow>, IndexError> {
        Ok(self
            .query(&format!("SELECT {COLUMNS} FROM objects WHERE content_tag = ?1 AND kind = ?2 AND state IN ('pending', 'live') ORDER BY stored_at, id LIMIT 1"), &[&tag, &kind.as_str()])?
            .into_iter()
            .next())
    }

    fn list(&self, f: &Filter) -> Result<Vec<ObjectRow>, IndexError> {
        let mut sql = format!("SELECT {COLUMNS} FROM objects WHERE 1 = 1");
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        fn arg(sql: &mut String, args: &mut Vec<Box<dyn ToSql>>, clause: &str, v: Box<dyn ToSql>) {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        }
        if let Some(k) = f.kind {
            arg(&mut sql, &mut args, " AND kind = ?", Box::new(k.as_str()));
        }
        if !f.states.is_empty() {
            let list: Vec<String> = f
                .states
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            sql.push_str(&format!(" AND state IN ({})", list.join(", ")));
        }
        if f.pending_only {
            sql.push_str(" AND pending IS NOT NULL");
        }
        if let Some(i) = &f.identifier {
            arg(
                &mut sql,
                &mut args,
                " AND id IN (SELECT object FROM identifiers WHERE value = ?)",
                Box::new(i.trim().to_uppercase()),
            );
        }
        if let Some(s) = &f.scanner {
            let like = format!(
                "%{}%",
                s.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            args.push(Box::new(like));
            let n = args.len();
            sql.push_str(&format!(
                " AND (station LIKE ?{n} ESCAPE '\\' OR manufacturer LIKE ?{n} ESCAPE '\\' OR model LIKE ?{n} ESCAPE '\\' OR serial LIKE ?{n} ESCAPE '\\')"
            ));
        }
        match f.decision {
            Some(Some(d)) => arg(
                &mut sql,
                &mut args,
                " AND decision = ?",
                Box::new(d.as_str()),
            ),
            Some(None) => sql.push_str(" AND decision IS NULL"),
            None => {}
        }
        if let Some(t) = &f.stored_from {
            arg(
                &mut sql,
                &mut args,
                " AND stored_at >= ?",
                Box::new(t.clone()),
            );
        }
        if let Some(t) = &f.stored_until {
            arg(
                &mut sql,
                &mut args,
                " AND stored_at < ?",
                Box::new(t.clone()),
            );
        }
        if let Some(t) = &f.expires_by {
            arg(
                &mut sql,
                &mut args,
                " AND expires_at <= ?",
                Box::new(t.clone()),
            );
        }
        if let Some((at, id)) = &f.after {
            args.push(Box::new(at.clone()));
            args.push(Box::new(id.clone()));
            let n = args.len();
            sql.push_str(&format!(" AND (stored_at, id) > (?{}, ?{n})", n - 1));
        }
        sql.push_str(&format!(
            " ORDER BY stored_at, id LIMIT {}",
            f.limit.min(100_000)
        ));
        let refs: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
        self.query(&sql, &refs)
    }

    fn update(&mut self, rows: &[ObjectRow]) -> Result<(), IndexError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE objects SET state = ?2, pending = ?3, kek_id = ?4, wrapped_key = ?5, store_log_index = ?6, class = ?7, expires_at = ?8, decision = ?9, decided_at = ?10, deleted_at = ?11, delete_log_index = ?12 WHERE id = ?1",
            )?;
            for row in rows {
                let n = stmt.execute(params![
                    row.id,
                    row.state.as_str(),
                    row.pending.map(PendingAction::as_str),
                    row.kek_id,
                    row.wrapped_key,
                    row.store_log_index.map(as_i64),
                    row.class,
                    row.expires_at,
                    row.decision.map(Decision::as_str),
                    row.decided_at,
                    row.deleted_at,
                    row.delete_log_index.map(as_i64),
                ])?;
                if n != 1 {
                    return Err(corrupt(&row.id, "no such row to update"));
                }
                if row.state == State::Shredded {
                    // Retention is over for the metadata too: only a tombstone stays.
                    tx.execute(
                        "UPDATE objects SET scan_id = NULL, scanned_at = NULL, manufacturer = NULL, model = NULL, serial = NULL, station = NULL, conveyance = NULL, containers = NULL, source = NULL, sop_instance_uid = NULL WHERE id = ?1",
                        [&row.id],
                    )?;
                    tx.execute("DELETE FROM identifiers WHERE object = ?1", [&row.id])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn for_each(
        &self,
        visit: &mut dyn FnMut(ObjectRow) -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM objects ORDER BY stored_at, id"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            visit(from_row(r)?)?;
        }
        Ok(())
    }

    fn scanners(&self) -> Result<Vec<ScannerRow>, IndexError> {
        let mut stmt = self.conn.prepare(
            "SELECT manufacturer, model, serial, station, COUNT(*), MIN(stored_at), MAX(stored_at),
                    SUM(decision IS NULL OR decision = 'refer')
             FROM objects WHERE kind = 'scan' AND state = 'live' AND modality IS NOT 'TDR'
             GROUP BY manufacturer, model, serial, station
             ORDER BY MAX(stored_at) DESC LIMIT 1000",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(ScannerRow {
                manufacturer: r.get(0)?,
                model: r.get(1)?,
                serial: r.get(2)?,
                station: r.get(3)?,
                scans: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                first: r.get(5)?,
                last: r.get(6)?,
                waiting: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
            });
        }
        Ok(out)
    }

    fn counts(&self) -> Result<Vec<(Kind, State, u64)>, IndexError> {
        let mut stmt = self.conn.prepare(
            "SELECT kind, state, COUNT(*) FROM objects GROUP BY kind, state ORDER BY kind, state",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let (k, s): (String, String) = (r.get(0)?, r.get(1)?);
            let n: i64 = r.get(2)?;
            if let (Some(k), Some(s)) = (Kind::parse(&k), State::parse(&s)) {
                out.push((k, s, u64::try_from(n).unwrap_or(0)));
            }
        }
        Ok(out)
    }

    fn purge(&mut self) -> Result<(), IndexError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}
