//! Bots: created by a logged-in user, authenticated by a bearer token shown exactly once.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::normalize_username;
use super::views::timestamp;
use super::App;
use crate::auth::session_store::{hash_key, random_token};
use crate::auth::Principal;
use crate::error::AppError;
use crate::realtime::close;
use crate::store::bots::{self, BotRow};

/// Bot tokens carry a prefix so they are recognisable in a leaked config or a secret scanner.
const TOKEN_PREFIX: &str = "rcb_";

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewBot {
    /// 3-32 characters of A-Z a-z 0-9 _ . - (shares the namespace of usernames; stored
    /// lowercased).
    #[schema(min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9_.-]{3,32}$")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotList {
    pub bots: Vec<BotJson>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenJson {
    /// Shown once; `Authorization: Bearer <token>`.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotJson {
    pub id: i64,
    pub username: String,
    pub bot: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Whether the bot has a live token.
    pub active: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotWithToken {
    #[serde(flatten)]
    pub bot: BotJson,
    /// Shown only in this answer; the server keeps just its hash.
    pub token: String,
}

impl From<BotRow> for BotJson {
    fn from(b: BotRow) -> Self {
        BotJson {
            id: b.id,
            username: b.username,
            bot: true,
            created_at: timestamp(b.created_at),
            active: b.has_token,
        }
    }
}

/// A fresh token (256 random bits) and the hash to store.
fn new_token() -> (String, String) {
    let token = format!("{TOKEN_PREFIX}{}", random_token());
    let hash = hash_key(&token);
    (token, hash)
}

fn human(who: &Principal) -> Result<(), AppError> {
    if who.is_bot {
        return Err(AppError::Forbidden("bots cannot manage bots"));
    }
    Ok(())
}

pub async fn create(app: &App, who: &Principal, input: NewBot) -> Result<BotWithToken, AppError> {
    human(who)?;
    let name = normalize_username(&input.name).map_err(|_| {
        AppError::validation("name", "must be 3-32 characters of a-z, 0-9, '_', '.', '-'")
    })?;
    let (token, hash) = new_token();
    let row = bots::create(&app.db, who.user_id, &name, &hash).await?;
    Ok(BotWithToken {
        bot: BotJson::from(row),
        token,
    })
}

pub async fn list(app: &App, who: &Principal) -> Result<Vec<BotJson>, AppError> {
    human(who)?;
    let rows = bots::list(&app.db, Some(who.user_id)).await?;
    Ok(rows.into_iter().map(BotJson::from).collect())
}

/// Replaces the token (rotate) or removes it (revoke). Either way the old token dies at once
/// and the bot's open sockets close with 4001.
pub async fn set_token(
    app: &App,
    who: &Principal,
    bot: i64,
    rotate: bool,
) -> Result<Option<String>, AppError> {
    human(who)?;
    bots::find(&app.db, Some(who.user_id), Some(bot), None)
        .await?
        .ok_or(AppError::BotNotFound)?;
    if rotate {
        Ok(Some(rotate_token(app, bot).await?))
    } else {
        bots::set_token(&app.db, bot, None).await?;
        close_sockets(app, bot);
        Ok(None)
    }
}

/// Issues a new token for `bot` (no ownership check: callers do that, or are operators).
pub async fn rotate_token(app: &App, bot: i64) -> Result<String, AppError> {
    let (token, hash) = new_token();
    bots::set_token(&app.db, bot, Some(&hash)).await?;
    close_sockets(app, bot);
    Ok(token)
}

/// Deletes the bot: it can no longer authenticate; its messages stay, attributed to it.
pub async fn delete(app: &App, who: &Principal, bot: i64) -> Result<(), AppError> {
    human(who)?;
    bots::find(&app.db, Some(who.user_id), Some(bot), None)
        .await?
        .ok_or(AppError::BotNotFound)?;
    crate::store::accounts::disable(&app.db, bot).await?;
    close_sockets(app, bot);
    Ok(())
}

/// Forgets the cached credentials and closes this server's sockets of a principal whose
/// credentials were just revoked; other servers learn it from `revoked_at` (see
/// `server::watch_revocations`).
pub fn close_sockets(app: &App, user: i64) {
    app.auth.forget_user(user);
    app.hub
        .close_where(close::SESSION_ENDED, |s| s.user_id == user);
}
