//! The conveniences of the public API: one error type, lookups by id, edits built in code.

use std::error::Error as _;
use std::path::{Path, PathBuf};

use xuequ::edit::{Edit, NewBlock, NewSchool, Origin};
use xuequ::{Dataset, Scenario, Stage};

#[test]
fn every_error_converts_into_the_crate_error_with_its_text_and_cause() {
    let missing = std::path::Path::new("/nonexistent/xuequ/scenario.toml");
    let load = xuequ::Dataset::load(missing).expect_err("the scenario does not exist");
    let text = load.to_string();
    assert!(matches!(load, xuequ::LoadError::Io { .. }), "{load:?}");
    let any: xuequ::Error = load.into();
    assert_eq!(any.to_string(), text, "the text is the module error's, unchanged");
    assert!(matches!(any, xuequ::Error::Load(_)));
    // `Error` is transparent: its cause is the module error's cause, the operating system's.
    let cause = any.source().expect("the io error is the cause");
    assert!(cause.downcast_ref::<std::io::Error>().is_some(), "{cause:?}");

    fn run() -> Result<(), xuequ::Error> {
        Err(xuequ::risk::MergeError::DifferentScenario)?;
        Ok(())
    }
    assert!(matches!(
        run(),
        Err(xuequ::Error::Merge(xuequ::risk::MergeError::DifferentScenario))
    ));
}

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/scenario.toml")
}

fn assignments(data: &Dataset) -> Vec<u8> {
    let allocation = xuequ::allocate(data);
    xuequ::output::assignments_csv(data, &allocation, xuequ::WriteOptions::default())
}

/// The same edits, once as `[[edit]]` tables of a scenario file over the demo, once built in
/// code, give byte-identical assignments (and differ from the demo's own).
#[test]
fn edits_built_in_code_match_the_same_edits_in_scenario_toml() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let scenario_toml = dir.path().join("scenario.toml");
    std::fs::write(
        &scenario_toml,
        format!(
            r#"base = "{}"
name = "edited"

[[edit]]
kind = "close_school"
school_id = "P0002"

[[edit]]
kind = "set_capacity"
school_id = "P0001"
capacity = 135

[[edit]]
kind = "open_school"
school_id = "P9001"
name = "新城实验小学"
district = "锡山区"
stage = "primary"
lon = 120.337
lat = 31.602
capacity = 90
zone_blocks = ["B000001"]

[[edit]]
kind = "add_block"
block_id = "B900001"
name = "万科新城"
district = "锡山区"
lon = 120.35
lat = 31.63
households = 300
zones = {{ primary = ["P9001"] }}

[[edit]]
kind = "move_blocks"
stage = "primary"
blocks = ["B000003"]
to = ["P9001"]

[[edit]]
kind = "policy"
set = {{ overflow_radius_m = 1500, migrant = {{ min_social_insurance_months = 6 }} }}
"#,
            demo().display().to_string().replace('\\', "/")
        ),
    )
    .expect("write the scenario");
    let from_file = Dataset::load(&scenario_toml).expect("the edited scenario loads");

    let in_code = Scenario::load(&demo()).expect("the demo loads").with_edits([
        Edit::close_school("P0002"),
        Edit::capacity("P0001", 135),
        Edit::open_school(
            NewSchool::new("P9001", "新城实验小学", "锡山区", Stage::Primary, (120.337, 31.602), 90)
                .zone_blocks(["B000001"]),
        ),
        Edit::add_block(
            NewBlock::new("B900001", "万科新城", "锡山区", (120.35, 31.63))
                .households(300)
                .zone(Stage::Primary, ["P9001"]),
        ),
        Edit::move_blocks(Stage::Primary, ["B000003"], ["P9001"]),
        Edit::policy("overflow_radius_m", 1500),
        Edit::policy("migrant.min_social_insurance_months", 6),
    ]);
    assert!(in_code.edits.iter().all(|e| e.origin == Origin::Code));
    let in_code = Dataset::load_scenario(in_code).expect("the scenario edited in code loads");

    assert_eq!(in_code.policy.overflow_radius_m, 1500);
    let edited = assignments(&from_file);
    assert_eq!(
        String::from_utf8_lossy(&assignments(&in_code)),
        String::from_utf8_lossy(&edited)
    );
    let base = Dataset::load(&demo()).expect("the demo loads");
    assert_ne!(assignments(&base), edited, "the edits change the allocation");
    assert!(
        String::from_utf8_lossy(&edited).contains(",P9001,"),
        "someone is placed in the new school"
    );
}

