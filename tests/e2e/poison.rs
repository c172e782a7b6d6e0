//! Poison input: text no database should hold is refused before it gets there, and a message
//! the database itself refuses fails only its own send, never the others sharing its batch.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use serde_json::{json, Value};
use tokio_postgres::NoTls;

use crate::support::{seq, unique_username, Backend, TestServer, PASSWORD};

backend_tests!(
    control_characters_are_refused_in_every_text_field,
    a_refused_row_fails_only_its_own_send,
);

/// Control characters no text field may hold (C0 but tab/LF, lone CR, DEL, C1).
const REFUSED: [&str; 8] = [
    "a\0b",
    "a\u{1}b",
    "bell\u{7}",
    "\u{1b}[2Jclear",
    "over\rwrite",
    "del\u{7f}",
    "c1\u{85}x",
    "csi\u{9b}31m",
];

async fn control_characters_are_refused_in_every_text_field(b: Backend) {
    let server = TestServer::start(b).await;
    let user = server.user().await;
    let room = user.new_room(5).await;
    let anonymous = server.client();

    for bad in REFUSED {
        let r = user.send_message(room, bad).await;
        r.expect_problem(422, "validation-failed");
        assert_eq!(r.json["field"], "content", "{}", r.text);

        let r = user.create_room(&format!("room {bad}"), 5).await;
        r.expect_problem(422, "validation-failed");
        assert_eq!(r.json["field"], "name", "{}", r.text);

        let r = user.create_bot(&format!("bot{bad}")).await;
        r.expect_problem(422, "validation-failed");
        assert_eq!(r.json["field"], "name", "{}", r.text);

        let r = anonymous.register(&format!("user{bad}"), PASSWORD).await;
        r.expect_problem(422, "validation-failed");
        assert_eq!(r.json["field"], "username", "{}", r.text);
    }
    // A room name is one line: not even tab or line feed inside it.
    for bad in ["two\nlines", "tab\tbed", "cr\r\nlf"] {
        user.create_room(bad, 5)
            .await
            .expect_problem(422, "validation-failed");
    }

    // Nothing of that was stored.
    assert_eq!(user.room(room).await.expect(200)["last_seq"], 1);
    assert_eq!(
        user.rooms().await.expect(200)["rooms"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(user.get("/api/bots").await.expect(200)["bots"], json!([]));

    // Multi-line content keeps tab, line feed and CR LF, byte for byte.
    for ok in ["a\tb", "line 1\nline 2", "line 1\r\nline 2"] {
        assert_eq!(user.say(room, ok).await["content"], ok);
    }
    let stored: Vec<Value> = user
        .all_messages(room)
        .await
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(stored, ["a\tb", "line 1\nline 2", "line 1\r\nline 2"]);

    // Passwords are never stored (only their hash), so they may hold anything.
    let name = unique_username("nul");
    let odd_password = "pass\0word\u{1b}\r";
    anonymous.register(&name, odd_password).await.expect(201);
    server.client().login(&name, odd_password).await.expect(200);
    server
        .client()
        .login(&name, "pass")
        .await
        .expect_problem(401, "invalid-credentials");
}

/// The content the test database refuses.
const POISON: &str = "POISON-PILL";

/// Makes the test database refuse any event whose content is `POISON`, with a CHECK violation:
/// a row no validation can foresee (the API refuses what it knows to be unstorable).
async fn refuse_poison(server: &TestServer) {
    let url = server.database_url().to_string();
    if let Some(path) = url.strip_prefix("sqlite://") {
        // SQLite cannot add a CHECK to an existing table; a trigger feeding one does it.
        let path = path.to_string();
        tokio::task::spawn_blocking(move || {
            let mut conn = SqliteConnection::establish(&path).unwrap();
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = 10000;
                 CREATE TABLE poison_guard (content TEXT CHECK (content <> '{POISON}'));
                 CREATE TRIGGER poison_pill BEFORE INSERT ON events
                     WHEN NEW.content = '{POISON}'
                     BEGIN INSERT INTO poison_guard VALUES (NEW.content); END;"
            ))
            .unwrap();
        })
        .await
        .unwrap();
    } else {
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "ALTER TABLE events ADD CONSTRAINT poison_pill \
                 CHECK (content IS DISTINCT FROM '{POISON}')"
            ))
            .await
            .unwrap();
    }
}

