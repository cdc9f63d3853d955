//! Exact capacitated assignment of block demand to schools (a transportation problem), with
//! cheap re-optimisation when one facility opens or closes.
//!
//! Blocks supply children; facilities (existing schools and candidate sites) take at most their
//! capacity when open; each block may use the facilities on its arc list at the arc's cost,
//! and any child may stay unseated at `unmet_cost`. The solver is successive shortest paths
//! with node potentials (Dijkstra on reduced costs, stopping at the first node with a deficit),
//! in integer arithmetic. After a facility opens or closes, only the disturbed flow is
//! re-routed from the previous optimum's potentials, which keeps every step exact: the
//! potentials certify optimality (no residual arc has a negative reduced cost), and the tests
//! check this certificate, conservation and capacities, and compare objectives with an
//! independent network simplex and a cycle-cancelling oracle.
//!
//! Nodes are numbered blocks `0..n`, facilities `n..n + m`, then the sink `t`.

/// A transportation instance.
#[derive(Debug, Clone)]
pub struct Instance {
    supply: Vec<u32>,
    arc_start: Vec<u32>,
    arc_fac: Vec<u32>,
    arc_cost: Vec<u32>,
    arc_block: Vec<u32>,
    capacity: Vec<u32>,
    unmet_cost: u32,
    rev_start: Vec<u32>,
    rev_arc: Vec<u32>,
}

impl Instance {
    /// An instance from per-block supplies, per-block arc lists `(facility, cost)`, facility
    /// capacities (when open) and the cost of an unseated child.
    pub fn new(supply: Vec<u32>, arcs: &[Vec<(u32, u32)>], capacity: Vec<u32>, unmet_cost: u32) -> Self {
        let n = supply.len();
        let m = capacity.len();
        let mut arc_start = Vec::with_capacity(n + 1);
        let mut arc_fac = Vec::new();
        let mut arc_cost = Vec::new();
        let mut arc_block = Vec::new();
        arc_start.push(0u32);
        for (i, list) in arcs.iter().enumerate().take(n) {
            for &(j, c) in list {
                if (j as usize) < m {
                    arc_fac.push(j);
                    arc_cost.push(c);
                    arc_block.push(i as u32);
                }
            }
            arc_start.push(arc_fac.len() as u32);
        }
        while arc_start.len() < n + 1 {
            arc_start.push(arc_fac.len() as u32);
        }
        let mut count = vec![0u32; m + 1];
        for &j in &arc_fac {
            count[j as usize + 1] += 1;
        }
        for j in 0..m {
            count[j + 1] += count[j];
        }
        let rev_start = count.clone();
        let mut fill = count;
        let mut rev_arc = vec![0u32; arc_fac.len()];
        for (a, &j) in arc_fac.iter().enumerate() {
            rev_arc[fill[j as usize] as usize] = a as u32;
            fill[j as usize] += 1;
        }
        Instance {
            supply,
            arc_start,
            arc_fac,
            arc_cost,
            arc_block,
            capacity,
            unmet_cost,
            rev_start,
            rev_arc,
        }
    }

    /// Number of blocks.
    pub fn blocks(&self) -> usize {
        self.supply.len()
    }

    /// Number of facilities.
    pub fn facilities(&self) -> usize {
        self.capacity.len()
    }

    /// A block's supply.
    pub fn supply(&self, block: u32) -> u32 {
        self.supply[block as usize]
    }

    /// A facility's capacity when open.
    pub fn capacity(&self, facility: u32) -> u32 {
        self.capacity[facility as usize]
    }

    /// The cost of an unseated child.
    pub fn unmet_cost(&self) -> u32 {
        self.unmet_cost
    }

    /// The arcs of a block as a range of arc indices.
    pub fn arcs(&self, block: u32) -> std::ops::Range<usize> {
        self.arc_start[block as usize] as usize..self.arc_start[block as usize + 1] as usize
    }

    /// The facility of an arc.
    pub fn arc_facility(&self, arc: usize) -> u32 {
        self.arc_fac[arc]
    }

