//! RFC 6962 / RFC 9162 Merkle trees over C2SP tlog-tiles.
//!
//! Hashing is SHA-256 with the RFC 6962 domain separation: a leaf hashes `0x00 || entry`, a node
//! `0x01 || left || right` (`tlog_tiles::record_hash` and `node_hash`). The tree is stored as
//! tiles of height 8: the tile at level *l*, index *n* holds the 256 hashes of the perfect
//! subtrees `MTH(D[(n*256 + i) * 256^l : (n*256 + i + 1) * 256^l])`.
//!
//! [`Edge`] is the log's own view while appending: the rightmost (partial) tile of every level,
//! from which the root of the current tree follows and the tiles that an append completes fall
//! out. Proofs are generated from tiles read through a [`TileHashes`] source, by the recursive
//! definitions of RFC 9162 §2.1.3 (inclusion) and §2.1.4 (consistency); they are verified with
//! the independent implementation in `tlog_tiles` (a port of Go's `sumdb/tlog`), and in the tests
//! a third time with the `ct-merkle` crate.

use thiserror::Error;
pub use tlog_tiles::Hash;

/// Hashes in a full tile.
pub const TILE_WIDTH: usize = 256;
/// Levels of the tree a tile spans.
pub const TILE_HEIGHT: u32 = 8;

/// The RFC 6962 hash of a log entry.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    tlog_tiles::record_hash(entry)
}

/// The RFC 6962 hash of an interior node.
pub fn node_hash(left: Hash, right: Hash) -> Hash {
    tlog_tiles::node_hash(left, right)
}

/// The root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = tlog_tiles::EMPTY_HASH;

/// The Merkle tree hash of a power-of-two number of consecutive perfect subtrees of equal size.
fn reduce(hashes: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| match p {
                [l, r] => node_hash(*l, *r),
                [one] => *one,
                _ => EMPTY_ROOT,
            })
            .collect();
    }
    level.first().copied().unwrap_or(EMPTY_ROOT)
}

/// A tile the last append completed: its level, index, and 256 hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct FullTile {
    /// Level of the tile.
    pub level: u8,
    /// Index within the level.
    pub index: u64,
    /// The 256 hashes.
    pub hashes: Vec<Hash>,
}

/// The right edge of a tiled tree: for each level, the hashes of its rightmost partial tile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Edge {
    size: u64,
    /// `levels[l]` holds `floor(size / 256^l) mod 256` hashes.
    levels: Vec<Vec<Hash>>,
}

impl Edge {
    /// The edge of the empty tree.
    pub fn new() -> Self {
        Edge::default()
    }

    /// Rebuilds an edge from the partial tiles of a tree of `size` entries; `levels[l]` must hold
    /// exactly `floor(size / 256^l) mod 256` hashes.
    pub fn from_partials(size: u64, levels: Vec<Vec<Hash>>) -> Result<Self, MerkleError> {
        let edge = Edge { size, levels };
        for (l, hashes) in edge.levels.iter().enumerate() {
            if hashes.len() != partial_width(size, l) {
                return Err(MerkleError::Malformed(format!(
                    "level {l} partial tile holds {} hashes, {} expected for size {size}",
                    hashes.len(),
                    partial_width(size, l)
                )));
            }
        }
        if (edge.levels.len()..64).any(|l| partial_width(size, l) != 0) {
            return Err(MerkleError::Malformed(format!(
                "partial tiles missing for size {size}"
            )));
        }
        Ok(edge)
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The partial tile hashes of each level, lowest first.
    pub fn levels(&self) -> &[Vec<Hash>] {
        &self.levels
    }

    /// Appends one leaf hash; returns the tiles this completed, lowest level first.
    pub fn append(&mut self, leaf: Hash) -> Vec<FullTile> {
        let mut done = Vec::new();
        let mut carry = leaf;
        let mut level = 0usize;
        self.size = self.size.saturating_add(1);
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::with_capacity(TILE_WIDTH));
            }
            let Some(tile) = self.levels.get_mut(level) else {
                break;
            };
            tile.push(carry);
            if tile.len() < TILE_WIDTH {
                break;
            }
            let hashes = std::mem::take(tile);
            carry = reduce(&hashes);
            // The completed tile's index: how many full tiles of this level there now are, less one.
            let index = (self.size >> (TILE_HEIGHT * u32::try_from(level + 1).unwrap_or(0)))
                .saturating_sub(1);
            done.push(FullTile {
                level: u8::try_from(level).unwrap_or(u8::MAX),
                index,
                hashes,
            });
            level += 1;
        }
        done
    }

    /// The root hash of the tree (RFC 6962 MTH of all entries).
    pub fn root(&self) -> Hash {
        // The perfect subtrees of the binary decomposition of the size, largest first: within
        // each level's partial tile, the runs of 128, 64, ..., 1 hashes the width decomposes into.
        let mut subtrees = Vec::new();
        for tile in self.levels.iter().rev() {
            let mut at = 0usize;
            for bit in (0..TILE_HEIGHT).rev() {
                let run = 1usize << bit;
                if tile.len() & run != 0 {
                    if let Some(chunk) = tile.get(at..at + run) {
                        subtrees.push(reduce(chunk));
                    }
                    at += run;
                }
            }
        }
        let mut iter = subtrees.into_iter().rev();
        let Some(mut root) = iter.next() else {
            return EMPTY_ROOT;
        };
        for left in iter {
            root = node_hash(left, root);
        }
        root
    }
}

