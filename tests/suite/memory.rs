//! Scenarios loaded from tables in memory (data frames of a caller, shipped copies).

use std::path::{Path, PathBuf};

use xuequ::load::MemoryTables;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/scenario.toml")
}

fn assignments(data: &xuequ::Dataset) -> Vec<u8> {
    let allocation = xuequ::allocate(data);
    xuequ::output::assignments_csv(data, &allocation, Default::default())
}

#[test]
fn a_snapshot_rebuilds_the_same_dataset_without_the_files() {
    let from_files = xuequ::Dataset::load(&demo()).unwrap();
    let tables = MemoryTables::snapshot(&from_files.scenario).unwrap();
    assert_eq!(
        tables.keys(),
        ["blocks", "schools", "seat_locks", "students", "zones", "policy"]
    );
    // The scenario text read as if from a folder where none of the inputs exist.
    let text = std::fs::read_to_string(demo()).unwrap();
    let nowhere = Path::new("/nonexistent-xuequ-folder/scenario.toml");
    assert!(xuequ::Scenario::from_toml(&text, nowhere).is_err());
    let scenario = xuequ::Scenario::from_toml_with_tables(&text, nowhere, &tables).unwrap();
    let from_memory = xuequ::Dataset::load_with_tables(scenario, &tables).unwrap();
    assert_eq!(from_memory.policy.seed, from_files.policy.seed);
    assert_eq!(from_memory.sources[0].format, "memory");
    assert_eq!(assignments(&from_memory), assignments(&from_files));
}

#[test]
fn a_table_in_memory_replaces_its_file_and_its_problems_name_the_file() {
    let path = demo();
    let mut tables = MemoryTables::default();
    tables
        .insert(
            "students",
            "student_id,stage,block_id,hukou_in_zone,owns_home\nS1,primary,B000001,maybe,true\n"
                .as_bytes()
                .to_vec(),
        )
        .unwrap();
    let scenario =
        xuequ::Scenario::from_toml_with_tables(&std::fs::read_to_string(&path).unwrap(), &path, &tables).unwrap();
    let Err(xuequ::LoadError::Invalid(diags)) = xuequ::Dataset::load_with_tables(scenario, &tables) else {
        panic!("a bad value in memory must fail the load");
    };
    let d = &diags.items()[0];
    assert!(d.file.ends_with("students.csv"), "{d}");
    assert_eq!((d.line, d.column), (Some(2), Some(4)));
    assert_eq!(d.value.as_deref(), Some("maybe"));
    // Text that is not UTF-8 is refused with the file named.
    tables.insert("students", vec![b'a', 0xff, b'\n']).unwrap();
    let scenario =
        xuequ::Scenario::from_toml_with_tables(&std::fs::read_to_string(&path).unwrap(), &path, &tables).unwrap();
    assert!(xuequ::Dataset::load_with_tables(scenario, &tables).is_err());
    assert_eq!(
        tables.insert("roads", Vec::new()).unwrap_err().to_string(),
        "unknown input table \"roads\" (fix: use one of schools, blocks, zones, students, seat_locks, distances)"
    );
}

#[test]
fn school_of_agrees_with_assignments_csv() {
    let data = xuequ::Dataset::load(&demo()).unwrap();
    let allocation = xuequ::allocate(&data);
    let csv = String::from_utf8(assignments(&data)).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let id = header.iter().position(|h| *h == "student_id").unwrap();
    let school = header.iter().position(|h| *h == "school_id").unwrap();
    let mut seen = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let expected = Some(cells[school]).filter(|s| !s.is_empty());
        assert_eq!(
            xuequ::explain::school_of(&data, &allocation, cells[id]).unwrap(),
            expected
        );
        seen += 1;
    }
    assert_eq!(seen, data.cohort.students.len());
    assert_eq!(
        xuequ::explain::school_of(&data, &allocation, "nobody"),
        Err(xuequ::ExplainError::UnknownStudent("nobody".into()))
    );
}

#[test]
fn warnings_about_a_table_in_memory_name_its_own_lines() {
    use xuequ::model::{Sector, Stage};
    let from_files = xuequ::Dataset::load(&demo()).unwrap();
    let mut tables = MemoryTables::snapshot(&from_files.scenario).unwrap();
    // Zone the first block to the public primary school farthest from it, in a row that only
    // the table in memory has (its line 2): the warning must point there.
    let city = &from_files.city;
    let block = &city.blocks[0];
    let far = city
        .schools
        .iter()
        .filter(|s| s.stage == Stage::Primary && s.sector == Sector::Public)
        .max_by_key(|s| s.location.distance_m(&block.location))
        .unwrap();
    let zones = String::from_utf8(tables.get("zones").unwrap().to_vec()).unwrap();
    let (header, rows) = zones.split_once('\n').unwrap();
    let edited = format!("{header}\n{},primary,{}\n{rows}", block.id, far.id);
    tables.insert("zones", edited.into_bytes()).unwrap();
    let text = std::fs::read_to_string(demo()).unwrap();
    let scenario = xuequ::Scenario::from_toml_with_tables(&text, &demo(), &tables).unwrap();
    let data = xuequ::Dataset::load_with_tables(scenario, &tables).unwrap();
    let warning = data
        .warnings
        .iter()
        .find(|w| w.kind == xuequ::plausibility::WarningKind::ZoneFar && w.diagnostic.value.as_deref() == Some(&far.id))
        .unwrap_or_else(|| panic!("no zone_far warning for {}: {:?}", far.id, data.warnings));
    assert!(warning.diagnostic.file.ends_with("zones.csv"), "{}", warning.diagnostic);
    assert_eq!(warning.diagnostic.line, Some(2), "{}", warning.diagnostic);
}
