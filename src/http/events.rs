//! GET /api/rooms/{id}/events: the receive-only WebSocket. Everything is checked before the
//! upgrade, so a refusal is a plain HTTP problem response.

use crate::error::Problem;
use crate::http::openapi::{DatabaseDown, RoomNotFound, Unauthorized};
use std::time::Duration;

use actix_web::http::header::{HOST, ORIGIN};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::Principal;
use crate::chat::messages::ensure_member;
use crate::chat::App;
use crate::config::Config;
use crate::error::AppError;
use crate::realtime::frame::EventFrame;
use crate::realtime::socket::{Socket, SocketSettings};
use crate::store::rooms;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Resume {
    /// The last seq the client has; omitted, the socket starts from now.
    pub after: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/rooms/{id}/events",
    tag = "events",
    summary = "Receive a room's events (WebSocket)",
    params(("id" = i64, Path, description = "Room id"), Resume),
    responses(
        (status = 101, description = "WebSocket: text frames, each one EventFrame; close codes in the README", body = EventFrame),
        (status = 400, description = "Not a WebSocket upgrade (`bad-request`)", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        (status = 403, description = "Not a member, or a foreign Origin (`not-a-member`, `origin-not-allowed`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn subscribe(
    req: HttpRequest,
    body: web::Payload,
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
    resume: web::Query<Resume>,
) -> Result<HttpResponse, AppError> {
    check_origin(&req, &app.config)?;
    let room = id.into_inner();
    // Subscribe before checking membership and reading the start point: a leave that commits
    // after the check finds this socket registered and closes it, and no event is missed.
    let sub = app.hub.subscribe(room, who.user_id, who.session_id.clone());
    ensure_member(&app, &who, room).await?;
    let last = match resume.after {
        Some(after) => after.max(0),
        None => rooms::last_seq(&app.db, room)
            .await?
            .ok_or(AppError::RoomNotFound)?,
    };
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| AppError::BadRequest(format!("WebSocket upgrade required: {e}")))?;
    let cfg = &app.config;
    let socket = Socket {
        db: app.db.clone(),
        session,
        stream,
        sub,
        room_id: room,
        last,
        settings: SocketSettings {
            heartbeat: Duration::from_secs(cfg.ws_heartbeat_secs),
            timeout: Duration::from_secs(cfg.ws_timeout_secs),
            write_timeout: Duration::from_secs(cfg.ws_write_timeout_secs),
        },
    };
    actix_web::rt::spawn(socket.run());
    Ok(response)
}

/// Browsers always send Origin on a WebSocket; a page from elsewhere must not ride the user's
/// cookie. Allowed: the configured origins, and the server's own (Origin host == Host).
/// No Origin at all is a non-browser client (bot, script), which a cookie alone authorizes.
fn check_origin(req: &HttpRequest, config: &Config) -> Result<(), AppError> {
    let Some(origin) = req.headers().get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    if config.allowed_origins.iter().any(|o| o == origin) {
        return Ok(());
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    if !host.is_empty() && origin_host == Some(host) {
        return Ok(());
    }
    Err(AppError::OriginNotAllowed(origin.to_string()))
}
