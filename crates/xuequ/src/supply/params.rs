//! `planning.toml`: every coefficient of the forecast, the development check and siting, with
//! documented defaults and their sources (`shared/POLICY.md` ids in brackets).
//!
//! ```toml
//! [forecast]
//! years = 10
//! children_per_household = { kindergarten = 0.034, primary = 0.0378, junior = 0.0363 }
//! move_in_ramp = [0.30, 0.60, 0.85, 1.00]
//! new_estate_uplift = 1.0
//! [siting]
//! objective = "median"          # or "coverage"
//! service_radius_m = { kindergarten = 300, primary = 500, junior = 1000 }
//! ```
//! Every key is optional; unknown keys are errors (a misspelt key would silently keep its
//! default otherwise). The file is separate from `scenario.toml` and `policy.toml`: planning
//! assumptions change more often than admission rules.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SupplyError;
use crate::error::{Diagnostic, Diagnostics};
use crate::model::Stage;

/// One value per stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PerStage<T> {
    /// Kindergarten (幼儿园), small class.
    pub kindergarten: T,
    /// Primary (小学), grade 1.
    pub primary: T,
    /// Junior high (初中), grade 7.
    pub junior: T,
}

impl<T: Copy> PerStage<T> {
    /// The value of a stage.
    pub fn get(&self, stage: Stage) -> T {
        match stage {
            Stage::Kindergarten => self.kindergarten,
            Stage::Primary => self.primary,
            Stage::Junior => self.junior,
        }
    }

    /// Sets the value of a stage.
    pub fn set(&mut self, stage: Stage, value: T) {
        match stage {
            Stage::Kindergarten => self.kindergarten = value,
            Stage::Primary => self.primary = value,
            Stage::Junior => self.junior = value,
        }
    }
}

/// Forecast coefficients (`[forecast]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastParams {
    /// Years to forecast, the scenario's year first (default 10).
    pub years: u32,
    /// Age (completed years at the 31 August cutoff) at which children enter each stage's entry
    /// grade (default kindergarten 3, primary 6, junior 12; POLICY E3c: 6 years old by 31
    /// August for grade 1). Ages in `population.csv` are counted the same way in the
    /// scenario's year.
    pub entry_age: PerStage<u32>,
    /// Entry-grade children per occupied household per year, used where `population.csv` has
    /// no rows for a block (default kindergarten 0.034, primary 0.0378, junior 0.0363).
    /// Source: P5 entrants per 1,000 residents (primary 12.6, junior 12.1; kindergarten 34.0
    /// enrolled over three cohorts = 11.33) × P6 3.0 persons per dwelling ÷ 1,000 — the same
    /// arithmetic as P6's "≈ 3.8 children per grade per 100 households".
    pub children_per_household: PerStage<f64>,
    /// Annual relative change of the per-household rate, e.g. −0.05 for entry cohorts shrinking
    /// by 5 % a year (default 0 for every stage). P5: births fell from ≈ 17.9 M (2016) to
    /// ≈ 9.0 M (2023, unconfirmed), so primary intake falls from about 2023 and junior intake
    /// from about 2029; set a trend once the local birth series is known.
    pub annual_change: PerStage<f64>,
    /// Annual relative change of births for cohorts not yet born in the scenario's year,
    /// projected from the age-0 count of `population.csv` (default 0; see `annual_change`).
    pub births_change: f64,
    /// Share of a block's children still living there one year later, applied once per year
    /// of cohort progression (default 1.0: no net migration; no source gives a local figure).
    pub survival: f64,
    /// Multiplier on the per-household rate for new blocks (新建小区): new estates skew young
    /// (default 1.0; P6 reports uplifts of 1.0–1.3 with no official coefficient).
    pub new_estate_uplift: f64,
    /// Share of a new block's planned households living there in its first, second, …
    /// move-in year; the last value holds afterwards (default 30 %, 60 %, 85 %, 100 %, the
    /// schedule in issue 5; no published source).
    pub move_in_ramp: Vec<f64>,
    /// Share of children who are migrant children (随迁子女), reported as `migrant_demand`.
    /// Default: observed in `students.csv` — the block's share where it has at least 10
    /// applicants, else its district's, else 0.
    pub migrant_share: Option<f64>,
    /// Share of children expected to take private-school places outside the public track
    /// (default 0 for every stage: lottery losers fall back to the public track, E8a, and the
    /// public side must be ready to admit every eligible child, E10).
    pub private_share: PerStage<f64>,
    /// Scale the per-household rate per district and stage so that the scenario year's
    /// forecast for existing blocks equals this year's applicants in `students.csv`
    /// (default false).
    pub calibrate: bool,
    /// Standard entry-grade class size where `schools.csv` gives none (default kindergarten
    /// 25 small class, primary 45, junior 50; P4).
    pub class_size: PerStage<u32>,
    /// Average class size from which a school is flagged as 大班额 (default 56 for every stage:
    /// P4's MOE band 56–65 for primary and junior; P4 gives no band for kindergarten, whose
    /// standard small class is 25 — set a lower value there if the bureau has one).
    pub large_class: PerStage<u32>,
    /// Average class size from which a school is flagged as 超大班额 (default 66 for every stage;
    /// P4).
    pub super_large_class: PerStage<u32>,
    /// Give a block without a zone row (typically a new block) the zone of its nearest zoned
    /// block of the same district (default true); otherwise its demand counts as unzoned
    /// shortfall.
    pub infer_zones: bool,
}

