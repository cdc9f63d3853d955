//! Criterion benches of catchment zoning.
//!
//! - `wuxi_primary`: the synthetic Wuxi preset (xuequ-synth, default size: about 6,000 blocks
//!   and 250 public primary schools), loaded from real files; lower bound and full zoning.
//! - `wuxi50k_primary`: the same preset scaled to 1.84 million applicants (50,184 blocks,
//!   2,096 open public primary schools, 710,912 primary children); lower bound and full
//!   zoning with contiguity.
//! - `stress_50k_2k` (only with `ZONING_BENCH_STRESS=1`): a harsher seeded city of 50,000
//!   blocks and 2,000 schools built in memory (clustered around 60 towns in a 100 km square,
//!   about 89 children per block, 4.45 million in all, seats 5 % above demand but spread very
//!   unevenly, current zones = nearest school before a 9 % demand drift).
//!
//! - `flow_ratio` (`cargo bench --bench zoning -- flow_ratio`, which skips the instances above):
//!   the project's network simplex against its plain successive-shortest-path solver on the
//!   same min-cost flow: the stress city's generator at 5,000 blocks (`FLOW_RATIO_BLOCKS`
//!   to change) and one school per 25 blocks, each block joined to its 10 nearest schools, an
//!   unserved arc per block, seats as school → sink capacities. Both are checked to reach the
//!   same optimal cost before timing.
//!
//! `ZONING_BENCH_REPORT=1` prints each instance's gap and timings once before measuring.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use xuequ::flow::{INFINITE, Network, NetworkSimplex, successive_shortest_paths};
use xuequ::model::{Location, Stage, StageZones};
use xuequ::zoning::{
    self, Demand, Distances, SchoolEdits, ZoneBlock, ZoneSchool, ZoningParams, ZoningProblem, lower_bound,
};

/// SplitMix64 (Steele, Lea & Flood 2014).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
    /// Roughly normal: the sum of four uniforms, centred, unit variance.
    fn normal(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 3f64.sqrt()
    }
}

/// The seeded 50k × 2k city.
pub fn city(blocks: usize, schools: usize, seed: u64) -> ZoningProblem {
    let mut r = SplitMix64(seed);
    let (lon0, lat0): (f64, f64) = (120.3, 31.5);
    let km_lon = 1.0 / (111.32 * lat0.to_radians().cos());
    let km_lat = 1.0 / 110.57;
    let towns: Vec<(f64, f64, f64)> = (0..60)
        .map(|_| (100.0 * r.unit() - 50.0, 100.0 * r.unit() - 50.0, 1.0 + 4.0 * r.unit()))
        .collect();
    let weight_total: f64 = towns.iter().map(|t| t.2).sum();
    let place = |r: &mut SplitMix64| {
        let mut pick = r.unit() * weight_total;
        let mut town = towns[0];
        for t in &towns {
            if pick < t.2 {
                town = *t;
                break;
            }
            pick -= t.2;
        }
        let sigma = 1.0 + town.2 * 0.6;
        let (x, y) = (town.0 + sigma * r.normal(), town.1 + sigma * r.normal());
        Location::from_wgs84(lon0 + x * km_lon, lat0 + y * km_lat)
    };
    let block_loc: Vec<Location> = (0..blocks).map(|_| place(&mut r)).collect();
    let school_loc: Vec<Location> = (0..schools).map(|_| place(&mut r)).collect();
    let base: Vec<u32> = (0..blocks).map(|_| 40 + r.below(100) as u32).collect();
    // Current zones: the nearest school (brute force on squared chords).
    let d2 = |a: [f64; 3], b: [f64; 3]| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2);
    let nearest: Vec<u32> = block_loc
        .iter()
        .map(|b| {
            (0..schools as u32)
                .min_by(|&x, &y| {
                    d2(b.ecef, school_loc[x as usize].ecef).total_cmp(&d2(b.ecef, school_loc[y as usize].ecef))
                })
                .unwrap_or(0)
        })
        .collect();
    let mut load = vec![0u64; schools];
    for (b, &s) in nearest.iter().enumerate() {
        load[s as usize] += base[b] as u64;
    }
    // 9 % demand drift since the zones were drawn.
    let demand: Vec<u32> = base
        .iter()
        .map(|&d| ((d as f64) * (1.0 + 0.18 * (r.unit() - 0.5))).round() as u32)
        .collect();
    let total: u64 = demand.iter().map(|&d| d as u64).sum();
    let load_total: u64 = load.iter().sum();
    let raw: Vec<f64> = (0..schools)
        .map(|s| 0.5 * load[s] as f64 + 0.5 * (load_total as f64 / schools as f64) * (0.6 + 0.8 * r.unit()))
        .collect();
    let raw_total: f64 = raw.iter().sum();
    let capacity: Vec<u32> = raw
        .iter()
        .map(|&c| (c * 1.05 * total as f64 / raw_total).round() as u32)
        .collect();
    let pairs: Vec<(u32, u32)> = nearest.iter().enumerate().map(|(b, &s)| (b as u32, s)).collect();
    ZoningProblem {
        stage: Stage::Primary,
        districts: vec!["市区".into()],
        schools: (0..schools)
            .map(|s| ZoneSchool {
                id: format!("S{s:05}"),
                name: format!("学校{s}"),
                district: 0,
                location: school_loc[s],
                capacity: capacity[s],
                city_index: None,
            })
            .collect(),
        blocks: (0..blocks)
            .map(|b| ZoneBlock {
                id: format!("B{b:06}"),
                district: 0,
                location: block_loc[b],
                demand: demand[b],
                locked: false,
            })
            .collect(),
        current: StageZones::from_pairs(blocks, &pairs),
        distances: Distances::StraightLine,
        barriers: Vec::new(),
    }
}

