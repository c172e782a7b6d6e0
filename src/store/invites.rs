//! Invites, by the SHA-256 of their code: to register (`registration = "invite"`, `room_id`
//! NULL) or to a room (`room_id` set). One table, one set of queries: `room` picks the kind.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::accounts::Profile;
use super::events::{room_must_exist, EventKind, EventRow, NewEvent};
use super::membership::{seat, Admission};
use super::schema::{bans, events, invites, memberships, rooms, users};
use super::{now_ms, with_conn, Db, Rejection, StoreError};
use crate::ids::{RoomId, Seq, UserId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invites)]
pub struct InviteRow {
    pub id: i64,
    pub created_by: Option<UserId>,
    pub uses_left: i32,
    pub expires_at: i64,
    pub created_at: i64,
    pub room_id: Option<RoomId>,
}

/// A new invite to register (`room` None) or to `room`.
pub async fn create(
    db: &Db,
    code_hash: &str,
    created_by: Option<UserId>,
    uses: i32,
    expires_at: i64,
    room: Option<RoomId>,
) -> Result<InviteRow, StoreError> {
    let now = now_ms();
    let code_hash = code_hash.to_owned();
    with_conn!(db, writer, |conn| {
        diesel::insert_into(invites::table)
            .values((
                invites::code_hash.eq(code_hash),
                invites::created_by.eq(created_by),
                invites::uses_left.eq(uses),
                invites::expires_at.eq(expires_at),
                invites::created_at.eq(now),
                invites::room_id.eq(room),
            ))
            .returning(InviteRow::as_returning())
            .get_result(conn)
            .await
            // The room was deleted meanwhile.
            .map_err(room_must_exist)
    })
}

/// Every invite to register (`room` None) or to `room`, newest first (used up and expired
/// ones too, until revoked).
pub async fn list(db: &Db, room: Option<RoomId>) -> Result<Vec<InviteRow>, StoreError> {
    with_conn!(db, readers, |conn| {
        let query = invites::table
            .order(invites::id.desc())
            .select(InviteRow::as_select())
            .into_boxed();
        let query = match room {
            Some(room) => query.filter(invites::room_id.eq(room)),
            None => query.filter(invites::room_id.is_null()),
        };
        Ok(query.load(conn).await?)
    })
}

/// Revokes invite `id`, of that kind (and room): `InviteNotFound` otherwise.
pub async fn delete(db: &Db, id: i64, room: Option<RoomId>) -> Result<(), StoreError> {
    with_conn!(db, writer, |conn| {
        let target = invites::table.find(id).into_boxed();
        let target = match room {
            Some(room) => target.filter(invites::room_id.eq(room)),
            None => target.filter(invites::room_id.is_null()),
        };
        let n =
            diesel::delete(invites::table.filter(invites::id.eq_any(target.select(invites::id))))
                .execute(conn)
                .await?;
        if n == 0 {
            return Err(Rejection::InviteNotFound.into());
        }
        Ok(())
    })
}

/// What accepting a room's invite did.
#[derive(Debug)]
pub enum Accepted {
    /// Seated now: the `member.joined` event, by `user`.
    Joined(RoomId, EventRow, Profile),
    /// Already a member: nothing changed, no use taken.
    Already(RoomId),
}

/// `user` takes one use of the room invite whose code hashes to `code_hash` and the seat it
/// opens, in one transaction: the conditional update of the use (a use left, not expired)
/// and the seat (capacity, ban, not a DM) commit together or not at all. Two accepts of a
/// single-use code at once: the second waits on the invite's row, then finds no use left.
/// A refused seat (banned, full) rolls the use back; so does finding `user` seated already,
/// who hears so even when the code has no use left.
pub async fn accept(db: &Db, code_hash: &str, user: UserId) -> Result<Accepted, StoreError> {
    let now = now_ms();
    let code_hash = code_hash.to_owned();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let taken: Option<(i64, Option<RoomId>)> = diesel::update(
                invites::table
                    .filter(invites::code_hash.eq(&code_hash))
                    .filter(invites::room_id.is_not_null())
                    .filter(invites::uses_left.gt(0))
                    .filter(invites::expires_at.gt(now)),
            )
            .set(invites::uses_left.eq(invites::uses_left - 1))
            .returning((invites::id, invites::room_id))
            .get_result(conn)
            .await
            .optional()?;
            let Some((invite, Some(room))) = taken else {
                // No use left (or expired): still 200 for a member of its room, as when a
                // link is opened twice; nobody else learns anything about the code.
                let seated: Option<Option<RoomId>> = invites::table
                    .inner_join(
                        memberships::table.on(invites::room_id
                            .eq(memberships::room_id.nullable())
                            .and(memberships::user_id.eq(user))),
                    )
                    .filter(invites::code_hash.eq(&code_hash))
                    .select(invites::room_id)
                    .first(conn)
                    .await
                    .optional()?;
                return match seated.flatten() {
                    Some(room) => Ok(Accepted::Already(room)),
                    None => Err(Rejection::InviteInvalid.into()),
                };
            };
            // A reborrow for the block, whose `return`s and `?`s `seat!` leaves through.
            let seating = &mut *conn;
            let seated: Result<Option<EventRow>, StoreError> =
                async { seat!(seating, room, user, Admission::Let) }.await;
            match seated? {
                Some(event) => {
                    let actor = users::table
                        .find(user)
                        .select(Profile::as_select())
                        .first(conn)
                        .await?;
                    Ok(Accepted::Joined(room, event, actor))
                }
                None => {
                    diesel::update(invites::table.find(invite))
                        .set(invites::uses_left.eq(invites::uses_left + 1))
                        .execute(conn)
                        .await?;
                    Ok(Accepted::Already(room))
                }
            }
        })
        .await
    })
}
