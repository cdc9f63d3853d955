//! Unit tests of the supply module: the exact assignment against oracles, siting against
//! exhaustive search, forecast arithmetic by hand, and input diagnostics.
#![allow(clippy::unwrap_used)]

use super::forecast::{Oversize, ZoneSource};
use super::siting::simplex_cost;
use super::transport::{Instance, Solution};
use super::*;
use crate::model::Stage;

/// SplitMix64, for test instances only.
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
}

/// A random instance: `n` blocks, `m` facilities, each block with up to `k` arcs.
fn random_instance(rng: &mut Rng, n: usize, m: usize, k: usize, max_supply: u64, max_cap: u64) -> Instance {
    let supply: Vec<u32> = (0..n).map(|_| rng.below(max_supply + 1) as u32).collect();
    let arcs: Vec<Vec<(u32, u32)>> = (0..n)
        .map(|_| {
            let mut fs: Vec<u32> = (0..m as u32).collect();
            // Fisher–Yates prefix.
            for i in 0..fs.len().min(k) {
                let j = i + rng.below((fs.len() - i) as u64) as usize;
                fs.swap(i, j);
            }
            fs.truncate(k.min(m));
            fs.into_iter().map(|f| (f, 1 + rng.below(100) as u32)).collect()
        })
        .collect();
    let capacity: Vec<u32> = (0..m).map(|_| rng.below(max_cap + 1) as u32).collect();
    Instance::new(supply, &arcs, capacity, 150)
}

/// Brute force over every integer flow of a tiny instance.
fn brute_force_cost(inst: &Instance, open: &[bool]) -> i64 {
    fn rec(inst: &Instance, open: &[bool], block: u32, used: &mut Vec<u32>, acc: i64, best: &mut i64) {
        if block as usize == inst.blocks() {
            *best = (*best).min(acc);
            return;
        }
        let arcs: Vec<usize> = inst
            .arcs(block)
            .filter(|&a| open[inst.arc_facility(a) as usize])
            .collect();
        // Distribute the block's supply over its open arcs and the unmet option.
        #[allow(clippy::too_many_arguments)]
        fn split(
            inst: &Instance,
            open: &[bool],
            block: u32,
            arcs: &[usize],
            left: u32,
            used: &mut Vec<u32>,
            acc: i64,
            best: &mut i64,
        ) {
            if arcs.is_empty() {
                let cost = acc + i64::from(left) * i64::from(inst.unmet_cost());
                rec(inst, open, block + 1, used, cost, best);
                return;
            }
            let a = arcs[0];
            let j = inst.arc_facility(a) as usize;
            let room = inst.capacity(j as u32) - used[j];
            for x in 0..=left.min(room) {
                used[j] += x;
                split(
                    inst,
                    open,
                    block,
                    &arcs[1..],
                    left - x,
                    used,
                    acc + i64::from(x) * i64::from(inst.arc_cost(a)),
                    best,
                );
                used[j] -= x;
            }
        }
        split(inst, open, block, &arcs, inst.supply(block), used, acc, best);
    }
    let mut best = i64::MAX;
    let mut used = vec![0; inst.facilities()];
    rec(inst, open, 0, &mut used, 0, &mut best);
    best
}

#[test]
fn transport_matches_brute_force_on_tiny_instances() {
    let mut rng = Rng(7);
    for case in 0..300 {
        let n = 1 + rng.below(3) as usize;
        let m = 1 + rng.below(3) as usize;
        let inst = random_instance(&mut rng, n, m, 3, 3, 4);
        let open: Vec<bool> = (0..m).map(|_| rng.below(4) != 0).collect();
        let sol = Solution::solve(&inst, open.clone());
        sol.verify(&inst).unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(sol.cost(), brute_force_cost(&inst, &open), "case {case}");
    }
}

#[test]
fn transport_matches_network_simplex() {
    let mut rng = Rng(11);
    for case in 0..120 {
        let n = 5 + rng.below(60) as usize;
        let m = 2 + rng.below(12) as usize;
        let k = 1 + rng.below(6) as usize;
        let inst = random_instance(&mut rng, n, m, k, 30, 120);
        let open: Vec<bool> = (0..m).map(|_| rng.below(3) != 0).collect();
        let sol = Solution::solve(&inst, open.clone());
        sol.verify(&inst).unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(Some(sol.cost()), simplex_cost(&inst, &open), "case {case}");
    }
}

#[test]
fn transport_reoptimises_exactly_after_opening_and_closing() {
    let mut rng = Rng(23);
    for case in 0..60 {
        let n = 10 + rng.below(50) as usize;
        let m = 3 + rng.below(10) as usize;
        let k = 1 + rng.below(5) as usize;
        let inst = random_instance(&mut rng, n, m, k, 25, 100);
        let mut open: Vec<bool> = (0..m).map(|_| rng.below(2) == 0).collect();
        let mut sol = Solution::solve(&inst, open.clone());
        for step in 0..25 {
            let j = rng.below(m as u64) as u32;
            if open[j as usize] {
                sol.close(&inst, j);
            } else {
                sol.open(&inst, j);
            }
            open[j as usize] = !open[j as usize];
            sol.verify(&inst)
                .unwrap_or_else(|e| panic!("case {case} step {step}: {e}"));
            let fresh = Solution::solve(&inst, open.clone());
            assert_eq!(sol.cost(), fresh.cost(), "case {case} step {step}");
        }
    }
}

