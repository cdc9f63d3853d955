//! Whole-dataset tests: reproducibility, referential integrity and the invariants of the
//! file contract, on small cities.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use crate::geography::{MicroPt, copy_offset, wuxi_districts};
use crate::preset::Shape;
use crate::{Preset, Stage, SynthConfig, SynthError, SynthSummary, write_city, write_with_shape};

type Row = HashMap<String, String>;

fn read(dir: &Path, name: &str, header: &str) -> Vec<Row> {
    let text = fs::read_to_string(dir.join(name)).expect("file exists");
    assert!(!text.starts_with('\u{feff}'), "{name} has a BOM");
    assert_eq!(text.lines().next(), Some(header), "{name} header");
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().expect("header").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("well-formed row");
            assert_eq!(rec.len(), headers.len(), "{name}: ragged row");
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn generate(config: &SynthConfig, shape: Option<Shape>) -> (tempfile::TempDir, SynthSummary) {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = match shape {
        Some(shape) => write_with_shape(config, &shape, dir.path(), &mut |_| {}),
        None => write_city(config, dir.path(), &mut |_| {}),
    }
    .expect("generation succeeds");
    (dir, summary)
}

fn parse_bool(s: &str) -> bool {
    match s {
        "true" => true,
        "false" => false,
        other => panic!("not a bool: {other:?}"),
    }
}

/// Checks every contract invariant of a generated dataset; returns the students.
fn check_dataset(dir: &Path, config: &SynthConfig, summary: &SynthSummary) -> Vec<Row> {
    let year = config.year;
    let geo = wuxi_districts().expect("districts");
    let schools = read(
        dir,
        "schools.csv",
        "school_id,name,district,stage,sector,lon,lat,capacity,classes,class_size,opens_year,feeder_junior_id,purchased_seats",
    );
    let blocks = read(
        dir,
        "blocks.csv",
        "block_id,name,district,lon,lat,households,status,move_in_year,planned_households",
    );
    let zones = read(dir, "zones.csv", "block_id,stage,school_id");
    let students = read(
        dir,
        "students.csv",
        "student_id,stage,block_id,hukou_in_zone,owns_home,years_at_address,property_id,migrant,residence_permit_months,social_insurance_months,primary_school_id,choices",
    );
    let locks = read(dir, "seat_locks.csv", "property_id,stage,year");

    // Every point lies inside its (translated) district outline.
    let inside = |district: &str, lon: &str, lat: &str| {
        let (base, copy) = match district.split_once('#') {
            Some((b, n)) => (b, n.parse::<u32>().expect("copy number") - 1),
            None => (district, 0),
        };
        let d = geo.iter().find(|d| d.name == base).expect("known district");
        let off = copy_offset(copy, summary.copies);
        let p = MicroPt::from_deg(
            lon.parse().expect("lon is a number"),
            lat.parse().expect("lat is a number"),
        );
        assert_eq!(lon.split('.').nth(1).map(str::len), Some(6), "6 decimals: {lon}");
        let back = MicroPt {
            lon: p.lon - off.dlon,
            lat: p.lat - off.dlat,
        };
        assert!(d.contains(back), "{lon},{lat} outside {district}");
    };

    let mut school: HashMap<&str, &Row> = HashMap::new();
    for s in &schools {
        assert!(school.insert(&s["school_id"], s).is_none(), "duplicate school id");
        let stage = s["stage"].as_str();
        let size = match stage {
            "kindergarten" => 25,
            "primary" => 45,
            "junior" => 50,
            other => panic!("stage {other}"),
        };
        let prefix = &s["school_id"][..1];
        assert_eq!(prefix, &stage[..1].to_uppercase(), "{}", s["school_id"]);
        let cap: u32 = s["capacity"].parse().expect("capacity");
        let classes: u32 = s["classes"].parse().expect("classes");
        assert_eq!(s["class_size"], size.to_string());
        assert_eq!(cap, classes * size, "capacity = classes × class_size");
        assert!(classes >= 1);
        assert!(!s["name"].is_empty());
        inside(&s["district"], &s["lon"], &s["lat"]);
        match s["sector"].as_str() {
            "public" => assert!(s["purchased_seats"].is_empty()),
            "private" => {
                assert!(s["feeder_junior_id"].is_empty());
                assert!(s["opens_year"].is_empty());
                if !s["purchased_seats"].is_empty() {
                    let p: u32 = s["purchased_seats"].parse().expect("purchased");
                    assert!(p > 0 && p <= cap);
                }
            }
            other => panic!("sector {other}"),
        }
        if !s["opens_year"].is_empty() {
            let y: i32 = s["opens_year"].parse().expect("opens_year");
            assert!(y > year);
        }
        if stage != "primary" {
            assert!(s["feeder_junior_id"].is_empty());
        }
    }
    let open_public = |id: &str| {
        school
            .get(id)
            .is_some_and(|s| s["sector"] == "public" && s["opens_year"].is_empty())
    };
    for s in &schools {
        if s["stage"] == "primary" && s["sector"] == "public" && summary.public_schools.junior > 0 {
            let f = &s["feeder_junior_id"];
            let j = school.get(f.as_str()).expect("feeder exists");
            assert_eq!(j["stage"], "junior");
            assert!(open_public(f));
            assert_eq!(j["district"], s["district"]);
        }
    }

    let mut block: HashMap<&str, &Row> = HashMap::new();
    for b in &blocks {
        assert!(block.insert(&b["block_id"], b).is_none(), "duplicate block id");
        inside(&b["district"], &b["lon"], &b["lat"]);
        let h: u32 = b["households"].parse().expect("households");
        match b["status"].as_str() {
            "existing" => {
                assert!(h > 0);
                assert!(b["move_in_year"].is_empty() && b["planned_households"].is_empty());
            }
            "new" => {
                let y: i32 = b["move_in_year"].parse().expect("move_in_year");
                let planned: u32 = b["planned_households"].parse().expect("planned");
                assert!(h <= planned);
                assert_eq!(h == 0, y > year, "only moved-in new blocks have residents");
            }
            other => panic!("status {other}"),
        }
    }

    let stages: Vec<&str> = Stage::ALL
        .iter()
        .filter(|s| summary.public_schools.get(**s) > 0)
        .map(|s| s.as_str())
        .collect();
    let mut zone: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
    for z in &zones {
        let b = block.get(z["block_id"].as_str()).expect("zone block exists");
        let s = school.get(z["school_id"].as_str()).expect("zone school exists");
        assert_eq!(s["stage"], z["stage"]);
        assert!(open_public(&z["school_id"]), "zone school is open and public");
        assert_eq!(s["district"], b["district"], "zones stay inside a district");
        let e = zone.entry((&z["block_id"], &z["stage"])).or_default();
        assert!(!e.contains(&z["school_id"].as_str()), "duplicate zone row");
        e.push(&z["school_id"]);
    }
    for b in &blocks {
        let lived_in = b["households"] != "0";
        for st in &stages {
            assert_eq!(
                zone.contains_key(&(b["block_id"].as_str(), *st)),
                lived_in,
                "block {} zone for {st}",
                b["block_id"]
            );
        }
    }
    let zoned: HashSet<&str> = zones.iter().map(|z| z["block_id"].as_str()).collect();
    let multi: HashSet<&str> = zone.iter().filter(|(_, v)| v.len() > 1).map(|((b, _), _)| *b).collect();
    if zoned.len() >= 400 {
        let share = multi.len() as f64 / zoned.len() as f64;
        assert!((0.03..=0.15).contains(&share), "multi-school zone share {share}");
    }
    assert_eq!(multi.len() as u64, summary.multi_zone_blocks);

    let mut ids = HashSet::new();
    let mut properties = HashSet::new();
    let (mut migrants, mut long_permit) = (0u64, 0u64);
    for st in &students {
        assert!(ids.insert(st["student_id"].as_str()), "duplicate student id");
        let stage = st["stage"].as_str();
        assert!(stages.contains(&stage), "stage {stage}");
        let b = block.get(st["block_id"].as_str()).expect("student's block exists");
        assert!(zone.contains_key(&(st["block_id"].as_str(), stage)), "home has a zone");
        let migrant = parse_bool(&st["migrant"]);
        let hukou = parse_bool(&st["hukou_in_zone"]);
        let owns = parse_bool(&st["owns_home"]);
        let years: u32 = st["years_at_address"].parse().expect("years");
        assert!(years <= 12);
        if migrant {
            migrants += 1;
            assert!(!hukou, "migrant ⇒ no local hukou");
            let permit: u32 = st["residence_permit_months"].parse().expect("permit");
            let _: u32 = st["social_insurance_months"].parse().expect("insurance");
            long_permit += u64::from(permit >= 12);
        } else {
            assert!(st["residence_permit_months"].is_empty());
            assert!(st["social_insurance_months"].is_empty());
        }
        let prop = &st["property_id"];
        assert_eq!(owns, !prop.is_empty(), "property iff owner");
        if owns {
            assert!(properties.insert(prop.clone()), "property {prop} used twice");
            assert_eq!(&prop[1..7], &b["block_id"][1..], "property in the home block");
        }
        if stage == "junior" {
            let p = school
                .get(st["primary_school_id"].as_str())
                .expect("primary school exists");
            assert_eq!(p["stage"], "primary");
            assert_eq!(p["sector"], "public");
            assert_eq!(p["district"], b["district"]);
        } else {
            assert!(st["primary_school_id"].is_empty());
        }
        let choices: Vec<&str> = if st["choices"].is_empty() {
            Vec::new()
        } else {
            st["choices"].split(';').collect()
        };
        let distinct: HashSet<&&str> = choices.iter().collect();
        assert_eq!(distinct.len(), choices.len(), "choices are distinct");
        for c in &choices {
            let s = school.get(c).expect("chosen school exists");
            assert_eq!(s["stage"], stage);
            assert_eq!(s["district"], b["district"]);
            assert!(s["opens_year"].is_empty(), "chosen school is open");
        }
        if let Preset::Choice { k } = config.preset {
            assert_eq!(choices.len(), k as usize, "choice market lists k schools");
        }
    }
    for l in &locks {
        assert!(
            properties.contains(&l["property_id"]),
            "locked property belongs to an applicant"
        );
        assert!(l["stage"] == "primary" || l["stage"] == "junior");
        let y: i32 = l["year"].parse().expect("year");
        assert!((year - 8..year).contains(&y));
    }

    // The summary matches the files.
    let count = |stage: &str, sector: &str| {
        schools
            .iter()
            .filter(|s| s["stage"] == stage && s["sector"] == sector)
            .count() as u64
    };
    for stage in Stage::ALL {
        let n = students.iter().filter(|s| s["stage"] == stage.as_str()).count() as u64;
        assert_eq!(n, summary.applicants.get(stage));
        assert_eq!(count(stage.as_str(), "public"), summary.public_schools.get(stage));
        assert_eq!(count(stage.as_str(), "private"), summary.private_schools.get(stage));
    }
    assert_eq!(blocks.len() as u64, summary.blocks);
    assert_eq!(zones.len() as u64, summary.zone_rows);
    assert_eq!(locks.len() as u64, summary.seat_locks);
    assert_eq!(migrants, summary.migrants);
    // Eight inputs and README, plus roads.osm.pbf and scenario_roads.toml.
    assert_eq!(summary.files.len(), 10);
    assert!(summary.roads.is_some_and(|r| r.nodes >= 20_000));
    if students.len() >= 2_000 {
        let share = migrants as f64 / students.len() as f64;
        assert!((0.25..0.42).contains(&share), "migrant share {share}");
        let long = long_permit as f64 / migrants as f64;
        assert!((0.65..0.85).contains(&long), "permit ≥ 12 months share {long}");
    }
    let names: Vec<String> = fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "temporary files left: {names:?}"
    );
    students
}

