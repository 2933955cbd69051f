//! The analysts' desk: decision comments, image annotations and the customs declarations scans
//! are read against, kept by the authority beside the vault (`desk.sqlite`, mode 0600).
//!
//! The transparency log holds no free text, so a comment lives here; the decision's log record
//! carries the comment's SHA-256, which binds the two: a comment changed here afterwards no longer
//! matches its record. The same holds for the note given with a read's or an export's purpose
//! (a case number, a request): the log carries the purpose's code and the note's SHA-256, the
//! note itself is kept here by the record's index. Annotations are an analyst's own marks on an image: private to their
//! author unless shared, and never shown to anyone else while private (another analyst asking
//! for one is told it does not exist). Declarations come from the authority's declaration
//! system (`sluis declaration import`), are checked field by field, and are found for a scan by
//! its container numbers and conveyance id.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::accounts::Seconds;

/// Longest comment, in characters.
pub const MAX_COMMENT: usize = 4000;
/// Longest annotation label, in characters.
pub const MAX_LABEL: usize = 200;
/// Most annotations one person may keep on one scan.
pub const MAX_ANNOTATIONS: i64 = 500;

/// A decision comment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comment {
    /// The scan.
    pub scan: String,
    /// Who wrote it (account name).
    pub author: String,
    /// Their role then.
    pub role: String,
    /// When (seconds since the epoch).
    pub at: Seconds,
    /// The decision it came with.
    pub decision: String,
    /// The text.
    pub text: String,
}

/// The free-text note given with a read's or an export's purpose, kept by its record's index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PurposeNote {
    /// The audit record it belongs to.
    pub record: u64,
    /// The object read or exported.
    pub object: String,
    /// Who gave it (account name).
    pub author: String,
    /// When.
    pub at: Seconds,
    /// The purpose's code.
    pub purpose: String,
    /// The note.
    pub text: String,
}

/// The longest purpose note, in characters.
pub const MAX_NOTE: usize = 500;

/// A rectangle an analyst drew on a scan, in image pixels.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Annotation {
    /// Its number.
    #[serde(default)]
    pub id: i64,
    /// The scan.
    #[serde(default)]
    pub scan: String,
    /// Whose it is.
    #[serde(default)]
    pub owner: String,
    /// When it was drawn.
    #[serde(default)]
    pub at: Seconds,
    /// Seen by every analyst, not only its owner.
    #[serde(default)]
    pub shared: bool,
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// What it marks.
    #[serde(default)]
    pub label: String,
}

impl Annotation {
    /// Why this annotation cannot be kept, if it cannot.
    pub fn invalid(&self) -> Option<&'static str> {
        let coords = [self.x, self.y, self.w, self.h];
        if coords.iter().any(|c| !c.is_finite()) {
            return Some("coordinates must be finite numbers");
        }
        if self.x < 0.0 || self.y < 0.0 || self.x + self.w > 65_536.0 || self.y + self.h > 65_536.0
        {
            return Some("the rectangle must lie within the image's coordinates");
        }
        if self.w < 1.0 || self.h < 1.0 {
            return Some("the rectangle must be at least one pixel wide and high");
        }
        if self.label.chars().count() > MAX_LABEL || self.label.chars().any(char::is_control) {
            return Some("a label is at most 200 characters, without control characters");
        }
        None
    }
}

/// One line of goods in a declaration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goods {
    /// What the goods are said to be.
    pub description: String,
    /// Harmonized System (or Combined Nomenclature) code: 4 to 10 digits.
    #[serde(default)]
    pub hs_code: Option<String>,
    /// Number of packages.
    #[serde(default)]
    pub packages: Option<u32>,
    /// Gross mass, kilograms.
    #[serde(default)]
    pub gross_kg: Option<f64>,
}

/// A customs declaration (or manifest line) for containers or a conveyance.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// The declaration's reference (MRN or the declaration system's number).
    pub reference: String,
    /// Import, export, transit, …
    #[serde(default)]
    pub procedure: Option<String>,
    /// When it was lodged (ISO 8601).
    #[serde(default)]
    pub declared_at: Option<String>,
    /// Container numbers.
    #[serde(default)]
    pub containers: Vec<String>,
    /// Truck plate, wagon number.
    #[serde(default)]
    pub conveyance: Option<String>,
    /// Who sends.
    #[serde(default)]
    pub consignor: Option<String>,
    /// Who receives.
    #[serde(default)]
    pub consignee: Option<String>,
    /// What is declared.
    pub goods: Vec<Goods>,
}