/// How many hashes tile `index` at `level` holds in a tree of `size` entries: 256 for a full
/// tile, fewer for the rightmost, 0 for a tile beyond the tree.
pub fn tile_width(level: u8, index: u64, size: u64) -> usize {
    let at_level = size
        .checked_shr(u32::from(level) * TILE_HEIGHT)
        .unwrap_or(0);
    let first = index.saturating_mul(TILE_WIDTH as u64);
    usize::try_from(at_level.saturating_sub(first).min(TILE_WIDTH as u64)).unwrap_or(0)
}

/// Width of the partial tile at `level` for a tree of `size` entries.
pub fn partial_width(size: u64, level: usize) -> usize {
    let shift = u32::try_from(level)
        .unwrap_or(u32::MAX)
        .saturating_mul(TILE_HEIGHT);
    usize::try_from(size.checked_shr(shift).unwrap_or(0) % TILE_WIDTH as u64).unwrap_or(0)
}

/// Why a Merkle computation failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MerkleError {
    /// A tile could not be read.
    #[error("tile {level}/{index}: {reason}")]
    Tile {
        /// Level.
        level: u8,
        /// Index.
        index: u64,
        /// What went wrong.
        reason: String,
    },
    /// Inputs out of range or data malformed.
    #[error("{0}")]
    Malformed(String),
    /// A proof did not verify.
    #[error("proof does not verify: {0}")]
    Proof(String),
}

/// Reads tile hashes: full tiles, or the partial tiles of the tree a proof is for.
pub trait TileHashes {
    /// The hashes of tile `index` at `level`, for a tree of `size` entries (which decides whether
    /// the tile is full or partial, and how wide).
    fn tile(&self, level: u8, index: u64, size: u64) -> Result<Vec<Hash>, MerkleError>;
}

/// Proof generation over a tree of `size` entries.
pub struct Prover<'a, S: TileHashes + ?Sized> {
    source: &'a S,
    size: u64,
}

impl<'a, S: TileHashes + ?Sized> Prover<'a, S> {
    /// A prover for the tree of `size` entries.
    pub fn new(source: &'a S, size: u64) -> Self {
        Prover { source, size }
    }

    /// The `i`-th hash of `level` (the MTH of entries `[i * 256^level, (i + 1) * 256^level)`).
    fn hash_at(&self, level: u32, i: u64) -> Result<Hash, MerkleError> {
        let tile_index = i / TILE_WIDTH as u64;
        let tile = self.source.tile(
            u8::try_from(level).unwrap_or(u8::MAX),
            tile_index,
            self.size,
        )?;
        let at = usize::try_from(i % TILE_WIDTH as u64).unwrap_or(0);
        tile.get(at).copied().ok_or_else(|| MerkleError::Tile {
            level: u8::try_from(level).unwrap_or(u8::MAX),
            index: tile_index,
            reason: format!("holds {} hashes, hash {at} needed", tile.len()),
        })
    }

    /// `MTH(D[lo:hi])` for `lo < hi <= size`.
    pub fn subtree(&self, lo: u64, hi: u64) -> Result<Hash, MerkleError> {
        if lo >= hi || hi > self.size {
            return Err(MerkleError::Malformed(format!(
                "range {lo}..{hi} in a tree of {}",
                self.size
            )));
        }
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            let k = n.trailing_zeros();
            let level = k / TILE_HEIGHT;
            let run = 1u64 << (k % TILE_HEIGHT);
            let first = lo >> (level * TILE_HEIGHT);
            let mut hashes = Vec::with_capacity(usize::try_from(run).unwrap_or(0));
            for t in 0..run {
                hashes.push(self.hash_at(level, first + t)?);
            }
            return Ok(reduce(&hashes));
        }
        let k = largest_power_of_two_below(n);
        Ok(node_hash(
            self.subtree(lo, lo + k)?,
            self.subtree(lo + k, hi)?,
        ))
    }

    /// The root of the tree.
    pub fn root(&self) -> Result<Hash, MerkleError> {
        if self.size == 0 {
            return Ok(EMPTY_ROOT);
        }
        self.subtree(0, self.size)
    }

    /// The inclusion proof of entry `index` (RFC 9162 §2.1.3.1, leaf's sibling first).
    pub fn inclusion(&self, index: u64) -> Result<Vec<Hash>, MerkleError> {
        if index >= self.size {
            return Err(MerkleError::Malformed(format!(
                "entry {index} is not in a tree of {}",
                self.size
            )));
        }
        let mut proof = Vec::new();
        let (mut m, mut lo, mut hi) = (index, 0u64, self.size);
        let mut path = Vec::new();
        while hi - lo > 1 {
            let k = largest_power_of_two_below(hi - lo);
            if m < k {
                path.push((lo + k, hi));
                hi = lo + k;
            } else {
                path.push((lo, lo + k));
                m -= k;
                lo += k;
            }
        }
        for (a, b) in path.into_iter().rev() {
            proof.push(self.subtree(a, b)?);
        }
        Ok(proof)
    }

    /// The consistency proof from the tree of `old` entries to this one (RFC 9162 §2.1.4.1).
    pub fn consistency(&self, old: u64) -> Result<Vec<Hash>, MerkleError> {
        if old == 0 || old > self.size {
            return Err(MerkleError::Malformed(format!(
                "no consistency proof from {old} to {}",
                self.size
            )));
        }
        let mut ranges = Vec::new();
        let (mut m, mut lo, mut hi, mut b) = (old, 0u64, self.size, true);
        loop {
            let n = hi - lo;
            if m == n {
                if !b {
                    ranges.push((lo, hi));
                }
                break;
            }
            let k = largest_power_of_two_below(n);
            if m <= k {
                ranges.push((lo + k, hi));
                hi = lo + k;
            } else {
                ranges.push((lo, lo + k));
                m -= k;
                lo += k;
                b = false;
            }
        }
        ranges.reverse();
        ranges
            .into_iter()
            .map(|(a, z)| self.subtree(a, z))
            .collect()
    }
}

