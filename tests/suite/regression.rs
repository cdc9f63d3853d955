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

/// A scenario "big" of school P1 and block B1, its applicants left to the test.
fn one_school_one_block(dir: &std::path::Path) {
    write_files(
        dir,
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
        ],
    );
}

/// Past the cap the report says "100 or more" and lists the file's first 100 problems: the
/// same text at any thread count, wherever the windows and pieces are cut. Readers stop at
/// the cap, so the count found past it once depended on where the pieces were cut (a file
/// with 1,200 bad rows was reported as having 528 problems).
#[test]
fn a_file_with_more_problems_than_the_cap_reports_the_same_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    one_school_one_block(dir.path());
    let students = |bad: &dyn Fn(usize) -> bool| {
        let mut text = String::from("student_id,stage,block_id,note\n");
        for i in 0..400_000 {
            let stage = if bad(i) { "nursery" } else { "primary" };
            text.push_str(&format!("S{i:07},{stage},B1,\n"));
        }
        text
    };
    let load_with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let error = pool.install(|| xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap_err());
        error.to_string()
    };
    // Clusters of bad rows (one piece holds more than the cap) and a few spread out.
    let many = |i: usize| i % 3000 == 7 || (100_000..100_500).contains(&i) || (300_000..300_300).contains(&i);
    std::fs::write(dir.path().join("students.csv"), students(&many)).unwrap();
    let reports: Vec<String> = [1, 2, 3].into_iter().map(load_with).collect();
    assert!(
        reports[0].starts_with("100 or more problem(s) in the inputs:"),
        "{}",
        reports[0]
    );
    assert!(
        reports[0].contains("only the first 100 problems are listed"),
        "{}",
        reports[0]
    );
    let lines: Vec<&str> = reports[0].lines().filter(|l| l.contains("students.csv:")).collect();
    assert_eq!(lines.len(), 100, "{}", reports[0]);
    // The first 100 bad rows of the file, in order (row i is on line i + 2).
    let first: Vec<usize> = (0..400_000).filter(|&i| many(i)).take(100).collect();
    for (line, i) in lines.iter().zip(&first) {
        assert!(line.contains(&format!("students.csv:{}:", i + 2)), "{line}");
    }
    assert_eq!(reports[1], reports[0]);
    assert_eq!(reports[2], reports[0]);
    // Below the cap every problem is counted and listed.
    let few = |i: usize| i % 10_000 == 7;
    std::fs::write(dir.path().join("students.csv"), students(&few)).unwrap();
    let report = load_with(2);
    assert!(report.starts_with("40 problem(s) in the inputs:"), "{report}");
    assert!(!report.contains("only the first"), "{report}");
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
    one_school_one_block(dir.path());
    std::fs::write(dir.path().join("students.csv"), &students).unwrap();
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

/// A copy of the bundled demo scenario in a temporary folder.
fn demo_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo");
    for entry in std::fs::read_dir(demo).unwrap() {
        let entry = entry.unwrap();
        // Files only: a road-network cache folder (.xuequ-cache) may sit beside them.
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    dir
}

fn load_err(dir: &std::path::Path) -> xuequ::Diagnostics {
    match xuequ::Dataset::load(&dir.join("scenario.toml")) {
        Err(xuequ::LoadError::Invalid(d)) => d,
        Err(e) => panic!("expected invalid inputs, got {e}"),
        Ok(_) => panic!("expected invalid inputs"),
    }
}

fn assignments(dir: &std::path::Path) -> Vec<u8> {
    let data = xuequ::Dataset::load(&dir.join("scenario.toml")).unwrap();
    let alloc = xuequ::allocate(&data);
    xuequ::output::assignments_csv(&data, &alloc, xuequ::WriteOptions::default())
}

fn append_second_line(path: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let second = text.lines().nth(1).unwrap().to_string();
    let lines = text.lines().count() as u64;
    std::fs::write(path, format!("{text}{second}\n")).unwrap();
    lines + 1
}

#[test]
fn a_repeated_id_on_the_last_row_is_reported_not_a_panic() {
    for file in ["blocks.csv", "schools.csv"] {
        let dir = demo_copy();
        let last = append_second_line(&dir.path().join(file));
        let d = load_err(dir.path());
        let text = d.to_string();
        assert!(
            text.contains(&format!("{file}:{last}:1")) && text.contains("(first on line 2)"),
            "{file}: {text}"
        );
    }
}

