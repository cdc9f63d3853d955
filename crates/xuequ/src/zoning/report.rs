//! The zoning report: per school and overall, against the current zones and the bound.

use serde::Serialize;

use super::adjacency::Adjacency;
use super::bound::FlowBound;
use super::multischool::SchoolGroup;
use super::polygons::ZonePolygons;
use super::repair::{CostModel, RepairStats, zone_pieces};
use super::{UNASSIGNED, ZoningParams, ZoningProblem};

/// One school's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolReport {
    /// School id.
    pub school_id: String,
    /// Name.
    pub name: String,
    /// District.
    pub district: String,
    /// Entry-grade seats.
    pub capacity: u32,
    /// Seats the band allows (capacity × high edge).
    pub limit: i64,
    /// Children zoned to the school.
    pub demand: u64,
    /// demand / capacity.
    pub utilisation: f64,
    /// Blocks in the zone.
    pub blocks: u32,
    /// Blocks that were in another school's zone (or none) before.
    pub blocks_moved_in: u32,
    /// Children in those blocks.
    pub children_moved_in: u64,
    /// Blocks of the current zone that leave it.
    pub blocks_moved_out: u32,
    /// Children in those blocks.
    pub children_moved_out: u64,
    /// Mean home-to-school distance per child, metres.
    pub mean_distance_m: f64,
    /// Longest home-to-school distance of a block with children, metres.
    pub max_distance_m: u32,
    /// The zone is connected in the adjacency graph and drawn in one part.
    pub contiguous: bool,
    /// Connected pieces in the adjacency graph (the drawn parts are the polygon's parts).
    pub pieces: u32,
    /// Why a zone is not contiguous: `island` (a piece is an island of the adjacency graph),
    /// `locked` (locked blocks), `no_neighbour` (no allowed neighbouring zone), `cells_apart`
    /// (connected in the graph, but the blocks' cells, cut at `cell_radius_m`, do not touch, so
    /// the polygon is in parts), or empty.
    pub why_not_contiguous: String,
    /// Polsby–Popper compactness of the zone polygon (0..1; 0 without polygons).
    pub compactness: f64,
    /// Seat price from the flow bound, metres per seat.
    pub seat_price_m: i64,
    /// Children above the limit.
    pub over_limit: i64,
    /// Seats empty below the band's low edge.
    pub below_floor: i64,
}

/// The overall figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverallReport {
    /// Stage.
    pub stage: String,
    /// λ used, metres per child.
    pub lambda_m: u32,
    /// Blocks.
    pub blocks: usize,
    /// Blocks with no allowed school (no zone).
    pub unassigned_blocks: usize,
    /// Schools taking part.
    pub schools: usize,
    /// Children.
    pub children: u64,
    /// Seats.
    pub capacity: u64,
    /// Objective of the zoning, children × metres: travel + λ × moved + fill penalty +
    /// unserved penalty × children above limits or without a school.
    pub objective: i64,
    /// The flow lower bound of the same objective.
    pub lower_bound: i64,
    /// (objective − lower_bound) / lower_bound.
    pub gap: f64,
    /// Travel of the zoning, children × metres.
    pub travel: i64,
    /// Travel of the bound's flow.
    pub bound_travel: i64,
    /// (travel − bound travel) / bound travel.
    pub travel_gap: f64,
    /// Mean distance per child, metres.
    pub mean_distance_m: f64,
    /// Children moved away from their current zone.
    pub children_moved: u64,
    /// Moved as a share of children with a current zone.
    pub moved_share: f64,
    /// Blocks moved away from their current zone.
    pub blocks_moved: usize,
    /// Children the bound's flow moves.
    pub bound_children_moved: u64,
    /// Children above school limits.
    pub children_over_limit: i64,
    /// Schools above their limits.
    pub schools_over_limit: usize,
    /// Children without any allowed school.
    pub children_unassigned: u64,
    /// Children the bound leaves unserved (no seat within reach).
    pub bound_unserved: u64,
    /// Zones that are not contiguous.
    pub non_contiguous_zones: usize,
    /// The bound holds over every allowed pair.
    pub bound_certified: bool,
    /// Flow solves.
    pub flow_rounds: usize,
    /// Block–school arcs in the final flow network.
    pub flow_arcs: usize,
    /// Blocks the bound splits over several schools.
    pub split_blocks: usize,
    /// Adjacency edges.
    pub adjacency_edges: usize,
    /// Adjacency edges removed for crossing barriers.
    pub edges_cut_by_barriers: usize,
    /// What the repair did.
    pub repair: RepairReport,
}

