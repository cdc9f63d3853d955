//! Primal network simplex with a strongly feasible spanning tree and block-search pricing.
//!
//! The tree is stored as parent / predecessor-arc / thread (preorder successor) / reverse
//! thread / subtree size / last successor arrays, so one pivot touches only the cycle, the
//! re-hung subtree and the paths to the join node. The leaving-arc rule keeps the tree
//! strongly feasible, which rules out cycling. Every node has an artificial arc to an extra
//! root node; the artificial arcs start the basis, carry a big-M cost and never re-enter.

use super::{FlowError, INFINITE, Network};

const NONE: usize = usize::MAX;
const STATE_UPPER: i8 = -1;
const STATE_TREE: i8 = 0;
const STATE_LOWER: i8 = 1;
const DIR_UP: i8 = 1;
const DIR_DOWN: i8 = -1;

/// The solver state: the network, the current basis, flows and potentials.
///
/// Arc `a` of the [`Network`] is arc `a` here; artificial arcs are internal. Potentials follow
/// the convention that the reduced cost of arc `(u, v)` is `cost + π(u) − π(v)`: at an optimum it
/// is ≥ 0 for arcs at zero flow, ≤ 0 for saturated arcs and 0 for arcs strictly between.
#[derive(Debug, Clone)]
pub struct NetworkSimplex {
    /// Real nodes.
    n: usize,
    /// Real arcs.
    m: usize,
    /// The artificial root node (index `n`).
    root: usize,
    // Arcs: real arcs at 0..m, then the artificial arc of node u at index `art + u`, then arcs
    // added later are appended after the artificial ones.
    source: Vec<u32>,
    target: Vec<u32>,
    cap: Vec<i64>,
    cost: Vec<i64>,
    flow: Vec<i64>,
    state: Vec<i8>,
    art: usize,
    supply: Vec<i64>,
    // Tree.
    parent: Vec<usize>,
    pred: Vec<usize>,
    thread: Vec<usize>,
    rev_thread: Vec<usize>,
    succ_num: Vec<usize>,
    last_succ: Vec<usize>,
    pred_dir: Vec<i8>,
    pi: Vec<i64>,
    dirty_revs: Vec<usize>,
    // Pricing.
    next_arc: usize,
    block_size: usize,
    art_cost: i64,
    cost_bound: i64,
    pivots: u64,
    potentials_stale: bool,
    /// Where the first arc added since the last solve sits (pricing starts there).
    first_added: Option<usize>,
    // Pivot scratch.
    in_arc: usize,
    join: usize,
    u_in: usize,
    v_in: usize,
    u_out: usize,
    delta: i64,
}

impl NetworkSimplex {
    /// Checks a network and sets up the all-artificial starting basis.
    pub fn new(net: &Network) -> Result<Self, FlowError> {
        Self::build(net, None)
    }

    /// Sets up a starting basis from a forest of arcs: `start[u]` names an arc leaving node
    /// `u` that carries everything `u` and its hinted descendants supply (for example each
    /// block's nearest school). Hints that would form a cycle, carry negative flow or fill
    /// the arc to capacity are ignored; those nodes hang on the artificial root instead.
    /// `start` must have one entry per node.
    pub fn with_start(net: &Network, start: &[Option<usize>]) -> Result<Self, FlowError> {
        if start.len() != net.node_count() {
            return Err(FlowError::BadChange(format!(
                "the start forest has {} entries for {} nodes (fix: give one entry per node)",
                start.len(),
                net.node_count()
            )));
        }
        Self::build(net, Some(start))
    }

