//! Group commit for message sends.
//!
//! Requests queue their message; one task takes everything queued, writes it in ONE
//! transaction and commits once; each request gets its answer only after that commit. A batch
//! costs a handful of statements whatever its size: one statement that locks its rooms and
//! reserves their seqs, one read of memberships (and one of keys), one multi-row insert of
//! events (and one of idempotency keys). The
//! committed events are handed to `on_commit` in seq order, before anyone is answered.
//!
//! One row the database refuses fails its whole transaction; the writer then retries that
//! batch one message per transaction, so only the refused message fails. An unreachable
//! database still fails the whole batch at once (503).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use tokio::sync::{mpsc, oneshot};

use super::accounts::Profile;
use super::batch_insert::{EventInsert, InsertMany, KeyInsert};
use super::events::{EventRow, EventView, MESSAGE_CREATED};
use super::schema::{events, idempotency_keys, memberships, users};
use super::{now_ms, on_conn, Db, Rejection, StoreError};

/// One message to store.
pub struct Message {
    pub room_id: i64,
    pub author: Profile,
    /// Already validated and trimmed.
    pub content: String,
    /// `(Idempotency-Key, digest of the request)`.
    pub key: Option<(String, String)>,
    /// When the server took the request: the start of the send-to-deliver latency.
    pub received_at: Instant,
}

/// What a send did.
pub enum Sent {
    /// Stored by this request.
    New(EventView),
    /// Stored earlier under the same Idempotency-Key; nothing new was written.
    Replayed(EventView),
}

type Reply = oneshot::Sender<Result<Sent, StoreError>>;
type OnCommit = Arc<dyn Fn(&[(EventView, Instant)]) + Send + Sync>;

/// The handle requests queue on. Cloning is cheap.
#[derive(Clone)]
pub struct Writer {
    /// One queue per shard; a room always goes to the same shard.
    shards: Arc<[mpsc::Sender<(Message, Reply)>]>,
}

impl Writer {
    /// Starts `shards` writer tasks, each committing batches on its own connection. Rooms are
    /// split between them by id, so two shards never wait on each other's room locks and each
    /// room's messages keep one order. `on_commit` sees each batch's new events in seq order,
    /// each with the time its request was received.
    pub fn start(db: Db, max_batch: usize, shards: usize, on_commit: OnCommit) -> Writer {
        let max_batch = max_batch.max(1);
        let shards: Vec<_> = (0..shards.max(1))
            .map(|_| {
                let (queue, rx) = mpsc::channel(max_batch * 8);
                tokio::spawn(run(db.clone(), rx, max_batch, on_commit.clone()));
                queue
            })
            .collect();
        Writer {
            shards: shards.into(),
        }
    }

    pub async fn send(&self, message: Message) -> Result<Sent, StoreError> {
        let (reply, answer) = oneshot::channel();
        let shard = message.room_id.rem_euclid(self.shards.len() as i64) as usize;
        self.shards[shard]
            .send((message, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer dropped the request".into()))?
    }
}

async fn run(
    db: Db,
    mut rx: mpsc::Receiver<(Message, Reply)>,
    max_batch: usize,
    on_commit: OnCommit,
) {
    let mut batch: Vec<(Message, Reply)> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        write(&db, &mut batch, &on_commit).await;
    }
}

/// Commits one batch, publishes its new events, then answers every request in it.
async fn write(db: &Db, batch: &mut Vec<(Message, Reply)>, on_commit: &OnCommit) {
    let messages: Vec<&Message> = batch.iter().map(|(m, _)| m).collect();
    let result = commit(db, &messages).await;
    metrics::histogram!("roomcast_batch_size").record(batch.len() as f64);
    match result {
        Ok(outcomes) => deliver(batch, outcomes, on_commit),
        // A row the database refuses fails the whole transaction: find it, rather than fail
        // the other users' sends that happened to share it. An unreachable database fails
        // everyone alike, at once.
        Err(e) if batch.len() > 1 && !matches!(e, StoreError::Unavailable(_)) => {
            tracing::warn!(error = %e, size = batch.len(), "batch failed; retrying one by one");
            retry_one_by_one(db, batch, on_commit).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, size = batch.len(), "batch failed");
            let e = if batch.len() == 1 { refused(e) } else { e };
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(Err(e.replicate()));
            }
        }
    }
}

