//! `population.csv`: children per block and age, for cohort progression.
//!
//! Columns `block_id, age, count`: `age` in completed years at the 31 August cutoff of the
//! scenario's year, `count` the children of that age living in the block (a whole or
//! fractional number ≥ 0, e.g. an estimate). Ages above [`MAX_AGE`] are accepted and ignored
//! (a full population register may be given as is). A block with no row keeps the
//! households × rate estimate.

use std::path::Path;

use super::SupplyError;
use super::csvio::read_table;

/// The largest accepted count of children of one age in one block (sums over a city stay
/// exact and finite).
const MAX_COUNT: f64 = 1.0e6;
use crate::error::{Diagnostic, Diagnostics};
use crate::load::Dataset;

/// The oldest age kept (junior entry is at 12; older children never enter an entry grade).
pub const MAX_AGE: u32 = 18;
const AGES: usize = MAX_AGE as usize + 1;

/// Children per block and age.
#[derive(Debug, Clone, Default)]
pub struct Population {
    counts: Vec<f64>,
    has: Vec<bool>,
    /// Data rows read.
    pub rows: usize,
    /// Rows ignored because the age is above [`MAX_AGE`].
    pub ignored_rows: usize,
}

impl Population {
    /// Reads `population.csv`.
    pub fn load(path: &Path, data: &Dataset) -> Result<Population, SupplyError> {
        let bytes = super::read_file(path)?;
        Population::from_csv(&bytes, &path.display().to_string(), data)
    }

    /// Parses `population.csv` text; `file` names it in diagnostics.
    pub fn from_csv(bytes: &[u8], file: &str, data: &Dataset) -> Result<Population, SupplyError> {
        let city = &data.city;
        let n = city.blocks.len();
        let mut pop = Population {
            counts: vec![0.0; n * AGES],
            has: vec![false; n],
            rows: 0,
            ignored_rows: 0,
        };
        let mut first_line: Vec<u64> = vec![0; n * AGES];
        let mut diags = Diagnostics::default();
        read_table(bytes, file, &["block_id", "age", "count"], &mut diags, |row, diags| {
            let block = row.required("block_id", diags).and_then(|b| {
                let found = city.block(b);
                if found.is_none() {
                    diags.push(row.diag("block_id", b, "no block has this id", "use a block_id from blocks.csv"));
                }
                found
            });
            let age = match row.parse::<u32>("age", "a whole number of years ≥ 0", diags) {
                Some(Some(a)) => Some(a),
                Some(None) => {
                    diags.push(row.diag("age", "", "age is empty", "write the age in completed years"));
                    None
                }
                None => None,
            };
            let count = match row.non_negative("count", diags) {
                Some(Some(c)) if c > MAX_COUNT => {
                    diags.push(row.diag(
                        "count",
                        row.text("count"),
                        format!("count is more than {MAX_COUNT} children in one block and age"),
                        "write the number of children of this age living in the block",
                    ));
                    None
                }
                Some(Some(c)) => Some(c),
                Some(None) => {
                    diags.push(row.diag("count", "", "count is empty", "write the number of children, 0 if none"));
                    None
                }
                None => None,
            };
            let (Some(block), Some(age), Some(count)) = (block, age, count) else {
                return;
            };
            pop.rows += 1;
            if age > MAX_AGE {
                pop.ignored_rows += 1;
                return;
            }
            let k = block as usize * AGES + age as usize;
            if first_line[k] != 0 {
                diags.push(row.diag(
                    "age",
                    row.text("age"),
                    format!("block and age repeat line {}", first_line[k]),
                    "give each block and age one row (add the counts together)",
                ));
                return;
            }
            first_line[k] = row.line;
            pop.counts[k] = count;
            pop.has[block as usize] = true;
        });
        if pop.rows == 0 && diags.is_empty() {
            diags.push(Diagnostic::file(
                file,
                "the file has no data rows",
                "add rows block_id,age,count or leave the file out",
            ));
        }
        if diags.is_empty() {
            Ok(pop)
        } else {
            Err(SupplyError::Invalid(diags))
        }
    }

    /// True when the block has at least one row.
    pub fn has_block(&self, block: u32) -> bool {
        self.has.get(block as usize).copied().unwrap_or(false)
    }

    /// Children of `age` in the block (0 when unknown).
    pub fn count(&self, block: u32, age: u32) -> f64 {
        if age > MAX_AGE {
            return 0.0;
        }
        self.counts
            .get(block as usize * AGES + age as usize)
            .copied()
            .unwrap_or(0.0)
    }

    /// Number of blocks with rows.
    pub fn blocks(&self) -> usize {
        self.has.iter().filter(|&&h| h).count()
    }
}
