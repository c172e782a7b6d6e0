//! Many instances of one deployment (PostgreSQL only: SQLite refuses a bus): 2 and 3 real
//! servers on one database, with a `redis-server` of the test's own as their bus. A message
//! posted on any instance reaches every socket on every instance once, in seq order, and
//! every end of a session, credential, membership or room closes the right sockets
//! everywhere, also while the bus is down or after an instance died.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::time::timeout;

use crate::support::{kind, seq, Backend, Bot, Cluster, EventSocket, Incoming, TestDb, User};

/// Effects that cross instances must arrive within this (the bound).
const CROSS_INSTANCE: Duration = Duration::from_secs(1);

/// For tests of what the bus itself carries: the position check (which would repair what
/// the bus failed to carry) does not run within the test.
const NO_POSITION_CHECK: (&str, &str) = ("ROOMCAST_BUS_CHECK_MS", "600000");

/// `user` (same cookie, same session) talking to another instance.
fn on(user: &User, base: &str) -> User {
    User {
        id: user.id,
        username: user.username.clone(),
        password: user.password.clone(),
        client: user.client.at(base),
    }
}

/// Reads `socket` until it has seen message seq `through`, and asserts it saw every event
/// from `from` to there exactly once, in order. Returns the messages' contents.
async fn expect_seqs(socket: &mut EventSocket, from: i64, through: i64) -> Vec<String> {
    let mut contents = Vec::new();
    let mut expected = from;
    while expected <= through {
        let event = socket.next_event().await;
        assert_eq!(seq(&event), expected, "out of order or duplicated: {event}");
        if kind(&event) == "message.created" {
            contents.push(event["data"]["content"].as_str().unwrap().to_string());
        }
        expected += 1;
    }
    contents
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_post_on_one_instance_reaches_every_socket_on_every_instance_in_order() {
    // No position check within the test: what arrives, the bus carried.
    let cluster = Cluster::start(3, &[NO_POSITION_CHECK]).await;
    let [a, b, c] = [0, 1, 2].map(|i| cluster.servers[i].url());
    let alice = cluster.servers[0].user().await;
    let bob = on(&cluster.servers[0].user().await, &c);
    let room = alice.new_room(10).await;
    bob.join(room).await.expect(201);

    let mut sockets = vec![
        alice.events(room, None).await,
        on(&alice, &b).events(room, None).await,
        bob.events(room, None).await,
    ];
    // Both people speak, each on two instances, so frames of one room arrive at each
    // instance from its own commits and from the bus, interleaved.
    let speakers = [on(&alice, &a), on(&alice, &b), on(&bob, &b), on(&bob, &c)];
    let mut last = 0;
    for i in 0..60 {
        let speaker = &speakers[i % speakers.len()];
        last = seq(&speaker.say(room, &format!("m{i}")).await);
    }
    let first = last - 59;
    for socket in &mut sockets {
        let got = expect_seqs(socket, first, last).await;
        let want: Vec<String> = (0..60).map(|i| format!("m{i}")).collect();
        assert_eq!(got, want);
        // Nothing more: no duplicate arrives late.
        assert!(socket
            .next_within(Duration::from_millis(300))
            .await
            .is_none());
    }
    // Concurrent senders on all three instances: every socket still sees every seq once.
    let handles: Vec<_> = speakers
        .iter()
        .map(|s| {
            let s = on(s, &s.url(""));
            tokio::spawn(async move {
                for i in 0..25 {
                    s.say(room, &format!("c{i}")).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    for socket in &mut sockets {
        expect_seqs(socket, last + 1, last + 100).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_on_one_instance_closes_the_sessions_sockets_and_cached_credential_on_another() {
    // A long cache and no revocation poll: only the bus can end the session on B in time.
    let cluster = Cluster::start(
        2,
        &[
            ("ROOMCAST_AUTH_CACHE_MS", "60000"),
            ("ROOMCAST_REVOCATION_POLL_MS", "60000"),
        ],
    )
    .await;
    let b = cluster.servers[1].url();
    let alice = cluster.servers[0].user().await;
    let room = alice.new_room(5).await;
    let on_b = on(&alice, &b);
    // B has checked (and cached) the session.
    on_b.me().await.expect(200);
    let mut socket = on_b.events(room, None).await;

    let started = Instant::now();
    alice.logout().await.expect(204);
    timeout(CROSS_INSTANCE, socket.expect_close(4001))
        .await
        .expect("the socket on B did not close within 1 s of the logout on A");
    println!("logout on A closed B's socket in {:?}", started.elapsed());
    // B forgot the cached session at once, however long its cache is.
    let stale = alice.client.at(&b);
    stale.me().await.expect_problem(401, "unauthenticated");
}

/// Issue 16: a password change on A ends the other session's socket on B (and B's cached
/// copy of it) while the changing session's own socket on B stays; a ban on A closes the
/// banned member's socket on B (4003).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_change_and_a_ban_close_sockets_on_other_instances() {
    // A long cache and no revocation poll: only the bus can end the session on B in time.
    let cluster = Cluster::start(
        2,
        &[
            ("ROOMCAST_AUTH_CACHE_MS", "60000"),
            ("ROOMCAST_REVOCATION_POLL_MS", "60000"),
            NO_POSITION_CHECK,
        ],
    )
    .await;
    let b = cluster.servers[1].url();
    let alice = cluster.servers[0].user().await;
    let bob = cluster.servers[0].user().await;
    let room = alice.new_room(5).await;
    bob.join(room).await.expect(201);

    // Alice's second session, used on B (and so cached there).
    let laptop = cluster.servers[1].client();
    laptop
        .login(&alice.username, &alice.password)
        .await
        .expect(200);
    laptop.me().await.expect(200);
    let mut laptops = laptop.events(room, None).await;
    let mut own = on(&alice, &b).events(room, None).await;
    let mut bobs = on(&bob, &b).events(room, None).await;

    let body = serde_json::json!({ "current": alice.password, "new": "a brand new password" });
    alice
        .send(
            alice
                .request(reqwest::Method::PUT, "/api/me/password")
                .json(&body),
        )
        .await
        .expect(204);
    timeout(CROSS_INSTANCE, laptops.expect_close(4001))
        .await
        .expect("password change on A: the other session's socket on B did not close within 1 s");
    laptop.me().await.expect_problem(401, "unauthenticated");

    alice
        .put(&format!("/api/rooms/{room}/bans/{}", bob.id))
        .await
        .expect(204);
    timeout(CROSS_INSTANCE, bobs.expect_close(4003))
        .await
        .expect("ban on A: the banned member's socket on B did not close within 1 s");
    // The changing session's own socket on B saw the ban and is still open.
    let left = own.next_event().await;
    assert_eq!(kind(&left), "member.left", "{left}");
    on(&alice, &b).me().await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leave_removal_and_room_deletion_close_sockets_on_other_instances() {
    let cluster = Cluster::start(3, &[NO_POSITION_CHECK]).await;
    let [b, c] = [1, 2].map(|i| cluster.servers[i].url());
    let owner = cluster.servers[0].user().await;
    let leaver = cluster.servers[0].user().await;
    let removed = cluster.servers[0].user().await;
    let room = owner.new_room(10).await;
    leaver.join(room).await.expect(201);
    removed.join(room).await.expect(201);

    let mut leavers = on(&leaver, &c).events(room, None).await;
    let mut removeds = on(&removed, &c).events(room, None).await;
    let mut owners = on(&owner, &c).events(room, None).await;

    // Leave on B: the leaver's socket on C closes 4003.
    on(&leaver, &b).leave(room).await.expect(204);
    timeout(CROSS_INSTANCE, leavers.expect_close(4003))
        .await
        .expect("leave on B: no 4003 on C within 1 s");
    // Removal on A: the removed member's socket on C closes 4003.
    owner.remove_member(room, removed.id).await.expect(204);
    timeout(CROSS_INSTANCE, removeds.expect_close(4003))
        .await
        .expect("removal on A: no 4003 on C within 1 s");
    // The others saw both leave, in order.
    let left: Vec<Value> = owners.next_events(2).await;
    assert!(left.iter().all(|e| kind(e) == "member.left"), "{left:?}");
    assert_eq!(seq(&left[1]), seq(&left[0]) + 1);

    // Deletion on A: C's sockets of the room get room.deleted, then 4004.
    owner.delete_room(room).await.expect(204);
    let before = timeout(CROSS_INSTANCE, owners.expect_close(4004))
        .await
        .expect("deletion on A: no 4004 on C within 1 s");
    assert!(
        before.iter().all(|e| kind(e) == "room.deleted"),
        "{before:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_rotation_and_a_cli_disable_close_sockets_on_other_instances() {
    let cluster = Cluster::start(2, &[("ROOMCAST_REVOCATION_POLL_MS", "60000")]).await;
    let b = cluster.servers[1].url();
    let owner = cluster.servers[0].user().await;
    let room = owner.new_room(5).await;
    let bot = Bot::create(&owner).await;
    bot.join(room).await.expect(201);
    let bot_on_b = Bot {
        id: bot.id,
        username: bot.username.clone(),
        token: bot.token.clone(),
        client: bot.client.at(&b),
    };
    let mut socket = bot_on_b.events(room, None).await;
    owner.rotate_bot_token(bot.id).await.expect(200);
    timeout(CROSS_INSTANCE, socket.expect_close(4001))
        .await
        .expect("token rotated on A: no 4001 on B within 1 s");
    bot_on_b.me().await.expect_invalid_token();

    // An operator disables a person with the admin CLI: the socket on B closes at once,
    // not at the next revocation poll (a minute away here).
    let person = cluster.servers[0].user().await;
    person.join(room).await.expect(201);
    let mut persons = on(&person, &b).events(room, None).await;
    let started = Instant::now();
    crate::cli::roomcast_with(
        &cluster.db.url,
        &["user", "disable", &person.username],
        "",
        &[("ROOMCAST_BUS_URL", &cluster.redis.url())],
    )
    .await
    .ok();
    timeout(CROSS_INSTANCE, persons.expect_close(4001))
        .await
        .expect("user disabled by the CLI: no 4001 on B within 1 s");
    println!(
        "CLI disable closed B's socket {:?} after the command started",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_and_restarted_mid_stream_loses_and_duplicates_nothing() {
    let mut cluster = Cluster::start(2, &[("ROOMCAST_BUS_CHECK_MS", "500")]).await;
    let b = cluster.servers[1].url();
    let alice = cluster.servers[0].user().await;
    let room = alice.new_room(5).await;
    let on_b = on(&alice, &b);
    let mut remote = on_b.events(room, None).await;
    let mut local = alice.events(room, None).await;
    assert_eq!(on_b.readyz().await.expect(200)["bus"], "up");

    let first = seq(&alice.say(room, "before").await);
    let mut last = first;
    for round in 0..3 {
        for i in 0..20 {
            last = seq(&alice.say(room, &format!("r{round} {i}")).await);
        }
        match round {
            0 => {
                cluster.redis.kill().await;
                // Sends still succeed; B sees the bus is down.
                last = seq(&alice.say(room, "while down").await);
                wait_for_bus(&on_b, "degraded").await;
            }
            1 => cluster.redis.start_again().await.unwrap(),
            _ => {}
        }
    }
    wait_for_bus(&on_b, "up").await;
    let sent = usize::try_from(last - first + 1).unwrap();
    for socket in [&mut remote, &mut local] {
        let got = expect_seqs(socket, first, last).await;
        assert_eq!(got.len(), sent);
        assert!(socket
            .next_within(Duration::from_millis(300))
            .await
            .is_none());
    }
    // And the bus carries live traffic again.
    let after = alice.say(room, "after").await;
    assert_eq!(remote.next_event().await["data"], after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_socket_opened_while_redis_is_down_hears_the_bus_once_it_is_back() {
    let mut cluster = Cluster::start(2, &[NO_POSITION_CHECK]).await;
    let b = cluster.servers[1].url();
    let alice = cluster.servers[0].user().await;
    let on_b = on(&alice, &b);
    let room = alice.new_room(5).await;
    cluster.redis.kill().await;
    wait_for_bus(&on_b, "degraded").await;
    // B has no stream of this room yet: the socket's watch is only recorded.
    let started = Instant::now();
    let mut socket = on_b.events(room, None).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the upgrade waited {:?} for Redis",
        started.elapsed()
    );
    cluster.redis.start_again().await.unwrap();
    wait_for_bus(&on_b, "up").await;
    wait_for_bus(&alice, "up").await;
    // Only the bus can carry this (no position check runs within the test).
    let sent = alice.say(room, "after the outage").await;
    assert_eq!(socket.next_event().await["data"], sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_down_remote_sockets_catch_up_within_the_position_check() {
    let mut cluster = Cluster::start(2, &[("ROOMCAST_BUS_CHECK_MS", "300")]).await;
    let b = cluster.servers[1].url();
    let alice = cluster.servers[0].user().await;
    let room = alice.new_room(5).await;
    let mut remote = on(&alice, &b).events(room, None).await;
    let mut local = alice.events(room, None).await;
    cluster.redis.kill().await;

    let sent = alice.say(room, "nobody carries this").await;
    // Local sockets do not depend on the bus.
    assert_eq!(local.next_event().await["data"], sent);
    // The last message of a burst, with nothing after it: the position check brings it.
    let started = Instant::now();
    match remote.next_within(Duration::from_secs(5)).await {
        Some(Incoming::Event(e)) => assert_eq!(e["data"], sent),
        other => panic!("B's socket got {other:?} instead of the message"),
    }
    println!("caught up without the bus in {:?}", started.elapsed());
    assert_eq!(alice.readyz().await.expect(200)["bus"], "degraded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frames_over_the_size_bound_travel_as_seq_and_are_read_from_the_database() {
    // Every frame is over 64 bytes: the bus carries (room, seq) only.
    let cluster = Cluster::start(2, &[("ROOMCAST_BUS_FRAME_MAX", "64"), NO_POSITION_CHECK]).await;
    let b = cluster.servers[1].url();
    let alice = cluster.servers[0].user().await;
    let room = alice.new_room(5).await;
    let mut remote = on(&alice, &b).events(room, None).await;
    let mut last = 0;
    for i in 0..30 {
        last = seq(&alice.say(room, &format!("a long enough message {i}")).await);
    }
    let got = expect_seqs(&mut remote, last - 29, last).await;
    assert_eq!(got.len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_of_a_killed_instance_resume_on_another_and_miss_nothing() {
    let mut cluster = Cluster::start(3, &[]).await;
    let [a, b] = [0, 1].map(|i| cluster.servers[i].url());
    let alice = cluster.servers[0].user().await;
    let room = alice.new_room(5).await;
    let mut doomed = on(&alice, &cluster.servers[2].url())
        .events(room, None)
        .await;
    let sender = tokio::spawn({
        let alice = on(&alice, &a);
        async move {
            let mut seqs = Vec::new();
            for i in 0..80 {
                seqs.push(seq(&alice.say(room, &format!("k{i}")).await));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seqs
        }
    });
    // Read a little, then C dies mid-stream.
    let mut have = Vec::new();
    for _ in 0..10 {
        have.push(seq(&doomed.next_event().await));
    }
    cluster.servers[2].kill().await;
    while let Incoming::Event(e) = doomed.next().await {
        have.push(seq(&e));
    }
    let seqs = sender.await.unwrap();
    let last_seen = *have.last().unwrap();
    // The client resumes on B from the last seq it has.
    let mut resumed = on(&alice, &b).events(room, Some(last_seen)).await;
    let rest = expect_seqs(&mut resumed, last_seen + 1, *seqs.last().unwrap()).await;
    assert_eq!(have, (seqs[0]..=last_seen).collect::<Vec<_>>());
    assert_eq!(have.len() + rest.len(), seqs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_with_a_bus_is_refused_at_start() {
    let db = TestDb::create_via(Backend::Sqlite, None).await;
    let run = crate::cli::roomcast_with(
        &db.url,
        &["serve"],
        "",
        &[
            ("ROOMCAST_BUS_URL", "redis://127.0.0.1:1"),
            ("ROOMCAST_BIND", "127.0.0.1:0"),
        ],
    )
    .await;
    let message = run.failed();
    assert!(
        message.contains("SQLite") && message.contains("bus_url"),
        "{message}"
    );
}

/// Polls B's /readyz until its `bus` field says `want` (within 10 s).
async fn wait_for_bus(user: &User, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = user.readyz().await.expect(200);
        if ready["bus"] == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz bus never became {want}: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
