//! The edge's DICOM service: C-ECHO and C-STORE over dicom-ul associations, for an allow-list
//! of calling AE titles. It only frames: the command set is read by the small bounded parser
//! below, the data set is not parsed at all; it is wrapped in a PS3.10 file header built from
//! the negotiated values and spooled. The sanitiser on the customs side parses it.
//!
//! Connections are disciplined before a byte of them is trusted, so that no host in the
//! enclave can keep allowed scanners out by holding sockets open:
//!
//! * At most `max_per_peer` connections per peer address; a peer at its bound that connects
//!   again gives up its own oldest connection still waiting for its request (or is closed).
//! * A connection must present its whole A-ASSOCIATE-RQ within the ARTIM time (PS3.8 §9.1.5,
//!   the association request/reject/release timer; `artim_s`), or it is cut. Waiting
//!   connections are bounded apart (`max_waiting`), the oldest giving way to a new one, so
//!   that a scanner's fresh connection, whose request follows at once, always gets through.
//! * Once associated, each PDU must arrive whole within a deadline (a grace plus its length at
//!   a floor rate), and the next PDU must begin within `timeout_s`: idle and dribbling peers
//!   are cut.

use std::io::Read as _;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dicom_ul::association::SyncAssociation;
use dicom_ul::association::server::{AccessControl, ServerAssociation, ServerAssociationOptions};
use dicom_ul::pdu::{
    AssociationRJServiceUserReason, PDataValue, PDataValueType, Pdu, UserIdentity,
};
use sluis_link::{SenderMetrics, Spool, SpoolError};
use sluis_scan::{SopClass, TransferSyntax};

/// The DIMSE command fields the edge answers.
const C_STORE_RQ: u16 = 0x0001;
const C_STORE_RSP: u16 = 0x8001;
const C_ECHO_RQ: u16 = 0x0030;
const C_ECHO_RSP: u16 = 0x8030;
const VERIFICATION: &str = "1.2.840.10008.1.1";
/// The largest command set read (real ones are a few hundred bytes).
const MAX_COMMAND: usize = 16 * 1024;
const STATUS_SUCCESS: u16 = 0x0000;
const STATUS_OUT_OF_RESOURCES: u16 = 0xA700;
const STATUS_CANNOT_UNDERSTAND: u16 = 0xC000;
/// Our implementation class UID (under the UUID-derived root 2.25) and version name.
const IMPLEMENTATION_UID: &str = "2.25.171350532887437214946536930917563491027";
const IMPLEMENTATION_NAME: &str = "SLUIS_EDGE";

/// The DICOM service's settings.
#[derive(Debug, Clone)]
pub(crate) struct DicomConfig {
    pub ae_title: String,
    pub allowed_calling: Vec<String>,
    pub max_pdu: u32,
    pub max_associations: usize,
    pub max_object_bytes: u64,
    /// The longest wait for the next PDU of an association.
    pub timeout: Duration,
    /// The longest wait for a connection's association request (ARTIM).
    pub artim: Duration,
    /// Connections at most from one peer address.
    pub max_per_peer: usize,
    /// Connections at most waiting for their association request.
    pub max_waiting: usize,
}

/// The largest A-ASSOCIATE-RQ waited for (real ones are a few KiB; it must fit the socket's
/// receive buffer, where it is waited for without being read).
const MAX_REQUEST: u32 = 64 * 1024;
/// A PDU's time: this grace plus its length at [`MIN_RATE`].
const PDU_GRACE: Duration = Duration::from_secs(10);
/// The slowest rate (bytes per second) a peer may send a PDU at.
const MIN_RATE: u64 = 256 * 1024;

/// The connections the DICOM service holds, for the bounds per peer and for waiting ones.
#[derive(Default)]
struct Connections {
    next: u64,
    open: Vec<Connection>,
}

struct Connection {
    id: u64,
    peer: std::net::IpAddr,
    associated: bool,
    since: Instant,
    /// A handle to shut the socket down when the connection is given up for a newer one.
    socket: TcpStream,
}

