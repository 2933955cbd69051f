//! The I/O around the sans-I/O halves: UDP sockets with sized buffers, the edge's paced sender,
//! the core's receive loop, and the core's reassembly directory.

use std::fs::File;
use std::io::Read as _;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::metrics::SenderMetrics;
use crate::receiver::{Event, Receiver, Workspace};
use crate::sender::Sender;
use crate::spool::Entry;
use crate::wire::{self, AbortReason};

/// A UDP socket bound to `bind` with the given buffer sizes (the kernel may clamp them to
/// `net.core.rmem_max` / `wmem_max`; [`buffer_sizes`] tells what was granted).
pub fn udp_socket(bind: SocketAddr, rcvbuf: usize, sndbuf: usize) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(bind);
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if rcvbuf > 0 {
        s.set_recv_buffer_size(rcvbuf)?;
        // The kernel caps SO_RCVBUF at net.core.rmem_max (often a few MiB: milliseconds of a
        // fast link). A process with CAP_NET_ADMIN may ask past it; one without keeps what it
        // was granted, and `--check` names the sysctl to raise.
        if s.recv_buffer_size()? < rcvbuf {
            let _ =
                nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::RcvBufForce, &rcvbuf);
        }
    }
    if sndbuf > 0 {
        s.set_send_buffer_size(sndbuf)?;
        if s.send_buffer_size()? < sndbuf {
            let _ =
                nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::SndBufForce, &sndbuf);
        }
    }
    s.bind(&bind.into())?;
    Ok(s.into())
}

/// `(receive, send)` buffer sizes the kernel granted.
pub fn buffer_sizes(sock: &UdpSocket) -> std::io::Result<(usize, usize)> {
    let s = socket2::SockRef::from(sock);
    Ok((s.recv_buffer_size()?, s.send_buffer_size()?))
}

/// A token bucket in bytes per second (0: unlimited).
#[derive(Debug)]
pub struct Pacer {
    rate: u64,
    tokens: f64,
    last: Instant,
}

impl Pacer {
    /// A pacer for `rate` bytes per second, with a burst of 64 datagrams of 64 KiB at most.
    pub fn new(rate: u64) -> Pacer {
        Pacer {
            rate,
            tokens: 0.0,
            last: Instant::now(),
        }
    }

    /// Accounts for `bytes` about to be sent, sleeping off any debt beyond a millisecond's
    /// worth first. The bucket may go into debt by one send, so a sender never spins on the
    /// clock: it sleeps, and the bucket credits whatever the sleep overshot.
    pub fn wait(&mut self, bytes: usize) {
        if self.rate == 0 {
            return;
        }
        let rate = self.rate as f64;
        let burst = (rate / 100.0).max(65536.0);
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(burst);
        self.last = now;
        self.tokens -= bytes as f64;
        if self.tokens < -rate / 1000.0 {
            std::thread::sleep(Duration::from_secs_f64(-self.tokens / rate));
        }
    }
}

/// The socket side of the sender: pacing, and UDP generic segmentation offload (GSO) where
/// the kernel has it, so that up to 64 KiB of equal-sized data datagrams leave in one syscall.
#[derive(Debug)]
struct Out {
    sock: UdpSocket,
    pacer: Pacer,
    metrics: SenderMetrics,
    /// The GSO segment size (the size of every data datagram), if GSO is on.
    gso: Option<usize>,
    batch: Vec<u8>,
    batched: usize,
}

impl Out {
    fn push(&mut self, datagram: &[u8]) {
        match self.gso {
            Some(seg) if datagram.len() == seg => {
                self.batch.extend_from_slice(datagram);
                self.batched += 1;
                if self.batch.len() + seg > 65_000 || self.batched >= 64 {
                    self.flush();
                }
            }
            _ => {
                self.flush();
                send_one(&self.sock, &mut self.pacer, &self.metrics, datagram, 1);
            }
        }
    }

    fn flush(&mut self) {
        if self.batched > 0 {
            let n = self.batched as u64;
            send_one(&self.sock, &mut self.pacer, &self.metrics, &self.batch, n);
            self.batch.clear();
            self.batched = 0;
        }
    }
}

