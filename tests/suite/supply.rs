//! Seat supply planning end to end on the synthetic demo city written as real files: the
//! forecast's shortfalls add up at every level, files are byte-identical at any thread count,
//! a development is absorbed or not as its size says, and siting matches the exhaustive
//! optimum and honours a distance matrix.

use std::fs;
use std::path::Path;

use xuequ::Stage;
use xuequ::supply::{self, CandidateSites, Objective, PlanningParams, Population, SitingProblem, SupplyError, report};

fn demo(dir: &Path) -> xuequ::Dataset {
    let config = xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Demo);
    xuequ_synth::write_city(&config, dir, &mut |_| {}).unwrap();
    xuequ::Dataset::load(&dir.join("scenario.toml")).unwrap()
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Candidate sites at every `step`-th block with demand of one district (ids X1, X2, …).
fn sites_csv(data: &xuequ::Dataset, district: u32, step: usize, capacity: u32) -> String {
    let mut out = String::from("site_id,name,district,lon,lat,capacity\n");
    let name = &data.city.districts[district as usize];
    for (k, b) in data
        .city
        .blocks
        .iter()
        .filter(|b| b.district == district && b.households > 0)
        .step_by(step)
        .enumerate()
    {
        out.push_str(&format!(
            "X{},{}地块,{name},{:.6},{:.6},{capacity}\n",
            k + 1,
            b.name,
            b.location.lon + 0.0005,
            b.location.lat
        ));
    }
    out
}

#[test]
fn forecast_adds_up_at_every_level_and_is_identical_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let params = PlanningParams::default();
    let fc = supply::forecast(&data, None, &params.forecast, &[]);
    assert_eq!(fc.stages.len(), 3);
    for sf in &fc.stages {
        assert_eq!(sf.years.len(), 10);
        for y in &sf.years {
            // Shortfall: blocks = zones + unzoned demand; zones = schools; the total is both.
            let blocks: f64 = y.blocks.iter().map(|b| b.shortfall).sum();
            let zones: f64 = y.zones.iter().map(|z| z.shortfall).sum();
            let schools: f64 = y.schools.iter().map(|s| s.shortfall).sum();
            let unzoned = y.total.unzoned_demand;
            assert!((blocks - zones - unzoned).abs() < 1e-6, "{} {}", sf.stage, y.year);
            assert!((zones - schools).abs() < 1e-6, "{} {}", sf.stage, y.year);
            assert!((y.total.shortfall - schools - unzoned).abs() < 1e-6);
            let district_demand: f64 = y.districts.iter().map(|d| d.demand).sum();
            assert!((district_demand - y.total.demand).abs() < 1e-6);
            let block_demand: f64 = y.blocks.iter().map(|b| b.demand).sum();
            assert!((block_demand - y.total.demand).abs() < 1e-6);
            assert!(y.total.net_shortfall <= y.total.shortfall + 1e-6);
            for s in &y.schools {
                let sc = &data.city.schools[s.school as usize];
                assert_eq!(s.open, sc.is_open(y.year));
                // Synth schools give classes and class sizes: capacity = classes × class size.
                if s.open {
                    assert_eq!(s.capacity, sc.classes.unwrap() * sc.class_size.unwrap());
                    assert_eq!(s.capacity, sc.capacity);
                }
                assert!(s.shortfall >= 0.0 && s.shortfall <= s.demand + 1e-9);
            }
        }
        // New blocks fill up, never empty.
        for (b, block) in data.city.blocks.iter().enumerate() {
            for w in sf.years.windows(2) {
                assert!(
                    w[1].blocks[b].households + 1e-9 >= w[0].blocks[b].households,
                    "{}",
                    block.id
                );
            }
        }
    }
    let one = in_pool(1, || {
        report::forecast_files(&data, &supply::forecast(&data, None, &params.forecast, &[]), false)
    });
    let two = in_pool(2, || {
        report::forecast_files(&data, &supply::forecast(&data, None, &params.forecast, &[]), false)
    });
    assert_eq!(one, two);
    // The files: five, every CSV row as wide as its header.
    let out = dir.path().join("forecast");
    let files = xuequ::io::write_set(&out, "forecast", |s| report::write_forecast(s, &data, &fc, false)).unwrap();
    assert_eq!(files.len(), 6, "five files and the manifest");
    for name in [
        "forecast_blocks.csv",
        "forecast_zones.csv",
        "forecast_schools.csv",
        "forecast_districts.csv",
    ] {
        let mut r = csv::Reader::from_path(out.join(name)).unwrap();
        let width = r.headers().unwrap().len();
        let rows: Vec<_> = r.records().map(|x| x.unwrap()).collect();
        assert!(!rows.is_empty(), "{name}");
        assert!(rows.iter().all(|x| x.len() == width), "{name}");
    }
    let json: serde_json::Value = serde_json::from_slice(&fs::read(out.join("forecast.json")).unwrap()).unwrap();
    assert_eq!(json["years"], 10);
    assert_eq!(json["stages"][1]["check_first_year"]["observed_applicants"], 1300);
}

