//! Ephemeral room signals over HTTP: typing and presence.

use actix_web::{web, HttpResponse};

use crate::app::App;
use crate::auth::Principal;
use crate::chat::live;
use crate::error::{AppError, Problem};
use crate::http::openapi::{DatabaseDown, RoomNotFound, Unauthorized};
use crate::ids::RoomId;
use crate::views::PresenceList;

/// The members with a socket open on the room now, on any instance (a member whose last
/// socket closed stays listed for about 2 s, so a reconnect does not flap).
#[utoipa::path(
    get,
    path = "/api/rooms/{id}/presence",
    tag = "events",
    summary = "Who is online in a room",
    params(("id" = i64, Path, description = "Room id")),
    responses(
        (status = 200, description = "Members online, by id", body = PresenceList),
        Unauthorized,
        (status = 403, description = "Not a member (`not-a-member`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn presence(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, AppError> {
    let members = live::presence(&app, &who, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(PresenceList { members }))
}

/// Sends `{"type":"typing","room_id","data":{"user"}}` (an EphemeralFrame: no seq, never
/// stored or replayed) to the room's sockets, except the caller's own. At most one per 3 s
/// per user and room; calls in between are 204 no-ops. Clients show it for about 5 s.
#[utoipa::path(
    post,
    path = "/api/rooms/{id}/typing",
    tag = "events",
    summary = "Say the caller is typing (ephemeral)",
    params(("id" = i64, Path, description = "Room id")),
    responses(
        (status = 204, description = "Sent, or a no-op within 3 s of the last one (never 429)"),
        Unauthorized,
        (status = 403, description = "Not a member, or a foreign Origin (`not-a-member`, `origin-not-allowed`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn typing(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, AppError> {
    live::typing(&app, &who, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
