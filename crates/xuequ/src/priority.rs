//! Per-applicant facts the tiers read, and the strict priority key at each school.
//!
//! A key packs, most significant first: the tier index (16 bits), the distance in metres
//! when the tier orders by distance (32 bits), the applicant's rank by the tier's other
//! order keys (32 bits), and the lottery number (32 bits). Smaller is better.

use crate::mechanism::PriorityKey;
use crate::model::{City, Cohort, Stage, Student};
use crate::policy::{Attribute, Condition, OrderKey, Policy, Tier};

/// Facts about one applicant that do not depend on the school.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplicantFacts {
    /// Migrant points (积分).
    pub points: f64,
    /// Migrant applicant meeting the eligibility thresholds.
    pub migrant_eligible: bool,
    /// The home property gave a seat of this stage within the lock years.
    pub seat_locked: bool,
}

/// Computes the facts of one applicant.
pub fn facts(policy: &Policy, cohort: &Cohort, year: i32, index: usize) -> ApplicantFacts {
    let s = &cohort.students[index];
    // Points add up the attributes that have a value; with none at all they are missing
    // (NaN), so the applicant ranks after everyone with points.
    let mut points = 0.0;
    let mut any = false;
    for (a, w) in &policy.migrant.points {
        let v = attribute(cohort, index, a, 0);
        if !v.is_nan() {
            points += v * w;
            any = true;
        }
    }
    let points = if any || policy.migrant.points.is_empty() {
        points
    } else {
        f64::NAN
    };
    // A threshold of 0 asks nothing, so an empty cell meets it; a positive threshold needs a
    // value at least that large.
    let meets = |v: f64, min: f64| min <= 0.0 || v >= min;
    let migrant_eligible = s.migrant
        && meets(s.residence_permit_months, policy.migrant.min_residence_permit_months)
        && meets(s.social_insurance_months, policy.migrant.min_social_insurance_months);
    let years = policy.seat_lock.years(s.stage) as i32;
    let seat_locked = years > 0
        && s.property.is_some_and(|p| {
            cohort.seat_locks.get(&p).is_some_and(|locks| {
                locks
                    .iter()
                    .any(|&(st, y)| st == s.stage && year - y < years && y <= year)
            })
        });
    ApplicantFacts {
        points,
        migrant_eligible,
        seat_locked,
    }
}

/// A per-student numeric attribute (NaN when missing). `distance_m` is the distance to the
/// school in question; `Points` must be looked up in [`ApplicantFacts`] by the caller.
pub fn attribute(cohort: &Cohort, index: usize, a: &Attribute, distance_m: u32) -> f64 {
    let s = &cohort.students[index];
    match a {
        Attribute::YearsAtAddress => s.years_at_address,
        Attribute::ResidencePermitMonths => s.residence_permit_months,
        Attribute::SocialInsuranceMonths => s.social_insurance_months,
        Attribute::DistanceM => f64::from(distance_m),
        Attribute::Points => f64::NAN,
        Attribute::Extra(name) => cohort
            .extra
            .get(name)
            .and_then(|v| v.get(index))
            .copied()
            .unwrap_or(f64::NAN),
    }
}

/// Everything a condition may look at for one applicant at one school.
pub struct Context<'a> {
    /// The city.
    pub city: &'a City,
    /// The applicants.
    pub cohort: &'a Cohort,
    /// Applicant index.
    pub index: usize,
    /// The applicant.
    pub student: &'a Student,
    /// The applicant's facts.
    pub facts: &'a ApplicantFacts,
    /// The school.
    pub school: u32,
    /// Home-to-school distance.
    pub distance_m: u32,
}

