//! Zoning tests on random instances built in memory: the bound against an independent
//! solver and brute force, contiguity, capacity, lookup, determinism, stability, barriers,
//! roads and the configuration file.
#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

use std::path::Path;

use super::*;
use crate::flow::tests::ssp_oracle;
use crate::flow::{INFINITE, Network};
use crate::model::{Location, Stage, StageZones};
use proptest::prelude::{Just, Strategy};

/// SplitMix64 for instances.
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
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The parameters these tests were written for: zones may cross districts unless a test says
/// otherwise (the library's default keeps them inside).
fn base_params() -> ZoningParams {
    ZoningParams {
        within_district: false,
        ..ZoningParams::default()
    }
}

/// A random instance: `nb` blocks and `ns` schools in a square of `side_deg` degrees.
fn instance(seed: u64, nb: usize, ns: usize, slack: f64, locked_share: f64) -> ZoningProblem {
    let mut r = Rng(seed);
    let side = 0.02 + 0.002 * (nb as f64).sqrt();
    let point = |r: &mut Rng| Location::from_wgs84(120.3 + side * r.unit(), 31.5 + side * r.unit());
    // Two districts: west and east of the middle.
    let west = |l: &Location| u32::from(l.lon >= 120.3 + side / 2.0);
    let blocks: Vec<ZoneBlock> = (0..nb)
        .map(|b| {
            let location = point(&mut r);
            ZoneBlock {
                id: format!("B{b}"),
                district: west(&location),
                location,
                demand: r.below(30) as u32,
                locked: r.unit() < locked_share,
            }
        })
        .collect();
    let total: u64 = blocks.iter().map(|b| b.demand as u64).sum();
    let schools: Vec<ZoneSchool> = (0..ns)
        .map(|s| {
            let location = point(&mut r);
            ZoneSchool {
                id: format!("S{s}"),
                name: format!("学校{s}"),
                district: west(&location),
                location,
                capacity: ((total as f64 * slack / ns as f64) * (0.5 + r.unit())) as u32,
                city_index: None,
            }
        })
        .collect();
    let mut pairs = Vec::new();
    for b in 0..nb as u32 {
        if r.below(5) > 0 {
            pairs.push((b, r.below(ns as u64) as u32));
        }
    }
    ZoningProblem {
        stage: Stage::Primary,
        districts: vec!["甲区".into(), "乙区".into()],
        schools,
        blocks,
        current: StageZones::from_pairs(nb, &pairs),
        distances: Distances::StraightLine,
        barriers: Vec::new(),
    }
}

/// The bound's network over every allowed pair, for the independent solver.
fn complete_network(p: &ZoningProblem, params: &ZoningParams, lambda: u32) -> (Network, i128) {
    let nb = p.blocks.len();
    let ns = p.schools.len();
    let sink = (nb + ns) as u32;
    let mut net = Network::new(nb + ns + 1);
    let mut total = 0;
    for (b, block) in p.blocks.iter().enumerate() {
        net.set_supply(b as u32, block.demand as i64);
        total += block.demand as i64;
    }
    net.set_supply(sink, -total);
    let mut constant = 0i128;
    for s in 0..ns as u32 {
        let limit = p.limit(params, s).max(0);
        let floor = p.floor(params, s).clamp(0, limit);
        if floor > 0 {
            net.add_arc(nb as u32 + s, sink, floor, -(params.fill_penalty_m as i64));
            constant += floor as i128 * params.fill_penalty_m as i128;
        }
        net.add_arc(nb as u32 + s, sink, limit - floor, 0);
    }
    for b in 0..nb as u32 {
        net.add_arc(b, sink, INFINITE, params.unserved_penalty_m as i64);
        for s in 0..ns as u32 {
            if let Some(m) = p.allowed_metres(params, b, s) {
                let moved = p.has_current(b) && !p.is_current(b, s);
                net.add_arc(
                    b,
                    nb as u32 + s,
                    INFINITE,
                    m as i64 + if moved { lambda as i64 } else { 0 },
                );
            }
        }
    }
    (net, constant)
}

fn random_params(r: &mut Rng) -> ZoningParams {
    ZoningParams {
        candidates: 1 + r.below(3) as usize,
        max_distance_m: if r.below(3) == 0 {
            Some(1500 + r.below(3000) as u32)
        } else {
            None
        },
        within_district: r.below(3) == 0,
        utilisation: if r.below(3) == 0 { (0.5, 0.9) } else { (0.0, 1.0) },
        fill_penalty_m: 3_000,
        ..base_params()
    }
}

#[test]
fn lower_bound_equals_the_oracle_optimum() {
    for seed in 0..300u64 {
        let mut r = Rng(seed ^ 0x51);
        let p = instance(
            seed,
            2 + r.below(25) as usize,
            1 + r.below(6) as usize,
            0.6 + r.unit(),
            0.1,
        );
        let params = random_params(&mut r);
        let lambda = [0, 200, 1000][r.below(3) as usize];
        let bound = lower_bound(&p, &params, lambda, &|_| {}).unwrap();
        assert!(bound.certified, "seed {seed}");
        let (net, constant) = complete_network(&p, &params, lambda);
        let oracle = ssp_oracle(&net).expect("the unserved arcs make every instance feasible");
        assert_eq!(bound.objective, oracle + constant, "seed {seed}: bound vs oracle");
    }
}

