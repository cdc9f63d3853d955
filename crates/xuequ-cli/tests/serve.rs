//! End-to-end tests of `xuequ serve`: the real binary on a loopback port, every endpoint
//! checked against the CLI's own answers for the bundled demo (`xuequ lookup`,
//! `xuequ explain`, the files of `xuequ run --lotteries N`), the guards (errors, methods,
//! limits, CORS), reload and shutdown, a fuzz test of query strings, and a load test run on
//! demand (`--ignored`).
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn demo() -> PathBuf {
    root().join("data/demo/scenario.toml")
}

fn xuequ(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_xuequ")).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "xuequ {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A run of the demo with risk tables, into `dir/run`.
fn demo_run(dir: &Path, seed: u64) -> PathBuf {
    let out = dir.join("run");
    xuequ(&[
        "-q",
        "run",
        demo().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--lotteries",
        "40",
        "--no-html",
        "--seed",
        &seed.to_string(),
    ]);
    out
}

/// A running `xuequ serve`, stopped (SIGKILL) when dropped.
struct Server {
    child: Child,
    address: String,
    log: std::sync::mpsc::Receiver<String>,
}

impl Server {
    fn start(scenario: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xuequ"))
            .arg("serve")
            .arg(scenario)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            address: String::new(),
            log: rx,
        };
        let line = server.wait_for("\"listening\"");
        let v: Value = serde_json::from_str(&line).unwrap();
        server.address = v["address"].as_str().unwrap().to_string();
        server
    }

    /// The next log line containing `needle` (panics after two minutes or at exit).
    fn wait_for(&self, needle: &str) -> String {
        loop {
            match self.log.recv_timeout(Duration::from_secs(120)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {needle}: {e}"),
            }
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    fn get(&self, target: &str) -> Reply {
        request(&self.address, "GET", target, &[])
    }

    fn json(&self, target: &str) -> Value {
        let r = self.get(target);
        assert_eq!(r.status, 200, "{target}: {}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

/// One HTTP/1.1 request on its own connection.
fn request(address: &str, method: &str, target: &str, extra_headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut text = format!("{method} {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (k, v) in extra_headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&raw[split + 4..]).to_string(),
    }
}

/// Percent-encodes a query value (UTF-8 bytes).
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn school_ids(stage: &Value) -> Vec<String> {
    stage["schools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["school_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_endpoint_answers_as_the_cli_does() {
    let dir = tempfile::tempdir().unwrap();
    let run = demo_run(dir.path(), 20260701);
    let server = Server::start(&demo(), &["--results", run.to_str().unwrap(), "--rate-limit", "0"]);
    let blocks = read_csv(&root().join("data/demo/blocks.csv"));

    // Points: every block's location and points between blocks, against `xuequ lookup --points`.
    let mut points = vec![(120.30, 31.57), (120.0, 31.0), (121.9, 33.0)];
    for (i, b) in blocks.iter().enumerate() {
        let (lon, lat): (f64, f64) = (b["lon"].parse().unwrap(), b["lat"].parse().unwrap());
        points.push((lon, lat));
        points.push((
            lon + 0.003 * ((i % 7) as f64 - 3.0),
            lat + 0.002 * ((i % 5) as f64 - 2.0),
        ));
    }
    let file = dir.path().join("points.csv");
    let mut text = "lon,lat\n".to_string();
    for (lon, lat) in &points {
        text.push_str(&format!("{lon},{lat}\n"));
    }
    std::fs::write(&file, text).unwrap();
    let cli = dir.path().join("lookup.csv");
    xuequ(&[
        "-q",
        "lookup",
        demo().to_str().unwrap(),
        "--points",
        file.to_str().unwrap(),
        "--out",
        cli.to_str().unwrap(),
    ]);
    let rows = read_csv(&cli);
    let mut checked = 0;
    for (lon, lat) in &points {
        let v = server.json(&format!("/v1/lookup?lon={lon}&lat={lat}"));
        for stage in v["stages"].as_array().unwrap() {
            let name = stage["stage"].as_str().unwrap();
            let row = rows
                .iter()
                .find(|r| r["lon"] == lon.to_string() && r["lat"] == lat.to_string() && r["stage"] == name)
                .unwrap();
            let want: Vec<String> = row["school_ids"]
                .split(';')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            assert_eq!(school_ids(stage), want, "{lon},{lat} {name}");
            let metres: Vec<String> = stage["schools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["distance_m"].as_u64().map_or(String::new(), |m| m.to_string()))
                .collect();
            assert_eq!(metres.join(";"), row["distances_m"], "{lon},{lat} {name}");
            checked += 1;
        }
    }
    assert!(checked >= 3 * points.len());

    // Blocks: the zones of zones.csv.
    let zones = read_csv(&root().join("data/demo/zones.csv"));
    for b in &blocks {
        let v = server.json(&format!("/v1/lookup?block={}", b["block_id"]));
        assert_eq!(v["block"]["name"], b["name"].as_str());
        for stage in v["stages"].as_array().unwrap() {
            let mut want: Vec<String> = zones
                .iter()
                .filter(|z| z["block_id"] == b["block_id"] && z["stage"] == stage["stage"].as_str().unwrap())
                .map(|z| z["school_id"].clone())
                .collect();
            want.dedup();
            assert_eq!(school_ids(stage), want, "{}", b["block_id"]);
        }
    }

    // Search: a block's own name finds it first.
    for b in blocks.iter().step_by(10) {
        let v = server.json(&format!("/v1/search?q={}", enc(&b["name"])));
        assert_eq!(v["results"][0]["name"], b["name"].as_str());
        assert_eq!(v["results"][0]["match"], "exact");
    }

    // Explanations: the text is `xuequ explain`'s output.
    let students = read_csv(&root().join("data/demo/students.csv"));
    for s in students.iter().step_by(499) {
        let id = &s["student_id"];
        let out = xuequ(&["-q", "explain", demo().to_str().unwrap(), id]);
        let v = server.json(&format!("/v1/applicants/{}/explain", enc(id)));
        assert_eq!(v["text"], String::from_utf8(out.stdout).unwrap().as_str(), "{id}");
        assert_eq!(v["student_id"], id.as_str());
    }

    // Odds: the rows of risk_blocks.csv; the tiers add up to the block.
    for row in read_csv(&run.join("risk_blocks.csv")) {
        let v = server.json(&format!("/v1/odds?block={}&stage={}", row["block_id"], row["stage"]));
        let o = &v["overall"];
        assert_eq!(o["applicants"].as_u64().unwrap().to_string(), row["applicants"]);
        let mean: f64 = row["p_zone_school_mean"].parse().unwrap();
        let min: f64 = row["p_zone_school_min"].parse().unwrap();
        assert_eq!(o["p_zone_school_mean"].as_f64().unwrap(), mean, "{row:?}");
        assert_eq!(o["p_zone_school_min"].as_f64().unwrap(), min, "{row:?}");
        let tiers = v["tiers"].as_array().unwrap();
        let n: u64 = tiers.iter().map(|t| t["applicants"].as_u64().unwrap()).sum();
        assert_eq!(n.to_string(), row["applicants"]);
        let least = tiers
            .iter()
            .map(|t| t["p_zone_school_min"].as_f64().unwrap())
            .fold(f64::INFINITY, f64::min);
        assert_eq!(least, min);
        let tier = tiers[0]["tier"].as_str().unwrap();
        let one = server.json(&format!(
            "/v1/odds?block={}&stage={}&tier={}",
            row["block_id"],
            row["stage"],
            enc(tier)
        ));
        assert_eq!(one["selected"]["applicants"], tiers[0]["applicants"]);
    }

    // Schools: the rows of schools_summary.csv, with risk_schools.csv.
    let risk_schools = read_csv(&run.join("risk_schools.csv"));
    for row in read_csv(&run.join("schools_summary.csv")) {
        let v = server.json(&format!("/v1/schools/{}", row["school_id"]));
        for k in ["capacity", "assigned", "vacancies", "first_choice_applicants"] {
            assert_eq!(v[k].as_u64().unwrap().to_string(), row[k], "{k}");
        }
        assert_eq!(v["cutoff"]["tier"].as_str().unwrap_or(""), row["cutoff_tier"]);
        assert_eq!(
            v["cutoff"]["lottery"].as_u64().map_or(String::new(), |x| x.to_string()),
            row["cutoff_lottery"]
        );
        assert_eq!(v["warning"]["level"], row["warning"].as_str());
        let ratio = v["demand_ratio"].as_f64().map_or(String::new(), |x| x.to_string());
        assert_eq!(ratio, row["demand_ratio"]);
        let r = risk_schools
            .iter()
            .find(|r| r["school_id"] == row["school_id"])
            .unwrap();
        assert_eq!(
            v["odds"]["p_full"].as_f64().unwrap(),
            r["p_full"].parse::<f64>().unwrap()
        );
    }

    // Errors.
    for (target, status, code) in [
        ("/v1/lookup?block=NOPE", 404, "unknown_block"),
        ("/v1/applicants/NOPE/explain", 404, "unknown_applicant"),
        ("/v1/schools/NOPE", 404, "unknown_school"),
        ("/v1/odds?block=NOPE&stage=primary", 404, "unknown_block"),
        ("/v1/lookup?lon=120.3&lat=95", 400, "bad_coordinates"),
        ("/v1/lookup?lon=x&lat=31", 400, "bad_coordinates"),
        ("/v1/lookup?lon=120.3&lat=31.5&stage=college", 400, "bad_parameter"),
        ("/v1/odds?block=B000001&stage=primary&tier=nobody", 400, "bad_parameter"),
        ("/v1/search?q=", 400, "missing_parameter"),
        ("/v1/nothing", 404, "unknown_path"),
        ("/../../etc/passwd", 404, "unknown_path"),
    ] {
        let r = server.get(target);
        assert_eq!(r.status, status, "{target}: {}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"]["code"], code, "{target}");
        assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
        assert!(
            !r.headers.contains_key("access-control-allow-origin"),
            "CORS is off by default"
        );
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = request(&server.address, method, "/v1/info", &[]);
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.headers["allow"], "GET, HEAD");
    }
    let r = request(&server.address, "GET", "/v1/info", &[("Content-Length", "0")]);
    assert_eq!(r.status, 200);
    let long = format!("/v1/search?q={}", "a".repeat(5000));
    assert_eq!(server.get(&long).status, 414);
    let r = server.get("/healthz");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "{\"generation\":1,\"status\":\"ok\"}")
    );
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics.headers["content-type"].starts_with("text/plain"));
    for needle in [
        "xuequ_http_requests_total{endpoint=\"lookup\",status=\"200\"}",
        "xuequ_http_requests_total{endpoint=\"explain\",status=\"404\"} 1",
        "xuequ_http_requests_total{endpoint=\"other\",status=\"404\"} 2",
        "xuequ_http_request_duration_seconds_bucket{endpoint=\"odds\",le=\"+Inf\"}",
        "xuequ_data_generation 1",
    ] {
        assert!(metrics.body.contains(needle), "{needle} in\n{}", metrics.body);
    }
    // One access-log line per request, JSON.
    let line = server.wait_for("\"endpoint\":\"metrics\"");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["status"], 200);
}

#[test]
fn odds_need_risk_tables_and_a_matching_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&demo(), &["--rate-limit", "0"]);
    let r = server.get("/v1/odds?block=B000001&stage=primary");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("no_odds"));
    drop(server);
    // A run of other inputs is refused at start.
    let run = demo_run(dir.path(), 1);
    let assignments = run.join("assignments.csv");
    let text = std::fs::read_to_string(&assignments)
        .unwrap()
        .replacen("S00000001,", "S00000001x,", 1);
    std::fs::write(&assignments, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xuequ"))
        .args([
            "serve",
            demo().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--results",
        ])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("assignments.csv") && err.contains("line 2"), "{err}");
}

