//! Alerts: the rules with their stable ids, and one alert with its evidence.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::capture::Micros;
use crate::packet::Mac;

/// Every detection of the watch. The id and signature id never change meaning; a new detection
/// gets a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// A MAC address not in the inventory.
    NewMac,
    /// An IP address not in the inventory.
    NewIp,
    /// An address seen with a MAC other than the inventory's or the last one seen.
    IpMoved,
    /// An ARP reply nobody asked for.
    ArpUnsolicited,
    /// A flow, or an attempt, that no rule allows.
    FlowOutsidePolicy,
    /// A DNS query to a server the device may not ask.
    DnsUnexpectedServer,
    /// A DNS query for a name the device may not resolve.
    DnsNameNotAllowed,
    /// mDNS, LLMNR or NetBIOS name queries that no rule allows.
    LocalNameQuery,
    /// NTP to a server that no rule allows.
    NtpUnexpected,
    /// Many unique, long or high-entropy subdomains, or TXT volume, under one domain.
    DnsTunnel,
    /// Periodic callbacks: regular intervals and sizes, persistent over the capture.
    Beacon,
    /// One connection older than allowed.
    LongLived,
    /// More bytes from an initiator in one hour than its rule's baseline.
    VolumeAboveBaseline,
    /// A cleartext application protocol (HTTP, FTP, Telnet) on a flow outside policy.
    Cleartext,
    /// TLS to a destination outside policy.
    TlsOutsidePolicy,
    /// No packets for longer than allowed: the sensor may be blind.
    SensorSilent,
    /// The capture dropped frames.
    CaptureDrops,
    /// Time went backwards in the capture.
    ClockJump,
    /// The flow table was full and evicted a live flow.
    FlowTableFull,
}

impl Rule {
    /// All rules, in id order.
    pub const ALL: &'static [Rule] = &[
        Rule::NewMac,
        Rule::NewIp,
        Rule::IpMoved,
        Rule::ArpUnsolicited,
        Rule::FlowOutsidePolicy,
        Rule::DnsUnexpectedServer,
        Rule::DnsNameNotAllowed,
        Rule::LocalNameQuery,
        Rule::NtpUnexpected,
        Rule::DnsTunnel,
        Rule::Beacon,
        Rule::LongLived,
        Rule::VolumeAboveBaseline,
        Rule::Cleartext,
        Rule::TlsOutsidePolicy,
        Rule::SensorSilent,
        Rule::CaptureDrops,
        Rule::ClockJump,
        Rule::FlowTableFull,
    ];

    /// The stable id, as in the docs and the expected-alert files.
    pub fn id(self) -> &'static str {
        match self {
            Rule::NewMac => "device.new-mac",
            Rule::NewIp => "device.new-ip",
            Rule::IpMoved => "arp.ip-moved",
            Rule::ArpUnsolicited => "arp.unsolicited-reply",
            Rule::FlowOutsidePolicy => "flow.outside-policy",
            Rule::DnsUnexpectedServer => "dns.unexpected-server",
            Rule::DnsNameNotAllowed => "dns.name-not-allowed",
            Rule::LocalNameQuery => "dns.local-name-query",
            Rule::NtpUnexpected => "ntp.unexpected-server",
            Rule::DnsTunnel => "dns.tunnel",
            Rule::Beacon => "flow.beacon",
            Rule::LongLived => "flow.long-lived",
            Rule::VolumeAboveBaseline => "flow.volume",
            Rule::Cleartext => "flow.cleartext",
            Rule::TlsOutsidePolicy => "flow.tls-outside-policy",
            Rule::SensorSilent => "sensor.silent",
            Rule::CaptureDrops => "sensor.drops",
            Rule::ClockJump => "sensor.clock-jump",
            Rule::FlowTableFull => "sensor.flow-table-full",
        }
    }

    /// The EVE `signature_id` (a private range: 9 700 000 and up).
    pub fn sid(self) -> u32 {
        let index = Rule::ALL.iter().position(|r| *r == self).unwrap_or(0);
        9_700_001_u32.saturating_add(u32::try_from(index).unwrap_or(0))
    }

    /// Severity, 1 (highest) to 3.
    pub fn severity(self) -> u8 {
        match self {
            Rule::IpMoved
            | Rule::FlowOutsidePolicy
            | Rule::DnsTunnel
            | Rule::Beacon
            | Rule::Cleartext
            | Rule::TlsOutsidePolicy
            | Rule::DnsUnexpectedServer
            | Rule::NtpUnexpected => 1,
            Rule::NewMac
            | Rule::NewIp
            | Rule::ArpUnsolicited
            | Rule::DnsNameNotAllowed
            | Rule::LocalNameQuery
            | Rule::VolumeAboveBaseline
            | Rule::SensorSilent
            | Rule::CaptureDrops => 2,
            Rule::LongLived | Rule::ClockJump | Rule::FlowTableFull => 3,
        }
    }

    /// The EVE category.
    pub fn category(self) -> &'static str {
        match self {
            Rule::NewMac | Rule::NewIp => "New device",
            Rule::IpMoved | Rule::ArpUnsolicited => "ARP anomaly",
            Rule::FlowOutsidePolicy | Rule::Cleartext | Rule::TlsOutsidePolicy => {
                "Policy violation"
            }
            Rule::DnsUnexpectedServer
            | Rule::DnsNameNotAllowed
            | Rule::LocalNameQuery
            | Rule::NtpUnexpected => "Name or time service outside policy",
            Rule::DnsTunnel => "DNS tunnelling",
            Rule::Beacon => "Beaconing",
            Rule::LongLived | Rule::VolumeAboveBaseline => "Flow anomaly",
            Rule::SensorSilent | Rule::CaptureDrops | Rule::ClockJump | Rule::FlowTableFull => {
                "Sensor health"
            }
        }
    }

    /// Parses an id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }
}

/// One end of a flow.
pub type Endpoint = (IpAddr, u16);

/// One alert with its evidence.
#[derive(Clone, Debug)]
pub struct Alert {
    /// When (capture time).
    pub ts: Micros,
    /// Which detection.
    pub rule: Rule,
    /// A one-line account for a person.
    pub message: String,
    /// Source (initiator) of the flow, if the alert is about one.
    pub src: Option<Endpoint>,
    /// Destination (responder).
    pub dst: Option<Endpoint>,
    /// IP protocol number.
    pub proto: Option<u8>,
    /// Source and destination MAC.
    pub macs: Option<(Mac, Mac)>,
    /// The ARP packet, for ARP alerts.
    pub arp: Option<crate::packet::Arp>,
    /// The DNS query name and type, for DNS alerts.
    pub dns: Option<(String, String)>,
    /// The facts behind the alert.
    pub evidence: Map<String, Value>,
}

impl Alert {
    /// A bare alert; fields are filled by the detection.
    pub fn new(ts: Micros, rule: Rule, message: impl Into<String>) -> Self {
        Self {
            ts,
            rule,
            message: message.into(),
            src: None,
            dst: None,
            proto: None,
            macs: None,
            arp: None,
            dns: None,
            evidence: Map::new(),
        }
    }

    /// Adds one fact.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.evidence.insert(key.to_string(), value.into());
        self
    }

    /// Sets the flow tuple.
    pub fn flow(mut self, src: Endpoint, dst: Endpoint, proto: u8) -> Self {
        self.src = Some(src);
        self.dst = Some(dst);
        self.proto = Some(proto);
        self
    }
}
