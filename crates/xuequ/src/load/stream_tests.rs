//! `students.csv` read a window at a time against the file read whole: the same cohort and
//! the same problems in the same order whenever the windows are taken, and nothing taken
//! (the file to be read whole) when the text is not UTF-8 without quotes or its header has a
//! problem.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

/// Schools S0–S2 and J0, blocks B0–B5.
fn city() -> City {
    let mut city = City::default();
    let mut diags = Diagnostics::default();
    let mut text = String::from("school_id,name,district,stage,sector,lon,lat,capacity\n");
    for s in 0..3 {
        text.push_str(&format!("S{s},School {s},A,primary,public,120.{s:03},31.5,100\n"));
    }
    text.push_str("J0,Junior,A,junior,public,120.1,31.5,100\n");
    read_schools(text.as_bytes(), "schools.csv", Crs::Wgs84, &mut city, &mut diags);
    let mut text = String::from("block_id,name,district,lon,lat,households\n");
    for b in 0..6 {
        text.push_str(&format!("B{b},Block {b},A,120.{b:03},31.6,10\n"));
    }
    read_blocks(text.as_bytes(), "blocks.csv", Crs::Wgs84, &mut city, &mut diags);
    assert!(diags.is_empty(), "{diags}");
    city
}

/// One row: good, or with a problem (unknown block or school, bad stage or flag, a repeated
/// id, an empty required cell), or a blank line.
fn row(kind: u8, n: usize) -> String {
    let (id, stage, block, flag, choices) = match kind {
        0 => (format!("A{n}"), "primary", format!("B{}", n % 6), "true", "S0;S1"),
        1 => (format!("A{n}"), "junior", format!("B{}", n % 6), "false", "J0"),
        2 => (format!("A{n}"), "primary", "B9".to_string(), "true", "S2"),
        3 => (format!("A{n}"), "kindergarten", "B1".to_string(), "true", ""),
        4 => (format!("A{n}"), "primary", "B2".to_string(), "maybe", "S0"),
        5 => (format!("A{}", n / 2), "primary", "B3".to_string(), "true", "S1;S7"),
        6 => (String::new(), "primary", "B0".to_string(), "true", "S0"),
        _ => return String::new(),
    };
    format!("{id},{stage},{block},{flag},H{},{},{choices}", n % 7, n % 11)
}

/// A whole `students.csv`: optional byte-order mark, LF or CRLF line ends.
fn file(bom: bool, crlf: bool, header: &str, rows: &[(u8, usize)]) -> Vec<u8> {
    let end = if crlf { "\r\n" } else { "\n" };
    let mut text = String::from(if bom { "\u{feff}" } else { "" });
    text.push_str(header);
    text.push_str(end);
    for &(kind, n) in rows {
        text.push_str(&row(kind, n));
        text.push_str(end);
    }
    text.into_bytes()
}

const HEADER: &str = "student_id,stage,block_id,hukou_in_zone,property_id,score,choices";

/// What a read left: the cohort's applicants, ids, properties, choices and extra columns,
/// and every problem.
fn outcome(cohort: &Cohort, diags: &Diagnostics) -> String {
    let ids: Vec<&str> = (0..cohort.students.len()).map(|i| cohort.id(i)).collect();
    let properties: Vec<&str> = (0..cohort.property_count()).map(|i| cohort.property_id(i)).collect();
    let mut extra: Vec<_> = cohort.extra.iter().collect();
    extra.sort_by(|a, b| a.0.cmp(b.0));
    format!(
        "{:?}\n{ids:?}\n{properties:?}\n{:?}\n{extra:?}\n{:?}\nomitted {}",
        cohort.students,
        cohort.choices,
        diags.items(),
        diags.omitted
    )
}

/// No policy column named at a policy line.
static NO_SITES: BTreeMap<String, Diagnostic> = BTreeMap::new();

/// A read of `students.csv` in `city`, the policy reading the `extra` columns.
fn students_read<'a>(city: &'a City, extra: &'a [String]) -> StudentsRead<'a> {
    StudentsRead {
        file: "students.csv",
        city,
        extra,
        sites: &NO_SITES,
    }
}