    /// Sets up a starting basis from a feasible flow (for example a greedy solution): `flow[a]`
    /// per arc, within bounds, conserving flow at every node. The arcs strictly between their
    /// bounds must form a forest; they become the tree, each tree of it hung on the root by a
    /// zero-flow artificial arc, and saturated arcs start at their upper bound.
    pub fn with_flow(net: &Network, flow: &[i64]) -> Result<Self, FlowError> {
        let bad = |m: String| Err(FlowError::BadChange(m));
        if flow.len() != net.arc_count() {
            return bad(format!(
                "the start flow has {} entries for {} arcs (fix: give one per arc)",
                flow.len(),
                net.arc_count()
            ));
        }
        let mut s = Self::build(net, Some(&[]))?;
        let n = s.n;
        for u in 0..n {
            let e = s.art_arc(u);
            s.state[e] = STATE_LOWER;
            s.set_artificial(u, 0);
        }
        let mut balance = s.supply.clone();
        for (a, &f) in flow.iter().enumerate() {
            if f < 0 || (s.cap[a] != INFINITE && f > s.cap[a]) {
                return bad(format!("the start flow on arc {a} is {f}, outside 0..capacity"));
            }
            balance[s.source[a] as usize] -= f;
            balance[s.target[a] as usize] += f;
        }
        if let Some(u) = balance.iter().position(|&b| b != 0) {
            return bad(format!("the start flow does not conserve at node {u}"));
        }
        // Union-find over free arcs.
        let mut uf: Vec<usize> = (0..n).collect();
        fn find(uf: &mut [usize], mut x: usize) -> usize {
            while uf[x] != x {
                uf[x] = uf[uf[x]];
                x = uf[x];
            }
            x
        }
        let mut adj_count = vec![0usize; n + 1];
        let mut tree_arcs = Vec::new();
        for (a, &f) in flow.iter().enumerate() {
            let c = s.cap[a];
            s.flow[a] = f;
            if f > 0 && (c == INFINITE || f < c) {
                let (u, v) = (s.source[a] as usize, s.target[a] as usize);
                let (ru, rv) = (find(&mut uf, u), find(&mut uf, v));
                if ru == rv {
                    return bad(format!("the start flow's free arcs form a cycle through arc {a}"));
                }
                uf[ru] = rv;
                tree_arcs.push(a);
                adj_count[u + 1] += 1;
                adj_count[v + 1] += 1;
                s.state[a] = STATE_TREE;
            } else if f > 0 {
                s.state[a] = STATE_UPPER;
            } else {
                s.state[a] = STATE_LOWER;
            }
        }
        for i in 0..n {
            adj_count[i + 1] += adj_count[i];
        }
        let mut fill = adj_count.clone();
        let mut adj = vec![0usize; adj_count[n]];
        for &a in &tree_arcs {
            let (u, v) = (s.source[a] as usize, s.target[a] as usize);
            adj[fill[u]] = a;
            fill[u] += 1;
            adj[fill[v]] = a;
            fill[v] += 1;
        }
        // Preorder from each component's lowest node, which hangs on the root.
        let root = s.root;
        let mut seen = vec![false; n];
        let mut order = vec![root];
        s.parent[root] = NONE;
        s.pred[root] = NONE;
        s.pi[root] = 0;
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for r in 0..n {
            if seen[r] {
                continue;
            }
            seen[r] = true;
            let e = s.art_arc(r);
            s.parent[r] = root;
            s.pred[r] = e;
            s.state[e] = STATE_TREE;
            s.set_artificial(r, 0);
            s.pi[r] = 0;
            order.push(r);
            stack.push((r, adj_count[r]));
            while let Some(&mut (u, ref mut next)) = stack.last_mut() {
                if *next < adj_count[u + 1] {
                    let a = adj[*next];
                    *next += 1;
                    let (x, y) = (s.source[a] as usize, s.target[a] as usize);
                    let v = if x == u { y } else { x };
                    if seen[v] {
                        continue;
                    }
                    seen[v] = true;
                    s.parent[v] = u;
                    s.pred[v] = a;
                    if x == v {
                        s.pred_dir[v] = DIR_UP;
                        s.pi[v] = s.pi[u] - s.cost[a];
                    } else {
                        s.pred_dir[v] = DIR_DOWN;
                        s.pi[v] = s.pi[u] + s.cost[a];
                    }
                    order.push(v);
                    stack.push((v, adj_count[v]));
                } else {
                    stack.pop();
                }
            }
        }
        s.finish_tree(&order);
        Ok(s)
    }

