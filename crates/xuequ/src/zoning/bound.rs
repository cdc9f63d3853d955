//! The lower bound: splittable capacitated assignment as a min-cost flow, grown until
//! certified.
//!
//! Network: block → school arcs (cost = metres, plus λ when the school is not in the block's
//! current zone), school → sink arcs (the band's high edge as capacity; seats below the low
//! edge earn the fill penalty), and block → sink "unserved" arcs at the unserved penalty.
//! The first solve uses each block's `candidates` nearest allowed schools plus its current
//! ones, starting from the forest "every block at its cheapest school". Then the certificate:
//! with the seat prices from the optimal potentials, every allowed pair not yet in the network
//! whose reduced cost is negative is added and the flow re-solved from the previous basis,
//! until none is left. The final optimum is therefore optimal over all allowed pairs, not just
//! the candidates, and no whole-block zoning can cost less.

use rayon::prelude::*;

use crate::flow::{INFINITE, Network, NetworkSimplex};

use super::candidates::candidates_covered;
use super::distance::Distances;
use super::{ZoningError, ZoningParams, ZoningProblem, ZoningProgress};
use crate::spatial::NearestPoints;

/// Arcs the certificate adds per block and round, most negative reduced cost first.
const ADD_PER_ROUND: usize = 4;

/// Largest λ accepted (metres per child).
pub const MAX_LAMBDA_M: u32 = 10_000_000;

/// The flow lower bound and its by-products.
#[derive(Debug, Clone, Default)]
pub struct FlowBound {
    /// The optimal objective in children × metres: travel + λ × children moved + fill penalty
    /// + unserved penalty. No whole-block zoning with the same λ scores lower.
    pub objective: i128,
    /// Travel of the flow, children × metres.
    pub travel: i128,
    /// Children the flow moves away from their current zone.
    pub moved: u64,
    /// Children the flow leaves unserved.
    pub unserved: u64,
    /// Seat price per school in metres (the shadow price of one more seat; ≤ 0 when seats
    /// are left empty, negative below the band's low edge).
    pub prices: Vec<i64>,
    /// For each block, `(school, children)` with positive flow, by school.
    pub flows: Vec<Vec<(u32, u32)>>,
    /// The bound holds over every allowed pair (the certificate found no missing arc).
    pub certified: bool,
    /// Flow solves (first solve plus certificate rounds).
    pub rounds: usize,
    /// Block → school arcs in the final network.
    pub arcs: usize,
    /// Simplex pivots over all rounds.
    pub pivots: u64,
    /// Blocks whose flow is split over several schools.
    pub split_blocks: usize,
}

/// A warm-startable flow model of a problem (reused by the λ sweep).
pub(crate) struct BoundSolver<'a> {
    problem: &'a ZoningProblem,
    params: &'a ZoningParams,
    simplex: NetworkSimplex,
    /// Block → school arcs: (block, school, metres), arc index = `first_block_arc + i`.
    arcs: Vec<(u32, u32, u32)>,
    first_block_arc: usize,
    /// Per school: (fill arc, rest arc).
    school_arcs: Vec<(Option<usize>, usize)>,
    /// Per block: its unserved arc.
    unserved_arc: Vec<Option<usize>>,
    /// Per block: schools with an arc (sorted).
    has_arc: Vec<Vec<u32>>,
    lambda: u32,
    tree: Option<NearestPoints>,
    /// Per block: every allowed school closer than this is among its first candidates.
    covered: Vec<u32>,
    rounds: usize,
    certified: bool,
}

fn node_school(problem: &ZoningProblem, s: u32) -> u32 {
    problem.blocks.len() as u32 + s
}

