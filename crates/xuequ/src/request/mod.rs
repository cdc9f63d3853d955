//! One request per command: what to run, with documented defaults and builder-style
//! overrides, assembled here so that every front end (the `xuequ` command line, the Python
//! package, a program of your own) makes the same decisions.
//!
//! Each request is built from a scenario ([`ScenarioInput`]: a `scenario.toml` path or a
//! [`Dataset`] already loaded), takes overrides through builder methods (`.seed(..)`,
//! `.threads(..)`, `.stage(..)`, `.distance(..)`, …) and runs with `.run()` (a typed
//! outcome) or `.write(out_dir)` (the command's output set, written atomically: the same
//! files, byte for byte, as the command line writes). The `_with` variants take an
//! [`Observer`] that hears about steps, timings, warnings and progress; the library itself
//! never prints.
//!
//! | command | request | outcome |
//! |---|---|---|
//! | `xuequ run` (one scenario) | [`AllocationRequest`] | [`Allocated`], [`RunOutcome`] |
//! | `xuequ run` (several) | [`AllocationBatch`] | [`BatchItem`]s |
//! | `xuequ validate` | [`ValidateRequest`] | [`Validation`] |
//! | `xuequ explain` | [`ExplainRequest`] | [`crate::Explanation`] |
//! | the audit alone | [`AuditRequest`] | [`crate::AuditReport`] |
//! | `xuequ compare` | [`CompareRequest`] | [`CompareOutcome`] |
//! | `xuequ zone` | [`ZoningRequest`] | [`ZoningOutcome`] |
//! | `xuequ lookup` | [`LookupRequest`] | [`LookupOutcome`] |
//! | `xuequ forecast` | [`ForecastRequest`] | [`ForecastOutcome`] |
//! | `xuequ check-development` | [`DevelopmentRequest`] | [`DevelopmentOutcome`] |
//! | `xuequ site` | [`SitingRequest`] | [`SitingOutcome`] |
//! | `xuequ roads` | [`RoadsRequest`] | [`crate::spatial::RoadsReport`] |
//! | `xuequ zones-from-list` | [`ZonesFromListRequest`] | [`crate::names::from_list::FromList`] |
//! | `xuequ synth` | [`write_staged`] around `xuequ_synth::write_city` | its summary |
//!
//! Failures are [`RequestError`]s; [`RequestError::kind`] sorts them into a bad request, an
//! invalid input and an operational (file) error.

mod allocation;
mod planning;
mod tools;
mod zoning;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::plausibility::Warning;
use crate::zoning::ZoningProgress;
use crate::{Dataset, Diagnostic, Progress};

pub use allocation::{
    Allocated, AllocationBatch, AllocationRequest, AuditRequest, BatchItem, CompareOutcome, CompareRequest,
    ExplainRequest, RunOptions, RunOutcome, ValidateRequest, Validation,
};
pub use planning::{
    DevelopmentOutcome, DevelopmentRequest, ForecastOutcome, ForecastRequest, Planning, SitingOutcome, SitingRequest,
};
pub use tools::{RoadsRequest, ZonesFromListRequest, write_staged};
pub use zoning::{
    DemandChoice, LookupAnswer, LookupHit, LookupOutcome, LookupRequest, ZoningOutcome, ZoningRequest, parse_capacity,
};

/// The scenario a request runs on: a `scenario.toml` to load, or a dataset already loaded
/// (shared, so many requests can run on one load).
#[derive(Debug, Clone)]
pub enum ScenarioInput {
    /// Load and validate this `scenario.toml` and every input it names.
    Path(PathBuf),
    /// A dataset already loaded and validated.
    Loaded(Arc<Dataset>),
}

impl From<PathBuf> for ScenarioInput {
    fn from(p: PathBuf) -> Self {
        ScenarioInput::Path(p)
    }
}

impl From<&Path> for ScenarioInput {
    fn from(p: &Path) -> Self {
        ScenarioInput::Path(p.to_path_buf())
    }
}

impl From<&PathBuf> for ScenarioInput {
    fn from(p: &PathBuf) -> Self {
        ScenarioInput::Path(p.clone())
    }
}

impl From<&str> for ScenarioInput {
    fn from(p: &str) -> Self {
        ScenarioInput::Path(PathBuf::from(p))
    }
}

impl From<Dataset> for ScenarioInput {
    fn from(d: Dataset) -> Self {
        ScenarioInput::Loaded(Arc::new(d))
    }
}

impl From<Arc<Dataset>> for ScenarioInput {
    fn from(d: Arc<Dataset>) -> Self {
        ScenarioInput::Loaded(d)
    }
}

