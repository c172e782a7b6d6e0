//! Reactions: idempotent per user and emoji, counted per message in history with the
//! caller's own marked, one emoji at a time, bounded per message, gone with the message.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::support::{id, kind, seq, texts, Backend, TestServer};

backend_tests!(
    a_reaction_is_idempotent_and_history_counts_them,
    reactions_are_checked_and_bounded_and_go_with_their_message,
);

fn last_seq(room: &Value) -> i64 {
    room["last_seq"].as_i64().unwrap()
}

/// `emoji -> (count, me)` of the message `message` in a history page.
fn reactions_of(history: &[Value], message: i64) -> BTreeMap<String, (i64, bool)> {
    let listed = history.iter().find(|m| m["id"] == message).unwrap();
    // Left out when there are none.
    let none = Vec::new();
    let listed = match listed.get("reactions") {
        None => &none,
        Some(list) => list
            .as_array()
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| panic!("reactions must be a non-empty list or absent: {listed}")),
    };
    listed
        .iter()
        .map(|r| {
            (
                r["emoji"].as_str().unwrap().to_string(),
                (r["count"].as_i64().unwrap(), r["me"].as_bool().unwrap()),
            )
        })
        .collect()
}

async fn a_reaction_is_idempotent_and_history_counts_them(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let bob = server.user().await;
    let carol = server.user().await;
    let room = owner.new_room(5).await;
    bob.join(room).await.expect(201);
    carol.join(room).await.expect(201);
    let message = id(&bob.say(room, "react to me").await);
    let mut socket = carol.events(room, None).await;
    let before = last_seq(&owner.room(room).await.expect(200));

    owner.react(room, message, "👍").await.expect(204);
    let event = socket.next_event().await;
    assert_eq!(kind(&event), "reaction.added", "{event}");
    assert_eq!(seq(&event), before + 1);
    assert_eq!(
        event["data"],
        json!({ "message_id": message, "emoji": "👍", "user": { "id": owner.id, "username": owner.username, "bot": false } })
    );
    // A repeat answers the same and changes nothing.
    owner.react(room, message, "👍").await.expect(204);
    assert_eq!(last_seq(&owner.room(room).await.expect(200)), before + 1);

    bob.react(room, message, "👍").await.expect(204);
    // One emoji typed without its variation selector is the same emoji.
    carol.react(room, message, "❤").await.expect(204);
    carol.react(room, message, "❤️").await.expect(204);
    assert_eq!(last_seq(&owner.room(room).await.expect(200)), before + 3);

    let seen_by = |who: &'static str| {
        let user = match who {
            "owner" => &owner,
            _ => &carol,
        };
        async move { reactions_of(&user.all_messages(room).await, message) }
    };
    assert_eq!(
        seen_by("owner").await,
        BTreeMap::from([("👍".into(), (2, true)), ("❤️".into(), (1, false))])
    );
    assert_eq!(
        seen_by("carol").await,
        BTreeMap::from([("👍".into(), (2, false)), ("❤️".into(), (1, true))])
    );

    owner.unreact(room, message, "👍").await.expect(204);
    // Taking back what is not there is the same answer, and nothing happens.
    owner.unreact(room, message, "👍").await.expect(204);
    owner.unreact(room, message, "🎉").await.expect(204);
    assert_eq!(last_seq(&owner.room(room).await.expect(200)), before + 4);
    assert_eq!(
        seen_by("owner").await,
        BTreeMap::from([("👍".into(), (1, false)), ("❤️".into(), (1, false))])
    );
    let events = socket.next_events(3).await;
    let kinds: Vec<&str> = events.iter().map(kind).collect();
    assert_eq!(
        kinds,
        ["reaction.added", "reaction.added", "reaction.removed"]
    );
    assert_eq!(events[2]["data"]["emoji"], "👍");
    assert_eq!(events[1]["data"]["emoji"], "❤️");

    // A message nobody reacted to lists none.
    let quiet = id(&bob.say(room, "quiet").await);
    assert!(reactions_of(&owner.all_messages(room).await, quiet).is_empty());
}

async fn reactions_are_checked_and_bounded_and_go_with_their_message(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let stranger = server.user().await;
    let room = owner.new_room(5).await;
    let message = id(&owner.say(room, "bounded").await);

    stranger
        .react(room, message, "👍")
        .await
        .expect_problem(403, "not-a-member");
    for bad in ["a", "👍👍", ":+1:", "%20", "👍%20"] {
        owner
            .react(room, message, bad)
            .await
            .expect_problem(422, "validation-failed");
    }
    owner
        .react(room, 999_999, "👍")
        .await
        .expect_problem(404, "message-not-found");
    owner
        .react(999_999, message, "👍")
        .await
        .expect_problem(404, "room-not-found");

    let twenty = [
        "😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰",
        "😗", "😙", "😚", "🙂", "🤗",
    ];
    for emoji in twenty {
        owner.react(room, message, emoji).await.expect(204);
    }
    owner
        .react(room, message, "🤩")
        .await
        .expect_problem(409, "too-many-reactions");
    // One of the twenty is still fine, by anyone.
    let other = server.user().await;
    other.join(room).await.expect(201);
    other.react(room, message, "😀").await.expect(204);
    assert_eq!(
        reactions_of(&owner.all_messages(room).await, message).len(),
        20
    );

    owner.delete_message(room, message).await.expect(204);
    owner
        .react(room, message, "😀")
        .await
        .expect_problem(409, "message-deleted");
    owner
        .unreact(room, message, "😀")
        .await
        .expect_problem(409, "message-deleted");
    assert!(reactions_of(&owner.all_messages(room).await, message).is_empty());
    let left = texts(server.database_url(), "SELECT emoji AS v FROM reactions").await;
    assert!(left.is_empty(), "{left:?}");
}
