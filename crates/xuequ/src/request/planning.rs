//! Seat supply planning requests: forecast, development checks and siting.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::allocation::scenario_set;
use super::{Observer, RequestError, ScenarioInput, Silent, beside, load, with_threads};
use crate::supply::{
    self, CandidateSites, DevelopmentReport, Forecast, Objective, PlanningParams, Population, SiteDistances,
    SitingProblem, SitingResult,
};
use crate::{Dataset, Stage};

/// The planning inputs shared by every supply request.
///
/// Defaults: `planning.toml` beside the scenario if present (else [`PlanningParams`]'s
/// defaults), `population.csv` beside the scenario if present (else none: the forecast
/// carries this year's applicants forward), the config's forecast years (else 10).
#[derive(Debug, Clone, Default)]
pub struct Planning {
    /// The planning parameters file.
    pub planning: Option<PathBuf>,
    /// Children per block and age.
    pub population: Option<PathBuf>,
    /// Years to forecast, 1 to 50, the scenario's year first.
    pub years: Option<u32>,
    /// Plausibility warnings of the inputs are errors.
    pub strict: bool,
}

/// A supply request's scenario with its planning inputs loaded.
struct Loaded {
    data: Arc<Dataset>,
    params: PlanningParams,
    population: Option<Population>,
}

