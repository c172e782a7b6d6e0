//! Reactions: one row per message, emoji and user. Adding and taking one back are each a
//! transaction that locks the room, like every change of it, and appends an event with the
//! room's next seq; a repeat changes nothing and appends nothing.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::accounts::Profile;
use super::events::{EventKind, EventRow, EventView, NewEvent};
use super::message_changes::{find_message, lock_room_as_member, next_seq};
use super::schema::{events, memberships, reactions, rooms, users};
use super::{now_ms, with_conn, Db, Rejection, StoreError};
use crate::ids::{RoomId, Seq, UserId};

/// The most distinct emoji one message may carry: a bound on what history returns per
/// message and on what one member can pile onto another's message.
pub const MAX_DISTINCT: i64 = 20;

/// Adds (`on`) or takes back (`!on`) `by`'s `emoji` on the room's message. `Ok(None)` when
/// nothing changes (already there, or not there). Members only; a deleted message refuses.
pub async fn set(
    db: &Db,
    room: RoomId,
    message_id: i64,
    emoji: String,
    by: Profile,
    on: bool,
) -> Result<Option<EventView>, StoreError> {
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            lock_room_as_member!(conn, room, by.id);
            let message = find_message!(conn, room, message_id);
            if message.event.deleted_at.is_some() {
                return Err(Rejection::MessageDeleted.into());
            }
            let key = (message_id, emoji.as_str(), by.id);
            let changed = if on {
                diesel::insert_into(reactions::table)
                    .values((
                        reactions::message_id.eq(message_id),
                        reactions::emoji.eq(&emoji),
                        reactions::user_id.eq(by.id),
                        reactions::created_at.eq(now),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?
            } else {
                diesel::delete(reactions::table.find(key))
                    .execute(conn)
                    .await?
            };
            if changed == 0 {
                return Ok(None);
            }
            if on {
                // At most MAX_DISTINCT + 1 rows: the bound held before this insert.
                let distinct = reactions::table
                    .filter(reactions::message_id.eq(message_id))
                    .select(reactions::emoji)
                    .distinct()
                    .load::<String>(conn)
                    .await?;
                if i64::try_from(distinct.len()).unwrap_or(i64::MAX) > MAX_DISTINCT {
                    return Err(Rejection::TooManyReactions.into());
                }
            }
            let seq = next_seq!(conn, room);
            let event: EventRow = diesel::insert_into(events::table)
                .values(NewEvent {
                    room_id: room,
                    seq,
                    kind: if on {
                        EventKind::ReactionAdded
                    } else {
                        EventKind::ReactionRemoved
                    },
                    actor_id: by.id,
                    content: Some(emoji.clone()),
                    created_at: now,
                    target_id: Some(message_id),
                })
                .returning(EventRow::as_returning())
                .get_result(conn)
                .await?;
            Ok(Some(EventView { event, actor: by }))
        })
        .await
    })
}

/// Per message of `ids`: `(emoji, count, whether `me` is among them)`, from the reactions'
/// key (message, emoji, user): one grouped count and one look-up of the caller's own.
pub async fn counts(
    db: &Db,
    ids: Vec<i64>,
    me: UserId,
) -> Result<HashMap<i64, Vec<(String, i64, bool)>>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    with_conn!(db, readers, |conn| {
        let counted: Vec<(i64, String, i64)> = reactions::table
            .filter(reactions::message_id.eq_any(&ids))
            .group_by((reactions::message_id, reactions::emoji))
            .select((
                reactions::message_id,
                reactions::emoji,
                diesel::dsl::count_star(),
            ))
            .load(conn)
            .await?;
        let mine: HashSet<(i64, String)> = reactions::table
            .filter(reactions::message_id.eq_any(&ids))
            .filter(reactions::user_id.eq(me))
            .select((reactions::message_id, reactions::emoji))
            .load::<(i64, String)>(conn)
            .await?
            .into_iter()
            .collect();
        let mut out: HashMap<i64, Vec<(String, i64, bool)>> = HashMap::new();
        for (message, emoji, count) in counted {
            let me = mine.contains(&(message, emoji.clone()));
            out.entry(message).or_default().push((emoji, count, me));
        }
        for list in out.values_mut() {
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        }
        Ok(out)
    })
}
