//! Entry-grade demand and seat shortfall per block, zone, school and district, for each
//! forecast year and stage.
//!
//! ## Demand of a block in year `y` (`t = y − base year`, `a` = the stage's entry age)
//! - **Cohort progression** where `population.csv` has rows for the block: the children aged
//!   `a − t` in the base year, × `survival^t`; for cohorts not yet born (`a − t < 0`) the
//!   base year's age-0 count × `(1 + births_change)^(t − a)` × `survival^a`.
//! - **Households × rate** otherwise: occupied households × `children_per_household` ×
//!   `(1 + annual_change)^t` (× the district calibration factor when `calibrate` is on).
//! - **New blocks** (status `new` with `move_in_year` and `planned_households`): occupied
//!   households are `max(households, planned × move_in_ramp[y − move_in_year])` (none before
//!   the first move-in year); households beyond today's count use the household rate ×
//!   `new_estate_uplift`, also where cohort progression covers today's residents.
//!
//! `demand` = children × (1 − `private_share`); `migrant_demand` = demand × the migrant share.
//!
//! ## Supply
//! A public school's entry-grade capacity is classes × class size (its own `class_size`, else
//! the stage default); without `classes` it is the `capacity` column. A school counts from its
//! `opens_year`. A block's demand goes to the open schools of its zone in proportion to their
//! capacity. A school's shortfall is `max(0, demand − capacity)`; blocks and zones carry the
//! shares of their schools' shortfalls, so block, zone and school shortfalls add up to the
//! same total. Districts also report the *net* shortfall after pooling every public seat
//! and government-purchased seat (政府购买学位, E10) of the district, as overflow placement
//! (统筹) would. A school whose average class (demand ÷ classes) reaches `large_class` is
//! flagged 大班额, from `super_large_class` 超大班额 (P4).

use rayon::prelude::*;
use serde::Serialize;

use super::params::ForecastParams;
use super::population::Population;
use crate::load::Dataset;
use crate::model::{BlockStatus, City, Cohort, Sector, Stage};

/// Where a block's zone comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneSource {
    /// `zones.csv`.
    File,
    /// Inferred: the zone of the nearest zoned block of the same district.
    NearestBlock,
    /// No zone.
    None,
}

impl ZoneSource {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneSource::File => "zones.csv",
            ZoneSource::NearestBlock => "nearest_block",
            ZoneSource::None => "",
        }
    }
}

/// How a block's demand is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Cohort progression from `population.csv`.
    Population,
    /// Households × children per household.
    Households,
}

/// A catchment: a set of zone schools shared by one or more blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// School indices, ascending.
    pub schools: Vec<u32>,
    /// The school ids joined by `+` (e.g. `P0003+P0007` for a multi-school zone).
    pub id: String,
}

/// Oversized-class flag (大班额).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Oversize {
    /// Average class below `large_class`.
    None,
    /// 大班额: average class ≥ `large_class` (default 56).
    Large,
    /// 超大班额: average class ≥ `super_large_class` (default 66).
    SuperLarge,
}

impl Oversize {
    /// The name used in files (empty for none).
    pub fn as_str(self) -> &'static str {
        match self {
            Oversize::None => "",
            Oversize::Large => "large",
            Oversize::SuperLarge => "super_large",
        }
    }
}

/// One block in one year.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct BlockYear {
    /// Occupied households.
    pub households: f64,
    /// Children at the entry age.
    pub children: f64,
    /// Children seeking a public-track seat: children × (1 − private share).
    pub demand: f64,
    /// Of `demand`, migrant children.
    pub migrant: f64,
    /// The block's share of its zone schools' shortfalls (all its demand when it has no open
    /// zone school).
    pub shortfall: f64,
}

/// One public school in one year.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SchoolYear {
    /// School index.
    pub school: u32,
    /// Admits this year.
    pub open: bool,
    /// Entry-grade classes (estimated from capacity ÷ class size when not given).
    pub classes: u32,
    /// Standard class size.
    pub class_size: u32,
    /// Entry-grade seats (0 when not open).
    pub capacity: u32,
    /// Zone demand sent to the school.
    pub demand: f64,
    /// `max(0, demand − capacity)`.
    pub shortfall: f64,
    /// demand ÷ classes: the class size if the school admitted its whole zone.
    pub average_class: f64,
    /// 大班额 flag of `average_class`.
    pub oversized: Oversize,
    /// Classes to add to seat the shortfall at the standard class size.
    pub extra_classes: u32,
}