#[test]
fn no_whole_block_zoning_beats_the_bound_and_small_gaps_are_closed() {
    // Brute force over every whole-block assignment of tiny instances.
    for seed in 0..120u64 {
        let mut r = Rng(seed ^ 0x77);
        let nb = 2 + r.below(5) as usize;
        let ns = 1 + r.below(3) as usize;
        let p = instance(seed, nb, ns, 0.8 + r.unit(), 0.0);
        let params = ZoningParams {
            contiguity: false,
            polygons: false,
            ..base_params()
        };
        let z = zone(&p, &params, &|_| {}).unwrap();
        let lb = z.bound.objective;
        let mut best = i128::MAX;
        let mut a = vec![0u32; nb];
        loop {
            let mut load = vec![0i64; ns];
            let mut obj: i128 = 0;
            for b in 0..nb {
                load[a[b] as usize] += p.blocks[b].demand as i64;
                obj += p.blocks[b].demand as i128 * p.metres(b as u32, a[b]).unwrap() as i128;
            }
            for s in 0..ns {
                obj += (load[s] - p.limit(&params, s as u32)).max(0) as i128 * params.unserved_penalty_m as i128;
            }
            best = best.min(obj);
            let mut i = 0;
            while i < nb && a[i] as usize == ns - 1 {
                a[i] = 0;
                i += 1;
            }
            if i == nb {
                break;
            }
            a[i] += 1;
        }
        assert!(lb <= best, "seed {seed}: bound {lb} above a whole-block zoning {best}");
        assert!(
            z.report.overall.objective as i128 >= best,
            "seed {seed}: zoning beats brute force?"
        );
    }
}

fn check_zoning(p: &ZoningProblem, z: &Zoning, params: &ZoningParams) {
    let adj = Adjacency::delaunay(p, params.max_edge_m);
    // Contiguity: every zone is one piece in the adjacency graph unless the report says why.
    let pieces = repair::zone_pieces(p, &adj, &z.assignment);
    for (s, row) in z.report.schools.iter().enumerate() {
        assert_eq!(row.pieces as usize, pieces[s].len());
        if pieces[s].len() > 1 {
            assert!(
                !row.contiguous && !row.why_not_contiguous.is_empty(),
                "{}",
                row.school_id
            );
        }
    }
    // Capacity: holds, or the shortfall is reported exactly.
    let mut load = vec![0i64; p.schools.len()];
    for (b, &s) in z.assignment.iter().enumerate() {
        if s != UNASSIGNED {
            load[s as usize] += p.blocks[b].demand as i64;
        }
    }
    let mut over = 0;
    for (s, row) in z.report.schools.iter().enumerate() {
        assert_eq!(row.demand as i64, load[s]);
        assert_eq!(row.over_limit, (load[s] - p.limit(params, s as u32)).max(0));
        over += row.over_limit;
    }
    assert_eq!(z.report.overall.children_over_limit, over);
    // Locked blocks keep a current school; assignments are allowed pairs.
    for (b, &s) in z.assignment.iter().enumerate() {
        if s != UNASSIGNED {
            assert!(
                p.allowed_metres(params, b as u32, s).is_some(),
                "block {b} at a disallowed school"
            );
        }
        if p.blocks[b].locked && p.has_current(b as u32) {
            assert!(p.is_current(b as u32, s), "locked block {b} moved");
        }
    }
    assert!(z.report.overall.objective as i128 >= z.bound.objective);
    // Lookup agrees with the assignment at every block point.
    if let Some(polys) = &z.polygons {
        let index = ZoneIndex::new(polys);
        let points: Vec<(f64, f64)> = p.blocks.iter().map(|b| (b.location.lon, b.location.lat)).collect();
        let hits = index.lookup_batch(&points);
        for (b, &s) in z.assignment.iter().enumerate() {
            if s != UNASSIGNED {
                assert!(hits[b].contains(&s), "block {b}: lookup {:?}, zone {s}", hits[b]);
            }
        }
    }
}

#[test]
fn zones_are_contiguous_capacities_hold_and_lookup_agrees() {
    for seed in 0..40u64 {
        let mut r = Rng(seed ^ 0x99);
        let nb = 30 + r.below(300) as usize;
        let ns = 2 + r.below(12) as usize;
        let locks = seed % 3 == 0;
        let p = instance(seed, nb, ns, 1.15 + 0.3 * r.unit(), if locks { 0.05 } else { 0.0 });
        let params = ZoningParams {
            stability_m: [0, 300][r.below(2) as usize],
            within_district: r.below(4) == 0,
            ..base_params()
        };
        let z = zone(&p, &params, &|_| {}).unwrap();
        check_zoning(&p, &z, &params);
        let why: Vec<(&str, &str)> = z
            .report
            .schools
            .iter()
            .filter(|r| !r.contiguous && r.why_not_contiguous != "cells_apart")
            .map(|r| (r.school_id.as_str(), r.why_not_contiguous.as_str()))
            .collect();
        // Without locks every zone is contiguous in the graph except pieces a district boundary
        // isolates (a zone whose cells, cut at the cell radius, do not touch is drawn in parts
        // and says so: `cells_apart`).
        if !locks && !params.within_district {
            assert!(why.is_empty(), "seed {seed}: {why:?} {:?}", z.repair);
        }
    }
}

