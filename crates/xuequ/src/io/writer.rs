//! The one CSV writer: RFC 4180 quoting, an optional UTF-8 byte-order mark, and formula
//! neutralisation.
//!
//! Spreadsheet programs run a cell that begins with `=`, `+`, `-` or `@` (and some a tab or
//! carriage return) as a formula, so a school named `=HYPERLINK(…)` in an input would run in
//! the planner's Excel. Text cells that begin with one of these characters are written with a
//! leading apostrophe (`'=…`), as OWASP's CSV-injection advice and the spreadsheet programs
//! themselves do; numbers are never changed (the engine's own, and a text cell that reads as a
//! number, such as `-3`, which a spreadsheet takes as data). The reader drops that one
//! apostrophe again, so an output fed back as an input (a proposed `zones.csv`) reads exactly.

use std::fmt::Display;

/// True when a spreadsheet would run `text` as a formula.
pub fn starts_like_formula(text: &str) -> bool {
    matches!(text.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
}

/// Undoes [`CsvWriter::text`]'s neutralisation when reading a cell back.
pub fn strip_neutralised(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if starts_like_formula(rest) => rest,
        _ => cell,
    }
}

/// Builds CSV text row by row in memory (callers stream it out in pieces).
#[derive(Debug, Clone, Default)]
pub struct CsvWriter {
    buf: Vec<u8>,
    scratch: String,
    first: bool,
}

impl CsvWriter {
    /// An empty writer, starting with a byte-order mark when `bom`.
    pub fn new(bom: bool) -> Self {
        let mut w = CsvWriter {
            buf: Vec::with_capacity(1 << 16),
            scratch: String::new(),
            first: true,
        };
        if bom {
            w.buf.extend_from_slice("\u{feff}".as_bytes());
        }
        w
    }

    /// A writer whose first row is `header`.
    pub fn with_header(header: &[&str], bom: bool) -> Self {
        let mut w = CsvWriter::new(bom);
        w.row(header);
        w
    }

    /// A writer without a mark for a piece of a larger file.
    pub fn piece(capacity: usize) -> Self {
        CsvWriter {
            buf: Vec::with_capacity(capacity),
            scratch: String::new(),
            first: true,
        }
    }

    fn separator(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    fn quoted(&mut self, text: &str, neutralise: bool) {
        // A number ("-3", "+5") is data to a spreadsheet, not a formula: left as it is.
        let prefix = neutralise && starts_like_formula(text) && text.trim().parse::<f64>().is_err();
        if text.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            self.buf.push(b'"');
            if prefix {
                self.buf.push(b'\'');
            }
            for b in text.bytes() {
                if b == b'"' {
                    self.buf.push(b'"');
                }
                self.buf.push(b);
            }
            self.buf.push(b'"');
        } else {
            if prefix {
                self.buf.push(b'\'');
            }
            self.buf.extend_from_slice(text.as_bytes());
        }
    }

    /// A text cell (ids, names, codes): quoted when needed, neutralised when it would run as
    /// a formula.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.separator();
        self.quoted(text, true);
        self
    }

    /// A value the engine formats itself (numbers, booleans): written as displayed.
    pub fn value(&mut self, value: impl Display) -> &mut Self {
        use std::fmt::Write as _;
        self.separator();
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        let _ = write!(s, "{value}");
        self.quoted(&s, false);
        self.scratch = s;
        self
    }

    /// A whole number: digits only, so never quoted or neutralised.
    pub(crate) fn unsigned(&mut self, value: u64) -> &mut Self {
        self.separator();
        self.buf.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// Cells rendered before by [`RenderedCells`] (written as they are).
    pub(crate) fn rendered(&mut self, cells: &[u8]) -> &mut Self {
        self.separator();
        self.buf.extend_from_slice(cells);
        self
    }

    /// An optional value: empty when `None`.
    pub fn opt(&mut self, value: Option<impl Display>) -> &mut Self {
        match value {
            Some(v) => self.value(v),
            None => self.text(""),
        }
    }

    /// Ends the row.
    pub fn end(&mut self) {
        self.buf.push(b'\n');
        self.first = true;
    }

    /// A whole row of text cells.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        for c in cells {
            self.text(c.as_ref());
        }
        self.end();
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes the bytes written so far, leaving the writer empty (for streaming).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The CSV text.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Groups of adjacent text cells rendered once (quoted and neutralised as
/// [`CsvWriter::text`] does), for cells that repeat on many rows: a school's or a block's.
pub(crate) struct RenderedCells {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl RenderedCells {
    pub(crate) fn new<'a, const N: usize>(groups: impl Iterator<Item = [&'a str; N]> + Clone) -> Self {
        // Room for the text and its separators up front: a million blocks' cells would
        // otherwise be copied to a larger buffer again and again.
        let text: usize = groups
            .clone()
            .map(|g| g.iter().map(|c| c.len() + 1).sum::<usize>())
            .sum();
        let mut w = CsvWriter::piece(text + text / 8);
        let mut ends = Vec::with_capacity(groups.size_hint().0 + 1);
        ends.push(0);
        for group in groups {
            for cell in group {
                w.text(cell);
            }
            w.first = true;
            ends.push(w.buf.len());
        }
        RenderedCells { bytes: w.buf, ends }
    }

    /// Group `i`, its cells separated by commas.
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        &self.bytes[self.ends[i]..self.ends[i + 1]]
    }
}

