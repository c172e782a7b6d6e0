//! Metrics (Prometheus text at /metrics), the per-request middleware that records them, writes
//! the access log and echoes the request id, and the log targets operators route on.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use crate::ids::UserId;
use crate::proxies::client_ip;

/// The access log's target: one INFO line per request (ERROR for a 5xx).
pub const ACCESS: &str = "roomcast::access";
/// Security events (logins, logouts, token and account changes, deletions): their own target,
/// so operators can route them to an audit store.
pub const SECURITY: &str = "roomcast::security";

/// A longer query is cut in the log: a client must not be able to fill the disk with it.
const MAX_LOGGED_QUERY: usize = 512;
/// Query parameters whose values are never logged: any name that contains one of these.
const SECRET_NAMES: &[&str] = &[
    "token", "password", "passwd", "secret", "key", "auth", "session",
];

/// Latency buckets in seconds: sub-millisecond for fan-out, up to seconds for stalls.
const LATENCY: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
const BATCH: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];
/// Histogram samples are folded into buckets this often, so memory stays flat between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder; `serve` calls it once.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets(LATENCY)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full("roomcast_batch_size".into()), BATCH))
        .map_err(|e| format!("metrics: {e}"))?
        .install_recorder()
        .map_err(|e| format!("metrics: {e}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// The request's span: only its id, which every line logged for the request carries. Not
/// tracing-actix-web's default span, which holds the raw target (secrets in the query) and the
/// client IP from X-Forwarded-For (anyone can write it); the access line has the rest.
/// Created at ERROR level: a span exists only if its level passes the filter, so with
/// `log = "warn"` an INFO span was dropped and a request's warnings lost their request id.
/// Events keep their own levels.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request.extensions().get::<RequestId>().copied();
        match id {
            Some(id) => tracing::error_span!("request", request_id = %id),
            None => tracing::error_span!("request"),
        }
    }

    /// Nothing: `observe` writes the one access line (tracing-actix-web's own event, at WARN
    /// for every 4xx, is off with its `emit_event_on_error` feature).
    fn on_request_end<B: MessageBody>(_: Span, _: &Result<ServiceResponse<B>, actix_web::Error>) {}
}

/// Who made a request, for the access log: set by the `Principal` extractor and at login.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub id: UserId,
    pub bot: bool,
}

pub fn note_caller(req: &HttpRequest, id: UserId, bot: bool) {
    req.extensions_mut().insert(Caller { id, bot });
}

/// The query string with the value of every parameter whose name looks secret replaced, for
/// logs. Names are compared decoded and lower-cased, so `%54oken` is caught too.
pub fn redact_query(query: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let lower = name.to_lowercase();
        if SECRET_NAMES.iter().any(|s| lower.contains(s)) {
            out.append_pair(&name, "REDACTED");
        } else {
            out.append_pair(&name, &value);
        }
    }
    let mut logged = out.finish();
    if logged.len() > MAX_LOGGED_QUERY {
        let mut end = MAX_LOGGED_QUERY;
        while !logged.is_char_boundary(end) {
            end -= 1;
        }
        logged.truncate(end);
        logged.push('…');
    }
    logged
}

/// GET /metrics
pub async fn render(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

/// Counts requests by route and status, times them, writes the access line, and echoes the
/// request id that every log line of the request carries (from the tracing span) as
/// `X-Request-Id`.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let request_id = req.extensions().get::<RequestId>().copied();
    // The TCP peer, or behind a trusted proxy the client it forwarded; never a header from
    // anyone else (anyone can write X-Forwarded-For).
    let peer = client_ip(req.request());
    let query = redact_query(req.query_string());
    let mut res = match next.call(req).await {
        Ok(res) => res,
        Err(err) => {
            // The request is gone with the error; its route is unknown here.
            let status = err.as_response_error().status_code().as_u16();
            access_line(method, "unmatched", &query, status, started, peer, None);
            return Err(err);
        }
    };
    // Every label takes few values, whatever clients send: the route pattern (not the path),
    // the method from a fixed set, and the status the server itself chose.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    let caller = res.request().extensions().get::<Caller>().copied();
    access_line(method, &route, &query, status, started, peer, caller);
    metrics::counter!("roomcast_http_requests_total",
        "route" => route.clone(), "method" => method, "status" => status.to_string())
    .increment(1);
    metrics::histogram!("roomcast_http_request_duration_seconds",
        "route" => route, "method" => method)
    .record(started.elapsed().as_secs_f64());
    if let Some(id) = request_id {
        if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
            res.headers_mut()
                .insert(HeaderName::from_static("x-request-id"), value);
        }
    }
    Ok(res)
}

/// The access log line. Fields, never a credential: method, route (the pattern, not the path),
/// query (secret values redacted, absent when empty), status, duration_ms, peer (the client's
/// IP, see `proxies`), user and bot when authenticated; request_id comes from the span. A 4xx is the
/// client's business and logs at INFO like any answer; a 5xx logs at ERROR.
fn access_line(
    method: &str,
    route: &str,
    query: &str,
    status: u16,
    started: Instant,
    peer: std::net::IpAddr,
    caller: Option<Caller>,
) {
    // Microsecond precision: more digits are noise.
    let duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    let query = (!query.is_empty()).then_some(query);
    let peer = tracing::field::display(peer);
    let (user, bot) = (caller.map(|c| c.id.0), caller.map(|c| c.bot));
    if status >= 500 {
        tracing::error!(target: ACCESS, method, route, query, status, duration_ms, peer, user, bot, "request");
    } else {
        tracing::info!(target: ACCESS, method, route, query, status, duration_ms, peer, user, bot, "request");
    }
}

/// The method as a metric label (and in the access log): the standard ones by name, anything
/// a client invents as `OTHER` (a label per invented method let anyone grow /metrics without
/// bound).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_query_values_are_redacted() {
        assert_eq!(redact_query("after=5&limit=10"), "after=5&limit=10");
        assert_eq!(
            redact_query("token=s3cret&after=1"),
            "token=REDACTED&after=1"
        );
        for q in [
            "access_token=s3cret",
            "Password=s3cret",
            "api_key=s3cret",
            "%74oken=s3cret",
            "x=1&client_secret=s3cret",
        ] {
            let out = redact_query(q);
            assert!(!out.contains("s3cret"), "{q} -> {out}");
        }
        assert_eq!(redact_query(""), "");
    }

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::TRACE), "OTHER");
        let invented = Method::from_bytes(b"FROBNICATE").expect("a valid token");
        assert_eq!(method_label(&invented), "OTHER");
    }
}