    /// The cost of an arc.
    pub fn arc_cost(&self, arc: usize) -> u32 {
        self.arc_cost[arc]
    }

    /// The block of an arc.
    pub fn arc_block(&self, arc: usize) -> u32 {
        self.arc_block[arc]
    }

    /// The arcs into a facility.
    pub fn arcs_into(&self, facility: u32) -> &[u32] {
        &self.rev_arc[self.rev_start[facility as usize] as usize..self.rev_start[facility as usize + 1] as usize]
    }

    /// Total number of arcs.
    pub fn arc_count(&self) -> usize {
        self.arc_fac.len()
    }
}

/// One step of an augmenting path, by the residual arc it uses.
#[derive(Debug, Clone, Copy)]
enum Step {
    None,
    /// Block → facility along arc `a` (more flow).
    Fwd(u32),
    /// Facility → block along arc `a` (less flow).
    Bwd(u32),
    /// Block → sink: unseat a child of block `i`.
    UnmetFwd(u32),
    /// Sink → block: seat an unseated child of block `i`.
    UnmetBwd(u32),
    /// Facility `j` → sink: use a free seat.
    FacToSink(u32),
    /// Sink → facility `j`: free a used seat.
    SinkToFac(u32),
}

/// An optimal assignment for one set of open facilities.
#[derive(Debug, Clone)]
pub struct Solution {
    open: Vec<bool>,
    flow: Vec<u32>,
    /// Per facility, the arcs into it that carry flow: `used_arcs[rev_start[j]..][..used_count[j]]`,
    /// with each such arc's position in `used_pos`, so a search scans only used arcs.
    used_arcs: Vec<u32>,
    used_pos: Vec<u32>,
    used_count: Vec<u32>,
    unmet: Vec<u32>,
    used: Vec<u32>,
    pot: Vec<i64>,
    excess: Vec<i64>,
    cost: i64,
    ok: bool,
    /// Shortest-path searches run and nodes they settled (work counters).
    searches: u64,
    settled: u64,
}

/// A radix heap: a monotone priority queue for non-negative integer keys (Dijkstra pops keys
/// in non-decreasing order), cheaper than a binary heap on these searches.
struct RadixHeap {
    last: u64,
    buckets: Vec<Vec<(u64, u32)>>,
    len: usize,
}

impl RadixHeap {
    fn new() -> Self {
        RadixHeap {
            last: 0,
            buckets: (0..65).map(|_| Vec::new()).collect(),
            len: 0,
        }
    }

    fn bucket(&self, key: u64) -> usize {
        (64 - (key ^ self.last).leading_zeros()) as usize
    }

    fn push(&mut self, key: u64, value: u32) {
        debug_assert!(key >= self.last, "radix heap keys must not decrease");
        let b = self.bucket(key);
        self.buckets[b].push((key, value));
        self.len += 1;
    }

    fn pop(&mut self) -> Option<(u64, u32)> {
        if self.len == 0 {
            return None;
        }
        if self.buckets[0].is_empty() {
            let i = (1..65).find(|&i| !self.buckets[i].is_empty())?;
            let items = std::mem::take(&mut self.buckets[i]);
            self.last = items.iter().map(|x| x.0).min().unwrap_or(self.last);
            for (k, v) in &items {
                let b = self.bucket(*k);
                self.buckets[b].push((*k, *v));
            }
            // Give the emptied bucket its allocation back.
            let mut items = items;
            items.clear();
            self.buckets[i] = items;
        }
        self.len -= 1;
        self.buckets[0].pop()
    }

    fn clear(&mut self) {
        for b in &mut self.buckets {
            b.clear();
        }
        self.last = 0;
        self.len = 0;
    }
}

struct Scratch {
    dist: Vec<i64>,
    prev: Vec<Step>,
    done: Vec<bool>,
    touched: Vec<u32>,
    settled: Vec<u32>,
    heap: RadixHeap,
}

