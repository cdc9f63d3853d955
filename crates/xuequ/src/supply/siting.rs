//! Siting new schools: capacitated p-median and capacitated maximal covering.
//!
//! ## The problem
//! Blocks demand seats (the forecast's public-track demand in the design year, rounded to
//! whole children); existing public schools of the stage that are open that year always stay;
//! `p` candidate sites are to be opened. Given the open set, children are assigned *exactly*
//! by a capacitated transportation problem ([`super::transport`]): each block may use its
//! `nearest_schools` nearest existing schools and `nearest_sites` nearest candidate sites (of
//! its own district by default), and a child left without a seat costs `unmet_penalty_m`.
//! The objective is
//! - `median`: Σ children × metres + `unmet_penalty_m` × unseated;
//! - `coverage`: the same plus `uncovered_penalty_m` for each child seated beyond the service
//!   radius, so seating children within the radius comes first, then short trips.
//!
//! ## The heuristic ([`site`])
//! 1. **Greedy construction**: open one site at a time. Every closed site is priced with the
//!    current optimum's duals: a child of block *i* is worth `u_i − d_ik` at site *k*, where
//!    `u_i = min(penalty, min_j d_ij + λ_j)` and `λ_j` is the shadow price of a seat at school
//!    *j*; the site's screen value fills its capacity with the most valuable children
//!    (fractional knapsack). The best `screen` sites by that value are re-optimised exactly
//!    (in parallel), and the best exact one is opened.
//! 2. **Vertex substitution (Teitz–Bart interchange)**: every swap of a chosen site *j* for a
//!    closed site *k* is screened the same way (closing *j* costs each of its children the
//!    step to their next-best option; *k* then fills with the most valuable children), the
//!    best `screen` swaps are evaluated exactly in parallel, and the best strictly improving
//!    one is made. When none improves, the screen widens fourfold up to `screen_max`; the
//!    search stops when the widest screen finds no improvement or after `max_moves` swaps.
//!
//! **When no capacity can bind** (every facility can seat all the children of every block
//! that may use it: [`super::interchange::capacities_never_bind`]), the uncapacitated
//! assignment is exact for any open set, and [`site`] instead runs greedy + interchange with
//! nearest/second-nearest bookkeeping ([`super::interchange`]), which prices every swap without
//! solving a flow; one exact assignment of the final set certifies its objective.
//!
//! Every candidate solution is evaluated exactly, all arithmetic is in integers, parallel
//! evaluations are collected in order and ties go to the lower index, so the result does not
//! depend on the thread count. [`site_exact`] enumerates every subset (for tests and small
//! cases) and solves each with the project's network simplex ([`crate::flow`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rayon::prelude::*;
use serde::Serialize;

use super::SupplyError;
use super::forecast::Forecast;
use super::interchange;
use super::params::{Objective, SitingParams};
use super::sites::{CandidateSites, SiteDistances};
use super::transport::{Instance, Solution};
use crate::load::Dataset;
use crate::model::{Location, Sector, Stage};

/// What a facility of a siting problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FacilityKind {
    /// An existing (or already planned and open) public school.
    School,
    /// A candidate site.
    Site,
}

/// A facility: an existing school or a candidate site.
#[derive(Debug, Clone)]
pub struct Facility {
    /// School or site.
    pub kind: FacilityKind,
    /// Index into `schools.csv` or the candidate sites.
    pub index: u32,
    /// The id used in files.
    pub id: String,
    /// Display name.
    pub name: String,
    /// District index.
    pub district: u32,
    /// Where it is.
    pub location: Location,
    /// Entry-grade seats.
    pub capacity: u32,
}

/// A siting problem: demand, facilities and the allowed assignments.
#[derive(Debug, Clone)]
pub struct SitingProblem {
    /// The stage.
    pub stage: Stage,
    /// The design year.
    pub year: i32,
    /// The objective.
    pub objective: Objective,
    /// The service radius, metres.
    pub radius_m: u32,
    /// City block index of each problem block (blocks with demand), in `blocks.csv` order.
    pub blocks: Vec<u32>,
    /// Facilities: existing schools first (`0..existing`), then candidate sites.
    pub facilities: Vec<Facility>,
    /// Number of existing schools.
    pub existing: usize,
    /// The transportation instance (costs include the coverage penalty).
    pub instance: Instance,
    /// Metres of each arc of the instance.
    pub arc_metres: Vec<u32>,
    /// District names (for reports).
    pub district_names: Vec<String>,
    /// Block ids and names (for reports).
    pub block_ids: Vec<(String, String, u32)>,
}

/// Before/after figures of one assignment.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Metrics {
    /// The objective value (metres × children plus penalties).
    pub objective: i64,
    /// Children demanding a seat.
    pub children: u64,
    /// Children seated.
    pub seated: u64,
    /// Children without a seat.
    pub unmet: u64,
    /// Σ seated children × metres.
    pub total_distance_m: u64,
    /// `total_distance_m` ÷ seated.
    pub mean_distance_m: f64,
    /// Children seated within the service radius.
    pub within_radius: u64,
    /// `within_radius` ÷ children.
    pub within_radius_share: f64,
    /// Children whose block has an open school within the radius, full or not
    /// (uncapacitated coverage).
    pub reachable: u64,
    /// `reachable` ÷ children.
    pub reachable_share: f64,
}

