//! Typing, presence and the per-user stream across instances (PostgreSQL and a Redis bus of
//! the test's own): what happens on one instance reaches the sockets on another.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::presence::{assert_presence, presence_ids, watch};
use crate::support::{kind, seq, Cluster, EventSocket, Incoming, User};
use crate::user_stream::{assert_frame, user_stream};

/// Effects that cross instances must arrive within this.
const CROSS_INSTANCE: Duration = Duration::from_secs(1);

/// A killed instance's users go offline within this: 4 s without its heartbeat, plus the
/// sweep's tick and some slack for a loaded machine.
const BOUND: Duration = Duration::from_secs(7);

/// `user` (same cookie, same session) talking to another instance.
fn on(user: &User, base: &str) -> User {
    User {
        id: user.id,
        username: user.username.clone(),
        password: user.password.clone(),
        client: user.client.at(base),
    }
}

/// The next frame, within `within`; panics on a close or on silence.
async fn next_within(socket: &mut EventSocket, within: Duration) -> serde_json::Value {
    match socket.next_within(within).await {
        Some(Incoming::Event(e)) => e,
        other => panic!("no frame within {within:?}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn typing_on_one_instance_reaches_the_other_members_sockets_on_another() {
    let cluster = Cluster::start(2, &[]).await;
    let b = cluster.servers[1].url();
    let alice = cluster.servers[0].user().await;
    let bob = on(&cluster.servers[0].user().await, &b);
    let room = alice.new_room(5).await;
    bob.join(room).await.expect(201);
    let mut bobs = bob.events(room, None).await;
    let mut alices_on_b = on(&alice, &b).events(room, None).await;

    let typed = alice
        .send(alice.request(Method::POST, &format!("/api/rooms/{room}/typing")))
        .await;
    typed.expect(204);
    let frame = next_within(&mut bobs, CROSS_INSTANCE).await;
    assert_eq!(kind(&frame), "typing", "{frame}");
    assert_eq!(frame["data"]["user"]["id"], alice.id);
    assert!(frame.get("seq").is_none(), "{frame}");
    // Not to alice's own socket on B: her next frame is the next event.
    let sentinel = seq(&bob.say(room, "sentinel").await);
    assert_eq!(seq(&alices_on_b.next_event().await), sentinel);
    assert_eq!(seq(&bobs.next_event().await), sentinel);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_crosses_instances_and_a_killed_instances_users_go_offline() {
    let mut cluster = Cluster::start(2, &[]).await;
    let b = cluster.servers[1].url();
    let alice = cluster.servers[0].user().await;
    let bob = on(&cluster.servers[0].user().await, &b);
    let room = alice.new_room(5).await;
    bob.join(room).await.expect(201);
    let mut alices = watch(&alice, room).await;
    assert_presence(&alices.next_event().await, room, alice.id, true);

    // Bob opens a socket on B: A's sockets hear it, and both instances list him.
    let _bobs = bob.events(room, None).await;
    let online = next_within(&mut alices, CROSS_INSTANCE * 3).await;
    assert_presence(&online, room, bob.id, true);
    assert_eq!(presence_ids(&alice, room).await, [alice.id, bob.id]);
    assert_eq!(presence_ids(&bob, room).await, [alice.id, bob.id]);

    // B is killed (no goodbye): within the expiry bound, bob is offline on A.
    let killed = Instant::now();
    cluster.servers[1].kill().await;
    let offline = next_within(&mut alices, BOUND).await;
    assert_presence(&offline, room, bob.id, false);
    let after = killed.elapsed();
    assert!(after < BOUND, "offline {after:?} after the kill");
    assert_eq!(presence_ids(&alice, room).await, [alice.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_user_stream_hears_what_happens_on_another_instance() {
    let cluster = Cluster::start(2, &[]).await;
    let b = cluster.servers[1].url();
    let alice = cluster.servers[0].user().await;
    let bob = cluster.servers[0].user().await;
    let room = bob.new_room(5).await;
    let mut stream = user_stream(&on(&alice, &b)).await;

    // Alice joins through A: her stream on B hears it, then bob's message there.
    alice.join(room).await.expect(201);
    let added = next_within(&mut stream, CROSS_INSTANCE).await;
    assert_frame(&added, "room.added", room);
    let said = seq(&bob.say(room, "hello").await);
    let activity = next_within(&mut stream, CROSS_INSTANCE).await;
    assert_frame(&activity, "room.activity", room);
    assert_eq!(activity["data"]["last_seq"], said);
    // The room deleted on A: removed on B.
    bob.delete_room(room).await.expect(204);
    let removed = next_within(&mut stream, CROSS_INSTANCE).await;
    assert_frame(&removed, "room.removed", room);
}
