//! Development check (教育设施配套): is a new residential block covered by school seats?
//!
//! For each new block and stage: the zone it falls in (its `zones.csv` row, else the zone of
//! the nearest zoned block of its district), the demand it adds in each forecast year, whether
//! its zone school(s) absorb it — the zone schools' total shortfall grows by less than half a
//! child — and the nearest schools of its district whose spare seats could take it.
//!
//! The block is either one already in `blocks.csv` (`--block ID`) or a planned one from a
//! development file with the columns of `blocks.csv`
//! (`block_id, name, district, lon, lat, households, status, move_in_year,
//! planned_households`; `status` defaults to `new`). The forecast is run without any of the
//! developments and then with each one on its own, and the report compares the two: each
//! development is judged against today's city, not on top of the others in the same request
//! (to check several together, add them to `blocks.csv` and check one more).

use std::path::Path;

use serde::Serialize;

use super::SupplyError;
use super::csvio::read_table;
use super::forecast::{Forecast, ZoneSource, forecast_city};
use super::params::PlanningParams;
use super::population::Population;
use crate::error::{Diagnostic, Diagnostics};
use crate::load::Dataset;
use crate::model::{Block, BlockStatus, Sector, Stage};

/// Added shortfall below this many children counts as absorbed (forecasts are expectations).
pub const ABSORB_TOLERANCE: f64 = 0.5;

/// One forecast year of a development and stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DevelopmentYear {
    /// The year.
    pub year: i32,
    /// Occupied households of the development.
    pub households: f64,
    /// Entry-age children it adds.
    pub added_children: f64,
    /// Public-track demand it adds.
    pub added_demand: f64,
    /// Seats of its open zone schools.
    pub zone_capacity: u64,
    /// Demand on its zone schools without the development.
    pub zone_demand_without: f64,
    /// Demand on its zone schools with it.
    pub zone_demand_with: f64,
    /// Growth of the zone schools' total shortfall (all of its demand when unzoned).
    pub added_shortfall: f64,
    /// True when the zone schools absorb it (added shortfall < 0.5 child).
    pub absorbed: bool,
}

/// A school near a development with spare seats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearbySchool {
    /// School id.
    pub school_id: String,
    /// Name.
    pub name: String,
    /// Metres from the development.
    pub distance_m: u32,
    /// Within the stage's service radius (P1).
    pub within_service_radius: bool,
    /// First year it admits (`None` = open now).
    pub opens_year: Option<i32>,
    /// Smallest spare seats (capacity − demand, with the development) over the forecast years
    /// in which it is open.
    pub min_spare: f64,
    /// True when `min_spare` covers the development's largest added demand.
    pub could_absorb: bool,
}

/// One development and stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevelopmentStage {
    /// The stage.
    pub stage: Stage,
    /// Zone schools' ids (empty when it has no zone).
    pub zone: Vec<String>,
    /// Where the zone comes from.
    pub zone_source: ZoneSource,
    /// Per forecast year.
    pub years: Vec<DevelopmentYear>,
    /// True when absorbed in every year.
    pub absorbed_all_years: bool,
    /// The first year it is not absorbed.
    pub first_short_year: Option<i32>,
    /// The largest added demand over the years.
    pub peak_added_demand: f64,
    /// The nearest other public schools of its district with spare seats.
    pub nearby: Vec<NearbySchool>,
}

/// One development.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevelopmentBlock {
    /// Block id.
    pub block_id: String,
    /// Name.
    pub name: String,
    /// District name.
    pub district: String,
    /// True when the block was already in `blocks.csv`.
    pub in_blocks_csv: bool,
    /// Per requested stage.
    pub stages: Vec<DevelopmentStage>,
}

/// The development check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevelopmentReport {
    /// First forecast year.
    pub base_year: i32,
    /// Years forecast.
    pub years: u32,
    /// Per development.
    pub developments: Vec<DevelopmentBlock>,
}

/// Reads a development file (the columns of `blocks.csv`; `status` defaults to `new`).
pub fn read_developments(path: &Path, data: &Dataset) -> Result<Vec<Block>, SupplyError> {
    let bytes = super::read_file(path)?;
    parse_developments(&bytes, &path.display().to_string(), data)
}

