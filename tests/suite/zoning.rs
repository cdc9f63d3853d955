//! Catchment zoning end to end, on the synthetic demo city written as real files: the
//! proposal feeds back into the allocator, lookup agrees with zones.csv at every block, the
//! files are byte-identical at any thread count, and the planner's controls hold.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use xuequ::Stage;
use xuequ::zoning::{self, Demand, DemandSource, SchoolEdits, UNASSIGNED, ZoneIndex, ZoningParams, ZoningProblem};

fn demo(dir: &Path) -> xuequ::Dataset {
    let config = xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Demo);
    xuequ_synth::write_city(&config, dir, &mut |_| {}).unwrap();
    xuequ::Dataset::load(&dir.join("scenario.toml")).unwrap()
}

fn problem(data: &xuequ::Dataset, edits: &SchoolEdits, locked: &[String]) -> ZoningProblem {
    let demand = Demand::from_students(data, Stage::Primary);
    ZoningProblem::from_dataset(data, Stage::Primary, &demand, edits, locked).unwrap()
}

fn rows(bytes: &[u8]) -> Vec<(String, String, String)> {
    let mut r = csv::Reader::from_reader(bytes);
    r.records()
        .map(|x| {
            let x = x.unwrap();
            (x[0].to_string(), x[1].to_string(), x[2].to_string())
        })
        .collect()
}

#[test]
fn proposal_feeds_back_into_the_allocator_and_lookup_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let p = problem(&data, &SchoolEdits::default(), &[]);
    // Across districts, as the demo's one-class schools need (the default keeps zones inside).
    let across = ZoningParams {
        within_district: false,
        ..ZoningParams::default()
    };
    let z = zoning::zone(&p, &across, &|_| {}).unwrap();
    let o = &z.report.overall;
    assert!(o.bound_certified);
    assert_eq!(o.non_contiguous_zones, 0, "{:?}", z.repair);
    // The demo city has 4 % spare seats in one-class schools: whole blocks may not fit, and
    // then the report says where; travel stays close to the bound.
    assert!(o.gap < 0.05 || o.children_over_limit > 0, "gap {}", o.gap);
    assert!(o.travel_gap < 0.10, "travel gap {}", o.travel_gap);
    let out = dir.path().join("proposal");
    let files = xuequ::io::write_set(&out, "zone", |s| {
        zoning::write_zoning(s, &p, &z, Some(&data.city), None, false)
    })
    .unwrap();
    assert_eq!(files.len(), 6, "five files and the manifest");
    assert!(
        fs::read(out.join("zones.gpkg"))
            .unwrap()
            .starts_with(b"SQLite format 3\0")
    );

    // zones.csv: every block with children has exactly one primary school, other stages kept.
    let zones = fs::read(out.join("zones.csv")).unwrap();
    let rows = rows(&zones);
    let primary: Vec<_> = rows.iter().filter(|r| r.1 == "primary").collect();
    let assigned = z.assignment.iter().filter(|&&s| s != UNASSIGNED).count();
    assert_eq!(primary.len(), assigned);
    assert!(rows.iter().any(|r| r.1 == "junior"));

    // Lookup agrees with zones.csv for every block point.
    let index = ZoneIndex::new(z.polygons.as_ref().unwrap());
    let points: Vec<(f64, f64)> = p.blocks.iter().map(|b| (b.location.lon, b.location.lat)).collect();
    let hits = index.lookup_batch(&points);
    let school_of: HashMap<&str, &str> = primary.iter().map(|r| (r.0.as_str(), r.2.as_str())).collect();
    for (b, block) in p.blocks.iter().enumerate() {
        let ids: Vec<&str> = hits[b].iter().map(|&s| p.schools[s as usize].id.as_str()).collect();
        assert!(
            ids.contains(&school_of[block.id.as_str()]),
            "block {}: {ids:?}",
            block.id
        );
    }

    // The proposal replaces the scenario's zones.csv and the allocator runs on it.
    fs::copy(out.join("zones.csv"), dir.path().join("zones.csv")).unwrap();
    let again = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let allocation = xuequ::allocate(&again);
    assert!(xuequ::audit(&again, &allocation).passed());

    // The GeoJSON parses and has one feature per zone.
    let geo: serde_json::Value = serde_json::from_slice(&fs::read(out.join("zones.geojson")).unwrap()).unwrap();
    assert_eq!(
        geo["features"].as_array().unwrap().len(),
        z.polygons.as_ref().unwrap().zones.len()
    );
    let report: serde_json::Value = serde_json::from_slice(&fs::read(out.join("zoning_report.json")).unwrap()).unwrap();
    assert_eq!(report["overall"]["lower_bound"].as_i64().unwrap(), o.lower_bound);
}