impl Connections {
    /// Admits a new connection from `peer`, giving up older waiting ones where a bound says
    /// so (counted in `given_up`); `None` if it must be closed at once (its peer holds its bound
    /// in associations).
    fn admit(
        &mut self,
        stream: &TcpStream,
        peer: std::net::IpAddr,
        cfg: &DicomConfig,
        given_up: &prometheus_client::metrics::counter::Counter,
    ) -> Option<u64> {
        let from_peer = self.open.iter().filter(|c| c.peer == peer).count();
        if from_peer >= cfg.max_per_peer.max(1) {
            if !self.give_up_oldest_waiting(Some(peer)) {
                return None;
            }
            given_up.inc();
        }
        let waiting = self.open.iter().filter(|c| !c.associated).count();
        if waiting >= cfg.max_waiting.max(1) && self.give_up_oldest_waiting(None) {
            given_up.inc();
        }
        let socket = stream.try_clone().ok()?;
        self.next += 1;
        self.open.push(Connection {
            id: self.next,
            peer,
            associated: false,
            since: Instant::now(),
            socket,
        });
        Some(self.next)
    }

    /// Shuts down the oldest connection still waiting for its request (of `peer`, if given).
    fn give_up_oldest_waiting(&mut self, peer: Option<std::net::IpAddr>) -> bool {
        let oldest = self
            .open
            .iter()
            .filter(|c| !c.associated && peer.is_none_or(|p| c.peer == p))
            .min_by_key(|c| c.since)
            .map(|c| c.id);
        let Some(id) = oldest else {
            return false;
        };
        if let Some(i) = self.open.iter().position(|c| c.id == id) {
            let c = self.open.swap_remove(i);
            let _ = c.socket.shutdown(std::net::Shutdown::Both);
        }
        true
    }

    /// Marks `id` associated, if there is room for one more association.
    fn associate(&mut self, id: u64, max: usize) -> bool {
        let n = self.open.iter().filter(|c| c.associated).count();
        match self.open.iter_mut().find(|c| c.id == id) {
            Some(c) if n < max => {
                c.associated = true;
                true
            }
            _ => false,
        }
    }

    /// Forgets `id`; returns whether it was still held (not given up for a newer one).
    fn close(&mut self, id: u64) -> bool {
        let before = self.open.len();
        self.open.retain(|c| c.id != id);
        self.open.len() < before
    }
}

/// Waits, without reading, until the socket holds a whole A-ASSOCIATE-RQ (so that dicom-ul's
/// handshake, which reads it, cannot be held up), within the ARTIM time.
fn await_request(stream: &TcpStream, artim: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + artim;
    let mut want = 6usize;
    let mut buf = vec![0u8; want];
    loop {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            anyhow::bail!("no association request within the ARTIM time ({artim:?})");
        };
        stream.set_read_timeout(Some(left))?;
        let n = match stream.peek(&mut buf) {
            Ok(0) => anyhow::bail!("closed before its association request"),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if want == 6 && n == 6 {
            let &[kind, _, a, b, c, d] = buf.as_slice() else {
                anyhow::bail!("short PDU header");
            };
            if kind != 0x01 {
                anyhow::bail!("the first PDU is of type {kind:#04x}, not an A-ASSOCIATE-RQ");
            }
            let len = u32::from_be_bytes([a, b, c, d]);
            if len > MAX_REQUEST {
                anyhow::bail!("an association request of {len} bytes, past {MAX_REQUEST}");
            }
            want = 6 + len as usize;
            buf.resize(want, 0);
            continue;
        }
        if n == want && want > 6 {
            return Ok(());
        }
        // Part of it is there: look again shortly (peek returns at once while bytes wait).
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct AllowList(Vec<String>);

impl AccessControl for AllowList {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if called_ae_title.trim() != this_ae_title.trim() {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if self.0.iter().any(|a| a == calling_ae_title.trim()) {
            Ok(())
        } else {
            tracing::warn!(
                calling = calling_ae_title,
                "association from a calling AE title not on the allow-list"
            );
            Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized)
        }
    }
}

/// A command set, as far as the edge reads it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Command {
    pub field: u16,
    pub message_id: u16,
    pub sop_class: String,
    pub sop_instance: String,
    pub has_data: bool,
    pub status: u16,
}

