//! Creating, listing, showing and deleting rooms.

use serde_json::{json, Value};

use crate::support::{id, Backend, Bot, TestServer};

backend_tests!(
    create_show_and_list,
    only_the_owner_deletes,
    invalid_rooms_are_refused,
    unknown_rooms_are_not_found,
    rooms_need_a_session,
    deleted_ids_are_never_handed_out_again,
);

async fn create_show_and_list(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let other = server.user().await;

    let room = owner.create_room("general", 10).await.expect(201);
    assert_eq!(room["name"], "general");
    assert_eq!(
        room["owner"],
        json!({ "id": owner.id, "username": owner.username, "bot": false })
    );
    assert_eq!(room["capacity"], 10);
    // The owner is the first member, and that join is event 1.
    assert_eq!(room["member_count"], 1);
    assert_eq!(room["last_seq"], 1);
    assert_eq!(room["joined"], true);
    assert!(room["created_at"].is_string(), "{room}");
    let room_id = id(&room);

    assert_eq!(owner.room(room_id).await.expect(200), room);
    // `joined` and the read marker are about the caller; everything else is the same room.
    assert_eq!(
        (&room["last_read_seq"], &room["unread"]),
        (&json!(1), &json!(0))
    );
    let seen_by_other = other.room(room_id).await.expect(200);
    let mut expected = room.clone();
    expected["joined"] = json!(false);
    let fields = expected.as_object_mut().unwrap();
    fields.remove("last_read_seq");
    fields.remove("unread");
    assert_eq!(seen_by_other, expected);

    let second = id(&other.create_room("random", 3).await.expect(201));
    let listed = listed_rooms(&other.rooms().await.expect(200));
    let find = |id: i64| listed.iter().find(|r| r["id"] == id).cloned();
    assert_eq!(find(room_id), Some(expected), "list: {listed:?}");
    assert_eq!(find(second).unwrap()["joined"], true);
    assert_eq!(find(second).unwrap()["owner"]["id"], other.id);
}

async fn only_the_owner_deletes(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let member = server.user().await;
    let room = owner.new_room(5).await;
    member.join(room).await.expect(201);

    member
        .delete_room(room)
        .await
        .expect_problem(403, "not-owner");
    member.room(room).await.expect(200);

    owner.delete_room(room).await.expect(204);
    owner.room(room).await.expect_problem(404, "room-not-found");
    member
        .room(room)
        .await
        .expect_problem(404, "room-not-found");
    let listed = listed_rooms(&owner.rooms().await.expect(200));
    assert!(
        listed.iter().all(|r| r["id"] != room),
        "deleted room still listed: {listed:?}"
    );
    owner
        .delete_room(room)
        .await
        .expect_problem(404, "room-not-found");
}

async fn invalid_rooms_are_refused(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let too_long = "n".repeat(101);

    for (name, capacity) in [
        ("ok", 0),
        ("ok", -1),
        ("ok", 10_001),
        ("", 5),
        ("   \t ", 5),
        (too_long.as_str(), 5),
    ] {
        owner
            .create_room(name, capacity)
            .await
            .expect_problem(422, "validation-failed");
    }
    for body in [
        json!({ "name": "ok" }),
        json!({ "name": "ok", "capacity": "5" }),
        json!({ "name": 7, "capacity": 5 }),
    ] {
        owner
            .post("/api/rooms", &body)
            .await
            .expect_problem(422, "validation-failed");
    }

    // The boundaries are accepted; names are counted in characters after
    // trimming, so surrounding blanks do not count against the 100.
    for (name, capacity) in [
        ("x".to_string(), 1),
        ("y".to_string(), 10_000),
        (format!("  {}  ", "z".repeat(100)), 7),
        ("é".repeat(100), 7),
    ] {
        let room = owner.create_room(&name, capacity).await.expect(201);
        assert_eq!(room["capacity"], capacity);
    }
}

async fn unknown_rooms_are_not_found(b: Backend) {
    let server = TestServer::start(b).await;
    let user = server.user().await;

    user.room(987_654)
        .await
        .expect_problem(404, "room-not-found");
    user.join(987_654)
        .await
        .expect_problem(404, "room-not-found");
    user.get("/api/rooms/abc")
        .await
        .expect_problem(404, "not-found");
    user.get("/api/no/such/route")
        .await
        .expect_problem(404, "not-found");
}

async fn rooms_need_a_session(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let anonymous = server.client();

    anonymous
        .create_room("nope", 5)
        .await
        .expect_problem(401, "unauthenticated");
    anonymous
        .join(room)
        .await
        .expect_problem(401, "unauthenticated");
    anonymous
        .delete_room(room)
        .await
        .expect_problem(401, "unauthenticated");
    owner.room(room).await.expect(200);
}

fn listed_rooms(body: &Value) -> Vec<Value> {
    body["rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("no rooms array: {body}"))
        .clone()
}

/// A bot configured with `ROOMCAST_ROOM=3`, or a page restoring room 3, must never land in a
/// stranger's new room 3: ids of rooms, messages and bots only grow, on both backends (SQLite
/// handed out the deleted largest id again before AUTOINCREMENT).
async fn deleted_ids_are_never_handed_out_again(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let (mut rooms, mut messages, mut bots) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let room = owner.new_room(5).await;
        messages.push(id(&owner.say(room, "soon gone").await));
        owner.delete_room(room).await.expect(204);
        rooms.push(room);
        let bot = Bot::create(&owner).await;
        owner.delete_bot(bot.id).await.expect(204);
        bots.push(bot.id);
    }
    for (what, ids) in [("room", &rooms), ("message", &messages), ("bot", &bots)] {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{what} ids must strictly increase: {ids:?}"
        );
    }
}
