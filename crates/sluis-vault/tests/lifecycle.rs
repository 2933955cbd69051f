//! A scan's life in the vault: stored, searched, read, exported with a receipt, decided on,
//! expired; quarantine; every step in the log.

use sluis_audit::{Action, Outcome, Policy, verify_receipt};
use sluis_scan::{Limits, sanitise};
use sluis_vault::{Decision, Filter, Kind, State, VaultError};

use crate::common::{TestVault, scan};

#[test]
fn store_search_read_and_export_are_logged_before_release() {
    let t = TestVault::new();
    let v = t.v();
    let analyst = v.actor("analyst.one@customs.example");
    let (s1, b1) = scan(1);
    let (s2, b2) = scan(2);
    let a = v.store(&s1, &analyst).unwrap();
    let b = v.store(&s2, &analyst).unwrap();
    assert!(a.id.starts_with("s-") && a.id.len() == 34 && !a.duplicate);
    // The same content again: the existing object, nothing new stored or logged.
    let size = v.log().size();
    let again = v.store(&s1, &analyst).unwrap();
    assert_eq!(
        (again.id.as_str(), again.duplicate, v.log().size()),
        (a.id.as_str(), true, size)
    );

    // Search by container number, by conveyance, by scanner; page through.
    let meta = sluis_vault::scan_meta(&s1);
    let container = meta
        .containers
        .first()
        .cloned()
        .expect("synthetic scans carry a container number");
    let found = v
        .list(&Filter {
            identifier: Some(container.to_lowercase()),
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(
        found.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![a.id.as_str()]
    );
    let all = v
        .list(&Filter {
            kind: Some(Kind::Scan),
            limit: 1,
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(all.len(), 1);
    let next = v
        .list(&Filter {
            kind: Some(Kind::Scan),
            after: Some((all[0].stored_at.clone(), all[0].id.clone())),
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_ne!(next[0].id, all[0].id);
    if let Some(station) = &meta.station {
        assert_eq!(
            v.list(&Filter {
                scanner: Some(station.to_uppercase()),
                ..Filter::default()
            })
            .unwrap()
            .len(),
            2
        );
    }

    // A read without a purpose is refused before anything is decrypted or logged.
    let before = v.log().size();
    assert!(matches!(
        v.read(&a.id, &analyst, "  "),
        Err(VaultError::State(_))
    ));
    assert_eq!(v.log().size(), before);
    let read = v.read(&a.id, &analyst, "analysis").unwrap();
    assert_eq!(read.bytes, b1);
    // The record was durable before the bytes came back: it is in the checkpoint.
    assert!(read.record.size <= v.log().size() && read.record.index < read.record.size);
    let exported = v
        .export(&b.id, false, &analyst, "evidence", Some("case 2026-17"))
        .unwrap();
    assert_eq!(exported.released.bytes, b2);
    assert!(exported.witnesses.is_empty());
    let receipt = exported.receipt;

    // The receipt verifies offline with the log's public key and binds the exported bytes.
    let policy = Policy {
        log: Some(v.log_verifier().clone()),
        ..Policy::default()
    };
    let proven = verify_receipt(receipt.as_bytes(), &policy).unwrap();
    assert_eq!(proven.record.action, Action::Export);
    assert_eq!(proven.record.object.as_deref(), Some(b.id.as_str()));
    let digest: String = <sha2::Sha256 as sha2::Digest>::digest(&b2)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    let note: String = <sha2::Sha256 as sha2::Digest>::digest(b"case 2026-17")
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    assert_eq!(
        proven.record.detail,
        Some(format!("sha256={digest} note-sha256={note}"))
    );

    // The log: create, two stores, a read, an export; no names, plates or container numbers.
    let records = t.records();
    let actions: Vec<Action> = records.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        vec![
            Action::Create,
            Action::Store,
            Action::Store,
            Action::Read,
            Action::Export
        ]
    );
    let log_text =
        String::from_utf8_lossy(&v.log().entries(0, v.log().size()).unwrap().concat()).to_string();
    assert!(!log_text.contains("analyst.one"), "a name reached the log");
    assert!(
        !log_text.contains(&container),
        "a container number reached the log"
    );
    assert_eq!(records[3].actor, analyst);
    assert_eq!(records[3].purpose.as_deref(), Some("analysis"));
    assert!(!log_text.contains("2026-17"), "a note reached the log");
    // A purpose that is free text, or a code the vault does not know, is refused before
    // anything is decrypted or logged.
    for bad in ["case MSCU1234565", "unknown-code"] {
        assert!(matches!(
            v.read(&a.id, &analyst, bad),
            Err(VaultError::Purpose(_))
        ));
    }
    assert_eq!(v.log().size(), records.len() as u64);
    // The records name the configured component, not the host.
    assert!(
        records.iter().all(|r| r.origin == "sluis-vault"),
        "{records:?}"
    );
}

#[test]
fn quarantine_keeps_refused_input_apart_and_counts_every_arrival() {
    let t = TestVault::new();
    let v = t.v();
    let scanner = v.actor("scanner-7");
    let hostile = sluis_synth::hostile::corpus(1 << 16)
        .into_iter()
        .find(|c| c.name == "trailing-bytes")
        .unwrap();
    let refusal = sanitise(&hostile.bytes, &Limits::default()).unwrap_err();
    let q = v
        .quarantine(&hostile.bytes, "drop/MSCU1234566.dcm", &refusal, &scanner)
        .unwrap();
    assert!(q.id.starts_with("q-"));
    let again = v
        .quarantine(&hostile.bytes, "drop/again.dcm", &refusal, &scanner)
        .unwrap();
    assert_eq!((again.id.as_str(), again.duplicate), (q.id.as_str(), true));
    // Never a scan.
    assert!(
        v.list(&Filter {
            kind: Some(Kind::Scan),
            ..Filter::default()
        })
        .unwrap()
        .is_empty()
    );
    assert!(matches!(
        v.read(&q.id, &scanner, "analysis"),
        Err(VaultError::NotFound { .. })
    ));
    let listed = v
        .list(&Filter {
            kind: Some(Kind::Quarantine),
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(listed.len(), 1);
    let meta = listed[0].quarantine.as_ref().unwrap();
    assert_eq!(meta.rule, refusal.rule.to_string());
    assert_eq!(meta.source, "drop/MSCU1234566.dcm");
    // Exportable for forensics, byte for byte, and logged.
    let out = v
        .export(
            &q.id,
            true,
            &v.actor("forensics"),
            "incident-response",
            None,
        )
        .unwrap();
    assert_eq!(out.released.bytes, hostile.bytes);
    let records = t.records();
    let quarantined: Vec<_> = records
        .iter()
        .filter(|r| r.action == Action::Quarantine)
        .collect();
    assert_eq!(quarantined.len(), 2, "each arrival is logged");
    assert!(quarantined.iter().all(|r| {
        r.outcome == Outcome::Denied
            && r.detail
                .as_deref()
                .unwrap()
                .contains(&refusal.rule.to_string())
    }));
    assert!(
        !String::from_utf8_lossy(&v.log().entries(0, v.log().size()).unwrap().concat())
            .contains("MSCU1234566")
    );
}

#[test]
fn decisions_set_retention_and_expiry_crypto_shreds() {
    let mut t = TestVault::new();
    t.set_retention("cleared", "0s");
    let actor = t.v().actor("analyst");
    let (s1, b1) = scan(11);
    let (s2, _) = scan(12);
    let keep = t.v().store(&s1, &actor).unwrap();
    let gone = t.v().store(&s2, &actor).unwrap();
    let row = t
        .v()
        .decide(&gone.id, Decision::Clear, None, &actor)
        .unwrap();
    assert_eq!(
        (row.class.as_str(), row.decision),
        ("cleared", Some(Decision::Clear))
    );
    // A referral keeps the scan undecided for retention; a comment reaches the log only as its
    // hash.
    let referred = t
        .v()
        .decide(
            &keep.id,
            Decision::Refer,
            Some("dense block behind the doors"),
            &actor,
        )
        .unwrap();
    assert_eq!(referred.class, "undecided");
    let comment = "cigarettes behind the false wall";
    t.v()
        .decide(&keep.id, Decision::Seize, Some(comment), &actor)
        .unwrap();
    let log =
        String::from_utf8_lossy(&t.v().log().entries(0, t.v().log().size()).unwrap().concat())
            .to_string();
    assert!(!log.contains(comment), "comment text in the log");
    {
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(comment.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(log.contains(&format!(
            "decision=seize class=seizure comment-sha256={hex}"
        )));
    }
    let blob_path = |addr: &str| {
        // `b3-` and the digest; the directories are the digest's first digits.
        let hex = addr.strip_prefix("b3-").unwrap();
        t.root()
            .join("blobs")
            .join(&hex[..2])
            .join(&hex[2..4])
            .join(addr)
    };
    let gone_blob = t
        .v()
        .list(&Filter {
            decision: Some(Some(Decision::Clear)),
            ..Filter::default()
        })
        .unwrap()[0]
        .blob
        .to_string();
    assert!(blob_path(&gone_blob).exists());

    let expired = t
        .v()
        .expire(&sluis_vault::vault::now(), &t.v().system_actor())
        .unwrap();
    assert_eq!(
        expired.shredded,
        vec![(gone.id.clone(), "cleared".to_string())]
    );
    assert!(!blob_path(&gone_blob).exists());
    assert!(matches!(
        t.v().read(&gone.id, &actor, "analysis"),
        Err(VaultError::NotFound { .. })
    ));
    assert_eq!(t.v().read(&keep.id, &actor, "evidence").unwrap().bytes, b1);
    // Only a tombstone remains: no key, no metadata; the deletion is logged.
    let tomb = t
        .v()
        .list(&Filter {
            states: vec![State::Shredded],
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(tomb.len(), 1);
    assert!(tomb[0].wrapped_key.is_none() && tomb[0].delete_log_index.is_some());
    assert!(tomb[0].scan.as_ref().unwrap().containers.is_empty());
    let records = t.records();
    let del = records.iter().find(|r| r.action == Action::Delete).unwrap();
    assert_eq!(del.object.as_deref(), Some(gone.id.as_str()));
    // Nothing else is due; fsck agrees with all of it.
    assert!(
        t.v()
            .expire(&sluis_vault::vault::now(), &t.v().system_actor())
            .unwrap()
            .shredded
            .is_empty()
    );
    let report = t.v().fsck(&mut |_, _, _| {}).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.verified, report.shredded), (1, 1));
}

#[test]
fn key_rotation_rewraps_without_touching_blobs() {
    let mut t = TestVault::new();
    let actor = t.v().actor("key custodian");
    let mut ids = Vec::new();
    for seed in 20..23 {
        let (s, b) = scan(seed);
        ids.push((t.v().store(&s, &actor).unwrap().id, b));
    }
    let blobs_before = crate::common::snapshot(&t.root().join("blobs"));
    let old: Vec<String> = std::fs::read_dir(t.root().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("kek-"))
        .collect();
    assert_eq!(old, vec!["kek-1.key".to_string()]);
    let r = t.v().rotate_kek(&actor).unwrap();
    assert_eq!((r.rewrapped, r.retired.len()), (3, 1));
    assert_eq!(
        crate::common::snapshot(&t.root().join("blobs")),
        blobs_before,
        "blobs untouched"
    );
    assert!(!t.root().join("keys/kek-1.key").exists() && t.root().join("keys/kek-2.key").exists());
    t.reopen();
    for (id, bytes) in &ids {
        assert_eq!(&t.v().read(id, &actor, "test").unwrap().bytes, bytes);
    }
    assert!(
        t.records().iter().any(|rec| rec.action == Action::RotateKey
            && rec.object.as_deref() == Some(r.new_kek.as_str()))
    );

    assert!(t.v().fsck(&mut |_, _, _| {}).unwrap().is_clean());
}

#[test]
fn a_scan_offered_with_its_encoding_is_stored_as_the_canonical_bytes_and_only_those() {
    let t = TestVault::new();
    let v = t.v();
    let core = v.actor("core");
    let (s1, canonical1) = scan(71);
    let (s2, canonical2) = scan(72);
    // The right bytes: stored as they are.
    let a = v
        .store_encoded(&s1, &mut canonical1.clone(), &core)
        .unwrap();
    let back = v.read(&a.id, &core, "test").unwrap();
    assert_eq!(back.bytes, canonical1);
    // Bytes that are not the scan's encoding (one changed, one missing, another scan's) are
    // never stored: the scan is encoded afresh.
    let mut changed = canonical2.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    let short = &canonical2[..canonical2.len() - 1];
    for wrong in [&changed[..], short, &canonical1[..]] {
        let b = v.store_encoded(&s2, &mut wrong.to_vec(), &core).unwrap();
        let back = v.read(&b.id, &core, "test").unwrap();
        assert_eq!(back.bytes, canonical2);
    }
}
