//! Each request against the functions it assembles, called by hand on the demo data: the
//! same files, byte for byte, and the same decisions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::zoning::{self, Demand, DistanceSource, ZoningConfig, ZoningProblem};
use crate::{Dataset, Stage};

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/scenario.toml")
}

/// Every file of a folder (the manifest left out: it records times) by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("the folder exists") {
        let e = e.expect("an entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_file() && !name.starts_with("manifest") && !name.starts_with('.') {
            out.insert(name, std::fs::read(e.path()).expect("readable"));
        }
    }
    out
}

fn assert_same(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in a {
        assert!(bytes == &b[name], "{name} differs");
    }
}

/// Writes with a fresh output set, as the commands did before the requests.
fn by_hand(out: &Path, command: &str, data: &Dataset, write: impl FnOnce(&mut crate::io::OutputSet)) {
    let mut set = crate::io::OutputSet::begin(out, command).expect("begin");
    set.scenarios([data.scenario.path.display().to_string()]);
    set.input_records(data.input_records());
    write(&mut set);
    set.commit().expect("commit");
}

#[test]
fn allocation_request_writes_what_the_functions_write_at_any_thread_count() {
    let dir = tempfile::tempdir().expect("temp");
    let data = Dataset::load(&demo()).expect("demo loads");
    let allocation = crate::allocate(&data);
    let audit = crate::audit(&data, &allocation);
    by_hand(&dir.path().join("hand"), "run", &data, |set| {
        crate::output::write_outputs_into(set, &data, &allocation, &audit, Default::default()).expect("write");
    });
    let one = AllocationRequest::new(demo())
        .html(false)
        .threads(1)
        .write(&dir.path().join("one"))
        .expect("run");
    assert!(one.allocated.audit_failed().is_none());
    AllocationRequest::new(demo())
        .html(false)
        .threads(3)
        .write(&dir.path().join("three"))
        .expect("run");
    let hand = files(&dir.path().join("hand"));
    assert_same(&hand, &files(&dir.path().join("one")));
    assert_same(&hand, &files(&dir.path().join("three")));
}

#[test]
fn the_report_defaults_follow_the_page_and_the_layers_flag() {
    let o = RunOptions::default().report();
    assert!(o.html && o.layers && !o.xlsx);
    let o = RunOptions {
        html: false,
        ..Default::default()
    }
    .report();
    assert!(!o.html && !o.layers);
    let o = RunOptions {
        html: false,
        layers: Some(true),
        ..Default::default()
    }
    .report();
    assert!(!o.html && o.layers);
}

#[test]
fn a_seed_override_equals_setting_the_policy_seed_on_a_loaded_dataset() {
    let mut data = Dataset::load(&demo()).expect("demo loads");
    let loaded = Arc::new(data.clone());
    data.policy.seed = 99;
    let by_hand = crate::allocate(&data);
    let from_path = AllocationRequest::new(demo()).seed(99).run().expect("run");
    let from_loaded = AllocationRequest::new(Arc::clone(&loaded)).seed(99).run().expect("run");
    let csv = |d: &Dataset, a: &crate::Allocation| crate::output::assignments_csv(d, a, Default::default());
    assert_eq!(from_path.data.policy.seed, 99);
    assert_eq!(csv(&data, &by_hand), csv(&from_path.data, &from_path.allocation));
    assert_eq!(csv(&data, &by_hand), csv(&from_loaded.data, &from_loaded.allocation));
    // The shared dataset itself keeps its seed.
    assert_ne!(loaded.policy.seed, 99);
}

#[test]
fn threads_are_checked_and_capped() {
    assert_eq!(thread_count(0).map_err(|e| e.kind()), Err(ErrorKind::BadRequest));
    assert_eq!(thread_count(1).ok(), Some(1));
    assert_eq!(thread_count(usize::MAX).ok(), Some(crate::max_threads()));
    struct Capped(std::sync::Mutex<Option<(usize, usize)>>);
    impl Observer for Capped {
        fn threads_capped(&self, asked: usize, used: usize) {
            if let Ok(mut c) = self.0.lock() {
                *c = Some((asked, used));
            }
        }
    }
    let capped = Capped(std::sync::Mutex::new(None));
    let asked = crate::max_threads() + 1;
    let n = with_threads(Some(asked), &capped, rayon::current_num_threads).expect("a pool");
    assert_eq!(n, crate::max_threads());
    assert_eq!(
        *capped.0.lock().expect("not poisoned"),
        Some((asked, crate::max_threads()))
    );
    assert_eq!(with_threads(Some(2), &Silent, rayon::current_num_threads).ok(), Some(2));
}

