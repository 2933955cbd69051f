//! Proposing a baseline policy from a capture, for a person to review.
//!
//! What the learner writes is a proposal, never a policy: it starts with `accepted = false`, the
//! watch refuses to run on it until a person has read every line and set `accepted = true`, and
//! every device gets the role `other` with a note to set the real one. Flows become allow rules
//! with an hourly byte baseline of twice the busiest hour seen; names become DNS rules. A capture
//! taken while a scanner already phones home would teach the phone-home as normal: the review is
//! the control, and the proposal says so at the top.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::capture::{LinkType, Micros};
use crate::dns;
use crate::packet::{self, Mac, Net, proto};

const CAP: usize = 1 << 16;

type Tuple = ((IpAddr, u16), (IpAddr, u16), u8);

#[derive(Debug, Default)]
struct Observed {
    connections: u64,
    bytes_by_hour: BTreeMap<i64, u64>,
    first: Micros,
    last: Micros,
    times: Vec<Micros>,
}

/// Observes traffic and writes the proposal.
#[derive(Debug, Default)]
pub struct Learner {
    macs: BTreeMap<Mac, BTreeSet<IpAddr>>,
    /// Canonical 5-tuple -> (started by the lower end, last seen).
    flows: HashMap<Tuple, (bool, Micros)>,
    allowed: BTreeMap<(IpAddr, IpAddr, u8, u16), Observed>,
    names: BTreeMap<(IpAddr, IpAddr), BTreeSet<String>>,
    frames: u64,
    first: Option<Micros>,
    last: Micros,
    /// Entries not learned because a table was full.
    pub dropped: u64,
}

impl Learner {
    /// An empty learner.
    pub fn new() -> Self {
        Self::default()
    }

    /// Observes one frame.
    pub fn frame(&mut self, ts: Micros, link: LinkType, data: &[u8]) {
        self.frames = self.frames.saturating_add(1);
        self.first.get_or_insert(ts);
        self.last = self.last.max(ts);
        let Ok(p) = packet::decode(link, data) else {
            return;
        };
        let mac_ok =
            link == LinkType::Ethernet && !p.src_mac.is_group() && p.src_mac != Mac::default();
        // Every sender is a device, even one that only answers; its addresses are those it
        // starts flows from or announces in ARP (a gateway answers for many outside addresses).
        if mac_ok && !self.macs.contains_key(&p.src_mac) {
            if self.macs.len() < CAP {
                self.macs.insert(p.src_mac, BTreeSet::new());
            } else {
                self.dropped = self.dropped.saturating_add(1);
            }
        }
        match p.net {
            Net::Arp(arp) => {
                if mac_ok && !arp.sender_ip.is_unspecified() {
                    self.bind(p.src_mac, IpAddr::V4(arp.sender_ip));
                }
            }
            Net::Ip(ip) => {
                let icmp = ip.proto == proto::ICMP || ip.proto == proto::ICMPV6;
                let (sport, dport) = if icmp { (0, 0) } else { (ip.sport, ip.dport) };
                let a = (ip.src, sport);
                let b = (ip.dst, dport);
                let key = if a <= b {
                    (a, b, ip.proto)
                } else {
                    (b, a, ip.proto)
                };
                let src_is_low = a <= b;
                let (started_by_low, new) = match self.flows.get(&key) {
                    Some((low, last)) => {
                        let idle = ts.saturating_sub(*last) > 60_000_000 && ip.proto != proto::TCP;
                        (*low, idle)
                    }
                    None => (ip.sender_started() == src_is_low, true),
                };
                if self.flows.len() >= CAP && !self.flows.contains_key(&key) {
                    self.flows.clear();
                    self.dropped = self.dropped.saturating_add(1);
                }
                self.flows.insert(key, (started_by_low, ts));
                let from_init = started_by_low == src_is_low;
                let (init, resp) = if from_init { (a, b) } else { (b, a) };
                if mac_ok && from_init {
                    self.bind(p.src_mac, init.0);
                }
                let akey = (init.0, resp.0, ip.proto, resp.1);
                if !self.allowed.contains_key(&akey) && self.allowed.len() >= CAP {
                    self.dropped = self.dropped.saturating_add(1);
                    return;
                }
                let o = self.allowed.entry(akey).or_default();
                if new {
                    o.connections = o.connections.saturating_add(1);
                    if o.first == 0 {
                        o.first = ts;
                    }
                    if o.times.len() < 4096 {
                        o.times.push(ts);
                    }
                }
                o.last = ts;
                if from_init {
                    let hour = ts.div_euclid(3_600_000_000);
                    let e = o.bytes_by_hour.entry(hour).or_default();
                    *e = e.saturating_add(u64::from(ip.wire_len));
                }
                if from_init && resp.1 == 53 {
                    let msg = if ip.proto == proto::TCP {
                        ip.payload.get(2..).unwrap_or_default()
                    } else {
                        ip.payload
                    };
                    if let Some(q) = dns::question(msg) {
                        let set = self.names.entry((init.0, resp.0)).or_default();
                        if set.len() < 256 {
                            set.insert(q.name);
                        } else {
                            self.dropped = self.dropped.saturating_add(1);
                        }
                    }
                }
            }
            Net::Other(_) => {}
        }
    }

