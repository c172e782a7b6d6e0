//! Users.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;

use super::schema::users;
use super::{now_ms, with_conn, Db, Rejection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub created_at: i64,
}

/// Inserts a user; the unique index on `username` decides races between equal names.
pub async fn create(db: &Db, username: &str, password_hash: &str) -> Result<User, StoreError> {
    let now = now_ms();
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
            .map_err(|e| match e {
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                    Rejection::UsernameTaken.into()
                }
                e => StoreError::from(e),
            })
    })
}

pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<User>, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(users::table
            .filter(users::username.eq(username))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()?)
    })
}
