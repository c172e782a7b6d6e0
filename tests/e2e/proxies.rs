//! Behind a load balancer: `X-Forwarded-For` is believed only from a peer listed in
//! `trusted_proxies`, and then names the client of every per-IP limit and of the access log;
//! the proxy passes the browser's Host, and `public_url` is the own origin.
//!
//! Every test client connects from 127.0.0.1, so "a trusted proxy" here is 127.0.0.1 listed
//! in `trusted_proxies`, and "an untrusted peer" is 127.0.0.1 with only 10.0.0.0/8 listed.

use reqwest::header::{CONNECTION, HOST, ORIGIN, UPGRADE};
use reqwest::Method;
use serde_json::json;

use crate::logs::{access_line, request_id};
use crate::support::{connect, unique_username, Backend, Client, Resp, TestServer, User};

backend_tests!(
    a_forwarded_for_from_an_untrusted_peer_is_ignored,
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_login_limit,
    behind_a_trusted_proxy_the_socket_cap_is_per_forwarded_client,
    behind_a_proxy_the_browsers_host_is_passed_and_public_url_is_the_own_origin,
);

/// A server that logs JSON at INFO, trusts `trusted` (a JSON list) and lets one client IP
/// make 2 login or registration attempts (a rate of 1 a minute: none refill in a test).
async fn server(b: Backend, trusted: &str) -> TestServer {
    TestServer::builder(b)
        .env("ROOMCAST_TRUSTED_PROXIES", trusted)
        .env("ROOMCAST_RATE_AUTH_PER_MINUTE", "1")
        .env("ROOMCAST_RATE_AUTH_BURST", "2")
        .env("RUST_LOG", "info")
        .env("ROOMCAST_LOG", "info")
        .env("ROOMCAST_LOG_FORMAT", "json")
        .start()
        .await
}

/// A wrong-password login, forwarded for `xff` (none: sent as it is).
async fn guess(client: &Client, username: &str, xff: Option<&str>) -> Resp {
    let mut req = client
        .request(Method::POST, "/api/session")
        .json(&json!({ "username": username, "password": "not the password" }));
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    client.send(req).await
}

/// Asserts the access log names `client` as the peer of the request answered with `res`.
async fn logged_client(server: &TestServer, res: &Resp, client: &str) {
    let line = access_line(server, &request_id(res)).await;
    assert_eq!(line["fields"]["peer"], client, "{line}");
}