#[test]
fn files_are_byte_identical_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let p = problem(&data, &SchoolEdits::default(), &[]);
    let params = ZoningParams {
        stability_m: 300,
        ..ZoningParams::default()
    };
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let z = zoning::zone(&p, &params, &|_| {}).unwrap();
                let out = dir.path().join(format!("t{threads}"));
                xuequ::io::write_set(&out, "zone", |s| {
                    zoning::write_zoning(s, &p, &z, Some(&data.city), None, false)
                })
                .unwrap();
                ["zones.csv", "zones.geojson", "zoning_report.csv", "zoning_report.json"]
                    .map(|f| fs::read(out.join(f)).unwrap())
            })
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn planner_controls_hold() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let base = problem(&data, &SchoolEdits::default(), &[]);
    let closed = base.schools[0].id.clone();
    let edited = base.schools[1].id.clone();
    let mut edits = SchoolEdits {
        close: vec![closed.clone()],
        ..SchoolEdits::default()
    };
    edits.capacity.insert(edited.clone(), 0);
    edits.open.push(zoning::NewSchool::new(
        "PNEW",
        "新城小学",
        data.city.districts[0].clone(),
        Stage::Primary,
        (base.blocks[0].location.lon, base.blocks[0].location.lat),
        200,
    ));
    let locked: Vec<String> = base
        .blocks
        .iter()
        .enumerate()
        .filter(|(b, _)| base.has_current(*b as u32) && b % 7 == 0)
        .map(|(_, x)| x.id.clone())
        .collect();
    let p = problem(&data, &edits, &locked);
    assert!(p.schools.iter().all(|s| s.id != closed));
    let params = ZoningParams {
        within_district: true,
        ..ZoningParams::default()
    };
    let z = zoning::zone(&p, &params, &|_| {}).unwrap();
    let edited_index = p.schools.iter().position(|s| s.id == edited).unwrap() as u32;
    let new_index = p.schools.iter().position(|s| s.id == "PNEW").unwrap() as u32;
    let mut new_used = false;
    for (b, &s) in z.assignment.iter().enumerate() {
        let block = &p.blocks[b];
        if block.locked {
            assert!(p.is_current(b as u32, s), "locked block {} moved", block.id);
            continue;
        }
        if s == UNASSIGNED {
            continue;
        }
        assert_eq!(
            p.schools[s as usize].district, block.district,
            "block {} crosses a district",
            block.id
        );
        if block.demand > 0 {
            assert_ne!(s, edited_index, "a school with no seats got children");
        }
        new_used |= s == new_index;
    }
    assert!(new_used, "the opened school serves nobody");

    // Households × rate, and the distance matrix.
    let demand = Demand::from_source(&data, Stage::Primary, DemandSource::Households(Default::default()));
    assert!(demand.total() > 0);
    let mut p = ZoningProblem::from_dataset(&data, Stage::Primary, &demand, &SchoolEdits::default(), &[]).unwrap();
    assert!(p.use_matrix(&data).is_err(), "the demo has no distances.csv");
    let mut text = String::from("school_id,block_id,distance_m\n");
    for s in &p.schools {
        for b in &p.blocks {
            text.push_str(&format!(
                "{},{},{}\n",
                s.id,
                b.id,
                b.location.distance_m(&s.location) * 13 / 10
            ));
        }
    }
    fs::write(dir.path().join("distances.csv"), text).unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    p.use_matrix(&data).unwrap();
    assert_eq!(
        p.metres(0, 0),
        Some(p.blocks[0].location.distance_m(&p.schools[0].location) * 13 / 10)
    );
    let z = zoning::zone(&p, &ZoningParams::default(), &|_| {}).unwrap();
    assert!(z.report.overall.bound_certified);
}

#[test]
fn stability_sweep_and_cap() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let p = problem(&data, &SchoolEdits::default(), &[]);
    let params = ZoningParams::default();
    let curve = zoning::sweep(&p, &params, &[0, 250, 1000], &|_| {}).unwrap();
    assert!(curve[2].moved <= curve[0].moved);
    let csv = zoning::sweep_csv(&curve, false);
    assert!(String::from_utf8(csv).unwrap().starts_with("lambda_m,children_moved"));
    let z = zoning::zone(
        &p,
        &ZoningParams {
            max_moved_share: Some(0.02),
            ..params
        },
        &|_| {},
    )
    .unwrap();
    assert!(z.bound.moved as f64 <= 0.02 * p.movable_children() as f64 + 0.5 || z.lambda_m == 10_000_000);
}

