//! The one CSV reader: decoding, header matching (with Chinese aliases), exact line numbers,
//! control-character checks, and rows with typed accessors that report every problem with
//! file, line, column, value and a fix.

use std::collections::HashMap;
use std::io::Read;

use super::text::{LineCounter, count_line_breaks};
use crate::crs::Crs;
use crate::error::{Diagnostic, Diagnostics};
use crate::model::{Location, Stage};

/// Column lookup for one CSV file.
pub(crate) struct Columns {
    pub(crate) index: HashMap<String, usize, rustc_hash::FxBuildHasher>,
    /// The same names in a small open-addressed table placed by [`Columns::slot`]: rows
    /// look up every field by name, millions of times, and this finds a name with one or
    /// two comparisons instead of a full hash or a scan of every column.
    slots: Vec<Option<(Box<str>, usize)>>,
}

impl Columns {
    fn new(index: HashMap<String, usize, rustc_hash::FxBuildHasher>) -> Self {
        let size = (index.len() * 4).next_power_of_two().max(16);
        let mut slots: Vec<Option<(Box<str>, usize)>> = vec![None; size];
        for (name, &column) in &index {
            let mut at = Self::slot(name, size);
            while slots[at].is_some() {
                at = (at + 1) & (size - 1);
            }
            slots[at] = Some((name.as_str().into(), column));
        }
        Columns { index, slots }
    }

    /// Where a name's search starts: its length and three of its bytes, mixed.
    fn slot(name: &str, size: usize) -> usize {
        let b = name.as_bytes();
        let byte = |i: usize| b.get(i).map_or(0, |&x| x as usize);
        let mixed = b.len() ^ (byte(0) << 8) ^ (byte(b.len() / 2) << 16) ^ (byte(b.len().wrapping_sub(1)) << 24);
        (mixed.wrapping_mul(0x9E37_79B9) >> 16) & (size - 1)
    }

    /// A column looked up once, for a reader that reads it on every row.
    pub(crate) fn found<'n>(&self, name: &'n str) -> Found<'n> {
        Found {
            name,
            index: self.get(name),
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<usize> {
        let size = self.slots.len();
        let mut at = Self::slot(name, size);
        // The table is at most a quarter full, so a free slot always ends the search.
        loop {
            match &self.slots[at] {
                None => return None,
                Some((n, c)) if n.len() == name.len() && **n == *name => return Some(*c),
                Some(_) => at = (at + 1) & (size - 1),
            }
        }
    }
}

/// How a row names a column: by its name (looked up in the header on each call) or as a
/// [`Found`] column, looked up once per file.
pub(crate) trait ColumnName: Copy {
    fn name(&self) -> &str;
    fn index(&self, columns: &Columns) -> Option<usize>;
}

impl<T: AsRef<str> + ?Sized> ColumnName for &T {
    fn name(&self) -> &str {
        (*self).as_ref()
    }

    fn index(&self, columns: &Columns) -> Option<usize> {
        columns.get(self.name())
    }
}

/// A column already looked up in the header ([`Columns::found`]): a reader of millions of
/// rows saves a name lookup per cell.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found<'n> {
    pub(crate) name: &'n str,
    pub(crate) index: Option<usize>,
}

impl ColumnName for Found<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn index(&self, _: &Columns) -> Option<usize> {
        self.index
    }
}

/// A cell without its surrounding whitespace. Most cells start and end with a printable
/// ASCII character and need no Unicode-aware trim.
fn trim_cell(cell: &str) -> &str {
    match (cell.as_bytes().first(), cell.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => cell,
        (None, _) => cell,
        _ => cell.trim(),
    }
}

/// The fields of one record, as places in a text: the line itself for quote-free text (no
/// field is copied), or a csv reader's unquoted fields laid end to end.
#[derive(Clone, Copy)]
pub(crate) struct Record<'a> {
    /// Every field lies within this text; only control-character checks read it whole.
    text: &'a str,
    /// Each field's start and end in `text`.
    bounds: &'a [(usize, usize)],
}

impl<'a> Record<'a> {
    pub(crate) fn len(&self) -> usize {
        self.bounds.len()
    }

    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        let &(from, to) = self.bounds.get(i)?;
        self.text.get(from..to)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        let text = self.text;
        self.bounds
            .iter()
            .map(move |&(from, to)| text.get(from..to).unwrap_or(""))
    }
}

/// One data row while it is being read (shared with the other CSV inputs of the crate).
pub(crate) struct Row<'a> {
    pub(crate) file: &'a str,
    pub(crate) line: u64,
    pub(crate) record: Record<'a>,
    pub(crate) columns: &'a Columns,
}

