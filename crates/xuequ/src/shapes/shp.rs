//! ESRI shapefiles: `.shp` (geometry, read with the `shapefile` crate), `.dbf` (attributes,
//! read here so that the text encoding is ours to choose), `.prj` (checked, never used to
//! reproject) and `.cpg` (the `.dbf` text encoding).
//!
//! Text encoding of the `.dbf`: the `.cpg` names it (`UTF-8`; `GBK`, `GB2312`, `GB18030`,
//! `936`, `CP936` are read as GB18030, a superset of GBK); without a `.cpg`, a language
//! driver byte of 0x4D (code page 936) means GBK, otherwise the text is UTF-8 when it is
//! valid UTF-8 and GB18030 when not.

use std::path::Path;

use geo::{Contains, LineString, MultiPolygon, Polygon};

use super::Feature;
use crate::error::{Diagnostic, Diagnostics};

fn one(d: Diagnostic) -> Diagnostics {
    let mut diags = Diagnostics::default();
    diags.push(d);
    diags
}

/// A sibling file with another extension (either case), if it exists.
pub(super) fn sibling(path: &Path, ext: &str) -> Option<std::path::PathBuf> {
    [ext.to_ascii_lowercase(), ext.to_ascii_uppercase()]
        .into_iter()
        .map(|e| path.with_extension(e))
        .find(|p| p.is_file())
}

/// Checks the text of a `.prj`: a geographic system on the WGS84 or CGCS2000 datum (GCJ-02
/// and BD-09 are offsets of WGS84 and are declared with the scenario's `crs`) is accepted;
/// anything else, projected systems first of all, is refused with the system's name.
pub fn check_prj(text: &str, file: &str) -> Result<(), Box<Diagnostic>> {
    let t = text.trim().trim_start_matches('\u{feff}');
    let upper = t.to_ascii_uppercase();
    let name = t
        .split_once('"')
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("", |(n, _)| n)
        .to_string();
    let fix = "export the layer in geographic degrees: EPSG:4326 (WGS84) or EPSG:4490 (CGCS2000); GCJ-02 or BD-09 degrees are declared with crs = \"gcj02\" / \"bd09\" in scenario.toml";
    if upper.starts_with("PROJCS") || upper.starts_with("PROJCRS") || upper.starts_with("PROJECTEDCRS") {
        return Err(Box::new(Diagnostic::file(
            file,
            format!("the .prj declares a projected coordinate system ({name}); xuequ reads longitude/latitude degrees and does not reproject"),
            fix,
        )
        .with_value(name)));
    }
    let geographic = upper.starts_with("GEOGCS") || upper.starts_with("GEOGCRS") || upper.starts_with("GEODCRS");
    let known = [
        "WGS_1984",
        "WGS 84",
        "WGS84",
        "WGS_84",
        "CGCS_2000",
        "CGCS2000",
        "CHINA_2000",
        "CHINA 2000",
        "CHINA GEODETIC COORDINATE SYSTEM 2000",
        "GCJ",
        "BD09",
        "BD-09",
    ];
    if geographic && known.iter().any(|k| upper.contains(k)) {
        return Ok(());
    }
    Err(Box::new(Diagnostic::file(
        file,
        format!(
            "the .prj declares a coordinate system xuequ does not read ({}): only geographic WGS84, CGCS2000, GCJ-02 or BD-09 degrees",
            if name.is_empty() { "unnamed" } else { &name }
        ),
        fix,
    )
    .with_value(name)))
}

/// Which encoding the `.dbf` text is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    Utf8,
    Gbk,
    /// UTF-8 when valid, GB18030 otherwise.
    Guess,
}