#[test]
fn shadow_prices_are_zero_at_facilities_with_free_seats() {
    let mut rng = Rng(5);
    let inst = random_instance(&mut rng, 40, 6, 4, 20, 60);
    let sol = Solution::solve(&inst, vec![true; 6]);
    for j in 0..6 {
        if sol.used(j) < inst.capacity(j) {
            assert_eq!(sol.price(&inst, j), 0);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Scenario fixtures.

fn write(dir: &std::path::Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

const TINY_SCHOOLS: &str =
    "school_id,name,district,stage,sector,lon,lat,capacity,classes,class_size,opens_year,purchased_seats
P1,一小,梁溪区,primary,public,120.300,31.570,90,2,45,,
P2,二小,梁溪区,primary,public,120.320,31.570,45,1,45,,
P3,新小,梁溪区,primary,public,120.340,31.570,45,1,45,2028,
M1,民办,梁溪区,primary,private,120.300,31.580,90,2,45,,45
J1,一中,梁溪区,junior,public,120.300,31.570,50,1,50,,
";

const TINY_BLOCKS: &str = "block_id,name,district,lon,lat,households,status,move_in_year,planned_households
B1,老城,梁溪区,120.301,31.570,1000,existing,,
B2,东村,梁溪区,120.321,31.570,2000,existing,,
B3,新城,梁溪区,120.341,31.570,0,new,2027,1000
B4,双校,梁溪区,120.310,31.570,500,existing,,
";

const TINY_ZONES: &str = "block_id,stage,school_id
B1,primary,P1
B2,primary,P2
B4,primary,P1
B4,primary,P2
B1,junior,J1
";

fn tiny() -> (tempfile::TempDir, crate::Dataset) {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "scenario.toml",
                "name = \"t\"\nyear = 2026\nstages = [\"primary\", \"junior\"]\n",
            ),
            ("schools.csv", TINY_SCHOOLS),
            ("blocks.csv", TINY_BLOCKS),
            ("zones.csv", TINY_ZONES),
            (
                "students.csv",
                "student_id,stage,block_id,migrant\nS1,primary,B1,true\nS2,primary,B1,false\n",
            ),
        ],
    );
    let data = crate::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    (dir, data)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn forecast_by_hand() {
    let (_d, data) = tiny();
    let params = ForecastParams::default();
    let fc = forecast(&data, None, &params, &[]);
    let p = fc.stage(Stage::Primary).unwrap();
    let rate = 0.0378;
    let y0 = &p.years[0];
    assert_eq!(y0.year, 2026);
    // Blocks: households × rate; the new block is empty before 2027.
    assert!(close(y0.blocks[0].children, 1000.0 * rate));
    assert!(close(y0.blocks[1].children, 2000.0 * rate));
    assert!(close(y0.blocks[2].children, 0.0));
    // B3 has no zone row: it takes the zone of its nearest zoned block (B2 → P2).
    assert_eq!(p.zone_source[2], ZoneSource::NearestBlock);
    assert_eq!(p.zones[p.block_zone[2].unwrap() as usize].id, "P2");
    // B4 is a multi-school zone: split 90:45 by capacity.
    assert_eq!(p.zones[p.block_zone[3].unwrap() as usize].id, "P1+P2");
    let p1 = &y0.schools[0];
    assert_eq!((p1.classes, p1.class_size, p1.capacity), (2, 45, 90));
    assert!(close(p1.demand, 1000.0 * rate + 500.0 * rate * 2.0 / 3.0));
    let p2 = &y0.schools[1];
    let d2 = 2000.0 * rate + 500.0 * rate / 3.0;
    assert!(close(p2.demand, d2));
    assert!(close(p2.shortfall, d2 - 45.0));
    assert_eq!(p2.extra_classes, ((d2 - 45.0) / 45.0).ceil() as u32);
    assert!(close(p2.average_class, d2));
    assert_eq!(p2.oversized, Oversize::SuperLarge, "{d2} children in one class");
    // P3 opens in 2028.
    assert!(!y0.schools[2].open && y0.schools[2].capacity == 0);
    assert!(p.years[2].schools[2].open);
    // New block: 30 %, 60 %, 85 %, 100 % of 1,000 planned households from 2027.
    for (t, share) in [(1, 0.30), (2, 0.60), (3, 0.85), (4, 1.0), (9, 1.0)] {
        assert!(close(p.years[t].blocks[2].households, 1000.0 * share), "year {t}");
        assert!(close(p.years[t].blocks[2].children, 1000.0 * share * rate));
    }
    // Shortfalls add up: blocks = zones = schools (+ unzoned), every year.
    for y in &p.years {
        let blocks: f64 = y.blocks.iter().map(|b| b.shortfall).sum();
        let zones: f64 = y.zones.iter().map(|z| z.shortfall).sum();
        let schools: f64 = y.schools.iter().map(|s| s.shortfall).sum();
        assert!((blocks - zones).abs() < 1e-6 && (zones - schools - y.total.unzoned_demand).abs() < 1e-6);
        assert!((y.total.shortfall - blocks).abs() < 1e-6);
        // Seats of zoned schools are shared out among zones (P3 has no zone).
        let cap: f64 = y.zones.iter().map(|z| z.capacity).sum();
        let zoned: u32 = y.schools[..2].iter().map(|s| s.capacity).sum();
        assert!((cap - f64::from(zoned)).abs() < 1e-6, "zone capacity shares add up");
    }
    // District: purchased seats are public supply; the rest of M1 is private.
    assert_eq!(y0.total.purchased_seats, 45);
    assert_eq!(y0.total.private_seats, 45);
    let net = (y0.total.demand - 135.0 - 45.0).max(0.0);
    assert!(close(y0.total.net_shortfall, net));
    // Migrant share: under 10 applicants in the block → the district's (1 of 2).
    assert!(close(y0.blocks[0].migrant, y0.blocks[0].demand * 0.5));
}

#[test]
fn large_class_flags_follow_the_thresholds() {
    let (_d, data) = tiny();
    let mut params = ForecastParams {
        infer_zones: false,
        ..Default::default()
    };
    // P1 has 2 classes: demand 113 → average 56.5 (large); 133 → 66.5 (super large).
    for (households, want) in [
        (111.0, Oversize::None),
        (113.0, Oversize::Large),
        (133.0, Oversize::SuperLarge),
    ] {
        params.children_per_household.primary = households / 1000.0;
        let mut d = data.clone();
        d.city.blocks[3].households = 0; // only B1 feeds P1
        let fc = forecast(&d, None, &params, &[Stage::Primary]);
        let p1 = fc.stages[0].years[0].schools[0];
        assert_eq!(p1.oversized, want, "demand {}", p1.demand);
    }
}

#[test]
fn cohort_progression_from_population() {
    let (_d, data) = tiny();
    let pop = Population::from_csv(
        b"block_id,age,count\nB1,6,10\nB1,5,20\nB1,0,7\nB1,12,4\nB1,40,3\n",
        "population.csv",
        &data,
    )
    .unwrap();
    assert_eq!(pop.ignored_rows, 1);
    let params = ForecastParams {
        births_change: -0.5,
        ..Default::default()
    };
    let fc = forecast(&data, Some(&pop), &params, &[]);
    let p = fc.stage(Stage::Primary).unwrap();
    assert!(close(p.years[0].blocks[0].children, 10.0));
    assert!(close(p.years[1].blocks[0].children, 20.0));
    assert!(close(p.years[2].blocks[0].children, 0.0)); // nobody aged 4
    assert!(close(p.years[6].blocks[0].children, 7.0)); // today's babies
    assert!(close(p.years[7].blocks[0].children, 3.5)); // born next year, births halve
    let j = fc.stage(Stage::Junior).unwrap();
    assert!(close(j.years[0].blocks[0].children, 4.0));
    // B2 has no rows: households × rate.
    assert!(close(p.years[0].blocks[1].children, 2000.0 * 0.0378));
}

#[test]
fn calibration_matches_this_years_applicants() {
    let (_d, data) = tiny();
    let params = ForecastParams {
        calibrate: true,
        ..Default::default()
    };
    let fc = forecast(&data, None, &params, &[Stage::Primary]);
    let p = &fc.stages[0];
    // Two applicants in students.csv; existing blocks B1, B2, B4.
    let existing: f64 = [0, 1, 3].iter().map(|&b| p.years[0].blocks[b].children).sum();
    assert!(close(existing, 2.0), "{existing}");
}

#[test]
fn population_errors_name_line_column_and_fix() {
    let (_d, data) = tiny();
    let Err(SupplyError::Invalid(d)) = Population::from_csv(
        b"block_id,age,count\nB9,6,1\nB1,x,1\nB1,6,-2\nB1,6,1\nB1,6,2\n",
        "population.csv",
        &data,
    ) else {
        panic!("expected diagnostics");
    };
    let text = d.to_string();
    assert_eq!(d.total(), 4, "{text}");
    assert!(text.contains("population.csv:2:1 [block_id] value \"B9\""), "{text}");
    assert!(text.contains("population.csv:3:2 [age] value \"x\""), "{text}");
    assert!(text.contains("population.csv:4:3 [count]"), "{text}");
    assert!(text.contains("repeat line 5"), "{text}");
    assert!(text.contains("(fix:"));
}

#[test]
fn site_errors_name_line_column_and_fix() {
    let (_d, data) = tiny();
    let Err(SupplyError::Invalid(d)) = CandidateSites::from_csv(
        "site_id,name,district,lon,lat,capacity\nX1,a,梁溪区,120.3,31.5,100\nX1,b,梁溪区,120.3,31.5,100\nP1,c,梁溪区,120.3,31.5,1\nX2,d,朝阳区,120.3,31.5,1\nX3,e,梁溪区,31.5,120.3,1\nX4,f,梁溪区,120.3,31.5,0\nX5,g,梁溪区,120.3,31.5,many\n"
            .as_bytes(),
        "sites.csv",
        &data,
    ) else {
        panic!("expected diagnostics");
    };
    let text = d.to_string();
    assert_eq!(d.total(), 6, "{text}");
    for want in [
        "sites.csv:3:1 [site_id] value \"X1\": duplicate site_id (first on line 2)",
        "sites.csv:4:1 [site_id] value \"P1\": a school in schools.csv has this id",
        "sites.csv:5:3 [district] value \"朝阳区\"",
        "sites.csv:6:5 [lat] value \"120.3\"",
        "sites.csv:7:6 [capacity] value \"0\"",
        "sites.csv:8:6 [capacity] value \"many\"",
    ] {
        assert!(text.contains(want), "missing {want} in\n{text}");
    }
    let Err(SupplyError::Invalid(d)) = CandidateSites::from_csv(b"site_id,lon,lat\n", "sites.csv", &data) else {
        panic!("expected diagnostics");
    };
    assert!(
        d.to_string()
            .contains("missing required column(s): name, district, capacity")
    );
}

#[test]
fn development_check_by_hand() {
    let (_d, data) = tiny();
    let params = PlanningParams::default();
    // An extra block of 300 households next to P1 (which has spare seats in 2026).
    let dev = development::parse_developments(
        "block_id,name,district,lon,lat,households,status,move_in_year,planned_households\nD1,新盘,梁溪区,120.3005,31.5705,0,new,2026,300\n"
            .as_bytes(),
        "dev.csv",
        &data,
    )
    .unwrap();
    let r = check_development(&data, None, &params, &[], &dev, &[Stage::Primary]).unwrap();
    let s = &r.developments[0].stages[0];
    assert_eq!(s.zone, vec!["P1".to_string()]);
    assert_eq!(s.zone_source, ZoneSource::NearestBlock);
    let y0 = &s.years[0];
    assert!(close(y0.added_demand, 300.0 * 0.3 * 0.0378));
    assert!(y0.absorbed, "{y0:?}");
    // A huge development is not absorbed, and P2/P3 are not listed when full.
    let big = development::parse_developments(
        "block_id,name,district,lon,lat,households,status,move_in_year,planned_households\nD2,巨盘,梁溪区,120.3005,31.5705,0,new,2026,5000\n"
            .as_bytes(),
        "dev.csv",
        &data,
    )
    .unwrap();
    let r = check_development(&data, None, &params, &[], &big, &[Stage::Primary]).unwrap();
    let s = &r.developments[0].stages[0];
    assert!(!s.absorbed_all_years);
    assert_eq!(s.first_short_year, Some(2026));
    assert!(s.years.iter().all(|y| y.added_shortfall <= y.added_demand + 1e-9));
    // Only P3 (opens 2028, no zone) has spare seats; P2 is over capacity.
    assert_eq!(
        s.nearby.iter().map(|n| n.school_id.as_str()).collect::<Vec<_>>(),
        vec!["P3"]
    );
    // An existing block by id.
    let r = check_development(&data, None, &params, &["B2"], &[], &[]).unwrap();
    assert!(!r.developments[0].stages[0].absorbed_all_years);
    assert!(matches!(
        check_development(&data, None, &params, &["NOPE"], &[], &[]),
        Err(SupplyError::Request(_))
    ));
}

// ---------------------------------------------------------------------------------------
// Siting.

/// A random city with one district: blocks on a grid around a centre, a few existing
/// schools, candidate sites among the blocks.
fn random_city(seed: u64, blocks: usize, schools: usize) -> (tempfile::TempDir, crate::Dataset) {
    let mut rng = Rng(seed);
    let mut s = String::from("school_id,name,district,stage,sector,lon,lat,capacity,classes,class_size\n");
    for i in 0..schools {
        let lon = 120.30 + rng.below(400) as f64 * 1e-4;
        let lat = 31.50 + rng.below(400) as f64 * 1e-4;
        let classes = 1 + rng.below(3);
        s.push_str(&format!(
            "P{i},小学{i},区,primary,public,{lon:.5},{lat:.5},{},{classes},45\n",
            classes * 45
        ));
    }
    let mut b = String::from("block_id,name,district,lon,lat,households\n");
    for i in 0..blocks {
        let lon = 120.30 + rng.below(400) as f64 * 1e-4;
        let lat = 31.50 + rng.below(400) as f64 * 1e-4;
        b.push_str(&format!("B{i},小区{i},区,{lon:.5},{lat:.5},{}\n", 30 + rng.below(200)));
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("scenario.toml", "name = \"r\"\nyear = 2026\nstages = [\"primary\"]\n"),
            ("schools.csv", &s),
            ("blocks.csv", &b),
            ("students.csv", "student_id,stage,block_id\n"),
        ],
    );
    let data = crate::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    (dir, data)
}

fn random_sites(seed: u64, data: &crate::Dataset, count: usize) -> CandidateSites {
    let mut rng = Rng(seed);
    let sites = (0..count)
        .map(|k| {
            let lon = 120.30 + rng.below(400) as f64 * 1e-4;
            let lat = 31.50 + rng.below(400) as f64 * 1e-4;
            Site {
                id: format!("X{k}"),
                name: format!("地块{k}"),
                district: 0,
                location: crate::model::Location::from_wgs84(lon, lat),
                capacity: Some(20 + 10 * rng.below(6) as u32),
                stage: None,
            }
        })
        .collect();
    let _ = data;
    CandidateSites::from_sites(sites).unwrap()
}

#[test]
fn siting_is_within_one_percent_of_the_exact_optimum() {
    let mut worst: f64 = 1.0;
    let mut equal = 0;
    let mut cases = 0;
    for seed in 0..14u64 {
        for objective in [Objective::Median, Objective::Coverage] {
            let (_d, data) = random_city(100 + seed, 40 + (seed as usize % 4) * 10, 2 + seed as usize % 3);
            let sites = random_sites(200 + seed, &data, 9 + seed as usize % 4);
            let mut params = PlanningParams::default();
            params.siting.objective = objective;
            params.siting.nearest_schools = 3;
            params.siting.nearest_sites = 4 + seed as usize % 5;
            params.forecast.years = 1;
            let fc = forecast(&data, None, &params.forecast, &[]);
            let problem = SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting).unwrap();
            for p in 1..=3 {
                let h = site(&problem, p, &params.siting).unwrap();
                let x = site_exact(&problem, p, &params.siting).unwrap();
                h.after_solution.verify(&problem.instance).unwrap();
                let (hc, xc) = (h.after.objective as f64, x.after.objective as f64);
                assert!(hc >= xc, "the heuristic beat the exact optimum: {hc} < {xc}");
                let ratio = if xc > 0.0 { hc / xc } else { 1.0 };
                worst = worst.max(ratio);
                equal += usize::from(h.after.objective == x.after.objective);
                cases += 1;
                assert!(
                    ratio <= 1.01,
                    "seed {seed} {objective:?} p {p}: heuristic {hc} vs exact {xc}"
                );
                // The before figures do not depend on the method.
                assert_eq!(h.before, x.before);
                assert!(h.after.objective <= h.before.objective);
            }
        }
    }
    assert!(
        equal * 10 >= cases * 9,
        "{equal} of {cases} optimal, worst ratio {worst}"
    );
}

