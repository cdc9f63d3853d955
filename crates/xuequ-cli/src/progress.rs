//! Progress bars and timing lines on standard error; silent with `--quiet` or when
//! standard error is not a terminal (timing lines still print unless quiet).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows progress for one command.
pub struct Reporter {
    quiet: bool,
    interactive: bool,
    /// The bar or spinner of the step under way.
    current: Mutex<Option<ProgressBar>>,
}

impl Reporter {
    pub fn new(quiet: bool) -> Self {
        Reporter {
            quiet,
            interactive: !quiet && std::io::stderr().is_terminal(),
            current: Mutex::new(None),
        }
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    fn hidden() -> ProgressBar {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
    }

    pub fn spinner(&self, message: String) -> ProgressBar {
        if !self.interactive {
            return Self::hidden();
        }
        let pb = ProgressBar::new_spinner().with_message(message);
        pb.enable_steady_tick(Duration::from_millis(100));
        pb
    }

    pub fn bar(&self, prefix: &'static str) -> ProgressBar {
        if !self.interactive {
            return Self::hidden();
        }
        let pb = ProgressBar::new(0).with_prefix(prefix);
        pb.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} {msg} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb
    }

    pub fn timing(&self, stage: &str, start: Instant, detail: String) {
        self.timing_elapsed(stage, start.elapsed(), &detail);
    }

    /// The timing line of a step that took `elapsed`.
    pub fn timing_elapsed(&self, stage: &str, elapsed: Duration, detail: &str) {
        if !self.quiet {
            let stage = format!("{} {stage}", stage_chinese(stage));
            let memory = memory_mb().map_or(String::new(), |(rss, peak)| format!("  [rss {rss} MB, peak {peak} MB]"));
            eprintln!("{stage:>20}: {:>8.3} s  {detail}{memory}", elapsed.as_secs_f64());
        }
    }

    /// Clears the bar or spinner under way.
    pub fn clear(&self) {
        if let Some(bar) = self.current.lock().ok().and_then(|mut c| c.take()) {
            bar.finish_and_clear();
        }
    }

    fn with_current(&self, f: impl FnOnce(&ProgressBar)) {
        if let Ok(c) = self.current.lock()
            && let Some(bar) = c.as_ref()
        {
            f(bar);
        }
    }

    fn set_current(&self, bar: ProgressBar) {
        self.clear();
        if let Ok(mut c) = self.current.lock() {
            *c = Some(bar);
        }
    }
}

/// The library's steps shown as bars (counted work) or spinners, and its timing lines,
/// warnings and zoning progress printed as before.
impl xuequ::Observer for Reporter {
    fn begin(&self, step: &str, what: &str) {
        let bar = match step {
            "allocate" => self.bar("allocate"),
            "lotteries" => self.bar("lotteries"),
            _ => self.spinner(what.to_string()),
        };
        self.set_current(bar);
    }

    fn progress(&self, _step: &str, done: u64, total: u64, note: &str) {
        self.with_current(|bar| {
            if total > 0 {
                bar.set_length(total);
                bar.set_position(done);
            }
            if !note.is_empty() {
                bar.set_message(note.to_string());
            }
        });
    }

    fn done(&self, step: &str, elapsed: Duration, detail: &str) {
        self.clear();
        self.timing_elapsed(step, elapsed, detail);
    }

    fn plausibility(&self, label: &Path, warnings: &[xuequ::plausibility::Warning]) {
        if warnings.is_empty() {
            return;
        }
        self.clear();
        for w in warnings {
            eprintln!("{w}");
        }
        eprintln!(
            "{}: {} plausibility warning(s) (--strict makes them errors)",
            label.display(),
            warnings.len()
        );
    }

    fn distance_warnings(&self, warnings: &[xuequ::Diagnostic]) {
        self.clear();
        for w in warnings.iter().take(20) {
            eprintln!("warning: {w}");
        }
        if warnings.len() > 20 {
            eprintln!(
                "warning: … and {} more (see roads_report.json from `xuequ roads`)",
                warnings.len() - 20
            );
        }
    }

    fn allocation(&self, p: xuequ::Progress) {
        self.with_current(|bar| match p {
            xuequ::Progress::StageStarted(stage, n) => {
                bar.set_message(format!("{stage}: {n} applicants, building lists"));
            }
            xuequ::Progress::ListsBuilt(stage) => bar.set_message(format!("{stage}: matching")),
            xuequ::Progress::Markets { stage, done, total } => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(format!("{stage}: markets"));
            }
        });
    }

    fn zoning(&self, p: xuequ::zoning::ZoningProgress) {
        if self.quiet {
            return;
        }
        match p {
            xuequ::zoning::ZoningProgress::FlowRound { round, arcs, added } if added > 0 => {
                eprintln!("{:>16}  round {round}: {arcs} arcs, certificate added {added}", "flow");
            }
            xuequ::zoning::ZoningProgress::Lambda { lambda_m, moved } => {
                eprintln!("{:>16}  λ = {lambda_m} m: {moved} children moved", "bisection");
            }
            _ => {}
        }
    }

    fn threads_capped(&self, asked: usize, used: usize) {
        eprintln!(
            "warning: --threads {asked} is more than {used} (4 × the machine's {} cores); using {used}",
            used / 4
        );
    }
}

pub fn synth_progress(bar: &ProgressBar, p: &xuequ_synth::SynthProgress) {
    bar.set_length(p.total);
    bar.set_position(p.done);
    bar.set_message(match p.phase {
        xuequ_synth::SynthPhase::Layout => "laying out blocks and schools",
        xuequ_synth::SynthPhase::Students => "writing applicants",
        xuequ_synth::SynthPhase::Finishing => "finishing files",
    });
}

/// Current and peak resident memory in MB, where the system reports them (Linux).
fn memory_mb() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The Chinese name of a timed step, shown first (the CLI speaks Chinese first, English after).
fn stage_chinese(stage: &str) -> &'static str {
    match stage {
        "load + validate" => "读取校验",
        "allocate" => "录取分配",
        "audit" => "独立审计",
        "write" => "写出结果",
        "report" => "生成报告",
        "lotteries" => "摇号模拟",
        "commit" => "落盘",
        "compare" => "情景对比",
        "check" => "配套核查",
        "forecast" => "需求预测",
        "population" => "人口读取",
        "roads" => "路网",
        "sweep" => "稳定性扫描",
        "synth" => "生成城市",
        "lookup" => "学区查询",
        "zone" => "学区划分",
        "site" => "学校选址",
        _ => "",
    }
}