#[test]
fn validate_explain_and_audit_answer_as_the_functions_do() {
    let data = Dataset::load(&demo()).expect("demo loads");
    let v = ValidateRequest::new(demo()).run().expect("valid");
    let total: usize = v.applicants_by_stage().iter().map(|x| x.1).sum();
    assert_eq!(total, data.cohort.students.len());

    let allocation = crate::allocate(&data);
    let id = "S00000002".to_string();
    let by_hand = crate::explain(&data, &allocation, &id).expect("explained");
    let e = ExplainRequest::new(demo(), id.clone()).run().expect("explained");
    assert_eq!(e.to_string(), by_hand.to_string());
    let missing = ExplainRequest::new(demo(), "NOBODY").run().expect_err("unknown");
    assert_eq!(missing.kind(), ErrorKind::InvalidInput);
    assert!(missing.to_string().contains("NOBODY"));

    let audit = AuditRequest::new(demo()).run().expect("audited");
    assert_eq!(
        serde_json::to_string(&audit).ok(),
        serde_json::to_string(&crate::audit(&data, &allocation)).ok()
    );
}

#[test]
fn compare_of_a_scenario_with_itself_moves_nobody() {
    let dir = tempfile::tempdir().expect("temp");
    let o = CompareRequest::new(demo(), demo()).write(dir.path()).expect("compared");
    assert!(o.audit_failure().is_none());
    assert!(o.comparison.stages.iter().all(|s| s.moved == 0));
    assert!(dir.path().join("compare.html").is_file());
    assert!(dir.path().join("changes.csv").is_file());
}

#[test]
fn zoning_request_writes_what_the_functions_write() {
    let dir = tempfile::tempdir().expect("temp");
    let data = Dataset::load(&demo()).expect("demo loads");
    let config = ZoningConfig::default();
    let mut params = config.params();
    params.stability_m = 300;
    let demand = Demand::from_source(&data, Stage::Junior, Default::default());
    let mut problem =
        ZoningProblem::from_dataset(&data, Stage::Junior, &demand, &Default::default(), &[]).expect("problem");
    problem.use_spatial(&crate::spatial::Spatial::straight(&data.city));
    let result = zoning::zone(&problem, &params, &|_| {}).expect("zoned");
    by_hand(&dir.path().join("hand"), "zone", &data, |set| {
        zoning::write_zoning(set, &problem, &result, Some(&data.city), None, false).expect("write");
    });
    let o = ZoningRequest::new(demo())
        .no_config()
        .stage(Stage::Junior)
        .distance(DistanceSource::Straight)
        .stability(300)
        .threads(2)
        .write(&dir.path().join("request"))
        .expect("zoned");
    assert_eq!(o.stage, Stage::Junior);
    assert_same(&files(&dir.path().join("hand")), &files(&dir.path().join("request")));
}

#[test]
fn zoning_overrides_merge_over_the_config_text() {
    let config = "stage = \"junior\"\nstability_m = 700\ncandidates = 4\n";
    let path = demo().with_file_name("zoning.toml");
    let r = ZoningRequest::new(demo()).config_text(config, &path).candidates(5);
    let o = r.run().expect("zoned");
    assert_eq!(o.stage, Stage::Junior);
    assert_eq!(o.params.stability_m, 700);
    assert_eq!(o.params.candidates, 5);
    let bad = ZoningRequest::new(demo())
        .no_config()
        .utilisation(1.2, 0.5)
        .run()
        .expect_err("a bad band");
    assert_eq!(bad.kind(), ErrorKind::BadRequest);
}

#[test]
fn lookup_at_a_block_finds_its_zone_school() {
    let data = Dataset::load(&demo()).expect("demo loads");
    let stage = Stage::Primary;
    let zones = data.city.zones(stage);
    let Some(block) = (0..data.city.blocks.len() as u32).find(|&b| !zones.schools_of(b).is_empty()) else {
        panic!("the demo has primary zones");
    };
    let schools = zones.schools_of(block).to_vec();
    let b = &data.city.blocks[block as usize];
    let (lon, lat) = (b.location.lon, b.location.lat);
    let o = LookupRequest::new(demo())
        .stage(stage)
        .point(lon, lat)
        .run()
        .expect("looked up");
    let ids: Vec<&str> = o.answers[0].hits[0].iter().map(|h| h.school_id.as_str()).collect();
    for s in schools {
        assert!(ids.contains(&data.city.schools[s as usize].id.as_str()), "{ids:?}");
    }
    let csv = String::from_utf8(o.csv()).expect("utf-8");
    assert!(csv.starts_with("stage,school_ids,school_names,distances_m\n"), "{csv}");
    let none = LookupRequest::new(demo()).run().expect_err("no points");
    assert_eq!(none.kind(), ErrorKind::BadRequest);
    let far = LookupRequest::new(demo())
        .point(500.0, 0.0)
        .run()
        .expect_err("out of range");
    assert_eq!(far.kind(), ErrorKind::BadRequest);
}

