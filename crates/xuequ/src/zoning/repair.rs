//! Repair of the rounded zoning by boundary moves on the block adjacency graph.
//!
//! 1. Contiguity: every zone keeps its heaviest connected piece; the blocks of every other
//!    piece move, one boundary block at a time, to the neighbouring zone where a child costs
//!    least at seat prices (travel + λ + the flow's seat price). A piece that is a whole
//!    island of the adjacency graph is exempt; locked blocks never move.
//! 2. Capacity: while a school is over its limit, move the boundary block that sheds the
//!    excess most cheaply (possibly passing a smaller excess on); when none does, search a
//!    chain of moves (up to six zones deep) ending in a zone with room; else swap a larger block
//!    for a smaller one across a boundary.
//! 3. Improvement: passes over all blocks taking any boundary move that lowers the objective
//!    and keeps capacity.
//!
//! No move ever disconnects the zone it leaves: a block that is a cut vertex of its zone
//! (tested by a search inside the zone from one neighbour to the others) stays.

use super::adjacency::Adjacency;
use super::bound::FlowBound;
use super::distance::Distances;
use super::{UNASSIGNED, ZoningParams, ZoningProblem};

/// What the repair did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairStats {
    /// Disconnected pieces found after rounding.
    pub fragments: usize,
    /// Blocks moved to restore contiguity.
    pub contiguity_moves: usize,
    /// Pieces left in place because they are islands of the adjacency graph.
    pub island_fragments: usize,
    /// Pieces that could not be merged (no allowed neighbouring zone, or locked blocks).
    pub stuck_fragments: usize,
    /// Single moves made to restore capacity.
    pub capacity_moves: usize,
    /// Chains of moves made to restore capacity.
    pub chains: usize,
    /// Swaps of a larger block for a smaller one across a zone boundary.
    pub swaps: usize,
    /// Improving moves.
    pub improving_moves: usize,
}

/// The objective's pieces for moves: per-child cost of a block at a school, seat prices,
/// limits and floors.
pub(crate) struct CostModel<'a> {
    pub(crate) problem: &'a ZoningProblem,
    pub(crate) params: &'a ZoningParams,
    pub(crate) lambda: u32,
    pub(crate) prices: Vec<i64>,
    pub(crate) limit: Vec<i64>,
    pub(crate) floor: Vec<i64>,
    /// With a distance table, [`CostModel::unit`] of every stored pair in the table's pair
    /// order ([`NOT_ALLOWED`] where the planner forbids it); empty otherwise. The repair's
    /// searches price the same pairs again and again, and each pricing from scratch reads
    /// the block's current zone, its table row and the school's district.
    pair_units: Vec<i64>,
}

/// A pair the planner does not allow, in [`CostModel::pair_units`].
const NOT_ALLOWED: i64 = i64::MIN;

impl<'a> CostModel<'a> {
    pub(crate) fn new(problem: &'a ZoningProblem, params: &'a ZoningParams, lambda: u32, bound: &FlowBound) -> Self {
        let ns = problem.schools.len() as u32;
        CostModel {
            problem,
            params,
            lambda,
            prices: if bound.prices.len() == ns as usize {
                bound.prices.clone()
            } else {
                vec![0; ns as usize]
            },
            limit: (0..ns).map(|s| problem.limit(params, s)).collect(),
            floor: (0..ns).map(|s| problem.floor(params, s)).collect(),
            pair_units: Vec::new(),
        }
    }

    /// [`CostModel::new`] with every table pair priced up front, for the repair.
    pub(crate) fn for_repair(
        problem: &'a ZoningProblem,
        params: &'a ZoningParams,
        lambda: u32,
        bound: &FlowBound,
    ) -> Self {
        let mut costs = CostModel::new(problem, params, lambda, bound);
        if let Distances::Table(t) = &problem.distances {
            costs.pair_units = t
                .pairs()
                .map(|(b, s, m)| {
                    let unit = problem.allowed_move_at(params, b, s, m);
                    unit.map_or(NOT_ALLOWED, |(m, moved)| {
                        m as i64 + if moved { lambda as i64 } else { 0 }
                    })
                })
                .collect();
        }
        costs
    }

