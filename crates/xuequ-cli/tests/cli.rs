//! End-to-end tests of the `xuequ` binary on real files: the bundled demo, the tiny
//! fixture, and every kind of bad input (clear error, non-zero exit, nothing written).
#![allow(clippy::unwrap_used, missing_docs)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn xuequ(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xuequ")).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn lookup_refuses_a_longitude_outside_the_globe() {
    let demo = root().join("data/demo/scenario.toml");
    let o = xuequ(&[
        "lookup",
        demo.to_str().unwrap(),
        "--lon",
        "500",
        "--lat",
        "31.5",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("longitude 500 is outside -180..180"), "{}", text(&o));
}

#[test]
fn validate_names_what_each_input_was_read_as() {
    let dir = tiny();
    // blocks.csv saved by Excel on a Chinese Windows: GBK, detected; zones.csv forced.
    let blocks = dir.path().join("blocks.csv");
    let utf8 = fs::read_to_string(&blocks).unwrap();
    let (gbk, _, _) = encoding_rs::GBK.encode(&utf8);
    fs::write(&blocks, gbk).unwrap();
    let scenario = dir.path().join("scenario.toml");
    let s = fs::read_to_string(&scenario).unwrap();
    fs::write(
        &scenario,
        format!("{s}\n[inputs]\nzones = {{ path = \"zones.csv\", encoding = \"gbk\" }}\n"),
    )
    .unwrap();
    let o = xuequ(&["validate", scenario.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for read_as in [
        "blocks.csv (csv, gbk)",
        "zones.csv (csv, gbk)",
        "schools.csv (csv, utf-8)",
    ] {
        assert!(text(&o).contains(read_as), "{read_as}: {}", text(&o));
    }
}

#[test]
fn threads_beyond_the_cap_are_capped_with_a_message() {
    let demo = root().join("data/demo/scenario.toml");
    let o = xuequ(&["--threads", "100000", "validate", demo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("--threads 100000 is more than"), "{}", text(&o));
}

#[test]
fn a_run_folder_holds_one_run_with_its_manifest() {
    let dir = tiny();
    let out = dir.path().join("out");
    assert!(run_into(dir.path(), &out, &["--xlsx"]).status.success());
    fs::write(out.join("notes.txt"), "a planner's own file").unwrap();
    // A second run without the page (and so without the GIS layers that come with it) and
    // without the workbook: the stale files go, the planner's file stays.
    assert!(run_into(dir.path(), &out, &["--no-html"]).status.success());
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "assignments.csv",
            "districts_summary.csv",
            "manifest.json",
            "notes.txt",
            "schools_summary.csv",
            "summary.json",
        ]
    );
    // --layers writes the GIS layers without the page.
    assert!(run_into(dir.path(), &out, &["--no-html", "--layers"]).status.success());
    for f in ["zones.geojson", "blocks.geojson", "layers.gpkg"] {
        assert!(out.join(f).exists(), "{f}");
    }
    assert!(!out.join("report.html").exists());
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["command"], "run");
    assert_eq!(manifest["files"].as_array().unwrap().len(), 7);
    assert!(manifest["inputs"].as_array().unwrap().len() >= 5);
    assert!(manifest["seed"].is_u64());
}

/// A fresh copy of the tiny fixture.
fn tiny() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in fs::read_dir(root().join("tests/fixtures/tiny")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    dir
}

