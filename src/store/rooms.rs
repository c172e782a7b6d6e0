//! Rooms: creation (owner seated, seq 1), listing, deletion.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::accounts::Profile;
use super::events::{EventKind, EventRow, NewEvent};
use super::reads::ReadRow;
use std::collections::HashMap;

use super::schema::{dm_pairs, events, memberships, rooms, users};
use super::{now_ms, with_conn, Db, Rejection, StoreError};
use crate::ids::{RoomId, Seq, UserId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rooms)]
pub struct RoomRow {
    pub id: RoomId,
    pub name: String,
    pub owner_id: UserId,
    pub capacity: i32,
    pub member_count: i32,
    pub last_seq: Seq,
    pub created_at: i64,
    /// Shown only to its members (a DM always is).
    pub is_private: bool,
    /// A direct message: two members, fixed.
    pub is_dm: bool,
    /// Live messages (not deleted): the base of unread counts.
    pub message_count: i64,
}

/// A room as one viewer sees it.
#[derive(Debug, Clone)]
pub struct RoomView {
    pub room: RoomRow,
    pub owner: Profile,
    pub joined: bool,
    /// A DM's other member, from the viewer's side (None for rooms).
    pub peer: Option<Profile>,
    /// The viewer's marker and counters, when a member.
    pub read: Option<ReadRow>,
}

/// What the rules need to know about a room and one user, in one read.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub is_private: bool,
    pub is_dm: bool,
    pub owner: UserId,
    /// Whether the user is a member.
    pub member: bool,
}

/// Who is looking at rooms.
#[derive(Debug, Clone, Copy)]
pub enum Viewer {
    /// A user: private rooms only if a member.
    User(UserId),
    /// An operator at the console: every room (`joined` is false).
    Operator,
}

/// Creates the room with its owner as the first member; the owner's join is event seq 1.
pub async fn create(
    db: &Db,
    owner: UserId,
    name: &str,
    capacity: i32,
    is_private: bool,
) -> Result<(RoomRow, EventRow), StoreError> {
    let now = now_ms();
    let name = name.to_owned();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let room = diesel::insert_into(rooms::table)
                .values((
                    rooms::name.eq(&name),
                    rooms::owner_id.eq(owner),
                    rooms::capacity.eq(capacity),
                    rooms::member_count.eq(1),
                    rooms::last_seq.eq(Seq(1)),
                    rooms::created_at.eq(now),
                    rooms::is_private.eq(is_private),
                ))
                .returning(RoomRow::as_returning())
                .get_result(conn)
                .await?;
            diesel::insert_into(memberships::table)
                .values((
                    memberships::room_id.eq(room.id),
                    memberships::user_id.eq(owner),
                    memberships::joined_at.eq(now),
                    // The owner's join is seq 1, and read.
                    memberships::last_read_seq.eq(Seq(1)),
                ))
                .execute(conn)
                .await?;
            let event = diesel::insert_into(events::table)
                .values(NewEvent {
                    room_id: room.id,
                    seq: Seq(1),
                    kind: EventKind::MemberJoined,
                    actor_id: owner,
                    content: None,
                    created_at: now,
                    target_id: None,
                })
                .returning(EventRow::as_returning())
                .get_result(conn)
                .await?;
            Ok((room, event))
        })
        .await
    })
}

/// A room, its owner, and the viewer's `(last_read_seq, read_count, own_after_read)` if a
/// member.
type ViewRow = (RoomRow, Profile, Option<(Seq, i64, i64)>);

