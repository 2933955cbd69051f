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

const SECOND: Micros = 1_000_000;
/// Cap on remembered hosts, MAC bindings, alert keys, DNS domains and beacon pairs.
const TABLE_CAP: usize = 1 << 16;
/// Connection events kept per pair for beacon scoring (the latest).
const SERIES_CAP: usize = 4096;

/// Counters of the engine, also exported as metrics.
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
    metrics: Option<crate::sink::Metrics>,
    metrics_at: Micros,
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
            metrics: None,
            metrics_at: 0,
            recent_binds: [None, None],
            out: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Keeps these metrics current: alerts as they are raised, counters once a second of
    /// input time and at the end.
    pub fn attach_metrics(&mut self, metrics: crate::sink::Metrics) {
        self.metrics = Some(metrics);
    }

    fn update_metrics(&mut self, ts: Micros) {
        if ts.saturating_sub(self.metrics_at) >= SECOND {
            self.metrics_at = ts;
            let live = self.flows.len();
            if let Some(m) = self.metrics.as_mut() {
                m.update(&self.stats, live);
            }
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
        if let Some(m) = &self.metrics {
            m.alert(&alert);
        }
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
        self.update_metrics(ts);
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
        self.update_metrics(now.max(self.metrics_at));
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

    /// The capture reports `total` frames dropped so far.
    pub fn drops(&mut self, ts: Micros, total: u64) {
        if total > self.drops_seen {
            let new = total - self.drops_seen;
            self.drops_seen = total;
            let a = Alert::new(
                ts,
                Rule::CaptureDrops,
                format!("the capture dropped {new} frames ({total} in all)"),
            )
            .with("dropped", new)
            .with("dropped_total", total);
            self.raise(key_hash((Rule::CaptureDrops, total)), a);
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

    fn see_mac(&mut self, ts: Micros, mac: Mac, net: &Net<'_>) {
        // The two ends of a bulk transfer alternate: remember the last two senders.
        if self.recent_macs.contains(&mac) {
            return;
        }
        if mac.is_group() || mac == Mac::default() || self.macs_seen.contains(&mac) {
            self.recent_macs = [self.recent_macs[1], mac];
            return;
        }
        if self.macs_seen.len() >= TABLE_CAP {
            self.macs_seen.clear();
            self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
        }
        self.macs_seen.insert(mac);
        if self.policy.device_by_mac(&mac).is_some() {
            return;
        }
        let mut a = Alert::new(
            ts,
            Rule::NewMac,
            format!("new device: MAC {mac} is not in the inventory"),
        )
        .with("mac", mac.to_string());
        a.macs = Some((mac, Mac::BROADCAST));
        match net {
            Net::Ip(ip) => {
                a = a.with("ip", ip.src.to_string());
            }
            Net::Arp(arp) => {
                a = a.with("ip", arp.sender_ip.to_string());
            }
            Net::Other(et) => {
                a = a.with("ether_type", *et);
            }
        }
        self.raise(key_hash((Rule::NewMac, mac)), a);
    }

    fn see_ip(&mut self, ts: Micros, ip: IpAddr, mac: Option<Mac>) {
        if ip.is_unspecified() || self.ips_seen.contains(&ip) {
            return;
        }
        if self.ips_seen.len() >= TABLE_CAP {
            self.ips_seen.clear();
            self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
        }
        self.ips_seen.insert(ip);
        if self.policy.device_by_ip(&ip).is_some() {
            return;
        }
        let mut a = Alert::new(
            ts,
            Rule::NewIp,
            format!("new device: address {ip} is not in the inventory"),
        )
        .with("ip", ip.to_string());
        if let Some(m) = mac {
            a = a.with("mac", m.to_string());
            let owner = self.policy.device_by_mac(&m).map(|d| d.name.clone());
            if let Some(owner) = owner {
                a = a.with("mac_owner", owner);
            }
        }
        self.raise(key_hash((Rule::NewIp, ip)), a);
    }

    /// Checks that `ip` is where the inventory and the last sighting say.
    fn bind(&mut self, ts: Micros, ip: IpAddr, mac: Mac, via: &str) {
        // A binding checked and consistent stays so until the table changes for that address
        // (the cache is cleared on every change below).
        if self.recent_binds.contains(&Some((ip, mac))) {
            return;
        }
        self.recent_binds = [self.recent_binds[1], Some((ip, mac))];
        if ip.is_unspecified() || mac.is_group() {
            return;
        }
        let expected = self
            .policy
            .device_by_ip(&ip)
            .and_then(|d| d.mac.map(|m| (m, d.name.clone())));
        if let Some((want, name)) = expected {
            if want != mac {
                let a = Alert::new(
                    ts,
                    Rule::IpMoved,
                    format!("{ip} ({name}) seen from MAC {mac}; the inventory says {want}"),
                )
                .with("ip", ip.to_string())
                .with("mac", mac.to_string())
                .with("expected_mac", want.to_string())
                .with("seen_in", via);
                self.raise(key_hash((Rule::IpMoved, ip, mac)), a);
            }
            return;
        }
        match self.ip_mac.get(&ip) {
            Some(prev) if *prev != mac => {
                let prev = *prev;
                let a = Alert::new(
                    ts,
                    Rule::IpMoved,
                    format!("{ip} moved from MAC {prev} to {mac}"),
                )
                .with("ip", ip.to_string())
                .with("mac", mac.to_string())
                .with("previous_mac", prev.to_string())
                .with("seen_in", via);
                self.raise(key_hash((Rule::IpMoved, ip, mac)), a);
                self.ip_mac.insert(ip, mac);
                self.recent_binds = [None, None];
            }
            Some(_) => {}
            None => {
                if self.ip_mac.len() >= TABLE_CAP {
                    self.ip_mac.clear();
                    self.recent_binds = [None, None];
                    self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
                }
                self.ip_mac.insert(ip, mac);
                self.recent_binds = [None, None];
            }
        }
    }

    fn arp(&mut self, ts: Micros, arp: &Arp) {
        let sender = IpAddr::V4(arp.sender_ip);
        self.see_ip(ts, sender, Some(arp.sender_mac));
        self.bind(ts, sender, arp.sender_mac, "arp");
        match arp.op {
            1 => {
                if self.arp_asked.len() >= TABLE_CAP {
                    self.arp_asked.clear();
                    self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
                }
                self.arp_asked.insert((arp.target_ip, arp.sender_ip), ts);
            }
            2 => {
                let gratuitous = arp.sender_ip == arp.target_ip;
                let asked = self
                    .arp_asked
                    .remove(&(arp.sender_ip, arp.target_ip))
                    .is_some_and(|t| ts.saturating_sub(t) <= 5 * SECOND);
                if !gratuitous && !asked {
                    let mut a = Alert::new(
                        ts,
                        Rule::ArpUnsolicited,
                        format!(
                            "unsolicited ARP reply: {} is-at {} sent to {}",
                            arp.sender_ip, arp.sender_mac, arp.target_ip
                        ),
                    )
                    .with("ip", arp.sender_ip.to_string())
                    .with("mac", arp.sender_mac.to_string());
                    a.arp = Some(*arp);
                    a.macs = Some((arp.sender_mac, arp.target_mac));
                    self.raise(
                        key_hash((
                            Rule::ArpUnsolicited,
                            arp.sender_ip,
                            arp.sender_mac,
                            arp.target_ip,
                        )),
                        a,
                    );
                }
            }
            _ => {}
        }
    }

    fn ip(&mut self, ts: Micros, ip: &Ip<'_>, macs: Option<(Mac, Mac)>) {
        let len = u64::from(ip.wire_len);
        // ICMP errors answer another flow; they start nothing.
        let icmp_error = (ip.proto == proto::ICMP && matches!(ip.sport, 3 | 4 | 5 | 11 | 12))
            || (ip.proto == proto::ICMPV6 && ip.sport < 128);
        let (sport, dport) = if ip.proto == proto::ICMP || ip.proto == proto::ICMPV6 {
            (0, 0)
        } else {
            (ip.sport, ip.dport)
        };
        let (key, src_is_a) = FlowKey::new((ip.src, sport), (ip.dst, dport), ip.proto);
        if let Some(flow) = self.flows.get_mut(&key) {
            let from_init = src_is_a == flow.a_started;
            let dir = usize::from(!from_init);
            if let (Some(p), Some(b)) = (flow.pkts.get_mut(dir), flow.bytes.get_mut(dir)) {
                *p = p.saturating_add(1);
                *b = b.saturating_add(len);
            }
            let gap = ts.saturating_sub(flow.last_from_init);
            flow.last = flow.last.max(ts);
            if ip.flags & (tcp_flags::FIN | tcp_flags::RST) != 0 {
                flow.closing = true;
            }
            let rule = flow.rule;
            let first = flow.first;
            let inspect = from_init && !flow.inspected && !ip.payload.is_empty();
            if inspect {
                flow.inspected = true;
            }
            let long = !flow.long_alerted
                && ip.proto == proto::TCP
                && too_long(&self.policy, &self.t, rule, ts.saturating_sub(first));
            if long {
                flow.long_alerted = true;
            }
            let (init, resp) = if from_init {
                ((ip.src, sport), (ip.dst, dport))
            } else {
                ((ip.dst, dport), (ip.src, sport))
            };
            let mut volume_flush = None;
            if from_init {
                let hour = ts.div_euclid(3600 * SECOND);
                flow.volume_pending = flow.volume_pending.saturating_add(len);
                if flow.volume_pending >= VOLUME_BATCH || flow.volume_hour != hour {
                    volume_flush = Some(std::mem::take(&mut flow.volume_pending));
                    flow.volume_hour = hour;
                }
                flow.last_from_init = ts;
                // For beacon scoring a TCP connection is one callback (as Zeek's conn records
                // that RITA reads); a UDP or ICMP exchange after 30 s of quiet is a new one.
                // A TCP connection's size is settled when it ends (`settle`), not per packet.
                if ip.proto != proto::TCP && gap >= 30 * SECOND {
                    self.connection_event(ts, init, resp, ip.proto, len, rule);
                } else if ip.proto != proto::TCP {
                    self.connection_bytes(init, resp, ip.proto, len);
                }
                if let Some(pending) = volume_flush {
                    self.volume(ts, rule, init, resp, ip.proto, pending);
                }
            }
            if long {
                self.long_lived(ts, init, resp, ip.proto, first, rule);
            }
            if inspect && rule.is_none() {
                self.inspect_payload(ts, init, resp, ip.proto, ip.payload);
            }
            if from_init && is_name_port(ip.proto, dport) {
                self.name_query(ts, ip, macs);
            }
            return;
        }
        if icmp_error {
            return;
        }
        // A new flow: who started it.
        let src_started = ip.sender_started();
        let (init, resp) = if src_started {
            ((ip.src, sport), (ip.dst, dport))
        } else {
            ((ip.dst, dport), (ip.src, sport))
        };
        if self.flows.len() >= self.t.flow_table_max {
            self.evict(ts);
        }
        // A new address is one that starts something (or answers ARP): replies from outside
        // addresses are the flow's business, not a device on the segment.
        self.see_ip(
            ts,
            init.0,
            if src_started { macs.map(|m| m.0) } else { None },
        );
        let hour = hour_of(ts);
        let rule = self
            .policy
            .allowed(&init.0, &resp.0, ip.proto, resp.1, hour);
        self.stats.flows = self.stats.flows.saturating_add(1);
        let mut flow = Flow {
            a_started: src_started == src_is_a,
            first: ts,
            last: ts,
            pkts: [0; 2],
            bytes: [0; 2],
            rule,
            long_alerted: false,
            inspected: false,
            last_from_init: ts,
            closing: false,
            volume_pending: 0,
            volume_hour: ts.div_euclid(3600 * SECOND),
        };
        let dir = usize::from(!src_started);
        if let (Some(p), Some(b)) = (flow.pkts.get_mut(dir), flow.bytes.get_mut(dir)) {
            *p = 1;
            *b = len;
        }
        let payload_from_init = src_started && !ip.payload.is_empty();
        flow.inspected = payload_from_init;
        self.flows.insert(key, flow);
        if src_started {
            self.connection_event(ts, init, resp, ip.proto, len, rule);
            self.volume(ts, rule, init, resp, ip.proto, len);
        }
        let name_port = is_name_port(ip.proto, resp.1);
        if rule.is_none() && !(name_port && self.name_rule_covers(ip.proto, resp.1)) {
            self.outside_policy(ts, init, resp, ip, macs, src_started, hour);
        }
        if payload_from_init && rule.is_none() {
            self.inspect_payload(ts, init, resp, ip.proto, ip.payload);
        }
        if src_started && name_port {
            self.name_query(ts, ip, macs);
        }
    }

    /// DNS, mDNS, LLMNR, NetBIOS and NTP have their own, more telling detections.
    fn name_rule_covers(&self, proto_num: u8, port: u16) -> bool {
        proto_num == proto::UDP || (proto_num == proto::TCP && port == 53)
    }

    #[allow(clippy::too_many_arguments)]
    fn outside_policy(
        &mut self,
        ts: Micros,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        ip: &Ip<'_>,
        macs: Option<(Mac, Mac)>,
        src_started: bool,
        hour: u8,
    ) {
        let from = self.policy.name_of(&init.0);
        let to = self.policy.name_of(&resp.0);
        let state = if ip.proto == proto::TCP {
            if ip.flags & tcp_flags::SYN != 0 && ip.flags & tcp_flags::ACK == 0 {
                "attempt"
            } else {
                "established"
            }
        } else {
            "new"
        };
        let p = proto::name(ip.proto);
        let mut a = Alert::new(
            ts,
            Rule::FlowOutsidePolicy,
            format!("{from} -> {to} {p}/{} is not allowed by the policy", resp.1),
        )
        .flow(init, resp, ip.proto)
        .with("from", from)
        .with("to", to)
        .with("state", state)
        .with("hour_utc", hour);
        if ip.proto == proto::ICMP || ip.proto == proto::ICMPV6 {
            a = a.with("icmp_type", ip.sport).with("icmp_code", ip.dport);
        }
        if let Some((s, d)) = macs {
            a.macs = Some(if src_started { (s, d) } else { (d, s) });
        }
        self.raise(
            key_hash((Rule::FlowOutsidePolicy, init.0, resp.0, ip.proto, resp.1)),
            a,
        );
    }

    fn long_lived(
        &mut self,
        ts: Micros,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        proto_num: u8,
        first: Micros,
        rule: Option<usize>,
    ) {
        let from = self.policy.name_of(&init.0);
        let to = self.policy.name_of(&resp.0);
        let age = (ts - first) / SECOND;
        let a = Alert::new(
            ts,
            Rule::LongLived,
            format!(
                "{from} -> {to} {}/{} has lasted {age} s",
                proto::name(proto_num),
                resp.1
            ),
        )
        .flow(init, resp, proto_num)
        .with("age_secs", age)
        .with(
            "allowed_by_rule_line",
            rule.and_then(|r| self.policy.flows.get(r)).map(|r| r.line),
        );
        self.raise(key_hash((Rule::LongLived, init, resp, proto_num, first)), a);
    }

    fn volume(
        &mut self,
        ts: Micros,
        rule: Option<usize>,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        proto_num: u8,
        len: u64,
    ) {
        let Some(r) = rule else { return };
        let Some(limit) = self.policy.flows.get(r).and_then(|f| f.max_bytes_per_hour) else {
            return;
        };
        let line = self.policy.flows.get(r).map_or(0, |f| f.line);
        let hour = ts.div_euclid(3600 * SECOND);
        if self.volume.len() >= TABLE_CAP && !self.volume.contains_key(&(r, init.0)) {
            self.volume.clear();
            self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
        }
        let entry = self.volume.entry((r, init.0)).or_insert((hour, 0, false));
        if entry.0 != hour {
            *entry = (hour, 0, false);
        }
        entry.1 = entry.1.saturating_add(len);
        if entry.1 > limit && !entry.2 {
            entry.2 = true;
            let sent = entry.1;
            let from = self.policy.name_of(&init.0);
            let to = self.policy.name_of(&resp.0);
            let a = Alert::new(
                ts,
                Rule::VolumeAboveBaseline,
                format!("{from} sent more than {limit} bytes to {to} within one hour"),
            )
            .flow(init, resp, proto_num)
            .with("bytes_this_hour", sent)
            .with("baseline_bytes_per_hour", limit)
            .with("rule_line", line);
            self.raise(key_hash((Rule::VolumeAboveBaseline, r, init.0, hour)), a);
        }
    }

    fn connection_event(
        &mut self,
        ts: Micros,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        proto_num: u8,
        len: u64,
        rule: Option<usize>,
    ) {
        if rule
            .and_then(|r| self.policy.flows.get(r))
            .is_some_and(|r| r.periodic)
        {
            return;
        }
        let key = (init.0, resp.0, proto_num, resp.1);
        if !self.series.contains_key(&key) && self.series.len() >= TABLE_CAP {
            // Evict a pair that never reached the minimum; beacons accumulate, noise does not.
            let min = self.t.beacon_min_connections;
            let victim = self
                .series
                .iter()
                .filter(|(_, s)| s.times.len() < min && !s.alerted)
                .map(|(k, _)| *k)
                .next()
                .or_else(|| self.series.keys().next().copied());
            if let Some(v) = victim {
                self.series.remove(&v);
            }
            self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
        }
        let s = self.series.entry(key).or_default();
        if s.times.len() >= SERIES_CAP {
            s.times.pop_front();
        }
        s.times.push_back((ts, len));
    }

    /// A flow ended (or the input did): its size goes to its connection event for beacon
    /// scoring (TCP), and its pending bytes to the hourly volume.
    fn settle(&mut self, key: &FlowKey, f: &Flow) {
        let (init, resp) = if f.a_started {
            (key.a, key.b)
        } else {
            (key.b, key.a)
        };
        if f.volume_pending > 0 {
            self.volume(
                f.last_from_init,
                f.rule,
                init,
                resp,
                key.proto,
                f.volume_pending,
            );
        }
        if key.proto != proto::TCP {
            return;
        }
        if let Some(s) = self.series.get_mut(&(init.0, resp.0, key.proto, resp.1))
            && let Some(e) = s
                .times
                .iter_mut()
                .rev()
                .take(64)
                .find(|(t, _)| *t == f.first)
        {
            e.1 = f.bytes[0];
        }
    }

    fn connection_bytes(
        &mut self,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        proto_num: u8,
        len: u64,
    ) {
        if let Some(s) = self.series.get_mut(&(init.0, resp.0, proto_num, resp.1))
            && let Some(last) = s.times.back_mut()
        {
            last.1 = last.1.saturating_add(len);
        }
    }

    /// Scores every pair with enough connections; raises [`Rule::Beacon`] once per pair.
    fn beacon_pass(&mut self) {
        let (Some(start), Some(end)) = (self.first_ts, self.last_ts) else {
            return;
        };
        let min = self.t.beacon_min_connections;
        let threshold = self.t.beacon_score;
        let mut found = Vec::new();
        for (key, s) in &mut self.series {
            if s.alerted || s.times.len() < min {
                continue;
            }
            #[allow(clippy::cast_precision_loss)]
            let times: Vec<f64> = s.times.iter().map(|(t, _)| *t as f64 / 1e6).collect();
            #[allow(clippy::cast_precision_loss)]
            let sizes: Vec<f64> = s.times.iter().map(|(_, b)| *b as f64).collect();
            #[allow(clippy::cast_precision_loss)]
            let Some(score) = beacon::score(&times, &sizes, start as f64 / 1e6, end as f64 / 1e6)
            else {
                continue;
            };
            // Beyond RITA: a beacon must also be regular in time (gap score of at least 0.6), so
            // that small constant-size queries at random times (DNS, ARP-like chatter) never
            // score as beacons on their size regularity alone.
            if score.score >= threshold && (score.ts_skew + score.ts_madm) / 2.0 >= 0.6 {
                s.alerted = true;
                let last = s.times.back().map_or(end, |(t, _)| *t);
                found.push((*key, score, last));
            }
        }
        found.sort_by_key(|a| a.0);
        for ((src, dst, proto_num, port), score, last) in found {
            let from = self.policy.name_of(&src);
            let to = self.policy.name_of(&dst);
            let a = Alert::new(
                last,
                Rule::Beacon,
                format!(
                    "{from} calls {to} {}/{port} every {:.0} s (score {:.2} over {} connections)",
                    proto::name(proto_num),
                    score.median_gap_secs,
                    score.score,
                    score.connections
                ),
            )
            .flow((src, 0), (dst, port), proto_num)
            .with("score", round3(score.score))
            .with("connections", score.connections)
            .with("median_interval_secs", round3(score.median_gap_secs))
            .with("ts_skew_score", round3(score.ts_skew))
            .with("ts_madm_score", round3(score.ts_madm))
            .with("ds_skew_score", round3(score.ds_skew))
            .with("ds_madm_score", round3(score.ds_madm))
            .with("ds_smallness_score", round3(score.ds_smallness))
            .with("histogram_score", round3(score.histogram));
            self.raise(key_hash((Rule::Beacon, src, dst, proto_num, port)), a);
        }
    }

    fn inspect_payload(
        &mut self,
        ts: Micros,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        proto_num: u8,
        payload: &[u8],
    ) {
        if proto_num != proto::TCP {
            return;
        }
        let from = self.policy.name_of(&init.0);
        let to = self.policy.name_of(&resp.0);
        if let Some(sni) = tls_client_hello_sni(payload) {
            let a = Alert::new(
                ts,
                Rule::TlsOutsidePolicy,
                format!("{from} opened TLS to {to}:{} (SNI {sni:?})", resp.1),
            )
            .flow(init, resp, proto_num)
            .with("sni", sni);
            self.raise(
                key_hash((Rule::TlsOutsidePolicy, init.0, resp.0, resp.1)),
                a,
            );
            return;
        }
        if let Some((protocol, detail)) = cleartext(payload) {
            let a = Alert::new(
                ts,
                Rule::Cleartext,
                format!("{from} speaks {protocol} in clear to {to}:{}", resp.1),
            )
            .flow(init, resp, proto_num)
            .with("protocol", protocol)
            .with("first_line", detail);
            self.raise(key_hash((Rule::Cleartext, init.0, resp.0, resp.1)), a);
        }
    }

    fn name_query(&mut self, ts: Micros, ip: &Ip<'_>, macs: Option<(Mac, Mac)>) {
        let from = self.policy.name_of(&ip.src);
        let to = self.policy.name_of(&ip.dst);
        let flow = ((ip.src, ip.sport), (ip.dst, ip.dport));
        let hour = hour_of(ts);
        match (ip.proto, ip.dport) {
            (_, 53) => {
                let message = if ip.proto == proto::TCP {
                    ip.payload.get(2..).unwrap_or_default()
                } else {
                    ip.payload
                };
                if message.is_empty() {
                    return;
                }
                let Some(q) = dns::question(message) else {
                    self.stats.dns_unparsed = self.stats.dns_unparsed.saturating_add(1);
                    return;
                };
                if q.response {
                    return;
                }
                let (server_ok, name_ok) = self.policy.dns_allowed(&ip.src, &ip.dst, &q.name);
                let flow_ok = self
                    .policy
                    .allowed(&ip.src, &ip.dst, ip.proto, 53, hour)
                    .is_some();
                if !server_ok && !flow_ok {
                    let mut a = Alert::new(
                        ts,
                        Rule::DnsUnexpectedServer,
                        format!(
                            "{from} asked {to} for {} ({}): no DNS server is allowed there",
                            q.name, q.rtype
                        ),
                    )
                    .flow(flow.0, flow.1, ip.proto)
                    .with("query", q.name.clone());
                    a.dns = Some((q.name.clone(), q.rtype.clone()));
                    a.macs = macs;
                    self.raise(key_hash((Rule::DnsUnexpectedServer, ip.src, ip.dst)), a);
                } else if !name_ok {
                    let mut a = Alert::new(
                        ts,
                        Rule::DnsNameNotAllowed,
                        format!(
                            "{from} asked {to} for {} ({}), which it may not resolve",
                            q.name, q.rtype
                        ),
                    )
                    .flow(flow.0, flow.1, ip.proto)
                    .with("query", q.name.clone());
                    a.dns = Some((q.name.clone(), q.rtype.clone()));
                    a.macs = macs;
                    let domain = dns::registered_domain(&q.name);
                    self.raise(key_hash((Rule::DnsNameNotAllowed, ip.src, domain)), a);
                }
                self.tunnel_stats(ts, ip, &q);
            }
            (p, 5353 | 5355) if p == proto::UDP => {
                if self
                    .policy
                    .allowed(&ip.src, &ip.dst, p, ip.dport, hour)
                    .is_some()
                {
                    return;
                }
                let q = dns::question(ip.payload);
                if q.as_ref().is_some_and(|q| q.response) {
                    return;
                }
                let kind = if ip.dport == 5353 { "mDNS" } else { "LLMNR" };
                let name = q.as_ref().map(|q| q.name.clone()).unwrap_or_default();
                let mut a = Alert::new(
                    ts,
                    Rule::LocalNameQuery,
                    format!("{from} sent a {kind} query for {name:?}"),
                )
                .flow(flow.0, flow.1, p)
                .with("protocol", kind)
                .with("query", name.clone());
                a.dns = q.map(|q| (q.name, q.rtype));
                a.macs = macs;
                self.raise(key_hash((Rule::LocalNameQuery, ip.src, kind, name)), a);
            }
            (p, 137) if p == proto::UDP => {
                if self
                    .policy
                    .allowed(&ip.src, &ip.dst, p, 137, hour)
                    .is_some()
                {
                    return;
                }
                let name = dns::netbios_name(ip.payload).unwrap_or_default();
                let mut a = Alert::new(
                    ts,
                    Rule::LocalNameQuery,
                    format!("{from} sent a NetBIOS name query for {name:?}"),
                )
                .flow(flow.0, flow.1, p)
                .with("protocol", "NetBIOS-NS")
                .with("query", name.clone());
                a.macs = macs;
                self.raise(key_hash((Rule::LocalNameQuery, ip.src, "netbios", name)), a);
            }
            (p, 123) if p == proto::UDP => {
                if self
                    .policy
                    .allowed(&ip.src, &ip.dst, p, 123, hour)
                    .is_some()
                {
                    return;
                }
                let mut a = Alert::new(
                    ts,
                    Rule::NtpUnexpected,
                    format!("{from} asked {to} for the time (NTP), which no rule allows"),
                )
                .flow(flow.0, flow.1, p);
                a.macs = macs;
                self.raise(key_hash((Rule::NtpUnexpected, ip.src, ip.dst)), a);
            }
            _ => {}
        }
    }

    fn tunnel_stats(&mut self, ts: Micros, ip: &Ip<'_>, q: &dns::Question) {
        let domain = dns::registered_domain(&q.name).to_string();
        let key = (ip.src, domain.clone());
        if !self.domains.contains_key(&key) && self.domains.len() >= TABLE_CAP {
            self.domains.clear();
            self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
        }
        let t = &self.t;
        let s = self.domains.entry(key).or_default();
        s.add(
            q,
            &domain,
            t.dns_unique_subdomains,
            t.dns_label_max,
            t.dns_label_entropy,
        );
        if s.alerted {
            return;
        }
        let unique = s.unique() >= t.dns_unique_subdomains;
        let labels =
            usize::try_from(s.suspicious_labels).unwrap_or(usize::MAX) >= t.dns_suspicious_labels;
        let txt = usize::try_from(s.txt).unwrap_or(usize::MAX) >= t.dns_txt_queries;
        if !(unique || labels || txt) {
            return;
        }
        s.alerted = true;
        let why: Vec<&str> = [
            (unique, "many unique subdomains"),
            (labels, "long or high-entropy labels"),
            (txt, "TXT volume"),
        ]
        .iter()
        .filter(|(hit, _)| *hit)
        .map(|(_, w)| *w)
        .collect();
        let from = self.policy.name_of(&ip.src);
        let mut a = Alert::new(
            ts,
            Rule::DnsTunnel,
            format!(
                "{from} may tunnel through DNS under {domain}: {}",
                why.join(", ")
            ),
        )
        .flow((ip.src, ip.sport), (ip.dst, ip.dport), ip.proto)
        .with("domain", domain.clone())
        .with("queries", s.queries)
        .with("unique_subdomains", s.unique())
        .with("suspicious_labels", s.suspicious_labels)
        .with("txt_queries", s.txt)
        .with("longest_label", s.longest_label)
        .with(
            "example",
            s.example.clone().unwrap_or_else(|| q.name.clone()),
        );
        a.dns = Some((q.name.clone(), q.rtype.clone()));
        self.raise(key_hash((Rule::DnsTunnel, ip.src, domain)), a);
    }

    /// Feeds the records of one export datagram. Exporters report each direction of a
    /// connection as its own record; the two are paired here (in this batch, or with the
    /// records held back from the previous one) so that a reply is never mistaken for a flow
    /// the responder started. The initiator is the earlier start; on a tie (millisecond clocks),
    /// the direction the policy allows, else the one towards the lower port. A record whose
    /// pair does not come within one more datagram is taken as it stands.
    pub fn flow_batch(&mut self, records: &[FlowRecord]) {
        let mut batch: Vec<FlowRecord> = std::mem::take(&mut self.held);
        let held = batch.len();
        batch.extend_from_slice(records);
        let mut used = vec![false; batch.len()];
        let mut index: HashMap<FlowKey, Vec<usize>> = HashMap::new();
        for (i, r) in batch.iter().enumerate() {
            index
                .entry(FlowKey::new(r.src, r.dst, r.proto).0)
                .or_default()
                .push(i);
        }
        let mut out: Vec<FlowRecord> = Vec::new();
        let mut next_held: Vec<FlowRecord> = Vec::new();
        for i in 0..batch.len() {
            if used.get(i).copied().unwrap_or(true) {
                continue;
            }
            let Some(r) = batch.get(i).copied() else {
                continue;
            };
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
            let key = FlowKey::new(r.src, r.dst, r.proto).0;
            let partner = index.get(&key).and_then(|list| {
                list.iter().copied().find(|j| {
                    !used.get(*j).copied().unwrap_or(true)
                        && batch
                            .get(*j)
                            .is_some_and(|o| o.src == r.dst && o.dst == r.src)
                })
            });
            match partner.and_then(|j| batch.get(j).copied().map(|o| (j, o))) {
                Some((j, o)) => {
                    if let Some(u) = used.get_mut(j) {
                        *u = true;
                    }
                    out.push(self.initiator_of(r, o));
                }
                None if i >= held => next_held.push(r),
                None => out.push(
                    if r.src.1 < 1024 && r.dst.1 >= 1024 && r.tcp_flags & tcp_flags::SYN == 0 {
                        // A lone record from a well-known port to an ephemeral one is a reply.
                        FlowRecord {
                            src: r.dst,
                            dst: r.src,
                            ..r
                        }
                    } else {
                        r
                    },
                ),
            }
        }
        self.held = next_held;
        out.sort_by_key(|r| r.start);
        for r in &out {
            self.flow_record(r);
        }
    }

    /// Processes records held back for pairing (at the end of the input).
    pub fn flush_flow_batch(&mut self) {
        let held = std::mem::take(&mut self.held);
        for r in &held {
            self.flow_record(r);
        }
    }

    fn initiator_of(&self, a: FlowRecord, b: FlowRecord) -> FlowRecord {
        const MILLI: Micros = 1000;
        if a.start + MILLI <= b.start {
            return a;
        }
        if b.start + MILLI <= a.start {
            return b;
        }
        let hour = hour_of(a.start);
        let allowed = |r: &FlowRecord| {
            self.policy
                .allowed(&r.src.0, &r.dst.0, r.proto, r.dst.1, hour)
                .is_some()
        };
        match (allowed(&a), allowed(&b)) {
            (true, false) => a,
            (false, true) => b,
            _ if b.dst.1 < a.dst.1 => b,
            _ => a,
        }
    }

    /// Feeds one exported flow record (no MACs, no payload: the flow, new-address, beacon,
    /// volume and duration detections apply).
    pub fn flow_record(&mut self, r: &FlowRecord) {
        self.stats.flow_records = self.stats.flow_records.saturating_add(1);
        self.observe(r.start);
        self.see_ip(r.start, r.src.0, None);
        let hour = hour_of(r.start);
        let port = if r.proto == proto::ICMP || r.proto == proto::ICMPV6 {
            0
        } else {
            r.dst.1
        };
        let (src, dst) = (
            (r.src.0, if port == 0 { 0 } else { r.src.1 }),
            (r.dst.0, port),
        );
        let rule = self.policy.allowed(&src.0, &dst.0, r.proto, port, hour);
        self.connection_event(r.start, src, dst, r.proto, r.bytes, rule);
        self.volume(r.start, rule, src, dst, r.proto, r.bytes);
        if r.proto == proto::TCP
            && too_long(&self.policy, &self.t, rule, r.end.saturating_sub(r.start))
        {
            self.long_lived(r.end, src, dst, r.proto, r.start, rule);
        }
        let covered = is_name_port(r.proto, port) && self.name_rule_covers(r.proto, port);
        if rule.is_none() {
            let from = self.policy.name_of(&src.0);
            let to = self.policy.name_of(&dst.0);
            let (rule_id, what) = match (covered, port) {
                (true, 53) => (Rule::DnsUnexpectedServer, "DNS"),
                (true, 123) => (Rule::NtpUnexpected, "NTP"),
                (true, _) => (Rule::LocalNameQuery, "name service"),
                (false, _) => (Rule::FlowOutsidePolicy, ""),
            };
            let message = if rule_id == Rule::FlowOutsidePolicy {
                format!(
                    "{from} -> {to} {}/{port} is not allowed by the policy",
                    proto::name(r.proto)
                )
            } else {
                format!("{from} used {what} at {to}, which no rule allows")
            };
            let state = if r.proto == proto::TCP && r.tcp_flags & tcp_flags::ACK == 0 {
                "attempt"
            } else {
                "established"
            };
            let a = Alert::new(r.start, rule_id, message)
                .flow(src, dst, r.proto)
                .with("from", from)
                .with("to", to)
                .with("state", state)
                .with("source", "flow-export")
                .with("hour_utc", hour);
            let key = if rule_id == Rule::FlowOutsidePolicy {
                key_hash((rule_id, src.0, dst.0, r.proto, port))
            } else {
                key_hash((rule_id, src.0, dst.0))
            };
            self.raise(key, a);
        }
        self.observe(r.end);
    }

    /// Exported records arrive in the order flows end, not start: they widen the observed
    /// window (for beacon scoring) without the packet clock's jump and silence checks, which
    /// for flow input run on the collector's wall clock ([`Watch::input_silent`]).
    fn observe(&mut self, ts: Micros) {
        self.update_metrics(ts);
        let first = *self.first_ts.get_or_insert(ts);
        self.first_ts = Some(first.min(ts));
        let last = self.last_ts.unwrap_or(ts).max(ts);
        self.last_ts = Some(last);
        if self.last_beacon_pass == 0 {
            self.last_beacon_pass = last;
        }
        if last.saturating_sub(self.last_beacon_pass) >= 3600 * SECOND {
            self.beacon_pass();
            self.last_beacon_pass = last;
        }
    }

    /// The input (a collector socket, a live interface) has been silent since `since`, by the
    /// wall clock `now`: raises [`Rule::SensorSilent`] once per silence when that is too long.
    pub fn input_silent(&mut self, now: Micros, since: Micros) {
        self.update_metrics(now.max(self.metrics_at));
        let silence = i64::try_from(self.t.silence_secs).unwrap_or(i64::MAX / SECOND);
        if now.saturating_sub(since) > silence.saturating_mul(SECOND) {
            let a = Alert::new(
                now,
                Rule::SensorSilent,
                format!(
                    "nothing received for {} s (allowed {} s)",
                    (now - since) / SECOND,
                    self.t.silence_secs
                ),
            )
            .with("silent_from", since);
            self.raise(key_hash((Rule::SensorSilent, since)), a);
        }
    }

    fn sweep(&mut self, now: Micros) {
        let tcp = i64::try_from(self.t.tcp_idle_secs)
            .unwrap_or(3600)
            .saturating_mul(SECOND);
        let udp = i64::try_from(self.t.udp_idle_secs)
            .unwrap_or(3600)
            .saturating_mul(SECOND);
        let mut ended = Vec::new();
        self.flows.retain(|k, f| {
            let idle = now.saturating_sub(f.last);
            let limit = if k.proto == proto::TCP {
                if f.closing { 10 * SECOND } else { tcp }
            } else {
                udp
            };
            let keep = idle <= limit;
            if !keep {
                ended.push((*k, f.clone()));
            }
            keep
        });
        for (k, f) in ended {
            self.settle(&k, &f);
        }
        self.arp_asked
            .retain(|_, t| now.saturating_sub(*t) <= 5 * SECOND);
    }

    fn evict(&mut self, ts: Micros) {
        // Approximate LRU: the stalest of a sample of entries, in the manner of Redis.
        let victim = self
            .flows
            .iter()
            .take(32)
            .min_by_key(|(_, f)| f.last)
            .map(|(k, _)| *k);
        if let Some(k) = victim {
            if let Some(f) = self.flows.remove(&k) {
                self.settle(&k, &f);
            }
            self.stats.flows_evicted = self.stats.flows_evicted.saturating_add(1);
            let a = Alert::new(
                ts,
                Rule::FlowTableFull,
                format!(
                    "the flow table is full ({} flows); the stalest flows are evicted",
                    self.t.flow_table_max
                ),
            )
            .with("flow_table_max", self.t.flow_table_max);
            // Once per hour of capture time.
            self.raise(
                key_hash((Rule::FlowTableFull, ts.div_euclid(3600 * SECOND))),
                a,
            );
        }
    }

    /// The end of the input (or a periodic pass of a live one): scores beacons over everything
    /// seen and brings the metrics up to date.
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
        self.metrics_at = Micros::MIN / 2;
        let ts = self.last_ts.unwrap_or(0);
        self.update_metrics(ts);
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

fn is_name_port(proto_num: u8, port: u16) -> bool {
    matches!(
        (proto_num, port),
        (proto::UDP | proto::TCP, 53) | (proto::UDP, 5353 | 5355 | 137 | 123)
    )
}

/// The first line of a cleartext protocol, if the payload starts like one.
fn cleartext(payload: &[u8]) -> Option<(&'static str, String)> {
    let line = |p: &[u8]| -> String {
        let end = p
            .iter()
            .position(|b| *b == b'\r' || *b == b'\n')
            .unwrap_or(p.len())
            .min(120);
        String::from_utf8_lossy(p.get(..end).unwrap_or_default()).into_owned()
    };
    for method in [
        &b"GET "[..],
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"CONNECT ",
        b"OPTIONS ",
        b"DELETE ",
        b"PATCH ",
    ] {
        if payload.starts_with(method) {
            return Some(("HTTP", line(payload)));
        }
    }
    if payload.starts_with(b"USER ") || payload.starts_with(b"AUTH ") {
        return Some(("FTP", line(payload)));
    }
    if payload.first() == Some(&0xff) && payload.get(1).is_some_and(|b| (0xfb..=0xfe).contains(b)) {
        return Some(("Telnet", String::new()));
    }
    if payload.starts_with(b"EHLO ") || payload.starts_with(b"HELO ") {
        return Some(("SMTP", line(payload)));
    }
    None
}

/// The server name of a TLS ClientHello, read with bounds checks at every step (no TLS library
/// parses a ClientHello from a foreign flow without becoming its endpoint). `Some("")` for a
/// ClientHello without SNI.
fn tls_client_hello_sni(p: &[u8]) -> Option<String> {
    struct Cursor<'a>(&'a [u8]);
    impl<'a> Cursor<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            let head = self.0.get(..n)?;
            self.0 = self.0.get(n..)?;
            Some(head)
        }
        fn u8(&mut self) -> Option<usize> {
            self.take(1)
                .and_then(|b| b.first())
                .map(|b| usize::from(*b))
        }
        fn u16(&mut self) -> Option<usize> {
            let b = self.take(2)?;
            Some(usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?])))
        }
    }
    let mut c = Cursor(p);
    if c.u8()? != 0x16 || c.u8()? != 3 {
        return None;
    }
    let _minor = c.u8()?;
    let _record_len = c.u16()?;
    if c.u8()? != 1 {
        return None; // not a ClientHello
    }
    let _hs_len = c.take(3)?;
    let _version = c.take(2)?;
    let _random = c.take(32)?;
    let sid = c.u8()?;
    c.take(sid)?;
    let suites = c.u16()?;
    c.take(suites)?;
    let comp = c.u8()?;
    c.take(comp)?;
    let Some(ext_len) = c.u16() else {
        return Some(String::new());
    };
    let mut exts = Cursor(c.take(ext_len).unwrap_or(c.0));
    while let (Some(kind), Some(len)) = (exts.u16(), exts.u16()) {
        let body = exts.take(len)?;
        if kind == 0 {
            let mut b = Cursor(body);
            let _list = b.u16()?;
            if b.u8()? == 0 {
                let n = b.u16()?;
                let name = b.take(n)?;
                return Some(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    Some(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_is_read_and_truncation_is_safe() {
        // A minimal ClientHello with SNI "c2.example".
        let name = b"c2.example";
        let mut sni = vec![0, 0];
        let list_len = 3 + name.len();
        sni.extend_from_slice(&u16::try_from(list_len + 2).unwrap().to_be_bytes());
        sni.extend_from_slice(&u16::try_from(list_len).unwrap().to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
        sni.extend_from_slice(name);
        let mut hello = vec![3, 3];
        hello.extend_from_slice(&[7; 32]);
        hello.push(0);
        hello.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
        hello.extend_from_slice(&u16::try_from(sni.len()).unwrap().to_be_bytes());
        hello.extend_from_slice(&sni);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&u16::try_from(hello.len()).unwrap().to_be_bytes());
        hs.extend_from_slice(&hello);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&u16::try_from(hs.len()).unwrap().to_be_bytes());
        rec.extend_from_slice(&hs);
        assert_eq!(tls_client_hello_sni(&rec).as_deref(), Some("c2.example"));
        for cut in 0..rec.len() {
            let _ = tls_client_hello_sni(&rec[..cut]);
        }
        assert_eq!(
            cleartext(b"GET /x HTTP/1.1\r\nHost: a\r\n").unwrap().0,
            "HTTP"
        );
        assert!(cleartext(b"\x16\x03\x01").is_none());
    }
}
