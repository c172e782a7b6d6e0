//! Join and leave: each one transaction of conditional statements against the room's capacity.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::accounts::Profile;
use super::events::{room_must_exist, EventKind, EventRow, EventView, NewEvent};
use super::schema::{bans, events, memberships, rooms, users};
use super::{now_ms, with_conn, Db, Rejection, StoreError};
use crate::ids::{RoomId, Seq, UserId};

/// How a user comes to be seated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// On their own (`PUT …/members/me`): public rooms only; a private room is not found.
    Open,
    /// By an invite, or added by the owner (or an admin), or a DM's creation: any room but a
    /// DM (whose members are fixed).
    Let,
}

/// Inside a transaction on `$conn`: the body of `join` (a macro so that an invite's accept
/// runs it in its own transaction, after taking the invite's use). Evaluates to
/// `Ok(Some(event))`, `Ok(None)` when already a member, or a rejection.
macro_rules! seat {
    ($conn:ident, $room:expr, $user:expr, $how:expr) => {{
        let (room, user, how, now): (RoomId, UserId, Admission, i64) =
            ($room, $user, $how, now_ms());
        let conn = $conn;
        let inserted = diesel::insert_into(memberships::table)
            .values((
                memberships::room_id.eq(room),
                memberships::user_id.eq(user),
                memberships::joined_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await
            .map_err(room_must_exist)?;
        if inserted == 0 {
            Ok(None)
        } else {
            // Neither flag ever changes, so this read cannot go stale.
            let (is_private, is_dm): (bool, bool) = rooms::table
                .find(room)
                .select((rooms::is_private, rooms::is_dm))
                .first(conn)
                .await?;
            if is_private && how == Admission::Open {
                // Exactly what a room that does not exist answers.
                return Err(Rejection::RoomNotFound.into());
            }
            if is_dm {
                return Err(Rejection::DirectMessage.into());
            }
            let seated: Option<(Seq, i64)> = diesel::update(
                rooms::table
                    .find(room)
                    .filter(rooms::member_count.lt(rooms::capacity)),
            )
            .set((
                rooms::member_count.eq(rooms::member_count + 1),
                rooms::last_seq.eq(rooms::last_seq + 1),
            ))
            .returning((rooms::last_seq, rooms::message_count))
            .get_result(conn)
            .await
            .optional()?;
            // After the room's row is locked by the update above: a ban committed before it is
            // seen here, and a ban after it waits for this join and then removes the member.
            // A full room is checked too, so a banned user hears `banned`, not `room-full`.
            let banned: bool = diesel::select(diesel::dsl::exists(bans::table.find((room, user))))
                .get_result(conn)
                .await?;
            if banned {
                return Err(Rejection::Banned.into());
            }
            let (seq, messages) = seated.ok_or(Rejection::RoomFull)?;
            // A new member has read what came before their join: no badge for old history.
            diesel::update(memberships::table.find((room, user)))
                .set((
                    memberships::last_read_seq.eq(seq),
                    memberships::read_count.eq(messages),
                ))
                .execute(conn)
                .await?;
            let event = diesel::insert_into(events::table)
                .values(NewEvent {
                    room_id: room,
                    seq,
                    kind: EventKind::MemberJoined,
                    actor_id: user,
                    content: None,
                    created_at: now,
                    target_id: None,
                })
                .returning(EventRow::as_returning())
                .get_result(conn)
                .await?;
            Ok(Some(event))
        }
    }};
}
pub(crate) use seat;

/// Seats `user` in `room`. `Ok(None)` when already a member (nothing changes).
///
/// The membership row goes in first (ON CONFLICT DO NOTHING makes a concurrent second join of
/// the same user wait and then see the row); then one conditional UPDATE takes a seat and the
/// room's next seq, or finds the room full and the whole transaction rolls back.
pub async fn join(
    db: &Db,
    room: RoomId,
    user: UserId,
    how: Admission,
) -> Result<Option<EventRow>, StoreError> {
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| seat!(conn, room, user, how))
            .await
    })
}

/// Inside a transaction on `$conn`: deletes `$target`'s membership of `$room` and, if there
/// was one, frees the seat and stores `member.left` with the room's next seq. Evaluates to
/// `Ok(Some(event))`, or `Ok(None)` when `$target` was not a member. (A macro, not a function:
/// the body is typed once per backend inside `with_conn!`.)
macro_rules! take_out {
    ($conn:ident, $room:expr, $target:expr, $now:expr) => {{
        let (room, target, now) = ($room, $target, $now);
        let conn = $conn;
        let removed = diesel::delete(memberships::table.find((room, target)))
            .execute(conn)
            .await?;
        if removed == 0 {
            return Ok(None);
        }
        let seq: Seq = diesel::update(rooms::table.find(room))
            .set((
                rooms::member_count.eq(rooms::member_count - 1),
                rooms::last_seq.eq(rooms::last_seq + 1),
            ))
            .returning(rooms::last_seq)
            .get_result(conn)
            .await?;
        let event = diesel::insert_into(events::table)
            .values(NewEvent {
                room_id: room,
                seq,
                kind: EventKind::MemberLeft,
                actor_id: target,
                content: None,
                created_at: now,
                target_id: None,
            })
            .returning(EventRow::as_returning())
            .get_result(conn)
            .await?;
        let actor = users::table
            .find(target)
            .select(Profile::as_select())
            .first(conn)
            .await?;
        Ok(Some(EventView { event, actor }))
    }};
}

