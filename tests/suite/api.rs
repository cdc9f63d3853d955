//! Library-level scenarios with hand-checked outcomes.

use std::fs;
use std::path::Path;

use xuequ::Dataset;

/// Writes a scenario folder from (file name, contents) pairs.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        fs::write(dir.join(name), text).unwrap();
    }
}

const SCHOOLS: &str = "school_id,name,district,stage,sector,lon,lat,capacity,feeder_junior_id,purchased_seats
P1,实验小学,梁溪区,primary,public,120.300,31.570,2,J1,
P2,第二小学,梁溪区,primary,public,120.310,31.570,2,J1,
P3,远郊小学,梁溪区,primary,public,120.600,31.570,5,,
M1,外国语学校(民办),梁溪区,primary,private,120.305,31.575,3,,1
J1,第一中学,梁溪区,junior,public,120.302,31.572,1,,
J2,第二中学,梁溪区,junior,public,120.320,31.572,5,,
";
const BLOCKS: &str = "block_id,name,district,lon,lat,households
B1,清扬新村,梁溪区,120.301,31.571,800
B2,万科城,梁溪区,120.309,31.571,600
";
const ZONES: &str = "block_id,stage,school_id
B1,primary,P1
B2,primary,P2
B1,junior,J2
B2,junior,J2
";

fn tiny(students: &str, policy: &str, locks: &str) -> (tempfile::TempDir, Dataset) {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "scenario.toml",
                "name = \"tiny\"\nyear = 2026\ncrs = \"wgs84\"\nstages = [\"primary\", \"junior\"]\n",
            ),
            ("schools.csv", SCHOOLS),
            ("blocks.csv", BLOCKS),
            ("zones.csv", ZONES),
            ("students.csv", students),
            ("policy.toml", policy),
            ("seat_locks.csv", locks),
        ],
    );
    let data = Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    (dir, data)
}

const HEADER: &str = "student_id,stage,block_id,hukou_in_zone,owns_home,years_at_address,property_id,migrant,residence_permit_months,social_insurance_months,primary_school_id,choices\n";

fn school_of(data: &Dataset, alloc: &xuequ::Allocation, id: &str) -> Option<String> {
    let i = data.cohort.student(id).unwrap();
    let (st, m) = alloc.find(i).unwrap();
    let p = st.placements[m];
    p.is_placed().then(|| {
        data.city.schools[st.programs[p.program as usize].school as usize]
            .id
            .clone()
    })
}

#[test]
fn tiers_seat_locks_and_points_decide_the_zone_school() {
    // P1 has 2 seats and four applicants from its zone: an owner-resident (房户一致), an
    // owner-resident whose home gave a seat in 2022 (locked for 6 years), and two eligible
    // migrants with different points. Policy: defaults (房户一致 > 随迁子女 by points > 学区内其他).
    let students = format!(
        "{HEADER}A,primary,B1,true,true,5,H1,false,0,0,,\n\
         LOCKED,primary,B1,true,true,5,H2,false,0,0,,\n\
         MIG_HI,primary,B1,false,false,2,,true,36,40,,\n\
         MIG_LO,primary,B1,false,false,2,,true,14,2,,\n"
    );
    let (_d, data) = tiny(&students, "seed = 1\n", "property_id,stage,year\nH2,primary,2022\n");
    let alloc = xuequ::allocate(&data);
    assert!(xuequ::audit(&data, &alloc).passed());
    assert_eq!(school_of(&data, &alloc, "A").as_deref(), Some("P1"));
    assert_eq!(
        school_of(&data, &alloc, "MIG_HI").as_deref(),
        Some("P1"),
        "more points ranks first among migrants"
    );
    // The locked owner falls to 学区内其他 and the low-points migrant loses too; both overflow.
    let locked = school_of(&data, &alloc, "LOCKED").unwrap();
    let low = school_of(&data, &alloc, "MIG_LO").unwrap();
    assert_ne!(locked, "P1");
    assert_ne!(low, "P1");
    let why = xuequ::explain(&data, &alloc, "LOCKED").unwrap();
    assert!(why.seat_locked);
    assert_eq!(why.choices[0].school_id, "P1");
    assert_eq!(why.choices[0].tier, "学区内其他");
    assert!(
        why.choices[0].outcome.starts_with("rejected"),
        "{}",
        why.choices[0].outcome
    );
    let text = why.to_string();
    assert!(text.contains("学位锁定") && text.contains("P1"), "{text}");
}

