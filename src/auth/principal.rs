//! `Principal`: the authenticated caller, from a bot's bearer token or a browser's session
//! cookie. Handlers never care which (the extractor is `http::principal`).

use actix_session::SessionExt;
use actix_web::http::header::HeaderValue;
use actix_web::HttpRequest;

use super::cache::AuthCache;
use super::session_store::{SESSION_ID, STORE_UNAVAILABLE, USERNAME, USER_ID};
use super::tokens::hash_key;
use crate::error::AppError;
use crate::ids::UserId;
use crate::store::accounts::{self, Profile};
use crate::store::Db;
use crate::views::UserRef;

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
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

    /// The logged-in user of the request's session (loaded by the session middleware).
    pub fn from_session(req: &HttpRequest) -> Result<Principal, AppError> {
        let session = req.get_session();
        if session.contains_key(STORE_UNAVAILABLE) {
            return Err(AppError::unavailable(
                "the session store could not read the session",
            ));
        }
        Self::logged_in(&session).ok_or(AppError::Unauthenticated)
    }

    fn logged_in(session: &actix_session::Session) -> Option<Principal> {
        let user_id = session.get::<UserId>(USER_ID).ok().flatten()?;
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

impl Principal {
    /// The bot (or, for scripts, the user) behind an `Authorization` header value: from the
    /// cache if it was checked recently, else from the database (then cached).
    pub async fn from_bearer(
        db: &Db,
        cache: &AuthCache,
        header: &HeaderValue,
    ) -> Result<Principal, AppError> {
        #[allow(
            clippy::map_err_ignore,
            reason = "ToStrError holds no detail (a byte outside visible ASCII); the code says it all"
        )]
        let token_hash = header
            .to_str()
            .map_err(|_| AppError::InvalidToken)
            .and_then(bearer)
            .map(hash_key)?;
        let bot = match cache.token(&token_hash) {
            Some(hit) => hit,
            None => {
                let epoch = cache.epoch();
                let found = accounts::find_by_token(db, &token_hash)
                    .await?
                    .ok_or(AppError::InvalidToken)?;
                cache.keep_token(token_hash, found.clone(), epoch);
                found
            }
        };
        Ok(Principal {
            user_id: bot.id,
            username: bot.username,
            is_bot: bot.is_bot,
            session_id: None,
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