    /// Thread, reverse thread, subtree sizes and last successors from a preorder.
    fn finish_tree(&mut self, order: &[usize]) {
        let n = self.n;
        for i in 0..order.len() {
            let u = order[i];
            let v = order[(i + 1) % order.len()];
            self.thread[u] = v;
            self.rev_thread[v] = u;
        }
        for u in 0..=n {
            self.succ_num[u] = 1;
        }
        for &u in order.iter().rev() {
            let p = self.parent[u];
            if p != NONE {
                self.succ_num[p] += self.succ_num[u];
            }
        }
        let mut pos = vec![0usize; n + 1];
        for (i, &u) in order.iter().enumerate() {
            pos[u] = i;
        }
        for u in 0..=n {
            self.last_succ[u] = order[pos[u] + self.succ_num[u] - 1];
        }
    }

    fn build(net: &Network, start: Option<&[Option<usize>]>) -> Result<Self, FlowError> {
        let n = net.node_count();
        let m = net.arc_count();
        let max_cost = super::check_network(net, net.cost_bound)?;
        // The big-M cost: more than any simple path of real arcs (bounded by the check).
        let art_cost = ((max_cost as i128 + 1) * (n as i128 + 1)) as i64;

        let total_arcs = m + n;
        let mut s = NetworkSimplex {
            n,
            m,
            root: n,
            source: Vec::with_capacity(total_arcs),
            target: Vec::with_capacity(total_arcs),
            cap: Vec::with_capacity(total_arcs),
            cost: Vec::with_capacity(total_arcs),
            flow: vec![0; total_arcs],
            state: vec![STATE_LOWER; total_arcs],
            art: m,
            supply: net.supply.clone(),
            parent: vec![NONE; n + 1],
            pred: vec![NONE; n + 1],
            thread: vec![0; n + 1],
            rev_thread: vec![0; n + 1],
            succ_num: vec![1; n + 1],
            last_succ: vec![0; n + 1],
            pred_dir: vec![DIR_UP; n + 1],
            pi: vec![0; n + 1],
            dirty_revs: Vec::new(),
            next_arc: 0,
            block_size: 0,
            art_cost,
            cost_bound: max_cost,
            pivots: 0,
            potentials_stale: false,
            first_added: None,
            in_arc: 0,
            join: 0,
            u_in: 0,
            v_in: 0,
            u_out: 0,
            delta: 0,
        };
        s.source.extend_from_slice(&net.from);
        s.target.extend_from_slice(&net.to);
        s.cap.extend_from_slice(&net.cap);
        s.cost.extend_from_slice(&net.cost);
        for u in 0..n {
            s.source.push(u as u32);
            s.target.push(n as u32);
            s.cap.push(INFINITE);
            s.cost.push(0);
        }
        s.set_block_size();
        match start {
            None => s.init_artificial(),
            Some(hints) => s.init_forest(hints),
        }
        Ok(s)
    }

    fn set_block_size(&mut self) {
        let arcs = self.source.len() - self.n;
        self.block_size = ((arcs as f64).sqrt() as usize).max(10);
    }

    /// The artificial arc of node `u`.
    fn art_arc(&self, u: usize) -> usize {
        self.art + u
    }

    fn is_artificial(&self, a: usize) -> bool {
        a >= self.art && a < self.art + self.n
    }

    /// Points node u's artificial arc up (u → root, cost 0) or down (root → u, big-M cost).
    fn set_artificial(&mut self, u: usize, amount: i64) {
        let e = self.art_arc(u);
        if amount >= 0 {
            self.source[e] = u as u32;
            self.target[e] = self.root as u32;
            self.cost[e] = 0;
            self.flow[e] = amount;
            self.pred_dir[u] = DIR_UP;
        } else {
            self.source[e] = self.root as u32;
            self.target[e] = u as u32;
            self.cost[e] = self.art_cost;
            self.flow[e] = -amount;
            self.pred_dir[u] = DIR_DOWN;
        }
    }

    fn init_artificial(&mut self) {
        let (n, root) = (self.n, self.root);
        self.parent[root] = NONE;
        self.pred[root] = NONE;
        self.thread[root] = 0;
        self.rev_thread[0] = root;
        self.succ_num[root] = n + 1;
        self.last_succ[root] = if n == 0 { root } else { n - 1 };
        self.pi[root] = 0;
        if n == 0 {
            self.thread[root] = root;
            self.rev_thread[root] = root;
        }
        for u in 0..n {
            let e = self.art_arc(u);
            self.parent[u] = root;
            self.pred[u] = e;
            self.thread[u] = u + 1;
            self.rev_thread[u + 1] = u;
            self.succ_num[u] = 1;
            self.last_succ[u] = u;
            self.state[e] = STATE_TREE;
            self.set_artificial(u, self.supply[u]);
            self.pi[u] = if self.pred_dir[u] == DIR_UP { 0 } else { self.art_cost };
        }
    }

