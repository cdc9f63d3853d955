//! Monte Carlo admission risk.

use std::path::Path;

fn tiny() -> xuequ::Dataset {
    xuequ::Dataset::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny/scenario.toml")).unwrap()
}

#[test]
fn odds_are_reproducible_at_any_thread_count_and_match_the_rules() {
    let data = tiny();
    let params = xuequ::risk::RiskParams { draws: 64 };
    let two = xuequ::risk::lottery_risk(&data, params, &|_, _| {});
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let one = pool.install(|| xuequ::risk::lottery_risk(&data, params, &|_, _| {}));
    assert_eq!(one, two);
    let primary = &two.stages[0];
    let odds = |id: &str| {
        let i = data.cohort.student(id).unwrap();
        primary.applicants.iter().find(|a| a.student == i).unwrap().clone()
    };
    // 房户一致 and the high-points migrant always win P1's two seats; the locked owner never does.
    assert_eq!(odds("A").zone_school, 64);
    assert_eq!(odds("MIG_HI").zone_school, 64);
    assert_eq!(odds("LOCKED").zone_school, 0);
    for a in &primary.applicants {
        assert!(a.zone_school <= 64 && a.first_choice <= 64 && a.unplaced <= 64);
    }
    // The private school's two lottery seats go to its two applicants in every draw.
    assert_eq!(odds("C1").first_choice, 64);
    let m1 = data.city.school("M1").unwrap();
    let m1 = primary.schools.iter().find(|s| s.school == m1).unwrap();
    assert_eq!(m1.full, 64);
    assert_eq!(m1.cutoff_tiers.get("民办摇号"), Some(&64));
}

#[test]
fn zero_draws_is_empty_but_well_formed() {
    let data = tiny();
    let r = xuequ::risk::lottery_risk(&data, xuequ::risk::RiskParams { draws: 0 }, &|_, _| {});
    assert!(
        r.stages
            .iter()
            .all(|s| s.schools.iter().all(|x| x.cutoff_lottery.is_none()))
    );
    let dir = tempfile::tempdir().unwrap();
    xuequ::io::write_set(dir.path(), "run", |s| {
        xuequ::risk::write_risk(s, &data, &r, Default::default())
    })
    .unwrap();
}

/// Splits `0..draws` at the given cut points (deduplicated, sorted, within range).
fn split(draws: u32, cuts: &[u32]) -> Vec<std::ops::Range<u32>> {
    let mut points: Vec<u32> = cuts.iter().map(|c| c % (draws + 1)).collect();
    points.extend([0, draws]);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| w[0]..w[1]).collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Tallies of any split of the draws, merged in any order, finish into the single run.
    #[test]
    fn merged_tallies_equal_the_single_run(
        draws in 0u32..48,
        cuts in proptest::collection::vec(0u32..64, 0..6),
        rotate in 0usize..8,
    ) {
        let data = tiny();
        let single = xuequ::risk::lottery_risk(&data, xuequ::risk::RiskParams { draws }, &|_, _| {});
        let mut parts: Vec<xuequ::risk::RiskTally> =
            split(draws, &cuts).into_iter().map(|r| xuequ::risk::tally_draws(&data, r)).collect();
        if !parts.is_empty() {
            let n = parts.len();
            parts.rotate_left(rotate % n);
        }
        let mut merged = xuequ::risk::tally_draws(&data, 0..0);
        for p in &parts {
            // Each part survives a trip through JSON, as between processes.
            let shipped: xuequ::risk::RiskTally = serde_json::from_slice(&serde_json::to_vec(p).unwrap()).unwrap();
            merged.merge(&shipped).unwrap();
        }
        proptest::prop_assert_eq!(merged.draws(), draws);
        proptest::prop_assert_eq!(merged.finish(), single);
    }
}

#[test]
fn tallies_refuse_double_counting_and_other_scenarios() {
    let data = tiny();
    let mut a = xuequ::risk::tally_draws(&data, 0..10);
    let b = xuequ::risk::tally_draws(&data, 5..12);
    assert_eq!(a.merge(&b), Err(xuequ::risk::MergeError::Overlap { start: 5, end: 10 }));
    let mut reseeded = data.clone();
    reseeded.policy.seed += 1;
    assert_eq!(
        a.merge(&xuequ::risk::tally_draws(&reseeded, 10..12)),
        Err(xuequ::risk::MergeError::DifferentScenario)
    );
    // A refused merge leaves the tally as it was; adjacent ranges join.
    assert_eq!(a.ranges(), vec![0..10]);
    a.merge(&xuequ::risk::tally_draws(&data, 10..12)).unwrap();
    assert_eq!(a.ranges(), vec![0..12]);
}

#[test]
fn draw_chunks_cover_the_draws_once_in_order() {
    for draws in 0..40 {
        for size in 0..12 {
            let chunks = xuequ::risk::draw_chunks(draws, size);
            let flat: Vec<u32> = chunks.iter().flat_map(Clone::clone).collect();
            assert_eq!(flat, (0..draws).collect::<Vec<_>>(), "{draws} draws by {size}");
            assert!(
                chunks
                    .iter()
                    .all(|c| !c.is_empty() && (size == 0 || c.len() <= size as usize))
            );
        }
    }
}
