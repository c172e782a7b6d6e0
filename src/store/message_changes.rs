//! Edits and deletions of stored messages. A message is its `message.created` event row; a
//! change rewrites that row and appends an event of its own with the room's next seq, in one
//! transaction that first locks the room (the same row every send and join bumps), so the
//! checks below hold until commit.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::accounts::Profile;
use super::events::{EventKind, EventRow, EventView, KeyInsert, NewEvent};
use super::schema::{events, idempotency_keys, memberships, reactions, rooms, users};
use super::{now_ms, with_conn, Db, Rejection, StoreError};
use crate::ids::{RoomId, Seq, UserId};

/// What a deletion leaves in `idempotency_keys.request_hash` of the keys that stored the
/// message or an edit of it: the digest of a short text can be guessed back, so it goes too.
/// A retry under such a key matches whatever its body and replays the tombstone.
pub const ERASED: &str = "erased";

/// The room's message `$id` (a `message.created` event of that room) with its author, or
/// `MessageNotFound`. Macros rather than functions: the same text for both connection types.
macro_rules! find_message {
    ($conn:expr, $room:expr, $id:expr) => {{
        let found: Option<(EventRow, Profile)> = events::table
            .inner_join(users::table)
            .filter(events::id.eq($id))
            .filter(events::room_id.eq($room))
            .filter(events::kind.eq(EventKind::MessageCreated))
            .select((EventRow::as_select(), Profile::as_select()))
            .first($conn)
            .await
            .optional()?;
        let (event, actor) = found.ok_or(Rejection::MessageNotFound)?;
        EventView { event, actor }
    }};
}

/// Locks the room (a concurrent change, send or leave waits for this commit) and checks that
/// `$user` is a member; gives the room's owner. `RoomNotFound` or `NotAMember` otherwise.
macro_rules! lock_room_as_member {
    ($conn:expr, $room:expr, $user:expr) => {{
        let owner: UserId = diesel::update(rooms::table.find($room))
            .set(rooms::last_seq.eq(rooms::last_seq))
            .returning(rooms::owner_id)
            .get_result($conn)
            .await
            .optional()?
            .ok_or(Rejection::RoomNotFound)?;
        let member: bool =
            diesel::select(diesel::dsl::exists(memberships::table.find(($room, $user))))
                .get_result($conn)
                .await?;
        if !member {
            return Err(Rejection::NotAMember.into());
        }
        owner
    }};
}

/// Takes the room's next seq (the room is locked already).
macro_rules! next_seq {
    ($conn:expr, $room:expr) => {{
        let seq: Seq = diesel::update(rooms::table.find($room))
            .set(rooms::last_seq.eq(rooms::last_seq + 1))
            .returning(rooms::last_seq)
            .get_result($conn)
            .await?;
        seq
    }};
}

pub(super) use {find_message, lock_room_as_member, next_seq};

/// One committed change: its event (with who made it) and the message as it is now.
pub struct Change {
    pub event: EventView,
    pub message: EventView,
}

pub enum Edited {
    New(Change),
    /// An earlier edit under the same Idempotency-Key; the message as it is now.
    Replayed(EventView),
}

pub struct Edit {
    pub room: RoomId,
    pub message_id: i64,
    pub editor: Profile,
    /// Already validated and trimmed.
    pub content: String,
    /// `(Idempotency-Key, digest of the request)`.
    pub key: Option<(String, String)>,
}