impl Planning {
    /// The planning files read besides the scenario's inputs, for the manifest: the
    /// parameters and the population, given or found beside the scenario.
    fn files(&self, input: &ScenarioInput) -> Vec<PathBuf> {
        let dir = input.dir();
        [
            beside(&dir, self.planning.as_deref(), "planning.toml"),
            beside(&dir, self.population.as_deref(), "population.csv"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn load(&self, input: &ScenarioInput, observer: &dyn Observer) -> Result<Loaded, RequestError> {
        let data = load(input, None, self.strict, observer)?;
        let dir = input.dir();
        let mut params = match beside(&dir, self.planning.as_deref(), "planning.toml") {
            Some(p) => PlanningParams::load(&p)?,
            None => PlanningParams::default(),
        };
        if let Some(y) = self.years {
            if !(1..=50).contains(&y) {
                return Err(RequestError::BadRequest(format!(
                    "--years {y}: forecast 1 to 50 years (fix: --years must be 1 to 50)"
                )));
            }
            params.forecast.years = y;
        }
        let population = match beside(&dir, self.population.as_deref(), "population.csv") {
            Some(p) => {
                let t = Instant::now();
                let pop = Population::load(&p, &data)?;
                observer.done(
                    "population",
                    t.elapsed(),
                    &format!("{} rows, {} blocks", pop.rows, pop.blocks()),
                );
                Some(pop)
            }
            None => None,
        };
        Ok(Loaded {
            data,
            params,
            population,
        })
    }
}

macro_rules! planning_builders {
    () => {
        /// Runs on this many worker threads.
        pub fn threads(mut self, threads: usize) -> Self {
            self.threads = Some(threads);
            self
        }

        /// Plausibility warnings of the inputs are errors.
        pub fn strict(mut self, strict: bool) -> Self {
            self.planning.strict = strict;
            self
        }

        /// Years to forecast (1 to 50).
        pub fn years(mut self, years: u32) -> Self {
            self.planning.years = Some(years);
            self
        }

        /// The planning parameters from this file instead of `planning.toml` beside the
        /// scenario.
        pub fn planning(mut self, path: impl Into<PathBuf>) -> Self {
            self.planning.planning = Some(path.into());
            self
        }

        /// Children per block and age from this file instead of `population.csv` beside
        /// the scenario.
        pub fn population(mut self, path: impl Into<PathBuf>) -> Self {
            self.planning.population = Some(path.into());
            self
        }

        /// CSV files start with a UTF-8 BOM.
        pub fn bom(mut self, bom: bool) -> Self {
            self.bom = bom;
            self
        }
    };
}

/// Forecasts entry-grade demand, seats and shortfalls (`xuequ forecast`). Defaults: every
/// stage of the scenario and those of [`Planning`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use xuequ::request::ForecastRequest;
/// let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/scenario.toml");
/// let dir = tempfile::tempdir()?;
/// let outcome = ForecastRequest::new(&scenario).years(3).write(dir.path())?;
/// assert_eq!(outcome.forecast.params.years, 3);
/// assert!(dir.path().join("forecast_blocks.csv").is_file());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ForecastRequest {
    input: ScenarioInput,
    threads: Option<usize>,
    planning: Planning,
    stages: Vec<Stage>,
    bom: bool,
}

/// What a forecast request did.
#[derive(Debug)]
pub struct ForecastOutcome {
    /// The scenario's inputs.
    pub data: Arc<Dataset>,
    /// The forecast.
    pub forecast: Forecast,
    /// The files written.
    pub files: Vec<PathBuf>,
}

impl ForecastRequest {
    /// A forecast of `scenario`.
    pub fn new(scenario: impl Into<ScenarioInput>) -> Self {
        ForecastRequest {
            input: scenario.into(),
            threads: None,
            planning: Planning::default(),
            stages: Vec::new(),
            bom: false,
        }
    }

    planning_builders!();

    /// Only these stages (empty: every stage of the scenario).
    pub fn stages(mut self, stages: Vec<Stage>) -> Self {
        self.stages = stages;
        self
    }

    /// Forecasts and writes the forecast tables into `out`.
    pub fn write(&self, out: &Path) -> Result<ForecastOutcome, RequestError> {
        self.write_with(out, &Silent)
    }

    /// [`write`](Self::write), telling `observer` what happens.
    pub fn write_with(&self, out: &Path, observer: &dyn Observer) -> Result<ForecastOutcome, RequestError> {
        with_threads(self.threads, observer, || {
            let l = self.planning.load(&self.input, observer)?;
            let t = Instant::now();
            let fc = supply::forecast(&l.data, l.population.as_ref(), &l.params.forecast, &self.stages);
            observer.done(
                "forecast",
                t.elapsed(),
                &format!(
                    "{} stage(s) x {} years, {} blocks",
                    fc.stages.len(),
                    fc.params.years,
                    l.data.city.blocks.len()
                ),
            );
            let t = Instant::now();
            let mut set = scenario_set(out, "forecast", &l.data)?;
            set.inputs(self.planning.files(&self.input));
            supply::report::write_forecast(&mut set, &l.data, &fc, self.bom || l.data.scenario.output.bom)?;
            let files = set.commit()?;
            observer.done(
                "write",
                t.elapsed(),
                &format!("{} files in {}", files.len(), out.display()),
            );
            Ok(ForecastOutcome {
                data: l.data,
                forecast: fc,
                files,
            })
        })?
    }
}

/// Checks whether new or named blocks are covered by their zone schools
/// (`xuequ check-development`). At least one block or a developments file is required.
#[derive(Debug, Clone)]
pub struct DevelopmentRequest {
    input: ScenarioInput,
    threads: Option<usize>,
    planning: Planning,
    stages: Vec<Stage>,
    blocks: Vec<String>,
    development: Option<PathBuf>,
    bom: bool,
}

/// What a development check found.
#[derive(Debug)]
pub struct DevelopmentOutcome {
    /// The scenario's inputs.
    pub data: Arc<Dataset>,
    /// The verdict per development and stage.
    pub report: DevelopmentReport,
    /// The files written (empty for [`DevelopmentRequest::run`]).
    pub files: Vec<PathBuf>,
}

impl DevelopmentRequest {
    /// A check in `scenario`; name blocks with [`block`](Self::block) or planned blocks with
    /// [`development`](Self::development).
    pub fn new(scenario: impl Into<ScenarioInput>) -> Self {
        DevelopmentRequest {
            input: scenario.into(),
            threads: None,
            planning: Planning::default(),
            stages: Vec::new(),
            blocks: Vec::new(),
            development: None,
            bom: false,
        }
    }

    planning_builders!();

    /// Only these stages (empty: every stage of the scenario).
    pub fn stages(mut self, stages: Vec<Stage>) -> Self {
        self.stages = stages;
        self
    }

    /// A block of blocks.csv to check.
    pub fn block(mut self, id: impl Into<String>) -> Self {
        self.blocks.push(id.into());
        self
    }

    /// Planned blocks to add and check, in the columns of blocks.csv.
    pub fn development(mut self, path: impl Into<PathBuf>) -> Self {
        self.development = Some(path.into());
        self
    }

    /// Checks.
    pub fn run(&self) -> Result<DevelopmentOutcome, RequestError> {
        self.run_with(&Silent)
    }

    /// [`run`](Self::run), telling `observer` what happens.
    pub fn run_with(&self, observer: &dyn Observer) -> Result<DevelopmentOutcome, RequestError> {
        with_threads(self.threads, observer, || self.check(observer))?
    }

    /// Checks and writes development.csv, development_nearby.csv and development.json.
    pub fn write(&self, out: &Path) -> Result<DevelopmentOutcome, RequestError> {
        self.write_with(out, &Silent)
    }

    /// [`write`](Self::write), telling `observer` what happens.
    pub fn write_with(&self, out: &Path, observer: &dyn Observer) -> Result<DevelopmentOutcome, RequestError> {
        with_threads(self.threads, observer, || {
            let mut outcome = self.check(observer)?;
            let t = Instant::now();
            let mut set = scenario_set(out, "check-development", &outcome.data)?;
            set.inputs(
                self.planning
                    .files(&self.input)
                    .into_iter()
                    .chain(self.development.clone()),
            );
            supply::report::write_development(&mut set, &outcome.report, self.bom || outcome.data.scenario.output.bom)?;
            outcome.files = set.commit()?;
            observer.done(
                "write",
                t.elapsed(),
                &format!("{} files in {}", outcome.files.len(), out.display()),
            );
            Ok(outcome)
        })?
    }

    fn check(&self, observer: &dyn Observer) -> Result<DevelopmentOutcome, RequestError> {
        if self.blocks.is_empty() && self.development.is_none() {
            return Err(RequestError::BadRequest(
                "name a block with --block ID or a file of planned blocks with --development FILE".to_string(),
            ));
        }
        let l = self.planning.load(&self.input, observer)?;
        let new_blocks = match &self.development {
            Some(p) => supply::read_developments(p, &l.data)?,
            None => Vec::new(),
        };
        let ids: Vec<&str> = self.blocks.iter().map(String::as_str).collect();
        let t = Instant::now();
        let report = supply::check_development(
            &l.data,
            l.population.as_ref(),
            &l.params,
            &ids,
            &new_blocks,
            &self.stages,
        )?;
        observer.done(
            "check",
            t.elapsed(),
            &format!("{} development(s)", report.developments.len()),
        );
        Ok(DevelopmentOutcome {
            data: l.data,
            report,
            files: Vec::new(),
        })
    }
}

/// Chooses sites for new schools among candidate sites (`xuequ site`).
///
/// Defaults: planning.toml's objective and design year (else median and the forecast year
/// with the most demand), great-circle distances from blocks to sites, the swap heuristic
/// (not exhaustive enumeration), and those of [`Planning`].
#[derive(Debug, Clone)]
pub struct SitingRequest {
    input: ScenarioInput,
    threads: Option<usize>,
    planning: Planning,
    stage: Stage,
    new_schools: usize,
    sites: PathBuf,
    site_distances: Option<PathBuf>,
    objective: Option<Objective>,
    year: Option<i32>,
    exact: bool,
    bom: bool,
}

/// What a siting request chose.
#[derive(Debug)]
pub struct SitingOutcome {
    /// The scenario's inputs.
    pub data: Arc<Dataset>,
    /// The instance solved.
    pub problem: SitingProblem,
    /// The sites chosen, with before/after figures.
    pub result: SitingResult,
    /// The files written.
    pub files: Vec<PathBuf>,
}

impl SitingRequest {
    /// Places `new_schools` schools of `stage` among the candidate sites in `sites`
    /// (`site_id,name,district,lon,lat,capacity[,stage]`).
    pub fn new(
        scenario: impl Into<ScenarioInput>,
        stage: Stage,
        new_schools: usize,
        sites: impl Into<PathBuf>,
    ) -> Self {
        SitingRequest {
            input: scenario.into(),
            threads: None,
            planning: Planning::default(),
            stage,
            new_schools,
            sites: sites.into(),
            site_distances: None,
            objective: None,
            year: None,
            exact: false,
            bom: false,
        }
    }

    planning_builders!();

    /// Travel metres from blocks to sites (`site_id,block_id,distance_m`).
    pub fn site_distances(mut self, path: impl Into<PathBuf>) -> Self {
        self.site_distances = Some(path.into());
        self
    }

    /// Median (distance + unmet penalty) or coverage (children within the service radius).
    pub fn objective(mut self, objective: Objective) -> Self {
        self.objective = Some(objective);
        self
    }

    /// The design year.
    pub fn year(mut self, year: i32) -> Self {
        self.year = Some(year);
        self
    }

    /// Enumerate every subset of sites instead of the heuristic (small cases only).
    pub fn exact(mut self, exact: bool) -> Self {
        self.exact = exact;
        self
    }

    /// Chooses the sites and writes the siting tables into `out`.
    pub fn write(&self, out: &Path) -> Result<SitingOutcome, RequestError> {
        self.write_with(out, &Silent)
    }

    /// [`write`](Self::write), telling `observer` what happens.
    pub fn write_with(&self, out: &Path, observer: &dyn Observer) -> Result<SitingOutcome, RequestError> {
        with_threads(self.threads, observer, || self.site(out, observer))?
    }

    fn site(&self, out: &Path, observer: &dyn Observer) -> Result<SitingOutcome, RequestError> {
        let mut l = self.planning.load(&self.input, observer)?;
        if let Some(o) = self.objective {
            l.params.siting.objective = o;
        }
        if let Some(y) = self.year {
            l.params.siting.year = Some(y);
        }
        let sites = CandidateSites::load(&self.sites, &l.data)?;
        let distances = match &self.site_distances {
            Some(p) => Some(SiteDistances::load(p, &l.data, &sites)?),
            None => None,
        };
        let t = Instant::now();
        let fc = supply::forecast(&l.data, l.population.as_ref(), &l.params.forecast, &[self.stage]);
        observer.done("forecast", t.elapsed(), &format!("{} years", fc.params.years));
        let t = Instant::now();
        let problem = SitingProblem::build(&l.data, &fc, self.stage, &sites, distances.as_ref(), &l.params.siting)?;
        observer.done(
            "problem",
            t.elapsed(),
            &format!(
                "design year {}, {} blocks, {} schools, {} sites, {} arcs",
                problem.year,
                problem.blocks.len(),
                problem.existing,
                problem.candidates(),
                problem.instance.arc_count()
            ),
        );
        let t = Instant::now();
        observer.begin("site", &format!("placing {} schools", self.new_schools));
        let result = if self.exact {
            supply::site_exact(&problem, self.new_schools, &l.params.siting)
        } else {
            supply::site_with_progress(&problem, self.new_schools, &l.params.siting, &|p| {
                observer.progress("site", 0, 0, &p.to_string());
            })
        }?;
        observer.done(
            "site",
            t.elapsed(),
            &format!("{} exact evaluations, {} swaps", result.evaluations, result.moves),
        );
        let t = Instant::now();
        let mut set = scenario_set(out, "site", &l.data)?;
        let site_files = std::iter::once(self.sites.clone()).chain(self.site_distances.clone());
        set.inputs(self.planning.files(&self.input).into_iter().chain(site_files));
        supply::report::write_siting(&mut set, &problem, &result, self.bom || l.data.scenario.output.bom)?;
        let files = set.commit()?;
        observer.done(
            "write",
            t.elapsed(),
            &format!("{} files in {}", files.len(), out.display()),
        );
        Ok(SitingOutcome {
            data: l.data,
            problem,
            result,
            files,
        })
    }
}
