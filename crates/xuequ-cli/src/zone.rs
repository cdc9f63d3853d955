//! `xuequ zone` and `xuequ lookup`: the flags, one library request each
//! ([`xuequ::ZoningRequest`], [`xuequ::LookupRequest`]), and the printed summary.

use std::path::PathBuf;
use std::time::Instant;

use xuequ::Stage;
use xuequ::request::DemandChoice;
use xuequ::zoning::DistanceSource;

use crate::progress::Reporter;
use crate::{Failure, Globals};

/// Flags of `xuequ zone`.
#[derive(clap::Args, Debug)]
pub struct ZoneArgs {
    /// The scenario file (scenario.toml).
    scenario: PathBuf,
    /// Stage to zone (kindergarten, primary, junior); default: the config's, else primary.
    #[arg(long)]
    stage: Option<Stage>,
    /// Output directory (default out/<command>, the same scheme for every command).
    #[arg(long, default_value = "out/zone")]
    out: PathBuf,
    /// Zoning controls file (default: zoning.toml beside the scenario, if present).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Distance source: straight (default), matrix (the scenario's distances.csv) or roads.
    #[arg(long)]
    distance: Option<DistanceSource>,
    /// Road network for --distance roads (.osm.pbf, .osm or roads.csv; default: the
    /// scenario's [inputs] roads).
    #[arg(long)]
    roads: Option<PathBuf>,
    /// Road search radius in metres (default: --max-distance, else the scenario's
    /// [roads] radius_m).
    #[arg(long)]
    road_radius: Option<u32>,
    /// Barrier lines (GeoJSON, WGS84): adjacency edges crossing them are removed.
    #[arg(long)]
    barriers: Option<PathBuf>,
    /// Demand from `students` (default) or `households` × the per-stage rate.
    #[arg(long)]
    demand: Option<DemandChoice>,
    /// Nearest schools per block in the first flow solve (default 6).
    #[arg(long)]
    candidates: Option<usize>,
    /// Longest allowed home-to-school distance, metres.
    #[arg(long)]
    max_distance: Option<u32>,
    /// Zones never cross district boundaries (the default; kept for old scripts).
    #[arg(long, conflicts_with = "across_districts")]
    within_district: bool,
    /// Let zones cross district boundaries (by default each block stays with schools of its
    /// own district, as 划片 is set per 区县).
    #[arg(long)]
    across_districts: bool,
    /// Stability weight λ: metres per child charged for moving a block from its current zone.
    #[arg(long)]
    stability: Option<u32>,
    /// Hard cap on the share of children moved (0..1); λ is found by bisection.
    #[arg(long)]
    max_moved: Option<f64>,
    /// Target utilisation band LOW,HIGH as shares of capacity, e.g. 0.8,1.0.
    #[arg(long, value_delimiter = ',', num_args = 2)]
    utilisation: Option<Vec<f64>>,
    /// Blocks that keep their current zone (comma-separated block ids).
    #[arg(long, value_delimiter = ',')]
    lock: Vec<String>,
    /// Schools to close (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    close: Vec<String>,
    /// Capacity edits ID=SEATS (comma-separated).
    #[arg(long, value_delimiter = ',')]
    capacity: Vec<String>,
    /// λ values for a "children moved vs extra travel" sweep (writes stability_sweep.csv).
    #[arg(long, value_delimiter = ',')]
    sweep: Vec<u32>,
    /// Skip contiguity repair.
    #[arg(long)]
    no_contiguity: bool,
    /// Skip the zone polygons (zones.geojson is then empty).
    #[arg(long)]
    no_polygons: bool,
    /// Multi-school zones (多校划片): group adjacent hot zones, served by lottery. The optional
    /// value is the utilisation (demand / capacity) from which a school is hot (default: the
    /// config's, else 0.95).
    #[arg(long, value_name = "THRESHOLD", num_args = 0..=1)]
    multi_school: Option<Option<f64>>,
    /// Start CSV outputs with a UTF-8 BOM.
    #[arg(long)]
    bom: bool,
}

/// Flags of `xuequ lookup`.
#[derive(clap::Args, Debug)]
pub struct LookupArgs {
    /// The scenario file (scenario.toml).
    scenario: PathBuf,
    /// Longitude (the scenario's coordinate system).
    #[arg(long, allow_hyphen_values = true)]
    lon: Option<f64>,
    /// Latitude (the scenario's coordinate system).
    #[arg(long, allow_hyphen_values = true)]
    lat: Option<f64>,
    /// Many points: a CSV with lon and lat columns (any others are kept); writes every input
    /// column plus stage, school_ids and school_names, one row per point and stage.
    #[arg(long)]
    points: Option<PathBuf>,
    /// With --points: write the answers to this CSV file instead of standard output.
    #[arg(long, requires = "points")]
    out: Option<PathBuf>,
    /// Stage (default: every stage of the scenario).
    #[arg(long)]
    stage: Option<Stage>,
    /// Zones to use instead of the scenario's (e.g. a proposal's zones.csv).
    #[arg(long)]
    zones: Option<PathBuf>,
    /// Radius in metres bounding each block's cell.
    #[arg(long, default_value_t = xuequ::LookupRequest::DEFAULT_CELL_RADIUS_M)]
    cell_radius: u32,
}

