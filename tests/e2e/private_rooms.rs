//! Private rooms: listed and shown only to their members. To everyone else (admins on the
//! member paths included) every path of a private room's id answers exactly as an id that
//! names no room, the WebSocket upgrade too; admins still moderate (delete, ban, remove).

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::time::timeout;

use crate::support::{id, Backend, Resp, TestServer, User};

backend_tests!(
    a_private_room_is_listed_and_shown_only_to_members,
    every_path_of_a_private_room_answers_as_a_missing_room,
    admins_moderate_private_rooms_but_do_not_see_into_them,
    visibility_is_public_or_private,
);

/// A room id no test creates.
pub(crate) const NO_ROOM: i64 = 999_999_999;

/// Creates a room with this visibility; returns its JSON.
pub(crate) async fn new_room(owner: &User, visibility: &str) -> Value {
    let body = json!({ "name": "a room", "capacity": 10, "visibility": visibility });
    owner.post("/api/rooms", &body).await.expect(201)
}

/// Every path under a room, as `(method, path, body)` for room `room`; `user` and `message`
/// fill the other segments.
fn room_paths(room: i64, user: i64, message: i64) -> Vec<(Method, String, Option<Value>)> {
    let r = format!("/api/rooms/{room}");
    let content = Some(json!({ "content": "hello" }));
    vec![
        (Method::GET, r.clone(), None),
        (Method::DELETE, r.clone(), None),
        (Method::PUT, format!("{r}/members/me"), None),
        (Method::DELETE, format!("{r}/members/me"), None),
        (Method::GET, format!("{r}/members"), None),
        (Method::DELETE, format!("{r}/members/{user}"), None),
        (Method::PUT, format!("{r}/bans/{user}"), None),
        (Method::DELETE, format!("{r}/bans/{user}"), None),
        (Method::POST, format!("{r}/messages"), content.clone()),
        (Method::GET, format!("{r}/messages"), None),
        (Method::PATCH, format!("{r}/messages/{message}"), content),
        (Method::DELETE, format!("{r}/messages/{message}"), None),
        (
            Method::PUT,
            format!("{r}/messages/{message}/reactions/%F0%9F%91%8D"),
            None,
        ),
        (
            Method::DELETE,
            format!("{r}/messages/{message}/reactions/%F0%9F%91%8D"),
            None,
        ),
        (Method::GET, format!("{r}/events"), None),
        (Method::GET, format!("{r}/events?after=0"), None),
        (Method::POST, format!("{r}/typing"), None),
        (Method::GET, format!("{r}/presence"), None),
        (Method::PUT, format!("{r}/members/{user}"), None),
        (Method::POST, format!("{r}/invites"), Some(json!({}))),
        (Method::GET, format!("{r}/invites"), None),
        (Method::DELETE, format!("{r}/invites/1"), None),
    ]
}

pub(crate) async fn call(user: &User, method: Method, path: &str, body: Option<&Value>) -> Resp {
    let request = user.request(method, path);
    let request = match body {
        Some(body) => request.json(body),
        None => request,
    };
    user.send(request).await
}

/// The parts of an answer that could tell one room from another.
fn answer(r: &Resp) -> (u16, Value, Value, Value) {
    (
        r.status,
        r.json["type"].clone(),
        r.json["title"].clone(),
        r.json["detail"].clone(),
    )
}

/// Each path of `room` answers `outsider` exactly as the same path of a missing room.
pub(crate) async fn looks_missing(outsider: &User, room: i64, user: i64, message: i64) {
    let missing = room_paths(NO_ROOM, user, message);
    for ((method, path, body), (_, missing_path, _)) in
        room_paths(room, user, message).into_iter().zip(missing)
    {
        let got = call(outsider, method.clone(), &path, body.as_ref()).await;
        let want = call(outsider, method.clone(), &missing_path, body.as_ref()).await;
        assert_eq!(
            answer(&got),
            answer(&want),
            "{method} {path}: {} (a missing room: {})",
            got.text,
            want.text
        );
        assert_eq!(got.status, 404, "{method} {path}: {}", got.text);
    }
    assert_eq!(outsider.try_events(room, None).await.err(), Some(404));
    assert_eq!(outsider.try_events(room, Some(0)).await.err(), Some(404));
}

