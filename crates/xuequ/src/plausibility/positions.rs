//! Where each school, block and zone pair was written: file and line (or feature/record
//! number, or the scenario edit that made it), so that a warning points at the row to fix.
//!
//! The model keeps no line numbers, so the small tables (schools, blocks, zones) are read
//! again here; the students file is never re-read.

use std::collections::HashMap;
use std::path::Path;

use crate::edit::Change;
use crate::error::{Diagnostic, Diagnostics};
use crate::model::{City, Stage};
use crate::scenario::Scenario;

type At = (String, Option<u64>);

pub(super) struct Positions {
    schools: HashMap<String, At>,
    blocks: HashMap<String, At>,
    zones: HashMap<(Stage, String, String), At>,
    /// Zone polygons: (stage, school) to feature.
    zone_features: HashMap<(Stage, String), At>,
    schools_file: String,
    blocks_file: String,
    zones_file: String,
    /// The tables read again, to place positions on a workbook's sheet, row and column.
    tables: Vec<crate::io::source::TableText>,
}

/// Reads one tabular input as the loader does (any encoding, or a workbook's sheet) and
/// calls `on` with the wanted columns of every row and its line. Returns the table, to place
/// positions on a workbook's cells.
fn table_lines(
    scenario: &Scenario,
    key: &str,
    path: &Path,
    columns: &[&str],
    mut on: impl FnMut(Vec<&str>, u64),
) -> Option<crate::io::source::TableText> {
    let file = path.display().to_string();
    let text = crate::io::source::read_table(&scenario.input_spec(key, path), &file).ok()?;
    let mut ignore = Diagnostics::default();
    crate::load::read_csv(text.bytes.as_slice(), &file, columns, &mut ignore, |row, _| {
        on(columns.iter().map(|c| row.text(c)).collect(), row.line)
    });
    Some(text)
}

impl Positions {
    pub(super) fn new(scenario: &Scenario, city: &City) -> Positions {
        let inputs = &scenario.inputs;
        let name = |p: &Path| p.display().to_string();
        let mut pos = Positions {
            schools: HashMap::new(),
            blocks: HashMap::new(),
            zones: HashMap::new(),
            zone_features: HashMap::new(),
            schools_file: name(&inputs.schools),
            blocks_file: name(&inputs.blocks),
            zones_file: inputs.zones.as_deref().map(name).unwrap_or_default(),
            tables: Vec::new(),
        };
        let file = name(&inputs.schools);
        let mut schools = HashMap::new();
        let t = table_lines(scenario, "schools", &inputs.schools, &["school_id"], |v, line| {
            schools.entry(v[0].to_string()).or_insert((file.clone(), Some(line)));
        });
        pos.schools = schools;
        pos.tables.extend(t);
        let file = name(&inputs.blocks);
        if crate::shapes::is_polygon_file(&inputs.blocks) {
            // Blocks read from a polygon file come first, in feature order.
            let edited: Vec<&str> = scenario
                .edits
                .iter()
                .filter_map(|e| match &e.change {
                    Change::AddBlock(b) => Some(b.block_id.as_str()),
                    _ => None,
                })
                .collect();
            let from_file = city.blocks.len() - edited.len().min(city.blocks.len());
            for (i, b) in city.blocks.iter().take(from_file).enumerate() {
                pos.blocks.insert(b.id.clone(), (file.clone(), Some(i as u64 + 1)));
            }
        } else {
            let mut blocks = HashMap::new();
            let t = table_lines(scenario, "blocks", &inputs.blocks, &["block_id"], |v, line| {
                blocks.entry(v[0].to_string()).or_insert((file.clone(), Some(line)));
            });
            pos.blocks = blocks;
            pos.tables.extend(t);
        }
        if let Some(z) = &inputs.zones {
            let file = name(z);
            if crate::shapes::is_polygon_file(z) {
                if let Ok(features) = crate::shapes::read_features(z) {
                    for f in features {
                        if let Ok(stage) = f.property(&["stage", "学段"]).parse::<Stage>() {
                            let school = f.property(&["school_id", "学校代码"]).to_string();
                            pos.zone_features
                                .entry((stage, school))
                                .or_insert((file.clone(), Some(f.number)));
                        }
                    }
                }
            } else {
                let mut zones = HashMap::new();
                let t = table_lines(scenario, "zones", z, &["block_id", "stage", "school_id"], |v, line| {
                    if let Ok(stage) = v[1].parse::<Stage>() {
                        zones
                            .entry((stage, v[0].to_string(), v[2].to_string()))
                            .or_insert((file.clone(), Some(line)));
                    }
                });
                pos.zones = zones;
                pos.tables.extend(t);
            }
        }
        // Edits come last: what an edit made is found at the edit.
        for (k, e) in scenario.edits.iter().enumerate() {
            let at = e.position(k + 1);
            match &e.change {
                Change::OpenSchool(s) => {
                    pos.schools.insert(s.school_id.clone(), at.clone());
                    if let Some(stage) = s.stage {
                        for b in &s.zone_blocks {
                            pos.zones.insert((stage, b.clone(), s.school_id.clone()), at.clone());
                        }
                    }
                }
                Change::AddBlock(b) => {
                    pos.blocks.insert(b.block_id.clone(), at.clone());
                    for (stage, schools) in &b.zones {
                        for s in schools {
                            pos.zones.insert((*stage, b.block_id.clone(), s.clone()), at.clone());
                        }
                    }
                }
                Change::MoveBlocks { stage, blocks, to } => {
                    for b in blocks {
                        for s in to {
                            pos.zones.insert((*stage, b.clone(), s.clone()), at.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        pos
    }

    fn diag(&self, at: Option<&At>, fallback: &str, message: String, hint: &str) -> Diagnostic {
        let mut d = Self::place(at, fallback, message, hint);
        for t in &self.tables {
            t.locate(&mut d);
        }
        d
    }

    fn place(at: Option<&At>, fallback: &str, message: String, hint: &str) -> Diagnostic {
        match at {
            Some((file, line)) => {
                let d = Diagnostic::file(file, message, hint);
                match line {
                    Some(l) => d.at_line(*l),
                    None => d,
                }
            }
            None => Diagnostic::file(fallback, message, hint),
        }
    }

    /// A diagnostic at a school's row.
    pub(super) fn school(&self, id: &str, message: String, hint: &str) -> Diagnostic {
        self.diag(self.schools.get(id), &self.schools_file, message, hint)
            .with_value(id)
    }

    /// A diagnostic at a block's row.
    pub(super) fn block(&self, id: &str, message: String, hint: &str) -> Diagnostic {
        self.diag(self.blocks.get(id), &self.blocks_file, message, hint)
            .with_value(id)
    }

    /// A diagnostic at the row (or polygon, or edit) that zones `block` to `school`.
    pub(super) fn zone(&self, stage: Stage, block: &str, school: &str, message: String, hint: &str) -> Diagnostic {
        let at = self
            .zones
            .get(&(stage, block.to_string(), school.to_string()))
            .or_else(|| self.zone_features.get(&(stage, school.to_string())));
        self.diag(at, &self.zones_file, message, hint).with_value(school)
    }
}
