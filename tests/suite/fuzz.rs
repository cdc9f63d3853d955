//! Fuzzing every loader: byte-level mutations of each input of a small valid scenario
//! (the tiny fixture, a workbook version of its schools, and the supply inputs) must give
//! a loaded dataset or a positioned error, never a panic. Every diagnostic names a file,
//! and a line it names exists in that file.
//!
//! 256 cases per input by default; `XUEQU_FUZZ_CASES=N` runs N per input (see
//! docs/errors.md, "Fuzzing").

use std::fmt::Write as _;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn cases() -> u32 {
    std::env::var("XUEQU_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Values that have broken parsers before: numbers out of every range, non-numbers,
/// control characters, GBK and stray UTF-8 bytes, line breaks, quotes, formula starts.
const PALETTE: &[&[u8]] = &[
    b"NaN",
    b"nan",
    b"inf",
    b"-inf",
    b"Infinity",
    b"1e308",
    b"-1e308",
    b"1e-320",
    b"99999999999999999999999999",
    b"18446744073709551616",
    b"4294967296",
    b"4294967295",
    b"65536",
    b"-1",
    b"-0",
    b"0",
    b"0.5",
    b"",
    b" ",
    b"\x00",
    b"\x07",
    b"\x1b[31m",
    b"\x7f",
    b"\t",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\xef\xbb\xbf",
    b"\xd1\xa7\xc7\xf8",
    b"\xc0\x80",
    b"\xe5\xad",
    b"\r\n",
    b"\r",
    b"\n",
    b"\"",
    b"\"\"",
    b",",
    b",,,,,,,,,,,,,,,,,,,,",
    b"=",
    b"=HYPERLINK(\"x\")",
    b"[",
    b"]",
    b"[[tier]]",
    b"#",
    b"'",
    b"true",
    b"false",
    b"primary",
    b"junior",
    b"kindergarten",
    b"private",
    b"public",
    b"P1",
    b"B1",
    b"J1",
    b"M1",
    b"H1",
    b"180.0001",
    b"-90.5",
    b"2147483648",
    b"9999",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    SetByte(Index, u8),
    Insert(Index, usize),
    InsertRandom(Index, Vec<u8>),
    Delete(Index, usize),
    Truncate(Index),
    DuplicateLine(Index),
    DeleteLine(Index),
    SwapLines(Index, Index),
    ReplaceField(Index, Index, usize),
    Huge(Index, Index),
    Crlf,
    CrOnly,
    Utf16,
    Gbk,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let palette = 0..PALETTE.len() + 1;
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<Index>(), palette.clone()).prop_map(|(i, p)| Mutation::Insert(i, p)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, v)| Mutation::InsertRandom(i, v)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<Index>().prop_map(Mutation::Truncate),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        any::<Index>().prop_map(Mutation::DeleteLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<Index>(), any::<Index>(), palette.clone()).prop_map(|(l, f, p)| Mutation::ReplaceField(l, f, p)),
        (any::<Index>(), any::<Index>(), palette).prop_map(|(l, f, p)| Mutation::ReplaceField(l, f, p)),
        (any::<Index>(), any::<Index>()).prop_map(|(l, f)| Mutation::Huge(l, f)),
        Just(Mutation::Crlf),
        Just(Mutation::CrOnly),
        Just(Mutation::Utf16),
        Just(Mutation::Gbk),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..5)
}

/// A palette value; the last index is a 40,000-character field (longer than a cell may be).
fn token(p: usize) -> Vec<u8> {
    PALETTE.get(p).map_or_else(|| vec![b'x'; 40_000], |t| t.to_vec())
}

fn at(i: &Index, len: usize) -> usize {
    if len == 0 { 0 } else { i.index(len) }
}

/// Lines with their terminators.
fn lines(b: &[u8]) -> Vec<Vec<u8>> {
    b.split_inclusive(|&c| c == b'\n').map(<[u8]>::to_vec).collect()
}

