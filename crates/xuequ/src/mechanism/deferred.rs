//! Student-proposing deferred acceptance (Gale–Shapley).
//!
//! Every free student proposes to the next program on their list; a program tentatively holds
//! its best applicants up to its capacity and rejects the rest; a rejected (or displaced)
//! student proposes further down their list. When nobody is free with a program left to try,
//! the held applicants are admitted. The result is the student-optimal stable matching, which
//! is unique, and so is the set of proposals made: the order in which free students propose
//! changes neither.
//!
//! Implementation, tuned for a million students with ten choices each, where the time goes
//! into cache misses on the programs' held applicants:
//! - each program's held applicants sit in one flat, preallocated array, in a slot range
//!   sized by `min(seats, applications)`. While the program fills, an applicant is appended
//!   (one write, no ordering). Once full, the range is a body in no order followed by a
//!   "tail" of the program's worst held applicants (half its seats, at least eight, when
//!   built) sorted worst first, so the worst held (the one a better proposer displaces) is
//!   always at the body's end. A proposer
//!   better than every tail entry (the program's record keeps the tail's best, so this test
//!   reads no held entry) takes the freed slot and the body grows by one; otherwise they are
//!   inserted into the tail. Only when the tail runs out is it rebuilt by a
//!   linear-time selection over the range. A displacement thus touches one or two cache
//!   lines instead of a heap's path of about `log2(seats)` of them. Programs with more than
//!   1,024 seats keep a binary heap instead, where tail insertions would move too much;
//! - a held entry carries its list index and the end of its student's list, so a displaced
//!   student goes on proposing without looking up where their list is;
//! - a full program's worst held rank is copied into its small per-program record, so a
//!   rejection (the most common event) touches neither the held array nor any per-student
//!   array;
//! - proposals run in rounds: in round 0 every student proposes down their list until held;
//!   students displaced in round `r` propose again in round `r + 1`, sorted by list index
//!   (a radix sort), so each round reads the lists in address order instead of at random,
//!   and a chunk of proposers' first entries is read before any of them proposes, so those
//!   cache misses overlap.
//!
//! With `L` list entries and `C` seats at a program, a tail of `C / 2` entries is rebuilt in
//! `O(C)` after at least `C / 2` displacements and an insertion into it moves at most 512
//! entries, while a heap costs `O(log C)`; so the run takes `O(L log C)` plus a constant
//! bounded by 512 per held event, and `O(D)` for sorting the `D` displacements; it
//! needs `O(S + P + L / 64 + seats)` memory and allocates nothing per student or proposal.

use super::{Market, MarketKey, Matching, UNPLACED};

/// An applicant held by a program: their priority key in stored form (see
/// [`MarketKey::Stored`]: 16 bytes for a 128-bit key, 8 for a `u64`), the list index of this
/// application, and the end of their list.
///
/// Entries are ranked by `(key, index)`. List indices grow with the student index, so should
/// two students share a key at one program (breaking the market's contract), the lower
/// student index wins.
#[derive(Debug, Clone, Copy, Default)]
struct Held<S> {
    key: S,
    index: u32,
    end: u32,
}

impl<S: Copy + Ord> Held<S> {
    /// Smaller is better.
    #[inline]
    fn rank(&self) -> (S, u32) {
        (self.key, self.index)
    }
}

/// One program: its `cap` slots from `start` in the shared array, the rank of its worst
/// held applicant once full (the cutoff a proposer must beat) and the rank of the best
/// applicant in its tail (whether a proposer goes to the body or into the tail), so that
/// neither decision reads the held array.
///
/// While filling, `len` slots are held in arrival order. Once `full`, slots `..len` are the
/// body (any order) and `len..cap` the tail, sorted worst first. A program without seats is
/// full from the start, with a cutoff nobody beats; a program with seats starts with a
/// cutoff everybody beats (list indices stay below `u32::MAX`).
#[derive(Debug, Clone, Copy)]
struct Program<S> {
    cut: S,
    tail_best: S,
    cut_index: u32,
    tail_best_index: u32,
    start: u32,
    cap: u32,
    len: u32,
    full: bool,
}