#[test]
fn tight_capacity_reports_the_shortfall() {
    for seed in 0..20u64 {
        let p = instance(seed, 80, 4, 0.7, 0.0);
        let params = base_params();
        let z = zone(&p, &params, &|_| {}).unwrap();
        check_zoning(&p, &z, &params);
        let total = p.total_demand() as i64;
        let limit: i64 = (0..4).map(|s| p.limit(&params, s)).sum();
        assert!(z.report.overall.children_over_limit >= total - limit);
        assert_eq!(z.bound.unserved as i64, total - limit);
    }
}

#[test]
fn same_bytes_at_any_thread_count() {
    let p = instance(7, 400, 12, 1.2, 0.05);
    let params = ZoningParams {
        stability_m: 200,
        ..base_params()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let z = zone(&p, &params, &|_| {}).unwrap();
            (zones_csv(&p, &z, None, false), zones_geojson(&p, &z), report_json(&z))
        })
    };
    let a = run(1);
    let b = run(2);
    let c = run(2);
    assert!(a == b && b == c);
}

#[test]
fn sweep_trades_moves_for_travel_and_the_cap_holds() {
    let p = instance(11, 300, 10, 1.1, 0.0);
    let params = base_params();
    let pts = sweep(&p, &params, &[0, 100, 300, 1000, 5000], &|_| {}).unwrap();
    for w in pts.windows(2) {
        assert!(w[1].moved <= w[0].moved, "{pts:?}");
        assert!(w[1].travel >= w[0].travel, "{pts:?}");
    }
    let cap = pts[0].moved / 3;
    let (lambda, bound) = lambda_for_cap(&p, &params, cap, &|_| {}).unwrap();
    assert!(bound.moved <= cap, "λ {lambda}: moved {} > cap {cap}", bound.moved);
    let z = zone(
        &p,
        &ZoningParams {
            max_moved_share: Some(cap as f64 / p.movable_children() as f64),
            ..params
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(z.lambda_m, lambda);
}

#[test]
fn barriers_cut_adjacency_edges() {
    let mut p = instance(3, 120, 4, 1.3, 0.0);
    let before = Adjacency::delaunay(&p, None).edge_count();
    let (lo, hi) = (31.49, 31.6);
    let mid = p.blocks.iter().map(|b| b.location.lon).sum::<f64>() / p.blocks.len() as f64;
    p.barriers = vec![vec![(mid, lo), (mid, hi)]];
    let adj = Adjacency::delaunay(&p, None);
    assert!(adj.removed_by_barriers > 0);
    assert_eq!(adj.edge_count() + adj.removed_by_barriers, before);
    for b in 0..p.blocks.len() as u32 {
        for &n in adj.neighbours(b) {
            let (x, y) = (p.blocks[b as usize].location.lon, p.blocks[n as usize].location.lon);
            assert!((x - mid) * (y - mid) >= 0.0, "edge {b}-{n} crosses the barrier");
        }
    }
    let z = zone(&p, &base_params(), &|_| {}).unwrap();
    check_zoning(&p, &z, &base_params());
}

#[test]
fn road_distances_are_at_least_straight_and_zone() {
    // A grid of roads at 0.005° spacing over the instance.
    let mut text = String::from("from_lon,from_lat,to_lon,to_lat\n");
    for i in 0..12 {
        for j in 0..12 {
            let (x, y) = (120.295 + 0.005 * i as f64, 31.495 + 0.005 * j as f64);
            text.push_str(&format!("{x},{y},{},{y}\n", x + 0.005));
            text.push_str(&format!("{x},{y},{x},{}\n", y + 0.005));
        }
    }
    let roads = crate::spatial::network_from_csv(text.as_bytes(), "roads.csv", crate::crs::Crs::Wgs84).unwrap();
    let mut p = instance(5, 60, 4, 1.3, 0.0);
    let straight = p.clone();
    let snap = |l: &crate::model::Location| roads.snap(l);
    let schools: Vec<_> = p.schools.iter().map(|s| snap(&s.location)).collect();
    let blocks: Vec<_> = p.blocks.iter().map(|b| snap(&b.location)).collect();
    let mut lists = vec![Vec::new(); p.blocks.len()];
    for (s, row) in roads.distances(&schools, &blocks, 20_000_000).into_iter().enumerate() {
        for (b, mm) in row {
            lists[b as usize].push((s as u32, crate::spatial::metres_of_mm(mm)));
        }
    }
    p.distances = Distances::Table(super::DistanceTable::from_lists(lists));
    for b in 0..p.blocks.len() as u32 {
        for s in 0..p.schools.len() as u32 {
            let road = p.metres(b, s).expect("the grid reaches everything within 20 km");
            assert!(road + 2 >= straight.metres(b, s).unwrap());
        }
    }
    let params = base_params();
    let z = zone(&p, &params, &|_| {}).unwrap();
    check_zoning(&p, &z, &params);
    let bad = crate::spatial::network_from_csv(
        "from_lon,from_lat,to_lon\n1,2,3\n".as_bytes(),
        "roads.csv",
        crate::crs::Crs::Wgs84,
    );
    assert!(bad.unwrap_err().to_string().contains("to_lat"));
}

#[test]
fn config_file_parses_and_reports_errors_with_positions() {
    let good = r#"
stage = "junior"
distance = "matrix"
max_distance_m = 3000
utilisation = [0.8, 1.0]
sweep = [0, 250]
locked = ["B1"]
[demand]
source = "households"
primary = 0.04
[schools]
close = ["P7"]
capacity = { P1 = 360 }
[[schools.open]]
id = "PN1"
district = "新吴区"
lon = 120.4
lat = 31.5
capacity = 270
"#;
    let c = ZoningConfig::from_toml(good, Path::new("/x/zoning.toml")).unwrap();
    assert_eq!(c.stage, Some(Stage::Junior));
    assert_eq!(c.params().max_distance_m, Some(3000));
    assert_eq!(c.params().utilisation, (0.8, 1.0));
    assert!(matches!(c.demand_source().unwrap(), DemandSource::Households(r) if r.primary == 0.04));
    assert_eq!(c.distance_source().unwrap(), DistanceSource::Matrix);
    assert_eq!(c.schools.capacity["P1"], 360);
    assert_eq!(c.params().multi_school, None);
    let c = ZoningConfig::from_toml("[multi_school]\nmax_group = 2\n", Path::new("z.toml")).unwrap();
    assert_eq!(
        c.params().multi_school,
        Some(MultiSchoolParams {
            min_utilisation: 0.95,
            max_group: 2
        })
    );
    let e = ZoningConfig::from_toml("[multi_school]\nmax_group = 1\n", Path::new("z.toml")).unwrap_err();
    assert!(e.to_string().contains("multi_school.max_group"), "{e}");
    let e = ZoningConfig::from_toml("[multi_school]\nmin_utilisaton = 1\n", Path::new("z.toml")).unwrap_err();
    assert!(e.to_string().contains("z.toml:2"), "{e}");
    let e = ZoningConfig::from_toml("stage = \"primary\"\nmax_distanse_m = 5\n", Path::new("z.toml")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("z.toml:2"), "{msg}");
    let e = ZoningConfig::from_toml("utilisation = [0.9, 0.5]\n", Path::new("z.toml")).unwrap_err();
    assert!(e.to_string().contains("fix:"), "{e}");
    let b = parse_barriers(
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[120.1,31.1],[120.2,31.2]]}}]}"#,
        "b.geojson",
    )
    .unwrap();
    assert_eq!(b, vec![vec![(120.1, 31.1), (120.2, 31.2)]]);
    assert!(parse_barriers("[1,2]", "b.geojson").is_err());
}

