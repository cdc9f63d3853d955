//! The lottery re-check of `docs/lottery.md`, done the way an outside auditor would: a
//! ChaCha20 written here from RFC 7539 (not the engine's `xuequ::lottery`, not
//! `rand_chacha`), the documented key, stream and draw layout, and the documented ranking.
//! Every published number must come out: the `lottery` column of `assignments.csv`, and
//! under `tie_break = "multiple"` every per-school number the engine used (the allocation's
//! per-entry lottery and `xuequ::explain`), one number per applicant per school even at a
//! private school with two seat pools.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

// ---------------------------------------------------------------------------------------
// ChaCha20 from RFC 7539 §2.3, with the layout docs/lottery.md describes: the 32-byte key
// is the seed's 8 little-endian bytes then 24 zero bytes; words 12-13 are a 64-bit block
// counter, words 14-15 the 64-bit stream id; one draw is two consecutive keystream words
// read as one little-endian 64-bit number.

fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

fn chacha20_block(key: &[u8; 32], counter: u64, stream: u64) -> [u32; 16] {
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for (i, w) in key.chunks_exact(4).enumerate() {
        init[4 + i] = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    }
    init[12] = counter as u32;
    init[13] = (counter >> 32) as u32;
    init[14] = stream as u32;
    init[15] = (stream >> 32) as u32;
    let mut s = init;
    for _ in 0..10 {
        quarter(&mut s, 0, 4, 8, 12);
        quarter(&mut s, 1, 5, 9, 13);
        quarter(&mut s, 2, 6, 10, 14);
        quarter(&mut s, 3, 7, 11, 15);
        quarter(&mut s, 0, 5, 10, 15);
        quarter(&mut s, 1, 6, 11, 12);
        quarter(&mut s, 2, 7, 8, 13);
        quarter(&mut s, 3, 4, 9, 14);
    }
    for (w, i) in s.iter_mut().zip(init) {
        *w = w.wrapping_add(i);
    }
    s
}

/// The first `n` draws of `stream` under `seed`, as documented.
fn documented_draws(seed: u64, stream: u64, n: usize) -> Vec<u64> {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let mut words = Vec::with_capacity(2 * n + 16);
    let mut counter = 0u64;
    while words.len() < 2 * n {
        words.extend_from_slice(&chacha20_block(&key, counter, stream));
        counter += 1;
    }
    (0..n)
        .map(|i| u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32))
        .collect()
}

/// Documented ranking: applicants are given sorted by id; the one at position `i` takes
/// draw `i`; numbers are ranks 1..n by `(draw, position)`. Returns each id's number.
fn documented_numbers<'a>(seed: u64, stream: u64, ids: &[&'a str]) -> HashMap<&'a str, u32> {
    let mut sorted: Vec<&str> = ids.to_vec();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    sorted.dedup();
    let draws = documented_draws(seed, stream, sorted.len());
    let mut order: Vec<usize> = (0..sorted.len()).collect();
    order.sort_by_key(|&i| (draws[i], i));
    order
        .into_iter()
        .enumerate()
        .map(|(rank, i)| (sorted[i], rank as u32 + 1))
        .collect()
}

fn stage_stream(stage: &str) -> u64 {
    match stage {
        "kindergarten" => 1,
        "primary" => 2,
        "junior" => 3,
        other => panic!("unknown stage {other}"),
    }
}

#[test]
fn own_chacha20_matches_the_rfc_7539_vectors() {
    // §2.3.2: key 00..1f, nonce 00:00:00:09:00:00:00:4a:00:00:00:00, counter 1; in the
    // 64/64 layout that is counter = 1 | 9 << 32 and stream = 0x4a000000.
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    let block = chacha20_block(&key, 1 | (0x0900_0000 << 32), 0x4a00_0000);
    assert_eq!(&block[..4], &[0xe4e7_f110, 0x1559_3bd1, 0x1fdd_0f50, 0xc471_20a3]);
    // All-zero key and nonce: the keystream starts 76 b8 e0 ad a0 f1 3d 90.
    assert_eq!(
        documented_draws(0, 0, 1)[0].to_le_bytes(),
        [0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90]
    );
}