/// A code-built edit's problems name it by its number, not a made-up file and line.
#[test]
fn problems_of_a_code_built_edit_name_its_number() {
    let scenario = Scenario::load(&demo()).expect("the demo loads");
    let own = scenario.edits.len();
    let bad = scenario.with_edits([Edit::capacity("P0001", 100), Edit::close_school("NOPE")]);
    let Err(xuequ::LoadError::Invalid(d)) = Dataset::load_scenario(bad) else {
        panic!("an unknown school is an error");
    };
    let text = d.to_string();
    let expected = format!("edit #{} (built in code) [edit]: no school has id \"NOPE\"", own + 2);
    assert!(text.contains(&expected), "{text}");

    let scenario = Scenario::load(&demo()).expect("the demo loads");
    let Err(xuequ::LoadError::Invalid(d)) =
        Dataset::load_scenario(scenario.with_edit(Edit::policy("overflow_radius", 10)))
    else {
        panic!("an unknown policy key is an error");
    };
    let text = d.to_string();
    assert!(text.contains(&format!("edit #{} (built in code)", own + 1)), "{text}");
    assert!(text.contains("overflow_radius"), "{text}");
}

/// One `NewSchool` for edits and zoning: `zoning.toml`'s `id` spelling and its default stage.
#[test]
fn one_new_school_type_reads_both_spellings() {
    let zoning: xuequ::zoning::NewSchool =
        toml::from_str("id = \"PN1\"\ndistrict = \"新吴区\"\nlon = 120.4\nlat = 31.5\ncapacity = 270\n")
            .expect("the zoning.toml form reads");
    assert_eq!(zoning.school_id, "PN1");
    assert_eq!(zoning.stage, None);
    assert_eq!(zoning.display_name(), "PN1");
    assert_eq!(zoning.seats(Stage::Primary), Some(270));
    let built = NewSchool::new("PN1", "", "新吴区", Stage::Primary, (120.4, 31.5), 270);
    assert_eq!(built.stage, Some(Stage::Primary));
    let by_classes = built.clone().classes(4, None);
    assert_eq!(
        by_classes.seats(Stage::Junior),
        Some(200),
        "4 classes × the junior default of 50"
    );

    // An edit still needs the stage.
    let table: toml::Table =
        toml::from_str("kind = \"open_school\"\nschool_id = \"P9\"\nname = \"x\"\ndistrict = \"d\"\nlon = 120.0\nlat = 31.0\ncapacity = 45\n")
            .expect("toml");
    let err = Edit::from_table(&table, "scenario.toml", 7).expect_err("no stage");
    assert_eq!(
        err.to_string(),
        "scenario.toml:7 [edit]: open_school: missing field `stage` (fix: see the edit reference in docs/files.md)"
    );
}

#[test]
fn lookups_by_id_find_students_schools_and_blocks_and_nothing_for_unknown_ids() {
    let data = Dataset::load(&demo()).expect("the demo loads");
    let student = data.student("S00000004").expect("a demo applicant");
    assert_eq!(student.stage, Stage::Primary);
    assert_eq!(data.city.blocks[student.block as usize].id, "B000001");
    assert!(data.student("S99999999").is_none());
    assert!(data.student("").is_none());

    let school = data.school("P0002").expect("a demo school");
    assert_eq!(school.name, "锡山区实验小学");
    assert_eq!(data.city.district_name(school.district), Some("锡山区"));
    assert!(data.school("P9999").is_none());
    assert!(data.city.find_school("p0002").is_none(), "ids are exact");

    let block = data.block("B000003").expect("a demo block");
    assert_eq!(block.name, "查桥雅苑");
    assert!(std::ptr::eq(
        block,
        data.city.find_block("B000003").expect("the same block")
    ));
    assert!(data.block("B999999").is_none());
    assert!(data.city.district_name(u32::MAX).is_none());
}

