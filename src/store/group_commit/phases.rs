//! One batch's transaction, a function per phase, in the order `transact` runs them. The
//! decisions between the phases are in `plan`; the queries are in `Queries`, written once for
//! both backends.
//!
//! SQLite runs the whole transaction in one call on its blocking thread (`RunsBatches`), not a
//! thread hop per statement: with one writer connection, those hops were most of a small
//! batch's time (issue 14, item 3).

use std::collections::{HashMap, HashSet};
use std::future::Future;

use diesel::sqlite::SqliteConnection;
use diesel::{ExpressionMethods, QueryDsl, QueryResult, QueryableByName, SelectableHelper};
use diesel_async::AsyncConnection;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::plan::{self, Outcome, Plan, StoredKeys};
use super::{Faults, Message};
use crate::ids::{RoomId, Seq, UserId};
use crate::store::accounts::Profile;
use crate::store::events::{EventKind, EventRow, EventView};
use crate::store::schema::{events, users};
use crate::store::value_rows::{Column, OverRows, Shape};
use crate::store::{now_ms, on_conn, Db, PgConn, SqliteConn, StoreError};
use diesel_async::AsyncPgConnection;

/// Writes the batch in one transaction and says what became of each message, in batch order.
/// An `Err` failed the whole transaction: nothing of the batch was written.
pub(super) async fn commit(
    db: &Db,
    batch: &[&Message],
    faults: &Faults,
) -> Result<Vec<Outcome>, StoreError> {
    let now = now_ms();
    // In place, not as a task of its own: the writer task is never cancelled by a request.
    let outcomes = on_conn!(db, writer, |conn| conn
        .commit_batch(batch, faults, now)
        .await);
    faults.die_if_fired();
    Ok(outcomes?)
}

/// How a connection runs one batch's transaction.
trait RunsBatches {
    fn commit_batch<'a>(
        &'a mut self,
        batch: &'a [&'a Message],
        faults: &'a Faults,
        now: i64,
    ) -> BoxFuture<'a, QueryResult<Vec<Outcome>>>;
}

impl RunsBatches for PgConn {
    fn commit_batch<'a>(
        &'a mut self,
        batch: &'a [&'a Message],
        faults: &'a Faults,
        now: i64,
    ) -> BoxFuture<'a, QueryResult<Vec<Outcome>>> {
        self.transaction(async move |conn| {
            let mut shared: &AsyncPgConnection = conn;
            transact(&mut shared, batch, faults, now).await
        })
        .boxed()
    }
}

impl RunsBatches for SqliteConn {
    fn commit_batch<'a>(
        &'a mut self,
        batch: &'a [&'a Message],
        faults: &'a Faults,
        now: i64,
    ) -> BoxFuture<'a, QueryResult<Vec<Outcome>>> {
        // The blocking thread needs its own copy; a batch's texts are small next to a hop.
        let owned: Vec<Message> = batch.iter().map(|m| (*m).clone()).collect();
        let faults = faults.clone();
        self.spawn_blocking(move |conn| {
            let batch: Vec<&Message> = owned.iter().collect();
            diesel::Connection::transaction(conn, |conn| {
                at_once(transact(conn, &batch, &faults, now))
            })
        })
    }
}

/// Runs to its end a future that never waits: SQLite's queries run on the calling thread.
fn at_once<T>(work: impl Future<Output = QueryResult<T>>) -> QueryResult<T> {
    work.now_or_never().unwrap_or_else(|| {
        Err(diesel::result::Error::QueryBuilderError(
            "a SQLite batch waited on something".into(),
        ))
    })
}

