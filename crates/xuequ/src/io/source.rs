//! Opening a tabular input: a CSV file in any accepted encoding, or one sheet of a workbook.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::output_set::{HashingWriter, ManifestInput};
use super::sheet::{SheetText, is_spreadsheet, sheet_of_bytes};
use super::text::{TextEncoding, decode};
use crate::error::Diagnostic;

/// How to read one input: its path and, optionally, a forced encoding or a sheet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputSpec {
    /// The file.
    pub path: PathBuf,
    /// The text encoding, when the scenario forces one (otherwise detected).
    pub encoding: Option<TextEncoding>,
    /// The sheet of a workbook (otherwise the first).
    pub sheet: Option<String>,
}

impl InputSpec {
    /// A file read with detection and the first sheet.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        InputSpec {
            path: path.into(),
            ..InputSpec::default()
        }
    }
}

/// What an input was read as (reported by `validate` and recorded in the manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    /// The file as the user named it.
    pub file: String,
    /// `csv`, `workbook` or `memory` (given by the caller, not read from a file).
    pub format: &'static str,
    /// The detected or forced encoding (CSV files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<TextEncoding>,
    /// The sheet read (workbooks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
}

impl std::fmt::Display for SourceInfo {
    /// `schools.csv (csv, gbk)` or `students.xlsx (workbook, sheet 报名)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Path::new(&self.file)
            .file_name()
            .map_or_else(|| self.file.clone(), |n| n.to_string_lossy().into_owned());
        match (&self.encoding, &self.sheet) {
            (_, Some(sheet)) => write!(f, "{name} ({}, sheet {sheet})", self.format),
            (Some(enc), None) => write!(f, "{name} ({}, {enc})", self.format),
            (None, None) => write!(f, "{name} ({})", self.format),
        }
    }
}

/// A tabular input as UTF-8 CSV text, with what it was read as.
#[derive(Debug, Clone)]
pub struct TableText {
    /// UTF-8 CSV text (decoded, without a byte-order mark).
    pub bytes: Vec<u8>,
    /// What the file was read as.
    pub info: SourceInfo,
    sheet: Option<SheetText>,
    /// The size and SHA-256 of the bytes read (before decoding), when this module read them.
    read: Option<ManifestInput>,
}

impl TableText {
    /// A table given in memory as UTF-8 CSV text (a byte-order mark allowed), named `file`
    /// in messages; text that is not UTF-8 is an error naming its line.
    pub fn in_memory(bytes: Vec<u8>, file: &str) -> Result<TableText, OpenError> {
        let read = bytes_read(&bytes, &in_memory_label(file));
        let (bytes, encoding) = decode(bytes, file, Some(TextEncoding::Utf8)).map_err(OpenError::Invalid)?;
        Ok(TableText {
            bytes,
            info: SourceInfo {
                file: file.to_string(),
                format: "memory",
                encoding: Some(encoding),
                sheet: None,
            },
            sheet: None,
            read: Some(read),
        })
    }

    /// The size and SHA-256 of the bytes this table was read from, as they came (the
    /// workbook's for a sheet; the text's before decoding for CSV).
    pub(crate) fn read_hash(&self) -> Option<&ManifestInput> {
        self.read.as_ref()
    }

    /// Rewrites diagnostics about this file to the workbook's sheet, row and column (nothing
    /// to do for CSV files, whose positions are already the file's).
    pub fn locate(&self, d: &mut Diagnostic) {
        if let Some(sheet) = &self.sheet
            && d.file == self.info.file
            && d.sheet.is_none()
        {
            sheet.locate(d);
        }
    }
}

/// Why an input could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The file could not be read at all.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file was read but is not text in an accepted encoding, or not a workbook.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

/// Bytes per parallel read of [`read_whole`].
const READ_PIECE: usize = 1 << 23;

/// A whole file, as [`std::fs::read`] gives it. A large file is read in parallel pieces: at
/// a million applicants, copying the text into fresh memory is a tenth of a second a core
/// can share. A file that changes length while it is read is read again from the start in
/// one piece.
pub(crate) fn read_whole(path: &Path) -> std::io::Result<Vec<u8>> {
    read_whole_in_pieces(path, READ_PIECE)
}

fn read_whole_in_pieces(path: &Path, piece: usize) -> std::io::Result<Vec<u8>> {
    let piece = piece.max(1);
    #[cfg(unix)]
    {
        use rayon::prelude::*;
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if let Ok(len) = usize::try_from(len)
            && len > 2 * piece
        {
            let mut bytes = vec![0u8; len];
            let filled = bytes
                .par_chunks_mut(piece)
                .enumerate()
                .map(|(i, chunk)| file.read_exact_at(chunk, (i * piece) as u64))
                .collect::<std::io::Result<()>>();
            // One more byte means the file grew while it was read.
            let grew = file.read_at(&mut [0u8], len as u64).map_or(true, |n| n > 0);
            if filled.is_ok() && !grew {
                return Ok(bytes);
            }
        }
    }
    std::fs::read(path)
}