/// Rewrites the message's content as its author. Members only.
pub async fn edit(db: &Db, edit: Edit) -> Result<Edited, StoreError> {
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let Edit {
                room,
                message_id,
                editor,
                content,
                key,
            } = &edit;
            lock_room_as_member!(conn, room, editor.id);
            if let Some((key, hash)) = key {
                let stored: Option<(String, Option<i64>)> = idempotency_keys::table
                    .find((editor.id, room, key))
                    .select((idempotency_keys::request_hash, idempotency_keys::event_id))
                    .first(conn)
                    .await
                    .optional()?;
                if let Some((stored_hash, event)) = stored {
                    if stored_hash != *hash && stored_hash != ERASED {
                        return Err(Rejection::IdempotencyKeyReused.into());
                    }
                    // The edit event names its message; a send's key names the message itself.
                    let target: Option<Option<i64>> = events::table
                        .find(event.ok_or(Rejection::MessageNotFound)?)
                        .select(events::target_id)
                        .first(conn)
                        .await
                        .optional()?;
                    let target = target.flatten().ok_or(Rejection::IdempotencyKeyReused)?;
                    let (event, actor) = events::table
                        .inner_join(users::table)
                        .filter(events::id.eq(target))
                        .select((EventRow::as_select(), Profile::as_select()))
                        .first::<(EventRow, Profile)>(conn)
                        .await?;
                    return Ok(Edited::Replayed(EventView { event, actor }));
                }
            }
            let message = find_message!(conn, *room, *message_id);
            if message.event.actor_id != editor.id {
                return Err(Rejection::NotAuthor.into());
            }
            if message.event.deleted_at.is_some() {
                return Err(Rejection::MessageDeleted.into());
            }
            let seq = next_seq!(conn, *room);
            let updated: EventRow = diesel::update(events::table.find(message_id))
                .set((
                    events::content.eq(Some(content.as_str())),
                    events::edited_at.eq(Some(now)),
                ))
                .returning(EventRow::as_returning())
                .get_result(conn)
                .await?;
            let event: EventRow = diesel::insert_into(events::table)
                .values(NewEvent {
                    room_id: *room,
                    seq,
                    kind: EventKind::MessageUpdated,
                    actor_id: editor.id,
                    content: Some(content.clone()),
                    created_at: now,
                    target_id: Some(*message_id),
                })
                .returning(EventRow::as_returning())
                .get_result(conn)
                .await?;
            if let Some((key, hash)) = key {
                diesel::insert_into(idempotency_keys::table)
                    .values(KeyInsert {
                        user_id: editor.id,
                        room_id: *room,
                        idem_key: key.clone(),
                        request_hash: hash.clone(),
                        event_id: Some(event.id),
                        created_at: now,
                    })
                    .execute(conn)
                    .await?;
            }
            Ok(Edited::New(Change {
                event: EventView {
                    event,
                    actor: editor.clone(),
                },
                message: EventView {
                    event: updated,
                    actor: message.actor,
                },
            }))
        })
        .await
    })
}

/// Deletes the message, by its author or the room's owner (members only): its content and
/// the content of its edits are erased, not hidden. `Ok(None)` when it was deleted already.
pub async fn delete(
    db: &Db,
    room: RoomId,
    message_id: i64,
    by: Profile,
) -> Result<Option<Change>, StoreError> {
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let owner = lock_room_as_member!(conn, room, by.id);
            let message = find_message!(conn, room, message_id);
            if message.event.actor_id != by.id && owner != by.id {
                return Err(Rejection::NotAuthor.into());
            }
            if message.event.deleted_at.is_some() {
                return Ok(None);
            }
            let seq = next_seq!(conn, room);
            let erased: EventRow = diesel::update(events::table.find(message_id))
                .set((
                    events::content.eq(None::<String>),
                    events::deleted_at.eq(Some(now)),
                ))
                .returning(EventRow::as_returning())
                .get_result(conn)
                .await?;
            super::reads::forget_message!(conn, room, message.event.seq, message.event.actor_id);
            diesel::delete(reactions::table.filter(reactions::message_id.eq(message_id)))
                .execute(conn)
                .await?;
            // The text of its edits; a reaction event's content is an emoji, not the text.
            diesel::update(
                events::table
                    .filter(events::target_id.eq(message_id))
                    .filter(events::kind.eq(EventKind::MessageUpdated)),
            )
            .set(events::content.eq(None::<String>))
            .execute(conn)
            .await?;
            let edits = events::table
                .filter(events::target_id.eq(message_id))
                .select(events::id.nullable());
            diesel::update(
                idempotency_keys::table.filter(
                    idempotency_keys::event_id
                        .eq(message_id)
                        .or(idempotency_keys::event_id.eq_any(edits)),
                ),
            )
            .set(idempotency_keys::request_hash.eq(ERASED))
            .execute(conn)
            .await?;
            let event: EventRow = diesel::insert_into(events::table)
                .values(NewEvent {
                    room_id: room,
                    seq,
                    kind: EventKind::MessageDeleted,
                    actor_id: by.id,
                    content: None,
                    created_at: now,
                    target_id: Some(message_id),
                })
                .returning(EventRow::as_returning())
                .get_result(conn)
                .await?;
            Ok(Some(Change {
                event: EventView { event, actor: by },
                message: EventView {
                    event: erased,
                    actor: message.actor,
                },
            }))
        })
        .await
    })
}