fn cpg(path: &Path, file: &str) -> Result<Option<Text>, Diagnostics> {
    let Some(p) = sibling(path, "cpg") else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&p).unwrap_or_default();
    let v = text.trim().trim_start_matches('\u{feff}').to_ascii_uppercase();
    match v.as_str() {
        "UTF-8" | "UTF8" | "65001" => Ok(Some(Text::Utf8)),
        "GBK" | "GB2312" | "GB18030" | "936" | "CP936" | "ANSI 936" | "EUC-CN" | "GB_2312-80" => Ok(Some(Text::Gbk)),
        _ => Err(one(Diagnostic::file(
            format!("{file} (.cpg)"),
            "the .cpg names a text encoding xuequ does not read",
            "write UTF-8 or GBK in the .cpg (the encoding of the .dbf text)",
        )
        .with_value(text.trim()))),
    }
}

fn decode(bytes: &[u8], text: Text) -> String {
    let bytes = trim_ascii(bytes);
    match text {
        Text::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        Text::Gbk => encoding_rs::GB18030.decode_without_bom_handling(bytes).0.into_owned(),
        Text::Guess => match std::str::from_utf8(bytes) {
            Ok(s) => s.to_string(),
            Err(_) => encoding_rs::GB18030.decode_without_bom_handling(bytes).0.into_owned(),
        },
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let b = match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    };
    b.trim_ascii()
}

/// One `.dbf` record: deleted or not, and its fields as (name, text).
type DbfRecord = (bool, Vec<(String, String)>);

/// The `.dbf` records.
fn read_dbf(bytes: &[u8], file: &str, text: Option<Text>) -> Result<Vec<DbfRecord>, Diagnostics> {
    let bad = |what: &str| {
        one(Diagnostic::file(
            file.to_string(),
            format!("the .dbf is damaged: {what}"),
            "export the layer again (the .dbf holds the attribute table)",
        ))
    };
    if bytes.len() < 33 {
        return Err(bad("shorter than its header"));
    }
    let records = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let record_len = u16::from_le_bytes([bytes[10], bytes[11]]) as usize;
    let text = text.unwrap_or(if bytes[29] == 0x4D { Text::Gbk } else { Text::Guess });
    let mut fields: Vec<(String, usize, u8)> = Vec::new();
    let mut at = 32;
    while at + 32 <= bytes.len().min(header_len) && bytes[at] != 0x0D {
        let name = decode(&bytes[at..at + 11], text);
        let len = bytes[at + 16] as usize;
        fields.push((name, len, bytes[at + 11]));
        at += 32;
    }
    let width: usize = 1 + fields.iter().map(|f| f.1).sum::<usize>();
    if width > record_len.max(1) || header_len > bytes.len() {
        return Err(bad("its field widths do not add up to the record length"));
    }
    let mut out = Vec::with_capacity(records.min(1 << 20));
    for r in 0..records {
        let start = header_len + r * record_len;
        let Some(rec) = bytes.get(start..start + record_len) else {
            return Err(bad(&format!("record {} is cut short", r + 1)));
        };
        let deleted = rec[0] == b'*';
        let mut pos = 1;
        let mut values = Vec::with_capacity(fields.len());
        for (name, len, kind) in &fields {
            let mut v = decode(&rec[pos..pos + len], text);
            if matches!(kind, b'N' | b'F') {
                v = whole_number(v);
            }
            values.push((name.clone(), v));
            pos += len;
        }
        out.push((deleted, values));
    }
    Ok(out)
}

/// A numeric field written with decimals that are all zero (`146.000`) as the whole number
/// it is (`146`), so counts and years read as whole numbers.
fn whole_number(v: String) -> String {
    match v.split_once('.') {
        Some((int, frac)) if !int.is_empty() && frac.bytes().all(|b| b == b'0') => int.to_string(),
        _ => v,
    }
}

