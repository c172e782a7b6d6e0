//! Password guessing and hashing: a bounded number of argon2 hashes at once
//! (503 `overloaded` beyond it), a per-username limit beside the per-IP one,
//! the 1,024-byte password limit at login, secrets never echoed, and stored
//! hashes upgraded when the configured cost rises.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{unique_username, Backend, Resp, TestServer, PASSWORD};

backend_tests!(
    concurrent_hashes_are_bounded_and_the_excess_gets_503,
    guesses_at_one_account_are_limited_whatever_the_address,
    login_refuses_an_oversized_password_before_hashing,
    a_mistyped_secret_is_named_never_echoed,
    a_stored_hash_is_upgraded_when_the_cost_rises,
);

/// An anonymous client whose connections come from `ip` (any 127.0.0.0/8
/// address reaches the server on loopback): a distinct client address.
fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn login_from(http: &reqwest::Client, server: &TestServer, name: &str, pw: &str) -> Resp {
    let body = json!({ "username": name, "password": pw });
    let response = http
        .post(format!("{}/api/session", server.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        json,
    }
}

/// The stored PHC string of `username`, read from the server's database.
async fn stored_hash(server: &TestServer, username: &str) -> String {
    let url = server.database_url().to_string();
    let name = username.to_string();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.to_string();
        tokio::task::spawn_blocking(move || {
            use diesel::prelude::*;
            #[derive(QueryableByName)]
            struct Row {
                #[diesel(sql_type = diesel::sql_types::Text)]
                password_hash: String,
            }
            let mut conn = SqliteConnection::establish(&path).unwrap();
            diesel::sql_query("SELECT password_hash FROM users WHERE username = ?")
                .bind::<diesel::sql_types::Text, _>(&name)
                .get_result::<Row>(&mut conn)
                .unwrap()
                .password_hash
        })
        .await
        .unwrap()
    } else {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT password_hash FROM users WHERE username = $1",
                &[&name],
            )
            .await
            .unwrap();
        row.get(0)
    }
}

async fn concurrent_hashes_are_bounded_and_the_excess_gets_503(b: Backend) {
    // One hash at a time, no waiting, and hashes slow enough (even on a fast
    // machine) that concurrent requests find the slot taken.
    let server = TestServer::builder(b)
        .env("ROOMCAST_ARGON2_MAX_CONCURRENT", "1")
        .env("ROOMCAST_ARGON2_WAIT_MS", "0")
        .env("ROOMCAST_ARGON2_ITERATIONS", "400")
        .start()
        .await;
    let client = server.client();
    let name = unique_username("busy");
    client.register(&name, PASSWORD).await.expect(201);

    let logins = (0..12).map(|n| {
        let client = server.client();
        let name = name.clone();
        async move {
            let password = if n % 2 == 0 {
                PASSWORD
            } else {
                "wrong password"
            };
            client.login(&name, password).await
        }
    });
    let new_names: Vec<String> = (0..4).map(|_| unique_username("busyreg")).collect();
    let registrations = new_names.iter().map(|n| {
        let client = server.client();
        async move { client.register(n, PASSWORD).await }
    });
    let (logins, registrations) = tokio::join!(join_all(logins), join_all(registrations));

    let mut evaluated = 0;
    let mut refused = 0;
    for r in logins.iter().chain(&registrations) {
        match r.status {
            200 | 201 | 401 => evaluated += 1,
            503 => {
                r.expect_problem(503, "overloaded");
                let retry: u64 = r
                    .header("Retry-After")
                    .expect("503 without Retry-After")
                    .parse()
                    .unwrap();
                assert!(retry >= 1, "Retry-After {retry}");
                refused += 1;
            }
            other => panic!("unexpected HTTP {other}: {}", r.text),
        }
    }
    assert!(
        refused > 0,
        "16 concurrent hashes with 1 slot and no wait: none refused ({evaluated} evaluated)"
    );
    assert!(evaluated > 0, "nothing was evaluated");

    // A refused registration stored nothing: each name can be registered now.
    for (n, r) in new_names.iter().zip(&registrations) {
        if r.status == 503 {
            client.register(n, PASSWORD).await.expect(201);
        }
    }
    // The slots came back: one at a time, everything is evaluated.
    client.login(&name, PASSWORD).await.expect(200);
    client
        .login(&name, "wrong password")
        .await
        .expect_problem(401, "invalid-credentials");
}