fn short_text(what: &str, s: &str, max: usize) -> Result<(), String> {
    if s.trim().is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(format!(
            "{what} must be 1 to {max} characters, without control characters"
        ));
    }
    Ok(())
}

impl Declaration {
    /// Checks every field; the first problem found.
    pub fn check(&self) -> Result<(), String> {
        short_text("reference", &self.reference, 64)?;
        for (what, v) in [
            ("procedure", &self.procedure),
            ("declared_at", &self.declared_at),
            ("conveyance", &self.conveyance),
            ("consignor", &self.consignor),
            ("consignee", &self.consignee),
        ] {
            if let Some(v) = v {
                short_text(what, v, 256)?;
            }
        }
        if self.containers.is_empty() && self.conveyance.is_none() {
            return Err("a declaration names containers or a conveyance".into());
        }
        if self.containers.len() > 64 {
            return Err("at most 64 containers".into());
        }
        for c in &self.containers {
            short_text("a container number", c, 32)?;
        }
        if self.goods.is_empty() || self.goods.len() > 999 {
            return Err("a declaration has 1 to 999 lines of goods".into());
        }
        for (i, g) in self.goods.iter().enumerate() {
            short_text(
                &format!("goods {}: description", i + 1),
                &g.description,
                512,
            )?;
            if let Some(hs) = &g.hs_code
                && !((4..=10).contains(&hs.len()) && hs.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(format!("goods {}: an HS code is 4 to 10 digits", i + 1));
            }
            if let Some(kg) = g.gross_kg
                && !(kg.is_finite() && (0.0..=1e7).contains(&kg))
            {
                return Err(format!("goods {}: gross_kg must be 0 to 10 000 000", i + 1));
            }
        }
        Ok(())
    }

    /// The identifiers it is found by: container numbers and conveyance, upper case, no spaces.
    pub fn identifiers(&self) -> Vec<String> {
        self.containers
            .iter()
            .chain(self.conveyance.iter())
            .map(|s| normal_id(s))
            .collect()
    }
}

