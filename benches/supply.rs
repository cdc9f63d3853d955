//! Criterion benches of seat supply planning on the synthetic Wuxi preset (xuequ-synth,
//! default size: 6,000 blocks, 258 public primary schools), loaded from real files.
//!
//! - `forecast/all_stages_10y`: the ten-year forecast of all three stages, and rendering
//!   its five files in memory;
//! - `siting/primary_{p}_of_{n}`: choosing `p` new primary schools among `n` candidate sites
//!   (sites at seeded random blocks, 135/180/270 seats), capacitated p-median; `n` sweeps 250
//!   and 1,000, `p` 10 and 30;
//! - `siting/assignment`: one exact assignment of the design year's demand to the existing
//!   schools from scratch (the transportation solve every siting run starts from).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use xuequ::Stage;
use xuequ::supply::{self, CandidateSites, PlanningParams, Site, SitingProblem};

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
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

fn wuxi(dir: &Path) -> xuequ::Dataset {
    let config = xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Wuxi);
    xuequ_synth::write_city(&config, dir, &mut |_| {}).expect("synthetic city");
    xuequ::Dataset::load(&dir.join("scenario.toml")).expect("valid city")
}

/// `n` candidate sites at distinct random blocks, shifted ~50 m.
fn sites(data: &xuequ::Dataset, n: usize, seed: u64) -> CandidateSites {
    let mut rng = SplitMix64(seed);
    let mut order: Vec<usize> = (0..data.city.blocks.len()).collect();
    for i in 0..n.min(order.len()) {
        let j = i + rng.below(order.len() - i);
        order.swap(i, j);
    }
    let list = order[..n]
        .iter()
        .enumerate()
        .map(|(k, &b)| {
            let block = &data.city.blocks[b];
            Site {
                id: format!("X{k:04}"),
                name: format!("{}地块", block.name),
                district: block.district,
                location: xuequ::model::Location::from_wgs84(block.location.lon + 0.0005, block.location.lat),
                capacity: Some([135, 180, 270][rng.below(3)]),
                stage: None,
            }
        })
        .collect();
    CandidateSites::from_sites(list).expect("distinct ids")
}

fn supply_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let data = wuxi(dir.path());
    let params = PlanningParams::default();

    let mut group = c.benchmark_group("forecast");
    group.sample_size(20);
    group.bench_function("all_stages_10y", |b| {
        b.iter(|| supply::forecast(black_box(&data), None, &params.forecast, &Stage::ALL))
    });
    let fc = supply::forecast(&data, None, &params.forecast, &Stage::ALL);
    group.bench_function("render_files", |b| {
        b.iter(|| supply::report::forecast_files(black_box(&data), black_box(&fc), false))
    });
    group.finish();

    let mut group = c.benchmark_group("siting");
    group.sample_size(10);
    let primary = supply::forecast(&data, None, &params.forecast, &[Stage::Primary]);
    for n in [250usize, 1000] {
        let candidates = sites(&data, n, 20_260_701);
        let problem = SitingProblem::build(&data, &primary, Stage::Primary, &candidates, None, &params.siting)
            .expect("siting problem");
        if n == 1000 {
            let open: Vec<bool> = (0..problem.facilities.len()).map(|f| f < problem.existing).collect();
            group.bench_function("assignment", |b| {
                b.iter(|| supply::transport::Solution::solve(black_box(&problem.instance), open.clone()))
            });
        }
        for p in [10usize, 30] {
            group.bench_function(format!("primary_{p}_of_{n}"), |b| {
                b.iter(|| supply::site(black_box(&problem), p, &params.siting).expect("sited"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, supply_benches);
criterion_main!(benches);
