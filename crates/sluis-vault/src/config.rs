//! `vault.toml`: the log's origin, how long each class of object is kept, and the witnesses
//! asked to cosign the log's checkpoints.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::index::{Decision, Kind};

/// Retention per class, as written (`"90d"`, `"10y"`, `"12h"`, `"0s"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Scans nobody has decided on yet.
    pub undecided: String,
    /// Scans cleared by an analyst.
    pub cleared: String,
    /// Scans whose container was sent for physical inspection.
    pub inspection: String,
    /// Scans of seized goods: evidence.
    pub seizure: String,
    /// Refused inputs.
    pub quarantine: String,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            undecided: "1y".into(),
            cleared: "90d".into(),
            inspection: "5y".into(),
            seizure: "10y".into(),
            quarantine: "2y".into(),
        }
    }
}

/// A witness the log submits its checkpoints to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// The witness's URL prefix (`add-checkpoint` is appended).
    pub url: String,
    /// Its cosignature verifier key.
    pub key: String,
}

/// A purpose a person may give for reading or exporting an object: a code the log carries (it
/// holds no free text), and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeCode {
    /// The code: lower-case letters, digits and hyphens, starting with a letter, at most 64.
    pub code: String,
    /// What it is for (shown to the person who chooses it; never logged).
    pub description: String,
}

/// The purposes a vault accepts when none are configured.
pub fn default_purposes() -> Vec<PurposeCode> {
    [
        (
            "analysis",
            "an analyst or supervisor reads a scan to decide on it",
        ),
        ("referral-review", "a supervisor reviews a referred scan"),
        (
            "evidence",
            "evidence for a seizure or a case (its number goes in the note)",
        ),
        (
            "investigation",
            "a case under investigation (its number goes in the note)",
        ),
        ("court-order", "an order of a court or a prosecutor"),
        (
            "quality-review",
            "the authority's own review of image quality or decisions",
        ),
        ("training", "training analysts"),
        ("audit-request", "a request of an auditor or inspectorate"),
        (
            "incident-response",
            "a security incident (a scanner or vendor incident)",
        ),
        ("test", "a test or a drill"),
    ]
    .into_iter()
    .map(|(c, d)| PurposeCode {
        code: c.into(),
        description: d.into(),
    })
    .collect()
}

/// The codes the workstation itself gives for the reads an analyst's viewing makes; always
/// accepted.
pub const VIEWING_PURPOSES: [&str; 4] =
    ["view-metadata", "view-pixels", "view-image", "view-reports"];

/// The vault's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The log's origin (and key name), e.g. `customs.example/sluis/rotterdam`.
    pub origin: String,
    /// The component the log's records name as their origin (a configured name such as
    /// `rotterdam-core-1`, never the host name): `[a-z][a-z0-9.-]`, at most 64.
    #[serde(default = "default_component")]
    pub component: String,
    /// The purposes accepted for reads and exports (codes; free text goes in a note that the
    /// workstation's desk keeps, its SHA-256 in the record).
    #[serde(default = "default_purposes", rename = "purpose")]
    pub purposes: Vec<PurposeCode>,
    /// Retention per class.
    #[serde(default)]
    pub retention: Retention,
    /// Witnesses.
    #[serde(default, rename = "witness")]
    pub witnesses: Vec<WitnessConfig>,
    /// How the log makes a commit durable: `filesystem` (the default) calls `syncfs` once per
    /// commit; `files` fsyncs each file it wrote instead, for a log that shares a filesystem with
    /// heavy writers whose dirty data `syncfs` would flush with every commit. Measured on the
    /// intake benchmark, the two are within noise of each other.
    #[serde(default)]
    pub log_sync: LogSync,
}

/// See [`Config::log_sync`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogSync {
    /// fsync each file and directory written.
    Files,
    /// One `syncfs(2)` per commit.
    #[default]
    Filesystem,
}

