//! A deterministic generator of labelled scanner-enclave traffic, written as a pcap file, with
//! its answer key and a matching allow-list policy: the test bed of the enclave watch.
//!
//! The benign enclave: scanners send scans to the edge by DICOM over TCP (Poisson arrivals,
//! sizes around the configured mean, full TCP handshakes, data segments at 1 Gbit/s with
//! delayed ACKs, orderly close), resolve the edge's name through the edge's DNS, and ARP for
//! it; the edge keeps its clock with NTP to the time server every 64 s; a maintenance laptop
//! opens SSH sessions to the scanners in working hours.
//!
//! Injected on top, each one listed in the answer key with the alerts it must cause:
//! phone-home attempts (unanswered, refused, and completed TLS with SNI), beacons with a chosen
//! jitter, DNS tunnelling, bulk upload above the baseline, a new device, ARP spoofing, Windows
//! name-service chatter and NTP to an outside server, and a blind spell of the sensor.
//!
//! Frames are built with `etherparse` (checksums included). The pcap container (a 24-byte
//! header and 16-byte record headers) is written here directly: that is four fields, and
//! writing it streams a gigabyte without holding it.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;

use etherparse::PacketBuilder;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

type Mac = [u8; 6];
const SECOND: i64 = 1_000_000;

/// A host of the generated enclave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    /// Name (as in the generated policy).
    pub name: &'static str,
    /// MAC.
    pub mac: Mac,
    /// Address.
    pub ip: Ipv4Addr,
}

/// The gateway interface of the enclave switch; frames to any outside address carry its MAC.
pub const SWITCH: Host = Host {
    name: "switch",
    mac: [2, 0, 0, 0, 0, 1],
    ip: Ipv4Addr::new(10, 20, 0, 1),
};
/// The edge.
pub const EDGE: Host = Host {
    name: "edge",
    mac: [2, 0, 0, 0, 0, 2],
    ip: Ipv4Addr::new(10, 20, 0, 2),
};
/// The enclave's time server.
pub const TIME: Host = Host {
    name: "timeserver",
    mac: [2, 0, 0, 0, 0, 3],
    ip: Ipv4Addr::new(10, 20, 0, 3),
};
/// The maintenance laptop.
pub const LAPTOP: Host = Host {
    name: "maintenance",
    mac: [2, 0, 0, 0, 2, 1],
    ip: Ipv4Addr::new(10, 20, 0, 50),
};

const SCANNER_NAMES: [&str; 8] = [
    "scanner-1",
    "scanner-2",
    "scanner-3",
    "scanner-4",
    "scanner-5",
    "scanner-6",
    "scanner-7",
    "scanner-8",
];

/// Scanner `i` (0-based, at most 8).
pub fn scanner(i: usize) -> Host {
    let i = i.min(7);
    let n = u8::try_from(i).unwrap_or(0);
    Host {
        name: SCANNER_NAMES.get(i).copied().unwrap_or("scanner-8"),
        mac: [2, 0, 0, 0, 1, n.saturating_add(1)],
        ip: Ipv4Addr::new(10, 20, 0, 11u8.saturating_add(n)),
    }
}

/// Something injected into the benign traffic.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Injection {
    /// A scanner tries an outside address: `answered` none (SYN retries), refused (RST) or a
    /// completed TLS session with `sni`.
    PhoneHome {
        /// Scanner index.
        scanner: usize,
        /// Outside address.
        dst: Ipv4Addr,
        /// Port.
        port: u16,
        /// Seconds after the start.
        at_secs: u64,
        /// How the far end answers.
        answer: Answer,
    },
    /// HTTP callbacks on a timer with uniform jitter (0.2 = +-20 %).
    Beacon {
        /// Scanner index.
        scanner: usize,
        /// Callback address.
        dst: Ipv4Addr,
        /// Port.
        port: u16,
        /// Mean interval.
        interval_secs: u64,
        /// Relative jitter.
        jitter: f64,
    },
    /// TXT queries for random subdomains of `domain` through the edge's DNS.
    DnsTunnel {
        /// Scanner index.
        scanner: usize,
        /// The registered domain.
        domain: String,
        /// Queries.
        queries: usize,
        /// Seconds after the start.
        at_secs: u64,
    },
    /// One extra scan-sized upload far above the hour's baseline.
    BulkUpload {
        /// Scanner index.
        scanner: usize,
        /// Bytes.
        bytes: u64,
        /// Seconds after the start.
        at_secs: u64,
    },
    /// A device not in the inventory appears and ARPs for the edge.
    NewDevice {
        /// Its MAC.
        mac: Mac,
        /// Its address.
        ip: Ipv4Addr,
        /// Seconds after the start.
        at_secs: u64,
    },
    /// The laptop tells a scanner, unasked, that the edge's address is at the laptop's MAC.
    ArpSpoof {
        /// Victim scanner.
        scanner: usize,
        /// Seconds after the start.
        at_secs: u64,
    },
    /// A Windows-based scanner: LLMNR for `wpad`, NetBIOS name query, NTP to an outside server.
    WindowsChatter {
        /// Scanner index.
        scanner: usize,
        /// Seconds after the start.
        at_secs: u64,
    },
    /// The maintenance laptop holds an SSH session to a scanner open for this long.
    LongSession {
        /// Scanner index.
        scanner: usize,
        /// Seconds after the start.
        at_secs: u64,
        /// How long it stays open.
        secs: u64,
    },
    /// The sensor sees nothing for this long.
    Blind {
        /// Seconds after the start.
        at_secs: u64,
        /// Length of the gap.
        secs: u64,
    },
}

