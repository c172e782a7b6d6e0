//! Users.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::{sessions, users};
use super::{name_taken, now_ms, with_conn, Db, Rejection, StoreError};
use crate::ids::UserId;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub password_hash: String,
    pub created_at: i64,
    pub is_bot: bool,
    pub disabled_at: Option<i64>,
}

/// A user or bot as others see it (authors, owners, members).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Profile {
    pub id: UserId,
    pub username: String,
    pub is_bot: bool,
}

/// Inserts a user; the unique index on `username` decides races between equal names.
pub async fn create(db: &Db, username: &str, password_hash: &str) -> Result<User, StoreError> {
    let now = now_ms();
    let (username, password_hash) = (username.to_owned(), password_hash.to_owned());
    with_conn!(db, writer, |conn| {
        diesel::insert_into(users::table)
            .values((
                users::username.eq(username),
                users::password_hash.eq(password_hash),
                users::created_at.eq(now),
            ))
            .returning(User::as_returning())
            .get_result(conn)
            .await
            .map_err(name_taken)
    })
}

/// Replaces `old` by `new` (a rehash at a higher cost); false if the stored hash is no longer
/// `old`.
pub async fn replace_password_hash(
    db: &Db,
    user: UserId,
    old: &str,
    new: &str,
) -> Result<bool, StoreError> {
    let (old, new) = (old.to_owned(), new.to_owned());
    with_conn!(db, writer, |conn| {
        let n = diesel::update(users::table.find(user).filter(users::password_hash.eq(old)))
            .set(users::password_hash.eq(new))
            .execute(conn)
            .await?;
        Ok(n == 1)
    })
}

/// The live (not disabled) principal holding this bearer token.
pub async fn find_by_token(db: &Db, token_hash: &str) -> Result<Option<Profile>, StoreError> {
    let token_hash = token_hash.to_owned();
    with_conn!(db, readers, |conn| {
        Ok(users::table
            .filter(users::token_hash.eq(token_hash))
            .filter(users::disabled_at.is_null())
            .select(Profile::as_select())
            .first(conn)
            .await
            .optional()?)
    })
}

pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<User>, StoreError> {
    let username = username.to_owned();
    with_conn!(db, readers, |conn| {
        Ok(users::table
            .filter(users::username.eq(username))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()?)
    })
}

/// Disables an account: no login, no token, sessions deleted, and `revoked_at` set so every
/// server closes its sockets. Disabling again just moves the time.
pub async fn disable(db: &Db, user: UserId) -> Result<(), StoreError> {
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let n = diesel::update(users::table.find(user))
                .set((
                    users::disabled_at.eq(Some(now)),
                    users::token_hash.eq(None::<String>),
                    users::revoked_at.eq(now),
                ))
                .execute(conn)
                .await?;
            if n == 0 {
                return Err(Rejection::UserNotFound.into());
            }
            diesel::delete(sessions::table.filter(sessions::user_id.eq(user)))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    })
}

/// Principals whose credentials were revoked after `since`, with the newest such time.
pub async fn revoked_since(db: &Db, since: i64) -> Result<Vec<(UserId, i64)>, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(users::table
            .filter(users::revoked_at.gt(since))
            .select((users::id, users::revoked_at.assume_not_null()))
            .load(conn)
            .await?)
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserSummary {
    pub id: UserId,
    pub username: String,
    pub is_bot: bool,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

/// Every account, for operators.
pub async fn list(db: &Db) -> Result<Vec<UserSummary>, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(users::table
            .order(users::id.asc())
            .select(UserSummary::as_select())
            .load(conn)
            .await?)
    })
}
