//! Group commit for message sends.
//!
//! Requests queue their message; one task takes everything queued, writes it in ONE
//! transaction and commits once; each request gets its answer only after that commit. A batch
//! costs a handful of statements whatever its size: one that locks its rooms and reserves their
//! seqs, one that claims the senders' memberships (with the keys' read beside it), one insert
//! of events (and one of idempotency keys), each a fixed text over the batch's rows
//! (`store::value_rows`). The committed events are handed to `on_commit` in seq order, right
//! after the senders are answered.
//!
//! One row the database refuses fails its whole transaction; the writer then retries that
//! batch one message per transaction, so only the refused message fails. An unreachable
//! database still fails the whole batch at once (503).
//!
//! Here: the queue, the shard tasks and their supervision, answering. `phases` runs one
//! batch's transaction, phase by phase; `plan` holds the decisions between the phases, pure.

mod phases;
mod plan;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::accounts::Profile;
use super::events::EventView;
use super::{Db, Rejection, StoreError};
use crate::ids::RoomId;
use plan::Outcome;

/// One message to store.
#[derive(Clone)]
pub struct Message {
    pub room_id: RoomId,
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

type Reply = oneshot::Sender<Outcome>;
type OnCommit = Arc<dyn Fn(&[(EventView, Instant)]) + Send + Sync>;
/// A shard's queue. Its task holds the lock for as long as it runs, so when the task dies the
/// queue, and every request waiting in it, is still there for the task that replaces it.
type Queue = Arc<Mutex<mpsc::Receiver<(Message, Reply)>>>;

/// The handle requests queue on. Cloning is cheap.
#[derive(Clone)]
pub struct Writer {
    /// One queue per shard; a room always goes to the same shard.
    shards: Arc<[mpsc::Sender<(Message, Reply)>]>,
    #[cfg(test)]
    faults: Faults,
}

impl Writer {
    /// Starts `shards` writer tasks, each committing batches on its own connection. Rooms are
    /// split between them by id, so two shards never wait on each other's room locks and each
    /// room's messages keep one order. `on_commit` sees each batch's new events in seq order,
    /// each with the time its request was received. A shard task that dies (a panic) is
    /// logged and started again on the same queue. Each shard holds at most `queue_max`
    /// waiting sends; past that `send` refuses at once.
    pub fn start(
        db: Db,
        max_batch: usize,
        shards: usize,
        queue_max: usize,
        on_commit: OnCommit,
    ) -> Writer {
        let max_batch = max_batch.max(1);
        let faults = Faults::default();
        let shards: Vec<_> = (0..shards.max(1))
            .map(|index| {
                let (queue, rx) = mpsc::channel(queue_max.max(1));
                let shard = Shard {
                    index,
                    db: db.clone(),
                    max_batch,
                    on_commit: on_commit.clone(),
                    faults: faults.clone(),
                };
                tokio::spawn(supervise(shard, Arc::new(Mutex::new(rx))));
                queue
            })
            .collect();
        Writer {
            shards: shards.into(),
            #[cfg(test)]
            faults,
        }
    }

    /// Queues a message and waits for its commit. A full queue is refused at once
    /// (`Overloaded`): waiting there would only grow every sender's latency until clients time
    /// out, and a refused send was never stored, so the client may simply retry.
    pub async fn send(&self, message: Message) -> Result<Sent, StoreError> {
        let (reply, answer) = oneshot::channel();
        let shard = shard_of(&self.shards, message.room_id)
            .ok_or_else(|| StoreError::Task("the writer has no shards".into()))?;
        match shard.try_send((message, reply)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("roomcast_sends_shed_total").increment(1);
                return Err(StoreError::Overloaded);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(StoreError::Unavailable("the writer has stopped".into()));
            }
        }
        // Dropped unanswered only when the shard task died with this request's batch in hand.
        answer
            .await
            .map_err(|e| StoreError::Unavailable(format!("the writer dropped the request: {e}")))?
    }
}

/// The shard that writes `room`'s messages: rooms are dealt out by id. None only for no
/// shards (`start` makes at least one).
fn shard_of<T>(shards: &[T], room: RoomId) -> Option<&T> {
    let n = i64::try_from(shards.len()).ok()?;
    shards.get(usize::try_from(room.0.checked_rem_euclid(n)?).ok()?)
}

/// What a shard task needs; its supervisor keeps a copy to start the next one.
#[derive(Clone)]
struct Shard {
    index: usize,
    db: Db,
    max_batch: usize,
    on_commit: OnCommit,
    faults: Faults,
}

/// Runs a shard's task, and starts it again whenever it dies. The batch in hand when it died
/// is lost with it: its transaction rolls back, its requests get 503; the requests still
/// queued are served by the next task.
async fn supervise(shard: Shard, queue: Queue) {
    loop {
        match tokio::spawn(run(shard.clone(), queue.clone())).await {
            // Every sender is gone, or the runtime is shutting down: so is the server.
            Ok(()) => return,
            Err(e) if e.is_cancelled() => return,
            Err(e) => {
                metrics::counter!("roomcast_writer_restarts_total").increment(1);
                tracing::error!(shard = shard.index, error = %e, "writer shard died; restarting it");
            }
        }
    }
}