/// The outcome of siting.
#[derive(Debug, Clone)]
pub struct SitingResult {
    /// Chosen candidate sites as facility indices minus [`SitingProblem::existing`], i.e.
    /// indices into the problem's candidate list, in the order they were placed (a swap keeps
    /// the slot).
    pub chosen: Vec<u32>,
    /// Figures with existing schools only.
    pub before: Metrics,
    /// Figures with the chosen sites open.
    pub after: Metrics,
    /// The assignment with existing schools only.
    pub before_solution: Solution,
    /// The assignment with the chosen sites open.
    pub after_solution: Solution,
    /// Objective after each greedy step, then after each accepted swap.
    pub trace: Vec<(String, i64)>,
    /// Interchange swaps accepted.
    pub moves: usize,
    /// Exact re-optimisations run.
    pub evaluations: usize,
    /// True for [`site_exact`].
    pub exact: bool,
    /// True when no capacity could bind and the sites were chosen by the fast interchange
    /// ([`super::interchange`]) with one exact assignment to certify them.
    pub uncapacitated: bool,
}

impl SitingProblem {
    /// Builds the siting problem of `stage` from a forecast (which must include the stage and
    /// the design year), candidate sites and optional site distances. Distances to schools come
    /// from the scenario's distance source ([`crate::spatial`]); to sites from
    /// `site_distances` when given, else from the same source (great-circle, or the road
    /// network; a `matrix` source does not know sites, so they are unreachable without
    /// `site_distances`). An unreachable pair is never an arc.
    pub fn build(
        data: &Dataset,
        forecast: &Forecast,
        stage: Stage,
        sites: &CandidateSites,
        site_distances: Option<&SiteDistances>,
        params: &SitingParams,
    ) -> Result<SitingProblem, SupplyError> {
        let spatial = &data.spatial;
        let site_rows: Vec<Vec<(u32, u32)>> = match site_distances {
            Some(_) => Vec::new(),
            None => spatial.from_places(&sites.sites.iter().map(|s| s.location).collect::<Vec<_>>()),
        };
        let distance = |f: &Facility, b: u32| match f.kind {
            FacilityKind::School => spatial.metres(f.index, b),
            FacilityKind::Site => match site_distances {
                Some(m) => m.get(f.index, b),
                None => site_rows.get(f.index as usize).and_then(|row| {
                    row.binary_search_by_key(&b, |x| x.0)
                        .ok()
                        .map(|i| crate::spatial::metres_of_mm(row[i].1))
                }),
            },
        };
        SitingProblem::build_with(data, forecast, stage, sites, &distance, params)
    }

    /// [`SitingProblem::build`] with any distance source: `distance(facility, block)` gives the
    /// travel metres from a block (city block index) to a school or site, or `None` when the
    /// pair is unreachable (never an arc; see [`crate::spatial`]).
    pub fn build_with(
        data: &Dataset,
        forecast: &Forecast,
        stage: Stage,
        sites: &CandidateSites,
        distance: &(dyn Fn(&Facility, u32) -> Option<u32> + Sync),
        params: &SitingParams,
    ) -> Result<SitingProblem, SupplyError> {
        let city = &data.city;
        let sf = forecast.stage(stage).ok_or_else(|| {
            SupplyError::request(format!(
                "the forecast does not include {stage}; forecast that stage first"
            ))
        })?;
        let year = match params.year {
            Some(y) => y,
            None => sf
                .years
                .iter()
                .max_by(|a, b| a.total.demand.total_cmp(&b.total.demand).then(b.year.cmp(&a.year)))
                .map(|y| y.year)
                .ok_or_else(|| SupplyError::request("the forecast has no years"))?,
        };
        let fy = sf.year(year).ok_or_else(|| {
            SupplyError::request(format!(
                "the design year {year} is outside the forecast {}–{} (fix: choose a year inside it, or forecast more years)",
                forecast.base_year,
                forecast.base_year + forecast.params.years as i32 - 1
            ))
        })?;
        let mut facilities: Vec<Facility> = Vec::new();
        for sy in &fy.schools {
            let sc = &city.schools[sy.school as usize];
            if sy.open && sy.capacity > 0 && sc.sector == Sector::Public {
                facilities.push(Facility {
                    kind: FacilityKind::School,
                    index: sy.school,
                    id: sc.id.clone(),
                    name: sc.name.clone(),
                    district: sc.district,
                    location: sc.location,
                    capacity: sy.capacity,
                });
            }
        }
        let existing = facilities.len();
        let default_capacity = params.default_capacity.get(stage);
        for (k, s) in sites.sites.iter().enumerate() {
            if s.stage.is_some_and(|st| st != stage) {
                continue;
            }
            facilities.push(Facility {
                kind: FacilityKind::Site,
                index: k as u32,
                id: s.id.clone(),
                name: s.name.clone(),
                district: s.district,
                location: s.location,
                capacity: s.capacity.unwrap_or(default_capacity),
            });
        }
        let blocks: Vec<u32> = (0..city.blocks.len() as u32)
            .filter(|&b| fy.blocks[b as usize].demand.round() >= 1.0)
            .collect();
        let demand: Vec<u32> = blocks
            .iter()
            .map(|&b| fy.blocks[b as usize].demand.round().min(u32::MAX as f64) as u32)
            .collect();
        let radius = params.service_radius_m.get(stage);
        let (uncovered, unmet) = match params.objective {
            Objective::Median => (0u32, params.unmet_penalty_m),
            Objective::Coverage => (
                params.uncovered_penalty_m,
                params.unmet_penalty_m.saturating_add(params.uncovered_penalty_m),
            ),
        };
        // Per block: the nearest existing schools and nearest sites (ties: lower index).
        let metres = |f: &Facility, b: u32| -> Option<u32> { distance(f, b) };
        // Per block: its arcs (facility, cost) and their metres.
        type Lists = (Vec<(u32, u32)>, Vec<u32>);
        let lists: Vec<Lists> = blocks
            .par_iter()
            .map(|&b| {
                let district = city.blocks[b as usize].district;
                let pick = |range: std::ops::Range<usize>, k: usize| -> Vec<(u32, u32)> {
                    let mut v: Vec<(u32, u32)> = range
                        .filter(|&f| !params.within_district || facilities[f].district == district)
                        .filter_map(|f| metres(&facilities[f], b).map(|d| (d, f as u32)))
                        .collect();
                    if v.len() > k {
                        v.select_nth_unstable(k);
                        v.truncate(k);
                    }
                    v.sort_unstable();
                    v
                };
                let mut near = pick(0..existing, params.nearest_schools);
                near.extend(pick(existing..facilities.len(), params.nearest_sites));
                let arcs: Vec<(u32, u32)> = near
                    .iter()
                    .map(|&(d, f)| (f, if d > radius { d.saturating_add(uncovered) } else { d }))
                    .collect();
                let dist: Vec<u32> = near.iter().map(|&(d, _)| d).collect();
                (arcs, dist)
            })
            .collect();
        let arc_lists: Vec<Vec<(u32, u32)>> = lists.iter().map(|(a, _)| a.clone()).collect();
        let arc_metres: Vec<u32> = lists.into_iter().flat_map(|(_, d)| d).collect();
        let capacity = facilities.iter().map(|f| f.capacity).collect();
        // Objectives are 64-bit integers: refuse inputs whose worst case could overflow.
        let worst_cost = arc_lists
            .iter()
            .flat_map(|l| l.iter().map(|&(_, c)| c))
            .fold(unmet, u32::max);
        let children: u128 = demand.iter().map(|&d| u128::from(d)).sum();
        if children * u128::from(worst_cost) > (i64::MAX / 4) as u128 {
            return Err(SupplyError::request(format!(
                "{children} children × {worst_cost} m is too large for exact integer costs (fix: check households and planned_households in blocks.csv)"
            )));
        }
        let instance = Instance::new(demand, &arc_lists, capacity, unmet);
        let block_ids = blocks
            .iter()
            .map(|&b| {
                let bl = &city.blocks[b as usize];
                (bl.id.clone(), bl.name.clone(), bl.district)
            })
            .collect();
        Ok(SitingProblem {
            stage,
            year,
            objective: params.objective,
            radius_m: radius,
            blocks,
            facilities,
            existing,
            instance,
            arc_metres,
            district_names: city.districts.clone(),
            block_ids,
        })
    }

