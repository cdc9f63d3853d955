//! Kill -9 at any moment: `run` (with `--xlsx` and `--lotteries`), `compare`, `zone`,
//! `forecast` and `site` on the bundled demo are killed after a spread of seeded delays
//! while they overwrite a complete earlier set. After every kill the folder holds exactly
//! the earlier set or the complete new one (every file its manifest lists, with that size
//! and SHA-256, and nothing else but folders); the next normal run cleans every staging
//! folder the killed runs left beside it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Arguments with `{out}` and `{dir}` (a scratch folder) filled in.
fn fill(args: &[&str], out: &Path, dir: &Path) -> Vec<String> {
    args.iter()
        .map(|a| {
            a.replace("{out}", out.to_str().unwrap())
                .replace("{dir}", dir.to_str().unwrap())
                .replace("{demo}", root().join("data/demo/scenario.toml").to_str().unwrap())
        })
        .collect()
}

fn xuequ(args: &[String]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_xuequ"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs to completion; returns how long it took.
fn complete(args: &[String]) -> Duration {
    let start = Instant::now();
    let status = xuequ(args).wait().unwrap();
    assert!(status.success(), "xuequ {args:?} failed");
    start.elapsed()
}

/// A manifest's file list: (name, bytes, sha256).
type Files = Vec<(String, u64, String)>;

fn listed(dir: &Path) -> Files {
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap())
        .unwrap_or_else(|e| panic!("{}: manifest.json unreadable: {e}", dir.display()));
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["bytes"].as_u64().unwrap(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The folder holds one complete set: every listed file with its size and hash, nothing
/// unlisted but folders. Returns the set.
fn complete_set(dir: &Path, context: &str) -> Files {
    assert!(dir.join("manifest.json").is_file(), "{context}: no manifest.json");
    let files = listed(dir);
    for (name, bytes, sha) in &files {
        let content = fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{context}: {name} listed but {e}"));
        assert_eq!(content.len() as u64, *bytes, "{context}: size of {name}");
        assert_eq!(&sha256_hex(&content), sha, "{context}: sha256 of {name}");
    }
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() || name == "manifest.json" {
            continue;
        }
        assert!(
            files.iter().any(|f| f.0 == name),
            "{context}: {name} is not in the manifest"
        );
    }
    files
}

/// Seeded delays (xorshift), stratified over `0..=span` so short and long ones both occur.
fn delays(seed: u64, n: u32, span: Duration) -> Vec<Duration> {
    let mut x = seed | 1;
    (0..n)
        .map(|k| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            span.mul_f64((f64::from(k) + u) / f64::from(n))
        })
        .collect()
}

struct Case {
    name: &'static str,
    /// The earlier complete set.
    a: &'static [&'static str],
    /// The run that is killed: other outputs into the same folder.
    b: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "run",
        a: &[
            "run",
            "{demo}",
            "--out",
            "{out}",
            "--xlsx",
            "--lotteries",
            "20",
            "--quiet",
        ],
        b: &[
            "run",
            "{demo}",
            "--out",
            "{out}",
            "--xlsx",
            "--lotteries",
            "20",
            "--seed",
            "7",
            "--quiet",
        ],
    },
    Case {
        name: "compare",
        a: &["compare", "{demo}", "{dir}/alt.toml", "--out", "{out}"],
        b: &["compare", "{dir}/alt.toml", "{demo}", "--out", "{out}"],
    },
    Case {
        name: "zone",
        a: &["zone", "{demo}", "--stage", "primary", "--out", "{out}", "--quiet"],
        b: &[
            "zone",
            "{demo}",
            "--stage",
            "primary",
            "--stability",
            "500",
            "--out",
            "{out}",
            "--quiet",
        ],
    },
    Case {
        name: "forecast",
        a: &["forecast", "{demo}", "--years", "5", "--out", "{out}", "--quiet"],
        b: &["forecast", "{demo}", "--years", "6", "--out", "{out}", "--quiet"],
    },
    Case {
        name: "site",
        a: &[
            "site",
            "{demo}",
            "--stage",
            "primary",
            "--new-schools",
            "3",
            "--sites",
            "{dir}/sites.csv",
            "--out",
            "{out}",
            "--quiet",
        ],
        b: &[
            "site",
            "{demo}",
            "--stage",
            "primary",
            "--new-schools",
            "2",
            "--sites",
            "{dir}/sites.csv",
            "--out",
            "{out}",
            "--quiet",
        ],
    },
];

