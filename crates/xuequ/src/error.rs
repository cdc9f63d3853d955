//! Errors, one enum per stage, each saying what is wrong, where, and what to fix.

use std::fmt;
use std::path::PathBuf;

/// One problem found in an input: where it is, the offending value, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as the user named it (or as resolved from the scenario).
    pub file: String,
    /// The sheet, for a workbook input: `line` is then the sheet's row and `column` its
    /// column, shown as Excel shows them (`schools.xlsx:学校!C7`).
    pub sheet: Option<String>,
    /// 1-based line number in the file, when the problem is tied to a line.
    pub line: Option<u64>,
    /// 1-based column number, when the problem is tied to a field.
    pub column: Option<usize>,
    /// The column header or TOML key.
    pub field: Option<String>,
    /// The offending value, as written in the file.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl Diagnostic {
    /// A problem with a whole file.
    pub fn file(file: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            sheet: None,
            line: None,
            column: None,
            field: None,
            value: None,
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// Sets the line.
    pub fn at_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    /// Sets the column number and header.
    pub fn at_field(mut self, column: Option<usize>, field: impl Into<String>) -> Self {
        self.column = column;
        self.field = Some(field.into());
        self
    }

    /// Sets the offending value.
    pub fn with_value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        match (&self.sheet, self.line) {
            (Some(sheet), Some(line)) => {
                let col = self.column.map(crate::io::sheet::column_letters).unwrap_or_default();
                write!(f, ":{sheet}!{col}{line}")?;
            }
            (Some(sheet), None) => write!(f, ":{sheet}")?,
            (None, Some(line)) => {
                write!(f, ":{line}")?;
                if let Some(col) = self.column {
                    write!(f, ":{col}")?;
                }
            }
            (None, None) => {}
        }
        if let Some(field) = &self.field {
            write!(f, " [{field}]")?;
        }
        if let Some(value) = &self.value {
            write!(f, " value \"{}\"", truncate(value, 80))?;
        }
        write!(f, ": {}", self.message)?;
        if !self.hint.is_empty() {
            write!(f, " (fix: {})", self.hint)?;
        }
        Ok(())
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max).collect();
        format!("{head}…")
    }
}

/// A bounded collection of diagnostics: validation reports every problem at once, up to a cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    /// Problems found beyond the cap (counted, not kept). Readers stop at the cap, so this
    /// is not the number the input holds, and it is not reported: reports say how many were
    /// found below the cap, or that the cap was reached ([`Diagnostics::count_text`]).
    pub omitted: usize,
    cap: usize,
}

impl Diagnostics {
    /// Default cap on kept diagnostics.
    pub const DEFAULT_CAP: usize = 100;

    /// An empty collection that keeps at most `cap` diagnostics.
    pub fn with_cap(cap: usize) -> Self {
        Diagnostics {
            items: Vec::new(),
            omitted: 0,
            cap: cap.max(1),
        }
    }

    /// Records a problem.
    pub fn push(&mut self, d: Diagnostic) {
        if self.items.len() < self.cap {
            self.items.push(d);
        } else {
            self.omitted += 1;
        }
    }

    /// True when the cap is reached (callers may stop scanning early).
    pub fn is_full(&self) -> bool {
        self.items.len() >= self.cap
    }

    /// True when no problem was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Number of problems found, kept or not.
    pub fn total(&self) -> usize {
        self.items.len() + self.omitted
    }

    /// The number of problems as reports state it: the number found below the cap, or "100
    /// or more" once the cap is reached. Readers stop at the cap, and where a file is read in
    /// parallel pieces each piece stops at its own, so past the cap the number found says
    /// nothing about the file and would change with where the pieces were cut.
    pub fn count_text(&self) -> String {
        match self.is_full() {
            true => format!("{} or more", self.cap),
            false => self.total().to_string(),
        }
    }

    /// The kept problems, in the order found.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }
}

impl Default for Diagnostics {
    fn default() -> Self {
        Diagnostics::with_cap(Self::DEFAULT_CAP)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "  {d}")?;
        }
        if self.is_full() {
            writeln!(
                f,
                "  … only the first {} problems are listed: fix these and run again to find any others",
                self.cap
            )?;
        }
        Ok(())
    }
}

/// Loading or validating a scenario failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file could not be read.
    #[error("cannot read {path}: {source} (fix: check the path in the scenario's [inputs] and that the file exists)")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The inputs have problems; every one found (up to the cap) is listed.
    #[error("{} problem(s) in the inputs:\n{}", .0.count_text(), .0)]
    Invalid(Diagnostics),
}

