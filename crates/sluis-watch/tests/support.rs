//! Shared helpers: generating a case's capture, running the engine, the EVE schema.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde_json::Value;
use sluis_synth::enclave::{self, Spec};
use sluis_watch::{Alert, Policy, Watch, eve, run};

/// A case: the generator's input, the policy, and where the capture goes.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scenario {
    /// Baseline of scanner uploads in the generated policy.
    #[serde(default = "default_baseline")]
    pub(crate) baseline_bytes_per_hour: u64,
    /// The generator's spec.
    #[serde(default)]
    pub(crate) spec: Spec,
}

fn default_baseline() -> u64 {
    50_000_000
}

/// Writes the case's capture to `dir` and returns it with the policy text.
pub(crate) fn generate(case: &Path, dir: &Path) -> (PathBuf, String, enclave::Output) {
    let text = std::fs::read_to_string(case.join("scenario.toml")).unwrap();
    let scenario: Scenario = toml::from_str(&text).unwrap();
    let pcap = dir.join("capture.pcap");
    let file = std::io::BufWriter::new(std::fs::File::create(&pcap).unwrap());
    let out = enclave::generate(&scenario.spec, file).unwrap();
    let policy = match std::fs::read_to_string(case.join("policy.toml")) {
        Ok(p) => p,
        Err(_) => enclave::policy_toml(&scenario.spec, scenario.baseline_bytes_per_hour),
    };
    (pcap, policy, out)
}

/// Runs the engine over a capture and returns the EVE events.
pub(crate) fn eve_events(pcap: &Path, policy: &str) -> Vec<Value> {
    let policy = Policy::parse(policy).unwrap();
    let sensor = policy.sensor.clone();
    let mut watch = Watch::new(policy);
    let mut events = Vec::new();
    run::capture_file(pcap, &mut watch, &mut |a: &Alert| {
        events.push(eve::alert_event(a, &sensor, Some("capture.pcap")));
    })
    .unwrap();
    events
}

/// Suricata's EVE schema, from `../shared/data/eve/` (read in place).
pub(crate) static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/eve/suricata-eve-schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
});

/// Fails with every schema error of `event`.
pub(crate) fn assert_valid_eve(event: &Value) {
    let errors: Vec<String> = SCHEMA
        .iter_errors(event)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{event}\n{}", errors.join("\n"));
}

/// The rule id of an EVE alert event.
pub(crate) fn rule_of(e: &Value) -> &str {
    e["alert"]["context"]["rule"].as_str().unwrap_or("")
}
