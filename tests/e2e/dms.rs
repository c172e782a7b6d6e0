//! Direct messages: one private room of two per pair of users, made at once whoever asks
//! first (and however many ask at once). It works like any room; its members are fixed.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::private_rooms::looks_missing;
use crate::support::{id, kind, Backend, Bot, Client, Resp, TestServer};

backend_tests!(
    a_dm_is_a_private_room_of_two_that_works_like_any_room,
    a_dms_members_are_fixed_and_either_deletes_it,
    dms_need_a_live_other_person,
    twenty_creations_from_both_sides_make_one_room,
);

async fn dm(by: &Client, user: i64) -> Resp {
    by.post("/api/dms", &json!({ "user_id": user })).await
}

fn dms_of(list: &Value) -> Vec<Value> {
    list["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "dm")
        .cloned()
        .collect()
}

async fn a_dm_is_a_private_room_of_two_that_works_like_any_room(b: Backend) {
    let server = TestServer::start(b).await;
    let _admin = server.user().await;
    let alice = server.user().await;
    let bob = server.user().await;
    let carol = server.user().await;

    let made = dm(&alice, bob.id).await.expect(201);
    assert_eq!(made["kind"], "dm", "{made}");
    assert_eq!(made["visibility"], "private", "{made}");
    assert_eq!(made["capacity"], 2, "{made}");
    assert_eq!(made["member_count"], 2, "{made}");
    assert_eq!(made["joined"], true, "{made}");
    assert_eq!(
        made["peer"],
        json!({ "id": bob.id, "username": bob.username }),
        "{made}"
    );
    let room = id(&made);
    // From the other side: the same room, the peer seen from there.
    let seen = dm(&bob, alice.id).await.expect(200);
    assert_eq!(id(&seen), room);
    assert_eq!(seen["peer"]["id"], alice.id, "{seen}");
    dm(&alice, bob.id).await.expect(200);
    assert_eq!(bob.room(room).await.expect(200)["peer"]["id"], alice.id);
    let bobs = dms_of(&bob.rooms().await.expect(200));
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_eq!(bobs[0]["peer"]["username"], alice.username.as_str());
    assert!(dms_of(&carol.rooms().await.expect(200)).is_empty());

    // Both joins are in its stream; then it carries messages like any room.
    let mut alices = alice.events(room, Some(0)).await;
    let joins = alices.next_events(2).await;
    assert!(
        joins.iter().all(|e| kind(e) == "member.joined"),
        "{joins:?}"
    );
    let first = bob.send_keyed(room, "hi alice", "k-1").await.expect(201);
    let again = bob.send_keyed(room, "hi alice", "k-1").await;
    assert!(again.replayed(), "{}", again.text);
    assert_eq!(id(&again.json), id(&first));
    let event = alices.next_event().await;
    assert_eq!(kind(&event), "message.created", "{event}");
    assert_eq!(event["data"]["content"], "hi alice", "{event}");
    alice.say(room, "hi bob").await;
    let history = bob.history(room, "").await.expect(200);
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        2,
        "{history}"
    );

    // To anyone else it is not there.
    looks_missing(&carol, room, bob.id, id(&first)).await;
}

async fn a_dms_members_are_fixed_and_either_deletes_it(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = server.user().await;
    let alice = server.user().await;
    let bob = server.user().await;
    let carol = server.user().await;
    let room = id(&dm(&alice, bob.id).await.expect(201));
    let fixed = |r: Resp| r.expect_problem(409, "direct-message");

    fixed(
        alice
            .post(&format!("/api/rooms/{room}/invites"), &json!({}))
            .await,
    );
    fixed(
        alice
            .put(&format!("/api/rooms/{room}/members/{}", carol.id))
            .await,
    );
    fixed(alice.leave(room).await);
    fixed(bob.leave(room).await);
    fixed(alice.remove_member(room, bob.id).await);
    fixed(bob.remove_member(room, alice.id).await);
    fixed(
        alice
            .put(&format!("/api/rooms/{room}/bans/{}", bob.id))
            .await,
    );
    // An admin moderates, but cannot change who is in it either.
    fixed(admin.remove_member(room, bob.id).await);
    fixed(
        admin
            .put(&format!("/api/rooms/{room}/members/{}", carol.id))
            .await,
    );
    // Nobody else gets in.
    carol.join(room).await.expect_problem(404, "room-not-found");
    assert_eq!(alice.room(room).await.expect(200)["member_count"], 2);

    // Either member deletes it (bob did not open it); a new DM is a new room.
    let mut alices = alice.events(room, None).await;
    bob.delete_room(room).await.expect(204);
    alices.expect_close(4004).await;
    alice.room(room).await.expect_problem(404, "room-not-found");
    let again = id(&dm(&bob, alice.id).await.expect(201));
    assert_ne!(again, room);
    admin.delete_room(again).await.expect(204);
}

async fn dms_need_a_live_other_person(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = server.user().await;
    let alice = server.user().await;
    let gone = server.user().await;

    dm(&alice, alice.id)
        .await
        .expect_problem(422, "validation-failed");
    dm(&alice, 999_999_999)
        .await
        .expect_problem(404, "user-not-found");
    admin
        .put(&format!("/api/users/{}/disabled", gone.id))
        .await
        .expect(204);
    dm(&alice, gone.id)
        .await
        .expect_problem(404, "user-not-found");
    alice
        .post("/api/dms", &json!({ "user_id": "2" }))
        .await
        .expect_problem(422, "validation-failed");
    server
        .client()
        .post("/api/dms", &json!({ "user_id": alice.id }))
        .await
        .expect_problem(401, "unauthenticated");

    // A person may DM a bot; a bot does not open DMs.
    let bot = Bot::create(&alice).await;
    let with_bot = dm(&alice, bot.id).await.expect(201);
    assert_eq!(with_bot["peer"]["id"], bot.id, "{with_bot}");
    dm(&bot.client, admin.id)
        .await
        .expect_problem(403, "forbidden");
    // The bot sees its DM, from its side.
    let listed = dms_of(&bot.client.rooms().await.expect(200));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["peer"]["id"], alice.id);
}

/// Ten clients of each of two people create their DM at the same moment: one room, and
/// every answer names it (one 201, the rest 200).
async fn twenty_creations_from_both_sides_make_one_room(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let bob = server.user().await;
    let mut clients: Vec<(Client, i64)> = Vec::new();
    for (me, other) in [(&alice, &bob), (&bob, &alice)] {
        for _ in 0..10 {
            let client = server.client();
            client.login(&me.username, &me.password).await.expect(200);
            clients.push((client, other.id));
        }
    }
    let answers = join_all(clients.iter().map(|(c, other)| dm(c, *other))).await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    let existing = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        (created, existing),
        (1, 19),
        "{:?}",
        answers
            .iter()
            .map(|r| (r.status, r.text.as_str()))
            .collect::<Vec<_>>()
    );
    let ids: Vec<i64> = answers.iter().map(|r| id(&r.json)).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    for u in [&alice, &bob] {
        let listed = dms_of(&u.rooms().await.expect(200));
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(id(&listed[0]), ids[0]);
    }
    let shown = alice.room(ids[0]).await.expect(200);
    assert_eq!(shown["member_count"], 2, "{shown}");
    assert_eq!(shown["last_seq"], 2, "{shown}");
}