#[test]
fn calibration_reproduces_this_years_applicants_per_district() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let mut params = PlanningParams::default();
    params.forecast.calibrate = true;
    params.forecast.years = 1;
    let fc = supply::forecast(&data, None, &params.forecast, &[Stage::Primary]);
    let y = &fc.stages[0].years[0];
    for d in 0..data.city.districts.len() as u32 {
        let observed = data
            .cohort
            .students
            .iter()
            .filter(|s| {
                let b = &data.city.blocks[s.block as usize];
                s.stage == Stage::Primary && b.district == d && b.status == xuequ::model::BlockStatus::Existing
            })
            .count() as f64;
        let forecast: f64 = data
            .city
            .blocks
            .iter()
            .zip(&y.blocks)
            .filter(|(b, _)| b.district == d && b.status == xuequ::model::BlockStatus::Existing)
            .map(|(_, by)| by.children)
            .sum();
        assert!(
            (observed - forecast).abs() < 1e-6,
            "district {d}: {observed} vs {forecast}"
        );
    }
}

#[test]
fn population_file_drives_cohort_progression() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let b = &data.city.blocks[0].id;
    let path = dir.path().join("population.csv");
    fs::write(&path, format!("block_id,age,count\n{b},6,11\n{b},5,13\n{b},1,17\n")).unwrap();
    let pop = Population::load(&path, &data).unwrap();
    let params = PlanningParams::default();
    let fc = supply::forecast(&data, Some(&pop), &params.forecast, &[Stage::Primary]);
    let sf = &fc.stages[0];
    let at = |t: usize| sf.years[t].blocks[0].children;
    assert_eq!((at(0), at(1), at(2), at(5)), (11.0, 13.0, 0.0, 17.0));
    // A bad file names the file, line and column.
    fs::write(&path, "block_id,age,count\nNOPE,6,1\n").unwrap();
    let Err(SupplyError::Invalid(d)) = Population::load(&path, &data) else {
        panic!("expected diagnostics")
    };
    assert!(
        d.to_string().contains("population.csv:2:1 [block_id] value \"NOPE\""),
        "{d}"
    );
}