fn normal_id(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Why the desk could not answer.
#[derive(Debug, thiserror::Error)]
#[error("desk database {path}: {source}")]
pub struct DeskError {
    path: PathBuf,
    source: rusqlite::Error,
}

/// The desk database.
#[derive(Debug)]
pub struct Desk {
    conn: Connection,
    path: PathBuf,
}

impl Desk {
    /// Opens (or creates) `desk.sqlite` in `dir`.
    pub fn open(dir: &Path) -> Result<Desk, DeskError> {
        let path = dir.join("desk.sqlite");
        let conn = crate::accounts::open_private(&path).map_err(|source| DeskError {
            path: path.clone(),
            source,
        })?;
        let desk = Desk { conn, path };
        desk.conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS comment (
                     id INTEGER PRIMARY KEY,
                     scan TEXT NOT NULL,
                     author TEXT NOT NULL,
                     role TEXT NOT NULL,
                     at INTEGER NOT NULL,
                     decision TEXT NOT NULL,
                     text TEXT NOT NULL
                 ) STRICT;
                 CREATE INDEX IF NOT EXISTS comment_scan ON comment (scan, id);
                 CREATE TABLE IF NOT EXISTS annotation (
                     id INTEGER PRIMARY KEY,
                     scan TEXT NOT NULL,
                     owner TEXT NOT NULL,
                     at INTEGER NOT NULL,
                     shared INTEGER NOT NULL,
                     x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,
                     label TEXT NOT NULL
                 ) STRICT;
                 CREATE INDEX IF NOT EXISTS annotation_scan ON annotation (scan, owner);
                 CREATE TABLE IF NOT EXISTS declaration (
                     reference TEXT PRIMARY KEY,
                     body TEXT NOT NULL,
                     imported INTEGER NOT NULL
                 ) STRICT;
                 CREATE TABLE IF NOT EXISTS declaration_id (
                     reference TEXT NOT NULL REFERENCES declaration (reference) ON DELETE CASCADE,
                     value TEXT NOT NULL
                 ) STRICT;
                 CREATE INDEX IF NOT EXISTS declaration_value ON declaration_id (value);
                 CREATE TABLE IF NOT EXISTS decided_by (
                     scan TEXT PRIMARY KEY,
                     role TEXT NOT NULL,
                     decision TEXT NOT NULL,
                     at INTEGER NOT NULL
                 ) STRICT;
                 CREATE TABLE IF NOT EXISTS purpose_note (
                     record INTEGER PRIMARY KEY,
                     object TEXT NOT NULL,
                     author TEXT NOT NULL,
                     at INTEGER NOT NULL,
                     purpose TEXT NOT NULL,
                     text TEXT NOT NULL
                 ) STRICT;",
            )
            .map_err(|e| desk.err(e))?;
        Ok(desk)
    }

    fn err(&self, source: rusqlite::Error) -> DeskError {
        DeskError {
            path: self.path.clone(),
            source,
        }
    }

    /// Keeps a comment.
    pub fn add_comment(&self, c: &Comment) -> Result<(), DeskError> {
        self.conn
            .execute(
                "INSERT INTO comment (scan, author, role, at, decision, text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![c.scan, c.author, c.role, c.at, c.decision, c.text],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records the role of whoever decided a scan last (the workstation's review rules need it).
    pub fn set_decider(
        &self,
        scan: &str,
        role: &str,
        decision: &str,
        at: Seconds,
    ) -> Result<(), DeskError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO decided_by (scan, role, decision, at) VALUES (?1, ?2, ?3, ?4)",
                params![scan, role, decision, at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The role of whoever decided a scan last on the workstation, and the decision.
    pub fn decider(&self, scan: &str) -> Result<Option<(String, String)>, DeskError> {
        self.conn
            .query_row(
                "SELECT role, decision FROM decided_by WHERE scan = ?1",
                params![scan],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Keeps the note of a read or export, by its audit record.
    pub fn add_note(&self, n: &PurposeNote) -> Result<(), DeskError> {
        let record = i64::try_from(n.record).unwrap_or(i64::MAX);
        self.conn
            .execute(
                "INSERT OR REPLACE INTO purpose_note (record, object, author, at, purpose, text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![record, n.object, n.author, n.at, n.purpose, n.text],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The note of an audit record, if one was given.
    pub fn note(&self, record: u64) -> Result<Option<PurposeNote>, DeskError> {
        let r = i64::try_from(record).unwrap_or(i64::MAX);
        self.conn
            .query_row(
                "SELECT record, object, author, at, purpose, text FROM purpose_note WHERE record = ?1",
                params![r],
                |row| {
                    Ok(PurposeNote {
                        record: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                        object: row.get(1)?,
                        author: row.get(2)?,
                        at: row.get(3)?,
                        purpose: row.get(4)?,
                        text: row.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// A scan's comments, oldest first.
    pub fn comments(&self, scan: &str) -> Result<Vec<Comment>, DeskError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT scan, author, role, at, decision, text FROM comment
                 WHERE scan = ?1 ORDER BY id LIMIT 1000",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![scan], |r| {
                Ok(Comment {
                    scan: r.get(0)?,
                    author: r.get(1)?,
                    role: r.get(2)?,
                    at: r.get(3)?,
                    decision: r.get(4)?,
                    text: r.get(5)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Keeps an annotation for `owner`; `None` if they already keep the most allowed on the scan.
    pub fn add_annotation(&self, a: &Annotation) -> Result<Option<i64>, DeskError> {
        let count: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM annotation WHERE scan = ?1 AND owner = ?2",
                params![a.scan, a.owner],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if count >= MAX_ANNOTATIONS {
            return Ok(None);
        }
        self.conn
            .execute(
                "INSERT INTO annotation (scan, owner, at, shared, x, y, w, h, label)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![a.scan, a.owner, a.at, a.shared, a.x, a.y, a.w, a.h, a.label],
            )
            .map_err(|e| self.err(e))?;
        Ok(Some(self.conn.last_insert_rowid()))
    }

    fn annotation_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Annotation> {
        Ok(Annotation {
            id: r.get(0)?,
            scan: r.get(1)?,
            owner: r.get(2)?,
            at: r.get(3)?,
            shared: r.get(4)?,
            x: r.get(5)?,
            y: r.get(6)?,
            w: r.get(7)?,
            h: r.get(8)?,
            label: r.get(9)?,
        })
    }

    /// The annotations on a scan that `viewer` may see: their own and the shared ones.
    pub fn annotations(&self, scan: &str, viewer: &str) -> Result<Vec<Annotation>, DeskError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, scan, owner, at, shared, x, y, w, h, label FROM annotation
                 WHERE scan = ?1 AND (owner = ?2 OR shared = 1) ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![scan, viewer], Self::annotation_of)
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// One annotation, if `viewer` may see it.
    pub fn annotation(&self, id: i64, viewer: &str) -> Result<Option<Annotation>, DeskError> {
        self.conn
            .query_row(
                "SELECT id, scan, owner, at, shared, x, y, w, h, label FROM annotation
                 WHERE id = ?1 AND (owner = ?2 OR shared = 1)",
                params![id, viewer],
                Self::annotation_of,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Keeps declarations (checked beforehand), replacing any with the same reference, in one
    /// transaction: all or none.
    pub fn import_declarations(
        &mut self,
        list: &[Declaration],
        at: Seconds,
    ) -> Result<(), DeskError> {
        let path = self.path.clone();
        let err = move |source| DeskError {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(&err)?;
        for d in list {
            let body = serde_json::to_string(d).unwrap_or_default();
            tx.execute(
                "DELETE FROM declaration_id WHERE reference = ?1",
                params![d.reference],
            )
            .map_err(&err)?;
            tx.execute(
                "INSERT INTO declaration (reference, body, imported) VALUES (?1, ?2, ?3)
                 ON CONFLICT (reference) DO UPDATE SET body = ?2, imported = ?3",
                params![d.reference, body, at],
            )
            .map_err(&err)?;
            for v in d.identifiers() {
                tx.execute(
                    "INSERT INTO declaration_id (reference, value) VALUES (?1, ?2)",
                    params![d.reference, v],
                )
                .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// The declarations naming any of these identifiers, newest import first (at most 20).
    pub fn declarations_for(&self, identifiers: &[String]) -> Result<Vec<Declaration>, DeskError> {
        let mut out: Vec<Declaration> = Vec::new();
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT d.body FROM declaration d JOIN declaration_id i ON i.reference = d.reference
                 WHERE i.value = ?1 ORDER BY d.imported DESC LIMIT 20",
            )
            .map_err(|e| self.err(e))?;
        for ident in identifiers {
            let bodies: Vec<String> = st
                .query_map(params![normal_id(ident)], |r| r.get(0))
                .and_then(Iterator::collect)
                .map_err(|e| self.err(e))?;
            for b in bodies {
                if let Ok(d) = serde_json::from_str::<Declaration>(&b)
                    && !out.iter().any(|o| o.reference == d.reference)
                    && out.len() < 20
                {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    /// Deletes one of `owner`'s annotations; false if they have none by that number.
    pub fn delete_annotation(&self, id: i64, owner: &str) -> Result<bool, DeskError> {
        let n = self
            .conn
            .execute(
                "DELETE FROM annotation WHERE id = ?1 AND owner = ?2",
                params![id, owner],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }
}
/// The largest declarations file read.
pub const MAX_DECLARATIONS_FILE: u64 = 256 << 20;
/// The longest line of one.
const MAX_DECLARATION_LINE: usize = 1 << 20;

/// Why a declarations file was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeclarationsError {
    /// Larger than [`MAX_DECLARATIONS_FILE`].
    #[error("larger than {} MiB; split it", MAX_DECLARATIONS_FILE >> 20)]
    TooLarge,
    /// Lines that are not declarations: each with its number and why. Nothing was read.
    #[error("nothing imported:\n  {}", .0.join("\n  "))]
    Lines(Vec<String>),
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads and checks a file of declarations (JSON Lines, as the authority's declaration system
/// exports them): all of them, or every bad line with its number and why. Bounded: the file
/// by [`MAX_DECLARATIONS_FILE`], each line by 1 MiB.
pub fn read_declarations(file: &Path) -> Result<Vec<Declaration>, DeclarationsError> {
    use std::io::BufRead as _;
    let f = std::fs::File::open(file)?;
    if f.metadata().map(|m| m.len()).unwrap_or(0) > MAX_DECLARATIONS_FILE {
        return Err(DeclarationsError::TooLarge);
    }
    let mut reader = std::io::BufReader::new(f);
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    let mut line = Vec::new();
    for n in 1.. {
        line.clear();
        // Bounded: a line longer than the limit is read no further than the limit.
        let limit = u64::try_from(MAX_DECLARATION_LINE).unwrap_or(u64::MAX) + 1;
        let got = std::io::Read::take(&mut reader, limit).read_until(b'\n', &mut line)?;
        if got == 0 {
            break;
        }
        if line.len() > MAX_DECLARATION_LINE {
            bad.push(format!(
                "line {n}: longer than {MAX_DECLARATION_LINE} bytes"
            ));
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Declaration>(&line) {
            Ok(d) => match d.check() {
                Ok(()) => out.push(d),
                Err(e) => bad.push(format!("line {n}: {e}")),
            },
            Err(e) => bad.push(format!("line {n}: {e}")),
        }
    }
    if !bad.is_empty() {
        return Err(DeclarationsError::Lines(bad));
    }
    Ok(out)
}
