//! Wrong key, wrong key-file mode, missing key: clear errors, and nothing written.

use std::os::unix::fs::PermissionsExt;

use sluis_vault::{Vault, VaultError};

use crate::common::{TestVault, scan, snapshot};

fn refused(t: &TestVault, want: &str) {
    let before = snapshot(&t.root());
    let err = Vault::open(&t.root()).unwrap_err();
    assert!(
        err.to_string().contains(want),
        "expected {want:?} in: {err}"
    );
    assert_eq!(snapshot(&t.root()), before, "something was written");
}

#[test]
fn wrong_missing_or_exposed_keys_are_refused_before_anything_is_written() {
    let mut t = TestVault::new();
    let (s, b) = scan(61);
    t.v().store(&s, &t.v().actor("a")).unwrap();
    t.close();
    let other = TestVault::new();
    let keys = t.root().join("keys");
    let swap = |name: &str, from: &TestVault| {
        let saved = std::fs::read(keys.join(name)).unwrap();
        std::fs::remove_file(keys.join(name)).unwrap();
        std::fs::copy(from.root().join("keys").join(name), keys.join(name)).unwrap();
        std::fs::set_permissions(keys.join(name), std::fs::Permissions::from_mode(0o600)).unwrap();
        saved
    };
    let restore = |name: &str, saved: Vec<u8>| {
        std::fs::write(keys.join(name), saved).unwrap();
        std::fs::set_permissions(keys.join(name), std::fs::Permissions::from_mode(0o600)).unwrap();
    };

    // Another vault's key-encryption key.
    let saved = swap("kek-1.key", &other);
    refused(&t, "wrong key files");
    restore("kek-1.key", saved);
    // Another vault's index secret, and log key.
    let saved = swap("index.key", &other);
    refused(&t, "not this vault's index secret");
    restore("index.key", saved);
    let saved = swap("log.key", &other);
    refused(&t, "not signed by the log key");
    restore("log.key", saved);
    // Readable by others.
    std::fs::set_permissions(
        keys.join("kek-1.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    refused(&t, "chmod 600");
    std::fs::set_permissions(
        keys.join("kek-1.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // Missing.
    let saved = std::fs::read(keys.join("kek-1.key")).unwrap();
    std::fs::remove_file(keys.join("kek-1.key")).unwrap();
    refused(&t, "does not exist");
    restore("kek-1.key", saved);
    let saved = std::fs::read(keys.join("log.key")).unwrap();
    std::fs::remove_file(keys.join("log.key")).unwrap();
    refused(&t, "does not exist");
    restore("log.key", saved);

    // All restored: the vault opens and reads.
    t.reopen();
    let id = t.v().list(&sluis_vault::Filter::default()).unwrap()[0]
        .id
        .clone();
    assert_eq!(t.v().read(&id, &t.v().actor("a"), "test").unwrap().bytes, b);
}

#[test]
fn a_log_key_of_another_origin_is_refused() {
    let mut t = TestVault::new();
    t.close();
    let dir = tempfile::tempdir().unwrap();
    drop(Vault::init(&dir.path().join("o"), Some("other.test/vault")).unwrap());
    let name = "log.key";
    std::fs::remove_file(t.root().join("keys").join(name)).unwrap();
    std::fs::copy(
        dir.path().join("o/keys").join(name),
        t.root().join("keys").join(name),
    )
    .unwrap();
    std::fs::set_permissions(
        t.root().join("keys").join(name),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    refused(&t, "the log key is for origin \"other.test/vault\"");
}

#[test]
fn init_refuses_a_directory_in_use() {
    let t = TestVault::new();
    let err = Vault::init(&t.root(), None).unwrap_err();
    assert!(matches!(err, VaultError::State(_)), "{err}");
    let not_a_vault = tempfile::tempdir().unwrap();
    let err = Vault::open(not_a_vault.path()).unwrap_err();
    assert!(err.to_string().contains("not a sluis vault"), "{err}");
}
