//! The wire codec: one UDP datagram is one record. Sans-I/O: bytes in, a typed [`Record`] or a
//! [`WireError`] out, and back. Every length is checked against the bytes that remain before it
//! is used; nothing is allocated from a length the datagram declares.
//!
//! Every datagram starts with the same 24-byte header and ends with a CRC-32 (IEEE) of all the
//! bytes before it (all integers big endian):
//!
//! ```text
//!  0      2     3      4            8                        16                       24
//!  +------+-----+------+------------+------------------------+------------------------+
//!  | "SL" | ver | kind | epoch u32  | sequence u64           | object id u64          |
//!  +------+-----+------+------------+------------------------+------------------------+
//!  | body (by kind, below)                                           | CRC-32 u32          |
//!  +-----------------------------------------------------------------+---------------------+
//! ```
//!
//! The CRC turns accidental corruption (a bad NIC, a relay) into loss, which the FEC repairs;
//! it is no defence against forgery, which the signatures are. `ver` is [`VERSION`]. `epoch` numbers the edge's runs: it only ever grows (the edge keeps the last one in its spool, and a run takes the larger of that plus one and the Unix time in seconds; the core keeps the newest it has heard in its ledger), so that a signed record from an earlier run is known for a replay. `sequence` counts
//! the datagrams of that epoch (so the core can measure datagram loss), and `object id` is the
//! spool's id of the object the record belongs to (0 for heartbeats and manifests). The body
//! depends on `kind`:
//!
//! ```text
//!  Start     (1)  length u64 | symbols per block u16 | symbol size u16 | repair per block u32
//!                 | meta length u16 | meta | signature (64) over start_message(...)
//!  Data      (2)  length u64 | block u32 | symbol id u32 | symbols per block u16
//!                 | symbol size u16 | symbol (exactly `symbol size` bytes)
//!  End       (3)  length u64 | BLAKE3 of the object (32) | meta length u16 | meta
//!                 | Ed25519 signature (64) over object_message(...)
//!  Abort     (4)  reason u8 | signature (64) over abort_message(...)
//!  Heartbeat (5)  unix ms u64 | next object id u64 | spool depth u64 | interval ms u32
//!                 | signature (64) over the header's epoch and this body
//!  Manifest  (6)  count u16 | count x (object id u64, length u64)
//!                 | signature (64) over the header's epoch and this body
//! ```
//!
//! An object is cut into blocks of `symbols per block` x `symbol size` bytes (the last block may
//! be shorter and is zero-padded to whole symbols); each block is one RaptorQ source block
//! (RFC 6330). Symbol ids below the block's symbol count are source symbols, the rest repair
//! symbols. The object's meta is the edge's description of where it came from (a small UTF-8
//! JSON text); the core treats it as untrusted text.
//!
//! What is signed, always with the epoch: an object's identity and cut (in Start), its length,
//! digest and meta (in End), aborts, heartbeats and manifests. Data datagrams are not signed one by one (that would cost a signature per
//! datagram); a forged or altered symbol makes the block decode to bytes whose digest does not
//! match the signed one, so the object is rejected, never delivered altered.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

/// The wire format's version byte.
pub const VERSION: u8 = 2;
/// The first two bytes of every datagram.
pub const MAGIC: [u8; 2] = *b"SL";
/// Bytes in the common header.
pub const HEADER_LEN: usize = 24;
/// Bytes of a Data record before its symbol.
pub const DATA_HEADER_LEN: usize = HEADER_LEN + 20;
/// Bytes of the CRC trailer.
pub const TRAILER_LEN: usize = 4;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// The most bytes of meta an object may carry.
pub const MAX_META: usize = 1024;
/// The most entries in one manifest (so that it fits a 1500-byte MTU).
pub const MAX_MANIFEST: usize = 64;
/// RaptorQ's largest encoding symbol id (24 bits).
pub const MAX_SYMBOL_ID: u32 = (1 << 24) - 1;