/// `Allocation::school_of` and `Allocation::assignment` agree, for every applicant, with
/// `explain::school_of` and with the applicant's row of `assignments.csv`.
#[test]
fn one_applicants_school_and_row_without_index_hops() {
    let data = Dataset::load(&demo()).expect("the demo loads");
    let placed_only = check_rows(&data);
    assert_eq!(placed_only, 0, "the demo places everyone");
    // With primary schools down to their purchased seats, some applicants are unplaced.
    let full = data
        .city
        .schools
        .iter()
        .filter(|s| s.stage == Stage::Primary)
        .map(|s| Edit::capacity(s.id.clone(), s.purchased_seats));
    let scenario = Scenario::load(&demo()).expect("the demo loads").with_edits(full);
    let data = Dataset::load_scenario(scenario).expect("the edited demo loads");
    assert!(check_rows(&data) > 0, "some applicants are unplaced");
}

/// Checks every applicant's lookups against `assignments.csv`; the number unplaced.
fn check_rows(data: &Dataset) -> usize {
    let allocation = xuequ::allocate(data);
    let csv = xuequ::output::assignments_csv(data, &allocation, xuequ::WriteOptions::default());
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let mut rows = 0;
    let mut unplaced = 0;
    let mut all = allocation.assignments(data);
    for record in reader.records() {
        let record = record.expect("assignments.csv parses");
        let id = &record[0];
        let expected = xuequ::explain::school_of(data, &allocation, id).expect("a known, allocated id");
        let school = allocation.school_of(data, id);
        assert_eq!(school.map(|s| s.id.as_str()), expected, "{id}");
        let row = allocation.assignment(data, id).expect("a row");
        let next = all.next().expect("as many rows as the file");
        assert_eq!(
            (next.student_id, next.school_id(), next.lottery),
            (row.student_id, row.school_id(), row.lottery)
        );
        let distance = row.distance_m.map(|d| d.to_string()).unwrap_or_default();
        let fields = [
            row.student_id,
            row.stage.as_str(),
            row.school_id(),
            row.tier,
            &row.lottery.to_string(),
            &distance,
            row.via,
            row.school.map_or("", |s| s.name.as_str()),
            row.district,
            row.reason,
            row.block_id,
            row.home_district,
        ];
        let in_file: Vec<&str> = record.iter().collect();
        assert_eq!(fields.as_slice(), in_file.as_slice(), "{id}");
        if school.is_none() {
            unplaced += 1;
            assert!(!row.reason.is_empty());
        }
        rows += 1;
    }
    assert_eq!(rows, data.cohort.students.len());
    assert!(all.next().is_none(), "no more rows than the file");
    assert!(allocation.school_of(data, "S99999999").is_none());
    assert!(allocation.assignment(data, "S99999999").is_none());
    unplaced
}

/// A results folder that cannot be read is an `Io` error naming the file, in the service as
/// everywhere.
#[test]
fn an_unreadable_results_folder_is_an_io_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = xuequ::service::ServiceOptions {
        results: Some(dir.path().join("no-such-run")),
        ..xuequ::service::ServiceOptions::default()
    };
    let Err(e) = xuequ::service::ServiceData::load(&demo(), options) else {
        panic!("a missing results folder is an error");
    };
    assert!(matches!(e, xuequ::service::ServiceError::Io { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("manifest.json: cannot read: "), "{text}");
    assert!(e.source().is_some_and(|s| s.is::<std::io::Error>()));
}
