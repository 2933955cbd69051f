//! Tampering with any file of a published log is detected by the auditor and located: the
//! entry, bundle or tile named is the first that does not match.

use sluis_audit::tiles::{self, decode_bundle, encode_bundle};
use sluis_audit::{Batching, FsStore, Log, VerifyError, verify_log};

use crate::common::{TestLog, append_records, record};

/// A closed log of `n` entries.
fn closed(n: u64) -> (TestLog, FsStore) {
    let mut t = TestLog::new();
    append_records(t.log(), 0, n, 4);
    let store = t.close();
    (t, store)
}

fn flip(path: &std::path::Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

fn entries(t: &TestLog, n: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for b in 0..n.div_ceil(256) {
        let w = usize::try_from((n - b * 256).min(256)).unwrap();
        out.extend(
            decode_bundle(&std::fs::read(t.path(&tiles::bundle_path(b, w))).unwrap()).unwrap(),
        );
    }
    out
}

fn rewrite_bundles(t: &TestLog, all: &[Vec<u8>]) {
    for (b, chunk) in all.chunks(256).enumerate() {
        std::fs::write(
            t.path(&tiles::bundle_path(b as u64, chunk.len())),
            encode_bundle(chunk.iter().map(Vec::as_slice)),
        )
        .unwrap();
    }
}

/// The offset of entry `i` of a bundle, plus `into` bytes.
fn entry_offset(bundle: &[u8], i: usize, into: usize) -> usize {
    let mut at = 0;
    for _ in 0..i {
        at += 2 + usize::from(u16::from_be_bytes([bundle[at], bundle[at + 1]]));
    }
    at + 2 + into
}

fn names_entry(err: &VerifyError, index: u64) -> bool {
    matches!(err, VerifyError::Tile { first_entry: Some(i), .. } if *i == index)
        || matches!(err, VerifyError::Record { index: i, .. } if *i == index)
}

#[test]
fn a_flipped_byte_in_an_entry_names_the_entry() {
    let (t, store) = closed(600);
    for (index, into) in [(3u64, 20usize), (300, 40), (599, 10)] {
        let bundle = tiles::bundle_path(index / 256, if index >= 512 { 88 } else { 256 });
        let path = t.path(&bundle);
        let original = std::fs::read(&path).unwrap();
        flip(
            &path,
            entry_offset(&original, usize::try_from(index % 256).unwrap(), into),
        );
        let err = verify_log(&store, &t.policy(), |_, _| {}).unwrap_err();
        assert!(names_entry(&err, index), "entry {index}: {err}");
        // Even when the bytes stay a valid record, the hash does not match.
        let mut policy = t.policy();
        policy.records = false;
        let err = verify_log(&store, &policy, |_, _| {}).unwrap_err();
        assert!(
            matches!(err, VerifyError::Tile { first_entry: Some(i), .. } if i == index),
            "entry {index}: {err}"
        );
        std::fs::write(&path, original).unwrap();
    }
    verify_log(&store, &t.policy(), |_, _| {}).unwrap();
}

#[test]
fn a_flipped_byte_in_a_tile_names_the_tile() {
    let (t, store) = closed(600);
    for (tile, at, first) in [
        ("tile/0/001", 32 * 77 + 5, Some(256 + 77)),
        ("tile/0/002.p/88", 32 * 87, Some(512 + 87)),
        ("tile/1/000.p/2", 33, None),
    ] {
        let path = t.path(tile);
        let original = std::fs::read(&path).unwrap();
        flip(&path, at);
        let err = verify_log(&store, &t.policy(), |_, _| {}).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Tile {
                path: tile.to_string(),
                first_entry: first
            },
            "{err}"
        );
        std::fs::write(&path, original).unwrap();
    }
}

#[test]
fn a_changed_checkpoint_or_malformed_bundle_is_refused() {
    let (t, store) = closed(300);
    let cp = t.path("checkpoint");
    let original = std::fs::read(&cp).unwrap();
    // The size line, the root hash, a signature byte.
    for at in [
        original.iter().position(|&b| b == b'\n').unwrap() + 1,
        original.len() / 2,
        original.len() - 5,
    ] {
        flip(&cp, at);
        let err = verify_log(&store, &t.policy(), |_, _| {}).unwrap_err();
        assert!(
            matches!(err, VerifyError::Checkpoint(_)),
            "byte {at}: {err}"
        );
        std::fs::write(&cp, &original).unwrap();
    }
    // A length prefix that runs past the end of the bundle.
    let b = t.path("tile/entries/000");
    let bytes = std::fs::read(&b).unwrap();
    flip(&b, 0);
    let err = verify_log(&store, &t.policy(), |_, _| {}).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Bundle { path, .. } if path == "tile/entries/000"),
        "{err}"
    );
    std::fs::write(&b, bytes).unwrap();
    // A missing tile.
    std::fs::remove_file(t.path("tile/0/000")).unwrap();
    assert_eq!(
        verify_log(&store, &t.policy(), |_, _| {}).unwrap_err(),
        VerifyError::Missing("tile/0/000".into())
    );
}