#[test]
fn development_check_absorbs_small_and_flags_large_developments() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let params = PlanningParams::default();
    // Next to the primary school with the most spare seats this year.
    let fc = supply::forecast(&data, None, &params.forecast, &[Stage::Primary]);
    let y0 = &fc.stages[0].years[0];
    let roomy = y0
        .schools
        .iter()
        .filter(|s| s.open)
        .max_by(|a, b| (f64::from(a.capacity) - a.demand).total_cmp(&(f64::from(b.capacity) - b.demand)))
        .unwrap();
    let sc = &data.city.schools[roomy.school as usize];
    let district = &data.city.districts[sc.district as usize];
    let file = dir.path().join("dev.csv");
    let (lon, lat) = (sc.location.lon + 0.0003, sc.location.lat);
    fs::write(
        &file,
        format!(
            "block_id,name,district,lon,lat,households,status,move_in_year,planned_households\n\
             D1,小盘,{district},{lon:.6},{lat:.6},0,new,2027,20\n\
             D2,巨盘,{district},{lon:.6},{lat:.6},0,new,2027,40000\n"
        ),
    )
    .unwrap();
    let devs = supply::read_developments(&file, &data).unwrap();
    let r = supply::check_development(&data, None, &params, &[], &devs, &[Stage::Primary]).unwrap();
    let small = &r.developments[0].stages[0];
    let large = &r.developments[1].stages[0];
    assert!(!small.zone.is_empty());
    assert!(small.absorbed_all_years, "{small:?}");
    assert_eq!(small.years[0].added_demand, 0.0, "nobody lives there before 2027");
    assert!(!large.absorbed_all_years);
    assert_eq!(large.first_short_year, Some(2027));
    // Nearby schools: same district, nearest first, all with spare seats.
    let ids: Vec<&str> = large.nearby.iter().map(|n| n.school_id.as_str()).collect();
    assert!(
        large.nearby.windows(2).all(|w| w[0].distance_m <= w[1].distance_m),
        "{ids:?}"
    );
    for n in &large.nearby {
        let s = &data.city.schools[data.city.school(&n.school_id).unwrap() as usize];
        assert_eq!(s.district, sc.district);
        assert!(n.min_spare >= 1.0 && !n.could_absorb);
    }
    let files = xuequ::io::write_set(&dir.path().join("dev-out"), "check-development", |s| {
        report::write_development(s, &r, false)
    })
    .unwrap();
    assert_eq!(files.len(), 4, "three files and the manifest");
    // A development file naming an existing block is rejected with the fix.
    fs::write(
        &file,
        format!(
            "block_id,name,district,lon,lat,households\n{},x,{district},120.3,31.5,10\n",
            data.city.blocks[0].id
        ),
    )
    .unwrap();
    let Err(SupplyError::Invalid(d)) = supply::read_developments(&file, &data) else {
        panic!("expected diagnostics")
    };
    assert!(d.to_string().contains("--block"), "{d}");
}

#[test]
fn siting_matches_the_exhaustive_optimum_on_the_demo_city() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    // 江阴市 (the largest district) with sites every 4th block.
    let district = data.city.districts.iter().position(|d| d == "江阴市").unwrap() as u32;
    let path = dir.path().join("sites.csv");
    fs::write(&path, sites_csv(&data, district, 4, 45)).unwrap();
    let sites = CandidateSites::load(&path, &data).unwrap();
    assert!(sites.len() >= 8, "{} sites", sites.len());
    for objective in [Objective::Median, Objective::Coverage] {
        let mut params = PlanningParams::default();
        params.siting.objective = objective;
        params.siting.nearest_sites = 6;
        let fc = supply::forecast(&data, None, &params.forecast, &[Stage::Primary]);
        let problem = SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting).unwrap();
        for p in [1, 2, 3] {
            let h = supply::site(&problem, p, &params.siting).unwrap();
            let x = supply::site_exact(&problem, p, &params.siting).unwrap();
            assert!(
                h.after.objective as f64 <= x.after.objective as f64 * 1.01,
                "{objective:?} p={p}: {} vs exact {}",
                h.after.objective,
                x.after.objective
            );
            assert!(h.after.objective <= h.before.objective);
            assert!(h.after.unmet <= h.before.unmet);
            if objective == Objective::Coverage {
                assert!(h.after.within_radius >= h.before.within_radius);
            }
            assert_eq!(h.chosen.len(), p);
        }
    }
}

