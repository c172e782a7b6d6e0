//! The one error type. Every failure becomes an RFC 9457 `application/problem+json` response
//! whose `type` is a stable code clients can branch on.
//!
//! `ErrorKind::spec` is the one table of status, code and title; the response, the OpenAPI
//! document's list of codes and the README check all read it. A failure on the server's side
//! carries a [`Fault`] (its cause and call site), logged once when it becomes a response.

use std::error::Error as StdError;
use std::fmt;
use std::panic::Location;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::store::{Rejection, StoreError};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// `ErrorKind` (derived) has one fieldless variant per `AppError` variant, so a new variant
/// cannot compile without its row in `ErrorKind::spec`, and `ErrorKind::iter()` lists them all.
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(name(ErrorKind), derive(strum::EnumIter))]
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
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("you are not a member of this room")]
    NotAMember,
    #[error("only the room's owner may do this")]
    NotOwner,
    #[error("only an admin may do this")]
    NotAdmin,
    #[error("you are banned from this room")]
    Banned,
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
    #[error("no such invite")]
    InviteNotFound,
    #[error("registration is closed on this server; an operator creates accounts")]
    RegistrationClosed,
    #[error("{0}")]
    InviteInvalid(&'static str),
    #[error("no such message in this room")]
    MessageNotFound,
    #[error("only the message's author may edit it (and delete it, besides the room's owner)")]
    NotAuthor,
    #[error("the message was deleted")]
    MessageDeleted,
    #[error("this message has the most distinct reactions it may have; use one of them")]
    TooManyReactions,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    DirectMessage(&'static str),
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
    /// The database cannot be reached; the fault says why (the body does not).
    #[error("the database is unavailable; retry later")]
    Unavailable(#[source] Fault),
    #[error("the server is busy; retry shortly")]
    Overloaded,
    /// A bug or a broken invariant; the fault says what (the body does not).
    #[error("internal error")]
    Internal(#[source] Fault),
}

/// What the client is told about one kind of error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorSpec {
    pub status: StatusCode,
    /// The stable `type` code.
    pub code: &'static str,
    pub title: &'static str,
}

impl ErrorKind {
    /// The table: one row per kind. Codes and statuses are a contract with clients: never
    /// change one, add a kind instead.
    pub fn spec(self) -> ErrorSpec {
        use StatusCode as S;
        let (status, code, title) = match self {
            ErrorKind::MalformedJson => (S::BAD_REQUEST, "malformed-json", "Malformed JSON"),
            ErrorKind::BadRequest => (S::BAD_REQUEST, "bad-request", "Bad request"),
            ErrorKind::Unauthenticated => (S::UNAUTHORIZED, "unauthenticated", "Not authenticated"),
            ErrorKind::InvalidToken => (S::UNAUTHORIZED, "invalid-token", "Invalid token"),
            ErrorKind::InvalidCredentials => (
                S::UNAUTHORIZED,
                "invalid-credentials",
                "Invalid credentials",
            ),
            ErrorKind::WrongPassword => (S::FORBIDDEN, "wrong-password", "Wrong password"),
            ErrorKind::NotAMember => (S::FORBIDDEN, "not-a-member", "Not a member"),
            ErrorKind::NotOwner => (S::FORBIDDEN, "not-owner", "Not the owner"),
            ErrorKind::NotAdmin => (S::FORBIDDEN, "not-admin", "Not an admin"),
            ErrorKind::Banned => (S::FORBIDDEN, "banned", "Banned"),
            ErrorKind::OriginNotAllowed => {
                (S::FORBIDDEN, "origin-not-allowed", "Origin not allowed")
            }
            ErrorKind::HostNotAllowed => (S::BAD_REQUEST, "host-not-allowed", "Host not allowed"),
            ErrorKind::TooManySockets => {
                (S::TOO_MANY_REQUESTS, "too-many-sockets", "Too many sockets")
            }
            ErrorKind::RoomNotFound => (S::NOT_FOUND, "room-not-found", "Room not found"),
            ErrorKind::BotNotFound => (S::NOT_FOUND, "bot-not-found", "Bot not found"),
            ErrorKind::UserNotFound => (S::NOT_FOUND, "user-not-found", "User not found"),
            ErrorKind::InviteNotFound => (S::NOT_FOUND, "invite-not-found", "Invite not found"),
            ErrorKind::RegistrationClosed => {
                (S::FORBIDDEN, "registration-closed", "Registration closed")
            }
            ErrorKind::InviteInvalid => (S::FORBIDDEN, "invite-invalid", "Invite invalid"),
            ErrorKind::MessageNotFound => (S::NOT_FOUND, "message-not-found", "Message not found"),
            ErrorKind::NotAuthor => (S::FORBIDDEN, "not-author", "Not the author"),
            ErrorKind::MessageDeleted => (S::CONFLICT, "message-deleted", "Message deleted"),
            ErrorKind::TooManyReactions => {
                (S::CONFLICT, "too-many-reactions", "Too many reactions")
            }
            ErrorKind::Forbidden => (S::FORBIDDEN, "forbidden", "Forbidden"),
            ErrorKind::DirectMessage => (
                S::CONFLICT,
                "direct-message",
                "Not possible in a direct message",
            ),
            ErrorKind::NotFound => (S::NOT_FOUND, "not-found", "Not found"),
            ErrorKind::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ErrorKind::UsernameTaken => (S::CONFLICT, "username-taken", "Username taken"),
            ErrorKind::RoomFull => (S::CONFLICT, "room-full", "Room full"),
            ErrorKind::OwnerCannotLeave => {
                (S::CONFLICT, "owner-cannot-leave", "Owner cannot leave")
            }
            ErrorKind::IdempotencyKeyReused => (
                S::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
            ),
            ErrorKind::InvalidIdempotencyKey => (
                S::BAD_REQUEST,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
            ),
            ErrorKind::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            ErrorKind::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ErrorKind::Validation => (
                S::UNPROCESSABLE_ENTITY,
                "validation-failed",
                "Validation failed",
            ),
            ErrorKind::RateLimited => (S::TOO_MANY_REQUESTS, "rate-limited", "Rate limited"),
            ErrorKind::Unavailable => (
                S::SERVICE_UNAVAILABLE,
                "database-unavailable",
                "Service unavailable",
            ),
            ErrorKind::Overloaded => (S::SERVICE_UNAVAILABLE, "overloaded", "Server busy"),
            ErrorKind::Internal => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        };
        ErrorSpec {
            status,
            code,
            title,
        }
    }

    /// Every kind, in declaration order.
    pub fn all() -> impl Iterator<Item = ErrorKind> {
        <ErrorKind as strum::IntoEnumIterator>::iter()
    }
}

/// A failure on the server's side: what caused it and where it became an `AppError`. For the
/// log only; the client gets the kind's title and a fixed detail.
#[derive(Debug)]
pub struct Fault {
    cause: Box<dyn StdError + Send + Sync>,
    at: &'static Location<'static>,
}

impl Fault {
    #[track_caller]
    pub fn new(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Fault {
            cause: cause.into(),
            at: Location::caller(),
        }
    }

    /// Where the fault became an `AppError` (the `?` or the constructor's caller).
    pub fn location(&self) -> &'static Location<'static> {
        self.at
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at {})", self.cause, self.at)
    }
}

impl StdError for Fault {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.cause)
    }
}

