//! Rate limits (GCRA): per principal for sends, room and bot creation; per
//! client IP for login and registration together. Every answer of a limited
//! endpoint carries `RateLimit-Limit/-Remaining/-Reset`; an excess request
//! gets 429 `rate-limited` with `Retry-After` and is not carried out.
//!
//! The suite's servers have the limits out of the way; each test here sets
//! its own. A rate of 1 per minute means nothing refills during a test.
//! `across_instances`: the same limits shared by many instances through Redis.

mod across_instances;

use std::time::Duration;

use crate::support::{unique_username, Backend, Bot, Resp, TestServer, PASSWORD};

backend_tests!(
    sends_past_the_burst_get_429_with_retry_after,
    retry_after_is_long_enough,
    room_and_bot_creation_are_limited_per_principal,
    login_and_registration_are_limited_per_client_ip,
);

/// `(RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset)`, all required.
#[track_caller]
fn rate(resp: &Resp) -> (u64, u64, u64) {
    let number = |name: &str| -> u64 {
        let value = resp.header(name).unwrap_or_else(|| {
            panic!(
                "HTTP {} without {name}: headers {:?}, body {}",
                resp.status, resp.headers, resp.text
            )
        });
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {value:?} is not a number of seconds or units"))
    };
    (
        number("RateLimit-Limit"),
        number("RateLimit-Remaining"),
        number("RateLimit-Reset"),
    )
}

/// Asserts a 429 `rate-limited` problem with its headers; returns Retry-After.
#[track_caller]
fn expect_limited(resp: &Resp, limit: u64) -> u64 {
    resp.expect_problem(429, "rate-limited");
    let retry_after: u64 = resp
        .header("Retry-After")
        .unwrap_or_else(|| panic!("429 without Retry-After: {:?}", resp.headers))
        .parse()
        .expect("Retry-After is whole seconds");
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    let (l, remaining, reset) = rate(resp);
    assert_eq!((l, remaining), (limit, 0), "RateLimit-* of a 429");
    assert!(
        reset >= retry_after,
        "RateLimit-Reset {reset} < Retry-After {retry_after}"
    );
    retry_after
}

async fn sends_past_the_burst_get_429_with_retry_after(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_RATE_SEND_PER_MINUTE", "1")
        .env("ROOMCAST_RATE_SEND_BURST", "3")
        .start()
        .await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    let mut resets = Vec::new();
    for (n, remaining) in [2, 1, 0].into_iter().enumerate() {
        let sent = owner.send_message(room, &format!("burst {n}")).await;
        let (limit, left, reset) = rate(&sent);
        assert_eq!(sent.status, 201, "{}", sent.text);
        assert_eq!((limit, left), (3, remaining), "send {n}");
        resets.push(reset);
    }
    // Reset counts down to a full bucket: it grows as the bucket empties,
    // and one unit takes 60 s at 1/min.
    assert!(
        resets.windows(2).all(|w| w[0] < w[1]) && resets[2] <= 180,
        "RateLimit-Reset over the burst: {resets:?}"
    );

    let refused = owner.send_message(room, "one too many").await;
    let retry_after = expect_limited(&refused, 3);
    assert!(retry_after <= 60, "Retry-After {retry_after} at 1/min");
    // Refused means not stored.
    let history = owner.history(room, "").await.expect(200);
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        3,
        "{history}"
    );
    assert_eq!(owner.room(room).await.expect(200)["last_seq"], 4);

    // The bucket is the principal's: a second session of the same user
    // shares it, another user and a bot have their own.
    let same_user = server.client();
    same_user
        .login(&owner.username, &owner.password)
        .await
        .expect(200);
    expect_limited(&same_user.send_message(room, "other tab").await, 3);
    let other = server.user().await;
    other.join(room).await.expect(201);
    let theirs = other.send_message(room, "mine").await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    assert_eq!(rate(&theirs).1, 2);
    let bot = Bot::create(&owner).await;
    bot.join(room).await.expect(201);
    let bots = bot.send_message(room, "beep").await;
    assert_eq!((bots.status, rate(&bots).1), (201, 2), "{}", bots.text);
}