/// One zone in one year.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ZoneYear {
    /// Blocks with demand.
    pub blocks: u32,
    /// Occupied households.
    pub households: f64,
    /// Demand of its blocks.
    pub demand: f64,
    /// Seats of its schools, shared between zones in proportion to the demand each sends.
    pub capacity: f64,
    /// Sum of its blocks' shortfalls.
    pub shortfall: f64,
}

/// One district (or the whole city) in one year.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct DistrictYear {
    /// Children at the entry age.
    pub children: f64,
    /// Public-track demand.
    pub demand: f64,
    /// Of it, migrant children.
    pub migrant: f64,
    /// Of it, from new blocks.
    pub new_block_demand: f64,
    /// Of it, from blocks with no open zone school.
    pub unzoned_demand: f64,
    /// Seats of open public schools.
    pub public_capacity: u64,
    /// Government-purchased seats at open private schools (public supply, E10).
    pub purchased_seats: u64,
    /// Other seats at open private schools.
    pub private_seats: u64,
    /// Sum of local shortfalls (schools short of their zones, plus unzoned demand).
    pub shortfall: f64,
    /// `max(0, demand − public capacity − purchased seats)`: what remains after pooling.
    pub net_shortfall: f64,
    /// Public schools short of seats.
    pub schools_short: u32,
    /// Schools flagged 大班额 (large, not super-large).
    pub large_class_schools: u32,
    /// Schools flagged 超大班额.
    pub super_large_class_schools: u32,
}

impl DistrictYear {
    fn add(&mut self, o: &DistrictYear) {
        self.children += o.children;
        self.demand += o.demand;
        self.migrant += o.migrant;
        self.new_block_demand += o.new_block_demand;
        self.unzoned_demand += o.unzoned_demand;
        self.public_capacity += o.public_capacity;
        self.purchased_seats += o.purchased_seats;
        self.private_seats += o.private_seats;
        self.shortfall += o.shortfall;
        self.net_shortfall += o.net_shortfall;
        self.schools_short += o.schools_short;
        self.large_class_schools += o.large_class_schools;
        self.super_large_class_schools += o.super_large_class_schools;
    }
}

/// One forecast year of one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct YearForecast {
    /// The calendar year of entry.
    pub year: i32,
    /// Per block, in `blocks.csv` order.
    pub blocks: Vec<BlockYear>,
    /// Per public school of the stage, aligned with [`StageForecast::schools`].
    pub schools: Vec<SchoolYear>,
    /// Per zone, aligned with [`StageForecast::zones`].
    pub zones: Vec<ZoneYear>,
    /// Per district, aligned with [`City::districts`].
    pub districts: Vec<DistrictYear>,
    /// The whole city.
    pub total: DistrictYear,
}

/// The forecast of one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageForecast {
    /// The stage.
    pub stage: Stage,
    /// Per block: its zone (index into `zones`), if any.
    pub block_zone: Vec<Option<u32>>,
    /// Per block: where the zone comes from.
    pub zone_source: Vec<ZoneSource>,
    /// Zones, in order of first appearance in `blocks.csv`.
    pub zones: Vec<Zone>,
    /// Public schools of the stage (open or planned), in `schools.csv` order.
    pub schools: Vec<u32>,
    /// Per district: the calibration factor on the household rate (1 without `calibrate`).
    pub calibration: Vec<f64>,
    /// This year's applicants of the stage in `students.csv` (a check on the first year).
    pub observed_applicants: u64,
    /// One entry per forecast year, the base year first.
    pub years: Vec<YearForecast>,
}

/// A forecast over every requested stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The first forecast year (the scenario's year).
    pub base_year: i32,
    /// The parameters used.
    pub params: ForecastParams,
    /// Per block: how demand is estimated.
    pub method: Vec<Method>,
    /// Per block: migrant share used.
    pub migrant_share: Vec<f64>,
    /// Per requested stage, in stage order.
    pub stages: Vec<StageForecast>,
}

impl Forecast {
    /// The forecast of a stage, if it was requested.
    pub fn stage(&self, stage: Stage) -> Option<&StageForecast> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    /// The forecast years.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        (0..self.params.years as i32).map(move |t| self.base_year + t)
    }
}

impl StageForecast {
    /// The forecast of a year, if inside the horizon.
    pub fn year(&self, year: i32) -> Option<&YearForecast> {
        self.years.iter().find(|y| y.year == year)
    }
}

