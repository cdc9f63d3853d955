//! Zones from a published 划片 list: one row per school (`school`: its id or name; `blocks`:
//! the announcement's text naming 小区), resolved block by block with [`NameIndex`].
//!
//! The text is cut into phrases at `、，,；;。` and line breaks outside brackets; then
//! - `万科城（一期、二期）` becomes `万科城一期` and `万科城二期`;
//! - a phrase that is only a phase (`安镇湾一期、二期` → `二期`) takes the estate of the
//!   phrase before it;
//! - a trailing `等` is dropped.
//!
//! Every phrase is kept in the report, street and house-number ranges (`人民路1-99号单号`)
//! too: they match no block and are listed as `unmatched`, for a planner to assign by hand.

use std::path::{Path, PathBuf};

use super::{MatchKind, NameIndex, Resolution, normalise};
use crate::error::{Diagnostic, Diagnostics, LoadError, OutputError};
use crate::model::{City, Stage};

/// Column names accepted for the school (first found wins).
pub const SCHOOL_COLUMNS: &[&str] = &["school", "school_id", "学校", "学校名称", "学校代码"];
/// Column names accepted for the announcement text.
pub const BLOCKS_COLUMNS: &[&str] = &["blocks", "划片范围", "施教区范围", "招生范围", "学区范围"];

/// One row of a 划片 list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    /// Line in the file.
    pub line: u64,
    /// The school as written (id or name).
    pub school: String,
    /// The announcement text.
    pub blocks: String,
}

/// Reads a 划片 list: CSV in any encoding the inputs accept (UTF-8, GBK, UTF-16), or the first
/// sheet of a workbook (`.xlsx`, `.xls`, `.ods`); see [`SCHOOL_COLUMNS`] and
/// [`BLOCKS_COLUMNS`] for the headers. Problems name the file and line (a workbook's sheet and
/// row).
pub fn read_list(path: &Path) -> Result<Vec<ListRow>, LoadError> {
    let file = path.display().to_string();
    let text = crate::io::source::read_table(&crate::io::source::InputSpec::new(path), &file)?;
    let mut diags = Diagnostics::default();
    let mut rows = Vec::new();
    let mut missing = false;
    crate::load::read_csv(text.bytes.as_slice(), &file, &[], &mut diags, |row, diags| {
        let school = SCHOOL_COLUMNS.iter().find(|c| row.has(c));
        let blocks = BLOCKS_COLUMNS.iter().find(|c| row.has(c));
        let (Some(school), Some(blocks)) = (school, blocks) else {
            if !missing {
                missing = true;
                diags.push(
                    Diagnostic::file(
                        &file,
                        "the list needs a school column and a blocks column",
                        format!(
                            "name the columns school (or {}) and blocks (or {})",
                            SCHOOL_COLUMNS[1..].join("/"),
                            BLOCKS_COLUMNS[1..].join("/")
                        ),
                    )
                    .at_line(1),
                );
            }
            return;
        };
        let s = row.text(school);
        let b = row.text(blocks);
        if s.is_empty() && b.is_empty() {
            return;
        }
        if s.is_empty() {
            diags.push(row.diag(school, s, "the school is empty", "write the school's id or name"));
            return;
        }
        rows.push(ListRow {
            line: row.line,
            school: s.to_string(),
            blocks: b.to_string(),
        });
    });
    if diags.is_empty() {
        Ok(rows)
    } else {
        let mut placed = Diagnostics::default();
        for mut d in diags.items().iter().cloned() {
            text.locate(&mut d);
            placed.push(d);
        }
        placed.omitted = diags.omitted;
        Err(LoadError::Invalid(placed))
    }
}

