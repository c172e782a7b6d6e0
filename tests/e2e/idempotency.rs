//! `Idempotency-Key` on send: a retry replays the stored message instead of
//! storing another one, per sender and per room, for a limited time.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::Barrier;
use tokio::time::{sleep, Instant};

use crate::support::{id, kind, seq, Backend, TestServer, User};

backend_tests!(
    a_retry_returns_the_original_message_and_stores_nothing,
    a_key_reused_with_another_body_is_refused,
    concurrent_requests_with_one_key_store_one_message,
    keys_are_scoped_to_the_sender_and_the_room,
    invalid_keys_are_refused,
    a_key_is_forgotten_after_the_retention_period,
    a_retry_after_a_lost_answer_stores_the_message_once,
);

/// The room's `last_seq`.
async fn last_seq(user: &User, room: i64) -> i64 {
    user.room(room).await.expect(200)["last_seq"]
        .as_i64()
        .unwrap()
}

async fn a_retry_returns_the_original_message_and_stores_nothing(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let mut socket = owner.events(room, None).await;

    let first = owner.send_keyed(room, "exactly once", "retry-1").await;
    assert!(
        !first.replayed(),
        "a first request is not a replay: {:?}",
        first.headers
    );
    let original = first.expect(201);
    assert_eq!(seq(&original), 2, "{original}");

    for attempt in 0..3 {
        let retry = owner.send_keyed(room, "exactly once", "retry-1").await;
        assert!(
            retry.replayed(),
            "retry {attempt} lacks Idempotent-Replayed: true (headers {:?})",
            retry.headers
        );
        // Same id, seq, author, content and created_at: the same message.
        assert_eq!(retry.expect(201), original, "retry {attempt}");
    }

    assert_eq!(last_seq(&owner, room).await, 2, "a replay took a seq");
    assert_eq!(owner.all_messages(room).await, vec![original.clone()]);

    // Sockets got the message once: the next event after it is the next send.
    assert_eq!(socket.next_event().await["data"], original);
    let next = owner.say(room, "the next one").await;
    assert_eq!(seq(&next), 3, "the seq after the replays: {next}");
    assert_eq!(
        socket.next_event().await["data"],
        next,
        "a replay was published"
    );
}

async fn a_key_reused_with_another_body_is_refused(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let original = owner.send_keyed(room, "one", "reused").await.expect(201);

    let other = owner.send_keyed(room, "two", "reused").await;
    other.expect_problem(422, "idempotency-key-reused");

    assert_eq!(last_seq(&owner, room).await, 2);
    assert_eq!(owner.all_messages(room).await, vec![original.clone()]);
    // The refusal did not disturb the key: the original body still replays.
    let retry = owner.send_keyed(room, "one", "reused").await;
    assert!(retry.replayed(), "{:?}", retry.headers);
    assert_eq!(retry.expect(201), original);
}

const CONCURRENT: usize = 20;

async fn concurrent_requests_with_one_key_store_one_message(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    // Real tasks, released together, all with the same key and body.
    let barrier = Arc::new(Barrier::new(CONCURRENT));
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENT {
        let (client, barrier) = (owner.client.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            client.send_keyed(room, "one of twenty", "same-key").await
        }));
    }
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.unwrap());
    }

    let fresh = responses.iter().filter(|r| !r.replayed()).count();
    let messages: Vec<Value> = responses.into_iter().map(|r| r.expect(201)).collect();
    for message in &messages {
        assert_eq!(message, &messages[0], "two answers differ");
    }
    assert_eq!(
        fresh, 1,
        "exactly one answer should have stored the message, the rest replay it"
    );
    assert_eq!(last_seq(&owner, room).await, 2);
    assert_eq!(owner.all_messages(room).await, vec![messages[0].clone()]);
}

async fn keys_are_scoped_to_the_sender_and_the_room(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let member = server.user().await;
    let room = owner.new_room(5).await;
    let other_room = owner.new_room(5).await;
    member.join(room).await.expect(201);

    let owners = owner.send_keyed(room, "hello", "shared").await.expect(201);
    // Another sender, same key, same body: their own message, not a replay.
    let response = member.send_keyed(room, "hello", "shared").await;
    assert!(!response.replayed(), "{:?}", response.headers);
    let members = response.expect(201);
    assert_ne!(id(&members), id(&owners));
    assert_eq!(members["author"]["id"], member.id);
    // Same sender, same key, another room, another body: not a reuse.
    let response = owner.send_keyed(other_room, "elsewhere", "shared").await;
    assert!(!response.replayed(), "{:?}", response.headers);
    let elsewhere = response.expect(201);
    assert_eq!(elsewhere["room_id"], other_room);

    // Each scope replays its own message.
    for (user, room, content, expected) in [
        (&owner, room, "hello", &owners),
        (&member, room, "hello", &members),
        (&owner, other_room, "elsewhere", &elsewhere),
    ] {
        let retry = user.send_keyed(room, content, "shared").await;
        assert!(retry.replayed(), "{:?}", retry.headers);
        assert_eq!(&retry.expect(201), expected);
    }
    assert_eq!(
        owner.all_messages(room).await,
        vec![owners.clone(), members.clone()]
    );
    assert_eq!(owner.all_messages(other_room).await, vec![elsewhere]);
}

