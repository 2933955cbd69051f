//! The log as its writer and its auditor use it: concurrent durable appends, reopening,
//! receipts, witnesses, leftovers of a crash, and wrong keys.

use std::sync::Arc;

use sluis_audit::{
    Batching, Cosigner, FsStore, Log, LogError, LogSigner, NoteVerifier, VerifyError, Witness,
    verify_log, verify_receipt, witness,
};

use crate::common::{ORIGIN, TestLog, append_records};

fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn concurrent_appends_are_sequenced_durable_and_verify() {
    let mut t = TestLog::new();
    let indices = append_records(t.log(), 0, 3000, 8);
    assert_eq!(indices, (0..3000).collect::<Vec<_>>());
    assert_eq!(t.log().size(), 3000);
    let kept = t.log().checkpoint();
    let store = t.close();
    let report = verify_log(&store, &t.policy(), |_, _| {}).unwrap();
    assert_eq!((report.entries, report.checkpoint.size), (3000, 3000));
    // 11 full level-0 tiles, the partial level-0 tile (184) and the partial level-1 tile (11).
    assert_eq!(report.tiles, 13);

    // Reopened, the log continues where it was, and the auditor's kept checkpoint is a prefix.
    t.reopen();
    assert_eq!(t.log().size(), 3000);
    let more = append_records(t.log(), 3000, 700, 4);
    assert_eq!(more.first(), Some(&3000));
    let store = t.close();
    let mut policy = t.policy();
    policy.since = Some(kept);
    let report = verify_log(&store, &policy, |_, _| {}).unwrap();
    assert_eq!((report.entries, report.consistent_with), (3700, Some(3000)));
}