impl<'a> Row<'a> {
    pub(crate) fn diag(
        &self,
        column: impl ColumnName,
        value: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::file(self.file, message, hint)
            .at_line(self.line)
            .at_field(column.index(self.columns).map(|c| c + 1), column.name())
            .with_value(value)
    }

    /// The trimmed cell, empty when the column is absent.
    pub(crate) fn text(&self, column: impl ColumnName) -> &'a str {
        column
            .index(self.columns)
            .and_then(|c| self.record.get(c))
            .map_or("", |cell| super::writer::strip_neutralised(trim_cell(cell)))
    }

    pub(crate) fn required(&self, column: impl ColumnName, diags: &mut Diagnostics) -> Option<&'a str> {
        let v = self.text(column);
        if v.is_empty() {
            let name = column.name();
            diags.push(self.diag(column, v, format!("{name} is empty"), format!("fill in {name}")));
            None
        } else {
            Some(v)
        }
    }

    pub(crate) fn parse<T: std::str::FromStr>(
        &self,
        column: impl ColumnName,
        what: &str,
        diags: &mut Diagnostics,
    ) -> Option<Option<T>> {
        let v = self.text(column);
        if v.is_empty() {
            return Some(None);
        }
        match v.parse::<T>() {
            Ok(x) => Some(Some(x)),
            Err(_) => {
                let name = column.name();
                diags.push(self.diag(column, v, format!("{name} is not {what}"), format!("write {what}")));
                None
            }
        }
    }

    pub(crate) fn count(&self, column: impl ColumnName, diags: &mut Diagnostics) -> Option<Option<u32>> {
        self.parse::<u32>(column, "a whole number ≥ 0", diags)
    }

    pub(crate) fn boolean(&self, column: impl ColumnName, diags: &mut Diagnostics) -> Option<bool> {
        let v = self.text(column);
        // Compared without case and without lower-casing into a new string (once per cell).
        let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(v));
        if is(&["", "false", "0", "no", "n", "f", "否"]) {
            Some(false)
        } else if is(&["true", "1", "yes", "y", "t", "是"]) {
            Some(true)
        } else {
            diags.push(self.diag(
                column,
                v,
                format!("{} is not true or false", column.name()),
                "write true or false (also accepted: 1/0, yes/no, 是/否)",
            ));
            None
        }
    }

    pub(crate) fn location(&self, crs: Crs, diags: &mut Diagnostics) -> Option<Location> {
        self.location_in("lon", "lat", crs, diags)
    }

    /// [`Row::location`] from columns a reader already looked up.
    pub(crate) fn location_in<C: ColumnName>(
        &self,
        lon_column: C,
        lat_column: C,
        crs: Crs,
        diags: &mut Diagnostics,
    ) -> Option<Location> {
        let lon = self.parse::<f64>(lon_column, "a longitude in degrees", diags)?;
        let lat = self.parse::<f64>(lat_column, "a latitude in degrees", diags)?;
        let (Some(lon), Some(lat)) = (lon, lat) else {
            let col = if lon.is_none() { lon_column } else { lat_column };
            diags.push(self.diag(
                col,
                "",
                format!("{} is empty", col.name()),
                "every school and block needs lon and lat",
            ));
            return None;
        };
        if !(-180.0..=180.0).contains(&lon) || !lon.is_finite() {
            diags.push(self.diag(
                lon_column,
                self.text(lon_column),
                "longitude is outside -180..180",
                "check that lon and lat are not swapped",
            ));
            return None;
        }
        if !(-90.0..=90.0).contains(&lat) || !lat.is_finite() {
            diags.push(self.diag(
                lat_column,
                self.text(lat_column),
                "latitude is outside -90..90",
                "check that lon and lat are not swapped",
            ));
            return None;
        }
        let (lon, lat) = crs.to_wgs84(lon, lat);
        Some(Location::from_wgs84(lon, lat))
    }

    pub(crate) fn stage(&self, diags: &mut Diagnostics) -> Option<Stage> {
        self.stage_in("stage", diags)
    }

    /// The required stage in `column`.
    pub(crate) fn stage_in(&self, column: impl ColumnName, diags: &mut Diagnostics) -> Option<Stage> {
        let v = self.required(column, diags)?;
        match v.parse() {
            Ok(s) => Some(s),
            Err(hint) => {
                diags.push(self.diag(column, v, "unknown stage", hint));
                None
            }
        }
    }
}