impl<S: Copy + Ord> Program<S> {
    #[inline]
    fn cutoff(&self) -> (S, u32) {
        (self.cut, self.cut_index)
    }

    #[inline]
    fn set_cutoff(&mut self, h: &Held<S>) {
        self.cut = h.key;
        self.cut_index = h.index;
    }

    #[inline]
    fn tail_best(&self) -> (S, u32) {
        (self.tail_best, self.tail_best_index)
    }

    /// Makes `range` (this program's full slots) a body and a tail anew.
    #[inline]
    fn rebuild_tail(&mut self, range: &mut [Held<S>]) {
        self.len = build_tail(range);
        let best = range[range.len() - 1];
        self.tail_best = best.key;
        self.tail_best_index = best.index;
    }
}

/// Runs student-proposing deferred acceptance and returns the student-optimal stable matching.
///
/// A program holds its applicants in priority-key order (smaller is better); should two
/// students share a key at one program, the lower student index wins. Programs with no
/// seats reject everyone; students whose lists run out stay [`UNPLACED`].
///
/// # Panics
///
/// Panics if the market is malformed: `list_start` not ending at the length of
/// `list_program` / `list_key`, or a program index out of range.
pub fn deferred_acceptance<K: MarketKey>(market: &Market<K>) -> Matching {
    deferred_acceptance_with(market, HEAP_ABOVE)
}

/// [`deferred_acceptance`] where programs with more than `heap_above` seats (after sizing)
/// keep a heap; tests lower the size to check the heap on small markets.
pub(super) fn deferred_acceptance_with<K: MarketKey>(market: &Market<K>, heap_above: usize) -> Matching {
    let students = market.students();
    let list_start = &market.list_start;
    let entries = market.list_program.len();

    // A program never holds more applicants than its seats, the students, or the
    // applications it gets. Size the ranges by seats and students; only if that total could
    // exceed the number of list entries, count applications too, so the array never
    // outgrows the market (and offsets fit in `u32` like the list indices).
    let most = u32::try_from(students).unwrap_or(u32::MAX);
    let mut caps: Vec<u32> = market.capacity.iter().map(|&seats| seats.min(most)).collect();
    let seats: u64 = caps.iter().map(|&c| u64::from(c)).sum();
    if seats > entries as u64 {
        let mut applications = vec![0u32; caps.len()];
        for &p in &market.list_program {
            applications[p as usize] += 1;
        }
        for (cap, &a) in caps.iter_mut().zip(&applications) {
            *cap = (*cap).min(a);
        }
    }
    let mut next_start = 0u32;
    let mut programs: Vec<Program<K::Stored>> = caps
        .iter()
        .map(|&cap| {
            let (cut, cut_index) = if cap > 0 { (K::WORST, u32::MAX) } else { (K::BEST, 0) };
            let program = Program {
                cut,
                tail_best: cut,
                cut_index,
                tail_best_index: cut_index,
                start: next_start,
                cap,
                len: 0,
                full: cap == 0,
            };
            next_start += cap;
            program
        })
        .collect();
    let mut held = vec![Held::<K::Stored>::default(); next_start as usize];

    // Round 0, then one round per wave of displaced students, each sorted by list index.
    // Round 0 reads the lists in order; a later round reads its proposers' first entries a
    // chunk at a time before any of them proposes, so those scattered reads overlap instead
    // of each waiting behind the previous proposal.
    let mut proposers: Vec<(u32, u32)> = Vec::new();
    let mut displaced: Vec<(u32, u32)> = Vec::new();
    let mut radix_scratch: Vec<(u32, u32)> = Vec::new();
    for s in 0..students {
        let (i, end) = (list_start[s], list_start[s + 1]);
        if i < end {
            let first = (market.list_key[i as usize].stored(), market.list_program[i as usize]);
            propose(
                market,
                &mut programs,
                &mut held,
                (i, end),
                first,
                heap_above,
                &mut displaced,
            );
        }
    }
    let mut firsts = [(K::BEST, 0u32); GATHER];
    while !displaced.is_empty() {
        std::mem::swap(&mut proposers, &mut displaced);
        sort_by_index(&mut proposers, &mut radix_scratch, entries);
        for chunk in proposers.chunks(GATHER) {
            for (first, &(i, _)) in firsts.iter_mut().zip(chunk) {
                *first = (market.list_key[i as usize].stored(), market.list_program[i as usize]);
            }
            for (&first, &(i, end)) in firsts.iter().zip(chunk) {
                propose(
                    market,
                    &mut programs,
                    &mut held,
                    (i, end),
                    first,
                    heap_above,
                    &mut displaced,
                );
            }
        }
        proposers.clear();
    }

    // Mark the held list entries, then find each student's (at most one) marked entry.
    let mut taken = vec![0u64; entries.div_ceil(64)];
    for program in &programs {
        let start = program.start as usize;
        let holds = if program.full { program.cap } else { program.len };
        for h in &held[start..start + holds as usize] {
            taken[h.index as usize / 64] |= 1 << (h.index % 64);
        }
    }
    let position = (0..students)
        .map(|s| {
            let (start, end) = (list_start[s] as usize, list_start[s + 1] as usize);
            first_set(&taken, start, end).map_or(UNPLACED, |i| (i - start) as u32)
        })
        .collect();
    Matching { position }
}

