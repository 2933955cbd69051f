//! The sending half, sans-I/O: objects in, datagrams out. The edge's I/O loop (see [`crate::net`])
//! reads spooled files block by block, hands each block here, and sends what comes back.

use raptorq::{ObjectTransmissionInformation, SourceBlockEncoder};
use serde::{Deserialize, Serialize};

use crate::keys::EdgeKey;
use crate::wire::{self, AbortReason, DATA_HEADER_LEN, Header, Kind, Shape};

/// Bytes of IPv4 + UDP headers under the payload.
const IP_UDP: u16 = 28;

/// How objects are cut and protected. Both sides must agree on nothing: every datagram carries
/// its object's cut, so the core accepts whatever the edge chose within its own limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Coding {
    /// The link's MTU in bytes (IP packet size); a symbol fills a datagram of this size.
    pub mtu: u16,
    /// Source symbols per block (RaptorQ source block size).
    pub symbols_per_block: u16,
    /// Repair symbols per block, in percent of its source symbols...
    pub repair_percent: f32,
    /// ...plus this many, so that small blocks are protected too.
    pub repair_extra: u32,
    /// How many times each End record is sent (it carries the signature; losing every copy loses
    /// the object).
    pub end_copies: u8,
}

impl Default for Coding {
    fn default() -> Self {
        Coding {
            mtu: 1500,
            symbols_per_block: 1024,
            repair_percent: 3.0,
            repair_extra: 2,
            end_copies: 3,
        }
    }
}

impl Coding {
    /// Bytes per symbol for this MTU.
    pub fn symbol_size(&self) -> u16 {
        let room = self
            .mtu
            .saturating_sub(IP_UDP)
            .saturating_sub((DATA_HEADER_LEN + wire::TRAILER_LEN) as u16);
        room - room % 8
    }

    /// Checks the values; says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(576..=65_000).contains(&self.mtu) {
            return Err(format!("mtu {} is outside 576..=65000", self.mtu));
        }
        if !(1..=8192).contains(&self.symbols_per_block) {
            return Err(format!(
                "symbols_per_block {} is outside 1..=8192",
                self.symbols_per_block
            ));
        }
        if !(0.0..=100.0).contains(&self.repair_percent) || self.repair_percent.is_nan() {
            return Err(format!(
                "repair_percent {} is outside 0..=100",
                self.repair_percent
            ));
        }
        if self.repair_extra > 1024 {
            return Err("repair_extra is above 1024".into());
        }
        if self.end_copies == 0 || self.end_copies > 16 {
            return Err("end_copies must be 1..=16".into());
        }
        Ok(())
    }

    /// Repair symbols for a block of `k` source symbols.
    pub fn repair_for(&self, k: u32) -> u32 {
        let pct = (f64::from(k) * f64::from(self.repair_percent) / 100.0).ceil();
        (pct as u32).saturating_add(self.repair_extra)
    }

    /// The cut of an object of `length` bytes.
    pub fn shape(&self, length: u64) -> Shape {
        Shape {
            length,
            symbols_per_block: self.symbols_per_block,
            symbol_size: self.symbol_size(),
        }
    }
}

/// Turns objects into datagrams for one edge run (one epoch).
#[derive(Debug)]
pub struct Sender {
    key: EdgeKey,
    coding: Coding,
    epoch: u32,
    seq: u64,
    scratch: Vec<u8>,
}

impl Sender {
    /// A sender for the edge run numbered `epoch`. Epochs must only ever grow from one run to
    /// the next (the core treats a signed record from an older epoch as a replay):
    /// [`crate::Spool::next_epoch`] hands them out.
    pub fn new(key: EdgeKey, coding: Coding, epoch: u32) -> Sender {
        Sender {
            key,
            coding,
            epoch,
            seq: 0,
            scratch: Vec::new(),
        }
    }

    /// This run's epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The coding in use.
    pub fn coding(&self) -> &Coding {
        &self.coding
    }

    /// Datagrams produced so far.
    pub fn datagrams(&self) -> u64 {
        self.seq
    }

    fn header(&mut self, kind: Kind, object: u64) -> Header {
        let h = Header {
            kind,
            epoch: self.epoch,
            seq: self.seq,
            object,
        };
        self.seq += 1;
        h
    }