impl ScenarioInput {
    /// The scenario's path as given (a loaded dataset's own path), for messages and the
    /// output manifest.
    pub fn label(&self) -> PathBuf {
        match self {
            ScenarioInput::Path(p) => p.clone(),
            ScenarioInput::Loaded(d) => d.scenario.path.clone(),
        }
    }

    /// The folder of the scenario file: where `zoning.toml`, `planning.toml` and
    /// `population.csv` are looked for by default.
    pub fn dir(&self) -> PathBuf {
        self.label().parent().unwrap_or(Path::new("")).to_path_buf()
    }
}

/// Hears what a request is doing. Every method has an empty default, so an observer
/// implements only what it shows; [`Silent`] hears nothing.
pub trait Observer: Sync {
    /// A step that may take a while starts (`what` says what it does).
    fn begin(&self, step: &str, what: &str) {
        let _ = (step, what);
    }
    /// Progress of a step: `done` of `total` (a total of 0: unknown), with a note.
    fn progress(&self, step: &str, done: u64, total: u64, note: &str) {
        let _ = (step, done, total, note);
    }
    /// A step finished after `elapsed`, with a one-line detail.
    fn done(&self, step: &str, elapsed: Duration, detail: &str) {
        let _ = (step, elapsed, detail);
    }
    /// Plausibility warnings about the inputs or the placements of the scenario `label`.
    fn plausibility(&self, label: &Path, warnings: &[Warning]) {
        let _ = (label, warnings);
    }
    /// Per-block warnings of the distance source (blocks off the road network, …).
    fn distance_warnings(&self, warnings: &[Diagnostic]) {
        let _ = warnings;
    }
    /// Allocation progress.
    fn allocation(&self, progress: Progress) {
        let _ = progress;
    }
    /// Zoning progress (flow rounds, bisection steps).
    fn zoning(&self, progress: ZoningProgress) {
        let _ = progress;
    }
    /// More threads were asked for than [`crate::max_threads`]; `used` are used.
    fn threads_capped(&self, asked: usize, used: usize) {
        let _ = (asked, used);
    }
}

/// An observer that hears nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Passes on only the findings (plausibility and distance warnings): for steps that run
/// side by side, whose progress would interleave.
pub(crate) struct FindingsOnly<'a>(pub &'a dyn Observer);

