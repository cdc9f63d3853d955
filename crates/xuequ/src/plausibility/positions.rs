//! Where each school, block and zone pair was written: file and line (or feature/record
//! number, or the scenario edit that made it), so that a warning points at the row to fix.
//!
//! The loader records the line of every school, block and zone row it accepts
//! ([`crate::model::InputLines`]), so nothing is read again for a CSV input: a city of a
//! million blocks costs its warnings a lookup each. A workbook is read again only to place
//! positions on its sheet's cells, and zone polygons only when a zone warning needs one.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::Path;

use crate::edit::Change;
use crate::error::Diagnostic;
use crate::model::{City, Stage};
use crate::scenario::Scenario;

type At = (String, Option<u64>);

pub(super) struct Positions<'a> {
    city: &'a City,
    scenario: &'a Scenario,
    /// What the scenario's edits made, found at the edit (edits come last, so they win).
    edited_schools: HashMap<String, At>,
    edited_blocks: HashMap<String, At>,
    edited_zones: HashMap<(Stage, String, String), At>,
    /// Blocks read from a polygon file: the first this many, in feature order.
    polygon_blocks: Option<usize>,
    /// Per stage, the zone rows grouped by block, built on the first zone warning.
    zone_rows: OnceCell<[ZoneRows; 3]>,
    /// Zone polygons: (stage, school) to feature, read on the first zone warning.
    zone_features: OnceCell<HashMap<(Stage, String), At>>,
    schools_file: String,
    blocks_file: String,
    zones_file: String,
    /// Workbook inputs read again, to place positions on a sheet, row and column.
    tables: Vec<crate::io::source::TableText>,
}

