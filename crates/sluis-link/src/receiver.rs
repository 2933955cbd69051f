//! The receiving half, sans-I/O: datagrams and clock ticks in, [`Event`]s out. This is the
//! core's hostile-input parser for the link: every datagram may be forged, truncated, replayed
//! or random.
//!
//! What it guarantees:
//!
//! * It never panics and never allocates by a length a datagram declares: a session is opened
//!   only for a shape within [`ReceiverLimits`], symbols are held only within the byte budget, and
//!   the number of sessions and of blocks in flight per session is capped.
//! * A session no signed record has vouched for (opened by an unsigned data datagram) holds
//!   nothing genuine traffic needs: such sessions are counted and budgeted apart
//!   ([`ReceiverLimits::max_unverified_sessions`], [`ReceiverLimits::max_unverified_bytes`]),
//!   evicted first, and write nothing to disk; their decoded blocks wait in memory until a signed
//!   Start or End arrives. Bytes on disk count against [`ReceiverLimits::max_disk_bytes`] from
//!   the moment an object's file is made until its owner confirms it safe.
//! * Edge runs are numbered by an epoch that only grows; the newest one heard is kept in the
//!   [`Ledger`]. A signed record from an older run, or a heartbeat no newer than the last, is a
//!   replay: counted, reported ([`Event::Replayed`], aggregated), and never taken as a sign of
//!   life.
//! * Decoded blocks go to a [`Workspace`] (a temporary file in production); an object is handed
//!   out as a [`VerifiedObject`] only after its bytes hash to the digest in an End record whose
//!   Ed25519 signature verifies under the edge's key. Nothing else constructs one.
//! * Nothing is lost silently: signed heartbeats and manifests tell which object ids the edge
//!   has sent; an id that was sent and is neither delivered nor in progress after the grace
//!   period is reported [`Event::Lost`] by id, as is a session that stalls. The [`Ledger`] keeps
//!   what was delivered and lost, so that a replay of a lost object is delivered (and reported
//!   as recovered) and a replay of a delivered one is dropped as a duplicate.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use raptorq::{EncodingPacket, ObjectTransmissionInformation, PayloadId, SourceBlockDecoder};
use serde::{Deserialize, Serialize};

use crate::keys::EdgeVerifier;
use crate::metrics::ReceiverMetrics;
use crate::wire::{self, AbortReason, Header, Kind, Record, Shape};

/// The most blocks an object may be cut into (bounds the per-session block bitmap to 8 KiB).
pub const MAX_BLOCKS: u64 = 1 << 16;

/// Replays are reported at most this often (with the count since the last report), so that a
/// flood of captured records cannot flood the events and the transparency log.
pub const REPLAY_REPORT_EVERY: Duration = Duration::from_secs(60);

/// The receiver's bounds. Defaults suit scans of up to 1 GiB on a host with a few GiB of RAM.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverLimits {
    /// Largest object accepted, in bytes.
    pub max_object_bytes: u64,
    /// Objects being reassembled at once.
    pub max_sessions: usize,
    /// Bytes of symbols held in memory across all sessions.
    pub max_buffer_bytes: u64,
    /// Undecoded blocks per session.
    pub max_blocks_in_flight: usize,
    /// Largest symbol accepted.
    pub max_symbol_size: u16,
    /// Largest block accepted, in source symbols.
    pub max_symbols_per_block: u16,
    /// How far above the edge's signed high-water mark a new object id may be.
    pub id_window: u64,
    /// A session with no datagram for this long is given up (reported lost if it was real).
    #[serde(with = "humantime_serde_ms")]
    pub session_timeout: Duration,
    /// How long after the edge says it sent an object the object must have arrived.
    #[serde(with = "humantime_serde_ms")]
    pub loss_grace: Duration,
    /// No verified heartbeat for this long raises [`Event::HeartbeatMissed`].
    #[serde(with = "humantime_serde_ms")]
    pub heartbeat_tolerance: Duration,
    /// Sessions at most that no signed record vouched for (apart from `max_sessions`; the
    /// least recently used is given up for a new one).
    pub max_unverified_sessions: usize,
    /// Bytes of symbols and decoded blocks at most held for unverified sessions (part of
    /// `max_buffer_bytes`).
    pub max_unverified_bytes: u64,
    /// Bytes at most in the reassembly directory: objects being written (counted at their full
    /// length when their file is made) and verified objects not yet confirmed safe.
    pub max_disk_bytes: u64,
}

/// Durations in the configuration as integer milliseconds.
mod humantime_serde_ms {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

impl Default for ReceiverLimits {
    fn default() -> Self {
        ReceiverLimits {
            max_object_bytes: 1 << 30,
            max_sessions: 32,
            max_buffer_bytes: 256 << 20,
            max_blocks_in_flight: 16,
            max_symbol_size: 9000,
            max_symbols_per_block: 8192,
            id_window: 100_000,
            session_timeout: Duration::from_secs(10),
            loss_grace: Duration::from_secs(15),
            heartbeat_tolerance: Duration::from_secs(5),
            max_unverified_sessions: 8,
            max_unverified_bytes: 32 << 20,
            max_disk_bytes: 4 << 30,
        }
    }
}

/// Where objects are reassembled. A production workspace is a directory of temporary files
/// renamed into place on commit; tests and fuzzing use memory.
pub trait Workspace {
    /// One object being reassembled.
    type Part;
    /// Where a committed object lies.
    type Committed: std::fmt::Debug;
    /// Starts an object of `length` bytes.
    fn create(&mut self, object: u64, length: u64) -> std::io::Result<Self::Part>;
    /// Writes bytes at an offset.
    fn write_at(&mut self, part: &mut Self::Part, offset: u64, bytes: &[u8])
    -> std::io::Result<()>;
    /// Reads bytes back (for hashing blocks decoded out of order).
    fn read_at(
        &mut self,
        part: &mut Self::Part,
        offset: u64,
        buf: &mut [u8],
    ) -> std::io::Result<()>;
    /// Makes a verified object durable and visible.
    fn commit(
        &mut self,
        part: Self::Part,
        object: u64,
        digest: &[u8; 32],
    ) -> std::io::Result<Self::Committed>;
    /// Throws a part away.
    fn discard(&mut self, part: Self::Part);
}

/// An object whose digest and signature verified. Only the receiver makes one.
#[derive(Debug)]
pub struct VerifiedObject<L> {
    id: u64,
    length: u64,
    digest: [u8; 32],
    meta: String,
    location: L,
    recovered: bool,
}

impl<L> VerifiedObject<L> {
    /// The edge's object id.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Its length.
    pub fn length(&self) -> u64 {
        self.length
    }
    /// Its BLAKE3 digest ([`crate::wire::object_digest`]), as signed by the edge.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
    /// The edge's description of its origin (signed, but written by the untrusted side).
    pub fn meta(&self) -> &str {
        &self.meta
    }
    /// Where it lies.
    pub fn location(&self) -> &L {
        &self.location
    }
    /// Whether it had been reported lost before (a replay filled the gap).
    pub fn recovered(&self) -> bool {
        self.recovered
    }
}

/// An object that did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostObject {
    /// Its id.
    pub id: u64,
    /// Its length, if any record told.
    pub length: Option<u64>,
    /// What went wrong.
    pub reason: String,
}

