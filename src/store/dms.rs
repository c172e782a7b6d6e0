//! Direct messages: one private room of two per unordered pair of users, created atomically.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::events::{EventKind, NewEvent};
use super::schema::{dm_pairs, events, memberships, rooms};
use super::{now_ms, with_conn, Db, StoreError};
use crate::ids::{RoomId, Seq, UserId};

/// A DM's name, for whoever reads `rooms` directly (clients show the peer instead).
pub const DM_NAME: &str = "direct message";

/// What `open` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Created(RoomId),
    Existing(RoomId),
}

/// The DM of `me` and `peer` (two different users): the existing one, or a new private room
/// of capacity 2 with both seated (`member.joined` seq 1 for `me`, seq 2 for `peer`). The
/// pair's primary key decides a race: of two concurrent creations (from either side) the
/// second meets the key, its whole transaction (room, seats, events) rolls back, and it
/// answers the first's room.
pub async fn open(db: &Db, me: UserId, peer: UserId) -> Result<Opened, StoreError> {
    let (low, high) = if me.0 < peer.0 {
        (me, peer)
    } else {
        (peer, me)
    };
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        let existing = dm_pairs::table
            .find((low, high))
            .select(dm_pairs::room_id)
            .first::<RoomId>(conn)
            .await
            .optional()?;
        if let Some(room) = existing {
            return Ok(Opened::Existing(room));
        }
        let created = conn
            .transaction(async |conn| {
                let room: RoomId = diesel::insert_into(rooms::table)
                    .values((
                        rooms::name.eq(DM_NAME),
                        rooms::owner_id.eq(me),
                        rooms::capacity.eq(2),
                        rooms::member_count.eq(2),
                        rooms::last_seq.eq(Seq(2)),
                        rooms::created_at.eq(now),
                        rooms::is_private.eq(true),
                        rooms::is_dm.eq(true),
                    ))
                    .returning(rooms::id)
                    .get_result(conn)
                    .await?;
                for (seq, user) in [(Seq(1), me), (Seq(2), peer)] {
                    diesel::insert_into(memberships::table)
                        .values((
                            memberships::room_id.eq(room),
                            memberships::user_id.eq(user),
                            memberships::joined_at.eq(now),
                        ))
                        .execute(conn)
                        .await?;
                    diesel::insert_into(events::table)
                        .values(NewEvent {
                            room_id: room,
                            seq,
                            kind: EventKind::MemberJoined,
                            actor_id: user,
                            content: None,
                            created_at: now,
                            target_id: None,
                        })
                        .execute(conn)
                        .await?;
                }
                diesel::insert_into(dm_pairs::table)
                    .values((
                        dm_pairs::low_id.eq(low),
                        dm_pairs::high_id.eq(high),
                        dm_pairs::room_id.eq(room),
                    ))
                    .execute(conn)
                    .await?;
                Ok::<_, StoreError>(room)
            })
            .await;
        match created {
            Ok(room) => Ok(Opened::Created(room)),
            // Another creation of this pair committed first: its room is the DM.
            Err(StoreError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _,
            ))) => {
                let room = dm_pairs::table
                    .find((low, high))
                    .select(dm_pairs::room_id)
                    .first::<RoomId>(conn)
                    .await?;
                Ok(Opened::Existing(room))
            }
            Err(e) => Err(e),
        }
    })
}
