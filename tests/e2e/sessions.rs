//! Session lifetimes: an idle timeout beside the absolute life, and "log
//! out everywhere" (`DELETE /api/sessions`).

use std::time::Duration;

use reqwest::header::COOKIE;
use reqwest::Method;

use crate::support::{Backend, Bot, TestServer};

backend_tests!(
    an_unused_session_ends_and_a_used_one_lives_on,
    log_out_everywhere_ends_every_session_and_closes_their_sockets,
);

async fn an_unused_session_ends_and_a_used_one_lives_on(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_SESSION_IDLE_SECS", "3")
        .start()
        .await;
    let user = server.user().await;
    // The same account in another browser, which stays busy.
    let busy = server.client();
    busy.login(&user.username, &user.password).await.expect(200);
    user.me().await.expect(200);

    // 6 s of use, twice the idle timeout: the busy session is refreshed, the
    // other one is not touched.
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        busy.me().await.expect(200);
    }
    user.me().await.expect_problem(401, "unauthenticated");
    busy.me().await.expect(200);
    // A new login is a new session, whatever the old one did.
    user.login(&user.username, &user.password).await.expect(200);
    user.me().await.expect(200);
}

async fn log_out_everywhere_ends_every_session_and_closes_their_sockets(b: Backend) {
    let server = TestServer::start(b).await;
    let user = server.user().await;
    let bystander = server.user().await;
    let room = user.new_room(5).await;
    bystander.join(room).await.expect(201);

    // Two more browsers of the same account, and a copy of one cookie (what
    // a thief holds).
    let laptop = server.client();
    laptop
        .login(&user.username, &user.password)
        .await
        .expect(200);
    let phone = server.client();
    phone
        .login(&user.username, &user.password)
        .await
        .expect(200);
    let stolen = phone.session_cookie();
    let copy = reqwest::Client::builder().no_proxy().build().unwrap();
    let me_with_copy = || {
        copy.request(Method::GET, user.url("/api/me"))
            .header(COOKIE, &stolen)
            .send()
    };
    assert_eq!(me_with_copy().await.unwrap().status(), 200);

    let mut on_laptop = laptop.events(room, None).await;
    let mut on_phone = phone.events(room, None).await;
    let mut bystanders = bystander.events(room, None).await;

    // A bot has no sessions to end.
    let bot = Bot::create(&user).await;
    bot.delete("/api/sessions")
        .await
        .expect_problem(403, "forbidden");

    // From the first browser: every session ends, this one included.
    user.delete("/api/sessions").await.expect(204);

    on_laptop.expect_close(4001).await;
    on_phone.expect_close(4001).await;
    for client in [&*user, &laptop, &phone] {
        client.me().await.expect_problem(401, "unauthenticated");
    }
    assert_eq!(me_with_copy().await.unwrap().status(), 401);
    assert_eq!(laptop.try_events(room, None).await.err(), Some(401));

    // Nobody else was touched: the bystander is logged in and still hears
    // the room, and the bot's token still works.
    bystander.me().await.expect(200);
    let message = bystander.say(room, "still here").await;
    assert_eq!(bystanders.next_event().await["data"], message);
    bot.me().await.expect(200);

    // The account itself is fine: logging in again works.
    laptop
        .login(&user.username, &user.password)
        .await
        .expect(200);
    laptop.me().await.expect(200);
    // Calling it with no session is refused like any authenticated call.
    server
        .client()
        .delete("/api/sessions")
        .await
        .expect_problem(401, "unauthenticated");
}