/// The batch's phases, inside its transaction.
async fn transact<C: Queries>(
    conn: &mut C,
    batch: &[&Message],
    faults: &Faults,
    now: i64,
) -> QueryResult<Vec<Outcome>> {
    let reserved = plan::reservations(batch);
    let last = reserve_seqs(conn, &reserved).await?;
    faults.inside_transaction()?;
    let (members, keys) = conn
        .members_and_keys(&plan::own_counts(batch), &plan::key_triples(batch))
        .await?;
    let plans = plan::plan(batch, &last, &members, &keys);
    let seqs = assign_seqs(conn, batch, &plans, &reserved, &last, &members).await?;
    let inserted = insert(conn, batch, &seqs, now).await?;
    build_outcomes(conn, batch, &plans, &seqs, inserted).await
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
    let new: Vec<(&Message, Seq)> = batch
        .iter()
        .zip(seqs)
        .filter_map(|(m, seq)| Some((*m, (*seq)?)))
        .collect();
    if new.is_empty() {
        return Ok(HashMap::new());
    }
    let events = OverRows::<InsertEvents>::new(vec![
        Column::Int(new.iter().map(|(m, _)| m.room_id.0).collect()),
        Column::Int(new.iter().map(|(_, seq)| seq.0).collect()),
        Column::Text(vec![
            EventKind::MessageCreated.as_str().to_owned();
            new.len()
        ]),
        Column::Int(new.iter().map(|(m, _)| m.author.id.0).collect()),
        Column::Text(new.iter().map(|(m, _)| m.content.clone()).collect()),
        Column::Int(vec![now; new.len()]),
    ]);
    let inserted: HashMap<(RoomId, Seq), EventRow> = conn
        .insert_events(events)
        .await?
        .into_iter()
        .map(|e| ((e.room_id, e.seq), e))
        .collect();

    // (author, room, key, digest, event) of each new keyed message.
    let keyed: Vec<(&Message, &(String, String), i64)> = new
        .iter()
        .filter_map(|(m, seq)| Some((*m, m.key.as_ref()?, inserted.get(&(m.room_id, *seq))?.id)))
        .collect();
    if !keyed.is_empty() {
        let keys = OverRows::<InsertKeys>::new(vec![
            Column::Int(keyed.iter().map(|(m, _, _)| m.author.id.0).collect()),
            Column::Int(keyed.iter().map(|(m, _, _)| m.room_id.0).collect()),
            Column::Text(keyed.iter().map(|(_, (key, _), _)| key.clone()).collect()),
            Column::Text(keyed.iter().map(|(_, (_, hash), _)| hash.clone()).collect()),
            Column::Int(keyed.iter().map(|(_, _, event)| *event).collect()),
            Column::Int(vec![now; keyed.len()]),
        ]);
        conn.insert_keys(keys).await?;
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

/// The queries of the phases. `impl_queries!` writes them once, for both backends; the
/// statements over the batch's rows are `OverRows` shapes, prepared once per connection on
/// PostgreSQL.
trait Queries: Send {
    /// `last_seq += n` and `message_count += n` for each `(room, n)`; returns `room ->
    /// last_seq` for the rooms that exist. Every seq a batch reserves or gives back is a
    /// message's, so the live message count (unread counts' base) moves with it.
    fn bump_seqs(
        &mut self,
        deltas: &[(RoomId, i64)],
    ) -> impl Future<Output = QueryResult<HashMap<RoomId, Seq>>> + Send;
    /// `own_after_read += n` for each `((room, user), n)`; returns which of these pairs are
    /// memberships: the batch's membership check and the senders' own-message counts in one.
    fn own_counts(
        &mut self,
        deltas: &[((RoomId, UserId), i64)],
    ) -> impl Future<Output = QueryResult<HashSet<(RoomId, UserId)>>> + Send;
    /// `own_counts` (which authors of the batch are members of the rooms they send to), and
    /// the stored Idempotency-Keys the batch's keyed messages name: two independent reads,
    /// which PostgreSQL pipelines (both in one round trip).
    fn members_and_keys(
        &mut self,
        own: &[((RoomId, UserId), i64)],
        wanted: &HashSet<(UserId, RoomId, &str)>,
    ) -> impl Future<Output = QueryResult<(HashSet<(RoomId, UserId)>, StoredKeys)>> + Send;
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
    /// Inserts the events; the stored rows come back in no particular order.
    fn insert_events(
        &mut self,
        rows: OverRows<InsertEvents>,
    ) -> impl Future<Output = QueryResult<Vec<EventRow>>> + Send;
    fn insert_keys(
        &mut self,
        rows: OverRows<InsertKeys>,
    ) -> impl Future<Output = QueryResult<()>> + Send;
}

/// `rooms` by id: the seq reservation (it also locks the rooms on PostgreSQL).
struct BumpSeqs;
impl Shape for BumpSeqs {
    const HEAD: &'static str = "UPDATE rooms SET last_seq = last_seq + d.n, \
        message_count = message_count + d.n FROM ";
    const NAMES: &'static [&'static str] = &["room", "n"];
    const TAIL: &'static str = " WHERE rooms.id = d.room RETURNING id, last_seq";
}

/// `memberships` by exact `(room, user)` pairs, never `room IN (..) AND user IN (..)`: that
/// cross product costs a probe per combination (SQLite) or reads every membership of the users.
struct OwnCounts;
impl Shape for OwnCounts {
    const HEAD: &'static str = "UPDATE memberships SET own_after_read = own_after_read + d.n FROM ";
    const NAMES: &'static [&'static str] = &["room", "member", "n"];
    const TAIL: &'static str = " WHERE memberships.room_id = d.room \
        AND memberships.user_id = d.member RETURNING room_id, user_id";
}