#[test]
fn siting_screen_alone_stays_close_to_the_optimum() {
    // The narrowest screen (one exact evaluation per step, never widened) still finds good
    // sites: this checks the dual-priced screen itself, not the exhaustive fallback.
    let mut ratios = Vec::new();
    for seed in 0..8u64 {
        let (_d, data) = random_city(300 + seed, 60, 3);
        let sites = random_sites(400 + seed, &data, 14);
        let mut params = PlanningParams::default();
        params.forecast.years = 1;
        params.siting.screen = 1;
        params.siting.screen_max = 1;
        let fc = forecast(&data, None, &params.forecast, &[]);
        let problem = SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting).unwrap();
        let h = site(&problem, 3, &params.siting).unwrap();
        let x = site_exact(&problem, 3, &params.siting).unwrap();
        ratios.push(h.after.objective as f64 / x.after.objective as f64);
    }
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    assert!(mean < 1.03, "{ratios:?}");
}

#[test]
fn siting_is_identical_at_any_thread_count() {
    let (_d, data) = random_city(77, 120, 4);
    let sites = random_sites(78, &data, 40);
    let mut params = PlanningParams::default();
    params.forecast.years = 1;
    let fc = forecast(&data, None, &params.forecast, &[]);
    let problem = SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let r = site(&problem, 5, &params.siting).unwrap();
            report::siting_files(&problem, &r, false)
        })
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, run(2));
}