/// What the receiver tells its owner.
#[derive(Debug)]
pub enum Event<L> {
    /// An object arrived intact.
    Delivered(VerifiedObject<L>),
    /// An object the edge sent did not arrive (or stalled); replay it.
    Lost(LostObject),
    /// A signed End was seen but the bytes did not match it: damage or forgery.
    Rejected {
        /// The object.
        id: u64,
        /// Why.
        reason: RejectReason,
    },
    /// The edge aborted an object (signed).
    Aborted {
        /// The object.
        id: u64,
        /// The edge's reason code.
        reason: u8,
    },
    /// No verified heartbeat within the tolerance: link cut or edge down.
    HeartbeatMissed {
        /// Since when nothing was heard (time of the last heartbeat, or of the start).
        silent_for: Duration,
    },
    /// Heartbeats are back.
    HeartbeatResumed,
    /// A new edge run: a verified heartbeat from an epoch newer than any heard before.
    EdgeRestarted {
        /// The newest epoch heard before (0 on a new link).
        previous: u32,
        /// The new epoch.
        epoch: u32,
    },
    /// Signed records were replayed: heartbeats no newer than the last one, or records from an
    /// edge run older than the newest heard (captured and sent again, or a stale edge). Reported
    /// at once, then at most once a minute with the count since the last report.
    Replayed {
        /// How many since the last report.
        count: u64,
        /// The epoch of the last one.
        epoch: u32,
        /// The newest epoch heard.
        current: u32,
    },
    /// The workspace failed (disk full, permissions): the object could not be kept.
    StorageFailed {
        /// The object.
        id: u64,
        /// The workspace's error, with its kind.
        error: std::io::Error,
    },
}

/// Why a signed object was rejected: both are the edge's signed word against the bytes that
/// arrived, so each means damage in transit, forgery, or a broken edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The signed start and the signed end give different lengths: the edge is broken or its
    /// key is misused.
    #[error("signed start says {start} bytes, signed end says {end}")]
    LengthsDisagree {
        /// The length in the signed start.
        start: u64,
        /// The length in the signed end.
        end: u64,
    },
    /// The reassembled bytes do not hash to the signed digest.
    #[error(
        "the reassembled bytes do not match the signed digest (corrupted or injected datagrams)"
    )]
    DigestMismatch,
}

impl RejectReason {
    /// A stable code for logs and events.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::LengthsDisagree { .. } => "lengths-disagree",
            RejectReason::DigestMismatch => "digest-mismatch",
        }
    }
}

/// What has been delivered and lost, kept across restarts by the owner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Every id below this is resolved (delivered, or in `lost`).
    pub floor: u64,
    /// Delivered ids at or above the floor.
    pub delivered: BTreeSet<u64>,
    /// Ids reported lost and not since recovered.
    pub lost: BTreeMap<u64, LostObject>,
    /// The highest id the edge has said (signed) that it sent, plus one.
    pub sent_below: u64,
    /// Delivered ids whose owner has not yet confirmed that they are safe (in the vault). After
    /// a crash the owner checks each: an object no longer intact is [`Ledger::lose`]-ed, so
    /// that it is reported and a replay is accepted. Reassembled objects therefore need no
    /// fsync of their own.
    #[serde(default)]
    pub pending: BTreeSet<u64>,
    /// The newest edge run heard (its epoch; 0 before any). Signed records from older runs are
    /// replays.
    #[serde(default)]
    pub epoch: u32,
    /// The time in the newest heartbeat of that run (Unix ms): a heartbeat no newer is a replay.
    #[serde(default)]
    pub heartbeat_ms: u64,
}

impl Ledger {
    /// A ledger for a new link: the edge's ids start at 1.
    pub fn new() -> Ledger {
        Ledger {
            floor: 1,
            ..Ledger::default()
        }
    }

    fn is_delivered(&self, id: u64) -> bool {
        (id < self.floor && !self.lost.contains_key(&id)) || self.delivered.contains(&id)
    }

    fn is_resolved(&self, id: u64) -> bool {
        id < self.floor || self.delivered.contains(&id) || self.lost.contains_key(&id)
    }

    fn advance(&mut self) {
        while self.delivered.remove(&self.floor) || self.lost.contains_key(&self.floor) {
            self.floor = self.floor.saturating_add(1);
        }
    }

    fn deliver(&mut self, id: u64) -> bool {
        self.pending.insert(id);
        let recovered = self.lost.remove(&id).is_some();
        if id >= self.floor {
            self.delivered.insert(id);
        }
        self.advance();
        recovered
    }

    /// Marks an object lost (also one delivered earlier that the owner could not keep).
    pub fn lose(&mut self, lost: LostObject) {
        self.pending.remove(&lost.id);
        self.delivered.remove(&lost.id);
        self.lost.insert(lost.id, lost);
        self.advance();
    }

    /// The owner has the object safe.
    pub fn confirm(&mut self, id: u64) -> bool {
        self.pending.remove(&id)
    }
}

