//! Oracle, differential and property tests for the mechanisms.
//!
//! - Deferred acceptance against a brute force that enumerates every feasible matching of
//!   small markets and picks the student-optimal stable one.
//! - Deferred acceptance against the textbook, round-by-round version (every free student
//!   proposes at once, every program keeps its best applicants and rejects the rest) on
//!   larger markets, where programs have many seats and the fast version's bookkeeping of
//!   each program's worst held applicants is exercised.
//! - Immediate acceptance and serial dictatorship against literal, round-by-round reference
//!   implementations.
//! - Property tests: feasibility, stability and non-wastefulness of deferred acceptance, the
//!   Ergin–Sönmez characterisation of the Boston mechanism, and stability of serial
//!   dictatorship with respect to its global order.
//! - Every oracle check runs the mechanisms on 128-bit keys, on the same market with its keys
//!   packed into 64 bits where at most 64 bit positions vary ([`KeyPacking`]), and on `u64`
//!   keys made by ranking the keys (which needs no packing). Property tests check that packed
//!   keys order exactly as the originals at every program, and that more than 64 varying bits
//!   are refused.

#![allow(clippy::unwrap_used)]

use proptest::collection::vec;
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use super::deferred::deferred_acceptance_with;
use super::{
    KeyPacking, Market, MarketKey, Matching, PriorityKey, UNPLACED, deferred_acceptance, immediate_acceptance,
    serial_dictatorship,
};

/// Builds a market from per-student lists of `(program, key)`, most preferred first.
pub(super) fn market(capacity: &[u32], lists: &[&[(u32, u128)]]) -> Market {
    let mut m = Market {
        capacity: capacity.to_vec(),
        list_start: vec![0],
        ..Market::default()
    };
    for list in lists {
        for &(p, key) in *list {
            m.list_program.push(p);
            m.list_key.push(PriorityKey(key));
        }
        m.list_start.push(m.list_program.len() as u32);
    }
    m
}

/// The market with its keys packed into 64 bits, when at most 64 bit positions vary.
fn packed(market: &Market) -> Option<Market<u64>> {
    let packing = KeyPacking::of_keys(market.list_key.iter().copied())?;
    Some(Market {
        capacity: market.capacity.clone(),
        list_start: market.list_start.clone(),
        list_program: market.list_program.clone(),
        list_key: market.list_key.iter().map(|&k| packing.pack(k)).collect(),
    })
}

/// The market with every key replaced by its rank among the market's distinct keys: `u64`
/// keys in the same order, made without [`KeyPacking`].
fn ranked(market: &Market) -> Market<u64> {
    let mut distinct = market.list_key.clone();
    distinct.sort_unstable();
    distinct.dedup();
    Market {
        capacity: market.capacity.clone(),
        list_start: market.list_start.clone(),
        list_program: market.list_program.clone(),
        list_key: market
            .list_key
            .iter()
            .map(|k| distinct.binary_search(k).unwrap() as u64)
            .collect(),
    }
}

/// Every `u64` form of the market: ranked, and packed when that applies.
fn u64_forms(market: &Market) -> Vec<(&'static str, Market<u64>)> {
    let mut forms = vec![("ranked", ranked(market))];
    forms.extend(packed(market).map(|m| ("packed", m)));
    forms
}

/// The priority key of the student ranked `rank` at a program, with random low bits.
///
/// The top ranks share the upper 64 bits and differ only in the lower ones, later ranks
/// differ in the upper half: both halves of the comparison get exercised. Keys stay below
/// 2^(62 + 7), leaving room for [`boston_priorities`] to prepend a list position.
fn rank_key(rank: u32, noise: u64) -> u128 {
    assert!(rank < 128, "test markets have fewer than 128 students");
    (u128::from(rank) << 62) | u128::from(noise >> 2)
}

