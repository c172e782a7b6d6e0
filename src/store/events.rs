//! The per-room event log: every event has the room's next `seq`; messages are events too.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::accounts::Profile;
use super::schema::{events, idempotency_keys, rooms, users};
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

/// An event with its actor, ready to be shown.
#[derive(Debug, Clone)]
pub struct EventView {
    pub event: EventRow,
    pub actor: Profile,
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

/// An `Idempotency-Key` with a digest of the request it came with.
pub struct IdemKey<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
}

/// What a send did.
pub enum Sent {
    /// Stored now.
    New(EventRow),
    /// Stored earlier under the same Idempotency-Key; nothing new was written.
    Replayed(EventView),
}

/// Stores a message: takes the room's next seq (the room row lock orders concurrent senders),
/// checks membership after that lock so a concurrent leave cannot slip between, and inserts.
///
/// With a key, the key row is claimed first: a concurrent request with the same key blocks on
/// its primary key until this transaction ends, then finds the committed result and replays it.
pub async fn append_message(
    db: &Db,
    room: i64,
    author: i64,
    content: &str,
    idem: Option<IdemKey<'_>>,
) -> Result<Sent, StoreError> {
    let now = now_ms();
    with_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            if let Some(k) = &idem {
                let claimed = diesel::insert_into(idempotency_keys::table)
                    .values((
                        idempotency_keys::user_id.eq(author),
                        idempotency_keys::room_id.eq(room),
                        idempotency_keys::idem_key.eq(k.key),
                        idempotency_keys::request_hash.eq(k.request_hash),
                        idempotency_keys::created_at.eq(now),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await
                    .map_err(room_must_exist)?;
                if claimed == 0 {
                    let (hash, event_id): (String, Option<i64>) = idempotency_keys::table
                        .find((author, room, k.key))
                        .select((idempotency_keys::request_hash, idempotency_keys::event_id))
                        .first(conn)
                        .await?;
                    if hash != k.request_hash {
                        return Err(Rejection::IdempotencyKeyReused.into());
                    }
                    // A committed key row always names its event (set in the same transaction).
                    let event_id = event_id.ok_or(Rejection::IdempotencyKeyReused)?;
                    let (event, actor) = events::table
                        .inner_join(users::table)
                        .filter(events::id.eq(event_id))
                        .select((EventRow::as_select(), Profile::as_select()))
                        .first(conn)
                        .await?;
                    return Ok(Sent::Replayed(EventView { event, actor }));
                }
            }
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
            if let Some(k) = &idem {
                diesel::update(idempotency_keys::table.find((author, room, k.key)))
                    .set(idempotency_keys::event_id.eq(row.id))
                    .execute(conn)
                    .await?;
            }
            Ok(Sent::New(row))
        })
        .await
    })
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
    room: i64,
    after: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<EventView>, StoreError> {
    let before = before.unwrap_or(i64::MAX);
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
            .select((EventRow::as_select(), Profile::as_select()))
            .limit(limit)
            .into_boxed();
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
        Ok(into_views(rows))
    })
}

fn into_views(rows: Vec<(EventRow, Profile)>) -> Vec<EventView> {
    rows.into_iter()
        .map(|(event, actor)| EventView { event, actor })
        .collect()
}
