//! What every request meets before its route: the Host check (DNS rebinding), and the
//! headers every answer carries (nosniff, no-store, HSTS, Allow on a 405).

use reqwest::Method;

use crate::support::{Backend, Resp, TestServer, User};

backend_tests!(
    every_answer_is_nosniff_and_api_answers_are_not_stored,
    hsts_is_sent_only_when_configured,
    every_405_names_the_allowed_methods,
    a_foreign_host_is_refused_when_public_url_is_set,
);

fn header<'a>(resp: &'a Resp, name: &str) -> Option<&'a str> {
    resp.header(name)
}

async fn every_answer_is_nosniff_and_api_answers_are_not_stored(b: Backend) {
    let server = TestServer::start(b).await;
    let user = server.user().await;
    let anonymous = server.client();
    let room = user.new_room(3).await;

    let api_answers = [
        ("GET /api/me", user.me().await, 200),
        ("GET /api/rooms/{id}", user.room(room).await, 200),
        (
            "GET /api/rooms/{id}/messages",
            user.history(room, "").await,
            200,
        ),
        ("POST /api/rooms", user.create_room("", 3).await, 422),
        ("GET /api/me anonymous", anonymous.me().await, 401),
        ("GET /api/rooms/{id} missing", user.room(999_999).await, 404),
        (
            "PATCH /api/me",
            user.send(user.request(Method::PATCH, "/api/me")).await,
            405,
        ),
    ];
    for (what, resp, status) in &api_answers {
        assert_eq!(resp.status, *status, "{what}: {}", resp.text);
        assert_eq!(
            header(resp, "x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(header(resp, "cache-control"), Some("no-store"), "{what}");
        assert_eq!(header(resp, "strict-transport-security"), None, "{what}");
    }
    // Outside /api: nosniff everywhere; problems are not stored either.
    let missing = anonymous.get("/no-such-page").await;
    missing.expect_problem(404, "not-found");
    assert_eq!(header(&missing, "cache-control"), Some("no-store"));
    for path in ["/healthz", "/", "/app.js", "/no-such-page"] {
        let resp = anonymous.get(path).await;
        assert_eq!(
            header(&resp, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
}

async fn hsts_is_sent_only_when_configured(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_HSTS_MAX_AGE_SECS", "31536000")
        .start()
        .await;
    let user = server.user().await;
    for resp in [
        server.client().healthz().await,
        user.me().await,
        server.client().me().await,
    ] {
        assert_eq!(
            header(&resp, "strict-transport-security"),
            Some("max-age=31536000"),
            "HTTP {} {}",
            resp.status,
            resp.text
        );
    }
}

/// For every documented path: a method it does not have gets 405 `method-not-allowed`,
/// with `Allow` listing exactly the documented methods.
async fn every_405_names_the_allowed_methods(b: Backend) {
    let server = TestServer::start(b).await;
    let client = server.client();
    let doc = client.get("/api/openapi.json").await.expect(200);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() > 10, "{doc}");
    let mut problems = Vec::new();
    for (path, item) in paths {
        let mut documented: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        documented.sort();
        // Every path parameter, whatever its name, gets a plausible value.
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        // A method the path does not have.
        let Some(method) = [Method::PATCH, Method::PUT, Method::DELETE, Method::POST]
            .into_iter()
            .find(|m| !documented.contains(&m.as_str().to_string()))
        else {
            continue;
        };
        let resp = client.send(client.request(method.clone(), &concrete)).await;
        if resp.status != 405 || resp.json["type"] != "method-not-allowed" {
            problems.push(format!(
                "{method} {path}: HTTP {} {}",
                resp.status, resp.text
            ));
            continue;
        }
        let mut allowed: Vec<String> = header(&resp, "allow")
            .unwrap_or_default()
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        allowed.sort();
        if allowed != documented {
            problems.push(format!(
                "{method} {path}: Allow {allowed:?}, documented {documented:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

async fn a_foreign_host_is_refused_when_public_url_is_set(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_PUBLIC_URL", "http://chat.example")
        .start()
        .await;
    // The name the server is published under works (with or without the default port).
    let user = User::create(server.client().with_host("chat.example")).await;
    user.me().await.expect(200);
    server
        .client()
        .with_host("CHAT.example:80")
        .healthz()
        .await
        .expect(200);

    // A rebinding page's requests carry its own name; the server's IP is no name of it either.
    for host in [
        "evil.example",
        "chat.example.evil.example",
        "chat.example:8080",
    ] {
        let resp = user.client.with_host(host).me().await;
        resp.expect_problem(400, "host-not-allowed");
        assert_eq!(header(&resp, "cache-control"), Some("no-store"));
    }
    let by_ip = server.client();
    by_ip
        .register("by_ip_user", "long enough password")
        .await
        .expect_problem(400, "host-not-allowed");
    // Probes address the server by IP.
    by_ip.healthz().await.expect(200);
    by_ip.readyz().await.expect(200);
}
