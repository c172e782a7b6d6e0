//! Server-side sessions, keyed by the SHA-256 of the cookie's session key.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::sessions;
use super::{with_conn, Db, StoreError};

/// The stored state (JSON) of a live session.
pub async fn load(db: &Db, key_hash: &str, now: i64) -> Result<Option<String>, StoreError> {
    let key_hash = key_hash.to_owned();
    with_conn!(db, readers, |conn| {
        Ok(sessions::table
            .find(key_hash)
            .filter(sessions::expires_at.gt(now))
            .select(sessions::state)
            .first(conn)
            .await
            .optional()?)
    })
}

pub async fn insert(
    db: &Db,
    key_hash: &str,
    sid: Option<&str>,
    user_id: Option<i64>,
    state: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    let (key_hash, sid, state) = (
        key_hash.to_owned(),
        sid.map(str::to_owned),
        state.to_owned(),
    );
    with_conn!(db, writer, |conn| {
        diesel::insert_into(sessions::table)
            .values((
                sessions::key_hash.eq(key_hash),
                sessions::sid.eq(sid),
                sessions::user_id.eq(user_id),
                sessions::state.eq(state),
                sessions::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Replaces the state of a session; false if it no longer exists.
pub async fn update(
    db: &Db,
    key_hash: &str,
    sid: Option<&str>,
    user_id: Option<i64>,
    state: &str,
    expires_at: i64,
) -> Result<bool, StoreError> {
    let (key_hash, sid, state) = (
        key_hash.to_owned(),
        sid.map(str::to_owned),
        state.to_owned(),
    );
    with_conn!(db, writer, |conn| {
        let n = diesel::update(sessions::table.find(key_hash))
            .set((
                sessions::sid.eq(sid),
                sessions::user_id.eq(user_id),
                sessions::state.eq(state),
                sessions::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .await?;
        Ok(n == 1)
    })
}

pub async fn touch(db: &Db, key_hash: &str, expires_at: i64) -> Result<(), StoreError> {
    let key_hash = key_hash.to_owned();
    with_conn!(db, writer, |conn| {
        diesel::update(sessions::table.find(key_hash))
            .set(sessions::expires_at.eq(expires_at))
            .execute(conn)
            .await?;
        Ok(())
    })
}

pub async fn delete(db: &Db, key_hash: &str) -> Result<(), StoreError> {
    let key_hash = key_hash.to_owned();
    with_conn!(db, writer, |conn| {
        diesel::delete(sessions::table.find(key_hash))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Removes expired rows; returns how many.
pub async fn purge_expired(db: &Db, now: i64) -> Result<usize, StoreError> {
    with_conn!(db, writer, |conn| {
        Ok(
            diesel::delete(sessions::table.filter(sessions::expires_at.le(now)))
                .execute(conn)
                .await?,
        )
    })
}

/// Ends the session with this public id (logout); true if it existed.
pub async fn delete_by_sid(db: &Db, sid: &str) -> Result<bool, StoreError> {
    let sid = sid.to_owned();
    with_conn!(db, writer, |conn| {
        let n = diesel::delete(sessions::table.filter(sessions::sid.eq(sid)))
            .execute(conn)
            .await?;
        Ok(n > 0)
    })
}
