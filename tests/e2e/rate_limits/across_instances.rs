//! Rate limits with many instances (PostgreSQL and a Redis bus only): a principal has one
//! budget however its requests are spread over the instances; while Redis is down each
//! instance limits on its own (never a 5xx), and the shared budget is back once Redis is.
//!
//! The principal is a bot: its bearer token is valid on every instance, with no cookie to
//! carry from one server to the other.

use std::time::{Duration, Instant};

use super::{expect_limited, rate};
use crate::observability::{scrape, total};
use crate::support::{unique_username, Bot, Client, Cluster, Resp, PASSWORD};

/// A bot in a fresh room, speaking to each instance of `cluster` in turn.
async fn bot_on_every_instance(cluster: &Cluster) -> (i64, Vec<Client>) {
    let owner = cluster.servers[0].user().await;
    let room = owner.new_room(5).await;
    let bot = Bot::create(&owner).await;
    bot.join(room).await.expect(201);
    let clients = cluster
        .servers
        .iter()
        .map(|s| s.client().with_bearer(&bot.token))
        .collect();
    (room, clients)
}

/// `RateLimit-Remaining` of a 201, or the 429's Retry-After: anything else fails the test.
#[track_caller]
fn outcome(resp: &Resp, limit: u64, instance: usize) -> Result<u64, u64> {
    match resp.status {
        201 => {
            let (l, remaining, _) = rate(resp);
            assert_eq!(l, limit, "RateLimit-Limit on instance {instance}");
            Ok(remaining)
        }
        429 => Err(expect_limited(resp, limit)),
        other => panic!("instance {instance}: HTTP {other}: {}", resp.text),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_principal_has_one_budget_across_instances() {
    let cluster = Cluster::start(
        2,
        &[
            ("ROOMCAST_RATE_SEND_BURST", "5"),
            ("ROOMCAST_RATE_SEND_PER_MINUTE", "6"),
        ],
    )
    .await;
    let (room, bots) = bot_on_every_instance(&cluster).await;

    // A unit comes back every 10 s: the sends below must be done sooner for the count to hold.
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for n in 0..12 {
        let instance = n % 2;
        let sent = bots[instance]
            .send_message(room, &format!("turn {n}"))
            .await;
        outcomes.push((instance, outcome(&sent, 5, instance)));
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "12 sends took {:?}: a unit may have come back meanwhile",
        started.elapsed()
    );

    // One bucket: each 201 has one unit less than the one before, whichever instance
    // answered, and after the burst both instances refuse, telling when to come back.
    let taken: Vec<_> = outcomes
        .iter()
        .filter_map(|(_, o)| o.as_ref().ok().copied())
        .collect();
    assert_eq!(taken, [4, 3, 2, 1, 0], "outcomes {outcomes:?}");
    assert!(
        outcomes.iter().take(5).all(|(_, o)| o.is_ok()),
        "the burst first: {outcomes:?}"
    );
    for (instance, o) in outcomes.iter().skip(5) {
        let retry_after = o.expect_err("past the burst");
        assert!(
            (1..=10).contains(&retry_after),
            "instance {instance}: Retry-After {retry_after} at 6/min"
        );
    }
    // Refused means not stored.
    let stored = bots[1].all_messages(room).await;
    let contents: Vec<_> = stored.iter().map(|m| m["content"].clone()).collect();
    assert_eq!(
        contents,
        ["turn 0", "turn 1", "turn 2", "turn 3", "turn 4"],
        "{stored:?}"
    );
}

/// Password guessing spread over the instances: the username's attempts and the address's
/// are each counted once, wherever they land.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_and_registration_attempts_are_counted_once_across_instances() {
    let cluster = Cluster::start(
        2,
        &[
            ("ROOMCAST_RATE_AUTH_PER_MINUTE", "1"),
            ("ROOMCAST_RATE_AUTH_BURST", "6"),
            ("ROOMCAST_RATE_LOGIN_USER_PER_MINUTE", "1"),
            ("ROOMCAST_RATE_LOGIN_USER_BURST", "3"),
        ],
    )
    .await;
    let on = |instance: usize| cluster.servers[instance].client();
    let name = unique_username("victim");
    let registered = on(0).register(&name, PASSWORD).await;
    assert_eq!(
        (registered.status, rate(&registered).1),
        (201, 5),
        "{}",
        registered.text
    );
    // Every login answer shows the address's budget: one less each time, on either instance.
    for (n, left) in [4, 3, 2].into_iter().enumerate() {
        let guess = on(n % 2).login(&name, "not the password").await;
        guess.expect_problem(401, "invalid-credentials");
        assert_eq!(rate(&guess).1, left, "guess {n} on instance {}", n % 2);
    }
    // The username's three attempts are used up, on both instances, even with its password.
    expect_limited(&on(1).login(&name, PASSWORD).await, 3);
    expect_limited(&on(0).login(&name, PASSWORD).await, 3);
    // That was the address's sixth attempt: nothing left for it anywhere.
    expect_limited(&on(1).register(&unique_username("new"), PASSWORD).await, 6);
    expect_limited(&on(0).register(&unique_username("new"), PASSWORD).await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_redis_each_instance_limits_alone_and_sharing_resumes() {
    // 1 a minute: nothing comes back during the test, so every count below is exact.
    let mut cluster = Cluster::start(
        2,
        &[
            ("ROOMCAST_RATE_SEND_BURST", "5"),
            ("ROOMCAST_RATE_SEND_PER_MINUTE", "1"),
            ("RUST_LOG", "warn,roomcast::http::rate_limit=info"),
        ],
    )
    .await;
    let (room, bots) = bot_on_every_instance(&cluster).await;
    let send = |instance: usize, n: usize| {
        let bot = &bots[instance];
        async move {
            let sent = bot.send_message(room, &format!("message {n}")).await;
            outcome(&sent, 5, instance)
        }
    };

    // Shared while Redis is up: the second instance sees the first one's send.
    assert_eq!(send(0, 0).await, Ok(4));
    assert_eq!(send(1, 1).await, Ok(3));

    // Redis gone: each instance has its own full bucket, and refuses past it; no 5xx.
    cluster.redis.kill().await;
    for instance in [0, 1] {
        let mut answers = Vec::new();
        for n in 0..7 {
            answers.push(send(instance, 10 + 10 * instance + n).await);
        }
        let taken: Vec<_> = answers.iter().filter_map(|a| a.ok()).collect();
        assert_eq!(
            taken,
            [4, 3, 2, 1, 0],
            "instance {instance} without Redis: {answers:?}"
        );
        assert!(
            answers.iter().skip(5).all(|a| a.is_err()),
            "instance {instance} without Redis: {answers:?}"
        );
    }
    for (instance, server) in cluster.servers.iter().enumerate() {
        let fallbacks = total(
            &scrape(server).await,
            "roomcast_rate_limit_fallbacks_total",
            &["limit=\"send\""],
        );
        assert!(
            fallbacks >= 7.0,
            "instance {instance}: {fallbacks} fallbacks"
        );
        let log = server.log_tail(2000);
        let warned = log.matches("Redis does not answer").count();
        assert_eq!(warned, 1, "instance {instance}: one WARN per outage\n{log}");
    }

    // Redis back (empty): once an instance asks it again, the bot's budget is the shared,
    // full one: a 201 with 4 left, which its exhausted local bucket could not give.
    cluster.redis.start_again().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 100;
    loop {
        n += 1;
        match send(0, n).await {
            Ok(remaining) => {
                assert_eq!(remaining, 4, "the first send Redis decided");
                break;
            }
            Err(_) => assert!(
                Instant::now() < deadline,
                "still limited locally 20 s after Redis came back"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Both instances spend that one budget again. The second may still rest from the
    // outage for a moment (a 429 from its own bucket), then it shares.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut remaining = 3;
    while remaining > 0 {
        n += 1;
        match send(1, n).await {
            Ok(left) => {
                assert_eq!(left, remaining, "instance 1 after the outage");
                remaining -= 1;
            }
            Err(_) => assert!(
                Instant::now() < deadline,
                "instance 1 still limited locally 20 s after Redis came back"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(send(0, 200).await, Ok(0));
    assert!(send(0, 201).await.is_err() && send(1, 202).await.is_err());
    let log = cluster.servers[0].log_tail(2000);
    assert!(
        log.contains("Redis answers again"),
        "no recovery line\n{log}"
    );
}