fn apply(mut b: Vec<u8>, m: &Mutation) -> Vec<u8> {
    match m {
        Mutation::Flip(i, bit) => {
            if !b.is_empty() {
                let k = at(i, b.len());
                b[k] ^= 1 << bit;
            }
        }
        Mutation::SetByte(i, v) => {
            if !b.is_empty() {
                let k = at(i, b.len());
                b[k] = *v;
            }
        }
        Mutation::Insert(i, p) => {
            let k = at(i, b.len() + 1);
            b.splice(k..k, token(*p));
        }
        Mutation::InsertRandom(i, v) => {
            let k = at(i, b.len() + 1);
            b.splice(k..k, v.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let k = at(i, b.len());
            let end = (k + n).min(b.len());
            b.drain(k..end);
        }
        Mutation::Truncate(i) => b.truncate(at(i, b.len())),
        Mutation::DuplicateLine(i) => {
            let mut l = lines(&b);
            if !l.is_empty() {
                let k = at(i, l.len());
                let mut copy = l[k].clone();
                if !copy.ends_with(b"\n") {
                    l[k].push(b'\n');
                    copy.push(b'\n');
                }
                l.push(copy);
            }
            b = l.concat();
        }
        Mutation::DeleteLine(i) => {
            let mut l = lines(&b);
            if !l.is_empty() {
                l.remove(at(i, l.len()));
            }
            b = l.concat();
        }
        Mutation::SwapLines(x, y) => {
            let mut l = lines(&b);
            if let Some(last) = l.last_mut()
                && !last.ends_with(b"\n")
            {
                last.push(b'\n');
            }
            if !l.is_empty() {
                let (p, q) = (at(x, l.len()), at(y, l.len()));
                l.swap(p, q);
            }
            b = l.concat();
        }
        Mutation::ReplaceField(li, fi, p) => replace_field(&mut b, li, fi, &token(*p)),
        // A number of a thousand digits in some field.
        Mutation::Huge(li, fi) => replace_field(&mut b, li, fi, &[b'9'; 1000]),
        Mutation::Crlf => {
            let mut out = Vec::with_capacity(b.len() + b.len() / 16);
            for &c in &b {
                if c == b'\n' {
                    out.push(b'\r');
                }
                out.push(c);
            }
            b = out;
        }
        Mutation::CrOnly => {
            for c in &mut b {
                if *c == b'\n' {
                    *c = b'\r';
                }
            }
        }
        Mutation::Utf16 => {
            let text = String::from_utf8_lossy(&b).into_owned();
            b = vec![0xff, 0xfe];
            for u in text.encode_utf16() {
                b.extend_from_slice(&u.to_le_bytes());
            }
        }
        Mutation::Gbk => {
            let text = String::from_utf8_lossy(&b).into_owned();
            b = encoding_rs::GBK.encode(&text).0.into_owned();
        }
    }
    b
}

/// Replaces field `fi` (split at `,` and `=`) of line `li` with `with`.
fn replace_field(b: &mut Vec<u8>, li: &Index, fi: &Index, with: &[u8]) {
    let mut l = lines(b);
    if l.is_empty() {
        return;
    }
    let k = at(li, l.len());
    let line = &l[k];
    let body_end = line.len() - line.iter().rev().take_while(|&&c| c == b'\n' || c == b'\r').count();
    let mut bounds = vec![0usize];
    for (j, &c) in line[..body_end].iter().enumerate() {
        if c == b',' || c == b'=' {
            bounds.push(j + 1);
        }
    }
    let f = at(fi, bounds.len());
    let start = bounds[f];
    let end = bounds.get(f + 1).map_or(body_end, |&e| e - 1);
    let mut new = line[..start].to_vec();
    new.extend_from_slice(with);
    new.extend_from_slice(&line[end..]);
    l[k] = new;
    *b = l.concat();
}

// ---------------------------------------------------------------------------------------
// The scenario under test and the checks.

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

/// The tiny fixture's schools.csv as a workbook, with `edits` applied to its cells:
/// `(row, column, value)` where a value parses as a number is written as a number cell.
fn schools_xlsx(edits: &[(Index, Index, Cell)]) -> (Vec<u8>, u32) {
    let text = fs::read_to_string(tiny().join("schools.csv")).unwrap();
    let mut grid: Vec<Vec<Cell>> = text
        .lines()
        .map(|l| {
            l.split(',')
                .map(|c| match c.parse::<f64>() {
                    Ok(v) => Cell::Number(v),
                    Err(_) if c.is_empty() => Cell::Blank,
                    Err(_) => Cell::Text(c.to_string()),
                })
                .collect()
        })
        .collect();
    for (r, c, v) in edits {
        let r = at(r, grid.len() + 1);
        if r == grid.len() {
            grid.push(Vec::new());
        }
        let c = at(c, grid[0].len() + 1);
        if grid[r].len() <= c {
            grid[r].resize(c + 1, Cell::Blank);
        }
        grid[r][c] = v.clone();
    }
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("学校").unwrap();
    for (r, row) in grid.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            // rust_xlsxwriter refuses some values (NaN/inf numbers, over-long strings):
            // those cells stay empty, which is a mutation too.
            let _ = match cell {
                Cell::Text(t) => ws.write_string(r, c, t).map(|_| ()),
                Cell::Number(v) => ws.write_number(r, c, *v).map(|_| ()),
                Cell::Bool(v) => ws.write_boolean(r, c, *v).map(|_| ()),
                Cell::Blank => Ok(()),
            };
        }
    }
    (wb.save_to_buffer().unwrap(), grid.len() as u32)
}