/// A CSV file read a window at a time into one buffer that is reused: a large input is
/// never resident whole, and its text lands in memory already mapped instead of in fresh
/// pages (the 117 MB of a million applicants took 0.10 CPU s to read into a fresh buffer
/// and 0.03 s into a reused one of 8 MB). A window ends after a line break; the text after
/// it starts the next window. A leading UTF-8 byte-order mark is dropped.
///
/// Windows are cut only at line breaks, so they suit text without quotes, where every line
/// break ends a record; callers check for quotes and read such a file whole. The bytes are
/// hashed as they are read, for the manifest ([`LineWindows::into_read_hash`]).
pub(crate) struct LineWindows {
    file: std::fs::File,
    len: u64,
    /// The size and SHA-256 of the bytes read so far, as they came (a byte-order mark
    /// included).
    hasher: HashingWriter<std::io::Sink>,
    buf: Vec<u8>,
    /// Bytes at the start of `buf` already handed out.
    taken: usize,
    eof: bool,
    size: usize,
    started: bool,
}

impl LineWindows {
    /// Opens `path` for windows of about `size` bytes.
    pub(crate) fn open(path: &Path, size: usize) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        // Room for a window and the line carried over, so that the buffer is not copied
        // as it grows while the first window is read.
        let size = size.max(1);
        let room = usize::try_from(len).map_or(size, |len| len.min(size.saturating_add(size / 4)));
        Ok(LineWindows {
            file,
            len,
            hasher: HashingWriter::new(std::io::sink()),
            buf: Vec::with_capacity(room),
            taken: 0,
            eof: false,
            size,
            started: false,
        })
    }

    /// The file's length when it was opened.
    pub(crate) fn file_len(&self) -> u64 {
        self.len
    }

    /// The size and SHA-256 of the bytes read, recorded for the manifest as `label`: after
    /// the last window, those of the whole text parsed.
    pub(crate) fn into_read_hash(self, label: &str) -> ManifestInput {
        let (bytes, sha256) = self.hasher.finish();
        ManifestInput {
            path: label.to_string(),
            bytes,
            sha256,
        }
    }

    /// The next window: whole lines, about `size` bytes or more (a line longer than that
    /// comes whole), the last one up to the end of the file. `None` at the end.
    pub(crate) fn next_window(&mut self) -> std::io::Result<Option<&[u8]>> {
        use std::io::Read;
        self.buf.drain(..self.taken);
        self.taken = 0;
        let mut want = self.size;
        let cut = loop {
            if !self.eof && self.buf.len() < want {
                let asked = want - self.buf.len();
                let before = self.buf.len();
                let read = (&mut self.file).take(asked as u64).read_to_end(&mut self.buf)?;
                std::io::Write::write_all(&mut self.hasher, &self.buf[before..])?;
                self.eof = read < asked;
            }
            // The mark is looked for once three bytes (or the whole file) are in.
            if !self.started && (self.buf.len() >= 3 || self.eof) {
                self.started = true;
                if self.buf.starts_with(b"\xef\xbb\xbf") {
                    self.buf.drain(..3);
                }
            }
            if self.eof {
                break self.buf.len();
            }
            match memchr::memrchr(b'\n', &self.buf) {
                Some(at) => break at + 1,
                None => want = want.saturating_mul(2),
            }
        };
        self.taken = cut;
        Ok((cut > 0).then(|| &self.buf[..cut]))
    }
}

/// The manifest's record of `bytes` read from the input labelled `label`.
fn bytes_read(bytes: &[u8], label: &str) -> ManifestInput {
    ManifestInput {
        path: label.to_string(),
        bytes: bytes.len() as u64,
        sha256: super::output_set::sha256_hex(bytes),
    }
}

/// How the manifest names a table given in memory in place of `file`.
pub(crate) fn in_memory_label(file: &str) -> String {
    format!("{file} (in memory)")
}

