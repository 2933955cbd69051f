//! The link's sockets get the buffers they ask for where the process may have them.

use sluis_link::net::{buffer_sizes, udp_socket};

fn sysctl(name: &str) -> usize {
    std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Whether this process holds CAP_NET_ADMIN (bit 12 of its effective capabilities).
fn net_admin() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap();
    u64::from_str_radix(caps.trim(), 16).unwrap() & (1 << 12) != 0
}

#[test]
fn buffers_past_the_sysctl_limits_are_granted_to_a_privileged_process_only() {
    let (rmem, wmem) = (sysctl("rmem_max"), sysctl("wmem_max"));
    let want = rmem.max(wmem).saturating_mul(4).max(16 << 20);
    let sock = udp_socket("127.0.0.1:0".parse().unwrap(), want, want).unwrap();
    let (rcv, snd) = buffer_sizes(&sock).unwrap();
    if net_admin() {
        // Linux reports twice what was set (the other half is its bookkeeping).
        assert!(rcv >= want, "receive buffer {rcv} < {want}");
        assert!(snd >= want, "send buffer {snd} < {want}");
    } else {
        assert!(
            rcv <= 2 * rmem,
            "receive buffer {rcv} past 2 x rmem_max {rmem}"
        );
        assert!(
            snd <= 2 * wmem,
            "send buffer {snd} past 2 x wmem_max {wmem}"
        );
    }
}
