//! `xuequ zones-from-list`: a published 划片 list to zones.csv and match_report.csv.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::Failure;
use crate::progress::Reporter;

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

pub(crate) fn run(args: FromListArgs, reporter: &Reporter) -> Result<(), Failure> {
    use xuequ::names::MatchKind;
    use xuequ::names::from_list;
    let stage: xuequ::Stage = args
        .stage
        .parse()
        .map_err(|e| Failure::new(2, format!("--stage: {e}")))?;
    let data = crate::load(&args.scenario, None, reporter)?;
    let t = Instant::now();
    let rows = from_list::read_list(&args.list).map_err(crate::load_error)?;
    let result = from_list::zones_from_list(&data.city, stage, &rows, &args.list.display().to_string())
        .map_err(crate::load_error)?;
    from_list::write(&args.out, &data.city, &result, &args.list).map_err(|e| Failure::new(1, e))?;
    let blocks: std::collections::BTreeSet<u32> = result.pairs.iter().map(|p| p.0).collect();
    reporter.timing(
        "zones-from-list",
        t,
        format!("zones.csv and match_report.csv in {}", args.out.display()),
    );
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
