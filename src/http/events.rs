//! GET /api/rooms/{id}/events: with `Upgrade`, the receive-only WebSocket; without, the same
//! events as a JSON page (docs/design-notes.md, "The whole history"). Everything is checked
//! before the upgrade, so a refusal is a plain HTTP problem response.

use crate::error::Problem;
use crate::http::openapi::{DatabaseDown, RoomNotFound, Unauthorized};
use std::time::Duration;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::App;
use crate::auth::origin::check_same_origin;
use crate::auth::Principal;
use crate::bus::Present;
use crate::chat::messages;
use crate::chat::messages::EventsPage;
use crate::error::AppError;
use crate::http::client_ip;
use crate::ids::{RoomId, Seq};
use crate::realtime::frame::{event_list_json, EventFrame, EventList};
use crate::realtime::slots::Full;
use crate::realtime::socket::{Socket, SocketSettings};

/// The caller as presence shows them.
pub fn present(who: &Principal) -> Present {
    Present {
        id: who.user_id,
        username: who.username.clone(),
        bot: who.is_bot,
    }
}

#[utoipa::path(
    get,
    path = "/api/rooms/{id}/events",
    tag = "events",
    summary = "Receive a room's events (WebSocket), or list them (JSON)",
    description = "With an `Upgrade` header: the WebSocket handshake (all four handshake headers \
        together, else 400), and `after` alone is read (resume after that seq). Without one: a page of the room's stored events, each exactly \
        the frame a socket sends, ascending by seq; `after` gives the oldest page after it, \
        `before` the page before it, neither the newest page.",
    params(
        ("id" = i64, Path, description = "Room id"),
        EventsPage,
        // The handshake (RFC 6455): with Upgrade but without the rest the answer is 400.
        ("Upgrade" = Option<String>, Header, pattern = "^websocket$", description = "websocket: open the socket; absent: list the events"),
        ("Connection" = Option<String>, Header, pattern = "^Upgrade$", description = "Upgrade"),
        ("Sec-WebSocket-Version" = Option<String>, Header, pattern = "^13$", description = "13"),
        ("Sec-WebSocket-Key" = Option<String>, Header, pattern = "^[A-Za-z0-9+/]{21}[AQgw]==$", description = "16 random bytes, base64")
    ),
    responses(
        (status = 101, description = "WebSocket: text frames, each one EventFrame; close codes in the README", body = EventFrame),
        (status = 200, description = "No Upgrade header: a page of the room's events, ascending by seq", body = EventList),
        (status = 400, description = "An Upgrade header without a valid handshake, or a query parameter that does not parse (`bad-request`)", body = Problem, content_type = "application/problem+json"),
        Unauthorized,
        (status = 403, description = "Not a member, or a foreign Origin on a WebSocket (`not-a-member`, `origin-not-allowed`)", body = Problem, content_type = "application/problem+json"),
        RoomNotFound,
        (status = 422, description = "The listing's limit out of 1-200, or a negative after or before (`validation-failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many open sockets for this user or client IP (`too-many-sockets`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn events(
    req: HttpRequest,
    body: web::Payload,
    app: web::Data<App>,
    who: Principal,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, AppError> {
    // An Upgrade header means a socket is wanted: the handshake then decides (400 if it is
    // not a valid one), exactly as before the listing existed.
    let page = query::<EventsPage>(&req)?;
    if wants_websocket(&req) {
        // The same parameters as the listing, checked the same way; the socket reads `after`.
        page.checked_limit()?;
        subscribe(
            req,
            body,
            app,
            who,
            id.into_inner(),
            page.after,
            page.presence,
        )
        .await
    } else {
        let listed = messages::events_page(&app, &who, id.into_inner(), page).await?;
        Ok(HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(event_list_json(
                &listed.frames,
                listed.next_after,
                listed.prev_before,
            )))
    }
}

/// Whether the request asks for a protocol switch at all: any `Upgrade` header. Such a request
/// is a WebSocket handshake or refused as one (400), exactly as before the listing existed.
fn wants_websocket(req: &HttpRequest) -> bool {
    req.headers().contains_key(header::UPGRADE)
}

/// The query string as `T`, refused as the `Query` extractor refuses it (400 `bad-request`).
fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, AppError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| AppError::BadRequest(e.to_string()))
}

async fn subscribe(
    req: HttpRequest,
    body: web::Payload,
    app: web::Data<App>,
    who: Principal,
    room: RoomId,
    after: Option<i64>,
    presence_frames: Option<bool>,
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
    // Subscribe before checking membership and reading the start point: a leave that commits
    // after the check finds this socket registered and closes it, and no event is missed.
    let sub = app.hub.subscribe(room, who.user_id, who.session_id.clone());
    // With many instances, also wait until the bus carries the room's events here: what is
    // committed elsewhere after the start point is read then reaches this socket.
    sub.watched().await;
    let last = messages::stream_start(&app, &who, room, after.map(Seq)).await?;
    if after.is_none() {
        // Read from the store (never a client's number): where the room's stream stands.
        app.hub.seed(room, last);
    }
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| AppError::BadRequest(format!("WebSocket upgrade required: {e}")))?;
    // Only now, with membership checked and the upgrade accepted: the user is online here.
    let presence = app.presence.open(room, present(&who));
    let cfg = &app.config;
    let socket = Socket {
        db: app.db.clone(),
        session,
        stream,
        sub,
        slot,
        presence,
        presence_frames: presence_frames.unwrap_or(false),
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