/// Reads a command set: implicit VR little endian, group 0000 only, each element
/// `tag(4) length(4) value`. Written by hand because the untrusted side must not run a general
/// DICOM parser; this one checks every length against what remains and reads five elements.
pub(crate) fn parse_command(bytes: &[u8]) -> Result<Command, String> {
    let mut c = Command {
        has_data: true,
        ..Command::default()
    };
    let mut rest = bytes;
    while !rest.is_empty() {
        let (head, tail) = rest
            .split_first_chunk::<8>()
            .ok_or("command element header truncated")?;
        let group = u16::from_le_bytes([head[0], head[1]]);
        let element = u16::from_le_bytes([head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        if group != 0 {
            return Err(format!(
                "element ({group:04X},{element:04X}) in a command set"
            ));
        }
        if len > tail.len() {
            return Err("command element length past the end".into());
        }
        let (value, after) = tail.split_at(len);
        let text = || {
            String::from_utf8_lossy(value)
                .trim_end_matches(['\0', ' '])
                .to_string()
        };
        let us = || value.get(..2).map(|v| u16::from_le_bytes([v[0], v[1]]));
        match element {
            0x0002 => c.sop_class = text(),
            0x0100 => c.field = us().ok_or("short command field")?,
            0x0110 => c.message_id = us().ok_or("short message id")?,
            0x0800 => c.has_data = us().ok_or("short data set type")? != 0x0101,
            0x0900 => c.status = us().ok_or("short status")?,
            0x1000 => c.sop_instance = text(),
            _ => {}
        }
        rest = after;
    }
    Ok(c)
}

fn put_element(out: &mut Vec<u8>, element: u16, value: &[u8]) {
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

fn uid_value(uid: &str) -> Vec<u8> {
    let mut v = uid.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

/// Encodes a response command set.
pub(crate) fn response(field: u16, to: &Command, status: u16) -> Vec<u8> {
    let mut body = Vec::new();
    put_element(&mut body, 0x0002, &uid_value(&to.sop_class));
    put_element(&mut body, 0x0100, &field.to_le_bytes());
    put_element(&mut body, 0x0120, &to.message_id.to_le_bytes());
    put_element(&mut body, 0x0800, &0x0101u16.to_le_bytes());
    put_element(&mut body, 0x0900, &status.to_le_bytes());
    if !to.sop_instance.is_empty() {
        put_element(&mut body, 0x1000, &uid_value(&to.sop_instance));
    }
    let mut out = Vec::with_capacity(body.len() + 12);
    put_element(&mut out, 0x0000, &(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !uid.starts_with('.')
        && !uid.ends_with('.')
        && !uid.contains("..")
}

/// The head of a PS3.10 file: preamble, `DICM`, and a file meta group written here from the
/// negotiated values. The file is this head followed by the data set's bytes exactly as received.
pub(crate) fn part10_header(sop_class: &str, sop_instance: &str, transfer_syntax: &str) -> Vec<u8> {
    fn meta_element(out: &mut Vec<u8>, element: u16, vr: &[u8; 2], value: &[u8]) {
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&element.to_le_bytes());
        out.extend_from_slice(vr);
        if vr == b"OB" {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        out.extend_from_slice(value);
    }
    let mut name = IMPLEMENTATION_NAME.as_bytes().to_vec();
    if name.len() % 2 == 1 {
        name.push(b' ');
    }
    let mut group = Vec::new();
    meta_element(&mut group, 0x0001, b"OB", &[0, 1]);
    meta_element(&mut group, 0x0002, b"UI", &uid_value(sop_class));
    meta_element(&mut group, 0x0003, b"UI", &uid_value(sop_instance));
    meta_element(&mut group, 0x0010, b"UI", &uid_value(transfer_syntax));
    meta_element(&mut group, 0x0012, b"UI", &uid_value(IMPLEMENTATION_UID));
    meta_element(&mut group, 0x0013, b"SH", &name);
    let mut out = Vec::with_capacity(132 + 12 + group.len());
    out.resize(128, 0);
    out.extend_from_slice(b"DICM");
    meta_element(&mut out, 0x0000, b"UL", &(group.len() as u32).to_le_bytes());
    out.extend_from_slice(&group);
    out
}

/// Accepts associations until `stop`.
pub(crate) fn serve(
    listener: TcpListener,
    cfg: DicomConfig,
    spool: Arc<Spool>,
    metrics: SenderMetrics,
    stop: Arc<AtomicBool>,
) {
    let conns = Arc::new(std::sync::Mutex::new(Connections::default()));
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!(error = %e, "DICOM listener");
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        let (stream, peer) = match listener.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept");
                continue;
            }
        };
        let admitted = conns.lock().unwrap_or_else(|p| p.into_inner()).admit(
            &stream,
            peer.ip(),
            &cfg,
            &metrics.connections_refused,
        );
        let Some(id) = admitted else {
            metrics.connections_refused.inc();
            tracing::warn!(%peer, "connections from this peer at their bound; closing");
            drop(stream);
            continue;
        };
        let (cfg, spool, metrics, conns) =
            (cfg.clone(), spool.clone(), metrics.clone(), conns.clone());
        std::thread::spawn(move || {
            let lock = || conns.lock().unwrap_or_else(|p| p.into_inner());
            let r = stream
                .set_nonblocking(false)
                .map_err(anyhow::Error::from)
                .and_then(|()| await_request(&stream, cfg.artim));
            match r {
                Err(e) => {
                    // One given up for a newer connection was counted as refused already.
                    if lock().close(id) {
                        metrics.connections_cut.inc();
                    }
                    tracing::info!(%peer, error = %e, "connection cut before its association");
                }
                Ok(()) if !lock().associate(id, cfg.max_associations) => {
                    metrics.connections_refused.inc();
                    tracing::warn!(%peer, "too many associations; closing");
                }
                Ok(()) => {
                    if let Err(e) = association(stream, &cfg, &spool, &metrics) {
                        tracing::info!(%peer, error = %e, "association ended");
                    }
                }
            }
            let _ = lock().close(id);
        });
    }
}

fn association(
    stream: TcpStream,
    cfg: &DicomConfig,
    spool: &Spool,
    metrics: &SenderMetrics,
) -> anyhow::Result<()> {
    stream.set_nonblocking(false)?;
    // Without this every C-STORE waits on delayed ACKs (about 2 x 40 ms).
    stream.set_nodelay(true)?;
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut options = ServerAssociationOptions::new()
        .ae_access_control(AllowList(cfg.allowed_calling.clone()))
        .ae_title(cfg.ae_title.clone())
        .max_pdu_length(cfg.max_pdu)
        .read_timeout(cfg.timeout)
        .write_timeout(cfg.timeout)
        .with_abstract_syntax(VERIFICATION);
    for class in SopClass::ALL {
        options = options.with_abstract_syntax(class.uid());
    }
    for ts in TransferSyntax::ALL {
        options = options.with_transfer_syntax(ts.uid());
    }
    let mut assoc = options.establish(stream)?;
    let calling = dicom_ul::association::Association::peer_ae_title(&assoc).to_string();
    let contexts: Vec<(u8, String)> = assoc
        .presentation_contexts()
        .iter()
        .map(|pc| (pc.id, pc.transfer_syntax.clone()))
        .collect();
    let mut command = Vec::new();
    let mut pending: Option<(Command, u8)> = None;
    // The object as it will be spooled: the Part 10 head, written when the command arrives,
    // then the data set as received.
    let mut data: Vec<u8> = Vec::new();
    let mut head_len = 0usize;
    let mut too_large = false;
    loop {
        // P-DATA-TF PDUs are read here, each value straight to where it goes (the data set into
        // the object's buffer); other PDUs are parsed by dicom-ul. The next PDU must begin
        // within the timeout, and arrive whole within its own deadline.
        // A peer cut for being too slow is counted (one that closes is not).
        let slow = |e: anyhow::Error| {
            if e.downcast_ref::<TooSlow>().is_some() {
                metrics.connections_cut.inc();
            }
            e
        };
        let (kind, len) = pdu_header(&mut assoc, Instant::now() + cfg.timeout).map_err(slow)?;
        if len > cfg.max_pdu {
            let _ = assoc.abort();
            anyhow::bail!("PDU of {len} bytes, past the {} negotiated", cfg.max_pdu);
        }
        let deadline =
            Instant::now() + PDU_GRACE + Duration::from_millis(u64::from(len) * 1000 / MIN_RATE);
        if kind != PDATA_TF {
            let mut whole = vec![kind, 0];
            whole.extend_from_slice(&len.to_be_bytes());
            read_into(&mut assoc, &mut whole, len as usize, deadline).map_err(slow)?;
            match dicom_ul::read_pdu(&whole[..], cfg.max_pdu.max(MIN_PDU), false) {
                Ok(Some(Pdu::ReleaseRQ)) => {
                    assoc.send(&Pdu::ReleaseRP)?;
                    return Ok(());
                }
                Ok(Some(Pdu::AbortRQ { .. })) => return Ok(()),
                _ => {
                    let _ = assoc.abort();
                    anyhow::bail!("unexpected PDU");
                }
            }
        }
        let mut left = len as usize;
        while left > 0 {
            let Some(after) = left.checked_sub(PDV_HEADER) else {
                anyhow::bail!("a PDV item header runs past its PDU");
            };
            let mut head = Vec::with_capacity(PDV_HEADER);
            read_into(&mut assoc, &mut head, PDV_HEADER, deadline).map_err(slow)?;
            let &[l0, l1, l2, l3, pcid, control] = head.as_slice() else {
                anyhow::bail!("short PDV item header");
            };
            let item = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
            let Some(n) = item.checked_sub(2).filter(|n| *n <= after) else {
                anyhow::bail!("PDV item of {item} bytes in {after} left of its PDU");
            };
            left = after - n;
            let is_last = control & 0x02 != 0;
            if control & 0x01 != 0 {
                if command.len() + n > MAX_COMMAND {
                    anyhow::bail!("command set larger than {MAX_COMMAND} bytes");
                }
                read_into(&mut assoc, &mut command, n, deadline).map_err(slow)?;
                if !is_last {
                    continue;
                }
                let c = parse_command(&std::mem::take(&mut command)).map_err(anyhow::Error::msg)?;
                match c.field {
                    C_ECHO_RQ => {
                        let rsp = response(C_ECHO_RSP, &c, STATUS_SUCCESS);
                        assoc.send(&command_pdu(pcid, rsp))?;
                    }
                    C_STORE_RQ if c.has_data => {
                        data.clear();
                        head_len = 0;
                        let ts = transfer_syntax(&contexts, pcid);
                        if valid_uid(&c.sop_class) && valid_uid(&c.sop_instance) && valid_uid(&ts) {
                            data.extend_from_slice(&part10_header(
                                &c.sop_class,
                                &c.sop_instance,
                                &ts,
                            ));
                            head_len = data.len();
                        }
                        pending = Some((c, pcid));
                        too_large = false;
                    }
                    other => anyhow::bail!("unsupported command 0x{other:04X}"),
                }
            } else {
                let Some((c, pc)) = pending.as_ref() else {
                    anyhow::bail!("data without a C-STORE command");
                };
                let received = data.len().saturating_sub(head_len) as u64;
                if received + n as u64 > cfg.max_object_bytes {
                    too_large = true;
                    data.clear();
                }
                if too_large {
                    skip(&mut assoc, n, deadline).map_err(slow)?;
                } else {
                    read_into(&mut assoc, &mut data, n, deadline).map_err(slow)?;
                }
                if !is_last {
                    continue;
                }
                let ts = transfer_syntax(&contexts, *pc);
                let received = Received {
                    bytes: &mut data,
                    head: head_len,
                    too_large,
                };
                let status = store(c, &ts, received, &calling, &peer, spool, metrics);
                let rsp = response(C_STORE_RSP, c, status);
                let pcid = *pc;
                pending = None;
                // The buffer (or an emptied one from the spool) is kept for the next object of
                // the association: growing a new buffer for every scan copies it at each
                // doubling and touches fresh pages.
                data.clear();
                assoc.send(&command_pdu(pcid, rsp))?;
            }
        }
    }
}

/// PDU type of P-DATA-TF.
const PDATA_TF: u8 = 0x04;
/// A PDV item's header: item length (4), presentation context (1), control header (1).
const PDV_HEADER: usize = 6;
/// The smallest maximum PDU length dicom-ul parses with.
const MIN_PDU: u32 = 4096;

/// The association's socket and what dicom-ul has read from it past the last PDU.
type Wire<'a> = (&'a mut TcpStream, &'a mut bytes::BytesMut);

/// The next PDU's type and length (its 6-byte header), by `deadline`.
fn pdu_header(
    assoc: &mut ServerAssociation<TcpStream>,
    deadline: Instant,
) -> anyhow::Result<(u8, u32)> {
    let mut head = Vec::with_capacity(6);
    read_into(assoc, &mut head, 6, deadline)?;
    match head.as_slice() {
        &[kind, _, a, b, c, d] => Ok((kind, u32::from_be_bytes([a, b, c, d]))),
        _ => anyhow::bail!("short PDU header"),
    }
}

/// A peer that did not send what it owed by its deadline.
#[derive(Debug)]
struct TooSlow;

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the peer sent too slowly: cut at its deadline")
    }
}

impl std::error::Error for TooSlow {}

/// Appends exactly `n` bytes of the association's stream to `buf` by `deadline`: first what
/// dicom-ul had read ahead, then straight from the socket into `buf`'s spare room (no
/// intermediate buffer; dicom-ul's own reader copied each PDU three times, in 8 KiB reads).
/// Written here because dicom-ul offers no way to receive a data set into the caller's buffer.
/// A peer that dribbles is cut at the deadline however often it sends a byte.
fn read_into(
    assoc: &mut ServerAssociation<TcpStream>,
    buf: &mut Vec<u8>,
    n: usize,
    deadline: Instant,
) -> anyhow::Result<()> {
    let (sock, ahead): Wire<'_> = SyncAssociation::get_mut(assoc);
    let from_ahead = n.min(ahead.len());
    buf.extend_from_slice(ahead.split_to(from_ahead).as_ref());
    let want = buf.len() + (n - from_ahead);
    while buf.len() < want {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return Err(TooSlow.into());
        };
        sock.set_read_timeout(Some(left))?;
        let before = buf.len();
        match (&mut *sock).take((want - before) as u64).read_to_end(buf) {
            Ok(0) => anyhow::bail!("the peer closed the connection inside a PDU"),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads and throws away `n` bytes of the association's stream (a data set past the limit).
fn skip(
    assoc: &mut ServerAssociation<TcpStream>,
    mut n: usize,
    deadline: Instant,
) -> anyhow::Result<()> {
    let mut scratch = Vec::with_capacity(64 << 10);
    while n > 0 {
        let step = n.min(64 << 10);
        scratch.clear();
        read_into(assoc, &mut scratch, step, deadline)?;
        n -= step;
    }
    Ok(())
}

/// The negotiated transfer syntax of a presentation context.
fn transfer_syntax(contexts: &[(u8, String)], pcid: u8) -> String {
    contexts
        .iter()
        .find(|(id, _)| *id == pcid)
        .map(|(_, ts)| ts.trim_end_matches('\0').to_string())
        .unwrap_or_default()
}

/// A received C-STORE data set.
struct Received<'a> {
    /// The Part 10 head (`head` bytes; none when the UIDs were not valid) and the data set.
    bytes: &'a mut Vec<u8>,
    head: usize,
    /// It passed `max_object_bytes` (and was not kept).
    too_large: bool,
}

#[allow(clippy::too_many_arguments)]
fn store(
    c: &Command,
    ts: &str,
    received: Received<'_>,
    calling: &str,
    peer: &str,
    spool: &Spool,
    metrics: &SenderMetrics,
) -> u16 {
    if received.too_large {
        metrics.inputs_refused.inc();
        tracing::warn!(calling, "C-STORE larger than max_object_bytes refused");
        return STATUS_OUT_OF_RESOURCES;
    }
    // The head is written when the command arrives, only for valid UIDs.
    if received.head == 0 {
        metrics.inputs_refused.inc();
        return STATUS_CANNOT_UNDERSTAND;
    }
    let meta = serde_json::json!({
        "source": "dicom",
        "calling_ae": calling,
        "peer": peer,
        "sop_class": c.sop_class,
        "sop_instance": c.sop_instance,
        "transfer_syntax": ts,
        "received": sluis_vault::vault::now(),
    })
    .to_string();
    let length = received.bytes.len();
    // The buffer goes to the spool (and on to the sender); an emptied one comes back.
    let put = spool.put_owned(received.bytes, &meta);
    if received.bytes.capacity() < length {
        received.bytes.reserve(length);
    }
    match put {
        Ok(id) => {
            metrics.objects_spooled.inc();
            tracing::debug!(id, calling, "spooled");
            STATUS_SUCCESS
        }
        Err(SpoolError::Full { .. }) => {
            metrics.inputs_refused.inc();
            tracing::warn!("spool full: refusing C-STORE until the link catches up");
            STATUS_OUT_OF_RESOURCES
        }
        Err(e) => {
            tracing::error!(error = %e, "spool");
            STATUS_OUT_OF_RESOURCES
        }
    }
}

/// A command set in one P-DATA PDU.
fn command_pdu(pcid: u8, command: Vec<u8>) -> Pdu {
    Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pcid,
            value_type: PDataValueType::Command,
            is_last: true,
            data: command,
        }],
    }
}