#[test]
fn one_bad_block_row_gives_one_error_not_knock_on_errors() {
    let dir = demo_copy();
    let path = dir.path().join("blocks.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let bad = text.replacen("B000001,安镇北苑,锡山区,120.336837", "B000001,安镇北苑,锡山区,abc", 1);
    std::fs::write(&path, bad).unwrap();
    let d = load_err(dir.path());
    assert_eq!(d.total(), 1, "{d}");
    assert!(d.to_string().contains("blocks.csv:2:4 [lon]"), "{d}");
}

#[test]
fn crlf_files_report_the_line_an_editor_shows() {
    let dir = demo_copy();
    let path = dir.path().join("students.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[4] = lines[4]
        .replacen(",kindergarten,", ",secondary,", 1)
        .replacen(",primary,", ",secondary,", 1);
    std::fs::write(&path, lines.join("\r\n") + "\r\n").unwrap();
    let d = load_err(dir.path());
    assert!(d.to_string().contains("students.csv:5:2 [stage]"), "{d}");
    // A lone CR (classic Mac) ends lines too.
    std::fs::write(&path, lines.join("\r") + "\r").unwrap();
    let d = load_err(dir.path());
    assert!(d.to_string().contains("students.csv:5:2 [stage]"), "{d}");
}

/// A large students.csv is read a window at a time when it is UTF-8 without quotes. Text
/// that turns out otherwise far into the file (a GBK name near its end, a quoted cell) is read
/// whole instead, with the same applicants, and its encoding is named.
#[test]
fn a_large_file_not_utf8_far_into_it_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut students = String::from("student_id,stage,block_id,note\n");
    for i in 0..400_000 {
        students.push_str(&format!("S{i:07},primary,B1,\n"));
    }
    assert!(students.len() > 8 << 20, "more than one window");
    one_school_one_block(dir.path());
    let path = dir.path().join("students.csv");
    let encoding = |data: &xuequ::Dataset| {
        let students = data.sources.iter().find(|s| s.file.ends_with("students.csv")).unwrap();
        (students.format, students.encoding)
    };
    let utf8 = Some(xuequ::io::TextEncoding::Utf8);
    std::fs::write(&path, &students).unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    assert_eq!((data.cohort.students.len(), encoding(&data)), (400_000, ("csv", utf8)));
    // A name in GBK on the last row: the whole file is GBK.
    let mut gbk = students.clone().into_bytes();
    gbk.truncate(gbk.len() - 1);
    gbk.extend_from_slice(&encoding_rs::GBK.encode("张三\n").0);
    std::fs::write(&path, &gbk).unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let gbk = Some(xuequ::io::TextEncoding::Gbk);
    assert_eq!((data.cohort.students.len(), encoding(&data)), (400_000, ("csv", gbk)));
    assert_eq!(data.cohort.student("S0399999"), Some(399_999));
    // A quoted cell on the last row.
    let quoted = format!("{}\"a,b\"\n", &students[..students.len() - 1]);
    std::fs::write(&path, quoted).unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    assert_eq!((data.cohort.students.len(), encoding(&data)), (400_000, ("csv", utf8)));
    // Not UTF-8 when the scenario says it is: the whole file's error, naming the line.
    std::fs::write(&path, &students[..students.len() - 1]).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"\xff\n");
    std::fs::write(&path, bytes).unwrap();
    std::fs::write(
        dir.path().join("scenario.toml"),
        "name = \"big\"\nyear = 2026\n[inputs]\nstudents = { path = \"students.csv\", encoding = \"utf-8\" }\n",
    )
    .unwrap();
    let err = xuequ::Dataset::load(&dir.path().join("scenario.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("students.csv:400001"), "{err}");
}

#[test]
fn gbk_copies_of_the_demo_give_identical_assignments() {
    let original = demo_copy();
    let want = assignments(original.path());
    let dir = demo_copy();
    for file in [
        "schools.csv",
        "blocks.csv",
        "zones.csv",
        "students.csv",
        "seat_locks.csv",
    ] {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap().replace('\n', "\r\n");
        let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
        assert!(!unmappable, "{file} holds text GBK cannot hold");
        std::fs::write(&path, gbk).unwrap();
    }
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    assert!(
        data.sources
            .iter()
            .any(|s| s.encoding == Some(xuequ::io::TextEncoding::Gbk)),
        "{:?}",
        data.sources
    );
    assert_eq!(assignments(dir.path()), want);
}

/// Writes a CSV file's rows into a one-sheet workbook, headers replaced by `headers`, numbers
/// as numbers (as a bureau's sheet holds them).
pub(crate) fn csv_to_xlsx(
    csv_path: &std::path::Path,
    xlsx_path: &std::path::Path,
    sheet: &str,
    headers: &[(&str, &str)],
) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name(sheet).unwrap();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(csv_path)
        .unwrap();
    for (r, rec) in rdr.records().enumerate() {
        let rec = rec.unwrap();
        for (c, cell) in rec.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            if r == 0 {
                let name = headers.iter().find(|(en, _)| *en == cell).map_or(cell, |(_, zh)| zh);
                ws.write_string(r, c, name).unwrap();
            } else if !cell.is_empty() && cell.parse::<f64>().is_ok() && !cell.starts_with('0') {
                ws.write_number(r, c, cell.parse::<f64>().unwrap()).unwrap();
            } else if !cell.is_empty() {
                ws.write_string(r, c, cell).unwrap();
            }
        }
    }
    book.save(xlsx_path).unwrap();
}

