//! Allocation, validation, explanation, audit and comparison requests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use super::{FindingsOnly, Observer, RequestError, ScenarioInput, Silent, begin_set, load, with_threads};
use crate::output::Summary;
use crate::plausibility::Warning;
use crate::{Allocation, AuditFailed, AuditReport, Dataset, Explanation, ReportOptions, Stage, WriteOptions};

/// What a run does besides allocating: the settings shared by [`AllocationRequest`] and
/// [`AllocationBatch`]. The defaults are those of `xuequ run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// The lottery seed instead of the policy's (default: the policy's).
    pub seed: Option<u64>,
    /// Plausibility warnings are errors, as with `strict = true` in scenario.toml (default:
    /// off; the scenario's own `strict` still applies).
    pub strict: bool,
    /// Also run this many lotteries and write the `risk_*.csv` odds (default: none).
    pub lotteries: Option<u32>,
    /// CSV files start with a UTF-8 BOM (default: off; the scenario's `[output] bom` still
    /// applies).
    pub bom: bool,
    /// Write `report.html` (default: on).
    pub html: bool,
    /// Write `results.xlsx` (default: off).
    pub xlsx: bool,
    /// Write the GIS layers (`zones.geojson`, `blocks.geojson`, `layers.gpkg`); `None`
    /// (the default) writes them with the page.
    pub layers: Option<bool>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            seed: None,
            strict: false,
            lotteries: None,
            bom: false,
            html: true,
            xlsx: false,
            layers: None,
        }
    }
}

impl RunOptions {
    /// The report files these options write.
    pub fn report(&self) -> ReportOptions {
        ReportOptions {
            html: self.html,
            xlsx: self.xlsx,
            layers: self.layers.unwrap_or(self.html),
        }
    }
}

/// Allocates a scenario's seats (`xuequ run`): load, allocate, check the placements, audit,
/// and on [`write`](Self::write) the result files, the report and the lottery odds.
///
/// Defaults: the policy's seed, the current thread pool, not strict, no lotteries, no BOM,
/// `report.html` and the GIS layers but no workbook ([`RunOptions`]).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use xuequ::request::AllocationRequest;
/// let dir = tempfile::tempdir()?;
/// let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/scenario.toml");
/// let outcome = AllocationRequest::new(&scenario)
///     .seed(7)
///     .threads(2)
///     .html(false)
///     .write(dir.path())?;
/// assert!(outcome.allocated.audit.passed());
/// assert!(dir.path().join("assignments.csv").is_file());
/// assert!(!dir.path().join("report.html").exists());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AllocationRequest {
    input: ScenarioInput,
    threads: Option<usize>,
    options: RunOptions,
}

/// A scenario allocated, checked and audited.
#[derive(Debug, Clone)]
pub struct Allocated {
    /// The scenario's inputs (with the seed actually used).
    pub data: Arc<Dataset>,
    /// The allocation of every stage.
    pub allocation: Arc<Allocation>,
    /// The independent audit.
    pub audit: AuditReport,
    /// Plausibility warnings about the placements.
    pub placement_warnings: Vec<Warning>,
}

impl Allocated {
    /// An allocation made elsewhere (e.g. [`crate::allocate()`]), audited and checked here.
    pub fn new(data: Arc<Dataset>, allocation: Arc<Allocation>) -> Self {
        let audit = crate::audit(&data, &allocation);
        let placement_warnings = crate::plausibility::check_allocation(&data, &allocation);
        Allocated {
            data,
            allocation,
            audit,
            placement_warnings,
        }
    }

    /// The audit's verdict as an error value when it found violations.
    pub fn audit_failed(&self) -> Option<AuditFailed> {
        (!self.audit.passed()).then(|| AuditFailed {
            count: self.audit.violation_count(),
            first: self.audit.first_violation().unwrap_or_default(),
        })
    }

    /// The run's summary (per stage: applicants, placed, zone share, unplaced, seats left).
    pub fn summary(&self) -> Summary {
        crate::output::summary(&self.data, &self.allocation, &self.audit)
    }
}

/// What [`AllocationRequest::write`] did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The allocation and its audit.
    pub allocated: Allocated,
    /// The run's summary.
    pub summary: Summary,
    /// The files written (their final paths).
    pub files: Vec<PathBuf>,
}

