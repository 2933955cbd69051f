//! The asset inventory and the allow-list policy, in TOML.
//!
//! The enclave is small and closed: every device and every legitimate flow is known in advance.
//! Whatever the policy does not allow is an alert. A policy written by `sluis watch learn` starts
//! with `accepted = false`, and the watch refuses to run on it until a person has reviewed it and
//! set `accepted = true`: nothing learned from traffic is trusted on its own.
//!
//! ```toml
//! accepted = true
//!
//! [[device]]
//! name = "scanner-1"
//! role = "scanner"            # scanner | edge | switch | maintenance | sensor | other
//! mac = "02:00:00:00:01:01"
//! ips = ["10.20.0.11"]
//!
//! [[flow]]                    # the initiator is `from`; replies are part of the flow
//! from = "role:scanner"       # a device name, `role:NAME`, or an address or CIDR
//! to = "edge"
//! proto = "tcp"               # tcp | udp | icmp | icmpv6
//! ports = [11112]             # destination ports (ranges as "1000-2000"); none for ICMP
//! hours = "00-24"             # UTC hours in which it may start, start inclusive, end exclusive
//! periodic = false            # true exempts it from beacon scoring (NTP, heartbeats)
//! max_bytes_per_hour = 40_000_000_000
//! max_duration_secs = 3600
//!
//! [[dns]]                     # names a device may resolve, and where (none by default)
//! device = "role:scanner"
//! server = "edge"
//! names = ["ntp.enclave.example", "*.enclave.example"]
//! ```

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use crate::packet::{Mac, proto};

/// The roles a device may have.
pub const ROLES: &[&str] = &[
    "scanner",
    "edge",
    "switch",
    "maintenance",
    "sensor",
    "other",
];

/// One device of the inventory.
#[derive(Clone, Debug)]
pub struct Device {
    /// Its unique name.
    pub name: String,
    /// Its role.
    pub role: String,
    /// Its MAC address, when it is on the watched segment.
    pub mac: Option<Mac>,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
}

/// One end of an allowed flow.
#[derive(Clone, Debug)]
pub enum Peer {
    /// A device, by index.
    Device(usize),
    /// Every device with this role.
    Role(String),
    /// Any address in this network.
    Net(IpNet),
}

/// An allowed flow.
#[derive(Clone, Debug)]
pub struct FlowRule {
    /// The initiator.
    pub from: Peer,
    /// The responder.
    pub to: Peer,
    /// IP protocol number.
    pub proto: u8,
    /// Allowed destination port ranges (inclusive); empty means any (ICMP).
    pub ports: Vec<(u16, u16)>,
    /// UTC hours `[start, end)` in which the flow may start.
    pub hours: (u8, u8),
    /// Exempt from beacon scoring.
    pub periodic: bool,
    /// Bytes from the initiator per clock hour above which it is an alert.
    pub max_bytes_per_hour: Option<u64>,
    /// Longest allowed duration of one connection.
    pub max_duration_secs: Option<u64>,
    /// The line in the policy file, for evidence.
    pub line: usize,
}

/// Names a device may resolve through a server.
#[derive(Clone, Debug)]
pub struct DnsRule {
    /// Who may ask.
    pub device: Peer,
    /// Whom it may ask.
    pub server: Peer,
    /// Exact names, or `*.suffix` patterns.
    pub names: Vec<String>,
}

