//! `Principal`: the authenticated caller, checked on every request, from a bot's bearer token
//! or a browser's session cookie. Handlers never care which.

use std::future::Future;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};

use super::origin::{check_same_origin, is_unsafe};
use super::session_store::{hash_key, SESSION_ID, STORE_UNAVAILABLE, USERNAME, USER_ID};
use crate::chat::views::UserRef;
use crate::chat::App;
use crate::error::AppError;
use crate::store::accounts::{self, Profile};
use crate::telemetry;

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub is_bot: bool,
    /// The session this request came with (None for bearer tokens); sockets remember it so
    /// logout can close them.
    pub session_id: Option<String>,
}

impl Principal {
    pub fn profile(&self) -> Profile {
        Profile {
            id: self.user_id,
            username: self.username.clone(),
            is_bot: self.is_bot,
        }
    }

    pub fn user_ref(&self) -> UserRef {
        UserRef::from(self.profile())
    }

    fn from_session(req: &HttpRequest) -> Result<Principal, AppError> {
        let session = req.get_session();
        if session.contains_key(STORE_UNAVAILABLE) {
            return Err(AppError::Unavailable);
        }
        Self::logged_in(&session).ok_or(AppError::Unauthenticated)
    }

    fn logged_in(session: &actix_session::Session) -> Option<Principal> {
        let user_id = session.get::<i64>(USER_ID).ok().flatten()?;
        let username = session.get::<String>(USERNAME).ok().flatten()?;
        let session_id = session.get::<String>(SESSION_ID).ok().flatten();
        Some(Principal {
            user_id,
            username,
            is_bot: false,
            session_id,
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header; `Err` for any other scheme.
fn bearer(value: &str) -> Result<&str, AppError> {
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(AppError::InvalidToken),
    }
}

impl FromRequest for Principal {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(header) = req.headers().get(AUTHORIZATION) else {
            let found = Principal::from_session(req).and_then(|who| {
                // A cookie rides along on a cross-site form or fetch too (SameSite=Lax still
                // lets a sibling subdomain or another port through): refuse those.
                if is_unsafe(req.method()) {
                    let app = req.app_data::<web::Data<App>>().ok_or(AppError::Internal)?;
                    check_same_origin(req.headers(), &app.config)?;
                }
                Ok(who)
            });
            if let Ok(who) = &found {
                telemetry::note_caller(req, who.user_id, who.is_bot);
            }
            return Box::pin(async move { found });
        };
        // A presented token is the credential, even if a cookie came along too.
        let token_hash = header
            .to_str()
            .map_err(|_| AppError::InvalidToken)
            .and_then(bearer)
            .map(hash_key);
        let app = req.app_data::<web::Data<App>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let token_hash = token_hash?;
            let app = app.ok_or(AppError::Internal)?;
            let bot = match app.auth.token(&token_hash) {
                Some(hit) => hit,
                None => {
                    let epoch = app.auth.epoch();
                    let found = accounts::find_by_token(&app.db, &token_hash)
                        .await?
                        .ok_or(AppError::InvalidToken)?;
                    app.auth.keep_token(token_hash, found.clone(), epoch);
                    found
                }
            };
            telemetry::note_caller(&req, bot.id, bot.is_bot);
            Ok(Principal {
                user_id: bot.id,
                username: bot.username,
                is_bot: bot.is_bot,
                session_id: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc").ok(), Some("abc"));
        assert_eq!(bearer("bearer  abc ").ok(), Some("abc"));
        assert!(bearer("Basic abc").is_err());
        assert!(bearer("Bearer ").is_err());
        assert!(bearer("Bearer").is_err());
    }
}
