//! One copy of the city: blocks, schools, zones, capacities and feeders, built in memory
//! (a copy holds at most a few thousand blocks and schools; applicants are streamed later).

use std::collections::HashSet;

use crate::geography::{District, MicroPt, Offset, copy_name, copy_offset};
use crate::names;
use crate::preset::{CopyPlan, Shape, apportion};
use crate::rng::{Purpose, Rand};
use crate::{Sector, Stage};

/// A residential block (小区).
#[derive(Clone, Debug)]
pub(crate) struct Block {
    /// Global number (written as `B000123`).
    pub id: u64,
    /// Compound name.
    pub name: String,
    /// Index into [`City::districts`].
    pub district: usize,
    /// Location, untranslated.
    pub pt: MicroPt,
    /// Households living there now.
    pub households: u32,
    /// A new development (status `new`).
    pub new_block: bool,
    /// New blocks: the year residents move in.
    pub move_in_year: Option<i32>,
    /// New blocks: households when complete.
    pub planned_households: Option<u32>,
    /// Children per household relative to the city (young families in new blocks).
    pub youth: f64,
    /// Probability an applicant here is a migrant child.
    pub migrant_share: f64,
    /// Applicants per stage this year.
    pub demand: [u32; 3],
    /// Zone schools per stage (indices into [`City::schools`]), nearest-assigned first.
    pub zones: [Vec<u32>; 3],
    /// Nearest open public primary schools (for junior applicants' primary school).
    pub near_primary: Vec<u32>,
    /// Choice market: candidate schools near the block and cumulative attraction weights.
    pub choice_pool: Vec<u32>,
    /// Cumulative weights matching `choice_pool`.
    pub choice_cum: Vec<f64>,
}

/// A school (one stage: its entry grade).
#[derive(Clone, Debug)]
pub(crate) struct School {
    /// Global number within the stage (written as `P0001`, `J0001`, `K0001`).
    pub id: u64,
    /// Stage.
    pub stage: Stage,
    /// Public or private.
    pub sector: Sector,
    /// Name.
    pub name: String,
    /// Index into [`City::districts`].
    pub district: usize,
    /// Location, untranslated.
    pub pt: MicroPt,
    /// Entry-grade classes.
    pub classes: u32,
    /// Planned schools: the year they open.
    pub opens_year: Option<i32>,
    /// Public primary: its paired public junior school (index into [`City::schools`]).
    pub feeder: Option<u32>,
    /// Private: seats bought by the government for public-track applicants.
    pub purchased: Option<u32>,
    /// Attraction in choices (hot schools are several times more attractive).
    pub popularity: f64,
    /// Popular and deliberately oversubscribed by its zone.
    pub hot: bool,
}

impl School {
    /// Entry-grade seats: classes × class size.
    pub(crate) fn capacity(&self) -> u32 {
        self.classes * self.stage.class_size()
    }

    /// Open this year (not a planned school).
    pub(crate) fn is_open(&self) -> bool {
        self.opens_year.is_none()
    }

    /// An open public school (can have a zone).
    fn zonable(&self) -> bool {
        self.sector == Sector::Public && self.is_open()
    }
}

/// A district of one copy.
#[derive(Clone, Debug)]
pub(crate) struct DistrictCopy {
    /// Index into the seven embedded districts.
    pub base: usize,
    /// Name written to files (`梁溪区`, `梁溪区#2`, …).
    pub name: String,
    /// Town centres (for large districts).
    pub towns: Vec<MicroPt>,
    /// Per stage: share of families listing a private school first.
    pub private_rate: [f64; 3],
    /// Per stage: the district's private schools …
    pub privates: [Vec<u32>; 3],
    /// … and their cumulative popularity.
    pub private_cum: [Vec<f64>; 3],
    /// Open public primary schools of the district.
    pub open_primaries: Vec<u32>,
}

/// One copy of the city.
#[derive(Clone, Debug)]
pub(crate) struct City {
    /// Translation applied when writing coordinates.
    pub offset: Offset,
    /// The seven districts of this copy.
    pub districts: Vec<DistrictCopy>,
    /// Blocks, by district.
    pub blocks: Vec<Block>,
    /// Schools, by stage then district.
    pub schools: Vec<School>,
}

/// Running id counters across copies.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ids {
    /// Last block number used.
    pub block: u64,
    /// Last school number used, per stage.
    pub school: [u64; 3],
}

/// Inputs shared by every copy.
pub(crate) struct Ctx<'a> {
    /// The preset's shape.
    pub shape: &'a Shape,
    /// The seven embedded districts.
    pub geo: &'a [District],
    /// Run seed.
    pub seed: u64,
    /// Admission year.
    pub year: i32,
    /// Number of copies.
    pub copies: u32,
}