    fn bind(&mut self, mac: Mac, ip: IpAddr) {
        if self.macs.len() >= CAP && !self.macs.contains_key(&mac) {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        let set = self.macs.entry(mac).or_default();
        if set.len() < 16 {
            set.insert(ip);
        }
    }

    /// The proposal, as TOML with comments for the reviewer.
    pub fn proposal(&self, source: &str) -> String {
        let mut name_of: BTreeMap<IpAddr, String> = BTreeMap::new();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# PROPOSED enclave policy, learned by `sluis watch learn` from {source}\n\
             # ({} frames). Nothing here is trusted: traffic seen during learning may already\n\
             # include what the watch exists to catch. Review every device and every flow, name\n\
             # the devices, set their roles, delete what should not happen, then set\n\
             # `accepted = true`. `sluis watch check` explains any error by line.\n\
             accepted = false\n",
            self.frames
        );
        for (i, (mac, ips)) in self.macs.iter().enumerate() {
            let name = format!("device-{}", i.saturating_add(1));
            for ip in ips {
                name_of.entry(*ip).or_insert_with(|| name.clone());
            }
            let list: Vec<String> = ips.iter().map(|ip| format!("\"{ip}\"")).collect();
            let _ = writeln!(
                out,
                "[[device]]{}\nname = \"{name}\"\nrole = \"other\"  # review: scanner, edge, switch, maintenance, sensor or other\nmac = \"{mac}\"\nips = [{}]\n",
                if ips.is_empty() {
                    "  # only answered; review its address"
                } else {
                    ""
                },
                list.join(", ")
            );
        }
        let peer = |ip: &IpAddr| name_of.get(ip).cloned().unwrap_or_else(|| ip.to_string());
        for ((src, dst, p, port), o) in &self.allowed {
            if o.connections == 0 {
                continue;
            }
            let pname = match *p {
                proto::TCP => "tcp",
                proto::UDP => "udp",
                proto::ICMP => "icmp",
                proto::ICMPV6 => "icmpv6",
                _ => continue,
            };
            let busiest = o.bytes_by_hour.values().copied().max().unwrap_or(0);
            let baseline = busiest.saturating_mul(2).max(1_000_000);
            let outside = !name_of.contains_key(dst);
            let _ = writeln!(
                out,
                "[[flow]]  # seen {} time(s); busiest hour {} bytes{}",
                o.connections,
                busiest,
                if outside {
                    "; the destination is not a device on the segment: is this allowed at all?"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                out,
                "from = \"{}\"\nto = \"{}\"\nproto = \"{pname}\"",
                peer(src),
                peer(dst)
            );
            if *p == proto::TCP || *p == proto::UDP {
                let _ = writeln!(out, "ports = [{port}]");
            }
            let periodic = self.periodic(o);
            if periodic {
                let _ = writeln!(
                    out,
                    "periodic = true  # it runs on a timer; review: a timer you expect?"
                );
            }
            let _ = writeln!(out, "max_bytes_per_hour = {baseline}\n");
        }
        for ((client, server), names) in &self.names {
            let list: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
            let _ = writeln!(
                out,
                "[[dns]]\ndevice = \"{}\"\nserver = \"{}\"\nnames = [{}]\n",
                peer(client),
                peer(server),
                list.join(", ")
            );
        }
        out
    }

    fn periodic(&self, o: &Observed) -> bool {
        let (Some(start), end) = (self.first, self.last) else {
            return false;
        };
        if o.times.len() < 12 {
            return false;
        }
        #[allow(clippy::cast_precision_loss)]
        let times: Vec<f64> = o.times.iter().map(|t| *t as f64 / 1e6).collect();
        let sizes = vec![0.0; times.len()];
        #[allow(clippy::cast_precision_loss)]
        crate::beacon::score(&times, &sizes, start as f64 / 1e6, end as f64 / 1e6)
            .is_some_and(|s| (s.ts_skew + s.ts_madm) / 2.0 >= 0.8)
    }
}
