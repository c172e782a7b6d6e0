//! POST/DELETE /api/session, DELETE /api/sessions, GET /api/me

use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::Problem;
use crate::http::body::JsonObject;
use crate::http::openapi::{BadBody, DatabaseDown, Unauthorized, Unavailable};
use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::App;
use crate::auth::session_store::{SESSION_ID, USERNAME, USER_ID};
use crate::auth::tokens::random_token;
use crate::auth::Principal;
use crate::chat::accounts::{self, Credentials};
use crate::chat::{admin, credentials};
use crate::error::AppError;
use crate::http::client_ip;
use crate::http::rate_limit::{Limits, Tell};
use crate::telemetry::{self, SECURITY};
use crate::views::{MeJson, UserRef};

#[utoipa::path(
    post,
    path = "/api/session",
    tag = "accounts",
    summary = "Log in",
    request_body = Credentials,
    responses(
        (status = 200, description = "Logged in; sets the session cookie", body = UserRef),
        BadBody,
        (status = 401, description = "Unknown user or wrong password (`invalid-credentials`)", body = Problem, content_type = "application/problem+json"),
        Unavailable
    )
)]
pub async fn login(
    req: HttpRequest,
    app: web::Data<App>,
    limits: web::Data<Limits>,
    session: Session,
    body: JsonObject<Credentials>,
) -> Result<HttpResponse, AppError> {
    let peer = client_ip(&req);
    // A refused attempt still tells the client how many it has left.
    limits.auth.charge(&req, &peer, Tell::EveryAnswer).await?;
    let credentials = body.into_inner();
    // What was typed, cut short and escaped (`?`), for the security log; never the password.
    let attempted: String = credentials.username.chars().take(64).collect();
    let user = match accounts::authenticate(&app, credentials, async |name| {
        limits.login_user.check(&name.to_string()).await.map(drop)
    })
    .await
    {
        Ok(user) => user,
        Err(e) => {
            match e {
                // The username's limit speaks for itself (its own RateLimit-* and Retry-After).
                AppError::RateLimited { .. } => {
                    tracing::info!(target: SECURITY, event = "login.throttled", username = ?attempted, %peer, "login refused: too many attempts at this username");
                }
                AppError::InvalidCredentials => {
                    tracing::info!(target: SECURITY, event = "login.failed", username = ?attempted, %peer, "login failed");
                }
                _ => {}
            }
            return Err(e);
        }
    };
    // A fresh key at login, so a session id planted before login is worthless.
    session.renew();
    let insert = || -> Result<(), actix_session::SessionInsertError> {
        session.insert(USER_ID, user.id)?;
        session.insert(USERNAME, &user.username)?;
        session.insert(SESSION_ID, random_token())
    };
    insert().map_err(|e| AppError::internal(e))?;
    telemetry::note_caller(&req, user.id, false);
    tracing::info!(target: SECURITY, event = "login.ok", user = user.id.0, username = %user.username, %peer, "logged in");
    Ok(HttpResponse::Ok().json(UserRef {
        id: user.id,
        username: user.username,
        bot: false,
    }))
}

/// Ends the session server-side first (so every copy of the cookie is dead before anyone hears
/// of it), then closes the sockets opened with it (4001).
#[utoipa::path(
    delete,
    path = "/api/session",
    tag = "accounts",
    summary = "Log out",
    responses(
        (status = 204, description = "Session deleted; its sockets close with 4001"),
        Unauthorized,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn logout(
    app: web::Data<App>,
    session: Session,
    who: Principal,
) -> Result<HttpResponse, AppError> {
    credentials::logout(&app, &who).await?;
    session.purge();
    tracing::info!(target: SECURITY, event = "logout", user = who.user_id.0, bot = who.is_bot, "logged out");
    Ok(HttpResponse::NoContent().finish())
}

/// "Log out everywhere": ends every session of the caller (other browsers, a stolen cookie),
/// this one included, and closes the sockets opened with them (4001), on every server.
#[utoipa::path(
    delete,
    path = "/api/sessions",
    tag = "accounts",
    summary = "Log out everywhere",
    responses(
        (status = 204, description = "Every session of the caller deleted; their sockets close with 4001"),
        Unauthorized,
        (status = 403, description = "A bot: it has no sessions (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn logout_everywhere(
    app: web::Data<App>,
    session: Session,
    who: Principal,
) -> Result<HttpResponse, AppError> {
    let ended = credentials::log_out_everywhere(&app, &who).await?;
    tracing::info!(target: SECURITY, event = "logout.everywhere", user = who.user_id.0, sessions = ended, "logged out everywhere");
    session.purge();
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/api/me",
    tag = "accounts",
    summary = "Who am I",
    responses(
        (status = 200, description = "The caller, and whether they are an admin", body = MeJson),
        Unauthorized,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn me(app: web::Data<App>, who: Principal) -> Result<HttpResponse, AppError> {
    let admin = admin::is_admin(&app, &who).await?;
    let me = who.user_ref();
    Ok(HttpResponse::Ok().json(MeJson {
        id: me.id,
        username: me.username,
        bot: me.bot,
        admin,
    }))
}

/// A password change: the current password, and the new one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    /// The password the caller logged in with.
    #[schema(max_length = 1024)]
    pub current: String,
    /// At least 8 characters, at most 1024 bytes of UTF-8.
    #[schema(min_length = 8, max_length = 1024)]
    pub new: String,
}

/// Changes the caller's password and ends every other session of theirs (their sockets close
/// with 4001, on every server); this session stays. The current password is checked against
/// the same per-username limit as a login.
#[utoipa::path(
    put,
    path = "/api/me/password",
    tag = "accounts",
    summary = "Change your password",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; every other session ended, their sockets closed with 4001"),
        BadBody,
        Unauthorized,
        (status = 403, description = "The current password is wrong (`wrong-password`), or a bot (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        Unavailable
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn change_password(
    req: HttpRequest,
    app: web::Data<App>,
    limits: web::Data<Limits>,
    who: Principal,
    body: JsonObject<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    let peer = client_ip(&req);
    limits.auth.charge(&req, &peer, Tell::EveryAnswer).await?;
    let PasswordChange { current, new } = body.into_inner();
    let result = credentials::change_password(&app, &who, current, new, async |name| {
        limits.login_user.check(&name.to_string()).await.map(drop)
    })
    .await;
    match result {
        Ok(ended) => {
            tracing::info!(target: SECURITY, event = "password.changed", user = who.user_id.0, sessions_ended = ended, %peer, "password changed");
            Ok(HttpResponse::NoContent().finish())
        }
        Err(e) => {
            if matches!(e, AppError::WrongPassword) {
                tracing::info!(target: SECURITY, event = "password.change_refused", user = who.user_id.0, %peer, "password change refused: wrong current password");
            }
            Err(e)
        }
    }
}