/// The record kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// An object begins.
    Start = 1,
    /// One encoding symbol of one block.
    Data = 2,
    /// An object ends: digest, meta, signature.
    End = 3,
    /// The edge gave up sending an object.
    Abort = 4,
    /// The edge is alive.
    Heartbeat = 5,
    /// The objects the edge sent recently.
    Manifest = 6,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Start,
            2 => Kind::Data,
            3 => Kind::End,
            4 => Kind::Abort,
            5 => Kind::Heartbeat,
            6 => Kind::Manifest,
            _ => return None,
        })
    }
}

/// The common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The record kind.
    pub kind: Kind,
    /// The edge's run.
    pub epoch: u32,
    /// The datagram's number in its epoch.
    pub seq: u64,
    /// The object (0 for heartbeats and manifests).
    pub object: u64,
}

/// How an object is cut into blocks and symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The object's length in bytes.
    pub length: u64,
    /// Source symbols in every block but perhaps the last.
    pub symbols_per_block: u16,
    /// Bytes per symbol.
    pub symbol_size: u16,
}

impl Shape {
    /// Bytes in a full block.
    pub fn block_bytes(&self) -> u64 {
        u64::from(self.symbols_per_block).saturating_mul(u64::from(self.symbol_size))
    }

    /// Number of blocks (0 for an empty object).
    pub fn blocks(&self) -> u64 {
        let b = self.block_bytes();
        if b == 0 {
            return 0;
        }
        self.length.div_ceil(b)
    }

    /// The byte range of block `block` in the object, or `None` past the end.
    pub fn block_range(&self, block: u64) -> Option<(u64, u64)> {
        let b = self.block_bytes();
        let start = block.checked_mul(b)?;
        if start >= self.length {
            return None;
        }
        let end = start.saturating_add(b).min(self.length);
        Some((start, end))
    }

    /// Source symbols in block `block`.
    pub fn block_symbols(&self, block: u64) -> Option<u32> {
        let (start, end) = self.block_range(block)?;
        let n = (end.saturating_sub(start)).div_ceil(u64::from(self.symbol_size.max(1)));
        u32::try_from(n).ok()
    }
}

/// One decoded datagram. Borrowed slices point into the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// An object begins.
    Start {
        /// Its length and cut.
        shape: Shape,
        /// Repair symbols the edge sends per block.
        repair: u32,
        /// Where it came from (untrusted text).
        meta: &'a [u8],
        /// The edge's signature over [`start_message`].
        signature: [u8; SIGNATURE_LEN],
    },
    /// One symbol.
    Data {
        /// The object's length and cut.
        shape: Shape,
        /// The block.
        block: u32,
        /// The symbol's id in its block.
        symbol_id: u32,
        /// The symbol (exactly `shape.symbol_size` bytes).
        symbol: &'a [u8],
    },
    /// An object ends.
    End {
        /// Its length.
        length: u64,
        /// BLAKE3 of its bytes ([`object_digest`]).
        digest: [u8; 32],
        /// Where it came from.
        meta: &'a [u8],
        /// The edge's signature over [`object_message`].
        signature: [u8; SIGNATURE_LEN],
    },
    /// The edge gave up an object.
    Abort {
        /// Why (see [`AbortReason`]).
        reason: u8,
        /// The edge's signature over [`abort_message`].
        signature: [u8; SIGNATURE_LEN],
    },
    /// The edge is alive.
    Heartbeat {
        /// The body that was signed (everything between the header and the signature).
        signed: &'a [u8],
        /// The edge's clock, unix milliseconds.
        unix_ms: u64,
        /// Every object id below this one has been sent at least once.
        next_object: u64,
        /// Objects in the spool.
        spool_depth: u64,
        /// The interval the edge promises between heartbeats.
        interval_ms: u32,
        /// The signature.
        signature: [u8; SIGNATURE_LEN],
    },
    /// Objects sent recently.
    Manifest {
        /// The body that was signed.
        signed: &'a [u8],
        /// `(object id, length)` pairs, 16 bytes each.
        entries: &'a [u8],
        /// The signature.
        signature: [u8; SIGNATURE_LEN],
    },
}

/// Why the edge aborted an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AbortReason {
    /// The spooled file could not be read.
    Unreadable = 1,
    /// The edge is shutting down; the object will be sent again.
    Shutdown = 2,
}

