//! An association's inbound side after the handshake (PS3.8 §9.3): a state machine over PDUs
//! that reads each P-DATA-TF value straight to where it goes (command sets into a small
//! buffer, a C-STORE's data set into the object's buffer behind its PS3.10 head), and says what
//! the service must answer.
//!
//! ```text
//!  PDU      type (1) | reserved (1) | length (4, BE) | PDV items ...
//!  PDV item length (4, BE) | presentation context id (1) | control (1) | value (length - 2)
//!           control bit 0: command (1) or data (0); bit 1: last fragment
//! ```
//!
//! It reads through a [`Wire`], so the same machine runs over the association's socket (with
//! deadlines, in [`super::scp`]) and over any `impl Read` ([`ReadWire`], for tests and the fuzz
//! target `dimse`). Every length from the wire is checked against the PDU it lies in and
//! against the bounds before a byte is read; other PDUs (release, abort) are read whole within
//! the maximum PDU length and parsed by dicom-ul.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use std::io::Read;
use std::time::{Duration, Instant};

use dicom_ul::pdu::Pdu;

use super::command::{
    C_ECHO_RQ, C_ECHO_RSP, C_STORE_RQ, Command, CommandError, STATUS_SUCCESS, parse_command,
    response, valid_uid,
};
use super::part10::part10_header;

/// PDU type of P-DATA-TF.
const PDATA_TF: u8 = 0x04;
/// A PDV item's header: item length (4), presentation context (1), control header (1).
const PDV_HEADER: usize = 6;
/// The smallest maximum PDU length dicom-ul parses with.
const MIN_PDU: u32 = 4096;
/// The largest command set read (real ones are a few hundred bytes).
pub const MAX_COMMAND: usize = 16 * 1024;
/// A PDU's time: this grace plus its length at [`MIN_RATE`].
const PDU_GRACE: Duration = Duration::from_secs(10);
/// The slowest rate (bytes per second) a peer may send a PDU at.
const MIN_RATE: u64 = 256 * 1024;

/// Why the wire gave fewer bytes than asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireFault {
    /// The peer did not send what it owed by its deadline (it is cut).
    #[error("the peer sent too slowly: cut at its deadline")]
    TooSlow,
    /// The peer closed the connection inside a PDU.
    #[error("the peer closed the connection inside a PDU")]
    Closed,
    /// The socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the machine reads its bytes.
pub trait Wire {
    /// Appends exactly `n` bytes to `buf` by `deadline`.
    fn read_into(
        &mut self,
        buf: &mut Vec<u8>,
        n: usize,
        deadline: Instant,
    ) -> Result<(), WireFault>;
}

/// A [`Wire`] over any reader, without deadlines (it blocks as its reader does).
#[derive(Debug)]
pub struct ReadWire<R>(pub R);