/// Forecasts every stage in `stages` (the scenario's stages when empty) for
/// `params.years` years from the scenario's year.
pub fn forecast(
    data: &Dataset,
    population: Option<&Population>,
    params: &ForecastParams,
    stages: &[Stage],
) -> Forecast {
    let stages = if stages.is_empty() {
        &data.scenario.stages[..]
    } else {
        stages
    };
    forecast_city(
        &data.city,
        &data.cohort,
        data.scenario.year,
        population,
        params,
        stages,
        None,
    )
}

/// Applicant counts observed in `students.csv`.
struct Observed {
    /// Per block: applicants of any stage, and migrants among them.
    block: Vec<(u32, u32)>,
    /// Per stage and block: applicants.
    stage_block: [Vec<u32>; 3],
}

fn observe(city: &City, cohort: &Cohort) -> Observed {
    let n = city.blocks.len();
    let mut o = Observed {
        block: vec![(0, 0); n],
        stage_block: [vec![0; n], vec![0; n], vec![0; n]],
    };
    for s in &cohort.students {
        let b = s.block as usize;
        if b < n {
            o.block[b].0 += 1;
            o.block[b].1 += u32::from(s.migrant);
            o.stage_block[s.stage.index()][b] += 1;
        }
    }
    o
}

/// The migrant share of each block: the block's own where it has ≥ 10 applicants, else its
/// district's, else 0; or the configured share.
fn migrant_shares(city: &City, observed: &Observed, params: &ForecastParams) -> Vec<f64> {
    if let Some(v) = params.migrant_share {
        return vec![v; city.blocks.len()];
    }
    let mut district = vec![(0u64, 0u64); city.districts.len()];
    for (b, &(a, m)) in city.blocks.iter().zip(&observed.block) {
        district[b.district as usize].0 += u64::from(a);
        district[b.district as usize].1 += u64::from(m);
    }
    city.blocks
        .iter()
        .zip(&observed.block)
        .map(|(b, &(a, m))| {
            if a >= 10 {
                f64::from(m) / f64::from(a)
            } else {
                let (da, dm) = district[b.district as usize];
                if da > 0 { dm as f64 / da as f64 } else { 0.0 }
            }
        })
        .collect()
}

/// Capacity terms of a school: (classes, class size, seats).
pub(crate) fn school_capacity(city: &City, school: u32, params: &ForecastParams) -> (u32, u32, u32) {
    let sc = &city.schools[school as usize];
    let std = sc
        .class_size
        .filter(|&c| c > 0)
        .unwrap_or(params.class_size.get(sc.stage))
        .max(1);
    match sc.classes {
        Some(c) => (c, std, c.saturating_mul(std)),
        None => (sc.capacity.div_ceil(std), std, sc.capacity),
    }
}

/// Zones of one stage: per block the zone index and source, and the zones.
fn resolve_zones(city: &City, stage: Stage, infer: bool) -> (Vec<Option<u32>>, Vec<ZoneSource>, Vec<Zone>) {
    let n = city.blocks.len();
    let zones_file = city.zones(stage);
    let mut source = vec![ZoneSource::None; n];
    let mut sets: Vec<Vec<u32>> = vec![Vec::new(); n];
    for b in 0..n {
        // Only public schools of the stage serve a zone (the loader checks this; stay safe).
        let mut s: Vec<u32> = zones_file
            .schools_of(b as u32)
            .iter()
            .copied()
            .filter(|&x| {
                city.schools
                    .get(x as usize)
                    .is_some_and(|sc| sc.stage == stage && sc.sector == Sector::Public)
            })
            .collect();
        s.sort_unstable();
        s.dedup();
        if !s.is_empty() {
            source[b] = ZoneSource::File;
            sets[b] = s;
        }
    }
    if infer {
        // Zoned blocks per district, then the nearest one (chord metres; ties: lower index).
        let mut zoned: Vec<Vec<u32>> = vec![Vec::new(); city.districts.len()];
        for b in 0..n {
            if source[b] == ZoneSource::File {
                zoned[city.blocks[b].district as usize].push(b as u32);
            }
        }
        for b in 0..n {
            if source[b] != ZoneSource::None {
                continue;
            }
            let here = city.blocks[b].location.ecef;
            let best = zoned[city.blocks[b].district as usize]
                .iter()
                .map(|&o| (crate::crs::chord_metres(here, city.blocks[o as usize].location.ecef), o))
                .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            if let Some((_, o)) = best {
                sets[b] = sets[o as usize].clone();
                source[b] = ZoneSource::NearestBlock;
            }
        }
    }
    let mut index: std::collections::HashMap<Vec<u32>, u32> = std::collections::HashMap::new();
    let mut zones: Vec<Zone> = Vec::new();
    let block_zone = sets
        .into_iter()
        .map(|s| {
            if s.is_empty() {
                return None;
            }
            let next = zones.len() as u32;
            let z = *index.entry(s.clone()).or_insert_with(|| {
                let id = s
                    .iter()
                    .map(|&x| city.schools[x as usize].id.as_str())
                    .collect::<Vec<_>>()
                    .join("+");
                zones.push(Zone { schools: s, id });
                next
            });
            Some(z)
        })
        .collect();
    (block_zone, source, zones)
}

