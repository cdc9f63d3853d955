//! `xuequ zone` and `xuequ lookup`: parse the flags, merge them over `zoning.toml`, call the
//! library, show progress and write the files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use xuequ::Stage;
use xuequ::zoning::{
    self, Demand, DemandSource, DistanceSource, SchoolEdits, ZoningConfig, ZoningError, ZoningParams, ZoningProblem,
    ZoningProgress,
};

use crate::Failure;
use crate::progress::Reporter;

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
    demand: Option<String>,
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
    /// Radius in metres bounding each block's cell (default 2000).
    #[arg(long, default_value_t = 2000)]
    cell_radius: u32,
}

fn zoning_failure(e: ZoningError) -> Failure {
    let code = match &e {
        ZoningError::Io { .. } => 1,
        ZoningError::BadParameter { .. } => 2,
        ZoningError::Flow(_) => 1,
        _ => 3,
    };
    Failure::new(code, e)
}

fn parse_capacity(items: &[String]) -> Result<Vec<(String, u32)>, Failure> {
    items
        .iter()
        .map(|item| {
            let (id, seats) = item
                .split_once('=')
                .ok_or_else(|| Failure::new(2, format!("--capacity {item}: write ID=SEATS, e.g. P0001=360")))?;
            let seats: u32 = seats
                .trim()
                .parse()
                .map_err(|_| Failure::new(2, format!("--capacity {item}: seats must be a whole number")))?;
            Ok((id.trim().to_string(), seats))
        })
        .collect()
}

fn print_progress(reporter: &Reporter, p: ZoningProgress) {
    if reporter.quiet() {
        return;
    }
    match p {
        ZoningProgress::FlowRound { round, arcs, added } if added > 0 => {
            eprintln!("{:>16}  round {round}: {arcs} arcs, certificate added {added}", "flow");
        }
        ZoningProgress::Lambda { lambda_m, moved } => {
            eprintln!("{:>16}  λ = {lambda_m} m: {moved} children moved", "bisection");
        }
        _ => {}
    }
}

