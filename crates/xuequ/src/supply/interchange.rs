//! Fast greedy + interchange for siting when capacities cannot bind.
//!
//! ## When it applies ([`capacities_never_bind`])
//! If every facility can seat all the children of every block that may use it
//! (`Σ supply(i) over the blocks i with an arc to j ≤ capacity(j)` for every facility `j`),
//! then for *any* open set the cheapest assignment that ignores capacities (each child to its
//! block's cheapest open facility, or unseated when `unmet_cost` is cheaper) respects every
//! capacity, so it is the exact optimum of the capacitated transportation problem. Siting is
//! then an uncapacitated p-median with fixed open facilities (the existing schools) and an
//! always-available "unseated" option, and swaps can be priced without solving any flow.
//!
//! ## The bookkeeping (Whitaker 1983; Resende & Werneck 2003)
//! For the current open set, every block `i` keeps its cheapest open option `d1(i)` (facility
//! `φ1(i)`, or unseated) and its second cheapest `d2(i)` over a *different* facility (or
//! unseated). With `w_i` the block's children:
//! - `gain(k) = Σ_i w_i · max(0, d1(i) − c_ik)`: the saving of opening closed site `k`;
//! - `loss(j) = Σ_{φ1(i)=j} w_i · (d2(i) − d1(i))`: the cost of closing chosen site `j`;
//! - `extra(k, j) = Σ_{φ1(i)=j, c_ik<d2(i)} w_i · (d2(i) − max(c_ik, d1(i)))`: the part of
//!   that loss that opening `k` at the same time wins back;
//!
//! and the swap `j → k` saves exactly `gain(k) − loss(j) + extra(k, j)`. One pass over each
//! block's options that are cheaper than its `d2` fills all three tables, so the whole swap
//! neighbourhood (every chosen site × every closed site) is priced per move for the cost of
//! one pass over the short end of the arc lists; no objective is recomputed.
//!
//! ## The search
//! 1. **Greedy**: open the site with the largest `gain` (ties: lower index), `p` times.
//! 2. **Interchange**, best improvement: make the swap with the largest saving (ties: lower
//!    slot, then lower site) while it saves something, at most `max_moves` swaps.
//! 3. At a local optimum, a **double swap** is tried from the `double_from` best single swaps
//!    (each followed by the best second swap that does not undo it); if the pair saves
//!    something it is made and step 2 resumes.
//!
//! All arithmetic is in integers and single-threaded, so results do not depend on the thread
//! count. Until step 3, the moves are those of plain greedy + best-improvement interchange;
//! step 3 only accepts improving moves, so the result is never worse than that. The caller
//! ([`super::site`]) certifies the final open set with one exact assignment.

use super::transport::Instance;

/// "No facility": the block's option is leaving the child unseated.
const UNSEATED: u32 = u32::MAX;

/// True when no capacity can bind for any open set: every facility can take the children of
/// all the blocks that may use it (see the module docs for why this makes the uncapacitated
/// assignment exact).
pub fn capacities_never_bind(inst: &Instance) -> bool {
    (0..inst.facilities() as u32).all(|j| {
        let reach: u64 = inst
            .arcs_into(j)
            .iter()
            .map(|&a| u64::from(inst.supply(inst.arc_block(a as usize))))
            .sum();
        reach <= u64::from(inst.capacity(j))
    })
}

/// One step of the search, for the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Greedy: a site opened.
    Open {
        /// Facility index.
        site: u32,
        /// Objective after the step.
        objective: i64,
    },
    /// A swap: chosen site `out` closed, `into` opened.
    Swap {
        /// Facility closed.
        out: u32,
        /// Facility opened.
        into: u32,
        /// Objective after the swap.
        objective: i64,
    },
    /// Two swaps made together.
    DoubleSwap {
        /// First swap (closed, opened).
        first: (u32, u32),
        /// Second swap (closed, opened).
        second: (u32, u32),
        /// Objective after both.
        objective: i64,
    },
}

/// The outcome of [`greedy_interchange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interchange {
    /// Chosen facilities (indices `fixed..`), in the order they were placed; a swap keeps the
    /// slot.
    pub chosen: Vec<u32>,
    /// The uncapacitated objective of the final open set.
    pub objective: i64,
    /// Every greedy step and swap, in order.
    pub trace: Vec<Move>,
    /// Swaps made (a double swap counts two).
    pub moves: usize,
}

/// Per block, its options cheaper than leaving a child unseated, sorted by (cost, facility),
/// one per facility.
struct Options {
    start: Vec<u32>,
    facility: Vec<u32>,
    cost: Vec<i64>,
    supply: Vec<i64>,
    unmet: i64,
}

