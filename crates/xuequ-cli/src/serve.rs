//! `xuequ serve`: the enrollment-season HTTP service over [`xuequ::service`].
//!
//! This layer only routes and guards: every answer comes from
//! [`xuequ::service::ServiceData::answer`]. It adds what a platform expects of a service:
//! GET only, request size and per-client rate limits, a per-request timeout, CORS only when
//! asked, Prometheus metrics, one JSON access-log line per request on standard error,
//! graceful shutdown on SIGTERM or Ctrl-C, and reload on SIGHUP or when the results folder
//! changes (the new data is built beside the old, which is served until the swap).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use xuequ::service::params::{self, Route};
use xuequ::service::{QueryError, ServiceData, ServiceOptions};

use crate::Failure;

/// Flags of `xuequ serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The scenario file (scenario.toml).
    scenario: PathBuf,
    /// Address and port to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A finished run's folder (`xuequ run --out`): its seed, its assignments (checked
    /// against the scenario) and its risk tables (`--lotteries N`) for /v1/odds.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Requests per second allowed per client (bursts of twice as many); 0 turns the limit off.
    #[arg(long, default_value_t = 20)]
    rate_limit: u32,
    /// Take the client address from this request header (e.g. X-Real-IP) for the rate
    /// limit and the log; only behind a proxy that sets it.
    #[arg(long)]
    client_ip_header: Option<String>,
    /// Longest time one request may take, milliseconds (then 503).
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Allow browsers on this origin (e.g. https://xxt.example.cn, or *) to call the service
    /// (CORS); off by default.
    #[arg(long)]
    cors_origin: Option<String>,
    /// Check the results folder for a new run every this many seconds (0: only on SIGHUP).
    #[arg(long, default_value_t = 10)]
    watch_seconds: u64,
    /// Radius in metres bounding each block's cell in address lookups (as `xuequ lookup`).
    #[arg(long, default_value_t = 2000)]
    cell_radius: u32,
    /// No access-log lines (events such as reloads are still logged).
    #[arg(long)]
    no_access_log: bool,
}

/// Longest request target (path and query) accepted, bytes.
const MAX_TARGET_BYTES: usize = 4096;
/// In-flight requests get this long to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Latency histogram bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Seconds since the Unix epoch.
fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One JSON line on standard error (access log and events).
fn log_line(value: &serde_json::Value) {
    eprintln!("{value}");
}