/// Builds copy `plan.index` of the city.
pub(crate) fn build_city(ctx: &Ctx<'_>, plan: &CopyPlan, ids: &mut Ids) -> City {
    let mut rng = Rand::new(ctx.seed, plan.index, Purpose::Layout);
    let mut city = City {
        offset: copy_offset(plan.index, ctx.copies),
        districts: ctx
            .geo
            .iter()
            .enumerate()
            .map(|(i, d)| DistrictCopy {
                base: i,
                name: copy_name(&d.name, plan.index),
                towns: (0..(d.area_km2 / 160.0) as usize)
                    .map(|_| d.sample_uniform(&mut rng))
                    .collect(),
                private_rate: [0.0; 3],
                privates: Default::default(),
                private_cum: Default::default(),
                open_primaries: Vec::new(),
            })
            .collect(),
        blocks: Vec::new(),
        schools: Vec::new(),
    };
    place_blocks(ctx, plan, &mut city, &mut rng, ids);
    let mut demand_rng = Rand::new(ctx.seed, plan.index, Purpose::Demand);
    spread_demand(ctx.shape, plan, &mut city, &mut demand_rng);
    let multi: Vec<bool> = city
        .blocks
        .iter()
        .map(|_| rng.chance(ctx.shape.multi_zone_share))
        .collect();
    for stage in ctx.shape.stages() {
        place_schools(ctx, plan, stage, &mut city, &mut rng, ids);
        for d in 0..city.districts.len() {
            zone_district(ctx, stage, d, &mut city, &multi, &mut rng);
        }
        size_schools(ctx, stage, &mut city, &mut rng);
    }
    link_feeders(&mut city);
    nearest_primaries(&mut city);
    if let Some(k) = ctx.shape.choice_k {
        choice_pools(&mut city, k);
    }
    name_schools(&mut city, ctx.geo, &mut rng);
    for (i, x) in city.schools.iter().enumerate() {
        if x.stage == Stage::Primary && x.zonable() {
            city.districts[x.district].open_primaries.push(i as u32);
        }
    }
    city
}

fn place_blocks(ctx: &Ctx<'_>, plan: &CopyPlan, city: &mut City, rng: &mut Rand, ids: &mut Ids) {
    let geo = ctx.geo;
    let weights: Vec<f64> = geo
        .iter()
        .map(|d| d.profile.population / d.profile.households_factor)
        .collect();
    let n7 = geo.len() as u64;
    let counts: Vec<u64> = apportion(plan.blocks - 2 * n7, &weights)
        .into_iter()
        .map(|c| c + 2)
        .collect();
    // Normalise the households factors so the mean block has `households_per_block`.
    let norm = counts
        .iter()
        .zip(geo)
        .map(|(&c, d)| c as f64 * d.profile.households_factor)
        .sum::<f64>()
        / plan.blocks as f64;
    let year = ctx.year;
    for (di, d) in geo.iter().enumerate() {
        let p = d.profile;
        let mean = plan.households_per_block * p.households_factor / norm;
        let mut used = HashSet::new();
        for _ in 0..counts[di] {
            let new_block = rng.chance(ctx.shape.new_block_share);
            let u = rng.f64();
            let towns = &city.districts[di].towns;
            let (pt, village) = if u < p.core_weight {
                (d.sample_near(rng, d.seat, p.core_sigma_m), false)
            } else if u < p.core_weight + p.town_weight && !towns.is_empty() {
                let t = towns[rng.below(towns.len() as u64) as usize];
                (d.sample_near(rng, t, 1_500.0), p.rural && rng.chance(0.4))
            } else {
                (None, p.rural)
            };
            let pt = pt.unwrap_or_else(|| d.sample_uniform(rng));
            let (households, move_in_year, planned) = if new_block {
                let planned = (mean * rng.range(1.5, 3.5)).round().max(50.0) as u32;
                let move_in = year + rng.int(0, 4) as i32 - 1;
                let filled = match year - move_in {
                    1.. => rng.range(0.5, 0.8),
                    0 => rng.range(0.2, 0.5),
                    _ => 0.0,
                };
                (
                    (f64::from(planned) * filled).round() as u32,
                    Some(move_in),
                    Some(planned),
                )
            } else {
                ((mean * rng.skewed()).round().max(20.0) as u32, None, None)
            };
            let youth = if new_block {
                1.5 * rng.range(0.8, 1.2)
            } else {
                rng.range(0.6, 1.4)
            };
            let factor = if new_block {
                0.7
            } else if rng.chance(0.12) {
                2.0
            } else {
                0.864
            };
            let name = names::block_name(rng, &mut used, p.places, village, new_block);
            ids.block += 1;
            city.blocks.push(Block {
                id: ids.block,
                name,
                district: di,
                pt,
                households,
                new_block,
                move_in_year,
                planned_households: planned,
                youth,
                migrant_share: (p.migrant_share * factor).min(0.9),
                demand: [0; 3],
                zones: Default::default(),
                near_primary: Vec::new(),
                choice_pool: Vec::new(),
                choice_cum: Vec::new(),
            });
        }
    }
}

