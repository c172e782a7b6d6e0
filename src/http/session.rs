//! POST/DELETE /api/session, GET /api/me

use crate::http::body::JsonObject;
use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::session_store::{random_token, SESSION_ID, USERNAME, USER_ID};
use crate::auth::Principal;
use crate::chat::accounts::{self, Credentials};
use crate::chat::views::UserRef;
use crate::chat::App;
use crate::error::{rate_headers, AppError};
use crate::http::client_ip;
use crate::realtime::close;
use crate::store::sessions;

pub async fn login(
    req: HttpRequest,
    app: web::Data<App>,
    session: Session,
    body: JsonObject<Credentials>,
) -> Result<HttpResponse, AppError> {
    let rate = app.limits.auth.check(&client_ip(&req))?;
    let user = accounts::authenticate(&app, body.into_inner()).await?;
    // A fresh key at login, so a session id planted before login is worthless.
    session.renew();
    let insert = || -> Result<(), actix_session::SessionInsertError> {
        session.insert(USER_ID, user.id)?;
        session.insert(USERNAME, &user.username)?;
        session.insert(SESSION_ID, random_token())
    };
    insert().map_err(|_| AppError::Internal)?;
    let mut res = HttpResponse::Ok();
    rate_headers(&mut res, &rate);
    Ok(res.json(UserRef {
        id: user.id,
        username: user.username,
        bot: false,
    }))
}

/// Ends the session server-side first (so every copy of the cookie is dead before anyone hears
/// of it), then closes the sockets opened with it (4001).
pub async fn logout(
    app: web::Data<App>,
    session: Session,
    who: Principal,
) -> Result<HttpResponse, AppError> {
    if let Some(sid) = &who.session_id {
        sessions::delete_by_sid(&app.db, sid).await?;
        app.hub.close_where(close::SESSION_ENDED, |s| {
            s.session_id.as_deref() == Some(sid.as_str())
        });
    }
    session.purge();
    Ok(HttpResponse::NoContent().finish())
}

pub async fn me(who: Principal) -> HttpResponse {
    HttpResponse::Ok().json(who.user_ref())
}
