//! Criterion benches of the three matching mechanisms on seeded synthetic cities.
//!
//! A city of `n` students has `n / 100` programs on a square grid, about 1.05 seats per
//! student in total, and a few strong programs that everyone is drawn to. Each student lists
//! up to ten programs, mostly nearby ones and some popular ones, ordered by distance, appeal
//! and taste. Priority keys put the student's own catchment program first (tier 0), then an
//! exam score shared across programs, then a per-program lottery (ties between students go to
//! the lower index); serial dictatorship serves students by the same exam score. Keys are laid
//! out as the allocator packs them (tier, in-tier rank, lottery in 128 bits: the exam score
//! enters as its rank among the students) and, as the allocator does, the mechanisms run on
//! the same keys packed into 64 bits ([`KeyPacking`]); `deferred_acceptance_128` runs
//! deferred acceptance on the 128-bit keys for comparison.
//!
//! The generator is a SplitMix64 stream written out here, so the bench needs no RNG crate.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use xuequ::mechanism::{
    KeyPacking, Market, PriorityKey, UNPLACED, deferred_acceptance, immediate_acceptance, serial_dictatorship,
};

/// Sizes swept by the bench (students).
const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

/// Programs on each student's list, at most.
const LIST_LEN: usize = 10;

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, well-mixed, seedable generator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (multiply-shift, no modulo bias worth mentioning).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A synthetic city: its market, the same market with packed keys, and the
/// serial-dictatorship order.
struct City {
    market: Market,
    packed: Market<u64>,
    order: Vec<u32>,
}

/// Builds the city of `students` students from `seed`.
fn city(students: usize, seed: u64) -> City {
    let mut rng = SplitMix64(seed);
    let programs = (students / 100).max(10);
    let side = (programs as f64).sqrt().ceil() as usize;
    let rows = programs.div_ceil(side);

    // Program p sits in grid cell (p % side, p / side), jittered inside the cell.
    let site: Vec<(f64, f64)> = (0..programs)
        .map(|p| {
            let x = (p % side) as f64 + 0.2 + 0.6 * rng.unit();
            let y = (p / side) as f64 + 0.2 + 0.6 * rng.unit();
            (x, y)
        })
        .collect();
    // Appeal in [0, 1), heavily skewed: a few strong programs.
    let appeal: Vec<f64> = (0..programs).map(|_| rng.unit().powi(4)).collect();
    let mut popular: Vec<u32> = (0..programs as u32).collect();
    popular.sort_by(|&a, &b| appeal[b as usize].total_cmp(&appeal[a as usize]));
    popular.truncate((programs / 20).max(1));
    let seats_each = 1.05 * students as f64 / programs as f64;
    let capacity: Vec<u32> = (0..programs)
        .map(|_| (seats_each * (0.7 + 0.6 * rng.unit())).round() as u32)
        .collect();

    let mut market = Market {
        capacity,
        list_start: Vec::with_capacity(students + 1),
        list_program: Vec::with_capacity(students * LIST_LEN),
        list_key: Vec::with_capacity(students * LIST_LEN),
    };
    market.list_start.push(0);
    let mut score = Vec::with_capacity(students);
    // Per list entry: whether it is outside the catchment, and its lottery number.
    let mut draws: Vec<(bool, u32)> = Vec::with_capacity(students * LIST_LEN);
    let mut candidates: Vec<(f64, u32)> = Vec::with_capacity(32);
    let mut chosen: Vec<u32> = Vec::with_capacity(LIST_LEN);
    for _ in 0..students {
        let x = rng.unit() * side as f64;
        let y = rng.unit() * rows as f64;
        let (cx, cy) = (x as usize, y as usize);
        let home = cy * side + cx;

        candidates.clear();
        let mut consider = |p: usize, rng: &mut SplitMix64| {
            let (px, py) = site[p];
            let distance = (x - px).hypot(y - py);
            candidates.push((distance - 3.0 * appeal[p] + rng.unit(), p as u32));
        };
        for gy in cy.saturating_sub(2)..=(cy + 2).min(rows - 1) {
            for gx in cx.saturating_sub(2)..=(cx + 2).min(side - 1) {
                let p = gy * side + gx;
                if p < programs {
                    consider(p, &mut rng);
                }
            }
        }
        for _ in 0..6 {
            consider(popular[rng.below(popular.len())] as usize, &mut rng);
        }
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
        chosen.clear();
        for &(_, p) in &candidates {
            if chosen.len() == LIST_LEN {
                break;
            }
            if !chosen.contains(&p) {
                chosen.push(p);
            }
        }

        let exam = rng.next_u64() as u32;
        score.push(exam);
        for &p in &chosen {
            draws.push((p as usize != home, rng.next_u64() as u32));
            market.list_program.push(p);
        }
        market.list_start.push(market.list_program.len() as u32);
    }

    let mut order: Vec<u32> = (0..students as u32).collect();
    order.sort_by_key(|&s| (score[s as usize], s));
    // The exam score's dense rank (equal scores share a rank).
    let mut exam_rank = vec![0u32; students];
    for w in 1..students {
        let (before, s) = (order[w - 1] as usize, order[w] as usize);
        exam_rank[s] = exam_rank[before] + u32::from(score[s] != score[before]);
    }
    for (s, &rank) in exam_rank.iter().enumerate() {
        for i in market.list_range(s) {
            let (outside, lottery) = draws[i];
            let key = u128::from(outside) << 96 | u128::from(rank) << 32 | u128::from(lottery);
            market.list_key.push(PriorityKey(key));
        }
    }
    let packing = KeyPacking::of_keys(market.list_key.iter().copied()).expect("tier, rank and lottery fit in 64 bits");
    let packed = Market {
        capacity: market.capacity.clone(),
        list_start: market.list_start.clone(),
        list_program: market.list_program.clone(),
        list_key: market.list_key.iter().map(|&k| packing.pack(k)).collect(),
    };
    City { market, packed, order }
}