/// Cuts announcement text into phrases (see the [module docs](self)).
pub fn phrases(text: &str) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    for c in text.chars() {
        match c {
            '(' | '（' | '[' | '【' => {
                depth += 1;
                cur.push(c);
            }
            ')' | '）' | ']' | '】' => {
                depth = (depth - 1).max(0);
                cur.push(c);
            }
            '、' | '，' | ',' | '；' | ';' | '。' | '\n' | '\r' if depth == 0 => {
                pieces.push(std::mem::take(&mut cur));
            }
            _ => cur.push(c),
        }
    }
    pieces.push(cur);
    let mut out: Vec<String> = Vec::new();
    for p in pieces {
        let p = p.trim().trim_end_matches('等').trim();
        if p.is_empty() {
            continue;
        }
        // 万科城（一期、二期） → 万科城一期, 万科城二期
        if let Some(open) = p.find(['(', '（']) {
            let inner_start = open + p[open..].chars().next().map_or(1, char::len_utf8);
            let inner_end = p.rfind([')', '）']).unwrap_or(p.len());
            if inner_end > inner_start {
                let inner = &p[inner_start..inner_end];
                let items: Vec<&str> = inner.split(['、', '，', ',', ';', '；']).map(str::trim).collect();
                if items.len() > 1 && items.iter().all(|i| is_phase_or_part(i)) {
                    let base = p[..open].trim();
                    for i in items {
                        out.push(format!("{base}{i}"));
                    }
                    continue;
                }
            }
        }
        // 安镇湾一期、二期 → the second phrase takes the first one's estate.
        if is_phase_or_part(p)
            && let Some(prev) = out.last()
        {
            let base = strip_phase(prev);
            if !base.is_empty() {
                out.push(format!("{base}{p}"));
                continue;
            }
        }
        out.push(p.to_string());
    }
    out
}

fn is_phase_or_part(s: &str) -> bool {
    let n = normalise(s);
    let c: Vec<char> = n.chars().collect();
    (c.len() == 2 && c[1] == '期' && super::PHASES.iter().any(|p| p.starts_with(c[0])))
        || ["东区", "西区", "南区", "北区"].contains(&n.as_str())
}

/// The phrase without its last phase or part (`安镇湾一期` → `安镇湾`).
fn strip_phase(s: &str) -> String {
    let c: Vec<char> = s.trim().chars().collect();
    let mut end = c.len();
    if end >= 2 {
        let tail: String = c[end - 2..].iter().collect();
        if is_phase_or_part(&tail) {
            end -= 2;
            if end >= 1 && c[end - 1] == '第' {
                end -= 1;
            }
        }
    }
    if end == c.len() {
        // 2期 style: digits then 期.
        if let Some(p) = s.trim().rfind(|ch: char| !ch.is_ascii_digit() && ch != '期')
            && s.trim().ends_with('期')
        {
            let t = s.trim();
            let cut = p + t[p..].chars().next().map_or(1, char::len_utf8);
            return t[..cut].to_string();
        }
        return String::new();
    }
    c[..end].iter().collect()
}

/// One phrase of the list and what it resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhraseMatch {
    /// Line of the list row.
    pub line: u64,
    /// School index.
    pub school: u32,
    /// The phrase (after the expansions described in the [module docs](self)).
    pub phrase: String,
    /// What it matched.
    pub resolution: Resolution,
}

/// Zones of one stage resolved from a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromList {
    /// The stage.
    pub stage: Stage,
    /// (block, school) pairs, in list order, without duplicates.
    pub pairs: Vec<(u32, u32)>,
    /// Every phrase, in list order.
    pub matches: Vec<PhraseMatch>,
}

impl FromList {
    /// Number of phrases of each kind, in [`MatchKind`] order.
    pub fn count(&self, kind: MatchKind) -> usize {
        self.matches.iter().filter(|m| m.resolution.kind == kind).count()
    }
}