#[test]
fn siting_uses_the_given_distances() {
    // Two sites: X0 near the demand, X1 far. A distance file that makes X0 very far by road
    // flips the choice.
    let (_d, data) = tiny();
    let sites = CandidateSites::from_csv(
        "site_id,name,district,lon,lat,capacity\nX0,近,梁溪区,120.321,31.571,200\nX1,远,梁溪区,120.360,31.600,200\n"
            .as_bytes(),
        "sites.csv",
        &data,
    )
    .unwrap();
    // In 2026, 0.1 children per household: 350 children for 135 seats.
    let mut params = PlanningParams::default();
    params.forecast.children_per_household.primary = 0.1;
    params.siting.year = Some(2026);
    let fc = forecast(&data, None, &params.forecast, &[Stage::Primary]);
    let problem = SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting).unwrap();
    let r = site(&problem, 1, &params.siting).unwrap();
    assert_eq!(problem.site_id(r.chosen[0]), "X0");
    assert_eq!(r.before.unmet - r.after.unmet, 200);
    let mut text = String::from("site_id,block_id,distance_m\n");
    // Pairs the file lacks are unreachable (one meaning in every command), so X1 is given too.
    for b in ["B1", "B2", "B3", "B4"] {
        text.push_str(&format!("X0,{b},90000\nX1,{b},6000\n"));
    }
    let dist = SiteDistances::from_csv(text.as_bytes(), "site_distances.csv", &data, &sites).unwrap();
    let problem = SitingProblem::build(&data, &fc, Stage::Primary, &sites, Some(&dist), &params.siting).unwrap();
    let r = site(&problem, 1, &params.siting).unwrap();
    assert_eq!(problem.site_id(r.chosen[0]), "X1");
}