#[test]
fn forecast_and_development_requests_match_the_functions() {
    let dir = tempfile::tempdir().expect("temp");
    let data = Dataset::load(&demo()).expect("demo loads");
    let mut params = crate::PlanningParams::default();
    params.forecast.years = 4;
    let fc = crate::supply::forecast(&data, None, &params.forecast, &[]);
    by_hand(&dir.path().join("hand"), "forecast", &data, |set| {
        crate::supply::report::write_forecast(set, &data, &fc, false).expect("write");
    });
    ForecastRequest::new(demo())
        .years(4)
        .write(&dir.path().join("request"))
        .expect("forecast");
    assert_same(&files(&dir.path().join("hand")), &files(&dir.path().join("request")));
    let bad = ForecastRequest::new(demo())
        .years(0)
        .write(&dir.path().join("x"))
        .expect_err("0 years");
    assert_eq!(bad.kind(), ErrorKind::BadRequest);

    let nothing = DevelopmentRequest::new(demo()).run().expect_err("nothing to check");
    assert_eq!(nothing.kind(), ErrorKind::BadRequest);
    let block = data.city.blocks[0].id.clone();
    let report = crate::supply::check_development(&data, None, &params, &[block.as_str()], &[], &[]).expect("checked");
    let o = DevelopmentRequest::new(demo())
        .years(4)
        .block(block)
        .run()
        .expect("checked");
    assert_eq!(
        serde_json::to_string(&o.report).ok(),
        serde_json::to_string(&report).ok()
    );
}

#[test]
fn roads_request_writes_the_road_distances() {
    let dir = tempfile::tempdir().expect("temp");
    let roads = demo().with_file_name("scenario_roads.toml");
    let report = RoadsRequest::new(&roads).write(dir.path()).expect("roads");
    assert!(report.nodes > 0);
    let data = Dataset::load(&roads).expect("loads");
    by_hand(&dir.path().join("hand"), "roads", &data, |set| {
        crate::spatial::write_roads_outputs(set, &data.spatial, &data.city).expect("write");
    });
    let mut written = files(dir.path());
    written.retain(|k, _| k != "hand");
    assert_same(&files(&dir.path().join("hand")), &written);
    // A scenario naming no network at all.
    let bare = dir.path().join("bare");
    std::fs::create_dir_all(&bare).expect("mkdir");
    for f in ["schools.csv", "blocks.csv", "students.csv", "zones.csv"] {
        std::fs::copy(demo().with_file_name(f), bare.join(f)).expect("copy");
    }
    std::fs::write(
        bare.join("scenario.toml"),
        "name = \"bare\"\nyear = 2026\nstages = [\"primary\"]\n",
    )
    .expect("write");
    let none = RoadsRequest::new(bare.join("scenario.toml"))
        .write(&dir.path().join("none"))
        .expect_err("no roads");
    assert!(
        matches!(none, RequestError::Spatial(crate::spatial::SpatialError::NoRoads)),
        "{none}"
    );
    assert_eq!(none.kind(), ErrorKind::InvalidInput);
}

#[test]
fn zones_from_list_request_matches_the_list_functions() {
    let dir = tempfile::tempdir().expect("temp");
    let list = dir.path().join("list.csv");
    std::fs::write(&list, "学校,划片范围\nP0005,盛岸三村；风雅苑\n").expect("write");
    let data = Dataset::load(&demo()).expect("demo loads");
    let rows = crate::names::from_list::read_list(&list).expect("read");
    let by_hand =
        crate::names::from_list::zones_from_list(&data.city, Stage::Primary, &rows, &list.display().to_string())
            .expect("matched");
    let o = ZonesFromListRequest::new(demo(), &list, Stage::Primary)
        .write(&dir.path().join("out"))
        .expect("matched");
    assert_eq!(o.pairs, by_hand.pairs);
    assert!(dir.path().join("out/zones.csv").is_file());
}

#[test]
fn write_staged_moves_generated_files_into_place() {
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("gen");
    let (n, files) = write_staged(&out, "synth", 7, |d| {
        std::fs::write(d.join("a.csv"), "x\n1\n").map(|_| 1)
    })
    .expect("written");
    assert_eq!(n, 1);
    assert!(files.iter().any(|f| f.ends_with("a.csv")));
    assert_eq!(
        std::fs::read_to_string(out.join("a.csv")).ok().as_deref(),
        Some("x\n1\n")
    );
    let failed = write_staged(&dir.path().join("bad"), "synth", 7, |_| Err::<(), _>("no space"))
        .expect_err("the generator failed");
    assert_eq!(failed.kind(), ErrorKind::Operational);
}