/// Spreads each stage's exact applicant total over blocks ∝ households × youth, by
/// systematic sampling (one uniform offset per stage: totals are exact, each block within
/// one of its expectation).
fn spread_demand(shape: &Shape, plan: &CopyPlan, city: &mut City, rng: &mut Rand) {
    for stage in shape.stages() {
        let s = stage.index();
        let total = plan.applicants[s];
        let w = |b: &Block| {
            let kg_boost = if stage == Stage::Kindergarten && b.new_block {
                1.3
            } else {
                1.0
            };
            f64::from(b.households) * b.youth * kg_boost
        };
        let sum: f64 = city.blocks.iter().map(w).sum();
        let u = rng.f64();
        let (mut cum, mut prev) = (0.0, 0u64);
        // The last block with people takes any rounding remainder, so nobody lives in an
        // empty block and the total is exact.
        let last = city.blocks.iter().rposition(|b| w(b) > 0.0).unwrap_or(0);
        for (i, b) in city.blocks.iter_mut().enumerate() {
            cum += w(b);
            let x = if i >= last || sum <= 0.0 {
                total as f64
            } else {
                (cum / sum * total as f64).min(total as f64)
            };
            let upto = (x + u).floor() as u64;
            b.demand[s] = upto.saturating_sub(prev) as u32;
            prev = prev.max(upto);
        }
    }
}

fn blocks_of(city: &City, d: usize) -> impl Iterator<Item = (usize, &Block)> {
    city.blocks.iter().enumerate().filter(move |(_, b)| b.district == d)
}

/// Picks a site near people: a block drawn ∝ `weight`, jittered ~250 m, inside the
/// district and at least 300 m from `taken` when possible.
fn site(district: &District, candidates: &[(MicroPt, f64)], taken: &[MicroPt], rng: &mut Rand) -> MicroPt {
    let mut cum = Vec::with_capacity(candidates.len());
    let mut acc = 0.0;
    for &(_, w) in candidates {
        acc += w;
        cum.push(acc);
    }
    let mut fallback = None;
    for _ in 0..12 {
        let base = if acc > 0.0 {
            candidates[rng.pick_cum(&cum)].0
        } else {
            district.sample_uniform(rng)
        };
        let p = district.sample_near(rng, base, 250.0).unwrap_or(base);
        if taken.iter().all(|t| t.dist2(p) >= 300.0 * 300.0) {
            return p;
        }
        fallback.get_or_insert(p);
    }
    fallback.unwrap_or(district.seat)
}

fn place_schools(ctx: &Ctx<'_>, plan: &CopyPlan, stage: Stage, city: &mut City, rng: &mut Rand, ids: &mut Ids) {
    let s = stage.index();
    let nd = city.districts.len();
    let min = ctx.shape.min_public_per_district;
    let planned_total = (plan.public[s] as f64 * ctx.shape.planned_share).round() as u64;
    let open_total = plan.public[s].saturating_sub(planned_total).max(min * nd as u64);
    let demand: Vec<f64> = (0..nd)
        .map(|d| blocks_of(city, d).map(|(_, b)| f64::from(b.demand[s])).sum::<f64>() + 1e-9)
        .collect();
    let open = apportion(open_total - min * nd as u64, &demand);
    let private = apportion(plan.private[s], &demand);
    let future: Vec<f64> = (0..nd)
        .map(|d| {
            blocks_of(city, d)
                .filter(|(_, b)| b.move_in_year.is_some_and(|y| y > ctx.year))
                .map(|(_, b)| f64::from(b.planned_households.unwrap_or(0)))
                .sum::<f64>()
                + demand[d] * 1e-3
        })
        .collect();
    let planned = apportion(planned_total, &future);
    for d in 0..nd {
        let geo = &ctx.geo[city.districts[d].base];
        let people: Vec<(MicroPt, f64)> = blocks_of(city, d)
            .map(|(_, b)| (b.pt, f64::from(b.households)))
            .collect();
        let newcomers: Vec<(MicroPt, f64)> = blocks_of(city, d)
            .filter(|(_, b)| b.move_in_year.is_some_and(|y| y > ctx.year))
            .map(|(_, b)| (b.pt, f64::from(b.planned_households.unwrap_or(0))))
            .collect();
        let mut taken: Vec<MicroPt> = Vec::new();
        let kinds = [
            (Sector::Public, None, open[d] + min),
            (Sector::Public, Some(ctx.year + 1), planned[d]),
            (Sector::Private, None, private[d]),
        ];
        for (sector, opens, n) in kinds {
            for _ in 0..n {
                let pool = if opens.is_some() && !newcomers.is_empty() {
                    &newcomers
                } else {
                    &people
                };
                let pt = site(geo, pool, &taken, rng);
                taken.push(pt);
                let opens_year = opens.map(|y| y + rng.below(2) as i32);
                ids.school[s] += 1;
                city.schools.push(School {
                    id: ids.school[s],
                    stage,
                    sector,
                    name: String::new(),
                    district: d,
                    pt,
                    classes: 1,
                    opens_year,
                    feeder: None,
                    purchased: None,
                    popularity: match sector {
                        Sector::Public => rng.range(0.5, 1.5),
                        Sector::Private => rng.range(0.5, 2.0),
                    },
                    hot: false,
                });
            }
        }
    }
}

