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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;
    use actix_web::test::TestRequest;
    use proptest::prelude::*;

    fn config(allowed: &[String]) -> Config {
        let mut config = Config::load(None).expect("the defaults load").config;
        config.allowed_origins = allowed.to_vec();
        config
    }

    /// The verdict on a request with these Host and Origin header values (raw bytes: a
    /// header value need not be text).
    fn verdict(host: Option<&[u8]>, origin: Option<&[u8]>, allowed: &[String]) -> bool {
        let value = |bytes: &[u8]| HeaderValue::from_bytes(bytes).expect("a valid header value");
        let mut req = TestRequest::default();
        if let Some(host) = host {
            req = req.insert_header((HOST, value(host)));
        }
        if let Some(origin) = origin {
            req = req.insert_header((ORIGIN, value(origin)));
        }
        check_origin(&req.to_http_request(), &config(allowed)).is_ok()
    }

    fn header_value() -> impl Strategy<Value = Vec<u8>> {
        // Any byte a header value may hold on the wire (tab, visible ASCII, obs-text).
        let byte =
            any::<u8>().prop_filter("header byte", |&b| b == b'\t' || (b >= 0x20 && b != 0x7f));
        proptest::collection::vec(byte, 0..60)
    }

    /// host[:port], as browsers write it in Host and Origin.
    const AUTHORITY: &str = "[a-z0-9][a-z0-9.-]{0,20}(:[0-9]{1,5})?";

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic(
            host in proptest::option::of(header_value()),
            origin in proptest::option::of(header_value()),
            allowed in proptest::collection::vec(".{0,30}", 0..3),
        ) {
            verdict(host.as_deref(), origin.as_deref(), &allowed);
        }

        #[test]
        fn no_origin_is_a_non_browser_client(host in proptest::option::of(header_value())) {
            prop_assert!(verdict(host.as_deref(), None, &[]));
        }

        #[test]
        fn the_servers_own_origin_is_allowed(scheme in "https?", host in AUTHORITY) {
            let origin = format!("{scheme}://{host}");
            prop_assert!(verdict(Some(host.as_bytes()), Some(origin.as_bytes()), &[]));
        }

        #[test]
        fn a_listed_origin_is_allowed(host in AUTHORITY, origin in "https?://[a-z0-9.-]{1,20}(:[0-9]{1,5})?") {
            prop_assert!(verdict(Some(host.as_bytes()), Some(origin.as_bytes()), std::slice::from_ref(&origin)));
        }

        #[test]
        fn a_foreign_origin_is_refused(
            scheme in "https?",
            host in AUTHORITY,
            other in AUTHORITY,
            listed in proptest::collection::vec("https?://[a-z0-9.-]{1,20}", 0..3),
        ) {
            let origin = format!("{scheme}://{other}");
            prop_assume!(other != host && !listed.contains(&origin));
            prop_assert!(!verdict(Some(host.as_bytes()), Some(origin.as_bytes()), &listed));
        }

        #[test]
        fn an_origin_that_only_contains_the_host_is_refused(
            host in AUTHORITY,
            before in "[a-z0-9.-]{1,10}",
            after in "[a-z0-9./@-]{1,10}",
        ) {
            // evil.example.<host>, <host>.evil.example, <host>@evil: close is not equal.
            for origin in [
                format!("https://{before}.{host}"),
                format!("https://{host}{after}"),
                format!("https://{host}.{before}"),
                host.clone(),
                "null".to_string(),
            ] {
                prop_assert!(!verdict(Some(host.as_bytes()), Some(origin.as_bytes()), &[]), "{}", origin);
            }
        }

        #[test]
        fn without_host_only_listed_origins_pass(origin in "[ -~]{1,40}", listed in any::<bool>()) {
            let allowed = if listed { vec![origin.clone()] } else { Vec::new() };
            prop_assert_eq!(verdict(None, Some(origin.as_bytes()), &allowed), listed);
        }
    }
}
