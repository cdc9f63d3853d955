//! Presets: the shape of each synthetic city, and how a requested applicant count scales it.

use std::fmt;
use std::str::FromStr;

use crate::Stage;

/// Which synthetic city to generate.
///
/// Parse from the names the CLI accepts: `"demo"`, `"wuxi"`, `"choice5"`, `"choice10"`
/// (any `choice<k>` with `k` in `1..=50`).
///
/// ```
/// use xuequ_synth::Preset;
/// assert_eq!("demo".parse::<Preset>(), Ok(Preset::Demo));
/// assert_eq!("choice10".parse::<Preset>(), Ok(Preset::Choice { k: 10 }));
/// assert!("paris".parse::<Preset>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// A small but complete Wuxi-shaped city: ~3,000 applicants over all seven districts and
    /// three stages, with hot schools, private schools, multi-school zones and seat locks.
    Demo,
    /// Wuxi-sized: ~220,000 entry-grade applicants (60k kindergarten, 85k primary, 75k
    /// junior), ~6,000 blocks, ~1,000 schools.
    Wuxi,
    /// A pure choice market for primary school: every applicant ranks `k` schools of their
    /// district; the policy builds candidate lists from the choices alone.
    Choice {
        /// How many schools each applicant ranks.
        k: u32,
    },
}

/// The largest `k` accepted by `choice<k>`.
pub const MAX_CHOICE_K: u32 = 50;

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Preset::Demo => f.write_str("demo"),
            Preset::Wuxi => f.write_str("wuxi"),
            Preset::Choice { k } => write!(f, "choice{k}"),
        }
    }
}

/// The error for an unknown preset name; its message lists the accepted names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown preset {input:?}: expected one of demo, wuxi, choice<k> with k in 1..={MAX_CHOICE_K} (e.g. choice5, choice10)"
)]
pub struct ParsePresetError {
    /// What was given.
    pub input: String,
}

impl FromStr for Preset {
    type Err = ParsePresetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParsePresetError { input: s.to_string() };
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "demo" => Ok(Preset::Demo),
            "wuxi" => Ok(Preset::Wuxi),
            _ => {
                let digits = t.strip_prefix("choice").ok_or_else(err)?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err());
                }
                let k: u32 = digits.parse().map_err(|_| err())?;
                if (1..=MAX_CHOICE_K).contains(&k) {
                    Ok(Preset::Choice { k })
                } else {
                    Err(err())
                }
            }
        }
    }
}

/// The shape of a preset at its default size; every count scales linearly with applicants.
/// Arrays are indexed by [`Stage::index`] (kindergarten, primary, junior).
#[derive(Clone, Debug)]
pub(crate) struct Shape {
    /// Entry-grade applicants per stage at the default size (0 = stage absent).
    pub applicants: [u64; 3],
    /// Residential blocks at the default size.
    pub blocks: u64,
    /// Public schools per stage at the default size (including planned ones).
    pub public: [u64; 3],
    /// Private schools per stage at the default size.
    pub private: [u64; 3],
    /// Minimum open public schools of each present stage in every district.
    pub min_public_per_district: u64,
    /// Applicants per household over all present stages (Wuxi: 220k / 2.5M ≈ 0.088).
    pub applicants_per_household: f64,
    /// Above this many applicants the city is replicated (copies of the seven districts).
    pub copy_cap: u64,
    /// Public seats (public capacity + purchased private seats) ÷ applicants, per district.
    pub supply_ratio: f64,
    /// Share of families (city-wide) listing a private school first, per stage.
    pub private_first: [f64; 3],
    /// Share of blocks in multi-school zones.
    pub multi_zone_share: f64,
    /// Share of a district's public schools that are popular and oversubscribed.
    pub hot_share: f64,
    /// Share of public schools that are planned (open next year or the one after).
    pub planned_share: f64,
    /// Share of blocks that are new developments.
    pub new_block_share: f64,
    /// Share of owner applicants whose property already gave a seat in the last 8 years.
    pub seat_lock_share: f64,
    /// `Some(k)`: pure choice market, every applicant ranks `k` schools.
    pub choice_k: Option<u32>,
}

