//! Primal network simplex with a strongly feasible spanning tree and block-search pricing.
//!
//! The tree is stored as parent / predecessor-arc / thread (preorder successor) / reverse
//! thread / subtree size / last successor arrays, so one pivot touches only the cycle, the
//! re-hung subtree and the paths to the join node. The leaving-arc rule keeps the tree
//! strongly feasible, which rules out cycling. Every node has an artificial arc to an extra
//! root node; the artificial arcs start the basis, carry a big-M cost and never re-enter.

use super::{FlowError, INFINITE, Network};

/// "No node" / "no arc" in the tree arrays (the root's parent and predecessor).
const NIL: u32 = u32::MAX;
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
///
/// Node and arc indices in the tree arrays are `u32` (half the memory of `usize`: the pivots
/// walk these arrays, and the transportation networks of zoning have a few hundred thousand
/// arcs); a network with more than `u32::MAX - 1` nodes plus arcs is refused as too large.
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
    // Tree (nodes 0..=n, `NIL` for none).
    parent: Vec<u32>,
    pred: Vec<u32>,
    /// Per node: potential, thread and reverse thread side by side (see [`Node`]).
    node: Vec<Node>,
    succ_num: Vec<u32>,
    last_succ: Vec<u32>,
    pred_dir: Vec<i8>,
    /// Added (wrapping) to every stored potential to give the true one (the root's is 0).
    pi_shift: i64,
    dirty_revs: Vec<u32>,
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

/// A node's potential (less the solver's `pi_shift`, modulo 2⁶⁴: see
/// [`NetworkSimplex::update_potential`]), its thread successor (preorder) and predecessor, in one
/// place: the walk that updates potentials after a pivot follows the thread and writes the
/// potential of every node it passes, so one cache line per node serves both.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    pi: i64,
    thread: u32,
    rev: u32,
}

/// How [`NetworkSimplex::build`] sets up the first basis.
enum Init<'a> {
    /// Every node on its artificial arc.
    Artificial,
    /// A forest of hinted arcs, the rest on artificial arcs.
    Forest(&'a [Option<usize>]),
    /// Nothing: the caller sets every tree array itself ([`NetworkSimplex::start_from_flow`]).
    Caller,
}

/// The arc and supply lists a solver takes over: copied from a borrowed network, or moved
/// out of an owned one (no copy when it was built with room for the artificial arcs).
struct Parts {
    supply: Vec<i64>,
    source: Vec<u32>,
    target: Vec<u32>,
    cap: Vec<i64>,
    cost: Vec<i64>,
}

impl Parts {
    fn copied(net: &Network) -> Parts {
        let total = net.arc_count() + net.node_count();
        let copy = |v: &[i64]| {
            let mut out = Vec::with_capacity(total);
            out.extend_from_slice(v);
            out
        };
        let copy32 = |v: &[u32]| {
            let mut out = Vec::with_capacity(total);
            out.extend_from_slice(v);
            out
        };
        Parts {
            supply: net.supply.clone(),
            source: copy32(&net.from),
            target: copy32(&net.to),
            cap: copy(&net.cap),
            cost: copy(&net.cost),
        }
    }

    fn owned(net: Network) -> Parts {
        let n = net.node_count();
        let mut p = Parts {
            supply: net.supply,
            source: net.from,
            target: net.to,
            cap: net.cap,
            cost: net.cost,
        };
        p.source.reserve_exact(n);
        p.target.reserve_exact(n);
        p.cap.reserve_exact(n);
        p.cost.reserve_exact(n);
        p
    }
}

impl NetworkSimplex {
    /// Checks a network and sets up the all-artificial starting basis.
    pub fn new(net: &Network) -> Result<Self, FlowError> {
        let max_cost = Self::check(net)?;
        Ok(Self::build(Parts::copied(net), max_cost, Init::Artificial))
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
        let max_cost = Self::check(net)?;
        Ok(Self::build(Parts::copied(net), max_cost, Init::Forest(start)))
    }