impl<'a> BoundSolver<'a> {
    pub(crate) fn new(problem: &'a ZoningProblem, params: &'a ZoningParams, lambda: u32) -> Result<Self, ZoningError> {
        params.validate()?;
        problem.validate()?;
        if lambda > MAX_LAMBDA_M {
            return Err(ZoningError::BadParameter {
                name: "stability_m".into(),
                value: lambda.to_string(),
                fix: format!("use at most {MAX_LAMBDA_M} metres per child"),
            });
        }
        let nb = problem.blocks.len();
        let ns = problem.schools.len();
        let sink = (nb + ns) as u32;
        let (mut lists, covered) = candidates_covered(problem, params, params.candidates);
        let tree =
            matches!(problem.distances, Distances::StraightLine).then(|| super::candidates::nearest_schools(problem));
        // Least-cost start: fill the cheapest arcs first, each as far as the block's children
        // and the school's seats allow. Each allocation exhausts a block or a school, so the
        // result is a basic feasible flow. `alloc[first[b] + i]` is the flow on the i-th arc of
        // block b's list.
        let mut left_block: Vec<i64> = problem.blocks.iter().map(|b| b.demand as i64).collect();
        let mut left_school: Vec<i64> = (0..ns as u32).map(|s| problem.limit(params, s).max(0)).collect();
        let mut first: Vec<usize> = Vec::with_capacity(nb + 1);
        let mut listed = 0;
        for (b, list) in lists.iter().enumerate() {
            first.push(listed);
            if problem.blocks[b].demand > 0 {
                listed += list.len();
            }
        }
        first.push(listed);
        let mut alloc: Vec<i64> = vec![0; listed];
        let mut order: Vec<(i64, u32, u32)> = Vec::with_capacity(listed);
        for (b, list) in lists.iter().enumerate() {
            if problem.blocks[b].demand == 0 {
                continue;
            }
            for (i, &(s, m)) in list.iter().enumerate() {
                order.push((arc_cost(problem, b as u32, s, m, lambda), b as u32, i as u32));
            }
        }
        order.sort_unstable();
        for &(_, b, i) in &order {
            let s = lists[b as usize][i as usize].0;
            let amount = left_block[b as usize].min(left_school[s as usize]);
            if amount > 0 {
                alloc[first[b as usize] + i as usize] = amount;
                left_block[b as usize] -= amount;
                left_school[s as usize] -= amount;
            }
        }
        drop(order);
        // Grow the candidates of blocks the first arcs cannot seat: the nearest allowed
        // schools that still have seats, in block order. `more_alloc` holds the flows of the
        // arcs appended to the lists, in block order.
        let mut more_alloc: Vec<(u32, i64)> = Vec::new();
        for b in 0..nb {
            if left_block[b] == 0 || problem.blocks[b].locked {
                continue;
            }
            let b32 = b as u32;
            let mut more: Vec<(u32, u32)> = Vec::new();
            let mut take = |s: u32, more: &mut Vec<(u32, u32)>, left_block: &mut [i64], left_school: &mut [i64]| {
                if left_school[s as usize] == 0 || lists[b].iter().any(|x| x.0 == s) {
                    return;
                }
                if let Some(m) = problem.allowed_metres(params, b32, s) {
                    let amount = left_block[b].min(left_school[s as usize]);
                    left_block[b] -= amount;
                    left_school[s as usize] -= amount;
                    more.push((s, m));
                    more_alloc.push((b32, amount));
                }
            };
            match (&tree, &problem.distances) {
                (Some(t), _) => {
                    for (s, _) in t.around(&problem.blocks[b].location) {
                        take(s, &mut more, &mut left_block, &mut left_school);
                        if left_block[b] == 0 {
                            break;
                        }
                    }
                }
                (None, Distances::Table(t)) => {
                    let (ss, ms) = t.row(b32);
                    let mut row: Vec<(u32, u32)> = ms.iter().copied().zip(ss.iter().copied()).collect();
                    row.sort_unstable();
                    for (_, s) in row {
                        take(s, &mut more, &mut left_block, &mut left_school);
                        if left_block[b] == 0 {
                            break;
                        }
                    }
                }
                _ => {}
            }
            lists[b].extend(more);
        }
        // The network, its lists sized once: school arcs, unserved arcs, then block arcs in
        // block order (arc numbers fix the pricing order, so this order is part of the result).
        let block_arcs = listed + more_alloc.len();
        let served = problem.blocks.iter().filter(|b| b.demand > 0).count();
        let nodes = nb + ns + 1;
        let mut net = Network::with_capacity(nodes, 2 * ns + served + block_arcs + nodes);
        let penalty_bound =
            params.unserved_penalty_m as i64 + params.fill_penalty_m as i64 + MAX_LAMBDA_M as i64 + 40_000_000;
        net.set_cost_bound(penalty_bound);
        let mut total: i64 = 0;
        for (b, block) in problem.blocks.iter().enumerate() {
            net.set_supply(b as u32, block.demand as i64);
            total += block.demand as i64;
        }
        net.set_supply(sink, -total);
        let mut school_arcs = Vec::with_capacity(ns);
        for s in 0..ns as u32 {
            let limit = problem.limit(params, s).max(0);
            let floor = problem.floor(params, s).clamp(0, limit);
            let fill =
                (floor > 0).then(|| net.add_arc(node_school(problem, s), sink, floor, -(params.fill_penalty_m as i64)));
            let rest = net.add_arc(node_school(problem, s), sink, limit - floor, 0);
            school_arcs.push((fill, rest));
        }
        let mut unserved_arc = vec![None; nb];
        for (b, block) in problem.blocks.iter().enumerate() {
            if block.demand > 0 {
                unserved_arc[b] = Some(net.add_arc(b as u32, sink, INFINITE, params.unserved_penalty_m as i64));
            }
        }
        let first_block_arc = net.arc_count();
        let mut arcs = Vec::with_capacity(block_arcs + ADD_PER_ROUND * 64);
        let mut has_arc = vec![Vec::new(); nb];
        let mut greedy = vec![0i64; first_block_arc + block_arcs];
        let mut more_alloc = more_alloc.into_iter().peekable();
        for (b, list) in lists.into_iter().enumerate() {
            if problem.blocks[b].demand == 0 {
                continue;
            }
            let mut schools = Vec::with_capacity(list.len());
            let listed_here = first[b + 1] - first[b];
            for (i, (s, m)) in list.into_iter().enumerate() {
                let cost = arc_cost(problem, b as u32, s, m, lambda);
                let a = net.add_arc(b as u32, node_school(problem, s), INFINITE, cost);
                arcs.push((b as u32, s, m));
                greedy[a] = if i < listed_here {
                    alloc[first[b] + i]
                } else {
                    more_alloc.next().map_or(0, |(_, amount)| amount)
                };
                schools.push(s);
            }
            schools.sort_unstable();
            has_arc[b] = schools;
        }
        drop(alloc);
        for (b, left) in left_block.iter().enumerate() {
            if let Some(a) = unserved_arc[b] {
                greedy[a] = *left;
            }
        }
        for (s, &(fill, rest)) in school_arcs.iter().enumerate() {
            let load = problem.limit(params, s as u32).max(0) - left_school[s];
            let in_fill = fill.map_or(0, |a| load.min(net.cap[a]));
            if let Some(a) = fill {
                greedy[a] = in_fill;
            }
            greedy[rest] = load - in_fill;
        }
        let simplex = match NetworkSimplex::with_flow_owned(net, &greedy) {
            Ok(s) => s,
            // A global seat shortage can tie unserved blocks into a cycle; start from the
            // forest of cheapest arcs instead: each block at its cheapest arc (the first of
            // equal cost), else its unserved arc; each school on its rest arc when the band
            // leaves room above the floor, else its fill arc.
            Err(failed) => {
                let net = failed.1;
                let mut start: Vec<Option<usize>> = vec![None; nb + ns + 1];
                let mut best: Vec<Option<(i64, usize)>> = vec![None; nb];
                for (i, &(b, s, m)) in arcs.iter().enumerate() {
                    let cost = arc_cost(problem, b, s, m, lambda);
                    let slot = &mut best[b as usize];
                    if slot.is_none_or(|(c, _)| cost < c) {
                        *slot = Some((cost, first_block_arc + i));
                    }
                }
                for b in 0..nb {
                    if problem.blocks[b].demand > 0 {
                        start[b] = best[b].map(|x| x.1).or(unserved_arc[b]);
                    }
                }
                for s in 0..ns {
                    let (fill, rest) = school_arcs[s];
                    start[nb + s] = Some(if problem.limit(params, s as u32) > problem.floor(params, s as u32) {
                        rest
                    } else {
                        fill.unwrap_or(rest)
                    });
                }
                NetworkSimplex::with_start(&net, &start)?
            }
        };
        Ok(BoundSolver {
            problem,
            params,
            simplex,
            arcs,
            first_block_arc,
            school_arcs,
            unserved_arc,
            has_arc,
            lambda,
            tree,
            covered,
            rounds: 0,
            certified: false,
        })
    }

