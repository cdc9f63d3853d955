//! Serial dictatorship (平行志愿 by score).
//!
//! Students are taken one at a time in a single global order (for example by exam score);
//! each takes the first program on their list that still has a free seat. The priority keys
//! of the market are not read: the global order is the only priority. The outcome equals
//! deferred acceptance when every program ranks students by that global order.
//!
//! One pass over the order and, per student, over their list until a seat is found:
//! `O(S + L)` time for `L` list entries, and `O(S + P)` memory.

use super::{Market, Matching, UNPLACED};

/// Runs serial dictatorship with students served in `order` (first = highest priority).
///
/// `order` must be a permutation of `0..market.students()`; this is checked by a debug
/// assertion. In release builds a student missing from `order` stays [`UNPLACED`] and a
/// repeated student keeps the seat taken at their first appearance.
///
/// # Panics
///
/// Panics if `order` holds an index `>= market.students()`, if the market is malformed (a
/// program index out of range), or, in debug builds, if `order` is not a permutation.
pub fn serial_dictatorship<K>(market: &Market<K>, order: &[u32]) -> Matching {
    let students = market.students();
    debug_assert!(
        is_permutation(order, students),
        "serial_dictatorship: order must be a permutation of the {students} students"
    );
    let mut remaining = market.capacity.clone();
    let mut position = vec![UNPLACED; students];
    for &s in order {
        let s = s as usize;
        if position[s] != UNPLACED {
            continue;
        }
        let range = market.list_range(s);
        let list = &market.list_program[range];
        if let Some(pos) = list.iter().position(|&p| remaining[p as usize] > 0) {
            remaining[list[pos] as usize] -= 1;
            position[s] = pos as u32;
        }
    }
    Matching { position }
}

/// Whether `order` holds every index in `0..students` exactly once.
fn is_permutation(order: &[u32], students: usize) -> bool {
    if order.len() != students {
        return false;
    }
    let mut seen = vec![false; students];
    order
        .iter()
        .all(|&s| (s as usize) < students && !std::mem::replace(&mut seen[s as usize], true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::PriorityKey;
    use crate::mechanism::tests::market;

    #[test]
    fn empty_market() {
        assert_eq!(
            serial_dictatorship(&Market::<PriorityKey>::default(), &[]).position,
            Vec::<u32>::new()
        );
    }

    #[test]
    fn order_decides_and_keys_are_ignored() {
        // Keys favour student 0 everywhere, but student 1 chooses first.
        let m = market(&[1, 1], &[&[(0, 0), (1, 0)], &[(0, 9), (1, 9)], &[(0, 5)]]);
        assert_eq!(serial_dictatorship(&m, &[1, 0, 2]).position, vec![1, 0, UNPLACED]);
        assert_eq!(serial_dictatorship(&m, &[0, 1, 2]).position, vec![0, 1, UNPLACED]);
        assert_eq!(serial_dictatorship(&m, &[2, 0, 1]).position, vec![1, UNPLACED, 0]);
    }

    #[test]
    fn skips_full_and_seatless_programs() {
        let m = market(&[0, 1, 2], &[&[(0, 0), (1, 0), (2, 0)], &[(1, 0), (2, 0)]]);
        assert_eq!(serial_dictatorship(&m, &[0, 1]).position, vec![1, 1]);
    }

    #[test]
    fn permutation_check() {
        assert!(is_permutation(&[2, 0, 1], 3));
        assert!(is_permutation(&[], 0));
        assert!(!is_permutation(&[0, 1], 3));
        assert!(!is_permutation(&[0, 0, 1], 3));
        assert!(!is_permutation(&[0, 1, 3], 3));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "permutation")]
    fn rejects_non_permutation_in_debug() {
        let m = market(&[1], &[&[(0, 0)], &[(0, 1)]]);
        let _ = serial_dictatorship(&m, &[0, 0]);
    }
}
