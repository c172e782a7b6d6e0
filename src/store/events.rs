//! The per-room event log: every event has the room's next `seq`; messages are events too.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::{events, rooms, users};
use super::{now_ms, with_conn, Db, Rejection, StoreError};
use crate::store::schema::memberships;

pub const MESSAGE_CREATED: &str = "message.created";
pub const MEMBER_JOINED: &str = "member.joined";
pub const MEMBER_LEFT: &str = "member.left";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: i64,
    pub room_id: i64,
    pub seq: i64,
    pub kind: String,
    pub actor_id: i64,
    pub content: Option<String>,
    pub created_at: i64,
}

/// An event with its actor's name, ready to be shown.
#[derive(Debug, Clone)]
pub struct EventView {
    pub event: EventRow,
    pub actor_name: String,
}

#[derive(Insertable)]
#[diesel(table_name = events)]
pub(crate) struct NewEvent<'a> {
    pub room_id: i64,
    pub seq: i64,
    pub kind: &'a str,
    pub actor_id: i64,
    pub content: Option<&'a str>,
    pub created_at: i64,
}

/// Stores a message: takes the room's next seq (the room row lock orders concurrent senders),
/// checks membership after that lock so a concurrent leave cannot slip between, and inserts.
pub async fn append_message(
    db: &Db,
    room: i64,
    author: i64,
    content: &str,
) -> Result<EventRow, StoreError> {
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let seq: i64 = diesel::update(rooms::table.find(room))
                .set(rooms::last_seq.eq(rooms::last_seq + 1))
                .returning(rooms::last_seq)
                .get_result(conn)
                .await
                .optional()?
                .ok_or(Rejection::RoomNotFound)?;
            let member: bool =
                diesel::select(diesel::dsl::exists(memberships::table.find((room, author))))
                    .get_result(conn)
                    .await?;
            if !member {
                return Err(Rejection::NotAMember.into());
            }
            let row = diesel::insert_into(events::table)
                .values(NewEvent {
                    room_id: room,
                    seq,
                    kind: MESSAGE_CREATED,
                    actor_id: author,
                    content: Some(content),
                    created_at: now,
                })
                .returning(EventRow::as_returning())
                .get_result(conn)
                .await?;
            Ok(row)
        })
        .await
    })
}

/// Up to `limit` events with seq > `after`, in seq order (backfill and gap repair).
pub async fn after(
    db: &Db,
    room: i64,
    after: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<EventView>, StoreError> {
    let before = before.unwrap_or(i64::MAX);
    with_conn!(db, readers, |conn| {
        let rows: Vec<(EventRow, String)> = events::table
            .inner_join(users::table)
            .filter(events::room_id.eq(room))
            .filter(events::seq.gt(after))
            .filter(events::seq.lt(before))
            .order(events::seq.asc())
            .limit(limit)
            .select((EventRow::as_select(), users::username))
            .load(conn)
            .await?;
        Ok(into_views(rows))
    })
}

/// A page of messages in seq order: the first `limit` after `after`, or else the last `limit`
/// before `before` (the newest when neither is given).
pub async fn messages(
    db: &Db,
    room: i64,
    after: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<EventView>, StoreError> {
    with_conn!(db, readers, |conn| {
        let mut query = events::table
            .inner_join(users::table)
            .filter(events::room_id.eq(room))
            .filter(events::kind.eq(MESSAGE_CREATED))
            .select((EventRow::as_select(), users::username))
            .limit(limit)
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(events::seq.lt(before));
        }
        let rows: Vec<(EventRow, String)> = match after {
            Some(after) => {
                query
                    .filter(events::seq.gt(after))
                    .order(events::seq.asc())
                    .load(conn)
                    .await?
            }
            None => {
                let mut rows: Vec<(EventRow, String)> =
                    query.order(events::seq.desc()).load(conn).await?;
                rows.reverse();
                rows
            }
        };
        Ok(into_views(rows))
    })
}

fn into_views(rows: Vec<(EventRow, String)>) -> Vec<EventView> {
    rows.into_iter()
        .map(|(event, actor_name)| EventView { event, actor_name })
        .collect()
}