/// Turns UDP generic segmentation offload on for datagrams of `segment` bytes; false where the
/// kernel does not have it (the sender then makes one syscall per datagram).
pub fn enable_gso(sock: &UdpSocket, segment: usize) -> bool {
    let Ok(seg) = i32::try_from(segment) else {
        return false;
    };
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::UdpGsoSegment, &seg).is_ok()
}

/// Turns UDP generic receive offload on: the kernel may hand over several datagrams of one
/// sender in one buffer, with their size in a control message.
pub fn enable_gro(sock: &UdpSocket) -> bool {
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::UdpGroSegment, &true).is_ok()
}

/// The edge's side of the link: a sender, a socket, a pacer.
#[derive(Debug)]
pub struct LinkOut {
    out: Out,
    sender: Sender,
    deferred: Vec<Vec<u8>>,
    recent: Vec<(u64, u64)>,
}

impl LinkOut {
    /// Sends from `sock` (connected to the core's address) at most `rate` bytes/s, with GSO
    /// where the kernel offers it.
    pub fn new(sock: UdpSocket, sender: Sender, rate: u64, metrics: SenderMetrics) -> LinkOut {
        let seg =
            wire::DATA_HEADER_LEN + wire::TRAILER_LEN + usize::from(sender.coding().symbol_size());
        let gso = enable_gso(&sock, seg).then_some(seg);
        // With the option set, a send of several segments is split by the kernel; a single
        // datagram no larger than the segment size (every non-data record) goes out as it is.

        LinkOut {
            out: Out {
                sock,
                pacer: Pacer::new(rate),
                metrics,
                gso,
                batch: Vec::with_capacity(65_536),
                batched: 0,
            },
            sender,
            deferred: Vec::new(),
            recent: Vec::new(),
        }
    }

    /// Whether GSO is on.
    pub fn gso(&self) -> bool {
        self.out.gso.is_some()
    }

    /// The epoch of this run.
    pub fn epoch(&self) -> u32 {
        self.sender.epoch()
    }

    fn send(&mut self, datagram: &[u8]) {
        self.out.push(datagram);
    }

    fn flush_deferred(&mut self) {
        for d in std::mem::take(&mut self.deferred) {
            self.send(&d);
        }
        self.out.flush();
    }

    /// Sends one spooled object: Start, every block with its repair symbols, End (one copy
    /// now, the others after the next object's start or heartbeat, so a burst cannot take all).
    /// `tick` is called between blocks so the caller can keep heartbeats on time.
    /// `bytes` are the object's bytes when they are still in memory (see
    /// [`crate::Spool::take_hot`]); otherwise they are read from the spool file.
    pub fn send_object(
        &mut self,
        entry: &Entry,
        bytes: Option<&[u8]>,
        tick: &mut dyn FnMut(&mut LinkOut),
    ) -> std::io::Result<()> {
        let length = entry.length;
        let mut source = match bytes {
            Some(b) if b.len() as u64 == length => Source::Memory(b),
            _ => match open_at(&entry.path, entry.offset) {
                Ok(f) => Source::File(f, Vec::new()),
                Err(e) => return Err(self.unreadable(entry.id, e)),
            },
        };
        let meta = entry.meta.as_bytes();
        // The Start fixes the object's cut; send it twice, apart.
        let start = self.sender.start(entry.id, length, meta);
        self.send(&start);
        self.flush_deferred();
        let shape = self.sender.coding().shape(length);
        let mut hasher = blake3::Hasher::new();
        for block in 0..shape.blocks() {
            let Some((a, b)) = shape.block_range(block) else {
                break;
            };
            let data = match source.block(a, b) {
                Ok(d) => d,
                Err(e) => return Err(self.unreadable(entry.id, e)),
            };
            hasher.update(data);
            let out = &mut self.out;
            self.sender
                .block(entry.id, length, block as u32, data, &mut |d| out.push(d));
            if block == 0 {
                let again = self.sender.start(entry.id, length, meta);
                self.send(&again);
            }
            self.out.flush();
            tick(self);
        }
        let digest: [u8; 32] = *hasher.finalize().as_bytes();
        let copies = self.sender.coding().end_copies;
        let end = self.sender.end(entry.id, length, &digest, meta);
        self.send(&end);
        self.out.flush();
        for _ in 1..copies {
            let e = self.sender.end(entry.id, length, &digest, meta);
            self.deferred.push(e);
        }
        self.recent.push((entry.id, length));
        Ok(())
    }

