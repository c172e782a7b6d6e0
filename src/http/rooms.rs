//! /api/rooms and /api/rooms/{id}

use crate::error::Problem;
use crate::http::body::JsonObject;
use crate::http::openapi::{BadBody, DatabaseDown, RoomNotFound, Unauthorized};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::App;
use crate::auth::Principal;
use crate::chat::reads::{self, ReadJson, ReadMarker};
use crate::chat::rooms::{self, NewRoom};
use crate::error::AppError;
use crate::http::rate_limit::{Limits, Tell};
use crate::ids::RoomId;
use crate::telemetry::SECURITY;
use crate::views::{RoomJson, RoomList};

#[utoipa::path(
    post,
    path = "/api/rooms",
    tag = "rooms",
    summary = "Create a room",
    request_body = NewRoom,
    responses(
        (status = 201, description = "Created; the caller is owner and first member", body = RoomJson),
        Unauthorized,
        BadBody,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn create(
    req: HttpRequest,
    app: web::Data<App>,
    limits: web::Data<Limits>,
    who: Principal,
    body: JsonObject<NewRoom>,
) -> Result<HttpResponse, AppError> {
    limits
        .create_room
        .charge(&req, &who.user_id, Tell::Successes)
        .await?;
    let room = rooms::create(&app, &who, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(room))
}

#[utoipa::path(
    get,
    path = "/api/rooms",
    tag = "rooms",
    summary = "List rooms",
    responses(
        (status = 200, description = "All rooms", body = RoomList),
        Unauthorized,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn list(app: web::Data<App>, who: Principal) -> Result<HttpResponse, AppError> {
    let rooms = rooms::list(&app, &who).await?;
    Ok(HttpResponse::Ok().json(RoomList { rooms }))
}

#[utoipa::path(
    get,
    path = "/api/rooms/{id}",
    tag = "rooms",
    summary = "Show a room",
    params(("id" = i64, Path, description = "Room id")),
    responses(
        (status = 200, description = "The room", body = RoomJson),
        Unauthorized,
        RoomNotFound,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn show(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(rooms::show(&app, &who, id.into_inner()).await?))
}

#[utoipa::path(
    delete,
    path = "/api/rooms/{id}",
    tag = "rooms",
    summary = "Delete a room (owner or admin)",
    params(("id" = i64, Path, description = "Room id")),
    responses(
        (status = 204, description = "Deleted; sockets get room.deleted and close with 4004"),
        Unauthorized,
        (status = 403, description = "Neither the owner nor an admin (`not-owner`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn delete(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, AppError> {
    let room = id.into_inner();
    rooms::delete(&app, &who, room).await?;
    tracing::info!(target: SECURITY, event = "room.deleted", user = who.user_id.0, room = room.0, "room deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Moves the caller's read marker forward; the answer is the marker and unread count after.
#[utoipa::path(
    put,
    path = "/api/rooms/{id}/read",
    tag = "rooms",
    summary = "Mark a room read up to a seq",
    params(("id" = i64, Path, description = "Room id")),
    request_body = ReadMarker,
    responses(
        (status = 200, description = "The marker after (a smaller seq changes nothing; one past the room's last seq is clamped to it)", body = ReadJson),
        Unauthorized,
        (status = 403, description = "Not a member (`not-a-member`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        BadBody,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn mark_read(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
    body: JsonObject<ReadMarker>,
) -> Result<HttpResponse, AppError> {
    let read = reads::mark(&app, &who, id.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(read))
}
