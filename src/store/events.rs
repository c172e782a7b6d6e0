//! The per-room event log: every event has the room's next `seq`; messages are events too.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;

use super::accounts::Profile;
use super::schema::{events, idempotency_keys, users};
use super::{with_conn, Db, Rejection, StoreError};
use crate::ids::{RoomId, Seq, UserId};

/// What a stored event records. Stored as its wire name (`events.kind` is TEXT), the same
/// string clients see as the frame's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum EventKind {
    MessageCreated,
    MemberJoined,
    MemberLeft,
    /// `target_id` names the message, `content` holds its new text (erased by a deletion).
    MessageUpdated,
    /// `target_id` names the message; `actor_id` is who deleted it.
    MessageDeleted,
    /// `target_id` names the message, `content` holds the emoji, `actor_id` who reacted.
    ReactionAdded,
    /// As `ReactionAdded`, for taking the reaction back.
    ReactionRemoved,
}

impl EventKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageCreated => "message.created",
            EventKind::MemberJoined => "member.joined",
            EventKind::MemberLeft => "member.left",
            EventKind::MessageUpdated => "message.updated",
            EventKind::MessageDeleted => "message.deleted",
            EventKind::ReactionAdded => "reaction.added",
            EventKind::ReactionRemoved => "reaction.removed",
        }
    }

    /// Every kind, for parsing and for tests.
    pub const ALL: [EventKind; 7] = [
        EventKind::MessageCreated,
        EventKind::MemberJoined,
        EventKind::MemberLeft,
        EventKind::MessageUpdated,
        EventKind::MessageDeleted,
        EventKind::ReactionAdded,
        EventKind::ReactionRemoved,
    ];

    fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl<DB: Backend> ToSql<Text, DB> for EventKind
where
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

/// An unknown stored kind is an error, not a guess: every writer goes through `EventKind`.
impl<DB: Backend> FromSql<Text, DB> for EventKind
where
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let s = String::from_sql(bytes)?;
        EventKind::parse(&s).ok_or_else(|| format!("unknown event kind {s:?}").into())
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: i64,
    pub room_id: RoomId,
    pub seq: Seq,
    pub kind: EventKind,
    pub actor_id: UserId,
    pub content: Option<String>,
    pub created_at: i64,
    /// For an edit or a deletion: the message (its `message.created` event's id).
    pub target_id: Option<i64>,
    /// For a message: when it was last edited.
    pub edited_at: Option<i64>,
    /// For a message: when it was deleted (its content is gone then).
    pub deleted_at: Option<i64>,
}

/// An event with its actor, ready to be shown.
#[derive(Debug, Clone)]
pub struct EventView {
    pub event: EventRow,
    pub actor: Profile,
}

/// An event to insert: joins and leaves one at a time, messages in batches (`group_commit`).
// None is NULL, never DEFAULT: SQLite's multi-row INSERT has no DEFAULT keyword.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub struct NewEvent {
    pub room_id: RoomId,
    pub seq: Seq,
    pub kind: EventKind,
    pub actor_id: UserId,
    pub content: Option<String>,
    pub created_at: i64,
    pub target_id: Option<i64>,
}

/// An Idempotency-Key to store with the event it made.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = idempotency_keys, treat_none_as_default_value = false)]
pub struct KeyInsert {
    pub user_id: UserId,
    pub room_id: RoomId,
    pub idem_key: String,
    pub request_hash: String,
    pub event_id: Option<i64>,
    pub created_at: i64,
}

/// Removes keys older than `cutoff`; returns how many.
pub async fn purge_idempotency_keys(db: &Db, cutoff: i64) -> Result<usize, StoreError> {
    with_conn!(db, writer, |conn| {
        Ok(
            diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(cutoff)))
                .execute(conn)
                .await?,
        )
    })
}

/// A foreign-key failure on `room_id` means the room does not exist.
pub(crate) fn room_must_exist(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            Rejection::RoomNotFound.into()
        }
        e => StoreError::from(e),
    }
}