    /// Sets up a starting basis from a feasible flow (for example a greedy solution): `flow[a]`
    /// per arc, within bounds, conserving flow at every node. The arcs strictly between their
    /// bounds must form a forest; they become the tree, each tree of it hung on the root by a
    /// zero-flow artificial arc, and saturated arcs start at their upper bound.
    pub fn with_flow(net: &Network, flow: &[i64]) -> Result<Self, FlowError> {
        let max_cost = Self::check(net)?;
        Self::check_flow(net, flow)?;
        Self::build(Parts::copied(net), max_cost, Init::Caller)
            .start_from_flow(flow)
            .map_err(|b| b.0)
    }

    /// [`with_flow`](Self::with_flow) taking the network by value: its lists become the
    /// solver's (no copy when the network was built with room for one more arc per node,
    /// [`Network::with_capacity`]). On an error the network comes back, e.g. for
    /// [`with_start`](Self::with_start).
    pub(crate) fn with_flow_owned(net: Network, flow: &[i64]) -> Result<Self, Box<(FlowError, Network)>> {
        let checked = Self::check(&net).and_then(|c| Self::check_flow(&net, flow).map(|()| c));
        let max_cost = match checked {
            Ok(c) => c,
            Err(e) => return Err(Box::new((e, net))),
        };
        Self::build(Parts::owned(net), max_cost, Init::Caller)
            .start_from_flow(flow)
            .map_err(|b| {
                let (e, s) = *b;
                Box::new((e, s.into_network()))
            })
    }

    /// The network back from a solver that has not pivoted or added arcs (the error path of
    /// [`with_flow_owned`](Self::with_flow_owned)).
    fn into_network(mut self) -> Network {
        let m = self.m;
        self.source.truncate(m);
        self.target.truncate(m);
        self.cap.truncate(m);
        self.cost.truncate(m);
        Network {
            supply: self.supply,
            from: self.source,
            to: self.target,
            cap: self.cap,
            cost: self.cost,
            cost_bound: self.cost_bound,
        }
    }

    /// The checks of [`check_network`](super::check_network), plus indices that fit the
    /// tree arrays. Returns the largest absolute cost.
    fn check(net: &Network) -> Result<i64, FlowError> {
        let max_cost = super::check_network(net, net.cost_bound)?;
        if (net.node_count() as u64 + 1) + (net.arc_count() as u64 + net.node_count() as u64) >= NIL as u64 {
            return Err(FlowError::TooLarge {
                what: "the number of nodes plus arcs",
            });
        }
        Ok(max_cost)
    }

    /// What [`with_flow`](Self::with_flow) needs of the start flow before the tree is built
    /// (after [`check`](Self::check), so every arc's nodes exist).
    fn check_flow(net: &Network, flow: &[i64]) -> Result<(), FlowError> {
        let bad = |m: String| Err(FlowError::BadChange(m));
        if flow.len() != net.arc_count() {
            return bad(format!(
                "the start flow has {} entries for {} arcs (fix: give one per arc)",
                flow.len(),
                net.arc_count()
            ));
        }
        let mut balance = net.supply.clone();
        for (a, &f) in flow.iter().enumerate() {
            if f < 0 || (net.cap[a] != INFINITE && f > net.cap[a]) {
                return bad(format!("the start flow on arc {a} is {f}, outside 0..capacity"));
            }
            balance[net.from[a] as usize] -= f;
            balance[net.to[a] as usize] += f;
        }
        if let Some(u) = balance.iter().position(|&b| b != 0) {
            return bad(format!("the start flow does not conserve at node {u}"));
        }
        Ok(())
    }