async fn run(shard: Shard, queue: Queue) {
    let mut rx = queue.lock_owned().await;
    let mut batch: Vec<(Message, Reply)> = Vec::with_capacity(shard.max_batch);
    while rx.recv_many(&mut batch, shard.max_batch).await > 0 {
        write(&shard, &mut batch).await;
    }
}

/// Commits one batch, answers every request in it, then publishes its new events.
async fn write(shard: &Shard, batch: &mut Vec<(Message, Reply)>) {
    let messages: Vec<&Message> = batch.iter().map(|(m, _)| m).collect();
    // Where a send's time goes: waiting to reach the writer, then its batch's transaction.
    let started = Instant::now();
    // One registry lookup per batch, not per message.
    let queued = metrics::histogram!("roomcast_send_queue_seconds");
    for m in &messages {
        queued.record(started.duration_since(m.received_at).as_secs_f64());
    }
    let result = phases::commit(&shard.db, &messages, &shard.faults).await;
    metrics::histogram!("roomcast_batch_commit_seconds").record(started.elapsed().as_secs_f64());
    // Requests held in memory at once: never past u32::MAX (and a metric may saturate).
    let size = u32::try_from(batch.len()).unwrap_or(u32::MAX);
    metrics::histogram!("roomcast_batch_size").record(size);
    match result {
        Ok(outcomes) => deliver(batch, outcomes, &shard.on_commit),
        // A row the database refuses fails the whole transaction: find it, rather than fail
        // the other users' sends that happened to share it. An unreachable database fails
        // everyone alike, at once.
        Err(e) if batch.len() > 1 && !matches!(e, StoreError::Unavailable(_)) => {
            tracing::warn!(error = %e, size = batch.len(), "batch failed; retrying one by one");
            retry_one_by_one(shard, batch).await;
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

/// Answers a committed batch's requests, then publishes its new events in seq order.
///
/// Answers first: publishing wakes every socket of the rooms, and a sender's reply woken
/// after them would wait behind their writes on the same workers. Nobody sees an event
/// before its commit either way, and a socket that opens between the two starts at the
/// committed `last_seq`, so it skips the publish of what it already counts as seen.
fn deliver(batch: &mut Vec<(Message, Reply)>, outcomes: Vec<Outcome>, on_commit: &OnCommit) {
    let mut new: Vec<(EventView, Instant)> = outcomes
        .iter()
        .zip(batch.iter())
        .filter_map(|(o, (m, _))| match o {
            Ok(Sent::New(v)) => Some((v.clone(), m.received_at)),
            _ => None,
        })
        .collect();
    // usize is at most 64 bits wide: the fallback is never taken.
    let committed = u64::try_from(new.len()).unwrap_or(u64::MAX);
    metrics::counter!("roomcast_messages_committed_total").increment(committed);
    new.sort_by_key(|(v, _)| (v.event.room_id, v.event.seq));
    for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
        let _ = reply.send(outcome);
    }
    on_commit(&new);
}

/// Writes each message of a failed batch in its own transaction, in batch order (so each
/// room's seqs keep that order), so that only a message the database itself refuses fails.
/// A refused message's transaction rolls back with its seq: the room's next message takes it.
async fn retry_one_by_one(shard: &Shard, batch: &mut Vec<(Message, Reply)>) {
    let mut unavailable: Option<StoreError> = None;
    for (message, reply) in std::mem::take(batch) {
        if let Some(e) = &unavailable {
            let _ = reply.send(Err(e.replicate()));
            continue;
        }
        match phases::commit(&shard.db, &[&message], &shard.faults).await {
            Ok(outcomes) => deliver(&mut vec![(message, reply)], outcomes, &shard.on_commit),
            Err(e @ StoreError::Unavailable(_)) => {
                unavailable = Some(e.replicate());
                let _ = reply.send(Err(e));
            }
            Err(e) => {
                tracing::warn!(error = %e, room = message.room_id.0, "the database refused a message");
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

/// Test-only fault injection, so a test can kill a shard task the way a bug would. Empty
/// outside tests.
#[derive(Clone, Default)]
struct Faults {
    #[cfg(test)]
    panic_next: Arc<std::sync::atomic::AtomicBool>,
    #[cfg(test)]
    fired: Arc<std::sync::atomic::AtomicBool>,
}

impl Faults {
    /// Called inside a batch's transaction, after its seqs are reserved: fails it, so that it
    /// rolls back, and `die_if_fired` then kills the shard task with the batch in hand. (A
    /// panic on SQLite's blocking thread would reach the task only as an error.)
    fn inside_transaction(&self) -> diesel::QueryResult<()> {
        #[cfg(test)]
        if self
            .panic_next
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.fired.store(true, std::sync::atomic::Ordering::SeqCst);
            return Err(DieselError::QueryBuilderError(
                "injected writer fault".into(),
            ));
        }
        Ok(())
    }

    /// Called by the shard task after each transaction.
    fn die_if_fired(&self) {
        #[cfg(test)]
        if self.fired.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("injected writer fault");
        }
    }
}
