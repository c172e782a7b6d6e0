//! GET /api/me/events: the caller's summary stream (WebSocket), for the rooms a page is not
//! showing. Checked like a room socket before the upgrade (Origin, socket caps).

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::App;
use crate::auth::origin::check_same_origin;
use crate::auth::Principal;
use crate::chat::rooms;
use crate::error::{AppError, Problem};
use crate::http::client_ip;
use crate::http::openapi::{DatabaseDown, Unauthorized};
use crate::realtime::slots::Full;
use crate::realtime::socket::SocketSettings;
use crate::realtime::user_socket::UserSocket;
use crate::realtime::users::UserFrame;

#[utoipa::path(
    get,
    path = "/api/me/events",
    tag = "events",
    summary = "Receive summaries of your rooms (WebSocket)",
    params(
        ("Upgrade" = String, Header, pattern = "^websocket$", description = "websocket"),
        ("Connection" = String, Header, pattern = "^Upgrade$", description = "Upgrade"),
        ("Sec-WebSocket-Version" = String, Header, pattern = "^13$", description = "13"),
        ("Sec-WebSocket-Key" = String, Header, pattern = "^[A-Za-z0-9+/]{21}[AQgw]==$", description = "16 random bytes, base64")
    ),
    responses(
        (status = 101, description = "WebSocket: text frames, each one UserFrame (no message bodies); close codes as the room socket's", body = UserFrame),
        (status = 400, description = "Not a WebSocket upgrade (`bad-request`)", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        (status = 403, description = "A foreign Origin (`origin-not-allowed`)", body = Problem, content_type = "application/problem+json"),
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
) -> Result<HttpResponse, AppError> {
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
    // Registered before the rooms are read: a join committed in between is heard, not lost.
    let registration = app
        .hub
        .register_user_stream(who.user_id, who.session_id.clone());
    let frames = app.users.open(who.user_id);
    let joined = rooms::list(&app, &who)
        .await?
        .into_iter()
        .filter(|r| r.joined)
        .map(|r| r.id);
    app.users.follow_all(who.user_id, joined);
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| AppError::BadRequest(format!("WebSocket upgrade required: {e}")))?;
    let cfg = &app.config;
    let socket = UserSocket {
        session,
        stream,
        frames,
        registration,
        slot,
        settings: SocketSettings {
            heartbeat: Duration::from_secs(cfg.ws_heartbeat_secs),
            timeout: Duration::from_secs(cfg.ws_timeout_secs),
            write_timeout: Duration::from_secs(cfg.ws_write_timeout_secs),
        },
    };
    actix_web::rt::spawn(socket.run());
    Ok(response)
}