    /// Per-child cost of block `b` at school `s` (metres + λ if it moves), `None` if not allowed.
    pub(crate) fn unit(&self, b: u32, s: u32) -> Option<i64> {
        match &self.problem.distances {
            // A pair the table lacks has no metres, so it is not allowed either.
            Distances::Table(t) if !self.pair_units.is_empty() => {
                let u = self.pair_units[t.pair(b, s)?];
                (u != NOT_ALLOWED).then_some(u)
            }
            _ => self.unit_from_scratch(b, s),
        }
    }

    fn unit_from_scratch(&self, b: u32, s: u32) -> Option<i64> {
        let (m, moved) = self.problem.allowed_move(self.params, b, s)?;
        Some(m as i64 + if moved { self.lambda as i64 } else { 0 })
    }

    /// Fill penalty of a school at a load.
    fn fill(&self, s: u32, load: i64) -> i64 {
        (self.floor[s as usize] - load).max(0) * self.params.fill_penalty_m as i64
    }

    /// Objective change of moving `b` (demand `d`) from `s` to `t`, ignoring capacity.
    fn delta(&self, b: u32, d: i64, s: u32, t: u32, load: &[i64]) -> Option<i64> {
        self.delta_from(b, d, s, self.unit(b, s), t, load)
    }

    /// [`CostModel::delta`] with `unit(b, s)` already known (`us`): the searches ask for one
    /// block's moves to each of its neighbouring zones, and the unit cost where it stands is
    /// the same for all of them.
    fn delta_from(&self, b: u32, d: i64, s: u32, us: Option<i64>, t: u32, load: &[i64]) -> Option<i64> {
        let ut = self.unit(b, t)?;
        let us = us.unwrap_or(ut);
        let fill = self.fill(s, load[s as usize] - d) - self.fill(s, load[s as usize])
            + self.fill(t, load[t as usize] + d)
            - self.fill(t, load[t as usize]);
        Some(d * (ut - us) + fill)
    }
}

struct State<'a, 'c> {
    costs: &'c CostModel<'a>,
    adj: &'c Adjacency,
    assign: &'c mut [u32],
    load: Vec<i64>,
    members: Vec<Vec<u32>>,
    /// Position of each block in its zone's member list.
    slot: Vec<u32>,
    stamp: Vec<u32>,
    generation: u32,
    queue: Vec<u32>,
    contiguity: bool,
    /// While recording: every zone a search looked at (its own and its blocks' neighbours').
    seen: std::cell::RefCell<Option<Vec<u32>>>,
    /// Zones whose members changed since the list was last taken.
    dirty: Vec<u32>,
}

impl<'a, 'c> State<'a, 'c> {
    fn new(costs: &'c CostModel<'a>, adj: &'c Adjacency, assign: &'c mut [u32], contiguity: bool) -> Self {
        let p = costs.problem;
        let ns = p.schools.len();
        let mut load = vec![0i64; ns];
        let mut members = vec![Vec::new(); ns];
        let mut slot = vec![0u32; assign.len()];
        for (b, &s) in assign.iter().enumerate() {
            if s != UNASSIGNED {
                load[s as usize] += p.blocks[b].demand as i64;
                slot[b] = members[s as usize].len() as u32;
                members[s as usize].push(b as u32);
            }
        }
        State {
            costs,
            adj,
            load,
            members,
            slot,
            stamp: vec![0; assign.len()],
            assign,
            generation: 0,
            queue: Vec::new(),
            contiguity,
            seen: std::cell::RefCell::new(None),
            dirty: Vec::new(),
        }
    }

    fn demand(&self, b: u32) -> i64 {
        self.costs.problem.blocks[b as usize].demand as i64
    }

    fn movable(&self, b: u32) -> bool {
        !self.costs.problem.blocks[b as usize].locked && self.assign[b as usize] != UNASSIGNED
    }