/// The Wuxi preset's primary stage (scaled to `applicants` over all stages when given),
/// through the real files and loader.
fn wuxi(applicants: Option<u64>) -> ZoningProblem {
    let dir = std::env::temp_dir().join(format!("xuequ-zoning-bench-{}", std::process::id()));
    let mut config = xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Wuxi);
    config.applicants = applicants;
    xuequ_synth::write_city(&config, &dir, &mut |_| {}).expect("the synthetic city is written");
    let data = xuequ::Dataset::load(&dir.join("scenario.toml")).expect("the synthetic city loads");
    let _ = std::fs::remove_dir_all(&dir);
    let demand = Demand::from_students(&data, Stage::Primary);
    ZoningProblem::from_dataset(&data, Stage::Primary, &demand, &SchoolEdits::default(), &[])
        .expect("the Wuxi preset has primary schools")
}

fn report(name: &str, p: &ZoningProblem) {
    if std::env::var_os("ZONING_BENCH_REPORT").is_none() {
        return;
    }
    let params = ZoningParams::default();
    let t = Instant::now();
    let b = lower_bound(p, &params, 0, &|_| {}).expect("the bound solves");
    let lb = t.elapsed();
    let t = Instant::now();
    let z = zoning::zone(p, &params, &|_| {}).expect("the zoning runs");
    let full = t.elapsed();
    let o = &z.report.overall;
    eprintln!(
        "{name}: {} blocks, {} schools, {} children; bound {:.3} s ({} pivots, {} rounds), full {:.3} s {:?}; \
         gap {:.2}%, travel gap {:.2}%, over limit {}, non-contiguous {}, moved {:.1}%",
        p.blocks.len(),
        p.schools.len(),
        p.total_demand(),
        lb.as_secs_f64(),
        b.pivots,
        b.rounds,
        full.as_secs_f64(),
        z.timings,
        o.gap * 100.0,
        o.travel_gap * 100.0,
        o.children_over_limit,
        o.non_contiguous_zones,
        o.moved_share * 100.0
    );
}

/// The transportation network of a zoning problem with each block's `k` nearest schools
/// (straight metres), an unserved arc per block and seats as school → sink capacities.
fn transport_network(p: &ZoningProblem, k: usize, unserved_m: i64) -> Network {
    let (nb, ns) = (p.blocks.len(), p.schools.len());
    let sink = (nb + ns) as u32;
    let mut net = Network::new(nb + ns + 1);
    let mut total = 0i64;
    let d2 = |a: [f64; 3], b: [f64; 3]| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2);
    for (b, block) in p.blocks.iter().enumerate() {
        let demand = i64::from(block.demand);
        net.set_supply(b as u32, demand);
        total += demand;
        let mut near: Vec<(f64, u32)> = (0..ns as u32)
            .map(|s| (d2(block.location.ecef, p.schools[s as usize].location.ecef), s))
            .collect();
        let k = k.min(near.len());
        if k > 0 && k < near.len() {
            near.select_nth_unstable_by(k - 1, |x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        }
        near.truncate(k);
        near.sort_by_key(|x| x.1);
        for (_, s) in near {
            let metres = p.metres(b as u32, s).unwrap_or(u32::MAX / 2);
            net.add_arc(b as u32, (nb as u32) + s, INFINITE, i64::from(metres));
        }
        net.add_arc(b as u32, sink, INFINITE, unserved_m);
    }
    for (s, school) in p.schools.iter().enumerate() {
        net.add_arc((nb + s) as u32, sink, i64::from(school.capacity), 0);
    }
    net.set_supply(sink, -total);
    net
}