/// How an outside address answers a connection attempt.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// It accepts the connection (plain TCP).
    Open,
    /// Never: the SYN is sent three times.
    None,
    /// With a reset.
    Refused,
    /// With a TLS handshake for this server name.
    Tls(String),
}

/// What to generate.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Spec {
    /// Seed.
    pub seed: u64,
    /// Capture start, seconds since the epoch (at a full hour keeps hour rules readable).
    pub start_secs: i64,
    /// Length of the capture.
    pub duration_secs: u64,
    /// Scanners (1..=8).
    pub scanners: usize,
    /// Scans per scanner per hour (Poisson).
    pub scans_per_hour: f64,
    /// Mean scan size in bytes.
    pub scan_bytes: u64,
    /// Injections.
    pub injections: Vec<Injection>,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            seed: 1,
            // 2026-11-02 08:00:00 UTC, a Monday morning.
            start_secs: 1_793_606_400,
            duration_secs: 3 * 3600,
            scanners: 4,
            scans_per_hour: 30.0,
            scan_bytes: 200_000,
            injections: Vec::new(),
        }
    }
}

impl Spec {
    /// Three hours of four scanners with one of each injection: the demo's enclave.
    pub fn showcase() -> Self {
        Self {
            injections: vec![
                Injection::PhoneHome {
                    scanner: 1,
                    dst: Ipv4Addr::new(203, 0, 113, 50),
                    port: 443,
                    at_secs: 1800,
                    answer: Answer::Tls("telemetry.vendor.example".into()),
                },
                Injection::PhoneHome {
                    scanner: 2,
                    dst: Ipv4Addr::new(198, 51, 100, 7),
                    port: 8443,
                    at_secs: 2400,
                    answer: Answer::None,
                },
                Injection::Beacon {
                    scanner: 0,
                    dst: Ipv4Addr::new(192, 0, 2, 10),
                    port: 8080,
                    interval_secs: 120,
                    jitter: 0.2,
                },
                Injection::DnsTunnel {
                    scanner: 3,
                    domain: "cdn-sync.example".into(),
                    queries: 60,
                    at_secs: 3000,
                },
                Injection::BulkUpload {
                    scanner: 2,
                    bytes: 80_000_000,
                    at_secs: 5400,
                },
                Injection::NewDevice {
                    mac: [2, 0x66, 0, 0, 0, 9],
                    ip: Ipv4Addr::new(10, 20, 0, 99),
                    at_secs: 6000,
                },
                Injection::ArpSpoof {
                    scanner: 0,
                    at_secs: 7000,
                },
                Injection::WindowsChatter {
                    scanner: 3,
                    at_secs: 600,
                },
                Injection::Blind {
                    at_secs: 9000,
                    secs: 600,
                },
            ],
            ..Self::default()
        }
    }
}

/// One line of the answer key: something injected, and the rules that must fire for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// What was injected.
    pub what: String,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address, when there is one.
    pub dst: Option<Ipv4Addr>,
    /// Destination port, when there is one.
    pub port: Option<u16>,
    /// The rule ids that must fire for it.
    pub rules: Vec<&'static str>,
}

/// What a generation produced.
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// Frames written.
    pub frames: u64,
    /// Bytes written (file size).
    pub bytes: u64,
    /// Benign connections (TCP sessions and UDP exchanges).
    pub benign_flows: u64,
    /// The answer key.
    pub labels: Vec<Label>,
}

/// Frames waiting for their time, flushed in time order.
struct Timeline<W: Write> {
    pending: BTreeMap<(i64, u64), Vec<u8>>,
    seq: u64,
    out: W,
    frames: u64,
    bytes: u64,
    /// Spells in which the sensor is blind: no frame at all is captured in them, not even one
    /// of a session that began before (a session that spanned the spell once split a 600 s
    /// spell into gaps shorter than the watch's allowed silence).
    blind: Vec<(i64, i64)>,
}

