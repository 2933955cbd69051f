//! The transparency of releases: one digest per (vendor, product, version), for good.
//!
//! Before the station does anything else with a vendor release, it logs
//! `(vendor, product, version) -> SHA-256` in the authority's transparency log. A second,
//! different digest for the same name is refused and logged as refused: this is the Go checksum
//! database's rule, and it is what defeats a build made for one authority alone (the vendor, or
//! the state behind it, cannot give this authority other bytes under a version others run
//! without the log showing two digests for it). The rule is applied by the station from the log
//! itself ([`ReleaseBook::from_records`]), so there is no second store to disagree with it, and
//! an auditor checks it offline from the same records ([`RuleCheck`], which `sluis audit verify` runs).
//!
//! The names are codes (the log holds no free text): each part `[a-z0-9][a-z0-9._+-]*`, the
//! vendor and product at most 32 bytes, the version at most 48.
//!
//! Record layout, `action` `release`:
//!
//! | field | value |
//! |---|---|
//! | `object` | `release:<vendor>/<product>/<version>` |
//! | `detail` | `sha256=<64 hex>` (seen), or `sha256=<64 hex> first=<64 hex>` (refused) |
//! | `outcome` | `success` (first seen, or seen again with the same digest), `denied` (a second digest) |

use std::collections::BTreeMap;
use std::fmt;

use sluis_audit::{Action, ActorId, AuditRecord, Outcome};

/// A release's name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReleaseName {
    vendor: String,
    product: String,
    version: String,
}

/// Why a release name or record is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// A part outside its alphabet or length.
    #[error("the release's {part} {value:?} is not [a-z0-9][a-z0-9._+-]* of at most {max} bytes")]
    Part {
        /// Which part.
        part: &'static str,
        /// What was given (shortened).
        value: String,
        /// Its limit.
        max: usize,
    },
}

fn part(part: &'static str, value: &str, max: usize) -> Result<String, NameError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'+' | b'-')
        });
    if ok {
        Ok(value.to_string())
    } else {
        Err(NameError::Part {
            part,
            value: value.chars().take(64).collect(),
            max,
        })
    }
}

impl ReleaseName {
    /// A checked name.
    pub fn new(vendor: &str, product: &str, version: &str) -> Result<Self, NameError> {
        Ok(Self {
            vendor: part("vendor", vendor, 32)?,
            product: part("product", product, 32)?,
            version: part("version", version, 48)?,
        })
    }

    /// The vendor.
    pub fn vendor(&self) -> &str {
        &self.vendor
    }

    /// The product.
    pub fn product(&self) -> &str {
        &self.product
    }

    /// The version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The record's object: `release:<vendor>/<product>/<version>`.
    pub fn object(&self) -> String {
        format!("release:{self}")
    }

    /// Reads a record's object back.
    pub fn from_object(object: &str) -> Option<Self> {
        let rest = object.strip_prefix("release:")?;
        let mut parts = rest.split('/');
        let (v, p, n) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Self::new(v, p, n).ok()
    }
}

impl fmt::Display for ReleaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.vendor, self.product, self.version)
    }
}

/// A SHA-256 digest.
pub type Digest = [u8; 32];

fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Digest> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        *o = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// What the book says of a release seen now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Never seen: log it and go on.
    New,
    /// Seen before with this same digest.
    Known,
    /// Seen before with another digest: refuse it and raise the alarm.
    SecondDigest {
        /// The digest logged first.
        first: Digest,
    },
}

/// One release as the log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its name.
    pub name: ReleaseName,
    /// The digest seen.
    pub digest: Digest,
    /// The digest logged first, on a refusal.
    pub first: Option<Digest>,
    /// Whether it was accepted (`success`) or refused (`denied`).
    pub accepted: bool,
}

impl Seen {
    /// The record the station appends: by `actor` (the station's role name or an officer's
    /// pseudonym), from `origin` (its configured component).
    pub fn record(&self, actor: ActorId, origin: &str) -> AuditRecord {
        AuditRecord::new(Action::Release, actor, origin, self.outcome())
            .object(self.name.object())
            .detail(self.detail())
    }

    /// The record's outcome: `success` when accepted, `denied` when refused.
    pub fn outcome(&self) -> Outcome {
        if self.accepted {
            Outcome::Success
        } else {
            Outcome::Denied
        }
    }

    /// The record's detail: `sha256=<hex>`, and ` first=<hex>` on a refusal.
    pub fn detail(&self) -> String {
        match &self.first {
            Some(f) => format!("sha256={} first={}", hex(&self.digest), hex(f)),
            None => format!("sha256={}", hex(&self.digest)),
        }
    }