impl<'a> Row<'a> {
    /// True when the file has the column.
    pub(crate) fn has(&self, column: &str) -> bool {
        self.columns.get(column).is_some()
    }

    /// An optional number that must be finite and ≥ 0 (`Some(None)` when empty).
    pub(crate) fn non_negative(&self, column: impl ColumnName, diags: &mut Diagnostics) -> Option<Option<f64>> {
        if let Some(whole) = small_whole_number(self.text(column)) {
            return Some(Some(whole));
        }
        match self.parse::<f64>(column, "a number", diags)? {
            None => Some(None),
            Some(x) if x.is_finite() && x >= 0.0 => Some(Some(x)),
            Some(_) => {
                diags.push(self.diag(
                    column,
                    self.text(column),
                    format!("{} must be a finite number ≥ 0", column.name()),
                    "write a number ≥ 0",
                ));
                None
            }
        }
    }

    /// An optional stage in `column` (`Some(None)` when empty).
    pub(crate) fn optional_stage(&self, column: &str, diags: &mut Diagnostics) -> Option<Option<Stage>> {
        let v = self.text(column);
        if v.is_empty() {
            return Some(None);
        }
        match v.parse() {
            Ok(s) => Some(Some(s)),
            Err(hint) => {
                diags.push(self.diag(column, v, "unknown stage", hint));
                None
            }
        }
    }
}

/// The value of a cell of at most 15 decimal digits (and nothing else), which a float holds
/// exactly and the float parser would give: most number cells (months, years) are such, and
/// are read without it.
fn small_whole_number(cell: &str) -> Option<f64> {
    let digits = cell.as_bytes();
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')) as f64)
}

/// A CSV file's header: column positions and width, and where the data rows start.
pub(crate) struct Header {
    pub(crate) columns: Columns,
    pub(crate) width: usize,
    /// Byte offset of the first data row.
    pub(crate) body_start: usize,
    /// Lines before the first data row (1 for a one-line header).
    pub(crate) lines_before: u64,
}

/// Reads the whole source, decodes it (UTF-8, GBK or UTF-16; see [`super::text`]) and checks
/// the header. Header names are matched case-insensitively and through the Chinese aliases
/// of [`canonical_header`].
pub(crate) fn read_header(
    input: impl CsvInput,
    file: &str,
    required: &[&str],
    diags: &mut Diagnostics,
) -> Option<(Vec<u8>, Header)> {
    let decoded = input.is_decoded_text();
    let bytes = match input.into_bytes() {
        Ok(b) => b,
        Err(e) => {
            diags.push(Diagnostic::file(file, format!("cannot read: {e}"), "check the file"));
            return None;
        }
    };
    let bytes = match decoded {
        true => bytes,
        false => match super::text::decode(bytes, file, None) {
            Ok((bytes, _)) => bytes,
            Err(d) => {
                diags.push(*d);
                return None;
            }
        },
    };
    let header = header_of(&bytes, file, required, diags)?;
    Some((bytes, header))
}

/// What a CSV reader takes whole: any reader (read to the end), or bytes already in memory
/// wrapped in [`OwnedBytes`] (taken as they are, without a copy: at a million applicants the
/// text is hundreds of megabytes).
pub trait CsvInput {
    /// The whole input.
    fn into_bytes(self) -> std::io::Result<Vec<u8>>;

    /// True when the bytes are already decoded UTF-8 text without a byte-order mark (a
    /// [`super::source::TableText`]'s): the reader then skips detecting the encoding.
    #[doc(hidden)]
    fn is_decoded_text(&self) -> bool {
        false
    }
}

impl<R: Read> CsvInput for R {
    fn into_bytes(mut self) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

/// Bytes already read, handed to a reader without a copy.
#[derive(Debug)]
pub struct OwnedBytes(pub Vec<u8>);

impl CsvInput for OwnedBytes {
    fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// The text of a [`super::source::TableText`]: decoded UTF-8 without a byte-order mark,
/// handed to a reader without a copy and without decoding it again.
#[derive(Debug)]
pub(crate) struct DecodedText(pub(crate) Vec<u8>);

impl CsvInput for DecodedText {
    fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        Ok(self.0)
    }

