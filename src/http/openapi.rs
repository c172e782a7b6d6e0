//! The OpenAPI 3.1 document, generated from the handlers' annotations and the types they use.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
