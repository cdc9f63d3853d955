//! Writes a synthetic city and prints what was written and how long it took.
//!
//! ```text
//! cargo run --release -p xuequ-synth --example synth -- PRESET APPLICANTS|- SEED OUT_DIR [YEAR]
//! cargo run --release -p xuequ-synth --example synth -- demo - 20260701 data/demo
//! cargo run --release -p xuequ-synth --example synth -- wuxi 1000000 1 /tmp/s1m
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use xuequ_synth::{Preset, Stage, SynthConfig, SynthPhase, write_city};

const USAGE: &str = "usage: synth PRESET APPLICANTS|- SEED OUT_DIR [YEAR]\n  \
                     PRESET: demo | wuxi | choice<k> (e.g. choice5, choice10)";

fn parse() -> Result<(SynthConfig, PathBuf), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(4..=5).contains(&args.len()) {
        return Err(USAGE.to_string());
    }
    let preset: Preset = args[0].parse().map_err(|e| format!("{e}"))?;
    let applicants = match args[1].as_str() {
        "-" => None,
        n => Some(
            n.replace('_', "")
                .parse::<u64>()
                .map_err(|e| format!("applicants {n:?}: {e}"))?,
        ),
    };
    let seed = args[2].parse::<u64>().map_err(|e| format!("seed {:?}: {e}", args[2]))?;
    let year = match args.get(4) {
        Some(y) => y.parse::<i32>().map_err(|e| format!("year {y:?}: {e}"))?,
        None => xuequ_synth::DEFAULT_YEAR,
    };
    let config = SynthConfig {
        preset,
        applicants,
        seed,
        year,
    };
    Ok((config, PathBuf::from(&args[3])))
}

fn main() -> ExitCode {
    let (config, out) = match parse() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let mut last_pct = u64::MAX;
    let result = write_city(&config, &out, &mut |p| {
        if p.phase == SynthPhase::Students && p.total > 0 {
            let pct = p.done * 10 / p.total;
            if pct != last_pct {
                last_pct = pct;
                eprint!("\rapplicants {:>3}%", pct * 10);
            }
        }
    });
    eprintln!();
    let s = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} (seed {}, year {}) -> {}",
        config.preset,
        config.seed,
        config.year,
        out.display()
    );
    println!(
        "copies {}  districts {}  blocks {} (new {})  households {}",
        s.copies, s.districts, s.blocks, s.new_blocks, s.households
    );
    for stage in Stage::ALL {
        println!(
            "{:<13} public {:>6} (planned {:>3})  private {:>5}  public seats {:>8}  private seats {:>7}  applicants {:>9}",
            stage.as_str(),
            s.public_schools.get(stage),
            s.planned_schools.get(stage),
            s.private_schools.get(stage),
            s.public_seats.get(stage),
            s.private_seats.get(stage),
            s.applicants.get(stage)
        );
    }
    println!(
        "applicants {}  migrants {}  seat locks {}  zone rows {}  multi-zone blocks {}",
        s.applicants.total(),
        s.migrants,
        s.seat_locks,
        s.zone_rows,
        s.multi_zone_blocks
    );
    let bytes: u64 = s
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    println!("{} files, {:.1} MB in {:.2} s", s.files.len(), bytes as f64 / 1e6, secs);
    ExitCode::SUCCESS
}
