//! `Principal`: the authenticated caller, checked on every request.

use std::future::{ready, Ready};

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use super::session_store::{SESSION_ID, USERNAME, USER_ID};
use crate::error::AppError;

/// Who is asking. Today the only credential is the session cookie; a bearer token for bots
/// resolves to the same type here, so handlers never care which one was used.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    /// The session this request came with; sockets remember it so logout can close them.
    pub session_id: Option<String>,
}

impl Principal {
    fn from_session(req: &HttpRequest) -> Option<Principal> {
        let session = req.get_session();
        let user_id = session.get::<i64>(USER_ID).ok().flatten()?;
        let username = session.get::<String>(USERNAME).ok().flatten()?;
        let session_id = session.get::<String>(SESSION_ID).ok().flatten();
        Some(Principal {
            user_id,
            username,
            session_id,
        })
    }
}

impl FromRequest for Principal {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Principal::from_session(req).ok_or(AppError::Unauthenticated))
    }
}
