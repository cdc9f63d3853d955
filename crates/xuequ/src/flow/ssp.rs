//! Successive shortest paths with node potentials: the textbook min-cost-flow algorithm,
//! written plainly as the reference the network simplex is measured against (see
//! `docs/performance.md`) and as a second exact solver in tests.
//!
//! 1. Finite-capacity arcs of negative cost are saturated up front (their reverse residual
//!    arc then costs the opposite, a positive amount).
//! 2. If negative arcs remain (uncapacitated ones), Bellman–Ford from a virtual root finds
//!    potentials; every negative cycle it meets is cancelled, and one that can carry unlimited
//!    flow means the cost is unbounded below.
//! 3. For each node with excess in turn, repeatedly: Dijkstra on reduced costs from it,
//!    stopped at the first node with a deficit; augment along that path by the smallest of the excess,
//!    the deficit and the residual capacities; update potentials so reduced costs stay
//!    non-negative (settled nodes gain `dist − d_t`, where `d_t` is the deficit node's
//!    distance). When no deficit is reachable while excess remains, the network is infeasible.
//!
//! Non-negative reduced costs on every residual arc at the end prove optimality.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{FlowError, INFINITE, Network};

/// An optimal flow found by [`successive_shortest_paths`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SspSolution {
    /// Flow on each arc of the network, in the order the arcs were added.
    pub flow: Vec<i64>,
    /// Σ flow × cost.
    pub total_cost: i128,
    /// Node potentials proving optimality: `cost + π(from) − π(to) ≥ 0` on every arc with
    /// residual capacity, `≤ 0` on every arc carrying flow.
    pub potential: Vec<i64>,
    /// Shortest-path searches run.
    pub searches: u64,
}

/// The residual graph: arc `2a` is network arc `a` forward, `2a + 1` its reverse.
struct Residual {
    head: Vec<u32>,
    cap: Vec<i64>,
    cost: Vec<i64>,
    start: Vec<u32>,
    order: Vec<u32>,
}

impl Residual {
    fn new(net: &Network) -> Residual {
        let n = net.node_count();
        let m = net.arc_count();
        let mut head = Vec::with_capacity(2 * m);
        let mut cap = Vec::with_capacity(2 * m);
        let mut cost = Vec::with_capacity(2 * m);
        let mut degree = vec![0u32; n + 1];
        for a in 0..m {
            head.push(net.to[a]);
            head.push(net.from[a]);
            cap.push(net.cap[a]);
            cap.push(0);
            cost.push(net.cost[a]);
            cost.push(-net.cost[a]);
            degree[net.from[a] as usize + 1] += 1;
            degree[net.to[a] as usize + 1] += 1;
        }
        for u in 0..n {
            degree[u + 1] += degree[u];
        }
        let start = degree.clone();
        let mut fill = degree;
        let mut order = vec![0u32; 2 * m];
        for a in 0..m {
            for (e, tail) in [(2 * a, net.from[a]), (2 * a + 1, net.to[a])] {
                order[fill[tail as usize] as usize] = e as u32;
                fill[tail as usize] += 1;
            }
        }
        Residual {
            head,
            cap,
            cost,
            start,
            order,
        }
    }

    fn out(&self, u: usize) -> &[u32] {
        &self.order[self.start[u] as usize..self.start[u + 1] as usize]
    }

    fn tail(&self, e: usize) -> usize {
        self.head[e ^ 1] as usize
    }

    /// Pushes `f` units along residual arc `e` (INFINITE capacities stay infinite).
    fn push(&mut self, e: usize, f: i64) {
        if self.cap[e] != INFINITE {
            self.cap[e] -= f;
        }
        if self.cap[e ^ 1] != INFINITE {
            self.cap[e ^ 1] += f;
        }
    }
}

/// Bellman–Ford potentials over the residual graph from a virtual root joined to every node at
/// cost 0, cancelling negative cycles as they are found.
fn initial_potentials(g: &mut Residual, n: usize) -> Result<Vec<i64>, FlowError> {
    loop {
        let mut dist = vec![0i64; n];
        let mut via = vec![u32::MAX; n];
        let mut last_changed = None;
        for _ in 0..=n {
            last_changed = None;
            for u in 0..n {
                for &e in g.out(u) {
                    let e = e as usize;
                    let v = g.head[e] as usize;
                    if g.cap[e] > 0 && dist[u] + g.cost[e] < dist[v] {
                        dist[v] = dist[u] + g.cost[e];
                        via[v] = e as u32;
                        last_changed = Some(v);
                    }
                }
            }
            if last_changed.is_none() {
                return Ok(dist);
            }
        }
        // Still relaxing after n rounds: walk back n steps to land on a cycle, then cancel it.
        let Some(mut v) = last_changed else {
            return Ok(dist);
        };
        for _ in 0..n {
            if via[v] == u32::MAX {
                // Cannot happen (a relaxation in round n + 1 implies a cycle of `via` arcs).
                return Err(FlowError::BadChange("Bellman–Ford found no cycle to cancel".into()));
            }
            v = g.tail(via[v] as usize);
        }
        let mut cycle = Vec::new();
        let mut u = v;
        loop {
            if via[u] == u32::MAX || cycle.len() > n {
                return Err(FlowError::BadChange("Bellman–Ford found no cycle to cancel".into()));
            }
            let e = via[u] as usize;
            cycle.push(e);
            u = g.tail(e);
            if u == v {
                break;
            }
        }
        let f = cycle.iter().map(|&e| g.cap[e]).min().unwrap_or(0);
        if f == INFINITE {
            return Err(FlowError::Unbounded);
        }
        for &e in &cycle {
            g.push(e, f);
        }
    }
}

