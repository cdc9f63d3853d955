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
        #[arg(long, default_value_t = 20260701)]
        seed: u64,
        /// Admission year.
        #[arg(long, default_value_t = 2026)]
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

pub(crate) fn load_error(e: xuequ::LoadError) -> Failure {
    match e {
        xuequ::LoadError::Invalid(_) => Failure::new(3, e),
        _ => Failure::new(1, e),
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
    if let Some(n) = cli.threads {
        if n == 0 {
            eprintln!("error: --threads must be at least 1");
            return ExitCode::from(2);
        }
        let limit = xuequ::max_threads();
        let n = if n > limit {
            eprintln!(
                "warning: --threads {n} is more than {limit} (4 × the machine's {} cores); using {limit}",
                limit / 4
            );
            limit
        } else {
            n
        };
        if let Err(e) = rayon::ThreadPoolBuilder::new().num_threads(n).build_global() {
            eprintln!("error: cannot start {n} threads: {e}");
            return ExitCode::from(1);
        }
    }
    let reporter = Reporter::new(cli.quiet);
    STRICT.store(cli.strict, std::sync::atomic::Ordering::Relaxed);
    match dispatch(cli.command, &reporter) {
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

/// Prints plausibility warnings (always: they are findings, not progress).
fn print_warnings(reporter: &Reporter, label: &Path, warnings: &[xuequ::plausibility::Warning]) {
    if warnings.is_empty() {
        return;
    }
    reporter.clear();
    for w in warnings {
        eprintln!("{w}");
    }
    eprintln!(
        "{}: {} plausibility warning(s) (--strict makes them errors)",
        label.display(),
        warnings.len()
    );
}

fn load(scenario: &Path, seed: Option<u64>, reporter: &Reporter) -> Result<xuequ::Dataset, Failure> {
    let t = Instant::now();
    let spinner = reporter.spinner(format!("loading {}", scenario.display()));
    let mut parsed = xuequ::Scenario::load(scenario).map_err(load_error)?;
    parsed.strict |= strict_flag();
    let mut data = xuequ::Dataset::load_scenario(parsed).map_err(load_error)?;
    spinner.finish_and_clear();
    print_warnings(reporter, scenario, &data.warnings);
    if let Some(s) = seed {
        data.policy.seed = s;
    }
    print_distance_warnings(data.spatial.warnings(), reporter);
    reporter.timing(
        "load + validate",
        t,
        format!(
            "{} schools, {} blocks, {} applicants; distance {}",
            data.city.schools.len(),
            data.city.blocks.len(),
            data.cohort.students.len(),
            data.spatial.kind()
        ),
    );
    Ok(data)
}

fn allocate(data: &xuequ::Dataset, reporter: &Reporter) -> xuequ::Allocation {
    let t = Instant::now();
    let allocation = reporter.allocate(data);
    reporter.timing("allocate", t, format!("mechanism {}", data.policy.mechanism.as_str()));
    allocation
}

fn dispatch(command: Command, reporter: &Reporter) -> Result<(), Failure> {
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
            let extras = Extras {
                bom,
                lotteries,
                report: xuequ::ReportOptions {
                    html: !no_html,
                    xlsx,
                    layers: layers || !no_html,
                },
            };
            if scenarios.len() == 1 {
                return run_one(&scenarios[0], &out, seed, extras, reporter);
            }
            run_many(&scenarios, &out, seed, extras, reporter)
        }
        Command::Compare { base, alt, out, bom } => compare(&base, &alt, &out, bom, reporter),
        Command::Validate { scenario } => {
            let data = load(&scenario, None, reporter)?;
            let by_stage: Vec<String> = xuequ::Stage::ALL
                .iter()
                .map(|s| {
                    format!(
                        "{} {}",
                        data.cohort.students.iter().filter(|x| x.stage == *s).count(),
                        s
                    )
                })
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
            let data = load(&scenario, seed, reporter)?;
            if data.cohort.student(&student_id).is_none() {
                return Err(Failure::new(3, xuequ::ExplainError::UnknownStudent(student_id)));
            }
            let allocation = allocate(&data, reporter);
            let explanation = xuequ::explain(&data, &allocation, &student_id).map_err(|e| Failure::new(3, e))?;
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
        Command::Zone(args) => zone::zone(*args, reporter),
        Command::Lookup(args) => zone::lookup(*args, reporter),
        Command::ZonesFromList(args) => from_list::run(*args, reporter),
        Command::Forecast(args) => supply::forecast(*args, reporter),
        Command::CheckDevelopment(args) => supply::check_development(*args, reporter),
        Command::Site(args) => supply::site(*args, reporter),
        Command::Roads { scenario, out } => roads(&scenario, &out, reporter),
        Command::Serve(args) => serve::serve(*args),
    }
}

/// `xuequ roads`.
fn roads(scenario: &Path, out: &Path, reporter: &Reporter) -> Result<(), Failure> {
    let data = load(scenario, None, reporter)?;
    let t = Instant::now();
    let spatial = if data.spatial.kind() == xuequ::spatial::DistanceKind::Roads {
        data.spatial.clone()
    } else {
        let s = xuequ::spatial::Spatial::roads_for_scenario(&data.scenario, &data.city).map_err(|e| match e {
            xuequ::spatial::SpatialError::Io { .. } => Failure::new(1, e),
            _ => Failure::new(3, e),
        })?;
        print_distance_warnings(s.warnings(), reporter);
        s
    };
    let mut set = crate::supply::begin_set(out, "roads", &data)?;
    let report = xuequ::spatial::write_roads_outputs(&mut set, &spatial, &data.city)
        .map_err(|e| Failure::new(1, e))?
        .ok_or_else(|| Failure::new(2, "no road network"))?;
    let files = set.commit().map_err(|e| Failure::new(1, e))?;
    reporter.timing("roads", t, format!("{} files in {}", files.len(), out.display()));
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

/// Prints the distance source's per-block warnings (the first 20 and a count).
fn print_distance_warnings(warnings: &[xuequ::Diagnostic], reporter: &Reporter) {
    reporter.clear();
    for w in warnings.iter().take(20) {
        eprintln!("warning: {w}");
    }
    if warnings.len() > 20 {
        eprintln!(
            "warning: … and {} more (see roads_report.json from `xuequ roads`)",
            warnings.len() - 20
        );
    }
}

/// Runs one scenario into `out`.
/// What a run writes besides its three result files.
#[derive(Clone, Copy)]
struct Extras {
    bom: bool,
    lotteries: Option<u32>,
    report: xuequ::ReportOptions,
}

fn run_one(scenario: &Path, out: &Path, seed: Option<u64>, extras: Extras, reporter: &Reporter) -> Result<(), Failure> {
    let Extras {
        bom,
        lotteries,
        report: report_options,
    } = extras;
    let total = Instant::now();
    let data = load(scenario, seed, reporter)?;
    let allocation = allocate(&data, reporter);
    let placed_warnings = xuequ::plausibility::check_allocation(&data, &allocation);
    print_warnings(reporter, scenario, &placed_warnings);
    if data.scenario.strict && !placed_warnings.is_empty() {
        return Err(Failure::new(
            3,
            format!(
                "{} plausibility warning(s) about the placements, errors because strict is on",
                placed_warnings.len()
            ),
        ));
    }
    let t = Instant::now();
    let report = xuequ::audit(&data, &allocation);
    let verdict = if report.passed() { "passed" } else { "VIOLATIONS" };
    reporter.timing("audit", t, verdict.to_string());
    let t = Instant::now();
    let options = xuequ::WriteOptions {
        bom: bom || data.scenario.output.bom,
    };
    // Every file of the run goes into one output set, moved into place whole at the end.
    let mut set = xuequ::io::OutputSet::begin(out, "run").map_err(|e| Failure::new(1, e))?;
    set.scenarios([scenario.display().to_string()]);
    set.seed(data.policy.seed);
    set.inputs(data.input_files());
    xuequ::output::write_outputs_into(&mut set, &data, &allocation, &report, options)
        .map_err(|e| Failure::new(1, e))?;
    reporter.timing("write", t, format!("results staged for {}", out.display()));
    if report_options.html || report_options.xlsx || report_options.layers {
        let t = Instant::now();
        xuequ::report::write_report_files(&mut set, &data, &allocation, &report, report_options)
            .map_err(|e| Failure::new(1, e))?;
        let names: Vec<&str> = [
            report_options.html.then_some(xuequ::report::HTML_FILE),
            report_options.xlsx.then_some(xuequ::report::XLSX_FILE),
            report_options
                .layers
                .then_some("zones.geojson, blocks.geojson, layers.gpkg"),
        ]
        .into_iter()
        .flatten()
        .collect();
        reporter.timing("report", t, names.join(", "));
    }
    if let Some(draws) = lotteries {
        let t = Instant::now();
        let bar = reporter.bar("lotteries");
        let risk = xuequ::risk::lottery_risk(&data, xuequ::risk::RiskParams { draws }, &|done, total| {
            bar.set_length(u64::from(total));
            bar.set_position(u64::from(done));
        });
        bar.finish_and_clear();
        xuequ::risk::write_risk(&mut set, &data, &risk, options).map_err(|e| Failure::new(1, e))?;
        reporter.timing("lotteries", t, format!("{draws} draws per stage: risk_*.csv"));
    }
    let t = Instant::now();
    let files = set.commit().map_err(|e| Failure::new(1, e))?;
    reporter.timing("commit", t, format!("{} files in {}", files.len(), out.display()));
    let summary = xuequ::output::summary(&data, &allocation, &report);
    reporter.clear();
    if !reporter.quiet() {
        for st in &summary.stages {
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
    if !report.passed() {
        return Err(Failure::new(
            4,
            xuequ::AuditFailed {
                count: report.violation_count(),
                first: report.first_violation().unwrap_or_default(),
            },
        ));
    }
    Ok(())
}

/// Runs several scenarios in parallel, each into `out/<file stem>`; a failing scenario is
/// reported and the others still finish.
fn run_many(
    scenarios: &[PathBuf],
    out: &Path,
    seed: Option<u64>,
    extras: Extras,
    reporter: &Reporter,
) -> Result<(), Failure> {
    use rayon::prelude::*;
    let mut folders: Vec<String> = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
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
    let quiet = Reporter::new(true);
    let results: Vec<Result<(), Failure>> = scenarios
        .par_iter()
        .zip(folders.par_iter())
        .map(|(s, f)| run_one(s, &out.join(f), seed, extras, &quiet))
        .collect();
    let mut first_failure: Option<Failure> = None;
    for ((s, f), r) in scenarios.iter().zip(&folders).zip(results) {
        match r {
            Ok(()) => {
                if !reporter.quiet() {
                    eprintln!("完成 ok      {} -> {}", s.display(), out.join(f).display());
                }
            }
            Err(e) => {
                eprintln!("失败 FAILED  {}: {}", s.display(), e.message.trim_end());
                first_failure.get_or_insert(e);
            }
        }
    }
    match first_failure {
        None => Ok(()),
        Some(f) => Err(Failure::new(f.code, "at least one scenario failed (see above)")),
    }
}

/// Runs two scenarios and writes their comparison.
fn compare(base: &Path, alt: &Path, out: &Path, bom: bool, reporter: &Reporter) -> Result<(), Failure> {
    let t = Instant::now();
    let quiet = Reporter::new(true);
    let (b, a) = rayon::join(|| load(base, None, &quiet), || load(alt, None, &quiet));
    let (b, a) = (b?, a?);
    let (ba, aa) = rayon::join(|| xuequ::allocate(&b), || xuequ::allocate(&a));
    let (br, ar) = (xuequ::audit(&b, &ba), xuequ::audit(&a, &aa));
    let run = |data, allocation, audit| xuequ::compare::Run {
        data,
        allocation,
        audit,
    };
    let comparison = xuequ::compare::compare(run(&b, &ba, &br), run(&a, &aa, &ar));
    let options = xuequ::WriteOptions { bom };
    let mut set = xuequ::io::OutputSet::begin(out, "compare").map_err(|e| Failure::new(1, e))?;
    set.scenarios([base.display().to_string(), alt.display().to_string()]);
    set.inputs(b.input_files().into_iter().chain(a.input_files()));
    xuequ::compare::write_comparison(&mut set, &comparison, options).map_err(|e| Failure::new(1, e))?;
    let page = xuequ::report::compare_html((&b, &ba, &br), (&a, &aa, &ar));
    set.write_bytes("compare.html", page.as_bytes())
        .map_err(|e| Failure::new(1, e))?;
    set.commit().map_err(|e| Failure::new(1, e))?;
    reporter.timing("compare", t, format!("written to {}", out.display()));
    if !reporter.quiet() {
        for st in &comparison.stages {
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
    for (name, r) in [(base, &br), (alt, &ar)] {
        if !r.passed() {
            return Err(Failure::new(
                4,
                format!(
                    "{}: the audit found violations: {}",
                    name.display(),
                    r.first_violation().unwrap_or_default()
                ),
            ));
        }
    }
    Ok(())
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
    let mut set = xuequ::io::OutputSet::begin(out, "synth").map_err(|e| Failure::new(1, e))?;
    set.seed(seed);
    let summary = xuequ_synth::write_city(&config, set.staging_dir(), &mut |p| progress::synth_progress(&bar, &p))
        .map_err(|e| Failure::new(1, e))?;
    set.adopt_staged_files().map_err(|e| Failure::new(1, e))?;
    set.commit().map_err(|e| Failure::new(1, e))?;
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
