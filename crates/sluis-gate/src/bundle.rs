//! `bundle.json`: what one medium carries, and how it follows the medium before it.
//!
//! A bundle is written by the customs-side station and carried into the enclave by a person.
//! Its manifest names the bundle (a random id and a sequence number per station), says when it
//! was made and until when the depot may act on it, which bundle came before it (the depot
//! refuses one that goes back or forks the chain, and reports one that skips a medium), and the
//! label of the medium it was written to. The TUF metadata under `metadata/` carries the
//! authority's signatures and its own expiry; the manifest is what the depot checks first and
//! reports outward, and is bound into the signed metadata by the station.
//!
//! ```json
//! {"format":"sluis-bundle/1","id":"b-0123456789abcdef","sequence":7,"station":"gate-rotterdam",
//!  "created":"2026-12-01T09:00:00Z","expires":"2027-01-01T09:00:00Z",
//!  "previous":"b-fedcba9876543210","medium":"M-0042"}
//! ```
//!
//! The manifest is read from the depot's copy (see [`crate::medium`]), at most
//! [`crate::medium::MAX_MANIFEST_BYTES`], by serde with unknown fields refused, so a manifest of
//! a newer format is refused by an older depot instead of being half understood.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The format this code reads and writes.
pub const FORMAT: &str = "sluis-bundle/1";
/// The longest a bundle may be valid.
pub const MAX_VALIDITY_DAYS: i64 = 366;
/// How far ahead of the depot's clock a bundle's creation may lie (clocks differ a little).
pub const CLOCK_SLACK_SECS: i64 = 300;

/// A bundle's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// `b-` and 16 lower-case hex digits, random.
    pub id: String,
    /// 1 for a station's first bundle, one more for each after.
    pub sequence: u64,
    /// The station that wrote it: `[a-z][a-z0-9-]{0,63}`.
    pub station: String,
    /// When it was written, RFC 3339 in UTC (`Z`).
    pub created: String,
    /// After this the depot acts on it no more, RFC 3339 in UTC.
    pub expires: String,
    /// The bundle before it; absent only for sequence 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The medium's label: `[A-Z0-9-]{1,32}`.
    pub medium: String,
}

/// Why a manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Too large to be a manifest.
    #[error("bundle.json is {0} bytes; at most 65536")]
    TooLarge(usize),
    /// Not JSON of the manifest's shape.
    #[error("bundle.json is not a manifest: {0}")]
    Malformed(String),
    /// A format this depot does not read.
    #[error("bundle format {0:?} is not {FORMAT:?}")]
    Format(String),
    /// A field out of its alphabet or range.
    #[error("bundle.json field {field}: {reason}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// Valid for longer than the rules allow, or ends before it starts.
    #[error("the bundle is valid from {created} to {expires}: {reason}")]
    Validity {
        /// Created.
        created: String,
        /// Expires.
        expires: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Expired by the depot's clock.
    #[error("the bundle expired at {expires}; the depot's clock says {now}")]
    Expired {
        /// Expiry.
        expires: String,
        /// The depot's time.
        now: String,
    },
    /// Made later than the depot's clock allows.
    #[error("the bundle was made at {created}, after the depot's clock ({now})")]
    FromTheFuture {
        /// Created.
        created: String,
        /// The depot's time.
        now: String,
    },
    /// A sequence number not after the last bundle's: a replayed or older medium.
    #[error("bundle {sequence} of station {station} is not after the last one taken in ({last})")]
    Replayed {
        /// The station.
        station: String,
        /// This bundle's number.
        sequence: u64,
        /// The last one taken in.
        last: u64,
    },
    /// The next number, but not following the last bundle: a fork.
    #[error(
        "bundle {sequence} names {previous:?} as the one before it, but the depot took in {last_id}"
    )]
    Forked {
        /// This bundle's number.
        sequence: u64,
        /// What it names.
        previous: Option<String>,
        /// What the depot took in last.
        last_id: String,
    },
    /// From another station than the one the depot follows.
    #[error("bundle from station {got}; this depot follows {want}")]
    Station {
        /// The bundle's station.
        got: String,
        /// The depot's.
        want: String,
    },
}

impl ManifestError {
    /// A short code for the log and the outward report.
    pub fn code(&self) -> &'static str {
        match self {
            ManifestError::TooLarge(_) => "bundle.too-large",
            ManifestError::Malformed(_) => "bundle.malformed",
            ManifestError::Format(_) => "bundle.format",
            ManifestError::Field { .. } => "bundle.field",
            ManifestError::Validity { .. } => "bundle.validity",
            ManifestError::Expired { .. } => "bundle.expired",
            ManifestError::FromTheFuture { .. } => "bundle.from-the-future",
            ManifestError::Replayed { .. } => "bundle.replayed",
            ManifestError::Forked { .. } => "bundle.forked",
            ManifestError::Station { .. } => "bundle.station",
        }
    }
}

