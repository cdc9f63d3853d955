//! Demand per block for one stage: children expected at the entry grade.
//!
//! Three sources feed the same [`Demand`] type: this year's applicants (`students.csv`, the
//! default), households × a per-stage rate when planning ahead ([`HouseholdRates`]), or any
//! forecast's counts ([`Demand::from_counts`], [`Demand::from_expected`]).

use serde::{Deserialize, Serialize};

use crate::load::Dataset;
use crate::model::{City, Stage};

/// Entry-grade children per household, per stage.
///
/// Defaults from `shared/POLICY.md` P5/P6: entrants per 1,000 residents (primary 12.6, junior
/// 12.1; kindergarten 34.0 enrolled over three cohorts ≈ 11.3) × 3.0 persons per dwelling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HouseholdRates {
    /// Kindergarten small-class children per household (default 0.034).
    pub kindergarten: f64,
    /// Primary grade-1 children per household (default 0.0378).
    pub primary: f64,
    /// Junior grade-7 children per household (default 0.0363).
    pub junior: f64,
    /// Count a new block's planned households once its move-in year has come (default true).
    pub planned: bool,
}

impl Default for HouseholdRates {
    fn default() -> Self {
        HouseholdRates {
            kindergarten: 0.034,
            primary: 0.0378,
            junior: 0.0363,
            planned: true,
        }
    }
}

impl HouseholdRates {
    /// The rate of a stage.
    pub fn rate(&self, stage: Stage) -> f64 {
        match stage {
            Stage::Kindergarten => self.kindergarten,
            Stage::Primary => self.primary,
            Stage::Junior => self.junior,
        }
    }
}

/// Where demand comes from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum DemandSource {
    /// Count this year's applicants per home block in `students.csv` (default).
    #[default]
    Students,
    /// Households × a per-stage rate.
    Households(HouseholdRates),
}

/// Children per block (in `blocks.csv` order) for one stage.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Demand {
    per_block: Vec<u32>,
}

impl Demand {
    /// Demand from a source.
    pub fn from_source(data: &Dataset, stage: Stage, source: DemandSource) -> Demand {
        match source {
            DemandSource::Students => Demand::from_students(data, stage),
            DemandSource::Households(rates) => Demand::from_households(&data.city, stage, &rates, data.scenario.year),
        }
    }

    /// Applicants of `stage` per home block.
    pub fn from_students(data: &Dataset, stage: Stage) -> Demand {
        let mut per_block = vec![0u32; data.city.blocks.len()];
        for s in data.cohort.students.iter().filter(|s| s.stage == stage) {
            if let Some(c) = per_block.get_mut(s.block as usize) {
                *c += 1;
            }
        }
        Demand { per_block }
    }

    /// Households × the stage's rate, rounded to whole children so the city total is kept
    /// (largest remainder; ties to the lower block index). A new block counts its planned
    /// households from its move-in year on when `rates.planned` is set.
    pub fn from_households(city: &City, stage: Stage, rates: &HouseholdRates, year: i32) -> Demand {
        let rate = rates.rate(stage).max(0.0);
        let expected: Vec<f64> = city
            .blocks
            .iter()
            .map(|b| {
                let mut h = b.households;
                if rates.planned
                    && let (Some(p), Some(y)) = (b.planned_households, b.move_in_year)
                    && y <= year
                {
                    h = h.max(p);
                }
                h as f64 * rate
            })
            .collect();
        Demand::from_expected(&expected)
    }

    /// Whole counts, e.g. from a forecast.
    pub fn from_counts(per_block: Vec<u32>) -> Demand {
        Demand { per_block }
    }

    /// Expected (fractional) children per block, rounded by largest remainder so the total
    /// is the rounded sum; negative or non-finite values count as 0.
    pub fn from_expected(expected: &[f64]) -> Demand {
        let clean: Vec<f64> = expected
            .iter()
            .map(|&x| if x.is_finite() && x > 0.0 { x.min(1e9) } else { 0.0 })
            .collect();
        let mut per_block: Vec<u32> = clean.iter().map(|x| x.floor() as u32).collect();
        let total: f64 = clean.iter().sum();
        let floor_sum: u64 = per_block.iter().map(|&x| x as u64).sum();
        let target = total.round() as u64;
        let mut extra = target.saturating_sub(floor_sum) as usize;
        if extra > 0 {
            // Remainders as integers (parts per 2^32) so ordering is exact and deterministic.
            let mut order: Vec<(u64, usize)> = clean
                .iter()
                .enumerate()
                .map(|(i, x)| (((x - x.floor()) * 4_294_967_296.0) as u64, i))
                .collect();
            order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            for &(_, i) in order.iter() {
                if extra == 0 {
                    break;
                }
                per_block[i] += 1;
                extra -= 1;
            }
        }
        Demand { per_block }
    }

    /// Children per block.
    pub fn per_block(&self) -> &[u32] {
        &self.per_block
    }

    /// Total children.
    pub fn total(&self) -> u64 {
        self.per_block.iter().map(|&x| x as u64).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_keeps_the_total() {
        let d = Demand::from_expected(&[0.4, 0.4, 0.4, 1.9, f64::NAN, -3.0]);
        assert_eq!(d.total(), 3);
        assert_eq!(d.per_block(), &[1, 0, 0, 2, 0, 0]);
    }

    #[test]
    fn default_rates_follow_policy_p6() {
        let r = HouseholdRates::default();
        // ≈ 3.8 primary entrants per 100 households.
        assert!((r.rate(Stage::Primary) * 100.0 - 3.78).abs() < 1e-9);
    }
}