async fn a_forwarded_for_from_an_untrusted_peer_is_ignored(b: Backend) {
    let server = server(b, r#"["10.0.0.0/8"]"#).await;
    let client = server.client();
    let name = unique_username("spoof");
    // Each attempt claims another address; all share the peer's bucket of 2.
    let mut statuses = Vec::new();
    for n in 0..4 {
        let res = guess(&client, &name, Some(&format!("198.51.100.{n}"))).await;
        statuses.push(res.status);
        logged_client(&server, &res, "127.0.0.1").await;
    }
    assert_eq!(
        statuses,
        [401, 401, 429, 429],
        "a spoofed X-Forwarded-For evaded the limit"
    );
}

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_login_limit(b: Backend) {
    let server = server(b, r#"["127.0.0.1"]"#).await;
    let proxy = server.client();
    let name = unique_username("proxied");
    let statuses = |answers: &[Resp]| answers.iter().map(|r| r.status).collect::<Vec<_>>();

    // One client behind the proxy uses up its own bucket of 2...
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(guess(&proxy, &name, Some("198.51.100.1")).await);
    }
    assert_eq!(statuses(&first), [401, 401, 429]);
    logged_client(&server, &first[0], "198.51.100.1").await;

    // ...and another still has its own (rotating addresses get a bucket each).
    for n in 2..5 {
        let res = guess(&proxy, &name, Some(&format!("198.51.100.{n}"))).await;
        res.expect_problem(401, "invalid-credentials");
        logged_client(&server, &res, &format!("198.51.100.{n}")).await;
    }

    // What the client wrote before the proxy's entry is not believed: rotating it gets no
    // new bucket. The rightmost untrusted entry is the client.
    let mut spoofed = Vec::new();
    for n in 0..3 {
        let xff = format!("203.0.113.{n}, 198.51.100.10");
        spoofed.push(guess(&proxy, &name, Some(&xff)).await);
    }
    assert_eq!(statuses(&spoofed), [401, 401, 429]);
    logged_client(&server, &spoofed[0], "198.51.100.10").await;

    // A trusted hop in the chain (a second proxy of ours) is skipped.
    let chained = guess(&proxy, &name, Some("198.51.100.11, 127.0.0.1")).await;
    chained.expect_problem(401, "invalid-credentials");
    logged_client(&server, &chained, "198.51.100.11").await;

    // An unreadable header from the proxy: the proxy's own address, and no 500. The peer's
    // bucket is untouched so far; the third attempt from it is refused like anyone's.
    let mut broken = Vec::new();
    for xff in ["not-an-address", "198.51.100.12, ", "unknown"] {
        broken.push(guess(&proxy, &name, Some(xff)).await);
    }
    assert_eq!(statuses(&broken), [401, 401, 429]);
    for res in &broken {
        logged_client(&server, res, "127.0.0.1").await;
    }
}

async fn behind_a_trusted_proxy_the_socket_cap_is_per_forwarded_client(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_TRUSTED_PROXIES", r#"["127.0.0.1"]"#)
        .env("ROOMCAST_WS_MAX_PER_IP", "1")
        .start()
        .await;
    let user = server.user().await;
    let room = user.new_room(5).await;
    let url = user.events_url(room, None);
    let open = |xff: Option<&str>| {
        let mut headers = vec![("cookie", user.session_cookie())];
        if let Some(xff) = xff {
            headers.push(("x-forwarded-for", xff.to_string()));
        }
        let url = url.clone();
        async move { connect(&url, &headers).await }
    };

    let _first = open(Some("198.51.100.1")).await.expect("the first socket");
    assert_eq!(
        open(Some("198.51.100.1")).await.err(),
        Some(429),
        "one client's second socket"
    );
    let _other = open(Some("198.51.100.2"))
        .await
        .expect("another client behind the same proxy");
    let _direct = open(None).await.expect("the proxy's own address");
    assert_eq!(open(None).await.err(), Some(429));
}

/// A socket handshake made with reqwest, to read a refusal's problem body.
async fn upgrade(client: &Client, room: i64, host: &str, origin: &str) -> Resp {
    let request = client
        .request(Method::GET, &format!("/api/rooms/{room}/events"))
        .header(HOST, host)
        .header(ORIGIN, origin)
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    client.send(request).await
}

/// The proxy must pass the browser's Host (nginx: `proxy_set_header Host $http_host`): the
/// Host check then still refuses a rebinding page's name, through the proxy too. A proxy
/// that sends its upstream's address instead (nginx's default, `$proxy_host`) is refused
/// the same way, whatever the Origin: the server cannot tell it from a page that reached it
/// by IP, so the README says how to configure the proxy.
async fn behind_a_proxy_the_browsers_host_is_passed_and_public_url_is_the_own_origin(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_PUBLIC_URL", "http://chat.example")
        .env("ROOMCAST_TRUSTED_PROXIES", r#"["127.0.0.1"]"#)
        .start()
        .await;
    let user = User::create(server.client().with_host("chat.example")).await;
    let room = user.new_room(5).await;
    let url = user.events_url(room, None);
    let headers = |host: &str, origin: &str| {
        vec![
            ("cookie", user.session_cookie()),
            ("host", host.to_string()),
            ("origin", origin.to_string()),
            ("x-forwarded-for", "198.51.100.1".to_string()),
        ]
    };

    // The browser's Host passed on, the page's Origin public_url's: accepted.
    let socket = connect(&url, &headers("chat.example", "http://chat.example")).await;
    assert!(socket.is_ok(), "{:?}", socket.err());
    let socket = connect(&url, &headers("CHAT.example:80", "http://chat.example")).await;
    assert!(socket.is_ok(), "{:?}", socket.err());

    // The upstream's address as Host (a proxy left at its default): the Host check's answer.
    let upstream = server.authority();
    upgrade(&user.client, room, &upstream, "http://chat.example")
        .await
        .expect_problem(400, "host-not-allowed");
    // A rebinding page through the proxy: its own name as Host and as Origin.
    upgrade(&user.client, room, "evil.example", "http://evil.example")
        .await
        .expect_problem(400, "host-not-allowed");
    // The right Host, a foreign page: the Origin check's answer.
    upgrade(&user.client, room, "chat.example", "http://evil.example")
        .await
        .expect_problem(403, "origin-not-allowed");
}