#[test]
fn an_expired_seat_lock_does_not_bite() {
    let students = format!("{HEADER}OLD,primary,B1,true,true,5,H2,false,0,0,,\n");
    let (_d, data) = tiny(
        &students,
        "",
        "property_id,stage,year\nH2,primary,2019\nH2,junior,2025\n",
    );
    let alloc = xuequ::allocate(&data);
    let why = xuequ::explain(&data, &alloc, "OLD").unwrap();
    assert!(
        !why.seat_locked,
        "2019 + 6 years < 2026, and the junior lock is another stage"
    );
    assert_eq!(why.choices[0].tier, "房户一致");
}

#[test]
fn private_lottery_then_public_track_and_purchased_seats() {
    // M1 has 3 seats, 1 of them purchased by the government: 2 lottery seats for choosers.
    let mut students = String::from(HEADER);
    for k in 0..5 {
        students.push_str(&format!("C{k},primary,B2,false,false,1,,false,0,0,,M1\n"));
    }
    let (_d, data) = tiny(&students, "seed = 9\n", "property_id,stage,year\n");
    let alloc = xuequ::allocate(&data);
    assert!(xuequ::audit(&data, &alloc).passed());
    let st = &alloc.stages[0];
    let at = |school: &str| {
        (0..5)
            .filter(|k| school_of(&data, &alloc, &format!("C{k}")).as_deref() == Some(school))
            .count()
    };
    assert_eq!(at("P2"), 2, "zone school fills its 2 seats");
    // Two win the private lottery; one more gets the purchased seat through overflow.
    assert_eq!(at("M1"), 3);
    let winners: Vec<u32> = (0..5)
        .filter(|k| {
            let i = data.cohort.student(&format!("C{k}")).unwrap();
            let m = st.members.binary_search(&i).unwrap();
            st.via(m) == "choice"
        })
        .map(|k| {
            let i = data.cohort.student(&format!("C{k}")).unwrap();
            st.lottery[st.members.binary_search(&i).unwrap()]
        })
        .collect();
    assert_eq!(winners.len(), 2);
    // The private lottery admits the best single-lottery numbers among its applicants.
    let mut all: Vec<u32> = st.lottery.clone();
    all.sort();
    let mut w = winners.clone();
    w.sort();
    assert_eq!(w, all[..2].to_vec());
}

#[test]
fn feeder_progression_ranks_first_at_the_junior_school() {
    let students = format!(
        "{HEADER}ZONE,junior,B1,true,true,5,H1,false,0,0,,J1\n\
         FEED,junior,B1,false,false,1,,false,0,0,P1,\n"
    );
    // J1 has 1 seat; nobody's home is in J1's zone; FEED attends P1 which feeds J1.
    let (_d, data) = tiny(&students, "", "property_id,stage,year\n");
    let alloc = xuequ::allocate(&data);
    assert_eq!(school_of(&data, &alloc, "FEED").as_deref(), Some("J1"));
    assert_eq!(school_of(&data, &alloc, "ZONE").as_deref(), Some("J2"));
    let why = xuequ::explain(&data, &alloc, "FEED").unwrap();
    assert_eq!(why.choices[0].tier, "对口直升");
    assert_eq!(why.choices[0].via, "zone");
}

