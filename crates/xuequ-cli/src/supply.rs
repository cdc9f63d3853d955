//! `xuequ forecast`, `xuequ check-development` and `xuequ site`: seat supply planning.
//!
//! Each command loads the scenario, reads `planning.toml` (from `--planning`, else beside the
//! scenario if present; every key has a default) and `population.csv` (from `--population`,
//! else beside the scenario if present), calls the library and writes its files atomically.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use xuequ::Stage;
use xuequ::supply::{self, PlanningParams, Population, SupplyError};

use crate::progress::Reporter;
use crate::{Failure, load};

/// Arguments of `xuequ forecast`.
#[derive(Args, Debug)]
pub struct ForecastArgs {
    /// The scenario file (scenario.toml).
    scenario: PathBuf,
    /// Years to forecast, the scenario's year first (default: planning.toml, else 10).
    #[arg(long)]
    years: Option<u32>,
    /// Stages to forecast (repeatable; default: the scenario's stages).
    #[arg(long = "stage")]
    stages: Vec<Stage>,
    /// Planning parameters (default: planning.toml beside the scenario, if present).
    #[arg(long)]
    planning: Option<PathBuf>,
    /// Children per block and age (default: population.csv beside the scenario, if present).
    #[arg(long)]
    population: Option<PathBuf>,
    /// Output directory (default out/<command>, the same scheme for every command).
    #[arg(long, default_value = "out/forecast")]
    out: PathBuf,
    /// Start CSV outputs with a UTF-8 BOM so Excel/WPS open Chinese text correctly.
    #[arg(long)]
    bom: bool,
}

/// Arguments of `xuequ check-development`.
#[derive(Args, Debug)]
pub struct DevelopmentArgs {
    /// The scenario file (scenario.toml).
    scenario: PathBuf,
    /// A block of blocks.csv to check (repeatable).
    #[arg(long = "block")]
    blocks: Vec<String>,
    /// Planned blocks to add and check, in the columns of blocks.csv.
    #[arg(long)]
    development: Option<PathBuf>,
    /// Years to forecast (default: planning.toml, else 10).
    #[arg(long)]
    years: Option<u32>,
    /// Stages to check (repeatable; default: the scenario's stages).
    #[arg(long = "stage")]
    stages: Vec<Stage>,
    /// Planning parameters (default: planning.toml beside the scenario, if present).
    #[arg(long)]
    planning: Option<PathBuf>,
    /// Children per block and age (default: population.csv beside the scenario, if present).
    #[arg(long)]
    population: Option<PathBuf>,
    /// Also write development.csv, development_nearby.csv and development.json here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Start CSV outputs with a UTF-8 BOM.
    #[arg(long)]
    bom: bool,
}

/// Arguments of `xuequ site`.
#[derive(Args, Debug)]
pub struct SiteArgs {
    /// The scenario file (scenario.toml).
    scenario: PathBuf,
    /// The stage of the new schools.
    #[arg(long)]
    stage: Stage,
    /// How many new schools to place.
    #[arg(long = "new-schools")]
    new_schools: usize,
    /// Candidate sites: site_id,name,district,lon,lat,capacity[,stage].
    #[arg(long)]
    sites: PathBuf,
    /// Travel metres from blocks to sites: site_id,block_id,distance_m (default: great-circle).
    #[arg(long = "site-distances")]
    site_distances: Option<PathBuf>,
    /// median (distance + unmet penalty) or coverage (children within the service radius).
    #[arg(long)]
    objective: Option<supply::Objective>,
    /// The design year (default: the forecast year with the most demand).
    #[arg(long)]
    year: Option<i32>,
    /// Years to forecast (default: planning.toml, else 10).
    #[arg(long)]
    years: Option<u32>,
    /// Planning parameters (default: planning.toml beside the scenario, if present).
    #[arg(long)]
    planning: Option<PathBuf>,
    /// Children per block and age (default: population.csv beside the scenario, if present).
    #[arg(long)]
    population: Option<PathBuf>,
    /// Enumerate every subset of sites instead of the heuristic (small cases only).
    #[arg(long)]
    exact: bool,
    /// Output directory (default out/<command>, the same scheme for every command).
    #[arg(long, default_value = "out/site")]
    out: PathBuf,
    /// Start CSV outputs with a UTF-8 BOM.
    #[arg(long)]
    bom: bool,
}

fn failure(e: SupplyError) -> Failure {
    match e {
        SupplyError::Invalid(_) => Failure::new(3, e),
        SupplyError::Request(_) => Failure::new(2, e),
        _ => Failure::new(1, e),
    }
}