#[test]
fn receipts_prove_one_record_offline() {
    let t = TestLog::new();
    append_records(t.log(), 0, 600, 2);
    let receipt = t.log().tlog_proof(517).unwrap();
    assert!(receipt.starts_with("c2sp.org/tlog-proof@v1\nextra "));
    let proven = verify_receipt(receipt.as_bytes(), &t.policy()).unwrap();
    assert_eq!((proven.index, proven.checkpoint.size), (517, 600));
    assert_eq!(
        proven.record,
        sluis_audit::AuditRecord::decode(&t.log().entry(517).unwrap()).unwrap()
    );

    // Another index with the same proof, another record, a flipped proof byte: refused.
    let moved = receipt.replacen("index 517", "index 516", 1);
    assert!(matches!(
        verify_receipt(moved.as_bytes(), &t.policy()),
        Err(VerifyError::Proof(_))
    ));
    let other =
        sluis_audit::verify::parse_receipt(t.log().tlog_proof(3).unwrap().as_bytes()).unwrap();
    let mut swapped = sluis_audit::verify::parse_receipt(receipt.as_bytes()).unwrap();
    swapped.extra = other.extra;
    assert!(
        verify_receipt(
            sluis_audit::verify::format_receipt(&swapped).as_bytes(),
            &t.policy()
        )
        .is_err()
    );
    // Another log's key: the checkpoint is not signed by it.
    let mut policy = t.policy();
    policy.log = Some(NoteVerifier::new(&LogSigner::generate(ORIGIN).unwrap().vkey()).unwrap());
    assert!(matches!(
        verify_receipt(receipt.as_bytes(), &policy),
        Err(VerifyError::Checkpoint(_))
    ));
    // Garbage is a clear error, not a panic.
    for bad in [
        "",
        "c2sp.org/tlog-proof@v1\n",
        "c2sp.org/tlog-proof@v1\nindex 01\n\nx\n",
        "c2sp.org/tlog-proof@v1\nindex 1\n!!\n\nx\n",
    ] {
        assert!(
            verify_receipt(bad.as_bytes(), &t.policy()).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn witnesses_cosign_and_the_auditor_counts_them() {
    let mut t = TestLog::new();
    let dir = tempfile::tempdir().unwrap();
    let log_key = NoteVerifier::new(&t.signer.vkey()).unwrap();
    let w1 = Cosigner::generate("witness.one.test").unwrap();
    let w2 = Cosigner::generate("witness.two.test").unwrap();
    let witness1 = Witness::new(
        w1.clone(),
        std::slice::from_ref(&log_key),
        dir.path().join("w1.json"),
    )
    .unwrap();
    let mut last = 0;
    for round in 0..3u64 {
        append_records(t.log(), round * 300, 300, 3);
        let size = t.log().size();
        let proof = if last == 0 {
            Vec::new()
        } else {
            t.log().consistency_proof(last, size).unwrap()
        };
        let resp = witness1.add_checkpoint(
            &witness::request_body(last, &proof, &t.log().checkpoint()),
            1_800_000_000 + round,
        );
        assert_eq!(resp.status, 200, "{}", resp.body);
        t.log().add_cosignatures(size, &resp.body).unwrap();
        last = size;
    }
    let store = t.close();
    let mut policy = t.policy();
    policy.witnesses = vec![
        NoteVerifier::new(&w1.vkey()).unwrap(),
        NoteVerifier::new(&w2.vkey()).unwrap(),
    ];
    policy.quorum = 1;
    let report = verify_log(&store, &policy, |_, _| {}).unwrap();
    assert_eq!(
        report.checkpoint.cosigners,
        vec!["witness.one.test".to_string()]
    );
    policy.quorum = 2;
    assert!(matches!(
        verify_log(&store, &policy, |_, _| {}),
        Err(VerifyError::Quorum {
            found: 1,
            required: 2,
            ..
        })
    ));
    // A cosignature survives reopening the log.
    t.reopen();
    policy.quorum = 1;
    assert!(
        sluis_audit::checkpoint::verify(&t.log().checkpoint(), &log_key, &policy.witnesses)
            .unwrap()
            .cosigners
            .len()
            == 1
    );
}

#[test]
fn leftovers_of_an_interrupted_batch_are_removed_on_open() {
    let mut t = TestLog::new();
    append_records(t.log(), 0, 300, 1);
    t.close();
    // What a crash between writing tiles and writing the checkpoint leaves.
    let junk = [
        "tile/entries/001.p/50",
        "tile/0/001.p/50",
        "tile/entries/002",
        "tile/1/000.p/3",
        "tile/0/.tmp-001",
        ".tmp-checkpoint",
    ];
    for j in junk {
        let p = t.path(j);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"half-written").unwrap();
    }
    t.reopen();
    for j in junk {
        assert!(!t.path(j).exists(), "{j} was left behind");
    }
    assert!(t.path("tile/entries/001.p/44").exists());
    append_records(t.log(), 300, 10, 1);
    let store = t.close();
    assert_eq!(
        verify_log(&store, &t.policy(), |_, _| {}).unwrap().entries,
        310
    );
}

#[test]
fn wrong_key_or_no_log_is_a_clear_error_and_writes_nothing() {
    let mut t = TestLog::new();
    append_records(t.log(), 0, 20, 1);
    t.close();
    let before = snapshot(t.dir.path());
    let other = LogSigner::generate(ORIGIN).unwrap();
    let err = Log::open(
        Arc::new(FsStore::new(t.dir.path()).unwrap()),
        other,
        Batching::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("not signed by the log key"),
        "{err}"
    );
    assert_eq!(snapshot(t.dir.path()), before);
    // Creating over an existing log is refused.
    let err = Log::create(
        Arc::new(FsStore::new(t.dir.path()).unwrap()),
        t.signer.clone(),
        Batching::default(),
    )
    .unwrap_err();
    assert!(matches!(err, LogError::State(_)), "{err}");
    assert_eq!(snapshot(t.dir.path()), before);
    // Opening an empty directory is refused.
    let empty = tempfile::tempdir().unwrap();
    assert!(
        Log::open(
            Arc::new(FsStore::new(empty.path()).unwrap()),
            t.signer.clone(),
            Batching::default()
        )
        .is_err()
    );
    // An entry over 64 KiB is refused and not appended.
    t.reopen();
    assert!(matches!(
        t.log().append(vec![b'x'; 65_536]),
        Err(LogError::EntryTooLarge(65_536))
    ));
    assert_eq!(t.log().size(), 20);
}
