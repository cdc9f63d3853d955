//! `xuequ forecast`, `xuequ check-development` and `xuequ site`: seat supply planning.
//!
//! Each command is one library request ([`xuequ::ForecastRequest`],
//! [`xuequ::DevelopmentRequest`], [`xuequ::SitingRequest`]), which finds `planning.toml` and
//! `population.csv` beside the scenario unless named; this file only parses and prints.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use xuequ::Stage;
use xuequ::supply;

use crate::progress::Reporter;
use crate::{Failure, Globals};

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

/// `--planning`, `--population`, `--years` and the global flags over a supply request.
macro_rules! planning_flags {
    ($r:expr, $args:expr, $globals:expr, $ty:ty) => {{
        let mut r = $globals.threads($r.strict($globals.strict).bom($args.bom), <$ty>::threads);
        if let Some(p) = $args.planning {
            r = r.planning(p);
        }
        if let Some(p) = $args.population {
            r = r.population(p);
        }
        if let Some(y) = $args.years {
            r = r.years(y);
        }
        r
    }};
}

/// `xuequ forecast`.
pub fn forecast(args: ForecastArgs, globals: Globals, reporter: &Reporter) -> Result<(), Failure> {
    let total = Instant::now();
    let out = args.out.clone();
    let stages = args.stages.clone();
    let r = planning_flags!(
        xuequ::ForecastRequest::new(&args.scenario).stages(stages),
        args,
        globals,
        xuequ::ForecastRequest
    );
    let outcome = r.write_with(&out, reporter)?;
    if !reporter.quiet() {
        for sf in &outcome.forecast.stages {
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
pub fn check_development(args: DevelopmentArgs, globals: Globals, reporter: &Reporter) -> Result<(), Failure> {
    let mut r = xuequ::DevelopmentRequest::new(&args.scenario).stages(args.stages.clone());
    for b in &args.blocks {
        r = r.block(b.clone());
    }
    if let Some(p) = &args.development {
        r = r.development(p);
    }
    let out = args.out.clone();
    let r = planning_flags!(r, args, globals, xuequ::DevelopmentRequest);
    let outcome = match &out {
        Some(out) => r.write_with(out, reporter)?,
        None => r.run_with(reporter)?,
    };
    for d in &outcome.report.developments {
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
pub fn site(args: SiteArgs, globals: Globals, reporter: &Reporter) -> Result<(), Failure> {
    let total = Instant::now();
    let mut r = xuequ::SitingRequest::new(&args.scenario, args.stage, args.new_schools, &args.sites).exact(args.exact);
    if let Some(p) = &args.site_distances {
        r = r.site_distances(p);
    }
    if let Some(o) = args.objective {
        r = r.objective(o);
    }
    if let Some(y) = args.year {
        r = r.year(y);
    }
    let out = args.out.clone();
    let r = planning_flags!(r, args, globals, xuequ::SitingRequest);
    let outcome = r.write_with(&out, reporter)?;
    let (problem, result) = (&outcome.problem, &outcome.result);
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
