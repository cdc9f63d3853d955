//! Paths and query strings into typed requests, so the HTTP layer only routes.
//!
//! Parameters are `name=value` pairs separated by `&`, percent-encoded (`+` is a space),
//! UTF-8. Every problem is a 400 (or 404 for an unknown path) naming the parameter, the
//! value and the fix: an unknown or repeated parameter, a missing one, a value that does not
//! parse, or one longer than the limits below.

use super::QueryError;
use crate::crs::Crs;
use crate::model::Stage;

/// Longest query string accepted, bytes.
pub const MAX_QUERY_BYTES: usize = 2048;
/// Longest parameter value or path id accepted, characters.
pub const MAX_VALUE_CHARS: usize = 200;
/// Most search results one request may ask for.
pub const MAX_SEARCH_LIMIT: usize = 50;
/// Search results when `limit` is not given.
pub const DEFAULT_SEARCH_LIMIT: usize = 10;

/// `GET /v1/lookup`: by point or by block.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupRequest {
    /// `?lon=..&lat=..[&crs=..][&stage=..]`.
    Point {
        /// Longitude in `crs`.
        lon: f64,
        /// Latitude in `crs`.
        lat: f64,
        /// Coordinate system of the point (default: the scenario's).
        crs: Option<Crs>,
        /// One stage (default: every stage of the scenario).
        stage: Option<Stage>,
    },
    /// `?block=..[&stage=..]`.
    Block {
        /// The block id.
        id: String,
        /// One stage (default: every stage).
        stage: Option<Stage>,
    },
}

/// A request for data.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `GET /v1/lookup`.
    Lookup(LookupRequest),
    /// `GET /v1/search?q=..[&limit=..]`.
    Search {
        /// The name typed.
        q: String,
        /// Most results.
        limit: usize,
    },
    /// `GET /v1/applicants/{id}/explain`.
    Explain {
        /// The student id.
        id: String,
    },
    /// `GET /v1/odds?block=..&stage=..[&tier=..]`.
    Odds {
        /// The block id.
        block: String,
        /// The stage.
        stage: Stage,
        /// One tier's applicants only.
        tier: Option<String>,
    },
    /// `GET /v1/schools/{id}`.
    School {
        /// The school id.
        id: String,
    },
    /// `GET /v1/info`: what is loaded.
    Info,
}

impl Request {
    /// The endpoint's name (the `endpoint` label of the metrics).
    pub fn endpoint(&self) -> &'static str {
        match self {
            Request::Lookup(_) => "lookup",
            Request::Search { .. } => "search",
            Request::Explain { .. } => "explain",
            Request::Odds { .. } => "odds",
            Request::School { .. } => "school",
            Request::Info => "info",
        }
    }
}

/// What a path asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// A data request.
    Data(Request),
    /// `GET /healthz`.
    Health,
    /// `GET /metrics`.
    Metrics,
}

