//! /api/rooms/{id}/messages

use crate::error::Problem;
use crate::http::body::JsonObject;
use crate::http::openapi::{DatabaseDown, RoomNotFound, SendBusy, Unauthorized};
use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::App;
use crate::auth::Principal;
use crate::chat::message_changes;
use crate::chat::messages::{self, NewMessage, Page};
use crate::chat::reactions;
use crate::error::AppError;
use crate::http::rate_limit::{Limits, Tell};
use crate::ids::RoomId;
use crate::views::{MessageJson, MessageList};

/// 201 only after the message is committed; the socket fan-out follows the commit.
/// A replay under the same `Idempotency-Key` answers the original 201, marked
/// `Idempotent-Replayed: true`.
#[utoipa::path(
    post,
    path = "/api/rooms/{id}/messages",
    tag = "messages",
    summary = "Send a message",
    params(("id" = i64, Path, description = "Room id"), ("Idempotency-Key" = Option<String>, Header, description = "1-255 printable ASCII characters; a retry with the same key and body returns the original 201", min_length = 1, max_length = 255, pattern = r"^[\x20-\x7E]{1,255}$")), request_body = NewMessage,
    responses(
        (status = 201, description = "Stored (or replayed: header Idempotent-Replayed: true)", body = MessageJson, headers(("Idempotent-Replayed" = bool))),
        (status = 400, description = "Malformed JSON or Idempotency-Key (`malformed-json`, `invalid-idempotency-key`)", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        (status = 403, description = "Not a member (`not-a-member`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        (status = 413, description = "Body over 64 KiB (`payload-too-large`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json (`unsupported-media-type`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid content, or a key reused with another body (`validation-failed`, `idempotency-key-reused`)", body = Problem, content_type = "application/problem+json"),
        SendBusy
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn send(
    req: HttpRequest,
    app: web::Data<App>,
    limits: web::Data<Limits>,
    who: Principal,
    id: web::Path<RoomId>,
    body: JsonObject<NewMessage>,
) -> Result<HttpResponse, AppError> {
    let key = idempotency_key(req.headers())?;
    limits
        .send
        .charge(&req, &who.user_id, Tell::Successes)
        .await?;
    let sent = messages::send(&app, &who, id.into_inner(), body.into_inner(), key).await?;
    let mut res = HttpResponse::Created();
    if sent.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(res.json(sent.message))
}

/// The `Idempotency-Key` header, if present and well-formed (checked before the send is
/// charged to the rate limit). A value that is not text at all is refused like any bad key.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, AppError> {
    let Some(value) = headers.get("Idempotency-Key") else {
        return Ok(None);
    };
    #[allow(
        clippy::map_err_ignore,
        reason = "ToStrError holds no detail (a byte outside visible ASCII); the code says it all"
    )]
    let key = value
        .to_str()
        .map_err(|_| AppError::InvalidIdempotencyKey)?;
    messages::check_idempotency_key(key)?;
    Ok(Some(key))
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
    id: web::Path<RoomId>,
    page: web::Query<Page>,
) -> Result<HttpResponse, AppError> {
    let list = messages::history(&app, &who, id.into_inner(), page.into_inner()).await?;
    Ok(HttpResponse::Ok().json(MessageList { messages: list }))
}

/// 200 only after the edit is committed; `message.updated` follows the commit. A replay under
/// the same `Idempotency-Key` answers the message as it is now, marked
/// `Idempotent-Replayed: true`.
#[utoipa::path(
    patch,
    path = "/api/rooms/{id}/messages/{message_id}",
    tag = "messages",
    summary = "Edit a message (its author only)",
    params(("id" = i64, Path, description = "Room id"), ("message_id" = i64, Path, description = "The message's id"), ("Idempotency-Key" = Option<String>, Header, description = "1-255 printable ASCII characters; a retry with the same key and body answers 200 again and changes nothing", min_length = 1, max_length = 255, pattern = r"^[\x20-\x7E]{1,255}$")), request_body = NewMessage,
    responses(
        (status = 200, description = "Edited (or replayed: header Idempotent-Replayed: true); the message with its new content and edited_at", body = MessageJson, headers(("Idempotent-Replayed" = bool))),
        (status = 400, description = "Malformed JSON or Idempotency-Key (`malformed-json`, `invalid-idempotency-key`)", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        (status = 403, description = "Not a member, or not the author (`not-a-member`, `not-author`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such room, or no such message in it (`room-not-found`, `message-not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message was deleted (`message-deleted`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB (`payload-too-large`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json (`unsupported-media-type`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid content, or a key reused with another request (`validation-failed`, `idempotency-key-reused`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn edit(
    req: HttpRequest,
    app: web::Data<App>,
    limits: web::Data<Limits>,
    who: Principal,
    ids: web::Path<(RoomId, i64)>,
    body: JsonObject<NewMessage>,
) -> Result<HttpResponse, AppError> {
    let key = idempotency_key(req.headers())?;
    // An edit reaches every socket of the room like a send: it spends the same allowance.
    limits
        .send
        .charge(&req, &who.user_id, Tell::Successes)
        .await?;
    let (room, message) = ids.into_inner();
    let edited = message_changes::edit(&app, &who, room, message, body.into_inner(), key).await?;
    let mut res = HttpResponse::Ok();
    if edited.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(res.json(edited.message))
}

#[utoipa::path(
    delete,
    path = "/api/rooms/{id}/messages/{message_id}",
    tag = "messages",
    summary = "Delete a message (its author or the room's owner)",
    params(("id" = i64, Path, description = "Room id"), ("message_id" = i64, Path, description = "The message's id")),
    responses(
        (status = 204, description = "Deleted (or deleted already): its content is erased; history keeps a tombstone; sockets get message.deleted"),
        Unauthorized,
        (status = 403, description = "Not a member, or neither the author nor the room's owner (`not-a-member`, `not-author`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such room, or no such message in it (`room-not-found`, `message-not-found`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn delete(
    app: web::Data<App>,
    who: Principal,
    ids: web::Path<(RoomId, i64)>,
) -> Result<HttpResponse, AppError> {
    let (room, message) = ids.into_inner();
    message_changes::delete(&app, &who, room, message).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    put,
    path = "/api/rooms/{id}/messages/{message_id}/reactions/{emoji}",
    tag = "messages",
    summary = "React to a message",
    params(("id" = i64, Path, description = "Room id"), ("message_id" = i64, Path, description = "The message's id"), ("emoji" = String, Path, description = "One emoji (one grapheme of Unicode's emoji list), percent-encoded", min_length = 1, max_length = 64)),
    responses(
        (status = 204, description = "The caller's reaction is there (added now: reaction.added; or already: nothing sent)"),
        Unauthorized,
        (status = 403, description = "Not a member (`not-a-member`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such room, or no such message in it (`room-not-found`, `message-not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message was deleted, or has 20 distinct emoji and this is another (`message-deleted`, `too-many-reactions`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not one emoji (`validation-failed`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn react(
    req: HttpRequest,
    app: web::Data<App>,
    limits: web::Data<Limits>,
    who: Principal,
    ids: web::Path<(RoomId, i64, String)>,
) -> Result<HttpResponse, AppError> {
    // A reaction reaches every socket of the room like a send: it spends the same allowance.
    limits
        .send
        .charge(&req, &who.user_id, Tell::Successes)
        .await?;
    let (room, message, emoji) = ids.into_inner();
    reactions::set(&app, &who, room, message, &emoji, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/rooms/{id}/messages/{message_id}/reactions/{emoji}",
    tag = "messages",
    summary = "Take a reaction back",
    params(("id" = i64, Path, description = "Room id"), ("message_id" = i64, Path, description = "The message's id"), ("emoji" = String, Path, description = "One emoji (one grapheme of Unicode's emoji list), percent-encoded", min_length = 1, max_length = 64)),
    responses(
        (status = 204, description = "The caller's reaction is not there (taken back now: reaction.removed; or never there: nothing sent)"),
        Unauthorized,
        (status = 403, description = "Not a member (`not-a-member`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such room, or no such message in it (`room-not-found`, `message-not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message was deleted (`message-deleted`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not one emoji (`validation-failed`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn unreact(
    req: HttpRequest,
    app: web::Data<App>,
    limits: web::Data<Limits>,
    who: Principal,
    ids: web::Path<(RoomId, i64, String)>,
) -> Result<HttpResponse, AppError> {
    // A reaction reaches every socket of the room like a send: it spends the same allowance.
    limits
        .send
        .charge(&req, &who.user_id, Tell::Successes)
        .await?;
    let (room, message, emoji) = ids.into_inner();
    reactions::set(&app, &who, room, message, &emoji, false).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    fn with_key(bytes: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("idempotency-key"),
            HeaderValue::from_bytes(bytes).expect("a valid header value"),
        );
        headers
    }

    proptest! {
        /// Any header value the wire can carry: accepted exactly when it is 1-255 bytes of
        /// space or visible ASCII, and then passed on unchanged.
        #[test]
        fn header_values_accepted_exactly_when_printable_ascii(
            bytes in proptest::collection::vec(
                any::<u8>().prop_filter("header byte", |&b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
                0..300,
            ),
        ) {
            let headers = with_key(&bytes);
            let printable = (1..=255).contains(&bytes.len()) && bytes.iter().all(|&b| (0x20..0x7f).contains(&b));
            match idempotency_key(&headers) {
                Ok(Some(key)) => prop_assert!(printable && key.as_bytes() == bytes.as_slice()),
                Ok(None) => prop_assert!(false, "a present header read as absent"),
                Err(e) => prop_assert!(!printable && matches!(e, AppError::InvalidIdempotencyKey)),
            }
        }
    }

    #[test]
    fn no_header_is_no_key() {
        assert!(matches!(idempotency_key(&HeaderMap::new()), Ok(None)));
    }
}
