//! The writer against a real database, on both backends: what a mixed batch answers and which
//! seqs it takes, the same through concurrent sends, and a shard task that dies.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use super::phases::commit;
use super::*;
use crate::config::Config;
use crate::ids::{RoomId, Seq};
use crate::store::test_db::{Backend, TestDb};
use crate::store::{accounts, events, membership, rooms};

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both_backends!(
    a_mixed_batch_gets_the_right_outcomes_and_gap_free_seqs,
    concurrent_sends_through_the_writer_keep_every_room_gap_free,
    a_shard_that_dies_is_restarted_and_its_queue_is_served,
);

/// Ann owns `general`, where Bob is a member too; Cat owns `quiet`.
struct World {
    db: Db,
    ann: Profile,
    bob: Profile,
    cat: Profile,
    general: RoomId,
    quiet: RoomId,
    // Last: the database outlives every handle on it.
    _test_db: TestDb,
}

async fn world(backend: Backend) -> World {
    let test_db = TestDb::create_via(backend, None).await;
    let mut config = Config::defaults();
    config.database_url = test_db.url.clone();
    let db = Db::connect(&config).await.unwrap();
    let user = async |name: &str| {
        let u = accounts::create(&db, name, "not a hash", accounts::Grant::IfFirst, None)
            .await
            .unwrap();
        Profile {
            id: u.id,
            username: u.username,
            is_bot: false,
        }
    };
    let (ann, bob, cat) = (user("ann").await, user("bob").await, user("cat").await);
    let general = rooms::create(&db, ann.id, "general", 10, false)
        .await
        .unwrap()
        .0
        .id;
    let quiet = rooms::create(&db, cat.id, "quiet", 10, false)
        .await
        .unwrap()
        .0
        .id;
    membership::join(&db, general, bob.id, membership::Admission::Open)
        .await
        .unwrap();
    World {
        db,
        ann,
        bob,
        cat,
        general,
        quiet,
        _test_db: test_db,
    }
}

fn message(room: RoomId, author: &Profile, content: &str, key: Option<&str>) -> Message {
    Message {
        room_id: room,
        author: author.clone(),
        content: content.into(),
        // The digest stands for the body: same content, same digest.
        key: key.map(|k| (k.to_string(), format!("digest of {content}"))),
        received_at: Instant::now(),
    }
}

/// An outcome, reduced to what a test compares.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    New {
        room: RoomId,
        seq: i64,
        content: String,
    },
    Replayed {
        room: RoomId,
        seq: i64,
        content: String,
    },
    Refused(Rejection),
    Failed(String),
}

fn got(outcome: Result<Sent, StoreError>) -> Got {
    match outcome {
        Ok(Sent::New(v)) => Got::New {
            room: v.event.room_id,
            seq: v.event.seq.0,
            content: v.event.content.unwrap_or_default(),
        },
        Ok(Sent::Replayed(v)) => Got::Replayed {
            room: v.event.room_id,
            seq: v.event.seq.0,
            content: v.event.content.unwrap_or_default(),
        },
        Err(StoreError::Rejected(r)) => Got::Refused(r),
        Err(e) => Got::Failed(e.to_string()),
    }
}

fn new(room: RoomId, seq: i64, content: &str) -> Got {
    Got::New {
        room,
        seq,
        content: content.into(),
    }
}

fn replayed(room: RoomId, seq: i64, content: &str) -> Got {
    Got::Replayed {
        room,
        seq,
        content: content.into(),
    }
}

/// The room's log holds seqs 1..=last_seq, each once, and the counter says last_seq.
async fn assert_gap_free(db: &Db, room: RoomId) -> i64 {
    let last = rooms::last_seq(db, room).await.unwrap().unwrap().0;
    let seqs: Vec<i64> = events::after(db, room, Seq(0), None, 1000)
        .await
        .unwrap()
        .iter()
        .map(|v| v.event.seq.0)
        .collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "room {room}");
    last
}