    fn apply(&mut self, b: u32, t: u32) {
        let s = self.assign[b as usize];
        let d = self.demand(b);
        // Remove from s's member list.
        let pos = self.slot[b as usize] as usize;
        let list = &mut self.members[s as usize];
        list.swap_remove(pos);
        if pos < list.len() {
            let moved = list[pos];
            self.slot[moved as usize] = pos as u32;
        }
        self.load[s as usize] -= d;
        self.slot[b as usize] = self.members[t as usize].len() as u32;
        self.members[t as usize].push(b);
        self.load[t as usize] += d;
        self.assign[b as usize] = t;
        self.dirty.push(s);
        self.dirty.push(t);
    }

    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|x| *x = 0);
            self.generation = 1;
        }
        self.generation
    }

    /// True when removing `b` would disconnect its zone (or empty it).
    fn is_cut(&mut self, b: u32) -> bool {
        let s = self.assign[b as usize];
        if self.members[s as usize].len() <= 1 {
            return true;
        }
        if !self.contiguity {
            return false;
        }
        let inside = Zones::sorted(
            self.adj
                .neighbours(b)
                .iter()
                .copied()
                .filter(|&n| self.assign[n as usize] == s),
            self.adj.neighbours(b).len(),
        );
        let inside = inside.as_slice();
        if inside.len() <= 1 {
            return false;
        }
        let g = self.next_generation();
        self.stamp[b as usize] = g;
        self.queue.clear();
        self.queue.push(inside[0]);
        self.stamp[inside[0] as usize] = g;
        let mut remaining = inside.len() - 1;
        let mut head = 0;
        while head < self.queue.len() {
            let u = self.queue[head];
            head += 1;
            for &v in self.adj.neighbours(u) {
                if self.assign[v as usize] == s && self.stamp[v as usize] != g {
                    self.stamp[v as usize] = g;
                    if inside.binary_search(&v).is_ok() {
                        remaining -= 1;
                        if remaining == 0 {
                            return false;
                        }
                    }
                    self.queue.push(v);
                }
            }
        }
        true
    }

    /// Distinct zones among a block's neighbours other than its own, ascending.
    fn neighbour_zones(&self, b: u32) -> Zones {
        let s = self.assign[b as usize];
        let others = self
            .adj
            .neighbours(b)
            .iter()
            .map(|&n| self.assign[n as usize])
            .filter(|&t| t != s && t != UNASSIGNED);
        let z = Zones::sorted(others, self.adj.neighbours(b).len());
        if let Some(seen) = self.seen.borrow_mut().as_mut() {
            seen.push(s);
            seen.extend_from_slice(z.as_slice());
        }
        z
    }

    /// Connected pieces of every zone: (school, blocks) in order of school then first block.
    fn pieces(&mut self) -> Vec<(u32, Vec<u32>)> {
        let n = self.assign.len();
        let g = self.next_generation();
        let mut out = Vec::new();
        for start in 0..n as u32 {
            let s = self.assign[start as usize];
            if s == UNASSIGNED || self.stamp[start as usize] == g {
                continue;
            }
            let mut piece = vec![start];
            self.stamp[start as usize] = g;
            let mut head = 0;
            while head < piece.len() {
                let u = piece[head];
                head += 1;
                for &v in self.adj.neighbours(u) {
                    if self.assign[v as usize] == s && self.stamp[v as usize] != g {
                        self.stamp[v as usize] = g;
                        piece.push(v);
                    }
                }
            }
            out.push((s, piece));
        }
        out.sort_by_key(|(s, p)| (*s, p[0]));
        out
    }
}

/// Distinct ids (zones, or blocks of one zone), ascending: inline up to [`Zones::INLINE`] (a
/// block's Delaunay neighbours rarely reach that), on the heap beyond. The searches ask for a
/// block's neighbouring zones hundreds of thousands of times, and a heap list each time was a
/// visible share of the repair.
pub(crate) enum Zones {
    Inline([u32; Zones::INLINE], usize),
    Heap(Vec<u32>),
}

impl Zones {
    const INLINE: usize = 16;