#[test]
fn limits_and_cors() {
    let server = Server::start(
        &demo(),
        &[
            "--rate-limit",
            "5",
            "--cors-origin",
            "https://xxt.example.cn",
            "--no-access-log",
        ],
    );
    let statuses: Vec<u16> = (0..40).map(|_| server.get("/v1/info").status).collect();
    assert_eq!(statuses[0], 200);
    assert!(statuses.contains(&429), "{statuses:?}");
    let r = server.get("/v1/info");
    if r.status == 429 {
        assert_eq!(r.headers["retry-after"], "1");
        assert!(r.body.contains("rate_limited"));
    }
    assert_eq!(r.headers["access-control-allow-origin"], "https://xxt.example.cn");
    let pre = request(
        &server.address,
        "OPTIONS",
        "/v1/info",
        &[("Origin", "https://xxt.example.cn")],
    );
    assert_eq!(pre.status, 204);
    assert_eq!(pre.headers["access-control-allow-methods"], "GET");
    // Monitors are never limited.
    for _ in 0..30 {
        assert_eq!(server.get("/healthz").status, 200);
    }
    // A body is refused.
    let r = request(&server.address, "GET", "/v1/info", &[("Content-Length", "3")]);
    assert!(r.status == 413 || r.status == 429, "{}", r.status);
}

