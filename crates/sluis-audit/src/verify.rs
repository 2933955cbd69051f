//! The auditor's side: full verification of a log from its published files, and verification
//! of an offline receipt (C2SP tlog-proof), with public keys only.
//!
//! [`verify_log`] reads the checkpoint, checks the log's signature and any witnesses'
//! cosignatures, then streams every entry bundle in order, hashes each entry, rebuilds the tree
//! and compares every tile the log published with the one recomputed. The first mismatch is
//! named: the entry index, the bundle or the tile. The recomputed root must equal the signed
//! one; given the checkpoint the auditor kept from an earlier run, the tree of that size must
//! have the kept root (the log has not been rewritten or forked since), which is also checked a
//! second way with a consistency proof built from the published tiles.
//!
//! Every file the log publishes is checked, the partial tiles and bundles of earlier, smaller
//! trees included (a client holding an older checkpoint reads those): each must be a prefix of
//! the tile recomputed from the entries. Where the source can list its files (a directory),
//! every one is found; over HTTP, those a client of the kept checkpoint would read.
//!
//! Nothing the log serves is trusted: every file is bounded in size before it is parsed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{self, CheckpointError};
use crate::keys::NoteVerifier;
use crate::merkle::{
    self, Edge, Hash, MerkleError, Prover, TILE_HEIGHT, TILE_WIDTH, TileHashes, leaf_hash,
    tile_width,
};

use crate::record::AuditRecord;
use crate::tiles::{self, MAX_ENTRY_BYTES};

/// The largest checkpoint accepted.
pub const MAX_CHECKPOINT_BYTES: usize = 64 * 1024;
/// The largest hash tile accepted.
pub const MAX_TILE_BYTES: usize = TILE_WIDTH * 32;
/// The largest entry bundle accepted (256 entries of the largest size).
pub const MAX_BUNDLE_BYTES: usize = TILE_WIDTH * (MAX_ENTRY_BYTES + 2);

/// Where a log's files are read from: a directory, or a URL prefix over HTTP.
pub trait LogSource {
    /// The file at `path` (`checkpoint`, `tile/...`), `Ok(None)` if it does not exist, refusing
    /// anything longer than `limit` bytes.
    fn fetch(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, String>;
    /// Where the log is, for messages.
    fn describe(&self) -> String;
    /// Every file under `prefix`, where the source can list them (a directory); `None` where it
    /// cannot (HTTP).
    fn list(&self, _prefix: &str) -> Option<Vec<String>> {
        None
    }
}

impl LogSource for tiles::FsStore {
    fn fetch(&self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, String> {
        use std::io::Read as _;
        let full = self.root().join(path);
        let file = match std::fs::File::open(&full) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", full.display())),
        };
        let mut out = Vec::new();
        file.take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| format!("{}: {e}", full.display()))?;
        if out.len() > limit {
            return Err(format!("{path} is larger than {limit} bytes"));
        }
        Ok(Some(out))
    }

    fn describe(&self) -> String {
        self.root().display().to_string()
    }

    fn list(&self, prefix: &str) -> Option<Vec<String>> {
        tiles::TileStore::list(self, prefix).ok()
    }
}

/// The partial tiles and bundles to check, by (level, or `None` for entries; index): their
/// widths.
type Partials = std::collections::BTreeMap<(Option<u8>, u64), Vec<usize>>;

/// The partial files to check besides those of the checkpoint's own tree: every one the source
/// lists, or, where it cannot list, those of the kept checkpoint's tree.
fn partials(source: &dyn LogSource, kept: Option<u64>) -> Partials {
    let mut out = Partials::new();
    match source.list("tile") {
        Some(paths) => {
            for p in paths {
                if let Some((level, index, width)) = crate::log::parse_path(&p)
                    && width < TILE_WIDTH
                {
                    out.entry((level, index)).or_default().push(width);
                }
            }
        }
        None => {
            if let Some(size) = kept.filter(|s| *s > 0) {
                let width = usize::try_from(size % TILE_WIDTH as u64).unwrap_or(0);
                if width > 0 {
                    out.entry((None, size / TILE_WIDTH as u64))
                        .or_default()
                        .push(width);
                }
                for level in 0u8..8 {
                    let at = size >> (u32::from(level) * TILE_HEIGHT);
                    let w = usize::try_from(at % TILE_WIDTH as u64).unwrap_or(0);
                    if at == 0 {
                        break;
                    }
                    if w > 0 {
                        out.entry((Some(level), at / TILE_WIDTH as u64))
                            .or_default()
                            .push(w);
                    }
                }
            }
        }
    }
    out
}