    /// The distinct values of `zones` (at most `bound` of them), ascending.
    pub(crate) fn sorted(zones: impl Iterator<Item = u32>, bound: usize) -> Zones {
        if bound <= Zones::INLINE {
            // Insertion into the sorted inline list as the values come, skipping repeats: a
            // handful of values, so this beats collecting, sorting and deduplicating.
            let mut a = [0u32; Zones::INLINE];
            let mut len = 0;
            for t in zones {
                let mut i = len;
                while i > 0 && a[i - 1] > t {
                    i -= 1;
                }
                if i > 0 && a[i - 1] == t {
                    continue;
                }
                a.copy_within(i..len, i + 1);
                a[i] = t;
                len += 1;
            }
            return Zones::Inline(a, len);
        }
        let mut z = Zones::Heap(zones.collect());
        let list: &mut [u32] = match &mut z {
            Zones::Inline(a, len) => &mut a[..*len],
            Zones::Heap(v) => v,
        };
        list.sort_unstable();
        let mut kept = 0;
        for i in 0..list.len() {
            if i == 0 || list[i] != list[kept - 1] {
                list[kept] = list[i];
                kept += 1;
            }
        }
        match &mut z {
            Zones::Inline(_, len) => *len = kept,
            Zones::Heap(v) => v.truncate(kept),
        }
        z
    }

    pub(crate) fn as_slice(&self) -> &[u32] {
        match self {
            Zones::Inline(a, len) => &a[..*len],
            Zones::Heap(v) => v,
        }
    }
}

/// Connected pieces of each zone: `pieces[s]` lists the pieces of school `s` (blocks sorted),
/// heaviest first (ties: containing the block nearest the school, then lowest block).
pub(crate) fn zone_pieces(problem: &ZoningProblem, adj: &Adjacency, assign: &[u32]) -> Vec<Vec<Vec<u32>>> {
    let n = assign.len();
    let mut seen = vec![false; n];
    let mut pieces: Vec<Vec<Vec<u32>>> = vec![Vec::new(); problem.schools.len()];
    for start in 0..n {
        let s = assign[start];
        if s == UNASSIGNED || seen[start] {
            continue;
        }
        let mut piece = vec![start as u32];
        seen[start] = true;
        let mut head = 0;
        while head < piece.len() {
            let u = piece[head];
            head += 1;
            for &v in adj.neighbours(u) {
                if assign[v as usize] == s && !seen[v as usize] {
                    seen[v as usize] = true;
                    piece.push(v);
                }
            }
        }
        piece.sort_unstable();
        pieces[s as usize].push(piece);
    }
    for (s, list) in pieces.iter_mut().enumerate() {
        let key = |p: &Vec<u32>| {
            let demand: u64 = p.iter().map(|&b| problem.blocks[b as usize].demand as u64).sum();
            let near = p
                .iter()
                .map(|&b| problem.metres(b, s as u32).unwrap_or(u32::MAX))
                .min()
                .unwrap_or(u32::MAX);
            (std::cmp::Reverse(demand), near, p[0])
        };
        list.sort_by_cached_key(key);
    }
    pieces
}

/// Repairs `assign` in place.
pub(crate) fn repair(
    problem: &ZoningProblem,
    params: &ZoningParams,
    adj: &Adjacency,
    costs: &CostModel,
    assign: &mut [u32],
) -> RepairStats {
    let mut stats = RepairStats::default();
    let mut st = State::new(costs, adj, assign, params.contiguity);
    if params.contiguity {
        stats.fragments = contiguity(problem, adj, &mut st, &mut stats);
    }
    capacity(&mut st, &mut stats);
    improve(&mut st, params.improve_passes, &mut stats);
    if params.contiguity {
        // Capacity and improvement moves never disconnect a zone; this pass only retries
        // pieces the first one could not merge.
        contiguity(problem, adj, &mut st, &mut stats);
        capacity(&mut st, &mut stats);
    }
    stats
}

