//! Output: Suricata's EVE JSON (one event per line), with Community ID flow hashes, so the
//! authority's security operations tools (Filebeat, Security Onion, Elastic) read it as they read
//! Suricata; and RFC 5424 syslog lines carrying the same event.

use std::net::IpAddr;

use base64::Engine;
use serde_json::{Map, Value, json};
use sha1::{Digest, Sha1};

use crate::alert::Alert;
use crate::capture::Micros;
use crate::packet::proto;

/// The Community ID (version 1) of a flow: SHA-1 over a seed, the ordered endpoints, the
/// protocol and the ports, base64. ICMP types stand in for ports, with request/reply pairs
/// folded together as the specification says. (The hash is a dozen lines; the one crate that
/// offers it pulls in a packet library we do not otherwise need.)
pub fn community_id(seed: u16, src: (IpAddr, u16), dst: (IpAddr, u16), proto_num: u8) -> String {
    let (mut s, mut d) = (src, dst);
    let mut one_way = false;
    if proto_num == proto::ICMP || proto_num == proto::ICMPV6 {
        // For ICMP the "ports" are type and code; map the type to its counterpart.
        let ty = u8::try_from(src.1).unwrap_or(0);
        let counterpart: Option<u8> = if proto_num == proto::ICMP {
            match ty {
                0 => Some(8),
                8 => Some(0),
                13 => Some(14),
                14 => Some(13),
                15 => Some(16),
                16 => Some(15),
                10 => Some(9),
                9 => Some(10),
                17 => Some(18),
                18 => Some(17),
                _ => None,
            }
        } else {
            match ty {
                128 => Some(129),
                129 => Some(128),
                133 => Some(134),
                134 => Some(133),
                135 => Some(136),
                136 => Some(135),
                130 => Some(131),
                131 => Some(130),
                144 => Some(145),
                145 => Some(144),
                _ => None,
            }
        };
        match counterpart {
            Some(c) => {
                s = (src.0, u16::from(ty));
                d = (dst.0, u16::from(c));
            }
            None => {
                one_way = true;
                s = (src.0, u16::from(ty));
                d = (dst.0, dst.1);
            }
        }
    }
    let ordered = one_way || (s.0, s.1) < (d.0, d.1);
    let (a, b) = if ordered { (s, d) } else { (d, s) };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    let octets = |ip: IpAddr| -> Vec<u8> {
        match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        }
    };
    h.update(octets(a.0));
    h.update(octets(b.0));
    h.update([proto_num, 0]);
    if matches!(
        proto_num,
        proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6 | 132
    ) {
        h.update(a.1.to_be_bytes());
        h.update(b.1.to_be_bytes());
    }
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    )
}

/// EVE's timestamp: `2026-11-29T23:11:11.123456+0000`.
pub fn timestamp(ts: Micros) -> String {
    let secs = ts.div_euclid(1_000_000);
    let micros = ts.rem_euclid(1_000_000);
    let nanos = u32::try_from(micros.saturating_mul(1000)).unwrap_or(0);
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(),
        None => "1970-01-01T00:00:00.000000+0000".into(),
    }
}

/// A stable flow id for EVE (`flow_id`), derived from the Community ID so that every alert about
/// one flow carries the same id.
fn flow_id(community: &str) -> u64 {
    let digest = Sha1::digest(community.as_bytes());
    let mut b = [0u8; 8];
    for (dst, src) in b.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    // EVE consumers store flow_id as a signed 64-bit integer.
    u64::from_be_bytes(b) >> 1
}

