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

/// The vault's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The log's origin (and key name), e.g. `customs.example/sluis/rotterdam`.
    pub origin: String,
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
             # Witnesses that cosign the log's checkpoints (C2SP tlog-witness), one table each:\n\
             # [[witness]]\n\
             # url = \"https://witness.auditor.example/\"\n\
             # key = \"witness.auditor.example+01234567+BAAA...\"\n",
            r.undecided, r.cleared, r.inspection, r.seizure, r.quarantine
        )
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
