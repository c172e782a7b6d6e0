//! `GET /api/me/events`: one receive-only WebSocket per user with summaries of their rooms
//! (no message bodies): `room.activity`, `room.added`, `room.removed`. Same auth, Origin and
//! close rules as a room socket.

use std::time::Duration;

use serde_json::Value;

use crate::support::{connect, kind, seq, Backend, Client, EventSocket, Incoming, TestServer};

backend_tests!(
    the_stream_tells_of_activity_joins_leaves_and_deletions_without_bodies,
    the_stream_needs_a_session_and_a_same_origin_and_closes_like_a_room_socket,
    a_new_dm_reaches_both_peoples_streams_each_as_they_see_it,
);

pub fn user_stream_url(client: &Client) -> String {
    client.url("/api/me/events").replacen("http://", "ws://", 1)
}

/// The caller's summary stream (cookie), or the refusal's status.
pub async fn try_user_stream(
    client: &Client,
    extra: &[(&str, String)],
) -> Result<EventSocket, u16> {
    let mut headers: Vec<(&str, String)> = extra.to_vec();
    if let Some(cookie) = client.cookie_header() {
        headers.push(("cookie", cookie));
    }
    connect(&user_stream_url(client), &headers).await
}

pub async fn user_stream(client: &Client) -> EventSocket {
    try_user_stream(client, &[]).await.unwrap()
}

pub fn assert_frame(frame: &Value, want: &str, room: i64) {
    assert_eq!(kind(frame), want, "{frame}");
    let id = if want == "room.added" {
        &frame["data"]["id"]
    } else {
        &frame["data"]["room_id"]
    };
    assert_eq!(*id, room, "{frame}");
    assert!(frame.get("seq").is_none(), "{frame}");
}

async fn quiet(socket: &mut EventSocket) {
    if let Some(Incoming::Event(e)) = socket.next_within(Duration::from_millis(400)).await {
        panic!("unexpected frame: {e}");
    }
}

async fn the_stream_tells_of_activity_joins_leaves_and_deletions_without_bodies(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let bob = server.user().await;
    let room = bob.new_room(5).await;
    let mut stream = user_stream(&alice).await;

    // Not a member yet: nothing about the room.
    bob.say(room, "before").await;
    quiet(&mut stream).await;

    alice.join(room).await.expect(201);
    let added = stream.next_event().await;
    assert_frame(&added, "room.added", room);
    assert_eq!(added["data"]["joined"], true, "{added}");
    // The room JSON carries last_seq, her own join included: no activity frame for it.

    let said = seq(&bob.say(room, "a secret body").await);
    let activity = stream.next_event().await;
    assert_frame(&activity, "room.activity", room);
    assert_eq!(activity["data"]["last_seq"], said, "{activity}");
    assert!(
        !activity.to_string().contains("a secret body"),
        "no message bodies: {activity}"
    );

    // Her read marker moves (another tab of hers): read.updated.
    let request = alice
        .request(reqwest::Method::PUT, &format!("/api/rooms/{room}/read"))
        .json(&serde_json::json!({ "seq": said }));
    alice.send(request).await.expect(200);
    let read = stream.next_event().await;
    assert_frame(&read, "read.updated", room);
    assert_eq!(read["data"]["last_read_seq"], said, "{read}");
    assert_eq!(read["data"]["unread"], 0, "{read}");

    // A room she creates herself is added too.
    let own = alice.new_room(5).await;
    assert_frame(&stream.next_event().await, "room.added", own);

    // Leaving: her member.left is the last activity, then removed, and nothing more.
    alice.leave(room).await.expect(204);
    assert_frame(&stream.next_event().await, "room.activity", room);
    assert_frame(&stream.next_event().await, "room.removed", room);
    bob.say(room, "after she left").await;
    quiet(&mut stream).await;

    // Removed by the owner, and a room deleted.
    alice.join(room).await.expect(201);
    assert_frame(&stream.next_event().await, "room.added", room);
    bob.remove_member(room, alice.id).await.expect(204);
    assert_frame(&stream.next_event().await, "room.activity", room);
    assert_frame(&stream.next_event().await, "room.removed", room);
    alice.join(room).await.expect(201);
    assert_frame(&stream.next_event().await, "room.added", room);
    bob.delete_room(room).await.expect(204);
    assert_frame(&stream.next_event().await, "room.removed", room);
    quiet(&mut stream).await;

    // Added by an owner: the room as she sees it (joined), on her stream, not on his.
    let added_to = bob.new_room(5).await;
    let mut bobs = user_stream(&bob).await;
    bob.put(&format!("/api/rooms/{added_to}/members/{}", alice.id))
        .await
        .expect(201);
    let added = stream.next_event().await;
    assert_frame(&added, "room.added", added_to);
    assert_eq!(added["data"]["joined"], true, "{added}");
    // Bob hears only the activity of his room (the member.joined event).
    assert_frame(&bobs.next_event().await, "room.activity", added_to);
    quiet(&mut bobs).await;
}

async fn the_stream_needs_a_session_and_a_same_origin_and_closes_like_a_room_socket(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    assert_eq!(
        try_user_stream(&server.client(), &[]).await.err(),
        Some(401)
    );
    assert_eq!(
        try_user_stream(&alice, &[("origin", "http://evil.example".into())])
            .await
            .err(),
        Some(403)
    );
    // A bot's token works.
    let bot = crate::support::Bot::create(&alice).await;
    let token = format!("Bearer {}", bot.token);
    let mut bots = connect(&user_stream_url(&alice), &[("authorization", token)])
        .await
        .unwrap();
    let room = alice.new_room(5).await;
    bot.client.join(room).await.expect(201);
    assert_frame(&bots.next_event().await, "room.added", room);

    // Receive-only: a data frame closes it with 1008.
    let mut stream = user_stream(&alice).await;
    stream.send_text("hello").await;
    stream.expect_close(1008).await;
    // Logout closes it with 4001.
    let mut stream = user_stream(&alice).await;
    alice.logout().await.expect(204);
    stream.expect_close(4001).await;
}

/// A DM is the one room someone else puts you in without a join or an add: the peer's list
/// must still learn of it live, with `peer` naming the opener (and the opener's, the peer).
/// Opening it again is no news.
async fn a_new_dm_reaches_both_peoples_streams_each_as_they_see_it(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let bob = server.user().await;
    let mut alices = user_stream(&alice).await;
    let mut bobs = user_stream(&bob).await;

    let made = alice
        .post("/api/dms", &serde_json::json!({ "user_id": bob.id }))
        .await
        .expect(201);
    let room = made["id"].as_i64().unwrap();
    let hers = alices.next_event().await;
    assert_frame(&hers, "room.added", room);
    assert_eq!(hers["data"]["peer"]["id"], bob.id, "{hers}");
    let his = bobs.next_event().await;
    assert_frame(&his, "room.added", room);
    assert_eq!(his["data"]["peer"]["id"], alice.id, "{his}");
    assert_eq!(his["data"]["kind"], "dm", "{his}");

    bob.post("/api/dms", &serde_json::json!({ "user_id": alice.id }))
        .await
        .expect(200);
    quiet(&mut alices).await;
    quiet(&mut bobs).await;
}