    fn is_decoded_text(&self) -> bool {
        true
    }
}

/// Checks the header of decoded UTF-8 CSV text.
pub(crate) fn header_of(bytes: &[u8], file: &str, required: &[&str], diags: &mut Diagnostics) -> Option<Header> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes);
    let mut record = csv::StringRecord::new();
    match rdr.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            diags.push(Diagnostic::file(
                file,
                "the file is empty",
                format!("write a header row: {}", required.join(",")),
            ));
            return None;
        }
        Err(e) => {
            diags.push(csv_error(file, &e, &mut LineCounter::new(bytes)));
            return None;
        }
    }
    let mut body_start = rdr.position().byte() as usize;
    // The reader stops inside a CRLF pair: the body starts after the whole terminator.
    if body_start > 0 && bytes.get(body_start - 1) == Some(&b'\r') && bytes.get(body_start) == Some(&b'\n') {
        body_start += 1;
    }
    // The body may begin with blank lines or the rest of a terminator (`\r\r\n`): it starts
    // on the line of its own first byte, not on the line of the first record.
    let lines_before = LineCounter::new(bytes).position(body_start).0 - 1;
    let mut index: HashMap<String, usize, rustc_hash::FxBuildHasher> = HashMap::default();
    for (i, h) in record.iter().enumerate() {
        let h = canonical_header(h);
        if index.insert(h.clone(), i).is_some() {
            diags.push(
                Diagnostic::file(
                    file,
                    format!("column {h} appears twice in the header"),
                    "remove the duplicate column (a Chinese header and its English name count as the same column)",
                )
                .at_line(1)
                .at_field(Some(i + 1), h),
            );
        }
    }
    let missing: Vec<&str> = required.iter().copied().filter(|c| !index.contains_key(*c)).collect();
    if !missing.is_empty() {
        let mut found: Vec<(usize, String)> = index.iter().map(|(k, v)| (*v, k.clone())).collect();
        found.sort();
        let found: Vec<String> = found.into_iter().map(|(_, k)| k).collect();
        diags.push(
            Diagnostic::file(
                file,
                format!("missing required column(s): {}", missing.join(", ")),
                format!(
                    "the header must contain {}; found: {}",
                    required.join(","),
                    found.join(",")
                ),
            )
            .at_line(1),
        );
        return None;
    }
    Some(Header {
        columns: Columns::new(index),
        width: record.len(),
        body_start,
        lines_before,
    })
}

/// The contract name of a header cell: trimmed, lower case, full-width forms folded, and
/// Chinese aliases (学校代码 → school_id, …) mapped to the column they name.
pub fn canonical_header(raw: &str) -> String {
    let folded: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(fold_width)
        .collect::<String>()
        .to_lowercase();
    // A unit or note in brackets after the name: 核定学位(个) → 核定学位.
    let bare = match folded.find('(') {
        Some(i) if i > 0 && folded.ends_with(')') => &folded[..i],
        _ => folded.as_str(),
    };
    HEADER_ALIASES
        .iter()
        .find(|(alias, _)| *alias == bare)
        .map_or_else(|| bare.to_string(), |(_, name)| (*name).to_string())
}

/// Full-width ASCII forms (Ａ, （, ＿) to half-width, and the ideographic space to a space.
pub fn fold_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Chinese header names accepted for the contract columns (docs/inputs.md lists them).
pub const HEADER_ALIASES: &[(&str, &str)] = &[
    // schools
    ("学校代码", "school_id"),
    ("学校编号", "school_id"),
    ("学校标识码", "school_id"),
    ("学校名称", "name"),
    ("名称", "name"),
    ("小区名称", "name"),
    ("区县", "district"),
    ("所属区县", "district"),
    ("行政区", "district"),
    ("区", "district"),
    ("学段", "stage"),
    ("办学性质", "sector"),
    ("性质", "sector"),
    ("经度", "lon"),
    ("纬度", "lat"),
    ("核定学位", "capacity"),
    ("学位数", "capacity"),
    ("招生计划", "capacity"),
    ("计划招生数", "capacity"),
    ("班级数", "classes"),
    ("招生班数", "classes"),
    ("计划班数", "classes"),
    ("班额", "class_size"),
    ("开办年份", "opens_year"),
    ("启用年份", "opens_year"),
    ("对口初中", "feeder_junior_id"),
    ("对口初中代码", "feeder_junior_id"),
    ("购买学位", "purchased_seats"),
    ("政府购买学位", "purchased_seats"),
    // blocks
    ("小区代码", "block_id"),
    ("小区编号", "block_id"),
    ("地块编号", "block_id"),
    ("户数", "households"),
    ("住户数", "households"),
    ("状态", "status"),
    ("入住年份", "move_in_year"),
    ("交付年份", "move_in_year"),
    ("规划户数", "planned_households"),
    // students
    ("学生编号", "student_id"),
    ("报名号", "student_id"),
    ("学籍号", "student_id"),
    ("户籍在学区", "hukou_in_zone"),
    ("户籍在片", "hukou_in_zone"),
    ("有房", "owns_home"),
    ("自有住房", "owns_home"),
    ("居住年限", "years_at_address"),
    ("房产编号", "property_id"),
    ("房产证号", "property_id"),
    ("随迁子女", "migrant"),
    ("居住证月数", "residence_permit_months"),
    ("社保月数", "social_insurance_months"),
    ("就读小学", "primary_school_id"),
    ("小学代码", "primary_school_id"),
    ("志愿", "choices"),
    // seat locks, distances
    ("年份", "year"),
    ("距离", "distance_m"),
    ("距离米", "distance_m"),
];