    /// The Start record of an object, signed (send it more than once: it fixes the object's
    /// cut, so that a forged or damaged data datagram cannot).
    pub fn start(&mut self, object: u64, length: u64, meta: &[u8]) -> Vec<u8> {
        let shape = self.coding.shape(length);
        let repair = self.coding.repair_for(u32::from(shape.symbols_per_block));
        let meta = meta.get(..wire::MAX_META).unwrap_or(meta);
        let signature = self.key.sign(&wire::start_message(
            self.epoch, object, &shape, repair, meta,
        ));
        let h = self.header(Kind::Start, object);
        wire::encode_start(&h, &shape, repair, meta, &signature)
    }

    /// Encodes block `block` of an object: `data` is exactly that block's bytes (see
    /// [`Shape::block_range`]). Calls `emit` with each datagram: the source symbols first, then
    /// the repair symbols.
    pub fn block(
        &mut self,
        object: u64,
        length: u64,
        block: u32,
        data: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let shape = self.coding.shape(length);
        let t = usize::from(shape.symbol_size);
        let k = data.len().div_ceil(t);
        for (i, chunk) in data.chunks(t).enumerate() {
            let h = self.header(Kind::Data, object);
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            wire::put_data_header(&mut buf, &h, &shape, block, i as u32);
            buf.extend_from_slice(chunk);
            buf.resize(DATA_HEADER_LEN + t, 0);
            wire::seal(&mut buf);
            emit(&buf);
            self.scratch = buf;
        }
        let repair = self.coding.repair_for(k as u32);
        if repair == 0 || k == 0 {
            return;
        }
        // RaptorQ wants whole symbols: pad the last one with zeros, as the receiver does.
        let padded;
        let whole = if data.len().is_multiple_of(t) {
            data
        } else {
            let mut p = data.to_vec();
            p.resize(k * t, 0);
            padded = p;
            &padded
        };
        let oti =
            ObjectTransmissionInformation::new(whole.len() as u64, shape.symbol_size, 1, 1, 1);
        let encoder = SourceBlockEncoder::new(0, &oti, whole);
        for packet in encoder.repair_packets(0, repair) {
            let h = self.header(Kind::Data, object);
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            wire::put_data_header(
                &mut buf,
                &h,
                &shape,
                block,
                packet.payload_id().encoding_symbol_id(),
            );
            buf.extend_from_slice(packet.data());
            wire::seal(&mut buf);
            emit(&buf);
            self.scratch = buf;
        }
    }

    /// The End record, signed; send it [`Coding::end_copies`] times (each call makes a copy with
    /// its own sequence number).
    pub fn end(&mut self, object: u64, length: u64, digest: &[u8; 32], meta: &[u8]) -> Vec<u8> {
        let meta = meta.get(..wire::MAX_META).unwrap_or(meta);
        let signature = self.key.sign(&wire::object_message(
            self.epoch, object, length, digest, meta,
        ));
        let h = self.header(Kind::End, object);
        wire::encode_end(&h, length, digest, meta, &signature)
    }

    /// A signed Abort.
    pub fn abort(&mut self, object: u64, reason: AbortReason) -> Vec<u8> {
        let signature = self
            .key
            .sign(&wire::abort_message(self.epoch, object, reason as u8));
        let h = self.header(Kind::Abort, object);
        wire::encode_abort(&h, reason as u8, &signature)
    }

    /// A signed heartbeat: every id below `next_object` has been sent at least once.
    pub fn heartbeat(
        &mut self,
        unix_ms: u64,
        next_object: u64,
        spool_depth: u64,
        interval_ms: u32,
    ) -> Vec<u8> {
        let body = wire::heartbeat_body(unix_ms, next_object, spool_depth, interval_ms);
        let signature = self
            .key
            .sign(&wire::status_message(Kind::Heartbeat, self.epoch, &body));
        let h = self.header(Kind::Heartbeat, 0);
        wire::encode_status(&h, &body, &signature)
    }

    /// A signed manifest of `(object id, length)` pairs (at most [`wire::MAX_MANIFEST`]).
    pub fn manifest(&mut self, entries: &[(u64, u64)]) -> Vec<u8> {
        let body = wire::manifest_body(entries);
        let signature = self
            .key
            .sign(&wire::status_message(Kind::Manifest, self.epoch, &body));
        let h = self.header(Kind::Manifest, 0);
        wire::encode_status(&h, &body, &signature)
    }
}
