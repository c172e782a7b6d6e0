//! Editing and deleting messages: who may, what history and the sockets show, the
//! Idempotency-Key of an edit, and that a deleted message's text is gone from the database.

use serde_json::Value;

use crate::support::{id, kind, seq, texts, Backend, TestServer};

backend_tests!(
    only_the_author_edits_and_everyone_sees_the_latest_content,
    an_edit_under_one_key_is_applied_once,
    the_author_or_the_owner_deletes_and_history_keeps_a_tombstone,
    a_deleted_messages_text_is_gone_from_the_database,
);

fn last_seq(room: &Value) -> i64 {
    room["last_seq"].as_i64().unwrap()
}

async fn only_the_author_edits_and_everyone_sees_the_latest_content(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let bob = server.user().await;
    let stranger = server.user().await;
    let room = owner.new_room(5).await;
    let other_room = owner.new_room(5).await;
    bob.join(room).await.expect(201);
    let sent = bob.say(room, "helo").await;
    let message = id(&sent);
    let foreign = owner.say(other_room, "elsewhere").await;
    let mut socket = owner.events(room, None).await;

    owner
        .edit_message(room, message, "owned", None)
        .await
        .expect_problem(403, "not-author");
    stranger
        .edit_message(room, message, "mine", None)
        .await
        .expect_problem(403, "not-a-member");
    bob.edit_message(room, 999_999, "x", None)
        .await
        .expect_problem(404, "message-not-found");
    // A message of another room is not found through this one.
    owner
        .edit_message(room, id(&foreign), "x", None)
        .await
        .expect_problem(404, "message-not-found");
    bob.edit_message(999_999, message, "x", None)
        .await
        .expect_problem(404, "room-not-found");
    // The same content rules as a send.
    bob.edit_message(room, message, "  \n ", None)
        .await
        .expect_problem(422, "validation-failed");
    bob.edit_message(room, message, "bad\u{1b}[2J", None)
        .await
        .expect_problem(422, "validation-failed");
    let before = last_seq(&owner.room(room).await.expect(200));

    let edited = bob
        .edit_message(room, message, "  hello  ", None)
        .await
        .expect(200);
    assert_eq!(edited["id"], message);
    assert_eq!(edited["seq"], sent["seq"]);
    assert_eq!(edited["content"], "hello", "stored trimmed");
    assert_eq!(edited["created_at"], sent["created_at"]);
    assert!(edited["edited_at"].is_string(), "{edited}");
    assert!(edited["deleted_at"].is_null(), "{edited}");

    // Live: one message.updated with the room's next seq.
    let event = socket.next_event().await;
    assert_eq!(kind(&event), "message.updated", "{event}");
    assert_eq!(seq(&event), before + 1);
    assert_eq!(event["data"]["message_id"], message);
    assert_eq!(event["data"]["content"], "hello");
    assert_eq!(event["data"]["edited_at"], edited["edited_at"]);
    assert_eq!(event["data"]["by"]["id"], bob.id);
    assert_eq!(last_seq(&owner.room(room).await.expect(200)), before + 1);

    // History shows the latest content.
    let history = owner.all_messages(room).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0], edited);

    // Replay rebuilds the same: the message (as it is now), then its edit.
    let replayed = owner.event_log(room, before + 1).await;
    let created = replayed
        .iter()
        .find(|e| kind(e) == "message.created")
        .unwrap();
    assert_eq!(created["data"], edited);
    assert_eq!(replayed.last().unwrap(), &event);
}

async fn an_edit_under_one_key_is_applied_once(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let message = id(&owner.say(room, "first").await);
    let other = id(&owner.say(room, "second").await);

    let edited = owner.edit_message(room, message, "once", Some("e-1")).await;
    assert!(!edited.replayed());
    let edited = edited.expect(200);
    let after_edit = last_seq(&owner.room(room).await.expect(200));

    // The same key and body: the message as it is, nothing new stored.
    let again = owner.edit_message(room, message, "once", Some("e-1")).await;
    assert!(again.replayed(), "{:?}", again.headers);
    assert_eq!(again.expect(200), edited);
    assert_eq!(last_seq(&owner.room(room).await.expect(200)), after_edit);

    // The key with another body, another message, or for a send: refused.
    owner
        .edit_message(room, message, "twice", Some("e-1"))
        .await
        .expect_problem(422, "idempotency-key-reused");
    owner
        .edit_message(room, other, "once", Some("e-1"))
        .await
        .expect_problem(422, "idempotency-key-reused");
    owner
        .send_keyed(room, "once", "e-1")
        .await
        .expect_problem(422, "idempotency-key-reused");
    // A send's key is not an edit's either.
    owner.send_keyed(room, "keyed", "s-1").await.expect(201);
    owner
        .edit_message(room, message, "keyed", Some("s-1"))
        .await
        .expect_problem(422, "idempotency-key-reused");
    owner
        .edit_message(room, message, "x", Some(&"k".repeat(256)))
        .await
        .expect_problem(400, "invalid-idempotency-key");
    let history = owner.all_messages(room).await;
    assert_eq!(history[0]["content"], "once");
    assert_eq!(history[1]["content"], "second");
    assert_eq!(history.len(), 3);
    assert_eq!(
        last_seq(&owner.room(room).await.expect(200)),
        after_edit + 1
    );
}

