//! `xuequ`: the command line over the xuequ library.
//!
//! The binary only parses arguments, shows progress and reports errors; every decision is
//! made by the library. Exit codes: 0 success, 1 an operational error (unreadable file,
//! unwritable output), 2 bad arguments, 3 invalid inputs, 4 the audit found violations.

mod from_list;
mod progress;
mod serve;
mod supply;
mod zone;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use progress::Reporter;

/// 学区 — entry-grade seat allocation and catchment zoning for Chinese cities.
#[derive(Parser, Debug)]
#[command(name = "xuequ", version, about, long_about = None)]
struct Cli {
    /// Worker threads (default: all cores). Results are identical at any thread count.
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// No progress bars or timing lines.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Plausibility warnings are errors (exit 3), as with strict = true in scenario.toml.
    #[arg(long, global = true)]
    strict: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Allocate this year's entry-grade seats (录取) and write the results. Several
    /// scenarios run in parallel, each into its own folder under --out.
    Run {
        /// The scenario file(s) (scenario.toml).
        #[arg(required = true, num_args = 1..)]
        scenarios: Vec<PathBuf>,
        /// Output directory (default out/<command>, the same scheme for every command).
        #[arg(long, default_value = "out/run")]
        out: PathBuf,
        /// Override the policy's lottery seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Start CSV outputs with a UTF-8 BOM so Excel/WPS open Chinese text correctly.
        #[arg(long)]
        bom: bool,
        /// Also run this many lotteries (Monte Carlo over seeds derived from the policy
        /// seed) and write each applicant's, block's and school's admission odds.
        #[arg(long)]
        lotteries: Option<u32>,
        /// Do not write the HTML report (report.html).
        #[arg(long)]
        no_html: bool,
        /// Also write an Excel workbook (results.xlsx) with one sheet per table.
        #[arg(long)]
        xlsx: bool,
        /// Write the GIS layers (zones.geojson, blocks.geojson, layers.gpkg) even with
        /// --no-html (they come with the page by default).
        #[arg(long)]
        layers: bool,
    },
    /// Compare two scenarios: who moves, and how schools and stages change.
    Compare {
        /// The base scenario.
        base: PathBuf,
        /// The alternative scenario.
        alt: PathBuf,
        /// Output directory (default out/<command>, the same scheme for every command).
        #[arg(long, default_value = "out/compare")]
        out: PathBuf,
        /// Start CSV outputs with a UTF-8 BOM.
        #[arg(long)]
        bom: bool,
    },
    /// Check every input file and report every problem found.
    Validate {
        /// The scenario file.
        scenario: PathBuf,
    },
    /// Explain one applicant's result: list, tiers, cutoffs, rejections.
    Explain {
        /// The scenario file.
        scenario: PathBuf,
        /// The applicant's student_id.
        student_id: String,
        /// Override the policy's lottery seed.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Generate a synthetic city (schools, blocks, zones, applicants, policy, scenario).
    Synth {
        /// Preset: demo, wuxi, choice5, choice10.
        #[arg(long, default_value = "demo")]
        preset: String,
        /// Scale the preset to this many applicants in total.
        #[arg(long)]
        applicants: Option<u64>,
        /// Random seed.
        #[arg(long, default_value_t = xuequ_synth::DEFAULT_SEED)]
        seed: u64,
        /// Admission year.
        #[arg(long, default_value_t = xuequ_synth::DEFAULT_YEAR)]
        year: i32,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Propose catchment zones (学区划分) for one stage and write zones, polygons and a report.
    Zone(Box<zone::ZoneArgs>),
    /// Zones from a published 划片 list (one row per school: school, blocks text): writes
    /// zones.csv and match_report.csv.
    ZonesFromList(Box<from_list::FromListArgs>),
    /// Which school(s) serve an address, from the zone polygons.
    Lookup(Box<zone::LookupArgs>),
    /// Forecast entry-grade demand, seats and shortfalls per block, zone, school and district.
    Forecast(Box<supply::ForecastArgs>),
    /// Check whether a new residential block is covered by its zone school(s) (教育设施配套).
    CheckDevelopment(Box<supply::DevelopmentArgs>),
    /// Choose sites for new schools among candidate sites (capacitated p-median or coverage).
    Site(Box<supply::SiteArgs>),
    /// Serve lookups, explanations, odds and school figures over HTTP (enrollment season):
    /// see docs/service.md.
    Serve(Box<serve::ServeArgs>),
    /// Build the scenario's road network ([inputs] roads) and write distances.csv (reusable
    /// as distance = "matrix") and roads_report.json.
    Roads {
        /// The scenario file.
        scenario: PathBuf,
        /// Output directory.
        #[arg(long, default_value = "out/roads")]
        out: PathBuf,
    },
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl std::fmt::Display) -> Self {
        Failure {
            code,
            message: message.to_string(),
        }
    }
}

impl From<xuequ::RequestError> for Failure {
    fn from(e: xuequ::RequestError) -> Self {
        let code = match e.kind() {
            xuequ::request::ErrorKind::Operational => 1,
            xuequ::request::ErrorKind::BadRequest => 2,
            xuequ::request::ErrorKind::InvalidInput => 3,
        };
        Failure::new(code, e)
    }
}

pub(crate) fn load_error(e: xuequ::LoadError) -> Failure {
    xuequ::RequestError::from(e).into()
}

/// The global flags every request takes.
#[derive(Clone, Copy)]
pub(crate) struct Globals {
    /// `--threads`.
    pub threads: Option<usize>,
    /// `--strict`.
    pub strict: bool,
}

impl Globals {
    /// Applies `--threads` to a request.
    pub fn threads<R>(&self, request: R, set: impl FnOnce(R, usize) -> R) -> R {
        match self.threads {
            Some(n) => set(request, n),
            None => request,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let reporter = Reporter::new(cli.quiet);
    STRICT.store(cli.strict, std::sync::atomic::Ordering::Relaxed);
    let globals = Globals {
        threads: cli.threads,
        strict: cli.strict,
    };
    match dispatch(cli.command, globals, &reporter) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            reporter.clear();
            eprintln!("错误 error: {}", f.message.trim_end());
            ExitCode::from(f.code)
        }
    }
}

/// `--strict` (a global flag; the scenario's own `strict` key is read by the library).
static STRICT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn strict_flag() -> bool {
    STRICT.load(std::sync::atomic::Ordering::Relaxed)
}

fn dispatch(command: Command, globals: Globals, reporter: &Reporter) -> Result<(), Failure> {
    use xuequ::request::{AllocationBatch, AllocationRequest, ExplainRequest, RunOptions, ValidateRequest};
    match command {
        Command::Run {
            scenarios,
            out,
            seed,
            bom,
            lotteries,
            no_html,
            xlsx,
            layers,
        } => {
            let options = RunOptions {
                seed,
                strict: globals.strict,
                lotteries,
                bom,
                html: !no_html,
                xlsx,
                layers: layers.then_some(true),
            };
            if scenarios.len() == 1 {
                let request = globals.threads(
                    AllocationRequest::new(&scenarios[0]).options(options),
                    AllocationRequest::threads,
                );
                return run_one(&request, &out, reporter);
            }
            let batch = globals.threads(
                AllocationBatch::new(scenarios).options(options),
                AllocationBatch::threads,
            );
            run_many(&batch, &out, reporter)
        }
        Command::Compare { base, alt, out, bom } => {
            let request = globals.threads(
                xuequ::CompareRequest::new(base, alt).bom(bom),
                xuequ::CompareRequest::threads,
            );
            compare(&request, &out, reporter)
        }
        Command::Validate { scenario } => {
            let request = globals.threads(
                ValidateRequest::new(&scenario).strict(globals.strict),
                ValidateRequest::threads,
            );
            let v = request.run_with(reporter)?;
            let data = &v.data;
            let by_stage: Vec<String> = v
                .applicants_by_stage()
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect();
            println!(
                "{}：输入有效，合理性提示 {} 条 / valid ({} districts, {} schools, {} blocks, applicants: {}; {} plausibility warning(s))",
                scenario.display(),
                data.warnings.len(),
                data.city.districts.len(),
                data.city.schools.len(),
                data.city.blocks.len(),
                by_stage.join(", "),
                data.warnings.len()
            );
            let sources: Vec<String> = data.sources.iter().map(ToString::to_string).collect();
            println!("inputs: {}", sources.join(", "));
            Ok(())
        }
        Command::Explain {
            scenario,
            student_id,
            seed,
        } => {
            let mut request = ExplainRequest::new(&scenario, student_id).strict(globals.strict);
            if let Some(s) = seed {
                request = request.seed(s);
            }
            let explanation = globals.threads(request, ExplainRequest::threads).run_with(reporter)?;
            reporter.clear();
            print!("{explanation}");
            Ok(())
        }
        Command::Synth {
            preset,
            applicants,
            seed,
            year,
            out,
        } => synth(&preset, applicants, seed, year, &out, reporter),
        Command::Zone(args) => zone::zone(*args, globals, reporter),
        Command::Lookup(args) => zone::lookup(*args, globals, reporter),
        Command::ZonesFromList(args) => from_list::run(*args, globals, reporter),
        Command::Forecast(args) => supply::forecast(*args, globals, reporter),
        Command::CheckDevelopment(args) => supply::check_development(*args, globals, reporter),
        Command::Site(args) => supply::site(*args, globals, reporter),
        Command::Roads { scenario, out } => roads(&scenario, &out, globals, reporter),
        Command::Serve(args) => {
            // The service answers on the global pool for as long as it runs.
            if let Some(asked) = globals.threads {
                let n = xuequ::request::thread_count(asked)?;
                if n < asked {
                    xuequ::Observer::threads_capped(reporter, asked, n);
                }
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build_global()
                    .map_err(|e| Failure::new(1, format!("cannot start {n} threads: {e}")))?;
            }
            serve::serve(*args)
        }
    }
}

/// `xuequ roads`.
fn roads(scenario: &Path, out: &Path, globals: Globals, reporter: &Reporter) -> Result<(), Failure> {
    let request = globals.threads(xuequ::RoadsRequest::new(scenario), xuequ::RoadsRequest::threads);
    let report = request.write_with(out, reporter)?;
    reporter.clear();
    if !reporter.quiet() {
        eprintln!(
            "roads ({}): {} nodes, {} segments, {:.1} km, {} pieces; {} school-block pairs within {} m, \
             {} unreachable; road/straight median {:.2}, p90 {:.2}; cache: {:?}",
            report.mode,
            report.nodes,
            report.segments,
            report.kilometres,
            report.components,
            report.pairs_by_road,
            report.radius_m,
            report.pairs_unreachable,
            report.road_to_straight.p50,
            report.road_to_straight.p90,
            report.cache
        );
    }
    Ok(())
}

/// Runs one scenario into `out` and prints its summary.
fn run_one(request: &xuequ::AllocationRequest, out: &Path, reporter: &Reporter) -> Result<(), Failure> {
    let total = Instant::now();
    let outcome = request.write_with(out, reporter)?;
    reporter.clear();
    if !reporter.quiet() {
        for st in &outcome.summary.stages {
            eprintln!(
                "{} {:<12} 申请 applicants {:>8}  录取 placed {:>8}（学区对口 at zone school {:.1}%）  未录取 unplaced {:>6}  空余学位 seats left {:>6}",
                stage_zh(&st.stage),
                st.stage,
                st.applicants,
                st.placed,
                st.zone_share * 100.0,
                st.unplaced,
                st.vacancies
            );
        }
        eprintln!("合计 total {:.2} s", total.elapsed().as_secs_f64());
    }
    let status = match outcome.allocated.audit_failed() {
        Some(failed) => Err(Failure::new(4, failed)),
        None => Ok(()),
    };
    // The process exits next: giving a city's data back one allocation at a time (millions
    // of blocks, applicants and list entries) would only delay the exit.
    std::mem::forget(outcome);
    status
}

/// Runs several scenarios in parallel, each into its own folder; a failing scenario is
/// reported and the others still finish.
fn run_many(batch: &xuequ::AllocationBatch, out: &Path, reporter: &Reporter) -> Result<(), Failure> {
    let items = batch.write_with(out, reporter)?;
    let mut first_failure: Option<Failure> = None;
    for item in items {
        let result = item
            .result
            .map_err(Failure::from)
            .and_then(|o| match o.allocated.audit_failed() {
                Some(failed) => Err(Failure::new(4, failed)),
                None => Ok(()),
            });
        match result {
            Ok(()) => {
                if !reporter.quiet() {
                    eprintln!("完成 ok      {} -> {}", item.scenario.display(), item.out.display());
                }
            }
            Err(e) => {
                eprintln!("失败 FAILED  {}: {}", item.scenario.display(), e.message.trim_end());
                first_failure.get_or_insert(e);
            }
        }
    }
    match first_failure {
        None => Ok(()),
        Some(f) => Err(Failure::new(f.code, "at least one scenario failed (see above)")),
    }
}

/// Compares two scenarios and prints who moved.
fn compare(request: &xuequ::CompareRequest, out: &Path, reporter: &Reporter) -> Result<(), Failure> {
    let outcome = request.write_with(out, reporter)?;
    if !reporter.quiet() {
        for st in &outcome.comparison.stages {
            eprintln!(
                "{} {:<12} 换校 moved {:>7}（更近 nearer {}，更远 farther {}）  新录取 newly placed {}  新未录取 newly unplaced {}  \
                 转入对口 to zone school {}  转出对口 from zone school {}",
                stage_zh(&st.stage),
                st.stage,
                st.moved,
                st.moved_nearer,
                st.moved_farther,
                st.newly_placed,
                st.newly_unplaced,
                st.to_zone_school,
                st.from_zone_school
            );
        }
    }
    match outcome.audit_failure() {
        Some(message) => Err(Failure::new(4, message)),
        None => Ok(()),
    }
}

fn synth(
    preset: &str,
    applicants: Option<u64>,
    seed: u64,
    year: i32,
    out: &Path,
    reporter: &Reporter,
) -> Result<(), Failure> {
    let preset: xuequ_synth::Preset = preset.parse().map_err(|e| Failure::new(2, e))?;
    let config = xuequ_synth::SynthConfig {
        preset,
        applicants,
        seed,
        year,
    };
    let t = Instant::now();
    let bar = reporter.bar("synth");
    // The generated city is one output set like every command's: staged, then moved whole.
    let (summary, _) = xuequ::request::write_staged(out, "synth", seed, |dir| {
        xuequ_synth::write_city(&config, dir, &mut |p| progress::synth_progress(&bar, &p))
    })?;
    bar.finish_and_clear();
    let applicants = summary.applicants.kindergarten + summary.applicants.primary + summary.applicants.junior;
    let line = format!(
        "{} districts, {} blocks, {} applicants ({} kindergarten, {} primary, {} junior; {} migrant)",
        summary.districts,
        summary.blocks,
        applicants,
        summary.applicants.kindergarten,
        summary.applicants.primary,
        summary.applicants.junior,
        summary.migrants
    );
    reporter.timing("synth", t, String::new());
    if !reporter.quiet() {
        println!("写入 wrote {}: {line}", out.display());
    }
    Ok(())
}

/// The Chinese name of a stage code (the code itself when unknown).
pub(crate) fn stage_zh(code: &str) -> &'static str {
    match code {
        "kindergarten" => "幼儿园",
        "primary" => "小学",
        "junior" => "初中",
        _ => "",
    }
}