impl<W: Write> Timeline<W> {
    fn new(mut out: W) -> std::io::Result<Self> {
        // pcap header: magic (microseconds), version 2.4, zone 0, sigfigs 0, snaplen, Ethernet.
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4_u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&65_535u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        out.write_all(&h)?;
        Ok(Self {
            pending: BTreeMap::new(),
            seq: 0,
            out,
            frames: 0,
            bytes: 24,
            blind: Vec::new(),
        })
    }

    fn push(&mut self, ts: i64, frame: Vec<u8>) {
        if self.blind.iter().any(|(a, b)| (*a..*b).contains(&ts)) {
            return;
        }
        self.seq = self.seq.wrapping_add(1);
        self.pending.insert((ts, self.seq), frame);
    }

    fn flush_before(&mut self, ts: i64) -> std::io::Result<()> {
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 >= ts {
                break;
            }
            let ((t, _), frame) = entry.remove_entry();
            self.write(t, &frame)?;
        }
        Ok(())
    }

    fn write(&mut self, ts: i64, frame: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let secs = u32::try_from(ts.div_euclid(SECOND)).unwrap_or(0);
        let micros = u32::try_from(ts.rem_euclid(SECOND)).unwrap_or(0);
        let mut rec = [0u8; 16];
        rec[..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&micros.to_le_bytes());
        rec[8..12].copy_from_slice(&len.to_le_bytes());
        rec[12..].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(frame)?;
        self.frames = self.frames.saturating_add(1);
        self.bytes = self.bytes.saturating_add(16).saturating_add(u64::from(len));
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<(u64, u64)> {
        self.flush_before(i64::MAX)?;
        self.out.flush()?;
        Ok((self.frames, self.bytes))
    }
}

/// A scheduled session.
#[derive(Clone, Debug)]
enum Session {
    Scan {
        scanner: usize,
        bytes: u64,
    },
    Dns {
        scanner: usize,
    },
    Arp {
        scanner: usize,
    },
    Ntp,
    Ssh {
        scanner: usize,
        secs: u64,
        bytes: u64,
    },
    Injected(Injection),
    Beat {
        scanner: usize,
        dst: Ipv4Addr,
        port: u16,
        n: u64,
    },
}

const MSS: usize = 1448;
static ZEROS: [u8; MSS] = [0u8; MSS];

struct Gen<W: Write> {
    tl: Timeline<W>,
    rng: ChaCha8Rng,
    ports: u16,
    ip_id: u16,
}

impl<W: Write> Gen<W> {
    fn port(&mut self) -> u16 {
        self.ports = if self.ports >= 60_999 {
            32_768
        } else {
            self.ports + 1
        };
        self.ports
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        ts: i64,
        from: (Mac, Ipv4Addr, u16),
        to: (Mac, Ipv4Addr, u16),
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) {
        self.ip_id = self.ip_id.wrapping_add(1);
        let mut b = PacketBuilder::ethernet2(from.0, to.0)
            .ipv4(from.1.octets(), to.1.octets(), 64)
            .tcp(from.2, to.2, seq, 64_240);
        if flags & 0x02 != 0 {
            b = b.syn();
        }
        if flags & 0x10 != 0 {
            b = b.ack(ack);
        }
        if flags & 0x01 != 0 {
            b = b.fin();
        }
        if flags & 0x04 != 0 {
            b = b.rst();
        }
        if flags & 0x08 != 0 {
            b = b.psh();
        }
        let mut frame = Vec::with_capacity(b.size(payload.len()));
        if b.write(&mut frame, payload).is_ok() {
            self.tl.push(ts, frame);
        }
    }

    fn udp(
        &mut self,
        ts: i64,
        from: (Mac, Ipv4Addr, u16),
        to: (Mac, Ipv4Addr, u16),
        payload: &[u8],
    ) {
        let b = PacketBuilder::ethernet2(from.0, to.0)
            .ipv4(from.1.octets(), to.1.octets(), 64)
            .udp(from.2, to.2);
        let mut frame = Vec::with_capacity(b.size(payload.len()));
        if b.write(&mut frame, payload).is_ok() {
            self.tl.push(ts, frame);
        }
    }