impl<'a> Positions<'a> {
    pub(super) fn new(scenario: &'a Scenario, city: &'a City) -> Positions<'a> {
        let inputs = &scenario.inputs;
        let name = |p: &Path| p.display().to_string();
        let mut pos = Positions {
            city,
            scenario,
            edited_schools: HashMap::new(),
            edited_blocks: HashMap::new(),
            edited_zones: HashMap::new(),
            polygon_blocks: None,
            zone_rows: OnceCell::new(),
            zone_features: OnceCell::new(),
            schools_file: name(&inputs.schools),
            blocks_file: name(&inputs.blocks),
            zones_file: inputs.zones.as_deref().map(name).unwrap_or_default(),
            tables: Vec::new(),
        };
        let mut workbooks: Vec<(&str, &Path)> = vec![("schools", &inputs.schools)];
        if crate::shapes::is_polygon_file(&inputs.blocks) {
            // Blocks read from a polygon file come first, in feature order.
            let edited = scenario
                .edits
                .iter()
                .filter(|e| matches!(e.change, Change::AddBlock(_)))
                .count();
            pos.polygon_blocks = Some(city.blocks.len() - edited.min(city.blocks.len()));
        } else {
            workbooks.push(("blocks", &inputs.blocks));
        }
        if let Some(z) = &inputs.zones
            && !crate::shapes::is_polygon_file(z)
        {
            workbooks.push(("zones", z));
        }
        for (key, path) in workbooks {
            if crate::io::sheet::is_spreadsheet(path) {
                let spec = scenario.input_spec(key, path);
                pos.tables
                    .extend(crate::io::source::read_table(&spec, &name(path)).ok());
            }
        }
        for (k, e) in scenario.edits.iter().enumerate() {
            let at = e.position(k + 1);
            match &e.change {
                Change::OpenSchool(s) => {
                    pos.edited_schools.insert(s.school_id.clone(), at.clone());
                    if let Some(stage) = s.stage {
                        for b in &s.zone_blocks {
                            pos.edited_zones
                                .insert((stage, b.clone(), s.school_id.clone()), at.clone());
                        }
                    }
                }
                Change::AddBlock(b) => {
                    pos.edited_blocks.insert(b.block_id.clone(), at.clone());
                    for (stage, schools) in &b.zones {
                        for s in schools {
                            pos.edited_zones
                                .insert((*stage, b.block_id.clone(), s.clone()), at.clone());
                        }
                    }
                }
                Change::MoveBlocks { stage, blocks, to } => {
                    for b in blocks {
                        for s in to {
                            pos.edited_zones.insert((*stage, b.clone(), s.clone()), at.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        pos
    }

    fn diag(&self, at: Option<At>, fallback: &str, message: String, hint: &str) -> Diagnostic {
        let mut d = match at {
            Some((file, line)) => {
                let d = Diagnostic::file(&file, message, hint);
                match line {
                    Some(l) => d.at_line(l),
                    None => d,
                }
            }
            None => Diagnostic::file(fallback, message, hint),
        };
        for t in &self.tables {
            t.locate(&mut d);
        }
        d
    }

    /// The recorded line of a row (0 means none).
    fn line(lines: &[u64], index: Option<u32>) -> Option<u64> {
        index.and_then(|i| lines.get(i as usize).copied()).filter(|&l| l > 0)
    }

    /// A diagnostic at a school's row.
    pub(super) fn school(&self, id: &str, message: String, hint: &str) -> Diagnostic {
        let at = self.edited_schools.get(id).cloned().or_else(|| {
            Self::line(&self.city.lines.schools, self.city.school(id)).map(|l| (self.schools_file.clone(), Some(l)))
        });
        self.diag(at, &self.schools_file, message, hint).with_value(id)
    }

    /// A diagnostic at a block's row.
    pub(super) fn block(&self, id: &str, message: String, hint: &str) -> Diagnostic {
        let at = self.edited_blocks.get(id).cloned().or_else(|| {
            let index = self.city.block(id)?;
            let line = match self.polygon_blocks {
                Some(from_file) => ((index as usize) < from_file).then_some(u64::from(index) + 1),
                None => Self::line(&self.city.lines.blocks, Some(index)),
            };
            line.map(|l| (self.blocks_file.clone(), Some(l)))
        });
        self.diag(at, &self.blocks_file, message, hint).with_value(id)
    }

    /// A diagnostic at the row (or polygon, or edit) that zones `block` to `school`.
    pub(super) fn zone(&self, stage: Stage, block: &str, school: &str, message: String, hint: &str) -> Diagnostic {
        let at = self
            .edited_zones
            .get(&(stage, block.to_string(), school.to_string()))
            .cloned()
            .or_else(|| self.zone_row(stage, block, school))
            .or_else(|| self.zone_features().get(&(stage, school.to_string())).cloned());
        self.diag(at, &self.zones_file, message, hint).with_value(school)
    }

    fn zone_row(&self, stage: Stage, block: &str, school: &str) -> Option<At> {
        let (b, s) = (self.city.block(block)?, self.city.school(school)?);
        let rows = &self.zone_rows.get_or_init(|| {
            let zones = &self.city.lines.zones;
            [0, 1, 2].map(|stage| ZoneRows::new(&zones[stage]))
        })[stage.index()];
        rows.first_line(&self.city.lines.zones[stage.index()], b, s)
            .map(|l| (self.zones_file.clone(), Some(l)))
    }

    fn zone_features(&self) -> &HashMap<(Stage, String), At> {
        self.zone_features.get_or_init(|| {
            let mut features = HashMap::new();
            let Some(z) = &self.scenario.inputs.zones else {
                return features;
            };
            if !crate::shapes::is_polygon_file(z) {
                return features;
            }
            let file = z.display().to_string();
            for f in crate::shapes::read_features(z).unwrap_or_default() {
                if let Ok(stage) = f.property(&["stage", "学段"]).parse::<Stage>() {
                    let school = f.property(&["school_id", "学校代码"]).to_string();
                    features
                        .entry((stage, school))
                        .or_insert((file.clone(), Some(f.number)));
                }
            }
            features
        })
    }
}

/// One stage's zone rows ((block, school, line) in file order) grouped by block, each
/// block's in file order: the first row zoning a block to a school is found among that
/// block's few rows (no map entry per row).
#[derive(Debug, Default)]
pub(super) struct ZoneRows {
    /// Where each block's rows start in `rows`; one more entry than blocks.
    start: Vec<u32>,
    /// Positions in the stage's rows; empty when the rows are in block order already (a
    /// file sorted by block), where a row's position is its place here.
    rows: Vec<u32>,
}

impl ZoneRows {
    pub(super) fn new(lines: &[(u32, u32, u64)]) -> ZoneRows {
        let blocks = lines.iter().map(|r| r.0 as usize + 1).max().unwrap_or(0);
        let mut start = vec![0u32; blocks + 1];
        for &(b, _, _) in lines {
            start[b as usize + 1] += 1;
        }
        for b in 0..blocks {
            start[b + 1] += start[b];
        }
        if lines.is_sorted_by_key(|r| r.0) {
            return ZoneRows {
                start,
                rows: Vec::new(),
            };
        }
        let mut placed = start.clone();
        let mut rows = vec![0u32; lines.len()];
        for (i, &(b, _, _)) in lines.iter().enumerate() {
            rows[placed[b as usize] as usize] = i as u32;
            placed[b as usize] += 1;
        }
        ZoneRows { start, rows }
    }

    /// The line of the first row of `lines` (the rows this was built from) zoning `block`
    /// to `school`.
    pub(super) fn first_line(&self, lines: &[(u32, u32, u64)], block: u32, school: u32) -> Option<u64> {
        let b = block as usize;
        let range = *self.start.get(b)? as usize..*self.start.get(b + 1)? as usize;
        let zoned = |&&(_, s, _): &&(u32, u32, u64)| s == school;
        let found = match self.rows.is_empty() {
            true => lines[range].iter().find(zoned),
            false => self.rows[range].iter().map(|&i| &lines[i as usize]).find(zoned),
        };
        found.map(|&(_, _, line)| line)
    }
}
