//! /api/rooms/{id}/messages

use crate::error::Problem;
use crate::http::body::JsonObject;
use crate::http::openapi::{DatabaseDown, RateLimited, RoomNotFound, Unauthorized};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::Principal;
use crate::chat::messages::{self, NewMessage, Page};
use crate::chat::views::{MessageJson, MessageList};
use crate::chat::App;
use crate::error::{rate_headers, AppError};

/// 201 only after the message is committed; the socket fan-out follows the commit.
/// A replay under the same `Idempotency-Key` answers the original 201, marked
/// `Idempotent-Replayed: true`.
#[utoipa::path(
    post,
    path = "/api/rooms/{id}/messages",
    tag = "messages",
    summary = "Send a message",
    params(("id" = i64, Path, description = "Room id"), ("Idempotency-Key" = Option<String>, Header, description = "1-255 printable ASCII characters; a retry with the same key and body returns the original 201")), request_body = NewMessage,
    responses(
        (status = 201, description = "Stored (or replayed: header Idempotent-Replayed: true)", body = MessageJson, headers(("RateLimit-Limit" = u32), ("RateLimit-Remaining" = u32), ("RateLimit-Reset" = u64), ("Idempotent-Replayed" = bool))),
        (status = 400, description = "Malformed JSON or Idempotency-Key (`malformed-json`, `invalid-idempotency-key`)", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        (status = 403, description = "Not a member (`not-a-member`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        (status = 413, description = "Body over 64 KiB (`payload-too-large`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json (`unsupported-media-type`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid content, or a key reused with another body (`validation-failed`, `idempotency-key-reused`)", body = Problem, content_type = "application/problem+json"),
        RateLimited,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn send(
    req: HttpRequest,
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
    body: JsonObject<NewMessage>,
) -> Result<HttpResponse, AppError> {
    let key = match req.headers().get("Idempotency-Key") {
        Some(v) => Some(v.to_str().map_err(|_| AppError::InvalidIdempotencyKey)?),
        None => None,
    };
    let rate = app.limits.send.check(&who.user_id)?;
    let sent = messages::send(&app, &who, id.into_inner(), body.into_inner(), key).await?;
    let mut res = HttpResponse::Created();
    rate_headers(&mut res, &rate);
    if sent.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(res.json(sent.message))
}

#[utoipa::path(
    get,
    path = "/api/rooms/{id}/messages",
    tag = "messages",
    summary = "Read history",
    params(("id" = i64, Path, description = "Room id"), Page),
    responses(
        (status = 200, description = "A page of messages, ascending by seq", body = MessageList),
        (status = 400, description = "A query parameter does not parse (`bad-request`)", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        (status = 403, description = "Not a member (`not-a-member`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        (status = 422, description = "limit out of 1-100 (`validation-failed`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn history(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
    page: web::Query<Page>,
) -> Result<HttpResponse, AppError> {
    let list = messages::history(&app, &who, id.into_inner(), page.into_inner()).await?;
    Ok(HttpResponse::Ok().json(MessageList { messages: list }))
}