#[test]
fn overflow_radius_and_final_pass() {
    // Six applicants from B1: P1 (2 seats, zone), P2 within 3 km (2 seats), P3 ~29 km away.
    let mut students = String::from(HEADER);
    for k in 0..6 {
        students.push_str(&format!("K{k},primary,B1,true,false,1,,false,0,0,,\n"));
    }
    let (_d, data) = tiny(&students, "overflow_radius_m = 3000\n", "property_id,stage,year\n");
    let alloc = xuequ::allocate(&data);
    let report = xuequ::audit(&data, &alloc);
    assert!(report.passed(), "{report:?}");
    let count = |s: &str| {
        (0..6)
            .filter(|k| school_of(&data, &alloc, &format!("K{k}")).as_deref() == Some(s))
            .count()
    };
    assert_eq!((count("P1"), count("P2")), (2, 2));
    // P2 and the purchased seat at M1 are within the radius, P3 is not: the sixth applicant
    // is placed at P3 by the final pass (default guarantee "eligible").
    assert_eq!(count("M1") + count("P3"), 2);
    let (_d2, data2) = tiny(
        &students,
        "overflow_radius_m = 3000\nguarantee = \"none\"\n",
        "property_id,stage,year\n",
    );
    let alloc2 = xuequ::allocate(&data2);
    let unplaced = (0..6)
        .filter(|k| school_of(&data2, &alloc2, &format!("K{k}")).is_none())
        .count();
    assert_eq!(unplaced, 1, "without the final pass the sixth applicant stays unplaced");
}

#[test]
fn gcj02_inputs_give_the_same_result_as_wgs84() {
    use xuequ::crs::Crs;
    let students = {
        let mut s = String::from(HEADER);
        for k in 0..8 {
            s.push_str(&format!("G{k},primary,B{},false,false,1,,false,0,0,,\n", 1 + k % 2));
        }
        s
    };
    let (_d, wgs) = tiny(&students, "", "property_id,stage,year\n");
    // Rewrite every coordinate in GCJ-02.
    let convert = |csv_text: &str| -> String {
        let mut out = String::new();
        for (i, line) in csv_text.lines().enumerate() {
            if i == 0 {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let mut f: Vec<String> = line.split(',').map(String::from).collect();
            let (lon, lat): (f64, f64) = (f[5].parse().unwrap(), f[6].parse().unwrap());
            let (glon, glat) = Crs::Gcj02.from_wgs84(lon, lat);
            f[5] = format!("{glon:.9}");
            f[6] = format!("{glat:.9}");
            out.push_str(&f.join(","));
            out.push('\n');
        }
        out
    };
    let blocks_gcj = {
        let mut out = String::new();
        for (i, line) in BLOCKS.lines().enumerate() {
            let mut f: Vec<String> = line.split(',').map(String::from).collect();
            if i > 0 {
                let (lon, lat): (f64, f64) = (f[3].parse().unwrap(), f[4].parse().unwrap());
                let (glon, glat) = Crs::Gcj02.from_wgs84(lon, lat);
                f[3] = format!("{glon:.9}");
                f[4] = format!("{glat:.9}");
            }
            out.push_str(&f.join(","));
            out.push('\n');
        }
        out
    };
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "scenario.toml",
                "name = \"tiny\"\nyear = 2026\ncrs = \"gcj02\"\nstages = [\"primary\", \"junior\"]\n",
            ),
            ("schools.csv", &convert(SCHOOLS)),
            ("blocks.csv", &blocks_gcj),
            ("zones.csv", ZONES),
            ("students.csv", &students),
        ],
    );
    let gcj = Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    for (a, b) in wgs.city.schools.iter().zip(&gcj.city.schools) {
        assert!(a.location.distance_m(&b.location) == 0, "{} moved", a.id);
    }
    let a = xuequ::allocate(&wgs);
    let b = xuequ::allocate(&gcj);
    let opts = xuequ::WriteOptions::default();
    assert_eq!(
        xuequ::output::assignments_csv(&wgs, &a, opts),
        xuequ::output::assignments_csv(&gcj, &b, opts)
    );
}

