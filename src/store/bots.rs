//! Bots: users rows with `is_bot`, owned by a user, authenticated by one bearer token.

use diesel::dsl;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::accounts::Profile;
use super::schema::users;
use super::{name_taken, now_ms, with_conn, Db, Rejection, StoreError};
use crate::ids::UserId;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct BotRow {
    pub id: UserId,
    pub username: String,
    pub created_at: i64,
    pub bot_owner_id: Option<UserId>,
    #[diesel(select_expression = users::token_hash.is_not_null())]
    #[diesel(select_expression_type = diesel::dsl::IsNotNull<users::token_hash>)]
    pub has_token: bool,
}

pub async fn create(
    db: &Db,
    owner: UserId,
    name: &str,
    token_hash: &str,
) -> Result<BotRow, StoreError> {
    let now = now_ms();
    let (name, token_hash) = (name.to_owned(), token_hash.to_owned());
    with_conn!(db, writer, |conn| {
        diesel::insert_into(users::table)
            .values((
                users::username.eq(name),
                // Bots never log in with a password; an empty hash matches nothing.
                users::password_hash.eq(""),
                users::created_at.eq(now),
                users::is_bot.eq(true),
                users::bot_owner_id.eq(owner),
                users::token_hash.eq(token_hash),
            ))
            .returning(BotRow::as_returning())
            .get_result(conn)
            .await
            .map_err(name_taken)
    })
}

/// Live bots of `owner`, or of everyone when `owner` is None (the admin CLI).
pub async fn list(db: &Db, owner: Option<UserId>) -> Result<Vec<BotRow>, StoreError> {
    with_conn!(db, readers, |conn| {
        let mut query = live_bots()
            .select(BotRow::as_select())
            .order(users::id.asc())
            .into_boxed();
        if let Some(owner) = owner {
            query = query.filter(users::bot_owner_id.eq(owner));
        }
        Ok(query.load(conn).await?)
    })
}

/// Bots that can still authenticate (not deleted, that is not disabled).
type LiveBots = dsl::Filter<
    dsl::Filter<users::table, dsl::Eq<users::is_bot, bool>>,
    dsl::IsNull<users::disabled_at>,
>;

fn live_bots() -> LiveBots {
    users::table
        .filter(users::is_bot.eq(true))
        .filter(users::disabled_at.is_null())
}

/// A live bot that `owner` owns.
pub async fn find_owned(
    db: &Db,
    owner: UserId,
    bot: UserId,
) -> Result<Option<Profile>, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(live_bots()
            .filter(users::id.eq(bot))
            .filter(users::bot_owner_id.eq(owner))
            .select(Profile::as_select())
            .first(conn)
            .await
            .optional()?)
    })
}

/// A live bot, whoever owns it (operators).
pub async fn find_by_id(db: &Db, bot: UserId) -> Result<Option<Profile>, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(live_bots()
            .filter(users::id.eq(bot))
            .select(Profile::as_select())
            .first(conn)
            .await
            .optional()?)
    })
}

/// A live bot by its (lowercased) name, whoever owns it (operators).
pub async fn find_by_name(db: &Db, name: &str) -> Result<Option<Profile>, StoreError> {
    let name = name.to_owned();
    with_conn!(db, readers, |conn| {
        Ok(live_bots()
            .filter(users::username.eq(name))
            .select(Profile::as_select())
            .first(conn)
            .await
            .optional()?)
    })
}

/// Replaces (Some) or revokes (None) the bot's token; the old one stops working at once and
/// `revoked_at` tells every server to close sockets opened with it.
pub async fn set_token(db: &Db, bot: UserId, token_hash: Option<&str>) -> Result<(), StoreError> {
    let now = now_ms();
    let token_hash = token_hash.map(str::to_owned);
    with_conn!(db, writer, |conn| {
        let n = diesel::update(
            users::table
                .find(bot)
                .filter(users::is_bot.eq(true))
                .filter(users::disabled_at.is_null()),
        )
        .set((users::token_hash.eq(token_hash), users::revoked_at.eq(now)))
        .execute(conn)
        .await?;
        if n == 0 {
            return Err(Rejection::BotNotFound.into());
        }
        Ok(())
    })
}
