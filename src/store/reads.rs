//! Read markers and unread counts, kept exact by counters (migration `read_markers`):
//! `rooms.message_count` (live messages), and per membership `last_read_seq`, `read_count`
//! (live messages up to the marker) and `own_after_read` (the member's own live messages after
//! it). Unread is `message_count - read_count - own_after_read`: live messages by others after
//! the marker, read from one row of each table, never by counting events.
//!
//! Every writer of these counters locks the room's row first (sends, deletions, markers), so
//! a marker's count of the messages it passes cannot race a deletion or a send.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::events::EventKind;
use super::message_changes::lock_room_as_member;
use super::schema::{events, memberships, rooms};
use super::{with_conn, Db, Rejection, StoreError};
use crate::ids::{RoomId, Seq, UserId};

/// A member's counters, as `memberships` holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = memberships)]
pub struct ReadRow {
    pub last_read_seq: Seq,
    pub read_count: i64,
    pub own_after_read: i64,
}

impl ReadRow {
    /// Live messages by others after the marker, given the room's live message count.
    pub fn unread(&self, message_count: i64) -> i64 {
        message_count - self.read_count - self.own_after_read
    }
}

/// A member's marker and unread count in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadState {
    pub room_id: RoomId,
    pub last_read_seq: Seq,
    pub unread: i64,
}

/// Moves `user`'s marker in `room` to `seq`, clamped to the room's last seq; a seq at or below
/// the marker changes nothing. Members only. Returns the state after, and whether it moved.
pub async fn mark(
    db: &Db,
    room: RoomId,
    user: UserId,
    seq: Seq,
) -> Result<(ReadState, bool), StoreError> {
    // A marker at or past `seq` (a client repeating itself) is answered from a reader, without
    // the writer or the room's lock.
    if let Some(state) = unchanged(db, room, user, seq).await? {
        return Ok((state, false));
    }
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            lock_room_as_member!(conn, room, user);
            let (last_seq, message_count): (Seq, i64) = rooms::table
                .find(room)
                .select((rooms::last_seq, rooms::message_count))
                .first(conn)
                .await
                .optional()?
                .ok_or(Rejection::RoomNotFound)?;
            let mut row: ReadRow = memberships::table
                .find((room, user))
                .select(ReadRow::as_select())
                .first(conn)
                .await?;
            let target = seq.min(last_seq);
            let moved = target > row.last_read_seq;
            if moved {
                // Only the messages the marker passes are counted: over a member's life each
                // message is counted once, however the marker moves.
                let passed = events::table
                    .filter(events::room_id.eq(room))
                    .filter(events::seq.gt(row.last_read_seq))
                    .filter(events::seq.le(target))
                    .filter(events::kind.eq(EventKind::MessageCreated))
                    .filter(events::deleted_at.is_null());
                let all: i64 = passed.count().get_result(conn).await?;
                let own: i64 = passed
                    .filter(events::actor_id.eq(user))
                    .count()
                    .get_result(conn)
                    .await?;
                row = diesel::update(memberships::table.find((room, user)))
                    .set((
                        memberships::last_read_seq.eq(target),
                        memberships::read_count.eq(memberships::read_count + all),
                        memberships::own_after_read.eq(memberships::own_after_read - own),
                    ))
                    .returning(ReadRow::as_returning())
                    .get_result(conn)
                    .await?;
            }
            Ok((
                ReadState {
                    room_id: room,
                    last_read_seq: row.last_read_seq,
                    unread: row.unread(message_count),
                },
                moved,
            ))
        })
        .await
    })
}

/// The member's state if `seq` would not move their marker; None otherwise (or when not a
/// member: the writer's path gives the refusal).
async fn unchanged(
    db: &Db,
    room: RoomId,
    user: UserId,
    seq: Seq,
) -> Result<Option<ReadState>, StoreError> {
    with_conn!(db, readers, |conn| {
        let found: Option<(ReadRow, i64)> = memberships::table
            .inner_join(rooms::table)
            .filter(memberships::room_id.eq(room))
            .filter(memberships::user_id.eq(user))
            .select((ReadRow::as_select(), rooms::message_count))
            .first(conn)
            .await
            .optional()?;
        Ok(found
            .filter(|(row, _)| seq <= row.last_read_seq)
            .map(|(row, messages)| ReadState {
                room_id: room,
                last_read_seq: row.last_read_seq,
                unread: row.unread(messages),
            }))
    })
}

/// Inside a deletion's transaction (the room locked): takes the live message `$seq` by
/// `$author` out of the counters that hold it. A macro: typed once per backend.
macro_rules! forget_message {
    ($conn:expr, $room:expr, $seq:expr, $author:expr) => {{
        let (room, seq, author) = ($room, $seq, $author);
        diesel::update(rooms::table.find(room))
            .set(rooms::message_count.eq(rooms::message_count - 1))
            .execute($conn)
            .await?;
        // Members whose marker passed it counted it as read (up to a room's capacity of rows;
        // deletions are rare next to sends, which never touch other members' rows).
        diesel::update(
            memberships::table
                .filter(memberships::room_id.eq(room))
                .filter(memberships::last_read_seq.ge(seq)),
        )
        .set(memberships::read_count.eq(memberships::read_count - 1))
        .execute($conn)
        .await?;
        diesel::update(
            memberships::table
                .find((room, author))
                .filter(memberships::last_read_seq.lt(seq)),
        )
        .set(memberships::own_after_read.eq(memberships::own_after_read - 1))
        .execute($conn)
        .await?;
    }};
}

pub(super) use forget_message;