#[test]
fn siting_rejects_impossible_requests() {
    let (_d, data) = random_city(5, 10, 2);
    let sites = random_sites(6, &data, 3);
    let mut params = PlanningParams::default();
    params.forecast.years = 1;
    let fc = forecast(&data, None, &params.forecast, &[]);
    let problem = SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting).unwrap();
    assert!(matches!(
        site(&problem, 4, &params.siting),
        Err(SupplyError::Request(_))
    ));
    params.siting.exact_limit = 2;
    assert!(matches!(
        site_exact(&problem, 2, &params.siting),
        Err(SupplyError::Request(_))
    ));
    params.siting.year = Some(2040);
    assert!(matches!(
        SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting),
        Err(SupplyError::Request(_))
    ));
    assert!(matches!(
        SitingProblem::build(&data, &fc, Stage::Junior, &sites, None, &params.siting),
        Err(SupplyError::Request(_))
    ));
    // p = 0 is a valid request: nothing changes.
    params.siting.year = None;
    let r = site(&problem, 0, &params.siting).unwrap();
    assert!(r.chosen.is_empty() && r.before == r.after);
}

#[test]
#[ignore]
fn siting_quality_survey() {
    let mut rows = Vec::new();
    for seed in 40..100u64 {
        for objective in [Objective::Median, Objective::Coverage] {
            let (_d, data) = random_city(100 + seed, 60 + (seed as usize % 4) * 20, 2 + seed as usize % 3);
            let sites = random_sites(200 + seed, &data, 12 + seed as usize % 5);
            let mut params = PlanningParams::default();
            params.siting.objective = objective;
            params.siting.nearest_schools = 3;
            params.siting.nearest_sites = 4 + seed as usize % 5;
            params.forecast.years = 1;
            let fc = forecast(&data, None, &params.forecast, &[]);
            let problem = SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting).unwrap();
            for p in 2..=4 {
                let h = site(&problem, p, &params.siting).unwrap();
                let x = site_exact(&problem, p, &params.siting).unwrap();
                let ratio = h.after.objective as f64 / x.after.objective as f64;
                if ratio > 1.0 {
                    rows.push(format!(
                        "seed {seed} {objective:?} p {p}: {ratio:.4} before {} unmet {}",
                        h.before.objective, h.after.unmet
                    ));
                }
            }
        }
    }
    panic!("{} suboptimal:\n{}", rows.len(), rows.join("\n"));
}