/// Assembles a market: `lists[s]` is a shuffled program list and how much of it to keep,
/// `ranks[p]` a permutation of the students (rank order at `p`).
fn assemble(capacity: Vec<u32>, lists: &[(Vec<u32>, usize)], ranks: &[Vec<u32>], noise: &[u64]) -> Market {
    let programs = capacity.len();
    let students = lists.len();
    let mut rank_of = vec![vec![0u32; students]; programs];
    for (p, order) in ranks.iter().enumerate() {
        for (rank, &s) in order.iter().enumerate() {
            rank_of[p][s as usize] = rank as u32;
        }
    }
    let mut m = Market {
        capacity,
        list_start: vec![0],
        ..Market::default()
    };
    for (s, (shuffled, len)) in lists.iter().enumerate() {
        for &p in &shuffled[..*len] {
            m.list_program.push(p);
            let key = rank_key(rank_of[p as usize][s], noise[s * programs + p as usize]);
            m.list_key.push(PriorityKey(key));
        }
        m.list_start.push(m.list_program.len() as u32);
    }
    m
}

/// Seeded ChaCha8 generator of small random markets.
struct Gen(ChaCha8Rng);

impl Gen {
    fn new(seed: u64) -> Self {
        Gen(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in `0..n` (modulo bias is irrelevant here).
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }

    fn shuffled(&mut self, n: usize) -> Vec<u32> {
        let mut v: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            v.swap(i, self.below(i + 1));
        }
        v
    }

    /// A random market; with `conflict`, every program has seats, lists are long and
    /// programs favour the students who rank them lowest (ties at random), which makes
    /// markets with several stable matchings common.
    fn market(&mut self, max_students: usize, max_programs: usize, max_capacity: u32, conflict: bool) -> Market {
        let (students, programs) = if conflict {
            // Crowded enough to compete: at least three students and two programs.
            (
                3.min(max_students) + self.below(max_students.saturating_sub(2).max(1)),
                2.min(max_programs) + self.below(max_programs.saturating_sub(1).max(1)),
            )
        } else {
            (self.below(max_students + 1), 1 + self.below(max_programs))
        };
        // In conflict markets every program has a seat and lists are long.
        let capacity = (0..programs)
            .map(|_| {
                let c = self.below(max_capacity as usize + 1) as u32;
                if conflict { c.max(1) } else { c }
            })
            .collect();
        let lists: Vec<_> = (0..students)
            .map(|_| {
                let len = if conflict {
                    programs - self.below(2).min(programs - 1)
                } else {
                    self.below(programs + 1)
                };
                (self.shuffled(programs), len)
            })
            .collect();
        let mut ranks: Vec<_> = (0..programs).map(|_| self.shuffled(students)).collect();
        if conflict {
            for (p, order) in ranks.iter_mut().enumerate() {
                // Stable sort keeps the random order among students ranking p alike.
                order.sort_by_key(|&s| {
                    let (shuffled, _) = &lists[s as usize];
                    std::cmp::Reverse(shuffled.iter().position(|&q| q as usize == p))
                });
            }
        }
        let noise: Vec<_> = (0..students * programs).map(|_| self.0.next_u64()).collect();
        assemble(capacity, &lists, &ranks, &noise)
    }
}

/// Proptest strategy for markets with up to the given sizes.
fn arb_market(max_students: usize, max_programs: usize, max_capacity: u32) -> impl Strategy<Value = Market> {
    (0..=max_students, 1..=max_programs)
        .prop_flat_map(move |(students, programs)| {
            let all_programs: Vec<u32> = (0..programs as u32).collect();
            let all_students: Vec<u32> = (0..students as u32).collect();
            (
                vec(0..=max_capacity, programs),
                vec((Just(all_programs).prop_shuffle(), 0..=programs), students),
                vec(Just(all_students).prop_shuffle(), programs),
                vec(any::<u64>(), students * programs),
            )
        })
        .prop_map(|(capacity, lists, ranks, noise)| assemble(capacity, &lists, &ranks, &noise))
}

/// A market and a random permutation of its students.
fn arb_market_and_order() -> impl Strategy<Value = (Market, Vec<u32>)> {
    arb_market(30, 6, 4).prop_flat_map(|m| {
        let order: Vec<u32> = (0..m.students() as u32).collect();
        (Just(m), Just(order).prop_shuffle())
    })
}

/// Student `s`'s list as `(program, key)` pairs.
fn list(market: &Market, s: usize) -> Vec<(usize, u128)> {
    market
        .list_range(s)
        .map(|i| (market.list_program[i] as usize, market.list_key[i].0))
        .collect()
}