/// Candidate sites beside every fifth demo block, and an alternative scenario for compare.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut r = csv::Reader::from_path(root().join("data/demo/blocks.csv")).unwrap();
    let mut sites = String::from("site_id,name,district,lon,lat,capacity\n");
    for (k, b) in r.records().step_by(5).enumerate() {
        let b = b.unwrap();
        let lon: f64 = b[3].parse().unwrap();
        sites.push_str(&format!(
            "X{k:03},{}地块,{},{:.6},{},90\n",
            &b[1],
            &b[2],
            lon + 0.0005,
            &b[4]
        ));
    }
    fs::write(dir.path().join("sites.csv"), sites).unwrap();
    let demo = root().join("data/demo/scenario.toml");
    fs::write(
        dir.path().join("alt.toml"),
        format!(
            "name = \"关闭一所小学\"\nbase = \"{}\"\n[[edit]]\nkind = \"close_school\"\nschool_id = \"P0001\"\n",
            demo.display()
        ),
    )
    .unwrap();
    dir
}

/// Staging folders beside `out`.
fn leftovers(out: &Path) -> Vec<String> {
    let prefix = format!(".{}.xuequ-staging-", out.file_name().unwrap().to_string_lossy());
    fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

fn kill_at_any_moment(case: &Case, seed: u64, tries: u32) {
    let dir = scratch();
    let out = dir.path().join("out");
    let (a, b) = (fill(case.a, &out, dir.path()), fill(case.b, &out, dir.path()));
    // The new set as a complete run writes it, in a folder of its own.
    let reference = dir.path().join("reference");
    let took = complete(&fill(case.b, &reference, dir.path()));
    let set_b = complete_set(&reference, &format!("{}: reference", case.name));
    complete(&a);
    let set_a = complete_set(&out, &format!("{}: first run", case.name));
    assert_ne!(set_a, set_b, "{}: the killed run must write other outputs", case.name);
    // A little past the full run time, so some runs finish before the kill.
    let (mut held_a, mut held_b, mut staged) = (0, 0, 0);
    for (k, delay) in delays(seed, tries, took.mul_f64(1.2)).into_iter().enumerate() {
        let mut child = xuequ(&b);
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        let context = format!("{}: try {k}, killed after {delay:?} of {took:?}", case.name);
        let now = complete_set(&out, &context);
        assert!(
            now == set_a || now == set_b,
            "{context}: the folder holds neither the earlier set nor the new one"
        );
        held_a += usize::from(now == set_a);
        held_b += usize::from(now == set_b);
        staged += usize::from(!leftovers(&out).is_empty());
    }
    eprintln!(
        "{}: {tries} kills over {took:?}: {held_a} left the earlier set, {held_b} the new one; {staged} left a staging folder",
        case.name
    );
    complete(&b);
    assert_eq!(complete_set(&out, case.name), set_b);
    assert!(
        leftovers(&out).is_empty(),
        "{}: a normal run leaves staging folders: {:?}",
        case.name,
        leftovers(&out)
    );
}

#[test]
fn kill_run_at_any_moment_leaves_one_complete_set() {
    kill_at_any_moment(&CASES[0], 0x5eed_0001, 8);
}

#[test]
fn kill_compare_at_any_moment_leaves_one_complete_set() {
    kill_at_any_moment(&CASES[1], 0x5eed_0002, 6);
}

#[test]
fn kill_zone_at_any_moment_leaves_one_complete_set() {
    kill_at_any_moment(&CASES[2], 0x5eed_0003, 6);
}

#[test]
fn kill_forecast_at_any_moment_leaves_one_complete_set() {
    kill_at_any_moment(&CASES[3], 0x5eed_0004, 6);
}

#[test]
fn kill_site_at_any_moment_leaves_one_complete_set() {
    kill_at_any_moment(&CASES[4], 0x5eed_0005, 6);
}