impl Scratch {
    fn new(nodes: usize) -> Self {
        Scratch {
            dist: vec![i64::MAX; nodes],
            prev: vec![Step::None; nodes],
            done: vec![false; nodes],
            touched: Vec::new(),
            settled: Vec::new(),
            heap: RadixHeap::new(),
        }
    }

    fn reset(&mut self) {
        for &u in &self.touched {
            self.dist[u as usize] = i64::MAX;
            self.done[u as usize] = false;
            self.prev[u as usize] = Step::None;
        }
        self.touched.clear();
        self.settled.clear();
        self.heap.clear();
    }

    #[inline]
    fn relax(&mut self, v: usize, d: i64, step: Step) {
        if d < self.dist[v] {
            if self.dist[v] == i64::MAX {
                self.touched.push(v as u32);
            }
            self.dist[v] = d;
            self.prev[v] = step;
            self.heap.push(d as u64, v as u32);
        }
    }
}

impl Solution {
    /// Solves an instance from scratch with the facilities marked in `open`.
    pub fn solve(inst: &Instance, open: Vec<bool>) -> Solution {
        let n = inst.blocks();
        let m = inst.facilities();
        let mut s = Solution {
            open,
            flow: vec![0; inst.arc_count()],
            used_arcs: vec![0; inst.arc_count()],
            used_pos: vec![0; inst.arc_count()],
            used_count: vec![0; m],
            unmet: vec![0; n],
            used: vec![0; m],
            pot: vec![0; n + m + 1],
            excess: vec![0; n + m + 1],
            cost: 0,
            ok: true,
            searches: 0,
            settled: 0,
        };
        s.open.resize(m, false);
        let mut total = 0i64;
        for (i, &w) in inst.supply.iter().enumerate() {
            s.excess[i] = i64::from(w);
            total += i64::from(w);
        }
        s.excess[n + m] = -total;
        let sources: Vec<u32> = (0..n as u32).filter(|&i| inst.supply[i as usize] > 0).collect();
        let mut scratch = Scratch::new(n + m + 1);
        s.settle(inst, &sources, &mut scratch);
        s
    }

    /// The objective: Σ flow × arc cost + unseated × unmet cost.
    pub fn cost(&self) -> i64 {
        self.cost
    }

    /// Adds `delta` children to arc `a`, keeping the used-arc lists.
    fn add_flow(&mut self, inst: &Instance, a: usize, delta: u32) {
        if self.flow[a] == 0 && delta > 0 {
            let j = inst.arc_fac[a] as usize;
            let at = inst.rev_start[j] + self.used_count[j];
            self.used_arcs[at as usize] = a as u32;
            self.used_pos[a] = at;
            self.used_count[j] += 1;
        }
        self.flow[a] += delta;
    }

    /// Removes `delta` children from arc `a`, keeping the used-arc lists.
    fn remove_flow(&mut self, inst: &Instance, a: usize, delta: u32) {
        self.flow[a] -= delta;
        if self.flow[a] == 0 && delta > 0 {
            let j = inst.arc_fac[a] as usize;
            self.used_count[j] -= 1;
            let last = (inst.rev_start[j] + self.used_count[j]) as usize;
            let at = self.used_pos[a] as usize;
            let moved = self.used_arcs[last];
            self.used_arcs[at] = moved;
            self.used_pos[moved as usize] = at as u32;
        }
    }

    /// Shortest-path searches run so far and the nodes they settled.
    pub fn work(&self) -> (u64, u64) {
        (self.searches, self.settled)
    }

    /// False if re-optimisation failed to route some flow (never expected; checked in tests).
    pub fn is_ok(&self) -> bool {
        self.ok
    }

    /// True when the facility is open.
    pub fn is_open(&self, facility: u32) -> bool {
        self.open[facility as usize]
    }

    /// Children on an arc.
    pub fn flow(&self, arc: usize) -> u32 {
        self.flow[arc]
    }

    /// Unseated children of a block.
    pub fn unmet(&self, block: u32) -> u32 {
        self.unmet[block as usize]
    }

    /// Seats used at a facility.
    pub fn used(&self, facility: u32) -> u32 {
        self.used[facility as usize]
    }