pub(super) fn read(path: &Path, file: &str) -> Result<Vec<Feature>, Diagnostics> {
    let Some(dbf) = sibling(path, "dbf") else {
        return Err(one(Diagnostic::file(
            file,
            format!(
                "the shapefile has no attribute table: {} is missing",
                path.with_extension("dbf").display()
            ),
            "copy the .dbf (and .prj, .cpg) that belong to the .shp beside it; a shapefile is several files with one name",
        )));
    };
    if let Some(prj) = sibling(path, "prj") {
        let text = std::fs::read_to_string(&prj).unwrap_or_default();
        check_prj(&text, &prj.display().to_string()).map_err(|d| one(*d))?;
    }
    let text = cpg(path, file)?;
    let dbf_name = dbf.display().to_string();
    let dbf_bytes = std::fs::read(&dbf).map_err(|e| {
        one(Diagnostic::file(
            &dbf_name,
            format!("cannot read: {e}"),
            "check the file",
        ))
    })?;
    let records = read_dbf(&dbf_bytes, &dbf_name, text)?;
    let shapes = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            shapefile::ShapeReader::new(std::io::Cursor::new(b))
                .and_then(|r| r.read())
                .map_err(|e| e.to_string())
        })
        .map_err(|e| {
            one(Diagnostic::file(
                file,
                format!("unreadable shapefile: {e}"),
                "export the layer again; the .shp may be cut short or not a shapefile",
            ))
        })?;
    if shapes.len() != records.len() {
        return Err(one(Diagnostic::file(
            file,
            format!(
                "the .shp has {} shapes but the .dbf has {} records",
                shapes.len(),
                records.len()
            ),
            "the .shp and .dbf must come from the same export",
        )));
    }
    let mut diags = Diagnostics::default();
    let mut out = Vec::with_capacity(shapes.len());
    for (i, (shape, (deleted, properties))) in shapes.into_iter().zip(records).enumerate() {
        let number = i as u64 + 1;
        if deleted {
            continue;
        }
        let rings: Vec<(bool, Vec<(f64, f64)>)> = match &shape {
            shapefile::Shape::Polygon(p) => p.rings().iter().map(|r| ring(r, |p| (p.x, p.y))).collect(),
            shapefile::Shape::PolygonM(p) => p.rings().iter().map(|r| ring(r, |p| (p.x, p.y))).collect(),
            shapefile::Shape::PolygonZ(p) => p.rings().iter().map(|r| ring(r, |p| (p.x, p.y))).collect(),
            other => {
                diags.push(
                    Diagnostic::file(
                        file,
                        format!("record {number} is a {}, not a polygon", other.shapetype()),
                        "use a polygon layer",
                    )
                    .at_line(number),
                );
                continue;
            }
        };
        match assemble(rings) {
            Some(geometry) => out.push(Feature {
                number,
                properties,
                geometry,
            }),
            None => diags.push(
                Diagnostic::file(
                    file,
                    format!("record {number} has a hole outside every outer ring, or no outer ring"),
                    "repair the outline in your GIS and export again",
                )
                .at_line(number),
            ),
        }
    }
    if diags.is_empty() { Ok(out) } else { Err(diags) }
}

fn ring<P>(r: &shapefile::PolygonRing<P>, xy: impl Fn(&P) -> (f64, f64)) -> (bool, Vec<(f64, f64)>) {
    match r {
        shapefile::PolygonRing::Outer(pts) => (true, pts.iter().map(&xy).collect()),
        shapefile::PolygonRing::Inner(pts) => (false, pts.iter().map(&xy).collect()),
    }
}

/// Outer rings become polygons; each hole goes to the outer ring that holds its first point.
fn assemble(rings: Vec<(bool, Vec<(f64, f64)>)>) -> Option<MultiPolygon<f64>> {
    let to_ls = |pts: Vec<(f64, f64)>| LineString::from(pts);
    let mut polys: Vec<Polygon<f64>> = Vec::new();
    let mut holes = Vec::new();
    for (outer, pts) in rings {
        if outer {
            polys.push(Polygon::new(to_ls(pts), vec![]));
        } else {
            holes.push(to_ls(pts));
        }
    }
    for h in holes {
        let first = h.0.first().copied()?;
        let owner = polys
            .iter_mut()
            .find(|p| Polygon::new(p.exterior().clone(), vec![]).contains(&geo::Point::from(first)))?;
        owner.interiors_push(h);
    }
    (!polys.is_empty()).then_some(MultiPolygon(polys))
}