/// The forecast over an explicit city and cohort; `exclude[b]` forces block `b`'s demand to
/// zero (the "without" side of a development check).
pub(crate) fn forecast_city(
    city: &City,
    cohort: &Cohort,
    base_year: i32,
    population: Option<&Population>,
    params: &ForecastParams,
    stages: &[Stage],
    exclude: Option<&[bool]>,
) -> Forecast {
    let mut stages = stages.to_vec();
    stages.sort();
    stages.dedup();
    let observed = observe(city, cohort);
    let migrant_share = migrant_shares(city, &observed, params);
    let method: Vec<Method> = (0..city.blocks.len() as u32)
        .map(|b| {
            if population.is_some_and(|p| p.has_block(b)) {
                Method::Population
            } else {
                Method::Households
            }
        })
        .collect();
    let stage_forecasts = stages
        .iter()
        .map(|&stage| {
            forecast_stage(
                city,
                &observed,
                &migrant_share,
                &method,
                base_year,
                population,
                params,
                stage,
                exclude,
            )
        })
        .collect();
    Forecast {
        base_year,
        params: params.clone(),
        method,
        migrant_share,
        stages: stage_forecasts,
    }
}

#[allow(clippy::too_many_arguments)]
fn forecast_stage(
    city: &City,
    observed: &Observed,
    migrant_share: &[f64],
    method: &[Method],
    base_year: i32,
    population: Option<&Population>,
    params: &ForecastParams,
    stage: Stage,
    exclude: Option<&[bool]>,
) -> StageForecast {
    let (block_zone, zone_source, zones) = resolve_zones(city, stage, params.infer_zones);
    let schools: Vec<u32> = city
        .schools
        .iter()
        .enumerate()
        .filter(|(_, s)| s.stage == stage && s.sector == Sector::Public)
        .map(|(i, _)| i as u32)
        .collect();
    let rate = params.children_per_household.get(stage);
    // Calibration per district: observed applicants over the household estimate, existing
    // blocks estimated by households only.
    let mut calibration = vec![1.0; city.districts.len()];
    if params.calibrate {
        let mut num = vec![0.0; city.districts.len()];
        let mut den = vec![0.0; city.districts.len()];
        for (b, block) in city.blocks.iter().enumerate() {
            if block.status == BlockStatus::Existing && method[b] == Method::Households {
                num[block.district as usize] += f64::from(observed.stage_block[stage.index()][b]);
                den[block.district as usize] += f64::from(block.households) * rate;
            }
        }
        for d in 0..calibration.len() {
            if den[d] > 0.0 && num[d] > 0.0 {
                calibration[d] = num[d] / den[d];
            }
        }
    }
    let observed_applicants = observed.stage_block[stage.index()].iter().map(|&x| u64::from(x)).sum();
    let ctx = StageCtx {
        city,
        migrant_share,
        method,
        base_year,
        population,
        params,
        stage,
        exclude,
        block_zone: &block_zone,
        zones: &zones,
        schools: &schools,
        calibration: &calibration,
    };
    let years = (0..params.years as i32)
        .into_par_iter()
        .map(|t| ctx.year(base_year + t))
        .collect();
    StageForecast {
        stage,
        block_zone,
        zone_source,
        zones,
        schools,
        calibration,
        observed_applicants,
        years,
    }
}

struct StageCtx<'a> {
    city: &'a City,
    migrant_share: &'a [f64],
    method: &'a [Method],
    base_year: i32,
    population: Option<&'a Population>,
    params: &'a ForecastParams,
    stage: Stage,
    exclude: Option<&'a [bool]>,
    block_zone: &'a [Option<u32>],
    zones: &'a [Zone],
    schools: &'a [u32],
    calibration: &'a [f64],
}

