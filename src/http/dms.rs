//! /api/dms: direct messages.

use actix_web::{web, HttpResponse};

use crate::app::App;
use crate::auth::Principal;
use crate::chat::dms::{self, NewDm};
use crate::error::{AppError, Problem};
use crate::http::body::JsonObject;
use crate::http::openapi::{BadBody, DatabaseDown, Unauthorized};
use crate::views::RoomJson;

/// 201 when the DM is created now, 200 when it existed (from either side).
#[utoipa::path(
    post,
    path = "/api/dms",
    tag = "rooms",
    summary = "Open a direct message with someone",
    request_body = NewDm,
    responses(
        (status = 201, description = "Created: a private room of two (kind dm, capacity 2), both seated; peer is the other member", body = RoomJson),
        (status = 200, description = "The pair's existing DM", body = RoomJson),
        Unauthorized,
        (status = 403, description = "Bots do not open DMs (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live user (`user-not-found`)", body = Problem, content_type = "application/problem+json"),
        BadBody,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn open(
    app: web::Data<App>,
    who: Principal,
    body: JsonObject<NewDm>,
) -> Result<HttpResponse, AppError> {
    Ok(match dms::open(&app, &who, body.into_inner()).await? {
        (true, room) => HttpResponse::Created().json(room),
        (false, room) => HttpResponse::Ok().json(room),
    })
}
