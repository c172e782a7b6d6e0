//! One gapless sequence per room: concurrent senders, replay with `after`,
//! and the hand-off from replay to live.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, Barrier};

use crate::support::{id, kind, seq, Backend, TestServer};

backend_tests!(
    concurrent_senders_share_one_gapless_sequence,
    a_socket_without_after_starts_live,
    refused_and_replayed_sends_in_a_burst_leave_no_gap,
);

const SENDERS: usize = 20;
const MESSAGES_EACH: usize = 5;

async fn concurrent_senders_share_one_gapless_sequence(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(50).await;
    // Opened before anything else happens: it must see all of it.
    let mut early = owner.events(room, Some(0)).await;

    let others = server.users(SENDERS - 1).await;
    for user in &others {
        user.join(room).await.expect(201);
    }
    let joins = SENDERS; // the owner's (seq 1) and one per other sender
    let messages = SENDERS * MESSAGES_EACH;
    let last = i64::try_from(joins + messages).unwrap();

    // Every message is its own task, released together by a barrier; each
    // reports its response on a channel as soon as it has one.
    let barrier = Arc::new(Barrier::new(messages));
    let (done, mut finished) = mpsc::unbounded_channel();
    let senders =
        std::iter::once(owner.client.clone()).chain(others.iter().map(|u| u.client.clone()));
    let author_ids: Vec<i64> = std::iter::once(owner.id)
        .chain(others.iter().map(|u| u.id))
        .collect();
    for (client, author) in senders.zip(&author_ids) {
        for k in 0..MESSAGES_EACH {
            let (client, barrier, done) = (client.clone(), barrier.clone(), done.clone());
            let content = format!("from {author} number {k}");
            let author = *author;
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client.send_message(room, &content).await;
                done.send((author, content, response)).unwrap();
            });
        }
    }
    drop(done);

    // A socket that starts replaying while the sends are still landing: the
    // replay-to-live hand-off must neither lose nor repeat anything.
    let mut stored = Vec::new();
    while stored.len() < messages / 3 {
        stored.push(finished.recv().await.unwrap());
    }
    let mut midway = owner.events(room, Some(0)).await;
    while let Some(result) = finished.recv().await {
        stored.push(result);
    }
    assert_eq!(stored.len(), messages);

    let mut by_seq = BTreeMap::new();
    for (author, content, response) in stored {
        let message = response.expect(201);
        assert_eq!(message["room_id"], room);
        assert_eq!(message["author"]["id"], author);
        assert_eq!(message["content"], content.as_str());
        let previous = by_seq.insert(seq(&message), message);
        assert!(previous.is_none(), "two messages got seq {previous:?}");
    }
    assert!(
        by_seq.keys().all(|s| (2..=last).contains(s)),
        "message seqs outside 2..={last}: {:?}",
        by_seq.keys()
    );
    assert_eq!(owner.room(room).await.expect(200)["last_seq"], last);

    // The full stream: 1..=last in order, joins and messages interleaved,
    // each message exactly as its sender was told it was stored.
    let all = early.next_events(usize::try_from(last).unwrap()).await;
    let mut joined = BTreeSet::new();
    for (i, event) in all.iter().enumerate() {
        assert_eq!(
            seq(event),
            i64::try_from(i).unwrap() + 1,
            "event {i} of the early socket: {event}"
        );
        assert_eq!(event["room_id"], room, "{event}");
        match kind(event) {
            "message.created" => assert_eq!(Some(&event["data"]), by_seq.get(&seq(event))),
            "member.joined" => {
                assert!(joined.insert(event["data"]["user"]["id"].as_i64().unwrap()));
            }
            other => panic!("unexpected {other} event: {event}"),
        }
    }
    assert_eq!(joined, author_ids.iter().copied().collect());

    assert_eq!(
        midway.next_events(usize::try_from(last).unwrap()).await,
        all,
        "midway socket"
    );

    let k = 57;
    let mut resumed = owner.events(room, Some(k)).await;
    let tail = resumed
        .next_events(usize::try_from(last - k).unwrap())
        .await;
    assert_eq!(
        tail,
        all[usize::try_from(k).unwrap()..],
        "socket resumed after {k}"
    );

    // One more event: the next thing on every socket must be exactly it, so
    // none of them had a duplicate or a straggler queued.
    let sentinel = owner.say(room, "sentinel").await;
    assert_eq!(seq(&sentinel), last + 1);
    for (name, socket) in [
        ("early", &mut early),
        ("midway", &mut midway),
        ("resumed", &mut resumed),
    ] {
        let next = socket.next_event().await;
        assert_eq!(next["data"], sentinel, "{name} socket after the burst");
    }

    // History holds the same messages (and only messages), by seq.
    let history = owner.history(room, "after=0&limit=100").await.expect(200);
    let listed: Vec<Value> = history["messages"].as_array().unwrap().clone();
    let expected: Vec<Value> = by_seq.values().cloned().collect();
    assert_eq!(listed, expected);
}

