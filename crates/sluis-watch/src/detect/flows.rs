//! Flows: each IP packet into its flow, checked against the policy's allowed flows (outside policy, long-lived, volume), and connection events for the beacon scorer.

use super::names::is_name_port;
#[allow(clippy::wildcard_imports)]
use super::*;

impl Watch {
    pub(super) fn ip(&mut self, ts: Micros, ip: &Ip<'_>, macs: Option<(Mac, Mac)>) {
        let len = u64::from(ip.wire_len);
        // ICMP errors answer another flow; they start nothing.
        let icmp_error = (ip.proto == proto::ICMP && matches!(ip.sport, 3 | 4 | 5 | 11 | 12))
            || (ip.proto == proto::ICMPV6 && ip.sport < 128);
        let (sport, dport) = if ip.proto == proto::ICMP || ip.proto == proto::ICMPV6 {
            (0, 0)
        } else {
            (ip.sport, ip.dport)
        };
        let (key, src_is_a) = FlowKey::new((ip.src, sport), (ip.dst, dport), ip.proto);
        if let Some(flow) = self.flows.get_mut(&key) {
            let from_init = src_is_a == flow.a_started;
            let dir = usize::from(!from_init);
            if let (Some(p), Some(b)) = (flow.pkts.get_mut(dir), flow.bytes.get_mut(dir)) {
                *p = p.saturating_add(1);
                *b = b.saturating_add(len);
            }
            let gap = ts.saturating_sub(flow.last_from_init);
            flow.last = flow.last.max(ts);
            if ip.flags & (tcp_flags::FIN | tcp_flags::RST) != 0 {
                flow.closing = true;
            }
            let rule = flow.rule;
            let first = flow.first;
            let inspect = from_init && !flow.inspected && !ip.payload.is_empty();
            if inspect {
                flow.inspected = true;
            }
            let long = !flow.long_alerted
                && ip.proto == proto::TCP
                && too_long(&self.policy, &self.t, rule, ts.saturating_sub(first));
            if long {
                flow.long_alerted = true;
            }
            let (init, resp) = if from_init {
                ((ip.src, sport), (ip.dst, dport))
            } else {
                ((ip.dst, dport), (ip.src, sport))
            };
            let mut volume_flush = None;
            if from_init {
                let hour = ts.div_euclid(3600 * SECOND);
                flow.volume_pending = flow.volume_pending.saturating_add(len);
                if flow.volume_pending >= VOLUME_BATCH || flow.volume_hour != hour {
                    volume_flush = Some(std::mem::take(&mut flow.volume_pending));
                    flow.volume_hour = hour;
                }
                flow.last_from_init = ts;
                // For beacon scoring a TCP connection is one callback (as Zeek's conn records
                // that RITA reads); a UDP or ICMP exchange after 30 s of quiet is a new one.
                // A TCP connection's size is settled when it ends (`settle`), not per packet.
                if ip.proto != proto::TCP && gap >= 30 * SECOND {
                    self.connection_event(ts, init, resp, ip.proto, len, rule);
                } else if ip.proto != proto::TCP {
                    self.connection_bytes(init, resp, ip.proto, len);
                }
                if let Some(pending) = volume_flush {
                    self.volume(ts, rule, init, resp, ip.proto, pending);
                }
            }
            if long {
                self.long_lived(ts, init, resp, ip.proto, first, rule);
            }
            if inspect && rule.is_none() {
                self.inspect_payload(ts, init, resp, ip.proto, ip.payload);
            }
            if from_init && is_name_port(ip.proto, dport) {
                self.name_query(ts, ip, macs);
            }
            return;
        }
        if icmp_error {
            return;
        }
        // A new flow: who started it.
        let src_started = ip.sender_started();
        let (init, resp) = if src_started {
            ((ip.src, sport), (ip.dst, dport))
        } else {
            ((ip.dst, dport), (ip.src, sport))
        };
        if self.flows.len() >= self.t.flow_table_max {
            self.evict(ts);
        }
        // A new address is one that starts something (or answers ARP): replies from outside
        // addresses are the flow's business, not a device on the segment.
        self.see_ip(
            ts,
            init.0,
            if src_started { macs.map(|m| m.0) } else { None },
        );
        let hour = hour_of(ts);
        let rule = self
            .policy
            .allowed(&init.0, &resp.0, ip.proto, resp.1, hour);
        self.stats.flows = self.stats.flows.saturating_add(1);
        let mut flow = Flow {
            a_started: src_started == src_is_a,
            first: ts,
            last: ts,
            pkts: [0; 2],
            bytes: [0; 2],
            rule,
            long_alerted: false,
            inspected: false,
            last_from_init: ts,
            closing: false,
            volume_pending: 0,
            volume_hour: ts.div_euclid(3600 * SECOND),
        };
        let dir = usize::from(!src_started);
        if let (Some(p), Some(b)) = (flow.pkts.get_mut(dir), flow.bytes.get_mut(dir)) {
            *p = 1;
            *b = len;
        }
        let payload_from_init = src_started && !ip.payload.is_empty();
        flow.inspected = payload_from_init;
        self.flows.insert(key, flow);
        if src_started {
            self.connection_event(ts, init, resp, ip.proto, len, rule);
            self.volume(ts, rule, init, resp, ip.proto, len);
        }
        let name_port = is_name_port(ip.proto, resp.1);
        if rule.is_none() && !(name_port && self.name_rule_covers(ip.proto, resp.1)) {
            self.outside_policy(ts, init, resp, ip, macs, src_started, hour);
        }
        if payload_from_init && rule.is_none() {
            self.inspect_payload(ts, init, resp, ip.proto, ip.payload);
        }
        if src_started && name_port {
            self.name_query(ts, ip, macs);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn outside_policy(
        &mut self,
        ts: Micros,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        ip: &Ip<'_>,
        macs: Option<(Mac, Mac)>,
        src_started: bool,
        hour: u8,
    ) {
        let from = self.policy.name_of(&init.0);
        let to = self.policy.name_of(&resp.0);
        let state = if ip.proto == proto::TCP {
            if ip.flags & tcp_flags::SYN != 0 && ip.flags & tcp_flags::ACK == 0 {
                "attempt"
            } else {
                "established"
            }
        } else {
            "new"
        };
        let p = proto::name(ip.proto);
        let mut a = Alert::new(
            ts,
            Rule::FlowOutsidePolicy,
            format!("{from} -> {to} {p}/{} is not allowed by the policy", resp.1),
        )
        .flow(init, resp, ip.proto)
        .with("from", from)
        .with("to", to)
        .with("state", state)
        .with("hour_utc", hour);
        if ip.proto == proto::ICMP || ip.proto == proto::ICMPV6 {
            a = a.with("icmp_type", ip.sport).with("icmp_code", ip.dport);
        }
        if let Some((s, d)) = macs {
            a.macs = Some(if src_started { (s, d) } else { (d, s) });
        }
        self.raise(
            key_hash((Rule::FlowOutsidePolicy, init.0, resp.0, ip.proto, resp.1)),
            a,
        );
    }

    pub(super) fn long_lived(
        &mut self,
        ts: Micros,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        proto_num: u8,
        first: Micros,
        rule: Option<usize>,
    ) {
        let from = self.policy.name_of(&init.0);
        let to = self.policy.name_of(&resp.0);
        let age = (ts - first) / SECOND;
        let a = Alert::new(
            ts,
            Rule::LongLived,
            format!(
                "{from} -> {to} {}/{} has lasted {age} s",
                proto::name(proto_num),
                resp.1
            ),
        )
        .flow(init, resp, proto_num)
        .with("age_secs", age)
        .with(
            "allowed_by_rule_line",
            rule.and_then(|r| self.policy.flows.get(r)).map(|r| r.line),
        );
        self.raise(key_hash((Rule::LongLived, init, resp, proto_num, first)), a);
    }

    pub(super) fn volume(
        &mut self,
        ts: Micros,
        rule: Option<usize>,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        proto_num: u8,
        len: u64,
    ) {
        let Some(r) = rule else { return };
        let Some(limit) = self.policy.flows.get(r).and_then(|f| f.max_bytes_per_hour) else {
            return;
        };
        let line = self.policy.flows.get(r).map_or(0, |f| f.line);
        let hour = ts.div_euclid(3600 * SECOND);
        if self.volume.len() >= TABLE_CAP && !self.volume.contains_key(&(r, init.0)) {
            self.volume.clear();
            self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
        }
        let entry = self.volume.entry((r, init.0)).or_insert((hour, 0, false));
        if entry.0 != hour {
            *entry = (hour, 0, false);
        }
        entry.1 = entry.1.saturating_add(len);
        if entry.1 > limit && !entry.2 {
            entry.2 = true;
            let sent = entry.1;
            let from = self.policy.name_of(&init.0);
            let to = self.policy.name_of(&resp.0);
            let a = Alert::new(
                ts,
                Rule::VolumeAboveBaseline,
                format!("{from} sent more than {limit} bytes to {to} within one hour"),
            )
            .flow(init, resp, proto_num)
            .with("bytes_this_hour", sent)
            .with("baseline_bytes_per_hour", limit)
            .with("rule_line", line);
            self.raise(key_hash((Rule::VolumeAboveBaseline, r, init.0, hour)), a);
        }
    }

    pub(super) fn connection_event(
        &mut self,
        ts: Micros,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        proto_num: u8,
        len: u64,
        rule: Option<usize>,
    ) {
        if rule
            .and_then(|r| self.policy.flows.get(r))
            .is_some_and(|r| r.periodic)
        {
            return;
        }
        let key = (init.0, resp.0, proto_num, resp.1);
        if !self.series.contains_key(&key) && self.series.len() >= TABLE_CAP {
            // Evict a pair that never reached the minimum; beacons accumulate, noise does not.
            let min = self.t.beacon_min_connections;
            let victim = self
                .series
                .iter()
                .filter(|(_, s)| s.times.len() < min && !s.alerted)
                .map(|(k, _)| *k)
                .next()
                .or_else(|| self.series.keys().next().copied());
            if let Some(v) = victim {
                self.series.remove(&v);
            }
            self.stats.table_evictions = self.stats.table_evictions.saturating_add(1);
        }
        let s = self.series.entry(key).or_default();
        if s.times.len() >= SERIES_CAP {
            s.times.pop_front();
        }
        s.times.push_back((ts, len));
    }

    /// A flow ended (or the input did): its size goes to its connection event for beacon
    /// scoring (TCP), and its pending bytes to the hourly volume.
    pub(super) fn settle(&mut self, key: &FlowKey, f: &Flow) {
        let (init, resp) = if f.a_started {
            (key.a, key.b)
        } else {
            (key.b, key.a)
        };
        if f.volume_pending > 0 {
            self.volume(
                f.last_from_init,
                f.rule,
                init,
                resp,
                key.proto,
                f.volume_pending,
            );
        }
        if key.proto != proto::TCP {
            return;
        }
        if let Some(s) = self.series.get_mut(&(init.0, resp.0, key.proto, resp.1))
            && let Some(e) = s
                .times
                .iter_mut()
                .rev()
                .take(64)
                .find(|(t, _)| *t == f.first)
        {
            e.1 = f.bytes[0];
        }
    }

    pub(super) fn connection_bytes(
        &mut self,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        proto_num: u8,
        len: u64,
    ) {
        if let Some(s) = self.series.get_mut(&(init.0, resp.0, proto_num, resp.1))
            && let Some(last) = s.times.back_mut()
        {
            last.1 = last.1.saturating_add(len);
        }
    }

    /// Scores every pair with enough connections; raises [`Rule::Beacon`] once per pair.
    pub(super) fn beacon_pass(&mut self) {
        let (Some(start), Some(end)) = (self.first_ts, self.last_ts) else {
            return;
        };
        let min = self.t.beacon_min_connections;
        let threshold = self.t.beacon_score;
        let mut found = Vec::new();
        for (key, s) in &mut self.series {
            if s.alerted || s.times.len() < min {
                continue;
            }
            #[allow(clippy::cast_precision_loss)]
            let times: Vec<f64> = s.times.iter().map(|(t, _)| *t as f64 / 1e6).collect();
            #[allow(clippy::cast_precision_loss)]
            let sizes: Vec<f64> = s.times.iter().map(|(_, b)| *b as f64).collect();
            #[allow(clippy::cast_precision_loss)]
            let Some(score) = beacon::score(&times, &sizes, start as f64 / 1e6, end as f64 / 1e6)
            else {
                continue;
            };
            // Beyond RITA: a beacon must also be regular in time (gap score of at least 0.6), so
            // that small constant-size queries at random times (DNS, ARP-like chatter) never
            // score as beacons on their size regularity alone.
            if score.score >= threshold && (score.ts_skew + score.ts_madm) / 2.0 >= 0.6 {
                s.alerted = true;
                let last = s.times.back().map_or(end, |(t, _)| *t);
                found.push((*key, score, last));
            }
        }
        found.sort_by_key(|a| a.0);
        for ((src, dst, proto_num, port), score, last) in found {
            let from = self.policy.name_of(&src);
            let to = self.policy.name_of(&dst);
            let a = Alert::new(
                last,
                Rule::Beacon,
                format!(
                    "{from} calls {to} {}/{port} every {:.0} s (score {:.2} over {} connections)",
                    proto::name(proto_num),
                    score.median_gap_secs,
                    score.score,
                    score.connections
                ),
            )
            .flow((src, 0), (dst, port), proto_num)
            .with("score", round3(score.score))
            .with("connections", score.connections)
            .with("median_interval_secs", round3(score.median_gap_secs))
            .with("ts_skew_score", round3(score.ts_skew))
            .with("ts_madm_score", round3(score.ts_madm))
            .with("ds_skew_score", round3(score.ds_skew))
            .with("ds_madm_score", round3(score.ds_madm))
            .with("ds_smallness_score", round3(score.ds_smallness))
            .with("histogram_score", round3(score.histogram));
            self.raise(key_hash((Rule::Beacon, src, dst, proto_num, port)), a);
        }
    }

    pub(super) fn sweep(&mut self, now: Micros) {
        let tcp = i64::try_from(self.t.tcp_idle_secs)
            .unwrap_or(3600)
            .saturating_mul(SECOND);
        let udp = i64::try_from(self.t.udp_idle_secs)
            .unwrap_or(3600)
            .saturating_mul(SECOND);
        let mut ended = Vec::new();
        self.flows.retain(|k, f| {
            let idle = now.saturating_sub(f.last);
            let limit = if k.proto == proto::TCP {
                if f.closing { 10 * SECOND } else { tcp }
            } else {
                udp
            };
            let keep = idle <= limit;
            if !keep {
                ended.push((*k, f.clone()));
            }
            keep
        });
        for (k, f) in ended {
            self.settle(&k, &f);
        }
        self.arp_asked
            .retain(|_, t| now.saturating_sub(*t) <= 5 * SECOND);
    }

    pub(super) fn evict(&mut self, ts: Micros) {
        // Approximate LRU: the stalest of a sample of entries, in the manner of Redis.
        let victim = self
            .flows
            .iter()
            .take(32)
            .min_by_key(|(_, f)| f.last)
            .map(|(k, _)| *k);
        if let Some(k) = victim {
            if let Some(f) = self.flows.remove(&k) {
                self.settle(&k, &f);
            }
            self.stats.flows_evicted = self.stats.flows_evicted.saturating_add(1);
            let a = Alert::new(
                ts,
                Rule::FlowTableFull,
                format!(
                    "the flow table is full ({} flows); the stalest flows are evicted",
                    self.t.flow_table_max
                ),
            )
            .with("flow_table_max", self.t.flow_table_max);
            // Once per hour of capture time.
            self.raise(
                key_hash((Rule::FlowTableFull, ts.div_euclid(3600 * SECOND))),
                a,
            );
        }
    }
}
