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