#[test]
#[ignore]
fn wuxi_probe() {
    let Ok(dir) = std::env::var("XQ_WUXI") else { return };
    let dir = std::path::Path::new(&dir);
    let data = crate::Dataset::load(&dir.join("scenario.toml")).unwrap();
    let sites = CandidateSites::load(&dir.join("sites.csv"), &data).unwrap();
    let params = PlanningParams::default();
    let fc = forecast(&data, None, &params.forecast, &[Stage::Primary]);
    let problem = SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting).unwrap();
    let t = std::time::Instant::now();
    let base = Solution::solve(
        &problem.instance,
        (0..problem.facilities.len()).map(|f| f < problem.existing).collect(),
    );
    eprintln!(
        "initial solve {:?} cost {} work {:?}",
        t.elapsed(),
        base.cost(),
        base.work()
    );
    let r = site(&problem, 30, &params.siting).unwrap();
    let mut s = r.after_solution.clone();
    let w0 = s.work();
    for k in 0..10u32 {
        let t = std::time::Instant::now();
        let w = s.work();
        s.open(&problem.instance, problem.existing as u32 + k * 37);
        let w1 = s.work();
        let t1 = t.elapsed();
        let t = std::time::Instant::now();
        s.close(&problem.instance, problem.existing as u32 + k * 37);
        let w2 = s.work();
        eprintln!(
            "open {:?} ({} searches, {} settled) close {:?} ({} searches, {} settled)",
            t1,
            w1.0 - w.0,
            w1.1 - w.1,
            t.elapsed(),
            w2.0 - w1.0,
            w2.1 - w1.1
        );
    }
    let _ = w0;
}

