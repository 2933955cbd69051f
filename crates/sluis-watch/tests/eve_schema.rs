//! Every kind of alert the watch writes validates against Suricata's EVE schema.

use std::collections::BTreeSet;

use serde_json::json;
use sluis_watch::alert::{Alert, Rule};
use sluis_watch::eve;
use sluis_watch::packet::{Arp, Mac};

use crate::support;

#[test]
fn every_rule_validates_against_the_eve_schema() {
    let src = ("10.20.0.11".parse().unwrap(), 40000);
    let dst = ("192.0.2.1".parse().unwrap(), 443);
    let mut seen = BTreeSet::new();
    for rule in Rule::ALL {
        let mut a = Alert::new(1_793_606_400_000_000, *rule, "test")
            .with("n", 3)
            .with("s", "x");
        if !matches!(rule, Rule::NewMac | Rule::SensorSilent | Rule::ClockJump) {
            a = a.flow(src, dst, 6);
        }
        a.macs = Some((Mac([2, 0, 0, 0, 0, 1]), Mac::BROADCAST));
        if *rule == Rule::ArpUnsolicited {
            a.arp = Some(Arp {
                op: 2,
                sender_mac: Mac([2, 0, 0, 0, 0, 1]),
                sender_ip: "10.20.0.2".parse().unwrap(),
                target_mac: Mac([2, 0, 0, 0, 0, 3]),
                target_ip: "10.20.0.11".parse().unwrap(),
            });
        }
        if *rule == Rule::DnsTunnel {
            a.dns = Some(("x.example".into(), "TXT".into()));
        }
        let e = eve::alert_event(&a, "sensor", Some("f.pcap"));
        support::assert_valid_eve(&e);
        assert!(
            seen.insert(e["alert"]["signature_id"].as_u64().unwrap()),
            "duplicate sid"
        );
        let line = eve::syslog_line(&a, "sensor", &e);
        assert!(line.starts_with('<') && line.contains(rule.id()), "{line}");
    }
    // ICMP alerts carry type and code instead of ports.
    let a = Alert::new(0, Rule::FlowOutsidePolicy, "icmp")
        .flow(
            ("10.0.0.1".parse().unwrap(), 0),
            ("10.0.0.2".parse().unwrap(), 0),
            1,
        )
        .with("icmp_type", 8)
        .with("icmp_code", 0);
    let e = eve::alert_event(&a, "s", None);
    support::assert_valid_eve(&e);
    assert_eq!(e["icmp_type"], json!(8));
    assert!(e.get("src_port").is_none());
}

#[test]
fn the_schema_check_can_fail() {
    // The validator used by every case rejects what Suricata's schema forbids.
    let bad =
        json!({ "event_type": "alert", "timestamp": "yesterday", "alert": { "nonsense": 1 } });
    assert!(support::SCHEMA.iter_errors(&bad).next().is_some());
}