    /// Reads a release record; `None` for a record of another action or shape.
    pub fn from_record(r: &AuditRecord) -> Option<Self> {
        if r.action != Action::Release {
            return None;
        }
        let name = ReleaseName::from_object(r.object.as_deref()?)?;
        let mut fields = r.detail.as_deref()?.split(' ');
        let digest = unhex(fields.next()?.strip_prefix("sha256=")?)?;
        let first = match fields.next() {
            None => None,
            Some(f) => Some(unhex(f.strip_prefix("first=")?)?),
        };
        if fields.next().is_some() {
            return None;
        }
        Some(Self {
            name,
            digest,
            first,
            accepted: r.outcome == Outcome::Success,
        })
    }
}

/// The releases the log holds: the first digest logged for each name.
#[derive(Debug, Default, Clone)]
pub struct ReleaseBook {
    first: BTreeMap<ReleaseName, Digest>,
    refused: Vec<Seen>,
}

impl ReleaseBook {
    /// The book the log's records make (records of other actions are skipped).
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Self {
        let mut book = Self::default();
        for r in records {
            if let Some(seen) = Seen::from_record(r) {
                book.apply(seen);
            }
        }
        book
    }

    fn apply(&mut self, seen: Seen) {
        if seen.accepted {
            self.first.entry(seen.name).or_insert(seen.digest);
        } else {
            self.refused.push(seen);
        }
    }

    /// What the rule says of `name` with `digest`, without recording it.
    pub fn judge(&self, name: &ReleaseName, digest: &Digest) -> Verdict {
        match self.first.get(name) {
            None => Verdict::New,
            Some(f) if f == digest => Verdict::Known,
            Some(f) => Verdict::SecondDigest { first: *f },
        }
    }

    /// Judges a release and returns the record to log for it; the book takes it in as if the
    /// log had (the caller appends the record and waits for it before going on).
    pub fn see(&mut self, name: ReleaseName, digest: Digest) -> (Verdict, Seen) {
        let verdict = self.judge(&name, &digest);
        let seen = Seen {
            name,
            digest,
            first: match verdict {
                Verdict::SecondDigest { first } => Some(first),
                Verdict::New | Verdict::Known => None,
            },
            accepted: !matches!(verdict, Verdict::SecondDigest { .. }),
        };
        self.apply(seen.clone());
        (verdict, seen)
    }

    /// Every release accepted, by name, with its digest.
    pub fn releases(&self) -> impl Iterator<Item = (&ReleaseName, &Digest)> {
        self.first.iter()
    }

    /// The refusals logged (second digests), in log order.
    pub fn refused(&self) -> &[Seen] {
        &self.refused
    }
}

/// A breach of the rule found in a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Breach {
    /// Two different digests accepted for one name: the station broke the rule.
    #[error(
        "{name}: accepted with {} (entry {first_at}) and with {} (entry {at})",
        hex(first),
        hex(second)
    )]
    TwoAccepted {
        /// The release.
        name: ReleaseName,
        /// The first digest.
        first: Digest,
        /// Its entry.
        first_at: u64,
        /// The second.
        second: Digest,
        /// Its entry.
        at: u64,
    },
    /// A refusal that names as "first" a digest the log never accepted for that name.
    #[error("{name}: refused at entry {at} against a first digest the log does not hold")]
    RefusalWithoutFirst {
        /// The release.
        name: ReleaseName,
        /// Its entry.
        at: u64,
    },
}

/// The auditor's check, offline, fed a verified log's records with their indices one at a time
/// (as `sluis_audit::verify_log_records` hands them out): one accepted digest per name, and
/// every refusal against the digest accepted first. Holds one entry per release name, never the
/// records.
#[derive(Debug, Default)]
pub struct RuleCheck {
    first: BTreeMap<ReleaseName, (Digest, u64)>,
    refused: u64,
    breaches: Vec<Breach>,
}

impl RuleCheck {
    /// Takes in one record (records of other actions are skipped).
    pub fn record(&mut self, at: u64, r: &AuditRecord) {
        let Some(seen) = Seen::from_record(r) else {
            return;
        };
        if seen.accepted {
            match self.first.get(&seen.name) {
                None => {
                    self.first.insert(seen.name, (seen.digest, at));
                }
                Some(&(f, first_at)) if f != seen.digest => {
                    self.breaches.push(Breach::TwoAccepted {
                        name: seen.name,
                        first: f,
                        first_at,
                        second: seen.digest,
                        at,
                    });
                }
                Some(_) => {}
            }
        } else if self.first.get(&seen.name).map(|&(f, _)| f) == seen.first {
            self.refused = self.refused.saturating_add(1);
        } else {
            self.breaches.push(Breach::RefusalWithoutFirst {
                name: seen.name,
                at,
            });
        }
    }