#[test]
fn malformed_inputs_give_errors_not_panics() {
    let (_d, data) = tiny();
    let pieces = [
        "site_id",
        "block_id",
        "age",
        "count",
        "name",
        "district",
        "lon",
        "lat",
        "capacity",
        "stage",
        "households",
        "status",
        "move_in_year",
        "planned_households",
        "distance_m",
        ",",
        ",",
        "\n",
        "\n",
        "\"",
        "\u{feff}",
        "梁溪区",
        "B1",
        "B2",
        "X1",
        "P1",
        "-1",
        "1e400",
        "NaN",
        "120.3",
        "31.5",
        "4294967296",
        "0",
        "7",
        "new",
        "primary",
        "[forecast]",
        "[siting]",
        "years = ",
        "= [",
        "]",
        "{",
        "}",
        "\u{0}",
        " ",
        "\r",
    ];
    let mut rng = Rng(99);
    for case in 0..400 {
        let mut text = String::new();
        for _ in 0..rng.below(40) {
            text.push_str(pieces[rng.below(pieces.len() as u64) as usize]);
        }
        if case % 2 == 0 {
            text = format!("site_id,name,district,lon,lat,capacity,block_id,age,count,households,distance_m\n{text}");
        }
        let bytes = text.as_bytes();
        let _ = CandidateSites::from_csv(bytes, "s.csv", &data);
        let _ = Population::from_csv(bytes, "p.csv", &data);
        let _ = development::parse_developments(bytes, "d.csv", &data);
        let _ = PlanningParams::from_toml(&text, "planning.toml");
        if let Ok(sites) = CandidateSites::from_csv(
            b"site_id,name,district,lon,lat,capacity\nX1,a,\xe6\xa2\x81\xe6\xba\xaa\xe5\x8c\xba,120.3,31.5,\n",
            "s.csv",
            &data,
        ) {
            let _ = SiteDistances::from_csv(bytes, "sd.csv", &data, &sites);
        }
    }
    // GBK text is decoded (你, 好), so the problem found is the district, not the encoding.
    let gbk = b"site_id,name,district,lon,lat,capacity\nX1,\xc4\xe3,\xba\xc3,120,31,1\n";
    let Err(SupplyError::Invalid(d)) = CandidateSites::from_csv(gbk, "s.csv", &data) else {
        panic!("an unknown district must be rejected");
    };
    assert!(d.to_string().contains("\"好\""), "{d}");
    // Neither UTF-8 nor GBK: one error at the first bad byte.
    let junk = b"site_id,name,district,lon,lat,capacity\nX1,\x80\xff,a,120,31,1\n";
    let Err(SupplyError::Invalid(d)) = CandidateSites::from_csv(junk, "s.csv", &data) else {
        panic!("undecodable text must be rejected");
    };
    assert_eq!(d.total(), 1, "{d}");
    assert!(
        d.to_string().contains("s.csv:2:4") && d.to_string().contains("UTF-8 or GBK"),
        "{d}"
    );
}

// ---------------------------------------------------------------------------------------
// Fast interchange (uncapacitated siting).

/// The uncapacitated objective, computed the obvious way: each child to the cheapest open
/// facility its block may use, or unseated when that is cheaper.
fn uncapacitated_objective(inst: &Instance, open: &[bool]) -> i64 {
    (0..inst.blocks() as u32)
        .map(|i| {
            let best = inst
                .arcs(i)
                .filter(|&a| open[inst.arc_facility(a) as usize])
                .map(|a| inst.arc_cost(a))
                .fold(inst.unmet_cost(), u32::min);
            i64::from(inst.supply(i)) * i64::from(best)
        })
        .sum()
}

/// Plain greedy + best-improvement interchange, every move priced by recomputing the whole
/// objective: greedy opens the site giving the lowest objective (ties: lower index); each
/// interchange step makes the swap giving the lowest objective (ties: lower slot, then lower
/// site) while it improves.
#[allow(clippy::needless_range_loop)] // slots index `chosen`, which the loop body changes
fn reference_greedy_interchange(inst: &Instance, fixed: usize, p: usize, max_moves: usize) -> (Vec<u32>, i64) {
    let m = inst.facilities();
    let mut open: Vec<bool> = (0..m).map(|f| f < fixed).collect();
    let mut chosen = Vec::new();
    for _ in 0..p {
        let mut best: Option<(i64, usize)> = None;
        for k in fixed..m {
            if open[k] {
                continue;
            }
            open[k] = true;
            let v = uncapacitated_objective(inst, &open);
            open[k] = false;
            if best.is_none_or(|b| v < b.0) {
                best = Some((v, k));
            }
        }
        let (_, k) = best.unwrap();
        open[k] = true;
        chosen.push(k as u32);
    }
    let mut current = uncapacitated_objective(inst, &open);
    for _ in 0..max_moves {
        let mut best: Option<(i64, usize, usize)> = None;
        for slot in 0..chosen.len() {
            for k in fixed..m {
                if open[k] {
                    continue;
                }
                let j = chosen[slot] as usize;
                open[j] = false;
                open[k] = true;
                let v = uncapacitated_objective(inst, &open);
                open[k] = false;
                open[j] = true;
                if best.is_none_or(|b| v < b.0) {
                    best = Some((v, slot, k));
                }
            }
        }
        match best {
            Some((v, slot, k)) if v < current => {
                open[chosen[slot] as usize] = false;
                open[k] = true;
                chosen[slot] = k as u32;
                current = v;
            }
            _ => break,
        }
    }
    (chosen, current)
}