/// Publishes the new events of a committed batch in seq order, then answers its requests.
fn deliver(
    batch: &mut Vec<(Message, Reply)>,
    outcomes: Vec<Result<Sent, StoreError>>,
    on_commit: &OnCommit,
) {
    let mut new: Vec<(EventView, Instant)> = outcomes
        .iter()
        .zip(batch.iter())
        .filter_map(|(o, (m, _))| match o {
            Ok(Sent::New(v)) => Some((v.clone(), m.received_at)),
            _ => None,
        })
        .collect();
    metrics::counter!("roomcast_messages_committed_total").increment(new.len() as u64);
    new.sort_by_key(|(v, _)| (v.event.room_id, v.event.seq));
    on_commit(&new);
    for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
        let _ = reply.send(outcome);
    }
}

/// Writes each message of a failed batch in its own transaction, in batch order (so each
/// room's seqs keep that order), so that only a message the database itself refuses fails.
/// A refused message's transaction rolls back with its seq: the room's next message takes it.
async fn retry_one_by_one(db: &Db, batch: &mut Vec<(Message, Reply)>, on_commit: &OnCommit) {
    let mut unavailable: Option<StoreError> = None;
    for (message, reply) in std::mem::take(batch) {
        if let Some(e) = &unavailable {
            let _ = reply.send(Err(e.replicate()));
            continue;
        }
        match commit(db, &[&message]).await {
            Ok(outcomes) => deliver(&mut vec![(message, reply)], outcomes, on_commit),
            Err(e @ StoreError::Unavailable(_)) => {
                unavailable = Some(e.replicate());
                let _ = reply.send(Err(e));
            }
            Err(e) => {
                tracing::warn!(error = %e, room = message.room_id, "the database refused a message");
                let _ = reply.send(Err(refused(e)));
            }
        }
    }
}

/// A failure of a batch of one: a refusal the message's own content explains (a CHECK
/// constraint, PostgreSQL's "invalid byte sequence") is the sender's to fix; anything else
/// stays what it was.
fn refused(e: StoreError) -> StoreError {
    match &e {
        StoreError::Query(DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, _)) => {
            Rejection::ContentRefused.into()
        }
        StoreError::Query(DieselError::DatabaseError(_, info))
            if info.message().contains("invalid byte sequence") =>
        {
            Rejection::ContentRefused.into()
        }
        _ => e,
    }
}

/// How one message of the batch is handled.
enum Plan {
    New,
    /// Replays a stored event.
    Stored(i64),
    /// Replays an earlier message of this same batch.
    SameAs(usize),
    Refuse(Rejection),
}

