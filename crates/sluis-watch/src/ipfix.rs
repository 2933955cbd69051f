//! A NetFlow v9 / IPFIX collector for switches that export flows instead of mirroring ports.
//!
//! Datagrams are parsed by `netflow_parser` (templates cached per exporter, bounded by its LRU);
//! each data record becomes a [`FlowRecord`] for the engine. Only the fields every exporter
//! sends are used: addresses, ports, protocol, octets, packets, TCP flags and the flow's start
//! and end (absolute, or relative to the exporter's uptime).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use netflow_parser::variable_versions::field_value::{DataNumber, DurationValue, FieldValue};
use netflow_parser::variable_versions::ipfix::lookup::{IANAIPFixField, IPFixField};
use netflow_parser::variable_versions::v9::lookup::V9Field;
use netflow_parser::{NetflowPacket, NetflowParser};

use crate::capture::Micros;
use crate::detect::FlowRecord;

/// Exporters remembered at once (each has its own template cache).
const MAX_EXPORTERS: usize = 256;

/// Collects flow records from exporters, each with its own template state.
#[derive(Debug, Default)]
pub struct Collector {
    parsers: HashMap<SocketAddr, NetflowParser>,
    /// Each exporter's boot time (Unix ms), from its `systemInitTimeMilliseconds` option.
    boots: HashMap<SocketAddr, i64>,
    /// Datagrams that did not parse (or parsed only in part).
    pub errors: u64,
    /// Records without the fields a flow needs (addresses).
    pub skipped: u64,
    /// Times the exporter table was full and was forgotten (templates are learnt again).
    pub exporter_resets: u64,
}

#[derive(Default)]
struct Fields {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    sport: u16,
    dport: u16,
    proto: u8,
    bytes: u64,
    packets: u64,
    flags: u8,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    start_uptime: Option<i64>,
    end_uptime: Option<i64>,
}

fn number(v: &FieldValue) -> Option<u64> {
    match v {
        FieldValue::DataNumber(d) => match d {
            DataNumber::U8(x) => Some(u64::from(*x)),
            DataNumber::U16(x) => Some(u64::from(*x)),
            DataNumber::U24(x) | DataNumber::U32(x) => Some(u64::from(*x)),
            DataNumber::U64(x) => Some(*x),
            DataNumber::U128(x) => u64::try_from(*x).ok(),
            DataNumber::I32(x) | DataNumber::I24(x) => u64::try_from(*x).ok(),
            DataNumber::I64(x) => u64::try_from(*x).ok(),
            _ => None,
        },
        FieldValue::ProtocolType(p) => Some(u64::from(u8::from(*p))),
        FieldValue::TcpControlBits(bits, _) => {
            let mut f = 0u64;
            if bits.fin {
                f |= 0x01;
            }
            if bits.syn {
                f |= 0x02;
            }
            if bits.rst {
                f |= 0x04;
            }
            if bits.psh {
                f |= 0x08;
            }
            if bits.ack {
                f |= 0x10;
            }
            if bits.urg {
                f |= 0x20;
            }
            Some(f)
        }
        _ => None,
    }
}

fn millis(v: &FieldValue) -> Option<i64> {
    match v {
        FieldValue::Duration(DurationValue::Seconds { value, .. }) => {
            i64::try_from(*value).ok()?.checked_mul(1000)
        }
        FieldValue::Duration(DurationValue::Millis { value, .. }) => i64::try_from(*value).ok(),
        other => number(other).and_then(|n| i64::try_from(n).ok()),
    }
}

