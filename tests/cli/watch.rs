//! `sluis watch` as an operator runs it: a capture against a policy, policy errors by line,
//! learn -> review -> run, flows exported by softflowd (the real exporter) into the collector,
//! alerts to a syslog collector over TCP and over TLS (openssl's `s_server` as the peer).

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{s, sluis, stderr};

/// The showcase enclave (one of each injection) and its policy, written by the CLI.
fn showcase(dir: &Path) -> (PathBuf, PathBuf) {
    let pcap = dir.join("enclave.pcap");
    let policy = dir.join("policy.toml");
    let out = sluis(&[
        "watch",
        "synth",
        "--out",
        s(&pcap),
        "--policy-out",
        s(&policy),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    (pcap, policy)
}

fn eve(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

type Key = (String, String, String, u64);

fn keys(events: &[Value]) -> BTreeSet<Key> {
    events
        .iter()
        .map(|e| {
            (
                e["alert"]["context"]["rule"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                e["src_ip"].as_str().unwrap_or("").to_string(),
                e["dest_ip"].as_str().unwrap_or("").to_string(),
                e["dest_port"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// `sluis watch run --policy POLICY --pcap PCAP` with more arguments.
fn watch_run(policy: &str, pcap: &str, more: &[&str]) -> std::process::Output {
    let mut args = vec!["watch", "run", "--policy", policy, "--pcap", pcap];
    args.extend_from_slice(more);
    sluis(&args)
}

fn key(rule: &str, src: &str, dst: &str, port: u64) -> Key {
    (rule.into(), src.into(), dst.into(), port)
}

#[test]
fn a_capture_against_its_policy_raises_exactly_the_injected_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, policy) = showcase(dir.path());
    let eve_path = dir.path().join("eve.json");
    let out = watch_run(s(&policy), s(&pcap), &["--eve", s(&eve_path)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("17 alerts"), "{}", stderr(&out));
    let events = eve(&eve_path);
    assert_eq!(events.len(), 17);
    let k = keys(&events);
    for want in [
        key("flow.outside-policy", "10.20.0.12", "203.0.113.50", 443),
        key("flow.tls-outside-policy", "10.20.0.12", "203.0.113.50", 443),
        key("flow.outside-policy", "10.20.0.13", "198.51.100.7", 8443),
        key("flow.beacon", "10.20.0.11", "192.0.2.10", 8080),
        key("flow.cleartext", "10.20.0.11", "192.0.2.10", 8080),
        key("dns.tunnel", "10.20.0.14", "10.20.0.2", 53),
        key("flow.volume", "10.20.0.13", "10.20.0.2", 11112),
        key("ntp.unexpected-server", "10.20.0.14", "162.159.200.1", 123),
    ] {
        assert!(k.contains(&want), "missing {want:?} in {k:#?}");
    }
    for e in &events {
        assert!(e["community_id"].is_string() || e.get("src_port").is_none());
        assert_eq!(e["host"], "enclave-tap");
        assert_eq!(e["pcap_filename"], s(&pcap));
    }
}

#[test]
fn policy_errors_are_explained_by_line_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, policy) = showcase(dir.path());
    let text = std::fs::read_to_string(&policy).unwrap();
    let line = text
        .lines()
        .position(|l| l == "to = \"timeserver\"")
        .unwrap()
        + 1;
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        text.replace("to = \"timeserver\"", "to = \"timesrever\""),
    )
    .unwrap();
    let out = sluis(&["watch", "check", s(&bad)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(msg.contains(&format!("line {line},")), "{msg}");
    assert!(msg.contains("timesrever"), "{msg}");
    let out = watch_run(s(&bad), s(&pcap), &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = sluis(&["watch", "check", s(&policy)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("accepted"));
}

#[test]
fn a_learned_policy_is_refused_until_accepted_then_catches_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    // A quiet enclave to learn from, and the same enclave with a phone-home.
    let quiet = dir.path().join("quiet.toml");
    std::fs::write(&quiet, "seed = 5\nduration_secs = 3600\nscanners = 2\n").unwrap();
    let loud = dir.path().join("loud.toml");
    std::fs::write(
        &loud,
        "seed = 6\nduration_secs = 3600\nscanners = 2\n\
         [[injections]]\nkind = \"phone-home\"\nscanner = 1\ndst = \"203.0.113.9\"\nport = 443\nat_secs = 900\nanswer = \"refused\"\n",
    )
    .unwrap();
    let (p1, p2) = (dir.path().join("quiet.pcap"), dir.path().join("loud.pcap"));
    for (scenario, pcap) in [(&quiet, &p1), (&loud, &p2)] {
        let pol = dir.path().join("unused.toml");
        let _ = std::fs::remove_file(&pol);
        let out = sluis(&[
            "watch",
            "synth",
            "--out",
            s(pcap),
            "--policy-out",
            s(&pol),
            "--scenario",
            s(scenario),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let proposal = dir.path().join("proposal.toml");
    let out = sluis(&["watch", "learn", "--pcap", s(&p1), "--out", s(&proposal)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&proposal).unwrap();
    assert!(text.contains("accepted = false"), "{text}");
    // Learning again does not overwrite a proposal under review.
    let out = sluis(&["watch", "learn", "--pcap", s(&p1), "--out", s(&proposal)]);
    assert_eq!(out.status.code(), Some(3));
    let out = watch_run(s(&proposal), s(&p1), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not accepted"), "{}", stderr(&out));
    // The reviewer accepts it.
    std::fs::write(
        &proposal,
        text.replace("accepted = false", "accepted = true"),
    )
    .unwrap();
    let out = watch_run(s(&proposal), s(&p1), &["--print"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(" 0 alerts"),
        "{}\n{}",
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    let out = watch_run(s(&proposal), s(&p2), &["--print"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("flow.outside-policy") && printed.contains("203.0.113.9"),
        "{printed}"
    );
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn softflowd_exports_give_the_same_flow_detections_as_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, policy) = showcase(dir.path());
    let from_pcap = dir.path().join("pcap.json");
    let out = watch_run(s(&policy), s(&pcap), &["--eve", s(&from_pcap)]);
    assert!(out.status.success(), "{}", stderr(&out));
    for version in ["9", "10"] {
        let port = free_udp_port();
        let from_flows = dir.path().join(format!("flows-v{version}.json"));
        let collector = Command::new(env!("CARGO_BIN_EXE_sluis"))
            .args([
                "watch",
                "run",
                "--policy",
                s(&policy),
                "--ipfix",
                &format!("127.0.0.1:{port}"),
                "--idle-exit",
                "3",
                "--eve",
                s(&from_flows),
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let exporter = Command::new("softflowd")
            .args([
                "-r",
                s(&pcap),
                "-n",
                &format!("127.0.0.1:{port}"),
                "-v",
                version,
                "-d",
            ])
            .output()
            .expect("softflowd (Debian package softflowd; ./scripts/test installs it)");
        assert!(
            exporter.status.success(),
            "{}",
            String::from_utf8_lossy(&exporter.stderr)
        );
        let out = collector.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("flow records"), "{}", stderr(&out));
        let flows = keys(&eve(&from_flows));
        // What flow records can show: the flows, not payloads, names or MAC addresses.
        let flow_rules = [
            "flow.outside-policy",
            "flow.beacon",
            "flow.volume",
            "dns.local-name-query",
            "ntp.unexpected-server",
        ];
        let pcap_keys: BTreeSet<Key> = keys(&eve(&from_pcap))
            .into_iter()
            .filter(|k| flow_rules.contains(&k.0.as_str()))
            .collect();
        assert_eq!(pcap_keys.len(), 8, "{pcap_keys:#?}");
        assert_eq!(flows, pcap_keys, "NetFlow v{version}");
    }
}

/// True when something listens on 127.0.0.1:`port` (read from /proc, without connecting).
fn listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().any(|l| {
            l.split_whitespace().nth(1) == Some(want.as_str())
                && l.split_whitespace().nth(3) == Some("0A")
        })
    })
}

fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn alerts_reach_a_syslog_collector_over_tcp_octet_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, policy) = showcase(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut all = Vec::new();
        conn.read_to_end(&mut all).unwrap();
        all
    });
    let out = watch_run(s(&policy), s(&pcap), &["--syslog", &addr.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let data = String::from_utf8(reader.join().unwrap()).unwrap();
    // RFC 6587 octet counting: "LEN SP MSG", repeated.
    let mut rest = data.as_str();
    let mut messages = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_once(' ').unwrap();
        let len: usize = len.parse().unwrap();
        messages.push(&tail[..len]);
        rest = &tail[len..];
    }
    assert_eq!(messages.len(), 17);
    for m in &messages {
        // <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG
        assert!(m.starts_with("<16") && m.contains(">1 2026-11-02T"), "{m}");
        assert!(m.contains(" enclave-tap sluis-watch - "), "{m}");
        let json = &m[m.find("] {").unwrap() + 2..];
        let v: Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["event_type"], "alert");
    }
}

#[test]
fn alerts_reach_a_syslog_collector_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, policy) = showcase(dir.path());
    // A test PKI: a CA, and the collector's certificate issued by it.
    let p = |n: &str| dir.path().join(n);
    let (ca_key, ca) = (p("ca.key"), p("ca.pem"));
    let (key, csr, cert, ext) = (p("key.pem"), p("leaf.csr"), p("cert.pem"), p("ext.cnf"));
    std::fs::write(
        &ext,
        "subjectAltName=DNS:syslog.enclave.example\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    for args in [
        [
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "1",
                "-subj",
                "/CN=Enclave test CA",
                "-keyout",
                s(&ca_key),
                "-out",
                s(&ca),
            ],
        ]
        .concat(),
        [
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=syslog.enclave.example",
                "-keyout",
                s(&key),
                "-out",
                s(&csr),
            ],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            s(&csr),
            "-CA",
            s(&ca),
            "-CAkey",
            s(&ca_key),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            s(&ext),
            "-out",
            s(&cert),
        ],
    ] {
        let o = Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl");
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let received = dir.path().join("received.txt");
    let s_server = || {
        let child = Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-naccept",
                "1",
                "-accept",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["-key", s(&key), "-cert", s(&cert)])
            // s_server ends at end of its stdin: keep a pipe open (the handle lives in the child).
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&received).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(|| listening(port), "openssl s_server to listen");
        child
    };
    let addr = format!("127.0.0.1:{port}");
    // A certificate for another name: refused, nothing sent.
    let mut server = s_server();
    let out = watch_run(
        s(&policy),
        s(&pcap),
        &[
            "--syslog",
            &addr,
            "--syslog-ca",
            s(&ca),
            "--syslog-name",
            "other.example",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "a certificate for another name was accepted"
    );
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));
    let _ = server.wait();
    let mut server = s_server();
    let out = watch_run(
        s(&policy),
        s(&pcap),
        &[
            "--syslog",
            &addr,
            "--syslog-ca",
            s(&ca),
            "--syslog-name",
            "syslog.enclave.example",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for(
        || std::fs::read_to_string(&received).is_ok_and(|t| t.matches("sluis-watch").count() >= 17),
        "17 messages at the TLS collector",
    );
    let _ = server.kill();
    let _ = server.wait();
    let text = std::fs::read_to_string(&received).unwrap();
    assert!(text.contains("flow.beacon"), "{text}");
}

/// Two network namespaces joined by a veth pair, removed on drop. The watch listens on one end,
/// receive only; the other namespace plays a device that is not in the inventory.
struct Segment {
    watch_ns: String,
    peer_ns: String,
}

impl Segment {
    fn new() -> Segment {
        let tag = std::process::id();
        let seg = Segment {
            watch_ns: format!("sluisw{tag}"),
            peer_ns: format!("sluisp{tag}"),
        };
        let ip = |args: &[&str]| {
            let o = Command::new("ip")
                .args(args)
                .output()
                .expect("ip (iproute2)");
            assert!(
                o.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        ip(&["netns", "add", &seg.watch_ns]);
        ip(&["netns", "add", &seg.peer_ns]);
        ip(&[
            "link",
            "add",
            "sw0",
            "netns",
            &seg.watch_ns,
            "type",
            "veth",
            "peer",
            "name",
            "sp0",
            "netns",
            &seg.peer_ns,
        ]);
        for (ns, dev, addr) in [
            (&seg.watch_ns, "sw0", "10.99.0.1/24"),
            (&seg.peer_ns, "sp0", "10.99.0.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        seg
    }

    fn in_peer(&self, script: &str) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.peer_ns, "bash", "-c", script])
            .output()
            .unwrap();
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        for ns in [&self.watch_ns, &self.peer_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

#[test]
fn live_capture_on_an_interface_sees_a_device_that_is_not_in_the_inventory() {
    // Network namespaces need root (CAP_SYS_ADMIN), as the capture needs CAP_NET_RAW.
    assert!(
        rustix_is_root(),
        "this test creates network namespaces and a packet socket: run it as root (CI does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "accepted = true\nsensor = \"veth-tap\"\n[detect]\nsilence_secs = 3600\n\
         [[device]]\nname = \"edge\"\nrole = \"edge\"\nips = [\"10.99.0.1\"]\n",
    )
    .unwrap();
    let seg = Segment::new();
    let eve_path = dir.path().join("eve.json");
    let watch = Command::new("ip")
        .args(["netns", "exec", &seg.watch_ns, env!("CARGO_BIN_EXE_sluis")])
        .args([
            "watch",
            "run",
            "--policy",
            s(&policy),
            "--interface",
            "sw0",
            "--eve",
            s(&eve_path),
            "--metrics",
            "127.0.0.1:9464",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed if an assertion fails before it is stopped properly.
    let mut watch = KillOnDrop(Some(watch));
    std::thread::sleep(Duration::from_millis(800));
    // The stranger resolves the edge's MAC, knocks on a TCP port (refused) and sends UDP.
    seg.in_peer("echo knock > /dev/tcp/10.99.0.1/4444; echo hello > /dev/udp/10.99.0.1/9999; true");
    // The EVE file is flushed when the watch stops: give the traffic time to pass, then stop it.
    std::thread::sleep(Duration::from_secs(2));
    // Prometheus metrics, read from inside the watch's namespace while it runs.
    let metrics = Command::new("ip")
        .args([
            "netns",
            "exec",
            &seg.watch_ns,
            "curl",
            "-sf",
            "http://127.0.0.1:9464/metrics",
        ])
        .output()
        .expect("curl");
    let metrics = String::from_utf8_lossy(&metrics.stdout).to_string();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(value("sluis_watch_frames_total") >= 4.0, "{metrics}");
    assert!(value("sluis_watch_flows_total") >= 2.0, "{metrics}");
    // Two flows of the stranger, and the segment's own IPv6 neighbour discovery, which no rule
    // allows either.
    assert!(
        value("sluis_watch_alerts_total{rule=\"flow.outside-policy\"}") >= 2.0,
        "{metrics}"
    );
    let mut watch = watch.0.take().unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &watch.id().to_string()])
        .status();
    // `ip netns exec` passes the signal on by exec: the pid is sluis itself.
    let status = watch.wait().unwrap();
    let mut err = String::new();
    watch
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    let events = eve(&eve_path);
    let k = keys(&events);
    assert!(
        k.contains(&key("flow.outside-policy", "10.99.0.2", "10.99.0.1", 4444)),
        "{k:#?}\n{err}"
    );
    assert!(
        k.contains(&key("flow.outside-policy", "10.99.0.2", "10.99.0.1", 9999)),
        "{k:#?}"
    );
    assert!(events.iter().any(|e| e["alert"]["context"]["rule"] == "device.new-ip" && e["src_ip"] == "10.99.0.2"), "{k:#?}");
    assert!(
        events
            .iter()
            .any(|e| e["alert"]["context"]["rule"] == "device.new-mac"),
        "{k:#?}"
    );
    for e in &events {
        assert_eq!(e["host"], "veth-tap");
    }
}

struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn rustix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}
