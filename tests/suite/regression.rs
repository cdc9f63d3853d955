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
    let mut students = String::from("student_id,stage,block_id,note\n");
    let mut line = 1u64;
    let mut bad_line = 0;
    for i in 0..90_000 {
        line += 1;
        if i == 7 {
            // A quoted note (an extra column) with a comma and a line break inside.
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
    // The quoted multi-line note is one field: every row loads.
    let fixed = students.replace("B404", "B1");
    std::fs::write(dir.path().join("students.csv"), &fixed).unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    assert!(data.cohort.student("S8").is_some());
    assert_eq!(data.cohort.students.len(), 90_000);
    // The same file saved with CRLF line ends (as Excel and WPS save CSV) names the same line.
    let crlf = students.replace('\n', "\r\n");
    std::fs::write(dir.path().join("students.csv"), crlf).unwrap();
    let err = xuequ::Dataset::load(&dir.path().join("scenario.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("students.csv:{bad_line}:3")),
        "expected line {bad_line} in a CRLF file: {err}"
    );
}