    /// Changes λ (a warm start: only costs change).
    pub(crate) fn set_lambda(&mut self, lambda: u32) -> Result<(), ZoningError> {
        if lambda > MAX_LAMBDA_M {
            return Err(ZoningError::BadParameter {
                name: "stability_m".into(),
                value: lambda.to_string(),
                fix: format!("use at most {MAX_LAMBDA_M} metres per child"),
            });
        }
        self.lambda = lambda;
        for (i, &(b, s, m)) in self.arcs.iter().enumerate() {
            if self.problem.has_current(b) && !self.problem.is_current(b, s) {
                self.simplex
                    .set_cost(self.first_block_arc + i, arc_cost(self.problem, b, s, m, lambda))?;
            }
        }
        Ok(())
    }

    /// Solves, then adds missing arcs with negative reduced cost until none is left.
    pub(crate) fn solve(&mut self, progress: &dyn Fn(ZoningProgress)) -> Result<(), ZoningError> {
        let mut round = 0;
        loop {
            self.simplex.solve()?;
            self.rounds += 1;
            if !self.params.certify {
                self.certified = false;
                progress(ZoningProgress::FlowRound {
                    round,
                    arcs: self.arcs.len(),
                    added: 0,
                });
                return Ok(());
            }
            let added = self.certify_round()?;
            progress(ZoningProgress::FlowRound {
                round,
                arcs: self.arcs.len(),
                added,
            });
            round += 1;
            if added == 0 {
                self.certified = true;
                return Ok(());
            }
        }
    }

