//! The analysts' desk: decision comments and image annotations, kept by the authority beside
//! the vault (`desk.sqlite`, mode 0600).
//!
//! The transparency log holds no free text, so a comment lives here; the decision's log record
//! carries the comment's SHA-256, which binds the two: a comment changed here afterwards no longer
//! matches its record. Annotations are an analyst's own marks on an image: private to their
//! author unless shared, and never shown to anyone else while private (another analyst asking
//! for one is told it does not exist).

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
        let conn = Connection::open(&path).map_err(|source| DeskError {
            path: path.clone(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        let desk = Desk { conn, path };
        desk.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 CREATE TABLE IF NOT EXISTS comment (
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
                 CREATE INDEX IF NOT EXISTS annotation_scan ON annotation (scan, owner);",
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