    /// The shadow price of one more seat at an open facility, in cost units (0 unless full).
    pub fn price(&self, inst: &Instance, facility: u32) -> i64 {
        let n = inst.blocks();
        let t = n + inst.facilities();
        (self.pot[t] - self.pot[n + facility as usize]).max(0)
    }

    /// Opens a facility and re-optimises.
    pub fn open(&mut self, inst: &Instance, j: u32) {
        let n = inst.blocks();
        let m = inst.facilities();
        let (ju, t) = (j as usize, n + m);
        if self.open[ju] {
            return;
        }
        self.open[ju] = true;
        let v = n + ju;
        // The highest potential that keeps every arc into j at a non-negative reduced cost.
        let mut p = self.pot[t];
        let mut any = false;
        for &a in inst.arcs_into(j) {
            let i = inst.arc_block[a as usize] as usize;
            let bound = i64::from(inst.arc_cost[a as usize]) + self.pot[i];
            if !any || bound < p {
                p = bound;
                any = true;
            }
        }
        self.pot[v] = p;
        let cap = inst.capacity[ju];
        if p >= self.pot[t] || cap == 0 {
            return; // no child can reach the sink more cheaply through j
        }
        // Saturate j → t (its reduced cost is negative), then route the sink's excess back to
        // j, searching backwards from j so that only j's neighbourhood is explored.
        self.used[ju] = cap;
        self.excess[v] -= i64::from(cap);
        self.excess[t] += i64::from(cap);
        let mut scratch = Scratch::new(n + m + 1);
        while self.excess[v] < 0 {
            if !self.augment_reverse(inst, v, &mut scratch) {
                self.ok = false;
                return;
            }
        }
    }

    /// Closes a facility and re-optimises.
    pub fn close(&mut self, inst: &Instance, j: u32) {
        let n = inst.blocks();
        let m = inst.facilities();
        let (ju, t) = (j as usize, n + m);
        if !self.open[ju] {
            return;
        }
        self.open[ju] = false;
        let used = self.used[ju];
        if used == 0 {
            return;
        }
        self.used[ju] = 0;
        self.excess[n + ju] += i64::from(used);
        self.excess[t] -= i64::from(used);
        let mut scratch = Scratch::new(n + m + 1);
        self.settle(inst, &[(n + ju) as u32], &mut scratch);
    }

    /// Routes the excess of `sources` to deficit nodes by shortest augmenting paths.
    fn settle(&mut self, inst: &Instance, sources: &[u32], sc: &mut Scratch) {
        for &src in sources {
            while self.excess[src as usize] > 0 {
                if !self.augment(inst, src as usize, sc) {
                    self.ok = false;
                    return;
                }
            }
        }
    }