/// Panics unless every student has at most one seat, at a listed program, and no program is
/// over capacity.
fn assert_feasible(market: &Market, matching: &Matching) {
    assert_eq!(matching.position.len(), market.students(), "one entry per student");
    let mut taken = vec![0u32; market.programs()];
    for (s, &pos) in matching.position.iter().enumerate() {
        if pos != UNPLACED {
            assert!(
                (pos as usize) < list(market, s).len(),
                "student {s} got an unlisted seat"
            );
            taken[matching.program(market, s).unwrap() as usize] += 1;
        }
    }
    for (p, (&t, &cap)) in taken.iter().zip(&market.capacity).enumerate() {
        assert!(t <= cap, "program {p} holds {t} students for {cap} seats");
    }
}

/// The programs each student holds, and the students (with their keys) each program holds.
fn holders(market: &Market, position: &[u32]) -> Vec<Vec<(usize, u128)>> {
    let mut held = vec![Vec::new(); market.programs()];
    for (s, &pos) in position.iter().enumerate() {
        if pos != UNPLACED {
            let (p, key) = list(market, s)[pos as usize];
            held[p].push((s, key));
        }
    }
    held
}

/// The first `(student, program)` where the student lists the program above their seat (or
/// is unplaced) and the program has a free seat.
fn wasted_seat(market: &Market, position: &[u32]) -> Option<(usize, usize)> {
    let held = holders(market, position);
    (0..market.students()).find_map(|s| {
        let list = list(market, s);
        let better = (position[s] as usize).min(list.len());
        list[..better]
            .iter()
            .find(|&&(p, _)| held[p].len() < market.capacity[p] as usize)
            .map(|&(p, _)| (s, p))
    })
}

/// The first blocking pair `(student, program)`: the student lists the program above their
/// seat (or is unplaced) and the program has a free seat or holds someone with a worse key.
fn blocking_pair(market: &Market, position: &[u32]) -> Option<(usize, usize)> {
    let held = holders(market, position);
    (0..market.students()).find_map(|s| {
        let list = list(market, s);
        let better = (position[s] as usize).min(list.len());
        list[..better]
            .iter()
            .find(|&&(p, key)| {
                held[p].len() < market.capacity[p] as usize || held[p].iter().any(|&(_, other)| other > key)
            })
            .map(|&(p, _)| (s, p))
    })
}

/// Every feasible matching (listed programs only, capacities respected), by backtracking.
fn all_feasible(market: &Market) -> Vec<Vec<u32>> {
    fn go(market: &Market, s: usize, seats: &mut Vec<u32>, current: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
        if s == market.students() {
            out.push(current.clone());
            return;
        }
        current.push(UNPLACED);
        go(market, s + 1, seats, current, out);
        current.pop();
        for (pos, (p, _)) in list(market, s).into_iter().enumerate() {
            if seats[p] > 0 {
                seats[p] -= 1;
                current.push(pos as u32);
                go(market, s + 1, seats, current, out);
                current.pop();
                seats[p] += 1;
            }
        }
    }
    let mut out = Vec::new();
    go(market, 0, &mut market.capacity.clone(), &mut Vec::new(), &mut out);
    out
}

/// Deferred acceptance as in Gale and Shapley's paper: in each round every free student
/// proposes to the next program on their list, then every program keeps its best
/// applicants (by key, then student) among those it held and the new ones, up to its
/// seats, and rejects the rest. Ends when no rejected student has a program left.
fn deferred_reference(market: &Market) -> Vec<u32> {
    let students = market.students();
    let lists: Vec<_> = (0..students).map(|s| list(market, s)).collect();
    let mut next = vec![0usize; students];
    let mut holds: Vec<Vec<(u128, usize)>> = vec![Vec::new(); market.programs()];
    let mut free: Vec<usize> = (0..students).filter(|&s| !lists[s].is_empty()).collect();
    while !free.is_empty() {
        for &s in &free {
            let (p, key) = lists[s][next[s]];
            holds[p].push((key, s));
            next[s] += 1;
        }
        free.clear();
        for (p, held) in holds.iter_mut().enumerate() {
            held.sort_unstable();
            let seats = (market.capacity[p] as usize).min(held.len());
            free.extend(held.drain(seats..).map(|(_, s)| s));
        }
        free.retain(|&s| next[s] < lists[s].len());
    }
    let mut position = vec![UNPLACED; students];
    for held in &holds {
        for &(_, s) in held {
            position[s] = next[s] as u32 - 1;
        }
    }
    position
}

