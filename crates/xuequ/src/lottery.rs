//! Reproducible lotteries (电脑随机派位) from the published seed.
//!
//! The generator is ChaCha20 (`rand_chacha::ChaCha20Rng`) keyed with the seed's eight
//! little-endian bytes followed by 24 zero bytes; each draw is one `next_u64` (two 32-bit
//! words). Anyone holding the seed and the applicant list can recompute every number with
//! any ChaCha20 implementation:
//!
//! - **Single lottery** (one number per applicant, used at every school): sort the stage's
//!   student ids bytewise; the applicant at position `i` draws the `i`-th value of stream
//!   [`stage_stream`]. Lottery numbers are the ranks `1..=n` by `(draw, student_id)`.
//! - **Multiple lottery** (an independent draw at each school): a school's applicants,
//!   sorted by student id, draw consecutive values of stream [`school_stream`] (the school's
//!   position among all school ids sorted bytewise); ranks as above, per school.
//!
//! The result does not depend on the order of rows in the files or on the thread count.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::model::Stage;

/// The ChaCha20 generator of a seed, positioned at the start of `stream`.
pub fn generator(seed: u64, stream: u64) -> ChaCha20Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = ChaCha20Rng::from_seed(key);
    rng.set_stream(stream);
    rng
}

/// Stream of a stage's single lottery: 1 kindergarten, 2 primary, 3 junior.
pub fn stage_stream(stage: Stage) -> u64 {
    stage.index() as u64 + 1
}

/// Stream of one school's draw in the multiple lottery.
pub fn school_stream(stage: Stage, school_ordinal: u32) -> u64 {
    ((stage_stream(stage)) << 32) | (u64::from(school_ordinal) + 1)
}

/// Draws `n` consecutive values from the start of a stream, in parallel chunks.
pub fn draws(seed: u64, stream: u64, n: usize) -> Vec<u64> {
    let mut out = vec![0u64; n];
    draw_into(seed, stream, &mut out, |slot, value, _| *slot = value);
    out
}

/// Puts the `i`-th value of the stream into `out[i]` with `put(slot, value, i)`, in parallel
/// chunks each starting the stream at its own position.
fn draw_into<T: Send>(seed: u64, stream: u64, out: &mut [T], put: impl Fn(&mut T, u64, usize) + Sync) {
    const CHUNK: usize = 1 << 14;
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
        let mut rng = generator(seed, stream);
        rng.set_word_pos((c * CHUNK * 2) as u128);
        for (k, slot) in chunk.iter_mut().enumerate() {
            put(slot, rng.next_u64(), c * CHUNK + k);
        }
    });
}

/// Ranks `1..=n` of `n` applicants sorted by id, by `(draw, position)`; returns the rank of
/// each position.
pub fn ranks_of_sorted(seed: u64, stream: u64, n: usize) -> Vec<u32> {
    let mut rank = vec![0u32; n];
    for (r, &i) in draw_order(seed, stream, n).iter().enumerate() {
        rank[i as usize] = r as u32 + 1;
    }
    rank
}

/// Positions `0..n` in the order they draw: by their draw, ties by position.
fn draw_order(seed: u64, stream: u64, n: usize) -> Vec<u32> {
    // Sorted as (draw, position) pairs side by side: a comparison reads both keys in place
    // instead of fetching two draws from all over the array. Ids are sorted, so the position
    // breaks draw ties exactly as the id would. The pairs are drawn in place, without a
    // list of the draws alone.
    let mut keyed: Vec<(u64, u32)> = vec![(0, 0); n];
    draw_into(seed, stream, &mut keyed, |slot, value, i| *slot = (value, i as u32));
    keyed.par_sort_unstable();
    keyed.into_par_iter().map(|(_, i)| i).collect()
}

/// The single-lottery numbers of a stage's applicants, given in any order; returns each
/// applicant's number in the order given.
pub fn single_lottery(seed: u64, stage: Stage, ids: &[&str]) -> Vec<u32> {
    lottery_in_id_order(seed, stage, &id_order(ids))
}

/// Positions of `ids` sorted bytewise by id (the order in which applicants draw).
pub fn id_order(ids: &[&str]) -> Vec<u32> {
    id_order_of(ids.len(), |i| ids[i])
}

/// [`id_order`] of the `n` ids that `id` gives by position.
pub(crate) fn id_order_of<'a>(n: usize, id: impl Fn(usize) -> &'a str + Sync) -> Vec<u32> {
    // Files usually list applicants in id order: checking that costs one pass over the ids
    // and no memory, where the sort below first builds 32 bytes of keys per applicant.
    if (1..n).into_par_iter().all(|i| id(i - 1).as_bytes() <= id(i).as_bytes()) {
        return (0..n as u32).collect();
    }
    // Sort by a 16-byte big-endian prefix first (exact for ids up to 16 bytes), falling
    // back to the whole id on equal prefixes.
    let prefix = |id: &str| {
        let mut k = [0u8; 16];
        let n = id.len().min(16);
        k[..n].copy_from_slice(&id.as_bytes()[..n]);
        u128::from_be_bytes(k)
    };
    let mut keyed: Vec<(u128, u32)> = (0..n).into_par_iter().map(|i| (prefix(id(i)), i as u32)).collect();
    keyed.par_sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| id(a.1 as usize).as_bytes().cmp(id(b.1 as usize).as_bytes()))
    });
    keyed.into_par_iter().map(|(_, i)| i).collect()
}

