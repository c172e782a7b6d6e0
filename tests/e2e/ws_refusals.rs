//! Who may open a room's event stream: session, membership, Origin, and how many at once.

use std::time::{Duration, Instant};

use reqwest::header::{CONNECTION, UPGRADE};
use reqwest::Method;

use crate::support::{connect, Backend, Bot, Client, Resp, TestServer, SESSION_COOKIE};

backend_tests!(
    no_or_bogus_cookie_is_401,
    non_member_is_403,
    foreign_origin_is_403,
    own_and_allowed_origins_are_accepted,
    sockets_beyond_the_per_user_cap_get_429,
    sockets_beyond_the_per_ip_cap_get_429,
);

async fn no_or_bogus_cookie_is_401(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let url = owner.events_url(room, None);

    assert_eq!(connect(&url, &[]).await.err(), Some(401));
    let bogus = format!("{SESSION_COOKIE}=not-a-session");
    assert_eq!(connect(&url, &[("cookie", bogus)]).await.err(), Some(401));
    // The same request with the real cookie goes through, so the 401s were
    // about the cookie and nothing else.
    let real = owner.session_cookie();
    assert!(connect(&url, &[("cookie", real)]).await.is_ok());
}

async fn non_member_is_403(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let outsider = server.user().await;
    let room = owner.new_room(5).await;

    assert_eq!(outsider.try_events(room, None).await.err(), Some(403));
    assert_eq!(outsider.try_events(room, Some(0)).await.err(), Some(403));
    outsider.join(room).await.expect(201);
    assert!(outsider.try_events(room, Some(0)).await.is_ok());
}

async fn foreign_origin_is_403(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    for origin in [
        "http://evil.example",
        // Same host, another port: a different origin.
        "http://127.0.0.1:1",
        "null",
    ] {
        assert_eq!(
            owner.try_events_from(room, origin).await.err(),
            Some(403),
            "Origin {origin}"
        );
    }
}

async fn own_and_allowed_origins_are_accepted(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_ALLOWED_ORIGINS", r#"["http://good.example"]"#)
        .start()
        .await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    let own = format!("http://{}", server.authority());
    assert!(
        owner.try_events_from(room, &own).await.is_ok(),
        "own origin"
    );
    assert!(
        owner
            .try_events_from(room, "http://good.example")
            .await
            .is_ok(),
        "allow-listed origin"
    );
    assert_eq!(
        owner
            .try_events_from(room, "http://bad.example")
            .await
            .err(),
        Some(403),
        "an allow-list admits only what it lists"
    );
}

/// A WebSocket handshake made with reqwest, to read a refusal's problem body.
async fn upgrade(client: &Client, room: i64) -> Resp {
    let request = client
        .request(Method::GET, &format!("/api/rooms/{room}/events"))
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    client.send(request).await
}

async fn sockets_beyond_the_per_user_cap_get_429(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_WS_MAX_PER_USER", "3")
        .start()
        .await;
    let owner = server.user().await;
    let other = server.user().await;
    let room = owner.new_room(5).await;
    other.join(room).await.expect(201);

    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(owner.events(room, None).await);
    }
    let refused = upgrade(&owner, room).await;
    refused.expect_problem(429, "too-many-sockets");
    // A bot of the same owner is another principal with its own count.
    let bot = Bot::create(&owner).await;
    bot.join(room).await.expect(201);
    let _bot_socket = bot.events(room, None).await;
    // Another user is not affected.
    let _theirs = other.events(room, None).await;

    // Closing one frees its place (once the server has seen the close).
    open.pop().unwrap().close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match owner.try_events(room, None).await {
            Ok(socket) => {
                open.push(socket);
                break;
            }
            Err(status) => {
                assert_eq!(status, 429);
                assert!(
                    Instant::now() < deadline,
                    "the closed socket's place never freed"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // And the cap holds again.
    upgrade(&owner, room)
        .await
        .expect_problem(429, "too-many-sockets");
}

async fn sockets_beyond_the_per_ip_cap_get_429(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_WS_MAX_PER_IP", "3")
        .start()
        .await;
    let owner = server.user().await;
    let other = server.user().await;
    let room = owner.new_room(5).await;
    other.join(room).await.expect(201);

    let _a = owner.events(room, None).await;
    let _b = owner.events(room, None).await;
    let _c = other.events(room, None).await;
    // Every test client connects from 127.0.0.1: whoever asks next is over the cap.
    upgrade(&other, room)
        .await
        .expect_problem(429, "too-many-sockets");
    upgrade(&owner, room)
        .await
        .expect_problem(429, "too-many-sockets");
    let bot = Bot::create(&owner).await;
    bot.join(room).await.expect(201);
    assert_eq!(bot.try_events(room, None).await.err(), Some(429));
}
