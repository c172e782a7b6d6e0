//! Server-side sessions, keyed by the SHA-256 of the cookie's session key.
//!
//! A session is live while `now < expires_at` (its absolute life) and it was used after the
//! idle cutoff (`now - session_idle_secs`), as `last_seen_at` records.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::{sessions, users};
use super::{now_ms, with_conn, Db, StoreError};
use crate::ids::UserId;

/// The stored state (JSON) of a live session, and when it was last seen.
pub async fn load(
    db: &Db,
    key_hash: &str,
    now: i64,
    idle_cutoff: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    let key_hash = key_hash.to_owned();
    with_conn!(db, readers, |conn| {
        Ok(sessions::table
            .find(key_hash)
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::last_seen_at.gt(idle_cutoff))
            .select((sessions::state, sessions::last_seen_at))
            .first(conn)
            .await
            .optional()?)
    })
}

/// Records that the session was used at `now`.
pub async fn seen(db: &Db, key_hash: &str, now: i64) -> Result<(), StoreError> {
    let key_hash = key_hash.to_owned();
    with_conn!(db, writer, |conn| {
        diesel::update(sessions::table.find(key_hash))
            .set(sessions::last_seen_at.eq(now))
            .execute(conn)
            .await?;
        Ok(())
    })
}

pub async fn insert(
    db: &Db,
    key_hash: &str,
    sid: Option<&str>,
    user_id: Option<UserId>,
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
                sessions::last_seen_at.eq(now_ms()),
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
    user_id: Option<UserId>,
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
                sessions::last_seen_at.eq(now_ms()),
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

/// Removes expired and idle rows; returns how many.
pub async fn purge_expired(db: &Db, now: i64, idle_cutoff: i64) -> Result<usize, StoreError> {
    with_conn!(db, writer, |conn| {
        Ok(diesel::delete(
            sessions::table.filter(
                sessions::expires_at
                    .le(now)
                    .or(sessions::last_seen_at.le(idle_cutoff)),
            ),
        )
        .execute(conn)
        .await?)
    })
}

/// Ends every session of `user` ("log out everywhere") and sets the user's `revoked_at`, so
/// every server closes the sockets opened with them (see `server::watch_revocations`).
/// Returns how many sessions ended.
pub async fn delete_all_of_user(db: &Db, user: UserId) -> Result<usize, StoreError> {
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let n = diesel::delete(sessions::table.filter(sessions::user_id.eq(user)))
                .execute(conn)
                .await?;
            diesel::update(users::table.find(user))
                .set(users::revoked_at.eq(now))
                .execute(conn)
                .await?;
            Ok::<_, StoreError>(n)
        })
        .await
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
