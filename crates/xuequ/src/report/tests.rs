#![allow(clippy::unwrap_used)]

use std::io::Read;

use super::*;

const SCHOOLS: &str = "school_id,name,district,stage,sector,lon,lat,capacity,feeder_junior_id,purchased_seats
P1,实验小学,梁溪区,primary,public,120.300,31.570,2,J1,
P2,第二小学,梁溪区,primary,public,120.310,31.570,2,J1,
P3,远郊小学,梁溪区,primary,public,120.600,31.570,5,,
M1,外国语学校<民办>,梁溪区,primary,private,120.305,31.575,3,,1
J1,第一中学,梁溪区,junior,public,120.302,31.572,1,,
J2,第二中学,梁溪区,junior,public,120.320,31.572,5,,
";
const BLOCKS: &str = "block_id,name,district,lon,lat,households
B1,清扬新村,梁溪区,120.301,31.571,800
B2,万科城 & 花园,梁溪区,120.309,31.571,600
";
const ZONES: &str = "block_id,stage,school_id\nB1,primary,P1\nB2,primary,P2\nB1,junior,J2\nB2,junior,J2\n";
const STUDENTS: &str = "student_id,stage,block_id,hukou_in_zone,owns_home,migrant,residence_permit_months,choices
S1,primary,B1,true,true,false,0,
S2,primary,B1,true,true,false,0,
S3,primary,B1,false,false,false,0,
S4,primary,B2,true,true,false,0,M1
S5,primary,B2,false,false,true,24,
S6,primary,B2,false,false,true,2,
S7,primary,B1,false,false,false,0,M1
J01,junior,B1,true,true,false,0,
J02,junior,B2,true,true,false,0,
";

fn tiny(name: &str, extra_capacity: bool) -> (tempfile::TempDir, Dataset) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let schools = if extra_capacity {
        SCHOOLS.replace("120.300,31.570,2,J1", "120.300,31.570,4,J1")
    } else {
        SCHOOLS.to_string()
    };
    for (f, t) in [
        (
            "scenario.toml",
            format!("name = \"{name}\"\nyear = 2026\nstages = [\"primary\", \"junior\"]\n"),
        ),
        ("schools.csv", schools),
        ("blocks.csv", BLOCKS.to_string()),
        ("zones.csv", ZONES.to_string()),
        ("students.csv", STUDENTS.to_string()),
    ] {
        std::fs::write(d.join(f), t).unwrap();
    }
    let data = Dataset::load(&d.join("scenario.toml")).unwrap();
    (dir, data)
}

fn run(data: &Dataset) -> (Allocation, AuditReport) {
    let a = crate::allocate(data);
    let r = crate::audit(data, &a);
    (a, r)
}

#[test]
fn page_is_self_contained_and_names_everything() {
    let (_d, data) = tiny("城区方案 A", false);
    let (a, r) = run(&data);
    let page = run_html(&data, &a, &r);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<meta charset=\"utf-8\">"));
    assert!(page.contains("城区方案 A"));
    assert!(page.contains("实验小学") && page.contains("第一中学"));
    assert!(page.contains("20260701"), "the seed is shown");
    // Names are escaped.
    assert!(page.contains("外国语学校&lt;民办&gt;") && page.contains("万科城 &amp; 花园"));
    assert!(!page.contains("<民办>"));
    // One map and one histogram per stage.
    assert_eq!(page.matches("<svg class=\"map\"").count(), 2);
    assert_eq!(page.matches("<svg class=\"hist\"").count(), 2);
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(!page.contains("src=") && !page.contains("<link"));
    // Audit checks are listed.
    for c in &r.checks {
        assert!(page.contains(&c.name), "{}", c.name);
    }
    assert_eq!(page, run_html(&data, &a, &r));
}

#[test]
fn map_marks_shortfalls_flows_and_unplaced_blocks() {
    let (_d, data) = tiny("t", false);
    let (a, r) = run(&data);
    let page = run_html(&data, &a, &r);
    // P1 has 2 seats and 3 first choices from B1: a shortfall ring; some of B1 overflow.
    assert!(page.contains("class=\"r\""), "shortfall ring");
    assert!(page.contains("class=\"fl\""), "overflow flow");
    assert!(page.contains("统筹"));
    // The ineligible migrant (S6) may stay unplaced: their block is outlined.
    let st = &a.stages[0];
    if st.placements.iter().any(|p| !p.is_placed()) {
        assert!(page.contains(" u\""));
    }
}

