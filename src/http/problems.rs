//! Turning every framework-level failure (bad JSON, bad path, unknown route, a middleware's
//! error) into the same problem+json shape as `AppError`.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{ALLOW, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};

use super::MAX_JSON_BODY;
use crate::auth::session_store::watching_outage;
use crate::error::{AppError, PROBLEM_JSON};

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BODY)
        .content_type_required(true)
        .error_handler(|err, _| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> AppError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            AppError::PayloadTooLarge(MAX_JSON_BODY)
        }
        JsonPayloadError::ContentType => AppError::UnsupportedMediaType,
        // Well-formed JSON of the wrong shape is a validation failure, not a syntax error.
        // Bodies are read as objects (see `body::JsonObject`), so this is a body that is not
        // one; serde's message would quote it, and it may be a bare password.
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            AppError::validation("body", "must be a JSON object")
        }
        JsonPayloadError::Deserialize(e) => AppError::MalformedJson(e.to_string()),
        other => AppError::MalformedJson(other.to_string()),
    }
}

/// A path segment that does not parse (e.g. a non-numeric id) names nothing that exists.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_: PathError, _| AppError::NotFound.into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e: QueryPayloadError, _| AppError::BadRequest(e.to_string()).into())
}

pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}

fn for_status(status: StatusCode) -> AppError {
    match status.as_u16() {
        400 => AppError::BadRequest("bad request".into()),
        401 => AppError::Unauthenticated,
        404 => AppError::NotFound,
        405 => AppError::MethodNotAllowed,
        413 => AppError::PayloadTooLarge(MAX_JSON_BODY),
        415 => AppError::UnsupportedMediaType,
        503 => AppError::unavailable(format!("{status} from a middleware")),
        _ => AppError::internal(format!("{status} from a middleware")),
    }
}

/// Outermost middleware: an error from an inner middleware, or an error response that is not
/// problem+json yet (405 from the router, a WebSocket handshake refusal), is rewritten as one.
pub async fn normalize<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<ServiceResponse<EitherBody<B, BoxBody>>, actix_web::Error> {
    let (result, outage) = watching_outage(next.call(req)).await;
    match result {
        Ok(res) => {
            let status = res.status();
            let is_problem = res
                .headers()
                .get(CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
            if (status.is_client_error() || status.is_server_error()) && !is_problem {
                // The router's 405 names the route's methods; the rewrite keeps them.
                let allow = res.headers().get(ALLOW).cloned();
                let (req, _) = res.into_parts();
                let mut body = for_status(status).error_response();
                if let Some(allow) = allow {
                    body.headers_mut().insert(ALLOW, allow);
                }
                return Ok(ServiceResponse::new(req, body).map_into_right_body());
            }
            Ok(res.map_into_left_body())
        }
        Err(err) => {
            // The framework renders a returned error with its own `error_response`.
            let status = err.as_response_error().status_code();
            tracing::error!(error = %err, %status, "request failed in middleware");
            // The session middleware's storage errors arrive as opaque 500s; when the store
            // said the database was unreachable the truthful answer is a retryable 503.
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                if let Some(outage) = outage {
                    return Err(AppError::unavailable(outage).into());
                }
            }
            Err(for_status(status).into())
        }
    }
}
