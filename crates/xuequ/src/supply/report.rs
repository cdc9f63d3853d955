//! Result files of the forecast, the development check and siting (CSV + JSON), rendered in
//! memory and written into the command's [`OutputSet`] (`crate::io::output_set`): the whole
//! set is staged and moved into place only when it is complete.
//!
//! Fractional figures (expected children) are written with one decimal; the same inputs give
//! byte-identical files.

use serde::Serialize;
use serde_json::json;

use super::SupplyError;
use super::csvio::{CsvOut, num};
use super::development::DevelopmentReport;
use super::forecast::{DistrictYear, Forecast, Method};
use super::siting::{FacilityKind, SitingProblem, SitingResult};
use crate::io::OutputSet;
use crate::load::Dataset;
use crate::model::BlockStatus;

/// One decimal, for JSON.
fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Four decimals, for shares in JSON.
fn r4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn json_bytes(v: &impl Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

fn district_json(d: &DistrictYear) -> serde_json::Value {
    json!({
        "children": r1(d.children),
        "demand": r1(d.demand),
        "migrant_demand": r1(d.migrant),
        "new_block_demand": r1(d.new_block_demand),
        "unzoned_demand": r1(d.unzoned_demand),
        "public_capacity": d.public_capacity,
        "purchased_seats": d.purchased_seats,
        "private_seats": d.private_seats,
        "shortfall": r1(d.shortfall),
        "net_shortfall": r1(d.net_shortfall),
        "schools_short": d.schools_short,
        "large_class_schools": d.large_class_schools,
        "super_large_class_schools": d.super_large_class_schools,
    })
}

/// The forecast's files: `forecast_blocks.csv`, `forecast_zones.csv`, `forecast_schools.csv`,
/// `forecast_districts.csv` and `forecast.json`.
pub fn forecast_files(data: &Dataset, fc: &Forecast, bom: bool) -> Vec<(&'static str, Vec<u8>)> {
    let city = &data.city;
    let mut blocks = CsvOut::new(
        &[
            "year",
            "stage",
            "block_id",
            "name",
            "district",
            "status",
            "method",
            "households",
            "children",
            "demand",
            "migrant_demand",
            "zone",
            "zone_source",
            "shortfall",
        ],
        bom,
    );
    let mut zones = CsvOut::new(
        &[
            "year",
            "stage",
            "zone",
            "schools",
            "blocks",
            "households",
            "demand",
            "capacity",
            "shortfall",
        ],
        bom,
    );
    let mut schools = CsvOut::new(
        &[
            "year",
            "stage",
            "school_id",
            "name",
            "district",
            "open",
            "classes",
            "class_size",
            "capacity",
            "demand",
            "shortfall",
            "average_class_size",
            "oversized",
            "extra_classes",
        ],
        bom,
    );
    let mut districts = CsvOut::new(
        &[
            "year",
            "stage",
            "district",
            "children",
            "demand",
            "migrant_demand",
            "new_block_demand",
            "unzoned_demand",
            "public_capacity",
            "purchased_seats",
            "private_seats",
            "shortfall",
            "net_shortfall",
            "schools_short",
            "large_class_schools",
            "super_large_class_schools",
        ],
        bom,
    );
    let district_row = |out: &mut CsvOut, year: i32, stage: &str, name: &str, d: &DistrictYear| {
        out.field(year)
            .field(stage)
            .field(name)
            .field(num(d.children, 1))
            .field(num(d.demand, 1))
            .field(num(d.migrant, 1))
            .field(num(d.new_block_demand, 1))
            .field(num(d.unzoned_demand, 1))
            .field(d.public_capacity)
            .field(d.purchased_seats)
            .field(d.private_seats)
            .field(num(d.shortfall, 1))
            .field(num(d.net_shortfall, 1))
            .field(d.schools_short)
            .field(d.large_class_schools)
            .field(d.super_large_class_schools);
        out.end();
    };
    let mut stages_json = Vec::new();
    for sf in &fc.stages {
        let stage = sf.stage.as_str();
        for y in &sf.years {
            for (b, by) in y.blocks.iter().enumerate() {
                let block = &city.blocks[b];
                if by.households <= 0.0 && by.children <= 0.0 {
                    continue;
                }
                let zone = sf.block_zone[b].map_or("", |z| sf.zones[z as usize].id.as_str());
                blocks
                    .field(y.year)
                    .field(stage)
                    .field(&block.id)
                    .field(&block.name)
                    .field(&city.districts[block.district as usize])
                    .field(match block.status {
                        BlockStatus::Existing => "existing",
                        BlockStatus::New => "new",
                    })
                    .field(match fc.method[b] {
                        Method::Population => "population",
                        Method::Households => "households",
                    })
                    .field(num(by.households, 1))
                    .field(num(by.children, 1))
                    .field(num(by.demand, 1))
                    .field(num(by.migrant, 1))
                    .field(zone)
                    .field(sf.zone_source[b].as_str())
                    .field(num(by.shortfall, 1));
                blocks.end();
            }
            for (z, zy) in y.zones.iter().enumerate() {
                let zone = &sf.zones[z];
                zones
                    .field(y.year)
                    .field(stage)
                    .field(&zone.id)
                    .field(zone.schools.len())
                    .field(zy.blocks)
                    .field(num(zy.households, 1))
                    .field(num(zy.demand, 1))
                    .field(num(zy.capacity, 1))
                    .field(num(zy.shortfall, 1));
                zones.end();
            }
            for sy in &y.schools {
                let sc = &city.schools[sy.school as usize];
                schools
                    .field(y.year)
                    .field(stage)
                    .field(&sc.id)
                    .field(&sc.name)
                    .field(&city.districts[sc.district as usize])
                    .field(sy.open)
                    .field(sy.classes)
                    .field(sy.class_size)
                    .field(sy.capacity)
                    .field(num(sy.demand, 1))
                    .field(num(sy.shortfall, 1))
                    .field(num(sy.average_class, 1))
                    .field(sy.oversized.as_str())
                    .field(sy.extra_classes);
                schools.end();
            }
            for (d, dy) in y.districts.iter().enumerate() {
                district_row(&mut districts, y.year, stage, &city.districts[d], dy);
            }
            district_row(&mut districts, y.year, stage, "全市", &y.total);
        }
        // The schools with the largest shortfall in the worst year.
        let mut worst: Vec<(f64, i32, u32)> = Vec::new();
        for y in &sf.years {
            for sy in &y.schools {
                if sy.shortfall > 0.0 {
                    worst.push((sy.shortfall, y.year, sy.school));
                }
            }
        }
        worst.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut seen = std::collections::HashSet::new();
        let top: Vec<serde_json::Value> = worst
            .iter()
            .filter(|w| seen.insert(w.2))
            .take(10)
            .map(|&(s, year, school)| {
                let sc = &city.schools[school as usize];
                json!({"school_id": sc.id, "name": sc.name, "year": year, "shortfall": r1(s)})
            })
            .collect();
        let first = sf.years.first().map(|y| y.total.children).unwrap_or(0.0);
        stages_json.push(json!({
            "stage": stage,
            "zones": sf.zones.len(),
            "public_schools": sf.schools.len(),
            "blocks_with_inferred_zone": sf.zone_source.iter().filter(|s| **s == super::forecast::ZoneSource::NearestBlock).count(),
            "calibration": sf.calibration.iter().zip(&city.districts).map(|(c, d)| json!({"district": d, "factor": r4(*c)})).collect::<Vec<_>>(),
            "check_first_year": {
                "observed_applicants": sf.observed_applicants,
                "forecast_children": r1(first),
            },
            "years": sf.years.iter().map(|y| {
                let mut v = district_json(&y.total);
                v["year"] = json!(y.year);
                v
            }).collect::<Vec<_>>(),
            "largest_school_shortfalls": top,
        }));
    }
    let population_blocks = fc.method.iter().filter(|m| **m == Method::Population).count();
    let summary = json!({
        "scenario": data.scenario.name,
        "base_year": fc.base_year,
        "years": fc.params.years,
        "blocks": city.blocks.len(),
        "new_blocks": city.blocks.iter().filter(|b| b.status == BlockStatus::New).count(),
        "blocks_by_population": population_blocks,
        "blocks_by_households": city.blocks.len() - population_blocks,
        "parameters": fc.params,
        "sources": {
            "children_per_household": "POLICY P5 entrants per 1,000 residents (primary 12.6, junior 12.1, kindergarten 34.0/3) x P6 3.0 persons per dwelling / 1,000",
            "class_size": "POLICY P4 (kindergarten small class 25, primary 45, junior 50)",
            "large_class": "POLICY P4 MOE bands for primary and junior: 56-65 大班额, >=66 超大班额 (no kindergarten band in POLICY; same default)",
            "move_in_ramp": "issue 5 default schedule (no published source)",
            "new_estate_uplift": "POLICY P6 (1.0-1.3, no official coefficient)",
            "private_share": "0: lottery losers return to the public track (E8a); all eligible children must be admitted (E10)",
        },
        "stages": stages_json,
    });
    vec![
        ("forecast_blocks.csv", blocks.into_bytes()),
        ("forecast_zones.csv", zones.into_bytes()),
        ("forecast_schools.csv", schools.into_bytes()),
        ("forecast_districts.csv", districts.into_bytes()),
        ("forecast.json", json_bytes(&summary)),
    ]
}

fn write(set: &mut OutputSet, files: &[(&'static str, Vec<u8>)]) -> Result<(), SupplyError> {
    let list: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    Ok(crate::output::write_files(set, &list)?)
}

/// Adds the forecast's files to an output set.
pub fn write_forecast(set: &mut OutputSet, data: &Dataset, fc: &Forecast, bom: bool) -> Result<(), SupplyError> {
    write(set, &forecast_files(data, fc, bom))
}

/// The development check's files: `development.csv` (per development, stage and year),
/// `development_nearby.csv` and `development.json`.
pub fn development_files(report: &DevelopmentReport, bom: bool) -> Vec<(&'static str, Vec<u8>)> {
    let mut years = CsvOut::new(
        &[
            "block_id",
            "stage",
            "year",
            "zone",
            "zone_source",
            "households",
            "added_children",
            "added_demand",
            "zone_capacity",
            "zone_demand_without",
            "zone_demand_with",
            "added_shortfall",
            "absorbed",
        ],
        bom,
    );
    let mut nearby = CsvOut::new(
        &[
            "block_id",
            "stage",
            "rank",
            "school_id",
            "name",
            "distance_m",
            "within_service_radius",
            "opens_year",
            "min_spare",
            "could_absorb",
        ],
        bom,
    );
    for d in &report.developments {
        for s in &d.stages {
            let zone = s.zone.join("+");
            for y in &s.years {
                years
                    .field(&d.block_id)
                    .field(s.stage)
                    .field(y.year)
                    .field(&zone)
                    .field(s.zone_source.as_str())
                    .field(num(y.households, 1))
                    .field(num(y.added_children, 1))
                    .field(num(y.added_demand, 1))
                    .field(y.zone_capacity)
                    .field(num(y.zone_demand_without, 1))
                    .field(num(y.zone_demand_with, 1))
                    .field(num(y.added_shortfall, 1))
                    .field(y.absorbed);
                years.end();
            }
            for (r, n) in s.nearby.iter().enumerate() {
                nearby
                    .field(&d.block_id)
                    .field(s.stage)
                    .field(r + 1)
                    .field(&n.school_id)
                    .field(&n.name)
                    .field(n.distance_m)
                    .field(n.within_service_radius)
                    .field(n.opens_year.map(|y| y.to_string()).unwrap_or_default())
                    .field(num(n.min_spare, 1))
                    .field(n.could_absorb);
                nearby.end();
            }
        }
    }
    vec![
        ("development.csv", years.into_bytes()),
        ("development_nearby.csv", nearby.into_bytes()),
        ("development.json", json_bytes(report)),
    ]
}

/// Writes the development check's files into `dir`.
pub fn write_development(set: &mut OutputSet, report: &DevelopmentReport, bom: bool) -> Result<(), SupplyError> {
    write(set, &development_files(report, bom))
}

/// Siting files: `sites_chosen.csv` (the chosen sites and their implied zones),
/// `site_blocks.csv` (every block with demand, before and after) and `site_report.json`.
pub fn siting_files(problem: &SitingProblem, result: &SitingResult, bom: bool) -> Vec<(&'static str, Vec<u8>)> {
    let inst = &problem.instance;
    let e = problem.existing;
    let before = &result.before_solution;
    let after = &result.after_solution;
    let nf = problem.facilities.len();
    // Per facility: blocks whose main facility / nearest open facility it is, and metres.
    let mut assigned_blocks = vec![0u32; nf];
    let mut nearest_blocks = vec![0u32; nf];
    let mut children = vec![0u64; nf];
    let mut metres = vec![0u64; nf];
    let mut within = vec![0u64; nf];
    let mut rows = CsvOut::new(
        &[
            "block_id",
            "name",
            "district",
            "demand",
            "before_school",
            "before_distance_m",
            "before_unmet",
            "after_school",
            "after_kind",
            "after_distance_m",
            "after_unmet",
            "nearest_open",
            "nearest_distance_m",
            "changed",
        ],
        bom,
    );
    for (pi, (id, name, district)) in problem.block_ids.iter().enumerate() {
        let i = pi as u32;
        for a in inst.arcs(i) {
            let f = u64::from(after.flow(a));
            let j = inst.arc_facility(a) as usize;
            children[j] += f;
            metres[j] += f * u64::from(problem.arc_metres[a]);
            if problem.arc_metres[a] <= problem.radius_m {
                within[j] += f;
            }
        }
        let b = problem.assigned(before, i);
        let a = problem.assigned(after, i);
        let near = problem.nearest_open(after, i);
        if let Some((j, _)) = a {
            assigned_blocks[j as usize] += 1;
        }
        if let Some((j, _)) = near {
            nearest_blocks[j as usize] += 1;
        }
        let fid = |x: Option<(u32, u32)>| x.map_or(String::new(), |(j, _)| problem.facilities[j as usize].id.clone());
        let fm = |x: Option<(u32, u32)>| x.map_or(String::new(), |(_, m)| m.to_string());
        rows.field(id)
            .field(name)
            .field(&problem.district_names[*district as usize])
            .field(inst.supply(i))
            .field(fid(b))
            .field(fm(b))
            .field(before.unmet(i))
            .field(fid(a))
            .field(a.map_or("", |(j, _)| match problem.facilities[j as usize].kind {
                FacilityKind::School => "school",
                FacilityKind::Site => "new",
            }))
            .field(fm(a))
            .field(after.unmet(i))
            .field(fid(near))
            .field(fm(near))
            .field(b.map(|x| x.0) != a.map(|x| x.0));
        rows.end();
    }
    let mut chosen = CsvOut::new(
        &[
            "rank",
            "site_id",
            "name",
            "district",
            "lon",
            "lat",
            "capacity",
            "seated",
            "blocks_assigned",
            "blocks_nearest",
            "mean_distance_m",
            "within_radius_share",
            "shadow_price_m",
        ],
        bom,
    );
    let mut chosen_json = Vec::new();
    for (r, &k) in result.chosen.iter().enumerate() {
        let j = e + k as usize;
        let f = &problem.facilities[j];
        let mean = if children[j] > 0 {
            metres[j] as f64 / children[j] as f64
        } else {
            0.0
        };
        let share = if children[j] > 0 {
            within[j] as f64 / children[j] as f64
        } else {
            0.0
        };
        let price = after.price(inst, j as u32);
        chosen
            .field(r + 1)
            .field(&f.id)
            .field(&f.name)
            .field(&problem.district_names[f.district as usize])
            .field(format!("{:.6}", f.location.lon))
            .field(format!("{:.6}", f.location.lat))
            .field(f.capacity)
            .field(children[j])
            .field(assigned_blocks[j])
            .field(nearest_blocks[j])
            .field(num(mean, 0))
            .field(num(share, 4))
            .field(price);
        chosen.end();
        chosen_json.push(json!({
            "rank": r + 1, "site_id": f.id, "name": f.name,
            "district": problem.district_names[f.district as usize],
            "capacity": f.capacity, "seated": children[j],
            "blocks_assigned": assigned_blocks[j], "blocks_nearest": nearest_blocks[j],
            "mean_distance_m": r1(mean), "within_radius_share": r4(share), "shadow_price_m": price,
        }));
    }
    let metrics = |m: &super::siting::Metrics| {
        json!({
            "objective": m.objective,
            "children": m.children,
            "seated": m.seated,
            "unmet": m.unmet,
            "total_distance_m": m.total_distance_m,
            "mean_distance_m": r1(m.mean_distance_m),
            "within_radius": m.within_radius,
            "within_radius_share": r4(m.within_radius_share),
            "reachable": m.reachable,
            "reachable_share": r4(m.reachable_share),
        })
    };
    let report = json!({
        "stage": problem.stage,
        "design_year": problem.year,
        "objective": problem.objective.as_str(),
        "service_radius_m": problem.radius_m,
        "new_schools": result.chosen.len(),
        "blocks_with_demand": problem.blocks.len(),
        "existing_schools": e,
        "candidate_sites": problem.candidates(),
        "arcs": inst.arc_count(),
        "method": if result.exact {
            "exact enumeration (network simplex per subset)"
        } else if result.uncapacitated {
            "capacities cannot bind: greedy + fast interchange (nearest/second-nearest bookkeeping), final set certified by an exact assignment"
        } else {
            "greedy + vertex substitution, exact assignment per candidate set"
        },
        "exact_evaluations": result.evaluations,
        "swaps": result.moves,
        "before": metrics(&result.before),
        "after": metrics(&result.after),
        "chosen": chosen_json,
        "trace": result.trace.iter().map(|(s, c)| json!({"step": s, "objective": c})).collect::<Vec<_>>(),
    });
    vec![
        ("sites_chosen.csv", chosen.into_bytes()),
        ("site_blocks.csv", rows.into_bytes()),
        ("site_report.json", json_bytes(&report)),
    ]
}

/// Writes the siting files into `dir`.
pub fn write_siting(
    set: &mut OutputSet,
    problem: &SitingProblem,
    result: &SitingResult,
    bom: bool,
) -> Result<(), SupplyError> {
    write(set, &siting_files(problem, result, bom))
}
