//! Every command's `manifest.json` names every file the command read, each with its size and
//! the SHA-256 of its bytes (checked here with the `sha2` crate, not the engine's hashing);
//! a CSV table is recorded as the bytes that were read, and a table given in memory as
//! such, not as a file on disk.

use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};
use xuequ::Stage;
use xuequ::request::{DevelopmentRequest, ForecastRequest, SitingRequest, ZoningRequest};

use crate::planner::demo_copy;

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The names of the inputs the manifest in `out` lists, in its order, after checking each
/// one's size and SHA-256 against the file.
pub(crate) fn listed_inputs(out: &Path) -> Vec<String> {
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|input| {
            let path = Path::new(input["path"].as_str().unwrap());
            let bytes = fs::read(path).unwrap();
            assert_eq!(input["bytes"].as_u64(), Some(bytes.len() as u64), "{}", path.display());
            assert_eq!(
                input["sha256"].as_str(),
                Some(sha256(&bytes).as_str()),
                "{}",
                path.display()
            );
            path.file_name().unwrap().to_string_lossy().into_owned()
        })
        .collect()
}

/// The demo scenario's own inputs, as its manifest lists them.
const DEMO_INPUTS: [&str; 7] = [
    "scenario.toml",
    "schools.csv",
    "blocks.csv",
    "students.csv",
    "zones.csv",
    "seat_locks.csv",
    "policy.toml",
];

#[test]
fn a_run_on_road_distances_lists_the_road_network() {
    let dir = demo_copy();
    let data = xuequ::Dataset::load(&dir.path().join("scenario_roads.toml")).unwrap();
    let allocation = xuequ::allocate(&data);
    let audit = xuequ::audit(&data, &allocation);
    let out = dir.path().join("out");
    xuequ::write_outputs(&out, &data, &allocation, &audit, Default::default()).unwrap();
    let mut want: Vec<&str> = DEMO_INPUTS.to_vec();
    want[0] = "scenario_roads.toml";
    want.push("roads.osm.pbf");
    assert_eq!(listed_inputs(&out), want);
}

#[test]
fn zoning_lists_its_configuration_and_barriers() {
    let dir = demo_copy();
    fs::write(dir.path().join("zoning.toml"), "stage = \"primary\"\n").unwrap();
    // A short line far from the city: it cuts nothing, but it is read.
    fs::write(
        dir.path().join("barriers.geojson"),
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[100.0,10.0],[100.1,10.1]]}}]}"#,
    )
    .unwrap();
    let out = dir.path().join("zone");
    ZoningRequest::new(dir.path().join("scenario.toml"))
        .barriers(dir.path().join("barriers.geojson"))
        .write(&out)
        .unwrap();
    let mut want: Vec<&str> = DEMO_INPUTS.to_vec();
    want.extend(["zoning.toml", "barriers.geojson"]);
    assert_eq!(listed_inputs(&out), want);
}

#[test]
fn planning_commands_list_their_planning_files() {
    let dir = demo_copy();
    let scenario = dir.path().join("scenario.toml");
    fs::write(dir.path().join("planning.toml"), "[forecast]\nyears = 3\n").unwrap();
    let out = dir.path().join("forecast");
    ForecastRequest::new(scenario.clone()).write(&out).unwrap();
    let mut want: Vec<&str> = DEMO_INPUTS.to_vec();
    want.push("planning.toml");
    assert_eq!(listed_inputs(&out), want);

    // A development file and candidate sites, with a block's point for each.
    let blocks = fs::read_to_string(dir.path().join("blocks.csv")).unwrap();
    let first: Vec<&str> = blocks.lines().nth(1).unwrap().split(',').collect();
    let (district, lon, lat) = (first[2], first[3], first[4]);
    fs::write(
        dir.path().join("development.csv"),
        format!(
            "block_id,name,district,lon,lat,households,status,move_in_year,planned_households\n\
             D1,新盘,{district},{lon},{lat},0,new,2027,300\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("development");
    DevelopmentRequest::new(scenario.clone())
        .development(dir.path().join("development.csv"))
        .write(&out)
        .unwrap();
    want.push("development.csv");
    assert_eq!(listed_inputs(&out), want);

    fs::write(
        dir.path().join("sites.csv"),
        format!("site_id,name,district,lon,lat,capacity\nX1,新校,{district},{lon},{lat},1000\n"),
    )
    .unwrap();
    let out = dir.path().join("site");
    SitingRequest::new(scenario, Stage::Primary, 1, dir.path().join("sites.csv"))
        .write(&out)
        .unwrap();
    want.pop();
    want.push("sites.csv");
    assert_eq!(listed_inputs(&out), want);
}

#[test]
fn tables_given_in_memory_are_not_listed_as_files() {
    let dir = demo_copy();
    let path = dir.path().join("scenario.toml");
    let text = fs::read_to_string(&path).unwrap();
    let mut tables = xuequ::load::MemoryTables::default();
    tables
        .insert("students", fs::read(dir.path().join("students.csv")).unwrap())
        .unwrap();
    tables.set_policy(fs::read_to_string(dir.path().join("policy.toml")).unwrap());
    let scenario = xuequ::Scenario::from_toml_with_tables(&text, &path, &tables).unwrap();
    let data = xuequ::Dataset::load_with_tables(scenario, &tables).unwrap();
    let names: Vec<String> = data
        .input_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "scenario.toml",
            "schools.csv",
            "blocks.csv",
            "zones.csv",
            "seat_locks.csv"
        ]
    );
    // Read from the files, every one is listed.
    let data = xuequ::Dataset::load(&path).unwrap();
    let names: Vec<String> = data
        .input_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, DEMO_INPUTS);
}

