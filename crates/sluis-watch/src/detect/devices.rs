//! Devices: MAC addresses and IP bindings as frames and ARP show them, against the policy's inventory (new devices, spoofed bindings).

#[allow(clippy::wildcard_imports)]
use super::*;

impl Watch {
    pub(super) fn see_mac(&mut self, ts: Micros, mac: Mac, net: &Net<'_>) {
        // The two ends of a bulk transfer alternate: remember the last two senders.
        if self.recent_macs.contains(&mac) {
            return;
        }
        if mac.is_group() || mac == Mac::default() || self.macs_seen.contains(&mac) {
            self.recent_macs = [self.recent_macs[1], mac];
            return;
        }
        if self.macs_seen.len() >= TABLE_CAP {
            self.macs_seen.clear();
            self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
        }
        self.macs_seen.insert(mac);
        if self.policy.device_by_mac(&mac).is_some() {
            return;
        }
        let mut a = Alert::new(
            ts,
            Rule::NewMac,
            format!("new device: MAC {mac} is not in the inventory"),
        )
        .with("mac", mac.to_string());
        a.macs = Some((mac, Mac::BROADCAST));
        match net {
            Net::Ip(ip) => {
                a = a.with("ip", ip.src.to_string());
            }
            Net::Arp(arp) => {
                a = a.with("ip", arp.sender_ip.to_string());
            }
            Net::Other(et) => {
                a = a.with("ether_type", *et);
            }
        }
        self.raise(key_hash((Rule::NewMac, mac)), a);
    }

    pub(super) fn see_ip(&mut self, ts: Micros, ip: IpAddr, mac: Option<Mac>) {
        if ip.is_unspecified() || self.ips_seen.contains(&ip) {
            return;
        }
        if self.ips_seen.len() >= TABLE_CAP {
            self.ips_seen.clear();
            self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
        }
        self.ips_seen.insert(ip);
        if self.policy.device_by_ip(&ip).is_some() {
            return;
        }
        let mut a = Alert::new(
            ts,
            Rule::NewIp,
            format!("new device: address {ip} is not in the inventory"),
        )
        .with("ip", ip.to_string());
        if let Some(m) = mac {
            a = a.with("mac", m.to_string());
            let owner = self.policy.device_by_mac(&m).map(|d| d.name.clone());
            if let Some(owner) = owner {
                a = a.with("mac_owner", owner);
            }
        }
        self.raise(key_hash((Rule::NewIp, ip)), a);
    }

    /// Checks that `ip` is where the inventory and the last sighting say.
    pub(super) fn bind(&mut self, ts: Micros, ip: IpAddr, mac: Mac, via: &str) {
        // A binding checked and consistent stays so until the table changes for that address
        // (the cache is cleared on every change below).
        if self.recent_binds.contains(&Some((ip, mac))) {
            return;
        }
        self.recent_binds = [self.recent_binds[1], Some((ip, mac))];
        if ip.is_unspecified() || mac.is_group() {
            return;
        }
        let expected = self
            .policy
            .device_by_ip(&ip)
            .and_then(|d| d.mac.map(|m| (m, d.name.clone())));
        if let Some((want, name)) = expected {
            if want != mac {
                let a = Alert::new(
                    ts,
                    Rule::IpMoved,
                    format!("{ip} ({name}) seen from MAC {mac}; the inventory says {want}"),
                )
                .with("ip", ip.to_string())
                .with("mac", mac.to_string())
                .with("expected_mac", want.to_string())
                .with("seen_in", via);
                self.raise(key_hash((Rule::IpMoved, ip, mac)), a);
            }
            return;
        }
        match self.ip_mac.get(&ip) {
            Some(prev) if *prev != mac => {
                let prev = *prev;
                let a = Alert::new(
                    ts,
                    Rule::IpMoved,
                    format!("{ip} moved from MAC {prev} to {mac}"),
                )
                .with("ip", ip.to_string())
                .with("mac", mac.to_string())
                .with("previous_mac", prev.to_string())
                .with("seen_in", via);
                self.raise(key_hash((Rule::IpMoved, ip, mac)), a);
                self.ip_mac.insert(ip, mac);
                self.recent_binds = [None, None];
            }
            Some(_) => {}
            None => {
                if self.ip_mac.len() >= TABLE_CAP {
                    self.ip_mac.clear();
                    self.recent_binds = [None, None];
                    self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
                }
                self.ip_mac.insert(ip, mac);
                self.recent_binds = [None, None];
            }
        }
    }

    pub(super) fn arp(&mut self, ts: Micros, arp: &Arp) {
        let sender = IpAddr::V4(arp.sender_ip);
        self.see_ip(ts, sender, Some(arp.sender_mac));
        self.bind(ts, sender, arp.sender_mac, "arp");
        match arp.op {
            1 => {
                if self.arp_asked.len() >= TABLE_CAP {
                    self.arp_asked.clear();
                    self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
                }
                self.arp_asked.insert((arp.target_ip, arp.sender_ip), ts);
            }
            2 => {
                let gratuitous = arp.sender_ip == arp.target_ip;
                let asked = self
                    .arp_asked
                    .remove(&(arp.sender_ip, arp.target_ip))
                    .is_some_and(|t| ts.saturating_sub(t) <= 5 * SECOND);
                if !gratuitous && !asked {
                    let mut a = Alert::new(
                        ts,
                        Rule::ArpUnsolicited,
                        format!(
                            "unsolicited ARP reply: {} is-at {} sent to {}",
                            arp.sender_ip, arp.sender_mac, arp.target_ip
                        ),
                    )
                    .with("ip", arp.sender_ip.to_string())
                    .with("mac", arp.sender_mac.to_string());
                    a.arp = Some(*arp);
                    a.macs = Some((arp.sender_mac, arp.target_mac));
                    self.raise(
                        key_hash((
                            Rule::ArpUnsolicited,
                            arp.sender_ip,
                            arp.sender_mac,
                            arp.target_ip,
                        )),
                        a,
                    );
                }
            }
            _ => {}
        }
    }
}