async fn invalid_keys_are_refused(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let path = format!("/api/rooms/{room}/messages");
    let with_key = |key: HeaderValue| {
        owner
            .request(Method::POST, &path)
            .json(&serde_json::json!({ "content": "keyed" }))
            .header("Idempotency-Key", key)
    };

    let too_long = "k".repeat(256);
    let invalid: [(&str, HeaderValue); 4] = [
        ("empty", HeaderValue::from_static("")),
        ("256 characters", HeaderValue::from_str(&too_long).unwrap()),
        ("a tab", HeaderValue::from_str("tab\there").unwrap()),
        (
            "non-ASCII bytes",
            HeaderValue::from_bytes("ünïcode".as_bytes()).unwrap(),
        ),
    ];
    for (what, key) in invalid {
        let response = owner.send(with_key(key)).await;
        assert_eq!(response.status, 400, "key with {what}: {}", response.text);
        response.expect_problem(400, "invalid-idempotency-key");
    }
    assert_eq!(last_seq(&owner, room).await, 1, "an invalid key stored");

    // The edges of what is accepted.
    let longest = "k".repeat(255);
    for key in [
        "a",
        longest.as_str(),
        "0f8e-4c1a!~#$%&'*+.^_`|:;<>=?@[]{}()/",
    ] {
        let response = owner
            .send(with_key(HeaderValue::from_str(key).unwrap()))
            .await;
        assert_eq!(response.status, 201, "key {key:?}: {}", response.text);
    }
    assert_eq!(last_seq(&owner, room).await, 4);
}

async fn a_key_is_forgotten_after_the_retention_period(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_IDEMPOTENCY_RETENTION_SECS", "1")
        .env("ROOMCAST_JANITOR_INTERVAL_SECS", "1")
        .start()
        .await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let mut socket = owner.events(room, None).await;
    let first = owner
        .send_keyed(room, "again", "expiring")
        .await
        .expect(201);

    // Retention 1 s plus a sweep every second: well within 20 s the key is
    // gone and the same request stores a new message. Until then it replays.
    let deadline = Instant::now() + Duration::from_secs(20);
    let second = loop {
        let response = owner.send_keyed(room, "again", "expiring").await;
        if !response.replayed() {
            break response.expect(201);
        }
        assert_eq!(response.expect(201), first, "a replay of another message");
        assert!(
            Instant::now() < deadline,
            "the key was still replayed 20 s after it was used \
             (retention 1 s, janitor every 1 s)"
        );
        sleep(Duration::from_millis(250)).await;
    };

    assert_ne!(id(&second), id(&first));
    assert_eq!(second["content"], "again");
    assert_eq!(seq(&second), seq(&first) + 1, "{second}");
    assert_eq!(
        owner.all_messages(room).await,
        vec![first.clone(), second.clone()]
    );
    for expected in [&first, &second] {
        let event = socket.next_event().await;
        assert_eq!(kind(&event), "message.created");
        assert_eq!(&event["data"], expected);
    }
    // The key now stands for the new message.
    let retry = owner.send_keyed(room, "again", "expiring").await;
    if retry.replayed() {
        assert_eq!(retry.expect(201), second);
    }
}

async fn a_retry_after_a_lost_answer_stores_the_message_once(b: Backend) {
    let server = TestServer::builder(b)
        // The test plays a slow database; the server must wait for it.
        .env("ROOMCAST_SQLITE_BUSY_TIMEOUT_MS", "20000")
        .env("ROOMCAST_DB_POOL_TIMEOUT_MS", "20000")
        .start()
        .await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    // The database is write-locked, so the answer cannot come in time: the
    // client gives up after a second, not knowing whether it was stored.
    let block = server.block_writes().await;
    let request = owner
        .message_request(room, "was it stored?", Some("lost-answer"))
        .timeout(Duration::from_secs(1));
    let lost = owner.try_send(request).await;
    assert!(
        lost.as_ref().is_err_and(|e| e.is_timeout()),
        "a send answered while the database was write-locked: {lost:?}"
    );
    block.release().await;

    // The retry gets the one stored message, whether the first attempt was
    // completed (then this is a replay) or abandoned with its connection.
    let retry = owner
        .send_keyed(room, "was it stored?", "lost-answer")
        .await;
    let replayed = retry.replayed();
    let message = retry.expect(201);
    eprintln!("{b:?}: the retry after the lost answer was a replay: {replayed}");
    assert_eq!(message["content"], "was it stored?");
    assert_eq!(owner.all_messages(room).await, vec![message.clone()]);
    assert_eq!(last_seq(&owner, room).await, 2);
    // And the server is none the worse for the abandoned request.
    for n in 0..3 {
        let next = owner.say(room, &format!("next {n}")).await;
        assert_eq!(seq(&next), 3 + n, "{next}");
    }
    let again = owner
        .send_keyed(room, "was it stored?", "lost-answer")
        .await;
    assert!(again.replayed(), "{:?}", again.headers);
    assert_eq!(again.expect(201), message);
}
