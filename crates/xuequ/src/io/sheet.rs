//! Spreadsheet inputs (`.xlsx`, `.xlsm`, `.xls`, `.xlsb`, `.ods`, read with calamine): one
//! sheet becomes CSV text for the one reader, with a map back to the sheet's rows so every
//! problem is reported as Excel shows it (`schools.xlsx:学校!C7`).
//!
//! Cells are written as text: strings as they are, whole numbers without a decimal point
//! (a school code typed as a number stays `32020001`), other numbers in the shortest form
//! that reads back to the same value, booleans as `true`/`false`, dates as their ISO text or
//! serial number. A cell holding an Excel error (`#N/A`, `#DIV/0!`) is a problem at its cell.
//! Rows that are entirely empty are skipped.

use std::path::Path;

use calamine::{Data, Reader};

use crate::error::Diagnostic;

/// One sheet as CSV text, with positions back to the sheet.
#[derive(Debug, Clone)]
pub struct SheetText {
    /// The sheet as UTF-8 CSV text.
    pub csv: Vec<u8>,
    /// The sheet's name.
    pub sheet: String,
    /// For line `i + 1` of `csv`, the sheet row (1-based) it came from.
    pub rows: Vec<u32>,
    /// The sheet column (0-based) of the CSV's first column.
    pub first_column: u32,
}

impl SheetText {
    /// Rewrites a diagnostic positioned in the CSV text to the sheet's row and column.
    pub fn locate(&self, d: &mut Diagnostic) {
        d.sheet = Some(self.sheet.clone());
        if let Some(line) = d.line {
            d.line = self.rows.get((line as usize).saturating_sub(1)).map(|&r| u64::from(r));
        }
        if let Some(column) = d.column {
            d.column = Some(column + self.first_column as usize);
        }
    }
}

/// True for file names a spreadsheet reader opens.
pub fn is_spreadsheet(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "xlsx" | "xlsm" | "xls" | "xlsb" | "ods"
        )
    })
}

/// A workbook's bytes opened by the reader its file name asks for (any reader that
/// recognises them when the name has no workbook extension), as calamine's
/// `open_workbook_auto` opens a path.
fn open_workbook<'a>(
    bytes: &'a [u8],
    path: &Path,
) -> Result<calamine::Sheets<std::io::Cursor<&'a [u8]>>, calamine::Error> {
    use calamine::{Error, Sheets, open_workbook_from_rs};
    let data = std::io::Cursor::new(bytes);
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    Ok(match extension.as_deref() {
        Some("xls" | "xla") => Sheets::Xls(open_workbook_from_rs(data).map_err(Error::Xls)?),
        Some("xlsx" | "xlsm" | "xlam") => Sheets::Xlsx(open_workbook_from_rs(data).map_err(Error::Xlsx)?),
        Some("xlsb") => Sheets::Xlsb(open_workbook_from_rs(data).map_err(Error::Xlsb)?),
        Some("ods") => Sheets::Ods(open_workbook_from_rs(data).map_err(Error::Ods)?),
        _ => calamine::open_workbook_auto_from_rs(data)?,
    })
}

/// Reads one sheet (the named one, else the first) of a workbook, from its bytes as read
/// from `path` (whose name says the format).
pub(crate) fn sheet_of_bytes(
    bytes: &[u8],
    path: &Path,
    file: &str,
    sheet: Option<&str>,
) -> Result<SheetText, Box<Diagnostic>> {
    let mut book = open_workbook(bytes, path).map_err(|e| {
        Box::new(Diagnostic::file(
            file,
            format!("cannot open the workbook: {e}"),
            "check that the file is a complete .xlsx/.xls/.ods workbook (re-save it from Excel or WPS)",
        ))
    })?;
    let names = book.sheet_names();
    let name = match sheet {
        Some(s) => match names.iter().find(|n| n.as_str() == s) {
            Some(n) => n.clone(),
            None => {
                return Err(Box::new(
                    Diagnostic::file(
                        file,
                        format!("the workbook has no sheet named {s}"),
                        format!("name one of its sheets: {}", names.join(", ")),
                    )
                    .at_field(None, "sheet")
                    .with_value(s),
                ));
            }
        },
        None => match names.first() {
            Some(n) => n.clone(),
            None => {
                return Err(Box::new(Diagnostic::file(
                    file,
                    "the workbook has no sheet",
                    "put the table on the first sheet",
                )));
            }
        },
    };
    let range = book.worksheet_range(&name).map_err(|e| {
        Box::new(Diagnostic::file(
            file,
            format!("cannot read sheet {name}: {e}"),
            "re-save the workbook from Excel or WPS",
        ))
    })?;
    let (first_row, first_column) = range.start().unwrap_or((0, 0));
    let mut csv = Vec::new();
    let mut rows = Vec::new();
    {
        let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(&mut csv);
        for (i, row) in range.rows().enumerate() {
            if row.iter().all(|c| matches!(c, Data::Empty)) {
                continue;
            }
            let sheet_row = first_row + i as u32 + 1;
            let mut cells = Vec::with_capacity(row.len());
            for (j, cell) in row.iter().enumerate() {
                let text = match cell {
                    Data::Error(e) => {
                        let mut d = Diagnostic::file(
                            file,
                            format!("the cell holds the Excel error {e}"),
                            "replace the formula's error with a value",
                        )
                        .at_line(u64::from(sheet_row))
                        .at_field(Some(first_column as usize + j + 1), format!("column {}", j + 1));
                        d.sheet = Some(name.clone());
                        return Err(Box::new(d));
                    }
                    other => cell_text(other),
                };
                cells.push(text);
            }
            let lines = 1 + cells
                .iter()
                .map(|c| super::text::count_line_breaks(c.as_bytes()))
                .sum::<u64>();
            writer.write_record(&cells).map_err(|e| {
                Box::new(Diagnostic::file(
                    file,
                    format!("cannot convert the sheet: {e}"),
                    "re-save the workbook",
                ))
            })?;
            rows.extend(std::iter::repeat_n(sheet_row, lines as usize));
        }
        writer
            .flush()
            .map_err(|e| Diagnostic::file(file, format!("cannot convert the sheet: {e}"), ""))?;
    }
    Ok(SheetText {
        csv,
        sheet: name,
        rows,
        first_column,
    })
}

/// The text of one cell.
pub fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                format!("{f}")
            }
        }
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => format!("{}", d.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("{e}"),
    }
}

/// Column letters as Excel shows them: 1 → A, 27 → AA.
pub fn column_letters(mut column: usize) -> String {
    let mut out = Vec::new();
    while column > 0 {
        let rem = (column - 1) % 26;
        out.push(b'A' + rem as u8);
        column = (column - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn column_letters_match_excel() {
        assert_eq!(column_letters(1), "A");
        assert_eq!(column_letters(3), "C");
        assert_eq!(column_letters(26), "Z");
        assert_eq!(column_letters(27), "AA");
        assert_eq!(column_letters(703), "AAA");
    }

    #[test]
    fn numbers_read_back_as_written() {
        assert_eq!(cell_text(&Data::Float(32020001.0)), "32020001");
        assert_eq!(cell_text(&Data::Float(120.301234)), "120.301234");
        assert_eq!(cell_text(&Data::Float(-0.5)), "-0.5");
        assert_eq!(cell_text(&Data::Int(7)), "7");
    }
}