#[test]
fn a_batch_names_its_folders_and_spares_the_others_when_one_fails() {
    let dir = tempfile::tempdir().expect("temp");
    let missing = dir.path().join("missing/scenario.toml");
    let batch = AllocationBatch::new(vec![demo(), missing.clone(), demo()]).options(RunOptions {
        html: false,
        ..Default::default()
    });
    assert_eq!(batch.folders(), ["scenario", "scenario-2", "scenario-3"]);
    let items = batch.write_with(dir.path(), &Silent).expect("a pool");
    assert!(items[0].result.is_ok() && items[2].result.is_ok());
    let failed = items[1].result.as_ref().expect_err("missing");
    assert_eq!(failed.kind(), ErrorKind::Operational);
    assert_same(&files(&items[0].out), &files(&items[2].out));
}

#[test]
fn the_observer_hears_every_step_of_a_run() {
    struct Steps(std::sync::Mutex<Vec<String>>);
    impl Observer for Steps {
        fn done(&self, step: &str, _: std::time::Duration, _: &str) {
            if let Ok(mut s) = self.0.lock() {
                s.push(step.to_string());
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp");
    let steps = Steps(std::sync::Mutex::new(Vec::new()));
    AllocationRequest::new(demo())
        .html(false)
        .lotteries(3)
        .write_with(dir.path(), &steps)
        .expect("run");
    let heard = steps.0.into_inner().expect("not poisoned");
    assert_eq!(
        heard,
        ["load + validate", "allocate", "audit", "write", "lotteries", "commit"]
    );
}

#[test]
fn siting_request_writes_what_the_functions_write() {
    let dir = tempfile::tempdir().expect("temp");
    let data = Dataset::load(&demo()).expect("demo loads");
    // Candidate sites beside every fourth block of the first block's district.
    let district = data.city.blocks[0].district;
    let mut csv = String::from("site_id,name,district,lon,lat,capacity\n");
    for (i, b) in data
        .city
        .blocks
        .iter()
        .filter(|b| b.district == district)
        .step_by(4)
        .enumerate()
    {
        csv.push_str(&format!(
            "X{},{}地块,{},{:.6},{:.6},45\n",
            i + 1,
            b.name,
            data.city.districts[district as usize],
            b.location.lon + 0.0005,
            b.location.lat
        ));
    }
    let sites_path = dir.path().join("sites.csv");
    std::fs::write(&sites_path, csv).expect("write");
    let params = crate::PlanningParams::default();
    let sites = crate::supply::CandidateSites::load(&sites_path, &data).expect("sites");
    let fc = crate::supply::forecast(&data, None, &params.forecast, &[Stage::Primary]);
    let problem =
        crate::supply::SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting).expect("problem");
    let result = crate::supply::site(&problem, 2, &params.siting).expect("sited");
    by_hand(&dir.path().join("hand"), "site", &data, |set| {
        crate::supply::report::write_siting(set, &problem, &result, false).expect("write");
    });
    let o = SitingRequest::new(demo(), Stage::Primary, 2, &sites_path)
        .threads(2)
        .write(&dir.path().join("request"))
        .expect("sited");
    assert_eq!(o.result.chosen, result.chosen);
    assert_same(&files(&dir.path().join("hand")), &files(&dir.path().join("request")));
}

#[test]
fn compare_request_writes_what_the_functions_write() {
    let dir = tempfile::tempdir().expect("temp");
    let base = Dataset::load(&demo()).expect("demo loads");
    let mut alt = base.clone();
    alt.policy.seed = 12345;
    let (ba, aa) = (crate::allocate(&base), crate::allocate(&alt));
    let (br, ar) = (crate::audit(&base, &ba), crate::audit(&alt, &aa));
    let run = |data, allocation, audit| crate::compare::Run {
        data,
        allocation,
        audit,
    };
    let comparison = crate::compare::compare(run(&base, &ba, &br), run(&alt, &aa, &ar));
    by_hand(&dir.path().join("hand"), "compare", &base, |set| {
        crate::compare::write_comparison(set, &comparison, Default::default()).expect("write");
        let page = crate::report::compare_html((&base, &ba, &br), (&alt, &aa, &ar));
        set.write_bytes("compare.html", page.as_bytes()).expect("write");
    });
    let o = CompareRequest::new(Arc::new(base), Arc::new(alt))
        .write(&dir.path().join("request"))
        .expect("compared");
    assert!(o.comparison.stages.iter().any(|s| s.moved > 0));
    assert_same(&files(&dir.path().join("hand")), &files(&dir.path().join("request")));
}