#[test]
fn a_workbook_copy_of_the_demo_with_chinese_headers_gives_identical_assignments() {
    let original = demo_copy();
    let want = assignments(original.path());
    let dir = demo_copy();
    let d = dir.path();
    csv_to_xlsx(
        &d.join("schools.csv"),
        &d.join("schools.xlsx"),
        "学校",
        &[
            ("school_id", "学校代码"),
            ("name", "学校名称"),
            ("district", "区县"),
            ("stage", "学段"),
            ("sector", "办学性质"),
            ("lon", "经度"),
            ("lat", "纬度"),
            ("capacity", "核定学位"),
            ("classes", "招生班数"),
            ("class_size", "班额"),
        ],
    );
    csv_to_xlsx(
        &d.join("blocks.csv"),
        &d.join("blocks.xlsx"),
        "小区",
        &[("block_id", "小区代码"), ("name", "小区名称"), ("households", "户数")],
    );
    csv_to_xlsx(
        &d.join("students.csv"),
        &d.join("students.xlsx"),
        "报名",
        &[("student_id", "报名号")],
    );
    let scenario = std::fs::read_to_string(d.join("scenario.toml"))
        .unwrap()
        .replace(
            "schools = \"schools.csv\"",
            "schools = { path = \"schools.xlsx\", sheet = \"学校\" }",
        )
        .replace("blocks = \"blocks.csv\"", "blocks = \"blocks.xlsx\"")
        .replace("students = \"students.csv\"", "students = \"students.xlsx\"");
    std::fs::write(d.join("scenario.toml"), scenario).unwrap();
    assert_eq!(assignments(d), want);

    // A bad cell is reported as Excel shows it: sheet, column letter, row.
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("学校").unwrap();
    for (c, h) in [
        "学校代码",
        "学校名称",
        "区县",
        "学段",
        "办学性质",
        "经度",
        "纬度",
        "核定学位",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (c, v) in ["P9", "测试小学", "梁溪区", "primary", "public", "120.3", "31.5", "many"]
        .iter()
        .enumerate()
    {
        ws.write_string(6, c as u16, *v).unwrap();
    }
    book.save(d.join("schools.xlsx")).unwrap();
    let err = load_err(d).to_string();
    assert!(err.contains("schools.xlsx:学校!H7 [capacity]"), "{err}");
}

#[test]
fn a_truncated_workbook_is_one_clear_error() {
    let dir = demo_copy();
    let d = dir.path();
    csv_to_xlsx(&d.join("schools.csv"), &d.join("schools.xlsx"), "Sheet1", &[]);
    let bytes = std::fs::read(d.join("schools.xlsx")).unwrap();
    std::fs::write(d.join("schools.xlsx"), &bytes[..bytes.len() / 2]).unwrap();
    let scenario = std::fs::read_to_string(d.join("scenario.toml"))
        .unwrap()
        .replace("schools = \"schools.csv\"", "schools = \"schools.xlsx\"");
    std::fs::write(d.join("scenario.toml"), scenario).unwrap();
    let err = load_err(d);
    assert_eq!(err.total(), 1, "{err}");
    assert!(err.to_string().contains("cannot open the workbook"), "{err}");
}

#[test]
fn empty_number_cells_never_satisfy_a_comparison_and_rank_last() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "scenario.toml",
                "name = \"empty\"\nyear = 2026\nstages = [\"primary\"]\n",
            ),
            (
                "schools.csv",
                "school_id,name,district,stage,sector,lon,lat,capacity\nP1,小学,区,primary,public,120.3,31.5,1\nP2,二小,区,primary,public,120.9,31.9,5\n",
            ),
            (
                "blocks.csv",
                "block_id,name,district,lon,lat,households\nB1,小区,区,120.3,31.5,10\n",
            ),
            ("zones.csv", "block_id,stage,school_id\nB1,primary,P1\n"),
            // E has no value; Z has 0. "years_at_address < 1" holds for Z only, and in
            // "years_at_address desc" order Z (0) comes before E (missing).
            (
                "students.csv",
                "student_id,stage,block_id,years_at_address\nE,primary,B1,\nZ,primary,B1,0\n",
            ),
            (
                "policy.toml",
                "overflow_radius_m = 100000\n[[tier]]\nname = \"新\"\nall = [\"home_in_zone\", \"years_at_address < 1\"]\n[[tier]]\nname = \"其他\"\nall = []\norder_by = \"years_at_address desc\"\n",
            ),
        ],
    );
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let alloc = xuequ::allocate(&data);
    let csv = String::from_utf8(xuequ::output::assignments_csv(&data, &alloc, Default::default())).unwrap();
    assert!(csv.contains("Z,primary,P1,新"), "{csv}");
    assert!(csv.contains("E,primary,P2,"), "{csv}");
    // Without the first tier, the order puts Z (0) before E (missing) at P1.
    let policy =
        "overflow_radius_m = 100000\n[[tier]]\nname = \"其他\"\nall = []\norder_by = \"years_at_address desc\"\n";
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let alloc = xuequ::allocate(&data);
    let csv = String::from_utf8(xuequ::output::assignments_csv(&data, &alloc, Default::default())).unwrap();
    assert!(csv.contains("Z,primary,P1,"), "{csv}");
}

