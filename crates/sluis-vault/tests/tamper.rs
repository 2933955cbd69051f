//! Damage is found and named: a flipped bit in a blob, a lost blob, a wrapped key moved to
//! another row, a stray blob, a changed log. Never wrong pixels.

use sluis_vault::{Filter, VaultError};

use crate::common::{TestVault, scan};

fn blob_file(t: &TestVault, id: &str) -> std::path::PathBuf {
    let row = t
        .v()
        .list(&Filter {
            limit: 1000,
            ..Filter::default()
        })
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .unwrap();
    let a = row.blob.to_string();
    let hex = a.strip_prefix("b3-").unwrap();
    t.root()
        .join("blobs")
        .join(&hex[..2])
        .join(&hex[2..4])
        .join(&a)
}

#[test]
fn a_flipped_bit_anywhere_in_a_blob_is_an_error_naming_the_object() {
    let t = TestVault::new();
    let actor = t.v().actor("analyst");
    let (s, b) = scan(31);
    let id = t.v().store(&s, &actor).unwrap().id;
    let path = blob_file(&t, &id);
    let original = std::fs::read(&path).unwrap();
    for at in [0, 9, 17, 40, original.len() / 2, original.len() - 1] {
        let mut bad = original.clone();
        bad[at] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let before = t.v().log().size();
        match t.v().read(&id, &actor, "analysis") {
            Err(VaultError::Damaged { id: named, .. }) => assert_eq!(named, id, "byte {at}"),
            other => panic!("byte {at}: {other:?}"),
        }
        // The failed access is logged too.
        let last = sluis_audit::AuditRecord::decode(&t.v().log().entry(before).unwrap()).unwrap();
        assert_eq!(
            (last.outcome, last.detail.as_deref()),
            (sluis_audit::Outcome::Failure, Some("integrity"))
        );
        let report = t.v().fsck(&mut |_, _, _| {}).unwrap();
        assert_eq!(report.damaged.len(), 1, "byte {at}: {report:?}");
        assert_eq!(report.damaged[0].id, id);
    }
    // Truncated, and missing.
    std::fs::write(&path, &original[..original.len() - 16]).unwrap();
    assert!(matches!(
        t.v().read(&id, &actor, "analysis"),
        Err(VaultError::Damaged { .. })
    ));
    std::fs::remove_file(&path).unwrap();
    let report = t.v().fsck(&mut |_, _, _| {}).unwrap();
    assert!(report.damaged[0].problem.contains("missing"), "{report:?}");
    // Restored, all is well again.
    std::fs::write(&path, &original).unwrap();
    assert_eq!(t.v().read(&id, &actor, "analysis").unwrap().bytes, b);
    assert!(t.v().fsck(&mut |_, _, _| {}).unwrap().is_clean());
}

#[test]
fn a_wrapped_key_moved_to_another_row_does_not_unwrap() {
    let mut t = TestVault::new();
    let actor = t.v().actor("analyst");
    let (s1, b1) = scan(41);
    let (s2, _) = scan(42);
    let a = t.v().store(&s1, &actor).unwrap().id;
    let b = t.v().store(&s2, &actor).unwrap().id;
    t.close();
    let db = rusqlite::Connection::open(t.root().join("index.sqlite")).unwrap();
    db.execute("UPDATE objects SET wrapped_key = (SELECT wrapped_key FROM objects WHERE id = ?1) WHERE id = ?2", [&a, &b]).unwrap();
    drop(db);
    t.reopen();
    match t.v().read(&b, &actor, "analysis") {
        Err(VaultError::Damaged { id, reason }) => {
            assert!(id == b && reason.contains("does not unwrap"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.v().read(&a, &actor, "analysis").unwrap().bytes, b1);
}

#[test]
fn fsck_reports_stray_blobs_and_a_changed_log() {
    let mut t = TestVault::new();
    let actor = t.v().actor("analyst");
    let (s, _) = scan(51);
    t.v().store(&s, &actor).unwrap();
    let stray = t.root().join("blobs/ab/cd").join("abcd".repeat(16));
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"left by an interrupted store").unwrap();
    let report = t.v().fsck(&mut |_, _, _| {}).unwrap();
    assert!(report.is_clean(), "a stray blob is not damage");
    assert_eq!(report.unreferenced, vec![("abcd".repeat(16), 28)]);
    assert_eq!(t.v().remove_unreferenced(&actor).unwrap(), 1);
    assert!(!stray.exists());
    // A changed log entry: fsck names it.
    t.close();
    let bundle = t.root().join("log/tile/entries/000.p/3");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 0x20;
    std::fs::write(&bundle, &bytes).unwrap();
    // Opening a vault whose log no longer matches its checkpoint is refused.
    let err = sluis_vault::Vault::open(&t.root()).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[test]
fn content_tags_are_checked_with_the_digest_they_were_made_from() {
    use sha2::Digest as _;
    let mut t = TestVault::new();
    let actor = t.v().actor("analyst");
    let (s1, b1) = scan(51);
    let (s2, _) = scan(52);
    let a = t.v().store(&s1, &actor).unwrap().id;
    let b = t.v().store(&s2, &actor).unwrap().id;
    t.close();
    let db = rusqlite::Connection::open(t.root().join("index.sqlite")).unwrap();
    let tag_of = |id: &str| -> String {
        db.query_row("SELECT content_tag FROM objects WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    };
    // New tags are made from BLAKE3, and marked so.
    let secret = sluis_vault::keys::IndexSecret::open(&t.root().join("keys/index.key")).unwrap();
    let hex = |d: [u8; 32]| d.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let b3 = format!(
        "b3-{}",
        hex(secret.tag("sluis content blake3", blake3::hash(&b1).as_bytes()))
    );
    assert_eq!(tag_of(&a), b3);
    // A tag of the earlier kind (from SHA-256, unmarked) still checks: the object reads back.
    let sha_digest: [u8; 32] = sha2::Sha256::digest(&b1).into();
    let sha = hex(secret.tag("sluis content", &sha_digest));
    let other = tag_of(&b);
    let index = t.root().join("index.sqlite");
    let set = |tag: &str| {
        let db = rusqlite::Connection::open(&index).unwrap();
        db.execute(
            "UPDATE objects SET content_tag = ?1 WHERE id = ?2",
            [tag, &a],
        )
        .unwrap();
    };
    drop(db);
    set(&sha);
    t.reopen();
    assert_eq!(t.v().read(&a, &actor, "analysis").unwrap().bytes, b1);
    // Another object's tag does not.
    t.close();
    set(&other);
    t.reopen();
    match t.v().read(&a, &actor, "analysis") {
        Err(VaultError::Damaged { id, reason }) => {
            assert!(
                id == a && reason.contains("not what was stored"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
}