#[test]
fn multi_school_zones_feed_the_allocator_and_lookup_returns_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let p = problem(&data, &SchoolEdits::default(), &[]);
    let multi = zoning::MultiSchoolParams::default();
    let params = ZoningParams {
        multi_school: Some(multi),
        ..ZoningParams::default()
    };
    let z = zoning::zone(&p, &params, &|_| {}).unwrap();
    let groups = z.report.groups.as_ref().unwrap();
    assert!(!groups.is_empty(), "the demo city has hot schools");
    let out = dir.path().join("multi");
    xuequ::io::write_set(&out, "zone", |s| {
        zoning::write_zoning(s, &p, &z, Some(&data.city), None, false)
    })
    .unwrap();

    // zones.csv: one primary row per school of the block's group.
    let rows = rows(&fs::read(out.join("zones.csv")).unwrap());
    let mut schools_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in rows.iter().filter(|r| r.1 == "primary") {
        schools_of.entry(r.0.as_str()).or_default().push(r.2.as_str());
    }
    let group_of = zoning::group_index(p.schools.len(), groups);
    let mut multi_blocks = 0;
    for (b, block) in p.blocks.iter().enumerate() {
        let s = z.assignment[b];
        if s == UNASSIGNED {
            assert!(!schools_of.contains_key(block.id.as_str()));
            continue;
        }
        let want: Vec<&str> = match group_of[s as usize] {
            Some(g) => {
                multi_blocks += 1;
                groups[g].school_ids.iter().map(String::as_str).collect()
            }
            None => vec![p.schools[s as usize].id.as_str()],
        };
        assert_eq!(schools_of[block.id.as_str()], want, "block {}", block.id);
    }
    assert!(multi_blocks > 0);
    for g in groups {
        assert!(g.schools.len() >= 2 && g.schools.len() <= multi.max_group, "{g:?}");
    }

    // Lookup returns every school of the group.
    let index = ZoneIndex::new(z.polygons.as_ref().unwrap());
    for block in &p.blocks {
        let hits = index.lookup(block.location.lon, block.location.lat);
        let ids: Vec<&str> = hits.iter().map(|&s| p.schools[s as usize].id.as_str()).collect();
        if let Some(want) = schools_of.get(block.id.as_str()) {
            assert!(
                want.iter().all(|w| ids.contains(w)),
                "block {}: {ids:?} vs {want:?}",
                block.id
            );
        }
    }

    // GeoJSON: one feature per group; the report lists the groups.
    let geo: serde_json::Value = serde_json::from_slice(&fs::read(out.join("zones.geojson")).unwrap()).unwrap();
    let features = geo["features"].as_array().unwrap();
    let group_features: Vec<_> = features
        .iter()
        .filter(|f| f["properties"]["group_id"].is_string())
        .collect();
    assert_eq!(group_features.len(), groups.len());
    for (f, g) in group_features.iter().zip(groups) {
        assert_eq!(f["properties"]["group_id"], g.group_id.as_str());
        assert_eq!(f["properties"]["school_ids"].as_array().unwrap().len(), g.schools.len());
    }
    let report: serde_json::Value = serde_json::from_slice(&fs::read(out.join("zoning_report.json")).unwrap()).unwrap();
    assert_eq!(report["groups"].as_array().unwrap().len(), groups.len());
    assert!(report["groups"][0]["utilisation"].is_number());

    // The allocator runs on the multi-school zones.csv and its audit passes.
    fs::copy(out.join("zones.csv"), dir.path().join("zones.csv")).unwrap();
    let again = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let allocation = xuequ::allocate(&again);
    assert!(xuequ::audit(&again, &allocation).passed());
}

#[test]
fn multi_school_off_writes_no_groups() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let p = problem(&data, &SchoolEdits::default(), &[]);
    let z = zoning::zone(&p, &ZoningParams::default(), &|_| {}).unwrap();
    assert!(z.report.groups.is_none());
    let report = String::from_utf8(zoning::report_json(&z)).unwrap();
    assert!(!report.contains("\"groups\""));
    let geo = String::from_utf8(zoning::zones_geojson(&p, &z)).unwrap();
    assert!(!geo.contains("school_ids") && !geo.contains("group_id"));
}

/// 划片 is set per 区县: by default no block goes to a school of another district unless that
/// school is already its zone school.
#[test]
fn zones_stay_inside_districts_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let p = problem(&data, &SchoolEdits::default(), &[]);
    let z = zoning::zone(&p, &ZoningParams::default(), &|_| {}).unwrap();
    let mut crossing = 0;
    for (b, &s) in z.assignment.iter().enumerate() {
        if s != UNASSIGNED && p.schools[s as usize].district != p.blocks[b].district && !p.is_current(b as u32, s) {
            crossing += 1;
        }
    }
    assert_eq!(crossing, 0);
    let across = zoning::zone(
        &p,
        &ZoningParams {
            within_district: false,
            ..ZoningParams::default()
        },
        &|_| {},
    )
    .unwrap();
    let moved = across
        .assignment
        .iter()
        .enumerate()
        .filter(|&(b, &s)| s != UNASSIGNED && p.schools[s as usize].district != p.blocks[b].district)
        .count();
    assert!(moved > 0, "the demo has blocks nearer another district's school");
}
