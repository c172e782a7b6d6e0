//! `PUT /api/me/password` and `roomcast user reset-password`: a new password ends the other
//! sessions (a change) or all of them (a reset), and their sockets close with 4001.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::time::timeout;

use crate::cli::roomcast_with;
use crate::support::{Backend, Bot, Client, EventSocket, Resp, TestServer, PASSWORD};

backend_tests!(
    a_change_ends_every_other_session_and_its_sockets,
    a_change_needs_the_current_password_and_is_throttled,
    an_operator_reset_ends_every_session,
);

const NEW_PASSWORD: &str = "a brand new password";

async fn change(client: &Client, current: &str, new: &str) -> Resp {
    let body = json!({ "current": current, "new": new });
    client
        .send(client.request(Method::PUT, "/api/me/password").json(&body))
        .await
}

async fn closes_4001(socket: &mut EventSocket, what: &str) {
    timeout(Duration::from_secs(10), socket.expect_close(4001))
        .await
        .unwrap_or_else(|_| panic!("{what}: the socket stayed open"));
}

async fn a_change_ends_every_other_session_and_its_sockets(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let room = alice.new_room(5).await;
    let elsewhere = server.client();
    elsewhere.login(&alice.username, PASSWORD).await.expect(200);
    let mut here_socket = alice.events(room, None).await;
    let mut other_socket = elsewhere.events(room, None).await;

    change(&alice, PASSWORD, NEW_PASSWORD).await.expect(204);

    closes_4001(&mut other_socket, "the other session's socket").await;
    elsewhere.me().await.expect_problem(401, "unauthenticated");
    // This session and its socket live on.
    alice.me().await.expect(200);
    alice.say(room, "still here").await;
    let event = here_socket.next_event().await;
    assert_eq!(event["data"]["content"], "still here", "{event}");

    let fresh = server.client();
    fresh
        .login(&alice.username, PASSWORD)
        .await
        .expect_problem(401, "invalid-credentials");
    fresh.login(&alice.username, NEW_PASSWORD).await.expect(200);
}

async fn a_change_needs_the_current_password_and_is_throttled(b: Backend) {
    // Four attempts at a username per minute: alice's login takes one.
    let server = TestServer::builder(b)
        .env("ROOMCAST_RATE_LOGIN_USER_PER_MINUTE", "1")
        .env("ROOMCAST_RATE_LOGIN_USER_BURST", "4")
        .start()
        .await;
    let alice = server.user().await;
    let elsewhere = server.client();
    // Not through the username's budget: another name.
    let bot = Bot::create(&alice).await;

    change(&alice, PASSWORD, "short")
        .await
        .expect_problem(422, "validation-failed");
    let refused = change(&alice, PASSWORD, "short").await;
    assert_eq!(refused.json["field"], "new", "{}", refused.text);
    assert!(!refused.text.contains("short"), "echoed: {}", refused.text);
    change(&bot.client, PASSWORD, NEW_PASSWORD)
        .await
        .expect_problem(403, "forbidden");
    change(&elsewhere, PASSWORD, NEW_PASSWORD)
        .await
        .expect_problem(401, "unauthenticated");

    for _ in 0..3 {
        change(&alice, "not my password", NEW_PASSWORD)
            .await
            .expect_problem(403, "wrong-password");
    }
    // The budget is spent: even the right password waits now, and nothing changed.
    change(&alice, PASSWORD, NEW_PASSWORD)
        .await
        .expect_problem(429, "rate-limited");
    alice.me().await.expect(200);
}

async fn an_operator_reset_ends_every_session(b: Backend) {
    let server = TestServer::start(b).await;
    let url = server.database_url().to_string();
    let alice = server.user().await;
    let room = alice.new_room(5).await;
    let elsewhere = server.client();
    elsewhere.login(&alice.username, PASSWORD).await.expect(200);
    let mut first = alice.events(room, None).await;
    let mut second = elsewhere.events(room, None).await;

    let stdin = format!("{NEW_PASSWORD}\n");
    let run = roomcast_with(
        &url,
        &["user", "reset-password", &alice.username],
        &stdin,
        &[],
    )
    .await;
    assert!(run.ok().contains("2 sessions ended"), "{}", run.ok());
    closes_4001(&mut first, "the first session's socket").await;
    closes_4001(&mut second, "the second session's socket").await;
    alice.me().await.expect_problem(401, "unauthenticated");
    elsewhere.me().await.expect_problem(401, "unauthenticated");
    alice
        .login(&alice.username, PASSWORD)
        .await
        .expect_problem(401, "invalid-credentials");
    alice.login(&alice.username, NEW_PASSWORD).await.expect(200);

    let short = roomcast_with(
        &url,
        &["user", "reset-password", &alice.username],
        "short\n",
        &[],
    )
    .await;
    assert!(short.failed().contains("password"), "{}", short.failed());
    let missing = roomcast_with(
        &url,
        &["user", "reset-password", "nobody_here"],
        &stdin,
        &[],
    )
    .await;
    assert!(
        missing.failed().contains("no user named"),
        "{}",
        missing.failed()
    );
    alice.me().await.expect(200);
}
