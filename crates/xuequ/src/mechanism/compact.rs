//! Order-preserving packing of 128-bit priority keys into 64 bits.
//!
//! Which of two keys is smaller is decided by the most significant bit where they differ. If
//! every key of a market differs from one reference key only in a set `V` of bit positions,
//! two keys of the market can only differ inside `V`, so keeping the bits in `V` (in their
//! order of significance) and dropping the others keeps every comparison, ties included. When
//! `V` has at most 64 bits the kept bits fit in a `u64`. The allocator's keys are a few
//! fields (tier, distance, in-tier rank, lottery) each much narrower than its slot, so `V`
//! is a few runs of contiguous bits and packing is a shift and a mask per run.

use super::PriorityKey;

/// One run of contiguous kept bits: the bits `mask << from` of the key go to bit `to` up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    from: u32,
    mask: u64,
    to: u32,
}

/// Packs 128-bit keys that differ only in at most 64 known bit positions into `u64`s that
/// compare exactly as the keys do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPacking {
    /// Least significant first.
    runs: Vec<Run>,
}

impl KeyPacking {
    /// The packing that keeps the bit positions set in `varying`, or `None` when more than 64
    /// are set.
    ///
    /// It preserves the order of any two keys that differ only in those positions, for
    /// example keys each equal to one reference key outside `varying`.
    pub fn new(varying: u128) -> Option<Self> {
        if varying.count_ones() > 64 {
            return None;
        }
        let mut runs = Vec::new();
        let mut rest = varying;
        let mut to = 0;
        while rest != 0 {
            let from = rest.trailing_zeros();
            // At most 64 ones in all, so a run's width fits a u64 mask.
            let width = (!(rest >> from)).trailing_zeros();
            let mask = u64::MAX >> (64 - width);
            runs.push(Run { from, mask, to });
            rest &= !(u128::from(mask) << from);
            to += width;
        }
        Some(KeyPacking { runs })
    }

    /// The packing of `keys`: keeps the bit positions where some key differs from the first.
    /// `None` when more than 64 positions vary (the keys need all 128 bits).
    pub fn of_keys(keys: impl IntoIterator<Item = PriorityKey>) -> Option<Self> {
        let mut keys = keys.into_iter();
        let Some(first) = keys.next() else {
            return Some(KeyPacking::default());
        };
        let varying = keys.fold(0u128, |v, k| v | (k.0 ^ first.0));
        KeyPacking::new(varying)
    }

    /// The packed key.
    #[inline]
    pub fn pack(&self, key: PriorityKey) -> u64 {
        self.runs.iter().fold(0u64, |packed, run| {
            packed | ((((key.0 >> run.from) as u64) & run.mask) << run.to)
        })
    }

    /// How many bit positions are kept.
    pub fn bits(&self) -> u32 {
        self.runs.iter().map(|r| r.mask.count_ones()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_a_mask() {
        let p = KeyPacking::new(0b1100_0111_0000).unwrap_or_default();
        assert_eq!(
            p.runs,
            vec![
                Run {
                    from: 4,
                    mask: 0b111,
                    to: 0
                },
                Run {
                    from: 10,
                    mask: 0b11,
                    to: 3
                },
            ]
        );
        assert_eq!(p.pack(PriorityKey(0b1001_0101_1111)), 0b10_101);
        assert_eq!(p.bits(), 5);
    }

    #[test]
    fn sixty_four_bits_fit_and_sixty_five_do_not() {
        let top = KeyPacking::new(u128::from(u64::MAX) << 64).unwrap_or_default();
        assert_eq!(top.pack(PriorityKey(0xdead_beef << 64 | 77)), 0xdead_beef);
        let spread = (0..64).fold(0u128, |m, i| m | 1 << (2 * i));
        assert_eq!(KeyPacking::new(spread).map(|p| p.bits()), Some(64));
        assert_eq!(KeyPacking::new(spread | 2), None);
        assert_eq!(KeyPacking::new(u128::MAX), None);
        assert_eq!(KeyPacking::new(0), Some(KeyPacking::default()));
        assert_eq!(KeyPacking::default().pack(PriorityKey(12345)), 0);
    }

    #[test]
    fn of_keys_finds_the_varying_bits() {
        assert_eq!(KeyPacking::of_keys([]), Some(KeyPacking::default()));
        let keys = [
            PriorityKey(5 << 96 | 3),
            PriorityKey(5 << 96 | 9),
            PriorityKey(4 << 96 | 3),
        ];
        let p = KeyPacking::of_keys(keys).unwrap_or_default();
        // Bits 1 and 3 (3 ^ 9 = 0b1010) and bit 96 (5 ^ 4).
        assert_eq!(p.bits(), 3);
        assert_eq!(keys.map(|k| p.pack(k)), [0b1_01, 0b1_10, 0b0_01]);
        let wide = [PriorityKey(0), PriorityKey(u128::MAX >> 63)];
        assert_eq!(KeyPacking::of_keys(wide), None);
    }
}