/// Thresholds of the detections, with the defaults the watch ships.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// No packet for this long: the sensor may be blind.
    pub silence_secs: u64,
    /// A timestamp this far behind the last one is a clock jump.
    pub clock_jump_secs: u64,
    /// Flow table capacity; beyond it the stalest flow is evicted (and counted).
    pub flow_table_max: usize,
    /// Idle time after which a TCP flow ends.
    pub tcp_idle_secs: u64,
    /// Idle time after which a UDP or ICMP flow ends.
    pub udp_idle_secs: u64,
    /// A connection older than this is long-lived unless its rule allows more.
    pub long_lived_secs: u64,
    /// Fewest connections of a pair before beacon scoring.
    pub beacon_min_connections: usize,
    /// Beacon score from which a pair is alerted (0..1).
    pub beacon_score: f64,
    /// Unique subdomains of one registered domain from one device that look like tunnelling.
    pub dns_unique_subdomains: usize,
    /// A label longer than this is suspicious.
    pub dns_label_max: usize,
    /// Shannon entropy (bits per character) of a long label above which it is suspicious.
    pub dns_label_entropy: f64,
    /// Suspicious labels (long or high-entropy) for one domain before an alert.
    pub dns_suspicious_labels: usize,
    /// TXT queries for one domain before an alert.
    pub dns_txt_queries: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            silence_secs: 300,
            clock_jump_secs: 2,
            flow_table_max: 200_000,
            tcp_idle_secs: 300,
            udp_idle_secs: 60,
            long_lived_secs: 3600,
            beacon_min_connections: 12,
            beacon_score: 0.8,
            dns_unique_subdomains: 40,
            dns_label_max: 40,
            dns_label_entropy: 3.6,
            dns_suspicious_labels: 10,
            dns_txt_queries: 20,
        }
    }
}

/// A checked policy.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Whether a person accepted it.
    pub accepted: bool,
    /// The sensor's name in its output.
    pub sensor: String,
    /// The inventory.
    pub devices: Vec<Device>,
    /// The allowed flows.
    pub flows: Vec<FlowRule>,
    /// The allowed names.
    pub dns: Vec<DnsRule>,
    /// Thresholds.
    pub thresholds: Thresholds,
    by_mac: HashMap<Mac, usize>,
    by_ip: HashMap<IpAddr, usize>,
}

/// One thing wrong with a policy, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// All errors of one policy file.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PolicyErrors(pub Vec<PolicyError>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    accepted: bool,
    #[serde(default)]
    sensor: Option<String>,
    #[serde(default)]
    detect: Thresholds,
    #[serde(default)]
    device: Vec<Spanned<DeviceFile>>,
    #[serde(default)]
    flow: Vec<Spanned<FlowFile>>,
    #[serde(default)]
    dns: Vec<Spanned<DnsFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceFile {
    name: Spanned<String>,
    role: Spanned<String>,
    #[serde(default)]
    mac: Option<Spanned<String>>,
    #[serde(default)]
    ips: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowFile {
    from: Spanned<String>,
    to: Spanned<String>,
    proto: Spanned<String>,
    #[serde(default)]
    ports: Vec<Spanned<PortSpec>>,
    #[serde(default)]
    hours: Option<Spanned<String>>,
    #[serde(default)]
    periodic: bool,
    #[serde(default)]
    max_bytes_per_hour: Option<u64>,
    #[serde(default)]
    max_duration_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PortSpec {
    One(u16),
    Range(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsFile {
    device: Spanned<String>,
    server: Spanned<String>,
    #[serde(default)]
    names: Vec<Spanned<String>>,
}

/// Where a byte offset is, as 1-based line and column.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count().saturating_add(1);
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |l| l.chars().count().saturating_add(1));
    (line, column)
}

/// A policy no person has accepted: the watch does not run on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "not accepted: a learned or edited policy must be reviewed by a person, who then sets `accepted = true`"
)]
pub struct NotAccepted;

impl Policy {
    /// Refuses a policy that no person has accepted (`accepted = true`): a policy learned from
    /// traffic, or edited, is not trusted until someone has reviewed it.
    pub fn require_accepted(&self) -> Result<(), NotAccepted> {
        if self.accepted {
            Ok(())
        } else {
            Err(NotAccepted)
        }
    }