    fn arp(
        &mut self,
        ts: i64,
        op: u16,
        sender: (Mac, Ipv4Addr),
        target: (Mac, Ipv4Addr),
        dst_mac: Mac,
    ) {
        let mut f = Vec::with_capacity(42);
        f.extend_from_slice(&dst_mac);
        f.extend_from_slice(&sender.0);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4]);
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(&sender.0);
        f.extend_from_slice(&sender.1.octets());
        f.extend_from_slice(&target.0);
        f.extend_from_slice(&target.1.octets());
        self.tl.push(ts, f);
    }

    /// A whole TCP connection; returns its end time.
    #[allow(clippy::too_many_arguments)]
    fn tcp_session(
        &mut self,
        t0: i64,
        client: (Mac, Ipv4Addr),
        server: (Mac, Ipv4Addr, u16),
        request: &[u8],
        request_bytes: u64,
        response_bytes: u64,
        answer: &Answer,
        stretch_secs: u64,
    ) -> i64 {
        let c = (client.0, client.1, self.port());
        let s = server;
        let mut cs: u32 = self.rng.random();
        let mut ss: u32 = self.rng.random();
        match answer {
            Answer::None => {
                for back in [0, SECOND, 3 * SECOND] {
                    self.tcp(t0 + back, c, s, cs, 0, 0x02, &[]);
                }
                return t0 + 3 * SECOND;
            }
            Answer::Refused => {
                self.tcp(t0, c, s, cs, 0, 0x02, &[]);
                self.tcp(t0 + 300, s, c, 0, cs.wrapping_add(1), 0x14, &[]);
                return t0 + 300;
            }
            Answer::Tls(_) | Answer::Open => {}
        }
        let rtt = 200;
        self.tcp(t0, c, s, cs, 0, 0x02, &[]);
        self.tcp(t0 + rtt, s, c, ss, cs.wrapping_add(1), 0x12, &[]);
        cs = cs.wrapping_add(1);
        ss = ss.wrapping_add(1);
        self.tcp(t0 + 2 * rtt, c, s, cs, ss, 0x10, &[]);
        let mut t = t0 + 3 * rtt;
        if !request.is_empty() {
            self.tcp(t, c, s, cs, ss, 0x18, request);
            cs = cs.wrapping_add(u32::try_from(request.len()).unwrap_or(0));
            t += rtt;
        }
        // Bulk data at about 1 Gbit/s (12 us per full segment); a long session is stretched.
        let segments = request_bytes.div_ceil(MSS as u64);
        let spacing = if stretch_secs > 0 && segments > 0 {
            (i64::try_from(stretch_secs).unwrap_or(0) * SECOND
                / i64::try_from(segments).unwrap_or(1))
            .max(12)
        } else {
            12
        };
        let mut left = request_bytes;
        let mut n = 0u64;
        while left > 0 {
            let len = usize::try_from(left.min(MSS as u64)).unwrap_or(MSS);
            let payload = ZEROS.get(..len).unwrap_or(&ZEROS);
            self.tcp(t, c, s, cs, ss, 0x10, payload);
            cs = cs.wrapping_add(u32::try_from(len).unwrap_or(0));
            left -= len as u64;
            n += 1;
            t += spacing;
            if n.is_multiple_of(16) || left == 0 {
                self.tcp(t + rtt / 2, s, c, ss, cs, 0x10, &[]);
            }
        }
        let mut left = response_bytes;
        while left > 0 {
            let len = usize::try_from(left.min(MSS as u64)).unwrap_or(MSS);
            let payload = ZEROS.get(..len).unwrap_or(&ZEROS);
            t += 12;
            self.tcp(t, s, c, ss, cs, 0x18, payload);
            ss = ss.wrapping_add(u32::try_from(len).unwrap_or(0));
            left -= len as u64;
        }
        t += rtt;
        self.tcp(t, c, s, cs, ss, 0x11, &[]);
        self.tcp(t + rtt, s, c, ss, cs.wrapping_add(1), 0x11, &[]);
        self.tcp(
            t + 2 * rtt,
            c,
            s,
            cs.wrapping_add(1),
            ss.wrapping_add(1),
            0x10,
            &[],
        );
        t + 2 * rtt
    }

    fn dns(&mut self, t: i64, client: Host, name: &str, qtype: u16, answer: bool) {
        let id: u16 = self.rng.random();
        let mut m = Vec::with_capacity(64);
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in name.split('.') {
            m.push(u8::try_from(label.len().min(63)).unwrap_or(63));
            m.extend_from_slice(
                label
                    .as_bytes()
                    .get(..label.len().min(63))
                    .unwrap_or_default(),
            );
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        let port = self.port();
        self.udp(
            t,
            (client.mac, client.ip, port),
            (EDGE.mac, EDGE.ip, 53),
            &m,
        );
        if answer {
            let mut r = m.clone();
            if let Some(b) = r.get_mut(2) {
                *b = 0x81;
            }
            if let Some(b) = r.get_mut(3) {
                *b = 0x80;
            }
            self.udp(
                t + 400,
                (EDGE.mac, EDGE.ip, 53),
                (client.mac, client.ip, port),
                &r,
            );
        }
    }
}