/// One block being collected. Source symbols are copied straight to their place in the block,
/// so that a block whose source symbols all arrive (the rule on a clean link) is whole without
/// RaptorQ; only when some are missing are the others and the repair symbols handed to the
/// decoder.
struct BlockState {
    /// A bit per symbol id seen (source and repair).
    seen: Vec<u64>,
    /// The block's source symbols, each at `id * symbol size` (`k * symbol size` bytes,
    /// accounted in full against the buffer budget when the block starts).
    source_bytes: Vec<u8>,
    /// Repair symbols, kept until the block is whole or decoded.
    repairs: Vec<EncodingPacket>,
    source: u32,
    decoder: Option<SourceBlockDecoder>,
    bytes: u64,
}

impl BlockState {
    /// Whether `id` was seen already; marks it.
    fn seen_before(&mut self, id: u32) -> bool {
        let (w, b) = ((id / 64) as usize, id % 64);
        if self.seen.len() <= w {
            self.seen.resize(w + 1, 0);
        }
        let Some(word) = self.seen.get_mut(w) else {
            return true;
        };
        let before = *word & (1 << b) != 0;
        *word |= 1 << b;
        before
    }
    fn has(&self, id: u32) -> bool {
        self.seen
            .get((id / 64) as usize)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }
}

/// One object being reassembled.
struct Session<P> {
    shape: Option<Shape>,
    meta: Vec<u8>,
    part: Option<P>,
    blocks: BTreeMap<u32, BlockState>,
    /// Bit per block: decoded and written.
    done: Vec<u64>,
    done_count: u64,
    hashed: u64,
    hasher: blake3::Hasher,
    end: Option<(u64, [u8; 32], Vec<u8>)>,
    /// Whether the cut came from a signed Start.
    signed_shape: bool,
    /// Whether a signed Start or End vouched for it: until then it holds no disk and is
    /// budgeted apart.
    verified: bool,
    /// Decoded blocks not yet written (the session is unverified, or the disk budget was full).
    held: Vec<(u32, Vec<u8>)>,
    /// Bytes of the reassembly directory this session's file takes.
    disk: u64,
    last: Instant,
    buffered: u64,
}

impl<P> Session<P> {
    fn new(now: Instant) -> Self {
        Session {
            shape: None,
            meta: Vec::new(),
            part: None,
            blocks: BTreeMap::new(),
            done: Vec::new(),
            done_count: 0,
            hashed: 0,
            hasher: blake3::Hasher::new(),
            end: None,
            signed_shape: false,
            verified: false,
            held: Vec::new(),
            disk: 0,
            last: now,
            buffered: 0,
        }
    }
    fn is_done(&self, block: u64) -> bool {
        let (w, b) = (block / 64, block % 64);
        self.done
            .get(usize::try_from(w).unwrap_or(usize::MAX))
            .is_some_and(|x| x & (1 << b) != 0)
    }
    fn set_done(&mut self, block: u64) {
        let (w, b) = (block / 64, block % 64);
        if let Some(x) = self.done.get_mut(usize::try_from(w).unwrap_or(usize::MAX)) {
            *x |= 1 << b;
        }
    }
    fn length(&self) -> Option<u64> {
        self.shape
            .map(|s| s.length)
            .or(self.end.as_ref().map(|e| e.0))
    }
}

/// The link receiver. Feed it datagrams with [`Receiver::handle`] and the clock with
/// [`Receiver::tick`]; take what happened with [`Receiver::poll_event`].
pub struct Receiver<W: Workspace> {
    limits: ReceiverLimits,
    verifier: EdgeVerifier,
    workspace: W,
    metrics: ReceiverMetrics,
    ledger: Ledger,
    sessions: BTreeMap<u64, Session<W::Part>>,
    buffered: u64,
    events: VecDeque<Event<W::Committed>>,
    /// `(sent_below, when the edge said so)`, oldest first.
    claims: VecDeque<(u64, Instant)>,
    /// Lengths the manifests told, for loss reports.
    lengths: BTreeMap<u64, u64>,
    /// Bytes of the reassembly directory taken: open files and verified objects not confirmed.
    disk: u64,
    /// Verified objects on disk, not yet confirmed safe, and their sizes.
    committed: BTreeMap<u64, u64>,
    /// Replays not yet reported, the epoch of the last one, and when the last report went out.
    replays: (u64, u32, Option<Instant>),
    last_heard: Instant,
    silent: bool,
    ledger_dirty: bool,
}

impl<W: Workspace> std::fmt::Debug for Receiver<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("sessions", &self.sessions.len())
            .field("buffered", &self.buffered)
            .field("ledger_floor", &self.ledger.floor)
            .finish_non_exhaustive()
    }
}