/// `idempotency_keys` by exact triples, for the reason above: keys pile up for a day.
struct StoredKeysOf;
impl Shape for StoredKeysOf {
    const HEAD: &'static str = "SELECT k.user_id, k.room_id, k.idem_key, k.request_hash, \
        k.event_id FROM ";
    const NAMES: &'static [&'static str] = &["author", "room", "idem"];
    const TAIL: &'static str = " JOIN idempotency_keys k ON k.user_id = d.author \
        AND k.room_id = d.room AND k.idem_key = d.idem";
}

/// The batch's new messages. Their `target_id` is NULL (a message names no other event).
struct InsertEvents;
impl Shape for InsertEvents {
    const HEAD: &'static str = "INSERT INTO events (room_id, seq, kind, actor_id, content, \
        created_at) SELECT d.room, d.seq, d.kind, d.actor, d.content, d.at FROM ";
    const NAMES: &'static [&'static str] = &["room", "seq", "kind", "actor", "content", "at"];
    const TAIL: &'static str = " RETURNING id, room_id, seq, kind, actor_id, content, \
        created_at, target_id, edited_at, deleted_at";
}

/// The new messages' Idempotency-Keys.
struct InsertKeys;
impl Shape for InsertKeys {
    const HEAD: &'static str = "INSERT INTO idempotency_keys (user_id, room_id, idem_key, \
        request_hash, event_id, created_at) SELECT d.author, d.room, d.idem, d.digest, d.event, \
        d.at FROM ";
    const NAMES: &'static [&'static str] = &["author", "room", "idem", "digest", "event", "at"];
    const TAIL: &'static str = "";
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

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_id: UserId,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    room_id: RoomId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    idem_key: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    request_hash: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    event_id: Option<i64>,
}