#[test]
fn degenerate_inputs_do_not_panic() {
    // One block, one school, zero demand; duplicated points; all blocks collinear.
    let mut p = instance(1, 1, 1, 1.0, 0.0);
    p.blocks[0].demand = 0;
    zone(&p, &base_params(), &|_| {}).unwrap();
    let mut p = instance(2, 20, 3, 1.2, 0.0);
    for b in 1..6 {
        p.blocks[b].location = p.blocks[0].location;
    }
    let z = zone(&p, &base_params(), &|_| {}).unwrap();
    check_zoning(&p, &z, &base_params());
    let mut p = instance(4, 15, 2, 1.2, 0.0);
    for (i, b) in p.blocks.iter_mut().enumerate() {
        b.location = Location::from_wgs84(120.3 + 0.001 * i as f64, 31.5);
    }
    let z = zone(&p, &base_params(), &|_| {}).unwrap();
    check_zoning(&p, &z, &base_params());
    let bad = ZoningParams {
        candidates: 0,
        ..base_params()
    };
    assert!(matches!(zone(&p, &bad, &|_| {}), Err(ZoningError::BadParameter { .. })));
}

#[test]
fn inconsistent_hand_built_problems_are_refused() {
    let mut p = instance(9, 10, 2, 1.2, 0.0);
    p.current = StageZones::from_pairs(10, &[(0, 7)]);
    let e = zone(&p, &base_params(), &|_| {}).unwrap_err();
    assert!(e.to_string().contains("fix:"), "{e}");
    let mut p = instance(9, 10, 2, 1.2, 0.0);
    p.schools.clear();
    assert!(matches!(
        zone(&p, &base_params(), &|_| {}),
        Err(ZoningError::NoSchools { .. })
    ));
}