fn tls_client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let nlen = u16::try_from(name.len()).unwrap_or(0);
    let mut ext = Vec::new();
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&(nlen + 5).to_be_bytes());
    ext.extend_from_slice(&(nlen + 3).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&nlen.to_be_bytes());
    ext.extend_from_slice(name);
    let mut hello = vec![3, 3];
    hello.extend_from_slice(&[0x5a; 32]);
    hello.push(0);
    hello.extend_from_slice(&[0, 4, 0x13, 0x01, 0x13, 0x02, 1, 0]);
    hello.extend_from_slice(&u16::try_from(ext.len()).unwrap_or(0).to_be_bytes());
    hello.extend_from_slice(&ext);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&u16::try_from(hello.len()).unwrap_or(0).to_be_bytes());
    hs.extend_from_slice(&hello);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&u16::try_from(hs.len()).unwrap_or(0).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

fn exp(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    -mean * u.ln()
}

/// Generates the capture into `out`.
pub fn generate(spec: &Spec, out: impl Write) -> std::io::Result<Output> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let start = spec.start_secs.saturating_mul(SECOND);
    let end = start.saturating_add(
        i64::try_from(spec.duration_secs)
            .unwrap_or(0)
            .saturating_mul(SECOND),
    );
    let n = spec.scanners.clamp(1, 8);
    let scanners: Vec<Host> = (0..n).map(scanner).collect();

    // The schedule: every session start, then sorted.
    let mut schedule: Vec<(i64, Session)> = Vec::new();
    let mut benign = 0u64;
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let secs = |s: f64| (s * 1e6) as i64;
    for (i, _) in scanners.iter().enumerate() {
        let mut t = start as f64 / 1e6;
        let mean = 3600.0 / spec.scans_per_hour.max(0.001);
        loop {
            t += exp(&mut rng, mean);
            if secs(t) >= end {
                break;
            }
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let bytes = (spec.scan_bytes as f64 * rng.random_range(0.5..1.5)) as u64;
            schedule.push((secs(t), Session::Scan { scanner: i, bytes }));
            benign += 1;
        }
        let mut t = start as f64 / 1e6;
        loop {
            t += exp(&mut rng, 600.0);
            if secs(t) >= end {
                break;
            }
            schedule.push((secs(t), Session::Dns { scanner: i }));
            benign += 1;
        }
        let mut t = start as f64 / 1e6;
        loop {
            t += exp(&mut rng, 300.0);
            if secs(t) >= end {
                break;
            }
            schedule.push((secs(t), Session::Arp { scanner: i }));
        }
    }
    let mut t = start + SECOND;
    while t < end {
        schedule.push((t, Session::Ntp));
        benign += 1;
        t += 64 * SECOND;
    }
    {
        let mut t = start as f64 / 1e6;
        loop {
            t += exp(&mut rng, 3600.0);
            if secs(t) >= end {
                break;
            }
            let hour = (secs(t) / SECOND / 3600) % 24;
            if (8..18).contains(&hour) {
                let s = rng.random_range(0..n);
                let len = rng.random_range(60..900);
                let bytes = rng.random_range(20_000..400_000);
                schedule.push((
                    secs(t),
                    Session::Ssh {
                        scanner: s,
                        secs: len,
                        bytes,
                    },
                ));
                benign += 1;
            }
        }
    }
    let mut labels = Vec::new();
    let mut blind: Vec<(i64, i64)> = Vec::new();
    for inj in &spec.injections {
        let at =
            |s: u64| start.saturating_add(i64::try_from(s).unwrap_or(0).saturating_mul(SECOND));
        // Every injection but a beacon (many sessions) and a blind spell (no session) is one
        // session at its time.
        match inj {
            Injection::PhoneHome { at_secs, .. }
            | Injection::DnsTunnel { at_secs, .. }
            | Injection::BulkUpload { at_secs, .. }
            | Injection::NewDevice { at_secs, .. }
            | Injection::ArpSpoof { at_secs, .. }
            | Injection::WindowsChatter { at_secs, .. }
            | Injection::LongSession { at_secs, .. } => {
                schedule.push((at(*at_secs), Session::Injected(inj.clone())));
            }
            Injection::Beacon { .. } | Injection::Blind { .. } => {}
        }
        match inj {
            Injection::Beacon {
                scanner: s,
                dst,
                port,
                interval_secs,
                jitter,
            } => {
                let mut t = start as f64 / 1e6 + rng.random_range(0.0..(*interval_secs as f64));
                let mut k = 0;
                while secs(t) < end {
                    schedule.push((
                        secs(t),
                        Session::Beat {
                            scanner: *s,
                            dst: *dst,
                            port: *port,
                            n: k,
                        },
                    ));
                    k += 1;
                    #[allow(clippy::cast_precision_loss)]
                    let base = *interval_secs as f64;
                    t += base * (1.0 + jitter * rng.random_range(-1.0..1.0));
                }
                labels.push(Label {
                    what: format!(
                        "beacon every {interval_secs} s with {:.0} % jitter",
                        jitter * 100.0
                    ),
                    src: scanner(*s).ip,
                    dst: Some(*dst),
                    port: Some(*port),
                    rules: vec!["flow.beacon", "flow.outside-policy", "flow.cleartext"],
                });
            }
            Injection::PhoneHome {
                scanner: s,
                dst,
                port,
                answer,
                ..
            } => {
                let mut rules = vec!["flow.outside-policy"];
                if matches!(answer, Answer::Tls(_)) {
                    rules.push("flow.tls-outside-policy");
                }
                labels.push(Label {
                    what: format!("phone-home ({answer:?})"),
                    src: scanner(*s).ip,
                    dst: Some(*dst),
                    port: Some(*port),
                    rules,
                });
            }
            Injection::DnsTunnel {
                scanner: s, domain, ..
            } => {
                labels.push(Label {
                    what: format!("DNS tunnel under {domain}"),
                    src: scanner(*s).ip,
                    dst: Some(EDGE.ip),
                    port: Some(53),
                    rules: vec!["dns.tunnel", "dns.name-not-allowed"],
                });
            }
            Injection::BulkUpload { scanner: s, .. } => {
                labels.push(Label {
                    what: "bulk upload above the hourly baseline".into(),
                    src: scanner(*s).ip,
                    dst: Some(EDGE.ip),
                    port: Some(11112),
                    rules: vec!["flow.volume"],
                });
            }
            Injection::NewDevice { ip, .. } => {
                labels.push(Label {
                    what: "new device".into(),
                    src: *ip,
                    dst: None,
                    port: None,
                    rules: vec!["device.new-mac", "device.new-ip"],
                });
            }
            Injection::ArpSpoof { scanner: s, .. } => {
                labels.push(Label {
                    what: format!("ARP spoofing of the edge towards {}", scanner(*s).name),
                    src: EDGE.ip,
                    dst: Some(scanner(*s).ip),
                    port: None,
                    rules: vec!["arp.ip-moved", "arp.unsolicited-reply"],
                });
            }
            Injection::WindowsChatter { scanner: s, .. } => {
                labels.push(Label {
                    what: "LLMNR, NetBIOS and NTP chatter".into(),
                    src: scanner(*s).ip,
                    dst: None,
                    port: None,
                    rules: vec![
                        "dns.local-name-query",
                        "dns.local-name-query",
                        "ntp.unexpected-server",
                    ],
                });
            }
            Injection::LongSession {
                scanner: s,
                secs: len,
                ..
            } => {
                labels.push(Label {
                    what: format!("an SSH session held open for {len} s"),
                    src: LAPTOP.ip,
                    dst: Some(scanner(*s).ip),
                    port: Some(22),
                    rules: vec!["flow.long-lived"],
                });
            }
            Injection::Blind { at_secs, secs: len } => {
                let from = at(*at_secs);
                blind.push((
                    from,
                    from.saturating_add(i64::try_from(*len).unwrap_or(0).saturating_mul(SECOND)),
                ));
                labels.push(Label {
                    what: format!("sensor blind for {len} s"),
                    src: Ipv4Addr::UNSPECIFIED,
                    dst: None,
                    port: None,
                    rules: vec!["sensor.silent"],
                });
            }
        }
    }
    schedule.sort_by_key(|(t, _)| *t);

    let mut tl = Timeline::new(out)?;
    tl.blind = blind.clone();
    let mut g = Gen {
        tl,
        rng,
        ports: 40_000,
        ip_id: 0,
    };
    for (t, session) in schedule {
        if blind.iter().any(|(a, b)| (*a..*b).contains(&t)) {
            continue;
        }
        g.tl.flush_before(t)?;
        match session {
            Session::Scan { scanner: s, bytes } => {
                let sc = scanner(s);
                g.tcp_session(
                    t,
                    (sc.mac, sc.ip),
                    (EDGE.mac, EDGE.ip, 11112),
                    &[],
                    bytes,
                    600,
                    &Answer::Open,
                    0,
                );
            }
            Session::Dns { scanner: s } => g.dns(t, scanner(s), "edge.enclave.example", 1, true),
            Session::Arp { scanner: s } => {
                let sc = scanner(s);
                g.arp(t, 1, (sc.mac, sc.ip), ([0; 6], EDGE.ip), [0xff; 6]);
                g.arp(t + 150, 2, (EDGE.mac, EDGE.ip), (sc.mac, sc.ip), sc.mac);
            }
            Session::Ntp => {
                let mut ntp = [0u8; 48];
                ntp[0] = 0x23;
                g.udp(t, (EDGE.mac, EDGE.ip, 123), (TIME.mac, TIME.ip, 123), &ntp);
                ntp[0] = 0x24;
                g.udp(
                    t + 300,
                    (TIME.mac, TIME.ip, 123),
                    (EDGE.mac, EDGE.ip, 123),
                    &ntp,
                );
            }
            Session::Ssh {
                scanner: s,
                secs: len,
                bytes,
            } => {
                let sc = scanner(s);
                g.tcp_session(
                    t,
                    (LAPTOP.mac, LAPTOP.ip),
                    (sc.mac, sc.ip, 22),
                    b"SSH-2.0-OpenSSH_9.2p1\r\n",
                    bytes,
                    bytes / 4,
                    &Answer::Open,
                    len,
                );
            }
            Session::Beat {
                scanner: s,
                dst,
                port,
                n: k,
            } => {
                let sc = scanner(s);
                let req = format!(
                    "GET /api/v1/poll?d={:08x}&n={k:06} HTTP/1.1\r\nHost: {dst}\r\nUser-Agent: svc/2.1\r\n\r\n",
                    0x5ca1_1ab1_u32
                );
                g.tcp_session(
                    t,
                    (sc.mac, sc.ip),
                    (SWITCH.mac, dst, port),
                    req.as_bytes(),
                    0,
                    180,
                    &Answer::Open,
                    0,
                );
            }
            Session::Injected(inj) => match inj {
                Injection::PhoneHome {
                    scanner: s,
                    dst,
                    port,
                    answer,
                    ..
                } => {
                    let sc = scanner(s);
                    let hello = match &answer {
                        Answer::Tls(sni) => tls_client_hello(sni),
                        _ => Vec::new(),
                    };
                    g.tcp_session(
                        t,
                        (sc.mac, sc.ip),
                        (SWITCH.mac, dst, port),
                        &hello,
                        0,
                        3000,
                        &answer,
                        0,
                    );
                }
                Injection::DnsTunnel {
                    scanner: s,
                    domain,
                    queries,
                    ..
                } => {
                    let sc = scanner(s);
                    const B32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
                    for q in 0..queries {
                        let label: String = (0..50)
                            .map(|_| {
                                char::from(*B32.get(g.rng.random_range(0..32)).unwrap_or(&b'a'))
                            })
                            .collect();
                        let name = format!("{label}.{q:x}.{domain}");
                        let tq = t + i64::try_from(q).unwrap_or(0) * 700_000;
                        g.dns(tq, sc, &name, 16, true);
                    }
                }
                Injection::BulkUpload {
                    scanner: s, bytes, ..
                } => {
                    let sc = scanner(s);
                    g.tcp_session(
                        t,
                        (sc.mac, sc.ip),
                        (EDGE.mac, EDGE.ip, 11112),
                        &[],
                        bytes,
                        600,
                        &Answer::Open,
                        0,
                    );
                }
                Injection::LongSession {
                    scanner: s,
                    secs: len,
                    ..
                } => {
                    let sc = scanner(s);
                    g.tcp_session(
                        t,
                        (LAPTOP.mac, LAPTOP.ip),
                        (sc.mac, sc.ip, 22),
                        b"SSH-2.0-OpenSSH_9.2p1\r\n",
                        400_000,
                        100_000,
                        &Answer::Open,
                        len,
                    );
                }
                Injection::NewDevice { mac, ip, .. } => {
                    g.arp(t, 1, (mac, ip), ([0; 6], EDGE.ip), [0xff; 6]);
                    g.arp(t + 150, 2, (EDGE.mac, EDGE.ip), (mac, ip), mac);
                }
                Injection::ArpSpoof { scanner: s, .. } => {
                    let sc = scanner(s);
                    for k in 0..5 {
                        g.arp(
                            t + k * 2 * SECOND,
                            2,
                            (LAPTOP.mac, EDGE.ip),
                            (sc.mac, sc.ip),
                            sc.mac,
                        );
                    }
                }
                Injection::WindowsChatter { scanner: s, .. } => {
                    let sc = scanner(s);
                    // LLMNR query for "wpad" to 224.0.0.252.
                    let mut m = vec![0x4a, 0x11, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4];
                    m.extend_from_slice(b"wpad");
                    m.extend_from_slice(&[0, 0, 1, 0, 1]);
                    g.udp(
                        t,
                        (sc.mac, sc.ip, 53_001),
                        (
                            [1, 0, 0x5e, 0, 0, 0xfc],
                            Ipv4Addr::new(224, 0, 0, 252),
                            5355,
                        ),
                        &m,
                    );
                    // NetBIOS name query for WORKGROUP to the broadcast address.
                    let mut nb = vec![0x81, 0x02, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 32];
                    nb.extend_from_slice(b"FHEPFCELEHFCEPFFFACACACACACACABN");
                    nb.extend_from_slice(&[0, 0, 0x20, 0, 1]);
                    g.udp(
                        t + SECOND,
                        (sc.mac, sc.ip, 137),
                        ([0xff; 6], Ipv4Addr::new(10, 20, 0, 255), 137),
                        &nb,
                    );
                    let mut ntp = [0u8; 48];
                    ntp[0] = 0x23;
                    g.udp(
                        t + 2 * SECOND,
                        (sc.mac, sc.ip, 123),
                        (SWITCH.mac, Ipv4Addr::new(162, 159, 200, 1), 123),
                        &ntp,
                    );
                }
                _ => {}
            },
        }
    }
    let (frames, bytes) = g.tl.finish()?;
    Ok(Output {
        frames,
        bytes,
        benign_flows: benign,
        labels,
    })
}