fn run_into(dir: &Path, out: &Path, extra: &[&str]) -> Output {
    let scenario = dir.join("scenario.toml");
    let mut args = vec![
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    xuequ(&args)
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect()
}

#[test]
fn run_on_tiny_writes_the_three_outputs() {
    let dir = tiny();
    let out = dir.path().join("out");
    let o = run_into(dir.path(), &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = csv_rows(&out.join("assignments.csv"));
    assert_eq!(rows.len(), 8);
    let row = |id: &str| rows.iter().find(|r| r[0] == id).unwrap().clone();
    assert_eq!(row("A")[2], "P1");
    assert_eq!(row("A")[3], "房户一致");
    assert_eq!(row("FEED")[2], "J1");
    assert_eq!(row("FEED")[6], "zone");
    let summary: serde_json::Value = serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["audit"]["passed"], true);
    assert_eq!(summary["stages"][0]["applicants"], 6);
    let schools = csv_rows(&out.join("schools_summary.csv"));
    assert_eq!(schools.len(), 6);
}

#[test]
fn same_seed_same_bytes_at_any_thread_count_and_seed_changes_the_draw() {
    let dir = tiny();
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    assert!(run_into(dir.path(), &a, &["--threads", "1"]).status.success());
    assert!(run_into(dir.path(), &b, &["--threads", "2"]).status.success());
    for f in [
        "assignments.csv",
        "schools_summary.csv",
        "districts_summary.csv",
        "summary.json",
        "zones.geojson",
        "blocks.geojson",
        "layers.gpkg",
    ] {
        assert_eq!(fs::read(a.join(f)).unwrap(), fs::read(b.join(f)).unwrap(), "{f}");
    }
    assert!(run_into(dir.path(), &c, &["--seed", "2"]).status.success());
    let lottery = |p: &Path| {
        csv_rows(&p.join("assignments.csv"))
            .iter()
            .map(|r| r[4].clone())
            .collect::<Vec<_>>()
    };
    assert_ne!(lottery(&a), lottery(&c));
}

#[test]
fn bom_flag_writes_a_bom() {
    let dir = tiny();
    let out = dir.path().join("out");
    assert!(run_into(dir.path(), &out, &["--bom"]).status.success());
    assert!(
        fs::read(out.join("assignments.csv"))
            .unwrap()
            .starts_with(b"\xef\xbb\xbf")
    );
    assert!(!fs::read(out.join("summary.json")).unwrap().starts_with(b"\xef\xbb\xbf"));
}

#[test]
fn explain_and_validate() {
    let dir = tiny();
    let scenario = dir.path().join("scenario.toml");
    let o = xuequ(&["explain", scenario.to_str().unwrap(), "LOCKED", "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("学位锁定") && t.contains("P1") && t.contains("rejected"),
        "{t}"
    );
    let o = xuequ(&["explain", scenario.to_str().unwrap(), "NOBODY", "--quiet"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("NOBODY"));
    let o = xuequ(&["validate", scenario.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("valid"));
}

#[test]
fn demo_runs_and_passes_its_audit() {
    let demo = root().join("data/demo/scenario.toml");
    let out = tempfile::tempdir().unwrap();
    let o = xuequ(&["run", demo.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["audit"]["passed"], true);
    let stages = summary["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    for st in stages {
        assert!(st["applicants"].as_u64().unwrap() > 100, "{st}");
    }
}

/// Breaks the tiny fixture with `edit`, runs, and checks the exit code, that the message
/// contains every `needles`, and that nothing was written.
fn bad(edit: impl FnOnce(&Path), code: i32, needles: &[&str]) {
    let dir = tiny();
    edit(dir.path());
    let out = dir.path().join("out");
    let o = run_into(dir.path(), &out, &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(code), "{t}");
    for n in needles {
        assert!(t.contains(n), "missing {n:?} in:\n{t}");
    }
    assert!(!t.contains("panicked"), "{t}");
    assert!(!out.exists(), "nothing may be written on failure");
}

fn replace(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let t = fs::read_to_string(&p).unwrap();
    assert!(t.contains(from), "{from} not in {file}");
    fs::write(&p, t.replacen(from, to, 1)).unwrap();
}

#[test]
fn missing_scenario_file() {
    let o = xuequ(&[
        "run",
        "/nonexistent/scenario.toml",
        "--out",
        "/tmp/xuequ-never",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("/nonexistent/scenario.toml"));
}

#[test]
fn scenario_syntax_error_names_the_line() {
    bad(
        |d| fs::write(d.join("scenario.toml"), "name = \"x\"\nyear = = 2026\n").unwrap(),
        3,
        &["scenario.toml:2"],
    );
}

#[test]
fn scenario_unknown_key() {
    bad(
        |d| fs::write(d.join("scenario.toml"), "name = \"x\"\nyear = 2026\nstagez = []\n").unwrap(),
        3,
        &["stagez"],
    );
}

#[test]
fn missing_required_input() {
    bad(
        |d| fs::remove_file(d.join("students.csv")).unwrap(),
        3,
        &["students", "missing"],
    );
}

#[test]
fn missing_column() {
    bad(
        |d| replace(d, "schools.csv", ",capacity,", ",seats,"),
        3,
        &["schools.csv:1", "capacity"],
    );
}

#[test]
fn non_numeric_capacity_names_line_column_and_value() {
    bad(
        |d| replace(d, "schools.csv", "31.570,2,", "31.570,two,"),
        3,
        &["schools.csv:2:8", "[capacity]", "\"two\""],
    );
}

#[test]
fn duplicate_ids() {
    bad(
        |d| replace(d, "schools.csv", "P2,第二小学", "P1,第二小学"),
        3,
        &["duplicate school_id", "\"P1\""],
    );
}

#[test]
fn unknown_block_in_students() {
    bad(
        |d| replace(d, "students.csv", "A,primary,B1", "A,primary,B9"),
        3,
        &["students.csv:2", "\"B9\"", "no block"],
    );
}

#[test]
fn unknown_stage_and_bad_bool_reported_together() {
    bad(
        |d| {
            replace(d, "students.csv", "A,primary,B1,true", "A,secondary,B1,true");
            replace(d, "students.csv", "LOCKED,primary,B1,true", "LOCKED,primary,B1,maybe");
        },
        3,
        &["\"secondary\"", "\"maybe\"", "2 problem(s)"],
    );
}

#[test]
fn longitude_out_of_range() {
    bad(
        |d| replace(d, "blocks.csv", "120.301,31.571", "200.301,31.571"),
        3,
        &["blocks.csv:2", "longitude"],
    );
}

#[test]
fn gbk_text_is_rejected_with_a_utf8_hint() {
    bad(
        |d| {
            let mut bytes = fs::read(d.join("blocks.csv")).unwrap();
            bytes.extend_from_slice(b"B3,\xc7\xe5\xd1\xef,x,120.3,31.5,10\n"); // 清扬 in GBK
            fs::write(d.join("blocks.csv"), bytes).unwrap();
        },
        3,
        &["blocks.csv:4", "UTF-8"],
    );
}

#[test]
fn ragged_row() {
    bad(
        |d| replace(d, "zones.csv", "B1,primary,P1", "B1,primary,P1,extra"),
        3,
        &["zones.csv:2", "fields"],
    );
}

#[test]
fn policy_unknown_condition_names_line() {
    bad(
        |d| {
            fs::write(
                d.join("policy.toml"),
                "seed = 1\n[[tier]]\nname = \"A\"\nall = [\"owns_hmoe\"]\n",
            )
            .unwrap()
        },
        3,
        &["policy.toml:4", "owns_hmoe"],
    );
}

#[test]
fn policy_bad_mechanism() {
    bad(
        |d| fs::write(d.join("policy.toml"), "mechanism = \"boston\"\n").unwrap(),
        3,
        &["policy.toml:1", "deferred_acceptance"],
    );
}

#[test]
fn private_school_in_zones() {
    bad(
        |d| replace(d, "zones.csv", "B2,primary,P2", "B2,primary,M1"),
        3,
        &["private school has no catchment"],
    );
}

#[test]
fn purchased_seats_over_capacity() {
    bad(
        |d| replace(d, "schools.csv", "3,,,,,1", "3,,,,,9"),
        3,
        &["purchased seats exceed"],
    );
}

#[test]
fn seat_lock_in_the_future() {
    bad(
        |d| replace(d, "seat_locks.csv", "2022", "2030"),
        3,
        &["seat_locks.csv:2", "after the admission year"],
    );
}

#[test]
fn choice_of_unknown_school() {
    bad(
        |d| {
            replace(
                d,
                "students.csv",
                "C1,primary,B2,false,false,1,,false,0,0,,M1",
                "C1,primary,B2,false,false,1,,false,0,0,,M9",
            )
        },
        3,
        &["\"M9\""],
    );
}

#[test]
fn empty_file() {
    bad(
        |d| fs::write(d.join("blocks.csv"), "").unwrap(),
        3,
        &["blocks.csv", "empty"],
    );
}

#[test]
fn binary_garbage() {
    bad(
        |d| fs::write(d.join("students.csv"), [0xff, 0xfe, 0x00, 0x01, 0x80, b'\n', 0x00]).unwrap(),
        3,
        &["students.csv"],
    );
}

#[test]
fn zone_stage_mismatch() {
    bad(
        |d| replace(d, "zones.csv", "B1,junior,J2", "B1,junior,P2"),
        3,
        &["admits primary pupils, not junior"],
    );
}

#[test]
fn zero_threads_is_a_usage_error() {
    let dir = tiny();
    let o = run_into(dir.path(), &dir.path().join("out"), &["--threads", "0"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn validate_reports_problems_without_running() {
    let dir = tiny();
    replace(dir.path(), "students.csv", "A,primary,B1", "A,primary,B9");
    let o = xuequ(&["validate", dir.path().join("scenario.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("B9"));
}

#[test]
fn duplicate_student_id_names_both_lines() {
    bad(
        |d| replace(d, "students.csv", "C2,primary,B2", "A,primary,B2"),
        3,
        &["students.csv:7", "duplicate student_id (first on line 2)", "\"A\""],
    );
}

const ALT: &str =
    "name = \"关闭实验小学\"\nbase = \"scenario.toml\"\n[[edit]]\nkind = \"close_school\"\nschool_id = \"P1\"\n";

#[test]
fn several_scenarios_run_into_their_own_folders_and_a_failure_spares_the_others() {
    let dir = tiny();
    fs::write(dir.path().join("alt.toml"), ALT).unwrap();
    fs::write(
        dir.path().join("broken.toml"),
        "name = \"x\"\nbase = \"scenario.toml\"\n[[edit]]\nkind = \"close_school\"\nschool_id = \"NOPE\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let s = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let o = xuequ(&[
        "run",
        &s("scenario.toml"),
        &s("alt.toml"),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("scenario/assignments.csv").is_file());
    assert!(out.join("alt/assignments.csv").is_file());
    let o = xuequ(&[
        "run",
        &s("broken.toml"),
        &s("alt.toml"),
        "--out",
        dir.path().join("out2").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("broken.toml") && text(&o).contains("NOPE"),
        "{}",
        text(&o)
    );
    assert!(
        dir.path().join("out2/alt/summary.json").is_file(),
        "the good scenario still ran"
    );
    assert!(!dir.path().join("out2/broken").exists());
}

#[test]
fn compare_lists_who_moves() {
    let dir = tiny();
    fs::write(dir.path().join("alt.toml"), ALT).unwrap();
    let out = dir.path().join("cmp");
    let o = xuequ(&[
        "compare",
        dir.path().join("scenario.toml").to_str().unwrap(),
        dir.path().join("alt.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let changes = csv_rows(&out.join("changes.csv"));
    let a = changes.iter().find(|r| r[0] == "A").expect("A loses P1");
    assert_eq!((a[2].as_str(), a[8].as_str()), ("P1", "moved"));
    let schools = csv_rows(&out.join("schools_delta.csv"));
    let p1 = schools.iter().find(|r| r[0] == "P1").unwrap();
    assert_eq!(p1[4], "", "P1 is closed in the alternative");
    let json: serde_json::Value = serde_json::from_slice(&fs::read(out.join("compare.json")).unwrap()).unwrap();
    assert!(json["stages"][0]["moved"].as_u64().unwrap() >= 1);
}

#[test]
fn zone_then_lookup_then_run_on_the_proposal() {
    let demo = root().join("data/demo/scenario.toml");
    let out = tempfile::tempdir().unwrap();
    let z = out.path().join("zones");
    let o = xuequ(&[
        "zone",
        demo.to_str().unwrap(),
        "--stage",
        "primary",
        "--out",
        z.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for f in ["zones.csv", "zones.geojson", "zoning_report.csv", "zoning_report.json"] {
        assert!(z.join(f).is_file(), "{f}");
    }
    // Every block of the proposal is served by its proposed school at its own point.
    let blocks = csv_rows(&root().join("data/demo/blocks.csv"));
    let zones = csv_rows(&z.join("zones.csv"));
    let (id, lon, lat) = (&blocks[0][0], &blocks[0][3], &blocks[0][4]);
    let expected: Vec<&String> = zones
        .iter()
        .filter(|r| &r[0] == id && r[1] == "primary")
        .map(|r| &r[2])
        .collect();
    let o = xuequ(&[
        "lookup",
        demo.to_str().unwrap(),
        "--lon",
        lon,
        "--lat",
        lat,
        "--stage",
        "primary",
        "--zones",
        z.join("zones.csv").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for s in expected {
        assert!(text(&o).contains(s.as_str()), "{s} not in {}", text(&o));
    }
    // The proposal feeds straight back into an allocation run.
    let scenario = out.path().join("proposal.toml");
    fs::write(
        &scenario,
        format!(
            "name = \"proposal\"\nbase = \"{}\"\n[inputs]\nzones = \"{}\"\n",
            demo.display(),
            z.join("zones.csv").display()
        ),
    )
    .unwrap();
    let o = xuequ(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.path().join("run").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn zone_with_multi_school_groups_and_lookup_returns_the_group() {
    let demo = root().join("data/demo/scenario.toml");
    let out = tempfile::tempdir().unwrap();
    let z = out.path().join("zones");
    let o = xuequ(&[
        "zone",
        demo.to_str().unwrap(),
        "--stage",
        "primary",
        "--out",
        z.to_str().unwrap(),
        "--multi-school",
        "0.9",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&fs::read(z.join("zoning_report.json")).unwrap()).unwrap();
    let groups = report["groups"].as_array().expect("groups in the report");
    assert!(!groups.is_empty());
    // A block of the first group has one primary row per school of the group.
    let zones = csv_rows(&z.join("zones.csv"));
    let first = &groups[0]["school_ids"];
    let want: Vec<&str> = first.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let block = zones
        .iter()
        .find(|r| r[1] == "primary" && r[2] == want[0])
        .map(|r| r[0].clone())
        .unwrap();
    let got: Vec<&str> = zones
        .iter()
        .filter(|r| r[0] == block && r[1] == "primary")
        .map(|r| r[2].as_str())
        .collect();
    assert_eq!(got, want);
    let blocks = csv_rows(&root().join("data/demo/blocks.csv"));
    let b = blocks.iter().find(|r| r[0] == block).unwrap();
    let o = xuequ(&[
        "lookup",
        demo.to_str().unwrap(),
        "--lon",
        &b[3],
        "--lat",
        &b[4],
        "--stage",
        "primary",
        "--zones",
        z.join("zones.csv").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for s in want {
        assert!(text(&o).contains(s), "{s} not in {}", text(&o));
    }
    // The bare flag takes the default threshold.
    let o = xuequ(&[
        "zone",
        demo.to_str().unwrap(),
        "--out",
        out.path().join("bare").to_str().unwrap(),
        "--multi-school",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = xuequ(&[
        "zone",
        demo.to_str().unwrap(),
        "--out",
        out.path().join("bad").to_str().unwrap(),
        "--multi-school",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("multi_school.min_utilisation"), "{}", text(&o));
}

#[test]
fn zone_refuses_an_unknown_stage() {
    let demo = root().join("data/demo/scenario.toml");
    let out = tempfile::tempdir().unwrap();
    let o = xuequ(&[
        "zone",
        demo.to_str().unwrap(),
        "--stage",
        "senior",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_ne!(o.status.code(), Some(0));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
}

#[test]
fn forecast_check_development_and_site_on_the_demo() {
    let demo = root().join("data/demo/scenario.toml");
    let demo = demo.to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = |n: &str| out.path().join(n).to_str().unwrap().to_string();
    let o = xuequ(&["forecast", demo, "--years", "5", "--out", &dir("forecast"), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    let written: Vec<String> = fs::read_dir(out.path().join("forecast"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        written.iter().any(|f| f.ends_with(".csv")) && written.iter().any(|f| f.ends_with(".json")),
        "{written:?}"
    );

    // A new development that has not moved in yet.
    let o = xuequ(&[
        "check-development",
        demo,
        "--block",
        "B000009",
        "--out",
        &dir("dev"),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = xuequ(&[
        "check-development",
        demo,
        "--block",
        "NO_SUCH_BLOCK",
        "--out",
        &dir("dev2"),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("NO_SUCH_BLOCK"));

    // Candidate sites: next to every fifth block.
    let blocks = csv_rows(&root().join("data/demo/blocks.csv"));
    let mut sites = String::from("site_id,name,district,lon,lat,capacity\n");
    for (k, b) in blocks.iter().step_by(5).enumerate() {
        let lon: f64 = b[3].parse().unwrap();
        sites.push_str(&format!(
            "X{k:03},{}地块,{},{:.6},{},90\n",
            b[1],
            b[2],
            lon + 0.0005,
            b[4]
        ));
    }
    fs::write(out.path().join("sites.csv"), sites).unwrap();
    let o = xuequ(&[
        "site",
        demo,
        "--stage",
        "primary",
        "--new-schools",
        "3",
        "--sites",
        &dir("sites.csv"),
        "--out",
        &dir("site"),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(fs::read_dir(out.path().join("site")).unwrap().count() >= 2);
    // A broken sites file names its line.
    fs::write(
        out.path().join("bad_sites.csv"),
        "site_id,name,district,lon,lat,capacity\nX1,a,b,120.3,31.5,lots\n",
    )
    .unwrap();
    let o = xuequ(&[
        "site",
        demo,
        "--stage",
        "primary",
        "--new-schools",
        "1",
        "--sites",
        &dir("bad_sites.csv"),
        "--out",
        &dir("site2"),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("bad_sites.csv:2"), "{}", text(&o));
    assert!(!out.path().join("site2").exists());
}

/// The demo with a scenario edit that zones two 江阴市 blocks to a new 新吴区 school.
fn demo_with_far_zone() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let base = root().join("data/demo/scenario.toml");
    let s = dir.path().join("far.toml");
    fs::write(
        &s,
        format!(
            "name = \"far\"\nbase = \"{}\"\n[[edit]]\nkind = \"open_school\"\nschool_id = \"P9001\"\nname = \"新城实验小学\"\ndistrict = \"新吴区\"\nstage = \"primary\"\nlon = 120.40\nlat = 31.50\nclasses = 4\nzone_blocks = [\"B000120\", \"B000121\"]\n",
            base.display().to_string().replace('\\', "/")
        ),
    )
    .unwrap();
    (dir, s)
}

#[test]
fn plausibility_warnings_are_printed_and_strict_makes_them_errors() {
    let (dir, s) = demo_with_far_zone();
    let o = xuequ(&["validate", s.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("warning[zone_other_district]") && t.contains("far.toml:3"),
        "{t}"
    );
    assert!(t.contains("2 plausibility warning(s)"), "{t}");
    let o = xuequ(&["validate", "--strict", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("an error because strict is on"));
    // A run writes them into summary.json and the report.
    let out = dir.path().join("out");
    let o = xuequ(&["run", s.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    let summary: serde_json::Value = serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap();
    let kinds: Vec<&str> = summary["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["zone_far", "zone_other_district"]);
    assert_eq!(summary["warnings"][0]["line"], 3);
    let html = fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("id=\"warnings\"") && html.contains("zone_other_district"));
    // The demo itself has none.
    let o = xuequ(&["validate", root().join("data/demo/scenario.toml").to_str().unwrap()]);
    assert!(text(&o).contains("; 0 plausibility warning(s))"), "{}", text(&o));
}

#[test]
fn zones_from_list_writes_zones_and_a_match_report() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.csv");
    fs::write(
        &list,
        "学校,划片范围\n锡山区实验小学,\"安镇北苑、羊尖悦府（五期）、人民路1-99号单号\"\nP0005,盛岸三村；风雅苑\n",
    )
    .unwrap();
    let out = dir.path().join("z");
    let scenario = root().join("data/demo/scenario.toml");
    let o = xuequ(&[
        "zones-from-list",
        scenario.to_str().unwrap(),
        "--list",
        list.to_str().unwrap(),
        "--stage",
        "primary",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("5 phrases: 2 exact, 1 normalised, 0 fuzzy, 1 ambiguous, 1 unmatched; 3 blocks zoned"),
        "{}",
        text(&o)
    );
    let zones = csv_rows(&out.join("zones.csv"));
    assert_eq!(zones[0], ["B000001", "primary", "P0002"]);
    let report = csv_rows(&out.join("match_report.csv"));
    assert_eq!(report.len(), 5);
    assert!(report.iter().any(|r| r[2] == "人民路1-99号单号" && r[3] == "unmatched"));
    // A school that is not in the city: exit 3, the list's line and value.
    fs::write(&list, "school,blocks\n不存在小学,安镇北苑\n").unwrap();
    let o = xuequ(&[
        "zones-from-list",
        scenario.to_str().unwrap(),
        "--list",
        list.to_str().unwrap(),
        "--stage",
        "primary",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        text(&o).contains("list.csv:2 [school] value \"不存在小学\""),
        "{}",
        text(&o)
    );
}

/// `lookup --points` keeps every input column (ids, names, quoted commas) and adds the
/// answer; `--out` writes it to a file.
#[test]
fn lookup_points_keep_every_input_column() {
    let dir = tempfile::tempdir().unwrap();
    let demo = root().join("data/demo/scenario.toml");
    let blocks = csv_rows(&root().join("data/demo/blocks.csv"));
    let points = dir.path().join("points.csv");
    let mut input = String::from("addr_id,name,lat,lon,note\n");
    for (i, b) in blocks.iter().take(5).enumerate() {
        input.push_str(&format!("A{i},\"{} 1号, 2单元\",{},{},x\n", b[1], b[4], b[3]));
    }
    fs::write(&points, input).unwrap();
    let out = dir.path().join("answers.csv");
    let o = xuequ(&[
        "lookup",
        demo.to_str().unwrap(),
        "--points",
        points.to_str().unwrap(),
        "--stage",
        "primary",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = csv_rows(&out);
    let mut r = csv::Reader::from_path(&out).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header,
        [
            "addr_id",
            "name",
            "lat",
            "lon",
            "note",
            "stage",
            "school_ids",
            "school_names",
            "distances_m"
        ]
    );
    assert_eq!(rows.len(), 5);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], format!("A{i}"));
        assert!(row[1].ends_with("1号, 2单元"));
        assert_eq!(row[4], "x");
        assert_eq!(row[5], "primary");
        assert!(!row[6].is_empty(), "a block point lies in a zone");
        // One distance per school found, from the scenario's distance source.
        assert_eq!(row[8].split(';').count(), row[6].split(';').count());
    }
}

#[test]
fn synth_writes_its_city_as_one_output_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("city");
    for _ in 0..2 {
        let o = xuequ(&[
            "synth",
            "--preset",
            "demo",
            "--applicants",
            "300",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["command"], "synth");
    let files = manifest["files"].as_array().unwrap();
    assert!(files.iter().any(|f| f["name"] == "students.csv"));
    // Nothing but the city beside it.
    let beside: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside, ["city"]);
    let o = xuequ(&["validate", out.join("scenario.toml").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}
