//! One batch's transaction, a function per phase, in the order `commit` runs them. The
//! decisions between the phases are in `plan`; the queries are in `Queries`, written once for
//! both connection types.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::plan::{self, Outcome, Plan, StoredKeys};
use super::{Faults, Message};
use crate::ids::{RoomId, Seq, UserId};
use crate::store::accounts::Profile;
use crate::store::batch_insert::{InsertMany, KeyInsert};
use crate::store::events::{EventKind, EventRow, EventView, NewEvent};
use crate::store::schema::{events, idempotency_keys, users};
use crate::store::{now_ms, on_conn, Db, PgConn, SqliteConn, StoreError};

/// Writes the batch in one transaction and says what became of each message, in batch order.
/// An `Err` failed the whole transaction: nothing of the batch was written.
pub(super) async fn commit(
    db: &Db,
    batch: &[&Message],
    faults: &Faults,
) -> Result<Vec<Outcome>, StoreError> {
    let now = now_ms();
    let reserved = plan::reservations(batch);
    // In place, not as a task of its own: the writer task is never cancelled by a request.
    on_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            let last = reserve_seqs(conn, &reserved).await?;
            faults.inside_transaction();
            let members = claim_memberships(conn, batch).await?;
            let keys = load_keys(conn, batch).await?;
            let plans = plan::plan(batch, &last, &members, &keys);
            let seqs = assign_seqs(conn, batch, &plans, &reserved, &last, &members).await?;
            let inserted = insert(conn, batch, &seqs, now).await?;
            Ok(build_outcomes(conn, batch, &plans, &seqs, inserted).await?)
        })
        .await
    })
}

/// Moves each room's counter past the seqs its messages may take, and returns the rooms'
/// new `last_seq`s (a room missing from the answer does not exist). On PostgreSQL this also
/// locks the rooms, so the memberships and keys read next cannot change before commit:
/// leave, join and every other send lock them too.
async fn reserve_seqs<C: Queries>(
    conn: &mut C,
    reserved: &[(RoomId, i64)],
) -> QueryResult<HashMap<RoomId, Seq>> {
    conn.bump_seqs(reserved).await
}

/// Which authors of the batch are members of the rooms they send to; each such membership's
/// own-message count (for unread counts) moves by its messages in the batch, like the seqs:
/// `assign_seqs` gives back what was not stored.
async fn claim_memberships<C: Queries>(
    conn: &mut C,
    batch: &[&Message],
) -> QueryResult<HashSet<(RoomId, UserId)>> {
    conn.own_counts(&plan::own_counts(batch)).await
}

/// The stored Idempotency-Keys the batch's keyed messages name.
async fn load_keys<C: Queries>(conn: &mut C, batch: &[&Message]) -> QueryResult<StoredKeys> {
    let wanted = plan::key_triples(batch);
    if wanted.is_empty() {
        return Ok(StoredKeys::new());
    }
    conn.stored_keys(&wanted).await
}

/// Gives each new message its seq, and gives back the reserved seqs no message took (replays
/// and refusals), so the room's log stays without gaps.
async fn assign_seqs<C: Queries>(
    conn: &mut C,
    batch: &[&Message],
    plans: &[Plan],
    reserved: &[(RoomId, i64)],
    last: &HashMap<RoomId, Seq>,
    members: &HashSet<(RoomId, UserId)>,
) -> QueryResult<Vec<Option<Seq>>> {
    let seqs = plan::assign_seqs(batch, plans, reserved, last);
    if !seqs.unused.is_empty() {
        conn.bump_seqs(&seqs.unused).await?;
    }
    let own_unused = plan::own_unused(batch, plans, members);
    if !own_unused.is_empty() {
        conn.own_counts(&own_unused).await?;
    }
    Ok(seqs.each)
}

/// Inserts the new messages' events, then their Idempotency-Keys; returns the events by
/// `(room, seq)` (RETURNING order is not guaranteed: SQLite says so).
async fn insert<C: Queries>(
    conn: &mut C,
    batch: &[&Message],
    seqs: &[Option<Seq>],
    now: i64,
) -> QueryResult<HashMap<(RoomId, Seq), EventRow>> {
    let new_events: Vec<NewEvent> = batch
        .iter()
        .zip(seqs)
        .filter_map(|(m, seq)| {
            seq.map(|seq| NewEvent {
                room_id: m.room_id,
                seq,
                kind: EventKind::MessageCreated,
                actor_id: m.author.id,
                content: Some(m.content.clone()),
                created_at: now,
                target_id: None,
            })
        })
        .collect();
    if new_events.is_empty() {
        return Ok(HashMap::new());
    }
    let inserted: HashMap<(RoomId, Seq), EventRow> = conn
        .insert_events(new_events)
        .await?
        .into_iter()
        .map(|e| ((e.room_id, e.seq), e))
        .collect();

    let new_keys: Vec<KeyInsert> = batch
        .iter()
        .zip(seqs)
        .filter_map(|(m, seq)| {
            let (key, hash) = m.key.as_ref()?;
            let event = inserted.get(&(m.room_id, (*seq)?))?;
            Some(KeyInsert {
                user_id: m.author.id,
                room_id: m.room_id,
                idem_key: key.clone(),
                request_hash: hash.clone(),
                event_id: Some(event.id),
                created_at: now,
            })
        })
        .collect();
    if !new_keys.is_empty() {
        conn.insert_keys(new_keys).await?;
    }
    Ok(inserted)
}