    /// Parses and checks a policy, reporting every error by line.
    pub fn parse(text: &str) -> Result<Policy, PolicyErrors> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |span| line_col(text, span.start));
            PolicyErrors(vec![PolicyError {
                line,
                column,
                message: e.message().trim().to_string(),
            }])
        })?;
        let mut errors = Vec::new();
        let mut err = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_col(text, span.start);
            errors.push(PolicyError {
                line,
                column,
                message,
            });
        };
        let mut policy = Policy {
            accepted: file.accepted,
            sensor: file.sensor.unwrap_or_else(|| "sluis-watch".into()),
            thresholds: file.detect,
            ..Policy::default()
        };
        for dev in &file.device {
            let d = dev.get_ref();
            let name = d.name.get_ref().trim().to_string();
            if name.is_empty() || name.contains(':') || name.contains('/') {
                err(
                    d.name.span(),
                    format!("device name {name:?} must be non-empty without ':' or '/'"),
                );
            }
            if policy.devices.iter().any(|x| x.name == name) {
                err(d.name.span(), format!("device {name:?} is defined twice"));
            }
            if !ROLES.contains(&d.role.get_ref().as_str()) {
                err(
                    d.role.span(),
                    format!(
                        "unknown role {:?}; use one of {}",
                        d.role.get_ref(),
                        ROLES.join(", ")
                    ),
                );
            }
            let mac = match &d.mac {
                Some(m) => match Mac::parse(m.get_ref()) {
                    Some(mac) => Some(mac),
                    None => {
                        err(
                            m.span(),
                            format!("{:?} is not a MAC address (aa:bb:cc:dd:ee:ff)", m.get_ref()),
                        );
                        None
                    }
                },
                None => None,
            };
            let mut ips = Vec::new();
            for ip in &d.ips {
                match ip.get_ref().parse::<IpAddr>() {
                    Ok(a) => ips.push(a),
                    Err(_) => err(
                        ip.span(),
                        format!("{:?} is not an IP address", ip.get_ref()),
                    ),
                }
            }
            if mac.is_none() && ips.is_empty() {
                err(
                    dev.span(),
                    format!("device {name:?} needs a mac or at least one address"),
                );
            }
            let index = policy.devices.len();
            if let Some(m) = mac
                && let Some(other) = policy.by_mac.insert(m, index)
            {
                let other = policy.devices.get(other).map_or("", |d| d.name.as_str());
                err(
                    d.mac.as_ref().map_or(dev.span(), Spanned::span),
                    format!("MAC {m} is also given to device {other:?}"),
                );
            }
            for ip in &ips {
                if let Some(other) = policy.by_ip.insert(*ip, index) {
                    let other = policy.devices.get(other).map_or("", |d| d.name.as_str());
                    err(
                        dev.span(),
                        format!("address {ip} is also given to device {other:?}"),
                    );
                }
            }
            policy.devices.push(Device {
                name,
                role: d.role.get_ref().clone(),
                mac,
                ips,
            });
        }
        let peer = |policy: &Policy, s: &Spanned<String>| -> Result<Peer, String> {
            let text = s.get_ref().trim();
            if let Some(role) = text.strip_prefix("role:") {
                return if ROLES.contains(&role) {
                    Ok(Peer::Role(role.to_string()))
                } else {
                    Err(format!(
                        "unknown role {role:?}; use one of {}",
                        ROLES.join(", ")
                    ))
                };
            }
            if let Some(i) = policy.devices.iter().position(|d| d.name == text) {
                return Ok(Peer::Device(i));
            }
            if let Ok(net) = text.parse::<IpNet>() {
                return Ok(Peer::Net(net));
            }
            if let Ok(ip) = text.parse::<IpAddr>() {
                return Ok(Peer::Net(IpNet::from(ip)));
            }
            Err(format!(
                "{text:?} is neither a device of the inventory, `role:NAME`, nor an address or network"
            ))
        };
        let mut flows = Vec::new();
        let mut flow_errors = Vec::new();
        for f in &file.flow {
            let fl = f.get_ref();
            let from = peer(&policy, &fl.from).map_err(|m| (fl.from.span(), m));
            let to = peer(&policy, &fl.to).map_err(|m| (fl.to.span(), m));
            let proto_num = match fl.proto.get_ref().to_ascii_lowercase().as_str() {
                "tcp" => Ok(proto::TCP),
                "udp" => Ok(proto::UDP),
                "icmp" => Ok(proto::ICMP),
                "icmpv6" => Ok(proto::ICMPV6),
                other => Err((
                    fl.proto.span(),
                    format!("unknown protocol {other:?}; use tcp, udp, icmp or icmpv6"),
                )),
            };
            let mut ports = Vec::new();
            for p in &fl.ports {
                match p.get_ref() {
                    PortSpec::One(n) => ports.push((*n, *n)),
                    PortSpec::Range(r) => {
                        let parsed = r.split_once('-').and_then(|(a, b)| {
                            Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?))
                        });
                        match parsed {
                            Some((a, b)) if a <= b => ports.push((a, b)),
                            _ => flow_errors.push((
                                p.span(),
                                format!("{r:?} is not a port range (\"1000-2000\")"),
                            )),
                        }
                    }
                }
            }
            if let Ok(pn) = proto_num
                && (pn == proto::TCP || pn == proto::UDP)
                && ports.is_empty()
            {
                flow_errors.push((
                    f.span(),
                    "a tcp or udp flow needs `ports`: an allow-list has no wildcard".into(),
                ));
            }
            let hours = match &fl.hours {
                None => Ok((0, 24)),
                Some(h) => {
                    let parsed = h.get_ref().split_once('-').and_then(|(a, b)| {
                        Some((a.trim().parse::<u8>().ok()?, b.trim().parse::<u8>().ok()?))
                    });
                    match parsed {
                        Some((a, b)) if a < b && b <= 24 => Ok((a, b)),
                        _ => Err((
                            h.span(),
                            format!("{:?} is not an hour range like \"06-22\"", h.get_ref()),
                        )),
                    }
                }
            };
            match (from, to, proto_num, hours) {
                (Ok(from), Ok(to), Ok(proto), Ok(hours)) => flows.push(FlowRule {
                    from,
                    to,
                    proto,
                    ports,
                    hours,
                    periodic: fl.periodic,
                    max_bytes_per_hour: fl.max_bytes_per_hour,
                    max_duration_secs: fl.max_duration_secs,
                    line: line_col(text, f.span().start).0,
                }),
                (a, b, c, d) => {
                    for e in [a.err(), b.err(), c.err(), d.err()].into_iter().flatten() {
                        flow_errors.push(e);
                    }
                }
            }
        }
        for (span, m) in flow_errors {
            err(span, m);
        }
        let mut dns = Vec::new();
        for d in &file.dns {
            let r = d.get_ref();
            let device = peer(&policy, &r.device);
            let server = peer(&policy, &r.server);
            for n in &r.names {
                let name = n.get_ref();
                let bare = name.strip_prefix("*.").unwrap_or(name);
                if bare.is_empty() || bare.contains('*') || bare.len() > 253 {
                    err(
                        n.span(),
                        format!("{name:?} is not a name or a `*.suffix` pattern"),
                    );
                }
            }
            match (device, server) {
                (Ok(device), Ok(server)) => dns.push(DnsRule {
                    device,
                    server,
                    names: r
                        .names
                        .iter()
                        .map(|n| n.get_ref().trim_end_matches('.').to_ascii_lowercase())
                        .collect(),
                }),
                (a, b) => {
                    if let Err(m) = a {
                        err(r.device.span(), m);
                    }
                    if let Err(m) = b {
                        err(r.server.span(), m);
                    }
                }
            }
        }
        let t = &policy.thresholds;
        if t.flow_table_max == 0 || t.flow_table_max > 50_000_000 {
            err(
                0..0,
                "detect.flow_table_max must be between 1 and 50000000".into(),
            );
        }
        if !(0.0..=1.0).contains(&t.beacon_score) {
            err(0..0, "detect.beacon_score must be between 0 and 1".into());
        }
        if t.beacon_min_connections < 4 {
            err(
                0..0,
                "detect.beacon_min_connections must be at least 4".into(),
            );
        }
        if errors.is_empty() {
            policy.flows = flows;
            policy.dns = dns;
            Ok(policy)
        } else {
            errors.sort_by_key(|e| (e.line, e.column));
            Err(PolicyErrors(errors))
        }
    }

    /// The device with this MAC.
    pub fn device_by_mac(&self, mac: &Mac) -> Option<&Device> {
        self.by_mac.get(mac).and_then(|i| self.devices.get(*i))
    }

    /// The device with this address.
    pub fn device_by_ip(&self, ip: &IpAddr) -> Option<&Device> {
        self.by_ip.get(ip).and_then(|i| self.devices.get(*i))
    }

    /// The name of the device with this address, or the address itself.
    pub fn name_of(&self, ip: &IpAddr) -> String {
        self.device_by_ip(ip)
            .map_or_else(|| ip.to_string(), |d| d.name.clone())
    }

    fn matches(&self, peer: &Peer, ip: &IpAddr) -> bool {
        match peer {
            Peer::Device(i) => self.devices.get(*i).is_some_and(|d| d.ips.contains(ip)),
            Peer::Role(r) => self.device_by_ip(ip).is_some_and(|d| &d.role == r),
            Peer::Net(n) => n.contains(ip),
        }
    }

    /// The rule that allows a flow started by `src` to `dst:dport` at `hour` (UTC), if any.
    pub fn allowed(
        &self,
        src: &IpAddr,
        dst: &IpAddr,
        proto: u8,
        dport: u16,
        hour: u8,
    ) -> Option<usize> {
        self.flows.iter().position(|r| {
            r.proto == proto
                && (r.ports.is_empty() || r.ports.iter().any(|(a, b)| (*a..=*b).contains(&dport)))
                && (r.hours.0..r.hours.1).contains(&hour)
                && self.matches(&r.from, src)
                && self.matches(&r.to, dst)
        })
    }

    /// Whether `device` may ask `server` at all, and whether it may ask for `name`.
    pub fn dns_allowed(&self, device: &IpAddr, server: &IpAddr, name: &str) -> (bool, bool) {
        let mut server_ok = false;
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        for r in &self.dns {
            if self.matches(&r.device, device) && self.matches(&r.server, server) {
                server_ok = true;
                let hit = r.names.iter().any(|pat| match pat.strip_prefix("*.") {
                    Some(suffix) => {
                        name.len() > suffix.len()
                            && name.ends_with(suffix)
                            && name.as_bytes().get(name.len() - suffix.len() - 1) == Some(&b'.')
                    }
                    None => *pat == name,
                });
                if hit {
                    return (true, true);
                }
            }
        }
        (server_ok, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
accepted = true
[[device]]
name = "scanner-1"
role = "scanner"
mac = "02:00:00:00:01:01"
ips = ["10.20.0.11"]
[[device]]
name = "edge"
role = "edge"
mac = "02:00:00:00:00:01"
ips = ["10.20.0.2"]
[[flow]]
from = "role:scanner"
to = "edge"
proto = "tcp"
ports = [11112, "2000-2010"]
hours = "06-22"
[[dns]]
device = "scanner-1"
server = "edge"
names = ["*.enclave.example"]
"#;

    #[test]
    fn a_good_policy_allows_what_it_says_and_nothing_else() {
        let p = Policy::parse(GOOD).unwrap();
        let s: IpAddr = "10.20.0.11".parse().unwrap();
        let e: IpAddr = "10.20.0.2".parse().unwrap();
        assert!(p.allowed(&s, &e, proto::TCP, 11112, 10).is_some());
        assert!(p.allowed(&s, &e, proto::TCP, 2005, 10).is_some());
        assert!(
            p.allowed(&s, &e, proto::TCP, 11112, 23).is_none(),
            "outside hours"
        );
        assert!(
            p.allowed(&e, &s, proto::TCP, 11112, 10).is_none(),
            "wrong direction"
        );
        assert!(p.allowed(&s, &e, proto::UDP, 11112, 10).is_none());
        assert_eq!(p.dns_allowed(&s, &e, "ntp.enclave.example."), (true, true));
        assert_eq!(p.dns_allowed(&s, &e, "enclave.example"), (true, false));
        assert_eq!(p.dns_allowed(&s, &e, "evilenclave.example"), (true, false));
        assert_eq!(p.dns_allowed(&e, &s, "ntp.enclave.example"), (false, false));
    }

    #[test]
    fn errors_say_which_line() {
        let bad = GOOD
            .replace("to = \"edge\"", "to = \"edg\"")
            .replace("role = \"scanner\"\nmac", "role = \"scaner\"\nmac");
        let errs = Policy::parse(&bad).unwrap_err().0;
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].line, 5);
        assert!(errs[0].message.contains("unknown role"));
        assert_eq!(errs[1].line, 15);
        assert!(errs[1].message.contains("\"edg\""));
        let errs = Policy::parse("accepted = true\n[[device]]\nnme = 1\n")
            .unwrap_err()
            .0;
        assert_eq!(errs[0].line, 3, "{errs:?}");
        let errs = Policy::parse(&GOOD.replace("ports = [11112, \"2000-2010\"]\n", ""))
            .unwrap_err()
            .0;
        assert!(errs[0].message.contains("needs `ports`"), "{errs:?}");
    }
}