    /// Number of candidate sites.
    pub fn candidates(&self) -> usize {
        self.facilities.len() - self.existing
    }

    /// The id of candidate `k` (an index of [`SitingResult::chosen`]).
    pub fn site_id(&self, k: u32) -> &str {
        &self.facilities[self.existing + k as usize].id
    }

    /// The open set with only existing schools.
    fn base_open(&self) -> Vec<bool> {
        (0..self.facilities.len()).map(|f| f < self.existing).collect()
    }

    /// Figures of an assignment.
    pub fn metrics(&self, sol: &Solution) -> Metrics {
        let inst = &self.instance;
        let mut m = Metrics {
            objective: sol.cost(),
            ..Metrics::default()
        };
        for i in 0..inst.blocks() as u32 {
            let w = u64::from(inst.supply(i));
            m.children += w;
            m.unmet += u64::from(sol.unmet(i));
            let mut reach = false;
            for a in inst.arcs(i) {
                let f = u64::from(sol.flow(a));
                let d = self.arc_metres[a];
                m.total_distance_m += f * u64::from(d);
                m.seated += f;
                if d <= self.radius_m {
                    m.within_radius += f;
                    reach |= sol.is_open(inst.arc_facility(a));
                }
            }
            if reach {
                m.reachable += w;
            }
        }
        let share = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        m.mean_distance_m = share(m.total_distance_m, m.seated);
        m.within_radius_share = share(m.within_radius, m.children);
        m.reachable_share = share(m.reachable, m.children);
        m
    }

    /// A block's main facility (the one seating most of its children; ties: nearer, then lower
    /// index) and its metres, if any child is seated.
    pub fn assigned(&self, sol: &Solution, block: u32) -> Option<(u32, u32)> {
        let inst = &self.instance;
        inst.arcs(block)
            .filter(|&a| sol.flow(a) > 0)
            .max_by(|&a, &b| {
                sol.flow(a)
                    .cmp(&sol.flow(b))
                    .then(self.arc_metres[b].cmp(&self.arc_metres[a]))
                    .then(inst.arc_facility(b).cmp(&inst.arc_facility(a)))
            })
            .map(|a| (inst.arc_facility(a), self.arc_metres[a]))
    }

    /// A block's nearest open facility among those it may use, and its metres.
    pub fn nearest_open(&self, sol: &Solution, block: u32) -> Option<(u32, u32)> {
        let inst = &self.instance;
        inst.arcs(block)
            .filter(|&a| sol.is_open(inst.arc_facility(a)))
            .min_by_key(|&a| (self.arc_metres[a], inst.arc_facility(a)))
            .map(|a| (inst.arc_facility(a), self.arc_metres[a]))
    }
}

/// Dual prices of an optimal assignment: the shadow price `λ_j` of a seat at each open
/// facility and each block's marginal cost `u_i = min(unmet, min_j c_ij + λ_j)`. By LP
/// duality `Σ w_i u_i − Σ λ_j cap_j` equals the optimum, which makes the screens below bounds.
struct Prices {
    marginal: Vec<i64>,
    lambda: Vec<i64>,
}

