//! What the server writes to its log: one access line per request (route pattern, status,
//! duration, request id, principal, peer), security events under their own target, never a
//! credential, no WARN for what clients do wrong, no colour codes in a pipe, and client
//! addresses from the TCP peer, not from headers anyone can write.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokio::process::Command;

use crate::support::{id, unique_username, Backend, Bot, TestServer, PASSWORD};

backend_tests!(
    every_request_has_one_access_line_with_route_status_principal_and_peer,
    no_credential_reaches_the_log,
    security_events_have_their_own_target,
    an_anonymous_page_load_and_4xx_answers_log_no_warning,
    a_piped_text_log_has_no_colour_codes,
    a_forged_forwarded_header_changes_neither_the_logged_ip_nor_the_rate_limit_key,
);

/// A forged client address: it must never be believed, logged or used as a limit key.
const FORGED_IP: &str = "203.0.113.77";

/// A server that logs at INFO, as operators run it, in `format` ("json" or "text").
async fn server(b: Backend, format: &str) -> TestServer {
    TestServer::builder(b)
        .env("RUST_LOG", "info")
        .env("ROOMCAST_LOG", "info")
        .env("ROOMCAST_LOG_FORMAT", format)
        .start()
        .await
}

/// The whole captured log (the harness keeps the last 2000 lines).
fn log(server: &TestServer) -> String {
    server.log_tail(2000)
}