async fn a_mixed_batch_gets_the_right_outcomes_and_gap_free_seqs(backend: Backend) {
    let w = world(backend).await;
    let (general, quiet) = (w.general, w.quiet);
    // general: 1 ann joined (creation), 2 bob joined. quiet: 1 cat joined.
    let first = [
        message(general, &w.ann, "a1", Some("k1")),
        message(general, &w.cat, "not a member", None),
        message(general, &w.ann, "a1", Some("k1")), // the same send again, same batch
        message(quiet, &w.cat, "c1", None),
        message(quiet, &w.bob, "not a member either", Some("k9")),
        message(general, &w.bob, "b1", Some("k2")),
        message(RoomId(general.0 + quiet.0 + 1000), &w.ann, "nowhere", None),
        message(general, &w.ann, "a1 changed", Some("k1")), // same key, other body
    ];
    let outcomes = commit(&w.db, &first.iter().collect::<Vec<_>>(), &Faults::default())
        .await
        .unwrap();
    assert_eq!(
        outcomes.into_iter().map(got).collect::<Vec<_>>(),
        [
            new(general, 3, "a1"),
            Got::Refused(Rejection::NotAMember),
            replayed(general, 3, "a1"),
            new(quiet, 2, "c1"),
            Got::Refused(Rejection::NotAMember),
            new(general, 4, "b1"),
            Got::Refused(Rejection::RoomNotFound),
            Got::Refused(Rejection::IdempotencyKeyReused),
        ]
    );
    assert_eq!(assert_gap_free(&w.db, general).await, 4);
    assert_eq!(assert_gap_free(&w.db, quiet).await, 2);

    // The keys were stored with their events: a later batch replays them from the database.
    let second = [
        message(general, &w.bob, "b1", Some("k2")),
        message(quiet, &w.cat, "c2", None),
        message(general, &w.ann, "a1", Some("k1")),
        message(general, &w.ann, "a1 changed", Some("k1")),
        message(general, &w.bob, "b2", None),
        // A refused send stored no key: the same key is free once the sender may send.
        message(quiet, &w.bob, "not a member either", Some("k9")),
    ];
    let outcomes = commit(
        &w.db,
        &second.iter().collect::<Vec<_>>(),
        &Faults::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes.into_iter().map(got).collect::<Vec<_>>(),
        [
            replayed(general, 4, "b1"),
            new(quiet, 3, "c2"),
            replayed(general, 3, "a1"),
            Got::Refused(Rejection::IdempotencyKeyReused),
            new(general, 5, "b2"),
            Got::Refused(Rejection::NotAMember),
        ]
    );
    assert_eq!(assert_gap_free(&w.db, general).await, 5);
    assert_eq!(assert_gap_free(&w.db, quiet).await, 3);

    // A batch where nothing is new gives back every seq it reserved.
    let third = [
        message(general, &w.cat, "no", None),
        message(general, &w.ann, "a1", Some("k1")),
    ];
    let outcomes = commit(&w.db, &third.iter().collect::<Vec<_>>(), &Faults::default())
        .await
        .unwrap();
    assert_eq!(
        outcomes.into_iter().map(got).collect::<Vec<_>>(),
        [
            Got::Refused(Rejection::NotAMember),
            replayed(general, 3, "a1")
        ]
    );
    assert_eq!(assert_gap_free(&w.db, general).await, 5);
}

/// Everything `on_commit` was handed, in order.
type Published = Arc<StdMutex<Vec<(RoomId, i64)>>>;

/// What was published once it holds `n` events: the writer answers a batch's senders before
/// it publishes the batch, so a test that has its answers may have to wait for the rest.
async fn settled(published: &Published, n: usize) -> Vec<(RoomId, i64)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = published.lock().unwrap().clone();
        if now.len() >= n || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn start(db: &Db, shards: usize) -> (Writer, Published) {
    let published = Published::default();
    let sink = published.clone();
    let writer = Writer::start(
        db.clone(),
        16,
        shards,
        1024,
        Arc::new(move |committed| {
            let mut sink = sink.lock().unwrap();
            sink.extend(
                committed
                    .iter()
                    .map(|(v, _)| (v.event.room_id, v.event.seq.0)),
            );
        }),
    );
    (writer, published)
}