/// Proposers of a later round whose first list entries are read before any of them proposes.
const GATHER: usize = 256;

/// One student proposes from list index `i < end` (their list ends at `end`; `first` is the
/// key and program at `i`) until held or out of programs. A student they displace is pushed
/// to `displaced` with their next list index, unless their list is exhausted.
#[inline]
fn propose<K: MarketKey>(
    market: &Market<K>,
    programs: &mut [Program<K::Stored>],
    held: &mut [Held<K::Stored>],
    (mut i, end): (u32, u32),
    first: (K::Stored, u32),
    heap_above: usize,
    displaced: &mut Vec<(u32, u32)>,
) {
    let (mut key, mut program_index) = first;
    loop {
        let applicant = Held { key, index: i, end };
        let program = &mut programs[program_index as usize];
        if applicant.rank() >= program.cutoff() {
            // Rejected: try the next program.
            i += 1;
            if i == end {
                return;
            }
            key = market.list_key[i as usize].stored();
            program_index = market.list_program[i as usize];
            continue;
        }
        let start = program.start as usize;
        let range = &mut held[start..start + program.cap as usize];
        if range.len() > heap_above {
            // A large program: a binary max-heap, worst on top.
            if program.full {
                let out = replace_top(range, applicant);
                if out.index + 1 < out.end {
                    displaced.push((out.index + 1, out.end));
                }
            } else {
                sift_up(range, program.len as usize, applicant);
                program.len += 1;
                program.full = program.len == program.cap;
            }
            if program.full {
                program.set_cutoff(&range[0]);
            }
            return;
        }
        if !program.full {
            range[program.len as usize] = applicant;
            program.len += 1;
            if program.len == program.cap {
                program.full = true;
                program.rebuild_tail(range);
                program.set_cutoff(&range[program.len as usize]);
            }
            return;
        }
        // Full: the worst held, first in the tail, is displaced.
        let worst = program.len as usize;
        let out = range[worst];
        if out.index + 1 < out.end {
            displaced.push((out.index + 1, out.end));
        }
        let last = range.len() - 1;
        if worst == last || applicant.rank() < program.tail_best() {
            // Better than the whole tail: the body takes the freed slot.
            range[worst] = applicant;
            if worst == last {
                program.rebuild_tail(range);
            } else {
                program.len = worst as u32 + 1;
            }
        } else {
            // Among the worst: insert into the tail, keeping it sorted worst first.
            let mut j = worst;
            while range[j + 1].rank() > applicant.rank() {
                range[j] = range[j + 1];
                j += 1;
            }
            range[j] = applicant;
        }
        program.set_cutoff(&range[program.len as usize]);
        return;
    }
}

/// Programs with more seats (after sizing) keep a binary heap instead of a body and a tail:
/// an insertion into a tail of half the seats moves up to that many entries, and a heap's
/// `O(log seats)` is cheaper there.
const HEAP_ABOVE: usize = 1024;