impl Default for ForecastParams {
    fn default() -> Self {
        ForecastParams {
            years: 10,
            entry_age: PerStage {
                kindergarten: 3,
                primary: 6,
                junior: 12,
            },
            children_per_household: PerStage {
                kindergarten: 0.034,
                primary: 0.0378,
                junior: 0.0363,
            },
            annual_change: PerStage {
                kindergarten: 0.0,
                primary: 0.0,
                junior: 0.0,
            },
            births_change: 0.0,
            survival: 1.0,
            new_estate_uplift: 1.0,
            move_in_ramp: vec![0.30, 0.60, 0.85, 1.00],
            migrant_share: None,
            private_share: PerStage {
                kindergarten: 0.0,
                primary: 0.0,
                junior: 0.0,
            },
            calibrate: false,
            class_size: PerStage {
                kindergarten: 25,
                primary: 45,
                junior: 50,
            },
            large_class: PerStage {
                kindergarten: 56,
                primary: 56,
                junior: 56,
            },
            super_large_class: PerStage {
                kindergarten: 66,
                primary: 66,
                junior: 66,
            },
            infer_zones: true,
        }
    }
}

impl ForecastParams {
    /// The move-in share `k` years after a new block's first move-in year (0 before it).
    pub fn ramp(&self, k: i64) -> f64 {
        if k < 0 || self.move_in_ramp.is_empty() {
            return if k < 0 { 0.0 } else { 1.0 };
        }
        let i = (k as usize).min(self.move_in_ramp.len() - 1);
        self.move_in_ramp[i]
    }
}

/// Development-check settings (`[development]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevelopmentParams {
    /// How many nearby schools with spare seats to list for each new block and stage
    /// (default 5).
    pub nearby: usize,
}

impl Default for DevelopmentParams {
    fn default() -> Self {
        DevelopmentParams { nearby: 5 }
    }
}

/// What siting optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Capacitated p-median: minimise total home–school metres plus a penalty per child
    /// without a seat (default).
    #[default]
    Median,
    /// Capacitated maximal covering: maximise children seated within the service radius
    /// (each child seated outside it costs `uncovered_penalty_m`), then distance.
    Coverage,
}

impl Objective {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Median => "median",
            Objective::Coverage => "coverage",
        }
    }
}

impl std::str::FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "median" | "p-median" | "pmedian" => Ok(Objective::Median),
            "coverage" | "covering" | "mclp" => Ok(Objective::Coverage),
            other => Err(format!("unknown objective \"{other}\"; use median or coverage")),
        }
    }
}

