//! The detection engine: packets (or exported flow records) and the policy in, alerts out.
//!
//! Sans-I/O: the caller feeds [`Watch::frame`], [`Watch::flow_record`], [`Watch::drops`] and
//! [`Watch::tick`], then drains [`Watch::alerts`]. Every table is bounded by configuration; when
//! one is full, the stalest entry is evicted and the eviction counted in [`Stats`], and a full
//! flow table is itself an alert (the sensor is losing sight).

use std::collections::{HashMap, HashSet};

/// The tables are keyed by what the wire says, so their hasher is seeded per process (no
/// collisions chosen in advance) and fast: foldhash, as hashbrown uses by default.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type Set<K> = HashSet<K, foldhash::fast::RandomState>;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};

use crate::alert::{Alert, Rule};
use crate::beacon;
use crate::capture::{LinkType, Micros};
use crate::dns::{self, DomainStats};
use crate::packet::{self, Arp, Ip, Mac, Net, proto, tcp_flags};
use crate::policy::{Policy, Thresholds};

mod devices;
mod exported;
mod flows;
mod names;
mod payload;
mod sensor;

const SECOND: Micros = 1_000_000;
/// Cap on remembered hosts, MAC bindings, alert keys, DNS domains and beacon pairs.
const TABLE_CAP: usize = 1 << 16;
/// Connection events kept per pair for beacon scoring (the latest).
const SERIES_CAP: usize = 4096;

/// Counters of the engine. The engine only counts; [`crate::run::Observer::stats`] hands them
/// to whoever exports them (the CLI's Prometheus exporter, [`crate::sink::Metrics`]).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    /// Frames fed.
    pub frames: u64,
    /// Bytes of those frames on the wire.
    pub bytes: u64,
    /// Frames that could not be decoded.
    pub undecoded: u64,
    /// Flow records fed (IPFIX / NetFlow).
    pub flow_records: u64,
    /// Flows started.
    pub flows: u64,
    /// Flows evicted from a full table.
    pub flows_evicted: u64,
    /// Entries evicted from the other bounded tables.
    pub table_evictions: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Repeats of an alert already raised, not raised again.
    pub alerts_suppressed: u64,
    /// DNS-format messages that did not parse.
    pub dns_unparsed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FlowKey {
    a: (IpAddr, u16),
    b: (IpAddr, u16),
    proto: u8,
}

impl FlowKey {
    fn new(src: (IpAddr, u16), dst: (IpAddr, u16), proto: u8) -> (Self, bool) {
        if src <= dst {
            (
                Self {
                    a: src,
                    b: dst,
                    proto,
                },
                true,
            )
        } else {
            (
                Self {
                    a: dst,
                    b: src,
                    proto,
                },
                false,
            )
        }
    }
}

#[derive(Clone, Debug)]
struct Flow {
    /// True when `a` of the key started the flow.
    a_started: bool,
    first: Micros,
    last: Micros,
    /// Packets and bytes from the initiator [0] and the responder [1].
    pkts: [u64; 2],
    bytes: [u64; 2],
    rule: Option<usize>,
    long_alerted: bool,
    inspected: bool,
    last_from_init: Micros,
    closing: bool,
    /// Initiator bytes not yet added to the hourly volume (flushed every MiB, each clock hour
    /// and at the end of the flow, so the shared table is not touched per packet).
    volume_pending: u64,
    volume_hour: i64,
}

/// Bytes a flow gathers before they are added to its initiator's hourly volume.
const VOLUME_BATCH: u64 = 1 << 20;

/// A flow as a switch exports it (NetFlow v9 / IPFIX), already directed initiator -> responder.
#[derive(Clone, Copy, Debug)]
pub struct FlowRecord {
    /// Flow start.
    pub start: Micros,
    /// Flow end.
    pub end: Micros,
    /// Initiator.
    pub src: (IpAddr, u16),
    /// Responder.
    pub dst: (IpAddr, u16),
    /// IP protocol.
    pub proto: u8,
    /// Bytes from the initiator.
    pub bytes: u64,
    /// Packets from the initiator.
    pub packets: u64,
    /// TCP flags seen (OR of all).
    pub tcp_flags: u8,
}