    /// Aborts object `id`, whose bytes could not be read, and gives back the error.
    fn unreadable(&mut self, id: u64, e: std::io::Error) -> std::io::Error {
        let a = self.sender.abort(id, AbortReason::Unreadable);
        self.send(&a);
        self.out.flush();
        self.out.metrics.objects_aborted.inc();
        e
    }

    /// Sends a heartbeat, the deferred End copies, and a manifest of what was sent since the
    /// last one.
    pub fn heartbeat(&mut self, next_object: u64, spool_depth: u64, interval: Duration) {
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let hb = self.sender.heartbeat(
            unix_ms,
            next_object,
            spool_depth,
            u32::try_from(interval.as_millis()).unwrap_or(u32::MAX),
        );
        self.send(&hb);
        self.flush_deferred();
        let recent = std::mem::take(&mut self.recent);
        for chunk in recent.chunks(wire::MAX_MANIFEST) {
            let m = self.sender.manifest(chunk);
            self.send(&m);
        }
        self.out.flush();
    }

    /// Sends everything deferred now (before exiting).
    pub fn flush(&mut self) {
        self.flush_deferred();
    }
}

/// Where an object's bytes come from while it is sent.
enum Source<'a> {
    /// Still in memory: blocks are slices of it, no copy.
    Memory(&'a [u8]),
    /// The spool file, read block by block into the buffer.
    File(File, Vec<u8>),
}

impl Source<'_> {
    /// The object's bytes `a..b` (called for consecutive ranges from 0).
    fn block(&mut self, a: u64, b: u64) -> std::io::Result<&[u8]> {
        let (a, b) = (
            usize::try_from(a).map_err(std::io::Error::other)?,
            usize::try_from(b).map_err(std::io::Error::other)?,
        );
        match self {
            Source::Memory(bytes) => bytes
                .get(a..b)
                .ok_or_else(|| std::io::ErrorKind::UnexpectedEof.into()),
            Source::File(file, buf) => {
                buf.resize(b.saturating_sub(a), 0);
                file.read_exact(buf)?;
                Ok(buf)
            }
        }
    }
}

/// A spool file, positioned at its object's first byte.
fn open_at(path: &Path, offset: u64) -> std::io::Result<File> {
    let mut f = File::open(path)?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset))?;
    Ok(f)
}

fn send_one(
    sock: &UdpSocket,
    pacer: &mut Pacer,
    metrics: &SenderMetrics,
    bytes: &[u8],
    datagrams: u64,
) {
    pacer.wait(bytes.len());
    loop {
        match sock.send(bytes) {
            Ok(n) => {
                metrics.datagrams.inc_by(datagrams);
                metrics.bytes.inc_by(n as u64);
                return;
            }
            // The socket buffer is full: wait for it rather than drop.
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock || e.raw_os_error() == Some(105) =>
            {
                std::thread::sleep(Duration::from_micros(50));
            }
            // Nobody listening (ICMP port unreachable on loopback) or the link is down: the
            // datagram is gone; the core will report the object lost by id.
            Err(e) => {
                metrics.send_errors.inc();
                tracing::debug!(error = %e, "send failed");
                return;
            }
        }
    }
}

/// Receives datagrams until `stop`, feeding the receiver and ticking it every 100 ms. When the
/// ledger changes it goes to `save` (to be made durable) before the events that changed it go
/// to `on_event`; ids arriving on `confirmed` (objects the owner has safe) leave the ledger's
/// pending set.
pub fn run_receiver<W: Workspace>(
    sock: &UdpSocket,
    receiver: &mut Receiver<W>,
    stop: &AtomicBool,
    confirmed: &std::sync::mpsc::Receiver<u64>,
    save: &mut dyn FnMut(&crate::receiver::Ledger),
    on_event: &mut dyn FnMut(Event<W::Committed>),
) -> std::io::Result<()> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut rx = Gro::new(sock);
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match rx.recv() {
            Ok(batch) => {
                let now = Instant::now();
                for d in batch {
                    receiver.handle(d, now);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // ICMP errors from a previous send and the like: not fatal for a receiver.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if now.duration_since(last_tick) >= Duration::from_millis(100) {
            receiver.tick(now);
            last_tick = now;
        }
        while let Ok(id) = confirmed.try_recv() {
            receiver.confirm(id);
        }
        let mut events = Vec::new();
        while let Some(ev) = receiver.poll_event() {
            events.push(ev);
        }
        if receiver.take_ledger_dirty() {
            save(receiver.ledger());
        }
        for ev in events {
            on_event(ev);
        }
    }
    while let Ok(id) = confirmed.try_recv() {
        receiver.confirm(id);
    }
    if receiver.take_ledger_dirty() {
        save(receiver.ledger());
    }
    Ok(())
}