/// `xuequ zone`.
pub fn zone(args: ZoneArgs, reporter: &Reporter) -> Result<(), Failure> {
    let total = Instant::now();
    let config_path = args.config.clone().or_else(|| {
        let p = args.scenario.parent().unwrap_or(Path::new(".")).join("zoning.toml");
        p.is_file().then_some(p)
    });
    let config = match &config_path {
        Some(p) => ZoningConfig::load(p).map_err(zoning_failure)?,
        None => ZoningConfig::default(),
    };
    let data = crate::load(&args.scenario, None, reporter)?;
    let stage = args.stage.or(config.stage).unwrap_or(Stage::Primary);

    let mut params: ZoningParams = config.params();
    if let Some(k) = args.candidates {
        params.candidates = k;
    }
    if args.max_distance.is_some() {
        params.max_distance_m = args.max_distance;
    }
    if args.within_district {
        params.within_district = true;
    }
    if args.across_districts {
        params.within_district = false;
    }
    if let Some(l) = args.stability {
        params.stability_m = l;
    }
    if args.max_moved.is_some() {
        params.max_moved_share = args.max_moved;
    }
    if let Some(u) = &args.utilisation {
        params.utilisation = (u[0], u[1]);
    }
    params.contiguity &= !args.no_contiguity;
    params.polygons &= !args.no_polygons;
    if let Some(threshold) = args.multi_school {
        let mut multi = params.multi_school.unwrap_or_default();
        if let Some(t) = threshold {
            multi.min_utilisation = t;
        }
        params.multi_school = Some(multi);
    }
    params.validate().map_err(zoning_failure)?;

    let demand_source = match args.demand.as_deref() {
        None => config.demand_source().map_err(zoning_failure)?,
        Some("students") => DemandSource::Students,
        Some("households") => match config.demand_source().map_err(zoning_failure)? {
            DemandSource::Households(r) => DemandSource::Households(r),
            DemandSource::Students => DemandSource::Households(Default::default()),
        },
        Some(other) => return Err(Failure::new(2, format!("--demand {other}: use students or households"))),
    };
    let mut edits: SchoolEdits = config.schools.clone();
    edits.close.extend(args.close.iter().cloned());
    for (id, seats) in parse_capacity(&args.capacity)? {
        edits.capacity.insert(id, seats);
    }
    let mut locked = config.locked.clone();
    locked.extend(args.lock.iter().cloned());

    let t = Instant::now();
    let demand = Demand::from_source(&data, stage, demand_source);
    let mut problem = ZoningProblem::from_dataset(&data, stage, &demand, &edits, &locked).map_err(zoning_failure)?;
    // The scenario's distance source unless --distance or zoning.toml's distance says
    // otherwise; from_dataset already took the scenario's.
    let source = match args.distance {
        Some(d) => d,
        None if config.distance.is_some() => config.distance_source().map_err(zoning_failure)?,
        None => data.spatial.kind(),
    };
    let roads_path = args
        .roads
        .clone()
        .or_else(|| config.roads.as_ref().map(|p| config.resolve(p)));
    let radius = args.road_radius.or(config.road_radius_m);
    match source {
        DistanceSource::Straight => problem.use_spatial(&xuequ::spatial::Spatial::straight(&data.city)),
        DistanceSource::Matrix => problem.use_matrix(&data).map_err(zoning_failure)?,
        _ if data.spatial.kind() == DistanceSource::Roads && roads_path.is_none() && radius.is_none() => {}
        _ => {
            let mut options = data.scenario.roads;
            options.radius_m = radius.or(params.max_distance_m).unwrap_or(options.radius_m);
            let path = roads_path.or_else(|| data.scenario.inputs.roads.clone()).ok_or_else(|| {
                Failure::new(
                    2,
                    "--distance roads needs a road network: [inputs] roads in the scenario, --roads FILE, or roads = \"...\" in zoning.toml",
                )
            })?;
            let network = xuequ::spatial::load_network(&path, data.scenario.crs, options.mode, options.cache)
                .map_err(|e| Failure::new(3, e))?;
            let spatial = xuequ::spatial::Spatial::roads(&data.city, network, options);
            crate::print_distance_warnings(spatial.warnings(), reporter);
            problem.use_spatial(&spatial);
        }
    }
    if let Some(b) = args
        .barriers
        .clone()
        .or_else(|| config.barriers.as_ref().map(|p| config.resolve(p)))
    {
        problem.barriers = zoning::read_barriers(&b).map_err(zoning_failure)?;
    }
    reporter.timing(
        "problem",
        t,
        format!(
            "{stage}: {} schools, {} blocks, {} children, {} seats",
            problem.schools.len(),
            problem.blocks.len(),
            problem.total_demand(),
            problem.schools.iter().map(|s| s.capacity as u64).sum::<u64>()
        ),
    );

    let sweep_lambdas = if args.sweep.is_empty() {
        config.sweep.clone()
    } else {
        args.sweep.clone()
    };
    let sweep = if sweep_lambdas.is_empty() {
        None
    } else {
        let t = Instant::now();
        let points = zoning::sweep(&problem, &params, &sweep_lambdas, &|p| print_progress(reporter, p))
            .map_err(zoning_failure)?;
        reporter.timing("sweep", t, format!("{} values of λ", points.len()));
        Some(points)
    };

    let result = zoning::zone(&problem, &params, &|p| print_progress(reporter, p)).map_err(zoning_failure)?;
    for (name, d) in &result.timings {
        if !reporter.quiet() {
            eprintln!("{name:>16}: {:>8.3} s", d.as_secs_f64());
        }
    }
    let t = Instant::now();
    let bom = args.bom || data.scenario.output.bom;
    let mut set = crate::supply::begin_set(&args.out, "zone", &data)?;
    zoning::write_zoning(&mut set, &problem, &result, Some(&data.city), sweep.as_deref(), bom)
        .map_err(|e| Failure::new(1, e))?;
    let files = set.commit().map_err(|e| Failure::new(1, e))?;
    reporter.timing("write", t, format!("{} files in {}", files.len(), args.out.display()));
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
pub fn lookup(args: LookupArgs, reporter: &Reporter) -> Result<(), Failure> {
    let mut data = crate::load(&args.scenario, None, reporter)?;
    if let Some(z) = &args.zones {
        let f = std::fs::File::open(z).map_err(|e| Failure::new(1, format!("cannot read {}: {e}", z.display())))?;
        let mut diags = xuequ::Diagnostics::default();
        data.city.zones = Default::default();
        xuequ::load::read_zones(f, &z.display().to_string(), &mut data.city, &mut diags);
        if !diags.is_empty() {
            return Err(Failure::new(3, xuequ::LoadError::Invalid(diags)));
        }
    }
    let (header, rows, points): Points = match (&args.points, args.lon, args.lat) {
        (Some(p), _, _) => {
            let t = xuequ::io::points::read_points(p).map_err(crate::load_error)?;
            (t.header, t.rows, t.points)
        }
        (None, Some(lon), Some(lat)) => {
            xuequ::crs::check_lon_lat(lon, lat).map_err(|e| Failure::new(2, e))?;
            (Vec::new(), Vec::new(), vec![(lon, lat)])
        }
        _ => return Err(Failure::new(2, "give --lon and --lat, or --points FILE")),
    };
    let wgs: Vec<(f64, f64)> = points
        .iter()
        .map(|&(lon, lat)| data.scenario.crs.to_wgs84(lon, lat))
        .collect();
    let stages: Vec<Stage> = match args.stage {
        Some(s) => vec![s],
        None => data.scenario.stages.clone(),
    };
    let t = Instant::now();
    let mut answers = Vec::new();
    for &stage in &stages {
        // The same polygons the service answers from.
        match xuequ::service::zone_index(&data, stage, args.cell_radius).map_err(zoning_failure)? {
            Some((problem, index)) => answers.push((stage, Some(problem), index.lookup_batch(&wgs))),
            None => answers.push((stage, None, vec![Vec::new(); wgs.len()])),
        }
    }
    reporter.timing(
        "lookup",
        t,
        format!("{} point(s), {} stage(s)", points.len(), stages.len()),
    );
    // Each hit with its distance from the point by the scenario's source (the same rule as
    // for blocks: a point at a block's location gets the block's distance).
    let kind = data.spatial.kind();
    let names = |problem: &Option<ZoningProblem>, hits: &[u32], at: (f64, f64)| -> Vec<(String, String, String)> {
        let here = xuequ::model::Location::from_wgs84(at.0, at.1);
        match problem {
            Some(p) => hits
                .iter()
                .map(|&s| {
                    let school = &p.schools[s as usize];
                    let metres = school
                        .city_index
                        .and_then(|c| data.spatial.school_to_point_mm(c, &here))
                        .map_or(String::new(), |mm| xuequ::spatial::metres_of_mm(mm).to_string());
                    (school.id.clone(), school.name.clone(), metres)
                })
                .collect(),
            None => Vec::new(),
        }
    };
    if args.points.is_some() {
        // Every input column, then the answer, one row per point and stage, through the one
        // CSV writer (a name that looks like a formula is neutralised).
        let mut csv = xuequ::io::CsvWriter::new(false);
        for h in &header {
            csv.text(h);
        }
        csv.row(&["stage", "school_ids", "school_names", "distances_m"]);
        for (i, row) in rows.iter().enumerate() {
            for (stage, problem, hits) in &answers {
                let found = names(problem, &hits[i], wgs[i]);
                let ids: Vec<&str> = found.iter().map(|x| x.0.as_str()).collect();
                let school_names: Vec<&str> = found.iter().map(|x| x.1.as_str()).collect();
                let metres: Vec<&str> = found.iter().map(|x| x.2.as_str()).collect();
                for c in row {
                    csv.text(c);
                }
                csv.text(stage.as_str())
                    .text(&ids.join(";"))
                    .text(&school_names.join(";"))
                    .text(&metres.join(";"));
                csv.end();
            }
        }
        let text = String::from_utf8(csv.into_bytes()).unwrap_or_default();
        match &args.out {
            Some(path) => {
                // One file: written beside its final name, then renamed into place.
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("lookup.csv");
                let temp = path.with_file_name(format!(".{name}.tmp"));
                std::fs::write(&temp, text.as_bytes())
                    .and_then(|_| std::fs::rename(&temp, path))
                    .map_err(|e| {
                        let _ = std::fs::remove_file(&temp);
                        Failure::new(1, format!("cannot write {}: {e}", path.display()))
                    })?;
                if !reporter.quiet() {
                    eprintln!("写入 wrote {}", path.display());
                }
            }
            None => print!("{text}"),
        }
    } else {
        for (stage, problem, hits) in &answers {
            let found = names(problem, &hits[0], wgs[0]);
            if found.is_empty() {
                println!("{} {stage}：不在任何学区内 outside every zone", stage.chinese());
            } else {
                let list: Vec<String> = found
                    .iter()
                    .map(|(id, name, m)| {
                        if m.is_empty() {
                            format!("{id} {name} (unreachable by {kind})")
                        } else {
                            format!("{id} {name} ({m} m, {kind})")
                        }
                    })
                    .collect();
                println!("{} {stage}：{}", stage.chinese(), list.join("; "));
            }
        }
    }
    Ok(())
}

/// A points file: its header, every row's cells, and each row's lon/lat.
type Points = (Vec<String>, Vec<Vec<String>>, Vec<(f64, f64)>);