/// Loads the stored events that replays answer with, then pairs each request with its answer.
async fn build_outcomes<C: Queries>(
    conn: &mut C,
    batch: &[&Message],
    plans: &[Plan],
    seqs: &[Option<Seq>],
    inserted: HashMap<(RoomId, Seq), EventRow>,
) -> QueryResult<Vec<Outcome>> {
    let replay_ids: Vec<i64> = plans
        .iter()
        .filter_map(|p| match p {
            Plan::Stored(id) => Some(*id),
            _ => None,
        })
        .collect();
    let replayed = if replay_ids.is_empty() {
        HashMap::new()
    } else {
        conn.events_by_id(replay_ids).await?
    };
    Ok(plan::outcomes(batch, plans, seqs, inserted, &replayed))
}

/// The queries of the phases. `impl_queries!` writes them once, for both connection types
/// (the inserts, which differ in how, are `InsertMany`'s).
trait Queries: InsertMany + Send {
    /// Runs `plan::bump_sql`; returns `room -> last_seq` for the rooms that exist.
    fn bump_seqs(
        &mut self,
        deltas: &[(RoomId, i64)],
    ) -> impl Future<Output = QueryResult<HashMap<RoomId, Seq>>> + Send;
    /// Runs `plan::own_sql`; returns which of these `(room, user)` memberships exist.
    fn own_counts(
        &mut self,
        deltas: &[((RoomId, UserId), i64)],
    ) -> impl Future<Output = QueryResult<HashSet<(RoomId, UserId)>>> + Send;
    /// Which of these `(user, room, key)` Idempotency-Keys are stored, with what.
    fn stored_keys(
        &mut self,
        triples: &HashSet<(UserId, RoomId, &str)>,
    ) -> impl Future<Output = QueryResult<StoredKeys>> + Send;
    /// These events with their actors, by id.
    fn events_by_id(
        &mut self,
        ids: Vec<i64>,
    ) -> impl Future<Output = QueryResult<HashMap<i64, EventView>>> + Send;
}

#[derive(QueryableByName)]
struct RoomSeq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: RoomId,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_seq: Seq,
}

#[derive(QueryableByName)]
struct Membership {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    room_id: RoomId,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_id: UserId,
}

macro_rules! impl_queries {
    ($conn:ty) => {
        impl Queries for $conn {
            async fn bump_seqs(
                &mut self,
                deltas: &[(RoomId, i64)],
            ) -> QueryResult<HashMap<RoomId, Seq>> {
                Ok(diesel::sql_query(plan::bump_sql(deltas))
                    .load::<RoomSeq>(self)
                    .await?
                    .into_iter()
                    .map(|r| (r.id, r.last_seq))
                    .collect())
            }

            async fn own_counts(
                &mut self,
                deltas: &[((RoomId, UserId), i64)],
            ) -> QueryResult<HashSet<(RoomId, UserId)>> {
                // Exact pairs, not `room IN (..) AND user IN (..)`: that cross product costs a
                // probe per combination (SQLite) or reads every membership of the users.
                Ok(diesel::sql_query(plan::own_sql(deltas))
                    .load::<Membership>(self)
                    .await?
                    .into_iter()
                    .map(|m| (m.room_id, m.user_id))
                    .collect())
            }

            async fn stored_keys(
                &mut self,
                triples: &HashSet<(UserId, RoomId, &str)>,
            ) -> QueryResult<StoredKeys> {
                // Exact triples, for the reason above: keys pile up for a day.
                let mut query = idempotency_keys::table
                    .select((
                        idempotency_keys::user_id,
                        idempotency_keys::room_id,
                        idempotency_keys::idem_key,
                        idempotency_keys::request_hash,
                        idempotency_keys::event_id,
                    ))
                    .into_boxed();
                for (user, room, key) in triples {
                    query = query.or_filter(
                        idempotency_keys::user_id
                            .eq(*user)
                            .and(idempotency_keys::room_id.eq(*room))
                            .and(idempotency_keys::idem_key.eq(*key)),
                    );
                }
                Ok(query
                    .load::<(UserId, RoomId, String, String, Option<i64>)>(self)
                    .await?
                    .into_iter()
                    .map(|(u, r, k, h, e)| ((u, r, k), (h, e)))
                    .collect())
            }

            async fn events_by_id(
                &mut self,
                ids: Vec<i64>,
            ) -> QueryResult<HashMap<i64, EventView>> {
                Ok(events::table
                    .inner_join(users::table)
                    .filter(events::id.eq_any(ids))
                    .select((EventRow::as_select(), Profile::as_select()))
                    .load::<(EventRow, Profile)>(self)
                    .await?
                    .into_iter()
                    .map(|(event, actor)| (event.id, EventView { event, actor }))
                    .collect())
            }
        }
    };
}

impl_queries!(SqliteConn);
impl_queries!(PgConn);