/// [`RepairStats`] as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    /// Disconnected pieces after rounding.
    pub fragments: usize,
    /// Blocks moved for contiguity.
    pub contiguity_moves: usize,
    /// Pieces left as islands.
    pub island_fragments: usize,
    /// Pieces that could not be merged.
    pub stuck_fragments: usize,
    /// Single capacity moves.
    pub capacity_moves: usize,
    /// Capacity chains.
    pub chains: usize,
    /// Capacity swaps.
    pub swaps: usize,
    /// Improving moves.
    pub improving_moves: usize,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoningReport {
    /// Overall figures.
    pub overall: OverallReport,
    /// One row per school, in `schools.csv` order (new schools last).
    pub schools: Vec<SchoolReport>,
    /// Multi-school groups (only with [`ZoningParams::multi_school`]; absent from the JSON
    /// otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<SchoolGroup>>,
}

fn round4(x: f64) -> f64 {
    if x.is_finite() {
        (x * 10_000.0).round() / 10_000.0
    } else {
        0.0
    }
}

fn clamp64(x: i128) -> i64 {
    x.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

impl ZoningReport {
    /// Builds the report of an assignment.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        problem: &ZoningProblem,
        params: &ZoningParams,
        costs: &CostModel,
        adj: &Adjacency,
        assignment: &[u32],
        bound: &FlowBound,
        lambda_m: u32,
        polygons: Option<&ZonePolygons>,
        repair: &RepairStats,
    ) -> ZoningReport {
        let ns = problem.schools.len();
        let mut rows: Vec<SchoolReport> = problem
            .schools
            .iter()
            .enumerate()
            .map(|(s, sc)| SchoolReport {
                school_id: sc.id.clone(),
                name: sc.name.clone(),
                district: problem.districts.get(sc.district as usize).cloned().unwrap_or_default(),
                capacity: sc.capacity,
                limit: costs.limit[s],
                demand: 0,
                utilisation: 0.0,
                blocks: 0,
                blocks_moved_in: 0,
                children_moved_in: 0,
                blocks_moved_out: 0,
                children_moved_out: 0,
                mean_distance_m: 0.0,
                max_distance_m: 0,
                contiguous: true,
                pieces: 0,
                why_not_contiguous: String::new(),
                compactness: 0.0,
                seat_price_m: bound.prices.get(s).copied().unwrap_or(0),
                over_limit: 0,
                below_floor: 0,
            })
            .collect();
        let mut travel_by_school = vec![0i128; ns];
        let (mut travel, mut moved, mut blocks_moved, mut unassigned_blocks, mut children_unassigned) =
            (0i128, 0u64, 0usize, 0usize, 0u64);
        for (b, &s) in assignment.iter().enumerate() {
            let b32 = b as u32;
            let d = problem.blocks[b].demand as u64;
            let had = problem.has_current(b32);
            if s == UNASSIGNED {
                unassigned_blocks += 1;
                children_unassigned += d;
                if had {
                    blocks_moved += 1;
                    moved += d;
                }
                for &c in problem.current.schools_of(b32) {
                    rows[c as usize].blocks_moved_out += 1;
                    rows[c as usize].children_moved_out += d;
                }
                continue;
            }
            let r = &mut rows[s as usize];
            r.blocks += 1;
            r.demand += d;
            let m = problem.metres(b32, s).unwrap_or(0);
            if d > 0 {
                r.max_distance_m = r.max_distance_m.max(m);
            }
            travel_by_school[s as usize] += d as i128 * m as i128;
            travel += d as i128 * m as i128;
            if !problem.is_current(b32, s) {
                r.blocks_moved_in += 1;
                r.children_moved_in += d;
                if had {
                    blocks_moved += 1;
                    moved += d;
                }
                for &c in problem.current.schools_of(b32) {
                    rows[c as usize].blocks_moved_out += 1;
                    rows[c as usize].children_moved_out += d;
                }
            }
        }
        let pieces = zone_pieces(problem, adj, assignment);
        let mut over_total = 0i64;
        let mut over_schools = 0;
        let mut fill_total = 0i64;
        let mut non_contiguous = 0;
        for (s, r) in rows.iter_mut().enumerate() {
            r.utilisation = if r.capacity == 0 {
                0.0
            } else {
                round4(r.demand as f64 / r.capacity as f64)
            };
            r.mean_distance_m = if r.demand == 0 {
                0.0
            } else {
                (travel_by_school[s] as f64 / r.demand as f64 * 10.0).round() / 10.0
            };
            r.over_limit = (r.demand as i64 - r.limit).max(0);
            r.below_floor = (costs.floor[s] - r.demand as i64).max(0);
            if r.over_limit > 0 {
                over_total += r.over_limit;
                over_schools += 1;
            }
            fill_total += r.below_floor;
            let list = &pieces[s];
            r.pieces = list.len() as u32;
            r.contiguous = list.len() <= 1;
            if !r.contiguous {
                non_contiguous += 1;
                let island = list.iter().skip(1).any(|p| {
                    p.iter()
                        .all(|&b| adj.neighbours(b).iter().all(|n| p.binary_search(n).is_ok()))
                });
                let locked = list
                    .iter()
                    .skip(1)
                    .any(|p| p.iter().any(|&b| problem.blocks[b as usize].locked));
                r.why_not_contiguous = if island {
                    "island"
                } else if locked {
                    "locked"
                } else {
                    "no_neighbour"
                }
                .to_string();
            }
            if let Some(z) = polygons.and_then(|p| p.of_school(s as u32)) {
                r.compactness = round4(z.compactness());
                // A zone connected in the graph can still be drawn in parts where its cells,
                // cut at `cell_radius_m`, do not touch: the report follows the drawn shape.
                let parts = z.polygon.0.len() as u32;
                if parts > 1 && r.contiguous {
                    r.contiguous = false;
                    r.why_not_contiguous = "cells_apart".to_string();
                    non_contiguous += 1;
                }
            }
        }
        let children = problem.total_demand();
        let objective = travel
            + lambda_m as i128 * moved as i128
            + fill_total as i128 * params.fill_penalty_m as i128
            + (over_total as i128 + children_unassigned as i128) * params.unserved_penalty_m as i128;
        let gap = if bound.objective > 0 {
            (objective - bound.objective) as f64 / bound.objective as f64
        } else {
            0.0
        };
        let travel_gap = if bound.travel > 0 {
            (travel - bound.travel) as f64 / bound.travel as f64
        } else {
            0.0
        };
        let movable = problem.movable_children();
        let overall = OverallReport {
            stage: problem.stage.as_str().to_string(),
            lambda_m,
            blocks: problem.blocks.len(),
            unassigned_blocks,
            schools: ns,
            children,
            capacity: problem.schools.iter().map(|s| s.capacity as u64).sum(),
            objective: clamp64(objective),
            lower_bound: clamp64(bound.objective),
            gap: round4(gap.max(0.0)),
            travel: clamp64(travel),
            bound_travel: clamp64(bound.travel),
            travel_gap: round4(travel_gap),
            mean_distance_m: if children == 0 {
                0.0
            } else {
                (travel as f64 / children as f64 * 10.0).round() / 10.0
            },
            children_moved: moved,
            moved_share: if movable == 0 {
                0.0
            } else {
                round4(moved as f64 / movable as f64)
            },
            blocks_moved,
            bound_children_moved: bound.moved,
            children_over_limit: over_total,
            schools_over_limit: over_schools,
            children_unassigned,
            bound_unserved: bound.unserved,
            non_contiguous_zones: non_contiguous,
            bound_certified: bound.certified,
            flow_rounds: bound.rounds,
            flow_arcs: bound.arcs,
            split_blocks: bound.split_blocks,
            adjacency_edges: adj.edge_count(),
            edges_cut_by_barriers: adj.removed_by_barriers,
            repair: RepairReport {
                fragments: repair.fragments,
                contiguity_moves: repair.contiguity_moves,
                island_fragments: repair.island_fragments,
                stuck_fragments: repair.stuck_fragments,
                capacity_moves: repair.capacity_moves,
                chains: repair.chains,
                swaps: repair.swaps,
                improving_moves: repair.improving_moves,
            },
        };
        ZoningReport {
            overall,
            schools: rows,
            groups: None,
        }
    }
}