/// Network simplex against successive shortest paths on one instance.
fn flow_ratio(c: &mut Criterion) {
    // SSP needs minutes at the full 50k × 2k size; FLOW_RATIO_BLOCKS=50000 asks for it
    // (schools scale with blocks, one per 25).
    let blocks: usize = std::env::var("FLOW_RATIO_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let problem = city(blocks, (blocks / 25).max(1), 20_260_701);
    let net = transport_network(&problem, 10, 1_000_000);
    let t = Instant::now();
    let mut simplex = NetworkSimplex::new(&net).expect("the network is valid");
    simplex.solve().expect("the simplex solves");
    let simplex_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let ssp = successive_shortest_paths(&net).expect("SSP solves");
    let ssp_s = t.elapsed().as_secs_f64();
    assert_eq!(simplex.total_cost(), ssp.total_cost, "both solvers reach the optimum");
    eprintln!(
        "flow_ratio: {} nodes, {} arcs, optimum {}; one solve: simplex {simplex_s:.3} s ({} pivots), SSP {ssp_s:.3} s ({} searches), SSP ÷ simplex {:.1}",
        net.node_count(),
        net.arc_count(),
        ssp.total_cost,
        simplex.pivots(),
        ssp.searches,
        ssp_s / simplex_s
    );
    let mut g = c.benchmark_group("flow_ratio");
    g.sample_size(10);
    g.bench_function("network_simplex", |b| {
        b.iter(|| {
            let mut s = NetworkSimplex::new(&net).expect("valid");
            s.solve().expect("solves");
            black_box(s.total_cost())
        })
    });
    g.bench_function("successive_shortest_paths", |b| {
        b.iter(|| black_box(successive_shortest_paths(&net).expect("solves").total_cost))
    });
    g.finish();
}

/// True when the command line's filter asks for the flow ratio only (the other instances
/// take long to build).
fn only_flow_ratio() -> bool {
    std::env::args().skip(1).any(|a| a == "flow_ratio")
}

fn benches(c: &mut Criterion) {
    if only_flow_ratio() {
        return;
    }
    let params = ZoningParams::default();
    let mut g = c.benchmark_group("zoning");
    g.sample_size(10);

    let w = wuxi(None);
    report("wuxi_primary", &w);
    g.bench_function("wuxi_primary/lower_bound", |b| {
        b.iter(|| black_box(lower_bound(&w, &params, 0, &|_| {}).expect("solves")))
    });
    g.bench_function("wuxi_primary/zone", |b| {
        b.iter(|| black_box(zoning::zone(&w, &params, &|_| {}).expect("zones")))
    });

    let big = wuxi(Some(1_840_000));
    report("wuxi50k_primary", &big);
    g.bench_function("wuxi50k_primary/lower_bound", |b| {
        b.iter(|| black_box(lower_bound(&big, &params, 0, &|_| {}).expect("solves")))
    });
    g.bench_function("wuxi50k_primary/zone", |b| {
        b.iter(|| black_box(zoning::zone(&big, &params, &|_| {}).expect("zones")))
    });
    drop(big);

    if std::env::var_os("ZONING_BENCH_STRESS").is_some() {
        let stress = city(50_000, 2_000, 20_260_701);
        report("stress_50k_2k", &stress);
        g.bench_function("stress_50k_2k/lower_bound", |b| {
            b.iter(|| black_box(lower_bound(&stress, &params, 0, &|_| {}).expect("solves")))
        });
        g.bench_function("stress_50k_2k/zone", |b| {
            b.iter(|| black_box(zoning::zone(&stress, &params, &|_| {}).expect("zones")))
        });
    }
    g.finish();
}

fn flow_benches(c: &mut Criterion) {
    if only_flow_ratio() || std::env::args().skip(1).all(|a| a.starts_with('-')) {
        flow_ratio(c);
    }
}

criterion_group!(zoning_benches, benches, flow_benches);
criterion_main!(zoning_benches);