/// A file named on the command line, else the default name beside the scenario if present.
fn beside(scenario: &Path, explicit: Option<PathBuf>, default: &str) -> Option<PathBuf> {
    explicit.or_else(|| {
        let p = scenario.parent().unwrap_or(Path::new("")).join(default);
        p.is_file().then_some(p)
    })
}

struct Loaded {
    data: xuequ::Dataset,
    params: PlanningParams,
    population: Option<Population>,
}

fn load_all(
    scenario: &Path,
    planning: Option<PathBuf>,
    population: Option<PathBuf>,
    years: Option<u32>,
    reporter: &Reporter,
) -> Result<Loaded, Failure> {
    let data = load(scenario, None, reporter)?;
    let mut params = match beside(scenario, planning, "planning.toml") {
        Some(p) => PlanningParams::load(&p).map_err(failure)?,
        None => PlanningParams::default(),
    };
    if let Some(y) = years {
        if !(1..=50).contains(&y) {
            return Err(Failure::new(2, "--years must be 1 to 50"));
        }
        params.forecast.years = y;
    }
    let population = match beside(scenario, population, "population.csv") {
        Some(p) => {
            let t = Instant::now();
            let pop = Population::load(&p, &data).map_err(failure)?;
            reporter.timing("population", t, format!("{} rows, {} blocks", pop.rows, pop.blocks()));
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

/// `xuequ forecast`.
pub fn forecast(args: ForecastArgs, reporter: &Reporter) -> Result<(), Failure> {
    let total = Instant::now();
    let l = load_all(&args.scenario, args.planning, args.population, args.years, reporter)?;
    let t = Instant::now();
    let fc = supply::forecast(&l.data, l.population.as_ref(), &l.params.forecast, &args.stages);
    reporter.timing(
        "forecast",
        t,
        format!(
            "{} stage(s) x {} years, {} blocks",
            fc.stages.len(),
            fc.params.years,
            l.data.city.blocks.len()
        ),
    );
    let t = Instant::now();
    let mut set = begin_set(&args.out, "forecast", &l.data)?;
    supply::report::write_forecast(&mut set, &l.data, &fc, args.bom || l.data.scenario.output.bom).map_err(failure)?;
    let files = set.commit().map_err(|e| Failure::new(1, e))?;
    reporter.timing("write", t, format!("{} files in {}", files.len(), args.out.display()));
    if !reporter.quiet() {
        for sf in &fc.stages {
            for y in [sf.years.first(), sf.years.last()].into_iter().flatten() {
                let d = &y.total;
                eprintln!(
                    "{} {:<12} {}  需求 demand {:>9.0}  学位 seats {:>8}  缺口 shortfall {:>8.0}（{} 所学校不足 schools short，{} 大班额，{} 超大班额）  \
                     区内统筹后 net of district pooling {:>7.0}",
                    sf.stage.chinese(),
                    sf.stage,
                    y.year,
                    d.demand,
                    d.public_capacity + d.purchased_seats,
                    d.shortfall,
                    d.schools_short,
                    d.large_class_schools,
                    d.super_large_class_schools,
                    d.net_shortfall
                );
            }
        }
        eprintln!("合计 total {:.2} s", total.elapsed().as_secs_f64());
    }
    Ok(())
}

/// `xuequ check-development`.
pub fn check_development(args: DevelopmentArgs, reporter: &Reporter) -> Result<(), Failure> {
    if args.blocks.is_empty() && args.development.is_none() {
        return Err(Failure::new(
            2,
            "name a block with --block ID or a file of planned blocks with --development FILE",
        ));
    }
    let l = load_all(&args.scenario, args.planning, args.population, args.years, reporter)?;
    let new_blocks = match &args.development {
        Some(p) => supply::read_developments(p, &l.data).map_err(failure)?,
        None => Vec::new(),
    };
    let ids: Vec<&str> = args.blocks.iter().map(String::as_str).collect();
    let t = Instant::now();
    let report = supply::check_development(
        &l.data,
        l.population.as_ref(),
        &l.params,
        &ids,
        &new_blocks,
        &args.stages,
    )
    .map_err(failure)?;
    reporter.timing("check", t, format!("{} development(s)", report.developments.len()));
    if let Some(out) = &args.out {
        let mut set = begin_set(out, "check-development", &l.data)?;
        supply::report::write_development(&mut set, &report, args.bom || l.data.scenario.output.bom)
            .map_err(failure)?;
        let files = set.commit().map_err(|e| Failure::new(1, e))?;
        reporter.timing("write", t, format!("{} files in {}", files.len(), out.display()));
    }
    for d in &report.developments {
        println!("{} {} ({}):", d.block_id, d.name, d.district);
        for s in &d.stages {
            let zone = if s.zone.is_empty() {
                "no zone".to_string()
            } else {
                format!(
                    "zone {}{}",
                    s.zone.join("+"),
                    if s.zone_source == supply::forecast::ZoneSource::NearestBlock {
                        " (from the nearest zoned block)"
                    } else {
                        ""
                    }
                )
            };
            let verdict = match s.first_short_year {
                None => "absorbed in every year".to_string(),
                Some(y) => format!(
                    "NOT absorbed from {y} (adds up to {:.1} seats of shortfall)",
                    s.years.iter().map(|y| y.added_shortfall).fold(0.0, f64::max)
                ),
            };
            println!(
                "  {:<12} {zone}; adds up to {:.1} children a year; {verdict}",
                s.stage, s.peak_added_demand
            );
            for n in &s.nearby {
                println!(
                    "      nearby: {} {} {} m{}, at least {:.0} spare seats{}",
                    n.school_id,
                    n.name,
                    n.distance_m,
                    if n.within_service_radius {
                        " (within service radius)"
                    } else {
                        ""
                    },
                    n.min_spare,
                    if n.could_absorb { ", could take it all" } else { "" }
                );
            }
        }
    }
    Ok(())
}

/// `xuequ site`.
pub fn site(args: SiteArgs, reporter: &Reporter) -> Result<(), Failure> {
    let total = Instant::now();
    let mut l = load_all(&args.scenario, args.planning, args.population, args.years, reporter)?;
    if let Some(o) = args.objective {
        l.params.siting.objective = o;
    }
    if let Some(y) = args.year {
        l.params.siting.year = Some(y);
    }
    let sites = supply::CandidateSites::load(&args.sites, &l.data).map_err(failure)?;
    let distances = match &args.site_distances {
        Some(p) => Some(supply::SiteDistances::load(p, &l.data, &sites).map_err(failure)?),
        None => None,
    };
    let t = Instant::now();
    let fc = supply::forecast(&l.data, l.population.as_ref(), &l.params.forecast, &[args.stage]);
    reporter.timing("forecast", t, format!("{} years", fc.params.years));
    let t = Instant::now();
    let problem = supply::SitingProblem::build(&l.data, &fc, args.stage, &sites, distances.as_ref(), &l.params.siting)
        .map_err(failure)?;
    reporter.timing(
        "problem",
        t,
        format!(
            "design year {}, {} blocks, {} schools, {} sites, {} arcs",
            problem.year,
            problem.blocks.len(),
            problem.existing,
            problem.candidates(),
            problem.instance.arc_count()
        ),
    );
    let t = Instant::now();
    let spinner = reporter.spinner(format!("placing {} schools", args.new_schools));
    let result = if args.exact {
        supply::site_exact(&problem, args.new_schools, &l.params.siting)
    } else {
        supply::site_with_progress(&problem, args.new_schools, &l.params.siting, &|p| {
            spinner.set_message(p.to_string());
        })
    }
    .map_err(failure)?;
    spinner.finish_and_clear();
    reporter.timing(
        "site",
        t,
        format!("{} exact evaluations, {} swaps", result.evaluations, result.moves),
    );
    let t = Instant::now();
    let mut set = begin_set(&args.out, "site", &l.data)?;
    supply::report::write_siting(&mut set, &problem, &result, args.bom || l.data.scenario.output.bom)
        .map_err(failure)?;
    let files = set.commit().map_err(|e| Failure::new(1, e))?;
    reporter.timing("write", t, format!("{} files in {}", files.len(), args.out.display()));
    if !reporter.quiet() {
        for (label, m) in [("选址前 before", &result.before), ("选址后 after", &result.after)] {
            eprintln!(
                "{label}：儿童 children {}，无学位 unseated {}，平均 mean {:.0} m，{:.1}% 在 {} m 内有学位 seated within",
                m.children,
                m.unmet,
                m.mean_distance_m,
                m.within_radius_share * 100.0,
                problem.radius_m
            );
        }
        eprintln!("合计 total {:.2} s", total.elapsed().as_secs_f64());
    }
    for (r, &k) in result.chosen.iter().enumerate() {
        let f = &problem.facilities[problem.existing + k as usize];
        println!(
            "{:>3}. {} {}（{}，学位 seats {}）",
            r + 1,
            f.id,
            f.name,
            problem.district_names[f.district as usize],
            f.capacity
        );
    }
    Ok(())
}

/// Starts a command's output set, recording the scenario and its inputs.
pub(crate) fn begin_set(out: &Path, command: &str, data: &xuequ::Dataset) -> Result<xuequ::io::OutputSet, Failure> {
    let mut set = xuequ::io::OutputSet::begin(out, command).map_err(|e| Failure::new(1, e))?;
    set.scenarios([data.scenario.path.display().to_string()]);
    set.inputs(data.input_files());
    Ok(set)
}