/// Receives with UDP generic receive offload where the kernel has it: one syscall may bring
/// several datagrams of one sender, cut apart here by the segment size the kernel reports.
#[derive(Debug)]
pub struct Gro<'a> {
    sock: &'a UdpSocket,
    gro: bool,
    buf: Vec<u8>,
    cmsg: Vec<u8>,
}

impl<'a> Gro<'a> {
    /// Wraps a bound socket (turning GRO on if possible).
    pub fn new(sock: &'a UdpSocket) -> Gro<'a> {
        let gro = enable_gro(sock);
        Gro {
            sock,
            gro,
            buf: vec![0u8; 65_536],
            cmsg: nix::cmsg_space!(i32),
        }
    }

    /// The next datagram(s).
    pub fn recv(&mut self) -> std::io::Result<impl Iterator<Item = &[u8]>> {
        use std::os::fd::AsRawFd as _;
        let (n, seg) = if self.gro {
            let mut iov = [std::io::IoSliceMut::new(&mut self.buf)];
            let msg = nix::sys::socket::recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut self.cmsg),
                nix::sys::socket::MsgFlags::empty(),
            )
            .map_err(std::io::Error::from)?;
            let mut seg = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let nix::sys::socket::ControlMessageOwned::UdpGroSegments(s) = c {
                        seg = usize::try_from(s).ok().filter(|s| *s > 0);
                    }
                }
            }
            (msg.bytes, seg)
        } else {
            (self.sock.recv(&mut self.buf)?, None)
        };
        let data = self.buf.get(..n).unwrap_or_default();
        let seg = seg.unwrap_or(n.max(1));
        // An empty datagram is a datagram too: it reaches the receiver and is counted malformed.
        Ok(data.chunks(seg).chain((n == 0).then_some(data)))
    }
}

/// The core's reassembly directory: parts in `tmp/`, verified objects renamed into `ready/`
/// as `<id>.<BLAKE3 hex>.obj` (the digest they verified with, so a restart can check them
/// without another file), and emptied files kept in `spare/` for the next parts. Owner-only
/// (0700, files 0600): it holds scans as they came from the enclave.
///
/// Why spares: a new file for every object and its removal once stored cost, on ext4 without
/// a journal, a freed inode that every file created in the next minutes skips
/// (`recently_deleted`), the vault's blobs among them. A spare is **emptied** when it is
/// retired (cut to length 0: once an object is in the vault, no plaintext of it stays on the
/// customs side), so it keeps its inode but none of its bytes; it is grown to the next object's
/// length when taken, and the receiver writes every byte of that object before its digest is
/// checked.
#[derive(Debug)]
pub struct DirWorkspace {
    dir: PathBuf,
    spares: std::sync::Arc<Spares>,
}

/// Emptied reassembly files waiting to be reused (see [`DirWorkspace`]).
#[derive(Debug)]
pub struct Spares {
    dir: PathBuf,
    files: std::sync::Mutex<(Vec<PathBuf>, u64)>,
}

/// At most this many spare files (each empty).
const SPARES: usize = 8;

impl Spares {
    /// Takes a spare file, if there is one, renamed to `to`.
    fn take(&self, to: &Path) -> Option<()> {
        let from = self.lock().0.pop()?;
        std::fs::rename(&from, to).ok()
    }

