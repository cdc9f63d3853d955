//! Regression tests, each named after the defect it pins.

use super::api::write_files;

#[test]
fn bom_and_crlf_inputs_load() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("scenario.toml", "\u{feff}name = \"bom\"\r\nyear = 2026\r\n"),
            (
                "schools.csv",
                "\u{feff}school_id,name,district,stage,sector,lon,lat,capacity\r\nP1,小学,区,primary,public,120.3,31.5,3\r\n",
            ),
            (
                "blocks.csv",
                "\u{feff}block_id,name,district,lon,lat,households\r\nB1,小区,区,120.3,31.5,10\r\n",
            ),
            ("students.csv", "\u{feff}student_id,stage,block_id\r\nS1,primary,B1\r\n"),
        ],
    );
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let alloc = xuequ::allocate(&data);
    assert!(alloc.stages.iter().any(|s| s.placements.iter().any(|p| p.is_placed())));
}

/// Line numbers stay exact when students.csv is parsed in parallel pieces, including after
/// quoted fields that span lines.
#[test]
fn diagnostics_in_big_files_name_the_right_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut students = String::from("student_id,stage,block_id,property_id\n");
    let mut line = 1u64;
    let mut bad_line = 0;
    for i in 0..90_000 {
        line += 1;
        if i == 7 {
            // A quoted property id with a comma and a line break inside.
            students.push_str(&format!("S{i},primary,B1,\"H1,\n2\"\n"));
            line += 1;
        } else if i == 33_333 {
            students.push_str(&format!("S{i},primary,B404,\n"));
            bad_line = line;
        } else {
            students.push_str(&format!("S{i},primary,B1,\n"));
        }
    }
    assert!(students.len() > 1 << 20, "big enough to be cut into pieces");
    write_files(
        dir.path(),
        &[
            ("scenario.toml", "name = \"big\"\nyear = 2026\n"),
            (
                "schools.csv",
                "school_id,name,district,stage,sector,lon,lat,capacity\nP1,小学,区,primary,public,120.3,31.5,3\n",
            ),
            (
                "blocks.csv",
                "block_id,name,district,lon,lat,households\nB1,小区,区,120.3,31.5,10\n",
            ),
            ("students.csv", &students),
        ],
    );
    let err = xuequ::Dataset::load(&dir.path().join("scenario.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("students.csv:{bad_line}:3")),
        "expected line {bad_line} in {err}"
    );
    // The quoted property id survives intact.
    let fixed = students.replace("B404", "B1");
    std::fs::write(dir.path().join("students.csv"), fixed).unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let s7 = data.cohort.student("S7").unwrap();
    let p = data.cohort.students[s7 as usize].property.unwrap();
    assert_eq!(data.cohort.properties[p as usize], "H1,\n2");
    assert_eq!(data.cohort.students.len(), 90_000);
}

/// "Nearest first" compared whole metres and then the row order of schools.csv, so listing
/// the schools in another order moved applicants. It now compares exact millimetres, then
/// the school id: the order of the rows changes nothing.
#[test]
fn reordering_schools_csv_rows_keeps_every_assignment() {
    let assignments = |dir: &std::path::Path| {
        let data = xuequ::Dataset::load(&dir.join("scenario.toml")).unwrap();
        let alloc = xuequ::allocate(&data);
        let report = xuequ::audit(&data, &alloc);
        let out = dir.join("out");
        xuequ::write_outputs(&out, &data, &alloc, &report, Default::default()).unwrap();
        std::fs::read_to_string(out.join("assignments.csv")).unwrap()
    };
    let reverse_rows = |path: &std::path::Path| {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1..].reverse();
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    };
    // Two schools exactly as far from the only block (a tie to the millimetre), one seat
    // each, no zones: both applicants overflow, and the nearest-first tie goes to P1.
    let tie = |schools: &str| {
        let dir = tempfile::tempdir().unwrap();
        write_files(
            dir.path(),
            &[
                ("scenario.toml", "name = \"tie\"\nyear = 2026\nstages = [\"primary\"]\n"),
                ("schools.csv", schools),
                (
                    "blocks.csv",
                    "block_id,name,district,lon,lat,households\nB1,小区,区,120.300,31.5,10\n",
                ),
                (
                    "students.csv",
                    "student_id,stage,block_id\nS1,primary,B1\nS2,primary,B1\n",
                ),
            ],
        );
        let a = assignments(dir.path());
        (dir, a)
    };
    let header = "school_id,name,district,stage,sector,lon,lat,capacity\n";
    let p1 = "P1,一小,区,primary,public,120.301,31.5,1\n";
    let p2 = "P2,二小,区,primary,public,120.299,31.5,1\n";
    let (_d1, forward) = tie(&format!("{header}{p1}{p2}"));
    let (_d2, backward) = tie(&format!("{header}{p2}{p1}"));
    assert_eq!(forward, backward);
    // The demo city, its schools.csv upside down.
    let dir = tempfile::tempdir().unwrap();
    let config = xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Demo);
    xuequ_synth::write_city(&config, dir.path(), &mut |_| {}).unwrap();
    let before = assignments(dir.path());
    reverse_rows(&dir.path().join("schools.csv"));
    assert_eq!(before, assignments(dir.path()));
}