/// How the keys of a [`wide_market`] are drawn.
#[derive(Debug, Clone, Copy)]
enum Keys {
    /// Random, distinct at every program by construction (the student index is the low part).
    Distinct,
    /// From a handful of values: ties everywhere, broken by the student index.
    Ties,
    /// Equal upper halves, random lower halves: every comparison reaches the lower half.
    LowerHalf,
    /// Later students are better everywhere: every arrival displaces someone.
    LaterBetter,
    /// Later students are worse everywhere: full programs reject every later arrival.
    LaterWorse,
    /// Laid out as the allocator's keys: a tier, an in-tier rank and a lottery number, each
    /// far narrower than its 32-bit slot (they pack into 64 bits).
    Fields,
}

impl Keys {
    const ALL: [Keys; 6] = [
        Keys::Distinct,
        Keys::Ties,
        Keys::LowerHalf,
        Keys::LaterBetter,
        Keys::LaterWorse,
        Keys::Fields,
    ];
}

/// A market with `lists[s]` = (shuffled programs, how many to keep), `capacity`, and keys
/// drawn as `keys` says from `noise` (one value per student and program).
fn wide_market(capacity: Vec<u32>, lists: &[(Vec<u32>, usize)], keys: Keys, noise: &[u64]) -> Market {
    let programs = capacity.len();
    let students = lists.len() as u128;
    let mut m = Market {
        capacity,
        list_start: vec![0],
        ..Market::default()
    };
    for (s, (shuffled, len)) in lists.iter().enumerate() {
        for &p in &shuffled[..*len] {
            let r = noise[s * programs + p as usize];
            let key = match keys {
                Keys::Distinct => u128::from(r) << 64 | s as u128,
                Keys::Ties => u128::from(r % 3),
                Keys::LowerHalf => 7 << 64 | u128::from(r),
                Keys::LaterBetter => students - s as u128,
                Keys::LaterWorse => s as u128,
                Keys::Fields => {
                    u128::from(r % 5) << 96 | (u128::from(r >> 40) % 300) << 32 | (u128::from(r >> 20) % 5000)
                }
            };
            m.list_program.push(p);
            m.list_key.push(PriorityKey(key));
        }
        m.list_start.push(m.list_program.len() as u32);
    }
    m
}

/// Proptest strategy for markets of up to 200 students and 8 programs whose capacities range
/// from none to more seats than applicants.
fn arb_wide_market() -> impl Strategy<Value = Market> {
    let keys = proptest::sample::select(&Keys::ALL[..]);
    (0..=200usize, 1..=8usize, keys)
        .prop_flat_map(|(students, programs, keys)| {
            let all_programs: Vec<u32> = (0..programs as u32).collect();
            let capacity = prop_oneof![Just(0u32), 1..=12u32, 1..=80u32, Just(u32::MAX)];
            (
                vec(capacity, programs),
                vec((Just(all_programs).prop_shuffle(), 0..=programs), students),
                Just(keys),
                vec(any::<u64>(), students * programs),
            )
        })
        .prop_map(|(capacity, lists, keys, noise)| wide_market(capacity, &lists, keys, &noise))
}

/// The Boston mechanism as literally as possible: round by round, program by program.
fn immediate_reference(market: &Market) -> Vec<u32> {
    let students = market.students();
    let lists: Vec<_> = (0..students).map(|s| list(market, s)).collect();
    let rounds = lists.iter().map(Vec::len).max().unwrap_or(0);
    let mut position = vec![UNPLACED; students];
    let mut seats = market.capacity.clone();
    for k in 0..rounds {
        for (p, seats) in seats.iter_mut().enumerate() {
            let mut applicants: Vec<(u128, usize)> = (0..students)
                .filter(|&s| position[s] == UNPLACED && k < lists[s].len() && lists[s][k].0 == p)
                .map(|s| (lists[s][k].1, s))
                .collect();
            applicants.sort();
            for (_, s) in applicants {
                if *seats > 0 {
                    *seats -= 1;
                    position[s] = k as u32;
                }
            }
        }
    }
    position
}