#[test]
fn demo_is_complete_and_consistent() {
    let config = SynthConfig::default();
    let (dir, summary) = generate(&config, None);
    let students = check_dataset(dir.path(), &config, &summary);
    assert_eq!(students.len(), 3_000);
    assert_eq!(summary.districts, 7);
    assert_eq!(
        (
            summary.applicants.kindergarten,
            summary.applicants.primary,
            summary.applicants.junior
        ),
        (600, 1_300, 1_100)
    );
    assert_eq!(summary.blocks, 150);
    // Public seats ≈ 1.1 × demand per stage, and some schools are clearly oversubscribed.
    for stage in Stage::ALL {
        let ratio = summary.public_seats.get(stage) as f64 / summary.applicants.get(stage) as f64;
        assert!((1.02..1.3).contains(&ratio), "{stage:?} supply ratio {ratio}");
    }
    let policy = fs::read_to_string(dir.path().join("policy.toml")).expect("policy");
    assert!(policy.contains("candidates = \"zone_then_overflow\""));
    let scenario = fs::read_to_string(dir.path().join("scenario.toml")).expect("scenario");
    assert!(scenario.contains("name = \"无锡演示城市 2026\""));
}

#[test]
fn same_seed_same_bytes_different_seed_different_city() {
    let config = SynthConfig {
        applicants: Some(1_500),
        seed: 99,
        ..SynthConfig::default()
    };
    let (a, _) = generate(&config, None);
    let (b, _) = generate(&config, None);
    for name in [
        "schools.csv",
        "blocks.csv",
        "zones.csv",
        "students.csv",
        "seat_locks.csv",
        "policy.toml",
        "scenario.toml",
    ] {
        let (x, y) = (
            fs::read(a.path().join(name)).expect("a"),
            fs::read(b.path().join(name)).expect("b"),
        );
        assert!(x == y, "{name} differs between runs with the same seed");
    }
    let readme = |d: &Path| {
        fs::read_to_string(d.join("README.md"))
            .expect("readme")
            .replace(&d.display().to_string(), "OUT")
    };
    assert_eq!(readme(a.path()), readme(b.path()));

    let other = SynthConfig { seed: 100, ..config };
    let (c, _) = generate(&other, None);
    for name in ["students.csv", "blocks.csv", "schools.csv"] {
        assert_ne!(
            fs::read(a.path().join(name)).expect("a"),
            fs::read(c.path().join(name)).expect("c"),
            "{name} should differ across seeds"
        );
    }
}