/// Why a datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Fewer bytes than a header and trailer.
    #[error("datagram of {0} bytes is shorter than the header and trailer")]
    Short(usize),
    /// The CRC does not match: damaged in transit.
    #[error("CRC mismatch")]
    Crc,
    /// Not ours.
    #[error("bad magic")]
    Magic,
    /// Another version.
    #[error("unsupported version {0}")]
    Version(u8),
    /// Unknown kind.
    #[error("unknown record kind {0}")]
    Kind(u8),
    /// The body is shorter than its fields.
    #[error("{0} record truncated")]
    Truncated(&'static str),
    /// Bytes after the record.
    #[error("{0} record has {1} trailing bytes")]
    Trailing(&'static str, usize),
    /// A field is out of range.
    #[error("{0}")]
    Field(&'static str),
}

/// A cursor over a datagram; every read is checked.
struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Truncated(self.what));
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(u8::from_be_bytes(self.array()?))
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn done(&self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing(self.what, self.rest.len()))
        }
    }
    fn shape(&mut self, length: u64) -> Result<Shape, WireError> {
        let symbols_per_block = self.u16()?;
        let symbol_size = self.u16()?;
        if symbols_per_block == 0 {
            return Err(WireError::Field("zero symbols per block"));
        }
        if symbol_size == 0 {
            return Err(WireError::Field("zero symbol size"));
        }
        Ok(Shape {
            length,
            symbols_per_block,
            symbol_size,
        })
    }
}

/// Decodes one datagram.
pub fn decode(datagram: &[u8]) -> Result<(Header, Record<'_>), WireError> {
    let Some((sealed, crc)) = datagram.split_last_chunk::<TRAILER_LEN>() else {
        return Err(WireError::Short(datagram.len()));
    };
    let Some((head, body)) = sealed.split_first_chunk::<HEADER_LEN>() else {
        return Err(WireError::Short(datagram.len()));
    };
    if crc32fast::hash(sealed) != u32::from_be_bytes(*crc) {
        return Err(WireError::Crc);
    }
    let mut h = Reader {
        rest: head,
        what: "header",
    };
    if h.array::<2>()? != MAGIC {
        return Err(WireError::Magic);
    }
    let version = h.u8()?;
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let kind_byte = h.u8()?;
    let kind = Kind::from_u8(kind_byte).ok_or(WireError::Kind(kind_byte))?;
    let header = Header {
        kind,
        epoch: h.u32()?,
        seq: h.u64()?,
        object: h.u64()?,
    };
    let what = match kind {
        Kind::Start => "start",
        Kind::Data => "data",
        Kind::End => "end",
        Kind::Abort => "abort",
        Kind::Heartbeat => "heartbeat",
        Kind::Manifest => "manifest",
    };
    let mut r = Reader { rest: body, what };
    let record = match kind {
        Kind::Start => {
            let length = r.u64()?;
            let shape = r.shape(length)?;
            let repair = r.u32()?;
            let meta_len = usize::from(r.u16()?);
            if meta_len > MAX_META {
                return Err(WireError::Field("meta longer than 1024 bytes"));
            }
            let meta = r.take(meta_len)?;
            let signature = r.array::<SIGNATURE_LEN>()?;
            r.done()?;
            Record::Start {
                shape,
                repair,
                meta,
                signature,
            }
        }
        Kind::Data => {
            let length = r.u64()?;
            let block = r.u32()?;
            let symbol_id = r.u32()?;
            let shape = r.shape(length)?;
            if symbol_id > MAX_SYMBOL_ID {
                return Err(WireError::Field("symbol id past 24 bits"));
            }
            if shape.block_range(u64::from(block)).is_none() {
                return Err(WireError::Field("block past the object's end"));
            }
            let symbol = r.take(usize::from(shape.symbol_size))?;
            r.done()?;
            Record::Data {
                shape,
                block,
                symbol_id,
                symbol,
            }
        }
        Kind::End => {
            let length = r.u64()?;
            let digest = r.array::<32>()?;
            let meta_len = usize::from(r.u16()?);
            if meta_len > MAX_META {
                return Err(WireError::Field("meta longer than 1024 bytes"));
            }
            let meta = r.take(meta_len)?;
            let signature = r.array::<SIGNATURE_LEN>()?;
            r.done()?;
            Record::End {
                length,
                digest,
                meta,
                signature,
            }
        }
        Kind::Abort => {
            let reason = r.u8()?;
            let signature = r.array::<SIGNATURE_LEN>()?;
            r.done()?;
            Record::Abort { reason, signature }
        }
        Kind::Heartbeat => {
            let signed = body
                .get(..body.len().saturating_sub(SIGNATURE_LEN))
                .unwrap_or_default();
            let unix_ms = r.u64()?;
            let next_object = r.u64()?;
            let spool_depth = r.u64()?;
            let interval_ms = r.u32()?;
            let signature = r.array::<SIGNATURE_LEN>()?;
            r.done()?;
            Record::Heartbeat {
                signed,
                unix_ms,
                next_object,
                spool_depth,
                interval_ms,
                signature,
            }
        }
        Kind::Manifest => {
            let signed = body
                .get(..body.len().saturating_sub(SIGNATURE_LEN))
                .unwrap_or_default();
            let count = usize::from(r.u16()?);
            if count > MAX_MANIFEST {
                return Err(WireError::Field("manifest of more than 64 entries"));
            }
            let entries = r.take(count.saturating_mul(16))?;
            let signature = r.array::<SIGNATURE_LEN>()?;
            r.done()?;
            Record::Manifest {
                signed,
                entries,
                signature,
            }
        }
    };
    Ok((header, record))
}