/// Serial dictatorship as literally as possible: each student in turn counts the seats the
/// earlier students took and picks the first listed program with one left.
fn serial_reference(market: &Market, order: &[u32]) -> Vec<u32> {
    let mut program_of: Vec<Option<usize>> = vec![None; market.students()];
    let mut position = vec![UNPLACED; market.students()];
    for (turn, &s) in order.iter().enumerate() {
        let s = s as usize;
        for (pos, (p, _)) in list(market, s).into_iter().enumerate() {
            let taken = order[..turn]
                .iter()
                .filter(|&&t| program_of[t as usize] == Some(p))
                .count();
            if taken < market.capacity[p] as usize {
                program_of[s] = Some(p);
                position[s] = pos as u32;
                break;
            }
        }
    }
    position
}

/// Ergin–Sönmez priorities: a program ranks students first by the list position at which
/// they listed it, then by their key.
fn boston_priorities(market: &Market) -> Market {
    let mut m = market.clone();
    for s in 0..m.students() {
        for (pos, i) in m.list_range(s).enumerate() {
            let key = m.list_key[i].0;
            assert!(key < 1 << 100, "room for the list position");
            m.list_key[i] = PriorityKey((pos as u128) << 100 | key);
        }
    }
    m
}

/// The same market with every program ranking students by their place in `order`.
fn global_priorities(market: &Market, order: &[u32]) -> Market {
    let mut rank = vec![0u128; market.students()];
    for (r, &s) in order.iter().enumerate() {
        rank[s as usize] = r as u128;
    }
    let mut m = market.clone();
    for (s, &rank) in rank.iter().enumerate() {
        for i in m.list_range(s) {
            m.list_key[i] = PriorityKey(rank);
        }
    }
    m
}

#[test]
fn deferred_acceptance_is_the_student_optimal_stable_matching() {
    let mut rng = Gen::new(0x5EED_00DA);
    let cases = 2000;
    let mut with_choice = 0;
    for case in 0..cases {
        let market = rng.market(6, 4, 2, case % 2 == 1);
        let stable: Vec<Vec<u32>> = all_feasible(&market)
            .into_iter()
            .filter(|m| blocking_pair(&market, m).is_none())
            .collect();
        assert!(!stable.is_empty(), "case {case}: no stable matching in {market:?}");
        let optimal: Vec<&Vec<u32>> = stable
            .iter()
            .filter(|a| stable.iter().all(|b| a.iter().zip(b).all(|(x, y)| x <= y)))
            .collect();
        assert_eq!(optimal.len(), 1, "case {case}: no unique student-optimal matching");
        let da = deferred_acceptance(&market);
        assert_eq!(&da.position, optimal[0], "case {case}: {market:?}");
        let with_heaps = deferred_acceptance_with(&market, 0);
        assert_eq!(&with_heaps.position, optimal[0], "case {case}, heaps: {market:?}");
        for (form, m) in u64_forms(&market) {
            assert_eq!(&deferred_acceptance(&m).position, optimal[0], "case {case}, {form}");
            assert_eq!(
                &deferred_acceptance_with(&m, 0).position,
                optimal[0],
                "case {case}, {form}, heaps"
            );
        }
        // Rural hospitals theorem: the same students are unplaced in every stable matching.
        for m in &stable {
            let unplaced = |p: &[u32]| p.iter().map(|&x| x == UNPLACED).collect::<Vec<_>>();
            assert_eq!(unplaced(m), unplaced(&da.position), "case {case}");
        }
        if stable.len() > 1 {
            with_choice += 1;
        }
    }
    // The oracle is only worth something if many markets have several stable matchings.
    assert!(with_choice >= cases / 20, "only {with_choice} cases with a choice");
}