    /// One Dijkstra from `src` to the nearest deficit node, then one augmentation.
    fn augment(&mut self, inst: &Instance, src: usize, sc: &mut Scratch) -> bool {
        let n = inst.blocks();
        let m = inst.facilities();
        let t = n + m;
        let big = i64::from(inst.unmet_cost);
        sc.reset();
        sc.relax(src, 0, Step::None);
        let mut target = usize::MAX;
        while let Some((d, u32u)) = sc.heap.pop() {
            let (d, u) = (d as i64, u32u as usize);
            if sc.done[u] || d > sc.dist[u] {
                continue;
            }
            sc.done[u] = true;
            sc.settled.push(u32u);
            if self.excess[u] < 0 {
                target = u;
                break;
            }
            let pu = self.pot[u];
            if u < n {
                for a in inst.arcs(u as u32) {
                    let j = inst.arc_fac[a] as usize;
                    if !self.open[j] {
                        continue;
                    }
                    let v = n + j;
                    if sc.done[v] {
                        continue;
                    }
                    let rc = i64::from(inst.arc_cost[a]) + pu - self.pot[v];
                    debug_assert!(rc >= 0, "negative reduced cost {rc} on block arc");
                    sc.relax(v, d + rc, Step::Fwd(a as u32));
                }
                if !sc.done[t] {
                    let rc = big + pu - self.pot[t];
                    debug_assert!(rc >= 0, "negative reduced cost {rc} on unmet arc");
                    sc.relax(t, d + rc, Step::UnmetFwd(u as u32));
                }
            } else if u < t {
                let j = u - n;
                let from = inst.rev_start[j] as usize;
                for k in from..from + self.used_count[j] as usize {
                    let a = self.used_arcs[k] as usize;
                    let i = inst.arc_block[a] as usize;
                    if sc.done[i] {
                        continue;
                    }
                    let rc = -i64::from(inst.arc_cost[a]) + pu - self.pot[i];
                    debug_assert!(rc >= 0, "negative reduced cost {rc} on reverse arc");
                    sc.relax(i, d + rc, Step::Bwd(a as u32));
                }
                if self.open[j] && self.used[j] < inst.capacity[j] && !sc.done[t] {
                    let rc = pu - self.pot[t];
                    debug_assert!(rc >= 0, "negative reduced cost {rc} on seat arc");
                    sc.relax(t, d + rc, Step::FacToSink(j as u32));
                }
            } else {
                for j in 0..m {
                    if self.used[j] > 0 && !sc.done[n + j] {
                        let rc = pu - self.pot[n + j];
                        debug_assert!(rc >= 0, "negative reduced cost {rc} on freed seat");
                        sc.relax(n + j, d + rc, Step::SinkToFac(j as u32));
                    }
                }
                for i in 0..n {
                    if self.unmet[i] > 0 && !sc.done[i] {
                        let rc = -big + pu - self.pot[i];
                        debug_assert!(rc >= 0, "negative reduced cost {rc} on unmet reverse");
                        sc.relax(i, d + rc, Step::UnmetBwd(i as u32));
                    }
                }
            }
        }
        self.searches += 1;
        self.settled += sc.settled.len() as u64;
        if target == usize::MAX {
            return false;
        }
        // Bottleneck.
        let mut delta = self.excess[src].min(-self.excess[target]);
        let mut v = target;
        while v != src {
            let (from, cap) = match sc.prev[v] {
                Step::Fwd(a) => (inst.arc_block[a as usize] as usize, i64::MAX),
                Step::Bwd(a) => (n + inst.arc_fac[a as usize] as usize, i64::from(self.flow[a as usize])),
                Step::UnmetFwd(i) => (i as usize, i64::MAX),
                Step::UnmetBwd(i) => (t, i64::from(self.unmet[i as usize])),
                Step::FacToSink(j) => (
                    n + j as usize,
                    i64::from(inst.capacity[j as usize] - self.used[j as usize]),
                ),
                Step::SinkToFac(j) => (t, i64::from(self.used[j as usize])),
                Step::None => return false,
            };
            delta = delta.min(cap);
            v = from;
        }
        if delta <= 0 {
            return false;
        }
        // Apply.
        let du = delta as u32;
        let mut v = target;
        while v != src {
            v = match sc.prev[v] {
                Step::Fwd(a) => {
                    self.add_flow(inst, a as usize, du);
                    self.cost += delta * i64::from(inst.arc_cost[a as usize]);
                    inst.arc_block[a as usize] as usize
                }
                Step::Bwd(a) => {
                    self.remove_flow(inst, a as usize, du);
                    self.cost -= delta * i64::from(inst.arc_cost[a as usize]);
                    n + inst.arc_fac[a as usize] as usize
                }
                Step::UnmetFwd(i) => {
                    self.unmet[i as usize] += du;
                    self.cost += delta * big;
                    i as usize
                }
                Step::UnmetBwd(i) => {
                    self.unmet[i as usize] -= du;
                    self.cost -= delta * big;
                    t
                }
                Step::FacToSink(j) => {
                    self.used[j as usize] += du;
                    n + j as usize
                }
                Step::SinkToFac(j) => {
                    self.used[j as usize] -= du;
                    t
                }
                Step::None => return false,
            };
        }
        self.excess[src] -= delta;
        self.excess[target] += delta;
        // Potentials: settled nodes move by their distance below the target's.
        let dt = sc.dist[target];
        for &u in &sc.settled {
            self.pot[u as usize] += sc.dist[u as usize] - dt;
        }
        true
    }