/// Every file of a folder with its bytes, sorted by name.
fn folder_contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_failed_output_set_leaves_the_previous_run() {
    let students = format!("{HEADER}A,primary,B1,true,true,5,H1,false,0,0,,\n");
    let (dir, data) = tiny(&students, "", "property_id,stage,year\n");
    let alloc = xuequ::allocate(&data);
    let report = xuequ::audit(&data, &alloc);
    let out = dir.path().join("out");
    xuequ::write_outputs(&out, &data, &alloc, &report, Default::default()).unwrap();
    let before = folder_contents(&out);
    // A new run whose last file fails (a full disk, a workbook that cannot be built).
    let mut set = xuequ::io::OutputSet::begin(&out, "run").unwrap();
    xuequ::output::write_outputs_into(&mut set, &data, &alloc, &report, xuequ::WriteOptions { bom: true }).unwrap();
    let failed = set.write("report.html", &|_| {
        Err(std::io::Error::other("no space left on device"))
    });
    assert!(failed.is_err());
    drop(set);
    let after = folder_contents(&out);
    assert_eq!(before, after, "the folder still holds the previous complete run");
    let beside: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("xuequ-staging"))
        .collect();
    assert!(beside.is_empty(), "the staging folder was removed: {beside:?}");
}

#[test]
fn bom_switch_prefixes_csv_outputs() {
    let students = format!("{HEADER}A,primary,B1,true,true,5,H1,false,0,0,,\n");
    let (_dir, data) = tiny(&students, "", "property_id,stage,year\n");
    let alloc = xuequ::allocate(&data);
    let with = xuequ::output::assignments_csv(&data, &alloc, xuequ::WriteOptions { bom: true });
    let without = xuequ::output::assignments_csv(&data, &alloc, xuequ::WriteOptions { bom: false });
    assert_eq!(&with[..3], b"\xef\xbb\xbf");
    assert_eq!(&with[3..], &without[..]);
}

/// Lists keep no distances unless a tier reads them: every distance a list shows, a key
/// orders by or a placement reports is the distance source's, whichever way it is kept.
#[test]
fn list_distances_are_the_sources_whether_kept_or_measured() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/scenario.toml");
    let policy = fs::read_to_string(demo.with_file_name("policy.toml")).unwrap();
    let in_zone_tier = "name = \"学区内其他\"\nall = [\"home_in_zone\"]\n";
    assert!(policy.contains(in_zone_tier));
    let variants = [
        (policy.clone(), None),
        (
            policy.replace(
                in_zone_tier,
                "name = \"学区内其他\"\nall = [\"home_in_zone\", \"distance_m <= 2500\"]\norder_by = [\"distance_m\"]\n",
            ),
            Some(false),
        ),
        (
            policy.replace(
                in_zone_tier,
                "name = \"学区内其他\"\nall = [\"home_in_zone\"]\norder_by = [\"distance_m desc\"]\n",
            ),
            Some(true),
        ),
    ];
    for (text, ordered) in variants {
        let mut tables = xuequ::load::MemoryTables::default();
        tables.set_policy(text.clone());
        let scenario =
            xuequ::Scenario::from_toml_with_tables(&fs::read_to_string(&demo).unwrap(), &demo, &tables).unwrap();
        let data = Dataset::load_with_tables(scenario, &tables).unwrap();
        let alloc = xuequ::allocate(&data);
        assert!(xuequ::audit(&data, &alloc).passed());
        let mut checked = 0;
        for st in &alloc.stages {
            let tier = st.tier_names.iter().position(|t| t == "学区内其他").unwrap();
            assert_eq!(
                st.priorities.entry_distance.is_empty(),
                ordered.is_none() || st.priorities.tier_distance[tier].is_none(),
                "{text}"
            );
            for m in 0..st.members.len() {
                let block = data.cohort.students[st.members[m] as usize].block;
                for (pos, e) in st.list(m).iter().enumerate() {
                    let school = st.programs[e.program as usize].school;
                    let expected = data
                        .spatial
                        .mm(school, block)
                        .map_or(xuequ::allocate::UNKNOWN_DISTANCE, xuequ::spatial::metres_of_mm);
                    assert_eq!(st.distance_m(&data, m, pos), expected);
                    if u32::from(e.tier) as usize == tier
                        && let Some(descending) = st.priorities.tier_distance[tier]
                    {
                        let part = (st.key(m, pos).0 >> 64) as u32;
                        assert_eq!(part, if descending { u32::MAX - expected } else { expected });
                    }
                    checked += 1;
                }
                let p = st.placements[m];
                if (p.position as usize) < st.list(m).len() {
                    assert_eq!(p.distance_m, st.distance_m(&data, m, p.position as usize));
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }
}
