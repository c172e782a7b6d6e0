//! Read markers and unread counts: `PUT /api/rooms/{id}/read` moves a member's marker forward
//! only; rooms carry `last_read_seq` and `unread`, the messages by others after the marker that
//! are not deleted, exact under concurrent sends, deletions and markers.

use serde_json::{json, Value};

use crate::support::{id, kind, seq, Backend, Client, TestServer, User};

backend_tests!(
    unread_counts_messages_by_others_after_the_marker,
    the_marker_only_moves_forward_and_is_for_members,
    unread_stays_exact_under_concurrent_sends_deletions_and_markers,
);

async fn put(who: &Client, path: &str, body: Value) -> crate::support::Resp {
    who.send(who.request(reqwest::Method::PUT, path).json(&body))
        .await
}

async fn mark(user: &Client, room: i64, seq: i64) -> Value {
    user.send(
        user.request(reqwest::Method::PUT, &format!("/api/rooms/{room}/read"))
            .json(&json!({ "seq": seq })),
    )
    .await
    .expect(200)
}

/// `(last_read_seq, unread)` as the room list shows it to `user`, checked against the room's
/// own JSON.
async fn state(user: &Client, room: i64) -> (i64, i64) {
    let list = user.rooms().await.expect(200);
    let listed = list["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| id(r) == room)
        .unwrap_or_else(|| panic!("room {room} not listed: {list}"))
        .clone();
    let shown = user.room(room).await.expect(200);
    assert_eq!(listed, shown, "the list and the room agree");
    (
        listed["last_read_seq"].as_i64().unwrap(),
        listed["unread"].as_i64().unwrap(),
    )
}

async fn unread_counts_messages_by_others_after_the_marker(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let bob = server.user().await;
    let room = owner.new_room(5).await;
    // Seqs: 1 owner joined, 2 bob joined.
    bob.join(room).await.expect(201);
    // A new member has read what came before their join.
    assert_eq!(state(&bob, room).await, (2, 0));
    assert_eq!(state(&owner, room).await, (1, 0));
    let m3 = owner.say(room, "three").await;
    owner.say(room, "four").await;
    let m5 = owner.say(room, "five").await;
    let m6 = bob.say(room, "six").await;
    // One's own messages are never unread.
    assert_eq!(state(&bob, room).await, (2, 3));
    assert_eq!(state(&owner, room).await, (1, 1));

    let answer = mark(&bob, room, 4).await;
    assert_eq!(
        answer,
        json!({ "room_id": room, "last_read_seq": 4, "unread": 1 })
    );
    assert_eq!(state(&bob, room).await, (4, 1));
    // Edits and reactions are not messages: nothing changes.
    owner
        .edit_message(room, id(&m5), "five!", None)
        .await
        .expect(200);
    bob.react(room, id(&m5), "👍").await.expect(204);
    assert_eq!(state(&bob, room).await, (4, 1));
    // A deleted message is not unread: after the marker it leaves the count, before it
    // nothing changes.
    owner.delete_message(room, id(&m5)).await.expect(204);
    assert_eq!(state(&bob, room).await, (4, 0));
    owner.delete_message(room, id(&m3)).await.expect(204);
    assert_eq!(state(&bob, room).await, (4, 0));
    // The owner's marker is at 1: bob's message is unread, until bob deletes it.
    assert_eq!(state(&owner, room).await, (1, 1));
    bob.delete_message(room, id(&m6)).await.expect(204);
    assert_eq!(state(&owner, room).await, (1, 0));

    // Seqs so far: 3-6 messages, 7 edit, 8 reaction, 9-11 deletions.
    let last = owner.room(room).await.expect(200)["last_seq"]
        .as_i64()
        .unwrap();
    assert_eq!(last, 11);
    let a = owner.say(room, "a").await;
    let b2 = owner.say(room, "b").await;
    assert_eq!(state(&bob, room).await, (4, 2));
    // Marking a seq between them counts only what the marker passes.
    assert_eq!(mark(&bob, room, seq(&a)).await["unread"], 1);
    assert_eq!(mark(&bob, room, seq(&b2)).await["unread"], 0);
    // Leaving forgets the marker; joining again starts at the join.
    bob.leave(room).await.expect(204);
    owner.say(room, "while away").await;
    bob.join(room).await.expect(201);
    let joined_at = owner.room(room).await.expect(200)["last_seq"]
        .as_i64()
        .unwrap();
    assert_eq!(state(&bob, room).await, (joined_at, 0));
    owner.say(room, "welcome back").await;
    assert_eq!(state(&bob, room).await, (joined_at, 1));
}

async fn the_marker_only_moves_forward_and_is_for_members(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let stranger = server.user().await;
    let room = owner.new_room(5).await;
    let bob = server.user().await;
    bob.join(room).await.expect(201);
    for n in 0..4 {
        owner.say(room, &format!("m{n}")).await;
    }
    // Seqs 3-6 are messages.
    assert_eq!(mark(&bob, room, 5).await["last_read_seq"], 5);
    // A smaller or equal seq is a no-op answering the current state.
    for back in [0, 3, 5] {
        assert_eq!(
            mark(&bob, room, back).await,
            json!({ "room_id": room, "last_read_seq": 5, "unread": 1 })
        );
    }
    // Past the room's last seq: clamped to it.
    assert_eq!(
        mark(&bob, room, 1_000_000).await,
        json!({ "room_id": room, "last_read_seq": 6, "unread": 0 })
    );
    owner.say(room, "later").await;
    assert_eq!(state(&bob, room).await, (6, 1));

    // Members only; a non-member's room JSON has neither field.
    let path = format!("/api/rooms/{room}/read");
    put(&stranger, &path, json!({ "seq": 1 }))
        .await
        .expect_problem(403, "not-a-member");
    let seen = stranger.room(room).await.expect(200);
    assert!(
        seen.get("unread").is_none() && seen.get("last_read_seq").is_none(),
        "{seen}"
    );
    put(&server.client(), &path, json!({ "seq": 1 }))
        .await
        .expect_problem(401, "unauthenticated");
    owner
        .send(
            owner
                .request(reqwest::Method::PUT, "/api/rooms/999999/read")
                .json(&json!({ "seq": 1 })),
        )
        .await
        .expect_problem(404, "room-not-found");
    for bad in [
        json!({ "seq": -1 }),
        json!({ "seq": "7" }),
        json!({}),
        json!({ "seq": 1.5 }),
        json!({ "seq": 9_223_372_036_854_775_808_u64 }),
    ] {
        put(&bob, &path, bad)
            .await
            .expect_problem(422, "validation-failed");
    }
    // The refusals changed nothing.
    assert_eq!(state(&bob, room).await, (6, 1));
}

/// The unread count a client would compute from the whole listed history: messages by
/// others, not deleted, after `marker`.
async fn counted(user: &User, room: i64, marker: i64) -> i64 {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = user
            .get(&format!("/api/rooms/{room}/events?after={after}&limit=200"))
            .await
            .expect(200);
        events.extend(page["events"].as_array().unwrap().clone());
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let deleted: Vec<i64> = events
        .iter()
        .filter(|e| kind(e) == "message.deleted")
        .map(|e| e["data"]["message_id"].as_i64().unwrap())
        .collect();
    let n = events
        .iter()
        .filter(|e| kind(e) == "message.created" && seq(e) > marker)
        .filter(|e| id(&e["data"]["author"]) != user.id && !deleted.contains(&id(&e["data"])))
        .count();
    i64::try_from(n).unwrap()
}

async fn unread_stays_exact_under_concurrent_sends_deletions_and_markers(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(10).await;
    let people = server.users(3).await;
    for p in &people {
        p.join(room).await.expect(201);
    }
    let reader = &people[0];
    // Everyone sends at once; the owner deletes some of what it sent; the reader moves its
    // marker to whatever the room's last seq is, again and again; all concurrently.
    let senders = people.iter().chain([&owner]).map(|p| async move {
        let mut mine = Vec::new();
        for n in 0..15 {
            mine.push(p.say(room, &format!("{} {n}", p.username)).await);
        }
        mine
    });
    let deleter = async {
        for n in 0..6 {
            let m = owner.say(room, &format!("doomed {n}")).await;
            owner.delete_message(room, id(&m)).await.expect(204);
        }
    };
    let marker = async {
        for _ in 0..10 {
            let last = reader.room(room).await.expect(200)["last_seq"]
                .as_i64()
                .unwrap();
            mark(reader, room, last).await;
        }
    };
    let (_, _, _) = tokio::join!(futures_util::future::join_all(senders), deleter, marker);
    for p in people.iter().chain([&owner]) {
        let (marker, unread) = state(p, room).await;
        assert_eq!(unread, counted(p, room, marker).await, "{}", p.username);
    }
    let (marker, unread) = state(reader, room).await;
    assert!(
        marker > 4 && unread < 45,
        "the marker moved: {marker}, {unread}"
    );
    // Everything read, for everyone.
    for p in people.iter().chain([&owner]) {
        let last = p.room(room).await.expect(200)["last_seq"].as_i64().unwrap();
        assert_eq!(mark(p, room, last).await["unread"], 0);
    }
}