/// Parses a development file's text.
pub fn parse_developments(bytes: &[u8], file: &str, data: &Dataset) -> Result<Vec<Block>, SupplyError> {
    let city = &data.city;
    let mut out: Vec<Block> = Vec::new();
    let mut seen: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut diags = Diagnostics::default();
    read_table(
        bytes,
        file,
        &["block_id", "name", "district", "lon", "lat", "households"],
        &mut diags,
        |row, diags| {
            // Every field is checked even when the id is bad, so one run lists every problem.
            let id = row.required("block_id", diags).filter(|id| {
                if city.block(id).is_some() {
                    diags.push(row.diag(
                        "block_id",
                        id,
                        "blocks.csv already has this block",
                        "check an existing block with --block ID, or give the development a new id",
                    ));
                    return false;
                }
                if let Some(first) = seen.get(*id) {
                    diags.push(row.diag(
                        "block_id",
                        id,
                        format!("duplicate block_id (first on line {first})"),
                        "give every development its own id",
                    ));
                    return false;
                }
                true
            });
            let district = row.required("district", diags).and_then(|d| {
                let f = city.districts.iter().position(|x| x == d);
                if f.is_none() {
                    diags.push(row.diag(
                        "district",
                        d,
                        "no school or block is in this district",
                        format!("use one of: {}", city.districts.join(", ")),
                    ));
                }
                f
            });
            let location = row.location(data.scenario.crs, diags);
            let households = row
                .parse::<u32>("households", "a whole number ≥ 0", diags)
                .map(|h| h.unwrap_or(0));
            let status = match row.text("status").to_ascii_lowercase().as_str() {
                "" | "new" => Some(BlockStatus::New),
                "existing" => Some(BlockStatus::Existing),
                other => {
                    diags.push(row.diag("status", other, "unknown status", "use new or existing"));
                    None
                }
            };
            let move_in = row.parse::<i32>("move_in_year", "a year", diags);
            let planned = row.parse::<u32>("planned_households", "a whole number ≥ 0", diags);
            let (
                Some(id),
                Some(district),
                Some(location),
                Some(households),
                Some(status),
                Some(move_in),
                Some(planned),
            ) = (id, district, location, households, status, move_in, planned)
            else {
                return;
            };
            if status == BlockStatus::New && planned.is_none() && households == 0 {
                diags.push(row.diag(
                    "planned_households",
                    "",
                    "a new block needs planned_households (or households)",
                    "write the number of dwellings when the block is complete",
                ));
                return;
            }
            seen.insert(id.to_string(), row.line);
            out.push(Block {
                id: id.to_string(),
                name: row.text("name").to_string(),
                district: district as u32,
                location,
                households,
                status,
                move_in_year: move_in,
                planned_households: planned,
            });
        },
    );
    if out.is_empty() && diags.is_empty() {
        diags.push(Diagnostic::file(
            file,
            "the file has no developments",
            "add rows in the format of blocks.csv",
        ));
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(SupplyError::Invalid(diags))
    }
}

/// Checks developments: `existing` names blocks already in `blocks.csv` (by id), `new_blocks`
/// are planned blocks to add. `stages` empty means the scenario's stages.
pub fn check_development(
    data: &Dataset,
    population: Option<&Population>,
    params: &PlanningParams,
    existing: &[&str],
    new_blocks: &[Block],
    stages: &[Stage],
) -> Result<DevelopmentReport, SupplyError> {
    let mut stages = if stages.is_empty() {
        data.scenario.stages.clone()
    } else {
        stages.to_vec()
    };
    stages.sort();
    stages.dedup();
    let mut city = data.city.clone();
    let mut dev: Vec<(u32, bool)> = Vec::new();
    for id in existing {
        let b = city.block(id).ok_or_else(|| {
            SupplyError::request(format!(
                "no block has id {id} (fix: use a block_id from blocks.csv, or describe the development in a file)"
            ))
        })?;
        if !dev.iter().any(|d| d.0 == b) {
            dev.push((b, true));
        }
    }
    for b in new_blocks {
        if city.block(&b.id).is_some() {
            return Err(SupplyError::request(format!(
                "block {} is already in blocks.csv (fix: check it by id instead)",
                b.id
            )));
        }
        if b.district as usize >= city.districts.len() {
            return Err(SupplyError::request(format!(
                "block {} names an unknown district",
                b.id
            )));
        }
        // The id was checked above, so the block is added.
        let (Ok(i) | Err(i)) = city.add_block(b.clone());
        dev.push((i, false));
    }
    if dev.is_empty() {
        return Err(SupplyError::request(
            "no development to check (fix: name a block or a file)",
        ));
    }
    let mut mask = vec![false; city.blocks.len()];
    for &(b, _) in &dev {
        mask[b as usize] = true;
    }
    let fp = &params.forecast;
    let base_year = data.scenario.year;
    // Without any of the developments, then with each one on its own.
    let without = forecast_city(&city, &data.cohort, base_year, population, fp, &stages, Some(&mask));
    let developments = dev
        .iter()
        .map(|&(b, in_csv)| {
            let mut alone = mask.clone();
            alone[b as usize] = false;
            let with = forecast_city(&city, &data.cohort, base_year, population, fp, &stages, Some(&alone));
            let block = &city.blocks[b as usize];
            DevelopmentBlock {
                block_id: block.id.clone(),
                name: block.name.clone(),
                district: city.districts[block.district as usize].clone(),
                in_blocks_csv: in_csv,
                stages: stages
                    .iter()
                    .map(|&s| stage_check(data, &city, &with, &without, b, in_csv, s, params))
                    .collect(),
            }
        })
        .collect();
    Ok(DevelopmentReport {
        base_year,
        years: fp.years,
        developments,
    })
}

