//! Criterion benches of the road network.
//!
//! - `wuxi_walk_3km`: the synthetic Wuxi preset (xuequ-synth, default size: about 6,000
//!   blocks and 600 schools over three stages) and its walking network (about 300,000 nodes),
//!   snapping every block and school and a bounded Dijkstra from every school, 3 km radius.
//! - `load_pbf_50mb` (only with `ROADS_BENCH_LOAD=1`): reading a synthetic 51 MB `.osm.pbf`
//!   (a street grid of 1.6 million nodes plus 3 buildings per cell, 21 million nodes and 5
//!   million ways in all) into a network, cache off.

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