impl Prices {
    fn new(inst: &Instance, sol: &Solution) -> Prices {
        let lambda: Vec<i64> = (0..inst.facilities() as u32)
            .map(|j| if sol.is_open(j) { sol.price(inst, j) } else { 0 })
            .collect();
        let marginal = (0..inst.blocks() as u32)
            .map(|i| {
                let mut u = i64::from(inst.unmet_cost());
                for a in inst.arcs(i) {
                    let j = inst.arc_facility(a);
                    if sol.is_open(j) {
                        u = u.min(i64::from(inst.arc_cost(a)) + lambda[j as usize]);
                    }
                }
                u
            })
            .collect();
        Prices { marginal, lambda }
    }
}

/// The fractional knapsack bound of opening facility `k`: fill its seats with the children of
/// greatest worth, a child of block `i` being worth `value_i − c_ik` (`values(i)` gives the
/// block's `(value, children)` groups). With the current duals as values this is an upper
/// bound on the exact saving of opening `k` (it is the dual bound minimised over `λ_k`).
fn fill_value(
    inst: &Instance,
    k: u32,
    values: impl Fn(u32, &mut Vec<(i64, u32, u32)>),
    buf: &mut Vec<(i64, u32, u32)>,
) -> i64 {
    buf.clear();
    for &a in inst.arcs_into(k) {
        let a = a as usize;
        let i = inst.arc_block(a);
        let start = buf.len();
        values(i, buf);
        let c = i64::from(inst.arc_cost(a));
        for it in &mut buf[start..] {
            it.0 -= c;
        }
    }
    buf.retain(|it| it.0 > 0 && it.1 > 0);
    buf.sort_unstable_by(|x, y| y.0.cmp(&x.0).then(x.2.cmp(&y.2)));
    let mut room = i64::from(inst.capacity(k));
    let mut value = 0i64;
    for &(v, count, _) in buf.iter() {
        if room <= 0 {
            break;
        }
        let take = room.min(i64::from(count));
        value += take * v;
        room -= take;
    }
    value
}

/// What closing facility `j` does to the duals: the blocks whose marginal cost rises (their
/// best option was `j`) with the new marginal, and the resulting lower bound on the cost of
/// closing `j` alone: `Σ w_i (u_i' − u_i) + λ_j cap_j`.
struct CloseBound {
    /// (block, marginal without j), by block.
    raised: Vec<(u32, i64)>,
    bound: i64,
}

fn close_bound(inst: &Instance, sol: &Solution, prices: &Prices, j: u32) -> CloseBound {
    let mut raised = Vec::new();
    let mut bound = prices.lambda[j as usize] * i64::from(inst.capacity(j));
    for &a in inst.arcs_into(j) {
        let i = inst.arc_block(a as usize);
        let mut alt = i64::from(inst.unmet_cost());
        for b in inst.arcs(i) {
            let o = inst.arc_facility(b);
            if o != j && sol.is_open(o) {
                alt = alt.min(i64::from(inst.arc_cost(b)) + prices.lambda[o as usize]);
            }
        }
        let u = prices.marginal[i as usize];
        if alt > u {
            raised.push((i, alt));
            bound += i64::from(inst.supply(i)) * (alt - u);
        }
    }
    raised.sort_unstable();
    raised.dedup_by_key(|r| r.0);
    CloseBound { raised, bound }
}

/// A lower bound on the cost change of swapping chosen `j` (described by `cb`) for closed `k`:
/// the dual bound of the new open set with the current duals and the best price for `k`.
fn swap_bound(inst: &Instance, prices: &Prices, cb: &CloseBound, k: u32, buf: &mut Vec<(i64, u32, u32)>) -> i64 {
    let gain = fill_value(
        inst,
        k,
        |i, out| {
            let u = match cb.raised.binary_search_by_key(&i, |r| r.0) {
                Ok(pos) => cb.raised[pos].1,
                Err(_) => prices.marginal[i as usize],
            };
            out.push((u, inst.supply(i), i));
        },
        buf,
    );
    cb.bound - gain
}

/// The exact-evaluation engine: connected components of the assignment graph evolve
/// independently, so exact results are cached per component and stay valid until a facility
/// of that component opens or closes.
#[derive(Clone)]
struct Engine<'a> {
    inst: &'a Instance,
    /// Component of each facility.
    comp: Vec<u32>,
    /// Changes made to each component.
    version: Vec<u64>,
    /// Per facility: exact saving of opening it alone (version of its component, saving).
    open_gain: Vec<Option<(u64, i64)>>,
    /// Per facility: exact cost of closing it alone.
    close_loss: Vec<Option<(u64, i64)>>,
    /// Exact cost change of swapping (j, k) inside one component.
    pair: std::collections::HashMap<(u32, u32), (u64, i64)>,
    evaluations: usize,
}

impl<'a> Engine<'a> {
    fn new(inst: &'a Instance) -> Self {
        let n = inst.blocks();
        let m = inst.facilities();
        // Union–find over blocks and facilities, joined by arcs.
        let mut parent: Vec<u32> = (0..(n + m) as u32).collect();
        fn find(parent: &mut [u32], mut x: u32) -> u32 {
            while parent[x as usize] != x {
                parent[x as usize] = parent[parent[x as usize] as usize];
                x = parent[x as usize];
            }
            x
        }
        for i in 0..n as u32 {
            for a in inst.arcs(i) {
                let (x, y) = (
                    find(&mut parent, i),
                    find(&mut parent, (n as u32) + inst.arc_facility(a)),
                );
                if x != y {
                    parent[x.max(y) as usize] = x.min(y);
                }
            }
        }
        let mut dense = std::collections::HashMap::new();
        let comp: Vec<u32> = (0..m as u32)
            .map(|f| {
                let r = find(&mut parent, n as u32 + f);
                let next = dense.len() as u32;
                *dense.entry(r).or_insert(next)
            })
            .collect();
        Engine {
            inst,
            version: vec![0; dense.len()],
            comp,
            open_gain: vec![None; m],
            close_loss: vec![None; m],
            pair: std::collections::HashMap::new(),
            evaluations: 0,
        }
    }