type PairKey = (IpAddr, IpAddr, u8, u16);

#[derive(Debug, Default)]
struct Series {
    times: std::collections::VecDeque<(Micros, u64)>,
    alerted: bool,
}

/// The engine.
#[derive(Debug)]
pub struct Watch {
    policy: Policy,
    t: Thresholds,
    flows: Map<FlowKey, Flow>,
    macs_seen: Set<Mac>,
    ips_seen: Set<IpAddr>,
    ip_mac: Map<IpAddr, Mac>,
    arp_asked: Map<(Ipv4Addr, Ipv4Addr), Micros>,
    alerted: Set<u64>,
    domains: Map<(IpAddr, String), DomainStats>,
    series: Map<PairKey, Series>,
    volume: Map<(usize, IpAddr), (i64, u64, bool)>,
    first_ts: Option<Micros>,
    last_ts: Option<Micros>,
    last_sweep: Micros,
    last_beacon_pass: Micros,
    drops_seen: u64,
    silent_alerted: bool,
    held: Vec<FlowRecord>,
    recent_macs: [Mac; 2],
    recent_binds: [Option<(IpAddr, Mac)>; 2],
    out: Vec<Alert>,
    /// Counters.
    pub stats: Stats,
}

fn key_hash(parts: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

fn hour_of(ts: Micros) -> u8 {
    let h = ts.div_euclid(3600 * SECOND).rem_euclid(24);
    u8::try_from(h).unwrap_or(0)
}

impl Watch {
    /// A watch over `policy`.
    pub fn new(policy: Policy) -> Self {
        let t = policy.thresholds.clone();
        Self {
            policy,
            t,
            flows: Map::default(),
            macs_seen: Set::default(),
            ips_seen: Set::default(),
            ip_mac: Map::default(),
            arp_asked: Map::default(),
            alerted: Set::default(),
            domains: Map::default(),
            series: Map::default(),
            volume: Map::default(),
            first_ts: None,
            last_ts: None,
            last_sweep: 0,
            last_beacon_pass: 0,
            drops_seen: 0,
            silent_alerted: false,
            held: Vec::new(),
            recent_macs: [Mac::BROADCAST; 2],
            recent_binds: [None, None],
            out: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Flows in the table now.
    pub fn live_flows(&self) -> usize {
        self.flows.len()
    }

    /// Takes the alerts raised so far.
    pub fn alerts(&mut self) -> std::vec::Drain<'_, Alert> {
        self.out.drain(..)
    }

    fn raise(&mut self, key: u64, alert: Alert) {
        if self.alerted.contains(&key) {
            self.stats.alerts_suppressed = self.stats.alerts_suppressed.saturating_add(1);
            return;
        }
        if self.alerted.len() >= TABLE_CAP.saturating_mul(16) {
            // Forgetting old keys only risks repeating an alert, never missing one.
            self.alerted.clear();
            self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
        }
        self.alerted.insert(key);
        self.stats.alerts = self.stats.alerts.saturating_add(1);
        self.out.push(alert);
    }

    /// The clock: checks time going backwards and silences. Called for every frame and by
    /// [`Watch::tick`] from a live capture's wall clock.
    fn clock(&mut self, ts: Micros) {
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
            self.last_sweep = ts;
            self.last_beacon_pass = ts;
        }
        if let Some(last) = self.last_ts {
            let jump = i64::try_from(self.t.clock_jump_secs).unwrap_or(i64::MAX / SECOND);
            if ts < last.saturating_sub(jump.saturating_mul(SECOND)) {
                let a = Alert::new(
                    ts,
                    Rule::ClockJump,
                    format!(
                        "capture time went back {:.3} s",
                        (last - ts) as f64 / SECOND as f64
                    ),
                )
                .with("previous_ts", last)
                .with("ts", ts);
                self.raise(key_hash((Rule::ClockJump, ts)), a);
                self.last_ts = Some(ts);
                return;
            }
            let silence = i64::try_from(self.t.silence_secs).unwrap_or(i64::MAX / SECOND);
            if ts.saturating_sub(last) > silence.saturating_mul(SECOND) {
                let a = Alert::new(
                    ts,
                    Rule::SensorSilent,
                    format!(
                        "no packets for {} s (allowed {} s)",
                        (ts - last) / SECOND,
                        self.t.silence_secs
                    ),
                )
                .with("silent_from", last)
                .with("silent_until", ts);
                self.raise(key_hash((Rule::SensorSilent, last)), a);
            }
            if ts <= last {
                return;
            }
        }
        self.last_ts = Some(ts);
        self.silent_alerted = false;
        if ts.saturating_sub(self.last_sweep) >= 10 * SECOND {
            self.sweep(ts);
            self.last_sweep = ts;
        }
        if ts.saturating_sub(self.last_beacon_pass) >= 3600 * SECOND {
            self.beacon_pass();
            self.last_beacon_pass = ts;
        }
    }

    /// Wall-clock tick of a live capture: raises [`Rule::SensorSilent`] once when nothing has
    /// arrived for the allowed time.
    pub fn tick(&mut self, now: Micros) {
        let silence = i64::try_from(self.t.silence_secs).unwrap_or(i64::MAX / SECOND);
        let last = self.last_ts.unwrap_or(now);
        if self.last_ts.is_some()
            && !self.silent_alerted
            && now.saturating_sub(last) > silence.saturating_mul(SECOND)
        {
            self.silent_alerted = true;
            let a = Alert::new(
                now,
                Rule::SensorSilent,
                format!("no packets for {} s", (now - last) / SECOND),
            )
            .with("silent_from", last);
            self.raise(key_hash((Rule::SensorSilent, last)), a);
        }
    }

    /// Feeds one captured frame.
    pub fn frame(&mut self, ts: Micros, link: LinkType, data: &[u8], orig_len: u32) {
        self.stats.frames = self.stats.frames.saturating_add(1);
        self.stats.bytes = self.stats.bytes.saturating_add(u64::from(orig_len));
        self.clock(ts);
        let Ok(p) = packet::decode(link, data) else {
            self.stats.undecoded = self.stats.undecoded.saturating_add(1);
            return;
        };
        let has_mac = link == LinkType::Ethernet;
        if has_mac {
            self.see_mac(ts, p.src_mac, &p.net);
        }
        match p.net {
            Net::Arp(arp) => self.arp(ts, &arp),
            Net::Ip(ip) => {
                if has_mac {
                    self.bind(ts, ip.src, p.src_mac, "ip");
                }
                self.ip(ts, &ip, has_mac.then_some((p.src_mac, p.dst_mac)));
            }
            Net::Other(_) => {}
        }
    }

    /// The end of the input (or a periodic pass of a live one): scores beacons over everything
    /// seen.
    pub fn finish(&mut self) {
        let live: Vec<(FlowKey, Flow)> = self
            .flows
            .iter_mut()
            .map(|(k, f)| {
                let copy = f.clone();
                f.volume_pending = 0;
                (*k, copy)
            })
            .collect();
        for (k, f) in &live {
            self.settle(k, f);
        }
        self.beacon_pass();
    }

    /// The latest input time seen (frames, flow records or drop counts), if any.
    pub fn input_time(&self) -> Option<Micros> {
        self.last_ts
    }
}

fn too_long(policy: &Policy, t: &Thresholds, rule: Option<usize>, age: Micros) -> bool {
    let limit = rule
        .and_then(|r| policy.flows.get(r))
        .and_then(|r| r.max_duration_secs)
        .unwrap_or(t.long_lived_secs);
    age > i64::try_from(limit)
        .unwrap_or(i64::MAX / SECOND)
        .saturating_mul(SECOND)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
