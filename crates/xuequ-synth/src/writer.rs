//! Atomic, buffered output files and fast CSV row formatting.
//!
//! Every file is written to a hidden temporary file in the output directory and renamed
//! into place only after all files are complete, so a reader never sees a half-written
//! dataset; on error (or panic) the temporary files are removed.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::SynthError;

/// Size of each file's write buffer.
const BUF: usize = 1 << 20;

/// A file being written under a temporary name.
pub(crate) struct TempFile {
    dest: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    renamed: bool,
}

impl TempFile {
    /// Creates `.{name}.{pid}.tmp` in `dir`, to become `dir/name`.
    pub(crate) fn create(dir: &Path, name: &str) -> Result<Self, SynthError> {
        let dest = dir.join(name);
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(|e| SynthError::io(&tmp, e))?;
        Ok(TempFile {
            dest,
            tmp,
            out: Some(BufWriter::with_capacity(BUF, file)),
            renamed: false,
        })
    }

    /// Appends bytes.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), SynthError> {
        match self.out.as_mut() {
            Some(w) => w.write_all(bytes).map_err(|e| SynthError::io(&self.tmp, e)),
            None => Ok(()),
        }
    }

    /// Appends the buffer's bytes and clears it.
    pub(crate) fn drain(&mut self, buf: &mut Vec<u8>) -> Result<(), SynthError> {
        self.write(buf)?;
        buf.clear();
        Ok(())
    }

    /// Flushes and closes the temporary file.
    pub(crate) fn close(&mut self) -> Result<(), SynthError> {
        if let Some(w) = self.out.take() {
            let file = w.into_inner().map_err(|e| SynthError::io(&self.tmp, e.into_error()))?;
            drop(file);
        }
        Ok(())
    }

    /// Renames the closed temporary file to its final name; returns that name.
    pub(crate) fn commit(&mut self) -> Result<PathBuf, SynthError> {
        self.close()?;
        fs::rename(&self.tmp, &self.dest).map_err(|e| SynthError::io(&self.dest, e))?;
        self.renamed = true;
        Ok(self.dest.clone())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            self.out.take();
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Appends a decimal integer.
#[inline]
pub(crate) fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends `n` zero-padded to at least `width` digits.
#[inline]
pub(crate) fn push_padded(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = 1;
    let mut m = n;
    while m >= 10 {
        m /= 10;
        digits += 1;
    }
    for _ in digits..width {
        buf.push(b'0');
    }
    push_u64(buf, n);
}

/// Appends an id such as `P0001` or `B000123`.
#[inline]
pub(crate) fn push_id(buf: &mut Vec<u8>, prefix: u8, n: u64, width: usize) {
    buf.push(prefix);
    push_padded(buf, n, width);
}

/// Appends a signed integer.
#[inline]
pub(crate) fn push_i64(buf: &mut Vec<u8>, n: i64) {
    if n < 0 {
        buf.push(b'-');
    }
    push_u64(buf, n.unsigned_abs());
}

/// Appends micro-degrees as degrees with exactly 6 decimals (`120.301234`).
#[inline]
pub(crate) fn push_micro(buf: &mut Vec<u8>, micro: i32) {
    let m = i64::from(micro);
    if m < 0 {
        buf.push(b'-');
    }
    let a = m.unsigned_abs();
    push_u64(buf, a / 1_000_000);
    buf.push(b'.');
    push_padded(buf, a % 1_000_000, 6);
}

/// Appends `true` / `false`.
#[inline]
pub(crate) fn push_bool(buf: &mut Vec<u8>, b: bool) {
    buf.extend_from_slice(if b { b"true" } else { b"false" });
}

/// Appends a text field. Generated names never contain a comma, quote or line break; this
/// quotes defensively if one ever does.
#[inline]
pub(crate) fn push_text(buf: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        buf.push(b'"');
        for c in s.bytes() {
            if c == b'"' {
                buf.push(b'"');
            }
            buf.push(c);
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8(b).expect("ascii")
    }

    #[test]
    fn formatting() {
        assert_eq!(s(|b| push_u64(b, 0)), "0");
        assert_eq!(s(|b| push_u64(b, u64::MAX)), u64::MAX.to_string());
        assert_eq!(s(|b| push_id(b, b'P', 7, 4)), "P0007");
        assert_eq!(s(|b| push_id(b, b'P', 12345, 4)), "P12345");
        assert_eq!(s(|b| push_micro(b, 120_301_234)), "120.301234");
        assert_eq!(s(|b| push_micro(b, 31_000_005)), "31.000005");
        assert_eq!(s(|b| push_micro(b, -500)), "-0.000500");
        assert_eq!(s(|b| push_i64(b, -2019)), "-2019");
        assert_eq!(s(|b| push_text(b, "a,\"b\"")), "\"a,\"\"b\"\"\"");
        assert_eq!(s(|b| push_text(b, "梁溪区")), "梁溪区");
    }

    #[test]
    fn temp_files_vanish_unless_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut t = TempFile::create(dir.path(), "a.csv").expect("create");
            t.write(b"x").expect("write");
        }
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 0);
        let mut t = TempFile::create(dir.path(), "b.csv").expect("create");
        t.write(b"y").expect("write");
        let p = t.commit().expect("commit");
        drop(t);
        assert_eq!(fs::read(p).expect("read"), b"y");
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