/// Balanced assignment of weighted `units` to `sites`: an additively weighted Voronoi
/// diagram whose site weights are nudged until each site's load nears its share of the total
/// (`share`, relative). Every site gets at least one unit when there are enough units.
fn balanced_assign(units: &[(MicroPt, f64)], sites: &[MicroPt], share: &[f64], spacing: f64) -> Vec<usize> {
    let n = sites.len();
    let total: f64 = units.iter().map(|u| u.1).sum();
    let share_sum: f64 = share.iter().sum();
    let target: Vec<f64> = share.iter().map(|z| total * z / share_sum).collect();
    let dist: Vec<f64> = units
        .iter()
        .flat_map(|u| sites.iter().map(move |p| u.0.dist(*p)))
        .collect();
    let mut w = vec![0.0; n];
    let mut assign = vec![0usize; units.len()];
    let mut step = 0.25 * spacing;
    for round in 0..=12 {
        for (j, a) in assign.iter_mut().enumerate() {
            let row = &dist[j * n..(j + 1) * n];
            let mut best = (f64::INFINITY, 0);
            for k in 0..n {
                let c = row[k] - w[k];
                if c < best.0 {
                    best = (c, k);
                }
            }
            *a = best.1;
        }
        if round == 12 {
            break;
        }
        let mut load = vec![0.0; n];
        for (j, &a) in assign.iter().enumerate() {
            load[a] += units[j].1;
        }
        for k in 0..n {
            w[k] += step * (1.0 - load[k] / target[k]).clamp(-1.0, 1.0);
        }
        step *= 0.85;
    }
    repair(units, &dist, &target, &mut assign);
    for k in 0..n {
        if assign.contains(&k) {
            continue;
        }
        let mut counts = vec![0usize; n];
        for &a in &assign {
            counts[a] += 1;
        }
        let best = (0..units.len())
            .filter(|&j| counts[assign[j]] >= 2)
            .min_by(|&a, &b| dist[a * n + k].total_cmp(&dist[b * n + k]).then(a.cmp(&b)));
        if let Some(j) = best {
            assign[j] = k;
        }
    }
    assign
}

/// Evens out what the weighted Voronoi step leaves unbalanced (coarse units, odd shapes):
/// the most loaded site gives, or the least loaded site takes, the unit whose move adds the
/// least distance and lowers the imbalance; at most `4 × sites` moves.
fn repair(units: &[(MicroPt, f64)], dist: &[f64], target: &[f64], assign: &mut [usize]) {
    let n = target.len();
    let mut load = vec![0.0; n];
    let mut count = vec![0usize; n];
    for (j, &a) in assign.iter().enumerate() {
        load[a] += units[j].1;
        count[a] += 1;
    }
    let ratio = |load: &[f64], k: usize| load[k] / target[k];
    for _ in 0..4 * n {
        let (mut hi, mut lo) = (0, 0);
        for k in 1..n {
            if ratio(&load, k) > ratio(&load, hi) {
                hi = k;
            }
            if ratio(&load, k) < ratio(&load, lo) {
                lo = k;
            }
        }
        let (r_hi, r_lo) = (ratio(&load, hi), ratio(&load, lo));
        // (unit, to, added distance)
        let mut best: Option<(usize, usize, f64)> = None;
        let consider = |best: &mut Option<(usize, usize, f64)>, j: usize, from: usize, to: usize| {
            let w = units[j].1;
            let after_to = (load[to] + w) / target[to];
            let after_from = (load[from] - w) / target[from];
            let before = ratio(&load, from).max(ratio(&load, to));
            if count[from] < 2 || after_to.max(after_from) >= before {
                return;
            }
            let cost = dist[j * n + to] - dist[j * n + from];
            if best.is_none_or(|b| cost < b.2) {
                *best = Some((j, to, cost));
            }
        };
        if r_hi > 1.25 {
            for j in (0..assign.len()).filter(|&j| assign[j] == hi) {
                for to in (0..n).filter(|&k| k != hi) {
                    consider(&mut best, j, hi, to);
                }
            }
        }
        if best.is_none() && r_lo < 0.6 {
            for j in (0..assign.len()).filter(|&j| assign[j] != lo) {
                consider(&mut best, j, assign[j], lo);
            }
        }
        let Some((j, to, _)) = best else {
            break;
        };
        let from = assign[j];
        load[from] -= units[j].1;
        count[from] -= 1;
        load[to] += units[j].1;
        count[to] += 1;
        assign[j] = to;
    }
}