/// The `(object id, length)` pairs of a manifest's entries.
pub fn manifest_entries(entries: &[u8]) -> impl Iterator<Item = (u64, u64)> + '_ {
    entries.chunks_exact(16).map(|c| {
        let (id, len) = c.split_at(8);
        (
            u64::from_be_bytes(id.try_into().unwrap_or_default()),
            u64::from_be_bytes(len.try_into().unwrap_or_default()),
        )
    })
}

/// An object's digest as End carries it: BLAKE3 (fast enough to hash every object on both
/// ends at link rate; SHA-256 took about a fifth of the link's CPU).
pub fn object_digest(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// What End signs: domain, the edge run's epoch, object id, length, digest, meta. The epoch is
/// signed so that an End captured from an earlier run is known for a replay.
pub fn object_message(
    epoch: u32,
    object: u64,
    length: u64,
    digest: &[u8; 32],
    meta: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(68usize.saturating_add(meta.len()));
    m.extend_from_slice(b"sluis-link/v2 object\n");
    m.extend_from_slice(&epoch.to_be_bytes());
    m.extend_from_slice(&object.to_be_bytes());
    m.extend_from_slice(&length.to_be_bytes());
    m.extend_from_slice(digest);
    m.extend_from_slice(meta);
    m
}

/// What Start signs: domain, the edge run's epoch, object id, cut, repair, meta.
pub fn start_message(epoch: u32, object: u64, shape: &Shape, repair: u32, meta: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(68usize.saturating_add(meta.len()));
    m.extend_from_slice(b"sluis-link/v2 start\n");
    m.extend_from_slice(&epoch.to_be_bytes());
    m.extend_from_slice(&object.to_be_bytes());
    m.extend_from_slice(&shape.length.to_be_bytes());
    m.extend_from_slice(&shape.symbols_per_block.to_be_bytes());
    m.extend_from_slice(&shape.symbol_size.to_be_bytes());
    m.extend_from_slice(&repair.to_be_bytes());
    m.extend_from_slice(meta);
    m
}

/// Appends the CRC trailer; every encoder ends with this.
pub fn seal(out: &mut Vec<u8>) {
    let crc = crc32fast::hash(out);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// What Abort signs.
pub fn abort_message(epoch: u32, object: u64, reason: u8) -> Vec<u8> {
    let mut m = Vec::with_capacity(40);
    m.extend_from_slice(b"sluis-link/v2 abort\n");
    m.extend_from_slice(&epoch.to_be_bytes());
    m.extend_from_slice(&object.to_be_bytes());
    m.push(reason);
    m
}

/// What heartbeats and manifests sign: the domain, the epoch and the body.
pub fn status_message(kind: Kind, epoch: u32, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(32usize.saturating_add(body.len()));
    m.extend_from_slice(b"sluis-link/v2 status\n");
    m.push(kind as u8);
    m.extend_from_slice(&epoch.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// Writes the common header.
pub fn put_header(out: &mut Vec<u8>, h: &Header) {
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(h.kind as u8);
    out.extend_from_slice(&h.epoch.to_be_bytes());
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(&h.object.to_be_bytes());
}

/// Writes a Data record's fixed fields (the symbol follows, then [`seal`]).
pub fn put_data_header(out: &mut Vec<u8>, h: &Header, shape: &Shape, block: u32, symbol_id: u32) {
    put_header(out, h);
    out.extend_from_slice(&shape.length.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(&symbol_id.to_be_bytes());
    out.extend_from_slice(&shape.symbols_per_block.to_be_bytes());
    out.extend_from_slice(&shape.symbol_size.to_be_bytes());
}

/// Encodes a Start record (the meta must be at most [`MAX_META`] bytes, as it was signed).
pub fn encode_start(
    h: &Header,
    shape: &Shape,
    repair: u32,
    meta: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN.saturating_add(18).saturating_add(meta.len()));
    put_header(&mut out, h);
    out.extend_from_slice(&shape.length.to_be_bytes());
    out.extend_from_slice(&shape.symbols_per_block.to_be_bytes());
    out.extend_from_slice(&shape.symbol_size.to_be_bytes());
    out.extend_from_slice(&repair.to_be_bytes());
    put_meta(&mut out, meta);
    out.extend_from_slice(signature);
    seal(&mut out);
    out
}

fn put_meta(out: &mut Vec<u8>, meta: &[u8]) {
    let meta = meta.get(..MAX_META).unwrap_or(meta);
    out.extend_from_slice(&u16::try_from(meta.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(meta);
}

/// Encodes an End record (the meta must be at most [`MAX_META`] bytes, as it was signed).
pub fn encode_end(
    h: &Header,
    length: u64,
    digest: &[u8; 32],
    meta: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(200usize.saturating_add(meta.len()));
    put_header(&mut out, h);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(digest);
    put_meta(&mut out, meta);
    out.extend_from_slice(signature);
    seal(&mut out);
    out
}

/// Encodes an Abort record.
pub fn encode_abort(h: &Header, reason: u8, signature: &[u8; SIGNATURE_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN.saturating_add(65));
    put_header(&mut out, h);
    out.push(reason);
    out.extend_from_slice(signature);
    seal(&mut out);
    out
}

/// The signed body of a heartbeat.
pub fn heartbeat_body(
    unix_ms: u64,
    next_object: u64,
    spool_depth: u64,
    interval_ms: u32,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(28);
    b.extend_from_slice(&unix_ms.to_be_bytes());
    b.extend_from_slice(&next_object.to_be_bytes());
    b.extend_from_slice(&spool_depth.to_be_bytes());
    b.extend_from_slice(&interval_ms.to_be_bytes());
    b
}

/// The signed body of a manifest (at most [`MAX_MANIFEST`] entries are taken).
pub fn manifest_body(entries: &[(u64, u64)]) -> Vec<u8> {
    let entries = entries.get(..MAX_MANIFEST).unwrap_or(entries);
    let mut b = Vec::with_capacity(entries.len().saturating_mul(16).saturating_add(2));
    b.extend_from_slice(&u16::try_from(entries.len()).unwrap_or(0).to_be_bytes());
    for (id, len) in entries {
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
    }
    b
}

/// Encodes a heartbeat or manifest: header, signed body, signature.
pub fn encode_status(h: &Header, body: &[u8], signature: &[u8; SIGNATURE_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN.saturating_add(body.len()).saturating_add(64));
    put_header(&mut out, h);
    out.extend_from_slice(body);
    out.extend_from_slice(signature);
    seal(&mut out);
    out
}