impl Context<'_> {
    fn home_in_zone(&self) -> bool {
        self.city
            .zones(self.student.stage)
            .contains(self.student.block, self.school)
    }

    /// Evaluates a condition, with the zone test remembered across the conditions of one
    /// applicant at one school (most tiers ask it, and lists have millions of entries).
    fn holds_in(&self, c: &Condition, in_zone: &std::cell::Cell<Option<bool>>) -> bool {
        let home_in_zone = || match in_zone.get() {
            Some(z) => z,
            None => {
                let z = self.home_in_zone();
                in_zone.set(Some(z));
                z
            }
        };
        match c {
            Condition::HomeInZone => home_in_zone(),
            Condition::HukouInZone => self.student.hukou_in_zone && home_in_zone(),
            Condition::OwnsHome => self.student.owns_home,
            Condition::NoSeatLock => !self.facts.seat_locked,
            Condition::SeatLocked => self.facts.seat_locked,
            Condition::Migrant => self.student.migrant,
            Condition::Local => !self.student.migrant,
            Condition::MigrantEligible => self.facts.migrant_eligible,
            Condition::Feeder => {
                self.student.stage == Stage::Junior
                    && self
                        .student
                        .primary_school
                        .is_some_and(|p| self.city.schools[p as usize].feeder_junior == Some(self.school))
            }
            Condition::Chose => self.cohort.choices_of(self.student).contains(&self.school),
            Condition::Compare(a, op, v) => {
                let x = match a {
                    Attribute::Points => self.facts.points,
                    other => attribute(self.cohort, self.index, other, self.distance_m),
                };
                op.holds(x, *v)
            }
            Condition::Not(inner) => !self.holds_in(inner, in_zone),
        }
    }

    /// [`Context::tier`] with the zone test's answer given: for tiers that see the school
    /// only through it ([`Tier::school_only_through_zone`]), the tier of the applicant at any
    /// school inside (`true`) or outside (`false`) their zone.
    pub fn tier_with_zone(&self, tiers: &[&Tier], home_in_zone: bool) -> usize {
        let in_zone = std::cell::Cell::new(Some(home_in_zone));
        tiers
            .iter()
            .position(|t| t.all.iter().all(|c| self.holds_in(c, &in_zone)))
            .unwrap_or(tiers.len())
    }

    /// True when the home block is in this school's zone.
    pub fn home_is_in_zone(&self) -> bool {
        self.home_in_zone()
    }

    /// The index of the first tier whose conditions all hold, or `tiers.len()`.
    pub fn tier(&self, tiers: &[&Tier]) -> usize {
        let in_zone = std::cell::Cell::new(None);
        tiers
            .iter()
            .position(|t| t.all.iter().all(|c| self.holds_in(c, &in_zone)))
            .unwrap_or(tiers.len())
    }
}

/// Packs a priority key.
pub fn pack(tier: usize, distance: u32, order_rank: u32, lottery: u32) -> PriorityKey {
    PriorityKey(
        ((tier.min(u16::MAX as usize) as u128) << 96)
            | (u128::from(distance) << 64)
            | (u128::from(order_rank) << 32)
            | u128::from(lottery),
    )
}

/// Unpacks a key into (tier, distance part, order rank, lottery).
pub fn unpack(key: PriorityKey) -> (usize, u32, u32, u32) {
    let k = key.0;
    (
        ((k >> 96) & 0xffff) as usize,
        (k >> 64) as u32,
        (k >> 32) as u32,
        k as u32,
    )
}

/// Dense ranks (0 = best) of applicants by order keys; applicants missing a value rank after
/// all that have one. `value(i, key)` gives applicant `i`'s value.
pub fn dense_ranks(n: usize, keys: &[OrderKey], value: impl Fn(usize, &OrderKey) -> f64 + Sync) -> Vec<u32> {
    use rayon::prelude::*;
    if keys.is_empty() {
        return vec![0; n];
    }
    // Map every value to a totally ordered integer: smaller is better, NaN last.
    let encode = |x: f64, desc: bool| -> u64 {
        if x.is_nan() {
            return u64::MAX;
        }
        let x = if desc { -x } else { x };
        let bits = (x + 0.0).to_bits();
        let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
        ordered.min(u64::MAX - 1)
    };
    let k = keys.len();
    if k == 1 {
        // One key: sorted as (key, applicant) pairs side by side, so a comparison reads both
        // in place instead of fetching two keys from all over the array; ranked from the
        // sorted pairs, without a list of the keys alone or of the order.
        let key = &keys[0];
        let mut keyed: Vec<(u64, u32)> = (0..n)
            .into_par_iter()
            .map(|i| (encode(value(i, key), key.descending), i as u32))
            .collect();
        keyed.par_sort_unstable();
        return ranks_in_order(n, |w| keyed[w].1, |w| keyed[w].0 == keyed[w - 1].0);
    }
    // One flat row of encoded keys per applicant (no allocation per applicant).
    let mut rows = vec![0u64; n * k];
    rows.par_chunks_mut(k).enumerate().for_each(|(i, row)| {
        for (slot, key) in row.iter_mut().zip(keys) {
            *slot = encode(value(i, key), key.descending);
        }
    });
    let row = |i: u32| &rows[i as usize * k..(i as usize + 1) * k];
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.par_sort_unstable_by(|&a, &b| row(a).cmp(row(b)).then(a.cmp(&b)));
    ranks_in_order(n, |w| order[w], |w| row(order[w]) == row(order[w - 1]))
}

