//! The whole history over HTTP: `GET /api/rooms/{id}/events` without an upgrade lists the
//! room's events, each exactly the frame a socket sends, paged by seq.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{id, kind, Backend, Client, TestServer};

backend_tests!(
    a_reload_rebuilds_what_the_socket_showed,
    pages_are_bounded_by_seq_with_cursors,
    members_only_and_parameters_are_checked,
);

/// One listed page: `(events, next_after, prev_before)`.
async fn page(client: &Client, room: i64, query: &str) -> (Vec<Value>, Option<i64>, Option<i64>) {
    let resp = client
        .get(&format!("/api/rooms/{room}/events?{query}"))
        .await;
    assert!(
        resp.content_type().starts_with("application/json"),
        "{}",
        resp.content_type()
    );
    let body = resp.expect(200);
    let events = body["events"].as_array().expect("events is a list").clone();
    (
        events,
        body["next_after"].as_i64(),
        body["prev_before"].as_i64(),
    )
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

/// Walks forward from `after=0`, `limit` at a time, following `next_after`.
async fn walk_forward(client: &Client, room: i64, limit: i64) -> Vec<Value> {
    let mut all = Vec::new();
    let mut query = format!("after=0&limit={limit}");
    loop {
        let (events, next, _) = page(client, room, &query).await;
        all.extend(events);
        match next {
            Some(next) => query = format!("after={next}&limit={limit}"),
            None => return all,
        }
    }
}

/// Walks back from the newest page, following `prev_before`.
async fn walk_back(client: &Client, room: i64, limit: i64) -> Vec<Value> {
    let mut all = Vec::new();
    let mut query = format!("limit={limit}");
    loop {
        let (events, _, prev) = page(client, room, &query).await;
        all.splice(0..0, events);
        match prev {
            Some(prev) => query = format!("before={prev}&limit={limit}"),
            None => return all,
        }
    }
}

/// A message as shown: its text, whether it is deleted, and who reacted with which emoji.
type Shown = (Option<String>, bool, BTreeMap<String, Vec<i64>>);

/// What a client shows after applying `events` in order: each message's text, whether it is
/// deleted and its reactions, and the members present.
#[derive(Debug, Default, PartialEq)]
struct Screen {
    messages: BTreeMap<i64, Shown>,
    members: Vec<i64>,
}

fn rebuild(events: &[Value]) -> Screen {
    let mut s = Screen::default();
    for e in events {
        let d = &e["data"];
        match kind(e) {
            "message.created" => {
                s.messages.insert(
                    id(d),
                    (
                        d["content"].as_str().map(str::to_string),
                        false,
                        BTreeMap::new(),
                    ),
                );
            }
            "message.updated" => {
                let m = s
                    .messages
                    .get_mut(&d["message_id"].as_i64().unwrap())
                    .unwrap();
                m.0 = d["content"].as_str().map(str::to_string);
            }
            "message.deleted" => {
                let m = s
                    .messages
                    .get_mut(&d["message_id"].as_i64().unwrap())
                    .unwrap();
                (m.0, m.1) = (None, true);
                m.2.clear();
            }
            "reaction.added" | "reaction.removed" => {
                let m = s
                    .messages
                    .get_mut(&d["message_id"].as_i64().unwrap())
                    .unwrap();
                let users =
                    m.2.entry(d["emoji"].as_str().unwrap().to_string())
                        .or_default();
                let user = id(&d["user"]);
                if kind(e) == "reaction.added" {
                    users.push(user);
                } else {
                    users.retain(|u| *u != user);
                }
                m.2.retain(|_, users| !users.is_empty());
            }
            "member.joined" => s.members.push(id(&d["user"])),
            "member.left" => {
                let user = id(&d["user"]);
                s.members.retain(|u| *u != user);
            }
            other => panic!("unexpected event type {other}: {e}"),
        }
    }
    s
}

async fn a_reload_rebuilds_what_the_socket_showed(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let bob = server.user().await;
    let carol = server.user().await;
    let room = owner.new_room(5).await;
    // From seq 0: the socket shows the whole log, replayed then live.
    let mut socket = owner.events(room, Some(0)).await;
    bob.join(room).await.expect(201);
    carol.join(room).await.expect(201);
    let first = id(&owner.say(room, "first").await);
    let second = id(&bob.say(room, "second").await);
    carol.react(room, first, "👍").await.expect(204);
    owner
        .edit_message(room, first, "first, edited", None)
        .await
        .expect(200);
    bob.react(room, second, "❤️").await.expect(204);
    carol.react(room, second, "❤️").await.expect(204);
    bob.unreact(room, second, "❤️").await.expect(204);
    carol.leave(room).await.expect(204);
    owner.delete_message(room, second).await.expect(204);
    bob.say(room, "third").await;
    let last = owner.room(room).await.expect(200)["last_seq"]
        .as_i64()
        .unwrap();
    assert_eq!(last, 13);
    let shown = socket.next_events(usize::try_from(last).unwrap()).await;
    socket.close().await;

    let listed = walk_forward(&owner, room, 3).await;
    assert_eq!(seqs(&listed), (1..=last).collect::<Vec<_>>());
    assert_eq!(
        walk_back(&bob, room, 4).await,
        listed,
        "walking back lists the same"
    );
    assert_eq!(page(&owner, room, "limit=200").await.0, listed);
    // Event by event: the same frame, except that a message is listed as it is now.
    for (s, l) in shown.iter().zip(&listed) {
        assert_eq!((kind(s), s["seq"].clone()), (kind(l), l["seq"].clone()));
        if kind(s) == "message.created" && (id(&s["data"]) == first || id(&s["data"]) == second) {
            let (mut s, mut l) = (s.clone(), l.clone());
            for field in ["content", "edited_at", "deleted_at"] {
                s["data"][field] = Value::Null;
                l["data"][field] = Value::Null;
            }
            assert_eq!(s, l);
        } else {
            assert_eq!(s, l, "the listed event is the frame the socket sent");
        }
    }
    let data = |message: i64| {
        listed
            .iter()
            .find(|e| kind(e) == "message.created" && id(&e["data"]) == message)
            .unwrap()["data"]
            .clone()
    };
    assert_eq!(data(first)["content"], "first, edited");
    assert!(data(first)["edited_at"].is_string());
    assert!(data(second)["content"].is_null());
    assert!(data(second)["deleted_at"].is_string());
    // And a client that reloads shows what the socket's client shows.
    let screen = rebuild(&listed);
    assert_eq!(screen, rebuild(&shown));
    assert_eq!(screen.members, [owner.id, bob.id]);
    assert_eq!(screen.messages[&first].0.as_deref(), Some("first, edited"));
    assert_eq!(screen.messages[&first].2.len(), 1);
    assert!(screen.messages[&second].1);
}

async fn pages_are_bounded_by_seq_with_cursors(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    // Seqs: 1 owner joined, 2..=11 messages.
    for n in 0..10 {
        owner.say(room, &format!("m{n}")).await;
    }
    let range = |a: i64, b: i64| (a..=b).collect::<Vec<_>>();
    let check = |query: &'static str, want: Vec<i64>, next: Option<i64>, prev: Option<i64>| {
        let owner = &owner;
        async move {
            let (events, n, p) = page(owner, room, query).await;
            assert_eq!((seqs(&events), n, p), (want, next, prev), "?{query}");
        }
    };
    check("", range(1, 11), None, None).await;
    check("limit=3", range(9, 11), None, Some(9)).await;
    check("after=0&limit=3", range(1, 3), Some(3), None).await;
    check("after=3&limit=3", range(4, 6), Some(6), Some(4)).await;
    check("after=8&limit=3", range(9, 11), None, Some(9)).await;
    check("after=9&limit=3", range(10, 11), None, Some(10)).await;
    check("after=11", vec![], None, None).await;
    check("after=500", vec![], None, None).await;
    check("before=4&limit=10", range(1, 3), Some(3), None).await;
    check("before=8&limit=3", range(5, 7), Some(7), Some(5)).await;
    check("before=1", vec![], None, None).await;
    check("before=0", vec![], None, None).await;
    check("after=2&before=7", range(3, 6), Some(6), Some(3)).await;
    check("after=2&before=7&limit=2", range(3, 4), Some(4), Some(3)).await;
    check("limit=1", vec![11], None, Some(11)).await;

    // The default page is the newest 50.
    for n in 0..45 {
        owner.say(room, &format!("more {n}")).await;
    }
    check("", range(7, 56), None, Some(7)).await;
    check("after=0", range(1, 50), Some(50), None).await;
    check("limit=200", range(1, 56), None, None).await;
}