/// Rows of a serde record type (field names as the header) through the one writer: each
/// cell as text, so names that would run as formulas are neutralised and numbers stay as they
/// are. With no rows, the file is `empty_header` alone.
pub fn serialize_rows<T: serde::Serialize>(rows: &[T], bom: bool, empty_header: &[&str]) -> Vec<u8> {
    let mut plain = csv::Writer::from_writer(Vec::new());
    for r in rows {
        // Serialising plain records into memory cannot fail.
        let _ = plain.serialize(r);
    }
    let plain = plain.into_inner().unwrap_or_default();
    let mut w = CsvWriter::new(bom);
    if rows.is_empty() {
        w.row(empty_header);
        return w.into_bytes();
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(plain.as_slice());
    for record in reader.records().flatten() {
        for cell in record.iter() {
            w.text(cell);
        }
        w.end();
    }
    w.into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    proptest::proptest! {
        /// Rows built from rendered cells and whole numbers read exactly as rows built cell
        /// by cell with `text` and `value` (quotes, commas, formulas, empty cells).
        #[test]
        fn rendered_cells_and_numbers_write_what_text_and_value_write(
            groups in proptest::collection::vec(["[a=+@,\"\n 中-]{0,6}", "[a=+@,\"\n 中-]{0,6}"], 1..8),
            numbers in proptest::collection::vec(proptest::num::u64::ANY, 1..8),
        ) {
            let cells = RenderedCells::new(groups.iter().map(|[a, b]| [a.as_str(), b.as_str()]));
            let (mut fast, mut plain) = (CsvWriter::new(false), CsvWriter::new(false));
            for (i, [a, b]) in groups.iter().enumerate() {
                let n = numbers[i % numbers.len()];
                fast.unsigned(n).rendered(cells.get(i)).end();
                plain.value(n).text(a).text(b).end();
            }
            proptest::prop_assert_eq!(fast.into_bytes(), plain.into_bytes());
        }
    }

    #[test]
    fn formulas_are_neutralised_and_read_back() {
        let mut w = CsvWriter::new(false);
        w.text("=HYPERLINK(\"x\")")
            .text("+SUM(A1)")
            .text("-a")
            .text("@b")
            .text("plain")
            .value(-3);
        w.end();
        let text = String::from_utf8(w.into_bytes()).unwrap();
        assert_eq!(text, "\"'=HYPERLINK(\"\"x\"\")\",'+SUM(A1),'-a,'@b,plain,-3\n");
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let rec = r.records().next().unwrap().unwrap();
        let back: Vec<&str> = rec.iter().map(strip_neutralised).collect();
        assert_eq!(back, ["=HYPERLINK(\"x\")", "+SUM(A1)", "-a", "@b", "plain", "-3"]);
    }

    #[test]
    fn numbers_in_text_cells_are_left_alone() {
        let mut w = CsvWriter::new(false);
        w.text("-3").text("+5").text("-1.5e3").text("-3 班");
        w.end();
        assert_eq!(w.into_bytes(), b"-3,+5,-1.5e3,'-3 \xe7\x8f\xad\n");
    }

    #[test]
    fn bom_and_quoting() {
        let mut w = CsvWriter::with_header(&["a", "b"], true);
        w.text("x,y").text("line\nbreak");
        w.end();
        assert_eq!(w.into_bytes(), "\u{feff}a,b\n\"x,y\",\"line\nbreak\"\n".as_bytes());
    }
}
