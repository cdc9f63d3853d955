//! The network cache: a built network is kept in `.xuequ-cache/` beside the roads file, one
//! file per roads file and mode (`<file name>.<mode>.net`). It is used only when its key
//! matches: a hash of the roads file's bytes, the mode, the coordinate system (for
//! `roads.csv`) and the cache format version; any change to the file rebuilds it. Deleting the
//! folder is always safe. A cache that cannot be written (a read-only folder) is skipped.

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use rustc_hash::FxHasher;
use serde::Serialize;

use crate::crs::Crs;
use crate::model::Location;

use super::RoadMode;
use super::network::Segment;
use super::osm::RawRoads;

const MAGIC: &[u8; 8] = b"XQNET01\n";

/// What the cache did for one load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "path")]
#[non_exhaustive]
pub enum CacheStatus {
    /// Read from the cache file.
    Hit(PathBuf),
    /// Built and written to the cache file.
    Written(PathBuf),
    /// Built; the cache file could not be written (the reason).
    NotWritten(String),
    /// `[roads] cache = false`.
    Disabled,
}

/// The cache key of a roads file's bytes in a mode.
pub(crate) fn key(bytes: &[u8], mode: RoadMode, crs: Crs) -> u64 {
    let mut h = FxHasher::default();
    h.write(MAGIC);
    h.write(bytes);
    h.write_u64(bytes.len() as u64);
    h.write(mode.as_str().as_bytes());
    h.write(format!("{crs:?}").as_bytes());
    h.finish()
}

fn path_of(roads: &Path, mode: RoadMode) -> PathBuf {
    let dir = roads.parent().unwrap_or(Path::new(".")).join(".xuequ-cache");
    let name = roads
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!("{name}.{}.net", mode.as_str()))
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_at_checked(N)?;
        self.0 = rest;
        head.try_into().ok()
    }
    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn f64(&mut self) -> Option<f64> {
        self.take::<8>().map(f64::from_le_bytes)
    }
}

/// The cached network, if the cache file exists and its key matches.
pub(crate) fn read(roads: &Path, mode: RoadMode, key: u64) -> Option<(RawRoads, CacheStatus)> {
    let path = path_of(roads, mode);
    let bytes = std::fs::read(&path).ok()?;
    let mut c = Cursor(bytes.as_slice());
    if &c.take::<8>()? != MAGIC || c.u64()? != key {
        return None;
    }
    let n = c.u64()? as usize;
    if n > bytes.len() / 16 {
        return None;
    }
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        let lon = c.f64()?;
        let lat = c.f64()?;
        nodes.push(Location::from_wgs84(lon, lat));
    }
    let m = c.u64()? as usize;
    if m > bytes.len() / 13 {
        return None;
    }
    let mut segments = Vec::with_capacity(m);
    for _ in 0..m {
        let a = c.u32()?;
        let b = c.u32()?;
        let len_mm = c.u32()?;
        let flags = c.take::<1>()?[0];
        segments.push(Segment {
            a,
            b,
            len_mm,
            forward: flags & 1 != 0,
            backward: flags & 2 != 0,
        });
    }
    let ways_kept = c.u64()? as usize;
    let missing_node_refs = c.u64()? as usize;
    Some((
        RawRoads {
            nodes,
            segments,
            ways_kept,
            missing_node_refs,
        },
        CacheStatus::Hit(path),
    ))
}

/// Writes the cache file (temporary file, then rename).
pub(crate) fn write(roads: &Path, mode: RoadMode, key: u64, raw: &RawRoads) -> CacheStatus {
    let path = path_of(roads, mode);
    let result = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut out = Vec::with_capacity(32 + raw.nodes.len() * 16 + raw.segments.len() * 13);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&key.to_le_bytes());
        out.extend_from_slice(&(raw.nodes.len() as u64).to_le_bytes());
        for l in &raw.nodes {
            out.extend_from_slice(&l.lon.to_le_bytes());
            out.extend_from_slice(&l.lat.to_le_bytes());
        }
        out.extend_from_slice(&(raw.segments.len() as u64).to_le_bytes());
        for s in &raw.segments {
            out.extend_from_slice(&s.a.to_le_bytes());
            out.extend_from_slice(&s.b.to_le_bytes());
            out.extend_from_slice(&s.len_mm.to_le_bytes());
            out.push(u8::from(s.forward) | (u8::from(s.backward) << 1));
        }
        out.extend_from_slice(&(raw.ways_kept as u64).to_le_bytes());
        out.extend_from_slice(&(raw.missing_node_refs as u64).to_le_bytes());
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    match result {
        Ok(()) => CacheStatus::Written(path),
        Err(e) => CacheStatus::NotWritten(format!("{}: {e}", path.display())),
    }
}
