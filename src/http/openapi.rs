//! The OpenAPI 3.1 document, generated from the handlers' annotations and the types they use.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Header, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema};

use crate::error::{AppError, ErrorKind, Problem};

use super::{
    accounts, bots, dms, events, invites, live, me_events, members, messages, ops, room_invites,
    rooms, session, users,
};

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
        session::change_password,
        rooms::create,
        rooms::list,
        rooms::show,
        rooms::delete,
        rooms::mark_read,
        dms::open,
        members::join,
        members::leave,
        members::list,
        members::remove,
        members::add,
        room_invites::create,
        room_invites::list,
        room_invites::revoke,
        room_invites::accept,
        members::ban,
        members::unban,
        messages::send,
        messages::history,
        messages::edit,
        messages::delete,
        messages::react,
        messages::unreact,
        events::events,
        live::typing,
        live::presence,
        me_events::subscribe,
        bots::create,
        bots::list,
        bots::rotate,
        bots::revoke,
        bots::delete,
        users::list,
        users::disable,
        users::enable,
        invites::create,
        invites::list,
        invites::revoke,
        ops::healthz,
        ops::readyz,
    ),
    components(schemas(
        crate::realtime::frame::EventFrame,
        crate::realtime::frame::EphemeralFrame,
        crate::realtime::users::UserFrame,
        crate::views::MessageUpdatedJson,
        crate::views::MessageDeletedJson,
        crate::views::ReactionEventJson,
        crate::error::Problem
    )),
    modifiers(&Security, &ErrorCodes, &RateLimits)
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

/// The problem body's `type` lists every code, with its status and title, from the one table
/// in `error.rs` (attributes take only literals).
struct ErrorCodes;

impl Modify for ErrorCodes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let Some(RefOr::T(Schema::Object(problem))) = components.schemas.get_mut("Problem") else {
            return;
        };
        let Some(RefOr::T(Schema::Object(kind))) = problem.properties.get_mut("type") else {
            return;
        };
        let specs: Vec<_> = ErrorKind::all().map(ErrorKind::spec).collect();
        kind.enum_values = Some(specs.iter().map(|s| s.code.into()).collect());
        let rows: Vec<String> = specs
            .iter()
            .map(|s| format!("`{}`: {} {}", s.code, s.status.as_u16(), s.title))
            .collect();
        kind.description = Some(format!(
            "The stable error code (see the README's table): {}.",
            rows.join("; ")
        ));
    }
}

/// The operations whose handler charges a rate limit (`Limit::charge`), as `(method, path)`.
/// The contract test holds this list to the server's answers.
pub const RATE_LIMITED: [(&str, &str); 9] = [
    ("post", "/api/accounts"),
    ("post", "/api/session"),
    ("put", "/api/me/password"),
    ("post", "/api/rooms"),
    ("post", "/api/bots"),
    ("post", "/api/rooms/{id}/messages"),
    ("patch", "/api/rooms/{id}/messages/{message_id}"),
    (
        "put",
        "/api/rooms/{id}/messages/{message_id}/reactions/{emoji}",
    ),
    (
        "delete",
        "/api/rooms/{id}/messages/{message_id}/reactions/{emoji}",
    ),
];

/// Each rate-limited operation: its successes carry the `RateLimit-*` headers, and it may
/// answer 429 `rate-limited`.
struct RateLimits;

impl Modify for RateLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let headers = [
            ("RateLimit-Limit", u32::schema()),
            ("RateLimit-Remaining", u32::schema()),
            ("RateLimit-Reset", u64::schema()),
        ];
        for (method, path) in RATE_LIMITED {
            let Some(op) = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| operation(item, method))
            else {
                continue;
            };
            for (status, response) in op.responses.responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                    for (name, schema) in &headers {
                        response
                            .headers
                            .insert(name.to_string(), Header::new(schema.clone()));
                    }
                }
            }
            op.responses.responses.extend(RateLimited::responses());
        }
    }
}

fn operation<'a>(item: &'a mut PathItem, method: &str) -> Option<&'a mut Operation> {
    match method {
        "get" => item.get.as_mut(),
        "put" => item.put.as_mut(),
        "post" => item.post.as_mut(),
        "delete" => item.delete.as_mut(),
        "patch" => item.patch.as_mut(),
        _ => None,
    }
}

/// GET /api/openapi.json (built once). A document that cannot be serialized is a bug: a 500
/// with its cause, never an empty 200.
pub async fn document() -> Result<HttpResponse, AppError> {
    static JSON: OnceLock<Result<String, String>> = OnceLock::new();
    let body = JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .map_err(|e| e.to_string())
    });
    match body {
        Ok(json) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(json.as_str())),
        Err(cause) => Err(AppError::internal(format!("the OpenAPI document: {cause}"))),
    }
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