impl Options {
    fn new(inst: &Instance) -> Options {
        let unmet = i64::from(inst.unmet_cost());
        let mut start = Vec::with_capacity(inst.blocks() + 1);
        let mut facility = Vec::new();
        let mut cost = Vec::new();
        let mut seen = vec![u32::MAX; inst.facilities()];
        let mut row: Vec<(i64, u32)> = Vec::new();
        start.push(0u32);
        for i in 0..inst.blocks() as u32 {
            row.clear();
            row.extend(
                inst.arcs(i)
                    .map(|a| (i64::from(inst.arc_cost(a)), inst.arc_facility(a)))
                    .filter(|&(c, _)| c < unmet),
            );
            row.sort_unstable();
            for &(c, f) in &row {
                // A repeated facility: only its cheapest arc matters.
                if seen[f as usize] != i {
                    seen[f as usize] = i;
                    facility.push(f);
                    cost.push(c);
                }
            }
            start.push(facility.len() as u32);
        }
        let supply = (0..inst.blocks() as u32).map(|i| i64::from(inst.supply(i))).collect();
        Options {
            start,
            facility,
            cost,
            supply,
            unmet,
        }
    }

    fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.start[i] as usize..self.start[i + 1] as usize
    }
}

/// The search state: the open set and each block's two cheapest open options.
#[derive(Clone)]
struct State {
    open: Vec<bool>,
    d1: Vec<i64>,
    f1: Vec<u32>,
    d2: Vec<i64>,
    objective: i64,
}

impl State {
    fn new(opts: &Options, open: Vec<bool>) -> State {
        let n = opts.supply.len();
        let mut s = State {
            open,
            d1: vec![0; n],
            f1: vec![UNSEATED; n],
            d2: vec![0; n],
            objective: 0,
        };
        s.refresh(opts);
        s
    }

    /// Recomputes `d1`, `φ1`, `d2` and the objective (each scan stops at the second open
    /// option, which is near the front of the sorted list).
    fn refresh(&mut self, opts: &Options) {
        let mut objective = 0i64;
        for i in 0..opts.supply.len() {
            let (mut d1, mut f1, mut d2) = (opts.unmet, UNSEATED, opts.unmet);
            for x in opts.range(i) {
                let f = opts.facility[x];
                if !self.open[f as usize] {
                    continue;
                }
                if f1 == UNSEATED {
                    (d1, f1) = (opts.cost[x], f);
                } else {
                    d2 = opts.cost[x];
                    break;
                }
            }
            self.d1[i] = d1;
            self.f1[i] = f1;
            self.d2[i] = d2;
            objective += opts.supply[i] * d1;
        }
        self.objective = objective;
    }

    fn swap(&mut self, opts: &Options, out: u32, into: u32) {
        self.open[out as usize] = false;
        self.open[into as usize] = true;
        self.refresh(opts);
    }
}

/// The swap-pricing tables of a state over the candidate sites `fixed..m`.
struct Tables {
    /// Per facility: saving of opening it (closed candidates only).
    gain: Vec<i64>,
    /// Per slot of `chosen`: cost of closing that site.
    loss: Vec<i64>,
    /// `extra[(k − fixed) × p + slot]`.
    extra: Vec<i64>,
}

impl Tables {
    fn new(opts: &Options, state: &State, chosen: &[u32], fixed: usize) -> Tables {
        let m = state.open.len();
        let p = chosen.len();
        let mut slot_of = vec![u32::MAX; m];
        for (s, &j) in chosen.iter().enumerate() {
            slot_of[j as usize] = s as u32;
        }
        let mut t = Tables {
            gain: vec![0; m],
            loss: vec![0; p],
            extra: vec![0; (m - fixed) * p],
        };
        for i in 0..opts.supply.len() {
            let w = opts.supply[i];
            if w == 0 {
                continue;
            }
            let (d1, d2) = (state.d1[i], state.d2[i]);
            let f1 = state.f1[i];
            let slot = if f1 == UNSEATED { u32::MAX } else { slot_of[f1 as usize] };
            // Options at d2 or dearer affect neither gain (d1 ≤ d2) nor extra.
            let limit = if slot == u32::MAX { d1 } else { d2 };
            if slot != u32::MAX {
                t.loss[slot as usize] += w * (d2 - d1);
            }
            for x in opts.range(i) {
                let c = opts.cost[x];
                if c >= limit {
                    break;
                }
                let k = opts.facility[x] as usize;
                if state.open[k] {
                    continue;
                }
                if c < d1 {
                    t.gain[k] += w * (d1 - c);
                }
                if slot != u32::MAX {
                    t.extra[(k - fixed) * p + slot as usize] += w * (d2 - c.max(d1));
                }
            }
        }
        t
    }

    /// Every swap's saving, as (saving, slot, site), in (slot, site) order.
    fn savings(&self, state: &State, chosen: &[u32], fixed: usize) -> impl Iterator<Item = (i64, usize, u32)> + '_ {
        let p = chosen.len();
        let m = state.open.len();
        let closed: Vec<u32> = (fixed..m).filter(|&k| !state.open[k]).map(|k| k as u32).collect();
        (0..p).flat_map(move |slot| {
            let closed = closed.clone();
            closed.into_iter().map(move |k| {
                let saving = self.gain[k as usize] - self.loss[slot] + self.extra[(k as usize - fixed) * p + slot];
                (saving, slot, k)
            })
        })
    }
}