#[test]
fn deferred_acceptance_matches_the_textbook_rounds_on_large_markets() {
    // Hundreds of seats per program and a few thousand students: long bodies and tails,
    // many rebuilds and displacement chains.
    let mut rng = Gen::new(0xDA_0B16);
    for case in 0..40 {
        let students = 500 + rng.below(2500);
        let programs = 2 + rng.below(30);
        let capacity = (0..programs)
            .map(|_| match rng.below(10) {
                0 => 0,
                1 => 1 + rng.below(8) as u32,
                _ => rng.below(2 * students / programs + 1) as u32,
            })
            .collect();
        let lists: Vec<_> = (0..students)
            .map(|_| (rng.shuffled(programs), rng.below(programs.min(12) + 1)))
            .collect();
        assert_matches_the_reference(&mut rng, capacity, &lists, Keys::ALL[case % Keys::ALL.len()], case);
    }
}

#[test]
fn deferred_acceptance_matches_the_textbook_rounds_around_the_heap_size() {
    // Programs just below, at and above the size from which the fast version keeps a heap.
    let mut rng = Gen::new(0xDA_4EA9);
    for case in 0..10 {
        let students = 2000 + rng.below(4000);
        let programs = 2 + rng.below(4);
        let capacity = (0..programs)
            .map(|_| [1023, 1024, 1025, 1500, 3000][rng.below(5)])
            .collect();
        let lists: Vec<_> = (0..students)
            .map(|_| (rng.shuffled(programs), 1 + rng.below(programs)))
            .collect();
        assert_matches_the_reference(&mut rng, capacity, &lists, Keys::ALL[case % Keys::ALL.len()], case);
    }
}

/// Draws the keys' noise, builds the market and checks the fast version against the rounds.
fn assert_matches_the_reference(
    rng: &mut Gen,
    capacity: Vec<u32>,
    lists: &[(Vec<u32>, usize)],
    keys: Keys,
    case: usize,
) {
    let noise: Vec<u64> = (0..lists.len() * capacity.len()).map(|_| rng.0.next_u64()).collect();
    let market = wide_market(capacity, lists, keys, &noise);
    let reference = deferred_reference(&market);
    assert_eq!(deferred_acceptance(&market).position, reference, "case {case}");
    for (form, m) in u64_forms(&market) {
        assert_eq!(deferred_acceptance(&m).position, reference, "case {case}, {form}");
    }
}

#[test]
fn deferred_reference_is_the_brute_force_optimum() {
    // The textbook rounds are themselves checked against the brute force on small markets.
    let mut rng = Gen::new(0x7E47_B00C);
    for case in 0..500 {
        let market = rng.market(6, 4, 3, case % 2 == 1);
        let stable: Vec<Vec<u32>> = all_feasible(&market)
            .into_iter()
            .filter(|m| blocking_pair(&market, m).is_none())
            .collect();
        let optimal = stable
            .iter()
            .find(|a| stable.iter().all(|b| a.iter().zip(b).all(|(x, y)| x <= y)))
            .unwrap();
        assert_eq!(&deferred_reference(&market), optimal, "case {case}: {market:?}");
    }
}

#[test]
fn immediate_acceptance_matches_the_reference() {
    let mut rng = Gen::new(0xB057_000B);
    for case in 0..1000 {
        let market = rng.market(30, 6, 4, case % 2 == 1);
        let got = immediate_acceptance(&market);
        let reference = immediate_reference(&market);
        assert_eq!(got.position, reference, "case {case}: {market:?}");
        for (form, m) in u64_forms(&market) {
            assert_eq!(immediate_acceptance(&m).position, reference, "case {case}, {form}");
        }
    }
}

#[test]
fn serial_dictatorship_matches_the_reference() {
    let mut rng = Gen::new(0x5E71_A100);
    for case in 0..1000 {
        let market = rng.market(30, 6, 4, case % 2 == 1);
        let order = rng.shuffled(market.students());
        let got = serial_dictatorship(&market, &order);
        let reference = serial_reference(&market, &order);
        assert_eq!(got.position, reference, "case {case}");
        assert_eq!(
            serial_dictatorship(&ranked(&market), &order).position,
            reference,
            "case {case}"
        );
    }
}