    fn version_of(&self, f: u32) -> u64 {
        self.version[self.comp[f as usize] as usize]
    }

    fn same(&self, a: u32, b: u32) -> bool {
        self.comp[a as usize] == self.comp[b as usize]
    }

    fn cached_gain(&self, k: u32) -> Option<i64> {
        self.open_gain[k as usize].and_then(|(v, g)| (v == self.version_of(k)).then_some(g))
    }

    fn cached_loss(&self, j: u32) -> Option<i64> {
        self.close_loss[j as usize].and_then(|(v, g)| (v == self.version_of(j)).then_some(g))
    }

    fn cached_pair(&self, j: u32, k: u32) -> Option<i64> {
        self.pair
            .get(&(j, k))
            .and_then(|&(v, d)| (v == self.version_of(j)).then_some(d))
    }

    /// Exact cost change of each swap `(j, k)` from `sol` (`j` = None: open `k` only;
    /// `k` = None: close `j` only), in parallel, cached.
    fn evaluate(&mut self, sol: &Solution, moves: &[(Option<u32>, Option<u32>)]) {
        let inst = self.inst;
        let base = sol.cost();
        let results: Vec<i64> = moves
            .par_iter()
            .map(|&(j, k)| {
                let mut s = sol.clone();
                if let Some(j) = j {
                    s.close(inst, j);
                }
                if let Some(k) = k {
                    s.open(inst, k);
                }
                s.cost() - base
            })
            .collect();
        self.evaluations += moves.len();
        for (&(j, k), d) in moves.iter().zip(results) {
            match (j, k) {
                (None, Some(k)) => self.open_gain[k as usize] = Some((self.version_of(k), -d)),
                (Some(j), None) => self.close_loss[j as usize] = Some((self.version_of(j), d)),
                (Some(j), Some(k)) => {
                    self.pair.insert((j, k), (self.version_of(j), d));
                }
                (None, None) => {}
            }
        }
    }

    /// Records that facility `f` opened or closed.
    fn changed(&mut self, f: u32) {
        let c = self.comp[f as usize] as usize;
        self.version[c] += 1;
    }
}

/// Progress of [`site_with_progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SitingProgress {
    /// Greedy construction: `placed` of `of` sites open, at this objective.
    Greedy {
        /// Sites opened so far.
        placed: usize,
        /// Sites to open.
        of: usize,
        /// The objective now.
        objective: i64,
    },
    /// Interchange: swaps made so far, at this objective.
    Swaps {
        /// Swaps accepted so far.
        moves: usize,
        /// The objective now.
        objective: i64,
    },
}

impl std::fmt::Display for SitingProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SitingProgress::Greedy { placed, of, objective } => {
                write!(f, "greedy: {placed}/{of} sites, objective {objective}")
            }
            SitingProgress::Swaps { moves, objective } => {
                write!(f, "interchange: {moves} swaps, objective {objective}")
            }
        }
    }
}

/// Chooses `p` sites (see the module docs). Deterministic at any thread count.
pub fn site(problem: &SitingProblem, p: usize, params: &SitingParams) -> Result<SitingResult, SupplyError> {
    site_with_progress(problem, p, params, &|_| {})
}

