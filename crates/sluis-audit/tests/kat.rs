//! Known answers (the RFC 6962 test vectors used by Certificate Transparency implementations),
//! and every proof checked a second way by the `ct-merkle` crate.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof};
use sluis_audit::merkle::{self, Edge, Hash, MemoryTree, Prover, leaf_hash};

use crate::common::{TestLog, record};

type CtTree = MemoryBackedTree<sha2_ct::Sha256, Vec<u8>>;

fn leaves() -> Vec<Vec<u8>> {
    vec![
        vec![],
        vec![0x00],
        vec![0x10],
        vec![0x20, 0x21],
        vec![0x30, 0x31],
        vec![0x40, 0x41, 0x42, 0x43],
        (0x50..0x58).collect(),
        (0x60..0x70).collect(),
    ]
}

fn h(hex: &str) -> Hash {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    Hash(out)
}

const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn roots_of_the_rfc6962_vectors_from_memory_edge_and_disk() {
    let mut edge = Edge::new();
    let mut tree = MemoryTree::new();
    let t = TestLog::new();
    assert_eq!(edge.root(), h(ROOTS[0]));
    assert_eq!(t.log().root(0).unwrap(), h(ROOTS[0]));
    for (i, leaf) in leaves().into_iter().enumerate() {
        edge.append(leaf_hash(&leaf));
        tree.push(leaf_hash(&leaf));
        t.log().append(leaf).unwrap();
        let size = i as u64 + 1;
        assert_eq!(edge.root(), h(ROOTS[i + 1]), "edge, size {size}");
        assert_eq!(
            Prover::new(&tree, size).root().unwrap(),
            h(ROOTS[i + 1]),
            "prover, size {size}"
        );
        // The log's signed checkpoint carries the vector root.
        let cp = sluis_audit::checkpoint::verify(&t.log().checkpoint(), t.log().verifier(), &[])
            .unwrap();
        assert_eq!(
            (cp.size, cp.root),
            (size, h(ROOTS[i + 1])),
            "checkpoint, size {size}"
        );
    }
}

#[test]
fn inclusion_and_consistency_proofs_of_the_vectors() {
    let mut tree = MemoryTree::new();
    for leaf in leaves() {
        tree.push(leaf_hash(&leaf));
    }
    let hs = |v: &[&str]| v.iter().map(|x| h(x)).collect::<Vec<_>>();
    // (index, size, proof)
    let inclusion: [(u64, u64, Vec<Hash>); 5] = [
        (0, 1, vec![]),
        (
            0,
            8,
            hs(&[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]),
        ),
        (
            5,
            8,
            hs(&[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]),
        ),
        (
            2,
            3,
            hs(&["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        ),
        (
            1,
            5,
            hs(&[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]),
        ),
    ];
    for (index, size, want) in inclusion {
        let got = Prover::new(&tree, size).inclusion(index).unwrap();
        assert_eq!(got, want, "inclusion of {index} in {size}");
        let leaf = tree.leaves()[usize::try_from(index).unwrap()];
        merkle::verify_inclusion(
            &got,
            size,
            h(ROOTS[usize::try_from(size).unwrap()]),
            index,
            leaf,
        )
        .unwrap();
    }
    // (old, size, proof)
    let consistency: [(u64, u64, Vec<Hash>); 4] = [
        (1, 1, vec![]),
        (
            1,
            8,
            hs(&[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]),
        ),
        (
            6,
            8,
            hs(&[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]),
        ),
        (
            2,
            5,
            hs(&[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]),
        ),
    ];
    for (old, size, want) in consistency {
        let got = Prover::new(&tree, size).consistency(old).unwrap();
        assert_eq!(got, want, "consistency {old} -> {size}");
        let (r_old, r_new) = (
            h(ROOTS[usize::try_from(old).unwrap()]),
            h(ROOTS[usize::try_from(size).unwrap()]),
        );
        merkle::verify_consistency(&got, size, r_new, old, r_old).unwrap();
        // A wrong old root does not verify.
        assert!(
            merkle::verify_consistency(&got, size, r_new, old, h(ROOTS[0])).is_err() || old == size
        );
    }
}

fn concat(proof: &[Hash]) -> Vec<u8> {
    proof.iter().flat_map(|h| h.0).collect()
}

/// Every inclusion proof of a log of 700 entries (three levels of tiles, partial tiles at two)
/// and consistency proofs between many sizes, as the log serves them from disk, are verified by
/// ct-merkle and equal ct-merkle's own proofs.
#[test]
fn proofs_from_disk_agree_with_ct_merkle() {
    let t = TestLog::new();
    let mut ct = CtTree::new();
    let mut cts: Vec<CtTree> = vec![CtTree::new()];
    for i in 0..700u64 {
        let e = record(i);
        t.log().append(e.clone()).unwrap();
        ct.push(e);
        if [1, 2, 3, 255, 256, 257, 511, 512, 600].contains(&(i + 1)) {
            cts.push(ct.clone());
        }
    }
    let size = 700u64;
    let root = t.log().root(size).unwrap();
    assert_eq!(ct.root().as_bytes().as_slice(), &root.0);
    for index in 0..size {
        let ours = t.log().inclusion_proof(index, size).unwrap();
        let theirs = ct.prove_inclusion(usize::try_from(index).unwrap());
        assert_eq!(
            theirs.as_bytes(),
            concat(&ours).as_slice(),
            "inclusion of {index}"
        );
        let entry = t.log().entry(index).unwrap();
        ct.root()
            .verify_inclusion(&entry, index, &InclusionProof::from_bytes(concat(&ours)))
            .unwrap();
        merkle::verify_inclusion(&ours, size, root, index, leaf_hash(&entry)).unwrap();
    }
    for old in cts.iter().skip(1) {
        let old_size = old.len();
        let ours = t.log().consistency_proof(old_size, size).unwrap();
        let theirs = ct.prove_consistency(usize::try_from(size - old_size).unwrap());
        assert_eq!(
            theirs.as_bytes(),
            concat(&ours).as_slice(),
            "consistency from {old_size}"
        );
        ct.root()
            .verify_consistency(
                &old.root(),
                &ConsistencyProof::try_from_bytes(concat(&ours)).unwrap(),
            )
            .unwrap();
        let old_root = t.log().root(old_size).unwrap();
        assert_eq!(old.root().as_bytes().as_slice(), &old_root.0);
        merkle::verify_consistency(&ours, size, root, old_size, old_root).unwrap();
    }
    // Proofs for an older tree size, served after the log has grown past it.
    let old_size = 300u64;
    let old_root = t.log().root(old_size).unwrap();
    for index in [0, 1, 255, 256, 299] {
        let p = t.log().inclusion_proof(index, old_size).unwrap();
        merkle::verify_inclusion(
            &p,
            old_size,
            old_root,
            index,
            leaf_hash(&t.log().entry(index).unwrap()),
        )
        .unwrap();
    }
}
