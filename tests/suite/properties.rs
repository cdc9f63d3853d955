//! Invariants on many small random cities, through the real loader, for every mechanism and
//! tie-break: the audit passes, results are reproducible, independent of thread count and of
//! the order of rows in students.csv.

use proptest::prelude::*;
use xuequ_suite::RandomCity;

const MECHANISMS: [&str; 3] = ["deferred_acceptance", "immediate_acceptance", "serial_dictatorship"];

fn run(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>, xuequ::AuditReport) {
    let data = xuequ::Dataset::load(&dir.join("scenario.toml")).unwrap();
    let alloc = xuequ::allocate(&data);
    let report = xuequ::audit(&data, &alloc);
    let opts = xuequ::WriteOptions::default();
    (
        xuequ::output::assignments_csv(&data, &alloc, opts),
        xuequ::output::schools_summary_csv(&data, &alloc, opts),
        report,
    )
}

fn city(seed: u64, mechanism: usize, multiple: bool, choices: bool) -> (tempfile::TempDir, RandomCity) {
    let mut c = RandomCity::small(seed);
    c.policy_head = format!(
        "mechanism = \"{}\"\ntie_break = \"{}\"\ncandidates = \"{}\"\n",
        MECHANISMS[mechanism],
        if multiple { "multiple" } else { "single" },
        if choices { "choices" } else { "zone_then_overflow" }
    );
    let dir = tempfile::tempdir().unwrap();
    c.write(dir.path()).unwrap();
    (dir, c)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn audit_passes_and_runs_reproduce(seed in any::<u64>(), mechanism in 0usize..3, multiple in any::<bool>(), choices in any::<bool>()) {
        let (dir, _) = city(seed, mechanism, multiple, choices);
        let (a1, s1, report) = run(dir.path());
        prop_assert!(report.passed(), "{:#?}", report.checks);
        let (a2, s2, _) = run(dir.path());
        prop_assert_eq!(&a1, &a2);
        prop_assert_eq!(&s1, &s2);
        // One thread gives the same bytes as several.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let (a3, s3, _) = pool.install(|| run(dir.path()));
        prop_assert_eq!(&a1, &a3);
        prop_assert_eq!(&s1, &s3);
    }

    #[test]
    fn row_order_of_students_does_not_change_results(seed in any::<u64>(), mechanism in 0usize..3, multiple in any::<bool>()) {
        let (dir, _) = city(seed, mechanism, multiple, false);
        let (a1, _, _) = run(dir.path());
        let path = dir.path().join("students.csv");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        let header = lines.remove(0);
        lines.reverse();
        std::fs::write(&path, format!("{header}\n{}\n", lines.join("\n"))).unwrap();
        let (a2, _, _) = run(dir.path());
        let sorted = |b: &[u8]| {
            let t = String::from_utf8(b.to_vec()).unwrap();
            let mut v: Vec<String> = t.lines().map(String::from).collect();
            v.sort();
            v
        };
        prop_assert_eq!(sorted(&a1), sorted(&a2));
    }

    #[test]
    fn every_applicant_once_and_no_school_over_capacity(seed in any::<u64>(), mechanism in 0usize..3) {
        let (dir, c) = city(seed, mechanism, false, false);
        let (a, s, _) = run(dir.path());
        let text = String::from_utf8(a).unwrap();
        let rows: Vec<&str> = text.lines().skip(1).collect();
        prop_assert_eq!(rows.len(), c.students);
        let mut ids: Vec<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), c.students);
        let summary = String::from_utf8(s).unwrap();
        for row in summary.lines().skip(1) {
            let f: Vec<&str> = row.split(',').collect();
            let (cap, assigned): (u32, u32) = (f[1].parse().unwrap(), f[2].parse().unwrap());
            prop_assert!(assigned <= cap, "{}", row);
        }
    }
}