/// Zoning of one district and stage. Hot schools are chosen and given large zones; then
/// blocks are assigned by [`balanced_assign`]. Junior zones follow feeder progression: each
/// public primary school is assigned (whole) to a junior school, which becomes its
/// `feeder_junior_id`, and a block's junior zone is the feeder of its primary zone school(s).
/// Finally a share of blocks get multi-school zones (their nearest other schools).
fn zone_district(ctx: &Ctx<'_>, stage: Stage, d: usize, city: &mut City, multi: &[bool], rng: &mut Rand) {
    let s = stage.index();
    let schools: Vec<usize> = city
        .schools
        .iter()
        .enumerate()
        .filter(|(_, sc)| sc.stage == stage && sc.district == d && sc.zonable())
        .map(|(i, _)| i)
        .collect();
    let blocks: Vec<usize> = blocks_of(city, d)
        .filter(|(_, b)| b.households > 0)
        .map(|(i, _)| i)
        .collect();
    if schools.is_empty() || blocks.is_empty() {
        return;
    }
    let n = schools.len();
    // Hot schools: popular, with big zones, deliberately short of seats (see size_schools).
    let n_hot = if n >= 2 {
        ((ctx.shape.hot_share * n as f64).round() as usize).max(1)
    } else {
        0
    };
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut size = vec![0.0; n];
    for (rank, &k) in order.iter().enumerate() {
        let sc = &mut city.schools[schools[k]];
        if rank < n_hot {
            sc.hot = true;
            sc.popularity *= 3.0;
            size[k] = rng.range(1.5, 2.0);
        } else {
            size[k] = rng.range(0.7, 1.3);
        }
    }
    let spacing = (ctx.geo[city.districts[d].base].area_km2 * 1e6 / n as f64).sqrt();
    let sites: Vec<MicroPt> = schools.iter().map(|&i| city.schools[i].pt).collect();
    let p = Stage::Primary.index();
    let primaries: Vec<usize> = city
        .schools
        .iter()
        .enumerate()
        .filter(|(_, x)| x.stage == Stage::Primary && x.district == d && x.zonable())
        .map(|(i, _)| i)
        .collect();

    let mut zone_of: Vec<Vec<u32>> = Vec::with_capacity(blocks.len());
    if stage == Stage::Junior && primaries.len() >= n {
        // Feeder progression: whole primary schools go to one junior school each.
        let mut demand_by_primary = vec![0.1; primaries.len()];
        for &b in &blocks {
            let blk = &city.blocks[b];
            if let Some(first) = blk.zones[p].first()
                && let Some(k) = primaries.iter().position(|&x| x == *first as usize)
            {
                demand_by_primary[k] += f64::from(blk.demand[s]);
            }
        }
        let units: Vec<(MicroPt, f64)> = primaries
            .iter()
            .zip(&demand_by_primary)
            .map(|(&i, &w)| (city.schools[i].pt, w))
            .collect();
        let assign = balanced_assign(&units, &sites, &size, spacing);
        for (k, &i) in primaries.iter().enumerate() {
            city.schools[i].feeder = Some(schools[assign[k]] as u32);
        }
        for &b in &blocks {
            let mut zone: Vec<u32> = Vec::new();
            for &pr in &city.blocks[b].zones[p] {
                if let Some(f) = city.schools[pr as usize].feeder
                    && !zone.contains(&f)
                {
                    zone.push(f);
                }
            }
            if zone.is_empty() {
                // No primary zone (cannot happen when primary schools exist): nearest.
                let bp = city.blocks[b].pt;
                let k = (0..n)
                    .min_by(|&x, &y| bp.dist2(sites[x]).total_cmp(&bp.dist2(sites[y])))
                    .unwrap_or(0);
                zone.push(schools[k] as u32);
            }
            zone_of.push(zone);
        }
    } else {
        let units: Vec<(MicroPt, f64)> = blocks
            .iter()
            .map(|&b| (city.blocks[b].pt, f64::from(city.blocks[b].demand[s]) + 0.1))
            .collect();
        let assign = balanced_assign(&units, &sites, &size, spacing);
        zone_of.extend(assign.iter().map(|&k| vec![schools[k] as u32]));
    }

    for (j, &b) in blocks.iter().enumerate() {
        let mut zone = std::mem::take(&mut zone_of[j]);
        if multi[b] && n >= 2 && zone.len() == 1 {
            let bp = city.blocks[b].pt;
            let mut others: Vec<usize> = (0..n).filter(|&k| schools[k] as u32 != zone[0]).collect();
            others.sort_by(|&x, &y| bp.dist2(sites[x]).total_cmp(&bp.dist2(sites[y])).then(x.cmp(&y)));
            let extra = if n >= 3 && rng.chance(0.3) { 2 } else { 1 };
            zone.extend(others.iter().take(extra).map(|&k| schools[k] as u32));
        }
        city.blocks[b].zones[s] = zone;
    }
}