/// Parses data rows of `body`, whose first line is line `lines_before + 1` of the file.
/// Line numbers are as an editor shows them, for LF, CRLF and CR files alike.
pub(crate) fn parse_rows(
    body: &[u8],
    lines_before: u64,
    file: &str,
    header: &Header,
    diags: &mut Diagnostics,
    mut on_row: impl FnMut(&Row<'_>, &mut Diagnostics),
) {
    // Text without quotes and valid UTF-8 (nearly every file) is split directly, far faster
    // than the general reader; anything else goes through the csv crate.
    if memchr::memchr(b'"', body).is_none()
        && let Some(text) = crate::io::text::as_utf8(body)
    {
        parse_plain_rows(text, lines_before, file, header, diags, &mut on_row);
        return;
    }
    parse_csv_rows(body, lines_before, file, header, diags, &mut on_row);
}

/// [`parse_rows`] through the csv crate: any quoting, and exact positions of invalid UTF-8.
fn parse_csv_rows(
    body: &[u8],
    lines_before: u64,
    file: &str,
    header: &Header,
    diags: &mut Diagnostics,
    on_row: &mut impl FnMut(&Row<'_>, &mut Diagnostics),
) {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(body);
    let mut lines = LineCounter::starting_at(body, lines_before + 1);
    let mut record = csv::StringRecord::new();
    let mut bounds = Vec::with_capacity(header.width);
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                match e.kind() {
                    csv::ErrorKind::Utf8 { pos, err } => {
                        let line = lines.record_line(pos.as_ref().map_or(0, |p| p.byte() as usize));
                        diags.push(not_utf8(file, line, err.field()));
                    }
                    _ => diags.push(csv_error(file, &e, &mut lines)),
                }
                if diags.is_full() {
                    return;
                }
                continue;
            }
        }
        let line = lines.record_line(record.position().map_or(0, |p| p.byte() as usize));
        // The record holds its unquoted fields end to end.
        bounds.clear();
        let mut end = 0;
        bounds.extend(record.iter().map(|field| {
            end += field.len();
            (end - field.len(), end)
        }));
        let fields = Record {
            text: record.as_slice(),
            bounds: &bounds,
        };
        if !take_record(fields, line, false, file, header, diags, on_row) {
            return;
        }
    }
}