/// One line of context per city: how often students get their first choice or nothing.
fn describe(students: usize, city: &City) {
    let m = &city.packed;
    let seats: u64 = m.capacity.iter().map(|&c| u64::from(c)).sum();
    let summary = |name: &str, position: &[u32]| {
        let first = position.iter().filter(|&&p| p == 0).count();
        let unplaced = position.iter().filter(|&&p| p == UNPLACED).count();
        format!(
            "{name}: {:.1}% first choice, {:.1}% unplaced",
            100.0 * first as f64 / students as f64,
            100.0 * unplaced as f64 / students as f64
        )
    };
    let da = deferred_acceptance(m).position;
    assert_eq!(
        da,
        deferred_acceptance(&city.market).position,
        "packed keys, same matching"
    );
    eprintln!(
        "city of {students} students, {} programs, {seats} seats, {} list entries; {}; {}; {}",
        m.programs(),
        m.list_program.len(),
        summary("DA", &da),
        summary("IA", &immediate_acceptance(m).position),
        summary("SD", &serial_dictatorship(m, &city.order).position),
    );
}

fn mechanisms(c: &mut Criterion) {
    for students in SIZES {
        let city = city(students, 0x7875_6571_u64 ^ students as u64);
        describe(students, &city);
        let mut group = c.benchmark_group(format!("mechanisms/{students}"));
        group.throughput(Throughput::Elements(students as u64));
        if students >= 1_000_000 {
            group.sample_size(10);
        }
        group.bench_function("deferred_acceptance", |b| {
            b.iter(|| deferred_acceptance(black_box(&city.packed)));
        });
        group.bench_function("deferred_acceptance_128", |b| {
            b.iter(|| deferred_acceptance(black_box(&city.market)));
        });
        group.bench_function("immediate_acceptance", |b| {
            b.iter(|| immediate_acceptance(black_box(&city.packed)));
        });
        group.bench_function("serial_dictatorship", |b| {
            b.iter(|| serial_dictatorship(black_box(&city.packed), black_box(&city.order)));
        });
        group.finish();
    }
}

criterion_group!(benches, mechanisms);
criterion_main!(benches);