    /// Release names accepted so far.
    pub fn releases(&self) -> usize {
        self.first.len()
    }

    /// Second digests refused as the rule says.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The breaches found, in log order.
    pub fn breaches(&self) -> &[Breach] {
        &self.breaches
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn name(v: &str) -> ReleaseName {
        ReleaseName::new("acme", "xr-9000", v).unwrap()
    }

    fn check(log: &[AuditRecord]) -> RuleCheck {
        let mut check = RuleCheck::default();
        for (i, r) in log.iter().enumerate() {
            check.record(i as u64, r);
        }
        check
    }

    fn actor() -> ActorId {
        ActorId::new("sluis-gate").unwrap()
    }

    #[test]
    fn names_are_codes() {
        for (v, p, n) in [
            ("Acme", "x", "1"),
            ("acme", "x y", "1"),
            ("acme", "x", "1/../2"),
            ("acme", "x", ""),
            ("acme", "-x", "1"),
            ("acme", "x", &"9".repeat(49)),
        ] {
            assert!(ReleaseName::new(v, p, n).is_err(), "{v} {p} {n}");
        }
        let n = ReleaseName::new("acme", "xr-9000", "4.2.1+b7").unwrap();
        assert_eq!(n.object(), "release:acme/xr-9000/4.2.1+b7");
        assert_eq!(ReleaseName::from_object(&n.object()), Some(n));
        assert_eq!(ReleaseName::from_object("release:a/b/c/d"), None);
    }

    #[test]
    fn a_second_digest_is_refused_and_the_log_keeps_both() {
        let mut book = ReleaseBook::default();
        let mut log = Vec::new();
        let (v, seen) = book.see(name("4.2.1"), [1; 32]);
        assert_eq!(v, Verdict::New);
        log.push(seen.record(actor(), "station"));
        let (v, seen) = book.see(name("4.2.1"), [1; 32]);
        assert_eq!(v, Verdict::Known);
        log.push(seen.record(actor(), "station"));
        let (v, seen) = book.see(name("4.2.1"), [2; 32]);
        assert_eq!(v, Verdict::SecondDigest { first: [1; 32] });
        let r = seen.record(actor(), "station");
        assert_eq!(r.outcome, Outcome::Denied);
        assert_eq!(r.detail.as_deref().unwrap().matches("first=").count(), 1);
        log.push(r);
        let (v, seen) = book.see(name("4.2.2"), [2; 32]);
        assert_eq!(v, Verdict::New);
        log.push(seen.record(actor(), "station"));
        // Every record encodes as a log entry (codes and hashes only).
        for r in &log {
            r.encode().unwrap();
        }
        // The station, restarted, rebuilds the same book from the log.
        let again = ReleaseBook::from_records(&log);
        assert_eq!(
            again.judge(&name("4.2.1"), &[2; 32]),
            Verdict::SecondDigest { first: [1; 32] }
        );
        assert_eq!(again.releases().count(), 2);
        assert_eq!(again.refused().len(), 1);
        // And the auditor finds the log keeps the rule.
        assert!(check(&log).breaches().is_empty());
    }

    #[test]
    fn the_auditor_finds_a_station_that_broke_the_rule() {
        let accepted = |v: &str, d: u8| Seen {
            name: name(v),
            digest: [d; 32],
            first: None,
            accepted: true,
        };
        let log = [
            accepted("4.2.1", 1).record(actor(), "station"),
            AuditRecord::new(Action::Store, actor(), "station", Outcome::Success),
            accepted("4.2.1", 9).record(actor(), "station"),
            Seen {
                first: Some([7; 32]),
                accepted: false,
                ..accepted("4.2.1", 8)
            }
            .record(actor(), "station"),
        ];
        let check = check(&log);
        let breaches = check.breaches();
        assert_eq!(breaches.len(), 2, "{breaches:?}");
        assert!(matches!(
            &breaches[0],
            Breach::TwoAccepted {
                first_at: 0,
                at: 2,
                ..
            }
        ));
        assert!(matches!(
            &breaches[1],
            Breach::RefusalWithoutFirst { at: 3, .. }
        ));
        assert!(breaches[0].to_string().contains("acme/xr-9000/4.2.1"));
    }

    #[test]
    fn records_of_other_shapes_are_not_releases() {
        let r = AuditRecord::new(Action::Release, actor(), "station", Outcome::Success)
            .object("release:acme/xr/1")
            .detail("sha256=zz");
        assert_eq!(Seen::from_record(&r), None);
        let r = r.detail(format!("sha256={} extra", "a".repeat(64)));
        assert_eq!(Seen::from_record(&r), None);
    }
}