    /// The tree of a start flow checked by [`check_flow`](Self::check_flow): the free arcs
    /// (strictly between their bounds) as a forest, each tree hung on the root by a zero-flow
    /// artificial arc from its lowest node. Fails (giving the solver back) when the free arcs
    /// form a cycle.
    fn start_from_flow(mut self, flow: &[i64]) -> Result<Self, Box<(FlowError, Self)>> {
        let n = self.n;
        for u in 0..n {
            let e = self.art_arc(u);
            self.state[e] = STATE_LOWER;
            self.set_artificial(u, 0);
        }
        // Union-find over free arcs.
        let mut uf: Vec<u32> = (0..n as u32).collect();
        fn find(uf: &mut [u32], mut x: usize) -> usize {
            while uf[x] as usize != x {
                uf[x] = uf[uf[x] as usize];
                x = uf[x] as usize;
            }
            x
        }
        let mut adj_count = vec![0u32; n + 1];
        let mut tree_arcs: Vec<u32> = Vec::with_capacity(n);
        for (a, &f) in flow.iter().enumerate() {
            let c = self.cap[a];
            self.flow[a] = f;
            if f > 0 && (c == INFINITE || f < c) {
                let (u, v) = (self.source[a] as usize, self.target[a] as usize);
                let (ru, rv) = (find(&mut uf, u), find(&mut uf, v));
                if ru == rv {
                    return Err(Box::new((
                        FlowError::BadChange(format!("the start flow's free arcs form a cycle through arc {a}")),
                        self,
                    )));
                }
                uf[ru] = rv as u32;
                tree_arcs.push(a as u32);
                adj_count[u + 1] += 1;
                adj_count[v + 1] += 1;
                self.state[a] = STATE_TREE;
            } else if f > 0 {
                self.state[a] = STATE_UPPER;
            } else {
                self.state[a] = STATE_LOWER;
            }
        }
        drop(uf);
        for i in 0..n {
            adj_count[i + 1] += adj_count[i];
        }
        let mut fill = adj_count.clone();
        let mut adj = vec![0u32; adj_count[n] as usize];
        for &a in &tree_arcs {
            let (u, v) = (self.source[a as usize] as usize, self.target[a as usize] as usize);
            adj[fill[u] as usize] = a;
            fill[u] += 1;
            adj[fill[v] as usize] = a;
            fill[v] += 1;
        }
        drop(fill);
        drop(tree_arcs);
        // Preorder from each component's lowest node, which hangs on the root.
        let root = self.root;
        let mut seen = vec![false; n];
        let mut order: Vec<u32> = Vec::with_capacity(n + 1);
        order.push(root as u32);
        self.parent[root] = NIL;
        self.pred[root] = NIL;
        self.node[root].pi = 0;
        let mut stack: Vec<(u32, u32)> = Vec::new();
        for r in 0..n {
            if seen[r] {
                continue;
            }
            seen[r] = true;
            let e = self.art_arc(r);
            self.parent[r] = root as u32;
            self.pred[r] = e as u32;
            self.state[e] = STATE_TREE;
            self.set_artificial(r, 0);
            self.node[r].pi = 0;
            order.push(r as u32);
            stack.push((r as u32, adj_count[r]));
            while let Some(&mut (u, ref mut next)) = stack.last_mut() {
                let u = u as usize;
                if *next < adj_count[u + 1] {
                    let a = adj[*next as usize] as usize;
                    *next += 1;
                    let (x, y) = (self.source[a] as usize, self.target[a] as usize);
                    let v = if x == u { y } else { x };
                    if seen[v] {
                        continue;
                    }
                    seen[v] = true;
                    self.parent[v] = u as u32;
                    self.pred[v] = a as u32;
                    if x == v {
                        self.pred_dir[v] = DIR_UP;
                        self.node[v].pi = self.node[u].pi - self.cost[a];
                    } else {
                        self.pred_dir[v] = DIR_DOWN;
                        self.node[v].pi = self.node[u].pi + self.cost[a];
                    }
                    order.push(v as u32);
                    stack.push((v as u32, adj_count[v]));
                } else {
                    stack.pop();
                }
            }
        }
        self.finish_tree(&order);
        Ok(self)
    }