/// Checks the multi-school groups of a zoning made with `multi`.
fn check_groups(p: &ZoningProblem, z: &Zoning, multi: &MultiSchoolParams, adj: &Adjacency) {
    let groups = z.report.groups.as_ref().expect("grouping was on");
    let demand = multischool::zone_demand(p, &z.assignment);
    let nbrs = multischool::zone_adjacency(p.schools.len(), adj, &z.assignment);
    let mut seen = vec![false; p.schools.len()];
    for g in groups {
        assert!(g.schools.len() >= 2 && g.schools.len() <= multi.max_group, "{g:?}");
        assert!(g.schools.windows(2).all(|w| w[0] < w[1]), "{g:?}");
        for &s in &g.schools {
            assert!(!seen[s as usize], "school {s} in two groups");
            seen[s as usize] = true;
        }
        assert!(
            g.schools.iter().any(|&s| multischool::is_hot(
                demand[s as usize],
                p.schools[s as usize].capacity as u64,
                multi.min_utilisation
            )),
            "{g:?} has no hot school"
        );
        // Connected in the zone adjacency.
        let mut reached = vec![g.schools[0]];
        let mut i = 0;
        while i < reached.len() {
            let s = reached[i];
            for &t in &nbrs[s as usize] {
                if g.schools.contains(&t) && !reached.contains(&t) {
                    reached.push(t);
                }
            }
            i += 1;
        }
        assert_eq!(reached.len(), g.schools.len(), "{g:?} is not connected");
        let d: u64 = g.schools.iter().map(|&s| demand[s as usize]).sum();
        let c: u64 = g.schools.iter().map(|&s| p.schools[s as usize].capacity as u64).sum();
        assert_eq!((g.demand, g.capacity), (d, c));
    }
    // zones.csv: one row per school of the block's group.
    let group_of = group_index(p.schools.len(), groups);
    let csv = zones_csv(p, z, None, false);
    let mut rows: Vec<Vec<String>> = vec![Vec::new(); p.blocks.len()];
    let index: std::collections::HashMap<&str, usize> =
        p.blocks.iter().enumerate().map(|(b, x)| (x.id.as_str(), b)).collect();
    for rec in csv::Reader::from_reader(&csv[..]).records() {
        let rec = rec.unwrap();
        rows[index[&rec[0]]].push(rec[2].to_string());
    }
    for (b, block) in p.blocks.iter().enumerate() {
        let s = z.assignment[b];
        if block.locked || s == UNASSIGNED {
            continue;
        }
        let want: Vec<String> = match group_of[s as usize] {
            Some(g) => groups[g].school_ids.clone(),
            None => vec![p.schools[s as usize].id.clone()],
        };
        assert_eq!(rows[b], want, "block {}", block.id);
    }
    // Lookup returns every school of the group at every block point.
    if let Some(polys) = &z.polygons {
        let index = ZoneIndex::new(polys);
        for (b, block) in p.blocks.iter().enumerate() {
            let s = z.assignment[b];
            if s == UNASSIGNED {
                continue;
            }
            let hits = index.lookup(block.location.lon, block.location.lat);
            let want = match group_of[s as usize] {
                Some(g) => groups[g].schools.clone(),
                None => vec![s],
            };
            assert!(want.iter().all(|t| hits.contains(t)), "block {b}: {hits:?} vs {want:?}");
        }
    }
}

#[test]
fn multi_school_groups_are_connected_small_and_hot() {
    let mut grouped = 0;
    for seed in 0..30u64 {
        let mut r = Rng(seed ^ 0x3a);
        let nb = 30 + r.below(250) as usize;
        let ns = 2 + r.below(12) as usize;
        let p = instance(
            seed,
            nb,
            ns,
            0.9 + 0.3 * r.unit(),
            if seed % 4 == 0 { 0.05 } else { 0.0 },
        );
        let multi = MultiSchoolParams {
            min_utilisation: [0.95, 0.8, 1.0][r.below(3) as usize],
            max_group: 2 + r.below(3) as usize,
        };
        let off = base_params();
        let on = ZoningParams {
            multi_school: Some(multi),
            ..base_params()
        };
        let z0 = zone(&p, &off, &|_| {}).unwrap();
        let z = zone(&p, &on, &|_| {}).unwrap();
        assert!(z0.report.groups.is_none());
        // A post-process: the assignment and the per-school report are unchanged.
        assert_eq!(z.assignment, z0.assignment);
        assert_eq!(z.report.schools, z0.report.schools);
        let adj = Adjacency::delaunay(&p, on.max_edge_m);
        check_groups(&p, &z, &multi, &adj);
        let groups = z.report.groups.as_ref().unwrap();
        grouped += groups.len();
        // The GeoJSON has one feature per group plus one per ungrouped zone.
        let geo: serde_json::Value = serde_json::from_slice(&zones_geojson(&p, &z)).unwrap();
        let in_groups: usize = groups.iter().map(|g| g.schools.len()).sum();
        let zones = z0.polygons.as_ref().unwrap().zones.len();
        assert_eq!(
            geo["features"].as_array().unwrap().len(),
            zones - in_groups + groups.len()
        );
        // Deterministic at 1 and 2 threads.
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let z1 = one.install(|| zone(&p, &on, &|_| {}).unwrap());
        assert_eq!(zones_geojson(&p, &z1), zones_geojson(&p, &z));
        assert_eq!(report_json(&z1), report_json(&z));
        // The GeoPackage is built from the GeoJSON document in memory: the same bytes as from
        // the written GeoJSON read back, with and without groups.
        for zz in [&z0, &z] {
            // Written straight from the polygons: the bytes of the same document built as a
            // serde_json tree.
            assert_eq!(zones_geojson(&p, zz), geojson_as_a_tree(&p, zz));
            let doc: serde_json::Value = serde_json::from_slice(&zones_geojson(&p, zz)).unwrap();
            let reread = crate::gpkg::geopackage(&[("zones", &doc)], crate::gpkg::FIXED_TIME).unwrap();
            assert_eq!(zones_gpkg(&p, zz).unwrap(), reread);
        }
    }
    assert!(grouped > 10, "only {grouped} groups over all seeds");
}