async fn commit(db: &Db, batch: &[&Message]) -> Result<Vec<Result<Sent, StoreError>>, StoreError> {
    let now = now_ms();
    let mut room_ids: Vec<i64> = batch.iter().map(|m| m.room_id).collect();
    room_ids.sort_unstable();
    room_ids.dedup();
    let pairs: HashSet<(i64, i64)> = batch.iter().map(|m| (m.room_id, m.author.id)).collect();
    let keyed: HashSet<(i64, i64, &str)> = batch
        .iter()
        .filter_map(|m| {
            m.key
                .as_ref()
                .map(|(k, _)| (m.author.id, m.room_id, k.as_str()))
        })
        .collect();

    // Every message reserves a seq up front; the few that turn out not to be new (replays,
    // refusals) hand theirs back before commit, so the common batch bumps each room once.
    let mut reserved: HashMap<i64, i64> = HashMap::new();
    for m in batch {
        *reserved.entry(m.room_id).or_default() += 1;
    }
    let reserve: Vec<(i64, i64)> = room_ids
        .iter()
        .map(|r| (*r, reserved.get(r).copied().unwrap_or(0)))
        .collect();

    // In place, not as a task of its own: the writer task is never cancelled by a request.
    on_conn!(db, writer, |conn| {
        conn.transaction(async |conn| {
            // Also locks the rooms (PostgreSQL row locks) so that membership and keys read
            // below cannot change before commit: leave, join and every other send lock them too.
            let last: HashMap<i64, i64> = diesel::sql_query(bump_sql(&reserve))
                .load::<RoomSeq>(conn)
                .await?
                .into_iter()
                .map(|r| (r.id, r.last_seq))
                .collect();
            let existing: HashSet<i64> = last.keys().copied().collect();
            // Exact pairs, not `room IN (..) AND user IN (..)`: that cross product costs a
            // probe per combination (SQLite) or reads every membership of the users.
            let mut member_query = memberships::table
                .select((memberships::room_id, memberships::user_id))
                .into_boxed();
            for (room, user) in &pairs {
                member_query = member_query.or_filter(
                    memberships::room_id
                        .eq(*room)
                        .and(memberships::user_id.eq(*user)),
                );
            }
            let members: HashSet<(i64, i64)> = member_query
                .load::<(i64, i64)>(conn)
                .await?
                .into_iter()
                .collect();
            let stored_keys: HashMap<(i64, i64, String), (String, Option<i64>)> =
                if keyed.is_empty() {
                    HashMap::new()
                } else {
                    // Exact triples, for the reason above: keys pile up for a day.
                    let mut key_query = idempotency_keys::table
                        .select((
                            idempotency_keys::user_id,
                            idempotency_keys::room_id,
                            idempotency_keys::idem_key,
                            idempotency_keys::request_hash,
                            idempotency_keys::event_id,
                        ))
                        .into_boxed();
                    for (user, room, key) in &keyed {
                        key_query = key_query.or_filter(
                            idempotency_keys::user_id
                                .eq(*user)
                                .and(idempotency_keys::room_id.eq(*room))
                                .and(idempotency_keys::idem_key.eq(*key)),
                        );
                    }
                    key_query
                        .load::<(i64, i64, String, String, Option<i64>)>(conn)
                        .await?
                        .into_iter()
                        .map(|(u, r, k, h, e)| ((u, r, k), (h, e)))
                        .collect()
                };

            let plans = plan(batch, &existing, &members, &stored_keys);

            // Seqs are handed out in batch order from each room's reserved range.
            let mut next_seq: HashMap<i64, i64> = last
                .iter()
                .map(|(room, last)| (*room, last + 1 - reserved.get(room).copied().unwrap_or(0)))
                .collect();
            let mut seqs: Vec<Option<i64>> = Vec::with_capacity(batch.len());
            for (m, p) in batch.iter().zip(&plans) {
                seqs.push(match p {
                    Plan::New => next_seq.get_mut(&m.room_id).map(|s| {
                        *s += 1;
                        *s - 1
                    }),
                    _ => None,
                });
            }
            let unused: Vec<(i64, i64)> = next_seq
                .iter()
                .filter_map(|(room, next)| {
                    let top = *last.get(room)?;
                    (*next <= top).then_some((*room, next - top - 1))
                })
                .collect();
            if !unused.is_empty() {
                diesel::sql_query(bump_sql(&unused)).execute(conn).await?;
            }

            let new_events: Vec<EventInsert> = batch
                .iter()
                .zip(&seqs)
                .filter_map(|(m, seq)| {
                    seq.map(|seq| EventInsert {
                        room_id: m.room_id,
                        seq,
                        kind: MESSAGE_CREATED,
                        actor_id: m.author.id,
                        content: Some(m.content.clone()),
                        created_at: now,
                    })
                })
                .collect();
            // RETURNING order is not guaranteed (SQLite says so): match rows by (room, seq).
            let mut inserted: HashMap<(i64, i64), EventRow> = if new_events.is_empty() {
                HashMap::new()
            } else {
                conn.insert_events(new_events)
                    .await?
                    .into_iter()
                    .map(|e| ((e.room_id, e.seq), e))
                    .collect()
            };

            let new_keys: Vec<KeyInsert> = batch
                .iter()
                .zip(&seqs)
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

            let replay_ids: Vec<i64> = plans
                .iter()
                .filter_map(|p| match p {
                    Plan::Stored(id) => Some(*id),
                    _ => None,
                })
                .collect();
            let replayed: HashMap<i64, EventView> = if replay_ids.is_empty() {
                HashMap::new()
            } else {
                events::table
                    .inner_join(users::table)
                    .filter(events::id.eq_any(&replay_ids))
                    .select((EventRow::as_select(), Profile::as_select()))
                    .load::<(EventRow, Profile)>(conn)
                    .await?
                    .into_iter()
                    .map(|(event, actor)| (event.id, EventView { event, actor }))
                    .collect()
            };

            let mut views: Vec<Option<EventView>> = Vec::with_capacity(batch.len());
            let mut outcomes = Vec::with_capacity(batch.len());
            for ((m, p), seq) in batch.iter().zip(&plans).zip(&seqs) {
                let outcome = match p {
                    Plan::New => seq
                        .and_then(|s| inserted.remove(&(m.room_id, s)))
                        .map(|event| EventView {
                            event,
                            actor: m.author.clone(),
                        })
                        .ok_or(Rejection::RoomNotFound),
                    Plan::Stored(id) => replayed
                        .get(id)
                        .cloned()
                        .ok_or(Rejection::IdempotencyKeyReused),
                    Plan::SameAs(i) => views
                        .get(*i)
                        .cloned()
                        .flatten()
                        .ok_or(Rejection::IdempotencyKeyReused),
                    Plan::Refuse(r) => Err(*r),
                };
                views.push(outcome.as_ref().ok().cloned());
                outcomes.push(match (p, outcome) {
                    (Plan::New, Ok(v)) => Ok(Sent::New(v)),
                    (_, Ok(v)) => Ok(Sent::Replayed(v)),
                    (_, Err(r)) => Err(StoreError::Rejected(r)),
                });
            }
            Ok(outcomes)
        })
        .await
    })
}