impl AllocationRequest {
    /// A run of `scenario` with the defaults of [`RunOptions`].
    pub fn new(scenario: impl Into<ScenarioInput>) -> Self {
        AllocationRequest {
            input: scenario.into(),
            threads: None,
            options: RunOptions::default(),
        }
    }

    /// All the run options at once.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// The lottery seed instead of the policy's.
    pub fn seed(mut self, seed: u64) -> Self {
        self.options.seed = Some(seed);
        self
    }

    /// Runs on this many worker threads (capped by [`crate::max_threads`]); results are the
    /// same at any count.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Plausibility warnings are errors.
    pub fn strict(mut self, strict: bool) -> Self {
        self.options.strict = strict;
        self
    }

    /// Also run `draws` lotteries and write each applicant's, block's and school's odds.
    pub fn lotteries(mut self, draws: u32) -> Self {
        self.options.lotteries = Some(draws);
        self
    }

    /// CSV files start with a UTF-8 BOM.
    pub fn bom(mut self, bom: bool) -> Self {
        self.options.bom = bom;
        self
    }

    /// Write `report.html`.
    pub fn html(mut self, html: bool) -> Self {
        self.options.html = html;
        self
    }

    /// Write `results.xlsx`.
    pub fn xlsx(mut self, xlsx: bool) -> Self {
        self.options.xlsx = xlsx;
        self
    }

    /// Write the GIS layers (by default they come with the page).
    pub fn layers(mut self, layers: bool) -> Self {
        self.options.layers = Some(layers);
        self
    }

    /// Loads, allocates, checks and audits.
    pub fn run(&self) -> Result<Allocated, RequestError> {
        self.run_with(&Silent)
    }

    /// [`run`](Self::run), telling `observer` what happens.
    pub fn run_with(&self, observer: &dyn Observer) -> Result<Allocated, RequestError> {
        with_threads(self.threads, observer, || {
            allocate_checked(&self.input, &self.options, observer)
        })?
    }

    /// Runs and writes the run's files into `out` as one output set.
    pub fn write(&self, out: &Path) -> Result<RunOutcome, RequestError> {
        self.write_with(out, &Silent)
    }

    /// [`write`](Self::write), telling `observer` what happens.
    pub fn write_with(&self, out: &Path, observer: &dyn Observer) -> Result<RunOutcome, RequestError> {
        with_threads(self.threads, observer, || {
            write_run(&self.input, &self.options, out, observer)
        })?
    }
}