/// The reference for `zones.geojson`: the document built as a `serde_json::Value` tree (one
/// array per coordinate) and serialised, as the writer did before it wrote the bytes itself.
fn geojson_as_a_tree(problem: &ZoningProblem, zoning: &Zoning) -> Vec<u8> {
    use serde_json::{Value, json};
    let round7 = |x: f64| (x * 1e7).round() / 1e7;
    let groups = zoning.report.groups.as_ref();
    let group_of = super::group_index(problem.schools.len(), groups.map(Vec::as_slice).unwrap_or_default());
    let mut features = Vec::new();
    for z in &zoning.polygons.as_ref().unwrap().zones {
        let s = &problem.schools[z.school as usize];
        let r = &zoning.report.schools[z.school as usize];
        let group = match (groups, group_of[z.school as usize]) {
            (Some(gs), Some(g)) => Some(&gs[g]),
            _ => None,
        };
        if group.is_some_and(|g| g.schools[0] != z.school) {
            continue;
        }
        let ring = |ls: &geo::LineString<f64>| -> Value {
            Value::Array(ls.0.iter().map(|c| json!([round7(c.x), round7(c.y)])).collect())
        };
        let coords: Vec<Value> = z
            .polygon
            .0
            .iter()
            .map(|p| {
                let mut rings = vec![ring(p.exterior())];
                rings.extend(p.interiors().iter().map(ring));
                Value::Array(rings)
            })
            .collect();
        let geometry = json!({ "type": "MultiPolygon", "coordinates": coords });
        let mut feature = match group {
            Some(g) => {
                let blocks: u32 = g
                    .schools
                    .iter()
                    .map(|&m| zoning.report.schools[m as usize].blocks)
                    .sum();
                json!({
                    "type": "Feature",
                    "properties": {
                        "group_id": g.group_id, "school_ids": g.school_ids,
                        "stage": problem.stage.as_str(), "capacity": g.capacity,
                        "children": g.demand, "blocks": blocks, "utilisation": g.utilisation,
                    },
                    "geometry": geometry,
                })
            }
            None => json!({
                "type": "Feature",
                "properties": {
                    "school_id": s.id, "name": s.name, "stage": problem.stage.as_str(),
                    "district": problem.districts.get(s.district as usize).cloned().unwrap_or_default(),
                    "capacity": s.capacity, "children": r.demand, "blocks": r.blocks,
                    "utilisation": r.utilisation, "contiguous": r.contiguous, "compactness": r.compactness,
                },
                "geometry": geometry,
            }),
        };
        if groups.is_some() && group.is_none() {
            feature["properties"]["school_ids"] = json!([s.id]);
        }
        features.push(feature);
    }
    let mut v = serde_json::to_vec(&json!({ "type": "FeatureCollection", "features": features })).unwrap();
    v.push(b'\n');
    v
}

#[test]
fn multi_school_prefers_a_neighbour_with_spare_seats() {
    // Three zones in a row: 0 – 1 – 2, school 1 hot.
    let mut p = instance(7, 6, 3, 1.0, 0.0);
    for (b, d) in [2, 0, 10, 10, 3, 2].into_iter().enumerate() {
        p.blocks[b].demand = d;
        p.blocks[b].locked = false;
    }
    let assignment = vec![0, 0, 1, 1, 2, 2];
    let adj = Adjacency::with_edges(&p, &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]);
    let group = |caps: [u32; 3], demand1: u32, max_group: usize| {
        let mut p = p.clone();
        for (s, c) in caps.into_iter().enumerate() {
            p.schools[s].capacity = c;
        }
        p.blocks[2].demand = demand1;
        let multi = MultiSchoolParams {
            max_group,
            ..MultiSchoolParams::default()
        };
        multischool::group_schools(&p, &assignment, &adj, &multi)
            .into_iter()
            .map(|g| g.schools)
            .collect::<Vec<_>>()
    };
    // School 2 has more spare seats and the merge fits: stop there.
    assert_eq!(group([10, 10, 30], 10, 3), vec![vec![1, 2]]);
    // School 0 fits, school 2 does not: the fitting merge wins.
    assert_eq!(group([40, 10, 11], 30, 3), vec![vec![0, 1]]);
    // Nothing fits: grow to max_group.
    assert_eq!(group([10, 10, 30], 100, 3), vec![vec![0, 1, 2]]);
    assert_eq!(group([10, 10, 30], 100, 2), vec![vec![1, 2]]);
    // Nobody hot: no group.
    assert_eq!(group([100, 100, 100], 10, 3), Vec::<Vec<u32>>::new());
    // Invalid parameters are refused.
    let bad = ZoningParams {
        multi_school: Some(MultiSchoolParams {
            min_utilisation: 0.9,
            max_group: 1,
        }),
        ..base_params()
    };
    assert!(matches!(bad.validate(), Err(ZoningError::BadParameter { .. })));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// The cell arc walks the disc's steps in order and gives exactly the vertices, in the same
    /// order, as testing every step and sorting the survivors; angles include the steps
    /// themselves (where rounding decides), spans up to the full circle.
    #[test]
    fn the_cell_arc_equals_testing_every_step_and_sorting(
        cx in -5000.0f64..5000.0,
        cy in -5000.0f64..5000.0,
        radius in 1.0f64..5000.0,
        a0 in proptest::prop_oneof![
            -std::f64::consts::PI..std::f64::consts::PI,
            (-12i32..12).prop_map(|k| k as f64 * std::f64::consts::TAU / 24.0),
            (-12i32..12, -1e-9f64..1e-9).prop_map(|(k, e)| k as f64 * std::f64::consts::TAU / 24.0 + e),
        ],
        span in proptest::prop_oneof![
            0.0f64..std::f64::consts::TAU,
            (0i32..=24).prop_map(|k| k as f64 * std::f64::consts::TAU / 24.0),
            Just(std::f64::consts::TAU),
            0.0f64..1e-8,
        ],
    ) {
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        cells::arc((cx, cy), radius, a0, span, &mut fast);
        cells::arc_by_sorting((cx, cy), radius, a0, span, &mut slow);
        proptest::prop_assert_eq!(fast, slow);
    }
}