impl AppError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        AppError::Validation {
            field,
            message: message.into(),
        }
    }

    /// A bug or a broken invariant, with its cause and the caller's location for the log.
    #[track_caller]
    pub fn internal(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        AppError::Internal(Fault::new(cause))
    }

    /// The database cannot be reached, with why and the caller's location for the log.
    #[track_caller]
    pub fn unavailable(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        AppError::Unavailable(Fault::new(cause))
    }

    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from(self)
    }

    /// Status, code and title, from the one table.
    pub fn spec(&self) -> ErrorSpec {
        self.kind().spec()
    }

    /// The stable `type` code.
    pub fn code(&self) -> &'static str {
        self.spec().code
    }

    /// The server-side cause, if this is a fault of the server's.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            AppError::Internal(fault) | AppError::Unavailable(fault) => Some(fault),
            _ => None,
        }
    }

    /// For operators (a log line, the CLI), never for a response: the message, and for a
    /// fault its cause and where it arose.
    pub fn report(&self) -> String {
        match self.fault() {
            Some(fault) => format!("{self}: {fault}"),
            None => self.to_string(),
        }
    }

    /// Logs a fault once, as it becomes a response: a bug at ERROR, an unreachable database
    /// at WARN (an outage, not a bug; the access line already counts its 503s at ERROR).
    fn log_fault(&self) {
        let Some(fault) = self.fault() else {
            return;
        };
        let (code, cause, at) = (self.code(), &fault.cause, fault.at);
        match self {
            AppError::Unavailable(_) => tracing::warn!(code, %cause, %at, "request failed"),
            _ => tracing::error!(code, %cause, %at, "request failed"),
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
        self.spec().status
    }

    fn error_response(&self) -> HttpResponse {
        self.log_fault();
        let spec = self.spec();
        let problem = Problem {
            kind: spec.code,
            title: spec.title,
            status: spec.status.as_u16(),
            detail: self.to_string(),
            field: match self {
                AppError::Validation { field, .. } => Some(field),
                _ => None,
            },
        };
        let mut res = HttpResponse::build(spec.status);
        res.content_type(PROBLEM_JSON);
        match self {
            AppError::Unavailable(_) | AppError::Overloaded => {
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
    /// `?` passes its own location on, so a fault names the line that met the store error.
    #[track_caller]
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
                Rejection::InviteInvalid => {
                    AppError::InviteInvalid("the invite code is unknown, used up or expired")
                }
                Rejection::InviteNotFound => AppError::InviteNotFound,
                Rejection::MessageNotFound => AppError::MessageNotFound,
                Rejection::NotAuthor => AppError::NotAuthor,
                Rejection::MessageDeleted => AppError::MessageDeleted,
                Rejection::Banned => AppError::Banned,
                Rejection::OwnerCannotBeBanned => {
                    AppError::Forbidden("the room's owner cannot be banned from it")
                }
                Rejection::TooManyReactions => AppError::TooManyReactions,
                Rejection::DirectMessage => AppError::DirectMessage(
                    "a direct message's two members are fixed: nobody joins, leaves, is \
                     invited, added, removed or banned",
                ),
                Rejection::ContentRefused => {
                    AppError::validation("content", "the database cannot store this content")
                }
            },
            StoreError::Unavailable(_) => AppError::unavailable(e),
            StoreError::Overloaded => AppError::Overloaded,
            StoreError::Query(_) | StoreError::Task(_) => AppError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_distinct_and_statuses_are_errors() {
        let mut seen = HashSet::new();
        for kind in ErrorKind::all() {
            let spec = kind.spec();
            assert!(seen.insert(spec.code), "{} twice", spec.code);
            assert!(
                spec.status.is_client_error() || spec.status.is_server_error(),
                "{kind:?}: {}",
                spec.status
            );
            assert!(
                spec.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                spec.code
            );
        }
    }

    /// The body says what the table says and never the cause; the cause and the line that
    /// raised it stay with the error for the log.
    #[test]
    fn a_fault_keeps_its_cause_and_call_site_out_of_the_body() {
        let line = line!() + 1;
        let err = AppError::from(StoreError::Task("boom: secret detail".into()));
        let fault = err.fault().expect("a fault");
        assert_eq!(
            (fault.location().file(), fault.location().line()),
            (file!(), line)
        );
        assert!(err.report().contains("secret detail"), "{}", err.report());
        assert!(err.source().is_some());

        let res = err.error_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = actix_web::body::MessageBody::try_into_bytes(res.into_body())
            .expect("a body in memory");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({
                "type": "internal",
                "title": "Internal error",
                "status": 500,
                "detail": "internal error"
            })
        );
    }

    /// `?` converts through `From` with the location of the `?`.
    #[test]
    fn question_mark_records_its_own_line() {
        let line = line!() + 2;
        let fails = || -> Result<(), AppError> {
            Err(StoreError::Unavailable("pool timed out".into()))?;
            Ok(())
        };
        let err = fails().expect_err("fails");
        let at = err.fault().expect("a fault").location();
        assert_eq!((at.file(), at.line()), (file!(), line));
        assert!(matches!(err, AppError::Unavailable(_)));
        assert_eq!(err.code(), "database-unavailable");
    }
}
