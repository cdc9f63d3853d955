//! The plain deferred-acceptance baseline (`examples/baseline_da.rs`) gives exactly xuequ's
//! assignments on synthetic choice markets, so timing the two compares identical results.

use std::collections::BTreeSet;

use xuequ_synth::{Preset, SynthConfig};

#[allow(dead_code)]
#[path = "../../examples/baseline_da.rs"]
mod baseline_da;

/// (student id, school id, tier name) per applicant from xuequ's allocation, in file order.
fn xuequ_assignments(data: &xuequ::Dataset, allocation: &xuequ::Allocation) -> Vec<baseline_da::Assignment> {
    (0..data.cohort.students.len() as u32)
        .map(|i| {
            let id = data.cohort.id(i as usize).to_string();
            let (st, m) = allocation.find(i).unwrap();
            let p = st.placements[m];
            if !p.is_placed() {
                return (id, String::new(), String::new());
            }
            let program = st.programs[p.program as usize];
            let school = data.city.schools[program.school as usize].id.clone();
            (id, school, st.tier_name(program.kind, p.tier).to_string())
        })
        .collect()
}

#[test]
fn baseline_assignments_equal_xuequs_on_synthetic_choice_markets() {
    let cases = [
        (Preset::Choice { k: 10 }, 1_500, 11),
        (Preset::Choice { k: 5 }, 8_000, 2),
        (Preset::Choice { k: 10 }, 30_000, 5),
        // Above 100,000 applicants the city is replicated: 2 copies, 14 districts.
        (Preset::Choice { k: 5 }, 120_000, 9),
    ];
    let mut tiers: BTreeSet<String> = BTreeSet::new();
    for (preset, n, seed) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config = SynthConfig {
            preset,
            applicants: Some(n),
            seed,
            year: 2026,
        };
        xuequ_synth::write_city(&config, dir.path(), &mut |_| {}).unwrap();
        let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
        let allocation = xuequ::allocate(&data);
        let ours = xuequ_assignments(&data, &allocation);
        let theirs = baseline_da::run(dir.path());
        assert_eq!(ours.len(), theirs.len(), "{preset} {n}");
        let differ = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ,
            0,
            "{preset} {n} seed {seed}: {differ} assignments differ, first {:?}",
            ours.iter().zip(&theirs).find(|(a, b)| a != b)
        );
        tiers.extend(ours.iter().map(|a| a.2.clone()));
    }
    // The instances exercise the rules: every tier of the choice market, private lottery
    // seats, and applicants left without a seat (no final pass in a choice market: "").
    assert_eq!(tiers.len(), 8, "tiers {tiers:?}");
}
