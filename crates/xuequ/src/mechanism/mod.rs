//! Matching mechanisms over a flat, integer-indexed market.
//!
//! The allocator turns a city's applicants into a [`Market`]: every student has an ordered
//! list of programs (seat pools), and at each listed program a strict priority key (smaller is
//! better). The mechanisms here know nothing about cities, tiers or lotteries; they only read
//! the market.
//!
//! - [`deferred_acceptance`]: student-proposing deferred acceptance (the default; 平行志愿 in
//!   the sense of a stable, strategy-proof match).
//! - [`immediate_acceptance`]: the Boston mechanism (顺序志愿): round k fills seats from
//!   k-th choices, and acceptances are final.
//! - [`serial_dictatorship`]: students in one global order each take their best program
//!   that still has a seat (平行志愿 by score).
//!
//! Keys are 128-bit [`PriorityKey`]s or plain `u64`s (any [`MarketKey`]). Keys are only ever
//! compared with each other, so a market whose keys vary in at most 64 bit positions can be
//! run on 64-bit keys instead ([`KeyPacking`]): half the bytes to read and move, and the same
//! matching.

mod compact;
mod deferred;
mod immediate;
mod serial;
#[cfg(test)]
mod tests;

pub use compact::KeyPacking;
pub use deferred::deferred_acceptance;
pub use immediate::immediate_acceptance;
pub use serial::serial_dictatorship;

/// A strict priority at one program: smaller is better.
///
/// The allocator packs `(tier, in-tier order, lottery, student)` into one `u128`, so keys of
/// two different students never compare equal at the same program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PriorityKey(pub u128);

/// A priority key the mechanisms accept: totally ordered, smaller is better.
///
/// The mechanisms keep keys in their own records as [`MarketKey::Stored`], a form with the
/// same order and at most 8-byte alignment, so a record of a 128-bit key and two `u32`s
/// takes 24 bytes instead of the 32 a 16-byte-aligned `u128` would round it up to.
pub trait MarketKey: Copy + Ord + Send + Sync + std::fmt::Debug {
    /// The stored form: `a.stored() < b.stored()` exactly when `a < b`.
    type Stored: Copy + Ord + Default + std::fmt::Debug;
    /// The smallest stored key (no key is better).
    const BEST: Self::Stored;
    /// The largest stored key (no key is worse).
    const WORST: Self::Stored;
    /// The key in its stored form.
    fn stored(self) -> Self::Stored;
}

impl MarketKey for PriorityKey {
    /// Upper then lower 64 bits: pairs compare lexicographically, as the `u128` does.
    type Stored = (u64, u64);
    const BEST: (u64, u64) = (0, 0);
    const WORST: (u64, u64) = (u64::MAX, u64::MAX);

    #[inline]
    fn stored(self) -> (u64, u64) {
        ((self.0 >> 64) as u64, self.0 as u64)
    }
}

impl MarketKey for u64 {
    type Stored = u64;
    const BEST: u64 = 0;
    const WORST: u64 = u64::MAX;

    #[inline]
    fn stored(self) -> u64 {
        self
    }
}

/// Marks "no list position" / "unplaced" in [`Matching::position`].
pub const UNPLACED: u32 = u32::MAX;

/// A market in compressed-sparse-row form, with priority keys of type `K`.
///
/// Student `s` ranks the programs `list_program[list_start[s]..list_start[s + 1]]`, most
/// preferred first, and has priority `list_key[i]` at program `list_program[i]`.
/// A program appears at most once in a student's list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Market<K = PriorityKey> {
    /// Seats of each program.
    pub capacity: Vec<u32>,
    /// Offsets into `list_program` / `list_key`; length = students + 1, starts at 0.
    pub list_start: Vec<u32>,
    /// The program at each list position.
    pub list_program: Vec<u32>,
    /// The student's priority at the program at the same list position.
    pub list_key: Vec<K>,
}

impl<K> Market<K> {
    /// Number of students.
    pub fn students(&self) -> usize {
        self.list_start.len().saturating_sub(1)
    }

    /// Number of programs.
    pub fn programs(&self) -> usize {
        self.capacity.len()
    }

    /// The list positions of student `s` (indices into `list_program` / `list_key`).
    pub fn list_range(&self, s: usize) -> std::ops::Range<usize> {
        self.list_start[s] as usize..self.list_start[s + 1] as usize
    }
}

/// The outcome of a mechanism: for each student, the position in their own list that they
/// were assigned (0 = first choice), or [`UNPLACED`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Matching {
    /// Assigned list position per student, relative to the student's own list.
    pub position: Vec<u32>,
}

impl Matching {
    /// The program student `s` got, if any.
    pub fn program<K>(&self, market: &Market<K>, s: usize) -> Option<u32> {
        let pos = self.position[s];
        (pos != UNPLACED).then(|| market.list_program[market.list_start[s] as usize + pos as usize])
    }
}