/// All rooms `viewer` may see, or one (`only`), with the owner's name and whether `viewer` is
/// a member. A private room is seen only by its members (and operators): for anyone else it
/// is not there at all.
pub async fn views(
    db: &Db,
    viewer: Viewer,
    only: Option<RoomId>,
) -> Result<Vec<RoomView>, StoreError> {
    let (viewer, everything) = match viewer {
        // Nobody has id 0.
        Viewer::Operator => (UserId(0), true),
        Viewer::User(id) => (id, false),
    };
    with_conn!(db, readers, |conn| {
        let mut query = rooms::table
            .inner_join(users::table)
            .left_join(
                memberships::table.on(memberships::room_id
                    .eq(rooms::id)
                    .and(memberships::user_id.eq(viewer))),
            )
            .select((
                RoomRow::as_select(),
                Profile::as_select(),
                (
                    memberships::last_read_seq,
                    memberships::read_count,
                    memberships::own_after_read,
                )
                    .nullable(),
            ))
            .order(rooms::id.asc())
            .into_boxed();
        if let Some(id) = only {
            query = query.filter(rooms::id.eq(id));
        }
        if !everything {
            query = query.filter(
                rooms::is_private
                    .eq(false)
                    .or(memberships::user_id.nullable().is_not_null()),
            );
        }
        let rows: Vec<ViewRow> = query.load(conn).await?;
        // A DM's peer: the pair's other user, from the viewer's side (none for operators).
        let dms: Vec<RoomId> = rows
            .iter()
            .filter(|(room, _, _)| room.is_dm && !everything)
            .map(|(room, _, _)| room.id)
            .collect();
        let mut peers: HashMap<RoomId, Profile> = HashMap::new();
        if !dms.is_empty() {
            let pairs: Vec<(RoomId, UserId, UserId)> = dm_pairs::table
                .filter(dm_pairs::room_id.eq_any(dms))
                .select((dm_pairs::room_id, dm_pairs::low_id, dm_pairs::high_id))
                .load(conn)
                .await?;
            let others: HashMap<UserId, RoomId> = pairs
                .into_iter()
                .map(|(room, low, high)| (if low == viewer { high } else { low }, room))
                .collect();
            let profiles: Vec<Profile> = users::table
                .filter(users::id.eq_any(others.keys().copied().collect::<Vec<_>>()))
                .select(Profile::as_select())
                .load(conn)
                .await?;
            for p in profiles {
                if let Some(room) = others.get(&p.id) {
                    peers.insert(*room, p);
                }
            }
        }
        Ok(rows
            .into_iter()
            .map(|(room, owner, read)| RoomView {
                peer: peers.remove(&room.id),
                room,
                owner,
                joined: read.is_some(),
                read: read.map(|(last_read_seq, read_count, own_after_read)| ReadRow {
                    last_read_seq,
                    read_count,
                    own_after_read,
                }),
            })
            .collect())
    })
}

/// Deletes the room (memberships and events go with it) if `owner` owns it (`None`: whoever
/// owns it, for an admin). Returns the last seq the room had, so the deletion event can take
/// the next one.
pub async fn delete(db: &Db, room: RoomId, owner: Option<UserId>) -> Result<Seq, StoreError> {
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            // An admin deletes whoever owns it (the room's owner, read in this transaction).
            let owner = match owner {
                Some(owner) => owner,
                None => rooms::table
                    .find(room)
                    .select(rooms::owner_id)
                    .first(conn)
                    .await
                    .optional()?
                    .ok_or(Rejection::RoomNotFound)?,
            };
            // Only the owner may delete: the condition is part of the DELETE itself.
            let deleted: Option<Seq> =
                diesel::delete(rooms::table.find(room).filter(rooms::owner_id.eq(owner)))
                    .returning(rooms::last_seq)
                    .get_result(conn)
                    .await
                    .optional()?;
            match deleted {
                Some(last_seq) => Ok(last_seq),
                None => {
                    let exists: bool = diesel::select(diesel::dsl::exists(rooms::table.find(room)))
                        .get_result(conn)
                        .await?;
                    Err(if exists {
                        Rejection::NotOwner
                    } else {
                        Rejection::RoomNotFound
                    }
                    .into())
                }
            }
        })
        .await
    })
}

/// The room's kind and owner, and whether `user` is a member; None if there is no such room.
pub async fn access(db: &Db, room: RoomId, user: UserId) -> Result<Option<Access>, StoreError> {
    with_conn!(db, readers, |conn| {
        let row: Option<(bool, bool, UserId, bool)> = rooms::table
            .left_join(
                memberships::table.on(memberships::room_id
                    .eq(rooms::id)
                    .and(memberships::user_id.eq(user))),
            )
            .filter(rooms::id.eq(room))
            .select((
                rooms::is_private,
                rooms::is_dm,
                rooms::owner_id,
                memberships::user_id.nullable().is_not_null(),
            ))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(|(is_private, is_dm, owner, member)| Access {
            is_private,
            is_dm,
            owner,
            member,
        }))
    })
}

/// The room's current last seq, or None if there is no such room.
pub async fn last_seq(db: &Db, room: RoomId) -> Result<Option<Seq>, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(rooms::table
            .find(room)
            .select(rooms::last_seq)
            .first(conn)
            .await
            .optional()?)
    })
}

/// The last seq of each of `ids` that still exists (the position check: one query for every
/// room with sockets on this instance).
pub async fn last_seqs(db: &Db, ids: &[RoomId]) -> Result<Vec<(RoomId, Seq)>, StoreError> {
    let ids = ids.to_vec();
    with_conn!(db, readers, |conn| {
        Ok(rooms::table
            .filter(rooms::id.eq_any(ids))
            .select((rooms::id, rooms::last_seq))
            .load(conn)
            .await?)
    })
}