async fn members_only_and_parameters_are_checked(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let stranger = server.user().await;
    let room = owner.new_room(5).await;
    owner.say(room, "members only").await;
    let path = format!("/api/rooms/{room}/events");

    stranger
        .get(&path)
        .await
        .expect_problem(403, "not-a-member");
    server
        .client()
        .get(&path)
        .await
        .expect_problem(401, "unauthenticated");
    owner
        .get("/api/rooms/999999/events")
        .await
        .expect_problem(404, "room-not-found");
    // Left, and the log is closed again.
    stranger.join(room).await.expect(201);
    assert_eq!(page(&stranger, room, "").await.0.len(), 3);
    stranger.leave(room).await.expect(204);
    stranger
        .get(&path)
        .await
        .expect_problem(403, "not-a-member");

    for bad in [
        "after=x",
        "before=1.5",
        "limit=",
        "after=99999999999999999999",
    ] {
        owner
            .get(&format!("{path}?{bad}"))
            .await
            .expect_problem(400, "bad-request");
    }
    for bad in ["limit=0", "limit=201", "limit=-3", "after=-1", "before=-1"] {
        owner
            .get(&format!("{path}?{bad}"))
            .await
            .expect_problem(422, "validation-failed");
    }
    // Limits at the edges are fine.
    assert_eq!(page(&owner, room, "limit=1").await.0.len(), 1);
    assert_eq!(page(&owner, room, "limit=200").await.0.len(), 4);
    // Any Upgrade header is a handshake, refused as before when it is not a valid one.
    let upgrade = |protocol: &'static str| {
        owner.send(
            owner
                .request(reqwest::Method::GET, &path)
                .header("upgrade", protocol),
        )
    };
    upgrade("h2c").await.expect_problem(400, "bad-request");
    upgrade("WebSocket")
        .await
        .expect_problem(400, "bad-request");
    // The socket still takes its `after` and ignores the listing's parameters.
    let mut socket = owner.events(room, Some(1)).await;
    assert_eq!(kind(&socket.next_event().await), "message.created");
    socket.close().await;
}