fn allocate_checked(
    input: &ScenarioInput,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<Allocated, RequestError> {
    let data = load(input, options.seed, options.strict, observer)?;
    let allocation = allocate_observed(&data, observer);
    let placement_warnings = crate::plausibility::check_allocation(&data, &allocation);
    observer.plausibility(&input.label(), &placement_warnings);
    if (data.scenario.strict || options.strict) && !placement_warnings.is_empty() {
        return Err(RequestError::Strict {
            count: placement_warnings.len(),
        });
    }
    let t = Instant::now();
    let audit = crate::audit(&data, &allocation);
    observer.done(
        "audit",
        t.elapsed(),
        if audit.passed() { "passed" } else { "VIOLATIONS" },
    );
    Ok(Allocated {
        data,
        allocation: Arc::new(allocation),
        audit,
        placement_warnings,
    })
}

fn allocate_observed(data: &Dataset, observer: &dyn Observer) -> Allocation {
    let t = Instant::now();
    observer.begin("allocate", "allocating");
    let allocation = crate::allocate_with_progress(data, &|p| observer.allocation(p));
    observer.done(
        "allocate",
        t.elapsed(),
        &format!("mechanism {}", data.policy.mechanism.as_str()),
    );
    allocation
}

fn write_run(
    input: &ScenarioInput,
    options: &RunOptions,
    out: &Path,
    observer: &dyn Observer,
) -> Result<RunOutcome, RequestError> {
    let allocated = allocate_checked(input, options, observer)?;
    // The summary comes from writing the files: one pass over the placements, not two.
    let (files, summary) = write_allocated(&allocated, &input.label(), options, out, observer)?;
    Ok(RunOutcome {
        allocated,
        summary,
        files,
    })
}

impl Allocated {
    /// Writes the run's files into `out` as one output set, as [`AllocationRequest::write`]
    /// does after allocating (the seed in `options` is not applied again: the allocation is
    /// already made).
    pub fn write(&self, out: &Path, options: &RunOptions) -> Result<Vec<PathBuf>, RequestError> {
        write_allocated(self, &self.data.scenario.path, options, out, &Silent).map(|(files, _)| files)
    }
}

fn write_allocated(
    allocated: &Allocated,
    label: &Path,
    options: &RunOptions,
    out: &Path,
    observer: &dyn Observer,
) -> Result<(Vec<PathBuf>, Summary), RequestError> {
    let Allocated {
        data,
        allocation,
        audit,
        ..
    } = allocated;
    let t = Instant::now();
    let write_options = WriteOptions {
        bom: options.bom || data.scenario.output.bom,
    };
    // Every file of the run goes into one output set, moved into place whole at the end.
    let mut set = crate::io::OutputSet::begin(out, "run")?;
    set.scenarios([label.display().to_string()]);
    set.seed(data.policy.seed);
    set.input_records(data.input_records());
    let tables = crate::output::write_tables_into(&mut set, data, allocation, audit, write_options)?;
    let summary = tables.summary.clone();
    observer.done("write", t.elapsed(), &format!("results staged for {}", out.display()));
    let report_options = options.report();
    if report_options.html || report_options.xlsx || report_options.layers {
        let t = Instant::now();
        crate::report::write_report_files_of(&mut set, data, allocation, audit, tables, report_options)?;
        let names: Vec<&str> = [
            report_options.html.then_some(crate::report::HTML_FILE),
            report_options.xlsx.then_some(crate::report::XLSX_FILE),
            report_options
                .layers
                .then_some("zones.geojson, blocks.geojson, layers.gpkg"),
        ]
        .into_iter()
        .flatten()
        .collect();
        observer.done("report", t.elapsed(), &names.join(", "));
    }
    if let Some(draws) = options.lotteries {
        let t = Instant::now();
        observer.begin("lotteries", "lotteries");
        let risk = crate::risk::lottery_risk(data, crate::risk::RiskParams { draws }, &|done, total| {
            observer.progress("lotteries", u64::from(done), u64::from(total), "");
        });
        crate::risk::write_risk(&mut set, data, &risk, write_options)?;
        observer.done(
            "lotteries",
            t.elapsed(),
            &format!("{draws} draws per stage: risk_*.csv"),
        );
    }
    let t = Instant::now();
    let files = set.commit()?;
    observer.done(
        "commit",
        t.elapsed(),
        &format!("{} files in {}", files.len(), out.display()),
    );
    Ok((files, summary))
}

/// Several scenarios run in parallel (`xuequ run a.toml b.toml …`), each into its own folder
/// under the output directory: the scenario file's stem, with `-<position>` added when two
/// stems are the same. A failing scenario does not stop the others.
#[derive(Debug, Clone)]
pub struct AllocationBatch {
    scenarios: Vec<PathBuf>,
    threads: Option<usize>,
    options: RunOptions,
}

/// One scenario of an [`AllocationBatch`].
#[derive(Debug)]
pub struct BatchItem {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Its output folder.
    pub out: PathBuf,
    /// What its run did.
    pub result: Result<RunOutcome, RequestError>,
}

impl AllocationBatch {
    /// Runs of `scenarios` with the defaults of [`RunOptions`].
    pub fn new(scenarios: Vec<PathBuf>) -> Self {
        AllocationBatch {
            scenarios,
            threads: None,
            options: RunOptions::default(),
        }
    }

    /// The options of every run.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs on this many worker threads in all (capped by [`crate::max_threads`]).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// The output folder of each scenario, relative to the output directory.
    pub fn folders(&self) -> Vec<String> {
        let mut folders: Vec<String> = Vec::new();
        for (i, s) in self.scenarios.iter().enumerate() {
            let stem = s
                .file_stem()
                .map_or_else(|| format!("scenario{}", i + 1), |x| x.to_string_lossy().into_owned());
            let name = if folders.contains(&stem) {
                format!("{stem}-{}", i + 1)
            } else {
                stem
            };
            folders.push(name);
        }
        folders
    }

    /// Runs every scenario into its folder under `out`; the observer hears only the thread
    /// cap and the warnings (the runs are interleaved).
    pub fn write_with(&self, out: &Path, observer: &dyn Observer) -> Result<Vec<BatchItem>, RequestError> {
        let folders = self.folders();
        with_threads(self.threads, observer, || {
            self.scenarios
                .par_iter()
                .zip(folders.par_iter())
                .map(|(s, f)| {
                    let out = out.join(f);
                    let findings = FindingsOnly(observer);
                    let result = write_run(&ScenarioInput::Path(s.clone()), &self.options, &out, &findings);
                    BatchItem {
                        scenario: s.clone(),
                        out,
                        result,
                    }
                })
                .collect()
        })
    }
}

/// Checks every input file (`xuequ validate`). Defaults: not strict, the current pool.
#[derive(Debug, Clone)]
pub struct ValidateRequest {
    input: ScenarioInput,
    strict: bool,
    threads: Option<usize>,
}

/// A valid scenario.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The inputs, loaded and validated.
    pub data: Arc<Dataset>,
}

