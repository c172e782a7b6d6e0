//! GET /api/rooms/{id}/events: the receive-only WebSocket. Everything is checked before the
//! upgrade, so a refusal is a plain HTTP problem response.

use crate::error::Problem;
use crate::http::openapi::{DatabaseDown, RoomNotFound, Unauthorized};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::app::App;
use crate::auth::origin::check_same_origin;
use crate::auth::Principal;
use crate::chat::messages;
use crate::error::AppError;
use crate::http::client_ip;
use crate::ids::{RoomId, Seq};
use crate::realtime::frame::EventFrame;
use crate::realtime::slots::Full;
use crate::realtime::socket::{Socket, SocketSettings};

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
    params(
        ("id" = i64, Path, description = "Room id"),
        Resume,
        // The handshake (RFC 6455): without it the answer is 400.
        ("Upgrade" = String, Header, pattern = "^websocket$", description = "websocket"),
        ("Connection" = String, Header, pattern = "^Upgrade$", description = "Upgrade"),
        ("Sec-WebSocket-Version" = String, Header, pattern = "^13$", description = "13"),
        ("Sec-WebSocket-Key" = String, Header, pattern = "^[A-Za-z0-9+/]{21}[AQgw]==$", description = "16 random bytes, base64")
    ),
    responses(
        (status = 101, description = "WebSocket: text frames, each one EventFrame; close codes in the README", body = EventFrame),
        (status = 400, description = "Not a WebSocket upgrade (`bad-request`)", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        (status = 403, description = "Not a member, or a foreign Origin (`not-a-member`, `origin-not-allowed`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        (status = 429, description = "Too many open sockets for this user or client IP (`too-many-sockets`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn subscribe(
    req: HttpRequest,
    body: web::Payload,
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
    resume: web::Query<Resume>,
) -> Result<HttpResponse, AppError> {
    // Browsers always send Origin on a WebSocket; a page from elsewhere must not ride the
    // user's cookie (nor a token it holds). No Origin at all is a bot or a script.
    check_same_origin(req.headers(), &app.config)?;
    let slot = app
        .slots
        .take(who.user_id, client_ip(&req))
        .map_err(|full| {
            AppError::TooManySockets(match full {
                Full::User => "user",
                Full::Ip => "client address",
            })
        })?;
    let room = id.into_inner();
    // Subscribe before checking membership and reading the start point: a leave that commits
    // after the check finds this socket registered and closes it, and no event is missed.
    let sub = app.hub.subscribe(room, who.user_id, who.session_id.clone());
    // With many instances, also wait until the bus carries the room's events here: what is
    // committed elsewhere after the start point is read then reaches this socket.
    sub.watched().await;
    let last = messages::stream_start(&app, &who, room, resume.after.map(Seq)).await?;
    if resume.after.is_none() {
        // Read from the store (never a client's number): where the room's stream stands.
        app.hub.seed(room, last);
    }
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| AppError::BadRequest(format!("WebSocket upgrade required: {e}")))?;
    let cfg = &app.config;
    let socket = Socket {
        db: app.db.clone(),
        session,
        stream,
        sub,
        slot,
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