impl<R: Read> Wire for ReadWire<R> {
    fn read_into(&mut self, buf: &mut Vec<u8>, n: usize, _: Instant) -> Result<(), WireFault> {
        let want = buf.len().saturating_add(n);
        while buf.len() < want {
            let left = u64::try_from(want.saturating_sub(buf.len())).unwrap_or(u64::MAX);
            match (&mut self.0).take(left).read_to_end(buf) {
                Ok(0) => return Err(WireFault::Closed),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Why an association was ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DimseError {
    /// The wire failed or the peer was too slow.
    #[error(transparent)]
    Wire(#[from] WireFault),
    /// A PDU longer than the negotiated maximum.
    #[error("PDU of {len} bytes, past the {max} negotiated")]
    PduTooLarge {
        /// Its length.
        len: u32,
        /// The maximum.
        max: u32,
    },
    /// A PDU other than P-DATA, release or abort.
    #[error("unexpected PDU of type {0:#04x}")]
    UnexpectedPdu(u8),
    /// A PDV item's header, or its value, runs past its PDU.
    #[error("PDV item of {item} bytes in {left} left of its PDU")]
    PdvPastPdu {
        /// The item's length.
        item: u32,
        /// What was left of the PDU.
        left: usize,
    },
    /// A command set larger than [`MAX_COMMAND`].
    #[error("command set larger than {MAX_COMMAND} bytes")]
    CommandTooLarge,
    /// The command set did not parse.
    #[error("command set: {0}")]
    Command(#[from] CommandError),
    /// A command the edge does not serve.
    #[error("unsupported command 0x{0:04X}")]
    Unsupported(u16),
    /// A data set without a C-STORE before it.
    #[error("data without a C-STORE command")]
    DataWithoutCommand,
    /// A PDV on a presentation context that was not accepted.
    #[error("a PDV on presentation context {0}, which was not accepted")]
    UnknownContext(u8),
}

impl DimseError {
    /// Whether the service should send an A-ABORT before it closes (the peer broke the
    /// protocol, rather than the connection breaking).
    pub fn aborts(&self) -> bool {
        !matches!(self, DimseError::Wire(_))
    }
}

/// The bounds of an association.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The maximum PDU length the edge negotiated.
    pub max_pdu: u32,
    /// The largest data set kept; a larger one is read and thrown away, then refused.
    pub max_object_bytes: u64,
    /// The longest wait for the next PDU to begin.
    pub timeout: Duration,
}

/// What the service must do after [`Inbound::next`].
#[derive(Debug)]
pub enum Step<'a> {
    /// Answer a C-ECHO-RQ with `response` on `pcid`.
    Echo {
        /// The presentation context.
        pcid: u8,
        /// The C-ECHO-RSP command set.
        response: Vec<u8>,
    },
    /// A C-STORE's data set is complete: keep it (or refuse it) and answer.
    Store(Store<'a>),
    /// The peer asked to release: answer A-RELEASE-RP and close.
    Release,
    /// The peer aborted.
    Aborted,
}

/// A complete C-STORE.
#[derive(Debug)]
pub struct Store<'a> {
    /// Its command set.
    pub command: Command,
    /// Its presentation context.
    pub pcid: u8,
    /// The negotiated transfer syntax.
    pub transfer_syntax: String,
    /// The object: the PS3.10 head (`head` bytes; none when the UIDs were not valid), then the
    /// data set as received. The service may take the buffer and leave another in its place.
    pub object: &'a mut Vec<u8>,
    /// The head's length.
    pub head: usize,
    /// The data set passed `max_object_bytes` and was not kept.
    pub too_large: bool,
}

/// An association's inbound state.
#[derive(Debug)]
pub struct Inbound {
    bounds: Bounds,
    /// Accepted presentation contexts: id and transfer syntax.
    contexts: Vec<(u8, String)>,
    command: Vec<u8>,
    pending: Option<(Command, u8)>,
    data: Vec<u8>,
    head: usize,
    too_large: bool,
    /// Bytes left of the current P-DATA PDU, and its deadline.
    pdu_left: usize,
    deadline: Instant,
}

impl Inbound {
    /// A new association's state, with its accepted presentation contexts (id and transfer
    /// syntax UID).
    pub fn new(bounds: Bounds, contexts: Vec<(u8, String)>) -> Inbound {
        Inbound {
            bounds,
            contexts: contexts
                .into_iter()
                .map(|(id, ts)| (id, ts.trim_end_matches('\0').to_string()))
                .collect(),
            command: Vec::new(),
            pending: None,
            data: Vec::new(),
            head: 0,
            too_large: false,
            pdu_left: 0,
            deadline: Instant::now(),
        }
    }

    fn transfer_syntax(&self, pcid: u8) -> Option<&str> {
        self.contexts
            .iter()
            .find(|(id, _)| *id == pcid)
            .map(|(_, ts)| ts.as_str())
    }

    /// Reads until the service has something to do.
    pub fn next<W: Wire>(&mut self, wire: &mut W) -> Result<Step<'_>, DimseError> {
        loop {
            if self.pdu_left == 0 {
                let (kind, len) = pdu_header(wire, after(self.bounds.timeout))?;
                if len > self.bounds.max_pdu {
                    return Err(DimseError::PduTooLarge {
                        len,
                        max: self.bounds.max_pdu,
                    });
                }
                let at_rate = Duration::from_millis(u64::from(len).saturating_mul(1000) / MIN_RATE);
                self.deadline = after(PDU_GRACE.saturating_add(at_rate));
                let len = usize::try_from(len).map_err(|_| DimseError::PduTooLarge {
                    len,
                    max: self.bounds.max_pdu,
                })?;
                if kind != PDATA_TF {
                    return other_pdu(wire, kind, len, self.bounds.max_pdu, self.deadline);
                }
                self.pdu_left = len;
                continue;
            }
            if let Some(step) = self.pdv(wire)? {
                return Ok(match step {
                    Next::Echo { pcid, response } => Step::Echo { pcid, response },
                    Next::Store { command, pcid } => Step::Store(Store {
                        transfer_syntax: self.transfer_syntax(pcid).unwrap_or_default().into(),
                        command,
                        pcid,
                        object: &mut self.data,
                        head: self.head,
                        too_large: self.too_large,
                    }),
                });
            }
        }
    }

    /// Reads one PDV item of the current P-DATA PDU.
    fn pdv<W: Wire>(&mut self, wire: &mut W) -> Result<Option<Next>, DimseError> {
        let deadline = self.deadline;
        let after = self
            .pdu_left
            .checked_sub(PDV_HEADER)
            .ok_or(DimseError::PdvPastPdu {
                item: 0,
                left: self.pdu_left,
            })?;
        let mut head = Vec::with_capacity(PDV_HEADER);
        wire.read_into(&mut head, PDV_HEADER, deadline)?;
        let &[l0, l1, l2, l3, pcid, control] = head.as_slice() else {
            return Err(DimseError::Wire(WireFault::Closed));
        };
        let item = u32::from_be_bytes([l0, l1, l2, l3]);
        let past = DimseError::PdvPastPdu { item, left: after };
        let n = usize::try_from(item)
            .ok()
            .and_then(|i| i.checked_sub(2))
            .filter(|n| *n <= after)
            .ok_or(past)?;
        self.pdu_left = after.saturating_sub(n);
        if self.transfer_syntax(pcid).is_none() {
            return Err(DimseError::UnknownContext(pcid));
        }
        let is_last = control & 0x02 != 0;
        if control & 0x01 != 0 {
            if self.command.len().saturating_add(n) > MAX_COMMAND {
                return Err(DimseError::CommandTooLarge);
            }
            wire.read_into(&mut self.command, n, deadline)?;
            if !is_last {
                return Ok(None);
            }
            let c = parse_command(&std::mem::take(&mut self.command))?;
            return match c.field {
                C_ECHO_RQ => Ok(Some(Next::Echo {
                    pcid,
                    response: response(C_ECHO_RSP, &c, STATUS_SUCCESS),
                })),
                C_STORE_RQ if c.has_data => {
                    self.data.clear();
                    self.head = 0;
                    let ts = self.transfer_syntax(pcid).unwrap_or_default();
                    if valid_uid(&c.sop_class) && valid_uid(&c.sop_instance) && valid_uid(ts) {
                        let head = part10_header(&c.sop_class, &c.sop_instance, ts);
                        self.data.extend_from_slice(&head);
                        self.head = self.data.len();
                    }
                    self.pending = Some((c, pcid));
                    self.too_large = false;
                    Ok(None)
                }
                other => Err(DimseError::Unsupported(other)),
            };
        }
        if self.pending.is_none() {
            return Err(DimseError::DataWithoutCommand);
        }
        let received = u64::try_from(self.data.len().saturating_sub(self.head)).unwrap_or(u64::MAX);
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        if received.saturating_add(n64) > self.bounds.max_object_bytes {
            self.too_large = true;
            self.data.clear();
        }
        if self.too_large {
            skip(wire, n, deadline)?;
        } else {
            wire.read_into(&mut self.data, n, deadline)?;
        }
        if !is_last {
            return Ok(None);
        }
        Ok(self
            .pending
            .take()
            .map(|(command, pcid)| Next::Store { command, pcid }))
    }
}

/// What a PDV item completed.
enum Next {
    Echo { pcid: u8, response: Vec<u8> },
    Store { command: Command, pcid: u8 },
}

/// `d` from now (now itself, a deadline already past, should the clock overflow).
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or(now)
}

/// The next PDU's type and length (its 6-byte header), by `deadline`.
fn pdu_header<W: Wire>(wire: &mut W, deadline: Instant) -> Result<(u8, u32), DimseError> {
    let mut head = Vec::with_capacity(6);
    wire.read_into(&mut head, 6, deadline)?;
    match head.as_slice() {
        &[kind, _, a, b, c, d] => Ok((kind, u32::from_be_bytes([a, b, c, d]))),
        _ => Err(DimseError::Wire(WireFault::Closed)),
    }
}

/// A PDU other than P-DATA: read whole (its length is within the maximum) and parsed by
/// dicom-ul.
fn other_pdu<W: Wire>(
    wire: &mut W,
    kind: u8,
    len: usize,
    max_pdu: u32,
    deadline: Instant,
) -> Result<Step<'static>, DimseError> {
    let mut whole = vec![kind, 0];
    whole.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    wire.read_into(&mut whole, len, deadline)?;
    match dicom_ul::read_pdu(&whole[..], max_pdu.max(MIN_PDU), false) {
        Ok(Some(Pdu::ReleaseRQ)) => Ok(Step::Release),
        Ok(Some(Pdu::AbortRQ { .. })) => Ok(Step::Aborted),
        _ => Err(DimseError::UnexpectedPdu(kind)),
    }
}

/// Reads and throws away `n` bytes (a data set past the limit).
fn skip<W: Wire>(wire: &mut W, mut n: usize, deadline: Instant) -> Result<(), WireFault> {
    let mut scratch = Vec::with_capacity(64 << 10);
    while n > 0 {
        let step = n.min(64 << 10);
        scratch.clear();
        wire.read_into(&mut scratch, step, deadline)?;
        n = n.saturating_sub(step);
    }
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::super::command::{STATUS_SUCCESS, parse_command, store_rq};
    use super::super::part10::file_meta;
    use super::*;

    const TS: &str = "1.2.840.10008.1.2.1";
    const CLASS: &str = "1.2.840.10008.5.1.4.1.1.501.1";

    fn pdata(pcid: u8, control: u8, value: &[u8]) -> Vec<u8> {
        let item = u32::try_from(value.len() + 2).unwrap();
        let mut out = vec![PDATA_TF, 0];
        out.extend_from_slice(&(item + 4).to_be_bytes());
        out.extend_from_slice(&item.to_be_bytes());
        out.extend_from_slice(&[pcid, control]);
        out.extend_from_slice(value);
        out
    }

    fn inbound(max_object: u64) -> Inbound {
        Inbound::new(
            Bounds {
                max_pdu: 1 << 16,
                max_object_bytes: max_object,
                timeout: Duration::from_secs(1),
            },
            vec![(1, format!("{TS}\0"))],
        )
    }

    #[test]
    fn a_store_arrives_behind_its_head_and_an_echo_is_answered() {
        let mut wire = Vec::new();
        wire.extend(pdata(1, 0x03, &store_rq(1, CLASS, "1.2.3")));
        wire.extend(pdata(1, 0x00, b"\x08\x00\x16\x00"));
        wire.extend(pdata(1, 0x02, b"rest"));
        wire.extend(pdata(1, 0x03, &response(C_ECHO_RQ, &Command::default(), 0)));
        wire.extend([0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
        let mut w = ReadWire(&wire[..]);
        let mut m = inbound(1 << 20);
        let Step::Store(s) = m.next(&mut w).unwrap() else {
            panic!("no store")
        };
        assert!(!s.too_large);
        assert_eq!(s.transfer_syntax, TS);
        assert_eq!(&s.object[s.head..], b"\x08\x00\x16\x00rest");
        let meta = file_meta(s.object).unwrap();
        assert_eq!(
            (meta.sop_class.as_str(), meta.sop_instance.as_str()),
            (CLASS, "1.2.3")
        );
        let Step::Echo { pcid, response } = m.next(&mut w).unwrap() else {
            panic!("no echo")
        };
        assert_eq!(pcid, 1);
        let r = parse_command(&response).unwrap();
        assert_eq!((r.field, r.status), (C_ECHO_RSP, STATUS_SUCCESS));
        assert!(matches!(m.next(&mut w).unwrap(), Step::Release));
    }

    #[test]
    fn a_data_set_past_the_limit_is_read_and_refused() {
        let mut wire = pdata(1, 0x03, &store_rq(1, CLASS, "1.2.3"));
        wire.extend(pdata(1, 0x02, &[7u8; 100]));
        let mut m = inbound(99);
        let Step::Store(s) = m.next(&mut ReadWire(&wire[..])).unwrap() else {
            panic!("no store")
        };
        assert!(s.too_large);
        assert!(s.object.is_empty());
    }

    #[test]
    fn protocol_breaks_are_typed() {
        let mut m = inbound(1 << 20);
        let big = [PDATA_TF, 0, 0, 2, 0, 0];
        assert!(matches!(
            m.next(&mut ReadWire(&big[..])),
            Err(DimseError::PduTooLarge { .. })
        ));
        let data_first = pdata(1, 0x02, b"xx");
        assert!(matches!(
            inbound(9).next(&mut ReadWire(&data_first[..])),
            Err(DimseError::DataWithoutCommand)
        ));
        let other_ctx = pdata(3, 0x03, b"xx");
        assert!(matches!(
            inbound(9).next(&mut ReadWire(&other_ctx[..])),
            Err(DimseError::UnknownContext(3))
        ));
        let mut lying = pdata(1, 0x03, &store_rq(1, CLASS, "1.2.3"));
        lying[9] = 0xFF;
        assert!(matches!(
            inbound(9).next(&mut ReadWire(&lying[..])),
            Err(DimseError::PdvPastPdu { .. })
        ));
        let cut = &pdata(1, 0x03, &store_rq(1, CLASS, "1.2.3"))[..20];
        assert!(matches!(
            inbound(9).next(&mut ReadWire(cut)),
            Err(DimseError::Wire(WireFault::Closed))
        ));
    }
}
