//! The edge's DICOM service (SCP): C-ECHO and C-STORE over dicom-ul associations, for an
//! allow-list of calling AE titles. It only frames: the command set is read by
//! [`super::command`], the data set not at all; it is wrapped in a PS3.10 head built from the
//! negotiated values ([`super::part10`]) and spooled. The sanitiser on the customs side parses it.
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
//!   are cut ([`super::pdata`]).

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
use sluis_link::{ObjectMeta, SenderMetrics, Spool, SpoolError};
use sluis_scan::{SopClass, TransferSyntax};

use super::command::{
    C_STORE_RSP, STATUS_CANNOT_UNDERSTAND, STATUS_OUT_OF_RESOURCES, STATUS_SUCCESS, VERIFICATION,
    response,
};
use super::pdata::{Bounds, DimseError, Inbound, Step, Store, Wire, WireFault};

/// The DICOM service's settings.
#[derive(Debug, Clone)]
pub struct DicomConfig {
    /// The edge's AE title.
    pub ae_title: String,
    /// Calling AE titles allowed to store.
    pub allowed_calling: Vec<String>,
    /// The largest PDU accepted.
    pub max_pdu: u32,
    /// Associations at once.
    pub max_associations: usize,
    /// The largest object kept.
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
fn await_request(stream: &TcpStream, artim: Duration) -> Result<(), Unready> {
    let deadline = Instant::now() + artim;
    let mut want = 6usize;
    let mut buf = vec![0u8; want];
    loop {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return Err(Unready::Artim(artim));
        };
        stream.set_read_timeout(Some(left)).map_err(Unready::Io)?;
        let n = match stream.peek(&mut buf) {
            Ok(0) => return Err(Unready::Closed),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(Unready::Io(e)),
        };
        if want == 6 && n == 6 {
            let &[kind, _, a, b, c, d] = buf.as_slice() else {
                return Err(Unready::Closed);
            };
            if kind != 0x01 {
                return Err(Unready::NotARequest(kind));
            }
            let len = u32::from_be_bytes([a, b, c, d]);
            if len > MAX_REQUEST {
                return Err(Unready::TooLarge(len));
            }
            want = 6 + usize::try_from(len).unwrap_or(usize::MAX);
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

/// Accepts associations until `stop`.
pub fn serve(
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
                .map_err(Unready::Io)
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

/// Why a connection was cut before its association.
#[derive(Debug, thiserror::Error)]
enum Unready {
    #[error("no association request within the ARTIM time ({0:?})")]
    Artim(Duration),
    #[error("closed before its association request")]
    Closed,
    #[error("the first PDU is of type {0:#04x}, not an A-ASSOCIATE-RQ")]
    NotARequest(u8),
    #[error("an association request of {0} bytes, past {MAX_REQUEST}")]
    TooLarge(u32),
    #[error("socket: {0}")]
    Io(std::io::Error),
}

/// Why an association ended.
#[derive(Debug, thiserror::Error)]
enum Ended {
    #[error("association not established: {0}")]
    Handshake(#[from] dicom_ul::association::Error),
    #[error(transparent)]
    Protocol(#[from] DimseError),
    #[error("sending: {0}")]
    Send(String),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

fn association(
    stream: TcpStream,
    cfg: &DicomConfig,
    spool: &Spool,
    metrics: &SenderMetrics,
) -> Result<(), Ended> {
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
        .filter(|pc| pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance)
        .map(|pc| (pc.id, pc.transfer_syntax.clone()))
        .collect();
    let bounds = Bounds {
        max_pdu: cfg.max_pdu,
        max_object_bytes: cfg.max_object_bytes,
        timeout: cfg.timeout,
    };
    let mut inbound = Inbound::new(bounds, contexts);
    let send = |assoc: &mut ServerAssociation<TcpStream>, pdu: &Pdu| {
        assoc.send(pdu).map_err(|e| Ended::Send(e.to_string()))
    };
    loop {
        let step = inbound.next(&mut AssocWire(&mut assoc));
        match step {
            Ok(Step::Echo { pcid, response }) => send(&mut assoc, &command_pdu(pcid, response))?,
            Ok(Step::Store(s)) => {
                let pcid = s.pcid;
                let status = store(s, &calling, &peer, spool, metrics);
                send(&mut assoc, &command_pdu(pcid, status))?;
            }
            Ok(Step::Release) => {
                send(&mut assoc, &Pdu::ReleaseRP)?;
                return Ok(());
            }
            Ok(Step::Aborted) => return Ok(()),
            Err(e) => {
                // A peer cut for being too slow is counted (one that closes is not).
                if matches!(e, DimseError::Wire(WireFault::TooSlow)) {
                    metrics.connections_cut.inc();
                }
                if e.aborts() {
                    let _ = assoc.abort();
                }
                return Err(e.into());
            }
        }
    }
}

/// The association's socket as a [`Wire`]: first what dicom-ul had read ahead, then straight
/// from the socket into the caller's buffer (no intermediate buffer; dicom-ul's own reader
/// copied each PDU three times, in 8 KiB reads). Written here because dicom-ul offers no way to
/// receive a data set into the caller's buffer. A peer that dribbles is cut at the deadline
/// however often it sends a byte.
struct AssocWire<'a>(&'a mut ServerAssociation<TcpStream>);

impl Wire for AssocWire<'_> {
    fn read_into(
        &mut self,
        buf: &mut Vec<u8>,
        n: usize,
        deadline: Instant,
    ) -> Result<(), WireFault> {
        let (sock, ahead): (&mut TcpStream, &mut bytes::BytesMut) =
            SyncAssociation::get_mut(self.0);
        let from_ahead = n.min(ahead.len());
        buf.extend_from_slice(ahead.split_to(from_ahead).as_ref());
        let want = buf.len() + (n - from_ahead);
        while buf.len() < want {
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                return Err(WireFault::TooSlow);
            };
            sock.set_read_timeout(Some(left))?;
            let before = buf.len();
            match (&mut *sock).take((want - before) as u64).read_to_end(buf) {
                Ok(0) => return Err(WireFault::Closed),
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
}

/// Keeps a complete C-STORE in the spool and gives the response.
fn store(
    s: Store<'_>,
    calling: &str,
    peer: &str,
    spool: &Spool,
    metrics: &SenderMetrics,
) -> Vec<u8> {
    let status = if s.too_large {
        metrics.inputs_refused.inc();
        tracing::warn!(calling, "C-STORE larger than max_object_bytes refused");
        STATUS_OUT_OF_RESOURCES
    } else if s.head == 0 {
        // The head is written when the command arrives, only for valid UIDs.
        metrics.inputs_refused.inc();
        STATUS_CANNOT_UNDERSTAND
    } else {
        let meta = ObjectMeta::Dicom {
            calling_ae: calling.to_string(),
            peer: peer.to_string(),
            sop_class: s.command.sop_class.clone(),
            sop_instance: s.command.sop_instance.clone(),
            transfer_syntax: s.transfer_syntax.clone(),
            received: crate::clock::now(),
        };
        let length = s.object.len();
        // The buffer goes to the spool (and on to the sender); an emptied one comes back and
        // is kept for the next object of the association: growing a new buffer for every scan
        // copies it at each doubling and touches fresh pages.
        let put = spool.put_owned(s.object, &meta.to_json());
        if s.object.capacity() < length {
            s.object.reserve(length);
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
    };
    s.object.clear();
    response(C_STORE_RSP, &s.command, status)
}

/// A command set in one P-DATA PDU.
pub(crate) fn command_pdu(pcid: u8, command: Vec<u8>) -> Pdu {
    Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pcid,
            value_type: PDataValueType::Command,
            is_last: true,
            data: command,
        }],
    }
}