/// Per-client token buckets.
struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: 2.0 * f64::from(per_second),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `client`'s bucket; false when it is empty.
    fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        // Bounded memory: clients whose buckets have refilled are forgotten.
        if buckets.len() > 100_000 {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Request counts and latency histograms for /metrics.
#[derive(Default)]
struct Metrics {
    inner: Mutex<MetricsInner>,
}

#[derive(Default)]
struct MetricsInner {
    requests: std::collections::BTreeMap<(&'static str, u16), u64>,
    latency: std::collections::BTreeMap<&'static str, ([u64; BUCKETS.len()], u64, f64)>,
    reloads_ok: u64,
    reloads_failed: u64,
}

impl Metrics {
    fn record(&self, endpoint: &'static str, status: u16, seconds: f64) {
        let Ok(mut m) = self.inner.lock() else {
            return;
        };
        *m.requests.entry((endpoint, status)).or_default() += 1;
        let (buckets, count, sum) = m.latency.entry(endpoint).or_default();
        for (b, &bound) in buckets.iter_mut().zip(&BUCKETS) {
            if seconds <= bound {
                *b += 1;
            }
        }
        *count += 1;
        *sum += seconds;
    }

    fn reload(&self, ok: bool) {
        if let Ok(mut m) = self.inner.lock() {
            if ok {
                m.reloads_ok += 1;
            } else {
                m.reloads_failed += 1;
            }
        }
    }

    /// The Prometheus text exposition.
    fn render(&self, generation: u64, loaded_at: f64) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else {
            return out;
        };
        out.push_str("# HELP xuequ_http_requests_total HTTP requests by endpoint and status.\n");
        out.push_str("# TYPE xuequ_http_requests_total counter\n");
        for ((endpoint, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "xuequ_http_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP xuequ_http_request_duration_seconds Time from request to response by endpoint.\n");
        out.push_str("# TYPE xuequ_http_request_duration_seconds histogram\n");
        for (endpoint, (buckets, count, sum)) in &m.latency {
            for (b, bound) in buckets.iter().zip(&BUCKETS) {
                let _ = writeln!(
                    out,
                    "xuequ_http_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{bound}\"}} {b}"
                );
            }
            let _ = writeln!(
                out,
                "xuequ_http_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "xuequ_http_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "xuequ_http_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {count}"
            );
        }
        out.push_str("# HELP xuequ_reloads_total Data reloads by result.\n# TYPE xuequ_reloads_total counter\n");
        let _ = writeln!(out, "xuequ_reloads_total{{result=\"ok\"}} {}", m.reloads_ok);
        let _ = writeln!(out, "xuequ_reloads_total{{result=\"failed\"}} {}", m.reloads_failed);
        out.push_str("# HELP xuequ_data_generation Data generation served (1 at start, +1 per reload).\n");
        out.push_str("# TYPE xuequ_data_generation gauge\n");
        let _ = writeln!(out, "xuequ_data_generation {generation}");
        out.push_str("# HELP xuequ_data_loaded_timestamp_seconds When the data served was loaded.\n");
        out.push_str("# TYPE xuequ_data_loaded_timestamp_seconds gauge\n");
        let _ = writeln!(out, "xuequ_data_loaded_timestamp_seconds {loaded_at:.3}");
        out
    }
}

/// The data served, swapped whole on reload.
struct Current {
    data: Arc<ServiceData>,
    generation: u64,
    loaded_at: f64,
}

/// Everything a request handler reads.
struct Shared {
    current: RwLock<Current>,
    limiter: Option<RateLimiter>,
    metrics: Metrics,
    client_ip_header: Option<String>,
    timeout: Duration,
    cors_origin: Option<HeaderValue>,
    access_log: bool,
    requests: AtomicU64,
}

impl Shared {
    fn data(&self) -> (Arc<ServiceData>, u64, f64) {
        match self.current.read() {
            Ok(c) => (Arc::clone(&c.data), c.generation, c.loaded_at),
            Err(poisoned) => {
                let c = poisoned.into_inner();
                (Arc::clone(&c.data), c.generation, c.loaded_at)
            }
        }
    }
}

fn json_response(status: u16, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn error_response(e: &QueryError) -> Response {
    json_response(e.status, e.to_json())
}

/// The client address: the configured header's first address when present and valid,
/// else the connection's peer.
fn client_ip(request: &Request, peer: SocketAddr, header_name: Option<&str>) -> IpAddr {
    header_name
        .and_then(|h| request.headers().get(h))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer.ip())
}

/// Every request goes through here: guards, routing, the answer, metrics and the log.
async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let start = Instant::now();
    let path = request.uri().path().to_string();
    let endpoint = params::endpoint_of(&path);
    let client = client_ip(&request, peer, shared.client_ip_header.as_deref());
    let method = request.method().clone();
    // The body is never read (a GET has none; one that has is refused).
    let (parts, _body) = request.into_parts();
    let mut response = respond(&shared, &parts, client).await;
    let status = response.status().as_u16();
    if let Some(origin) = &shared.cors_origin {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    let seconds = start.elapsed().as_secs_f64();
    shared.metrics.record(endpoint, status, seconds);
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if shared.access_log {
        // The path only: query strings carry home coordinates, kept out of logs.
        let shown: String = path.chars().take(200).collect();
        log_line(&serde_json::json!({
            "ts": (now_unix() * 1000.0).round() / 1000.0,
            "client": client.to_string(),
            "method": method.as_str(),
            "path": shown,
            "endpoint": endpoint,
            "status": status,
            "ms": (seconds * 1e6).round() / 1e3,
        }));
    }
    response
}

async fn respond(shared: &Arc<Shared>, request: &Parts, client: IpAddr) -> Response {
    let method = &request.method;
    if method == Method::OPTIONS && shared.cors_origin.is_some() {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET"));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Content-Type"),
        );
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        return r;
    }
    if method != Method::GET && method != Method::HEAD {
        let mut r = error_response(&QueryError {
            status: 405,
            code: "method_not_allowed",
            message: format!("{method} is not allowed: the service only answers GET (it changes no data)"),
        });
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let has_body = request.headers.contains_key(header::TRANSFER_ENCODING)
        || request
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    if has_body {
        return error_response(&QueryError {
            status: 413,
            code: "body_not_allowed",
            message: "a GET request carries no body here (fix: put the parameters in the query string)".to_string(),
        });
    }
    let target = request.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_TARGET_BYTES {
        return error_response(&QueryError {
            status: 414,
            code: "target_too_long",
            message: format!("the path and query have {target} bytes, more than {MAX_TARGET_BYTES}"),
        });
    }
    // Health checks and metrics scrapes come from the platform's own monitors: never limited.
    let monitored = matches!(params::endpoint_of(request.uri.path()), "healthz" | "metrics");
    if let Some(limiter) = &shared.limiter
        && !monitored
        && !limiter.allow(client, Instant::now())
    {
        let mut r = error_response(&QueryError {
            status: 429,
            code: "rate_limited",
            message: format!(
                "more than {} requests per second from {client} (fix: slow down; retry after a second)",
                limiter.per_second
            ),
        });
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    let route = match params::parse_request(request.uri.path(), request.uri.query()) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let (data, generation, loaded_at) = shared.data();
    match route {
        Route::Health => json_response(
            200,
            serde_json::to_vec(&serde_json::json!({"status": "ok", "generation": generation})).unwrap_or_default(),
        ),
        Route::Metrics => {
            let mut r = Response::new(Body::from(shared.metrics.render(generation, loaded_at)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        Route::Data(query) => {
            // Answers are computed off the async workers, so a slow one cannot stall the
            // others, and abandoned at the timeout.
            let task = tokio::task::spawn_blocking(move || data.answer(&query));
            match tokio::time::timeout(shared.timeout, task).await {
                Ok(Ok(Ok(body))) => json_response(200, body),
                Ok(Ok(Err(e))) => error_response(&e),
                Ok(Err(join)) => error_response(&QueryError {
                    status: 500,
                    code: "internal",
                    message: format!("the answer failed: {join}"),
                }),
                Err(_) => error_response(&QueryError {
                    status: 503,
                    code: "timeout",
                    message: format!("no answer within {} ms (fix: retry later)", shared.timeout.as_millis()),
                }),
            }
        }
    }
}

/// Loads the data as a reload or the start does.
fn load_data(args: &ServeArgs) -> Result<ServiceData, String> {
    let options = ServiceOptions {
        results: args.results.clone(),
        cell_radius_m: args.cell_radius,
        strict: crate::strict_flag(),
    };
    ServiceData::load(&args.scenario, options).map_err(|e| e.to_string())
}

/// The results folder's manifest, to notice a new run (a run commits its folder whole).
fn manifest_stamp(results: Option<&PathBuf>) -> Option<Vec<u8>> {
    let dir = results?;
    std::fs::read(dir.join(xuequ::io::output_set::MANIFEST)).ok()
}

/// The reload thread: waits for SIGHUP requests, polls the results folder, builds the new
/// data beside the old and swaps it in whole; a failed load keeps the old data.
fn reloader(args: Arc<ServeArgs>, shared: Arc<Shared>, requests: mpsc::Receiver<&'static str>) {
    let mut stamp = manifest_stamp(args.results.as_ref());
    let poll = (args.watch_seconds > 0 && args.results.is_some()).then(|| Duration::from_secs(args.watch_seconds));
    loop {
        let why = match poll {
            Some(p) => match requests.recv_timeout(p) {
                Ok(w) => w,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let now = manifest_stamp(args.results.as_ref());
                    if now.is_none() || now == stamp {
                        continue;
                    }
                    "results folder changed"
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            },
            None => match requests.recv() {
                Ok(w) => w,
                Err(_) => return,
            },
        };
        // Several signals while loading make one reload.
        while requests.try_recv().is_ok() {}
        let seen = manifest_stamp(args.results.as_ref());
        let t = Instant::now();
        match load_data(&args) {
            Ok(data) => {
                let generation = match shared.current.write() {
                    Ok(mut c) => {
                        c.data = Arc::new(data);
                        c.generation += 1;
                        c.loaded_at = now_unix();
                        c.generation
                    }
                    Err(_) => 0,
                };
                shared.metrics.reload(true);
                log_line(&serde_json::json!({
                    "ts": now_unix(), "event": "reloaded", "why": why, "generation": generation,
                    "seconds": t.elapsed().as_secs_f64(),
                }));
            }
            Err(e) => {
                shared.metrics.reload(false);
                log_line(&serde_json::json!({
                    "ts": now_unix(), "event": "reload_failed", "why": why,
                    "error": e, "note": "the previous data is still served",
                }));
            }
        }
        stamp = seen;
    }
}

/// `xuequ serve`.
pub fn serve(args: ServeArgs) -> Result<(), Failure> {
    let t = Instant::now();
    let data = ServiceData::load(
        &args.scenario,
        ServiceOptions {
            results: args.results.clone(),
            cell_radius_m: args.cell_radius,
            strict: crate::strict_flag(),
        },
    )
    .map_err(|e| match e {
        xuequ::service::ServiceError::Load(e) => crate::load_error(e),
        e => Failure::new(3, e),
    })?;
    for w in &data.dataset().warnings {
        eprintln!("{w}");
    }
    let cors_origin = match &args.cors_origin {
        Some(o) => Some(
            HeaderValue::from_str(o).map_err(|_| Failure::new(2, format!("--cors-origin {o}: not a header value")))?,
        ),
        None => None,
    };
    if let Some(h) = &args.client_ip_header
        && axum::http::HeaderName::from_bytes(h.as_bytes()).is_err()
    {
        return Err(Failure::new(2, format!("--client-ip-header {h}: not a header name")));
    }
    if args.timeout_ms == 0 {
        return Err(Failure::new(2, "--timeout-ms must be at least 1"));
    }
    let has_odds = data.has_odds();
    let shared = Arc::new(Shared {
        current: RwLock::new(Current {
            data: Arc::new(data),
            generation: 1,
            loaded_at: now_unix(),
        }),
        limiter: (args.rate_limit > 0).then(|| RateLimiter::new(args.rate_limit)),
        metrics: Metrics::default(),
        client_ip_header: args.client_ip_header.clone(),
        timeout: Duration::from_millis(args.timeout_ms),
        cors_origin,
        access_log: !args.no_access_log,
        requests: AtomicU64::new(0),
    });
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .max_blocking_threads(4 * cores)
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Failure::new(1, format!("cannot start the service's threads: {e}")))?;
    let args = Arc::new(args);
    let (reload_tx, reload_rx) = mpsc::channel::<&'static str>();
    {
        let (args, shared) = (Arc::clone(&args), Arc::clone(&shared));
        std::thread::Builder::new()
            .name("reload".into())
            .spawn(move || reloader(args, shared, reload_rx))
            .map_err(|e| Failure::new(1, format!("cannot start the reload thread: {e}")))?;
    }
    let listen = args.listen;
    let load_seconds = t.elapsed().as_secs_f64();
    let state = Arc::clone(&shared);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Failure::new(1, format!("cannot listen on {listen}: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| Failure::new(1, format!("cannot listen on {listen}: {e}")))?;
        let stop = Arc::new(tokio::sync::Notify::new());
        watch_signals(Arc::clone(&stop), reload_tx)?;
        log_line(&serde_json::json!({
            "ts": now_unix(), "event": "listening", "address": address.to_string(),
            "scenario": args.scenario.display().to_string(), "odds": has_odds,
            "load_seconds": load_seconds,
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state)
            .into_make_service_with_connect_info::<SocketAddr>();
        let stopping = Arc::clone(&stop);
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            stopping.notified().await;
            log_line(
                &serde_json::json!({"ts": now_unix(), "event": "stopping", "grace_seconds": SHUTDOWN_GRACE.as_secs()}),
            );
        });
        server
            .await
            .map_err(|e| Failure::new(1, format!("the server failed: {e}")))
    })?;
    log_line(&serde_json::json!({
        "ts": now_unix(), "event": "stopped", "requests": shared.requests.load(Ordering::Relaxed),
    }));
    Ok(())
}

/// Starts the graceful shutdown: no new connections, in-flight requests finish; whatever
/// is still open after [`SHUTDOWN_GRACE`] is cut by ending the process.
fn begin_stop(stop: &tokio::sync::Notify) {
    stop.notify_one();
    tokio::spawn(async {
        tokio::time::sleep(SHUTDOWN_GRACE).await;
        log_line(
            &serde_json::json!({"ts": now_unix(), "event": "stopped", "note": "grace period over, open connections cut"}),
        );
        std::process::exit(0);
    });
}

/// SIGTERM and Ctrl-C stop the server; SIGHUP asks the reload thread for new data.
fn watch_signals(stop: Arc<tokio::sync::Notify>, reload: mpsc::Sender<&'static str>) -> Result<(), Failure> {
    let on_stop = Arc::clone(&stop);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            begin_stop(&on_stop);
        }
    });
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| Failure::new(1, format!("cannot watch SIGTERM: {e}")))?;
        let mut hangup =
            signal(SignalKind::hangup()).map_err(|e| Failure::new(1, format!("cannot watch SIGHUP: {e}")))?;
        tokio::spawn(async move {
            if term.recv().await.is_some() {
                begin_stop(&stop);
            }
        });
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                if reload.send("SIGHUP").is_err() {
                    break;
                }
            }
        });
    }
    #[cfg(not(unix))]
    {
        drop((stop, reload));
    }
    Ok(())
}
