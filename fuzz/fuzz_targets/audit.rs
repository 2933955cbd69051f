//! Fuzzes what an auditor and a witness parse from others: receipts, entry bundles, tiles,
//! checkpoints, audit records and witness requests. No panic; bundles, tiles and receipts
//! round-trip exactly.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sluis_audit::{checkpoint, tiles, verify, AuditRecord, Cosigner, LogSigner, NoteVerifier, Policy, Witness};

struct Fixture {
    policy: Policy,
    witness: Witness,
    _dir: std::path::PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let log = LogSigner::generate("fuzz.sluis/log").expect("key");
        let key = NoteVerifier::new(&log.vkey()).expect("vkey");
        let w = Cosigner::generate("fuzz.sluis/witness").expect("key");
        let wkey = NoteVerifier::new(&w.vkey()).expect("vkey");
        let dir = std::env::temp_dir().join(format!("sluis-fuzz-witness-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let witness = Witness::new(w, std::slice::from_ref(&key), dir.join("state.json")).expect("witness");
        let policy = Policy { log: Some(key), witnesses: vec![wkey], quorum: 0, since: None, records: true };
        Fixture { policy, witness, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if let Ok(r) = verify::parse_receipt(data) {
        let again = verify::parse_receipt(verify::format_receipt(&r).as_bytes()).expect("a formatted receipt parses");
        assert_eq!(again, r, "receipts round-trip");
    }
    let _ = verify::verify_receipt(data, &f.policy);
    if let Some(entries) = tiles::decode_bundle(data) {
        assert_eq!(tiles::encode_bundle(entries.iter().map(Vec::as_slice)), data, "bundles round-trip");
    }
    if let Some(hashes) = tiles::decode_tile(data) {
        assert_eq!(tiles::encode_tile(&hashes), data, "tiles round-trip");
    }
    let log = f.policy.log.as_ref().expect("log key");
    let _ = checkpoint::verify(data, log, &f.policy.witnesses);
    let _ = checkpoint::parse_body(data);
    if let Ok(r) = AuditRecord::decode(data) {
        let _ = r.encode();
    }
    let answer = f.witness.add_checkpoint(data, 1_800_000_000);
    assert_ne!(answer.status, 200, "a forged checkpoint was cosigned");
});