#[test]
fn comparison_shows_both_runs_and_deltas() {
    let (_d1, base) = tiny("基准方案", false);
    let (_d2, alt) = tiny("扩班方案", true);
    let (ab, rb) = run(&base);
    let (aa, ra) = run(&alt);
    let page = compare_html((&base, &ab, &rb), (&alt, &aa, &ra));
    assert!(page.contains("基准方案") && page.contains("扩班方案"));
    // One map per stage: the alternative's, with changes marked.
    assert_eq!(page.matches("<svg class=\"map\"").count(), 2);
    assert!(page.contains("方案地图"));
    assert!(page.contains("实验小学"), "the school whose capacity changed is listed");
    assert!(page.contains("学生去向变化"));
    assert!(!page.contains("http://") && !page.contains("https://"));
    // Unique marker ids across the maps.
    for id in ["c-primary-ar", "c-junior-ar"] {
        assert_eq!(page.matches(&format!("id=\"{id}\"")).count(), 1, "{id}");
    }
    assert_eq!(page, compare_html((&base, &ab, &rb), (&alt, &aa, &ra)));
    // A run against itself changes nothing.
    let same = compare_html((&base, &ab, &rb), (&base, &ab, &rb));
    assert!(same.contains("其中 0 所"));
}

/// The text of one member of a zip archive.
fn unzip(bytes: &[u8], name: &str) -> String {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut f = z.by_name(name).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

#[test]
fn workbook_has_one_sheet_per_table() {
    let (_d, data) = tiny("t", false);
    let (a, r) = run(&data);
    let book = workbook(&data, &a, &r).unwrap();
    assert!(book.starts_with(b"PK\x03\x04"));
    assert_eq!(book, workbook(&data, &a, &r).unwrap(), "deterministic bytes");
    let wb = unzip(&book, "xl/workbook.xml");
    let names: Vec<&str> = wb
        .split("<sheet name=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(names, ["概况", "学校", "录取", "顺位与原因", "区县", "审计", "说明"]);
    // The 录取 sheet holds every applicant (inline strings) plus the header.
    let sheet = unzip(&book, "xl/worksheets/sheet3.xml");
    assert_eq!(sheet.matches("<row ").count(), data.cohort.students.len() + 1);
    assert!(sheet.contains("实验小学") && sheet.contains("S7"));
    assert!(sheet.contains("<pane"), "frozen header");
    let core = unzip(&book, "docProps/core.xml");
    assert!(core.contains("2026-01-01"), "{core}");
}

#[test]
fn report_files_join_the_run_set() {
    let (d, data) = tiny("t", false);
    let (a, r) = run(&data);
    let out = d.path().join("out");
    let write = |opts: ReportOptions| {
        let mut set = crate::io::OutputSet::begin(&out, "run").unwrap();
        write_report_files(&mut set, &data, &a, &r, opts).unwrap();
        set.commit().unwrap()
    };
    let files = write(ReportOptions::default());
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            HTML_FILE,
            XLSX_FILE,
            "zones.geojson",
            "blocks.geojson",
            "layers.gpkg",
            "manifest.json"
        ]
    );
    // A later set without the page removes it: the folder holds one run.
    let only = write(ReportOptions {
        html: false,
        xlsx: true,
        layers: false,
    });
    assert_eq!(only, vec![out.join(XLSX_FILE), out.join("manifest.json")]);
    assert!(!out.join(HTML_FILE).exists());
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn school_rows_match_the_csv() {
    let (_d, data) = tiny("t", false);
    let (a, _) = run(&data);
    let rows = stats::school_rows(&data, &a);
    assert_eq!(rows.len(), 6);
    let p1 = rows.iter().find(|r| r.id == "P1").unwrap();
    assert_eq!((p1.capacity, p1.assigned, p1.vacancies), (2, 2, 0));
    assert!(p1.is_full() && p1.is_short());
    assert_eq!(p1.name, "实验小学");
}

#[test]
fn escaping_covers_markup() {
    assert_eq!(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    assert_eq!(esc("实验小学"), "实验小学");
}