/// [`parse_rows`] for UTF-8 text without any quote: a record ends at `\n`, `\r\n` or a lone
/// `\r`, empty lines are skipped and fields are split at every comma, exactly as the csv
/// reader (in its default CRLF mode) reads such text.
fn parse_plain_rows(
    text: &str,
    lines_before: u64,
    file: &str,
    header: &Header,
    diags: &mut Diagnostics,
    on_row: &mut impl FnMut(&Row<'_>, &mut Diagnostics),
) {
    let bytes = text.as_bytes();
    // Line breaks only end records here, so a piece without any other control byte needs
    // no per-record check (one vectorised pass instead of one scan per record).
    let no_controls = !bytes.chunks(64).any(|chunk| {
        chunk.iter().fold(false, |found, &b| {
            found | (may_start_control(b) && b != b'\n' && b != b'\r')
        })
    });
    // Every line break lies between records here, so the line number is counted as the
    // breaks are stepped over (`\n`, `\r\n` and a lone `\r` are one break each), without a
    // second scan of the text.
    let mut line_number = lines_before + 1;
    let mut bounds = Vec::with_capacity(header.width);
    let mut start = 0usize;
    while start < bytes.len() {
        if matches!(bytes[start], b'\r' | b'\n') {
            let crlf = bytes[start] == b'\r' && bytes.get(start + 1) == Some(&b'\n');
            start += if crlf { 2 } else { 1 };
            line_number += 1;
            continue;
        }
        // The fields stay in the text: only their places are noted. One byte loop finds the
        // commas and the line's end: fields and lines are short, and a search per field or
        // per line pays its setup each time. Line breaks and commas are ASCII, so these cuts
        // fall on character boundaries.
        bounds.clear();
        let mut from = start;
        let mut end = start;
        while let Some(&b) = bytes.get(end) {
            if b == b',' {
                bounds.push((from - start, end - start));
                from = end + 1;
            } else if b == b'\n' || b == b'\r' {
                break;
            }
            end += 1;
        }
        bounds.push((from - start, end - start));
        let line = &text[start..end];
        let checked = no_controls && line.len() <= MAX_CELL_CHARS;
        start = end;
        let fields = Record {
            text: line,
            bounds: &bounds,
        };
        if !take_record(fields, line_number, checked, file, header, diags, on_row) {
            return;
        }
    }
}

/// Checks one record (blank, field count, control characters) and hands it to `on_row`.
/// Returns false when the diagnostics are full and reading should stop.
fn take_record(
    record: Record<'_>,
    line: u64,
    controls_checked: bool,
    file: &str,
    header: &Header,
    diags: &mut Diagnostics,
    on_row: &mut impl FnMut(&Row<'_>, &mut Diagnostics),
) -> bool {
    if record.len() == 1 && record.get(0).is_some_and(|f| f.trim().is_empty()) {
        return true; // blank line
    }
    if record.len() != header.width {
        diags.push(
            Diagnostic::file(
                file,
                format!(
                    "this row has {} fields but the header has {}",
                    record.len(),
                    header.width
                ),
                "check for a missing or extra comma; quote fields that contain commas",
            )
            .at_line(line),
        );
        return !diags.is_full();
    }
    if let Some((column, value, what)) = (!controls_checked)
        .then(|| control_character(record, &header.columns))
        .flatten()
    {
        let name = header
            .columns
            .index
            .iter()
            .find(|(_, c)| **c == column)
            .map_or_else(|| format!("column {}", column + 1), |(n, _)| n.clone());
        diags.push(
            Diagnostic::file(
                file,
                format!("the cell holds {what}"),
                "remove it: ids and names may not hold control characters (a tab or line break only inside a quoted free-text field), and a cell holds at most 32,767 characters",
            )
            .at_line(line)
            .at_field(Some(column + 1), name)
            .with_value(value.chars().take(80).collect::<String>().escape_debug().to_string()),
        );
        return !diags.is_full();
    }
    let row = Row {
        file,
        line,
        record,
        columns: &header.columns,
    };
    on_row(&row, diags);
    !diags.is_full()
}

/// A C0 control, DEL, or the lead byte (0xC2) of a C1 control in UTF-8.
fn may_start_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f || b == 0xc2
}

/// The most characters a cell may hold: a spreadsheet cell's own limit, so every output can
/// be opened in Excel and written into a workbook.
pub const MAX_CELL_CHARS: usize = 32_767;

/// The first field holding a control character (any C0 or C1 control or DEL, and in ids and
/// codes — a column named `*_id`, `stage`, `sector`, `status` — also tab and line breaks), or
/// more than [`MAX_CELL_CHARS`] characters.
fn control_character<'r>(record: Record<'r>, columns: &Columns) -> Option<(usize, &'r str, String)> {
    // Fast path: no byte that could start a control character (C0, DEL, or the 0xC2 lead
    // byte of C1) and no field long enough to matter. The text may hold commas besides
    // the fields, which are neither.
    let bytes = record.text.as_bytes();
    if bytes.len() <= MAX_CELL_CHARS && !bytes.iter().any(|&b| may_start_control(b)) {
        return None;
    }
    for (i, field) in record.iter().enumerate() {
        if field.len() > MAX_CELL_CHARS && field.chars().count() > MAX_CELL_CHARS {
            return Some((
                i,
                field,
                format!("{} characters, more than {MAX_CELL_CHARS}", field.chars().count()),
            ));
        }
        if !field.chars().any(char::is_control) {
            continue;
        }
        let strict = columns.index.iter().any(|(name, &c)| {
            c == i && (name.ends_with("_id") || matches!(name.as_str(), "stage" | "sector" | "status"))
        });
        let bad = field
            .chars()
            .find(|&c| c.is_control() && (strict || !matches!(c, '\t' | '\n' | '\r')));
        if let Some(c) = bad {
            return Some((i, field, format!("a control character, U+{:04X}", c as u32)));
        }
    }
    None
}