fn addr(v: &FieldValue) -> Option<IpAddr> {
    match v {
        FieldValue::Ip4Addr(a) => Some(IpAddr::V4(*a)),
        FieldValue::Ip6Addr(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

fn narrow<T: TryFrom<u64> + Default>(v: &FieldValue) -> T {
    number(v)
        .and_then(|n| T::try_from(n).ok())
        .unwrap_or_default()
}

impl Fields {
    fn v9(&mut self, field: &V9Field, v: &FieldValue) {
        match field {
            V9Field::Ipv4SrcAddr | V9Field::Ipv6SrcAddr => self.src = addr(v).or(self.src),
            V9Field::Ipv4DstAddr | V9Field::Ipv6DstAddr => self.dst = addr(v).or(self.dst),
            V9Field::L4SrcPort => self.sport = narrow(v),
            V9Field::L4DstPort => self.dport = narrow(v),
            V9Field::Protocol => self.proto = narrow(v),
            V9Field::InBytes => self.bytes = number(v).unwrap_or(0),
            V9Field::InPkts => self.packets = number(v).unwrap_or(0),
            V9Field::TcpFlags => self.flags = narrow(v),
            V9Field::FirstSwitched => self.start_uptime = millis(v),
            V9Field::LastSwitched => self.end_uptime = millis(v),
            _ => {}
        }
    }

    fn ipfix(&mut self, field: &IPFixField, v: &FieldValue) {
        let IPFixField::IANA(f) = field else { return };
        match f {
            IANAIPFixField::SourceIpv4address | IANAIPFixField::SourceIpv6address => {
                self.src = addr(v).or(self.src);
            }
            IANAIPFixField::DestinationIpv4address | IANAIPFixField::DestinationIpv6address => {
                self.dst = addr(v).or(self.dst);
            }
            IANAIPFixField::SourceTransportPort => self.sport = narrow(v),
            IANAIPFixField::DestinationTransportPort => self.dport = narrow(v),
            IANAIPFixField::ProtocolIdentifier => self.proto = narrow(v),
            IANAIPFixField::OctetDeltaCount => self.bytes = number(v).unwrap_or(0),
            IANAIPFixField::PacketDeltaCount => self.packets = number(v).unwrap_or(0),
            IANAIPFixField::TcpControlBits => self.flags = narrow(v),
            IANAIPFixField::FlowStartSeconds | IANAIPFixField::FlowStartMilliseconds => {
                self.start_ms = millis(v);
            }
            IANAIPFixField::FlowEndSeconds | IANAIPFixField::FlowEndMilliseconds => {
                self.end_ms = millis(v);
            }
            IANAIPFixField::FlowStartSysUpTime => self.start_uptime = millis(v),
            IANAIPFixField::FlowEndSysUpTime => self.end_uptime = millis(v),
            _ => {}
        }
    }

    /// `boot_ms`: the exporter's boot time in Unix milliseconds, when known.
    fn record(&self, boot_ms: Option<i64>, export_ms: i64) -> Option<FlowRecord> {
        let (src, dst) = (self.src?, self.dst?);
        // Uptime is 32-bit milliseconds and wraps every 49.7 days; a flow cannot start after
        // its export, so a time in the future is taken as one wrap earlier. (softflowd replaying
        // a pcap counts uptime from the wall clock, which lands there.)
        let abs = |absolute: Option<i64>, uptime: Option<i64>| -> i64 {
            absolute
                .or_else(|| {
                    let t = boot_ms?.saturating_add(uptime?);
                    Some(if t > export_ms.saturating_add(60_000) {
                        t.saturating_sub(1 << 32)
                    } else {
                        t
                    })
                })
                .unwrap_or(export_ms)
        };
        let start = abs(self.start_ms, self.start_uptime);
        let end = abs(self.end_ms, self.end_uptime).max(start);
        Some(FlowRecord {
            start: start.saturating_mul(1000) as Micros,
            end: end.saturating_mul(1000),
            src: (src, self.sport),
            dst: (dst, self.dport),
            proto: self.proto,
            bytes: self.bytes,
            packets: self.packets,
            tcp_flags: self.flags,
        })
    }
}

impl Collector {
    /// A collector with no exporter known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers what an exporter says of itself in options records (its boot time).
    fn options(&mut self, from: SocketAddr, records: &[Vec<(IPFixField, FieldValue)>]) {
        for rec in records {
            for (field, value) in rec {
                if let IPFixField::IANA(IANAIPFixField::SystemInitTimeMilliseconds) = field
                    && let Some(b) = millis(value)
                {
                    self.boots.insert(from, b);
                }
            }
        }
    }

    /// Parses one datagram from `from`, handing each flow record to `sink`; returns how many.
    pub fn datagram(
        &mut self,
        from: SocketAddr,
        data: &[u8],
        sink: &mut impl FnMut(FlowRecord),
    ) -> usize {
        if !self.parsers.contains_key(&from) && self.parsers.len() >= MAX_EXPORTERS {
            // An exporter flood must not grow memory: forget them all, templates come again.
            self.parsers.clear();
            self.boots.clear();
            self.exporter_resets = self.exporter_resets.saturating_add(1);
        }
        let parser = self.parsers.entry(from).or_default();
        let result = parser.parse_bytes(data);
        if result.error.is_some() {
            self.errors = self.errors.saturating_add(1);
        }
        let mut n = 0;
        for packet in &result.packets {
            match packet {
                NetflowPacket::V9(v9) => {
                    let export_ms = i64::from(v9.header.unix_secs).saturating_mul(1000);
                    let boot = export_ms.saturating_sub(i64::from(v9.header.sys_up_time));
                    for set in &v9.flowsets {
                        if let netflow_parser::variable_versions::v9::FlowSetBody::Data(d) =
                            &set.body
                        {
                            for rec in &d.fields {
                                let mut f = Fields::default();
                                for (field, value) in rec {
                                    f.v9(field, value);
                                }
                                match f.record(Some(boot), export_ms) {
                                    Some(r) => {
                                        sink(r);
                                        n += 1;
                                    }
                                    None => self.skipped = self.skipped.saturating_add(1),
                                }
                            }
                        }
                    }
                }
                NetflowPacket::IPFix(ipfix) => {
                    let export_ms = i64::from(ipfix.header.export_time).saturating_mul(1000);
                    for set in &ipfix.flowsets {
                        if let netflow_parser::variable_versions::ipfix::FlowSetBody::OptionsData(
                            o,
                        ) = &set.body
                        {
                            self.options(from, &o.fields);
                        }
                        if let netflow_parser::variable_versions::ipfix::FlowSetBody::Data(d) =
                            &set.body
                        {
                            for rec in &d.fields {
                                let mut f = Fields::default();
                                let mut boot = self.boots.get(&from).copied();
                                for (field, value) in rec {
                                    if let IPFixField::IANA(
                                        IANAIPFixField::SystemInitTimeMilliseconds,
                                    ) = field
                                    {
                                        boot = millis(value);
                                    }
                                    f.ipfix(field, value);
                                }
                                match f.record(boot, export_ms) {
                                    Some(r) => {
                                        sink(r);
                                        n += 1;
                                    }
                                    None => self.skipped = self.skipped.saturating_add(1),
                                }
                            }
                        }
                    }
                }
                _ => {
                    // v5/v7 carry no IPv6 and no templates; switches in scope export v9 or IPFIX.
                    self.skipped = self.skipped.saturating_add(1);
                }
            }
        }
        n
    }
}
