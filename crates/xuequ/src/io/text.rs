//! Text encodings of input files and line numbers as an editor shows them.
//!
//! Bureaus save CSV files from Excel and WPS, which on a Chinese Windows write GBK unless told
//! to write "CSV UTF-8". Every text input is therefore detected per file:
//!
//! 1. a UTF-8 byte-order mark, or bytes that are valid UTF-8: UTF-8;
//! 2. a UTF-16 byte-order mark (Excel's "Unicode text"): UTF-16, little or big endian;
//! 3. otherwise, bytes that decode as GB18030 without a single error: GBK/GB18030 (GB18030
//!    is a superset of GBK and GB2312, so one decoder serves all three);
//! 4. otherwise one error naming the first undecodable byte's line and column.
//!
//! A scenario may force an encoding per input (`encoding = "gbk"`), which skips detection.
//! Detection is exact, not statistical: pure ASCII is UTF-8 (and the same bytes in GBK), and
//! GBK Chinese text is almost never valid UTF-8 (a run of GBK bytes that happens to be valid
//! UTF-8 is read as UTF-8; forcing the encoding settles such a file).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Diagnostic;

/// The encoding a text input was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TextEncoding {
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// GBK / GB2312 / GB18030 (decoded as GB18030, their superset).
    Gbk,
    /// UTF-16 with a byte-order mark.
    Utf16,
}

impl TextEncoding {
    /// The name used in `scenario.toml` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Gbk => "gbk",
            TextEncoding::Utf16 => "utf-16",
        }
    }
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TextEncoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(TextEncoding::Utf8),
            "gbk" | "gb2312" | "gb18030" | "cp936" => Ok(TextEncoding::Gbk),
            "utf-16" | "utf16" => Ok(TextEncoding::Utf16),
            _ => Err("use utf-8, gbk (also gb2312, gb18030) or utf-16".to_string()),
        }
    }
}

/// Decodes a whole text file into UTF-8, detecting the encoding unless `forced`.
/// The byte-order mark is removed. Line breaks are kept as they are, so line numbers of the
/// decoded text are the file's.
pub fn decode(
    bytes: Vec<u8>,
    file: &str,
    forced: Option<TextEncoding>,
) -> Result<(Vec<u8>, TextEncoding), Box<Diagnostic>> {
    let utf16 = bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff");
    match forced {
        Some(TextEncoding::Utf8) => return utf8(bytes, file).map(|b| (b, TextEncoding::Utf8)),
        Some(TextEncoding::Gbk) => return gbk(&bytes, file).map(|b| (b, TextEncoding::Gbk)),
        Some(TextEncoding::Utf16) => return utf16_decode(&bytes, file).map(|b| (b, TextEncoding::Utf16)),
        None => {}
    }
    if utf16 {
        return utf16_decode(&bytes, file).map(|b| (b, TextEncoding::Utf16));
    }
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    match utf8_check(body) {
        Ok(()) => {
            let mut bytes = bytes;
            if bytes.starts_with(b"\xef\xbb\xbf") {
                bytes.drain(..3);
            }
            Ok((bytes, TextEncoding::Utf8))
        }
        Err(utf8_error) => match gbk(body, file) {
            Ok(b) => Ok((b, TextEncoding::Gbk)),
            Err(_) => Err(undecodable(file, body, utf8_error.valid_up_to(), "UTF-8 or GBK")),
        },
    }
}

fn utf8(mut bytes: Vec<u8>, file: &str) -> Result<Vec<u8>, Box<Diagnostic>> {
    if bytes.starts_with(b"\xef\xbb\xbf") {
        bytes.drain(..3);
    }
    match utf8_check(&bytes) {
        Ok(()) => Ok(bytes),
        Err(e) => Err(undecodable(file, &bytes, e.valid_up_to(), "UTF-8")),
    }
}

/// Bytes per piece of [`utf8_check`].
const UTF8_PIECE: usize = 1 << 22;

/// [`std::str::from_utf8`]'s verdict, reached in parallel pieces on a large text (an input
/// of a million applicants is checked twice on its way in). Each piece starts at a byte that
/// is not a continuation byte, so every piece is UTF-8 exactly when the whole text is; the
/// error, which names the first bad byte, comes from the whole text. The pieces are checked
/// with SIMD ([`is_utf8`]); only a text found bad is checked again for the error's place.
pub(crate) fn utf8_check(bytes: &[u8]) -> Result<(), std::str::Utf8Error> {
    utf8_check_in_pieces(bytes, UTF8_PIECE)
}

