//! The one error type. Every failure becomes an RFC 9457 `application/problem+json` response
//! whose `type` is a stable code clients can branch on.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::store::{Rejection, StoreError};

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("the bearer token is invalid or revoked")]
    InvalidToken,
    #[error("unknown username or wrong password")]
    InvalidCredentials,
    #[error("you are not a member of this room")]
    NotAMember,
    #[error("only the room's owner may do this")]
    NotOwner,
    #[error("origin {0} is not allowed here")]
    OriginNotAllowed(String),
    #[error("host {0:?} is not served here")]
    HostNotAllowed(String),
    #[error("too many open sockets for this {0}; close one first")]
    TooManySockets(&'static str),
    #[error("no such room")]
    RoomNotFound,
    #[error("no such bot")]
    BotNotFound,
    #[error("no such user")]
    UserNotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("that username is taken")]
    UsernameTaken,
    #[error("the room is full")]
    RoomFull,
    #[error("the owner cannot leave; delete the room instead")]
    OwnerCannotLeave,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("Idempotency-Key must be 1-255 printable ASCII characters")]
    InvalidIdempotencyKey,
    #[error("the body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("{field}: {message}")]
    Validation {
        field: &'static str,
        message: String,
    },
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited {
        /// The burst size (`RateLimit-Limit`).
        limit: u32,
        /// Seconds until the full burst is available again (`RateLimit-Reset`).
        reset_secs: u64,
        retry_after_secs: u64,
    },
    #[error("the database is unavailable; retry later")]
    Unavailable,
    #[error("the server is busy; retry shortly")]
    Overloaded,
    #[error("internal error")]
    Internal,
}

impl AppError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        AppError::Validation {
            field,
            message: message.into(),
        }
    }

    /// The stable `type` code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::MalformedJson(_) => "malformed-json",
            AppError::BadRequest(_) => "bad-request",
            AppError::Unauthenticated => "unauthenticated",
            AppError::InvalidCredentials => "invalid-credentials",
            AppError::InvalidToken => "invalid-token",
            AppError::NotAMember => "not-a-member",
            AppError::NotOwner => "not-owner",
            AppError::OriginNotAllowed(_) => "origin-not-allowed",
            AppError::HostNotAllowed(_) => "host-not-allowed",
            AppError::TooManySockets(_) => "too-many-sockets",
            AppError::RoomNotFound => "room-not-found",
            AppError::BotNotFound => "bot-not-found",
            AppError::UserNotFound => "user-not-found",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound => "not-found",
            AppError::MethodNotAllowed => "method-not-allowed",
            AppError::UsernameTaken => "username-taken",
            AppError::RoomFull => "room-full",
            AppError::OwnerCannotLeave => "owner-cannot-leave",
            AppError::IdempotencyKeyReused => "idempotency-key-reused",
            AppError::InvalidIdempotencyKey => "invalid-idempotency-key",
            AppError::PayloadTooLarge(_) => "payload-too-large",
            AppError::UnsupportedMediaType => "unsupported-media-type",
            AppError::Validation { .. } => "validation-failed",
            AppError::RateLimited { .. } => "rate-limited",
            AppError::Unavailable => "database-unavailable",
            AppError::Overloaded => "overloaded",
            AppError::Internal => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            AppError::MalformedJson(_) => "Malformed JSON",
            AppError::BadRequest(_) => "Bad request",
            AppError::Unauthenticated => "Not authenticated",
            AppError::InvalidCredentials => "Invalid credentials",
            AppError::InvalidToken => "Invalid token",
            AppError::NotAMember => "Not a member",
            AppError::NotOwner => "Not the owner",
            AppError::OriginNotAllowed(_) => "Origin not allowed",
            AppError::HostNotAllowed(_) => "Host not allowed",
            AppError::TooManySockets(_) => "Too many sockets",
            AppError::RoomNotFound => "Room not found",
            AppError::BotNotFound => "Bot not found",
            AppError::UserNotFound => "User not found",
            AppError::Forbidden(_) => "Forbidden",
            AppError::NotFound => "Not found",
            AppError::MethodNotAllowed => "Method not allowed",
            AppError::UsernameTaken => "Username taken",
            AppError::RoomFull => "Room full",
            AppError::OwnerCannotLeave => "Owner cannot leave",
            AppError::IdempotencyKeyReused => "Idempotency-Key reused",
            AppError::InvalidIdempotencyKey => "Invalid Idempotency-Key",
            AppError::PayloadTooLarge(_) => "Payload too large",
            AppError::UnsupportedMediaType => "Unsupported media type",
            AppError::Validation { .. } => "Validation failed",
            AppError::RateLimited { .. } => "Rate limited",
            AppError::Unavailable => "Service unavailable",
            AppError::Overloaded => "Server busy",
            AppError::Internal => "Internal error",
        }
    }
}