// ---------------------------------------------------------------------------------------
// The published inputs and outputs, read as plain files.

fn rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h.trim_start_matches('\u{feff}') == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

/// Copies a scenario folder, switching the policy's tie-break.
fn copy_with_tie_break(from: &Path, to: &Path, tie_break: &str) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    let policy = fs::read_to_string(to.join("policy.toml")).unwrap();
    assert!(policy.contains("tie_break = \"single\""), "policy names its tie-break");
    let policy = policy.replace("tie_break = \"single\"", &format!("tie_break = \"{tie_break}\""));
    fs::write(to.join("policy.toml"), policy).unwrap();
}

fn seed_of(dir: &Path) -> u64 {
    let policy = fs::read_to_string(dir.join("policy.toml")).unwrap();
    let line = policy
        .lines()
        .find(|l| l.trim_start().starts_with("seed"))
        .expect("the policy publishes its seed");
    let value = line.split('=').nth(1).unwrap().split('#').next().unwrap().trim();
    value.parse().unwrap()
}

/// What a re-check covered, to show it was not vacuous.
#[derive(Debug, Default)]
struct Checked {
    single_numbers: usize,
    school_numbers: usize,
    two_pool_applicants: usize,
}

/// Runs the scenario in `dir`, writes its outputs, and re-checks every number from the
/// files and the documented procedure alone.
fn recheck(dir: &Path) -> Checked {
    let seed = seed_of(dir);
    let data = xuequ::Dataset::load(&dir.join("scenario.toml")).unwrap();
    let allocation = xuequ::allocate(&data);
    let audit = xuequ::audit(&data, &allocation);
    let out = dir.join("out");
    xuequ::write_outputs(&out, &data, &allocation, &audit, Default::default()).unwrap();
    let mut checked = Checked::default();

    // Single lottery: the stage's ids from students.csv, the lottery column of assignments.csv.
    let (sh, students) = rows(&dir.join("students.csv"));
    let (id_c, stage_c) = (column(&sh, "student_id"), column(&sh, "stage"));
    let mut by_stage: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in &students {
        by_stage.entry(r[stage_c].as_str()).or_default().push(r[id_c].as_str());
    }
    let single: HashMap<&str, HashMap<&str, u32>> = by_stage
        .iter()
        .map(|(stage, ids)| (*stage, documented_numbers(seed, stage_stream(stage), ids)))
        .collect();
    let (ah, assignments) = rows(&out.join("assignments.csv"));
    let (aid, astage, alot) = (column(&ah, "student_id"), column(&ah, "stage"), column(&ah, "lottery"));
    assert_eq!(assignments.len(), students.len(), "one row per applicant");
    for r in &assignments {
        let expected = single[r[astage].as_str()][r[aid].as_str()];
        assert_eq!(
            r[alot].parse::<u32>().unwrap(),
            expected,
            "single-lottery number of {} ({})",
            r[aid],
            r[astage]
        );
        checked.single_numbers += 1;
    }

    // Multiple lottery: each school's applicants are those with it on their list.
    let (ch, schools) = rows(&dir.join("schools.csv"));
    let sid = column(&ch, "school_id");
    let mut school_ids: Vec<&str> = schools.iter().map(|r| r[sid].as_str()).collect();
    school_ids.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let ordinal: HashMap<&str, u64> = school_ids.iter().enumerate().map(|(k, id)| (*id, k as u64)).collect();
    let multiple = data.policy.tie_break == xuequ::policy::TieBreak::Multiple;
    for st in &allocation.stages {
        let stage = st.stage.as_str();
        let id = |m: usize| data.cohort.id(st.members[m] as usize);
        let school_of = |e: &xuequ::allocate::Entry| {
            data.city.schools[st.programs[e.program as usize].school as usize]
                .id
                .as_str()
        };
        let mut applicants: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for m in 0..st.members.len() {
            for e in st.list(m) {
                applicants.entry(school_of(e)).or_default().push(id(m));
            }
        }
        let per_school: HashMap<&str, HashMap<&str, u32>> = applicants
            .iter()
            .map(|(school, ids)| {
                let stream = (stage_stream(stage) << 32) | (ordinal[school] + 1);
                (*school, documented_numbers(seed, stream, ids))
            })
            .collect();
        for m in 0..st.members.len() {
            let why = xuequ::explain(&data, &allocation, id(m)).unwrap();
            assert_eq!(
                why.lottery,
                single[stage][id(m)],
                "explain's single number of {}",
                id(m)
            );
            let list = st.list(m);
            assert_eq!(why.choices.len(), list.len());
            let mut pools_at: HashMap<&str, usize> = HashMap::new();
            for (pos, e) in list.iter().enumerate() {
                let school = school_of(e);
                *pools_at.entry(school).or_default() += 1;
                let expected = if multiple {
                    per_school[school][id(m)]
                } else {
                    single[stage][id(m)]
                };
                assert_eq!(
                    why.choices[pos].lottery,
                    expected,
                    "{stage}: number of {} at {school} (list position {}), as explain shows it",
                    id(m),
                    pos + 1
                );
                if multiple {
                    let used = st.priorities.entry_lottery[st.list_start[m] as usize + pos];
                    assert_eq!(
                        used,
                        expected,
                        "{stage}: number the allocation used for {} at {school}",
                        id(m)
                    );
                    checked.school_numbers += 1;
                }
            }
            if pools_at.values().any(|&n| n > 1) {
                checked.two_pool_applicants += 1;
            }
        }
    }
    checked
}