fn utf8_check_in_pieces(bytes: &[u8], piece: usize) -> Result<(), std::str::Utf8Error> {
    use rayon::prelude::*;
    let piece = piece.max(1);
    if bytes.len() <= piece {
        return match is_utf8(bytes) {
            true => Ok(()),
            false => std::str::from_utf8(bytes).map(|_| ()),
        };
    }
    let mut starts = vec![0];
    let mut at = piece;
    while at < bytes.len() {
        while bytes.get(at).is_some_and(|&b| b & 0xC0 == 0x80) {
            at += 1;
        }
        if at < bytes.len() {
            starts.push(at);
        }
        at += piece;
    }
    starts.push(bytes.len());
    let valid = starts.par_windows(2).all(|w| is_utf8(&bytes[w[0]..w[1]]));
    match valid {
        true => Ok(()),
        false => std::str::from_utf8(bytes).map(|_| ()),
    }
}

/// Whether `bytes` are UTF-8, checked with SIMD, with [`std::str::from_utf8`]'s verdict but
/// not the place of the first bad byte. Measured on a million-row input: a `blocks.csv` of
/// Chinese names (72 MB) in 14 ms against 44 ms, a `students.csv` of ASCII ids (113 MB) in
/// 10 ms against 13 ms.
pub(crate) fn is_utf8(bytes: &[u8]) -> bool {
    simdutf8::basic::from_utf8(bytes).is_ok()
}

/// `bytes` as text when they are UTF-8, checked as [`is_utf8`] does.
pub(crate) fn as_utf8(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes).ok()
}

fn gbk(bytes: &[u8], file: &str) -> Result<Vec<u8>, Box<Diagnostic>> {
    let (text, _, had_errors) = encoding_rs::GB18030.decode(bytes);
    if had_errors {
        // Find the first undecodable byte for the message.
        let mut decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
        let mut out = String::with_capacity(bytes.len() * 2);
        let mut at = 0;
        loop {
            let (result, read) = decoder.decode_to_string_without_replacement(&bytes[at..], &mut out, true);
            at += read;
            match result {
                encoding_rs::DecoderResult::Malformed(bad, _) => {
                    let pos = at.saturating_sub(bad as usize);
                    return Err(undecodable(file, bytes, pos, "GBK"));
                }
                // The decoder wants room for its longest output, which may exceed the
                // file's length: grow by at least the current capacity so it always advances.
                encoding_rs::DecoderResult::OutputFull => out.reserve(out.capacity().max(bytes.len()) + 16),
                encoding_rs::DecoderResult::InputEmpty => break,
            }
        }
        return Err(undecodable(file, bytes, 0, "GBK"));
    }
    Ok(match text {
        Cow::Borrowed(s) => s.as_bytes().to_vec(),
        Cow::Owned(s) => s.into_bytes(),
    })
}

fn utf16_decode(bytes: &[u8], file: &str) -> Result<Vec<u8>, Box<Diagnostic>> {
    let encoding = if bytes.starts_with(b"\xfe\xff") {
        encoding_rs::UTF_16BE
    } else {
        encoding_rs::UTF_16LE
    };
    let (text, _, had_errors) = encoding.decode(bytes);
    if had_errors {
        return Err(Box::new(Diagnostic::file(
            file,
            "the file is not valid UTF-16",
            "save the file as CSV UTF-8 (Excel: 另存为 → CSV UTF-8)",
        )));
    }
    Ok(text.into_owned().into_bytes())
}

/// One error for a file that is in no accepted encoding, at its first bad byte.
fn undecodable(file: &str, bytes: &[u8], at: usize, tried: &str) -> Box<Diagnostic> {
    let at = at.min(bytes.len());
    let (line, column) = LineCounter::new(bytes).position(at);
    let shown: Vec<String> = bytes[at..bytes.len().min(at + 4)]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Box::new(Diagnostic::file(
        file,
        format!("the file is not valid {tried} text: undecodable bytes {} here", shown.join(" ")),
        "save it as CSV UTF-8 (Excel: 另存为 → CSV UTF-8), or name its encoding in scenario.toml: [inputs] NAME = { path = \"…\", encoding = \"gbk\" }",
    )
    .at_line(line)
    .at_field(Some(column), "text"))
}