/// Inserts `x` into the max-heap `heap[..len]` (which has room at `len`).
#[inline]
fn sift_up<S: Copy + Ord>(heap: &mut [Held<S>], len: usize, x: Held<S>) {
    let mut i = len;
    while i > 0 {
        let parent = (i - 1) / 2;
        if heap[parent].rank() >= x.rank() {
            break;
        }
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = x;
}

/// Replaces the top (worst) of the full, non-empty max-heap `heap` with `x`, returning the
/// displaced entry.
#[inline]
fn replace_top<S: Copy + Ord>(heap: &mut [Held<S>], x: Held<S>) -> Held<S> {
    let top = heap[0];
    let len = heap.len();
    let mut i = 0;
    loop {
        let left = 2 * i + 1;
        if left >= len {
            break;
        }
        let right = left + 1;
        let child = if right < len && heap[right].rank() > heap[left].rank() {
            right
        } else {
            left
        };
        if heap[child].rank() <= x.rank() {
            break;
        }
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = x;
    top
}

/// Moves the worst entries of a full, non-empty `range` to its end, sorted worst first, and
/// returns where that tail starts (at most `range.len() - 1`).
///
/// The tail holds half the range (at least eight entries, or all of a smaller range), so a
/// rebuild in linear time pays for at least half as many displacements.
#[inline(never)]
fn build_tail<S: Copy + Ord>(range: &mut [Held<S>]) -> u32 {
    let cap = range.len();
    let body = cap - (cap / 2).max(cap.min(8));
    if body > 0 {
        range.select_nth_unstable_by_key(body - 1, Held::rank);
    }
    range[body..].sort_unstable_by_key(|h| std::cmp::Reverse(h.rank()));
    body as u32
}

/// Sorts `pairs` by their first element, a list index below `entries`: a least significant
/// digit first radix sort, 11 bits a pass, through `scratch` (two or three passes at most).
fn sort_by_index(pairs: &mut Vec<(u32, u32)>, scratch: &mut Vec<(u32, u32)>, entries: usize) {
    const BITS: usize = 11;
    const DIGITS: usize = 1 << BITS;
    scratch.clear();
    scratch.resize(pairs.len(), (0, 0));
    let largest = entries.saturating_sub(1);
    let mut shift = 0;
    while shift < 32 && largest >> shift > 0 {
        let digit = |i: u32| (i as usize >> shift) % DIGITS;
        let mut next = [0u32; DIGITS];
        for &(i, _) in pairs.iter() {
            next[digit(i)] += 1;
        }
        let mut sum = 0;
        for n in &mut next {
            (*n, sum) = (sum, sum + *n);
        }
        for &pair in pairs.iter() {
            let d = digit(pair.0);
            scratch[next[d] as usize] = pair;
            next[d] += 1;
        }
        std::mem::swap(pairs, scratch);
        shift += BITS;
    }
}

/// The first set bit of `bits` in `start..end`.
#[inline]
fn first_set(bits: &[u64], start: usize, end: usize) -> Option<usize> {
    let mut i = start;
    while i < end {
        let word = bits[i / 64] >> (i % 64);
        if word != 0 {
            let found = i + word.trailing_zeros() as usize;
            return (found < end).then_some(found);
        }
        i = (i / 64 + 1) * 64;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::PriorityKey;
    use crate::mechanism::tests::market;

    #[test]
    fn empty_market() {
        assert_eq!(
            deferred_acceptance(&Market::<PriorityKey>::default()).position,
            Vec::<u32>::new()
        );
        let m = market(&[1, 2], &[&[], &[]]);
        assert_eq!(deferred_acceptance(&m).position, vec![UNPLACED, UNPLACED]);
    }

    #[test]
    fn textbook_three_by_three() {
        let m = market(
            &[1, 1, 1],
            &[
                &[(0, 2), (1, 0), (2, 0)],
                &[(0, 1), (1, 1), (2, 1)],
                &[(1, 2), (0, 0), (2, 2)],
            ],
        );
        // 1 displaces 0 at program 0, so 0 is held at program 1. 2 is rejected by program 1
        // (key 2 against 0's key 0) and displaces 1 at program 0, who is rejected by program 1
        // and ends at program 2.
        let got = deferred_acceptance(&m);
        assert_eq!(got.position, vec![1, 2, 1]);
        assert_eq!(got.program(&m, 0), Some(1));
        assert_eq!(got.program(&m, 1), Some(2));
        assert_eq!(got.program(&m, 2), Some(0));
    }

    #[test]
    fn zero_capacity_rejects_everyone() {
        let m = market(&[0, 1], &[&[(0, 0), (1, 1)], &[(0, 1), (1, 0)], &[(0, 2)]]);
        assert_eq!(deferred_acceptance(&m).position, vec![UNPLACED, 1, UNPLACED]);
    }

    #[test]
    fn displacement_chain() {
        // Capacity 2 at program 0. Students arrive worst first and are displaced one by one.
        let m = market(
            &[2, 1, 5],
            &[
                &[(0, 30), (1, 5), (2, 0)],
                &[(0, 20), (1, 4), (2, 1)],
                &[(0, 10), (1, 3), (2, 2)],
                &[(0, 0), (1, 2), (2, 3)],
            ],
        );
        // Program 0 keeps students 3 and 2; program 1 prefers 1 over 0; 0 goes to program 2.
        assert_eq!(deferred_acceptance(&m).position, vec![2, 1, 0, 0]);
    }

    #[test]
    fn capacity_larger_than_demand() {
        let m = market(&[u32::MAX], &[&[(0, 7)], &[(0, 3)]]);
        assert_eq!(deferred_acceptance(&m).position, vec![0, 0]);
        // More seats than list entries: heaps are sized by applications instead.
        let m = market(&[u32::MAX, 9, 0], &[&[(2, 0), (1, 7)], &[(0, 3)], &[]]);
        assert_eq!(deferred_acceptance(&m).position, vec![1, 0, UNPLACED]);
    }

    #[test]
    fn radix_sort_orders_by_list_index() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for entries in [
            0usize,
            1,
            2,
            2047,
            2048,
            2049,
            1 << 22,
            (1 << 22) + 1,
            u32::MAX as usize,
        ] {
            for len in [0usize, 1, 7, 1000] {
                let mut pairs: Vec<(u32, u32)> = (0..len)
                    .map(|_| {
                        let i = (next() % entries.max(1) as u64) as u32;
                        (i, next() as u32)
                    })
                    .collect();
                let mut expected = pairs.clone();
                expected.sort_by_key(|p| p.0);
                sort_by_index(&mut pairs, &mut Vec::new(), entries);
                assert_eq!(pairs, expected, "{entries} entries, {len} pairs");
            }
        }
    }

    #[test]
    fn first_set_bit_in_range() {
        let bits = [1u64 << 63, 0, 1 << 5];
        assert_eq!(first_set(&bits, 0, 64), Some(63));
        assert_eq!(first_set(&bits, 0, 63), None);
        assert_eq!(first_set(&bits, 64, 192), Some(133));
        assert_eq!(first_set(&bits, 64, 133), None);
        assert_eq!(first_set(&bits, 130, 140), Some(133));
        assert_eq!(first_set(&bits, 10, 10), None);
    }

    #[test]
    fn ties_go_to_the_lower_student_index() {
        let m = market(&[1], &[&[(0, 5)], &[(0, 5)]]);
        assert_eq!(deferred_acceptance(&m).position, vec![0, UNPLACED]);
        let m = market(&[1], &[&[(0, 5)], &[(0, 5)], &[(0, 5)]]);
        assert_eq!(deferred_acceptance(&m).position, vec![0, UNPLACED, UNPLACED]);
    }

    #[test]
    fn keys_compare_across_both_halves() {
        let big = 1u128 << 64;
        let m = market(&[1], &[&[(0, big)], &[(0, big - 1)], &[(0, big + 1)]]);
        assert_eq!(deferred_acceptance(&m).position, vec![UNPLACED, 0, UNPLACED]);
    }
}
