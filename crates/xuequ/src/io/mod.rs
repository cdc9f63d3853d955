//! Every file the engine reads or writes goes through here.
//!
//! | module | owns |
//! |---|---|
//! | `text` | encodings (UTF-8, GBK/GB18030, UTF-16), line numbers as an editor shows them |
//! | `csv` | the one CSV reader: header aliases, exact positions, typed cells |
//! | `sheet` | `.xlsx`/`.xls`/`.ods` inputs, read as tables with `file:sheet!C7` positions |
//! | `source` | opening a tabular input (CSV or workbook, encoding forced or detected) |
//! | `toml_file` | TOML files: encoding checks and positioned syntax errors |
//! | `writer` | the one CSV writer: quoting, BOM, formula neutralisation |
//! | `points` | address tables for lookups: lon/lat checked, every other column kept |
//! | [`output_set`] | a command's whole output as one set: staging, one move, manifest |

pub(crate) mod csv;
pub mod output_set;
pub(crate) mod points;
pub(crate) mod sheet;
pub(crate) mod source;
pub(crate) mod text;
pub(crate) mod toml_file;
pub(crate) mod writer;

pub use output_set::{InputRecord, Manifest, ManifestInput, OutputSet, write_set};
pub use source::{InputSpec, OpenError, TableText};
pub use text::TextEncoding;
pub use toml_file::TomlReadError;
pub use writer::CsvWriter;
