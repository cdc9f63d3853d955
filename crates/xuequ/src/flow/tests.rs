//! The network simplex against independent solvers on many small random networks: a plain
//! successive-shortest-path solver (Bellman–Ford on the residual graph, no potentials, no
//! cleverness) for the optimal cost, and the complementary-slackness certificate for the
//! returned potentials.
#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

use super::{FlowError, INFINITE, Network, NetworkSimplex};

/// SplitMix64: a tiny seeded generator for test instances.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

/// The oracle: successive shortest paths with Bellman–Ford. Returns the optimal cost, or
/// `None` when not every supply can be routed.
pub(crate) fn ssp_oracle(net: &Network) -> Option<i128> {
    let n = net.node_count();
    let (s, t) = (n, n + 1);
    // Residual arcs: (to, cap, cost, rev).
    let mut to = Vec::new();
    let mut cap: Vec<i64> = Vec::new();
    let mut cost = Vec::new();
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n + 2];
    let big: i64 = 1 << 40;
    let mut add = |u: usize, v: usize, c: i64, w: i64, adj: &mut Vec<Vec<usize>>| {
        adj[u].push(to.len());
        to.push(v);
        cap.push(c);
        cost.push(w);
        adj[v].push(to.len());
        to.push(u);
        cap.push(0);
        cost.push(-w);
    };
    // Negative-cost arcs (always finitely capacitated here) are saturated up front and
    // replaced by their positive-cost reverse, so Bellman–Ford never meets a negative cycle.
    let mut supply = net.supply.clone();
    let mut total: i128 = 0;
    for a in 0..net.arc_count() {
        let (u, v) = (net.from[a] as usize, net.to[a] as usize);
        let c = if net.cap[a] == INFINITE { big } else { net.cap[a] };
        if net.cost[a] < 0 {
            assert!(
                net.cap[a] != INFINITE,
                "the oracle needs negative arcs to be capacitated"
            );
            add(v, u, c, -net.cost[a], &mut adj);
            supply[u] -= c;
            supply[v] += c;
            total += c as i128 * net.cost[a] as i128;
        } else {
            add(u, v, c, net.cost[a], &mut adj);
        }
    }
    let mut need = 0i64;
    for u in 0..n {
        let b = supply[u];
        if b > 0 {
            add(s, u, b, 0, &mut adj);
            need += b;
        } else if b < 0 {
            add(u, t, -b, 0, &mut adj);
        }
    }
    let mut sent = 0i64;
    loop {
        // Bellman–Ford from s.
        let mut dist = vec![i64::MAX; n + 2];
        let mut via = vec![usize::MAX; n + 2];
        dist[s] = 0;
        for _ in 0..n + 2 {
            let mut changed = false;
            for u in 0..n + 2 {
                if dist[u] == i64::MAX {
                    continue;
                }
                for &e in &adj[u] {
                    if cap[e] > 0 && dist[u] + cost[e] < dist[to[e]] {
                        dist[to[e]] = dist[u] + cost[e];
                        via[to[e]] = e;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        if dist[t] == i64::MAX {
            break;
        }
        let mut f = i64::MAX;
        let mut v = t;
        while v != s {
            let e = via[v];
            f = f.min(cap[e]);
            v = to[e ^ 1];
        }
        let mut v = t;
        while v != s {
            let e = via[v];
            cap[e] -= f;
            cap[e ^ 1] += f;
            v = to[e ^ 1];
        }
        total += f as i128 * dist[t] as i128;
        sent += f;
    }
    (sent == need).then_some(total)
}

/// Checks feasibility and complementary slackness of the solver's flows and potentials:
/// together they prove optimality without reference to any other solver.
fn certify(net: &Network, solver: &NetworkSimplex) {
    let mut balance = net.supply.clone();
    for a in 0..solver.arc_count() {
        let (u, v) = solver.arc(a);
        let f = solver.flow(a);
        let cap = if a < net.arc_count() { net.cap[a] } else { INFINITE };
        assert!(f >= 0 && (cap == INFINITE || f <= cap), "arc {a} flow {f} cap {cap}");
        balance[u as usize] -= f;
        balance[v as usize] += f;
        let rc = solver.cost(a) + solver.potential(u) - solver.potential(v);
        if f == 0 {
            assert!(rc >= 0 || cap == 0, "arc {a} at zero flow has reduced cost {rc}");
        } else if cap != INFINITE && f == cap {
            assert!(rc <= 0, "saturated arc {a} has reduced cost {rc}");
        } else {
            assert_eq!(rc, 0, "arc {a} strictly inside its bounds has reduced cost {rc}");
        }
    }
    assert!(balance.iter().all(|&b| b == 0), "flow does not conserve: {balance:?}");
}

/// A random network: general digraph or a transportation shape.
fn random_network(r: &mut Rng, transport: bool) -> Network {
    if transport {
        let blocks = 1 + r.below(7) as usize;
        let schools = 1 + r.below(4) as usize;
        let n = blocks + schools + 1;
        let mut net = Network::new(n);
        let sink = (n - 1) as u32;
        let mut total = 0;
        for b in 0..blocks {
            let d = r.range(0, 9);
            net.set_supply(b as u32, d);
            total += d;
        }
        net.set_supply(sink, -total);
        for s in 0..schools {
            net.add_arc((blocks + s) as u32, sink, r.range(0, 12), 0);
        }
        for b in 0..blocks {
            for s in 0..schools {
                if r.below(3) > 0 {
                    net.add_arc(b as u32, (blocks + s) as u32, INFINITE, r.range(0, 30));
                }
            }
            if r.below(2) == 0 {
                net.add_arc(b as u32, sink, INFINITE, 100);
            }
        }
        net
    } else {
        let n = 2 + r.below(7) as usize;
        let mut net = Network::new(n);
        let mut total = 0;
        for u in 0..n - 1 {
            let b = r.range(-6, 6);
            net.set_supply(u as u32, b);
            total += b;
        }
        net.set_supply((n - 1) as u32, -total);
        let arcs = r.below(3 * n as u64 + 1);
        for _ in 0..arcs {
            let u = r.below(n as u64) as u32;
            let mut v = r.below(n as u64) as u32;
            if v == u {
                v = (v + 1) % n as u32;
            }
            let cost = r.range(-4, 15);
            // Negative-cost arcs get a finite capacity so no cycle is unbounded.
            let cap = if cost < 0 || r.below(3) == 0 {
                r.range(0, 8)
            } else {
                INFINITE
            };
            net.add_arc(u, v, cap, cost);
        }
        net
    }
}

fn check_against_oracle(net: &Network, mut solver: NetworkSimplex, what: &str) {
    let expected = ssp_oracle(net);
    let got = solver.solve();
    solver.check_invariants().unwrap_or_else(|e| panic!("{what}: {e}"));
    match (expected, got) {
        (Some(cost), Ok(())) => {
            assert_eq!(solver.total_cost(), cost, "{what}");
            certify(net, &solver);
        }
        (None, Err(FlowError::Infeasible { .. })) => {}
        (e, g) => panic!("{what}: oracle {e:?}, simplex {g:?}"),
    }
}

#[test]
fn matches_the_oracle_on_random_networks() {
    for seed in 0..3000u64 {
        let mut r = Rng(seed);
        let net = random_network(&mut r, seed % 2 == 0);
        let solver = NetworkSimplex::new(&net).unwrap();
        check_against_oracle(&net, solver, &format!("seed {seed}"));
    }
}

#[test]
fn forest_start_reaches_the_same_optimum() {
    for seed in 0..2000u64 {
        let mut r = Rng(seed ^ 0xf00d);
        let net = random_network(&mut r, seed % 3 != 0);
        // Random hints: for each node, maybe one of its outgoing arcs (cycles allowed, the
        // solver must cut them).
        let mut start = vec![None; net.node_count()];
        for (a, (&u, _)) in net.from.iter().zip(&net.to).enumerate() {
            if r.below(2) == 0 {
                start[u as usize] = Some(a);
            }
        }
        let solver = NetworkSimplex::with_start(&net, &start).unwrap();
        solver
            .check_invariants()
            .unwrap_or_else(|e| panic!("seed {seed} start: {e}"));
        check_against_oracle(&net, solver, &format!("forest seed {seed}"));
    }
}

#[test]
fn warm_start_after_cost_changes_and_new_arcs() {
    for seed in 0..1500u64 {
        let mut r = Rng(seed ^ 0xbeef);
        let mut net = random_network(&mut r, true);
        net.set_cost_bound(200);
        let mut solver = NetworkSimplex::new(&net).unwrap();
        let first = solver.solve();
        // Change some costs, add some arcs; solve warm and compare with a cold solve.
        for a in 0..net.arc_count() {
            if net.cost[a] > 0 && r.below(3) == 0 {
                let c = r.range(0, 40);
                net.cost[a] = c;
                solver.set_cost(a, c).unwrap();
            }
        }
        let n = net.node_count() as u64;
        for _ in 0..r.below(4) {
            let u = r.below(n) as u32;
            let v = r.below(n) as u32;
            if u == v {
                continue;
            }
            let c = r.range(0, 40);
            let a = net.add_arc(u, v, INFINITE, c);
            assert_eq!(solver.add_arc(u, v, INFINITE, c).unwrap(), a);
        }
        if first.is_ok() {
            check_against_oracle(&net, solver, &format!("warm seed {seed}"));
        }
    }
}

/// A feasible flow of `net`: its optimum under random other costs (`None` when infeasible).
fn optimum_under_other_costs(net: &Network, r: &mut Rng) -> Option<Vec<i64>> {
    let mut other = net.clone();
    for c in other.cost.iter_mut() {
        *c = r.range(0, 30);
    }
    let mut s = NetworkSimplex::new(&other).unwrap();
    s.solve().ok()?;
    Some((0..net.arc_count()).map(|a| s.flow(a)).collect())
}

#[test]
fn flow_start_reaches_the_same_optimum() {
    // A feasible start: the optimum of the same network under random other costs.
    for seed in 0..1500u64 {
        let mut r = Rng(seed ^ 0x5151);
        let net = random_network(&mut r, seed % 2 == 0);
        let Some(flow) = optimum_under_other_costs(&net, &mut r) else {
            continue;
        };
        let start = NetworkSimplex::with_flow(&net, &flow).unwrap();
        start
            .check_invariants()
            .unwrap_or_else(|e| panic!("seed {seed} flow start: {e}"));
        check_against_oracle(&net, start, &format!("flow start seed {seed}"));
    }
    // Bad starts are refused with a reason.
    let mut net = Network::new(2);
    net.set_supply(0, 1);
    net.set_supply(1, -1);
    net.add_arc(0, 1, INFINITE, 1);
    assert!(NetworkSimplex::with_flow(&net, &[0]).is_err());
    assert!(NetworkSimplex::with_flow(&net, &[2]).is_err());
    assert!(NetworkSimplex::with_flow(&net, &[]).is_err());
    assert!(NetworkSimplex::with_flow(&net, &[1]).is_ok());
}

#[test]
fn owned_flow_start_matches_the_borrowed_one_and_gives_the_network_back() {
    for seed in 0..800u64 {
        let mut r = Rng(seed ^ 0x0ed);
        let net = random_network(&mut r, seed % 2 == 0);
        let Some(flow) = optimum_under_other_costs(&net, &mut r) else {
            continue;
        };
        let mut borrowed = NetworkSimplex::with_flow(&net, &flow).unwrap();
        let mut owned = NetworkSimplex::with_flow_owned(net.clone(), &flow).unwrap();
        owned.check_invariants().unwrap();
        let (b, o) = (borrowed.solve(), owned.solve());
        assert_eq!(b, o, "seed {seed}");
        assert_eq!(borrowed.pivots(), owned.pivots(), "seed {seed}");
        assert_eq!(borrowed.total_cost(), owned.total_cost(), "seed {seed}");
        for a in 0..net.arc_count() {
            assert_eq!(borrowed.flow(a), owned.flow(a), "seed {seed} arc {a}");
        }
        for u in 0..net.node_count() as u32 {
            assert_eq!(borrowed.potential(u), owned.potential(u), "seed {seed} node {u}");
        }
    }
    // A start whose free arcs form a cycle is refused and the network comes back as it was.
    let mut net = Network::with_capacity(2, 4);
    net.set_supply(0, 2);
    net.set_supply(1, -2);
    net.add_arc(0, 1, INFINITE, 1);
    net.add_arc(0, 1, INFINITE, 3);
    let (error, back) = *NetworkSimplex::with_flow_owned(net.clone(), &[1, 1]).unwrap_err();
    assert!(matches!(error, FlowError::BadChange(_)), "{error:?}");
    assert_eq!(
        (back.supply, back.from, back.to, back.cap, back.cost),
        (net.supply, net.from, net.to, net.cap, net.cost)
    );
}

/// Costs scaled until the big-M cost sits at the largest the network check allows: the
/// stored potentials and their shift then wrap around, and the optimum must still be the
/// scaled optimum of the small costs, with potentials that certify it.
#[test]
fn costs_at_the_size_limit_keep_exact_potentials() {
    let mut checked = 0;
    for seed in 0..1500u64 {
        let mut r = Rng(seed ^ 0xb16);
        let small = random_network(&mut r, seed % 2 == 0);
        let n = small.node_count() as i64;
        let max = small.cost.iter().map(|c| c.abs()).max().unwrap_or(0).max(1);
        let scale = (i64::MAX / 8) / (n + 1) / (max + 1);
        let mut big = small.clone();
        for c in big.cost.iter_mut() {
            *c *= scale;
        }
        let Some(cost) = ssp_oracle(&small) else { continue };
        let mut solver = NetworkSimplex::new(&big).unwrap();
        solver.solve().unwrap();
        solver.check_invariants().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(solver.total_cost(), cost * scale as i128, "seed {seed}");
        certify(&big, &solver);
        checked += 1;
    }
    assert!(checked > 500, "only {checked} feasible networks");
}

#[test]
fn rejects_bad_networks_with_a_fix() {
    let mut net = Network::new(2);
    net.set_supply(0, 3);
    let e = NetworkSimplex::new(&net).unwrap_err();
    assert!(matches!(e, FlowError::Unbalanced { total: 3 }));
    assert!(e.to_string().contains("fix:"));
    let mut net = Network::new(2);
    net.add_arc(0, 5, 1, 1);
    assert!(matches!(
        NetworkSimplex::new(&net),
        Err(FlowError::BadNode { node: 5, .. })
    ));
    let mut net = Network::new(2);
    net.add_arc(0, 1, -1, 1);
    assert!(matches!(
        NetworkSimplex::new(&net),
        Err(FlowError::NegativeCapacity { .. })
    ));
    let mut net = Network::new(2);
    net.add_arc(0, 1, INFINITE, -1);
    net.add_arc(1, 0, INFINITE, 0);
    let mut s = NetworkSimplex::new(&net).unwrap();
    assert_eq!(s.solve(), Err(FlowError::Unbounded));
    let mut net = Network::new(2);
    net.set_supply(0, 1);
    net.set_supply(1, -1);
    let mut s = NetworkSimplex::new(&net).unwrap();
    assert!(matches!(s.solve(), Err(FlowError::Infeasible { unrouted: 1 })));
    let mut net = Network::new(1);
    net.add_arc(0, 0, 1, i64::MAX / 2);
    assert!(matches!(NetworkSimplex::new(&net), Err(FlowError::TooLarge { .. })));
}

#[test]
fn empty_and_trivial_networks() {
    let net = Network::new(0);
    let mut s = NetworkSimplex::new(&net).unwrap();
    s.solve().unwrap();
    assert_eq!(s.total_cost(), 0);
    let mut net = Network::new(3);
    net.add_arc(0, 1, INFINITE, 4);
    let mut s = NetworkSimplex::new(&net).unwrap();
    s.solve().unwrap();
    assert_eq!(s.flow(0), 0);
}

#[test]
fn medium_transportation_instances_match() {
    // Larger shapes (a few hundred arcs) exercise deep trees and many pivots.
    for seed in 0..40u64 {
        let mut r = Rng(seed ^ 0xabcd);
        let blocks = 30 + r.below(40) as usize;
        let schools = 3 + r.below(8) as usize;
        let n = blocks + schools + 1;
        let mut net = Network::new(n);
        let sink = (n - 1) as u32;
        let mut total = 0;
        for b in 0..blocks {
            let d = r.range(0, 50);
            net.set_supply(b as u32, d);
            total += d;
        }
        net.set_supply(sink, -total);
        for s in 0..schools {
            net.add_arc((blocks + s) as u32, sink, r.range(0, 300), 0);
        }
        for b in 0..blocks {
            for s in 0..schools {
                if r.below(4) > 0 {
                    net.add_arc(b as u32, (blocks + s) as u32, INFINITE, r.range(0, 5000));
                }
            }
            net.add_arc(b as u32, sink, INFINITE, 100_000);
        }
        let start: Vec<Option<usize>> = (0..n)
            .map(|u| (0..net.arc_count()).find(|&a| net.from[a] as usize == u && a >= schools))
            .collect();
        check_against_oracle(&net, NetworkSimplex::new(&net).unwrap(), &format!("medium {seed}"));
        check_against_oracle(
            &net,
            NetworkSimplex::with_start(&net, &start).unwrap(),
            &format!("medium start {seed}"),
        );
    }
}

/// Checks an SSP solution: bounds, conservation and the potentials' certificate.
fn certify_ssp(net: &Network, sol: &super::SspSolution) {
    let mut balance = net.supply.clone();
    let mut cost: i128 = 0;
    for a in 0..net.arc_count() {
        let (u, v) = (net.from[a] as usize, net.to[a] as usize);
        let f = sol.flow[a];
        let cap = net.cap[a];
        assert!(f >= 0 && (cap == INFINITE || f <= cap), "arc {a} flow {f} cap {cap}");
        balance[u] -= f;
        balance[v] += f;
        cost += f as i128 * net.cost[a] as i128;
        let rc = net.cost[a] + sol.potential[u] - sol.potential[v];
        if cap == INFINITE || f < cap {
            assert!(rc >= 0, "arc {a} with room has reduced cost {rc}");
        }
        if f > 0 {
            assert!(rc <= 0, "arc {a} carrying flow has reduced cost {rc}");
        }
    }
    assert!(balance.iter().all(|&b| b == 0), "flow does not conserve: {balance:?}");
    assert_eq!(cost, sol.total_cost);
}

#[test]
fn successive_shortest_paths_matches_the_simplex_and_the_oracle() {
    for seed in 0..3000u64 {
        let mut r = Rng(seed ^ 0x55aa);
        let net = random_network(&mut r, seed % 2 == 0);
        let ssp = super::successive_shortest_paths(&net);
        let mut simplex = NetworkSimplex::new(&net).unwrap();
        let got = simplex.solve();
        match (ssp, got, ssp_oracle(&net)) {
            (Ok(s), Ok(()), Some(c)) => {
                assert_eq!(s.total_cost, simplex.total_cost(), "seed {seed}");
                assert_eq!(s.total_cost, c, "seed {seed}");
                certify_ssp(&net, &s);
            }
            (Err(FlowError::Infeasible { .. }), Err(FlowError::Infeasible { .. }), None) => {}
            (a, b, c) => panic!("seed {seed}: ssp {a:?}, simplex {b:?}, oracle {c:?}"),
        }
    }
}

#[test]
fn successive_shortest_paths_on_larger_transportation_instances() {
    for seed in 0..60u64 {
        let mut r = Rng(seed ^ 0x1234);
        let blocks = 50 + r.below(150) as usize;
        let schools = 3 + r.below(20) as usize;
        let n = blocks + schools + 1;
        let mut net = Network::new(n);
        let sink = (n - 1) as u32;
        let mut total = 0;
        for b in 0..blocks {
            let d = r.range(0, 80);
            net.set_supply(b as u32, d);
            total += d;
        }
        net.set_supply(sink, -total);
        for s in 0..schools {
            net.add_arc((blocks + s) as u32, sink, r.range(0, 600), 0);
        }
        for b in 0..blocks {
            for s in 0..schools {
                if r.below(3) == 0 {
                    net.add_arc(b as u32, (blocks + s) as u32, INFINITE, r.range(0, 9000));
                }
            }
            net.add_arc(b as u32, sink, INFINITE, 100_000);
        }
        let s = super::successive_shortest_paths(&net).unwrap();
        let mut simplex = NetworkSimplex::new(&net).unwrap();
        simplex.solve().unwrap();
        assert_eq!(s.total_cost, simplex.total_cost(), "seed {seed}");
        certify_ssp(&net, &s);
    }
}

#[test]
fn successive_shortest_paths_handles_negative_cycles_and_errors() {
    // An uncapacitated negative cycle: unbounded.
    let mut net = Network::new(2);
    net.add_arc(0, 1, INFINITE, -1);
    net.add_arc(1, 0, INFINITE, 0);
    assert_eq!(super::successive_shortest_paths(&net), Err(FlowError::Unbounded));
    // A negative cycle through an uncapacitated negative arc and a capacitated one: cancelled.
    let mut net = Network::new(3);
    net.add_arc(0, 1, INFINITE, -5);
    net.add_arc(1, 2, 3, 1);
    net.add_arc(2, 0, INFINITE, 1);
    let s = super::successive_shortest_paths(&net).unwrap();
    let mut simplex = NetworkSimplex::new(&net).unwrap();
    simplex.solve().unwrap();
    assert_eq!(s.total_cost, simplex.total_cost());
    assert_eq!(s.total_cost, -9);
    certify_ssp(&net, &s);
    let mut net = Network::new(2);
    net.set_supply(0, 1);
    net.set_supply(1, -1);
    assert!(matches!(
        super::successive_shortest_paths(&net),
        Err(FlowError::Infeasible { unrouted: 1 })
    ));
    let mut net = Network::new(2);
    net.set_supply(0, 3);
    assert!(matches!(
        super::successive_shortest_paths(&net),
        Err(FlowError::Unbalanced { total: 3 })
    ));
    let s = super::successive_shortest_paths(&Network::new(0)).unwrap();
    assert_eq!(s.total_cost, 0);
}
