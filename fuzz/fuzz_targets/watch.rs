//! Fuzzes the enclave watch's parsers and engine. The first byte picks the target: a capture
//! file (pcap or pcapng, through the streaming reader and the engine), a batch of Ethernet
//! frames fed to the engine under a small policy, a DNS message, an IPFIX/NetFlow datagram (the
//! collector, then the engine's pairing), or a policy text. No panic, no unbounded growth.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sluis_watch::capture::{self, LinkType};
use sluis_watch::ipfix::Collector;
use sluis_watch::{Policy, Watch, dns, run};

const POLICY: &str = r#"
accepted = true
[[device]]
name = "edge"
role = "edge"
mac = "02:00:00:00:00:02"
ips = ["10.20.0.2"]
[[device]]
name = "scanner-1"
role = "scanner"
mac = "02:00:00:00:01:01"
ips = ["10.20.0.11"]
[[flow]]
from = "role:scanner"
to = "edge"
proto = "tcp"
ports = [11112]
max_bytes_per_hour = 1000
[[dns]]
device = "role:scanner"
server = "edge"
names = ["*.enclave.example"]
[detect]
flow_table_max = 64
beacon_min_connections = 4
"#;

fn policy() -> Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| Policy::parse(POLICY).expect("fixture policy")).clone()
}

fuzz_target!(|data: &[u8]| {
    let Some((which, rest)) = data.split_first() else { return };
    match which % 5 {
        0 => {
            let mut watch = Watch::new(policy());
            let _ = capture::read_from("fuzz", rest, &mut |r| run::feed(&mut watch, r));
            watch.finish();
            assert!(watch.live_flows() <= 64);
            let _ = watch.alerts().count();
        }
        1 => {
            // Frames as `u16 length || bytes`, a second apart.
            let mut watch = Watch::new(policy());
            let mut input = rest;
            let mut ts = 1_793_606_400_000_000i64;
            while input.len() >= 2 {
                let len = usize::from(u16::from_le_bytes([input[0], input[1]]));
                input = &input[2..];
                let frame = &input[..len.min(input.len())];
                input = &input[frame.len()..];
                watch.frame(ts, LinkType::Ethernet, frame, frame.len() as u32);
                ts += 1_000_000;
            }
            watch.finish();
            assert!(watch.live_flows() <= 64);
            let _ = watch.alerts().count();
        }
        2 => {
            let _ = dns::question(rest);
            let _ = dns::netbios_name(rest);
        }
        3 => {
            let mut c = Collector::new();
            let mut watch = Watch::new(policy());
            let from = "127.0.0.1:2055".parse().expect("addr");
            for chunk in rest.chunks(512) {
                let mut records = Vec::new();
                c.datagram(from, chunk, &mut |r| records.push(r));
                watch.flow_batch(&records);
            }
            watch.flush_flow_batch();
            watch.finish();
            let _ = watch.alerts().count();
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = Policy::parse(text);
            }
        }
    }
});