/// A C-STORE-RQ command set.
fn store_rq(message_id: u16, sop_class: &str, sop_instance: &str) -> Vec<u8> {
    let mut body = Vec::new();
    put_element(&mut body, 0x0002, &uid_value(sop_class));
    put_element(&mut body, 0x0100, &C_STORE_RQ.to_le_bytes());
    put_element(&mut body, 0x0110, &message_id.to_le_bytes());
    put_element(&mut body, 0x0700, &0u16.to_le_bytes());
    put_element(&mut body, 0x0800, &0u16.to_le_bytes());
    put_element(&mut body, 0x1000, &uid_value(sop_instance));
    let mut out = Vec::with_capacity(body.len() + 12);
    put_element(&mut out, 0x0000, &(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A PS3.10 file's SOP class, instance, transfer syntax, and where its data set starts. For
/// files sluis made itself (the demo's scanner): the meta group in explicit VR little endian.
pub(crate) fn file_meta(file: &[u8]) -> anyhow::Result<(String, String, String, usize)> {
    if file.get(128..132) != Some(b"DICM") {
        anyhow::bail!("not a PS3.10 file");
    }
    let mut at = 132;
    let (mut class, mut instance, mut ts) = (String::new(), String::new(), String::new());
    while let Some(head) = file.get(at..at + 8) {
        if u16::from_le_bytes([head[0], head[1]]) != 2 {
            break;
        }
        let element = u16::from_le_bytes([head[2], head[3]]);
        let vr = &head[4..6];
        let (len, start) = if matches!(vr, b"OB" | b"OW" | b"UN" | b"SQ" | b"UT") {
            let l = file
                .get(at + 8..at + 12)
                .ok_or_else(|| anyhow::anyhow!("meta truncated"))?;
            (
                u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize,
                at + 12,
            )
        } else {
            (usize::from(u16::from_le_bytes([head[6], head[7]])), at + 8)
        };
        let value = file
            .get(start..start + len)
            .ok_or_else(|| anyhow::anyhow!("meta truncated"))?;
        let text = String::from_utf8_lossy(value)
            .trim_end_matches(['\0', ' '])
            .to_string();
        match element {
            0x0002 => class = text,
            0x0003 => instance = text,
            0x0010 => ts = text,
            _ => {}
        }
        at = start + len;
    }
    Ok((class, instance, ts, at))
}

/// The demo's synthetic scanner: sends `files` by C-STORE over one association at most `rate`
/// files per second, calling `sent` after each acknowledged store. Returns how many the edge
/// accepted.
pub(crate) fn store_scu(
    addr: &str,
    calling: &str,
    called: &str,
    files: &[std::path::PathBuf],
    rate: f64,
    sent: &mut dyn FnMut(usize),
) -> anyhow::Result<usize> {
    use dicom_ul::association::client::ClientAssociationOptions;
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title(calling)
        .called_ae_title(called)
        .max_pdu_length(128 * 1024);
    for class in SopClass::ALL {
        options = options.with_presentation_context(
            class.uid(),
            vec![TransferSyntax::ExplicitVrLittleEndian.uid()],
        );
    }
    let mut assoc = options.establish_with(addr)?;
    let contexts: Vec<(u8, String)> = assoc
        .presentation_contexts()
        .iter()
        .filter(|pc| pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance)
        .map(|pc| (pc.id, pc.abstract_syntax.trim_end_matches('\0').to_string()))
        .collect();
    let chunk = (assoc.acceptor_max_pdu_length().max(16 * 1024) as usize).saturating_sub(64);
    let started = std::time::Instant::now();
    let mut accepted = 0;
    for (i, path) in files.iter().enumerate() {
        if rate > 0.0 {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let bytes = std::fs::read(path)?;
        let (class, instance, _ts, start) = file_meta(&bytes)?;
        let Some((pcid, _)) = contexts.iter().find(|(_, c)| *c == class) else {
            anyhow::bail!("{}: no presentation context for {class}", path.display());
        };
        assoc.send(&command_pdu(
            *pcid,
            store_rq(i as u16 + 1, &class, &instance),
        ))?;
        let data = &bytes[start..];
        let mut pieces = data.chunks(chunk).peekable();
        while let Some(piece) = pieces.next() {
            assoc.send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: *pcid,
                    value_type: PDataValueType::Data,
                    is_last: pieces.peek().is_none(),
                    data: piece.to_vec(),
                }],
            })?;
        }
        match assoc.receive()? {
            Pdu::PData { data } => {
                let rsp = data
                    .into_iter()
                    .find(|v| v.value_type == PDataValueType::Command)
                    .ok_or_else(|| anyhow::anyhow!("no C-STORE response"))?;
                let c = parse_command(&rsp.data).map_err(anyhow::Error::msg)?;
                if c.status == STATUS_SUCCESS {
                    accepted += 1;
                }
            }
            other => anyhow::bail!("unexpected PDU {other:?}"),
        }
        sent(i + 1);
    }
    let _ = assoc.release();
    Ok(accepted)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_response_reads_back_as_the_command_it_answers() {
        let rq = Command {
            field: C_STORE_RQ,
            message_id: 7,
            sop_class: "1.2.840.10008.5.1.4.1.1.501.2.1".into(),
            sop_instance: "1.2.3".into(),
            has_data: true,
            status: 0,
        };

        let rsp = parse_command(&response(C_STORE_RSP, &rq, STATUS_SUCCESS)).unwrap();
        assert_eq!(rsp.field, C_STORE_RSP);
        assert_eq!(rsp.sop_class, rq.sop_class);
        assert_eq!(rsp.sop_instance, rq.sop_instance);
        assert!(!rsp.has_data);
    }

    #[test]
    fn hostile_command_sets_are_refused_without_panic() {
        for bad in [
            &[0u8, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF][..],
            &[8, 0, 0x10, 0, 0, 0, 0, 0],
            &[0, 0, 0],
        ] {
            assert!(parse_command(bad).is_err());
        }
    }
}