/// Single-lottery numbers for applicants whose id order is `order` (from [`id_order`]);
/// returns each applicant's number by original position.
pub fn lottery_in_id_order(seed: u64, stage: Stage, order: &[u32]) -> Vec<u32> {
    // The applicant at id position `pos` draws number r + 1 when `pos` comes r-th in the draw
    // order ([`ranks_of_sorted`], with its two scatters made one).
    let mut out = vec![0u32; order.len()];
    for (r, &pos) in draw_order(seed, stage_stream(stage), order.len()).iter().enumerate() {
        out[order[pos as usize] as usize] = r as u32 + 1;
    }
    out
}

/// The seed of Monte Carlo draw `k` (k = 0, 1, …): the `k`-th value of stream
/// [`MONTE_CARLO_STREAM`] of the published seed.
pub fn monte_carlo_seed(seed: u64, k: u64) -> u64 {
    let mut rng = generator(seed, MONTE_CARLO_STREAM);
    rng.set_word_pos(u128::from(k) * 2);
    rng.next_u64()
}

/// The stream that derives Monte Carlo seeds ("MC").
pub const MONTE_CARLO_STREAM: u64 = 0x4d43;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// The id order equals a plain byte-wise sort by id (the stable index order breaks
        /// no ties: ids of one stage are distinct), whether the ids come sorted, reversed
        /// or shuffled, and for ids longer than the 16-byte prefix.
        #[test]
        fn id_order_is_the_byte_order_of_the_ids(
            mut ids in proptest::collection::hash_set("[A-Z]{0,3}[0-9]{0,20}", 0..200),
            arrangement in 0u8..3,
        ) {
            let mut ids: Vec<String> = ids.drain().collect();
            match arrangement {
                0 => ids.sort(),
                1 => ids.sort_by(|a, b| b.cmp(a)),
                _ => {}
            }
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let mut expected: Vec<u32> = (0..ids.len() as u32).collect();
            expected.sort_by(|&a, &b| refs[a as usize].as_bytes().cmp(refs[b as usize].as_bytes()));
            prop_assert_eq!(id_order(&refs), expected);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The applicant at id position `pos` draws the rank of `pos` in the draw: the one
        /// scatter of [`lottery_in_id_order`] equals ranking first and scattering after.
        #[test]
        fn numbers_in_id_order_are_the_ranks_scattered(
            seed in any::<u64>(),
            keys in proptest::collection::vec(any::<u32>(), 0..300),
        ) {
            let mut order: Vec<u32> = (0..keys.len() as u32).collect();
            order.sort_by_key(|&i| keys[i as usize]);
            let ranks = ranks_of_sorted(seed, stage_stream(Stage::Junior), order.len());
            let mut expected = vec![0u32; order.len()];
            for (pos, &i) in order.iter().enumerate() {
                expected[i as usize] = ranks[pos];
            }
            prop_assert_eq!(lottery_in_id_order(seed, Stage::Junior, &order), expected);
        }
    }

    #[test]
    fn lottery_is_a_permutation_independent_of_input_order() {
        let ids = ["S3", "S1", "S2", "S10", "S5"];
        let a = single_lottery(42, Stage::Primary, &ids);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, vec![1, 2, 3, 4, 5]);
        let rev: Vec<&str> = ids.iter().rev().copied().collect();
        let b = single_lottery(42, Stage::Primary, &rev);
        let b_rev: Vec<u32> = b.into_iter().rev().collect();
        assert_eq!(a, b_rev);
        assert_ne!(
            single_lottery(43, Stage::Primary, &ids),
            a,
            "another seed should draw differently (5! orders)"
        );
    }

    #[test]
    fn chunked_draws_match_one_sequential_stream() {
        let n = (1 << 14) * 2 + 17;
        let chunked = draws(7, 2, n);
        let mut rng = generator(7, 2);
        let sequential: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
        assert_eq!(chunked, sequential);
    }

    #[test]
    fn chacha_key_layout_is_the_documented_one() {
        // ChaCha20 with an all-zero key and nonce starts with the RFC 7539 test-vector
        // keystream 76 b8 e0 ad a0 f1 3d 90 ...; seed 0 gives the all-zero key, stream 0.
        let mut rng = generator(0, 0);
        assert_eq!(
            rng.next_u64().to_le_bytes(),
            [0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90]
        );
    }
}