/// Merges every piece but the main one of each zone into neighbouring zones. Returns the
/// number of pieces found in the first round; updates the move, island and stuck counts.
fn contiguity(problem: &ZoningProblem, adj: &Adjacency, st: &mut State, stats: &mut RepairStats) -> usize {
    let mut found = None;
    for _round in 0..6 {
        let all = st.pieces();
        let mut by_school: Vec<Vec<Vec<u32>>> = vec![Vec::new(); problem.schools.len()];
        for (s, mut p) in all {
            p.sort_unstable();
            by_school[s as usize].push(p);
        }
        // The main piece is the heaviest (ties: nearest the school, then lowest block).
        let mut fragments: Vec<(u32, Vec<u32>)> = Vec::new();
        for (s, mut list) in by_school.into_iter().enumerate() {
            if list.len() <= 1 {
                continue;
            }
            list.sort_by_cached_key(|p| {
                let demand: u64 = p.iter().map(|&b| problem.blocks[b as usize].demand as u64).sum();
                let near = p
                    .iter()
                    .map(|&b| problem.metres(b, s as u32).unwrap_or(u32::MAX))
                    .min()
                    .unwrap_or(u32::MAX);
                (std::cmp::Reverse(demand), near, p[0])
            });
            for p in list.into_iter().skip(1) {
                fragments.push((s as u32, p));
            }
        }
        found.get_or_insert(fragments.len());
        let mut island = 0;
        let mut stuck = 0;
        let mut moves = 0;
        for (s, piece) in &fragments {
            let s = *s;
            // Islands of the adjacency graph (no neighbour outside the piece) are exempt.
            let outside = piece
                .iter()
                .any(|&b| adj.neighbours(b).iter().any(|n| piece.binary_search(n).is_err()));
            if !outside {
                island += 1;
                continue;
            }
            let mut left: Vec<u32> = piece.clone();
            loop {
                let mut best: Option<(i64, u32, u32)> = None;
                for &b in &left {
                    if !st.movable(b) || st.assign[b as usize] != s {
                        continue;
                    }
                    let d = st.demand(b);
                    for &t in st.neighbour_zones(b).as_slice() {
                        let Some(ut) = st.costs.unit(b, t) else { continue };
                        let us = st.costs.unit(b, s).unwrap_or(ut);
                        let priced = d * ((ut + st.costs.prices[t as usize]) - (us + st.costs.prices[s as usize]));
                        // Prefer zones with room.
                        let over = (st.load[t as usize] + d - st.costs.limit[t as usize]).max(0);
                        let key =
                            priced.saturating_add(over.saturating_mul(st.costs.params.unserved_penalty_m as i64 / 4));
                        if best.is_none_or(|(k, bb, tt)| (key, b, t) < (k, bb, tt)) {
                            best = Some((key, b, t));
                        }
                    }
                }
                let Some((_, b, t)) = best else { break };
                st.apply(b, t);
                moves += 1;
                left.retain(|&x| x != b);
            }
            if left.iter().any(|&b| st.assign[b as usize] == s) {
                stuck += 1;
            }
        }
        stats.contiguity_moves += moves;
        stats.island_fragments = island;
        stats.stuck_fragments = stuck;
        if moves == 0 {
            break;
        }
    }
    found.unwrap_or(0)
}

fn overload(st: &State, s: u32) -> i64 {
    (st.load[s as usize] - st.costs.limit[s as usize]).max(0)
}

/// Objective change of a move including the overload penalty, and the change in total
/// overload.
fn full_delta(st: &State, b: u32, s: u32, us: Option<i64>, t: u32) -> Option<(i64, i64)> {
    let d = st.demand(b);
    let delta = st.costs.delta_from(b, d, s, us, t, &st.load)?;
    let before = overload(st, s) + overload(st, t);
    let after = (st.load[s as usize] - d - st.costs.limit[s as usize]).max(0)
        + (st.load[t as usize] + d - st.costs.limit[t as usize]).max(0);
    let over = after - before;
    Some((
        delta.saturating_add(over.saturating_mul(st.costs.params.unserved_penalty_m as i64)),
        over,
    ))
}

/// The best single move out of overloaded `s` that lowers the total overload (it may push
/// a smaller excess into the neighbour, which is then repaired in turn).
fn best_single(st: &mut State, s: u32) -> Option<(u32, u32)> {
    let mut cands: Vec<(i64, u32, u32)> = Vec::new();
    for i in 0..st.members[s as usize].len() {
        let b = st.members[s as usize][i];
        if st.demand(b) == 0 || !st.movable(b) {
            continue;
        }
        let us = st.costs.unit(b, s);
        for &t in st.neighbour_zones(b).as_slice() {
            if let Some((key, over)) = full_delta(st, b, s, us, t)
                && over < 0
            {
                cands.push((key, b, t));
            }
        }
    }
    cands.sort_unstable();
    for (_, b, t) in cands {
        if !st.is_cut(b) {
            return Some((b, t));
        }
    }
    None
}