#[test]
fn a_dropped_entry_is_detected_where_it_was() {
    let (t, store) = closed(600);
    let mut all = entries(&t, 600);
    // Dropped from its bundle: the bundle is short.
    let mut short = all[256..512].to_vec();
    short.remove(10);
    std::fs::write(
        t.path("tile/entries/001"),
        encode_bundle(short.iter().map(Vec::as_slice)),
    )
    .unwrap();
    let err = verify_log(&store, &t.policy(), |_, _| {}).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Bundle { path, reason } if path == "tile/entries/001" && reason.contains("255")),
        "{err}"
    );
    // Dropped and every later entry moved up (and a forged one appended to keep the count).
    all.remove(266);
    all.push(record(9999));
    rewrite_bundles(&t, &all);
    let err = verify_log(&store, &t.policy(), |_, _| {}).unwrap_err();
    assert!(names_entry(&err, 266), "{err}");
}

#[test]
fn two_swapped_entries_are_detected_at_the_first() {
    let (t, store) = closed(600);
    let mut all = entries(&t, 600);
    all.swap(100, 400);
    rewrite_bundles(&t, &all);
    let err = verify_log(&store, &t.policy(), |_, _| {}).unwrap_err();
    assert!(names_entry(&err, 100), "{err}");
}

#[test]
fn recomputed_tiles_do_not_hide_a_changed_entry() {
    // Changing an entry and rewriting its level-0 tile: the level-1 tile, or the root, no longer
    // matches.
    let (t, store) = closed(600);
    let mut all = entries(&t, 600);
    all[5] = record(12345);
    rewrite_bundles(&t, &all);
    let hashes: Vec<_> = all[..256]
        .iter()
        .map(|e| sluis_audit::merkle::leaf_hash(e))
        .collect();
    std::fs::write(t.path("tile/0/000"), tiles::encode_tile(&hashes)).unwrap();
    let err = verify_log(&store, &t.policy(), |_, _| {}).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Tile { path, .. } if path == "tile/1/000.p/2")
            || matches!(err, VerifyError::Root { .. }),
        "{err}"
    );
}

#[test]
fn a_fork_or_a_rollback_is_caught_by_the_checkpoint_the_auditor_kept() {
    let (mut t, store) = closed(400);
    let mut policy = t.policy();
    let kept = verify_log(&store, &policy, |_, _| {})
        .unwrap()
        .checkpoint_bytes;
    policy.since = Some(kept.clone());
    // The operator, holding the key, rebuilds the log with entry 150 changed and more appended:
    // a fork. Every file is self-consistent and signed.
    let all = entries(&t, 400);
    let forked = tempfile::tempdir().unwrap();
    {
        let log = Log::create(
            std::sync::Arc::new(FsStore::new(forked.path()).unwrap()),
            t.signer.clone(),
            Batching::default(),
        )
        .unwrap();
        for (i, e) in all.iter().enumerate() {
            log.append(if i == 150 { record(777) } else { e.clone() })
                .unwrap();
        }
        for i in 0..100 {
            log.append(record(1000 + i)).unwrap();
        }
    }
    let fstore = FsStore::new(forked.path()).unwrap();
    // Alone, the fork verifies (a log cannot know what it forked from) ...
    verify_log(&fstore, &t.policy(), |_, _| {}).unwrap();
    // ... but not against the checkpoint the auditor kept.
    let err = verify_log(&fstore, &policy, |_, _| {}).unwrap_err();
    assert!(matches!(err, VerifyError::Fork { kept: 400, .. }), "{err}");
    // Rolled back to a smaller size.
    t.reopen();
    append_records(t.log(), 400, 50, 2);
    let newer = t.log().checkpoint();
    t.close();
    std::fs::write(t.path("checkpoint"), &kept).unwrap();
    policy.since = Some(newer);
    let err = verify_log(&store, &policy, |_, _| {}).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Shrunk {
                size: 400,
                kept: 450
            }
        ),
        "{err}"
    );
}

#[test]
fn a_changed_byte_in_a_superseded_partial_tile_or_bundle_is_found() {
    // An 11-entry log grown 3 then 8 at a time: the partial bundle and tile of width 3 stay
    // published for clients that hold the checkpoint of size 3.
    let mut t = TestLog::new();
    append_records(t.log(), 0, 3, 1);
    append_records(t.log(), 3, 8, 1);
    let store = t.close();
    assert!(verify_log(&store, &t.policy(), |_, _| {}).is_ok());
    for old in [tiles::bundle_path(0, 3), tiles::tile_path(0, 0, 3)] {
        let path = t.path(&old);
        assert!(path.exists(), "{old} is published");
        let original = std::fs::read(&path).unwrap();
        flip(&path, original.len() - 5);
        let err = verify_log(&store, &t.policy(), |_, _| {}).unwrap_err();
        assert!(err.to_string().contains(&old), "{old}: {err}");
        std::fs::write(&path, original).unwrap();
    }
    assert!(verify_log(&store, &t.policy(), |_, _| {}).is_ok());
}
