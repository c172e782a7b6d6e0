//! /api/rooms/{id}/members…

use crate::error::Problem;
use crate::http::openapi::{DatabaseDown, RoomNotFound, Unauthorized};
use actix_web::{web, HttpResponse};

use crate::app::App;
use crate::auth::Principal;
use crate::chat::membership::{self, Joined};
use crate::chat::room_invites;
use crate::error::AppError;
use crate::ids::{RoomId, UserId};
use crate::telemetry::SECURITY;
use crate::views::{MemberList, RoomJson};

/// 201 when the caller takes a seat now, 200 when they already had one.
#[utoipa::path(
    put,
    path = "/api/rooms/{id}/members/me",
    tag = "members",
    summary = "Join a room",
    params(("id" = i64, Path, description = "Room id")),
    responses(
        (status = 201, description = "Joined now", body = RoomJson),
        (status = 200, description = "Already a member; nothing changed", body = RoomJson),
        Unauthorized,
        RoomNotFound,
        (status = 403, description = "Banned from the room (`banned`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The room is full (`room-full`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn join(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, AppError> {
    Ok(match membership::join(&app, &who, id.into_inner()).await? {
        Joined::Now(room) => HttpResponse::Created().json(room),
        Joined::Already(room) => HttpResponse::Ok().json(room),
    })
}

/// 204 whether or not the caller was a member (a retry is harmless).
#[utoipa::path(
    delete,
    path = "/api/rooms/{id}/members/me",
    tag = "members",
    summary = "Leave a room",
    params(("id" = i64, Path, description = "Room id")),
    responses(
        (status = 204, description = "Left (or was not a member); sockets close with 4003"),
        Unauthorized,
        RoomNotFound,
        (status = 409, description = "The owner cannot leave (`owner-cannot-leave`), nor anyone a DM (`direct-message`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn leave(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, AppError> {
    membership::remove(&app, &who, id.into_inner(), who.user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/rooms/{id}/members/{user}",
    tag = "members",
    summary = "Remove a member (owner or admin)",
    params(("id" = i64, Path, description = "Room id"), ("user" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed (or was not a member); their sockets close with 4003"),
        Unauthorized,
        (status = 403, description = "Neither the owner nor an admin (`not-owner`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        (status = 409, description = "The owner cannot be removed (`owner-cannot-leave`), nor anyone from a DM (`direct-message`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn remove(
    app: web::Data<App>,
    who: Principal,
    path: web::Path<(RoomId, UserId)>,
) -> Result<HttpResponse, AppError> {
    let (room, user) = path.into_inner();
    membership::remove(&app, &who, room, user).await?;
    tracing::info!(target: SECURITY, event = "member.removed", user = who.user_id.0, room = room.0, member = user.0, "member removed");
    Ok(HttpResponse::NoContent().finish())
}

/// 201 when the user takes a seat now, 200 when they already had one.
#[utoipa::path(
    put,
    path = "/api/rooms/{id}/members/{user}",
    tag = "members",
    summary = "Add a member (owner or admin)",
    params(("id" = i64, Path, description = "Room id"), ("user" = i64, Path, description = "User id")),
    responses(
        (status = 201, description = "Added now (a member.joined event); the room as you see it", body = RoomJson),
        (status = 200, description = "Already a member; nothing changed", body = RoomJson),
        Unauthorized,
        (status = 403, description = "Neither the owner nor an admin (`not-owner`), or the user is banned from the room (`banned`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such room, or a private room you are not in (`room-not-found`), or no such live user (`user-not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The room is full (`room-full`), or a DM (`direct-message`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn add(
    app: web::Data<App>,
    who: Principal,
    path: web::Path<(RoomId, UserId)>,
) -> Result<HttpResponse, AppError> {
    let (room, user) = path.into_inner();
    Ok(
        match room_invites::add_member(&app, &who, room, user).await? {
            Joined::Now(json) => {
                tracing::info!(target: SECURITY, event = "member.added", user = who.user_id.0, room = room.0, member = user.0, "member added");
                HttpResponse::Created().json(json)
            }
            Joined::Already(json) => HttpResponse::Ok().json(json),
        },
    )
}

#[utoipa::path(
    put,
    path = "/api/rooms/{id}/bans/{user}",
    tag = "members",
    summary = "Ban a user from a room (owner or admin)",
    params(("id" = i64, Path, description = "Room id"), ("user" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Banned (again): removed if a member (a member.left event; their sockets close with 4003); their joins are refused with 403"),
        Unauthorized,
        (status = 403, description = "Neither the owner nor an admin (`not-owner`), or banning the owner (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such room (`room-not-found`) or user (`user-not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A DM: its members are fixed (`direct-message`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn ban(
    app: web::Data<App>,
    who: Principal,
    path: web::Path<(RoomId, UserId)>,
) -> Result<HttpResponse, AppError> {
    let (room, user) = path.into_inner();
    membership::ban(&app, &who, room, user).await?;
    tracing::info!(target: SECURITY, event = "member.banned", user = who.user_id.0, room = room.0, member = user.0, "member banned");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/rooms/{id}/bans/{user}",
    tag = "members",
    summary = "Lift a ban (owner or admin)",
    params(("id" = i64, Path, description = "Room id"), ("user" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Not banned (any more): they may join again"),
        Unauthorized,
        (status = 403, description = "Neither the owner nor an admin (`not-owner`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn unban(
    app: web::Data<App>,
    who: Principal,
    path: web::Path<(RoomId, UserId)>,
) -> Result<HttpResponse, AppError> {
    let (room, user) = path.into_inner();
    membership::unban(&app, &who, room, user).await?;
    tracing::info!(target: SECURITY, event = "member.unbanned", user = who.user_id.0, room = room.0, member = user.0, "ban lifted");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/api/rooms/{id}/members",
    tag = "members",
    summary = "List members",
    params(("id" = i64, Path, description = "Room id")),
    responses(
        (status = 200, description = "Members in join order", body = MemberList),
        Unauthorized,
        RoomNotFound,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn list(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, AppError> {
    let members = membership::list(&app, &who, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(MemberList { members }))
}
