#![allow(clippy::unwrap_used)]

use super::from_list::phrases;
use super::{MatchKind, NameIndex, key, normalise};
use crate::model::{Block, BlockStatus, City, Location};

#[test]
fn normalise_folds_widths_brackets_spaces_and_phases() {
    assert_eq!(normalise("碧桂园名邸（２期）"), normalise("碧桂园名邸二期"));
    assert_eq!(normalise(" 万科 城 (东区) "), "万科城东区");
    assert_eq!(normalise("新城家园第三期"), "新城家园三期");
    assert_eq!(normalise("ＡＢＣ花园"), "abc花园");
    assert_eq!(normalise("人民路1-99号"), "人民路199号");
}

#[test]
fn key_drops_generic_endings_and_splits_phase_and_part() {
    assert_eq!(key("风雅小区").0, key("风雅苑").0);
    assert_eq!(key("钱桥花园一期"), ("钱桥".into(), "一期".into(), String::new()));
    assert_eq!(key("万科城东区二期"), ("万科城".into(), "二期".into(), "东区".into()));
    // A name that is only an ending keeps it.
    assert_eq!(key("花园").0, "花园");
}

#[test]
fn phrases_split_expand_and_keep_street_ranges() {
    assert_eq!(
        phrases("安镇湾一期、二期，万科城（东区、西区）；人民路1-99号单号\n梅园悦府等"),
        vec![
            "安镇湾一期",
            "安镇湾二期",
            "万科城东区",
            "万科城西区",
            "人民路1-99号单号",
            "梅园悦府"
        ]
    );
    assert_eq!(phrases("碧桂园名邸（二期）"), vec!["碧桂园名邸（二期）"]);
    assert!(phrases(" 、，").is_empty());
}

fn city(names: &[(&str, u32)]) -> City {
    let mut c = City::default();
    c.districts = vec!["梁溪区".into(), "滨湖区".into()];
    for (i, (n, d)) in names.iter().enumerate() {
        c.blocks.push(Block {
            id: format!("B{i}"),
            name: n.to_string(),
            district: *d,
            location: Location::from_wgs84(120.3, 31.5),
            households: 100,
            status: BlockStatus::Existing,
            move_in_year: None,
            planned_households: None,
        });
    }
    c
}

#[test]
fn resolve_prefers_the_schools_district_and_reports_ambiguity() {
    let c = city(&[
        ("风雅苑", 0),
        ("风雅苑", 1),
        ("风雅小区四期", 0),
        ("安镇湾一期", 0),
        ("安镇湾二期", 0),
    ]);
    let idx = NameIndex::new(&c);
    let r = idx.resolve("风雅苑", Some(1));
    assert_eq!((r.kind, r.blocks.clone()), (MatchKind::Exact, vec![1]));
    let r = idx.resolve("风雅苑", None);
    assert_eq!((r.kind, r.candidates.clone()), (MatchKind::Ambiguous, vec![0, 1]));
    // 风雅小区 has no phase: the block without one, not 风雅小区四期.
    let r = idx.resolve("风雅小区", Some(0));
    assert_eq!((r.kind, r.blocks.clone()), (MatchKind::Fuzzy, vec![0]));
    let r = idx.resolve("风雅小区（4期）", Some(0));
    assert_eq!((r.kind, r.blocks.clone()), (MatchKind::Normalised, vec![2]));
    // An estate without a phase covers its phases.
    let r = idx.resolve("安镇湾", Some(0));
    assert_eq!((r.kind, r.blocks.clone()), (MatchKind::Fuzzy, vec![3, 4]));
    // A typo one character off.
    let r = idx.resolve("安镇湾一朝", Some(0));
    assert_eq!((r.kind, r.blocks.clone()), (MatchKind::Fuzzy, vec![3]));
    let r = idx.resolve("人民路1-99号单号", Some(0));
    assert_eq!(r.kind, MatchKind::Unmatched);
}

#[test]
fn search_ranks_exact_then_normalised_then_containing() {
    let c = city(&[("万科城二期", 0), ("万科城", 0), ("万科城市花园", 1), ("梅园", 0)]);
    let idx = NameIndex::new(&c);
    let found = idx.search("万科城", 10);
    assert_eq!(found[0], (1, MatchKind::Exact));
    assert!(found.iter().any(|&(b, _)| b == 0) && found.iter().any(|&(b, _)| b == 2));
    assert!(found.iter().all(|&(b, _)| b != 3));
    assert!(idx.search("", 5).is_empty());
}