/// The JSON log lines (startup output that is not JSON is skipped).
fn json_lines(server: &TestServer) -> Vec<Value> {
    log(server)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// Waits until `found` holds of the JSON lines (a line is written as the response leaves, so
/// it can trail the answer by a moment), then returns them.
async fn wait_for_lines(
    server: &TestServer,
    what: &str,
    found: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = json_lines(server);
        if found(&lines) {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "no log line for {what}:\n{}",
            log(server)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The access lines of the request with this id.
fn access_lines<'a>(lines: &'a [Value], request_id: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["target"] == "roomcast::access" && l["span"]["request_id"] == request_id)
        .collect()
}

/// The one access line of the request answered with `res`.
pub(crate) async fn access_line(server: &TestServer, request_id: &str) -> Value {
    let lines = wait_for_lines(server, request_id, |lines| {
        !access_lines(lines, request_id).is_empty()
    })
    .await;
    let found = access_lines(&lines, request_id);
    assert_eq!(found.len(), 1, "one access line per request: {found:?}");
    found[0].clone()
}

pub(crate) fn request_id(res: &crate::support::Resp) -> String {
    res.header("x-request-id")
        .expect("a response without X-Request-Id")
        .to_string()
}

async fn every_request_has_one_access_line_with_route_status_principal_and_peer(b: Backend) {
    let server = server(b, "json").await;
    let user = server.user().await;
    let room = user.new_room(5).await;

    // A user's request, by cookie: route pattern, not path; the query is kept.
    let history = user
        .client
        .get(&format!("/api/rooms/{room}/messages?after=0&limit=7"))
        .await;
    let rid = request_id(&history);
    history.expect(200);
    let line = access_line(&server, &rid).await;
    assert_eq!(line["level"], "INFO", "{line}");
    let f = &line["fields"];
    assert_eq!(f["method"], "GET", "{line}");
    assert_eq!(f["route"], "/api/rooms/{id}/messages", "{line}");
    assert_eq!(f["query"], "after=0&limit=7", "{line}");
    assert_eq!(f["status"], 200, "{line}");
    assert!(
        f["duration_ms"].as_f64().is_some_and(|d| d >= 0.0),
        "{line}"
    );
    assert_eq!(f["peer"], "127.0.0.1", "{line}");
    assert_eq!(f["user"], user.id, "{line}");
    assert_eq!(f["bot"], false, "{line}");
    assert!(
        !line.to_string().contains(&format!("/api/rooms/{room}/")),
        "the raw path is logged: {line}"
    );

    // A bot's request, by bearer token: the bot's id.
    let bot = Bot::create(&user).await;
    bot.client.join(room).await.expect(201);
    let sent = bot.send_message(room, "beep").await;
    let rid = request_id(&sent);
    sent.expect(201);
    let line = access_line(&server, &rid).await;
    let f = &line["fields"];
    assert_eq!(
        (&f["method"], &f["route"], &f["status"]),
        (
            &json!("POST"),
            &json!("/api/rooms/{id}/messages"),
            &json!(201)
        ),
        "{line}"
    );
    assert_eq!(
        (&f["user"], &f["bot"]),
        (&json!(bot.id), &json!(true)),
        "{line}"
    );

    // Login names its user although the request came without a session.
    let fresh = server.client();
    let name = unique_username("login");
    let account = fresh.register(&name, PASSWORD).await.expect(201);
    let login = fresh.login(&name, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let line = access_line(&server, &request_id(&login)).await;
    assert_eq!(line["fields"]["user"], id(&account), "{line}");

    // Anonymous and refused: no principal, and a 4xx is INFO.
    let anon = server.client().get("/api/me").await;
    anon.expect_problem(401, "unauthenticated");
    let line = access_line(&server, &request_id(&anon)).await;
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["fields"]["status"], 401, "{line}");
    assert!(line["fields"].get("user").is_none(), "{line}");
    assert_eq!(line["fields"]["route"], "/api/me", "{line}");

    // An unknown path has no pattern, and its path is not logged.
    let nowhere = server.client().get("/no/such/place-xyz").await;
    assert_eq!(nowhere.status, 404);
    let line = access_line(&server, &request_id(&nowhere)).await;
    assert_eq!(line["fields"]["route"], "unmatched", "{line}");
    assert!(!line.to_string().contains("place-xyz"), "{line}");
}

async fn no_credential_reaches_the_log(b: Backend) {
    let server = server(b, "text").await;
    // Distinctive secrets, so that a hit cannot be a coincidence.
    let password = "pw-do-not-log-81d4e";
    let wrong = "wrong-pw-do-not-log-3c9a1";
    let query_secret = "query-secret-do-not-log-77f0";
    let name = unique_username("secretive");
    let client = server.client();
    client.register(&name, password).await.expect(201);
    client
        .login(&name, wrong)
        .await
        .expect_problem(401, "invalid-credentials");
    client.login(&name, password).await.expect(200);
    let cookie = client.session_cookie();
    let cookie_value = cookie.split_once('=').unwrap().1.to_string();
    let user = crate::support::User {
        id: 0,
        username: name.clone(),
        password: password.into(),
        client: client.clone(),
    };
    let room = id(&user.create_room("secrets", 5).await.expect(201));
    let bot = Bot::create(&user).await;
    bot.client.join(room).await.expect(201);

    // The token in a query (as a WebSocket client without headers might send it), in several
    // spellings; a bearer token; a cookie; a wrong bearer token.
    for query in [
        format!("token={query_secret}"),
        format!("after=0&access_token={query_secret}"),
        format!("Password={query_secret}&limit=3"),
        format!("%74oken={query_secret}"),
    ] {
        let res = client
            .get(&format!("/api/rooms/{room}/messages?{query}"))
            .await;
        assert!(res.status < 500, "{}", res.text);
    }
    bot.send_message(room, "with a bearer token")
        .await
        .expect(201);
    server
        .client()
        .with_bearer("rcb_wrong-token-do-not-log")
        .get("/api/me")
        .await
        .expect_problem(401, "invalid-token");
    let rotated = user.rotate_bot_token(bot.id).await.expect(200);
    let new_token = rotated["token"].as_str().unwrap().to_string();
    user.revoke_bot_token(bot.id).await;
    client.logout().await;

    // The last request's line is there: everything before it was written.
    let last = server.client().get("/api/me").await;
    let rid = request_id(&last);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !log(&server).contains(&rid) {
        assert!(
            Instant::now() < deadline,
            "no line for {rid}:\n{}",
            log(&server)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = log(&server);
    // The log did record these requests (so the absence below means something).
    assert!(text.contains("/api/rooms/{id}/messages"), "{text}");
    assert!(text.contains("REDACTED"), "{text}");
    for secret in [
        password,
        wrong,
        query_secret,
        cookie_value.as_str(),
        bot.token.as_str(),
        new_token.as_str(),
        "wrong-token-do-not-log",
    ] {
        assert!(!text.contains(secret), "{secret:?} is in the log:\n{text}");
    }
}

/// Events of the security target, as (event, fields).
fn security_events(lines: &[Value]) -> Vec<(String, Value)> {
    lines
        .iter()
        .filter(|l| l["target"] == "roomcast::security")
        .map(|l| {
            let event = l["fields"]["event"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (event, l["fields"].clone())
        })
        .collect()
}

async fn security_events_have_their_own_target(b: Backend) {
    let server = server(b, "json").await;
    let owner = server.user().await;
    let guest = server.user().await;
    server
        .client()
        .login(&guest.username, "not the password")
        .await
        .expect_problem(401, "invalid-credentials");
    let room = owner.new_room(5).await;
    guest.join(room).await.expect(201);
    owner.remove_member(room, guest.id).await.expect(204);
    owner.delete_room(room).await.expect(204);
    let bot = Bot::create(&owner).await;
    owner.rotate_bot_token(bot.id).await.expect(200);
    owner.revoke_bot_token(bot.id).await.expect(204);
    owner.delete_bot(bot.id).await.expect(204);
    guest.logout().await.expect(204);

    let lines = wait_for_lines(&server, "the logout", |lines| {
        security_events(lines).iter().any(|(e, _)| e == "logout")
    })
    .await;
    let events = security_events(&lines);
    let find = |name: &str| -> Value {
        let hits: Vec<&Value> = events
            .iter()
            .filter(|(e, _)| e == name)
            .map(|(_, f)| f)
            .collect();
        assert!(!hits.is_empty(), "no {name} event in {events:?}");
        (*hits.last().unwrap()).clone()
    };
    let ok = find("login.ok");
    assert_eq!(ok["peer"], "127.0.0.1", "{ok}");
    let failed = find("login.failed");
    assert_eq!(
        failed["username"],
        format!("{:?}", guest.username),
        "{failed}"
    );
    assert_eq!(failed["peer"], "127.0.0.1", "{failed}");
    let removed = find("member.removed");
    assert_eq!(
        (&removed["user"], &removed["room"], &removed["member"]),
        (&json!(owner.id), &json!(room), &json!(guest.id)),
        "{removed}"
    );
    let deleted = find("room.deleted");
    assert_eq!(
        (&deleted["user"], &deleted["room"]),
        (&json!(owner.id), &json!(room))
    );
    for name in ["bot.token_rotated", "bot.token_revoked", "bot.deleted"] {
        let e = find(name);
        assert_eq!(
            (&e["user"], &e["bot"]),
            (&json!(owner.id), &json!(bot.id)),
            "{e}"
        );
    }
    let logout = find("logout");
    assert_eq!(logout["user"], guest.id, "{logout}");
    // Two logins (owner and guest at setup), one failure.
    assert_eq!(
        events.iter().filter(|(e, _)| e == "login.ok").count(),
        2,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|(e, _)| e == "login.failed").count(),
        1
    );
    // Security lines carry the request id, like every line of a request.
    assert!(lines
        .iter()
        .filter(|l| l["target"] == "roomcast::security")
        .all(|l| l["span"]["request_id"].is_string()));

    // The admin CLI's account change is a security event too, on its stderr.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roomcast"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ROOMCAST_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .args(["user", "disable", &guest.username])
        .env("ROOMCAST_DATABASE_URL", server.database_url())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("roomcast::security"))
        .unwrap_or_else(|| panic!("no security line on the CLI's stderr: {stderr}"));
    assert!(line.contains("user.disabled"), "{line}");
    assert!(line.contains(&format!("account={}", guest.id)), "{line}");
}

async fn an_anonymous_page_load_and_4xx_answers_log_no_warning(b: Backend) {
    let server = server(b, "text").await;
    let user = server.user().await;
    let started = log(&server).lines().count();

    let visitor = server.client();
    for path in ["/", "/app.js", "/style.css"] {
        let res = visitor.get(path).await;
        assert_eq!(res.status, 200, "{path}");
    }
    // What the page asks first, without a cookie: 401.
    visitor.me().await.expect_problem(401, "unauthenticated");
    // Client mistakes: 404 (unknown route, unknown room), 401 (bad token), 400, 422, 405.
    assert_eq!(visitor.get("/favicon.ico").await.status, 404);
    user.client
        .get("/api/rooms/987654321")
        .await
        .expect_problem(404, "room-not-found");
    server
        .client()
        .with_bearer("rcb_nope")
        .me()
        .await
        .expect_problem(401, "invalid-token");
    let bad_json = user
        .client
        .send(
            user.client
                .request(Method::POST, "/api/rooms")
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(bad_json.status, 400, "{}", bad_json.text);
    let invalid = user.create_room("", 5).await;
    assert_eq!(invalid.status, 422, "{}", invalid.text);
    let wrong_method = user
        .client
        .send(user.client.request(Method::PATCH, "/api/me"))
        .await;
    assert_eq!(wrong_method.status, 405);

    let last = visitor.get("/").await;
    let rid = request_id(&last);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !log(&server).contains(&rid) {
        assert!(
            Instant::now() < deadline,
            "no line for {rid}:\n{}",
            log(&server)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = log(&server);
    let new: Vec<&str> = text.lines().skip(started).collect();
    // The requests were logged, at INFO...
    let access: Vec<&&str> = new
        .iter()
        .filter(|l| l.contains("roomcast::access"))
        .collect();
    assert!(access.len() >= 11, "{}", new.join("\n"));
    assert!(
        access.iter().all(|l| l.contains(" INFO ")),
        "{}",
        new.join("\n")
    );
    assert!(access.iter().any(|l| l.contains("status=401")));
    assert!(access.iter().any(|l| l.contains("status=404")));
    // ...and nothing above INFO.
    let loud: Vec<&&str> = new
        .iter()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(loud.is_empty(), "warnings for client mistakes:\n{loud:#?}");
}

async fn a_piped_text_log_has_no_colour_codes(b: Backend) {
    let server = server(b, "text").await;
    let user = server.user().await;
    user.client.get("/api/nope").await;
    let rid = request_id(&user.client.me().await);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !log(&server).contains(&rid) {
        assert!(
            Instant::now() < deadline,
            "no line for {rid}:\n{}",
            log(&server)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = log(&server);
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escape codes in a piped log:\n{}",
        text.escape_debug()
    );
    assert!(text.contains(" INFO "), "{text}");
}

async fn a_forged_forwarded_header_changes_neither_the_logged_ip_nor_the_rate_limit_key(
    b: Backend,
) {
    let server = TestServer::builder(b)
        .env("RUST_LOG", "info")
        .env("ROOMCAST_LOG", "info")
        .env("ROOMCAST_LOG_FORMAT", "json")
        .env("ROOMCAST_RATE_AUTH_PER_MINUTE", "1")
        .env("ROOMCAST_RATE_AUTH_BURST", "3")
        .start()
        .await;
    let client = server.client();
    let name = unique_username("forged");
    // Each attempt claims another address; all of them share the peer's one bucket.
    let mut statuses = Vec::new();
    for n in 0..5 {
        let forged = format!("198.51.100.{n}, {FORGED_IP}");
        let req = client
            .request(Method::POST, "/api/session")
            .header("x-forwarded-for", &forged)
            .header("forwarded", format!("for={FORGED_IP}"))
            .header("x-real-ip", FORGED_IP)
            .json(&json!({ "username": name, "password": "whatever-it-is" }));
        let res = client.send(req).await;
        statuses.push(res.status);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 429],
        "forged addresses evaded the limit"
    );

    let lines = wait_for_lines(&server, "the login attempts", |lines| {
        lines
            .iter()
            .filter(|l| l["target"] == "roomcast::access" && l["fields"]["route"] == "/api/session")
            .count()
            == 5
    })
    .await;
    for line in lines
        .iter()
        .filter(|l| l["target"] == "roomcast::access" && l["fields"]["route"] == "/api/session")
    {
        assert_eq!(line["fields"]["peer"], "127.0.0.1", "{line}");
    }
    let text = log(&server);
    assert!(
        !text.contains(FORGED_IP),
        "a forged address is in the log:\n{text}"
    );
    assert!(
        !text.contains("198.51.100."),
        "a forged address is in the log:\n{text}"
    );
}