async fn the_author_or_the_owner_deletes_and_history_keeps_a_tombstone(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let bob = server.user().await;
    let carol = server.user().await;
    let room = owner.new_room(5).await;
    bob.join(room).await.expect(201);
    carol.join(room).await.expect(201);
    let first = bob.say(room, "mine to delete").await;
    let second = bob.say(room, "the owner's to delete").await;
    let kept = carol.say(room, "kept").await;
    let mut socket = carol.events(room, None).await;
    let before = last_seq(&owner.room(room).await.expect(200));

    carol
        .delete_message(room, id(&first))
        .await
        .expect_problem(403, "not-author");
    bob.delete_message(room, 999_999)
        .await
        .expect_problem(404, "message-not-found");
    bob.delete_message(room, id(&first)).await.expect(204);
    let event = socket.next_event().await;
    assert_eq!(kind(&event), "message.deleted", "{event}");
    assert_eq!(seq(&event), before + 1);
    assert_eq!(event["data"]["message_id"], first["id"]);
    assert_eq!(event["data"]["by"]["id"], bob.id);
    assert!(event["data"]["deleted_at"].is_string(), "{event}");

    // Deleting again changes nothing and sends nothing.
    bob.delete_message(room, id(&first)).await.expect(204);
    assert_eq!(last_seq(&owner.room(room).await.expect(200)), before + 1);

    // The owner deletes anyone's message.
    owner.delete_message(room, id(&second)).await.expect(204);
    let event = socket.next_event().await;
    assert_eq!(kind(&event), "message.deleted", "{event}");
    assert_eq!(seq(&event), before + 2);
    assert_eq!(event["data"]["by"]["id"], owner.id);

    // A deleted message can be neither edited nor deleted into something else.
    bob.edit_message(room, id(&first), "back", None)
        .await
        .expect_problem(409, "message-deleted");

    // History: tombstones in place, with id, seq and author, and no content.
    let history = carol.all_messages(room).await;
    assert_eq!(history.len(), 3);
    for (tomb, sent) in history.iter().zip([&first, &second]) {
        assert_eq!(tomb["id"], sent["id"]);
        assert_eq!(tomb["seq"], sent["seq"]);
        assert_eq!(tomb["author"], sent["author"]);
        assert!(tomb["content"].is_null(), "{tomb}");
        assert!(tomb["deleted_at"].is_string(), "{tomb}");
    }
    assert_eq!(history[2], kept);

    // Replay shows the tombstones too: no frame carries the deleted text.
    let replayed = carol.event_log(room, before + 2).await;
    let text = serde_json::to_string(&replayed).unwrap();
    assert!(!text.contains("to delete"), "{text}");
    assert_eq!(
        replayed
            .iter()
            .filter(|e| kind(e) == "message.deleted")
            .count(),
        2
    );
}

async fn a_deleted_messages_text_is_gone_from_the_database(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let sent = owner
        .send_keyed(room, "secret one", "send-1")
        .await
        .expect(201);
    let message = id(&sent);
    owner
        .edit_message(room, message, "secret two", Some("edit-1"))
        .await
        .expect(200);
    owner.say(room, "public").await;
    let url = server.database_url().to_string();
    let stored = |sql: &'static str| {
        let url = url.clone();
        async move { texts(&url, sql).await }
    };
    let contents = "SELECT content AS v FROM events WHERE content IS NOT NULL ORDER BY id";
    assert_eq!(
        stored(contents).await,
        [
            Some("secret two".to_string()),
            Some("secret two".to_string()),
            Some("public".to_string())
        ]
    );

    owner.delete_message(room, message).await.expect(204);
    // Neither the message's row, nor its edit's, nor a key's digest keeps anything of it.
    assert_eq!(stored(contents).await, [Some("public".to_string())]);
    assert_eq!(
        stored("SELECT request_hash AS v FROM idempotency_keys ORDER BY idem_key").await,
        [Some("erased".to_string()), Some("erased".to_string())]
    );

    // A retry of the original send (or edit) answers the tombstone; nothing is stored again.
    let retried = owner.send_keyed(room, "secret one", "send-1").await;
    assert!(retried.replayed(), "{:?}", retried.headers);
    let retried = retried.expect(201);
    assert_eq!(retried["id"], message);
    assert!(retried["content"].is_null(), "{retried}");
    owner
        .edit_message(room, message, "secret two", Some("edit-1"))
        .await
        .expect(200);
    assert_eq!(stored(contents).await, [Some("public".to_string())]);
}
