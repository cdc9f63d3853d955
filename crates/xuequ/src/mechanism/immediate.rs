//! Immediate acceptance (the Boston mechanism, 顺序志愿).
//!
//! In round `k` every student who is still unassigned applies to the `k`-th program on their
//! list. Each program admits its applicants of that round in priority-key order up to its
//! remaining seats, and those admissions are final: a seat taken in round `k` is never given
//! to someone who listed the program later, whatever their priority.
//!
//! Each round counts applicants per program (touching only the programs that received
//! applications). Applicants to a full program are rejected and those to a program with
//! seats for all of them are admitted, both without reading their keys; only the applicants
//! of oversubscribed programs are bucketed with a counting sort, and each such program picks
//! its best `remaining` applicants with a linear-time selection instead of a sort. With `L`
//! list entries in total the run takes `O(L)` expected time and `O(S + P)` memory.

use super::{Market, MarketKey, Matching, UNPLACED};

/// An applicant in one round; the derived order is by priority key (in stored form, see
/// [`MarketKey::Stored`]), then student index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Applicant<S> {
    key: S,
    student: u32,
}

/// Runs the Boston mechanism and returns its matching.
///
/// Within a round a program admits smaller keys first; should two students share a key at
/// one program, the lower student index wins. Students whose lists run out stay
/// [`UNPLACED`].
///
/// # Panics
///
/// Panics if the market is malformed: `list_start` not ending at the length of
/// `list_program` / `list_key`, or a program index out of range.
pub fn immediate_acceptance<K: MarketKey>(market: &Market<K>) -> Matching {
    let students = market.students();
    let programs = market.programs();
    let list_start = &market.list_start;
    let list_program = &market.list_program;
    let list_key = &market.list_key;

    let mut position = vec![UNPLACED; students];
    let mut remaining = market.capacity.clone();
    // Unassigned students who still have a program at the current round's list position.
    let mut active: Vec<u32> = (0..students as u32)
        .filter(|&s| list_start[s as usize] < list_start[s as usize + 1])
        .collect();
    // Per active student: the program applied to this round.
    let mut choice: Vec<u32> = Vec::with_capacity(active.len());
    // Per program: applicants this round, and the write offset into its bucket.
    let mut count = vec![0u32; programs];
    let mut offset = vec![0u32; programs];
    let mut touched: Vec<u32> = Vec::new();
    let mut bucket: Vec<Applicant<K::Stored>> = Vec::new();

    let mut round = 0u32;
    while !active.is_empty() {
        // Each active student applies to their round-th program; count applicants to the
        // programs that still have seats, in order of first application.
        touched.clear();
        choice.clear();
        for &s in &active {
            let p = list_program[(list_start[s as usize] + round) as usize];
            choice.push(p);
            let p = p as usize;
            if remaining[p] > 0 {
                if count[p] == 0 {
                    touched.push(p as u32);
                }
                count[p] += 1;
            }
        }

        // A program with seats for all its applicants admits them outright; the others get
        // a bucket of applicants with their keys.
        let mut bucketed = 0u32;
        for &p in &touched {
            let p = p as usize;
            if count[p] > remaining[p] {
                offset[p] = bucketed;
                bucketed += count[p];
            }
        }
        bucket.clear();
        bucket.resize(
            bucketed as usize,
            Applicant {
                key: K::BEST,
                student: 0,
            },
        );
        for (&s, &p) in active.iter().zip(&choice) {
            let p = p as usize;
            if remaining[p] == 0 {
                continue;
            }
            if count[p] <= remaining[p] {
                position[s as usize] = round;
                continue;
            }
            bucket[offset[p] as usize] = Applicant {
                key: list_key[(list_start[s as usize] + round) as usize].stored(),
                student: s,
            };
            offset[p] += 1;
        }

        // Oversubscribed programs admit their best `remaining` applicants (no full sort:
        // the admitted set is all that matters). `offset[p]` now ends p's bucket.
        for &p in &touched {
            let p = p as usize;
            if count[p] <= remaining[p] {
                remaining[p] -= count[p];
            } else {
                let end = offset[p] as usize;
                let applicants = &mut bucket[end - count[p] as usize..end];
                let seats = remaining[p] as usize;
                applicants.select_nth_unstable(seats);
                for a in &applicants[..seats] {
                    position[a.student as usize] = round;
                }
                remaining[p] = 0;
            }
            count[p] = 0;
        }

        round += 1;
        active.retain(|&s| {
            position[s as usize] == UNPLACED && list_start[s as usize] + round < list_start[s as usize + 1]
        });
    }
    Matching { position }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::PriorityKey;
    use crate::mechanism::tests::market;

    #[test]
    fn empty_market() {
        assert_eq!(
            immediate_acceptance(&Market::<PriorityKey>::default()).position,
            Vec::<u32>::new()
        );
        let m = market(&[1], &[&[]]);
        assert_eq!(immediate_acceptance(&m).position, vec![UNPLACED]);
    }

    #[test]
    fn first_choices_are_final() {
        // Student 0 loses program 1 to student 2 in round 0; by round 1 student 1 holds
        // program 0 for good, although student 0 has the better key there. (Deferred
        // acceptance would place 0 at program 0 and leave 1 unplaced.)
        let m = market(&[1, 1], &[&[(1, 5), (0, 0)], &[(0, 1)], &[(1, 0)]]);
        assert_eq!(immediate_acceptance(&m).position, vec![UNPLACED, 0, 0]);
    }

    #[test]
    fn oversubscribed_round_admits_best_keys() {
        let m = market(
            &[2, 2],
            &[
                &[(0, 40), (1, 0)],
                &[(0, 10)],
                &[(0, 30), (1, 2)],
                &[(0, 20), (1, 1)],
                &[(1, 9)],
            ],
        );
        // Round 0: program 0 admits 1 and 3 of four; program 1 admits 4. Round 1: 0 and 2
        // compete for program 1's last seat and 0 has the better key.
        assert_eq!(immediate_acceptance(&m).position, vec![1, 0, UNPLACED, 0, 0]);
    }

    #[test]
    fn full_program_rejects_later_rounds() {
        let m = market(&[1, 0, 1], &[&[(0, 1)], &[(1, 0), (0, 0), (2, 0)]]);
        // Student 1's first choice has no seats; program 0 is gone by round 1.
        assert_eq!(immediate_acceptance(&m).position, vec![0, 2]);
    }

    #[test]
    fn ties_go_to_the_lower_student_index() {
        let m = market(&[1], &[&[(0, 5)], &[(0, 5)], &[(0, 5)]]);
        assert_eq!(immediate_acceptance(&m).position, vec![0, UNPLACED, UNPLACED]);
    }
}
