//! Fuzzes the station's OpenPGP adapter for vendor signatures. The first byte picks: even,
//! the rest is a vendor's key file; odd, the rest is a detached signature checked against a
//! fixed certificate over a fixed release. No panic, no unbounded allocation; only a signature
//! by that certificate's key over exactly that release may verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluis_gate::vendor::{OpenPgp, VendorVerifier};

/// A certificate made with `gpg --quick-gen-key 'Fuzz Vendor <fuzz@vendor.example>' ed25519`
/// for this target (its secret key was thrown away).
const CERT: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEaxdljhYJKwYBBAHaRw8BAQdAoXiWYA1iSZUVMJICpmVCtkNcOX0L2nLioPL1\n9uSOhOW0IUZ1enogVmVuZG9yIDxmdXp6QHZlbmRvci5leGFtcGxlPoiPBBMWCAA4\nFiEEzugoC9JRmlDRw8qxQ2PwygT/w3oFAmsXZY4CGwMFCwkIBwIGFQoJCAsCBBYC\nAwECHgECF4AACgkQQ2PwygT/w3oQ5gDzBk19D+zNeusk6Ppjtg8c5YPTxUTCBTrC\nAobeNF5EBQEA7UCluU8vBA+sT1kEitIhYNvjTeTrLbwOuhqYcduRtAM=\n=eU+F\n-----END PGP PUBLIC KEY BLOCK-----";
const RELEASE: &[u8] = b"sluis fuzz release\n";

fuzz_target!(|input: &[u8]| {
    let Some((&first, rest)) = input.split_first() else {
        return;
    };
    if first % 2 == 0 {
        if let Ok(v) = OpenPgp::from_certificates(rest) {
            let _ = v.verify(&mut &RELEASE[..], rest);
        }
    } else {
        let v = OpenPgp::from_certificates(CERT.as_bytes()).expect("the fixed certificate reads");
        if let Ok(signed) = v.verify(&mut &RELEASE[..], rest) {
            assert_eq!(signed.key, v.fingerprints()[0]);
            // The same signature over other bytes must not verify.
            assert!(v.verify(&mut &b"sluis fuzz releasf\n"[..], rest).is_err());
        }
    }
});