/// Reads a CSV source row by row, checking encoding, headers and field counts. Nothing is
/// read when the header is unusable.
pub(crate) fn read_csv(
    reader: impl CsvInput,
    file: &str,
    required: &[&str],
    diags: &mut Diagnostics,
    on_row: impl FnMut(&Row<'_>, &mut Diagnostics),
) {
    let Some((bytes, header)) = read_header(reader, file, required, diags) else {
        return;
    };
    parse_rows(
        &bytes[header.body_start..],
        header.lines_before,
        file,
        &header,
        diags,
        on_row,
    );
}

/// Cuts `body` into pieces of about `target` bytes at record boundaries (line breaks outside
/// quotes). Returns (start, end, lines before the piece).
pub(crate) fn split_records(body: &[u8], target: usize) -> Vec<(usize, usize, u64)> {
    use rayon::prelude::*;
    let target = target.max(1);
    if body.par_chunks(target).any(|c| memchr::memchr(b'"', c).is_some()) {
        return split_quoted_records(body, target);
    }
    // Without quotes every line break ends a record: the cuts need only a short search
    // each, and the pieces' lines are counted in parallel.
    let mut cuts = Vec::new();
    let mut start = 0usize;
    while start < body.len() {
        let want = start.saturating_add(target);
        let end = match body.get(want..) {
            Some(rest) => memchr::memchr(b'\n', rest).map_or(body.len(), |i| want + i + 1),
            None => body.len(),
        };
        cuts.push((start, end));
        start = end;
    }
    let lines: Vec<u64> = cuts.par_iter().map(|&(s, e)| count_line_breaks(&body[s..e])).collect();
    let mut before = 0u64;
    cuts.iter()
        .zip(lines)
        .map(|(&(s, e), n)| {
            let piece = (s, e, before);
            before += n;
            piece
        })
        .collect()
}

/// [`split_records`] for a text with quotes: a line break inside quotes is not a cut.
fn split_quoted_records(body: &[u8], target: usize) -> Vec<(usize, usize, u64)> {
    let mut pieces = Vec::new();
    let mut start = 0usize;
    let mut lines = 0u64;
    let mut in_quotes = false;
    let mut pos = 0usize;
    while start < body.len() {
        let want = start.saturating_add(target);
        if want >= body.len() {
            pieces.push((start, body.len(), lines));
            break;
        }
        // Advance to the first record boundary at or after `want`.
        let mut cut = None;
        while pos < body.len() {
            let b = body[pos];
            pos += 1;
            if b == b'"' {
                in_quotes = !in_quotes;
            } else if b == b'\n' && !in_quotes && pos > want {
                cut = Some(pos);
                break;
            }
        }
        let end = cut.unwrap_or(body.len());
        pieces.push((start, end, lines));
        lines += count_line_breaks(&body[start..end]);
        start = end;
        pos = pos.max(end);
    }
    pieces
}

fn not_utf8(file: &str, line: u64, field: usize) -> Diagnostic {
    Diagnostic::file(
        file,
        "the text is not valid UTF-8",
        "save the file as CSV UTF-8 (Excel: 另存为 → CSV UTF-8), or name its encoding in scenario.toml",
    )
    .at_line(line)
    .at_field(Some(field + 1), format!("column {}", field + 1))
}

fn csv_error(file: &str, e: &csv::Error, lines: &mut LineCounter<'_>) -> Diagnostic {
    let line = lines.record_line(e.position().map_or(0, |p| p.byte() as usize));
    Diagnostic::file(
        file,
        format!("unreadable CSV: {e}"),
        "check quoting: a field with a quote must be quoted and the quote doubled",
    )
    .at_line(line)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{count_line_breaks, split_records};
    use crate::crs::Crs;
    use crate::error::Diagnostics;
    use crate::model::City;

    fn bad_row_line(text: &str) -> Option<u64> {
        let mut city = City::default();
        let mut diags = Diagnostics::default();
        crate::load::read_blocks(text.as_bytes(), "blocks.csv", Crs::Wgs84, &mut city, &mut diags);
        assert_eq!(diags.items().len(), 1, "{diags}");
        diags.items()[0].line
    }

    /// The plain definition of [`split_records`]'s cuts: walk the text byte by byte, tracking
    /// quotes, and cut after the first line break outside quotes at or after each target
    /// (the piece's start plus `target` bytes).
    fn cuts_by_walking(body: &[u8], target: usize) -> Vec<(usize, usize, u64)> {
        let mut pieces = Vec::new();
        let (mut start, mut in_quotes) = (0, false);
        for (i, &b) in body.iter().enumerate() {
            in_quotes ^= b == b'"';
            if b == b'\n' && !in_quotes && i >= start + target {
                pieces.push((start, i + 1));
                start = i + 1;
            }
        }
        if start < body.len() {
            pieces.push((start, body.len()));
        }
        pieces
            .into_iter()
            .map(|(s, e)| (s, e, count_line_breaks(&body[..s])))
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Cuts and line counts, with and without quotes, CR LF and lone CR line breaks.
        #[test]
        fn split_records_cuts_where_walking_the_text_does(
            body in "[ab,\"\r\n]{0,200}",
            target in 1usize..40,
        ) {
            let got = split_records(body.as_bytes(), target);
            proptest::prop_assert_eq!(got, cuts_by_walking(body.as_bytes(), target));
        }
    }

    proptest::proptest! {
        /// The column table finds every header name at its position and no other name.
        #[test]
        fn columns_find_exactly_the_header_names(
            names in proptest::collection::hash_set("[a-z_]{0,12}", 0..60),
            others in proptest::collection::vec("[a-z_]{0,12}", 0..20),
        ) {
            let names: Vec<String> = names.into_iter().collect();
            let columns = super::Columns::new(names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect());
            for (i, n) in names.iter().enumerate() {
                proptest::prop_assert_eq!(columns.get(n), Some(i));
            }
            for o in others.iter().filter(|o| !names.contains(o)) {
                proptest::prop_assert_eq!(columns.get(o), None);
            }
        }
    }

    /// Every row, with its line, and every diagnostic, as one parser reads `body`.
    fn read_all(body: &str, width: usize, plain: bool) -> (Vec<(u64, Vec<String>)>, String) {
        let names = ["a", "b_id", "c", "d"];
        let header = super::Header {
            columns: super::Columns::new(
                names[..width]
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.to_string(), i))
                    .collect(),
            ),
            width,
            body_start: 0,
            lines_before: 1,
        };
        let mut rows = Vec::new();
        let mut diags = Diagnostics::with_cap(1000);
        let mut on_row = |row: &super::Row<'_>, _: &mut Diagnostics| {
            rows.push((row.line, row.record.iter().map(str::to_string).collect()));
        };
        if plain {
            super::parse_plain_rows(body, 1, "t.csv", &header, &mut diags, &mut on_row);
        } else {
            super::parse_csv_rows(body.as_bytes(), 1, "t.csv", &header, &mut diags, &mut on_row);
        }
        (rows, diags.to_string())
    }

    proptest::proptest! {
        /// Short digit strings read without the float parser have its value, bit for bit;
        /// anything else is left to it.
        #[test]
        fn small_whole_numbers_read_as_the_float_parser_reads_them(cell in "[0-9]{0,17}|[0-9.e+ -]{0,6}|9{15,16}") {
            match super::small_whole_number(&cell) {
                Some(v) => proptest::prop_assert_eq!(v.to_bits(), cell.parse::<f64>().unwrap().to_bits()),
                None => proptest::prop_assert!(cell.is_empty() || cell.len() > 15 || !cell.bytes().all(|b| b.is_ascii_digit())),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// The direct splitter reads quote-free text exactly as the csv crate does: the
        /// same rows on the same lines, and the same diagnostics (field counts, control
        /// characters, blank lines), for LF, CRLF and CR line ends.
        #[test]
        fn quote_free_text_is_read_as_the_csv_crate_reads_it(
            body in "[ab,\\r\\n \\t\\x01é中\\x{85}·]{0,120}",
            width in 1usize..5,
        ) {
            proptest::prop_assert_eq!(read_all(&body, width, true), read_all(&body, width, false));
        }
    }

    /// The header may end in a lone CR followed by a line break (`\r\r\n`, a CRLF file saved
    /// again as CRLF) or be followed by blank lines: rows keep the line an editor shows.
    #[test]
    fn rows_after_blank_lines_or_doubled_cr_after_the_header_keep_their_line() {
        const H: &str = "block_id,name,district,lon,lat,households";
        const B1: &str = "B1,a,b,120.3,31.5,10";
        for (text, line) in [
            (format!("{H}\n{B1}\nB2,a\n"), 3),
            (format!("{H}\n\n{B1}\n\nB2,a\n"), 5),
            (format!("{H}\r\n\r\n{B1}\r\nB2,a\r\n"), 4),
            (format!("{H}\r\r\n{B1}\r\r\nB2,a"), 5),
            (format!("{H}\r\r{B1}\r\rB2,a\r"), 5),
            (format!("{H}\r\r\n\r\r\n{B1}\r\nB2,a"), 6),
        ] {
            assert_eq!(bad_row_line(&text), Some(line), "{text:?}");
        }
    }
}