    /// One backward Dijkstra from the deficit node `target` to the nearest node with excess,
    /// then one augmentation along that path.
    fn augment_reverse(&mut self, inst: &Instance, target: usize, sc: &mut Scratch) -> bool {
        let n = inst.blocks();
        let m = inst.facilities();
        let t = n + m;
        let big = i64::from(inst.unmet_cost);
        sc.reset();
        sc.relax(target, 0, Step::None);
        let mut src = usize::MAX;
        while let Some((r, uu)) = sc.heap.pop() {
            let (r, u) = (r as i64, uu as usize);
            if sc.done[u] || r > sc.dist[u] {
                continue;
            }
            sc.done[u] = true;
            sc.settled.push(uu);
            if self.excess[u] > 0 {
                src = u;
                break;
            }
            let pu = self.pot[u];
            if u < n {
                // Into block u: less flow on its used arcs, or seat an unseated child.
                for a in inst.arcs(u as u32) {
                    if self.flow[a] == 0 {
                        continue;
                    }
                    let w = n + inst.arc_fac[a] as usize;
                    if sc.done[w] {
                        continue;
                    }
                    let rc = -i64::from(inst.arc_cost[a]) + self.pot[w] - pu;
                    debug_assert!(rc >= 0, "negative reduced cost {rc} on reverse arc");
                    sc.relax(w, r + rc, Step::Bwd(a as u32));
                }
                if self.unmet[u] > 0 && !sc.done[t] {
                    let rc = -big + self.pot[t] - pu;
                    debug_assert!(rc >= 0, "negative reduced cost {rc} on unmet reverse");
                    sc.relax(t, r + rc, Step::UnmetBwd(u as u32));
                }
            } else if u < t {
                // Into facility u: more flow from a block, or free a used seat.
                let j = u - n;
                if self.open[j] {
                    for &a in inst.arcs_into(j as u32) {
                        let a = a as usize;
                        let w = inst.arc_block[a] as usize;
                        if sc.done[w] {
                            continue;
                        }
                        let rc = i64::from(inst.arc_cost[a]) + self.pot[w] - pu;
                        debug_assert!(rc >= 0, "negative reduced cost {rc} on block arc");
                        sc.relax(w, r + rc, Step::Fwd(a as u32));
                    }
                }
                if self.used[j] > 0 && !sc.done[t] {
                    let rc = self.pot[t] - pu;
                    debug_assert!(rc >= 0, "negative reduced cost {rc} on freed seat");
                    sc.relax(t, r + rc, Step::SinkToFac(j as u32));
                }
            }
        }
        self.searches += 1;
        self.settled += sc.settled.len() as u64;
        if src == usize::MAX {
            return false;
        }
        // Bottleneck, walking from the source to the target.
        let mut delta = self.excess[src].min(-self.excess[target]);
        let mut v = src;
        while v != target {
            let (next, cap) = match sc.prev[v] {
                Step::Fwd(a) => (n + inst.arc_fac[a as usize] as usize, i64::MAX),
                Step::Bwd(a) => (inst.arc_block[a as usize] as usize, i64::from(self.flow[a as usize])),
                Step::UnmetBwd(i) => (i as usize, i64::from(self.unmet[i as usize])),
                Step::SinkToFac(j) => (n + j as usize, i64::from(self.used[j as usize])),
                _ => return false,
            };
            delta = delta.min(cap);
            v = next;
        }
        if delta <= 0 {
            return false;
        }
        let du = delta as u32;
        let mut v = src;
        while v != target {
            v = match sc.prev[v] {
                Step::Fwd(a) => {
                    self.add_flow(inst, a as usize, du);
                    self.cost += delta * i64::from(inst.arc_cost[a as usize]);
                    n + inst.arc_fac[a as usize] as usize
                }
                Step::Bwd(a) => {
                    self.remove_flow(inst, a as usize, du);
                    self.cost -= delta * i64::from(inst.arc_cost[a as usize]);
                    inst.arc_block[a as usize] as usize
                }
                Step::UnmetBwd(i) => {
                    self.unmet[i as usize] -= du;
                    self.cost -= delta * big;
                    i as usize
                }
                Step::SinkToFac(j) => {
                    self.used[j as usize] -= du;
                    n + j as usize
                }
                _ => return false,
            };
        }
        self.excess[src] -= delta;
        self.excess[target] += delta;
        let rs = sc.dist[src];
        for &u in &sc.settled {
            self.pot[u as usize] += rs - sc.dist[u as usize];
        }
        true
    }

