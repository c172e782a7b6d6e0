//! The README's response shapes against the real server. Every row of its API tables
//! (`` `METHOD /path` | what | 201 `{id, username, bot}` ``) is called, and the status and
//! the body's keys must be the documented ones, recursively, with the named shapes of the
//! README ("A room is `{…}`") resolved; the JSON examples under `<!-- shapes: NAME -->` (the
//! WebSocket events, the problem document) must have the keys and value types of real ones.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use crate::support::{id, unique_username, Backend, Resp, TestServer, PASSWORD};

backend_tests!(the_readmes_response_shapes_match_the_server);

fn readme() -> String {
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    std::fs::read_to_string(root.join("README.md")).expect("README.md")
}

/// The README's notation for a JSON body: `{id, owner: {id, username}, bot: true}`,
/// `{rooms: [room]}`, or a named shape (`room`).
#[derive(Debug, Clone)]
enum Shape {
    Object(Vec<(String, Option<Shape>)>),
    Array(Box<Shape>),
    Named(String),
    Literal(Value),
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn parse(text: &str) -> Shape {
        let mut p = Parser {
            text: text.as_bytes(),
            at: 0,
        };
        let shape = p.shape();
        p.space();
        assert_eq!(p.at, p.text.len(), "trailing text in README shape {text:?}");
        shape
    }

    fn space(&mut self) {
        while self.at < self.text.len() && self.text[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.space();
        let found = self.text.get(self.at) == Some(&c);
        if found {
            self.at += 1;
        }
        found
    }

    fn word(&mut self) -> String {
        self.space();
        let start = self.at;
        while self.at < self.text.len()
            && (self.text[self.at].is_ascii_alphanumeric() || self.text[self.at] == b'_')
        {
            self.at += 1;
        }
        let word = String::from_utf8_lossy(&self.text[start..self.at]).into_owned();
        assert!(
            !word.is_empty(),
            "a README shape is cut short: {:?}",
            self.rest()
        );
        word
    }

    fn rest(&self) -> String {
        String::from_utf8_lossy(&self.text[self.at..]).into_owned()
    }

    fn shape(&mut self) -> Shape {
        if self.eat(b'{') {
            let mut fields = Vec::new();
            if self.eat(b'}') {
                return Shape::Object(fields);
            }
            loop {
                let key = self.word();
                let value = self.eat(b':').then(|| self.shape());
                fields.push((key, value));
                if self.eat(b'}') {
                    return Shape::Object(fields);
                }
                assert!(self.eat(b','), "expected , or }} at {:?}", self.rest());
            }
        }
        if self.eat(b'[') {
            let inner = self.shape();
            assert!(self.eat(b']'), "expected ] at {:?}", self.rest());
            return Shape::Array(Box::new(inner));
        }
        let word = self.word();
        match word.as_str() {
            "true" => Shape::Literal(json!(true)),
            "false" => Shape::Literal(json!(false)),
            _ => match word.parse::<i64>() {
                Ok(n) => Shape::Literal(json!(n)),
                Err(_) => Shape::Named(word),
            },
        }
    }
}

/// One operation of a README table.
struct Row {
    method: String,
    route: String,
    status: u16,
    shape: Option<Shape>,
}

/// `/api/rooms/{id}/members/{user_id}` → `/api/rooms/{}/members/{}`, without a query.
fn route_key(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path
        .split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect();
    format!("{method} {}", segments.join("/"))
}

/// The text between the first pair of backticks in `cell`.
fn code(cell: &str) -> Option<&str> {
    let start = cell.find('`')? + 1;
    let len = cell[start..].find('`')?;
    Some(&cell[start..start + len])
}

fn rows(readme: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        let [operations, _, success] = cells[..] else {
            continue;
        };
        let success = success.trim();
        let Some(status) = success
            .split_whitespace()
            .next()
            .and_then(|s| s.parse::<u16>().ok())
        else {
            continue;
        };
        let shape = match code(success) {
            Some(text) => Some(Parser::parse(text)),
            None => success
                .split_whitespace()
                .nth(1)
                .filter(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
                .map(|w| Shape::Named(w.to_string())),
        };
        for operation in operations.split('·') {
            let Some(operation) = code(operation) else {
                continue;
            };
            let Some((method, path)) = operation.split_once(' ') else {
                continue;
            };
            if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method) {
                continue;
            }
            rows.push(Row {
                method: method.to_string(),
                route: path.to_string(),
                status,
                shape: shape.clone(),
            });
        }
    }
    rows
}