/// The best single swap: largest saving, ties to the lower slot, then the lower site.
fn best_swap(opts: &Options, state: &State, chosen: &[u32], fixed: usize) -> Option<(i64, usize, u32)> {
    let t = Tables::new(opts, state, chosen, fixed);
    let mut best: Option<(i64, usize, u32)> = None;
    for s in t.savings(state, chosen, fixed) {
        if best.is_none_or(|b| s.0 > b.0) {
            best = Some(s);
        }
    }
    best
}

/// Greedy construction then interchange (see the module docs) over facilities `fixed..m` of
/// `inst`, with facilities `0..fixed` always open. `progress` is called after each greedy
/// step and each accepted move. The objective is the uncapacitated one: exact only when
/// [`capacities_never_bind`] holds. `p` must not exceed the number of candidates.
pub fn greedy_interchange(
    inst: &Instance,
    fixed: usize,
    p: usize,
    max_moves: usize,
    double_from: usize,
    progress: &mut dyn FnMut(&Move),
) -> Interchange {
    let opts = Options::new(inst);
    let m = inst.facilities();
    let open: Vec<bool> = (0..m).map(|f| f < fixed).collect();
    let mut state = State::new(&opts, open);
    let mut chosen: Vec<u32> = Vec::with_capacity(p);
    let mut trace = Vec::new();
    let mut record = |mv: Move, trace: &mut Vec<Move>| {
        progress(&mv);
        trace.push(mv);
    };

    // 1. Greedy: the gain of every closed site from one pass.
    for _ in 0..p.min(m.saturating_sub(fixed)) {
        let t = Tables::new(&opts, &state, &chosen, fixed);
        let mut pick: Option<(i64, usize)> = None;
        for k in fixed..m {
            if !state.open[k] && pick.is_none_or(|b| t.gain[k] > b.0) {
                pick = Some((t.gain[k], k));
            }
        }
        let Some((_, k)) = pick else { break };
        state.open[k] = true;
        state.refresh(&opts);
        chosen.push(k as u32);
        record(
            Move::Open {
                site: k as u32,
                objective: state.objective,
            },
            &mut trace,
        );
    }

    // 2–3. Interchange, with double swaps at local optima.
    let mut moves = 0usize;
    while moves < max_moves && !chosen.is_empty() {
        if let Some((saving, slot, k)) = best_swap(&opts, &state, &chosen, fixed)
            && saving > 0
        {
            let j = chosen[slot];
            state.swap(&opts, j, k);
            chosen[slot] = k;
            moves += 1;
            record(
                Move::Swap {
                    out: j,
                    into: k,
                    objective: state.objective,
                },
                &mut trace,
            );
            continue;
        }
        if double_from == 0 || moves + 2 > max_moves {
            break;
        }
        // The best few first swaps (largest saving first; ties as in best_swap).
        let t = Tables::new(&opts, &state, &chosen, fixed);
        let mut firsts: Vec<(i64, usize, u32)> = t.savings(&state, &chosen, fixed).collect();
        firsts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        firsts.truncate(double_from);
        let mut best2: Option<(i64, usize, u32, usize, u32)> = None;
        for &(s1, slot1, k1) in &firsts {
            let j1 = chosen[slot1];
            let mut first = state.clone();
            first.swap(&opts, j1, k1);
            let mut chosen1 = chosen.clone();
            chosen1[slot1] = k1;
            let t1 = Tables::new(&opts, &first, &chosen1, fixed);
            let mut second: Option<(i64, usize, u32)> = None;
            for s in t1.savings(&first, &chosen1, fixed) {
                if s.1 == slot1 && s.2 == j1 {
                    continue; // undoing the first swap
                }
                if second.is_none_or(|b| s.0 > b.0) {
                    second = Some(s);
                }
            }
            if let Some((s2, slot2, k2)) = second {
                let total = s1 + s2;
                if best2.is_none_or(|b| total > b.0) {
                    best2 = Some((total, slot1, k1, slot2, k2));
                }
            }
        }
        match best2 {
            Some((total, slot1, k1, slot2, k2)) if total > 0 => {
                let j1 = chosen[slot1];
                state.open[j1 as usize] = false;
                state.open[k1 as usize] = true;
                chosen[slot1] = k1;
                let j2 = chosen[slot2];
                state.swap(&opts, j2, k2);
                chosen[slot2] = k2;
                moves += 2;
                record(
                    Move::DoubleSwap {
                        first: (j1, k1),
                        second: (j2, k2),
                        objective: state.objective,
                    },
                    &mut trace,
                );
            }
            _ => break,
        }
    }
    Interchange {
        chosen,
        objective: state.objective,
        trace,
        moves,
    }
}
