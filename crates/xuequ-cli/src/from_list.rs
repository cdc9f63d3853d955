//! `xuequ zones-from-list`: a published 划片 list to zones.csv and match_report.csv.

use std::path::PathBuf;

use clap::Args;

use crate::progress::Reporter;
use crate::{Failure, Globals};

/// Arguments of `zones-from-list`.
#[derive(Args, Debug)]
pub(crate) struct FromListArgs {
    /// The scenario file (its schools and blocks are matched).
    scenario: PathBuf,
    /// The list: CSV (UTF-8, GBK) or a workbook, with columns school (or 学校) and blocks (or
    /// 划片范围).
    #[arg(long)]
    list: PathBuf,
    /// The stage the list zones.
    #[arg(long)]
    stage: String,
    /// Output directory.
    #[arg(long, default_value = "out/zones_from_list")]
    out: PathBuf,
}

pub(crate) fn run(args: FromListArgs, globals: Globals, reporter: &Reporter) -> Result<(), Failure> {
    use xuequ::names::MatchKind;
    let stage: xuequ::Stage = args
        .stage
        .parse()
        .map_err(|e| Failure::new(2, format!("--stage: {e}")))?;
    let r = xuequ::ZonesFromListRequest::new(&args.scenario, &args.list, stage).strict(globals.strict);
    let result = globals
        .threads(r, xuequ::ZonesFromListRequest::threads)
        .write_with(&args.out, reporter)?;
    let blocks: std::collections::BTreeSet<u32> = result.pairs.iter().map(|p| p.0).collect();
    if !reporter.quiet() {
        eprintln!(
            "{} phrases: {} exact, {} normalised, {} fuzzy, {} ambiguous, {} unmatched; {} blocks zoned",
            result.matches.len(),
            result.count(MatchKind::Exact),
            result.count(MatchKind::Normalised),
            result.count(MatchKind::Fuzzy),
            result.count(MatchKind::Ambiguous),
            result.count(MatchKind::Unmatched),
            blocks.len()
        );
    }
    Ok(())
}