#[test]
fn reloads_keep_serving_and_sigterm_stops() {
    let dir = tempfile::tempdir().unwrap();
    let run = demo_run(dir.path(), 20260701);
    let server = Server::start(
        &demo(),
        &[
            "--results",
            run.to_str().unwrap(),
            "--rate-limit",
            "0",
            "--watch-seconds",
            "1",
            "--no-access-log",
        ],
    );
    let address = server.address.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammer = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut bad = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for target in [
                    "/v1/applicants/S00000001/explain",
                    "/v1/odds?block=B000001&stage=primary",
                ] {
                    let r = request(&address, "GET", target, &[]);
                    if r.status != 200 {
                        bad.push((target, r.status));
                    }
                    n += 1;
                }
            }
            (n, bad)
        })
    };
    assert_eq!(server.json("/v1/info")["seed"], 20260701);
    server.signal("HUP");
    server.wait_for("\"reloaded\"");
    assert_eq!(server.json("/healthz")["generation"], 2);
    // A new run into the folder is noticed and served.
    demo_run(dir.path(), 99);
    let line = server.wait_for("\"reloaded\"");
    assert!(line.contains("results folder changed"), "{line}");
    assert_eq!(server.json("/v1/info")["seed"], 99);
    // A broken folder keeps the old data.
    std::fs::write(run.join("manifest.json"), "{not json").unwrap();
    server.signal("HUP");
    let line = server.wait_for("\"reload_failed\"");
    assert!(line.contains("manifest.json"), "{line}");
    assert_eq!(server.json("/v1/info")["seed"], 99);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (n, bad) = hammer.join().unwrap();
    assert!(n > 0);
    assert!(bad.is_empty(), "failed during reloads: {bad:?}");
    let mut server = server;
    server.signal("TERM");
    server.wait_for("\"stopped\"");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// A query-string character: printable ASCII that may appear in a request target.