#[test]
fn siting_files_are_identical_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let path = dir.path().join("sites.csv");
    let mut text = String::from("site_id,name,district,lon,lat,capacity\n");
    for d in 0..data.city.districts.len() as u32 {
        for line in sites_csv(&data, d, 3, 90).lines().skip(1) {
            // Make ids unique across districts.
            text.push_str(&format!("D{d}{line}\n"));
        }
    }
    fs::write(&path, text).unwrap();
    let sites = CandidateSites::load(&path, &data).unwrap();
    let params = PlanningParams::default();
    let fc = supply::forecast(&data, None, &params.forecast, &[Stage::Junior]);
    let run = |threads| {
        in_pool(threads, || {
            let problem = SitingProblem::build(&data, &fc, Stage::Junior, &sites, None, &params.siting).unwrap();
            let r = supply::site(&problem, 5, &params.siting).unwrap();
            report::siting_files(&problem, &r, false)
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    let chosen = String::from_utf8(one[0].1.clone()).unwrap();
    assert_eq!(chosen.lines().count(), 6, "{chosen}");
}

#[test]
fn siting_uses_a_distance_matrix_for_schools_and_sites() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let district = 0u32;
    let path = dir.path().join("sites.csv");
    fs::write(&path, sites_csv(&data, district, 5, 45)).unwrap();
    let sites = CandidateSites::load(&path, &data).unwrap();
    // Road metres: 1.4 × the straight line to schools, 2 × to sites.
    let mut schools = String::from("school_id,block_id,distance_m\n");
    let mut to_sites = String::from("site_id,block_id,distance_m\n");
    for b in &data.city.blocks {
        for s in &data.city.schools {
            if s.stage == Stage::Primary {
                schools.push_str(&format!(
                    "{},{},{}\n",
                    s.id,
                    b.id,
                    b.location.distance_m(&s.location) * 14 / 10
                ));
            }
        }
        for s in &sites.sites {
            to_sites.push_str(&format!(
                "{},{},{}\n",
                s.id,
                b.id,
                b.location.distance_m(&s.location) * 2
            ));
        }
    }
    fs::write(dir.path().join("distances.csv"), schools).unwrap();
    let matrix_path = dir.path().join("site_distances.csv");
    fs::write(&matrix_path, to_sites).unwrap();
    let straight = data;
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    assert!(data.distances.is_some() && straight.distances.is_none());
    let site_distances = supply::SiteDistances::load(&matrix_path, &data, &sites).unwrap();
    let params = PlanningParams::default();
    let fc = supply::forecast(&data, None, &params.forecast, &[Stage::Primary]);
    let plain = SitingProblem::build(&straight, &fc, Stage::Primary, &sites, None, &params.siting).unwrap();
    let roads = SitingProblem::build(
        &data,
        &fc,
        Stage::Primary,
        &sites,
        Some(&site_distances),
        &params.siting,
    )
    .unwrap();
    let r = supply::site(&roads, 2, &params.siting).unwrap();
    // Every arc of the road problem is the matrix distance.
    let inst = &roads.instance;
    for (i, &b) in roads.blocks.iter().enumerate() {
        let block = &data.city.blocks[b as usize];
        for a in inst.arcs(i as u32) {
            let f = &roads.facilities[inst.arc_facility(a) as usize];
            let straight = block.location.distance_m(&f.location);
            let want = match f.kind {
                supply::siting::FacilityKind::School => straight * 14 / 10,
                supply::siting::FacilityKind::Site => straight * 2,
            };
            assert_eq!(roads.arc_metres[a], want);
        }
    }
    // Longer trips than in straight lines, before and after.
    let p = supply::site(&plain, 2, &params.siting).unwrap();
    assert!(r.before.total_distance_m > p.before.total_distance_m);
    assert!(r.after.total_distance_m > p.after.total_distance_m);
}

#[test]
fn bad_planning_and_sites_files_name_file_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let planning = dir.path().join("planning.toml");
    fs::write(
        &planning,
        "[forecast]\nyears = 10\nmove_in_ramp = [0.3, 2]\n[siting]\nobjetive = \"median\"\n",
    )
    .unwrap();
    let Err(SupplyError::Invalid(d)) = PlanningParams::load(&planning) else {
        panic!("expected diagnostics")
    };
    let text = d.to_string();
    assert!(text.contains("planning.toml:5"), "{text}");
    fs::write(&planning, "[forecast]\nmove_in_ramp = [0.3, 2]\n").unwrap();
    let Err(SupplyError::Invalid(d)) = PlanningParams::load(&planning) else {
        panic!("expected diagnostics")
    };
    assert!(d.to_string().contains("planning.toml:2 [forecast.move_in_ramp]"), "{d}");
    let sites = dir.path().join("sites.csv");
    fs::write(
        &sites,
        "site_id,name,district,lon,lat,capacity\nX1,a,梁溪区,120.3,31.5,-5\n",
    )
    .unwrap();
    let Err(SupplyError::Invalid(d)) = CandidateSites::load(&sites, &data) else {
        panic!("expected diagnostics")
    };
    assert!(d.to_string().contains("sites.csv:2:6 [capacity] value \"-5\""), "{d}");
    assert!(matches!(
        CandidateSites::load(&dir.path().join("missing.csv"), &data),
        Err(SupplyError::Io { .. })
    ));
}