async fn retry_after_is_long_enough(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_RATE_SEND_PER_MINUTE", "60")
        .env("ROOMCAST_RATE_SEND_BURST", "1")
        .start()
        .await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    let first = owner.send_message(room, "first").await;
    assert_eq!(
        (first.status, rate(&first)),
        (201, (1, 0, 1)),
        "{}",
        first.text
    );
    let refused = owner.send_message(room, "too soon").await;
    let retry_after = expect_limited(&refused, 1);
    assert_eq!(retry_after, 1, "one unit a second, the bucket just emptied");

    // Coming back when told to works.
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(50)).await;
    let again = owner.send_message(room, "on time").await;
    assert_eq!(again.status, 201, "after Retry-After: {}", again.text);
}

async fn room_and_bot_creation_are_limited_per_principal(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_RATE_ROOMS_PER_MINUTE", "1")
        .env("ROOMCAST_RATE_ROOMS_BURST", "2")
        .env("ROOMCAST_RATE_BOTS_PER_MINUTE", "1")
        .env("ROOMCAST_RATE_BOTS_BURST", "2")
        .start()
        .await;
    let owner = server.user().await;

    for remaining in [1, 0] {
        let room = owner.create_room("limited", 5).await;
        assert_eq!(room.status, 201, "{}", room.text);
        assert_eq!(rate(&room).0, 2);
        assert_eq!(rate(&room).1, remaining);
    }
    expect_limited(&owner.create_room("one too many", 5).await, 2);
    assert_eq!(
        owner.rooms().await.expect(200)["rooms"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let mut bots = Vec::new();
    for remaining in [1, 0] {
        let created = owner.create_bot(&unique_username("lim")).await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!((rate(&created).0, rate(&created).1), (2, remaining));
        bots.push(created.json);
    }
    let name = unique_username("lim");
    expect_limited(&owner.create_bot(&name).await, 2);
    assert_eq!(
        owner.bots().await.expect(200)["bots"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "the refused bot was created anyway"
    );
    // The name was not taken by the refused request.
    let other = server.user().await;
    other.create_bot(&name).await.expect(201);

    // Each principal has its own buckets: the other user and a bot can still create rooms.
    other.create_room("theirs", 5).await.expect(201);
    let bot = Bot::from_created(&owner, &bots[0]);
    let by_bot = bot.create_room("the bot's", 5).await;
    assert_eq!(
        (by_bot.status, rate(&by_bot).1),
        (201, 1),
        "{}",
        by_bot.text
    );
}

async fn login_and_registration_are_limited_per_client_ip(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_RATE_AUTH_PER_MINUTE", "1")
        .env("ROOMCAST_RATE_AUTH_BURST", "6")
        .start()
        .await;
    let name = unique_username("guess");
    let owner = server.client();

    let registered = owner.register(&name, PASSWORD).await;
    assert_eq!(
        (registered.status, rate(&registered)),
        (201, (6, 5, 60)),
        "{}",
        registered.text
    );
    let login = owner.login(&name, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!((rate(&login).0, rate(&login).1), (6, 4));

    // An attacker on the same IP guesses until refused: 4 guesses are left.
    let attacker = server.client();
    let mut wrong = 0;
    let refused = loop {
        let attempt = attacker.login(&name, "not the password").await;
        if attempt.status == 429 {
            break attempt;
        }
        attempt.expect_problem(401, "invalid-credentials");
        // A refused attempt was still charged, and says what is left.
        let (limit, left, _) = rate(&attempt);
        assert_eq!((limit, left), (6, 3 - wrong), "wrong password {wrong}");
        wrong += 1;
        assert!(
            wrong <= 10,
            "still not limited after {wrong} wrong passwords"
        );
    };
    assert_eq!(wrong, 4, "wrong passwords answered 401 before the 429");
    expect_limited(&refused, 6);

    // While limited, the right password is refused the same way, and no cookie is set.
    let right = attacker.login(&name, PASSWORD).await;
    expect_limited(&right, 6);
    assert!(
        attacker.cookie_header().is_none(),
        "a refused login set a cookie"
    );
    // Registration shares the bucket.
    expect_limited(
        &attacker.register(&unique_username("new"), PASSWORD).await,
        6,
    );

    // The limit is on attempts, not on the sessions already open.
    owner.me().await.expect(200);
    let room = owner.create_room("still working", 5).await.expect(201);
    assert_eq!(room["name"], "still working");
}
