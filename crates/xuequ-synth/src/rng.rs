//! The one random source: ChaCha20 from `rand_chacha`, seeded explicitly.
//!
//! Every draw goes through [`Rand`], which only uses integer arithmetic, exact `f64`
//! conversions, `+ - * /` and `sqrt` (all correctly rounded in IEEE 754), never `exp`, `ln`
//! or `cos`, whose last bit may differ between platform maths libraries. The same seed
//! therefore gives the same bytes on every platform.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// What a stream is used for; each (copy of the city, purpose) pair has its own ChaCha
/// stream, so changing how one part draws never shifts the numbers of another part.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purpose {
    /// District layout: towns, blocks, schools, zones, capacities.
    Layout = 0,
    /// Applicants and seat locks.
    Students = 1,
    /// Which blocks are new and how many applicants live where.
    Demand = 2,
    /// The road network.
    Roads = 3,
}

/// A seeded ChaCha20 generator with the few distributions the generator needs.
pub(crate) struct Rand(ChaCha20Rng);

impl Rand {
    /// The stream for `purpose` in copy `copy` of the city, from the run's `seed`.
    pub(crate) fn new(seed: u64, copy: u32, purpose: Purpose) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        rng.set_stream((u64::from(copy) << 8) | purpose as u64);
        Rand(rng)
    }

    /// A uniform `u64`.
    #[inline]
    pub(crate) fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)`, 53 random bits.
    #[inline]
    pub(crate) fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    #[inline]
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Uniform integer in `0..n` (`n > 0`), by the widening multiply (bias below 2^-64 × n).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform integer in `lo..=hi`.
    #[inline]
    pub(crate) fn int(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// `true` with probability `p`.
    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Approximately standard normal: Irwin–Hall sum of four uniforms, rescaled
    /// (bounded at ±3.46; no transcendental functions).
    #[inline]
    pub(crate) fn normal(&mut self) -> f64 {
        let s = self.f64() + self.f64() + self.f64() + self.f64();
        (s - 2.0) * 1.732_050_807_568_877_2
    }

    /// A right-skewed factor with mean 1 on `[0.35, 2.95]`: `0.35 + 2.6·u₁·u₂`.
    #[inline]
    pub(crate) fn skewed(&mut self) -> f64 {
        0.35 + 2.6 * self.f64() * self.f64()
    }

    /// An index drawn with probability proportional to `weights` (cumulative sums
    /// precomputed in `cum`, last element = total > 0).
    #[inline]
    pub(crate) fn pick_cum(&mut self, cum: &[f64]) -> usize {
        let total = cum.last().copied().unwrap_or(0.0);
        let x = self.f64() * total;
        cum.partition_point(|&c| c <= x).min(cum.len().saturating_sub(1))
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = {
            let mut r = Rand::new(7, 0, Purpose::Layout);
            (0..4).map(|_| r.u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rand::new(7, 0, Purpose::Layout);
            (0..4).map(|_| r.u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rand::new(7, 0, Purpose::Students);
            (0..4).map(|_| r.u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn distributions_stay_in_range() {
        let mut r = Rand::new(1, 0, Purpose::Layout);
        for _ in 0..10_000 {
            let u = r.f64();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(7) < 7);
            let i = r.int(3, 5);
            assert!((3..=5).contains(&i));
            assert!(r.normal().abs() < 3.5);
            let s = r.skewed();
            assert!((0.35..=2.95).contains(&s));
            let k = r.pick_cum(&[1.0, 1.0, 3.0]);
            assert!(k == 0 || k == 2);
        }
    }
}