/// A strip two blocks wide cut into `zones` zones of five columns, one child per block, each
/// school at its zone's middle; the first school has one seat too few and the last one seat
/// spare, so the only repair is a chain through every zone in between.
fn strip_of_full_zones(zones: usize) -> (ZoningProblem, Vec<u32>) {
    let cols = 5 * zones;
    let step = 0.001;
    let mut r = Rng(7);
    let mut blocks = Vec::new();
    let mut assign = Vec::new();
    for c in 0..cols {
        for row in 0..2 {
            // A little jitter keeps the Delaunay graph free of four points on one circle.
            let location = Location::from_wgs84(
                120.3 + c as f64 * step + 1e-5 * r.unit(),
                31.5 + row as f64 * step + 1e-5 * r.unit(),
            );
            blocks.push(ZoneBlock {
                id: format!("B{c}_{row}"),
                district: 0,
                location,
                demand: 1,
                locked: false,
            });
            assign.push((c / 5) as u32);
        }
    }
    let schools = (0..zones)
        .map(|z| ZoneSchool {
            id: format!("S{z}"),
            name: format!("学校{z}"),
            district: 0,
            location: Location::from_wgs84(120.3 + (5 * z + 2) as f64 * step, 31.5 + 0.5 * step),
            capacity: if z == 0 {
                9
            } else if z + 1 == zones {
                11
            } else {
                10
            },
            city_index: None,
        })
        .collect();
    let nb = blocks.len();
    let problem = ZoningProblem {
        stage: Stage::Primary,
        districts: vec!["甲区".into()],
        schools,
        blocks,
        current: StageZones::from_pairs(nb, &[]),
        distances: Distances::StraightLine,
        barriers: Vec::new(),
    };
    (problem, assign)
}

