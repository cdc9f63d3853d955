//! Student-proposing deferred acceptance (Gale–Shapley).
//!
//! Every free student proposes to the next program on their list; a program tentatively holds
//! its best applicants up to its capacity and rejects the rest; a rejected (or displaced)
//! student proposes further down their list. When nobody is free with a program left to try,
//! the held applicants are admitted. The result is the student-optimal stable matching, which
//! is unique, and so is the set of proposals made: the order in which free students propose
//! changes neither.
//!
//! Implementation, tuned for a million students with ten choices each:
//! - each program keeps its held applicants in a bounded binary max-heap (worst on top),
//!   all heaps stored flat in one preallocated array, sized by `min(seats, applications)`;
//! - a held entry carries its list index and the end of its student's list, so a displaced
//!   student goes on proposing without looking up where their list is;
//! - a full program's worst held rank is copied into its small per-program record, so a
//!   rejection (the most common event) touches neither the heap nor any per-student array;
//! - proposals run in rounds: in round 0 every student proposes down their list until held;
//!   students displaced in round `r` propose again in round `r + 1`, sorted by list index,
//!   so each round reads the lists in address order instead of at random.
//!
//! With `L` list entries and at most `C` seats at any one program, the run takes
//! `O(L log C)` time for the heaps plus `O(D log D)` for sorting the `D` displacements, and
//! `O(S + P + L / 64 + seats)` memory; nothing is allocated per student or per proposal.

use super::{Market, Matching, UNPLACED};

/// An applicant held by a program: their priority key (split in two halves so an entry
/// takes 24 bytes instead of 32), the list index of this application, and the end of their
/// list.
///
/// Entries are ranked by `(key, index)`. List indices grow with the student index, so should
/// two students share a key at one program (breaking the market's contract), the lower
/// student index wins.
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    key_hi: u64,
    key_lo: u64,
    index: u32,
    end: u32,
}

impl Held {
    /// Smaller is better.
    #[inline]
    fn rank(&self) -> (u64, u64, u32) {
        (self.key_hi, self.key_lo, self.index)
    }
}

/// One program: its heap (`len` of `cap` slots from `start` in the shared array) and, once
/// full, the rank of its worst held applicant. A program without seats is full from the
/// start, with a worst rank nobody beats.
#[derive(Debug, Clone, Copy, Default)]
struct Program {
    worst_hi: u64,
    worst_lo: u64,
    worst_index: u32,
    start: u32,
    cap: u32,
    len: u32,
}

impl Program {
    #[inline]
    fn worst(&self) -> (u64, u64, u32) {
        (self.worst_hi, self.worst_lo, self.worst_index)
    }

    #[inline]
    fn set_worst(&mut self, h: &Held) {
        self.worst_hi = h.key_hi;
        self.worst_lo = h.key_lo;
        self.worst_index = h.index;
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
pub fn deferred_acceptance(market: &Market) -> Matching {
    let students = market.students();
    let list_start = &market.list_start;
    let entries = market.list_program.len();

    // A program never holds more applicants than its seats, the students, or the
    // applications it gets. Size the heaps by seats and students; only if that total could
    // exceed the number of list entries, count applications too, so the heaps never
    // outgrow the market (and offsets fit in `u32` like the list indices).
    let most = u32::try_from(students).unwrap_or(u32::MAX);
    let mut programs: Vec<Program> = market
        .capacity
        .iter()
        .map(|&seats| Program {
            cap: seats.min(most),
            ..Program::default()
        })
        .collect();
    let seats: u64 = programs.iter().map(|p| u64::from(p.cap)).sum();
    if seats > entries as u64 {
        let mut applications = vec![0u32; programs.len()];
        for &p in &market.list_program {
            applications[p as usize] += 1;
        }
        for (program, &a) in programs.iter_mut().zip(&applications) {
            program.cap = program.cap.min(a);
        }
    }
    let mut next_start = 0u32;
    for program in &mut programs {
        program.start = next_start;
        next_start += program.cap;
    }
    let mut held = vec![Held::default(); next_start as usize];

    // Round 0, then one round per wave of displaced students, each sorted by list index.
    let mut proposers: Vec<(u32, u32)> = Vec::new();
    let mut displaced: Vec<(u32, u32)> = Vec::new();
    for s in 0..students {
        let (i, end) = (list_start[s], list_start[s + 1]);
        propose(market, &mut programs, &mut held, i, end, &mut displaced);
    }
    while !displaced.is_empty() {
        std::mem::swap(&mut proposers, &mut displaced);
        proposers.sort_unstable();
        for &(i, end) in &proposers {
            propose(market, &mut programs, &mut held, i, end, &mut displaced);
        }
        proposers.clear();
    }

    // Mark the held list entries, then find each student's (at most one) marked entry.
    let mut taken = vec![0u64; entries.div_ceil(64)];
    for program in &programs {
        let start = program.start as usize;
        for h in &held[start..start + program.len as usize] {
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

/// One student proposes from list index `i` (their list ends at `end`) until held or out of
/// programs. A student they displace is pushed to `displaced` with their next list index,
/// unless their list is exhausted.
#[inline]
fn propose(
    market: &Market,
    programs: &mut [Program],
    held: &mut [Held],
    mut i: u32,
    end: u32,
    displaced: &mut Vec<(u32, u32)>,
) {
    while i < end {
        let key = market.list_key[i as usize].0;
        let applicant = Held {
            key_hi: (key >> 64) as u64,
            key_lo: key as u64,
            index: i,
            end,
        };
        let program = &mut programs[market.list_program[i as usize] as usize];
        if program.len == program.cap && applicant.rank() >= program.worst() {
            i += 1; // Rejected: try the next program.
            continue;
        }
        let start = program.start as usize;
        let heap = &mut held[start..start + program.cap as usize];
        if program.len < program.cap {
            sift_up(heap, program.len as usize, applicant);
            program.len += 1;
            if program.len == program.cap {
                program.set_worst(&heap[0]);
            }
        } else {
            let out = replace_top(heap, applicant);
            program.set_worst(&heap[0]);
            if out.index + 1 < out.end {
                displaced.push((out.index + 1, out.end));
            }
        }
        return;
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

/// Inserts `x` into the max-heap `heap[..len]` (which has room at `len`).
#[inline]
fn sift_up(heap: &mut [Held], len: usize, x: Held) {
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
fn replace_top(heap: &mut [Held], x: Held) -> Held {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::tests::market;

    #[test]
    fn empty_market() {
        assert_eq!(deferred_acceptance(&Market::default()).position, Vec::<u32>::new());
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