/// One alert as an EVE `alert` event.
pub fn alert_event(a: &Alert, sensor: &str, capture: Option<&str>) -> Value {
    let mut e = Map::new();
    e.insert("timestamp".into(), json!(timestamp(a.ts)));
    e.insert("event_type".into(), json!("alert"));
    e.insert("host".into(), json!(sensor));
    if let (Some(src), Some(dst), Some(p)) = (a.src, a.dst, a.proto) {
        let cid = community_id(0, src, dst, p);
        e.insert("flow_id".into(), json!(flow_id(&cid)));
        e.insert("src_ip".into(), json!(src.0.to_string()));
        e.insert("dest_ip".into(), json!(dst.0.to_string()));
        if p == proto::ICMP || p == proto::ICMPV6 {
            if let Some(t) = a.evidence.get("icmp_type") {
                e.insert("icmp_type".into(), t.clone());
            }
            if let Some(c) = a.evidence.get("icmp_code") {
                e.insert("icmp_code".into(), c.clone());
            }
        } else {
            e.insert("src_port".into(), json!(src.1));
            e.insert("dest_port".into(), json!(dst.1));
        }
        e.insert("proto".into(), json!(proto::name(p)));
        e.insert("community_id".into(), json!(cid));
        e.insert("direction".into(), json!("to_server"));
    } else if let Some(ip) = a.evidence.get("ip") {
        e.insert("src_ip".into(), ip.clone());
    }
    if let Some((src, dst)) = a.macs {
        e.insert(
            "ether".into(),
            json!({ "src_mac": src.to_string(), "dest_mac": dst.to_string() }),
        );
    }
    if let Some(arp) = &a.arp {
        e.insert(
            "arp".into(),
            json!({
                "hw_type": "ethernet",
                "proto_type": "ipv4",
                "opcode": if arp.op == 1 { "request" } else { "reply" },
                "src_mac": arp.sender_mac.to_string(),
                "src_ip": arp.sender_ip.to_string(),
                "dest_mac": arp.target_mac.to_string(),
                "dest_ip": arp.target_ip.to_string(),
            }),
        );
    }
    if let Some((name, rtype)) = &a.dns {
        e.insert(
            "dns".into(),
            json!({ "version": 3, "type": "request", "queries": [{ "rrname": name, "rrtype": rtype }] }),
        );
    }
    if let Some(c) = capture {
        e.insert("pcap_filename".into(), json!(c));
    }
    let mut context = a.evidence.clone();
    context.insert("rule".into(), json!(a.rule.id()));
    e.insert(
        "alert".into(),
        json!({
            "action": "allowed",
            "gid": 1,
            "signature_id": a.rule.sid(),
            "rev": 1,
            "signature": format!("SLUIS {}: {}", a.rule.id(), a.message),
            "category": a.rule.category(),
            "severity": a.rule.severity(),
            "context": Value::Object(context),
        }),
    );
    Value::Object(e)
}

/// One RFC 5424 syslog message carrying an EVE event as its message, facility local4
/// (20), severity from the alert (1 -> alert, 2 -> critical... mapped to 2, 3, 4).
pub fn syslog_line(a: &Alert, sensor: &str, event: &Value) -> String {
    let severity = match a.rule.severity() {
        1 => 2, // critical
        2 => 3, // error
        _ => 4, // warning
    };
    let pri = 20 * 8 + severity;
    let host: String = sensor
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    let host = if host.is_empty() { "-".into() } else { host };
    // RFC 5424 TIMESTAMP: full-date "T" full-time with a numeric offset.
    let ts = timestamp(a.ts);
    let ts = format!("{}+00:00", ts.trim_end_matches("+0000"));
    format!(
        "<{pri}>1 {ts} {host} sluis-watch - {} [sluis@32473 rule=\"{}\" sid=\"{}\"] {}",
        a.rule.id(),
        a.rule.id(),
        a.rule.sid(),
        event
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn community_id_matches_the_specification_examples() {
        // The examples of the Community ID specification's README.
        let tcp = community_id(
            0,
            ("128.232.110.120".parse().unwrap(), 34855),
            ("66.35.250.204".parse().unwrap(), 80),
            proto::TCP,
        );
        assert_eq!(tcp, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        let reverse = community_id(
            0,
            ("66.35.250.204".parse().unwrap(), 80),
            ("128.232.110.120".parse().unwrap(), 34855),
            proto::TCP,
        );
        assert_eq!(tcp, reverse);
    }

    #[test]
    fn timestamps_have_the_eve_shape() {
        assert_eq!(
            timestamp(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456+0000"
        );
    }
}