/// Where two runs first differ (the shorter's length if one is a prefix of the other).
fn first_difference<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter()
        .zip(b.iter())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Checks the partial hash tiles of (`level`, `index`) narrower than `hashes` against their
/// prefix of it. A partial a listing named but that is gone (deleted meanwhile) is no error.
fn compare_partial_tiles(
    source: &dyn LogSource,
    partials: &Partials,
    level: u8,
    index: u64,
    hashes: &[Hash],
) -> Result<u64, VerifyError> {
    let mut checked = 0;
    for &w in partials.get(&(Some(level), index)).into_iter().flatten() {
        let Some(prefix) = hashes.get(..w).filter(|_| w < hashes.len()) else {
            continue;
        };
        let path = tiles::tile_path(level, index, w);
        let Some(bytes) = fetch(source, &path, MAX_TILE_BYTES)? else {
            continue;
        };
        if tiles::decode_tile(&bytes).as_deref() != Some(prefix) {
            let at = first_difference(prefix, &tiles::decode_tile(&bytes).unwrap_or_default());
            return Err(VerifyError::Tile {
                path,
                first_entry: (level == 0).then(|| index * TILE_WIDTH as u64 + at as u64),
            });
        }
        checked += 1;
    }
    Ok(checked)
}

/// Checks the partial bundles of bundle `index` narrower than `entries` against their prefix.
fn compare_partial_bundles(
    source: &dyn LogSource,
    partials: &Partials,
    index: u64,
    entries: &[Vec<u8>],
) -> Result<u64, VerifyError> {
    let mut checked = 0;
    for &w in partials.get(&(None, index)).into_iter().flatten() {
        let Some(prefix) = entries.get(..w).filter(|_| w < entries.len()) else {
            continue;
        };
        let path = tiles::bundle_path(index, w);
        let Some(bytes) = fetch(source, &path, MAX_BUNDLE_BYTES)? else {
            continue;
        };
        let stored = tiles::decode_bundle(&bytes);
        if stored.as_deref() != Some(prefix) {
            let at = first_difference(prefix, &stored.unwrap_or_default());
            return Err(VerifyError::Bundle {
                path,
                reason: format!(
                    "this earlier partial bundle is not a prefix of the entries: entry {} differs",
                    index * TILE_WIDTH as u64 + at as u64
                ),
            });
        }
        checked += 1;
    }
    Ok(checked)
}

/// What failed, and where. Each variant names the first place the log and its recomputation
/// disagree.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The log could not be read.
    #[error("cannot read {path}: {reason}")]
    Fetch {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file the tree needs is missing.
    #[error("{0} is missing")]
    Missing(String),
    /// The checkpoint does not verify.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// Too few witnesses cosigned.
    #[error("checkpoint cosigned by {found} of the required {required} witnesses ({names})")]
    Quorum {
        /// Cosignatures that verified.
        found: usize,
        /// Cosignatures required.
        required: usize,
        /// Names of those that verified.
        names: String,
    },
    /// An entry bundle is malformed or has the wrong number of entries.
    #[error("entry bundle {path}: {reason}")]
    Bundle {
        /// The bundle.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry is not an audit record.
    #[error("entry {index} is not a valid audit record: {reason}")]
    Record {
        /// Entry index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// A published tile differs from the one recomputed from the entries.
    #[error("tile {path} does not match the entries{}", first_entry.map(|i| format!(": first differing entry {i}")).unwrap_or_default())]
    Tile {
        /// The tile.
        path: String,
        /// For a level-0 tile, the first entry whose hash differs.
        first_entry: Option<u64>,
    },
    /// The root recomputed from the entries is not the signed one.
    #[error("the entries hash to root {computed}, the checkpoint signs {signed}")]
    Root {
        /// Recomputed.
        computed: String,
        /// Signed.
        signed: String,
    },
    /// The log is smaller than the checkpoint the auditor kept.
    #[error(
        "the log has {size} entries, fewer than the {kept} of the checkpoint you kept: it was truncated or rolled back"
    )]
    Shrunk {
        /// Now.
        size: u64,
        /// Kept.
        kept: u64,
    },
    /// The first `kept` entries no longer hash to the kept root.
    #[error(
        "the first {kept} entries now hash to {computed}, the checkpoint you kept signs {signed}: the log was rewritten or forked"
    )]
    Fork {
        /// The kept size.
        kept: u64,
        /// Recomputed.
        computed: String,
        /// Kept root.
        signed: String,
    },
    /// A proof failed.
    #[error(transparent)]
    Proof(#[from] MerkleError),
    /// A receipt is malformed or does not verify.
    #[error("receipt: {0}")]
    Receipt(String),
}