async fn a_private_room_is_listed_and_shown_only_to_members(b: Backend) {
    let server = TestServer::start(b).await;
    let _admin = server.user().await;
    let owner = server.user().await;
    let other = server.user().await;

    let private = new_room(&owner, "private").await;
    assert_eq!(private["visibility"], "private", "{private}");
    assert_eq!(private["kind"], "room", "{private}");
    assert!(private.get("peer").is_none(), "{private}");
    let public = owner.create_room("open", 5).await.expect(201);
    assert_eq!(public["visibility"], "public", "{public}");
    assert_eq!(public["kind"], "room", "{public}");
    let (private, public) = (id(&private), id(&public));

    let ids = |list: Value| -> Vec<i64> {
        list["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let owners = ids(owner.rooms().await.expect(200));
    assert!(
        owners.contains(&private) && owners.contains(&public),
        "{owners:?}"
    );
    let others = ids(other.rooms().await.expect(200));
    assert!(!others.contains(&private), "{others:?}");
    assert!(others.contains(&public), "{others:?}");

    let shown = owner.room(private).await.expect(200);
    assert_eq!(shown["visibility"], "private");
    assert_eq!(shown["joined"], true);
    other
        .room(private)
        .await
        .expect_problem(404, "room-not-found");
    // The owner uses it like any room.
    owner.say(private, "only us").await;
    let mut socket = owner.events(private, Some(0)).await;
    assert_eq!(socket.next_events(2).await.len(), 2);
}

async fn every_path_of_a_private_room_answers_as_a_missing_room(b: Backend) {
    let server = TestServer::start(b).await;
    let _admin = server.user().await;
    let owner = server.user().await;
    let outsider = server.user().await;
    let room = id(&new_room(&owner, "private").await);
    let message = id(&owner.say(room, "secret").await);
    let mut owners = owner.events(room, None).await;

    looks_missing(&outsider, room, owner.id, message).await;
    // Also with the outsider's own id where a user goes.
    looks_missing(&outsider, room, outsider.id, message).await;

    // Nothing happened to the room: no event, the message as it was.
    owner.say(room, "still here").await;
    let next = owners.next_event().await;
    assert_eq!(next["data"]["content"], "still here", "{next}");
    let history = owner.history(room, "").await.expect(200);
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["secret", "still here"]);
    assert_eq!(owner.room(room).await.expect(200)["member_count"], 1);

    // A public room still tells a non-member the truth.
    let public = owner.new_room(5).await;
    outsider
        .send_message(public, "hi")
        .await
        .expect_problem(403, "not-a-member");
}

async fn admins_moderate_private_rooms_but_do_not_see_into_them(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = server.user().await;
    assert_eq!(admin.me().await.expect(200)["admin"], true);
    let owner = server.user().await;
    let bob = server.user().await;
    let room = id(&new_room(&owner, "private").await);
    let message = id(&owner.say(room, "secret").await);

    // The member paths: as for anyone.
    admin.room(room).await.expect_problem(404, "room-not-found");
    admin
        .members(room)
        .await
        .expect_problem(404, "room-not-found");
    admin
        .history(room, "")
        .await
        .expect_problem(404, "room-not-found");
    admin
        .send_message(room, "hello")
        .await
        .expect_problem(404, "room-not-found");
    admin.join(room).await.expect_problem(404, "room-not-found");
    admin
        .delete_message(room, message)
        .await
        .expect_problem(404, "room-not-found");
    assert_eq!(admin.try_events(room, None).await.err(), Some(404));
    let listed = admin.rooms().await.expect(200);
    assert!(
        listed["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != room),
        "{listed}"
    );

    // Moderation: ban and lift, refusals shown as they are, and deletion.
    let ban = format!("/api/rooms/{room}/bans/{}", bob.id);
    admin.put(&ban).await.expect(204);
    admin.delete(&ban).await.expect(204);
    admin
        .put(&format!("/api/rooms/{room}/bans/{}", owner.id))
        .await
        .expect_problem(403, "forbidden");
    let mut owners = owner.events(room, None).await;
    admin.delete_room(room).await.expect(204);
    timeout(Duration::from_secs(10), owners.expect_close(4004))
        .await
        .expect("the owner's socket closes when an admin deletes the room");
    owner.room(room).await.expect_problem(404, "room-not-found");
}

async fn visibility_is_public_or_private(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    for bad in [json!("secret"), json!(1), json!(null), json!("PRIVATE")] {
        let body = json!({ "name": "r", "capacity": 3, "visibility": bad });
        let r = owner.post("/api/rooms", &body).await;
        assert!(
            r.status == 422 || r.status == 400,
            "visibility {bad}: {} {}",
            r.status,
            r.text
        );
        assert!(r.content_type().starts_with("application/problem+json"));
    }
    let public = new_room(&owner, "public").await;
    assert_eq!(public["visibility"], "public");
}