/// Siting settings (`[siting]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SitingParams {
    /// What to optimise (default `median`).
    pub objective: Objective,
    /// The design year whose forecast demand the new schools must serve. Default: the
    /// forecast year with the most demand for the stage (the earliest of equal years).
    pub year: Option<i32>,
    /// Service radius per stage (服务半径), metres (default kindergarten 300, primary 500,
    /// junior 1000; P1, GB 50180-2018 Appendix B).
    pub service_radius_m: PerStage<u32>,
    /// Cost of a child left without a seat, in metres (default 50,000: more than any
    /// home–school trip inside one district, so seating everyone always comes first).
    pub unmet_penalty_m: u32,
    /// `coverage` objective only: extra cost of a child seated beyond the service radius, in
    /// metres (default 20,000). The penalty of an unseated child is then
    /// `unmet_penalty_m + uncovered_penalty_m`.
    pub uncovered_penalty_m: u32,
    /// Children are only seated at schools and sites of their own district, as in allocation
    /// and overflow placement (统筹 is run by the district bureau, E7) (default true).
    pub within_district: bool,
    /// Each block may use its this-many nearest existing schools of the stage (default 12).
    pub nearest_schools: usize,
    /// Each block may use its this-many nearest candidate sites (default 12).
    pub nearest_sites: usize,
    /// Candidate moves re-evaluated exactly per step, best first by the dual-priced screen
    /// (default 8).
    pub screen: usize,
    /// When none of the screened moves improves, the screen widens fourfold up to this many
    /// before the search stops (default 64).
    pub screen_max: usize,
    /// Most interchange moves accepted (default 500).
    pub max_moves: usize,
    /// Seats of a candidate site whose `capacity` cell is empty (default kindergarten 100 =
    /// 12 classes / 3 grades × 25, primary 270 = 36 classes / 6 grades × 45, junior 600 = 36
    /// classes / 3 grades × 50: the largest schools P3 allows, at the P4 class sizes).
    pub default_capacity: PerStage<u32>,
    /// [`super::site_exact`] refuses problems with more subsets than this (default 200,000).
    pub exact_limit: u64,
}

impl Default for SitingParams {
    fn default() -> Self {
        SitingParams {
            objective: Objective::Median,
            year: None,
            service_radius_m: PerStage {
                kindergarten: 300,
                primary: 500,
                junior: 1000,
            },
            unmet_penalty_m: 50_000,
            uncovered_penalty_m: 20_000,
            within_district: true,
            nearest_schools: 12,
            nearest_sites: 12,
            screen: 8,
            screen_max: 64,
            max_moves: 500,
            default_capacity: PerStage {
                kindergarten: 100,
                primary: 270,
                junior: 600,
            },
            exact_limit: 200_000,
        }
    }
}

/// All planning parameters (`planning.toml`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PlanningParams {
    /// `[forecast]`.
    pub forecast: ForecastParams,
    /// `[development]`.
    pub development: DevelopmentParams,
    /// `[siting]`.
    pub siting: SitingParams,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StagesFile<T> {
    kindergarten: Option<T>,
    primary: Option<T>,
    junior: Option<T>,
}