/// 503 of a send: the database is unavailable, or the writer's queue is full.
#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "Database unavailable (`database-unavailable`), or too many sends waiting \
                   for the writer (`overloaded`, nothing stored); see Retry-After",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait"))
)]
#[allow(dead_code)]
pub struct SendBusy(Problem);

/// Added to every rate-limited operation by `RateLimits`.
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
    status = 403,
    description = "Admins only (`not-admin`)",
    content_type = "application/problem+json"
)]
#[allow(dead_code)]
pub struct NotAdmin(Problem);

#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such room, or a private room you are not in (`room-not-found`): the same \
                   answer either way",
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
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

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

    /// Every code of the one table is in the README's error table under its status, and in
    /// the document: in the problem body's list of codes, and wherever a response's
    /// description names a code, that response has the code's status. Neither may name a
    /// code the table does not have.
    #[test]
    fn every_error_code_is_in_the_readme_table_and_the_document() {
        let table: BTreeMap<&str, u16> = ErrorKind::all()
            .map(|k| (k.spec().code, k.spec().status.as_u16()))
            .collect();

        let readme = readme_error_table();
        let mut problems = Vec::new();
        for (code, status) in &table {
            match readme.get(*code) {
                None => problems.push(format!("README: no row for `{code}`")),
                Some(s) if s != status => {
                    problems.push(format!("README: `{code}` is {s}, the table says {status}"))
                }
                Some(_) => {}
            }
        }
        for code in readme.keys() {
            if !table.contains_key(code.as_str()) {
                problems.push(format!("README: `{code}` is not a code of AppError"));
            }
        }

        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serializable");
        let listed: BTreeSet<&str> = doc["components"]["schemas"]["Problem"]["properties"]["type"]
            ["enum"]
            .as_array()
            .expect("Problem.type lists the codes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let all: BTreeSet<&str> = table.keys().copied().collect();
        if listed != all {
            problems.push(format!("OpenAPI: Problem.type lists {listed:?}"));
        }
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("a path item") {
                let Some(responses) = op["responses"].as_object() else {
                    continue;
                };
                for (status, response) in responses {
                    let description = response["description"].as_str().unwrap_or("");
                    for code in backticked(description) {
                        match table.get(code) {
                            Some(s) if s.to_string() == *status => {}
                            Some(s) => problems.push(format!(
                                "OpenAPI: {method} {path} names `{code}` under {status}, \
                                 the table says {s}"
                            )),
                            None => problems.push(format!(
                                "OpenAPI: {method} {path} {status} names `{code}`, not a code"
                            )),
                        }
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// Every listed operation exists (the modifier skips what it cannot find), and exactly
    /// those document the `RateLimit-*` headers and the 429 `rate-limited`.
    #[test]
    fn the_rate_limited_operations_and_only_they_document_the_limit() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serializable");
        let mut found = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("a path item") {
                let responses = op["responses"].as_object().expect("responses");
                let limited = responses.contains_key("429")
                    && responses["429"]["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("`rate-limited`"));
                let successes: Vec<_> = responses
                    .iter()
                    .filter(|(status, _)| status.starts_with('2'))
                    .collect();
                assert!(!limited || !successes.is_empty(), "{method} {path}");
                for (status, response) in successes {
                    for name in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
                        let has = response["headers"].get(name).is_some();
                        assert_eq!(has, limited, "{method} {path} {status} {name}");
                    }
                }
                if limited {
                    found.insert((method.clone(), path.clone()));
                }
            }
        }
        let listed: BTreeSet<_> = RATE_LIMITED
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(found, listed);
    }

    /// `code -> status` of the README's error table (the `### Errors` section).
    fn readme_error_table() -> BTreeMap<String, u16> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let section = readme
            .split("\n### ")
            .find(|s| s.starts_with("Errors\n"))
            .expect("a ### Errors section");
        let mut table = BTreeMap::new();
        for line in section.lines() {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
            let [status, code, _] = cells[..] else {
                continue;
            };
            let (Ok(status), Some(code)) = (status.trim().parse(), backticked(code).next()) else {
                continue;
            };
            assert!(
                table.insert(code.to_string(), status).is_none(),
                "README: {code} twice"
            );
        }
        table
    }

    /// The `code`s between backticks in `text`.
    fn backticked(text: &str) -> impl Iterator<Item = &str> {
        text.split('`').skip(1).step_by(2)
    }
}