impl Validation {
    /// Applicants per stage, every stage in order.
    pub fn applicants_by_stage(&self) -> Vec<(Stage, usize)> {
        Stage::ALL
            .iter()
            .map(|s| (*s, self.data.cohort.students.iter().filter(|x| x.stage == *s).count()))
            .collect()
    }
}

impl ValidateRequest {
    /// Validation of `scenario`.
    pub fn new(scenario: impl Into<ScenarioInput>) -> Self {
        ValidateRequest {
            input: scenario.into(),
            strict: false,
            threads: None,
        }
    }

    /// Plausibility warnings are errors.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Loads on this many worker threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Loads and validates.
    pub fn run(&self) -> Result<Validation, RequestError> {
        self.run_with(&Silent)
    }

    /// [`run`](Self::run), telling `observer` what happens.
    pub fn run_with(&self, observer: &dyn Observer) -> Result<Validation, RequestError> {
        with_threads(self.threads, observer, || {
            Ok(Validation {
                data: load(&self.input, None, self.strict, observer)?,
            })
        })?
    }
}

/// One applicant's result explained (`xuequ explain`). Defaults: the policy's seed.
#[derive(Debug, Clone)]
pub struct ExplainRequest {
    input: ScenarioInput,
    student_id: String,
    seed: Option<u64>,
    strict: bool,
    threads: Option<usize>,
}

impl ExplainRequest {
    /// The explanation of `student_id`'s result in `scenario`.
    pub fn new(scenario: impl Into<ScenarioInput>, student_id: impl Into<String>) -> Self {
        ExplainRequest {
            input: scenario.into(),
            student_id: student_id.into(),
            seed: None,
            strict: false,
            threads: None,
        }
    }

    /// The lottery seed instead of the policy's.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Plausibility warnings of the inputs are errors.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Runs on this many worker threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Loads, checks the applicant exists (before the allocation), allocates and explains.
    pub fn run(&self) -> Result<Explanation, RequestError> {
        self.run_with(&Silent)
    }

    /// [`run`](Self::run), telling `observer` what happens.
    pub fn run_with(&self, observer: &dyn Observer) -> Result<Explanation, RequestError> {
        with_threads(self.threads, observer, || {
            let data = load(&self.input, self.seed, self.strict, observer)?;
            if data.cohort.student(&self.student_id).is_none() {
                return Err(crate::ExplainError::UnknownStudent(self.student_id.clone()).into());
            }
            let allocation = allocate_observed(&data, observer);
            Ok(crate::explain(&data, &allocation, &self.student_id)?)
        })?
    }
}

/// The independent audit of a scenario's allocation. Defaults: the policy's seed.
#[derive(Debug, Clone)]
pub struct AuditRequest {
    inner: AllocationRequest,
}

impl AuditRequest {
    /// The audit of `scenario`'s allocation.
    pub fn new(scenario: impl Into<ScenarioInput>) -> Self {
        AuditRequest {
            inner: AllocationRequest::new(scenario),
        }
    }

    /// The lottery seed instead of the policy's.
    pub fn seed(mut self, seed: u64) -> Self {
        self.inner = self.inner.seed(seed);
        self
    }