    /// Thread, reverse thread, subtree sizes and last successors from a preorder.
    fn finish_tree(&mut self, order: &[u32]) {
        let n = self.n;
        for i in 0..order.len() {
            let u = order[i];
            let v = order[(i + 1) % order.len()];
            self.node[u as usize].thread = v;
            self.node[v as usize].rev = u;
        }
        for u in 0..=n {
            self.succ_num[u] = 1;
        }
        for &u in order.iter().rev() {
            let p = self.parent[u as usize];
            if p != NIL {
                self.succ_num[p as usize] += self.succ_num[u as usize];
            }
        }
        let mut pos = vec![0u32; n + 1];
        for (i, &u) in order.iter().enumerate() {
            pos[u as usize] = i as u32;
        }
        for u in 0..=n {
            self.last_succ[u] = order[(pos[u] + self.succ_num[u] - 1) as usize];
        }
    }

    fn build(parts: Parts, max_cost: i64, init: Init) -> Self {
        let n = parts.supply.len();
        let m = parts.source.len();
        // The big-M cost: more than any simple path of real arcs (bounded by the check).
        let art_cost = ((max_cost as i128 + 1) * (n as i128 + 1)) as i64;

        let total_arcs = m + n;
        let flow = vec![0; total_arcs];
        let state = vec![STATE_LOWER; total_arcs];
        let mut s = NetworkSimplex {
            n,
            m,
            root: n,
            source: parts.source,
            target: parts.target,
            cap: parts.cap,
            cost: parts.cost,
            flow,
            state,
            art: m,
            supply: parts.supply,
            parent: vec![NIL; n + 1],
            pred: vec![NIL; n + 1],
            node: vec![Node::default(); n + 1],
            succ_num: vec![1; n + 1],
            last_succ: vec![0; n + 1],
            pred_dir: vec![DIR_UP; n + 1],
            pi_shift: 0,
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
        for u in 0..n {
            s.source.push(u as u32);
            s.target.push(n as u32);
            s.cap.push(INFINITE);
            s.cost.push(0);
        }
        s.set_block_size();
        match init {
            Init::Artificial => s.init_artificial(),
            Init::Forest(hints) => s.init_forest(hints),
            Init::Caller => {}
        }
        s
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
        self.parent[root] = NIL;
        self.pred[root] = NIL;
        self.node[root].thread = 0;
        self.node[0].rev = root as u32;
        self.succ_num[root] = n as u32 + 1;
        self.last_succ[root] = if n == 0 { root as u32 } else { n as u32 - 1 };
        self.node[root].pi = 0;
        if n == 0 {
            self.node[root].thread = root as u32;
            self.node[root].rev = root as u32;
        }
        for u in 0..n {
            let e = self.art_arc(u);
            self.parent[u] = root as u32;
            self.pred[u] = e as u32;
            self.node[u].thread = u as u32 + 1;
            self.node[u + 1].rev = u as u32;
            self.succ_num[u] = 1;
            self.last_succ[u] = u as u32;
            self.state[e] = STATE_TREE;
            self.set_artificial(u, self.supply[u]);
            self.node[u].pi = if self.pred_dir[u] == DIR_UP { 0 } else { self.art_cost };
        }
    }

    fn init_forest(&mut self, hints: &[Option<usize>]) {
        const NONE: usize = usize::MAX;
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
        let mut order: Vec<u32> = Vec::with_capacity(n + 1); // preorder of the final forest
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
        self.parent[root] = NIL;
        self.pred[root] = NIL;
        self.node[root].pi = 0;
        order.push(root as u32);
        for r in 0..n {
            if keep[r] {
                continue;
            }
            // r hangs on the root by its artificial arc.
            let e = self.art_arc(r);
            self.parent[r] = root as u32;
            self.pred[r] = e as u32;
            self.state[e] = STATE_TREE;
            self.set_artificial(r, acc[r]);
            self.node[r].pi = if self.pred_dir[r] == DIR_UP { 0 } else { self.art_cost };
            stack.push((r, count[r]));
            order.push(r as u32);
            while let Some(&mut (u, ref mut next)) = stack.last_mut() {
                if *next < count[u + 1] {
                    let c = children[*next];
                    *next += 1;
                    if !keep[c] {
                        continue;
                    }
                    let a = hint[c];
                    self.parent[c] = u as u32;
                    self.pred[c] = a as u32;
                    self.pred_dir[c] = DIR_UP;
                    self.state[a] = STATE_TREE;
                    self.flow[a] = acc[c];
                    self.node[c].pi = self.node[u].pi - self.cost[a];
                    order.push(c as u32);
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
        self.node[node as usize].pi.wrapping_add(self.pi_shift)
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
        if self.source.len() + 1 >= NIL as usize {
            return Err(FlowError::TooLarge {
                what: "the number of nodes plus arcs",
            });
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
        self.pi_shift = 0;
        self.node[root].pi = 0;
        let mut u = self.node[root].thread as usize;
        while u != root {
            let e = self.pred[u] as usize;
            let p = self.parent[u] as usize;
            self.node[u].pi = self.node[p].pi - self.pred_dir[u] as i64 * self.cost[e];
            u = self.node[u].thread as usize;
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

    #[cfg(test)]
    fn reduced(&self, e: usize) -> i64 {
        self.cost[e]
            .wrapping_add(self.node[self.source[e] as usize].pi)
            .wrapping_sub(self.node[self.target[e] as usize].pi)
    }

    /// The most negative `state × reduced cost` over arcs `lo..hi` that is below `min`, as
    /// (value, arc); the first such arc wins ties, as in a plain scan.
    #[inline]
    fn scan(&self, lo: usize, hi: usize, mut min: i64, mut best: usize) -> (i64, usize) {
        let node = &self.node[..];
        let arcs = self.state[lo..hi]
            .iter()
            .zip(&self.cost[lo..hi])
            .zip(self.source[lo..hi].iter().zip(&self.target[lo..hi]));
        for (i, ((&state, &cost), (&from, &to))) in arcs.enumerate() {
            // Wrapping: stored potentials carry the shift, their difference is exact.
            let c = state as i64
                * cost
                    .wrapping_add(node[from as usize].pi)
                    .wrapping_sub(node[to as usize].pi);
            if c < min {
                min = c;
                best = lo + i;
            }
        }
        (min, best)
    }

    /// Block search: scan arcs in blocks from where the last search stopped, take the most
    /// negative reduced cost (signed by state) seen in the first block that has one.
    /// Artificial arcs count towards a block's length but are never taken. The scan runs over
    /// straight stretches of arcs (split at the artificial ones and at the wrap-around), so
    /// the inner loop carries no index checks; it visits and picks exactly as an arc-by-arc
    /// scan would.
    fn find_entering_arc(&mut self) -> bool {
        let total = self.source.len();
        let (art_lo, art_hi) = (self.art, self.art + self.n);
        let mut min: i64 = 0;
        let mut best = usize::MAX;
        let mut e = self.next_arc;
        let mut left = total;
        while left > 0 {
            // One block: `len` positions from `e`, wrapping at `total`.
            let len = self.block_size.min(left);
            let mut todo = len;
            while todo > 0 {
                let hi = (e + todo).min(total);
                // Real arcs of e..hi: before and after the artificial stretch.
                let a = hi.min(art_lo);
                if e < a {
                    (min, best) = self.scan(e, a, min, best);
                }
                let b = e.max(art_hi);
                if b < hi {
                    (min, best) = self.scan(b, hi, min, best);
                }
                todo -= hi - e;
                e = if hi == total { 0 } else { hi };
            }
            left -= len;
            if min < 0 {
                break;
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
                u = self.parent[u] as usize;
            } else {
                v = self.parent[v] as usize;
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
            let e = self.pred[u] as usize;
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
            u = self.parent[u] as usize;
        }
        let mut u = second;
        while u != self.join {
            let e = self.pred[u] as usize;
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
            u = self.parent[u] as usize;
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
                let e = self.pred[u] as usize;
                self.flow[e] -= self.pred_dir[u] as i64 * val;
                u = self.parent[u] as usize;
            }
            let mut u = self.target[in_arc] as usize;
            while u != self.join {
                let e = self.pred[u] as usize;
                self.flow[e] += self.pred_dir[u] as i64 * val;
                u = self.parent[u] as usize;
            }
        }
        if change {
            self.state[in_arc] = STATE_TREE;
            let out = self.pred[self.u_out] as usize;
            self.state[out] = if self.flow[out] == 0 { STATE_LOWER } else { STATE_UPPER };
        } else {
            self.state[in_arc] = -self.state[in_arc];
        }
    }

    fn update_tree_structure(&mut self) {
        let (u_in, v_in, u_out, join, in_arc) = (
            self.u_in as u32,
            self.v_in as u32,
            self.u_out as u32,
            self.join as u32,
            self.in_arc as u32,
        );
        let at = |x: u32| x as usize;
        let old_rev_thread = self.node[at(u_out)].rev;
        let old_succ_num = self.succ_num[at(u_out)];
        let old_last_succ = self.last_succ[at(u_out)];
        let v_out = self.parent[at(u_out)];
        let dir_of_u_in = if u_in == self.source[at(in_arc)] {
            DIR_UP
        } else {
            DIR_DOWN
        };

        if u_in == u_out {
            self.parent[at(u_in)] = v_in;
            self.pred[at(u_in)] = in_arc;
            self.pred_dir[at(u_in)] = dir_of_u_in;
            if self.node[at(v_in)].thread != u_out {
                let mut after = self.node[at(old_last_succ)].thread;
                self.node[at(old_rev_thread)].thread = after;
                self.node[at(after)].rev = old_rev_thread;
                after = self.node[at(v_in)].thread;
                self.node[at(v_in)].thread = u_out;
                self.node[at(u_out)].rev = v_in;
                self.node[at(old_last_succ)].thread = after;
                self.node[at(after)].rev = old_last_succ;
            }
        } else {
            let thread_continue = if old_rev_thread == v_in {
                self.node[at(old_last_succ)].thread
            } else {
                self.node[at(v_in)].thread
            };
            let mut stem = u_in;
            let mut par_stem = v_in;
            let mut last = self.last_succ[at(u_in)];
            let mut after = self.node[at(last)].thread;
            self.node[at(v_in)].thread = u_in;
            self.dirty_revs.clear();
            self.dirty_revs.push(v_in);
            while stem != u_out {
                let next_stem = self.parent[at(stem)];
                self.node[at(last)].thread = next_stem;
                self.dirty_revs.push(last);
                let before = self.node[at(stem)].rev;
                self.node[at(before)].thread = after;
                self.node[at(after)].rev = before;
                self.parent[at(stem)] = par_stem;
                par_stem = stem;
                stem = next_stem;
                last = if self.last_succ[at(stem)] == self.last_succ[at(par_stem)] {
                    self.node[at(par_stem)].rev
                } else {
                    self.last_succ[at(stem)]
                };
                after = self.node[at(last)].thread;
            }
            self.parent[at(u_out)] = par_stem;
            self.node[at(last)].thread = thread_continue;
            self.node[at(thread_continue)].rev = last;
            self.last_succ[at(u_out)] = last;
            if old_rev_thread != v_in {
                self.node[at(old_rev_thread)].thread = after;
                self.node[at(after)].rev = old_rev_thread;
            }
            for i in 0..self.dirty_revs.len() {
                let u = self.dirty_revs[i];
                let t = self.node[at(u)].thread;
                self.node[at(t)].rev = u;
            }
            let mut tmp_sc: i64 = 0;
            let tmp_ls = self.last_succ[at(u_out)];
            let mut u = u_out;
            while u != u_in {
                let p = self.parent[at(u)];
                self.pred[at(u)] = self.pred[at(p)];
                self.pred_dir[at(u)] = -self.pred_dir[at(p)];
                tmp_sc += self.succ_num[at(u)] as i64 - self.succ_num[at(p)] as i64;
                self.succ_num[at(u)] = tmp_sc as u32;
                self.last_succ[at(p)] = tmp_ls;
                u = p;
            }
            self.pred[at(u_in)] = in_arc;
            self.pred_dir[at(u_in)] = dir_of_u_in;
            self.succ_num[at(u_in)] = old_succ_num;
        }

        let up_limit_out = if self.last_succ[at(join)] == v_in { join } else { NIL };
        let last_succ_out = self.last_succ[at(u_out)];
        let mut u = v_in;
        while u != NIL && self.last_succ[at(u)] == v_in {
            self.last_succ[at(u)] = last_succ_out;
            u = self.parent[at(u)];
        }
        if join != old_rev_thread && v_in != old_rev_thread {
            let mut u = v_out;
            while u != up_limit_out && u != NIL && self.last_succ[at(u)] == old_last_succ {
                self.last_succ[at(u)] = old_rev_thread;
                u = self.parent[at(u)];
            }
        } else if last_succ_out != old_last_succ {
            let mut u = v_out;
            while u != up_limit_out && u != NIL && self.last_succ[at(u)] == old_last_succ {
                self.last_succ[at(u)] = last_succ_out;
                u = self.parent[at(u)];
            }
        }
        let mut u = v_in;
        while u != join {
            self.succ_num[at(u)] += old_succ_num;
            u = self.parent[at(u)];
        }
        let mut u = v_out;
        while u != join {
            self.succ_num[at(u)] -= old_succ_num;
            u = self.parent[at(u)];
        }
    }

    /// Raises the potentials of the re-hung subtree by σ (the entering arc's reduced cost, so
    /// that it becomes 0). Only differences of potentials matter (reduced costs, seat prices),
    /// so when the subtree holds more than half the nodes the rest are lowered by σ instead
    /// and `pi_shift` grows by σ: the same reduced costs, hence the same pivots, with the
    /// shorter of the two walks along the thread. Stored potentials and the shift wrap around
    /// (two's complement): every true potential and reduced cost fits in an `i64` (the network
    /// check bounds them), so differences of stored values are exact even when the stored
    /// values themselves wrapped.
    fn update_potential(&mut self) {
        let (u_in, v_in) = (self.u_in, self.v_in);
        let sigma = self.node[v_in]
            .pi
            .wrapping_sub(self.node[u_in].pi)
            .wrapping_sub(self.pred_dir[u_in] as i64 * self.cost[self.in_arc]);
        let end = self.node[self.last_succ[u_in] as usize].thread as usize;
        let inside = self.succ_num[u_in] as usize;
        let node = &mut self.node[..];
        if 2 * inside <= node.len() {
            let mut u = u_in;
            while u != end {
                node[u].pi = node[u].pi.wrapping_add(sigma);
                u = node[u].thread as usize;
            }
        } else {
            let mut u = end;
            while u != u_in {
                node[u].pi = node[u].pi.wrapping_sub(sigma);
                u = node[u].thread as usize;
            }
            self.pi_shift = self.pi_shift.wrapping_add(sigma);
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
            if self.node[self.node[u].thread as usize].rev as usize != u {
                return Err(format!("rev_thread mismatch at {u}"));
            }
            u = self.node[u].thread as usize;
        }
        if u != self.root {
            return Err("thread does not cycle back to the root".into());
        }
        // Subtree sizes by counting along the thread.
        let mut u = self.root;
        let mut order = Vec::new();
        for _ in 0..total {
            order.push(u);
            u = self.node[u].thread as usize;
        }
        let mut pos = vec![0; total];
        for (i, &v) in order.iter().enumerate() {
            pos[v] = i;
        }
        for v in 0..total {
            let end = pos[v] + self.succ_num[v] as usize;
            if end > total {
                return Err(format!("succ_num of {v} too big"));
            }
            for &w in &order[pos[v] + 1..end] {
                // w must be a descendant of v.
                let mut x = w;
                while x != v && x != NIL as usize {
                    x = self.parent[x] as usize;
                }
                if x != v {
                    return Err(format!("{w} in subtree span of {v} but not a descendant"));
                }
            }
            if self.last_succ[v] as usize != order[end - 1] {
                return Err(format!("last_succ of {v} wrong"));
            }
            if v != self.root {
                let e = self.pred[v] as usize;
                let p = self.parent[v] as usize;
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