fn target_char() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::char::range('!', '~')
            .prop_filter("target-safe", |c| !matches!(
                c,
                '#' | '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}'
            ))
            .prop_map(|c| c.to_string()),
        any::<u8>().prop_map(|b| format!("%{b:02X}")),
        prop::sample::select(vec![
            "lon=",
            "lat=",
            "&",
            "=",
            "block=",
            "stage=primary",
            "crs=gcj02",
            "q=",
            "tier=",
            "120.3",
            "31.5",
            "limit=",
            "%",
            "+"
        ])
        .prop_map(String::from),
    ]
}

#[test]
fn no_query_string_gives_a_server_error() {
    let server = Server::start(&demo(), &["--rate-limit", "0", "--no-access-log"]);
    let paths = [
        "/v1/lookup",
        "/v1/search",
        "/v1/odds",
        "/v1/schools/P0001",
        "/v1/applicants/S00000001/explain",
        "/v1/info",
        "/healthz",
    ];
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 600,
        ..Default::default()
    });
    let strategy = (
        prop::sample::select(paths.to_vec()),
        prop::collection::vec(target_char(), 0..24),
    );
    let statuses: std::cell::RefCell<HashMap<u16, u32>> = Default::default();
    runner
        .run(&strategy, |(path, parts)| {
            let target = format!("{path}?{}", parts.concat());
            let r = server.get(&target);
            *statuses.borrow_mut().entry(r.status).or_default() += 1;
            prop_assert!(r.status < 500, "{target}: {} {}", r.status, r.body);
            Ok(())
        })
        .unwrap();
    // The cases reached both answers and refusals.
    let statuses = statuses.into_inner();
    assert!(
        statuses.contains_key(&200) && statuses.contains_key(&400),
        "{statuses:?}"
    );
}