/// A random instance whose capacities never bind (each capacity is the whole supply).
fn random_uncapacitated(rng: &mut Rng) -> (Instance, usize, usize) {
    let fixed = rng.below(4) as usize;
    let candidates = 1 + rng.below(12) as usize;
    let m = fixed + candidates;
    let n = 1 + rng.below(40) as usize;
    let supply: Vec<u32> = (0..n).map(|_| rng.below(21) as u32).collect();
    let arcs: Vec<Vec<(u32, u32)>> = (0..n)
        .map(|_| {
            let k = rng.below(m as u64 + 2) as usize;
            // Repeated facilities and ties are allowed on purpose.
            (0..k)
                .map(|_| (rng.below(m as u64) as u32, 1 + rng.below(60) as u32))
                .collect()
        })
        .collect();
    let total: u32 = supply.iter().sum();
    // A block may name a facility twice, and then counts twice in the condition.
    let capacity = vec![(total * (m as u32 + 2)).max(1); m];
    let p = 1 + rng.below(candidates.min(4) as u64) as usize;
    (
        Instance::new(supply, &arcs, capacity, 20 + rng.below(80) as u32),
        fixed,
        p,
    )
}

#[test]
fn fast_interchange_matches_plain_greedy_and_interchange() {
    let mut rng = Rng(20260701);
    let mut improved = 0;
    for case in 0..500 {
        let (inst, fixed, p) = random_uncapacitated(&mut rng);
        assert!(interchange::capacities_never_bind(&inst));
        let (ref_chosen, ref_objective) = reference_greedy_interchange(&inst, fixed, p, 500);
        // Without double swaps the moves are exactly those of the reference.
        let plain = interchange::greedy_interchange(&inst, fixed, p, 500, 0, &mut |_| {});
        assert_eq!(
            (&plain.chosen, plain.objective),
            (&ref_chosen, ref_objective),
            "case {case}"
        );
        // With double swaps the result is never worse.
        let fast = interchange::greedy_interchange(&inst, fixed, p, 500, 8, &mut |_| {});
        assert!(fast.objective <= ref_objective, "case {case}");
        improved += usize::from(fast.objective < ref_objective);
        let mut open: Vec<bool> = (0..inst.facilities()).map(|f| f < fixed).collect();
        for &k in &fast.chosen {
            assert!(!open[k as usize], "case {case}: a site chosen twice");
            open[k as usize] = true;
        }
        assert_eq!(fast.chosen.len(), p);
        // The bookkeeping's objective is the real one, and exact (capacities do not bind).
        assert_eq!(fast.objective, uncapacitated_objective(&inst, &open), "case {case}");
        let exact = Solution::solve(&inst, open.clone());
        assert_eq!(exact.cost(), fast.objective, "case {case}");
        assert_eq!(simplex_cost(&inst, &open), Some(fast.objective), "case {case}");
        // The trace's objectives are those of the open sets it describes.
        if let Some(last) = fast.trace.last() {
            let o = match *last {
                interchange::Move::Open { objective, .. }
                | interchange::Move::Swap { objective, .. }
                | interchange::Move::DoubleSwap { objective, .. } => objective,
            };
            assert_eq!(o, fast.objective);
        }
    }
    // Double swaps are a refinement, not the rule.
    assert!(improved < 500);
}

#[test]
fn capacities_that_can_bind_are_recognised() {
    let inst = Instance::new(vec![5, 5], &[vec![(0, 1)], vec![(0, 2), (1, 3)]], vec![9, 5], 100);
    assert!(!interchange::capacities_never_bind(&inst));
    let inst = Instance::new(vec![5, 5], &[vec![(0, 1)], vec![(0, 2), (1, 3)]], vec![10, 5], 100);
    assert!(interchange::capacities_never_bind(&inst));
}

#[test]
fn uncapacitated_siting_is_close_to_the_exact_optimum() {
    let mut worst: f64 = 1.0;
    for seed in 0..10u64 {
        for objective in [Objective::Median, Objective::Coverage] {
            let (_d, data) = random_city(300 + seed, 40 + (seed as usize % 4) * 10, 0);
            let mut sites = random_sites(400 + seed, &data, 9 + seed as usize % 4);
            for s in &mut sites.sites {
                s.capacity = Some(1_000_000);
            }
            let mut params = PlanningParams::default();
            params.siting.objective = objective;
            params.siting.nearest_sites = 3 + seed as usize % 6;
            params.forecast.years = 1;
            let fc = forecast(&data, None, &params.forecast, &[]);
            let problem = SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting).unwrap();
            assert!(interchange::capacities_never_bind(&problem.instance));
            for p in 1..=3 {
                let h = site(&problem, p, &params.siting).unwrap();
                let x = site_exact(&problem, p, &params.siting).unwrap();
                h.after_solution.verify(&problem.instance).unwrap();
                assert!(h.uncapacitated);
                assert_eq!(h.evaluations, 1, "the fast path certifies once");
                let (hc, xc) = (h.after.objective as f64, x.after.objective as f64);
                assert!(hc >= xc);
                let ratio = if xc > 0.0 { hc / xc } else { 1.0 };
                worst = worst.max(ratio);
                assert!(ratio <= 1.01, "seed {seed} {objective:?} p {p}: {hc} vs exact {xc}");
                assert_eq!(h.before, x.before);
            }
        }
    }
}