#[test]
fn scaled_presets_hit_the_requested_count() {
    for (preset, n) in [
        (Preset::Wuxi, 20_000),
        (Preset::Demo, 777),
        (Preset::Choice { k: 5 }, 4_000),
        (Preset::Choice { k: 10 }, 3_000),
        (Preset::Choice { k: 50 }, 300),
    ] {
        let config = SynthConfig {
            preset,
            applicants: Some(n),
            seed: 5,
            year: 2030,
        };
        let (dir, summary) = generate(&config, None);
        let students = check_dataset(dir.path(), &config, &summary);
        let got = students.len() as f64;
        assert!((got - n as f64).abs() <= n as f64 * 0.01, "{preset}: {got} of {n}");
        assert_eq!(summary.copies, 1);
    }
}

#[test]
fn large_runs_replicate_the_city() {
    // A low replication threshold stands in for "beyond Wuxi size".
    let shape = Shape {
        copy_cap: 1_500,
        ..Shape::of(Preset::Demo)
    };
    let config = SynthConfig {
        applicants: Some(4_000),
        ..SynthConfig::default()
    };
    let (dir, summary) = generate(&config, Some(shape));
    assert_eq!(summary.copies, 3);
    assert_eq!(summary.districts, 21);
    let students = check_dataset(dir.path(), &config, &summary);
    assert_eq!(students.len(), 4_000);
    let blocks = fs::read_to_string(dir.path().join("blocks.csv")).expect("blocks");
    assert!(blocks.contains(",梁溪区#3,"));
}

#[test]
fn bad_configs_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zero = SynthConfig {
        applicants: Some(0),
        ..SynthConfig::default()
    };
    assert!(matches!(
        write_city(&zero, dir.path(), &mut |_| {}),
        Err(SynthError::InvalidConfig(_))
    ));
    let file = dir.path().join("a-file");
    fs::write(&file, "x").expect("write");
    let err = write_city(&SynthConfig::default(), &file.join("sub"), &mut |_| {})
        .expect_err("cannot create a directory under a file");
    assert!(matches!(err, SynthError::Io { .. }), "{err}");
}

#[test]
fn progress_reaches_the_total() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut last = None;
    let config = SynthConfig {
        applicants: Some(2_000),
        ..SynthConfig::default()
    };
    write_city(&config, dir.path(), &mut |p| {
        if p.phase == crate::SynthPhase::Students {
            last = Some((p.done, p.total));
        }
    })
    .expect("generation succeeds");
    assert_eq!(last, Some((2_000, 2_000)));
}
