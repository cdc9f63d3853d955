//! Road distances end to end on the synthetic demo city and its walking network: every
//! command takes the same distance for the same pair, outputs say what was measured, and
//! `xuequ roads`'s `distances.csv` read back as a matrix gives the same allocation.

use std::fs;
use std::path::Path;

use xuequ::Stage;
use xuequ::spatial::{DistanceKind, metres_of_mm};
use xuequ::supply::{self, PlanningParams, SitingProblem};
use xuequ::zoning::{Demand, SchoolEdits, ZoningProblem};

fn demo(dir: &Path) -> xuequ::Dataset {
    let config = xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Demo);
    xuequ_synth::write_city(&config, dir, &mut |_| {}).unwrap();
    xuequ::Dataset::load(&dir.join("scenario_roads.toml")).unwrap()
}

#[test]
fn allocation_zoning_siting_and_lookup_agree_on_road_distances() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let sp = &data.spatial;
    assert_eq!(sp.kind(), DistanceKind::Roads);
    let city = &data.city;

    // Allocation: every placed applicant's distance is the spatial layer's.
    let allocation = xuequ::allocate(&data);
    let mut checked = 0;
    for st in &allocation.stages {
        for (m, p) in st.placements.iter().enumerate() {
            if p.program == xuequ::mechanism::UNPLACED {
                continue;
            }
            let school = st.programs[p.program as usize].school;
            let block = data.cohort.students[st.members[m] as usize].block;
            let want = sp.metres(school, block).unwrap_or(xuequ::allocate::UNKNOWN_DISTANCE);
            assert_eq!(p.distance_m, want, "allocation");
            checked += 1;
        }
    }
    assert!(checked > 2000);

    // Zoning: the problem's metres are the spatial layer's (unreachable is None in both).
    let demand = Demand::from_counts(vec![1; city.blocks.len()]);
    let problem = ZoningProblem::from_dataset(&data, Stage::Primary, &demand, &SchoolEdits::default(), &[]).unwrap();
    for (s, school) in problem.schools.iter().enumerate() {
        let Some(c) = school.city_index else { continue };
        for b in (0..city.blocks.len() as u32).step_by(7) {
            assert_eq!(problem.metres(b, s as u32), sp.metres(c, b), "zoning");
        }
    }

    // Siting: every arc's metres are the spatial layer's; a site at a school's location
    // measures what the school measures.
    let mut params = PlanningParams::default();
    params.siting.year = Some(2026);
    let fc = supply::forecast(&data, None, &params.forecast, &[Stage::Primary]);
    let first = city
        .schools
        .iter()
        .position(|s| s.stage == xuequ::Stage::Primary)
        .unwrap();
    let s0 = &city.schools[first];
    let sites_text = format!(
        "site_id,name,district,lon,lat,capacity\nX1,地块,{},{:.9},{:.9},300\n",
        city.districts[s0.district as usize], s0.location.lon, s0.location.lat
    );
    let sites = supply::CandidateSites::from_csv(sites_text.as_bytes(), "sites.csv", &data).unwrap();
    let siting = SitingProblem::build(&data, &fc, Stage::Primary, &sites, None, &params.siting).unwrap();
    let mut arcs = 0;
    for (bi, &b) in siting.blocks.iter().enumerate() {
        for a in siting.instance.arcs(bi as u32) {
            let f = &siting.facilities[siting.instance.arc_facility(a) as usize];
            let want = match f.kind {
                supply::siting::FacilityKind::School => sp.metres(f.index, b),
                _ => sp.metres(first as u32, b),
            };
            assert_eq!(Some(siting.arc_metres[a]), want, "siting");
            arcs += 1;
        }
    }
    assert!(arcs > 100);

    // Lookup (a point at a block's location) and development checks measure the same.
    for b in (0..city.blocks.len() as u32).step_by(5) {
        for s in (0..city.schools.len() as u32).step_by(3) {
            let at = city.blocks[b as usize].location;
            assert_eq!(sp.school_to_point_mm(s, &at), sp.mm(s, b), "lookup");
        }
    }
}

#[test]
fn summary_and_explain_say_what_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let allocation = xuequ::allocate(&data);
    let audit = xuequ::audit(&data, &allocation);
    let summary = xuequ::output::summary(&data, &allocation, &audit);
    assert_eq!(summary.distance, "roads");
    let student = data.cohort.id(0).to_string();
    let why = xuequ::explain(&data, &allocation, &student).unwrap();
    assert_eq!(why.distance, "roads");
    let text = why.to_string();
    assert!(text.contains("by road") && text.contains("straight"), "{text}");
    for c in &why.choices {
        // A road is never shorter than the straight line (to the metre of rounding).
        if c.distance_m != xuequ::allocate::UNKNOWN_DISTANCE {
            assert!(c.distance_m + 1 >= c.straight_m, "{c:?}");
        }
    }
}

#[test]
fn roads_distances_csv_read_back_as_a_matrix_gives_the_same_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo(dir.path());
    let out = dir.path().join("roads");
    let mut report = None;
    let files = xuequ::io::write_set(&out, "roads", |set| {
        report = xuequ::spatial::write_roads_outputs(set, &data.spatial, &data.city)?;
        Ok::<_, xuequ::OutputError>(())
    })
    .unwrap();
    let report = report.unwrap();
    assert_eq!(files.len(), 3, "distances, report, manifest");
    assert!(report.nodes > 10_000 && report.components >= 1);
    assert!(report.road_to_straight.p50 >= 1.0, "{:?}", report.road_to_straight);
    let json: serde_json::Value = serde_json::from_slice(&fs::read(out.join("roads_report.json")).unwrap()).unwrap();
    assert_eq!(json["distance"], "roads");
    fs::copy(out.join("distances.csv"), dir.path().join("distances.csv")).unwrap();
    let matrix = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    assert_eq!(
        matrix.spatial.kind(),
        DistanceKind::Matrix,
        "distances.csv present: matrix by default"
    );
    let a = xuequ::allocate(&data);
    let b = xuequ::allocate(&matrix);
    for (x, y) in a.stages.iter().zip(&b.stages) {
        assert_eq!(x.placements, y.placements);
    }
    // The matrix keeps the millimetres.
    for s in 0..data.city.schools.len() as u32 {
        for (blk, mm) in data.spatial.school_row(s) {
            assert_eq!(matrix.spatial.mm(s, blk), Some(mm));
            assert_eq!(matrix.spatial.metres(s, blk), Some(metres_of_mm(mm)));
        }
    }
}

#[test]
fn road_distances_are_the_same_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let config = xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Demo);
    xuequ_synth::write_city(&config, dir.path(), &mut |_| {}).unwrap();
    let load = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| xuequ::Dataset::load(&dir.path().join("scenario_roads.toml")).unwrap())
    };
    let (one, two) = (load(1), load(2));
    for s in 0..one.city.schools.len() as u32 {
        assert_eq!(one.spatial.school_row(s), two.spatial.school_row(s));
    }
}