async fn a_socket_without_after_starts_live(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    for n in 0..3 {
        owner.say(room, &format!("before {n}")).await;
    }

    let mut live = owner.events(room, None).await;
    let mut at_last = owner.events(room, Some(4)).await;
    let message = owner.say(room, "after").await;
    assert_eq!(seq(&message), 5);
    for socket in [&mut live, &mut at_last] {
        let event = socket.next_event().await;
        assert_eq!(kind(&event), "message.created");
        assert_eq!(event["data"], message);
        assert_eq!(id(&event["data"]), id(&message));
    }
}

/// A batch reserves a seq for every message it takes in; a message then refused (sender not a
/// member) or replayed (same Idempotency-Key) must hand its seq back, or the room would get a
/// hole that no socket can ever fill. Accepted, refused and replayed sends race here, released
/// together so that they share batches.
async fn refused_and_replayed_sends_in_a_burst_leave_no_gap(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(50).await;
    let mut socket = owner.events(room, Some(0)).await;
    let members = server.users(5).await;
    for user in &members {
        user.join(room).await.expect(201);
    }
    let outsiders = server.users(5).await;
    // Each member first stores one keyed message, which the burst then repeats.
    for (i, user) in members.iter().enumerate() {
        user.client
            .send_keyed(room, &format!("keyed {i}"), &format!("key-{i}"))
            .await
            .expect(201);
    }

    const ROUNDS: usize = 4;
    let tasks = ROUNDS * (members.len() * 2 + outsiders.len());
    let barrier = Arc::new(Barrier::new(tasks));
    let (done, mut finished) = mpsc::unbounded_channel();
    for round in 0..ROUNDS {
        for (i, user) in members.iter().enumerate() {
            for keyed in [false, true] {
                let (client, barrier, done) = (user.client.clone(), barrier.clone(), done.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let response = if keyed {
                        client
                            .send_keyed(room, &format!("keyed {i}"), &format!("key-{i}"))
                            .await
                    } else {
                        client.send_message(room, &format!("new {i}.{round}")).await
                    };
                    done.send(("member", keyed, response)).unwrap();
                });
            }
        }
        for user in &outsiders {
            let (client, barrier, done) = (user.client.clone(), barrier.clone(), done.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client.send_message(room, "let me in").await;
                done.send(("outsider", false, response)).unwrap();
            });
        }
    }
    drop(done);

    let mut new = BTreeSet::new();
    let mut replays = 0;
    let mut refused = 0;
    while let Some((who, keyed, response)) = finished.recv().await {
        match (who, keyed) {
            ("outsider", _) => {
                response.expect_problem(403, "not-a-member");
                refused += 1;
            }
            (_, true) => {
                assert!(response.replayed(), "a repeated key must replay");
                response.expect(201);
                replays += 1;
            }
            _ => {
                assert!(new.insert(seq(&response.expect(201))), "a seq given twice");
            }
        }
    }
    assert_eq!((replays, refused), (ROUNDS * 5, ROUNDS * 5));

    // 1 owner join + 5 joins + 5 keyed messages, then exactly the new messages: no holes.
    let before_burst = 1 + 5 + 5;
    let last = before_burst + i64::try_from(new.len()).unwrap();
    assert_eq!(
        new,
        (before_burst + 1..=last).collect::<BTreeSet<i64>>(),
        "the burst's seqs"
    );
    assert_eq!(owner.room(room).await.expect(200)["last_seq"], last);
    let stream = socket.next_events(usize::try_from(last).unwrap()).await;
    let seqs: Vec<i64> = stream.iter().map(seq).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<i64>>());
    // And the next message follows on directly.
    assert_eq!(seq(&owner.say(room, "after").await), last + 1);
}
