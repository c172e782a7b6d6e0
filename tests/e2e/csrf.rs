//! Cross-site request forgery: a page elsewhere cannot make the browser spend the user's
//! cookie on an unsafe method, even a body-less one (`POST /api/bots/{id}/token` rotates a
//! token with no body at all, so no Content-Type check stands in the way).

use reqwest::Method;

use crate::support::{Backend, Bot, Resp, TestServer, User};

backend_tests!(
    a_foreign_origin_cannot_rotate_a_token_with_the_cookie,
    cross_site_and_same_site_fetches_are_refused,
    own_origin_curl_and_bearer_requests_work,
    allowed_origins_and_public_url_count_as_own,
);

/// `POST /api/bots/{bot}/token` with the user's cookie and these extra headers.
async fn rotate_with(user: &User, bot: i64, headers: &[(&str, &str)]) -> Resp {
    let mut request = user.request(Method::POST, &format!("/api/bots/{bot}/token"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    user.send(request).await
}

async fn a_foreign_origin_cannot_rotate_a_token_with_the_cookie(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let bot = Bot::create(&owner).await;

    for origin in [
        "http://evil.example",
        // Same host, another port: another origin, though the same site for SameSite=Lax.
        "http://127.0.0.1:1",
        "null",
    ] {
        rotate_with(&owner, bot.id, &[("Origin", origin)])
            .await
            .expect_problem(403, "origin-not-allowed");
    }
    // The token was never rotated: the bot still gets in with it.
    bot.me().await.expect(200);
    // Other unsafe methods are refused alike; nothing changed.
    let room = owner.new_room(5).await;
    let last_seq = owner.room(room).await.expect(200)["last_seq"].clone();
    let evil = ("Origin", "http://evil.example");
    let delete = owner
        .request(Method::DELETE, &format!("/api/rooms/{room}"))
        .header(evil.0, evil.1);
    owner
        .send(delete)
        .await
        .expect_problem(403, "origin-not-allowed");
    let send = owner
        .message_request(room, "forged", None)
        .header(evil.0, evil.1);
    owner
        .send(send)
        .await
        .expect_problem(403, "origin-not-allowed");
    let logout = owner
        .request(Method::DELETE, "/api/session")
        .header(evil.0, evil.1);
    owner
        .send(logout)
        .await
        .expect_problem(403, "origin-not-allowed");
    // The room is still there, with no forged message in it; the session still works.
    assert_eq!(owner.room(room).await.expect(200)["last_seq"], last_seq);
    owner.me().await.expect(200);
    // A safe method is not refused: reading is not forging.
    let read = owner.request(Method::GET, "/api/me").header(evil.0, evil.1);
    assert_eq!(owner.send(read).await.status, 200);
}

async fn cross_site_and_same_site_fetches_are_refused(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let bot = Bot::create(&owner).await;
    let own = format!("http://{}", server.authority());

    for site in ["cross-site", "same-site", "none"] {
        // Without an Origin (as a browser may leave it out of a form POST) and with our own.
        rotate_with(&owner, bot.id, &[("Sec-Fetch-Site", site)])
            .await
            .expect_problem(403, "origin-not-allowed");
        rotate_with(
            &owner,
            bot.id,
            &[("Sec-Fetch-Site", site), ("Origin", &own)],
        )
        .await
        .expect_problem(403, "origin-not-allowed");
    }
    bot.me().await.expect(200);
}

async fn own_origin_curl_and_bearer_requests_work(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let bot = Bot::create(&owner).await;
    let own = format!("http://{}", server.authority());

    // Our own page.
    let rotated = rotate_with(
        &owner,
        bot.id,
        &[("Origin", &own), ("Sec-Fetch-Site", "same-origin")],
    )
    .await
    .expect(200);
    bot.me().await.expect_problem(401, "invalid-token");
    let bot = bot.with_token(rotated["token"].as_str().unwrap());
    bot.me().await.expect(200);
    // curl: neither header.
    let rotated = rotate_with(&owner, bot.id, &[]).await.expect(200);
    let bot = bot.with_token(rotated["token"].as_str().unwrap());
    // A bearer token is no ambient credential: a foreign Origin does not matter.
    let room = owner.new_room(5).await;
    bot.join(room).await.expect(201);
    let request = bot
        .message_request(room, "from a script", None)
        .header("Origin", "http://evil.example")
        .header("Sec-Fetch-Site", "cross-site");
    bot.send(request).await.expect(201);
}

async fn allowed_origins_and_public_url_count_as_own(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_ALLOWED_ORIGINS", r#"["https://app.example"]"#)
        .env("ROOMCAST_PUBLIC_URL", "https://chat.example")
        .start()
        .await;
    // Reached as chat.example (the public_url's host): other Hosts are refused.
    let owner = User::create(server.client().with_host("chat.example")).await;
    let bot = Bot::create(&owner).await;
    rotate_with(&owner, bot.id, &[("Origin", "https://chat.example")])
        .await
        .expect(200);
    // An allow-listed origin is trusted even though the fetch is cross-site.
    rotate_with(
        &owner,
        bot.id,
        &[
            ("Origin", "https://app.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    )
    .await
    .expect(200);
    // With public_url set, the own origin is public_url's, not whatever Host says.
    rotate_with(&owner, bot.id, &[("Origin", "http://chat.example")])
        .await
        .expect_problem(403, "origin-not-allowed");
}