    /// Runs on this many worker threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.inner = self.inner.threads(threads);
        self
    }

    /// Allocates and audits: the report of every check with its violations.
    pub fn run(&self) -> Result<AuditReport, RequestError> {
        Ok(self.inner.run()?.audit)
    }
}

/// Two scenarios compared (`xuequ compare`): who moves, how schools and stages change.
/// Defaults: no BOM, the current pool.
#[derive(Debug, Clone)]
pub struct CompareRequest {
    base: ScenarioInput,
    alt: ScenarioInput,
    bom: bool,
    strict: bool,
    threads: Option<usize>,
}

/// What [`CompareRequest::write`] did.
#[derive(Debug)]
pub struct CompareOutcome {
    /// The comparison.
    pub comparison: crate::compare::Comparison,
    /// Each scenario's label and audit, base first.
    pub audits: [(PathBuf, AuditReport); 2],
    /// The files written.
    pub files: Vec<PathBuf>,
}

impl CompareOutcome {
    /// The first scenario whose audit found violations, with the first violation.
    pub fn audit_failure(&self) -> Option<String> {
        self.audits.iter().find(|(_, r)| !r.passed()).map(|(name, r)| {
            format!(
                "{}: the audit found violations: {}",
                name.display(),
                r.first_violation().unwrap_or_default()
            )
        })
    }
}

impl CompareRequest {
    /// `base` against `alt`.
    pub fn new(base: impl Into<ScenarioInput>, alt: impl Into<ScenarioInput>) -> Self {
        CompareRequest {
            base: base.into(),
            alt: alt.into(),
            bom: false,
            strict: false,
            threads: None,
        }
    }

    /// CSV files start with a UTF-8 BOM.
    pub fn bom(mut self, bom: bool) -> Self {
        self.bom = bom;
        self
    }

    /// Runs on this many worker threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Plausibility warnings of the inputs are errors.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Compares and writes `changes.csv`, `schools_delta.csv`, `comparison.json` and
    /// `compare.html` into `out`.
    pub fn write(&self, out: &Path) -> Result<CompareOutcome, RequestError> {
        self.write_with(out, &Silent)
    }

    /// [`write`](Self::write), telling `observer` what happens (of the two loads, which run
    /// side by side, only their warnings).
    pub fn write_with(&self, out: &Path, observer: &dyn Observer) -> Result<CompareOutcome, RequestError> {
        with_threads(self.threads, observer, || self.write_inner(out, observer))?
    }

    fn write_inner(&self, out: &Path, observer: &dyn Observer) -> Result<CompareOutcome, RequestError> {
        let t = Instant::now();
        let findings = FindingsOnly(observer);
        let (b, a) = rayon::join(
            || load(&self.base, None, self.strict, &findings),
            || load(&self.alt, None, self.strict, &findings),
        );
        let (b, a) = (b?, a?);
        let (ba, aa) = rayon::join(|| crate::allocate(&b), || crate::allocate(&a));
        let (br, ar) = (crate::audit(&b, &ba), crate::audit(&a, &aa));
        let run = |data, allocation, audit| crate::compare::Run {
            data,
            allocation,
            audit,
        };
        let comparison = crate::compare::compare(run(&b, &ba, &br), run(&a, &aa, &ar));
        let options = WriteOptions { bom: self.bom };
        let mut set = crate::io::OutputSet::begin(out, "compare")?;
        set.scenarios([
            self.base.label().display().to_string(),
            self.alt.label().display().to_string(),
        ]);
        set.input_records(b.input_records().into_iter().chain(a.input_records()));
        crate::compare::write_comparison(&mut set, &comparison, options)?;
        let page = crate::report::compare_html((&b, &ba, &br), (&a, &aa, &ar));
        set.write_bytes("compare.html", page.as_bytes())?;
        let files = set.commit()?;
        observer.done("compare", t.elapsed(), &format!("written to {}", out.display()));
        Ok(CompareOutcome {
            comparison,
            audits: [(self.base.label(), br), (self.alt.label(), ar)],
            files,
        })
    }
}

/// Starts the output set of a command on one scenario (the scenario's own path recorded).
pub(super) fn scenario_set(out: &Path, command: &str, data: &Dataset) -> Result<crate::io::OutputSet, RequestError> {
    begin_set(out, command, &data.scenario.path, data)
}