impl<W: Workspace> Receiver<W> {
    /// A receiver that trusts objects signed by `verifier`, resuming from `ledger`.
    pub fn new(
        limits: ReceiverLimits,
        verifier: EdgeVerifier,
        workspace: W,
        ledger: Ledger,
        metrics: ReceiverMetrics,
        now: Instant,
    ) -> Self {
        metrics.edge_epoch.set(i64::from(ledger.epoch));
        Receiver {
            limits,
            verifier,
            workspace,
            metrics,
            ledger,
            sessions: BTreeMap::new(),
            buffered: 0,
            events: VecDeque::new(),
            claims: VecDeque::new(),
            lengths: BTreeMap::new(),
            disk: 0,
            committed: BTreeMap::new(),
            replays: (0, 0, None),
            last_heard: now,
            silent: false,
            ledger_dirty: false,
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event<W::Committed>> {
        self.events.pop_front()
    }

    /// The ledger (persist it when [`Receiver::take_ledger_dirty`] says it changed).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The owner has a delivered object safe: it leaves [`Ledger::pending`], and its file no
    /// longer counts against the disk budget.
    pub fn confirm(&mut self, id: u64) {
        if self.ledger.confirm(id) {
            self.ledger_dirty = true;
        }
        if let Some(n) = self.committed.remove(&id) {
            self.disk = self.disk.saturating_sub(n);
            self.write_held();
        }
    }

    /// Counts a verified object an earlier run left in the reassembly directory (pending in
    /// the ledger) against the disk budget until it is confirmed.
    pub fn committed_on_disk(&mut self, id: u64, length: u64) {
        if self.committed.insert(id, length).is_none() {
            self.disk = self.disk.saturating_add(length);
        }
    }

    /// Bytes of the reassembly directory taken now.
    pub fn disk_bytes(&self) -> u64 {
        self.disk
    }

    /// Sessions open now that no signed record has vouched for.
    pub fn unverified_sessions(&self) -> usize {
        self.sessions.values().filter(|s| !s.verified).count()
    }

    /// Whether the ledger changed since the last call.
    pub fn take_ledger_dirty(&mut self) -> bool {
        std::mem::take(&mut self.ledger_dirty)
    }

    /// Bytes of symbols held now.
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// The workspace.
    pub fn workspace(&self) -> &W {
        &self.workspace
    }

    /// Handles one datagram.
    pub fn handle(&mut self, datagram: &[u8], now: Instant) {
        self.metrics.datagrams.inc();
        self.metrics.bytes.inc_by(datagram.len() as u64);
        let (header, record) = match wire::decode(datagram) {
            Ok(x) => x,
            Err(e) => {
                self.metrics.malformed.inc();
                tracing::debug!(error = %e, len = datagram.len(), "malformed datagram");
                return;
            }
        };
        match record {
            Record::Start {
                shape,
                repair,
                meta,
                signature,
            } => {
                // A second copy of a Start already verified changes nothing: skip the signature.
                if self.sessions.get(&header.object).is_some_and(|s| {
                    s.signed_shape && s.shape == Some(shape) && header.epoch >= self.ledger.epoch
                }) {
                    return;
                }
                let msg = wire::start_message(header.epoch, header.object, &shape, repair, meta);
                if !self.verifier.verify(&msg, &signature) {
                    self.metrics.forged.inc();
                    return;
                }
                if !self.current_run(header.epoch, now) {
                    return;
                }
                if self.verified_session(header.object, now).is_none() {
                    return;
                }
                if let Some(s) = self.sessions.get_mut(&header.object) {
                    if s.signed_shape {
                        return;
                    }
                    s.meta = meta.to_vec();
                    if s.shape.is_some_and(|have| have != shape) {
                        // The cut came from an unsigned datagram that disagrees with the signed
                        // one: forged or damaged. Start over with the signed cut.
                        self.metrics.shape_mismatch.inc();
                        self.reset_session(header.object);
                    }
                    self.set_shape(header.object, shape);
                    if let Some(s) = self.sessions.get_mut(&header.object) {
                        s.signed_shape = s.shape == Some(shape);
                    }
                }
                self.write_held_of(header.object);
            }
            Record::Data {
                shape,
                block,
                symbol_id,
                symbol,
            } => self.data(header.object, shape, block, symbol_id, symbol, now),
            Record::End {
                length,
                digest,
                meta,
                signature,
            } => {
                let msg = wire::object_message(header.epoch, header.object, length, &digest, meta);
                if !self.verifier.verify(&msg, &signature) {
                    self.metrics.forged.inc();
                    return;
                }
                if !self.current_run(header.epoch, now) {
                    return;
                }
                if let Some(s) = self.verified_session(header.object, now) {
                    if s.end.is_none() {
                        s.end = Some((length, digest, meta.to_vec()));
                    }
                    self.check_length(header.object);
                    self.write_held_of(header.object);
                    self.try_finish(header.object);
                }
            }
            Record::Abort { reason, signature } => {
                let msg = wire::abort_message(header.epoch, header.object, reason);
                if !self.verifier.verify(&msg, &signature) {
                    self.metrics.forged.inc();
                    return;
                }
                if !self.current_run(header.epoch, now) {
                    return;
                }
                self.drop_session(header.object);
                self.events.push_back(Event::Aborted {
                    id: header.object,
                    reason,
                });
                if reason == AbortReason::Unreadable as u8
                    && !self.ledger.is_resolved(header.object)
                {
                    self.lose(LostObject {
                        id: header.object,
                        length: self.lengths.get(&header.object).copied(),
                        reason: "the edge could not read it from its spool".into(),
                    });
                }
            }
            Record::Heartbeat {
                signed,
                unix_ms,
                next_object,
                spool_depth,
                interval_ms: _,
                signature,
            } => {
                let msg = wire::status_message(Kind::Heartbeat, header.epoch, signed);
                if !self.verifier.verify(&msg, &signature) {
                    self.metrics.forged.inc();
                    return;
                }
                if !self.heartbeat(&header, unix_ms, now) {
                    return;
                }
                self.metrics
                    .edge_spool_depth
                    .set(i64::try_from(spool_depth).unwrap_or(i64::MAX));
                self.claim(next_object, now);
            }
            Record::Manifest {
                signed,
                entries,
                signature,
            } => {
                let msg = wire::status_message(Kind::Manifest, header.epoch, signed);
                if !self.verifier.verify(&msg, &signature) {
                    self.metrics.forged.inc();
                    return;
                }
                if !self.current_run(header.epoch, now) {
                    return;
                }
                let mut top = 0;
                for (id, len) in wire::manifest_entries(entries) {
                    if self.lengths.len() >= 4096 {
                        self.lengths.pop_first();
                    }
                    self.lengths.insert(id, len);
                    top = top.max(id.saturating_add(1));
                }
                if top > 0 {
                    self.claim(top, now);
                }
            }
        }
    }

    /// Whether a verified record's epoch is that of the newest edge run heard, or newer (a
    /// replay run, `sluis edge replay`, takes a newer epoch than the edge it runs beside; only a
    /// heartbeat makes a run the newest). A record from an older run is a replay.
    fn current_run(&mut self, epoch: u32, now: Instant) -> bool {
        if epoch < self.ledger.epoch {
            self.replayed(epoch, now);
            return false;
        }
        true
    }

    /// Counts a replayed record; reports at once if nothing was reported in the last minute,
    /// otherwise leaves it to [`Receiver::tick`] to report the count when the minute is up.
    fn replayed(&mut self, epoch: u32, now: Instant) {
        self.metrics.replayed.inc();
        self.replays.0 = self.replays.0.saturating_add(1);
        self.replays.1 = epoch;
        let due = self
            .replays
            .2
            .is_none_or(|at| now.saturating_duration_since(at) >= REPLAY_REPORT_EVERY);
        if due {
            self.report_replays(now);
        }
    }

    fn report_replays(&mut self, now: Instant) {
        let (count, epoch, _) = self.replays;
        if count == 0 {
            return;
        }
        tracing::warn!(
            count,
            epoch,
            current = self.ledger.epoch,
            "replayed link records"
        );
        self.events.push_back(Event::Replayed {
            count,
            epoch,
            current: self.ledger.epoch,
        });
        self.replays = (0, epoch, Some(now));
    }

    /// A verified heartbeat: whether it is a sign of life (not a replay).
    fn heartbeat(&mut self, header: &Header, unix_ms: u64, now: Instant) -> bool {
        if header.epoch < self.ledger.epoch {
            // From an earlier edge run: captured and sent again. It must not hide a cut link.
            self.replayed(header.epoch, now);
            return false;
        }
        if header.epoch > self.ledger.epoch {
            let previous = self.ledger.epoch;
            self.ledger.epoch = header.epoch;
            self.ledger.heartbeat_ms = 0;
            self.metrics.edge_epoch.set(i64::from(header.epoch));
            self.events.push_back(Event::EdgeRestarted {
                previous,
                epoch: header.epoch,
            });
        }
        if unix_ms <= self.ledger.heartbeat_ms {
            self.replayed(header.epoch, now);
            return false;
        }
        self.ledger.heartbeat_ms = unix_ms;
        self.ledger_dirty = true;
        self.last_heard = now;
        self.metrics.heartbeats.inc();
        if self.silent {
            self.silent = false;
            self.events.push_back(Event::HeartbeatResumed);
        }
        self.metrics.link_up.set(1);
        true
    }

    fn claim(&mut self, sent_below: u64, now: Instant) {
        if sent_below > self.ledger.sent_below {
            self.ledger.sent_below = sent_below;
            self.ledger_dirty = true;
        }
        if self.claims.back().is_none_or(|(b, _)| *b < sent_below) {
            if self.claims.len() >= 1024 {
                self.claims.pop_front();
            }
            self.claims.push_back((sent_below, now));
        }
    }

    /// Advances the clock: times out sessions, reports objects that should have arrived, and
    /// watches the heartbeat.
    pub fn tick(&mut self, now: Instant) {
        // Stalled sessions.
        let stalled: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last) >= self.limits.session_timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in stalled {
            let Some(s) = self.sessions.get(&id) else {
                continue;
            };
            let reason = match (s.shape, &s.end) {
                (Some(shape), _) if s.done_count < shape.blocks() => format!(
                    "stalled: {} of {} blocks decoded{}",
                    s.done_count,
                    shape.blocks(),
                    if s.end.is_some() {
                        ""
                    } else {
                        ", no end record"
                    }
                ),
                (_, None) => "stalled: no end record arrived".into(),
                (None, Some(_)) => "stalled: no data arrived".into(),
                _ => "stalled".into(),
            };
            let reason = if s.verified && !s.held.is_empty() {
                format!("{reason}; blocks were waiting for room in the reassembly directory")
            } else {
                reason
            };
            self.give_up(id, &reason);
        }
        // Objects the edge sent that never arrived.
        while let Some(&(below, at)) = self.claims.front() {
            if now.saturating_duration_since(at) < self.limits.loss_grace {
                break;
            }
            self.claims.pop_front();
            let mut id = self.ledger.floor;
            let mut reported = 0u32;
            while id < below && reported < 100_000 {
                if !self.ledger.is_resolved(id) && !self.sessions.contains_key(&id) {
                    self.lose(LostObject {
                        id,
                        length: self.lengths.get(&id).copied(),
                        reason: "sent by the edge, never arrived".into(),
                    });
                    reported += 1;
                }
                id = id.saturating_add(1);
            }
        }
        // The heartbeat.
        let silent_for = now.saturating_duration_since(self.last_heard);
        if !self.silent && silent_for >= self.limits.heartbeat_tolerance {
            self.silent = true;
            self.metrics.link_up.set(0);
            self.metrics.heartbeats_missed.inc();
            self.events.push_back(Event::HeartbeatMissed { silent_for });
        }
        if self
            .replays
            .2
            .is_some_and(|at| now.saturating_duration_since(at) >= REPLAY_REPORT_EVERY)
        {
            self.report_replays(now);
        }
        self.write_held();
        self.metrics.sessions.set(self.sessions.len() as i64);
        self.metrics
            .unverified_sessions
            .set(i64::try_from(self.unverified_sessions()).unwrap_or(i64::MAX));
        self.metrics
            .buffered_bytes
            .set(i64::try_from(self.buffered).unwrap_or(i64::MAX));
        self.metrics
            .disk_bytes
            .set(i64::try_from(self.disk).unwrap_or(i64::MAX));
    }

    fn lose(&mut self, lost: LostObject) {
        self.metrics.objects_lost.inc();
        tracing::warn!(id = lost.id, reason = %lost.reason, "object lost");
        self.ledger.lose(lost.clone());
        self.ledger_dirty = true;
        self.events.push_back(Event::Lost(lost));
    }

    /// Whether a new session for `id` may be opened at all (not resolved, inside the window).
    fn may_open(&mut self, id: u64) -> bool {
        if self.ledger.is_delivered(id) {
            self.metrics.duplicates.inc();
            return false;
        }
        if id == 0
            || (id < self.ledger.floor && !self.ledger.lost.contains_key(&id))
            || id
                >= self
                    .ledger
                    .sent_below
                    .max(self.ledger.floor)
                    .saturating_add(self.limits.id_window)
        {
            self.metrics.refused.inc();
            return false;
        }
        true
    }

    /// The session for `id` as an unsigned datagram sees it, opening an unverified one if
    /// allowed (the least recently used unverified session gives way when they are at their
    /// limit); `None` when the id is resolved or refused.
    fn session(&mut self, id: u64, now: Instant) -> Option<&mut Session<W::Part>> {
        if self.sessions.contains_key(&id) {
            let s = self.sessions.get_mut(&id)?;
            s.last = now;
            return Some(s);
        }
        if !self.may_open(id) {
            return None;
        }
        while self.unverified_sessions() >= self.limits.max_unverified_sessions.max(1) {
            if !self.evict_unverified(None) {
                self.metrics.refused.inc();
                return None;
            }
        }
        self.sessions.insert(id, Session::new(now));
        self.sessions.get_mut(&id)
    }

    /// The session for `id` once a signed record (Start or End) vouched for it: opened, or an
    /// unverified one promoted, within `max_sessions` verified sessions (an idle one may give
    /// way; live transfers are never pushed out).
    fn verified_session(&mut self, id: u64, now: Instant) -> Option<&mut Session<W::Part>> {
        let exists = self.sessions.get(&id).map(|s| s.verified);
        if exists.is_none() && !self.may_open(id) {
            return None;
        }
        if exists != Some(true) {
            let verified = self
                .sessions
                .len()
                .saturating_sub(self.unverified_sessions());
            if verified >= self.limits.max_sessions && !self.evict_idle(now, Some(id)) {
                self.metrics.refused.inc();
                return None;
            }
        }
        let s = self.sessions.entry(id).or_insert_with(|| Session::new(now));
        s.verified = true;
        s.last = now;
        Some(s)
    }

    /// Gives up the least recently used unverified session other than `keep`. Returns whether
    /// one was given up.
    fn evict_unverified(&mut self, keep: Option<u64>) -> bool {
        let oldest = self
            .sessions
            .iter()
            .filter(|(id, s)| !s.verified && Some(**id) != keep)
            .min_by_key(|(_, s)| s.last)
            .map(|(id, _)| *id);
        let Some(old) = oldest else {
            return false;
        };
        self.give_up(old, "evicted: unverified sessions at their limit");
        true
    }

    /// Gives up the session idle the longest (unverified ones first, whatever their age; a
    /// verified one only if it has been idle for a second), never `keep`: a flood of new ids or
    /// symbols must not push out live transfers. Returns whether one was given up.
    fn evict_idle(&mut self, now: Instant, keep: Option<u64>) -> bool {
        if self.evict_unverified(keep) {
            return true;
        }
        let idlest = self
            .sessions
            .iter()
            .filter(|(id, _)| Some(**id) != keep)
            .min_by_key(|(_, s)| s.last)
            .map(|(id, s)| (*id, s.last));
        let Some((old, last)) = idlest else {
            return false;
        };
        if now.saturating_duration_since(last) < Duration::from_secs(1) {
            return false;
        }
        self.give_up(old, "evicted: memory or session limit reached");
        true
    }

    /// Drops a session, reporting it lost if a signed record vouched for it (or the edge said
    /// it sent it), as junk otherwise.
    fn give_up(&mut self, id: u64, reason: &str) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let real = id < self.ledger.sent_below || s.verified;
        let length = s.length();
        self.drop_session(id);
        if real && !self.ledger.is_resolved(id) {
            self.lose(LostObject {
                id,
                length,
                reason: reason.into(),
            });
        } else {
            self.metrics.junk_sessions.inc();
        }
    }