#[derive(Debug, Clone)]
enum Cell {
    Text(String),
    Number(f64),
    Bool(bool),
    Blank,
}

fn cell() -> impl Strategy<Value = Cell> {
    prop_oneof![
        (0..PALETTE.len() + 1).prop_map(|p| Cell::Text(String::from_utf8_lossy(&token(p)).into_owned())),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(1e308),
            Just(-1e308),
            Just(4_294_967_296.0),
            Just(-1.0),
            Just(0.5),
            Just(1e-300),
            any::<f64>(),
        ]
        .prop_map(Cell::Number),
        any::<bool>().prop_map(Cell::Bool),
        Just(Cell::Blank),
    ]
}

/// Lines of a file as an editor counts them (LF, CRLF and CR each end one); an upper bound
/// for files that are not UTF-8.
fn line_count(bytes: &[u8]) -> u64 {
    let mut n = 1u64;
    for (i, &c) in bytes.iter().enumerate() {
        if c == b'\n' || (c == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            n += 1;
        }
    }
    n
}

/// The most rows a sheet can have (Excel's limit).
const SHEET_ROWS: u64 = 1_048_576;

/// Every diagnostic names a file; a line it names exists there.
fn check_diagnostics(dir: &Path, diags: &xuequ::Diagnostics, sheet_rows: u64) -> Result<(), TestCaseError> {
    for d in diags.items() {
        prop_assert!(!d.file.trim().is_empty(), "a diagnostic names no file: {d}");
        let Some(line) = d.line else { continue };
        prop_assert!(line >= 1, "line 0: {d}");
        let path = {
            let p = Path::new(&d.file);
            if p.is_absolute() { p.to_path_buf() } else { dir.join(p) }
        };
        let bytes = fs::read(&path);
        prop_assert!(
            bytes.is_ok(),
            "a diagnostic names line {line} of a file that does not exist: {d}"
        );
        let bound = if d.sheet.is_some() {
            sheet_rows
        } else {
            line_count(&bytes.unwrap_or_default())
        };
        prop_assert!(line <= bound, "line {line} of a file of {bound} lines: {d}");
    }
    Ok(())
}

fn run_cases<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("fuzzing {name}: {e}");
    }
}

/// Loads the scenario, catching panics.
fn load_checked(dir: &Path, scenario: &str, sheet_rows: u64, what: &str) -> Result<(), TestCaseError> {
    let path = dir.join(scenario);
    let result = catch_unwind(AssertUnwindSafe(|| xuequ::Dataset::load(&path)));
    match result {
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_default();
            Err(TestCaseError::fail(format!("Dataset::load panicked on {what}: {msg}")))
        }
        Ok(Err(xuequ::LoadError::Invalid(d))) => check_diagnostics(dir, &d, sheet_rows),
        // A file that cannot be read at all (`Io`) is not the fuzzer's business.
        Ok(_) => Ok(()),
    }
}

/// A copy of the tiny fixture plus a workbook scenario (`scenario_xlsx.toml`).
fn scenario_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in fs::read_dir(tiny()).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let mut scenario = fs::read_to_string(dir.path().join("scenario.toml")).unwrap();
    let _ = write!(scenario, "\n[inputs]\nschools = \"schools.xlsx\"\n");
    fs::write(dir.path().join("scenario_xlsx.toml"), scenario).unwrap();
    fs::write(dir.path().join("schools.xlsx"), schools_xlsx(&[]).0).unwrap();
    for s in ["scenario.toml", "scenario_xlsx.toml"] {
        assert!(xuequ::Dataset::load(&dir.path().join(s)).is_ok(), "{s} loads unmutated");
    }
    dir
}

/// Byte mutations of `file`, loading `scenario`.
fn fuzz_file(file: &str, scenario: &str) {
    fuzz_file_with(file, scenario, None);
}

#[test]
fn fuzz_schools_csv() {
    fuzz_file("schools.csv", "scenario.toml");
}

#[test]
fn fuzz_blocks_csv() {
    fuzz_file("blocks.csv", "scenario.toml");
}

#[test]
fn fuzz_zones_csv() {
    fuzz_file("zones.csv", "scenario.toml");
}

#[test]
fn fuzz_students_csv() {
    fuzz_file("students.csv", "scenario.toml");
}

#[test]
fn fuzz_seat_locks_csv() {
    fuzz_file("seat_locks.csv", "scenario.toml");
}

#[test]
fn fuzz_policy_toml() {
    // A policy that uses most keys, so that mutations reach them.
    fuzz_file_with("policy.toml", "scenario.toml", Some(RICH_POLICY));
}

#[test]
fn fuzz_scenario_toml() {
    fuzz_file("scenario.toml", "scenario.toml");
}