/// The largest power of two strictly below `n` (for `n >= 2`).
fn largest_power_of_two_below(n: u64) -> u64 {
    if n < 2 {
        return 0;
    }
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Checks that `proof` proves entry `index` with leaf hash `leaf` in the tree of `size` entries
/// with root `root` (verified by `tlog_tiles`, independently of [`Prover`]).
pub fn verify_inclusion(
    proof: &[Hash],
    size: u64,
    root: Hash,
    index: u64,
    leaf: Hash,
) -> Result<(), MerkleError> {
    tlog_tiles::check_record(&proof.to_vec(), size, root, index, leaf)
        .map_err(|e| MerkleError::Proof(e.to_string()))
}

/// Checks that `proof` proves the tree of `old` entries with root `old_root` is a prefix of the
/// tree of `size` entries with root `root`.
pub fn verify_consistency(
    proof: &[Hash],
    size: u64,
    root: Hash,
    old: u64,
    old_root: Hash,
) -> Result<(), MerkleError> {
    tlog_tiles::check_tree(&proof.to_vec(), size, root, old, old_root)
        .map_err(|e| MerkleError::Proof(e.to_string()))
}

/// A tree held in memory, for tests and for small logs: every leaf hash.
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    leaves: Vec<Hash>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        MemoryTree::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.leaves.push(leaf);
    }

    /// The leaf hashes.
    pub fn leaves(&self) -> &[Hash] {
        &self.leaves
    }
}

impl TileHashes for MemoryTree {
    fn tile(&self, level: u8, index: u64, size: u64) -> Result<Vec<Hash>, MerkleError> {
        let span = 1u64 << (u32::from(level) * TILE_HEIGHT);
        let first = index * TILE_WIDTH as u64;
        let width = tile_width(level, index, size) as u64;
        if width == 0 || size > self.leaves.len() as u64 {
            return Err(MerkleError::Tile {
                level,
                index,
                reason: "beyond the tree".into(),
            });
        }
        (first..first + width)
            .map(|i| {
                let lo = usize::try_from(i * span).unwrap_or(usize::MAX);
                let hi = usize::try_from((i + 1) * span).unwrap_or(usize::MAX);
                self.leaves
                    .get(lo..hi)
                    .map(reduce)
                    .ok_or_else(|| MerkleError::Tile {
                        level,
                        index,
                        reason: "beyond the tree".into(),
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_root_matches_prover_root_for_many_sizes() {
        let mut edge = Edge::new();
        let mut tree = MemoryTree::new();
        for i in 0u32..1300 {
            let leaf = leaf_hash(&i.to_be_bytes());
            edge.append(leaf);
            tree.push(leaf);
            let size = u64::from(i) + 1;
            if size < 300 || size % 97 == 0 || size == 1300 {
                assert_eq!(
                    edge.root(),
                    Prover::new(&tree, size).root().unwrap(),
                    "size {size}"
                );
            }
        }
    }

    #[test]
    fn completed_tiles_are_reported_once() {
        let mut edge = Edge::new();
        let mut done = Vec::new();
        for i in 0u32..(256 * 256 + 3) {
            done.extend(edge.append(leaf_hash(&i.to_be_bytes())));
        }
        assert_eq!(done.iter().filter(|t| t.level == 0).count(), 256);
        assert_eq!(done.iter().filter(|t| t.level == 1).count(), 1);
        assert_eq!(done.last().map(|t| (t.level, t.index)), Some((1, 0)));
        assert_eq!(edge.levels()[0].len(), 3);
        assert_eq!(edge.levels()[1].len(), 0);
        assert_eq!(edge.levels()[2].len(), 1);
    }
}