/// Reads `bytes` a window of `window` bytes at a time.
fn streamed(bytes: &[u8], window: usize, extra: &[String], city: &City) -> (Streamed, Cohort, Diagnostics) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("students.csv");
    std::fs::write(&path, bytes).unwrap();
    let mut cohort = Cohort::default();
    let mut diags = Diagnostics::with_cap(Diagnostics::DEFAULT_CAP);
    let got = students_read(city, extra)
        .streamed(&path, window, &mut cohort, &mut diags)
        .unwrap();
    (got, cohort, diags)
}

/// Reads `bytes` whole, as the loader did before windows.
fn whole(bytes: &[u8], extra: &[String], city: &City) -> (Cohort, Diagnostics) {
    let mut cohort = Cohort::default();
    let mut diags = Diagnostics::with_cap(Diagnostics::DEFAULT_CAP);
    students_read(city, extra).whole(bytes, &mut cohort, &mut diags);
    (cohort, diags)
}

fn rows() -> impl Strategy<Value = Vec<(u8, usize)>> {
    proptest::collection::vec(
        (prop_oneof![6 => Just(0u8), 6 => Just(1u8), 1 => 2u8..8], 0usize..400),
        0..160,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    /// Windows of any size give the cohort and the problems of the whole read: rows cut
    /// anywhere, repeated ids in different windows, CRLF, a byte-order mark, the policy's
    /// extra column, more problems than the cap keeps.
    #[test]
    fn windows_read_as_the_whole_file_does(
        rows in rows(),
        bom in any::<bool>(),
        crlf in any::<bool>(),
        window in 1usize..300,
        with_extra in any::<bool>(),
    ) {
        let city = city();
        let bytes = file(bom, crlf, HEADER, &rows);
        let extra: Vec<String> = if with_extra { vec!["score".to_string()] } else { Vec::new() };
        let (got, cohort, diags) = streamed(&bytes, window, &extra, &city);
        prop_assert!(matches!(got, Streamed::Read(_)), "{:?}", got);
        let (want_cohort, want_diags) = whole(&bytes, &extra, &city);
        prop_assert_eq!(outcome(&cohort, &diags), outcome(&want_cohort, &want_diags));
    }

    /// A quote, a byte that is not UTF-8 (a GBK file), a UTF-16 file, a header without a
    /// required column or without the policy's column: anywhere in the file, the windows
    /// stop, leave the cohort empty and ask for the file to be read whole.
    #[test]
    fn text_the_windows_cannot_take_is_left_whole(
        rows in rows(),
        window in 1usize..300,
        flaw in 0u8..5,
        at in any::<prop::sample::Index>(),
    ) {
        let city = city();
        let mut extra = Vec::new();
        let bytes = match flaw {
            0 | 1 => {
                let mut bytes = file(false, false, HEADER, &rows);
                let at = at.index(bytes.len() + 1);
                // A quoted cell, or a GBK-encoded name.
                let inserted: &[u8] = if flaw == 0 { b"\"a\"" } else { b"\xb0\xa1" };
                bytes.splice(at..at, inserted.iter().copied());
                bytes
            }
            2 => {
                let text = String::from_utf8(file(false, false, HEADER, &rows)).unwrap();
                let mut bytes = vec![0xff, 0xfe];
                bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
                bytes
            }
            3 => file(false, false, "student_id,stage,hukou_in_zone,choices", &rows),
            _ => {
                extra.push("income".to_string());
                file(false, false, HEADER, &rows)
            }
        };
        let (got, cohort, _) = streamed(&bytes, window, &extra, &city);
        prop_assert_eq!(got, Streamed::ReadWhole);
        prop_assert!(cohort.students.is_empty() && cohort.choices.is_empty() && cohort.id_text.is_empty());
        prop_assert_eq!(cohort.property_count(), 0);
    }
}

#[test]
fn an_empty_file_is_left_whole() {
    let city = city();
    assert_eq!(streamed(b"", 16, &[], &city).0, Streamed::ReadWhole);
    assert_eq!(streamed(b"\xef\xbb\xbf", 16, &[], &city).0, Streamed::ReadWhole);
}

#[test]
fn a_missing_file_is_an_error() {
    let city = city();
    let mut cohort = Cohort::default();
    let mut diags = Diagnostics::default();
    let missing = Path::new("/nonexistent/students.csv");
    let e = students_read(&city, &[])
        .streamed(missing, 64, &mut cohort, &mut diags)
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}
