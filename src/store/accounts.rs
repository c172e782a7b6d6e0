//! Users.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::{admin_claim, invites, sessions, users};
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
    pub is_admin: bool,
}

/// Whether a new account is an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// An admin, whatever else exists (the CLI's `user create --admin`).
    Admin,
    /// An admin only if it is the server's first account.
    IfFirst,
}

/// A user or bot as others see it (authors, owners, members).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Profile {
    pub id: UserId,
    pub username: String,
    pub is_bot: bool,
}

/// Inserts a user; the unique index on `username` decides races between equal names. In the
/// same transaction the account tries to claim `admin_claim`'s one row: the first account of
/// an empty server gets it and is an admin; a concurrent registration waits on the row's key
/// and finds it taken, so two first registrations never both become admins.
///
/// With `invite` (a code's hash), the account takes one use of that invite first, in the same
/// transaction: one conditional update (a use left, not expired), so concurrent registrations
/// never take more uses than there are, and a refused account gives its use back.
pub async fn create(
    db: &Db,
    username: &str,
    password_hash: &str,
    grant: Grant,
    invite: Option<String>,
) -> Result<User, StoreError> {
    let now = now_ms();
    let (username, password_hash) = (username.to_owned(), password_hash.to_owned());
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            if let Some(code_hash) = &invite {
                let taken = diesel::update(
                    invites::table
                        .filter(invites::code_hash.eq(code_hash))
                        // A room's invite is no invite to register.
                        .filter(invites::room_id.is_null())
                        .filter(invites::uses_left.gt(0))
                        .filter(invites::expires_at.gt(now)),
                )
                .set(invites::uses_left.eq(invites::uses_left - 1))
                .execute(conn)
                .await?;
                if taken == 0 {
                    return Err(Rejection::InviteInvalid.into());
                }
            }
            let mut user = diesel::insert_into(users::table)
                .values((
                    users::username.eq(username),
                    users::password_hash.eq(password_hash),
                    users::created_at.eq(now),
                    users::is_admin.eq(grant == Grant::Admin),
                ))
                .returning(User::as_returning())
                .get_result(conn)
                .await
                .map_err(name_taken)?;
            let first = diesel::insert_into(admin_claim::table)
                .values((admin_claim::slot.eq(1), admin_claim::user_id.eq(user.id)))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?
                == 1;
            if first && !user.is_admin {
                diesel::update(users::table.find(user.id))
                    .set(users::is_admin.eq(true))
                    .execute(conn)
                    .await?;
                user.is_admin = true;
            }
            Ok(user)
        })
        .await
    })
}

/// Grants or withdraws admin rights of a person (not a bot).
pub async fn set_admin(db: &Db, user: UserId, admin: bool) -> Result<(), StoreError> {
    with_conn!(db, writer, |conn| {
        let n = diesel::update(users::table.find(user).filter(users::is_bot.eq(false)))
            .set(users::is_admin.eq(admin))
            .execute(conn)
            .await?;
        if n == 0 {
            return Err(Rejection::UserNotFound.into());
        }
        Ok(())
    })
}

/// Whether `user` is a live (not disabled) admin: read at every admin action, so a right
/// withdrawn or an account disabled counts at once, on every instance.
pub async fn is_admin(db: &Db, user: UserId) -> Result<bool, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(diesel::select(diesel::dsl::exists(
            users::table
                .find(user)
                .filter(users::is_admin.eq(true))
                .filter(users::disabled_at.is_null()),
        ))
        .get_result(conn)
        .await?)
    })
}

/// Enables a disabled person (not a bot: a deleted bot stays deleted).
pub async fn enable(db: &Db, user: UserId) -> Result<(), StoreError> {
    with_conn!(db, writer, |conn| {
        let n = diesel::update(users::table.find(user).filter(users::is_bot.eq(false)))
            .set(users::disabled_at.eq(None::<i64>))
            .execute(conn)
            .await?;
        if n == 0 {
            return Err(Rejection::UserNotFound.into());
        }
        Ok(())
    })
}

/// A user by id (any kind, disabled or not).
pub async fn find(db: &Db, user: UserId) -> Result<Option<User>, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(users::table
            .find(user)
            .select(User::as_select())
            .first(conn)
            .await
            .optional()?)
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

/// Deletes an account the way that keeps its messages: the row stays (messages, reactions
/// and bans point at it) under the name `deleted-<id>` (the old name is free again), with no
/// password, token or admin right, disabled and revoked (every instance closes its sockets);
/// its sessions go. Idempotent.
pub async fn tombstone(db: &Db, user: UserId) -> Result<(), StoreError> {
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let n = diesel::update(users::table.find(user))
                .set((
                    users::username.eq(format!("deleted-{}", user.0)),
                    users::password_hash.eq(""),
                    users::token_hash.eq(None::<String>),
                    users::is_admin.eq(false),
                    users::disabled_at.eq(Some(now)),
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
    pub is_admin: bool,
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

/// Which sessions a new password leaves alive.
#[derive(Debug, Clone)]
pub enum Keep {
    /// The one the change was made with (a person changing their own password).
    Session(String),
    /// None: an operator's reset. `revoked_at` is set too, so every server closes every socket
    /// of the user even if it never hears of the reset on the bus.
    Nothing,
}

/// Stores a new password hash of a person (not a bot) and ends their sessions but `keep`, in one
/// transaction. Returns the public ids (`sid`) of the sessions ended.
pub async fn set_password(
    db: &Db,
    user: UserId,
    hash: &str,
    keep: Keep,
) -> Result<Vec<String>, StoreError> {
    let now = now_ms();
    let hash = hash.to_owned();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let n = diesel::update(users::table.find(user).filter(users::is_bot.eq(false)))
                .set(users::password_hash.eq(&hash))
                .execute(conn)
                .await?;
            if n == 0 {
                return Err(Rejection::UserNotFound.into());
            }
            let of_user = sessions::user_id.eq(user);
            let ended: Vec<Option<String>> = match &keep {
                Keep::Session(sid) => {
                    diesel::delete(
                        sessions::table
                            .filter(of_user.and(sessions::sid.ne(sid).or(sessions::sid.is_null()))),
                    )
                    .returning(sessions::sid)
                    .get_results(conn)
                    .await?
                }
                Keep::Nothing => {
                    diesel::update(users::table.find(user))
                        .set(users::revoked_at.eq(now))
                        .execute(conn)
                        .await?;
                    diesel::delete(sessions::table.filter(of_user))
                        .returning(sessions::sid)
                        .get_results(conn)
                        .await?
                }
            };
            Ok(ended.into_iter().flatten().collect())
        })
        .await
    })
}