    /// Seat prices (see [`FlowBound::prices`]) and the sink potential.
    fn prices(&self) -> Vec<i64> {
        let p = self.problem;
        let sink = (p.blocks.len() + p.schools.len()) as u32;
        let pt = self.simplex.potential(sink);
        (0..p.schools.len() as u32)
            .map(|s| {
                let bonus = if self.school_arcs[s as usize].0.is_some() {
                    self.params.fill_penalty_m as i64
                } else {
                    0
                };
                let pi = self.simplex.potential(node_school(p, s)).min(pt + bonus);
                pt - pi
            })
            .collect()
    }

    /// One certificate round: returns the number of arcs added.
    fn certify_round(&mut self) -> Result<usize, ZoningError> {
        let p = self.problem;
        let params = self.params;
        let sink = (p.blocks.len() + p.schools.len()) as u32;
        let pt = self.simplex.potential(sink);
        let prices = self.prices();
        let min_price = prices.iter().copied().min().unwrap_or(0);
        let lambda = self.lambda;
        let simplex = &self.simplex;
        let has_arc = &self.has_arc;
        let covered = &self.covered;
        let tree = self.tree.as_ref();
        let found: Vec<Vec<(u32, u32)>> = (0..p.blocks.len() as u32)
            .into_par_iter()
            .map(|b| {
                let block = &p.blocks[b as usize];
                if block.demand == 0 || block.locked {
                    return Vec::new();
                }
                // Value of serving b at the margin; a missing arc (b, s) helps when
                // cost(b, s) + price(s) < value.
                let value = pt - simplex.potential(b);
                let reach = value - min_price;
                if reach <= 0 || reach <= covered[b as usize] as i64 {
                    return Vec::new();
                }
                let mut out: Vec<(i64, u32, u32)> = Vec::new();
                let check = |s: u32, m: u32, out: &mut Vec<(i64, u32, u32)>| {
                    if has_arc[b as usize].binary_search(&s).is_ok() {
                        return;
                    }
                    if p.allowed_metres(params, b, s).is_none() {
                        return;
                    }
                    let rc = arc_cost(p, b, s, m, lambda) + prices[s as usize] - value;
                    if rc < 0 {
                        out.push((rc, s, m));
                    }
                };
                match (&p.distances, tree) {
                    (Distances::StraightLine, Some(tree)) => {
                        for (s, lower) in tree.around(&block.location) {
                            // Stop at the reach, or once no farther school can beat the
                            // ADD_PER_ROUND best found so far.
                            if lower >= reach as f64
                                || (out.len() >= ADD_PER_ROUND && {
                                    let mut worst: Vec<i64> = out.iter().map(|x| x.0).collect();
                                    worst.sort_unstable();
                                    lower + (min_price - value) as f64 >= worst[ADD_PER_ROUND - 1] as f64
                                })
                            {
                                break;
                            }
                            let Some(m) = p.metres(b, s) else { continue };
                            if (m as i64) < reach {
                                check(s, m, &mut out);
                            }
                        }
                    }
                    (Distances::Table(t), _) => {
                        let (ss, ms) = t.row(b);
                        for (&s, &m) in ss.iter().zip(ms) {
                            if (m as i64) < reach {
                                check(s, m, &mut out);
                            }
                        }
                    }
                    _ => {}
                }
                // The most negative reduced costs first; a few per block and round keep the
                // network small (a block nobody can seat would otherwise take every school).
                out.sort_unstable();
                out.truncate(ADD_PER_ROUND);
                out.into_iter().map(|(_, s, m)| (s, m)).collect()
            })
            .collect();
        let mut added = 0;
        for (b, list) in found.into_iter().enumerate() {
            for (s, m) in list {
                let cost = arc_cost(p, b as u32, s, m, lambda);
                let a = self.simplex.add_arc(b as u32, node_school(p, s), INFINITE, cost)?;
                debug_assert_eq!(a, self.first_block_arc + self.arcs.len());
                self.arcs.push((b as u32, s, m));
                let pos = self.has_arc[b].binary_search(&s).unwrap_or_else(|e| e);
                self.has_arc[b].insert(pos, s);
                added += 1;
            }
        }
        Ok(added)
    }