    /// Checks conservation, capacities, the objective and the optimality certificate
    /// (every residual arc has a non-negative reduced cost). Returns the first violation.
    pub fn verify(&self, inst: &Instance) -> Result<(), String> {
        let n = inst.blocks();
        let m = inst.facilities();
        let t = n + m;
        if !self.ok {
            return Err("re-optimisation failed".into());
        }
        let mut used = vec![0u64; m];
        let mut cost = 0i64;
        for i in 0..n {
            let mut out = u64::from(self.unmet[i]);
            cost += i64::from(self.unmet[i]) * i64::from(inst.unmet_cost);
            for a in inst.arcs(i as u32) {
                out += u64::from(self.flow[a]);
                used[inst.arc_fac[a] as usize] += u64::from(self.flow[a]);
                cost += i64::from(self.flow[a]) * i64::from(inst.arc_cost[a]);
                let j = inst.arc_fac[a] as usize;
                if self.flow[a] > 0 && !self.open[j] {
                    return Err(format!("flow into closed facility {j}"));
                }
                if self.open[j] {
                    let rc = i64::from(inst.arc_cost[a]) + self.pot[i] - self.pot[n + j];
                    if rc < 0 {
                        return Err(format!("arc {a} has reduced cost {rc}"));
                    }
                    if self.flow[a] > 0 && rc != 0 {
                        return Err(format!("arc {a} carries flow at reduced cost {rc}"));
                    }
                }
            }
            if out != u64::from(inst.supply[i]) {
                return Err(format!("block {i} sends {out} of {}", inst.supply[i]));
            }
            let rc = i64::from(inst.unmet_cost) + self.pot[i] - self.pot[t];
            if rc < 0 || (self.unmet[i] > 0 && rc != 0) {
                return Err(format!("unmet arc of block {i} has reduced cost {rc}"));
            }
        }
        for (j, &received) in used.iter().enumerate() {
            if received != u64::from(self.used[j]) {
                return Err(format!(
                    "facility {j} records {} used but receives {received}",
                    self.used[j]
                ));
            }
            if self.used[j] > inst.capacity[j] {
                return Err(format!("facility {j} over capacity"));
            }
            if self.open[j] {
                let rc = self.pot[n + j] - self.pot[t];
                if self.used[j] < inst.capacity[j] && rc < 0 {
                    return Err(format!("facility {j} has free seats at reduced cost {rc}"));
                }
                if self.used[j] > 0 && rc > 0 {
                    return Err(format!("facility {j} is used at reduced cost {rc}"));
                }
            }
        }
        for j in 0..m {
            let from = inst.rev_start[j] as usize;
            let listed = &self.used_arcs[from..from + self.used_count[j] as usize];
            let carrying = inst
                .arcs_into(j as u32)
                .iter()
                .filter(|&&a| self.flow[a as usize] > 0)
                .count();
            if listed.len() != carrying || listed.iter().any(|&a| self.flow[a as usize] == 0) {
                return Err(format!("the used-arc list of facility {j} is stale"));
            }
        }
        if cost != self.cost {
            return Err(format!("objective {} but flows cost {cost}", self.cost));
        }
        if self.excess.iter().any(|&e| e != 0) {
            return Err("unrouted excess".into());
        }
        Ok(())
    }
}