/// The allow-list policy of the generated enclave, as a person would write it.
/// `max_scan_bytes_per_hour` is the baseline of scanner uploads.
pub fn policy_toml(spec: &Spec, max_scan_bytes_per_hour: u64) -> String {
    let mut p = String::from(
        "# The generated enclave's allow-list.\naccepted = true\nsensor = \"enclave-tap\"\n\n",
    );
    let fixed = [SWITCH, EDGE, TIME, LAPTOP].map(|h| {
        let role = match h.name {
            "switch" | "edge" | "maintenance" => h.name,
            _ => "other",
        };
        (h, role)
    });
    let scanners = (0..spec.scanners.clamp(1, 8)).map(|i| (scanner(i), "scanner"));
    for (h, role) in fixed.into_iter().chain(scanners) {
        let m = h.mac;
        p.push_str(&format!(
            "[[device]]\nname = \"{}\"\nrole = \"{role}\"\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\nips = [\"{}\"]\n\n",
            h.name, m[0], m[1], m[2], m[3], m[4], m[5], h.ip
        ));
    }
    p.push_str(&format!(
        "[[flow]]\nfrom = \"role:scanner\"\nto = \"edge\"\nproto = \"tcp\"\nports = [11112]\nmax_bytes_per_hour = {max_scan_bytes_per_hour}\n\n\
         [[flow]]\nfrom = \"role:scanner\"\nto = \"edge\"\nproto = \"udp\"\nports = [53]\n\n\
         [[flow]]\nfrom = \"edge\"\nto = \"timeserver\"\nproto = \"udp\"\nports = [123]\nperiodic = true\n\n\
         [[flow]]\nfrom = \"maintenance\"\nto = \"role:scanner\"\nproto = \"tcp\"\nports = [22]\nhours = \"08-18\"\n\n\
         [[dns]]\ndevice = \"role:scanner\"\nserver = \"edge\"\nnames = [\"edge.enclave.example\"]\n"
    ));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_time_ordered() {
        let spec = Spec {
            duration_secs: 900,
            injections: vec![Injection::Beacon {
                scanner: 0,
                dst: Ipv4Addr::new(192, 0, 2, 10),
                port: 8080,
                interval_secs: 60,
                jitter: 0.2,
            }],
            ..Spec::default()
        };
        let mut a = Vec::new();
        let out = generate(&spec, &mut a).unwrap();
        let mut b = Vec::new();
        generate(&spec, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(out.bytes, a.len() as u64);
        assert!(out.frames > 100);
        // Timestamps never decrease.
        let mut off = 24;
        let mut last = 0u64;
        while off + 16 <= a.len() {
            let s = u64::from(u32::from_le_bytes(a[off..off + 4].try_into().unwrap()));
            let us = u64::from(u32::from_le_bytes(a[off + 4..off + 8].try_into().unwrap()));
            let len = u32::from_le_bytes(a[off + 8..off + 12].try_into().unwrap()) as usize;
            let t = s * 1_000_000 + us;
            assert!(t >= last);
            last = t;
            off += 16 + len;
        }
        assert_eq!(off, a.len());
    }
}
