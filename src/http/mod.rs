//! HTTP: the route table, and one file per resource. Handlers parse, call `chat`, map errors.

pub mod accounts;
pub mod assets;
pub mod body;
pub mod bots;
pub mod dms;
pub mod events;
pub mod front;
pub mod invites;
pub mod live;
pub mod me_events;
pub mod members;
pub mod messages;
pub mod openapi;
pub mod ops;
pub mod principal;
pub mod problems;
pub mod rate_limit;
pub mod room_invites;
pub mod rooms;
pub mod session;
pub mod users;

use actix_session::SessionMiddleware;
use actix_web::middleware::from_fn;
use actix_web::web;

use crate::auth::session_store::DbSessionStore;

/// JSON bodies larger than this get 413.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// The client's IP, the key of per-client limits: the peer, or behind a trusted proxy the
/// address it forwarded (one rule, in `proxies`, shared with the access log).
pub use crate::proxies::client_ip;

/// Every route, in one place. Sessions are loaded for /api only: health checks, metrics and
/// the static pages never touch the session store (and so keep working while the database
/// is down, even for a browser that sends its cookie).
pub fn routes(cfg: &mut web::ServiceConfig, sessions: SessionMiddleware<DbSessionStore>) {
    cfg.app_data(problems::json_config())
        .app_data(problems::path_config())
        .app_data(problems::query_config())
        .service(web::resource("/healthz").get(ops::healthz))
        .service(web::resource("/readyz").get(ops::readyz))
        .configure(assets::routes)
        .service(
            web::scope("/api")
                .wrap(from_fn(rate_limit::headers))
                .wrap(sessions)
                // The hot paths first: a pattern with a segment is matched by a regex, tried
                // in order.
                .service(
                    web::resource("/rooms/{id}/messages")
                        .post(messages::send)
                        .get(messages::history),
                )
                .service(web::resource("/rooms/{id}/events").get(events::events))
                .service(web::resource("/rooms/{id}/typing").post(live::typing))
                .service(web::resource("/rooms/{id}/presence").get(live::presence))
                .service(
                    web::resource("/rooms/{id}/messages/{message_id}/reactions/{emoji}")
                        .put(messages::react)
                        .delete(messages::unreact),
                )
                .service(
                    web::resource("/rooms/{id}/messages/{message_id}")
                        .patch(messages::edit)
                        .delete(messages::delete),
                )
                .service(web::resource("/openapi.json").get(openapi::document))
                .service(web::resource("/accounts").post(accounts::register))
                .service(
                    web::resource("/session")
                        .post(session::login)
                        .delete(session::logout),
                )
                .service(web::resource("/sessions").delete(session::logout_everywhere))
                .service(web::resource("/me").get(session::me))
                .service(web::resource("/me/events").get(me_events::subscribe))
                .service(web::resource("/me/password").put(session::change_password))
                .service(web::resource("/rooms").post(rooms::create).get(rooms::list))
                .service(web::resource("/dms").post(dms::open))
                .service(
                    web::resource("/rooms/{id}")
                        .get(rooms::show)
                        .delete(rooms::delete),
                )
                .service(
                    web::resource("/rooms/{id}/members/me")
                        .put(members::join)
                        .delete(members::leave),
                )
                .service(web::resource("/rooms/{id}/read").put(rooms::mark_read))
                .service(web::resource("/rooms/{id}/members").get(members::list))
                .service(
                    web::resource("/rooms/{id}/members/{user}")
                        .put(members::add)
                        .delete(members::remove),
                )
                .service(
                    web::resource("/rooms/{id}/invites")
                        .post(room_invites::create)
                        .get(room_invites::list),
                )
                .service(
                    web::resource("/rooms/{id}/invites/{invite_id}").delete(room_invites::revoke),
                )
                .service(web::resource("/room-invites/accept").post(room_invites::accept))
                .service(
                    web::resource("/rooms/{id}/bans/{user}")
                        .put(members::ban)
                        .delete(members::unban),
                )
                .service(web::resource("/users").get(users::list))
                .service(
                    web::resource("/invites")
                        .post(invites::create)
                        .get(invites::list),
                )
                .service(web::resource("/invites/{id}").delete(invites::revoke))
                .service(
                    web::resource("/users/{id}/disabled")
                        .put(users::disable)
                        .delete(users::enable),
                )
                .service(web::resource("/bots").post(bots::create).get(bots::list))
                .service(web::resource("/bots/{id}").delete(bots::delete))
                .service(
                    web::resource("/bots/{id}/token")
                        .post(bots::rotate)
                        .delete(bots::revoke),
                ),
        )
        .default_service(web::to(problems::not_found));
}