/// A chain-search label: (key, travel delta so far, excess left, block moved in, its zone).
type Label = (i64, i64, i64, u32, u32);

/// How far a chain search looks.
#[derive(Debug, Clone, Copy)]
struct ChainSearch {
    /// Zones deep.
    depth: usize,
    /// Chains tried, cheapest first.
    tries: usize,
    /// Label a zone only through a block whose move keeps its own zone connected (tested in
    /// the state before the chain). Thin zones, whose cheapest block is often a cut vertex,
    /// are then still crossed through a block that can move.
    skip_cuts: bool,
}

/// The first chain search: six zones deep, the eight cheapest chains.
const SHALLOW: ChainSearch = ChainSearch {
    depth: 6,
    tries: 8,
    skip_cuts: false,
};

/// The last resort for a school every other move failed: cut vertices left out, and deep
/// enough to cross a district of full schools.
const DEEP: ChainSearch = ChainSearch {
    depth: 40,
    tries: 16,
    skip_cuts: true,
};

/// Chains of moves from overloaded `s` towards zones with room (breadth-first over
/// neighbouring zones, up to `search.depth` deep). Each step moves a block at least as large
/// as the excess the previous step left in its zone, so the excess travels along the chain
/// until a zone absorbs it. A chain is kept only if it lowers the total overload; otherwise it
/// is undone.
fn try_chains(st: &mut State, s: u32, first_need: i64, search: ChainSearch) -> bool {
    let ns = st.members.len();
    let penalty = st.costs.params.unserved_penalty_m as i64;
    // label[v] = (key, travel delta so far, excess left at v, block moved into v, its zone).
    let mut label: Vec<Option<Label>> = vec![None; ns];
    let mut reached = vec![false; ns];
    reached[s as usize] = true;
    // Per block, once asked in this search: 1 = may move, 2 = cut vertex (the state does not
    // change while labelling).
    let mut cut_known: rustc_hash::FxHashMap<u32, bool> = rustc_hash::FxHashMap::default();
    // The first step moves a block of at least `first_need` children (the whole excess, or
    // any block when the excess is larger than every block); further along, a step must carry
    // at least the excess the previous one left.
    let mut frontier: Vec<(u32, i64, i64)> = vec![(s, 0, first_need)];
    let mut terminals: Vec<(i64, u32)> = Vec::new();
    for _ in 0..search.depth {
        let mut next: Vec<u32> = Vec::new();
        for &(u, cu, need) in &frontier {
            for i in 0..st.members[u as usize].len() {
                let b = st.members[u as usize][i];
                let d = st.demand(b);
                if d == 0 || d < need || !st.movable(b) {
                    continue;
                }
                let mut us = None;
                for &t in st.neighbour_zones(b).as_slice() {
                    if reached[t as usize] {
                        continue;
                    }
                    let us = *us.get_or_insert_with(|| st.costs.unit(b, u));
                    let Some(delta) = st.costs.delta_from(b, d, u, us, t, &st.load) else {
                        continue;
                    };
                    let c = cu.saturating_add(delta);
                    let left = (st.load[t as usize] + d - st.costs.limit[t as usize]).max(0);
                    let key = c.saturating_add(left.saturating_mul(penalty));
                    if label[t as usize].is_none_or(|l| (key, b) < (l.0, l.3)) {
                        if search.skip_cuts {
                            let cut = match cut_known.get(&b) {
                                Some(&cut) => cut,
                                None => {
                                    let cut = st.is_cut(b);
                                    cut_known.insert(b, cut);
                                    cut
                                }
                            };
                            if cut {
                                continue;
                            }
                        }
                        label[t as usize] = Some((key, c, left, b, u));
                        next.push(t);
                    }
                }
            }
        }
        next.sort_unstable();
        next.dedup();
        let mut carry = Vec::new();
        for &t in &next {
            reached[t as usize] = true;
            if let Some((key, c, left, _, _)) = label[t as usize] {
                if left == 0 {
                    terminals.push((key, t));
                } else {
                    carry.push((t, c, left));
                }
            }
        }
        if terminals.len() >= search.tries || carry.is_empty() {
            break;
        }
        frontier = carry;
    }
    if terminals.is_empty() {
        // No zone absorbs the whole excess: try chains that leave less of it behind.
        let start = overload(st, s);
        terminals = (0..ns as u32)
            .filter_map(|t| label[t as usize].filter(|l| l.2 < start).map(|l| (l.0, t)))
            .collect();
    }
    terminals.sort_unstable();
    for &(_, term) in terminals.iter().take(search.tries) {
        // The path from s to the terminal, as moves (block, from, to), terminal end first.
        let mut path = Vec::new();
        let mut v = term;
        while v != s {
            let Some((_, _, _, b, u)) = label[v as usize] else {
                break;
            };
            path.push((b, u, v));
            v = u;
        }
        if v != s {
            continue;
        }
        let mut schools: Vec<u32> = path.iter().flat_map(|&(_, u, v)| [u, v]).collect();
        schools.sort_unstable();
        schools.dedup();
        let before: i64 = schools.iter().map(|&x| overload(st, x)).sum();
        let mut done: Vec<(u32, u32)> = Vec::new();
        let mut ok = true;
        for &(b, u, v) in &path {
            if st.assign[b as usize] != u || st.is_cut(b) {
                ok = false;
                break;
            }
            st.apply(b, v);
            done.push((b, u));
        }
        let after: i64 = schools.iter().map(|&x| overload(st, x)).sum();
        if ok && after < before {
            return true;
        }
        for &(b, u) in done.iter().rev() {
            st.apply(b, u);
        }
    }
    false
}