#[allow(clippy::too_many_arguments)]
fn stage_check(
    data: &Dataset,
    city: &crate::model::City,
    with: &Forecast,
    without: &Forecast,
    b: u32,
    in_csv: bool,
    stage: Stage,
    params: &PlanningParams,
) -> DevelopmentStage {
    let (Some(w), Some(wo)) = (with.stage(stage), without.stage(stage)) else {
        return DevelopmentStage {
            stage,
            zone: Vec::new(),
            zone_source: ZoneSource::None,
            years: Vec::new(),
            absorbed_all_years: false,
            first_short_year: None,
            peak_added_demand: 0.0,
            nearby: Vec::new(),
        };
    };
    let zone = w.block_zone[b as usize];
    let zone_schools: Vec<u32> = zone.map(|z| w.zones[z as usize].schools.clone()).unwrap_or_default();
    let pos = |s: u32| w.schools.iter().position(|&x| x == s);
    let years: Vec<DevelopmentYear> = w
        .years
        .iter()
        .zip(&wo.years)
        .map(|(yw, yo)| {
            let by = yw.blocks[b as usize];
            let (mut cap, mut dw, mut dwo, mut sw, mut swo) = (0u64, 0.0, 0.0, 0.0, 0.0);
            let mut any_open = false;
            for &s in &zone_schools {
                if let Some(k) = pos(s) {
                    let (a, o) = (&yw.schools[k], &yo.schools[k]);
                    any_open |= a.open;
                    cap += u64::from(a.capacity);
                    dw += a.demand;
                    dwo += o.demand;
                    sw += a.shortfall;
                    swo += o.shortfall;
                }
            }
            let added_shortfall = if any_open { (sw - swo).max(0.0) } else { by.demand };
            DevelopmentYear {
                year: yw.year,
                households: by.households,
                added_children: by.children,
                added_demand: by.demand,
                zone_capacity: cap,
                zone_demand_without: dwo,
                zone_demand_with: dw,
                added_shortfall,
                absorbed: added_shortfall < ABSORB_TOLERANCE,
            }
        })
        .collect();
    let absorbed_all_years = years.iter().all(|y| y.absorbed);
    let first_short_year = years.iter().find(|y| !y.absorbed).map(|y| y.year);
    let peak_added_demand = years.iter().map(|y| y.added_demand).fold(0.0, f64::max);
    // Nearby schools of the district with spare seats.
    let block = &city.blocks[b as usize];
    let radius = params.siting.service_radius_m.get(stage);
    let mut nearby: Vec<NearbySchool> = w
        .schools
        .iter()
        .enumerate()
        .filter_map(|(k, &s)| {
            let sc = &city.schools[s as usize];
            if zone_schools.contains(&s) || sc.district != block.district || sc.sector != Sector::Public {
                return None;
            }
            let spare = w
                .years
                .iter()
                .filter(|y| y.schools[k].open)
                .map(|y| f64::from(y.schools[k].capacity) - y.schools[k].demand)
                .fold(f64::INFINITY, f64::min);
            if !spare.is_finite() || spare < 1.0 {
                return None;
            }
            // A block of blocks.csv takes the city's distance; a proposed one is measured
            // from its location by the same source (unreachable schools are not listed).
            let mm = if in_csv {
                data.spatial.mm(s, b)
            } else {
                data.spatial.school_to_point_mm(s, &block.location)
            }?;
            let metres = crate::spatial::metres_of_mm(mm);
            Some(NearbySchool {
                school_id: sc.id.clone(),
                name: sc.name.clone(),
                distance_m: metres,
                within_service_radius: metres <= radius,
                opens_year: sc.opens_year.filter(|&y| y > with.base_year),
                min_spare: spare,
                could_absorb: spare >= peak_added_demand,
            })
        })
        .collect();
    nearby.sort_by(|a, b| a.distance_m.cmp(&b.distance_m).then(a.school_id.cmp(&b.school_id)));
    nearby.truncate(params.development.nearby);
    DevelopmentStage {
        stage,
        zone: zone_schools
            .iter()
            .map(|&s| city.schools[s as usize].id.clone())
            .collect(),
        zone_source: w.zone_source[b as usize],
        years,
        absorbed_all_years,
        first_short_year,
        peak_added_demand,
        nearby,
    }
}