impl StageCtx<'_> {
    /// Occupied households and children of one block in `year`.
    fn block_children(&self, b: usize, year: i32) -> (f64, f64, bool) {
        let block = &self.city.blocks[b];
        let p = self.params;
        let t = year - self.base_year;
        let now = f64::from(block.households);
        let is_new = block.status == BlockStatus::New;
        let occupied = match (is_new, block.planned_households, block.move_in_year) {
            (true, Some(planned), Some(move_in)) => now.max(f64::from(planned) * p.ramp(i64::from(year - move_in))),
            _ => now,
        };
        let mut rate = p.children_per_household.get(self.stage)
            * (1.0 + p.annual_change.get(self.stage)).powi(t)
            * self.calibration[block.district as usize];
        if is_new {
            rate *= p.new_estate_uplift;
        }
        let children = match (self.method[b], self.population) {
            (Method::Population, Some(pop)) => {
                let age = i64::from(p.entry_age.get(self.stage)) - i64::from(t);
                let cohort = if age >= 0 {
                    pop.count(b as u32, age as u32) * p.survival.powi(t)
                } else {
                    pop.count(b as u32, 0)
                        * (1.0 + p.births_change).powi((-age) as i32)
                        * p.survival.powi(p.entry_age.get(self.stage) as i32)
                };
                cohort + (occupied - now).max(0.0) * rate
            }
            _ => occupied * rate,
        };
        (occupied, children, is_new)
    }

    fn year(&self, year: i32) -> YearForecast {
        let city = self.city;
        let p = self.params;
        let private = p.private_share.get(self.stage);
        let n = city.blocks.len();
        let mut blocks = vec![BlockYear::default(); n];
        for (b, by) in blocks.iter_mut().enumerate() {
            if self.exclude.is_some_and(|e| e.get(b).copied().unwrap_or(false)) {
                continue;
            }
            let (households, children, _) = self.block_children(b, year);
            let demand = children * (1.0 - private);
            *by = BlockYear {
                households,
                children,
                demand,
                migrant: demand * self.migrant_share[b],
                shortfall: 0.0,
            };
        }
        // Schools: capacity this year.
        let mut pos = vec![u32::MAX; city.schools.len()];
        let mut schools: Vec<SchoolYear> = self
            .schools
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                pos[s as usize] = k as u32;
                let open = city.schools[s as usize].is_open(year);
                let (classes, class_size, cap) = school_capacity(city, s, p);
                SchoolYear {
                    school: s,
                    open,
                    classes,
                    class_size,
                    capacity: if open { cap } else { 0 },
                    demand: 0.0,
                    shortfall: 0.0,
                    average_class: 0.0,
                    oversized: Oversize::None,
                    extra_classes: 0,
                }
            })
            .collect();
        // Split each block's demand over the open schools of its zone, ∝ capacity.
        // zone_flow[z][k] = demand zone z sends to its k-th school.
        let mut zone_flow: Vec<Vec<f64>> = self.zones.iter().map(|z| vec![0.0; z.schools.len()]).collect();
        let mut zones = vec![ZoneYear::default(); self.zones.len()];
        let mut unzoned = vec![false; n];
        for b in 0..n {
            let d = blocks[b].demand;
            let Some(z) = self.block_zone[b] else {
                unzoned[b] = true;
                continue;
            };
            let zone = &self.zones[z as usize];
            let zy = &mut zones[z as usize];
            if d > 0.0 || blocks[b].households > 0.0 {
                zy.blocks += u32::from(d > 0.0);
                zy.households += blocks[b].households;
            }
            zy.demand += d;
            let caps: Vec<f64> = zone
                .schools
                .iter()
                .map(|&s| {
                    let sy = &schools[pos[s as usize] as usize];
                    if sy.open { f64::from(sy.capacity) } else { -1.0 }
                })
                .collect();
            let open = caps.iter().filter(|&&c| c >= 0.0).count();
            if open == 0 {
                unzoned[b] = true;
                continue;
            }
            let total: f64 = caps.iter().filter(|&&c| c > 0.0).sum();
            for (k, &c) in caps.iter().enumerate() {
                if c < 0.0 {
                    continue;
                }
                let share = if total > 0.0 { c / total } else { 1.0 / open as f64 };
                let f = d * share;
                zone_flow[z as usize][k] += f;
                schools[pos[zone.schools[k] as usize] as usize].demand += f;
            }
        }
        for sy in &mut schools {
            sy.shortfall = (sy.demand - f64::from(sy.capacity)).max(0.0);
            if sy.open && sy.classes > 0 && sy.demand > 0.0 {
                sy.average_class = sy.demand / f64::from(sy.classes);
                sy.oversized = if sy.average_class >= f64::from(p.super_large_class.get(self.stage)) {
                    Oversize::SuperLarge
                } else if sy.average_class >= f64::from(p.large_class.get(self.stage)) {
                    Oversize::Large
                } else {
                    Oversize::None
                };
            }
            if sy.shortfall > 1e-9 {
                sy.extra_classes = (sy.shortfall / f64::from(sy.class_size)).ceil() as u32;
            }
        }
        // Zones holding each school (to share a school's seats when no zone sends demand).
        let mut holders = vec![0u32; city.schools.len()];
        for zone in self.zones {
            for &s in &zone.schools {
                holders[s as usize] += 1;
            }
        }
        // Per school: shortfall per unit of demand; zones and blocks carry their shares.
        let ratio = |s: u32| {
            let sy = &schools[pos[s as usize] as usize];
            if sy.demand > 0.0 { sy.shortfall / sy.demand } else { 0.0 }
        };
        for (z, zone) in self.zones.iter().enumerate() {
            let zy = &mut zones[z];
            for (k, &s) in zone.schools.iter().enumerate() {
                let sy = &schools[pos[s as usize] as usize];
                let f = zone_flow[z][k];
                zy.shortfall += f * ratio(s);
                // Seats shared among zones by the demand each sends (equally when none).
                let share = if sy.demand > 0.0 {
                    f / sy.demand
                } else {
                    1.0 / f64::from(holders[s as usize].max(1))
                };
                zy.capacity += f64::from(sy.capacity) * share;
            }
        }
        for b in 0..n {
            let d = blocks[b].demand;
            if d <= 0.0 {
                continue;
            }
            if unzoned[b] {
                blocks[b].shortfall = d;
                continue;
            }
            let z = self.block_zone[b].unwrap_or(0) as usize;
            let zone = &self.zones[z];
            let caps: Vec<f64> = zone
                .schools
                .iter()
                .map(|&s| {
                    let sy = &schools[pos[s as usize] as usize];
                    if sy.open { f64::from(sy.capacity) } else { -1.0 }
                })
                .collect();
            let open = caps.iter().filter(|&&c| c >= 0.0).count();
            let total: f64 = caps.iter().filter(|&&c| c > 0.0).sum();
            let mut short = 0.0;
            for (k, &c) in caps.iter().enumerate() {
                if c < 0.0 {
                    continue;
                }
                let share = if total > 0.0 { c / total } else { 1.0 / open as f64 };
                short += d * share * ratio(zone.schools[k]);
            }
            blocks[b].shortfall = short;
        }
        // Districts.
        let mut districts = vec![DistrictYear::default(); city.districts.len()];
        for (b, by) in blocks.iter().enumerate() {
            let block = &city.blocks[b];
            let dy = &mut districts[block.district as usize];
            dy.children += by.children;
            dy.demand += by.demand;
            dy.migrant += by.migrant;
            if block.status == BlockStatus::New {
                dy.new_block_demand += by.demand;
            }
            if unzoned[b] {
                dy.unzoned_demand += by.demand;
                dy.shortfall += by.demand;
            }
        }
        for sy in &schools {
            let dy = &mut districts[city.schools[sy.school as usize].district as usize];
            dy.public_capacity += u64::from(sy.capacity);
            dy.shortfall += sy.shortfall;
            dy.schools_short += u32::from(sy.shortfall > 1e-9);
            dy.large_class_schools += u32::from(sy.oversized == Oversize::Large);
            dy.super_large_class_schools += u32::from(sy.oversized == Oversize::SuperLarge);
        }
        for sc in &city.schools {
            if sc.stage == self.stage && sc.sector == Sector::Private && sc.is_open(year) {
                let dy = &mut districts[sc.district as usize];
                let bought = sc.purchased_seats.min(sc.capacity);
                dy.purchased_seats += u64::from(bought);
                dy.private_seats += u64::from(sc.capacity - bought);
            }
        }
        let mut total = DistrictYear::default();
        for dy in &mut districts {
            dy.net_shortfall = (dy.demand - dy.public_capacity as f64 - dy.purchased_seats as f64).max(0.0);
            total.add(dy);
        }
        YearForecast {
            year,
            blocks,
            schools,
            zones,
            districts,
            total,
        }
    }
}
