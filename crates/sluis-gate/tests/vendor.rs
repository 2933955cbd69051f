//! Vendor signatures made by Debian's `gpg`, as a vendor makes them, checked by the station's
//! OpenPGP adapter.

use std::path::{Path, PathBuf};
use std::process::Command;

use sluis_gate::vendor::{OpenPgp, VendorVerifier};

/// A throw-away GnuPG home with one vendor key; the agent is stopped when dropped.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Self {
        // Short path: the agent's socket must fit in sun_path.
        let home = tempfile::Builder::new()
            .prefix("g")
            .tempdir_in("/tmp")
            .unwrap();
        Self { home }
    }

    fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args([
                "--batch",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("gpg (Debian package gnupg) runs");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Makes a key and returns its fingerprint.
    fn key(&self, uid: &str, algo: &str) -> String {
        self.run(&["--quick-gen-key", uid, algo, "sign", "never"]);
        let listing = String::from_utf8(self.run(&["--with-colons", "--list-keys", uid])).unwrap();
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .map(|f| f.trim_end_matches(':').to_lowercase())
            .unwrap()
    }

    fn export(&self, uid: &str, armor: bool) -> Vec<u8> {
        if armor {
            self.run(&["--armor", "--export", uid])
        } else {
            self.run(&["--export", uid])
        }
    }

    fn sign(&self, uid: &str, file: &Path, extra: &[&str]) -> Vec<u8> {
        let out: PathBuf = file.with_extension(format!("sig{}", extra.len()));
        let _ = std::fs::remove_file(&out);
        let mut args = vec!["--local-user", uid, "--detach-sign", "--output"];
        let o = out.to_str().unwrap().to_string();
        args.push(&o);
        args.extend_from_slice(extra);
        let f = file.to_str().unwrap().to_string();
        args.push(&f);
        self.run(&args);
        std::fs::read(&out).unwrap()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

fn release(dir: &Path) -> PathBuf {
    let p = dir.join("xr-9000-4.2.1.pkg");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&p, bytes).unwrap();
    p
}

fn verify(v: &OpenPgp, file: &Path, sig: &[u8]) -> Result<String, String> {
    let mut f = std::fs::File::open(file).unwrap();
    v.verify(&mut f, sig)
        .map(|s| s.key)
        .map_err(|e| e.code().to_string())
}

#[test]
fn a_vendor_signature_made_by_gpg_verifies_and_nothing_else_does() {
    let gpg = Gpg::new();
    let fpr = gpg.key("Acme Releases <releases@acme.example>", "ed25519");
    let dir = tempfile::tempdir().unwrap();
    let file = release(dir.path());
    let v = OpenPgp::from_certificates(&gpg.export("releases@acme.example", true)).unwrap();
    assert_eq!(v.fingerprints(), std::slice::from_ref(&fpr));
    // Armored and binary signatures, armored and binary certificates.
    let armored = gpg.sign("releases@acme.example", &file, &["--armor"]);
    assert_eq!(verify(&v, &file, &armored), Ok(fpr.clone()));
    let binary = gpg.sign("releases@acme.example", &file, &[]);
    let v2 = OpenPgp::from_certificates(&gpg.export("releases@acme.example", false)).unwrap();
    assert_eq!(verify(&v2, &file, &binary), Ok(fpr.clone()));
    assert_eq!(
        v.verify(&mut std::fs::File::open(&file).unwrap(), &binary)
            .unwrap()
            .scheme,
        "openpgp"
    );
    // One byte of the release changed.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[150_000] ^= 1;
    let changed = dir.path().join("changed.pkg");
    std::fs::write(&changed, &bytes).unwrap();
    assert_eq!(
        verify(&v, &changed, &armored),
        Err("vendor.bad-signature".into())
    );
    // One byte longer.
    bytes[150_000] ^= 1;
    bytes.push(0);
    std::fs::write(&changed, &bytes).unwrap();
    assert_eq!(
        verify(&v, &changed, &armored),
        Err("vendor.bad-signature".into())
    );
    // A key the authority did not configure for this vendor.
    gpg.key("Someone Else <x@other.example>", "ed25519");
    let other = gpg.sign("x@other.example", &file, &[]);
    assert_eq!(
        verify(&v, &file, &other),
        Err("vendor.unknown-signer".into())
    );
    // Garbage, nothing, two signatures, a text-mode signature, a weak hash.
    assert_eq!(
        verify(&v, &file, b"not a signature"),
        Err("vendor.malformed".into())
    );
    assert_eq!(verify(&v, &file, b""), Err("vendor.malformed".into()));
    let two = [binary.clone(), binary.clone()].concat();
    assert_eq!(verify(&v, &file, &two), Err("vendor.malformed".into()));
    let text = gpg.sign("releases@acme.example", &file, &["--textmode"]);
    assert_eq!(
        verify(&v, &file, &text),
        Err("vendor.signature-type".into())
    );
    let sha1 = gpg.sign("releases@acme.example", &file, &["--digest-algo", "SHA1"]);
    assert_eq!(verify(&v, &file, &sha1), Err("vendor.weak-hash".into()));
    assert_eq!(
        verify(&v, &file, &vec![b'-'; 70_000]),
        Err("vendor.too-large".into())
    );
}

#[test]
fn a_signing_subkey_verifies_an_rsa_key_too_and_a_revoked_subkey_does_not() {
    let gpg = Gpg::new();
    let fpr = gpg.key("Beta Imaging <sign@beta.example>", "rsa3072");
    gpg.run(&["--quick-add-key", &fpr, "ed25519", "sign", "never"]);
    let dir = tempfile::tempdir().unwrap();
    let file = release(dir.path());
    let v = OpenPgp::from_certificates(&gpg.export("sign@beta.example", true)).unwrap();
    assert_eq!(v.fingerprints().len(), 2);
    // gpg signs with the newest signing subkey.
    let by_sub = gpg.sign("sign@beta.example", &file, &[]);
    let sub = verify(&v, &file, &by_sub).unwrap();
    assert_ne!(sub, fpr);
    // The primary (RSA) key, named with "!".
    let primary = format!("{fpr}!");
    let by_primary = gpg.sign(&primary, &file, &["--armor"]);
    assert_eq!(verify(&v, &file, &by_primary), Ok(fpr.clone()));
    // Revoke the subkey: the certificate exported now no longer lets it sign. (Through
    // --edit-key, its commands on the command fd: select subkey 1, revoke it, reason 0.)
    let revoked_export = {
        let out = Command::new("gpg")
            .env("GNUPGHOME", gpg.home.path())
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(["--command-fd", "0", "--status-fd", "2", "--edit-key", &fpr])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(b"key 1\nrevkey\ny\n0\n\ny\nsave\n")?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        gpg.export("sign@beta.example", true)
    };
    let v = OpenPgp::from_certificates(&revoked_export).unwrap();
    assert_eq!(v.fingerprints(), std::slice::from_ref(&fpr));
    assert_eq!(
        verify(&v, &file, &by_sub),
        Err("vendor.unknown-signer".into())
    );
}

#[test]
fn key_files_that_are_not_certificates_are_refused() {
    for bytes in [
        &b""[..],
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nzzzz\n",
        b"\x99\x00\x01",
    ] {
        let err = OpenPgp::from_certificates(bytes).unwrap_err();
        assert_eq!(err.code(), "vendor.keys", "{err}");
    }
    let err = OpenPgp::from_certificates(&vec![0u8; 2 << 20]).unwrap_err();
    assert_eq!(err.code(), "vendor.too-large");
}