/// Capacities: private schools from their expected first-choice applicants (some with
/// purchased seats), planned schools at a typical size, open public schools from their zone
/// demand (hot schools short, the rest filling each district to the supply ratio).
#[allow(clippy::needless_range_loop)] // parallel per-district and per-school arrays
fn size_schools(ctx: &Ctx<'_>, stage: Stage, city: &mut City, rng: &mut Rand) {
    let s = stage.index();
    let cs = f64::from(stage.class_size());
    let nd = city.districts.len();
    let demand: Vec<f64> = (0..nd)
        .map(|d| blocks_of(city, d).map(|(_, b)| f64::from(b.demand[s])).sum())
        .collect();
    let all_demand: f64 = demand.iter().sum();

    // Zone demand per school (multi-school zones split evenly).
    let mut zone_demand = vec![0.0; city.schools.len()];
    for b in &city.blocks {
        let z = &b.zones[s];
        for &k in z {
            zone_demand[k as usize] += f64::from(b.demand[s]) / z.len() as f64;
        }
    }

    // Private-first rate: the city-wide share, concentrated on districts with a private school.
    let has_private: Vec<bool> = (0..nd)
        .map(|d| {
            city.schools
                .iter()
                .any(|x| x.stage == stage && x.district == d && x.sector == Sector::Private)
        })
        .collect();
    let covered: f64 = (0..nd).filter(|&d| has_private[d]).map(|d| demand[d]).sum();
    for d in 0..nd {
        let dc = &mut city.districts[d];
        dc.private_rate[s] = if has_private[d] && covered > 0.0 {
            (ctx.shape.private_first[s] * all_demand / covered).min(0.35)
        } else {
            0.0
        };
        let privates: Vec<u32> = city
            .schools
            .iter()
            .enumerate()
            .filter(|(_, x)| x.stage == stage && x.district == d && x.sector == Sector::Private)
            .map(|(i, _)| i as u32)
            .collect();
        let mut acc = 0.0;
        dc.private_cum[s] = privates
            .iter()
            .map(|&i| {
                acc += city.schools[i as usize].popularity;
                acc
            })
            .collect();
        dc.privates[s] = privates;
    }

    // Private schools.
    let privates: Vec<usize> = (0..city.schools.len())
        .filter(|&i| city.schools[i].stage == stage && city.schools[i].sector == Sector::Private)
        .collect();
    let mut buyers = privates.clone();
    rng.shuffle(&mut buyers);
    buyers.truncate((privates.len() as f64 * 0.4).ceil() as usize);
    let mean_public = {
        let zd: Vec<f64> = (0..city.schools.len())
            .filter(|&i| city.schools[i].stage == stage && city.schools[i].zonable())
            .map(|i| zone_demand[i])
            .collect();
        zd.iter().sum::<f64>() / zd.len().max(1) as f64
    };
    for &i in &privates {
        let d = city.schools[i].district;
        let dc = &city.districts[d];
        let expected = if ctx.shape.choice_k.is_some() {
            mean_public * rng.range(0.8, 1.2)
        } else {
            let share = city.schools[i].popularity / dc.private_cum[s].last().copied().unwrap_or(1.0);
            demand[d] * dc.private_rate[s] * share
        };
        let track = ((0.75 * expected / cs).round() as u32).max(1);
        let bought = if buyers.contains(&i) {
            ((f64::from(track) * rng.range(0.3, 0.6)).round() as u32).max(1)
        } else {
            0
        };
        let sc = &mut city.schools[i];
        sc.classes = track + bought;
        sc.purchased = (bought > 0).then(|| bought * stage.class_size());
    }

    // Open public schools, district by district.
    for d in 0..nd {
        let publics: Vec<usize> = (0..city.schools.len())
            .filter(|&i| {
                let x = &city.schools[i];
                x.stage == stage && x.district == d && x.zonable()
            })
            .collect();
        if publics.is_empty() {
            continue;
        }
        let purchased: f64 = privates
            .iter()
            .filter(|&&i| city.schools[i].district == d)
            .map(|&i| f64::from(city.schools[i].purchased.unwrap_or(0)))
            .sum();
        let needed = (ctx.shape.supply_ratio * demand[d]).ceil() - purchased;
        let floor_seats = demand[d] - purchased;
        let mut hot_seats = 0.0;
        let hot: Vec<usize> = publics.iter().copied().filter(|&i| city.schools[i].hot).collect();
        for &i in &hot {
            // Short of its zone by 20-40%, and by at least 15% after rounding to classes.
            let f = rng.range(0.6, 0.8);
            let mut classes = ((f * zone_demand[i] / cs).round() as u32).max(1);
            while classes > 1 && f64::from(classes) * cs > 0.85 * zone_demand[i] {
                classes -= 1;
            }
            city.schools[i].classes = classes;
            hot_seats += f64::from(classes) * cs;
        }
        let cold: Vec<usize> = publics.iter().copied().filter(|&i| !city.schools[i].hot).collect();
        let cold_demand: f64 = cold.iter().map(|&i| zone_demand[i]).sum();
        let g = if cold_demand > 0.0 {
            ((needed - hot_seats) / cold_demand).max(0.0)
        } else {
            0.0
        };
        for &i in &cold {
            city.schools[i].classes = ((g * zone_demand[i] / cs).round() as u32).max(1);
        }
        // Nudge whole classes until the district is as close to the target as possible,
        // never below its demand.
        let seats = |city: &City| -> f64 { publics.iter().map(|&i| f64::from(city.schools[i].capacity())).sum() };
        let pressure = |city: &City, i: usize| zone_demand[i] / f64::from(city.schools[i].capacity());
        let adjustable = if cold.is_empty() { &publics } else { &cold };
        while seats(city) < needed {
            let Some(&i) = adjustable
                .iter()
                .max_by(|&&a, &&b| pressure(city, a).total_cmp(&pressure(city, b)).then(b.cmp(&a)))
            else {
                break;
            };
            city.schools[i].classes += 1;
        }
        loop {
            let cur = seats(city);
            let after = cur - cs;
            if after < floor_seats || (after - needed).abs() >= (cur - needed).abs() {
                break;
            }
            let Some(&i) = adjustable
                .iter()
                .filter(|&&i| city.schools[i].classes > 1)
                .min_by(|&&a, &&b| pressure(city, a).total_cmp(&pressure(city, b)).then(a.cmp(&b)))
            else {
                break;
            };
            city.schools[i].classes -= 1;
        }
    }

    // Planned schools: the district's typical size.
    for i in 0..city.schools.len() {
        let x = &city.schools[i];
        if x.stage != stage || x.is_open() {
            continue;
        }
        let d = x.district;
        let sizes: Vec<u32> = city
            .schools
            .iter()
            .filter(|y| y.stage == stage && y.district == d && y.zonable())
            .map(|y| y.classes)
            .collect();
        let typical = sizes.iter().sum::<u32>() / (sizes.len() as u32).max(1);
        city.schools[i].classes = typical.max(2);
    }
}