/// Swaps across a boundary of overloaded `s`: a block of `s` goes to a neighbouring zone and a
/// smaller block of that zone comes back, when that lowers the total overload (for tight
/// schools where every movable block is larger than the room next door). Cheapest first.
fn try_swaps(st: &mut State, s: u32) -> bool {
    let mut cands: Vec<(i64, u32, u32, u32)> = Vec::new();
    for i in 0..st.members[s as usize].len() {
        let b = st.members[s as usize][i];
        let d = st.demand(b);
        if d == 0 || !st.movable(b) {
            continue;
        }
        for &t in st.neighbour_zones(b).as_slice() {
            let Some(out) = st.costs.delta(b, d, s, t, &st.load) else {
                continue;
            };
            for j in 0..st.members[t as usize].len() {
                let c = st.members[t as usize][j];
                let dc = st.demand(c);
                if dc >= d || !st.movable(c) {
                    continue;
                }
                let before = overload(st, s) + overload(st, t);
                let after = (st.load[s as usize] - d + dc - st.costs.limit[s as usize]).max(0)
                    + (st.load[t as usize] + d - dc - st.costs.limit[t as usize]).max(0);
                if after >= before {
                    continue;
                }
                let Some(back) = st
                    .costs
                    .unit(c, s)
                    .zip(st.costs.unit(c, t))
                    .map(|(us, ut)| dc * (us - ut))
                else {
                    continue;
                };
                let key = (out + back)
                    .saturating_add((after - before).saturating_mul(st.costs.params.unserved_penalty_m as i64));
                cands.push((key, b, t, c));
            }
        }
    }
    cands.sort_unstable();
    for (_, b, t, c) in cands.into_iter().take(64) {
        if st.assign[b as usize] != s || st.assign[c as usize] != t || st.is_cut(b) {
            continue;
        }
        st.apply(b, t);
        // c must touch what is left of s and must not disconnect t.
        let touches = st.adj.neighbours(c).iter().any(|&n| st.assign[n as usize] == s);
        if touches && !st.is_cut(c) {
            st.apply(c, s);
            return true;
        }
        st.apply(b, s);
    }
    false
}