/// The best improving swap found by a lazy search ordered by bounds: entries are popped in
/// order of their value (an exact cost change, or a lower bound on it); a bound is replaced
/// by the exact change (evaluated in batches of `batch`) and pushed back; the first exact
/// entry popped is the best swap of the whole neighbourhood. Returns the best exact swaps
/// seen (best first; stopping at the first improving one, else at `keep`), the first being
/// the neighbourhood's best unless the search was cut short by `limit` evaluations.
#[allow(clippy::too_many_arguments)]
fn best_swaps(
    engine: &mut Engine<'_>,
    sol: &Solution,
    chosen: &[u32],
    closed: &[u32],
    batch: usize,
    limit: usize,
    keep: usize,
) -> Vec<(i64, u32, u32)> {
    let inst = engine.inst;
    let prices = Prices::new(inst, sol);
    // Exact cost of closing each chosen site alone (cached per component).
    let need: Vec<(Option<u32>, Option<u32>)> = chosen
        .iter()
        .filter(|&&j| engine.cached_loss(j).is_none())
        .map(|&j| (Some(j), None))
        .collect();
    engine.evaluate(sol, &need);
    let loss: Vec<i64> = chosen.iter().map(|&j| engine.cached_loss(j).unwrap_or(0)).collect();
    let bounds: Vec<CloseBound> = chosen.par_iter().map(|&j| close_bound(inst, sol, &prices, j)).collect();
    // Upper bounds on the saving of opening each closed site alone.
    let ub: Vec<i64> = closed
        .par_iter()
        .map_init(Vec::new, |buf, &k| {
            fill_value(
                inst,
                k,
                |i, out| out.push((prices.marginal[i as usize], inst.supply(i), i)),
                buf,
            )
        })
        .collect();
    // Value of each pair: exact where cached, else a lower bound. Key: (value, bound?, slot, k).
    let value = |engine: &Engine<'_>, slot: usize, ki: usize, buf: &mut Vec<(i64, u32, u32)>| -> (i64, bool) {
        let (j, k) = (chosen[slot], closed[ki]);
        if engine.same(j, k) {
            match engine.cached_pair(j, k) {
                Some(d) => (d, false),
                None => (swap_bound(inst, &prices, &bounds[slot], k, buf), true),
            }
        } else {
            match engine.cached_gain(k) {
                Some(g) => (loss[slot] - g, false),
                None => (loss[slot] - ub[ki], true),
            }
        }
    };
    let entries: Vec<(i64, bool, u32, u32)> = (0..closed.len())
        .into_par_iter()
        .map_init(Vec::new, |buf, ki| {
            (0..chosen.len())
                .map(|slot| {
                    let (v, b) = value(engine, slot, ki, buf);
                    (v, b, slot as u32, ki as u32)
                })
                .collect::<Vec<_>>()
        })
        .flatten()
        .collect();
    let mut heap: BinaryHeap<Reverse<(i64, bool, u32, u32)>> = entries.into_iter().map(Reverse).collect();
    let mut found: Vec<(i64, u32, u32)> = Vec::new();
    let mut spent = 0usize;
    let mut buf = Vec::new();
    while let Some(Reverse((v, is_bound, slot, ki))) = heap.pop() {
        if !is_bound {
            found.push((v, slot, ki));
            // The first exact entry is the best swap; an improving one is all the caller
            // needs, otherwise collect the next best for the double-swap step.
            if found.len() >= keep || v < 0 {
                break;
            }
            continue;
        }
        // Refresh from the cache (another entry's evaluation may have settled it).
        let (nv, nb) = value(engine, slot as usize, ki as usize, &mut buf);
        if !nb {
            heap.push(Reverse((nv, false, slot, ki)));
            continue;
        }
        if spent >= limit {
            continue; // out of budget: unevaluated pairs are dropped
        }
        // Evaluate a batch: this pair and the next bound entries.
        let mut group = vec![(slot, ki)];
        let mut held = Vec::new();
        while group.len() < batch {
            let Some(Reverse(e)) = heap.pop() else { break };
            if e.1 {
                group.push((e.2, e.3));
            } else {
                held.push(e);
            }
        }
        for e in held {
            heap.push(Reverse(e));
        }
        let mut moves: Vec<(Option<u32>, Option<u32>)> = Vec::new();
        for &(s, k) in &group {
            let (j, k) = (chosen[s as usize], closed[k as usize]);
            let m = if engine.same(j, k) {
                (Some(j), Some(k))
            } else {
                (None, Some(k))
            };
            if !moves.contains(&m) {
                moves.push(m);
            }
        }
        spent += moves.len();
        engine.evaluate(sol, &moves);
        for (s, k) in group {
            let (nv, nb) = value(engine, s as usize, k as usize, &mut buf);
            heap.push(Reverse((nv, nb, s, k)));
        }
    }
    found
}

