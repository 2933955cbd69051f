//! The core's reassembly directory: verified objects named by their digest, and emptied files
//! reused for the next objects without leaking a byte of the one before.

use sluis_link::Workspace;
use sluis_link::net::DirWorkspace;

fn digest(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// Reassembles `bytes` as object `id`, in two writes, and commits it.
fn reassemble(ws: &mut DirWorkspace, id: u64, bytes: &[u8]) -> std::path::PathBuf {
    let mut part = ws.create(id, bytes.len() as u64).unwrap();
    let half = bytes.len() / 2;
    // The second half first, as blocks may decode out of order.
    ws.write_at(&mut part, half as u64, &bytes[half..]).unwrap();
    ws.write_at(&mut part, 0, &bytes[..half]).unwrap();
    ws.commit(part, id, &digest(bytes)).unwrap()
}

#[test]
fn a_reused_file_holds_exactly_the_new_object_and_restarts_find_it_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = DirWorkspace::open(dir.path()).unwrap();
    let spares = ws.spares();
    let big = vec![0xAAu8; 300_000];
    let first = reassemble(&mut ws, 1, &big);
    assert_eq!(std::fs::read(&first).unwrap(), big);
    assert_eq!(ws.check_ready(1), Some(first.clone()));
    // Stored: its file becomes a spare, and the next object is written into it.
    spares.retire(&first);
    assert!(!first.exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join("spare")).unwrap().count(),
        1
    );
    let small: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let second = reassemble(&mut ws, 2, &small);
    assert_eq!(
        std::fs::read_dir(dir.path().join("spare")).unwrap().count(),
        0
    );
    // Nothing of the first object is left past the second's end.
    assert_eq!(std::fs::read(&second).unwrap(), small);
    assert_eq!(ws.check_ready(2), Some(second.clone()));
    // A file whose bytes no longer match its name's digest is not taken as whole.
    std::fs::write(&second, b"changed").unwrap();
    assert_eq!(ws.check_ready(2), None);
    assert_eq!(ws.check_ready(3), None);
    // Reopening (a restart) throws the spares away: they belong to no object.
    spares.retire(&second);
    drop(ws);
    let ws = DirWorkspace::open(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("spare")).unwrap().count(),
        0
    );
    drop(ws);
}

#[test]
fn spares_are_bounded_in_number() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = DirWorkspace::open(dir.path()).unwrap();
    let spares = ws.spares();
    let files: Vec<_> = (1..=20u64)
        .map(|id| reassemble(&mut ws, id, &[id as u8; 4096]))
        .collect();
    for f in &files {
        spares.retire(f);
        assert!(!f.exists());
    }
    let kept = std::fs::read_dir(dir.path().join("spare")).unwrap().count();
    assert!((1..=8).contains(&kept), "{kept} spares");
}

/// Every byte of every file under `dir`.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_bytes(&p));
        } else {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
    out
}

#[test]
fn no_plaintext_of_a_stored_object_stays_in_the_reassembly_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = DirWorkspace::open(dir.path()).unwrap();
    let spares = ws.spares();
    // A scan's container number, in a recognisable pattern.
    let scan: Vec<u8> = b"MSCU1234565 "
        .iter()
        .copied()
        .cycle()
        .take(200_000)
        .collect();
    let ready = reassemble(&mut ws, 1, &scan);
    spares.retire(&ready);
    let left = all_bytes(dir.path());
    assert!(
        !left.windows(11).any(|w| w == b"MSCU1234565"),
        "{} bytes of the stored scan are still on disk",
        left.len()
    );
    // The spare is kept (its inode), empty, and still serves the next object.
    assert_eq!(
        std::fs::read_dir(dir.path().join("spare")).unwrap().count(),
        1
    );
    let next = reassemble(&mut ws, 2, &[7u8; 5000]);
    assert_eq!(std::fs::read(&next).unwrap(), vec![7u8; 5000]);
    // Owner-only, all of it.
    assert!(
        sluis_secret::open_to_others(dir.path()).unwrap().is_empty(),
        "{:?}",
        sluis_secret::open_to_others(dir.path()).unwrap()
    );
}