    /// Forgets what a session collected but keeps it open (and its signed End, if any).
    fn reset_session(&mut self, id: u64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            self.buffered = self.buffered.saturating_sub(s.buffered);
            self.disk = self.disk.saturating_sub(s.disk);
            if let Some(p) = s.part.take() {
                self.workspace.discard(p);
            }
            let fresh = Session {
                end: s.end.take(),
                meta: std::mem::take(&mut s.meta),
                verified: s.verified,
                ..Session::new(s.last)
            };
            *s = fresh;
        }
    }

    fn drop_session(&mut self, id: u64) {
        if let Some(mut s) = self.sessions.remove(&id) {
            self.buffered = self.buffered.saturating_sub(s.buffered);
            self.disk = self.disk.saturating_sub(s.disk);
            if let Some(p) = s.part.take() {
                self.workspace.discard(p);
            }
        }
    }

    /// Bytes held now for unverified sessions.
    fn unverified_bytes(&self) -> u64 {
        self.sessions
            .values()
            .filter(|s| !s.verified)
            .map(|s| s.buffered)
            .fold(0, u64::saturating_add)
    }

    /// Accepts the shape of a session (or refuses a conflicting one). Returns whether the shape
    /// now in force equals `shape`.
    fn set_shape(&mut self, id: u64, shape: Shape) -> bool {
        let ok_limits = self.shape_allowed(&shape);
        let Some(s) = self.sessions.get_mut(&id) else {
            return false;
        };
        match s.shape {
            Some(have) => {
                if have != shape {
                    self.metrics.shape_mismatch.inc();
                }
                have == shape
            }
            None => {
                if !ok_limits || s.end.as_ref().is_some_and(|e| e.0 != shape.length) {
                    self.metrics.refused.inc();
                    return false;
                }
                let words = shape.blocks().div_ceil(64);
                let Ok(words) = usize::try_from(words) else {
                    return false;
                };
                s.done = vec![0u64; words];
                s.shape = Some(shape);
                true
            }
        }
    }

    fn check_length(&mut self, id: u64) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if let (Some(shape), Some(end)) = (s.shape, &s.end)
            && shape.length != end.0
        {
            if s.signed_shape {
                // Both signed, and they disagree: the edge is broken or its key is misused.
                let reason = RejectReason::LengthsDisagree {
                    start: shape.length,
                    end: end.0,
                };
                self.reject(id, reason);
            } else {
                // The signed End is authoritative: the cut came from a forged or damaged
                // datagram. Start over; repair symbols still to come may yet complete it.
                self.metrics.shape_mismatch.inc();
                self.reset_session(id);
            }
        }
    }

    fn shape_allowed(&self, shape: &Shape) -> bool {
        let limits = &self.limits;
        shape.length <= limits.max_object_bytes
            && shape.symbol_size >= 16
            && shape.symbol_size <= limits.max_symbol_size
            && shape.symbols_per_block <= limits.max_symbols_per_block
            && shape.blocks() <= MAX_BLOCKS
    }

    fn data(
        &mut self,
        id: u64,
        shape: Shape,
        block: u32,
        symbol_id: u32,
        symbol: &[u8],
        now: Instant,
    ) {
        if !self.sessions.contains_key(&id) && !self.shape_allowed(&shape) {
            self.metrics.refused.inc();
            return;
        }
        if self.session(id, now).is_none() {
            return;
        }
        if !self.set_shape(id, shape) {
            return;
        }
        let t = u64::from(shape.symbol_size);
        let Some(k) = shape.block_symbols(u64::from(block)) else {
            return;
        };
        let max_repair = k.saturating_add(64);
        if symbol_id >= k.saturating_add(max_repair) {
            self.metrics.refused_symbols.inc();
            return;
        }
        if symbol.len() != usize::from(shape.symbol_size) {
            self.metrics.refused_symbols.inc();
            return;
        }
        if self
            .sessions
            .get(&id)
            .is_some_and(|s| s.is_done(u64::from(block)) || s.held.iter().any(|h| h.0 == block))
        {
            self.metrics.late_symbols.inc();
            return;
        }
        // A new block takes its whole source area at once.
        let area = u64::from(k).saturating_mul(t);
        let opening = !self
            .sessions
            .get(&id)
            .is_some_and(|s| s.blocks.contains_key(&block));
        let need = if opening { area } else { t };
        let verified = self.sessions.get(&id).is_some_and(|s| s.verified);
        // Unverified sessions live within their own budget, and give way to each other (never
        // to this one) and, below, to verified sessions; a verified one pushes out unverified
        // sessions first, then only sessions idle for a second.
        if !verified {
            while self.unverified_bytes().saturating_add(need) > self.limits.max_unverified_bytes {
                if !self.evict_unverified(Some(id)) {
                    break;
                }
            }
        }
        while self.buffered.saturating_add(need) > self.limits.max_buffer_bytes {
            let evicted = if verified {
                self.evict_idle(now, Some(id))
            } else {
                self.evict_unverified(Some(id))
            };
            if !evicted {
                break;
            }
        }
        let over_budget = self.buffered.saturating_add(need) > self.limits.max_buffer_bytes
            || (!verified
                && self.unverified_bytes().saturating_add(need) > self.limits.max_unverified_bytes);
        let max_blocks = self.limits.max_blocks_in_flight;
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if !s.blocks.contains_key(&block) && s.blocks.len() >= max_blocks {
            self.metrics.refused_symbols.inc();
            return;
        }
        if over_budget {
            self.metrics.over_budget.inc();
            return;
        }
        // Within the budget checked above, so it fits in memory.
        let area_len = usize::try_from(area).unwrap_or(usize::MAX);
        let b = s.blocks.entry(block).or_insert_with(|| BlockState {
            seen: Vec::new(),
            source_bytes: vec![0; area_len],
            repairs: Vec::new(),
            source: 0,
            decoder: None,
            bytes: 0,
        });
        if b.seen_before(symbol_id) {
            self.metrics.duplicate_symbols.inc();
            return;
        }
        let added =
            if opening { need } else { 0 }.saturating_add(if symbol_id < k { 0 } else { t });
        b.bytes = b.bytes.saturating_add(added);
        s.buffered = s.buffered.saturating_add(added);
        self.buffered = self.buffered.saturating_add(added);
        self.metrics.symbols.inc();
        let ts = usize::from(shape.symbol_size);
        let decoded = if let Some(d) = b.decoder.as_mut() {
            let packet = EncodingPacket::new(PayloadId::new(0, symbol_id), symbol.to_vec());
            d.decode(std::iter::once(packet))
        } else {
            if symbol_id < k {
                let at = (symbol_id as usize).saturating_mul(ts);
                if let Some(place) = b.source_bytes.get_mut(at..at.saturating_add(ts)) {
                    place.copy_from_slice(symbol);
                }
                b.source = b.source.saturating_add(1);
            } else {
                b.repairs.push(EncodingPacket::new(
                    PayloadId::new(0, symbol_id),
                    symbol.to_vec(),
                ));
            }
            if b.source == k {
                Some(std::mem::take(&mut b.source_bytes))
            } else if (b.source as usize).saturating_add(b.repairs.len()) >= k as usize {
                // Some source symbols are missing: RaptorQ, with what there is.
                let oti = ObjectTransmissionInformation::new(area, shape.symbol_size, 1, 1, 1);
                let mut d = SourceBlockDecoder::new(0, &oti, area);
                let present: Vec<EncodingPacket> = (0..k)
                    .filter(|i| b.has(*i))
                    .filter_map(|i| {
                        let at = (i as usize).saturating_mul(ts);
                        let bytes = b.source_bytes.get(at..at.saturating_add(ts))?;
                        Some(EncodingPacket::new(PayloadId::new(0, i), bytes.to_vec()))
                    })
                    .collect();
                let r = d.decode(present.into_iter().chain(std::mem::take(&mut b.repairs)));
                b.source_bytes = Vec::new();
                b.decoder = Some(d);
                r
            } else {
                None
            }
        };
        let Some(bytes) = decoded else {
            return;
        };
        let used_repair = k.saturating_sub(b.source);
        let freed = b.bytes;
        s.blocks.remove(&block);
        s.buffered = s.buffered.saturating_sub(freed);
        self.buffered = self.buffered.saturating_sub(freed);
        self.metrics.blocks.inc();
        self.metrics.repairs_used.inc_by(u64::from(used_repair));
        self.block_decoded(id, block, bytes);
    }

    /// A block is whole: written to the object's file if a signed record vouched for the
    /// session and the disk budget has room, held in memory (and counted) otherwise.
    fn block_decoded(&mut self, id: u64, block: u32, mut bytes: Vec<u8>) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(shape) = s.shape else {
            return;
        };
        let Some((start, end)) = shape.block_range(u64::from(block)) else {
            return;
        };
        let len = usize::try_from(end.saturating_sub(start)).unwrap_or(0);
        if bytes.len() < len {
            return;
        }
        bytes.truncate(len);
        let n = bytes.len() as u64;
        s.held.push((block, bytes));
        s.buffered = s.buffered.saturating_add(n);
        self.buffered = self.buffered.saturating_add(n);
        self.write_held_of(id);
    }

    /// Writes the blocks `id` holds, if it is verified and its file can be had within the disk
    /// budget; then finishes the object if it is whole.
    fn write_held_of(&mut self, id: u64) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if !s.verified || s.held.is_empty() {
            return;
        }
        let Some(shape) = s.shape else {
            return;
        };
        if s.part.is_none() {
            if self.disk.saturating_add(shape.length) > self.limits.max_disk_bytes {
                self.metrics.disk_full.inc();
                return;
            }
            match self.workspace.create(id, shape.length) {
                Ok(p) => {
                    self.disk = self.disk.saturating_add(shape.length);
                    if let Some(s) = self.sessions.get_mut(&id) {
                        s.part = Some(p);
                        s.disk = shape.length;
                    }
                }
                Err(e) => return self.storage_failed(id, e),
            }
        }
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let held = std::mem::take(&mut s.held);
        let Some(mut part) = s.part.take() else {
            return;
        };
        for (block, bytes) in held {
            let Some((start, _)) = shape.block_range(u64::from(block)) else {
                continue;
            };
            let n = bytes.len() as u64;
            s.buffered = s.buffered.saturating_sub(n);
            self.buffered = self.buffered.saturating_sub(n);
            if let Err(e) = self.workspace.write_at(&mut part, start, &bytes) {
                s.part = Some(part);
                return self.storage_failed(id, e);
            }
            s.set_done(u64::from(block));
            s.done_count = s.done_count.saturating_add(1);
            // Hash in order; a block decoded ahead of its turn is read back when its turn comes.
            if u64::from(block) == s.hashed {
                s.hasher.update(&bytes);
                s.hashed = s.hashed.saturating_add(1);
            }
        }
        let mut buf = Vec::new();
        while s.hashed < shape.blocks() && s.is_done(s.hashed) {
            let Some((a, b)) = shape.block_range(s.hashed) else {
                break;
            };
            buf.resize(usize::try_from(b.saturating_sub(a)).unwrap_or(0), 0);
            if let Err(e) = self.workspace.read_at(&mut part, a, &mut buf) {
                s.part = Some(part);
                return self.storage_failed(id, e);
            }
            s.hasher.update(&buf);
            s.hashed = s.hashed.saturating_add(1);
        }
        s.part = Some(part);
        self.try_finish(id);
    }

    /// Writes what verified sessions hold, where the disk budget now has room.
    fn write_held(&mut self) {
        let waiting: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.verified && !s.held.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            self.write_held_of(id);
        }
    }

    fn storage_failed(&mut self, id: u64, e: std::io::Error) {
        self.metrics.storage_errors.inc();
        self.drop_session(id);
        self.events.push_back(Event::StorageFailed { id, error: e });
    }

    fn reject(&mut self, id: u64, reason: RejectReason) {
        self.metrics.objects_rejected.inc();
        tracing::warn!(id, reason = %reason, "object rejected");
        self.drop_session(id);
        self.events.push_back(Event::Rejected { id, reason });
    }

    fn try_finish(&mut self, id: u64) {
        let ready = self.sessions.get(&id).is_some_and(|s| {
            let Some((length, _, _)) = &s.end else {
                return false;
            };
            let blocks_total = match s.shape {
                Some(shape) => shape.blocks(),
                None if *length == 0 => 0,
                None => return false,
            };
            s.done_count >= blocks_total && s.hashed >= blocks_total
        });
        if !ready {
            return;
        }
        let Some(mut s) = self.sessions.remove(&id) else {
            return;
        };
        self.buffered = self.buffered.saturating_sub(s.buffered);
        let Some((length, digest_signed, meta)) = s.end.take() else {
            return;
        };
        let got: [u8; 32] = *s.hasher.finalize().as_bytes();
        let part = match s.part.take() {
            Some(p) => p,
            None => match self.workspace.create(id, 0) {
                Ok(p) => p,
                Err(e) => return self.storage_failed(id, e),
            },
        };
        // The file stays counted against the disk budget until the owner confirms it safe.
        self.disk = self.disk.saturating_sub(s.disk);
        if got != digest_signed {
            self.workspace.discard(part);
            self.metrics.objects_rejected.inc();
            self.events.push_back(Event::Rejected {
                id,
                reason: RejectReason::DigestMismatch,
            });
            return;
        }
        match self.workspace.commit(part, id, &got) {
            Ok(location) => {
                self.committed_on_disk(id, s.disk);
                let recovered = self.ledger.deliver(id);
                self.ledger_dirty = true;
                self.metrics.objects_delivered.inc();
                self.metrics.object_bytes.inc_by(length);
                self.events.push_back(Event::Delivered(VerifiedObject {
                    id,
                    length,
                    digest: got,
                    meta: String::from_utf8_lossy(&meta).into_owned(),
                    location,
                    recovered,
                }));
            }
            Err(e) => self.storage_failed(id, e),
        }
    }
}

