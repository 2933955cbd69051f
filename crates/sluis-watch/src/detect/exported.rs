//! Exported flows: IPFIX and NetFlow records from a switch or exporter, fed through the same checks as captured flows.

use super::names::is_name_port;
#[allow(clippy::wildcard_imports)]
use super::*;

impl Watch {
    /// Feeds the records of one export datagram. Exporters report each direction of a
    /// connection as its own record; the two are paired here (in this batch, or with the
    /// records held back from the previous one) so that a reply is never mistaken for a flow
    /// the responder started. The initiator is the earlier start; on a tie (millisecond clocks),
    /// the direction the policy allows, else the one towards the lower port. A record whose
    /// pair does not come within one more datagram is taken as it stands.
    pub fn flow_batch(&mut self, records: &[FlowRecord]) {
        let mut batch: Vec<FlowRecord> = std::mem::take(&mut self.held);
        let held = batch.len();
        batch.extend_from_slice(records);
        let mut used = vec![false; batch.len()];
        let mut index: HashMap<FlowKey, Vec<usize>> = HashMap::new();
        for (i, r) in batch.iter().enumerate() {
            index
                .entry(FlowKey::new(r.src, r.dst, r.proto).0)
                .or_default()
                .push(i);
        }
        let mut out: Vec<FlowRecord> = Vec::new();
        let mut next_held: Vec<FlowRecord> = Vec::new();
        for i in 0..batch.len() {
            if used.get(i).copied().unwrap_or(true) {
                continue;
            }
            let Some(r) = batch.get(i).copied() else {
                continue;
            };
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
            let key = FlowKey::new(r.src, r.dst, r.proto).0;
            let partner = index.get(&key).and_then(|list| {
                list.iter().copied().find(|j| {
                    !used.get(*j).copied().unwrap_or(true)
                        && batch
                            .get(*j)
                            .is_some_and(|o| o.src == r.dst && o.dst == r.src)
                })
            });
            match partner.and_then(|j| batch.get(j).copied().map(|o| (j, o))) {
                Some((j, o)) => {
                    if let Some(u) = used.get_mut(j) {
                        *u = true;
                    }
                    out.push(self.initiator_of(r, o));
                }
                None if i >= held => next_held.push(r),
                None => out.push(
                    if r.src.1 < 1024 && r.dst.1 >= 1024 && r.tcp_flags & tcp_flags::SYN == 0 {
                        // A lone record from a well-known port to an ephemeral one is a reply.
                        FlowRecord {
                            src: r.dst,
                            dst: r.src,
                            ..r
                        }
                    } else {
                        r
                    },
                ),
            }
        }
        self.held = next_held;
        out.sort_by_key(|r| r.start);
        for r in &out {
            self.flow_record(r);
        }
    }

    /// Processes records held back for pairing (at the end of the input).
    pub fn flush_flow_batch(&mut self) {
        let held = std::mem::take(&mut self.held);
        for r in &held {
            self.flow_record(r);
        }
    }

    pub(super) fn initiator_of(&self, a: FlowRecord, b: FlowRecord) -> FlowRecord {
        const MILLI: Micros = 1000;
        if a.start + MILLI <= b.start {
            return a;
        }
        if b.start + MILLI <= a.start {
            return b;
        }
        let hour = hour_of(a.start);
        let allowed = |r: &FlowRecord| {
            self.policy
                .allowed(&r.src.0, &r.dst.0, r.proto, r.dst.1, hour)
                .is_some()
        };
        match (allowed(&a), allowed(&b)) {
            (true, false) => a,
            (false, true) => b,
            _ if b.dst.1 < a.dst.1 => b,
            _ => a,
        }
    }

    /// Feeds one exported flow record (no MACs, no payload: the flow, new-address, beacon,
    /// volume and duration detections apply).
    pub fn flow_record(&mut self, r: &FlowRecord) {
        self.stats.flow_records = self.stats.flow_records.saturating_add(1);
        self.observe(r.start);
        self.see_ip(r.start, r.src.0, None);
        let hour = hour_of(r.start);
        let port = if r.proto == proto::ICMP || r.proto == proto::ICMPV6 {
            0
        } else {
            r.dst.1
        };
        let (src, dst) = (
            (r.src.0, if port == 0 { 0 } else { r.src.1 }),
            (r.dst.0, port),
        );
        let rule = self.policy.allowed(&src.0, &dst.0, r.proto, port, hour);
        self.connection_event(r.start, src, dst, r.proto, r.bytes, rule);
        self.volume(r.start, rule, src, dst, r.proto, r.bytes);
        if r.proto == proto::TCP
            && too_long(&self.policy, &self.t, rule, r.end.saturating_sub(r.start))
        {
            self.long_lived(r.end, src, dst, r.proto, r.start, rule);
        }
        let covered = is_name_port(r.proto, port) && self.name_rule_covers(r.proto, port);
        if rule.is_none() {
            let from = self.policy.name_of(&src.0);
            let to = self.policy.name_of(&dst.0);
            let (rule_id, what) = match (covered, port) {
                (true, 53) => (Rule::DnsUnexpectedServer, "DNS"),
                (true, 123) => (Rule::NtpUnexpected, "NTP"),
                (true, _) => (Rule::LocalNameQuery, "name service"),
                (false, _) => (Rule::FlowOutsidePolicy, ""),
            };
            let message = if rule_id == Rule::FlowOutsidePolicy {
                format!(
                    "{from} -> {to} {}/{port} is not allowed by the policy",
                    proto::name(r.proto)
                )
            } else {
                format!("{from} used {what} at {to}, which no rule allows")
            };
            let state = if r.proto == proto::TCP && r.tcp_flags & tcp_flags::ACK == 0 {
                "attempt"
            } else {
                "established"
            };
            let a = Alert::new(r.start, rule_id, message)
                .flow(src, dst, r.proto)
                .with("from", from)
                .with("to", to)
                .with("state", state)
                .with("source", "flow-export")
                .with("hour_utc", hour);
            let key = if rule_id == Rule::FlowOutsidePolicy {
                key_hash((rule_id, src.0, dst.0, r.proto, port))
            } else {
                key_hash((rule_id, src.0, dst.0))
            };
            self.raise(key, a);
        }
        self.observe(r.end);
    }
}
