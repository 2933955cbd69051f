//! Names: DNS (and mDNS, LLMNR, NetBIOS) queries against the policy's allowed names, and the statistics that reveal tunnels.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Watch {
    /// DNS, mDNS, LLMNR, NetBIOS and NTP have their own, more telling detections.
    pub(super) fn name_rule_covers(&self, proto_num: u8, port: u16) -> bool {
        proto_num == proto::UDP || (proto_num == proto::TCP && port == 53)
    }

    pub(super) fn name_query(&mut self, ts: Micros, ip: &Ip<'_>, macs: Option<(Mac, Mac)>) {
        let from = self.policy.name_of(&ip.src);
        let to = self.policy.name_of(&ip.dst);
        let flow = ((ip.src, ip.sport), (ip.dst, ip.dport));
        let hour = hour_of(ts);
        match (ip.proto, ip.dport) {
            (_, 53) => {
                let message = if ip.proto == proto::TCP {
                    ip.payload.get(2..).unwrap_or_default()
                } else {
                    ip.payload
                };
                if message.is_empty() {
                    return;
                }
                let Some(q) = dns::question(message) else {
                    self.stats.dns_unparsed = self.stats.dns_unparsed.saturating_add(1);
                    return;
                };
                if q.response {
                    return;
                }
                let (server_ok, name_ok) = self.policy.dns_allowed(&ip.src, &ip.dst, &q.name);
                let flow_ok = self
                    .policy
                    .allowed(&ip.src, &ip.dst, ip.proto, 53, hour)
                    .is_some();
                if !server_ok && !flow_ok {
                    let mut a = Alert::new(
                        ts,
                        Rule::DnsUnexpectedServer,
                        format!(
                            "{from} asked {to} for {} ({}): no DNS server is allowed there",
                            q.name, q.rtype
                        ),
                    )
                    .flow(flow.0, flow.1, ip.proto)
                    .with("query", q.name.clone());
                    a.dns = Some((q.name.clone(), q.rtype.clone()));
                    a.macs = macs;
                    self.raise(key_hash((Rule::DnsUnexpectedServer, ip.src, ip.dst)), a);
                } else if !name_ok {
                    let mut a = Alert::new(
                        ts,
                        Rule::DnsNameNotAllowed,
                        format!(
                            "{from} asked {to} for {} ({}), which it may not resolve",
                            q.name, q.rtype
                        ),
                    )
                    .flow(flow.0, flow.1, ip.proto)
                    .with("query", q.name.clone());
                    a.dns = Some((q.name.clone(), q.rtype.clone()));
                    a.macs = macs;
                    let domain = dns::registered_domain(&q.name);
                    self.raise(key_hash((Rule::DnsNameNotAllowed, ip.src, domain)), a);
                }
                self.tunnel_stats(ts, ip, &q);
            }
            (p, 5353 | 5355) if p == proto::UDP => {
                if self
                    .policy
                    .allowed(&ip.src, &ip.dst, p, ip.dport, hour)
                    .is_some()
                {
                    return;
                }
                let q = dns::question(ip.payload);
                if q.as_ref().is_some_and(|q| q.response) {
                    return;
                }
                let kind = if ip.dport == 5353 { "mDNS" } else { "LLMNR" };
                let name = q.as_ref().map(|q| q.name.clone()).unwrap_or_default();
                let mut a = Alert::new(
                    ts,
                    Rule::LocalNameQuery,
                    format!("{from} sent a {kind} query for {name:?}"),
                )
                .flow(flow.0, flow.1, p)
                .with("protocol", kind)
                .with("query", name.clone());
                a.dns = q.map(|q| (q.name, q.rtype));
                a.macs = macs;
                self.raise(key_hash((Rule::LocalNameQuery, ip.src, kind, name)), a);
            }
            (p, 137) if p == proto::UDP => {
                if self
                    .policy
                    .allowed(&ip.src, &ip.dst, p, 137, hour)
                    .is_some()
                {
                    return;
                }
                let name = dns::netbios_name(ip.payload).unwrap_or_default();
                let mut a = Alert::new(
                    ts,
                    Rule::LocalNameQuery,
                    format!("{from} sent a NetBIOS name query for {name:?}"),
                )
                .flow(flow.0, flow.1, p)
                .with("protocol", "NetBIOS-NS")
                .with("query", name.clone());
                a.macs = macs;
                self.raise(key_hash((Rule::LocalNameQuery, ip.src, "netbios", name)), a);
            }
            (p, 123) if p == proto::UDP => {
                if self
                    .policy
                    .allowed(&ip.src, &ip.dst, p, 123, hour)
                    .is_some()
                {
                    return;
                }
                let mut a = Alert::new(
                    ts,
                    Rule::NtpUnexpected,
                    format!("{from} asked {to} for the time (NTP), which no rule allows"),
                )
                .flow(flow.0, flow.1, p);
                a.macs = macs;
                self.raise(key_hash((Rule::NtpUnexpected, ip.src, ip.dst)), a);
            }
            _ => {}
        }
    }

    pub(super) fn tunnel_stats(&mut self, ts: Micros, ip: &Ip<'_>, q: &dns::Question) {
        let domain = dns::registered_domain(&q.name).to_string();
        let key = (ip.src, domain.clone());
        if !self.domains.contains_key(&key) && self.domains.len() >= TABLE_CAP {
            self.domains.clear();
            self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
        }
        let t = &self.t;
        let s = self.domains.entry(key).or_default();
        s.add(
            q,
            &domain,
            t.dns_unique_subdomains,
            t.dns_label_max,
            t.dns_label_entropy,
        );
        if s.alerted {
            return;
        }
        let unique = s.unique() >= t.dns_unique_subdomains;
        let labels =
            usize::try_from(s.suspicious_labels).unwrap_or(usize::MAX) >= t.dns_suspicious_labels;
        let txt = usize::try_from(s.txt).unwrap_or(usize::MAX) >= t.dns_txt_queries;
        if !(unique || labels || txt) {
            return;
        }
        s.alerted = true;
        let why: Vec<&str> = [
            (unique, "many unique subdomains"),
            (labels, "long or high-entropy labels"),
            (txt, "TXT volume"),
        ]
        .iter()
        .filter(|(hit, _)| *hit)
        .map(|(_, w)| *w)
        .collect();
        let from = self.policy.name_of(&ip.src);
        let mut a = Alert::new(
            ts,
            Rule::DnsTunnel,
            format!(
                "{from} may tunnel through DNS under {domain}: {}",
                why.join(", ")
            ),
        )
        .flow((ip.src, ip.sport), (ip.dst, ip.dport), ip.proto)
        .with("domain", domain.clone())
        .with("queries", s.queries)
        .with("unique_subdomains", s.unique())
        .with("suspicious_labels", s.suspicious_labels)
        .with("txt_queries", s.txt)
        .with("longest_label", s.longest_label)
        .with(
            "example",
            s.example.clone().unwrap_or_else(|| q.name.clone()),
        );
        a.dns = Some((q.name.clone(), q.rtype.clone()));
        self.raise(key_hash((Rule::DnsTunnel, ip.src, domain)), a);
    }
}

pub(super) fn is_name_port(proto_num: u8, port: u16) -> bool {
    matches!(
        (proto_num, port),
        (proto::UDP | proto::TCP, 53) | (proto::UDP, 5353 | 5355 | 137 | 123)
    )
}