/// Writing outputs failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source} (fix: check that the output directory is writable and the disk has space)")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// An allocation ran but its independent audit found violations.
#[derive(Debug, thiserror::Error)]
#[error("the audit found {count} violation(s); first: {first}")]
pub struct AuditFailed {
    /// Number of violations.
    pub count: usize,
    /// The first violation, as text.
    pub first: String,
}

/// Any error of the library, for callers who want one type: every module's error converts
/// into it (`?` works), its text is the module error's text unchanged, and
/// [`std::error::Error::source`] reaches the underlying cause. Match on the variant to tell
/// stages apart; new variants may be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Loading or validating a scenario.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Writing outputs.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The audit of an allocation.
    #[error(transparent)]
    Audit(#[from] AuditFailed),
    /// Explaining one applicant's result.
    #[error(transparent)]
    Explain(#[from] crate::explain::ExplainError),
    /// Building reports.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// Distances (roads, matrix).
    #[error(transparent)]
    Spatial(#[from] crate::spatial::SpatialError),
    /// Zoning.
    #[error(transparent)]
    Zoning(#[from] crate::zoning::ZoningError),
    /// Seat supply planning.
    #[error(transparent)]
    Supply(#[from] crate::supply::SupplyError),
    /// The enrollment-season service.
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    /// Merging lottery-risk tallies.
    #[error(transparent)]
    Merge(#[from] crate::risk::MergeError),
    /// The min-cost flow solver.
    #[error(transparent)]
    Flow(#[from] crate::flow::FlowError),
    /// Writing a GeoPackage.
    #[error(transparent)]
    Gpkg(#[from] crate::gpkg::GpkgError),
    /// Opening a tabular input.
    #[error(transparent)]
    Open(#[from] crate::io::source::OpenError),
    /// Reading a TOML file.
    #[error(transparent)]
    TomlRead(#[from] crate::io::toml_file::TomlReadError),
    /// A command's request (`xuequ::request`).
    #[error(transparent)]
    Request(#[from] crate::request::RequestError),
}

impl From<crate::io::source::OpenError> for LoadError {
    fn from(e: crate::io::source::OpenError) -> Self {
        match e {
            crate::io::source::OpenError::Io { path, source } => LoadError::Io { path, source },
            crate::io::source::OpenError::Invalid(d) => LoadError::Invalid(Diagnostics::from(*d)),
        }
    }
}

impl From<crate::io::toml_file::TomlReadError> for LoadError {
    fn from(e: crate::io::toml_file::TomlReadError) -> Self {
        match e {
            crate::io::toml_file::TomlReadError::Io { path, source } => LoadError::Io { path, source },
            crate::io::toml_file::TomlReadError::Invalid(d) => LoadError::Invalid(Diagnostics::from(*d)),
        }
    }
}

impl From<Diagnostic> for Diagnostics {
    /// A collection holding one problem.
    fn from(d: Diagnostic) -> Self {
        let mut all = Diagnostics::default();
        all.push(d);
        all
    }
}

impl From<crate::io::toml_file::TomlReadError> for crate::zoning::ZoningError {
    fn from(e: crate::io::toml_file::TomlReadError) -> Self {
        match e {
            crate::io::toml_file::TomlReadError::Io { path, source } => crate::zoning::ZoningError::Io { path, source },
            crate::io::toml_file::TomlReadError::Invalid(d) => {
                crate::zoning::ZoningError::Invalid(Diagnostics::from(*d))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Below the cap the report counts every problem; from the cap on it says "N or more"
    /// and that only the first N are listed, whatever was counted past the cap.
    #[test]
    fn the_count_reported_is_exact_below_the_cap_and_a_bound_from_it() {
        let problem = |i: usize| Diagnostic::file("students.csv", format!("problem {i}"), "fix it");
        for (found, omitted_by_pieces) in [(0, 0), (1, 0), (2, 0), (3, 0), (3, 7), (50, 40)] {
            let mut diags = Diagnostics::with_cap(3);
            for i in 0..found {
                diags.push(problem(i));
            }
            diags.omitted += omitted_by_pieces;
            let listed = found.min(3);
            let text = diags.to_string();
            assert_eq!(text.matches("problem ").count(), listed, "{text}");
            let count = match found >= 3 {
                true => "3 or more".to_string(),
                false => found.to_string(),
            };
            assert_eq!(diags.count_text(), count);
            let note = "  … only the first 3 problems are listed: fix these and run again to find any others\n";
            assert_eq!(text.ends_with(note), found >= 3, "{text}");
            let headline = LoadError::Invalid(diags).to_string();
            assert!(
                headline.starts_with(&format!("{count} problem(s) in the inputs:\n")),
                "{headline}"
            );
        }
    }
}