fn policy_error(policy: &str) -> String {
    let dir = demo_copy();
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    load_err(dir.path()).to_string()
}

#[test]
fn a_non_finite_points_weight_is_refused_at_its_line() {
    let err = policy_error("seed = 1\n[migrant.points]\nsocial_insurance_month = nan\n");
    assert!(err.contains("policy.toml:3:") && err.contains("finite"), "{err}");
    let err = policy_error("[migrant]\nmin_residence_permit_months = inf\n");
    assert!(err.contains("policy.toml:2:"), "{err}");
    let err = policy_error("[[tier]]\nname = \"x\"\nall = [\"years_at_address >= nan\"]\n");
    assert!(err.contains("policy.toml:3:"), "{err}");
}

#[test]
fn an_order_by_typo_is_reported_at_the_policy_line() {
    let err = policy_error("[[tier]]\nname = \"随迁\"\nall = [\"migrant\"]\norder_by = \"pionts desc\"\n");
    assert!(
        err.contains("policy.toml:4:") && err.contains("did you mean the built-in attribute points"),
        "{err}"
    );
    assert!(
        !err.contains("students.csv:"),
        "reported at the policy, not as a students.csv column: {err}"
    );
}

#[test]
fn an_unknown_key_in_a_policy_edit_is_reported_at_the_edit() {
    let dir = demo_copy();
    let path = dir.path().join("scenario.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().count() + 2;
    std::fs::write(
        &path,
        format!("{text}\n[[edit]]\nkind = \"policy\"\nset = {{ overflow_radius = 2000 }}\n"),
    )
    .unwrap();
    let err = load_err(dir.path()).to_string();
    assert!(
        err.contains(&format!("scenario.toml:{line}")) && err.contains("overflow_radius"),
        "{err}"
    );
}

#[test]
fn a_missing_base_is_reported_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "scenario.toml",
            "name = \"alt\"\n\nbase = \"../nowhere/scenario.toml\"\n",
        )],
    );
    let err = load_err(dir.path()).to_string();
    assert!(
        err.contains("scenario.toml:3:") && err.contains("base scenario does not exist"),
        "{err}"
    );
}