/// A workspace in memory, for tests and fuzzing.
#[derive(Debug, Default)]
pub struct MemWorkspace {
    /// Parts alive now.
    pub live: usize,
}

impl Workspace for MemWorkspace {
    type Part = Vec<u8>;
    type Committed = Vec<u8>;
    fn create(&mut self, _object: u64, length: u64) -> std::io::Result<Vec<u8>> {
        self.live += 1;
        // Bounded by the receiver's max_object_bytes before this is called.
        Ok(vec![
            0;
            usize::try_from(length)
                .map_err(std::io::Error::other)?
        ])
    }
    fn write_at(&mut self, part: &mut Vec<u8>, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let o = usize::try_from(offset).map_err(std::io::Error::other)?;
        part.get_mut(o..o.saturating_add(bytes.len()))
            .ok_or_else(|| std::io::Error::other("write past the end"))?
            .copy_from_slice(bytes);
        Ok(())
    }
    fn read_at(&mut self, part: &mut Vec<u8>, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let o = usize::try_from(offset).map_err(std::io::Error::other)?;
        buf.copy_from_slice(
            part.get(o..o.saturating_add(buf.len()))
                .ok_or_else(|| std::io::Error::other("read past the end"))?,
        );
        Ok(())
    }
    fn commit(
        &mut self,
        part: Vec<u8>,
        _object: u64,
        _digest: &[u8; 32],
    ) -> std::io::Result<Vec<u8>> {
        self.live = self.live.saturating_sub(1);
        Ok(part)
    }
    fn discard(&mut self, _part: Vec<u8>) {
        self.live = self.live.saturating_sub(1);
    }
}
