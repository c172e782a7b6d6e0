//! `GET /api/rooms/{id}/presence` and `presence` frames: who has a socket open on a room. A
//! user goes online with their first socket on the room and offline about 2 s after their
//! last one closed, so a quick reconnect does not flap. The frames have no seq.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::support::{connect, kind, seq, Backend, Client, EventSocket, Incoming, TestServer};

backend_tests!(
    presence_frames_on_the_first_open_and_after_the_last_close,
    a_quick_reconnect_does_not_flap,
    presence_is_for_members_and_lists_only_open_sockets,
);

/// How long a user stays online after their last socket closed (the server's LINGER).
const LINGER: Duration = Duration::from_secs(2);

/// The room's socket with presence frames (`presence=true`), live from now.
pub async fn watch(client: &Client, room: i64) -> EventSocket {
    let url = format!("{}?presence=true", client.events_url(room, None));
    let cookie = client.cookie_header().unwrap();
    connect(&url, &[("cookie", cookie)]).await.unwrap()
}

pub async fn presence_ids(client: &Client, room: i64) -> Vec<i64> {
    let list = client
        .get(&format!("/api/rooms/{room}/presence"))
        .await
        .expect(200);
    list["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members in {list}"))
        .iter()
        .map(|m| {
            assert!(m["username"].is_string(), "{m}");
            m["id"].as_i64().unwrap()
        })
        .collect()
}

/// Asserts the next frame is a presence frame of `user`, `online`, without a seq.
pub fn assert_presence(frame: &Value, room: i64, user: i64, online: bool) {
    assert_eq!(kind(frame), "presence", "{frame}");
    assert_eq!(frame["room_id"], room, "{frame}");
    assert_eq!(frame["data"]["user"]["id"], user, "{frame}");
    assert!(frame["data"]["user"]["username"].is_string(), "{frame}");
    assert_eq!(frame["data"]["online"], online, "{frame}");
    assert!(
        frame.get("seq").is_none(),
        "a presence frame has no seq: {frame}"
    );
}

async fn quiet_for(socket: &mut EventSocket, within: Duration) {
    if let Some(Incoming::Event(e)) = socket.next_within(within).await {
        panic!("unexpected frame: {e}");
    }
}

async fn presence_frames_on_the_first_open_and_after_the_last_close(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let bob = server.user().await;
    let room = alice.new_room(5).await;
    bob.join(room).await.expect(201);
    let mut alices = watch(&alice, room).await;
    // A socket hears its own user come online too.
    assert_presence(&alices.next_event().await, room, alice.id, true);

    let mut bobs = watch(&bob, room).await;
    assert_presence(&alices.next_event().await, room, bob.id, true);
    assert_presence(&bobs.next_event().await, room, bob.id, true);
    // A socket that did not ask for presence frames gets none (only events).
    let mut plain = alice.events(room, None).await;
    assert_eq!(presence_ids(&alice, room).await, [alice.id, bob.id]);

    // A second socket of bob's changes nothing.
    let second = bob.events(room, None).await;
    quiet_for(&mut alices, Duration::from_millis(300)).await;

    // Both close: bob stays online for the linger, then goes offline once.
    second.close().await;
    bobs.close().await;
    let closed = Instant::now();
    quiet_for(&mut alices, LINGER - Duration::from_millis(500)).await;
    assert_eq!(presence_ids(&alice, room).await, [alice.id, bob.id]);
    let offline = alices.next_event().await;
    assert_presence(&offline, room, bob.id, false);
    let after = closed.elapsed();
    assert!(
        after >= LINGER - Duration::from_millis(100),
        "offline after {after:?}"
    );
    assert!(
        after < LINGER + Duration::from_secs(2),
        "offline after {after:?}"
    );
    assert_eq!(presence_ids(&alice, room).await, [alice.id]);

    // Presence frames took no seq and are not replayed.
    let one = seq(&alice.say(room, "one").await);
    assert_eq!(seq(&alices.next_event().await), one);
    assert_eq!(
        seq(&plain.next_event().await),
        one,
        "no presence frame came first"
    );
    let log = alice.event_log(room, one).await;
    assert!(log.iter().all(|e| kind(e) != "presence"), "{log:?}");
    let seqs: Vec<i64> = log.iter().map(seq).collect();
    assert_eq!(seqs, (1..=one).collect::<Vec<_>>());
}

async fn a_quick_reconnect_does_not_flap(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let bob = server.user().await;
    let room = alice.new_room(5).await;
    bob.join(room).await.expect(201);
    let mut alices = watch(&alice, room).await;
    assert_presence(&alices.next_event().await, room, alice.id, true);
    let bobs = bob.events(room, None).await;
    assert_presence(&alices.next_event().await, room, bob.id, true);

    // A reconnect within the linger: no offline, no second online.
    bobs.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _again = bob.events(room, None).await;
    tokio::time::sleep(LINGER + Duration::from_millis(700)).await;
    let sentinel = seq(&alice.say(room, "sentinel").await);
    let next = alices.next_event().await;
    assert_eq!(kind(&next), "message.created", "flapped: {next}");
    assert_eq!(seq(&next), sentinel);
    assert_eq!(presence_ids(&alice, room).await, [alice.id, bob.id]);
}

async fn presence_is_for_members_and_lists_only_open_sockets(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let bob = server.user().await;
    let stranger = server.user().await;
    let room = alice.new_room(5).await;
    bob.join(room).await.expect(201);

    // Members, but nobody has a socket open.
    assert_eq!(presence_ids(&alice, room).await, Vec::<i64>::new());
    let _bobs = bob.events(room, None).await;
    assert_eq!(presence_ids(&alice, room).await, [bob.id]);
    // A socket on another room does not count here.
    let other = alice.new_room(5).await;
    let _alices_other = alice.events(other, None).await;
    assert_eq!(presence_ids(&bob, room).await, [bob.id]);

    let path = format!("/api/rooms/{room}/presence");
    stranger
        .get(&path)
        .await
        .expect_problem(403, "not-a-member");
    stranger
        .get("/api/rooms/999999/presence")
        .await
        .expect_problem(404, "room-not-found");
    server
        .client()
        .get(&path)
        .await
        .expect_problem(401, "unauthenticated");
}
