//! The edge's spool: ids, durability across reopen, budget, replay ranges.

use sluis_link::{Spool, SpoolError};

#[test]
fn ids_increase_survive_reopen_and_sent_objects_are_pruned_to_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 10_000).unwrap();
    let a = spool.put(&[1; 4000], "{\"n\":1}").unwrap();
    let b = spool.put(&[2; 4000], "{\"n\":2}").unwrap();
    assert_eq!((a, b), (1, 2));
    // Unsent objects are never dropped: a third one past the budget is refused.
    assert!(matches!(
        spool.put(&[3; 4000], "{}"),
        Err(SpoolError::Full { .. })
    ));
    assert_eq!(spool.next_unsent().unwrap().id, 1);
    spool.mark_sent(1).unwrap();
    drop(spool);
    let spool = Spool::open(dir.path(), 10_000).unwrap();
    assert_eq!(spool.next_unsent().unwrap().id, 2);
    assert_eq!(spool.next_unsent().unwrap().meta, "{\"n\":2}");
    spool.mark_sent(2).unwrap();
    let c = spool.put(&[3; 4000], "{}").unwrap();
    assert_eq!(c, 3);
    spool.mark_sent(3).unwrap();
    // 12 000 bytes kept > 10 000: the oldest sent object is gone, the others can be replayed.
    let kept: Vec<u64> = spool.range(1, 10).iter().map(|e| e.id).collect();
    assert_eq!(kept, vec![2, 3]);
    let e = &spool.range(3, 3)[0];
    let file = std::fs::read(&e.path).unwrap();
    assert!(
        file[e.offset as usize..] == [3; 4000][..],
        "the object's bytes follow its header"
    );
    assert_eq!(e.length, 4000);
    assert_eq!(spool.depth(), (2, 8000, 0));
}

#[test]
fn objects_handed_over_in_memory_are_the_spooled_bytes_and_buffers_come_back_empty() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 1 << 30).unwrap();
    let mut buf = vec![9u8; 5000];
    let id = spool.put_owned(&mut buf, "{}").unwrap();
    // The buffer went to the spool; what came back holds nothing.
    assert!(buf.is_empty());
    let entry = spool.next_unsent().unwrap();
    assert_eq!((entry.id, entry.length), (id, 5000));
    // The file has the same bytes the sender gets from memory.
    let file = std::fs::read(&entry.path).unwrap();
    assert_eq!(&file[entry.offset as usize..], &[9u8; 5000][..]);
    let hot = spool.take_hot(id).unwrap();
    assert_eq!(hot, vec![9u8; 5000]);
    // Given once only: a replay reads the file.
    assert!(spool.take_hot(id).is_none());
    spool.recycle(hot);
    let mut next = vec![1u8; 10];
    let id2 = spool.put_owned(&mut next, "{}").unwrap();
    // The emptied buffer of the sent object comes back, with its room.
    assert!(next.is_empty() && next.capacity() >= 5000);
    // Sent without being taken (a replay of a range): dropped from memory.
    spool.mark_sent(id2).unwrap();
    assert!(spool.take_hot(id2).is_none());
}

#[test]
fn edge_runs_get_ever_growing_epochs_and_sent_objects_leave_after_their_retention() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("spool");
    let spool = Spool::open(&root, 1 << 20).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let e1 = spool.next_epoch().unwrap();
    let e2 = spool.next_epoch().unwrap();
    assert!(u64::from(e1) >= now && e2 > e1);
    drop(spool);
    // A reopened spool (the next edge run, or `sluis edge replay`) goes on from there, even if
    // the clock went back.
    let spool = Spool::open(&root, 1 << 20).unwrap();
    std::fs::write(root.join("epoch"), format!("{}", now + 1_000_000)).unwrap();
    assert_eq!(
        u64::from(spool.next_epoch().unwrap()),
        now + 1_000_001,
        "an epoch never goes back"
    );
    // Sent objects older than the retention are deleted; unsent ones stay, whatever their age.
    let a = spool.put(&[1; 100], "{}").unwrap();
    let b = spool.put(&[2; 100], "{}").unwrap();
    spool.mark_sent(a).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    assert_eq!(spool.prune_sent_before(later), 1);
    let kept: Vec<u64> = spool.range(1, 10).iter().map(|e| e.id).collect();
    assert_eq!(kept, vec![b]);
    // Everything in it is owner-only: it holds scans.
    assert!(
        sluis_secret::open_to_others(&root).unwrap().is_empty(),
        "{:?}",
        sluis_secret::open_to_others(&root).unwrap()
    );
    let mode = std::fs::metadata(&root).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn the_sender_waits_for_the_spool_and_is_woken_by_a_put() {
    let dir = tempfile::tempdir().unwrap();
    let spool = std::sync::Arc::new(Spool::open(dir.path(), 1 << 20).unwrap());
    let t = std::time::Instant::now();
    assert!(!spool.wait_unsent(std::time::Duration::from_millis(100)));
    assert!(t.elapsed() >= std::time::Duration::from_millis(100));
    let s = spool.clone();
    let putter = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        s.put(&[1; 10], "{}").unwrap()
    });
    let t = std::time::Instant::now();
    assert!(spool.wait_unsent(std::time::Duration::from_secs(10)));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "woken by the put"
    );
    let id = putter.join().unwrap();
    spool.mark_sent(id).unwrap();
    assert!(!spool.wait_unsent(std::time::Duration::from_millis(10)));
}
