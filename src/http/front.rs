//! The front door, around every route: the Host check (DNS rebinding), and the headers every
//! answer carries.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, HOST, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS,
};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};

use crate::app::App;
use crate::config::Config;
use crate::error::{AppError, PROBLEM_JSON};

/// Probes address a server by its IP, and a health answer is worth nothing to a rebinding
/// page: these answer whatever the Host.
const ANY_HOST: [&str; 2] = ["/healthz", "/readyz"];

/// With `public_url` set, a request naming another host is refused before any route runs:
/// a page on evil.example whose name was re-pointed at this server sends `Host: evil.example`.
fn check_host(req: &ServiceRequest, config: &Config) -> Result<(), AppError> {
    let Some(public) = &config.public else {
        return Ok(());
    };
    if ANY_HOST.contains(&req.path()) {
        return Ok(());
    }
    // The Host header (HTTP/1.1) or the request target's authority (HTTP/2, absolute form);
    // never X-Forwarded-Host, which the client writes.
    let host = match req.headers().get(HOST) {
        Some(h) => h.to_str().ok(),
        None => req.uri().authority().map(|a| a.as_str()),
    };
    match host {
        Some(host) if public.is_own_host(host) => Ok(()),
        other => Err(AppError::HostNotAllowed(
            other.unwrap_or_default().chars().take(100).collect(),
        )),
    }
}

/// Refuses foreign hosts, then sets on every answer (errors included, even those an inner
/// middleware returned as `Err`):
/// - `X-Content-Type-Options: nosniff`, so no answer is ever sniffed into HTML or script;
/// - `Cache-Control: no-store` on the API's answers and on every problem, which may carry
///   a user's data and must not stay in a shared or browser cache;
/// - `Strict-Transport-Security` when `hsts_max_age_secs` is set.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let config = req.app_data::<web::Data<App>>().map(|a| a.config.clone());
    let hsts = config.as_ref().map_or(0, |c| c.hsts_max_age_secs);
    let api = req.path().starts_with("/api/");
    if let Some(config) = &config {
        if let Err(refusal) = check_host(&req, config) {
            let mut res = refusal.error_response();
            set_headers(res.headers_mut(), true, hsts);
            return Ok(req.into_response(res).map_into_right_body());
        }
    }
    match next.call(req).await {
        Ok(mut res) => {
            let is_problem = res
                .headers()
                .get(CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
            set_headers(res.headers_mut(), api || is_problem, hsts);
            Ok(res.map_into_left_body())
        }
        // The request is gone with the error; the framework renders it later, with these.
        Err(err) => Err(Hardened { err, hsts }.into()),
    }
}

fn set_headers(headers: &mut HeaderMap, no_store: bool, hsts: u64) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if no_store {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if hsts > 0 {
        if let Ok(value) = HeaderValue::from_str(&format!("max-age={hsts}")) {
            headers.insert(STRICT_TRANSPORT_SECURITY, value);
        }
    }
}

/// An error on its way out, rendered with the front door's headers.
#[derive(Debug)]
struct Hardened {
    err: actix_web::Error,
    hsts: u64,
}

impl std::fmt::Display for Hardened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.err.fmt(f)
    }
}

impl ResponseError for Hardened {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.err.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = self.err.error_response();
        set_headers(res.headers_mut(), true, self.hsts);
        res
    }
}