#[test]
fn fuzz_scenario_with_workbook_input_toml() {
    fuzz_file("scenario_xlsx.toml", "scenario_xlsx.toml");
}

#[test]
fn fuzz_schools_xlsx_bytes() {
    fuzz_file("schools.xlsx", "scenario_xlsx.toml");
}

#[test]
fn fuzz_schools_xlsx_cells() {
    let dir = scenario_dir();
    let path = dir.path().join("schools.xlsx");
    let edits = prop::collection::vec((any::<Index>(), any::<Index>(), cell()), 1..5);
    run_cases("schools.xlsx cells", edits, |edits| {
        let (bytes, rows) = schools_xlsx(&edits);
        fs::write(&path, &bytes).unwrap();
        load_checked(
            dir.path(),
            "scenario_xlsx.toml",
            u64::from(rows),
            &format!("schools.xlsx with {edits:?}"),
        )
    });
}

/// Mutations of `file` starting from `contents` (or the fixture's file).
fn fuzz_file_with(file: &str, scenario: &str, contents: Option<&str>) {
    let dir = scenario_dir();
    let path = dir.path().join(file);
    if let Some(c) = contents {
        fs::write(&path, c).unwrap();
        if let Err(e) = xuequ::Dataset::load(&dir.path().join(scenario)) {
            panic!("{file} loads unmutated: {e}");
        }
    }
    let original = fs::read(&path).unwrap();
    run_cases(file, mutations(), |ms| {
        let bytes = ms.iter().fold(original.clone(), apply);
        fs::write(&path, &bytes).unwrap();
        let r = load_checked(dir.path(), scenario, SHEET_ROWS, &format!("{file} after {ms:?}"));
        fs::write(&path, &original).unwrap();
        r
    });
}

const RICH_POLICY: &str = r#"mechanism = "deferred_acceptance"
tie_break = "multiple"
seed = 20260701
candidates = "zone_then_overflow"
overflow_radius_m = 3000
guarantee = "all"
max_choices = 3

[seat_lock]
kindergarten_years = 0
primary_years = 6
junior_years = 3

[migrant]
min_residence_permit_months = 12
min_social_insurance_months = 0

[migrant.points]
social_insurance_months = 5
residence_permit_months = 2.5

[[tier]]
name = "对口直升"
stages = ["junior"]
all = ["feeder"]

[[tier]]
name = "房户一致"
all = ["home_in_zone", "hukou_in_zone", "owns_home", "no_seat_lock"]

[[tier]]
name = "随迁子女"
all = ["home_in_zone", "migrant_eligible"]
order_by = ["points desc", "years_at_address desc"]

[[tier]]
name = "其他"
all = ["home_in_zone"]
order_by = ["distance_m"]
"#;

// ---------------------------------------------------------------------------------------
// The supply inputs, read against the unmutated tiny dataset.

const SITES: &str =
    "site_id,name,district,lon,lat,capacity\nX1,新地块,梁溪区,120.305,31.571,90\nX2,北地块,梁溪区,120.306,31.580,45\n";

const PLANNING: &str = "[forecast]\nyears = 5\nmove_in_ramp = [0.3, 0.6, 0.85, 1.0]\nsurvival = 0.99\n\n[forecast.children_per_household]\nprimary = 0.04\n";

fn fuzz_supply(file: &str, contents: &str, load: impl Fn(&Path, &xuequ::Dataset) -> Result<(), xuequ::SupplyError>) {
    let dir = scenario_dir();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let path = dir.path().join(file);
    fs::write(&path, contents).unwrap();
    if let Err(e) = load(&path, &data) {
        panic!("{file} loads unmutated: {e}");
    }
    let original = contents.as_bytes().to_vec();
    run_cases(file, mutations(), |ms| {
        let bytes = ms.iter().fold(original.clone(), apply);
        fs::write(&path, &bytes).unwrap();
        let r = match catch_unwind(AssertUnwindSafe(|| load(&path, &data))) {
            Err(_) => Err(TestCaseError::fail(format!("loading {file} panicked after {ms:?}"))),
            Ok(Err(xuequ::SupplyError::Invalid(d))) => check_diagnostics(dir.path(), &d, SHEET_ROWS),
            Ok(_) => Ok(()),
        };
        fs::write(&path, &original).unwrap();
        r
    });
}

#[test]
fn fuzz_sites_csv() {
    fuzz_supply("sites.csv", SITES, |p, d| {
        xuequ::supply::CandidateSites::load(p, d).map(|_| ())
    });
}

#[test]
fn fuzz_planning_toml() {
    fuzz_supply("planning.toml", PLANNING, |p, _| {
        xuequ::PlanningParams::load(p).map(|_| ())
    });
}