    /// Retires a stored object's file from `ready/` (or a discarded part): its bytes are
    /// destroyed (the file is cut to nothing), then it is kept as a spare while there is room,
    /// or removed.
    pub fn retire(&self, path: &Path) {
        // Emptied before anything else: a stored scan's plaintext must not outlive its storing.
        let emptied = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(0));
        if emptied.is_err() {
            let _ = std::fs::remove_file(path);
            return;
        }
        let mut files = self.lock();
        if files.0.len() < SPARES {
            files.1 = files.1.wrapping_add(1);
            let spare = self.dir.join(format!("{:020}", files.1));
            if std::fs::rename(path, &spare).is_ok() {
                files.0.push(spare);
                return;
            }
        }
        drop(files);
        let _ = std::fs::remove_file(path);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<PathBuf>, u64)> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl DirWorkspace {
    /// Opens `dir`, removing parts a previous run left (they were never verified) and its
    /// spare files.
    pub fn open(dir: &Path) -> std::io::Result<DirWorkspace> {
        sluis_secret::private_dir(dir)?;
        for sub in ["tmp", "spare"] {
            let d = dir.join(sub);
            if d.exists() {
                std::fs::remove_dir_all(&d)?;
            }
            sluis_secret::private_dir(&d)?;
        }
        sluis_secret::private_dir(&dir.join("ready"))?;
        Ok(DirWorkspace {
            dir: dir.to_path_buf(),
            spares: std::sync::Arc::new(Spares {
                dir: dir.join("spare"),
                files: std::sync::Mutex::new((Vec::new(), 0)),
            }),
        })
    }

    /// Where verified objects are.
    pub fn ready(&self) -> PathBuf {
        self.dir.join("ready")
    }

    /// The spare files, shared with whoever retires stored objects.
    pub fn spares(&self) -> std::sync::Arc<Spares> {
        self.spares.clone()
    }

    /// After a restart: whether the verified object `id` is still in `ready/`, whole (its bytes
    /// hash to the digest in its name). Returns its path if so.
    pub fn check_ready(&self, id: u64) -> Option<PathBuf> {
        let prefix = format!("{id:020}.");
        let (path, want) = std::fs::read_dir(self.ready())
            .ok()?
            .flatten()
            .find_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let hex = name
                    .strip_prefix(&prefix)?
                    .strip_suffix(".obj")?
                    .to_string();
                Some((e.path(), hex))
            })?;
        let mut f = File::open(&path).ok()?;
        let mut h = blake3::Hasher::new();
        std::io::copy(&mut f, &mut h).ok()?;
        let got: String = h
            .finalize()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (got == want).then_some(path)
    }

    /// The id of a file in `ready/`, from its name.
    pub fn ready_id(name: &std::ffi::OsStr) -> Option<u64> {
        name.to_str()?.split('.').next()?.parse().ok()
    }
}

/// A part being reassembled on disk.
#[derive(Debug)]
pub struct DirPart {
    file: File,
    path: PathBuf,
}

impl Workspace for DirWorkspace {
    type Part = DirPart;
    type Committed = PathBuf;
    fn create(&mut self, object: u64, length: u64) -> std::io::Result<DirPart> {
        let path = self.dir.join("tmp").join(format!("{object:020}.part"));
        // A spare is empty (see `Spares::retire`); grown to this object's length, every byte of
        // which the receiver writes before the digest is checked.
        let reused = self.spares.take(&path).is_some();
        let file = sluis_secret::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(!reused)
            .open(&path)?;
        if reused {
            file.set_len(length)?;
        }
        Ok(DirPart { file, path })
    }
    fn write_at(&mut self, part: &mut DirPart, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        part.file.write_all_at(bytes, offset)
    }
    fn read_at(&mut self, part: &mut DirPart, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        part.file.read_exact_at(buf, offset)
    }
    /// Renames the part into `ready/` as `<id>.<digest>.obj`, the digest it verified with. No
    /// fsync: the ledger keeps the id pending until the owner confirms it safe, and
    /// [`DirWorkspace::check_ready`] re-verifies it after a crash.
    fn commit(
        &mut self,
        part: DirPart,
        object: u64,
        digest: &[u8; 32],
    ) -> std::io::Result<PathBuf> {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let to = self.ready().join(format!("{object:020}.{hex}.obj"));
        std::fs::rename(&part.path, &to)?;
        Ok(to)
    }
    fn discard(&mut self, part: DirPart) {
        drop(part.file);
        self.spares.retire(&part.path);
    }
}