async fn guesses_at_one_account_are_limited_whatever_the_address(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_RATE_AUTH_PER_MINUTE", "1")
        .env("ROOMCAST_RATE_AUTH_BURST", "3")
        .env("ROOMCAST_RATE_LOGIN_USER_PER_MINUTE", "1")
        .env("ROOMCAST_RATE_LOGIN_USER_BURST", "5")
        .start()
        .await;
    let victim = server.client();
    let name = unique_username("victim");
    victim.register(&name, PASSWORD).await.expect(201);
    victim.login(&name, PASSWORD).await.expect(200);

    // Six addresses, four concurrent guesses each: the per-IP limits alone
    // would let 6 × 3 − 1 = 17 be evaluated; the account's own limit leaves 4.
    let guesses = (2..=7u8).flat_map(|last| {
        let http = client_from(Ipv4Addr::new(127, 0, 0, last));
        let server = &server;
        let name = name.clone();
        (0..4).map(move |n| {
            let http = http.clone();
            let name = name.clone();
            async move { login_from(&http, server, &name, &format!("guess number {n}")).await }
        })
    });
    let answers = join_all(guesses).await;
    let mut evaluated = 0;
    for r in &answers {
        match r.status {
            401 => {
                r.expect_problem(401, "invalid-credentials");
                evaluated += 1;
            }
            429 => {
                r.expect_problem(429, "rate-limited");
                let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
                assert!(retry >= 1, "Retry-After {retry}");
            }
            other => panic!("unexpected HTTP {other}: {}", r.text),
        }
    }
    assert_eq!(
        evaluated, 4,
        "wrong passwords evaluated for one account from 6 addresses (burst 5, one used by the login)"
    );

    // While the account's bucket is empty, even the right password from a
    // fresh address is refused without being checked, and sets no cookie.
    let fresh = client_from(Ipv4Addr::new(127, 0, 0, 8));
    let right = login_from(&fresh, &server, &name, PASSWORD).await;
    right.expect_problem(429, "rate-limited");
    assert!(right.header("Set-Cookie").is_none(), "{:?}", right.headers);
    // The account's limit speaks for itself, not the address's (burst 3, one used here).
    assert_eq!(
        (
            right.header("RateLimit-Limit"),
            right.header("RateLimit-Remaining")
        ),
        (Some("5"), Some("0")),
        "{:?}",
        right.headers
    );
    // Names are one bucket whatever their case.
    let upper = login_from(&fresh, &server, &name.to_uppercase(), PASSWORD).await;
    upper.expect_problem(429, "rate-limited");

    // Another account has its own bucket, and the open session still works.
    let other = unique_username("bystander");
    let from9 = client_from(Ipv4Addr::new(127, 0, 0, 9));
    let body = json!({ "username": other, "password": PASSWORD });
    let registered = from9
        .post(format!("{}/api/accounts", server.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    login_from(&from9, &server, &other, PASSWORD)
        .await
        .expect(200);
    victim.me().await.expect(200);
}

async fn login_refuses_an_oversized_password_before_hashing(b: Backend) {
    // A username bucket of 2: an oversized password must be refused before
    // it is counted or hashed, so five of them are all 422, never 429.
    let server = TestServer::builder(b)
        .env("ROOMCAST_RATE_LOGIN_USER_PER_MINUTE", "1")
        .env("ROOMCAST_RATE_LOGIN_USER_BURST", "2")
        .start()
        .await;
    let user = server.user().await;
    let client = server.client();
    for password in [
        "x".repeat(1025),
        "é".repeat(513),
        "y".repeat(60 * 1024),
        "z".repeat(1025),
        "w".repeat(4096),
    ] {
        let refused = client.login(&user.username, &password).await;
        refused.expect_problem(422, "validation-failed");
        assert_eq!(refused.json["field"], "password", "{}", refused.text);
    }
    // The bucket is untouched: the next login is evaluated.
    client.login(&user.username, PASSWORD).await.expect(200);
}

async fn a_mistyped_secret_is_named_never_echoed(b: Backend) {
    let server = TestServer::start(b).await;
    let client = server.client();
    let name = unique_username("typed");
    client.register(&name, PASSWORD).await.expect(201);

    let marker = "s3cr3t-typed-value";
    let number = 987_654_321_123u64;
    let bodies = [
        json!({ "username": name, "password": number }),
        json!({ "username": name, "password": { "nested": marker } }),
        json!({ "username": name, "password": [marker] }),
        json!({ "username": name, "password": true }),
    ];
    for path in ["/api/session", "/api/accounts"] {
        for body in &bodies {
            let refused = client.post(path, body).await;
            refused.expect_problem(422, "validation-failed");
            assert_eq!(refused.json["field"], "password", "{}", refused.text);
            assert!(
                !refused.text.contains(marker) && !refused.text.contains(&number.to_string()),
                "{path} echoed the secret: {}",
                refused.text
            );
        }
    }
    // A bare JSON string as the whole body (a password pasted alone).
    let bare = client
        .send(
            client
                .request(Method::POST, "/api/session")
                .header(CONTENT_TYPE, "application/json")
                .body(format!("\"{marker}\"")),
        )
        .await;
    bare.expect_problem(422, "validation-failed");
    assert!(!bare.text.contains(marker), "{}", bare.text);

    // Nor is it in the server's log (the harness logs at warn, where refused
    // requests are reported).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = server.log_tail(2000);
    assert!(
        !log.contains(marker) && !log.contains(&number.to_string()),
        "the log holds a secret value:\n{log}"
    );
}

async fn a_stored_hash_is_upgraded_when_the_cost_rises(b: Backend) {
    let mut server = TestServer::start(b).await;
    let user = server.user().await;
    let idle = server.user().await;
    let before = stored_hash(&server, &user.username).await;
    assert!(before.contains("m=64,t=1,"), "{before}");

    // The operator raises the cost; stored hashes are upgraded at login.
    server.set_env("ROOMCAST_ARGON2_ITERATIONS", "2");
    server.set_env("ROOMCAST_ARGON2_MEMORY_KIB", "128");
    server.restart().await;
    let client = server.client();
    client.login(&user.username, PASSWORD).await.expect(200);
    let after = stored_hash(&server, &user.username).await;
    assert!(after.contains("m=128,t=2,"), "not upgraded: {after}");
    assert_ne!(before, after);

    // The new hash is the same password: right still works, wrong still fails.
    client.login(&user.username, PASSWORD).await.expect(200);
    client
        .login(&user.username, "wrong password")
        .await
        .expect_problem(401, "invalid-credentials");
    assert_eq!(stored_hash(&server, &user.username).await, after);
    // Only a login upgrades (it is the only time the password is known).
    let untouched = stored_hash(&server, &idle.username).await;
    assert!(untouched.contains("m=64,t=1,"), "{untouched}");
}