/// Pairs each public primary school not yet paired by junior zoning (planned schools, or
/// districts with fewer primary than junior schools) with the public junior school most of
/// its zone is zoned to, or else the nearest one: 对口直升, many-to-one.
#[allow(clippy::needless_range_loop)] // votes are indexed like city.schools
fn link_feeders(city: &mut City) {
    let (p, j) = (Stage::Primary.index(), Stage::Junior.index());
    let mut votes: Vec<Vec<(u32, f64)>> = vec![Vec::new(); city.schools.len()];
    for b in &city.blocks {
        let (Some(&jr), w) = (b.zones[j].first(), f64::from(b.demand[j]) + 0.1) else {
            continue;
        };
        for &pr in &b.zones[p] {
            let v = &mut votes[pr as usize];
            match v.iter_mut().find(|(k, _)| *k == jr) {
                Some(e) => e.1 += w,
                None => v.push((jr, w)),
            }
        }
    }
    for i in 0..city.schools.len() {
        let x = &city.schools[i];
        if x.stage != Stage::Primary || x.sector != Sector::Public || x.feeder.is_some() {
            continue;
        }
        let best = votes[i]
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|e| e.0);
        let feeder = best.or_else(|| {
            city.schools
                .iter()
                .enumerate()
                .filter(|(_, y)| y.stage == Stage::Junior && y.district == x.district && y.zonable())
                .min_by(|a, b| x.pt.dist2(a.1.pt).total_cmp(&x.pt.dist2(b.1.pt)))
                .map(|(k, _)| k as u32)
        });
        city.schools[i].feeder = feeder;
    }
}

