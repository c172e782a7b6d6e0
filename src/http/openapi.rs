//! The OpenAPI 3.1 document, generated from the handlers' annotations and the types they use.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::error::Problem;

use super::{accounts, bots, events, members, messages, ops, rooms, session};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "roomcast",
        description = "Chat: send over HTTP, receive over WebSocket. Every error is \
                       application/problem+json with a stable `type` code."
    ),
    paths(
        accounts::register,
        session::login,
        session::logout,
        session::logout_everywhere,
        session::me,
        rooms::create,
        rooms::list,
        rooms::show,
        rooms::delete,
        members::join,
        members::leave,
        members::list,
        members::remove,
        messages::send,
        messages::history,
        events::subscribe,
        bots::create,
        bots::list,
        bots::rotate,
        bots::revoke,
        bots::delete,
        ops::healthz,
        ops::readyz,
    ),
    components(schemas(crate::realtime::frame::EventFrame, crate::error::Problem)),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// The two ways to authenticate: the browser's session cookie, a bot's bearer token.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("roomcast_session"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// GET /api/openapi.json (built once).
pub async fn document() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| ApiDoc::openapi().to_pretty_json().unwrap_or_default());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.as_str())
}

// Reusable problem responses, named once and listed by the paths that can answer them.
// The field only names the body's schema for the document; no value is ever built.

#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "No valid session cookie or bearer token (`unauthenticated`, `invalid-token`)",
    content_type = "application/problem+json"
)]
#[allow(dead_code)]
pub struct Unauthorized(Problem);

#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "Database unavailable (`database-unavailable`)",
    content_type = "application/problem+json"
)]
#[allow(dead_code)]
pub struct DatabaseDown(Problem);

/// 503 of the endpoints that hash a password: the database, or every hashing slot, is busy.
#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "Database unavailable (`database-unavailable`), or every password-hashing \
                   slot busy (`overloaded`); see Retry-After",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait"))
)]
#[allow(dead_code)]
pub struct Unavailable(Problem);

#[derive(IntoResponses)]
#[response(
    status = 429,
    description = "Rate limited (`rate-limited`); see Retry-After",
    content_type = "application/problem+json",
    headers(
        ("Retry-After" = u64, description = "Seconds to wait"),
        ("RateLimit-Limit" = u32),
        ("RateLimit-Remaining" = u32),
        ("RateLimit-Reset" = u64)
    )
)]
#[allow(dead_code)]
pub struct RateLimited(Problem);

#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such room (`room-not-found`)",
    content_type = "application/problem+json"
)]
#[allow(dead_code)]
pub struct RoomNotFound(Problem);

#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "Bots cannot manage bots (`forbidden`)",
    content_type = "application/problem+json"
)]
#[allow(dead_code)]
pub struct BotsForbidden(Problem);

#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such bot of yours (`bot-not-found`)",
    content_type = "application/problem+json"
)]
#[allow(dead_code)]
pub struct BotNotFound(Problem);

/// The refusals of a JSON body.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum BadBody {
    #[response(
        status = 400,
        description = "Malformed JSON (`malformed-json`)",
        content_type = "application/problem+json"
    )]
    Malformed(Problem),
    #[response(
        status = 413,
        description = "Body over 64 KiB (`payload-too-large`)",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    #[response(
        status = 415,
        description = "Not application/json (`unsupported-media-type`)",
        content_type = "application/problem+json"
    )]
    MediaType(Problem),
    #[response(
        status = 422,
        description = "Invalid field (`validation-failed`)",
        content_type = "application/problem+json"
    )]
    Invalid(Problem),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::text::{
        CONTENT_PATTERN, IDEMPOTENCY_KEY_PATTERN, NAME_PATTERN, ROOM_NAME_PATTERN,
    };

    /// The document states the server's own rules (attributes take only literals, so this
    /// holds them to the constants validation is written against).
    #[test]
    fn the_documented_patterns_are_the_validated_ones() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serializable");
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["Credentials"]["properties"]["username"]["pattern"],
            NAME_PATTERN
        );
        assert_eq!(
            schemas["NewBot"]["properties"]["name"]["pattern"],
            NAME_PATTERN
        );
        assert_eq!(
            schemas["NewRoom"]["properties"]["name"]["pattern"],
            ROOM_NAME_PATTERN
        );
        assert_eq!(
            schemas["NewMessage"]["properties"]["content"]["pattern"],
            CONTENT_PATTERN
        );
        let send = &doc["paths"]["/api/rooms/{id}/messages"]["post"]["parameters"];
        let key = send
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "Idempotency-Key"))
            .expect("the Idempotency-Key parameter");
        assert_eq!(key["schema"]["pattern"], IDEMPOTENCY_KEY_PATTERN);
    }
}