    /// The current solution as a [`FlowBound`].
    pub(crate) fn bound(&self) -> FlowBound {
        let p = self.problem;
        let mut flows: Vec<Vec<(u32, u32)>> = vec![Vec::new(); p.blocks.len()];
        let mut travel: i128 = 0;
        let mut moved: u64 = 0;
        for (i, &(b, s, m)) in self.arcs.iter().enumerate() {
            let f = self.simplex.flow(self.first_block_arc + i);
            if f > 0 {
                flows[b as usize].push((s, f as u32));
                travel += f as i128 * m as i128;
                if p.has_current(b) && !p.is_current(b, s) {
                    moved += f as u64;
                }
            }
        }
        for f in &mut flows {
            f.sort_unstable();
        }
        let unserved: u64 = self
            .unserved_arc
            .iter()
            .flatten()
            .map(|&a| self.simplex.flow(a) as u64)
            .sum();
        let fill_constant: i128 = self
            .school_arcs
            .iter()
            .enumerate()
            .filter(|(_, a)| a.0.is_some())
            .map(|(s, _)| p.floor(self.params, s as u32) as i128 * self.params.fill_penalty_m as i128)
            .sum();
        FlowBound {
            objective: self.simplex.total_cost() + fill_constant,
            travel,
            moved,
            unserved,
            prices: self.prices(),
            split_blocks: flows.iter().filter(|f| f.len() > 1).count(),
            flows,
            certified: self.certified,
            rounds: self.rounds,
            arcs: self.arcs.len(),
            pivots: self.simplex.pivots(),
        }
    }
}

/// The flow cost of one child on a block → school arc.
pub(crate) fn arc_cost(problem: &ZoningProblem, b: u32, s: u32, metres: u32, lambda: u32) -> i64 {
    let moved = problem.has_current(b) && !problem.is_current(b, s);
    metres as i64 + if moved { lambda as i64 } else { 0 }
}

/// Solves the lower bound of `problem` with stability weight `lambda` (metres per child).
pub fn lower_bound(
    problem: &ZoningProblem,
    params: &ZoningParams,
    lambda: u32,
    progress: &dyn Fn(ZoningProgress),
) -> Result<FlowBound, ZoningError> {
    let mut solver = BoundSolver::new(problem, params, lambda)?;
    solver.solve(progress)?;
    Ok(solver.bound())
}