/// What the auditor asks.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The log's verifier key.
    pub log: Option<NoteVerifier>,
    /// Witness keys whose cosignatures count.
    pub witnesses: Vec<NoteVerifier>,
    /// How many of them must have cosigned the checkpoint.
    pub quorum: usize,
    /// The checkpoint kept from the last verification, if any.
    pub since: Option<Vec<u8>>,
    /// Whether every entry must parse as an [`AuditRecord`].
    pub records: bool,
}

/// What verification found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The verified checkpoint.
    pub checkpoint: checkpoint::Verified,
    /// The checkpoint bytes (to keep for next time).
    pub checkpoint_bytes: Vec<u8>,
    /// Entries read and hashed.
    pub entries: u64,
    /// Tiles compared.
    pub tiles: u64,
    /// Partial tiles and bundles of earlier, smaller trees compared with their prefixes.
    pub partials: u64,
    /// Size of the kept checkpoint this one is consistent with.
    pub consistent_with: Option<u64>,
}

fn hex(h: &Hash) -> String {
    h.0.iter().map(|b| format!("{b:02x}")).collect()
}

fn fetch(source: &dyn LogSource, path: &str, limit: usize) -> Result<Option<Vec<u8>>, VerifyError> {
    source
        .fetch(path, limit)
        .map_err(|reason| VerifyError::Fetch {
            path: path.to_string(),
            reason,
        })
}

/// Reads a tile or bundle of `width` at `index`: the partial file for a partial width, falling
/// back to the full one (a log may delete partial files once the full one exists).
fn fetch_tiled(
    source: &dyn LogSource,
    path_of: impl Fn(usize) -> String,
    width: usize,
    limit: usize,
) -> Result<(String, Vec<u8>), VerifyError> {
    let path = path_of(width);
    if let Some(bytes) = fetch(source, &path, limit)? {
        return Ok((path, bytes));
    }
    if width < TILE_WIDTH {
        let full = path_of(TILE_WIDTH);
        if let Some(bytes) = fetch(source, &full, limit)? {
            return Ok((full, bytes));
        }
    }
    Err(VerifyError::Missing(path))
}

/// Verifies a log end to end; `progress` is called with the number of entries verified so far.
pub fn verify_log(
    source: &dyn LogSource,
    policy: &Policy,
    progress: impl FnMut(u64, u64),
) -> Result<Report, VerifyError> {
    verify_log_records(source, policy, progress, |_, _| {})
}

