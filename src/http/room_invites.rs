//! /api/rooms/{id}/invites… (the room's owner, or an admin) and /api/room-invites/accept.

use actix_web::{web, HttpResponse};

use crate::app::App;
use crate::auth::Principal;
use crate::chat::membership::Joined;
use crate::chat::room_invites::{self, AcceptInvite, NewRoomInvite};
use crate::error::{AppError, Problem};
use crate::http::body::JsonObject;
use crate::http::openapi::{BadBody, DatabaseDown, Unauthorized};
use crate::ids::RoomId;
use crate::telemetry::SECURITY;
use crate::views::{NewRoomInviteJson, RoomInviteList, RoomJson};

#[utoipa::path(
    post,
    path = "/api/rooms/{id}/invites",
    tag = "members",
    summary = "Create an invite to a room (owner or admin)",
    params(("id" = i64, Path, description = "Room id")),
    request_body = NewRoomInvite,
    responses(
        (status = 201, description = "Created; the code is shown this once", body = NewRoomInviteJson),
        Unauthorized,
        (status = 403, description = "Neither the owner nor an admin (`not-owner`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such room, or a private room you are not in (`room-not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A DM: its members are fixed (`direct-message`)", body = Problem, content_type = "application/problem+json"),
        BadBody,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn create(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
    body: JsonObject<NewRoomInvite>,
) -> Result<HttpResponse, AppError> {
    let room = id.into_inner();
    let made = room_invites::create(&app, &who, room, body.into_inner()).await?;
    tracing::info!(target: SECURITY, event = "room_invite.created", user = who.user_id.0, room = room.0, invite = made.invite.id, uses = made.invite.uses_left, "room invite created");
    Ok(HttpResponse::Created().json(made))
}

#[utoipa::path(
    get,
    path = "/api/rooms/{id}/invites",
    tag = "members",
    summary = "List a room's invites (owner or admin)",
    params(("id" = i64, Path, description = "Room id")),
    responses(
        (status = 200, description = "The room's invites, newest first, without codes", body = RoomInviteList),
        Unauthorized,
        (status = 403, description = "Neither the owner nor an admin (`not-owner`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such room, or a private room you are not in (`room-not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A DM: its members are fixed (`direct-message`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn list(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, AppError> {
    let invites = room_invites::list(&app, &who, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(RoomInviteList { invites }))
}

#[utoipa::path(
    delete,
    path = "/api/rooms/{id}/invites/{invite_id}",
    tag = "members",
    summary = "Revoke an invite to a room (owner or admin)",
    params(
        ("id" = i64, Path, description = "Room id"),
        ("invite_id" = i64, Path, description = "Invite id")
    ),
    responses(
        (status = 204, description = "Revoked: its code no longer admits anyone"),
        Unauthorized,
        (status = 403, description = "Neither the owner nor an admin (`not-owner`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such room, or a private room you are not in (`room-not-found`), or no such invite to this room (`invite-not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A DM: its members are fixed (`direct-message`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn revoke(
    app: web::Data<App>,
    who: Principal,
    path: web::Path<(RoomId, i64)>,
) -> Result<HttpResponse, AppError> {
    let (room, invite) = path.into_inner();
    room_invites::revoke(&app, &who, room, invite).await?;
    tracing::info!(target: SECURITY, event = "room_invite.revoked", user = who.user_id.0, room = room.0, invite, "room invite revoked");
    Ok(HttpResponse::NoContent().finish())
}

/// 201 when the caller takes a seat now, 200 when they already had one.
#[utoipa::path(
    post,
    path = "/api/room-invites/accept",
    tag = "members",
    summary = "Accept an invite to a room",
    request_body = AcceptInvite,
    responses(
        (status = 201, description = "Joined now (one use taken)", body = RoomJson),
        (status = 200, description = "Already a member; nothing changed, no use taken", body = RoomJson),
        Unauthorized,
        (status = 403, description = "The code is unknown, expired, used up or revoked (`invite-invalid`), or you are banned from the room (`banned`; no use taken)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The room is full (`room-full`; no use taken)", body = Problem, content_type = "application/problem+json"),
        BadBody,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn accept(
    app: web::Data<App>,
    who: Principal,
    body: JsonObject<AcceptInvite>,
) -> Result<HttpResponse, AppError> {
    Ok(
        match room_invites::accept(&app, &who, body.into_inner()).await? {
            Joined::Now(room) => {
                tracing::info!(target: SECURITY, event = "room_invite.accepted", user = who.user_id.0, room = room.id.0, "room invite accepted");
                HttpResponse::Created().json(room)
            }
            Joined::Already(room) => HttpResponse::Ok().json(room),
        },
    )
}