/// "A room is `{…}`" and "a message is `{…}`" (the code may wrap across lines).
fn named_shapes(readme: &str) -> HashMap<String, Shape> {
    let mut named = HashMap::new();
    for name in ["room", "message", "listing"] {
        let at = [format!("A {name} is `"), format!("a {name} is `")]
            .iter()
            .find_map(|marker| readme.find(marker.as_str()).map(|i| i + marker.len()))
            .unwrap_or_else(|| panic!("README.md does not say what a {name} is"));
        let end = readme[at..].find('`').expect("closing backtick");
        named.insert(name.to_string(), Parser::parse(&readme[at..at + end]));
    }
    named
}

/// The paths the README says need no credentials ("Every endpoint needs the session cookie
/// … except register, log in, `/healthz`, …").
fn public_paths(readme: &str) -> Vec<String> {
    let start = readme
        .find("Every endpoint needs the session cookie")
        .expect("README.md says which endpoints need the session cookie");
    let sentence = &readme[start..];
    let sentence = &sentence[..sentence.find(".\n").expect("the end of that sentence")];
    let except = &sentence[sentence.find("except").expect("its exceptions")..];
    assert!(
        except.contains("register") && except.contains("log in"),
        "{except}"
    );
    except
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| code.starts_with('/'))
        .map(str::to_string)
        .collect()
}

/// The JSON lines of the code block after `<!-- shapes: NAME -->`.
fn examples(readme: &str, name: &str) -> Vec<Value> {
    let marker = format!("<!-- shapes: {name} -->");
    let mut lines = readme.lines().skip_while(|l| l.trim() != marker).skip(1);
    assert!(
        lines.next().is_some_and(|l| l.starts_with("```")),
        "README.md has no code block after {marker}"
    );
    lines
        .take_while(|l| !l.starts_with("```"))
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("README {name} example: {e}: {l}"))
        })
        .collect()
}

fn keys(object: &serde_json::Map<String, Value>) -> BTreeSet<&str> {
    object.keys().map(String::as_str).collect()
}

/// Whether `real` has the documented shape; what differs goes to `problems`.
fn check(
    shape: &Shape,
    real: &Value,
    at: &str,
    named: &HashMap<String, Shape>,
    problems: &mut Vec<String>,
) {
    match (shape, real) {
        (Shape::Named(name), _) => match named.get(name) {
            Some(shape) => check(shape, real, at, named, problems),
            None => problems.push(format!("{at}: the README never says what a {name:?} is")),
        },
        (Shape::Literal(value), _) if value != real => {
            problems.push(format!("{at}: README says {value}, the server sent {real}"))
        }
        (Shape::Literal(_), _) => {}
        (Shape::Array(inner), Value::Array(items)) => {
            if items.is_empty() {
                problems.push(format!("{at}: the test got an empty list; cannot check it"));
            }
            for (i, item) in items.iter().enumerate() {
                check(inner, item, &format!("{at}[{i}]"), named, problems);
            }
        }
        (Shape::Object(fields), Value::Object(object)) => {
            let documented: BTreeSet<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            if documented != keys(object) {
                problems.push(format!(
                    "{at}: README has keys {documented:?}, the server sent {:?}",
                    keys(object)
                ));
            }
            for (key, sub) in fields {
                if let (Some(sub), Some(value)) = (sub, object.get(key)) {
                    check(sub, value, &format!("{at}.{key}"), named, problems);
                }
            }
        }
        _ => problems.push(format!(
            "{at}: README says {shape:?}, the server sent {real}"
        )),
    }
}

