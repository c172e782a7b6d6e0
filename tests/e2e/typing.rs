//! `POST /api/rooms/{id}/typing`: an ephemeral frame to the room's other members' sockets.
//! It has no seq, is never stored or replayed, and never disturbs the room's seq stream; at
//! most one goes out per 3 s per user and room, and calls in between are quiet 204s.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;

use crate::support::{kind, seq, Backend, Bot, Client, EventSocket, Incoming, Resp, TestServer};

backend_tests!(
    typing_reaches_the_other_members_sockets_without_a_seq,
    typing_never_enters_the_seq_stream_nor_replay,
    one_typing_frame_per_three_seconds_even_from_concurrent_calls,
    typing_is_for_members_only_and_follows_the_csrf_rules,
);

/// The window of the typing throttle.
const WINDOW: Duration = Duration::from_secs(3);

pub async fn type_in(client: &Client, room: i64) -> Resp {
    client
        .send(client.request(Method::POST, &format!("/api/rooms/{room}/typing")))
        .await
}

/// Asserts the next thing on `socket` is a typing frame of `user` in `room`, without a seq.
async fn expect_typing(socket: &mut EventSocket, room: i64, user: i64) {
    let frame = socket.next_event().await;
    assert_eq!(kind(&frame), "typing", "{frame}");
    assert_eq!(frame["room_id"], room, "{frame}");
    assert_eq!(frame["data"]["user"]["id"], user, "{frame}");
    assert!(frame["data"]["user"]["username"].is_string(), "{frame}");
    assert!(
        frame.get("seq").is_none(),
        "a typing frame has no seq: {frame}"
    );
}

/// Asserts nothing arrives on `socket` within a moment.
async fn expect_quiet(socket: &mut EventSocket) {
    if let Some(Incoming::Event(e)) = socket.next_within(Duration::from_millis(400)).await {
        panic!("unexpected frame: {e}");
    }
}

async fn typing_reaches_the_other_members_sockets_without_a_seq(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let bob = server.user().await;
    let room = alice.new_room(5).await;
    bob.join(room).await.expect(201);
    let bot = Bot::create(&alice).await;
    bot.client.join(room).await.expect(201);
    let mut alices = [
        alice.events(room, None).await,
        alice.events(room, None).await,
    ];
    let mut bobs = bob.events(room, None).await;

    type_in(&alice, room).await.expect(204);
    expect_typing(&mut bobs, room, alice.id).await;
    // Never to the typist's own sockets: the next thing they see is the next event.
    let sentinel = seq(&bob.say(room, "after typing").await);
    for socket in &mut alices {
        let next = socket.next_event().await;
        assert_eq!(seq(&next), sentinel, "the typist saw: {next}");
    }
    assert_eq!(seq(&bobs.next_event().await), sentinel);

    // A bot's bearer token works alike, and everyone else hears it.
    type_in(&bot.client, room).await.expect(204);
    expect_typing(&mut bobs, room, bot.id).await;
    for socket in &mut alices {
        expect_typing(socket, room, bot.id).await;
    }
}

async fn typing_never_enters_the_seq_stream_nor_replay(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let bob = server.user().await;
    let room = alice.new_room(5).await;
    bob.join(room).await.expect(201);
    let mut bobs = bob.events(room, None).await;

    let first = seq(&alice.say(room, "one").await);
    type_in(&alice, room).await.expect(204);
    let second = seq(&alice.say(room, "two").await);
    // The typing frame took no seq: the messages around it are consecutive.
    assert_eq!(second, first + 1);
    assert_eq!(seq(&bobs.next_event().await), first);
    expect_typing(&mut bobs, room, alice.id).await;
    assert_eq!(seq(&bobs.next_event().await), second);
    // The socket's seq tracking was not disturbed: nothing is repeated or skipped.
    let third = seq(&alice.say(room, "three").await);
    assert_eq!(seq(&bobs.next_event().await), third);
    expect_quiet(&mut bobs).await;

    // Replay and history know nothing of it.
    let log = bob.event_log(room, third).await;
    let seqs: Vec<i64> = log.iter().map(seq).collect();
    assert_eq!(seqs, (1..=third).collect::<Vec<_>>());
    assert!(log.iter().all(|e| kind(e) != "typing"), "{log:?}");
    let mut resumed = bob.events(room, Some(first - 1)).await;
    assert_eq!(seq(&resumed.next_event().await), first);
    assert_eq!(seq(&resumed.next_event().await), second);
    assert_eq!(seq(&resumed.next_event().await), third);
    expect_quiet(&mut resumed).await;
    let history = bob.all_messages(room).await;
    assert_eq!(history.len(), 3, "{history:?}");
}

async fn one_typing_frame_per_three_seconds_even_from_concurrent_calls(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let bob = server.user().await;
    let room = alice.new_room(5).await;
    let other_room = alice.new_room(5).await;
    bob.join(room).await.expect(201);
    bob.join(other_room).await.expect(201);
    let mut bobs = bob.events(room, None).await;
    let mut bobs_other = bob.events(other_room, None).await;

    // 20 concurrent calls: every one is a 204, exactly one frame goes out.
    let started = tokio::time::Instant::now();
    let answers = join_all((0..20).map(|_| type_in(&alice, room))).await;
    for answer in answers {
        answer.expect(204);
    }
    expect_typing(&mut bobs, room, alice.id).await;
    // More within the window: still 204, still nothing.
    type_in(&alice, room).await.expect(204);
    expect_quiet(&mut bobs).await;
    // The window is per room, and per user.
    type_in(&alice, other_room).await.expect(204);
    expect_typing(&mut bobs_other, other_room, alice.id).await;
    type_in(&bob, room).await.expect(204);
    expect_quiet(&mut bobs).await;

    // After the window, the next call goes out again.
    tokio::time::sleep_until(started + WINDOW + Duration::from_millis(200)).await;
    type_in(&alice, room).await.expect(204);
    expect_typing(&mut bobs, room, alice.id).await;
}

async fn typing_is_for_members_only_and_follows_the_csrf_rules(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let stranger = server.user().await;
    let room = alice.new_room(5).await;
    let mut alices = alice.events(room, None).await;

    type_in(&stranger, room)
        .await
        .expect_problem(403, "not-a-member");
    // Again at once: still refused (a refusal never opens the window).
    type_in(&stranger, room)
        .await
        .expect_problem(403, "not-a-member");
    type_in(&stranger, 999_999)
        .await
        .expect_problem(404, "room-not-found");
    type_in(&server.client(), room)
        .await
        .expect_problem(401, "unauthenticated");
    // A page elsewhere cannot make the browser type with the user's cookie.
    stranger.join(room).await.expect(201);
    assert_eq!(kind(&alices.next_event().await), "member.joined");
    let forged = stranger
        .request(Method::POST, &format!("/api/rooms/{room}/typing"))
        .header("Origin", "http://evil.example");
    stranger
        .send(forged)
        .await
        .expect_problem(403, "origin-not-allowed");
    expect_quiet(&mut alices).await;
    // The refused call did not take the window: the real one goes out.
    type_in(&stranger, room).await.expect(204);
    expect_typing(&mut alices, room, stranger.id).await;
}