/// Line numbers as an editor shows them: a line ends at `\n`, `\r\n` or a lone `\r`.
///
/// Offsets must be asked in increasing order (each call counts from the previous one), so a
/// whole file costs one pass.
#[derive(Debug, Clone)]
pub struct LineCounter<'a> {
    bytes: &'a [u8],
    first_line: u64,
    at: usize,
    line: u64,
    line_start: usize,
}

impl<'a> LineCounter<'a> {
    /// A counter at the start of `bytes` (line 1).
    pub fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            first_line: 1,
            at: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// A counter whose first byte is on line `first_line`.
    pub fn starting_at(bytes: &'a [u8], first_line: u64) -> Self {
        LineCounter {
            line: first_line,
            first_line,
            ..LineCounter::new(bytes)
        }
    }

    /// The 1-based line and character column of byte `offset` (clamped to the end).
    pub fn position(&mut self, offset: usize) -> (u64, usize) {
        let offset = offset.min(self.bytes.len());
        let line = self.advance(offset);
        let column = String::from_utf8_lossy(&self.bytes[self.line_start..offset])
            .chars()
            .count()
            + 1;
        (line, column)
    }

    /// The line of byte `offset`, counting breaks from the previous call.
    fn advance(&mut self, offset: usize) -> u64 {
        if offset < self.at {
            *self = LineCounter::starting_at(self.bytes, self.first_line);
        }
        let mut i = self.at;
        let mut scanned = offset;
        while let Some(j) = memchr2(self.bytes, i, offset) {
            let crlf = self.bytes[j] == b'\r' && self.bytes.get(j + 1) == Some(&b'\n');
            if crlf && j + 1 >= offset {
                // The offset is the '\n' of a CRLF pair: still on the line the pair ends.
                scanned = j;
                break;
            }
            i = if crlf { j + 2 } else { j + 1 };
            self.line += 1;
            self.line_start = i;
        }
        self.at = scanned;
        self.line
    }

    /// The line of the first byte at or after `offset` that is not a line break: where a CSV
    /// record starting at `offset` (after the previous record's terminator) really begins.
    pub fn record_line(&mut self, offset: usize) -> u64 {
        let mut start = offset.min(self.bytes.len());
        while start < self.bytes.len() && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        self.advance(start)
    }
}

/// The first `\r` or `\n` in `bytes[from..to]`.
fn memchr2(bytes: &[u8], from: usize, to: usize) -> Option<usize> {
    memchr::memchr2(b'\n', b'\r', &bytes[from..to]).map(|p| from + p)
}