/// How a bundle follows the last one taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follows {
    /// The station's first bundle, and the depot's.
    First,
    /// The next one.
    Next,
    /// Later than the next: `missed` media never arrived (reported, not refused: TUF's own
    /// version checks still apply to what this one carries).
    Gap {
        /// How many.
        missed: u64,
    },
}

fn bundle_id_ok(s: &str) -> bool {
    s.len() == 18
        && s.starts_with("b-")
        && s.bytes()
            .skip(2)
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn station_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn medium_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// A time in the manifest: RFC 3339 ending in `Z`.
fn utc(field: &'static str, s: &str) -> Result<DateTime<Utc>, ManifestError> {
    if !s.ends_with('Z') || s.len() > 40 {
        return Err(ManifestError::Field {
            field,
            reason: "is not an RFC 3339 time in UTC (ending in Z)",
        });
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ManifestError::Field {
            field,
            reason: "is not an RFC 3339 time",
        })
}

impl Manifest {
    /// Reads and checks a manifest (its fields and its validity period; not yet against a
    /// clock or the bundle before it).
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let max = usize::try_from(crate::medium::MAX_MANIFEST_BYTES).unwrap_or(usize::MAX);
        if bytes.len() > max {
            return Err(ManifestError::TooLarge(bytes.len()));
        }
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| ManifestError::Malformed(e.to_string().chars().take(200).collect()))?;
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), ManifestError> {
        if self.format != FORMAT {
            return Err(ManifestError::Format(
                self.format.chars().take(40).collect(),
            ));
        }
        let field = |field, reason| Err(ManifestError::Field { field, reason });
        if !bundle_id_ok(&self.id) {
            return field("id", "is not b- and 16 lower-case hex digits");
        }
        if !station_ok(&self.station) {
            return field("station", "is not [a-z][a-z0-9-]{0,63}");
        }
        if !medium_ok(&self.medium) {
            return field("medium", "is not [A-Z0-9-]{1,32}");
        }
        match (self.sequence, &self.previous) {
            (0, _) => return field("sequence", "is 0; the first bundle is 1"),
            (1, Some(_)) => return field("previous", "is given for the first bundle"),
            (2.., None) => return field("previous", "is missing"),
            (_, Some(p)) if !bundle_id_ok(p) => {
                return field("previous", "is not b- and 16 lower-case hex digits");
            }
            (_, Some(p)) if *p == self.id => return field("previous", "is the bundle itself"),
            _ => {}
        }
        let created = utc("created", &self.created)?;
        let expires = utc("expires", &self.expires)?;
        let validity = |reason| {
            Err(ManifestError::Validity {
                created: self.created.clone(),
                expires: self.expires.clone(),
                reason,
            })
        };
        if expires <= created {
            return validity("it expires before it was made");
        }
        if expires.signed_duration_since(created) > Duration::days(MAX_VALIDITY_DAYS) {
            return validity("longer than 366 days");
        }
        Ok(())
    }

    /// Checks the manifest against the depot's clock: made no later than a little after `now`,
    /// not expired.
    pub fn check_time(&self, now: DateTime<Utc>) -> Result<(), ManifestError> {
        let shown = || now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let latest = now
            .checked_add_signed(Duration::seconds(CLOCK_SLACK_SECS))
            .unwrap_or(now);
        if utc("created", &self.created)? > latest {
            return Err(ManifestError::FromTheFuture {
                created: self.created.clone(),
                now: shown(),
            });
        }
        if utc("expires", &self.expires)? <= now {
            return Err(ManifestError::Expired {
                expires: self.expires.clone(),
                now: shown(),
            });
        }
        Ok(())
    }

    /// Checks the manifest against the last one the depot took in from `station`.
    pub fn follows(
        &self,
        station: &str,
        last: Option<&Manifest>,
    ) -> Result<Follows, ManifestError> {
        if self.station != station {
            return Err(ManifestError::Station {
                got: self.station.clone(),
                want: station.chars().take(64).collect(),
            });
        }
        let Some(last) = last else {
            return Ok(if self.sequence == 1 {
                Follows::First
            } else {
                Follows::Gap {
                    missed: self.sequence.saturating_sub(1),
                }
            });
        };
        if self.sequence <= last.sequence {
            return Err(ManifestError::Replayed {
                station: self.station.clone(),
                sequence: self.sequence,
                last: last.sequence,
            });
        }
        let missed = self
            .sequence
            .saturating_sub(last.sequence)
            .saturating_sub(1);
        if missed == 0 {
            if self.previous.as_deref() != Some(last.id.as_str()) {
                return Err(ManifestError::Forked {
                    sequence: self.sequence,
                    previous: self.previous.clone(),
                    last_id: last.id.clone(),
                });
            }
            return Ok(Follows::Next);
        }
        Ok(Follows::Gap { missed })
    }

    /// The canonical bytes the station writes (serde's field order, no spaces, a final newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn manifest(sequence: u64, id: &str, previous: Option<&str>) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            id: id.into(),
            sequence,
            station: "gate-rotterdam".into(),
            created: "2026-12-01T09:00:00Z".into(),
            expires: "2027-01-01T09:00:00Z".into(),
            previous: previous.map(Into::into),
            medium: "M-0042".into(),
        }
    }

    const A: &str = "b-0000000000000001";
    const B: &str = "b-0000000000000002";
    const C: &str = "b-0000000000000003";

    #[test]
    fn a_manifest_reads_back_what_was_written() {
        let m = manifest(2, B, Some(A));
        assert_eq!(Manifest::parse(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn fields_out_of_their_alphabet_are_refused() {
        let cases: Vec<(Manifest, &str)> = vec![
            (
                Manifest {
                    id: "b-XYZ".into(),
                    ..manifest(1, A, None)
                },
                "id",
            ),
            (
                Manifest {
                    station: "Gate 1".into(),
                    ..manifest(1, A, None)
                },
                "station",
            ),
            (
                Manifest {
                    medium: "m/../x".into(),
                    ..manifest(1, A, None)
                },
                "medium",
            ),
            (manifest(0, A, None), "sequence"),
            (manifest(1, A, Some(B)), "previous"),
            (manifest(2, A, None), "previous"),
            (manifest(2, A, Some(A)), "previous"),
            (
                Manifest {
                    created: "2026-12-01T09:00:00+01:00".into(),
                    ..manifest(1, A, None)
                },
                "created",
            ),
            (
                Manifest {
                    expires: "tomorrow".into(),
                    ..manifest(1, A, None)
                },
                "expires",
            ),
        ];
        for (m, want) in cases {
            match Manifest::parse(&m.to_bytes()) {
                Err(ManifestError::Field { field, .. }) => assert_eq!(field, want, "{m:?}"),
                other => panic!("{m:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_fields_other_formats_and_long_validity_are_refused() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&manifest(1, A, None).to_bytes()).unwrap();
        v["rollout"] = serde_json::json!({});
        let err = Manifest::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(err.code(), "bundle.malformed");
        let m = Manifest {
            format: "sluis-bundle/2".into(),
            ..manifest(1, A, None)
        };
        assert_eq!(
            Manifest::parse(&m.to_bytes()).unwrap_err().code(),
            "bundle.format"
        );
        let m = Manifest {
            expires: "2028-12-01T09:00:00Z".into(),
            ..manifest(1, A, None)
        };
        assert_eq!(
            Manifest::parse(&m.to_bytes()).unwrap_err().code(),
            "bundle.validity"
        );
        let m = Manifest {
            expires: "2026-11-01T09:00:00Z".into(),
            ..manifest(1, A, None)
        };
        assert_eq!(
            Manifest::parse(&m.to_bytes()).unwrap_err().code(),
            "bundle.validity"
        );
        assert_eq!(
            Manifest::parse(&vec![b' '; 70_000]).unwrap_err().code(),
            "bundle.too-large"
        );
    }

    #[test]
    fn the_depot_clock_bounds_a_bundle() {
        let m = manifest(1, A, None);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        m.check_time(at("2026-12-15T00:00:00Z")).unwrap();
        m.check_time(at("2026-12-01T08:56:00Z")).unwrap();
        assert_eq!(
            m.check_time(at("2026-12-01T08:50:00Z")).unwrap_err().code(),
            "bundle.from-the-future"
        );
        assert_eq!(
            m.check_time(at("2027-01-01T09:00:00Z")).unwrap_err().code(),
            "bundle.expired"
        );
    }

    #[test]
    fn the_chain_goes_forward_only() {
        let st = "gate-rotterdam";
        let a = manifest(1, A, None);
        let b = manifest(2, B, Some(A));
        assert_eq!(a.follows(st, None).unwrap(), Follows::First);
        assert_eq!(b.follows(st, Some(&a)).unwrap(), Follows::Next);
        assert_eq!(
            a.follows(st, Some(&b)).unwrap_err().code(),
            "bundle.replayed"
        );
        assert_eq!(
            b.follows(st, Some(&b)).unwrap_err().code(),
            "bundle.replayed"
        );
        let fork = manifest(2, C, Some(C.replace('3', "4").as_str()));
        assert_eq!(
            fork.follows(st, Some(&a)).unwrap_err().code(),
            "bundle.forked"
        );
        let later = manifest(5, C, Some(B));
        assert_eq!(
            later.follows(st, Some(&a)).unwrap(),
            Follows::Gap { missed: 3 }
        );
        assert_eq!(
            b.follows("gate-other", Some(&a)).unwrap_err().code(),
            "bundle.station"
        );
    }
}