/// [`verify_log`], handing each record to `on_record` with its index as it is read (with
/// `policy.records` set; otherwise records are not decoded and `on_record` is not called). A
/// record handed out is from the log being verified, not yet from a verified log: act on what
/// was handed out only once this returns `Ok`.
pub fn verify_log_records(
    source: &dyn LogSource,
    policy: &Policy,
    mut progress: impl FnMut(u64, u64),
    mut on_record: impl FnMut(u64, &AuditRecord),
) -> Result<Report, VerifyError> {
    let log = policy
        .log
        .as_ref()
        .ok_or_else(|| VerifyError::Receipt("no log key given".into()))?;
    let cp_bytes = fetch(source, "checkpoint", MAX_CHECKPOINT_BYTES)?
        .ok_or_else(|| VerifyError::Missing("checkpoint".into()))?;
    let cp = checkpoint::verify(&cp_bytes, log, &policy.witnesses)?;
    if cp.cosigners.len() < policy.quorum {
        return Err(VerifyError::Quorum {
            found: cp.cosigners.len(),
            required: policy.quorum,
            names: cp.cosigners.join(", "),
        });
    }
    let kept = match &policy.since {
        Some(bytes) => {
            let k = checkpoint::verify(bytes, log, &[])?;
            if k.size > cp.size {
                return Err(VerifyError::Shrunk {
                    size: cp.size,
                    kept: k.size,
                });
            }
            Some(k)
        }
        None => None,
    };
    let size = cp.size;
    let partials = partials(source, kept.as_ref().map(|k| k.size));
    let mut edge = Edge::new();
    let mut tiles_checked = 0u64;
    let mut partials_checked = 0u64;
    let bundles = size.div_ceil(TILE_WIDTH as u64);
    for n in 0..bundles {
        let width = usize::try_from((size - n * TILE_WIDTH as u64).min(TILE_WIDTH as u64))
            .unwrap_or(TILE_WIDTH);
        let (path, bytes) = fetch_tiled(
            source,
            |w| tiles::bundle_path(n, w),
            width,
            MAX_BUNDLE_BYTES,
        )?;
        let entries = tiles::decode_bundle(&bytes).ok_or_else(|| VerifyError::Bundle {
            path: path.clone(),
            reason: "malformed (a length runs past the end)".into(),
        })?;
        let expected = if path == tiles::bundle_path(n, TILE_WIDTH) {
            TILE_WIDTH
        } else {
            width
        };
        if entries.len() != expected {
            return Err(VerifyError::Bundle {
                path,
                reason: format!("holds {} entries, {expected} expected", entries.len()),
            });
        }
        for (i, entry) in entries.iter().take(width).enumerate() {
            let index = n * TILE_WIDTH as u64 + i as u64;
            if policy.records {
                let record = AuditRecord::decode(entry).map_err(|e| VerifyError::Record {
                    index,
                    reason: e.to_string(),
                })?;
                on_record(index, &record);
            }
            for tile in edge.append(leaf_hash(entry)) {
                compare_tile(source, tile.level, tile.index, &tile.hashes)?;
                tiles_checked += 1;
                partials_checked +=
                    compare_partial_tiles(source, &partials, tile.level, tile.index, &tile.hashes)?;
            }
            if let Some(k) = &kept
                && edge.size() == k.size
                && edge.root() != k.root
            {
                return Err(VerifyError::Fork {
                    kept: k.size,
                    computed: hex(&edge.root()),
                    signed: hex(&k.root),
                });
            }
        }
        let here = entries.get(..width).unwrap_or(&entries);
        partials_checked += compare_partial_bundles(source, &partials, n, here)?;
        progress(edge.size(), size);
    }
    // The partial tiles of the checkpoint's tree.
    for (level, hashes) in edge.levels().iter().enumerate() {
        if hashes.is_empty() {
            continue;
        }
        let l = u8::try_from(level).unwrap_or(u8::MAX);
        let index = (size >> (u32::from(l) * TILE_HEIGHT)) / TILE_WIDTH as u64;
        compare_tile(source, l, index, hashes)?;
        tiles_checked += 1;
        partials_checked += compare_partial_tiles(source, &partials, l, index, hashes)?;
    }
    if edge.root() != cp.root {
        return Err(VerifyError::Root {
            computed: hex(&edge.root()),
            signed: hex(&cp.root),
        });
    }
    // The same consistency a second way: a proof from the published tiles, checked by tlog_tiles.
    let consistent_with = match &kept {
        Some(k) if k.size > 0 && k.size < size => {
            let tiles = PublishedTiles { source };
            let proof = Prover::new(&tiles, size).consistency(k.size)?;
            merkle::verify_consistency(&proof, size, cp.root, k.size, k.root)?;
            Some(k.size)
        }
        Some(k) => Some(k.size),
        None => None,
    };
    Ok(Report {
        checkpoint: cp,
        checkpoint_bytes: cp_bytes,
        entries: edge.size(),
        tiles: tiles_checked,
        partials: partials_checked,
        consistent_with,
    })
}

fn compare_tile(
    source: &dyn LogSource,
    level: u8,
    index: u64,
    hashes: &[Hash],
) -> Result<(), VerifyError> {
    let (path, bytes) = fetch_tiled(
        source,
        |w| tiles::tile_path(level, index, w),
        hashes.len(),
        MAX_TILE_BYTES,
    )?;
    let stored = tiles::decode_tile(&bytes).unwrap_or_default();
    if stored.get(..hashes.len()) == Some(hashes)
        && (stored.len() == hashes.len() || stored.len() == TILE_WIDTH)
    {
        return Ok(());
    }
    let first_entry = (level == 0).then(|| {
        let at = hashes
            .iter()
            .zip(stored.iter())
            .position(|(a, b)| a != b)
            .unwrap_or(stored.len().min(hashes.len()));
        index * TILE_WIDTH as u64 + at as u64
    });
    Err(VerifyError::Tile { path, first_entry })
}

/// Tiles as published, for proofs against a tree of a given size.
struct PublishedTiles<'a> {
    source: &'a dyn LogSource,
}

impl TileHashes for PublishedTiles<'_> {
    fn tile(&self, level: u8, index: u64, size: u64) -> Result<Vec<Hash>, MerkleError> {
        let width = tile_width(level, index, size);
        let err = |reason: String| MerkleError::Tile {
            level,
            index,
            reason,
        };
        if width == 0 {
            return Err(err("beyond the tree".into()));
        }
        let (_, bytes) = fetch_tiled(
            self.source,
            |w| tiles::tile_path(level, index, w),
            width,
            MAX_TILE_BYTES,
        )
        .map_err(|e| err(e.to_string()))?;
        let hashes = tiles::decode_tile(&bytes).ok_or_else(|| err("malformed".into()))?;
        hashes
            .get(..width)
            .map(<[Hash]>::to_vec)
            .ok_or_else(|| err(format!("holds {}, {width} needed", hashes.len())))
    }
}