impl Observer for FindingsOnly<'_> {
    fn plausibility(&self, label: &Path, warnings: &[Warning]) {
        self.0.plausibility(label, warnings);
    }
    fn distance_warnings(&self, warnings: &[Diagnostic]) {
        self.0.distance_warnings(warnings);
    }
}

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The scenario or one of its inputs could not be loaded.
    #[error(transparent)]
    Load(#[from] crate::LoadError),
    /// An output could not be written.
    #[error(transparent)]
    Output(#[from] crate::OutputError),
    /// The report (page, workbook, layers) could not be written.
    #[error(transparent)]
    Report(#[from] crate::ReportError),
    /// Zoning failed.
    #[error(transparent)]
    Zoning(#[from] crate::ZoningError),
    /// Seat supply planning failed.
    #[error(transparent)]
    Supply(#[from] crate::SupplyError),
    /// The distance source could not be built.
    #[error(transparent)]
    Spatial(#[from] crate::spatial::SpatialError),
    /// A road network named for zoning could not be read or used (an input problem even
    /// when the file is missing, as the command line has always answered it).
    #[error(transparent)]
    RoadNetwork(crate::spatial::SpatialError),
    /// The explanation could not be given.
    #[error(transparent)]
    Explain(#[from] crate::ExplainError),
    /// The request itself is not valid (a parameter out of range, a missing choice).
    #[error("{0}")]
    BadRequest(String),
    /// Strict mode and the placements drew plausibility warnings.
    #[error("{count} plausibility warning(s) about the placements, errors because strict is on")]
    Strict {
        /// How many warnings.
        count: usize,
    },
    /// A generated output set could not be written.
    #[error("{0}")]
    Generate(String),
    /// The worker threads could not be started.
    #[error("cannot start {threads} threads: {message}")]
    Threads {
        /// How many were asked for.
        threads: usize,
        /// The system's reason.
        message: String,
    },
}

/// What kind of failure a [`RequestError`] is (the command line's exit code follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A file could not be read or written, or the machine refused (exit code 1).
    Operational,
    /// The request asks for something that cannot be done (exit code 2).
    BadRequest,
    /// An input has problems (exit code 3).
    InvalidInput,
}

impl RequestError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        use crate::ZoningError as Z;
        use crate::spatial::SpatialError as S;
        match self {
            RequestError::Load(crate::LoadError::Io { .. }) => ErrorKind::Operational,
            RequestError::Load(_) => ErrorKind::InvalidInput,
            RequestError::Output(_)
            | RequestError::Report(_)
            | RequestError::Threads { .. }
            | RequestError::Generate(_) => ErrorKind::Operational,
            RequestError::Zoning(Z::Io { .. } | Z::Flow(_)) => ErrorKind::Operational,
            RequestError::Zoning(Z::BadParameter { .. }) => ErrorKind::BadRequest,
            RequestError::Zoning(_) => ErrorKind::InvalidInput,
            RequestError::Supply(crate::SupplyError::Io { .. } | crate::SupplyError::Output(_)) => {
                ErrorKind::Operational
            }
            RequestError::Supply(crate::SupplyError::Request(_)) => ErrorKind::BadRequest,
            RequestError::Supply(_) => ErrorKind::InvalidInput,
            RequestError::Spatial(S::Io { .. }) => ErrorKind::Operational,
            RequestError::Spatial(_) => ErrorKind::InvalidInput,
            RequestError::Explain(_) | RequestError::Strict { .. } | RequestError::RoadNetwork(_) => {
                ErrorKind::InvalidInput
            }
            RequestError::BadRequest(_) => ErrorKind::BadRequest,
        }
    }
}

/// Runs `work` on `threads` worker threads (capped by [`crate::max_threads`], the cap
/// reported to `observer`), or on the current pool when `threads` is `None`.
pub fn with_threads<T: Send>(
    threads: Option<usize>,
    observer: &dyn Observer,
    work: impl FnOnce() -> T + Send,
) -> Result<T, RequestError> {
    let Some(asked) = threads else {
        return Ok(work());
    };
    let used = thread_count(asked)?;
    if used < asked {
        observer.threads_capped(asked, used);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(used)
        .build()
        .map_err(|e| RequestError::Threads {
            threads: used,
            message: e.to_string(),
        })?;
    Ok(pool.install(work))
}

/// The worker threads used when `asked` are asked for: at least 1 (0 is a bad request), at
/// most [`crate::max_threads`].
pub fn thread_count(asked: usize) -> Result<usize, RequestError> {
    if asked == 0 {
        return Err(RequestError::BadRequest(
            "threads = 0: use at least 1 worker thread (fix: --threads 1 or more)".to_string(),
        ));
    }
    Ok(asked.min(crate::max_threads()))
}

/// Loads (or takes) the scenario, reporting the load step, the input plausibility warnings
/// and the distance warnings, and applies a seed override.
fn load(
    input: &ScenarioInput,
    seed: Option<u64>,
    strict: bool,
    observer: &dyn Observer,
) -> Result<Arc<Dataset>, RequestError> {
    let t = Instant::now();
    let mut data = match input {
        ScenarioInput::Path(path) => {
            observer.begin("load + validate", &format!("loading {}", path.display()));
            let mut parsed = crate::Scenario::load(path)?;
            parsed.strict |= strict;
            let data = Dataset::load_scenario(parsed)?;
            observer.plausibility(path, &data.warnings);
            Arc::new(data)
        }
        ScenarioInput::Loaded(data) => Arc::clone(data),
    };
    if let Some(s) = seed
        && data.policy.seed != s
    {
        Arc::make_mut(&mut data).policy.seed = s;
    }
    if matches!(input, ScenarioInput::Path(_)) {
        observer.distance_warnings(data.spatial.warnings());
        observer.done(
            "load + validate",
            t.elapsed(),
            &format!(
                "{} schools, {} blocks, {} applicants; distance {}",
                data.city.schools.len(),
                data.city.blocks.len(),
                data.cohort.students.len(),
                data.spatial.kind()
            ),
        );
    }
    Ok(data)
}

/// Starts a command's output set in `out`, recording the scenario and its inputs.
fn begin_set(out: &Path, command: &str, label: &Path, data: &Dataset) -> Result<crate::io::OutputSet, RequestError> {
    let mut set = crate::io::OutputSet::begin(out, command)?;
    set.scenarios([label.display().to_string()]);
    set.input_records(data.input_records());
    Ok(set)
}

/// A file named explicitly, else `default` in `dir` when it exists.
fn beside(dir: &Path, explicit: Option<&Path>, default: &str) -> Option<PathBuf> {
    explicit.map(Path::to_path_buf).or_else(|| {
        let p = dir.join(default);
        p.is_file().then_some(p)
    })
}

#[cfg(test)]
mod tests;