/// The endpoint name of a path, for metrics and logs, without parsing its parameters
/// (`other` for unknown paths, so their labels stay few).
pub fn endpoint_of(path: &str) -> &'static str {
    match path {
        "/v1/lookup" => "lookup",
        "/v1/search" => "search",
        "/v1/odds" => "odds",
        "/v1/info" => "info",
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        p if p.starts_with("/v1/applicants/") && p.ends_with("/explain") => "explain",
        p if p.starts_with("/v1/schools/") => "school",
        _ => "other",
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`) into UTF-8 text.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        format!("\"{text}\" has a % not followed by two hex digits (fix: write % as %25)")
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("\"{text}\" does not decode to UTF-8 text (fix: percent-encode UTF-8)"))
}

/// The `name=value` pairs of a query string, decoded; a repeated name is an error.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, QueryError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(QueryError {
            status: 414,
            code: "query_too_long",
            message: format!(
                "the query string has {} bytes, more than {MAX_QUERY_BYTES} (fix: ask with shorter values)",
                query.len()
            ),
        });
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = percent_decode(name, true).map_err(|m| QueryError::bad("bad_query", m))?;
        let value = percent_decode(value, true).map_err(|m| QueryError::bad("bad_query", format!("{name}: {m}")))?;
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(QueryError::bad(
                "bad_parameter",
                format!("{name} is longer than {MAX_VALUE_CHARS} characters (fix: give a shorter value)"),
            ));
        }
        if pairs.iter().any(|(n, _)| *n == name) {
            return Err(QueryError::bad(
                "bad_parameter",
                format!("{name} is given twice (fix: give each parameter once)"),
            ));
        }
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// The parameters of one request, each taken at most once; leftovers are unknown.
struct Params {
    pairs: Vec<(String, String)>,
    allowed: &'static [&'static str],
}

impl Params {
    fn new(query: Option<&str>, allowed: &'static [&'static str]) -> Result<Params, QueryError> {
        let pairs = parse_query(query.unwrap_or(""))?;
        if let Some((name, _)) = pairs.iter().find(|(n, _)| !allowed.contains(&n.as_str())) {
            return Err(QueryError::bad(
                "unknown_parameter",
                format!("unknown parameter \"{name}\" (fix: use only {})", allowed.join(", ")),
            ));
        }
        Ok(Params { pairs, allowed })
    }

    fn get(&self, name: &str) -> Option<&str> {
        debug_assert!(self.allowed.contains(&name));
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn required(&self, name: &str, example: &str) -> Result<&str, QueryError> {
        match self.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v.trim()),
            _ => Err(QueryError::bad(
                "missing_parameter",
                format!("{name} is missing (fix: add {name}={example})"),
            )),
        }
    }

    fn stage(&self) -> Result<Option<Stage>, QueryError> {
        self.get("stage")
            .map(|v| {
                v.parse::<Stage>()
                    .map_err(|e| QueryError::bad("bad_parameter", format!("stage \"{v}\": {e}")))
            })
            .transpose()
    }

    fn coordinate(&self, name: &str, example: &str) -> Result<f64, QueryError> {
        let v = self.required(name, example)?;
        let x: f64 = v.parse().map_err(|_| {
            QueryError::bad(
                "bad_coordinates",
                format!("{name} \"{v}\" is not a number (fix: give decimal degrees, e.g. {name}={example})"),
            )
        })?;
        Ok(x)
    }
}

fn id_value(name: &str, raw: &str) -> Result<String, QueryError> {
    let id = percent_decode(raw, false).map_err(|m| QueryError::bad("bad_parameter", format!("{name}: {m}")))?;
    let id = id.trim();
    if id.is_empty() || id.chars().count() > MAX_VALUE_CHARS || id.contains('/') {
        return Err(QueryError::bad(
            "bad_parameter",
            format!("{name} \"{id}\" is not an id (fix: give the id from the input files)"),
        ));
    }
    Ok(id.to_string())
}

/// Parses a path and its query string (without the `?`).
pub fn parse_request(path: &str, query: Option<&str>) -> Result<Route, QueryError> {
    let request = match path {
        "/healthz" => {
            Params::new(query, &[])?;
            return Ok(Route::Health);
        }
        "/metrics" => {
            Params::new(query, &[])?;
            return Ok(Route::Metrics);
        }
        "/v1/info" => {
            Params::new(query, &[])?;
            Request::Info
        }
        "/v1/lookup" => {
            let p = Params::new(query, &["lon", "lat", "crs", "stage", "block"])?;
            let stage = p.stage()?;
            if p.has("block") {
                if p.has("lon") || p.has("lat") || p.has("crs") {
                    return Err(QueryError::bad(
                        "bad_parameter",
                        "give either block, or lon and lat (fix: drop one of them)",
                    ));
                }
                let id = p.required("block", "B0001")?;
                let id = id_value("block", id)?;
                Request::Lookup(LookupRequest::Block { id, stage })
            } else {
                let lon = p.coordinate("lon", "120.30")?;
                let lat = p.coordinate("lat", "31.57")?;
                crate::crs::check_lon_lat(lon, lat).map_err(|m| QueryError::bad("bad_coordinates", m))?;
                let crs = p
                    .get("crs")
                    .map(|v| {
                        v.trim()
                            .to_ascii_lowercase()
                            .parse::<Crs>()
                            .map_err(|e| QueryError::bad("bad_parameter", format!("crs \"{v}\": {e}")))
                    })
                    .transpose()?;
                Request::Lookup(LookupRequest::Point { lon, lat, crs, stage })
            }
        }
        "/v1/search" => {
            let p = Params::new(query, &["q", "limit"])?;
            let q = p.required("q", "万科城")?.to_string();
            let limit = match p.get("limit") {
                None => DEFAULT_SEARCH_LIMIT,
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(n) if (1..=MAX_SEARCH_LIMIT).contains(&n) => n,
                    _ => {
                        return Err(QueryError::bad(
                            "bad_parameter",
                            format!("limit \"{v}\" is not a whole number from 1 to {MAX_SEARCH_LIMIT}"),
                        ));
                    }
                },
            };
            Request::Search { q, limit }
        }
        "/v1/odds" => {
            let p = Params::new(query, &["block", "stage", "tier"])?;
            let block = id_value("block", p.required("block", "B0001")?)?;
            p.required("stage", "primary")?;
            let stage = p
                .stage()?
                .ok_or_else(|| QueryError::bad("missing_parameter", "stage is missing (fix: add stage=primary)"))?;
            let tier = p
                .get("tier")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            Request::Odds { block, stage, tier }
        }
        _ => {
            if let Some(rest) = path.strip_prefix("/v1/applicants/")
                && let Some(id) = rest.strip_suffix("/explain")
            {
                Params::new(query, &[])?;
                Request::Explain {
                    id: id_value("applicant id", id)?,
                }
            } else if let Some(id) = path.strip_prefix("/v1/schools/") {
                Params::new(query, &[])?;
                Request::School {
                    id: id_value("school id", id)?,
                }
            } else {
                return Err(QueryError::not_found(
                    "unknown_path",
                    format!(
                        "no endpoint at {} (fix: use /v1/lookup, /v1/search, /v1/applicants/ID/explain, /v1/odds, \
                         /v1/schools/ID, /v1/info, /healthz or /metrics)",
                        path.chars().take(MAX_VALUE_CHARS).collect::<String>()
                    ),
                ));
            }
        }
    };
    Ok(Route::Data(request))
}