/// Counts line breaks (`\n`, `\r\n`, lone `\r`) in `bytes`.
pub fn count_line_breaks(bytes: &[u8]) -> u64 {
    let mut n = 0;
    let mut i = 0;
    while let Some(j) = memchr2(bytes, i, bytes.len()) {
        n += 1;
        i = if bytes[j] == b'\r' && bytes.get(j + 1) == Some(&b'\n') {
            j + 2
        } else {
            j + 1
        };
    }
    n
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// The check in pieces gives `from_utf8`'s verdict and error position on text cut
        /// anywhere, including inside and between multi-byte characters and on bad bytes.
        #[test]
        fn utf8_check_in_pieces_agrees_with_from_utf8(
            text in "[a-z,\\n学区·\u{1F600}]{0,60}",
            noise in proptest::collection::vec((0usize..300, proptest::prelude::any::<u8>()), 0..3),
            piece in 1usize..40,
        ) {
            let mut bytes = text.into_bytes();
            for (at, b) in noise {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = b;
                }
            }
            let want = std::str::from_utf8(&bytes).map(|_| ()).map_err(|e| e.valid_up_to());
            let got = utf8_check_in_pieces(&bytes, piece).map_err(|e| e.valid_up_to());
            proptest::prop_assert_eq!(got, want);
        }

        /// The SIMD check agrees with `from_utf8` on texts long enough for its 64-byte
        /// blocks, with bad, truncated and overlong sequences put anywhere.
        #[test]
        fn simd_utf8_check_agrees_with_from_utf8(
            text in "[a-z0-9,\\n学区·\u{1F600}]{0,400}",
            noise in proptest::collection::vec((0usize..2000, proptest::prelude::any::<u8>()), 0..3),
        ) {
            let mut bytes = text.into_bytes();
            for (at, b) in noise {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = b;
                }
            }
            let want = std::str::from_utf8(&bytes).ok();
            proptest::prop_assert_eq!(is_utf8(&bytes), want.is_some());
            proptest::prop_assert_eq!(as_utf8(&bytes), want);
        }
    }

    /// A file of a few bytes that is neither UTF-8 nor GBK once hung the search for its first
    /// bad byte (the decoder asked for more room than the file's length and never got it).
    #[test]
    fn short_undecodable_files_are_reported_not_looped_on() {
        let bytes: [u8; 6] = [0x81, 0x30, 0xff, 0x80, b'a', 0xfe];
        for len in 1..=3 {
            for k in 0..bytes.len().pow(len as u32) {
                let mut v = Vec::with_capacity(len);
                let mut k = k;
                for _ in 0..len {
                    v.push(bytes[k % bytes.len()]);
                    k /= bytes.len();
                }
                let utf16 = v.starts_with(&[0xff, 0xfe]) || v.starts_with(&[0xfe, 0xff]);
                if let Err(d) = decode(v.clone(), "x.csv", None)
                    && !utf16
                {
                    assert_eq!(d.line, Some(1), "{v:02X?}");
                }
                let _ = decode(v, "x.csv", Some(TextEncoding::Gbk));
            }
        }
    }

    #[test]
    fn lines_count_lf_crlf_and_lone_cr_alike() {
        for text in ["a\nb\nc", "a\r\nb\r\nc", "a\rb\rc"] {
            let bytes = text.as_bytes();
            let c = bytes.iter().position(|&b| b == b'c').unwrap();
            let b = bytes.iter().position(|&b| b == b'b').unwrap();
            let mut counter = LineCounter::new(bytes);
            assert_eq!(counter.position(b), (2, 1), "{text:?}");
            assert_eq!(counter.position(c), (3, 1), "{text:?}");
            assert_eq!(count_line_breaks(bytes), 2);
        }
    }

    #[test]
    fn record_line_skips_the_previous_terminator() {
        let bytes = b"h1,h2\r\nx,y\r\n\r\nz,w\r\n";
        let mut counter = LineCounter::new(bytes);
        // A reader that stops after '\r' reports the record at the '\n'.
        assert_eq!(counter.record_line(6), 2);
        assert_eq!(counter.record_line(11), 4);
    }

    #[test]
    fn gbk_is_detected_and_decoded() {
        let (gbk_bytes, _, _) = encoding_rs::GBK.encode("学校代码,名称\nP1,实验小学\n");
        let (text, enc) = decode(gbk_bytes.into_owned(), "s.csv", None).unwrap();
        assert_eq!(enc, TextEncoding::Gbk);
        assert_eq!(String::from_utf8(text).unwrap(), "学校代码,名称\nP1,实验小学\n");
    }

    #[test]
    fn utf8_with_bom_is_utf8_without_the_mark() {
        let (text, enc) = decode(b"\xef\xbb\xbfa,b\n".to_vec(), "s.csv", None).unwrap();
        assert_eq!((text.as_slice(), enc), (&b"a,b\n"[..], TextEncoding::Utf8));
    }

    #[test]
    fn utf16_with_bom_is_decoded() {
        let mut bytes = vec![0xff, 0xfe];
        for u in "学,b\n".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let (text, enc) = decode(bytes, "s.csv", None).unwrap();
        assert_eq!(
            (String::from_utf8(text).unwrap().as_str(), enc),
            ("学,b\n", TextEncoding::Utf16)
        );
    }

    #[test]
    fn neither_encoding_is_one_positioned_error() {
        // 0x80 alone is invalid in UTF-8 and in GB18030.
        let d = decode(b"a,b\nc,\x80\xff\n".to_vec(), "s.csv", None).unwrap_err();
        assert_eq!(d.line, Some(2));
        assert_eq!(d.column, Some(3));
        assert!(d.message.contains("80 FF"), "{}", d.message);
    }

    #[test]
    fn forced_gbk_reads_bytes_that_are_also_utf8() {
        let (text, enc) = decode(b"abc\n".to_vec(), "s.csv", Some(TextEncoding::Gbk)).unwrap();
        assert_eq!((text.as_slice(), enc), (&b"abc\n"[..], TextEncoding::Gbk));
    }
}