impl Shape {
    /// The shape of `preset` at its default size.
    pub(crate) fn of(preset: Preset) -> Shape {
        let base = Shape {
            applicants: [600, 1_300, 1_100],
            blocks: 150,
            public: [12, 22, 10],
            private: [3, 3, 2],
            min_public_per_district: 1,
            applicants_per_household: 0.088,
            copy_cap: 250_000,
            supply_ratio: 1.10,
            private_first: [0.20, 0.12, 0.14],
            multi_zone_share: 0.09,
            hot_share: 0.2,
            planned_share: 0.03,
            new_block_share: 0.05,
            seat_lock_share: 0.05,
            choice_k: None,
        };
        match preset {
            Preset::Demo => base,
            Preset::Wuxi => Shape {
                applicants: [60_000, 85_000, 75_000],
                blocks: 6_000,
                public: [450, 258, 138],
                private: [150, 22, 12],
                ..base
            },
            Preset::Choice { k } => Shape {
                applicants: [0, 20_000, 0],
                blocks: 1_400,
                public: [0, 60, 0],
                private: [0, 6, 0],
                min_public_per_district: u64::from(k) + 1,
                applicants_per_household: 0.034,
                copy_cap: 100_000,
                private_first: [0.0; 3],
                planned_share: 0.0,
                choice_k: Some(k),
                ..base
            },
        }
    }

    /// The stages this shape has applicants for.
    pub(crate) fn stages(&self) -> impl Iterator<Item = Stage> + '_ {
        Stage::ALL.into_iter().filter(|s| self.applicants[s.index()] > 0)
    }

    /// Applicants over all stages at the default size.
    pub(crate) fn total(&self) -> u64 {
        self.applicants.iter().sum()
    }
}

/// What one copy of the city holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CopyPlan {
    /// 0-based copy number (0 = Wuxi itself).
    pub index: u32,
    /// Applicants per stage, exact.
    pub applicants: [u64; 3],
    /// Blocks.
    pub blocks: u64,
    /// Public schools per stage (open and planned).
    pub public: [u64; 3],
    /// Private schools per stage.
    pub private: [u64; 3],
    /// Mean households per block.
    pub households_per_block: f64,
}

/// Splits `total` into parts proportional to `weights` (largest remainder; ties to the
/// lower index), so the parts sum exactly to `total`.
pub(crate) fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() {
        return Vec::new();
    }
    if sum <= 0.0 {
        let mut v = vec![0; weights.len()];
        v[0] = total;
        return v;
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut parts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut left = total.saturating_sub(parts.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// Splits a requested total into copies of the city and sizes each copy.
pub(crate) fn plan(shape: &Shape, applicants: Option<u64>) -> Vec<CopyPlan> {
    let total = applicants.unwrap_or_else(|| shape.total());
    let copies = total.div_ceil(shape.copy_cap).max(1);
    let stage_weights: Vec<f64> = shape.applicants.iter().map(|&a| a as f64).collect();
    (0..copies)
        .map(|c| {
            let n = total / copies + u64::from(c < total % copies);
            let scale = n as f64 / shape.total() as f64;
            let per_stage = apportion(n, &stage_weights);
            let lin = |x: u64| (x as f64 * scale).round() as u64;
            let mut applicants = [0; 3];
            applicants.copy_from_slice(&per_stage);
            let blocks = lin(shape.blocks).max(14);
            let households = n as f64 / shape.applicants_per_household;
            CopyPlan {
                index: c as u32,
                applicants,
                blocks,
                public: shape.public.map(lin),
                private: shape.private.map(lin),
                households_per_block: (households / blocks as f64).max(20.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for p in [
            Preset::Demo,
            Preset::Wuxi,
            Preset::Choice { k: 5 },
            Preset::Choice { k: 10 },
        ] {
            assert_eq!(p.to_string().parse::<Preset>(), Ok(p));
        }
        assert_eq!(" Wuxi ".parse::<Preset>(), Ok(Preset::Wuxi));
        for bad in ["", "choice", "choice0", "choice51", "choice-1", "choice+5", "beijing"] {
            let e = bad.parse::<Preset>().expect_err(bad);
            assert!(e.to_string().contains("demo, wuxi, choice<k>"), "{e}");
        }
    }

    #[test]
    fn apportion_is_exact() {
        assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        assert_eq!(apportion(7, &[0.0, 2.0]), vec![0, 7]);
        assert_eq!(apportion(5, &[0.0, 0.0]), vec![5, 0]);
        let p = apportion(1_000_003, &[0.3, 0.5, 0.2]);
        assert_eq!(p.iter().sum::<u64>(), 1_000_003);
    }

    #[test]
    fn plans_split_into_copies() {
        let shape = Shape::of(Preset::Wuxi);
        let one = plan(&shape, None);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].applicants, [60_000, 85_000, 75_000]);
        assert_eq!(one[0].blocks, 6_000);
        let many = plan(&shape, Some(1_000_001));
        assert_eq!(many.len(), 5);
        let sum: u64 = many.iter().flat_map(|c| c.applicants).sum();
        assert_eq!(sum, 1_000_001);
        let choice = plan(&Shape::of(Preset::Choice { k: 5 }), Some(250_000));
        assert_eq!(choice.len(), 3);
        assert!(choice.iter().all(|c| c.applicants[0] == 0 && c.applicants[2] == 0));
    }
}