/// Resolves a list against the city's blocks and schools of `stage`. A school is found by
/// id, then by exact name, then by [`normalise`]d name among the stage's schools; a row whose
/// school is not found is an error (file, line, value).
pub fn zones_from_list(city: &City, stage: Stage, rows: &[ListRow], file: &str) -> Result<FromList, LoadError> {
    let index = NameIndex::new(city);
    let mut diags = Diagnostics::default();
    let mut out = FromList {
        stage,
        pairs: Vec::new(),
        matches: Vec::new(),
    };
    for row in rows {
        let Some(school) = find_school(city, stage, &row.school) else {
            diags.push(
                Diagnostic::file(
                    file,
                    format!("no {stage} school has this id or name"),
                    format!("write the school_id or the name of a {stage} school in schools.csv"),
                )
                .at_line(row.line)
                .at_field(None, "school")
                .with_value(&row.school),
            );
            continue;
        };
        let district = city.schools[school as usize].district;
        for phrase in phrases(&row.blocks) {
            let resolution = index.resolve(&phrase, Some(district));
            for &b in &resolution.blocks {
                if !out.pairs.contains(&(b, school)) {
                    out.pairs.push((b, school));
                }
            }
            out.matches.push(PhraseMatch {
                line: row.line,
                school,
                phrase,
                resolution,
            });
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(LoadError::Invalid(diags))
    }
}

fn find_school(city: &City, stage: Stage, text: &str) -> Option<u32> {
    if let Some(s) = city.school(text)
        && city.schools[s as usize].stage == stage
    {
        return Some(s);
    }
    let of_stage = || city.schools.iter().enumerate().filter(|(_, s)| s.stage == stage);
    let exact: Vec<usize> = of_stage().filter(|(_, s)| s.name == text).map(|(i, _)| i).collect();
    if exact.len() == 1 {
        return Some(exact[0] as u32);
    }
    let n = normalise(text);
    let near: Vec<usize> = of_stage()
        .filter(|(_, s)| normalise(&s.name) == n)
        .map(|(i, _)| i)
        .collect();
    (near.len() == 1).then(|| near[0] as u32)
}

/// Writes `zones.csv` (block_id, stage, school_id) and `match_report.csv` (line, school_id,
/// phrase, kind, block_ids, block_names, candidates) into `out` as one output set (with
/// `manifest.json`, which records `inputs`: the list and the files the city was read from).
/// Text cells that a spreadsheet would run as a formula are neutralised by the CSV writer.
pub fn write(
    out: &Path,
    city: &City,
    result: &FromList,
    inputs: impl IntoIterator<Item = crate::io::InputRecord>,
) -> Result<Vec<PathBuf>, OutputError> {
    use crate::io::writer::CsvWriter;
    let mut zones = CsvWriter::with_header(&["block_id", "stage", "school_id"], false);
    for &(b, s) in &result.pairs {
        zones.row(&[
            city.blocks[b as usize].id.as_str(),
            result.stage.as_str(),
            city.schools[s as usize].id.as_str(),
        ]);
    }
    let mut report = CsvWriter::with_header(
        &[
            "line",
            "school_id",
            "phrase",
            "kind",
            "block_ids",
            "block_names",
            "candidates",
        ],
        false,
    );
    let label = |b: &u32| {
        let blk = &city.blocks[*b as usize];
        format!("{} {} ({})", blk.id, blk.name, city.districts[blk.district as usize])
    };
    for m in &result.matches {
        let r = &m.resolution;
        let ids: Vec<&str> = r.blocks.iter().map(|b| city.blocks[*b as usize].id.as_str()).collect();
        let names: Vec<&str> = r
            .blocks
            .iter()
            .map(|b| city.blocks[*b as usize].name.as_str())
            .collect();
        let candidates: Vec<String> = if r.kind == MatchKind::Exact || r.kind == MatchKind::Normalised {
            Vec::new()
        } else {
            r.candidates.iter().map(label).collect()
        };
        report.row(&[
            m.line.to_string(),
            city.schools[m.school as usize].id.clone(),
            m.phrase.clone(),
            r.kind.as_str().to_string(),
            ids.join(";"),
            names.join(";"),
            candidates.join("; "),
        ]);
    }
    crate::io::output_set::write_set(out, "zones-from-list", |set| {
        set.input_records(inputs);
        set.write_bytes("zones.csv", &zones.into_bytes())?;
        set.write_bytes("match_report.csv", &report.into_bytes())
    })
}