/// For blocks with junior applicants: the three nearest open public primary schools.
fn nearest_primaries(city: &mut City) {
    let j = Stage::Junior.index();
    let primaries: Vec<(usize, MicroPt, usize)> = city
        .schools
        .iter()
        .enumerate()
        .filter(|(_, x)| x.stage == Stage::Primary && x.zonable())
        .map(|(i, x)| (i, x.pt, x.district))
        .collect();
    for b in city.blocks.iter_mut().filter(|b| b.demand[j] > 0) {
        let mut near: Vec<(f64, usize)> = primaries
            .iter()
            .filter(|(_, _, d)| *d == b.district)
            .map(|&(i, pt, _)| (b.pt.dist2(pt), i))
            .collect();
        near.sort_by(|a, c| a.0.total_cmp(&c.0).then(a.1.cmp(&c.1)));
        b.near_primary = near.iter().take(3).map(|&(_, i)| i as u32).collect();
    }
}

/// Choice market: each block's candidate pool, the nearest `max(3k, 12)` open schools of the
/// district, weighted popularity × 1 / (1 + (d / 2 km)²).
fn choice_pools(city: &mut City, k: u32) {
    let p = Stage::Primary.index();
    let open: Vec<(usize, MicroPt, usize, f64)> = city
        .schools
        .iter()
        .enumerate()
        .filter(|(_, x)| x.stage == Stage::Primary && x.is_open())
        .map(|(i, x)| (i, x.pt, x.district, x.popularity))
        .collect();
    let m = (3 * k as usize).max(12);
    for b in city.blocks.iter_mut().filter(|b| b.demand[p] > 0) {
        let mut near: Vec<(f64, usize, f64)> = open
            .iter()
            .filter(|(_, _, d, _)| *d == b.district)
            .map(|&(i, pt, _, pop)| (b.pt.dist2(pt), i, pop))
            .collect();
        near.sort_by(|a, c| a.0.total_cmp(&c.0).then(a.1.cmp(&c.1)));
        near.truncate(m);
        let mut acc = 0.0;
        b.choice_cum = near
            .iter()
            .map(|&(d2, _, pop)| {
                acc += pop / (1.0 + d2 / (2_000.0 * 2_000.0));
                acc
            })
            .collect();
        b.choice_pool = near.iter().map(|&(_, i, _)| i as u32).collect();
    }
}

fn name_schools(city: &mut City, geo: &[District], rng: &mut Rand) {
    let mut private_used = HashSet::new();
    for stage in Stage::ALL {
        for d in 0..city.districts.len() {
            let g = &geo[city.districts[d].base];
            let (base, places) = (&g.name, g.profile.places);
            let mut idx: Vec<usize> = (0..city.schools.len())
                .filter(|&i| {
                    let x = &city.schools[i];
                    x.stage == stage && x.district == d && x.sector == Sector::Public
                })
                .collect();
            // Most popular open schools first; planned schools last.
            idx.sort_by(|&a, &b| {
                let (x, y) = (&city.schools[a], &city.schools[b]);
                x.opens_year
                    .is_some()
                    .cmp(&y.opens_year.is_some())
                    .then(y.popularity.total_cmp(&x.popularity))
                    .then(a.cmp(&b))
            });
            let mut used = HashSet::new();
            for (rank, &i) in idx.iter().enumerate() {
                // Hot schools (sorted first) and the district's best-liked school get the
                // prestigious names.
                let prestige = (rank == 0 || city.schools[i].hot).then_some(rank);
                city.schools[i].name =
                    names::public_school_name(rng, &mut used, base, places, stage, prestige, idx.len());
            }
        }
        for i in 0..city.schools.len() {
            if city.schools[i].stage == stage && city.schools[i].sector == Sector::Private {
                let places = geo[city.districts[city.schools[i].district].base].profile.places;
                city.schools[i].name = names::private_school_name(rng, &mut private_used, "无锡", places, stage);
            }
        }
    }
}