    fn init_forest(&mut self, hints: &[Option<usize>]) {
        let (n, root) = (self.n, self.root);
        // Validate hints: arc exists and leaves u.
        let mut hint: Vec<usize> = vec![NONE; n];
        for (u, h) in hints.iter().enumerate() {
            if let Some(a) = *h
                && a < self.m
                && self.source[a] as usize == u
                && self.target[a] as usize != u
            {
                hint[u] = a;
            }
        }
        // Break cycles: walk each chain, marking nodes on the current walk.
        let mut mark = vec![0u32; n]; // 0 = unseen, walk id + 1 while walking / done
        let mut done = vec![false; n];
        for start in 0..n {
            if done[start] {
                continue;
            }
            let walk = start as u32 + 1;
            let mut u = start;
            loop {
                if done[u] {
                    break;
                }
                if mark[u] == walk {
                    // Cycle through u: cut it here.
                    hint[u] = NONE;
                    break;
                }
                mark[u] = walk;
                if hint[u] == NONE {
                    break;
                }
                u = self.target[hint[u]] as usize;
            }
            let mut u = start;
            while !done[u] {
                done[u] = true;
                if hint[u] == NONE {
                    break;
                }
                u = self.target[hint[u]] as usize;
            }
        }
        // Children lists (CSR) of the hint forest, in node order.
        let mut count = vec![0usize; n + 1];
        for u in 0..n {
            if hint[u] != NONE {
                count[self.target[hint[u]] as usize + 1] += 1;
            }
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut children = vec![0usize; count[n]];
        for (u, &h) in hint.iter().enumerate() {
            if h != NONE {
                let p = self.target[h] as usize;
                children[fill[p]] = u;
                fill[p] += 1;
            }
        }
        // Post-order accumulation; a hint whose flow would be negative or reach capacity is
        // dropped (the node then hangs on the root).
        let mut acc: Vec<i64> = self.supply.clone();
        let mut order: Vec<usize> = Vec::with_capacity(n); // preorder of the final forest
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let mut post: Vec<usize> = Vec::with_capacity(n);
        for r in 0..n {
            if hint[r] != NONE {
                continue;
            }
            stack.push((r, count[r]));
            while let Some(&mut (u, ref mut next)) = stack.last_mut() {
                if *next < count[u + 1] {
                    let c = children[*next];
                    *next += 1;
                    stack.push((c, count[c]));
                } else {
                    stack.pop();
                    post.push(u);
                }
            }
        }
        let mut keep = vec![false; n];
        for &u in &post {
            if hint[u] == NONE {
                continue;
            }
            let a = hint[u];
            let ok = acc[u] >= 0 && (self.cap[a] == INFINITE || acc[u] < self.cap[a]);
            if ok {
                keep[u] = true;
                let p = self.target[a] as usize;
                acc[p] += acc[u];
            }
        }
        // Final forest roots: nodes without a kept hint. Build preorder and tree arrays.
        self.parent[root] = NONE;
        self.pred[root] = NONE;
        self.pi[root] = 0;
        order.push(root);
        for r in 0..n {
            if keep[r] {
                continue;
            }
            // r hangs on the root by its artificial arc.
            let e = self.art_arc(r);
            self.parent[r] = root;
            self.pred[r] = e;
            self.state[e] = STATE_TREE;
            self.set_artificial(r, acc[r]);
            self.pi[r] = if self.pred_dir[r] == DIR_UP { 0 } else { self.art_cost };
            stack.push((r, count[r]));
            order.push(r);
            while let Some(&mut (u, ref mut next)) = stack.last_mut() {
                if *next < count[u + 1] {
                    let c = children[*next];
                    *next += 1;
                    if !keep[c] {
                        continue;
                    }
                    let a = hint[c];
                    self.parent[c] = u;
                    self.pred[c] = a;
                    self.pred_dir[c] = DIR_UP;
                    self.state[a] = STATE_TREE;
                    self.flow[a] = acc[c];
                    self.pi[c] = self.pi[u] - self.cost[a];
                    order.push(c);
                    stack.push((c, count[c]));
                } else {
                    stack.pop();
                }
            }
        }
        self.finish_tree(&order);
    }

    /// Number of pivots done so far (over all solves).
    pub fn pivots(&self) -> u64 {
        self.pivots
    }

    /// Number of real arcs.
    pub fn arc_count(&self) -> usize {
        self.source.len() - self.n
    }

    fn real_index(&self, arc: usize) -> usize {
        if arc < self.m { arc } else { arc + self.n }
    }

    /// The flow on an arc.
    pub fn flow(&self, arc: usize) -> i64 {
        self.flow[self.real_index(arc)]
    }

    /// The cost of an arc.
    pub fn cost(&self, arc: usize) -> i64 {
        self.cost[self.real_index(arc)]
    }

    /// The endpoints of an arc.
    pub fn arc(&self, arc: usize) -> (u32, u32) {
        let a = self.real_index(arc);
        (self.source[a], self.target[a])
    }

    /// The potential of a node (reduced cost of `(u, v)` is `cost + π(u) − π(v)`).
    pub fn potential(&self, node: u32) -> i64 {
        self.pi[node as usize]
    }

    /// The total cost `Σ flow × cost` over the real arcs.
    pub fn total_cost(&self) -> i128 {
        let mut total: i128 = 0;
        for a in (0..self.source.len()).filter(|&a| !self.is_artificial(a)) {
            total += self.flow[a] as i128 * self.cost[a] as i128;
        }
        total
    }

    /// Changes the cost of an arc; the next [`solve`](Self::solve) starts from the current
    /// basis (which stays feasible) with recomputed potentials.
    pub fn set_cost(&mut self, arc: usize, cost: i64) -> Result<(), FlowError> {
        if arc >= self.arc_count() {
            return Err(FlowError::BadChange(format!("arc {arc} does not exist")));
        }
        if cost.checked_abs().is_none_or(|c| c > self.cost_bound) {
            return Err(FlowError::BadChange(format!(
                "cost {cost} is beyond the declared bound {} (fix: Network::set_cost_bound)",
                self.cost_bound
            )));
        }
        let a = self.real_index(arc);
        self.cost[a] = cost;
        if self.state[a] == STATE_TREE {
            self.potentials_stale = true;
        }
        Ok(())
    }

    /// Adds an arc at zero flow; the next [`solve`](Self::solve) starts from the current basis.
    /// Returns the arc's index.
    pub fn add_arc(&mut self, from: u32, to: u32, capacity: i64, cost: i64) -> Result<usize, FlowError> {
        let arc = self.arc_count();
        for node in [from, to] {
            if node as usize >= self.n {
                return Err(FlowError::BadNode {
                    arc,
                    node,
                    nodes: self.n,
                });
            }
        }
        if capacity < 0 {
            return Err(FlowError::NegativeCapacity { arc, capacity });
        }
        if cost.checked_abs().is_none_or(|c| c > self.cost_bound) {
            return Err(FlowError::BadChange(format!(
                "cost {cost} is beyond the declared bound {} (fix: Network::set_cost_bound)",
                self.cost_bound
            )));
        }
        self.source.push(from);
        self.target.push(to);
        self.cap.push(capacity);
        self.cost.push(cost);
        self.flow.push(0);
        self.state.push(STATE_LOWER);
        self.first_added.get_or_insert(self.source.len() - 1);
        Ok(arc)
    }

    /// Recomputes potentials from the tree (after cost changes).
    fn recompute_potentials(&mut self) {
        let root = self.root;
        self.pi[root] = 0;
        let mut u = self.thread[root];
        while u != root {
            let e = self.pred[u];
            let p = self.parent[u];
            self.pi[u] = self.pi[p] - self.pred_dir[u] as i64 * self.cost[e];
            u = self.thread[u];
        }
        self.potentials_stale = false;
    }

    /// Runs pivots until no arc has a negative reduced cost.
    pub fn solve(&mut self) -> Result<(), FlowError> {
        if self.potentials_stale {
            self.recompute_potentials();
        }
        self.set_block_size();
        if let Some(a) = self.first_added.take() {
            self.next_arc = a;
        }
        if self.next_arc >= self.source.len() {
            self.next_arc = 0;
        }
        while self.find_entering_arc() {
            self.find_join_node();
            let change = self.find_leaving_arc();
            if self.delta == INFINITE {
                return Err(FlowError::Unbounded);
            }
            self.change_flow(change);
            if change {
                self.update_tree_structure();
                self.update_potential();
            }
            self.pivots += 1;
        }
        // Supply still on artificial arcs towards the root could not be routed.
        let unrouted: i64 = (0..self.n)
            .map(|u| self.art_arc(u))
            .filter(|&e| self.target[e] as usize == self.root)
            .map(|e| self.flow[e])
            .sum();
        let stuck: i64 = (0..self.n).map(|u| self.flow[self.art_arc(u)]).sum();
        if stuck > 0 {
            return Err(FlowError::Infeasible {
                unrouted: unrouted.max(1),
            });
        }
        Ok(())
    }

    #[inline]
    fn reduced(&self, e: usize) -> i64 {
        self.cost[e] + self.pi[self.source[e] as usize] - self.pi[self.target[e] as usize]
    }

    /// Block search: scan arcs in blocks from where the last search stopped, take the most
    /// negative reduced cost (signed by state) seen in the first block that has one.
    fn find_entering_arc(&mut self) -> bool {
        let total = self.source.len();
        let mut min: i64 = 0;
        let mut cnt = self.block_size;
        let mut e = self.next_arc;
        let mut best = NONE;
        for _ in 0..total {
            if !(e >= self.art && e < self.art + self.n) {
                let c = self.state[e] as i64 * self.reduced(e);
                if c < min {
                    min = c;
                    best = e;
                }
            }
            e += 1;
            if e == total {
                e = 0;
            }
            cnt -= 1;
            if cnt == 0 {
                if min < 0 {
                    break;
                }
                cnt = self.block_size;
            }
        }
        if min >= 0 {
            return false;
        }
        self.in_arc = best;
        self.next_arc = e;
        true
    }

    fn find_join_node(&mut self) {
        let mut u = self.source[self.in_arc] as usize;
        let mut v = self.target[self.in_arc] as usize;
        while u != v {
            if self.succ_num[u] < self.succ_num[v] {
                u = self.parent[u];
            } else {
                v = self.parent[v];
            }
        }
        self.join = u;
    }

    /// Finds the leaving arc by the strongly-feasible rule; returns false when the entering
    /// arc itself is the bottleneck (it only flips bound).
    fn find_leaving_arc(&mut self) -> bool {
        let in_arc = self.in_arc;
        let (first, second) = if self.state[in_arc] == STATE_LOWER {
            (self.source[in_arc] as usize, self.target[in_arc] as usize)
        } else {
            (self.target[in_arc] as usize, self.source[in_arc] as usize)
        };
        self.delta = self.cap[in_arc];
        let mut result = 0;
        let mut u = first;
        while u != self.join {
            let e = self.pred[u];
            let mut d = self.flow[e];
            if self.pred_dir[u] == DIR_DOWN {
                let c = self.cap[e];
                d = if c == INFINITE { INFINITE } else { c - d };
            }
            if d < self.delta {
                self.delta = d;
                self.u_out = u;
                result = 1;
            }
            u = self.parent[u];
        }
        let mut u = second;
        while u != self.join {
            let e = self.pred[u];
            let mut d = self.flow[e];
            if self.pred_dir[u] == DIR_UP {
                let c = self.cap[e];
                d = if c == INFINITE { INFINITE } else { c - d };
            }
            if d <= self.delta {
                self.delta = d;
                self.u_out = u;
                result = 2;
            }
            u = self.parent[u];
        }
        if result == 1 {
            self.u_in = first;
            self.v_in = second;
        } else {
            self.u_in = second;
            self.v_in = first;
        }
        result != 0
    }

    fn change_flow(&mut self, change: bool) {
        let in_arc = self.in_arc;
        if self.delta > 0 {
            let val = self.state[in_arc] as i64 * self.delta;
            self.flow[in_arc] += val;
            let mut u = self.source[in_arc] as usize;
            while u != self.join {
                let e = self.pred[u];
                self.flow[e] -= self.pred_dir[u] as i64 * val;
                u = self.parent[u];
            }
            let mut u = self.target[in_arc] as usize;
            while u != self.join {
                let e = self.pred[u];
                self.flow[e] += self.pred_dir[u] as i64 * val;
                u = self.parent[u];
            }
        }
        if change {
            self.state[in_arc] = STATE_TREE;
            let out = self.pred[self.u_out];
            self.state[out] = if self.flow[out] == 0 { STATE_LOWER } else { STATE_UPPER };
        } else {
            self.state[in_arc] = -self.state[in_arc];
        }
    }

    fn update_tree_structure(&mut self) {
        let (u_in, v_in, u_out, join, in_arc) = (self.u_in, self.v_in, self.u_out, self.join, self.in_arc);
        let old_rev_thread = self.rev_thread[u_out];
        let old_succ_num = self.succ_num[u_out];
        let old_last_succ = self.last_succ[u_out];
        let v_out = self.parent[u_out];

        if u_in == u_out {
            self.parent[u_in] = v_in;
            self.pred[u_in] = in_arc;
            self.pred_dir[u_in] = if u_in == self.source[in_arc] as usize {
                DIR_UP
            } else {
                DIR_DOWN
            };
            if self.thread[v_in] != u_out {
                let mut after = self.thread[old_last_succ];
                self.thread[old_rev_thread] = after;
                self.rev_thread[after] = old_rev_thread;
                after = self.thread[v_in];
                self.thread[v_in] = u_out;
                self.rev_thread[u_out] = v_in;
                self.thread[old_last_succ] = after;
                self.rev_thread[after] = old_last_succ;
            }
        } else {
            let thread_continue = if old_rev_thread == v_in {
                self.thread[old_last_succ]
            } else {
                self.thread[v_in]
            };
            let mut stem = u_in;
            let mut par_stem = v_in;
            let mut last = self.last_succ[u_in];
            let mut after = self.thread[last];
            self.thread[v_in] = u_in;
            self.dirty_revs.clear();
            self.dirty_revs.push(v_in);
            while stem != u_out {
                let next_stem = self.parent[stem];
                self.thread[last] = next_stem;
                self.dirty_revs.push(last);
                let before = self.rev_thread[stem];
                self.thread[before] = after;
                self.rev_thread[after] = before;
                self.parent[stem] = par_stem;
                par_stem = stem;
                stem = next_stem;
                last = if self.last_succ[stem] == self.last_succ[par_stem] {
                    self.rev_thread[par_stem]
                } else {
                    self.last_succ[stem]
                };
                after = self.thread[last];
            }
            self.parent[u_out] = par_stem;
            self.thread[last] = thread_continue;
            self.rev_thread[thread_continue] = last;
            self.last_succ[u_out] = last;
            if old_rev_thread != v_in {
                self.thread[old_rev_thread] = after;
                self.rev_thread[after] = old_rev_thread;
            }
            for i in 0..self.dirty_revs.len() {
                let u = self.dirty_revs[i];
                let t = self.thread[u];
                self.rev_thread[t] = u;
            }
            let mut tmp_sc: isize = 0;
            let tmp_ls = self.last_succ[u_out];
            let mut u = u_out;
            while u != u_in {
                let p = self.parent[u];
                self.pred[u] = self.pred[p];
                self.pred_dir[u] = -self.pred_dir[p];
                tmp_sc += self.succ_num[u] as isize - self.succ_num[p] as isize;
                self.succ_num[u] = tmp_sc as usize;
                self.last_succ[p] = tmp_ls;
                u = p;
            }
            self.pred[u_in] = in_arc;
            self.pred_dir[u_in] = if u_in == self.source[in_arc] as usize {
                DIR_UP
            } else {
                DIR_DOWN
            };
            self.succ_num[u_in] = old_succ_num;
        }

        let up_limit_out = if self.last_succ[join] == v_in { join } else { NONE };
        let last_succ_out = self.last_succ[u_out];
        let mut u = v_in;
        while u != NONE && self.last_succ[u] == v_in {
            self.last_succ[u] = last_succ_out;
            u = self.parent[u];
        }
        if join != old_rev_thread && v_in != old_rev_thread {
            let mut u = v_out;
            while u != up_limit_out && u != NONE && self.last_succ[u] == old_last_succ {
                self.last_succ[u] = old_rev_thread;
                u = self.parent[u];
            }
        } else if last_succ_out != old_last_succ {
            let mut u = v_out;
            while u != up_limit_out && u != NONE && self.last_succ[u] == old_last_succ {
                self.last_succ[u] = last_succ_out;
                u = self.parent[u];
            }
        }
        let mut u = v_in;
        while u != join {
            self.succ_num[u] += old_succ_num;
            u = self.parent[u];
        }
        let mut u = v_out;
        while u != join {
            self.succ_num[u] -= old_succ_num;
            u = self.parent[u];
        }
    }

    fn update_potential(&mut self) {
        let (u_in, v_in) = (self.u_in, self.v_in);
        let sigma = self.pi[v_in] - self.pi[u_in] - self.pred_dir[u_in] as i64 * self.cost[self.in_arc];
        let end = self.thread[self.last_succ[u_in]];
        let mut u = u_in;
        while u != end {
            self.pi[u] += sigma;
            u = self.thread[u];
        }
    }

    /// Checks the tree invariants (tests only): thread is a preorder, sizes and last
    /// successors match, tree arcs have zero reduced cost, flows conserve.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let total = self.n + 1;
        // Thread visits every node once, starting at the root.
        let mut seen = vec![false; total];
        let mut u = self.root;
        for _ in 0..total {
            if seen[u] {
                return Err(format!("thread revisits {u}"));
            }
            seen[u] = true;
            if self.rev_thread[self.thread[u]] != u {
                return Err(format!("rev_thread mismatch at {u}"));
            }
            u = self.thread[u];
        }
        if u != self.root {
            return Err("thread does not cycle back to the root".into());
        }
        // Subtree sizes by counting along the thread.
        let mut u = self.root;
        let mut order = Vec::new();
        for _ in 0..total {
            order.push(u);
            u = self.thread[u];
        }
        let mut pos = vec![0; total];
        for (i, &v) in order.iter().enumerate() {
            pos[v] = i;
        }
        for v in 0..total {
            let end = pos[v] + self.succ_num[v];
            if end > total {
                return Err(format!("succ_num of {v} too big"));
            }
            for &w in &order[pos[v] + 1..end] {
                // w must be a descendant of v.
                let mut x = w;
                while x != v && x != NONE {
                    x = self.parent[x];
                }
                if x != v {
                    return Err(format!("{w} in subtree span of {v} but not a descendant"));
                }
            }
            if self.last_succ[v] != order[end - 1] {
                return Err(format!("last_succ of {v} wrong"));
            }
            if v != self.root {
                let e = self.pred[v];
                let p = self.parent[v];
                let (s, t) = (self.source[e] as usize, self.target[e] as usize);
                let ok = (self.pred_dir[v] == DIR_UP && s == v && t == p)
                    || (self.pred_dir[v] == DIR_DOWN && s == p && t == v);
                if !ok {
                    return Err(format!("pred arc of {v} does not join it to its parent"));
                }
                if self.state[e] != STATE_TREE {
                    return Err(format!("pred arc of {v} not in the tree"));
                }
                if !self.potentials_stale && self.reduced(e) != 0 {
                    return Err(format!("tree arc {e} has reduced cost {}", self.reduced(e)));
                }
            }
        }
        // Conservation.
        let mut balance = self.supply.clone();
        balance.push(0);
        for a in 0..self.source.len() {
            balance[self.source[a] as usize] -= self.flow[a];
            balance[self.target[a] as usize] += self.flow[a];
            if self.flow[a] < 0 || (self.cap[a] != INFINITE && self.flow[a] > self.cap[a]) {
                return Err(format!("arc {a} flow {} out of bounds", self.flow[a]));
            }
        }
        if balance.iter().any(|&b| b != 0) {
            return Err("flow does not conserve".into());
        }
        Ok(())
    }
}