/// [`site`], reporting progress to a callback (called from the calling thread).
pub fn site_with_progress(
    problem: &SitingProblem,
    p: usize,
    params: &SitingParams,
    progress: &dyn Fn(SitingProgress),
) -> Result<SitingResult, SupplyError> {
    let inst = &problem.instance;
    let e = problem.existing;
    let c = problem.candidates();
    if p > c {
        return Err(SupplyError::request(format!(
            "{p} new schools were asked for but only {c} candidate sites serve {} (fix: add sites or ask for fewer)",
            problem.stage
        )));
    }
    let base = Solution::solve(inst, problem.base_open());
    let before = problem.metrics(&base);
    if interchange::capacities_never_bind(inst)
        && let Some(result) = site_uncapacitated(problem, p, params, progress, &base, before)
    {
        return Ok(result);
    }
    let mut current = base.clone();
    let mut engine = Engine::new(inst);
    let mut chosen: Vec<u32> = Vec::with_capacity(p);
    let mut trace = vec![("existing schools".to_string(), current.cost())];
    let batch = params.screen.max(1);
    let limit = params.screen_max.max(batch);
    let id = |f: u32| problem.facilities[f as usize].id.clone();

    // 1. Greedy construction: the site with the largest exact saving among those evaluated —
    //    sites are taken in order of their upper bound (or cached exact saving) and one batch
    //    of `screen` is evaluated; when the best exact saving is at least every remaining
    //    bound, it is the exact greedy choice.
    for step in 0..p {
        let prices = Prices::new(inst, &current);
        let closed: Vec<u32> = (e..e + c).map(|f| f as u32).filter(|&f| !current.is_open(f)).collect();
        let mut heap: BinaryHeap<(i64, bool, Reverse<u32>)> = closed
            .par_iter()
            .map_init(Vec::new, |buf, &k| match engine.cached_gain(k) {
                Some(g) => (g, true, Reverse(k)),
                None => (
                    fill_value(
                        inst,
                        k,
                        |i, out| out.push((prices.marginal[i as usize], inst.supply(i), i)),
                        buf,
                    ),
                    false,
                    Reverse(k),
                ),
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect();
        let mut spent = 0usize;
        let mut pick = None;
        while let Some((g, exact, Reverse(k))) = heap.pop() {
            if exact {
                pick = Some((g, k));
                break;
            }
            if spent >= batch {
                continue;
            }
            let mut group = vec![k];
            let mut held = Vec::new();
            while group.len() < batch {
                let Some(x) = heap.pop() else { break };
                if x.1 { held.push(x) } else { group.push(x.2.0) }
            }
            heap.extend(held);
            let moves: Vec<(Option<u32>, Option<u32>)> = group.iter().map(|&k| (None, Some(k))).collect();
            spent += moves.len();
            engine.evaluate(&current, &moves);
            for k in group {
                if let Some(g) = engine.cached_gain(k) {
                    heap.push((g, true, Reverse(k)));
                }
            }
        }
        let Some((_, k)) = pick else { break };
        current.open(inst, k);
        engine.changed(k);
        chosen.push(k);
        trace.push((format!("greedy {}: open {}", step + 1, id(k)), current.cost()));
        progress(SitingProgress::Greedy {
            placed: step + 1,
            of: p,
            objective: current.cost(),
        });
    }

    // 2. Vertex substitution (Teitz–Bart), best improvement over the whole neighbourhood via
    //    the lazy bound search; when no single swap improves, a double swap is tried from the
    //    best few single swaps.
    let mut moves = 0usize;
    while moves < params.max_moves && !chosen.is_empty() && chosen.len() < c {
        let closed: Vec<u32> = (e..e + c).map(|f| f as u32).filter(|&f| !current.is_open(f)).collect();
        let best = best_swaps(&mut engine, &current, &chosen, &closed, batch, limit, batch);
        if let Some(&(d, slot, ki)) = best.first()
            && d < 0
        {
            let (j, k) = (chosen[slot as usize], closed[ki as usize]);
            current.close(inst, j);
            current.open(inst, k);
            engine.changed(j);
            engine.changed(k);
            chosen[slot as usize] = k;
            moves += 1;
            trace.push((format!("swap {} -> {}", id(j), id(k)), current.cost()));
            progress(SitingProgress::Swaps {
                moves,
                objective: current.cost(),
            });
            continue;
        }
        if moves + 2 > params.max_moves {
            break;
        }
        // Double swap: from each of the best single swaps, the best second swap (not undoing
        // the first), by the same lazy search on the intermediate solution.
        let mut best2: Option<(i64, usize, u32, u32, u32, u32)> = None;
        for (rank, &(_, slot1, ki1)) in best.iter().enumerate() {
            let (j1, k1) = (chosen[slot1 as usize], closed[ki1 as usize]);
            let mut first = current.clone();
            first.close(inst, j1);
            first.open(inst, k1);
            let mut chosen1 = chosen.clone();
            chosen1[slot1 as usize] = k1;
            let closed1: Vec<u32> = closed.iter().map(|&f| if f == k1 { j1 } else { f }).collect();
            // Cached results of the components the first swap leaves alone stay valid.
            let mut sub = engine.clone();
            sub.changed(j1);
            sub.changed(k1);
            let second = best_swaps(&mut sub, &first, &chosen1, &closed1, batch, batch, 2);
            engine.evaluations = sub.evaluations + 1;
            for (d2, slot2, ki2) in second {
                let k2 = closed1[ki2 as usize];
                if slot2 == slot1 && k2 == j1 {
                    continue;
                }
                let total = first.cost() - current.cost() + d2;
                let key = (total, rank, slot1, k1, slot2, k2);
                if best2.is_none_or(|b| (key.0, key.1, key.4, key.5) < (b.0, b.1, b.4, b.5)) {
                    best2 = Some(key);
                }
                break;
            }
        }
        match best2 {
            Some((total, _, slot1, k1, slot2, k2)) if total < 0 => {
                let j1 = chosen[slot1 as usize];
                current.close(inst, j1);
                current.open(inst, k1);
                chosen[slot1 as usize] = k1;
                let j2 = chosen[slot2 as usize];
                current.close(inst, j2);
                current.open(inst, k2);
                chosen[slot2 as usize] = k2;
                for f in [j1, k1, j2, k2] {
                    engine.changed(f);
                }
                moves += 2;
                trace.push((
                    format!("double swap {} -> {}, {} -> {}", id(j1), id(k1), id(j2), id(k2)),
                    current.cost(),
                ));
                progress(SitingProgress::Swaps {
                    moves,
                    objective: current.cost(),
                });
            }
            _ => break,
        }
    }
    let after = problem.metrics(&current);
    Ok(SitingResult {
        chosen: chosen.iter().map(|&f| f - e as u32).collect(),
        before,
        after,
        before_solution: base,
        after_solution: current,
        trace,
        moves,
        evaluations: engine.evaluations,
        exact: false,
        uncapacitated: false,
    })
}

/// Siting when no capacity can bind ([`interchange::capacities_never_bind`]): greedy +
/// interchange with nearest/second-nearest bookkeeping, then one exact assignment of the
/// final open set to certify it. `None` if the certificate disagrees (never expected; the
/// caller then runs the capacitated search).
fn site_uncapacitated(
    problem: &SitingProblem,
    p: usize,
    params: &SitingParams,
    progress: &dyn Fn(SitingProgress),
    base: &Solution,
    before: Metrics,
) -> Option<SitingResult> {
    let inst = &problem.instance;
    let e = problem.existing;
    let id = |f: u32| problem.facilities[f as usize].id.clone();
    let mut placed = 0usize;
    let mut swaps = 0usize;
    let found = interchange::greedy_interchange(
        inst,
        e,
        p,
        params.max_moves,
        params.screen.max(1),
        &mut |mv| match *mv {
            interchange::Move::Open { objective, .. } => {
                placed += 1;
                progress(SitingProgress::Greedy {
                    placed,
                    of: p,
                    objective,
                });
            }
            interchange::Move::Swap { objective, .. } | interchange::Move::DoubleSwap { objective, .. } => {
                swaps += 1;
                progress(SitingProgress::Swaps {
                    moves: swaps,
                    objective,
                });
            }
        },
    );
    let mut open = problem.base_open();
    for &k in &found.chosen {
        open[k as usize] = true;
    }
    let after_solution = Solution::solve(inst, open);
    if !after_solution.is_ok() || after_solution.cost() != found.objective {
        return None;
    }
    let mut trace = vec![("existing schools".to_string(), base.cost())];
    let mut step = 0usize;
    for mv in &found.trace {
        trace.push(match *mv {
            interchange::Move::Open { site, objective } => {
                step += 1;
                (format!("greedy {step}: open {}", id(site)), objective)
            }
            interchange::Move::Swap { out, into, objective } => {
                (format!("swap {} -> {}", id(out), id(into)), objective)
            }
            interchange::Move::DoubleSwap {
                first,
                second,
                objective,
            } => (
                format!(
                    "double swap {} -> {}, {} -> {}",
                    id(first.0),
                    id(first.1),
                    id(second.0),
                    id(second.1)
                ),
                objective,
            ),
        });
    }
    Some(SitingResult {
        chosen: found.chosen.iter().map(|&f| f - e as u32).collect(),
        before,
        after: problem.metrics(&after_solution),
        before_solution: base.clone(),
        after_solution,
        trace,
        moves: found.moves,
        // The certificate is the only exact assignment beyond the base.
        evaluations: 1,
        exact: false,
        uncapacitated: true,
    })
}

/// The number of `p`-subsets of `n`, saturating.
fn binomial(n: u64, p: u64) -> u64 {
    if p > n {
        return 0;
    }
    let p = p.min(n - p);
    let mut r: u128 = 1;
    for i in 0..p {
        r = r * u128::from(n - i) / u128::from(i + 1);
        if r > u128::from(u64::MAX) {
            return u64::MAX;
        }
    }
    r as u64
}

/// The exact optimum cost of an open set, from scratch, with the network simplex.
pub(crate) fn simplex_cost(inst: &Instance, open: &[bool]) -> Option<i64> {
    use crate::flow::{INFINITE, Network, NetworkSimplex};
    let n = inst.blocks();
    let m = inst.facilities();
    let t = (n + m) as u32;
    let mut net = Network::new(n + m + 1);
    let mut total = 0i64;
    for i in 0..n as u32 {
        let w = i64::from(inst.supply(i));
        net.set_supply(i, w);
        total += w;
        net.add_arc(i, t, INFINITE, i64::from(inst.unmet_cost()));
        for a in inst.arcs(i) {
            let j = inst.arc_facility(a);
            if open[j as usize] {
                net.add_arc(i, n as u32 + j, INFINITE, i64::from(inst.arc_cost(a)));
            }
        }
    }
    for j in 0..m as u32 {
        if open[j as usize] {
            net.add_arc(n as u32 + j, t, i64::from(inst.capacity(j)), 0);
        }
    }
    net.set_supply(t, -total);
    let mut solver = NetworkSimplex::new(&net).ok()?;
    solver.solve().ok()?;
    i64::try_from(solver.total_cost()).ok()
}

/// The exact optimum by enumerating every `p`-subset of the candidate sites (lexicographic
/// order; ties go to the first subset). Each subset is solved from scratch with the network
/// simplex, in parallel. Refuses problems with more than `params.exact_limit` subsets.
pub fn site_exact(problem: &SitingProblem, p: usize, params: &SitingParams) -> Result<SitingResult, SupplyError> {
    let inst = &problem.instance;
    let e = problem.existing;
    let c = problem.candidates();
    if p > c {
        return Err(SupplyError::request(format!(
            "{p} new schools were asked for but only {c} candidate sites serve {}",
            problem.stage
        )));
    }
    let count = binomial(c as u64, p as u64);
    if count > params.exact_limit {
        return Err(SupplyError::request(format!(
            "the exact search would try {count} subsets, more than exact_limit = {} (fix: use the heuristic, or fewer sites)",
            params.exact_limit
        )));
    }
    let mut subsets: Vec<Vec<u32>> = Vec::with_capacity(count as usize);
    let mut cur: Vec<u32> = (0..p as u32).collect();
    loop {
        subsets.push(cur.clone());
        // Next combination in lexicographic order.
        let mut i = p;
        while i > 0 && cur[i - 1] == (c - p + i - 1) as u32 {
            i -= 1;
        }
        if i == 0 {
            break;
        }
        cur[i - 1] += 1;
        for j in i..p {
            cur[j] = cur[j - 1] + 1;
        }
    }
    let costs: Vec<Option<i64>> = subsets
        .par_iter()
        .map(|s| {
            let mut open = problem.base_open();
            for &k in s {
                open[e + k as usize] = true;
            }
            simplex_cost(inst, &open)
        })
        .collect();
    let mut best: Option<(i64, usize)> = None;
    for (i, cost) in costs.iter().enumerate() {
        let Some(cost) = *cost else {
            return Err(SupplyError::request("the network simplex failed on a subset"));
        };
        if best.is_none_or(|(b, _)| cost < b) {
            best = Some((cost, i));
        }
    }
    let (_, bi) = best.ok_or_else(|| SupplyError::request("no subset to evaluate"))?;
    let base = Solution::solve(inst, problem.base_open());
    let mut open = problem.base_open();
    for &k in &subsets[bi] {
        open[e + k as usize] = true;
    }
    let after_solution = Solution::solve(inst, open);
    let before = problem.metrics(&base);
    let after = problem.metrics(&after_solution);
    Ok(SitingResult {
        chosen: subsets[bi].clone(),
        before,
        after,
        trace: vec![
            ("existing schools".to_string(), base.cost()),
            ("exact".to_string(), after_solution.cost()),
        ],
        before_solution: base,
        after_solution,
        moves: 0,
        evaluations: subsets.len(),
        exact: true,
        uncapacitated: false,
    })
}
