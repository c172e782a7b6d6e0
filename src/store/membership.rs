//! Join and leave: each one transaction of conditional statements against the room's capacity.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::accounts::Profile;
use super::events::{room_must_exist, EventKind, EventRow, EventView, NewEvent};
use super::schema::{events, memberships, rooms, users};
use super::{now_ms, with_conn, Db, Rejection, StoreError};
use crate::ids::{RoomId, Seq, UserId};

/// Seats `user` in `room`. `Ok(None)` when already a member (nothing changes).
///
/// The membership row goes in first (ON CONFLICT DO NOTHING makes a concurrent second join of
/// the same user wait and then see the row); then one conditional UPDATE takes a seat and the
/// room's next seq, or finds the room full and the whole transaction rolls back.
pub async fn join(db: &Db, room: RoomId, user: UserId) -> Result<Option<EventRow>, StoreError> {
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
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
                return Ok(None);
            }
            let seq: Seq = diesel::update(
                rooms::table
                    .find(room)
                    .filter(rooms::member_count.lt(rooms::capacity)),
            )
            .set((
                rooms::member_count.eq(rooms::member_count + 1),
                rooms::last_seq.eq(rooms::last_seq + 1),
            ))
            .returning(rooms::last_seq)
            .get_result(conn)
            .await
            .optional()?
            .ok_or(Rejection::RoomFull)?;
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
        })
        .await
    })
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
            let owner: UserId = rooms::table
                .find(room)
                .select(rooms::owner_id)
                .first(conn)
                .await
                .optional()?
                .ok_or(Rejection::RoomNotFound)?;
            if actor.is_some_and(|actor| actor != target && actor != owner) {
                return Err(Rejection::NotOwner.into());
            }
            if target == owner {
                return Err(Rejection::OwnerCannotLeave.into());
            }
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
        })
        .await
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