/// Reads a tabular input named `file` in messages.
pub fn read_table(spec: &InputSpec, file: &str) -> Result<TableText, OpenError> {
    if is_spreadsheet(&spec.path) {
        if !spec.path.is_file() {
            let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
            return Err(OpenError::Io {
                path: spec.path.clone(),
                source: e,
            });
        }
        // The workbook's bytes are read here, so that they are hashed as they were parsed.
        let raw = read_whole(&spec.path).map_err(|e| OpenError::Io {
            path: spec.path.clone(),
            source: e,
        })?;
        let read = bytes_read(&raw, file);
        let sheet = sheet_of_bytes(&raw, &spec.path, file, spec.sheet.as_deref()).map_err(OpenError::Invalid)?;
        // The sheet's text goes through the decoder too, so that every table's text is
        // decoded UTF-8 without a byte-order mark, as its readers take it.
        let (bytes, _) = decode(sheet.csv.clone(), file, Some(TextEncoding::Utf8)).map_err(OpenError::Invalid)?;
        return Ok(TableText {
            bytes,
            info: SourceInfo {
                file: file.to_string(),
                format: "workbook",
                encoding: None,
                sheet: Some(sheet.sheet.clone()),
            },
            sheet: Some(sheet),
            read: Some(read),
        });
    }
    let raw = read_whole(&spec.path).map_err(|e| OpenError::Io {
        path: spec.path.clone(),
        source: e,
    })?;
    let read = bytes_read(&raw, file);
    let (bytes, encoding) = decode(raw, file, spec.encoding).map_err(OpenError::Invalid)?;
    Ok(TableText {
        bytes,
        info: SourceInfo {
            file: file.to_string(),
            format: "csv",
            encoding: Some(encoding),
            sheet: None,
        },
        sheet: None,
        read: Some(read),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Reading in parallel pieces gives the file's bytes, whatever the piece size.
        #[test]
        fn reading_in_pieces_gives_the_files_bytes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            piece in 1usize..700,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("input.csv");
            std::fs::write(&path, &bytes).unwrap();
            proptest::prop_assert_eq!(read_whole_in_pieces(&path, piece).unwrap(), bytes);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Windows end after a line break (or at the end of the file), lie end to end, and
        /// together give the file's bytes less a leading UTF-8 byte-order mark.
        #[test]
        fn windows_are_whole_lines_of_the_file(
            bom in proptest::prelude::any::<bool>(),
            text in proptest::collection::vec(proptest::sample::select(b"ab,\r\n\xe5".to_vec()), 0..400),
            size in 1usize..60,
        ) {
            let mut bytes = if bom { b"\xef\xbb\xbf".to_vec() } else { Vec::new() };
            bytes.extend_from_slice(&text);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("input.csv");
            std::fs::write(&path, &bytes).unwrap();
            let mut windows = LineWindows::open(&path, size).unwrap();
            proptest::prop_assert_eq!(windows.file_len(), bytes.len() as u64);
            let mut joined = Vec::new();
            while let Some(w) = windows.next_window().unwrap() {
                proptest::prop_assert!(!w.is_empty());
                let last = joined.len() + w.len() == bytes.len() - if bom { 3 } else { 0 };
                proptest::prop_assert!(w.ends_with(b"\n") || last, "a window ends inside a line");
                joined.extend_from_slice(w);
            }
            let want: &[u8] = if bom { &bytes[3..] } else { &bytes };
            proptest::prop_assert_eq!(&joined[..], want);
            proptest::prop_assert!(windows.next_window().unwrap().is_none());
            // The hash is of the file's bytes as they came, the mark included.
            let read = windows.into_read_hash("input.csv");
            proptest::prop_assert_eq!(read.bytes, bytes.len() as u64);
            proptest::prop_assert_eq!(read.sha256, independent_sha256(&bytes));
        }
    }

    /// SHA-256 in hex from the `sha2` crate directly.
    fn independent_sha256(bytes: &[u8]) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_table_records_the_bytes_it_was_read_from() {
        let dir = tempfile::tempdir().unwrap();
        let text = "block_id,name\nB1,梁溪花园\n";
        let gbk = encoding_rs::GBK.encode(text).0.into_owned();
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let with_mark = [b"\xef\xbb\xbf".as_slice(), text.as_bytes()].concat();
        for raw in [text.as_bytes().to_vec(), gbk, utf16, with_mark] {
            let path = dir.path().join("blocks.csv");
            std::fs::write(&path, &raw).unwrap();
            let spec = InputSpec {
                path: path.clone(),
                encoding: None,
                sheet: None,
            };
            let table = read_table(&spec, "blocks.csv").unwrap();
            assert_eq!(table.bytes, text.as_bytes(), "decoded to UTF-8");
            let read = table.read_hash().unwrap();
            assert_eq!((read.path.as_str(), read.bytes), ("blocks.csv", raw.len() as u64));
            assert_eq!(read.sha256, independent_sha256(&raw), "the bytes as they came");
        }
        let table = TableText::in_memory(text.as_bytes().to_vec(), "blocks.csv").unwrap();
        let read = table.read_hash().unwrap();
        assert_eq!(read.path, "blocks.csv (in memory)");
        assert_eq!(read.sha256, independent_sha256(text.as_bytes()));
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.csv");
        assert_eq!(
            read_whole_in_pieces(&missing, 4).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
    }
}
