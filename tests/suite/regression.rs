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
