//! Criterion benches of the road network.
//!
//! - `wuxi_walk_3km`: the synthetic Wuxi preset (xuequ-synth, default size: about 6,000
//!   blocks and 600 schools over three stages) and its walking network (about 300,000 nodes),
//!   snapping every block and school and a bounded Dijkstra from every school, 3 km radius.
//! - `load_pbf_50mb` (only with `ROADS_BENCH_LOAD=1`): reading a synthetic 51 MB `.osm.pbf`
//!   (a street grid of 1.6 million nodes plus 3 buildings per cell, 21 million nodes and 5
//!   million ways in all) into a network, cache off.
//! - `csr_from_100_schools` and `petgraph_from_100_schools`: the same searches side by side, from
//!   the first 100 schools to every block over the Wuxi network: the project's CSR with its
//!   radius bound (3 km), and petgraph's `dijkstra` (which has no bound and returns a map per
//!   origin) over a `petgraph::Graph` of the same arcs, reading the blocks' nodes from its map.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use xuequ::crs::Crs;
use xuequ::spatial::{RoadMode, RoadsOptions, Spatial, load_network};

fn wuxi(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Wuxi);
    let summary = xuequ_synth::write_city(&config, dir.path(), &mut |_| {}).unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let network = load_network(&dir.path().join("roads.osm.pbf"), Crs::Wgs84, RoadMode::Walk, false).unwrap();
    let options = RoadsOptions {
        radius_m: 3000,
        ..RoadsOptions::default()
    };
    eprintln!(
        "wuxi: {} blocks, {} schools, {} nodes, {} segments ({:?})",
        data.city.blocks.len(),
        data.city.schools.len(),
        network.graph.node_count(),
        network.graph.segment_count(),
        summary.roads
    );
    let mut g = c.benchmark_group("roads");
    g.sample_size(10);
    g.bench_function("wuxi_walk_3km", |b| {
        b.iter(|| black_box(Spatial::roads(&data.city, network.clone(), options)))
    });
    // Side by side with petgraph over the same arcs.
    let graph = &network.graph;
    let schools: Vec<_> = data
        .city
        .schools
        .iter()
        .take(100)
        .map(|s| graph.snap(&s.location))
        .collect();
    let blocks: Vec<_> = data.city.blocks.iter().map(|b| graph.snap(&b.location)).collect();
    let mut pg = petgraph::Graph::<(), u32>::with_capacity(graph.node_count(), graph.arc_count());
    let ids: Vec<_> = (0..graph.node_count()).map(|_| pg.add_node(())).collect();
    for s in graph.segments() {
        if s.forward {
            pg.add_edge(ids[s.a as usize], ids[s.b as usize], s.len_mm);
        }
        if s.backward {
            pg.add_edge(ids[s.b as usize], ids[s.a as usize], s.len_mm);
        }
    }
    let node_of = |snap: &Option<xuequ::spatial::Snap>| snap.map(|s| graph.segments()[s.segment as usize].a);
    let radius_mm = 3_000_000u32;
    g.bench_function("csr_from_100_schools", |b| {
        b.iter(|| black_box(graph.distances(&schools, &blocks, radius_mm)))
    });
    g.bench_function("petgraph_from_100_schools", |b| {
        b.iter(|| {
            let found: Vec<Vec<(u32, u64)>> = schools
                .iter()
                .map(|o| {
                    let Some(start) = node_of(o) else { return Vec::new() };
                    let dist = petgraph::algo::dijkstra(&pg, ids[start as usize], None, |e| u64::from(*e.weight()));
                    blocks
                        .iter()
                        .enumerate()
                        .filter_map(|(i, b)| {
                            let d = *dist.get(&ids[node_of(b)? as usize])?;
                            (d <= u64::from(radius_mm)).then_some((i as u32, d))
                        })
                        .collect()
                })
                .collect();
            black_box(found)
        })
    });
    if std::env::var_os("ROADS_BENCH_LOAD").is_some() {
        let path = dir.path().join("big.osm.pbf");
        let s = xuequ_synth::write_synthetic_network(&path, 1_150_000, 100.0, 3, 7).unwrap();
        eprintln!(
            "load: {} nodes, {} ways, {} bytes",
            s.nodes,
            s.ways,
            std::fs::metadata(&path).unwrap().len()
        );
        g.bench_function("load_pbf_50mb", |b| {
            b.iter(|| black_box(load_network(&path, Crs::Wgs84, RoadMode::Walk, false).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, wuxi);
criterion_main!(benches);
