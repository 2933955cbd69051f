//! The labelled case suite: one folder per case under `tests/cases/`, each with the generator's
//! `scenario.toml`, an optional `policy.toml` (else the generated enclave's own), and
//! `expected.toml`: the alerts that must be raised, by rule and fields, with their count. Any
//! alert not expected fails the case: an allow-list sensor that cries wolf is not used.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default)]
    alert: Vec<ExpectedAlert>,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ExpectedAlert {
    rule: String,
    src_ip: Option<String>,
    dest_ip: Option<String>,
    dest_port: Option<u16>,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

fn matches(e: &Value, x: &ExpectedAlert) -> bool {
    support::rule_of(e) == x.rule
        && x.src_ip.as_deref().is_none_or(|s| e["src_ip"] == s)
        && x.dest_ip.as_deref().is_none_or(|s| e["dest_ip"] == s)
        && x.dest_port.is_none_or(|p| e["dest_port"] == p)
}

fn run_case(name: &str) {
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    let (pcap, policy, _) = support::generate(&case, dir.path());
    let events = support::eve_events(&pcap, &policy);
    let expected: Expected =
        toml::from_str(&std::fs::read_to_string(case.join("expected.toml")).unwrap()).unwrap();
    let shown = || {
        events
            .iter()
            .map(|e| format!("  {} {}", support::rule_of(e), e["alert"]["signature"]))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for x in &expected.alert {
        let n = events.iter().filter(|e| matches(e, x)).count();
        assert_eq!(
            n,
            x.count,
            "case {name}: {x:?} matched {n} alerts; raised:\n{}",
            shown()
        );
        *per_rule.entry(x.rule.as_str()).or_default() += x.count;
    }
    let mut raised: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &events {
        support::assert_valid_eve(e);
        *raised.entry(support::rule_of(e)).or_default() += 1;
    }
    assert_eq!(
        raised,
        per_rule,
        "case {name}: alerts by rule differ; raised:\n{}",
        shown()
    );
}

macro_rules! cases {
    ($($test:ident => $dir:literal),* $(,)?) => {
        $(#[test] fn $test() { run_case($dir); })*

        #[test]
        fn every_case_folder_is_run() {
            let listed = [$($dir),*];
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
            for entry in std::fs::read_dir(dir).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                assert!(listed.contains(&name.as_str()), "case folder {name} is not listed");
            }
        }
    };
}

cases! {
    benign_enclave_is_quiet => "benign",
    phone_home => "phone-home",
    beacons_with_jitter => "beacons",
    dns_tunnel => "dns-tunnel",
    bulk_upload => "bulk-upload",
    new_device => "new-device",
    arp_spoofing => "arp-spoof",
    windows_chatter => "windows-chatter",
    sensor_blind => "sensor-blind",
    maintenance_after_hours => "after-hours",
    long_session => "long-session",
}
