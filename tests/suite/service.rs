//! The service's answers from a run's folder written by the library: odds against the
//! Monte Carlo result itself, explanations with the run's seed.

use std::collections::BTreeMap;
use std::path::Path;

use xuequ::service::params::{Route, parse_request};
use xuequ::service::{ServiceData, ServiceOptions};

fn demo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/scenario.toml")
}

/// Writes a run of the demo with `seed` and `draws` lotteries into `out`, as `xuequ run`
/// does; returns the dataset and the risk.
fn run_into(out: &Path, seed: u64, draws: u32) -> (xuequ::Dataset, xuequ::risk::Risk) {
    let mut data = xuequ::Dataset::load(&demo()).unwrap();
    data.policy.seed = seed;
    let allocation = xuequ::allocate(&data);
    let report = xuequ::audit(&data, &allocation);
    let mut set = xuequ::io::OutputSet::begin(out, "run").unwrap();
    set.seed(seed);
    xuequ::output::write_outputs_into(&mut set, &data, &allocation, &report, Default::default()).unwrap();
    let risk = xuequ::risk::lottery_risk(&data, xuequ::risk::RiskParams { draws }, &|_, _| {});
    xuequ::risk::write_risk(&mut set, &data, &risk, Default::default()).unwrap();
    set.commit().unwrap();
    (data, risk)
}

fn answer(service: &ServiceData, path: &str, query: Option<&str>) -> serde_json::Value {
    match parse_request(path, query).unwrap() {
        Route::Data(r) => serde_json::from_slice(&service.answer(&r).unwrap()).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn odds_per_tier_are_the_monte_carlo_shares() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let (data, risk) = run_into(&out, 20260701, 30);
    let service = ServiceData::load(
        &demo(),
        ServiceOptions {
            results: Some(out),
            ..Default::default()
        },
    )
    .unwrap();
    let allocation = xuequ::allocate(&data);
    // The oracle: straight from the risk counts, each applicant's tier read off their list.
    let mut checked = 0;
    for (st, sr) in allocation.stages.iter().zip(&risk.stages) {
        let mut groups: BTreeMap<(u32, String), Vec<f64>> = BTreeMap::new();
        for (m, a) in sr.applicants.iter().enumerate() {
            assert_eq!(st.members[m], a.student);
            let block = data.cohort.students[a.student as usize].block;
            let tier = st.list(m).iter().find(|e| e.via == xuequ::allocate::Via::Zone).map_or(
                xuequ::service::NO_ZONE_SCHOOL.to_string(),
                |e| {
                    st.tier_name(st.programs[e.program as usize].kind, u32::from(e.tier))
                        .to_string()
                },
            );
            // As the CSV holds it: 4 decimals.
            let share: f64 = format!("{:.4}", f64::from(a.zone_school) / f64::from(risk.draws))
                .parse()
                .unwrap();
            groups.entry((block, tier)).or_default().push(share);
        }
        for ((block, tier), shares) in &groups {
            let id = &data.city.blocks[*block as usize].id;
            let query = format!("block={id}&stage={}&tier={}", st.stage, encode(tier));
            let v = answer(&service, "/v1/odds", Some(&query));
            let selected = &v["selected"];
            assert_eq!(selected["applicants"], shares.len(), "{query}");
            let mean: f64 = format!("{:.4}", shares.iter().sum::<f64>() / shares.len() as f64)
                .parse()
                .unwrap();
            assert_eq!(selected["p_zone_school_mean"].as_f64().unwrap(), mean, "{query}");
            let min = shares.iter().copied().fold(f64::INFINITY, f64::min);
            assert_eq!(selected["p_zone_school_min"].as_f64().unwrap(), min, "{query}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn the_runs_seed_decides_the_explanations() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let (data, _) = run_into(&out, 7, 2);
    let service = ServiceData::load(
        &demo(),
        ServiceOptions {
            results: Some(out.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(service.dataset().policy.seed, 7);
    let allocation = xuequ::allocate(&data);
    for i in (0..data.cohort.students.len()).step_by(97) {
        let id = data.cohort.id(i);
        let want = xuequ::explain(&data, &allocation, id).unwrap().to_string();
        let v = answer(&service, &format!("/v1/applicants/{id}/explain"), None);
        assert_eq!(v["text"], want.as_str());
    }
    // The folder of another seed's run does not fit the scenario's allocation with this seed
    // once the manifest says otherwise.
    let manifest = out.join("manifest.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("\"seed\": 7", "\"seed\": 8");
    std::fs::write(&manifest, text).unwrap();
    let err = ServiceData::load(
        &demo(),
        ServiceOptions {
            results: Some(out),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("assignments.csv"), "{err}");
}

fn encode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}