/// Restores capacity: the most overloaded school first, by a single move, else a chain, else
/// a swap. A school where all three fail is set aside until a zone its searches looked at
/// changes (every search reads only the zones it records, so retrying earlier would fail the
/// same way); this keeps the result of retrying every failed school after each success, at
/// the cost of the searches that could succeed.
fn capacity(st: &mut State, stats: &mut RepairStats) {
    let ns = st.members.len();
    let max_iter = 50 * ns + 1000;
    let mut failed = vec![false; ns];
    // Per zone: failed schools whose searches looked at it.
    let mut watchers: Vec<Vec<u32>> = vec![Vec::new(); ns];
    // Schools that may be over their limit: every school over it now, plus every zone a move
    // touched since (only a move into a zone raises its load), so the pick below scans tens
    // of schools instead of all of them and still finds the same one.
    let mut maybe: Vec<u32> = (0..ns as u32).filter(|&s| overload(st, s) > 0).collect();
    let mut in_maybe = vec![false; ns];
    for &s in &maybe {
        in_maybe[s as usize] = true;
    }
    for _ in 0..max_iter {
        maybe.retain(|&s| {
            let keep = overload(st, s) > 0;
            in_maybe[s as usize] = keep;
            keep
        });
        let pick = maybe
            .iter()
            .filter(|&&s| !failed[s as usize])
            .map(|&s| (std::cmp::Reverse(overload(st, s)), s))
            .min();
        let Some((_, s)) = pick else { return };
        st.dirty.clear();
        *st.seen.borrow_mut() = Some(vec![s]);
        let done = if let Some((b, t)) = best_single(st, s) {
            st.apply(b, t);
            stats.capacity_moves += 1;
            true
        } else if try_chains(st, s, overload(st, s), SHALLOW) || try_chains(st, s, 1, SHALLOW) {
            stats.chains += 1;
            true
        } else if try_swaps(st, s) {
            stats.swaps += 1;
            true
        } else if try_chains(st, s, overload(st, s), DEEP) || try_chains(st, s, 1, DEEP) {
            stats.chains += 1;
            true
        } else {
            false
        };
        let seen = st.seen.borrow_mut().take().unwrap_or_default();
        for &z in &st.dirty {
            if !in_maybe[z as usize] {
                in_maybe[z as usize] = true;
                maybe.push(z);
            }
        }
        if done {
            // Wake every failed school that looked at a zone whose members changed (tried and
            // undone moves included: waking too often costs time, never results).
            let mut dirty = std::mem::take(&mut st.dirty);
            dirty.sort_unstable();
            dirty.dedup();
            for z in dirty {
                for w in std::mem::take(&mut watchers[z as usize]) {
                    failed[w as usize] = false;
                }
            }
        } else {
            failed[s as usize] = true;
            let mut seen = seen;
            seen.sort_unstable();
            seen.dedup();
            for z in seen {
                watchers[z as usize].push(s);
            }
        }
    }
}

fn improve(st: &mut State, passes: usize, stats: &mut RepairStats) {
    let n = st.assign.len() as u32;
    for _ in 0..passes {
        let mut moves = 0;
        for b in 0..n {
            if !st.movable(b) {
                continue;
            }
            let s = st.assign[b as usize];
            let d = st.demand(b);
            if d == 0 {
                continue;
            }
            let mut best: Option<(i64, u32)> = None;
            let mut us = None;
            for &t in st.neighbour_zones(b).as_slice() {
                let over_t = st.load[t as usize] + d > st.costs.limit[t as usize];
                if over_t {
                    continue;
                }
                let us = *us.get_or_insert_with(|| st.costs.unit(b, s));
                let Some(delta) = st.costs.delta_from(b, d, s, us, t, &st.load) else {
                    continue;
                };
                if delta < 0 && best.is_none_or(|(bd, bt)| (delta, t) < (bd, bt)) {
                    best = Some((delta, t));
                }
            }
            if let Some((_, t)) = best
                && !st.is_cut(b)
            {
                st.apply(b, t);
                moves += 1;
            }
        }
        stats.improving_moves += moves;
        if moves == 0 {
            break;
        }
    }
}