#[test]
fn the_roads_command_and_a_published_list_list_what_they_read() {
    let dir = demo_copy();
    let scenario = dir.path().join("scenario.toml");
    // The scenario measures straight lines; `roads` builds the network it names.
    let out = dir.path().join("roads");
    xuequ::request::RoadsRequest::new(scenario.clone()).write(&out).unwrap();
    let mut want: Vec<&str> = DEMO_INPUTS.to_vec();
    want.push("roads.osm.pbf");
    assert_eq!(listed_inputs(&out), want);

    let list = dir.path().join("list.csv");
    fs::write(&list, "学校,划片范围\nP0005,盛岸三村；风雅苑\n").unwrap();
    let out = dir.path().join("from-list");
    xuequ::request::ZonesFromListRequest::new(scenario, &list, Stage::Primary)
        .write(&out)
        .unwrap();
    let mut want = vec!["list.csv"];
    want.extend(DEMO_INPUTS);
    assert_eq!(listed_inputs(&out), want);
}

#[test]
fn tables_are_recorded_as_the_bytes_read_even_if_the_file_changes_after() {
    let dir = demo_copy();
    // A GBK table: recorded as the bytes in the file, not the decoded text.
    let blocks = fs::read_to_string(dir.path().join("blocks.csv")).unwrap();
    fs::write(dir.path().join("blocks.csv"), encoding_rs::GBK.encode(&blocks).0).unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let students = dir.path().join("students.csv");
    let read = fs::read(&students).unwrap();
    // Someone saves the applicants' file while the run allocates.
    fs::write(
        &students,
        [read.as_slice(), b"A999999,primary,B000001,true,H1,0,\n"].concat(),
    )
    .unwrap();
    let allocation = xuequ::allocate(&data);
    let audit = xuequ::audit(&data, &allocation);
    let out = dir.path().join("out");
    xuequ::write_outputs(&out, &data, &allocation, &audit, Default::default()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let inputs = manifest["inputs"].as_array().unwrap();
    let entry = |name: &str| {
        inputs
            .iter()
            .find(|i| i["path"].as_str().unwrap().ends_with(name))
            .unwrap()
            .clone()
    };
    assert_eq!(entry("students.csv")["sha256"].as_str(), Some(sha256(&read).as_str()));
    assert_eq!(entry("students.csv")["bytes"].as_u64(), Some(read.len() as u64));
    let gbk = fs::read(dir.path().join("blocks.csv")).unwrap();
    assert_eq!(entry("blocks.csv")["sha256"].as_str(), Some(sha256(&gbk).as_str()));
}

#[test]
fn a_workbook_is_recorded_as_the_bytes_read() {
    let dir = demo_copy();
    let d = dir.path();
    crate::regression::csv_to_xlsx(&d.join("schools.csv"), &d.join("schools.xlsx"), "学校", &[]);
    let scenario = fs::read_to_string(d.join("scenario.toml"))
        .unwrap()
        .replace("schools = \"schools.csv\"", "schools = \"schools.xlsx\"");
    fs::write(d.join("scenario.toml"), scenario).unwrap();
    let data = xuequ::Dataset::load(&d.join("scenario.toml")).unwrap();
    let read = fs::read(d.join("schools.xlsx")).unwrap();
    // The workbook is saved again while the run allocates.
    fs::write(d.join("schools.xlsx"), b"not the workbook that was read").unwrap();
    let allocation = xuequ::allocate(&data);
    let audit = xuequ::audit(&data, &allocation);
    let out = d.join("out");
    xuequ::write_outputs(&out, &data, &allocation, &audit, Default::default()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let schools = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"].as_str().unwrap().ends_with("schools.xlsx"))
        .unwrap();
    assert_eq!(schools["sha256"].as_str(), Some(sha256(&read).as_str()));
    assert_eq!(schools["bytes"].as_u64(), Some(read.len() as u64));
}

#[test]
fn tables_given_in_memory_are_recorded_as_such() {
    let dir = demo_copy();
    let path = dir.path().join("scenario.toml");
    let text = fs::read_to_string(&path).unwrap();
    let students = b"student_id,stage,block_id,hukou_in_zone\nA1,primary,B000001,true\n".to_vec();
    let policy = fs::read_to_string(dir.path().join("policy.toml")).unwrap();
    let mut tables = xuequ::load::MemoryTables::default();
    tables.insert("students", students.clone()).unwrap();
    tables.set_policy(policy.clone());
    let scenario = xuequ::Scenario::from_toml_with_tables(&text, &path, &tables).unwrap();
    let data = xuequ::Dataset::load_with_tables(scenario, &tables).unwrap();
    let read: Vec<(String, String)> = data
        .input_records()
        .into_iter()
        .filter_map(|r| match r {
            xuequ::io::InputRecord::Read(input) => Some((input.path, input.sha256)),
            xuequ::io::InputRecord::File(_) => None,
        })
        .filter(|(label, _)| label.ends_with("(in memory)"))
        .collect();
    let label = |name: &str| format!("{} (in memory)", dir.path().join(name).display());
    assert_eq!(
        read,
        [
            (label("students.csv"), sha256(&students)),
            (label("policy.toml"), sha256(policy.as_bytes())),
        ]
    );
}

#[test]
fn a_comparison_lists_a_file_both_scenarios_read_once() {
    let dir = demo_copy();
    let out = dir.path().join("compare");
    xuequ::request::CompareRequest::new(dir.path().join("scenario.toml"), dir.path().join("scenario_roads.toml"))
        .write(&out)
        .unwrap();
    let mut want: Vec<&str> = DEMO_INPUTS.to_vec();
    want.extend(["scenario_roads.toml", "roads.osm.pbf"]);
    assert_eq!(listed_inputs(&out), want);
}