/// Why the configuration is not usable.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl Config {
    /// Reads and checks `vault.toml`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let err = |reason: String| ConfigError {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let c: Config = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        for class in [
            "undecided",
            "cleared",
            "inspection",
            "seizure",
            "quarantine",
        ] {
            c.retention_of(class)
                .map_err(|e| err(format!("retention.{class}: {e}")))?;
        }
        if !is_code(&c.component, true) {
            return Err(err(format!(
                "component {:?}: a configured name, [a-z][a-z0-9.-], at most 64 characters",
                c.component
            )));
        }
        for p in &c.purposes {
            if !is_code(&p.code, false) {
                return Err(err(format!(
                    "purpose {:?}: a code, [a-z][a-z0-9-], at most 64 characters",
                    p.code
                )));
            }
        }
        for w in &c.witnesses {
            let key = sluis_audit::NoteVerifier::new(&w.key)
                .map_err(|e| err(format!("witness {}: {e}", w.url)))?;
            if !key.is_cosigner() {
                return Err(err(format!(
                    "witness {}: {} is not a cosignature/v1 key",
                    w.url, w.key
                )));
            }
        }
        Ok(c)
    }

    /// The text of a new configuration file.
    pub fn template(origin: &str) -> String {
        let r = Retention::default();
        format!(
            "# sluis vault configuration.\n\
             # The transparency log's origin line and key name. Auditors pin it with the public key.\n\
             origin = \"{origin}\"\n\n\
             # How long each class of object is kept before `sluis vault expire` crypto-shreds it\n\
             # (units: s, m, h, d, w, M, y). The clock starts when the object is stored.\n\
             [retention]\n\
             undecided = \"{}\"\n\
             cleared = \"{}\"\n\
             inspection = \"{}\"\n\
             seizure = \"{}\"\n\
             quarantine = \"{}\"\n\n\
             # The component the log's records name as their origin (not the host name).\n\
             # component = \"sluis-vault\"\n\n\
             # The purposes accepted for reads and exports, one table each (the defaults when\n\
             # none are given: analysis, referral-review, evidence, investigation, court-order,\n\
             # quality-review, training, audit-request, incident-response, test). The log\n\
             # carries only the code; a note (a case number) is kept on the desk, its SHA-256 in\n\
             # the record.\n\
             # [[purpose]]\n\
             # code = \"evidence\"\n\
             # description = \"evidence for a seizure or a case\"\n\n\
             # Witnesses that cosign the log's checkpoints (C2SP tlog-witness), one table each:\n\
             # [[witness]]\n\
             # url = \"https://witness.auditor.example/\"\n\
             # key = \"witness.auditor.example+01234567+BAAA...\"\n",
            r.undecided, r.cleared, r.inspection, r.seizure, r.quarantine
        )
    }

    /// Whether `code` is a purpose this vault accepts (configured, or one of the workstation's
    /// [`VIEWING_PURPOSES`]).
    pub fn accepts_purpose(&self, code: &str) -> bool {
        VIEWING_PURPOSES.contains(&code) || self.purposes.iter().any(|p| p.code == code)
    }

    /// The retention of a class.
    pub fn retention_of(&self, class: &str) -> Result<Duration, String> {
        let r = &self.retention;
        let text = match class {
            "undecided" => &r.undecided,
            "cleared" => &r.cleared,
            "inspection" => &r.inspection,
            "seizure" => &r.seizure,
            "quarantine" => &r.quarantine,
            other => return Err(format!("no retention class {other:?}")),
        };
        humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))
    }
}

fn default_component() -> String {
    "sluis-vault".into()
}

/// A code: `[a-z][a-z0-9-]` (and `.` where `dots`), 1 to 64 characters.
pub fn is_code(s: &str, dots: bool) -> bool {
    (1..=64).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
        })
}

/// The retention class of an object.
pub fn class_of(kind: Kind, decision: Option<Decision>) -> &'static str {
    match (kind, decision) {
        (Kind::Quarantine, _) => "quarantine",
        // A referral is not a decision: the scan is kept as one still waiting.
        (Kind::Scan, None | Some(Decision::Refer)) => "undecided",
        (Kind::Scan, Some(Decision::Clear)) => "cleared",
        (Kind::Scan, Some(Decision::Inspect)) => "inspection",
        (Kind::Scan, Some(Decision::Seize)) => "seizure",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_and_durations_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vault.toml");
        std::fs::write(&p, Config::template("customs.example/sluis")).unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(
            c.retention_of("cleared").unwrap(),
            Duration::from_secs(90 * 86_400)
        );
        assert!(c.witnesses.is_empty());
        std::fs::write(
            &p,
            Config::template("x").replace("\"90d\"", "\"ninety days\""),
        )
        .unwrap();
        assert!(
            Config::load(&p)
                .unwrap_err()
                .to_string()
                .contains("retention.cleared")
        );
        std::fs::write(&p, "origin = \"x\"\nsurprise = 1\n").unwrap();
        assert!(Config::load(&p).is_err());
    }
}