#[derive(QueryableByName)]
struct RoomSeq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_seq: i64,
}

/// `last_seq += n` for each `(room, n)` in one statement, returning the new `last_seq`s. Only
/// integers are formatted into it, so the one text serves both backends without binds.
fn bump_sql(deltas: &[(i64, i64)]) -> String {
    use std::fmt::Write;
    let (mut cases, mut ids) = (String::new(), String::new());
    for (room, n) in deltas {
        let _ = write!(cases, " WHEN {room} THEN {n}");
        let sep = if ids.is_empty() { "" } else { "," };
        let _ = write!(ids, "{sep}{room}");
    }
    format!(
        "UPDATE rooms SET last_seq = last_seq + CASE id{cases} ELSE 0 END \
         WHERE id IN ({ids}) RETURNING id, last_seq"
    )
}

/// Decides each message: store it, replay a stored one, or refuse it.
fn plan(
    batch: &[&Message],
    existing_rooms: &HashSet<i64>,
    members: &HashSet<(i64, i64)>,
    stored_keys: &HashMap<(i64, i64, String), (String, Option<i64>)>,
) -> Vec<Plan> {
    // Keys first used earlier in this batch: (author, room, key) -> (index, digest).
    let mut seen: HashMap<(i64, i64, &str), (usize, &str)> = HashMap::new();
    batch
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if !existing_rooms.contains(&m.room_id) {
                return Plan::Refuse(Rejection::RoomNotFound);
            }
            if let Some((key, hash)) = &m.key {
                if let Some((stored_hash, event)) =
                    stored_keys.get(&(m.author.id, m.room_id, key.clone()))
                {
                    return match (stored_hash == hash, event) {
                        (true, Some(id)) => Plan::Stored(*id),
                        _ => Plan::Refuse(Rejection::IdempotencyKeyReused),
                    };
                }
                if let Some((first, first_hash)) = seen.get(&(m.author.id, m.room_id, key.as_str()))
                {
                    return if *first_hash == hash.as_str() {
                        Plan::SameAs(*first)
                    } else {
                        Plan::Refuse(Rejection::IdempotencyKeyReused)
                    };
                }
            }
            if !members.contains(&(m.room_id, m.author.id)) {
                return Plan::Refuse(Rejection::NotAMember);
            }
            if let Some((key, hash)) = &m.key {
                seen.insert((m.author.id, m.room_id, key.as_str()), (i, hash.as_str()));
            }
            Plan::New
        })
        .collect()
}
