//! Bots: created by a logged-in user, authenticated by a bearer token shown exactly once.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::{normalize_name, normalize_username};
use crate::app::App;
use crate::auth::tokens::{hash_key, random_token};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::UserId;
use crate::store::bots::{self, BotRow};
use crate::views::timestamp;

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
    #[schema(value_type = i64)]
    pub id: UserId,
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
pub(super) fn new_token() -> (String, String) {
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
    let name = normalize_name("name", &input.name)?;
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

/// A live bot's id by name, for operators (no ownership check).
pub async fn find_by_name(app: &App, name: &str) -> Result<Option<UserId>, AppError> {
    let name = normalize_username(name)?;
    Ok(bots::find_by_name(&app.db, &name).await?.map(|bot| bot.id))
}