/// Honest senders per test, each in a room of their own, and messages each.
const SENDERS: usize = 6;
const PER_SENDER: usize = 20;
/// The villain's own honest messages, each followed by a poison one.
const VILLAIN_ROUNDS: usize = 8;

async fn a_refused_row_fails_only_its_own_send(b: Backend) {
    // One writer shard, so every room's sends can share a batch.
    let server = TestServer::builder(b)
        .env("ROOMCAST_WRITE_SHARDS", "1")
        .start()
        .await;
    let honest = server.users(SENDERS).await;
    let villain = server.user().await;
    let mut rooms = Vec::new();
    for user in &honest {
        rooms.push(user.new_room(5).await);
    }
    let villain_room = villain.new_room(5).await;
    refuse_poison(&server).await;

    // Alone, the refused message gets its own answer and takes no seq.
    let r = villain.send_message(villain_room, POISON).await;
    r.expect_problem(422, "validation-failed");
    assert_eq!(r.json["field"], "content", "{}", r.text);
    assert_eq!(seq(&villain.say(villain_room, "first").await), 2);

    // Hold the writer on a batch in the database while everything else queues behind it, so
    // the poison shares the next batch with every honest sender.
    let block = server.block_writes().await;
    let mut sends = tokio::task::JoinSet::new();
    for (user, room) in honest.iter().zip(&rooms) {
        for k in 0..PER_SENDER {
            let (client, room) = (user.client.clone(), *room);
            let content = format!("{}-{k}", user.username);
            sends.spawn(async move {
                let r = client.send_message(room, &content).await;
                (room, content, r)
            });
        }
    }
    for k in 0..VILLAIN_ROUNDS {
        for content in [format!("ok-{k}"), POISON.to_string()] {
            let client = villain.client.clone();
            sends.spawn(async move {
                let r = client.send_message(villain_room, &content).await;
                (villain_room, content, r)
            });
        }
    }
    // Not an assertion: time for the requests to reach the writer's queue.
    tokio::time::sleep(Duration::from_millis(800)).await;
    block.release().await;

    let mut accepted: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    accepted
        .entry(villain_room)
        .or_default()
        .push("first".into());
    while let Some(done) = sends.join_next().await {
        let (room, content, r) = done.unwrap();
        if content == POISON {
            r.expect_problem(422, "validation-failed");
        } else {
            assert_eq!(r.status, 201, "honest send {content:?} got {}", r.text);
            accepted.entry(room).or_default().push(content);
        }
    }
    assert!(
        server.log_tail(2000).contains("retrying one by one"),
        "the poison never shared a batch, so this test proved nothing:\n{}",
        server.log_tail(40)
    );

    // Every accepted message is stored once, with gap-free seqs: the refused ones took none.
    for (room, mut want) in accepted {
        let owner = if room == villain_room {
            &villain
        } else {
            &honest[rooms.iter().position(|r| *r == room).unwrap()]
        };
        let stored = owner.all_messages(room).await;
        let seqs: Vec<i64> = stored.iter().map(seq).collect();
        let first = seqs.first().copied().unwrap_or(2);
        assert_eq!(first, 2, "room {room}: seqs {seqs:?}");
        assert_eq!(
            seqs,
            (2..2 + i64::try_from(want.len()).unwrap()).collect::<Vec<_>>(),
            "room {room}: seqs have a gap or an extra"
        );
        let mut got: Vec<String> = stored
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "room {room}: stored messages");
        assert_eq!(
            owner.room(room).await.expect(200)["last_seq"],
            1 + i64::try_from(want.len()).unwrap(),
            "room {room}: last_seq counts a refused message"
        );
    }
}
