//! Name-service queries (DNS, mDNS, LLMNR share one format; NetBIOS NS its own) and the
//! statistics that give DNS tunnelling away.

use std::collections::HashSet;

use hickory_proto::op::Query;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// One query as it went out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// The queried name, lower case, without the trailing dot.
    pub name: String,
    /// The record type (`A`, `TXT`, …).
    pub rtype: String,
    /// True for a response (QR bit set).
    pub response: bool,
}

/// Reads the first question of a DNS-format message (DNS, mDNS, LLMNR). The 12-byte header is
/// read here; the question by hickory-proto's decoder, which bounds names and pointers.
pub fn question(message: &[u8]) -> Option<Question> {
    let header = message.get(..12)?;
    let qdcount = u16::from_be_bytes([*header.get(4)?, *header.get(5)?]);
    if qdcount == 0 {
        return None;
    }
    let response = header.get(2)? & 0x80 != 0;
    let mut decoder = BinDecoder::new(message.get(12..)?);
    let q = Query::read(&mut decoder).ok()?;
    let name = q.name().to_ascii();
    Some(Question {
        name: name.trim_end_matches('.').to_ascii_lowercase(),
        rtype: q.query_type().to_string(),
        response,
    })
}

/// Reads the name of a NetBIOS name-service query (RFC 1002 first-level encoding).
pub fn netbios_name(message: &[u8]) -> Option<String> {
    let len = usize::from(*message.get(12)?);
    if len != 32 {
        return None;
    }
    let encoded = message.get(13..45)?;
    let mut out = String::with_capacity(16);
    for pair in encoded.chunks_exact(2) {
        let hi = pair.first()?.checked_sub(b'A')?;
        let lo = pair.get(1)?.checked_sub(b'A')?;
        if hi > 15 || lo > 15 {
            return None;
        }
        let c = (hi << 4) | lo;
        out.push(if c.is_ascii_graphic() {
            char::from(c)
        } else {
            ' '
        });
    }
    Some(out.trim_end().to_string())
}

/// The registered domain of a name: its last two labels. (No public-suffix list is consulted,
/// so `a.b.co.uk` counts under `co.uk`; inside a closed enclave every name is unexpected anyway.)
pub fn registered_domain(name: &str) -> &str {
    let mut dots = name.rmatch_indices('.');
    let _ = dots.next();
    match dots.next() {
        Some((i, _)) => name.get(i.saturating_add(1)..).unwrap_or(name),
        None => name,
    }
}

/// Shannon entropy in bits per character.
pub fn entropy(label: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in label.bytes() {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c = c.saturating_add(1);
        }
        n = n.saturating_add(1);
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

/// What one device asked under one registered domain. Bounded: the set of subdomains stops
/// growing at the alert threshold.
#[derive(Debug, Default)]
pub struct DomainStats {
    /// Hashes of the subdomains seen, under a seed drawn per process: a sender cannot choose
    /// names that collide and so hide how many distinct ones it used.
    subdomains: HashSet<u64>,
    seed: foldhash::fast::RandomState,
    /// Queries seen.
    pub queries: u64,
    /// Labels longer than allowed or of high entropy.
    pub suspicious_labels: u64,
    /// TXT queries.
    pub txt: u64,
    /// The longest label seen.
    pub longest_label: usize,
    /// An example of a suspicious name, for the evidence.
    pub example: Option<String>,
    /// Already alerted.
    pub alerted: bool,
}

impl DomainStats {
    /// Unique subdomains counted (up to the cap).
    pub fn unique(&self) -> usize {
        self.subdomains.len()
    }

    /// Counts one query.
    pub fn add(
        &mut self,
        q: &Question,
        domain: &str,
        cap: usize,
        label_max: usize,
        entropy_min: f64,
    ) {
        self.queries = self.queries.saturating_add(1);
        if q.rtype == "TXT" || q.rtype == "NULL" {
            self.txt = self.txt.saturating_add(1);
        }
        let sub = q
            .name
            .strip_suffix(domain)
            .unwrap_or(&q.name)
            .trim_end_matches('.');
        if !sub.is_empty() && self.subdomains.len() <= cap {
            self.subdomains
                .insert(std::hash::BuildHasher::hash_one(&self.seed, sub));
        }
        for label in sub.split('.') {
            self.longest_label = self.longest_label.max(label.len());
            let long = label.len() > label_max;
            let random = label.len() >= 16 && entropy(label) >= entropy_min;
            if long || random {
                self.suspicious_labels = self.suspicious_labels.saturating_add(1);
                if self.example.is_none() {
                    self.example = Some(q.name.clone());
                }
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_query_and_refuses_garbage() {
        // A query for www.example.com A, id 0x1234, RD set.
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in ["www", "example", "com"] {
            m.push(u8::try_from(label.len()).unwrap());
            m.extend_from_slice(label.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        let q = question(&m).unwrap();
        assert_eq!(q.name, "www.example.com");
        assert_eq!(q.rtype, "A");
        assert!(!q.response);
        for cut in 0..m.len() {
            let _ = question(&m[..cut]);
        }
        // A compression pointer to itself must not loop.
        let looped = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
        assert!(question(&looped).is_none());
    }

    #[test]
    fn domains_and_entropy() {
        assert_eq!(registered_domain("a.b.example.com"), "example.com");
        assert_eq!(registered_domain("example.com"), "example.com");
        assert_eq!(registered_domain("localhost"), "localhost");
        assert!(entropy("aaaaaaaaaaaaaaaa") < 0.1);
        assert!(entropy("q8zk3n0v7xw2p5ly") > 3.5);
        assert_eq!(
            netbios_name(&{
                let mut m = vec![0u8; 12];
                m.push(32);
                m.extend_from_slice(b"FHEPFCELEHFCEPFFFACACACACACACACA");
                m
            })
            .as_deref(),
            Some("WORKGROUP")
        );
    }
}