/// A parsed C2SP tlog-proof.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// The extra data (for sluis: the audit record of the export).
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// The inclusion proof, leaf's sibling first.
    pub proof: Vec<Hash>,
    /// The checkpoint, verbatim.
    pub checkpoint: Vec<u8>,
}

/// The largest receipt accepted.
pub const MAX_RECEIPT_BYTES: usize = 256 * 1024;

/// Formats a receipt.
pub fn format_receipt(r: &Receipt) -> String {
    let mut out = String::from("c2sp.org/tlog-proof@v1\n");
    if let Some(extra) = &r.extra {
        out.push_str(&format!("extra {}\n", B64.encode(extra)));
    }
    out.push_str(&format!("index {}\n", r.index));
    for h in &r.proof {
        out.push_str(&B64.encode(h.0));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(&r.checkpoint));
    out
}

/// Parses a receipt.
pub fn parse_receipt(bytes: &[u8]) -> Result<Receipt, VerifyError> {
    let bad = |w: &str| VerifyError::Receipt(w.to_string());
    if bytes.len() > MAX_RECEIPT_BYTES {
        return Err(bad("larger than 256 KiB"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    let (head, cp) = text
        .split_once("\n\n")
        .ok_or_else(|| bad("no empty line before the checkpoint"))?;
    let mut lines = head.split('\n').peekable();
    if lines.next() != Some("c2sp.org/tlog-proof@v1") {
        return Err(bad("the first line is not c2sp.org/tlog-proof@v1"));
    }
    let extra = match lines.peek().and_then(|l| l.strip_prefix("extra ")) {
        Some(e) => {
            let v = B64
                .decode(e)
                .map_err(|_| bad("the extra line is not base64"))?;
            lines.next();
            Some(v)
        }
        None => None,
    };
    let index_text = lines
        .next()
        .and_then(|l| l.strip_prefix("index "))
        .ok_or_else(|| bad("no index line"))?;
    if index_text.is_empty()
        || (index_text.len() > 1 && index_text.starts_with('0'))
        || !index_text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad("the index is not a decimal without leading zeros"));
    }
    let index = index_text
        .parse::<u64>()
        .map_err(|_| bad("index out of range"))?;
    let mut proof = Vec::new();
    for line in lines {
        if proof.len() >= 64 {
            return Err(bad("more than 64 proof lines"));
        }
        let h = B64
            .decode(line)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| bad("a proof line is not a base64 SHA-256 hash"))?;
        proof.push(Hash(h));
    }
    Ok(Receipt {
        extra,
        index,
        proof,
        checkpoint: cp.as_bytes().to_vec(),
    })
}

/// A receipt that verified: the checkpoint, and the audit record it proves.
#[derive(Debug, Clone)]
pub struct ProvenRecord {
    /// The checkpoint.
    pub checkpoint: checkpoint::Verified,
    /// The entry's index.
    pub index: u64,
    /// The record.
    pub record: AuditRecord,
}

/// Verifies a sluis receipt: the checkpoint's signatures (and the witness quorum), then that the
/// record in `extra` is the entry at `index` of the signed tree.
pub fn verify_receipt(bytes: &[u8], policy: &Policy) -> Result<ProvenRecord, VerifyError> {
    let log = policy
        .log
        .as_ref()
        .ok_or_else(|| VerifyError::Receipt("no log key given".into()))?;
    let r = parse_receipt(bytes)?;
    let cp = checkpoint::verify(&r.checkpoint, log, &policy.witnesses)?;
    if cp.cosigners.len() < policy.quorum {
        return Err(VerifyError::Quorum {
            found: cp.cosigners.len(),
            required: policy.quorum,
            names: cp.cosigners.join(", "),
        });
    }
    let entry = r.extra.ok_or_else(|| {
        VerifyError::Receipt("no extra line: the receipt does not carry its audit record".into())
    })?;
    merkle::verify_inclusion(&r.proof, cp.size, cp.root, r.index, leaf_hash(&entry))?;
    let record = AuditRecord::decode(&entry).map_err(|e| VerifyError::Record {
        index: r.index,
        reason: e.to_string(),
    })?;
    Ok(ProvenRecord {
        checkpoint: cp,
        index: r.index,
        record,
    })
}