async fn concurrent_sends_through_the_writer_keep_every_room_gap_free(backend: Backend) {
    let w = world(backend).await;
    let (writer, published) = start(&w.db, 2);
    let mut sends = Vec::new();
    for i in 0..40 {
        let (room, author) = match i % 4 {
            0 => (w.general, &w.ann),
            1 => (w.general, &w.bob),
            2 => (w.quiet, &w.cat),
            _ => (w.quiet, &w.ann), // not a member
        };
        // Sends 0 and 20, 5 and 25, … are the same keyed send twice (the content is the key).
        let key = (i % 5 == 0).then(|| format!("key {}", i % 4));
        let content = key.clone().unwrap_or_else(|| format!("plain {i}"));
        sends.push(message(room, author, &content, key.as_deref()));
    }
    let outcomes = futures_util::future::join_all(sends.into_iter().map(|m| {
        let writer = writer.clone();
        async move { got(writer.send(m).await) }
    }))
    .await;

    let refused = outcomes
        .iter()
        .filter(|g| **g == Got::Refused(Rejection::NotAMember))
        .count();
    assert_eq!(refused, 10, "{outcomes:?}");
    let mut new_seqs: HashMap<RoomId, Vec<i64>> = HashMap::new();
    // content -> (seqs stored new, seqs replayed)
    let mut keyed: HashMap<&str, (Vec<i64>, Vec<i64>)> = HashMap::new();
    for g in &outcomes {
        match g {
            Got::New { room, seq, content } => {
                new_seqs.entry(*room).or_default().push(*seq);
                if content.starts_with("key") {
                    keyed.entry(content).or_default().0.push(*seq);
                }
            }
            Got::Replayed { seq, content, .. } => keyed.entry(content).or_default().1.push(*seq),
            Got::Refused(Rejection::NotAMember) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    // Keys 0, 1 and 2 were each stored once and replayed once with the stored seq; key 3's
    // sender is not a member.
    assert_eq!(keyed.len(), 3, "{keyed:?}");
    for (key, (stored, replays)) in &keyed {
        assert_eq!(stored.len(), 1, "{key}: {keyed:?}");
        assert_eq!(replays, stored, "{key}: {keyed:?}");
    }
    let total = new_seqs.values().map(Vec::len).sum();
    let published = settled(&published, total).await;
    assert_eq!(published.len(), total, "{published:?}");
    for room in [w.general, w.quiet] {
        let last = assert_gap_free(&w.db, room).await;
        let mut seqs = new_seqs.remove(&room).unwrap_or_default();
        seqs.sort_unstable();
        // The sends took every seq after the setup's events, and none twice.
        let first = last - i64::try_from(seqs.len()).unwrap() + 1;
        assert_eq!(seqs, (first..=last).collect::<Vec<_>>(), "room {room}");
        // What was published for the room: exactly those, in seq order.
        let room_published: Vec<i64> = published
            .iter()
            .filter(|(r, _)| *r == room)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(room_published, seqs, "room {room}");
    }
}

async fn a_shard_that_dies_is_restarted_and_its_queue_is_served(backend: Backend) {
    let w = world(backend).await;
    let (writer, published) = start(&w.db, 1);
    let before = rooms::last_seq(&w.db, w.general).await.unwrap().unwrap().0;

    // The next batch panics inside its transaction, after reserving its seqs.
    writer.faults.panic_next.store(true, Ordering::SeqCst);
    let sends = (0..20).map(|i| {
        let writer = writer.clone();
        let m = message(w.general, &w.ann, &format!("m{i}"), None);
        async move { got(writer.send(m).await) }
    });
    // Every request is answered: none is lost in the queue or left waiting.
    let outcomes = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(sends),
    )
    .await
    .expect("every send is answered");
    let failed = outcomes
        .iter()
        .filter(|g| matches!(g, Got::Failed(e) if e.contains("unavailable")))
        .count();
    let stored = outcomes
        .iter()
        .filter(|g| matches!(g, Got::New { .. }))
        .count();
    assert!(failed >= 1, "the injected fault fired: {outcomes:?}");
    assert_eq!(failed + stored, outcomes.len(), "{outcomes:?}");

    // The shard runs again: a following send is stored, and the dead batch's reserved seqs
    // were rolled back with it (no gap).
    let after = got(writer.send(message(w.general, &w.bob, "after", None)).await);
    let expected_seq = before + i64::try_from(stored).unwrap() + 1;
    assert_eq!(after, new(w.general, expected_seq, "after"));
    assert_eq!(assert_gap_free(&w.db, w.general).await, expected_seq);
    assert_eq!(settled(&published, stored + 1).await.len(), stored + 1);
}
