//! Criterion benches of each stage of a whole run, on seeded synthetic cities written by
//! `xuequ-synth` (the same files a user would run): loading and validating the CSV inputs,
//! allocation (candidate lists with spatial overflow queries, priorities, the mechanism per
//! market, the final pass), the independent audit, writing the outputs, and the whole run.
//!
//! Shapes: `choice10` (every applicant ranks ten schools: the shape school-choice libraries
//! are measured on) and `wuxi` (catchment zones, overflow within 3 km, tiers, seat locks).
//! Sizes: 10k, 100k and 1M applicants. Cities are generated once per size into a temporary
//! folder before timing starts.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use xuequ_synth::{Preset, SynthConfig};

const SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];

fn city(dir: &Path, preset: Preset, n: u64) -> std::path::PathBuf {
    let out = dir.join(format!("{preset}-{n}"));
    let config = SynthConfig {
        preset,
        applicants: Some(n),
        seed: 7,
        year: 2026,
    };
    xuequ_synth::write_city(&config, &out, &mut |_| {}).expect("synthetic city");
    out.join("scenario.toml")
}

fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    for preset in [Preset::Choice { k: 10 }, Preset::Wuxi] {
        let mut group = c.benchmark_group(format!("pipeline/{preset}"));
        for n in SIZES {
            if n >= 1_000_000 {
                group.sample_size(10);
            }
            group.throughput(Throughput::Elements(n));
            let scenario = city(dir.path(), preset, n);
            let data = xuequ::Dataset::load(&scenario).expect("valid city");
            let allocation = xuequ::allocate(&data);
            let report = xuequ::audit(&data, &allocation);
            assert!(report.passed());
            let out = dir.path().join(format!("out-{preset}-{n}"));
            group.bench_function(BenchmarkId::new("load", n), |b| {
                b.iter(|| xuequ::Dataset::load(black_box(&scenario)).expect("valid city"))
            });
            group.bench_function(BenchmarkId::new("allocate", n), |b| {
                b.iter(|| xuequ::allocate(black_box(&data)))
            });
            group.bench_function(BenchmarkId::new("audit", n), |b| {
                b.iter(|| xuequ::audit(black_box(&data), black_box(&allocation)))
            });
            group.bench_function(BenchmarkId::new("write", n), |b| {
                b.iter(|| xuequ::write_outputs(&out, &data, &allocation, &report, Default::default()).expect("written"))
            });
            group.bench_function(BenchmarkId::new("whole_run", n), |b| {
                b.iter(|| {
                    let data = xuequ::Dataset::load(&scenario).expect("valid city");
                    let allocation = xuequ::allocate(&data);
                    let report = xuequ::audit(&data, &allocation);
                    xuequ::write_outputs(&out, &data, &allocation, &report, Default::default()).expect("written")
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