#[test]
fn brute_force_oracle_sees_blocking_pairs() {
    // Student 0 is unplaced while program 0 has a free seat; then student 1 (key 1) holds the
    // seat student 0 (key 0) wants.
    let m = market(&[1], &[&[(0, 0)], &[(0, 1)]]);
    assert_eq!(wasted_seat(&m, &[UNPLACED, UNPLACED]), Some((0, 0)));
    assert_eq!(blocking_pair(&m, &[UNPLACED, 0]), Some((0, 0)));
    assert_eq!(wasted_seat(&m, &[UNPLACED, 0]), None);
    assert_eq!(blocking_pair(&m, &[0, UNPLACED]), None);
    assert_eq!(all_feasible(&m).len(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_mechanism_is_feasible((market, order) in arb_market_and_order()) {
        assert_feasible(&market, &deferred_acceptance(&market));
        assert_feasible(&market, &immediate_acceptance(&market));
        assert_feasible(&market, &serial_dictatorship(&market, &order));
    }

    #[test]
    fn deferred_acceptance_is_stable(market in arb_market(30, 6, 4)) {
        let da = deferred_acceptance(&market);
        prop_assert_eq!(blocking_pair(&market, &da.position), None);
    }

    #[test]
    fn deferred_acceptance_is_non_wasteful(market in arb_market(30, 6, 4)) {
        let da = deferred_acceptance(&market);
        prop_assert_eq!(wasted_seat(&market, &da.position), None);
    }

    #[test]
    fn deferred_acceptance_ignores_student_order(
        (market, order) in arb_market_and_order(),
    ) {
        // Renumber the students by `order`: the matching is the same, renumbered.
        let lists: Vec<Vec<(u32, u128)>> = order
            .iter()
            .map(|&s| list(&market, s as usize).into_iter().map(|(p, k)| (p as u32, k)).collect())
            .collect();
        let slices: Vec<&[(u32, u128)]> = lists.iter().map(Vec::as_slice).collect();
        let renumbered = deferred_acceptance(&self::market(&market.capacity, &slices));
        let original = deferred_acceptance(&market);
        for (new, &old) in order.iter().enumerate() {
            prop_assert_eq!(renumbered.position[new], original.position[old as usize]);
        }
    }

    #[test]
    fn immediate_acceptance_is_deferred_acceptance_with_boston_priorities(
        market in arb_market(30, 6, 4),
    ) {
        let boston = immediate_acceptance(&market);
        let da = deferred_acceptance(&boston_priorities(&market));
        prop_assert_eq!(boston.position, da.position);
    }

    #[test]
    fn immediate_acceptance_rejections_are_justified(market in arb_market(30, 6, 4)) {
        // A student who applied to `p` in round `j` and was not admitted lost to a full
        // program: through round `j` it admitted its capacity, and everyone it admitted in
        // round `j` itself has a better key.
        let ia = immediate_acceptance(&market);
        let held = holders(&market, &ia.position);
        for s in 0..market.students() {
            let list = list(&market, s);
            let reached = (ia.position[s] as usize).min(list.len());
            for (j, &(p, key)) in list[..reached].iter().enumerate() {
                let admitted_by_j = held[p]
                    .iter()
                    .filter(|&&(t, _)| (ia.position[t] as usize) <= j)
                    .count();
                prop_assert_eq!(admitted_by_j, market.capacity[p] as usize);
                for &(t, other) in &held[p] {
                    if ia.position[t] as usize == j {
                        prop_assert!(other < key, "student {} beat {} unfairly", t, s);
                    }
                }
            }
        }
    }

    #[test]
    fn serial_dictatorship_is_stable_for_its_order((market, order) in arb_market_and_order()) {
        let sd = serial_dictatorship(&market, &order);
        let global = global_priorities(&market, &order);
        prop_assert_eq!(blocking_pair(&global, &sd.position), None);
        prop_assert_eq!(&sd.position, &deferred_acceptance(&global).position);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn deferred_acceptance_matches_the_textbook_rounds(market in arb_wide_market()) {
        let reference = deferred_reference(&market);
        prop_assert_eq!(&deferred_acceptance(&market).position, &reference);
        // With heaps from a handful of seats up.
        prop_assert_eq!(&deferred_acceptance_with(&market, 4).position, &reference);
        for (form, m) in u64_forms(&market) {
            prop_assert_eq!(&deferred_acceptance(&m).position, &reference, "{}", form);
            prop_assert_eq!(&deferred_acceptance_with(&m, 4).position, &reference, "{} with heaps", form);
        }
    }

    #[test]
    fn packed_keys_order_as_the_originals_at_every_program(
        (market, mask) in arb_masked_market(),
    ) {
        let varying = market
            .list_key
            .iter()
            .fold(0u128, |v, k| v | (k.0 ^ market.list_key[0].0));
        prop_assert_eq!(varying & !mask, 0, "keys vary only inside the mask");
        let Some(packed) = packed(&market) else {
            prop_assert!(varying.count_ones() > 64, "refused {} varying bits", varying.count_ones());
            prop_assert!(mask.count_ones() > 64);
            return Ok(());
        };
        prop_assert!(varying.count_ones() <= 64);
        // Every pair of applicants at every program compares alike, ties included.
        let mut at: Vec<Vec<usize>> = vec![Vec::new(); market.programs()];
        for (i, &p) in market.list_program.iter().enumerate() {
            at[p as usize].push(i);
        }
        for entries in &at {
            for &a in entries {
                for &b in entries {
                    prop_assert_eq!(
                        packed.list_key[a].cmp(&packed.list_key[b]),
                        market.list_key[a].cmp(&market.list_key[b]),
                        "{:#x} against {:#x}", market.list_key[a].0, market.list_key[b].0
                    );
                }
            }
        }
        // So the mechanisms that read keys give the same matchings.
        prop_assert_eq!(deferred_acceptance(&packed).position, deferred_acceptance(&market).position);
        prop_assert_eq!(immediate_acceptance(&packed).position, immediate_acceptance(&market).position);
    }
}

/// A random set of bit positions: one to five runs of contiguous bits anywhere in 128 bits,
/// so from a single bit to all 128 (about a third of the masks have more than 64).
fn arb_mask() -> impl Strategy<Value = u128> {
    vec((0..128u32, 1..=48u32), 1..=5).prop_map(|runs| {
        runs.into_iter().fold(0u128, |mask, (from, width)| {
            let run = if width >= 128 { u128::MAX } else { (1u128 << width) - 1 };
            mask | run << from
        })
    })
}

/// A market whose keys equal one random base outside a random mask and are random inside it
/// (values drawn from a few per market too, so ties are common), with the mask.
fn arb_masked_market() -> impl Strategy<Value = (Market, u128)> {
    (1..=40usize, 1..=5usize, arb_mask(), any::<u128>(), any::<bool>())
        .prop_flat_map(|(students, programs, mask, base, few)| {
            let all_programs: Vec<u32> = (0..programs as u32).collect();
            (
                vec(0..=6u32, programs),
                vec((Just(all_programs).prop_shuffle(), 1..=programs), students),
                vec(any::<u128>(), students * programs),
                Just((mask, base, few)),
            )
        })
        .prop_map(|(capacity, lists, noise, (mask, base, few))| {
            let mut m = Market {
                capacity,
                list_start: vec![0],
                ..Market::default()
            };
            let programs = m.capacity.len();
            for (s, (shuffled, len)) in lists.iter().enumerate() {
                for &p in &shuffled[..*len] {
                    let r = noise[s * programs + p as usize];
                    let r = if few { noise[r as usize % noise.len().min(4)] } else { r };
                    m.list_program.push(p);
                    m.list_key.push(PriorityKey(base & !mask | r & mask));
                }
                m.list_start.push(m.list_program.len() as u32);
            }
            (m, mask)
        })
}

#[test]
fn stored_keys_order_as_the_keys() {
    let keys = [
        0u128,
        1,
        u128::from(u64::MAX),
        1 << 64,
        (1 << 64) + 1,
        u128::MAX - 1,
        u128::MAX,
    ];
    for &a in &keys {
        for &b in &keys {
            assert_eq!(PriorityKey(a).stored().cmp(&PriorityKey(b).stored()), a.cmp(&b));
        }
        assert!(PriorityKey::BEST <= PriorityKey(a).stored() && PriorityKey(a).stored() <= PriorityKey::WORST);
    }
    assert_eq!((u64::BEST, u64::WORST), (0, u64::MAX));
}