/// The load test: a Wuxi-size city, mixed lookups, explanations, odds and school queries at
/// a fixed rate from a bounded client on 127.0.0.1, stopping by itself; prints p50/p99/max
/// and errors. `XUEQU_LOAD_RPS` (default 1000) and `XUEQU_LOAD_SECONDS` (default 60) change
/// the rate and length; `XUEQU_LOAD_CITY` reuses a city folder with a `run/` inside.
/// Run: `cargo test --release -p xuequ-cli --test serve load -- --ignored --nocapture`.
#[test]
#[ignore = "load test: minutes of CPU; run on demand"]
fn load_wuxi_mixed_queries() {
    let rps: u64 = std::env::var("XUEQU_LOAD_RPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seconds: u64 = std::env::var("XUEQU_LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let temp = tempfile::tempdir().unwrap();
    let city = match std::env::var("XUEQU_LOAD_CITY") {
        Ok(d) => PathBuf::from(d),
        Err(_) => {
            let d = temp.path().join("wuxi");
            xuequ(&["-q", "synth", "--preset", "wuxi", "--out", d.to_str().unwrap()]);
            d
        }
    };
    let scenario = city.join("scenario.toml");
    let run = city.join("run");
    if !run.join("risk_blocks.csv").is_file() {
        xuequ(&[
            "-q",
            "run",
            scenario.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--lotteries",
            "20",
            "--no-html",
        ]);
    }
    let blocks = read_csv(&city.join("blocks.csv"));
    let students = read_csv(&city.join("students.csv"));
    let schools = read_csv(&city.join("schools.csv"));
    let server = Server::start(
        &scenario,
        &[
            "--results",
            run.to_str().unwrap(),
            "--rate-limit",
            "0",
            "--no-access-log",
        ],
    );
    // The mix: 35 % point lookups, 15 % block lookups, 25 % explanations, 15 % odds,
    // 5 % schools, 5 % searches; targets drawn by a fixed LCG so every run asks the same.
    let mut seed: u64 = 20260701;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 33
    };
    let total = (rps * seconds) as usize;
    let stages = ["primary", "junior"];
    let targets: Vec<String> = (0..total)
        .map(|_| {
            let b = &blocks[next() as usize % blocks.len()];
            match next() % 100 {
                0..35 => {
                    let jitter = |x: &str, r: u64| x.parse::<f64>().unwrap() + (r % 2001) as f64 * 1e-5 - 0.01;
                    format!(
                        "/v1/lookup?lon={:.6}&lat={:.6}",
                        jitter(&b["lon"], next()),
                        jitter(&b["lat"], next())
                    )
                }
                35..50 => format!("/v1/lookup?block={}", b["block_id"]),
                50..75 => format!(
                    "/v1/applicants/{}/explain",
                    students[next() as usize % students.len()]["student_id"]
                ),
                75..90 => format!("/v1/odds?block={}&stage={}", b["block_id"], stages[next() as usize % 2]),
                90..95 => format!("/v1/schools/{}", schools[next() as usize % schools.len()]["school_id"]),
                _ => format!("/v1/search?q={}", enc(&b["name"])),
            }
        })
        .collect();
    // A fixed number of keep-alive connections, each sending its share on a fixed schedule;
    // latency counts from the scheduled time, so a slow answer also delays the next ones.
    let connections = 16usize;
    let interval = Duration::from_secs_f64(connections as f64 / rps as f64);
    let start = Instant::now() + Duration::from_millis(200);
    let targets = std::sync::Arc::new(targets);
    let workers: Vec<_> = (0..connections)
        .map(|c| {
            let targets = std::sync::Arc::clone(&targets);
            let address = server.address.clone();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(&address).unwrap();
                stream.set_nodelay(true).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut latencies = Vec::new();
                let mut errors = Vec::new();
                for (k, target) in targets.iter().enumerate().skip(c).step_by(connections) {
                    let due = start
                        + interval.mul_f64((k / connections) as f64)
                        + interval.mul_f64(c as f64 / connections as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let text = format!("GET {target} HTTP/1.1\r\nHost: {address}\r\n\r\n");
                    stream.write_all(text.as_bytes()).unwrap();
                    let mut status = 0u16;
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if status == 0 {
                            status = l.split(' ').nth(1).unwrap().parse().unwrap();
                        } else if let Some((k, v)) = l.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0u8; length];
                    reader.read_exact(&mut body).unwrap();
                    latencies.push(due.elapsed());
                    if status != 200 {
                        errors.push(format!("{target}: {status} {}", String::from_utf8_lossy(&body)));
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for w in workers {
        let (l, e) = w.join().unwrap();
        latencies.extend(l);
        errors.extend(e);
    }
    let wall = start.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load test: {} requests in {:.1} s ({:.0} req/s target {rps}), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, \
         errors {}; load average {}",
        latencies.len(),
        wall.as_secs_f64(),
        latencies.len() as f64 / wall.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
        errors.len(),
        load.trim()
    );
    for e in errors.iter().take(10) {
        println!("  error: {e}");
    }
    assert!(errors.is_empty(), "{} errors", errors.len());
    assert_eq!(latencies.len(), total);
}