/// Solves a network by successive shortest paths (see the module docs). Same errors as the
/// network simplex: the network is checked the same way, no feasible flow gives
/// [`FlowError::Infeasible`], and a negative cycle of unlimited capacity
/// [`FlowError::Unbounded`].
pub fn successive_shortest_paths(net: &Network) -> Result<SspSolution, FlowError> {
    super::check_network(net, 0)?;
    let n = net.node_count();
    let m = net.arc_count();
    let mut g = Residual::new(net);
    let mut excess: Vec<i64> = net.supply.clone();
    // 1. Saturate finite negative arcs.
    for a in 0..m {
        if net.cost[a] < 0 && net.cap[a] != INFINITE && net.cap[a] > 0 {
            let c = net.cap[a];
            g.push(2 * a, c);
            excess[net.from[a] as usize] -= c;
            excess[net.to[a] as usize] += c;
        }
    }
    // 2. Potentials (all zero when no negative arc is left).
    let any_negative = (0..m).any(|a| net.cost[a] < 0 && net.cap[a] == INFINITE);
    let mut pot = if any_negative {
        initial_potentials(&mut g, n)?
    } else {
        vec![0i64; n]
    };
    // 3. Augment along shortest paths.
    let mut dist = vec![i64::MAX; n];
    let mut via = vec![u32::MAX; n];
    let mut settled: Vec<u32> = Vec::new();
    let mut done = vec![false; n];
    let mut heap: BinaryHeap<Reverse<(i64, u32)>> = BinaryHeap::new();
    let mut searches = 0u64;
    // One source at a time, in node order: a search then stays near its source.
    let sources: Vec<u32> = (0..n as u32).filter(|&u| excess[u as usize] > 0).collect();
    let mut next_source = 0usize;
    loop {
        while next_source < sources.len() && excess[sources[next_source] as usize] <= 0 {
            next_source += 1;
        }
        let Some(&source) = sources.get(next_source) else {
            break;
        };
        searches += 1;
        for &u in &settled {
            dist[u as usize] = i64::MAX;
            done[u as usize] = false;
        }
        settled.clear();
        heap.clear();
        let mut touched: Vec<u32> = Vec::new();
        dist[source as usize] = 0;
        via[source as usize] = u32::MAX;
        touched.push(source);
        heap.push(Reverse((0, source)));
        let mut found = None;
        while let Some(Reverse((d, u))) = heap.pop() {
            let u = u as usize;
            if done[u] || d > dist[u] {
                continue;
            }
            done[u] = true;
            settled.push(u as u32);
            if excess[u] < 0 {
                found = Some((u, d));
                break;
            }
            for &e in g.out(u) {
                let e = e as usize;
                if g.cap[e] <= 0 {
                    continue;
                }
                let v = g.head[e] as usize;
                let nd = d + g.cost[e] + pot[u] - pot[v];
                if nd < dist[v] {
                    if dist[v] == i64::MAX {
                        touched.push(v as u32);
                    }
                    dist[v] = nd;
                    via[v] = e as u32;
                    heap.push(Reverse((nd, v as u32)));
                }
            }
        }
        // Tentative distances of unsettled nodes are forgotten with the settled ones.
        for &u in &touched {
            if !done[u as usize] {
                dist[u as usize] = i64::MAX;
            }
        }
        let Some((t, dt)) = found else {
            let unrouted: i64 = sources.iter().map(|&u| excess[u as usize].max(0)).sum();
            return Err(FlowError::Infeasible { unrouted });
        };
        for &u in &settled {
            pot[u as usize] += dist[u as usize] - dt;
        }
        // The path back from t to its source, and how much it can carry.
        let mut f = -excess[t];
        let mut v = t;
        while via[v] != u32::MAX {
            let e = via[v] as usize;
            f = f.min(g.cap[e]);
            v = g.tail(e);
        }
        f = f.min(excess[v]);
        let mut w = t;
        while via[w] != u32::MAX {
            let e = via[w] as usize;
            g.push(e, f);
            w = g.tail(e);
        }
        excess[v] -= f;
        excess[t] += f;
    }
    let mut flow = vec![0i64; m];
    let mut total_cost: i128 = 0;
    for (a, fl) in flow.iter_mut().enumerate() {
        // The reverse arc's capacity is the flow pushed forward.
        *fl = g.cap[2 * a + 1];
        total_cost += *fl as i128 * net.cost[a] as i128;
    }
    Ok(SspSolution {
        flow,
        total_cost,
        potential: pot,
        searches,
    })
}