/// The problem+json body (RFC 9457).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// The stable error code (see the README's table).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// For `validation-failed`: the offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::MalformedJson(_)
            | AppError::BadRequest(_)
            | AppError::HostNotAllowed(_)
            | AppError::InvalidIdempotencyKey => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated | AppError::InvalidCredentials | AppError::InvalidToken => {
                StatusCode::UNAUTHORIZED
            }
            AppError::NotAMember
            | AppError::NotOwner
            | AppError::OriginNotAllowed(_)
            | AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::RoomNotFound
            | AppError::NotFound
            | AppError::BotNotFound
            | AppError::UserNotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::UsernameTaken | AppError::RoomFull | AppError::OwnerCannotLeave => {
                StatusCode::CONFLICT
            }
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Validation { .. } | AppError::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AppError::RateLimited { .. } | AppError::TooManySockets(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AppError::Unavailable | AppError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let problem = Problem {
            kind: self.code(),
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
            field: match self {
                AppError::Validation { field, .. } => Some(field),
                _ => None,
            },
        };
        let mut res = HttpResponse::build(status);
        res.content_type(PROBLEM_JSON);
        match self {
            AppError::Unavailable | AppError::Overloaded => {
                res.insert_header(("Retry-After", "1"));
            }
            AppError::RateLimited {
                limit,
                reset_secs,
                retry_after_secs,
            } => {
                res.insert_header(("Retry-After", retry_after_secs.to_string()));
                res.insert_header(("RateLimit-Limit", limit.to_string()));
                res.insert_header(("RateLimit-Remaining", "0"));
                res.insert_header(("RateLimit-Reset", reset_secs.to_string()));
            }
            // RFC 6750: tell token clients how to authenticate, and why a token failed.
            AppError::Unauthenticated => {
                res.insert_header(("WWW-Authenticate", "Bearer realm=\"roomcast\""));
            }
            AppError::InvalidToken => {
                res.insert_header((
                    "WWW-Authenticate",
                    "Bearer realm=\"roomcast\", error=\"invalid_token\"",
                ));
            }
            _ => {}
        }
        res.json(problem)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(r) => match r {
                Rejection::RoomNotFound => AppError::RoomNotFound,
                Rejection::RoomFull => AppError::RoomFull,
                Rejection::NotAMember => AppError::NotAMember,
                Rejection::NotOwner => AppError::NotOwner,
                Rejection::OwnerCannotLeave => AppError::OwnerCannotLeave,
                Rejection::UsernameTaken => AppError::UsernameTaken,
                Rejection::IdempotencyKeyReused => AppError::IdempotencyKeyReused,
                Rejection::BotNotFound => AppError::BotNotFound,
                Rejection::UserNotFound => AppError::UserNotFound,
                Rejection::ContentRefused => {
                    AppError::validation("content", "the database cannot store this content")
                }
            },
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                AppError::Unavailable
            }
            StoreError::Query(err) => {
                tracing::error!(error = %err, "database query failed");
                AppError::Internal
            }
            // Already logged where the task died.
            StoreError::Task(_) => AppError::Internal,
        }
    }
}