impl<T: Copy> StagesFile<T> {
    fn merge(&self, into: &mut PerStage<T>) {
        for s in Stage::ALL {
            let v = match s {
                Stage::Kindergarten => self.kindergarten,
                Stage::Primary => self.primary,
                Stage::Junior => self.junior,
            };
            if let Some(v) = v {
                into.set(s, v);
            }
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PlanningFile {
    #[serde(default)]
    forecast: ForecastFile,
    #[serde(default)]
    development: DevelopmentFile,
    #[serde(default)]
    siting: SitingFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ForecastFile {
    years: Option<u32>,
    entry_age: Option<StagesFile<u32>>,
    children_per_household: Option<StagesFile<f64>>,
    annual_change: Option<StagesFile<f64>>,
    births_change: Option<f64>,
    survival: Option<f64>,
    new_estate_uplift: Option<f64>,
    move_in_ramp: Option<Vec<f64>>,
    migrant_share: Option<f64>,
    private_share: Option<StagesFile<f64>>,
    calibrate: Option<bool>,
    class_size: Option<StagesFile<u32>>,
    large_class: Option<StagesFile<u32>>,
    super_large_class: Option<StagesFile<u32>>,
    infer_zones: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DevelopmentFile {
    nearby: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SitingFile {
    objective: Option<Objective>,
    year: Option<i32>,
    service_radius_m: Option<StagesFile<u32>>,
    unmet_penalty_m: Option<u32>,
    uncovered_penalty_m: Option<u32>,
    within_district: Option<bool>,
    nearest_schools: Option<usize>,
    nearest_sites: Option<usize>,
    screen: Option<usize>,
    screen_max: Option<usize>,
    max_moves: Option<usize>,
    default_capacity: Option<StagesFile<u32>>,
    exact_limit: Option<u64>,
}

/// Reports `key` unless `v` is a finite number in `lo..=hi`; true when it is.
fn check_range(
    bad: &mut impl FnMut(&str, String, &str, &str),
    key: &str,
    v: f64,
    lo: f64,
    hi: f64,
    hint: &str,
) -> bool {
    if v.is_finite() && (lo..=hi).contains(&v) {
        true
    } else {
        bad(key, v.to_string(), &format!("must be a number from {lo} to {hi}"), hint);
        false
    }
}

/// The 1-based line where `key` is first assigned in `text` (for diagnostics).
fn key_line(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('=') || rest.starts_with('.'))
        })
        .map(|i| i as u64 + 1)
}

impl PlanningParams {
    /// Reads `planning.toml`.
    pub fn load(path: &Path) -> Result<PlanningParams, SupplyError> {
        let bytes = super::read_file(path)?;
        let file = path.display().to_string();
        let Ok(text) = String::from_utf8(bytes) else {
            let mut d = Diagnostics::default();
            d.push(Diagnostic::file(
                file,
                "the file is not valid UTF-8",
                "save planning.toml as UTF-8",
            ));
            return Err(SupplyError::Invalid(d));
        };
        PlanningParams::from_toml(&text, &file).map_err(SupplyError::Invalid)
    }

    /// Parses `planning.toml` text; `file` names it in diagnostics. Every problem is reported.
    pub fn from_toml(text: &str, file: &str) -> Result<PlanningParams, Diagnostics> {
        let text = text.trim_start_matches('\u{feff}');
        let mut diags = Diagnostics::default();
        let parsed: PlanningFile = match toml::from_str(text) {
            Ok(p) => p,
            Err(e) => {
                let mut d = Diagnostic::file(
                    file,
                    e.message().to_string(),
                    "sections are [forecast], [development] and [siting]; see docs/supply.md for every key",
                );
                if let Some(span) = e.span() {
                    let (line, col) = crate::policy::line_col(text, span.start);
                    d.line = Some(line);
                    d.column = Some(col);
                    d.value = Some(text[span].chars().take(60).collect());
                }
                diags.push(d);
                return Err(diags);
            }
        };
        let mut p = PlanningParams::default();
        let mut bad = |key: &str, value: String, message: &str, hint: &str| {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            let mut d = Diagnostic::file(file, message, hint)
                .at_field(None, key)
                .with_value(value);
            d.line = key_line(text, leaf);
            diags.push(d);
        };

        let f = parsed.forecast;
        let fp = &mut p.forecast;
        if let Some(v) = f.years {
            if (1..=50).contains(&v) {
                fp.years = v;
            } else {
                bad(
                    "forecast.years",
                    v.to_string(),
                    "years must be 1 to 50",
                    "e.g. years = 10",
                );
            }
        }
        if let Some(v) = f.entry_age {
            v.merge(&mut fp.entry_age);
            for s in Stage::ALL {
                if fp.entry_age.get(s) > 18 {
                    bad(
                        &format!("forecast.entry_age.{s}"),
                        fp.entry_age.get(s).to_string(),
                        "an entry age must be 0 to 18",
                        "ages are completed years at the 31 August cutoff, e.g. primary = 6",
                    );
                }
            }
        }
        if let Some(v) = f.children_per_household {
            v.merge(&mut fp.children_per_household);
            for s in Stage::ALL {
                check_range(
                    &mut bad,
                    &format!("forecast.children_per_household.{s}"),
                    fp.children_per_household.get(s),
                    0.0,
                    10.0,
                    "children per household per grade, e.g. primary = 0.0378",
                );
            }
        }
        if let Some(v) = f.annual_change {
            v.merge(&mut fp.annual_change);
            for s in Stage::ALL {
                check_range(
                    &mut bad,
                    &format!("forecast.annual_change.{s}"),
                    fp.annual_change.get(s),
                    -0.99,
                    10.0,
                    "a yearly relative change, e.g. -0.05 for 5 % fewer children each year",
                );
            }
        }
        if let Some(v) = f.births_change
            && check_range(
                &mut bad,
                "forecast.births_change",
                v,
                -0.99,
                10.0,
                "a yearly relative change, e.g. -0.05",
            )
        {
            fp.births_change = v;
        }
        if let Some(v) = f.survival
            && check_range(
                &mut bad,
                "forecast.survival",
                v,
                0.0,
                2.0,
                "the share of children still in the block a year later, e.g. 0.98",
            )
        {
            fp.survival = v;
        }
        if let Some(v) = f.new_estate_uplift
            && check_range(
                &mut bad,
                "forecast.new_estate_uplift",
                v,
                0.0,
                10.0,
                "a multiplier such as 1.2 (POLICY P6: 1.0–1.3)",
            )
        {
            fp.new_estate_uplift = v;
        }
        if let Some(v) = f.move_in_ramp {
            let ok = !v.is_empty() && v.iter().all(|x| x.is_finite() && (0.0..=1.0).contains(x));
            if ok {
                fp.move_in_ramp = v;
            } else {
                bad(
                    "forecast.move_in_ramp",
                    format!("{v:?}"),
                    "move_in_ramp must list one to many shares from 0 to 1",
                    "e.g. move_in_ramp = [0.30, 0.60, 0.85, 1.00]",
                );
            }
        }
        if let Some(v) = f.migrant_share
            && check_range(
                &mut bad,
                "forecast.migrant_share",
                v,
                0.0,
                1.0,
                "a share from 0 to 1, or leave it out to use the share observed in students.csv",
            )
        {
            fp.migrant_share = Some(v);
        }
        if let Some(v) = f.private_share {
            v.merge(&mut fp.private_share);
            for s in Stage::ALL {
                check_range(
                    &mut bad,
                    &format!("forecast.private_share.{s}"),
                    fp.private_share.get(s),
                    0.0,
                    1.0,
                    "a share from 0 to 1",
                );
            }
        }
        if let Some(v) = f.calibrate {
            fp.calibrate = v;
        }
        if let Some(v) = f.class_size {
            v.merge(&mut fp.class_size);
            for s in Stage::ALL {
                if fp.class_size.get(s) == 0 {
                    bad(
                        &format!("forecast.class_size.{s}"),
                        "0".into(),
                        "a class size must be at least 1",
                        "POLICY P4: kindergarten 25, primary 45, junior 50",
                    );
                }
            }
        }
        if let Some(v) = f.large_class {
            v.merge(&mut fp.large_class);
        }
        if let Some(v) = f.super_large_class {
            v.merge(&mut fp.super_large_class);
        }
        for s in Stage::ALL {
            let (l, x) = (fp.large_class.get(s), fp.super_large_class.get(s));
            if l == 0 || l > x {
                bad(
                    &format!("forecast.large_class.{s}"),
                    format!("{l} / {x}"),
                    "large_class must be at least 1 and at most super_large_class",
                    "POLICY P4: large_class = 56, super_large_class = 66",
                );
            }
        }
        if let Some(v) = f.infer_zones {
            fp.infer_zones = v;
        }

        if let Some(v) = parsed.development.nearby {
            p.development.nearby = v;
        }

        let s = parsed.siting;
        let sp = &mut p.siting;
        if let Some(v) = s.objective {
            sp.objective = v;
        }
        if let Some(v) = s.year {
            if (1900..=2300).contains(&v) {
                sp.year = Some(v);
            } else {
                bad(
                    "siting.year",
                    v.to_string(),
                    "the design year is out of range",
                    "a year inside the forecast, e.g. year = 2030",
                );
            }
        }
        if let Some(v) = s.service_radius_m {
            v.merge(&mut sp.service_radius_m);
        }
        if let Some(v) = s.unmet_penalty_m {
            if v == 0 {
                bad(
                    "siting.unmet_penalty_m",
                    "0".into(),
                    "the penalty for a child without a seat must be positive",
                    "use a distance larger than any home–school trip, e.g. 50000",
                );
            } else {
                sp.unmet_penalty_m = v;
            }
        }
        if let Some(v) = s.uncovered_penalty_m {
            sp.uncovered_penalty_m = v;
        }
        if let Some(v) = s.within_district {
            sp.within_district = v;
        }
        if let Some(v) = s.nearest_schools {
            sp.nearest_schools = v;
        }
        if let Some(v) = s.nearest_sites {
            if v == 0 {
                bad(
                    "siting.nearest_sites",
                    "0".into(),
                    "each block needs at least one candidate site to choose from",
                    "e.g. nearest_sites = 12",
                );
            } else {
                sp.nearest_sites = v;
            }
        }
        if let Some(v) = s.screen {
            sp.screen = v.max(1);
        }
        if let Some(v) = s.screen_max {
            sp.screen_max = v.max(1);
        }
        if let Some(v) = s.max_moves {
            sp.max_moves = v;
        }
        if let Some(v) = s.default_capacity {
            v.merge(&mut sp.default_capacity);
        }
        if let Some(v) = s.exact_limit {
            sp.exact_limit = v;
        }
        if diags.is_empty() { Ok(p) } else { Err(diags) }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(
            PlanningParams::from_toml("", "p.toml").unwrap(),
            PlanningParams::default()
        );
    }

    #[test]
    fn partial_stage_tables_keep_other_defaults() {
        let p = PlanningParams::from_toml(
            "[forecast]\nchildren_per_household = { primary = 0.05 }\n[siting]\nobjective = \"coverage\"\n",
            "p.toml",
        )
        .unwrap();
        assert_eq!(p.forecast.children_per_household.primary, 0.05);
        assert_eq!(p.forecast.children_per_household.junior, 0.0363);
        assert_eq!(p.siting.objective, Objective::Coverage);
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = PlanningParams::from_toml("[forecast]\nyeras = 3\n", "p.toml").unwrap_err();
        let d = &e.items()[0];
        assert_eq!(d.line, Some(2));
        assert!(d.message.contains("yeras"), "{d}");
    }

    #[test]
    fn bad_values_are_all_reported_with_the_key_line() {
        let e = PlanningParams::from_toml(
            "[forecast]\nyears = 0\nmove_in_ramp = [0.5, 1.5]\nsurvival = -1\n",
            "p.toml",
        )
        .unwrap_err();
        assert_eq!(e.total(), 3, "{e}");
        let ramp = e
            .items()
            .iter()
            .find(|d| d.field.as_deref() == Some("forecast.move_in_ramp"));
        assert_eq!(ramp.and_then(|d| d.line), Some(3));
        assert!(e.to_string().contains("fix:"));
    }

    #[test]
    fn ramp_holds_last_value() {
        let p = ForecastParams::default();
        assert_eq!(p.ramp(-1), 0.0);
        assert_eq!(p.ramp(0), 0.30);
        assert_eq!(p.ramp(3), 1.0);
        assert_eq!(p.ramp(30), 1.0);
    }
}