/// Up to `limit` events with seq > `after`, in seq order (backfill and gap repair).
pub async fn after(
    db: &Db,
    room: RoomId,
    after: Seq,
    before: Option<Seq>,
    limit: i64,
) -> Result<Vec<EventView>, StoreError> {
    let before = before.unwrap_or(Seq(i64::MAX));
    with_conn!(db, readers, |conn| {
        let rows: Vec<(EventRow, Profile)> = events::table
            .inner_join(users::table)
            .filter(events::room_id.eq(room))
            .filter(events::seq.gt(after))
            .filter(events::seq.lt(before))
            .order(events::seq.asc())
            .limit(limit)
            .select((EventRow::as_select(), Profile::as_select()))
            .load(conn)
            .await?;
        Ok(into_views(rows))
    })
}

/// A page of messages in seq order: the first `limit` after `after`, or else the last `limit`
/// before `before` (the newest when neither is given).
pub async fn messages(
    db: &Db,
    room: RoomId,
    after: Option<Seq>,
    before: Option<Seq>,
    limit: i64,
) -> Result<Vec<EventView>, StoreError> {
    Ok(page(db, room, true, after, before, limit).await?.events)
}

/// A page of the room's events, ascending by seq, with whether the room holds events on
/// either side of it.
#[derive(Debug)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// An event with a smaller seq than the page's first exists.
    pub older: bool,
    /// An event with a greater seq than the page's last exists.
    pub newer: bool,
}

/// A page in seq order, of every event or (`only_messages`) of `message.created` ones: the
/// first `limit` after `after`, or else the last `limit` before `before` (the newest when
/// neither is given). `older`/`newer` look at every event of the room, never past the page's
/// own bounds: an empty page has neither.
pub async fn page(
    db: &Db,
    room: RoomId,
    only_messages: bool,
    after: Option<Seq>,
    before: Option<Seq>,
    limit: i64,
) -> Result<EventPage, StoreError> {
    with_conn!(db, readers, |conn| {
        let mut query = events::table
            .inner_join(users::table)
            .filter(events::room_id.eq(room))
            .select((EventRow::as_select(), Profile::as_select()))
            .limit(limit)
            .into_boxed();
        if only_messages {
            query = query.filter(events::kind.eq(EventKind::MessageCreated));
        }
        if let Some(before) = before {
            query = query.filter(events::seq.lt(before));
        }
        let rows: Vec<(EventRow, Profile)> = match after {
            Some(after) => {
                query
                    .filter(events::seq.gt(after))
                    .order(events::seq.asc())
                    .load(conn)
                    .await?
            }
            None => {
                let mut rows: Vec<(EventRow, Profile)> =
                    query.order(events::seq.desc()).load(conn).await?;
                rows.reverse();
                rows
            }
        };
        let bounds = <[_]>::first(&rows)
            .zip(<[_]>::last(&rows))
            .map(|(f, l)| (f.0.seq, l.0.seq));
        let (older, newer) = match bounds {
            // Two probes of the (room_id, seq) index; messages-only pages do not need them.
            Some((first, last)) if !only_messages => {
                let older: bool = diesel::select(diesel::dsl::exists(
                    events::table
                        .filter(events::room_id.eq(room))
                        .filter(events::seq.lt(first)),
                ))
                .get_result(conn)
                .await?;
                let newer: bool = diesel::select(diesel::dsl::exists(
                    events::table
                        .filter(events::room_id.eq(room))
                        .filter(events::seq.gt(last)),
                ))
                .get_result(conn)
                .await?;
                (older, newer)
            }
            _ => (false, false),
        };
        Ok(EventPage {
            events: into_views(rows),
            older,
            newer,
        })
    })
}

fn into_views(rows: Vec<(EventRow, Profile)>) -> Vec<EventView> {
    rows.into_iter()
        .map(|(event, actor)| EventView { event, actor })
        .collect()
}