fn demo_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo")
}

fn choice_city(dir: &Path) {
    let config = xuequ_synth::SynthConfig {
        applicants: Some(3_000),
        ..xuequ_synth::SynthConfig::new(xuequ_synth::Preset::Choice { k: 5 })
    };
    xuequ_synth::write_city(&config, dir, &mut |_| {}).unwrap();
}

#[test]
fn demo_single_lottery_numbers_are_reproduced_from_the_docs() {
    let dir = tempfile::tempdir().unwrap();
    copy_with_tie_break(&demo_dir(), dir.path(), "single");
    let c = recheck(dir.path());
    assert_eq!(c.single_numbers, 3000, "{c:?}");
}

#[test]
fn demo_multiple_lottery_numbers_are_reproduced_from_the_docs() {
    let dir = tempfile::tempdir().unwrap();
    copy_with_tie_break(&demo_dir(), dir.path(), "multiple");
    let c = recheck(dir.path());
    assert_eq!(c.single_numbers, 3000, "{c:?}");
    assert!(c.school_numbers > 3000, "{c:?}");
    assert!(
        c.two_pool_applicants > 0,
        "some applicant lists both pools of a private school: {c:?}"
    );
}

#[test]
fn choice_market_single_lottery_numbers_are_reproduced_from_the_docs() {
    let city = tempfile::tempdir().unwrap();
    choice_city(city.path());
    let dir = tempfile::tempdir().unwrap();
    copy_with_tie_break(city.path(), dir.path(), "single");
    let c = recheck(dir.path());
    assert!(c.single_numbers >= 2_900, "{c:?}");
    assert!(c.two_pool_applicants > 0, "{c:?}");
}

#[test]
fn choice_market_multiple_lottery_numbers_are_reproduced_from_the_docs() {
    let city = tempfile::tempdir().unwrap();
    choice_city(city.path());
    let dir = tempfile::tempdir().unwrap();
    copy_with_tie_break(city.path(), dir.path(), "multiple");
    let c = recheck(dir.path());
    assert!(c.school_numbers > c.single_numbers, "{c:?}");
    assert!(
        c.two_pool_applicants > 0,
        "private schools with purchased seats are listed twice: {c:?}"
    );
}