/// Whether a README JSON example has the keys (recursively) and value types of a real one.
fn same_shape(example: &Value, real: &Value, at: &str, problems: &mut Vec<String>) {
    match (example, real) {
        (Value::Object(a), Value::Object(b)) => {
            if keys(a) != keys(b) {
                problems.push(format!(
                    "{at}: README has keys {:?}, the server sent {:?}",
                    keys(a),
                    keys(b)
                ));
            }
            for (key, value) in a {
                if let Some(other) = b.get(key) {
                    same_shape(value, other, &format!("{at}.{key}"), problems);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(a), Some(b)) = (a.first(), b.first()) {
                same_shape(a, b, &format!("{at}[0]"), problems);
            }
        }
        (a, b) if std::mem::discriminant(a) == std::mem::discriminant(b) => {}
        (a, b) => problems.push(format!("{at}: README has {a}, the server sent {b}")),
    }
}

async fn the_readmes_response_shapes_match_the_server(b: Backend) {
    let readme = readme();
    let server = TestServer::start(b).await;
    // Per route, every answer recorded: one path may have rows for two statuses (the events
    // path: 101 with the upgrade, 200 without).
    let mut answers: HashMap<String, Vec<(u16, Value)>> = HashMap::new();
    macro_rules! record {
        ($method:expr, $route:expr, $resp:expr $(,)?) => {{
            let resp: Resp = $resp;
            answers
                .entry(route_key($method, $route))
                .or_default()
                .push((resp.status, resp.json));
        }};
    }

    // A person, from registration on.
    let alice = server.client();
    let name = unique_username("alice");
    record!(
        "POST",
        "/api/accounts",
        alice.register(&name, PASSWORD).await
    );
    record!("POST", "/api/session", alice.login(&name, PASSWORD).await);
    record!("GET", "/api/me", alice.me().await);
    let created = alice.create_room("general", 5).await;
    let room = id(&created.json);
    record!("POST", "/api/rooms", created);
    record!("GET", "/api/rooms", alice.rooms().await);
    record!("GET", "/api/rooms/{id}", alice.room(room).await);
    // With presence frames, so that the example of one is checked too.
    let url = format!("{}&presence=true", alice.events_url(room, Some(0)));
    let mut socket = crate::support::connect(&url, &[("cookie", alice.cookie_header().unwrap())])
        .await
        .unwrap();
    answers
        .entry(route_key("GET", "/api/rooms/{id}/events"))
        .or_default()
        .push((101, Value::Null));

    // Another person joins, speaks and leaves; a bot joins and is removed.
    let bob = server.user().await;
    let mut summaries = crate::user_stream::user_stream(&bob).await;
    answers
        .entry(route_key("GET", "/api/me/events"))
        .or_default()
        .push((101, Value::Null));
    record!("PUT", "/api/rooms/{id}/members/me", bob.join(room).await);
    record!(
        "GET",
        "/api/rooms/{id}/presence",
        bob.get(&format!("/api/rooms/{room}/presence")).await
    );
    record!(
        "POST",
        "/api/rooms/{id}/typing",
        bob.send(bob.request(reqwest::Method::POST, &format!("/api/rooms/{room}/typing")))
            .await,
    );
    record!(
        "POST",
        "/api/rooms/{id}/messages",
        bob.send_message(room, "hello, world").await,
    );
    let typo = bob.say(room, "helo").await;
    // The page the history row is checked on: this message alone, with a reaction (an empty
    // list of reactions could not be checked).
    let typo_page = format!("after={}&limit=1", crate::support::seq(&typo) - 1);
    let typo = id(&typo);
    record!(
        "PATCH",
        "/api/rooms/{id}/messages/{message_id}",
        bob.edit_message(room, typo, "hello", None).await,
    );
    record!(
        "PUT",
        "/api/rooms/{id}/messages/{message_id}/reactions/{emoji}",
        alice.react(room, typo, "👍").await,
    );
    record!(
        "DELETE",
        "/api/rooms/{id}/messages/{message_id}/reactions/{emoji}",
        alice.unreact(room, typo, "👍").await,
    );
    bob.react(room, typo, "🎉").await.expect(204);
    let doomed = id(&bob.say(room, "doomed").await);
    record!(
        "DELETE",
        "/api/rooms/{id}/messages/{message_id}",
        bob.delete_message(room, doomed).await,
    );
    record!(
        "GET",
        "/api/rooms/{id}/messages",
        alice.history(room, &typo_page).await,
    );
    record!("GET", "/api/rooms/{id}/members", alice.members(room).await);
    record!(
        "PUT",
        "/api/rooms/{id}/read",
        alice
            .send(
                alice
                    .request(reqwest::Method::PUT, &format!("/api/rooms/{room}/read"))
                    .json(&json!({ "seq": 3 }))
            )
            .await
    );
    record!(
        "GET",
        "/api/rooms/{id}/events",
        alice
            .get(&format!("/api/rooms/{room}/events?limit=5"))
            .await,
    );
    record!(
        "DELETE",
        "/api/rooms/{id}/members/me",
        bob.leave(room).await
    );
    let made = alice.create_bot(&unique_username("bot")).await;
    let bot = id(&made.json);
    let token = made.json["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {}", made.json))
        .to_string();
    record!("POST", "/api/bots", made);
    alice.with_bearer(&token).join(room).await.expect(201);
    record!(
        "DELETE",
        "/api/rooms/{id}/members/{user}",
        alice.remove_member(room, bot).await,
    );
    let ban = format!("/api/rooms/{room}/bans/{bot}");
    record!("PUT", "/api/rooms/{id}/bans/{user}", alice.put(&ban).await);
    record!(
        "DELETE",
        "/api/rooms/{id}/bans/{user}",
        alice.delete(&ban).await
    );
    // A private room: an invite, accepted; the bot added directly.
    let body = json!({ "name": "core", "capacity": 5, "visibility": "private" });
    let private = id(&alice.post("/api/rooms", &body).await.expect(201));
    let invites = format!("/api/rooms/{private}/invites");
    let made = alice.post(&invites, &json!({ "uses": 2 })).await;
    let code = made.json["code"].as_str().unwrap_or_default().to_string();
    let revoke = format!("{invites}/{}", made.json["id"]);
    record!("POST", "/api/rooms/{id}/invites", made);
    record!(
        "POST",
        "/api/room-invites/accept",
        bob.post("/api/room-invites/accept", &json!({ "code": code }))
            .await,
    );
    record!("GET", "/api/rooms/{id}/invites", alice.get(&invites).await);
    record!(
        "DELETE",
        "/api/rooms/{id}/invites/{invite_id}",
        alice.delete(&revoke).await
    );
    record!(
        "PUT",
        "/api/rooms/{id}/members/{user}",
        alice
            .put(&format!("/api/rooms/{private}/members/{bot}"))
            .await,
    );
    record!(
        "POST",
        "/api/dms",
        alice.post("/api/dms", &json!({ "user_id": bob.id })).await
    );
    record!("GET", "/api/bots", alice.bots().await);
    record!(
        "POST",
        "/api/bots/{id}/token",
        alice.rotate_bot_token(bot).await
    );
    record!(
        "DELETE",
        "/api/bots/{id}/token",
        alice.revoke_bot_token(bot).await
    );
    record!("DELETE", "/api/bots/{id}", alice.delete_bot(bot).await);

    // A refusal, for the problem example: a full room.
    let full = alice.create_room("full", 1).await.expect(201);
    let refused = bob.join(id(&full)).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    let problem = refused.json;

    // Admin endpoints: alice registered first on this server, so she is the admin.
    record!("GET", "/api/users", alice.get("/api/users").await);
    let bobs = format!("/api/users/{}/disabled", bob.id);
    record!("PUT", "/api/users/{id}/disabled", alice.put(&bobs).await);
    record!(
        "DELETE",
        "/api/users/{id}/disabled",
        alice.delete(&bobs).await
    );
    let made = alice.post("/api/invites", &json!({ "uses": 2 })).await;
    let invite = format!("/api/invites/{}", made.json["id"]);
    record!("POST", "/api/invites", made);
    record!("GET", "/api/invites", alice.get("/api/invites").await);
    record!("DELETE", "/api/invites/{id}", alice.delete(&invite).await);

    let anonymous = server.client();
    record!("GET", "/healthz", anonymous.healthz().await);
    record!("GET", "/readyz", anonymous.readyz().await);
    record!(
        "GET",
        "/api/openapi.json",
        anonymous.get("/api/openapi.json").await
    );
    record!("DELETE", "/api/rooms/{id}", alice.delete_room(room).await);
    let events = socket.expect_close(4004).await;
    let elsewhere = server.user().await;
    let body = json!({ "current": PASSWORD, "new": "a new good password" });
    record!(
        "PUT",
        "/api/me/password",
        elsewhere
            .send(
                elsewhere
                    .request(reqwest::Method::PUT, "/api/me/password")
                    .json(&body)
            )
            .await
    );
    record!(
        "DELETE",
        "/api/sessions",
        elsewhere.delete("/api/sessions").await
    );
    record!("DELETE", "/api/session", alice.logout().await);

    let mut problems = Vec::new();
    let named = named_shapes(&readme);
    let rows = rows(&readme);

    // Who needs credentials: without them, every operation but the listed ones is refused.
    let public = public_paths(&readme);
    for path in &public {
        let answer = anonymous.get(path).await;
        if answer.status != 200 {
            problems.push(format!(
                "GET {path}: README says it needs no cookie; got {}",
                answer.status
            ));
        }
    }
    for row in &rows {
        let open = public.contains(&row.route)
            || ["POST /api/accounts", "POST /api/session"]
                .contains(&format!("{} {}", row.method, row.route).as_str());
        let path = route_key("", &row.route).trim().replace("{}", "1");
        let method = reqwest::Method::from_bytes(row.method.as_bytes()).unwrap();
        let answer = anonymous
            .send(anonymous.request(method, &path).json(&json!({})))
            .await;
        let refused = answer.status == 401 && answer.json["type"] == "unauthenticated";
        if open == refused {
            problems.push(format!(
                "{} {}: the README says it {} the session cookie; without one it answered {} {}",
                row.method,
                row.route,
                if open { "does not need" } else { "needs" },
                answer.status,
                answer.text.chars().take(200).collect::<String>()
            ));
        }
    }
    assert!(rows.len() >= 20, "the README's API tables were not found");
    for row in &rows {
        let at = format!("{} {}", row.method, row.route);
        let recorded = answers.get(&route_key(&row.method, &row.route));
        let Some((status, body)) = recorded.and_then(|list| {
            list.iter()
                .find(|(status, _)| *status == row.status)
                .or(list.first())
        }) else {
            problems.push(format!("{at}: documented, but this test never calls it"));
            continue;
        };
        if *status != row.status {
            problems.push(format!(
                "{at}: README says {}, the server answered {status}",
                row.status
            ));
        }
        if let Some(shape) = &row.shape {
            check(shape, body, &at, &named, &mut problems);
        }
    }

    for example in examples(&readme, "events") {
        let kind = example["type"].as_str().unwrap_or_default();
        match events.iter().find(|e| e["type"] == kind) {
            Some(real) => same_shape(&example, real, &format!("event {kind}"), &mut problems),
            None => problems.push(format!("event {kind}: the server sent none: {events:?}")),
        }
    }
    let mut summary_frames = Vec::new();
    while !summary_frames
        .iter()
        .any(|f: &Value| f["type"] == "room.removed")
    {
        summary_frames.push(summaries.next_event().await);
    }
    for example in examples(&readme, "summaries") {
        let kind = example["type"].as_str().unwrap_or_default();
        match summary_frames.iter().find(|e| e["type"] == kind) {
            Some(real) => same_shape(&example, real, &format!("summary {kind}"), &mut problems),
            None => problems.push(format!("summary {kind}: none came: {summary_frames:?}")),
        }
    }
    for example in examples(&readme, "problem") {
        same_shape(&example, &problem, "problem", &mut problems);
    }

    assert!(
        problems.is_empty(),
        "README.md is out of step with the server:\n  {}",
        problems.join("\n  ")
    );
}