/// Takes `target` out of `room`, on their own (`actor == Some(target)`), by the owner, or by
/// an admin (`actor` None). `Ok(None)` when `target` was not a member. The owner cannot
/// leave their own room.
pub async fn leave(
    db: &Db,
    room: RoomId,
    target: UserId,
    actor: Option<UserId>,
) -> Result<Option<EventView>, StoreError> {
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let (owner, is_dm): (UserId, bool) = rooms::table
                .find(room)
                .select((rooms::owner_id, rooms::is_dm))
                .first(conn)
                .await
                .optional()?
                .ok_or(Rejection::RoomNotFound)?;
            // First: to a DM's members the truth is that nobody may (others see its 404).
            if is_dm {
                return Err(Rejection::DirectMessage.into());
            }
            if actor.is_some_and(|actor| actor != target && actor != owner) {
                return Err(Rejection::NotOwner.into());
            }
            if target == owner {
                return Err(Rejection::OwnerCannotLeave.into());
            }
            take_out!(conn, room, target, now)
        })
        .await
    })
}

/// The rooms `user` is in: `(room, its owner, whether a DM)`.
pub async fn rooms_of(db: &Db, user: UserId) -> Result<Vec<(RoomId, UserId, bool)>, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(memberships::table
            .inner_join(rooms::table)
            .filter(memberships::user_id.eq(user))
            .select((rooms::id, rooms::owner_id, rooms::is_dm))
            .order(rooms::id.asc())
            .load(conn)
            .await?)
    })
}

pub async fn is_member(db: &Db, room: RoomId, user: UserId) -> Result<bool, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(
            diesel::select(diesel::dsl::exists(memberships::table.find((room, user))))
                .get_result(conn)
                .await?,
        )
    })
}

#[derive(Debug, Clone, Queryable)]
pub struct MemberRow {
    pub user: Profile,
    pub joined_at: i64,
}

/// Members in join order.
pub async fn list(db: &Db, room: RoomId) -> Result<Vec<MemberRow>, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(memberships::table
            .inner_join(users::table)
            .filter(memberships::room_id.eq(room))
            .order((memberships::joined_at.asc(), memberships::user_id.asc()))
            .select((Profile::as_select(), memberships::joined_at))
            .load(conn)
            .await?)
    })
}

/// Bans `target` from `room` (by its owner, or by an admin: `actor` None) and takes them out
/// if they are a member (`member.left`), in one transaction. The room's row is locked first
/// (a no-op update), so a concurrent join either commits before and is removed here, or waits
/// and then sees the ban. `Ok(None)` when `target` was not a member.
pub async fn ban(
    db: &Db,
    room: RoomId,
    target: UserId,
    actor: Option<UserId>,
) -> Result<Option<EventView>, StoreError> {
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let (owner, is_dm): (UserId, bool) = diesel::update(rooms::table.find(room))
                .set(rooms::last_seq.eq(rooms::last_seq))
                .returning((rooms::owner_id, rooms::is_dm))
                .get_result(conn)
                .await
                .optional()?
                .ok_or(Rejection::RoomNotFound)?;
            if is_dm {
                return Err(Rejection::DirectMessage.into());
            }
            if actor.is_some_and(|actor| actor != owner) {
                return Err(Rejection::NotOwner.into());
            }
            if target == owner {
                return Err(Rejection::OwnerCannotBeBanned.into());
            }
            diesel::insert_into(bans::table)
                .values((
                    bans::room_id.eq(room),
                    bans::user_id.eq(target),
                    bans::banned_by.eq(actor),
                    bans::created_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await
                .map_err(|e| match e {
                    DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                        StoreError::from(Rejection::UserNotFound)
                    }
                    e => StoreError::from(e),
                })?;
            take_out!(conn, room, target, now)
        })
        .await
    })
}

/// Lifts a ban (by the room's owner, or an admin: `actor` None); a no-op if there is none.
pub async fn unban(
    db: &Db,
    room: RoomId,
    target: UserId,
    actor: Option<UserId>,
) -> Result<(), StoreError> {
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let owner: UserId = rooms::table
                .find(room)
                .select(rooms::owner_id)
                .first(conn)
                .await
                .optional()?
                .ok_or(Rejection::RoomNotFound)?;
            if actor.is_some_and(|actor| actor != owner) {
                return Err(Rejection::NotOwner.into());
            }
            diesel::delete(bans::table.find((room, target)))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    })
}