/// Dense ranks of `n` applicants from their sorted order: `applicant(w)` is the `w`-th, and
/// `tied(w)` says whether it ties with the one before (asked for `w` ≥ 1).
fn ranks_in_order(n: usize, applicant: impl Fn(usize) -> u32, tied: impl Fn(usize) -> bool) -> Vec<u32> {
    let mut rank = vec![0u32; n];
    let mut r = 0u32;
    for w in 0..n {
        if w > 0 && !tied(w) {
            r += 1;
        }
        rank[applicant(w) as usize] = r;
    }
    rank
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::strategy::Strategy as _;

    use super::*;

    #[test]
    fn pack_round_trips_and_orders_by_tier_first() {
        let a = pack(1, 0, 5, 9);
        let b = pack(2, 0, 0, 1);
        assert!(a < b);
        assert_eq!(unpack(pack(3, 700, 12, 99)), (3, 700, 12, 99));
    }

    #[test]
    fn dense_ranks_desc_with_missing_last() {
        let vals = [3.0, f64::NAN, 5.0, 3.0, -1.0];
        let keys = [OrderKey {
            attribute: Attribute::Points,
            descending: true,
        }];
        let r = dense_ranks(vals.len(), &keys, |i, _| vals[i]);
        assert_eq!(r, vec![1, 3, 0, 1, 2]);
        let keys = [OrderKey {
            attribute: Attribute::Points,
            descending: false,
        }];
        let r = dense_ranks(vals.len(), &keys, |i, _| vals[i]);
        assert_eq!(r, vec![1, 3, 2, 1, 0]);
    }

    /// The plain definition: an applicant's rank is the number of distinct key rows better
    /// than theirs, comparing keys in order (larger first when descending, missing last).
    fn dense_ranks_by_counting(values: &[Vec<f64>], keys: &[OrderKey]) -> Vec<u32> {
        let cmp_one = |a: f64, b: f64, desc: bool| match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if desc => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
            _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
        };
        let cmp = |a: &Vec<f64>, b: &Vec<f64>| {
            keys.iter()
                .enumerate()
                .map(|(k, key)| cmp_one(a[k], b[k], key.descending))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        };
        let mut distinct: Vec<&Vec<f64>> = Vec::new();
        for v in values {
            if !distinct.iter().any(|d| cmp(d, v).is_eq()) {
                distinct.push(v);
            }
        }
        values
            .iter()
            .map(|v| distinct.iter().filter(|d| cmp(d, v).is_lt()).count() as u32)
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Dense ranks over one key or two, with ties, negative zero and missing values,
        /// equal the count of better distinct rows.
        #[test]
        fn dense_ranks_count_the_better_distinct_rows(
            values in proptest::collection::vec(proptest::collection::vec(
                proptest::prop_oneof![(-3i32..4).prop_map(f64::from), proptest::strategy::Just(f64::NAN), proptest::strategy::Just(-0.0)],
                2,
            ), 0..120),
            two_keys in proptest::bool::ANY,
            descending in proptest::collection::vec(proptest::bool::ANY, 2),
        ) {
            let keys: Vec<OrderKey> = descending
                .iter()
                .take(if two_keys { 2 } else { 1 })
                .map(|&descending| OrderKey { attribute: Attribute::Points, descending })
                .collect();
            let got = dense_ranks(values.len(), &keys, |i, key| {
                let k = keys.iter().position(|x| std::ptr::eq(x, key)).unwrap();
                values[i][k]
            });
            let want = dense_ranks_by_counting(&values, &keys);
            proptest::prop_assert_eq!(got, want);
        }
    }
}