#[test]
fn a_gbk_scenario_file_says_it_is_gbk() {
    let dir = demo_copy();
    let text = std::fs::read_to_string(dir.path().join("scenario.toml")).unwrap();
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    std::fs::write(dir.path().join("scenario.toml"), gbk).unwrap();
    let err = load_err(dir.path()).to_string();
    assert!(err.contains("saved as gbk, not UTF-8"), "{err}");
}

#[test]
fn formula_like_names_are_neutralised_in_csv_outputs() {
    let dir = demo_copy();
    let path = dir.path().join("schools.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("锡山区实验幼儿园", "\"=HYPERLINK(\"\"http://x\"\")\"", 1),
    )
    .unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let alloc = xuequ::allocate(&data);
    let summary = String::from_utf8(xuequ::output::schools_summary_csv(&data, &alloc, Default::default())).unwrap();
    assert!(summary.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{summary}");
    assert!(!summary.contains(",=HYPERLINK"), "{summary}");
}

#[test]
fn control_characters_in_names_are_refused_at_their_line() {
    let dir = demo_copy();
    let path = dir.path().join("blocks.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("安镇北苑", "安镇\u{1b}[31m北苑", 1)).unwrap();
    let err = load_err(dir.path()).to_string();
    assert!(err.contains("blocks.csv:2:2 [name]") && err.contains("U+001B"), "{err}");
}

#[test]
fn zoning_toml_range_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zoning.toml");
    std::fs::write(&path, "# proposal\ncandidates = 0\n").unwrap();
    let err = xuequ::zoning::ZoningConfig::load(&path).unwrap_err().to_string();
    assert!(err.contains("zoning.toml:2:1") && err.contains("candidates"), "{err}");
}

#[test]
fn a_population_count_beyond_a_million_is_refused() {
    let dir = demo_copy();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let bytes = b"block_id,age,count\nB000001,5,1e308\n";
    let err = xuequ::supply::Population::from_csv(&bytes[..], "population.csv", &data)
        .unwrap_err()
        .to_string();
    assert!(err.contains("population.csv:2:3 [count]"), "{err}");
}

#[test]
fn a_cell_longer_than_a_spreadsheet_cell_is_refused() {
    let dir = demo_copy();
    let path = dir.path().join("blocks.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("安镇北苑", &"苑".repeat(40_000), 1)).unwrap();
    let err = load_err(dir.path()).to_string();
    assert!(
        err.contains("blocks.csv:2:2 [name]") && err.contains("40000 characters"),
        "{err}"
    );
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

/// Reverses the data rows of a CSV file (the header stays first).
fn reverse_data_rows(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// The rows of assignments.csv sorted, so that results compare whatever the file order.
fn sorted_rows(csv: &[u8]) -> Vec<String> {
    let mut rows: Vec<String> = String::from_utf8_lossy(csv).lines().map(String::from).collect();
    rows.sort();
    rows
}

/// Every input upside down at Wuxi size (about 220,000 applicants, 6,000 blocks, 1,000
/// schools) changes no applicant's result: nothing depends on the order of rows.
#[test]
fn reordering_rows_of_any_input_changes_no_result_at_wuxi_size() {
    let dir = tempfile::tempdir().unwrap();
    let config = xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Wuxi);
    xuequ_synth::write_city(&config, dir.path(), &mut |_| {}).unwrap();
    let want = sorted_rows(&assignments(dir.path()));
    for file in [
        "schools.csv",
        "blocks.csv",
        "zones.csv",
        "students.csv",
        "seat_locks.csv",
    ] {
        let path = dir.path().join(file);
        if path.exists() {
            reverse_data_rows(&path);
        }
    }
    let got = sorted_rows(&assignments(dir.path()));
    let differ: Vec<_> = want.iter().zip(&got).filter(|(a, b)| a != b).take(5).collect();
    assert!(differ.is_empty() && want.len() == got.len(), "rows differ: {differ:?}");
}