#[test]
fn capacity_repair_passes_an_excess_along_a_chain_of_full_zones() {
    // Twelve zones: the excess must cross ten full zones, deeper than the first chain search
    // looks, so only the deep search (which crosses zones through blocks that can move) fixes
    // it. Every zone stays one piece and no school ends over its limit.
    for zones in [3, 8, 12, 30] {
        let (p, mut assign) = strip_of_full_zones(zones);
        // Long hull edges of the jittered strip would join far zones directly.
        let params = ZoningParams {
            max_edge_m: Some(200),
            ..base_params()
        };
        let adj = Adjacency::delaunay(&p, params.max_edge_m);
        let costs = repair::CostModel::new(&p, &params, 0, &FlowBound::default());
        repair::repair(&p, &params, &adj, &costs, &mut assign);
        let mut load = vec![0i64; zones];
        for &s in &assign {
            load[s as usize] += 1;
        }
        for s in 0..zones {
            assert!(
                load[s] <= p.limit(&params, s as u32),
                "{zones} zones: school {s} holds {}",
                load[s]
            );
        }
        let pieces = repair::zone_pieces(&p, &adj, &assign);
        assert!(pieces.iter().all(|z| z.len() == 1), "{zones} zones: {pieces:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

    /// The counted table from `distances.csv` pairs equals per-block lists sorted and
    /// deduplicated by `from_lists`, for any pair order, schools that take no part and blocks
    /// past the end.
    #[test]
    fn the_counted_distance_table_equals_the_one_from_lists(
        city_schools in 1usize..12,
        blocks in 0usize..30,
        raw in proptest::collection::vec((0u32..14, 0u32..34, 0u32..5_000_000), 0..200),
        dropped in proptest::collection::vec(proptest::bool::ANY, 14),
    ) {
        // City school → problem index (reversed order, some left out).
        let mut problem_school = vec![u32::MAX; city_schools];
        let mut next = 0;
        for cs in (0..city_schools).rev() {
            if !dropped[cs] {
                problem_school[cs] = next;
                next += 1;
            }
        }
        // One pair per (school, block), as distances.csv's map keeps.
        let mut pairs: Vec<(u32, u32, u32)> = Vec::new();
        for (cs, b, mm) in raw {
            if !pairs.iter().any(|p| p.0 == cs && p.1 == b) {
                pairs.push((cs, b, mm));
            }
        }
        let mut lists: Vec<Vec<(u32, u32)>> = vec![Vec::new(); blocks];
        for &(cs, b, mm) in &pairs {
            let s = problem_school.get(cs as usize).copied().unwrap_or(u32::MAX);
            if s != u32::MAX && (b as usize) < blocks {
                lists[b as usize].push((s, crate::spatial::metres_of_mm(mm)));
            }
        }
        let fast = DistanceTable::from_pairs_mm(|| pairs.iter().copied(), &problem_school, blocks);
        proptest::prop_assert_eq!(fast, DistanceTable::from_lists(lists));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

    /// A block's neighbouring zones, kept inline up to 16 values and on the heap beyond, are
    /// the values sorted and deduplicated in a plain list.
    #[test]
    fn neighbour_zone_lists_equal_a_sorted_deduplicated_vec(
        values in proptest::collection::vec(0u32..20, 0..40),
    ) {
        let mut expected = values.clone();
        expected.sort_unstable();
        expected.dedup();
        let zones = repair::Zones::sorted(values.iter().copied(), values.len());
        proptest::prop_assert_eq!(zones.as_slice(), expected.as_slice());
    }
}

/// The repair's prices of table pairs, taken once up front, equal the prices worked out from
/// scratch for every block and school (pairs missing from the table included), under random
/// locks, current zones, λ, district and distance rules.
#[test]
fn repair_prices_from_the_table_equal_prices_from_scratch() {
    for seed in 0..60u64 {
        let mut p = instance(seed, 40 + seed as usize % 30, 3 + seed as usize % 5, 1.1, 0.2);
        let mut r = Rng(seed ^ 0x9a11);
        // A sparse table: each pair kept with probability 2/3, metres jittered.
        let mut lists: Vec<Vec<(u32, u32)>> = vec![Vec::new(); p.blocks.len()];
        for (b, list) in lists.iter_mut().enumerate() {
            for s in 0..p.schools.len() as u32 {
                if r.below(3) > 0 {
                    list.push((s, p.metres(b as u32, s).unwrap() + r.below(50) as u32));
                }
            }
        }
        p.distances = Distances::Table(DistanceTable::from_lists(lists));
        let params = ZoningParams {
            within_district: seed % 2 == 0,
            max_distance_m: (seed % 3 == 0).then_some(1_500),
            ..base_params()
        };
        let lambda = [0, 300, 5_000][seed as usize % 3];
        let bound = FlowBound::default();
        let fast = repair::CostModel::for_repair(&p, &params, lambda, &bound);
        let slow = repair::CostModel::new(&p, &params, lambda, &bound);
        let mut allowed = 0;
        for b in 0..p.blocks.len() as u32 {
            for s in 0..p.schools.len() as u32 {
                let expected = slow.unit(b, s);
                assert_eq!(fast.unit(b, s), expected, "seed {seed} block {b} school {s}");
                allowed += expected.is_some() as usize;
            }
        }
        assert!(allowed > 0, "seed {seed}: no allowed pair");
    }
}

proptest::proptest! {
    /// Bit interleaving equals placing each bit by hand.
    #[test]
    fn z_order_keys_interleave_the_bits(x in 0u32..65536, y in 0u32..65536) {
        let mut expected = 0u32;
        for i in 0..16 {
            expected |= ((x >> i) & 1) << (2 * i);
            expected |= ((y >> i) & 1) << (2 * i + 1);
        }
        proptest::prop_assert_eq!(cells::interleave(x, y), expected);
    }
}

/// The cells are built in Z-order of their sites: every vertex of the triangulation comes
/// exactly once, and neighbours in that order are near each other more often than in block
/// order (the point of the order).
#[test]
fn z_order_visits_every_vertex_once_and_keeps_neighbours_near() {
    for seed in 0..10u64 {
        let p = instance(seed, 400, 5, 1.2, 0.0);
        let adj = Adjacency::delaunay(&p, None);
        let t = adj.triangulation.as_deref().unwrap();
        let order = cells::z_order(t);
        let mut seen: Vec<usize> = order.iter().map(|h| h.index()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..spade::Triangulation::num_vertices(t)).collect::<Vec<_>>());
        let step = |a: usize, b: usize| {
            let (pa, pb) = (adj.xy[a], adj.xy[b]);
            ((pa.0 - pb.0).powi(2) + (pa.1 - pb.1).powi(2)).sqrt()
        };
        let block = |h: &spade::handles::FixedVertexHandle| spade::Triangulation::vertex(t, *h).data().block as usize;
        let z: f64 = order.windows(2).map(|w| step(block(&w[0]), block(&w[1]))).sum();
        let plain: f64 = (1..adj.xy.len())
            .filter(|&b| adj.rep[b] as usize == b && adj.rep[b - 1] as usize == b - 1)
            .map(|b| step(b - 1, b))
            .sum();
        assert!(
            z < plain,
            "seed {seed}: Z-order walk {z:.0} m, block order {plain:.0} m"
        );
    }
}