/// `impl_queries!(connection, RunQueryDsl trait, pipelined or one_by_one, what follows a
/// call)`: `.await` for an async connection, nothing for SQLite's, whose calls return at once
/// on its blocking thread.
macro_rules! impl_queries {
    ($conn:ty, $($dsl:ident)::+, $both:ident, $($wait:tt)*) => {
        impl Queries for $conn {
            async fn members_and_keys(
                &mut self,
                own: &[((RoomId, UserId), i64)],
                wanted: &HashSet<(UserId, RoomId, &str)>,
            ) -> QueryResult<(HashSet<(RoomId, UserId)>, StoredKeys)> {
                both!($both, self, own, wanted)
            }

            async fn bump_seqs(
                &mut self,
                deltas: &[(RoomId, i64)],
            ) -> QueryResult<HashMap<RoomId, Seq>> {
                let rows = OverRows::<BumpSeqs>::new(vec![
                    Column::Int(deltas.iter().map(|(room, _)| room.0).collect()),
                    Column::Int(deltas.iter().map(|(_, n)| *n).collect()),
                ]);
                Ok($($dsl)::+::load::<RoomSeq>(rows, self)
                    $($wait)*?
                    .into_iter()
                    .map(|r| (r.id, r.last_seq))
                    .collect())
            }

            async fn own_counts(
                &mut self,
                deltas: &[((RoomId, UserId), i64)],
            ) -> QueryResult<HashSet<(RoomId, UserId)>> {
                let rows = OverRows::<OwnCounts>::new(vec![
                    Column::Int(deltas.iter().map(|((room, _), _)| room.0).collect()),
                    Column::Int(deltas.iter().map(|((_, user), _)| user.0).collect()),
                    Column::Int(deltas.iter().map(|(_, n)| *n).collect()),
                ]);
                Ok($($dsl)::+::load::<Membership>(rows, self)
                    $($wait)*?
                    .into_iter()
                    .map(|m| (m.room_id, m.user_id))
                    .collect())
            }

            async fn stored_keys(
                &mut self,
                triples: &HashSet<(UserId, RoomId, &str)>,
            ) -> QueryResult<StoredKeys> {
                let rows = OverRows::<StoredKeysOf>::new(vec![
                    Column::Int(triples.iter().map(|(user, _, _)| user.0).collect()),
                    Column::Int(triples.iter().map(|(_, room, _)| room.0).collect()),
                    Column::Text(triples.iter().map(|(_, _, key)| key.to_string()).collect()),
                ]);
                Ok($($dsl)::+::load::<KeyRow>(rows, self)
                    $($wait)*?
                    .into_iter()
                    .map(|k| {
                        (
                            (k.user_id, k.room_id, k.idem_key),
                            (k.request_hash, k.event_id),
                        )
                    })
                    .collect())
            }

            async fn events_by_id(
                &mut self,
                ids: Vec<i64>,
            ) -> QueryResult<HashMap<i64, EventView>> {
                let query = events::table
                    .inner_join(users::table)
                    .filter(events::id.eq_any(ids))
                    .select((EventRow::as_select(), Profile::as_select()));
                Ok($($dsl)::+::load::<(EventRow, Profile)>(query, self)
                    $($wait)*?
                    .into_iter()
                    .map(|(event, actor)| (event.id, EventView { event, actor }))
                    .collect())
            }

            async fn insert_events(
                &mut self,
                rows: OverRows<InsertEvents>,
            ) -> QueryResult<Vec<EventRow>> {
                $($dsl)::+::load::<EventRow>(rows, self) $($wait)*
            }

            async fn insert_keys(&mut self, rows: OverRows<InsertKeys>) -> QueryResult<()> {
                $($dsl)::+::execute(rows, self) $($wait)*?;
                Ok(())
            }
        }
    };
}

/// `members_and_keys`: one read after the other on a connection that runs one statement at a
/// time; on PostgreSQL's shared connection both at once, so they share a round trip.
macro_rules! both {
    (one_by_one, $conn:ident, $own:ident, $wanted:ident) => {{
        let members = $conn.own_counts($own).await?;
        if $wanted.is_empty() {
            return Ok((members, StoredKeys::new()));
        }
        Ok((members, $conn.stored_keys($wanted).await?))
    }};
    (pipelined, $conn:ident, $own:ident, $wanted:ident) => {{
        let (mut one, mut two) = (*$conn, *$conn);
        let keys = async move {
            if $wanted.is_empty() {
                return Ok(StoredKeys::new());
            }
            two.stored_keys($wanted).await
        };
        futures_util::future::try_join(one.own_counts($own), keys).await
    }};
}

impl_queries!(SqliteConnection, diesel::RunQueryDsl, one_by_one,);
// A shared reference: PostgreSQL's connection pipelines the statements of concurrent futures.
impl_queries!(&AsyncPgConnection, diesel_async::RunQueryDsl, pipelined, .await);