/// `xuequ zone`.
pub fn zone(args: ZoneArgs, globals: Globals, reporter: &Reporter) -> Result<(), Failure> {
    let total = Instant::now();
    let mut r = xuequ::ZoningRequest::new(&args.scenario)
        .strict(globals.strict)
        .lock(args.lock)
        .close(args.close)
        .sweep(args.sweep)
        .contiguity(!args.no_contiguity)
        .polygons(!args.no_polygons)
        .bom(args.bom);
    r = globals.threads(r, xuequ::ZoningRequest::threads);
    for item in &args.capacity {
        let (id, seats) = xuequ::request::parse_capacity(item)?;
        r = r.capacity(id, seats);
    }
    if let Some(p) = args.config {
        r = r.config(p);
    }
    if let Some(s) = args.stage {
        r = r.stage(s);
    }
    if let Some(d) = args.distance {
        r = r.distance(d);
    }
    if let Some(p) = args.roads {
        r = r.roads(p);
    }
    if let Some(m) = args.road_radius {
        r = r.road_radius(m);
    }
    if let Some(p) = args.barriers {
        r = r.barriers(p);
    }
    if let Some(d) = args.demand {
        r = r.demand(d);
    }
    if let Some(k) = args.candidates {
        r = r.candidates(k);
    }
    if let Some(m) = args.max_distance {
        r = r.max_distance(m);
    }
    if args.within_district {
        r = r.within_district(true);
    }
    if args.across_districts {
        r = r.within_district(false);
    }
    if let Some(l) = args.stability {
        r = r.stability(l);
    }
    if let Some(m) = args.max_moved {
        r = r.max_moved(m);
    }
    if let Some(u) = &args.utilisation {
        r = r.utilisation(u[0], u[1]);
    }
    if let Some(threshold) = args.multi_school {
        r = r.multi_school(threshold);
    }
    let outcome = r.write_with(&args.out, reporter)?;
    let result = &outcome.result;
    let stage = outcome.stage;
    if !reporter.quiet() {
        for (name, d) in &result.timings {
            eprintln!("{name:>16}: {:>8.3} s", d.as_secs_f64());
        }
    }
    let o = &result.report.overall;
    if !reporter.quiet() {
        eprintln!(
            "{} {stage}：目标值 objective {} / 下界 lower bound {}（差距 gap {:.2}%{}），通勤差距 travel gap {:.2}%，平均 mean {:.0} m；\
             调整 {} 名儿童 children moved（{:.1}%），超额 {} over limit（{} 所学校 schools），不连片学区 {} zones not contiguous",
            stage.chinese(),
            o.objective,
            o.lower_bound,
            o.gap * 100.0,
            if o.bound_certified {
                "，已证明 certified"
            } else {
                ""
            },
            o.travel_gap * 100.0,
            o.mean_distance_m,
            o.children_moved,
            o.moved_share * 100.0,
            o.children_over_limit,
            o.schools_over_limit,
            o.non_contiguous_zones
        );
        if let Some(groups) = &result.report.groups {
            let schools: usize = groups.iter().map(|g| g.schools.len()).sum();
            eprintln!(
                "多校划片 multi-school：{} 组 groups，{schools} 所学校 schools",
                groups.len()
            );
        }
        eprintln!("合计 total {:.2} s", total.elapsed().as_secs_f64());
    }
    Ok(())
}

/// `xuequ lookup`.
pub fn lookup(args: LookupArgs, globals: Globals, reporter: &Reporter) -> Result<(), Failure> {
    let mut r = xuequ::LookupRequest::new(&args.scenario)
        .strict(globals.strict)
        .cell_radius(args.cell_radius);
    r = globals.threads(r, xuequ::LookupRequest::threads);
    if let Some(z) = &args.zones {
        r = r.zones(z);
    }
    if let Some(s) = args.stage {
        r = r.stage(s);
    }
    r = match (&args.points, args.lon, args.lat) {
        (Some(p), _, _) => r.points_file(p),
        (None, Some(lon), Some(lat)) => r.point(lon, lat),
        _ => r,
    };
    let outcome = r.run_with(reporter)?;
    if args.points.is_some() {
        match &args.out {
            Some(path) => {
                outcome.write_csv(path)?;
                if !reporter.quiet() {
                    eprintln!("写入 wrote {}", path.display());
                }
            }
            None => print!("{}", String::from_utf8_lossy(&outcome.csv())),
        }
    } else {
        let kind: DistanceSource = outcome.distance;
        for answer in &outcome.answers {
            let stage: Stage = answer.stage;
            let found = &answer.hits[0];
            if found.is_empty() {
                println!("{} {stage}：不在任何学区内 outside every zone", stage.chinese());
            } else {
                let list: Vec<String> = found
                    .iter()
                    .map(|h| match h.distance_m {
                        None => format!("{} {} (unreachable by {kind})", h.school_id, h.name),
                        Some(m) => format!("{} {} ({m} m, {kind})", h.school_id, h.name),
                    })
                    .collect();
                println!("{} {stage}：{}", stage.chinese(), list.join("; "));
            }
        }
    }
    Ok(())
}
