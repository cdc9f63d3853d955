//! Scenario files with a base and edits.

use std::fs;
use std::path::Path;

fn tiny() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    dir
}

fn school_of(data: &xuequ::Dataset, alloc: &xuequ::Allocation, id: &str) -> Option<String> {
    let i = data.cohort.student(id).unwrap();
    let (st, m) = alloc.find(i).unwrap();
    let p = st.placements[m];
    p.is_placed().then(|| {
        data.city.schools[st.programs[p.program as usize].school as usize]
            .id
            .clone()
    })
}

fn run_alt(dir: &Path, alt: &str) -> (xuequ::Dataset, xuequ::Allocation) {
    fs::write(dir.join("alt.toml"), alt).unwrap();
    let data = xuequ::Dataset::load(&dir.join("alt.toml")).unwrap();
    let alloc = xuequ::allocate(&data);
    assert!(xuequ::audit(&data, &alloc).passed());
    (data, alloc)
}

#[test]
fn base_inherits_inputs_and_edits_apply_in_order() {
    let dir = tiny();
    let (data, alloc) = run_alt(
        dir.path(),
        r#"
name = "方案A"
base = "scenario.toml"
[[edit]]
kind = "close_school"
school_id = "P1"
[[edit]]
kind = "open_school"
school_id = "P9"
name = "新城实验小学"
district = "梁溪区"
stage = "primary"
lon = 120.3005
lat = 31.5705
classes = 1
zone_blocks = ["B1"]
"#,
    );
    assert_eq!(data.scenario.year, 2026, "year comes from the base");
    assert_eq!(data.scenario.edits.len(), 2);
    // B1's zone school is now P9 (45 seats): every B1 primary applicant gets it.
    for id in ["A", "LOCKED", "MIG_HI", "MIG_LO"] {
        assert_eq!(school_of(&data, &alloc, id).as_deref(), Some("P9"), "{id}");
    }
    let p1 = data.city.school("P1").unwrap();
    assert!(!data.city.schools[p1 as usize].is_open(2026));
}

#[test]
fn capacity_moves_and_policy_edits() {
    let dir = tiny();
    let (data, alloc) = run_alt(
        dir.path(),
        r#"
name = "方案B"
base = "scenario.toml"
[[edit]]
kind = "set_capacity"
school_id = "P1"
capacity = 10
[[edit]]
kind = "move_blocks"
stage = "primary"
blocks = ["B2"]
to = "P1"
[[edit]]
kind = "policy"
set = { overflow_radius_m = 100, seed = 99 }
"#,
    );
    assert_eq!(data.policy.overflow_radius_m, 100);
    assert_eq!(data.policy.seed, 99);
    let p1 = data.city.school("P1").unwrap();
    assert_eq!(data.city.schools[p1 as usize].capacity, 10);
    let b2 = data.city.block("B2").unwrap();
    assert_eq!(data.city.zones(xuequ::Stage::Primary).schools_of(b2), &[p1]);
    assert_eq!(
        school_of(&data, &alloc, "MIG_LO").as_deref(),
        Some("P1"),
        "10 seats now fit everyone"
    );
}

#[test]
fn bad_edits_name_the_file_and_line() {
    let dir = tiny();
    fs::write(
        dir.path().join("alt.toml"),
        "name = \"x\"\nbase = \"scenario.toml\"\n[[edit]]\nkind = \"close_school\"\nschool_id = \"P77\"\n[[edit]]\nkind = \"demolish\"\n",
    )
    .unwrap();
    let err = xuequ::Dataset::load(&dir.path().join("alt.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("alt.toml:6") && err.contains("demolish"), "{err}");
    fs::write(
        dir.path().join("alt.toml"),
        "name = \"x\"\nbase = \"scenario.toml\"\n[[edit]]\nkind = \"close_school\"\nschool_id = \"P77\"\n",
    )
    .unwrap();
    let err = xuequ::Dataset::load(&dir.path().join("alt.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("alt.toml:3") && err.contains("P77"), "{err}");
}

#[test]
fn base_cycles_are_refused() {
    let dir = tiny();
    fs::write(dir.path().join("a.toml"), "name = \"a\"\nbase = \"b.toml\"\n").unwrap();
    fs::write(dir.path().join("b.toml"), "name = \"b\"\nbase = \"a.toml\"\n").unwrap();
    let err = xuequ::Dataset::load(&dir.path().join("a.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nest too deep"), "{err}");
}
